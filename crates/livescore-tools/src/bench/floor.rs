//! `livescore bench --floor`: what delivering an event costs with no
//! server at all, measured in the same invocation as the server so that
//! the server's figures can be given as a ratio to it (issue 23).
//!
//! This process plays a server that does nothing but the least any server
//! must do: it accepts the bench's own SSE readers on a loopback listener,
//! answers their request with a close-delimited event stream, and then,
//! for each event, builds the event's bytes once and hands them to every
//! socket with one plain blocking `write(2)`, as a bare C loop would. The
//! writer is a thread of its own; its CPU clock (`CLOCK_THREAD_CPUTIME_ID`)
//! is read around each event's write loop, so the figure is the CPU of the
//! writes alone: the kernel's loopback TCP path, the wake-up of the
//! reader, and nothing of the readers' own work or of the runtime.
//!
//! The readers are the bench's usual ones ([`super::fleet`]), in this
//! process or in worker processes when this process could not hold both
//! ends of every connection; they check every event off and time it from
//! the `t` it carries, so the latency figures are the time to the last
//! byte of the floor.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::time::{clock_gettime, ClockId};

use super::fleet::{unix_nanos, Tally};
use super::plan::{find, Plan};
use super::publisher::event_data;
use super::report::{Floor, Latency};
use super::worker::PER_WORKER;
use super::{BenchArgs, BenchError, Transport, SETTLE};

/// Events of the floor measured after a server run: enough for stable
/// percentiles, few enough not to double the run.
pub const AFTER_SERVER_EVENTS: u64 = 50;

/// Open files this process keeps for itself besides the connections (the
/// runtime, the listener, stdio, the HTTP client's pool).
const FD_SLACK: u64 = 128;

/// Connections waiting to be accepted: the readers connect
/// `--connect-concurrency` at a time, and a full backlog costs a reader a
/// one-second SYN retransmit.
const BACKLOG: u32 = 4096;

/// How long a reader may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Most request-head bytes read before the connection is dropped.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How long the acceptor sleeps when no connection is waiting.
const ACCEPT_IDLE: Duration = Duration::from_millis(1);

/// The answer to every reader: an event stream delimited by the close of
/// the connection (no chunked framing, nothing written but the events).
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";

/// What one floor measurement is asked to do.
#[derive(Debug, Clone)]
pub struct FloorPlan {
    /// Readers, and so connections written to.
    pub subscribers: usize,
    /// Events written to each (indices `0..events`).
    pub events: u64,
    /// Events per second (event `i` at `start + i / rate`).
    pub rate: f64,
    /// Bytes of each event's data (`publisher::event_data`).
    pub size: usize,
    /// `--workers` as given.
    pub workers: Option<usize>,
    /// Reader connections being opened at once.
    pub connect_concurrency: usize,
    /// Longest one reader may take to connect.
    pub connect_timeout: Duration,
    /// How long to wait without a new delivery before counting the rest
    /// as lost.
    pub drain_timeout: Duration,
}

impl FloorPlan {
    /// `livescore bench --floor`: the events asked for.
    pub fn alone(args: &BenchArgs) -> Self {
        Self::with_events(args, args.events)
    }

    /// The floor measured after a server run: the same subscribers, size
    /// and rate, at most [`AFTER_SERVER_EVENTS`] events.
    pub fn after_server(args: &BenchArgs) -> Self {
        Self::with_events(args, args.events.min(AFTER_SERVER_EVENTS))
    }

    fn with_events(args: &BenchArgs, events: u64) -> Self {
        Self {
            subscribers: args.subscribers,
            events,
            rate: args.rate,
            size: args.size,
            workers: args.workers,
            connect_concurrency: args.connect_concurrency,
            connect_timeout: args.connect_timeout,
            drain_timeout: args.drain_timeout,
        }
    }
}

/// The bytes of floor event `n` stamped `t` (Unix nanos): an SSE frame as
/// a server writes it, with the data the publisher would have sent.
pub fn frame(t: u64, n: u64, size: usize) -> Vec<u8> {
    format!(
        "id: floor-{n}\nevent: bench\ndata: {}\n\n",
        event_data(t, n, size)
    )
    .into_bytes()
}

