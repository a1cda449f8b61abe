//! `Quarter`: the scorestrip's raw quarter value, the NFL's original
//! vocabulary for where a game stands.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use super::sport::{Moment, Phase};
use super::GameState;
use super::Sport;

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

    /// The moment this quarter value describes, for the football rules to
    /// read (the period and label of a scorestrip game): halftime is after
    /// the 2nd quarter, a final after the 4th, a final in overtime after
    /// the 5th; a suspended game's period is not said (0).
    pub fn moment(&self) -> Moment {
        let (phase, period) = match *self {
            Quarter::Pregame => (Phase::Scheduled, 0),
            Quarter::Period(n) => (Phase::Playing, n),
            Quarter::Halftime => (Phase::Halftime, 2),
            Quarter::Final => (
                Phase::Over {
                    shootout: false,
                    extra_time: false,
                },
                4,
            ),
            Quarter::FinalOvertime => (
                Phase::Over {
                    shootout: false,
                    extra_time: true,
                },
                5,
            ),
            Quarter::Suspended => (Phase::Suspended, 0),
        };
        Moment {
            phase,
            period,
            regulation: 4,
            half: None,
        }
    }

    /// What a fan reads for this quarter (`Q3`, `OT`, `Half`), by the
    /// football rules; `None` before the kickoff.
    pub fn period_label(&self) -> Option<String> {
        Sport::Football.read(&self.moment()).label
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
