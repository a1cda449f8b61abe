//! The feed lease in Redis, on the bus's server: `SET <prefix>:feed-lease:<feed>
//! <node> NX PX <ttl>` takes it, a compare-and-`PEXPIRE` script renews it,
//! a compare-and-`DEL` script hands it back (the contract is
//! [`crate::bus::lease`]'s).

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

use crate::bus::lease::{Lease, LeaseError, LEASE_TTL};
use crate::bus::node_id;

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

/// This node's claim on the feed, in Redis.
pub struct RedisLease {
    client: redis::Client,
    key: String,
    node: String,
    conn: Option<MultiplexedConnection>,
}

impl RedisLease {
    /// The lease of feed `feed`, `<prefix>:feed-lease:<feed>` (one per
    /// feed: each can be led by another node), claimed as a fresh node id.
    pub fn new(client: redis::Client, prefix: &str, feed: &str) -> Self {
        Self {
            client,
            key: format!("{prefix}:feed-lease:{feed}"),
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
}

#[async_trait]
impl Lease for RedisLease {
    fn node(&self) -> &str {
        &self.node
    }

    async fn acquire(&mut self) -> Result<bool, LeaseError> {
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

    async fn renew(&mut self) -> Result<bool, LeaseError> {
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
