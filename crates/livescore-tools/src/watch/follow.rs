//! Following the stream: the reconnect loop. Connects, feeds the bytes to
//! the SSE parser, takes `update`, `patch` and `reset` into the view, and on
//! any failure waits (the server's `retry:`, then doubling with full
//! jitter) and reconnects with the last event id. Keys, signals and drawing
//! are `screen`'s.
//!
//! A `patch` (`?delta=true`) is a merge patch of the board this client
//! holds, which the server checked from the last id; the board is kept as
//! JSON as received, so a patch applies to exactly what was sent. One that
//! cannot apply (no board, a game not on it) starts the stream over
//! without an id: the whole board comes first, never a half-applied one.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use super::screen::{Controls, Input, Screen, Status, View};
use super::sse::{SseEvent, SseParser};
use super::{WatchArgs, WatchError};
use livescore::hub::patch::apply_to_board;
use livescore::model::Game;

/// Reconnect delay until the server sends its `retry:`.
const DEFAULT_RETRY: Duration = Duration::from_secs(2);
/// Longest wait between reconnects, however often they failed: a server
/// back after an outage is picked up within this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Silence after which the connection counts as dead: the server sends a
/// keep-alive at least every 15 s (SPEC), so three missed ones mean a link
/// that dropped without a FIN (a sleeping laptop, a NAT timeout).
const STALL_TIMEOUT: Duration = Duration::from_secs(45);

/// Follows the stream until the user quits. Returns Ok on q, Ctrl-C or
/// SIGTERM; Err only when the terminal itself fails.
pub async fn run(args: &WatchArgs) -> Result<(), WatchError> {
    let mut screen = Screen::open(!args.no_color)?;
    let mut controls = Controls::new(screen.raw)?;
    let client = super::client(args.timeout)?;
    let url = super::stream_url(&args.url);
    let mut view = View {
        url: args.url.to_string(),
        games: Vec::new(),
        loaded: false,
        status: Status::Connecting,
        last_id: None,
        note: None,
        keys: screen.raw,
        leagues: super::league::Filter::new(&args.leagues),
        linescore: args.linescore,
    };
    // The board as JSON, what a `patch` applies to.
    let mut board: Option<Vec<serde_json::Value>> = None;
    let mut retry = DEFAULT_RETRY;
    let mut failures: u32 = 0;
    loop {
        view.status = Status::Connecting;
        screen.draw(&view)?;
        let connected = {
            let last_id = view.last_id.clone();
            // connect_timeout covers TCP only; this covers a server that
            // accepts but never answers.
            let connect = tokio::time::timeout(
                args.timeout,
                super::connect(&client, &url, last_id.as_deref()),
            );
            tokio::pin!(connect);
            loop {
                tokio::select! {
                    // The server answered (or could not be reached).
                    r = &mut connect => break r,
                    // A key or a signal while connecting.
                    input = controls.next() => if act(input, &mut view, &mut screen)? {
                        return Ok(());
                    },
                }
            }
        };
        let why = match connected {
            Err(_) => format!("no answer within {}s", args.timeout.as_secs_f64()),
            Ok(Err(WatchError::Unreachable { cause, .. })) => cause,
            Ok(Err(err)) => err.to_string(),
            Ok(Ok(resp)) => {
                view.status = Status::Connected;
                screen.draw(&view)?;
                let mut parser = SseParser::new().with_last_event_id(view.last_id.as_deref());
                let mut body = resp.bytes_stream();
                loop {
                    tokio::select! {
                        // Bytes from the server, or too long a silence.
                        next = tokio::time::timeout(STALL_TIMEOUT, body.next()) => {
                            let chunk = match next {
                                Err(_) => break format!("no data for {}s", STALL_TIMEOUT.as_secs()),
                                Ok(None) => break "the server closed the stream".to_string(),
                                Ok(Some(Err(err))) => break format!("connection lost: {}", super::root_cause(&err)),
                                Ok(Some(Ok(chunk))) => chunk,
                            };
                            let events = match parser.feed(&chunk) {
                                Ok(events) => events,
                                Err(err) => break err.to_string(),
                            };
                            retry = parser.retry().unwrap_or(retry);
                            view.last_id = parser.last_event_id().map(str::to_string);
                            if !events.is_empty() {
                                failures = 0;
                            }
                            let mut lost = false;
                            for ev in events {
                                lost |= !apply(&mut view, &mut board, ev);
                            }
                            screen.draw(&view)?;
                            if lost {
                                view.last_id = None;
                                break "a change that did not apply: reloading the board".to_string();
                            }
                        }
                        // A key or a signal while streaming.
                        input = controls.next() => if act(input, &mut view, &mut screen)? {
                            return Ok(());
                        },
                    }
                }
            }
        };
        failures = failures.saturating_add(1);
        let until = Instant::now() + backoff(retry, failures, fastrand::f64());
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            view.status = Status::Waiting {
                secs: left.as_secs_f64().ceil() as u64,
                why: why.clone(),
            };
            screen.draw(&view)?;
            tokio::select! {
                // Tick the countdown once a second.
                () = tokio::time::sleep(left.min(Duration::from_secs(1))) => {}
                // A key or a signal while waiting.
                input = controls.next() => if act(input, &mut view, &mut screen)? {
                    return Ok(());
                },
            }
        }
    }
}

