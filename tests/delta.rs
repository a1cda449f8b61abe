//! `?delta=true` against the real binary: the board once, then merge
//! patches that rebuild exactly the boards a full stream sees, a fraction
//! of the bytes; whole boards again wherever the client's board is not the
//! one a patch applies to (a fresh connect, a resume from an older id, a
//! reset).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Server, SseEvent, SseStream};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// RFC 7396 section 2, written here on its own so the test does not check
/// the server's patches with the server's code.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// A client's board after `ev` (None: a patch with no board to apply to).
fn take(board: Option<Value>, ev: &SseEvent) -> Option<Value> {
    match ev.event.as_str() {
        "update" => Some(serde_json::from_str(&ev.data).expect("a board")),
        "patch" => {
            let mut board = board?;
            let patch: Value = serde_json::from_str(&ev.data).expect("a patch");
            for (eid, change) in patch.as_object().expect("keyed by eid") {
                let game = board
                    .as_array_mut()
                    .expect("a list")
                    .iter_mut()
                    .find(|g| g["eid"] == *eid)
                    .expect("a patch names games on the board");
                merge(game, change);
            }
            Some(board)
        }
        other => panic!("unexpected event {other}"),
    }
}

/// A board as a client reads it: a missing key and `null` are the same (a
/// patch removes a value that turns null).
fn seen(board: &Value) -> Value {
    match board {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), seen(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(seen).collect()),
        other => other.clone(),
    }
}

fn finished(board: &Value) -> bool {
    board.as_array().is_some_and(|gs| {
        gs.len() == 16
            && gs
                .iter()
                .all(|g| matches!(g["state"].as_str(), Some("final" | "final_overtime")))
    })
}

/// Every event of `s` until its board is the week's end (both streams read
/// at once, so neither falls behind and is skipped ahead).
async fn until_finished(mut s: SseStream) -> Vec<SseEvent> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let (mut out, mut board) = (Vec::new(), None);
    while !board.as_ref().is_some_and(finished) {
        assert!(Instant::now() < deadline, "the replay did not finish");
        let ev = s.next_event(WAIT).await.expect("the stream goes on");
        board = take(board, &ev);
        out.push(ev);
    }
    out
}

#[tokio::test]
async fn patches_rebuild_every_board_of_the_week_in_a_tenth_of_the_bytes() {
    let server = Server::start(&["demo", "--speed", "2000"]);
    let full_url = format!("{}/api/stream?topic=scores", server.url);
    let full = SseStream::connect(&full_url, None).await;
    let delta = SseStream::connect(&format!("{full_url}&delta=true"), None).await;
    // The same delta stream gzip-encoded, decoded by curl.
    let mut curl = tokio::process::Command::new("curl")
        .args(["-sN", "--compressed", "-H", "Accept: text/event-stream"])
        .arg(format!("{full_url}&delta=true"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("curl");
    let mut curl_out = curl.stdout.take().expect("stdout");
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let into = text.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = tokio::io::AsyncReadExt::read(&mut curl_out, &mut buf).await {
            let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
            into.lock().expect("text").push_str(&chunk);
        }
    });
    let (full, delta) = tokio::join!(until_finished(full), until_finished(delta));
    // Every event the plain delta client got came through gzip the same.
    let last = format!(
        "id: {}\n",
        delta.last().and_then(|e| e.id.clone()).expect("an id")
    );
    common::wait_until("curl has the last event", Duration::from_secs(30), || {
        let t = text.lock().expect("text");
        let done = t.find(&last).is_some_and(|at| t[at..].contains("\n\n"));
        async move { done }
    })
    .await;
    curl.kill().await.expect("kill curl");
    let text = text.lock().expect("text").clone();
    let frames: Vec<&str> = text
        .split("\n\n")
        .filter(|f| f.contains("\nevent: "))
        .collect();
    assert_eq!(frames.len(), delta.len(), "as many events through gzip");
    for (got, ev) in frames.iter().zip(&delta) {
        let want = format!(
            "id: {}\nevent: {}\ndata: {}",
            ev.id.as_deref().unwrap_or(""),
            ev.event,
            ev.data
        );
        assert!(got.ends_with(&want), "through gzip: {got:.200}");
    }

    // Every board the full stream saw, by id.
    let boards: HashMap<String, (Value, usize)> = full
        .iter()
        .map(|ev| {
            assert_eq!(ev.event, "update");
            let b = serde_json::from_str(&ev.data).expect("a board");
            (ev.id.clone().expect("an id"), (b, ev.data.len()))
        })
        .collect();
    assert_eq!(
        delta[0].event, "update",
        "a fresh client gets the whole board first"
    );
    let mut board = None;
    let (mut patches, mut patch_bytes, mut their_bytes) = (0, 0, 0);
    for ev in &delta {
        let id = ev.id.clone().expect("an id");
        board = take(board, ev);
        let (want, full_len) = boards
            .get(&id)
            .unwrap_or_else(|| panic!("{id}: an id the full stream did not have"));
        assert_eq!(
            board.as_ref().map(seen),
            Some(seen(want)),
            "{id}: the board after it differs"
        );
        if ev.event == "patch" {
            patches += 1;
            patch_bytes += ev.data.len();
            their_bytes += full_len;
        }
    }
    assert_eq!(
        patches + 1,
        delta.len(),
        "every change after the first board went as a patch"
    );
    let ratio = their_bytes as f64 / patch_bytes as f64;
    assert!(
        ratio >= 10.0,
        "a patch is at least 10x smaller than its board: {ratio:.1}x over {patches} patches"
    );
}

