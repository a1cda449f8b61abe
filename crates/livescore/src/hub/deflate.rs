//! Compression encoded once: each event deflated on its own, the same
//! bytes for every client that asked for it.
//!
//! Why this works: a deflate stream is a sequence of blocks, and a block
//! that ends with a sync flush (an empty stored block) leaves the stream
//! byte-aligned with nothing pending. A fresh compressor per event makes
//! blocks that refer to nothing before them, so any concatenation of them
//! (and of stored blocks) is a valid deflate stream whose content is the
//! concatenation of the inputs. A gzip response is then the 10-byte
//! header, the blocks of the events a client got, in its order, and at
//! the end a final empty block with the CRC-32 and length of everything
//! sent, which [`GzipSum`] keeps in 8 bytes per stream by combining each
//! block's stored CRC ([`Deflated::crc`]) rather than hashing per client.
//!
//! The price: no back-references across events (the ratio of one event
//! on its own, not of a whole stream), paid once per event instead of a
//! compressor (hundreds of KiB) per client.
//!
//! The same blocks, with the sync flush's `00 00 ff ff` tail removed, are
//! permessage-deflate messages (RFC 7692) under `server_no_context_takeover`.

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The gzip member header (RFC 1952): deflate, no flags, no time, no
/// extra fields, OS unknown.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// What a sync flush ends with: an empty stored block's `LEN`/`NLEN`.
pub const SYNC_TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// A final, empty fixed-Huffman block (`BFINAL=1`, `BTYPE=01`, end of
/// block): ends a stream of byte-aligned blocks in two bytes.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// One input deflated on its own: raw deflate blocks ending in a sync
/// flush, none of them final, with what a gzip trailer needs of the input.
#[derive(Debug, Clone)]
pub struct Deflated {
    /// The blocks.
    pub bytes: Bytes,
    /// CRC-32 of the input.
    pub crc: u32,
    /// The input's length (mod 2^32, as gzip's ISIZE).
    pub len: u32,
    /// `x^(8·len) mod P`: what combining a running CRC with this one
    /// multiplies by (one [`multmodp`] per client instead of a walk over
    /// the length's bits).
    op: u32,
}

