//! Wiring of the bus a node runs on, and of the feed poller over a shared
//! bus (`--bus redis://…` or `--bus nats://…`).
//!
//! Memory bus: ids continue from the store (epoch, next seq) and the hub is
//! warmed from the store. Redis bus: the shared stream is the history, so
//! the epoch and where ids stand come from Redis, and the hub is warmed
//! from the stream's tail (state topics and resume work on a new node
//! before the next event). The store writer then writes every event from
//! where this node joined; with several nodes on one database each writes
//! them all, which the store's idempotent insert (`ON CONFLICT (epoch,
//! seq) DO NOTHING`) makes harmless. NATS works exactly like Redis here:
//! [`SharedBus`] hides which of the two a node shares.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{new_epoch, AppError};
use crate::bus::lease::Lease;
use crate::bus::redis::WARM_EVENTS;
use crate::bus::shared::{BusChoice, SharedBus};
use crate::bus::{Bus, MemoryBus};
use crate::feed::fetch::{FetchConfig, Fetcher};
use crate::feed::leader;
use crate::feed::poller::{FeedPlan, FeedStatus, Poller};
use crate::feed::{Claims, Publisher, Tracker};
use crate::hub::{self, Hub};
use crate::model::{self, Game, Week};
use crate::store::{self, Store};

/// A node's bus and warmed hub, and where its store writer starts.
pub(super) struct Wired {
    pub bus: Arc<dyn Bus>,
    /// The same bus when it is shared (reader task, lease).
    pub shared: Option<SharedBus>,
    pub hub: Arc<Hub>,
    pub epoch: u64,
    /// Seq already in the store, for `/healthz`.
    pub written: u64,
    /// The store writer takes events after this seq.
    pub writer_base: u64,
}

/// Opens the bus, reads where the history stands and warms the hub.
pub(super) async fn wire(choice: &BusChoice, db: &dyn Store) -> Result<Wired, AppError> {
    match choice {
        BusChoice::Memory => {
            let history = store::begin(db, new_epoch()).await?;
            let epoch = history.epoch;
            tracing::info!(
                epoch,
                last_seq = history.last_seq,
                next_seq = history.base_seq + 1,
                "history read back"
            );
            let hub = Hub::new(epoch);
            // Warm start: one more than the hub keeps per topic, so its
            // eviction mark is right and a resume from before the window
            // gets a reset.
            for env in db.recent(epoch, hub::HISTORY_PER_TOPIC as u32 + 1).await? {
                hub.ingest(&env);
            }
            Ok(Wired {
                bus: Arc::new(MemoryBus::new(epoch, history.base_seq)),
                shared: None,
                hub,
                epoch,
                written: history.last_seq,
                writer_base: history.base_seq,
            })
        }
        BusChoice::Redis(_) | BusChoice::Nats(_) => {
            let shared = SharedBus::connect(choice)
                .await?
                .expect("a shared bus choice connects a shared bus");
            let bus = shared.bus();
            let epoch = bus.epoch();
            let head = shared.delivered();
            let hub = Hub::new(epoch);
            let recent = shared.recent(WARM_EVENTS).await?;
            // The hub holds everything after `floor`; a resume from before
            // it gets a reset rather than a replay with a hole.
            let floor = recent.first().map_or(head, |e| e.id.seq - 1);
            // A tail of chat and news only: the boards' state from a
            // shared database that stored this epoch, ingested first
            // (they are older than the tail).
            for env in stored_boards(db, epoch, &recent, floor).await? {
                hub.ingest(&env);
            }
            for env in &recent {
                hub.ingest(env);
            }
            hub.set_floor(floor);
            tracing::info!(
                epoch,
                head,
                warmed = recent.len(),
                bus = shared.kind(),
                "joined the shared bus"
            );
            Ok(Wired {
                bus,
                shared: Some(shared),
                hub,
                epoch,
                written: db.last_seq(epoch).await?,
                writer_base: head,
            })
        }
    }
}

