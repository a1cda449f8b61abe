//! When to poll the feed next: a pure function of the games as last seen,
//! the time, and the configured interval.
//!
//! A scoreboard feed only changes while games are played, so polling it every
//! 15 seconds on a Tuesday is wasted load on somebody else's server. The
//! rule: poll at the interval while a game is on or about to start; between
//! game slots sleep until shortly before the next kickoff, but never longer
//! than [`MAX_IDLE_SLEEP`] in one go so a rescheduled game or a new week is
//! noticed; once every game is final poll slowly ([`FINAL_POLL`]), since
//! only late corrections can still come. No I/O here, so it is tested
//! exhaustively without waiting.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Game, GameState};

/// How long before a kickoff polling switches to the full rate, so the
/// first quarter's first score is never missed by a late wake-up.
pub const KICKOFF_LEAD: Duration = Duration::from_secs(10 * 60);

/// Longest single sleep while waiting for a kickoff: a schedule change
/// (flexed game, postponement, next week published) is seen within this.
pub const MAX_IDLE_SLEEP: Duration = Duration::from_secs(10 * 60);

/// Poll period once every game of the week is final: late stat corrections
/// still arrive, but nothing a client waits for in real time.
pub const FINAL_POLL: Duration = Duration::from_secs(10 * 60);

/// The delay before the next poll.
///
/// `games` is the week as last accepted (empty before the first good
/// document, in which case we keep trying at `interval`). A pregame game
/// whose kickoff is already past counts as about to start: kickoffs slip,
/// and the feed flips to the first quarter a little late.
pub fn next_poll(games: &[Game], now: DateTime<Utc>, interval: Duration) -> Duration {
    if games.is_empty() {
        return interval;
    }
    let lead = chrono::Duration::from_std(KICKOFF_LEAD).unwrap_or(chrono::Duration::zero());
    let mut next_kickoff: Option<DateTime<Utc>> = None;
    let mut all_final = true;
    for game in games {
        match game.state {
            // Under way, in a break, or in a delay that ends when the
            // weather says so: keep watching.
            state if state.in_progress() => return interval,
            GameState::Pregame if game.kickoff <= now + lead => return interval,
            GameState::Pregame => {
                all_final = false;
                next_kickoff = Some(next_kickoff.map_or(game.kickoff, |k| k.min(game.kickoff)));
            }
            // A suspended game resumes on a date the feed does not give:
            // keep looking at the idle rate.
            // So does a postponed one, when it is not simply dropped from
            // the week.
            GameState::Suspended | GameState::Postponed => all_final = false,
            // A canceled or abandoned game is as settled as a final one.
            _ => {}
        }
    }
    if all_final {
        return FINAL_POLL.max(interval);
    }
    let longest = MAX_IDLE_SLEEP.max(interval);
    match next_kickoff {
        Some(kickoff) => (kickoff - lead - now)
            .to_std()
            .unwrap_or(interval)
            .clamp(interval, longest),
        None => longest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Quarter, Sport, Team};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("date")
            .with_timezone(&Utc)
    }

    fn game(kickoff: &str, q: Quarter) -> Game {
        let team = |abbr: &str| Team::new(abbr, abbr.to_lowercase(), 0);
        Game {
            eid: "2015091300".into(),
            league: "nfl".into(),
            sport: Sport::Football,
            season: 2015,
            week: Some(1),
            season_type: "REG".into(),
            date: None,
            kickoff: at(kickoff),
            kickoff_tbd: false,
            day: "Sun".into(),
            time: "1:00".into(),
            state: q.state(),
            period: q.moment().period,
            period_label: q.period_label(),
            quarter: q,
            clock: None,
            possession: None,
            red_zone: false,
            situation: None,
            home: team("CHI"),
            away: team("GB"),
            details: None,
        }
    }

    const I: Duration = Duration::from_secs(15);
    const KO: &str = "2015-09-13T17:00:00Z";

    #[test]
    fn nothing_known_yet_polls_at_the_interval() {
        assert_eq!(next_poll(&[], at(KO), I), I);
    }

    #[test]
    fn live_or_halftime_anywhere_polls_at_the_interval() {
        let finals = game("2015-09-11T00:30:00Z", Quarter::Final);
        for q in [Quarter::Period(1), Quarter::Period(5), Quarter::Halftime] {
            let games = [finals.clone(), game(KO, q)];
            assert_eq!(next_poll(&games, at("2015-09-13T18:00:00Z"), I), I, "{q}");
        }
    }

    #[test]
    fn a_kickoff_within_ten_minutes_or_overdue_polls_at_the_interval() {
        let games = [game(KO, Quarter::Pregame)];
        assert_eq!(next_poll(&games, at("2015-09-13T16:50:00Z"), I), I);
        assert_eq!(next_poll(&games, at("2015-09-13T16:55:00Z"), I), I);
        assert_eq!(next_poll(&games, at("2015-09-13T17:20:00Z"), I), I, "late");
    }

    #[test]
    fn before_a_kickoff_it_sleeps_until_the_lead_but_at_most_ten_minutes() {
        let games = [
            game(KO, Quarter::Pregame),
            game("2015-09-13T20:05:00Z", Quarter::Pregame),
        ];
        // 13 minutes before kickoff: wake 3 minutes later, 10 before it.
        assert_eq!(
            next_poll(&games, at("2015-09-13T16:47:00Z"), I),
            Duration::from_secs(180)
        );
        // Days before: bounded so a schedule change is seen.
        assert_eq!(
            next_poll(&games, at("2015-09-10T12:00:00Z"), I),
            MAX_IDLE_SLEEP
        );
        // Never faster than the interval, even a second before the lead.
        assert_eq!(next_poll(&games, at("2015-09-13T16:49:59Z"), I), I);
    }

    #[test]
    fn all_final_polls_slowly_and_suspended_games_keep_the_idle_rate() {
        let finals = [
            game("2015-09-11T00:30:00Z", Quarter::Final),
            game(KO, Quarter::FinalOvertime),
        ];
        let now = at("2015-09-14T12:00:00Z");
        assert_eq!(next_poll(&finals, now, I), FINAL_POLL);
        let long = Duration::from_secs(3600);
        assert_eq!(
            next_poll(&finals, now, long),
            long,
            "never faster than asked"
        );
        let suspended = [finals[0].clone(), game(KO, Quarter::Suspended)];
        assert_eq!(next_poll(&suspended, now, I), MAX_IDLE_SLEEP);
    }
}