/// Does what the user asked; true to quit.
fn act(input: Input, view: &mut View, screen: &mut Screen) -> Result<bool, WatchError> {
    match input {
        Input::Quit => return Ok(true),
        Input::Redraw => {}
        Input::ToggleLinescore => view.linescore = !view.linescore,
    }
    screen.draw(view)?;
    Ok(false)
}

/// Takes one event into the view: `update` replaces the board, `patch`
/// changes it, `reset` says the history was lost (the current board follows
/// it at once). False when a patch cannot apply: the stream must start over.
fn apply(view: &mut View, board: &mut Option<Vec<serde_json::Value>>, ev: SseEvent) -> bool {
    match ev.event.as_str() {
        "update" => match serde_json::from_str::<Vec<serde_json::Value>>(&ev.data) {
            Ok(raw) => show(view, board, raw),
            Err(err) => view.note = Some(format!("unreadable update: {err}")),
        },
        "patch" => {
            let patch = serde_json::from_str::<serde_json::Value>(&ev.data);
            let Some(mut raw) = board.take() else {
                return false;
            };
            match patch {
                Ok(p) if apply_to_board(&mut raw, &p) => show(view, board, raw),
                _ => return false,
            }
        }
        "reset" => {
            // The board is from the old history: nothing may build on it.
            *board = None;
            let reason = serde_json::from_str::<serde_json::Value>(&ev.data)
                .ok()
                .and_then(|v| v["reason"].as_str().map(str::to_string))
                .unwrap_or_else(|| "unknown".into());
            view.note = Some(format!("history reset ({reason}): showing current scores"));
        }
        _ => {}
    }
    true
}

/// Shows a board (as JSON) and keeps it for the next patch.
fn show(view: &mut View, board: &mut Option<Vec<serde_json::Value>>, raw: Vec<serde_json::Value>) {
    match serde_json::from_value::<Vec<Game>>(serde_json::Value::Array(raw.clone())) {
        Ok(games) => {
            view.games = games;
            view.loaded = true;
            *board = Some(raw);
        }
        Err(err) => {
            view.note = Some(format!("unreadable board: {err}"));
            *board = None;
        }
    }
}

