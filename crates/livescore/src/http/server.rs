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
//! Over TLS (`--tls-cert`, [`super::tls`]) the handshake has the header
//! timeout to finish, then ALPN picks the protocol: `h2` is served by
//! hyper's HTTP/2 connection ([`Conn::h2`]), anything else by the same
//! HTTP/1 builder as plain connections (no socket fast path: its bytes
//! would have to be encrypted per subscriber, so SSE goes through the
//! router's body). HTTP/2 gets the HTTP/1 protections in its own terms: a
//! connection with no open stream for the header timeout (one that sent
//! nothing, or only the preface) gets a GOAWAY and is then dropped; pings
//! find dead peers; streams per connection and the header list are capped.
//!
//! It must not: route requests (the router does; the socket path takes only
//! what the router would answer the same way), or count connections (the
//! [`LimitedListener`] does, before a task is spawned).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use http_body_util::BodyExt;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::Instrument;

use super::head::{self, First};
use super::limit::{self, Counted, LimitedListener};
use super::tls::{Tls, ALPN_H2};
use super::{per_client, sse_socket, AppState};

/// Smallest head buffer hyper accepts (its own minimum is 8 KiB).
const MIN_HEAD_BYTES: usize = 8 * 1024;

/// Streams one HTTP/2 connection may have open at once (a browser's tabs
/// on one origin share it; more than a page needs, few enough that one
/// connection cannot hold a node's worth of subscriptions).
pub const H2_MAX_STREAMS: u32 = 100;

/// Silence from an HTTP/2 peer after which it is pinged, and how long it
/// has to answer before the connection is dropped: a peer gone without a
/// FIN (a phone off the network) is found even on an idle stream.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);

/// At shutdown, how long an HTTP/2 connection with no stream left gets to
/// take its GOAWAY before it is dropped.
const H2_CLOSE_GRACE: Duration = Duration::from_secs(1);

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
    tls: Option<Tls>,
    cancel: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(config.max_header_bytes.max(MIN_HEAD_BYTES))
        .keep_alive(true);
    let tls = tls.map(|tls| {
        let mut h2 = http2::Builder::new(Tracked(state.tracker.clone()));
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(H2_MAX_STREAMS)
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(H2_PING_INTERVAL)
            .keep_alive_timeout(H2_PING_TIMEOUT);
        Arc::new(TlsConn { tls, h2 })
    });
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
            tls: tls.clone(),
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
    tls: Option<Arc<TlsConn>>,
    cancel: CancellationToken,
}

/// What a TLS connection is served with, shared by all of them.
struct TlsConn {
    tls: Tls,
    h2: http2::Builder<Tracked>,
}

/// Runs HTTP/2 streams' tasks on the app's tracker, so shutdown waits for
/// them like for every other task (hyper spawns one per stream).
#[derive(Clone)]
struct Tracked(TaskTracker);

impl<F> hyper::rt::Executor<F> for Tracked
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.0.spawn(fut);
    }
}

/// The requests in flight on one HTTP/2 connection (a stream counts until
/// its response body is done or dropped): what its idle timeout watches.
#[derive(Clone, Default)]
struct Streams(Arc<watch::Sender<usize>>);

/// One stream's place in [`Streams`].
struct Open(Arc<watch::Sender<usize>>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Streams {
    fn open(&self) -> Open {
        self.0.send_modify(|n| *n += 1);
        Open(self.0.clone())
    }

    /// Resolves once no stream has been open for `idle` in a row.
    async fn idle_for(&self, idle: Duration) {
        let mut rx = self.0.subscribe();
        loop {
            // The sender lives in `self`: this cannot fail.
            let _ = rx.wait_for(|n| *n == 0).await;
            tokio::select! {
                () = tokio::time::sleep(idle) => return,
                _ = rx.changed() => {}
            }
        }
    }
}

/// Whether a request is a health or metrics probe (as [`head::is_probe`]
/// says of an HTTP/1 head): served on a connection past a limit.
fn is_probe_request<B>(req: &hyper::Request<B>) -> bool {
    matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD)
        && matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics")
}

impl Conn {
    async fn serve(self, mut io: Counted) {
        if let Some(tls) = self.tls.clone() {
            // Boxed: a plain connection's task is not sized for it.
            return Box::pin(self.tls(io, tls)).await;
        }
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
            Ok(Ok(First::Stream(req))) => {
                // Through a trusted proxy: the client's place first.
                let held = match self
                    .state
                    .config
                    .client_cap
                    .forwarded(self.peer, &req.forwarded_headers())
                {
                    Ok(held) => held,
                    Err(why) => {
                        let retry = "retry-after: 5\r\n";
                        limit::answer_and_close(&mut io, why.status(), retry, why.body()).await;
                        return;
                    }
                };
                match sse_socket::subscribe(&req, &self.state) {
                    // The stream goes on in a task of its own, sized for it
                    // alone. This one is sized for the largest of its paths
                    // (hyper's connection, a refusal: 3.4 KiB), and an idle
                    // stream would carry all of it for its whole life.
                    Some(body) => {
                        let stream = sse_socket::serve(io, req.http10, body, &self.state);
                        let span = tracing::Span::current();
                        match held {
                            None => self.state.tracker.spawn(stream.instrument(span)),
                            Some(held) => self.state.tracker.spawn(
                                async move {
                                    stream.await;
                                    drop(held);
                                }
                                .instrument(span),
                            ),
                        };
                        return;
                    }
                    // Hyper's path takes the place again.
                    None => req.head,
                }
            }
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
        self.h1(io).await
    }

