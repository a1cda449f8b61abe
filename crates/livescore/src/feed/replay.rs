//! The recorded 2015 week 1, replayed on a scaled clock.
//!
//! Owns turning `data/nfl-2015-week1.json` (embedded in the binary, so the
//! demo needs no network) into a precomputed timeline of whole [`Week`]s, and
//! a runner that hands them to a [`Publisher`] at the right moments. It never
//! diffs or publishes on its own: change detection stays in
//! [`Tracker`](crate::feed::Tracker), so a
//! replay exercises exactly the path a live feed takes.
//!
//! # Model of time, and why
//!
//! *Simulated time* is the real NFL wall-clock, starting
//! [`PREGAME_SECS`] before the first kickoff, so ScoreEvents carry plausible
//! timestamps and games of one slot (1 PM ×7; 4:05 and 4:25 overlap) run side
//! by side as they did. The recording has no wall-clock per play, only the
//! game clock, so each game's clock runs without stoppages from its kickoff:
//! quarters of 15:00, no break between Q1/Q2 and Q3/Q4, a halftime of
//! [`HALFTIME_SECS`], and overtime (2015 rules: up to 15:00) only for a game
//! that ended `FO`. An OT game ends just after its last OT play (the last
//! scoring play or the end of the last OT drive, whichever is later: in 2015 a
//! field goal on the first OT possession did not end the game, so STL–SEA ran
//! on until SEA's drive failed); any other game ends at 0:00 of Q4.
//!
//! *Real time* is simulated time divided by `speed`, except stretches where no
//! game is live or at halftime (Thursday night to Sunday 1 PM, between slots):
//! each is cut to [`IDLE_GAP`], and the time before the first kickoff to
//! [`LEAD_IN`], because nobody watches a demo for a day of nothing.
//!
//! A snapshot is taken at every moment a scoreboard would change: kickoff,
//! each quarter/half/OT boundary, final, each scoring play, each drive start
//! (possession) and red-zone entry, plus clock ticks about once per real
//! second. Moments closer than [`MERGE_WINDOW`] share a snapshot, except
//! that a game shown at a scoring play takes nothing more of that game: each
//! score change gets its own snapshot, showing that play's quarter and clock,
//! so the tracker yields one ScoreEvent per real scoring play with its own
//! points (merged, a touchdown and its extra point would read as one +7).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::bus::BusError;
use crate::feed::{FeedError, Publisher};
use crate::model::{Game, Quarter, Sport, Team, Week, NFL};

/// The recorded week, in the binary so `livescore demo` works offline.
const RECORDING: &[u8] = include_bytes!("../../data/nfl-2015-week1.json");

/// Real time an idle stretch between kickoff slots is cut to: long enough to
/// notice that one slot ended before the next starts, short enough to wait.
pub const IDLE_GAP: Duration = Duration::from_secs(3);
/// Real time from the all-pregame first snapshot to the first kickoff, so a
/// client that connects at start sees the week before anything moves.
pub const LEAD_IN: Duration = Duration::from_secs(2);
/// Simulated time the replay starts before the first kickoff.
pub const PREGAME_SECS: f64 = 600.0;
/// Simulated length of halftime; close to the NFL's real 12 minutes.
pub const HALFTIME_SECS: f64 = 720.0;
/// Moments this close in real time are shown as one snapshot (scoring plays
/// excepted); without it a slot of 7 games makes bursts of near-identical
/// documents that no one can tell apart.
pub const MERGE_WINDOW: Duration = Duration::from_millis(50);
/// Real time between clock ticks, so the scoreboard clock visibly moves.
const TICK: Duration = Duration::from_secs(1);
/// Smallest tick in game seconds: at slow speeds a tick per real second
/// would make many thousands of snapshots for no visible gain.
const MIN_TICK_SECS: f64 = 15.0;
/// Game seconds in a quarter (2015 overtime was one such period at most).
const QUARTER_SECS: f64 = 900.0;
/// Game seconds in a half: halftime starts here.
const HALF_SECS: f64 = 2.0 * QUARTER_SECS;
/// Simulated spacing of scoring plays that share a clock (touchdown and
/// extra point), keeping them distinct moments in fixture order.
const TIE_EPSILON_SECS: f64 = 0.01;
/// How long after its last play an overtime game is declared final.
const OT_WRAP_UP_SECS: f64 = 1.0;

