//! The board of every league: `scores` holds every game the server
//! follows, made from the league boards (`scores/{league}`) in the order
//! they reach the bus.
//!
//! Why a task of its own that reads the bus, rather than each feed
//! publishing the union: feeds run on tasks of their own and, on a shared
//! bus, on different nodes (one lease per feed). A union made by one feed
//! from what it knows could land after another feed's newer one and put an
//! old board of that league back on `scores`. Made here from the boards in
//! bus order, the last `scores` update always holds the last board of
//! every league. Every node runs one; two nodes that saw the same boards
//! publish the same transition under the same idempotency key, which a
//! shared bus takes once, and one that lags re-derives the same union.
//!
//! The union is the league boards' JSON arrays joined, leagues in key
//! order: no game is decoded or encoded again, and one league's change
//! leaves every other game's bytes (and a delta stream's patch) alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::fingerprint;
use crate::bus::{Bus, BusError, Envelope};
use crate::hub::Hub;
use crate::model;

/// How soon a union the bus did not take is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The latest board of each league and the `scores` board last seen.
#[derive(Debug, Default)]
pub struct Union {
    boards: BTreeMap<String, Bytes>,
    current: Option<Bytes>,
}

impl Union {
    /// The boards a warmed hub holds (from the store or the shared
    /// stream), so a restarted node's first union keeps every league.
    pub fn seed(hub: &Hub) -> Self {
        let mut union = Self::default();
        for frame in hub.league_boards() {
            if let Some(league) = model::board_league(&frame.topic) {
                union.boards.insert(league.to_owned(), frame.data.clone());
            }
        }
        union.current = hub
            .state(model::TOPIC_SCORES, model::EVENT_UPDATE)
            .map(|f| f.data.clone());
        union
    }

    /// Takes one bus event in; true when a league board changed.
    pub fn observe(&mut self, env: &Envelope) -> bool {
        if env.event != model::EVENT_UPDATE {
            return false;
        }
        if env.topic == model::TOPIC_SCORES {
            self.current = Some(env.data.clone());
            return false;
        }
        let Some(league) = model::board_league(&env.topic) else {
            return false;
        };
        if !looks_like_list(&env.data) {
            tracing::warn!(topic = %env.topic, id = %env.id, "a league board that is not a JSON list; left out of `scores`");
            return false;
        }
        self.boards.insert(league.to_owned(), env.data.clone());
        true
    }

    /// Every league's games in one list, leagues in key order; `None`
    /// before any league has a board.
    pub fn board(&self) -> Option<Bytes> {
        if self.boards.is_empty() {
            return None;
        }
        let mut out = BytesMut::with_capacity(self.boards.values().map(Bytes::len).sum::<usize>());
        out.extend_from_slice(b"[");
        let mut first = true;
        for data in self.boards.values() {
            let inner = trim(&data[1..data.len() - 1]);
            if inner.is_empty() {
                continue;
            }
            if !first {
                out.extend_from_slice(b",");
            }
            out.extend_from_slice(inner);
            first = false;
        }
        out.extend_from_slice(b"]");
        Some(out.freeze())
    }

    /// The union to publish, with its idempotency key, when it differs
    /// from the `scores` board last seen.
    pub fn due(&self) -> Option<(Bytes, String)> {
        let board = self.board()?;
        if self.current.as_ref() == Some(&board) {
            return None;
        }
        let before = self.current.as_deref().map_or(0, fingerprint);
        let key = format!("union:{before:016x}:{:016x}", fingerprint(&board));
        Some((board, key))
    }

    /// The leagues that have a board.
    pub fn leagues(&self) -> impl Iterator<Item = &str> {
        self.boards.keys().map(String::as_str)
    }
}

