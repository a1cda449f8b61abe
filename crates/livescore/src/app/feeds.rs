//! The feeds a node polls, each on its own: a poller per feed with its
//! own cadence (each follows only its own games), conditional-GET state,
//! backoff, `/healthz` entry and metrics label, and, on a shared bus, its
//! own lease (one node polls a feed at a time; another node takes over one
//! feed without touching the others). One feed that is unreachable or
//! refused never stops or delays another: they share nothing but the bus.
//!
//! The list is live: a config reload adds feeds (started at once), removes
//! them (stopped, their league's board emptied so `scores` drops its
//! games) and gives the rest their new source or interval.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::scale::{self, LedFeed};
use crate::bus::{Bus, SharedBus};
use crate::feed::fetch::{FetchConfig, Fetcher};
use crate::feed::poller::{self, FeedList, FeedPlan, FeedSet, Plan, Poller};
use crate::feed::{Claims, Publisher, Tracker};
use crate::hub::Hub;
use crate::model;

/// What starting a feed needs.
pub(super) struct Feeds {
    pub hub: Arc<Hub>,
    pub bus: Arc<dyn Bus>,
    /// The shared bus, whose leases decide which node polls a feed.
    pub shared: Option<SharedBus>,
    pub fetch: FetchConfig,
    /// Every feed's health, for `/healthz` and `/api/leagues`.
    pub set: FeedSet,
    pub claims: Claims,
    pub tracker: TaskTracker,
}

/// A feed that runs: its plan (a reload's new interval or source goes
/// there) and what stops it.
struct Running {
    plan: FeedPlan,
    stop: CancellationToken,
    status: poller::FeedStatus,
}

impl Feeds {
    /// Runs the feeds of `list` until `cancel`, following its changes.
    pub async fn run(self, list: FeedList, cancel: CancellationToken) {
        self.drop_unfollowed(&list.get()).await;
        let mut follow = list.follow();
        let mut running: HashMap<String, Running> = HashMap::new();
        loop {
            let plans = follow.borrow_and_update().clone();
            self.apply(plans, &mut running, &cancel).await;
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = follow.changed() => {
                    if changed.is_err() {
                        // The list's owner is gone: the feeds run on
                        // until shutdown as they are.
                        cancel.cancelled().await;
                        return;
                    }
                }
            }
        }
    }

    /// Empties the boards, read back from the database, of leagues no
    /// feed of this node follows any more (removed while it was down), so
    /// they do not stay on `scores` for good. Only where that is known: a
    /// node alone on its bus whose feeds all name their league (`espn:`);
    /// behind a shared bus another node may follow them.
    async fn drop_unfollowed(&self, plans: &[Plan]) {
        if self.shared.is_some() || plans.iter().any(|p| p.source.league.is_none()) {
            return;
        }
        for frame in self.hub.league_boards() {
            let Some(league) = model::board_league(&frame.topic) else {
                continue;
            };
            let followed = plans
                .iter()
                .any(|p| p.source.league.as_deref() == Some(league));
            if followed || frame.data.as_ref() == b"[]" {
                continue;
            }
            tracing::info!(%league, "no feed follows this league any more; its board is emptied");
            let key = format!("feed:unfollowed:{league}:{}", frame.id);
            if let Err(err) = self
                .bus
                .publish(&frame.topic, model::EVENT_UPDATE, "[]".into(), Some(&key))
                .await
            {
                tracing::warn!(%err, %league, "cannot empty the board of a league no longer followed");
            }
        }
    }

    async fn apply(
        &self,
        plans: Vec<Plan>,
        running: &mut HashMap<String, Running>,
        cancel: &CancellationToken,
    ) {
        let wanted: HashMap<String, Plan> =
            plans.into_iter().map(|p| (p.source.key(), p)).collect();
        let gone: Vec<String> = running
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        // The league of each feed of the new list, where known: a kept
        // feed's from its documents, a new one's from its name.
        let remaining: Vec<Option<String>> = wanted
            .iter()
            .map(|(key, plan)| {
                running
                    .get(key)
                    .and_then(|r| {
                        r.status
                            .lock()
                            .expect("feed status lock poisoned")
                            .league
                            .clone()
                    })
                    .or_else(|| plan.source.league.clone())
            })
            .collect();
        for key in gone {
            if let Some(feed) = running.remove(&key) {
                self.stop(&key, feed, &remaining).await;
            }
        }
        for (key, plan) in wanted {
            match running.get(&key) {
                Some(feed) => feed.plan.set(plan),
                None => {
                    tracing::info!(feed = %key, source = %plan.source, "feed added");
                    let feed = self.start(plan, cancel.child_token());
                    running.insert(key, feed);
                }
            }
        }
    }

    /// Starts one feed's poller (on a shared bus: its lease loop).
    fn start(&self, plan: Plan, stop: CancellationToken) -> Running {
        let status = poller::status_of(&plan.source);
        self.set.insert(status.clone());
        let key = plan.source.key();
        let feed_plan = FeedPlan::new(plan.clone());
        match &self.shared {
            Some(shared) => scale::spawn_led_poller(
                LedFeed {
                    plan: feed_plan.clone(),
                    fetch: self.fetch.clone(),
                    status: status.clone(),
                    claims: self.claims.clone(),
                    key: key.clone(),
                },
                shared.lease(&key),
                self.hub.clone(),
                self.bus.clone(),
                &self.tracker,
                stop.clone(),
            ),
            None => match Fetcher::new(plan.source.clone(), self.fetch.clone()) {
                Ok(fetcher) => {
                    let publisher = Publisher::new(self.bus.clone(), Tracker::new())
                        .resuming(scale::resume_from(&self.hub))
                        .claiming(self.claims.clone(), key.clone());
                    let poller = Poller::new(fetcher, publisher, plan.interval, status.clone())
                        .following(&feed_plan);
                    self.tracker.spawn(poller.run(stop.clone()));
                }
                Err(err) => {
                    tracing::error!(feed = %key, %err, "cannot set up the feed");
                    status.lock().expect("feed status lock poisoned").last_error =
                        Some(err.to_string());
                }
            },
        }
        Running {
            plan: feed_plan,
            stop,
            status,
        }
    }

    /// Stops a removed feed: its poller ends, its health goes, its games
    /// are no longer claimed, and its league's board is emptied so the
    /// page and `scores` drop them (the games stay in the database and in
    /// `/api/games/{eid}`).
    async fn stop(&self, key: &str, feed: Running, remaining: &[Option<String>]) {
        feed.stop.cancel();
        self.set.remove(key);
        self.claims.release(key);
        let league = feed
            .status
            .lock()
            .expect("feed status lock poisoned")
            .league
            .clone();
        tracing::info!(feed = %key, league = league.as_deref().unwrap_or("-"), "feed removed");
        let Some(league) = league else { return };
        // A feed that replaces it (the same league from another address,
        // or a new file or URL whose league is not known yet) takes the
        // board over rather than have it emptied under the page.
        if remaining
            .iter()
            .any(|l| l.as_deref().is_none_or(|l| l == league))
        {
            return;
        }
        let topic = model::board_topic(&league);
        if self.hub.state(&topic, model::EVENT_UPDATE).is_some() {
            let key = format!("feed:removed:{league}:{}", crate::bus::now_us());
            if let Err(err) = self
                .bus
                .publish(&topic, model::EVENT_UPDATE, "[]".into(), Some(&key))
                .await
            {
                tracing::warn!(%err, %league, "cannot empty the removed league's board");
            }
        }
    }
}
