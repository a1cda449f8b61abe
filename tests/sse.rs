//! SSE against the real binary: the classic stream, keep-alive, slow
//! clients, and resume on `/api/stream`.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{board, id_parts, official_finals, Server, SseItem, SseStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(30);

fn all_final(b: &BTreeMap<String, (u64, u64, String)>) -> bool {
    b.len() == 16
        && b.values()
            .all(|(_, _, s)| s == "final" || s == "final_overtime")
}

fn finals_of(b: &BTreeMap<String, (u64, u64, String)>) -> BTreeMap<String, (u64, u64)> {
    b.iter()
        .map(|(k, (h, a, _))| (k.clone(), (*h, *a)))
        .collect()
}

#[tokio::test]
async fn demo_streams_every_update_in_order_to_the_official_finals() {
    let server = Server::start(&["demo", "--speed", "2000"]);
    let mut sse = SseStream::connect(&format!("{}/api/livescore", server.url), None).await;
    assert_eq!(sse.headers["content-type"], "text/event-stream");
    assert_eq!(sse.headers["cache-control"], "no-cache");
    assert_eq!(sse.headers["x-accel-buffering"], "no");
    assert!(
        matches!(sse.next_item(WAIT).await, Some(SseItem::Retry(_))),
        "opens with retry:"
    );

    let first = sse
        .next_event(Duration::from_secs(5))
        .await
        .expect("current list at once");
    assert_eq!(first.event, "update");
    let mut last = board(&serde_json::from_str(&first.data).expect("json"));
    assert_eq!(last.len(), 16, "all 16 games in the first update");
    let mut last_id = id_parts(first.id.as_deref().expect("every event has an id"));
    let mut updates = 1;
    let deadline = Instant::now() + Duration::from_secs(180);
    while !all_final(&last) {
        assert!(Instant::now() < deadline, "replay did not finish");
        let ev = sse.next_event(WAIT).await.expect("stream goes on");
        assert_eq!(ev.event, "update");
        let id = id_parts(ev.id.as_deref().expect("id"));
        assert_eq!(id.0, last_id.0, "one epoch");
        assert!(id.1 > last_id.1, "ids increase: {id:?} after {last_id:?}");
        let next = board(&serde_json::from_str(&ev.data).expect("json"));
        for (eid, (h, a, _)) in &next {
            let (ph, pa, _) = last[eid];
            assert!(
                *h >= ph && *a >= pa,
                "{eid}: scores never go backwards in the replay"
            );
        }
        last = next;
        last_id = id;
        updates += 1;
    }
    assert!(
        updates > 50,
        "the week is streamed as it happens, not in one jump ({updates} updates)"
    );
    assert_eq!(finals_of(&last), official_finals());
    let fo = last
        .values()
        .filter(|(_, _, s)| s == "final_overtime")
        .count();
    assert_eq!(fo, 1, "one game of week 1 went to overtime");

    // The server keeps serving after the replay: a new client gets the finals at once.
    let mut late = SseStream::connect(&format!("{}/api/livescore", server.url), None).await;
    let ev = late
        .next_event(Duration::from_secs(5))
        .await
        .expect("finals at once");
    assert_eq!(
        finals_of(&board(&serde_json::from_str(&ev.data).expect("json"))),
        official_finals()
    );
}

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let server = Server::start(&["serve", "--keepalive", "200ms"]);
    let mut sse = SseStream::connect(&format!("{}/api/livescore", server.url), None).await;
    assert!(matches!(sse.next_item(WAIT).await, Some(SseItem::Retry(_))));
    for _ in 0..2 {
        assert_eq!(
            sse.next_item(WAIT).await,
            Some(SseItem::Comment("keep-alive".into()))
        );
    }
}

/// Reads a close-delimited HTTP/1.0 response until `done(body)` holds.
async fn read_until(
    sock: &mut tokio::net::TcpStream,
    body: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    while !done(body) {
        let n = tokio::time::timeout(WAIT, sock.read(&mut buf))
            .await
            .expect("read timed out")
            .expect("read");
        assert!(n > 0, "connection closed early");
        body.extend_from_slice(&buf[..n]);
    }
}

