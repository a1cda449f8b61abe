//! The hub's fast path (`hub::direct`) through the real binary, with SSE
//! subscribers that read at different speeds: eager ones, paced ones whose
//! small receive buffers fill so the hub hands their sockets back, and
//! ones that stall outright. Each must get every event once and in order
//! (or, past what history holds, be dropped and told so on resume; on a
//! state topic, skip to the latest state), and shutdown must end every
//! fast stream cleanly. Every test checks in `/metrics` that the hub wrote
//! sockets itself, so these exercise the fast path and not only the
//! subscriber tasks' own.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{client, metric_in, wait_until, Server};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

const TOKEN: &str = "fast-path-token";
const WAIT: Duration = Duration::from_secs(60);

fn start() -> Server {
    Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
    ])
}

/// Opens `/api/stream?topic=…` on a raw socket with a receive buffer of
/// `rcvbuf` bytes (0: the kernel's), resuming after `last_id` if given.
async fn open(server: &Server, topic: &str, last_id: Option<&str>, rcvbuf: u32) -> TcpStream {
    let addr: SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let socket = TcpSocket::new_v4().expect("socket");
    if rcvbuf > 0 {
        socket.set_recv_buffer_size(rcvbuf).expect("rcvbuf");
    }
    let mut s = socket.connect(addr).await.expect("connect");
    let mut req = format!(
        "GET /api/stream?topic={topic} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n"
    );
    if let Some(id) = last_id {
        req.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("request");
    // The head (with the stream's first chunk) has arrived: the stream owes
    // nothing more and its socket is the hub's, so what the test publishes
    // next starts on the fast path. Peeked, so the reader still sees it.
    tokio::time::timeout(WAIT, s.peek(&mut [0u8; 1]))
        .await
        .expect("the head arrives")
        .expect("peek");
    s
}

/// One SSE event as read off the wire.
#[derive(Debug, Clone)]
struct Event {
    id: String,
    event: String,
    data: String,
}

impl Event {
    fn seq(&self) -> u64 {
        self.id
            .rsplit('-')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("id ends in a seq")
    }
    /// A `tick`'s `n`, or a `game`'s home score (the conflation test counts
    /// with it).
    fn n(&self) -> u64 {
        let v: serde_json::Value = serde_json::from_str(&self.data).expect("json data");
        v["n"]
            .as_u64()
            .or_else(|| v["home"]["score"].as_u64())
            .expect("n or a home score")
    }
}

/// How a reader reads.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// As fast as it can.
    Eager,
    /// At most `bytes` per read, sleeping `pause` after each.
    Paced { bytes: usize, pause: Duration },
}

/// What a reader got: its events, and whether the server ended the stream.
struct Got {
    events: Vec<Event>,
    ended: bool,
}

/// Reads `s` until an event with `n == last` arrived, the server closed the
/// stream, or [`WAIT`]; reads nothing until `go` is true.
async fn read(mut s: TcpStream, pace: Pace, last: u64, mut go: watch::Receiver<bool>) -> Got {
    let _ = go.wait_for(|g| *g).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut raw = Vec::new();
    let mut events = Vec::new();
    let mut body_at = None;
    let mut parsed = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let want = match pace {
            Pace::Eager => chunk.len(),
            Pace::Paced { bytes, .. } => bytes,
        };
        let n = match tokio::time::timeout_at(deadline, s.read(&mut chunk[..want])).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) => 0,
        };
        if n == 0 {
            return Got {
                events,
                ended: tokio::time::Instant::now() < deadline,
            };
        }
        raw.extend_from_slice(&chunk[..n]);
        if body_at.is_none() {
            body_at = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
            if let Some(at) = body_at {
                let head = String::from_utf8_lossy(&raw[..at]);
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                parsed = at;
            }
        }
        if body_at.is_some() {
            while let Some(end) = raw[parsed..].windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8_lossy(&raw[parsed..parsed + end]).into_owned();
                parsed += end + 2;
                let mut ev = Event {
                    id: String::new(),
                    event: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        ev.id = v.into();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        ev.event = v.into();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        ev.data = v.into();
                    }
                }
                if !ev.event.is_empty() {
                    let done = (ev.event == "tick" || ev.event == "game") && ev.n() == last;
                    events.push(ev);
                    if done {
                        return Got {
                            events,
                            ended: false,
                        };
                    }
                }
            }
        }
        if let Pace::Paced { pause, .. } = pace {
            tokio::time::sleep(pause).await;
        }
    }
}

