//! Memory per idle WebSocket, plain and after one compressed message
//! (docs/BENCHMARKS.md, "Memory per idle WebSocket, compressed"): against
//! a running server, opens `--connections` plain WebSockets that each send
//! one `subscribe` and read the answer, then as many that agree
//! permessage-deflate and send that `subscribe` compressed, then closes
//! them all, and prints the growth of the server's resident memory per
//! connection for each kind, their ratio and the RSS once all are closed.
//!
//! Run (the server on this machine, its pid given):
//!   cargo run --release --example idle_websockets -- \
//!     --addr 127.0.0.1:8000 --pid PID --connections 6000
//!
//! `--in-flight N` (default 200): handshakes under way at once.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What a browser offers (Chromium sends `client_max_window_bits`).
const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The one message each connection sends.
const SUBSCRIBE: &[u8] = br#"{"type":"subscribe","topics":["idle"]}"#;

struct Args {
    addr: String,
    pid: u32,
    connections: usize,
    in_flight: usize,
}

fn args() -> Result<Args, Error> {
    let mut a = Args {
        addr: String::new(),
        pid: 0,
        connections: 1000,
        in_flight: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = value()?,
            "--pid" => a.pid = value()?.parse()?,
            "--connections" => a.connections = value()?.parse()?,
            "--in-flight" => a.in_flight = value()?.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if a.addr.is_empty() || a.pid == 0 {
        return Err("--addr and --pid are needed".into());
    }
    Ok(a)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The server's RSS once three readings 250 ms apart are within 16 KiB.
async fn settled(pid: u32) -> u64 {
    let mut last = [rss_kib(pid), 0, u64::MAX];
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        last = [rss_kib(pid), last[0], last[1]];
        let (lo, hi) = (last.iter().min(), last.iter().max());
        if matches!((lo, hi), (Some(lo), Some(hi)) if hi - lo <= 16) {
            break;
        }
    }
    last[0]
}

/// A message as a permessage-deflate client compresses it on its own
/// (the sync flush's tail removed, RFC 7692 7.2.1).
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    let _ = c.compress_vec(data, &mut out, flate2::FlushCompress::Sync);
    out.truncate(out.len().saturating_sub(4));
    out
}

/// One masked client frame: `first` is its first byte (FIN, RSV1, opcode).
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0x3c, 0x81];
    let mut f = vec![first, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    f
}

/// Opens one WebSocket, sends the `subscribe` (compressed with `deflate`)
/// and reads the answer's first frame; the socket stays open and idle.
async fn open(addr: String, deflated: bool) -> Result<TcpStream, Error> {
    let mut s = TcpStream::connect(&addr).await?;
    let offer = match deflated {
        true => format!("Sec-WebSocket-Extensions: {OFFER}\r\n"),
        false => String::new(),
    };
    s.write_all(
        format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(s.read_u8().await?);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    if !head.starts_with("http/1.1 101") || deflated != head.contains("permessage-deflate") {
        return Err(format!("unexpected handshake answer: {head}").into());
    }
    let msg = match deflated {
        true => frame(0x80 | 0x40 | 0x01, &deflate(SUBSCRIBE)),
        false => frame(0x81, SUBSCRIBE),
    };
    s.write_all(&msg).await?;
    // The answer: a small text frame (`subscribed`), uncompressed.
    let mut hdr = [0u8; 2];
    s.read_exact(&mut hdr).await?;
    let mut payload = vec![0u8; usize::from(hdr[1] & 0x7F)];
    s.read_exact(&mut payload).await?;
    if hdr[0] & 0x0F != 1 || !payload.starts_with(br#"{"type":"subscribed""#) {
        return Err(format!("unexpected answer {hdr:?} {payload:?}").into());
    }
    Ok(s)
}

/// `n` connections of one kind, `in_flight` handshakes at a time.
async fn open_all(args: &Args, deflated: bool) -> Result<Vec<TcpStream>, Error> {
    let mut held = Vec::with_capacity(args.connections);
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        opening.spawn(open(args.addr.clone(), deflated));
        while opening.len() >= args.in_flight {
            if let Some(r) = opening.join_next().await {
                held.push(r??);
            }
        }
    }
    while let Some(r) = opening.join_next().await {
        held.push(r??);
    }
    Ok(held)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args()?;
    livescore::http::limit::raise_fd_limit();
    let n = args.connections;
    let before = settled(args.pid).await;
    let plain = open_all(&args, false).await?;
    let with_plain = settled(args.pid).await;
    let deflated = open_all(&args, true).await?;
    let with_both = settled(args.pid).await;
    drop((plain, deflated));
    let closed = settled(args.pid).await;
    let per = |from: u64, to: u64| to.saturating_sub(from) as f64 / n as f64;
    let (p, d) = (per(before, with_plain), per(with_plain, with_both));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{n} + {n} idle WebSockets: server RSS {before} -> {with_plain} (plain) -> {with_both} \
         (+ compressed) -> {closed} KiB (all closed); KiB per connection: plain {p:.2}, \
         after one compressed message {d:.2}, ratio {:.2}; given back on close {:.0}%; \
         load average {}",
        d / p.max(0.01),
        100.0 * with_both.saturating_sub(closed) as f64
            / with_both.saturating_sub(before).max(1) as f64,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    Ok(())
}
