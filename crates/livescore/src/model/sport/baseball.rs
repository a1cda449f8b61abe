//! Baseball: nine innings, each a top and a bottom half (`Top 7th`,
//! `Bot 9th`, and between them `Mid 7th`, `End 7th`); innings beyond
//! regulation are extra innings. There is no game clock.

use super::{off_field, ordinal, reading, ClockUse, Moment, Phase, Reading};
use crate::model::GameState;

/// Innings in regulation.
pub(super) const REGULATION: u8 = 9;

/// Where an inning stands: the feed spells it before the inning
/// (`Top 7th`, `Rain Delay, Bot 3rd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfInning {
    /// The visitors bat.
    Top,
    /// Between the halves.
    Middle,
    /// The home side bats.
    Bottom,
    /// The inning is over.
    End,
}

impl HalfInning {
    /// The half an inning is in, from the feed's words (`Top`, `Mid`,
    /// `Middle`, `Bot`, `Bottom`, `End`), found anywhere in the text so
    /// that `Rain Delay, Top 1st` reads too.
    pub fn find(detail: &str) -> Option<HalfInning> {
        detail
            .split(|c: char| !c.is_ascii_alphabetic())
            .find_map(|word| match word {
                "Top" => Some(HalfInning::Top),
                "Mid" | "Middle" => Some(HalfInning::Middle),
                "Bot" | "Bottom" => Some(HalfInning::Bottom),
                "End" => Some(HalfInning::End),
                _ => None,
            })
    }

    /// How a scoreboard abbreviates it.
    fn as_str(self) -> &'static str {
        match self {
            HalfInning::Top => "Top",
            HalfInning::Middle => "Mid",
            HalfInning::Bottom => "Bot",
            HalfInning::End => "End",
        }
    }
}

/// See [`super::Sport::read`].
pub(super) fn read(m: &Moment) -> Reading {
    let beyond = m.period > m.regulation;
    let mut r = if let Some(state) = off_field(m.phase) {
        reading(state, label(m.period, m.half), m)
    } else {
        match m.phase {
            // Over: the half is stale; the inning it ended in is the fact.
            Phase::Over { extra_time, .. } if extra_time || beyond => {
                reading(GameState::FinalOvertime, label(m.period, None), m)
            }
            Phase::Over { .. } => reading(GameState::Final, label(m.period, None), m),
            _ if beyond => reading(GameState::Overtime, label(m.period, m.half), m),
            _ => reading(GameState::Live, label(m.period, m.half), m),
        }
    };
    r.clock = ClockUse::Hide;
    r
}

/// `Top 7th`, `Mid 7th`, `Bot 9th`, `End 9th`, or `7th` when the half is
/// unknown; `None` before the first pitch.
fn label(inning: u8, half: Option<HalfInning>) -> Option<String> {
    match (inning, half) {
        (0, _) => None,
        (n, Some(half)) => Some(format!("{} {}", half.as_str(), ordinal(n))),
        (n, None) => Some(ordinal(n)),
    }
}
