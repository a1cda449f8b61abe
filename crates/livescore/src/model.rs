//! The shapes of SPEC.md: `Game`, `ScoreEvent`, `EventId` and topic names.
//!
//! Pure data, no I/O. Everything that crosses a module boundary or the wire
//! is defined here once, so the JSON a client sees has one source of truth.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// Where a game is in its life; derived from the feed's quarter, except
/// the states a quarter cannot say (postponed, canceled, delayed), which
/// only the ESPN feed reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GameState {
    /// Not started yet.
    Pregame,
    /// Being played (a quarter or overtime).
    Live,
    /// Between the second and third quarter.
    Halftime,
    /// Over after regulation.
    Final,
    /// Over after overtime.
    FinalOvertime,
    /// Stopped by the league, to be resumed later.
    Suspended,
    /// Moved to another date before it started (ESPN `STATUS_POSTPONED`).
    Postponed,
    /// Called off; will not be played (ESPN `STATUS_CANCELED`).
    Canceled,
    /// Held up (weather, lightning), before or during play; `quarter` says
    /// where it stands (ESPN `STATUS_DELAYED`, `STATUS_RAIN_DELAY`).
    Delayed,
}

/// The feed's raw quarter value (`q`), kept exactly as the feed says it so a
/// client can show it verbatim; `state()` interprets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quarter {
    /// `P`: pregame.
    Pregame,
    /// `1`..`4` regulation, `5` overtime.
    Period(u8),
    /// `H`: halftime.
    Halftime,
    /// `F`: final.
    Final,
    /// `FO`: final after overtime.
    FinalOvertime,
    /// `S`: suspended.
    Suspended,
}

impl Quarter {
    /// The feed's spelling (`P`, `1`..`5`, `H`, `F`, `FO`, `S`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Quarter::Pregame => "P",
            Quarter::Period(1) => "1",
            Quarter::Period(2) => "2",
            Quarter::Period(3) => "3",
            Quarter::Period(4) => "4",
            Quarter::Period(_) => "5",
            Quarter::Halftime => "H",
            Quarter::Final => "F",
            Quarter::FinalOvertime => "FO",
            Quarter::Suspended => "S",
        }
    }

    /// The game state this quarter value implies.
    pub fn state(&self) -> GameState {
        match self {
            Quarter::Pregame => GameState::Pregame,
            Quarter::Period(_) => GameState::Live,
            Quarter::Halftime => GameState::Halftime,
            Quarter::Final => GameState::Final,
            Quarter::FinalOvertime => GameState::FinalOvertime,
            Quarter::Suspended => GameState::Suspended,
        }
    }

    /// True while the game clock means something (a quarter is being played).
    pub fn is_live(&self) -> bool {
        matches!(self, Quarter::Period(_))
    }
}

impl FromStr for Quarter {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "P" => Quarter::Pregame,
            "1" => Quarter::Period(1),
            "2" => Quarter::Period(2),
            "3" => Quarter::Period(3),
            "4" => Quarter::Period(4),
            "5" => Quarter::Period(5),
            "H" => Quarter::Halftime,
            "F" => Quarter::Final,
            "FO" => Quarter::FinalOvertime,
            "S" => Quarter::Suspended,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Quarter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// OpenAPI: a string, one of the feed's spellings (hand-written because
/// the serde impls above are).
impl utoipa::PartialSchema for Quarter {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "The feed's raw quarter: P, 1-4, 5 (overtime), H, F, FO, S.",
            ))
            .enum_values(Some(["P", "1", "2", "3", "4", "5", "H", "F", "FO", "S"]))
            .into()
    }
}

impl ToSchema for Quarter {}

impl<'de> Deserialize<'de> for Quarter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|()| serde::de::Error::custom(format!("unknown quarter {s:?}")))
    }
}

/// One side of a game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    /// Abbreviation, e.g. `NE`.
    pub abbr: String,
    /// Nickname in lower case, e.g. `patriots`.
    pub nickname: String,
    /// Points; 0 before kickoff (the feed sends an empty string then).
    pub score: u16,
}