/// One state of the feed on the replay's timeline.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Real time since the replay started at which this state is published.
    pub offset: Duration,
    /// Simulated wall-clock time of this state (stamped on its ScoreEvents).
    pub at: DateTime<Utc>,
    /// The whole week as the scorestrip feed would show it then.
    pub week: Week,
}

/// The recorded week as a precomputed timeline of feed states.
///
/// Precomputed (a few hundred to a few thousand weeks) so it is pure and
/// testable without waiting, and `run` only sleeps and publishes.
#[derive(Debug, Clone)]
pub struct Replay {
    snapshots: Vec<Snapshot>,
}

#[derive(Deserialize)]
struct RawWeek {
    season: u16,
    week: u8,
    season_type: String,
    games: Vec<RawGame>,
}

#[derive(Deserialize)]
struct RawGame {
    eid: String,
    season: u16,
    week: u8,
    season_type: String,
    day: String,
    time: String,
    kickoff: DateTime<Utc>,
    final_quarter: Quarter,
    home: RawTeam,
    away: RawTeam,
    events: Vec<RawEvent>,
    drives: Vec<RawDrive>,
}

#[derive(Deserialize)]
struct RawTeam {
    abbr: String,
    nickname: String,
    #[serde(rename = "final")]
    final_score: u16,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(flatten)]
    at: Spot,
    team: String,
    points: u16,
    home_score_after: u16,
    away_score_after: u16,
}

#[derive(Deserialize)]
struct RawDrive {
    team: String,
    start: Spot,
    end: Spot,
    red_zone: bool,
}

/// A point of a game: quarter and `MM:SS` left in it.
#[derive(Deserialize)]
struct Spot {
    quarter: Quarter,
    clock: String,
}

impl Spot {
    /// Seconds left in the quarter.
    fn left(&self) -> Result<u32, FeedError> {
        let parsed = self
            .clock
            .split_once(':')
            .map(|(m, s)| (m.parse::<u32>(), s.parse::<u32>()));
        match parsed {
            Some((Ok(m), Ok(s))) if s < 60 && m * 60 + s <= 900 => Ok(m * 60 + s),
            _ => Err(bad(format!("clock {:?}", self.clock))),
        }
    }

    /// Simulated seconds since kickoff: quarters 3+ come after halftime.
    fn rel(&self) -> Result<f64, FeedError> {
        let q = match self.quarter {
            Quarter::Period(q @ 1..=5) => f64::from(q),
            other => return Err(bad(format!("play in quarter {other}"))),
        };
        let e = q * QUARTER_SECS - f64::from(self.left()?);
        Ok(if q >= 3.0 { e + HALFTIME_SECS } else { e })
    }
}

/// A drive as an interval of simulated seconds since kickoff.
struct Drive {
    team: String,
    start: f64,
    end: f64,
    red_zone: bool,
}

impl Drive {
    /// The recording says only whether a drive reached the red zone, not
    /// when; its last third is a plausible guess (drives that get there
    /// mostly end there).
    fn red_zone_from(&self) -> f64 {
        self.start + (self.end - self.start) * 2.0 / 3.0
    }
}

/// One game's script: what it looks like at any simulated time.
struct Script {
    raw: RawGame,
    /// Kickoff in simulated seconds since the first kickoff of the week.
    kickoff: f64,
    /// Simulated seconds since kickoff at which the game is final.
    end: f64,
    /// Per scoring play: simulated seconds since kickoff, and its clock.
    plays: Vec<(f64, String)>,
    drives: Vec<Drive>,
}

fn bad(msg: impl Into<String>) -> FeedError {
    FeedError::Recording(msg.into())
}

/// `MM:SS` for a number of seconds, rounded up as a game clock shows it.
fn mmss(secs: f64) -> String {
    let s = secs.ceil().max(0.0) as u32;
    format!("{:02}:{:02}", s / 60, s % 60)
}

