//! The feed lease: one feed poller at a time across all nodes of a shared
//! bus. Two pollers would publish every change twice (with different ids),
//! so each node runs its poller only while it holds the lease; the loop
//! that does so is the feed's (`feed::leader`), the lease itself belongs
//! to the bus whose server holds it (`redis::lease`, `nats::lease`).
//!
//! The contract both keep: `acquire` takes the lease only if nobody holds
//! it; `renew` extends it only while this node still does; `release` hands
//! it back only if this node still holds it. A lease nobody renews lapses
//! within [`LEASE_TTL`] on the server's own clock.

use std::time::Duration;

use async_trait::async_trait;

/// How long a lease lives without renewal: the longest a dead holder's
/// feed stays unpolled (plus the leader loop's renew interval until
/// someone asks).
pub const LEASE_TTL: Duration = Duration::from_secs(3);

/// Why a lease command failed (the caller retries or gives the lease up).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Redis failed or is unreachable.
    #[error("Redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// NATS failed or is unreachable.
    #[error("NATS: {0}")]
    Nats(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// This node's claim on the feed, on the deployment's shared bus.
#[async_trait]
pub trait Lease: Send {
    /// Who this node is to the others (in logs).
    fn node(&self) -> &str;
    /// Takes the lease if nobody holds it.
    async fn acquire(&mut self) -> Result<bool, LeaseError>;
    /// Extends the lease; false if another node holds it now.
    async fn renew(&mut self) -> Result<bool, LeaseError>;
    /// Hands the lease back so another node takes over at once (on
    /// failure it lapses on its own).
    async fn release(&mut self);
}
