//! The server commands' flags (SPEC "Commands": `demo`, `serve`,
//! `ingest`, `record`), every one also read from a `LIVESCORE_*`
//! environment variable. The binary (the workspace root's `src/main.rs`)
//! puts them beside the client tools' (`livescore-tools`) under one parser.

pub mod feed;
pub mod limits;
pub mod record;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

use crate::bus::{BusChoice, BusUrl};
use crate::feed::poller::Source;
pub use feed::{FeedFormat, FeedFormatArg, FeedParser};

/// Flags every server command shares.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// A TOML file with any of these flags as keys (`database-url =
    /// "…"`); a flag on the command line or its environment variable beats
    /// the file. `livescore config example` prints one with every key.
    /// Example: --config /etc/livescore/livescore.toml
    #[arg(long, env = "LIVESCORE_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// Address to listen on; port 0 picks a free port (the real one is
    /// printed). `:8000` listens on every interface.
    /// Example: --addr 127.0.0.1:0
    #[arg(long, env = "LIVESCORE_ADDR", default_value = "127.0.0.1:8000", value_parser = parse_addr)]
    pub addr: SocketAddr,

    /// Event bus: `memory` (this process only), `redis://host:port[/db]`
    /// or `nats://host:port` (NATS JetStream) to share events between
    /// nodes (any node can resume any client).
    /// Example: --bus redis://127.0.0.1:6379
    #[arg(long, env = "LIVESCORE_BUS", default_value = "memory", value_parser = BusUrl::from_str)]
    pub bus: BusUrl,

    /// Prefix of every Redis key this deployment uses (`--bus redis://…`),
    /// so several deployments or test runs can share one Redis.
    /// Example: --redis-prefix scores-prod
    #[arg(long, env = "LIVESCORE_REDIS_PREFIX", default_value = "livescore", value_parser = parse_redis_prefix)]
    pub redis_prefix: String,

    /// The JetStream stream (`--bus nats://…`).
    #[command(flatten)]
    pub nats: NatsArgs,

    /// Longest silence on an SSE stream before a `: keep-alive` comment.
    /// Example: --keepalive 15s
    #[arg(long, env = "LIVESCORE_KEEPALIVE", default_value = "15s", value_parser = parse_duration)]
    pub keepalive: Duration,

    /// Shortest `retry:` an SSE stream opens with: each connection gets
    /// its own random value from --retry-min to --retry-max, so clients
    /// dropped together (a deploy, a node lost) come back spread out.
    /// Example: --retry-min 1s
    #[arg(long, env = "LIVESCORE_RETRY_MIN", default_value = "1s", value_parser = parse_duration)]
    pub retry_min: Duration,

    /// Longest `retry:` an SSE stream opens with (at least --retry-min).
    /// Example: --retry-max 5s
    #[arg(long, env = "LIVESCORE_RETRY_MAX", default_value = "5s", value_parser = parse_duration)]
    pub retry_max: Duration,

    /// Let the hub write each event straight to the sockets of SSE
    /// subscribers that keep up, instead of waking each one's task (docs/
    /// BENCHMARKS.md, "Fan-out at the floor"); `false` sends every delivery
    /// through the subscriber's own task (the path before it existed).
    /// Example: --fast-path false
    #[arg(long, env = "LIVESCORE_FAST_PATH", default_value_t = true, action = clap::ArgAction::Set)]
    pub fast_path: bool,

    /// Threads one event's fast-path writes are split over when it has
    /// more than 512 subscribers to write (0: one per core). On loopback
    /// a write also pays for the reader's side of TCP, so one thread alone
    /// leaves the other cores idle while the last subscriber waits.
    /// Example: --fanout-threads 1
    #[arg(long, env = "LIVESCORE_FANOUT_THREADS", default_value_t = 0)]
    pub fanout_threads: usize,

    /// Kernel send buffer per connection in bytes (0 = kernel autotuning).
    /// Small keeps stalled clients from hoarding stale events in the kernel;
    /// raise it for clients far away that need more bytes in flight.
    /// Example: --send-buffer 65536
    #[arg(long, env = "LIVESCORE_SEND_BUFFER", default_value_t = 32 * 1024)]
    pub send_buffer: usize,

    /// Open connections at most; past it new clients get a JSON 503. 0 means
    /// the process's open-files ceiling (raised to the hard limit at start)
    /// less a reserve.
    /// Example: --max-connections 50000
    #[arg(long, env = "LIVESCORE_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Open connections per client IP at most (429 past it); 0 = no cap.
    /// Counted by the client's address: a direct client's connections
    /// at accept; behind --trusted-proxies, the requests and streams each
    /// forwarded client (`X-Forwarded-For`) has open, once its request
    /// head is read (the proxy itself is not capped).
    /// Example: --max-connections-per-ip 100
    #[arg(long, env = "LIVESCORE_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: usize,

    /// Database for events, games and score history: `sqlite://PATH`
    /// (created if missing), `sqlite::memory:` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`. Default for `serve`:
    /// `sqlite://livescore.db`; `demo` makes a new SQLite file in a temp
    /// directory each run and prints it (pass it back here to resume).
    /// Example: --database-url postgres://livescore:secret@db:5432/livescore
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
    pub database_url: Option<String>,

    /// Chat messages older than this are deleted from the database (at
    /// start and every 10 minutes); `0` keeps them by age. Score history
    /// and published topics are never pruned.
    /// Example: --chat-retention 7d
    #[arg(long, env = "LIVESCORE_CHAT_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub chat_retention: Duration,

    /// Newest chat messages kept per game in the database; `0` keeps any
    /// number.
    /// Example: --chat-retention-count 10000
    #[arg(long, env = "LIVESCORE_CHAT_RETENTION_COUNT", default_value_t = 10_000)]
    pub chat_retention_count: u32,

    /// Longest a publish (API, chat, feed) waits for a shared bus that is
    /// away. Within it the publisher hears 202 (in the bus, will be
    /// delivered) or 503 (not published, and never delivered later).
    /// Example: --publish-timeout 5s
    #[arg(long, env = "LIVESCORE_PUBLISH_TIMEOUT", default_value = "5s", value_parser = parse_publish_timeout)]
    pub publish_timeout: Duration,

    /// What a 202 from the publish API waits for: `bus` (in the bus, will
    /// be delivered; the database write follows) or `stored` (also
    /// committed to the database, so a crash loses none of them; 504 with
    /// the id when the database does not commit within --publish-timeout).
    /// Example: --publish-ack stored
    #[arg(long, env = "LIVESCORE_PUBLISH_ACK", default_value = "bus", value_enum)]
    pub publish_ack: crate::http::publish::Ack,

    /// Bearer token that turns on `POST /api/publish`; without it the
    /// endpoint answers 403.
    /// Example: --publish-token "$(openssl rand -hex 32)"
    #[arg(long, env = "LIVESCORE_PUBLISH_TOKEN", hide_env_values = true)]
    pub publish_token: Option<String>,

    /// Signed tokens and private topics.
    #[command(flatten)]
    pub auth: AuthArgs,

    /// Request limits, timeouts, CORS, shutdown bound.
    #[command(flatten)]
    pub limits: limits::LimitArgs,

    /// WebSocket and chat limits.
    #[command(flatten)]
    pub ws: WsArgs,
}