impl Script {
    /// Places the game on the timeline, checking that its scoring plays add
    /// up to the official final (else the replay would end on a wrong score).
    fn new(raw: RawGame, first_kickoff: DateTime<Utc>) -> Result<Script, FeedError> {
        let in_game = |e: FeedError| bad(format!("game {}: {e}", raw.eid));
        let mut plays: Vec<(f64, String)> = Vec::with_capacity(raw.events.len());
        let (mut home, mut away) = (0u16, 0u16);
        for ev in &raw.events {
            let at = ev.at.rel().map_err(in_game)?;
            // Ties (touchdown and try on one clock) keep fixture order.
            let rel = plays.last().map_or(at, |p| at.max(p.0 + TIE_EPSILON_SECS));
            match &ev.team {
                t if *t == raw.home.abbr => home += ev.points,
                t if *t == raw.away.abbr => away += ev.points,
                t => return Err(in_game(bad(format!("unknown team {t}")))),
            }
            if (home, away) != (ev.home_score_after, ev.away_score_after) {
                let at = format!("scores do not add up at {} {}", ev.at.quarter, ev.at.clock);
                return Err(in_game(bad(at)));
            }
            plays.push((rel, mmss(f64::from(ev.at.left().map_err(in_game)?))));
        }
        if (home, away) != (raw.home.final_score, raw.away.final_score) {
            return Err(in_game(bad("scoring plays do not reach the final score")));
        }
        let mut drives: Vec<Drive> = Vec::with_capacity(raw.drives.len());
        for d in &raw.drives {
            // One drive chart restarts the clock at "1 15:00" for a drive
            // that began in Q2; clamping keeps drives from overlapping.
            let start = d
                .start
                .rel()
                .map_err(in_game)?
                .max(drives.last().map_or(0.0, |p| p.end));
            let end = d.end.rel().map_err(in_game)?.max(start);
            drives.push(Drive {
                team: d.team.clone(),
                start,
                end,
                red_zone: d.red_zone,
            });
        }
        let regulation = 4.0 * QUARTER_SECS + HALFTIME_SECS;
        let last_play = plays.last().map_or(0.0, |p| p.0) + OT_WRAP_UP_SECS;
        let end = match raw.final_quarter {
            Quarter::Final => regulation.max(last_play),
            Quarter::FinalOvertime => {
                let last_drive = drives.last().map_or(0.0, |d| d.end) + OT_WRAP_UP_SECS;
                last_play
                    .max(last_drive)
                    .clamp(regulation + 1.0, regulation + QUARTER_SECS)
            }
            other => return Err(in_game(bad(format!("final quarter {other}")))),
        };
        let kickoff = (raw.kickoff - first_kickoff).num_milliseconds() as f64 / 1000.0;
        Ok(Script {
            raw,
            kickoff,
            end,
            plays,
            drives,
        })
    }

