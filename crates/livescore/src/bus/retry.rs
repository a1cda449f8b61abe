//! Publishing through a shared bus that may be away for a while: one
//! retry policy for every backend (Redis, NATS), so they queue, give up
//! and answer alike. What counts as worth retrying, and what to repair
//! between attempts, stays with each backend's attempt.
//!
//! The promise a publisher gets: within the publish timeout, either the
//! event's id (it is in the shared log and every node will deliver it) or
//! [`BusError::TimedOut`] (it is not, and no copy will turn up later).
//! The second half needs the backend's help, since an attempt abandoned at
//! the deadline may still sit in a socket or a client's reconnect buffer:
//! every attempt carries [`Deadline::fence_ms`], a wall-clock instant a
//! little before the answer, and the backend refuses (Redis: in the
//! append script) or drops (NATS: every reader) an append made after it.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::BusError;
use crate::backoff::Backoff;

/// Most publishes that may wait for a shared bus at once; more are refused
/// at once rather than queued without bound while it is away.
pub const PUBLISH_QUEUE: usize = 10_000;

/// First reconnect/retry delay; doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect/retry delay: a server that comes back is used within it.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// The shared bus's retry policy (publishes and reconnects alike).
pub const BACKOFF: Backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
/// How long before the answer the append fence lies: an append the bus
/// server makes up to the fence has this long for its reply to reach us
/// before we would answer "not published". Replies on a live connection
/// take milliseconds; a connection that breaks after the append is retried
/// with the same publish id, which finds the append and returns its id.
pub const FENCE_GUARD: Duration = Duration::from_millis(250);

/// When a publish must be answered, on the local monotonic clock and as
/// the wall-clock fence the bus server checks appends against.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// The answer is due at this instant.
    pub at: Instant,
    /// Milliseconds since 1970 (local clock) after which an append must be
    /// refused or dropped: [`FENCE_GUARD`] before `at`.
    pub fence_ms: u64,
    /// The publish timeout, for the error.
    pub timeout: Duration,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        let lead =
            u64::try_from(timeout.saturating_sub(FENCE_GUARD).as_millis()).unwrap_or(u64::MAX);
        let fence_ms = now_ms().saturating_add(lead);
        Self {
            at: Instant::now() + timeout,
            fence_ms,
            timeout,
        }
    }

    /// True once the fence has passed on the local clock.
    pub fn fence_passed(&self) -> bool {
        now_ms() > self.fence_ms
    }
}

/// What every publish through a shared bus passes before its first
/// attempt, the same for every backend: refused once the bus is closed, at
/// most [`PUBLISH_QUEUE`] waiting, a deadline, and a publish id.
pub struct PublishGate {
    backend: &'static str,
    timeout: Duration,
    /// Makes publish ids unique across nodes and restarts.
    node: String,
    next: AtomicU64,
    queue: Semaphore,
    /// Cancelled at shutdown: retrying publishes give up at once.
    closed: CancellationToken,
}

/// A publish let through the gate: its deadline and publish id, holding
/// its place in the queue until dropped.
pub struct Pass<'a> {
    /// When it must be answered, and its append fence.
    pub deadline: Deadline,
    /// What the bus server deduplicates it under.
    pub publish_id: String,
    _place: SemaphorePermit<'a>,
}

impl PublishGate {
    /// A gate for `backend` (named in errors and logs) whose publishes are
    /// answered within `timeout`.
    pub fn new(backend: &'static str, timeout: Duration) -> Self {
        Self {
            backend,
            timeout,
            node: super::node_id(),
            next: AtomicU64::new(1),
            queue: Semaphore::new(PUBLISH_QUEUE),
            closed: CancellationToken::new(),
        }
    }

    /// Lets a publish with the publisher's idempotency `key` through, or
    /// says why not.
    pub fn enter(&self, key: Option<&str>) -> Result<Pass<'_>, BusError> {
        if self.closed.is_cancelled() {
            return Err(BusError::Closed);
        }
        let deadline = Deadline::after(self.timeout);
        let place = self.queue.try_acquire().map_err(|_| {
            BusError::Unavailable(format!("too many publishes waiting for {}", self.backend))
        })?;
        Ok(Pass {
            deadline,
            publish_id: publish_id(&self.node, &self.next, key),
            _place: place,
        })
    }

    /// Retries `attempt` for a publish let through (see
    /// [`publish_with_retry`]).
    pub async fn publish<T, E, F, Fut>(&self, pass: &Pass<'_>, attempt: F) -> Result<T, BusError>
    where
        E: Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt<E>>>,
    {
        publish_with_retry(self.backend, &self.closed, pass.deadline, attempt).await
    }

    /// Shutdown: publishes waiting for the bus give up, new ones are refused.
    pub fn close(&self) {
        self.closed.cancel();
    }
}

/// The id a publish is deduplicated under on a shared bus: the
/// publisher's idempotency key in a namespace of its own (`k:`), or one
/// made from this node's name and a counter.
fn publish_id(node: &str, next: &AtomicU64, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("k:{key}"),
        None => format!("{node}.{}", next.fetch_add(1, Ordering::Relaxed)),
    }
}