/// Publishes `tick` events `n = from..to` on `topic`, one after the other,
/// each padded to about `pad` bytes; returns their ids.
async fn publish(server: &Server, topic: &str, from: u64, to: u64, pad: usize) -> Vec<String> {
    publish_each(
        server,
        topic,
        "tick",
        from..to,
        |n| serde_json::json!({"n": n, "pad": "x".repeat(pad)}),
    )
    .await
}

/// Publishes one `event` on `topic` per `n` in `ns`, with `data(n)`, one
/// after the other; returns their ids.
async fn publish_each(
    server: &Server,
    topic: &str,
    event: &str,
    ns: std::ops::Range<u64>,
    data: impl Fn(u64) -> serde_json::Value,
) -> Vec<String> {
    let http = client();
    let mut ids = Vec::new();
    for n in ns {
        let body = serde_json::json!({"topic": topic, "event": event, "data": data(n)});
        ids.push(common::publish_event(&http, &server.url, TOKEN, &body).await);
    }
    ids
}

async fn metric(server: &Server, series: &str) -> f64 {
    let text = common::get_text(format!("{}/metrics", server.url)).await;
    metric_in(&text, series)
}

/// How often the hub gave sockets back to their tasks: one that was full
/// (a hand-back), or, on a loaded machine, all it had not written yet once
/// events waited behind a fan-out (a yield, counted once per event).
async fn went_back(server: &Server) -> f64 {
    metric(server, "livescore_fast_path_handbacks_total").await
        + metric(server, "livescore_fast_path_yields_total").await
}

/// Every event `n = from..to`, once each, in order, with ids increasing.
fn assert_complete(who: &str, got: &[Event], from: u64, to: u64) {
    let ticks: Vec<&Event> = got.iter().filter(|e| e.event == "tick").collect();
    let ns: Vec<u64> = ticks.iter().map(|e| e.n()).collect();
    assert_eq!(
        ns,
        (from..to).collect::<Vec<_>>(),
        "{who}: every event once, in order"
    );
    assert!(
        ticks.windows(2).all(|w| w[0].seq() < w[1].seq()),
        "{who}: ids strictly increasing"
    );
}

#[tokio::test]
async fn readers_at_every_speed_get_every_event_once_in_order() {
    let server = start();
    const EVENTS: u64 = 600;
    let (go, wait) = watch::channel(false);
    let (now, _) = watch::channel(true);
    let mut readers = Vec::new();
    // Eager readers: the hub's writes nearly always go through whole.
    for i in 0..24 {
        let s = open(&server, "news", None, 0).await;
        readers.push((
            format!("eager {i}"),
            tokio::spawn(read(s, Pace::Eager, EVENTS - 1, now.subscribe())),
        ));
    }
    // Paced readers with 2 KiB receive buffers: their sockets fill, the hub
    // hands them back, they catch up on their own and go fast again.
    for i in 0..6 {
        let s = open(&server, "news", None, 2048).await;
        let pace = Pace::Paced {
            bytes: 1024,
            pause: Duration::from_millis(2 + i),
        };
        readers.push((
            format!("paced {i}"),
            tokio::spawn(read(s, pace, EVENTS - 1, now.subscribe())),
        ));
    }
    // Stalled readers: nothing until every event is published (all within
    // the topic's history, so each is owed all of them).
    for i in 0..3 {
        let s = open(&server, "news", None, 2048).await;
        readers.push((
            format!("stalled {i}"),
            tokio::spawn(read(s, Pace::Eager, EVENTS - 1, wait.clone())),
        ));
    }
    wait_until("every reader is subscribed", WAIT, || async {
        metric(&server, "livescore_connections{transport=\"sse\"}").await >= 33.0
    })
    .await;

    publish(&server, "news", 0, EVENTS, 600).await;
    go.send_replace(true);
    for (who, reader) in readers {
        let got = reader.await.expect("reader");
        assert!(!got.ended, "{who}: the stream stays open");
        assert_complete(&who, &got.events, 0, EVENTS);
    }
    let writes = metric(&server, "livescore_fast_path_writes_total").await;
    let back = went_back(&server).await;
    assert!(
        writes >= (24 * EVENTS) as f64 / 2.0,
        "the hub wrote most deliveries itself: {writes}"
    );
    assert!(back >= 1.0, "full sockets went back to their tasks");
}