/// A delta stream resumed from `from` (with `Last-Event-ID`): its first
/// scores event.
async fn first_after(server: &Server, from: &str) -> SseEvent {
    let url = format!("{}/api/stream?topic=scores&delta=true", server.url);
    let mut s = SseStream::connect(&url, Some(from)).await;
    s.next_event(WAIT).await.expect("an event")
}

#[tokio::test]
async fn a_resumed_client_is_patched_from_its_own_board_and_anything_else_gets_boards() {
    let server = Server::start(&["demo", "--speed", "600"]);
    let url = format!("{}/api/stream?topic=scores&delta=true", server.url);
    let mut s = SseStream::connect(&url, None).await;
    // Three boards in: the ids of the first, second and third.
    let mut got = Vec::new();
    let mut board = None;
    while got.len() < 3 {
        let ev = s.next_event(WAIT).await.expect("the stream goes on");
        board = take(board, &ev);
        got.push((ev.id.clone().expect("id"), board.clone().expect("a board")));
    }
    drop(s);

    // Resumed from the second: what comes next is the third's change, as
    // a patch of the second board (the client said it has that one).
    let ev = first_after(&server, &got[1].0).await;
    assert_eq!(ev.id.as_deref(), Some(got[2].0.as_str()));
    assert_eq!(ev.event, "patch");
    let rebuilt = take(Some(got[1].1.clone()), &ev);
    assert_eq!(rebuilt.as_ref().map(seen), Some(seen(&got[2].1)));

    // Resumed from the first: the replay starts with the second's change,
    // again from the client's own board, then the third's from the second.
    let mut r = SseStream::connect(&url, Some(&got[0].0)).await;
    let mut b = Some(got[0].1.clone());
    for want in &got[1..] {
        let ev = r.next_event(WAIT).await.expect("the replay");
        assert_eq!(ev.id.as_deref(), Some(want.0.as_str()));
        assert_eq!(ev.event, "patch");
        b = take(b, &ev);
        assert_eq!(b.as_ref().map(seen), Some(seen(&want.1)));
    }

    // An id it cannot resume from: reset, then the whole board, never a
    // patch of whatever that client holds.
    let mut r = SseStream::connect(&url, Some("zzzz-1")).await;
    let reset = r.next_event(WAIT).await.expect("reset");
    assert_eq!(reset.event, "reset");
    let next = r.next_event(WAIT).await.expect("the board");
    assert_eq!(next.event, "update");

    // The classic stream takes the option too, and starts whole.
    let mut c = SseStream::connect(&format!("{}/api/livescore?delta=true", server.url), None).await;
    assert_eq!(c.next_event(WAIT).await.expect("board").event, "update");

    // A delta that is neither true nor false is a clear 400.
    let resp = common::client()
        .get(format!("{url}x"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.expect("body");
    assert!(body.contains("delta must be true or false"), "{body}");
}

#[tokio::test]
async fn a_delta_stream_that_keeps_up_is_written_by_the_hub_patches_included() {
    let server = Server::start(&["demo", "--speed", "2000"]);
    let url = format!("{}/api/stream?topic=scores&delta=true", server.url);
    let events = until_finished(SseStream::connect(&url, None).await).await;
    let patches = events.iter().filter(|e| e.event == "patch").count();
    assert_eq!(patches + 1, events.len(), "the board, then patches only");
    // The only client: whatever the hub wrote itself went to this stream.
    let text = common::get_text(format!("{}/metrics", server.url)).await;
    let fast = common::metric_in(&text, "livescore_fast_path_writes_total{transport=\"sse\"}");
    assert!(
        fast >= 1.0,
        "the hub wrote to the delta stream ({fast} writes of {patches} patches)"
    );
    // And what it wrote rebuilds the final board.
    let mut board = None;
    for ev in &events {
        board = take(board, ev);
    }
    let api: Value = common::get_json(format!("{}/api/", server.url)).await;
    assert_eq!(board.as_ref().map(seen), Some(seen(&api["games"])));
}

/// `delta` is exactly `true` or `false`, as the OpenAPI description and
/// docs/CLIENTS.md say; `1`, an empty value or a repeat that contradicts
/// itself is a 400 with the reason, on both streams (docs/SECURITY.md,
/// "Also seen").
#[tokio::test]
async fn delta_is_exactly_true_or_false_and_never_both() {
    let server = Server::start(&["serve"]);
    for path in ["/api/stream?topic=scores&", "/api/livescore?"] {
        for (query, status, reason) in [
            ("delta=1", 400, "delta must be true or false"),
            ("delta=0", 400, "delta must be true or false"),
            ("delta=", 400, "delta must be true or false"),
            ("delta=true&delta=false", 400, "delta is given twice"),
            ("delta=false&delta=true", 400, "delta is given twice"),
            ("delta=true&delta=true", 200, ""),
            ("delta=false", 200, ""),
        ] {
            let resp = common::client()
                .get(format!("{}{path}{query}", server.url))
                .header("accept", "text/event-stream")
                .send()
                .await
                .expect("answer");
            assert_eq!(resp.status().as_u16(), status, "{path}{query}");
            if status == 400 {
                let body = resp.text().await.expect("body");
                assert!(body.contains(reason), "{path}{query}: {body}");
            }
        }
    }
}
