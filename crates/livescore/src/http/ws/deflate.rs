//! permessage-deflate (RFC 7692): which offer of a client's
//! `Sec-WebSocket-Extensions` is taken, and what the answer says.
//!
//! The answer is always the same:
//! `permessage-deflate; server_no_context_takeover; client_no_context_takeover`.
//!
//! - `server_no_context_takeover`: each message the server sends is
//!   compressed on its own, once, and the same bytes go to every client
//!   that agreed (`Frame::ws_deflate_wire`); a compressor per client with a
//!   window kept between messages would cost far more memory than it saves
//!   in bytes.
//! - `client_no_context_takeover`, whether or not the client offered it
//!   (RFC 7692 section 7.1.1.2: "A server MAY include the
//!   client_no_context_takeover extension parameter in an extension
//!   negotiation response"): the client compresses each message on its own
//!   too, so its messages are inflated by an inflater made for the message
//!   and dropped after it. Keeping the client's window instead cost each
//!   connection that had sent one compressed message an inflater and its
//!   32 KiB window for the rest of its life: ~46 KiB per idle connection
//!   against ~4.4 KiB, chosen by any client (security re-test 2026-12-07,
//!   docs/BENCHMARKS.md "Memory per idle WebSocket, compressed"). A client
//!   that refers back into an earlier message anyway breaks the agreement:
//!   its message inflates to something else than it sent (zeros where the
//!   window it refers to would be, which no JSON holds), so it gets an
//!   `error` and nothing is acted on.
//!
//! Clients that accept the answer unasked: browsers (Chromium, Firefox),
//! Python `websockets`, Node `ws` (unless told
//! `clientNoContextTakeover: false`, which then refuses the handshake).

/// An agreed permessage-deflate: the answer above. Nothing varies with
/// the offer: every parameter a client may offer is honoured by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed;

impl Agreed {
    /// The `Sec-WebSocket-Extensions` value of the answer.
    pub const RESPONSE: &'static str =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    /// The `Sec-WebSocket-Extensions` value of the answer.
    pub fn response(&self) -> &'static str {
        Self::RESPONSE
    }
}

/// The first permessage-deflate offer among a request's
/// `Sec-WebSocket-Extensions` values that this server can honour; `None`
/// when there is none (the connection goes on uncompressed).
///
/// An offer is declined when it repeats a parameter, names one RFC 7692
/// does not define, gives a bad value, or asks for a server window under
/// 15 bits (the compressor's window is 32 KiB: a message could refer back
/// further than the client keeps).
pub fn negotiate<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Agreed> {
    values
        .into_iter()
        .flat_map(|v| split_outside_quotes(v, b','))
        .find_map(offer)
}

/// One extension of the list, if it is a permessage-deflate offer this
/// server honours.
fn offer(element: &[u8]) -> Option<Agreed> {
    let mut parts = split_outside_quotes(element, b';').into_iter();
    let name = parts.next()?.trim_ascii();
    if !name.eq_ignore_ascii_case(b"permessage-deflate") {
        return None;
    }
    let mut seen: [bool; 4] = [false; 4];
    for param in parts {
        let param = param.trim_ascii();
        let (key, value) = match param.iter().position(|&b| b == b'=') {
            Some(i) => (
                param[..i].trim_ascii(),
                Some(unquote(param[i + 1..].trim_ascii())?),
            ),
            None => (param, None),
        };
        let which = [
            &b"server_no_context_takeover"[..],
            b"client_no_context_takeover",
            b"server_max_window_bits",
            b"client_max_window_bits",
        ]
        .iter()
        .position(|k| key.eq_ignore_ascii_case(k))?;
        if std::mem::replace(&mut seen[which], true) {
            return None;
        }
        match (which, value) {
            // Both answered whether offered or not.
            (0, None) | (1, None) => {}
            // Only the largest window is honoured (see above).
            (2, Some(v)) => {
                if window_bits(v)? != 15 {
                    return None;
                }
            }
            // The client says how small it keeps its window: anything
            // inflates with ours.
            (3, None) => {}
            (3, Some(v)) => {
                window_bits(v)?;
            }
            _ => return None,
        }
    }
    Some(Agreed)
}

/// A window size parameter: 8 to 15, no leading zero.
fn window_bits(v: &[u8]) -> Option<u8> {
    match v {
        [b'8'] => Some(8),
        [b'9'] => Some(9),
        [b'1', d @ b'0'..=b'5'] => Some(10 + (d - b'0')),
        _ => None,
    }
}

/// A token or quoted string's content (no escapes are valid in these
/// values); `None` for an unterminated or empty one.
fn unquote(v: &[u8]) -> Option<&[u8]> {
    let v = match v {
        [b'"', inner @ .., b'"'] => inner,
        _ if v.contains(&b'"') => return None,
        _ => v,
    };
    (!v.is_empty() && !v.contains(&b'\\')).then_some(v)
}

/// Splits on `sep` where it is not inside a quoted string.
fn split_outside_quotes(s: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, &b) in s.iter().enumerate() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[&str]) -> Option<Agreed> {
        negotiate(values.iter().map(|v| v.as_bytes()))
    }

    const AGREED: Option<Agreed> = Some(Agreed);

    #[test]
    fn honourable_offers_are_taken() {
        for offer in [
            &["permessage-deflate"][..],
            // What Python's websockets offers by default.
            &["permessage-deflate; client_max_window_bits"],
            // What browsers offer.
            &["permessage-deflate; client_max_window_bits=\"10\""],
            &["Permessage-Deflate; server_no_context_takeover; client_no_context_takeover"],
            &["permessage-deflate; server_max_window_bits=15"],
            // The first offer that can be honoured, across headers too.
            &[
                "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=10",
                "permessage-deflate; client_no_context_takeover",
            ],
        ] {
            assert_eq!(of(offer), AGREED, "{offer:?}");
        }
    }

    #[test]
    fn offers_that_cannot_be_honoured_are_declined() {
        for bad in [
            "",
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=015",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; unknown_param",
            "permessage-deflate; client_max_window_bits=\"10",
        ] {
            assert_eq!(of(&[bad]), None, "{bad:?}");
        }
    }

    #[test]
    fn the_answer_takes_no_context_over_either_way() {
        assert_eq!(
            Agreed.response(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
    }
}
