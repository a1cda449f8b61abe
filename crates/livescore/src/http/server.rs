//! The accept loop: each admitted connection in a task of the app's
//! `TaskTracker`. Its first request head is read here ([`head`]): a plain
//! stream request is served on the socket ([`sse_socket`]); everything else
//! by hyper's HTTP/1 builder, ending gracefully on the app's
//! `CancellationToken`.
//!
//! Why not `axum::serve`: it hides hyper's builder, so a client that sends
//! half a request head (slowloris) or nothing at all holds its socket and
//! its place in the connection count for ever. Here every connection gets a
//! header read timeout (for the first head here, then hyper's, which it
//! also applies to an idle keep-alive connection waiting for its next
//! request), and a cap on the bytes buffered for a head. HTTP/1 only, on
//! purpose: hyper's version sniffing for HTTP/2 would wait for the client's
//! first bytes with no timeout at all, and behind nginx
//! (`deploy/nginx.conf`) upstreams speak HTTP/1.1 anyway.
//!
//! Shutdown: the loop stops accepting (the listener is dropped) as soon as
//! the token is cancelled; each connection then finishes the response in
//! flight (SSE streams end when the hub closes, right after), sends no
//! keep-alive and closes. Upgraded WebSockets live on in their own tasks,
//! which close with 1001. The app waits for all of them under
//! `--shutdown-timeout`.
//!
//! It must not: route requests (the router does; the socket path takes only
//! what the router would answer the same way), or count connections (the
//! [`LimitedListener`] does, before a task is spawned).

use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::Instrument;

use super::head::{self, First};
use super::limit::{self, Counted, LimitedListener};
use super::{sse_socket, AppState};

/// Smallest head buffer hyper accepts (its own minimum is 8 KiB).
const MIN_HEAD_BYTES: usize = 8 * 1024;

/// Connection-level limits (flags `--header-timeout`, `--max-header-bytes`).
#[derive(Debug, Clone, Copy)]
pub struct ConnConfig {
    /// Time a client has to send a whole request head, counted from the
    /// first byte read or, on a keep-alive connection, from the end of the
    /// previous response; past it the connection is closed. Bounds both
    /// slow senders and idle keep-alive connections.
    pub header_timeout: Duration,
    /// Most bytes buffered for one request head; a bigger head gets 431
    /// and the connection closes.
    pub max_header_bytes: usize,
}

impl Default for ConnConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
        }
    }
}

/// Serves `router` on `listener` until `cancel`, one task per connection
/// on the app's tracker (`state.tracker`, where streams and WebSockets get
/// their own). Returns once it stops accepting; connections may still be
/// finishing (the caller waits on the tracker).
pub async fn run(
    mut listener: LimitedListener,
    router: Router,
    state: AppState,
    config: ConnConfig,
    cancel: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(config.max_header_bytes.max(MIN_HEAD_BYTES))
        .keep_alive(true);
    loop {
        let (io, peer) = tokio::select! {
            biased;
            // Shutdown: stop accepting; dropping the listener closes the
            // socket so new clients are refused (and try another node).
            () = cancel.cancelled() => break,
            // The next admitted connection (rejections are answered inside).
            conn = listener.accept() => conn,
        };
        let conn = Conn {
            peer,
            router: router.clone(),
            state: state.clone(),
            builder: builder.clone(),
            config,
            cancel: cancel.clone(),
        };
        let span = tracing::debug_span!("conn", %peer);
        state.tracker.spawn(conn.serve(io).instrument(span));
    }
    tracing::info!("stopped accepting connections");
}

/// One connection's task: its first head read here, then the stream on the
/// socket or hyper for everything else.
struct Conn {
    peer: std::net::SocketAddr,
    router: Router,
    state: AppState,
    builder: http1::Builder,
    config: ConnConfig,
    cancel: CancellationToken,
}

impl Conn {
    async fn serve(self, mut io: Counted) {
        if io.refusal().is_some() {
            return self.refused(io).await;
        }
        tracing::debug!("connection opened");
        let cors = self.state.config.cors_origins.enabled();
        let first = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return,
            first = tokio::time::timeout(
                self.config.header_timeout,
                head::read_first(&mut io, self.config.max_header_bytes.max(MIN_HEAD_BYTES), cors),
            ) => first,
        };
        let pre = match first {
            Ok(Ok(First::Stream(req))) => match sse_socket::subscribe(&req, &self.state) {
                // The stream goes on in a task of its own, sized for it
                // alone. This one is sized for the largest of its paths
                // (hyper's connection, a refusal: 3.4 KiB), and an idle
                // stream would carry all of it for its whole life.
                Some(body) => {
                    let stream = sse_socket::serve(io, req.http10, body, &self.state);
                    self.state
                        .tracker
                        .spawn(stream.instrument(tracing::Span::current()));
                    return;
                }
                None => req.head,
            },
            Ok(Ok(First::Other(pre))) => pre,
            Ok(Ok(First::TooLarge)) => {
                let body = format!(
                    r#"{{"error":"request head over {} bytes"}}"#,
                    self.config.max_header_bytes.max(MIN_HEAD_BYTES)
                );
                limit::answer_and_close(&mut io, "431 Request Header Fields Too Large", "", &body)
                    .await;
                return;
            }
            // Nothing or half a head before the client closed or the header
            // timeout fired: hyper would close it too, without an answer.
            Ok(Ok(First::Closed)) | Ok(Err(_)) | Err(_) => return,
        };
        self.hyper(io, pre).await;
    }

    /// A connection past a limit: a probe is served (one request), anything
    /// else answered 503/429 as soon as its head is in. Ends early when a
    /// newer refused connection needs the slot.
    async fn refused(mut self, mut io: Counted) {
        let Some(refusal) = io.refusal() else { return };
        let (why, evicted) = (refusal.why(), refusal.evicted());
        let limit = self.config.max_header_bytes.max(MIN_HEAD_BYTES);
        let first = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return,
            () = evicted.cancelled() => return,
            first = tokio::time::timeout(limit::REJECT_LINGER, head::read_first(&mut io, limit, false)) => first,
        };
        if let Some(refusal) = io.refusal() {
            refusal.answering();
        }
        match first {
            Ok(Ok(First::Other(pre))) if head::is_probe(&pre) => {
                self.builder.keep_alive(false);
                self.hyper(io, pre).await;
            }
            // Whatever it sent, or nothing within the linger: the answer.
            _ => {
                limit::answer_and_close(&mut io, why.status(), "retry-after: 5\r\n", why.body())
                    .await
            }
        }
    }

    async fn hyper(self, mut io: Counted, pre: bytes::Bytes) {
        io.put_back(pre);
        // Handlers that need the peer (the chat bucket's key) find it where
        // axum's `ConnectInfo` extractor looks.
        let peer = self.peer;
        let router =
            self.router
                .map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                });
        let service = TowerToHyperService::new(router);
        let conn = self
            .builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let result = tokio::select! {
            // The client closed, the header timeout fired, or a
            // WebSocket was handed over to its own task.
            r = conn.as_mut() => r,
            // Shutdown: let the response in flight finish, then close.
            () = self.cancel.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        match result {
            Ok(()) => tracing::debug!("connection closed"),
            // Timeouts, resets, malformed requests: the client's doing.
            Err(err) => tracing::debug!(%err, "connection closed with an error"),
        }
    }
}
