//! `livescore bench`: the load generator behind docs/BENCHMARKS.md.
//!
//! It opens N subscribers (SSE, WebSocket or both) on one topic against a
//! server it starts itself (`--spawn`) or one already running (`--url`),
//! publishes M events at R per second through the publish API, and
//! reports what reached whom and how fast: lost and duplicate deliveries,
//! latency percentiles from the timestamp in each event, deliveries per
//! second, and, for a server on this machine, its memory per connection
//! and CPU per delivery from /proc.
//!
//! With a shared bus (`--bus redis://…`) it can start several nodes
//! (`--nodes N`), or use two running ones (`--url` and `--publish-url`):
//! events then go in at one node and out at another, so the latency
//! includes the hop across the bus (issue 9, target 7).
//!
//! After the server it measures the floor (`floor.rs`): the same readers
//! fed by this process with one plain `write(2)` per subscriber per event,
//! no server at all; the report gives the server's CPU per delivery and
//! p99 as ratios to the floor's, figures that mean the same on any machine
//! (issue 23). `--floor` measures the floor alone, `--no-floor` skips it.
//!
//! It measures; it does not judge speed. Its exit status only says whether
//! every subscriber connected and got every event exactly once (CI's
//! smoke run), never whether a number was good enough.

mod args;
mod fleet;
mod floor;
mod plan;
mod publisher;
mod report;
mod server;
mod sse;
mod stats;
mod storm;
mod worker;
mod ws;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub use args::{BenchArgs, Storm, Transport};
use fleet::{Fleet, Tally};
use plan::Plan;
use publisher::{PublishPlan, Published};
pub use report::{Floor, Latency, Report, ServerUse, Topology, VsFloor};
use server::{Nodes, SharedBus, Target};
use stats::ProcGroup;
use worker::{Subscribers, Worker};

/// How long connections settle before the idle RSS is read.
const SETTLE: Duration = Duration::from_secs(1);

/// How often the progress line and the drain check look at the counts.
const TICK: Duration = Duration::from_millis(100);

/// Why the bench could not run (as opposed to a run that lost events).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Flags that do not go together.
    #[error("{0}")]
    Usage(String),
    /// The server could not be started or reached.
    #[error("server: {0}")]
    Server(String),
    /// Publishing failed outright.
    #[error("publish: {0}")]
    Publish(String),
}

/// Runs the bench and prints the report; returns the exit status: 0 when
/// every subscriber connected and got every event exactly once, 1 when
/// not, 2 when the bench could not run.
pub async fn main(args: BenchArgs) -> i32 {
    if args.worker {
        return worker_main(&args).await;
    }
    if args.floor {
        return floor_main(&args).await;
    }
    if args.storm.is_some() {
        return storm::main(&args).await;
    }
    report::exit_status("livescore bench", args.json, run(&args).await)
}

/// `--floor`: the floor alone, printed like a report; 0 when every reader
/// got every event exactly once.
async fn floor_main(args: &BenchArgs) -> i32 {
    let floor = match args.validate() {
        Ok(()) => floor::measure(floor::FloorPlan::alone(args)).await,
        Err(err) => Err(err),
    };
    report::exit_status("livescore bench --floor", args.json, floor)
}

/// `--worker`: this process's share of another bench's subscribers.
async fn worker_main(args: &BenchArgs) -> i32 {
    let Some(url) = &args.url else {
        eprintln!("livescore bench --worker: needs --url");
        return 2;
    };
    livescore::http::limit::raise_fd_limit();
    let target = match Target::remote(url, String::new(), Vec::new()).await {
        Ok(t) => t,
        Err(err) => {
            eprintln!("livescore bench --worker: {err}");
            return 2;
        }
    };
    let plan = plan(args, &target, args.topic.clone().unwrap_or_default());
    worker::serve(plan, args.worker_first, args.subscribers).await
}

fn plan(args: &BenchArgs, target: &Target, topic: String) -> Plan {
    Plan {
        addr: target.addr,
        authority: target.authority.clone(),
        topic,
        transport: args.transport,
        events: args.events,
        slow_percent: args.slow_percent,
        connect_concurrency: args.connect_concurrency,
        connect_timeout: args.connect_timeout,
        gzip: args.gzip,
    }
}

