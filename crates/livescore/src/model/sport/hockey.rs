//! Ice hockey: three periods (`1st`–`3rd`), overtime (`OT`; `2OT`… in the
//! playoffs), and in the regular season a shoot-out (`SO`) whose goals are
//! counted apart from the score (`home.shootout`). A period is at most 20
//! minutes; the break between two is an intermission.

use super::{minutes_seconds, off_field, ordinal, overtime, reading, Moment, Phase, Reading};
use crate::model::GameState;

/// Periods in regulation.
pub(super) const REGULATION: u8 = 3;

/// Longest period, in minutes.
const PERIOD_MINUTES: u8 = 20;

/// See [`super::Sport::read`].
pub(super) fn read(m: &Moment) -> Reading {
    let shootout = matches!(
        m.phase,
        Phase::Shootout | Phase::Over { shootout: true, .. }
    );
    let label = if shootout && m.period > 0 {
        Some("SO".into())
    } else {
        label(m.period, m.regulation)
    };
    if let Some(state) = off_field(m.phase) {
        return reading(state, label, m);
    }
    let beyond = m.period > m.regulation;
    match m.phase {
        Phase::Shootout => reading(GameState::Shootout, label, m),
        Phase::Over { shootout: true, .. } => reading(GameState::FinalShootout, label, m),
        Phase::Over { extra_time, .. } if extra_time || beyond => {
            reading(GameState::FinalOvertime, label, m)
        }
        Phase::Over { .. } => reading(GameState::Final, label, m),
        // Hockey has no halftime: any break between periods is one of its
        // intermissions.
        Phase::Halftime | Phase::EndOfPeriod => reading(GameState::Intermission, label, m),
        Phase::ExtraTime => reading(GameState::Overtime, label, m),
        _ if beyond => reading(GameState::Overtime, label, m),
        _ => reading(GameState::Live, label, m),
    }
}

/// `1st`, `2nd`, `3rd`, then `OT`, `2OT`…; `None` before the puck drop.
fn label(period: u8, regulation: u8) -> Option<String> {
    match period {
        0 => None,
        p if p <= regulation => Some(ordinal(p)),
        p => Some(overtime(p - regulation)),
    }
}

/// See [`super::Sport::clock`].
pub(super) fn clock(shown: &str) -> Option<String> {
    minutes_seconds(shown, PERIOD_MINUTES)
}
