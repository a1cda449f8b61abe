//! The store: the durable record of what was published, behind one narrow
//! seam with two real implementations (SQLite, PostgreSQL), picked once
//! from the `--database-url`.
//!
//! It owns the schema (embedded migrations, run at open), the write of
//! batches of bus events (the event log that *is* the resume history, each
//! game's current state and every ScoreEvent, all derived here from the
//! events so no producer writes the database), and the reads a node needs
//! at start (epoch, next id, recent history, the feed's last state) and for
//! `/api/games/{eid}/events`. It never sits on the publish path: the
//! [`writer`] task writes behind the bus, so a slow database delays nobody.

pub mod postgres;
pub mod retention;
pub mod rows;
pub mod sqlite;
pub mod writer;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::bus::Envelope;
use crate::model::{self, Game, ScoreEvent, Week};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use writer::{StoreHandle, StoreHealth, WriterStatus};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no database we support.
    #[error("unsupported database URL {0:?}: use sqlite://PATH, sqlite::memory: or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
    /// The database could not be opened or reached at start.
    #[error("cannot open database {url}: {source}")]
    Open {
        /// The URL, password hidden.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The embedded migrations could not be applied.
    #[error("cannot migrate database {url}: {source}")]
    Migrate {
        /// The URL, password hidden.
        url: String,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed (database down, disk full, lock timeout).
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored value does not read back as what was written.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// `serve`'s database when none is given (SPEC).
pub const DEFAULT_URL: &str = "sqlite://livescore.db";

/// The SQLite database of one `demo` run without `--database-url`, in its
/// own temp directory (`livescore-demo-<pid>`), so each demo replays the
/// week from the start and concurrent demos never share a file. The path is
/// printed at start; a clean stop removes it, a crash leaves it, and passing
/// it back as `--database-url` resumes that demo.
#[derive(Debug)]
pub struct DemoDatabase {
    /// `sqlite://…/demo.db`.
    pub url: String,
    dir: std::path::PathBuf,
}

impl DemoDatabase {
    /// Makes the directory (the database file is created on open).
    pub fn create() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("livescore-demo-{}", std::process::id()));
        // A directory of this pid is a dead process's leftover: start clean.
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let url = format!("sqlite://{}", dir.join("demo.db").display());
        Ok(Self { url, dir })
    }

    /// Deletes the directory and the database in it.
    pub fn remove(self) {
        if let Err(err) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(%err, dir = %self.dir.display(), "cannot remove the demo database");
        }
    }
}

/// Meta key: the epoch of this database's history, set once.
pub const META_EPOCH: &str = "epoch";
/// Meta key: the last seq the previous run gave out *and* wrote, set only by
/// a shutdown that flushed everything; cleared at every start.
pub const META_CLEAN_SEQ: &str = "clean_seq";
/// Meta key: the seq this run's ids start after; ids are never handed out
/// at or below it again, even if none of this run's events reached the disk.
pub const META_SEQ_FLOOR: &str = "seq_floor";

/// Ids skipped after a run that did not shut down cleanly: at most this many
/// events can have been streamed but not written when it died (the writer's
/// queue plus the bus ring it refills from), so starting past them means an
/// id a client saw is never given to a different event.
pub const UNCLEAN_SEQ_GAP: u64 =
    (writer::QUEUE_CAPACITY + crate::bus::memory::RING_CAPACITY) as u64;

/// A persistent event log with derived game state and score history.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for `/healthz`.
    fn kind(&self) -> &'static str;

    /// The value under `key`, setting it to `value` first if absent, in one
    /// statement so two nodes starting together agree.
    async fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError>;

    /// Reads a meta value.
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets (or with `None` removes) a meta value.
    async fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), StoreError>;

    /// Highest seq written in `epoch` (0 when none).
    async fn last_seq(&self, epoch: u64) -> Result<u64, StoreError>;

    /// Writes a batch in one transaction. Idempotent: an event already
    /// stored (same id) is skipped, so a retried batch never duplicates.
    async fn write(&self, rows: &rows::Batch) -> Result<(), StoreError>;

    /// The last `per_topic` events of every topic in `epoch`, oldest first.
    async fn recent(&self, epoch: u64, per_topic: u32) -> Result<Vec<Envelope>, StoreError>;

    /// The latest `event` on `topic` in `epoch`.
    async fn latest(
        &self,
        epoch: u64,
        topic: &str,
        event: &str,
    ) -> Result<Option<Envelope>, StoreError>;

    /// Score changes per game recorded before `seq` (for the feed tracker,
    /// whose ScoreEvent ids count them).
    async fn score_counts(&self, before_seq: u64) -> Result<HashMap<String, u32>, StoreError>;

    /// Whether a game's state was ever stored.
    async fn has_game(&self, eid: &str) -> Result<bool, StoreError>;

    /// A game's ScoreEvents, oldest first.
    async fn score_events(&self, eid: &str) -> Result<Vec<ScoreEvent>, StoreError>;

    /// Deletes chat messages (event `chat` on `chat/…` topics) stored
    /// before `before` and, per game, all but the newest `keep`; `None`
    /// leaves that bound off. Returns how many were deleted.
    async fn prune_chat(
        &self,
        before: Option<DateTime<Utc>>,
        keep: Option<u32>,
    ) -> Result<u64, StoreError>;

    /// A cheap round trip, for `/healthz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes the pool; later calls fail.
    async fn close(&self);
}

