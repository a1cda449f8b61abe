//! One WebSocket connection's task: the loop over client requests, hub
//! events and the heartbeat, and the writes with their deadline. The rules
//! it keeps are in the parent module's doc.

use std::sync::Arc;

use tokio::time::Instant;

use super::chat::{ChatAuth, ChatMessage, Speaker, Throttled};
use super::protocol::{self, Request};
use super::wire::{Message, WireError};
use super::{Socket, CLOSE_GRACE, GOING_AWAY, MAX_BATCH_BYTES, TOKEN_EXPIRED, TRY_AGAIN_LATER};
use crate::bus::now_us;
use crate::http::error::ApiError;
use crate::http::metrics::ConnectionGuard;
use crate::http::subscription::{check_topics, parse_start};
use crate::http::AppState;
use crate::hub::direct::{Slot, Wire};
use crate::hub::latency::Histogram;
use crate::hub::{Frame, Next, Start, Subscriber, MAX_TOPICS_PER_SUBSCRIPTION};

/// What one turn of the loop decided.
enum Flow {
    Continue,
    /// Send a close frame with this code and reason, then end.
    Close(u16, &'static str),
    /// End without ceremony (the client is gone or not reading).
    Drop,
}

/// What woke the loop.
enum Wake {
    Shutdown,
    /// The hub gave the socket back (a short write, a new history, its
    /// close): the subscription is read here again.
    HandedBack,
    Client(Result<Option<Message>, WireError>),
    Event(Option<Arc<Frame>>),
    Heartbeat,
    Expired,
}

/// One client. Everything here is owned by its task, so nothing is locked
/// and nothing outlives the connection.
pub(super) struct Connection {
    socket: Socket,
    /// The socket as the hub's fast path writes it while this connection
    /// owes nothing (`hub::direct`); this task then wakes only for the
    /// client, the heartbeat and the token, not for every event. None over
    /// TLS, where only this task can write.
    slot: Option<Arc<Slot>>,
    st: AppState,
    /// Topics followed, sorted; empty when `sub` is None.
    topics: Vec<String>,
    /// The one subscriber for `topics`: one channel keeps ids in order.
    sub: Option<Subscriber>,
    /// The client's address (behind a trusted proxy, the one it forwarded
    /// for): its chat bucket's key, so reconnecting does not refill it.
    client: std::net::IpAddr,
    /// When the client last sent anything; silence past the ping interval
    /// gets a ping.
    last_heard: Instant,
    /// Set while a ping is unanswered.
    ping_sent: Option<Instant>,
    /// Set once the client has sent a whole frame: a WebSocket peer.
    spoke: bool,
    /// The token of the upgrade request or the last `auth` message; every
    /// `subscribe` is authorized with it.
    token: Option<String>,
    /// When that token expires, while a followed topic needs it: the
    /// connection closes then with 4001.
    deadline: Option<Instant>,
    /// That token verified, once the connection chats: a user's every
    /// message would otherwise verify a signature before its rate limit.
    chatter: Option<crate::http::auth::Grant>,
    /// Keeps `livescore_connections{transport="ws"}` right.
    _guard: ConnectionGuard,
    /// `livescore_events_delivered_total{transport="ws"}`, looked up once.
    delivered: metrics::Counter,
    /// `livescore_delivery_latency_seconds{transport="ws"}`.
    latency: &'static Histogram,
}

impl Connection {
    pub(super) fn new(
        socket: Socket,
        slot: Option<Arc<Slot>>,
        st: AppState,
        client: std::net::IpAddr,
        token: Option<String>,
    ) -> Self {
        let now = Instant::now();
        Self {
            socket,
            slot,
            client,
            st,
            topics: Vec::new(),
            sub: None,
            last_heard: now,
            ping_sent: None,
            spoke: false,
            token,
            deadline: None,
            chatter: None,
            _guard: ConnectionGuard::new("ws"),
            delivered: crate::http::metrics::delivered("ws"),
            latency: crate::hub::latency::of("ws"),
        }
    }

