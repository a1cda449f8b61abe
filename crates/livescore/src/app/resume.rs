//! A demo restarted on the same database carries on where it was: the
//! replay resumes after the last stored state instead of republishing the
//! week (which would duplicate score history and move scores backwards).

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bus::BusError;
use crate::feed::replay::Replay;
use crate::feed::{Publisher, Tracker};
use crate::store::FeedState;

/// Where a replay carries on from after a restart on the same database: the
/// snapshot after the one whose games equal the last stored `scores` update
/// (one event per snapshot, so never half of one), with the tracker resumed
/// there so nothing already published is published again and ScoreEvent
/// ids continue. A database holding a state this replay never shows (another
/// feed's) gets a warning and the replay from its start.
pub(super) fn replay_resume_point(replay: &Replay, state: Option<&FeedState>) -> (Tracker, usize) {
    let Some(state) = state else {
        return (Tracker::new(), 0);
    };
    let snapshots = replay.snapshots();
    match snapshots
        .iter()
        .rposition(|s| s.week.games == state.week.games)
    {
        Some(i) => {
            tracing::info!(
                snapshot = i,
                of = snapshots.len(),
                "resuming the replay from the stored state"
            );
            let tracker = Tracker::resume(state.week.clone(), state.score_changes.clone());
            (tracker, i + 1)
        }
        None => {
            tracing::warn!("the database holds a state this replay never shows; replaying from the start (use a new --database-url for a clean demo)");
            (Tracker::new(), 0)
        }
    }
}

/// A replay that has published its first board and plays the rest from
/// there: the board is on the bus before the server says it is listening,
/// so a client (or a script) that asks right after that line gets the week,
/// never an empty list (a test reading `/api/` at once saw one).
#[derive(Clone)]
pub(super) struct Started {
    /// Index of the next snapshot to publish.
    next: usize,
    /// The first one's offset and when it was published: the rest keep
    /// their spacing from there.
    origin: Duration,
    start: Instant,
}

/// Publishes snapshot `from` at once (nothing when the stored state is the
/// week's end) and says where the rest starts.
pub(super) async fn replay_first(
    replay: &Replay,
    from: usize,
    publisher: &mut Publisher,
) -> Result<Started, BusError> {
    let start = Instant::now();
    let Some(first) = replay.snapshots().get(from) else {
        return Ok(Started {
            next: from,
            // Nothing left to play: no part in a shared clock (`align`).
            origin: Duration::MAX,
            start,
        });
    };
    publisher.push(first.week.clone(), first.at).await?;
    Ok(Started {
        next: from + 1,
        origin: first.offset,
        start,
    })
}

/// Puts replays started together on one clock: each plays the rest of
/// its recording at its offset from the earliest first snapshot among
/// them, so leagues recorded together keep their timing against each
/// other (every first board went out at once).
pub(super) fn align(started: &mut [Started]) {
    let Some(origin) = started.iter().map(|s| s.origin).min() else {
        return;
    };
    let start = started
        .iter()
        .map(|s| s.start)
        .min()
        .unwrap_or_else(Instant::now);
    for s in started {
        s.origin = origin;
        s.start = start;
    }
}

/// Publishes the snapshots after the first, keeping their spacing from it.
pub(super) async fn replay_rest(
    replay: &Replay,
    started: Started,
    publisher: &mut Publisher,
    cancel: &CancellationToken,
) -> Result<(), BusError> {
    let snapshots = replay.snapshots().get(started.next..).unwrap_or_default();
    for snap in snapshots {
        let due = started.start + snap.offset.saturating_sub(started.origin);
        tokio::select! {
            biased;
            // Shutdown: stop at once; the rest of the week is not shown.
            () = cancel.cancelled() => return Ok(()),
            // This state's moment has come.
            () = tokio::time::sleep_until(due) => {}
        }
        publisher.push(snap.week.clone(), snap.at).await?;
    }
    Ok(())
}
