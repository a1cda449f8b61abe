//! The `/ws` message shapes (SPEC "WebSocket"): what a client may send and
//! the control messages the server answers with. Event messages are not
//! built here: they come pre-encoded from the hub ([`crate::hub::Frame`]).

use super::wire::Message;
use serde::{Deserialize, Serialize};

use crate::http::error::ApiError;

/// One client request, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Follow more topics; `last_event_id` resumes them (see `Connection`).
    Subscribe {
        /// Topics to add.
        topics: Vec<String>,
        /// Resume point, as `Last-Event-ID` on SSE.
        last_event_id: Option<String>,
    },
    /// Stop following topics.
    Unsubscribe {
        /// Topics to drop.
        topics: Vec<String>,
    },
    /// Replace the connection's token (before it expires).
    Auth {
        /// The new token.
        token: String,
    },
    /// Say something in a game's chat.
    Chat {
        /// Game id.
        eid: String,
        /// Display name.
        name: String,
        /// Message.
        text: String,
        /// Makes a resend after a timeout publish the message once.
        idempotency_key: Option<String>,
    },
}

#[derive(Deserialize)]
struct Subscribe {
    topics: Vec<String>,
    #[serde(default)]
    last_event_id: Option<String>,
}

#[derive(Deserialize)]
struct Auth {
    token: String,
}

#[derive(Deserialize)]
struct Unsubscribe {
    topics: Vec<String>,
}

#[derive(Deserialize)]
struct Chat {
    eid: String,
    /// Ignored when the connection has a token: the token names the user.
    #[serde(default)]
    name: String,
    text: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// Parses one text message. The error says what was wrong in words a
/// client author can act on; it goes back in an `error` message.
pub fn parse(text: &str) -> Result<Request, ApiError> {
    let bad = |msg: String| ApiError::BadRequest(msg);
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| bad("a JSON object with a string \"type\" is required".into()))?
        .to_owned();
    let fields = |e: serde_json::Error| bad(format!("bad {kind:?} message: {e}"));
    match kind.as_str() {
        "subscribe" => {
            let m: Subscribe = serde_json::from_value(value).map_err(fields)?;
            Ok(Request::Subscribe {
                topics: m.topics,
                last_event_id: m.last_event_id,
            })
        }
        "unsubscribe" => {
            let m: Unsubscribe = serde_json::from_value(value).map_err(fields)?;
            Ok(Request::Unsubscribe { topics: m.topics })
        }
        "auth" => {
            let m: Auth = serde_json::from_value(value).map_err(fields)?;
            Ok(Request::Auth { token: m.token })
        }
        "chat" => {
            let m: Chat = serde_json::from_value(value).map_err(fields)?;
            if m.idempotency_key
                .as_deref()
                .is_some_and(|k| !crate::bus::valid_key(k))
            {
                return Err(bad(format!(
                    "bad idempotency_key: 1 to {} visible ASCII characters",
                    crate::bus::MAX_KEY_BYTES
                )));
            }
            Ok(Request::Chat {
                eid: m.eid,
                name: m.name,
                text: m.text,
                idempotency_key: m.idempotency_key,
            })
        }
        other => {
            let shown: String = other.chars().take(40).collect();
            Err(bad(format!(
                "unknown message type {shown:?}: expected subscribe, unsubscribe, auth or chat"
            )))
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Reply<'a> {
    Subscribed { topics: &'a [String] },
    Authorized { exp: Option<u64> },
    Error { message: &'a str },
}

fn text(reply: &Reply<'_>) -> Message {
    let json = serde_json::to_string(reply).expect("replies are plain strings");
    Message::Text(json.into())
}

/// `{"type":"subscribed","topics":[…]}`: every topic the connection now
/// follows (after a subscribe or an unsubscribe).
pub fn subscribed(topics: &[String]) -> Message {
    text(&Reply::Subscribed { topics })
}

/// `{"type":"authorized","exp":…}`: the token an `auth` message sent
/// now stands for the connection; `exp` (Unix seconds) is when a stream
/// of private topics would end with it, null when none is followed.
pub fn authorized(exp: Option<u64>) -> Message {
    text(&Reply::Authorized { exp })
}

/// `{"type":"error","message":"…"}`.
pub fn error(message: &str) -> Message {
    text(&Reply::Error { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_mistakes_are_explained() {
        assert_eq!(
            parse(r#"{"type":"subscribe","topics":["scores"],"last_event_id":"a-1"}"#).expect("ok"),
            Request::Subscribe {
                topics: vec!["scores".into()],
                last_event_id: Some("a-1".into())
            }
        );
        assert!(matches!(
            parse(r#"{"type":"chat","eid":"1","name":"n","text":"t"}"#),
            Ok(Request::Chat { .. })
        ));
        let msg = |s: &str| parse(s).expect_err("bad").to_string();
        assert!(msg("{nope").starts_with("invalid JSON"));
        assert!(msg("[]").contains("\"type\""));
        assert!(msg(r#"{"type":"dance"}"#).contains("unknown message type \"dance\""));
        assert!(msg(r#"{"type":"subscribe"}"#).contains("topics"));
        assert!(msg(r#"{"type":"chat","eid":"1","name":2,"text":"t"}"#).contains("invalid type"));
        // Unknown fields are ignored, so clients may add their own (e.g. a request id).
        assert!(parse(r#"{"type":"unsubscribe","topics":["a"],"ref":1}"#).is_ok());
    }

    #[test]
    fn replies_match_the_spec() {
        let Message::Text(t) = subscribed(&["scores".into()]) else {
            panic!("text")
        };
        assert_eq!(&t[..], br#"{"type":"subscribed","topics":["scores"]}"#);
        let Message::Text(t) = error("no \"x\"") else {
            panic!("text")
        };
        assert_eq!(&t[..], br#"{"type":"error","message":"no \"x\""}"#);
    }
}

#[cfg(test)]
#[path = "protocol_props.rs"]
mod props;
