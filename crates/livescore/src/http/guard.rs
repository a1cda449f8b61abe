//! Request-level limits applied to every route: the request body size and
//! the CORS allow-list.
//!
//! The body limit sits in front of every handler so no route can be made
//! to buffer an unbounded upload, whatever it forgets to check itself: a
//! declared `Content-Length` over the limit gets a JSON 413 before a byte is
//! read, and an undeclared (chunked) body is cut off at the limit, which
//! the reading handler answers with 413 too. CORS answers only origins on
//! the list (`--cors-origin`); any other origin gets no CORS headers, so a
//! browser page from there cannot read our answers.
//!
//! It must not: decide what a handler does with a body within the limit.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::ApiError;
use super::live::Live;

/// `--max-body` when not given: events and chat are small; a client that
/// sends more is broken or hostile.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE_SECS: u64 = 600;

/// The largest request body accepted, in bytes (the middleware's state).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Middleware: 413 for a declared length over the limit; otherwise the body
/// is wrapped so reading past the limit fails (and the handler answers 413).
pub async fn limit_body(
    State(BodyLimit(max)): State<BodyLimit>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return ApiError::PayloadTooLarge(format!("request body larger than {max} bytes"))
            .into_response();
    }
    let req = req.map(|body| Body::new(http_body_util::Limited::new(body, max)));
    next.run(req).await
}

/// The CORS layer for `origins` (`*` allows any origin); `None` when the
/// list is empty, so no CORS header is ever sent.
pub fn cors(origins: &Origins) -> Option<CorsLayer> {
    if !origins.enabled() {
        return None;
    }
    // Asked per request, so a config reload's list holds from the next
    // one; an allowed origin is echoed back (with `Vary: origin`), `*`
    // included.
    let list = origins.clone();
    let allow =
        AllowOrigin::predicate(move |origin: &HeaderValue, _| list.allows(origin.as_bytes()));
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
            ])
            .max_age(std::time::Duration::from_secs(PREFLIGHT_MAX_AGE_SECS)),
    )
}

/// The allowed origins (`--cors-origin`), shared by the CORS layer, the
/// WebSocket `Origin` check and the config reloader. Whether the node
/// speaks CORS at all is settled at start (the layer is part of the
/// router, and streams with an `Origin` go through it); the list changes
/// live.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    enabled: bool,
    list: Live<Arc<[String]>>,
}

impl Origins {
    /// `list` (already checked by [`parse_origin`]); CORS is on when it
    /// is not empty.
    pub fn new(list: Vec<String>) -> Self {
        Self {
            enabled: !list.is_empty(),
            list: Live::new(list.into()),
        }
    }

    /// Replaces the list from the next request on.
    pub fn set(&self, list: Vec<String>) {
        self.list.set(list.into());
    }

    /// The list now.
    pub fn get(&self) -> Arc<[String]> {
        self.list.get()
    }

    /// Whether the node was started with CORS on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `origin` is on the list (or the list has `*`).
    pub fn allows(&self, origin: &[u8]) -> bool {
        self.list
            .with(|list| list.iter().any(|o| o == "*" || o.as_bytes() == origin))
    }
}

/// Checks one `--cors-origin` value: `*`, or `scheme://host[:port]` with no
/// path (browsers send exactly that in `Origin`).
pub fn parse_origin(s: &str) -> Result<String, String> {
    let bad = || format!("{s:?} is not an origin (e.g. https://scores.example.com or *)");
    if s == "*" {
        return Ok(s.to_string());
    }
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(bad)?;
    if rest.is_empty() || rest.contains('/') || HeaderValue::from_str(s).is_err() {
        return Err(bad());
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_port_or_a_star() {
        assert!(parse_origin("https://a.example").is_ok());
        assert!(parse_origin("http://127.0.0.1:3000").is_ok());
        assert!(parse_origin("*").is_ok());
        assert!(parse_origin("a.example").is_err());
        assert!(parse_origin("https://a.example/").is_err());
        assert!(parse_origin("https://").is_err());
        assert!(cors(&Origins::default()).is_none());
    }

    #[test]
    fn the_allowed_origins_change_in_place_and_a_star_allows_any() {
        let origins = Origins::new(vec!["https://a.example".into()]);
        assert!(cors(&origins).is_some());
        let shared = origins.clone();
        assert!(shared.allows(b"https://a.example"));
        assert!(!shared.allows(b"https://b.example"));
        origins.set(vec!["https://b.example".into()]);
        assert!(shared.allows(b"https://b.example"));
        assert!(!shared.allows(b"https://a.example"));
        origins.set(vec!["*".into()]);
        assert!(shared.allows(b"https://anyone.example"));
        // On or off is settled at start.
        origins.set(Vec::new());
        assert!(shared.enabled() && !shared.allows(b"https://b.example"));
    }
}
