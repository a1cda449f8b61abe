//! A PostgreSQL cluster of this test's own (initdb on a free port), stopped
//! and started again while the demo publishes: the stream never stops and
//! every event a client saw ends up in the database.

mod common;
mod persistence_support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, SseStream, TempDir};
use persistence_support::{
    all_final, get_json, read_until, scores_seen, stream_url, wait_written, Seen, WAIT,
};

/// Seqs of `seen` that are not in `stored`.
fn missing(seen: &[Seen], stored: &BTreeSet<i64>) -> Vec<u64> {
    seen.iter()
        .map(|s| s.id.1)
        .filter(|seq| !stored.contains(&i64::try_from(*seq).expect("seq")))
        .collect()
}

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// Runs a PostgreSQL binary as the `postgres` user when we are root
/// (initdb and postgres refuse to run as root).
fn pg(tool: &str, args: &[&str]) -> std::process::Output {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let path = format!("{BIN}/{tool}");
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(&path)
    };
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The throwaway cluster; stopped at once when dropped.
struct Cluster {
    data: String,
    port: u16,
    _dir: TempDir,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = TempDir::new("pg");
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres", &dir.path().display().to_string()])
            .status();
        let data = dir.path().join("data").display().to_string();
        pg(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cluster = Cluster {
            data,
            port,
            _dir: dir,
        };
        cluster.start();
        cluster
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self._dir.path().display()
        );
        let log = self._dir.path().join("log").display().to_string();
        pg(
            "pg_ctl",
            &["-D", &self.data, "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    fn stop(&self) {
        pg("pg_ctl", &["-D", &self.data, "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            pg(
                "pg_ctl",
                &["-D", &self.data, "-m", "immediate", "-w", "stop"],
            )
        });
    }
}

#[tokio::test]
async fn every_streamed_event_reaches_postgres_across_an_outage() {
    let cluster = Cluster::new();
    let server = Server::start(&["demo", "--speed", "2000", "--database-url", &cluster.url()]);
    let mut sse = SseStream::connect(&stream_url(&server.url), None).await;
    let mut seen = read_until(&mut sse, |s| scores_seen(s) >= 5, WAIT).await;

    cluster.stop();
    // The stream goes on while the database is down, and the writes
    // that fail are counted and kept.
    let deadline = Instant::now() + WAIT;
    loop {
        let n = seen.len();
        seen.extend(read_until(&mut sse, |s| s.len() >= 20, WAIT).await);
        assert!(seen.len() > n);
        let health = get_json(&format!("{}/healthz", server.url)).await;
        if health["database"]["write_errors"].as_u64() > Some(0) {
            assert_eq!(health["database"]["reachable"], false, "{health}");
            break;
        }
        assert!(Instant::now() < deadline, "no write failed: {health}");
    }
    seen.extend(read_until(&mut sse, |s| scores_seen(s) >= 10, WAIT).await);

    cluster.start();
    seen.extend(read_until(&mut sse, all_final, Duration::from_secs(180)).await);
    let last = seen.last().expect("events").id.1;
    let health = wait_written(&server.url, last).await;
    println!("{} events streamed across the outage; {health}", seen.len());
    assert_eq!(health["database"]["lost"], 0, "{health}");
    assert_eq!(health["database"]["reachable"], true, "{health}");

    let pool = sqlx::PgPool::connect(&cluster.url())
        .await
        .expect("connect");
    let epoch = i64::from_str_radix(&seen[0].id.0, 16).expect("hex epoch");
    let stored: BTreeSet<i64> = sqlx::query_scalar("SELECT seq FROM events WHERE epoch = $1")
        .bind(epoch)
        .fetch_all(&pool)
        .await
        .expect("query")
        .into_iter()
        .collect();
    assert_eq!(
        missing(&seen, &stored),
        Vec::<u64>::new(),
        "every streamed event is stored"
    );
    // Nothing published is missing either: the ids are contiguous.
    let max = *stored.last().expect("some");
    assert_eq!(stored.len() as i64, max - stored.first().expect("some") + 1);
    pool.close().await;
    drop(server);
}