/// The wait before reconnect number `failures` (from 1): the server's
/// `retry:` first, as a browser waits (the server draws it at random per
/// connection, so clients dropped together by a restart come back spread
/// out); after a failed connect, exponential back-off with full jitter:
/// anywhere up to `retry` doubled per failure, capped at [`MAX_BACKOFF`],
/// `jitter` in 0..1 picking where, so clients refused together do not
/// come back together either.
fn backoff(retry: Duration, failures: u32, jitter: f64) -> Duration {
    if failures <= 1 {
        return retry.min(MAX_BACKOFF);
    }
    let doublings = (failures - 1).min(8);
    let ceiling = retry.saturating_mul(1 << doublings).min(MAX_BACKOFF);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_retry_then_doubles_with_full_jitter_and_caps() {
        let two = Duration::from_secs(2);
        // The server's (already random) retry, as is.
        assert_eq!(backoff(two, 1, 0.0), two);
        assert_eq!(backoff(two, 1, 1.0), two);
        // Then anywhere from nothing to the doubled ceiling.
        assert_eq!(backoff(two, 2, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(two, 2, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(two, 2, 0.0), Duration::ZERO);
        assert_eq!(backoff(two, 3, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(two, 50, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(two, 50, 0.25), MAX_BACKOFF / 4);
        assert_eq!(backoff(two, u32::MAX, 1.0), MAX_BACKOFF);
    }

    #[test]
    fn reset_and_update_events_change_the_view() {
        let mut view = View {
            url: "http://x/".into(),
            games: Vec::new(),
            loaded: false,
            status: Status::Connected,
            last_id: Some("a-1".into()),
            note: None,
            keys: false,
            leagues: Default::default(),
            linescore: false,
        };
        let ev = |event: &str, data: &str| SseEvent {
            id: "a-2".into(),
            event: event.into(),
            data: data.into(),
        };
        let mut board = None;
        assert!(apply(
            &mut view,
            &mut board,
            ev("reset", r#"{"reason":"epoch","last_id":"b-1"}"#),
        ));
        assert_eq!(
            view.note.as_deref(),
            Some("history reset (epoch): showing current scores")
        );
        assert!(apply(&mut view, &mut board, ev("update", "[]")));
        assert!(view.games.is_empty());
        assert_eq!(
            view.status_line(),
            "live from http://x/  · last event a-1  · history reset (epoch): showing current scores"
        );
    }

    #[test]
    fn a_patch_changes_the_board_it_applies_to_and_only_that() {
        let mut view = View {
            url: "http://x/".into(),
            games: Vec::new(),
            loaded: false,
            status: Status::Connected,
            last_id: None,
            note: None,
            keys: false,
            leagues: Default::default(),
            linescore: false,
        };
        let ev = |event: &str, data: String| SseEvent {
            id: "a-2".into(),
            event: event.into(),
            data,
        };
        let game = serde_json::json!({
            "eid": "2015091000", "season": 2015, "week": 1, "season_type": "REG",
            "kickoff": "2015-09-11T00:30:00Z", "day": "Thu", "time": "8:30",
            "state": "live", "quarter": "1", "clock": "10:00",
            "possession": "NE", "red_zone": false,
            "home": {"abbr": "NE", "nickname": "patriots", "score": 0},
            "away": {"abbr": "PIT", "nickname": "steelers", "score": 0}
        });
        let patch = r#"{"2015091000":{"clock":"05:11","home":{"score":7}}}"#;
        let mut board = None;
        // No board yet: the patch cannot apply and the stream starts over.
        assert!(!apply(&mut view, &mut board, ev("patch", patch.into())));
        assert!(apply(
            &mut view,
            &mut board,
            ev("update", format!("[{game}]"))
        ));
        assert!(apply(&mut view, &mut board, ev("patch", patch.into())));
        assert_eq!(view.games[0].home.score, 7);
        assert_eq!(view.games[0].away.score, 0);
        assert_eq!(view.games[0].clock.as_deref(), Some("05:11"));
        // A game the board lacks, or after a reset: start over.
        let mut kept = board.clone();
        assert!(!apply(
            &mut view,
            &mut kept,
            ev("patch", r#"{"1":{"clock":"01:00"}}"#.into())
        ));
        assert!(apply(
            &mut view,
            &mut board,
            ev("reset", r#"{"reason":"epoch"}"#.into())
        ));
        assert!(!apply(&mut view, &mut board, ev("patch", patch.into())));
        assert_eq!(
            view.games[0].home.score, 7,
            "the last good board stays on screen"
        );
    }
}
