//! ESPN scoreboard JSON -> [`Board`], for every league of the five sports.
//! Pure: bytes in, typed board or a `FeedError` out, like
//! [`scorestrip`](super::scorestrip).
//!
//! ESPN's scoreboard (`site.api.espn.com/.../scoreboard`) is public but
//! unofficial: no key, no documented terms, and it changes when ESPN wants.
//! So this parser is strict on what reaches a client (ids, teams, scores,
//! status) and refuses the whole document, naming the event and the field,
//! when any of that is off; a scoreboard showing the last good state beats
//! one showing a wrong score. A clock that does not fit its sport costs
//! that game its clock (logged), never the document; a status name ESPN
//! adds is placed by its `state`. Everything else ESPN sends (leaders,
//! odds, links, logos) is ignored, and a malformed extra (venue, line
//! score, baseball count) is dropped, so harmless additions never blank
//! the board.
//!
//! Which league a document is comes from `leagues[0]` (`slug`, and the
//! sport from the `uid`, `s:40~l:46`); a document without it is the NFL's,
//! as every ESPN document livescore read before leagues. Football boards
//! are a week (`week.number`); the others a day (`day.date`).
//!
//! The mapping onto SPEC's Game: `eid` is the event id; kickoff from
//! `date`; `state`, `period`, `period_label` and `quarter` from `status`
//! read by the sport's rules (`model::sport`); `day`/`time` are the kickoff
//! in US Eastern, spelled as the scorestrip did (`Sun`, `1:00`), so clients
//! see one shape whatever the feed.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::America::New_York;
use serde_json::{Map, Value};

use super::{FeedError, Format};
use crate::model::{Board, Sport, NFL};

mod event;
mod json;
pub mod leagues;
mod status;
mod teams;

use event::parse_event;
use json::{at, shown, text, uint, MAX_SHOWN_CHARS};

/// Parses one scoreboard document. All or nothing: one malformed event
/// rejects the whole document. Never panics, whatever the bytes.
pub fn parse(json: &[u8]) -> Result<Board, FeedError> {
    let doc: Value = serde_json::from_slice(json).map_err(|err| syntax(json, &err))?;
    let root = doc.as_object().ok_or_else(|| FeedError::NoWeek {
        format: Format::Espn,
        message: "the document is not a JSON object: not an ESPN scoreboard".into(),
    })?;
    let (league, sport) = league(root)?;
    let week_err = |field: &str, problem: String| FeedError::BadWeek {
        format: Format::Espn,
        field: field.into(),
        problem,
    };
    let events = root
        .get("events")
        .ok_or_else(|| week_err("events", "is missing".into()))?
        .as_array()
        .ok_or_else(|| week_err("events", "is not an array".into()))?;
    let first_event = events.first().and_then(Value::as_object);
    // The root `season` can be missing (MLB); the league's and the first
    // event's carry it too.
    let league_block = at(root, &["leagues"])
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(Value::as_object);
    let season_at = |path: &[&str]| {
        [Some(root), league_block, first_event]
            .into_iter()
            .flatten()
            .find(|o| at(o, path).is_some())
            .unwrap_or(root)
    };
    let season: u16 = uint(season_at(&["season", "year"]), &["season", "year"])
        .map_err(|p| week_err("season.year", p))?;
    let season_type = season_type(season_at(&["season", "type"]), &["season", "type"], sport)
        .map_err(|p| week_err("season.type", p))?;
    let (week, date) = span(root, sport, events, first_event).map_err(|(f, p)| week_err(f, p))?;
    let mut board = Board {
        league,
        sport,
        season,
        week,
        date,
        season_type,
        games: Vec::with_capacity(events.len()),
    };
    // Two games with one id would make the tracker flip between them.
    let mut ids = HashSet::new();
    for (i, event) in events.iter().enumerate() {
        let game = parse_event(event, i + 1, &board)?;
        if !ids.insert(game.eid.clone()) {
            return Err(bad(&game.eid, "id", "appears on two events".into()));
        }
        board.games.push(game);
    }
    Ok(board)
}

