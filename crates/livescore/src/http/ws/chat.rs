//! Chat per game: who may post, what a message may contain, how often a
//! sender may send one, and the message as it goes on the bus.
//!
//! A sender is a user when its connection carries a valid token (the name
//! shown is the token's `name`, else its `sub`, and the message carries
//! `user`: the `sub`), else an anonymous client address that types its
//! name; `--chat-auth required` refuses the anonymous. Users are limited
//! per `sub` over all their connections, the anonymous per address. Every
//! node debits those buckets (and the game's) for chat that other nodes
//! published as it comes off the shared bus, so a user cannot multiply
//! the rate by spreading connections over nodes; the overshoot is bounded
//! by one burst per node within the bus's latency.
//!
//! A chat message enters at the bus like any event (topic `chat/{eid}`,
//! event `chat`), so every node's hub fans it out, the store persists it,
//! and it crosses nodes once the bus does. Clients treat its text as text;
//! nothing here escapes or interprets it, it only refuses what no chat line
//! should contain (control and bidi-override characters).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use crate::http::error::ApiError;
use crate::http::live::Live;
use crate::hub::Hub;
use crate::model;

/// Who may post in chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ChatAuth {
    /// Anyone; a connection with a valid token posts as its user.
    #[default]
    Open,
    /// Only connections with a valid token that names a user (`sub`).
    Required,
}

/// Chat settings (SPEC: text 500 characters, name 32, 1 per second with a
/// burst of 5 per sender; all senders together at most 20 per second into
/// one game, burst 40).
#[derive(Debug, Clone)]
pub struct ChatLimits {
    /// Who may post.
    pub auth: ChatAuth,
    /// Longest text, in characters (Unicode scalar values) after trimming.
    pub max_text_chars: usize,
    /// Longest name, in characters after trimming.
    pub max_name_chars: usize,
    /// Sustained messages per second per sender (a user, or an anonymous
    /// client address).
    pub per_second: f64,
    /// Messages a client may send at once after a quiet spell.
    pub burst: u32,
    /// Sustained messages per second into one game's chat, all clients.
    pub game_per_second: f64,
    /// Messages one game's chat takes at once after a quiet spell.
    pub game_burst: u32,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            auth: ChatAuth::Open,
            max_text_chars: 500,
            max_name_chars: 32,
            per_second: 1.0,
            burst: 5,
            game_per_second: 20.0,
            game_burst: 40,
        }
    }
}

/// The chat rates in force: set at start, replaced by a config reload
/// (SIGHUP); the gate reads them at every message, so buckets already
/// filled or emptied carry on under the new rates.
#[derive(Debug, Clone)]
pub struct ChatRates(Live<Rates>);

/// Per sender and per game: sustained messages a second, and the burst.
#[derive(Debug, Clone, Copy)]
struct Rates {
    sender: (f64, u32),
    game: (f64, u32),
}

impl ChatRates {
    /// The rates of `limits`.
    pub fn new(limits: &ChatLimits) -> Self {
        Self(Live::new(Rates::of(limits)))
    }

    /// Takes the rates of `limits` from the next message on.
    pub fn set(&self, limits: &ChatLimits) {
        self.0.set(Rates::of(limits));
    }

    fn get(&self) -> Rates {
        self.0.get()
    }
}

impl Rates {
    fn of(l: &ChatLimits) -> Self {
        Self {
            sender: (l.per_second, l.burst),
            game: (l.game_per_second, l.game_burst),
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
    /// Sender's display name, trimmed: the token's for a user.
    pub name: String,
    /// The user (the token's `sub`); absent for anonymous chat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
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
        from: &Speaker<'_>,
        text: &str,
    ) -> Result<Self, ApiError> {
        let topic = model::chat_topic(eid);
        let shown: String = eid.chars().take(40).collect();
        if eid.is_empty() || !model::valid_topic(&topic) {
            return Err(ApiError::BadRequest(format!("invalid game id {shown:?}")));
        }
        let (name, user) = match from {
            Speaker::Anonymous { name } => (clean("name", name, limits.max_name_chars)?, None),
            Speaker::User { sub, name } => {
                // The identity provider's name, unless it cannot be shown
                // as a chat name; then the sub.
                let shown = name
                    .and_then(|n| clean("name", n, limits.max_name_chars).ok())
                    .or_else(|| clean("name", sub, limits.max_name_chars).ok())
                    .ok_or_else(|| {
                        ApiError::BadRequest(
                            "the token's name and sub cannot be shown as a chat name".into(),
                        )
                    })?;
                (shown, Some((*sub).to_owned()))
            }
        };
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
            user,
            text,
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        })
    }

    /// The topic it goes to.
    pub fn topic(&self) -> String {
        model::chat_topic(&self.eid)
    }

    /// Who the rate limits count it against.
    pub fn sender(&self, addr: IpAddr) -> Sender {
        match &self.user {
            Some(sub) => Sender::User(sub.clone()),
            None => Sender::Addr(crate::http::client_addr::client_key(addr)),
        }
    }

    /// Its JSON, for the bus.
    pub fn to_json(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("strings serialize"))
    }
}

