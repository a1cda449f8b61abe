//! The two sides of an ESPN competition: which is home, their scores
//! (strings of digits on this feed), their line scores and shoot-out
//! goals, and their extra facts.

use serde_json::{Map, Value};

use super::json::{cut, extra, shown, text};
use super::status::FieldError;
use crate::model::{Team, TeamDetails};

/// The home and the away side of a competition, each with its team id
/// (what `situation.possession` names) and its extra facts. A score may
/// be missing only before the start (`started` false); shoot-out goals
/// are kept only when a shoot-out happened (`shootout`), since ESPN may
/// send zeros on games that had none.
pub(super) fn competitors(
    comp: &Map<String, Value>,
    started: bool,
    shootout: bool,
) -> Result<[(String, Team, TeamDetails); 2], FieldError> {
    let base = "competitions[0].competitors";
    let list = comp
        .get("competitors")
        .and_then(Value::as_array)
        .ok_or_else(|| (base.to_string(), "is missing or not an array".to_string()))?;
    if list.len() != 2 {
        return Err((
            base.to_string(),
            format!("has {} competitors, not 2 (home and away)", list.len()),
        ));
    }
    let mut home = None;
    let mut away = None;
    for (i, c) in list.iter().enumerate() {
        let path = |field: &str| format!("{base}[{i}].{field}");
        let c = c
            .as_object()
            .ok_or_else(|| (format!("{base}[{i}]"), "is not an object".to_string()))?;
        let id = text(c, &["id"]).map_err(|p| (path("id"), p))?.to_string();
        let abbr =
            text(c, &["team", "abbreviation"]).map_err(|p| (path("team.abbreviation"), p))?;
        let name = text(c, &["team", "name"]).map_err(|p| (path("team.name"), p))?;
        let score = score(c.get("score"), started).map_err(|p| (path("score"), p))?;
        let team = Team {
            abbr: abbr.into(),
            nickname: name.to_lowercase(),
            score,
            linescore: linescore(c),
            shootout: if shootout {
                Some(shootout_goals(c).unwrap_or(0))
            } else {
                None
            },
        };
        let side = text(c, &["homeAway"]).map_err(|p| (path("homeAway"), p))?;
        let slot = match side {
            "home" => &mut home,
            "away" => &mut away,
            other => {
                return Err((
                    path("homeAway"),
                    format!("is not home or away: {:?}", cut(other)),
                ))
            }
        };
        if slot.replace((id, team, team_details(c))).is_some() {
            return Err((
                path("homeAway"),
                format!("is {side:?} for both competitors"),
            ));
        }
    }
    match (home, away) {
        (Some(home), Some(away)) => Ok([home, away]),
        // Two competitors, no duplicate side: both slots are filled.
        _ => Err((base.to_string(), "needs one home and one away".into())),
    }
}

/// A score: ESPN sends a string of digits (`"7"`); a plain number is
/// taken too. Missing or empty only before kickoff.
fn score(value: Option<&Value>, started: bool) -> Result<u16, String> {
    let not_started = !started;
    match value {
        None | Some(Value::Null) if not_started => Ok(0),
        None | Some(Value::Null) => Err("is missing but the game has started".into()),
        Some(Value::String(s)) if s.is_empty() && not_started => Ok(0),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse()
            .map_err(|_| format!("not a score: {}", shown(&Value::String(s.clone())))),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| format!("not a score: {n}")),
        Some(other) => Err(format!("not a score: {}", shown(other))),
    }
}

/// Points per period (`linescores[].value`, floats holding whole
/// numbers); absent when ESPN gives none or any is not a whole number in
/// range: a line score is a fact beyond the score, never worth refusing
/// a game for.
fn linescore(c: &Map<String, Value>) -> Option<Vec<u16>> {
    let list = c.get("linescores")?.as_array()?;
    if list.is_empty() {
        return None;
    }
    list.iter()
        .map(|l| whole(l.get("value")?))
        .collect::<Option<Vec<u16>>>()
}

/// `shootoutScore`: a number or a string of digits.
fn shootout_goals(c: &Map<String, Value>) -> Option<u16> {
    match c.get("shootoutScore")? {
        Value::String(s) => s.parse().ok(),
        other => whole(other),
    }
}

/// Whether a competitor carries a shoot-out score above zero: how a
/// shoot-out final shows on a board whose status is a plain final.
pub(super) fn has_shootout(comp: &Map<String, Value>) -> bool {
    comp.get("competitors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .any(|c| shootout_goals(c).is_some_and(|g| g > 0))
}

/// A JSON number holding a whole number in `u16`'s range (`3` or `3.0`).
fn whole(value: &Value) -> Option<u16> {
    if let Some(n) = value.as_u64() {
        return u16::try_from(n).ok();
    }
    let f = value.as_f64()?;
    let in_range = f.is_finite() && f >= 0.0 && f <= f64::from(u16::MAX) && f.fract() == 0.0;
    // In range and whole: the cast is exact.
    in_range.then_some(f as u16)
}

/// A competitor's full name and season record (`records[]`, the `total`
/// one, else the first).
fn team_details(c: &Map<String, Value>) -> TeamDetails {
    let records = c.get("records").and_then(Value::as_array);
    let record = records.and_then(|list| {
        let total = list
            .iter()
            .find(|r| r.get("type").and_then(Value::as_str) == Some("total"));
        total.or(list.first())?.as_object()
    });
    TeamDetails {
        name: extra(c, &["team", "displayName"]),
        record: record.and_then(|r| extra(r, &["summary"])),
    }
}
