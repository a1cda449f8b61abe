//! One integration suite, three buses (issue 12): every scenario below is
//! written once against a `Backend` and run on the in-process memory bus,
//! on Redis (a key prefix of its own on the shared 6379) and on NATS
//! JetStream (a stream of its own on the shared 4222), each deleted when
//! the test ends. The memory bus has a single node, so its clients share
//! it; the shared buses also run the scenarios only they can have (a late
//! node starting warm, an ingester, the feed lease).
//! Backend-specific faults stay in `tests/redis.rs` and `tests/nats.rs`.

mod common;
#[path = "common/nats.rs"]
mod nats_support;
#[path = "common/redis.rs"]
mod redis_support;

use std::cell::Cell;
use std::time::Duration;

use common::{client, Server, SseStream};
use futures::{SinkExt, StreamExt};
use nats_support::{NatsStream, SHARED_NATS};
use redis_support::{
    metric_sum, next_flash, publish, serve, stream_url, RedisPrefix, SHARED_REDIS, WAIT,
};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The bus a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `--bus memory`: in-process, one node.
    Memory,
    /// The shared Redis on 6379, under a key prefix of the test's own.
    Redis,
    /// The shared NATS on 4222, with a JetStream stream of the test's own.
    Nats,
}

impl Backend {
    /// `bus.kind` in `/healthz`.
    fn kind(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Redis => "redis",
            Backend::Nats => "nats",
        }
    }
}

/// What a test's nodes share, cleaned up when the deployment is dropped
/// (after its nodes, which are declared later).
enum Guard {
    Memory,
    Redis(RedisPrefix),
    Nats(NatsStream),
}

/// The nodes of one test on one bus: a Redis prefix or NATS stream of its
/// own, or, for the memory bus, a single node.
pub struct Deployment {
    backend: Backend,
    guard: Guard,
    started: Cell<usize>,
}

impl Deployment {
    /// A deployment on `backend` named after `tag` (and unique).
    pub fn new(backend: Backend, tag: &str) -> Deployment {
        let guard = match backend {
            Backend::Memory => Guard::Memory,
            Backend::Redis => Guard::Redis(RedisPrefix::new(tag)),
            Backend::Nats => Guard::Nats(NatsStream::new(tag)),
        };
        Deployment {
            backend,
            guard,
            started: Cell::new(0),
        }
    }

    /// Whether several nodes can share this bus.
    pub fn shared(&self) -> bool {
        self.backend != Backend::Memory
    }

    /// `--bus …` and the flags naming this deployment's prefix or stream
    /// (for `serve` and `ingest`).
    pub fn bus_args(&self) -> Vec<&str> {
        match &self.guard {
            Guard::Memory => vec!["--bus", "memory"],
            Guard::Redis(p) => vec!["--bus", SHARED_REDIS, "--redis-prefix", &p.name],
            Guard::Nats(s) => vec!["--bus", SHARED_NATS, "--nats-stream", &s.name],
        }
    }

    /// One more node (`serve` with the publish API on, its own in-memory
    /// database, and `extra` flags).
    pub fn node(&self, extra: &[&str]) -> Server {
        assert!(
            self.shared() || self.started.get() == 0,
            "the memory bus has only one node"
        );
        self.started.set(self.started.get() + 1);
        let args = self.bus_args();
        serve(args[1], &args[2..], extra)
    }

    /// `n` nodes on a shared bus; the one node on the memory bus.
    pub fn nodes(&self, n: usize, extra: &[&str]) -> Vec<Server> {
        let n = if self.shared() { n } else { 1 };
        (0..n).map(|_| self.node(extra)).collect()
    }
}

const FINAL_FEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-final.xml"
);
const PREGAME_FEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-pregame.xml"
);

// ---------------------------------------------------------------------
// Every bus.

