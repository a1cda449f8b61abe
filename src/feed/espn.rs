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
use crate::model::{Game, GameDetails, GameState, Quarter, Team, TeamDetails, Week};

/// Longest value echoed back in an error, in characters (see scorestrip).
const MAX_SHOWN_CHARS: usize = 40;

/// Longest extra text kept (a last play can be a paragraph); a hostile
/// feed cannot make every game event huge.
const MAX_EXTRA_CHARS: usize = 300;

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

/// A value quoted and cut to [`MAX_SHOWN_CHARS`], for error messages.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    let cut: String = text.chars().take(MAX_SHOWN_CHARS).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// The value at `path` under `obj`, if every step is an object key.
fn at<'v>(obj: &'v Map<String, Value>, path: &[&str]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(obj.get(*first)?, |v, key| v.as_object()?.get(*key))
}

/// An unsigned integer at `path` (JSON number, integral, in range).
fn uint<T: TryFrom<u64>>(obj: &Map<String, Value>, path: &[&str]) -> Result<T, String> {
    let value = at(obj, path).ok_or("is missing")?;
    value
        .as_u64()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("is not a whole number in range: {}", shown(value)))
}

/// A non-empty string at `path`.
fn text<'v>(obj: &'v Map<String, Value>, path: &[&str]) -> Result<&'v str, String> {
    match at(obj, path) {
        None => Err("is missing".into()),
        Some(Value::String(s)) if s.is_empty() => Err("is empty".into()),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("is not a string: {}", shown(other))),
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

/// An extra fact (a name, a venue): taken when it is a non-empty string,
/// skipped otherwise. Extras never reject a document: a scoreboard without
/// a venue is still right, one without a score is not.
fn extra(obj: &Map<String, Value>, path: &[&str]) -> Option<String> {
    text(obj, path)
        .ok()
        .map(|s| s.chars().take(MAX_EXTRA_CHARS).collect())
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

/// A field path and what is wrong with it.
type FieldError = (String, String);

/// State, quarter and clock from `status` (see the module doc).
fn status(event: &Map<String, Value>) -> Result<(GameState, Quarter, Option<String>), FieldError> {
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

/// `value`, cut for an error message.
fn cut(value: &str) -> String {
    value.chars().take(MAX_SHOWN_CHARS).collect()
}

/// The home and the away side of a competition, each with its team id
/// (what `situation.possession` names) and its extra facts.
fn competitors(
    comp: &Map<String, Value>,
    quarter: Quarter,
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
        let score = score(c.get("score"), quarter).map_err(|p| (path("score"), p))?;
        let team = Team {
            abbr: abbr.into(),
            nickname: name.to_lowercase(),
            score,
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
fn score(value: Option<&Value>, quarter: Quarter) -> Result<u16, String> {
    let not_started = quarter == Quarter::Pregame;
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

#[cfg(test)]
mod tests;