    /// Serves the connection until it closes.
    ///
    /// The future is what an idle WebSocket costs, so it is kept small: an
    /// `async move` block uses `self` in place (an `async fn` keeps a second
    /// copy of it), and the rare, large steps (a client's request, the
    /// close handshake) are boxed rather than sized into every
    /// connection: 3,336 bytes before, 1,384 now.
    pub(super) fn run(mut self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let cancel = self.st.cancel.clone();
        async move {
            loop {
                let cfg = &self.st.config.ws;
                let heartbeat = match self.ping_sent {
                    Some(at) => at + cfg.pong_timeout,
                    None => self.last_heard + cfg.ping_interval,
                };
                let fast = self.slot.as_ref().is_some_and(|s| s.is_fast());
                let wake = tokio::select! {
                    biased;
                    // Shutdown: tell the client to go elsewhere.
                    _ = cancel.cancelled() => Wake::Shutdown,
                    // A request, a control frame, or the end of the connection.
                    msg = self.socket.recv() => Wake::Client(msg),
                    // The hub stopped writing for us.
                    () = handed_back(&self.slot), if fast => Wake::HandedBack,
                    // The next event on the followed topics (never, if none).
                    frame = next_frame(&mut self.sub), if !fast => Wake::Event(frame),
                    // Time to ping, or the ping went unanswered.
                    _ = tokio::time::sleep_until(heartbeat) => Wake::Heartbeat,
                    // The token a private topic needs expired.
                    _ = until(self.deadline) => Wake::Expired,
                };
                // Whatever woke it, this task may write now: the socket is
                // taken back first (and what the hub left half-written sent).
                if let Flow::Drop = self.take_back().await {
                    return;
                }
                let flow = match wake {
                    Wake::HandedBack => Flow::Continue,
                    Wake::Shutdown => Flow::Close(GOING_AWAY, "server shutting down"),
                    Wake::Client(msg) => Box::pin(self.on_client(msg)).await,
                    Wake::Event(Some(frame)) => self.on_event(frame).await,
                    Wake::Event(None) => Flow::Close(TRY_AGAIN_LATER, "too far behind; resume"),
                    Wake::Heartbeat => self.on_heartbeat().await,
                    Wake::Expired => Flow::Close(TOKEN_EXPIRED, "token expired"),
                };
                match flow {
                    Flow::Continue => self.go_fast(),
                    Flow::Close(code, reason) => return Box::pin(self.close(code, reason)).await,
                    Flow::Drop => return,
                }
            }
        }
    }

    /// Takes the socket back from the hub's fast path, if it had it, and
    /// sends what the hub left of a frame it wrote in part.
    async fn take_back(&mut self) -> Flow {
        let (Some(sub), Some(slot)) = (self.sub.as_mut(), &self.slot) else {
            return Flow::Continue;
        };
        match sub.take_back(slot).rest {
            Some(rest) => {
                self.socket.feed_raw(&rest);
                self.flush().await
            }
            None => Flow::Continue,
        }
    }

    /// Hands the socket to the hub's fast path when this connection owes
    /// nothing: a subscription with nothing pending (see
    /// `Subscriber::go_fast`), every write flushed.
    fn go_fast(&mut self) {
        if let (Some(sub), Some(slot)) = (self.sub.as_mut(), &self.slot) {
            if self.st.config.fast_path {
                sub.go_fast(slot);
            }
        }
    }

    async fn on_client(&mut self, msg: Result<Option<Message>, WireError>) -> Flow {
        self.last_heard = Instant::now();
        self.ping_sent = None;
        self.spoke |= matches!(msg, Ok(Some(_)));
        match msg {
            Ok(None) => Flow::Drop,
            // Bytes that break the protocol from a peer that has sent no frame
            // (an HTTP client reusing the connection after the 101, say):
            // it does not speak WebSocket, so a close frame would be
            // garbage to it; hang up (RFC 6455 7.1.7 makes the frame a
            // SHOULD, not a MUST).
            Err(err @ WireError::Protocol(_)) if !self.spoke => {
                tracing::debug!(%err, "not a WebSocket peer; hanging up");
                Flow::Drop
            }
            Err(err) => {
                tracing::debug!(%err, "connection ended by a bad frame or the socket");
                match (err.code(), &err) {
                    (Some(code), WireError::Protocol(why)) => Flow::Close(code, why),
                    (Some(code), WireError::TooBig { .. }) => Flow::Close(code, "message too big"),
                    (Some(code), WireError::BadDeflate) => {
                        Flow::Close(code, "compressed message does not inflate")
                    }
                    (Some(code), _) => Flow::Close(code, "text is not UTF-8"),
                    (None, _) => Flow::Drop,
                }
            }
            Ok(Some(Message::Text(text))) => match std::str::from_utf8(&text) {
                Ok(text) => self.on_request(text).await,
                Err(_) => Flow::Close(super::wire::INVALID_PAYLOAD, "text is not UTF-8"),
            },
            Ok(Some(Message::Binary(_))) => {
                self.reply(protocol::error(
                    "binary messages are not supported; send JSON text",
                ))
                .await
            }
            Ok(Some(Message::Ping(payload))) => self.reply(Message::Pong(payload)).await,
            // Any frame proves liveness.
            Ok(Some(Message::Pong(_))) => Flow::Continue,
            Ok(Some(Message::Close(frame))) => {
                // Echo the code (RFC 6455 5.5.1), then end.
                let echo = Message::Close(frame.map(|(code, _)| (code, String::new())));
                let _ = tokio::time::timeout(CLOSE_GRACE, self.socket.send(&echo)).await;
                Flow::Drop
            }
        }
    }

