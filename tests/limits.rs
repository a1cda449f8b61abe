//! Connection limits through the real binary: past the maximum a client
//! gets a JSON 503 (never a hang), past the per-IP cap a 429, and a freed
//! place is usable again. A full node still answers its health and metrics
//! probes, even under a flood of refused connections.

mod common;

use std::time::{Duration, Instant};

use common::{client, Server, SseStream};
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
