//! Server-Sent Events: `/api/livescore` (the classic all-games stream) and
//! `/api/stream` (any topics, resumable).
//!
//! Frames come pre-encoded from the hub; this module only frames the
//! response, adds `retry:` and keep-alives, and writes whatever is pending
//! for a client in one chunk rather than one write per event. A client
//! whose `Accept-Encoding` allows gzip gets each piece in its deflated
//! form, shared like the plain one (`hub::deflate`).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use tokio::time::{Instant, Sleep};

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

use super::auth::request_token;
use super::encoding::AcceptEncoding;
use super::error::{ApiError, ErrorBody};
use super::metrics::ConnectionGuard;
use super::subscription::{stream_params, wants_deltas, wants_event_stream};
use super::AppState;
use crate::bus::now_us;
use crate::hub::deflate::{Deflated, GzipSum, GZIP_HEADER};
use crate::hub::direct::{delta_form, Slot};
use crate::hub::{Frame, Next, Start, Subscriber};
use crate::model::{self, EventId};

/// Most bytes gathered into one write for a client that is behind; more
/// waits for the next write. A client that stops reading pins the batch
/// that found its socket full for as long as it stalls, so this is its
/// memory cost beyond the kernel's buffers (it was 64 KiB: ~75 KiB per
/// stalled client, docs/BENCHMARKS.md); 16 KiB is still ~80 events a write.
pub const MAX_BATCH_BYTES: usize = 16 * 1024;

const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// The event name of [`EXPIRED`] (reserved: see `publish::RESERVED_EVENTS`).
pub const EVENT_EXPIRED: &str = "expired";

/// The last event of a stream whose token expired (no id: the client
/// resumes from the last real event with a fresh token, losing nothing).
pub const EXPIRED: &[u8] = b"event: expired\ndata: {\"reason\":\"token expired\"}\n\n";

/// [`KEEPALIVE`] deflated, once for every gzip stream.
static KEEPALIVE_GZIP: std::sync::LazyLock<Deflated> =
    std::sync::LazyLock::new(|| Deflated::of(KEEPALIVE));

/// [`EXPIRED`] deflated, once for every gzip stream.
static EXPIRED_GZIP: std::sync::LazyLock<Deflated> =
    std::sync::LazyLock::new(|| Deflated::of(EXPIRED));

/// `GET /api/livescore`: the full list at once, then after every change.
/// Without `Accept: text/event-stream` it is a browser or script that wants
/// the JSON, so it is sent there.
#[utoipa::path(get, path = "/api/livescore", tag = "stream",
    params(
        ("league" = Option<String>, Query,
            description = "Only these leagues (`nba`, `eng.1`; repeated or comma-separated): \
                each league's board comes as its own `update`, its games naming their league"),
        ("delta" = Option<bool>, Query,
            description = "`true`: after the first board, a board that changes only some games \
                goes out as `event: patch` under the same id, its data an RFC 7396 merge patch of \
                the board keyed by eid (`{\"2015091000\":{\"home\":{\"score\":7}}}`), whenever \
                this client holds the board it applies to; otherwise the whole board as usual"),
    ),
    responses(
        (status = 200, description = "With `Accept: text/event-stream`: a never-ending SSE stream; \
            `event: update` with the JSON array of all games at once, then after every change",
            content_type = "text/event-stream", body = LivescoreEvent,
            headers(("Cache-Control" = String, description = "no-cache"))),
        (status = 302, description = "Without `Accept: text/event-stream`: the JSON is at /api/",
            headers(("Location" = String, description = "/api/"))),
        (status = 400, description = "A `delta` that is not true or false", body = ErrorBody),
        (status = 401, description = "`--auth required` and no valid token", body = ErrorBody),
        (status = 404, description = "A `league` this server does not follow", body = ErrorBody),
        (status = 403, description = "The token does not cover `scores`", body = ErrorBody),
    ))]
