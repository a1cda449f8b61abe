//! Leagues on the board: what each is called (`NBA`, `Premier League`)
//! and `--league`, the user's choice of them.
//!
//! `--league` picks games from the `scores` stream by their `league`
//! field, on this side of the wire: `scores` carries every game a server
//! follows, today's one-league servers and tomorrow's many-league ones
//! alike, so the filter works against both (a server's `scores/{league}`
//! topics would save bandwidth, but a server without them would answer
//! nothing). A chosen league with no game on the board is not an error:
//! its games may come later (the next day's board, a feed added), so
//! `watch` says so and goes on.

use livescore::feed::espn::leagues;
use livescore::model::Game;

/// What a board calls a league: the name the server's league table gives
/// it (`nba` → `NBA`, `eng.1` → `Premier League`), else its key as is.
pub fn name(key: &str) -> String {
    leagues::find(key).map_or_else(|| key.to_string(), |l| l.name.to_string())
}

/// The leagues `--league` chose; empty: every league.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter(Vec<String>);

impl Filter {
    /// The filter for these keys, as typed (`NBA` is `nba`; duplicates
    /// and blanks dropped).
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Filter {
        let mut chosen: Vec<String> = Vec::new();
        for key in keys {
            let key = key.as_ref().trim().to_ascii_lowercase();
            if !key.is_empty() && !chosen.contains(&key) {
                chosen.push(key);
            }
        }
        Filter(chosen)
    }

    /// True when `game` is of a chosen league (or none was chosen).
    pub fn keeps(&self, game: &Game) -> bool {
        self.0.is_empty() || self.0.contains(&game.league)
    }

    /// The games of the chosen leagues, in board order.
    pub fn select(&self, games: &[Game]) -> Vec<Game> {
        games.iter().filter(|g| self.keeps(g)).cloned().collect()
    }

    /// `--league nba: no such league on the board (it has nfl)`: the
    /// chosen leagues without a game on `games` (the whole board), or
    /// `None` when each has some.
    pub fn missing(&self, games: &[Game]) -> Option<String> {
        let absent: Vec<&str> = self
            .0
            .iter()
            .filter(|k| !games.iter().any(|g| g.league == **k))
            .map(String::as_str)
            .collect();
        if absent.is_empty() {
            return None;
        }
        let mut present: Vec<&str> = Vec::new();
        for g in games {
            if !present.contains(&g.league.as_str()) {
                present.push(&g.league);
            }
        }
        let has = if present.is_empty() {
            "it is empty".to_string()
        } else {
            format!("it has {}", present.join(", "))
        };
        let what = if absent.len() == 1 {
            "no such league"
        } else {
            "no such leagues"
        };
        Some(format!(
            "--league {}: {what} on the board ({has})",
            absent.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game(league: &str) -> Game {
        serde_json::from_value(serde_json::json!({
            "eid": "1", "league": league, "season": 2025, "season_type": "REG",
            "kickoff": "2025-06-04T23:00:00Z", "day": "Wed", "time": "7:00",
            "state": "final", "quarter": "F", "clock": null,
            "possession": null, "red_zone": false,
            "home": {"abbr": "A", "nickname": "a", "score": 1},
            "away": {"abbr": "B", "nickname": "b", "score": 0}
        }))
        .expect("a SPEC game")
    }

    #[test]
    fn names_come_from_the_league_table_or_the_key() {
        assert_eq!(name("nba"), "NBA");
        assert_eq!(name("eng.1"), "Premier League");
        assert_eq!(name("ned.1"), "ned.1");
    }

    #[test]
    fn a_filter_keeps_its_leagues_and_names_the_absent_ones() {
        let board = [game("nfl"), game("nhl"), game("nfl")];
        let all = Filter::default();
        assert_eq!(all.select(&board).len(), 3);
        assert_eq!(all.missing(&board), None);

        let nhl = Filter::new(&["NHL", " nhl", ""]);
        assert_eq!(nhl, Filter::new(&["nhl"]));
        assert_eq!(nhl.select(&board), [game("nhl")]);
        assert_eq!(nhl.missing(&board), None);

        let some = Filter::new(&["nba", "nhl", "wnba"]);
        assert_eq!(some.select(&board).len(), 1);
        assert_eq!(
            some.missing(&board).as_deref(),
            Some("--league nba, wnba: no such leagues on the board (it has nfl, nhl)")
        );
        assert_eq!(
            Filter::new(&["nba"]).missing(&[]).as_deref(),
            Some("--league nba: no such league on the board (it is empty)")
        );
    }
}
