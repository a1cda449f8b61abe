//! Test helpers: run the real binary on a free port, talk to it over HTTP,
//! read SSE like a browser does.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;

/// A running `livescore` process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Runs `livescore ARGS --addr 127.0.0.1:0` and waits for its
    /// `listening on` line.
    pub fn start(args: &[&str]) -> Server {
        Self::start_in(args, &std::env::temp_dir())
    }

    pub fn start_in(args: &[&str], dir: &Path) -> Server {
        Self::start_with(args, dir, None, &[])
    }

    /// As [`Server::start`], with environment changes: `(name, Some(v))`
    /// sets, `(name, None)` removes (after the defaults below).
    #[allow(dead_code)]
    pub fn start_env(args: &[&str], env: &[(&str, Option<&str>)]) -> Server {
        Self::start_with(args, &std::env::temp_dir(), None, env)
    }

    /// As [`Server::start`], with the open-files limit (soft and hard) set
    /// to `nofile`: how a node behaves when descriptors are scarce.
    pub fn start_with_nofile(args: &[&str], nofile: u64) -> Server {
        Self::start_with(args, &std::env::temp_dir(), Some(nofile), &[])
    }

    // The child moves into `Server`, whose Drop kills and waits for it.
    #[allow(clippy::zombie_processes)]
    fn start_with(
        args: &[&str],
        dir: &Path,
        nofile: Option<u64>,
        env: &[(&str, Option<&str>)],
    ) -> Server {
        let bin = env!("CARGO_BIN_EXE_livescore");
        // `prlimit` (util-linux) sets the limit and execs the server in
        // its place: same pid, no unsafe `pre_exec` here.
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(bin);
                c
            }
            None => Command::new(bin),
        };
        // Each server owns its database: a private in-memory one unless
        // the test passes --database-url (a flag beats the env var).
        // Without this, servers started in the same directory would
        // share ./livescore.db and resume each other's state.
        cmd.env("DATABASE_URL", "sqlite::memory:")
            .env("LIVESCORE_LOG", "info");
        for (name, value) in env {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        let mut child = cmd
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .current_dir(dir)
            // Never the test runner's: a server must not depend on the
            // terminal it was started from (CI has none).
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn livescore");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let err_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().expect("stderr lock");
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        loop {
            line.clear();
            let n = out.read_line(&mut line).expect("read stdout");
            if n == 0 {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "livescore exited before listening: {}",
                    stderr.lock().expect("lock")
                );
            }
            if let Some(rest) = line.trim().strip_prefix("livescore listening on ") {
                let url = rest.to_string();
                // Keep draining stdout so the child never blocks on a full pipe.
                std::thread::spawn(move || for _ in out.lines() {});
                return Server { child, url, stderr };
            }
        }
    }

    /// Sends the server a SIGHUP (a config reload).
    #[allow(dead_code)]
    pub fn hup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The resident memory once it has stopped moving (three readings
    /// 250 ms apart within 16 KiB): what a memory figure is read from, in
    /// place of a guessed pause after the connections it measures.
    pub async fn settled_rss_kib(&self) -> u64 {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut last = [self.rss_kib(), 0, u64::MAX];
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            last = [self.rss_kib(), last[0], last[1]];
            let (lo, hi) = (last.iter().min(), last.iter().max());
            let steady = matches!((lo, hi), (Some(lo), Some(hi)) if hi - lo <= 16);
            if steady || std::time::Instant::now() > deadline {
                return last[0];
            }
        }
    }

    /// The server's resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Publishes one event (`{"topic","event","data"}`) to the node at `base`
/// with the publish `token`; it must be accepted (202). Returns its id.
pub async fn publish_event(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    event: &serde_json::Value,
) -> String {
    let resp = http
        .post(format!("{base}/api/publish"))
        .bearer_auth(token)
        .json(event)
        .send()
        .await
        .expect("publish");
    assert_eq!(resp.status(), 202);
    let v: serde_json::Value = resp.json().await.expect("json");
    v["id"].as_str().expect("id").to_string()
}

/// `/healthz` as (status, body), whatever the status: 503 is an answer
/// too (database or bus down, shutting down), with the same JSON.
pub async fn health(base: &str) -> (u16, serde_json::Value) {
    let resp = client()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("get /healthz");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("health is JSON"))
}

