//! `/metrics` and `/healthz` through the real binary: the counters move as
//! clients connect and events flow, and health turns 503 (with the reason)
//! when the database or the bus goes away, and back to 200 when it returns.

mod common;
#[path = "common/pg_cluster.rs"]
mod pg_cluster;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{client, Server, SseStream};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "metrics-token";

async fn scrape(server: &Server) -> String {
    let resp = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("get /metrics");
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("text")
}

/// The value of the sample named exactly `series` (`name` or
/// `name{label="v"}`), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Scrapes until `series` satisfies `ok`, returning the last scrape.
async fn until(server: &Server, series: &str, ok: impl Fn(f64) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = scrape(server).await;
        if value(&text, series).is_some_and(&ok) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never got there: {:?}\n{text}",
            value(&text, series)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn publish(server: &Server, n: usize) -> Vec<String> {
    let http = client();
    let mut ids = Vec::new();
    for i in 0..n {
        let event = serde_json::json!({"topic": "news", "event": "flash", "data": {"i": i}});
        ids.push(common::publish_event(&http, &server.url, TOKEN, &event).await);
    }
    ids
}

#[tokio::test]
async fn counters_move_as_clients_connect_and_events_flow() {
    let server = Server::start(&["serve", "--publish-token", TOKEN]);
    let stream = format!("{}/api/stream?topic=news", server.url);

    let mut sse = SseStream::connect(&stream, None).await;
    let ws_url = format!("{}/ws", server.url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("websocket handshake");
    ws.send(Message::Text(
        r#"{"type":"subscribe","topics":["news"]}"#.into(),
    ))
    .await
    .expect("subscribe");
    let text = until(&server, "livescore_connections{transport=\"sse\"}", |v| {
        v == 1.0
    })
    .await;
    assert_eq!(
        value(&text, "livescore_connections{transport=\"ws\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "livescore_bus_connected"), Some(1.0), "{text}");
    // The `subscribed` reply: the WebSocket follows `news` from here.
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.expect("reply");
        if let Some(Ok(Message::Text(t))) = msg {
            if t.as_str().contains("subscribed") {
                break;
            }
        }
    }

    let ids = publish(&server, 5).await;
    for _ in 0..5 {
        sse.next_event(WAIT).await.expect("an event");
    }
    let mut got = 0;
    while got < 5 {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.expect("event");
        if let Some(Ok(Message::Text(t))) = msg {
            got += usize::from(t.as_str().contains("\"event\""));
        }
    }
    let text = until(
        &server,
        "livescore_events_delivered_total{transport=\"ws\"}",
        |v| v >= 5.0,
    )
    .await;
    assert!(
        value(&text, "livescore_events_total") >= Some(5.0),
        "{text}"
    );
    assert!(
        value(&text, "livescore_events_delivered_total{transport=\"sse\"}") >= Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "livescore_history_events{topic=\"news\"}"),
        Some(5.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            "livescore_http_request_duration_seconds_count{status=\"202\"}"
        ) >= Some(5.0),
        "publishes are timed: {text}"
    );
    assert!(
        !text.contains("livescore_http_request_duration_seconds_count{status=\"101\"}"),
        "long-lived streams are not in the latency histogram"
    );
    // The write-behind queue drains into the database.
    until(&server, "livescore_store_writes_total", |v| v >= 5.0).await;
    let text = until(&server, "livescore_store_queue", |v| v == 0.0).await;
    assert_eq!(
        value(&text, "livescore_store_write_errors_total").unwrap_or(0.0),
        0.0
    );

    // Each live delivery's publish→deliver delay, per transport.
    for transport in ["sse", "ws"] {
        let count =
            format!("livescore_delivery_latency_seconds_count{{transport=\"{transport}\"}}");
        let all = format!(
            "livescore_delivery_latency_seconds_bucket{{transport=\"{transport}\",le=\"+Inf\"}}"
        );
        assert_eq!(value(&text, &count), Some(5.0), "{text}");
        assert_eq!(value(&text, &all), Some(5.0), "{text}");
    }

    // A resume served from history, and a reset for an id it cannot honour.
    let mut resumed = SseStream::connect(&stream, Some(&ids[2])).await;
    for want in &ids[3..] {
        let got = resumed.next_event(WAIT).await.expect("resumed");
        assert_eq!(got.id.as_deref(), Some(&**want));
    }
    let mut reset = SseStream::connect(&stream, Some("not-an-id")).await;
    assert_eq!(reset.next_event(WAIT).await.expect("reset").event, "reset");
    let text = until(&server, "livescore_resumes_total", |v| v >= 1.0).await;
    assert_eq!(
        value(&text, "livescore_resets_total{reason=\"unknown\"}"),
        Some(1.0),
        "{text}"
    );
    // A replay of history is no delivery delay: the histogram did not move.
    assert!(
        value(&text, "livescore_events_delivered_total{transport=\"sse\"}") >= Some(7.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "livescore_delivery_latency_seconds_count{transport=\"sse\"}"
        ),
        Some(5.0),
        "{text}"
    );

    // Connections close: the gauges come back down.
    drop((sse, resumed, reset));
    ws.close(None).await.expect("close");
    drop(ws);
    until(&server, "livescore_connections{transport=\"sse\"}", |v| {
        v == 0.0
    })
    .await;
    until(&server, "livescore_connections{transport=\"ws\"}", |v| {
        v == 0.0
    })
    .await;
}

/// `/readyz` until its status is `code`; the last body. `/healthz` says
/// the same in its JSON and answers 200 throughout (the node serves).
async fn health_until(server: &Server, code: u16) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let resp = client()
            .get(format!("{}/readyz", server.url))
            .send()
            .await
            .expect("get /readyz");
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.expect("health is JSON either way");
        if status == code {
            let (live, health) = common::health(&server.url).await;
            assert_eq!(live, 200, "/healthz answers 200 while serving: {health}");
            assert_eq!(health["status"], body["status"], "{health}");
            return body;
        }
        assert!(Instant::now() < deadline, "never {code}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn has_reason(health: &serde_json::Value, reason: &str) -> bool {
    health["reasons"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x == reason))
}

#[tokio::test]
async fn ready_is_503_with_the_reason_while_postgres_is_down() {
    let cluster = pg_cluster::Cluster::new();
    let server = Server::start(&["serve", "--database-url", &cluster.url()]);
    let ok = health_until(&server, 200).await;
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["database"]["reachable"], true, "{ok}");

    cluster.stop();
    let down = health_until(&server, 503).await;
    assert_eq!(down["status"], "degraded", "{down}");
    assert!(has_reason(&down, "database unreachable"), "{down}");
    assert_eq!(down["database"]["reachable"], false, "{down}");
    assert_eq!(down["bus"]["connected"], true, "{down}");

    cluster.start();
    let back = health_until(&server, 200).await;
    assert!(back.get("reasons").is_none(), "{back}");
}

