//! Reconnect storms through the real binary: each SSE stream opens with a
//! `retry:` of its own within `--retry-min`..`--retry-max`, bad values are
//! refused with the reason, and while a burst of new connections is paced
//! (`--accept-rate`) a stream already open keeps getting every event.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{metric_in, wait_until, Server, SseItem, SseStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn every_stream_opens_with_a_retry_of_its_own_within_the_range() {
    let server = Server::start(&["serve", "--retry-min", "1200ms", "--retry-max", "4800ms"]);
    let mut retries = Vec::new();
    for path in ["/api/stream?topic=scores", "/api/livescore"] {
        for _ in 0..6 {
            let mut sse = SseStream::connect(&format!("{}{path}", server.url), None).await;
            match sse.next_item(WAIT).await {
                Some(SseItem::Retry(ms)) => retries.push(ms),
                other => panic!("{path} opens with {other:?}, not retry:"),
            }
        }
    }
    assert!(
        retries.iter().all(|ms| (1200..=4800).contains(ms)),
        "{retries:?}"
    );
    assert!(
        retries.iter().any(|ms| *ms != retries[0]),
        "twelve streams, one value: {retries:?}"
    );
}

fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args(args)
        .args(["--addr", "127.0.0.1:0", "--database-url", "sqlite::memory:"])
        .output()
        .expect("run livescore");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_retry_and_accept_flags_are_refused_with_the_reason() {
    let (code, stderr) = refused(&["serve", "--retry-min", "6s", "--retry-max", "2s"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--retry-min") && stderr.contains("--retry-max"),
        "{stderr}"
    );
    // The default maximum (5 s) is below a minimum given alone.
    let (code, stderr) = refused(&["serve", "--retry-min", "10s"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("above --retry-max"), "{stderr}");
    for (flag, value) in [
        ("--retry-min", "soon"),
        ("--retry-max", "-1s"),
        ("--accept-rate", "-5"),
        ("--accept-rate", "fast"),
        ("--accept-burst", "0"),
    ] {
        let (code, stderr) = refused(&["serve", &format!("{flag}={value}")]);
        assert_eq!(code, Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
    }
}

/// A burst of new connections far past `--accept-rate` waits in the
/// kernel's backlog; the stream already open gets every event published
/// meanwhile (over a publish connection also opened before the burst),
/// and every connection of the burst is served in the end.
#[tokio::test]
async fn a_paced_burst_of_connections_starves_no_stream_already_open() {
    let token = "storm-test-token";
    let server = Server::start(&[
        "serve",
        "--publish-token",
        token,
        "--accept-rate",
        "20",
        "--accept-burst",
        "2",
    ]);
    let topic = "storm/paced";
    // The stream and the publisher's keep-alive connection: the bucket's
    // two tokens.
    let mut sse =
        SseStream::connect(&format!("{}/api/stream?topic={topic}", server.url), None).await;
    assert!(matches!(sse.next_item(WAIT).await, Some(SseItem::Retry(_))));
    let publisher = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let publish = |n: usize| {
        let publisher = publisher.clone();
        let url = format!("{}/api/publish", server.url);
        async move {
            let resp = publisher
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"topic": topic, "event": "n", "data": {"n": n}}))
                .send()
                .await
                .expect("publish");
            assert_eq!(resp.status(), 202, "publish {n}");
        }
    };
    publish(0).await;

    // The burst: 100 connections at 20 a second take about 5 s to be taken.
    const BURST: usize = 100;
    let addr = server.url.trim_start_matches("http://").to_string();
    let answered = Arc::new(AtomicUsize::new(0));
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let (addr, answered) = (addr.clone(), answered.clone());
        burst.spawn(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .expect("send");
            let mut head = [0u8; 12];
            s.read_exact(&mut head).await.expect("answer");
            assert_eq!(&head, b"HTTP/1.1 200", "a paced connection is served");
            answered.fetch_add(1, Ordering::Relaxed);
        });
    }
    for n in 1..=20 {
        publish(n).await;
    }
    let mut got = Vec::new();
    while got.len() < 21 {
        match sse.next_event(WAIT).await {
            Some(ev) if ev.event == "n" => {
                let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
                got.push(v["n"].as_u64().expect("n"));
            }
            Some(_) => {}
            None => panic!("the stream ended during the burst after {got:?}"),
        }
    }
    assert_eq!(got, (0..=20).collect::<Vec<u64>>(), "every event, in order");

    // The bucket did hold the burst back (read over the publisher's
    // connection, which is not paced again).
    let metrics = publisher
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metric_in(&metrics, "livescore_accepts_paced_total") > 0.0,
        "no connection waited: {metrics}"
    );
    // And nobody was turned away: the whole burst is served.
    wait_until(
        "the whole burst is answered",
        Duration::from_secs(60),
        || {
            let n = answered.load(Ordering::Relaxed);
            async move { n == BURST }
        },
    )
    .await;
    while let Some(done) = burst.join_next().await {
        done.expect("a burst connection failed");
    }
}