/// One SSE event as the WHATWG parser sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// What an SSE stream yields: events, comments and retry lines.
#[derive(Debug, Clone, PartialEq)]
pub enum SseItem {
    Event(SseEvent),
    Comment(String),
    Retry(u64),
}

/// A minimal WHATWG-conformant SSE reader over a reqwest response.
pub struct SseStream {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<SseItem>,
    cur: SseEvent,
    has_data: bool,
    pub headers: reqwest::header::HeaderMap,
}

impl SseStream {
    pub async fn connect(url: &str, last_event_id: Option<&str>) -> SseStream {
        let mut req = client().get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.expect("connect sse");
        Self::from_response(resp)
    }

    /// A stream over a response the test requested itself (its own
    /// headers); it must be a 200.
    pub fn from_response(resp: reqwest::Response) -> SseStream {
        assert_eq!(resp.status(), 200, "sse status");
        SseStream {
            headers: resp.headers().clone(),
            body: resp.bytes_stream().boxed(),
            buf: Vec::new(),
            pending: Default::default(),
            cur: SseEvent::default(),
            has_data: false,
        }
    }

    /// The next item, or None at the end of the stream; panics after `wait`.
    pub async fn next_item(&mut self, wait: Duration) -> Option<SseItem> {
        tokio::time::timeout(wait, self.next_inner())
            .await
            .expect("timed out waiting for an SSE item")
    }

    /// The next event (skipping comments and retry lines); panics when
    /// none comes within `wait` (keep-alive comments do not extend it).
    pub async fn next_event(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_item(left).await? {
                SseItem::Event(e) => return Some(e),
                _ => continue,
            }
        }
    }

    async fn next_inner(&mut self) -> Option<SseItem> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            let chunk = self.body.next().await?.ok()?;
            self.buf.extend_from_slice(&chunk);
            self.parse_lines();
        }
    }

    fn parse_lines(&mut self) {
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
            let skip = if self.buf[pos] == b'\r' && self.buf.get(pos + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            self.buf.drain(..pos + skip);
            if line.is_empty() {
                if self.has_data {
                    let mut ev = std::mem::take(&mut self.cur);
                    if ev.data.ends_with('\n') {
                        ev.data.pop();
                    }
                    if ev.event.is_empty() {
                        ev.event = "message".into();
                    }
                    self.pending.push_back(SseItem::Event(ev));
                } else {
                    self.cur = SseEvent::default();
                }
                self.has_data = false;
                continue;
            }
            if let Some(c) = line.strip_prefix(':') {
                self.pending
                    .push_back(SseItem::Comment(c.trim().to_string()));
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()),
                None => (line.clone(), String::new()),
            };
            match field.as_str() {
                "id" => self.cur.id = Some(value),
                "event" => self.cur.event = value,
                "data" => {
                    self.cur.data.push_str(&value);
                    self.cur.data.push('\n');
                    self.has_data = true;
                }
                "retry" => {
                    if let Ok(ms) = value.parse() {
                        self.pending.push_back(SseItem::Retry(ms));
                    }
                }
                _ => {}
            }
        }
    }
}

/// `<epoch>-<seq>` split for ordering checks.
pub fn id_parts(id: &str) -> (String, u64) {
    let (e, s) = id.split_once('-').expect("id has a dash");
    (e.to_string(), s.parse().expect("seq is a number"))
}

/// The official finals from the shipped fixture: eid -> (home, away).
pub fn official_finals() -> std::collections::BTreeMap<String, (u64, u64)> {
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/livescore/data/nfl-2015-week1.json"
    ))
    .expect("fixture");
    let v: serde_json::Value = serde_json::from_slice(&raw).expect("fixture json");
    v["games"]
        .as_array()
        .expect("games")
        .iter()
        .map(|g| {
            (
                g["eid"].as_str().expect("eid").to_string(),
                (
                    g["home"]["final"].as_u64().expect("home"),
                    g["away"]["final"].as_u64().expect("away"),
                ),
            )
        })
        .collect()
}

/// eid -> (home, away, state) from a JSON game list.
pub fn board(games: &serde_json::Value) -> std::collections::BTreeMap<String, (u64, u64, String)> {
    games
        .as_array()
        .expect("game list")
        .iter()
        .map(|g| {
            (
                g["eid"].as_str().expect("eid").to_string(),
                (
                    g["home"]["score"].as_u64().expect("home score"),
                    g["away"]["score"].as_u64().expect("away score"),
                    g["state"].as_str().expect("state").to_string(),
                ),
            )
        })
        .collect()
}

