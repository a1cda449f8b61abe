//! `livescore record`: polls a feed like `ingest` and keeps every document
//! that differs from the one before as a file of a recording (see
//! [`super::recording`]), to replay later for demos, tests and
//! post-mortems.
//!
//! Only documents that parse are kept, so a recording always replays; a
//! rejected one is logged with its reason (like the poller, it is not
//! remembered, so its fix is fetched in full). Each file is written to a
//! temporary name and renamed, so a recorder killed mid-write never leaves
//! half a document under a real name. Polling follows the games as the
//! poller does (fast while live, sleeping towards the next kickoff).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fetch::{Fetched, Fetcher};
use super::{format, recording, schedule, FeedError};
use crate::model::Game;

/// One document saved.
#[derive(Debug, Clone)]
pub struct Saved {
    /// Where it was written.
    pub path: PathBuf,
    /// Games in it.
    pub games: usize,
    /// Of those, how many are over (final, final OT, canceled).
    pub over: usize,
}

/// Polls one feed into one directory.
pub struct Recorder {
    fetcher: Fetcher,
    out: PathBuf,
    interval: Duration,
    until_final: bool,
    /// The last document saved, to skip identical ones (a server without
    /// validators sends the same bytes again).
    last: Option<Bytes>,
    /// When the first document was saved: offsets count from it.
    first: Option<Instant>,
    games: Vec<Game>,
}

/// True once a game will not change any more today.
fn over(game: &Game) -> bool {
    game.state.is_over()
}

impl Recorder {
    /// A recorder of `fetcher`'s feed into `out`, polling at `interval`
    /// while games are on; with `until_final` it stops once every game of
    /// a saved document is over. `out` is created if missing and must hold
    /// no recorded document yet: two recordings in one directory would
    /// interleave into nonsense.
    pub fn new(
        fetcher: Fetcher,
        out: &Path,
        interval: Duration,
        until_final: bool,
    ) -> Result<Recorder, FeedError> {
        let io = |e: std::io::Error| FeedError::Recording(format!("{}: {e}", out.display()));
        std::fs::create_dir_all(out).map_err(io)?;
        let existing = std::fs::read_dir(out)
            .map_err(io)?
            .filter_map(Result::ok)
            .any(|e| !recording::is_temporary(&e.file_name().to_string_lossy()));
        if existing {
            return Err(FeedError::Recording(format!(
                "{}: not empty; record into a new directory",
                out.display()
            )));
        }
        Ok(Recorder {
            fetcher,
            out: out.to_path_buf(),
            interval,
            until_final,
            last: None,
            first: None,
            games: Vec::new(),
        })
    }

    /// Counts offsets from `origin` rather than from its first document:
    /// several feeds recorded together share one clock, so their replay
    /// keeps their timing against each other.
    pub fn with_origin(mut self, origin: Instant) -> Self {
        self.first = Some(origin);
        self
    }