/// A game as SPEC.md shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Game {
    /// `YYYYMMDDNN`, the date in US Eastern time and a counter.
    pub eid: String,
    /// Season year, e.g. 2015.
    pub season: u16,
    /// Week of the season.
    pub week: u8,
    /// `REG`, `PRE` or `POST`.
    pub season_type: String,
    /// Kickoff in UTC.
    pub kickoff: DateTime<Utc>,
    /// Day of week as the feed says it (`Thu`, `Sun`, ...).
    pub day: String,
    /// Kickoff time as the feed says it: 12-hour Eastern, no AM/PM.
    pub time: String,
    /// What a client switches on: `quarter`'s state, or one it cannot say
    /// (`postponed`, `canceled`, `delayed`).
    pub state: GameState,
    /// The feed's raw quarter value.
    pub quarter: Quarter,
    /// `MM:SS` left in the quarter while live, else null.
    pub clock: Option<String>,
    /// Team in possession while live.
    pub possession: Option<String>,
    /// The team in possession is inside the opponent's 20.
    pub red_zone: bool,
    /// Home team.
    pub home: Team,
    /// Visiting team.
    pub away: Team,
    /// What else the feed tells fans (ESPN: full names, records, venue,
    /// broadcast, down and distance, the last play); absent when it tells
    /// nothing more (the scorestrip). Never needed to follow the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<GameDetails>,
}

/// Facts beyond the scoreboard, each absent when the feed does not give it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GameDetails {
    /// Home team.
    pub home: TeamDetails,
    /// Visiting team.
    pub away: TeamDetails,
    /// Stadium, e.g. `Soldier Field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    /// Who shows it, e.g. `CBS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<String>,
    /// Down, distance and spot while live, e.g. `1st & 10 at GB 43`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_distance: Option<String>,
    /// The last play, as the feed tells it, while live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_play: Option<String>,
}

/// One side's facts beyond the scoreboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamDetails {
    /// Full name, e.g. `Chicago Bears`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Season record, e.g. `1-0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

/// One score change seen on the feed (SPEC "ScoreEvent").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScoreEvent {
    /// `<eid>-<n>`: the n-th score change of that game, stable across
    /// restarts and nodes because it depends only on the feed.
    pub id: String,
    /// Game id.
    pub eid: String,
    /// Team that scored (for a correction: the team whose score changed).
    pub team: String,
    /// Points added; negative when the feed corrected a score downwards.
    pub points: i32,
    /// Quarter when the change was seen.
    pub quarter: Quarter,
    /// Clock when the change was seen, if live.
    pub clock: Option<String>,
    /// Home score after the change.
    pub home_score: u16,
    /// Away score after the change.
    pub away_score: u16,
    /// When the change happened (feed time).
    pub at: DateTime<Utc>,
}

/// The week a feed document describes (the `<gms>` element).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Week {
    /// Season year.
    pub season: u16,
    /// Week number.
    pub week: u8,
    /// `REG`, `PRE` or `POST`.
    pub season_type: String,
    /// Every game of the week, in feed order.
    pub games: Vec<Game>,
}

/// An event id: `<epoch>-<seq>`.
///
/// The epoch names one history (a database, a Redis stream); it changes when
/// that history is reset, which is how a resuming client learns that its id
/// means nothing here any more. `seq` increases by one per event within an
/// epoch, so ids order events on every node alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    /// Which history this id belongs to.
    pub epoch: u64,
    /// Position in that history, from 1.
    pub seq: u64,
}

impl EventId {
    /// An id in `epoch` at `seq`.
    pub fn new(epoch: u64, seq: u64) -> Self {
        Self { epoch, seq }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.seq)
    }
}

/// A Last-Event-ID that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event id: {0:?}")]
pub struct BadEventId(pub String);

