//! `Frame`: one event encoded once for every transport.

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};

use super::deflate::Deflated;
use super::ResetReason;
use crate::bus::Envelope;
use crate::model::EventId;

/// An event ready for the wire. Subscribers share it through `Arc`, so the
/// encoding cost is paid once per event, not once per client.
#[derive(Debug)]
pub struct Frame {
    /// The event's id.
    pub id: EventId,
    /// Its topic.
    pub topic: String,
    /// Its SSE event name.
    pub event: String,
    /// Its data, compact JSON.
    pub data: Bytes,
    /// [`Envelope::published_us`] of a bus event; 0 for frames the hub
    /// makes itself (resets, state restamped into a new history).
    pub published_us: u64,
    /// The complete SSE frame (`id:`, `event:`, `data:` lines, blank line).
    pub sse: Bytes,
    /// The WebSocket text frame, made on first use: a node with no WebSocket
    /// clients never pays for it.
    ws: OnceLock<Bytes>,
    /// The same bytes as `ws`, checked as UTF-8 once, as a text message
    /// must be (shares the buffer, no copy).
    ws_text: OnceLock<Bytes>,
    /// `ws_text` as a whole WebSocket frame, for the hub's fast path.
    ws_wire: OnceLock<Bytes>,
    /// `sse` deflated on its own, for gzip streams (made on first use,
    /// like every form below: a node whose clients never ask pays nothing).
    sse_gzip: OnceLock<Deflated>,
    /// `ws_text` as a whole permessage-deflate frame (RSV1 set).
    ws_deflate_wire: OnceLock<Bytes>,
    /// Frames a live subscriber takes right after this one: the current
    /// state that follows an epoch `reset` sent down a live channel (one
    /// channel message, so nothing can come between the two).
    pub(crate) then: Box<[Arc<Frame>]>,
    /// On a board `update`: the same change as a merge patch of the board
    /// before it (`hub::patch`), for streams that asked for deltas.
    pub patch: Option<Box<Patch>>,
}

/// A board `update` as the change from the previous board.
#[derive(Debug)]
pub struct Patch {
    /// The id of the board it applies to: sent only to a client that has
    /// exactly that board.
    pub base: EventId,
    /// `event: patch` under the update's own id, data the merge patch.
    pub frame: Frame,
}

impl Frame {
    /// Encodes a bus event.
    pub fn encode(env: &Envelope) -> Self {
        Self {
            published_us: env.published_us,
            ..Self::new(
                env.id,
                env.topic.clone(),
                env.event.clone(),
                env.data.clone(),
            )
        }
    }

    fn new(id: EventId, topic: String, event: String, data: Bytes) -> Self {
        let sse = encode_sse(&id.to_string(), &event, &data);
        Self {
            id,
            topic,
            event,
            data,
            published_us: 0,
            sse,
            ws: OnceLock::new(),
            ws_text: OnceLock::new(),
            ws_wire: OnceLock::new(),
            sse_gzip: OnceLock::new(),
            ws_deflate_wire: OnceLock::new(),
            then: Box::default(),
            patch: None,
        }
    }

    /// Attaches the change from `base` (the previous board) when this is a
    /// board `update` and the change can be a patch.
    pub fn with_patch_from(mut self, base: &Frame) -> Self {
        if let Some(data) = super::patch::board_patch(&base.data, &self.data) {
            let frame = Self::new(self.id, self.topic.clone(), EVENT_PATCH.into(), data);
            self.patch = Some(Box::new(Patch {
                base: base.id,
                frame,
            }));
        }
        self
    }

    /// The same event under another id: the state carried into a new
    /// history sits at that history's start.
    pub fn restamp(&self, id: EventId) -> Self {
        Self::new(
            id,
            self.topic.clone(),
            self.event.clone(),
            self.data.clone(),
        )
    }

    /// The `reset` event that tells a resuming client its id could not be
    /// honoured (SPEC "Gaps are never silent").
    pub fn reset(id: EventId, reason: ResetReason, sent: &str) -> Self {
        let data = serde_json::json!({"reason": reason.as_str(), "last_id": sent});
        Self::new(
            id,
            String::new(),
            EVENT_RESET.into(),
            crate::feed::json(&data),
        )
    }

    /// A `reset` that carries the frames to send right after it.
    pub fn reset_then(id: EventId, reason: ResetReason, sent: &str, then: Vec<Arc<Frame>>) -> Self {
        Self {
            then: then.into(),
            ..Self::reset(id, reason, sent)
        }
    }

    /// The WebSocket `event` message (SPEC `/ws`), encoded once.
    pub fn ws_json(&self) -> &Bytes {
        self.ws.get_or_init(|| {
            let head = serde_json::json!({"type": "event", "topic": self.topic, "event": self.event, "id": self.id});
            let head = serde_json::to_vec(&head).expect("json values serialize");
            // Splice the raw data in rather than re-parsing it.
            let mut out = BytesMut::with_capacity(head.len() + self.data.len() + 8);
            out.put_slice(&head[..head.len() - 1]);
            out.put_slice(b",\"data\":");
            out.put_slice(if self.data.is_empty() { b"null" } else { &self.data });
            out.put_u8(b'}');
            out.freeze()
        })
    }

