//! `livescore bench`'s flags.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::BenchError;

/// Which protocol the subscribers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// `GET /api/stream?topic=…`.
    Sse,
    /// `/ws` with a `subscribe` message.
    Ws,
    /// Every other subscriber on each.
    Mix,
}

impl Transport {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::Ws => "ws",
            Transport::Mix => "mix",
        }
    }
}

/// What hits the subscribers in a `--storm` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Storm {
    /// The server is stopped (SIGTERM, as a deploy does) and started again
    /// on the same address over the same database: needs --spawn.
    Restart,
    /// Every subscriber (or --storm-percent of them) drops its connection
    /// at once, as on a network blip, and reconnects.
    Drop,
}

/// `livescore bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A running server to load (http://host:port); needs --token. Without
    /// it, pass --spawn (or --floor).
    /// Example: --url http://127.0.0.1:8000
    #[arg(
        long,
        env = "LIVESCORE_BENCH_URL",
        required_unless_present_any = ["spawn", "floor"],
        conflicts_with = "spawn"
    )]
    pub url: Option<String>,

    /// Start a server for the run (this executable, `serve` on a free port
    /// with a random publish token and an in-memory database) and stop it
    /// at the end; its memory and CPU are then measured too.
    /// Example: --spawn
    #[arg(long, env = "LIVESCORE_BENCH_SPAWN")]
    pub spawn: bool,

    /// Measure only the floor, with no server: this process accepts the
    /// subscribers itself and writes each event to each with one plain
    /// write(2), and reports the CPU per write and the time to the last
    /// byte: what a bare C loop costs on this machine. Takes -n, -m, -r and
    /// --size. (Every --spawn or --url run measures it too, afterwards.)
    /// Example: --floor
    #[arg(long, env = "LIVESCORE_BENCH_FLOOR", conflicts_with_all = ["url", "spawn", "no_floor"])]
    pub floor: bool,

    /// Skip the floor measured after a --spawn or --url run (the same
    /// subscribers, size and rate, at most 50 events), and so the report's
    /// ratios to it.
    /// Example: --no-floor
    #[arg(long, env = "LIVESCORE_BENCH_NO_FLOOR")]
    pub no_floor: bool,

    /// Event bus of the --spawn'ed servers (`livescore serve --bus`):
    /// `memory`, `redis://host:port[/db]` or `nats://host:port`. Each run
    /// gets its own Redis key prefix (or NATS stream), so runs sharing a
    /// bus never see each other's events. Default: the server's own.
    /// Example: --bus redis://127.0.0.1:6379
    #[arg(long, env = "LIVESCORE_BENCH_BUS", value_parser = bus_url)]
    pub bus: Option<String>,

    /// Servers to --spawn on the shared --bus: events are published
    /// through the first and every subscriber is on the last, so each
    /// delivery crosses the bus between nodes. Memory and CPU are the
    /// subscribers' node's.
    /// Example: --nodes 2
    #[arg(long, env = "LIVESCORE_BENCH_NODES", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes: u16,

    /// Publish through this running node (http://host:port) instead of
    /// the --url one the subscribers use; both take --token, and
    /// --server-pid stays the subscribers' node.
    /// Example: --publish-url http://127.0.0.1:8001
    #[arg(long, env = "LIVESCORE_BENCH_PUBLISH_URL")]
    pub publish_url: Option<String>,

    /// Process id of the --url server, to read its memory and CPU from
    /// /proc (same machine only); several (comma-separated) are summed,
    /// for servers with worker processes.
    /// Example: --server-pid "$(pgrep -n livescore)"
    #[arg(long, env = "LIVESCORE_BENCH_SERVER_PID", value_delimiter = ',')]
    pub server_pid: Vec<u32>,

    /// Publish as nchan's publisher location expects (`POST /pub?id=<topic>`
    /// with the data as the body) instead of livescore's publish API; for
    /// running the same bench against nchan.
    /// Example: --nchan
    #[arg(long, env = "LIVESCORE_BENCH_NCHAN")]
    pub nchan: bool,

    /// The --url server's publish token.
    /// Example: --token "$LIVESCORE_PUBLISH_TOKEN"
    #[arg(long, env = "LIVESCORE_PUBLISH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Subscribers to open.
    /// Example: --subscribers 10000
    #[arg(
        long,
        short = 'n',
        env = "LIVESCORE_BENCH_SUBSCRIBERS",
        default_value_t = 1000
    )]
    pub subscribers: usize,

    /// Protocol of the subscribers: sse, ws, or mix (every other one).
    /// Example: --transport ws
    #[arg(long, env = "LIVESCORE_BENCH_TRANSPORT", value_enum, default_value_t = Transport::Sse)]
    pub transport: Transport,

    /// SSE subscribers ask for gzip (`Accept-Encoding: gzip`) and inflate
    /// what they get: the memory and CPU of compressed streams.
    /// Example: --gzip
    #[arg(long, env = "LIVESCORE_BENCH_GZIP")]
    pub gzip: bool,

    /// Events to publish.
    /// Example: --events 1000
    #[arg(
        long,
        short = 'm',
        env = "LIVESCORE_BENCH_EVENTS",
        default_value_t = 100
    )]
    pub events: u64,

    /// Events published per second.
    /// Example: --rate 50
    #[arg(long, short = 'r', env = "LIVESCORE_BENCH_RATE", default_value_t = 10.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Bytes of each event's data (JSON with a timestamp, an index and
    /// padding).
    /// Example: --size 128
    #[arg(long, env = "LIVESCORE_BENCH_SIZE", default_value_t = 128)]
    pub size: usize,

    /// Percentage of subscribers that connect and then never read (slow
    /// consumers); they are left out of the loss and latency figures.
    /// Example: --slow-percent 10
    #[arg(long, env = "LIVESCORE_BENCH_SLOW_PERCENT", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub slow_percent: u8,

    /// The topic to publish on; default a fresh `bench-…` one, so a
    /// running server's other clients see nothing.
    /// Example: --topic bench-1
    #[arg(long, env = "LIVESCORE_BENCH_TOPIC")]
    pub topic: Option<String>,

    /// Connections being opened at once (raise it for a connect storm).
    /// Example: --connect-concurrency 1000
    #[arg(
        long,
        env = "LIVESCORE_BENCH_CONNECT_CONCURRENCY",
        default_value_t = 200
    )]
    pub connect_concurrency: usize,

    /// Longest one subscriber may take to connect and subscribe before it
    /// counts as failed.
    /// Example: --connect-timeout 30s
    #[arg(long, env = "LIVESCORE_BENCH_CONNECT_TIMEOUT", default_value = "30s", value_parser = livescore::cli::parse_duration)]
    pub connect_timeout: Duration,

    /// After the last publish, how long to wait without a new delivery
    /// before counting what is missing as lost.
    /// Example: --drain-timeout 10s
    #[arg(long, env = "LIVESCORE_BENCH_DRAIN_TIMEOUT", default_value = "5s", value_parser = livescore::cli::parse_duration)]
    pub drain_timeout: Duration,

    /// Publish requests in flight at once.
    /// Example: --publishers 8
    #[arg(long, env = "LIVESCORE_BENCH_PUBLISHERS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub publishers: u16,

    /// Log filter of a --spawn'ed server (its log goes to our stderr).
    /// Example: --server-log info
    #[arg(long, env = "LIVESCORE_BENCH_SERVER_LOG", default_value = "warn")]
    pub server_log: String,

    /// Worker processes to spread the subscribers over (each holds at most
    /// as many connections as its open-files limit allows); default: none
    /// up to 18,000 subscribers, then one per 18,000.
    /// Example: --workers 2
    #[arg(long, env = "LIVESCORE_BENCH_WORKERS")]
    pub workers: Option<usize>,

    /// Internal: run as a worker of another bench process.
    #[arg(long, hide = true, requires = "topic")]
    pub worker: bool,

    /// Internal: number of a worker's first subscriber.
    #[arg(long, hide = true, default_value_t = 0)]
    pub worker_first: usize,

    /// A reconnect storm (SSE): connect the subscribers, start publishing,
    /// then `restart` the server (the default; --spawn) or `drop` the
    /// subscribers' connections, while the events keep coming. Subscribers
    /// come back as a browser does: after the server's `retry:`, with
    /// back-off and jitter on failed connects, resuming with Last-Event-ID.
    /// Reports how long until all are back, the failed connects, and exits
    /// non-zero unless every subscriber got every accepted event exactly
    /// once with no `reset`. --events must fit the server's history (1000).
    /// Example: --storm restart
    #[arg(long, env = "LIVESCORE_BENCH_STORM", value_enum, num_args = 0..=1, default_missing_value = "restart")]
    pub storm: Option<Storm>,

    /// With --storm drop: the share of subscribers that drop (the others
    /// stay, and their latency from the storm on is reported apart).
    /// Example: --storm-percent 90
    #[arg(long, env = "LIVESCORE_BENCH_STORM_PERCENT", default_value_t = 100, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub storm_percent: u8,

    /// Print the report as JSON on stdout instead of a table.
    /// Example: --json
    #[arg(long, env = "LIVESCORE_BENCH_JSON")]
    pub json: bool,
}

