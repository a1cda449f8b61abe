//! The command line (SPEC "Commands"): one binary, subcommands, every flag
//! also read from a `LIVESCORE_*` environment variable. The server
//! commands' flags are the server crate's (`livescore::cli`), the client
//! tools' are `livescore-tools`'; this parser puts them side by side.

use clap::{Parser, Subcommand, ValueEnum};
use livescore::cli::{record, DemoArgs, IngestArgs, ServeArgs};
use livescore_tools::{bench, publish, token, watch};

/// Real-time scores: a feed in, SSE and WebSocket out, a live scoreboard page.
#[derive(Debug, Parser)]
#[command(name = "livescore", version, about, long_about = None)]
pub struct Cli {
    /// Log format: `text` for people, `json` for log collectors.
    /// Example: --log-format json
    #[arg(long, env = "LIVESCORE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// What to log: a level (`error`, `warn`, `info`, `debug`, `trace`,
    /// `off`) or per-module directives (`info,livescore=debug`). Without
    /// it `RUST_LOG` is honoured, else `info`.
    /// Example: --log-level debug
    #[arg(long, env = "LIVESCORE_LOG", global = true, value_parser = parse_log_level)]
    pub log_level: Option<String>,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// A filter `tracing_subscriber::EnvFilter` accepts, checked at parse
/// time so a typo is an error, not silently `info`.
fn parse_log_level(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("{s:?} is not a log level or filter: {e}"))
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
    /// The feed poller alone: fetch the feed, publish what changed.
    /// Example: livescore ingest --feed espn:nfl --once
    Ingest(IngestArgs),
    /// Poll a feed and save every document that differs from the last as
    /// `OUT/<ms since the first>.json|xml`, to replay with `demo --replay`
    /// or `serve --feed-replay`; prints one line per saved document.
    /// Example: livescore record --feed espn:nfl --out rec/sunday --until-final
    Record(record::RecordArgs),
    /// Publish one event on a topic through a server's publish API; prints
    /// the event id.
    /// Example: livescore publish --server http://127.0.0.1:8000 --token T --topic news --event flash '{"text":"hi"}'
    Publish(publish::PublishArgs),
    /// Print a token signed with the server's --jwt-secret, for its
    /// private topics (docs/SECURITY.md).
    /// Example: livescore token --sub 42 --subscribe 'user/42/*' --ttl 1h
    Token(token::TokenArgs),
    /// A terminal scoreboard following a server's stream: redraws in place,
    /// reconnects with the last event id, q or Ctrl-C quits; --once prints
    /// the board as plain text and exits.
    /// Example: livescore watch http://127.0.0.1:8000
    Watch(watch::WatchArgs),
    /// Load generator: N subscribers (SSE, WebSocket or both) against a
    /// server, M events through the publish API; reports deliveries/s,
    /// latency percentiles, lost events, server memory and CPU. Exits 1
    /// when a subscriber failed or an event was lost.
    /// Example: livescore bench --spawn --subscribers 10000 --events 100 --rate 10
    Bench(bench::BenchArgs),
    /// Config files for `serve --config FILE`: `check FILE` validates one
    /// without starting anything; `example` prints one with every key.
    /// Example: livescore config check /etc/livescore/livescore.toml
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `livescore config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Reads FILE as `serve --config FILE` would, ignoring the environment,
    /// and says what is wrong (exit 1) or `ok` (exit 0).
    /// Example: livescore config check /etc/livescore/livescore.toml
    Check {
        /// The file.
        file: std::path::PathBuf,
    },
    /// Prints a commented config file with every key at its default.
    /// Example: livescore config example > livescore.toml
    Example,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_parses_under_one_binary() {
        let demo = Cli::try_parse_from(["livescore", "demo", "--addr", "127.0.0.1:0"]);
        assert!(matches!(demo.expect("demo").command, Command::Demo(_)));
        let bench = Cli::try_parse_from(["livescore", "--log-format", "json", "bench", "--spawn"]);
        let bench = bench.expect("bench");
        assert!(matches!(bench.command, Command::Bench(_)));
        assert_eq!(bench.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["livescore", "watch", "http://127.0.0.1:1"]).is_ok());
        assert!(Cli::try_parse_from(["livescore", "nonsense"]).is_err());
    }
}
