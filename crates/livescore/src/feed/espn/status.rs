//! ESPN's game status -> a sport-neutral [`Moment`]: the status NAME read
//! with ESPN's own `state` (`pre`, `in`, `post`) and `completed`, never
//! the numeric ids (projects read those differently). A name ESPN adds
//! later still places the game by `state` and `completed`, so a new
//! status never blanks a board.

use serde_json::{Map, Value};
use tracing::debug;

use super::json::{at, cut, text, uint};
use crate::model::sport::{HalfInning, Moment, Phase};

/// A field path and what is wrong with it.
pub(super) type FieldError = (String, String);

/// What the status says, before a sport reads it.
#[derive(Debug, Clone)]
pub(super) struct Status<'a> {
    /// The moment, for [`crate::model::Sport::read`].
    pub moment: Moment,
    /// The status name, for log lines.
    pub name: &'a str,
    /// `status.displayClock`, if a string.
    pub display_clock: Option<&'a str>,
}

/// Reads `status` of `event`. `regulation` is the competition's number of
/// regulation periods; `shootout` says whether the competitors carry a
/// shoot-out score, which is how ESPN tells an NHL shoot-out final (a
/// plain `STATUS_FINAL`) from one decided in overtime.
pub(super) fn status(
    event: &Map<String, Value>,
    regulation: u8,
    shootout: bool,
) -> Result<Status<'_>, FieldError> {
    let f = |path: &str| format!("status.{path}");
    let name = text(event, &["status", "type", "name"]).map_err(|p| (f("type.name"), p))?;
    let state = text(event, &["status", "type", "state"]).map_err(|p| (f("type.state"), p))?;
    if !["pre", "in", "post"].contains(&state) {
        return Err((
            f("type.state"),
            format!("is not pre, in or post: {:?}", cut(state)),
        ));
    }
    let completed = matches!(
        at(event, &["status", "type", "completed"]),
        Some(Value::Bool(true))
    );
    // A soccer fixture before kick-off may have no period at all.
    let period: u8 = match at(event, &["status", "period"]) {
        None | Some(Value::Null) => 0,
        Some(_) => uint(event, &["status", "period"]).map_err(|p| (f("period"), p))?,
    };
    let detail = text(event, &["status", "type", "shortDetail"]).unwrap_or("");
    let shootout = shootout || detail.contains("/SO") || detail.contains("Pen");
    let phase = phase(name, state, completed, shootout);
    let in_play = matches!(
        phase,
        Phase::Playing | Phase::EndOfPeriod | Phase::ExtraTime | Phase::Shootout
    );
    if in_play && period == 0 {
        return Err((f("period"), format!("is 0 but the game is {name}")));
    }
    let display_clock = match at(event, &["status", "displayClock"]) {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    Ok(Status {
        moment: Moment {
            phase,
            period,
            regulation,
            half: HalfInning::find(detail),
        },
        name,
        display_clock,
    })
}

/// The phase a status name means; an unknown name by `state` and
/// `completed`.
fn phase(name: &str, state: &str, completed: bool, shootout: bool) -> Phase {
    let over = |extra_time: bool| Phase::Over {
        shootout,
        extra_time,
    };
    match name {
        "STATUS_SCHEDULED" => Phase::Scheduled,
        "STATUS_IN_PROGRESS" | "STATUS_FIRST_HALF" | "STATUS_SECOND_HALF" => Phase::Playing,
        "STATUS_HALFTIME" => Phase::Halftime,
        "STATUS_END_PERIOD"
        | "STATUS_END_OF_REGULATION"
        | "STATUS_HALFTIME_ET"
        | "STATUS_END_OF_EXTRATIME" => Phase::EndOfPeriod,
        "STATUS_OVERTIME"
        | "STATUS_EXTRA_TIME"
        | "STATUS_IN_PROGRESS_ET"
        | "STATUS_FIRST_HALF_EXTRA_TIME"
        | "STATUS_SECOND_HALF_EXTRA_TIME" => Phase::ExtraTime,
        "STATUS_SHOOTOUT" | "STATUS_IN_PROGRESS_PEN" | "STATUS_PENALTIES" => Phase::Shootout,
        "STATUS_FINAL" | "STATUS_FULL_TIME" | "STATUS_FORFEIT" => over(false),
        "STATUS_FINAL_OVERTIME" | "STATUS_FINAL_AET" => over(true),
        "STATUS_FINAL_PEN" | "STATUS_FINAL_SHOOTOUT" => Phase::Over {
            shootout: true,
            extra_time: true,
        },
        "STATUS_POSTPONED" => Phase::Postponed,
        "STATUS_CANCELED" | "STATUS_CANCELLED" => Phase::Canceled,
        "STATUS_SUSPENDED" => Phase::Suspended,
        "STATUS_DELAYED" | "STATUS_RAIN_DELAY" | "STATUS_WEATHER_DELAY" | "STATUS_DELAY" => {
            Phase::Delayed
        }
        "STATUS_ABANDONED" => Phase::Abandoned,
        _ => {
            debug!(
                status = name,
                state, completed, "unknown ESPN status: placed by its state"
            );
            match state {
                "pre" => Phase::Scheduled,
                "in" => Phase::Playing,
                _ if completed => over(false),
                // Over without a result, under a name not seen before.
                _ => Phase::Suspended,
            }
        }
    }
}
