//! `Subscriber`: one client's view of the hub, and the lag policy.
//!
//! A client's queue is its position in a shared, bounded broadcast ring, so
//! a client that stops reading costs no memory beyond that ring and never
//! holds up the publisher. When it falls more than the ring behind it
//! catches up from the hub: state events skip to the latest (conflation),
//! other events come from history; if history no longer has them, the
//! client is dropped so it reconnects and gets a `reset` (SPEC).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;

use super::direct::Slot;
use super::{Frame, Hub, Resume, Snapshot};
use crate::model::EventId;

/// What [`Subscriber::try_next`] found.
#[derive(Debug)]
pub enum Next {
    /// The next frame for this client.
    Frame(Arc<Frame>),
    /// Nothing ready right now.
    Empty,
    /// The subscription is over: dropped as too slow, or the hub shut down.
    Closed,
}

/// One client's subscription.
pub struct Subscriber {
    hub: Arc<Hub>,
    key: Arc<[String]>,
    rx: Receiver<Arc<Frame>>,
    /// The current page of a resume, sent before anything else.
    page: VecDeque<Arc<Frame>>,
    /// The rest of the resume, still in the hub's history.
    resume: Option<Resume>,
    backlog: VecDeque<Arc<Frame>>,
    /// Live frames at or below this seq were already covered (by the
    /// snapshot or a catch-up) and are skipped: no duplicates.
    floor: u64,
    /// The epoch `floor` counts in. A frame of another epoch starts a new
    /// history (it is the epoch's `reset`): seqs start over there.
    epoch: u64,
    /// Where the subscription went live: frames after it were published
    /// while it listened (the latency metric counts only those).
    live_after: EventId,
    closed: bool,
    /// The fast-path slot listed under this subscription's channel, left
    /// when the subscription ends.
    joined: Option<Arc<Slot>>,
    /// The channel was not read while the hub wrote the socket, and the
    /// stream took it back owing nothing: a lag that follows is that, not a
    /// slow client (not counted as conflation).
    unread: bool,
}

impl Subscriber {
    pub(crate) fn new(hub: Arc<Hub>, key: Arc<[String]>, snap: Snapshot) -> Self {
        Self {
            hub,
            key,
            rx: snap.rx,
            page: VecDeque::new(),
            resume: snap.resume,
            backlog: snap.backlog.into(),
            floor: snap.last_seq,
            epoch: snap.epoch,
            live_after: EventId::new(snap.epoch, snap.last_seq),
            closed: false,
            joined: None,
            unread: false,
        }
    }

    /// Hands `slot`'s socket to the hub (see `direct`) if this subscription
    /// owes nothing: no resume, backlog or unread frame. Checked under the
    /// hub lock, so an event published after it is the hub's to write and
    /// one published before it keeps this subscription on its own path.
    pub fn go_fast(&mut self, slot: &Arc<Slot>) -> bool {
        if self.closed || !self.page.is_empty() || self.resume.is_some() || !self.backlog.is_empty()
        {
            return false;
        }
        let mut inner = self.hub.lock();
        if inner.closed || !self.rx.is_empty() {
            return false;
        }
        if self.joined.is_none() {
            if !inner.channels.join(&self.key, slot) {
                return false;
            }
            self.joined = Some(slot.clone());
        }
        slot.make_fast(EventId::new(self.epoch, self.floor));
        true
    }

    /// Takes `slot`'s socket back from the hub: what it wrote is skipped
    /// here. Returns what the hub left to send first, and when it last
    /// wrote.
    pub fn take_back(&mut self, slot: &Slot) -> super::direct::Taken {
        let taken = slot.take_back();
        // A lag found now is the unread channel of a stream that kept up,
        // unless the hub gave the socket back full (a slow client's lag).
        self.unread = taken.was_fast;
        if taken.written.epoch == self.epoch && taken.written.seq > self.floor {
            self.floor = taken.written.seq;
        }
        taken
    }

    /// True when `frame` was published after this subscription began, so
    /// its delay is the bus's and the server's, not a replay of history or
    /// the current state handed over at the start.
    pub fn is_live(&self, frame: &Frame) -> bool {
        frame.id.epoch != self.live_after.epoch || frame.id.seq > self.live_after.seq
    }

    /// The topics this subscription follows.
    pub fn topics(&self) -> &[String] {
        &self.key
    }

