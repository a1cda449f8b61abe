//! The first request head of a connection, read before hyper sees it.
//!
//! Why: an idle SSE subscriber served through hyper keeps hyper's whole
//! HTTP/1 connection (read and write buffers, dispatcher, body channel)
//! for as long as it is connected, about 12 KiB each (docs/BENCHMARKS.md).
//! A plain `GET` of a stream is the one request that never ends, and it is
//! simple enough to answer by hand ([`super::sse_socket`]), so the first
//! head is read here into a small buffer that is freed once parsed.
//! Everything else (other routes, upgrades, bodies, pipelined requests,
//! heads that do not parse, CORS requests) goes to hyper with the bytes
//! read so far put back in front of the socket
//! ([`super::limit::Counted::put_back`]): hyper gives the same answers it
//! always did.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// First read's buffer: a browser's `EventSource` head is ~600 bytes.
const FIRST_READ_BYTES: usize = 2048;

/// Most headers looked at; a head with more goes to hyper.
const MAX_HEADERS: usize = 48;

/// What the first bytes of a connection turned out to be.
#[derive(Debug)]
pub enum First {
    /// `GET /api/stream` or `GET /api/livescore` asking for an event stream,
    /// nothing after it: served on the socket.
    Stream(StreamRequest),
    /// Anything else: these bytes, then the socket, go to hyper.
    Other(Bytes),
    /// No end of the head within the size limit: answered 431 here (hyper
    /// would send its 431 with no body, and not always before closing).
    TooLarge,
    /// The client closed (or sent nothing) before a whole head.
    Closed,
}

/// What the socket path needs of a stream request.
#[derive(Debug, PartialEq, Eq)]
pub struct StreamRequest {
    /// The head as read, for hyper when the request is refused (a bad
    /// topic gets the router's JSON 400, the same as on every other path).
    pub head: Bytes,
    /// `/api/livescore` (the classic all-games stream) rather than `/api/stream`.
    pub livescore: bool,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// The `Last-Event-ID` header.
    pub last_event_id: Option<Vec<u8>>,
    /// The `Authorization` header (a token for private topics).
    pub authorization: Option<Vec<u8>>,
    /// The `Cookie` header (the `livescore_token` cookie).
    pub cookie: Option<Vec<u8>>,
    /// An HTTP/1.0 request, answered as 1.0 (as hyper does).
    pub http10: bool,
    /// Its `Accept-Encoding` allows gzip: the stream is sent compressed.
    pub gzip: bool,
    /// The `X-Forwarded-For` header (the client, from a trusted proxy).
    pub forwarded_for: Option<Vec<u8>>,
}

impl StreamRequest {
    /// Its `X-Forwarded-For` as a header map, for
    /// [`super::client_addr::TrustedProxies::client`].
    pub fn forwarded_headers(&self) -> axum::http::HeaderMap {
        let mut headers = axum::http::HeaderMap::new();
        let value = self
            .forwarded_for
            .as_deref()
            .and_then(|v| axum::http::HeaderValue::from_bytes(v).ok());
        if let Some(v) = value {
            headers.insert("x-forwarded-for", v);
        }
        headers
    }
}

/// Reads the first head (up to `limit` bytes) and classifies it. The
/// caller bounds the time it takes.
pub async fn read_first<S: AsyncRead + Unpin>(
    io: &mut S,
    limit: usize,
    cors: bool,
) -> io::Result<First> {
    let mut buf = BytesMut::with_capacity(FIRST_READ_BYTES.min(limit.max(1)));
    let mut scanned = 0;
    loop {
        if buf.len() == buf.capacity() {
            if buf.len() >= limit {
                return Ok(First::TooLarge);
            }
            buf.reserve((buf.len()).min(limit - buf.len()));
        }
        if io.read_buf(&mut buf).await? == 0 {
            return Ok(First::Closed);
        }
        // Parse again only once a line is complete (as hyper does on every
        // read): a whole head, or garbage that hyper answers with 400 at once.
        let new_line = buf[scanned..].contains(&b'\n');
        scanned = buf.len();
        if new_line {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::Request::new(&mut headers).parse(&buf) {
                Ok(httparse::Status::Partial) => {}
                _ => return Ok(classify(buf.freeze(), cors)),
            }
        }
    }
}

