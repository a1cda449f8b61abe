//! An SSE stream written straight to the socket, without hyper.
//!
//! Why: a subscriber is idle nearly all of its life, and what it costs
//! while idle is what bounds a node (issue 9: 8 KiB per connection). Here a
//! connection is its socket, its [`SseBody`] (a position in the hub's ring)
//! and a small task; hyper's buffers and dispatcher are gone once the head
//! is read ([`super::head`]), and each delivery is one write of bytes the
//! hub encoded once. The response is the one the router sends on
//! `/api/stream` and `/api/livescore` (same headers and body), except that
//! it is delimited by the connection's close rather than chunked: a stream
//! never ends while the client wants it, so the connection is never reused.

use std::future::Future;
use std::io;
use std::time::SystemTime;

use bytes::{BufMut, BytesMut};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::auth::token_from;
use super::head::StreamRequest;
use super::limit::Counted;
use super::sse::{livescore_body, stream_body, SseBody};
use super::AppState;
use crate::hub::direct::{Slot, Wire};

/// Bytes a client may send after its request before it is cut off (it has
/// no business sending any; a few are tolerated, an endless flow is not).
const MAX_STRAY_BYTES: usize = 4096;

/// Subscribes for a stream request, through the same parsing and the same
/// `authorize` as the router's handlers; `None` when the router must
/// answer it (a bad topic, a missing or refused token: the JSON 400, 401
/// or 403 comes from there, the same on both paths).
pub fn subscribe(req: &StreamRequest, st: &AppState) -> Option<SseBody> {
    let token = token_from(
        req.authorization.as_deref(),
        req.cookie.as_deref(),
        req.query.as_deref(),
    );
    let body = if req.livescore {
        livescore_body(st, req.query.as_deref(), token.as_deref())
    } else {
        stream_body(
            st,
            req.query.as_deref(),
            req.last_event_id.as_deref(),
            token.as_deref(),
        )
    };
    body.ok().map(|b| b.gzip(req.gzip))
}

/// Streams `body` to the client until shutdown, the end of the
/// subscription (a client dropped as too slow reconnects and resumes) or
/// the client closing; then closes the connection.
///
/// While the stream owes nothing, its socket is on the hub's fast path
/// (`hub::direct`): events are written to it by the task that ingests them
/// and this task sleeps, woken only by the client, a timer or the hub
/// handing the socket back. A socket that cannot take an event whole, a
/// keep-alive or the token's expiry brings it back here until it has
/// caught up again.
///
/// The future is what an idle stream costs, so it is kept small: what can
/// be done before the first wait is done here, and the `async move` block
/// uses what it captures in place (an `async fn` keeps a second copy of
/// every argument: 1.3 KiB where this is under 1).
pub fn serve(
    io: Counted,
    http10: bool,
    mut body: SseBody,
    st: &AppState,
) -> impl Future<Output = ()> + Send + 'static {
    let (sock, _, place) = io.into_shared();
    let gzip = body.is_gzip();
    let slot = Slot::new(sock.clone(), if gzip { Wire::SseGzip } else { Wire::Sse });
    let mut pending = Some(response_head(
        http10,
        st.config.cors_origins.enabled(),
        gzip,
    ));
    let fast_path = st.config.fast_path;
    let cancel = st.cancel.clone();
    async move {
        let mut stray = 0;
        loop {
            if slot.is_fast() {
                tokio::select! {
                    biased;
                    () = body.wait_fast(&slot) => {}
                    () = client_gone(&sock, &mut stray) => break,
                }
                let rest = body.take_back(&slot);
                if let Some(rest) = rest {
                    if !write(&sock, &rest, &cancel).await {
                        break;
                    }
                }
                continue;
            }
            let chunk = tokio::select! {
                biased;
                chunk = body.next_chunk() => match chunk {
                    Some(chunk) => chunk,
                    None => {
                        // The server ends it: a gzip stream's trailer (a
                        // whole head went out with the first chunk, which
                        // is always before this).
                        if let (None, Some(end)) = (&pending, body.finish()) {
                            write(&sock, &end, &cancel).await;
                        }
                        break;
                    }
                },
                // A closed (or reset) client is noticed at once rather than
                // at the next write, so its place and its subscription are
                // freed.
                () = client_gone(&sock, &mut stray) => break,
            };
            // The head goes out with the first chunk, in one write.
            let chunk = match pending.take() {
                Some(mut head) => {
                    head.put_slice(&chunk);
                    head.freeze()
                }
                None => chunk,
            };
            if !write(&sock, &chunk, &cancel).await {
                break;
            }
            if fast_path {
                body.go_fast(&slot);
            }
        }
        // Nothing more is written here or by the hub: the subscription (and
        // with it the hub's reference to the socket) ends with `body`.
        body.take_back(&slot);
        drop(body);
        let _ = socket2::SockRef::from(&*sock).shutdown(std::net::Shutdown::Write);
        drop(place);
        tracing::debug!("stream closed");
    }
}

