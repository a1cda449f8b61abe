//! The feed loop: fetch the document, turn it into a week through the
//! format seam, publish what changed, and sleep as long as the game
//! schedule allows. Nothing here depends on the feed's format.
//!
//! Bad data never reaches clients: a document that does not parse is
//! rejected whole (logged with the game and attribute, counted), the last
//! good state stays, and its validators are not remembered so a fixed
//! document is fetched in full. A 304 costs nothing downstream. Fetch
//! failures (after the fetcher's own retries) are logged and counted, and
//! the loop carries on at the schedule's pace. Changes the bus did not
//! take (an outage) are retried every [`PENDING_RETRY`] at most, before
//! any newer document, so they arrive once and in order. Corrections and vanished
//! games are the [`Tracker`](super::Tracker)'s business.
//!
//! Metric: `livescore_feed_polls_total{result}` with `ok`, `not_modified`,
//! `rejected` (the document was bad) and `error` (it could not be fetched).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::fetch::{Fetched, Fetcher};
use super::{format, schedule, FeedError, Publisher};
use crate::bus::BusError;
use crate::model::Game;

pub use super::fetch::FetchConfig;
pub use super::source::Source;

/// How soon changes the bus did not take are tried again.
pub const PENDING_RETRY: Duration = Duration::from_secs(1);

/// What `/healthz` reports for a feed.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct FeedHealth {
    /// The feed's key (`nba` for `espn:nba`; `feed-…` for a file or URL
    /// until its documents name the league).
    pub feed: String,
    /// The league its documents are of, once one was read.
    pub league: Option<String>,
    /// Where it is read from (a URL's key redacted).
    pub source: String,
    /// When the last document was accepted (or found not modified).
    pub last_ok: Option<DateTime<Utc>>,
    /// Why the latest poll failed, if it did.
    pub last_error: Option<String>,
    /// Documents rejected as malformed since start.
    pub rejected: u64,
    /// Polls that could not fetch the document since start.
    pub errors: u64,
}

impl FeedHealth {
    /// This node polled and never got a document it could take: a server
    /// started on a wrong URL, a refused league or a feed that is down
    /// serves no scores at all, which a load balancer must hear from
    /// `/readyz`. A node that has not polled yet (or that follows another
    /// node's poller) is not counted; one that took a good document once
    /// keeps serving its last good state through later failures.
    pub fn never_good(&self) -> bool {
        self.last_ok.is_none() && (self.errors > 0 || self.rejected > 0)
    }
}

/// Shared, cheap-to-read feed status.
pub type FeedStatus = Arc<Mutex<FeedHealth>>;

/// A new status for the feed `source`.
pub fn status_of(source: &Source) -> FeedStatus {
    Arc::new(Mutex::new(FeedHealth {
        feed: source.key(),
        league: source.league.clone(),
        source: source.to_string(),
        ..FeedHealth::default()
    }))
}

/// Every feed this node runs, by key: what `/healthz`, `/readyz` and
/// `/api/leagues` report. Feeds come and go with a config reload.
#[derive(Debug, Clone, Default)]
pub struct FeedSet(Arc<Mutex<std::collections::BTreeMap<String, FeedStatus>>>);

impl FeedSet {
    /// Adds (or replaces) a feed's status.
    pub fn insert(&self, status: FeedStatus) {
        let key = status
            .lock()
            .expect("feed status lock poisoned")
            .feed
            .clone();
        self.0
            .lock()
            .expect("feed set lock poisoned")
            .insert(key, status);
    }

    /// Forgets a removed feed.
    pub fn remove(&self, key: &str) {
        self.0.lock().expect("feed set lock poisoned").remove(key);
    }

    /// Every feed's health now, by key.
    pub fn health(&self) -> Vec<FeedHealth> {
        self.0
            .lock()
            .expect("feed set lock poisoned")
            .values()
            .map(|s| s.lock().expect("feed status lock poisoned").clone())
            .collect()
    }