pub async fn livescore(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // A bad `delta` is a 400 whatever the client accepts.
    wants_deltas(query.as_deref())?;
    let leagues = super::leagues::requested(query.as_deref())?;
    if !wants_event_stream(&headers) {
        // SPEC: `302 Found` (axum's `Redirect::to` would be a 303); the
        // leagues asked for go along.
        let location = if leagues.is_empty() {
            HeaderValue::from_static("/api/")
        } else {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("league", &leagues.join(","))
                .finish();
            HeaderValue::from_str(&format!("/api/?{query}"))
                .unwrap_or_else(|_| HeaderValue::from_static("/api/"))
        };
        return Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response());
    }
    let token = request_token(&headers, query.as_deref());
    let gzip = AcceptEncoding::of(&headers).gzip();
    Ok(respond(
        livescore_body(&st, query.as_deref(), token.as_deref())?.gzip(gzip),
    ))
}

/// `GET /api/stream?topic=T[&topic=T2…]`, resumable with `Last-Event-ID`
/// (header) or `lastEventId` (query, for clients that cannot set headers).
#[utoipa::path(get, path = "/api/stream", tag = "stream",
    params(
        ("topic" = Vec<Topic>, Query, style = Form, explode, min_items = 1, max_items = 32,
            description = "Topics to follow, repeated: `scores`, `game/{eid}`, `chat/{eid}` or any \
                published topic (at most 32)",
            example = json!(["scores", "game/2015091000"])),
        ("lastEventId" = Option<String>, Query,
            description = "Resume after this event id (for clients that cannot set Last-Event-ID)"),
        ("Last-Event-ID" = Option<String>, Header,
            description = "Resume after this event id; wins over `lastEventId`"),
        ("access_token" = Option<String>, Query,
            description = "A token for private topics, for clients that can set neither \
                `Authorization: Bearer` nor the `livescore_token` cookie"),
        ("delta" = Option<bool>, Query,
            description = "`true`: after the first board, a board that changes only some games \
                goes out as `event: patch` under the same id, its data an RFC 7396 merge patch of \
                the board keyed by eid (`{\"2015091000\":{\"home\":{\"score\":7}}}`), whenever \
                this client holds the board it applies to; otherwise the whole board as usual"),
    ),
    responses(
        (status = 200, description = "A never-ending SSE stream of the topics' events, resumed \
            after the last id when given (or `event: reset` first when it cannot be)",
            content_type = "text/event-stream", body = StreamEvent,
            headers(("Cache-Control" = String, description = "no-cache"))),
        (status = 400, description = "No topic, a bad topic or too many topics, or a `delta` \
            that is not true or false", body = ErrorBody),
        (status = 401, description = "A private topic and no valid token (missing, expired, \
            not yet valid, bad signature)", body = ErrorBody),
        (status = 403, description = "A valid token whose grant does not cover a private topic",
            body = ErrorBody),
    ))]
pub async fn stream(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = request_token(&headers, query.as_deref());
    let gzip = AcceptEncoding::of(&headers).gzip();
    Ok(respond(
        stream_body(
            &st,
            query.as_deref(),
            headers.get("last-event-id").map(|v| v.as_bytes()),
            token.as_deref(),
        )?
        .gzip(gzip),
    ))
}

/// The body of `GET /api/stream`, for hyper and the socket path alike:
/// the request parsed and authorized, then subscribed.
pub fn stream_body(
    st: &AppState,
    query: Option<&str>,
    last_event_id: Option<&[u8]>,
    token: Option<&str>,
) -> Result<SseBody, ApiError> {
    let (topics, start) = stream_params(query, last_event_id)?;
    let delta = wants_deltas(query)?;
    let resumed = match start {
        Start::After(id) => Some(id),
        _ => None,
    };
    let body = authorized_body(st, topics, start, token)?;
    Ok(if delta {
        body.with_deltas(resumed)
    } else {
        body
    })
}

