//! The command line (SPEC "Commands"): one binary, subcommands, every flag
//! also read from a `LIVESCORE_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Real-time scores: a feed in, SSE and WebSocket out, a live scoreboard page.
#[derive(Debug, Parser)]
#[command(name = "livescore", version, about, long_about = None)]
pub struct Cli {
    /// Log format: `text` for people, `json` for log collectors.
    /// Example: --log-format json
    #[arg(long, env = "LIVESCORE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process on embedded defaults, replaying the real
    /// 2015 NFL week 1. Prints the URL to open.
    /// Example: livescore demo --speed 120
    Demo(DemoArgs),
    /// The server alone: HTTP API, SSE and the web page.
    /// Example: livescore serve --addr 0.0.0.0:8000
    Serve(ServeArgs),
    /// The feed poller alone (not yet available).
    Ingest(PendingArgs),
    /// Publish one event on a topic (not yet available).
    Publish(PendingArgs),
    /// A terminal scoreboard following a server (not yet available).
    Watch(PendingArgs),
    /// Load generator (not yet available).
    Bench(PendingArgs),
}

/// Flags every server command shares.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on; port 0 picks a free port (the real one is
    /// printed). `:8000` listens on every interface.
    /// Example: --addr 127.0.0.1:0
    #[arg(long, env = "LIVESCORE_ADDR", default_value = "127.0.0.1:8000", value_parser = parse_addr)]
    pub addr: SocketAddr,

    /// Event bus: `memory` (this process only).
    /// Example: --bus memory
    #[arg(long, env = "LIVESCORE_BUS", default_value = "memory", value_parser = parse_bus)]
    pub bus: String,

    /// Longest silence on an SSE stream before a `: keep-alive` comment.
    /// Example: --keepalive 15s
    #[arg(long, env = "LIVESCORE_KEEPALIVE", default_value = "15s", value_parser = parse_duration)]
    pub keepalive: Duration,

    /// Kernel send buffer per connection in bytes (0 = kernel autotuning).
    /// Small keeps stalled clients from hoarding stale events in the kernel;
    /// raise it for clients far away that need more bytes in flight.
    /// Example: --send-buffer 65536
    #[arg(long, env = "LIVESCORE_SEND_BUFFER", default_value_t = 32 * 1024)]
    pub send_buffer: usize,
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
}

/// `livescore serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Shared server flags.
    #[command(flatten)]
    pub server: ServerArgs,

    /// Scorestrip feed to poll in-process: a file path (HTTP URLs come with
    /// the ingestion work).
    /// Example: --feed /var/lib/livescore/ss.xml
    #[arg(long, env = "LIVESCORE_FEED", value_parser = parse_feed)]
    pub feed: Option<PathBuf>,

    /// How often to poll the feed.
    /// Example: --poll-interval 15s
    #[arg(long, env = "LIVESCORE_POLL_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub poll_interval: Duration,
}

fn parse_feed(s: &str) -> Result<PathBuf, String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        return Err(format!(
            "{s:?}: HTTP feeds are not yet available; give a file path"
        ));
    }
    Ok(PathBuf::from(s))
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

fn parse_bus(s: &str) -> Result<String, String> {
    match s {
        "memory" => Ok(s.to_string()),
        _ if s.starts_with("redis://") || s.starts_with("nats://") => Err(format!(
            "{s:?}: the Redis and NATS buses are not yet available; use `memory`"
        )),
        _ => Err(format!("{s:?} is not a bus: use `memory`")),
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (1.0..=100_000.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: speed is a number from 1 to 100000")),
    }
}

/// `15s`, `500ms`, `2m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (e.g. 15s, 500ms, 2m)");
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let v: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
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
        assert!(parse_duration("soon").is_err());
        assert!(parse_speed("0").is_err() && parse_speed("600").is_ok());
        Cli::try_parse_from([
            "livescore",
            "demo",
            "--addr",
            "127.0.0.1:0",
            "--speed",
            "600",
        ])
        .expect("demo parses");
    }
}
