//! The caps an operator sets on connections and why one is refused: shared
//! by the listener (`limit`, at accept) and the per-client count
//! (`per_client`, once a proxied request's head names its client), so
//! neither has to import the other's room.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The connection caps an operator sets (`max-connections`,
/// `max-connections-per-ip`), shared by the listener and the config
/// reloader: a SIGHUP changes them for the next connection accepted, and
/// connections already open stay.
#[derive(Debug, Clone, Default)]
pub struct ConnCaps(Arc<Caps>);

/// Read at every accept, so atomics rather than a lock.
#[derive(Debug, Default)]
struct Caps {
    max: AtomicUsize,
    per_ip: AtomicUsize,
}

impl ConnCaps {
    /// `max` open connections (0: the open-files ceiling less a reserve)
    /// and `per_ip` per client address (0: no cap).
    pub fn new(max: usize, per_ip: usize) -> Self {
        Self(Arc::new(Caps {
            max: AtomicUsize::new(max),
            per_ip: AtomicUsize::new(per_ip),
        }))
    }

    /// Replaces both caps.
    pub fn set(&self, max: usize, per_ip: usize) {
        self.0.max.store(max, Ordering::Relaxed);
        self.0.per_ip.store(per_ip, Ordering::Relaxed);
    }

    /// The configured maximum (0: automatic).
    pub fn max(&self) -> usize {
        self.0.max.load(Ordering::Relaxed)
    }

    /// The per-address cap (0: none).
    pub fn per_ip(&self) -> usize {
        self.0.per_ip.load(Ordering::Relaxed)
    }
}

/// Why a connection is refused.
#[derive(Debug, Clone, Copy)]
pub enum Rejection {
    /// The node is at `--max-connections`.
    Full,
    /// The client's address is at `--max-connections-per-ip`.
    PerIp,
}

impl Rejection {
    /// The `reason` label of `livescore_connections_rejected_total`.
    pub fn label(self) -> &'static str {
        match self {
            Rejection::Full => "max_connections",
            Rejection::PerIp => "per_ip",
        }
    }
    /// Status line of the answer.
    pub fn status(self) -> &'static str {
        match self {
            Rejection::Full => "503 Service Unavailable",
            Rejection::PerIp => "429 Too Many Requests",
        }
    }
    /// JSON body of the answer.
    pub fn body(self) -> &'static str {
        match self {
            Rejection::Full => {
                r#"{"error":"the server is at its connection limit; retry later or elsewhere"}"#
            }
            Rejection::PerIp => r#"{"error":"too many connections from your address"}"#,
        }
    }
}