/// The body of `GET /api/livescore`: the scores topic, from the current
/// list.
pub fn livescore_body(
    st: &AppState,
    query: Option<&str>,
    token: Option<&str>,
) -> Result<SseBody, ApiError> {
    // The classic stream ignores Last-Event-ID on purpose: the current list
    // on every (re)connect is what makes it impossible to miss a final.
    // `?league=nba`: that league's board (several: each league's board
    // as its own `update`, whose games name their league).
    let leagues = super::leagues::requested(query)?;
    let topics = if leagues.is_empty() {
        vec![model::TOPIC_SCORES.to_string()]
    } else {
        super::leagues::known(st, &leagues)?;
        let mut topics: Vec<String> = leagues.iter().map(|l| model::board_topic(l)).collect();
        topics.sort();
        topics
    };
    let delta = wants_deltas(query)?;
    let body = authorized_body(st, topics, Start::Current, token)?;
    Ok(if delta { body.with_deltas(None) } else { body })
}

/// The one `authorize` before a stream subscribes; a grant that was
/// needed ends the stream when it expires.
fn authorized_body(
    st: &AppState,
    topics: Vec<String>,
    start: Start,
    token: Option<&str>,
) -> Result<SseBody, ApiError> {
    let grant = st.config.auth.authorize(&topics, token)?;
    let body = SseBody::new(st, st.hub.subscribe(topics, start));
    Ok(body.until(grant.map(|g| g.deadline())))
}

