//! The bus: where every event gets its id and from which every node hears
//! every event in the same order.
//!
//! `Bus` is one of the two seams with more than one real implementation
//! (in-process now; Redis and NATS to share events between nodes). Producers
//! (feed, publish API, chat) call [`Bus::publish`]; each node's hub and the
//! store writer consume [`Bus::subscribe`]. The bus knows nothing of HTTP,
//! games or clients.

pub mod lease;
pub mod memory;
pub mod nats;
pub mod position;
pub mod redis;
pub mod retry;
pub mod shared;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::EventId;

pub use self::nats::{NatsBus, NatsConfig};
pub use self::redis::{RedisBus, RedisConfig};
pub use memory::MemoryBus;
pub use shared::{BusChoice, BusUrl, SharedBus};

/// A node id unique across nodes and restarts (publish ids, the feed
/// lease).
pub fn node_id() -> String {
    format!("{:x}.{:016x}", std::process::id(), fastrand::u64(..))
}

/// One event as it travels the bus: already has its id, data is JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Id given by the bus; the same on every node.
    pub id: EventId,
    /// Topic name, e.g. `scores` or `game/2015091000`.
    pub topic: String,
    /// SSE event name, e.g. `update`.
    pub event: String,
    /// The event's data as compact JSON.
    pub data: Bytes,
    /// When the bus took it, in microseconds since 1970 by the clock of
    /// whatever orders the bus (this process, the Redis server, the NATS
    /// server); 0 when unknown (read back from the database). Only for the
    /// publish→deliver latency metric: never sent to clients.
    pub published_us: u64,
}

/// Now, in microseconds since 1970 (the unit of
/// [`Envelope::published_us`]).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Why the bus could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus was closed (shutdown); nothing more will be published.
    #[error("the bus is closed")]
    Closed,
    /// Events after this id are no longer held by the bus.
    #[error("events after {0} are no longer retained")]
    Evicted(EventId),
    /// The id belongs to another history (the bus was reset).
    #[error("event id {0} is from another epoch")]
    OtherEpoch(EventId),
    /// The shared bus cannot be reached now (Redis down); a publish gave
    /// up after retrying.
    #[error("the bus is unavailable: {0}")]
    Unavailable(String),
    /// Redis answered with an error.
    #[error("Redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// NATS failed or is unreachable (the cause kept as the source, like
    /// Redis's).
    #[error("NATS: {0}")]
    Nats(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The shared log holds something that is not an event of ours.
    #[error("the bus holds corrupt data: {0}")]
    Corrupt(String),
    /// The publish was not appended within the publish timeout and never
    /// will be: the bus refuses a late append (see [`retry`]), so the
    /// caller may answer "not published" and mean it.
    #[error("not published within {0:?}; it will not be delivered")]
    TimedOut(Duration),
}

/// Default of `--publish-timeout`: below the 10 s and more that HTTP
/// clients commonly give up after, so the publisher hears our answer.
pub const DEFAULT_PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest idempotency key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// True for an idempotency key we accept: 1 to [`MAX_KEY_BYTES`] visible
/// ASCII characters (it becomes part of a Redis key or a NATS header).
pub fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY_BYTES).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// What `/healthz` reports for the bus.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BusHealth {
    /// `memory`, `redis`, ...
    pub kind: &'static str,
    /// False while the bus cannot publish or deliver.
    pub connected: bool,
    /// Id of the last event seen, if any.
    pub last_id: Option<EventId>,
    /// Events in the shared log this node has not delivered yet (shared
    /// buses only): non-zero while it catches up after an outage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
    /// Times this node reconnected to the shared bus since start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnects: Option<u64>,
}

/// A shared, ordered event log with live delivery.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Appends an event and returns its id. Never waits on a client.
    ///
    /// With a `key` (a publisher's idempotency key), a publish whose key
    /// was already appended within the bus's dedupe window returns that
    /// first event's id and appends nothing, on every node: a publisher
    /// that retries after a timeout cannot publish twice. On a shared bus
    /// the answer comes within the publish timeout: an id, or
    /// [`BusError::TimedOut`] meaning the event was not and will not be
    /// appended.
    async fn publish(
        &self,
        topic: &str,
        event: &str,
        data: Bytes,
        key: Option<&str>,
    ) -> Result<EventId, BusError>;

    /// Every event published from now on, in id order. A receiver that lags
    /// gets `Lagged` and must refill with [`Bus::read_after`].
    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>>;

    /// Events after `after`, oldest first, at most `limit`.
    async fn read_after(
        &self,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<Arc<Envelope>>, BusError>;

    /// For a reader that fell behind what [`Bus::read_after`] still holds
    /// (`Evicted`): the events of the state topics (`scores`, `game/…`)
    /// after `after` that the bus kept apart from the rest, and the id
    /// after which `read_after` works again. Everything else in between is
    /// gone. `Evicted` when the bus kept no such events (the shared buses:
    /// their logs are one stream).
    async fn recover_state(
        &self,
        after: EventId,
    ) -> Result<(Vec<Arc<Envelope>>, EventId), BusError> {
        Err(BusError::Evicted(after))
    }

    /// The epoch of the ids this bus gives out now.
    fn epoch(&self) -> u64;

    /// State for `/healthz`.
    fn health(&self) -> BusHealth;
}
