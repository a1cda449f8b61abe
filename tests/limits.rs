//! Connection limits through the real binary: past the maximum a client
//! gets a JSON 503 (never a hang), past the per-IP cap a 429, and a freed
//! place is usable again. A full node still answers its health and metrics
//! probes, even under a flood of refused connections.

mod common;

use std::time::{Duration, Instant};

use common::{client, open_from, Server, SseStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn status_of(url: &str) -> (u16, serde_json::Value) {
    let resp = tokio::time::timeout(Duration::from_secs(10), client().get(url).send())
        .await
        .expect("answered, not hung")
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn past_the_maximum_new_connections_get_a_json_503_until_one_closes() {
    let server = Server::start(&["serve", "--max-connections", "3"]);
    let stream = format!("{}/api/livescore", server.url);
    let a = SseStream::connect(&stream, None).await;
    let _b = SseStream::connect(&stream, None).await;
    let _c = SseStream::connect(&stream, None).await;

    let (status, body) = status_of(&format!("{}/api/", server.url)).await;
    assert_eq!(status, 503);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection limit")),
        "{body}"
    );
    // A monitor still sees the node: full, not dead.
    let (status, body) = status_of(&format!("{}/healthz", server.url)).await;
    assert_eq!(status, 200, "{body}");

    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = status_of(&format!("{}/api/", server.url)).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "a freed place is reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.logs().contains("fd_ceiling"),
        "the ceiling is logged at start"
    );
}

#[tokio::test]
async fn one_address_cannot_take_more_than_its_share() {
    let server = Server::start(&["serve", "--max-connections-per-ip", "2"]);
    let stream = format!("{}/api/livescore", server.url);
    let _a = SseStream::connect(&stream, None).await;
    let _b = SseStream::connect(&stream, None).await;
    let (status, body) = status_of(&format!("{}/api/", server.url)).await;
    assert_eq!(status, 429);
    assert!(body["error"].is_string());
    // A metrics probe is still answered at the cap, and counts as one more
    // refusal of this address.
    let metrics = common::get_text(format!("{}/metrics", server.url)).await;
    assert!(
        metrics.contains("livescore_connections_rejected_total{reason=\"per_ip\"} 2\n"),
        "rejections are counted:\n{metrics}"
    );
}

/// Connections opened at once in the flood, each holding the server side
/// until the server closes it: more than the descriptors the node has.
const FLOOD: usize = 1500;

#[tokio::test]
async fn a_flood_of_refused_connections_neither_exhausts_descriptors_nor_hides_health() {
    // 400 descriptors: 20 connections, the rest reserve. Before refusals
    // were bounded, each of the flood's 1,500 held a descriptor for up to
    // two seconds, accept failed with EMFILE and probes hung.
    let server = Server::start_with_nofile(&["serve", "--max-connections", "20"], 400);
    let stream = format!("{}/api/livescore", server.url);
    let mut full = Vec::new();
    for _ in 0..20 {
        full.push(SseStream::connect(&stream, None).await);
    }
    let addr = server.url.trim_start_matches("http://").to_string();

    // Silent connections, all at once; each waits until the server hangs up.
    let flood: Vec<_> = (0..FLOOD)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move {
                // Refused in the backlog is not held either.
                let Ok(mut s) = TcpStream::connect(&addr).await else {
                    return true;
                };
                // An answer, a close or a reset: anything but silence.
                let mut buf = [0u8; 512];
                tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
                    .await
                    .is_ok()
            })
        })
        .collect();
    // One that sends its request in the middle of the flood gets its 503.
    let mut polite = TcpStream::connect(&addr).await.expect("connect");
    polite
        .write_all(b"GET /api/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");

    // Probes are answered throughout.
    for _ in 0..10 {
        let (status, body) = status_of(&format!("{}/healthz", server.url)).await;
        assert_eq!(status, 200, "{body}");
        let metrics = tokio::time::timeout(
            Duration::from_secs(10),
            common::get_text(format!("{}/metrics", server.url)),
        )
        .await
        .expect("/metrics answered, not hung");
        assert!(metrics.contains("livescore_connections_rejected_total"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), polite.read_to_end(&mut answer))
        .await
        .expect("answered, not hung")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

    // Every silent connection was closed by the server, none held.
    for conn in flood {
        assert!(conn.await.expect("join"), "the server hung up on it");
    }
    let metrics = common::get_text(format!("{}/metrics", server.url)).await;
    assert!(
        common::metric_in(&metrics, "livescore_accept_errors_total") == 0.0,
        "accept never ran out of descriptors:\n{metrics}"
    );
    // The flood outgrew the slots: some were closed at once or gave way.
    assert!(
        common::metric_in(&metrics, "livescore_connections_dropped_total")
            + common::metric_in(&metrics, "livescore_connections_evicted_total")
            > 0.0,
        "{metrics}"
    );
    let (status, _) = status_of(&format!("{}/api/", server.url)).await;
    assert_eq!(status, 503, "still full, still answering");
    drop(full);
}

