//! `livescore bench --storm`: a reconnect storm. N SSE subscribers connect
//! and read while events are published; then the server is restarted (or
//! the subscribers' connections dropped) and every subscriber comes back
//! the way a browser's EventSource does: after the `retry:` the server
//! gave it (the server's jitter is what spreads them), with exponential
//! back-off and full jitter on failed connects, resuming with
//! `Last-Event-ID`. The report says how long until all were back and how
//! many connects failed; the run passes only when every subscriber got
//! every accepted event exactly once and never a `reset`.
//!
//! Subscribers run in this process (one task and one socket each), not in
//! worker processes: their reconnects are the measurement.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::args::Storm;
use super::fleet::{new_histogram, unix_nanos};
use super::plan::{parse_delivery, Plan};
use super::publisher::{self, PublishPlan, Published};
use super::server::{fresh_token, Target};
use super::{BenchArgs, BenchError, Latency, TICK};

/// Longest wait between two connect attempts of one subscriber, however
/// many failed.
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// The `retry:` assumed before the server sent one (EventSource's default
/// is about 3 s).
const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// How long a restarted server gets to end its streams and flush before it
/// is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// What a storm run saw.
#[derive(Debug, Serialize)]
pub struct StormReport {
    /// `restart` or `drop`.
    pub storm: String,
    /// Subscribers asked for.
    pub subscribers: u64,
    /// Subscribers connected before the storm.
    pub connected: u64,
    /// Subscribers the storm cut off.
    pub dropped: u64,
    /// Of those, subscribers reading again before the bench gave up.
    pub back: u64,
    /// Seconds from the storm (SIGTERM sent, or connections dropped) to the
    /// last subscriber back.
    pub all_back_secs: Option<f64>,
    /// Seconds the server took to stop and start again (`restart`).
    pub restart_secs: Option<f64>,
    /// Connect attempts after the storm that failed (refused, timed out,
    /// or answered with something other than a stream).
    pub failed_connects: u64,
    /// Connect attempts after the storm, failed ones included.
    pub connect_attempts: u64,
    /// The `retry:` values the subscribers were given, in ms (lowest,
    /// highest).
    pub retry_ms: (u64, u64),
    /// Events published, accepted (202) and refused or failed (the server
    /// was away).
    pub events: u64,
    /// Accepted by the server: each subscriber must get exactly these.
    pub accepted: u64,
    /// Not accepted (sent while the server was away).
    pub publish_errors: u64,
    /// Accepted events some subscriber never got, summed over subscribers.
    pub lost: u64,
    /// Deliveries of an event a subscriber already had.
    pub duplicates: u64,
    /// `reset` events received (a resume the server could not serve).
    pub resets: u64,
    /// Latency of every delivery of an event published after the storm
    /// began, to the subscribers that never dropped (`drop` with
    /// --storm-percent below 100): what the storm cost the clients
    /// already connected.
    pub steady_latency_ms: Option<Latency>,
    /// The same, for every subscriber (resumed events included).
    pub latency_ms: Latency,
    /// The first connect error, as an example.
    pub first_error: Option<String>,
    /// Every subscriber connected, came back, and got every accepted event
    /// exactly once with no reset.
    pub ok: bool,
}

impl super::report::Outcome for StormReport {
    fn table(&self) -> String {
        StormReport::table(self)
    }
    fn ok(&self) -> bool {
        self.ok
    }
}

impl StormReport {
    /// The human-readable report.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |k: &str, v: String| out.push_str(&format!("{k:<22} {v}\n"));
        row("storm", self.storm.clone());
        row(
            "subscribers",
            format!(
                "{} ({} connected before, {} cut off)",
                self.subscribers, self.connected, self.dropped
            ),
        );
        row(
            "back",
            format!(
                "{}/{}{}",
                self.back,
                self.dropped,
                self.all_back_secs
                    .map(|s| format!(", all within {s:.2} s of the storm"))
                    .unwrap_or_default()
            ),
        );
        if let Some(s) = self.restart_secs {
            row("restart", format!("{s:.2} s (stop and start again)"));
        }
        row(
            "connects after",
            format!(
                "{} attempts, {} failed",
                self.connect_attempts, self.failed_connects
            ),
        );
        row(
            "retry given",
            format!("{}-{} ms", self.retry_ms.0, self.retry_ms.1),
        );
        row(
            "events",
            format!(
                "{} published, {} accepted, {} refused (server away)",
                self.events, self.accepted, self.publish_errors
            ),
        );
        row(
            "lost",
            format!(
                "{} (duplicates {}, resets {})",
                self.lost, self.duplicates, self.resets
            ),
        );
        if let Some(l) = &self.steady_latency_ms {
            row("latency, steady", latency_line(l));
        }
        row("latency, all", latency_line(&self.latency_ms));
        if let Some(e) = &self.first_error {
            row("first error", e.clone());
        }
        row("result", if self.ok { "ok" } else { "FAILED" }.into());
        out
    }
}

