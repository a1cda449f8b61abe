//! Where scores come from: the feed formats (scorestrip XML, ESPN JSON)
//! behind one seam ([`format::parse`]), recordings and their replay, and the
//! change detector that turns successive feed states into events.
//!
//! A feed source produces whole `Week`s; [`Tracker`] compares each with the
//! last one and yields only what changed, and [`Publisher`] puts that on the
//! bus. Nothing here talks to clients or the database directly.

pub mod espn;
pub mod fetch;
pub mod format;
pub mod leader;
pub mod poller;
pub mod record;
pub mod recording;
pub mod redact;
pub mod replay;
pub mod schedule;
pub mod scorestrip;
pub mod source;
pub mod union;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::bus::{Bus, BusError};
use crate::model::{self, BoardKey, Game, ScoreEvent, Week};

pub use format::Format;

/// Why a feed document or source was rejected. Each variant names the
/// format and enough (game, field, position) for an operator to find the
/// fault in the document without a debugger.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The document is not well-formed (truncated, bad nesting, bad escapes).
    #[error("{format}: malformed {} at byte {position}: {message}", format.syntax())]
    Syntax {
        /// The format it was read as.
        format: Format,
        /// Byte offset where the reader gave up.
        position: u64,
        /// What the reader said.
        message: String,
    },
    /// The document holds no week at all (well-formed, but not this format).
    #[error("{format}: {message}")]
    NoWeek {
        /// The format it was read as.
        format: Format,
        /// What is missing.
        message: String,
    },
    /// A week-level field (season, week, season type) is missing or wrong.
    #[error("{format}: week field `{field}` {problem}")]
    BadWeek {
        /// The format it was read as.
        format: Format,
        /// The field, as the format spells it.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A game has no id; `index` counts games from 1 and `label` adds what
    /// else names it (` (IND @ BUF)`), if anything.
    #[error("{format}: game #{index}{label}: missing `{field}`")]
    MissingId {
        /// The format it was read as.
        format: Format,
        /// Position of the game in the document, from 1.
        index: usize,
        /// Another name of the game, with a leading space, or empty.
        label: String,
        /// The id field.
        field: &'static str,
    },
    /// A game's field is missing or has a value we cannot use.
    #[error("{format}: game {game}: `{field}` {problem}")]
    BadGame {
        /// The format it was read as.
        format: Format,
        /// The game's id.
        game: String,
        /// The field, as the format spells it (`hs`,
        /// `competitions[0].competitors[1].score`).
        field: String,
        /// What is wrong with it, including the offending value.
        problem: String,
    },
    /// The document is of a league livescore cannot draw: a sport other
    /// than the five, or events that are not two teams (UFC bouts, golf).
    #[error("{format}: league {league}: {problem}")]
    Unsupported {
        /// The format it was read as.
        format: Format,
        /// The league, as the document names it (`leagues[0].slug`).
        league: String,
        /// Why it cannot be drawn.
        problem: String,
    },
    /// `--feed-format auto` could not tell the document's format.
    #[error("cannot tell the feed's format: {0} (expected `<` for scorestrip XML or `{{` for ESPN JSON; set --feed-format)")]
    UnknownFormat(String),
    /// The feed could not be read at all.
    #[error("feed unreachable: {0}")]
    Unreachable(String),
    /// A recording (the embedded week, or a recorded directory) could not
    /// be read.
    #[error("recording: {0}")]
    Recording(String),
    /// The changes could not be put on the bus (it is closed: shutdown).
    #[error("cannot publish: {0}")]
    Bus(#[from] BusError),
}

/// What one new feed state changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Every score change, in the order it happened.
    pub score_events: Vec<ScoreEvent>,
    /// Games whose state differs from the last document.
    pub games: Vec<Game>,
    /// The whole week after this document (only meaningful when something
    /// changed).
    pub week: Option<Week>,
}

impl Changes {
    /// True when the document changed nothing a client could see.
    pub fn is_empty(&self) -> bool {
        self.games.is_empty()
    }
}

