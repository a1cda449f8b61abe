//! A recorded feed on disk: one file per document that differed from the
//! one before, named `<milliseconds since the first document>.<json|xml>`
//! (the first is `0.json`), written by `livescore record` and played back
//! by `demo --replay` and `serve --feed-replay`.
//!
//! Loading parses every document up front, through the same format seam
//! as a live feed, so a recording with a bad document fails at start
//! naming the file and the reason, never halfway through a demo. Playing
//! back is [`Replay::run`]: the tracker and publisher are the live ones.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use super::replay::{Replay, Snapshot};
use super::{format, FeedError, Format};

/// One recorded document's file name: `<ms>.<ext>`.
pub fn file_name(offset: Duration, format: Format) -> String {
    format!("{}.{}", offset.as_millis(), format.extension())
}

/// The offset and format a file name stands for, or `None` when it is not
/// a recorded document's name.
fn parse_name(name: &str) -> Option<(u64, Format)> {
    let (ms, ext) = name.split_once('.')?;
    if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((ms.parse().ok()?, Format::from_extension(ext)?))
}

/// True for a temporary file a recorder writes before renaming it; a
/// recording cut by a crash may hold one, and it is not a document.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
}

/// The recorded documents of `dir`, sorted by offset: (offset in ms, path,
/// format). Any other file is an error, so a typo'd or foreign directory
/// is refused instead of half played.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf, Format)>, FeedError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| FeedError::Recording(format!("{}: {e}", dir.display())))?;
    let mut docs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| FeedError::Recording(format!("{}: {e}", dir.display())))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_temporary(&name) {
            continue;
        }
        let (ms, format) = parse_name(&name).ok_or_else(|| {
            FeedError::Recording(format!(
                "{}: not a recorded document (expected <milliseconds>.json or .xml)",
                entry.path().display()
            ))
        })?;
        docs.push((ms, entry.path(), format));
    }
    docs.sort_by_key(|(ms, _, _)| *ms);
    if let Some(pair) = docs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(FeedError::Recording(format!(
            "{} and {}: two documents at one offset",
            pair[0].1.display(),
            pair[1].1.display()
        )));
    }
    Ok(docs)
}

/// The replays of a recorded directory when `recording` is given (one per
/// league: see [`load_tree`]), else the embedded 2015 week; at `speed`
/// times real time.
pub fn open(speed: f64, recording: Option<&Path>) -> Result<Vec<Replay>, FeedError> {
    match recording {
        Some(dir) => load_tree(dir, speed),
        None => Ok(vec![Replay::new(speed)?]),
    }
}

/// A recording of one feed (documents in `dir`), or of several: one
/// sub-directory per feed (`record --feed a,b --out DIR`), played together
/// on one clock. Two sub-directories of one league are refused: their
/// boards would overwrite each other.
pub fn load_tree(dir: &Path, speed: f64) -> Result<Vec<Replay>, FeedError> {
    let io = |e: std::io::Error| FeedError::Recording(format!("{}: {e}", dir.display()));
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    if subdirs.is_empty() {
        return Ok(vec![load(dir, speed)?]);
    }
    subdirs.sort();
    let mut replays: Vec<Replay> = Vec::with_capacity(subdirs.len());
    for sub in &subdirs {
        let replay = load(sub, speed)?;
        let league = replay.league().to_owned();
        if replays.iter().any(|r| r.league() == league) {
            return Err(FeedError::Recording(format!(
                "{}: a second recording of league {league}",
                sub.display()
            )));
        }
        replays.push(replay);
    }
    Ok(replays)
}