    /// True when this node runs no feed.
    pub fn is_empty(&self) -> bool {
        self.0.lock().expect("feed set lock poisoned").is_empty()
    }
}

/// What one poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// A new document changed something; its changes are published.
    Changed {
        /// Games whose state changed.
        games: usize,
        /// Score changes published.
        scores: usize,
    },
    /// A new document that changed nothing a client could see.
    Unchanged,
    /// The server said 304: nothing parsed, nothing published.
    NotModified,
}

/// Where and how often to poll: what a config reload may change while the
/// server runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The feed's address and format.
    pub source: Source,
    /// How often while games are on.
    pub interval: Duration,
}

/// The plan of a node's feed, shared by its pollers (one per lease term on
/// a shared bus) and the config reloader; a poller takes a new plan before
/// its next poll, and a sleeping one wakes for it.
#[derive(Debug, Clone)]
pub struct FeedPlan(Arc<tokio::sync::watch::Sender<Plan>>);

impl FeedPlan {
    /// Starts at `plan`.
    pub fn new(plan: Plan) -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(plan)))
    }

    /// Replaces the plan (a change wakes the pollers; the same plan does
    /// nothing).
    pub fn set(&self, plan: Plan) {
        self.0.send_if_modified(|p| {
            let changed = *p != plan;
            *p = plan;
            changed
        });
    }

    /// The plan now.
    pub fn get(&self) -> Plan {
        self.0.borrow().clone()
    }

    fn follow(&self) -> tokio::sync::watch::Receiver<Plan> {
        self.0.subscribe()
    }
}

/// The feeds a node polls (`--feed`, several allowed): a config reload
/// replaces the list, and the node starts the feeds that are new, stops
/// those that are gone and gives the others their new plan.
#[derive(Debug, Clone)]
pub struct FeedList(Arc<tokio::sync::watch::Sender<Vec<Plan>>>);

impl FeedList {
    /// Starts at `plans`; two plans of one feed (the same key) are refused.
    pub fn new(plans: Vec<Plan>) -> Result<Self, String> {
        check_distinct(&plans)?;
        Ok(Self(Arc::new(tokio::sync::watch::Sender::new(plans))))
    }

    /// Replaces the list (a reload); a list naming one feed twice is
    /// refused and the running one stays.
    pub fn set(&self, plans: Vec<Plan>) -> Result<(), String> {
        check_distinct(&plans)?;
        self.0.send_if_modified(|p| {
            let changed = *p != plans;
            *p = plans;
            changed
        });
        Ok(())
    }

    /// The list now.
    pub fn get(&self) -> Vec<Plan> {
        self.0.borrow().clone()
    }

    /// Told of every new list.
    pub fn follow(&self) -> tokio::sync::watch::Receiver<Vec<Plan>> {
        self.0.subscribe()
    }
}

fn check_distinct(plans: &[Plan]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for p in plans {
        if !seen.insert(p.source.key()) {
            return Err(format!(
                "the feed {} ({}) is given twice",
                p.source,
                p.source.key()
            ));
        }
    }
    Ok(())
}

/// One feed source polled into one publisher.
pub struct Poller {
    fetcher: Fetcher,
    publisher: Publisher,
    interval: Duration,
    /// Where a reload's plan comes from, for a poller that follows one.
    plan: Option<tokio::sync::watch::Receiver<Plan>>,
    status: FeedStatus,
    /// The week as last accepted, for the schedule. Taken from the
    /// tracker's view (vanished games included), not from the raw document.
    games: Vec<Game>,
    /// The metrics label: the league once a document named it, the feed's
    /// key before.
    label: String,
}

