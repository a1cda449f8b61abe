//! `POST /api/publish`: events from outside (an ingester on another host,
//! an operator's script) enter the bus here, and so reach every client of
//! their topic like any other event.
//!
//! Off unless a token is configured (403), so a server started without one
//! cannot be written to by anybody. The bearer token is compared in
//! constant time so its bytes cannot be guessed from response timing. The
//! token is checked before the body is read, so an unauthenticated client
//! cannot make us buffer anything; the body is capped at
//! [`MAX_PUBLISH_BYTES`]. State topics (`scores`, `game/*`) only take data
//! of the shape clients expect there: one bad publish must not break every
//! scoreboard. The event names the server sends itself are refused where
//! a client would take them for the server's ([`is_reserved`]): a forged
//! `patch` would rewrite every delta client's board.
//!
//! The answer is bounded by the bus's publish timeout and means what it
//! says: 202 = in the bus, every subscriber will get it; 503 (with
//! `Retry-After`) = not published, and no copy will be delivered later.
//! An `Idempotency-Key` header makes a retry with the same key answer the
//! first publish's id instead of publishing again, on any node of the
//! deployment, within the bus's dedupe window.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::auth::{token_from, AuthError};
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::model::{self, EventId, Game, ScoreEvent};
use crate::store::writer::Kept;

/// Largest request body accepted; larger gets 413. Events are small; a
/// client that sends more is broken or hostile.
pub const MAX_PUBLISH_BYTES: usize = 64 * 1024;

/// What a 202 from the publish API promises (`--publish-ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Ack {
    /// In the bus: every subscriber will get it; the database write
    /// follows behind (a `kill -9` of this node loses at most the events
    /// still queued for the database).
    #[default]
    Bus,
    /// In the bus and committed to the database (the writer's batches are
    /// the group commit): a `kill -9` loses none of the events answered
    /// 202. Past the publish timeout without the commit the answer is 504
    /// with the id: published, not yet stored; also 504 when the writer
    /// shed the event (its queue full while the database was behind).
    Stored,
}

/// The header that makes a publish idempotent (IETF draft
/// "The Idempotency-Key HTTP Header Field").
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Event names only the server sends (SPEC), refused on every topic: a
/// published one would be taken by clients for the server's own. A forged
/// `patch` is the worst of them: a `?delta=true` client merges it into its
/// board and keeps the result until that field next changes, since the
/// server believes the client holds the real board.
pub const RESERVED_EVENTS: &[&str] = &[
    crate::hub::EVENT_PATCH,
    crate::hub::EVENT_RESET,
    super::sse::EVENT_EXPIRED,
];

/// Event names the server sends on the topics whose state it owns, each
/// with its one topic: accepted there (with the shape check below, so an
/// ingester on another host can publish them), refused on every other
/// topic, where a client would take them for the server's state.
pub const STATE_EVENTS: &[(&str, &str)] = &[
    (model::EVENT_UPDATE, model::TOPIC_SCORES),
    (model::EVENT_UPDATE, "scores/{league}"),
    (model::EVENT_GAME, "game/{eid}"),
    (model::EVENT_SCORE, "game/{eid}"),
];