fn updates_in(body: &[u8]) -> Vec<BTreeMap<String, (u64, u64, String)>> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .map(|v| board(&v))
        .collect()
}

#[tokio::test]
async fn a_client_that_stops_reading_slows_nobody_and_skips_to_the_latest_list() {
    let server = Server::start(&["demo", "--speed", "600"]);
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    // A tiny receive window so the kernel cannot absorb the whole week for it.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(2048).expect("rcvbuf");
    let mut slow = socket.connect(addr).await.expect("connect");
    slow.write_all(b"GET /api/livescore HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .expect("request");
    let rss_before = server.rss_kib();

    // A normal client follows the whole replay meanwhile.
    let mut fast = SseStream::connect(&format!("{}/api/livescore", server.url), None).await;
    let mut fast_updates = 0;
    let mut last = BTreeMap::new();
    while !all_final(&last) {
        let ev = fast
            .next_event(WAIT)
            .await
            .expect("fast client keeps receiving");
        last = board(&serde_json::from_str(&ev.data).expect("json"));
        fast_updates += 1;
    }
    let rss_after = server.rss_kib();
    // What grows meanwhile is the hub's history, bounded per topic: every
    // one of the week's ~320 boards is kept twice since leagues (on
    // `scores/nfl` and on `scores`), each as JSON, SSE bytes and a patch
    // (about 33 MiB measured, 2026-12-08). A stalled client that buffered
    // the week would add every board again per copy on top.
    assert!(
        rss_after < rss_before + 48 * 1024,
        "a stalled client must not grow server memory without bound: {rss_before} -> {rss_after} KiB"
    );

    // Now the slow client reads: it ends on the finals, having skipped
    // stale lists rather than replaying every one of them.
    let mut body = Vec::new();
    read_until(&mut slow, &mut body, |b| {
        updates_in(b).last().is_some_and(all_final)
    })
    .await;
    let got = updates_in(&body);
    assert_eq!(finals_of(got.last().expect("an update")), official_finals());
    assert!(
        got.len() < fast_updates,
        "the slow client skipped intermediate lists ({} of {fast_updates})",
        got.len()
    );
    let metrics = common::get_text(format!("{}/metrics", server.url)).await;
    let conflated = metrics
        .lines()
        .find_map(|l| l.strip_prefix("livescore_subscribers_conflated_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("conflation is counted");
    assert!(conflated >= 1.0);
}

#[tokio::test]
async fn stream_resumes_after_last_event_id_with_no_gap_and_no_duplicate() {
    let server = Server::start(&["demo", "--speed", "2000"]);
    let url = format!(
        "{}/api/stream?topic=scores&topic=game/2015091300",
        server.url
    );
    // A reference client that never disconnects.
    let mut reference = SseStream::connect(&url, None).await;
    let mut first = SseStream::connect(&url, None).await;
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let ev = first.next_event(WAIT).await.expect("event");
        seen.push(ev);
    }
    let resume_from = seen.last().and_then(|e| e.id.clone()).expect("id");
    drop(first);
    // Events happen while it is away: the reference sees three past it.
    let mut expected = Vec::new();
    let mut passed = false;
    while expected.len() < 3 {
        let ev = reference.next_event(WAIT).await.expect("event");
        if passed {
            expected.push(ev);
        } else if ev.id.as_deref() == Some(resume_from.as_str()) {
            passed = true;
        }
    }

    let mut resumed = SseStream::connect(&url, Some(&resume_from)).await;
    let mut got = Vec::new();
    while got.len() < 20 || !got.iter().any(|e: &common::SseEvent| e.event == "score") {
        assert!(
            got.len() < 2000,
            "no score event for game 2015091300 in 2000 events"
        );
        got.push(resumed.next_event(WAIT).await.expect("event"));
    }
    // The reference saw the same events, in the same order, right after resume_from.
    while expected.len() < got.len() {
        expected.push(reference.next_event(WAIT).await.expect("event"));
    }
    let ids = |v: &[common::SseEvent]| {
        v.iter()
            .map(|e| (e.id.clone(), e.event.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&got), ids(&expected));
    assert!(
        got.iter().any(|e| e.event == "score"),
        "score events are part of the replay"
    );

    // The id may also come as a query parameter.
    let mut by_query = SseStream::connect(&format!("{url}&lastEventId={resume_from}"), None).await;
    assert_eq!(
        by_query.next_event(WAIT).await.expect("event").id,
        got[0].id
    );
}

#[tokio::test]
async fn an_id_that_cannot_be_honoured_gets_a_reset_then_current_state() {
    let server = Server::start(&["demo", "--speed", "600"]);
    for (sent, reason) in [("nonsense", "unknown"), ("1-5", "epoch")] {
        let url = format!("{}/api/stream?topic=scores", server.url);
        let mut sse = SseStream::connect(&url, Some(sent)).await;
        let reset = sse.next_event(WAIT).await.expect("reset");
        assert_eq!(reset.event, "reset");
        let data: serde_json::Value = serde_json::from_str(&reset.data).expect("json");
        assert_eq!(data["reason"], reason);
        assert_eq!(data["last_id"], sent);
        let state = sse.next_event(WAIT).await.expect("state");
        assert_eq!(state.event, "update");
        assert!(
            id_parts(state.id.as_deref().expect("id")).1
                > id_parts(reset.id.as_deref().expect("id")).1
        );
    }
    let bad = common::client()
        .get(format!("{}/api/stream?topic=a%20b", server.url))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.expect("json error");
    assert!(body["error"]
        .as_str()
        .expect("message")
        .contains("invalid topic"));
}

/// Sends `request` on a new connection and reads until `done`.
async fn raw(server: &Server, request: &str, done: impl Fn(&[u8]) -> bool) -> String {
    let addr = server.url.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    sock.write_all(request.as_bytes()).await.expect("request");
    let mut body = Vec::new();
    read_until(&mut sock, &mut body, done).await;
    String::from_utf8(body).expect("utf-8")
}

fn has(needle: &'static str) -> impl Fn(&[u8]) -> bool {
    move |b: &[u8]| b.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A plain stream request is served straight on the socket (no hyper
/// state per idle subscriber: docs/BENCHMARKS.md); everything around it
/// must still get the router's answers.
#[tokio::test]
async fn stream_requests_get_the_same_answers_on_the_socket_and_through_the_router() {
    // One `retry:` value, so the opening line is known exactly.
    let server = Server::start(&[
        "demo",
        "--speed",
        "1",
        "--retry-min",
        "2s",
        "--retry-max",
        "2s",
    ]);

    // The socket path: the event stream, delimited by the connection.
    let got = raw(
        &server,
        "GET /api/stream?topic=scores HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
        has("event: update\n"),
    )
    .await;
    let (head, body) = got.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let head = head.to_ascii_lowercase();
    for line in [
        "content-type: text/event-stream",
        "cache-control: no-cache",
        "x-accel-buffering: no",
        "connection: close",
        "date: ",
    ] {
        assert!(head.contains(line), "{line:?} missing from {head}");
    }
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(body.starts_with("retry: 2000\n\n"), "{body}");
    assert!(body.contains("\nid: "), "events carry ids: {body}");

    // The classic stream too; without the Accept it is the router's redirect.
    let classic = raw(
        &server,
        "GET /api/livescore HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n",
        has("event: update\n"),
    )
    .await;
    assert!(classic.starts_with("HTTP/1.0 200 OK\r\n"), "{classic}");
    assert!(classic.contains("connection: close"), "{classic}");
    let redirect = raw(
        &server,
        "GET /api/livescore HTTP/1.0\r\n\r\n",
        has("\r\n\r\n"),
    )
    .await;
    assert!(redirect.starts_with("HTTP/1.0 302"), "{redirect}");
    assert!(
        redirect.to_ascii_lowercase().contains("location: /api/"),
        "{redirect}"
    );

    // A bad topic gets the router's JSON 400.
    let bad = raw(
        &server,
        "GET /api/stream?topic=no%20spaces HTTP/1.1\r\nHost: x\r\n\r\n",
        has("}"),
    )
    .await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(bad.contains(r#"{"error":"invalid topic"#), "{bad}");

    // A stream as the second request of a keep-alive connection (pipelined):
    // the router serves both, the stream chunked as before.
    let both = raw(
        &server,
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /api/stream?topic=scores HTTP/1.1\r\nHost: x\r\n\r\n",
        has("event: update\n"),
    )
    .await;
    let second = both.split("HTTP/1.1 ").nth(2).expect("two answers");
    assert!(second.starts_with("200"), "{both}");
    assert!(
        second
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{both}"
    );
}

/// Resumers that never read hold about what an idle client does: a resume
/// is read from the shared history a page at a time, not copied out per
/// client (the issue saw 163 KiB held per non-reading resumer over 32
/// topics, against 3 KiB idle). The old per-client list alone was 8 bytes
/// a frame, 125 KiB here.
#[tokio::test]
async fn a_resumer_that_never_reads_holds_about_what_an_idle_client_does() {
    const TOPICS: usize = 32;
    const PER_TOPIC: usize = 500;
    const TOTAL: usize = TOPICS * PER_TOPIC;
    const CLIENTS: usize = 400;
    let server = Server::start(&["serve", "--publish-token", "t0123456789"]);
    let publish = |i: usize| {
        let url = format!("{}/api/publish", server.url);
        async move {
            let body = serde_json::json!({
                "topic": format!("news/{}", i % TOPICS),
                "event": "m",
                "data": {"n": i, "text": "x".repeat(200)},
            });
            let resp = common::client()
                .post(url)
                .bearer_auth("t0123456789")
                .json(&body)
                .send()
                .await
                .expect("publish");
            assert_eq!(resp.status(), 202);
        }
    };
    // The first event's id, seen live.
    let mut first =
        SseStream::connect(&format!("{}/api/stream?topic=news/0", server.url), None).await;
    publish(0).await;
    let first = first
        .next_event(WAIT)
        .await
        .expect("the first event")
        .id
        .expect("an id");
    let mut n = 1;
    while n < TOTAL {
        let batch: Vec<_> = (n..(n + 64).min(TOTAL)).map(publish).collect();
        n += batch.len();
        futures::future::join_all(batch).await;
    }

    let query: Vec<String> = (0..TOPICS).map(|t| format!("topic=news/{t}")).collect();
    let path = format!("/api/stream?{}", query.join("&"));
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    // A client that reads nothing, with a tiny receive window.
    let open = |last_event_id: Option<&str>| {
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{}\r\n",
            last_event_id
                .map(|id| format!("Last-Event-ID: {id}\r\n"))
                .unwrap_or_default()
        );
        async move {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket.set_recv_buffer_size(2048).expect("rcvbuf");
            let mut s = socket.connect(addr).await.expect("connect");
            s.write_all(head.as_bytes()).await.expect("request");
            s
        }
    };
    let rss0 = server.settled_rss_kib().await;
    let mut idle = Vec::new();
    for _ in 0..CLIENTS {
        idle.push(open(None).await);
    }
    let rss1 = server.settled_rss_kib().await;
    let mut resumers = Vec::new();
    for _ in 0..CLIENTS {
        resumers.push(open(Some(&first)).await);
    }
    let rss2 = server.settled_rss_kib().await;
    let idle_per = rss1.saturating_sub(rss0) as f64 / CLIENTS as f64;
    let resume_per = rss2.saturating_sub(rss1) as f64 / CLIENTS as f64;
    eprintln!("KiB per client: idle {idle_per:.1}, non-reading resumer {resume_per:.1}");
    assert!(
        resume_per < idle_per + 32.0,
        "a non-reading resumer holds {resume_per:.1} KiB, an idle client {idle_per:.1} KiB"
    );
    // They were really owed the history: one that reads gets all of it.
    let mut reader = SseStream::connect(&format!("{}{path}", server.url), Some(&first)).await;
    for _ in 1..TOTAL {
        reader.next_event(WAIT).await.expect("the whole resume");
    }
    drop((idle, resumers));
}
