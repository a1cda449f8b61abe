//! `livescore ingest`: the feed poller alone, publishing onto a bus (and
//! optionally a database), for deployments where nodes only serve.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{new_epoch, scale, AppError, BusChoice, SHUTDOWN_GRACE};
use crate::bus::{Bus, MemoryBus};
use crate::feed::fetch::{FetchConfig, Fetcher};
use crate::feed::poller::{self, FeedStatus, Polled, Poller};
use crate::feed::{Publisher, Tracker};
use crate::store::writer::Writer;
use crate::store::{self, WriterStatus};

/// Everything `ingest` needs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Where to read the scorestrip document.
    pub source: poller::Source,
    /// Poll interval while games are on.
    pub interval: Duration,
    /// HTTP timeouts and retries.
    pub fetch: FetchConfig,
    /// Fetch, publish the changes and return, instead of polling.
    pub once: bool,
    /// Store the events here too, and resume from its last feed state.
    /// `None`: memory only. Not defaulted like `serve`'s: two processes
    /// giving ids in one database would collide, so sharing one is a
    /// deliberate choice.
    pub database_url: Option<String>,
    /// The bus to publish on (`--bus`); Redis shares the feed lease with
    /// the nodes.
    pub bus: BusChoice,
}

/// Runs the feed poller alone until `shutdown` (or, with `once`, for one
/// poll, whose outcome is returned). With `once`, a bad or unreachable
/// feed is an error and nothing is published or stored: the document is
/// parsed whole before any event goes out.
pub async fn ingest(
    config: IngestConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<Polled>, AppError> {
    if !matches!(config.bus, BusChoice::Memory) {
        return scale::ingest(config, shutdown).await;
    }
    let fetcher = Fetcher::new(config.source, config.fetch)?;
    let db = match &config.database_url {
        Some(url) => Some(store::open(url).await?),
        None => None,
    };
    let (history, feed_state) = match &db {
        Some(db) => {
            let history = store::begin(db.as_ref(), new_epoch()).await?;
            let state = store::feed_state(db.as_ref(), history.epoch).await?;
            (Some(history), state)
        }
        None => (None, None),
    };
    let (epoch, base_seq) = history.map_or((new_epoch(), 0), |h| (h.epoch, h.base_seq));
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(epoch, base_seq));
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    if let (Some(db), Some(h)) = (&db, history) {
        // Subscribed before the first poll so the writer misses nothing.
        let status = WriterStatus::new(h.epoch, h.last_seq);
        let writer = Writer::new(db.clone(), bus.clone(), bus.subscribe(), status, h.base_seq);
        tracker.spawn(writer.run(cancel.clone()));
    }
    let resumed =
        feed_state.map_or_else(Tracker::new, |s| Tracker::resume(s.week, s.score_changes));
    let publisher = Publisher::new(bus, resumed);
    let mut poller = Poller::new(fetcher, publisher, config.interval, FeedStatus::default());
    let outcome = if config.once {
        // Kept until the writer has flushed and the store is closed.
        Some(poller.poll().await)
    } else {
        let stop = cancel.clone();
        tracker.spawn(async move {
            poller.run(stop.clone()).await;
            // Ends the process when the poller ends on its own (closed bus).
            stop.cancel();
        });
        tokio::select! {
            _ = shutdown => tracing::info!("shutting down"),
            _ = cancel.cancelled() => {}
        }
        None
    };
    wind_down(&cancel, &tracker, db).await;
    Ok(outcome.transpose()?)
}

/// The end of an ingester: cancel, wait for its tasks under the deadline,
/// close the database (after the writer flushed into it).
pub(super) async fn wind_down(
    cancel: &CancellationToken,
    tracker: &TaskTracker,
    db: Option<Arc<dyn store::Store>>,
) {
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("tasks still running after the shutdown deadline");
    }
    if let Some(db) = db {
        db.close().await;
    }
}
