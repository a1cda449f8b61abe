//! The scoreboard as text: one line per game, `away score @ home score`
//! then what state the game is in. Pure, so the exact wording is
//! unit-tested; the caller decides where it goes and whether in colour.
//!
//! The plain line (`PIT 21 @ NE 28  Final`) is what `watch --once` prints
//! for scripts: team and score are whitespace-separated fields in fixed
//! places for every state, so `awk '{print $2}'` is always a score.

use chrono::TimeZone;
use crossterm::style::Stylize;

use livescore::model::{Game, GameState, Quarter};

/// What kind of state a line shows; picks its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not started: kickoff time.
    Pregame,
    /// Being played.
    Live,
    /// Halftime, suspended or delayed: clock stopped.
    Paused,
    /// Over (or postponed, canceled: nothing more today).
    Final,
}

/// One game's line, in parts so a board can align its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Visiting team and its score as text.
    pub away: [String; 2],
    /// Home team and its score as text.
    pub home: [String; 2],
    /// `Final`, `Final OT`, `Q2 05:11  NE ball  RZ`, `Halftime`,
    /// `kickoff Sun 13:00` (in `tz`).
    pub status: String,
    /// For colour.
    pub kind: Kind,
}

impl Line {
    /// The line for `game`, with kickoff times shown in `tz` (the user's
    /// local zone; a parameter so tests can pin it).
    pub fn new<Tz: TimeZone>(game: &Game, tz: &Tz) -> Line
    where
        Tz::Offset: std::fmt::Display,
    {
        let (kind, status) = match game.state {
            GameState::Pregame => (
                Kind::Pregame,
                format!(
                    "kickoff {}",
                    game.kickoff.with_timezone(tz).format("%a %H:%M")
                ),
            ),
            GameState::Live => (Kind::Live, live_status(game)),
            GameState::Halftime => (Kind::Paused, "Halftime".to_string()),
            GameState::Suspended => (Kind::Paused, "Suspended".to_string()),
            GameState::Delayed => (Kind::Paused, delayed_status(game)),
            GameState::Postponed => (Kind::Final, "Postponed".to_string()),
            GameState::Canceled => (Kind::Final, "Canceled".to_string()),
            GameState::Final => (Kind::Final, "Final".to_string()),
            GameState::FinalOvertime => (Kind::Final, "Final OT".to_string()),
            // The states of the sports beyond football, drawn plainly
            // until `watch` learns each sport's labels.
            GameState::Overtime => (Kind::Live, live_status(game)),
            GameState::Shootout => (Kind::Live, "Shootout".to_string()),
            GameState::Intermission => (Kind::Paused, "Intermission".to_string()),
            GameState::FinalShootout => (Kind::Final, "Final SO".to_string()),
            GameState::Abandoned => (Kind::Final, "Abandoned".to_string()),
        };
        Line {
            away: [game.away.abbr.clone(), game.away.score.to_string()],
            home: [game.home.abbr.clone(), game.home.score.to_string()],
            status,
            kind,
        }
    }

    /// `PIT 21 @ NE 28  Final`, no padding, no colour: the `--once` line.
    pub fn plain(&self) -> String {
        format!("{}  {}", self.matchup([0; 4]), self.status)
    }

    /// `away score @ home score`, each column padded to its `widths`
    /// (names left, scores right-aligned).
    fn matchup(&self, widths: [usize; 4]) -> String {
        let [aw, asw, hw, hsw] = widths;
        let ([a, as_], [h, hs]) = (&self.away, &self.home);
        format!("{a:<aw$} {as_:>asw$} @ {h:<hw$} {hs:>hsw$}")
    }

    fn widths(&self) -> [usize; 4] {
        [
            self.away[0].len(),
            self.away[1].len(),
            self.home[0].len(),
            self.home[1].len(),
        ]
    }

    /// The line with its columns padded to `widths`, the status coloured
    /// by state when `color`.
    pub fn styled(&self, widths: [usize; 4], color: bool) -> String {
        let matchup = self.matchup(widths);
        if !color {
            return format!("{matchup}  {}", self.status);
        }
        let status = match self.kind {
            Kind::Live => {
                // The red-zone marker in red so it catches the eye.
                match self.status.strip_suffix("  RZ") {
                    Some(rest) => format!("{}  {}", rest.green().bold(), "RZ".red().bold()),
                    None => self.status.clone().green().bold().to_string(),
                }
            }
            Kind::Paused => self.status.clone().yellow().to_string(),
            Kind::Final => self.status.clone().bold().to_string(),
            Kind::Pregame => self.status.clone().cyan().to_string(),
        };
        format!("{matchup}  {status}")
    }
}

/// `Q2 05:11  NE ball  RZ`: quarter (`OT` for overtime), clock, who has
/// the ball, and `RZ` when that team is inside the opponent's 20.
fn live_status(game: &Game) -> String {
    let mut s = match game.quarter {
        Quarter::Period(5) => "OT".to_string(),
        Quarter::Period(q) => format!("Q{q}"),
        other => other.as_str().to_string(),
    };
    if let Some(clock) = &game.clock {
        s.push(' ');
        s.push_str(clock);
    }
    if let Some(team) = &game.possession {
        s.push_str(&format!("  {team} ball"));
        if game.red_zone {
            s.push_str("  RZ");
        }
    }
    s
}