/// A WebSocket client subscribed to `topic` over a socket with a receive
/// buffer of `rcvbuf` bytes (0: the kernel's), reading at `pace` (a paced
/// one sleeps between messages) until `n == last`; the `n` of every event.
async fn ws_reader(
    server: &Server,
    topic: &str,
    rcvbuf: u32,
    pause: Duration,
    last: u64,
) -> tokio::task::JoinHandle<Vec<(u64, u64)>> {
    let addr: SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let socket = TcpSocket::new_v4().expect("socket");
    if rcvbuf > 0 {
        socket.set_recv_buffer_size(rcvbuf).expect("rcvbuf");
    }
    let tcp = socket.connect(addr).await.expect("connect");
    let url = format!("{}/ws", server.url.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
        .await
        .expect("handshake");
    let req = serde_json::json!({"type": "subscribe", "topics": [topic]});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .expect("subscribe");
    tokio::spawn(async move {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
            let Message::Text(text) = msg else { continue };
            let v: serde_json::Value = serde_json::from_str(&text).expect("json");
            if v["type"] != "event" {
                continue;
            }
            let id = v["id"].as_str().expect("id");
            let seq = id
                .rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("seq");
            let n = v["data"]["n"].as_u64().expect("n");
            got.push((seq, n));
            if n == last {
                break;
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        got
    })
}

#[tokio::test]
async fn websocket_readers_at_every_speed_get_every_event_once_in_order() {
    let server = start();
    const EVENTS: u64 = 400;
    let mut readers = Vec::new();
    for i in 0..12 {
        readers.push((
            format!("eager {i}"),
            ws_reader(&server, "news", 0, Duration::ZERO, EVENTS - 1).await,
        ));
    }
    for i in 0..4 {
        let pause = Duration::from_millis(1 + i);
        readers.push((
            format!("paced {i}"),
            ws_reader(&server, "news", 2048, pause, EVENTS - 1).await,
        ));
    }
    wait_until("every reader is subscribed", WAIT, || async {
        metric(&server, "livescore_connections{transport=\"ws\"}").await >= 16.0
    })
    .await;
    publish(&server, "news", 0, EVENTS, 600).await;
    for (who, reader) in readers {
        let got = reader.await.expect("reader");
        let ns: Vec<u64> = got.iter().map(|(_, n)| *n).collect();
        assert_eq!(
            ns,
            (0..EVENTS).collect::<Vec<_>>(),
            "{who}: every event once, in order"
        );
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "{who}: ids increasing"
        );
    }
    assert!(
        metric(
            &server,
            "livescore_fast_path_writes_total{transport=\"ws\"}"
        )
        .await
            >= (12 * EVENTS) as f64 / 2.0,
        "the hub wrote most WebSocket deliveries itself"
    );
    assert!(
        went_back(&server).await >= 1.0,
        "a full socket went back to its task"
    );
}

#[tokio::test]
async fn a_fast_stream_cut_off_resumes_after_its_last_id_and_goes_fast_again() {
    let server = start();
    let (now, _) = watch::channel(true);
    let s = open(&server, "alerts", None, 0).await;
    let first = tokio::spawn(read(s, Pace::Eager, 9, now.subscribe()));
    wait_until("the reader is subscribed", WAIT, || async {
        metric(&server, "livescore_connections{transport=\"sse\"}").await >= 1.0
    })
    .await;
    publish(&server, "alerts", 0, 10, 10).await;
    let got = first.await.expect("reader").events;
    assert_complete("first connection", &got, 0, 10);
    let written = metric(&server, "livescore_fast_path_writes_total").await;
    assert!(written >= 1.0, "the first connection was on the fast path");

    // Cut off (the reader is gone), events go on, then it comes back.
    publish(&server, "alerts", 10, 20, 10).await;
    let last = got.last().expect("an event").id.clone();
    let s = open(&server, "alerts", Some(&last), 0).await;
    let second = tokio::spawn(read(s, Pace::Eager, 29, now.subscribe()));
    // The resume comes first; then live events, which the hub writes.
    wait_until("the resumer is subscribed", WAIT, || async {
        metric(&server, "livescore_connections{transport=\"sse\"}").await >= 1.0
    })
    .await;
    publish(&server, "alerts", 20, 30, 10).await;
    let got = second.await.expect("reader").events;
    assert_complete("after resume", &got, 10, 30);
    assert!(
        metric(&server, "livescore_fast_path_writes_total").await >= written + 1.0,
        "the resumed stream went fast again"
    );
}

#[tokio::test]
async fn a_stalled_reader_past_history_is_dropped_and_told_on_resume_while_others_miss_nothing() {
    let server = start();
    // More than the topic's history (1,000) while one reader never reads.
    const EVENTS: u64 = 1_200;
    let (go, wait) = watch::channel(false);
    let (now, _) = watch::channel(true);
    let eager = open(&server, "wire", None, 0).await;
    let eager = tokio::spawn(read(eager, Pace::Eager, EVENTS - 1, now.subscribe()));
    let stalled = open(&server, "wire", None, 2048).await;
    let stalled = tokio::spawn(read(stalled, Pace::Eager, EVENTS - 1, wait));
    wait_until("both readers are subscribed", WAIT, || async {
        metric(&server, "livescore_connections{transport=\"sse\"}").await >= 2.0
    })
    .await;
    publish(&server, "wire", 0, EVENTS, 1000).await;
    assert_complete("eager", &eager.await.expect("reader").events, 0, EVENTS);

    go.send_replace(true);
    let got = stalled.await.expect("reader");
    assert!(got.ended, "the stalled reader's stream was ended");
    let ticks: Vec<u64> = got.events.iter().map(Event::n).collect();
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "what it got before the end has no gap: {ticks:?}"
    );
    assert!(
        (ticks.len() as u64) < EVENTS,
        "it did not get what history no longer held"
    );
    assert!(
        metric(
            &server,
            "livescore_subscribers_dropped_total{reason=\"lagged\"}"
        )
        .await
            >= 1.0,
        "the drop is counted"
    );
    assert!(
        went_back(&server).await >= 1.0,
        "a full socket went back to its task"
    );

    // It comes back with its last id: a reset says what was lost.
    let last = got.events.last().map(|e| e.id.clone());
    let s = open(&server, "wire", last.as_deref(), 0).await;
    let mut raw = Vec::new();
    let mut s = s;
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        while !String::from_utf8_lossy(&raw).contains("event: reset") {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "the resumed stream stays open");
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("a reset arrives");
    assert!(String::from_utf8_lossy(&raw).contains("\"reason\":\"evicted\""));
}