/// Worker processes for the readers: this process holds the floor's end of
/// every connection, so the readers move out once both ends would not fit
/// under the open-files ceiling (at least one worker then, and enough that
/// none holds more than [`PER_WORKER`]); otherwise as `--workers` asked.
pub fn worker_count(subscribers: usize, fd_ceiling: u64, asked: Option<usize>) -> usize {
    let asked = asked.unwrap_or(0);
    if 2 * subscribers as u64 + FD_SLACK > fd_ceiling {
        asked.max(subscribers.div_ceil(PER_WORKER)).max(1)
    } else {
        asked
    }
}

/// Measures the floor: readers connected, every event written to every
/// one of them, every delivery counted.
pub async fn measure(plan: FloorPlan) -> Result<Floor, BenchError> {
    let n = plan.subscribers;
    let fd_ceiling = livescore::http::limit::raise_fd_limit();
    if n as u64 + FD_SLACK > fd_ceiling {
        return Err(BenchError::Usage(format!(
            "the floor holds one end of each of {n} connections in this process, more open \
             files than it may have ({fd_ceiling})"
        )));
    }
    let workers = worker_count(n, fd_ceiling, plan.workers);
    let per_process = n.div_ceil(workers.max(1));
    if per_process as u64 + 64 > fd_ceiling {
        return Err(BenchError::Usage(format!(
            "{per_process} floor readers in one process need more open files than it may have \
             ({fd_ceiling}); use more --workers"
        )));
    }

    let listener = listen().map_err(|e| BenchError::Server(format!("floor listener: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::Server(format!("floor listener: {e}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    let acceptor = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("bench-floor-accept".into())
            .spawn(move || accept_all(&listener, &stop))
            .map_err(|e| BenchError::Server(format!("floor acceptor thread: {e}")))?
    };

    let readers = Plan {
        addr,
        authority: addr.to_string(),
        topic: "floor".into(),
        // The floor answers SSE only; what is measured is the write, the
        // same for any protocol's bytes.
        transport: Transport::Sse,
        events: plan.events,
        slow_percent: 0,
        connect_concurrency: plan.connect_concurrency,
        connect_timeout: plan.connect_timeout,
        gzip: false,
    };
    let connect_start = Instant::now();
    let fleet = match super::start_subscribers(&readers, workers, n) {
        Ok(fleet) => fleet,
        Err(err) => {
            stop.store(true, Ordering::Relaxed);
            let _ = join(acceptor).await;
            return Err(err);
        }
    };
    super::wait_connected(
        "floor: connecting",
        &fleet,
        n as u64,
        plan.connect_timeout + SETTLE * 5,
    )
    .await;
    let connect_secs = connect_start.elapsed().as_secs_f64();
    // Every reader that counts as connected has its answer, so the
    // acceptor has its socket: stop accepting and take them.
    stop.store(true, Ordering::Relaxed);
    let sockets = match join(acceptor).await {
        Ok(s) => s,
        Err(err) => {
            fleet.finish().await;
            return Err(err);
        }
    };

    let (events, rate, size) = (plan.events, plan.rate, plan.size);
    let writer = std::thread::Builder::new()
        .name("bench-floor-write".into())
        .spawn(move || {
            let writes = write_events(&sockets, events, rate, size);
            (writes, sockets)
        })
        .map_err(|e| BenchError::Server(format!("floor writer thread: {e}")));
    let writer = match writer {
        Ok(w) => w,
        Err(err) => {
            fleet.finish().await;
            return Err(err);
        }
    };
    let joined = tokio::task::spawn_blocking(move || writer.join())
        .await
        .ok()
        .and_then(Result::ok);
    let Some((writes, sockets)) = joined else {
        fleet.finish().await;
        return Err(BenchError::Server(
            "the floor's writer thread panicked".into(),
        ));
    };
    super::drain(
        &fleet,
        fleet.counts().readers * plan.events,
        plan.drain_timeout,
    )
    .await;
    // The readers stop before their sockets close, so none counts as
    // ended early.
    let tally = fleet.finish().await;
    drop(sockets);
    Ok(report(&plan, workers, connect_secs, &writes, tally))
}

/// A loopback listener with room in its backlog, blocking accepts turned
/// into polling so that the acceptor can be told to stop.
fn listen() -> io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let listener = socket.listen(BACKLOG)?.into_std()?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Accepts and answers readers until told to stop; returns their sockets.
fn accept_all(listener: &TcpListener, stop: &AtomicBool) -> Vec<TcpStream> {
    let mut sockets = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                if answer(&mut stream).is_ok() {
                    sockets.push(stream);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_IDLE),
            // Out of files or the like: the reader fails and says so.
            Err(_) => std::thread::sleep(ACCEPT_IDLE * 10),
        }
    }
    sockets
}

