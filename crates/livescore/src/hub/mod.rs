//! The hub: one per node, between the bus and the transports.
//!
//! It owns, per topic, the recent history (for resume) and the latest state
//! events (for new and lagging clients), and one broadcast channel per
//! distinct set of topics that clients follow. Each event is encoded once
//! into a [`Frame`] and the same bytes go to every subscriber.
//!
//! Ordering: a subscriber has exactly one channel, fed under the hub lock in
//! id order, so a client following several topics still sees ids strictly
//! increasing, which is what makes its Last-Event-ID a safe resume point.
//! Subscribing snapshots history/state and creates the receiver under that
//! same lock, so there is no gap and no duplicate between replay and live.
//!
//! The hub knows no HTTP and never waits on a client: a full channel makes
//! the slow receiver lag, and [`Subscriber`] handles that on its own time.
//!
//! A new epoch (the bus lost its history: Redis restarted empty, a
//! recreated JetStream stream) is a new history. Its seqs start again
//! from 1 and order nothing against the old ones, so the hub drops the old
//! history, carries each state topic's latest event over to the new
//! history's start (restamped with the id just before its first event),
//! and sends every live channel one `reset` (reason `epoch`) carrying that
//! state. A subscriber takes the reset as the start of the new history and
//! then takes every event of it, however far its old position was.

mod channels;
pub mod deflate;
pub mod direct;
mod extend;
mod frame;
pub mod latency;
pub mod patch;
mod subscriber;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, BusError, Envelope};
use crate::model::{self, EventId};

pub use extend::CHAT_REPLAY;
pub use frame::{ws_frame_header, Frame, Patch, EVENT_PATCH, EVENT_RESET, WS_RSV1, WS_TEXT};
pub use subscriber::{Next, Subscriber};

/// Events kept per topic for resume (SPEC: at least the last 1,000).
pub const HISTORY_PER_TOPIC: usize = 1_000;

/// Frames a subscriber may be behind on its channel before it lags. When
/// full, the oldest frame is overwritten for that receiver only; it then
/// refills from history or skips to current state (see `Subscriber`), so
/// this bounds per-channel memory, never the publisher.
pub const CHANNEL_CAPACITY: usize = 256;

/// Most topics one subscription may name; more is a client error.
pub const MAX_TOPICS_PER_SUBSCRIPTION: usize = 32;

/// How a new subscription starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// No history wanted: the current state of the state topics and the
    /// last [`CHAT_REPLAY`] messages of chat topics, then live.
    Current,
    /// Everything after this id, then live; a `reset` first when the id
    /// cannot be honoured.
    After(EventId),
    /// The client sent an id that is not one of ours (kept, cut to a
    /// sane length, to echo back in the reset).
    Unknown(String),
}

/// Why a resume could not be served from history (SPEC `reset` reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// Older than the retained history.
    Evicted,
    /// From another history (the bus or database was reset).
    Epoch,
    /// Not an id this history ever gave out.
    Unknown,
}

impl ResetReason {
    /// The SPEC spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResetReason::Evicted => "evicted",
            ResetReason::Epoch => "epoch",
            ResetReason::Unknown => "unknown",
        }
    }
}

#[derive(Default)]
struct TopicEntry {
    history: VecDeque<Arc<Frame>>,
    /// Highest seq dropped from `history`; a resume from before it has a gap.
    evicted_upto: u64,
    /// Latest frame per state event name on this topic.
    state: Vec<Arc<Frame>>,
}

struct Inner {
    epoch: u64,
    last: Option<EventId>,
    /// Seq at or after which this hub holds every event (0: all); a resume
    /// from before it would have a silent gap (see [`Hub::set_floor`]).
    floor: u64,
    /// Set when this hub saw the epoch change live: the seq just before
    /// the new history's first event. It holds the new history from there,
    /// so a client of the old history gets all of it after its reset.
    epoch_start: Option<u64>,
    topics: HashMap<String, TopicEntry>,
    /// Live channels, found by topic (see `channels`).
    channels: channels::Channels,
    /// Set by [`Hub::close`]: no channel is kept any more.
    closed: bool,
}