/// The league's key and sport from `leagues[0]`; the NFL when the
/// document names none. A sport livescore cannot draw is refused, naming
/// the league.
fn league(root: &Map<String, Value>) -> Result<(String, Sport), FeedError> {
    let Some(block) = at(root, &["leagues"])
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(Value::as_object)
    else {
        return Ok((NFL.into(), Sport::Football));
    };
    let slug = text(block, &["slug"]).map_err(|p| FeedError::BadWeek {
        format: Format::Espn,
        field: "leagues[0].slug".into(),
        problem: p,
    })?;
    // The key becomes part of topic names (`scores/{league}`) and URLs.
    let valid = slug.len() <= MAX_SHOWN_CHARS
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !valid {
        return Err(FeedError::BadWeek {
            format: Format::Espn,
            field: "leagues[0].slug".into(),
            problem: format!(
                "is not a league key (lower-case letters, digits, `.`, `-`): {}",
                shown(&Value::String(slug.into()))
            ),
        });
    }
    let key = slug.to_string();
    let unsupported = |problem: String| FeedError::Unsupported {
        format: Format::Espn,
        league: key.clone(),
        problem,
    };
    // `s:40~l:46`: the number after `s:` is the sport.
    let sport_id = text(block, &["uid"]).ok().and_then(|uid| {
        uid.split('~')
            .find_map(|part| part.strip_prefix("s:"))
            .and_then(|n| n.parse::<u32>().ok())
    });
    let sport = match sport_id {
        Some(id) => leagues::sport_of_id(id).map_err(|name| {
            unsupported(format!(
                "{name} is not a sport livescore can draw (supported: football, basketball, hockey, baseball, soccer)"
            ))
        })?,
        None => leagues::find(slug).map(|l| l.sport).ok_or_else(|| {
            unsupported("no sport: `leagues[0].uid` has no `s:` and the league is not known".into())
        })?,
    };
    Ok((key, sport))
}

/// The board's week (football) or day (the other sports). Between
/// seasons ESPN serves no games and may give no week: week 0, an empty
/// board, rather than an error every poll until August. A day board
/// without `day.date` is the first game's day in US Eastern, ESPN's day.
#[allow(clippy::type_complexity)]
fn span(
    root: &Map<String, Value>,
    sport: Sport,
    events: &[Value],
    first_event: Option<&Map<String, Value>>,
) -> Result<(Option<u8>, Option<NaiveDate>), (&'static str, String)> {
    if let Some(day) = at(root, &["day", "date"]) {
        let date = day
            .as_str()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| {
                (
                    "day.date",
                    format!("is not a date (YYYY-MM-DD): {}", shown(day)),
                )
            })?;
        return Ok((None, Some(date)));
    }
    let plays_by_week = at(root, &["week"]).is_some() || sport.plays_by_week();
    if plays_by_week {
        let week = match uint(root, &["week", "number"]) {
            Err(_) if events.is_empty() && at(root, &["week", "number"]).is_none() => 0,
            other => other.map_err(|p| ("week.number", p))?,
        };
        return Ok((Some(week), None));
    }
    let date = first_event
        .and_then(|e| text(e, &["date"]).ok())
        .and_then(kickoff)
        .map(|k| k.with_timezone(&New_York).date_naive());
    Ok((None, date))
}

/// A JSON syntax error, placed at its byte (serde_json gives line and
/// column; an operator's tools want the offset, as for the XML feed).
fn syntax(json: &[u8], err: &serde_json::Error) -> FeedError {
    let line_start: usize = json
        .split_inclusive(|&b| b == b'\n')
        .take(err.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    let position = line_start.saturating_add(err.column().saturating_sub(1));
    let message = match err.classify() {
        serde_json::error::Category::Eof => format!("document ended early: {err}"),
        _ => err.to_string(),
    };
    FeedError::Syntax {
        format: Format::Espn,
        position: u64::try_from(position.min(json.len())).unwrap_or(u64::MAX),
        message,
    }
}

/// An error about `field` of game `eid`.
fn bad(eid: &str, field: &str, problem: String) -> FeedError {
    FeedError::BadGame {
        format: Format::Espn,
        game: eid.chars().take(MAX_SHOWN_CHARS).collect(),
        field: field.into(),
        problem,
    }
}

/// `PRE`, `REG`, `POST` (or `OFF`, the off-season ESPN serves between
/// seasons) from ESPN's numeric season type. Soccer's season types are
/// league-specific ids (`13481`), not one of the four: a soccer board is
/// the league's season, `REG`.
fn season_type(obj: &Map<String, Value>, path: &[&str], sport: Sport) -> Result<String, String> {
    let value = at(obj, path).ok_or("is missing")?;
    // Events give `{"type": 2}`; the league block nests `{"type": {"id": "2"}}`.
    let value = match value {
        Value::Object(o) => o.get("id").unwrap_or(value),
        other => other,
    };
    let id = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    match (id, sport) {
        (Some(1), _) => Ok("PRE".into()),
        (Some(2), _) => Ok("REG".into()),
        (Some(3), _) => Ok("POST".into()),
        (Some(4), _) => Ok("OFF".into()),
        (Some(_), Sport::Soccer) => Ok("REG".into()),
        _ => Err(format!(
            "is not a season type (1 pre, 2 regular, 3 post, 4 off): {}",
            shown(value)
        )),
    }
}

/// Kickoff from ESPN's `2015-09-13T17:00Z` (minutes, UTC) or a full
/// RFC 3339 time.
fn kickoff(date: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(date) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%MZ")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sports;