    async fn on_request(&mut self, text: &str) -> Flow {
        let result = match protocol::parse(text) {
            Ok(Request::Subscribe {
                topics,
                last_event_id,
            }) => self.subscribe(topics, last_event_id).await,
            Ok(Request::Unsubscribe { topics }) => self.unsubscribe(topics).await,
            Ok(Request::Auth { token }) => self.auth(token).await,
            Ok(Request::Chat {
                eid,
                name,
                text,
                idempotency_key,
            }) => {
                self.chat(&eid, &name, &text, idempotency_key.as_deref())
                    .await
            }
            Err(err) => Err(err),
        };
        match result {
            Ok(Flow::Continue) => Flow::Continue,
            Ok(flow) => flow,
            Err(err) => self.reply(protocol::error(&err.to_string())).await,
        }
    }

    /// Adds topics. `last_event_id` applies to the added ones (resume, or
    /// a reset); topics already followed go on where they are, so naming
    /// them again changes nothing.
    async fn subscribe(
        &mut self,
        topics: Vec<String>,
        last_event_id: Option<String>,
    ) -> Result<Flow, ApiError> {
        let asked = check_topics(topics)?;
        let added: Vec<String> = asked
            .into_iter()
            .filter(|t| self.topics.binary_search(t).is_err())
            .collect();
        // The same check as an SSE request's; a refusal names the topic
        // and the connection stays open.
        if let Some(grant) = self
            .st
            .config
            .auth
            .authorize(&added, self.token.as_deref())?
        {
            self.deadline = Some(grant.deadline());
        }
        let mut all = self.topics.clone();
        all.extend(added.iter().cloned());
        all.sort();
        if all.len() > MAX_TOPICS_PER_SUBSCRIPTION {
            return Err(ApiError::BadRequest(format!(
                "at most {MAX_TOPICS_PER_SUBSCRIPTION} topics per connection"
            )));
        }
        let start = parse_start(last_event_id.as_deref());
        if !added.is_empty() {
            let flow = self.replace(all, &added, start).await;
            if !matches!(flow, Flow::Continue) {
                return Ok(flow);
            }
        }
        Ok(self.reply(protocol::subscribed(&self.topics)).await)
    }

    /// Replaces the connection's token: every followed topic must still be
    /// allowed by the new one (else nothing changes), and the connection
    /// now ends when the new one expires.
    async fn auth(&mut self, token: String) -> Result<Flow, ApiError> {
        let auth = &self.st.config.auth;
        let grant = auth.verify(&token)?;
        let exp = grant
            .expires
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .ok();
        let needed = auth.authorize(&self.topics, Some(&token))?;
        self.deadline = needed.map(|_| grant.deadline());
        self.token = Some(token);
        self.chatter = Some(grant);
        Ok(self
            .reply(protocol::authorized(self.deadline.and(exp)))
            .await)
    }

    /// Drops topics; the others go on without a gap or a repeat.
    async fn unsubscribe(&mut self, topics: Vec<String>) -> Result<Flow, ApiError> {
        let gone = check_topics(topics)?;
        let kept: Vec<String> = self
            .topics
            .iter()
            .filter(|t| gone.binary_search(t).is_err())
            .cloned()
            .collect();
        if kept.len() != self.topics.len() {
            if !kept.iter().any(|t| self.st.config.auth.is_private(t)) {
                self.deadline = None;
            }
            let flow = self.replace(kept, &[], Start::Current).await;
            if !matches!(flow, Flow::Continue) {
                return Ok(flow);
            }
        }
        Ok(self.reply(protocol::subscribed(&self.topics)).await)
    }

