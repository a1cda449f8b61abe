//! Property tests of [`encode_sse`] against an independent, spec-following
//! SSE parser: whatever the data (CR, LF, CRLF, lone CRs at the end,
//! unicode, colons, leading spaces), a WHATWG client reads back exactly
//! one event with the same id, the same type and the data with its line
//! breaks normalised to `\n`.
//!
//! Proptest rather than `cargo fuzz`: the build machines have only a
//! stable toolchain and cargo-fuzz needs nightly (libFuzzer's sanitizer
//! flags). These run with `cargo test` in `.ci/run`, a few hundred cases
//! each.

use proptest::prelude::*;

use super::encode_sse;

/// One dispatched event, as the WHATWG "dispatch the event" step sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    id: String,
    kind: String,
    data: String,
}

/// The event-stream interpretation algorithm of the HTML standard
/// (§9.2.6), written from the text, not from the encoder: decode UTF-8,
/// split lines on CRLF, LF or CR, dispatch on a blank line, ignore
/// comments, one optional space after the colon, `data` lines joined with
/// LF and the last LF removed, no event when the data buffer is empty.
/// Returns the events and the `retry` values seen.
fn parse_stream(bytes: &[u8]) -> (Vec<Event>, Vec<u64>) {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut events = Vec::new();
    let mut retries = Vec::new();
    let (mut data, mut kind, mut last_id) = (String::new(), String::new(), String::new());
    let mut rest = text;
    // Only complete lines count: a stream that ends mid-line leaves it unread.
    while let Some(end) = rest.find(['\r', '\n']) {
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                let kind = if kind.is_empty() { "message" } else { &kind };
                events.push(Event {
                    id: last_id.clone(),
                    kind: kind.to_string(),
                    data: std::mem::take(&mut data),
                });
            }
            data.clear();
            kind.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "event" => kind = value.to_string(),
            "id" if !value.contains('\0') => last_id = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    retries.push(ms);
                }
            }
            _ => {}
        }
    }
    (events, retries)
}

/// CRLF, then lone CR, become LF: what a client's joined data shows.
fn normalise(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

/// Data built to hit the encoder's edges: line breaks of every kind, in
/// runs and at both ends, plus colons, spaces, NUL and non-ASCII text.
fn tricky_data() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\r\n".to_string()),
        Just("\n\r".to_string()),
        Just(": ".to_string()),
        Just(" ".to_string()),
        Just("data: x".to_string()),
        Just("\0".to_string()),
        Just("é🏈\u{2028}\u{feff}".to_string()),
        "[a-z{}\":,]{0,8}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

/// Ids and event names never contain line breaks (the bus makes ids,
/// publish rejects control characters in names).
fn field_value() -> impl Strategy<Value = String> {
    "[^\r\n\0]{1,24}".prop_map(|s| s.trim_start_matches(' ').to_string())
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(300)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_data_round_trips_through_a_whatwg_parser(
        id in field_value(), event in field_value(), data in tricky_data(),
    ) {
        let frame = encode_sse(&id, &event, data.as_bytes());
        let (events, retries) = parse_stream(&frame);
        prop_assert!(retries.is_empty());
        let kind = if event.is_empty() { "message".to_string() } else { event.clone() };
        prop_assert_eq!(events, vec![Event { id, kind, data: normalise(&data) }]);
    }

    #[test]
    fn arbitrary_strings_round_trip(data in any::<String>()) {
        let frame = encode_sse("1-1", "update", data.as_bytes());
        let (events, _) = parse_stream(&frame);
        prop_assert_eq!(events.len(), 1);
        prop_assert_eq!(&events[0].data, &normalise(&data));
    }

    #[test]
    fn a_stream_of_frames_yields_each_event_in_order(
        datas in prop::collection::vec(tricky_data(), 1..6),
    ) {
        let mut stream = b"retry: 2000\n\n: keep-alive\n\n".to_vec();
        for (i, d) in datas.iter().enumerate() {
            stream.extend_from_slice(&encode_sse(&format!("a-{i}"), "score", d.as_bytes()));
            stream.extend_from_slice(b": keep-alive\n\n");
        }
        let (events, retries) = parse_stream(&stream);
        prop_assert_eq!(retries, vec![2000]);
        let want: Vec<Event> = datas
            .iter()
            .enumerate()
            .map(|(i, d)| Event { id: format!("a-{i}"), kind: "score".into(), data: normalise(d) })
            .collect();
        prop_assert_eq!(events, want);
    }

    #[test]
    fn every_line_of_a_frame_is_a_field_and_it_ends_with_one_blank_line(data in tricky_data()) {
        let frame = encode_sse("1-1", "x", data.as_bytes());
        prop_assert!(frame.ends_with(b"\n\n"));
        let body = &frame[..frame.len() - 1];
        // No CR survives, so no client can see a line break the encoder did not write.
        prop_assert!(!body.contains(&b'\r'));
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            prop_assert!(
                line.starts_with(b"id: ") || line.starts_with(b"event: ") || line.starts_with(b"data: "),
                "stray line {:?}", String::from_utf8_lossy(line)
            );
        }
    }
}

#[test]
fn the_parser_follows_the_standard_on_its_own_examples() {
    // HTML §9.2.4's examples: a leading space is stripped once, a line
    // without a colon is a field with an empty value, "data" alone
    // contributes an empty line, and a final unterminated block is dropped.
    let (events, _) = parse_stream(b"data:test\n\ndata:  test\n\ndata\ndata\n\ndata:\n\ndata: x");
    let datas: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(datas, ["test", " test", "\n", ""]);
    let (events, _) = parse_stream(b"data: a\r\ndata: b\rid: 7\r\n\r\n");
    assert_eq!(
        events,
        [Event {
            id: "7".into(),
            kind: "message".into(),
            data: "a\nb".into()
        }]
    );
}
