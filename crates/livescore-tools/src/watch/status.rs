//! Where a game stands, in the words a fan of its sport reads on a
//! scoreboard: `Q3 5:12`, `2nd 12:01`, `Top 7th  1 out  2-1  1B 3B`,
//! `67'`, `Final/SO (1-2)`. Pure; `board` puts it after the score.
//!
//! Football keeps the wording `watch` has always printed (`Q2 05:11  NE
//! ball  RZ`, `Final OT`): scripts and tests pin it byte for byte. The
//! other sports read `period_label`, `clock` and `situation` (SPEC
//! "Leagues (additions)"). Every finished game's status starts with
//! `Final` (`Final`, `Final/OT`, `Final/10`, `Final/Pens (3-4)`), so
//! `grep Final` finds the finals of any sport. A shoot-out's or penalty
//! shoot-out's goals are not in the score, so they follow the status in
//! parentheses, away first like the line (`LEI 1 @ BOU 1  Final/Pens
//! (3-4)`), and the score fields stay numbers.

use chrono::TimeZone;

use livescore::model::{Game, GameState, Quarter, Sport};

/// What kind of state a line shows; picks its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not started: kickoff time.
    Pregame,
    /// Being played (overtime and shoot-outs too).
    Live,
    /// Halftime, an intermission, suspended or delayed: clock stopped.
    Paused,
    /// Over (or postponed, canceled, abandoned: nothing more today).
    Final,
}

/// The status of `game`, with start times shown in `tz`.
pub(super) fn status<Tz: TimeZone>(game: &Game, tz: &Tz) -> (Kind, String)
where
    Tz::Offset: std::fmt::Display,
{
    let label = game.period_label.as_deref();
    let football = game.sport == Sport::Football;
    match game.state {
        GameState::Pregame => (Kind::Pregame, pregame(game, tz)),
        GameState::Live | GameState::Overtime if football => (Kind::Live, football_live(game)),
        GameState::Live | GameState::Overtime => (Kind::Live, live(game)),
        GameState::Halftime if game.sport == Sport::Soccer => (Kind::Paused, "HT".into()),
        GameState::Halftime => (Kind::Paused, "Halftime".into()),
        GameState::Intermission => (
            Kind::Paused,
            label.map_or("Intermission".into(), |l| format!("End {l}")),
        ),
        GameState::Shootout => (
            Kind::Live,
            with_shootout(game, shootout_name(game.sport).into()),
        ),
        GameState::Suspended if football => (Kind::Paused, "Suspended".into()),
        GameState::Suspended => (Kind::Paused, then("Suspended", label)),
        GameState::Delayed => (Kind::Paused, delayed(game)),
        GameState::Postponed => (Kind::Final, "Postponed".into()),
        GameState::Canceled => (Kind::Final, "Canceled".into()),
        GameState::Abandoned => (Kind::Final, "Abandoned".into()),
        GameState::Final => (Kind::Final, "Final".into()),
        GameState::FinalOvertime => (Kind::Final, final_overtime(game)),
        GameState::FinalShootout => (
            Kind::Final,
            with_shootout(game, format!("Final/{}", shootout_name(game.sport))),
        ),
    }
}

/// `kickoff Sun 13:00` in `tz` (`tip-off`, `puck drop`, `first pitch` in
/// the sports that say so); `TBD` while the feed has no start time.
fn pregame<Tz: TimeZone>(game: &Game, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    if game.kickoff_tbd {
        return "TBD".into();
    }
    let word = match game.sport {
        Sport::Football | Sport::Soccer => "kickoff",
        Sport::Basketball => "tip-off",
        Sport::Hockey => "puck drop",
        Sport::Baseball => "first pitch",
    };
    format!(
        "{word} {}",
        game.kickoff.with_timezone(tz).format("%a %H:%M")
    )
}

