//! Helpers shared by the persistence suites: follow a whole week over SSE,
//! wait for the database to catch up, read histories back.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{board, client, id_parts, official_finals, SseStream};

pub const WAIT: Duration = Duration::from_secs(30);

/// One event as a client saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub id: (String, u64),
    pub topic_event: String,
    pub data: String,
}

/// `/api/stream` on `scores` and every game of the week.
pub fn stream_url(base: &str) -> String {
    let mut url = format!("{base}/api/stream?topic=scores");
    for eid in official_finals().keys() {
        url.push_str(&format!("&topic=game/{eid}"));
    }
    url
}

/// Reads events until `done` says so, returning them all; ids must increase.
pub async fn read_until(
    sse: &mut SseStream,
    mut done: impl FnMut(&[Seen]) -> bool,
    limit: Duration,
) -> Vec<Seen> {
    let deadline = Instant::now() + limit;
    let mut seen: Vec<Seen> = Vec::new();
    while !done(&seen) {
        assert!(
            Instant::now() < deadline,
            "gave up after {} events",
            seen.len()
        );
        let ev = sse.next_event(WAIT).await.expect("the stream goes on");
        let id = id_parts(ev.id.as_deref().expect("every event has an id"));
        if let Some(prev) = seen.last() {
            assert_eq!(prev.id.0, id.0, "one epoch");
            assert!(id.1 > prev.id.1, "ids increase: {id:?} after {:?}", prev.id);
        }
        let kind = if ev.event == "score" || ev.event == "game" {
            ev.event.clone()
        } else {
            format!("scores/{}", ev.event)
        };
        seen.push(Seen {
            id,
            topic_event: kind,
            data: ev.data,
        });
    }
    seen
}

pub fn scores_seen(seen: &[Seen]) -> usize {
    seen.iter().filter(|s| s.topic_event == "score").count()
}

pub fn all_final(seen: &[Seen]) -> bool {
    seen.iter()
        .rev()
        .find(|s| s.topic_event == "scores/update")
        .is_some_and(|s| {
            let b = board(&serde_json::from_str(&s.data).expect("json"));
            b.len() == 16
                && b.values()
                    .all(|(_, _, st)| st == "final" || st == "final_overtime")
        })
}

pub async fn get_json(url: &str) -> serde_json::Value {
    let resp = client().get(url).send().await.expect("get");
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.expect("json")
}

/// Waits until the server's database holds every event up to `seq`.
pub async fn wait_written(base: &str, seq: u64) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let health = get_json(&format!("{base}/healthz")).await;
        let written = health["database"]["last_written_id"]
            .as_str()
            .map_or(0, |id| id_parts(id).1);
        if written >= seq && health["database"]["queue"] == 0 {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "the database never caught up: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Per game, the scoring plays of the recorded week: (home, away) after each.
pub fn official_plays() -> BTreeMap<String, Vec<(u64, u64)>> {
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/livescore/data/nfl-2015-week1.json"
    ))
    .expect("fixture");
    let v: serde_json::Value = serde_json::from_slice(&raw).expect("json");
    v["games"]
        .as_array()
        .expect("games")
        .iter()
        .map(|g| {
            let plays = g["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| {
                    (
                        e["home_score_after"].as_u64().expect("home"),
                        e["away_score_after"].as_u64().expect("away"),
                    )
                })
                .collect();
            (g["eid"].as_str().expect("eid").to_string(), plays)
        })
        .collect()
}

/// A game's score history from the API as (id, home, away).
pub async fn history(base: &str, eid: &str) -> Vec<(String, u64, u64)> {
    let events = get_json(&format!("{base}/api/games/{eid}/events")).await;
    events
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            (
                e["id"].as_str().expect("id").to_string(),
                e["home_score"].as_u64().expect("home"),
                e["away_score"].as_u64().expect("away"),
            )
        })
        .collect()
}