    /// Polls until `cancel` (or, with `until_final`, until every game is
    /// over), calling `on_saved` after each document written. A document
    /// that cannot be fetched or parsed is logged and skipped; a file that
    /// cannot be written ends the recording with that error.
    pub async fn run(
        mut self,
        cancel: CancellationToken,
        mut on_saved: impl FnMut(&Saved),
    ) -> Result<(), FeedError> {
        loop {
            let fetched = tokio::select! {
                // Stopped: a fetch in flight is abandoned; every file
                // already written is whole.
                _ = cancel.cancelled() => return Ok(()),
                fetched = self.fetcher.fetch() => fetched,
            };
            match self.take(fetched).map_err(|err| self.fetcher.shown(err)) {
                Ok(Some(saved)) => {
                    on_saved(&saved);
                    if self.until_final && saved.games > 0 && saved.over == saved.games {
                        return Ok(());
                    }
                }
                Ok(None) => {}
                Err(err @ FeedError::Recording(_)) => return Err(err),
                Err(err) => tracing::warn!(%err, "feed document not recorded"),
            }
            let delay = schedule::next_poll(&self.games, Utc::now(), self.interval);
            tokio::select! {
                // Stopped while waiting for the next poll.
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Saves a fetched document if it is new and parses.
    fn take(&mut self, fetched: Result<Fetched, FeedError>) -> Result<Option<Saved>, FeedError> {
        let (body, validators) = match fetched? {
            Fetched::NotModified => return Ok(None),
            Fetched::Document { body, validators } => (body, validators),
        };
        if self.last.as_ref() == Some(&body) {
            self.fetcher.accept(validators);
            return Ok(None);
        }
        let format = match self.fetcher.source().format {
            Some(format) => format,
            None => format::detect(&body)?,
        };
        let week = format::parse(&body, Some(format))?;
        self.fetcher.accept(validators);
        let now = Instant::now();
        let offset = now - *self.first.get_or_insert(now);
        let path = self.out.join(recording::file_name(offset, format));
        write_atomically(&path, &body)?;
        self.last = Some(body);
        let over = week.games.iter().filter(|g| over(g)).count();
        let games = week.games.len();
        self.games = week.games;
        Ok(Some(Saved { path, games, over }))
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, which is atomic on one filesystem: a reader (or a replay
/// after a crash) sees the whole document or none.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FeedError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let io = |e: std::io::Error| FeedError::Recording(format!("{}: {e}", path.display()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::fetch::FetchConfig;
    use crate::feed::poller::Source;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).expect("fixture")
    }

    fn doc(name: &str) -> Result<Fetched, FeedError> {
        Ok(Fetched::Document {
            body: Bytes::from(fixture(name)),
            validators: Default::default(),
        })
    }

    fn recorder(feed: &Path, out: &Path) -> Result<Recorder, FeedError> {
        let source = Source::parse(feed.to_str().expect("utf8")).expect("path");
        let fetcher = Fetcher::new(source, FetchConfig::default()).expect("fetcher");
        Recorder::new(fetcher, out, Duration::from_secs(15), true)
    }

    fn name(saved: &Saved) -> String {
        let name = saved.path.file_name().expect("name");
        name.to_string_lossy().into_owned()
    }

    /// Pregame, pregame again, a bad document, midday, a 304, final: three
    /// files at their offsets; the repeat, the bad one and the 304 skipped.
    #[tokio::test(start_paused = true)]
    async fn each_new_good_document_is_saved_at_its_offset() {
        let dir = std::env::temp_dir().join(format!("livescore-record-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("out");
        let mut rec = recorder(&dir.join("unused.json"), &out).expect("recorder");
        let mut take = |fetched| rec.take(fetched).expect("good or skipped");

        let first = take(doc("espn-2015-w1-pregame.json")).expect("saved");
        assert_eq!(
            (name(&first), first.games, first.over),
            ("0.json".into(), 16, 0)
        );
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(
            take(doc("espn-2015-w1-pregame.json")).is_none(),
            "same bytes"
        );
        let bad = rec.take(doc("espn-malformed-truncated.json"));
        assert!(matches!(bad, Err(FeedError::Syntax { .. })), "{bad:?}");
        tokio::time::advance(Duration::from_millis(1500)).await;
        let mut take = |fetched| rec.take(fetched).expect("good or skipped");
        let midday = take(doc("espn-2015-w1-midday.json")).expect("saved");
        assert_eq!((name(&midday), midday.over), ("3000.json".into(), 1));
        assert!(take(Ok(Fetched::NotModified)).is_none());
        tokio::time::advance(Duration::from_secs(60)).await;
        let fin = take(doc("espn-2015-w1-final.json")).expect("saved");
        assert_eq!((name(&fin), fin.over), ("63000.json".into(), 16));

        assert_eq!(
            std::fs::read(out.join("63000.json")).expect("saved"),
            fixture("espn-2015-w1-final.json")
        );
        assert_eq!(
            std::fs::read_dir(&out).expect("dir").count(),
            3,
            "no temp file left"
        );
        let again = recorder(&dir.join("unused.json"), &out);
        assert!(matches!(again, Err(FeedError::Recording(e)) if e.contains("not empty")));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test(start_paused = true)]
    async fn until_final_stops_once_every_game_is_over() {
        let dir = std::env::temp_dir().join(format!("livescore-record-f-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let feed = dir.join("ss.xml");
        std::fs::write(&feed, fixture("ss-2015-w1-final.xml")).expect("write");
        let rec = recorder(&feed, &dir.join("out")).expect("recorder");
        let mut saved = Vec::new();
        rec.run(CancellationToken::new(), |s| saved.push(name(s)))
            .await
            .expect("ends by itself");
        assert_eq!(saved, ["0.xml"]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
