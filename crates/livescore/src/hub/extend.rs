//! What a subscription starts with, and growing a live subscription.
//!
//! `Start::Current` means "what a newcomer needs to make sense of the
//! topics": the latest state events, plus the last [`CHAT_REPLAY`] chat
//! messages of each `chat/…` topic (so a fan opening a game's chat sees the
//! conversation, not an empty room). A reset ends in the same frames.
//!
//! [`Hub::extend`] serves a WebSocket connection that adds topics to the
//! ones it already follows. It replaces the connection's subscriber with
//! one for the union, built under the hub lock from the old subscriber's
//! position `P` (everything at or below `P` on the old topics was already
//! delivered): first the added topics' starting frames that are at or below
//! `P` (their current state, last chats, or history after the client's id),
//! then every event after `P` on the union, then live. Nothing on the old
//! topics is lost or repeated across the switch, and the added topics start
//! exactly as a fresh subscription would. Only the head frames carry ids
//! older than ones already sent (they are older events): a client that
//! resumes from one of those gets a few events again, never a gap.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::{Frame, Hub, Inner, ResetReason, Snapshot, Start, Subscriber};
use crate::model;

/// Chat messages a new subscriber to `chat/{eid}` gets first (the issue's
/// "last 50"); bounded by the history kept per topic.
pub const CHAT_REPLAY: usize = 50;

impl Hub {
    /// A subscriber for `topics` (validated, sorted, deduplicated) that
    /// continues one positioned at `after_seq` (see [`Subscriber::position`])
    /// on the topics not in `added`, and starts the `added` ones per `start`.
    pub fn extend(
        self: &Arc<Self>,
        topics: Vec<String>,
        added: &[String],
        after_seq: u64,
        start: Start,
    ) -> Subscriber {
        let key: Arc<[String]> = topics.into();
        let snap = {
            let mut inner = self.lock();
            let rx = inner.receiver(&key);
            let (epoch, last_seq) = inner.position();
            let mut head = match start {
                Start::Current => inner.initial(added),
                Start::Unknown(sent) => inner.reset(added, ResetReason::Unknown, &sent),
                Start::After(id) => match inner.check_resume(added, id) {
                    Ok(()) => inner.after(added, id.seq, false),
                    Err(reason) => inner.reset_from(added, reason, id),
                },
            };
            // Frames after `after_seq` come in the tail, once, in order.
            head.retain(|f| f.id.seq <= after_seq || is_reset(f));
            head.extend(inner.after(&key, after_seq, false));
            Snapshot {
                backlog: head,
                resume: None,
                rx,
                last_seq,
                epoch,
            }
        };
        Subscriber::new(self.clone(), key, snap)
    }
}

fn is_reset(f: &Frame) -> bool {
    f.topic.is_empty() && f.event == "reset"
}

impl Inner {
    /// The live receiver for this topic set, creating its channel if needed
    /// (one already closed, once the hub is).
    pub(super) fn receiver(&mut self, key: &Arc<[String]>) -> broadcast::Receiver<Arc<Frame>> {
        if self.closed {
            return broadcast::channel(1).1;
        }
        self.channels.receiver(key)
    }

    /// What a subscription without history starts with: current state of
    /// the state topics and the last [`CHAT_REPLAY`] chats, in id order.
    pub(super) fn initial(&self, key: &[String]) -> Vec<Arc<Frame>> {
        let mut out = self.current_state(key);
        for topic in key.iter().filter(|t| t.starts_with("chat/")) {
            let Some(entry) = self.topics.get(topic) else {
                continue;
            };
            let chats: Vec<_> = entry
                .history
                .iter()
                .rev()
                .filter(|f| f.event == model::EVENT_CHAT)
                .take(CHAT_REPLAY)
                .cloned()
                .collect();
            out.extend(chats);
        }
        out.sort_by_key(|f| f.id.seq);
        out
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::bus::Envelope;
    use crate::hub::Next;
    use crate::model::EventId;

    fn env(seq: u64, topic: &str, event: &str) -> Envelope {
        Envelope {
            id: EventId::new(1, seq),
            topic: topic.into(),
            event: event.into(),
            data: Bytes::from_static(b"{}"),
            published_us: 0,
        }
    }

    fn drain(sub: &mut Subscriber) -> Vec<u64> {
        let mut out = Vec::new();
        while let Next::Frame(f) = sub.try_next() {
            out.push(f.id.seq);
        }
        out
    }

    fn topics(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_new_chat_subscriber_gets_the_last_fifty_messages_then_live() {
        let hub = Hub::new(1);
        for seq in 1..=80 {
            hub.ingest(&env(seq, "chat/g", "chat"));
        }
        let mut sub = hub.subscribe(topics(&["chat/g"]), Start::Current);
        assert_eq!(drain(&mut sub), (31..=80).collect::<Vec<_>>());
        hub.ingest(&env(81, "chat/g", "chat"));
        assert_eq!(drain(&mut sub), vec![81]);
    }

    #[test]
    fn extending_keeps_old_topics_exact_and_starts_added_ones_fresh() {
        let hub = Hub::new(1);
        hub.ingest(&env(1, "game/g", "game"));
        hub.ingest(&env(2, "chat/g", "chat"));
        hub.ingest(&env(3, "scores", "update"));
        let mut old = hub.subscribe(topics(&["scores"]), Start::Current);
        assert_eq!(drain(&mut old), vec![3]);
        // Events the old subscriber has not read yet when the client adds topics.
        hub.ingest(&env(4, "scores", "update"));
        hub.ingest(&env(5, "game/g", "score"));
        hub.ingest(&env(6, "chat/g", "chat"));
        let pos = old.position();
        assert_eq!(pos, 3);
        let mut new = hub.extend(
            topics(&["chat/g", "game/g", "scores"]),
            &topics(&["chat/g", "game/g"]),
            pos,
            Start::Current,
        );
        // Head: state and chat of the added topics at or before 3; tail: all after 3.
        assert_eq!(drain(&mut new), vec![1, 2, 4, 5, 6]);
        hub.ingest(&env(7, "game/g", "game"));
        assert_eq!(drain(&mut new), vec![7]);
    }

    #[test]
    fn extending_from_an_unknown_id_sends_a_reset_for_the_added_topics() {
        let hub = Hub::new(1);
        hub.ingest(&env(1, "game/g", "game"));
        hub.ingest(&env(2, "scores", "update"));
        let mut new = hub.extend(
            topics(&["game/g", "scores"]),
            &topics(&["game/g"]),
            2,
            Start::Unknown("junk".into()),
        );
        let Next::Frame(reset) = new.try_next() else {
            panic!("reset expected")
        };
        assert_eq!(reset.event, "reset");
        assert_eq!(drain(&mut new), vec![1]);
    }
}
