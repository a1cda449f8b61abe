//! Which bus a node runs on, and what a node needs from a bus shared with
//! other nodes beyond [`Bus`]: warm start from the shared log's tail, the
//! reader task that delivers it, and the feed lease on the same server.
//!
//! Adding a bus: its folder (`bus/<name>.rs` + `bus/<name>/`: the bus, its
//! reader, its lease, its errors), one arm in [`BusUrl`], [`BusChoice`] and
//! each `match` of [`SharedBus`] here. Nothing outside `bus/` changes but
//! the flags of its settings (docs/ARCHITECTURE.md).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::lease::Lease;
use super::nats::lease::NatsLease;
use super::redis::lease::RedisLease;
use super::{Bus, BusError, Envelope, NatsBus, NatsConfig, RedisBus, RedisConfig};

/// The `--bus` value as the command line gives it, checked once by the
/// parser: `memory`, `redis://…` or `nats://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusUrl {
    /// `memory`.
    Memory,
    /// A Redis URL.
    Redis(String),
    /// A NATS URL.
    Nats(String),
}

impl std::fmt::Display for BusUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Redis(url) | Self::Nats(url) => f.write_str(url),
        }
    }
}

impl std::str::FromStr for BusUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "memory" => Ok(Self::Memory),
            _ if s.starts_with("redis://") => match ::redis::Client::open(s) {
                Ok(_) => Ok(Self::Redis(s.to_string())),
                Err(err) => Err(format!("{s:?} is not a Redis URL: {err}")),
            },
            _ if s.starts_with("nats://") => match s.parse::<async_nats::ServerAddr>() {
                Ok(_) => Ok(Self::Nats(s.to_string())),
                Err(err) => Err(format!("{s:?} is not a NATS URL: {err}")),
            },
            _ => Err(format!(
                "{s:?} is not a bus: use `memory`, `redis://host:port[/db]` or `nats://host:port`"
            )),
        }
    }
}

/// Which bus a server shares events on.
#[derive(Debug, Clone, Default)]
pub enum BusChoice {
    /// In-process: this node alone.
    #[default]
    Memory,
    /// A Redis stream shared by every node of a deployment.
    Redis(RedisConfig),
    /// A NATS JetStream stream shared by every node of a deployment.
    Nats(NatsConfig),
}

/// A bus shared between nodes: what a node needs beyond [`Bus`] (warm
/// start, its reader task, the feed lease on the same server).
#[derive(Clone)]
pub enum SharedBus {
    /// The Redis bus and its key prefix (the lease key's too).
    Redis(Arc<RedisBus>, String),
    /// The NATS bus (its stream names the lease bucket).
    Nats(Arc<NatsBus>),
}

impl SharedBus {
    /// Connects to the shared bus of `choice`; `None` for the memory bus.
    pub async fn connect(choice: &BusChoice) -> Result<Option<Self>, BusError> {
        Ok(match choice {
            BusChoice::Memory => None,
            BusChoice::Redis(c) => Some(Self::Redis(RedisBus::connect(c).await?, c.prefix.clone())),
            BusChoice::Nats(c) => Some(Self::Nats(NatsBus::connect(c).await?)),
        })
    }

    /// The bus, as every consumer sees it.
    pub fn bus(&self) -> Arc<dyn Bus> {
        match self {
            Self::Redis(b, _) => b.clone(),
            Self::Nats(b) => b.clone(),
        }
    }

    /// Seq of the last event delivered (at start: where live delivery
    /// continues).
    pub fn delivered(&self) -> u64 {
        match self {
            Self::Redis(b, _) => b.delivered(),
            Self::Nats(b) => b.delivered(),
        }
    }

    /// The newest events up to the delivery point, oldest first.
    pub async fn recent(&self, max: usize) -> Result<Vec<Arc<Envelope>>, BusError> {
        match self {
            Self::Redis(b, _) => b.recent(max).await,
            Self::Nats(b) => b.recent(max).await,
        }
    }

    /// Spawns the task delivering the shared log to this node.
    pub fn spawn_reader(&self, tracker: &TaskTracker, cancel: CancellationToken) {
        match self {
            Self::Redis(b, _) => tracker.spawn(b.clone().run(cancel)),
            Self::Nats(b) => tracker.spawn(b.clone().run(cancel)),
        };
    }

    /// This node's claim on feed `feed` (its key), on the same server.
    pub fn lease(&self, feed: &str) -> Box<dyn Lease> {
        match self {
            Self::Redis(b, prefix) => Box::new(RedisLease::new(b.client(), prefix, feed)),
            Self::Nats(b) => Box::new(NatsLease::new(b.jetstream(), b.stream_name(), feed)),
        }
    }

    /// Which server it is, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Redis(..) => "Redis",
            Self::Nats(_) => "NATS",
        }
    }
}