fn respond(body: SseBody) -> Response {
    let gzip = body.is_gzip();
    // A stream the server ends gets the gzip trailer as its last chunk.
    let stream = futures::stream::unfold(Some(body), |b| async move {
        let mut b = b?;
        match b.next_chunk().await {
            Some(chunk) => Some((Ok::<_, Infallible>(chunk), Some(b))),
            None => b.finish().map(|end| (Ok(end), None)),
        }
    });
    let mut res = (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    if gzip {
        let h = res.headers_mut();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        h.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// The range a stream's opening `retry:` is drawn from, one random value
/// per connection: clients dropped together (a deploy, a node lost) then
/// come back spread over the range instead of all in the same second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryRange {
    min_ms: u64,
    max_ms: u64,
}

impl Default for RetryRange {
    /// SPEC's defaults: 1 to 5 s.
    fn default() -> Self {
        Self {
            min_ms: 1_000,
            max_ms: 5_000,
        }
    }
}

impl RetryRange {
    /// `min` to `max`, both included, whole milliseconds (what `retry:`
    /// carries); an error that names the flags when `min` is above `max`.
    pub fn new(min: Duration, max: Duration) -> Result<Self, String> {
        let (min_ms, max_ms) = (millis(min), millis(max));
        if min_ms > max_ms {
            return Err(format!(
                "--retry-min ({min_ms} ms) is above --retry-max ({max_ms} ms)"
            ));
        }
        Ok(Self { min_ms, max_ms })
    }

    /// One connection's `retry:`, in milliseconds.
    pub fn pick(&self) -> u64 {
        fastrand::u64(self.min_ms..=self.max_ms)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One stream's state, shared by the hyper body and the socket path.
pub struct SseBody {
    sub: Subscriber,
    keepalive: Duration,
    /// Fires when the stream may have been idle for `keepalive`; re-armed
    /// from `last_write` when it fires, so a busy stream never touches the
    /// timer wheel (a new `sleep` per chunk did).
    idle: Pin<Box<Sleep>>,
    /// When the last chunk went out.
    last_write: Instant,
    /// The opening `retry:` line, sent with the first chunk.
    retry: Option<Bytes>,
    _guard: ConnectionGuard,
    /// `livescore_events_delivered_total{transport="sse"}`, looked up once.
    delivered: metrics::Counter,
    /// `livescore_delivery_latency_seconds{transport="sse"}`.
    latency: &'static crate::hub::latency::Histogram,
    /// When the token a private topic needed expires (boxed: only such
    /// streams pay for it).
    expires: Option<Pin<Box<Sleep>>>,
    /// The `expired` event went out; the stream ends.
    expired: bool,
    /// `?delta=true`: boards go out as patches when the client has the one
    /// a patch applies to.
    delta: bool,
    /// The id of the board this client has: the last `update` sent, or the
    /// `Last-Event-ID` it resumed from.
    board: Option<EventId>,
    /// A gzip stream (`Content-Encoding: gzip`): every piece is sent
    /// deflated, and this sums what was sent for the trailer.
    gzip: Option<GzipSum>,
}

impl SseBody {
    /// The body of one stream; counts as an open SSE connection while alive.
    pub fn new(st: &AppState, sub: Subscriber) -> Self {
        Self {
            sub,
            keepalive: st.config.keepalive,
            idle: Box::pin(tokio::time::sleep(st.config.keepalive)),
            last_write: Instant::now(),
            retry: Some(Bytes::from(format!(
                "retry: {}\n\n",
                st.config.retry.pick()
            ))),
            _guard: ConnectionGuard::new("sse"),
            delivered: super::metrics::delivered("sse"),
            latency: crate::hub::latency::of("sse"),
            expires: None,
            expired: false,
            delta: false,
            board: None,
            gzip: None,
        }
    }

    /// Sends this stream gzip-encoded when `on` (the request's
    /// `Accept-Encoding` allows it).
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on.then(GzipSum::default);
        self
    }

    /// Whether it is sent gzip-encoded.
    pub fn is_gzip(&self) -> bool {
        self.gzip.is_some()
    }

    /// The last bytes of a stream the server ends (shutdown, the end of
    /// its subscription, an expired token), after `next_chunk` said
    /// `None`: on a gzip stream, the final block and trailer that make it
    /// a whole gzip member; nothing on a plain one.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.gzip.take().map(|sum| sum.trailer())
    }

    /// `piece` as this stream sends it: as is, or deflated (`deflated`
    /// makes the shared deflated form) and counted in the gzip sum.
    fn piece<'a>(
        gzip: &mut Option<GzipSum>,
        plain: &'a Bytes,
        deflated: impl FnOnce() -> &'a Deflated,
    ) -> &'a Bytes {
        match gzip {
            None => plain,
            Some(sum) => {
                let d = deflated();
                sum.add(d);
                &d.bytes
            }
        }
    }

    /// Sends boards as patches (`?delta=true`), the client holding the
    /// board of `resumed_from` if it resumes.
    pub fn with_deltas(mut self, resumed_from: Option<EventId>) -> Self {
        self.delta = true;
        self.board = resumed_from;
        self
    }

    /// The bytes that carry `frame` to this client, in its encoding: its
    /// patch instead of the whole board when it is a delta stream whose
    /// client has exactly the board the patch applies to.
    fn wire<'f>(&mut self, frame: &'f Frame) -> &'f Bytes {
        let form = if self.delta {
            delta_form(frame, &mut self.board)
        } else {
            frame
        };
        Self::piece(&mut self.gzip, &form.sse, || form.sse_gzip())
    }

    /// Ends the stream at `deadline` (a token's `exp`) with a last
    /// `event: expired`.
    pub fn until(mut self, deadline: Option<Instant>) -> Self {
        self.expires = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
        self
    }

    /// The next bytes to send: the `retry:` line with whatever is ready,
    /// then every frame ready (one shared buffer when there is one), or a
    /// keep-alive comment when idle. `None` at shutdown or when the
    /// subscription is over.
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.expired {
            return None;
        }
        if let Some(retry) = self.retry.take() {
            let mut buf = BytesMut::new();
            match &mut self.gzip {
                None => buf.extend_from_slice(&retry),
                Some(sum) => {
                    // The stream's header, then the `retry:` line as a
                    // stored block: it may differ per connection, and
                    // storing costs 5 bytes where a compressor costs
                    // hundreds of KiB.
                    let stored = Deflated::stored(&retry);
                    sum.add(&stored);
                    buf.extend_from_slice(&GZIP_HEADER);
                    buf.extend_from_slice(&stored.bytes);
                }
            }
            let opening = buf.len();
            let open = self.gather(&mut buf, now_us());
            return (open || buf.len() > opening).then(|| buf.freeze());
        }
        let first = loop {
            tokio::select! {
                biased;
                // `None` at shutdown too (the hub closes every
                // subscription): the response ends cleanly so EventSource
                // reconnects (to another node behind the balancer).
                f = self.sub.next() => break f?,
                // The token expired: one last event, then the end (the
                // client comes back with a fresh token and its last id).
                () = expiry(&mut self.expires) => {
                    self.expired = true;
                    const PLAIN: Bytes = Bytes::from_static(EXPIRED);
                    return Some(Self::piece(&mut self.gzip, &PLAIN, || &*EXPIRED_GZIP).clone());
                }
                // Idle: a comment keeps proxies and browsers from timing
                // out; if something was written since the timer was armed,
                // it is only re-armed.
                _ = self.idle.as_mut() => {
                    let due = self.last_write + self.keepalive;
                    if due > Instant::now() {
                        self.idle.as_mut().reset(due);
                        continue;
                    }
                    self.last_write = Instant::now();
                    self.idle.as_mut().reset(self.last_write + self.keepalive);
                    const PLAIN: Bytes = Bytes::from_static(KEEPALIVE);
                    return Some(Self::piece(&mut self.gzip, &PLAIN, || &*KEEPALIVE_GZIP).clone());
                }
            }
        };
        self.last_write = Instant::now();
        let now = now_us();
        self.count(&first, now);
        let mut buf = BytesMut::new();
        match self.sub.try_next() {
            Next::Frame(second) => {
                buf.extend_from_slice(self.wire(&first));
                buf.extend_from_slice(self.wire(&second));
                self.count(&second, now);
            }
            // The common case, one event: share the encoded bytes as is.
            Next::Empty | Next::Closed => return Some(self.wire(&first).clone()),
        }
        self.gather(&mut buf, now);
        Some(buf.freeze())
    }

    /// Hands the socket behind `slot` to the hub's fast path when this
    /// stream owes nothing (its opening chunk and every pending frame are
    /// out): until it is handed back, the hub writes each event to it.
    pub fn go_fast(&mut self, slot: &Arc<Slot>) -> bool {
        if self.retry.is_some() || self.expired {
            return false;
        }
        if self.delta {
            // The hub picks board or patch by what this client has.
            slot.set_board(self.board);
        }
        self.sub.go_fast(slot)
    }

    /// While the hub writes the socket: resolves when this stream must
    /// take it back: the hub handed it back, the token expired, or it was
    /// idle (nothing written by either side) for the keep-alive interval.
    pub async fn wait_fast(&mut self, slot: &Slot) {
        loop {
            tokio::select! {
                biased;
                () = slot.handed_back() => return,
                () = expiry(&mut self.expires) => return,
                _ = self.idle.as_mut() => {
                    if let Some(wrote) = instant_of(slot.wrote_us()) {
                        self.last_write = self.last_write.max(wrote);
                    }
                    let due = self.last_write + self.keepalive;
                    if due > Instant::now() {
                        self.idle.as_mut().reset(due);
                        continue;
                    }
                    return;
                }
            }
        }
    }

    /// Takes the socket back from the hub; returns the end of a frame the
    /// hub wrote in part, to be sent before anything else.
    pub fn take_back(&mut self, slot: &Slot) -> Option<Bytes> {
        let taken = self.sub.take_back(slot);
        if let Some(wrote) = instant_of(taken.wrote_us) {
            self.last_write = self.last_write.max(wrote);
        }
        if self.delta {
            self.board = taken.board;
        }
        if let Some(sum) = &mut self.gzip {
            sum.extend(taken.gzip);
        }
        taken.rest
    }

    /// Counts a frame going out at `now`: delivered, and its delay if it
    /// was published while this stream listened.
    fn count(&self, frame: &Frame, now: u64) {
        self.delivered.increment(1);
        if self.sub.is_live(frame) {
            self.latency.observe(frame, now);
        }
    }

    /// Appends every ready frame (up to [`MAX_BATCH_BYTES`]), counted as
    /// written at `now` (one clock read per chunk); false when the
    /// subscription is over.
    fn gather(&mut self, buf: &mut BytesMut, now: u64) -> bool {
        while buf.len() < MAX_BATCH_BYTES {
            match self.sub.try_next() {
                Next::Frame(f) => {
                    buf.extend_from_slice(self.wire(&f));
                    self.count(&f, now);
                }
                Next::Empty => return true,
                Next::Closed => return false,
            }
        }
        true
    }
}

