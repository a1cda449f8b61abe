//! Connection limits, enforced where connections are accepted.
//!
//! A node must answer "full" rather than crash or hang: past the process's
//! file-descriptor ceiling `accept` fails with EMFILE and clients hang in the
//! backlog. So the listener counts open connections and, at the configured
//! maximum (kept below the ceiling), still accepts but answers a JSON 503 and
//! closes. A per-IP cap (429) stops one client from taking the whole node.
//!
//! Refusing costs a descriptor too, for as long as the refused client takes
//! to send its head and read the answer. Unbounded, a flood of refused
//! connections would use up the descriptors the maximum keeps in reserve,
//! and every later client (a monitor's `/healthz` included) would hang in
//! the backlog. So refused connections get one of [`REFUSAL_SLOTS`] slots,
//! taken from the reserve; a health or metrics probe among them is served,
//! everything else gets its 503/429 as soon as its head is in. When every
//! slot is taken, the one waiting longest for its head gives way to the
//! newcomer (a client that sent nothing in [`EVICT_AFTER`] has had its
//! chance), or else the newest waiting one; when none may give way (all
//! are being answered) the newcomer is closed at once: never a hang. A
//! probe whose request is in when it is accepted keeps its slot.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub use super::caps::{ConnCaps, Rejection};
use super::per_client::{ClientCap, ClientSlot};

/// File descriptors kept back from the connection budget for the database,
/// the bus, log files, the listener itself and refused connections.
pub const FD_RESERVE: u64 = 256;

/// Refused connections open at once (each waiting for its head or being
/// answered). Evicted ones may still be closing, so at most twice this many
/// descriptors, well inside [`FD_RESERVE`].
pub const REFUSAL_SLOTS: usize = 64;

/// How long a refused client gets to send its request head, and then to
/// read the answer, before the socket closes.
pub const REJECT_LINGER: Duration = Duration::from_secs(1);

/// The least time a refused connection keeps its slot waiting for its head
/// before a newer one may take it: long enough for any client that sends
/// its request at once, so only the silent ones give way.
const EVICT_AFTER: Duration = Duration::from_millis(250);

/// Connection limits.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Open connections at most whatever `caps` says: the open-files
    /// ceiling less a reserve.
    pub ceiling: usize,
    /// What the operator set; past the maximum new connections get 503,
    /// past the per-address cap 429.
    pub caps: ConnCaps,
    /// Kernel send buffer per connection in bytes (0: kernel autotuning).
    pub send_buffer: usize,
    /// New connections taken per second (`--accept-rate`, `--accept-burst`).
    pub pace: AcceptPace,
    /// The per-address cap's counts, shared with the router (which counts
    /// clients behind a trusted proxy, and HTTP/2 streams).
    pub clients: ClientCap,
}

/// How fast new connections are taken from the kernel: a token bucket of
/// `burst` connections refilled at `rate` per second. When it is empty the
/// accept loop waits and newcomers queue in the listen backlog, so a
/// reconnect storm (every client of a restarted node or a dropped network)
/// cannot take every core from the streams already open: each new stream
/// costs a request parse, a subscription and a resume replay. A normal
/// connect finds the bucket full and never waits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcceptPace {
    /// Connections per second, sustained; 0 turns pacing off.
    pub rate: f64,
    /// Connections taken at once after a quiet spell.
    pub burst: u32,
}

impl Default for AcceptPace {
    /// `--accept-rate 5000 --accept-burst 2000`: 10,000 clients arriving
    /// at once are paced over about 1.6 s, a jittered storm (1-5 s) barely,
    /// a normal connect never. At 2000/s a synchronized storm of 9,000 took
    /// 5.3 s to recover against 2.2 s unpaced, with no better p99 for the
    /// clients already connected on the 2-core loopback bench
    /// (docs/BENCHMARKS.md, "Reconnect storms").
    fn default() -> Self {
        Self {
            rate: 5_000.0,
            burst: 2_000,
        }
    }
}