impl BenchArgs {
    /// Checks what clap cannot (its `requires` counts a flag's default
    /// `false` as given): several nodes only make sense when they share a
    /// bus, or no delivery could cross from one to the other.
    pub(super) fn validate(&self) -> Result<(), BenchError> {
        if self.floor && self.transport != Transport::Sse {
            return Err(BenchError::Usage(
                "--floor answers SSE readers only (a server run's floor is SSE too)".into(),
            ));
        }
        if self.bus.is_some() && !self.spawn {
            return Err(BenchError::Usage(
                "--bus is the bus of the servers --spawn starts; a --url server has its own".into(),
            ));
        }
        if self.publish_url.is_some() && self.url.is_none() {
            return Err(BenchError::Usage(
                "--publish-url goes with --url (with --spawn, use --nodes)".into(),
            ));
        }
        if self.nodes > 1 {
            if !self.spawn {
                return Err(BenchError::Usage(
                    "--nodes starts the nodes itself: it needs --spawn (for running nodes use \
                     --url and --publish-url)"
                        .into(),
                ));
            }
            if self.bus.as_deref().is_none_or(|b| b == "memory") {
                return Err(BenchError::Usage(format!(
                    "--nodes {} needs a bus the nodes share: --bus redis://… or --bus nats://… \
                     (the memory bus is per process)",
                    self.nodes
                )));
            }
        }
        if let Some(storm) = self.storm {
            if storm == Storm::Restart && !self.spawn {
                return Err(BenchError::Usage(
                    "--storm restart restarts the server it started: it needs --spawn (with \
                     --url use --storm drop)"
                        .into(),
                ));
            }
            if self.transport != Transport::Sse || self.nchan || self.multi_node() {
                return Err(BenchError::Usage(
                    "--storm runs SSE subscribers on one livescore node".into(),
                ));
            }
            if self.events > livescore::hub::HISTORY_PER_TOPIC as u64 {
                return Err(BenchError::Usage(format!(
                    "--storm resumes from the server's history, {} events a topic: use --events {} or fewer",
                    livescore::hub::HISTORY_PER_TOPIC,
                    livescore::hub::HISTORY_PER_TOPIC
                )));
            }
        }
        if self.nchan && self.publish_url.is_some() {
            return Err(BenchError::Usage(
                "--publish-url is livescore's publish API; nchan publishes on --url".into(),
            ));
        }
        Ok(())
    }

