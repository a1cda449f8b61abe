//! `MemoryBus`: the in-process bus for one node (`--bus memory`, the demo).
//!
//! Ids come from a counter under a lock, so publish order is id order. A
//! ring of recent events lets a consumer that lagged refill without loss.
//! Idempotency keys are remembered for [`DEDUP_TTL`] (at most
//! [`DEDUP_KEYS`] of them), like the shared buses' dedupe windows.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::broadcast;

use super::{Bus, BusError, BusHealth, Envelope};
use crate::model::EventId;

/// Events a consumer may fall behind before it gets `Lagged`; it then
/// refills from the ring, so this only trades memory for fewer refills.
pub const CHANNEL_CAPACITY: usize = 4096;

/// Events kept for [`Bus::read_after`]; a consumer further behind than this
/// gets `Evicted` and must start over from current state.
pub const RING_CAPACITY: usize = 16_384;

/// State-topic events (`scores`, `game/…`: score history) also kept in a
/// ring of their own, so a chat flood that pushes them out of the main
/// ring before the store writer took them cannot lose them (see
/// [`Bus::recover_state`]); a live week publishes a few thousand.
pub const STATE_RING_CAPACITY: usize = 20_000;

/// How long an idempotency key is remembered (as long as the Redis bus's).
pub const DEDUP_TTL: Duration = Duration::from_secs(600);

/// Most idempotency keys remembered at once; past it the oldest is
/// forgotten early, so a flood of keys cannot grow memory.
pub const DEDUP_KEYS: usize = 100_000;

/// The in-process bus.
pub struct MemoryBus {
    epoch: u64,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Envelope>>,
}

struct Inner {
    last_seq: u64,
    ring: VecDeque<Arc<Envelope>>,
    /// State-topic events, apart from `ring`.
    state_ring: VecDeque<Arc<Envelope>>,
    /// Highest seq dropped from `state_ring`: it holds every state event
    /// after it.
    state_evicted: u64,
    /// Idempotency key -> the id its first publish got.
    keys: HashMap<String, EventId>,
    /// Keys in the order they were first seen, to expire them.
    key_order: VecDeque<(Instant, String)>,
}

impl Inner {
    /// Forgets keys older than [`DEDUP_TTL`], and the oldest past
    /// [`DEDUP_KEYS`].
    fn expire_keys(&mut self, now: Instant) {
        while let Some((at, key)) = self.key_order.front() {
            if now.duration_since(*at) < DEDUP_TTL && self.key_order.len() < DEDUP_KEYS {
                break;
            }
            self.keys.remove(key);
            self.key_order.pop_front();
        }
    }
}

impl MemoryBus {
    /// A bus giving ids in `epoch` after `last_seq` (0 for a new history;
    /// the store's last id on restart, so ids are never reused).
    pub fn new(epoch: u64, last_seq: u64) -> Self {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            epoch,
            inner: Mutex::new(Inner {
                last_seq,
                ring: VecDeque::new(),
                state_ring: VecDeque::new(),
                state_evicted: last_seq,
                keys: HashMap::new(),
                key_order: VecDeque::new(),
            }),
            tx,
        }
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(
        &self,
        topic: &str,
        event: &str,
        data: Bytes,
        key: Option<&str>,
    ) -> Result<EventId, BusError> {
        let mut inner = self.inner.lock().expect("bus lock poisoned");
        if let Some(key) = key {
            let now = Instant::now();
            inner.expire_keys(now);
            if let Some(id) = inner.keys.get(key) {
                return Ok(*id);
            }
            let id = EventId::new(self.epoch, inner.last_seq + 1);
            inner.keys.insert(key.to_owned(), id);
            inner.key_order.push_back((now, key.to_owned()));
        }
        inner.last_seq += 1;
        let env = Arc::new(Envelope {
            id: EventId::new(self.epoch, inner.last_seq),
            topic: topic.to_owned(),
            event: event.to_owned(),
            data,
            published_us: super::now_us(),
        });
        if inner.ring.len() == RING_CAPACITY {
            inner.ring.pop_front();
        }
        inner.ring.push_back(env.clone());
        if crate::model::is_state_topic(topic) {
            if inner.state_ring.len() == STATE_RING_CAPACITY {
                if let Some(old) = inner.state_ring.pop_front() {
                    inner.state_evicted = old.id.seq;
                }
            }
            inner.state_ring.push_back(env.clone());
        }
        // Sent under the lock so receivers see ids in order; an error only
        // means nobody listens yet, which loses nothing (the ring has it).
        let _ = self.tx.send(env.clone());
        Ok(env.id)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.tx.subscribe()
    }

