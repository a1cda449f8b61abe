//! The WebSocket wire, server side (RFC 6455 section 5): frames in, frames
//! out, on the upgraded connection.
//!
//! Ours rather than tungstenite's for one reason: memory per connection.
//! tungstenite grows its read buffer to the largest frame a client ever
//! sent and keeps it for the connection's life (a 60 KB message left each
//! connection holding ~64 KiB more than an idle one). Here a payload is
//! copied out of the read buffer, and a buffer grown past
//! [`KEEP_BYTES`] is given back as soon as the message is complete; the
//! message being assembled from fragments and the write buffer go the same
//! way. Idle, a connection holds its small read buffer and nothing else.
//!
//! What it takes: masked client frames, text and binary messages in any
//! number of fragments with control frames between them, ping, pong and
//! close. The one extension is permessage-deflate ([`super::deflate`]):
//! when agreed, RSV1 on a message's first frame marks it compressed and it
//! is inflated here, bounded by the same limit, by an inflater made for
//! that message and dropped after it (the client takes no context over,
//! so an idle connection holds no inflater); otherwise a reserved bit is a
//! protocol error. Errors name their close code ([`WireError::code`]):
//! 1002 protocol, 1007 text that is not UTF-8 or a compressed message that
//! does not inflate, 1009 over the limit (found at the frame header,
//! before the payload is read, or while inflating).

use bytes::{Buf, Bytes, BytesMut};
use flate2::Decompress;

use super::deflate::Agreed;
use crate::hub::deflate::{inflate_message, InflateError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A buffer with more capacity than this after a message is replaced by a
/// small one, so a large message costs only while it is in flight.
pub const KEEP_BYTES: usize = 4 * 1024;

/// RFC 6455 close code: a frame the protocol forbids.
pub const PROTOCOL_ERROR: u16 = 1002;
/// RFC 6455 close code: text that is not UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// RFC 6455 close code: over the size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;

/// One message: data, or a control frame the connection answers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A UTF-8 text message (checked on the way in; on the way out the
    /// bytes must already be UTF-8).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping; the connection answers with a pong of the same payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close, with its code and reason when the frame had them.
    Close(Option<(u16, String)>),
}

/// Why the connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed, or closed in the middle of a frame.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A frame, or a message of several, over the limit.
    #[error("message of {size} bytes over the limit of {max}")]
    TooBig {
        /// Its size so far, as the header says.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// A frame RFC 6455 forbids.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8.
    #[error("text that is not UTF-8")]
    NotUtf8,
    /// A compressed message that is not a valid deflate stream.
    #[error("a compressed message that does not inflate")]
    BadDeflate,
}

impl WireError {
    /// The close code to send before hanging up; none when the socket is
    /// gone anyway.
    pub fn code(&self) -> Option<u16> {
        match self {
            WireError::Io(_) => None,
            WireError::TooBig { .. } => Some(MESSAGE_TOO_BIG),
            WireError::Protocol(_) => Some(PROTOCOL_ERROR),
            WireError::NotUtf8 | WireError::BadDeflate => Some(INVALID_PAYLOAD),
        }
    }
}

/// Frame opcodes (RFC 6455 section 5.2).
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = crate::hub::WS_TEXT;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// A control frame's payload limit.
const MAX_CONTROL: u64 = 125;

/// What the read buffer holds.
enum Parsed {
    /// A whole frame, already removed from the buffer.
    Frame {
        fin: bool,
        opcode: u8,
        /// RSV1: the message this frame starts is compressed.
        compressed: bool,
        payload: Vec<u8>,
    },
    /// Not yet: this many bytes in all are needed.
    Need(usize),
}