    /// A TLS connection: the handshake within the header timeout (a
    /// refused one within the refusal linger), then HTTP/2 or HTTP/1.1 as
    /// ALPN chose.
    async fn tls(self, io: Counted, tls: Arc<TlsConn>) {
        let refusal = io.refusal().map(|r| (r.why(), r.evicted()));
        let limit = match refusal {
            Some(_) => limit::REJECT_LINGER,
            None => self.config.header_timeout,
        };
        let evicted = refusal.as_ref().map(|(_, e)| e.clone()).unwrap_or_default();
        let stream = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return,
            () = evicted.cancelled() => return,
            s = tokio::time::timeout(limit, tls.tls.acceptor().accept(io)) => s,
        };
        let mut stream = match stream {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => return tracing::debug!(%err, "TLS handshake failed"),
            Err(_) => return tracing::debug!("no TLS handshake within the timeout"),
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(ALPN_H2);
        if h2 {
            // Its streams count against the per-address cap, one by one.
            stream.get_mut().0.release_client_slot();
        }
        tracing::debug!(h2, "TLS connection opened");
        match (refusal, h2) {
            (None, true) => self.h2(stream, &tls.h2, None).await,
            (None, false) => self.h1(stream).await,
            (Some((why, _)), true) => self.h2(stream, &tls.h2, Some(why)).await,
            (Some((why, _)), false) => self.refused_tls_h1(stream, why).await,
        }
    }

    /// A refused HTTP/1.1 client over TLS: its head, then the answer (a
    /// probe is served), as [`Conn::refused`] does in the clear.
    async fn refused_tls_h1<I>(mut self, mut io: I, why: limit::Rejection)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let head_limit = self.config.max_header_bytes.max(MIN_HEAD_BYTES);
        let first = tokio::time::timeout(
            limit::REJECT_LINGER,
            head::read_first(&mut io, head_limit, false),
        )
        .await;
        if let Ok(Ok(First::Other(pre))) = first {
            if head::is_probe(&pre) {
                self.builder.keep_alive(false);
                return self.h1(Prefixed::new(io, pre)).await;
            }
        }
        limit::answer_and_close(&mut io, why.status(), "retry-after: 5\r\n", why.body()).await
    }

    /// An HTTP/2 connection until the client closes it, it idles past the
    /// header timeout, or shutdown. `refused`: past a connection limit, so
    /// every request but a probe gets the refusal, and it may idle only
    /// the refusal linger.
    async fn h2<I>(
        self,
        io: I,
        builder: &http2::Builder<Tracked>,
        refused: Option<limit::Rejection>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let streams = Streams::default();
        let mut idle = match refused {
            Some(_) => limit::REJECT_LINGER,
            None => self.config.header_timeout,
        };
        let (peer, router, open) = (self.peer, self.router, streams.clone());
        let clients = self.state.config.client_cap.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                let stream = open.open();
                let probe = is_probe_request(&req);
                let mut refuse = refused.filter(|_| !probe);
                // Each stream is its client's, against the per-address cap
                // (the connection gave its place back).
                let client = match (refuse, probe) {
                    (None, false) => clients.stream(peer, req.headers()).unwrap_or_else(|why| {
                        refuse = Some(why);
                        None
                    }),
                    _ => None,
                };
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let call = router.clone().oneshot(req);
                async move {
                    let res = match refuse {
                        Some(why) => per_client::refusal(why),
                        None => call.await?,
                    };
                    // The stream counts as open, and holds its client's
                    // place, until its body is done.
                    Ok::<_, Infallible>(res.map(|body| {
                        body.map_frame(move |frame| {
                            let _open = (&stream, &client);
                            frame
                        })
                    }))
                }
            });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        let mut conn = std::pin::pin!(conn);
        let mut closing = false;
        let result = loop {
            tokio::select! {
                r = conn.as_mut() => break r,
                // Shutdown: GOAWAY; streams end as the hub closes.
                () = self.cancel.cancelled(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                    idle = idle.min(H2_CLOSE_GRACE);
                }
                // Nothing open for the idle time: GOAWAY, and if it still
                // has nothing open (a client that never finished its
                // preface does not even read the GOAWAY), drop it.
                () = streams.idle_for(idle) => {
                    if closing {
                        break Ok(());
                    }
                    tracing::debug!("HTTP/2 connection idle; closing");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        };
        match result {
            Ok(()) => tracing::debug!("connection closed"),
            Err(err) => tracing::debug!(%err, "connection closed with an error"),
        }
    }

    /// HTTP/1 on `io` until the client closes it, the header timeout, a
    /// WebSocket upgrade or shutdown.
    async fn h1<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
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

/// A stream with bytes already read from it put back in front (a refused
/// TLS probe's head, read before hyper).
struct Prefixed<I> {
    io: I,
    ahead: bytes::Bytes,
}

impl<I> Prefixed<I> {
    fn new(io: I, ahead: bytes::Bytes) -> Self {
        Self { io, ahead }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.ahead.is_empty() {
            let n = self.ahead.len().min(buf.remaining());
            let chunk = self.ahead.split_to(n);
            buf.put_slice(&chunk);
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