impl Poller {
    /// A poller publishing through `publisher`, polling at `interval` while
    /// games are on, reporting into `status`.
    pub fn new(
        fetcher: Fetcher,
        publisher: Publisher,
        interval: Duration,
        status: FeedStatus,
    ) -> Self {
        // A publisher resumed from the store already knows the week: the
        // schedule must not treat a finished week as unknown after restart.
        let week = publisher.week();
        let label = week.as_ref().map_or_else(
            || {
                let source = fetcher.source();
                source.league.clone().unwrap_or_else(|| source.key())
            },
            |w| w.league.clone(),
        );
        let games = week.map(|w| w.games).unwrap_or_default();
        Self {
            fetcher,
            publisher,
            interval,
            plan: None,
            status,
            games,
            label,
        }
    }

    /// Takes each new plan of `plan` before its next poll.
    pub fn following(mut self, plan: &FeedPlan) -> Self {
        let mut rx = plan.follow();
        rx.mark_changed();
        self.plan = Some(rx);
        self
    }

    /// A new plan, if one came: a new source gets a fetcher of its own
    /// (its validators start afresh); one that cannot be set up leaves the
    /// old source polled.
    fn take_plan(&mut self) {
        let Some(rx) = self.plan.as_mut() else {
            return;
        };
        if !rx.has_changed().unwrap_or(false) {
            return;
        }
        let plan = rx.borrow_and_update().clone();
        if plan.interval != self.interval {
            tracing::info!(interval = ?plan.interval, "feed poll interval changed");
            self.interval = plan.interval;
        }
        if plan.source != *self.fetcher.source() {
            match Fetcher::new(plan.source.clone(), self.fetcher.config().clone()) {
                Ok(fetcher) => {
                    tracing::info!(source = %plan.source, "feed source changed");
                    self.fetcher = fetcher;
                }
                Err(err) => {
                    tracing::error!(%err, "cannot set up the new feed source; polling the old one");
                }
            }
        }
    }

    /// For a day league, asks for the board of the day it is following
    /// (see [`board_day`]).
    fn pick_day(&mut self) {
        let Some(zone) = self.fetcher.source().day else {
            return;
        };
        let now = Utc::now();
        let local = now.with_timezone(&zone);
        let day = board_day(&self.games, local.date_naive(), local.hour(), now);
        self.fetcher.set_day(day);
    }

    /// One fetch-parse-publish round, counted and recorded in the status.
    /// Logs nothing above debug: `ingest --once` reports its own single
    /// line, and [`Poller::run`] logs failures.
    pub async fn poll(&mut self) -> Result<Polled, FeedError> {
        self.pick_day();
        let fetched = self.fetcher.fetch().await;
        self.settle(fetched).await
    }

    /// Parses and publishes a fetched document, counts the outcome and
    /// records it in the status.
    async fn settle(&mut self, fetched: Result<Fetched, FeedError>) -> Result<Polled, FeedError> {
        let result = self.apply(fetched).await;
        let result = result.map_err(|err| self.fetcher.shown(err));
        let label = match &result {
            Ok(Polled::NotModified) => "not_modified",
            Ok(_) => "ok",
            Err(FeedError::Unreachable(_) | FeedError::Bus(_)) => "error",
            Err(_) => "rejected",
        };
        metrics::counter!("livescore_feed_polls_total", "result" => label, "league" => self.label.clone())
            .increment(1);
        let mut st = self.status.lock().expect("feed status lock poisoned");
        if self.label != st.feed {
            st.league = Some(self.label.clone());
        }
        match &result {
            Ok(_) => {
                st.last_ok = Some(Utc::now());
                st.last_error = None;
            }
            Err(err) => {
                st.last_error = Some(err.to_string());
                if label == "rejected" {
                    st.rejected += 1;
                } else {
                    st.errors += 1;
                }
            }
        }
        result
    }

