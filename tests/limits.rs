//! Connection limits through the real binary: past the maximum a client
//! gets a JSON 503 (never a hang), past the per-IP cap a 429, and a freed
//! place is usable again.

mod common;

use std::time::{Duration, Instant};

use common::{client, Server, SseStream};

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

    let (status, body) = status_of(&format!("{}/healthz", server.url)).await;
    assert_eq!(status, 503);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection limit")),
        "{body}"
    );

    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = status_of(&format!("{}/healthz", server.url)).await;
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
    let (status, body) = status_of(&format!("{}/healthz", server.url)).await;
    assert_eq!(status, 429);
    assert!(body["error"].is_string());
    let metrics = {
        drop(_a);
        tokio::time::sleep(Duration::from_millis(200)).await;
        common::get_text(format!("{}/metrics", server.url)).await
    };
    assert!(
        metrics.contains("livescore_connections_rejected_total{reason=\"per_ip\"} 1"),
        "rejections are counted:\n{metrics}"
    );
}
