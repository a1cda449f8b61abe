//! A game's line score (`--linescore`, `l` on the full screen): each
//! side's points per quarter or period, runs per inning, then the total,
//! as three indented rows under the game's line:
//!
//! ```text
//!        1  2  3  4 OT   T
//!   NO  28 30 26 23  8 115
//!   IND 30 28 25 24 13 120
//! ```
//!
//! Rows start with spaces, so a script keeps only the game lines with
//! `awk '$3 == "@"'`. Nothing for a game whose feed gives no line score
//! (the scorestrip, most soccer boards) or before it starts. Pure.

use livescore::model::{Game, Sport};

/// How far the rows are indented under the game's line.
const INDENT: &str = "  ";

/// The header and the away and home rows, or nothing when the feed gave
/// no line score.
pub(super) fn rows(game: &Game) -> Vec<String> {
    let (Some(away), Some(home)) = (&game.away.linescore, &game.home.linescore) else {
        return Vec::new();
    };
    let periods = away.len().max(home.len());
    if periods == 0 {
        return Vec::new();
    }
    let regulation = regulation(game);
    // A half-inning not played: `x` once the game is over (the home side
    // that did not need its 9th), blank while it may still come.
    let missing = if game.state.is_over() { "x" } else { "" };
    let cell = |side: &[u16], i: usize| side.get(i).map_or(missing.into(), u16::to_string);
    let mut columns: Vec<[String; 3]> = (0..periods)
        .map(|i| {
            let n = u8::try_from(i + 1).unwrap_or(u8::MAX);
            [
                period_name(game.sport, n, regulation),
                cell(away, i),
                cell(home, i),
            ]
        })
        .collect();
    if let (Some(a), Some(h)) = (game.away.shootout, game.home.shootout) {
        let name = if game.sport == Sport::Soccer {
            "P"
        } else {
            "SO"
        };
        columns.push([name.into(), a.to_string(), h.to_string()]);
    }
    let total = if game.sport == Sport::Baseball {
        "R"
    } else {
        "T"
    };
    columns.push([
        total.into(),
        game.away.score.to_string(),
        game.home.score.to_string(),
    ]);
    let names = [
        String::new(),
        game.away.abbr.clone(),
        game.home.abbr.clone(),
    ];
    let name_width = names.iter().map(String::len).max().unwrap_or(0);
    (0..3)
        .map(|row| {
            let mut line = format!("{INDENT}{:<name_width$}", names[row]);
            for column in &columns {
                let width = column.iter().map(String::len).max().unwrap_or(0);
                line.push_str(&format!(" {:>width$}", column[row]));
            }
            line
        })
        .collect()
}

/// What a column is called: the period's number within regulation (and
/// every inning), then `OT`, `2OT`… where the sport has overtimes.
fn period_name(sport: Sport, n: u8, regulation: u8) -> String {
    match sport {
        Sport::Basketball | Sport::Hockey | Sport::Football if n > regulation => {
            match n - regulation {
                1 => "OT".into(),
                k => format!("{k}OT"),
            }
        }
        Sport::Soccer if n > regulation => "ET".into(),
        _ => n.to_string(),
    }
}

/// Periods in this game's regulation: told by its label where the sport
/// varies by league (men's college basketball plays halves: `2nd half`,
/// or `OT` in period 3), else the sport's.
fn regulation(game: &Game) -> u8 {
    let default = game.sport.regulation_periods();
    let Some(label) = game.period_label.as_deref() else {
        return default;
    };
    if label.ends_with(" half") {
        return 2;
    }
    let overtime = match label.strip_suffix("OT") {
        Some("") => Some(1),
        Some(n) => n.parse::<u8>().ok(),
        None => None,
    };
    match overtime {
        Some(k) if game.sport != Sport::Football && game.period > k => game.period - k,
        _ => default,
    }
}
