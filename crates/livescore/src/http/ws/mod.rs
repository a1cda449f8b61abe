//! `GET /ws`: the WebSocket transport (SPEC "WebSocket `/ws`").
//!
//! One task per connection reads client requests, writes hub frames, and
//! keeps the connection honest. It owns:
//!
//! - **Subscriptions.** A connection follows one set of topics through one
//!   hub [`Subscriber`], so its events arrive in id order like on SSE. The
//!   first `subscribe` starts from its `last_event_id` (resume, or a `reset`
//!   event then current state) or from current state. A later `subscribe`
//!   or `unsubscribe` first writes whatever the old subscriber has ready,
//!   then swaps in a subscriber for the new set built by [`Hub::extend`]
//!   from the old one's position: nothing on the kept topics is lost or
//!   sent twice, and added topics start like a fresh subscription. The
//!   reply `subscribed` always lists the whole set now followed.
//! - **Errors.** A bad request gets `{"type":"error"}` and the connection
//!   stays open. A message over the size limit is not read at all: the
//!   connection is closed with 1009 (RFC 6455 "message too big"), since the
//!   stream cannot be resynchronised after an unread frame; a frame RFC
//!   6455 forbids closes it with 1002, text that is not UTF-8 with 1007.
//! - **Memory.** The frames are read and written by [`wire`], whose
//!   buffers go back to their idle size once a large message is through.
//! - **Liveness.** A connection silent for `ping_interval` is pinged; with
//!   nothing back within `pong_timeout` it is dropped. A client's close is
//!   answered; on shutdown the server closes with 1001 ("going away").
//! - **Slow clients.** Every write has a deadline (`send_timeout`): a client
//!   that does not read is dropped (`subscribers_dropped_total{reason="slow"}`)
//!   instead of slowing anyone or buffering without bound; one that falls
//!   behind its hub channel is conflated or dropped by the [`Subscriber`]
//!   policy, then closed with 1013 ("try again later") to resume.
//! - **Compression** (see [`deflate`]): permessage-deflate when offered,
//!   always with `server_no_context_takeover`, so each event message is
//!   compressed once for every client that agreed (`Frame::ws_deflate_wire`),
//!   and `client_no_context_takeover`, so no inflater outlives the client
//!   message it inflates.
//! - **Chat** (see [`chat`]): checked, rate limited per client address and
//!   per game, published on the bus; it comes back through the hub like
//!   any event.
//!
//! Metrics: `livescore_connections{transport="ws"}`,
//! `livescore_subscribers_dropped_total{reason="slow"|"timeout"}`,
//! `livescore_chat_messages_total`, `livescore_chat_rejected_total{reason}`.

pub mod chat;
mod connection;
pub mod deflate;
mod protocol;
pub mod wire;

use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tracing::Instrument;

use self::chat::{ChatLimits, ChatRates};
use self::connection::Connection;
use super::error::ApiError;
use super::limit::{Counted, Shared};
use super::per_client::HeldSlot;
use super::AppState;
use crate::hub::direct::{Slot, Wire};

/// Most bytes of event messages written to a client in one flush; more
/// waits for the next round, so one client cannot pin a large buffer.
pub const MAX_BATCH_BYTES: usize = 64 * 1024;

/// The read buffer per connection between messages (tungstenite's default
/// was 128 KiB each, allocated up front and zero-filled, so all of it
/// stayed resident: at 8 KiB it was over half of an idle WebSocket's
/// memory, docs/BENCHMARKS.md). Requests are a few hundred bytes; a larger
/// frame grows the buffer to its size until the message is read
/// ([`wire`]).
pub const READ_BUFFER_BYTES: usize = 1024;

/// The connection as [`connection`] reads and writes it.
type Socket = wire::WsSocket<crate::http::limit::Shared>;

/// How long a close handshake may take before the connection is just
/// dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// RFC 6455 close codes used here.
const GOING_AWAY: u16 = 1001;
const TRY_AGAIN_LATER: u16 = 1013;
/// The token a private topic needed expired (an application code, RFC
/// 6455 7.4.2): reconnect with a fresh one and resume.
pub const TOKEN_EXPIRED: u16 = 4001;