    /// Moments (simulated seconds since the first kickoff) at which the
    /// scoreboard of this game changes, other than scoring plays.
    fn moments(&self) -> impl Iterator<Item = f64> + '_ {
        let h = HALFTIME_SECS;
        let q = QUARTER_SECS;
        let fixed = [
            0.0,
            q,
            2.0 * q,
            2.0 * q + h,
            3.0 * q + h,
            4.0 * q + h,
            self.end,
        ];
        let drives = self.drives.iter().flat_map(|d| {
            let red_zone = d.red_zone.then(|| d.red_zone_from());
            std::iter::once(d.start).chain(red_zone)
        });
        fixed
            .into_iter()
            .chain(drives)
            .map(|rel| self.kickoff + rel)
    }

    /// The game at `rel` seconds since its kickoff after `applied` scoring
    /// plays; `pinned` shows it exactly at the last of them, so the tracker
    /// stamps that play's own quarter and clock on its ScoreEvent.
    fn game(&self, rel: f64, applied: usize, pinned: bool) -> Game {
        let raw = &self.raw;
        let last = applied
            .checked_sub(1)
            .map(|i| (&raw.events[i], &self.plays[i]));
        let (mut home, mut away) =
            last.map_or((0, 0), |(e, _)| (e.home_score_after, e.away_score_after));
        let rel = match last {
            Some((_, p)) if pinned => p.0,
            _ => rel,
        };
        let e = if rel < HALF_SECS {
            rel
        } else {
            rel - HALFTIME_SECS
        };
        let (mut quarter, mut clock) = if rel < 0.0 {
            (Quarter::Pregame, None)
        } else if rel >= self.end {
            (home, away) = (raw.home.final_score, raw.away.final_score);
            (raw.final_quarter, None)
        } else if (HALF_SECS..HALF_SECS + HALFTIME_SECS).contains(&rel) {
            (Quarter::Halftime, None)
        } else {
            let q = ((e / QUARTER_SECS).floor() + 1.0).min(5.0);
            (Quarter::Period(q as u8), Some(mmss(q * QUARTER_SECS - e)))
        };
        if let (true, Some((ev, p))) = (pinned, last) {
            (quarter, clock) = (ev.at.quarter, Some(p.1.clone()));
        }
        let live = quarter.is_live();
        let drive = self
            .drives
            .iter()
            .rev()
            .find(|d| live && d.start <= rel && rel <= d.end);
        let team = |t: &RawTeam, score| Team::new(t.abbr.clone(), t.nickname.clone(), score);
        Game {
            eid: raw.eid.clone(),
            league: NFL.into(),
            sport: Sport::Football,
            season: raw.season,
            week: Some(raw.week),
            season_type: raw.season_type.clone(),
            date: None,
            kickoff: raw.kickoff,
            kickoff_tbd: false,
            day: raw.day.clone(),
            time: raw.time.clone(),
            state: quarter.state(),
            period: quarter.moment().period,
            period_label: quarter.period_label(),
            quarter,
            clock,
            possession: drive.map(|d| d.team.clone()),
            red_zone: drive.is_some_and(|d| d.red_zone && rel >= d.red_zone_from()),
            situation: None,
            home: team(&raw.home, home),
            away: team(&raw.away, away),
            details: None,
        }
    }
}

/// The map from simulated to real seconds: linear between knots, so busy
/// stretches run at `1/speed` and idle ones take a fixed real time.
struct RealTime {
    knots: Vec<(f64, f64)>,
}

impl RealTime {
    /// `busy`: sorted, disjoint stretches of simulated time with a game on.
    fn new(busy: &[(f64, f64)], speed: f64) -> RealTime {
        let mut knots = vec![(-PREGAME_SECS, 0.0)];
        let mut real = LEAD_IN.as_secs_f64();
        for (i, &(a, b)) in busy.iter().enumerate() {
            if i > 0 {
                real += IDLE_GAP.as_secs_f64();
            }
            knots.push((a, real));
            real += (b - a) / speed;
            knots.push((b, real));
        }
        RealTime { knots }
    }

    fn at(&self, sim: f64) -> f64 {
        let i = self
            .knots
            .partition_point(|k| k.0 <= sim)
            .clamp(1, self.knots.len() - 1);
        let ((s0, r0), (s1, r1)) = (self.knots[i - 1], self.knots[i]);
        r0 + (sim - s0) * (r1 - r0) / (s1 - s0)
    }
}

/// A point on the timeline: simulated seconds since the first kickoff, the
/// game it belongs to (none for a clock tick), and which scoring play it is.
struct Moment {
    sim: f64,
    game: Option<usize>,
    play: Option<usize>,
}

impl Replay {
    /// Builds the timeline with the game clock running `speed` times faster
    /// than real time (> 0, e.g. 60 or 600).
    pub fn new(speed: f64) -> Result<Replay, FeedError> {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(bad(format!("speed must be a positive number, not {speed}")));
        }
        let raw: RawWeek = serde_json::from_slice(RECORDING).map_err(|e| bad(e.to_string()))?;
        let first = raw
            .games
            .iter()
            .map(|g| g.kickoff)
            .min()
            .ok_or_else(|| bad("no games"))?;
        let scripts: Vec<Script> = raw
            .games
            .into_iter()
            .map(|g| Script::new(g, first))
            .collect::<Result<_, _>>()?;
        let week_of = |games| Week {
            league: NFL.into(),
            sport: Sport::Football,
            date: None,
            season: raw.season,
            week: Some(raw.week),
            season_type: raw.season_type.clone(),
            games,
        };

