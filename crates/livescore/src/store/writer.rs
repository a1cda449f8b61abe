//! The write-behind task: takes every event off the bus, like the hub does,
//! and writes them to the store in batches, one transaction each.
//!
//! It must never slow the stream. Publishers and the hub never wait on it:
//! it has its own bus receiver, and when the database is slow or down it
//! keeps what it has queued and retries with backoff, taking events off the
//! bus all the while (also while a write is in flight), so its receiver
//! does not lag behind a flood.
//!
//! Score history is never shed for other traffic: events of the state
//! topics (`scores`, `game/…`) and the rest (chat, published topics) have
//! queue budgets of their own ([`STATE_QUEUE_CAPACITY`],
//! [`QUEUE_CAPACITY`]). A chat flood during a stalled database fills only
//! its own budget; past it the newest of that class are dropped, counted
//! per class (`livescore_store_lost_total{class}`, `/healthz`). Should the
//! receiver lag all the same, what it skipped is refilled from the bus's
//! ring (`read_after`), and a gap the ring no longer holds is counted as
//! class `unknown`.
//! On shutdown it flushes under a deadline and, when everything the bus
//! gave out is written, marks the history clean so the next start continues
//! the ids without a gap.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::rows::Batch;
use super::{Store, META_CLEAN_SEQ};
use crate::backoff::Backoff;
use crate::bus::{Bus, BusError, Envelope};
use crate::model::EventId;

/// Events held while the database is slow or down. When full the writer
/// stops taking events from the bus (blocking only itself) and later
/// refills from the bus's ring; at 10,000 events it rides out minutes of a
/// live week's traffic and costs little memory (envelopes are shared with
/// the bus ring).
pub const QUEUE_CAPACITY: usize = 10_000;
/// Events of the state topics (score events, game states, the board) held
/// while the database is slow or down, apart from [`QUEUE_CAPACITY`]: a
/// live week publishes a few thousand, so this rides out a day's outage.
pub const STATE_QUEUE_CAPACITY: usize = 20_000;
/// Most events in one transaction: large enough that a burst is written in
/// a few commits, small enough that one failed commit redoes little.
pub const BATCH_MAX_EVENTS: usize = 500;
/// First retry delay after a failed write; doubles up to [`RETRY_MAX`].
pub const RETRY_MIN: Duration = Duration::from_millis(100);
/// Longest retry delay, so a database that comes back is used within it.
pub const RETRY_MAX: Duration = Duration::from_secs(2);
/// The writer's retry policy.
const RETRY: Backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
/// How long shutdown spends writing what is still queued.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(5);
/// Events asked of the bus ring per refill call.
const REFILL_CHUNK: usize = 1024;
/// How long `/healthz` waits for the database to answer.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// What the writer reports, shared with `/healthz` and the history API.
#[derive(Debug)]
pub struct WriterStatus {
    queued: AtomicUsize,
    errors: AtomicU64,
    lost: AtomicU64,
    /// Of `lost`: state events (never, short of [`STATE_QUEUE_CAPACITY`]),
    /// other events, and gaps of unknown class.
    lost_state: AtomicU64,
    lost_other: AtomicU64,
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Seq of the last event written; everything before it is written too
    /// (batches go in id order), so a reader can wait for a prefix.
    written: watch::Sender<u64>,
    /// Seq ranges (inclusive) of events this writer dropped, newest last,
    /// at most [`SHED_RANGES`]: a `stored` publish whose event was shed
    /// must not be answered 202 once later events are written.
    shed: Mutex<VecDeque<(u64, u64)>>,
    epoch: u64,
}

/// Shed ranges remembered; adjacent ones merge, so a flood is a few.
const SHED_RANGES: usize = 4096;

/// What became of a published event, for `--publish-ack stored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Committed.
    Stored,
    /// Dropped from the write queue (the database was behind); it will
    /// not be stored.
    Shed,
    /// Not committed within the wait.
    Pending,
}