    async fn apply(&mut self, fetched: Result<Fetched, FeedError>) -> Result<Polled, FeedError> {
        // What an earlier round could not publish (the bus was away) goes
        // first, whatever this fetch brought; until it is out, a new
        // document is not taken in (its validators not kept, so it is
        // fetched whole again next time).
        self.publisher.flush().await?;
        let (body, validators) = match fetched? {
            Fetched::NotModified => return Ok(Polled::NotModified),
            Fetched::Document { body, validators } => (body, validators),
        };
        // All or nothing: nothing is published unless the whole document
        // parses, so a bad game never reaches a client.
        let week = format::parse(&body, self.fetcher.source().format)?;
        if let Some(expected) = &self.fetcher.source().league {
            if week.league != *expected {
                return Err(FeedError::Unsupported {
                    format: format::Format::Espn,
                    league: week.league,
                    problem: format!(
                        "the feed espn:{expected} served a document of another league"
                    ),
                });
            }
        }
        if let Err(owner) = self.publisher.claim_league(&week.league) {
            return Err(FeedError::Unsupported {
                format: self.fetcher.source().format.unwrap_or(format::Format::Espn),
                league: week.league,
                problem: format!("already followed by the feed {owner}; one feed per league"),
            });
        }
        self.label = week.league.clone();
        self.fetcher.accept(validators);
        let changes = self.publisher.push(week, Utc::now()).await?;
        Ok(match changes.week {
            Some(week) => {
                self.games = week.games;
                Polled::Changed {
                    games: changes.games.len(),
                    scores: changes.score_events.len(),
                }
            }
            None => Polled::Unchanged,
        })
    }

    /// How long to sleep before the next poll (see [`schedule`]).
    pub fn next_delay(&self) -> Duration {
        schedule::next_poll(&self.games, Utc::now(), self.interval)
    }

    /// Polls until `cancel`, sleeping per the schedule between polls. Ends
    /// early only if the bus is closed (nothing could be published anyway).
    pub async fn run(self, cancel: CancellationToken) {
        let source = self.fetcher.source().to_string();
        let feed = self.fetcher.source().key();
        self.run_loop(cancel)
            .instrument(tracing::info_span!("feed", %feed, %source))
            .await;
    }

    async fn run_loop(mut self, cancel: CancellationToken) {
        tracing::info!(interval = ?self.interval, "polling the feed");
        loop {
            self.take_plan();
            self.pick_day();
            let fetched = tokio::select! {
                // Shutdown abandons a fetch in flight (it holds no state);
                // a document already fetched is published whole, never
                // cut between its score events and its update.
                _ = cancel.cancelled() => return,
                fetched = self.fetcher.fetch() => fetched,
            };
            let result = self.settle(fetched).await;
            match result {
                Ok(Polled::Changed { games, scores }) => {
                    tracing::debug!(games, scores, "feed changed");
                }
                Ok(Polled::Unchanged | Polled::NotModified) => {}
                Err(FeedError::Bus(BusError::Closed)) => {
                    tracing::info!("the bus is closed; poller stops");
                    return;
                }
                Err(FeedError::Bus(err)) => {
                    tracing::warn!(
                        %err,
                        pending = self.publisher.pending(),
                        "feed changes not published yet; retrying them before the next document"
                    );
                }
                Err(err @ FeedError::Unreachable(_)) => {
                    tracing::warn!(%err, "feed fetch failed; keeping the last good state");
                }
                Err(err) => {
                    tracing::warn!(%err, "feed document rejected; keeping the last good state");
                }
            }
            let mut delay = self.next_delay();
            if self.publisher.pending() > 0 {
                delay = delay.min(PENDING_RETRY);
            }
            tracing::debug!(?delay, "next poll");
            tokio::select! {
                // Shutdown ends the sleep at once.
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
                // A new plan is polled at once.
                () = plan_changed(&mut self.plan) => {}
            }
        }
    }
}

/// Local hour until which a day board whose games ran past midnight stays
/// on yesterday: long after the latest of them ends, long before the next
/// day's first (a noon kick-off is the earliest).
pub const LATE_GAMES_UNTIL_HOUR: u32 = 11;