impl ServerArgs {
    /// The range of SSE `retry:` values; an error when --retry-min is
    /// above --retry-max.
    pub fn retry_range(&self) -> Result<crate::http::sse::RetryRange, String> {
        crate::http::sse::RetryRange::new(self.retry_min, self.retry_max)
    }

    /// The bounds on stored chat (`0` turns a bound off).
    pub fn chat_retention(&self) -> crate::store::retention::ChatRetention {
        crate::store::retention::ChatRetention {
            max_age: Some(self.chat_retention).filter(|d| !d.is_zero()),
            per_game: Some(self.chat_retention_count).filter(|&n| n > 0),
        }
    }
}

/// Access control (docs/SECURITY.md): JWTs for subscribers and
/// publishers, private topics.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Secret of HS256-signed tokens.
    /// Example: --jwt-secret "$(openssl rand -hex 32)"
    #[arg(
        long,
        env = "LIVESCORE_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_public_key"
    )]
    pub jwt_secret: Option<String>,

    /// Public key (PEM, RSA or EC P-256) of RS256- or ES256-signed tokens.
    /// Example: --jwt-public-key /etc/livescore/jwt.pub.pem
    #[arg(
        long,
        env = "LIVESCORE_JWT_PUBLIC_KEY",
        value_name = "FILE",
        conflicts_with = "jwks_url"
    )]
    pub jwt_public_key: Option<std::path::PathBuf>,

    /// An identity provider's published keys (JWKS): RS256 and ES256 keys
    /// chosen by the token's `kid`, fetched at start and refreshed (every 5
    /// minutes, and soon after a token names a new `kid`).
    /// Example: --jwks-url https://auth.example.com/.well-known/jwks.json
    #[arg(long, env = "LIVESCORE_JWKS_URL", conflicts_with = "jwt_secret")]
    pub jwks_url: Option<String>,

    /// A token's `aud` must name this.
    /// Example: --jwt-audience livescore
    #[arg(long, env = "LIVESCORE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// A token's `iss` must be this.
    /// Example: --jwt-issuer https://auth.example.com
    #[arg(long, env = "LIVESCORE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Topics that need a token whose `livescore.subscribe` grant covers
    /// them: exact topics, prefixes ending in `/*`, or `*`; comma-separated.
    /// Other topics stay public.
    /// Example: --private-topics 'user/*,private/*'
    #[arg(long, env = "LIVESCORE_PRIVATE_TOPICS", value_delimiter = ',', value_parser = <crate::http::auth::Pattern as FromStr>::from_str)]
    pub private_topics: Vec<crate::http::auth::Pattern>,

    /// `required`: every subscription needs a token, public topics too.
    /// Example: --auth required
    #[arg(long, env = "LIVESCORE_AUTH", default_value = "optional", value_enum)]
    pub auth: crate::http::auth::AuthMode,
}

