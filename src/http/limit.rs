//! Connection limits, enforced where connections are accepted.
//!
//! A node must answer "full" rather than crash or hang: past the process's
//! file-descriptor ceiling `accept` fails with EMFILE and clients hang in the
//! backlog. So the listener counts open connections and, at the configured
//! maximum (kept below the ceiling), still accepts but answers a JSON 503 and
//! closes. A per-IP cap (429) stops one client from taking the whole node.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

/// File descriptors kept back from the connection budget for the database,
/// the bus, log files and the listener itself.
pub const FD_RESERVE: u64 = 256;

/// How long a rejected client gets to send its request and read the answer
/// before the socket closes.
const REJECT_LINGER: Duration = Duration::from_secs(1);

/// Request bytes read from a rejected client before answering anyway.
const MAX_REJECTED_HEAD_BYTES: usize = 16 * 1024;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Open connections at most; past it new ones get 503.
    pub max: usize,
    /// Open connections per client IP at most (0: no cap); past it, 429.
    pub per_ip: usize,
    /// Kernel send buffer per connection in bytes (0: kernel autotuning).
    pub send_buffer: usize,
}

/// Raises the soft open-files limit to the hard one and returns the
/// resulting ceiling, so a node holds as many connections as the host lets it.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(err) => {
            tracing::warn!(%err, "cannot raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The default connection maximum for a file-descriptor ceiling.
pub fn default_max_connections(fd_ceiling: u64) -> usize {
    usize::try_from(fd_ceiling.saturating_sub(FD_RESERVE).max(16)).unwrap_or(usize::MAX)
}

#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A TCP listener that counts, tunes and limits connections.
pub struct LimitedListener {
    inner: TcpListener,
    limits: ConnLimits,
    counts: Arc<Counts>,
    /// Owns the short tasks that answer rejected clients.
    tracker: TaskTracker,
}

impl LimitedListener {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, limits: ConnLimits, tracker: TaskTracker) -> Self {
        Self {
            inner,
            limits,
            counts: Arc::default(),
            tracker,
        }
    }

    fn admit(&self, ip: IpAddr) -> Result<Guard, Rejection> {
        if self.counts.open.load(Ordering::Relaxed) >= self.limits.max {
            return Err(Rejection::Full);
        }
        if self.limits.per_ip > 0 {
            let mut per_ip = self.counts.per_ip.lock().expect("per-ip lock poisoned");
            let n = per_ip.entry(ip).or_insert(0);
            if *n >= self.limits.per_ip {
                return Err(Rejection::PerIp);
            }
            *n += 1;
        }
        self.counts.open.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("livescore_tcp_connections").increment(1.0);
        Ok(Guard {
            counts: self.counts.clone(),
            ip: (self.limits.per_ip > 0).then_some(ip),
        })
    }

    fn reject(&self, mut stream: TcpStream, why: Rejection) {
        metrics::counter!("livescore_connections_rejected_total", "reason" => why.label())
            .increment(1);
        tracing::debug!(reason = why.label(), "connection rejected");
        self.tracker.spawn(async move {
            // Answer like a server: after the request head (clients such as
            // hyper treat bytes before their request as a protocol error).
            let mut head = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            let _ = tokio::time::timeout(REJECT_LINGER, async {
                while head.len() < MAX_REJECTED_HEAD_BYTES
                    && !head.windows(4).any(|w| w == b"\r\n\r\n")
                {
                    match stream.read(&mut buf).await {
                        Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
            })
            .await;
            answer_and_close(&mut stream, why.status(), "retry-after: 5\r\n", why.body()).await;
        });
    }
}

/// Writes a JSON error answer and closes, first draining (for at most a
/// second) what else the client sends, so that closing does not reset the
/// connection before the client has read the answer. For requests answered
/// before hyper sees them: a rejected connection, an oversized head.
pub(super) async fn answer_and_close<S>(stream: &mut S, status: &str, headers: &str, body: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(REJECT_LINGER, async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[derive(Debug, Clone, Copy)]
enum Rejection {
    Full,
    PerIp,
}

impl Rejection {
    fn label(self) -> &'static str {
        match self {
            Rejection::Full => "max_connections",
            Rejection::PerIp => "per_ip",
        }
    }
    fn status(self) -> &'static str {
        match self {
            Rejection::Full => "503 Service Unavailable",
            Rejection::PerIp => "429 Too Many Requests",
        }
    }
    fn body(self) -> &'static str {
        match self {
            Rejection::Full => {
                r#"{"error":"the server is at its connection limit; retry later or elsewhere"}"#
            }
            Rejection::PerIp => r#"{"error":"too many connections from your address"}"#,
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = Counted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(conn) => conn,
                Err(err) => {
                    accept_error(err).await;
                    continue;
                }
            };
            match self.admit(addr.ip()) {
                Ok(guard) => {
                    tune(&stream, self.limits.send_buffer);
                    return (
                        Counted {
                            stream,
                            ahead: Bytes::new(),
                            _guard: guard,
                        },
                        addr,
                    );
                }
                Err(why) => self.reject(stream, why),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

async fn accept_error(err: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    // EMFILE/ENFILE and the like: back off so the loop does not spin; the
    // connection maximum normally keeps us from getting here.
    tracing::error!(%err, "accept failed");
    metrics::counter!("livescore_accept_errors_total").increment(1);
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Per-connection socket options. Failures are logged, not fatal: the
/// connection still works with the kernel's defaults.
fn tune(tcp: &TcpStream, send_buffer: usize) {
    // Events are small and latency matters more than packet count.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
    // Bounded, it caps how many stale events sit in the kernel for a client
    // that stopped reading, so conflation reaches it sooner.
    if send_buffer > 0 {
        if let Err(err) = socket2::SockRef::from(tcp).set_send_buffer_size(send_buffer) {
            tracing::debug!(%err, "cannot set SO_SNDBUF");
        }
    }
}

/// Releases a connection's place in the counts when it closes.
struct Guard {
    counts: Arc<Counts>,
    ip: Option<IpAddr>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.counts.open.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("livescore_tcp_connections").decrement(1.0);
        if let Some(ip) = self.ip {
            let mut per_ip = self.counts.per_ip.lock().expect("per-ip lock poisoned");
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

/// An accepted connection that counts against the limits while open.
pub struct Counted {
    stream: TcpStream,
    /// Bytes read ahead of hyper ([`super::head`]), read again first.
    ahead: Bytes,
    _guard: Guard,
}

impl Counted {
    /// Puts `bytes`, read from this connection, back in front of what is
    /// still to be read, for hyper to read the request head again.
    pub fn put_back(&mut self, bytes: Bytes) {
        self.ahead = bytes;
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.ahead.is_empty() {
            let n = self.ahead.len().min(buf.remaining());
            buf.put_slice(&self.ahead[..n]);
            self.ahead.advance(n);
            if self.ahead.is_empty() {
                // An emptied `Bytes` still holds its whole buffer; an
                // upgraded WebSocket keeps this connection for its lifetime.
                self.ahead = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_put_back_are_read_again_before_the_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let limits = ConnLimits {
            max: 4,
            per_ip: 0,
            send_buffer: 0,
        };
        let mut listener = LimitedListener::new(listener, limits, TaskTracker::new());
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let (mut conn, _) = axum::serve::Listener::accept(&mut listener).await;
        client
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        let mut head = [0u8; 16];
        conn.read_exact(&mut head).await.expect("read ahead");
        conn.put_back(Bytes::copy_from_slice(&head));
        client.write_all(b"\r\n").await.expect("write");
        let mut all = [0u8; 18];
        conn.read_exact(&mut all).await.expect("read again");
        assert_eq!(&all, b"GET / HTTP/1.1\r\n\r\n");
    }
}
