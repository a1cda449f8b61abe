//! One batch of bus events turned into rows for every table, the same for
//! both backends. Pure: no I/O, so what gets derived (a game's state, a
//! ScoreEvent) is decided and tested once.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::bus::Envelope;
use crate::model::{self, ScoreEvent, NFL};

/// A row of `events`: the log itself.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Id epoch.
    pub epoch: i64,
    /// Id seq.
    pub seq: i64,
    /// Topic.
    pub topic: String,
    /// Event name.
    pub event: String,
    /// JSON as published, byte for byte (a replay must send the same data).
    pub data: String,
    /// When this node saw it.
    pub at: DateTime<Utc>,
}

/// A row of `games`: the latest state of one game.
#[derive(Debug, Clone, PartialEq)]
pub struct GameRow {
    /// Game id (from the topic `game/{eid}`).
    pub eid: String,
    /// The game's league, from its JSON (`nfl` when it does not say), so
    /// a league's games are listed without reading every game's JSON.
    pub league: String,
    /// Game JSON as published.
    pub data: String,
    /// Id epoch of the event it came from.
    pub epoch: i64,
    /// Id seq of that event; an older one never overwrites a newer one.
    pub seq: i64,
    /// When this node saw it.
    pub at: DateTime<Utc>,
}

/// A row of `score_events`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    /// The ScoreEvent.
    pub score: ScoreEvent,
    /// Id epoch of the event it came from.
    pub epoch: i64,
    /// Id seq of that event, which orders a game's history.
    pub seq: i64,
}

/// Everything one transaction writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Every event, in id order.
    pub events: Vec<EventRow>,
    /// At most one row per game: its latest state in the batch.
    pub games: Vec<GameRow>,
    /// Every ScoreEvent, in id order.
    pub scores: Vec<ScoreRow>,
}