impl AuthArgs {
    /// The node's access control; an unreadable key file or a setting that
    /// cannot work is said at start.
    pub fn build(&self) -> Result<crate::http::auth::Auth, String> {
        use crate::http::auth::{Auth, AuthConfig, KeySource};
        let key = match (&self.jwt_secret, &self.jwt_public_key, &self.jwks_url) {
            (Some(secret), _, _) if !secret.is_empty() => {
                Some(KeySource::Secret(secret.as_bytes().to_vec()))
            }
            (_, Some(path), _) => Some(KeySource::PublicKeyPem(
                std::fs::read(path)
                    .map_err(|e| format!("--jwt-public-key {}: {e}", path.display()))?,
            )),
            (_, _, Some(url)) if !url.is_empty() => Some(KeySource::Jwks(url.clone())),
            _ => None,
        };
        Auth::new(AuthConfig {
            key,
            audience: self.jwt_audience.clone(),
            issuer: self.jwt_issuer.clone(),
            private: self.private_topics.clone(),
            mode: self.auth,
        })
        .map_err(|e| e.to_string())
    }
}

/// WebSocket (`/ws`) and chat limits.
#[derive(Debug, Args)]
pub struct WsArgs {
    /// Largest WebSocket message a client may send, in bytes; a bigger one
    /// closes the connection with code 1009.
    /// Example: --ws-max-message 65536
    #[arg(long, env = "LIVESCORE_WS_MAX_MESSAGE", default_value_t = 64 * 1024, value_parser = parse_message_size)]
    pub ws_max_message: usize,

    /// Silence from a WebSocket client after which the server pings it.
    /// Example: --ws-ping-interval 30s
    #[arg(long, env = "LIVESCORE_WS_PING_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub ws_ping_interval: Duration,

    /// How long a pinged client has to answer before it is dropped.
    /// Example: --ws-pong-timeout 10s
    #[arg(long, env = "LIVESCORE_WS_PONG_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub ws_pong_timeout: Duration,

    /// How long one write to a WebSocket client may take before it is
    /// dropped as not reading.
    /// Example: --ws-send-timeout 10s
    #[arg(long, env = "LIVESCORE_WS_SEND_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub ws_send_timeout: Duration,

    /// Who may post in chat: `open` (anyone; a connection with a valid
    /// token posts as its user) or `required` (only a token's user; the
    /// name shown is the token's). `required` needs a token key
    /// (--jwt-secret, --jwt-public-key or --jwks-url).
    /// Example: --chat-auth required
    #[arg(long, env = "LIVESCORE_CHAT_AUTH", value_enum, default_value = "open")]
    pub chat_auth: crate::http::ws::chat::ChatAuth,

    /// Longest chat message, in characters.
    /// Example: --chat-max-text 500
    #[arg(long, env = "LIVESCORE_CHAT_MAX_TEXT", default_value_t = 500)]
    pub chat_max_text: usize,