/// Reads a reader's request head and answers it, leaving a blocking socket
/// with Nagle off, as a server's.
fn answer(stream: &mut TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HEAD_TIMEOUT))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    while find(&head, b"\r\n\r\n").is_none() {
        if head.len() > MAX_HEAD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        match stream.read(&mut buf)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            k => head.extend_from_slice(&buf[..k]),
        }
    }
    stream.set_read_timeout(None)?;
    stream.write_all(RESPONSE)
}

async fn join(
    acceptor: std::thread::JoinHandle<Vec<TcpStream>>,
) -> Result<Vec<TcpStream>, BenchError> {
    tokio::task::spawn_blocking(move || acceptor.join())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| BenchError::Server("the floor's acceptor thread panicked".into()))
}

/// What the writer did.
#[derive(Debug, Default)]
struct Writes {
    /// Writes that put the whole frame in the socket.
    ok: u64,
    /// Writes that failed (the reader had gone).
    failed: u64,
    /// The writer thread's CPU nanoseconds inside the write loops.
    cpu_ns: u64,
    /// Wall nanoseconds of each event's loop, first write to last.
    loop_ns: Vec<u64>,
    /// Bytes of the last frame written.
    frame_bytes: u64,
}

/// Writes every event to every socket, on schedule (event `i` at
/// `start + i / rate`; a late one at once).
fn write_events(sockets: &[TcpStream], events: u64, rate: f64, size: usize) -> Writes {
    let mut w = Writes {
        loop_ns: Vec::with_capacity(usize::try_from(events).unwrap_or(0)),
        ..Writes::default()
    };
    let start = Instant::now();
    for i in 0..events {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // Built once per event, outside the measured loop.
        let bytes = frame(unix_nanos(), i, size);
        w.frame_bytes = bytes.len() as u64;
        let cpu_start = thread_cpu_ns();
        let wall_start = Instant::now();
        for socket in sockets {
            match write_all(socket, &bytes) {
                Ok(()) => w.ok += 1,
                Err(_) => w.failed += 1,
            }
        }
        let wall = wall_start.elapsed();
        let cpu_end = thread_cpu_ns();
        w.cpu_ns += cpu_end.saturating_sub(cpu_start);
        w.loop_ns
            .push(u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX));
    }
    w
}

