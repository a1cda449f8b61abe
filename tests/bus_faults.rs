//! What a shared bus's restarts and outages do to clients and publishers
//! (issue 16), written once and run on Redis and on NATS JetStream, each
//! on a throwaway server of the test's own (never the machine's shared
//! ones): the bus restarted empty with clients connected on two nodes far
//! past the new history, the bus restarted with its data, a publish during
//! an outage, a publisher whose request times out and retries with its
//! `Idempotency-Key`, and the feed publishing through an outage.

mod common;
#[path = "common/nats.rs"]
mod nats_support;
#[path = "common/redis.rs"]
mod redis_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{client, Server, SseEvent, SseStream, TempDir};
use nats_support::{NatsServer, NatsStream};
use redis_support::{
    metric_sum, next_flash, publish, serve, stream_url, RedisPrefix, RedisServer, TOKEN, WAIT,
};
use serde_json::{json, Value};

/// Which bus a scenario runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Redis,
    Nats,
}

/// A bus server of the test's own and the deployment's name on it.
enum FaultBus {
    Redis(RedisServer, RedisPrefix),
    Nats(NatsServer, NatsStream),
}

impl FaultBus {
    /// A server storing its data in `dir` (`persist`: a restart keeps it;
    /// otherwise Redis keeps nothing, as a cache does).
    fn start(backend: Backend, dir: &TempDir, persist: bool) -> FaultBus {
        match backend {
            Backend::Redis => {
                let server = if persist {
                    RedisServer::start(dir.path())
                } else {
                    RedisServer::start_volatile(dir.path())
                };
                let prefix = RedisPrefix::on_port("faults", server.port);
                FaultBus::Redis(server, prefix)
            }
            Backend::Nats => {
                let server = NatsServer::start(dir.path());
                let stream = NatsStream::on("faults", &server.url());
                FaultBus::Nats(server, stream)
            }
        }
    }

    /// A `serve` node on this bus with the publish API on and `extra` flags.
    fn node(&self, extra: &[&str]) -> Server {
        match self {
            FaultBus::Redis(s, p) => serve(&s.url(), &["--redis-prefix", &p.name], extra),
            FaultBus::Nats(s, n) => serve(&s.url(), &["--nats-stream", &n.name], extra),
        }
    }

    fn kill(&mut self) {
        match self {
            FaultBus::Redis(s, _) => s.kill(),
            FaultBus::Nats(s, _) => s.kill(),
        }
    }

    /// Starts it again with whatever it kept.
    fn restart(&mut self) {
        match self {
            FaultBus::Redis(s, _) => s.restart(),
            FaultBus::Nats(s, _) => s.restart(),
        }
    }

    /// Kills it and starts it again with nothing.
    fn restart_empty(&mut self) {
        match self {
            FaultBus::Redis(s, _) => s.restart_empty(),
            FaultBus::Nats(s, _) => s.restart_empty(),
        }
    }
}

/// The next event of any name (keep-alive comments skipped).
async fn next_any(sse: &mut SseStream) -> SseEvent {
    sse.next_event(WAIT).await.expect("stream open")
}

/// Asserts the next event is a `reset` with `reason`.
async fn expect_reset(sse: &mut SseStream, reason: &str) {
    let ev = next_any(sse).await;
    assert_eq!(ev.event, "reset", "expected a reset, got {ev:?}");
    let v: Value = serde_json::from_str(&ev.data).expect("json");
    assert_eq!(v["reason"], reason, "{}", ev.data);
}

/// What one `POST /api/publish` answered.
struct Answer {
    status: u16,
    id: Option<String>,
    retry_after: Option<String>,
    took: Duration,
}

