//! A demo restarted on the same database carries on where it was: the
//! replay resumes after the last stored state instead of republishing the
//! week (which would duplicate score history and move scores backwards).

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

/// Publishes the replay's snapshots from index `from` on, keeping their
/// spacing: the first one at once, the rest as `Replay::run` would.
pub(super) async fn replay_from(
    replay: &Replay,
    from: usize,
    publisher: &mut Publisher,
    cancel: &CancellationToken,
) -> Result<(), BusError> {
    if from == 0 {
        return replay.run(publisher, cancel).await;
    }
    let snapshots = replay.snapshots().get(from..).unwrap_or_default();
    let Some(origin) = snapshots.first().map(|s| s.offset) else {
        return Ok(()); // the stored state is the week's end
    };
    let start = tokio::time::Instant::now();
    for snap in snapshots {
        tokio::select! {
            biased;
            // Shutdown: stop at once; the rest of the week is not shown.
            () = cancel.cancelled() => return Ok(()),
            // This state's moment has come.
            () = tokio::time::sleep_until(start + (snap.offset - origin)) => {}
        }
        publisher.push(snap.week.clone(), snap.at).await?;
    }
    Ok(())
}
