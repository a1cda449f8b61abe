//! A lightweight SSE subscriber: a raw `TcpStream`, an HTTP/1.1 request
//! written by hand, and a parser that only looks for the bench's `data:`
//! lines. Tens of thousands of these run in one process, so each is a
//! socket and a few KiB of buffer, not an HTTP client stack.

use std::io;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::plan::{find, parse_delivery, Plan};

/// Socket read buffer per connection; it grows only if a read finds it full.
const READ_BUF_BYTES: usize = 4096;

/// Most response-head bytes accepted before giving up on a server.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Where the chunked-transfer decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a `<hex size>\r\n` line.
    Size,
    /// This many payload bytes left in the current chunk.
    Data(usize),
    /// This many bytes left of the `\r\n` after a chunk.
    Trailer(usize),
    /// The last (empty) chunk was seen: the response is over.
    Done,
}

/// One open `/api/stream` response.
pub struct SseConn {
    stream: TcpStream,
    dec: Decoder,
    /// Body bytes that came with the head are not decoded yet.
    fresh: bool,
}

/// The body decoder: chunked framing, gzip when asked, then lines.
pub(super) struct Decoder {
    /// Bytes read from the socket, not yet decoded.
    raw: BytesMut,
    /// A gzip body's inflater (made when the response says gzip).
    gunzip: Option<Gunzip>,
    /// Decoded body bytes, not yet a whole line.
    text: Vec<u8>,
    /// `None` when the body is not chunked (read to EOF).
    chunk: Option<Chunk>,
}

/// Connects and subscribes to the plan's topic; `Ok` once the server
/// answered 200 with an event stream. Errors are one line for the report.
pub async fn connect(plan: &Plan) -> Result<SseConn, String> {
    let mut conn = open(plan, None).await?;
    // Whatever came with the head (the `retry:` line) holds no bench event.
    conn.dec
        .decode(&mut Vec::new())
        .map_err(|e| format!("bad body: {e}"))?;
    Ok(conn)
}

