//! The fast path: subscribers whose sockets the hub writes itself.
//!
//! Why: a delivery through a subscriber's own task costs a wake-up, a
//! channel read and a pass through the scheduler per subscriber per event
//! (issue 23 measured about 2.5 µs of the 8 µs a delivery cost, over the
//! bare `write()`). A subscriber that has caught up, and whose socket takes
//! the bytes, needs none of that: the hub, which already holds the encoded
//! event, writes it to the socket straight away. Only when a socket cannot
//! take a whole frame does the subscriber fall back to its own task (the
//! slow path: its channel, conflation, the slow-client rules), and the task
//! hands it back once it has caught up again.
//!
//! One writer at a time: while a [`Slot`] is fast only the hub writes its
//! socket, under the slot's lock; while it is slow only its task does. The
//! hub makes a slot slow when a write comes up short (what is left of the
//! frame stays in the slot, for the task to send before anything else).
//! The task makes it slow when it must write itself (a keep-alive, the
//! token's expiry) or leave. Only the task makes it fast, under the hub
//! lock and only with nothing pending ([`super::Hub::go_fast`]), so no
//! event falls between the two paths: one published before that moment is
//! in the task's channel, one after it is the hub's to write.
//!
//! Its subscription stays open while fast (the task just stops reading it),
//! so going slow again needs no new snapshot: the task skips what the hub
//! already wrote and reads on from there.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::deflate::GzipSum;
use super::Frame;
use crate::model::EventId;

/// What the hub writes for an event: each encoding is made once and shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The SSE frame ([`Frame::sse`]).
    Sse,
    /// The WebSocket text frame ([`Frame::ws_wire`]).
    Ws,
    /// The SSE frame deflated, a piece of a gzip stream
    /// ([`Frame::sse_gzip`]).
    SseGzip,
    /// The permessage-deflate text frame ([`Frame::ws_deflate_wire`]).
    WsDeflate,
}

impl Wire {
    /// Every wire, in the order of their `as usize`.
    const ALL: [Wire; 4] = [Wire::Sse, Wire::Ws, Wire::SseGzip, Wire::WsDeflate];

    /// What a client on this wire gets for `frame`.
    pub fn bytes(self, frame: &Frame) -> &Bytes {
        match self {
            Wire::Sse => &frame.sse,
            Wire::Ws => frame.ws_wire(),
            Wire::SseGzip => &frame.sse_gzip().bytes,
            Wire::WsDeflate => frame.ws_deflate_wire(),
        }
    }

    /// The `transport` label of its metrics.
    fn transport(self) -> &'static str {
        match self {
            Wire::Sse | Wire::SseGzip => "sse",
            Wire::Ws | Wire::WsDeflate => "ws",
        }
    }
}

/// One subscriber's socket, as the hub sees it.
pub struct Slot {
    sock: Arc<TcpStream>,
    wire: Wire,
    state: Mutex<State>,
    /// Mirrors `State::fast` for the hub's listing, which must not lock
    /// every slot under the hub lock.
    fast: AtomicBool,
    /// Woken when the hub hands the socket back to the task.
    handed_back: Notify,
}

#[derive(Debug)]
struct State {
    fast: bool,
    /// The last event the socket has (or has the start of, with `rest`).
    written: EventId,
    /// The unsent end of a frame the socket took only in part.
    rest: Option<Bytes>,
    /// When the hub last wrote here ([`crate::bus::now_us`]), for the
    /// task's keep-alive timer.
    wrote_us: u64,
    /// A delta stream (`?delta=true`): a board goes out as its patch when
    /// the client has the board it applies to.
    delta: bool,
    /// The board the client has (a delta stream's).
    board: Option<EventId>,
    /// On a gzip stream: what the hub wrote since it last took the
    /// socket, for the stream's trailer.
    gzip: GzipSum,
}

/// What the task finds when it takes its socket back.
#[derive(Debug)]
pub struct Taken {
    /// The last event the socket has: the subscription skips to here.
    pub written: EventId,
    /// To send first: the end of a frame the socket took in part.
    pub rest: Option<Bytes>,
    /// When the hub last wrote (0: never).
    pub wrote_us: u64,
    /// The task took it while the hub still had it (rather than being
    /// handed it back): its channel went unread meanwhile, with nothing owed.
    pub was_fast: bool,
    /// The board the client has now (a delta stream's).
    pub board: Option<EventId>,
    /// On a gzip stream: the sum of what the hub wrote meanwhile, to be
    /// added to the stream's.
    pub gzip: GzipSum,
}