/// Why a publish with one of the server's own event names is refused,
/// naming every one of them (the 400's message).
fn reserved_message(topic: &str, event: &str) -> String {
    let state: Vec<String> = STATE_EVENTS
        .iter()
        .map(|(ev, on)| format!("{ev:?} (except on {on})"))
        .collect();
    format!(
        "event name {event:?} is reserved on {topic:?}: the server sends it itself \
         (a client could not tell a published one from its own); reserved: {} on every topic, {}",
        RESERVED_EVENTS
            .iter()
            .map(|e| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        state.join(", ")
    )
}

/// Whether `event` on `topic` is one the server sends itself (see
/// [`RESERVED_EVENTS`] and [`STATE_EVENTS`]).
pub fn is_reserved(topic: &str, event: &str) -> bool {
    let game_topic = topic.starts_with("game/");
    match event {
        e if RESERVED_EVENTS.contains(&e) => true,
        model::EVENT_UPDATE => !model::is_board_topic(topic),
        model::EVENT_GAME | model::EVENT_SCORE => !game_topic,
        _ => false,
    }
}

/// Longest event name, in characters (as JSON Schema's `maxLength`
/// counts, so the OpenAPI description can state the limit exactly).
pub const MAX_EVENT_NAME_CHARS: usize = 64;

/// The bearer token of the publish API. Its `Debug` never shows the value,
/// so it cannot leak through a logged config.
#[derive(Clone)]
pub struct PublishToken(String);

impl PublishToken {
    /// A token; `None` for an empty string (an unset env var must not
    /// turn the API on with an empty password).
    pub fn new(token: &str) -> Option<Self> {
        (!token.is_empty()).then(|| Self(token.to_string()))
    }

    /// Constant-time comparison (for equal lengths; the length itself is
    /// not secret enough to matter).
    pub fn matches(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// The static publish token, replaceable while the server runs (a config
/// reload on SIGHUP): every clone of an `HttpConfig` shares one.
#[derive(Debug, Clone, Default)]
pub struct PublishTokenCell(super::live::Live<Option<PublishToken>>);

impl PublishTokenCell {
    /// A cell holding `token` (`None`: the static token is off).
    pub fn new(token: Option<PublishToken>) -> Self {
        Self(super::live::Live::new(token))
    }

    /// Replaces the token; the next request is checked against the new one.
    pub fn set(&self, token: Option<PublishToken>) {
        self.0.set(token);
    }

    /// Whether a static token is configured.
    pub fn is_set(&self) -> bool {
        self.0.with(Option::is_some)
    }

    /// Whether `given` is the static token (never when none is set).
    pub fn matches(&self, given: &str) -> bool {
        self.0
            .with(|t| t.as_ref().is_some_and(|t| t.matches(given)))
    }
}

impl std::fmt::Debug for PublishToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishToken(<redacted>)")
    }
}

/// The request body of `POST /api/publish` (its schema attributes state
/// what `check` enforces, so schema-valid bodies are accepted).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishRequest {
    /// Topic, e.g. `news` or `chat/2015091000`. Data for the state topics
    /// (`scores` `update`, `game/*` `game`, `game/*` `score`) must have the
    /// shape clients expect there (a Game list, a Game, a ScoreEvent).
    #[schema(pattern = "^[A-Za-z0-9/_.:-]{1,128}$", example = "news")]
    topic: String,
    /// SSE event name: no control characters. The server's own names are
    /// refused (400): `patch`, `reset` and `expired` on every topic;
    /// `update` except on `scores`, `game` and `score` except on
    /// `game/{eid}`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$",
        example = "flash"
    )]
    event: String,
    /// Any JSON value; sent to clients as the event's data.
    data: serde_json::Value,
}

/// The 202 answer: the id the bus gave the event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Published {
    id: EventId,
}

/// `POST /api/publish`: 202 `{"id": "<event id>"}`.
#[utoipa::path(post, path = "/api/publish", tag = "api",
    request_body = PublishRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,128}$",
         description = "Makes a retry answer the first publish's id instead of publishing again, on any node, within the bus's dedupe window (memory and Redis 10 min, NATS 2 min)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Published; the event's id", body = Published),
        (status = 400, description = "Malformed body, bad topic, event name or Idempotency-Key, \
            data of the wrong shape for a state topic, or one of the server's own event names \
            (`patch`, `reset`, `expired` on every topic; `update` except on `scores`; `game` and \
            `score` except on `game/{eid}`), listed in the error", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (neither the publish token \
            nor a valid signed token)", body = ErrorBody),
        (status = 403, description = "The publish API is off (no publish token, no token key), \
            or the signed token's publish grant does not cover the topic", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 504, description = "With --publish-ack stored: published (will be delivered; the id is in the body) but not committed to the database within the publish timeout, or dropped from its write queue while it was behind", body = ErrorBody),
        (status = 503, description = "Not published within the publish timeout (the bus is unavailable); it will not be delivered later. Retry after `Retry-After` seconds, with the same Idempotency-Key", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    ))]
