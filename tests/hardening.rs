//! Request and connection limits through the real binary: body size (413
//! JSON, declared or chunked), CORS allow-list (headers only for listed
//! origins), header read timeout (a client that sends half a head, or
//! nothing, is disconnected and its place freed), head size (431).

mod common;

use std::time::Duration;

use common::{client, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "hardening-token";

fn publish_body(bytes: usize) -> String {
    let text = "x".repeat(bytes);
    serde_json::json!({"topic": "news", "event": "flash", "data": {"text": text}}).to_string()
}

#[tokio::test]
async fn bodies_over_the_limit_get_a_json_413_declared_or_chunked() {
    let server = Server::start(&["serve", "--publish-token", TOKEN, "--max-body", "1024"]);
    let url = format!("{}/api/publish", server.url);

    let small = client()
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(publish_body(100))
        .send()
        .await
        .expect("post");
    assert_eq!(small.status(), 202);

    // Declared length over the limit: refused before the body is read.
    let big = client()
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(publish_body(4096))
        .send()
        .await
        .expect("post");
    assert_eq!(big.status(), 413);
    let body: serde_json::Value = big.json().await.expect("json");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("1024")),
        "{body}"
    );

    // Chunked (no length): cut off at the limit while being read.
    let chunks: Vec<Result<String, std::io::Error>> = vec![
        Ok(publish_body(2048)[..1500].to_string()),
        Ok("x".repeat(1500)),
    ];
    let chunked = client()
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("post");
    assert_eq!(chunked.status(), 413);
    let body: serde_json::Value = chunked.json().await.expect("json");
    assert!(body["error"].is_string(), "{body}");

    // Any route, not only the one that reads bodies.
    let elsewhere = client()
        .post(format!("{}/api/", server.url))
        .body("y".repeat(4096))
        .send()
        .await
        .expect("post");
    assert_eq!(elsewhere.status(), 413);
}

#[tokio::test]
async fn only_listed_origins_get_cors_headers() {
    let allowed = "https://scores.example.com";
    let server = Server::start(&[
        "serve",
        "--cors-origin",
        allowed,
        "--cors-origin",
        "http://localhost:3000",
    ]);
    let api = format!("{}/api/", server.url);

    let ok = client()
        .get(&api)
        .header("origin", allowed)
        .send()
        .await
        .expect("get");
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii")),
        Some(allowed)
    );

    let other = client()
        .get(&api)
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("get");
    assert_eq!(other.status(), 200, "the answer itself is not refused");
    let cors: Vec<_> = other
        .headers()
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(
        cors.is_empty(),
        "no CORS headers for another origin: {cors:?}"
    );

    // A stream from an allowed origin carries the header too (streams are
    // otherwise served off the router: src/http/head.rs).
    let stream = client()
        .get(format!("{}/api/stream?topic=scores", server.url))
        .header("origin", allowed)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii")),
        Some(allowed)
    );
    drop(stream);

    // A preflight from the allowed origin for the publish API.
    let preflight = client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/publish", server.url),
        )
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("options");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(
        h.get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(allowed.as_bytes())
    );
    let methods = h
        .get("access-control-allow-methods")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");

    // Without the flag, no CORS headers for anybody.
    let plain = Server::start(&["serve"]);
    let resp = client()
        .get(format!("{}/api/", plain.url))
        .header("origin", allowed)
        .send()
        .await
        .expect("get");
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

/// Reads until the server closes the connection; what it sent, if anything.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closed the connection");
    got
}

#[tokio::test]
async fn slow_and_silent_clients_are_disconnected_after_the_header_timeout() {
    let server = Server::start(&[
        "serve",
        "--header-timeout",
        "300ms",
        "--max-connections",
        "2",
    ]);
    let addr = server.url.trim_start_matches("http://").to_string();

    // Half a head, then nothing: the two places are taken...
    let mut half = TcpStream::connect(&addr).await.expect("connect");
    half.write_all(b"GET /api/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut silent = TcpStream::connect(&addr).await.expect("connect");

    // ...and given back when the server hangs up on both.
    until_closed(&mut half).await;
    until_closed(&mut silent).await;
    let resp = tokio::time::timeout(WAIT, client().get(format!("{}/healthz", server.url)).send())
        .await
        .expect("answered")
        .expect("get");
    assert_eq!(resp.status(), 200, "the places were freed");

    // A client that completes its head in time is served as usual.
    let mut ok = TcpStream::connect(&addr).await.expect("connect");
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = until_closed(&mut ok).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A keep-alive connection left idle after its answer is closed too.
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answer = until_closed(&mut idle).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn a_head_over_the_size_limit_gets_431() {
    let server = Server::start(&["serve", "--max-header-bytes", "8192"]);
    let resp = client()
        .get(format!("{}/api/", server.url))
        .header("x-filler", "z".repeat(20_000))
        .send()
        .await;
    // Answered before the connection closes, in JSON like every error.
    let resp = resp.expect("an answer, not a reset");
    assert_eq!(resp.status(), 431);
    let body: serde_json::Value = resp.json().await.expect("a JSON body");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("8192")),
        "{body}"
    );
    let fine = client()
        .get(format!("{}/api/", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(fine.status(), 200);
}
