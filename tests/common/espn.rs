//! ESPN test helpers: the fixtures, the official finals in ESPN's
//! spelling, what the library publishes for a sequence of documents, and
//! an SSE follower that reads until every game is final. Included by
//! `tests/espn.rs` and `tests/recording.rs` with `#[path]`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use livescore::bus::{Bus, MemoryBus};
use livescore::feed::{format, Publisher, Tracker};

use super::common::{self, board, SseStream};

pub fn path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(path(name)).expect("fixture")
}

/// ESPN event id -> (home abbr, away abbr) of a document.
pub fn teams(doc: &str) -> BTreeMap<String, (String, String)> {
    let week = format::parse(doc.as_bytes(), None).expect("good document");
    week.games
        .into_iter()
        .map(|g| (g.eid, (g.home.abbr, g.away.abbr)))
        .collect()
}

/// The official finals keyed by home team, in ESPN's spelling.
pub fn official_by_home() -> BTreeMap<String, (u64, u64)> {
    let raw: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crates/livescore/data/nfl-2015-week1.json"
        ))
        .expect("data"),
    )
    .expect("json");
    raw["games"]
        .as_array()
        .expect("games")
        .iter()
        .map(|g| {
            let home = match g["home"]["abbr"].as_str().expect("abbr") {
                "JAC" => "JAX",
                "WAS" => "WSH",
                other => other,
            };
            let finals = (
                g["home"]["final"].as_u64().expect("home"),
                g["away"]["final"].as_u64().expect("away"),
            );
            (home.to_string(), finals)
        })
        .collect()
}

/// (topic, event, data) with ScoreEvent times removed (the poll's time).
pub fn normalized(topic: &str, event: &str, data: &str) -> (String, String, serde_json::Value) {
    let mut v: serde_json::Value = serde_json::from_str(data).expect("json data");
    if let Some(obj) = v.as_object_mut() {
        obj.remove("at");
    }
    (topic.to_string(), event.to_string(), v)
}

/// What publishing these documents in order puts on a bus, per the library.
pub async fn expected_events(docs: &[&str]) -> Vec<(String, String, serde_json::Value)> {
    let bus = Arc::new(MemoryBus::new(1, 0));
    let mut publisher = Publisher::new(bus.clone() as Arc<dyn Bus>, Tracker::new());
    for doc in docs {
        let week = format::parse(doc.as_bytes(), None).expect("good document");
        publisher
            .push(week, chrono::Utc::now())
            .await
            .expect("push");
    }
    let all = bus
        .read_after(livescore::model::EventId::new(1, 0), 100_000)
        .await
        .expect("read");
    all.iter()
        .map(|e| {
            // One league: the server's `scores` is that league's board,
            // byte for byte (`feed::union`), published right after it.
            let topic = if e.topic.starts_with("scores/") {
                "scores"
            } else {
                e.topic.as_str()
            };
            normalized(topic, &e.event, std::str::from_utf8(&e.data).expect("utf8"))
        })
        .collect()
}

/// An SSE stream on `scores` and every `game/{eid}` of `eids`; once this
/// returns the server has subscribed it, so nothing published later is
/// missed.
pub async fn subscribe(url: &str, eids: &[String]) -> SseStream {
    let mut query = String::from("topic=scores");
    for eid in eids {
        query.push_str(&format!("&topic=game/{eid}"));
    }
    SseStream::connect(&format!("{url}/api/stream?{query}"), None).await
}

/// Reads `sse` until the board is all final; returns every event,
/// normalized, in order.
pub async fn follow_to_finals(sse: &mut SseStream) -> Vec<(String, String, serde_json::Value)> {
    let mut got = Vec::new();
    let mut last_id = (String::new(), 0);
    loop {
        let ev = sse
            .next_event(Duration::from_secs(30))
            .await
            .expect("stream open until every game is final");
        let id = common::id_parts(ev.id.as_deref().expect("every event has an id"));
        assert!(id > last_id, "ids increase");
        last_id = id;
        let topic = if ev.event == "update" {
            "scores".to_string()
        } else {
            let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
            format!("game/{}", v["eid"].as_str().expect("eid"))
        };
        got.push(normalized(&topic, &ev.event, &ev.data));
        if ev.event == "update" {
            let b = board(&serde_json::from_str(&ev.data).expect("json"));
            if b.values().all(|(_, _, state)| state.starts_with("final")) {
                return got;
            }
        }
    }
}

/// Every score event of each game moves its score forward from the last,
/// and the last `scores` update holds the 16 official finals.
pub fn assert_scores_in_order_to_the_official_finals(
    got: &[(String, String, serde_json::Value)],
    teams: &BTreeMap<String, (String, String)>,
) {
    let mut at: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for (_, event, v) in got.iter().filter(|(_, e, _)| e == "score") {
        let eid = v["eid"].as_str().expect("eid").to_string();
        let (n, home, away) = at.get(&eid).copied().unwrap_or((0, 0, 0));
        let id = v["id"].as_str().expect("id");
        assert_eq!(id, format!("{eid}-{}", n + 1), "{event}: numbered in order");
        let (h, a) = (
            v["home_score"].as_u64().expect("home"),
            v["away_score"].as_u64().expect("away"),
        );
        assert!(h >= home && a >= away && (h, a) != (home, away), "{v}");
        at.insert(eid, (n + 1, h, a));
    }
    let last = got
        .iter()
        .rev()
        .find(|(_, e, _)| e == "update")
        .expect("an update");
    let finals = board(&last.2);
    assert_eq!(finals.len(), 16);
    let official = official_by_home();
    for (eid, (home, away, state)) in &finals {
        let (home_abbr, _) = &teams[eid];
        assert_eq!((*home, *away), official[home_abbr], "{eid} {home_abbr}");
        assert!(state.starts_with("final"), "{eid}: {state}");
        assert_eq!(
            (at[eid].1, at[eid].2),
            (*home, *away),
            "{eid}: last score event"
        );
    }
    assert_eq!(
        finals
            .values()
            .filter(|(_, _, s)| s == "final_overtime")
            .count(),
        1
    );
}