/// The boards the shared stream's tail lacks (`scores`, and each league's
/// whose games are on it), from the database, in id order, none after
/// `floor`.
async fn stored_boards(
    db: &dyn Store,
    epoch: u64,
    recent: &[Arc<crate::bus::Envelope>],
    floor: u64,
) -> Result<Vec<crate::bus::Envelope>, AppError> {
    let in_tail = |topic: &str| {
        recent
            .iter()
            .any(|e| e.topic == topic && e.event == model::EVENT_UPDATE)
    };
    let mut stored = Vec::new();
    let union = match recent
        .iter()
        .rev()
        .find(|e| e.topic == model::TOPIC_SCORES && e.event == model::EVENT_UPDATE)
    {
        Some(env) => Some(env.data.clone()),
        None => {
            let env = db
                .latest(epoch, model::TOPIC_SCORES, model::EVENT_UPDATE)
                .await?;
            let data = env.as_ref().map(|e| e.data.clone());
            stored.extend(env);
            data
        }
    };
    let games: Vec<serde_json::Value> = union
        .as_deref()
        .and_then(|d| serde_json::from_slice(d).ok())
        .unwrap_or_default();
    let leagues: std::collections::BTreeSet<&str> = games
        .iter()
        .map(|g| g["league"].as_str().unwrap_or(model::NFL))
        .collect();
    for league in leagues {
        let topic = model::board_topic(league);
        if !in_tail(&topic) {
            stored.extend(db.latest(epoch, &topic, model::EVENT_UPDATE).await?);
        }
    }
    stored.retain(|e| e.id.seq <= floor);
    stored.sort_by_key(|e| e.id.seq);
    Ok(stored)
}

/// What a node needs to poll a feed whenever it holds the feed's lease.
pub(super) struct LedFeed {
    pub plan: FeedPlan,
    pub fetch: FetchConfig,
    pub status: FeedStatus,
    pub claims: Claims,
    /// The feed's key among the claims.
    pub key: String,
}

/// Spawns the lease loop: the poller runs only while this node holds the
/// feed's lease, each time resumed from the hub's current board of its
/// league (another node may have published since this one started).
pub(super) fn spawn_led_poller(
    feed: LedFeed,
    lease: Box<dyn Lease>,
    hub: Arc<Hub>,
    bus: Arc<dyn Bus>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) {
    tracker.spawn(leader::run(lease, cancel, move |term| {
        let plan = feed.plan.get();
        let fetcher = Fetcher::new(plan.source, feed.fetch.clone());
        let publisher = Publisher::new(bus.clone(), Tracker::new())
            .resuming(resume_from(&hub))
            .claiming(feed.claims.clone(), feed.key.clone());
        let (interval, status, follow) = (plan.interval, feed.status.clone(), feed.plan.clone());
        async move {
            match fetcher {
                Ok(fetcher) => {
                    Poller::new(fetcher, publisher, interval, status)
                        .following(&follow)
                        .run(term)
                        .await
                }
                Err(err) => {
                    tracing::error!(%err, "cannot set up the feed");
                    term.cancelled().await;
                }
            }
        }
    }));
}

/// A tracker that carries on from the last board of `league` the hub
/// holds, with each game's score changes counted (they number ScoreEvent
/// ids), so a new leader or a restarted node publishes only real changes.
/// A hub warmed from a history written before leagues has `scores` only,
/// of one league: that is this league's board when its games say so.
pub(super) fn tracker_from(hub: &Hub, league: &str) -> Tracker {
    let update = hub
        .state(&model::board_topic(league), model::EVENT_UPDATE)
        .or_else(|| {
            hub.state(model::TOPIC_SCORES, model::EVENT_UPDATE)
                .filter(|_| hub.league_boards().is_empty())
        });
    let Some(update) = update else {
        return Tracker::new();
    };
    let games: Vec<Game> = match serde_json::from_slice(&update.data) {
        Ok(g) => g,
        Err(err) => {
            tracing::warn!(%err, %league, "the league's last board does not parse; starting the feed afresh");
            return Tracker::new();
        }
    };
    if games.iter().any(|g| g.league != league) {
        return Tracker::new();
    }
    let mut counts = HashMap::new();
    for g in &games {
        let n = hub
            .history(&model::game_topic(&g.eid), model::EVENT_SCORE)
            .iter()
            .filter(|f| f.id.seq < update.id.seq)
            .count();
        counts.insert(g.eid.clone(), u32::try_from(n).unwrap_or(u32::MAX));
    }
    match Week::of_games(games) {
        Some(week) => Tracker::resume(week, counts),
        None => Tracker::new(),
    }
}

/// A tracker for a league's board as the hub holds it (warmed from the
/// store or the shared stream), for a publisher that has published
/// nothing yet.
pub(super) fn resume_from(hub: &Arc<Hub>) -> crate::feed::Resume {
    let hub = hub.clone();
    Box::new(move |league: &str| tracker_from(&hub, league))
}