/// One game as the SPEC shapes it, with home score `n`.
fn game(n: u64) -> serde_json::Value {
    serde_json::json!({
        "eid": "2015091000", "season": 2015, "week": 1, "season_type": "REG",
        "kickoff": "2015-09-11T00:30:00Z", "day": "Thu", "time": "8:30",
        "state": "live", "quarter": "4", "clock": "02:00", "possession": "NE",
        "red_zone": false,
        "home": {"abbr": "NE", "nickname": "patriots", "score": n},
        "away": {"abbr": "PIT", "nickname": "steelers", "score": 21}
    })
}

#[tokio::test]
async fn a_stalled_reader_of_a_state_topic_skips_to_the_latest_state_and_stays() {
    let server = start();
    const TOPIC: &str = "game/2015091000";
    const EVENTS: u64 = 400;
    let (go, wait) = watch::channel(false);
    let (now, _) = watch::channel(true);
    let eager = open(&server, TOPIC, None, 0).await;
    let eager = tokio::spawn(read(eager, Pace::Eager, EVENTS - 1, now.subscribe()));
    let stalled = open(&server, TOPIC, None, 2048).await;
    let stalled = tokio::spawn(read(stalled, Pace::Eager, EVENTS - 1, wait));
    wait_until("both readers are subscribed", WAIT, || async {
        metric(&server, "livescore_connections{transport=\"sse\"}").await >= 2.0
    })
    .await;
    publish_each(&server, TOPIC, "game", 0..EVENTS, game).await;
    // Each reader sees only newer states, ending on the latest. The eager
    // one nearly always sees every state (it too may skip some if the
    // machine stalls it); the stalled one cannot have.
    let latest = |who: &str, got: Got| {
        assert!(!got.ended, "{who}: the stream stays open");
        let scores: Vec<u64> = got.events.iter().map(Event::n).collect();
        assert_eq!(
            scores.last(),
            Some(&(EVENTS - 1)),
            "{who}: ends on the latest"
        );
        assert!(
            scores.windows(2).all(|w| w[0] < w[1]),
            "{who}: never an older state after a newer one: {scores:?}"
        );
        scores.len() as u64
    };
    latest("eager", eager.await.expect("reader"));
    go.send_replace(true);
    let seen = latest("stalled", stalled.await.expect("reader"));
    assert!(
        seen < EVENTS,
        "the intermediate states the stalled reader fell behind on were skipped"
    );
    assert!(metric(&server, "livescore_subscribers_conflated_total").await >= 1.0);
    assert_eq!(
        metric(
            &server,
            "livescore_subscribers_dropped_total{reason=\"lagged\"}"
        )
        .await,
        0.0,
        "a lagging reader of a state topic is not dropped"
    );
    assert!(
        metric(&server, "livescore_fast_path_writes_total").await >= 1.0,
        "the hub wrote sockets itself"
    );
    assert!(
        went_back(&server).await >= 1.0,
        "the stalled socket went back to its task"
    );
}

#[tokio::test]
async fn sigterm_ends_every_fast_stream_cleanly() {
    let mut server = start();
    let (now, _) = watch::channel(true);
    let mut readers = Vec::new();
    for _ in 0..20 {
        let s = open(&server, "news", None, 0).await;
        // Reads past the last event published: only the server's end stops it.
        readers.push(tokio::spawn(read(
            s,
            Pace::Eager,
            u64::MAX,
            now.subscribe(),
        )));
    }
    wait_until("every reader is subscribed", WAIT, || async {
        metric(&server, "livescore_connections{transport=\"sse\"}").await >= 20.0
    })
    .await;
    publish(&server, "news", 0, 5, 10).await;
    wait_until("the hub wrote to every reader", WAIT, || async {
        metric(&server, "livescore_fast_path_writes_total").await >= 100.0
    })
    .await;

    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    for reader in readers {
        let got = reader.await.expect("reader");
        assert!(got.ended, "the stream ended (not timed out)");
        assert_complete("reader", &got.events, 0, 5);
    }
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the server exits");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        status.success(),
        "exit status {status:?}:\n{}",
        server.logs()
    );
}
