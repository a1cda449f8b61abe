//! One feed poller at a time across all nodes: the loop that runs the
//! poller only while this node holds the feed lease ([`crate::bus::lease`]:
//! in Redis or in a NATS key-value bucket, on the bus's own server).
//!
//! The holder renews every [`RENEW_EVERY`] while the node lives and hands
//! the lease back on shutdown; the others ask every [`RENEW_EVERY`], so when
//! the holder dies the next node takes over within [`LEASE_TTL`] plus that.
//! A holder that cannot renew (its server unreachable) stops polling before
//! its lease can have expired, so two nodes never poll at once for longer
//! than a clock's skew. It owns no feed logic: `run` drives whatever leading
//! means for the caller (in `app`: a poller resumed from the current state).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bus::lease::{Lease, LEASE_TTL};

/// How often the holder renews and the others ask; well under
/// [`LEASE_TTL`] so one slow round trip does not lose the lease.
pub const RENEW_EVERY: Duration = Duration::from_millis(1000);

/// Runs `lead` while this node holds the lease, until `cancel`. `lead` is
/// given a token cancelled when the lease is lost; it must end soon after.
pub async fn run<F, Fut>(mut lease: Box<dyn Lease>, cancel: CancellationToken, mut lead: F)
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        // Follower: ask for the lease until granted.
        loop {
            match lease.acquire().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(err) => tracing::debug!(%err, "cannot ask for the feed lease"),
            }
            tokio::select! {
                // Shutdown: never led, nothing to hand back.
                _ = cancel.cancelled() => return,
                // Ask again; a dead holder's lease expires meanwhile.
                _ = tokio::time::sleep(RENEW_EVERY) => {}
            }
        }
        tracing::info!(node = lease.node(), "took the feed lease; polling");
        metrics::counter!("livescore_feed_lease_acquired_total").increment(1);
        let term = cancel.child_token();
        let work = lead(term.clone());
        tokio::pin!(work);
        let mut renewed = Instant::now();
        let mut tick = tokio::time::interval(RENEW_EVERY);
        let ended = loop {
            tokio::select! {
                // Leading ended: shutdown (the token is a child of
                // `cancel`) or the poller stopped on its own.
                _ = &mut work => break true,
                // Renew; give up before the lease could have expired.
                _ = tick.tick() => match lease.renew().await {
                    Ok(true) => renewed = Instant::now(),
                    Ok(false) => {
                        tracing::warn!("the feed lease went to another node; stopping the poller");
                        break false;
                    }
                    Err(err) if renewed.elapsed() + RENEW_EVERY >= LEASE_TTL => {
                        tracing::warn!(%err, "cannot renew the feed lease; stopping the poller");
                        break false;
                    }
                    Err(err) => tracing::debug!(%err, "feed lease renewal failed; retrying"),
                },
            }
        };
        if !ended {
            term.cancel();
            work.await;
        }
        lease.release().await;
        if cancel.is_cancelled() || ended {
            return;
        }
    }
}
