//! American football (NFL, college): four quarters (`Q1`–`Q4`), then
//! overtimes (`OT`, `2OT`…); a clock of at most 15:00 left.
//!
//! The NFL shape predates the other sports, and its clients rely on it:
//! overtime stays `live` (the scorestrip's quarter `5`), and the end of a
//! quarter is `live` at `00:00`.

use super::{minutes_seconds, off_field, overtime, reading, ClockUse, Moment, Phase, Reading};
use crate::model::GameState;

/// Quarters in regulation.
pub(super) const REGULATION: u8 = 4;

/// Longest quarter, in minutes.
const QUARTER_MINUTES: u8 = 15;

/// See [`super::Sport::read`].
pub(super) fn read(m: &Moment) -> Reading {
    let label = label(m.period, m.regulation);
    if let Some(state) = off_field(m.phase) {
        return reading(state, label, m);
    }
    match m.phase {
        Phase::Halftime => reading(GameState::Halftime, Some("Half".into()), m),
        Phase::EndOfPeriod => Reading {
            clock: ClockUse::Zero,
            ..reading(GameState::Live, label, m)
        },
        Phase::Over { extra_time, .. } if extra_time || m.period > m.regulation => {
            reading(GameState::FinalOvertime, label, m)
        }
        Phase::Over { .. } => reading(GameState::Final, label, m),
        _ => reading(GameState::Live, label, m),
    }
}

/// `Q1`…`Q4`, then `OT`, `2OT`…; `None` before the kickoff.
fn label(period: u8, regulation: u8) -> Option<String> {
    match period {
        0 => None,
        p if p <= regulation => Some(format!("Q{p}")),
        p => Some(overtime(p - regulation)),
    }
}

/// See [`super::Sport::clock`].
pub(super) fn clock(shown: &str) -> Option<String> {
    minutes_seconds(shown, QUARTER_MINUTES)
}