/// Publishes `flash {"n": n}` on `news` through `base`, with an
/// idempotency key if given, giving up after `wait` (the client's own
/// timeout); `None` when the client gave up.
async fn try_publish(base: &str, n: u64, key: Option<&str>, wait: Duration) -> Option<Answer> {
    let body = json!({"topic": "news", "event": "flash", "data": {"n": n}});
    let mut req = client()
        .post(format!("{base}/api/publish"))
        .bearer_auth(TOKEN)
        .timeout(wait)
        .json(&body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let started = Instant::now();
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = resp.json().await.ok()?;
    Some(Answer {
        status,
        id: body["id"].as_str().map(str::to_owned),
        retry_after,
        took: started.elapsed(),
    })
}

/// Publishes as a careful client does: retries a 503 or a timeout with the
/// same key until it gets a 202; the event id.
async fn publish_until_accepted(base: &str, n: u64, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(a) = try_publish(base, n, Some(key), Duration::from_secs(10)).await {
            if a.status == 202 {
                return a.id.expect("a 202 has an id");
            }
            assert_eq!(a.status, 503, "only 202 or 503 are expected");
        }
        assert!(Instant::now() < deadline, "publish {n} never accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------
// The scenarios.

/// The bus restarted empty (Redis without persistence, NATS on a new
/// store) while clients on two nodes stood at event 500: each gets a
/// `reset` (epoch), then every one of the 5 events published after the
/// restart, in order, and nothing else; a client that was away across the
/// restart and resumes with its old id gets the same.
async fn a_bus_restarted_empty_resets_clients_and_loses_nothing_after(backend: Backend) {
    let dir = TempDir::new("bus-empty");
    let mut bus = FaultBus::start(backend, &dir, false);
    let (a, b) = (bus.node(&[]), bus.node(&[]));
    let mut on_a = SseStream::connect(&stream_url(&a.url, "news"), None).await;
    let mut on_b = SseStream::connect(&stream_url(&b.url, "news"), None).await;
    let mut away = SseStream::connect(&stream_url(&b.url, "news"), None).await;
    const BEFORE: u64 = 500;
    for n in 1..=BEFORE {
        publish(&a.url, "news", json!({ "n": n })).await;
    }
    let mut away_last = String::new();
    for sse in [&mut on_a, &mut on_b, &mut away] {
        for n in 1..=BEFORE {
            let (id, got) = next_flash(sse).await;
            assert_eq!(got, n);
            away_last = id;
        }
    }
    drop(away);

    bus.restart_empty();
    let mut ids = Vec::new();
    for n in 1..=5 {
        // Each answered 202 (the nodes reconnect within the timeout).
        ids.push(publish(&a.url, "news", json!({ "n": n })).await);
    }
    assert_ne!(
        common::id_parts(&ids[0]).0,
        common::id_parts(&away_last).0,
        "a new epoch"
    );
    for sse in [&mut on_a, &mut on_b] {
        expect_reset(sse, "epoch").await;
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(next_flash(sse).await, (id.clone(), i as u64 + 1));
        }
    }
    let mut back = SseStream::connect(&stream_url(&b.url, "news"), Some(&away_last)).await;
    expect_reset(&mut back, "epoch").await;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(next_flash(&mut back).await, (id.clone(), i as u64 + 1));
    }
    // Nothing more came in between: the next event anyone gets is the next
    // one published.
    let next = publish(&b.url, "news", json!({ "n": 6 })).await;
    for sse in [&mut on_a, &mut on_b, &mut back] {
        assert_eq!(next_flash(sse).await, (next.clone(), 6));
    }
    for node in [&a, &b] {
        let seen = metric_sum(&node.url, "livescore_bus_epoch_resets_total").await;
        assert!(seen >= 1.0, "{} counted no epoch reset", node.url);
    }
}

/// The bus restarted with its data: no reset, nothing lost, nothing
/// doubled, for a client connected through it and one that resumes.
async fn a_bus_restarted_with_its_data_loses_and_doubles_nothing(backend: Backend) {
    let dir = TempDir::new("bus-kept");
    let mut bus = FaultBus::start(backend, &dir, true);
    let (a, b) = (bus.node(&[]), bus.node(&[]));
    let mut through = SseStream::connect(&stream_url(&b.url, "news"), None).await;
    let mut away = SseStream::connect(&stream_url(&a.url, "news"), None).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(publish(&a.url, "news", json!({ "n": n })).await);
    }
    for sse in [&mut through, &mut away] {
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(next_flash(sse).await, (id.clone(), i as u64 + 1));
        }
    }
    drop(away);
    bus.kill();
    bus.restart();
    for n in 4..=6 {
        ids.push(publish_until_accepted(&a.url, n, &format!("kept-{n}")).await);
    }
    let epochs: std::collections::BTreeSet<_> = ids.iter().map(|i| common::id_parts(i).0).collect();
    assert_eq!(epochs.len(), 1, "the restarted bus kept its epoch");
    for (i, id) in ids[3..].iter().enumerate() {
        assert_eq!(next_flash(&mut through).await, (id.clone(), i as u64 + 4));
    }
    let mut back = SseStream::connect(&stream_url(&b.url, "news"), Some(&ids[2])).await;
    for (i, id) in ids[3..].iter().enumerate() {
        assert_eq!(next_flash(&mut back).await, (id.clone(), i as u64 + 4));
    }
    let next = publish(&a.url, "news", json!({ "n": 7 })).await;
    for sse in [&mut through, &mut back] {
        assert_eq!(next_flash(sse).await, (next.clone(), 7));
    }
}