/// WebSocket settings (flags `--ws-*`, `--chat-*`).
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest message and frame a client may send (SPEC: 64 KiB).
    pub max_message_bytes: usize,
    /// Silence from the client after which it is pinged.
    pub ping_interval: Duration,
    /// How long a pinged client has to answer before it is dropped.
    pub pong_timeout: Duration,
    /// How long one write may take before the client is dropped as slow.
    pub send_timeout: Duration,
    /// Chat limits.
    pub chat: ChatLimits,
    /// The rates of `chat` in force, which a config reload replaces.
    pub chat_rates: ChatRates,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            chat: ChatLimits::default(),
            chat_rates: ChatRates::new(&ChatLimits::default()),
        }
    }
}

/// `GET /ws`. A plain GET (no upgrade) gets a JSON 400, like every error.
#[utoipa::path(get, path = "/ws", tag = "stream",
    description = "WebSocket: JSON text frames (SPEC `/ws`). Client sends `subscribe`, \
        `unsubscribe`, `auth`, `chat`; server sends `subscribed`, `authorized`, `event`, \
        `error`. A private topic's `subscribe` is authorized with the upgrade request's token \
        (Bearer, `livescore_token` cookie or `access_token`) or the last `auth` message's; \
        the connection closes with 4001 when that token expires.",
    params(
        ("Connection" = String, Header, pattern = "[Uu][Pp][Gg][Rr][Aa][Dd][Ee]",
            description = "Contains `upgrade` (any case)"),
        ("Upgrade" = String, Header, pattern = "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$",
            description = "`websocket` (any case)"),
        ("Sec-WebSocket-Version" = String, Header, pattern = "^13$", description = "13"),
        ("access_token" = Option<String>, Query,
            description = "A token for private topics (docs/SECURITY.md)"),
        ("Sec-WebSocket-Key" = String, Header, pattern = "^[A-Za-z0-9+/]{22}==$",
            description = "16 random bytes, base64 (RFC 6455)"),
    ),
    responses(
        (status = 101, description = "Switching Protocols: the request carried a WebSocket upgrade"),
        (status = 400, description = "Not a WebSocket handshake (RFC 6455 section 4.2.1)", body = super::error::ErrorBody),
        (status = 403, description = "With --cors-origin: the page's Origin is neither listed \
            nor this server", body = super::error::ErrorBody),
    ))]
pub async fn handler(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    mut req: Request,
) -> Response {
    if let Err(why) = check_handshake(req.headers()) {
        return ApiError::BadRequest(format!("/ws needs a WebSocket upgrade: {why}"))
            .into_response();
    }
    if !origin_allowed(req.headers(), &st.config.cors_origins.get()) {
        return ApiError::Forbidden(
            "this page's origin may not open /ws here (--cors-origin)".into(),
        )
        .into_response();
    }
    // Present when hyper can hand the connection over (HTTP/1.1 with
    // upgrades on, as `server.rs` serves it).
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return ApiError::BadRequest(
            "/ws needs a WebSocket upgrade: this connection cannot be upgraded".into(),
        )
        .into_response();
    };
    let key = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| wire::accept_key(k.as_bytes()))
        .unwrap_or_default();
    let cfg = st.config.ws.clone();
    let deflate = deflate::negotiate(
        req.headers()
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .map(|v| v.as_bytes()),
    );
    let client = st.config.trusted_proxies.client(peer, req.headers());
    // Kept for the subscriptions to come: each `subscribe` is authorized
    // with it, as SSE requests are (never logged).
    let token = crate::http::auth::request_token(req.headers(), req.uri().query());
    // Counts as a task of the app until the connection's own task is
    // spawned on the same tracker, so shutdown waits for the 1001 close to
    // go out.
    let task = st.tracker.token();
    // Through a trusted proxy: the client's place (taken by
    // `per_client::limit`), kept while the socket is open.
    let held = req.extensions().get::<HeldSlot>().cloned();
    let span = tracing::info_span!("ws");
    tokio::spawn(
        async move {
            match on_upgrade.await {
                // The socket itself, back from hyper, so the hub's fast path
                // can write it too (`hub::direct`).
                Ok(upgraded) => match upgraded.downcast::<TokioIo<Counted>>() {
                    Ok(parts) => {
                        let (sock, ahead, place) = parts.io.into_inner().into_shared();
                        // What hyper read past the request, then what it
                        // had not read yet.
                        let ahead = [parts.read_buf, ahead].concat().into();
                        let form = if deflate.is_some() {
                            Wire::WsDeflate
                        } else {
                            Wire::Ws
                        };
                        let slot = Slot::new(sock.clone(), form);
                        let socket = wire::WsSocket::new(
                            Shared::new(sock, ahead, place),
                            cfg.max_message_bytes,
                            READ_BUFFER_BYTES,
                        )
                        .with_deflate(deflate);
                        // Its own task, sized for the connection alone:
                        // this one also holds the upgrade and what the
                        // connection was built from, for its whole life.
                        let tracker = st.tracker.clone();
                        let conn = Connection::new(socket, Some(slot), st, client, token);
                        tracker
                            .spawn(held_for(conn.run(), held).instrument(tracing::Span::current()));
                    }
                    // Over TLS: hyper's stream, written by this task alone.
                    Err(upgraded) => {
                        let socket = wire::WsSocket::new(
                            Shared::upgraded(upgraded),
                            cfg.max_message_bytes,
                            READ_BUFFER_BYTES,
                        )
                        .with_deflate(deflate);
                        let tracker = st.tracker.clone();
                        let conn = Connection::new(socket, None, st, client, token);
                        tracker
                            .spawn(held_for(conn.run(), held).instrument(tracing::Span::current()));
                    }
                },
                Err(err) => tracing::debug!(%err, "upgrade failed"),
            }
            drop(task);
        }
        .instrument(span),
    );
    let mut res = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&key).expect("base64 is a valid header value"),
    );
    if let Some(agreed) = deflate {
        h.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static(agreed.response()),
        );
    }
    res
}