/// Who is posting, as the connection knows it.
#[derive(Debug, Clone, Copy)]
pub enum Speaker<'a> {
    /// No token: the name the client typed.
    Anonymous {
        /// As typed.
        name: &'a str,
    },
    /// A verified token's user.
    User {
        /// The token's `sub`.
        sub: &'a str,
        /// The token's `name`, if any.
        name: Option<&'a str>,
    },
}

/// Whose bucket a message is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sender {
    /// A token's user, over all its connections and nodes.
    User(String),
    /// An anonymous client address (an IPv6 one by its /64).
    Addr(IpAddr),
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

/// Why a chat message was refused by the rate limits, and how long until
/// it would pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Throttled {
    /// The sender's own bucket is empty.
    Sender(Duration),
    /// The game's chat as a whole is at its cap.
    Game(Duration),
}

/// Per-client buckets kept at most this many before the full ones (which a
/// new bucket would equal) are dropped.
const PRUNE_AT: usize = 4096;

/// The chat rate limits of a node: one bucket per sender, so a client
/// that reconnects finds its bucket as it left it, and one per game, so a
/// crowd of senders cannot flood one game's chat either.
#[derive(Debug)]
pub struct ChatGate {
    rates: ChatRates,
    senders: Mutex<Buckets<Sender>>,
    games: Mutex<Buckets<String>>,
    /// Ids of messages this node published and has not yet seen come back
    /// from the bus: already counted, so not debited again.
    own: Mutex<Own>,
}

/// Own message ids, oldest dropped past [`OWN_KEPT`] (a message that never
/// came back: its publish failed).
#[derive(Debug, Default)]
struct Own {
    ids: std::collections::HashSet<String>,
    order: std::collections::VecDeque<String>,
}

/// Own message ids remembered at most.
const OWN_KEPT: usize = 4096;

/// The fields of a chat event the limits need.
#[derive(serde::Deserialize)]
struct Seen {
    id: String,
    eid: String,
    #[serde(default)]
    user: Option<String>,
}

impl ChatGate {
    /// Empty buckets at `limits`.
    pub fn new(limits: &ChatLimits) -> Self {
        Self::with_rates(ChatRates::new(limits))
    }

    /// Empty buckets at whatever `rates` holds when each message comes.
    pub fn with_rates(rates: ChatRates) -> Self {
        Self {
            rates,
            senders: Mutex::new(Buckets::default()),
            games: Mutex::new(Buckets::default()),
            own: Mutex::new(Own::default()),
        }
    }

    /// Takes a token from `sender`'s bucket and from `eid`'s, or from
    /// neither.
    pub fn take(&self, sender: &Sender, eid: &str, now: Instant) -> Result<(), Throttled> {
        let rates = self.rates.get();
        let mut senders = self.senders.lock().expect("chat lock poisoned");
        senders
            .take(sender.clone(), now, rates.sender)
            .map_err(Throttled::Sender)?;
        let mut games = self.games.lock().expect("chat lock poisoned");
        if let Err(wait) = games.take(eid.to_owned(), now, rates.game) {
            senders.give_back(sender);
            return Err(Throttled::Game(wait));
        }
        Ok(())
    }

    /// Notes that this node is publishing message `id` (counted by
    /// [`ChatGate::take`] already).
    pub fn publishing(&self, id: &str) {
        let mut own = self.own.lock().expect("chat lock poisoned");
        if own.ids.insert(id.to_owned()) {
            own.order.push_back(id.to_owned());
        }
        while own.order.len() > OWN_KEPT {
            if let Some(old) = own.order.pop_front() {
                own.ids.remove(&old);
            }
        }
    }

    /// Takes every event off the bus before the hub fans it out: a chat
    /// message another node published is debited from its user's bucket
    /// and its game's here too (never refused: it is already posted).
    pub fn observe(&self, env: &crate::bus::Envelope, now: Instant) {
        if env.event != model::EVENT_CHAT || !env.topic.starts_with("chat/") {
            return;
        }
        let Ok(seen) = serde_json::from_slice::<Seen>(&env.data) else {
            return;
        };
        {
            let mut own = self.own.lock().expect("chat lock poisoned");
            // Its entry in `order` goes when it reaches the front.
            if own.ids.remove(&seen.id) {
                return;
            }
        }
        let rates = self.rates.get();
        if let Some(user) = seen.user {
            let mut senders = self.senders.lock().expect("chat lock poisoned");
            senders.debit(Sender::User(user), now, rates.sender);
        }
        let mut games = self.games.lock().expect("chat lock poisoned");
        games.debit(seen.eid, now, rates.game);
    }
}