/// The monotonic instant of a wall-clock time in µs (0: never).
fn instant_of(us: u64) -> Option<Instant> {
    if us == 0 {
        return None;
    }
    let ago = Duration::from_micros(now_us().saturating_sub(us));
    Instant::now().checked_sub(ago)
}

/// Resolves when the stream's token expires; never without one.
async fn expiry(expires: &mut Option<Pin<Box<Sleep>>>) {
    match expires {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

// The OpenAPI schemas the handlers above name (doc only: the stream is
// bytes, these describe each event for /api/openapi.json).

/// A topic name as [`crate::model::valid_topic`] accepts it; only a schema
/// (topics travel as plain strings).
pub struct Topic;

impl utoipa::PartialSchema for Topic {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(TOPIC_PATTERN))
            .examples([serde_json::json!("scores")])
            .into()
    }
}

impl utoipa::ToSchema for Topic {}

/// One event of `GET /api/livescore` as an SSE client reads it (OpenAPI
/// 3.1 has a `text/event-stream` schema describe each event): `update`,
/// the data a JSON array of every game, or with `?delta=true` a `patch`.
pub struct LivescoreEvent;

impl utoipa::PartialSchema for LivescoreEvent {
    fn schema() -> RefOr<Schema> {
        let games = serde_json::json!({
            "type": "array",
            "items": {"$ref": "#/components/schemas/Game"}
        });
        let data = serde_json::json!({"oneOf": [games, {
            "type": "object",
            "description": "`patch`: an RFC 7396 merge patch of the board keyed by eid",
            "additionalProperties": {"type": "object"}
        }]});
        sse_event(
            "`event: update`, data: the JSON array of all games of the week; with \
             `?delta=true`, `event: patch` and a merge patch of the board keyed by eid",
            Some(["update", "patch"]),
            data,
        )
    }
}