/// `conn`, holding `held` (a forwarded client's place) until it ends.
async fn held_for(conn: impl std::future::Future<Output = ()>, held: Option<HeldSlot>) {
    conn.await;
    drop(held);
}

/// Whether a browser page may open `/ws` (cross-site WebSocket hijacking:
/// a browser sends the victim's cookie, `livescore_token` included, to any
/// site's socket). With `--cors-origin` set, the `Origin` must be listed,
/// or be this server itself (its own page); without it, or with `*`, or
/// from a non-browser client (no `Origin`), anyone may.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    if allowed.is_empty() || allowed.iter().any(|a| a == "*" || a == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// RFC 6455 section 4.2.1: what a server must see before it upgrades.
fn check_handshake(headers: &HeaderMap) -> Result<(), &'static str> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    // As documented (and as axum checked): the value contains `upgrade`,
    // in any case, not necessarily as a token of its own.
    let connection_upgrade = headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .windows(b"upgrade".len())
            .any(|w| w.eq_ignore_ascii_case(b"upgrade"))
    });
    if !connection_upgrade {
        return Err("`Connection` header did not include `upgrade`");
    }
    if !has_token(header::UPGRADE, "websocket") {
        return Err("`Upgrade` header did not include `websocket`");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err("`Sec-WebSocket-Version` header did not include `13`");
    }
    // The key must be 16 bytes in base64, or the answer is a 400 rather
    // than an upgrade.
    if !headers
        .get(header::SEC_WEBSOCKET_KEY)
        .is_some_and(|k| valid_key(k.as_bytes()))
    {
        return Err("Sec-WebSocket-Key must be 16 bytes in base64");
    }
    Ok(())
}

/// A `Sec-WebSocket-Key` that decodes to 16 bytes: 22 base64 characters
/// and `==` padding.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn only_listed_origins_or_this_server_may_open_a_socket() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(
                header::HOST,
                HeaderValue::from_static("scores.example:8000"),
            );
            if let Some(o) = origin {
                h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("value"));
            }
            h
        };
        let list = vec!["https://fans.example".to_string()];
        assert!(origin_allowed(&headers(Some("https://evil.example")), &[]));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example")),
            &list
        ));
        assert!(origin_allowed(
            &headers(Some("https://fans.example")),
            &list
        ));
        assert!(origin_allowed(
            &headers(Some("http://scores.example:8000")),
            &list
        ));
        assert!(origin_allowed(&headers(None), &list));
        assert!(origin_allowed(
            &headers(Some("https://evil.example")),
            &["*".into()]
        ));
    }

    #[test]
    fn only_16_byte_base64_keys_are_valid() {
        // RFC 6455's own example key.
        assert!(super::valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        for bad in [
            &b""[..],
            b"dGhlIHNhbXBsZSBub25jZQ",
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"dGhlIHNhbXBsZSBub25jZ===",
            b"dGhlIHNhbXBsZSBub25jZ!==",
            b"dGhlIHNhbXBsZSBub25jZQ==x",
        ] {
            assert!(!super::valid_key(bad), "{bad:?}");
        }
    }
}
