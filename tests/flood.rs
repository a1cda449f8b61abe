//! Score history survives a chat flood while the database is stalled
//! (issue 22): another process holds an exclusive lock on the SQLite file
//! for 30 s, or the PostgreSQL server is stopped for 30 s and started
//! again, while WebSocket clients flood chat and the feed streams score
//! changes. Every streamed score event must end up in the database; what
//! is shed is chat only, and counted; `/readyz` says 503 during the stall
//! while `/healthz` keeps answering 200 with `degraded`.

mod common;
#[path = "common/pg_cluster.rs"]
mod pg_cluster;

use std::collections::BTreeSet;
use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, Server, SseStream, TempDir};
use futures::SinkExt;
use pg_cluster::Cluster;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;
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
/// the lock is held, with the task that ends once it is released.
async fn lock_exclusively(db: &std::path::Path) -> JoinHandle<()> {
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
    tokio::spawn(async move {
        let _ = child.wait_with_output().await;
    })
}

/// Stops `cluster` (the server gone: connections refused, the pool's
/// connections dead, not merely a slow database); returns once it is down,
/// with the task that starts it again on the same port and data directory
/// after [`STALL`]. pg_ctl waits for the server to go or come, so it runs
/// off the runtime's threads.
async fn stop_for_the_stall(cluster: Arc<Cluster>) -> JoinHandle<()> {
    let stop = cluster.clone();
    tokio::task::spawn_blocking(move || stop.stop())
        .await
        .expect("pg_ctl stop");
    tokio::spawn(async move {
        tokio::time::sleep(STALL).await;
        tokio::task::spawn_blocking(move || cluster.start())
            .await
            .expect("pg_ctl start");
    })
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
    flood_during_a_sqlite_lock(Some(FLOOD_PER_CLIENT)).await;
}

/// As fast as the clients can send (millions of chats, far past anything
/// the chat limits let through): the store writer falls behind the bus
/// ring itself, and recovers the score history the bus kept apart.
#[tokio::test]
async fn an_unthrottled_chat_flood_during_a_database_stall_still_sheds_only_chat() {
    flood_during_a_sqlite_lock(None).await;
}

/// The stall on PostgreSQL is an outage, not a lock: the server is stopped
/// and started again, so the writer must reconnect before it can drain. A
/// throwaway cluster of the test's own: the shared server at
/// 127.0.0.1:5432 is never stopped. The test keeps a handle of its own, so
/// the cluster outlives the restart task (dropping the last one stops it).
#[tokio::test]
async fn a_chat_flood_while_postgres_is_down_sheds_only_chat() {
    let cluster = Arc::new(Cluster::new());
    let down = stop_for_the_stall(cluster.clone());
    flood_during_a_stall(&cluster.url(), Some(FLOOD_PER_CLIENT), down).await;
}

/// The SQLite stall: the database file locked by another process.
async fn flood_during_a_sqlite_lock(per_client: Option<u64>) {
    let dir = TempDir::new("flood-db");
    let db = dir.path().join("flood.db");
    let url = format!("sqlite://{}", db.display());
    flood_during_a_stall(&url, per_client, lock_exclusively(&db)).await;
}

/// The flood against a node on `database_url`, with `stall` taking the
/// database away: it resolves once the database is away, to the task that
/// gives it back after [`STALL`] (each backend stalls its own way; what
/// the node must do about it is the same).
async fn flood_during_a_stall(
    database_url: &str,
    per_client: Option<u64>,
    stall: impl Future<Output = JoinHandle<()>>,
) {
    let dir = TempDir::new("flood");
    let feed = dir.path().join("ss.xml");
    std::fs::copy(PREGAME, &feed).expect("feed");
    // The chat limits (per client address, and per game for all senders
    // together) lifted: the flood must reach the store, past its chat
    // budget, for the store's shedding to be what is tested.
    let server = Server::start(&[
        "serve",
        "--database-url",
        database_url,
        "--feed",
        feed.to_str().expect("utf-8"),
        "--poll-interval",
        "300ms",
        "--chat-rate",
        "100000",
        "--chat-burst",
        "100000",
        "--chat-game-rate",
        "100000",
        "--chat-game-burst",
        "100000",
    ]);
    let base = server.url.clone();
    let eids = common::polled_eids(&base, WAIT).await;
    let stream = common::scores_and_games_url(&base, &eids);
    let mut sse = SseStream::connect(&stream, None).await;

    let back = stall.await;
    let stalled = Instant::now();
    let until = Instant::now() + STALL - Duration::from_secs(2);
    let flooders: Vec<_> = (0..4)
        .map(|i| tokio::spawn(flood(base.clone(), until, i, per_client)))
        .collect();
    // Scores change during the stall, once the flood is queuing behind it,
    // each document seen by a poll of its own.
    common::wait_until("the flood queues behind the stall", WAIT, || async {
        get(&base, "/healthz").await.1["database"]["queue"]
            .as_u64()
            .is_some_and(|q| q > 0)
    })
    .await;
    std::fs::copy(MIDDAY, &feed).expect("midday");
    let at = polls(&base).await;
    // Two more: one at least started after the copy.
    common::wait_until("the feed polled the midday document", WAIT, || async {
        polls(&base).await >= at + 2
    })
    .await;
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
    println!(
        "{}: {:.1} s into the stall: /readyz 503, /healthz 200 degraded {}",
        degraded["database"]["kind"],
        stalled.elapsed().as_secs_f64(),
        degraded["reasons"]
    );

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
    back.await.expect("the database back");

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
        common::metric_in(&metrics, "livescore_store_lost_total{class=\"other\"}") > 0.0,
        "{metrics}"
    );
    assert_eq!(
        common::metric_in(&metrics, "livescore_store_lost_total{class=\"state\"}"),
        0.0
    );
    println!(
        "{}: {sent} chats sent, {} score events streamed and stored; lost {} \
         (state {}, other {}), {} write errors",
        db["kind"],
        streamed.len(),
        db["lost"],
        db["lost_by_class"]["state"],
        db["lost_by_class"]["other"],
        db["write_errors"]
    );
}

/// Feed polls so far, whatever their outcome.
async fn polls(base: &str) -> u64 {
    let text = common::get_text(format!("{base}/metrics")).await;
    text.lines()
        .filter(|l| l.starts_with("livescore_feed_polls_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
