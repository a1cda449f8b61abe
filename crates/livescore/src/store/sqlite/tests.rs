//! The leagues migration on a database the first schema wrote: every
//! stored row is filled in (from the event log where it says, else from the
//! quarter exactly as [`Quarter`] reads it) and read back through the store.

use std::path::PathBuf;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::SqliteStore;
use crate::model::Quarter;
use crate::store::Store;

/// Every spelling the quarter column can hold.
const QUARTERS: [&str; 10] = ["P", "1", "2", "3", "4", "5", "H", "F", "FO", "S"];

/// The first migration, byte for byte (sqlx checks its checksum when the
/// whole set runs later).
const INIT: &str = include_str!("../../../migrations/sqlite/20261125000001_init.sql");

/// A directory of this test's own, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "livescore-unit-{tag}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(dir.join("migrations")).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A score event as the log holds it (what was published).
fn logged(id: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","eid":"g","team":"BOS","points":3,"quarter":"5",{extra}"clock":"00:01.2","home_score":120,"away_score":118,"at":"2024-12-15T03:00:00Z"}}"#
    )
}

#[tokio::test]
async fn rows_written_before_leagues_are_filled_in_and_read_back() {
    let scratch = Scratch::new("upgrade");
    let path = scratch.0.join("old.db");
    std::fs::write(scratch.0.join("migrations/20261125000001_init.sql"), INIT).expect("write");
    let opts = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .expect("open");
    Migrator::new(scratch.0.join("migrations").as_path())
        .await
        .expect("first migration")
        .run(&pool)
        .await
        .expect("migrate to the first schema");

    let insert_score = |id: String, quarter: &str, seq: i64| {
        sqlx::query(
            "INSERT INTO score_events (id, eid, team, points, quarter, clock, home_score, \
             away_score, at, epoch, seq) \
             VALUES (?, 'g', 'NE', 7, ?, NULL, 7, 0, '2015-09-11T00:51:02Z', 1, ?)",
        )
        .bind(id)
        .bind(quarter.to_string())
        .bind(seq)
    };
    // Rows with no event in the log: read from the quarter.
    for (i, q) in QUARTERS.iter().enumerate() {
        let seq = i64::try_from(i).expect("small") + 1;
        insert_score(format!("g-{seq}"), q, seq)
            .execute(&pool)
            .await
            .expect("insert");
    }
    // Rows whose published event is in the log: one from today's release
    // (an NBA double overtime, coarsely quarter 5), one from before leagues
    // (no league, period or label in its JSON), one with a null label.
    let log = [
        (
            11,
            logged("g-11", r#""league":"nba","period":6,"period_label":"2OT","#),
        ),
        (12, logged("g-12", "")),
        (
            13,
            logged("g-13", r#""league":"nhl","period":0,"period_label":null,"#),
        ),
    ];
    for (seq, data) in &log {
        sqlx::query(
            "INSERT INTO events (epoch, seq, topic, event, data, at) \
             VALUES (1, ?, 'game/g', 'score', ?, '2024-12-15T03:00:00Z')",
        )
        .bind(seq)
        .bind(data)
        .execute(&pool)
        .await
        .expect("insert event");
        insert_score(format!("g-{seq}"), "5", *seq)
            .execute(&pool)
            .await
            .expect("insert");
    }
    for (eid, data) in [
        ("old", r#"{"eid":"old","quarter":"F"}"#),
        ("nba", r#"{"eid":"nba","league":"nba","quarter":"F"}"#),
        ("bad", "not json"),
    ] {
        sqlx::query(
            "INSERT INTO games (eid, data, epoch, seq, updated_at) \
             VALUES (?, ?, 1, 1, '2015-09-11T00:51:02Z')",
        )
        .bind(eid)
        .bind(data)
        .execute(&pool)
        .await
        .expect("insert game");
    }
    pool.close().await;

    let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("the upgrade runs at open");
    let events = store.score_events("g").await.expect("read back");
    assert_eq!(events.len(), QUARTERS.len() + log.len());
    for (ev, q) in events.iter().zip(QUARTERS) {
        let quarter: Quarter = q.parse().expect("quarter");
        assert_eq!(ev.quarter, quarter);
        assert_eq!(ev.league, "nfl", "{q}");
        assert_eq!(ev.period, quarter.moment().period, "period of {q}");
        assert_eq!(ev.period_label, quarter.period_label(), "label of {q}");
    }
    let from_log: Vec<_> = events[QUARTERS.len()..]
        .iter()
        .map(|e| (e.league.as_str(), e.period, e.period_label.as_deref()))
        .collect();
    assert_eq!(
        from_log,
        [
            ("nba", 6, Some("2OT")),
            ("nfl", 5, Some("OT")),
            ("nhl", 0, None)
        ],
        "what was published wins; what it did not say comes from the quarter"
    );
    let leagues: Vec<(String, String)> =
        sqlx::query_as("SELECT eid, league FROM games ORDER BY eid")
            .fetch_all(&store.pool)
            .await
            .expect("games");
    let leagues: Vec<(&str, &str)> = leagues
        .iter()
        .map(|(e, l)| (e.as_str(), l.as_str()))
        .collect();
    assert_eq!(leagues, [("bad", "nfl"), ("nba", "nba"), ("old", "nfl")]);
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT eid FROM games WHERE league = 'nba' ORDER BY eid",
    )
    .fetch_all(&store.pool)
    .await
    .expect("plan");
    assert!(
        plan.iter().any(|(.., d)| d.contains("games_league")),
        "a league's games are listed from the index: {plan:?}"
    );
    store.close().await;
}