    /// [`Frame::ws_json`] as a WebSocket text payload, shared by every
    /// client. Data that is not UTF-8 (not JSON, then) goes out repaired
    /// rather than failing a send.
    pub fn ws_text(&self) -> Bytes {
        self.ws_text
            .get_or_init(|| {
                let bytes = self.ws_json();
                match std::str::from_utf8(bytes) {
                    Ok(_) => bytes.clone(),
                    Err(_) => Bytes::from(String::from_utf8_lossy(bytes).into_owned()),
                }
            })
            .clone()
    }
}

impl Frame {
    /// [`Frame::ws_text`] as one whole WebSocket text frame, header
    /// included: a server's frames are not masked, so these bytes are the
    /// same for every client and the hub's fast path writes them as they
    /// are (made on first use).
    pub fn ws_wire(&self) -> &Bytes {
        self.ws_wire.get_or_init(|| {
            let text = self.ws_text();
            let mut out = Vec::with_capacity(text.len() + 10);
            ws_frame_header(&mut out, WS_TEXT, text.len());
            out.extend_from_slice(&text);
            out.into()
        })
    }
}

impl Frame {
    /// [`Frame::sse`] deflated on its own (`hub::deflate`): the piece of a
    /// gzip stream this event is, the same bytes for every client.
    pub fn sse_gzip(&self) -> &Deflated {
        self.sse_gzip.get_or_init(|| Deflated::of(&self.sse))
    }

    /// [`Frame::ws_text`] compressed on its own as one whole
    /// permessage-deflate text frame (RFC 7692: RSV1 set, the sync flush's
    /// tail removed). Each message stands alone, which is what
    /// `server_no_context_takeover` promises, so every client that agreed
    /// to it gets these same bytes.
    pub fn ws_deflate_wire(&self) -> &Bytes {
        self.ws_deflate_wire.get_or_init(|| {
            let deflated = Deflated::of(&self.ws_text());
            let payload = deflated.message();
            let mut out = Vec::with_capacity(payload.len() + 10);
            ws_frame_header(&mut out, WS_TEXT, payload.len());
            out[0] |= WS_RSV1;
            out.extend_from_slice(payload);
            out.into()
        })
    }
}

/// RSV1 of a WebSocket frame's first byte: "per-message compressed"
/// under permessage-deflate (RFC 7692 section 6).
pub const WS_RSV1: u8 = 0x40;

/// The event name of a gap the server tells a resuming client about.
pub const EVENT_RESET: &str = "reset";

/// The event name of a board's merge patch (`?delta=true` streams).
pub const EVENT_PATCH: &str = "patch";

/// The opcode of a WebSocket text frame (RFC 6455 section 5.2).
pub const WS_TEXT: u8 = 0x1;

/// Appends the header of a final, unmasked WebSocket frame (a server's)
/// with `opcode` and a payload of `len` bytes, in the shortest length form
/// RFC 6455 section 5.2 allows.
pub fn ws_frame_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(n) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// One SSE event: `id`, `event`, then the data split into one `data:` line
/// per line, as the WHATWG parser joins them back with `\n`. Any of CRLF,
/// CR and LF ends a line there, so all three are split on here.
pub fn encode_sse(id: &str, event: &str, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + id.len() + event.len() + 24);
    out.put_slice(b"id: ");
    out.put_slice(id.as_bytes());
    out.put_slice(b"\nevent: ");
    out.put_slice(event.as_bytes());
    out.put_u8(b'\n');
    let mut rest = data;
    loop {
        let end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
        out.put_slice(b"data: ");
        match end {
            None => {
                out.put_slice(rest);
                out.put_u8(b'\n');
                break;
            }
            Some(i) => {
                out.put_slice(&rest[..i]);
                out.put_u8(b'\n');
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
            }
        }
    }
    out.put_u8(b'\n');
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_splits_every_kind_of_line_break() {
        let got = encode_sse("1-2", "update", b"a\nb\r\nc\rd");
        assert_eq!(
            &got[..],
            b"id: 1-2\nevent: update\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        let empty = encode_sse("1-3", "x", b"");
        assert_eq!(&empty[..], b"id: 1-3\nevent: x\ndata: \n\n");
    }

    #[test]
    fn ws_message_embeds_the_data_verbatim() {
        let env = Envelope {
            id: EventId::new(10, 5),
            topic: "scores".into(),
            event: "update".into(),
            data: Bytes::from_static(br#"[{"eid":"1"}]"#),
            published_us: 0,
        };
        let f = Frame::encode(&env);
        let v: serde_json::Value = serde_json::from_slice(f.ws_json()).expect("valid json");
        assert_eq!(v["type"], "event");
        assert_eq!(v["id"], "a-5");
        assert_eq!(v["data"][0]["eid"], "1");
        assert_eq!(f.ws_text(), f.ws_json());
    }
}

#[cfg(test)]
#[path = "frame_props.rs"]
mod props;