/// Remembers the last state of every game and diffs each new document
/// against it.
///
/// A game missing from a later document is kept as it was (feeds drop games
/// by mistake; a scoreboard must not lose them). Score changes count per game
/// so a ScoreEvent id (`<eid>-<n>`) is the same on every run over the same
/// feed.
#[derive(Debug, Default)]
pub struct Tracker {
    games: Vec<Game>,
    index: HashMap<String, usize>,
    score_changes: HashMap<String, u32>,
    meta: Option<Meta>,
}

/// The board a tracker follows: its key and what it says beyond its
/// games (the league's sport).
type Meta = (BoardKey, model::Sport);

impl Tracker {
    /// A tracker that has seen nothing: the first document changes every game.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker that resumes from a known state (warm start), with the
    /// number of score changes already recorded per game.
    pub fn resume(week: Week, score_changes: HashMap<String, u32>) -> Self {
        let mut t = Self {
            score_changes,
            ..Self::default()
        };
        t.meta = Some((week.key(), week.sport));
        for g in week.games {
            t.index.insert(g.eid.clone(), t.games.len());
            t.games.push(g);
        }
        t
    }

    /// The current week as last seen.
    pub fn week(&self) -> Option<Week> {
        let ((league, season, week, date, season_type), sport) = self.meta.clone()?;
        Some(Week {
            league,
            sport,
            season,
            week,
            date,
            season_type,
            games: self.games.clone(),
        })
    }

    /// Folds a new document in and returns what changed. `at` is the feed
    /// time stamped on ScoreEvents.
    pub fn apply(&mut self, doc: Week, at: DateTime<Utc>) -> Changes {
        let mut changes = Changes::default();
        let new_meta = (doc.key(), doc.sport);
        if self.meta.as_ref() != Some(&new_meta) && self.meta.is_some() {
            // A new week replaces the old one entirely.
            self.games.clear();
            self.index.clear();
            self.score_changes.clear();
        }
        self.meta = Some(new_meta);
        for game in doc.games {
            match self.index.get(&game.eid).copied() {
                Some(i) => {
                    let old = &self.games[i];
                    if *old == game {
                        continue;
                    }
                    self.score_events(old.clone(), &game, at, &mut changes.score_events);
                    self.games[i] = game.clone();
                }
                None => {
                    self.index.insert(game.eid.clone(), self.games.len());
                    self.games.push(game.clone());
                }
            }
            changes.games.push(game);
        }
        if !changes.is_empty() {
            changes.week = self.week();
        }
        changes
    }

    fn score_events(
        &mut self,
        old: Game,
        new: &Game,
        at: DateTime<Utc>,
        out: &mut Vec<ScoreEvent>,
    ) {
        // Home first, then away: when one poll shows both sides changed the
        // real order is unknowable, and a fixed rule keeps replays identical.
        let steps = [
            (new.home.abbr.clone(), old.home.score, new.home.score, true),
            (new.away.abbr.clone(), old.away.score, new.away.score, false),
        ];
        let mut home = old.home.score;
        let mut away = old.away.score;
        for (team, before, after, is_home) in steps {
            if before == after {
                continue;
            }
            if is_home {
                home = after;
            } else {
                away = after;
            }
            let n = self.score_changes.entry(new.eid.clone()).or_insert(0);
            *n += 1;
            out.push(ScoreEvent {
                id: format!("{}-{}", new.eid, n),
                eid: new.eid.clone(),
                team,
                points: i32::from(after) - i32::from(before),
                league: new.league.clone(),
                quarter: new.quarter,
                period: new.period,
                period_label: new.period_label.clone(),
                clock: new.clock.clone(),
                home_score: home,
                away_score: away,
                at,
            });
        }
    }
}

/// Puts the changes of each feed state on the bus, in the order clients
/// need them: score events, then each changed game, then the whole list.
///
/// Exactly once through a bus outage: the changes of a document wait in
/// `pending` until the bus has taken them all. A publish that times out
/// stays pending and is sent again before anything newer. Each change
/// carries an idempotency key made from the transition itself (the game,
/// its state before and after; a score event's id and scores), so a retry
/// of an event the bus did append before the failure, whether by this
/// poller or by the next feed leader recomputing the same change from the
/// same state, is not appended twice.
pub struct Publisher {
    tracker: Tracker,
    bus: Arc<dyn Bus>,
    pending: VecDeque<Pending>,
    /// Where a tracker that has seen nothing resumes from once the first
    /// document names its league (the hub's board of that league).
    resume: Option<Resume>,
    /// Leagues and game ids taken by this process's feeds, and this
    /// feed's key among them.
    claims: Option<(Claims, String)>,
    /// Games of this feed already refused as another feed's (logged once).
    refused: std::collections::HashSet<String>,
}

