//! Score history survives a chat flood while the database is stalled
//! (issue 22): another process holds an exclusive lock on the SQLite file
//! for 30 s while WebSocket clients flood chat and the feed streams score
//! changes. Every streamed score event must end up in the database; what
//! is shed is chat only, and counted; `/readyz` says 503 during the stall
//! while `/healthz` keeps answering 200 with `degraded`.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{client, Server, SseStream, TempDir};
use futures::SinkExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const PREGAME: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-pregame.xml"
);
const MIDDAY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-midday.xml"
);
const FINAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-final.xml"
);
const GAME: &str = "2015091300";
const STALL: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(60);

/// `python3` holding `BEGIN EXCLUSIVE` on `db` for `STALL`; returns once
/// the lock is held.
async fn lock_exclusively(db: &std::path::Path) -> tokio::process::Child {
    let script = format!(
        "import sqlite3, sys, time\n\
         c = sqlite3.connect({db:?}, timeout=30, isolation_level=None)\n\
         c.execute('BEGIN EXCLUSIVE')\n\
         print('locked', flush=True)\n\
         time.sleep({secs})\n\
         c.execute('COMMIT')\n",
        db = db.to_str().expect("utf-8 path"),
        secs = STALL.as_secs()
    );
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the lock within a minute")
        .expect("read");
    assert_eq!(line.as_deref(), Some("locked"));
    child
}

/// One WebSocket client posting [`FLOOD_PER_CLIENT`] chats a second until
/// `until` (the attacker managed 405 a second per client by
/// reconnecting); how many it sent.
async fn flood(base: String, until: Instant, me: usize, per_second: Option<u64>) -> u64 {
    let url = format!("{}/ws", base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("ws connect");
    let mut sent = 0;
    let mut tick =
        per_second.map(|r| tokio::time::interval(Duration::from_micros(50_000_000 / r.max(1))));
    while Instant::now() < until {
        let msg = json!({"type": "chat", "eid": GAME, "name": format!("flood{me}"), "text": format!("m{sent}")});
        if ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
        if sent % 50 == 0 {
            match tick.as_mut() {
                Some(tick) => {
                    tick.tick().await;
                }
                None => tokio::task::yield_now().await,
            }
        }
    }
    sent
}

/// Chats a second from each of the 4 flooding clients: together past the
/// 10,000-event chat budget well within the stall.
const FLOOD_PER_CLIENT: u64 = 500;

async fn get(base: &str, path: &str) -> (u16, Value) {
    let resp = client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("get");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

#[tokio::test]
async fn a_chat_flood_during_a_database_stall_sheds_only_chat() {
    flood_during_a_stall(Some(FLOOD_PER_CLIENT)).await;
}

/// As fast as the clients can send (millions of chats, far past anything
/// the chat limits let through): the store writer falls behind the bus
/// ring itself, and recovers the score history the bus kept apart.
#[tokio::test]
async fn an_unthrottled_chat_flood_during_a_database_stall_still_sheds_only_chat() {
    flood_during_a_stall(None).await;
}

async fn flood_during_a_stall(per_client: Option<u64>) {
    let dir = TempDir::new("flood");
    let feed = dir.path().join("ss.xml");
    std::fs::copy(PREGAME, &feed).expect("feed");
    let db = dir.path().join("flood.db");
    let url = format!("sqlite://{}", db.display());
    let server = Server::start(&[
        "serve",
        "--database-url",
        &url,
        "--feed",
        feed.to_str().expect("utf-8"),
        "--poll-interval",
        "300ms",
        "--chat-rate",
        "100000",
        "--chat-burst",
        "100000",
    ]);
    let base = server.url.clone();
    let eids = common::polled_eids(&base, WAIT).await;
    let stream = common::scores_and_games_url(&base, &eids);
    let mut sse = SseStream::connect(&stream, None).await;

    let lock = lock_exclusively(&db).await;
    let until = Instant::now() + STALL - Duration::from_secs(2);
    let flooders: Vec<_> = (0..4)
        .map(|i| tokio::spawn(flood(base.clone(), until, i, per_client)))
        .collect();
    // Scores change during the stall.
    tokio::time::sleep(Duration::from_secs(3)).await;
    std::fs::copy(MIDDAY, &feed).expect("midday");
    tokio::time::sleep(Duration::from_secs(3)).await;
    std::fs::copy(FINAL, &feed).expect("final");
    // Health during the stall: the node serves (200) but says degraded,
    // and readiness is 503.
    let deadline = Instant::now() + WAIT;
    let (ready, degraded) = loop {
        let (ready, body) = get(&base, "/readyz").await;
        let (live, health) = get(&base, "/healthz").await;
        assert_eq!(live, 200, "{health}");
        if ready == 503 && health["status"] == "degraded" {
            break (body, health);
        }
        assert!(Instant::now() < deadline, "never degraded: {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ready["status"], "degraded");
    assert!(degraded["reasons"].is_array(), "{degraded}");

    // Every score event streamed, until the board is final.
    let mut streamed = BTreeSet::new();
    loop {
        let ev = sse.next_event(WAIT).await.expect("stream open");
        let data: Value = serde_json::from_str(&ev.data).expect("json");
        if ev.event == "score" {
            streamed.insert(data["id"].as_str().expect("score id").to_owned());
        }
        let all_final = ev.event == "update" && common::all_final(&data);
        if all_final {
            break;
        }
    }
    assert!(!streamed.is_empty());
    let mut sent = 0;
    for f in flooders {
        sent += f.await.expect("flooder");
    }
    let _ = lock.wait_with_output().await;

    // Once the database is back and the queue drained, every streamed
    // score event is in the history; the loss is chat only, and counted.
    let deadline = Instant::now() + WAIT;
    let health = loop {
        let (_, health) = get(&base, "/healthz").await;
        if health["database"]["queue"] == 0 && health["database"]["last_error"].is_null() {
            break health;
        }
        assert!(Instant::now() < deadline, "never drained: {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut stored = BTreeSet::new();
    for eid in &eids {
        let (status, events) = get(&base, &format!("/api/games/{eid}/events")).await;
        assert_eq!(status, 200);
        for e in events.as_array().expect("array") {
            stored.insert(e["id"].as_str().expect("id").to_owned());
        }
    }
    let missing: Vec<_> = streamed.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "score events not stored: {missing:?} {health}"
    );
    let db = &health["database"];
    assert_eq!(db["lost_by_class"]["state"], 0, "{db}");
    assert_eq!(
        db["lost"], db["lost_by_class"]["other"],
        "every loss is chat: {db}"
    );
    assert!(
        sent > 10_000,
        "the flood outgrew the chat budget ({sent} sent)"
    );
    assert!(db["lost"].as_u64().expect("lost") > 0, "{db}");
    let metrics = common::get_text(format!("{base}/metrics")).await;
    assert!(
        metrics.contains("livescore_store_lost_total{class=\"other\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("livescore_store_lost_total{class=\"state\"}"));
}
