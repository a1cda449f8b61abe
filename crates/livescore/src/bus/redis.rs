//! `RedisBus`: one event log shared by every node (`--bus redis://…`).
//!
//! Design: one Redis Stream per deployment (`<prefix>:events`), not plain
//! PUBLISH/SUBSCRIBE, because pub/sub forgets what a node misses while it
//! is disconnected; a stream is a replayable log a node catches up from.
//!
//! - **Ids.** A Lua script (atomic in Redis) does `INCR <prefix>:seq` and
//!   `XADD <prefix>:events MAXLEN ~ N <seq>-0 …` in one step, so `seq` is
//!   global, gap-free and in stream order, and the event id
//!   `<epoch>-<seq>` is the same on every node. The stream entry id is the
//!   seq itself, so resuming after an event id is `XRANGE (<seq>-0 +`.
//!   Fields: `e` epoch, `t` topic, `v` event name, `d` data, `p` Redis's
//!   clock at the append in microseconds (for the latency metric; entries
//!   without it, from an older node, read as unknown).
//! - **Epoch.** `<prefix>:epoch` is created once (by the first node or
//!   publish to find it missing) and never changed. When Redis loses it
//!   (flushed, restarted without persistence) the next publish creates a
//!   new one and starts `seq` and the stream over; entries carry their
//!   epoch, readers notice, and clients resuming with an old id get
//!   `event: reset` reason `epoch` from the hub.
//! - **Retention.** `MAXLEN ~` [`RETENTION_EVENTS`] by default: bounded
//!   memory in Redis; a resume or catch-up older than the stream's first
//!   entry gets [`BusError::Evicted`] (a `reset` for clients).
//! - **Delivery.** Each node runs one reader task ([`RedisBus::run`]):
//!   blocking `XREAD` from the last id it delivered, broadcasting locally
//!   (the [`Bus::subscribe`] receivers). On any error it reconnects with a
//!   capped backoff and continues from that same id, so a node that lost
//!   Redis misses nothing and repeats nothing; `/healthz` shows
//!   `connected: false` and the lag meanwhile.
//! - **Publish retry.** A publish that fails on a connection error is
//!   retried with backoff (at most [`retry::PUBLISH_QUEUE`] publishes wait at
//!   once, each at most the publish timeout). A retry cannot tell whether
//!   the first attempt was appended before the connection broke, so each
//!   publish carries a publish id (the publisher's idempotency key, or one
//!   made here), and the script records `<prefix>:pub:<publish id>` →
//!   event id (expiring after [`DEDUP_TTL`]) and returns the recorded id
//!   instead of appending again: exactly once in the log, whatever the
//!   retries, and whichever node a publisher retries through.
//! - **Publish timeout.** Each publish is answered within the timeout. The
//!   script refuses to append after the publish's fence (see
//!   [`super::retry`]), checked against Redis's own clock (the offset to
//!   ours is measured at connect), so an attempt that Redis only gets to
//!   after we answered "not published" (a stalled server, a full socket)
//!   appends nothing.
//!
//! It knows nothing of HTTP, games or clients; the feed lease lives in
//! `feed::leader` and only borrows [`RedisBus::client`].

pub mod lease;
mod reader;
mod script;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::sync::broadcast;

use self::script::Appended;
use super::position::Position;
use super::retry::{self, Attempt, PublishGate};
use super::{Bus, BusError, BusHealth, Envelope};
use crate::model::EventId;

/// Events a local consumer may fall behind before it gets `Lagged`; it
/// then refills from the stream with [`Bus::read_after`].
pub const CHANNEL_CAPACITY: usize = 4096;
/// Approximate stream length kept in Redis (`XADD MAXLEN ~`). Bounds Redis
/// memory; resumes and catch-ups further back than this get `Evicted`.
pub const RETENTION_EVENTS: usize = 100_000;
/// How long a publish id (an idempotency key) is remembered for
/// deduplicating retries: the Redis bus's dedupe window.
pub const DEDUP_TTL: Duration = Duration::from_secs(600);
/// Longest wait for Redis to answer a command (the blocking read adds
/// its block time); past it the connection counts as broken.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Events the node reads at start to warm its hub (state and resume
/// history before the next event arrives).
pub const WARM_EVENTS: usize = 5_000;

/// Where and how to reach the shared log.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// Prefix of every key, so deployments (and tests) can share a Redis.
    pub prefix: String,
    /// Longest a publish waits for Redis before it is refused.
    pub publish_timeout: Duration,
}

/// The Redis keys of one deployment.
#[derive(Debug, Clone)]
struct Keys {
    stream: String,
    seq: String,
    epoch: String,
    publish: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            stream: format!("{prefix}:events"),
            seq: format!("{prefix}:seq"),
            epoch: format!("{prefix}:epoch"),
            publish: format!("{prefix}:pub:"),
        }
    }
}

/// The Redis bus of one node.
pub struct RedisBus {
    client: redis::Client,
    keys: Keys,
    /// Command connection (publish, ranges), re-made after an error. A
    /// multiplexed connection is shared by clones; the blocking read has
    /// its own so it never holds commands up.
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Closed check, queue, deadline and publish id of every publish.
    gate: PublishGate,
    tx: broadcast::Sender<Arc<Envelope>>,
    /// The reader's place in the stream, for `epoch()` and `health()`.
    state: Mutex<Position>,
    reconnects: AtomicU64,
    /// Redis's clock minus ours, in milliseconds (measured at connect):
    /// turns a publish's fence into Redis's time.
    clock_offset_ms: i64,
}