/// One upgraded connection. Reads are cancel-safe (every byte read is kept
/// in `self`), so `recv` can sit in a `select!`.
pub struct WsSocket<S> {
    io: S,
    /// Bytes read and not yet parsed.
    rx: BytesMut,
    /// A fragmented message so far: its opcode and payload.
    partial: Option<(u8, Vec<u8>)>,
    /// The message in `partial` is compressed.
    partial_compressed: bool,
    /// permessage-deflate was agreed: RSV1 marks a compressed message.
    /// No inflater is kept between messages (see [`super::deflate`]).
    deflate: bool,
    /// Frames encoded and not yet written.
    tx: Vec<u8>,
    /// Largest frame, and largest message, a client may send.
    max_message: usize,
    /// The read buffer's size between messages.
    read_chunk: usize,
    /// Set when a frame grew the read buffer past `read_chunk`; the
    /// buffer is replaced once the message is complete. (`BytesMut`'s
    /// capacity counts from its read position, so it cannot tell.)
    grown: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsSocket<S> {
    /// Wraps an upgraded connection. `read_chunk` is the read buffer's
    /// size between messages (one read takes at most that much until a
    /// frame header asks for more).
    pub fn new(io: S, max_message: usize, read_chunk: usize) -> Self {
        Self {
            io,
            rx: BytesMut::new(),
            partial: None,
            partial_compressed: false,
            deflate: false,
            tx: Vec::new(),
            max_message,
            read_chunk: read_chunk.max(16),
            grown: false,
        }
    }

    /// Takes RSV1 as "compressed" on the client's messages, as agreed
    /// in the handshake.
    pub fn with_deflate(mut self, agreed: Option<Agreed>) -> Self {
        self.deflate = agreed.is_some();
        self
    }

    /// Whether permessage-deflate was agreed: events go out compressed.
    pub fn deflates(&self) -> bool {
        self.deflate
    }

    /// The next message; `Ok(None)` when the client closed the connection
    /// between frames.
    pub async fn recv(&mut self) -> Result<Option<Message>, WireError> {
        loop {
            let need = match self.parse()? {
                Parsed::Frame {
                    fin,
                    opcode,
                    compressed,
                    payload,
                } => {
                    if let Some(msg) = self.on_frame(fin, opcode, compressed, payload)? {
                        self.shrink();
                        return Ok(Some(msg));
                    }
                    continue;
                }
                Parsed::Need(n) => n,
            };
            // Room for the whole frame once its header says how big it
            // is; otherwise one chunk.
            let want = need.saturating_sub(self.rx.len()).max(self.read_chunk);
            if self.rx.capacity() - self.rx.len() < want.min(self.read_chunk) {
                self.grown |= want > self.read_chunk;
                self.rx.reserve(want);
            }
            if self.io.read_buf(&mut self.rx).await? == 0 {
                if self.rx.is_empty() && self.partial.is_none() {
                    return Ok(None);
                }
                return Err(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Queues `msg` for the next [`WsSocket::flush`].
    pub fn feed(&mut self, msg: &Message) {
        let (opcode, payload): (u8, &[u8]) = match msg {
            Message::Text(b) => (TEXT, b),
            Message::Binary(b) => (BINARY, b),
            Message::Ping(b) => (PING, b),
            Message::Pong(b) => (PONG, b),
            Message::Close(None) => (CLOSE, &[]),
            Message::Close(Some((code, reason))) => {
                let mut p = Vec::with_capacity(2 + reason.len());
                p.extend_from_slice(&code.to_be_bytes());
                // A control frame carries at most 125 bytes.
                let mut cut = reason.len().min(MAX_CONTROL as usize - 2);
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                p.extend_from_slice(&reason.as_bytes()[..cut]);
                encode(&mut self.tx, CLOSE, &p);
                return;
            }
        };
        encode(&mut self.tx, opcode, payload);
    }

    /// Writes everything fed so far. A buffer grown past [`KEEP_BYTES`] is
    /// freed afterwards rather than kept for the next batch.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.tx.is_empty() {
            self.io.write_all(&self.tx).await?;
            self.tx.clear();
            if self.tx.capacity() > KEEP_BYTES {
                self.tx = Vec::new();
            }
        }
        self.io.flush().await
    }

    /// Queues bytes already framed (the end of a frame the hub's fast path
    /// wrote in part) for the next flush.
    pub fn feed_raw(&mut self, bytes: &[u8]) {
        self.tx.extend_from_slice(bytes);
    }

    /// [`WsSocket::feed`] and [`WsSocket::flush`].
    pub async fn send(&mut self, msg: &Message) -> std::io::Result<()> {
        self.feed(msg);
        self.flush().await
    }

    /// Bytes held in buffers, for tests of the memory bound: exact unless
    /// a large frame is in flight (then the read buffer may hold more).
    #[cfg(test)]
    fn buffered_capacity(&self) -> usize {
        let rx = if self.grown {
            usize::MAX / 2
        } else {
            self.rx.capacity()
        };
        rx + self.tx.capacity() + self.partial.as_ref().map_or(0, |p| p.1.capacity())
    }

    /// Takes one frame off the read buffer, if it is all there.
    fn parse(&mut self) -> Result<Parsed, WireError> {
        let b = &self.rx[..];
        if b.len() < 2 {
            return Ok(Parsed::Need(2));
        }
        let fin = b[0] & 0x80 != 0;
        let opcode = b[0] & 0x0F;
        let compressed = b[0] & crate::hub::WS_RSV1 != 0;
        if b[0] & 0x30 != 0 || (compressed && !self.deflate) {
            return Err(WireError::Protocol(
                "reserved bits set, and no extension was agreed",
            ));
        }
        // RFC 7692 6.1: RSV1 only on a data message's first frame.
        if compressed && !matches!(opcode, TEXT | BINARY) {
            return Err(WireError::Protocol(
                "RSV1 set on a frame that does not start a message",
            ));
        }
        if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
            return Err(WireError::Protocol("unknown opcode"));
        }
        if b[1] & 0x80 == 0 {
            return Err(WireError::Protocol("a client's frames must be masked"));
        }
        let (len, at) = match b[1] & 0x7F {
            126 => {
                if b.len() < 4 {
                    return Ok(Parsed::Need(4));
                }
                (u64::from(u16::from_be_bytes([b[2], b[3]])), 4)
            }
            127 => {
                if b.len() < 10 {
                    return Ok(Parsed::Need(10));
                }
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            n => (u64::from(n), 2),
        };
        if opcode >= CLOSE {
            if !fin {
                return Err(WireError::Protocol("a control frame cannot be fragmented"));
            }
            if len > MAX_CONTROL {
                return Err(WireError::Protocol(
                    "a control frame carries at most 125 bytes",
                ));
            }
        } else {
            // The message so far counts: fragments cannot add up past it.
            let so_far = match (&self.partial, opcode) {
                (Some((_, p)), CONTINUATION) => p.len() as u64,
                _ => 0,
            };
            let size = so_far.saturating_add(len);
            if size > self.max_message as u64 {
                return Err(WireError::TooBig {
                    size,
                    max: self.max_message,
                });
            }
        }
        let head = at + 4;
        let total = head + len as usize;
        if b.len() < total {
            return Ok(Parsed::Need(total));
        }
        let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        let mut payload = b[head..total].to_vec();
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
        self.rx.advance(total);
        Ok(Parsed::Frame {
            fin,
            opcode,
            compressed,
            payload,
        })
    }

    /// A frame's part in a message: the message when it is complete.
    fn on_frame(
        &mut self,
        fin: bool,
        opcode: u8,
        compressed: bool,
        payload: Vec<u8>,
    ) -> Result<Option<Message>, WireError> {
        let (opcode, payload) = match opcode {
            PING => return Ok(Some(Message::Ping(payload.into()))),
            PONG => return Ok(Some(Message::Pong(payload.into()))),
            CLOSE => return close_of(payload).map(Some),
            CONTINUATION => {
                let Some((_, so_far)) = self.partial.as_mut() else {
                    return Err(WireError::Protocol(
                        "a continuation frame with no message to continue",
                    ));
                };
                so_far.extend_from_slice(&payload);
                if !fin {
                    return Ok(None);
                }
                let (opcode, payload) = self.partial.take().expect("checked above");
                let compressed = std::mem::take(&mut self.partial_compressed);
                (opcode, self.inflated(compressed, payload)?)
            }
            _ => {
                if self.partial.is_some() {
                    return Err(WireError::Protocol(
                        "a new message before the last one ended",
                    ));
                }
                if !fin {
                    self.partial = Some((opcode, payload));
                    self.partial_compressed = compressed;
                    return Ok(None);
                }
                (opcode, self.inflated(compressed, payload)?)
            }
        };
        match opcode {
            TEXT => match String::from_utf8(payload) {
                Ok(s) => Ok(Some(Message::Text(Bytes::from(s)))),
                Err(_) => Err(WireError::NotUtf8),
            },
            _ => Ok(Some(Message::Binary(payload.into()))),
        }
    }

    /// A whole message's payload, inflated when it came compressed, by an
    /// inflater (~43 KiB with its window) that lives only while this
    /// message is inflated: the client agreed to take no context over, so
    /// nothing of it is needed for the next message, and a connection
    /// that sent one compressed message costs no more, idle, than one that
    /// sent none.
    fn inflated(&self, compressed: bool, payload: Vec<u8>) -> Result<Vec<u8>, WireError> {
        if !compressed {
            return Ok(payload);
        }
        if !self.deflate {
            return Err(WireError::Protocol(
                "a compressed message, and no extension was agreed",
            ));
        }
        let mut inflater = Box::new(Decompress::new(false));
        inflate_message(&mut inflater, &payload, self.max_message).map_err(|e| match e {
            InflateError::TooBig(max) => WireError::TooBig {
                size: max as u64 + 1,
                max,
            },
            InflateError::Invalid => WireError::BadDeflate,
        })
    }

    /// Gives back a read buffer a large frame grew, keeping what is in it.
    /// (A large frame already read behind this message keeps it until
    /// the next one.)
    fn shrink(&mut self) {
        if self.grown && self.rx.len() <= KEEP_BYTES {
            let mut small = BytesMut::with_capacity(self.read_chunk.max(self.rx.len()));
            small.extend_from_slice(&self.rx);
            self.rx = small;
            self.grown = false;
        }
    }
}

/// A close frame's payload: nothing, or a code and a UTF-8 reason.
fn close_of(payload: Vec<u8>) -> Result<Message, WireError> {
    match payload.len() {
        0 => Ok(Message::Close(None)),
        1 => Err(WireError::Protocol("a close frame of one byte")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            // RFC 6455 7.4: the codes an endpoint may send.
            let valid = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            if !valid {
                return Err(WireError::Protocol("a close code that may not be sent"));
            }
            let reason =
                String::from_utf8(payload[2..].to_vec()).map_err(|_| WireError::NotUtf8)?;
            Ok(Message::Close(Some((code, reason))))
        }
    }
}

/// One unmasked, unfragmented frame (a server never masks).
fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    crate::hub::ws_frame_header(out, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455 section 4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    /// A socket fed `input` in one piece, and the server's end of it.
    async fn socket_with(input: &[u8]) -> WsSocket<tokio::io::DuplexStream> {
        let (server, mut client) = tokio::io::duplex(1 << 20);
        client.write_all(input).await.expect("write");
        drop(client);
        WsSocket::new(server, 64 * 1024, 1024)
    }

    #[test]
    fn the_accept_key_is_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn fragments_and_control_frames_between_them_make_one_message() {
        let mut input = client_frame(false, TEXT, b"{\"type\":");
        input.extend(client_frame(true, PING, b"hi"));
        input.extend(client_frame(false, CONTINUATION, b"\"subscribe\""));
        input.extend(client_frame(true, CONTINUATION, b"}"));
        let mut s = socket_with(&input).await;
        assert_eq!(
            s.recv().await.expect("a frame"),
            Some(Message::Ping(Bytes::from_static(b"hi")))
        );
        assert_eq!(
            s.recv().await.expect("a frame"),
            Some(Message::Text(Bytes::from_static(
                b"{\"type\":\"subscribe\"}"
            )))
        );
        assert_eq!(s.recv().await.expect("a frame"), None);
    }

    #[tokio::test]
    async fn a_large_message_is_read_and_its_buffers_are_given_back() {
        let big = "x".repeat(60_000);
        let mut input = client_frame(true, TEXT, big.as_bytes());
        input.extend(client_frame(false, TEXT, &big.as_bytes()[..30_000]));
        input.extend(client_frame(true, CONTINUATION, &big.as_bytes()[30_000..]));
        let mut s = socket_with(&input).await;
        for _ in 0..2 {
            let got = s.recv().await.expect("a frame");
            assert_eq!(got, Some(Message::Text(Bytes::from(big.clone()))));
            assert!(
                s.buffered_capacity() <= KEEP_BYTES,
                "held {}",
                s.buffered_capacity()
            );
        }
    }

    #[tokio::test]
    async fn over_the_limit_is_refused_at_the_header_and_across_fragments() {
        // The header alone says 70,000 bytes: refused with nothing more read.
        let header = &client_frame(true, TEXT, &vec![b'a'; 70_000])[..14];
        let mut s = socket_with(header).await;
        let err = s.recv().await.expect_err("an error");
        assert_eq!(err.code(), Some(MESSAGE_TOO_BIG), "{err}");
        // Two fragments of 40,000 bytes each: the second goes past 64 KiB.
        let mut input = client_frame(false, TEXT, &[b'a'; 40_000]);
        input.extend(client_frame(true, CONTINUATION, &[b'a'; 40_000]));
        let mut s = socket_with(&input).await;
        assert_eq!(
            s.recv().await.expect_err("an error").code(),
            Some(MESSAGE_TOO_BIG)
        );
    }

    #[tokio::test]
    async fn frames_rfc_6455_forbids_are_protocol_errors() {
        let unmasked = {
            let mut f = client_frame(true, TEXT, b"hi");
            f[1] &= 0x7F;
            f.truncate(2);
            f.extend_from_slice(b"hi");
            f
        };
        let reserved = {
            let mut f = client_frame(true, TEXT, b"hi");
            f[0] |= 0x40;
            f
        };
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("unmasked", unmasked, PROTOCOL_ERROR),
            ("reserved bit", reserved, PROTOCOL_ERROR),
            (
                "unknown opcode",
                client_frame(true, 0x3, b""),
                PROTOCOL_ERROR,
            ),
            (
                "fragmented ping",
                client_frame(false, PING, b""),
                PROTOCOL_ERROR,
            ),
            (
                "long ping",
                client_frame(true, PING, &[0; 126]),
                PROTOCOL_ERROR,
            ),
            (
                "lone continuation",
                client_frame(true, CONTINUATION, b"x"),
                PROTOCOL_ERROR,
            ),
            (
                "bad utf-8",
                client_frame(true, TEXT, &[0xff, 0xfe]),
                INVALID_PAYLOAD,
            ),
            (
                "close of one byte",
                client_frame(true, CLOSE, &[3]),
                PROTOCOL_ERROR,
            ),
            (
                "close code 1005",
                client_frame(true, CLOSE, &1005u16.to_be_bytes()),
                PROTOCOL_ERROR,
            ),
        ];
        for (what, input, code) in cases {
            let mut s = socket_with(&input).await;
            let err = s.recv().await.expect_err("an error");
            assert_eq!(err.code(), Some(code), "{what}: {err}");
        }
        let mut input = client_frame(false, TEXT, b"a");
        input.extend(client_frame(true, TEXT, b"b"));
        let mut s = socket_with(&input).await;
        assert_eq!(
            s.recv().await.expect_err("an error").code(),
            Some(PROTOCOL_ERROR)
        );
    }

    #[tokio::test]
    async fn a_connection_cut_mid_frame_is_an_error_and_between_frames_an_end() {
        let f = client_frame(true, TEXT, b"hello");
        let mut s = socket_with(&f[..5]).await;
        assert!(matches!(s.recv().await, Err(WireError::Io(_))));
        let mut s = socket_with(&f).await;
        assert!(matches!(s.recv().await, Ok(Some(Message::Text(_)))));
        assert!(matches!(s.recv().await, Ok(None)));
    }

    #[tokio::test]
    async fn server_frames_are_unmasked_with_the_right_length_form() {
        let (server, mut client) = tokio::io::duplex(1 << 20);
        let mut s = WsSocket::new(server, 64 * 1024, 1024);
        for n in [5usize, 300, 70_000] {
            s.feed(&Message::Text(Bytes::from(vec![b'y'; n])));
        }
        s.feed(&Message::Close(Some((1001, "going away".into()))));
        s.flush().await.expect("io");
        assert_eq!(
            s.buffered_capacity(),
            0,
            "write buffer freed after a large batch"
        );
        drop(s);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("io");
        assert_eq!(&got[..2], &[0x81, 5]);
        let at = 2 + 5;
        assert_eq!(&got[at..at + 4], &[0x81, 126, 0x01, 0x2C]);
        let at = at + 4 + 300;
        assert_eq!(&got[at..at + 2], &[0x81, 127]);
        assert_eq!(&got[at + 2..at + 10], &70_000u64.to_be_bytes());
        let at = at + 10 + 70_000;
        assert_eq!(&got[at..at + 4], &[0x88, 12, 0x03, 0xE9]);
        assert_eq!(&got[at + 4..], b"going away");
    }
}