    /// Whether the run involves the bus or several nodes at all (the
    /// report then says which; without, it reads as it always did).
    pub(super) fn multi_node(&self) -> bool {
        self.bus.is_some() || self.nodes > 1 || self.publish_url.is_some()
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "{s:?}: a rate is a positive number of events per second"
        )),
    }
}

/// A `--bus` the spawned servers will accept, passed on as given.
fn bus_url(s: &str) -> Result<String, String> {
    s.parse::<livescore::bus::BusUrl>().map(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use clap::{Parser, Subcommand};

    /// `livescore bench …` as the binary parses it.
    #[derive(Parser)]
    #[command(name = "livescore")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        Bench(super::BenchArgs),
    }

    #[test]
    fn bench_needs_a_server_and_reads_its_flags() {
        let cli = Cli::try_parse_from([
            "livescore",
            "bench",
            "--spawn",
            "-n",
            "10",
            "--transport",
            "mix",
            "--server-pid",
            "1,2",
        ])
        .expect("parses");
        let Command::Bench(args) = cli.command;
        assert_eq!(args.subscribers, 10);
        assert_eq!(args.server_pid, vec![1, 2]);
        assert!(Cli::try_parse_from(["livescore", "bench"]).is_err());
        assert!(
            Cli::try_parse_from(["livescore", "bench", "--spawn", "--url", "http://x:1"]).is_err()
        );
        assert!(Cli::try_parse_from(["livescore", "bench", "--spawn", "--rate", "0"]).is_err());
    }

    fn bench(argv: &[&str]) -> Result<super::BenchArgs, clap::Error> {
        let cli = Cli::try_parse_from(["livescore", "bench"].iter().chain(argv))?;
        let Command::Bench(args) = cli.command;
        Ok(args)
    }

    #[test]
    fn several_nodes_need_spawn_and_a_shared_bus() {
        let redis = "redis://127.0.0.1:6379";
        let args = bench(&["--spawn", "--nodes", "2", "--bus", redis]).expect("parses");
        assert_eq!((args.nodes, args.bus.as_deref()), (2, Some(redis)));
        assert!(args.validate().is_ok() && args.multi_node());

        // The memory bus, given or by default, is one process's.
        for argv in [
            &["--spawn", "--nodes", "2"][..],
            &["--spawn", "--nodes", "2", "--bus", "memory"],
        ] {
            let err = bench(argv)
                .expect("parses")
                .validate()
                .expect_err("invalid");
            assert!(
                err.to_string().contains("needs a bus the nodes share"),
                "{err}"
            );
        }
        // Nodes are spawned; a bus is only a spawned server's.
        let err = bench(&["--url", "http://127.0.0.1:1", "--nodes", "2"])
            .expect("parses")
            .validate()
            .expect_err("invalid");
        assert!(err.to_string().contains("needs --spawn"), "{err}");
        let url_bus = bench(&["--url", "http://127.0.0.1:1", "--bus", redis]);
        assert!(url_bus.expect("parses").validate().is_err());
        assert!(bench(&["--spawn", "--nodes", "0", "--bus", redis]).is_err());
        assert!(bench(&["--spawn", "--bus", "mysql://x"]).is_err());
    }

    #[test]
    fn the_floor_needs_no_server() {
        let args = bench(&[
            "--floor", "-n", "10000", "-m", "50", "-r", "10", "--size", "128",
        ])
        .expect("parses");
        assert!(args.floor && !args.no_floor && !args.spawn && args.url.is_none());
        assert_eq!(
            (args.subscribers, args.events, args.size),
            (10_000, 50, 128)
        );
        assert_eq!(args.rate, 10.0);
        assert!(args.validate().is_ok());
        // Alone: not with a server, nor with itself turned off.
        assert!(bench(&["--floor", "--spawn"]).is_err());
        assert!(bench(&["--floor", "--url", "http://127.0.0.1:1"]).is_err());
        assert!(bench(&["--floor", "--no-floor"]).is_err());
        // SSE readers only.
        let ws = bench(&["--floor", "--transport", "ws"]).expect("parses");
        assert!(ws.validate().is_err());
        // A server run measures it afterwards unless told not to.
        assert!(!bench(&["--spawn"]).expect("parses").no_floor);
        assert!(bench(&["--spawn", "--no-floor"]).expect("parses").no_floor);
    }

    #[test]
    fn a_publish_url_goes_with_a_url() {
        let args = bench(&[
            "--url",
            "http://127.0.0.1:1",
            "--publish-url",
            "http://127.0.0.1:2",
        ])
        .expect("parses");
        assert!(args.validate().is_ok() && args.multi_node());
        let spawn = bench(&["--spawn", "--publish-url", "http://127.0.0.1:2"]);
        assert!(spawn.expect("parses").validate().is_err());
        let nchan = bench(&[
            "--url",
            "http://x:1",
            "--nchan",
            "--publish-url",
            "http://x:2",
        ]);
        assert!(nchan.expect("parses").validate().is_err());

        // Without the new flags nothing changes.
        let plain = bench(&["--spawn"]).expect("parses");
        assert!(plain.validate().is_ok() && !plain.multi_node());
    }
}