pub async fn publish(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let auth = &st.config.auth;
    if !st.config.publish_token.is_set() && !auth.accepts_tokens() {
        return Err(ApiError::Forbidden(
            "the publish API is off: the server has no publish token".into(),
        ));
    }
    // Only the header: a publisher is no browser, and a cookie or query
    // token must not publish (auth's one Bearer reader, scheme
    // case-insensitive as RFC 9110 section 11.1 says).
    let bearer = token_from(
        req.headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
        None,
        None,
    );
    let given = bearer.as_deref().unwrap_or("");
    // The static token may publish anywhere; a signed token where its
    // publish grant says, checked once the topic is known. Either is
    // verified before the body is read.
    let static_ok = st.config.publish_token.matches(given);
    let grant = match static_ok {
        true => None,
        false if auth.accepts_tokens() && !given.is_empty() => Some(auth.verify(given)?),
        false => return Err(ApiError::Unauthorized("missing or bad bearer token".into())),
    };
    let key = idempotency_key(req.headers())?;
    let body = read_body(req.into_body()).await?;
    let req: PublishRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("bad publish request: {e}")))?;
    check(&req)?;
    if let Some(grant) = &grant {
        if !grant.may_publish(&req.topic) {
            return Err(AuthError::PublishNotAllowed(req.topic.clone()).into());
        }
    }
    let data = crate::feed::json(&req.data);
    let id = st
        .bus
        .publish(&req.topic, &req.event, data, key.as_deref())
        .await
        .map_err(|e| ApiError::Unavailable(format!("not published: {e}")))?;
    tracing::debug!(topic = req.topic, event = req.event, %id, "published from outside");
    if st.config.publish_ack == Ack::Stored {
        let error = match st.store.kept(id.seq, st.config.store_wait).await {
            Kept::Stored => None,
            Kept::Pending => Some(
                "published (it will be delivered) but not stored in the database within the publish timeout",
            ),
            Kept::Shed => Some(
                "published (it was delivered) but dropped from the database queue while the database was behind; it will not be stored",
            ),
        };
        if let Some(error) = error {
            let body = serde_json::json!({ "id": id, "error": error });
            return Ok((StatusCode::GATEWAY_TIMEOUT, Json(body)).into_response());
        }
    }
    Ok((StatusCode::ACCEPTED, Json(Published { id })).into_response())
}

/// The `Idempotency-Key` header, if any (400 when it is not a key we take).
fn idempotency_key(headers: &header::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if crate::bus::valid_key(key) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::BadRequest(format!(
            "bad Idempotency-Key: 1 to {} visible ASCII characters",
            crate::bus::MAX_KEY_BYTES
        ))),
    }
}

async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    // The only error of a limited read we can act on is the limit; a
    // client that vanished mid-body never sees the answer anyway.
    axum::body::to_bytes(body, MAX_PUBLISH_BYTES)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!("body larger than {MAX_PUBLISH_BYTES} bytes"))
        })
}

