//! The stream itself: its configuration, how subjects follow topics, how
//! a message becomes an envelope, and the consumers that read it.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use time::OffsetDateTime;

use super::{NatsConfig, DEDUP_WINDOW, EVENT_HEADER, FENCE_HEADER, TOPIC_HEADER};
use crate::bus::{BusError, Envelope};
use crate::model::EventId;

/// The stream's info, creating it with our retention if it is missing.
pub(super) async fn ensure_stream(
    js: &jetstream::Context,
    config: &NatsConfig,
) -> Result<stream::Info, BusError> {
    let wanted = stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.ev.>", config.stream)],
        max_messages: config.max_events,
        max_age: config.max_age,
        duplicate_window: DEDUP_WINDOW.min(config.max_age),
        storage: stream::StorageType::File,
        allow_direct: true,
        ..Default::default()
    };
    let stream = js.get_or_create_stream(wanted).await.map_err(unavailable)?;
    Ok(stream.cached_info().clone())
}

/// An ephemeral consumer from `from` without acks (every node reads all,
/// nothing is work-queued), dropped by the server after `idle`.
pub(super) fn ephemeral(from: u64, idle: Duration) -> consumer::pull::Config {
    consumer::pull::Config {
        deliver_policy: consumer::DeliverPolicy::ByStartSequence {
            start_sequence: from.max(1),
        },
        ack_policy: consumer::AckPolicy::None,
        inactive_threshold: idle,
        memory_storage: true,
        ..Default::default()
    }
}

/// The epoch of a stream: its creation time in milliseconds since 1970.
pub(super) fn epoch_of(info: &stream::Info) -> u64 {
    stamp_ms(info.created)
}

/// `<stream>.ev.<topic, one token per `/` or `.` part>`; an empty part
/// becomes `_` so the subject is always valid.
pub(super) fn subject_for(stream: &str, topic: &str) -> String {
    let mut subject = format!("{stream}.ev");
    for part in topic.split(['/', '.']) {
        subject.push('.');
        if part.is_empty() {
            subject.push('_');
        } else {
            subject.extend(part.chars().map(|c| {
                if c.is_ascii_alphanumeric() || "-_:".contains(c) {
                    c
                } else {
                    '_'
                }
            }));
        }
    }
    subject
}

/// A message of the stream, stored at `stored` (the NATS server's clock),
/// as an envelope.
pub(super) fn parse(
    epoch: u64,
    seq: u64,
    msg: &async_nats::Message,
    stored: OffsetDateTime,
) -> Result<Envelope, BusError> {
    let header = |name: &str| {
        msg.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_owned())
            .ok_or_else(|| BusError::Corrupt(format!("stream message {seq}: no {name} header")))
    };
    Ok(Envelope {
        id: EventId::new(epoch, seq),
        topic: header(TOPIC_HEADER)?,
        event: header(EVENT_HEADER)?,
        data: msg.payload.clone(),
        published_us: u64::try_from(stored.unix_timestamp_nanos() / 1_000).unwrap_or(0),
    })
}

/// A JetStream time stamp as milliseconds since 1970.
pub(super) fn stamp_ms(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// True when the stream stored `msg` (at `stored`) after the fence its
/// publisher gave it: the publisher was answered "not published", so no
/// reader may deliver it. Messages without a fence are kept.
pub(super) fn fenced_out(msg: &async_nats::Message, stored: OffsetDateTime) -> bool {
    let fence = msg
        .headers
        .as_ref()
        .and_then(|h| h.get(FENCE_HEADER))
        .and_then(|v| v.as_str().parse::<u64>().ok());
    fence.is_some_and(|fence| stamp_ms(stored) > fence)
}

/// Any NATS failure as "the bus is unavailable now" (callers retry).
pub(super) fn unavailable(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> BusError {
    BusError::Nats(err.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_topics_and_are_always_valid() {
        assert_eq!(subject_for("ls", "scores"), "ls.ev.scores");
        assert_eq!(
            subject_for("ls", "game/2015091000"),
            "ls.ev.game.2015091000"
        );
        assert_eq!(subject_for("ls", "a..b/"), "ls.ev.a._.b._");
    }
}