impl WriterStatus {
    /// Status for a history in `epoch` whose events up to `written` are
    /// already stored.
    pub fn new(epoch: u64, written: u64) -> Arc<Self> {
        Arc::new(Self {
            queued: AtomicUsize::new(0),
            errors: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            lost_state: AtomicU64::new(0),
            lost_other: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            last_error: Mutex::new(None),
            written: watch::Sender::new(written),
            shed: Mutex::new(VecDeque::new()),
            epoch,
        })
    }

    fn set_queued(&self, n: usize) {
        self.queued.store(n, Ordering::Relaxed);
        metrics::gauge!("livescore_store_queue").set(n as f64);
    }

    /// Counts `n` events of `class` that will never reach the database.
    /// Counts `n` events lost from seq `from` on.
    fn lose(&self, class: Class, from: u64, n: u64) {
        if n == 0 {
            return;
        }
        let to = from + n - 1;
        {
            let mut shed = self.shed.lock().expect("status lock");
            match shed.back_mut() {
                Some(last) if last.1 + 1 >= from && last.0 <= from => last.1 = last.1.max(to),
                _ => {
                    if shed.len() == SHED_RANGES {
                        shed.pop_front();
                    }
                    shed.push_back((from, to));
                }
            }
        }
        self.lost.fetch_add(n, Ordering::Relaxed);
        match class {
            Class::State => self.lost_state.fetch_add(n, Ordering::Relaxed),
            Class::Other => self.lost_other.fetch_add(n, Ordering::Relaxed),
            Class::Unknown => 0,
        };
        metrics::counter!("livescore_store_lost_total", "class" => class.as_str()).increment(n);
    }

    /// Events of `class` lost since start.
    fn lost_of(&self, class: Class) -> u64 {
        match class {
            Class::State => self.lost_state.load(Ordering::Relaxed),
            Class::Other => self.lost_other.load(Ordering::Relaxed),
            Class::Unknown => 0,
        }
    }

    /// True while writes fail.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Events queued for the database now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Events lost since start.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

/// Which queue budget an event counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `scores` and `game/…`: the score history; never shed for others.
    State,
    /// Chat and every published topic.
    Other,
    /// A gap in the ids: events that left the bus ring unseen.
    Unknown,
}

impl Class {
    fn of(env: &Envelope) -> Self {
        if crate::model::is_state_topic(&env.topic) {
            Class::State
        } else {
            Class::Other
        }
    }

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::State => "state",
            Class::Other => "other",
            Class::Unknown => "unknown",
        }
    }
}

/// The store and its writer's status: what HTTP handlers hold.
#[derive(Clone)]
pub struct StoreHandle {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The write-behind task's status.
    pub status: Arc<WriterStatus>,
}

/// Lost events per class, for `/healthz`.
#[derive(Debug, Clone, Serialize)]
pub struct LostByClass {
    /// Events of `scores` and `game/…`.
    pub state: u64,
    /// Chat and published topics.
    pub other: u64,
}

/// What `/healthz` reports for the database.
#[derive(Debug, Clone, Serialize)]
pub struct StoreHealth {
    /// `sqlite` or `postgres`.
    pub kind: &'static str,
    /// The database answered a ping just now.
    pub reachable: bool,
    /// Events published but not yet written.
    pub queue: usize,
    /// Id of the last event written.
    pub last_written_id: Option<EventId>,
    /// Failed write attempts since start.
    pub write_errors: u64,
    /// Events that never reached the database since start (an outage
    /// longer than their class's queue budget).
    pub lost: u64,
    /// Of `lost`, per class: `state` (score history) and `other` (chat,
    /// published topics); the rest were gaps of unknown class.
    pub lost_by_class: LostByClass,
    /// The last write error while writes are failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl StoreHandle {
    /// The database's state, pinging it with a short timeout.
    pub async fn health(&self) -> StoreHealth {
        let reachable = matches!(
            tokio::time::timeout(PING_TIMEOUT, self.store.ping()).await,
            Ok(Ok(()))
        );
        let s = &self.status;
        let written = *s.written.borrow();
        StoreHealth {
            kind: self.store.kind(),
            reachable,
            queue: s.queued.load(Ordering::Relaxed),
            last_written_id: (written > 0).then(|| EventId::new(s.epoch, written)),
            write_errors: s.errors.load(Ordering::Relaxed),
            lost: s.lost.load(Ordering::Relaxed),
            lost_by_class: LostByClass {
                state: s.lost_state.load(Ordering::Relaxed),
                other: s.lost_other.load(Ordering::Relaxed),
            },
            last_error: if s.failing.load(Ordering::Relaxed) {
                s.last_error.lock().expect("status lock").clone()
            } else {
                None
            },
        }
    }

