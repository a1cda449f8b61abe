//! livescore: real-time scores from a feed to browsers and apps.
//!
//! ```text
//! feed (poller | replay) --> bus --> hub --> transports (sse | ws) --> client
//!                             \--> store (written behind, batched)
//! ```
//!
//! - `model`: the shapes of SPEC.md, no I/O; each sport's rules (periods,
//!   labels, clocks, states) in `model::sport`, one file per sport.
//! - `feed`: the format seam (`format`: scorestrip XML or ESPN JSON of any
//!   of the five sports into one typed board, parsed by `scorestrip` and
//!   `espn`; `espn::leagues` is the table of `espn:KEY`), what `--feed`
//!   names (`source`), HTTP/file fetching
//!   (`fetch`), the adaptive schedule (`schedule`), the poll loop
//!   (`poller`), the single-poller lease (`leader`), the recorded-week
//!   replay (`replay`), and change detection (`Tracker`, `Publisher`).
//! - `bus`: gives every event its id and delivers it to every node:
//!   in-process (`memory`), or shared through a Redis Stream (`redis`) or
//!   a NATS JetStream stream (`nats`).
//! - `hub`: per-node fan-out; encodes each event once, keeps recent history
//!   and latest state, resumes and conflates.
//! - `store`: SQLite/PostgreSQL behind one seam; written behind the bus,
//!   read at start (epoch, next id, recent history) and for score history.
//! - `http`: the accept loop and connection limits (`server`, `limit`),
//!   the JSON API, publish, SSE, WebSocket + chat, the page, health,
//!   metrics and the OpenAPI description.
//! - `cli`: the server commands' flags (`demo`, `serve`, `ingest`,
//!   `record`); the binary and the client tools (`bench`, `watch`,
//!   `publish`) are the workspace's other packages.
//! - `app`: wiring, task ownership and shutdown.
//! - `backoff`: the one retry policy.

pub mod app;
pub mod backoff;
pub mod bus;
pub mod cli;
pub mod feed;
pub mod http;
pub mod hub;
pub mod model;
pub mod store;

/// An error and its causes on one line (`a: b: c`): a client library's own
/// message alone often says only "error sending request".
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut msg = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    msg
}
