//! livescore: real-time scores from a feed to browsers and apps.
//!
//! ```text
//! feed (poller | replay) --> bus --> hub --> transports (sse | ws) --> client
//!                             \--> store (written behind, batched)
//! ```
//!
//! - `model`: the shapes of SPEC.md, no I/O.
//! - `feed`: scorestrip parsing, the recorded-week replay, change detection.
//! - `bus`: gives every event its id and delivers it to every node.
//! - `hub`: per-node fan-out; encodes each event once, keeps recent history.
//! - `store`: SQLite/PostgreSQL behind one seam; written behind the bus,
//!   read at start (epoch, next id, recent history) and for score history.
//! - `http`: the HTTP API, SSE, the page.
//! - `app`: wiring, task ownership and shutdown.

pub mod app;
pub mod bus;
pub mod cli;
pub mod feed;
pub mod http;
pub mod hub;
pub mod model;
pub mod store;
