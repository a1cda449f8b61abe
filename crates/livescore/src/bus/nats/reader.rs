//! The reader task: the one place a node hears the shared stream.
//!
//! Each session makes an ephemeral pull consumer (no acks) starting after
//! the last sequence this node delivered and broadcasts each message
//! locally in stream order. Every second it also reads the stream info:
//! the last sequence gives `/healthz` its lag, a changed creation time (the
//! stream was deleted and recreated) restarts reading from the new
//! stream's start under the new epoch. Any error, or a client disconnect
//! (the consumer may have died with the server), ends the session; the next
//! one starts after a capped backoff from the same sequence, so an outage
//! costs latency, never an event, and never a repeat.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::stream::{ensure_stream, ephemeral, epoch_of, fenced_out, parse, unavailable};
use super::NatsBus;
use super::READ_BATCH;
use crate::bus::retry::{read_until_cancelled, Session};
use crate::bus::BusError;
use time::OffsetDateTime;

/// A session that broke; `was_reading` once its consumer was made.
fn broken(err: BusError, was_reading: bool) -> Session {
    Session::Broken { err, was_reading }
}

/// How often the reader reads the stream info (lag, epoch, liveness).
pub const INFO_EVERY: Duration = Duration::from_secs(1);
/// How long the server keeps a reader's consumer after the reader is gone.
const CONSUMER_IDLE: Duration = Duration::from_secs(30);

impl NatsBus {
    /// Delivers the stream to this node's subscribers until `cancel`.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let lost = || self.lock().read.lost();
        read_until_cancelled("NATS", &cancel, &self.reconnects, lost, || self.session()).await;
        // Shutdown: publishes give up too.
        self.close();
    }

    /// One consumer's life: delivers until an error or a new epoch.
    async fn session(&self) -> Session {
        let disconnects = self.disconnects.load(Ordering::Relaxed);
        let info = match ensure_stream(&self.js, &self.config).await {
            Ok(info) => info,
            Err(err) => return broken(err, false),
        };
        self.observe_epoch(epoch_of(&info));
        let from = self.lock().read.delivered() + 1;
        let consumer = match self.js.get_stream_no_info(&self.config.stream).await {
            Ok(stream) => stream.create_consumer(ephemeral(from, CONSUMER_IDLE)).await,
            Err(err) => return broken(unavailable(err), false),
        };
        let messages = match consumer {
            Ok(c) => {
                c.stream()
                    .max_messages_per_batch(READ_BATCH)
                    .messages()
                    .await
            }
            Err(err) => return broken(unavailable(err), false),
        };
        let mut messages = match messages {
            Ok(m) => m,
            Err(err) => return broken(unavailable(err), false),
        };
        if self.lock().read.reconnected(info.state.last_sequence) {
            tracing::info!(from, "NATS bus reconnected; catching up");
        }
        let mut tick = tokio::time::interval(INFO_EVERY);
        tick.tick().await; // the first tick is now; the info is fresh
        loop {
            tokio::select! {
                // The next message of the stream, in order.
                msg = messages.next() => match msg {
                    Some(Ok(msg)) => {
                        let (seq, stored, late) = match msg.info() {
                            Ok(i) => (i.stream_sequence, i.published, fenced_out(&msg.message, i.published)),
                            Err(err) => return broken(unavailable(err), true),
                        };
                        self.deliver(seq, &msg.message, stored, late);
                    }
                    Some(Err(err)) => return broken(unavailable(err), true),
                    None => return broken(BusError::Unavailable("NATS consumer ended".into()), true),
                },
                // Liveness, lag and epoch.
                _ = tick.tick() => {
                    if self.disconnects.load(Ordering::Relaxed) != disconnects {
                        return broken(BusError::Unavailable("NATS connection lost".into()), true);
                    }
                    let info = match ensure_stream(&self.js, &self.config).await {
                        Ok(info) => info,
                        Err(err) => return broken(err, true),
                    };
                    if self.observe_epoch(epoch_of(&info)) {
                        return Session::Again;
                    }
                    self.lock().read.saw_head(info.state.last_sequence);
                }
            }
        }
    }

    /// Takes note of the stream's epoch; a new one means the old stream is
    /// gone, so reading restarts from the new stream's start, and ids given
    /// out from now on are in the new epoch.
    pub(super) fn observe_epoch(&self, epoch: u64) -> bool {
        let mut s = self.lock();
        let changed = s.read.observe_epoch(epoch, "NATS stream");
        if changed {
            s.epoch = epoch;
        }
        changed
    }

    /// Broadcasts the message with sequence `seq` if it is new; steps over
    /// it if it is `late` (stored after its publish's fence: its publisher
    /// was told it was not published).
    fn deliver(&self, seq: u64, msg: &async_nats::Message, stored: OffsetDateTime, late: bool) {
        let mut s = self.lock();
        if !s.read.advance(seq) {
            return; // already delivered (cannot happen from delivered + 1)
        }
        if late {
            tracing::warn!(seq, "dropping a message stored after its publish timed out");
            metrics::counter!("livescore_bus_late_dropped_total").increment(1);
            return;
        }
        match parse(s.read.epoch(), seq, msg, stored) {
            // Sent under the lock so receivers see ids in order; an error
            // only means nobody listens, which loses nothing.
            Ok(env) => {
                let _ = self.tx.send(Arc::new(env));
            }
            // Something else published under our subjects: step over it so
            // it cannot stall every node.
            Err(err) => {
                tracing::error!(%err, seq, "skipping a stream message that is not an event");
                metrics::counter!("livescore_bus_corrupt_total").increment(1);
            }
        }
    }
}
