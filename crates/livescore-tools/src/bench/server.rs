//! The server under test: one started here (`--spawn`, the current
//! executable on a free port with a random publish token and an in-memory
//! database, killed at the end) or one already running (`--url`). With a
//! shared bus there may be several ([`Nodes`]): events go in at the first,
//! subscribers are on the last, so every delivery crosses the bus.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::BenchError;

/// How long a spawned server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the load goes.
pub struct Target {
    /// The server's socket address (subscribers connect here directly).
    pub addr: SocketAddr,
    /// `host:port` as given, for the `Host` header and the publish URL.
    pub authority: String,
    /// The bearer token of the publish API.
    pub token: String,
    /// The server's process ids when it runs on this machine.
    pub pids: Vec<u32>,
    /// The server we started, if any; killed on drop as well as in `stop`.
    child: Option<Child>,
}

impl Target {
    /// Runs `<this executable> serve` on 127.0.0.1:0 and waits for its
    /// listening line; `log` is its `LIVESCORE_LOG` filter (its stderr is
    /// ours), `bus` the bus to join (default: the server's own).
    pub async fn spawn(
        log: &str,
        token: String,
        bus: Option<&SharedBus>,
    ) -> Result<Self, BenchError> {
        Self::spawn_with(
            log,
            token,
            bus,
            &["--addr", "127.0.0.1:0", "--database-url", "sqlite::memory:"],
        )
        .await
    }

    /// [`Target::spawn`] with `args` (`--addr` and `--database-url` among
    /// them) instead of a free port and an in-memory database.
    pub async fn spawn_with(
        log: &str,
        token: String,
        bus: Option<&SharedBus>,
        args: &[&str],
    ) -> Result<Self, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::Server(format!("cannot find this executable: {e}")))?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .args(args)
            // Through the environment, not argv, so `ps` does not show it.
            .env("LIVESCORE_PUBLISH_TOKEN", &token)
            .env("LIVESCORE_LOG", log);
        if let Some(bus) = bus {
            // The URL may hold a password: the environment again.
            command
                .env("LIVESCORE_BUS", &bus.url)
                .env("LIVESCORE_REDIS_PREFIX", &bus.prefix)
                .env("LIVESCORE_NATS_STREAM", &bus.prefix);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Server(format!("cannot start the server: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Server("no stdout from the server".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.trim().strip_prefix("livescore listening on ") {
                    return Some(url.to_string());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            BenchError::Server("the server exited or never said where it listens".into())
        })?;
        // Keep reading so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (addr, authority) = resolve(&url).await?;
        Ok(Self {
            addr,
            authority,
            token,
            pids: child.id().into_iter().collect(),
            child: Some(child),
        })
    }

    /// A server already running at `url` (`http://host:port`).
    pub async fn remote(url: &str, token: String, pids: Vec<u32>) -> Result<Self, BenchError> {
        let (addr, authority) = resolve(url).await?;
        Ok(Self {
            addr,
            authority,
            token,
            pids,
            child: None,
        })
    }

    /// The publish API's URL (`nchan`: that of an nchan publisher
    /// location, whose channel comes from the query).
    pub fn publish_url(&self, nchan: bool, topic: &str) -> String {
        if nchan {
            format!("http://{}/pub?id={topic}", self.authority)
        } else {
            format!("http://{}/api/publish", self.authority)
        }
    }

    /// Stops the server we started as a deploy would (SIGTERM: streams end,
    /// queued database writes are flushed) and waits for it to exit, killing
    /// it after `grace`.
    pub async fn terminate(mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }

    /// Kills the server if we started it, and reaps it.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// A random publish token for the servers we start.
pub fn fresh_token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// The bus the spawned nodes share, under a key prefix (Redis) or stream
/// name (NATS) of this run's own, so runs on one Redis never meet.
#[derive(Debug, Clone)]
pub struct SharedBus {
    /// As given to `serve --bus`.
    pub url: String,
    /// `livescore-bench-<random>`: `--redis-prefix` and `--nats-stream`.
    pub prefix: String,
}

impl SharedBus {
    /// `url` with a fresh prefix.
    pub fn new(url: String) -> Self {
        Self {
            url,
            prefix: format!("livescore-bench-{:08x}", fastrand::u32(..)),
        }
    }