/// How many worker processes: as asked, else one per [`worker::PER_WORKER`]
/// subscribers past that many (0: all in this process).
fn worker_count(args: &BenchArgs) -> usize {
    args.workers
        .unwrap_or(if args.subscribers > worker::PER_WORKER {
            args.subscribers.div_ceil(worker::PER_WORKER)
        } else {
            0
        })
}

/// One bench run.
pub async fn run(args: &BenchArgs) -> Result<Report, BenchError> {
    args.validate()?;
    // Every subscriber is a file descriptor here too.
    let fd_ceiling = livescore::http::limit::raise_fd_limit();
    let workers = worker_count(args);
    let per_process = args.subscribers.div_ceil(workers.max(1));
    if per_process as u64 + 64 > fd_ceiling {
        return Err(BenchError::Usage(format!(
            "{per_process} subscribers in one process need more open files than it may have \
             ({fd_ceiling}); use more --workers"
        )));
    }
    let nodes = match &args.url {
        Some(url) => {
            // nchan's publisher location takes no token.
            let token = args.token.clone().or_else(|| args.nchan.then(String::new));
            let token = token.ok_or_else(|| {
                BenchError::Usage("--url needs the server's publish token (--token)".into())
            })?;
            let subscribe = Target::remote(url, token.clone(), args.server_pid.clone()).await?;
            let publish = match &args.publish_url {
                Some(url) => Some(Target::remote(url, token, Vec::new()).await?),
                None => None,
            };
            Nodes::remote(subscribe, publish)
        }
        None => {
            let bus = args.bus.clone().map(SharedBus::new);
            Nodes::spawn(&args.server_log, usize::from(args.nodes), bus).await?
        }
    };
    let result = measure(args, &nodes).await;
    nodes.stop().await;
    let mut report = result?;
    if !args.no_floor {
        // After the server is gone, so that nothing else runs beside it.
        let plan = floor::FloorPlan::after_server(args);
        eprintln!(
            "floor: {} subscribers, {} events of {} B at {}/s, one write(2) each",
            plan.subscribers, plan.events, plan.size, plan.rate
        );
        match floor::measure(plan).await {
            Ok(floor) => report.set_floor(floor),
            Err(err) => report.floor_error = Some(err.to_string()),
        }
    }
    Ok(report)
}

/// Starts `count` subscribers on `plan`: in this process (`workers` 0), or
/// spread over that many worker processes.
fn start_subscribers(plan: &Plan, workers: usize, count: usize) -> Result<Subscribers, BenchError> {
    if workers == 0 {
        return Ok(Subscribers::Local(Fleet::start(plan.clone(), 0, count)));
    }
    let per = count.div_ceil(workers);
    let mut started = Vec::with_capacity(workers);
    for first in (0..count).step_by(per.max(1)) {
        let n = per.min(count - first);
        started.push(Worker::spawn(plan, first, n)?);
    }
    Ok(Subscribers::Workers(started))
}

async fn measure(args: &BenchArgs, nodes: &Nodes) -> Result<Report, BenchError> {
    let target = nodes.subscribed();
    let server = ProcGroup::new(&target.pids);
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| format!("bench-{:08x}", fastrand::u32(..)));
    let rss_start = server.rss_kib();

    let connect_start = Instant::now();
    let plan = plan(args, target, topic.clone());
    let fleet = start_subscribers(&plan, worker_count(args), args.subscribers)?;
    wait_connected(
        "connecting",
        &fleet,
        args.subscribers as u64,
        args.connect_timeout + SETTLE * 5,
    )
    .await;
    let connect_secs = connect_start.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let rss_idle = server.rss_kib();

    let cpu_start = server.cpu_secs();
    let me = ProcGroup::new(&fleet.pids());
    let me_start = me.cpu_secs();
    let published = publisher::run(PublishPlan {
        url: nodes.publisher().publish_url(args.nchan, &topic),
        nchan: args.nchan,
        token: nodes.publisher().token.clone(),
        topic,
        events: args.events,
        rate: args.rate,
        size: args.size,
        concurrency: usize::from(args.publishers),
    })
    .await;
    let published = match published {
        Ok(p) => p,
        Err(err) => {
            fleet.finish().await;
            return Err(err);
        }
    };
    drain(
        &fleet,
        fleet.counts().readers * published.ok,
        args.drain_timeout,
    )
    .await;
    let cpu_end = server.cpu_secs();
    let me_end = me.cpu_secs();
    let rss_end = server.rss_kib();
    let tally = fleet.finish().await;

    let server_use = match (rss_start, rss_idle, rss_end, cpu_start, cpu_end) {
        (Some(r0), Some(r1), Some(r2), Some(c0), Some(c1)) => Some(ServerUse {
            pids: server.pids(),
            rss_start_kib: r0,
            rss_idle_kib: r1,
            rss_end_kib: r2,
            kib_per_conn: per(r1.saturating_sub(r0) as f64, tally.connected),
            cpu_secs: c1 - c0,
            cpu_us_per_delivery: per((c1 - c0) * 1e6, tally.received),
        }),
        _ => None,
    };
    let bench_cpu = me_start.zip(me_end).map(|(a, b)| b - a);
    let mut report = report(args, connect_secs, &published, tally, server_use, bench_cpu);
    report.topology = args.multi_node().then(|| topology(nodes));
    Ok(report)
}

