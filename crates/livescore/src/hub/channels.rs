//! The hub's live channels, one per distinct topic set, found by topic.
//!
//! Clients choose their topic sets, so the number of distinct sets is the
//! attacker's to pick (up to one per connection). An event must reach only
//! the channels whose set holds its topic, without walking the others under
//! the hub lock: so each channel is listed under each of its topics, and a
//! publish costs the channels that want it, never O(connections).
//!
//! A channel whose receivers are all gone is forgotten when its topic next
//! gets an event, and, for topics that never do, by a sweep each time the
//! map doubles: dead channels stay at most as many as live ones.
//!
//! A channel also lists the [`Slot`]s of its subscribers that went fast
//! (see `direct`): an event is written to those by the publishing task,
//! and its channel send wakes only the subscribers still on the slow path.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::broadcast;

use super::direct::Slot;
use super::{Frame, CHANNEL_CAPACITY};

type Tx = broadcast::Sender<Arc<Frame>>;
/// A channel's topic set, shared by its entries in both maps.
type Key = Arc<[String]>;

/// Fewest channels before the first sweep.
const FIRST_SWEEP: usize = 64;

/// One channel: its sender, and the slots of its fast subscribers, by
/// address (joined and left in O(1), walked per event).
struct Channel {
    tx: Tx,
    fast: HashMap<usize, Arc<Slot>>,
}

fn slot_id(slot: &Arc<Slot>) -> usize {
    Arc::as_ptr(slot) as usize
}

#[derive(Default)]
pub(super) struct Channels {
    by_key: HashMap<Key, Channel>,
    /// Every channel again under each topic of its set.
    by_topic: HashMap<String, Vec<(Key, Tx)>>,
    /// The size at which the next sweep runs.
    sweep_at: usize,
}

impl Channels {
    /// A receiver on `key`'s channel, creating the channel if needed.
    pub(super) fn receiver(&mut self, key: &Arc<[String]>) -> broadcast::Receiver<Arc<Frame>> {
        if let Some(ch) = self.by_key.get(key) {
            return ch.tx.subscribe();
        }
        if self.by_key.len() >= self.sweep_at.max(FIRST_SWEEP) {
            self.sweep();
        }
        let (tx, rx) = broadcast::channel(CHANNEL_CAPACITY);
        for topic in key.iter() {
            self.by_topic
                .entry(topic.clone())
                .or_default()
                .push((key.clone(), tx.clone()));
        }
        self.by_key.insert(
            key.clone(),
            Channel {
                tx,
                fast: HashMap::new(),
            },
        );
        rx
    }

    /// Lists `slot` among `key`'s fast subscribers; false when the channel
    /// is gone (the hub closed).
    pub(super) fn join(&mut self, key: &Arc<[String]>, slot: &Arc<Slot>) -> bool {
        let Some(ch) = self.by_key.get_mut(key) else {
            return false;
        };
        ch.fast.insert(slot_id(slot), slot.clone());
        true
    }

    /// Forgets `slot` (its subscription ended): the socket it holds closes
    /// with the task's last reference rather than at the next event.
    pub(super) fn leave(&mut self, key: &Arc<[String]>, slot: &Arc<Slot>) {
        if let Some(ch) = self.by_key.get_mut(key) {
            ch.fast.remove(&slot_id(slot));
        }
    }

    /// Gives every fast subscriber its socket back: each must read its
    /// subscription (a new history's reset, or its end).
    pub(super) fn hand_back_all(&self) {
        for ch in self.by_key.values() {
            for slot in ch.fast.values() {
                slot.hand_back();
            }
        }
    }

    /// Sends `frame` to every channel whose set holds `topic`, and puts
    /// those channels' fast slots in `fast` for the caller to write after
    /// the hub lock; returns how many channels it was offered to (the cost
    /// of this publish).
    pub(super) fn send(
        &mut self,
        topic: &str,
        frame: &Arc<Frame>,
        fast: &mut Vec<Arc<Slot>>,
    ) -> usize {
        let Some(list) = self.by_topic.get_mut(topic) else {
            return 0;
        };
        for (key, _) in list.iter() {
            if let Some(ch) = self.by_key.get(key) {
                fast.extend(ch.fast.values().filter(|s| s.is_fast()).cloned());
            }
        }
        let offered = list.len();
        let mut dead = Vec::new();
        // An error means no receivers left: forget the channel.
        list.retain(|(key, tx)| {
            let alive = tx.send(frame.clone()).is_ok();
            if !alive {
                dead.push(key.clone());
            }
            alive
        });
        for key in dead {
            self.forget(&key);
        }
        offered
    }

    /// Every channel, for a message to all (an epoch's reset).
    pub(super) fn all(&self) -> Vec<(Arc<[String]>, Tx)> {
        self.by_key
            .iter()
            .map(|(key, ch)| (key.clone(), ch.tx.clone()))
            .collect()
    }

    /// Drops every sender, so each subscription ends once it has read
    /// what it holds.
    pub(super) fn clear(&mut self) {
        self.hand_back_all();
        self.by_key.clear();
        self.by_topic.clear();
    }

    /// Number of channels kept (live or not yet forgotten).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }

    fn forget(&mut self, key: &Arc<[String]>) {
        self.by_key.remove(key);
        for topic in key.iter() {
            if let Some(list) = self.by_topic.get_mut(topic) {
                list.retain(|(k, _)| !Arc::ptr_eq(k, key));
                if list.is_empty() {
                    self.by_topic.remove(topic);
                }
            }
        }
    }

    /// Forgets every channel without receivers; the next sweep runs when
    /// the map has doubled from what is left.
    fn sweep(&mut self) {
        let dead: Vec<Arc<[String]>> = self
            .by_key
            .iter()
            .filter(|(_, ch)| ch.tx.receiver_count() == 0)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &dead {
            self.forget(key);
        }
        self.sweep_at = (self.by_key.len() * 2).max(FIRST_SWEEP);
    }
}
