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
//! scoreboard.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::model::{self, Game, ScoreEvent};

/// Largest request body accepted; larger gets 413. Events are small; a
/// client that sends more is broken or hostile.
pub const MAX_PUBLISH_BYTES: usize = 64 * 1024;

/// Longest event name, in bytes.
pub const MAX_EVENT_NAME_BYTES: usize = 64;

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

impl std::fmt::Debug for PublishToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishToken(<redacted>)")
    }
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishRequest {
    topic: String,
    event: String,
    data: serde_json::Value,
}

/// `POST /api/publish`: 202 `{"id": "<event id>"}`.
pub async fn publish(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let Some(token) = &st.config.publish_token else {
        return Err(ApiError::Forbidden(
            "the publish API is off: the server has no publish token".into(),
        ));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme is case-insensitive (RFC 9110 section 11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
    if !token.matches(given) {
        return Err(ApiError::Unauthorized("missing or bad bearer token".into()));
    }
    let body = read_body(req.into_body()).await?;
    let req: PublishRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("bad publish request: {e}")))?;
    check(&req)?;
    let data = crate::feed::json(&req.data);
    let id = st
        .bus
        .publish(&req.topic, &req.event, data)
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot publish: {e}")))?;
    tracing::debug!(topic = req.topic, event = req.event, %id, "published from outside");
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "id": id }))).into_response())
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
    if ev.is_empty() || ev.len() > MAX_EVENT_NAME_BYTES || ev.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "bad event name: 1 to {MAX_EVENT_NAME_BYTES} bytes, no line breaks or control characters"
        )));
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
    if req.topic == model::TOPIC_SCORES && *ev == model::EVENT_UPDATE {
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
    }
}
