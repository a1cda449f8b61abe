//! ESPN scoreboard JSON -> `Week`. Pure: bytes in, typed week or a
//! `FeedError` out, like [`scorestrip`](super::scorestrip).
//!
//! ESPN's scoreboard (`site.api.espn.com/.../scoreboard`) is public but
//! unofficial: no key, no documented terms, and it changes when ESPN wants.
//! So this parser is strict on what reaches a client (ids, teams, scores,
//! status, clock) and refuses the whole document, naming the event and the
//! field, when any of that is off; a scoreboard showing the last good state
//! beats one showing a wrong score. Everything else ESPN sends (leaders,
//! odds, links, logos) is ignored, so harmless additions never blank the
//! week.
//!
//! The mapping onto SPEC's Game: `eid` is the event id; kickoff from
//! `date`; `quarter` from `status.period` and `status.type.name`;
//! `day`/`time` are the kickoff in US Eastern, spelled as the scorestrip
//! did (`Sun`, `1:00`), so clients see one shape whatever the feed.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::America::New_York;
use serde_json::{Map, Value};

use super::{FeedError, Format};
use crate::model::{Game, GameDetails, GameState, Week};

mod json;
mod status;
mod teams;

use json::{at, extra, shown, text, uint, MAX_EXTRA_CHARS, MAX_SHOWN_CHARS};
use status::status;
use teams::competitors;

/// Longest event id accepted: ESPN's are nine or ten digits; the id becomes
/// a topic name (`game/{eid}`), which has a length cap.
const MAX_ID_CHARS: usize = 32;