/// The day a day league's board follows: `today` (the league's calendar
/// day), except that a board of yesterday with a game still under way (or
/// past its start time without a result) stays on yesterday until its
/// games are over, or until [`LATE_GAMES_UNTIL_HOUR`]: a game that runs
/// past midnight is finished on the board it started on, rather than
/// frozen live when ESPN's board moves to the new day.
pub fn board_day(
    games: &[Game],
    today: chrono::NaiveDate,
    local_hour: u32,
    now: DateTime<Utc>,
) -> chrono::NaiveDate {
    let yesterday = today.pred_opt();
    let on_board = games.first().and_then(|g| g.date);
    let late = games.iter().any(|g| {
        g.state.in_progress() || (g.state == crate::model::GameState::Pregame && g.kickoff <= now)
    });
    match on_board {
        Some(day) if Some(day) == yesterday && late && local_hour < LATE_GAMES_UNTIL_HOUR => day,
        _ => today,
    }
}

/// Resolves when `plan` has a new value; never without one (or once its
/// sender is gone).
async fn plan_changed(plan: &mut Option<tokio::sync::watch::Receiver<Plan>>) {
    if let Some(rx) = plan {
        if rx.changed().await.is_ok() {
            // Left unseen for `take_plan`.
            rx.mark_changed();
            return;
        }
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Bus, Envelope, MemoryBus};
    use crate::feed::Tracker;
    use tokio::sync::broadcast;
    use tokio::time::Instant;

    fn fixture(name: &str) -> String {
        let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).expect("fixture")
    }

    /// The next board (`scores/nfl`) and when (since `start`) it was published.
    async fn next_update(
        rx: &mut broadcast::Receiver<Arc<Envelope>>,
        start: Instant,
    ) -> (Duration, Arc<Envelope>) {
        loop {
            let env = rx.recv().await.expect("bus open");
            if env.topic == "scores/nfl" {
                return (start.elapsed(), env);
            }
        }
    }

    fn within(got: Duration, want_secs: u64) -> bool {
        got >= Duration::from_secs(want_secs) && got < Duration::from_secs(want_secs + 1)
    }

    #[test]
    fn a_day_board_keeps_yesterdays_late_games_until_they_are_over() {
        let doc = fixture("espn-sports/nba-2024-12-15-final.json");
        let board = format::parse(doc.as_bytes(), None).expect("nba");
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).expect("date");
        let (yesterday, today) = (day(2024, 12, 15), day(2024, 12, 16));
        assert_eq!(board.games[0].date, Some(yesterday));
        let now = DateTime::parse_from_rfc3339("2024-12-16T06:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        // All final: the new day at once.
        assert_eq!(board_day(&board.games, today, 1, now), today);
        // One still live at 1 am: yesterday's board until it ends...
        let mut late = board.games.clone();
        late[1].state = crate::model::GameState::Overtime;
        assert_eq!(board_day(&late, today, 1, now), yesterday);
        // ...or until late morning.
        assert_eq!(board_day(&late, today, LATE_GAMES_UNTIL_HOUR, now), today);
        // A board two days old never holds.
        assert_eq!(
            board_day(&late, day(2024, 12, 17), 1, now),
            day(2024, 12, 17)
        );
        // Nothing on the board yet: today.
        assert_eq!(board_day(&[], today, 1, now), today);
    }

    #[test]
    fn a_day_league_asks_espn_for_its_day_and_forgets_the_last_days_validators() {
        let source = Source::parse("espn:mens-college-basketball").expect("cbb");
        assert_eq!(source.day, Some(chrono_tz::America::New_York));
        assert_eq!(Source::parse("espn:nfl").expect("nfl").day, None);
        let mut fetcher = Fetcher::new(source, FetchConfig::default()).expect("fetcher");
        let day = |d| chrono::NaiveDate::from_ymd_opt(2025, 3, d).expect("date");
        fetcher.set_day(day(1));
        let url = fetcher.source().to_string();
        assert!(url.ends_with("?groups=50&dates=20250301"), "{url}");
        fetcher.accept(super::super::fetch::Validators::with_etag("\"x\""));
        fetcher.set_day(day(1));
        assert!(!fetcher.validators().is_empty(), "the same day keeps them");
        fetcher.set_day(day(2));
        let url = fetcher.source().to_string();
        assert!(url.ends_with("?groups=50&dates=20250302"), "{url}");
        assert!(
            fetcher.validators().is_empty(),
            "another day, another document"
        );
    }

    #[test]
    fn a_poller_resumed_on_a_finished_week_polls_slowly_from_the_start() {
        let final_doc = fixture("ss-2015-w1-final.xml");
        let week = format::parse(final_doc.as_bytes(), None).expect("final");
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(1, 0));
        let publisher = Publisher::new(bus, Tracker::resume(week, Default::default()));
        let fetcher = Fetcher::new(
            Source::parse("unused").expect("path"),
            FetchConfig::default(),
        )
        .expect("fetcher");
        let poller = Poller::new(
            fetcher,
            publisher,
            Duration::from_secs(15),
            FeedStatus::default(),
        );
        assert_eq!(poller.next_delay(), schedule::FINAL_POLL);
    }

    /// The 2015 kickoffs are long past on the wall clock, so pregame and
    /// live documents mean "poll at the interval"; all final means slow.
    #[tokio::test(start_paused = true)]
    async fn the_loop_polls_at_the_interval_while_games_are_on_and_slowly_once_all_final() {
        let dir = std::env::temp_dir().join(format!("livescore-poller-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("ss.xml");
        std::fs::write(&file, fixture("ss-2015-w1-pregame.xml")).expect("write");

        let bus = Arc::new(MemoryBus::new(1, 0));
        let mut rx = bus.subscribe();
        let fetcher = Fetcher::new(
            Source::parse(file.to_str().expect("utf8")).expect("path"),
            FetchConfig::default(),
        )
        .expect("fetcher");
        let status = FeedStatus::default();
        let poller = Poller::new(
            fetcher,
            Publisher::new(bus.clone() as Arc<dyn Bus>, Tracker::new()),
            Duration::from_secs(15),
            status.clone(),
        );
        let cancel = CancellationToken::new();
        let start = Instant::now();
        let task = tokio::spawn(poller.run(cancel.clone()));

        let (t, _) = next_update(&mut rx, start).await;
        assert!(within(t, 0), "first poll at once, got {t:?}");
        std::fs::write(&file, fixture("ss-2015-w1-midday.xml")).expect("write");
        let (t, _) = next_update(&mut rx, start).await;
        assert!(
            within(t, 15),
            "pregame/overdue: next poll after the interval, got {t:?}"
        );
        std::fs::write(&file, fixture("ss-2015-w1-final.xml")).expect("write");
        let (t, _) = next_update(&mut rx, start).await;
        assert!(within(t, 30), "live: the interval again, got {t:?}");

        // All final: a late correction is only seen at the slow rate.
        let corrected = fixture("ss-2015-w1-final.xml").replace(
            r#"hs="23" v="GB" vnn="packers" vs="31""#,
            r#"hs="23" v="GB" vnn="packers" vs="30""#,
        );
        std::fs::write(&file, corrected).expect("write");
        let (t, _) = next_update(&mut rx, start).await;
        let slow = 30 + schedule::FINAL_POLL.as_secs();
        assert!(within(t, slow), "all final: slow poll, got {t:?}");

        // A malformed document in between is rejected and counted.
        std::fs::write(&file, fixture("ss-malformed-truncated.xml")).expect("write");
        tokio::time::sleep(schedule::FINAL_POLL + Duration::from_secs(1)).await;
        let st = status.lock().expect("status").clone();
        assert_eq!(st.rejected, 1);
        assert!(st.last_error.is_some_and(|e| e.contains("malformed XML")));
        assert!(rx.try_recv().is_err(), "nothing published from it");

        cancel.cancel();
        task.await.expect("poller ends on cancel");
        std::fs::remove_dir_all(&dir).ok();
    }
}
