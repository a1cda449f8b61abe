//! The feed lease on NATS: one key in a JetStream key-value bucket.
//!
//! The bucket `<stream>-lease` keeps one revision per key for at most
//! [`LEASE_TTL`] (its `max_age`), so a lease nobody renews disappears on
//! its own. Taking it is `create` (fails if the key holds a value),
//! renewing is `update` expecting the revision this node wrote last
//! (compare-and-set: fails once another node took it), handing it back is
//! a delete expecting that revision. The bucket's age limit works on every
//! JetStream server (no per-message TTL, which needs NATS 2.11).

use async_nats::jetstream::{self, kv, stream};

use async_trait::async_trait;

use crate::bus::lease::{Lease, LeaseError, LEASE_TTL};
use crate::bus::node_id;

/// This node's claim on the feed, over NATS.
pub struct NatsLease {
    js: jetstream::Context,
    bucket: String,
    /// `feed.<feed>`: one key per feed, each led on its own.
    key: String,
    node: String,
    store: Option<kv::Store>,
    /// The revision this node wrote last while holding the lease.
    revision: Option<u64>,
}

impl NatsLease {
    /// The lease of feed `feed` in bucket `<stream>-lease`, claimed as a
    /// fresh node id.
    pub fn new(js: jetstream::Context, stream: &str, feed: &str) -> Self {
        Self {
            js,
            bucket: format!("{stream}-lease"),
            key: format!("feed.{feed}"),
            node: node_id(),
            store: None,
            revision: None,
        }
    }

    /// The bucket, creating it on first use.
    async fn store(&mut self) -> Result<kv::Store, LeaseError> {
        if let Some(s) = &self.store {
            return Ok(s.clone());
        }
        // The bucket's stream, made as `create_key_value` would make it;
        // not through it, because it first asks for the account info, which
        // this client cannot read from a NATS 2.9 server.
        let config = stream::Config {
            name: format!("KV_{}", self.bucket),
            subjects: vec![format!("$KV.{}.>", self.bucket)],
            max_messages_per_subject: 1,
            max_age: LEASE_TTL,
            storage: stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            num_replicas: 1,
            ..Default::default()
        };
        self.js.get_or_create_stream(config).await.map_err(nats)?;
        let store = self.js.get_key_value(&self.bucket).await.map_err(nats)?;
        self.store = Some(store.clone());
        Ok(store)
    }
}

#[async_trait]
impl Lease for NatsLease {
    fn node(&self) -> &str {
        &self.node
    }

    async fn acquire(&mut self) -> Result<bool, LeaseError> {
        let store = self.store().await?;
        match store.create(&self.key, self.node.clone().into()).await {
            Ok(rev) => {
                self.revision = Some(rev);
                Ok(true)
            }
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(err) => Err(nats(err)),
        }
    }

    /// A new revision, a fresh age.
    async fn renew(&mut self) -> Result<bool, LeaseError> {
        let Some(rev) = self.revision else {
            return Ok(false);
        };
        let store = self.store().await?;
        match store.update(&self.key, self.node.clone().into(), rev).await {
            Ok(rev) => {
                self.revision = Some(rev);
                Ok(true)
            }
            Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                self.revision = None;
                Ok(false)
            }
            Err(err) => Err(nats(err)),
        }
    }

    async fn release(&mut self) {
        let Some(rev) = self.revision.take() else {
            return;
        };
        let Ok(store) = self.store().await else {
            return; // it expires on its own
        };
        if let Err(err) = store.delete_expect_revision(&self.key, Some(rev)).await {
            tracing::debug!(%err, "cannot release the feed lease; it expires on its own");
        }
    }
}

fn nats(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> LeaseError {
    LeaseError::Nats(err.into())
}
