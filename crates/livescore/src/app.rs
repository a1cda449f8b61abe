//! Wiring and lifecycle: builds bus, hub, feed and HTTP, owns every task,
//! and shuts them down in order.
//!
//! One `CancellationToken` and one `TaskTracker` own every background task;
//! nothing is spawned bare. Shutdown: stop accepting, cancel (streams end,
//! loops return), wait for tasks under a deadline (the store writer flushes
//! within it), then close the store.
//!
//! Start-up reads the store back before anything is published: the epoch
//! and where ids continue (never reusing one a client may hold), the recent
//! history the hub needs for `/api/` and resume, and the feed's last state
//! so a restarted feed or demo carries on instead of starting over.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::BusError;
use crate::feed::fetch::{FetchConfig, Fetcher};
use crate::feed::poller::{self, FeedSet};
use crate::feed::{union, Claims, FeedError, Publisher};
use crate::http::limit::{self, ConnLimits, LimitedListener};
use crate::http::{self, AppState, HttpConfig};
use crate::hub;
use crate::store::writer::Writer;
use crate::store::{self, StoreError, StoreHandle, WriterStatus};

mod feeds;
mod ingest;
mod resume;
mod scale;

pub use crate::bus::BusChoice;
pub use ingest::{ingest, IngestConfig};
use resume::{replay_first, replay_rest, replay_resume_point};