fn latency_line(l: &Latency) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        l.p50, l.p99, l.max
    )
}

/// Runs the storm and prints the report; the exit status as `bench`'s.
pub async fn main(args: &BenchArgs) -> i32 {
    super::report::exit_status("livescore bench --storm", args.json, run(args).await)
}

/// A temporary directory for the restarted server's database, removed on
/// drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, BenchError> {
        let dir = std::env::temp_dir().join(format!("livescore-storm-{:016x}", fastrand::u64(..)));
        std::fs::create_dir(&dir)
            .map_err(|e| BenchError::Server(format!("cannot make {}: {e}", dir.display())))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One storm run.
pub async fn run(args: &BenchArgs) -> Result<StormReport, BenchError> {
    args.validate()?;
    let storm = args.storm.unwrap_or(Storm::Restart);
    let fd_ceiling = livescore::http::limit::raise_fd_limit();
    if args.subscribers as u64 + 64 > fd_ceiling {
        return Err(BenchError::Usage(format!(
            "{} subscribers need more open files than this process may have ({fd_ceiling})",
            args.subscribers
        )));
    }
    let dir = TempDir::new()?;
    let db = format!("sqlite://{}", dir.0.join("storm.db").display());
    let mut target = match &args.url {
        Some(url) => {
            let token = args.token.clone().ok_or_else(|| {
                BenchError::Usage("--url needs the server's publish token (--token)".into())
            })?;
            Target::remote(url, token, Vec::new()).await?
        }
        None => spawn(&args.server_log, fresh_token(), "127.0.0.1:0", &db).await?,
    };
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| format!("storm-{:08x}", fastrand::u32(..)));
    let plan = Plan {
        addr: target.addr,
        authority: target.authority.clone(),
        topic: topic.clone(),
        transport: args.transport,
        events: args.events,
        slow_percent: 0,
        connect_concurrency: args.connect_concurrency,
        connect_timeout: args.connect_timeout,
        gzip: args.gzip,
    };
    let shared = Arc::new(Shared::new(plan));
    let cancel = CancellationToken::new();
    let drop_now = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.subscribers {
        let drops = storm == Storm::Restart || (i % 100) < usize::from(args.storm_percent);
        tasks.spawn(subscriber(
            shared.clone(),
            drops,
            cancel.clone(),
            drop_now.clone(),
        ));
    }
    let total = args.subscribers as u64;
    wait_for(
        "connecting",
        || shared.streaming.load(Ordering::Relaxed),
        || shared.given_up.load(Ordering::Relaxed),
        total,
        args.connect_timeout,
    )
    .await;
    let connected = shared.streaming.load(Ordering::Relaxed);

    let publishing = tokio::spawn(publisher::run(PublishPlan {
        url: target.publish_url(false, &topic),
        nchan: false,
        token: target.token.clone(),
        topic,
        events: args.events,
        rate: args.rate,
        size: args.size,
        concurrency: usize::from(args.publishers),
    }));
    // The storm hits a third of the way into publishing, so events go out
    // before it (to resume from), while it lasts and after it.
    tokio::time::sleep(Duration::from_secs_f64(
        args.events as f64 / args.rate / 3.0,
    ))
    .await;

    let storm_at = Instant::now();
    shared.storm_ns.store(unix_nanos(), Ordering::Relaxed);
    let mut restart_secs = None;
    match storm {
        Storm::Restart => {
            let addr = target.authority.clone();
            let token = target.token.clone();
            target.terminate(STOP_GRACE).await;
            target = spawn(&args.server_log, token, &addr, &db).await?;
            restart_secs = Some(storm_at.elapsed().as_secs_f64());
        }
        Storm::Drop => drop_now.cancel(),
    }
    let dropped = shared.cut_off(storm, args);
    wait_for(
        "reconnecting",
        || shared.back.load(Ordering::Relaxed),
        || 0,
        dropped,
        args.connect_timeout.max(BACKOFF_CAP * 2),
    )
    .await;
    let back = shared.back.load(Ordering::Relaxed);
    let all_back_secs = (back >= dropped).then(|| {
        let last = shared.last_back_ns.load(Ordering::Relaxed);
        last.saturating_sub(shared.storm_ns.load(Ordering::Relaxed)) as f64 / 1e9
    });

    let published = match publishing.await {
        Ok(Ok(p)) => p,
        Ok(Err(err)) => return Err(err),
        Err(err) => return Err(BenchError::Publish(format!("publisher failed: {err}"))),
    };
    let accepted = published.ok;
    drain(&shared, connected * accepted, args.drain_timeout).await;
    cancel.cancel();
    let mut lost = 0;
    while let Some(seen) = tasks.join_next().await {
        if let Ok(seen) = seen {
            lost += seen.missing(&published);
        }
    }
    target.stop().await;
    drop(dir);

    let s = &shared;
    let duplicates = s.dups.load(Ordering::Relaxed);
    let resets = s.resets.load(Ordering::Relaxed);
    let latency_ms = Latency::from_us(&s.latency.lock().expect("latency lock poisoned"));
    let steady_ms = Latency::from_us(&s.steady_latency.lock().expect("latency lock poisoned"));
    let retry = *s.retry_ms.lock().expect("retry lock poisoned");
    let first_error = s.first_error.lock().expect("error lock poisoned").clone();
    Ok(StormReport {
        storm: match storm {
            Storm::Restart => "restart",
            Storm::Drop => "drop",
        }
        .into(),
        subscribers: total,
        connected,
        dropped,
        back,
        all_back_secs,
        restart_secs,
        failed_connects: s.failed_connects.load(Ordering::Relaxed),
        connect_attempts: s.attempts.load(Ordering::Relaxed),
        retry_ms: retry,
        events: args.events,
        accepted,
        publish_errors: published.errors,
        lost,
        duplicates,
        resets,
        steady_latency_ms: (dropped < connected).then_some(steady_ms),
        latency_ms,
        first_error,
        ok: connected == total
            && back == dropped
            && lost == 0
            && duplicates == 0
            && resets == 0
            && accepted > 0,
    })
}