/// A tracker for a league's board as it stands: see [`Publisher::resuming`].
pub type Resume = Box<dyn Fn(&str) -> Tracker + Send + Sync>;

/// Which feed took each league and each game id, shared by every feed of a
/// process. A league is one feed's: a second feed whose documents are of
/// a league another feed follows has its documents refused (two feeds
/// would overwrite each other's board). ESPN's event ids are unique across
/// its leagues; a game a second feed also gives (a league whose document
/// repeats another's match) is refused from the second, logged and
/// counted, never merged into the first's game.
#[derive(Debug, Clone, Default)]
pub struct Claims(Arc<std::sync::Mutex<ClaimMaps>>);

#[derive(Debug, Default)]
struct ClaimMaps {
    leagues: HashMap<String, String>,
    games: HashMap<String, String>,
}

impl Claims {
    /// Takes `league` for feed `feed`; the feed that holds it when another.
    pub fn league(&self, league: &str, feed: &str) -> Result<(), String> {
        let mut maps = self.0.lock().expect("claims lock poisoned");
        take(&mut maps.leagues, league, feed)
    }

    /// Takes game `eid` for feed `feed`; the feed that holds it when another.
    fn game(&self, eid: &str, feed: &str) -> Result<(), String> {
        let mut maps = self.0.lock().expect("claims lock poisoned");
        take(&mut maps.games, eid, feed)
    }

    /// Lets go of every league and game of `feed` (it was removed).
    pub fn release(&self, feed: &str) {
        let mut maps = self.0.lock().expect("claims lock poisoned");
        maps.leagues.retain(|_, owner| owner != feed);
        maps.games.retain(|_, owner| owner != feed);
    }
}

/// One change waiting for the bus.
struct Pending {
    topic: String,
    event: &'static str,
    data: Bytes,
    key: String,
}

fn take(map: &mut HashMap<String, String>, what: &str, feed: &str) -> Result<(), String> {
    match map.get(what) {
        Some(owner) if owner != feed => Err(owner.clone()),
        Some(_) => Ok(()),
        None => {
            map.insert(what.to_owned(), feed.to_owned());
            Ok(())
        }
    }
}

impl Publisher {
    /// A publisher onto `bus` that starts from `tracker`'s state.
    pub fn new(bus: Arc<dyn Bus>, tracker: Tracker) -> Self {
        Self {
            tracker,
            bus,
            pending: VecDeque::new(),
            resume: None,
            claims: None,
            refused: Default::default(),
        }
    }

    /// Resumes from `resume(league)` when the first document comes and this
    /// publisher has seen none: a feed whose league is known only by its
    /// documents (a file, a URL) carries on from that league's board like
    /// an `espn:` one, publishing only real changes.
    pub fn resuming(mut self, resume: Resume) -> Self {
        self.resume = Some(resume);
        self
    }

    /// Refuses leagues and games another feed of `claims` took first;
    /// this feed is `feed` there.
    pub fn claiming(mut self, claims: Claims, feed: String) -> Self {
        self.claims = Some((claims, feed));
        self
    }

    /// Takes `league` for this feed; the feed that follows it already
    /// when another does.
    pub fn claim_league(&self, league: &str) -> Result<(), String> {
        match &self.claims {
            Some((claims, feed)) => claims.league(league, feed),
            None => Ok(()),
        }
    }

    /// Drops the games of `doc` another feed holds (see [`Claims`]).
    fn refuse_taken(&mut self, mut doc: Week) -> Week {
        let Some((claims, feed)) = &self.claims else {
            return doc;
        };
        let league = doc.league.clone();
        let refused = &mut self.refused;
        doc.games.retain(|g| match claims.game(&g.eid, feed) {
            Ok(()) => true,
            Err(owner) => {
                if refused.insert(g.eid.clone()) {
                    tracing::error!(
                        %league,
                        game = %g.eid,
                        %owner,
                        "game id already taken by another feed; this feed's game is refused (never merged)"
                    );
                    metrics::counter!("livescore_feed_duplicate_games_total", "league" => league.clone())
                        .increment(1);
                }
                false
            }
        });
        doc
    }

