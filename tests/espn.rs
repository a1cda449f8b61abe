//! The ESPN scoreboard feed through the real binary: served over HTTP with
//! ETags and 304s, ingested from a file into a database, and refused by
//! name when malformed.

mod common;
#[path = "common/espn.rs"]
mod espn;
#[path = "common/feed_server.rs"]
mod feed_server;

use std::time::Duration;

use common::{board, Server, TempDir};
use espn::{
    assert_scores_in_order_to_the_official_finals, expected_events, fixture, follow_to_finals,
    official_by_home, path, subscribe, teams,
};
use feed_server::{feed_server, Reply};

#[tokio::test]
async fn an_espn_feed_over_http_streams_every_score_change_in_order_to_the_official_finals() {
    let (pregame, midday, fin) = (
        fixture("espn-2015-w1-pregame.json"),
        fixture("espn-2015-w1-midday.json"),
        fixture("espn-2015-w1-final.json"),
    );
    let script = vec![
        Reply::Doc(pregame.clone()),
        Reply::Current, // 304
        Reply::Doc(midday.clone()),
        Reply::Current, // 304
        Reply::Doc(fin.clone()),
    ];
    let (url, feed, gate) = feed_server(script, false).await;
    let url = url.replace("/ss.xml", "/scoreboard");
    let server = Server::start(&["serve", "--feed", &url, "--poll-interval", "100ms"]);
    let teams = teams(&pregame);
    let eids: Vec<String> = teams.keys().cloned().collect();
    let mut sse = subscribe(&server.url, &eids).await;
    gate.send(true).expect("open the feed");
    let got = follow_to_finals(&mut sse).await;

    let want = expected_events(&[&pregame, &midday, &fin]).await;
    assert_eq!(got, want, "exactly the real changes, in order");
    assert_scores_in_order_to_the_official_finals(&got, &teams);

    let seen = feed.lock().expect("lock").seen.clone();
    let statuses: Vec<u16> = seen.iter().take(5).map(|s| s.status).collect();
    assert_eq!(statuses, [200, 304, 200, 304, 200]);
    assert_eq!(seen[1].if_none_match.as_deref(), Some("\"v1\""));
    assert!(seen.iter().all(|s| s.user_agent.starts_with("livescore/")));
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    assert_eq!(
        (&week["season"], &week["week"], &week["season_type"]),
        (&2015.into(), &1.into(), &"REG".into())
    );
}

/// Runs `livescore ingest ARGS` to completion: (exit code, stdout, stderr).
async fn ingest(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
            .arg("ingest")
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ingest finishes")
    .expect("run ingest");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn ingest_once_an_espn_file_then_serve_shows_every_final() {
    let dir = TempDir::new("espn-ingest");
    let db = format!("sqlite://{}", dir.path().join("espn.db").display());
    let fin = path("espn-2015-w1-final.json");
    let (code, out, err) = ingest(&["--once", "--feed", &fin, "--database-url", &db]).await;
    assert_eq!(code, Some(0), "{out} {err}");
    assert!(out.contains("16 games changed"), "{out}");

    let server = Server::start(&["serve", "--database-url", &db]);
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    let finals = board(&week["games"]);
    let official = official_by_home();
    let teams = teams(&fixture("espn-2015-w1-final.json"));
    assert_eq!(finals.len(), 16);
    for (eid, (home, away, state)) in finals {
        assert_eq!((home, away), official[&teams[&eid].0], "{eid}");
        assert!(state.starts_with("final"), "{eid}: {state}");
    }
    assert_eq!(week["games"][2]["quarter"], "FO");
}

#[tokio::test]
async fn a_malformed_espn_document_exits_1_naming_event_and_field_and_publishes_nothing() {
    let dir = TempDir::new("espn-bad");
    let db = format!("sqlite://{}", dir.path().join("bad.db").display());
    let cases = [
        (
            "espn-malformed-badscore.json",
            ["405091302", "competitions[0].competitors[0].score"],
        ),
        (
            "espn-malformed-unknown-state.json",
            ["405091306", "status.type.state"],
        ),
        (
            "espn-malformed-one-competitor.json",
            ["405091308", "competitions[0].competitors"],
        ),
        (
            "espn-malformed-missing-id.json",
            ["game #6 (IND @ BUF)", "`id`"],
        ),
        (
            "espn-malformed-truncated.json",
            ["espn: malformed JSON", "byte"],
        ),
    ];
    for (name, words) in cases {
        let (code, out, err) =
            ingest(&["--once", "--feed", &path(name), "--database-url", &db]).await;
        assert_eq!(code, Some(1), "{name}: exit 1; {err}");
        assert!(out.is_empty(), "{name}: nothing reported published: {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: one line: {err}");
        for w in words {
            assert!(err.contains(w), "{name}: {err:?} should name {w:?}");
        }
    }
    // Nothing was published or stored by any of them.
    let server = Server::start(&["serve", "--database-url", &db]);
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    assert_eq!(week["games"], serde_json::json!([]));
    assert!(week["last_event_id"].is_null(), "{week}");
}