/// Starts the server on `addr` over the database `db`, answering a publish
/// only once it is committed (`--publish-ack stored`), so an accepted
/// event outlives the restart.
async fn spawn(log: &str, token: String, addr: &str, db: &str) -> Result<Target, BenchError> {
    let args = [
        "--addr",
        addr,
        "--database-url",
        db,
        "--publish-ack",
        "stored",
    ];
    Target::spawn_with(log, token, None, &args).await
}

/// The counts every subscriber adds to.
struct Shared {
    plan: Plan,
    gate: Semaphore,
    /// Subscribers whose first stream is open.
    streaming: AtomicU64,
    /// Subscribers that never got their first stream.
    given_up: AtomicU64,
    /// Unix nanos when the storm began (0 before).
    storm_ns: AtomicU64,
    /// Subscribers reading again after the storm.
    back: AtomicU64,
    /// Unix nanos of the last one back.
    last_back_ns: AtomicU64,
    attempts: AtomicU64,
    failed_connects: AtomicU64,
    received: AtomicU64,
    dups: AtomicU64,
    resets: AtomicU64,
    retry_ms: Mutex<(u64, u64)>,
    first_error: Mutex<Option<String>>,
    latency: Mutex<Histogram<u64>>,
    steady_latency: Mutex<Histogram<u64>>,
}

impl Shared {
    fn new(plan: Plan) -> Self {
        Self {
            gate: Semaphore::new(plan.connect_concurrency.max(1)),
            plan,
            streaming: AtomicU64::new(0),
            given_up: AtomicU64::new(0),
            storm_ns: AtomicU64::new(0),
            back: AtomicU64::new(0),
            last_back_ns: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            failed_connects: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dups: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            retry_ms: Mutex::new((u64::MAX, 0)),
            first_error: Mutex::new(None),
            latency: Mutex::new(new_histogram()),
            steady_latency: Mutex::new(new_histogram()),
        }
    }

    /// How many subscribers the storm cut off: all of them on a restart.
    fn cut_off(&self, storm: Storm, args: &BenchArgs) -> u64 {
        let connected = self.streaming.load(Ordering::Relaxed);
        match storm {
            Storm::Restart => connected,
            Storm::Drop => (0..args.subscribers)
                .filter(|i| (i % 100) < usize::from(args.storm_percent))
                .count() as u64,
        }
    }

    fn error(&self, why: String) {
        self.first_error
            .lock()
            .expect("error lock poisoned")
            .get_or_insert(why);
    }
}

/// What one subscriber got: a bit per event index.
struct Seen {
    bits: Vec<u64>,
}

impl Seen {
    fn new(events: u64) -> Self {
        Self {
            bits: vec![0; usize::try_from(events.div_ceil(64)).unwrap_or(0)],
        }
    }

