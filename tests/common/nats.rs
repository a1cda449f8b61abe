//! NATS helpers for the scale-out tests: a JetStream stream of its own on
//! the shared NATS (4222, never stopped), a throwaway `nats-server -js` for
//! fault tests, nodes on a NATS bus. Included with `#[path]` by
//! `tests/nats.rs` and `tests/bus_suite.rs`, next to `mod common` and
//! `redis_support` (publishing, metrics, names, node start-up and free
//! ports are the same for every bus and live there).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Server;
use crate::redis_support::{free_port, serve, unique_name};

/// The machine's shared NATS; tests only ever use their own stream on it.
pub const SHARED_NATS: &str = "nats://127.0.0.1:4222";

/// A stream name no other test uses; the stream and its lease bucket are
/// deleted on drop.
pub struct NatsStream {
    pub name: String,
    url: String,
}

impl NatsStream {
    pub fn new(tag: &str) -> NatsStream {
        Self::on(tag, SHARED_NATS)
    }

    pub fn on(tag: &str, url: &str) -> NatsStream {
        NatsStream {
            name: unique_name(tag),
            url: url.to_string(),
        }
    }

    /// Deletes the stream now (as an operator might), leaving the lease.
    pub fn delete_stream(&self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        on_runtime(async move {
            let js = async_nats::jetstream::new(async_nats::connect(url).await.ok()?);
            js.delete_stream(&name).await.ok()
        });
    }
}

impl Drop for NatsStream {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        on_runtime(async move {
            let client = tokio::time::timeout(Duration::from_secs(2), async_nats::connect(url))
                .await
                .ok()?
                .ok()?;
            let js = async_nats::jetstream::new(client);
            let _ = js.delete_stream(&name).await;
            let _ = js.delete_key_value(format!("{name}-lease")).await;
            Some(())
        });
    }
}

/// Runs `f` to completion on a runtime of its own, on a thread of its own
/// (callable from `Drop` inside a test's runtime).
fn on_runtime<F, T>(f: F)
where
    F: std::future::Future<Output = Option<T>> + Send + 'static,
    T: Send + 'static,
{
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    })
    .join();
}

/// A `nats-server -js` of the test's own, storing JetStream in `dir` so a
/// restart keeps the stream. Killed on drop.
pub struct NatsServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    pub fn start(dir: &Path) -> NatsServer {
        let mut s = NatsServer {
            port: free_port(),
            dir: dir.to_path_buf(),
            child: None,
        };
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it at once (SIGKILL): no chance to save anything more.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills it and starts it again on an empty store (a new JetStream
    /// directory): every stream is gone.
    pub fn restart_empty(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(self.dir.join("jetstream"));
        self.restart();
    }

    /// Starts it (again) on the same port and store, and waits until it
    /// answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server (apt-get install nats-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `livescore serve` on `bus` with `stream`, the publish API on, its own
/// in-memory database, and `extra` flags.
pub fn node(bus: &str, stream: &NatsStream, extra: &[&str]) -> Server {
    serve(bus, &["--nats-stream", &stream.name], extra)
}