    /// The seq up to which this subscription is complete once drained
    /// (`try_next` gave `Empty`): every event on its topics at or below it
    /// was delivered or deliberately skipped. Where [`Hub::extend`] goes on.
    pub fn position(&self) -> u64 {
        self.floor
    }

    /// The next frame, waiting for one. `None` when the subscription is
    /// over. Cancel-safe: usable in `select!`.
    pub async fn next(&mut self) -> Option<Arc<Frame>> {
        loop {
            if let Some(f) = self.queued() {
                return Some(f);
            }
            if self.closed {
                return None;
            }
            match self.rx.recv().await {
                Ok(f) => {
                    if let Some(f) = self.accept(f) {
                        return Some(f);
                    }
                }
                Err(RecvError::Lagged(_)) => self.lagged(),
                Err(RecvError::Closed) => self.closed = true,
            }
        }
    }

    /// The next frame if one is ready, without waiting; lets a transport
    /// gather everything pending into one write.
    pub fn try_next(&mut self) -> Next {
        loop {
            if let Some(f) = self.queued() {
                return Next::Frame(f);
            }
            if self.closed {
                return Next::Closed;
            }
            match self.rx.try_recv() {
                Ok(f) => {
                    if let Some(f) = self.accept(f) {
                        return Next::Frame(f);
                    }
                }
                Err(TryRecvError::Empty) => {
                    self.unread = false;
                    return Next::Empty;
                }
                Err(TryRecvError::Lagged(_)) => self.lagged(),
                Err(TryRecvError::Closed) => self.closed = true,
            }
        }
    }

    /// Frames this subscriber holds a pointer to (capacity, not length)
    /// and whether it still owes a resume from history.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, bool) {
        (
            self.page.capacity() + self.backlog.capacity(),
            self.resume.is_some(),
        )
    }

    /// The next frame owed before live ones: the resume, a page at a time,
    /// then the backlog.
    fn queued(&mut self) -> Option<Arc<Frame>> {
        loop {
            if let Some(f) = self.page.pop_front() {
                return Some(f);
            }
            let Some(r) = self.resume else {
                return self.backlog.pop_front();
            };
            match self.hub.resume_page(&self.key, &r) {
                Some(frames) => {
                    let last = frames.last().map(|f| f.id.seq);
                    self.resume = last
                        .filter(|&s| s < r.upto)
                        .map(|after| Resume { after, ..r });
                    self.page.extend(frames);
                }
                None => {
                    // History moved on mid-resume: what is left of it and
                    // anything queued after it come from one catch-up.
                    self.resume = None;
                    self.backlog.clear();
                    (self.epoch, self.floor) = (r.epoch, r.after);
                    self.lagged();
                }
            }
        }
    }

    /// A live frame if it is new to this subscriber. A frame of the hub's
    /// new epoch is the reset that opens a new history (see the hub's doc):
    /// taken with the state it carries, and the position starts over.
    fn accept(&mut self, f: Arc<Frame>) -> Option<Arc<Frame>> {
        if f.id.epoch != self.epoch {
            // Unless it is the hub's current history, it is an older one
            // still in the channel: frames the fast path already wrote, or
            // ones a catch-up across the change replaced (epochs are not
            // ordered, so only the hub can tell which is which).
            if f.id.epoch != self.hub.epoch() {
                return None;
            }
            self.epoch = f.id.epoch;
            self.floor = f.id.seq;
            self.backlog.extend(f.then.iter().cloned());
            return Some(f);
        }
        if f.id.seq <= self.floor {
            return None;
        }
        self.floor = f.id.seq;
        Some(f)
    }

    fn lagged(&mut self) {
        let from = crate::model::EventId::new(self.epoch, self.floor);
        let unread = std::mem::take(&mut self.unread);
        match self.hub.catch_up(&self.key, from) {
            Some(frames) => {
                if !unread {
                    metrics::counter!("livescore_subscribers_conflated_total").increment(1);
                }
                if let Some(last) = frames.last() {
                    if last.id.epoch == self.epoch {
                        self.floor = self.floor.max(last.id.seq);
                    } else {
                        (self.epoch, self.floor) = (last.id.epoch, last.id.seq);
                    }
                }
                self.backlog.extend(frames);
            }
            None => {
                metrics::counter!("livescore_subscribers_dropped_total", "reason" => "lagged")
                    .increment(1);
                self.closed = true;
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if let Some(slot) = self.joined.take() {
            self.hub.lock().channels.leave(&self.key, &slot);
        }
    }
}