/// `Delayed`, or `Delayed Q3 08:12` when play had started: where the game
/// will pick up.
fn delayed_status(game: &Game) -> String {
    match game.quarter {
        Quarter::Pregame => "Delayed".to_string(),
        _ => {
            let mut g = game.clone();
            (g.possession, g.red_zone) = (None, false);
            format!("Delayed {}", live_status(&g))
        }
    }
}

/// Every game's line, the status column aligned; the board `watch` draws.
pub fn lines<Tz: TimeZone>(games: &[Game], tz: &Tz, color: bool) -> Vec<String>
where
    Tz::Offset: std::fmt::Display,
{
    let lines: Vec<Line> = games.iter().map(|g| Line::new(g, tz)).collect();
    let widths = lines.iter().fold([0; 4], |acc, l| {
        let w = l.widths();
        std::array::from_fn(|i| acc[i].max(w[i]))
    });
    lines.iter().map(|l| l.styled(widths, color)).collect()
}

/// `2015 week 1 (REG)`, from the first game; empty for an empty board.
pub fn title(games: &[Game]) -> String {
    games
        .first()
        .map(|g| match (g.week, g.date) {
            (Some(week), _) => format!("NFL {} week {} ({})", g.season, week, g.season_type),
            (None, Some(date)) => format!("{} {date}", g.league),
            (None, None) => format!("{} {}", g.league, g.season),
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    fn game(state: &str, quarter: &str, clock: Option<&str>, ball: Option<&str>) -> Game {
        serde_json::from_value(serde_json::json!({
            "eid": "2015091000", "season": 2015, "week": 1, "season_type": "REG",
            "kickoff": "2015-09-11T00:30:00Z", "day": "Thu", "time": "8:30",
            "state": state, "quarter": quarter, "clock": clock,
            "possession": ball, "red_zone": false,
            "home": {"abbr": "NE", "nickname": "patriots", "score": 28},
            "away": {"abbr": "PIT", "nickname": "steelers", "score": 21}
        }))
        .expect("a SPEC game")
    }

    #[test]
    fn plain_lines_for_every_state() {
        let line = |g: &Game| Line::new(g, &Utc).plain();
        assert_eq!(
            line(&game("final", "F", None, None)),
            "PIT 21 @ NE 28  Final"
        );
        assert_eq!(
            line(&game("final_overtime", "FO", None, None)),
            "PIT 21 @ NE 28  Final OT"
        );
        assert_eq!(
            line(&game("live", "2", Some("05:11"), Some("NE"))),
            "PIT 21 @ NE 28  Q2 05:11  NE ball"
        );
        let mut rz = game("live", "5", Some("09:59"), Some("PIT"));
        rz.red_zone = true;
        assert_eq!(line(&rz), "PIT 21 @ NE 28  OT 09:59  PIT ball  RZ");
        assert_eq!(
            line(&game("halftime", "H", None, None)),
            "PIT 21 @ NE 28  Halftime"
        );
        assert_eq!(
            line(&game("pregame", "P", None, None)),
            "PIT 21 @ NE 28  kickoff Fri 00:30"
        );
        assert_eq!(
            line(&game("postponed", "P", None, None)),
            "PIT 21 @ NE 28  Postponed"
        );
        assert_eq!(
            line(&game("canceled", "P", None, None)),
            "PIT 21 @ NE 28  Canceled"
        );
        assert_eq!(
            line(&game("delayed", "P", None, None)),
            "PIT 21 @ NE 28  Delayed"
        );
        assert_eq!(
            line(&game("delayed", "3", Some("08:12"), None)),
            "PIT 21 @ NE 28  Delayed Q3 08:12"
        );
    }

    #[test]
    fn kickoff_is_shown_in_the_given_zone() {
        let eastern = FixedOffset::west_opt(4 * 3600).expect("offset");
        let line = Line::new(&game("pregame", "P", None, None), &eastern);
        assert_eq!(line.status, "kickoff Thu 20:30");
        assert_eq!(line.kind, Kind::Pregame);
    }

    #[test]
    fn board_aligns_statuses_and_colours_only_when_asked() {
        let mut other = game("final", "F", None, None);
        other.away.abbr = "GB".into();
        other.away.score = 7;
        let games = [game("final", "F", None, None), other];
        assert_eq!(
            lines(&games, &Utc, false),
            ["PIT 21 @ NE 28  Final", "GB   7 @ NE 28  Final"]
        );
        let coloured = lines(&games, &Utc, true);
        assert!(coloured[0].contains('\u{1b}'), "{coloured:?}");
        assert!(lines(&games, &Utc, false)
            .iter()
            .all(|l| !l.contains('\u{1b}')));
        assert_eq!(title(&games), "NFL 2015 week 1 (REG)");
        assert_eq!(title(&[]), "");
    }
}