/// Loads the recording in `dir` as a replay whose documents come at their
/// recorded offsets divided by `speed`. Fails on the first file that cannot
/// be read or parsed, naming it and the reason.
pub fn load(dir: &Path, speed: f64) -> Result<Replay, FeedError> {
    if !(speed.is_finite() && speed > 0.0) {
        return Err(FeedError::Recording(format!(
            "speed must be a positive number, not {speed}"
        )));
    }
    let docs = list(dir)?;
    if docs.is_empty() {
        return Err(FeedError::Recording(format!(
            "{}: no recorded documents",
            dir.display()
        )));
    }
    // ScoreEvents are stamped with when the replay shows them.
    let start = Utc::now();
    let mut snapshots = Vec::with_capacity(docs.len());
    for (ms, path, format) in docs {
        let bytes = std::fs::read(&path)
            .map_err(|e| FeedError::Recording(format!("{}: {e}", path.display())))?;
        let week = format::parse(&bytes, Some(format))
            .map_err(|e| FeedError::Recording(format!("{}: {e}", path.display())))?;
        let offset = Duration::from_secs_f64(ms as f64 / 1000.0 / speed);
        let at = start + chrono::Duration::from_std(offset).unwrap_or(chrono::Duration::zero());
        snapshots.push(Snapshot { offset, at, week });
    }
    Ok(Replay::from_snapshots(snapshots))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let dir = std::env::temp_dir()
                .join(format!("livescore-recording-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("dir");
            Dir(dir)
        }
        fn put(&self, name: &str, fixture: &str) {
            let from = format!(
                "{}/../../tests/fixtures/{fixture}",
                env!("CARGO_MANIFEST_DIR")
            );
            std::fs::copy(from, self.0.join(name)).expect("copy");
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_tree_is_one_replay_per_league_and_a_league_twice_is_refused() {
        let dir = Dir::new("tree");
        std::fs::create_dir_all(dir.0.join("nba")).expect("dir");
        std::fs::create_dir_all(dir.0.join("nfl")).expect("dir");
        dir.put("nba/0.json", "espn-sports/nba-2024-12-15-final.json");
        dir.put("nfl/0.json", "espn-2015-w1-pregame.json");
        dir.put("nfl/60000.xml", "ss-2015-w1-midday.xml");
        let replays = load_tree(&dir.0, 60.0).expect("loads");
        let leagues: Vec<&str> = replays.iter().map(|r| r.league()).collect();
        assert_eq!(leagues, ["nba", "nfl"]);
        assert_eq!(replays[1].snapshots().len(), 2);
        std::fs::create_dir_all(dir.0.join("nfl-again")).expect("dir");
        dir.put("nfl-again/0.xml", "ss-2015-w1-final.xml");
        let err = load_tree(&dir.0, 60.0).expect_err("twice").to_string();
        assert!(err.contains("a second recording of league nfl"), "{err}");
        // A flat directory is one recording, as before.
        let flat = Dir::new("flat");
        flat.put("0.json", "espn-2015-w1-pregame.json");
        assert_eq!(load_tree(&flat.0, 1.0).expect("flat").len(), 1);
    }

    #[test]
    fn names_round_trip() {
        let name = file_name(Duration::from_millis(90_250), Format::Espn);
        assert_eq!(name, "90250.json");
        assert_eq!(parse_name(&name), Some((90_250, Format::Espn)));
        assert_eq!(parse_name("0.xml"), Some((0, Format::Scorestrip)));
        for bad in ["x.json", "1.txt", "1", ".json", "-1.json"] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_recording_loads_in_offset_order_at_speed_and_mixes_formats() {
        let dir = Dir::new("good");
        dir.put("0.json", "espn-2015-w1-pregame.json");
        dir.put("120000.xml", "ss-2015-w1-midday.xml");
        dir.put("60000.json", "espn-2015-w1-midday.json");
        std::fs::write(dir.0.join(".9.json.tmp"), "half a docu").expect("tmp");
        let replay = load(&dir.0, 60.0).expect("loads");
        let offsets: Vec<_> = replay.snapshots().iter().map(|s| s.offset).collect();
        assert_eq!(
            offsets,
            [0, 1, 2].map(Duration::from_secs),
            "minutes at 60x are seconds"
        );
        assert_eq!(replay.snapshots()[1].week.games[1].eid, "405091300");
        assert_eq!(replay.snapshots()[2].week.games[1].eid, "2015091300");
    }

    #[test]
    fn a_bad_recording_fails_at_load_naming_the_file_and_the_reason() {
        let dir = Dir::new("bad");
        dir.put("0.json", "espn-2015-w1-pregame.json");
        dir.put("5000.json", "espn-malformed-badscore.json");
        let err = load(&dir.0, 1.0).expect_err("bad document").to_string();
        assert!(err.contains("5000.json: espn: game 405091302"), "{err}");

        let dir = Dir::new("foreign");
        dir.put("0.json", "espn-2015-w1-pregame.json");
        std::fs::write(dir.0.join("notes.txt"), "hi").expect("write");
        let err = load(&dir.0, 1.0).expect_err("foreign file").to_string();
        assert!(err.contains("notes.txt: not a recorded document"), "{err}");

        let dir = Dir::new("empty");
        let err = load(&dir.0, 1.0).expect_err("empty").to_string();
        assert!(err.contains("no recorded documents"), "{err}");
        let missing = dir.0.join("nope");
        assert!(load(&missing, 1.0).is_err());
        assert!(load(&dir.0, 0.0).is_err());
    }
}