impl Deflated {
    /// Compresses `input` with a fresh compressor (default level).
    pub fn of(input: &[u8]) -> Self {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        loop {
            let consumed = c.total_in() as usize;
            let status = c
                .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflate of an in-memory buffer cannot fail");
            // Done when all input is in and the flush fit in the spare room.
            if c.total_in() as usize == input.len()
                && out.len() < out.capacity()
                && matches!(status, Status::Ok | Status::BufError)
            {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        debug_assert!(out.ends_with(&SYNC_TAIL));
        Self::with_bytes(out.into(), input)
    }

    /// `input` as one stored (uncompressed) block: no compressor at all,
    /// for bytes that differ per client (5 bytes more than the input).
    pub fn stored(input: &[u8]) -> Self {
        let mut out = Vec::with_capacity(input.len() + 10);
        for chunk in input.chunks(u16::MAX as usize) {
            let n = chunk.len() as u16;
            out.push(0); // BFINAL=0, BTYPE=00, padded to the byte
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(!n).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        Self::with_bytes(out.into(), input)
    }

    fn with_bytes(bytes: Bytes, input: &[u8]) -> Self {
        let len = input.len() as u32;
        Self {
            bytes,
            crc: crc32fast::hash(input),
            len,
            op: x8nmodp(input.len() as u64),
        }
    }

    /// The blocks as one permessage-deflate message payload (RFC 7692
    /// 7.2.1: the sync flush's trailing `00 00 ff ff` removed).
    pub fn message(&self) -> &[u8] {
        self.bytes.strip_suffix(&SYNC_TAIL).unwrap_or(&self.bytes)
    }
}

/// A gzip stream's running CRC-32 and length: what its trailer needs, 8
/// bytes per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GzipSum {
    /// CRC-32 of everything sent so far.
    pub crc: u32,
    /// Its length, mod 2^32.
    pub len: u32,
}

impl GzipSum {
    /// Adds a block sent after everything so far.
    pub fn add(&mut self, block: &Deflated) {
        self.crc = multmodp(block.op, self.crc) ^ block.crc;
        self.len = self.len.wrapping_add(block.len);
    }

    /// Adds what another sum covered, sent after everything so far (the
    /// hub's writes on the fast path). `other.len` is mod 2^32, so this is
    /// exact for any stretch under 4 GiB.
    pub fn extend(&mut self, other: GzipSum) {
        self.crc = multmodp(x8nmodp(u64::from(other.len)), self.crc) ^ other.crc;
        self.len = self.len.wrapping_add(other.len);
    }

    /// The end of the stream: a final empty block, then CRC-32 and ISIZE.
    pub fn trailer(&self) -> Bytes {
        let mut out = Vec::with_capacity(10);
        out.extend_from_slice(&FINAL_BLOCK);
        out.extend_from_slice(&self.crc.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.into()
    }
}

/// The reflected CRC-32 polynomial.
const POLY: u32 = 0xedb8_8320;

/// `a·b mod P` over GF(2), in the reflected bit order of CRC-32 (zlib's
/// `multmodp`).
fn multmodp(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    p
}

/// `x^(8·n) mod P` (zlib's `x2nmodp(n, 3)`): squares of `x` by the bits
/// of `n`.
fn x8nmodp(mut n: u64) -> u32 {
    // x^(2^k) mod P for k = 3 upwards (x^8 first), squared as we go.
    let mut sq = 1u32 << 30; // x
    for _ in 0..3 {
        sq = multmodp(sq, sq);
    }
    let mut p = 1u32 << 31; // x^0
    while n != 0 {
        if n & 1 != 0 {
            p = multmodp(sq, p);
        }
        n >>= 1;
        sq = multmodp(sq, sq);
    }
    p
}

/// Why a compressed message could not be inflated.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// Inflated, it would be larger than the limit.
    #[error("inflates past the limit of {0} bytes")]
    TooBig(usize),
    /// Not a valid deflate stream.
    #[error("not a valid deflate stream")]
    Invalid,
}

/// Inflates one permessage-deflate message (its `00 00 ff ff` tail put
/// back) with `inflater`, whose window carries over from earlier messages
/// unless the caller resets it; stops as soon as the output would pass
/// `max` bytes, so a small message cannot make a large allocation.
pub fn inflate_message(
    inflater: &mut Decompress,
    payload: &[u8],
    max: usize,
) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::with_capacity((payload.len() * 4).clamp(64, max.saturating_add(1)));
    for input in [payload, &SYNC_TAIL[..]] {
        let mut at = 0;
        loop {
            if out.len() == out.capacity() {
                if out.len() > max {
                    return Err(InflateError::TooBig(max));
                }
                let room = out.capacity().max(64).min(max + 1 - out.len());
                out.reserve_exact(room);
            }
            let before_in = inflater.total_in();
            let before_out = inflater.total_out();
            let status = inflater
                .decompress_vec(&input[at..], &mut out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Invalid)?;
            if out.len() > max {
                return Err(InflateError::TooBig(max));
            }
            at += (inflater.total_in() - before_in) as usize;
            if matches!(status, Status::StreamEnd) {
                // A final block: allowed (a client may end its stream);
                // the next message starts a new one.
                inflater.reset(false);
                break;
            }
            let all_in = at == input.len();
            if all_in && out.len() < out.capacity() {
                break;
            }
            if inflater.total_in() == before_in && inflater.total_out() == before_out {
                if all_in {
                    break;
                }
                // Input left, room left, and nothing done with it.
                return Err(InflateError::Invalid);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    /// A gzip stream of `parts`, each compressed on its own (or stored),
    /// as a stream writes them.
    fn stream(parts: &[(Vec<u8>, bool)]) -> (Vec<u8>, Vec<u8>) {
        let mut sum = GzipSum::default();
        let mut out = GZIP_HEADER.to_vec();
        let mut plain = Vec::new();
        for (p, stored) in parts {
            let d = if *stored {
                Deflated::stored(p)
            } else {
                Deflated::of(p)
            };
            out.extend_from_slice(&d.bytes);
            sum.add(&d);
            plain.extend_from_slice(p);
        }
        out.extend_from_slice(&sum.trailer());
        (out, plain)
    }

    proptest! {
        #[test]
        fn independent_blocks_concatenate_into_one_gzip_stream(
            parts in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..3000), any::<bool>()), 0..12)
        ) {
            let (gz, plain) = stream(&parts);
            // flate2's reader checks the CRC and ISIZE of the trailer.
            prop_assert_eq!(gunzip(&gz).expect("a valid gzip stream"), plain);
        }

        #[test]
        fn sums_of_stretches_combine(a in proptest::collection::vec(any::<u8>(), 0..500),
                                     b in proptest::collection::vec(any::<u8>(), 0..500)) {
            let mut whole = GzipSum::default();
            whole.add(&Deflated::stored(&a));
            let mut tail = GzipSum::default();
            tail.add(&Deflated::stored(&b));
            whole.extend(tail);
            let both = [a, b].concat();
            prop_assert_eq!(whole.crc, crc32fast::hash(&both));
            prop_assert_eq!(whole.len as usize, both.len());
        }

        #[test]
        fn a_message_inflates_back(data in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let d = Deflated::of(&data);
            let mut inf = Decompress::new(false);
            prop_assert_eq!(inflate_message(&mut inf, d.message(), 1 << 20).expect("inflates"), data);
        }
    }

    #[test]
    fn repetitive_json_gets_much_smaller() {
        let board =
            r#"{"eid":"2015091000","home":"PIT","away":"NE","score":[21,28],"q":"F"},"#.repeat(16);
        let d = Deflated::of(board.as_bytes());
        assert!(d.bytes.len() * 5 < board.len(), "{} bytes", d.bytes.len());
    }

    #[test]
    fn the_inflated_size_is_bounded() {
        // 1 MiB of zeros deflates to about a kilobyte.
        let bomb = Deflated::of(&vec![0u8; 1 << 20]);
        let mut inf = Decompress::new(false);
        assert_eq!(
            inflate_message(&mut inf, bomb.message(), 64 * 1024),
            Err(InflateError::TooBig(64 * 1024))
        );
        let mut inf = Decompress::new(false);
        let exact = Deflated::of(&[7u8; 4096]);
        assert_eq!(
            inflate_message(&mut inf, exact.message(), 4096).map(|v| v.len()),
            Ok(4096)
        );
        let mut inf = Decompress::new(false);
        assert_eq!(
            inflate_message(&mut inf, exact.message(), 4095),
            Err(InflateError::TooBig(4095))
        );
    }

    #[test]
    fn garbage_is_invalid() {
        let mut inf = Decompress::new(false);
        // BTYPE=11 is reserved.
        assert_eq!(
            inflate_message(&mut inf, &[0xff, 0xff, 0xff], 1024),
            Err(InflateError::Invalid)
        );
    }

    #[test]
    fn the_window_carries_over_between_messages() {
        // A client with context takeover: the second message refers back
        // into the first.
        let mut c = Compress::new(Compression::default(), false);
        let mut msgs = Vec::new();
        for text in [&b"hello hello hello world"[..], b"hello hello hello world!"] {
            let mut out = Vec::with_capacity(256);
            c.compress_vec(text, &mut out, FlushCompress::Sync)
                .expect("ok");
            out.truncate(out.len() - 4);
            msgs.push(out);
        }
        let mut inf = Decompress::new(false);
        assert_eq!(
            inflate_message(&mut inf, &msgs[0], 1024).expect("ok"),
            b"hello hello hello world"
        );
        assert_eq!(
            inflate_message(&mut inf, &msgs[1], 1024).expect("ok"),
            b"hello hello hello world!"
        );
    }
}
