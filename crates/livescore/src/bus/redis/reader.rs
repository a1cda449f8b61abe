//! The reader task: the one place a node hears the shared stream (its
//! reconnect loop is every bus's, [`read_until_cancelled`]).
//!
//! It reads with a blocking `XREAD` from the last id it delivered and
//! broadcasts each entry locally in stream order. Every error ends the
//! connection; it reconnects with a capped backoff and reads on from the
//! same id, so an outage costs latency, never an event, and never a
//! repeat. Each round also asks for the epoch and the head seq: a changed
//! epoch (Redis lost its data) restarts reading from the new stream's
//! start; the head gives `/healthz` its lag.

use std::sync::Arc;
use std::time::Duration;

use redis::streams::{StreamId, StreamReadReply};
use redis::AsyncConnectionConfig;
use tokio_util::sync::CancellationToken;

use super::{RedisBus, RESPONSE_TIMEOUT};
use crate::bus::retry::{read_until_cancelled, Session};
use crate::bus::{BusError, Envelope};
use crate::model::EventId;

/// How long one `XREAD` blocks when nothing is new. Bounds how soon a
/// flushed Redis (new epoch, shorter stream) is noticed and how fresh the
/// reported lag is.
pub const READ_BLOCK: Duration = Duration::from_secs(1);
/// Most entries taken per read.
pub const READ_BATCH: usize = 1_000;

impl RedisBus {
    /// Delivers the stream to this node's subscribers until `cancel`.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let lost = || self.lock().lost();
        read_until_cancelled("Redis", &cancel, &self.reconnects, lost, || {
            self.read_until_error()
        })
        .await;
        // Shutdown: publishes give up too.
        self.close();
    }

    /// One connection's life: reads and delivers until an error.
    async fn read_until_error(&self) -> Session {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT + READ_BLOCK));
        let broken = |err: redis::RedisError, was_reading| Session::Broken {
            err: err.into(),
            was_reading,
        };
        let mut conn = match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(c) => c,
            Err(err) => return broken(err, false),
        };
        let mut was_reading = false;
        loop {
            let after = self.lock().delivered();
            let reply: Result<(Option<String>, Option<u64>, Option<StreamReadReply>), _> =
                redis::pipe()
                    .cmd("GET")
                    .arg(&self.keys.epoch)
                    .cmd("GET")
                    .arg(&self.keys.seq)
                    .cmd("XREAD")
                    .arg("COUNT")
                    .arg(READ_BATCH)
                    .arg("BLOCK")
                    .arg(READ_BLOCK.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(&self.keys.stream)
                    .arg(format!("{after}-0"))
                    .query_async(&mut conn)
                    .await;
            let (epoch, head, read) = match reply {
                Ok(r) => r,
                Err(err) => return broken(err, was_reading),
            };
            if self.lock().reconnected(head.unwrap_or(0)) {
                tracing::info!(after, "Redis bus reconnected; catching up");
            }
            was_reading = true;
            if let Some(epoch) = epoch.and_then(|e| e.parse::<u64>().ok()) {
                if self.lock().observe_epoch(epoch, "Redis history") {
                    // What this read returned was read after an id of the
                    // old history: re-read the new stream from its start.
                    continue;
                }
            }
            let entries = read.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
            for entry in entries {
                match parse(&entry) {
                    Ok(env) => {
                        if !self.deliver(Arc::new(env)) {
                            break; // epoch changed mid-batch: re-read from the start
                        }
                    }
                    Err(err) => self.skip(&entry, &err),
                }
            }
        }
    }

    /// Steps over an entry that does not read as an event (written by
    /// something else under our prefix), so it cannot stall every node.
    fn skip(&self, entry: &StreamId, err: &BusError) {
        tracing::error!(%err, id = entry.id, "skipping a stream entry that is not an event");
        metrics::counter!("livescore_bus_corrupt_total").increment(1);
        let seq = entry
            .id
            .split_once('-')
            .and_then(|(s, _)| s.parse::<u64>().ok());
        if let Some(seq) = seq {
            self.lock().advance(seq);
        }
    }

    /// Broadcasts one entry if it is the next one; false when it belongs to
    /// another epoch (the caller re-reads).
    fn deliver(&self, env: Arc<Envelope>) -> bool {
        let mut s = self.lock();
        if env.id.epoch != s.epoch() {
            return !s.observe_epoch(env.id.epoch, "Redis history");
        }
        if !s.advance(env.id.seq) {
            return true; // already delivered (cannot happen with XREAD after an id)
        }
        // Sent under the lock so receivers see ids in order; an error only
        // means nobody listens, which loses nothing (the stream has it).
        let _ = self.tx.send(env);
        true
    }
}

/// Stream entries as envelopes, in stream order.
pub(super) fn parse_all(entries: &[StreamId]) -> Result<Vec<Arc<Envelope>>, BusError> {
    entries.iter().map(|e| parse(e).map(Arc::new)).collect()
}

fn parse(entry: &StreamId) -> Result<Envelope, BusError> {
    let corrupt = |what: &str| BusError::Corrupt(format!("stream entry {}: {what}", entry.id));
    let seq = entry
        .id
        .split_once('-')
        .and_then(|(s, _)| s.parse::<u64>().ok())
        .ok_or_else(|| corrupt("id"))?;
    let epoch = entry
        .get::<String>("e")
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or_else(|| corrupt("epoch"))?;
    let topic: String = entry.get("t").ok_or_else(|| corrupt("topic"))?;
    let event: String = entry.get("v").ok_or_else(|| corrupt("event"))?;
    let data: Vec<u8> = entry.get("d").ok_or_else(|| corrupt("data"))?;
    // Redis's clock when the entry was added; entries written before the
    // field existed have none.
    let published_us = entry
        .get::<String>("p")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Ok(Envelope {
        id: EventId::new(epoch, seq),
        topic,
        event,
        data: data.into(),
        published_us,
    })
}
