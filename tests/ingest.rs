//! Feed ingestion over HTTP, through the real binary: a feed server of the
//! test's own plays a script (good documents, 304s, malformed ones, 5xx, a
//! hang, a 404), and clients must see exactly the real changes.

mod common;
#[path = "common/feed_server.rs"]
mod feed_server;

use std::sync::Arc;
use std::time::Duration;

use common::{board, Server, SseStream};
use feed_server::{feed_server, Reply};
use livescore::bus::{Bus, MemoryBus};
use livescore::feed::{scorestrip, Publisher, Tracker};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// Midday with a feed correction (GB 10 -> 7 in 2015091300) and one game
/// (2015091304) missing from the document.
fn corrected_midday() -> String {
    let doc = fixture("ss-2015-w1-midday.xml").replace(
        r#"hs="10" v="GB" vnn="packers" vs="10""#,
        r#"hs="10" v="GB" vnn="packers" vs="7""#,
    );
    let kept: Vec<&str> = doc
        .lines()
        .filter(|l| !l.contains(r#"eid="2015091304""#))
        .collect();
    assert_ne!(kept.len(), doc.lines().count(), "a game was removed");
    kept.join("\n")
}

/// (topic, event, data) with ScoreEvent times removed (they are the time
/// of the poll, which differs between runs).
fn normalized(topic: &str, event: &str, data: &str) -> (String, String, serde_json::Value) {
    let mut v: serde_json::Value = serde_json::from_str(data).expect("json data");
    if let Some(obj) = v.as_object_mut() {
        obj.remove("at");
    }
    (topic.to_string(), event.to_string(), v)
}

/// What publishing these documents in order puts on a bus, per the library.
async fn expected_events(docs: &[String]) -> Vec<(String, String, serde_json::Value)> {
    let bus = Arc::new(MemoryBus::new(1, 0));
    let mut publisher = Publisher::new(bus.clone() as Arc<dyn Bus>, Tracker::new());
    for doc in docs {
        let week = scorestrip::parse(doc.as_bytes()).expect("good document");
        publisher
            .push(week, chrono::Utc::now())
            .await
            .expect("push");
    }
    let all = bus
        .read_after(livescore::model::EventId::new(1, 0), 100_000)
        .await
        .expect("read");
    all.iter()
        .map(|e| {
            // One league: the server's `scores` is that league's board,
            // byte for byte (`feed::union`), published right after it.
            let topic = if e.topic.starts_with("scores/") {
                "scores"
            } else {
                e.topic.as_str()
            };
            normalized(topic, &e.event, std::str::from_utf8(&e.data).expect("utf8"))
        })
        .collect()
}

async fn metric(server: &Server, result: &str) -> u64 {
    let text = common::get_text(format!("{}/metrics", server.url)).await;
    // Labelled by league too: every series of this result counts.
    let label = format!("result=\"{result}\"");
    text.lines()
        .filter(|l| l.starts_with("livescore_feed_polls_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn the_poller_publishes_exactly_the_real_changes_and_survives_bad_feeds() {
    let pregame = fixture("ss-2015-w1-pregame.xml");
    let midday = fixture("ss-2015-w1-midday.xml");
    let corrected = corrected_midday();
    let fin = fixture("ss-2015-w1-final.xml");
    let script = vec![
        Reply::Doc(pregame.clone()),
        Reply::Current, // 304
        Reply::GzipDoc(midday.clone()),
        Reply::Doc(fixture("ss-malformed-badscore.xml")),
        Reply::Current, // the bad document again: its ETag was not kept
        Reply::Doc(fixture("ss-malformed-truncated.xml")),
        Reply::Status(500), // three attempts, then the poll fails
        Reply::Status(503),
        Reply::Status(502),
        Reply::Hang, // times out; the retry gets the next document
        Reply::Doc(corrected.clone()),
        Reply::Current, // 304
        Reply::Doc(fixture("ss-malformed-missing-eid.xml")),
        Reply::Doc(fixture("ss-malformed-unknown-quarter.xml")),
        Reply::Status(404), // not retried
        Reply::Doc(fin.clone()),
    ];
    let (url, feed, gate) = feed_server(script, false).await;
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--feed",
        &url,
        "--poll-interval",
        "100ms",
        "--feed-timeout",
        "3s",
    ]);

    let eids: Vec<String> = scorestrip::parse(pregame.as_bytes())
        .expect("pregame")
        .games
        .into_iter()
        .map(|g| g.eid)
        .collect();
    let mut query = String::from("topic=scores");
    for eid in &eids {
        query.push_str(&format!("&topic=game/{eid}"));
    }
    let mut sse = SseStream::connect(&format!("{}/api/stream?{query}", server.url), None).await;
    gate.send(true).expect("open the feed");

    let mut got = Vec::new();
    let mut last_id = (String::new(), 0);
    loop {
        let ev = sse
            .next_event(Duration::from_secs(30))
            .await
            .expect("stream open");
        let id = common::id_parts(ev.id.as_deref().expect("every event has an id"));
        assert!(id > last_id, "ids increase");
        last_id = id;
        let topic = if ev.event == "update" {
            "scores".to_string()
        } else {
            let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
            format!("game/{}", v["eid"].as_str().expect("eid"))
        };
        got.push(normalized(&topic, &ev.event, &ev.data));
        if ev.event == "update" {
            let b = board(&serde_json::from_str(&ev.data).expect("json"));
            if b.values().all(|(_, _, state)| state.starts_with("final")) {
                break;
            }
        }
    }
    let want = expected_events(&[pregame, midday, corrected, fin]).await;
    assert_eq!(got.len(), want.len(), "event count");
    assert_eq!(got, want, "exactly the real changes, in order");

    // The correction went out as one, and the vanished game was kept.
    assert!(got.iter().any(|(t, e, v)| t == "game/2015091300"
        && e == "score"
        && v["team"] == "GB"
        && v["points"] == -3
        && v["away_score"] == 7));
    let after_correction = got
        .iter()
        .filter(|(t, _, _)| t == "scores")
        .nth(2)
        .expect("third update");
    let b = board(&after_correction.2);
    assert_eq!(b.len(), 16);
    assert_eq!(b["2015091304"], (23, 0, "live".to_string()));
    assert_eq!(b["2015091300"], (10, 7, "live".to_string()));

    // What the feed server saw: conditional GETs with the last accepted
    // document's validators, a clear User-Agent, gzip offered, retries on
    // 5xx and timeouts only.
    let seen = feed.lock().expect("lock").seen.clone();
    let statuses: Vec<u16> = seen.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [200, 304, 200, 200, 200, 200, 500, 503, 502, 200, 304, 200, 200, 404, 200],
        "the hang is not answered; nothing else was asked"
    );
    assert_eq!(seen[1].if_none_match.as_deref(), Some("\"v1\""));
    assert!(seen[1].if_modified_since.is_some());
    assert_eq!(seen[4].if_none_match.as_deref(), Some("\"v2\""));
    assert_eq!(seen[10].if_none_match.as_deref(), Some("\"v5\""));
    for s in &seen {
        assert!(s.user_agent.starts_with("livescore/"), "{}", s.user_agent);
        assert!(s.accept_encoding.contains("gzip"), "{}", s.accept_encoding);
    }

    assert_eq!(metric(&server, "ok").await, 4);
    assert_eq!(metric(&server, "not_modified").await, 2);
    assert_eq!(metric(&server, "rejected").await, 5);
    assert_eq!(metric(&server, "error").await, 2);
    let health: serde_json::Value = common::get_json(format!("{}/healthz", server.url)).await;
    assert_eq!(health["feed"]["rejected"], 5);
    assert_eq!(health["feed"]["errors"], 2);
    assert!(health["feed"]["last_error"].is_null());
}

/// Runs `livescore ingest ARGS` to completion: (exit ok, stdout, stderr).
async fn ingest(args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
            .arg("ingest")
            .args(args)
            .env("LIVESCORE_LOG", "info")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ingest finishes")
    .expect("run ingest");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn ingest_once_publishes_a_good_feed_and_exits_0() {
    let (url, _feed, _gate) =
        feed_server(vec![Reply::Doc(fixture("ss-2015-w1-midday.xml"))], true).await;
    let (ok, out, err) = ingest(&["--once", "--feed", &url]).await;
    assert!(ok, "exit 0; stderr: {err}");
    assert!(out.contains("16 games changed"), "{out}");
    assert!(out.contains("score events published"), "{out}");

    let path = format!(
        "{}/tests/fixtures/ss-2015-w1-final.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let (ok, out, err) = ingest(&["--once", "--feed", &path]).await;
    assert!(ok, "a file feed too; stderr: {err}");
    assert!(out.contains("16 games changed"), "{out}");
}

#[tokio::test]
async fn ingest_once_fails_with_one_line_on_bad_or_unreachable_feeds() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/ss.xml", l.local_addr().expect("addr"))
    };
    let cases: Vec<(Vec<Reply>, Option<String>, [&str; 2])> = vec![
        (
            vec![Reply::Doc(fixture("ss-malformed-badscore.xml"))],
            None,
            ["2015091302", "`hs`"],
        ),
        (
            vec![Reply::Doc(fixture("ss-malformed-truncated.xml"))],
            None,
            ["malformed XML", "byte"],
        ),
        (
            vec![Reply::Status(500), Reply::Status(500), Reply::Status(500)],
            None,
            ["unreachable", "HTTP 500"],
        ),
        (vec![Reply::Status(404)], None, ["unreachable", "HTTP 404"]),
        (vec![Reply::Hang; 3], None, ["unreachable", "timed out"]),
        (vec![], Some(closed), ["unreachable", "onnect"]),
        (
            vec![],
            Some("/nonexistent/livescore/ss.xml".into()),
            ["unreachable", "/nonexistent/livescore/ss.xml"],
        ),
    ];
    for (script, target, words) in cases {
        let (url, _feed, _gate) = feed_server(script, true).await;
        let target = target.unwrap_or(url);
        let (ok, out, err) =
            ingest(&["--once", "--feed", &target, "--feed-timeout", "300ms"]).await;
        assert!(!ok, "{target}: exits non-zero");
        assert!(
            out.is_empty(),
            "{target}: nothing reported as published: {out}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{target}: one line: {err}"
        );
        assert!(err.starts_with("livescore ingest: "), "{err}");
        for w in words {
            assert!(err.contains(w), "{target}: {err:?} should contain {w:?}");
        }
    }
}

#[tokio::test]
async fn ingest_once_stores_what_it_publishes_and_resumes_from_it() {
    let dir = std::env::temp_dir().join(format!("livescore-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = format!("sqlite://{}", dir.join("ingest.db").display());
    let path = |name: &str| format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));

    let midday = path("ss-2015-w1-midday.xml");
    let (ok, out, err) = ingest(&["--once", "--feed", &midday, "--database-url", &db]).await;
    assert!(ok && out.contains("16 games changed"), "{out} {err}");
    // Resumed from the store: the same document changes nothing.
    let (ok, out, err) = ingest(&["--once", "--feed", &midday, "--database-url", &db]).await;
    assert!(ok && out.contains("nothing changed"), "{out} {err}");
    // A bad document stores nothing.
    let bad = path("ss-malformed-badscore.xml");
    let (ok, _, _) = ingest(&["--once", "--feed", &bad, "--database-url", &db]).await;
    assert!(!ok);
    let fin = path("ss-2015-w1-final.xml");
    let (ok, out, err) = ingest(&["--once", "--feed", &fin, "--database-url", &db]).await;
    assert!(ok && out.contains("games changed"), "{out} {err}");

    // A server on that database starts from what ingest stored.
    let server = Server::start(&["serve", "--database-url", &db]);
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    let b = board(&week["games"]);
    assert_eq!(b.len(), 16);
    assert_eq!(b["2015091301"], (34, 31, "final_overtime".to_string()));
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}