/// The accept loop's token bucket ([`AcceptPace`]).
#[derive(Debug)]
struct Bucket {
    pace: AcceptPace,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(pace: AcceptPace) -> Self {
        Self {
            pace,
            tokens: f64::from(pace.burst.max(1)),
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.duration_since(self.last).as_secs_f64() * self.pace.rate;
        self.tokens = (self.tokens + earned).min(f64::from(self.pace.burst.max(1)));
        self.last = now;
    }

    /// Takes a token, waiting for one when the bucket is empty. Dropping
    /// the wait (shutdown) takes nothing.
    async fn take(&mut self) {
        if self.pace.rate <= 0.0 {
            return;
        }
        self.refill(Instant::now());
        if self.tokens < 1.0 {
            metrics::counter!("livescore_accepts_paced_total").increment(1);
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / self.pace.rate);
            tokio::time::sleep(wait).await;
            self.refill(Instant::now());
        }
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
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
    refusals: Mutex<Refusals>,
}

/// Refused connections still open.
#[derive(Default)]
struct Refusals {
    /// Open, evicted ones included.
    open: usize,
    /// Evicted but not yet closed.
    evicted: usize,
    /// Those still waiting for their head, oldest first: the ones that may
    /// be evicted.
    waiting: VecDeque<(u64, Instant, CancellationToken)>,
    next_id: u64,
}

/// A TCP listener that counts, tunes, paces and limits connections.
pub struct LimitedListener {
    inner: TcpListener,
    limits: ConnLimits,
    counts: Arc<Counts>,
    bucket: Bucket,
}

impl LimitedListener {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, limits: ConnLimits) -> Self {
        Self {
            inner,
            bucket: Bucket::new(limits.pace),
            limits,
            counts: Arc::default(),
        }
    }

    /// Open connections at most, now.
    pub fn max(&self) -> usize {
        match self.limits.caps.max() {
            0 => self.limits.ceiling,
            n => n.min(self.limits.ceiling),
        }
    }

    fn admit(&self, ip: IpAddr) -> Result<Guard, Rejection> {
        if self.counts.open.load(Ordering::Relaxed) >= self.max() {
            return Err(Rejection::Full);
        }
        let slot = self.limits.clients.at_accept(ip)?;
        self.counts.open.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("livescore_tcp_connections").increment(1.0);
        Ok(Guard {
            counts: self.counts.clone(),
            slot,
        })
    }

    /// A slot for a refused connection, or `None` (close it at once). A
    /// `probe` (its whole head already read) is never evicted.
    fn refuse(&self, why: Rejection, probe: bool) -> Option<Refusal> {
        metrics::counter!("livescore_connections_rejected_total", "reason" => why.label())
            .increment(1);
        tracing::debug!(reason = why.label(), probe, "connection refused");
        let mut slots = self.counts.refusals.lock().expect("refusal lock poisoned");
        if slots.open >= 2 * REFUSAL_SLOTS {
            return None;
        }
        let now = Instant::now();
        if !probe && slots.open - slots.evicted >= REFUSAL_SLOTS {
            // The longest waiting gives way once it has had a fair chance;
            // before that, the newest does. So a newcomer always gets its
            // moment: a monitor's probe whose request is a packet behind
            // its connect is heard and served, where closing it unheard
            // (as this did) failed the probe at the end of a flood.
            let (_, since, _) = slots.waiting.front()?;
            let fair = now.duration_since(*since) >= EVICT_AFTER;
            let victim = match fair {
                true => slots.waiting.pop_front(),
                false => slots.waiting.pop_back(),
            };
            let (_, _, victim) = victim?;
            victim.cancel();
            slots.evicted += 1;
            metrics::counter!("livescore_connections_evicted_total").increment(1);
        }
        slots.open += 1;
        slots.next_id += 1;
        let id = slots.next_id;
        let evict = CancellationToken::new();
        if !probe {
            slots.waiting.push_back((id, now, evict.clone()));
        }
        Some(Refusal {
            why,
            id,
            evict,
            counts: self.counts.clone(),
        })
    }
}