/// How long shutdown waits for tasks and open responses before giving up
/// (`--shutdown-timeout`'s default; `ingest` always uses it).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long closing the database may take after the tasks are done, so a
/// database that stopped answering cannot hold the exit past the bound.
const STORE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Where this process gets scores from.
#[derive(Debug, Clone)]
pub enum FeedSource {
    /// No feed: a server that only relays what is published to it.
    None,
    /// A replay at `speed` times real time: the embedded 2015 week 1, or
    /// a recording made by `livescore record`.
    Replay {
        /// Game clock speed-up.
        speed: f64,
        /// The recording's directory; `None`: the embedded week.
        recording: Option<std::path::PathBuf>,
    },
    /// Feeds (one per league) each polled at its interval while its own
    /// games are on (see `feed::schedule` and `feeds`).
    Poll {
        /// Each feed's address and interval; a config reload may add,
        /// remove and change them.
        feeds: poller::FeedList,
        /// HTTP timeouts and retries.
        fetch: FetchConfig,
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
    /// Where events, games and score history are kept (`sqlite://PATH`,
    /// `sqlite::memory:`, `postgres://…`).
    pub database_url: String,
    /// How much chat the database keeps.
    pub chat_retention: store::retention::ChatRetention,
    /// The bus events are shared on (`--bus`).
    pub bus: BusChoice,
    /// Kernel send buffer per connection, in bytes (0: the kernel's
    /// autotuning, up to several MiB). Bounded, it caps how many stale
    /// events can sit in the kernel for a client that stopped reading, so
    /// conflation reaches it sooner and memory per connection stays small.
    pub send_buffer_bytes: usize,
    /// Open connections at most (0: the file-descriptor ceiling less a
    /// reserve; past it clients get a JSON 503, never a hang) and per
    /// client address (0: no cap; behind `--trusted-proxies`, per
    /// forwarded client: `http::per_client`). Changed live by a config
    /// reload.
    pub conn_caps: limit::ConnCaps,
    /// How fast new connections are accepted (`--accept-rate`,
    /// `--accept-burst`).
    pub accept_pace: limit::AcceptPace,
    /// Header read and keep-alive timeouts, head size cap.
    pub conn: http::server::ConnConfig,
    /// HTTPS (`--tls-cert`, `--tls-key`) with HTTP/2; none serves plain
    /// HTTP/1.1. Its certificate is replaced by a reload.
    pub tls: Option<http::tls::Tls>,
    /// Longest shutdown: past it the process exits with whatever is still
    /// running (logged), so a supervisor's stop never hangs.
    pub shutdown_timeout: Duration,
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
    /// The database could not be opened or read at start.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The shared bus could not be reached at start.
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    /// Serving failed.
    #[error("server: {0}")]
    Serve(std::io::Error),
    /// Access control could not be set up (the JWKS unreachable).
    #[error(transparent)]
    Auth(#[from] crate::http::auth::AuthSetupError),
}

/// Runs the server until `shutdown` resolves, then shuts down in order.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let listener = bind(config.addr).map_err(|source| AppError::Bind {
        addr: config.addr,
        source,
    })?;
    let local = listener.local_addr().map_err(AppError::Serve)?;
    // Validate the feed before announcing the address: a broken build should
    // fail at start, not after a client connected.
    let replay = match &config.feed {
        FeedSource::Replay { speed, recording } => {
            Some(crate::feed::recording::open(*speed, recording.as_deref())?)
        }
        _ => None,
    };
    // Every feed is checked before the address is announced: a typo in
    // one of several is an error at start, naming it.
    if let FeedSource::Poll { feeds, fetch } = &config.feed {
        for plan in feeds.get() {
            Fetcher::new(plan.source, fetch.clone())?;
        }
    }

    // Tokens from an identity provider: its keys before anything serves (a
    // node that could verify no token would refuse every private stream).
    let jwks = config.http.auth.jwks();
    if let Some(jwks) = &jwks {
        let n = jwks.fetch().await?;
        tracing::info!(keys = n, "JWKS fetched");
    }

    let db = store::open(&config.database_url).await?;
    println!("database: {}", store::redact(&config.database_url));
    // The bus, where ids stand, and the hub warmed from the store or the
    // shared stream (see `scale`).
    let wired = scale::wire(&config.bus, db.as_ref()).await?;
    let (bus, hub, epoch) = (wired.bus.clone(), wired.hub.clone(), wired.epoch);

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    // Subscribe before any producer starts so the hub and the store writer
    // miss nothing.
    let chat = Arc::new(http::ws::chat::ChatGate::with_rates(
        config.http.ws.chat_rates.clone(),
    ));
    let tap = {
        let chat = chat.clone();
        move |env: &crate::bus::Envelope| chat.observe(env, std::time::Instant::now())
    };
    tracker.spawn(hub::run(
        hub.clone(),
        bus.clone(),
        bus.subscribe(),
        cancel.clone(),
        tap,
    ));
    // `scores`, every league's games, made from the league boards.
    tracker.spawn(union::run(
        hub.clone(),
        bus.clone(),
        bus.subscribe(),
        cancel.clone(),
    ));
    let writer_status = WriterStatus::new(epoch, wired.written);
    let writer = Writer::new(
        db.clone(),
        bus.clone(),
        bus.subscribe(),
        writer_status.clone(),
        wired.writer_base,
    );
    tracker.spawn(writer.run(cancel.clone()));
    tracker.spawn(config.chat_retention.run(db.clone(), cancel.clone()));
    if let Some(jwks) = jwks {
        tracker.spawn(jwks.run(cancel.clone()));
    }
    if let Some(shared) = &wired.shared {
        // Live delivery from the shared stream, after both consumers above
        // subscribed and after the hub was warmed up to where it starts.
        shared.spawn_reader(&tracker, cancel.clone());
    }

    if let Some(replays) = replay {
        // One publisher per league recorded, all on one clock; the first
        // board of each goes out before the address is announced.
        let mut playing = Vec::with_capacity(replays.len());
        for replay in replays {
            let feed_state = store::feed_state(db.as_ref(), epoch, replay.league()).await?;
            let (resumed, from) = replay_resume_point(&replay, feed_state.as_ref());
            let mut publisher = Publisher::new(bus.clone(), resumed);
            tracing::info!(
                league = replay.league(),
                seconds = replay.duration().as_secs(),
                from_snapshot = from,
                "replaying"
            );
            let started = replay_first(&replay, from, &mut publisher).await?;
            playing.push((replay, publisher, started));
        }
        let mut starts: Vec<_> = playing.iter().map(|(_, _, s)| s.clone()).collect();
        resume::align(&mut starts);
        board_on_hub(&hub).await;
        for ((replay, mut publisher, _), started) in playing.into_iter().zip(starts) {
            let cancel = cancel.clone();
            tracker.spawn(async move {
                match replay_rest(&replay, started, &mut publisher, &cancel).await {
                    Ok(()) if !cancel.is_cancelled() => {
                        tracing::info!(league = replay.league(), "replay finished")
                    }
                    Ok(()) => {}
                    Err(err) => tracing::error!(%err, "replay stopped"),
                }
            });
        }
    }

    let feed_set = FeedSet::default();
    if let FeedSource::Poll { feeds, fetch } = config.feed {
        let runner = feeds::Feeds {
            hub: hub.clone(),
            bus: bus.clone(),
            shared: wired.shared.clone(),
            fetch,
            set: feed_set.clone(),
            claims: Claims::default(),
            tracker: tracker.clone(),
        };
        tracker.spawn(runner.run(feeds, cancel.clone()));
    }

    // One count per address for the listener (direct clients, at accept)
    // and the router (clients behind a trusted proxy, HTTP/2 streams).
    let mut http_config = config.http;
    http_config.client_cap = http::per_client::ClientCap::new(
        config.conn_caps.clone(),
        http_config.trusted_proxies.clone(),
    );
    let state = AppState {
        hub,
        bus,
        chat,
        feeds: feed_set,
        cancel: cancel.clone(),
        tracker: tracker.clone(),
        config: Arc::new(http_config),
        metrics: http::metrics::handle(),
        store: StoreHandle {
            store: db.clone(),
            status: writer_status,
        },
    };
    let scheme = match config.tls {
        Some(_) => "https",
        None => "http",
    };
    println!("livescore listening on {scheme}://{local}");
    if config.announce_url {
        println!(
            "open {scheme}://{}/ in a browser to watch the scores",
            browsable(local)
        );
    }
    tracing::info!(%local, "serving");

    let fd_ceiling = limit::raise_fd_limit();
    let limits = ConnLimits {
        ceiling: limit::default_max_connections(fd_ceiling),
        caps: config.conn_caps.clone(),
        send_buffer: config.send_buffer_bytes,
        pace: config.accept_pace,
        clients: state.config.client_cap.clone(),
    };
    let listener = LimitedListener::new(listener, limits);
    tracing::info!(
        fd_ceiling,
        max_connections = listener.max(),
        "connection limits"
    );
    tracker.spawn(http::server::run(
        listener,
        http::router(state.clone()),
        state,
        config.conn,
        config.tls.clone(),
        cancel.clone(),
    ));
    tokio::select! {
        // SIGTERM or Ctrl-C.
        _ = shutdown => tracing::info!("shutting down"),
        // A task ended the process (none does today; kept for the bus).
        _ = cancel.cancelled() => {}
    }
    // Stops accepting, ends SSE streams, closes WebSockets with 1001, stops
    // the feed; the store writer flushes what is queued.
    let started = tokio::time::Instant::now();
    wind_down(&cancel, &tracker, config.shutdown_timeout, Some(db)).await;
    tracing::info!(took_ms = started.elapsed().as_millis() as u64, "stopped");
    Ok(())
}

