//! The ESPN scoreboard feed through the real binary: served over HTTP with
//! ETags and 304s, ingested from a file into a database, and refused by
//! name when malformed.

mod common;
#[path = "common/feed_server.rs"]
mod feed_server;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{board, Server, SseStream, TempDir};
use feed_server::{feed_server, Reply};
use livescore::bus::{Bus, MemoryBus};
use livescore::feed::{format, Publisher, Tracker};

fn path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(path(name)).expect("fixture")
}

/// ESPN event id -> (home abbr, away abbr) of a document.
fn teams(doc: &str) -> BTreeMap<String, (String, String)> {
    let week = format::parse(doc.as_bytes(), None).expect("good document");
    week.games
        .into_iter()
        .map(|g| (g.eid, (g.home.abbr, g.away.abbr)))
        .collect()
}

/// The official finals keyed by home team, in ESPN's spelling.
fn official_by_home() -> BTreeMap<String, (u64, u64)> {
    let raw: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/nfl-2015-week1.json"
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
fn normalized(topic: &str, event: &str, data: &str) -> (String, String, serde_json::Value) {
    let mut v: serde_json::Value = serde_json::from_str(data).expect("json data");
    if let Some(obj) = v.as_object_mut() {
        obj.remove("at");
    }
    (topic.to_string(), event.to_string(), v)
}

/// What publishing these documents in order puts on a bus, per the library.
async fn expected_events(docs: &[&str]) -> Vec<(String, String, serde_json::Value)> {
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
            normalized(
                &e.topic,
                &e.event,
                std::str::from_utf8(&e.data).expect("utf8"),
            )
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

#[tokio::test]
async fn an_espn_feed_over_http_streams_every_score_change_in_order_to_the_official_finals() {
    let (pregame, midday, fin) = (
        fixture("espn-2015-w1-pregame.json"),
        fixture("espn-2015-w1-midday.json"),
        fixture("espn-2015-w1-final.json"),
    );
    let script = vec![
        Reply::Doc(pregame.clone()),
        Reply::Current, // 304
        Reply::Doc(midday.clone()),
        Reply::Current, // 304
        Reply::Doc(fin.clone()),
    ];
    let (url, feed, gate) = feed_server(script, false).await;
    let url = url.replace("/ss.xml", "/scoreboard");
    let server = Server::start(&["serve", "--feed", &url, "--poll-interval", "100ms"]);
    let teams = teams(&pregame);
    let eids: Vec<String> = teams.keys().cloned().collect();
    let mut sse = subscribe(&server.url, &eids).await;
    gate.send(true).expect("open the feed");
    let got = follow_to_finals(&mut sse).await;

    let want = expected_events(&[&pregame, &midday, &fin]).await;
    assert_eq!(got, want, "exactly the real changes, in order");
    assert_scores_in_order_to_the_official_finals(&got, &teams);

    let seen = feed.lock().expect("lock").seen.clone();
    let statuses: Vec<u16> = seen.iter().take(5).map(|s| s.status).collect();
    assert_eq!(statuses, [200, 304, 200, 304, 200]);
    assert_eq!(seen[1].if_none_match.as_deref(), Some("\"v1\""));
    assert!(seen.iter().all(|s| s.user_agent.starts_with("livescore/")));
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    assert_eq!(
        (&week["season"], &week["week"], &week["season_type"]),
        (&2015.into(), &1.into(), &"REG".into())
    );
}

/// Runs `livescore ingest ARGS` to completion: (exit code, stdout, stderr).
async fn ingest(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
            .arg("ingest")
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ingest finishes")
    .expect("run ingest");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn ingest_once_an_espn_file_then_serve_shows_every_final() {
    let dir = TempDir::new("espn-ingest");
    let db = format!("sqlite://{}", dir.path().join("espn.db").display());
    let fin = path("espn-2015-w1-final.json");
    let (code, out, err) = ingest(&["--once", "--feed", &fin, "--database-url", &db]).await;
    assert_eq!(code, Some(0), "{out} {err}");
    assert!(out.contains("16 games changed"), "{out}");

    let server = Server::start(&["serve", "--database-url", &db]);
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    let finals = board(&week["games"]);
    let official = official_by_home();
    let teams = teams(&fixture("espn-2015-w1-final.json"));
    assert_eq!(finals.len(), 16);
    for (eid, (home, away, state)) in finals {
        assert_eq!((home, away), official[&teams[&eid].0], "{eid}");
        assert!(state.starts_with("final"), "{eid}: {state}");
    }
    assert_eq!(week["games"][2]["quarter"], "FO");
}

#[tokio::test]
async fn a_malformed_espn_document_exits_1_naming_event_and_field_and_publishes_nothing() {
    let dir = TempDir::new("espn-bad");
    let db = format!("sqlite://{}", dir.path().join("bad.db").display());
    let cases = [
        (
            "espn-malformed-badscore.json",
            ["405091302", "competitions[0].competitors[0].score"],
        ),
        (
            "espn-malformed-unknown-state.json",
            ["405091306", "status.type.state"],
        ),
        (
            "espn-malformed-one-competitor.json",
            ["405091308", "competitions[0].competitors"],
        ),
        (
            "espn-malformed-missing-id.json",
            ["game #6 (IND @ BUF)", "`id`"],
        ),
        (
            "espn-malformed-truncated.json",
            ["espn: malformed JSON", "byte"],
        ),
    ];
    for (name, words) in cases {
        let (code, out, err) =
            ingest(&["--once", "--feed", &path(name), "--database-url", &db]).await;
        assert_eq!(code, Some(1), "{name}: exit 1; {err}");
        assert!(out.is_empty(), "{name}: nothing reported published: {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: one line: {err}");
        for w in words {
            assert!(err.contains(w), "{name}: {err:?} should name {w:?}");
        }
    }
    // Nothing was published or stored by any of them.
    let server = Server::start(&["serve", "--database-url", &db]);
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    assert_eq!(week["games"], serde_json::json!([]));
    assert!(week["last_event_id"].is_null(), "{week}");
}