/// Decides where a complete head goes. `cors`: the node sends CORS headers,
/// which the router's layer adds, so a request with an `Origin` goes there.
pub fn classify(bytes: Bytes, cors: bool) -> First {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(&bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        _ => return First::Other(bytes),
    };
    // Pipelined bytes after the head: hyper's to read.
    if len != bytes.len() || req.method != Some("GET") {
        return First::Other(bytes);
    }
    let target = req.path.unwrap_or("");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let livescore = match path {
        "/api/stream" => false,
        "/api/livescore" => true,
        _ => return First::Other(bytes),
    };
    let mut event_stream = false;
    let mut last_event_id = None;
    let (mut authorization, mut cookie, mut forwarded_for) = (None, None, None);
    let mut encoding = super::encoding::AcceptEncoding::default();
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || (name.eq_ignore_ascii_case("content-length") && h.value.trim_ascii() != b"0")
            || (cors && name.eq_ignore_ascii_case("origin"))
        {
            return First::Other(bytes);
        }
        if name.eq_ignore_ascii_case("accept") {
            event_stream |= super::subscription::accepts_event_stream(h.value);
        } else if name.eq_ignore_ascii_case("accept-encoding") {
            encoding.add(h.value);
        } else if name.eq_ignore_ascii_case("last-event-id") {
            // Two of them: let hyper's path pick as it always did.
            if last_event_id.is_some() {
                return First::Other(bytes);
            }
            last_event_id = Some(h.value.to_vec());
        } else if name.eq_ignore_ascii_case("authorization") {
            // Two of them, or several cookie headers: hyper's path decides.
            if authorization.is_some() {
                return First::Other(bytes);
            }
            authorization = Some(h.value.to_vec());
        } else if name.eq_ignore_ascii_case("cookie") {
            if cookie.is_some() {
                return First::Other(bytes);
            }
            cookie = Some(h.value.to_vec());
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            // Several: hyper's path reads them all.
            if forwarded_for.is_some() {
                return First::Other(bytes);
            }
            forwarded_for = Some(h.value.to_vec());
        }
    }
    // Without `Accept: text/event-stream`, /api/livescore redirects.
    if livescore && !event_stream {
        return First::Other(bytes);
    }
    First::Stream(StreamRequest {
        head: bytes.clone(),
        livescore,
        query: query.map(str::to_owned),
        last_event_id,
        authorization,
        cookie,
        http10: req.version == Some(0),
        gzip: encoding.gzip(),
        forwarded_for,
    })
}

