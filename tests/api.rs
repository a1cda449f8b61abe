//! The JSON API, redirect, health, metrics and errors, over real HTTP.

mod common;

use std::time::Duration;

use common::{client, Server, SseStream};

#[tokio::test]
async fn livescore_without_event_stream_redirects_to_the_json() {
    let server = Server::start(&["demo", "--speed", "600"]);
    let resp = client()
        .get(format!("{}/api/livescore", server.url))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "/api/");
}

/// A script (or a supervisor's readiness check) that asks the moment the
/// server says it is listening gets the week, not an empty list: the
/// replay's first board is on the hub before that line. Started without a
/// terminal (stdin is /dev/null), as under systemd, cron or CI. Several
/// starts, because the race this guards against was lost only sometimes.
#[tokio::test]
async fn a_demo_answers_its_week_the_moment_it_says_it_is_listening() {
    for _ in 0..10 {
        let server = Server::start(&["demo", "--speed", "2000"]);
        let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
        let games = week["games"].as_array().expect("games");
        assert_eq!(games.len(), 16, "the week at once: {week}");
        assert_eq!(week["week"], 1);
    }
}

#[tokio::test]
async fn the_week_and_single_games_as_json() {
    let server = Server::start(&["demo", "--speed", "600"]);
    // Wait for the replay's first state through the stream, as a client would.
    let mut sse = SseStream::connect(&format!("{}/api/livescore", server.url), None).await;
    sse.next_event(Duration::from_secs(10))
        .await
        .expect("first update");

    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    assert_eq!(week["season"], 2015);
    assert_eq!(week["week"], 1);
    assert_eq!(week["season_type"], "REG");
    assert!(week["last_event_id"]
        .as_str()
        .is_some_and(|s| s.contains('-')));
    let games = week["games"].as_array().expect("games");
    assert_eq!(games.len(), 16);
    let ne = games
        .iter()
        .find(|g| g["eid"] == "2015091000")
        .expect("NE-PIT");
    assert_eq!(ne["kickoff"], "2015-09-11T00:30:00Z");
    assert_eq!(ne["home"]["abbr"], "NE");
    assert!(ne["home"]["score"].is_u64(), "scores are integers");

    let one = client()
        .get(format!("{}/api/games/2015091000", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(one.status(), 200);
    assert_eq!(one.headers()["content-type"], "application/json");
    let game: serde_json::Value = one.json().await.expect("json");
    assert_eq!(game["away"]["abbr"], "PIT");

    for path in [
        "/api/games/1999010100",
        "/api/games/1999010100/events",
        "/no/such/page",
    ] {
        let resp = client()
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), 404, "{path}");
        let body: serde_json::Value = resp.json().await.expect("json error body");
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}"
        );
    }
    let wrong = client()
        .delete(format!("{}/api/", server.url))
        .send()
        .await
        .expect("delete");
    assert_eq!(wrong.status(), 405);
    let body: serde_json::Value = wrong.json().await.expect("json error body");
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn score_history_lists_every_change_of_a_game_in_order() {
    let server = Server::start(&["demo", "--speed", "2000"]);
    let mut sse = SseStream::connect(
        &format!("{}/api/stream?topic=game/2015091000", server.url),
        None,
    )
    .await;
    // Follow the Thursday game until it is final.
    loop {
        let ev = sse
            .next_event(Duration::from_secs(30))
            .await
            .expect("event");
        if ev.event == "game" && ev.data.contains("\"state\":\"final\"") {
            break;
        }
    }
    let events: Vec<serde_json::Value> =
        common::get_json(format!("{}/api/games/2015091000/events", server.url)).await;
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/livescore/data/nfl-2015-week1.json"
    ))
    .expect("fixture");
    let fixture: serde_json::Value = serde_json::from_slice(&raw).expect("json");
    let expected = fixture["games"][0]["events"].as_array().expect("events");
    assert_eq!(events.len(), expected.len());
    for (got, want) in events.iter().zip(expected) {
        assert_eq!(got["team"], want["team"]);
        assert_eq!(got["points"], want["points"]);
        assert_eq!(got["home_score"], want["home_score_after"]);
        assert_eq!(got["away_score"], want["away_score_after"]);
        assert_eq!(got["quarter"], want["quarter"]);
    }
}

#[tokio::test]
async fn health_and_metrics() {
    let server = Server::start(&["serve"]);
    let resp = client()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    let health: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["bus"]["kind"], "memory");
    assert_eq!(health["bus"]["connected"], true);

    let _sse = SseStream::connect(&format!("{}/api/livescore", server.url), None).await;
    let text = common::get_text(format!("{}/metrics", server.url)).await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("livescore_connections{transport=\"sse\"} 1")),
        "open SSE connections are counted:\n{text}"
    );
}

#[tokio::test]
async fn the_page_and_its_assets_are_served() {
    let server = Server::start(&["serve"]);
    let page = client()
        .get(format!("{}/", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let html = page.text().await.expect("text");
    assert!(html.contains("app.js"), "the page loads its script");
    let js = client()
        .get(format!("{}/app.js", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(js.status(), 200);
    assert!(
        js.text().await.expect("text").contains("EventSource"),
        "the page updates over SSE"
    );
}