    async fn read_after(
        &self,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<Arc<Envelope>>, BusError> {
        if after.epoch != self.epoch {
            return Err(BusError::OtherEpoch(after));
        }
        let inner = self.inner.lock().expect("bus lock poisoned");
        match inner.ring.front() {
            Some(first) if first.id.seq > after.seq + 1 => return Err(BusError::Evicted(after)),
            None if inner.last_seq > after.seq => return Err(BusError::Evicted(after)),
            _ => {}
        }
        Ok(inner
            .ring
            .iter()
            .filter(|e| e.id.seq > after.seq)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn recover_state(
        &self,
        after: EventId,
    ) -> Result<(Vec<Arc<Envelope>>, EventId), BusError> {
        let inner = self.inner.lock().expect("bus lock poisoned");
        if after.epoch != self.epoch || inner.state_evicted > after.seq {
            return Err(BusError::Evicted(after));
        }
        // `read_after` works again from just before the main ring's front.
        let resume = inner
            .ring
            .front()
            .map_or(inner.last_seq, |f| f.id.seq.saturating_sub(1));
        let events = inner
            .state_ring
            .iter()
            .filter(|e| e.id.seq > after.seq && e.id.seq <= resume)
            .cloned()
            .collect();
        Ok((events, EventId::new(self.epoch, resume)))
    }

    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn health(&self) -> BusHealth {
        let inner = self.inner.lock().expect("bus lock poisoned");
        BusHealth {
            kind: "memory",
            connected: true,
            last_id: (inner.last_seq > 0).then(|| EventId::new(self.epoch, inner.last_seq)),
            lag: None,
            reconnects: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_increase_and_lagging_readers_refill() {
        let bus = MemoryBus::new(7, 41);
        let mut rx = bus.subscribe();
        let a = bus
            .publish("t", "e", Bytes::from_static(b"1"), None)
            .await
            .expect("publish");
        let b = bus
            .publish("t", "e", Bytes::from_static(b"2"), None)
            .await
            .expect("publish");
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("7-42".into(), "7-43".into())
        );
        assert_eq!(rx.recv().await.expect("live").id, a);
        let after = bus.read_after(a, 10).await.expect("retained");
        assert_eq!(after.iter().map(|e| e.id).collect::<Vec<_>>(), vec![b]);
        assert!(matches!(
            bus.read_after(EventId::new(8, 1), 10).await,
            Err(BusError::OtherEpoch(_))
        ));
        assert!(matches!(
            bus.read_after(EventId::new(7, 1), 10).await,
            Err(BusError::Evicted(_))
        ));
    }

    #[tokio::test]
    async fn state_events_pushed_out_of_the_ring_are_recovered_apart() {
        let bus = MemoryBus::new(1, 0);
        let data = || Bytes::from_static(b"{}");
        bus.publish("game/1", "score", data(), None)
            .await
            .expect("publish");
        for _ in 0..RING_CAPACITY + 10 {
            bus.publish("chat/1", "chat", data(), None)
                .await
                .expect("publish");
        }
        bus.publish("scores", "update", data(), None)
            .await
            .expect("publish");
        let start = EventId::new(1, 0);
        assert!(matches!(
            bus.read_after(start, 10).await,
            Err(BusError::Evicted(_))
        ));
        let (state, resume) = bus.recover_state(start).await.expect("kept apart");
        assert_eq!(state.iter().map(|e| e.id.seq).collect::<Vec<_>>(), vec![1]);
        let rest = bus
            .read_after(resume, 100_000)
            .await
            .expect("ring from there");
        assert_eq!(rest.first().map(|e| e.id.seq), Some(resume.seq + 1));
        assert_eq!(rest.last().map(|e| e.topic.as_str()), Some("scores"));
    }

    #[tokio::test]
    async fn a_publish_retried_with_its_key_is_appended_once() {
        let bus = MemoryBus::new(1, 0);
        let mut rx = bus.subscribe();
        let data = || Bytes::from_static(b"{}");
        let first = bus
            .publish("t", "e", data(), Some("k1"))
            .await
            .expect("publish");
        let again = bus
            .publish("t", "e", data(), Some("k1"))
            .await
            .expect("retry");
        let other = bus
            .publish("t", "e", data(), Some("k2"))
            .await
            .expect("other");
        assert_eq!(again, first);
        assert_ne!(other, first);
        assert_eq!(rx.recv().await.expect("first").id, first);
        assert_eq!(rx.recv().await.expect("other").id, other);
        assert!(rx.try_recv().is_err(), "the retry appended nothing");
    }
}