    /// The URL without a password, for the report.
    pub fn display(&self) -> String {
        livescore::store::redact(&self.url)
    }

    /// Deletes what the run left in Redis (`<prefix>:*`), best effort, once
    /// the nodes are gone; a shared Redis would otherwise keep every run's
    /// stream. (A NATS stream is left; its max age expires the events.)
    pub async fn forget(&self) {
        if !self.url.starts_with("redis://") {
            return;
        }
        if let Err(err) = delete_prefix(&self.url, &self.prefix).await {
            eprintln!(
                "livescore bench: could not delete {}:* from Redis: {err}",
                self.prefix
            );
        }
    }
}

async fn delete_prefix(url: &str, prefix: &str) -> Result<(), redis::RedisError> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// The servers of one run, in start order: publishes go to the first,
/// subscribers connect to the last (one server: the same).
pub struct Nodes {
    targets: Vec<Target>,
    /// The bus the spawned nodes share, if the bench chose it.
    pub bus: Option<SharedBus>,
}

impl Nodes {
    /// Starts `count` servers on `bus` (one after another, sharing a token).
    pub async fn spawn(
        log: &str,
        count: usize,
        bus: Option<SharedBus>,
    ) -> Result<Self, BenchError> {
        let token = fresh_token();
        let mut targets = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            // On an error the ones started are killed as they drop.
            targets.push(Target::spawn(log, token.clone(), bus.as_ref()).await?);
        }
        Ok(Self { targets, bus })
    }

    /// Running servers: subscribers on `subscribe`, publishes at `publish`.
    pub fn remote(subscribe: Target, publish: Option<Target>) -> Self {
        Self {
            targets: publish.into_iter().chain([subscribe]).collect(),
            bus: None,
        }
    }

    /// Where events are published.
    pub fn publisher(&self) -> &Target {
        self.targets.first().expect("at least one node")
    }

    /// Where the subscribers are (the server whose memory and CPU count).
    pub fn subscribed(&self) -> &Target {
        self.targets.last().expect("at least one node")
    }

    /// How many servers take part.
    pub fn count(&self) -> usize {
        self.targets.len()
    }

    /// Stops the servers we started and clears their keys off the bus.
    pub async fn stop(self) {
        for target in self.targets {
            target.stop().await;
        }
        if let Some(bus) = &self.bus {
            bus.forget().await;
        }
    }
}

/// `http://host:port[/…]` to a socket address and the authority.
async fn resolve(url: &str) -> Result<(SocketAddr, String), BenchError> {
    let bad = |why: &str| BenchError::Server(format!("{url:?}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs are supported"))?;
    let authority = rest.split('/').next().unwrap_or_default().to_string();
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    let with_port = if authority
        .rsplit(':')
        .next()
        .is_some_and(|p| p.parse::<u16>().is_ok())
    {
        authority.clone()
    } else {
        format!("{authority}:80")
    };
    let addr = tokio::net::lookup_host(with_port.as_str())
        .await
        .map_err(|e| bad(&format!("cannot resolve: {e}")))?
        .next()
        .ok_or_else(|| bad("resolves to no address"))?;
    Ok((addr, authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_resolve_to_an_address_and_authority() {
        let (addr, auth) = resolve("http://127.0.0.1:8123/").await.expect("resolves");
        assert_eq!(addr.port(), 8123);
        assert_eq!(auth, "127.0.0.1:8123");
        assert!(resolve("https://127.0.0.1:1").await.is_err());
        assert!(resolve("http://").await.is_err());
    }

    #[test]
    fn bus_urls_lose_their_password_in_the_report() {
        let shown = |url: &str| SharedBus::new(url.into()).display();
        assert_eq!(shown("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(shown("redis://:s3cret@h:6379/2"), "redis://:***@h:6379/2");
        assert_eq!(shown("nats://u:p@h:4222"), "nats://u:***@h:4222");
        assert_eq!(shown("memory"), "memory");
        let a = SharedBus::new("memory".into());
        let b = SharedBus::new("memory".into());
        assert_ne!(a.prefix, b.prefix, "runs get prefixes of their own");
        assert!(livescore::cli::parse_redis_prefix(&a.prefix).is_ok());
        assert!(livescore::cli::parse_nats_stream(&a.prefix).is_ok());
    }
}