/// The end of `serve` and `ingest` alike: cancel every task, wait for them
/// under `grace` (the store writer flushes within it), then close the
/// database, bounded too, so one that stopped answering cannot hold the
/// exit.
async fn wind_down(
    cancel: &CancellationToken,
    tracker: &TaskTracker,
    grace: Duration,
    db: Option<Arc<dyn store::Store>>,
) {
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            still_running = tracker.len(),
            "tasks still running after the shutdown deadline"
        );
    }
    if let Some(db) = db {
        if tokio::time::timeout(STORE_CLOSE_GRACE, db.close())
            .await
            .is_err()
        {
            tracing::warn!("the database did not close in time");
        }
    }
}

/// Pending connections the kernel may queue before we accept them. tokio's
/// default (1,024) overflows in a reconnect storm after a deploy, and each
/// overflowed SYN costs its client a one-second retry; the kernel caps this
/// at `net.core.somaxconn` anyway.
const LISTEN_BACKLOG: u32 = 16_384;

/// Longest wait at start for the replay's first board to reach the hub
/// through the bus (a few milliseconds in practice).
const BOARD_WAIT: Duration = Duration::from_secs(5);

/// Waits until the hub holds a `scores` board, at most [`BOARD_WAIT`]: the
/// bus hands events to the hub on its own task, so a publish that returned
/// is not yet on `/api/`. Past the wait the server starts anyway and says
/// why the board may come late.
async fn board_on_hub(hub: &hub::Hub) {
    let deadline = tokio::time::Instant::now() + BOARD_WAIT;
    while hub
        .state(crate::model::TOPIC_SCORES, crate::model::EVENT_UPDATE)
        .is_none()
    {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                waited_ms = BOARD_WAIT.as_millis() as u64,
                "the replay's first board has not reached the hub yet; serving anyway"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Binds the listening socket with [`LISTEN_BACKLOG`].
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // A restarted node can take its port back while old connections linger
    // in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
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