    /// The week as last published (or resumed), if any.
    pub fn week(&self) -> Option<Week> {
        self.tracker.week()
    }

    /// Changes of an earlier document the bus has not taken yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Publishes what is still pending, then diffs `doc` against the last
    /// state and publishes what changed. Returns the changes (empty when
    /// nothing changed). On a bus error `doc` is not applied when older
    /// changes were still pending (fetch it again), and whatever the bus
    /// did not take stays pending for the next call.
    pub async fn push(&mut self, doc: Week, at: DateTime<Utc>) -> Result<Changes, BusError> {
        self.flush().await?;
        if self.tracker.meta.is_none() {
            if let Some(resume) = &self.resume {
                self.tracker = resume(&doc.league);
            }
        }
        let doc = self.refuse_taken(doc);
        let before: HashMap<String, u64> = self
            .tracker
            .games
            .iter()
            .map(|g| (g.eid.clone(), fingerprint(&json(g))))
            .collect();
        let list_before = fingerprint(&json(&self.tracker.games));
        let changes = self.tracker.apply(doc, at);
        for ev in &changes.score_events {
            // `at` is when this poll saw it: the same change seen again
            // (a retry, a new leader) differs only there.
            let key = format!(
                "feed:s:{}:{}:{}-{}",
                ev.id, ev.points, ev.home_score, ev.away_score
            );
            self.queue(
                model::game_topic(&ev.eid),
                model::EVENT_SCORE,
                json(ev),
                key,
            );
        }
        for game in &changes.games {
            let data = json(game);
            let from = before.get(&game.eid).copied().unwrap_or(0);
            let key = format!(
                "feed:g:{}:{from:016x}:{:016x}",
                game.eid,
                fingerprint(&data)
            );
            self.queue(model::game_topic(&game.eid), model::EVENT_GAME, data, key);
        }
        if let Some(week) = &changes.week {
            // The league's board; `scores`, every league's, is made from
            // it (see `union`).
            let data = json(&week.games);
            let key = format!(
                "feed:u:{}:{list_before:016x}:{:016x}",
                week.league,
                fingerprint(&data)
            );
            self.queue(
                model::board_topic(&week.league),
                model::EVENT_UPDATE,
                data,
                key,
            );
        }
        self.flush().await?;
        Ok(changes)
    }

    fn queue(&mut self, topic: String, event: &'static str, data: Bytes, key: String) {
        self.pending.push_back(Pending {
            topic,
            event,
            data,
            key,
        });
    }

    /// Publishes the pending changes in order; stops at the first failure.
    pub async fn flush(&mut self) -> Result<(), BusError> {
        while let Some(p) = self.pending.front() {
            self.bus
                .publish(&p.topic, p.event, p.data.clone(), Some(&p.key))
                .await?;
            self.pending.pop_front();
        }
        Ok(())
    }
}

