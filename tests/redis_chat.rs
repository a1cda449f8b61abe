//! Chat across nodes (issue 7): two WebSocket clients on two nodes joined
//! by Redis see each other's messages, in one order, with one id each.

mod common;
#[path = "common/redis.rs"]
mod redis_support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use redis_support::{node, RedisPrefix, SHARED_REDIS};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(30);
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
async fn next_json(ws: &mut Ws) -> Value {
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
/// the game (its state came over Redis from the node polling the feed).
async fn join(base: &str) -> Ws {
    let mut ws = connect(base).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "topics": [format!("game/{GAME}"), format!("chat/{GAME}")]}),
    )
    .await;
    loop {
        let v = next_json(&mut ws).await;
        if v["type"] == "event" && v["event"] == "game" {
            return ws;
        }
    }
}

/// The next `n` chat events, failing on an error frame.
async fn chats(ws: &mut Ws, n: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let v = next_json(ws).await;
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
    let prefix = RedisPrefix::new("chat");
    let feed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ss-2015-w1-final.xml"
    );
    let extra = ["--feed", feed, "--poll-interval", "1s"];
    let a = node(SHARED_REDIS, &prefix, &extra);
    let b = node(SHARED_REDIS, &prefix, &extra);
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