/// [`connect`], resuming after `last_event_id` when given, with whatever
/// body bytes came with the head left for the first [`SseConn::next_lines`].
pub async fn open(plan: &Plan, last_event_id: Option<&str>) -> Result<SseConn, String> {
    let mut stream = TcpStream::connect(plan.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let resume = last_event_id
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /api/stream?topic={} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n{}{resume}\r\n",
        plan.topic,
        plan.authority,
        if plan.gzip { "Accept-Encoding: gzip\r\n" } else { "" }
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send request: {e}"))?;
    let mut raw = BytesMut::with_capacity(READ_BUF_BYTES);
    let head_end = loop {
        if let Some(i) = find(&raw, b"\r\n\r\n") {
            break i + 4;
        }
        if raw.len() > MAX_HEAD_BYTES {
            return Err("response head too large".into());
        }
        match stream.read_buf(&mut raw).await {
            Ok(0) => return Err(closed_early(&raw)),
            Ok(_) => {}
            Err(e) => return Err(format!("read response: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let status = head.lines().next().unwrap_or_default().to_string();
    if !status.starts_with("http/1.1 200") && !status.starts_with("http/1.0 200") {
        return Err(format!("status {:?}", status.trim()));
    }
    let chunked = head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let gzip = head
        .lines()
        .any(|l| l.starts_with("content-encoding:") && l.contains("gzip"));
    if plan.gzip && !gzip {
        return Err("asked for gzip, got a plain stream".into());
    }
    raw.advance(head_end);
    let dec = Decoder {
        raw,
        gunzip: gzip.then(Gunzip::new),
        text: Vec::new(),
        chunk: chunked.then_some(Chunk::Size),
    };
    Ok(SseConn {
        stream,
        dec,
        fresh: true,
    })
}

fn closed_early(raw: &[u8]) -> String {
    let first = String::from_utf8_lossy(raw);
    match first.lines().next() {
        Some(line) if !line.is_empty() => format!("closed after {line:?}"),
        _ => "closed before answering".into(),
    }
}

impl SseConn {
    /// Waits for the next read and appends the `(t, n)` of every bench
    /// event it completed; `Ok(false)` when the server ended the stream.
    pub async fn next_batch(&mut self, out: &mut Vec<(u64, u64)>) -> io::Result<bool> {
        if !self.read().await? {
            return Ok(false);
        }
        self.dec.decode(out)
    }

    /// Every whole line of the body from the next read (the first call:
    /// from what came with the head), without its `\n`, the blank lines
    /// that end events included; `Ok(false)` when the stream ended.
    pub async fn next_lines(&mut self, on_line: impl FnMut(&[u8])) -> io::Result<bool> {
        if std::mem::take(&mut self.fresh) {
            return self.dec.decode_lines(on_line);
        }
        if !self.read().await? {
            return Ok(false);
        }
        self.dec.decode_lines(on_line)
    }

    /// Reads what the socket has into the decoder's buffer; false at EOF.
    async fn read(&mut self) -> io::Result<bool> {
        let raw = &mut self.dec.raw;
        if raw.capacity() - raw.len() < READ_BUF_BYTES / 4 {
            raw.reserve(READ_BUF_BYTES);
        }
        Ok(self.stream.read_buf(raw).await? > 0)
    }
}

impl Decoder {
    /// A decoder for a body that ends when the connection closes.
    #[cfg(test)]
    pub(super) fn close_delimited() -> Self {
        Self {
            raw: BytesMut::new(),
            gunzip: None,
            text: Vec::new(),
            chunk: None,
        }
    }

    /// Takes bytes as a read would, and decodes them.
    #[cfg(test)]
    pub(super) fn feed(&mut self, bytes: &[u8], out: &mut Vec<(u64, u64)>) -> io::Result<bool> {
        self.raw.extend_from_slice(bytes);
        self.decode(out)
    }

    /// Decodes the chunked framing, then scans whole lines for bench events.
    fn decode(&mut self, out: &mut Vec<(u64, u64)>) -> io::Result<bool> {
        self.decode_lines(|line| {
            if let Some(data) = line.strip_prefix(b"data: ") {
                if let Some(d) = parse_delivery(data) {
                    out.push(d);
                }
            }
        })
    }

    /// Decodes the chunked framing, then hands every whole line over.
    fn decode_lines(&mut self, mut on_line: impl FnMut(&[u8])) -> io::Result<bool> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
        match self.chunk {
            None => {
                body(&mut self.gunzip, &mut self.text, &self.raw)?;
                self.raw.clear();
            }
            Some(mut state) => {
                while !self.raw.is_empty() && state != Chunk::Done {
                    state = match state {
                        Chunk::Size => {
                            let Some(eol) = find(&self.raw, b"\r\n") else {
                                break;
                            };
                            let line = std::str::from_utf8(&self.raw[..eol])
                                .map_err(|_| bad("chunk size"))?;
                            let hex = line.split(';').next().unwrap_or_default().trim();
                            let size =
                                usize::from_str_radix(hex, 16).map_err(|_| bad("chunk size"))?;
                            self.raw.advance(eol + 2);
                            if size == 0 {
                                Chunk::Done
                            } else {
                                Chunk::Data(size)
                            }
                        }
                        Chunk::Data(left) => {
                            let take = left.min(self.raw.len());
                            body(&mut self.gunzip, &mut self.text, &self.raw[..take])?;
                            self.raw.advance(take);
                            if take == left {
                                Chunk::Trailer(2)
                            } else {
                                Chunk::Data(left - take)
                            }
                        }
                        Chunk::Trailer(left) => {
                            let take = left.min(self.raw.len());
                            self.raw.advance(take);
                            if take == left {
                                Chunk::Size
                            } else {
                                Chunk::Trailer(left - take)
                            }
                        }
                        Chunk::Done => Chunk::Done,
                    };
                }
                self.chunk = Some(state);
            }
        }
        if let Some(last_nl) = self.text.iter().rposition(|&b| b == b'\n') {
            for line in self.text[..last_nl].split(|&b| b == b'\n') {
                on_line(line);
            }
            self.text.drain(..=last_nl);
        }
        Ok(self.chunk != Some(Chunk::Done))
    }
}

/// Body bytes into `text`, through `gunzip` when the body is gzip.
fn body(gunzip: &mut Option<Gunzip>, text: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
    match gunzip {
        None => text.extend_from_slice(bytes),
        Some(g) => g.inflate(bytes, text)?,
    }
    Ok(())
}

/// A gzip body's decoder: the 10-byte header skipped (the server sends
/// no optional fields), then raw deflate.
struct Gunzip {
    header_left: usize,
    inflater: Box<flate2::Decompress>,
}

impl Gunzip {
    fn new() -> Self {
        Self {
            header_left: 10,
            inflater: Box::new(flate2::Decompress::new(false)),
        }
    }

    fn inflate(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let skip = self.header_left.min(bytes.len());
        self.header_left -= skip;
        bytes = &bytes[skip..];
        while !bytes.is_empty() {
            out.reserve(bytes.len() * 4 + 256);
            let before = self.inflater.total_in();
            let status = self
                .inflater
                .decompress_vec(bytes, out, flate2::FlushDecompress::Sync)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            bytes = &bytes[(self.inflater.total_in() - before) as usize..];
            // The end of the deflate stream: the trailer (CRC, length)
            // follows, and nothing of the bench's.
            if status == flate2::Status::StreamEnd {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_across_any_split() {
        let body: &[u8] = b"d\r\nretry: 3000\n\n\r\n2A\r\nid: a-1\nevent: bench\ndata: {\"n\":0,\"t\":5}\n\n\r\n0\r\n\r\n";
        for split in 0..body.len() {
            let mut dec = Decoder {
                raw: BytesMut::new(),
                gunzip: None,
                text: Vec::new(),
                chunk: Some(Chunk::Size),
            };
            let mut out = Vec::new();
            dec.raw.extend_from_slice(&body[..split]);
            dec.decode(&mut out).expect("decodes");
            dec.raw.extend_from_slice(&body[split..]);
            let open = dec.decode(&mut out).expect("decodes");
            assert_eq!(out, vec![(5, 0)], "split at {split}");
            assert!(!open, "the last chunk ends the stream");
        }
    }
}