/// FNV-1a of `bytes`: a stable fingerprint (the same on every node and
/// build, unlike std's hasher) for idempotency keys.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Serializes a model value; these types cannot fail to serialize (no maps
/// with non-string keys, no custom errors).
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("model types always serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GameState, Quarter, Sport, Team};

    fn game(eid: &str, q: Quarter, hs: u16, vs: u16) -> Game {
        Game {
            eid: eid.into(),
            league: "nfl".into(),
            sport: Sport::Football,
            season: 2015,
            week: Some(1),
            season_type: "REG".into(),
            date: None,
            kickoff: DateTime::parse_from_rfc3339("2015-09-13T17:00:00Z")
                .expect("date")
                .with_timezone(&Utc),
            kickoff_tbd: false,
            day: "Sun".into(),
            time: "1:00".into(),
            state: q.state(),
            period: q.moment().period,
            period_label: None,
            quarter: q,
            clock: q.is_live().then(|| "10:00".to_string()),
            possession: None,
            red_zone: false,
            situation: None,
            home: Team {
                abbr: "CHI".into(),
                nickname: "bears".into(),
                score: hs,
                linescore: None,
                shootout: None,
            },
            away: Team {
                abbr: "GB".into(),
                nickname: "packers".into(),
                score: vs,
                linescore: None,
                shootout: None,
            },
            details: None,
        }
    }

    fn week(games: Vec<Game>) -> Week {
        Week {
            league: "nfl".into(),
            sport: Sport::Football,
            season: 2015,
            week: Some(1),
            date: None,
            season_type: "REG".into(),
            games,
        }
    }

    #[test]
    fn only_changed_games_produce_events() {
        let mut t = Tracker::new();
        let at = Utc::now();
        let first = t.apply(
            week(vec![
                game("a", Quarter::Pregame, 0, 0),
                game("b", Quarter::Pregame, 0, 0),
            ]),
            at,
        );
        assert_eq!(first.games.len(), 2, "first document: every game is new");
        assert!(first.score_events.is_empty());

        let same = t.apply(
            week(vec![
                game("a", Quarter::Pregame, 0, 0),
                game("b", Quarter::Pregame, 0, 0),
            ]),
            at,
        );
        assert!(same.is_empty() && same.week.is_none());

        let next = t.apply(
            week(vec![
                game("a", Quarter::Period(1), 7, 0),
                game("b", Quarter::Pregame, 0, 0),
            ]),
            at,
        );
        assert_eq!(next.games.len(), 1);
        assert_eq!(next.games[0].eid, "a");
        assert_eq!(next.score_events.len(), 1);
        let ev = &next.score_events[0];
        assert_eq!(
            (
                ev.id.as_str(),
                ev.team.as_str(),
                ev.points,
                ev.home_score,
                ev.away_score
            ),
            ("a-1", "CHI", 7, 7, 0)
        );
        assert_eq!(next.week.expect("changed").games.len(), 2);
    }

    #[test]
    fn both_sides_changing_gives_two_ordered_events_and_corrections_are_negative() {
        let mut t = Tracker::new();
        let at = Utc::now();
        t.apply(week(vec![game("a", Quarter::Period(2), 7, 7)]), at);
        let c = t.apply(week(vec![game("a", Quarter::Period(2), 10, 14)]), at);
        let got: Vec<_> = c
            .score_events
            .iter()
            .map(|e| (e.id.clone(), e.points, e.home_score, e.away_score))
            .collect();
        assert_eq!(
            got,
            vec![("a-1".into(), 3, 10, 7), ("a-2".into(), 7, 10, 14)]
        );
        let fix = t.apply(week(vec![game("a", Quarter::Period(2), 10, 13)]), at);
        assert_eq!(fix.score_events[0].points, -1);
        assert_eq!(fix.score_events[0].team, "GB");
        assert_eq!(fix.score_events[0].id, "a-3");
    }

    #[test]
    fn a_document_of_another_week_starts_a_new_board() {
        let mut t = Tracker::new();
        let at = Utc::now();
        t.apply(week(vec![game("a", Quarter::Final, 21, 7)]), at);
        let mut next = week(vec![game("c", Quarter::Pregame, 0, 0)]);
        next.week = Some(2);
        for g in &mut next.games {
            g.week = Some(2);
        }
        let c = t.apply(next, at);
        let board = c.week.expect("a new board");
        assert_eq!((board.week, board.games.len()), (Some(2), 1));
        assert_eq!(board.games[0].eid, "c", "last week's games are gone");
        // Score numbering starts over with the new week's games.
        let c = t.apply(
            Week {
                week: Some(2),
                ..week(vec![game("c", Quarter::Period(1), 7, 0)])
            },
            at,
        );
        assert_eq!(c.score_events[0].id, "c-1");
    }

    #[test]
    fn a_game_missing_from_a_document_is_kept() {
        let mut t = Tracker::new();
        let at = Utc::now();
        t.apply(
            week(vec![
                game("a", Quarter::Period(1), 0, 0),
                game("b", Quarter::Period(1), 0, 0),
            ]),
            at,
        );
        let c = t.apply(week(vec![game("a", Quarter::Period(1), 3, 0)]), at);
        let games = c.week.expect("changed").games;
        assert_eq!(
            games.iter().map(|g| g.eid.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(games[0].state, GameState::Live);
    }
}