/// Ids are `u64` on the bus; both databases store signed 64-bit integers.
/// Epochs are milliseconds since 1970 and seqs count events, so neither
/// comes near `i64::MAX`; saturating keeps a corrupt id from panicking.
pub fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Batch {
    /// Rows for `events` (in id order), seen at `at`. A `score` event whose
    /// data is not a ScoreEvent (a bad publish) is logged in the log but
    /// derives nothing: one bad payload must not wedge the writer.
    pub fn from_events(events: &[Arc<Envelope>], at: DateTime<Utc>) -> Batch {
        let mut batch = Batch::default();
        let mut game_index: HashMap<String, usize> = HashMap::new();
        for env in events {
            let (epoch, seq) = (to_i64(env.id.epoch), to_i64(env.id.seq));
            let data = String::from_utf8_lossy(&env.data).into_owned();
            if let Some(eid) = env.topic.strip_prefix("game/") {
                if env.event == model::EVENT_GAME {
                    let row = GameRow {
                        eid: eid.to_string(),
                        league: league_of(&env.data),
                        data: data.clone(),
                        epoch,
                        seq,
                        at,
                    };
                    match game_index.get(eid) {
                        Some(&i) => batch.games[i] = row,
                        None => {
                            game_index.insert(eid.to_string(), batch.games.len());
                            batch.games.push(row);
                        }
                    }
                } else if env.event == model::EVENT_SCORE {
                    match serde_json::from_slice::<ScoreEvent>(&env.data) {
                        Ok(score) if score.eid == eid => {
                            batch.scores.push(ScoreRow { score, epoch, seq })
                        }
                        Ok(_) => {
                            tracing::warn!(id = %env.id, "score event for another game; kept in the log only")
                        }
                        Err(err) => {
                            tracing::warn!(id = %env.id, %err, "score event is not a ScoreEvent; kept in the log only")
                        }
                    }
                }
            }
            batch.events.push(EventRow {
                epoch,
                seq,
                topic: env.topic.clone(),
                event: env.event.clone(),
                data,
                at,
            });
        }
        batch
    }

    /// Number of events in the batch.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// The league a game's JSON names: `nfl` when it names none (a game
/// published before leagues existed) or is not a JSON object, like
/// `Game`'s own default, so the column and the JSON never disagree.
fn league_of(data: &[u8]) -> String {
    #[derive(Deserialize)]
    struct League {
        league: Option<String>,
    }
    serde_json::from_slice::<League>(data)
        .ok()
        .and_then(|g| g.league)
        .unwrap_or_else(|| NFL.into())
}

/// Rebuilds an [`Envelope`] from stored columns.
pub fn envelope(epoch: i64, seq: i64, topic: String, event: String, data: String) -> Envelope {
    Envelope {
        id: model::EventId::new(epoch.max(0) as u64, seq.max(0) as u64),
        topic,
        event,
        data: bytes::Bytes::from(data),
        published_us: 0,
    }
}

/// Columns of `score_events` as both backends read them (the order of
/// [`SCORE_COLUMNS`]).
pub type ScoreColumns = (
    String,
    String,
    String,
    i32,
    String,
    String,
    i32,
    Option<String>,
    Option<String>,
    i32,
    i32,
    DateTime<Utc>,
);

/// The `score_events` columns a [`ScoreEvent`] is read back from.
pub const SCORE_COLUMNS: &str = "id, eid, team, points, league, quarter, period, period_label, \
     clock, home_score, away_score, at";

/// Rebuilds a [`ScoreEvent`] from stored columns: what was written, the
/// league, period and label included (rows stored before those columns
/// existed were filled in by the migration that added them).
pub fn score_event(cols: ScoreColumns) -> Result<ScoreEvent, super::StoreError> {
    let (id, eid, team, points, league, quarter, period, period_label, clock, home, away, at) =
        cols;
    let bad = |what: &str| super::StoreError::Corrupt(format!("score event {id}: {what}"));
    Ok(ScoreEvent {
        quarter: quarter.parse().map_err(|()| bad("quarter"))?,
        period: u8::try_from(period).map_err(|_| bad("period"))?,
        home_score: u16::try_from(home).map_err(|_| bad("home score"))?,
        away_score: u16::try_from(away).map_err(|_| bad("away score"))?,
        league,
        period_label,
        id,
        eid,
        team,
        points,
        clock,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventId;
    use bytes::Bytes;

    fn env(seq: u64, topic: &str, event: &str, data: &str) -> Arc<Envelope> {
        Arc::new(Envelope {
            id: EventId::new(9, seq),
            topic: topic.into(),
            event: event.into(),
            data: Bytes::from(data.to_string()),
            published_us: 0,
        })
    }

    #[test]
    fn games_keep_their_latest_state_and_scores_are_parsed() {
        let score = r#"{"id":"g1-1","eid":"g1","team":"NE","points":7,"quarter":"1","clock":"05:11","home_score":7,"away_score":0,"at":"2015-09-11T00:51:02Z"}"#;
        let batch = Batch::from_events(
            &[
                env(1, "game/g1", "game", r#"{"v":1}"#),
                env(2, "game/g1", "score", score),
                env(3, "game/g1", "game", r#"{"v":2}"#),
                env(4, "game/g1", "score", "not json"),
                env(5, "scores", "update", "[]"),
                env(6, "chat/g1", "chat", r#"{"text":"hi"}"#),
            ],
            Utc::now(),
        );
        assert_eq!(batch.len(), 6, "every event is logged, even a bad one");
        assert_eq!(batch.games.len(), 1);
        assert_eq!(
            (batch.games[0].seq, batch.games[0].data.as_str()),
            (3, r#"{"v":2}"#)
        );
        assert_eq!(batch.scores.len(), 1);
        assert_eq!(batch.scores[0].score.id, "g1-1");
        assert_eq!(batch.scores[0].seq, 2);
    }

    #[test]
    fn a_games_league_comes_from_its_json_and_is_the_nfl_when_unsaid() {
        let batch = Batch::from_events(
            &[
                env(1, "game/a", "game", r#"{"eid":"a","league":"nba"}"#),
                env(2, "game/b", "game", r#"{"eid":"b"}"#),
                env(3, "game/c", "game", r#"["not", "a game"]"#),
            ],
            Utc::now(),
        );
        let leagues: Vec<_> = batch.games.iter().map(|g| g.league.as_str()).collect();
        assert_eq!(leagues, ["nba", "nfl", "nfl"]);
    }
}
