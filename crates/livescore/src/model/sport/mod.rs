//! The five sports livescore can draw, each with its rules in one file:
//! how many periods regulation has, what a fan calls a period, what a
//! clock looks like, and what each moment of a game means as a
//! [`GameState`]. Feeds describe a moment in sport-neutral words
//! ([`Moment`]); the sport reads it ([`Sport::read`]). Nothing else in the
//! crate asks which sport a game is to decide such things.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{GameState, Quarter};

mod baseball;
mod basketball;
mod football;
mod hockey;
mod soccer;

pub use baseball::HalfInning;

/// A sport: what decides periods, labels and clocks of its games.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Sport {
    /// American football (NFL, college): four quarters, a week-long board.
    /// The default, because every game stored before leagues existed is
    /// an NFL game.
    #[default]
    Football,
    /// Basketball: four quarters (NBA, WNBA, women's college) or two
    /// halves (men's college).
    Basketball,
    /// Ice hockey: three periods, overtime, a shoot-out.
    Hockey,
    /// Baseball: nine innings, each a top and a bottom half.
    Baseball,
    /// Association football: two halves, extra time, penalties.
    Soccer,
}

impl Sport {
    /// Every sport, in the order `--help` and errors list them.
    pub const ALL: [Sport; 5] = [
        Sport::Football,
        Sport::Basketball,
        Sport::Hockey,
        Sport::Baseball,
        Sport::Soccer,
    ];

    /// The name in JSON, URLs (`espn:SPORT/LEAGUE`) and ESPN's paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Sport::Football => "football",
            Sport::Basketball => "basketball",
            Sport::Hockey => "hockey",
            Sport::Baseball => "baseball",
            Sport::Soccer => "soccer",
        }
    }

    /// Periods in regulation when the feed does not say: quarters,
    /// periods, innings or halves.
    pub fn regulation_periods(self) -> u8 {
        match self {
            Sport::Football => football::REGULATION,
            Sport::Basketball => basketball::REGULATION,
            Sport::Hockey => hockey::REGULATION,
            Sport::Baseball => baseball::REGULATION,
            Sport::Soccer => soccer::REGULATION,
        }
    }

    /// True when the league's board is a week of games (football) rather
    /// than a day.
    pub fn plays_by_week(self) -> bool {
        self == Sport::Football
    }

    /// What `moment` means in this sport: its state, the label a fan
    /// reads, and what to do with the feed's clock.
    pub fn read(self, moment: &Moment) -> Reading {
        match self {
            Sport::Football => football::read(moment),
            Sport::Basketball => basketball::read(moment),
            Sport::Hockey => hockey::read(moment),
            Sport::Baseball => baseball::read(moment),
            Sport::Soccer => soccer::read(moment),
        }
    }

    /// The feed's clock in this sport's form (`MM:SS` left, `MM:SS.t` in
    /// a basketball game's last minute, soccer's `67'`), or `None` when it
    /// does not fit the sport, so a wrong clock is never shown.
    pub fn clock(self, shown: &str) -> Option<String> {
        match self {
            Sport::Football => football::clock(shown),
            Sport::Basketball => basketball::clock(shown),
            Sport::Hockey => hockey::clock(shown),
            Sport::Baseball => None,
            Sport::Soccer => soccer::clock(shown),
        }
    }
}

impl fmt::Display for Sport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Sport {
    type Err = UnsupportedSport;
    fn from_str(s: &str) -> Result<Self, UnsupportedSport> {
        Sport::ALL
            .into_iter()
            .find(|sport| sport.as_str() == s)
            .ok_or_else(|| UnsupportedSport(s.chars().take(40).collect()))
    }
}

/// A sport livescore cannot draw (golf, tennis, racing, mma, cricket…):
/// no two teams, or no score a board can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported sport {0:?} (supported: football, basketball, hockey, baseball, soccer)")]
pub struct UnsupportedSport(pub String);

/// What a feed says of a game's moment, in words common to every feed and
/// sport; the sport decides what it means ([`Sport::read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    /// The kind of moment.
    pub phase: Phase,
    /// The period under way or last played: 0 before the start; overtime,
    /// extra innings, extra time and shoot-outs count on.
    pub period: u8,
    /// Periods in regulation (the feed's, else the sport's default): what
    /// tells a 9-inning final from one in extra innings.
    pub regulation: u8,
    /// Baseball: which half of the inning, when the feed says.
    pub half: Option<HalfInning>,
}