    /// Moves the connection to the topic set `all` (see the module doc).
    async fn replace(&mut self, all: Vec<String>, added: &[String], start: Start) -> Flow {
        let Some(mut old) = self.sub.take() else {
            if !all.is_empty() {
                self.sub = Some(self.st.hub.subscribe(all.clone(), start));
            }
            self.topics = all;
            return Flow::Continue;
        };
        // Write what the old subscriber has ready, so its position is the
        // point up to which the client has everything.
        loop {
            let (batch, open) = gather(&mut old, None, self.latency);
            if batch.is_empty() && open {
                break;
            }
            let n = batch.len() as u64;
            let flow = self.send_frames(&batch).await;
            if !matches!(flow, Flow::Continue) {
                return flow;
            }
            self.delivered.increment(n);
            if !open {
                return Flow::Close(TRY_AGAIN_LATER, "too far behind; resume");
            }
        }
        if !all.is_empty() {
            let sub = self
                .st
                .hub
                .extend(all.clone(), added, old.position(), start);
            self.sub = Some(sub);
        }
        self.topics = all;
        Flow::Continue
    }

    async fn chat(
        &mut self,
        eid: &str,
        name: &str,
        text: &str,
        key: Option<&str>,
    ) -> Result<Flow, ApiError> {
        let grant = self.chat_grant()?;
        let from = match &grant {
            Some(g) => Speaker::User {
                sub: g.sub.as_deref().ok_or_else(|| {
                    ApiError::Unauthorized("chat needs a token with a sub (the user)".into())
                })?,
                name: g.name.as_deref(),
            },
            None => Speaker::Anonymous { name },
        };
        let checked = ChatMessage::check(&self.st.hub, &self.st.config.ws.chat, eid, &from, text);
        let msg = checked.inspect_err(|_| {
            metrics::counter!("livescore_chat_rejected_total", "reason" => "invalid").increment(1)
        })?;
        let limits = &self.st.config.ws.chat;
        let sender = msg.sender(self.client);
        let whose = match &msg.user {
            Some(_) => "from your user",
            None => "from your address",
        };
        match self.st.chat.take(&sender, eid, Instant::now().into_std()) {
            Ok(()) => {}
            Err(Throttled::Sender(wait)) => {
                metrics::counter!("livescore_chat_rejected_total", "reason" => "rate").increment(1);
                return Err(ApiError::BadRequest(format!(
                    "chat rate limit: at most {} per second (burst {}) {whose}; wait {} ms",
                    limits.per_second,
                    limits.burst,
                    wait.as_millis().max(1)
                )));
            }
            Err(Throttled::Game(wait)) => {
                metrics::counter!("livescore_chat_rejected_total", "reason" => "game_rate")
                    .increment(1);
                return Err(ApiError::BadRequest(format!(
                    "chat rate limit: this game's chat takes at most {} per second (burst {}) \
                     from everyone; wait {} ms",
                    limits.game_per_second,
                    limits.game_burst,
                    wait.as_millis().max(1)
                )));
            }
        }
        self.st.chat.publishing(&msg.id);
        let topic = msg.topic();
        match self
            .st
            .bus
            .publish(&topic, crate::model::EVENT_CHAT, msg.to_json(), key)
            .await
        {
            Ok(_) => {
                metrics::counter!("livescore_chat_messages_total").increment(1);
                Ok(Flow::Continue)
            }
            Err(err) => {
                tracing::warn!(%err, topic, "chat not published");
                Err(ApiError::Unavailable(
                    "chat message not sent: the bus is unavailable right now; send it again \
                     (with the same idempotency_key it is posted once)"
                        .into(),
                ))
            }
        }
    }

    /// The verified token this connection chats with: `None` for anonymous
    /// chat (no token, or a server that takes none, under `open`).
    fn chat_grant(&mut self) -> Result<Option<crate::http::auth::Grant>, ApiError> {
        let auth = &self.st.config.auth;
        let required = self.st.config.ws.chat.auth == ChatAuth::Required;
        let Some(token) = self.token.as_deref().filter(|_| auth.accepts_tokens()) else {
            if required {
                metrics::counter!("livescore_chat_rejected_total", "reason" => "auth").increment(1);
                return Err(ApiError::Unauthorized(
                    "chat needs a token: connect with one (Authorization: Bearer, the \
                     livescore_token cookie or ?access_token=) or send {\"type\":\"auth\"}"
                        .into(),
                ));
            }
            return Ok(None);
        };
        let grant = match self.chatter.take() {
            Some(g) => g,
            None => auth.verify(token)?,
        };
        if grant.expires <= std::time::SystemTime::now() {
            return Err(ApiError::Unauthorized(
                "chat token expired; send {\"type\":\"auth\"} with a fresh one".into(),
            ));
        }
        self.chatter = Some(grant.clone());
        Ok(Some(grant))
    }