fn looks_like_list(data: &[u8]) -> bool {
    let t = trim(data);
    t.len() >= 2 && t[0] == b'[' && t[t.len() - 1] == b']'
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Publishes `scores` whenever a league board changes, until `cancel`.
/// `rx` must be subscribed before any feed publishes. A burst of boards
/// (every league polled at once) makes one union.
pub async fn run(
    hub: Arc<Hub>,
    bus: Arc<dyn Bus>,
    mut rx: broadcast::Receiver<Arc<Envelope>>,
    cancel: CancellationToken,
) {
    let mut union = Union::seed(&hub);
    loop {
        if let Some((board, key)) = union.due() {
            match bus
                .publish(
                    model::TOPIC_SCORES,
                    model::EVENT_UPDATE,
                    board.clone(),
                    Some(&key),
                )
                .await
            {
                Ok(_) => union.current = Some(board),
                Err(BusError::Closed) => return,
                Err(err) => {
                    tracing::warn!(%err, "the all-leagues board was not published; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(RETRY) => {}
                    }
                    // Whatever came meanwhile is read before the retry.
                }
            }
        }
        let msg = tokio::select! {
            _ = cancel.cancelled() => return,
            msg = rx.recv() => msg,
        };
        match msg {
            Ok(env) => {
                union.observe(&env);
                while let Ok(env) = rx.try_recv() {
                    union.observe(&env);
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // The hub refills itself from the bus's log; its boards
                // are where this carries on from.
                tokio::task::yield_now().await;
                union = Union::seed(&hub);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventId;

    fn env(seq: u64, topic: &str, data: &str) -> Envelope {
        Envelope {
            id: EventId::new(1, seq),
            topic: topic.into(),
            event: model::EVENT_UPDATE.into(),
            data: Bytes::from(data.to_owned()),
            published_us: 0,
        }
    }

    #[test]
    fn every_league_board_is_joined_in_key_order_and_a_new_board_replaces_its_league_only() {
        let mut u = Union::default();
        assert!(u.due().is_none(), "no board, no union");
        assert!(u.observe(&env(1, "scores/nhl", r#"[{"eid":"h1"}]"#)));
        assert!(u.observe(&env(2, "scores/nba", r#"[{"eid":"b1"},{"eid":"b2"}]"#)));
        let (board, _) = u.due().expect("a union");
        assert_eq!(&board[..], br#"[{"eid":"b1"},{"eid":"b2"},{"eid":"h1"}]"#);
        assert!(u.observe(&env(3, "scores/nhl", r#"[{"eid":"h1","x":1}]"#)));
        let (board, _) = u.due().expect("a union");
        assert_eq!(
            &board[..],
            br#"[{"eid":"b1"},{"eid":"b2"},{"eid":"h1","x":1}]"#
        );
        assert!(
            !u.observe(&env(4, "game/1", "{}")),
            "other topics are not boards"
        );
        assert!(!u.observe(&env(5, "scores/nfl", "not json")));
        assert!(u.observe(&env(6, "scores/nfl", "[]")));
        assert_eq!(
            u.due().expect("union").0,
            board,
            "an empty board adds nothing"
        );
    }

    #[test]
    fn a_union_already_on_the_bus_is_not_sent_again_and_keys_follow_the_transition() {
        let mut u = Union::default();
        u.observe(&env(1, "scores/nba", r#"[{"eid":"b1"}]"#));
        let (board, key) = u.due().expect("a union");
        // Another node published the same transition first.
        u.observe(&env(
            2,
            "scores",
            std::str::from_utf8(&board).expect("utf8"),
        ));
        assert!(u.due().is_none());
        u.observe(&env(3, "scores/nba", r#"[{"eid":"b1","s":1}]"#));
        let (_, next) = u.due().expect("a union");
        assert_ne!(key, next);
        let mut other = Union::default();
        other.observe(&env(1, "scores/nba", r#"[{"eid":"b1"}]"#));
        other.observe(&env(
            2,
            "scores",
            std::str::from_utf8(&board).expect("utf8"),
        ));
        other.observe(&env(3, "scores/nba", r#"[{"eid":"b1","s":1}]"#));
        assert_eq!(
            other.due().expect("a union").1,
            next,
            "two nodes that saw the same boards publish under one key"
        );
    }
}
