//! Follow a livescore server's scores from Rust: reqwest for HTTP, the
//! WHATWG line parser `livescore watch` uses, and a reconnect loop that
//! resumes with `Last-Event-ID`. docs/CLIENTS.md shows this file; the
//! `read_stream` function is run against a real server by tests/clients.rs.
//!
//! Run: cargo run --example sse_client -- http://127.0.0.1:8000

use std::time::Duration;

use futures::StreamExt;
use livescore_tools::watch::sse::{SseEvent, SseParser};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Reads one connection to `/api/stream?topic=TOPIC`, resuming after
/// `last_event_id` and keeping it up to date, until `on_event` returns
/// false (Ok) or the stream ends or breaks (then reconnect).
pub async fn read_stream(
    client: &reqwest::Client,
    base: &str,
    topic: &str,
    last_event_id: &mut Option<String>,
    mut on_event: impl FnMut(&SseEvent) -> bool,
) -> Result<(), Error> {
    let mut req = client
        .get(format!("{base}/api/stream"))
        .query(&[("topic", topic)])
        .header("Accept", "text/event-stream");
    if let Some(id) = last_event_id.as_deref() {
        req = req.header("Last-Event-ID", id);
    }
    let resp = req.send().await?.error_for_status()?;
    let mut parser = SseParser::new().with_last_event_id(last_event_id.as_deref());
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        for event in parser.feed(&chunk?)? {
            *last_event_id = parser.last_event_id().map(str::to_string);
            if !on_event(&event) {
                return Ok(());
            }
        }
    }
    Err("the server closed the stream".into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8000".to_string());
    let client = reqwest::Client::new();
    let mut last_event_id = None;
    loop {
        let read = read_stream(&client, &base, "scores", &mut last_event_id, |ev| {
            match ev.event.as_str() {
                // The whole board: on connect, after a reset, after each change.
                "update" => match serde_json::from_str::<Vec<livescore::model::Game>>(&ev.data) {
                    Ok(games) => {
                        for g in games {
                            println!(
                                "{} {} @ {} {}  {:?}",
                                g.away.abbr, g.away.score, g.home.abbr, g.home.score, g.state
                            );
                        }
                    }
                    Err(err) => eprintln!("bad update: {err}"),
                },
                // History lost: the current board follows at once.
                "reset" => eprintln!("history reset: {}", ev.data),
                _ => {}
            }
            true
        })
        .await;
        if let Err(err) = read {
            eprintln!("reconnecting after: {err}");
        }
        // The server's `retry:` is 2 s; a real client backs off further.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