impl Slot {
    /// A slot for `sock`, slow until its task makes it fast.
    pub fn new(sock: Arc<TcpStream>, wire: Wire) -> Arc<Self> {
        Arc::new(Self {
            sock,
            wire,
            state: Mutex::new(State {
                fast: false,
                written: EventId::new(0, 0),
                rest: None,
                wrote_us: 0,
                delta: false,
                board: None,
                gzip: GzipSum::default(),
            }),
            fast: AtomicBool::new(false),
            handed_back: Notify::new(),
        })
    }

    /// What the hub writes here.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// True while the hub writes this socket.
    pub fn is_fast(&self) -> bool {
        self.fast.load(Ordering::Acquire)
    }

    /// Makes this a delta stream's socket whose client has `board`: set by
    /// its task, which owns it, before each hand-over to the hub.
    pub fn set_board(&self, board: Option<EventId>) {
        let mut st = self.lock();
        st.delta = true;
        st.board = board;
    }

    /// When the hub last wrote here (µs since the epoch; 0: never).
    pub fn wrote_us(&self) -> u64 {
        self.lock().wrote_us
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few plain fields, consistent after any panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands the socket to the hub, the subscription complete up to
    /// `written`. Only [`super::Hub::go_fast`] calls it, under the hub lock.
    pub(super) fn make_fast(&self, written: EventId) {
        let mut st = self.lock();
        st.fast = true;
        st.written = written;
        st.rest = None;
        st.gzip = GzipSum::default();
        self.fast.store(true, Ordering::Release);
    }

    /// Takes the socket back (the task must write, or leave, or the hub
    /// handed it back): from here only the task writes.
    pub fn take_back(&self) -> Taken {
        let mut st = self.lock();
        let was_fast = std::mem::replace(&mut st.fast, false);
        self.fast.store(false, Ordering::Release);
        Taken {
            written: st.written,
            rest: st.rest.take(),
            wrote_us: st.wrote_us,
            was_fast,
            board: st.board,
            gzip: std::mem::take(&mut st.gzip),
        }
    }

    /// Resolves when the hub hands the socket back (a short write, a new
    /// history, shutdown). Cancel-safe.
    pub async fn handed_back(&self) {
        loop {
            let notified = self.handed_back.notified();
            if !self.is_fast() {
                return;
            }
            notified.await;
        }
    }

    /// The hub gives the socket back to the task without writing: it must
    /// read its subscription (a new history's reset, the end at shutdown).
    pub(super) fn hand_back(&self) {
        let st = self.lock();
        if st.fast {
            self.give_back(st);
        }
    }

    /// Marks the socket the task's again and wakes the task: the one way
    /// the hub hands it back (`st` is let go before the wake).
    fn give_back(&self, mut st: std::sync::MutexGuard<'_, State>) -> Offer {
        st.fast = false;
        self.fast.store(false, Ordering::Release);
        drop(st);
        self.handed_back.notify_one();
        Offer::HandedBack
    }

    /// Writes `frame` if this socket is the hub's and has not got it yet.
    /// A short write (or an error, for the task to meet) hands the socket
    /// back.
    fn offer(&self, frame: &Frame, now_us: u64) -> Offer {
        let mut st = self.lock();
        if !st.fast || (frame.id.epoch == st.written.epoch && frame.id.seq <= st.written.seq) {
            return Offer::Skipped;
        }
        if frame.id.epoch != st.written.epoch {
            // Another history (the hub's first events, or a change it
            // hands back for anyway): the subscription sorts it out.
            return self.give_back(st);
        }
        let frame = if st.delta {
            delta_form(frame, &mut st.board)
        } else {
            frame
        };
        let bytes = self.wire.bytes(frame);
        // Straight to the kernel: tokio's `try_write` would first check and
        // then clear the socket's readiness, another cache line per
        // subscriber for nothing (the task's `writable()` copes with a
        // stale readiness, which the hub does not wait on).
        let sent = match socket2::SockRef::from(&*self.sock).send(bytes) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => {
                // A dead socket: the task finds out when it reads it.
                return self.give_back(st);
            }
        };
        st.written = frame.id;
        if self.wire == Wire::SseGzip {
            // Sent, or started: the task sends the rest.
            st.gzip.add(frame.sse_gzip());
        }
        if sent == bytes.len() {
            st.wrote_us = now_us;
            return Offer::Written;
        }
        // Its start went out (or none of it): the task sends the rest.
        st.rest = Some(bytes.slice(sent..));
        self.give_back(st)
    }
}

/// What a delta stream's client is sent for `frame`, its board `board`
/// moved on to it: the patch when it has the board the patch applies to.
/// One rule for the fast path and the task (`sse::SseBody`).
pub fn delta_form<'f>(frame: &'f Frame, board: &mut Option<EventId>) -> &'f Frame {
    use crate::model::{is_board_topic, EVENT_UPDATE};
    if !is_board_topic(&frame.topic) || frame.event != EVENT_UPDATE {
        // After a reset the client's board is not to be built on.
        if frame.event == super::EVENT_RESET {
            *board = None;
        }
        return frame;
    }
    let had = board.replace(frame.id);
    match &frame.patch {
        Some(p) if had == Some(p.base) => &p.frame,
        _ => frame,
    }
}

