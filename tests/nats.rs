//! Scale-out over NATS JetStream against real processes: the scenarios of
//! `tests/redis.rs` (cross-node delivery with one id, resume on another
//! node, faults, a recreated log, the feed lease, ingest) and the chat of
//! `tests/redis_chat.rs`, with every node on one JetStream stream (each
//! test with a stream of its own on the shared NATS, deleted afterwards,
//! or on a throwaway `nats-server -js` of its own).

mod common;
#[path = "common/nats.rs"]
mod nats_support;
#[path = "common/redis.rs"]
mod redis_support;

use std::time::Duration;

use common::{SseStream, TempDir};
use futures::{SinkExt, StreamExt};
use nats_support::{node, NatsServer, NatsStream, SHARED_NATS};
use redis_support::{metric_sum, publish};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(20);

/// The next `flash` event's (id, n); skips anything else (keep-alives).
async fn next_flash(sse: &mut SseStream) -> (String, u64) {
    loop {
        let ev = sse.next_event(WAIT).await.expect("stream open");
        if ev.event == "flash" {
            let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
            return (ev.id.expect("id"), v["n"].as_u64().expect("n"));
        }
        assert_ne!(ev.event, "reset", "unexpected reset: {}", ev.data);
    }
}

/// The `bus` part of `base`'s `/healthz` (503 while NATS is down).
async fn bus_health(base: &str) -> serde_json::Value {
    let health: serde_json::Value = common::client()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    health["bus"].clone()
}

fn stream_url(base: &str, topic: &str) -> String {
    format!("{base}/api/stream?topic={topic}")
}

#[tokio::test]
async fn an_event_published_on_one_node_reaches_clients_of_every_node_with_one_id() {
    let stream = NatsStream::new("fanout");
    let a = node(SHARED_NATS, &stream, &[]);
    let b = node(SHARED_NATS, &stream, &[]);
    let c = node(SHARED_NATS, &stream, &[]);
    let mut on_b = SseStream::connect(&stream_url(&b.url, "news"), None).await;
    let mut on_c = SseStream::connect(&stream_url(&c.url, "news"), None).await;
    let mut on_a = SseStream::connect(&stream_url(&a.url, "news"), None).await;
    for n in 1..=5 {
        // Publish on every node in turn: one stream, one order.
        let via = [&a, &b, &c][(n % 3) as usize];
        let id = publish(&via.url, "news", serde_json::json!({ "n": n })).await;
        for sse in [&mut on_a, &mut on_b, &mut on_c] {
            assert_eq!(next_flash(sse).await, (id.clone(), n));
        }
    }
    let health: serde_json::Value = common::client()
        .get(format!("{}/healthz", b.url))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["bus"]["kind"], "nats");
    assert_eq!(health["bus"]["connected"], true);
}

#[tokio::test]
async fn a_client_resumes_on_another_node_with_every_missed_event_once_in_order() {
    let stream = NatsStream::new("resume");
    let a = node(SHARED_NATS, &stream, &[]);
    let b = node(SHARED_NATS, &stream, &[]);
    let mut sse = SseStream::connect(&stream_url(&a.url, "news"), None).await;
    let mut last = String::new();
    for n in 1..=3 {
        let id = publish(&a.url, "news", serde_json::json!({ "n": n })).await;
        let got = next_flash(&mut sse).await;
        assert_eq!(got, (id.clone(), n));
        last = id;
    }
    drop(sse); // the client goes away (node A's connection dropped)
    let mut missed = Vec::new();
    for n in 4..=8 {
        missed.push(publish(&a.url, "news", serde_json::json!({ "n": n })).await);
        // Noise on another topic must not show up.
        publish(&a.url, "other", serde_json::json!({ "n": 0 })).await;
    }
    let mut resumed = SseStream::connect(&stream_url(&b.url, "news"), Some(&last)).await;
    for (i, id) in missed.iter().enumerate() {
        assert_eq!(next_flash(&mut resumed).await, (id.clone(), i as u64 + 4));
    }
    // Then live, with no repeat at the seam.
    let live = publish(&a.url, "news", serde_json::json!({ "n": 9 })).await;
    assert_eq!(next_flash(&mut resumed).await, (live, 9));

    // A node that starts now is warm: it resumes the same client at once.
    let late = node(SHARED_NATS, &stream, &[]);
    let mut again = SseStream::connect(&stream_url(&late.url, "news"), Some(&missed[2])).await;
    for (i, id) in missed[3..].iter().enumerate() {
        assert_eq!(next_flash(&mut again).await, (id.clone(), i as u64 + 7));
    }
}