/// Resolves when the client has closed (or reset) the connection, or sent
/// more than [`MAX_STRAY_BYTES`]; a client has no business sending any
/// after its request, a few are tolerated.
async fn client_gone(sock: &TcpStream, stray: &mut usize) {
    // Room for a client's stray bytes, never grown.
    let mut scratch = [0u8; 64];
    loop {
        if sock.readable().await.is_err() {
            return;
        }
        match sock.try_read(&mut scratch) {
            Ok(n) if n > 0 && *stray + n <= MAX_STRAY_BYTES => *stray += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            _ => return,
        }
    }
}

/// Writes all of `bytes`; false when the client is gone or, with its
/// socket full, shutdown came first. Nearly always done at the first try.
async fn write(sock: &TcpStream, mut bytes: &[u8], cancel: &CancellationToken) -> bool {
    while !bytes.is_empty() {
        match sock.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::select! {
                    ready = sock.writable() => if ready.is_err() { return false },
                    () = cancel.cancelled() => return false,
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// The response head, byte for byte what the router's stream response
/// carries, with `connection: close` in place of chunked encoding, in the
/// request's HTTP version.
fn response_head(http10: bool, cors: bool, gzip: bool) -> BytesMut {
    let mut head = BytesMut::with_capacity(512);
    head.put_slice(if http10 { b"HTTP/1.0" } else { b"HTTP/1.1" });
    head.put_slice(
        b" 200 OK\r\n\
          content-type: text/event-stream\r\n\
          cache-control: no-cache\r\n\
          x-accel-buffering: no\r\n",
    );
    if gzip {
        head.put_slice(b"content-encoding: gzip\r\nvary: accept-encoding\r\n");
    }
    if cors {
        // What the CORS layer adds to every response of a CORS-enabled node.
        head.put_slice(
            b"vary: origin, access-control-request-method, access-control-request-headers\r\n",
        );
    }
    head.put_slice(b"connection: close\r\ndate: ");
    head.put_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
    head.put_slice(b"\r\n\r\n");
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).expect("ascii head")
    }

    #[test]
    fn the_head_is_a_close_delimited_event_stream() {
        let head = response_head(false, false, false).freeze();
        let t = text(&head);
        assert!(t.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(
            text(&response_head(true, false, false).freeze()).starts_with("HTTP/1.0 200 OK\r\n")
        );
        assert!(!t.contains("content-encoding"));
        let gz = response_head(false, false, true).freeze();
        assert!(text(&gz).contains("content-encoding: gzip\r\nvary: accept-encoding\r\n"));
        assert!(t.contains("content-type: text/event-stream\r\n"));
        assert!(t.contains("connection: close\r\n"));
        assert!(!t.contains("vary"));
        assert!(t.ends_with(" GMT\r\n\r\n"));
        assert!(text(&response_head(false, true, false).freeze()).contains("vary: origin"));
    }
}
