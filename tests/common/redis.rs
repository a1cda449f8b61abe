//! Redis helpers for the scale-out tests: a key prefix of its own on the
//! shared Redis (6379, never stopped), a throwaway redis-server for fault
//! tests, nodes on a shared bus; and what every bus shares (publishing,
//! metrics, reading `flash` events, bus health, unique names, free ports).
//! Included with `#[path]` by `tests/redis.rs`, `tests/nats.rs`,
//! `tests/bus_suite.rs` and `tests/nginx.rs`, next to `mod common`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{client, Server, SseStream};

/// The machine's shared Redis; tests only ever use their own prefix on it.
pub const SHARED_REDIS: &str = "redis://127.0.0.1:6379";
/// The publish token every node in these tests is started with.
pub const TOKEN: &str = "scale-out-test-token";
/// How long a scale-out test waits for any one event.
pub const WAIT: Duration = Duration::from_secs(20);

/// A name no other test (or test run) uses: a Redis prefix, a NATS stream.
pub fn unique_name(tag: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    format!("lstest-{tag}-{}-{n}-{nanos}", std::process::id())
}

/// A key prefix no other test uses; its keys are deleted on drop.
pub struct RedisPrefix {
    pub name: String,
    port: u16,
}

impl RedisPrefix {
    pub fn new(tag: &str) -> RedisPrefix {
        Self::on_port(tag, 6379)
    }

    pub fn on_port(tag: &str, port: u16) -> RedisPrefix {
        RedisPrefix {
            name: unique_name(tag),
            port,
        }
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let script = format!(
            "redis-cli -p {port} --scan --pattern '{p}:*' | xargs -r redis-cli -p {port} del",
            port = self.port,
            p = self.name
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A redis-server of the test's own, persisting to an append-only file in
/// `dir` so a restart keeps the stream (or, `volatile`, keeping nothing,
/// as a cache-style Redis does). Killed on drop.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    persist: bool,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start(dir: &Path) -> RedisServer {
        Self::start_with(dir, true)
    }

    /// No AOF, no RDB: every restart starts empty.
    pub fn start_volatile(dir: &Path) -> RedisServer {
        Self::start_with(dir, false)
    }

    fn start_with(dir: &Path, persist: bool) -> RedisServer {
        let mut s = RedisServer {
            port: free_port(),
            dir: dir.to_path_buf(),
            persist,
            child: None,
        };
        s.restart();
        s
    }

    /// Kills it and starts it again with nothing: its files deleted too.
    pub fn restart_empty(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(self.dir.join("appendonlydir"));
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        self.restart();
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it at once (SIGKILL): no chance to save anything more.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                if self.persist { "yes" } else { "no" },
                "--appendfsync",
                "always",
                "--dir",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pong = Command::new("redis-cli")
                .args(["-p", &self.port.to_string(), "ping"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
                .unwrap_or(false);
            if pong {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `livescore serve` on `bus` under `prefix`, with the publish API on, its
/// own in-memory database, and `extra` flags.
pub fn node(bus: &str, prefix: &RedisPrefix, extra: &[&str]) -> Server {
    serve(bus, &["--redis-prefix", &prefix.name], extra)
}

/// `livescore serve --bus BUS BUS_FLAGS` with the publish API on, its own
/// in-memory database, and `extra` flags (any bus, memory included).
pub fn serve(bus: &str, bus_flags: &[&str], extra: &[&str]) -> Server {
    let mut args = vec!["serve", "--bus", bus];
    args.extend_from_slice(bus_flags);
    args.extend_from_slice(&[
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
    ]);
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// `{base}/api/stream?topic={topic}`.
pub fn stream_url(base: &str, topic: &str) -> String {
    format!("{base}/api/stream?topic={topic}")
}

/// The next `flash` event's (id, n); skips anything else (keep-alives),
/// failing on a reset.
pub async fn next_flash(sse: &mut SseStream) -> (String, u64) {
    loop {
        let ev = sse.next_event(WAIT).await.expect("stream open");
        if ev.event == "flash" {
            let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
            return (ev.id.expect("id"), v["n"].as_u64().expect("n"));
        }
        assert_ne!(ev.event, "reset", "unexpected reset: {}", ev.data);
    }
}

/// The next `flash` event's (id, n), allowing an epoch `reset` before it:
/// a client that connected while its node was still taking in a new bus
/// history is told so when the node gets there.
pub async fn next_flash_across_epoch(sse: &mut SseStream) -> (String, u64) {
    loop {
        let ev = sse.next_event(WAIT).await.expect("stream open");
        if ev.event == "reset" {
            let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
            assert_eq!(v["reason"], "epoch", "unexpected reset: {}", ev.data);
            continue;
        }
        if ev.event == "flash" {
            let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
            return (ev.id.expect("id"), v["n"].as_u64().expect("n"));
        }
    }
}

/// The `bus` part of `base`'s `/healthz` (503 while the bus is down).
pub async fn bus_health(base: &str) -> serde_json::Value {
    crate::common::health(base).await.1["bus"].clone()
}

/// Publishes `data` as `flash` on `topic` through `base`'s publish API;
/// the event id.
pub async fn publish(base: &str, topic: &str, data: serde_json::Value) -> String {
    let body = serde_json::json!({"topic": topic, "event": "flash", "data": data});
    let resp = client()
        .post(format!("{base}/api/publish"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("post publish");
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("json answer");
    assert_eq!(status, 202, "publish answered {status}: {body}");
    body["id"].as_str().expect("id").to_string()
}

/// The sum of every sample of metric `name` on `base`'s `/metrics`.
pub async fn metric_sum(base: &str, name: &str) -> f64 {
    let text = crate::common::get_text(format!("{base}/metrics")).await;
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
