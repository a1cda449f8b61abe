//! The scoreboard as text: one line per game, `away score @ home score`
//! then where the game stands (`status`, in its sport's words), grouped
//! under a header per league when the board has several. Pure, so the
//! exact wording is unit-tested; the caller decides where it goes and
//! whether in colour.
//!
//! The plain line (`PIT 21 @ NE 28  Final`) is what `watch --once` prints
//! for scripts: team and score are whitespace-separated fields in fixed
//! places for every state and sport, so `awk '{print $2}'` is always a
//! score. A board of one league is its game lines and nothing else; with
//! several, each league's lines follow a header line (`NBA 2024-12-15 ·
//! 2 live`, no `@` in it) and a blank line ends each group, so
//! `awk '$3 == "@"'` keeps the games. `--linescore` rows are indented.

use chrono::TimeZone;
use crossterm::style::Stylize;

use super::league;
use super::linescore;
use super::status::status;
pub use super::status::Kind;
use livescore::model::Game;

/// One game's line, in parts so a board can align its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Visiting team and its score as text.
    pub away: [String; 2],
    /// Home team and its score as text.
    pub home: [String; 2],
    /// `Final`, `Final OT`, `Q2 05:11  NE ball  RZ`, `Halftime`,
    /// `kickoff Sun 13:00` (in `tz`), `Top 7th  1 out  2-1  1B 3B`, `67'`…
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
        let (kind, status) = status(game, tz);
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

/// How a board is drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Colours (a terminal that allows them).
    pub color: bool,
    /// Columns padded to the widest team and score (a screen; `--once`
    /// prints each line as it is).
    pub pad: bool,
    /// Each game's line score under it (`--linescore`).
    pub linescore: bool,
}

/// The board's lines: each game's line (and line score when asked); with
/// several leagues, each league's games under its header, a blank line
/// after each group. Columns align across the whole board when padded.
pub fn body<Tz: TimeZone>(games: &[Game], tz: &Tz, style: Style) -> Vec<String>
where
    Tz::Offset: std::fmt::Display,
{
    let lines: Vec<Line> = games.iter().map(|g| Line::new(g, tz)).collect();
    let widths = if style.pad {
        lines.iter().fold([0; 4], |acc, l| {
            let w = l.widths();
            std::array::from_fn(|i| acc[i].max(w[i]))
        })
    } else {
        [0; 4]
    };
    let groups = leagues(games);
    let mut out = Vec::new();
    for league in &groups {
        let of_league: Vec<Game> = games
            .iter()
            .filter(|g| g.league == *league)
            .cloned()
            .collect();
        if groups.len() > 1 {
            out.push(header(&of_league, style.color));
        }
        for (game, line) in games.iter().zip(&lines) {
            if game.league != *league {
                continue;
            }
            out.push(line.styled(widths, style.color));
            if style.linescore {
                out.extend(linescore::rows(game));
            }
        }
        if groups.len() > 1 {
            out.push(String::new());
        }
    }
    out
}

/// The leagues on the board, in the order their first game comes.
fn leagues(games: &[Game]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for g in games {
        if !keys.contains(&g.league) {
            keys.push(g.league.clone());
        }
    }
    keys
}

/// A league's header on a board of several: its title and how many of
/// its games are under way (`NBA 2024-12-15 · 2 live`).
fn header(games: &[Game], color: bool) -> String {
    let live = games.iter().filter(|g| g.state.in_progress()).count();
    let mut text = title(games);
    if live > 0 {
        text.push_str(&format!(" · {live} live"));
    }
    if color {
        text.bold().to_string()
    } else {
        text
    }
}

/// What the board is, above it: `NFL 2015 week 1 (REG)`, `NBA
/// 2024-12-15` (leagues that play by day show the date where football
/// shows the week); for several leagues `3 leagues · 5 live`; empty for
/// an empty board.
pub fn title(games: &[Game]) -> String {
    let Some(first) = games.first() else {
        return String::new();
    };
    let count = leagues(games).len();
    if count > 1 {
        let live = games.iter().filter(|g| g.state.in_progress()).count();
        return format!("{count} leagues · {live} live");
    }
    let name = league::name(&first.league);
    match (first.week, first.date) {
        (Some(week), _) => format!(
            "{name} {} week {week} ({})",
            first.season, first.season_type
        ),
        (None, Some(date)) => format!("{name} {date}"),
        (None, None) => format!("{name} {}", first.season),
    }
}

#[cfg(test)]
mod tests;