/// `write(2)` until the whole buffer is in the socket: once, for a frame
/// that fits the socket buffer, as it always does here.
fn write_all(socket: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::write(socket, buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => buf = &buf[k..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// This thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), nanoseconds.
fn thread_cpu_ns() -> u64 {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs * 1_000_000_000 + nanos
}

/// The median of `values` (the upper one of an even count); 0 when empty.
fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

fn report(
    plan: &FloorPlan,
    workers: usize,
    connect_secs: f64,
    writes: &Writes,
    tally: Tally,
) -> Floor {
    let attempts = writes.ok + writes.failed;
    let ms = |ns: u64| ns as f64 / 1e6;
    let lost = tally.missing;
    let ok = tally.failed == 0
        && tally.connected == plan.subscribers as u64
        && lost == 0
        && tally.dups == 0
        && writes.failed == 0;
    Floor {
        subscribers: plan.subscribers as u64,
        connected: tally.connected,
        failed: tally.failed,
        worker_processes: workers as u64,
        connect_secs,
        events: plan.events,
        rate: plan.rate,
        size: plan.size,
        frame_bytes: writes.frame_bytes,
        writes: writes.ok,
        failed_writes: writes.failed,
        cpu_secs: writes.cpu_ns as f64 / 1e9,
        cpu_us_per_write: if attempts == 0 {
            0.0
        } else {
            writes.cpu_ns as f64 / 1e3 / attempts as f64
        },
        write_loop_ms: ms(median(&writes.loop_ns)),
        write_loop_max_ms: ms(writes.loop_ns.iter().copied().max().unwrap_or(0)),
        expected: tally.received + lost,
        received: tally.received,
        lost,
        duplicates: tally.dups,
        dropped: tally.dropped,
        latency_ms: Latency::from_us(&tally.hist),
        first_error: tally.first_error,
        ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::sse::Decoder;

    #[test]
    fn a_floor_frame_reads_as_its_event() {
        let t = 1_764_000_000_123_456_789;
        let bytes = frame(t, 41, 128);
        assert!(bytes.starts_with(b"id: floor-41\nevent: bench\ndata: {"));
        assert!(bytes.ends_with(b"}\n\n"));
        // A close-delimited body, as the floor answers: split anywhere,
        // the reader sees the event once, with its stamp and index.
        let mut body = frame(t, 0, 128);
        body.extend_from_slice(&bytes);
        for split in 0..body.len() {
            let mut dec = Decoder::close_delimited();
            let mut out = Vec::new();
            dec.feed(&body[..split], &mut out).expect("decodes");
            dec.feed(&body[split..], &mut out).expect("decodes");
            assert_eq!(out, vec![(t, 0), (t, 41)], "split at {split}");
        }
    }

    #[tokio::test]
    async fn the_bench_reader_takes_the_floor_for_a_server() {
        let listener = listen().expect("listens");
        let addr = listener.local_addr().expect("bound");
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let stop = stop.clone();
            std::thread::spawn(move || accept_all(&listener, &stop))
        };
        let plan = Plan {
            addr,
            authority: addr.to_string(),
            topic: "floor".into(),
            transport: Transport::Sse,
            events: 2,
            slow_percent: 0,
            connect_concurrency: 1,
            connect_timeout: Duration::from_secs(30),
            gzip: false,
        };
        // `connect` returns once the floor's answer is in: by then the
        // acceptor holds the socket.
        let mut conn = crate::bench::sse::connect(&plan)
            .await
            .expect("the reader accepts the floor's answer");
        stop.store(true, Ordering::Relaxed);
        let sockets = join(acceptor).await.expect("the acceptor returns");
        assert_eq!(sockets.len(), 1);
        for n in 0..2 {
            write_all(&sockets[0], &frame(1_000 + n, n, 64)).expect("writes");
        }
        let mut out = Vec::new();
        while out.len() < 2 {
            assert!(conn.next_batch(&mut out).await.expect("reads"), "open");
        }
        assert_eq!(out, vec![(1_000, 0), (1_001, 1)]);
        // The floor closing the socket ends the close-delimited stream.
        drop(sockets);
        while conn.next_batch(&mut out).await.expect("reads") {}
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn the_answer_is_a_close_delimited_event_stream() {
        let head = std::str::from_utf8(RESPONSE).expect("ascii");
        assert!(head.starts_with("HTTP/1.1 200 "));
        assert!(head.ends_with("\r\n\r\n"));
        assert!(head.contains("content-type: text/event-stream\r\n"));
        assert!(!head.to_ascii_lowercase().contains("transfer-encoding"));
    }

    #[test]
    fn readers_move_to_workers_when_both_ends_do_not_fit() {
        // Both ends fit: in this process unless --workers says otherwise.
        assert_eq!(worker_count(1_000, 20_000, None), 0);
        assert_eq!(worker_count(1_000, 20_000, Some(2)), 2);
        // 2 × 10,000 + slack > 20,000: one worker holds the readers.
        assert_eq!(worker_count(10_000, 20_000, None), 1);
        assert_eq!(worker_count(19_000, 20_000, None), 2);
        assert_eq!(worker_count(19_000, 20_000, Some(4)), 4);
        // A low ceiling.
        assert_eq!(worker_count(500, 1_024, None), 1);
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(&[]), 0);
        assert_eq!(median(&[5]), 5);
        assert_eq!(median(&[9, 1, 5]), 5);
        assert_eq!(median(&[4, 1, 3, 2]), 3);
    }

    #[test]
    fn the_plan_after_a_server_run_caps_the_events() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let cli = Cli::try_parse_from(["bench", "--spawn", "-n", "7", "-m", "500", "-r", "40"])
            .expect("parses");
        let after = FloorPlan::after_server(&cli.bench);
        assert_eq!((after.subscribers, after.events), (7, AFTER_SERVER_EVENTS));
        assert_eq!(after.rate, 40.0);
        assert_eq!(FloorPlan::alone(&cli.bench).events, 500);
    }
}