/// Whether a complete head is a health or metrics probe (`GET` or `HEAD`
/// of `/healthz`, `/readyz` or `/metrics`, nothing after it): the requests
/// a node at its connection limit still serves, so monitors and load
/// balancers see it is full rather than dead.
pub fn is_probe(head: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len()) {
        return false;
    }
    let path = req.path.unwrap_or("");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    matches!(req.method, Some("GET" | "HEAD"))
        && matches!(path, "/healthz" | "/readyz" | "/metrics")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_health_and_metrics_reads_only() {
        for yes in [
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            "HEAD /readyz HTTP/1.1\r\n\r\n",
            "GET /metrics?x=1 HTTP/1.0\r\n\r\n",
        ] {
            assert!(is_probe(yes.as_bytes()), "{yes:?}");
        }
        for no in [
            "GET /api/ HTTP/1.1\r\n\r\n",
            "POST /healthz HTTP/1.1\r\n\r\n",
            "GET /healthz HTTP/1.1\r\n",
            "GET /healthz HTTP/1.1\r\n\r\nGET /api/ HTTP/1.1\r\n\r\n",
            "GET /healthzz HTTP/1.1\r\n\r\n",
        ] {
            assert!(!is_probe(no.as_bytes()), "{no:?}");
        }
    }

    fn stream(head: &str) -> Option<StreamRequest> {
        match classify(Bytes::copy_from_slice(head.as_bytes()), false) {
            First::Stream(r) => Some(r),
            _ => None,
        }
    }

    #[test]
    fn a_plain_stream_request_is_served_on_the_socket() {
        let r = stream("GET /api/stream?topic=scores&topic=game/1 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 42\r\n\r\n")
            .expect("a stream request");
        assert!(!r.livescore);
        assert_eq!(r.query.as_deref(), Some("topic=scores&topic=game/1"));
        assert_eq!(r.last_event_id.as_deref(), Some(&b"42"[..]));
        assert!(!r.gzip);
        let gz = stream("GET /api/stream?topic=a HTTP/1.1\r\nAccept-Encoding: br\r\naccept-encoding: gzip;q=0.5\r\n\r\n")
            .expect("a stream request");
        assert!(gz.gzip);
        // Bare `\n` line endings parse too.
        assert!(stream("GET /api/stream?topic=a HTTP/1.0\n\n").is_some());
    }

    #[test]
    fn livescore_needs_an_event_stream_accept() {
        assert!(
            stream("GET /api/livescore HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n")
                .is_some_and(|r| r.livescore)
        );
        // Otherwise the router's redirect answers it.
        assert!(stream("GET /api/livescore HTTP/1.1\r\nAccept: */*\r\n\r\n").is_none());
    }

    #[test]
    fn everything_else_goes_to_hyper() {
        for head in [
            "GET / HTTP/1.1\r\n\r\n",
            "POST /api/stream?topic=a HTTP/1.1\r\n\r\n",
            "GET /api/streams?topic=a HTTP/1.1\r\n\r\n",
            "GET /api/stream?topic=a HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "GET /api/stream?topic=a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /api/stream?topic=a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            // Pipelined: a second request after the first.
            "GET /api/stream?topic=a HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "GET /api/stream?topic=a HTTP/1.1\r\nLast-Event-ID: 1\r\nLast-Event-ID: 2\r\n\r\n",
            "NOT HTTP AT ALL\r\n\r\n",
        ] {
            assert!(stream(head).is_none(), "{head:?}");
        }
        // With CORS on, a cross-origin request gets the CORS layer's headers.
        let cross = "GET /api/stream?topic=a HTTP/1.1\r\nOrigin: https://a.example\r\n\r\n";
        assert!(stream(cross).is_some());
        assert!(matches!(
            classify(Bytes::from_static(cross.as_bytes()), true),
            First::Other(_)
        ));
    }

    #[tokio::test]
    async fn a_head_in_pieces_is_read_whole_for_hyper() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let head = b"GET /api/games/1 HTTP/1.1\r\nHost: x\r\n\r\n";
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for b in head {
                client.write_all(&[*b]).await.expect("in memory");
            }
            client
        });
        let first = read_first(&mut server, 64 * 1024, false)
            .await
            .expect("in memory");
        let First::Other(bytes) = first else {
            panic!("expected hyper's, got {first:?}")
        };
        assert_eq!(&bytes[..], head);
        writer.await.expect("in memory");
    }

    #[tokio::test]
    async fn an_oversized_head_is_too_large_and_a_silent_close_is_closed() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        use tokio::io::AsyncWriteExt;
        let big = format!(
            "GET /api/stream?topic=a HTTP/1.1\r\nX: {}\r\n",
            "y".repeat(9000)
        );
        client.write_all(big.as_bytes()).await.expect("in memory");
        let first = read_first(&mut server, 8192, false)
            .await
            .expect("in memory");
        assert!(matches!(first, First::TooLarge));

        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        let first = read_first(&mut server, 8192, false)
            .await
            .expect("in memory");
        assert!(matches!(first, First::Closed));
    }
}
