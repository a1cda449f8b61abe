//! `livescore record` against a live-like ESPN feed, then the recording
//! played back by `serve --feed-replay` (and refused at start when bad).

mod common;
#[path = "common/espn.rs"]
mod espn;
#[path = "common/feed_server.rs"]
mod feed_server;

use std::time::{Duration, Instant};

use common::{Server, SseStream, TempDir};
use espn::{
    assert_scores_in_order_to_the_official_finals, expected_events, fixture, follow_to_finals,
    path, teams,
};
use feed_server::{feed_server, Reply};

/// Runs `livescore ARGS` to completion: (exit code, stdout, stderr).
async fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
            .args(args)
            .env("DATABASE_URL", "sqlite::memory:")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("finishes")
    .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The server's first event id once it has published something.
async fn first_id(url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let week: serde_json::Value = common::get_json(format!("{url}/api/")).await;
        if let Some(id) = week["last_event_id"].as_str() {
            let (epoch, _) = common::id_parts(id);
            return format!("{epoch}-0");
        }
        assert!(Instant::now() < deadline, "nothing published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_recorded_espn_day_replays_every_score_change_in_order_to_the_finals() {
    let (pregame, midday, fin) = (
        fixture("espn-2015-w1-pregame.json"),
        fixture("espn-2015-w1-midday.json"),
        fixture("espn-2015-w1-final.json"),
    );
    let script = vec![
        Reply::Doc(pregame.clone()),
        Reply::Current, // 304: nothing saved
        Reply::Doc(midday.clone()),
        Reply::Doc(midday.clone()), // the same bytes again: nothing saved
        Reply::Doc(fin.clone()),
    ];
    let (url, _feed, _gate) = feed_server(script, true).await;
    let url = url.replace("/ss.xml", "/scoreboard");
    let dir = TempDir::new("record");
    let rec = dir.path().join("rec");
    let rec = rec.to_str().expect("utf8");
    let (code, out, err) = run(&[
        "record",
        "--feed",
        &url,
        "--out",
        rec,
        "--until-final",
        "--poll-interval",
        "100ms",
    ])
    .await;
    assert_eq!(code, Some(0), "{err}");

    // One line per saved document, naming its file; the files hold the
    // documents exactly, in offset order.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with(&format!("{rec}/0.json  16 games, 0 over")));
    assert!(lines[2].ends_with("16 games, 16 over"), "{out}");
    let mut files: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(rec)
        .expect("recording")
        .map(|e| {
            let p = e.expect("entry").path();
            let stem = p.file_stem().expect("stem").to_string_lossy().to_string();
            (stem.parse().expect("ms"), p)
        })
        .collect();
    files.sort();
    let saved: Vec<String> = files
        .iter()
        .map(|(_, p)| std::fs::read_to_string(p).expect("read"))
        .collect();
    assert!(
        saved == [pregame.clone(), midday.clone(), fin.clone()],
        "the documents, unchanged"
    );
    assert!(files[1].0 > 0 && files[2].0 > files[1].0);

    // Played back: through the live parser, tracker and publisher.
    let server = Server::start(&["serve", "--feed-replay", rec, "--speed", "2"]);
    let eids: Vec<String> = teams(&pregame).keys().cloned().collect();
    let mut query = String::from("topic=scores");
    for eid in &eids {
        query.push_str(&format!("&topic=game/{eid}"));
    }
    // Resumed from before the first event: whatever was published before
    // this client connected comes from history, then the rest live.
    let from = first_id(&server.url).await;
    let mut sse =
        SseStream::connect(&format!("{}/api/stream?{query}", server.url), Some(&from)).await;
    let got = follow_to_finals(&mut sse).await;
    let want = expected_events(&[&pregame, &midday, &fin]).await;
    assert_eq!(got, want, "exactly the recorded changes, in order");
    assert_scores_in_order_to_the_official_finals(&got, &teams(&pregame));
    drop(server);

    // The demo plays a recording the same way, and keeps serving at the end.
    let demo = Server::start(&["demo", "--replay", rec, "--speed", "1"]);
    let mut sse = SseStream::connect(&format!("{}/api/livescore", demo.url), None).await;
    loop {
        let ev = sse
            .next_event(Duration::from_secs(30))
            .await
            .expect("the demo streams until every game is final");
        let games: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
        let board = common::board(&games);
        if board.len() == 16 && board.values().all(|(_, _, s)| s.starts_with("final")) {
            break;
        }
    }
}

#[tokio::test]
async fn a_recording_with_a_bad_document_fails_at_start_naming_file_and_reason() {
    let dir = TempDir::new("bad-recording");
    std::fs::copy(path("espn-2015-w1-pregame.json"), dir.path().join("0.json")).expect("copy");
    std::fs::copy(
        path("espn-malformed-badscore.json"),
        dir.path().join("90000.json"),
    )
    .expect("copy");
    let rec = dir.path().to_str().expect("utf8");
    for args in [
        vec!["serve", "--feed-replay", rec, "--addr", "127.0.0.1:0"],
        vec!["demo", "--replay", rec, "--addr", "127.0.0.1:0"],
    ] {
        let (code, out, err) = run(&args).await;
        assert_eq!(code, Some(1), "{args:?}: {out} {err}");
        assert!(
            !out.contains("listening"),
            "{args:?}: fails before serving: {out}"
        );
        assert!(
            err.contains("90000.json: espn: game 405091302")
                && err.contains("competitors[0].score"),
            "{args:?}: {err}"
        );
    }
}

/// `record` with several feeds writes one sub-directory per feed on one
/// clock, and `demo --replay` plays every league of it together.
#[tokio::test]
async fn several_leagues_record_into_one_tree_and_replay_together() {
    let dir = TempDir::new("record-leagues");
    let sports = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/espn-sports");
    let nba = dir.path().join("nba.json");
    let nhl = dir.path().join("nhl.json");
    std::fs::copy(format!("{sports}/nba-2024-12-15-final.json"), &nba).expect("copy");
    std::fs::copy(format!("{sports}/nhl-2024-final.json"), &nhl).expect("copy");
    let rec = dir.path().join("rec");
    let feeds = format!("{},{}", nba.display(), nhl.display());
    let (code, out, err) = run(&[
        "record",
        "--feed",
        &feeds,
        "--out",
        rec.to_str().expect("utf8"),
        "--until-final",
        "--poll-interval",
        "100ms",
    ])
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 2, "one document per feed: {out}");
    let mut subdirs: Vec<String> = std::fs::read_dir(&rec)
        .expect("tree")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    subdirs.sort();
    assert_eq!(subdirs.len(), 2, "{subdirs:?}");
    assert!(
        subdirs.iter().all(|d| d.starts_with("feed-")),
        "{subdirs:?}"
    );

    let demo = Server::start(&["demo", "--replay", rec.to_str().expect("utf8")]);
    common::wait_until(
        "both leagues on the board",
        Duration::from_secs(30),
        || async {
            let week: serde_json::Value = common::get_json(format!("{}/api/", demo.url)).await;
            let leagues: std::collections::BTreeSet<String> = week["games"]
                .as_array()
                .map(|g| {
                    g.iter()
                        .filter_map(|g| g["league"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            leagues.len() == 2 && leagues.contains("nba") && leagues.contains("nhl")
        },
    )
    .await;
    let leagues: serde_json::Value = common::get_json(format!("{}/api/leagues", demo.url)).await;
    assert_eq!(leagues[0]["league"], "nba", "{leagues}");
    assert_eq!(leagues[0]["games"], 3, "{leagues}");
    assert_eq!(leagues[1]["league"], "nhl", "{leagues}");
}
