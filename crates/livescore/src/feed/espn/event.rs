//! One ESPN event -> one `Game`: id, kickoff, status read by the sport,
//! both sides, and what the competition's `situation` says (football's
//! possession, baseball's count).

use chrono_tz::America::New_York;
use serde_json::{Map, Value};
use tracing::warn;

use super::json::{at, extra, shown, text, uint, MAX_EXTRA_CHARS, MAX_SHOWN_CHARS};
use super::status::status;
use super::teams::{competitors, has_shootout};
use super::{bad, kickoff, season_type};
use crate::feed::{FeedError, Format};
use crate::model::sport::{self, ClockUse};
use crate::model::{Board, Game, GameDetails, GameState, Situation, Team};

/// Longest event id accepted: ESPN's are nine or ten digits; the id becomes
/// a topic name (`game/{eid}`), which has a length cap.
const MAX_ID_CHARS: usize = 32;

/// Most periods a competition's `format.regulation.periods` may say; more
/// is not a game livescore knows (the sport's default is used instead).
const MAX_REGULATION_PERIODS: u8 = 20;

/// An event id that is safe as a topic name: ASCII letters, digits, `-`.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Reads the `index`-th event (from 1) of `board`.
pub(super) fn parse_event(event: &Value, index: usize, board: &Board) -> Result<Game, FeedError> {
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

    let comps = event.get("competitions").and_then(Value::as_array);
    let comp = comps
        .and_then(|list| list.first())
        .and_then(Value::as_object)
        .ok_or_else(|| field("competitions", "has no competition object".into()))?;
    two_teams(comps.map_or(0, Vec::len), comp, board, eid)?;

    let regulation = uint::<u8>(comp, &["format", "regulation", "periods"])
        .ok()
        .filter(|p| (1..=MAX_REGULATION_PERIODS).contains(p))
        .unwrap_or_else(|| board.sport.regulation_periods());
    let shootout = has_shootout(comp);
    let st = status(event, regulation, shootout).map_err(|(path, p)| field(&path, p))?;
    let reading = board.sport.read(&st.moment);
    let state = reading.state;
    let period = reading.period;
    let quarter = sport::quarter(state, period, regulation);
    let clock = match reading.clock {
        ClockUse::Hide => None,
        ClockUse::Zero => Some("00:00".to_string()),
        ClockUse::Show => st.display_clock.and_then(|shown| {
            let clock = board.sport.clock(shown);
            if clock.is_none() {
                // The game stays on the board; only its clock is lost.
                warn!(league = %board.league, game = eid, status = st.name,
                    clock = %shown.chars().take(MAX_SHOWN_CHARS).collect::<String>(),
                    "ESPN clock does not fit the sport; shown without a clock");
            }
            clock
        }),
    };
    let started = quarter != crate::model::Quarter::Pregame;
    let in_shootout = matches!(state, GameState::Shootout | GameState::FinalShootout);
    let sides = competitors(comp, started, in_shootout).map_err(|(path, p)| field(&path, p))?;
    let [(home_id, home, home_more), (away_id, away, away_more)] = sides;

    let playing = matches!(state, GameState::Live | GameState::Overtime);
    let situation = comp
        .get("situation")
        .and_then(Value::as_object)
        .filter(|_| playing);
    let (possession, red_zone) = match situation {
        Some(s) => possession(s, (&home_id, &home), (&away_id, &away))
            .map_err(|(path, p)| field(&path, p))?,
        None => (None, false),
    };
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
    // the board's fill in when ESPN leaves them out.
    let season = uint(event, &["season", "year"]).unwrap_or(board.season);
    let season_type = season_type(event, &["season", "type"], board.sport)
        .unwrap_or_else(|_| board.season_type.clone());
    let week = board
        .week
        .map(|w| uint(event, &["week", "number"]).unwrap_or(w));
    let kickoff_tbd = matches!(comp.get("timeValid"), Some(Value::Bool(false)));

    Ok(Game {
        eid: eid.into(),
        league: board.league.clone(),
        sport: board.sport,
        season,
        week,
        season_type,
        date: board.date,
        kickoff,
        kickoff_tbd,
        day: eastern.format("%a").to_string(),
        time: eastern.format("%-I:%M").to_string(),
        state,
        period,
        period_label: reading.label,
        quarter,
        clock,
        possession,
        red_zone,
        situation: situation.and_then(count),
        home,
        away,
        details,
    })
}

/// Refuses an event that is not one game between two teams (UFC's bouts,
/// a golf tournament's field): the board cannot draw it, whatever its
/// sport says, and the error names the league.
fn two_teams(
    competitions: usize,
    comp: &Map<String, Value>,
    board: &Board,
    eid: &str,
) -> Result<(), FeedError> {
    let athletes = comp
        .get("competitors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c.get("type").and_then(Value::as_str) == Some("athlete"));
    if competitions <= 1 && !athletes {
        return Ok(());
    }
    let what = if athletes {
        "competitors are athletes"
    } else {
        "several competitions"
    };
    Err(FeedError::Unsupported {
        format: Format::Espn,
        league: board.league.clone(),
        problem: format!(
            "event {}: not a game between two teams ({what})",
            eid.chars().take(MAX_SHOWN_CHARS).collect::<String>()
        ),
    })
}

/// Who has the ball (a competitor's team id) and whether inside the 20,
/// while play is under way; ESPN drops `possession` between plays.
fn possession(
    situation: &Map<String, Value>,
    (home_id, home): (&str, &Team),
    (away_id, away): (&str, &Team),
) -> Result<(Option<String>, bool), (String, String)> {
    let possession = match situation.get("possession") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s == home_id => Some(home.abbr.clone()),
        Some(Value::String(s)) if s == away_id => Some(away.abbr.clone()),
        Some(other) => {
            return Err((
                "competitions[0].situation.possession".into(),
                format!("is not a competitor's team id: {}", shown(other)),
            ))
        }
    };
    let red_zone = match situation.get("isRedZone") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b && possession.is_some(),
        Some(other) => {
            return Err((
                "competitions[0].situation.isRedZone".into(),
                format!("is not true or false: {}", shown(other)),
            ))
        }
    };
    Ok((possession, red_zone))
}

/// Baseball's count and bases, when the situation carries all six and
/// each is in range; a malformed count is dropped, never the game.
fn count(situation: &Map<String, Value>) -> Option<Situation> {
    let small = |key: &str, max: u8| uint::<u8>(situation, &[key]).ok().filter(|n| *n <= max);
    let base = |key: &str| at(situation, &[key])?.as_bool();
    Some(Situation {
        balls: small("balls", 4)?,
        strikes: small("strikes", 3)?,
        outs: small("outs", 3)?,
        on_first: base("onFirst")?,
        on_second: base("onSecond")?,
        on_third: base("onThird")?,
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
