//! Several leagues on one server (issue 37): one feed per league, each on
//! its own board (`scores/{league}`), every game on `scores`, `/api/leagues`,
//! `?league=`, a bad feed that stops no other, a game id two feeds give,
//! and SIGHUP adding and removing feeds. Real ESPN documents as file feeds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{client, get_json, wait_until, Server, SseStream, TempDir};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let path = if name.ends_with(".xml") {
        format!("{dir}/{name}")
    } else {
        format!("{dir}/espn-sports/{name}")
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// `/api/leagues` by key.
async fn leagues(base: &str) -> std::collections::BTreeMap<String, Value> {
    let list: Value = get_json(format!("{base}/api/leagues")).await;
    list.as_array()
        .expect("a list")
        .iter()
        .map(|l| (l["league"].as_str().expect("key").to_owned(), l.clone()))
        .collect()
}

/// The leagues of the games on `/api/` (narrowed by `query`), game by game.
async fn game_leagues(base: &str, query: &str) -> Vec<String> {
    let week: Value = get_json(format!("{base}/api/{query}")).await;
    week["games"]
        .as_array()
        .expect("games")
        .iter()
        .map(|g| g["league"].as_str().expect("league").to_owned())
        .collect()
}

async fn wait_for_leagues(base: &str, want: &[&str]) {
    wait_until(&format!("leagues {want:?} on the board"), WAIT, || async {
        let have = game_leagues(base, "").await;
        want.iter().all(|l| have.iter().any(|h| h == l))
    })
    .await;
}

#[tokio::test]
async fn every_league_is_on_scores_and_each_on_its_own_board() {
    let dir = TempDir::new("leagues-several");
    let nba = write(
        dir.path(),
        "nba.json",
        &fixture("nba-2024-12-15-final.json"),
    );
    let nhl = write(
        dir.path(),
        "nhl.json",
        &fixture("nhl-2025-06-04-live-overtime.json"),
    );
    let nfl = write(dir.path(), "ss.xml", &fixture("ss-2015-w1-final.xml"));
    let list = format!("{},{}", s(&nba), s(&nhl));
    let server = Server::start(&[
        "serve",
        "--feed",
        &list,
        "--feed",
        s(&nfl),
        "--poll-interval",
        "200ms",
    ]);
    let base = &server.url;
    wait_for_leagues(base, &["nba", "nhl", "nfl"]).await;

    // `scores` is every game; each league's are together, leagues in key
    // order.
    let all = game_leagues(base, "").await;
    assert_eq!(all.len(), 3 + 1 + 16, "{all:?}");
    let mut grouped = all.clone();
    grouped.dedup();
    assert_eq!(grouped, ["nba", "nfl", "nhl"]);

    // Narrowed: one league, several, an unknown one, a bad key.
    assert!(game_leagues(base, "?league=nhl").await == ["nhl"]);
    let two = game_leagues(base, "?league=nba&league=nhl").await;
    assert_eq!(two.len(), 4, "{two:?}");
    assert_eq!(
        game_leagues(base, "?league=nba,nhl").await,
        two,
        "comma list"
    );
    let resp = client()
        .get(format!("{base}/api/?league=mlb"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.expect("json");
    let msg = body["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        msg.contains("\"mlb\"") && msg.contains("nba, nfl, nhl"),
        "{body}"
    );
    // A string that could be no league's key is no league here either.
    let resp = client()
        .get(format!("{base}/api/?league=a%20b"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 404);

    // `/api/leagues`: name, sport, board, counts, the feed's health.
    let l = leagues(base).await;
    assert_eq!(l.keys().collect::<Vec<_>>(), ["nba", "nfl", "nhl"]);
    assert_eq!(l["nba"]["name"], "NBA");
    assert_eq!(l["nba"]["sport"], "basketball");
    assert_eq!(l["nba"]["games"], 3);
    assert_eq!(l["nba"]["final"], 3);
    assert_eq!(l["nba"]["date"], "2024-12-15");
    assert!(l["nba"]["week"].is_null(), "{}", l["nba"]);
    assert_eq!(l["nhl"]["sport"], "hockey");
    assert_eq!(l["nhl"]["live"], 1, "{}", l["nhl"]);
    assert_eq!(l["nfl"]["week"], 1);
    assert_eq!(l["nfl"]["games"], 16);
    assert_eq!(l["nfl"]["final"], 16);
    for key in ["nba", "nhl", "nfl"] {
        let feed = &l[key]["feed"];
        assert_eq!(feed["league"], key, "{feed}");
        assert!(feed["last_ok"].is_string(), "{feed}");
        assert!(feed["last_error"].is_null(), "{feed}");
    }

    // The league's own stream carries that league's board only.
    let mut nhl_stream =
        SseStream::connect(&format!("{base}/api/stream?topic=scores/nhl"), None).await;
    let ev = nhl_stream.next_event(WAIT).await.expect("the NHL board");
    assert_eq!(ev.event, "update");
    let games: Value = serde_json::from_str(&ev.data).expect("json");
    assert_eq!(games.as_array().expect("list").len(), 1);
    assert_eq!(games[0]["league"], "nhl");
    let resp = client()
        .get(format!("{base}/api/livescore?league=nba"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("livescore");
    let mut nba_stream = SseStream::from_response(resp);
    let ev = nba_stream.next_event(WAIT).await.expect("the NBA board");
    let games: Value = serde_json::from_str(&ev.data).expect("json");
    assert!(
        games
            .as_array()
            .expect("list")
            .iter()
            .all(|g| g["league"] == "nba"),
        "{games}"
    );

    // A change in one league: its board and `scores` move, the other
    // league's board does not.
    let mut all_stream = SseStream::connect(&format!("{base}/api/stream?topic=scores"), None).await;
    all_stream
        .next_event(WAIT)
        .await
        .expect("the current board");
    let changed = fixture("nhl-2025-06-04-live-overtime.json")
        .replace("\"displayClock\":\"17:09\"", "\"displayClock\":\"16:00\"");
    assert!(changed.contains("16:00"), "the fixture's clock moved");
    std::fs::write(&nhl, changed).expect("write");
    let ev = all_stream
        .next_event(WAIT)
        .await
        .expect("a new scores board");
    assert!(ev.data.contains("\"16:00\""), "{}", ev.data);
    let ev = nhl_stream.next_event(WAIT).await.expect("a new NHL board");
    assert!(ev.data.contains("\"16:00\""), "{}", ev.data);
    assert!(
        tokio::time::timeout(
            Duration::from_millis(800),
            nba_stream.next_event(Duration::from_secs(60))
        )
        .await
        .is_err(),
        "the NBA board did not change"
    );

    // Health: one entry per feed.
    let (_, health) = common::health(base).await;
    assert_eq!(
        health["feeds"].as_array().expect("feeds").len(),
        3,
        "{health}"
    );
    assert!(health["feed"].is_null(), "`feed` is for a single feed");
}

#[tokio::test]
async fn a_bad_or_unreachable_feed_stops_no_other_league() {
    let dir = TempDir::new("leagues-bad");
    let nba = write(
        dir.path(),
        "nba.json",
        &fixture("nba-2024-12-15-final.json"),
    );
    let broken = write(dir.path(), "broken.json", "{\"leagues\": [");
    let golf = write(
        dir.path(),
        "golf.json",
        &fixture("golf-pga-2025-06-03.json"),
    );
    let list = format!(
        "{},{},{},http://127.0.0.1:9/scoreboard",
        s(&broken),
        s(&golf),
        s(&nba)
    );
    let server = Server::start(&["serve", "--feed", &list, "--poll-interval", "200ms"]);
    let base = &server.url;
    wait_for_leagues(base, &["nba"]).await;
    assert_eq!(game_leagues(base, "").await.len(), 3);

    // The node is degraded, naming each feed that never gave a good
    // document, with each one's reason.
    let deadline = tokio::time::Instant::now() + WAIT;
    let body = loop {
        let resp = client()
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        let code = resp.status().as_u16();
        let body: Value = resp.json().await.expect("json");
        if code == 503 && body["reasons"].as_array().is_some_and(|r| r.len() == 3) {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "every bad feed reported: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let feeds = body["feeds"].as_array().expect("feeds");
    let error_of = |pattern: &str| {
        feeds
            .iter()
            .find(|f| f["source"].as_str().is_some_and(|s| s.contains(pattern)))
            .and_then(|f| f["last_error"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(error_of("broken.json").contains("malformed"), "{body}");
    assert!(
        error_of("golf.json").contains("league pga") || error_of("golf.json").contains("golf"),
        "{body}"
    );
    assert!(error_of("127.0.0.1:9").contains("unreachable"), "{body}");

    // The broken feed fixed: its league joins, the others carry on.
    std::fs::write(&broken, fixture("nhl-2024-final.json")).expect("write");
    wait_for_leagues(base, &["nba", "nhl"]).await;
}

#[tokio::test]
async fn a_game_id_two_feeds_give_is_refused_from_the_second_never_merged() {
    let dir = TempDir::new("leagues-duplicate");
    let nba_doc = fixture("nba-2024-12-15-final.json");
    let nba = write(dir.path(), "nba.json", &nba_doc);
    // The same games under another league's name.
    let copy = nba_doc.replace("\"slug\":\"nba\"", "\"slug\":\"wnba\"");
    assert_ne!(copy, nba_doc);
    let wnba = write(dir.path(), "wnba.json", &copy);
    let nhl = write(dir.path(), "nhl.json", &fixture("nhl-2024-final.json"));
    let list = format!("{},{},{}", s(&nba), s(&nhl), s(&wnba));
    let server = Server::start(&["serve", "--feed", &list, "--poll-interval", "200ms"]);
    let base = &server.url;
    // Whichever of the two polled first holds the three games.
    wait_until("the NHL and the three games on the board", WAIT, || async {
        let leagues = game_leagues(base, "").await;
        leagues.len() == 4 && leagues.iter().any(|l| l == "nhl")
    })
    .await;
    wait_until("the duplicate games counted", WAIT, || async {
        let text = common::get_text(format!("{base}/metrics")).await;
        common::metric_in(&text, "livescore_feed_duplicate_games_total") >= 3.0
    })
    .await;
    // Whichever feed came first keeps the games: never both, never merged.
    let all = game_leagues(base, "").await;
    assert_eq!(all.len(), 3 + 1, "{all:?}");
    let week: Value = get_json(format!("{base}/api/")).await;
    let mut eids: Vec<&str> = week["games"]
        .as_array()
        .expect("games")
        .iter()
        .map(|g| g["eid"].as_str().expect("eid"))
        .collect();
    eids.sort();
    eids.dedup();
    assert_eq!(eids.len(), 4, "each id once");
    assert!(
        server
            .logs()
            .contains("game id already taken by another feed"),
        "{}",
        server.logs()
    );
}

#[tokio::test]
async fn a_second_feed_of_a_league_already_followed_is_refused() {
    let dir = TempDir::new("leagues-twice");
    let doc = fixture("nhl-2024-final.json");
    let a = write(dir.path(), "a.json", &doc);
    let b = write(dir.path(), "b.json", &doc);
    let list = format!("{},{}", s(&a), s(&b));
    let server = Server::start(&["serve", "--feed", &list, "--poll-interval", "200ms"]);
    let base = &server.url;
    wait_until("one of the two refused", WAIT, || async {
        let (_, h) = common::health(base).await;
        h["feeds"].as_array().is_some_and(|f| {
            f.iter().any(|f| {
                f["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("already followed by the feed"))
            })
        })
    })
    .await;
    assert_eq!(game_leagues(base, "").await, ["nhl"]);
}

#[tokio::test]
async fn the_same_feed_given_twice_is_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args([
            "serve",
            "--feed",
            "espn:nba,espn:nhl",
            "--feed",
            "espn:nba",
            "--addr",
            "127.0.0.1:0",
        ])
        .env("DATABASE_URL", "sqlite::memory:")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("given twice") && err.contains("nba"), "{err}");
}

#[tokio::test]
async fn sighup_adds_and_removes_feeds_leaving_the_others_alone() {
    let dir = TempDir::new("leagues-reload");
    // The MLB's games are live: its feed polls at the interval throughout.
    let mlb = write(dir.path(), "mlb.json", &fixture("mlb-2025-06-04-live.json"));
    let nhl = write(dir.path(), "nhl.json", &fixture("nhl-2024-final.json"));
    let settings = |feeds: &[&Path]| {
        let list: Vec<String> = feeds.iter().map(|p| format!("{:?}", s(p))).collect();
        format!("feeds = [{}]\npoll-interval = \"200ms\"\n", list.join(", "))
    };
    let config = write(dir.path(), "live.toml", &settings(&[&mlb]));
    let server = Server::start_env(
        &["serve", "--config", s(&config)],
        &[("LIVESCORE_FEED", None), ("LIVESCORE_POLL_INTERVAL", None)],
    );
    let base = &server.url;
    wait_for_leagues(base, &["mlb"]).await;
    let polls_of = |league: &'static str| async move {
        let text = common::get_text(format!("{base}/metrics")).await;
        text.lines()
            .filter(|l| {
                l.starts_with("livescore_feed_polls_total{")
                    && l.contains(&format!("league=\"{league}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };

    // Added: the NHL joins; the MLB feed keeps polling throughout.
    write(dir.path(), "live.toml", &settings(&[&mlb, &nhl]));
    server.hup();
    wait_for_leagues(base, &["mlb", "nhl"]).await;
    let before = polls_of("mlb").await;
    wait_until("the MLB feed polled on", WAIT, || async {
        polls_of("mlb").await > before
    })
    .await;
    assert!(server.logs().contains("feed added"), "{}", server.logs());

    // Removed: the MLB's games leave the board, the NHL's stay.
    write(dir.path(), "live.toml", &settings(&[&nhl]));
    server.hup();
    wait_until("the MLB gone from the board", WAIT, || async {
        game_leagues(base, "").await == ["nhl"]
    })
    .await;
    let l = leagues(base).await;
    assert!(l["nhl"]["feed"].is_object(), "{l:?}");
    assert!(!l.contains_key("mlb"), "{l:?}");
    let (_, health) = common::health(base).await;
    assert_eq!(health["feed"]["league"], "nhl", "{health}");
    // Its games are still in the API.
    let game: Value = get_json(format!("{base}/api/games/401695821")).await;
    assert_eq!(game["league"], "mlb");
}
