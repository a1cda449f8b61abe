//! Soccer: two halves (`1st half`, `2nd half`, `HT` between them), extra
//! time (`ET`, periods 3 and 4) and penalties (`Pens`, period 5, counted
//! apart from the score in `home.shootout`). The clock is the match minute
//! as the feed shows it (`67'`, `45'+2'`), not time left.

use super::{digits, off_field, reading, Moment, Phase, Reading};
use crate::model::GameState;

/// Halves in regulation.
pub(super) const REGULATION: u8 = 2;

/// Periods of extra time after regulation.
const EXTRA_PERIODS: u8 = 2;

/// See [`super::Sport::read`].
pub(super) fn read(m: &Moment) -> Reading {
    let label = label(m.period, m.regulation);
    if let Some(state) = off_field(m.phase) {
        return reading(state, label, m);
    }
    let extra = m.period > m.regulation;
    let pens = m.period > m.regulation + EXTRA_PERIODS;
    let named = |s: &str| Some(s.to_string());
    match m.phase {
        Phase::Halftime => reading(GameState::Halftime, named("HT"), m),
        Phase::EndOfPeriod if m.period < m.regulation => {
            reading(GameState::Halftime, named("HT"), m)
        }
        Phase::EndOfPeriod => reading(GameState::Intermission, label, m),
        Phase::Shootout => reading(GameState::Shootout, named("Pens"), m),
        Phase::ExtraTime if pens => reading(GameState::Shootout, named("Pens"), m),
        Phase::ExtraTime => reading(GameState::Overtime, named("ET"), m),
        Phase::Over { shootout: true, .. } => reading(GameState::FinalShootout, named("Pens"), m),
        Phase::Over {
            extra_time: true, ..
        } => reading(GameState::FinalOvertime, named("ET"), m),
        Phase::Over { .. } if pens => reading(GameState::FinalShootout, named("Pens"), m),
        Phase::Over { .. } if extra => reading(GameState::FinalOvertime, label, m),
        Phase::Over { .. } => reading(GameState::Final, label, m),
        _ if pens => reading(GameState::Shootout, label, m),
        _ if extra => reading(GameState::Overtime, label, m),
        _ => reading(GameState::Live, label, m),
    }
}

/// `1st half`, `2nd half`, `ET`, `Pens`; `None` before the kick-off.
fn label(period: u8, regulation: u8) -> Option<String> {
    Some(match period {
        0 => return None,
        1 if regulation >= 2 => "1st half".into(),
        p if p <= regulation => "2nd half".into(),
        p if p <= regulation + EXTRA_PERIODS => "ET".into(),
        _ => "Pens".into(),
    })
}

/// The match minute as shown: `67'`, `45'+2'` (also `45+2'`), kept
/// verbatim since that is how fans read it.
pub(super) fn clock(shown: &str) -> Option<String> {
    let minute = |v: &str| (1..=3).contains(&v.len()) && digits(v);
    let fits = match shown.split_once('+') {
        None => shown.strip_suffix('\'').is_some_and(minute),
        Some((main, added)) => {
            minute(main.strip_suffix('\'').unwrap_or(main))
                && added.strip_suffix('\'').is_some_and(minute)
        }
    };
    fits.then(|| shown.to_string())
}
