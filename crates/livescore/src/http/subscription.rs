//! What a client asks to follow: its topics, where to start (the last id it
//! has), and whether it wants an event stream. One parser for SSE through
//! hyper ([`super::sse`]), SSE served on the socket ([`super::sse_socket`],
//! [`super::head`]) and WebSocket ([`super::ws`]), so the three accept
//! exactly the same requests and answer the same errors.

use axum::http::{header, HeaderMap};

use super::error::ApiError;
use crate::hub::{Start, MAX_TOPICS_PER_SUBSCRIPTION};
use crate::model;

/// The topics and start of a `/api/stream` request from its query string
/// and `Last-Event-ID` header.
pub fn stream_params(
    query: Option<&str>,
    last_event_id: Option<&[u8]>,
) -> Result<(Vec<String>, Start), ApiError> {
    let mut topics = Vec::new();
    let mut last_id = last_event_id.map(|v| String::from_utf8_lossy(v).into_owned());
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "topic" => topics.push(v.into_owned()),
            "lastEventId" if last_id.is_none() => last_id = Some(v.into_owned()),
            _ => {}
        }
    }
    let topics = check_topics(topics)?;
    Ok((topics, parse_start(last_id.as_deref())))
}

/// The `delta` query parameter of a stream: exactly `true` or `false`, as
/// the OpenAPI description (a boolean) and docs/CLIENTS.md say; absent:
/// false. Anything else (`1`, `yes`, empty) is a 400, and so is a `delta`
/// repeated with another value: which one wins would be a guess
/// (docs/SECURITY.md, "Also seen"). A repeat of the same value is no
/// conflict and is taken.
pub fn wants_deltas(query: Option<&str>) -> Result<bool, ApiError> {
    let mut delta = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k != "delta" {
            continue;
        }
        let this = match &*v {
            "true" => true,
            "false" => false,
            other => {
                let shown: String = other.chars().take(20).collect();
                return Err(ApiError::BadRequest(format!(
                    "delta must be true or false, not {shown:?}"
                )));
            }
        };
        if delta.is_some_and(|d| d != this) {
            return Err(ApiError::BadRequest(
                "delta is given twice, as true and as false".into(),
            ));
        }
        delta = Some(this);
    }
    Ok(delta.unwrap_or(false))
}

/// Validates, sorts and deduplicates the topics of a subscription. The
/// limit counts the topics as asked, repeats included, as the documented
/// `maxItems` does (and so a huge list is refused before it is sorted).
pub fn check_topics(mut topics: Vec<String>) -> Result<Vec<String>, ApiError> {
    if topics.is_empty() {
        return Err(ApiError::BadRequest(
            "at least one topic is required (?topic=scores)".into(),
        ));
    }
    if topics.len() > MAX_TOPICS_PER_SUBSCRIPTION {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_TOPICS_PER_SUBSCRIPTION} topics per subscription"
        )));
    }
    if let Some(bad) = topics.iter().find(|t| !model::valid_topic(t)) {
        let shown: String = bad.chars().take(40).collect();
        return Err(ApiError::BadRequest(format!(
            "invalid topic {shown:?}: 1-{} characters of A-Z a-z 0-9 / - _ . :",
            model::MAX_TOPIC_BYTES
        )));
    }
    topics.sort();
    topics.dedup();
    Ok(topics)
}

/// How a subscription starts given the client's last id, if any.
pub fn parse_start(last_id: Option<&str>) -> Start {
    match last_id.map(str::trim) {
        None | Some("") => Start::Current,
        Some(s) => match s.parse() {
            Ok(id) => Start::After(id),
            Err(_) => Start::Unknown(s.chars().take(64).collect()),
        },
    }
}

/// Whether any `Accept` header asks for an event stream.
pub fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| accepts_event_stream(v.as_bytes()))
}

/// Whether one `Accept` value asks for an event stream.
pub fn accepts_event_stream(value: &[u8]) -> bool {
    value
        .windows(b"text/event-stream".len())
        .any(|w| w == b"text/event-stream")
}