/// A PostgreSQL schema of its own on the machine's shared server, dropped
/// (with everything in it) when this is dropped, even after a failed test.
pub struct PgSchema {
    pub name: String,
    /// URL whose connections use only this schema.
    pub url: String,
}

/// The shared PostgreSQL every test may use (trust auth).
pub const PG_BASE: &str = "postgres://postgres@127.0.0.1:5432/test";

impl PgSchema {
    pub fn new() -> PgSchema {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let name = format!("ls_{}_{n}_{nanos}", std::process::id());
        psql(PG_BASE, &format!("CREATE SCHEMA {name}"));
        let url = format!("{PG_BASE}?options=-csearch_path%3D{name}");
        PgSchema { name, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                PG_BASE,
                "-qc",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs one SQL statement with psql, panicking with its output on failure.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qtAc", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A directory of its own under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("livescore-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// GETs `url`, which must answer, and parses the body as JSON (the type
/// comes from the caller).
pub async fn get_json<T: serde::de::DeserializeOwned>(url: impl reqwest::IntoUrl) -> T {
    client()
        .get(url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("a JSON body")
}

/// GETs `url`, which must answer, and returns the body as text.
pub async fn get_text(url: impl reqwest::IntoUrl) -> String {
    client()
        .get(url)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("a text body")
}

/// The eids of the week `base` serves, once its feed has been polled (all
/// 16 games of the fixtures); panics after `wait`.
pub async fn polled_eids(base: &str, wait: Duration) -> Vec<String> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let week: serde_json::Value = get_json(format!("{base}/api/")).await;
        let eids: Vec<String> = week["games"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|g| g["eid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if eids.len() == 16 {
            return eids;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the feed was never polled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/api/stream` on `scores` and every game of `eids`.
pub fn scores_and_games_url(base: &str, eids: &[String]) -> String {
    let mut url = format!("{base}/api/stream?topic=scores");
    for eid in eids {
        url.push_str(&format!("&topic=game/{eid}"));
    }
    url
}

/// True for the data of a `scores` update whose every game is over.
pub fn all_final(data: &serde_json::Value) -> bool {
    data.as_array().is_some_and(|games| {
        games
            .iter()
            .all(|g| g["state"] == "final" || g["state"] == "final_overtime")
    })
}

/// Waits until `check` (polled every 20 ms) is true, failing the test
/// with `what` after `wait`: a condition to wait on, not a guessed sleep.
pub async fn wait_until<F, Fut>(what: &str, wait: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + wait;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sum of the samples of `series` in a `/metrics` text: `series` is a
/// name (every label set counts) or a name with its exact labels. Every
/// counter is exported at 0 from the start, so presence says nothing.
#[allow(dead_code)]
pub fn metric_in(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(series).is_some_and(|r| {
                r.starts_with(' ') || (!series.ends_with('}') && r.starts_with('{'))
            })
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `claims` signed HS256 with `secret`, as an identity provider would,
/// valid for an hour from now (`exp` added).
pub fn hs256_for_an_hour(secret: &str, mut claims: serde_json::Value) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    claims["exp"] = exp.into();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

/// A request head sent on a new connection from `from` (a loopback
/// address such as `127.0.0.2`, so one machine plays several clients) to
/// `base` (`http://host:port`), and the status line of its answer; the
/// connection stays open while it is held (an SSE stream goes on).
pub async fn open_from(base: &str, from: &str, head: &str) -> (tokio::net::TcpStream, String) {
    use tokio::io::AsyncWriteExt;
    let addr: std::net::SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .expect("an address");
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind(format!("{from}:0").parse().expect("local address"))
        .expect("bind");
    let mut conn = sock.connect(addr).await.expect("connect");
    conn.write_all(head.as_bytes()).await.expect("send");
    let status = read_status(&mut conn).await;
    (conn, status)
}

/// The status line of the next answer on `conn`, its head read whole (and
/// nothing after it).
pub async fn read_status(conn: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut byte))
            .await
            .expect("answered, not hung")
            .expect("read");
        assert!(
            n == 1,
            "closed without an answer after {:?}",
            String::from_utf8_lossy(&got)
        );
        got.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    text.lines().next().unwrap_or_default().to_string()
}