/// A publish while the bus is down is answered 503 (with `Retry-After`)
/// within the publish timeout, and is never delivered, not even when the
/// bus comes back.
async fn a_publish_during_an_outage_is_refused_in_time_and_never_delivered(backend: Backend) {
    let dir = TempDir::new("bus-outage");
    let mut bus = FaultBus::start(backend, &dir, true);
    let flags = ["--publish-timeout", "2s"];
    let publish_timeout = Duration::from_secs(2);
    let (a, b) = (bus.node(&flags), bus.node(&flags));
    let mut sse = SseStream::connect(&stream_url(&b.url, "news"), None).await;
    let first = publish(&a.url, "news", json!({ "n": 1 })).await;
    assert_eq!(next_flash(&mut sse).await, (first, 1));
    bus.kill();
    let refused = try_publish(&a.url, 2, None, Duration::from_secs(30))
        .await
        .expect("an answer");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    // Answered by the timeout (generous slack for a loaded machine; a
    // hang would be 60 s).
    assert!(
        refused.took < Duration::from_secs(8),
        "took {:?}",
        refused.took
    );
    assert!(metric_sum(&a.url, "livescore_bus_publish_timeouts_total").await >= 1.0);
    bus.restart();
    let third = publish_until_accepted(&a.url, 3, "outage-3").await;
    assert_eq!(next_flash(&mut sse).await, (third, 3), "2 was refused");
    // Later still, nothing: the next event is the next one published. That
    // something does not happen can only be shown by giving it the time it
    // had: the refused publish's deadline, once more.
    tokio::time::sleep(publish_timeout).await;
    let fourth = publish(&a.url, "news", json!({ "n": 4 })).await;
    assert_eq!(next_flash(&mut sse).await, (fourth, 4));
}

/// A retry with the same `Idempotency-Key` is delivered once: through
/// another node, and after the first request timed out at the client
/// during an outage.
async fn a_publish_retried_with_its_key_is_delivered_once(backend: Backend) {
    let dir = TempDir::new("bus-idem");
    let mut bus = FaultBus::start(backend, &dir, true);
    let (a, b) = (bus.node(&[]), bus.node(&[]));
    let mut sse = SseStream::connect(&stream_url(&b.url, "news"), None).await;
    let wait = Duration::from_secs(10);
    let once = try_publish(&a.url, 1, Some("idem-1"), wait)
        .await
        .expect("answer");
    let again = try_publish(&b.url, 1, Some("idem-1"), wait)
        .await
        .expect("answer");
    assert_eq!((once.status, again.status), (202, 202));
    assert_eq!(once.id, again.id, "the retry got the first id");
    // A publisher whose request times out while the bus is away.
    bus.kill();
    let gave_up = try_publish(&a.url, 2, Some("idem-2"), Duration::from_millis(800)).await;
    assert!(gave_up.is_none(), "the client timed out");
    bus.restart();
    let second = publish_until_accepted(&b.url, 2, "idem-2").await;
    let third = publish(&a.url, "news", json!({ "n": 3 })).await;
    assert_eq!(next_flash(&mut sse).await, (once.id.expect("id"), 1));
    assert_eq!(next_flash(&mut sse).await, (second, 2));
    assert_eq!(next_flash(&mut sse).await, (third, 3), "2 came once");
}

