//! `ScoreEvent`, one score change, and `EventId`, the bus's id of any
//! event.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use super::Quarter;

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
    /// The game's league (`nfl` for events stored before leagues
    /// existed).
    #[serde(default = "super::game::nfl")]
    #[schema(required = true)]
    pub league: String,
    /// Quarter when the change was seen (the scorestrip's vocabulary, see
    /// `Game.quarter`).
    pub quarter: Quarter,
    /// The game's `period` when the change was seen.
    #[serde(default)]
    #[schema(required = true)]
    pub period: u8,
    /// The game's `period_label` when the change was seen.
    #[serde(default)]
    #[schema(required = true)]
    pub period_label: Option<String>,
    /// Clock when the change was seen, if live.
    pub clock: Option<String>,
    /// Home score after the change.
    pub home_score: u16,
    /// Away score after the change.
    pub away_score: u16,
    /// When the change happened (feed time).
    pub at: DateTime<Utc>,
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