/// Token buckets by key, pruned of full ones as they pile up.
#[derive(Debug)]
struct Buckets<K> {
    map: HashMap<K, RateLimit>,
}

impl<K> Default for Buckets<K> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash> Buckets<K> {
    /// Takes a token from `key`'s bucket at `(per second, burst)`.
    fn take(
        &mut self,
        key: K,
        now: Instant,
        (per_second, burst): (f64, u32),
    ) -> Result<(), Duration> {
        if self.map.len() >= PRUNE_AT && !self.map.contains_key(&key) {
            self.map.retain(|_, b| !b.full_at(now));
        }
        let bucket = self
            .map
            .entry(key)
            .or_insert_with(|| RateLimit::with(per_second, burst, now));
        bucket.rerate(per_second, burst);
        bucket.take(now)
    }

    /// Counts a message already sent elsewhere: takes a token if there is
    /// one, else leaves the bucket empty.
    fn debit(&mut self, key: K, now: Instant, rate: (f64, u32)) {
        let _ = self.take(key, now, rate);
    }

    fn give_back(&mut self, key: &K) {
        if let Some(b) = self.map.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(b.capacity);
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
#[derive(Debug)]
struct RateLimit {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn with(per_second: f64, burst: u32, now: Instant) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            capacity,
            per_second: per_second.max(f64::MIN_POSITIVE),
            tokens: capacity,
            last: now,
        }
    }

    /// Takes new rates (a config reload): never more tokens than the new
    /// burst.
    fn rerate(&mut self, per_second: f64, burst: u32) {
        self.capacity = f64::from(burst.max(1));
        self.per_second = per_second.max(f64::MIN_POSITIVE);
        self.tokens = self.tokens.min(self.capacity);
    }