fn check(req: &PublishRequest) -> Result<(), ApiError> {
    if !model::valid_topic(&req.topic) {
        return Err(ApiError::BadRequest(format!(
            "bad topic {:?}: 1 to {} characters of A-Z a-z 0-9 / - _ . :",
            req.topic.chars().take(40).collect::<String>(),
            model::MAX_TOPIC_BYTES
        )));
    }
    let ev = &req.event;
    let chars = ev.chars().count();
    if chars == 0 || chars > MAX_EVENT_NAME_CHARS || ev.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "bad event name: 1 to {MAX_EVENT_NAME_CHARS} characters, no line breaks or control characters"
        )));
    }
    if is_reserved(&req.topic, ev) {
        return Err(ApiError::BadRequest(reserved_message(&req.topic, ev)));
    }
    if req.topic.starts_with("chat/") && *ev == model::EVENT_CHAT {
        return Err(ApiError::BadRequest(
            "chat messages are posted over /ws, where names and texts are checked".into(),
        ));
    }
    let shape = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(ApiError::BadRequest(format!(
                "data for {} {} must be {what}",
                req.topic, req.event
            )))
        }
    };
    if model::is_board_topic(&req.topic) && *ev == model::EVENT_UPDATE {
        shape(
            Vec::<Game>::deserialize(&req.data).is_ok(),
            "a list of games",
        )
    } else if req.topic.starts_with("game/") && *ev == model::EVENT_GAME {
        shape(Game::deserialize(&req.data).is_ok(), "a game")
    } else if req.topic.starts_with("game/") && *ev == model::EVENT_SCORE {
        shape(ScoreEvent::deserialize(&req.data).is_ok(), "a score event")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly_and_never_print() {
        let t = PublishToken::new("s3cret").expect("token");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre") && !t.matches("s3cret!") && !t.matches(""));
        assert!(PublishToken::new("").is_none());
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn topics_events_and_state_shapes_are_checked() {
        let req = |topic: &str, event: &str, data: serde_json::Value| PublishRequest {
            topic: topic.into(),
            event: event.into(),
            data,
        };
        assert!(check(&req("news", "flash", serde_json::json!({"a": 1}))).is_ok());
        assert!(check(&req("a b", "flash", serde_json::json!(1))).is_err());
        assert!(check(&req("news", "", serde_json::json!(1))).is_err());
        assert!(check(&req("news", "a\nb", serde_json::json!(1))).is_err());
        assert!(check(&req("news", &"e".repeat(65), serde_json::json!(1))).is_err());
        assert!(check(&req("scores", "update", serde_json::json!([]))).is_ok());
        assert!(check(&req("scores", "update", serde_json::json!({"x": 1}))).is_err());
        assert!(check(&req("game/1", "game", serde_json::json!("x"))).is_err());
        assert!(check(&req("game/1", "note", serde_json::json!("x"))).is_ok());
        for forged in [("news", "reset"), ("scores", "expired"), ("chat/1", "chat")] {
            let e = check(&req(forged.0, forged.1, serde_json::json!({}))).expect_err("refused");
            assert!(matches!(e, ApiError::BadRequest(_)), "{forged:?}");
        }
    }

    #[test]
    fn the_servers_own_event_names_are_refused_outside_their_topics() {
        assert!(super::super::sse::EXPIRED.starts_with(b"event: expired\n"));
        for topic in ["scores", "game/1", "news", "user/42/alerts", "chat/1"] {
            for event in ["patch", "reset", "expired"] {
                assert!(is_reserved(topic, event), "{topic} {event}");
            }
        }
        for (topic, event) in [
            ("news", "update"),
            ("game/1", "update"),
            ("scores", "game"),
            ("scores", "score"),
            ("user/42/alerts", "game"),
            ("news", "score"),
        ] {
            assert!(is_reserved(topic, event), "{topic} {event}");
        }
        for (topic, event) in [
            ("scores", "update"),
            ("game/1", "game"),
            ("game/1", "score"),
            ("news", "flash"),
            ("news", "Patch"),
            ("news", "patches"),
        ] {
            assert!(!is_reserved(topic, event), "{topic} {event}");
        }
        let msg = reserved_message("scores", "patch");
        for name in [
            "\"patch\"",
            "\"reset\"",
            "\"expired\"",
            "\"update\"",
            "\"game\"",
            "\"score\"",
        ] {
            assert!(msg.contains(name), "{msg} names {name}");
        }
    }
}
