//! `PostgresStore`: the production store (`postgres://…`).
//!
//! A batch is three statements whatever its size (`INSERT … SELECT FROM
//! UNNEST` of one array per column), so a burst costs a few round trips, not
//! one per event. A connection lost to a database restart is dropped by the
//! pool and replaced on the next write; the writer's retry covers the gap.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::rows::{self, Batch, ScoreColumns, SCORE_COLUMNS};
use super::{redact, Store, StoreError};
use crate::bus::Envelope;
use crate::model::ScoreEvent;

/// How long getting a connection may take before the call fails; bounds a
/// start-up against an unreachable host and each retry of the writer.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pool size: the writer plus concurrent history readers.
const MAX_CONNECTIONS: u32 = 8;

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let shown = redact(url);
        let open_err = |source| StoreError::Open {
            url: shown.clone(),
            source,
        };
        let opts: PgConnectOptions = url.parse().map_err(open_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                url: shown.clone(),
                source,
            })?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        let (v,): (String,) = sqlx::query_as("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(v)
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let v: Option<(String,)> = sqlx::query_as("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(v.map(|(v,)| v))
    }

    async fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        match value {
            Some(v) => sqlx::query(
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(key)
            .bind(v),
            None => sqlx::query("DELETE FROM meta WHERE key = $1").bind(key),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn last_seq(&self, epoch: u64) -> Result<u64, StoreError> {
        let (seq,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0)::BIGINT FROM events WHERE epoch = $1")
                .bind(rows::to_i64(epoch))
                .fetch_one(&self.pool)
                .await?;
        Ok(seq.max(0) as u64)
    }

    async fn write(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let ev = &batch.events;
        sqlx::query(
            "INSERT INTO events (epoch, seq, topic, event, data, at) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], \
                                  $5::TEXT[], $6::TIMESTAMPTZ[]) \
             ON CONFLICT (epoch, seq) DO NOTHING",
        )
        .bind(ev.iter().map(|e| e.epoch).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.seq).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.topic.clone()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.event.clone()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.data.clone()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.at).collect::<Vec<DateTime<Utc>>>())
        .execute(&mut *tx)
        .await?;
        if !batch.games.is_empty() {
            // One row per game in a batch: ON CONFLICT DO UPDATE may not
            // touch a row twice in one statement.
            let g = &batch.games;
            sqlx::query(
                "INSERT INTO games (eid, league, data, epoch, seq, updated_at) \
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], \
                                      $5::BIGINT[], $6::TIMESTAMPTZ[]) \
                 ON CONFLICT (eid) DO UPDATE SET league = EXCLUDED.league, data = EXCLUDED.data, \
                 epoch = EXCLUDED.epoch, seq = EXCLUDED.seq, updated_at = EXCLUDED.updated_at \
                 WHERE (games.epoch, games.seq) < (EXCLUDED.epoch, EXCLUDED.seq)",
            )
            .bind(g.iter().map(|r| r.eid.clone()).collect::<Vec<_>>())
            .bind(g.iter().map(|r| r.league.clone()).collect::<Vec<_>>())
            .bind(g.iter().map(|r| r.data.clone()).collect::<Vec<_>>())
            .bind(g.iter().map(|r| r.epoch).collect::<Vec<_>>())
            .bind(g.iter().map(|r| r.seq).collect::<Vec<_>>())
            .bind(g.iter().map(|r| r.at).collect::<Vec<DateTime<Utc>>>())
            .execute(&mut *tx)
            .await?;
        }
        if !batch.scores.is_empty() {
            let s: Vec<&ScoreEvent> = batch.scores.iter().map(|r| &r.score).collect();
            sqlx::query(
                "INSERT INTO score_events (id, eid, team, points, league, quarter, period, \
                 period_label, clock, home_score, away_score, at, epoch, seq) \
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::INTEGER[], \
                   $5::TEXT[], $6::TEXT[], $7::INTEGER[], $8::TEXT[], $9::TEXT[], \
                   $10::INTEGER[], $11::INTEGER[], $12::TIMESTAMPTZ[], $13::BIGINT[], \
                   $14::BIGINT[]) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(s.iter().map(|e| e.id.clone()).collect::<Vec<_>>())
            .bind(s.iter().map(|e| e.eid.clone()).collect::<Vec<_>>())
            .bind(s.iter().map(|e| e.team.clone()).collect::<Vec<_>>())
            .bind(s.iter().map(|e| e.points).collect::<Vec<i32>>())
            .bind(s.iter().map(|e| e.league.clone()).collect::<Vec<_>>())
            .bind(s.iter().map(|e| e.quarter.as_str()).collect::<Vec<_>>())
            .bind(s.iter().map(|e| i32::from(e.period)).collect::<Vec<_>>())
            .bind(
                s.iter()
                    .map(|e| e.period_label.clone())
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(
                s.iter()
                    .map(|e| e.clock.clone())
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(
                s.iter()
                    .map(|e| i32::from(e.home_score))
                    .collect::<Vec<_>>(),
            )
            .bind(
                s.iter()
                    .map(|e| i32::from(e.away_score))
                    .collect::<Vec<_>>(),
            )
            .bind(s.iter().map(|e| e.at).collect::<Vec<DateTime<Utc>>>())
            .bind(batch.scores.iter().map(|r| r.epoch).collect::<Vec<_>>())
            .bind(batch.scores.iter().map(|r| r.seq).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn recent(&self, epoch: u64, per_topic: u32) -> Result<Vec<Envelope>, StoreError> {
        let found: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT seq, topic, event, data FROM ( \
               SELECT seq, topic, event, data, \
                 ROW_NUMBER() OVER (PARTITION BY topic ORDER BY seq DESC) AS rn \
               FROM events WHERE epoch = $1) recent \
             WHERE rn <= $2 ORDER BY seq",
        )
        .bind(rows::to_i64(epoch))
        .bind(i64::from(per_topic))
        .fetch_all(&self.pool)
        .await?;
        let epoch = rows::to_i64(epoch);
        Ok(found
            .into_iter()
            .map(|(seq, topic, event, data)| rows::envelope(epoch, seq, topic, event, data))
            .collect())
    }

    async fn latest(
        &self,
        epoch: u64,
        topic: &str,
        event: &str,
    ) -> Result<Option<Envelope>, StoreError> {
        let found: Option<(i64, String, String, String)> = sqlx::query_as(
            "SELECT seq, topic, event, data FROM events \
             WHERE topic = $1 AND event = $2 AND epoch = $3 ORDER BY seq DESC LIMIT 1",
        )
        .bind(topic)
        .bind(event)
        .bind(rows::to_i64(epoch))
        .fetch_optional(&self.pool)
        .await?;
        let epoch = rows::to_i64(epoch);
        Ok(found.map(|(seq, topic, event, data)| rows::envelope(epoch, seq, topic, event, data)))
    }

    async fn score_counts(&self, before_seq: u64) -> Result<HashMap<String, u32>, StoreError> {
        let found: Vec<(String, i64)> =
            sqlx::query_as("SELECT eid, COUNT(*) FROM score_events WHERE seq < $1 GROUP BY eid")
                .bind(rows::to_i64(before_seq))
                .fetch_all(&self.pool)
                .await?;
        Ok(found
            .into_iter()
            .map(|(eid, n)| (eid, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }

    async fn has_game(&self, eid: &str) -> Result<bool, StoreError> {
        let found: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM games WHERE eid = $1")
            .bind(eid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn score_events(&self, eid: &str) -> Result<Vec<ScoreEvent>, StoreError> {
        let found: Vec<ScoreColumns> = sqlx::query_as(&format!(
            "SELECT {SCORE_COLUMNS} FROM score_events WHERE eid = $1 ORDER BY epoch, seq"
        ))
        .bind(eid)
        .fetch_all(&self.pool)
        .await?;
        found.into_iter().map(rows::score_event).collect()
    }

    async fn prune_chat(
        &self,
        before: Option<DateTime<Utc>>,
        keep: Option<u32>,
    ) -> Result<u64, StoreError> {
        // `LIKE` with `event` rather than a text range: under a linguistic
        // collation `/` may not sort where a byte range assumes.
        let mut deleted = 0;
        if let Some(before) = before {
            deleted += sqlx::query(
                "DELETE FROM events WHERE topic LIKE 'chat/%' AND event = 'chat' AND at < $1",
            )
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        if let Some(keep) = keep {
            deleted += sqlx::query(
                "DELETE FROM events WHERE (epoch, seq) IN ( \
                   SELECT epoch, seq FROM ( \
                     SELECT epoch, seq, ROW_NUMBER() OVER \
                       (PARTITION BY topic ORDER BY epoch DESC, seq DESC) AS rn \
                     FROM events WHERE topic LIKE 'chat/%' AND event = 'chat') ranked \
                   WHERE rn > $1)",
            )
            .bind(i64::from(keep))
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(deleted)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