/// Milliseconds since 1970 on the local clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How one attempt failed.
pub enum Attempt<E> {
    /// Worth another try (connection lost, timeout): retried with the same
    /// publish id, so the server appends the event at most once.
    Retry(E),
    /// Final: retrying cannot help.
    Fatal(BusError),
}

/// Runs `attempt` until it succeeds or fails for good, waiting a doubling
/// backoff between tries. Every attempt is cut off at the deadline, which
/// answers [`BusError::TimedOut`] (counted in
/// `livescore_bus_publish_timeouts_total`); shutdown answers `Closed` at
/// once.
pub async fn publish_with_retry<T, E, F, Fut>(
    backend: &'static str,
    closed: &CancellationToken,
    deadline: Deadline,
    mut attempt: F,
) -> Result<T, BusError>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let timed_out = || {
        metrics::counter!("livescore_bus_publish_timeouts_total").increment(1);
        tracing::warn!(backend, timeout = ?deadline.timeout, "publish not appended in time; refused");
        BusError::TimedOut(deadline.timeout)
    };
    let mut retry = 0;
    loop {
        let err = match tokio::time::timeout_at(deadline.at, attempt()).await {
            Err(_elapsed) => return Err(timed_out()),
            Ok(Ok(done)) => return Ok(done),
            Ok(Err(Attempt::Fatal(BusError::TimedOut(_)))) => return Err(timed_out()),
            Ok(Err(Attempt::Fatal(err))) => return Err(err),
            Ok(Err(Attempt::Retry(err))) => err,
        };
        metrics::counter!("livescore_bus_publish_retries_total").increment(1);
        retry += 1;
        let backoff = BACKOFF.delay(retry);
        tracing::warn!(%err, ?backoff, backend, "publish failed; retrying");
        tokio::select! {
            // Shutdown: the event was not published (or, if it was, every
            // node still gets it from the shared log).
            _ = closed.cancelled() => return Err(BusError::Closed),
            // The answer is due before the next attempt could start.
            _ = tokio::time::sleep_until(deadline.at) => return Err(timed_out()),
            // Wait before the next attempt with the same publish id.
            _ = tokio::time::sleep(backoff) => {}
        }
    }
}

/// How a reader's session (one connection or consumer) ended.
pub enum Session {
    /// Start the next one at once (the history was reset: read the new
    /// one from its start).
    Again,
    /// The bus failed; `was_reading` when the session had read
    /// successfully (the backoff starts over).
    Broken {
        /// Why.
        err: BusError,
        /// Whether it had been reading.
        was_reading: bool,
    },
}

/// The reader task's outer loop, the same for every shared bus: run a
/// session until it breaks, wait a capped backoff (doubling while the bus
/// stays away), run the next from the same position; until `cancel`. A
/// session carries on from where the last delivered, so an outage costs
/// latency, never an event, and never a repeat.
pub async fn read_until_cancelled<F, Fut>(
    backend: &'static str,
    cancel: &CancellationToken,
    reconnects: &AtomicU64,
    mut on_lost: impl FnMut(),
    mut session: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Session>,
{
    let mut retry = 0;
    loop {
        let ended = tokio::select! {
            // Shutdown: stop reading.
            _ = cancel.cancelled() => return,
            // Reads until the session ends.
            ended = session() => ended,
        };
        let err = match ended {
            Session::Again => continue,
            Session::Broken { err, was_reading } => {
                if was_reading {
                    retry = 0;
                }
                err
            }
        };
        on_lost();
        retry += 1;
        let backoff = BACKOFF.delay(retry);
        tracing::warn!(%err, ?backoff, backend, "bus connection lost; reconnecting");
        tokio::select! {
            _ = cancel.cancelled() => return,
            // Capped backoff before the next attempt.
            _ = tokio::time::sleep(backoff) => {}
        }
        reconnects.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("livescore_bus_reconnects_total").increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bus_that_never_answers_is_refused_at_the_deadline() {
        let closed = CancellationToken::new();
        let deadline = Deadline::after(Duration::from_secs(5));
        let started = Instant::now();
        let mut tries = 0;
        let got: Result<(), _> = publish_with_retry("test", &closed, deadline, || {
            tries += 1;
            async { Err(Attempt::Retry("connection refused")) }
        })
        .await;
        assert!(matches!(got, Err(BusError::TimedOut(t)) if t == Duration::from_secs(5)));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(tries > 3, "retried with backoff, {tries} tries");
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_hangs_is_cut_off_at_the_deadline() {
        let closed = CancellationToken::new();
        let deadline = Deadline::after(Duration::from_secs(2));
        let got: Result<(), BusError> = publish_with_retry("test", &closed, deadline, || async {
            std::future::pending::<Result<(), Attempt<&str>>>().await
        })
        .await;
        assert!(matches!(got, Err(BusError::TimedOut(_))));
    }

    #[test]
    fn the_fence_lies_before_the_answer() {
        let d = Deadline::after(Duration::from_secs(5));
        let lead = d.fence_ms.saturating_sub(now_ms());
        assert!((4_000..=4_750).contains(&lead), "fence {lead} ms ahead");
        assert!(!d.fence_passed());
    }
}
