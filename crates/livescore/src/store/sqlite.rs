//! `SqliteStore`: the embedded default (`sqlite://PATH`, `sqlite::memory:`).
//!
//! WAL mode, so readers (HTTP history requests, start-up) never wait on the
//! writer and a commit costs no fsync of the whole file; `synchronous =
//! NORMAL` keeps committed batches across a process crash (only a power
//! loss may take the last ones, which the id gap at restart covers).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::QueryBuilder;

use super::rows::{self, Batch, ScoreColumns, SCORE_COLUMNS};
use super::{redact, Store, StoreError};
use crate::bus::Envelope;
use crate::model::ScoreEvent;

/// How long a statement waits for another connection's write lock before
/// failing (and the writer retrying); SQLite has one writer at a time.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Pool size: one writer plus a few concurrent history readers.
const MAX_CONNECTIONS: u32 = 4;
/// Rows per INSERT: at 14 columns, 14 × 200 parameters stays far under
/// SQLite's limit of 32,766 bound variables per statement.
const ROWS_PER_STATEMENT: usize = 200;

/// The SQLite store.
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let shown = redact(url);
        let open_err = |source| StoreError::Open {
            url: shown.clone(),
            source,
        };
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut opts = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        if !memory {
            opts = opts
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
        }
        // An in-memory database lives as long as its one connection: keep
        // exactly one, forever, or the data vanishes with an idle close.
        let pool_opts = if memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let pool = pool_opts
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations/sqlite")
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
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        let (v,): (String,) = sqlx::query_as("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(v)
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let v: Option<(String,)> = sqlx::query_as("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(v.map(|(v,)| v))
    }

    async fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        match value {
            Some(v) => sqlx::query(
                "INSERT INTO meta (key, value) VALUES (?, ?) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(v),
            None => sqlx::query("DELETE FROM meta WHERE key = ?").bind(key),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn last_seq(&self, epoch: u64) -> Result<u64, StoreError> {
        let (seq,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM events WHERE epoch = ?")
                .bind(rows::to_i64(epoch))
                .fetch_one(&self.pool)
                .await?;
        Ok(seq.max(0) as u64)
    }

    async fn write(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Many rows per statement: each statement is a round trip to the
        // connection's worker thread, and under `--publish-ack stored` the
        // publishers wait for the whole transaction.
        let mut tx = self.pool.begin().await?;
        for chunk in batch.events.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO events (epoch, seq, topic, event, data, at) ",
            );
            q.push_values(chunk, |mut row, e| {
                row.push_bind(e.epoch)
                    .push_bind(e.seq)
                    .push_bind(&e.topic)
                    .push_bind(&e.event)
                    .push_bind(&e.data)
                    .push_bind(e.at);
            });
            q.push(" ON CONFLICT (epoch, seq) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        for chunk in batch.games.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO games (eid, league, data, epoch, seq, updated_at) ",
            );
            q.push_values(chunk, |mut row, g| {
                row.push_bind(&g.eid)
                    .push_bind(&g.league)
                    .push_bind(&g.data)
                    .push_bind(g.epoch)
                    .push_bind(g.seq)
                    .push_bind(g.at);
            });
            q.push(
                " ON CONFLICT (eid) DO UPDATE SET league = excluded.league, data = excluded.data, \
                 epoch = excluded.epoch, seq = excluded.seq, updated_at = excluded.updated_at \
                 WHERE (games.epoch, games.seq) < (excluded.epoch, excluded.seq)",
            );
            q.build().execute(&mut *tx).await?;
        }
        for chunk in batch.scores.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO score_events (id, eid, team, points, league, quarter, period, \
                 period_label, clock, home_score, away_score, at, epoch, seq) ",
            );
            q.push_values(chunk, |mut row, s| {
                let ev = &s.score;
                row.push_bind(&ev.id)
                    .push_bind(&ev.eid)
                    .push_bind(&ev.team)
                    .push_bind(ev.points)
                    .push_bind(&ev.league)
                    .push_bind(ev.quarter.as_str())
                    .push_bind(i32::from(ev.period))
                    .push_bind(&ev.period_label)
                    .push_bind(&ev.clock)
                    .push_bind(i32::from(ev.home_score))
                    .push_bind(i32::from(ev.away_score))
                    .push_bind(ev.at)
                    .push_bind(s.epoch)
                    .push_bind(s.seq);
            });
            q.push(" ON CONFLICT (id) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn recent(&self, epoch: u64, per_topic: u32) -> Result<Vec<Envelope>, StoreError> {
        let found: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT seq, topic, event, data FROM ( \
               SELECT seq, topic, event, data, \
                 ROW_NUMBER() OVER (PARTITION BY topic ORDER BY seq DESC) AS rn \
               FROM events WHERE epoch = ?) \
             WHERE rn <= ? ORDER BY seq",
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
             WHERE topic = ? AND event = ? AND epoch = ? ORDER BY seq DESC LIMIT 1",
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
            sqlx::query_as("SELECT eid, COUNT(*) FROM score_events WHERE seq < ? GROUP BY eid")
                .bind(rows::to_i64(before_seq))
                .fetch_all(&self.pool)
                .await?;
        Ok(found
            .into_iter()
            .map(|(eid, n)| (eid, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }

    async fn has_game(&self, eid: &str) -> Result<bool, StoreError> {
        let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM games WHERE eid = ?")
            .bind(eid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn score_events(&self, eid: &str) -> Result<Vec<ScoreEvent>, StoreError> {
        let found: Vec<ScoreColumns> = sqlx::query_as(&format!(
            "SELECT {SCORE_COLUMNS} FROM score_events WHERE eid = ? ORDER BY epoch, seq"
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
        // A range on `topic` (binary collation: exactly the `chat/` prefix)
        // so both deletes walk the topic index, not the whole log.
        let mut deleted = 0;
        if let Some(before) = before {
            deleted += sqlx::query(
                "DELETE FROM events WHERE topic >= 'chat/' AND topic < 'chat0' \
                 AND event = 'chat' AND at < ?",
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
                     FROM events WHERE topic >= 'chat/' AND topic < 'chat0' \
                       AND event = 'chat') \
                   WHERE rn > ?)",
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

#[cfg(test)]
mod tests;
