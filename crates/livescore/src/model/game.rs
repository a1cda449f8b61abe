//! `Game` and its parts: one game as every client sees it, whatever the
//! sport.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{GameState, Quarter, Sport};

/// The league of every game stored before leagues existed, and of
/// documents that do not say: the NFL, the one league livescore followed.
pub const NFL: &str = "nfl";

pub(super) fn nfl() -> String {
    NFL.into()
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One side of a game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    /// Abbreviation, e.g. `NE`.
    pub abbr: String,
    /// Nickname in lower case, e.g. `patriots`.
    pub nickname: String,
    /// Points, runs or goals; 0 before the start (the feed sends an empty
    /// string then). A shoot-out's goals are not in it (see `shootout`).
    pub score: u16,
    /// Points per period or runs per inning so far, in order; absent when
    /// the feed does not give them (the scorestrip, a soccer board).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linescore: Option<Vec<u16>>,
    /// Goals in a penalty shoot-out (soccer) or shoot-out (hockey), when
    /// there was one; kept apart because they do not count in `score`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shootout: Option<u16>,
}

impl Team {
    /// A side with its score and nothing more (the scorestrip's).
    pub fn new(abbr: impl Into<String>, nickname: impl Into<String>, score: u16) -> Team {
        Team {
            abbr: abbr.into(),
            nickname: nickname.into(),
            score,
            linescore: None,
            shootout: None,
        }
    }
}

/// Baseball's count and bases while an inning is being played.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Situation {
    /// Balls on the batter (0–3).
    pub balls: u8,
    /// Strikes on the batter (0–2).
    pub strikes: u8,
    /// Outs in the half-inning (0–2; 3 between halves).
    pub outs: u8,
    /// A runner on first.
    pub on_first: bool,
    /// A runner on second.
    pub on_second: bool,
    /// A runner on third.
    pub on_third: bool,
}

/// A game as SPEC.md shows it, for every sport. The NFL's fields keep
/// their meaning; the fields added for the other sports are read by
/// clients of any sport (`period`, `period_label`, `state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Game {
    /// The feed's game id (scorestrip `YYYYMMDDNN`, ESPN's event id).
    pub eid: String,
    /// The league's key, as in topics and URLs: `nfl`, `college-football`,
    /// `nba`, `nhl`, `mlb`, `eng.1`… (`nfl` for games stored before
    /// leagues existed).
    #[serde(default = "nfl")]
    #[schema(required = true)]
    pub league: String,
    /// The sport, which decides how `period`, `period_label` and `clock`
    /// read.
    #[serde(default)]
    #[schema(required = true)]
    pub sport: Sport,
    /// Season year, e.g. 2015 (ESPN: the year the season is named by,
    /// e.g. 2025 for the NBA's 2024-25).
    pub season: u16,
    /// Week of the season, for leagues that play by weeks (football);
    /// absent for leagues that play by day (see `date`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<u8>,
    /// `PRE`, `REG`, `POST` or `OFF` (ESPN's soccer boards name a
    /// competition stage instead: `REG`).
    pub season_type: String,
    /// The day of the board the game is on (`YYYY-MM-DD`, the league's
    /// local date), for leagues without weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Kickoff in UTC; a placeholder while `kickoff_tbd`.
    pub kickoff: DateTime<Utc>,
    /// True while the feed has no set start time (ESPN `timeValid:
    /// false`, a college game's "TBD"); absent when the time is set.
    #[serde(default, skip_serializing_if = "is_false")]
    pub kickoff_tbd: bool,
    /// Day of week as the feed says it (`Thu`, `Sun`, ...).
    pub day: String,
    /// Kickoff time as the feed says it: 12-hour Eastern, no AM/PM.
    pub time: String,
    /// What a client switches on: `pregame`, `live`, `halftime`,
    /// `intermission`, `overtime`, `shootout`, `final`, `final_overtime`,
    /// `final_shootout`, `suspended`, `postponed`, `canceled`, `delayed`,
    /// `abandoned` (see GameState).
    pub state: GameState,
    /// The period under way, or the last one played: quarters, periods,
    /// innings or halves, with overtime, extra innings, extra time and
    /// shoot-outs counting on; 0 before the start.
    #[serde(default)]
    #[schema(required = true)]
    pub period: u8,
    /// What a fan reads for `period`: `Q3`, `OT`, `2OT`, `2nd`, `SO`,
    /// `Top 7th`, `Mid 7th`, `Bot 9th`, `1st half`, `HT`, `ET`, `Pens`;
    /// null before the start.
    #[serde(default)]
    #[schema(required = true)]
    pub period_label: Option<String>,
    /// The scorestrip's raw quarter: football's own value; for the other
    /// sports the same vocabulary read coarsely (`P`, `1`–`4`, `5` beyond
    /// regulation, `H`, `F`, `FO`, `S`) so NFL-only clients still tell
    /// before, during and after. Read `period` and `period_label` instead.
    pub quarter: Quarter,
    /// While play is under way: football, basketball, hockey `MM:SS` left
    /// in the period (basketball `MM:SS.t` in the last minute); soccer the
    /// match minute as shown (`67'`, `45'+2'`); baseball never. Else null.
    pub clock: Option<String>,
    /// Team in possession while live (football).
    pub possession: Option<String>,
    /// The team in possession is inside the opponent's 20 (football).
    pub red_zone: bool,
    /// Baseball while an inning is played: balls, strikes, outs and
    /// runners; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub situation: Option<Situation>,
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