#[tokio::test]
async fn killing_nats_mid_publish_loses_nothing_and_repeats_nothing() {
    let dir = TempDir::new("nats-fault");
    let mut nats = NatsServer::start(dir.path());
    let url = nats.url();
    let stream = NatsStream::on("fault", &url);
    let a = node(&url, &stream, &[]);
    let b = node(&url, &stream, &[]);
    let mut clients = vec![
        SseStream::connect(&stream_url(&a.url, "news"), None).await,
        SseStream::connect(&stream_url(&b.url, "news"), None).await,
    ];
    const TOTAL: u64 = 30;
    let base = a.url.clone();
    let publisher = tokio::spawn(async move {
        let mut ids = Vec::new();
        for n in 1..=TOTAL {
            ids.push(publish(&base, "news", serde_json::json!({ "n": n })).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ids
    });
    // Let some events through, then kill NATS mid-stream and bring it back.
    tokio::time::sleep(Duration::from_millis(400)).await;
    nats.kill();
    // The nodes say so (and keep their clients).
    let deadline = tokio::time::Instant::now() + WAIT;
    while bus_health(&b.url).await["connected"] != false {
        assert!(
            tokio::time::Instant::now() < deadline,
            "healthz never showed the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    nats.restart();
    let ids = tokio::time::timeout(Duration::from_secs(90), publisher)
        .await
        .expect("publishing finished")
        .expect("publisher task");
    assert_eq!(ids.len() as u64, TOTAL);
    for sse in &mut clients {
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(next_flash(sse).await, (id.clone(), i as u64 + 1));
        }
    }
    // Both nodes counted a reconnect; the ids stayed in one epoch.
    for n in [&a, &b] {
        assert!(metric_sum(&n.url, "livescore_bus_reconnects_total").await >= 1.0);
    }
    let health = bus_health(&b.url).await;
    assert_eq!(
        (health["connected"].as_bool(), health["lag"].as_u64()),
        (Some(true), Some(0))
    );
    let epochs: std::collections::BTreeSet<_> = ids.iter().map(|i| common::id_parts(i).0).collect();
    assert_eq!(epochs.len(), 1, "the stream on disk keeps its epoch");
}

#[tokio::test]
async fn a_recreated_stream_gives_resuming_clients_an_epoch_reset() {
    let stream = NatsStream::new("recreate");
    let a = node(SHARED_NATS, &stream, &[]);
    let old = publish(&a.url, "news", serde_json::json!({ "n": 1 })).await;
    // Lose the history the way an operator deleting the stream does; the
    // next publish recreates it.
    stream.delete_stream();
    let new = publish(&a.url, "news", serde_json::json!({ "n": 2 })).await;
    assert_ne!(
        common::id_parts(&old).0,
        common::id_parts(&new).0,
        "new epoch"
    );
    // Wait until node A has taken in the new history.
    let mut live = SseStream::connect(&stream_url(&a.url, "news"), None).await;
    let probe = publish(&a.url, "news", serde_json::json!({ "n": 3 })).await;
    assert_eq!(next_flash(&mut live).await, (probe, 3));
    let mut resumed = SseStream::connect(&stream_url(&a.url, "news"), Some(&old)).await;
    let ev = resumed.next_event(WAIT).await.expect("reset");
    assert_eq!(ev.event, "reset");
    let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
    assert_eq!(v["reason"], "epoch");
}

/// Feed polls `base` has made so far.
async fn polls(base: &str) -> f64 {
    metric_sum(base, "livescore_feed_polls_total").await
}

#[tokio::test]
async fn when_the_node_holding_the_feed_lease_dies_another_polls_within_seconds() {
    let stream = NatsStream::new("lease");
    let feed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ss-2015-w1-pregame.xml"
    );
    let flags = ["--feed", feed, "--poll-interval", "300ms"];
    let a = node(SHARED_NATS, &stream, &flags);
    let b = node(SHARED_NATS, &stream, &flags);
    // One of them takes the lease and polls; the other waits.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (holder, other) = loop {
        assert!(tokio::time::Instant::now() < deadline, "nobody polls");
        let (pa, pb) = (polls(&a.url).await, polls(&b.url).await);
        if pa >= 3.0 || pb >= 3.0 {
            break if pa > pb { (a, b) } else { (b, a) };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(polls(&other.url).await, 0.0, "only the lease holder polls");
    // The first poll published the week; the follower has it too.
    let mut scores = SseStream::connect(&stream_url(&other.url, "scores"), None).await;
    let week = scores.next_event(WAIT).await.expect("current week");
    assert_eq!(week.event, "update");
    let events_before = metric_sum(&other.url, "livescore_events_total").await;

    drop(holder); // SIGKILL: no lease hand-back, it has to expire
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while polls(&other.url).await < 2.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the surviving node did not take over the feed within 10 s:\n{}",
            other.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(other.logs().contains("took the feed lease"));
    // It carried on from the current state: the unchanged feed published
    // nothing again.
    assert_eq!(
        metric_sum(&other.url, "livescore_events_total").await,
        events_before
    );
}

#[tokio::test]
async fn an_ingester_on_the_shared_bus_reaches_every_node() {
    let stream = NatsStream::new("ingest");
    let a = node(SHARED_NATS, &stream, &[]);
    let mut scores = SseStream::connect(&stream_url(&a.url, "scores"), None).await;
    let feed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ss-2015-w1-pregame.xml"
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args(["ingest", "--once", "--feed", feed, "--bus", SHARED_NATS])
        .args(["--nats-stream", &stream.name])
        .output()
        .await
        .expect("run ingest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = scores.next_event(WAIT).await.expect("the week");
    assert_eq!(ev.event, "update");
    let games: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
    assert_eq!(games.as_array().map(Vec::len), Some(16));
    // A node started now has the week at once (warm from the stream).
    let late = node(SHARED_NATS, &stream, &[]);
    let week: serde_json::Value = common::client()
        .get(format!("{}/api/", late.url))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert_eq!(week["games"].as_array().map(Vec::len), Some(16));
    // The update is the last event of a poll: the late node's last id.
    assert_eq!(week["last_event_id"].as_str(), ev.id.as_deref());
}

// Chat across nodes, as in tests/redis_chat.rs.

const GAME: &str = "2015091300";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(base: &str) -> Ws {
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket handshake")
        .0
}

/// The next JSON message, skipping pings.
async fn next_ws_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for a message")
            .expect("connection ended")
            .expect("websocket error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("server sends JSON");
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// Subscribes to the game and its chat, and waits until this node knows
/// the game (its state came over NATS from the node polling the feed).
async fn join(base: &str) -> Ws {
    let mut ws = connect(base).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "topics": [format!("game/{GAME}"), format!("chat/{GAME}")]}),
    )
    .await;
    loop {
        let v = next_ws_json(&mut ws).await;
        if v["type"] == "event" && v["event"] == "game" {
            return ws;
        }
    }
}

/// The next `n` chat events, failing on an error frame.
async fn chats(ws: &mut Ws, n: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let v = next_ws_json(ws).await;
        assert_ne!(v["type"], "error", "{v}");
        if v["event"] == "chat" {
            out.push((
                v["id"].as_str().expect("id").to_owned(),
                v["data"]["name"].as_str().expect("name").to_owned(),
                v["data"]["text"].as_str().expect("text").to_owned(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn chat_crosses_nodes_in_one_order() {
    let stream = NatsStream::new("chat");
    let feed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ss-2015-w1-final.xml"
    );
    let extra = ["--feed", feed, "--poll-interval", "1s"];
    let a = node(SHARED_NATS, &stream, &extra);
    let b = node(SHARED_NATS, &stream, &extra);
    let mut on_a = join(&a.url).await;
    let mut on_b = join(&b.url).await;

    for i in 0..3 {
        send(
            &mut on_a,
            json!({"type": "chat", "eid": GAME, "name": "alice", "text": format!("from a {i}")}),
        )
        .await;
        send(&mut on_b, json!({"type": "chat", "eid": GAME, "name": "bob", "text": format!("from b {i} <script>x</script>")})).await;
    }
    let seen_a = chats(&mut on_a, 6).await;
    let seen_b = chats(&mut on_b, 6).await;
    assert_eq!(
        seen_a, seen_b,
        "both nodes deliver the same messages, ids and order"
    );
    let by = |name: &str| seen_a.iter().filter(|(_, n, _)| n == name).count();
    assert_eq!(
        (by("alice"), by("bob")),
        (3, 3),
        "each side's messages reach the other node"
    );
    assert!(
        seen_a.iter().any(|(_, _, t)| t.contains("<script>")),
        "text arrives verbatim"
    );

    // A newcomer on node B gets the conversation so far, in the same order.
    let mut late = join(&b.url).await;
    assert_eq!(chats(&mut late, 6).await, seen_a);
}

#[tokio::test]
async fn a_resume_from_before_what_the_stream_keeps_gets_a_reset() {
    let stream = NatsStream::new("retention");
    let a = node(SHARED_NATS, &stream, &["--nats-max-events", "3"]);
    let first = publish(&a.url, "news", serde_json::json!({ "n": 1 })).await;
    for n in 2..=6 {
        publish(&a.url, "news", serde_json::json!({ "n": n })).await;
    }
    // A node that starts now only finds the last three in the stream.
    let b = node(SHARED_NATS, &stream, &["--nats-max-events", "3"]);
    let mut resumed = SseStream::connect(&stream_url(&b.url, "news"), Some(&first)).await;
    let ev = resumed.next_event(WAIT).await.expect("reset");
    assert_eq!(ev.event, "reset", "{}", ev.data);
}