    /// Waits until every event up to `seq` is written, at most `wait`, so a
    /// history read agrees with what was already streamed. False on timeout.
    pub async fn caught_up(&self, seq: u64, wait: Duration) -> bool {
        let mut rx = self.status.written.subscribe();
        let reached = tokio::time::timeout(wait, rx.wait_for(|w| *w >= seq)).await;
        matches!(reached, Ok(Ok(_)))
    }

    /// Waits (at most `wait`) until the writer is past `seq`, and says
    /// whether the event itself was committed or shed on the way.
    pub async fn kept(&self, seq: u64, wait: Duration) -> Kept {
        if !self.caught_up(seq, wait).await {
            return Kept::Pending;
        }
        let shed = self.status.shed.lock().expect("status lock");
        if shed.iter().any(|&(from, to)| (from..=to).contains(&seq)) {
            Kept::Shed
        } else {
            Kept::Stored
        }
    }
}

/// The write-behind task's state.
pub struct Writer {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    rx: broadcast::Receiver<Arc<Envelope>>,
    status: Arc<WriterStatus>,
    pending: VecDeque<Arc<Envelope>>,
    /// Of `pending`: state events (the rest are other).
    pending_state: usize,
    /// What a gap in the ids counts as: `Unknown`, or `Other` while
    /// recovering from the bus's state ring (every state event of the gap
    /// was recovered, so what is missing is not score history).
    gap_class: Class,
    /// Seq of the newest event queued; older ones from the bus are repeats.
    last_queued: u64,
    /// Epoch of `last_queued`. A new epoch (a flushed Redis) restarts seq
    /// from 1, so its events must not be taken for repeats of the old one.
    last_epoch: u64,
    /// The receiver lagged (or was left unread while full): refill from the
    /// bus ring before trusting it again.
    behind: bool,
    closed: bool,
}