/// What a refused client already sent when it was accepted: under a flood
/// the accept loop lags, so a monitor's request is usually in by then, and
/// knowing it is a probe keeps it from losing its slot. Read from the
/// socket itself: tokio's `try_read` on a stream just accepted answers
/// "would block" before its reactor has seen the socket, even with the
/// request waiting in the kernel, and then a probe under a flood was taken
/// for a silent client and closed (tests/limits.rs caught it).
fn sent_so_far(stream: &TcpStream) -> Bytes {
    use std::io::Read;
    let sock = socket2::SockRef::from(stream);
    let mut buf = [0u8; 1024];
    // The socket is non-blocking (tokio's): nothing there is WouldBlock.
    match (&*sock).read(&mut buf) {
        Ok(n) if n > 0 => Bytes::copy_from_slice(&buf[..n]),
        _ => Bytes::new(),
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

impl axum::serve::Listener for LimitedListener {
    type Io = Counted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Before `accept`: while paced, newcomers wait in the kernel's
            // backlog, not in this process.
            self.bucket.take().await;
            let (stream, addr) = match self.inner.accept().await {
                Ok(conn) => conn,
                Err(err) => {
                    accept_error(err).await;
                    continue;
                }
            };
            let (admission, ahead) = match self.admit(addr.ip()) {
                Ok(guard) => {
                    tune(&stream, self.limits.send_buffer);
                    (Admission::Admitted(guard), Bytes::new())
                }
                Err(why) => {
                    let sent = sent_so_far(&stream);
                    match self.refuse(why, super::head::is_probe(&sent)) {
                        Some(refusal) => (Admission::Refused(refusal), sent),
                        None => {
                            metrics::counter!("livescore_connections_dropped_total").increment(1);
                            continue;
                        }
                    }
                }
            };
            return (
                Counted {
                    stream,
                    ahead,
                    admission,
                },
                addr,
            );
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
    /// Its place in its address's count: none without a cap, from a
    /// trusted proxy, or once HTTP/2 was agreed (streams count instead).
    slot: Option<ClientSlot>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.counts.open.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("livescore_tcp_connections").decrement(1.0);
    }
}

/// A refused connection's slot, given back when it closes.
pub struct Refusal {
    why: Rejection,
    id: u64,
    evict: CancellationToken,
    counts: Arc<Counts>,
}

impl Refusal {
    /// Why it was refused.
    pub fn why(&self) -> Rejection {
        self.why
    }

    /// Cancelled when a newer refused connection takes this slot.
    pub fn evicted(&self) -> CancellationToken {
        self.evict.clone()
    }

    /// Its head is in: it is being answered and may no longer be evicted.
    pub fn answering(&self) {
        let mut slots = self.counts.refusals.lock().expect("refusal lock poisoned");
        slots.waiting.retain(|(id, _, _)| *id != self.id);
    }
}

impl Drop for Refusal {
    fn drop(&mut self) {
        let mut slots = self.counts.refusals.lock().expect("refusal lock poisoned");
        slots.open -= 1;
        if self.evict.is_cancelled() {
            slots.evicted -= 1;
        } else {
            slots.waiting.retain(|(id, _, _)| *id != self.id);
        }
    }
}

/// Whether a connection holds a place or a refusal slot.
enum Admission {
    Admitted(#[allow(dead_code)] Guard),
    Refused(Refusal),
}

/// Serves a read from `ahead` (bytes read before, to be read again first)
/// while it holds any; false when it is empty and the socket's turn.
fn read_ahead(ahead: &mut Bytes, buf: &mut ReadBuf<'_>) -> bool {
    if ahead.is_empty() {
        return false;
    }
    let n = ahead.len().min(buf.remaining());
    buf.put_slice(&ahead[..n]);
    ahead.advance(n);
    if ahead.is_empty() {
        // An emptied `Bytes` still holds its whole buffer; an upgraded
        // WebSocket keeps this connection for its lifetime.
        *ahead = Bytes::new();
    }
    true
}

/// A connection's place in the counts, apart from its socket.
pub struct Place(#[allow(dead_code)] Admission);

/// A connection whose socket is shared with the hub's fast path (an
/// upgraded WebSocket): read and written here through `&TcpStream`, as
/// the hub writes it while this side only reads. Or, over TLS, hyper's
/// upgraded stream, which only this side writes (no fast path: the hub
/// cannot encrypt).
pub struct Shared {
    io: SharedIo,
    /// Bytes read before the hand-over (hyper's read buffer), read first.
    ahead: Bytes,
    _place: Option<Place>,
}

enum SharedIo {
    Tcp(Arc<TcpStream>),
    /// Boxed: rare, and an idle plain WebSocket should not carry its size.
    Upgraded(Box<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>),
}

impl Shared {
    /// `sock`, with `ahead` to be read before it.
    pub fn new(sock: Arc<TcpStream>, ahead: Bytes, place: Place) -> Self {
        Self {
            io: SharedIo::Tcp(sock),
            ahead,
            _place: Some(place),
        }
    }

    /// Any other upgraded connection (TLS): it holds its own place.
    pub fn upgraded(io: hyper::upgrade::Upgraded) -> Self {
        Self {
            io: SharedIo::Upgraded(Box::new(hyper_util::rt::TokioIo::new(io))),
            ahead: Bytes::new(),
            _place: None,
        }
    }
}

impl AsyncRead for Shared {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if read_ahead(&mut self.ahead, buf) {
            return Poll::Ready(Ok(()));
        }
        let sock = match &mut self.io {
            SharedIo::Tcp(sock) => sock,
            SharedIo::Upgraded(io) => return Pin::new(&mut **io).poll_read(cx, buf),
        };
        loop {
            std::task::ready!(sock.poll_read_ready(cx))?;
            match sock.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale: cleared, so the next poll waits.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Shared {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let sock = match &mut self.io {
            SharedIo::Tcp(sock) => sock,
            SharedIo::Upgraded(io) => return Pin::new(&mut **io).poll_write(cx, buf),
        };
        loop {
            std::task::ready!(sock.poll_write_ready(cx))?;
            match sock.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            SharedIo::Tcp(_) => Poll::Ready(Ok(())),
            SharedIo::Upgraded(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            SharedIo::Tcp(sock) => {
                Poll::Ready(socket2::SockRef::from(&**sock).shutdown(std::net::Shutdown::Write))
            }
            SharedIo::Upgraded(io) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }
}

/// An accepted connection that counts against the limits while open.
pub struct Counted {
    stream: TcpStream,
    /// Bytes read ahead of hyper ([`super::head`]), read again first.
    ahead: Bytes,
    admission: Admission,
}

impl Counted {
    /// Its refusal, when it came past a limit: to be answered, not served
    /// (probes aside).
    pub fn refusal(&self) -> Option<&Refusal> {
        match &self.admission {
            Admission::Admitted(_) => None,
            Admission::Refused(r) => Some(r),
        }
    }

    /// The socket, to be shared with the hub's fast path (which writes it
    /// from the publishing task), the bytes read ahead and not yet taken,
    /// and its place in the counts, held until the connection is done.
    pub fn into_shared(self) -> (Arc<TcpStream>, Bytes, Place) {
        (Arc::new(self.stream), self.ahead, Place(self.admission))
    }

    /// Puts `bytes`, read from this connection, back in front of what is
    /// still to be read, for hyper to read the request head again.
    pub fn put_back(&mut self, bytes: Bytes) {
        self.ahead = bytes;
    }

    /// Gives back the connection's place in its address's count: it
    /// speaks HTTP/2, whose streams are counted one by one instead
    /// ([`ClientCap::stream`]).
    pub fn release_client_slot(&mut self) {
        if let Admission::Admitted(guard) = &mut self.admission {
            guard.slot = None;
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if read_ahead(&mut self.ahead, buf) {
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
            ceiling: 4,
            caps: ConnCaps::default(),
            send_buffer: 0,
            pace: AcceptPace::default(),
            clients: ClientCap::default(),
        };
        let mut listener = LimitedListener::new(listener, limits);
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
