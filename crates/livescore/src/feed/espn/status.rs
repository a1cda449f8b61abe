//! ESPN's game status -> state, quarter and clock: the status names
//! mapped onto the scorestrip's quarters (`STATUS_HALFTIME` is `H`,
//! `STATUS_END_PERIOD` that period at `00:00`, a final after period 4
//! `FO`), plus the states the scorestrip never had.

use serde_json::{Map, Value};

use super::json::{at, cut, text, uint};
use crate::model::{GameState, Quarter};

/// A field path and what is wrong with it.
pub(super) type FieldError = (String, String);

/// State, quarter and clock from `status` (see the module doc).
pub(super) fn status(
    event: &Map<String, Value>,
) -> Result<(GameState, Quarter, Option<String>), FieldError> {
    let f = |path: &str| format!("status.{path}");
    let name = text(event, &["status", "type", "name"]).map_err(|p| (f("type.name"), p))?;
    let phase = text(event, &["status", "type", "state"]).map_err(|p| (f("type.state"), p))?;
    if !["pre", "in", "post"].contains(&phase) {
        return Err((
            f("type.state"),
            format!("is not pre, in or post: {:?}", cut(phase)),
        ));
    }
    let completed = matches!(
        at(event, &["status", "type", "completed"]),
        Some(Value::Bool(true))
    );
    let period: u8 = uint(event, &["status", "period"]).map_err(|p| (f("period"), p))?;
    let playing = || match period {
        1..=4 => Ok(Quarter::Period(period)),
        5.. => Ok(Quarter::Period(5)),
        0 => Err((f("period"), format!("is 0 but the game is {name}"))),
    };
    let display = || -> Result<Option<String>, FieldError> {
        let shown = text(event, &["status", "displayClock"]).map_err(|p| (f("displayClock"), p))?;
        clock(shown).map(Some).ok_or_else(|| {
            (
                f("displayClock"),
                format!("is not a clock (M:SS, at most 15:00): {:?}", cut(shown)),
            )
        })
    };
    let finished = || {
        if period > 4 || name == "STATUS_FINAL_OVERTIME" {
            (GameState::FinalOvertime, Quarter::FinalOvertime, None)
        } else {
            (GameState::Final, Quarter::Final, None)
        }
    };
    Ok(match name {
        "STATUS_SCHEDULED" => (GameState::Pregame, Quarter::Pregame, None),
        "STATUS_IN_PROGRESS" => (GameState::Live, playing()?, display()?),
        "STATUS_HALFTIME" => (GameState::Halftime, Quarter::Halftime, None),
        "STATUS_END_PERIOD" => (GameState::Live, playing()?, Some("00:00".into())),
        "STATUS_FINAL" | "STATUS_FINAL_OVERTIME" => finished(),
        "STATUS_POSTPONED" => (GameState::Postponed, Quarter::Pregame, None),
        "STATUS_CANCELED" | "STATUS_CANCELLED" => (GameState::Canceled, Quarter::Pregame, None),
        "STATUS_SUSPENDED" => (GameState::Suspended, Quarter::Suspended, None),
        "STATUS_DELAYED" | "STATUS_RAIN_DELAY" | "STATUS_WEATHER_DELAY" if period == 0 => {
            (GameState::Delayed, Quarter::Pregame, None)
        }
        "STATUS_DELAYED" | "STATUS_RAIN_DELAY" | "STATUS_WEATHER_DELAY" => {
            (GameState::Delayed, playing()?, display().ok().flatten())
        }
        // A status name ESPN added since: its phase still says enough.
        _ if phase == "pre" => (GameState::Pregame, Quarter::Pregame, None),
        _ if phase == "in" => (GameState::Live, playing()?, display().ok().flatten()),
        _ if completed => finished(),
        _ => {
            return Err((
                f("type.name"),
                format!("unknown status for a game that is over but not completed: {name:?}"),
            ))
        }
    })
}

/// `M:SS` or `MM:SS` within a quarter, normalised to `MM:SS`.
fn clock(display: &str) -> Option<String> {
    let (m, s) = display.split_once(':')?;
    let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&m.len()) || s.len() != 2 || !digits(m) || !digits(s) {
        return None;
    }
    let (m, s): (u8, u8) = (m.parse().ok()?, s.parse().ok()?);
    (s < 60 && (m < 15 || (m == 15 && s == 0))).then(|| format!("{m:02}:{s:02}"))
}
