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

use std::task::Poll;
use std::time::{Duration, SystemTime};

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::auth::token_from;
use super::head::StreamRequest;
use super::sse::{livescore_body, stream_body, SseBody};
use super::AppState;

/// Bytes a client may send after its request before it is cut off (it has
/// no business sending any; a few are tolerated, an endless flow is not).
const MAX_STRAY_BYTES: usize = 4096;

/// How long the closing FIN may wait on a client that does not read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

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
    if req.livescore {
        return livescore_body(st, token.as_deref()).ok();
    }
    stream_body(
        st,
        req.query.as_deref(),
        req.last_event_id.as_deref(),
        token.as_deref(),
    )
    .ok()
}

/// Streams `sub` to the client until shutdown, the end of the subscription
/// (a client dropped as too slow reconnects and resumes) or the client
/// closing; then closes the connection.
pub async fn serve<S>(mut io: S, http10: bool, mut body: SseBody, st: &AppState)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut pending = Some(response_head(http10, st.config.cors_origins.enabled()));
    // Room for a client's stray bytes, never grown.
    let mut scratch = [0u8; 64];
    let mut stray = 0;
    loop {
        let chunk = tokio::select! {
            biased;
            chunk = body.next_chunk() => match chunk {
                Some(chunk) => chunk,
                None => break,
            },
            // A closed (or reset) client is noticed at once rather than at
            // the next write, so its place and its subscription are freed.
            read = io.read(&mut scratch) => match read {
                Ok(n) if n > 0 && stray + n <= MAX_STRAY_BYTES => { stray += n; continue }
                _ => return,
            },
        };
        // The head goes out with the first chunk, in one write.
        let chunk = match pending.take() {
            Some(mut head) => {
                head.put_slice(&chunk);
                head.freeze()
            }
            None => chunk,
        };
        // Nearly always done at the first try; only a client whose socket
        // buffer is full makes it wait, and then shutdown must not.
        let write = io.write_all(&chunk);
        tokio::pin!(write);
        let written = match futures::poll!(write.as_mut()) {
            Poll::Ready(written) => written,
            Poll::Pending => tokio::select! {
                written = write => written,
                () = st.cancel.cancelled() => return,
            },
        };
        if written.is_err() {
            return;
        }
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
}

/// The response head, byte for byte what the router's stream response
/// carries, with `connection: close` in place of chunked encoding, in the
/// request's HTTP version.
fn response_head(http10: bool, cors: bool) -> BytesMut {
    let mut head = BytesMut::with_capacity(512);
    head.put_slice(if http10 { b"HTTP/1.0" } else { b"HTTP/1.1" });
    head.put_slice(
        b" 200 OK\r\n\
          content-type: text/event-stream\r\n\
          cache-control: no-cache\r\n\
          x-accel-buffering: no\r\n",
    );
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
        let head = response_head(false, false).freeze();
        let t = text(&head);
        assert!(t.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text(&response_head(true, false).freeze()).starts_with("HTTP/1.0 200 OK\r\n"));
        assert!(t.contains("content-type: text/event-stream\r\n"));
        assert!(t.contains("connection: close\r\n"));
        assert!(!t.contains("vary"));
        assert!(t.ends_with(" GMT\r\n\r\n"));
        assert!(text(&response_head(false, true).freeze()).contains("vary: origin"));
    }
}