    /// Longest chat name, in characters.
    /// Example: --chat-max-name 32
    #[arg(long, env = "LIVESCORE_CHAT_MAX_NAME", default_value_t = 32)]
    pub chat_max_name: usize,

    /// Chat messages per second one sender may send, sustained: a token's
    /// user over all its connections and nodes, an anonymous client by its
    /// address (an IPv6 client is its /64; behind a proxy, see
    /// --trusted-proxies).
    /// Example: --chat-rate 1
    #[arg(long, env = "LIVESCORE_CHAT_RATE", default_value_t = 1.0, value_parser = parse_rate)]
    pub chat_rate: f64,

    /// Chat messages one sender may send at once after a pause.
    /// Example: --chat-burst 5
    #[arg(long, env = "LIVESCORE_CHAT_BURST", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub chat_burst: u32,

    /// Chat messages per second one game's chat takes from all clients
    /// together, sustained.
    /// Example: --chat-game-rate 20
    #[arg(long, env = "LIVESCORE_CHAT_GAME_RATE", default_value_t = 20.0, value_parser = parse_rate)]
    pub chat_game_rate: f64,

    /// Chat messages one game's chat takes at once after a pause.
    /// Example: --chat-game-burst 40
    #[arg(long, env = "LIVESCORE_CHAT_GAME_BURST", default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    pub chat_game_burst: u32,
}

impl WsArgs {
    /// The typed settings.
    pub fn config(&self) -> crate::http::ws::WsConfig {
        let chat = self.chat_limits();
        crate::http::ws::WsConfig {
            max_message_bytes: self.ws_max_message,
            ping_interval: self.ws_ping_interval,
            pong_timeout: self.ws_pong_timeout,
            send_timeout: self.ws_send_timeout,
            chat_rates: crate::http::ws::chat::ChatRates::new(&chat),
            chat,
        }
    }

    /// The chat settings (a config reload applies their rates).
    pub fn chat_limits(&self) -> crate::http::ws::chat::ChatLimits {
        crate::http::ws::chat::ChatLimits {
            auth: self.chat_auth,
            max_text_chars: self.chat_max_text,
            max_name_chars: self.chat_max_name,
            per_second: self.chat_rate,
            burst: self.chat_burst,
            game_per_second: self.chat_game_rate,
            game_burst: self.chat_game_burst,
        }
    }
}

fn parse_message_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if (1024..=16 << 20).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: a message size is 1024 to 16777216 bytes")),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?}: a rate is a positive number per second")),
    }
}

/// `livescore demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Shared server flags.
    #[command(flatten)]
    pub server: ServerArgs,

    /// Game clocks run this many times faster than real time; idle time
    /// between kickoff slots is cut to a few seconds either way. At 60 a
    /// game lasts about 75 seconds and the week about 8 minutes.
    /// Example: --speed 600
    #[arg(long, env = "LIVESCORE_SPEED", default_value_t = 60.0, value_parser = parse_speed)]
    pub speed: f64,

    /// Replay this recording (`livescore record --out DIR`) instead of the
    /// embedded 2015 week, at its recorded offsets divided by --speed.
    /// Example: --replay rec/sunday
    #[arg(long, value_name = "DIR", env = "LIVESCORE_REPLAY")]
    pub replay: Option<std::path::PathBuf>,
}