/// The kinds of moment feeds report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not started.
    Scheduled,
    /// A period is being played.
    Playing,
    /// The middle break.
    Halftime,
    /// A period has ended; the next has not begun.
    EndOfPeriod,
    /// Soccer's extra time, named as such by the feed.
    ExtraTime,
    /// A shoot-out or penalties under way.
    Shootout,
    /// Over with a result; `shootout` when a shoot-out decided it,
    /// `extra_time` when the feed says it went beyond regulation.
    Over {
        /// Decided by a shoot-out or penalties.
        shootout: bool,
        /// Decided in overtime or extra time.
        extra_time: bool,
    },
    /// Stopped, to be resumed later.
    Suspended,
    /// Moved to another date.
    Postponed,
    /// Called off.
    Canceled,
    /// Held up by weather or the like.
    Delayed,
    /// Begun and stopped for good.
    Abandoned,
}

/// What a moment means in a sport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The state a client switches on.
    pub state: GameState,
    /// The period to show: the feed's, but 0 for a game that has not
    /// begun (ESPN says period 1 for a scheduled or postponed MLB game).
    pub period: u8,
    /// What a fan reads (`Q3`, `2nd`, `Top 7th`, `HT`); `None` before the
    /// start.
    pub label: Option<String>,
    /// Whether the feed's clock is shown now.
    pub clock: ClockUse,
}

/// What a reading does with the feed's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockUse {
    /// Shown in the sport's form, when it fits.
    Show,
    /// The period is over: `00:00`, whatever the feed shows (the NFL
    /// shape has always said so at the end of a quarter).
    Zero,
    /// No clock now.
    Hide,
}

/// The states every sport shares for moments off the field, or `None` for
/// the moments each sport reads itself.
fn off_field(phase: Phase) -> Option<GameState> {
    Some(match phase {
        Phase::Scheduled => GameState::Pregame,
        Phase::Suspended => GameState::Suspended,
        Phase::Postponed => GameState::Postponed,
        Phase::Canceled => GameState::Canceled,
        Phase::Delayed => GameState::Delayed,
        Phase::Abandoned => GameState::Abandoned,
        _ => return None,
    })
}

/// A reading with a label only once the game has begun, and the clock
/// only while play can be under way (never before the first period: a
/// pregame clock means nothing).
fn reading(state: GameState, label: Option<String>, moment: &Moment) -> Reading {
    let begun = !matches!(
        state,
        GameState::Pregame | GameState::Postponed | GameState::Canceled
    );
    let label = label.filter(|_| begun);
    let clock = match state {
        _ if moment.period == 0 => ClockUse::Hide,
        GameState::Live | GameState::Overtime | GameState::Delayed => ClockUse::Show,
        _ => ClockUse::Hide,
    };
    Reading {
        state,
        period: if begun { moment.period } else { 0 },
        label,
        clock,
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `21st`…
pub fn ordinal(n: u8) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `M:SS` or `MM:SS` left, at most `max_minutes:00`, normalised to
/// `MM:SS`; what football, basketball and hockey clocks look like.
fn minutes_seconds(shown: &str, max_minutes: u8) -> Option<String> {
    let (m, s) = shown.split_once(':')?;
    if !(1..=2).contains(&m.len()) || s.len() != 2 || !digits(m) || !digits(s) {
        return None;
    }
    let (m, s): (u8, u8) = (m.parse().ok()?, s.parse().ok()?);
    (s < 60 && (m < max_minutes || (m == max_minutes && s == 0))).then(|| format!("{m:02}:{s:02}"))
}

/// Non-empty and ASCII digits only.
fn digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// `OT`, `2OT`, `3OT`: the `n`-th overtime (from 1).
fn overtime(n: u8) -> String {
    if n <= 1 {
        "OT".into()
    } else {
        format!("{n}OT")
    }
}

/// The scorestrip's quarter for any game: the NFL's own value for football
/// and, for the other sports, the same vocabulary read coarsely so that a
/// client written for the NFL still tells before, during and after (`P`,
/// the period capped at `4` within regulation, `5` beyond it, `H`, `F`,
/// `FO`, `S`). Clients of other sports read `period` and `period_label`.
pub fn quarter(state: GameState, period: u8, regulation: u8) -> Quarter {
    match state {
        GameState::Pregame | GameState::Postponed | GameState::Canceled => Quarter::Pregame,
        GameState::Halftime => Quarter::Halftime,
        GameState::Final => Quarter::Final,
        GameState::FinalOvertime | GameState::FinalShootout => Quarter::FinalOvertime,
        GameState::Suspended | GameState::Abandoned => Quarter::Suspended,
        _ if period == 0 => Quarter::Pregame,
        _ if period > regulation => Quarter::Period(5),
        _ => Quarter::Period(period.min(4)),
    }
}

#[cfg(test)]
mod tests;
