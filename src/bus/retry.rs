//! Publishing through a shared bus that may be away for a while: one
//! retry policy for every backend (Redis, NATS), so they queue and give up
//! alike. What counts as worth retrying, and what to repair between
//! attempts, stays with each backend's attempt.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::BusError;

/// How long one publish keeps retrying while the bus server is unreachable.
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(60);
/// First reconnect/retry delay; doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect/retry delay: a server that comes back is used within it.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How one attempt failed.
pub enum Attempt<E> {
    /// Worth another try (connection lost, timeout): retried with the same
    /// publish id, so the server appends the event at most once.
    Retry(E),
    /// Final: retrying cannot help.
    Fatal(BusError),
}

/// Runs `attempt` until it succeeds or fails for good, waiting a doubling
/// backoff between tries; gives up after [`PUBLISH_DEADLINE`] with
/// `Unavailable`, and at once with `Closed` when the bus shuts down.
pub async fn publish_with_retry<T, E, F, Fut>(
    backend: &'static str,
    closed: &CancellationToken,
    mut attempt: F,
) -> Result<T, BusError>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let deadline = tokio::time::Instant::now() + PUBLISH_DEADLINE;
    let mut backoff = BACKOFF_MIN;
    loop {
        let err = match attempt().await {
            Ok(done) => return Ok(done),
            Err(Attempt::Fatal(err)) => return Err(err),
            Err(Attempt::Retry(err)) => err,
        };
        if tokio::time::Instant::now() + backoff > deadline {
            return Err(BusError::Unavailable(format!("{backend}: {err}")));
        }
        metrics::counter!("livescore_bus_publish_retries_total").increment(1);
        tracing::warn!(%err, ?backoff, backend, "publish failed; retrying");
        tokio::select! {
            // Shutdown: the event was not published (or, if it was, every
            // node still gets it from the shared log).
            _ = closed.cancelled() => return Err(BusError::Closed),
            // Wait before the next attempt with the same publish id.
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