/// `livescore serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Shared server flags.
    #[command(flatten)]
    pub server: ServerArgs,

    /// Feeds to poll in-process, one per league (comma-separated or the
    /// flag repeated; `feeds = [...]` in a config file): `espn:LEAGUE`
    /// (ESPN's public scoreboard: `nfl`, `college-football`, `nba`, `wnba`,
    /// `mens-college-basketball`, `womens-college-basketball`, `nhl`, `mlb`,
    /// `eng.1`, `esp.1`, …) or `espn:SPORT/LEAGUE` for another league of
    /// football, basketball, hockey, baseball or soccer; an `http(s)://` URL
    /// or a file path (ESPN JSON or scorestrip XML, its league read from
    /// its documents).
    /// Example: --feed espn:nfl,espn:nba,espn:nhl
    #[arg(long, alias = "feeds", env = "LIVESCORE_FEED", hide_env_values = true, value_delimiter = ',', value_parser = FeedParser)]
    pub feed: Vec<Source>,

    /// The feed's format.
    #[command(flatten)]
    pub feed_format: FeedFormatArg,

    /// Play a recording (`livescore record --out DIR`) instead of polling
    /// a feed, at its recorded offsets divided by --speed.
    /// Example: --feed-replay rec/sunday
    #[arg(
        long,
        value_name = "DIR",
        env = "LIVESCORE_FEED_REPLAY",
        conflicts_with = "feed"
    )]
    pub feed_replay: Option<std::path::PathBuf>,

    /// With --feed-replay: play this many times faster than recorded.
    /// Example: --speed 10
    #[arg(long, env = "LIVESCORE_SPEED", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,

    /// How often to poll the feed while a game is on or about to start
    /// (between games it sleeps until shortly before the next kickoff).
    /// Example: --poll-interval 15s
    #[arg(long, env = "LIVESCORE_POLL_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// Longest one HTTP attempt on the feed may take (failed attempts are
    /// retried twice with backoff).
    /// Example: --feed-timeout 10s
    #[arg(long, env = "LIVESCORE_FEED_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub feed_timeout: Duration,
}

/// `livescore ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Feed: `espn:LEAGUE` (`nfl`, `nba`, `nhl`, `mlb`, `eng.1`, …),
    /// `espn:SPORT/LEAGUE`, an `http(s)://` URL or a file path (ESPN JSON
    /// or scorestrip XML).
    /// Example: --feed espn:nfl
    #[arg(long, env = "LIVESCORE_FEED", hide_env_values = true, value_parser = FeedParser)]
    pub feed: Source,

    /// The feed's format.
    #[command(flatten)]
    pub feed_format: FeedFormatArg,

    /// Fetch once, publish the changes and exit 0; exit non-zero with the
    /// reason, publishing nothing, when the feed is bad or unreachable.
    /// Example: --once
    #[arg(long, env = "LIVESCORE_ONCE")]
    pub once: bool,

    /// How often to poll while a game is on or about to start.
    /// Example: --poll-interval 15s
    #[arg(long, env = "LIVESCORE_POLL_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// Longest one HTTP attempt on the feed may take.
    /// Example: --feed-timeout 10s
    #[arg(long, env = "LIVESCORE_FEED_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub feed_timeout: Duration,

    /// Event bus to publish on: `memory` (this process only),
    /// `redis://host:port[/db]` or `nats://host:port` (the nodes' shared
    /// stream; polling then
    /// takes the same feed lease as `serve --feed`, so only one poller runs).
    /// Example: --bus redis://127.0.0.1:6379
    #[arg(long, env = "LIVESCORE_BUS", default_value = "memory", value_parser = BusUrl::from_str)]
    pub bus: BusUrl,

    /// Prefix of every Redis key (`--bus redis://…`); the nodes' prefix.
    /// Example: --redis-prefix scores-prod
    #[arg(long, env = "LIVESCORE_REDIS_PREFIX", default_value = "livescore", value_parser = parse_redis_prefix)]
    pub redis_prefix: String,

    /// The JetStream stream (`--bus nats://…`).
    #[command(flatten)]
    pub nats: NatsArgs,

    /// Longest one feed publish waits for a shared bus that is away; what
    /// it refuses is published again (once) when the bus is back.
    /// Example: --publish-timeout 5s
    #[arg(long, env = "LIVESCORE_PUBLISH_TIMEOUT", default_value = "5s", value_parser = parse_publish_timeout)]
    pub publish_timeout: Duration,

    /// Database to store the events in and resume the feed from (same forms
    /// as `serve`). No default: without it nothing is stored.
    /// Example: --database-url sqlite:///var/lib/livescore/ingest.db
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
    pub database_url: Option<String>,
}

/// Arguments of a command whose issue has not landed yet.
#[derive(Debug, Args)]
pub struct PendingArgs {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

/// `host:port`, with an empty host meaning every interface.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .map_err(|_| format!("{s:?} is not host:port (e.g. 127.0.0.1:8000 or :0)"))
}

fn parse_database_url(s: &str) -> Result<String, String> {
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if known.iter().any(|p| s.starts_with(p)) {
        Ok(s.to_string())
    } else {
        Err("use sqlite://PATH, sqlite::memory: or postgres://USER@HOST:PORT/DB".to_string())
    }
}

