//! The feed loop: read the scorestrip document every interval, publish what
//! changed, and never let a bad document reach clients.
//!
//! A malformed document is logged with its reason (game and attribute) and
//! counted; the last good state stays in place. Only file sources exist so
//! far; HTTP polling with conditional GET and backoff comes with the
//! ingestion issue.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{scorestrip, FeedError, Publisher};

/// Where the scorestrip document is read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk, re-read every poll (handy for tests and for feeding
    /// the server from another process that writes the file).
    File(PathBuf),
}

/// What `/healthz` reports for the feed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeedHealth {
    /// When the last document was accepted.
    pub last_ok: Option<DateTime<Utc>>,
    /// Why the last document was rejected, if the latest poll failed.
    pub last_error: Option<String>,
    /// Documents rejected since start.
    pub rejected: u64,
}

/// Shared, cheap-to-read feed status.
pub type FeedStatus = Arc<Mutex<FeedHealth>>;

/// Polls `source` every `interval` until `cancel`.
pub async fn run(
    source: Source,
    interval: Duration,
    mut publisher: Publisher,
    status: FeedStatus,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // Shutdown ends the loop between polls.
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let outcome = match fetch(&source).await {
            Ok(bytes) => scorestrip::parse(&bytes),
            Err(err) => Err(err),
        };
        match outcome {
            Ok(week) => match publisher.push(week, Utc::now()).await {
                Ok(changes) => {
                    metrics::counter!("livescore_feed_polls_total", "result" => "ok").increment(1);
                    let mut st = status.lock().expect("feed status lock");
                    st.last_ok = Some(Utc::now());
                    st.last_error = None;
                    if !changes.is_empty() {
                        tracing::debug!(
                            games = changes.games.len(),
                            scores = changes.score_events.len(),
                            "feed changed"
                        );
                    }
                }
                Err(err) => {
                    tracing::error!(%err, "cannot publish feed changes");
                    return;
                }
            },
            Err(err) => {
                metrics::counter!("livescore_feed_polls_total", "result" => "rejected")
                    .increment(1);
                tracing::warn!(%err, "feed document rejected; keeping the last good state");
                let mut st = status.lock().expect("feed status lock");
                st.last_error = Some(err.to_string());
                st.rejected += 1;
            }
        }
    }
}

async fn fetch(source: &Source) -> Result<Vec<u8>, FeedError> {
    match source {
        Source::File(path) => tokio::fs::read(path)
            .await
            .map_err(|e| FeedError::Unreachable(format!("{}: {e}", path.display()))),
    }
}
