//! Basketball: four quarters (NBA, WNBA, women's college) or two halves
//! (men's college, where the feed's regulation says 2), then overtimes.
//! The clock shows tenths in a period's last minute (ESPN `45.3`).

use super::{digits, minutes_seconds, off_field, overtime, reading, Moment, Phase, Reading};
use crate::model::GameState;

/// Quarters in regulation (the NBA's; college halves come from the feed).
pub(super) const REGULATION: u8 = 4;

/// Longest period, in minutes: a college half.
const PERIOD_MINUTES: u8 = 20;

/// See [`super::Sport::read`].
pub(super) fn read(m: &Moment) -> Reading {
    let label = label(m.period, m.regulation);
    if let Some(state) = off_field(m.phase) {
        return reading(state, label, m);
    }
    let beyond = m.period > m.regulation;
    match m.phase {
        Phase::Halftime => reading(GameState::Halftime, Some("Half".into()), m),
        Phase::EndOfPeriod => reading(GameState::Intermission, label, m),
        Phase::Over { extra_time, .. } if extra_time || beyond => {
            reading(GameState::FinalOvertime, label, m)
        }
        Phase::Over { .. } => reading(GameState::Final, label, m),
        Phase::ExtraTime | Phase::Shootout => reading(GameState::Overtime, label, m),
        _ if beyond => reading(GameState::Overtime, label, m),
        _ => reading(GameState::Live, label, m),
    }
}

/// `Q1`…`Q4` (or `1st half`, `2nd half` when regulation is two halves),
/// then `OT`, `2OT`…; `None` before the tip-off.
fn label(period: u8, regulation: u8) -> Option<String> {
    match period {
        0 => None,
        p if p > regulation => Some(overtime(p - regulation)),
        1 if regulation == 2 => Some("1st half".into()),
        2 if regulation == 2 => Some("2nd half".into()),
        p => Some(format!("Q{p}")),
    }
}

/// `MM:SS` left, or `00:SS.t` in the last minute (ESPN sends `45.3`).
pub(super) fn clock(shown: &str) -> Option<String> {
    if let Some(whole) = minutes_seconds(shown, PERIOD_MINUTES) {
        return Some(whole);
    }
    let (s, tenth) = shown.split_once('.')?;
    let ok = (1..=2).contains(&s.len()) && tenth.len() == 1 && digits(s) && digits(tenth);
    let s: u8 = s.parse().ok().filter(|_| ok)?;
    (s < 60).then(|| format!("00:{s:02}.{tenth}"))
}