impl utoipa::ToSchema for LivescoreEvent {}

/// One event of `GET /api/stream`: `update` (scores), `game`, `score`,
/// `chat`, `reset` or any published name; the data is always JSON.
pub struct StreamEvent;

impl utoipa::PartialSchema for StreamEvent {
    fn schema() -> RefOr<Schema> {
        sse_event(
            "An event of a followed topic (SPEC: `update` on scores (or `patch`, a merge patch \
             of the board keyed by eid, with `?delta=true`), `game` and `score` on \
             game/{eid}, `chat` on chat/{eid}, as published on others), or `reset` \
             ({\"reason\",\"last_id\"}) when a resume point cannot be honoured",
            None::<[&str; 0]>,
            serde_json::json!({}),
        )
    }
}

impl utoipa::ToSchema for StreamEvent {}

/// An SSE event object (`event`, `id`, `data`) whose data is JSON matching
/// `data_schema` (JSON Schema's `contentMediaType` + `contentSchema`,
/// which utoipa's model lacks, hence the raw keyword).
fn sse_event<const N: usize>(
    description: &str,
    events: Option<[&str; N]>,
    data_schema: serde_json::Value,
) -> RefOr<Schema> {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let data = string()
        .content_media_type("application/json")
        .extensions(Some(
            [("contentSchema".to_string(), data_schema)]
                .into_iter()
                .collect(),
        ));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .property("event", string().enum_values(events))
        .property(
            "id",
            string().description(Some("The event id; opaque, increasing")),
        )
        .property("data", data)
        .required("event")
        .required("id")
        .required("data")
        .into()
}

/// What [`crate::model::valid_topic`] checks, as a regular expression.
pub const TOPIC_PATTERN: &str = "^[A-Za-z0-9/_.:-]{1,128}$";
