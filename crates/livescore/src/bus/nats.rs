//! `NatsBus`: one event log shared by every node over NATS JetStream
//! (`--bus nats://…`), with the same guarantees as [`super::RedisBus`].
//!
//! Design: one JetStream stream per deployment (`--nats-stream`, e.g.
//! `livescore`), not core NATS subjects, because core NATS forgets what a
//! node misses while it is disconnected; a stream is a replayable log.
//!
//! - **Subjects.** An event on topic `game/2015091000` is published on
//!   `<stream>.ev.game.2015091000` (each `/` a subject token), so operators
//!   can watch one topic with `nats sub '<stream>.ev.game.>'` and the stream
//!   captures `<stream>.ev.>`. The mapping is not reversible (`.` and `/`
//!   both split tokens), so the exact topic and event name travel in the
//!   `Ls-Topic` and `Ls-Event` headers; the payload is the JSON data as is.
//! - **Ids.** The seq is the JetStream stream sequence: the server gives it
//!   on append, global to the stream, gap-free and in stream order, so the
//!   id `<epoch>-<seq>` is the same on every node. The epoch is the
//!   stream's creation time (`created` in the stream info, milliseconds):
//!   a stream deleted and recreated gets a new one, and clients resuming
//!   with an id of the old stream get `event: reset` reason `epoch`.
//! - **Retention.** The stream keeps at most `--nats-max-events` events
//!   for at most `--nats-max-age` (oldest dropped first; a node starting
//!   with other values updates an existing stream); a resume or
//!   catch-up from before the stream's first sequence gets
//!   [`BusError::Evicted`].
//! - **Delivery.** Each node runs one reader task ([`NatsBus::run`], in
//!   `reader`): an ephemeral pull consumer without acks from the sequence
//!   after the last one it delivered, broadcasting locally. On any error or
//!   client disconnect it makes a new consumer from that same sequence, so
//!   a node that lost NATS misses nothing and repeats nothing.
//! - **Publish retry.** A publish waits for JetStream's ack; on failure it
//!   retries with backoff (at most [`retry::PUBLISH_QUEUE`] wait at once, each at
//!   most the publish timeout). Every attempt carries the same
//!   `Nats-Msg-Id` (the publisher's idempotency key, or one made here),
//!   and the stream's duplicate window ([`DEDUP_WINDOW`]) makes the server
//!   append it once and ack a retry with the original sequence, whichever
//!   node a publisher retries through.
//! - **Publish timeout.** Each publish is answered within the timeout, and
//!   "not published" must stay true. async-nats keeps what is published
//!   while disconnected and sends it on reconnect, so nothing is handed to
//!   the client unless it is connected, and every message carries its
//!   publish's fence ([`FENCE_HEADER`], see [`super::retry`]): a message
//!   the stream stamped after its fence (a copy flushed late) is dropped by
//!   every reader alike, as they all read the same stamp. An ack that comes
//!   close to the fence is checked against that stamp before we answer, so
//!   the answer and the readers agree; earlier acks assume the node's and
//!   the NATS server's clocks agree within [`CLOCK_TOLERANCE`].
//!
//! It knows nothing of HTTP, games or clients; the feed lease (a KV bucket)
//! lives in `feed::leader` and only borrows [`NatsBus::jetstream`].

pub mod lease;
mod reader;
mod stream;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::broadcast;

use self::stream::{ensure_stream, ephemeral, epoch_of, parse, subject_for, unavailable};
use super::position::Position;
use super::retry::{self, Attempt, PublishGate};
use super::{Bus, BusError, BusHealth, Envelope};
use crate::model::EventId;

/// Events a local consumer may fall behind before it gets `Lagged`; it
/// then refills from the stream with [`Bus::read_after`].
pub const CHANNEL_CAPACITY: usize = 4096;
/// Default of `--nats-max-events`: events the stream keeps.
pub const RETENTION_EVENTS: i64 = 100_000;
/// Default of `--nats-max-age`: how long the stream keeps an event.
pub const RETENTION_AGE: Duration = Duration::from_secs(24 * 3600);
/// The stream's duplicate window: a retry with the same `Nats-Msg-Id`
/// (idempotency key) within it is acked with the first sequence and not
/// appended. The NATS bus's dedupe window.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(120);
/// Longest wait for a JetStream request (stream info, publish ack).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Events read per consumer fetch (catch-up, `read_after`).
pub const READ_BATCH: usize = 1_000;