/// Which nodes and bus the run used.
fn topology(nodes: &Nodes) -> Topology {
    Topology {
        nodes: nodes.count() as u64,
        bus: nodes.bus.as_ref().map(SharedBus::display),
        publish_node: nodes.publisher().authority.clone(),
        subscribe_node: nodes.subscribed().authority.clone(),
    }
}

fn per(total: f64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        total / count as f64
    }
}

fn report(
    args: &BenchArgs,
    connect_secs: f64,
    published: &Published,
    tally: Tally,
    server: Option<ServerUse>,
    bench_cpu_secs: Option<f64>,
) -> Report {
    // Events the server refused were never going to arrive: not "lost".
    let refused = published.errors * (tally.received + tally.missing) / args.events.max(1);
    let lost = tally.missing.saturating_sub(refused);
    let window_secs = tally.last_rx_ns.saturating_sub(published.start_ns) as f64 / 1e9;
    let ok = tally.failed == 0 && lost == 0 && tally.dups == 0 && published.errors == 0;
    Report {
        transport: args.transport.as_str().into(),
        subscribers: args.subscribers as u64,
        connected: tally.connected,
        failed: tally.failed,
        slow: tally.slow,
        connect_secs,
        events: args.events,
        rate: args.rate,
        size: args.size,
        published: published.ok,
        publish_errors: published.errors,
        publish_secs: published.elapsed.as_secs_f64(),
        expected: tally.received + lost,
        received: tally.received,
        lost,
        duplicates: tally.dups,
        dropped: tally.dropped,
        window_secs,
        deliveries_per_sec: if window_secs > 0.0 {
            tally.received as f64 / window_secs
        } else {
            0.0
        },
        latency_ms: Latency::from_us(&tally.hist),
        server,
        topology: None,
        bench_cpu_secs,
        first_error: tally.first_error,
        floor: None,
        vs_floor: None,
        floor_error: None,
        ok,
    }
}

/// Waits until every subscriber connected or failed, with a progress line
/// starting `what`. Gives up after `stall` without progress (a worker that
/// died never reports its subscribers; they then count as failed).
async fn wait_connected(what: &str, fleet: &Subscribers, total: u64, stall: Duration) {
    let tty = std::io::stderr().is_terminal();
    let mut last_print = Instant::now();
    let (mut seen, mut since) = (0, Instant::now());
    loop {
        let counts = fleet.counts();
        let (c, f) = (counts.connected, counts.failed);
        if c + f != seen {
            (seen, since) = (c + f, Instant::now());
        }
        let done = c + f >= total || since.elapsed() > stall;
        if tty || done || last_print.elapsed() >= Duration::from_secs(2) {
            let line = format!("{what}: {c}/{total} subscribed, {f} failed");
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r{line}{}", if done { "\n" } else { "" })
            } else {
                writeln!(err, "{line}")
            };
            last_print = Instant::now();
        }
        if done {
            return;
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Waits until `expected` deliveries arrived, or none came for `idle`.
async fn drain(fleet: &Subscribers, expected: u64, idle: Duration) {
    let mut last = fleet.counts().received;
    let mut since = Instant::now();
    while last < expected && since.elapsed() < idle {
        tokio::time::sleep(TICK).await;
        let now = fleet.counts().received;
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}