        // Busy stretches: some game between kickoff and final.
        let mut busy: Vec<(f64, f64)> = Vec::new();
        let mut spans: Vec<_> = scripts
            .iter()
            .map(|s| (s.kickoff, s.kickoff + s.end))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (a, b) in spans {
            match busy.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => busy.push((a, b)),
            }
        }
        let real = RealTime::new(&busy, speed);

        let mut moments: Vec<Moment> = Vec::new();
        for (g, s) in scripts.iter().enumerate() {
            let plays = s.plays.iter().enumerate();
            moments.extend(plays.map(|(i, p)| Moment {
                sim: s.kickoff + p.0,
                game: Some(g),
                play: Some(i),
            }));
            moments.extend(s.moments().map(|sim| Moment {
                sim,
                game: Some(g),
                play: None,
            }));
        }
        let tick = (speed * TICK.as_secs_f64()).max(MIN_TICK_SECS);
        for &(a, b) in &busy {
            let ticks = 1..((b - a) / tick).ceil() as usize;
            moments.extend(ticks.map(|k| Moment {
                sim: a + k as f64 * tick,
                game: None,
                play: None,
            }));
        }
        moments.sort_by(|a, b| a.sim.total_cmp(&b.sim));

        let pregame = scripts.iter().map(|s| s.game(-1.0, 0, false)).collect();
        let start = first - chrono::Duration::seconds(PREGAME_SECS as i64);
        let mut snapshots = vec![Snapshot {
            offset: Duration::ZERO,
            at: start,
            week: week_of(pregame),
        }];
        let mut applied = vec![0usize; scripts.len()];
        let mut rest = &moments[..];
        while let Some(head) = rest.first() {
            // One snapshot: the moments within the merge window, stopping
            // before anything more of a game shown at a scoring play (it is
            // pinned there, so a second play or a later change would be lost).
            let window_end = real.at(head.sim) + MERGE_WINDOW.as_secs_f64();
            let mut pinned = vec![false; scripts.len()];
            let mut n = 0;
            for m in rest.iter().take_while(|m| real.at(m.sim) < window_end) {
                if m.game.is_some_and(|g| pinned[g]) {
                    break;
                }
                if let (Some(g), Some(i)) = (m.game, m.play) {
                    (pinned[g], applied[g]) = (true, i + 1);
                }
                n += 1;
            }
            let sim = rest[n - 1].sim;
            rest = &rest[n..];
            let games: Vec<Game> = scripts
                .iter()
                .enumerate()
                .map(|(g, s)| s.game(sim - s.kickoff, applied[g], pinned[g]))
                .collect();
            let prev = snapshots.last().expect("starts with the pregame snapshot");
            if prev.week.games == games {
                continue; // a tick while no game was live
            }
            // Simultaneous moments split by the scoring rule still need
            // distinct, increasing offsets.
            let offset =
                Duration::from_secs_f64(real.at(sim)).max(prev.offset + Duration::from_micros(1));
            let at = first + chrono::Duration::milliseconds((sim * 1000.0).round() as i64);
            snapshots.push(Snapshot {
                offset,
                at,
                week: week_of(games),
            });
        }
        Ok(Replay { snapshots })
    }

    /// A replay of states already placed on a timeline (a recording).
    pub(super) fn from_snapshots(snapshots: Vec<Snapshot>) -> Replay {
        Replay { snapshots }
    }

    /// Every feed state in order; for the embedded week the first is all
    /// pregame and the last all final.
    pub fn snapshots(&self) -> &[Snapshot] {
        &self.snapshots
    }

    /// The league its documents are of (a replay is never empty).
    pub fn league(&self) -> &str {
        self.snapshots
            .first()
            .map_or(crate::model::NFL, |s| s.week.league.as_str())
    }

    /// Total real duration: the offset of the last snapshot.
    pub fn duration(&self) -> Duration {
        self.snapshots.last().map_or(Duration::ZERO, |s| s.offset)
    }

    /// Publishes each snapshot through `publisher` at its offset from now.
    /// Returns `Ok(())` when the week is over or `cancel` fires; a bus error
    /// ends the replay, since later states would be diffed against ones the
    /// bus never took.
    pub async fn run(
        &self,
        publisher: &mut Publisher,
        cancel: &CancellationToken,
    ) -> Result<(), BusError> {
        let start = tokio::time::Instant::now();
        for snap in &self.snapshots {
            tokio::select! {
                biased;
                // Shutdown: stop at once; the rest of the week is not shown.
                () = cancel.cancelled() => return Ok(()),
                // This state's moment has come.
                () = tokio::time::sleep_until(start + snap.offset) => {}
            }
            publisher.push(snap.week.clone(), snap.at).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::bus::{Bus, MemoryBus};
    use crate::feed::Tracker;
    use crate::model::GameState;

    fn recording() -> RawWeek {
        serde_json::from_slice(RECORDING).expect("fixture parses")
    }

    /// Per game: (home, away) after 0, 1, 2 ... scoring plays.
    fn score_paths(raw: &RawWeek) -> HashMap<String, Vec<(u16, u16)>> {
        raw.games
            .iter()
            .map(|g| {
                let mut path = vec![(0, 0)];
                path.extend(
                    g.events
                        .iter()
                        .map(|e| (e.home_score_after, e.away_score_after)),
                );
                (g.eid.clone(), path)
            })
            .collect()
    }

    fn assert_all_final(raw: &RawWeek, games: &[Game]) {
        assert_eq!(games.len(), 16);
        for (g, r) in games.iter().zip(&raw.games) {
            assert_eq!(g.eid, r.eid);
            assert_eq!(g.quarter, r.final_quarter, "{}", g.eid);
            let want = if r.final_quarter == Quarter::FinalOvertime {
                GameState::FinalOvertime
            } else {
                GameState::Final
            };
            assert_eq!(g.state, want);
            assert_eq!(
                (g.home.score, g.away.score),
                (r.home.final_score, r.away.final_score),
                "{}",
                g.eid
            );
            assert_eq!(
                (g.clock.as_deref(), g.possession.as_deref(), g.red_zone),
                (None, None, false)
            );
        }
    }

    #[test]
    fn the_whole_week_replays_every_scoring_play_in_order() {
        let raw = recording();
        let replay = Replay::new(600.0).expect("replay builds");
        let snaps = replay.snapshots();
        println!(
            "speed 600: {} snapshots, {:?}",
            snaps.len(),
            replay.duration()
        );
        assert!(replay.duration() < Duration::from_secs(180));

        let first = &snaps[0];
        assert_eq!(first.offset, Duration::ZERO);
        assert_eq!(
            (
                first.week.season,
                first.week.week,
                first.week.season_type.as_str()
            ),
            (2015, Some(1), "REG")
        );
        for g in &first.week.games {
            assert_eq!(
                (g.quarter, g.clock.as_deref(), g.home.score, g.away.score),
                (Quarter::Pregame, None, 0, 0)
            );
        }

        let paths = score_paths(&raw);
        let mut pos: HashMap<&str, usize> = HashMap::new();
        let mut events: HashMap<String, Vec<_>> = HashMap::new();
        let mut tracker = Tracker::new();
        let mut one_pm_together = false;
        for (i, snap) in snaps.iter().enumerate() {
            if i > 0 {
                assert!(
                    snap.offset > snaps[i - 1].offset,
                    "offsets strictly increase at {i}"
                );
                assert!(snap.at >= snaps[i - 1].at);
            }
            let eids: Vec<_> = snap.week.games.iter().map(|g| g.eid.as_str()).collect();
            assert_eq!(
                eids,
                raw.games.iter().map(|g| g.eid.as_str()).collect::<Vec<_>>()
            );
            for g in &snap.week.games {
                assert!(
                    g.possession.is_none() || g.state == GameState::Live,
                    "{} {:?}",
                    g.eid,
                    g
                );
                assert!(!g.red_zone || g.possession.is_some());
                assert_eq!(g.clock.is_some(), g.state == GameState::Live);
                assert_eq!(g.state, g.quarter.state());
                // The score is one that really happened, never going back.
                let path = &paths[&g.eid];
                let p = pos.entry(&g.eid).or_insert(0);
                let found = path[*p..]
                    .iter()
                    .position(|s| *s == (g.home.score, g.away.score));
                *p += found.unwrap_or_else(|| {
                    panic!("{} never was {}-{}", g.eid, g.home.score, g.away.score)
                });
            }
            let one_pm = snap.week.games.iter().filter(|g| g.time == "1:00");
            one_pm_together |=
                one_pm.clone().count() == 7 && one_pm.clone().all(|g| g.state == GameState::Live);
            for ev in tracker.apply(snap.week.clone(), snap.at).score_events {
                assert_eq!(ev.at, snap.at);
                let seen = (
                    ev.team,
                    ev.points,
                    ev.home_score,
                    ev.away_score,
                    ev.quarter,
                    ev.clock,
                );
                events.entry(ev.eid).or_default().push(seen);
            }
        }
        assert!(one_pm_together, "the seven 1 PM games are live at once");
        assert_all_final(&raw, &snaps.last().expect("snapshots").week.games);
        for g in &raw.games {
            let want: Vec<_> = g
                .events
                .iter()
                .map(|e| {
                    let pts = i32::from(e.points);
                    (
                        e.team.clone(),
                        pts,
                        e.home_score_after,
                        e.away_score_after,
                        e.at.quarter,
                        Some(e.at.clock.clone()),
                    )
                })
                .collect();
            assert_eq!(events.remove(&g.eid).unwrap_or_default(), want, "{}", g.eid);
        }
    }

    #[test]
    fn slower_speed_takes_longer_and_bad_speeds_are_refused() {
        let fast = Replay::new(600.0).expect("replay builds");
        let slow = Replay::new(60.0).expect("replay builds");
        println!(
            "speed 60: {} snapshots, {:?}",
            slow.snapshots().len(),
            slow.duration()
        );
        assert!(slow.duration() > fast.duration() * 5);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(Replay::new(bad), Err(FeedError::Recording(_))),
                "{bad}"
            );
        }
    }

    /// The same timeline a thousand times faster, so the runner's tests
    /// wait ~60 ms in all (tokio's paused clock needs `test-util`, which the
    /// crate does not enable).
    fn squeezed(mut replay: Replay) -> Replay {
        for s in &mut replay.snapshots {
            s.offset /= 1000;
        }
        replay
    }

    #[tokio::test]
    async fn run_publishes_the_week_up_to_the_official_finals() {
        let raw = recording();
        let replay = squeezed(Replay::new(600.0).expect("replay builds"));
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(1, 0));
        let mut rx = bus.subscribe();
        let counter = tokio::spawn(async move {
            let (mut scores, mut total, mut last) = (0usize, 0usize, None);
            // Ends when the bus is dropped after the run; a lag would be a
            // test defect (the whole week fits the channel), so it ends too.
            while let Ok(env) = rx.recv().await {
                total += 1;
                match (env.topic.as_str(), env.event.as_str()) {
                    ("scores/nfl", _) => last = Some(env.data.clone()),
                    (_, "score") => scores += 1,
                    _ => {}
                }
            }
            (scores, total, last)
        });
        let mut publisher = Publisher::new(bus, Tracker::new());
        let never = CancellationToken::new();
        let run = replay.run(&mut publisher, &never);
        tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("no hang")
            .expect("bus takes every event");
        drop(publisher);
        let (scores, total, last) = counter.await.expect("counter ends");
        println!("{total} bus events");
        assert_eq!(
            scores,
            raw.games.iter().map(|g| g.events.len()).sum::<usize>()
        );
        assert!(total > scores);
        let games: Vec<Game> =
            serde_json::from_slice(&last.expect("a scores update")).expect("games json");
        assert_all_final(&raw, &games);
    }

    #[tokio::test]
    async fn cancelling_stops_the_run_early() {
        // Real offsets: after the pregame snapshot the next is 2 s away.
        let replay = Replay::new(600.0).expect("replay builds");
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(1, 0));
        let mut rx = bus.subscribe();
        let mut publisher = Publisher::new(bus.clone(), Tracker::new());
        let cancel = CancellationToken::new();
        let stop = async {
            rx.recv().await.expect("the pregame week is published");
            cancel.cancel();
        };
        let both = async { tokio::join!(replay.run(&mut publisher, &cancel), stop) };
        let (done, ()) = tokio::time::timeout(Duration::from_secs(30), both)
            .await
            .expect("run ends on cancel");
        done.expect("cancel is not an error");
        // Only the pregame snapshot went out: 16 games and one scores update.
        assert_eq!(bus.health().last_id.expect("some events").seq, 17);
    }
}