impl RedisBus {
    /// Connects, reads (or creates) the epoch and notes where the stream
    /// stands; fails when Redis cannot be reached, so a misconfigured node
    /// never starts serving. Live delivery starts with [`RedisBus::run`].
    pub async fn connect(config: &RedisConfig) -> Result<Arc<Self>, BusError> {
        let client = redis::Client::open(config.url.as_str())?;
        let keys = Keys::new(&config.prefix);
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&command_config())
            .await?;
        let (epoch, head) = script::init(&mut conn, &keys, fresh_epoch()).await?;
        let before = retry::now_ms();
        let server = script::server_time_ms(&mut conn).await?;
        let after = retry::now_ms();
        let clock_offset_ms = server as i64 - ((before + after) / 2) as i64;
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        tracing::info!(
            epoch,
            head,
            prefix = config.prefix,
            "connected to the Redis bus"
        );
        Ok(Arc::new(Self {
            client,
            keys,
            conn: tokio::sync::Mutex::new(Some(conn)),
            gate: PublishGate::new("Redis", config.publish_timeout),
            tx,
            state: Mutex::new(Position::new(epoch, head)),
            reconnects: AtomicU64::new(0),
            clock_offset_ms,
        }))
    }

    /// The Redis client, for other users of the same Redis (the feed lease).
    pub fn client(&self) -> redis::Client {
        self.client.clone()
    }

    /// Seq of the last event delivered locally (at start: the stream's head
    /// when connecting, where live delivery continues).
    pub fn delivered(&self) -> u64 {
        self.lock().delivered()
    }

    /// Up to `max` of the newest events at or before the delivery point,
    /// oldest first: what a new node's hub starts with.
    pub async fn recent(&self, max: usize) -> Result<Vec<Arc<Envelope>>, BusError> {
        let (epoch, upto) = {
            let s = self.lock();
            (s.epoch(), s.delivered())
        };
        if upto == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&self.keys.stream)
            .arg(format!("{upto}-0"))
            .arg("-")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.broken(e))?;
        let mut out = reader::parse_all(&reply.ids)?;
        out.retain(|e| e.id.epoch == epoch);
        out.reverse();
        Ok(out)
    }

    /// Stops retrying publishes (shutdown).
    pub fn close(&self) {
        self.gate.close();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Position> {
        self.state.lock().expect("redis bus state lock poisoned")
    }

    /// The command connection, connecting if the last one broke.
    async fn conn(&self) -> Result<MultiplexedConnection, BusError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&command_config())
            .await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Forgets a broken command connection so the next call reconnects.
    fn broken(&self, err: redis::RedisError) -> BusError {
        if is_transient(&err) {
            if let Ok(mut slot) = self.conn.try_lock() {
                *slot = None;
            }
        }
        BusError::from(err)
    }

    async fn publish_once(
        &self,
        publish_id: &str,
        fence_ms: u64,
        topic: &str,
        event: &str,
        data: &Bytes,
    ) -> Result<Appended, redis::RedisError> {
        let mut conn = match self.conn().await {
            Ok(c) => c,
            Err(BusError::Redis(e)) => return Err(e),
            Err(other) => {
                return Err(redis::RedisError::from(std::io::Error::other(
                    other.to_string(),
                )))
            }
        };
        let fence = fence_ms.saturating_add_signed(self.clock_offset_ms);
        let result = script::publish(
            &mut conn,
            &self.keys,
            publish_id,
            (fresh_epoch(), fence),
            (topic, event, data),
        )
        .await;
        if let Err(err) = &result {
            if is_transient(err) {
                *self.conn.lock().await = None;
            }
        }
        result
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(
        &self,
        topic: &str,
        event: &str,
        data: Bytes,
        key: Option<&str>,
    ) -> Result<EventId, BusError> {
        let pass = self.gate.enter(key)?;
        let (publish_id, deadline, data) = (&pass.publish_id, pass.deadline, &data);
        self.gate
            .publish(&pass, || async move {
                match self
                    .publish_once(publish_id, deadline.fence_ms, topic, event, data)
                    .await
                {
                    Ok(Appended::Id(id)) => Ok(id),
                    Ok(Appended::Expired) => {
                        Err(Attempt::Fatal(BusError::TimedOut(deadline.timeout)))
                    }
                    Err(err) if is_transient(&err) => Err(Attempt::Retry(err)),
                    Err(err) => Err(Attempt::Fatal(err.into())),
                }
            })
            .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.tx.subscribe()
    }

    async fn read_after(
        &self,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<Arc<Envelope>>, BusError> {
        if after.epoch != self.epoch() {
            return Err(BusError::OtherEpoch(after));
        }
        let mut conn = self.conn().await?;
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.keys.stream)
            .arg(format!("({}-0", after.seq))
            .arg("+")
            .arg("COUNT")
            .arg(limit.max(1))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.broken(e))?;
        let events = reader::parse_all(&reply.ids)?;
        if events.iter().any(|e| e.id.epoch != after.epoch) {
            return Err(BusError::OtherEpoch(after));
        }
        match events.first() {
            // The stream was trimmed past the id: a gap.
            Some(first) if first.id.seq > after.seq + 1 => Err(BusError::Evicted(after)),
            None if self.lock().head() > after.seq => Err(BusError::Evicted(after)),
            _ => Ok(events),
        }
    }

    fn epoch(&self) -> u64 {
        self.lock().epoch()
    }

    fn health(&self) -> BusHealth {
        let reconnects = self.reconnects.load(Ordering::Relaxed);
        self.lock().health("redis", true, reconnects)
    }
}

/// Settings of the command connection.
fn command_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

/// Errors worth retrying on a new connection (Redis down, restarting,
/// loading its data); anything else (a script bug, a wrong type) is not.
fn is_transient(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || matches!(
            err.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                | redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain)
        )
}

/// A new epoch, should this publish be the one to find none: milliseconds
/// since 1970, so it differs from any earlier one.
fn fresh_epoch() -> u64 {
    retry::now_ms()
}
