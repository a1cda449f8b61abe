//! Every league's score changes through the `Store` seam: an NBA score
//! change written on either backend reads back as the NBA's, and the
//! PostgreSQL upgrade fills rows stored before leagues exactly as the model
//! reads a quarter (the SQLite twin is a unit test in `store/sqlite`).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use common::{PgSchema, TempDir};
use livescore::bus::Envelope;
use livescore::model::{EventId, Quarter, ScoreEvent};
use livescore::store;
use livescore::store::rows::Batch;
use sqlx::migrate::Migrator;

const EPOCH: u64 = 0x19b_0000_0000;

/// Every spelling the quarter column can hold.
const QUARTERS: [&str; 10] = ["P", "1", "2", "3", "4", "5", "H", "F", "FO", "S"];

fn env(seq: u64, topic: &str, event: &str, data: String) -> Arc<Envelope> {
    Arc::new(Envelope {
        id: EventId::new(EPOCH, seq),
        topic: topic.into(),
        event: event.into(),
        data: Bytes::from(data),
        published_us: 0,
    })
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("date")
        .with_timezone(&Utc)
}

/// A score change of an NBA game: period 6 is the second overtime, which
/// the coarse quarter can only call `5`.
fn nba(n: u32, period: u8, label: &str, home: u16) -> ScoreEvent {
    ScoreEvent {
        id: format!("401-{n}"),
        eid: "401".into(),
        team: "BOS".into(),
        points: 3,
        league: "nba".into(),
        quarter: if period > 4 {
            Quarter::Period(5)
        } else {
            Quarter::Period(period)
        },
        period,
        period_label: Some(label.into()),
        clock: Some("00:01.2".into()),
        home_score: home,
        away_score: 118,
        at: at("2024-12-15T03:00:00Z"),
    }
}

#[tokio::test]
async fn an_nba_score_change_reads_back_as_the_nbas_on_both_backends() {
    let dir = TempDir::new("leagues");
    let sqlite_url = format!("sqlite://{}/t.db", dir.path().display());
    let pg = PgSchema::new();
    for url in [sqlite_url.as_str(), pg.url.as_str()] {
        let s = store::open(url).await.expect("open");
        let game = serde_json::json!({"eid": "401", "league": "nba", "sport": "basketball"});
        let written = vec![nba(1, 3, "Q3", 80), nba(2, 6, "2OT", 121)];
        let events = vec![
            env(1, "game/401", "game", game.to_string()),
            env(
                2,
                "game/401",
                "score",
                serde_json::to_string(&written[0]).expect("json"),
            ),
            env(
                3,
                "game/401",
                "score",
                serde_json::to_string(&written[1]).expect("json"),
            ),
        ];
        s.write(&Batch::from_events(&events, Utc::now()))
            .await
            .expect("write");
        assert_eq!(
            s.score_events("401").await.expect("read"),
            written,
            "{}: league, period and label as written",
            s.kind()
        );
        s.close().await;
        // The games row names its league, for listing a league's games.
        let league: String = if url.starts_with("sqlite") {
            let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
            let l = sqlx::query_scalar("SELECT league FROM games WHERE eid = '401'")
                .fetch_one(&pool)
                .await
                .expect("league");
            pool.close().await;
            l
        } else {
            let pool = sqlx::PgPool::connect(url).await.expect("connect");
            let l = sqlx::query_scalar("SELECT league FROM games WHERE eid = '401'")
                .fetch_one(&pool)
                .await
                .expect("league");
            pool.close().await;
            l
        };
        assert_eq!(league, "nba", "{url}");
    }
}

/// A score event as the log holds it, with `extra` fields.
fn logged(id: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","eid":"g","team":"BOS","points":3,"quarter":"5",{extra}"clock":null,"home_score":120,"away_score":118,"at":"2024-12-15T03:00:00Z"}}"#
    )
}

#[tokio::test]
async fn the_postgres_upgrade_fills_old_rows_as_the_model_reads_a_quarter() {
    let pg = PgSchema::new();
    // The first schema only, as the release before leagues left it.
    let scratch = TempDir::new("pg-init");
    let init = "20261125000001_init.sql";
    std::fs::copy(
        format!(
            "{}/crates/livescore/migrations/postgres/{init}",
            env!("CARGO_MANIFEST_DIR")
        ),
        scratch.path().join(init),
    )
    .expect("copy the first migration");
    let pool = sqlx::PgPool::connect(&pg.url).await.expect("connect");
    Migrator::new(scratch.path())
        .await
        .expect("first migration")
        .run(&pool)
        .await
        .expect("migrate to the first schema");
    let mut seed = String::new();
    let score = |id: &str, quarter: &str, seq: usize| {
        format!(
            "INSERT INTO score_events (id, eid, team, points, quarter, clock, home_score, \
             away_score, at, epoch, seq) VALUES ('{id}', 'g', 'NE', 7, '{quarter}', NULL, 7, 0, \
             '2015-09-11T00:51:02Z', 1, {seq});"
        )
    };
    // No event in the log: read from the quarter.
    for (i, q) in QUARTERS.iter().enumerate() {
        seed += &score(&format!("g-{}", i + 1), q, i + 1);
    }
    // In the log: today's release (NBA double overtime), an event from
    // before leagues, a null label, and a document jsonb refuses.
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
        (14, logged("g-14", r#""league":"nba","team":"\u0000","#)),
    ];
    for (seq, data) in &log {
        seed += &format!(
            "INSERT INTO events (epoch, seq, topic, event, data, at) VALUES \
             (1, {seq}, 'game/g', 'score', '{data}', '2024-12-15T03:00:00Z');"
        );
        seed += &score(&format!("g-{seq}"), "5", *seq);
    }
    for (eid, data) in [
        ("old", r#"{"eid":"old","quarter":"F"}"#),
        ("nba", r#"{"eid":"nba","league":"nba","quarter":"F"}"#),
        ("bad", "not json"),
    ] {
        seed += &format!(
            "INSERT INTO games (eid, data, epoch, seq, updated_at) \
             VALUES ('{eid}', '{data}', 1, 1, '2015-09-11T00:51:02Z');"
        );
    }
    sqlx::raw_sql(&seed).execute(&pool).await.expect("seed");

    let s = store::open(&pg.url)
        .await
        .expect("the upgrade runs at open");
    let events = s.score_events("g").await.expect("read back");
    assert_eq!(events.len(), QUARTERS.len() + log.len());
    for (ev, q) in events.iter().zip(QUARTERS) {
        let quarter: Quarter = q.parse().expect("quarter");
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
            ("nhl", 0, None),
            ("nfl", 5, Some("OT")),
        ],
        "what was published wins; what it did not say comes from the quarter"
    );
    let leagues: Vec<(String, String)> =
        sqlx::query_as("SELECT eid, league FROM games ORDER BY eid")
            .fetch_all(&pool)
            .await
            .expect("games");
    let leagues: Vec<(&str, &str)> = leagues
        .iter()
        .map(|(e, l)| (e.as_str(), l.as_str()))
        .collect();
    assert_eq!(leagues, [("bad", "nfl"), ("nba", "nba"), ("old", "nfl")]);
    let helper: Option<String> = sqlx::query_scalar(
        "SELECT proname::TEXT FROM pg_proc WHERE proname = 'livescore_try_jsonb'",
    )
    .fetch_optional(&pool)
    .await
    .expect("pg_proc");
    assert_eq!(helper, None, "the migration's helper is gone");
    s.close().await;
    pool.close().await;
}