/// Opens the database named by `url`, creating a SQLite file if missing,
/// and runs the migrations. Fails at once on a bad URL or a database that
/// cannot be reached, so a misconfigured node never starts serving.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::BadUrl(redact(url)))
    }
}

/// `url` with any password replaced by `***`, safe to print and log.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some(parts) => parts,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Where a node's history stands at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// The epoch of this database's ids.
    pub epoch: u64,
    /// The last seq written (the hub is warmed up to it).
    pub last_seq: u64,
    /// The bus gives ids after this one; above `last_seq` when the previous
    /// run died with events streamed but not written.
    pub base_seq: u64,
}

/// Reads (or, for a new database, creates) the epoch and decides where ids
/// continue, recording it so a crash before anything is written still never
/// reuses an id.
pub async fn begin(store: &dyn Store, fresh_epoch: u64) -> Result<History, StoreError> {
    let epoch_text = store
        .init_meta(META_EPOCH, &fresh_epoch.to_string())
        .await?;
    let epoch: u64 = epoch_text
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("epoch {epoch_text:?}")))?;
    let last_seq = store.last_seq(epoch).await?;
    let read_u64 = |v: Option<String>| v.and_then(|s| s.parse::<u64>().ok());
    let floor = read_u64(store.meta(META_SEQ_FLOOR).await?).unwrap_or(0);
    let clean = read_u64(store.meta(META_CLEAN_SEQ).await?);
    let top = last_seq.max(floor);
    let base_seq = match clean {
        Some(c) if c >= top => c,
        _ if top == 0 => 0,
        _ => top + UNCLEAN_SEQ_GAP,
    };
    store
        .set_meta(META_SEQ_FLOOR, Some(&base_seq.to_string()))
        .await?;
    store.set_meta(META_CLEAN_SEQ, None).await?;
    Ok(History {
        epoch,
        last_seq,
        base_seq,
    })
}

/// The feed's last published state, for a tracker that resumes instead of
/// republishing everything.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedState {
    /// The whole week as in the last `scores` update stored.
    pub week: Week,
    /// Score changes per game published before that update.
    pub score_changes: HashMap<String, u32>,
}

/// The last complete feed state: the newest stored `scores` update (one
/// event per feed document, so never half a document) and the score
/// changes that preceded it. Score events of a document whose update was
/// not stored are counted out, so the tracker re-derives them with the same
/// ids and the history has each change once.
///
/// The board is `league`'s (`scores/{league}`); a database written before
/// leagues has only `scores`, of one league, which is taken when its games
/// are of `league`.
pub async fn feed_state(
    store: &dyn Store,
    epoch: u64,
    league: &str,
) -> Result<Option<FeedState>, StoreError> {
    let mut update = store
        .latest(epoch, &model::board_topic(league), model::EVENT_UPDATE)
        .await?;
    if update.is_none() {
        update = store
            .latest(epoch, model::TOPIC_SCORES, model::EVENT_UPDATE)
            .await?;
    }
    let Some(update) = update else {
        return Ok(None);
    };
    let games: Vec<Game> = serde_json::from_slice(&update.data)
        .map_err(|e| StoreError::Corrupt(format!("scores update {}: {e}", update.id)))?;
    if games.iter().any(|g| g.league != league) {
        return Ok(None);
    }
    let Some(week) = Week::of_games(games) else {
        return Ok(None);
    };
    let score_changes = store.score_counts(update.id.seq).await?;
    Ok(Some(FeedState {
        week,
        score_changes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_log() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/livescore"),
            "postgres://app:***@db:5432/livescore"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