/// Header carrying the exact topic (the subject only approximates it).
const TOPIC_HEADER: &str = "Ls-Topic";
/// Header carrying the SSE event name.
const EVENT_HEADER: &str = "Ls-Event";
/// Header carrying the publish's fence (milliseconds since 1970): a
/// message stored after it is dropped by every reader.
const FENCE_HEADER: &str = "Ls-Fence";
/// How far the node's and the NATS server's clocks may disagree before an
/// ack that came well before the fence could be for a message readers drop.
pub const CLOCK_TOLERANCE: Duration = Duration::from_secs(1);

/// Where and how to reach the shared log.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// `nats://host:port`.
    pub url: String,
    /// Stream name, also the subject root and the lease bucket's prefix, so
    /// deployments (and tests) can share one NATS.
    pub stream: String,
    /// Most events the stream keeps.
    pub max_events: i64,
    /// Longest an event is kept.
    pub max_age: Duration,
    /// Longest a publish waits for NATS before it is refused.
    pub publish_timeout: Duration,
}

/// What the reader knows, for `epoch()` and `health()`.
#[derive(Debug)]
struct State {
    /// Epoch of the stream as last seen by anyone here (a publish that
    /// recreated it, or the reader): the epoch of ids given out now.
    epoch: u64,
    /// The reader's place in the stream; only the reader changes its
    /// epoch, and a change makes it read the new stream from its start.
    read: Position,
}

/// The NATS bus of one node.
pub struct NatsBus {
    client: async_nats::Client,
    js: jetstream::Context,
    config: NatsConfig,
    /// Closed check, queue, deadline and publish id (`Nats-Msg-Id`) of
    /// every publish.
    gate: PublishGate,
    tx: broadcast::Sender<Arc<Envelope>>,
    state: Mutex<State>,
    reconnects: AtomicU64,
    /// Times the client lost its connection (from its event callback): a
    /// change tells the reader its consumer may be gone with the server.
    disconnects: Arc<AtomicU64>,
    /// `disconnects` when a publish last read the stream's epoch: after a
    /// reconnect the stream may be a new one (NATS restarted empty), and
    /// the first publish reads it again so the id it answers is right.
    publish_checked: AtomicU64,
}

