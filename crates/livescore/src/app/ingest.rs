//! `livescore ingest`: the feed poller alone, publishing onto a bus (and
//! optionally a database), for deployments where nodes only serve.
//!
//! One path for every bus. What differs is only where ids and the feed's
//! state come from: on the memory bus from the database (as `serve` does);
//! on a shared bus from the shared log's tail, followed by a hub so a lease
//! taken later resumes from the state of that moment, with polling under
//! the same lease as the nodes' pollers (an ingester and `serve --feed`
//! nodes never poll at once; `--once` is an operator's deliberate single
//! poll and takes no lease).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::scale::{resume_from, spawn_led_poller, LedFeed};
use super::{new_epoch, wind_down, AppError, BusChoice, SHUTDOWN_GRACE};
use crate::bus::redis::WARM_EVENTS;
use crate::bus::{Bus, MemoryBus, SharedBus};
use crate::feed::fetch::{FetchConfig, Fetcher};
use crate::feed::poller::{self, status_of, Polled, Poller};
use crate::feed::{Publisher, Tracker};
use crate::hub::{self, Hub};
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

/// Where an ingester starts, per bus.
struct Start {
    bus: Arc<dyn Bus>,
    /// The history as it stands (warmed from the database, or following
    /// the shared bus): the feed carries on from its league's board there.
    hub: Arc<Hub>,
    /// (seq already stored, seq the store writer takes events after).
    written: (u64, u64),
}

/// Runs the feed poller alone until `shutdown` (or, with `once`, for one
/// poll, whose outcome is returned). With `once`, a bad or unreachable
/// feed is an error and nothing is published or stored: the document is
/// parsed whole before any event goes out.
pub async fn ingest(
    config: IngestConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<Polled>, AppError> {
    let fetcher = Fetcher::new(config.source.clone(), config.fetch.clone())?;
    let db = match &config.database_url {
        Some(url) => Some(store::open(url).await?),
        None => None,
    };
    let shared = SharedBus::connect(&config.bus).await?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let Start { bus, hub, written } = match &shared {
        None => {
            let history = match &db {
                Some(db) => Some(store::begin(db.as_ref(), new_epoch()).await?),
                None => None,
            };
            let (epoch, last, base) =
                history.map_or((new_epoch(), 0, 0), |h| (h.epoch, h.last_seq, h.base_seq));
            let hub = Hub::new(epoch);
            if let Some(db) = &db {
                for env in db.recent(epoch, hub::HISTORY_PER_TOPIC as u32 + 1).await? {
                    hub.ingest(&env);
                }
            }
            Start {
                bus: Arc::new(MemoryBus::new(epoch, base)),
                hub,
                written: (last, base),
            }
        }
        Some(shared) => {
            let bus = shared.bus();
            let hub = Hub::new(bus.epoch());
            for env in shared.recent(WARM_EVENTS).await? {
                hub.ingest(&env);
            }
            tracker.spawn(hub::run(
                hub.clone(),
                bus.clone(),
                bus.subscribe(),
                cancel.clone(),
                |_| {},
            ));
            let head = shared.delivered();
            Start {
                bus,
                hub,
                written: (head, head),
            }
        }
    };
    if let Some(db) = &db {
        // Subscribed before the first poll so the writer misses nothing.
        let status = WriterStatus::new(bus.epoch(), written.0);
        let writer = Writer::new(db.clone(), bus.clone(), bus.subscribe(), status, written.1);
        tracker.spawn(writer.run(cancel.clone()));
    }
    if let Some(shared) = &shared {
        shared.spawn_reader(&tracker, cancel.clone());
    }
    let publisher = || Publisher::new(bus.clone(), Tracker::new()).resuming(resume_from(&hub));
    let outcome = if config.once {
        let mut poller = Poller::new(
            fetcher,
            publisher(),
            config.interval,
            status_of(&config.source),
        );
        // Kept until the writer has flushed and the store is closed.
        Some(poller.poll().await)
    } else {
        match &shared {
            Some(shared) => {
                let feed = LedFeed {
                    plan: poller::FeedPlan::new(poller::Plan {
                        source: config.source.clone(),
                        interval: config.interval,
                    }),
                    fetch: config.fetch,
                    status: status_of(&config.source),
                    claims: Default::default(),
                    key: config.source.key(),
                };
                let lease = shared.lease(&config.source.key());
                spawn_led_poller(
                    feed,
                    lease,
                    hub.clone(),
                    bus.clone(),
                    &tracker,
                    cancel.clone(),
                );
            }
            None => {
                let poller = Poller::new(
                    fetcher,
                    publisher(),
                    config.interval,
                    status_of(&config.source),
                );
                let stop = cancel.clone();
                tracker.spawn(async move {
                    poller.run(stop.clone()).await;
                    // Ends the process when the poller ends on its own
                    // (closed bus).
                    stop.cancel();
                });
            }
        }
        tokio::select! {
            _ = shutdown => tracing::info!("shutting down"),
            _ = cancel.cancelled() => {}
        }
        None
    };
    wind_down(&cancel, &tracker, SHUTDOWN_GRACE, db).await;
    Ok(outcome.transpose()?)
}