/// What [`Slot::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// Not the hub's socket, or it has the frame already.
    Skipped,
    /// The socket took the whole frame.
    Written,
    /// The socket is full (or gone): handed back to its task.
    HandedBack,
}

/// Fewest slots per extra thread of a fan-out: below it a thread costs
/// more than the writes it takes over.
const SLOTS_PER_SHARD: usize = 512;

/// Writes `frame` to every fast slot in `slots`; returns how many took it
/// whole. A large fan-out is split over one thread per core, the calling
/// one included: on loopback a write also pays for the reader's side of
/// TCP, so one thread alone would leave the other cores idle while the
/// last subscriber waits (measured: p99 25% higher than through the
/// subscribers' own tasks, which spread over the runtime's workers).
///
/// `behind`, given the time this fan-out has taken so far, says the
/// events waiting behind it have waited long enough: asked first and then
/// every [`CHECK_EVERY`] slots. When it says so, the slots not yet written
/// go back to their tasks instead (which have the event in their channels
/// and gather what is pending into one write each), so a node past what
/// it can write per event keeps its latency bounded.
pub(super) fn fan_out(slots: &[Arc<Slot>], frame: &Frame, behind: &Behind<'_>) -> usize {
    if slots.is_empty() {
        return 0;
    }
    let started = std::time::Instant::now();
    let now = crate::bus::now_us();
    let shards = shards().min(slots.len().div_ceil(SLOTS_PER_SHARD)).max(1);
    let write = |part: &[Arc<Slot>]| {
        let mut tally = Tally::default();
        for (i, slot) in part.iter().enumerate() {
            if i % CHECK_EVERY == 0 && !tally.yielded && behind(started.elapsed()) {
                tally.yielded = true;
            }
            if tally.yielded {
                slot.hand_back();
                continue;
            }
            match slot.offer(frame, now) {
                Offer::Written => tally.written[slot.wire as usize] += 1,
                Offer::HandedBack => tally.handed_back += 1,
                Offer::Skipped => {}
            }
        }
        tally
    };
    let tally = if shards == 1 {
        write(slots)
    } else {
        let per = slots.len().div_ceil(shards);
        let mut parts = slots.chunks(per);
        let mine = parts.next().unwrap_or_default();
        std::thread::scope(|scope| {
            let others: Vec<_> = parts.map(|part| scope.spawn(move || write(part))).collect();
            others
                .into_iter()
                .map(|t| t.join().unwrap_or_default())
                .fold(write(mine), Tally::add)
        })
    };
    let mut total = 0;
    for wire in Wire::ALL {
        let n = tally.written[wire as usize];
        if n > 0 {
            let transport = wire.transport();
            metrics::counter!("livescore_events_delivered_total", "transport" => transport)
                .increment(n);
            metrics::counter!("livescore_fast_path_writes_total", "transport" => transport)
                .increment(n);
            super::latency::of(transport).observe_n(frame, now, n);
            total += n as usize;
        }
    }
    if tally.handed_back > 0 {
        metrics::counter!("livescore_fast_path_handbacks_total").increment(tally.handed_back);
    }
    if tally.yielded {
        metrics::counter!("livescore_fast_path_yields_total").increment(1);
    }
    total
}

/// Whether the events waiting behind a fan-out that has taken this long
/// should no longer wait for it (see [`fan_out`]).
pub type Behind<'a> = dyn Fn(std::time::Duration) -> bool + Sync + 'a;

/// Slots written between two looks at whether the hub is behind.
const CHECK_EVERY: usize = 256;

/// What one thread of a fan-out did.
#[derive(Debug, Default)]
struct Tally {
    /// Whole writes, by [`Wire`].
    written: [u64; 4],
    handed_back: u64,
    /// The hub fell behind: the rest went back to their tasks.
    yielded: bool,
}

impl Tally {
    fn add(self, other: Tally) -> Tally {
        Tally {
            written: std::array::from_fn(|i| self.written[i] + other.written[i]),
            handed_back: self.handed_back + other.handed_back,
            yielded: self.yielded || other.yielded,
        }
    }
}

/// Threads a fan-out may use (`--fanout-threads`; 0: one per core).
static THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sets how many threads one fan-out may use, at start (0: one per core
/// this process may run on).
pub fn set_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

fn shards() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    match THREADS.load(Ordering::Relaxed) {
        0 => *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from)),
        n => n,
    }
}