/// A stream request as nginx passes it on, for the visitor `client`.
fn stream_via_proxy(client: &str, extra: &str) -> String {
    format!(
        "GET /api/livescore HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\
         X-Forwarded-For: {client}\r\n{extra}\r\n"
    )
}

/// Issue "five holes" #5: behind a trusted proxy the per-address cap is
/// each visitor's (by `X-Forwarded-For`), not the proxy's, counted per
/// request once its head is read, so the eleventh visitor is served; the
/// proxy's kept-alive connection carries several visitors' requests, each
/// charged to its own; a peer that is not the proxy is still capped at
/// accept, whatever header it sends.
#[tokio::test]
async fn behind_a_trusted_proxy_the_cap_is_each_visitors_not_the_proxys() {
    let server = Server::start(&[
        "serve",
        "--max-connections-per-ip",
        "2",
        "--trusted-proxies",
        "127.0.0.1",
    ]);
    let visitor = |n: u32| format!("203.0.113.{n}");
    // Eleven visitors, two streams each: 22 connections from the proxy.
    let mut held = Vec::new();
    for n in 1..=11 {
        for _ in 0..2 {
            let (conn, status) =
                open_from(&server.url, "127.0.0.1", &stream_via_proxy(&visitor(n), "")).await;
            assert!(status.contains(" 200 "), "visitor {n}: {status}");
            held.push(conn);
        }
    }
    // A visitor's third: 429 on the socket path, through hyper (`Expect`
    // sends it there) and as a WebSocket upgrade.
    for extra in ["", "Expect: 100-continue\r\n"] {
        let (_c, status) = open_from(
            &server.url,
            "127.0.0.1",
            &stream_via_proxy(&visitor(1), extra),
        )
        .await;
        assert!(status.contains(" 429 "), "{extra:?}: {status}");
    }
    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         X-Forwarded-For: {}\r\n\r\n",
        visitor(1)
    );
    let (_c, status) = open_from(&server.url, "127.0.0.1", &upgrade).await;
    assert!(status.contains(" 429 "), "WebSocket: {status}");
    // One kept-alive proxy connection, two visitors: each its own answer.
    let probe =
        |who: &str| format!("GET /api/ HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {who}\r\n\r\n");
    let (mut conn, status) = open_from(&server.url, "127.0.0.1", &probe(&visitor(1))).await;
    assert!(status.contains(" 429 "), "{status}");
    // Its JSON body, whole, before the next request.
    let mut body = Vec::new();
    while !body.ends_with(b"}") {
        let mut chunk = [0u8; 256];
        let n = conn.read(&mut chunk).await.expect("read the body");
        assert!(n > 0, "kept alive after the 429");
        body.extend_from_slice(&chunk[..n]);
    }
    conn.write_all(probe(&visitor(12)).as_bytes())
        .await
        .expect("send");
    let status = common::read_status(&mut conn).await;
    assert!(status.contains(" 200 "), "{status}");
    // A stream that ends gives its visitor's place back.
    drop(held.remove(0));
    common::wait_until(
        "visitor 1 has a place again",
        Duration::from_secs(10),
        || async {
            let (_c, status) =
                open_from(&server.url, "127.0.0.1", &stream_via_proxy(&visitor(1), "")).await;
            status.contains(" 200 ")
        },
    )
    .await;
    // A peer that is not the trusted proxy: its own connections, capped at
    // accept; its header is not believed.
    let mut direct = Vec::new();
    for _ in 0..2 {
        let (conn, status) = open_from(
            &server.url,
            "127.0.0.2",
            &stream_via_proxy(&visitor(99), ""),
        )
        .await;
        assert!(status.contains(" 200 "), "{status}");
        direct.push(conn);
    }
    let (_c, status) = open_from(
        &server.url,
        "127.0.0.2",
        &stream_via_proxy(&visitor(98), ""),
    )
    .await;
    assert!(status.contains(" 429 "), "{status}");
}
