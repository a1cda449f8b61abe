//! One feed poller at a time across all nodes: a lease in Redis (here) or
//! in a NATS key-value bucket (`nats`, the same contract).
//!
//! Two pollers would publish every change twice (with different ids), so
//! with a shared bus each node runs the poller only while it holds the
//! lease: `SET <prefix>:feed-lease <node> NX PX <ttl>` takes it, a
//! compare-and-`PEXPIRE` script renews it every [`RENEW_EVERY`] while the
//! node lives, a compare-and-`DEL` script hands it back on shutdown. When
//! the holder dies, its lease expires within [`LEASE_TTL`] and the next
//! node to ask (every [`RENEW_EVERY`]) takes over.
//!
//! A holder that cannot renew (Redis unreachable) stops polling before its
//! lease can have expired, so two nodes never poll at once for longer than
//! a clock's skew. It owns no feed logic: `run` drives whatever leading
//! means for the caller (in `app`: a poller resumed from the current state).

mod nats;

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a lease lives without renewal: the longest a dead holder's
/// feed stays unpolled (plus [`RENEW_EVERY`] until someone asks).
pub const LEASE_TTL: Duration = Duration::from_secs(3);
/// How often the holder renews and the others ask; well under
/// [`LEASE_TTL`] so one slow round trip does not lose the lease.
pub const RENEW_EVERY: Duration = Duration::from_millis(1000);
/// Longest wait for Redis to answer one lease command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Renews only if this node still holds the lease.
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
          end
          return 0",
    )
});
/// Releases only if this node still holds the lease.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
          end
          return 0",
    )
});

/// Why a lease command failed (the caller retries or gives the lease up).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Redis failed or is unreachable.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// NATS failed or is unreachable.
    #[error("NATS: {0}")]
    Nats(String),
}

/// This node's claim on the feed, on the deployment's shared bus.
pub enum Lease {
    /// `SET NX PX` on the Redis bus's server.
    Redis(Box<RedisLease>),
    /// A key in a JetStream KV bucket on the NATS bus's server.
    Nats(Box<nats::NatsLease>),
}

impl Lease {
    /// The Redis lease `<prefix>:feed-lease`, claimed as a fresh node id.
    pub fn new(client: redis::Client, prefix: &str) -> Self {
        Self::Redis(Box::new(RedisLease::new(client, prefix)))
    }

    /// The NATS lease in bucket `<stream>-lease`, as a fresh node id.
    pub fn nats(js: async_nats::jetstream::Context, stream: &str) -> Self {
        Self::Nats(Box::new(nats::NatsLease::new(js, stream, node_id())))
    }

    fn node(&self) -> &str {
        match self {
            Self::Redis(l) => &l.node,
            Self::Nats(l) => &l.node,
        }
    }

    async fn acquire(&mut self) -> Result<bool, LeaseError> {
        match self {
            Self::Redis(l) => Ok(l.acquire().await?),
            Self::Nats(l) => l.acquire().await,
        }
    }

    async fn renew(&mut self) -> Result<bool, LeaseError> {
        match self {
            Self::Redis(l) => Ok(l.renew().await?),
            Self::Nats(l) => l.renew().await,
        }
    }

    async fn release(&mut self) {
        match self {
            Self::Redis(l) => l.release().await,
            Self::Nats(l) => l.release().await,
        }
    }
}

/// A node id unique across nodes and restarts.
fn node_id() -> String {
    format!("{:x}.{:016x}", std::process::id(), fastrand::u64(..))
}

/// This node's claim on the feed, in Redis.
pub struct RedisLease {
    client: redis::Client,
    key: String,
    node: String,
    conn: Option<MultiplexedConnection>,
}

impl RedisLease {
    /// The lease `<prefix>:feed-lease`, claimed as a fresh node id.
    pub fn new(client: redis::Client, prefix: &str) -> Self {
        Self {
            client,
            key: format!("{prefix}:feed-lease"),
            node: node_id(),
            conn: None,
        }
    }

    async fn conn(&mut self) -> redis::RedisResult<MultiplexedConnection> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        self.conn = Some(c.clone());
        Ok(c)
    }

    /// Takes the lease if nobody holds it.
    async fn acquire(&mut self) -> redis::RedisResult<bool> {
        let mut c = self.conn().await?;
        let set: Option<String> = redis::cmd("SET")
            .arg(&self.key)
            .arg(&self.node)
            .arg("NX")
            .arg("PX")
            .arg(LEASE_TTL.as_millis() as u64)
            .query_async(&mut c)
            .await
            .inspect_err(|_| self.conn = None)?;
        Ok(set.is_some())
    }

    /// Extends the lease; false if another node holds it now.
    async fn renew(&mut self) -> redis::RedisResult<bool> {
        let mut c = self.conn().await?;
        let n: i64 = RENEW
            .key(&self.key)
            .arg(&self.node)
            .arg(LEASE_TTL.as_millis() as u64)
            .invoke_async(&mut c)
            .await
            .inspect_err(|_| self.conn = None)?;
        Ok(n == 1)
    }

    /// Hands the lease back so another node takes over at once.
    async fn release(&mut self) {
        let Ok(mut c) = self.conn().await else {
            return; // it expires on its own
        };
        let released: redis::RedisResult<i64> = RELEASE
            .key(&self.key)
            .arg(&self.node)
            .invoke_async(&mut c)
            .await;
        if let Err(err) = released {
            tracing::debug!(%err, "cannot release the feed lease; it expires on its own");
        }
    }
}

/// Runs `lead` while this node holds the lease, until `cancel`. `lead` is
/// given a token cancelled when the lease is lost; it must end soon after.
pub async fn run<F, Fut>(mut lease: Lease, cancel: CancellationToken, mut lead: F)
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        // Follower: ask for the lease until granted.
        loop {
            match lease.acquire().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(err) => tracing::debug!(%err, "cannot ask for the feed lease"),
            }
            tokio::select! {
                // Shutdown: never led, nothing to hand back.
                _ = cancel.cancelled() => return,
                // Ask again; a dead holder's lease expires meanwhile.
                _ = tokio::time::sleep(RENEW_EVERY) => {}
            }
        }
        tracing::info!(node = lease.node(), "took the feed lease; polling");
        metrics::counter!("livescore_feed_lease_acquired_total").increment(1);
        let term = cancel.child_token();
        let work = lead(term.clone());
        tokio::pin!(work);
        let mut renewed = Instant::now();
        let mut tick = tokio::time::interval(RENEW_EVERY);
        let ended = loop {
            tokio::select! {
                // Leading ended: shutdown (the token is a child of
                // `cancel`) or the poller stopped on its own.
                _ = &mut work => break true,
                // Renew; give up before the lease could have expired.
                _ = tick.tick() => match lease.renew().await {
                    Ok(true) => renewed = Instant::now(),
                    Ok(false) => {
                        tracing::warn!("the feed lease went to another node; stopping the poller");
                        break false;
                    }
                    Err(err) if renewed.elapsed() + RENEW_EVERY >= LEASE_TTL => {
                        tracing::warn!(%err, "cannot renew the feed lease; stopping the poller");
                        break false;
                    }
                    Err(err) => tracing::debug!(%err, "feed lease renewal failed; retrying"),
                },
            }
        };
        if !ended {
            term.cancel();
            work.await;
        }
        lease.release().await;
        if cancel.is_cancelled() || ended {
            return;
        }
    }
}