    /// Whether it will have refilled by `now`: then it is as good as new.
    fn full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.per_second >= self.capacity
    }

    /// Takes a token, or says how long until one is available.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
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
            published_us: 0,
        });
        hub
    }

    fn anon(name: &str) -> Speaker<'_> {
        Speaker::Anonymous { name }
    }

    #[test]
    fn a_user_chats_under_the_token_name_and_is_limited_as_one_sender() {
        let hub = hub_with_game();
        let l = ChatLimits::default();
        let as_user = |sub, name| {
            ChatMessage::check(&hub, &l, "2015091000", &Speaker::User { sub, name }, "hi")
                .expect("ok")
        };
        let m = as_user("42", Some("Ada"));
        let v: serde_json::Value = serde_json::from_slice(&m.to_json()).expect("json");
        assert_eq!(
            (v["name"].as_str(), v["user"].as_str()),
            (Some("Ada"), Some("42"))
        );
        // A name that cannot be shown falls back to the sub.
        assert_eq!(as_user("42", Some("ad\u{200B}min")).name, "42");
        assert_eq!(as_user("42", None).name, "42");
        // Anonymous messages carry no user field at all.
        let anon = ChatMessage::check(&hub, &l, "2015091000", &anon("42"), "hi").expect("ok");
        let v: serde_json::Value = serde_json::from_slice(&anon.to_json()).expect("json");
        assert!(v.get("user").is_none(), "{v}");
        // A user is one bucket from any address; an anonymous sender at the
        // user's address is another.
        let here: IpAddr = "192.0.2.1".parse().expect("ip");
        let there: IpAddr = "198.51.100.7".parse().expect("ip");
        assert_eq!(m.sender(here), m.sender(there));
        assert_ne!(m.sender(here), anon.sender(here));
        let gate = ChatGate::new(&l);
        let t0 = Instant::now();
        for _ in 0..5 {
            gate.take(&m.sender(here), "2015091000", t0).expect("burst");
        }
        assert!(matches!(
            gate.take(&m.sender(there), "2015091000", t0),
            Err(Throttled::Sender(_))
        ));
        gate.take(&anon.sender(here), "2015091000", t0)
            .expect("the address's own bucket");
    }

    fn chat_env(seq: u64, id: &str, user: Option<&str>) -> Envelope {
        let mut data =
            serde_json::json!({"id": id, "eid": "g", "name": "n", "text": "t", "at": "x"});
        if let Some(u) = user {
            data["user"] = u.into();
        }
        Envelope {
            id: EventId::new(1, seq),
            topic: "chat/g".into(),
            event: "chat".into(),
            data: Bytes::from(data.to_string()),
            published_us: 0,
        }
    }

    #[test]
    fn chat_from_other_nodes_is_debited_and_our_own_is_not_counted_twice() {
        let gate = ChatGate::new(&ChatLimits::default());
        let t0 = Instant::now();
        let ada = Sender::User("42".into());
        // Four messages posted by Ada through another node.
        for seq in 1..=4 {
            gate.observe(&chat_env(seq, &format!("{seq:016x}"), Some("42")), t0);
        }
        gate.take(&ada, "g", t0).expect("the fifth of her burst");
        assert!(matches!(
            gate.take(&ada, "g", t0),
            Err(Throttled::Sender(_))
        ));
        // A message this node posted comes back from the bus: not debited.
        let bob = Sender::User("7".into());
        gate.take(&bob, "g", t0).expect("bob's first");
        gate.publishing("00000000000000b0");
        gate.observe(&chat_env(9, "00000000000000b0", Some("7")), t0);
        for _ in 0..4 {
            gate.take(&bob, "g", t0).expect("the rest of bob's burst");
        }
        // Other events and malformed chat are ignored.
        gate.observe(
            &Envelope {
                id: EventId::new(1, 10),
                topic: "scores".into(),
                event: "update".into(),
                data: Bytes::from_static(b"[]"),
                published_us: 0,
            },
            t0,
        );
        gate.observe(
            &Envelope {
                data: Bytes::from_static(b"not json"),
                published_us: 0,
                ..chat_env(11, "x", None)
            },
            t0,
        );
    }

    #[test]
    fn chat_is_trimmed_and_checked() {
        let hub = hub_with_game();
        let l = ChatLimits::default();
        let ok =
            ChatMessage::check(&hub, &l, "2015091000", &anon(" fan "), " <b>hi</b> ").expect("ok");
        assert_eq!((ok.name.as_str(), ok.text.as_str()), ("fan", "<b>hi</b>"));
        let v: serde_json::Value = serde_json::from_slice(&ok.to_json()).expect("json");
        assert_eq!(v["text"], "<b>hi</b>");
        assert_eq!(v["eid"], "2015091000");
        let err = |eid: &str, name: &str, text: &str| {
            ChatMessage::check(&hub, &l, eid, &anon(name), text)
                .expect_err("rejected")
                .to_string()
        };
        assert!(err("2015091000", "  ", "x").contains("name is empty"));
        assert!(err("2015091000", "n", "").contains("text is empty"));
        assert!(err("2015091000", &"é".repeat(33), "x").contains("33 characters"));
        assert!(err("2015091000", "n", &"x".repeat(501)).contains("at most 500"));
        ChatMessage::check(&hub, &l, "2015091000", &anon("n"), &"é".repeat(500))
            .expect("500 is fine");
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
        let l = ChatLimits::default();
        let mut rl = RateLimit::with(l.per_second, l.burst, t0);
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

    #[test]
    fn the_gate_keys_senders_by_address_and_caps_each_game() {
        let limits = ChatLimits {
            game_per_second: 1.0,
            game_burst: 7,
            ..ChatLimits::default()
        };
        let gate = ChatGate::new(&limits);
        let t0 = Instant::now();
        let a = &Sender::Addr("192.0.2.1".parse().expect("ip"));
        let b = &Sender::Addr("192.0.2.2".parse().expect("ip"));
        for _ in 0..5 {
            gate.take(a, "g1", t0).expect("a's burst");
        }
        // The same address on any connection, in any game: same bucket.
        assert!(matches!(gate.take(a, "g2", t0), Err(Throttled::Sender(_))));
        // Another address has its own; the game's cap (7) stops the crowd.
        gate.take(b, "g1", t0).expect("b");
        gate.take(b, "g1", t0).expect("b");
        assert!(matches!(gate.take(b, "g1", t0), Err(Throttled::Game(_))));
        // ...without costing b a token: b still has 3 for another game.
        for _ in 0..3 {
            gate.take(b, "g2", t0).expect("b in g2");
        }
        assert!(matches!(gate.take(b, "g2", t0), Err(Throttled::Sender(_))));
    }

    #[test]
    fn full_buckets_are_pruned_and_are_as_good_as_new() {
        let gate = ChatGate::new(&ChatLimits {
            game_per_second: 1e9,
            game_burst: 1_000_000,
            ..ChatLimits::default()
        });
        let t0 = Instant::now();
        for i in 0..PRUNE_AT as u32 + 10 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            gate.take(&Sender::Addr(ip), "g0", t0)
                .expect("a first message");
        }
        // None was full yet: all kept.
        assert_eq!(gate.senders.lock().expect("lock").map.len(), PRUNE_AT + 10);
        let later = t0 + Duration::from_secs(10);
        gate.take(&Sender::Addr("192.0.2.9".parse().expect("ip")), "g0", later)
            .expect("fresh");
        assert_eq!(
            gate.senders.lock().expect("lock").map.len(),
            1,
            "full buckets dropped"
        );
    }
}