/// (a) Events published (on every node in turn) reach every client (on
/// every node) with one id, in order.
async fn events_reach_every_client_with_one_id(backend: Backend) {
    let d = Deployment::new(backend, "fanout");
    let nodes = d.nodes(3, &[]);
    let mut clients = Vec::new();
    for i in 0..3 {
        let base = &nodes[i % nodes.len()].url;
        clients.push(SseStream::connect(&stream_url(base, "news"), None).await);
    }
    for n in 1..=5u64 {
        let via = &nodes[n as usize % nodes.len()];
        let id = publish(&via.url, "news", json!({ "n": n })).await;
        for sse in &mut clients {
            assert_eq!(next_flash(sse).await, (id.clone(), n));
        }
    }
    // Every bus stamps when it took an event, so each node times every
    // live delivery (publish→deliver latency), wherever it was published.
    let per_node = clients.len() / nodes.len();
    // A delivery is timed once its write returned, which can be just after
    // the client read it: wait for the count, then it must be exact.
    for node in &nodes {
        let want = (5 * per_node) as f64;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = client()
                .get(format!("{}/metrics", node.url))
                .send()
                .await
                .expect("/metrics")
                .text()
                .await
                .expect("text");
            let timed = common::metric_in(
                &text,
                "livescore_delivery_latency_seconds_count{transport=\"sse\"}",
            );
            if timed >= want || std::time::Instant::now() > deadline {
                assert_eq!(timed, want, "{}", node.url);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let bus = common::health(&nodes[0].url).await.1["bus"].clone();
    assert_eq!(bus["kind"], backend.kind());
    if d.shared() {
        assert_eq!(bus["connected"], true);
    }
}

/// (b) A client that goes away resumes (on another node when there is
/// one) with Last-Event-ID: every missed event once, in order, then live
/// with no repeat at the seam.
async fn a_client_resumes_with_every_missed_event_once_in_order(backend: Backend) {
    let d = Deployment::new(backend, "resume");
    let nodes = d.nodes(2, &[]);
    let (a, b) = (&nodes[0], nodes.last().expect("a node"));
    let mut sse = SseStream::connect(&stream_url(&a.url, "news"), None).await;
    let mut last = String::new();
    for n in 1..=3 {
        let id = publish(&a.url, "news", json!({ "n": n })).await;
        assert_eq!(next_flash(&mut sse).await, (id.clone(), n));
        last = id;
    }
    drop(sse); // the client goes away
    let mut missed = Vec::new();
    for n in 4..=8 {
        missed.push(publish(&a.url, "news", json!({ "n": n })).await);
        // Noise on another topic must not show up.
        publish(&a.url, "other", json!({ "n": 0 })).await;
    }
    let mut resumed = SseStream::connect(&stream_url(&b.url, "news"), Some(&last)).await;
    for (i, id) in missed.iter().enumerate() {
        assert_eq!(next_flash(&mut resumed).await, (id.clone(), i as u64 + 4));
    }
    let live = publish(&b.url, "news", json!({ "n": 9 })).await;
    assert_eq!(next_flash(&mut resumed).await, (live, 9));
}

const GAME: &str = "2015091300";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

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

/// A WebSocket on `base`, subscribed to the game and its chat, once the
/// node knows the game (from its own poll or over the bus).
async fn join(base: &str) -> Ws {
    join_with(base, None).await
}

/// [`join`], carrying `token` (as `?access_token=`) when there is one.
async fn join_with(base: &str, token: Option<&str>) -> Ws {
    let mut url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    if let Some(token) = token {
        url.push_str(&format!("?access_token={token}"));
    }
    let mut ws = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket handshake")
        .0;
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

/// The next `n` chat events as (id, name, text), failing on an error.
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

/// (c) Chat from two WebSocket clients (on two nodes when there are two)
/// is seen by both in one order with one id each; a newcomer gets the
/// conversation so far.
async fn chat_is_seen_by_everyone_in_one_order(backend: Backend) {
    let d = Deployment::new(backend, "chat");
    // Both clients come from 127.0.0.1, one chat bucket on a single node:
    // room for their six messages.
    let nodes = d.nodes(
        2,
        &[
            "--feed",
            FINAL_FEED,
            "--poll-interval",
            "1s",
            "--chat-burst",
            "6",
        ],
    );
    let (a, b) = (&nodes[0], nodes.last().expect("a node"));
    let mut on_a = join(&a.url).await;
    let mut on_b = join(&b.url).await;
    for i in 0..3 {
        send(
            &mut on_a,
            json!({"type": "chat", "eid": GAME, "name": "alice", "text": format!("from a {i}")}),
        )
        .await;
        send(
            &mut on_b,
            json!({"type": "chat", "eid": GAME, "name": "bob", "text": format!("from b {i} <script>x</script>")}),
        )
        .await;
    }
    let seen_a = chats(&mut on_a, 6).await;
    let seen_b = chats(&mut on_b, 6).await;
    assert_eq!(seen_a, seen_b, "the same messages, ids and order for both");
    let by = |name: &str| seen_a.iter().filter(|(_, n, _)| n == name).count();
    assert_eq!(
        (by("alice"), by("bob")),
        (3, 3),
        "each side reaches the other"
    );
    assert!(
        seen_a.iter().any(|(_, _, t)| t.contains("<script>")),
        "text arrives verbatim"
    );
    let mut late = join(&b.url).await;
    assert_eq!(chats(&mut late, 6).await, seen_a);
}

const CHAT_SECRET: &str = "a-chat-secret-that-is-long-enough-0123456789";

/// An HS256 token for `sub` (named `name`), valid for an hour.
fn chat_token(sub: &str, name: &str) -> String {
    common::hs256_for_an_hour(CHAT_SECRET, json!({"sub": sub, "name": name}))
}

/// The server's answer to one chat: `Ok((name, user))` as the message came
/// back, or `Err` with the error frame's message.
async fn chat_once(ws: &mut Ws, text: &str) -> Result<(String, String), String> {
    send(
        ws,
        json!({"type": "chat", "eid": GAME, "name": "Mallory", "text": text}),
    )
    .await;
    loop {
        let v = next_ws_json(ws).await;
        if v["type"] == "error" {
            return Err(v["message"].as_str().expect("message").to_owned());
        }
        if v["event"] == "chat" && v["data"]["text"] == text {
            let field = |k: &str| v["data"][k].as_str().unwrap_or_default().to_owned();
            return Ok((field("name"), field("user")));
        }
    }
}

/// (f) `--chat-auth required`: chat names come from the token (not what
/// the client typed), each message carries the user, anonymous chat is
/// refused with the connection kept, and one user's rate limit holds over
/// all their connections on every node: messages sent through node A use
/// up the burst node B grants.
async fn a_users_chat_identity_and_limit_hold_across_nodes(backend: Backend) {
    let d = Deployment::new(backend, "chat-user");
    let nodes = d.nodes(
        2,
        &[
            "--feed",
            FINAL_FEED,
            "--poll-interval",
            "1s",
            "--jwt-secret",
            CHAT_SECRET,
            "--chat-auth",
            "required",
            "--chat-burst",
            "3",
            "--chat-rate",
            "0.001",
        ],
    );
    let (a, b) = (&nodes[0], &nodes[1]);
    let token = chat_token("42", "Ada");
    let mut on_a = join_with(&a.url, Some(&token)).await;
    let mut on_b = join_with(&b.url, Some(&token)).await;
    let mut anon = join(&b.url).await;

    // Anonymous: refused by name of the rule, and the socket stays usable.
    let err = chat_once(&mut anon, "anonymous")
        .await
        .expect_err("refused");
    assert!(err.contains("token"), "{err}");
    send(
        &mut anon,
        json!({"type": "unsubscribe", "topics": [format!("game/{GAME}")]}),
    )
    .await;
    loop {
        let v = next_ws_json(&mut anon).await;
        if v["type"] == "subscribed" {
            assert_eq!(v["topics"], json!([format!("chat/{GAME}")]));
            break;
        }
    }

    // The burst of three, through node A, under the token's name.
    for i in 0..3 {
        let (name, user) = chat_once(&mut on_a, &format!("a{i}"))
            .await
            .expect("within the burst");
        assert_eq!((name.as_str(), user.as_str()), ("Ada", "42"));
    }
    // Node B has seen all three (so counted them) ...
    let seen = chats(&mut on_b, 3).await;
    assert_eq!(
        seen.iter()
            .map(|(_, n, t)| format!("{n}:{t}"))
            .collect::<Vec<_>>(),
        ["Ada:a0", "Ada:a1", "Ada:a2"]
    );
    // ... and refuses the same user's fourth.
    let err = chat_once(&mut on_b, "b0")
        .await
        .expect_err("over the limit");
    assert!(
        err.contains("rate limit") && err.contains("your user"),
        "{err}"
    );
    // Another user on node B has a burst of their own.
    let mut other = join_with(&b.url, Some(&chat_token("7", ""))).await;
    let (name, user) = chat_once(&mut other, "seven").await.expect("own burst");
    assert_eq!(
        (name.as_str(), user.as_str()),
        ("7", "7"),
        "no name: the sub"
    );
}

// ---------------------------------------------------------------------
// Shared buses only.

/// The current week as `/api/` serves it on `base`.
async fn week(base: &str) -> Value {
    common::get_json(format!("{base}/api/")).await
}

/// The next `update` on a `scores` stream, with its 16 games.
async fn next_week_update(sse: &mut SseStream) -> common::SseEvent {
    let ev = sse.next_event(WAIT).await.expect("the week");
    assert_eq!(ev.event, "update");
    let games: Value = serde_json::from_str(&ev.data).expect("json");
    assert_eq!(games.as_array().map(Vec::len), Some(16));
    ev
}

/// (d) A node started after the fact is warm: it serves the week and
/// resumes a client at once, from the shared history.
async fn a_late_node_starts_warm(backend: Backend) {
    let d = Deployment::new(backend, "warm");
    let a = d.node(&["--feed", PREGAME_FEED, "--poll-interval", "1s"]);
    let mut scores = SseStream::connect(&stream_url(&a.url, "scores"), None).await;
    next_week_update(&mut scores).await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(publish(&a.url, "news", json!({ "n": n })).await);
    }
    let late = d.node(&[]);
    let w = week(&late.url).await;
    assert_eq!(w["games"].as_array().map(Vec::len), Some(16));
    assert_eq!(w["last_event_id"].as_str(), ids.last().map(String::as_str));
    let mut again = SseStream::connect(&stream_url(&late.url, "news"), Some(&ids[1])).await;
    for (i, id) in ids[2..].iter().enumerate() {
        assert_eq!(next_flash(&mut again).await, (id.clone(), i as u64 + 3));
    }
}

/// (e) `ingest --once` on the bus reaches every node with one id.
async fn an_ingester_reaches_every_node(backend: Backend) {
    let d = Deployment::new(backend, "ingest");
    let nodes = d.nodes(2, &[]);
    let mut streams = Vec::new();
    for n in &nodes {
        streams.push(SseStream::connect(&stream_url(&n.url, "scores"), None).await);
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args(["ingest", "--once", "--feed", PREGAME_FEED])
        .args(d.bus_args())
        .output()
        .await
        .expect("run ingest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ids = Vec::new();
    for sse in &mut streams {
        ids.push(next_week_update(sse).await.id.expect("id"));
    }
    assert_eq!(ids[0], ids[1], "one id on every node");
    // The update is the last event of a poll: every node's last id.
    for n in &nodes {
        assert_eq!(week(&n.url).await["last_event_id"].as_str(), Some(&*ids[0]));
    }
}

/// Feed polls `base` has made so far.
async fn polls(base: &str) -> f64 {
    metric_sum(base, "livescore_feed_polls_total").await
}

/// (f) When the node holding the feed lease dies, another takes over the
/// feed within seconds, carrying on from the current state.
async fn the_feed_lease_fails_over(backend: Backend) {
    let d = Deployment::new(backend, "lease");
    let flags = ["--feed", PREGAME_FEED, "--poll-interval", "300ms"];
    let mut nodes = d.nodes(2, &flags);
    // One of them takes the lease and polls; the other waits.
    let deadline = tokio::time::Instant::now() + WAIT;
    let holder = loop {
        assert!(tokio::time::Instant::now() < deadline, "nobody polls");
        let (pa, pb) = (polls(&nodes[0].url).await, polls(&nodes[1].url).await);
        if pa >= 3.0 || pb >= 3.0 {
            break if pa > pb { 0 } else { 1 };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let holder = nodes.remove(holder);
    let other = nodes.pop().expect("the other node");
    assert_eq!(polls(&other.url).await, 0.0, "only the lease holder polls");
    // The first poll published the week; the follower has it too.
    let mut scores = SseStream::connect(&stream_url(&other.url, "scores"), None).await;
    next_week_update(&mut scores).await;
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
    // The unchanged feed published nothing again.
    assert_eq!(
        metric_sum(&other.url, "livescore_events_total").await,
        events_before
    );
}

/// `base`'s feed polls of `league` so far.
async fn polls_of(base: &str, league: &str) -> f64 {
    let text = common::get_text(format!("{base}/metrics")).await;
    text.lines()
        .filter(|l| {
            l.starts_with("livescore_feed_polls_total{")
                && l.contains(&format!("league=\"{league}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The leagues of the games `base` serves.
async fn leagues_on(base: &str) -> std::collections::BTreeSet<String> {
    week(base).await["games"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|g| g["league"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// (g) Each feed has a lease of its own: nodes running different lists
/// poll each feed once between them, every node serves every league, and
/// when a node dies each of its feeds goes to a node that runs it while
/// that node's other feeds carry on untouched.
async fn each_feed_is_led_on_its_own(backend: Backend) {
    let d = Deployment::new(backend, "leases");
    let dir = common::TempDir::new("bus-leases");
    let sports = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/espn-sports");
    let copy = |name: &str, fixture: &str| {
        let path = dir.path().join(name);
        std::fs::copy(format!("{sports}/{fixture}"), &path).expect("copy");
        path.to_str().expect("utf8").to_owned()
    };
    let nba = copy("nba.json", "nba-2024-12-15-final.json");
    let nhl = copy("nhl.json", "nhl-2025-06-04-live-overtime.json");
    let mlb = copy("mlb.json", "mlb-2025-06-04-live.json");
    let a = d.node(&[
        "--feed",
        &format!("{nba},{nhl}"),
        "--poll-interval",
        "300ms",
    ]);
    common::wait_until("node a's leagues", WAIT, || async {
        leagues_on(&a.url).await.len() == 2
    })
    .await;
    let b = d.node(&[
        "--feed",
        &format!("{nhl},{mlb}"),
        "--poll-interval",
        "300ms",
    ]);
    common::wait_until("every league on node b", WAIT, || async {
        leagues_on(&b.url).await.len() == 3
    })
    .await;
    common::wait_until("node b polls the MLB", WAIT, || async {
        polls_of(&b.url, "mlb").await >= 2.0
    })
    .await;
    assert_eq!(
        polls_of(&b.url, "nhl").await,
        0.0,
        "node a leads the NHL feed"
    );
    assert_eq!(
        polls_of(&a.url, "mlb").await,
        0.0,
        "node a runs no MLB feed"
    );

    let mlb_before = polls_of(&b.url, "mlb").await;
    drop(a); // SIGKILL: its leases expire
    common::wait_until(
        "node b took the NHL feed over",
        Duration::from_secs(15),
        || async { polls_of(&b.url, "nhl").await >= 1.0 },
    )
    .await;
    assert!(
        polls_of(&b.url, "mlb").await > mlb_before,
        "the MLB feed went on"
    );
    // The NHL feed is b's now: a change reaches its board.
    let moved = std::fs::read_to_string(&nhl)
        .expect("read")
        .replace("\"displayClock\":\"17:09\"", "\"displayClock\":\"16:00\"");
    std::fs::write(&nhl, moved).expect("write");
    common::wait_until("the NHL change on node b", WAIT, || async {
        week(&b.url).await["games"].as_array().is_some_and(|g| {
            g.iter()
                .any(|g| g["league"] == "nhl" && g["clock"] == "16:00")
        })
    })
    .await;
    // The NBA's board, whose feed no live node runs, stays served.
    assert!(leagues_on(&b.url).await.contains("nba"));
}

// ---------------------------------------------------------------------
// The tests: one module per bus.

/// The scenarios every bus runs.
macro_rules! every_bus {
    ($backend:expr) => {
        #[tokio::test]
        async fn events_reach_every_client_with_one_id_in_order() {
            super::events_reach_every_client_with_one_id($backend).await;
        }

        #[tokio::test]
        async fn a_client_resumes_with_every_missed_event_once_in_order() {
            super::a_client_resumes_with_every_missed_event_once_in_order($backend).await;
        }

        #[tokio::test]
        async fn chat_is_seen_by_everyone_in_one_order() {
            super::chat_is_seen_by_everyone_in_one_order($backend).await;
        }
    };
}

/// The scenarios only a bus shared by several nodes can run.
macro_rules! shared_bus {
    ($backend:expr) => {
        #[tokio::test]
        async fn a_users_chat_identity_and_limit_hold_across_nodes() {
            super::a_users_chat_identity_and_limit_hold_across_nodes($backend).await;
        }

        #[tokio::test]
        async fn a_late_node_starts_warm() {
            super::a_late_node_starts_warm($backend).await;
        }

        #[tokio::test]
        async fn an_ingester_reaches_every_node() {
            super::an_ingester_reaches_every_node($backend).await;
        }

        #[tokio::test]
        async fn the_feed_lease_fails_over() {
            super::the_feed_lease_fails_over($backend).await;
        }

        #[tokio::test]
        async fn each_feed_is_led_on_its_own() {
            super::each_feed_is_led_on_its_own($backend).await;
        }
    };
}

mod memory {
    every_bus!(super::Backend::Memory);
}

mod redis {
    every_bus!(super::Backend::Redis);
    shared_bus!(super::Backend::Redis);
}

mod nats {
    every_bus!(super::Backend::Nats);
    shared_bus!(super::Backend::Nats);
}
