//! The subscribers: N connections in this process, each a task that reads
//! its stream, checks every delivery off a bitmap (lost and duplicate
//! events) and records its latency. Histograms are per shard, not per
//! connection (one is tens of KiB), and a whole read's deliveries are
//! recorded under one lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::plan::Plan;
use super::sse::{self, SseConn};
use super::ws::{self, WsConn};

/// Histogram shards; connection `i` records into shard `i % SHARDS`, so
/// the runtime's threads rarely wait on one another.
const SHARDS: usize = 16;

/// Highest latency recorded, in microseconds; later is clamped to it.
const MAX_LATENCY_US: u64 = 600_000_000;

/// A new histogram of latencies in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// The counts every task adds to.
struct Shared {
    plan: Plan,
    gate: Semaphore,
    connected: AtomicU64,
    failed: AtomicU64,
    slow: AtomicU64,
    received: AtomicU64,
    last_rx_ns: AtomicU64,
    first_error: Mutex<Option<String>>,
    shards: Vec<Mutex<Shard>>,
}

struct Shard {
    hist: Histogram<u64>,
    dups: u64,
    missing: u64,
    dropped: u64,
}

/// What the subscribers saw, merged.
#[derive(Debug)]
pub struct Tally {
    /// Latency of every first delivery, in microseconds.
    pub hist: Histogram<u64>,
    /// Subscribers that got their stream.
    pub connected: u64,
    /// Subscribers that could not connect or subscribe.
    pub failed: u64,
    /// Connected subscribers that never read (excluded from the counts).
    pub slow: u64,
    /// Distinct (subscriber, event) deliveries.
    pub received: u64,
    /// Deliveries of an event a subscriber already had.
    pub dups: u64,
    /// Events a reading subscriber (or a failed one) never got.
    pub missing: u64,
    /// Reading subscribers whose stream ended before the bench did.
    pub dropped: u64,
    /// Unix nanos of the last delivery.
    pub last_rx_ns: u64,
    /// The first connection error, as an example.
    pub first_error: Option<String>,
}

/// The running subscribers.
pub struct Fleet {
    shared: Arc<Shared>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Fleet {
    /// Starts connecting `count` subscribers numbered from `first` (the
    /// number picks the transport and whether it is slow).
    pub fn start(plan: Plan, first: usize, count: usize) -> Self {
        let shared = Arc::new(Shared {
            gate: Semaphore::new(plan.connect_concurrency.max(1)),
            plan,
            connected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            received: AtomicU64::new(0),
            last_rx_ns: AtomicU64::new(0),
            first_error: Mutex::new(None),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        hist: new_histogram(),
                        dups: 0,
                        missing: 0,
                        dropped: 0,
                    })
                })
                .collect(),
        });
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        for i in first..first + count {
            tracker.spawn(subscriber(shared.clone(), i, cancel.clone()));
        }
        Self {
            shared,
            tracker,
            cancel,
        }
    }

    /// Subscribers connected so far.
    pub fn connected(&self) -> u64 {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Subscribers that failed so far.
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Reading subscribers (expected to get every event).
    pub fn readers(&self) -> u64 {
        self.connected() - self.shared.slow.load(Ordering::Relaxed)
    }

    /// Distinct deliveries so far.
    pub fn received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// Closes every connection and merges what the subscribers saw.
    pub async fn finish(self) -> Tally {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        let s = &self.shared;
        let mut hist = new_histogram();
        let (mut dups, mut missing, mut dropped) = (0, 0, 0);
        for shard in &s.shards {
            let shard = shard.lock().expect("shard lock poisoned");
            hist.add(&shard.hist).expect("same bounds");
            dups += shard.dups;
            missing += shard.missing;
            dropped += shard.dropped;
        }
        Tally {
            hist,
            connected: s.connected.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            slow: s.slow.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            dups,
            missing,
            dropped,
            last_rx_ns: s.last_rx_ns.load(Ordering::Relaxed),
            first_error: s.first_error.lock().expect("error lock poisoned").clone(),
        }
    }
}

enum Conn {
    Sse(SseConn),
    Ws(Box<WsConn>),
}

impl Conn {
    async fn next_batch(&mut self, out: &mut Vec<(u64, u64)>) -> std::io::Result<bool> {
        match self {
            Conn::Sse(c) => c.next_batch(out).await,
            Conn::Ws(c) => c.next_batch(out).await,
        }
    }
}

async fn open(plan: &Plan, i: usize) -> Result<Conn, String> {
    let connect = async {
        if plan.uses_ws(i) {
            ws::connect(plan).await.map(|c| Conn::Ws(Box::new(c)))
        } else {
            sse::connect(plan).await.map(Conn::Sse)
        }
    };
    tokio::time::timeout(plan.connect_timeout, connect)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// One subscriber, from connect to the end of the bench.
async fn subscriber(shared: Arc<Shared>, i: usize, cancel: CancellationToken) {
    let plan = &shared.plan;
    let slow = plan.is_slow(i);
    let shard = &shared.shards[i % SHARDS];
    let opened = {
        let _permit = shared
            .gate
            .acquire()
            .await
            .expect("the gate is never closed");
        open(plan, i).await
    };
    let mut conn = match opened {
        Ok(conn) => conn,
        Err(err) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            if !slow {
                shard.lock().expect("shard lock poisoned").missing += plan.events;
            }
            shared
                .first_error
                .lock()
                .expect("error lock poisoned")
                .get_or_insert(err);
            return;
        }
    };
    if slow {
        shared.slow.fetch_add(1, Ordering::Relaxed);
    }
    shared.connected.fetch_add(1, Ordering::Relaxed);
    if slow {
        // Holds the connection open and never reads.
        cancel.cancelled().await;
        return;
    }
    let mut seen = vec![0u64; usize::try_from(plan.events.div_ceil(64)).unwrap_or(0)];
    let mut got = 0u64;
    let mut batch = Vec::new();
    let ended = loop {
        let more = tokio::select! {
            // The bench is over: stop reading.
            _ = cancel.cancelled() => break false,
            more = conn.next_batch(&mut batch) => more,
        };
        if !batch.is_empty() {
            let now = unix_nanos();
            let mut firsts = 0;
            let mut sh = shard.lock().expect("shard lock poisoned");
            for (t, n) in batch.drain(..) {
                let (word, bit) = ((n / 64) as usize, 1u64 << (n % 64));
                match seen.get_mut(word) {
                    Some(w) if *w & bit == 0 => {
                        *w |= bit;
                        firsts += 1;
                        let us = now.saturating_sub(t) / 1_000;
                        sh.hist.saturating_record(us.clamp(1, MAX_LATENCY_US));
                    }
                    // Seen already, or not an index we published.
                    _ => sh.dups += 1,
                }
            }
            drop(sh);
            got += firsts;
            shared.received.fetch_add(firsts, Ordering::Relaxed);
            shared.last_rx_ns.fetch_max(now, Ordering::Relaxed);
        }
        if !matches!(more, Ok(true)) {
            break true;
        }
    };
    let mut sh = shard.lock().expect("shard lock poisoned");
    sh.missing += plan.events - got;
    if ended {
        sh.dropped += 1;
    }
}

/// Nanoseconds since the Unix epoch: the clock the publisher stamps events
/// with (same machine, so both ends read the same clock).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