/// `Q2 05:11  NE ball  RZ`: quarter (`OT` for overtime), clock, who has
/// the ball, and `RZ` when that team is inside the opponent's 20. The NFL
/// line as it always was.
fn football_live(game: &Game) -> String {
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

/// A game being played, other than football: `Q3 5:12`, `2nd 12:01`,
/// `OT 0:04.2`, `Top 7th  1 out  2-1  1B 3B`, `67'`, `ET 105'+1'`.
fn live(game: &Game) -> String {
    let label = game.period_label.as_deref().unwrap_or("Live");
    match game.sport {
        Sport::Baseball => baseball(game, label),
        Sport::Soccer => match (game.state, &game.clock) {
            (GameState::Overtime, Some(minute)) => format!("ET {minute}"),
            (GameState::Overtime, None) => "ET".into(),
            // The minute says which half it is.
            (_, Some(minute)) => minute.clone(),
            (_, None) => label.into(),
        },
        _ => match &game.clock {
            Some(clock) => format!("{label} {}", short_clock(clock)),
            None => label.into(),
        },
    }
}

/// `Top 7th  1 out  2-1  1B 3B`: the inning, then while a half is being
/// played the outs, the count (balls-strikes) and the occupied bases.
fn baseball(game: &Game, label: &str) -> String {
    let mut s = label.to_string();
    let batting = label.starts_with("Top ") || label.starts_with("Bot ");
    let Some(sit) = game.situation.filter(|s| batting && s.outs < 3) else {
        return s;
    };
    let outs = if sit.outs == 1 { "out" } else { "outs" };
    s.push_str(&format!(
        "  {} {outs}  {}-{}",
        sit.outs, sit.balls, sit.strikes
    ));
    let bases: Vec<&str> = [
        (sit.on_first, "1B"),
        (sit.on_second, "2B"),
        (sit.on_third, "3B"),
    ]
    .into_iter()
    .filter_map(|(on, base)| on.then_some(base))
    .collect();
    if !bases.is_empty() {
        s.push_str("  ");
        s.push_str(&bases.join(" "));
    }
    s
}

/// `5:12` for `05:12`, `0:04.2` for `00:04.2`: a basketball or hockey
/// clock as arenas show it (one leading zero dropped).
fn short_clock(clock: &str) -> &str {
    match clock.strip_prefix('0') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => clock,
    }
}

/// `Delayed`, or where the game will pick up once play had started
/// (`Delayed Q3 08:12`, `Delayed Top 1st`).
fn delayed(game: &Game) -> String {
    if game.sport == Sport::Football {
        return match game.quarter {
            Quarter::Pregame => "Delayed".to_string(),
            _ => {
                let mut g = game.clone();
                (g.possession, g.red_zone) = (None, false);
                format!("Delayed {}", football_live(&g))
            }
        };
    }
    if game.period == 0 {
        return "Delayed".into();
    }
    let mut g = game.clone();
    g.situation = None;
    format!("Delayed {}", live(&g))
}

/// `Final/OT`, `Final/2OT` (basketball, hockey), `Final/10` (the innings
/// a baseball game took), `Final/AET` (soccer after extra time); football
/// keeps `Final OT`.
fn final_overtime(game: &Game) -> String {
    match game.sport {
        Sport::Football => "Final OT".into(),
        Sport::Baseball => format!("Final/{}", game.period),
        Sport::Soccer => "Final/AET".into(),
        Sport::Basketball | Sport::Hockey => match game.period_label.as_deref() {
            Some(label) if label.ends_with("OT") => format!("Final/{label}"),
            _ => "Final/OT".into(),
        },
    }
}

/// What the shoot-out is called: `SO` (hockey), `Pens` (soccer).
fn shootout_name(sport: Sport) -> &'static str {
    match sport {
        Sport::Soccer => "Pens",
        _ => "SO",
    }
}

/// `text (a-h)`: the shoot-out's goals, away first like the line, when
/// the feed gives them.
fn with_shootout(game: &Game, text: String) -> String {
    match (game.away.shootout, game.home.shootout) {
        (Some(a), Some(h)) => format!("{text} ({a}-{h})"),
        _ => text,
    }
}

/// `word label`, or `word` alone without a label.
fn then(word: &str, label: Option<&str>) -> String {
    match label {
        Some(l) => format!("{word} {l}"),
        None => word.into(),
    }
}