/// The bus a `--bus` URL and its settings flags name.
pub fn bus_choice(
    url: &BusUrl,
    redis_prefix: &str,
    nats: &NatsArgs,
    publish_timeout: Duration,
) -> BusChoice {
    match url {
        BusUrl::Memory => BusChoice::Memory,
        BusUrl::Redis(url) => BusChoice::Redis(crate::bus::RedisConfig {
            url: url.clone(),
            prefix: redis_prefix.to_string(),
            publish_timeout,
        }),
        BusUrl::Nats(url) => BusChoice::Nats(crate::bus::NatsConfig {
            url: url.clone(),
            stream: nats.nats_stream.clone(),
            max_events: nats.nats_max_events,
            max_age: nats.nats_max_age,
            publish_timeout,
        }),
    }
}

/// The JetStream stream of a deployment (`--bus nats://…`), shared by
/// `serve` and `ingest`.
#[derive(Debug, Args)]
pub struct NatsArgs {
    /// Name of the JetStream stream (also its subject root `<name>.ev.>` and
    /// the lease bucket `<name>-lease`), so several deployments or test runs
    /// can share one NATS: letters, digits, `-` and `_`.
    /// Example: --nats-stream scores-prod
    #[arg(long, env = "LIVESCORE_NATS_STREAM", default_value = "livescore", value_parser = parse_nats_stream)]
    pub nats_stream: String,

    /// Most events the stream keeps; resumes from before them get a reset.
    /// Example: --nats-max-events 100000
    #[arg(long, env = "LIVESCORE_NATS_MAX_EVENTS", default_value_t = crate::bus::nats::RETENTION_EVENTS, value_parser = clap::value_parser!(i64).range(1..))]
    pub nats_max_events: i64,

    /// Longest the stream keeps an event.
    /// Example: --nats-max-age 24h
    #[arg(long, env = "LIVESCORE_NATS_MAX_AGE", default_value = "24h", value_parser = parse_duration)]
    pub nats_max_age: Duration,
}

/// A publish timeout: long enough for one round trip and a retry, short
/// enough that an HTTP client is still waiting for the answer.
fn parse_publish_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if (Duration::from_millis(500)..=Duration::from_secs(60)).contains(&d) {
        Ok(d)
    } else {
        Err(format!("{s:?}: use 500ms to 60s"))
    }
}

/// A JetStream stream name (`--nats-stream`), also checked by `bench`.
pub fn parse_nats_stream(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?}: use 1-64 letters, digits, `-` or `_`"))
    }
}

/// A Redis key prefix (`--redis-prefix`), also checked by `bench`.
pub fn parse_redis_prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?}: a prefix is 1 to 64 letters, digits, `-`, `_`, `.` or `:`"
        ))
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (1.0..=100_000.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: speed is a number from 1 to 100000")),
    }
}

/// `15s`, `500ms`, `2m`, `1h`, `7d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (e.g. 15s, 500ms, 2m, 7d)");
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let v: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        "d" => v * 86_400.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_like_the_spec_says() {
        assert_eq!(parse_addr(":0").expect("addr").to_string(), "0.0.0.0:0");
        assert_eq!(parse_addr("127.0.0.1:8000").expect("addr").port(), 8000);
        assert!(parse_addr("nonsense").is_err());
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_speed("0").is_err() && parse_speed("600").is_ok());
        assert_eq!(
            BusUrl::from_str("redis://127.0.0.1:6379/2"),
            Ok(BusUrl::Redis("redis://127.0.0.1:6379/2".into()))
        );
        assert_eq!(
            BusUrl::from_str("nats://127.0.0.1:4222"),
            Ok(BusUrl::Nats("nats://127.0.0.1:4222".into()))
        );
        assert_eq!(BusUrl::from_str("memory"), Ok(BusUrl::Memory));
        assert!(BusUrl::from_str("kafka://x").is_err());
        assert!(parse_nats_stream("ls-test_1").is_ok() && parse_nats_stream("a.b").is_err());
        assert!(parse_redis_prefix("t-1_a").is_ok() && parse_redis_prefix("a b").is_err());
        #[derive(clap::Parser)]
        struct Demo {
            #[command(flatten)]
            args: DemoArgs,
        }
        <Demo as clap::Parser>::try_parse_from([
            "livescore",
            "--addr",
            "127.0.0.1:0",
            "--speed",
            "600",
        ])
        .expect("demo parses");
    }
}
