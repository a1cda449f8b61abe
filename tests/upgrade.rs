//! A database written by the release before leagues (b0be834), upgraded in
//! place by this binary at start: every game's score history reads back as
//! that release served it, now with its league, period and label, and new
//! events are written and read after it. The fixtures and how they were
//! made: `tests/fixtures/db/README.md`.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{client, publish_event, wait_until, Server, TempDir, PG_BASE};
use livescore::model::Quarter;
use serde_json::{json, Value};

const RELEASE: &str = "b0be834";
const TOKEN: &str = "upgrade-publish-token";
/// The NBA game the fixtures' maker published (the rest are the demo's).
const NBA_EID: &str = "401704999";
/// Guards against a hang only.
const WAIT: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/db/{RELEASE}-{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// eid -> {"game", "events"} as the old binary served them.
fn expected(name: &str) -> BTreeMap<String, Value> {
    let raw = std::fs::read_to_string(fixture(name)).expect("expectation");
    serde_json::from_str(&raw).expect("json")
}

async fn get(url: &str) -> Value {
    let resp = client().get(url).send().await.expect("get");
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.expect("json")
}

/// The fields the old binary already served, which must not change.
const KEPT: [&str; 9] = [
    "id",
    "eid",
    "team",
    "points",
    "quarter",
    "clock",
    "home_score",
    "away_score",
    "at",
];

/// Asserts the upgraded node serves every game and its whole history as
/// the old binary did, with the new fields filled: the NFL's read from the
/// quarter, the NBA's as they were published.
async fn history_is_intact(base: &str, old: &BTreeMap<String, Value>) {
    let mut nfl_scores = 0;
    for (eid, was) in old {
        let game = get(&format!("{base}/api/games/{eid}")).await;
        assert_eq!(game, was["game"], "{eid}: the game as it was");
        let now = get(&format!("{base}/api/games/{eid}/events")).await;
        let (now, was) = (
            now.as_array().expect("array"),
            was["events"].as_array().expect("array"),
        );
        assert_eq!(now.len(), was.len(), "{eid}: every score change");
        for (n, w) in now.iter().zip(was) {
            for field in KEPT {
                assert_eq!(n[field], w[field], "{eid}: {field} of {}", w["id"]);
            }
            if eid == NBA_EID {
                continue;
            }
            nfl_scores += 1;
            let quarter: Quarter = w["quarter"]
                .as_str()
                .expect("quarter")
                .parse()
                .expect("a quarter");
            assert_eq!(n["league"], "nfl", "{n}");
            assert_eq!(n["period"], quarter.moment().period, "{n}");
            assert_eq!(
                n["period_label"],
                json!(quarter.period_label()),
                "{n}: the label of quarter {quarter}"
            );
        }
    }
    assert!(nfl_scores >= 5, "the fixture has NFL score changes");
    // The NBA game's changes read back as published, not as the NFL's:
    // the release served them as `nfl` with the quarter's period.
    let nba = get(&format!("{base}/api/games/{NBA_EID}/events")).await;
    let read: Vec<(&str, &str, u64, Option<&str>)> = nba
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            (
                e["id"].as_str().expect("id"),
                e["league"].as_str().expect("league"),
                e["period"].as_u64().expect("period"),
                e["period_label"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("401704999-1", "nba", 3, Some("Q3")),
            ("401704999-2", "nba", 6, Some("2OT")),
        ]
    );
}

/// After the upgrade: a new NBA score change and a new NFL one are
/// written and read back with what they were published with.
async fn new_events_are_written(base: &str, old: &BTreeMap<String, Value>) {
    let http = client();
    let nba = json!({"id": "401704999-3", "eid": NBA_EID, "team": "CHI", "points": 2,
        "league": "nba", "quarter": "5", "period": 7, "period_label": "3OT",
        "clock": "04:40", "home_score": 121, "away_score": 120,
        "at": "2024-12-15T03:10:00Z"});
    // An NFL game with history: its next change, as a producer sends it.
    let (eid, was) = old
        .iter()
        .find(|(eid, v)| *eid != NBA_EID && !v["events"].as_array().expect("array").is_empty())
        .expect("an NFL game with score changes");
    let last = was["events"]
        .as_array()
        .expect("array")
        .last()
        .expect("one");
    let n = was["events"].as_array().expect("array").len() + 1;
    let mut nfl = last.clone();
    nfl["id"] = json!(format!("{eid}-{n}"));
    nfl["points"] = json!(3);
    nfl["home_score"] = json!(last["home_score"].as_u64().expect("score") + 3);
    nfl["quarter"] = json!("4");
    nfl["period"] = json!(4);
    nfl["period_label"] = json!("Q4");
    for (eid, ev) in [(NBA_EID, &nba), (eid.as_str(), &nfl)] {
        publish_event(
            &http,
            base,
            TOKEN,
            &json!({"topic": format!("game/{eid}"), "event": "score", "data": ev}),
        )
        .await;
        let url = format!("{base}/api/games/{eid}/events");
        wait_until(&format!("{eid}'s new change is stored"), WAIT, || async {
            get(&url).await.as_array().expect("array").last() == Some(ev)
        })
        .await;
    }
}

#[tokio::test]
async fn a_sqlite_file_of_the_release_upgrades_in_place_with_its_history() {
    let dir = TempDir::new("upgrade");
    let path = dir.path().join("live.db");
    std::fs::copy(fixture("demo.sqlite"), &path).expect("copy the fixture");
    let url = format!("sqlite://{}", path.display());
    let old = expected("demo.sqlite.expected.json");
    let server = Server::start(&["serve", "--database-url", &url, "--publish-token", TOKEN]);
    history_is_intact(&server.url, &old).await;
    new_events_are_written(&server.url, &old).await;
    drop(server);
    // Read again by a fresh node: the new rows are on disk, not only in
    // the first node's memory, and the upgrade does not run twice.
    let server = Server::start(&["serve", "--database-url", &url]);
    let nba = get(&format!("{}/api/games/{NBA_EID}/events", server.url)).await;
    assert_eq!(nba.as_array().expect("array").len(), 3);
}

/// A database of this test's own on the shared server, restored from the
/// release's dump; dropped when done.
struct PgDatabase {
    name: String,
    url: String,
}

impl PgDatabase {
    fn restore(dump: &str) -> PgDatabase {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let name = format!("lsup_{}_{nanos}", std::process::id());
        common::psql(
            PG_BASE,
            &format!("CREATE DATABASE {name} TEMPLATE template0"),
        );
        let url = PG_BASE.replace("/test", &format!("/{name}"));
        let out = Command::new("psql")
            .args([&url, "-q", "-v", "ON_ERROR_STOP=1", "-f", dump])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        let db = PgDatabase { name, url };
        assert!(
            out.status.success(),
            "restore {dump}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        db
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                PG_BASE,
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[tokio::test]
async fn a_postgres_database_of_the_release_upgrades_in_place_with_its_history() {
    let db = PgDatabase::restore(&fixture("demo.pg.sql"));
    let old = expected("demo.pg.expected.json");
    let server = Server::start(&["serve", "--database-url", &db.url, "--publish-token", TOKEN]);
    history_is_intact(&server.url, &old).await;
    new_events_are_written(&server.url, &old).await;
    drop(server);
    let server = Server::start(&["serve", "--database-url", &db.url]);
    let nba = get(&format!("{}/api/games/{NBA_EID}/events", server.url)).await;
    assert_eq!(nba.as_array().expect("array").len(), 3);
    drop(server);
}