const PREGAME_FEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-pregame.xml"
);
const FINAL_FEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-final.xml"
);

/// Score changes from the pregame to the final document: one per side
/// that scored (the tracker publishes home, then away).
fn expected_score_events() -> usize {
    let doc = std::fs::read_to_string(FINAL_FEED).expect("fixture");
    ["hs=\"", "vs=\""]
        .iter()
        .map(|attr| {
            doc.split(attr)
                .skip(1)
                .filter(|rest| !rest.starts_with("0\"") && !rest.starts_with('"'))
                .count()
        })
        .sum()
}

/// The feed's changes made while the bus is away are published once it
/// is back: every score change exactly once, and the board ends final.
async fn the_feed_publishes_through_an_outage_exactly_once(backend: Backend) {
    let dir = TempDir::new("bus-feed");
    let feed = dir.path().join("ss.xml");
    std::fs::copy(PREGAME_FEED, &feed).expect("copy the feed");
    let mut bus = FaultBus::start(backend, &dir, true);
    let feed_arg = feed.to_str().expect("utf-8 path");
    let node = bus.node(&[
        "--feed",
        feed_arg,
        "--poll-interval",
        "300ms",
        "--publish-timeout",
        "1s",
    ]);
    let eids = common::polled_eids(&node.url, WAIT).await;
    let url = common::scores_and_games_url(&node.url, &eids);
    let mut sse = SseStream::connect(&url, None).await;
    // The pregame board first (and its games' states).
    loop {
        if next_any(&mut sse).await.event == "update" {
            break;
        }
    }
    bus.kill();
    std::fs::copy(FINAL_FEED, &feed).expect("the games end");
    // Polls meanwhile find the bus away (the final document is not lost).
    common::wait_until("a poll found the bus away", WAIT, || async {
        let text = common::get_text(format!("{}/metrics", node.url)).await;
        text.lines()
            .filter(|l| {
                l.starts_with("livescore_feed_polls_total{") && l.contains("result=\"error\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
            > 0.0
    })
    .await;
    bus.restart();
    let mut scores: HashMap<String, usize> = HashMap::new();
    loop {
        let ev = next_any(&mut sse).await;
        assert_ne!(ev.event, "reset", "the bus kept its history");
        let data: Value = serde_json::from_str(&ev.data).expect("json");
        if ev.event == "score" {
            let id = data["id"].as_str().expect("score id").to_owned();
            *scores.entry(id).or_default() += 1;
        }
        let all_final = common::all_final(&data);
        if ev.event == "update" && all_final {
            break;
        }
    }
    let doubled: Vec<_> = scores.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "published twice: {doubled:?}");
    assert_eq!(scores.len(), expected_score_events(), "{scores:?}");
}

// ---------------------------------------------------------------------
// The tests: one module per bus.

macro_rules! every_fault {
    ($backend:expr) => {
        #[tokio::test]
        async fn restarted_empty() {
            super::a_bus_restarted_empty_resets_clients_and_loses_nothing_after($backend).await;
        }
        #[tokio::test]
        async fn restarted_with_data() {
            super::a_bus_restarted_with_its_data_loses_and_doubles_nothing($backend).await;
        }
        #[tokio::test]
        async fn publish_during_outage() {
            super::a_publish_during_an_outage_is_refused_in_time_and_never_delivered($backend)
                .await;
        }
        #[tokio::test]
        async fn idempotent_retry() {
            super::a_publish_retried_with_its_key_is_delivered_once($backend).await;
        }
        #[tokio::test]
        async fn feed_through_outage() {
            super::the_feed_publishes_through_an_outage_exactly_once($backend).await;
        }
    };
}

mod redis {
    every_fault!(super::Backend::Redis);
}

mod nats {
    every_fault!(super::Backend::Nats);
}
