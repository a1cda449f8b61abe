//! Chat per game: what a message may contain, how often a connection may
//! send one, and the message as it goes on the bus.
//!
//! A chat message enters at the bus like any event (topic `chat/{eid}`,
//! event `chat`), so every node's hub fans it out, the store persists it,
//! and it crosses nodes once the bus does. Clients treat its text as text;
//! nothing here escapes or interprets it, it only refuses what no chat line
//! should contain (control and bidi-override characters).

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use crate::http::error::ApiError;
use crate::hub::Hub;
use crate::model;

/// Chat limits (SPEC: text 500 characters, name 32, 1 per second with a
/// burst of 5 per connection).
#[derive(Debug, Clone)]
pub struct ChatLimits {
    /// Longest text, in characters (Unicode scalar values) after trimming.
    pub max_text_chars: usize,
    /// Longest name, in characters after trimming.
    pub max_name_chars: usize,
    /// Sustained messages per second per connection.
    pub per_second: f64,
    /// Messages a connection may send at once after a quiet spell.
    pub burst: u32,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            max_text_chars: 500,
            max_name_chars: 32,
            per_second: 1.0,
            burst: 5,
        }
    }
}

/// The `data` of a `chat` event (SPEC `{"id","eid","name","text","at"}`).
#[derive(Debug, Serialize)]
pub struct ChatMessage {
    /// Random 64-bit hex: the message is built before the bus gives the
    /// event its id, and must be unique across nodes without coordination.
    /// The event id, not this, orders messages and resumes streams.
    pub id: String,
    /// Game id.
    pub eid: String,
    /// Sender's display name, trimmed.
    pub name: String,
    /// The message, trimmed.
    pub text: String,
    /// When this node accepted it.
    pub at: String,
}

impl ChatMessage {
    /// Checks a chat request against `limits` and the games this node knows
    /// (a game is known when the hub has its state). Never touches the bus.
    pub fn check(
        hub: &Hub,
        limits: &ChatLimits,
        eid: &str,
        name: &str,
        text: &str,
    ) -> Result<Self, ApiError> {
        let topic = model::chat_topic(eid);
        let shown: String = eid.chars().take(40).collect();
        if eid.is_empty() || !model::valid_topic(&topic) {
            return Err(ApiError::BadRequest(format!("invalid game id {shown:?}")));
        }
        let name = clean("name", name, limits.max_name_chars)?;
        let text = clean("text", text, limits.max_text_chars)?;
        if hub
            .state(&model::game_topic(eid), model::EVENT_GAME)
            .is_none()
        {
            return Err(ApiError::NotFound(format!("unknown game {shown:?}")));
        }
        Ok(Self {
            id: format!("{:016x}", fastrand::u64(..)),
            eid: eid.to_owned(),
            name,
            text,
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        })
    }

    /// The topic it goes to.
    pub fn topic(&self) -> String {
        model::chat_topic(&self.eid)
    }

    /// Its JSON, for the bus.
    pub fn to_json(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("strings serialize"))
    }
}

/// Trims `value` and checks it is non-empty, short enough and free of
/// characters that would let one line disguise or reorder others.
fn clean(field: &str, value: &str, max_chars: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::BadRequest(format!("chat {field} is empty")));
    }
    let n = value.chars().count();
    if n > max_chars {
        return Err(ApiError::BadRequest(format!(
            "chat {field} is {n} characters; at most {max_chars}"
        )));
    }
    if value.chars().any(forbidden) {
        return Err(ApiError::BadRequest(format!(
            "chat {field} contains control or bidirectional-override characters"
        )));
    }
    if field == "name" && value.chars().any(invisible) {
        return Err(ApiError::BadRequest(
            "chat name contains invisible characters (zero-width, direction marks, tags)".into(),
        ));
    }
    Ok(value.to_owned())
}

/// Characters that show nothing, so two names that look the same can
/// differ (impersonation): zero-width space/joiners and direction marks,
/// word joiner and invisible operators, the BOM, soft hyphen, combining
/// grapheme joiner, Hangul fillers, Mongolian vowel separator and the tag
/// block. Refused in names only: a text may need a joiner for an emoji.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{3164}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{E0000}'..='\u{E007F}')
}

/// Control characters (newlines included: a chat line is one line) and the
/// Unicode bidi overrides/isolates and line separators.
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// A token bucket: `burst` tokens, refilled at `per_second`. Per
/// connection, so one client's flood costs only its own messages.
#[derive(Debug)]
pub struct RateLimit {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(limits: &ChatLimits, now: Instant) -> Self {
        let capacity = f64::from(limits.burst.max(1));
        Self {
            capacity,
            per_second: limits.per_second.max(f64::MIN_POSITIVE),
            tokens: capacity,
            last: now,
        }
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.per_second;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::bus::Envelope;
    use crate::model::EventId;

    fn hub_with_game() -> std::sync::Arc<Hub> {
        let hub = Hub::new(1);
        hub.ingest(&Envelope {
            id: EventId::new(1, 1),
            topic: "game/2015091000".into(),
            event: "game".into(),
            data: Bytes::from_static(b"{}"),
        });
        hub
    }

    #[test]
    fn chat_is_trimmed_and_checked() {
        let hub = hub_with_game();
        let l = ChatLimits::default();
        let ok = ChatMessage::check(&hub, &l, "2015091000", " fan ", " <b>hi</b> ").expect("ok");
        assert_eq!((ok.name.as_str(), ok.text.as_str()), ("fan", "<b>hi</b>"));
        let v: serde_json::Value = serde_json::from_slice(&ok.to_json()).expect("json");
        assert_eq!(v["text"], "<b>hi</b>");
        assert_eq!(v["eid"], "2015091000");
        let err = |eid: &str, name: &str, text: &str| {
            ChatMessage::check(&hub, &l, eid, name, text)
                .expect_err("rejected")
                .to_string()
        };
        assert!(err("2015091000", "  ", "x").contains("name is empty"));
        assert!(err("2015091000", "n", "").contains("text is empty"));
        assert!(err("2015091000", &"é".repeat(33), "x").contains("33 characters"));
        assert!(err("2015091000", "n", &"x".repeat(501)).contains("at most 500"));
        ChatMessage::check(&hub, &l, "2015091000", "n", &"é".repeat(500)).expect("500 is fine");
        assert!(err("2015091000", "n", "a\nb").contains("control"));
        assert!(err("2015091000", "n\u{202E}", "x").contains("control"));
        for sneaky in [
            "ad\u{200B}min",
            "\u{200F}fan",
            "fan\u{E0041}",
            "a\u{2060}b",
            "\u{FEFF}x",
        ] {
            assert!(
                err("2015091000", sneaky, "x").contains("invisible"),
                "{sneaky:?}"
            );
        }
        assert!(err("1999", "n", "x").contains("unknown game"));
        assert!(err("a b", "n", "x").contains("invalid game id"));
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(&ChatLimits::default(), t0);
        for _ in 0..5 {
            rl.take(t0).expect("burst of 5");
        }
        let wait = rl.take(t0).expect_err("sixth at once is refused");
        assert!(wait <= Duration::from_secs(1));
        rl.take(t0 + Duration::from_millis(1000))
            .expect("one more after a second");
        assert!(rl.take(t0 + Duration::from_millis(1500)).is_err());
        for _ in 0..5 {
            rl.take(t0 + Duration::from_secs(60))
                .expect("refilled to the burst, not beyond");
        }
        assert!(rl.take(t0 + Duration::from_secs(60)).is_err());
    }
}
