//! Wiring and lifecycle: builds bus, hub, feed and HTTP, owns every task,
//! and shuts them down in order.
//!
//! One `CancellationToken` and one `TaskTracker` own every background task;
//! nothing is spawned bare. Shutdown: stop accepting, cancel (streams end,
//! loops return), wait for tasks under a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::{Bus, MemoryBus};
use crate::feed::poller::{self, FeedStatus};
use crate::feed::replay::Replay;
use crate::feed::{FeedError, Publisher, Tracker};
use crate::http::{self, AppState, HttpConfig};
use crate::hub::{self, Hub};

/// How long shutdown waits for tasks and open responses before giving up.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Where this process gets scores from.
#[derive(Debug, Clone)]
pub enum FeedSource {
    /// No feed: a server that only relays what is published to it.
    None,
    /// The recorded 2015 week 1 at `speed` times real time.
    Replay {
        /// Game clock speed-up.
        speed: f64,
    },
    /// A scorestrip document polled every `interval`.
    Poll {
        /// Where to read it.
        source: poller::Source,
        /// How often.
        interval: Duration,
    },
}

/// Everything `serve` and `demo` need.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The feed to run in-process.
    pub feed: FeedSource,
    /// Transport settings.
    pub http: HttpConfig,
    /// Print the "open this URL" hint (demo).
    pub announce_url: bool,
    /// Kernel send buffer per connection, in bytes (0: the kernel's
    /// autotuning, up to several MiB). Bounded, it caps how many stale
    /// events can sit in the kernel for a client that stopped reading, so
    /// conflation reaches it sooner and memory per connection stays small.
    pub send_buffer_bytes: usize,
}

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The feed could not be set up.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// Serving failed.
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// Runs the server until `shutdown` resolves, then shuts down in order.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| AppError::Bind {
            addr: config.addr,
            source,
        })?;
    let local = listener.local_addr().map_err(AppError::Serve)?;
    // Validate the feed before announcing the address: a broken build should
    // fail at start, not after a client connected.
    let replay = match &config.feed {
        FeedSource::Replay { speed } => Some(Replay::new(*speed)?),
        _ => None,
    };

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let epoch = new_epoch();
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(epoch, 0));
    let hub = Hub::new(epoch);
    // Subscribe before any producer starts so the hub misses nothing.
    tracker.spawn(hub::run(
        hub.clone(),
        bus.clone(),
        bus.subscribe(),
        cancel.clone(),
    ));

    if let Some(replay) = replay {
        let bus = bus.clone();
        let cancel = cancel.clone();
        tracker.spawn(async move {
            let mut publisher = Publisher::new(bus, Tracker::new());
            tracing::info!(
                seconds = replay.duration().as_secs(),
                "replaying 2015 week 1"
            );
            match replay.run(&mut publisher, &cancel).await {
                Ok(()) if !cancel.is_cancelled() => {
                    tracing::info!("replay finished: every game is final")
                }
                Ok(()) => {}
                Err(err) => tracing::error!(%err, "replay stopped"),
            }
        });
    }

    let feed_status = match config.feed {
        FeedSource::Poll { source, interval } => {
            let status = FeedStatus::default();
            let publisher = Publisher::new(bus.clone(), Tracker::new());
            tracker.spawn(poller::run(
                source,
                interval,
                publisher,
                status.clone(),
                cancel.clone(),
            ));
            Some(status)
        }
        _ => None,
    };

    let state = AppState {
        hub,
        bus,
        feed: feed_status,
        cancel: cancel.clone(),
        config: Arc::new(config.http),
        metrics: http::metrics::handle(),
    };
    println!("livescore listening on http://{local}");
    if config.announce_url {
        println!(
            "open http://{}/ in a browser to watch the scores",
            browsable(local)
        );
    }
    tracing::info!(%local, "serving");

    let stop = cancel.clone();
    let send_buffer = config.send_buffer_bytes;
    let listener = listener.tap_io(move |tcp| tune_socket(tcp, send_buffer));
    let served = axum::serve(listener, http::router(state))
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = shutdown => tracing::info!("shutting down"),
                _ = stop.cancelled() => {}
            }
            // Ends SSE streams and background loops; graceful shutdown would
            // otherwise wait forever on open streams.
            stop.cancel();
        })
        .await;
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("tasks still running after the shutdown deadline");
    }
    served.map_err(AppError::Serve)
}

/// Per-connection socket options. Failures are logged, not fatal: the
/// connection still works with the kernel's defaults.
fn tune_socket(tcp: &mut tokio::net::TcpStream, send_buffer: usize) {
    // Events are small and latency matters more than packet count.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
    if send_buffer > 0 {
        if let Err(err) = socket2::SockRef::from(&*tcp).set_send_buffer_size(send_buffer) {
            tracing::debug!(%err, "cannot set SO_SNDBUF");
        }
    }
}

/// An address a browser on this machine can open (`0.0.0.0` is not one).
fn browsable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// A fresh epoch for a history that starts now: milliseconds since 1970,
/// so a restarted in-memory node never reuses an earlier node's ids.
fn new_epoch() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}