    async fn on_event(&mut self, first: Arc<Frame>) -> Flow {
        let Some(sub) = self.sub.as_mut() else {
            return Flow::Continue;
        };
        let (batch, open) = gather(sub, Some(first), self.latency);
        let n = batch.len() as u64;
        let flow = self.send_frames(&batch).await;
        if matches!(flow, Flow::Continue) {
            self.delivered.increment(n);
        }
        if matches!(flow, Flow::Continue) && !open {
            return Flow::Close(TRY_AGAIN_LATER, "too far behind; resume");
        }
        flow
    }

    async fn on_heartbeat(&mut self) -> Flow {
        if self.ping_sent.is_some() {
            tracing::debug!("no pong: dropping the connection");
            metrics::counter!("livescore_subscribers_dropped_total", "reason" => "timeout")
                .increment(1);
            return Flow::Drop;
        }
        self.ping_sent = Some(Instant::now());
        self.send(vec![Message::Ping(bytes::Bytes::new())]).await
    }

    async fn reply(&mut self, msg: Message) -> Flow {
        self.send(vec![msg]).await
    }

    /// Writes `batch` in one flush under the send deadline.
    async fn send(&mut self, batch: Vec<Message>) -> Flow {
        if batch.is_empty() {
            return Flow::Continue;
        }
        for msg in &batch {
            self.socket.feed(msg);
        }
        self.flush().await
    }

    /// Writes hub frames in one flush under the send deadline, each as
    /// the bytes the hub's fast path would write for this connection
    /// (plain or compressed, as agreed): encoded once, shared.
    async fn send_frames(&mut self, frames: &[Arc<Frame>]) -> Flow {
        if frames.is_empty() {
            return Flow::Continue;
        }
        // The slot's wire; over TLS (no slot), the same choice.
        let wire = match &self.slot {
            Some(slot) => slot.wire(),
            None if self.socket.deflates() => Wire::WsDeflate,
            None => Wire::Ws,
        };
        for f in frames {
            self.socket.feed_raw(wire.bytes(f));
        }
        self.flush().await
    }

    /// Writes everything fed under the send deadline: a client that does
    /// not take it in time is dropped as slow.
    async fn flush(&mut self) -> Flow {
        match tokio::time::timeout(self.st.config.ws.send_timeout, self.socket.flush()).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(err)) => {
                tracing::debug!(%err, "write failed");
                Flow::Drop
            }
            Err(_) => {
                tracing::info!("client not reading: dropped");
                metrics::counter!("livescore_subscribers_dropped_total", "reason" => "slow")
                    .increment(1);
                Flow::Drop
            }
        }
    }

    /// Sends a close frame and waits briefly for the client's reply.
    async fn close(mut self, code: u16, reason: &'static str) {
        let frame = Message::Close(Some((code, reason.to_string())));
        let handshake = async {
            if self.socket.send(&frame).await.is_ok() {
                // Until the client's close (or anything that ends it).
                while let Ok(Some(msg)) = self.socket.recv().await {
                    if matches!(msg, Message::Close(_)) {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, handshake).await;
    }
}

/// The subscriber's next frame; pending forever without a subscription.
/// Resolves at `deadline`; never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn next_frame(sub: &mut Option<Subscriber>) -> Option<Arc<Frame>> {
    match sub {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// `first` and every frame ready after it, up to [`MAX_BATCH_BYTES`];
/// false once the subscription is over.
fn gather(
    sub: &mut Subscriber,
    first: Option<Arc<Frame>>,
    latency: &Histogram,
) -> (Vec<Arc<Frame>>, bool) {
    let mut out = Vec::new();
    let mut bytes = 0;
    let now = now_us();
    let mut next = first;
    loop {
        if let Some(f) = next.take() {
            bytes += f.ws_json().len();
            if sub.is_live(&f) {
                latency.observe(&f, now);
            }
            out.push(f);
        }
        if bytes >= MAX_BATCH_BYTES {
            break;
        }
        match sub.try_next() {
            Next::Frame(f) => next = Some(f),
            Next::Empty => return (out, true),
            Next::Closed => return (out, false),
        }
    }
    (out, true)
}

/// The hub handing `slot` back (never, without one).
async fn handed_back(slot: &Option<Arc<Slot>>) {
    match slot {
        Some(slot) => slot.handed_back().await,
        None => std::future::pending().await,
    }
}
