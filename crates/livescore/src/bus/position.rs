//! Where a shared bus's reader stands in the shared log: the bookkeeping
//! every shared bus keeps the same way, so "never an event lost, never a
//! repeat, a new epoch read from its start" is written once.
//!
//! The reader owns the position (under its bus's state lock); publishes
//! and health only read it.

use crate::bus::BusHealth;
use crate::model::EventId;

/// A reader's place in the shared log.
#[derive(Debug)]
pub struct Position {
    /// Epoch of the log the reader delivers from.
    epoch: u64,
    /// Seq of the last event delivered locally (in `epoch`).
    delivered: u64,
    /// Newest seq in the log when last asked (for the lag).
    head: u64,
    /// Whether the last read of the log succeeded.
    connected: bool,
}

impl Position {
    /// At connect: live delivery continues after `head`, the log's newest
    /// event then (older ones come from the store or the log's tail).
    pub fn new(epoch: u64, head: u64) -> Self {
        Self {
            epoch,
            delivered: head,
            head,
            connected: true,
        }
    }

    /// Epoch of the log being read.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Seq of the last event delivered locally.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Newest seq in the log when last asked.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Takes note of the epoch the log holds now. A new one means the old
    /// log is gone (`log` names it in the warning): reading restarts from
    /// the new log's start, and the hub tells resuming clients `reset`.
    pub fn observe_epoch(&mut self, epoch: u64, log: &str) -> bool {
        let changed = self.epoch != epoch;
        if changed {
            tracing::warn!(
                old = self.epoch,
                new = epoch,
                "{log} was reset (new epoch); reading it from its start"
            );
            metrics::counter!("livescore_bus_epoch_resets_total").increment(1);
            self.epoch = epoch;
            self.delivered = 0;
            self.head = 0;
        }
        changed
    }

    /// Takes `seq` as delivered when it is past the last one; false when it
    /// was delivered already (the caller drops it: never a repeat).
    pub fn advance(&mut self, seq: u64) -> bool {
        if seq <= self.delivered {
            return false;
        }
        self.delivered = seq;
        self.head = self.head.max(seq);
        true
    }

    /// The log's newest seq as a read reported it.
    pub fn saw_head(&mut self, head: u64) {
        self.head = self.head.max(head);
    }

    /// A read succeeded: true when it is the first since the connection was
    /// lost (the caller says so once in the log).
    pub fn reconnected(&mut self, head: u64) -> bool {
        let was_lost = !self.connected;
        self.connected = true;
        self.head = head;
        was_lost
    }

    /// A read failed; the reader reconnects on its own.
    pub fn lost(&mut self) {
        self.connected = false;
    }

    /// What `/healthz` shows of the reader; `up` is the client's own view
    /// of its connection, where it has one.
    pub fn health(&self, kind: &'static str, up: bool, reconnects: u64) -> BusHealth {
        BusHealth {
            kind,
            connected: self.connected && up,
            last_id: (self.delivered > 0).then(|| EventId::new(self.epoch, self.delivered)),
            lag: Some(self.head.saturating_sub(self.delivered)),
            reconnects: Some(reconnects),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_each_seq_once_in_order_and_restarts_on_a_new_epoch() {
        let mut p = Position::new(7, 10);
        assert!(!p.advance(10), "the head at connect came from elsewhere");
        assert!(p.advance(11) && !p.advance(11), "never a repeat");
        p.saw_head(15);
        assert_eq!(p.health("t", true, 0).lag, Some(4));
        assert!(!p.observe_epoch(7, "log"));
        assert!(p.observe_epoch(8, "log"), "a new epoch");
        assert_eq!((p.epoch(), p.delivered(), p.head()), (8, 0, 0));
        assert!(p.advance(1), "the new log is read from its start");
        assert_eq!(p.health("t", true, 0).last_id, Some(EventId::new(8, 1)));
        p.lost();
        assert!(!p.health("t", true, 0).connected);
        assert!(p.reconnected(3) && !p.reconnected(3));
        assert!(
            !p.health("t", false, 0).connected,
            "the client's view counts"
        );
    }
}