impl NatsBus {
    /// Connects, finds (or creates) the stream and notes where it stands;
    /// fails when NATS cannot be reached, so a misconfigured node never
    /// starts serving. Live delivery starts with [`NatsBus::run`].
    pub async fn connect(config: &NatsConfig) -> Result<Arc<Self>, BusError> {
        let disconnects = Arc::new(AtomicU64::new(0));
        let seen = disconnects.clone();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(RESPONSE_TIMEOUT)
            .max_reconnects(None)
            .reconnect_delay_callback(|n| {
                retry::BACKOFF.delay(u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1))
            })
            .event_callback(move |event| {
                let seen = seen.clone();
                async move {
                    if matches!(event, async_nats::Event::Disconnected) {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .connect(config.url.as_str())
            .await
            .map_err(|e| BusError::Unavailable(format!("NATS {}: {e}", config.url)))?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(RESPONSE_TIMEOUT);
        let mut info = ensure_stream(&js, config).await?;
        if (info.config.max_messages, info.config.max_age) != (config.max_events, config.max_age) {
            // An existing stream with other retention: the flags win (at
            // start only, so nodes with different flags cannot flip-flop).
            let mut wanted = info.config.clone();
            wanted.max_messages = config.max_events;
            wanted.max_age = config.max_age;
            wanted.duplicate_window = DEDUP_WINDOW.min(config.max_age);
            info = js.update_stream(wanted).await.map_err(unavailable)?;
            tracing::info!(
                max_events = config.max_events,
                max_age_s = config.max_age.as_secs(),
                "NATS stream retention updated"
            );
        }
        let (epoch, head) = (epoch_of(&info), info.state.last_sequence);
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        tracing::info!(
            epoch,
            head,
            stream = config.stream,
            "connected to the NATS bus"
        );
        Ok(Arc::new(Self {
            client,
            js,
            config: config.clone(),
            gate: PublishGate::new("NATS", config.publish_timeout),
            tx,
            state: Mutex::new(State {
                epoch,
                read: Position::new(epoch, head),
            }),
            reconnects: AtomicU64::new(0),
            disconnects,
            publish_checked: AtomicU64::new(0),
        }))
    }

    /// The JetStream context, for other users of the same NATS (the lease).
    pub fn jetstream(&self) -> jetstream::Context {
        self.js.clone()
    }

    /// The stream name (the lease bucket is named after it).
    pub fn stream_name(&self) -> &str {
        &self.config.stream
    }

    /// Seq of the last event delivered locally (at start: the stream's
    /// last sequence when connecting, where live delivery continues).
    pub fn delivered(&self) -> u64 {
        self.lock().read.delivered()
    }

    /// Up to `max` of the newest events at or before the delivery point,
    /// oldest first: what a new node's hub starts with.
    pub async fn recent(&self, max: usize) -> Result<Vec<Arc<Envelope>>, BusError> {
        let (epoch, upto) = {
            let s = self.lock();
            (s.read.epoch(), s.read.delivered())
        };
        let info = ensure_stream(&self.js, &self.config).await?;
        if upto == 0 || epoch_of(&info) != epoch {
            return Ok(Vec::new());
        }
        let from = info
            .state
            .first_sequence
            .max(upto.saturating_sub(max as u64) + 1);
        if from > upto {
            return Ok(Vec::new());
        }
        self.range(epoch, from, upto).await
    }

    /// Stops retrying publishes (shutdown).
    pub fn close(&self) {
        self.gate.close();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("nats bus state lock poisoned")
    }

    /// Events `from..=upto` of the stream (as it is in `epoch`), read with
    /// a short-lived consumer that is deleted afterwards.
    async fn range(
        &self,
        epoch: u64,
        from: u64,
        upto: u64,
    ) -> Result<Vec<Arc<Envelope>>, BusError> {
        let stream = self
            .js
            .get_stream_no_info(&self.config.stream)
            .await
            .map_err(unavailable)?;
        let consumer = stream
            .create_consumer(ephemeral(from, Duration::from_secs(10)))
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        let mut next = from;
        while next <= upto {
            let want = usize::try_from(upto - next + 1)
                .unwrap_or(usize::MAX)
                .min(READ_BATCH);
            let mut batch = consumer
                .fetch()
                .max_messages(want)
                .messages()
                .await
                .map_err(unavailable)?;
            let mut got = 0;
            while let Some(msg) = batch.next().await {
                let msg = msg.map_err(unavailable)?;
                got += 1;
                let info = msg.info().map_err(unavailable)?;
                let seq = info.stream_sequence;
                next = seq + 1;
                if seq > upto {
                    break;
                }
                if !stream::fenced_out(&msg.message, info.published) {
                    out.push(Arc::new(parse(epoch, seq, &msg.message, info.published)?));
                }
            }
            if got == 0 {
                break; // nothing more in the stream
            }
        }
        let name = consumer.cached_info().name.clone();
        if let Err(err) = stream.delete_consumer(&name).await {
            tracing::debug!(%err, "cannot delete a range consumer; it expires on its own");
        }
        Ok(out)
    }

    async fn publish_once(
        &self,
        subject: &str,
        headers: &async_nats::HeaderMap,
        data: &Bytes,
    ) -> Result<u64, jetstream::context::PublishError> {
        let ack = self
            .js
            .publish_with_headers(subject.to_owned(), headers.clone(), data.clone())
            .await?
            .await?;
        Ok(ack.sequence)
    }

    /// Whether the message at `seq` was stored after `fence_ms` (so every
    /// reader drops it), from the stream's own stamp.
    async fn stored_after(&self, seq: u64, fence_ms: u64) -> Result<bool, BusError> {
        let stream = self
            .js
            .get_stream_no_info(&self.config.stream)
            .await
            .map_err(unavailable)?;
        let msg = stream.get_raw_message(seq).await.map_err(unavailable)?;
        Ok(stream::stamp_ms(msg.time) > fence_ms)
    }

    /// Takes note of the epoch a publish found (it recreated the stream):
    /// ids given out from now on are in it. The reader notices on its own
    /// and reads the new stream from its start.
    fn note_epoch(&self, epoch: u64) {
        self.lock().epoch = epoch;
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(
        &self,
        topic: &str,
        event: &str,
        data: Bytes,
        key: Option<&str>,
    ) -> Result<EventId, BusError> {
        let pass = self.gate.enter(key)?;
        let (publish_id, deadline) = (&pass.publish_id, pass.deadline);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, publish_id.as_str());
        headers.insert(TOPIC_HEADER, topic);
        headers.insert(EVENT_HEADER, event);
        headers.insert(FENCE_HEADER, deadline.fence_ms.to_string().as_str());
        let subject = subject_for(&self.config.stream, topic);
        let (subject, headers, data) = (&subject, &headers, &data);
        self.gate
            .publish(&pass, || async move {
                // Never into the client's reconnect buffer: what it holds is
                // sent whenever NATS is back, long after we answered.
                if self.client.connection_state() != async_nats::connection::State::Connected {
                    return Err(Attempt::Retry(BusError::Unavailable(
                        "NATS is not connected".into(),
                    )));
                }
                let seen = self.disconnects.load(Ordering::Relaxed);
                if self.publish_checked.load(Ordering::Relaxed) != seen {
                    match ensure_stream(&self.js, &self.config).await {
                        Ok(info) => {
                            self.note_epoch(epoch_of(&info));
                            self.publish_checked.store(seen, Ordering::Relaxed);
                        }
                        Err(err) => return Err(Attempt::Retry(err)),
                    }
                }
                let seq = match self.publish_once(subject, headers, data).await {
                    Ok(seq) => seq,
                    Err(err) => {
                        if err.kind() == jetstream::context::PublishErrorKind::StreamNotFound {
                            // Deleted under us: recreate it (a new epoch); the
                            // reader notices and starts over with the new stream.
                            if let Ok(info) = ensure_stream(&self.js, &self.config).await {
                                self.note_epoch(epoch_of(&info));
                            }
                        }
                        return Err(Attempt::Retry(BusError::Unavailable(format!(
                            "NATS: {err}"
                        ))));
                    }
                };
                let near_fence =
                    retry::now_ms() + CLOCK_TOLERANCE.as_millis() as u64 > deadline.fence_ms;
                if near_fence {
                    match self.stored_after(seq, deadline.fence_ms).await {
                        Ok(false) => {}
                        // Readers drop it: it was not published.
                        Ok(true) => {
                            return Err(Attempt::Fatal(BusError::TimedOut(deadline.timeout)))
                        }
                        Err(err) => return Err(Attempt::Retry(err)),
                    }
                }
                Ok(EventId::new(self.epoch(), seq))
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
        let info = ensure_stream(&self.js, &self.config).await?;
        if epoch_of(&info) != after.epoch {
            return Err(BusError::OtherEpoch(after));
        }
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        if after.seq >= last || limit == 0 {
            return Ok(Vec::new());
        }
        if after.seq + 1 < first {
            return Err(BusError::Evicted(after));
        }
        let upto = last.min(after.seq.saturating_add(limit as u64));
        let events = self.range(after.epoch, after.seq + 1, upto).await?;
        match events.first() {
            // Trimmed between the info and the read: a gap.
            Some(e) if e.id.seq > after.seq + 1 => Err(BusError::Evicted(after)),
            None => Err(BusError::Evicted(after)),
            _ => Ok(events),
        }
    }

    fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    fn health(&self) -> BusHealth {
        let up = self.client.connection_state() == async_nats::connection::State::Connected;
        let reconnects = self.reconnects.load(Ordering::Relaxed);
        self.lock().read.health("nats", up, reconnects)
    }
}
