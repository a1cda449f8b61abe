//! Real nginx (Debian's package) running `deploy/nginx.conf`, with only its
//! ports swapped for the test's, in front of two nodes on one Redis bus:
//! SSE comes through unbuffered and the WebSocket upgrade works.

mod common;
#[path = "common/redis.rs"]
mod redis_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use common::{SseStream, TempDir};
use redis_support::{free_port, node, publish, RedisPrefix, SHARED_REDIS};

/// Guards against a hang only; an event held in a buffer would never come.
const WAIT: Duration = Duration::from_secs(10);

/// nginx in the foreground on `port`, proxying to `nodes`; killed on drop.
struct Nginx {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Nginx {
    fn start(nodes: &[&str]) -> Nginx {
        let dir = TempDir::new("nginx");
        let port = free_port();
        let conf = adapt(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))
                .expect("deploy/nginx.conf"),
            port,
            nodes,
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write conf");
        let globals = format!(
            "daemon off; pid {}; user root;",
            dir.path().join("nginx.pid").display()
        );
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .args(["-g", &globals])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (apt-get install nginx; .ci/run does)");
        let mut nginx = Nginx { child, port, dir };
        nginx.wait_listening();
        nginx
    }

    fn wait_listening(&mut self) {
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}): {}", self.error_log());
            }
            assert!(std::time::Instant::now() < deadline, "nginx did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    /// SIGTERM to the master, which takes its workers down with it (a
    /// SIGKILL would leave them running); SIGKILL only if it hangs.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The deploy config with `listen` on `port` and the upstream's `server`
/// lines pointing at `nodes` (`http://host:port`). Everything else as
/// shipped, so the test checks the real file.
fn adapt(conf: &str, port: u16, nodes: &[&str]) -> String {
    let mut out = String::new();
    let mut nodes_written = false;
    for line in conf.lines() {
        let t = line.trim_start();
        if t.starts_with("listen ") {
            out.push_str(&format!("        listen 127.0.0.1:{port};\n"));
        } else if t.starts_with("server 127.0.0.1:") {
            if !nodes_written {
                for n in nodes {
                    let addr = n.trim_start_matches("http://");
                    out.push_str(&format!(
                        "        server {addr} max_fails=1 fail_timeout=5s;\n"
                    ));
                }
                nodes_written = true;
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(nodes_written, "deploy/nginx.conf has upstream server lines");
    out
}

#[test]
fn the_shipped_config_is_adapted_only_in_ports() {
    let conf = include_str!("../deploy/nginx.conf");
    let adapted = adapt(conf, 1234, &["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    assert!(adapted.contains("listen 127.0.0.1:1234;"));
    assert!(adapted.contains("server 127.0.0.1:2 max_fails"));
    assert!(adapted.contains("proxy_buffering off;"));
    assert!(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/README.md")).exists());
}

#[tokio::test]
async fn sse_and_websocket_pass_through_nginx_unbuffered() {
    let prefix = RedisPrefix::new("nginx");
    let a = node(SHARED_REDIS, &prefix, &[]);
    let b = node(SHARED_REDIS, &prefix, &[]);
    let nginx = Nginx::start(&[&a.url, &b.url]);

    // SSE through nginx: an event published on a node arrives at once,
    // whichever node nginx picked. A buffering proxy would hold it (and the
    // headers) until its buffer filled or the stream ended.
    let mut sse = SseStream::connect(&format!("{}/api/stream?topic=news", nginx.url()), None).await;
    assert_eq!(sse.headers["content-type"], "text/event-stream");
    for (n, via) in [(1, &a), (2, &b)] {
        let id = publish(&via.url, "news", serde_json::json!({ "n": n })).await;
        let ev = loop {
            let ev = sse.next_event(WAIT).await.expect("stream open");
            if ev.event == "flash" {
                break ev;
            }
        };
        assert_eq!(ev.id.as_deref(), Some(id.as_str()), "{}", nginx.error_log());
    }

    // Publishing through nginx works too.
    let via_proxy = publish(&nginx.url(), "news", serde_json::json!({ "n": 3 })).await;
    let ev = sse.next_event(WAIT).await.expect("stream open");
    assert_eq!(ev.id.as_deref(), Some(via_proxy.as_str()));

    // WebSocket upgrade through nginx, then a live event over it.
    let ws_url = format!("ws://127.0.0.1:{}/ws", nginx.port);
    let (mut ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(ws_url))
        .await
        .expect("no hang")
        .expect("websocket upgrade through nginx");
    assert_eq!(resp.status(), 101);
    let sub = serde_json::json!({"type": "subscribe", "topics": ["news"]});
    ws.send(Message::Text(sub.to_string().into()))
        .await
        .expect("send");
    let mut next_json = async || loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("websocket message in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str::<serde_json::Value>(&t).expect("json");
        }
    };
    assert_eq!(next_json().await["type"], "subscribed");
    let id = publish(&a.url, "news", serde_json::json!({ "n": 4 })).await;
    let ev = next_json().await;
    assert_eq!(ev["type"], "event");
    assert_eq!(ev["id"], id.as_str());
}

/// Issue "five holes" #5 through real nginx and the shipped config:
/// `--max-connections-per-ip 2 --trusted-proxies 127.0.0.1` caps each
/// visitor (by the `X-Forwarded-For` nginx sets), not nginx: eleven
/// visitors (127.0.0.2 to .12) hold two streams each, and a visitor's
/// third is refused with 429.
#[tokio::test]
async fn behind_nginx_the_per_address_cap_is_each_visitors() {
    let node = common::Server::start(&[
        "serve",
        "--max-connections-per-ip",
        "2",
        "--trusted-proxies",
        "127.0.0.1",
    ]);
    let nginx = Nginx::start(&[&node.url]);
    let stream =
        "GET /api/stream?topic=news HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
    let mut held = Vec::new();
    for n in 2..=12 {
        let visitor = format!("127.0.0.{n}");
        for _ in 0..2 {
            let (conn, status) = common::open_from(&nginx.url(), &visitor, stream).await;
            assert!(
                status.contains(" 200 "),
                "{visitor}: {status} {}",
                nginx.error_log()
            );
            held.push(conn);
        }
    }
    let (_c, status) = common::open_from(&nginx.url(), "127.0.0.2", stream).await;
    assert!(status.contains(" 429 "), "the third: {status}");
    // Another visitor is still served.
    let (_c, status) = common::open_from(&nginx.url(), "127.0.0.13", stream).await;
    assert!(status.contains(" 200 "), "{status}");
}