    /// Marks `n`; false when it was already marked (or out of range).
    fn mark(&mut self, n: u64) -> bool {
        let Some(word) = self
            .bits
            .get_mut(usize::try_from(n / 64).unwrap_or(usize::MAX))
        else {
            return false;
        };
        let bit = 1 << (n % 64);
        let fresh = *word & bit == 0;
        *word |= bit;
        fresh
    }

    /// Accepted events this subscriber never got.
    fn missing(&self, published: &Published) -> u64 {
        published
            .accepted
            .iter()
            .zip(self.bits.iter().chain(std::iter::repeat(&0)))
            .map(|(want, got)| u64::from((want & !got).count_ones()))
            .sum()
    }
}

/// The SSE fields of the event being read.
#[derive(Default)]
struct Pending {
    event: Vec<u8>,
    data: Vec<u8>,
    id: Option<String>,
}

/// One subscriber: its first connect (gated like the bench's), then read,
/// and reconnect whenever the stream ends, until the bench is over.
async fn subscriber(
    shared: Arc<Shared>,
    drops: bool,
    cancel: CancellationToken,
    drop_now: CancellationToken,
) -> Seen {
    let plan = &shared.plan;
    let mut seen = Seen::new(plan.events);
    let mut last_id: Option<String> = None;
    let mut retry = DEFAULT_RETRY;
    let mut failures: u32 = 0;
    let mut first = true;
    // Cut off by the storm and not yet back.
    let mut was_dropped = false;
    // A `drop` storm still to come for this one.
    let mut drop_pending = drops;
    loop {
        let opened = {
            let _permit = match first {
                true => Some(shared.gate.acquire().await.expect("gate never closes")),
                false => None,
            };
            if !first {
                shared.attempts.fetch_add(1, Ordering::Relaxed);
            }
            tokio::select! {
                () = cancel.cancelled() => return seen,
                r = tokio::time::timeout(
                    plan.connect_timeout,
                    super::sse::open(plan, last_id.as_deref()),
                ) => r.unwrap_or_else(|_| Err("timed out".into())),
            }
        };
        let mut conn = match opened {
            Ok(conn) => conn,
            Err(why) => {
                if first {
                    shared.given_up.fetch_add(1, Ordering::Relaxed);
                    shared.error(format!("first connect: {why}"));
                    return seen;
                }
                shared.failed_connects.fetch_add(1, Ordering::Relaxed);
                shared.error(why);
                failures += 1;
                let wait = backoff(retry, failures);
                tokio::select! {
                    () = cancel.cancelled() => return seen,
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        failures = 0;
        if first {
            first = false;
            shared.streaming.fetch_add(1, Ordering::Relaxed);
        } else if was_dropped {
            was_dropped = false;
            shared.back.fetch_add(1, Ordering::Relaxed);
            shared
                .last_back_ns
                .fetch_max(unix_nanos(), Ordering::Relaxed);
        }
        let steady = !drops;
        let mut pending = Pending::default();
        let ended = loop {
            let mut deliveries: Vec<(u64, u64)> = Vec::new();
            let read = tokio::select! {
                () = cancel.cancelled() => return seen,
                () = drop_now.cancelled(), if drop_pending => {
                    drop_pending = false;
                    break true;
                }
                r = conn.next_lines(|line| {
                    on_line(line, &mut pending, &mut last_id, &mut retry, &shared, &mut deliveries)
                }) => r,
            };
            record(&shared, &mut seen, &deliveries, steady);
            match read {
                Ok(true) => {}
                Ok(false) => break false,
                Err(err) => {
                    shared.error(format!("read: {err}"));
                    break false;
                }
            }
        };
        drop(conn);
        if ended || shared.storm_ns.load(Ordering::Relaxed) != 0 {
            was_dropped = true;
        }
        // As EventSource: the server's `retry:` after a stream that ended.
        tokio::select! {
            () = cancel.cancelled() => return seen,
            () = tokio::time::sleep(retry) => {}
        }
    }
}

/// Exponential back-off with full jitter after `failures` failed connects
/// in a row: anywhere from nothing to `retry` doubled per failure (capped),
/// so clients refused together do not come back together.
fn backoff(retry: Duration, failures: u32) -> Duration {
    let ceiling = retry.saturating_mul(1 << failures.min(16)).min(BACKOFF_CAP);
    ceiling.mul_f64(fastrand::f64())
}

/// One line of the stream: SSE's fields, an event dispatched on the blank
/// line that ends it.
fn on_line(
    line: &[u8],
    pending: &mut Pending,
    last_id: &mut Option<String>,
    retry: &mut Duration,
    shared: &Shared,
    deliveries: &mut Vec<(u64, u64)>,
) {
    let field = |name: &[u8]| {
        line.strip_prefix(name)
            .map(|v| v.strip_prefix(b" ").unwrap_or(v))
    };
    if line.is_empty() {
        let p = std::mem::take(pending);
        if let Some(id) = p.id {
            *last_id = Some(id);
        }
        match &p.event[..] {
            b"reset" => {
                shared.resets.fetch_add(1, Ordering::Relaxed);
            }
            b"bench" => deliveries.extend(parse_delivery(&p.data)),
            _ => {}
        }
    } else if let Some(v) = field(b"data:") {
        pending.data.extend_from_slice(v);
    } else if let Some(v) = field(b"event:") {
        pending.event = v.to_vec();
    } else if let Some(v) = field(b"id:") {
        pending.id = Some(String::from_utf8_lossy(v).into_owned());
    } else if let Some(v) = field(b"retry:") {
        if let Some(ms) = std::str::from_utf8(v).ok().and_then(|v| v.parse().ok()) {
            *retry = Duration::from_millis(ms);
            let mut range = shared.retry_ms.lock().expect("retry lock poisoned");
            *range = (range.0.min(ms), range.1.max(ms));
        }
    }
}

/// Checks a read's deliveries off and records their latency.
fn record(shared: &Shared, seen: &mut Seen, deliveries: &[(u64, u64)], steady: bool) {
    if deliveries.is_empty() {
        return;
    }
    let now = unix_nanos();
    let storm_ns = shared.storm_ns.load(Ordering::Relaxed);
    let mut fresh = 0;
    let mut latency = shared.latency.lock().expect("latency lock poisoned");
    for &(t, n) in deliveries {
        if !seen.mark(n) {
            shared.dups.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        fresh += 1;
        let us = now.saturating_sub(t) / 1_000;
        latency.saturating_record(us.max(1));
        if steady && storm_ns != 0 && t >= storm_ns {
            shared
                .steady_latency
                .lock()
                .expect("latency lock poisoned")
                .saturating_record(us.max(1));
        }
    }
    shared.received.fetch_add(fresh, Ordering::Relaxed);
}

/// Waits until `count()` reaches `total` (or with `failed()` accounts for
/// every one), with a progress line; gives up after `stall` without
/// progress.
async fn wait_for(
    what: &str,
    count: impl Fn() -> u64,
    failed: impl Fn() -> u64,
    total: u64,
    stall: Duration,
) {
    let tty = std::io::stderr().is_terminal();
    let (mut seen, mut since, mut printed) = (u64::MAX, Instant::now(), Instant::now());
    loop {
        let (c, f) = (count(), failed());
        if c + f != seen {
            (seen, since) = (c + f, Instant::now());
        }
        let done = c + f >= total || since.elapsed() > stall;
        if done || printed.elapsed() >= Duration::from_secs(2) {
            let end = if tty { "\x1b[K" } else { "" };
            eprintln!("{what}: {c}/{total}, {f} failed{end}");
            printed = Instant::now();
        }
        if done {
            return;
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Waits until `expected` distinct deliveries arrived, or none came for
/// `idle`.
async fn drain(shared: &Shared, expected: u64, idle: Duration) {
    let mut last = shared.received.load(Ordering::Relaxed);
    let mut since = Instant::now();
    while last < expected && since.elapsed() < idle {
        tokio::time::sleep(TICK).await;
        let now = shared.received.load(Ordering::Relaxed);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_failures_and_stays_under_the_cap() {
        let retry = Duration::from_millis(1_000);
        for failures in 1..40 {
            let ceiling = retry.saturating_mul(1 << failures.min(16)).min(BACKOFF_CAP);
            let spread: Vec<Duration> = (0..200).map(|_| backoff(retry, failures)).collect();
            assert!(
                spread.iter().all(|d| *d <= ceiling),
                "{failures}: {spread:?}"
            );
            assert!(
                spread.iter().any(|d| *d != spread[0]),
                "jittered: {failures}"
            );
        }
    }

    #[test]
    fn missing_counts_only_accepted_events() {
        let mut seen = Seen::new(130);
        assert!(seen.mark(0) && seen.mark(129) && !seen.mark(0));
        let mut accepted = vec![0u64; 3];
        for n in [0u64, 5, 129] {
            accepted[(n / 64) as usize] |= 1 << (n % 64);
        }
        let published = Published {
            ok: 3,
            errors: 0,
            start_ns: 0,
            elapsed: Duration::ZERO,
            accepted,
        };
        assert_eq!(seen.missing(&published), 1, "5 is missing");
    }
}