/// Parses one scoreboard document. All or nothing: one bad event rejects
/// the whole document. Never panics, whatever the bytes.
pub fn parse(json: &[u8]) -> Result<Week, FeedError> {
    let doc: Value = serde_json::from_slice(json).map_err(|err| syntax(json, &err))?;
    let root = doc.as_object().ok_or_else(|| FeedError::NoWeek {
        format: Format::Espn,
        message: "the document is not a JSON object: not an ESPN scoreboard".into(),
    })?;
    let week_err = |field: &str, problem: String| FeedError::BadWeek {
        format: Format::Espn,
        field: field.into(),
        problem,
    };
    let season: u16 = uint(root, &["season", "year"]).map_err(|p| week_err("season.year", p))?;
    let season_type =
        season_type(root, &["season", "type"]).map_err(|p| week_err("season.type", p))?;
    let events = root
        .get("events")
        .ok_or_else(|| week_err("events", "is missing".into()))?
        .as_array()
        .ok_or_else(|| week_err("events", "is not an array".into()))?;
    // Between seasons ESPN serves no games and may give no week: week 0,
    // an empty board, rather than an error every poll until August.
    let week_no: u8 = match uint(root, &["week", "number"]) {
        Err(_) if events.is_empty() && at(root, &["week", "number"]).is_none() => 0,
        other => other.map_err(|p| week_err("week.number", p))?,
    };
    let mut week = Week {
        season,
        week: week_no,
        season_type,
        games: Vec::with_capacity(events.len()),
    };
    // Two games with one id would make the tracker flip between them.
    let mut ids = HashSet::new();
    for (i, event) in events.iter().enumerate() {
        let game = parse_event(event, i + 1, &week)?;
        if !ids.insert(game.eid.clone()) {
            return Err(bad(&game.eid, "id", "appears on two events".into()));
        }
        week.games.push(game);
    }
    Ok(week)
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
/// seasons) from ESPN's numeric season type.
fn season_type(obj: &Map<String, Value>, path: &[&str]) -> Result<String, String> {
    let value = at(obj, path).ok_or("is missing")?;
    // Events give `{"type": 2}`; the league block nests `{"type": {"id": "2"}}`.
    let id = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    match id {
        Some(1) => Ok("PRE".into()),
        Some(2) => Ok("REG".into()),
        Some(3) => Ok("POST".into()),
        Some(4) => Ok("OFF".into()),
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

/// An event id that is safe as a topic name: ASCII letters, digits, `-`.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Reads the `index`-th event (from 1) of `week`.
fn parse_event(event: &Value, index: usize, week: &Week) -> Result<Game, FeedError> {
    let missing_id = |label: String| FeedError::MissingId {
        format: Format::Espn,
        index,
        label,
        field: "id",
    };
    let event = event
        .as_object()
        .ok_or_else(|| missing_id(" (not a JSON object)".into()))?;
    let eid = match text(event, &["id"]) {
        Ok(id) => id,
        Err(_) => {
            // Name the event some other way so it can be found.
            let label = text(event, &["shortName"])
                .or_else(|_| text(event, &["name"]))
                .map(|n| format!(" ({})", n.chars().take(MAX_SHOWN_CHARS).collect::<String>()))
                .unwrap_or_default();
            return Err(missing_id(label));
        }
    };
    if !valid_id(eid) {
        return Err(bad(
            eid,
            "id",
            format!("is not an event id (letters, digits, -): {eid:?}"),
        ));
    }
    let field = |path: &str, problem: String| bad(eid, path, problem);

    let date = text(event, &["date"]).map_err(|p| field("date", p))?;
    let kickoff =
        kickoff(date).ok_or_else(|| field("date", format!("is not a UTC time: {date:?}")))?;
    let eastern = kickoff.with_timezone(&New_York);

    let (state, quarter, clock) = status(event).map_err(|(path, p)| field(&path, p))?;
    let live = state == GameState::Live;

    let comp = match event.get("competitions").and_then(Value::as_array) {
        Some(list) => list.first().and_then(Value::as_object),
        None => None,
    }
    .ok_or_else(|| field("competitions", "has no competition object".into()))?;
    let sides = competitors(comp, quarter).map_err(|(path, p)| field(&path, p))?;
    let [(home_id, home, home_more), (away_id, away, away_more)] = sides;

    // Who has the ball and whether inside the 20, only while the clock
    // means something; ESPN drops `possession` between plays.
    let (mut possession, mut red_zone) = (None, false);
    if let (true, Some(situation)) = (live, comp.get("situation").and_then(Value::as_object)) {
        match situation.get("possession") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) if *s == home_id => possession = Some(home.abbr.clone()),
            Some(Value::String(s)) if *s == away_id => possession = Some(away.abbr.clone()),
            Some(other) => {
                return Err(field(
                    "competitions[0].situation.possession",
                    format!("is not a competitor's team id: {}", shown(other)),
                ))
            }
        }
        red_zone = match situation.get("isRedZone") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b && possession.is_some(),
            Some(other) => {
                return Err(field(
                    "competitions[0].situation.isRedZone",
                    format!("is not true or false: {}", shown(other)),
                ))
            }
        };
    }

    let situation = comp
        .get("situation")
        .and_then(Value::as_object)
        .filter(|_| live);
    let details = GameDetails {
        home: home_more,
        away: away_more,
        venue: extra(comp, &["venue", "fullName"]),
        broadcast: broadcast(comp),
        down_distance: situation.and_then(|s| extra(s, &["downDistanceText"])),
        last_play: situation.and_then(|s| extra(s, &["lastPlay", "text"])),
    };
    let details = (details != GameDetails::default()).then_some(details);

    // The event's own season and week win (a bowl listed in another week);
    // the document's fill in when ESPN leaves them out.
    let season = uint(event, &["season", "year"]).unwrap_or(week.season);
    let season_type =
        season_type(event, &["season", "type"]).unwrap_or_else(|_| week.season_type.clone());
    let week_no = uint(event, &["week", "number"]).unwrap_or(week.week);

    Ok(Game {
        eid: eid.into(),
        season,
        week: week_no,
        season_type,
        kickoff,
        day: eastern.format("%a").to_string(),
        time: eastern.format("%-I:%M").to_string(),
        state,
        quarter,
        clock,
        possession,
        red_zone,
        home,
        away,
        details,
    })
}

/// `CBS`, or `ESPN, ABC`: every broadcast's names, in feed order.
fn broadcast(comp: &Map<String, Value>) -> Option<String> {
    let names: Vec<&str> = comp
        .get("broadcasts")?
        .as_array()?
        .iter()
        .filter_map(|b| b.get("names")?.as_array())
        .flatten()
        .filter_map(Value::as_str)
        .filter(|n| !n.is_empty())
        .collect();
    (!names.is_empty()).then(|| names.join(", ").chars().take(MAX_EXTRA_CHARS).collect())
}

#[cfg(test)]
mod tests;
