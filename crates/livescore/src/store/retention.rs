//! Chat retention: chat is the one topic anyone may write to, so its
//! history in the database is bounded by age and by count per game
//! (`--chat-retention`, `--chat-retention-count`). Score history, game
//! states and published topics are never pruned here.
//!
//! The prune runs in a task of its own, at start and then every
//! [`PRUNE_EVERY`], never on the publish or write path: a slow delete
//! delays no event. Nodes sharing one database each prune; the deletes are
//! idempotent, so that costs only a repeated statement.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{Store, StoreError};

/// How often the bounds are applied. Between two prunes the history may
/// exceed them by what ten minutes of chat adds.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The bounds on stored chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatRetention {
    /// Messages older than this are deleted; `None` keeps them by age.
    pub max_age: Option<Duration>,
    /// Newest messages kept per game; `None` keeps any number.
    pub per_game: Option<u32>,
}

impl Default for ChatRetention {
    /// Seven days or 10,000 messages per game, whichever is fewer.
    fn default() -> Self {
        Self {
            max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            per_game: Some(10_000),
        }
    }
}

impl ChatRetention {
    /// Whether any bound is on (both off: nothing to run).
    pub fn is_bounded(&self) -> bool {
        self.max_age.is_some() || self.per_game.is_some()
    }

    /// Applies the bounds once, as of `now`; how many messages went.
    pub async fn prune(&self, store: &dyn Store, now: DateTime<Utc>) -> Result<u64, StoreError> {
        // An age past chrono's range bounds nothing.
        let before = self
            .max_age
            .and_then(|age| chrono::Duration::from_std(age).ok())
            .and_then(|age| now.checked_sub_signed(age));
        store.prune_chat(before, self.per_game).await
    }

    /// Prunes at start and every [`PRUNE_EVERY`] until `cancel`. A failed
    /// prune (database down) is logged and tried again at the next tick.
    pub async fn run(self, store: Arc<dyn Store>, cancel: CancellationToken) {
        if !self.is_bounded() {
            return;
        }
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let pruned = tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.prune(store.as_ref(), Utc::now()) => r,
            };
            match pruned {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "chat history pruned"),
                Err(err) => tracing::warn!(%err, "cannot prune chat history; retrying later"),
            }
        }
    }
}