impl FromStr for EventId {
    type Err = BadEventId;
    fn from_str(s: &str) -> Result<Self, BadEventId> {
        let bad = || BadEventId(s.chars().take(64).collect());
        let (epoch, seq) = s.split_once('-').ok_or_else(bad)?;
        if epoch.is_empty() || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(EventId {
            epoch: u64::from_str_radix(epoch, 16).map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// OpenAPI: an opaque string (`<epoch>-<seq>` today; clients must not
/// rely on that).
impl utoipa::PartialSchema for EventId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An event id: opaque, increasing, the same for an event on every node.",
            ))
            .examples([serde_json::json!("19abc-42")])
            .into()
    }
}

impl ToSchema for EventId {}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Longest topic name accepted from a client, in bytes.
pub const MAX_TOPIC_BYTES: usize = 128;

/// The all-games topic: `update` with the full list after every change.
pub const TOPIC_SCORES: &str = "scores";
/// Event name on [`TOPIC_SCORES`].
pub const EVENT_UPDATE: &str = "update";
/// Event name for a game's new state on `game/{eid}`.
pub const EVENT_GAME: &str = "game";
/// Event name for a ScoreEvent on `game/{eid}`.
pub const EVENT_SCORE: &str = "score";
/// Event name for a chat message on `chat/{eid}`.
pub const EVENT_CHAT: &str = "chat";

/// The per-game topic, carrying `game` and `score` events.
pub fn game_topic(eid: &str) -> String {
    format!("game/{eid}")
}

/// The per-game chat topic.
pub fn chat_topic(eid: &str) -> String {
    format!("chat/{eid}")
}

/// True for a valid topic name: non-empty, at most [`MAX_TOPIC_BYTES`],
/// printable ASCII without spaces, so it is safe in a Redis key, a NATS
/// subject suffix, a log line and a metric label alike.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= MAX_TOPIC_BYTES
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.:".contains(&b))
}

/// The state topics (SPEC): `scores` and `game/…`. A lagging client may
/// skip their superseded events in favour of the current state, and their
/// events (the score history) are the last the store would ever shed.
pub fn is_state_topic(topic: &str) -> bool {
    topic == TOPIC_SCORES || topic.starts_with("game/")
}

/// Whether `(topic, event)` carries state: a newer one replaces an older one,
/// so a client that fell behind may skip straight to the latest (conflation).
/// Every other event is a fact a client must not miss.
pub fn is_state_event(topic: &str, event: &str) -> bool {
    (topic == TOPIC_SCORES && event == EVENT_UPDATE)
        || (topic.starts_with("game/") && event == EVENT_GAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_round_trips_and_orders() {
        let a = EventId::new(0x19abc, 9);
        let b = EventId::new(0x19abc, 10);
        assert_eq!(a.to_string(), "19abc-9");
        assert_eq!("19abc-10".parse::<EventId>(), Ok(b));
        assert!(a < b);
        for bad in ["", "-", "abc", "zz-1", "1-", "-1", "1-x", "1-1-1"] {
            assert!(bad.parse::<EventId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn quarter_serializes_as_the_feed_spells_it() {
        for q in ["P", "1", "2", "3", "4", "5", "H", "F", "FO", "S"] {
            let parsed: Quarter = q.parse().expect("known quarter");
            assert_eq!(parsed.as_str(), q);
            assert_eq!(
                serde_json::to_string(&parsed).expect("json"),
                format!("\"{q}\"")
            );
        }
        assert!("Z".parse::<Quarter>().is_err());
        assert_eq!(Quarter::FinalOvertime.state(), GameState::FinalOvertime);
    }

    #[test]
    fn topics_are_checked() {
        assert!(valid_topic("game/2015091000"));
        assert!(valid_topic("chat/2015091000"));
        assert!(!valid_topic(""));
        assert!(!valid_topic("a b"));
        assert!(!valid_topic(&"x".repeat(MAX_TOPIC_BYTES + 1)));
        assert!(is_state_event("scores", "update"));
        assert!(is_state_event("game/1", "game"));
        assert!(!is_state_event("game/1", "score"));
    }
}
