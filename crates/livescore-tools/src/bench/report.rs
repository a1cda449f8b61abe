//! The bench's result: one struct, printed as a table for people or as
//! JSON (`--json`) for scripts and docs/BENCHMARKS.md.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest delivery.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn from_us(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// The server's resource use (when it runs on this machine).
#[derive(Debug, Clone, Serialize)]
pub struct ServerUse {
    /// Its process ids (several are summed).
    pub pids: Vec<u32>,
    /// RSS before any subscriber connected, KiB.
    pub rss_start_kib: u64,
    /// RSS with every subscriber connected and idle, KiB.
    pub rss_idle_kib: u64,
    /// RSS after the publish window, KiB.
    pub rss_end_kib: u64,
    /// (idle − start) / connected subscribers, KiB.
    pub kib_per_conn: f64,
    /// User + system CPU seconds over the publish window.
    pub cpu_secs: f64,
    /// That CPU time per delivery, microseconds.
    pub cpu_us_per_delivery: f64,
}

/// Which servers a run used, when it was about the bus (`--bus`,
/// `--nodes`, `--publish-url`); absent otherwise, so single-node reports
/// read as they always did.
#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    /// Servers taking part: events were published through the first and
    /// every subscriber was on the last.
    pub nodes: u64,
    /// The spawned nodes' bus (password removed); `None` for running
    /// servers, whose bus the bench does not know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// `host:port` events were published through.
    pub publish_node: String,
    /// `host:port` of the subscribers' node (the `server` figures' one).
    pub subscribe_node: String,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `sse`, `ws` or `mix`.
    pub transport: String,
    /// Subscribers asked for.
    pub subscribers: u64,
    /// Subscribers that got their stream.
    pub connected: u64,
    /// Subscribers that could not connect or subscribe.
    pub failed: u64,
    /// Connected subscribers that never read (`--slow-percent`).
    pub slow: u64,
    /// Seconds from the first connect to the last answer.
    pub connect_secs: f64,
    /// Events asked for.
    pub events: u64,
    /// Publish rate asked for, events per second.
    pub rate: f64,
    /// Bytes of each event's data.
    pub size: usize,
    /// Events the server accepted.
    pub published: u64,
    /// Publishes that failed.
    pub publish_errors: u64,
    /// Seconds the publishing took.
    pub publish_secs: f64,
    /// Deliveries expected: reading (or failed) subscribers × events.
    pub expected: u64,
    /// Distinct deliveries.
    pub received: u64,
    /// Expected deliveries that never came.
    pub lost: u64,
    /// Deliveries of an event a subscriber already had.
    pub duplicates: u64,
    /// Reading subscribers whose stream ended early.
    pub dropped: u64,
    /// Seconds from the first publish to the last delivery.
    pub window_secs: f64,
    /// Deliveries per second over that window.
    pub deliveries_per_sec: f64,
    /// Publish-to-receive latency.
    pub latency_ms: Latency,
    /// Server memory and CPU, when it is local: the subscribers' node.
    pub server: Option<ServerUse>,
    /// Nodes and bus, for runs across the bus.
    #[serde(flatten)]
    pub topology: Option<Topology>,
    /// The subscribers' CPU seconds over the publish window (this process
    /// or its workers; the load generator shares the machine, so this is
    /// what it took from it).
    pub bench_cpu_secs: Option<f64>,
    /// An example connection error, if any subscriber failed.
    pub first_error: Option<String>,
    /// No subscriber failed, nothing lost or duplicated, every publish
    /// accepted.
    pub ok: bool,
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let l = &self.latency_ms;
        let _ = writeln!(s, "livescore bench ({})", self.transport);
        let _ = writeln!(
            s,
            "  subscribers     {} asked, {} connected, {} failed, {} never reading; {:.1} s to connect",
            self.subscribers, self.connected, self.failed, self.slow, self.connect_secs
        );
        if let Some(t) = &self.topology {
            let bus = t.bus.as_deref().unwrap_or("not known");
            let _ = writeln!(
                s,
                "  nodes           {} on bus {bus}: publishing through {}, subscribers on {}",
                t.nodes, t.publish_node, t.subscribe_node
            );
        }
        let _ = writeln!(
            s,
            "  published       {}/{} events of {} B at {}/s in {:.1} s ({} errors)",
            self.published,
            self.events,
            self.size,
            self.rate,
            self.publish_secs,
            self.publish_errors
        );
        let _ = writeln!(
            s,
            "  deliveries      {} of {} expected: {} lost, {} duplicate, {} streams ended early",
            self.received, self.expected, self.lost, self.duplicates, self.dropped
        );
        let _ = writeln!(
            s,
            "  throughput      {:.0} deliveries/s over {:.2} s",
            self.deliveries_per_sec, self.window_secs
        );
        let _ = writeln!(
            s,
            "  latency (ms)    p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        match &self.server {
            Some(u) => {
                let _ = writeln!(
                    s,
                    "  server memory   RSS {} KiB before, {} KiB idle with subscribers, {} KiB at the end: {:.2} KiB per connection",
                    u.rss_start_kib, u.rss_idle_kib, u.rss_end_kib, u.kib_per_conn
                );
                let _ = writeln!(
                    s,
                    "  server CPU      {:.2} s over the window: {:.2} µs per delivery",
                    u.cpu_secs, u.cpu_us_per_delivery
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "  server          not local (pass --server-pid for memory and CPU)"
                );
            }
        }
        if let Some(cpu) = self.bench_cpu_secs {
            let _ = writeln!(s, "  bench CPU       {cpu:.2} s over the window");
        }
        if let Some(err) = &self.first_error {
            let _ = writeln!(s, "  first error     {err}");
        }
        let _ = writeln!(
            s,
            "  result          {}",
            if self.ok { "ok" } else { "FAILED" }
        );
        s
    }
}