/// Per-node fan-out; cheap to share as `Arc<Hub>`.
pub struct Hub {
    inner: Mutex<Inner>,
    /// Held through one event's whole ingest, fast-path writes included
    /// (they run after the hub lock is let go), so the next event's writes
    /// never overtake them.
    order: Mutex<()>,
}

/// What a new subscription gets under the lock: the frames to send first
/// and the live receiver that continues exactly after them.
pub(crate) struct Snapshot {
    pub backlog: Vec<Arc<Frame>>,
    /// A resume still to be read from history, page by page, before the
    /// backlog.
    pub resume: Option<Resume>,
    pub rx: broadcast::Receiver<Arc<Frame>>,
    pub last_seq: u64,
    /// Epoch of `last_seq`.
    pub epoch: u64,
}

/// A resume read from the shared history a page at a time, rather than
/// copied out whole: a client resuming over 32 topics may be owed 32,000
/// frames, and one that does not read would hold the list for as long as
/// it stays connected. Frames after `after` up to `upto`, in `epoch`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resume {
    pub epoch: u64,
    pub after: u64,
    pub upto: u64,
}

/// Frames a resume takes from history at a time.
pub(crate) const RESUME_PAGE: usize = 64;

impl Hub {
    /// An empty hub for ids of `epoch`.
    pub fn new(epoch: u64) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                epoch,
                last: None,
                floor: 0,
                epoch_start: None,
                topics: HashMap::new(),
                channels: channels::Channels::default(),
                closed: false,
            }),
            order: Mutex::new(()),
        })
    }

    /// A std mutex, not tokio's: it is never held across an `.await`
    /// (every section is a few map operations and a channel send), so it
    /// costs an uncontended atomic on the hot path, and a tokio mutex would
    /// only add a queue and a wake-up per delivery.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("hub lock poisoned")
    }

    /// Says the hub was warmed from a log that starts after `seq` (a new
    /// node reading the tail of a shared stream): it holds nothing at or
    /// before `seq`, so a resume from before it gets `reset` (evicted)
    /// instead of a replay with a silent gap.
    pub fn set_floor(&self, seq: u64) {
        self.lock().floor = seq;
    }

    /// The epoch of the history the hub holds now.
    pub(crate) fn epoch(&self) -> u64 {
        self.lock().position().0
    }

    /// Id of the last event the hub has seen.
    pub fn last_id(&self) -> Option<EventId> {
        self.lock().last
    }

    /// The latest `event` on `topic` if it is a state event (`scores`
    /// update, a game's state).
    pub fn state(&self, topic: &str, event: &str) -> Option<Arc<Frame>> {
        let inner = self.lock();
        let entry = inner.topics.get(topic)?;
        entry.state.iter().find(|f| f.event == event).cloned()
    }

    /// The latest `update` of every league's board (`scores/{league}`).
    pub fn league_boards(&self) -> Vec<Arc<Frame>> {
        let inner = self.lock();
        inner
            .topics
            .iter()
            .filter(|(t, _)| model::board_league(t).is_some())
            .filter_map(|(_, e)| e.state.iter().find(|f| f.event == model::EVENT_UPDATE))
            .cloned()
            .collect()
    }

    /// Retained events on `topic` named `event`, oldest first.
    pub fn history(&self, topic: &str, event: &str) -> Vec<Arc<Frame>> {
        let inner = self.lock();
        inner
            .topics
            .get(topic)
            .map(|t| {
                t.history
                    .iter()
                    .filter(|f| f.event == event)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of retained events per topic, for `/metrics`.
    pub fn history_sizes(&self) -> Vec<(String, usize)> {
        let inner = self.lock();
        inner
            .topics
            .iter()
            .map(|(t, e)| (t.clone(), e.history.len()))
            .collect()
    }

    /// Takes one event from the bus: encodes it once, records it, fans it
    /// out. Events at or before the last seen id are ignored, which makes
    /// bus refills after a lag idempotent.
    ///
    /// Subscribers on the fast path get the frame written to their sockets
    /// from here, after the hub lock is let go (see `direct`).
    pub fn ingest(&self, env: &Envelope) {
        self.ingest_live(env, &|_| false);
    }

    /// [`Hub::ingest`] for the feeding loop, which knows whether more
    /// events are waiting (`behind`, asked before the fast path's writes
    /// and between every few hundred of them, with the time they have
    /// taken so far). When they have waited long enough, the rest of the
    /// writes are not done here: one event's writes to every socket in
    /// turn would make the next wait, and at a rate the writes cannot keep
    /// up with, latency would grow without bound (measured: p99 6 s at 19,000 subscribers
    /// at 10 events/s). The sockets go back to their tasks instead, which
    /// gather whatever is pending into one write each, and return to the
    /// fast path once caught up.
    pub fn ingest_live(&self, env: &Envelope, behind: &direct::Behind<'_>) {
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let mut fast = Vec::new();
        let Some(frame) = self.record(env, &mut fast) else {
            return;
        };
        direct::fan_out(&fast, &frame, behind);
    }

    /// The locked part of [`Hub::ingest`]: the frame, recorded and sent to
    /// the channels, with the fast slots it must still be written to.
    fn record(&self, env: &Envelope, fast: &mut Vec<Arc<direct::Slot>>) -> Option<Arc<Frame>> {
        let mut inner = self.lock();
        if let Some(last) = inner.last {
            if env.id.epoch == last.epoch && env.id.seq <= last.seq {
                return None;
            }
        }
        if let Some(old) = inner.last.filter(|l| l.epoch != env.id.epoch) {
            inner.new_history(old, env.id);
        }
        inner.epoch = env.id.epoch;
        inner.last = Some(env.id);
        let entry = inner.topics.entry(env.topic.clone()).or_default();
        let mut frame = Frame::encode(env);
        if model::is_board_topic(&env.topic) && env.event == model::EVENT_UPDATE {
            // The board before this one, in this history: what a delta
            // stream's client holds when it is sent the patch.
            let base = entry.state.iter().find(|f| f.event == env.event);
            if let Some(base) = base.filter(|b| b.id.epoch == env.id.epoch) {
                frame = frame.with_patch_from(base);
            }
        }
        let frame = Arc::new(frame);
        if entry.history.len() == HISTORY_PER_TOPIC {
            if let Some(old) = entry.history.pop_front() {
                entry.evicted_upto = old.id.seq;
            }
        }
        entry.history.push_back(frame.clone());
        if model::is_state_event(&env.topic, &env.event) {
            match entry.state.iter_mut().find(|f| f.event == env.event) {
                Some(slot) => *slot = frame.clone(),
                None => entry.state.push(frame.clone()),
            }
        }
        inner.channels.send(&env.topic, &frame, fast);
        metrics::counter!("livescore_events_total").increment(1);
        Some(frame)
    }

    /// Ends every subscription once it has taken what it holds, and makes
    /// new ones end after their snapshot: at shutdown, so streams end with
    /// the hub rather than each polling a cancellation token on every
    /// delivery (a shared mutex, 3-5% of a delivery in `perf`).
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.channels.clear();
    }

    /// Subscribes to `topics` (already validated, deduplicated and sorted).
    pub fn subscribe(self: &Arc<Self>, topics: Vec<String>, start: Start) -> Subscriber {
        let key: Arc<[String]> = topics.into();
        let snap = self.snapshot(&key, start);
        Subscriber::new(self.clone(), key, snap)
    }

    pub(crate) fn snapshot(&self, key: &Arc<[String]>, start: Start) -> Snapshot {
        let mut inner = self.lock();
        let rx = inner.receiver(key);
        let (epoch, last_seq) = inner.position();
        let mut resume = None;
        let backlog = match start {
            Start::Current => inner.initial(key),
            Start::Unknown(sent) => inner.reset(key, ResetReason::Unknown, &sent),
            Start::After(id) => match inner.check_resume(key, id) {
                Ok(()) => {
                    resume = (id.seq < last_seq).then_some(Resume {
                        epoch,
                        after: id.seq,
                        upto: last_seq,
                    });
                    Vec::new()
                }
                Err(reason) => inner.reset_from(key, reason, id),
            },
        };
        Snapshot {
            backlog,
            resume,
            rx,
            last_seq,
            epoch,
        }
    }

    /// For a subscriber that lagged behind its channel: what it missed
    /// after `seq`, with state events conflated to the latest of each.
    /// `None` when a non-state topic lost events it never got (it must be
    /// disconnected; on reconnect it resumes or gets a reset).
    /// A subscriber still in an older epoch (it lagged past the epoch's
    /// `reset`) gets that reset now, as a resuming client would.
    pub(crate) fn catch_up(&self, key: &[String], from: EventId) -> Option<Vec<Arc<Frame>>> {
        let inner = self.lock();
        let seq = from.seq;
        if inner.position().0 != from.epoch {
            return Some(inner.reset_from(key, ResetReason::Epoch, from));
        }
        for topic in key {
            let lost = inner
                .topics
                .get(topic)
                .is_some_and(|t| t.evicted_upto > seq);
            if lost && !model::is_state_topic(topic) {
                return None;
            }
        }
        Some(inner.after(key, seq, true))
    }
}

impl Hub {
    /// The next page of a resume: up to [`RESUME_PAGE`] frames after
    /// `r.after`, none past `r.upto`, in id order. `None` when history
    /// moved on under it (a new epoch, or events after `r.after` evicted):
    /// the subscriber then catches up as a lagging one does.
    pub(crate) fn resume_page(&self, key: &[String], r: &Resume) -> Option<Vec<Arc<Frame>>> {
        let inner = self.lock();
        if inner.position().0 != r.epoch
            || key.iter().any(|t| {
                inner
                    .topics
                    .get(t)
                    .is_some_and(|e| e.evicted_upto > r.after)
            })
        {
            return None;
        }
        let mut out = Vec::with_capacity(RESUME_PAGE);
        for topic in key {
            let Some(entry) = inner.topics.get(topic) else {
                continue;
            };
            let start = entry.history.partition_point(|f| f.id.seq <= r.after);
            out.extend(
                entry
                    .history
                    .range(start..)
                    .take_while(|f| f.id.seq <= r.upto)
                    .take(RESUME_PAGE)
                    .cloned(),
            );
        }
        out.sort_by_key(|f| f.id.seq);
        out.truncate(RESUME_PAGE);
        Some(out)
    }
}

impl Inner {
    /// The epoch and seq of the last event (the hub's epoch and 0 before any).
    fn position(&self) -> (u64, u64) {
        self.last.map_or((self.epoch, 0), |l| (l.epoch, l.seq))
    }

    /// Starts the history that `first` opens, replacing the one that ended
    /// at `old` (see the module doc): old history dropped, state carried
    /// over to the new start, one `reset` with that state down every
    /// channel.
    fn new_history(&mut self, old: EventId, first: EventId) {
        let start = EventId::new(first.epoch, first.seq.saturating_sub(1));
        tracing::warn!(%old, %first, "a new bus history began; clients get an epoch reset");
        for entry in self.topics.values_mut() {
            entry.history.clear();
            entry.evicted_upto = 0;
            for frame in &mut entry.state {
                *frame = Arc::new(frame.restamp(start));
            }
        }
        self.epoch = start.epoch;
        self.floor = start.seq;
        self.epoch_start = Some(start.seq);
        self.last = Some(start);
        // Fast subscribers read the reset from their channels like the rest.
        self.channels.hand_back_all();
        let sent = old.to_string();
        for (key, tx) in self.channels.all() {
            let reset = Frame::reset_then(start, ResetReason::Epoch, &sent, self.initial(&key));
            if tx.send(Arc::new(reset)).is_ok() {
                metrics::counter!("livescore_resets_total", "reason" => "epoch").increment(1);
            }
        }
    }

    /// The reset for a client positioned at `from` (resuming, or lagging).
    /// One from an older epoch, on a hub that saw the new history begin,
    /// gets the state at that start and then every event of the new
    /// history, as a client connected through the change did.
    fn reset_from(&self, key: &[String], reason: ResetReason, from: EventId) -> Vec<Arc<Frame>> {
        let sent = from.to_string();
        let Some(start) = self.epoch_start.filter(|_| reason == ResetReason::Epoch) else {
            return self.reset(key, reason, &sent);
        };
        let lost = key.iter().any(|t| {
            self.topics
                .get(t)
                .is_some_and(|e| e.evicted_upto > start && !model::is_state_topic(t))
        });
        if lost {
            return self.reset(key, reason, &sent);
        }
        let mut out = vec![Arc::new(Frame::reset(
            EventId::new(self.epoch, start),
            reason,
            &sent,
        ))];
        out.extend(self.initial(key).into_iter().filter(|f| f.id.seq <= start));
        out.extend(self.after(key, start, true));
        metrics::counter!("livescore_resets_total", "reason" => reason.as_str()).increment(1);
        out
    }

    fn current_state(&self, key: &[String]) -> Vec<Arc<Frame>> {
        let mut out: Vec<_> = key
            .iter()
            .filter_map(|t| self.topics.get(t))
            .flat_map(|t| t.state.iter().cloned())
            .collect();
        out.sort_by_key(|f| f.id.seq);
        out
    }

    fn check_resume(&self, key: &[String], id: EventId) -> Result<(), ResetReason> {
        let Some(last) = self.last else {
            // Nothing seen yet here: an id can only be from elsewhere.
            return Err(if id.epoch == self.epoch {
                ResetReason::Unknown
            } else {
                ResetReason::Epoch
            });
        };
        if id.epoch != last.epoch {
            return Err(ResetReason::Epoch);
        }
        if id.seq > last.seq {
            return Err(ResetReason::Unknown);
        }
        if id.seq < self.floor {
            return Err(ResetReason::Evicted);
        }
        if key
            .iter()
            .any(|t| self.topics.get(t).is_some_and(|e| e.evicted_upto > id.seq))
        {
            return Err(ResetReason::Evicted);
        }
        // Served from history: counted here so SSE and WebSocket agree.
        metrics::counter!("livescore_resumes_total").increment(1);
        Ok(())
    }

    /// Frames after `seq` on the key's topics in id order; with `conflate`,
    /// only the latest of each state event.
    fn after(&self, key: &[String], seq: u64, conflate: bool) -> Vec<Arc<Frame>> {
        let mut out = Vec::new();
        for topic in key {
            let Some(entry) = self.topics.get(topic) else {
                continue;
            };
            let start = entry.history.partition_point(|f| f.id.seq <= seq);
            for f in entry.history.range(start..) {
                let superseded = conflate
                    && entry
                        .state
                        .iter()
                        .any(|s| s.event == f.event && s.id.seq != f.id.seq);
                if !superseded {
                    out.push(f.clone());
                }
            }
        }
        out.sort_by_key(|f| f.id.seq);
        out
    }

    fn reset(&self, key: &[String], reason: ResetReason, sent: &str) -> Vec<Arc<Frame>> {
        // State and recent chat, as a newcomer gets (see `extend`).
        let state = self.initial(key);
        // The reset's own id sits just before the state that follows, so a
        // client cut off right after the reset resumes into that state.
        let seq = state.first().map_or(self.last.map_or(0, |l| l.seq), |f| {
            f.id.seq.saturating_sub(1)
        });
        let mut out = Vec::with_capacity(state.len() + 1);
        out.push(Arc::new(Frame::reset(
            EventId::new(self.epoch, seq),
            reason,
            sent,
        )));
        out.extend(state);
        metrics::counter!("livescore_resets_total", "reason" => reason.as_str()).increment(1);
        out
    }
}

/// Events waiting behind a fast-path fan-out past which the sockets not
/// yet written go back to their tasks at once (see [`Hub::ingest_live`]).
const MAX_WAITING: usize = 16;

/// How long a waiting event may wait for a fast-path fan-out before the
/// sockets not yet written go back to their tasks.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Feeds the hub from the bus until shutdown. On lag it refills from the
/// bus's log, so the hub never silently skips an event. `tap` sees each
/// live event just before the hub fans it out (the chat limits count
/// other nodes' messages there, so a client that sees a message knows
/// the limits have counted it).
pub async fn run(
    hub: Arc<Hub>,
    bus: Arc<dyn Bus>,
    mut rx: broadcast::Receiver<Arc<Envelope>>,
    cancel: CancellationToken,
    tap: impl Fn(&Envelope) + Send + 'static,
) {
    let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread;
    loop {
        tokio::select! {
            // Shutdown: stop consuming, and end every subscription so
            // the streams end (WebSockets close on the token first).
            _ = cancel.cancelled() => return hub.close(),
            msg = rx.recv() => match msg {
                Ok(env) => {
                    tap(&env);
                    // The fast path's writes keep this thread for as long
                    // as they take: the runtime's other tasks move to
                    // another worker meanwhile, rather than wait (the
                    // subscribers handed back among them).
                    let behind = |spent: std::time::Duration| {
                        rx.len() > MAX_WAITING || (!rx.is_empty() && spent > MAX_WAIT)
                    };
                    let ingest = || hub.ingest_live(&env, &behind);
                    if multi_thread {
                        tokio::task::block_in_place(ingest);
                    } else {
                        ingest();
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "hub lagged behind the bus; refilling");
                    metrics::counter!("livescore_hub_lagged_total").increment(1);
                    refill(&hub, bus.as_ref()).await;
                }
                // The bus is gone: nothing more will come to this node's
                // clients, so they reconnect (to another node).
                Err(broadcast::error::RecvError::Closed) => return hub.close(),
            },
        }
    }
}

async fn refill(hub: &Hub, bus: &dyn Bus) {
    let Some(mut after) = hub.last_id() else {
        return;
    };
    loop {
        match bus.read_after(after, 1024).await {
            Ok(batch) if batch.is_empty() => return,
            Ok(batch) => {
                for env in &batch {
                    hub.ingest_live(env, &|_| true);
                }
                after = batch.last().map_or(after, |e| e.id);
            }
            Err(BusError::OtherEpoch(_)) if after.epoch != bus.epoch() => {
                // A new history began while we lagged: take it from its
                // start (ingesting its first event resets the clients).
                after = EventId::new(bus.epoch(), 0);
            }
            Err(BusError::Evicted(_)) => {
                // Further behind than the ring: the score history the bus
                // kept apart still reaches every client (a chat flood must
                // not cost a client the final score); what else was in
                // between is gone, as it is for the store writer.
                let Ok((state, resume)) = bus.recover_state(after).await else {
                    tracing::error!(%after, "hub fell further behind than the bus retains; clients will get current state");
                    return;
                };
                if resume.seq <= after.seq {
                    return;
                }
                tracing::error!(
                    %after,
                    %resume,
                    recovered = state.len(),
                    "hub fell behind the bus ring; score history recovered apart, other events in between skipped"
                );
                metrics::counter!("livescore_hub_skipped_total")
                    .increment((resume.seq - after.seq).saturating_sub(state.len() as u64));
                for env in &state {
                    hub.ingest(env);
                }
                after = resume;
            }
            Err(BusError::OtherEpoch(_)) | Err(BusError::Closed) => {
                tracing::error!(%after, "hub fell further behind than the bus retains; clients will get current state");
                return;
            }
            Err(err) => {
                // Shared bus unreachable: what was missed is not refilled;
                // lagging clients of non-state topics are dropped and resume.
                tracing::error!(%err, %after, "cannot refill the hub from the bus");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
