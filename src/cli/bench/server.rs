//! The server under test: one started here (`--spawn`, the current
//! executable on a free port with a random publish token and an in-memory
//! database, killed at the end) or one already running (`--url`).

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
    /// listening line; `log` is its `LIVESCORE_LOG` filter (its stderr is ours).
    pub async fn spawn(log: &str) -> Result<Self, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::Server(format!("cannot find this executable: {e}")))?;
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let mut child = Command::new(exe)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(["--database-url", "sqlite::memory:"])
            // Through the environment, not argv, so `ps` does not show it.
            .env("LIVESCORE_PUBLISH_TOKEN", &token)
            .env("LIVESCORE_LOG", log)
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

    /// Kills the server if we started it, and reaps it.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
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
}
