//! The shapes of SPEC.md: `Game`, `ScoreEvent`, `EventId`, the board a
//! feed document describes, topic names, and each sport's rules.
//!
//! Pure data, no I/O. Everything that crosses a module boundary or the wire
//! is defined here once, so the JSON a client sees has one source of truth.
//!
//! - `game`: `Game`, `Team`, `Situation`, `GameDetails`;
//! - `state`: `GameState`, what a client switches on;
//! - `quarter`: the NFL's raw quarter, kept for football clients;
//! - `board`: `Board` (alias `Week`), one feed document's games;
//! - `event`: `ScoreEvent`, `EventId`;
//! - `sport/`: one file per sport: periods, labels, clocks, states.

mod board;
mod event;
mod game;
mod quarter;
pub mod sport;
mod state;

pub use board::{Board, BoardKey, Week};
pub use event::{BadEventId, EventId, ScoreEvent};
pub use game::{Game, GameDetails, Situation, Team, TeamDetails, NFL};
pub use quarter::Quarter;
pub use sport::Sport;
pub use state::GameState;

/// Longest topic name accepted from a client, in bytes.
pub const MAX_TOPIC_BYTES: usize = 128;

/// The all-games topic: `update` with every game the server follows (all
/// leagues) after every change.
pub const TOPIC_SCORES: &str = "scores";
/// Prefix of one league's board topic, `scores/{league}`.
pub const BOARD_PREFIX: &str = "scores/";
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

/// One league's board topic, `scores/{league}`: `update` with that
/// league's games (its week or its day).
pub fn board_topic(league: &str) -> String {
    format!("{BOARD_PREFIX}{league}")
}

/// The league of a board topic (`scores/nba` → `nba`).
pub fn board_league(topic: &str) -> Option<&str> {
    topic.strip_prefix(BOARD_PREFIX).filter(|l| !l.is_empty())
}

/// True for a topic whose `update` is a board: `scores` (every league) and
/// `scores/{league}`. Each update replaces the last, and a `?delta=true`
/// stream gets it as a patch.
pub fn is_board_topic(topic: &str) -> bool {
    topic == TOPIC_SCORES || board_league(topic).is_some()
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

/// The state topics (SPEC): `scores`, `scores/{league}` and `game/…`. A lagging client may
/// skip their superseded events in favour of the current state, and their
/// events (the score history) are the last the store would ever shed.
pub fn is_state_topic(topic: &str) -> bool {
    is_board_topic(topic) || topic.starts_with("game/")
}

/// Whether `(topic, event)` carries state: a newer one replaces an older one,
/// so a client that fell behind may skip straight to the latest (conflation).
/// Every other event is a fact a client must not miss.
pub fn is_state_event(topic: &str, event: &str) -> bool {
    (is_board_topic(topic) && event == EVENT_UPDATE)
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
        assert!(is_state_event("scores/nba", "update"));
        assert!(is_state_topic("scores/eng.1"));
        assert!(!is_board_topic("scores/"));
        assert_eq!(board_league("scores/eng.1"), Some("eng.1"));
        assert_eq!(board_topic("nhl"), "scores/nhl");
        assert!(is_state_event("game/1", "game"));
        assert!(!is_state_event("game/1", "score"));
    }
}
