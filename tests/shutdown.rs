//! Graceful shutdown of the real binary on SIGTERM, with clients connected
//! and events in flight: SSE bodies end cleanly (no transport error, so
//! EventSource reconnects), WebSockets get close 1001, the process exits 0
//! within `--shutdown-timeout`, and every event whose publish was accepted
//! before the signal is in the SQLite database afterwards.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{client, Server, TempDir};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "shutdown-test-token";
/// Events published right before the signal, from several tasks at once so
/// some are still queued for the database when it arrives.
const EVENTS: usize = 400;
const PUBLISHERS: usize = 8;

fn signal(server: &Server, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig}");
}

/// (epoch as printed in ids, seq) of an id `<hex epoch>-<seq>`.
fn split(id: &str) -> (i64, i64) {
    let (e, s) = id.split_once('-').expect("id has a dash");
    (
        i64::from_str_radix(e, 16).expect("hex epoch"),
        s.parse().expect("seq"),
    )
}

#[tokio::test]
async fn sigterm_ends_streams_cleanly_flushes_the_database_and_exits_in_time() {
    let dir = TempDir::new("shutdown");
    let db_path = dir.path().join("events.db");
    let db_url = format!("sqlite://{}", db_path.display());
    let mut server = Server::start(&[
        "serve",
        "--publish-token",
        TOKEN,
        "--database-url",
        &db_url,
        "--shutdown-timeout",
        "10s",
    ]);

    // An SSE client, read raw so a transport error is told apart from an end.
    let resp = client()
        .get(format!("{}/api/stream?topic=news", server.url))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("connect sse");
    assert_eq!(resp.status(), 200);
    let mut sse = resp.bytes_stream();
    let first = tokio::time::timeout(WAIT, sse.next())
        .await
        .expect("the retry line comes at once")
        .expect("stream open")
        .expect("no error");
    assert!(first.starts_with(b"retry:"), "{first:?}");

    // A WebSocket client following the same topic.
    let ws_url = format!("{}/ws", server.url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("websocket handshake");
    ws.send(Message::Text(
        r#"{"type":"subscribe","topics":["news"]}"#.into(),
    ))
    .await
    .expect("subscribe");

    // Publish from several tasks at once; every 202 is an event the bus
    // took, so it must end up in the database.
    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        let url = format!("{}/api/publish", server.url);
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut ids = Vec::new();
            for i in 0..EVENTS / PUBLISHERS {
                let resp = http
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&serde_json::json!({"topic": "news", "event": "flash", "data": {"p": p, "i": i}}))
                    .send()
                    .await
                    .expect("publish");
                assert_eq!(resp.status(), 202);
                let body: serde_json::Value = resp.json().await.expect("json");
                ids.push(body["id"].as_str().expect("id").to_string());
            }
            ids
        }));
    }
    let mut published = BTreeSet::new();
    for t in tasks {
        published.extend(t.await.expect("publisher").iter().map(|id| split(id)));
    }
    assert_eq!(published.len(), EVENTS);

    let signalled = Instant::now();
    signal(&server, "-TERM");

    // SSE: the body ends without a transport error.
    let sse_end = async {
        let mut bytes = 0usize;
        while let Some(chunk) = sse.next().await {
            bytes += chunk
                .expect("the SSE body ends cleanly, not with an error")
                .len();
        }
        bytes
    };
    let got = tokio::time::timeout(WAIT, sse_end)
        .await
        .expect("the SSE stream ends on shutdown");
    assert!(got > 0, "events were streamed before the end");

    // WebSocket: a close frame with 1001 going away.
    let close = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("websocket error before the close: {e}"),
                None => return None,
            }
        }
    })
    .await
    .expect("the websocket is closed on shutdown");
    assert_eq!(close, Some(CloseCode::Away));

    // The process exits 0 within the bound (10 s, plus start-up slack).
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(15),
            "still running {:?} after SIGTERM:\n{}",
            signalled.elapsed(),
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "exit status {status:?}:\n{}",
        server.logs()
    );
    let logs = server.logs();
    assert!(!logs.contains("deadline"), "a clean stop:\n{logs}");

    // Every accepted event is in the database.
    let pool = sqlx::SqlitePool::connect(&db_url).await.expect("open db");
    let stored: BTreeSet<(i64, i64)> =
        sqlx::query_as::<_, (i64, i64)>("SELECT epoch, seq FROM events WHERE topic = 'news'")
            .fetch_all(&pool)
            .await
            .expect("query")
            .into_iter()
            .collect();
    pool.close().await;
    let missing: Vec<_> = published.difference(&stored).collect();
    assert!(missing.is_empty(), "not stored: {missing:?}");
}

#[tokio::test]
async fn ctrl_c_stops_an_idle_server_at_once_with_status_0() {
    let mut server = Server::start(&["serve"]);
    signal(&server, "-INT");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGINT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}:\n{}", server.logs());
    assert!(
        server.logs().contains("stopped accepting"),
        "{}",
        server.logs()
    );
}
