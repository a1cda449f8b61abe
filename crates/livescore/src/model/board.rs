//! `Board`: the games one feed document describes, and which board that
//! is (a league's week, or a league's day).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Game, Sport};

/// The games one feed document describes: a league's week (football) or
/// a league's day (every other sport). Football boards keep the fields
/// the NFL's had (`season`, `week`, `season_type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    /// The league's key (`nfl`, `nba`, `eng.1`…).
    pub league: String,
    /// The league's sport.
    pub sport: Sport,
    /// Season year.
    pub season: u16,
    /// Week number, for leagues that play by weeks (0 between seasons).
    pub week: Option<u8>,
    /// The day, for leagues that play by day.
    pub date: Option<NaiveDate>,
    /// `REG`, `PRE`, `POST` or `OFF`.
    pub season_type: String,
    /// Every game of the board, in feed order.
    pub games: Vec<Game>,
}

/// The name the NFL-only code knew the board by: a week of games.
pub type Week = Board;

/// What tells two boards apart: a document of another key starts a new
/// board (next week, next day, another season).
pub type BoardKey = (String, u16, Option<u8>, Option<NaiveDate>, String);

impl Board {
    /// The board a list of games was published as (a stored `scores`
    /// update), told by its first game; `None` for no games.
    pub fn of_games(games: Vec<Game>) -> Option<Board> {
        let first = games.first()?;
        Some(Board {
            league: first.league.clone(),
            sport: first.sport,
            season: first.season,
            week: first.week,
            date: first.date,
            season_type: first.season_type.clone(),
            games,
        })
    }

    /// See [`BoardKey`].
    pub fn key(&self) -> BoardKey {
        (
            self.league.clone(),
            self.season,
            self.week,
            self.date,
            self.season_type.clone(),
        )
    }
}