/// A throwaway redis-server on a free port, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn ready_is_503_with_the_reason_while_the_bus_is_down() {
    let redis = Redis::start();
    let prefix = format!("metrics-{}", std::process::id());
    let server = Server::start(&["serve", "--bus", &redis.url(), "--redis-prefix", &prefix]);
    let ok = health_until(&server, 200).await;
    assert_eq!(ok["bus"]["connected"], true, "{ok}");

    drop(redis);
    let down = health_until(&server, 503).await;
    assert!(has_reason(&down, "bus disconnected"), "{down}");
    assert_eq!(down["bus"]["connected"], false, "{down}");
    let text = scrape(&server).await;
    assert_eq!(value(&text, "livescore_bus_connected"), Some(0.0), "{text}");
}

/// Every metric name in an expression: `livescore_` and what follows.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("livescore_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// The dashboard in deploy/grafana/ queries only metrics a fresh node
/// exports: a renamed or removed metric fails here, not on an operator's
/// empty panel. Counters and gauges are declared from the start (at 0),
/// so nothing has to happen first but one request (for the histogram).
#[tokio::test]
async fn the_grafana_dashboard_queries_only_metrics_the_server_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/livescore.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("json");
    let mut queried = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{} queries nothing", panel["title"]);
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr}");
            queried.extend(names);
        }
    }
    assert!(queried.len() >= 20, "{queried:?}");

    let server = Server::start(&["serve"]);
    common::get_text(format!("{}/healthz", server.url)).await;
    let text = scrape(&server).await;
    let missing: Vec<_> = queried
        .iter()
        .filter(|name| {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            !text.contains(&format!("# TYPE {base} "))
        })
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}\n{text}");
}