impl Writer {
    /// A writer for events after `base_seq`, from `rx` (subscribed before
    /// any producer started, so it misses nothing).
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        rx: broadcast::Receiver<Arc<Envelope>>,
        status: Arc<WriterStatus>,
        base_seq: u64,
    ) -> Self {
        let last_epoch = bus.epoch();
        Self {
            store,
            bus,
            rx,
            status,
            pending: VecDeque::new(),
            pending_state: 0,
            gap_class: Class::Unknown,
            last_queued: base_seq,
            last_epoch,
            behind: false,
            closed: false,
        }
    }

    /// Writes until `cancel`, then flushes under [`FLUSH_DEADLINE`].
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut retry = 0;
        loop {
            self.take_available().await;
            if self.pending.is_empty() {
                if self.closed {
                    break;
                }
                tokio::select! {
                    // Shutdown: stop waiting; the flush below takes the rest.
                    _ = cancel.cancelled() => break,
                    // The next event after an idle spell.
                    msg = self.rx.recv() => self.on_recv(msg),
                }
                continue;
            }
            if self.write_batch().await {
                retry = 0;
                continue;
            }
            retry += 1;
            let pause = tokio::time::sleep(RETRY.delay(retry));
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    // Shutdown during an outage: go and try the flush.
                    _ = cancel.cancelled() => break,
                    // Wait before retrying.
                    _ = &mut pause => break,
                    // Events keep queueing meanwhile, each in its budget.
                    msg = self.rx.recv(), if !self.closed && !self.behind => self.on_recv(msg),
                }
            }
            if cancel.is_cancelled() {
                break;
            }
        }
        self.flush().await;
    }

    /// Moves what the bus has ready into the queue without waiting (each
    /// event within its class's budget).
    async fn take_available(&mut self) {
        if self.behind {
            self.refill().await;
        }
        loop {
            match self.rx.try_recv() {
                Ok(env) => self.accept(env),
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "store writer lagged behind the bus; refilling");
                    self.behind = true;
                    self.refill().await;
                }
                Err(broadcast::error::TryRecvError::Closed) => {
                    self.closed = true;
                    break;
                }
            }
        }
        self.status.set_queued(self.pending.len() + self.rx.len());
    }

    fn on_recv(&mut self, msg: Result<Arc<Envelope>, broadcast::error::RecvError>) {
        match msg {
            Ok(env) => self.accept(env),
            Err(broadcast::error::RecvError::Lagged(_)) => self.behind = true,
            Err(broadcast::error::RecvError::Closed) => self.closed = true,
        }
    }

    fn accept(&mut self, env: Arc<Envelope>) {
        if env.id.epoch != self.last_epoch {
            tracing::warn!(
                old = self.last_epoch,
                new = env.id.epoch,
                "the bus started a new history; writing it from its start"
            );
            self.last_epoch = env.id.epoch;
            self.last_queued = 0;
        }
        if env.id.seq <= self.last_queued {
            return; // already queued through a refill
        }
        if env.id.seq > self.last_queued + 1 && self.last_queued > 0 {
            let missing = env.id.seq - self.last_queued - 1;
            self.status
                .lose(self.gap_class, self.last_queued + 1, missing);
            tracing::error!(
                missing,
                after = self.last_queued,
                "events left the bus ring before the database took them"
            );
        }
        self.last_queued = env.id.seq;
        let class = Class::of(&env);
        let (held, budget) = match class {
            Class::State => (self.pending_state, STATE_QUEUE_CAPACITY),
            _ => (self.pending.len() - self.pending_state, QUEUE_CAPACITY),
        };
        if held >= budget {
            // Only this class's budget is full: drop the newest of it,
            // never an event of the other class.
            if self.status.lost_of(class) == 0 {
                tracing::error!(
                    class = class.as_str(),
                    budget,
                    "database queue full for this class; dropping its newest events"
                );
            }
            self.status.lose(class, env.id.seq, 1);
            return;
        }
        if class == Class::State {
            self.pending_state += 1;
        }
        self.pending.push_back(env);
    }

    /// Reads what the receiver skipped from the bus ring (each event
    /// within its class's budget). Clears `behind` once caught up.
    async fn refill(&mut self) {
        let epoch = self.bus.epoch();
        loop {
            let after = EventId::new(epoch, self.last_queued);
            match self.bus.read_after(after, REFILL_CHUNK).await {
                Ok(events) if events.is_empty() => break,
                Ok(events) => events.into_iter().for_each(|e| self.accept(e)),
                Err(BusError::Evicted(_)) if self.recover(after).await => {}
                Err(
                    BusError::Evicted(_)
                    | BusError::OtherEpoch(_)
                    | BusError::Closed
                    | BusError::Unavailable(_)
                    | BusError::Redis(_)
                    | BusError::Nats(_)
                    | BusError::Corrupt(_)
                    | BusError::TimedOut(_),
                ) => {
                    // What is gone is gone; `accept` counts the gap when the
                    // receiver delivers the next event.
                    break;
                }
            }
        }
        self.behind = false;
    }

    /// Takes the state events the bus kept apart of what left its ring
    /// before this writer read it, and steps over the rest (counted as
    /// lost `other`); false when the bus kept none.
    async fn recover(&mut self, after: EventId) -> bool {
        let Ok((state, resume)) = self.bus.recover_state(after).await else {
            return false;
        };
        if resume.seq <= after.seq {
            return false;
        }
        tracing::error!(
            after = after.seq,
            resume = resume.seq,
            recovered = state.len(),
            "events left the bus ring before the database took them; score history recovered apart"
        );
        self.gap_class = Class::Other;
        for env in state {
            self.accept(env);
        }
        if resume.seq > self.last_queued {
            self.status.lose(
                Class::Other,
                self.last_queued + 1,
                resume.seq - self.last_queued,
            );
            self.last_queued = resume.seq;
        }
        self.gap_class = Class::Unknown;
        true
    }

    /// Writes the oldest batch; true on success. Takes events off the bus
    /// while the write is in flight, so a stalled database cannot make the
    /// receiver lag.
    async fn write_batch(&mut self) -> bool {
        let n = self.pending.len().min(BATCH_MAX_EVENTS);
        let events: Vec<Arc<Envelope>> = self.pending.range(..n).cloned().collect();
        let batch = Batch::from_events(&events, Utc::now());
        let store = self.store.clone();
        let write = store.write(&batch);
        tokio::pin!(write);
        let result = loop {
            tokio::select! {
                biased;
                result = &mut write => break result,
                // Appends behind the batch; the batch's events stay put.
                // Once lagged, what was skipped comes from the bus first
                // (`refill`), so no later event is taken before it.
                msg = self.rx.recv(), if !self.closed && !self.behind => self.on_recv(msg),
            }
        };
        match result {
            Ok(()) => {
                let states = self
                    .pending
                    .drain(..n)
                    .filter(|e| Class::of(e) == Class::State)
                    .count();
                self.pending_state -= states;
                if let Some(last) = events.last() {
                    self.status.written.send_replace(last.id.seq);
                }
                if self.status.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("database writes resumed");
                }
                metrics::counter!("livescore_store_writes_total").increment(n as u64);
                self.status.set_queued(self.pending.len() + self.rx.len());
                true
            }
            Err(err) => {
                self.status.errors.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("livescore_store_write_errors_total").increment(1);
                *self.status.last_error.lock().expect("status lock") = Some(err.to_string());
                if !self.status.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%err, queued = self.pending.len(), "database write failed; queueing and retrying");
                } else {
                    tracing::debug!(%err, "database write failed again");
                }
                false
            }
        }
    }

    /// Writes what is left, within [`FLUSH_DEADLINE`]; marks the history
    /// clean when every id the bus gave out is in the database.
    async fn flush(&mut self) {
        let drained = tokio::time::timeout(FLUSH_DEADLINE, async {
            loop {
                self.take_available().await;
                if self.pending.is_empty() && !self.behind {
                    return;
                }
                if !self.write_batch().await {
                    tokio::time::sleep(RETRY_MIN).await;
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::error!(
                unwritten = self.pending.len(),
                "shutdown deadline passed with events not written to the database"
            );
            return;
        }
        // Everything queued is written; if that covers every id the bus gave
        // out, the next start may continue right after it.
        let given_out = self.bus.health().last_id.map_or(0, |id| id.seq);
        if self.last_queued >= given_out {
            let clean = self.last_queued.to_string();
            if let Err(err) = self.store.set_meta(META_CLEAN_SEQ, Some(&clean)).await {
                tracing::warn!(%err, "cannot mark the history clean; the next start skips ids");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shed_event_is_not_called_stored_once_later_ones_are() {
        let handle = StoreHandle {
            store: crate::store::open("sqlite::memory:").await.expect("store"),
            status: WriterStatus::new(1, 0),
        };
        handle.status.lose(Class::Other, 5, 3);
        handle.status.lose(Class::Other, 8, 1);
        handle.status.lose(Class::State, 20, 2);
        assert_eq!(
            handle.status.shed.lock().expect("lock").len(),
            2,
            "adjacent ranges merge"
        );
        handle.status.written.send_replace(30);
        let wait = Duration::from_millis(1);
        assert_eq!(handle.kept(4, wait).await, Kept::Stored);
        for seq in [5, 7, 8, 20, 21] {
            assert_eq!(handle.kept(seq, wait).await, Kept::Shed, "{seq}");
        }
        assert_eq!(handle.kept(9, wait).await, Kept::Stored);
        assert_eq!(handle.kept(31, wait).await, Kept::Pending);
        assert_eq!(handle.health().await.lost, 6);
    }
}
