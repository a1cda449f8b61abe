//! livescore's client tools, each a subcommand of the `livescore` binary:
//!
//! - `bench`: the load generator (N subscribers over SSE and WebSocket, M
//!   events through the publish API; latency, losses, server memory/CPU);
//! - `watch`: the terminal scoreboard, following a server's stream;
//! - `publish`: one event through a server's publish API (or a bus);
//! - `token`: a signed token for the server's private topics.
//!
//! They talk to a server over HTTP like any client; from the server crate
//! they take only its model types and small helpers, so the server library
//! carries none of their crates (hdrhistogram, crossterm, a WebSocket
//! client).

pub mod bench;
pub mod publish;
pub mod token;
pub mod watch;
