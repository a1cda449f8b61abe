//! A file feed through the real server: good documents become events,
//! malformed ones are rejected by name and never reach clients.

mod common;

use std::time::{Duration, Instant};

use common::{board, Server, SseStream};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

async fn health(server: &Server) -> serde_json::Value {
    common::get_json(format!("{}/healthz", server.url)).await
}

#[tokio::test]
async fn malformed_documents_are_rejected_naming_game_and_attribute_and_keep_the_last_good_state() {
    let dir = std::env::temp_dir().join(format!("livescore-feed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let feed = dir.join("ss.xml");
    std::fs::write(&feed, fixture("ss-2015-w1-midday.xml")).expect("write");
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--feed",
        feed.to_str().expect("utf8"),
        "--poll-interval",
        "100ms",
    ]);

    let mut sse = SseStream::connect(&format!("{}/api/livescore", server.url), None).await;
    let first = sse
        .next_event(Duration::from_secs(10))
        .await
        .expect("midday list");
    let midday = board(&serde_json::from_str(&first.data).expect("json"));
    assert_eq!(midday["2015091300"], (10, 10, "live".to_string()));

    let cases = [
        ("ss-malformed-badscore.xml", ["2015091302", "hs"]),
        ("ss-malformed-unknown-quarter.xml", ["2015091306", "`q`"]),
        ("ss-malformed-missing-eid.xml", ["game #6", "eid"]),
        ("ss-malformed-truncated.xml", ["malformed XML", "byte"]),
    ];
    for (name, words) in cases {
        std::fs::write(&feed, fixture(name)).expect("write");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let h = health(&server).await;
            let err = h["feed"]["last_error"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if words.iter().all(|w| err.contains(w)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: error should name {words:?}, got {err:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            server.logs().contains(words[0]),
            "{name}: the log names it too"
        );
    }
    // Nothing from the bad documents was published: the state is still midday.
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    assert_eq!(board(&week["games"]), midday);

    // A good document is accepted again and its changes stream out.
    std::fs::write(&feed, fixture("ss-2015-w1-final.xml")).expect("write");
    let ev = sse
        .next_event(Duration::from_secs(10))
        .await
        .expect("final list");
    let fin = board(&serde_json::from_str(&ev.data).expect("json"));
    assert_eq!(fin["2015091301"], (34, 31, "final_overtime".to_string()));
    assert!(health(&server).await["feed"]["last_error"].is_null());
    std::fs::remove_dir_all(&dir).ok();
}

/// A node whose feed never produced a good document serves no scores: it
/// says so on `/readyz` (503, the reason, the feed's error), while
/// `/healthz` stays 200. Once a good document comes it is ready, and a
/// later bad one keeps its last good state without taking it out again.
#[tokio::test]
async fn a_feed_that_never_produced_a_good_document_makes_the_node_not_ready() {
    let dir = common::TempDir::new("feed-never-good");
    let feed = dir.path().join("ss.xml");
    std::fs::write(&feed, fixture("ss-malformed-truncated.xml")).expect("write");
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--feed",
        feed.to_str().expect("utf8"),
        "--poll-interval",
        "100ms",
    ]);
    let ready = |server: &Server| {
        let url = format!("{}/readyz", server.url);
        async move {
            let resp = common::client().get(url).send().await.expect("readyz");
            let code = resp.status().as_u16();
            (code, resp.json::<serde_json::Value>().await.expect("json"))
        }
    };
    // Named by the feed: a file feed is `feed-` and a fingerprint of its path.
    let reason = |r: &serde_json::Value| {
        r.as_str().is_some_and(|r| {
            r.starts_with("feed feed-") && r.ends_with(" has produced no good document")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (code, body) = ready(&server).await;
        if code == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "still {code}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(
        body["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .any(reason),
        "{body}"
    );
    assert!(
        body["feed"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("malformed XML")),
        "{body}"
    );
    assert_eq!(health(&server).await["status"], "degraded");

    std::fs::write(&feed, fixture("ss-2015-w1-midday.xml")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = ready(&server).await;
        if code == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready after a good document: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rejected = |h: serde_json::Value| h["feed"]["rejected"].as_u64().expect("rejected");
    let before = rejected(health(&server).await);
    std::fs::write(&feed, fixture("ss-malformed-badscore.xml")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while rejected(health(&server).await) == before {
        assert!(Instant::now() < deadline, "the bad document was not read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, body) = ready(&server).await;
    assert_eq!(code, 200, "a failure after a good document: {body}");
}
