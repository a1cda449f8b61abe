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
    /// The floor measured after the server, in the same invocation (`None`
    /// with `--no-floor`, or when it could not run: see `floor_error`).
    pub floor: Option<Floor>,
    /// The server's figures as multiples of the floor's.
    pub vs_floor: Option<VsFloor>,
    /// Why the floor could not be measured, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_error: Option<String>,
    /// No subscriber failed, nothing lost or duplicated, every publish
    /// accepted; and the floor, when measured, delivered everything too.
    pub ok: bool,
}

/// The floor (`livescore bench --floor`, and after every server run): this
/// process accepting the same readers and writing each event to each with
/// one plain `write(2)`, no server at all. Its CPU per write is what a bare
/// C loop pays on this machine, its latency the time to the last byte.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    /// Readers asked for.
    pub subscribers: u64,
    /// Readers that got their stream.
    pub connected: u64,
    /// Readers that could not connect.
    pub failed: u64,
    /// Processes the readers ran in besides this one (0: in this one).
    pub worker_processes: u64,
    /// Seconds from the first connect to the last answer.
    pub connect_secs: f64,
    /// Events written to each reader.
    pub events: u64,
    /// Events per second.
    pub rate: f64,
    /// Bytes of each event's data.
    pub size: usize,
    /// Bytes of each write: the whole SSE frame (`id:`, `event:`, `data:`).
    pub frame_bytes: u64,
    /// Writes that put the whole frame in the socket.
    pub writes: u64,
    /// Writes that failed (the reader had gone).
    pub failed_writes: u64,
    /// The writer thread's CPU seconds inside the write loops
    /// (`CLOCK_THREAD_CPUTIME_ID`).
    pub cpu_secs: f64,
    /// That CPU time per write attempted, microseconds.
    pub cpu_us_per_write: f64,
    /// Wall time of one event's loop, first write to last, median over the
    /// events, milliseconds.
    pub write_loop_ms: f64,
    /// The slowest event's loop, milliseconds.
    pub write_loop_max_ms: f64,
    /// Deliveries expected: connected (or failed) readers × events.
    pub expected: u64,
    /// Distinct deliveries.
    pub received: u64,
    /// Expected deliveries that never came.
    pub lost: u64,
    /// Deliveries of an event a reader already had.
    pub duplicates: u64,
    /// Readers whose stream ended early.
    pub dropped: u64,
    /// From the event's stamp (just before its first write) to its arrival
    /// at each reader; `max` is the time to the last byte.
    pub latency_ms: Latency,
    /// An example connection error, if any reader failed.
    pub first_error: Option<String>,
    /// Every reader connected and got every event exactly once, and every
    /// write went through.
    pub ok: bool,
}

/// A server run's figures divided by the floor's from the same invocation.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VsFloor {
    /// Server CPU µs per delivery / floor CPU µs per write (`None` when the
    /// server's CPU is not known: not on this machine).
    pub cpu: Option<f64>,
    /// Server p99 latency / floor p99 latency.
    pub p99: Option<f64>,
}

impl VsFloor {
    /// The ratios of `server` (its CPU, when local) and `latency` to `floor`.
    pub fn new(server: Option<&ServerUse>, latency: &Latency, floor: &Floor) -> Self {
        let ratio = |a: f64, b: f64| (a > 0.0 && b > 0.0).then(|| a / b);
        Self {
            cpu: server.and_then(|u| ratio(u.cpu_us_per_delivery, floor.cpu_us_per_write)),
            p99: ratio(latency.p99, floor.latency_ms.p99),
        }
    }
}

impl Floor {
    /// The stand-alone table (`livescore bench --floor`).
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "livescore bench --floor (no server: one write(2) per subscriber per event)"
        );
        self.lines(&mut s, "  ");
        let _ = writeln!(
            s,
            "  result          {}",
            if self.ok { "ok" } else { "FAILED" }
        );
        s
    }

    /// Its figures, one line each, each starting with `indent`.
    fn lines(&self, s: &mut String, indent: &str) {
        let l = &self.latency_ms;
        let readers_in = match self.worker_processes {
            0 => "this process".to_string(),
            1 => "1 worker process".to_string(),
            k => format!("{k} worker processes"),
        };
        let _ = writeln!(
            s,
            "{indent}subscribers     {} asked, {} connected, {} failed, readers in {readers_in}; {:.1} s to connect",
            self.subscribers, self.connected, self.failed, self.connect_secs
        );
        let _ = writeln!(
            s,
            "{indent}writes          {} events of {} B ({} B frames) at {}/s: {} writes, {} failed",
            self.events, self.size, self.frame_bytes, self.rate, self.writes, self.failed_writes
        );
        let _ = writeln!(
            s,
            "{indent}write CPU       {:.3} s: {:.2} µs per write; write loop {:.2} ms per event (median), {:.2} ms max",
            self.cpu_secs, self.cpu_us_per_write, self.write_loop_ms, self.write_loop_max_ms
        );
        let _ = writeln!(
            s,
            "{indent}deliveries      {} of {} expected: {} lost, {} duplicate, {} streams ended early",
            self.received, self.expected, self.lost, self.duplicates, self.dropped
        );
        let _ = writeln!(
            s,
            "{indent}latency (ms)    p50 {:.3}  p90 {:.3}  p99 {:.3}  max (last byte) {:.3}  mean {:.3}",
            l.p50, l.p90, l.p99, l.max, l.mean
        );
        if let Some(err) = &self.first_error {
            let _ = writeln!(s, "{indent}first error     {err}");
        }
    }
}

impl Report {
    /// Adds the floor measured after the run, and the ratios to it; a floor
    /// that lost events fails the run (its readers are the bench's own).
    pub fn set_floor(&mut self, floor: Floor) {
        self.vs_floor = Some(VsFloor::new(self.server.as_ref(), &self.latency_ms, &floor));
        self.ok &= floor.ok;
        self.floor = Some(floor);
    }

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
        if let Some(f) = &self.floor {
            let _ = writeln!(
                s,
                "  floor           the same readers, no server: one write(2) per subscriber per event{}",
                if f.ok { "" } else { " (FAILED)" }
            );
            f.lines(&mut s, "    ");
        }
        if let Some(v) = &self.vs_floor {
            let times = |r: Option<f64>| r.map_or("not known".to_string(), |r| format!("{r:.1}×"));
            let _ = writeln!(
                s,
                "  vs floor        server CPU per delivery {} the floor's per write; p99 {} the floor's",
                times(v.cpu),
                times(v.p99)
            );
        }
        if let Some(err) = &self.floor_error {
            let _ = writeln!(s, "  floor           not measured: {err}");
        }
        let _ = writeln!(
            s,
            "  result          {}",
            if self.ok { "ok" } else { "FAILED" }
        );
        s
    }
}

/// A finished run as `bench` prints it: its table, and whether it passed.
pub trait Outcome: Serialize {
    /// The human-readable table.
    fn table(&self) -> String;
    /// Every check of the run held.
    fn ok(&self) -> bool;
}

impl Outcome for Report {
    fn table(&self) -> String {
        Report::table(self)
    }
    fn ok(&self) -> bool {
        self.ok
    }
}

impl Outcome for Floor {
    fn table(&self) -> String {
        Floor::table(self)
    }
    fn ok(&self) -> bool {
        self.ok
    }
}

/// Prints a run's outcome (JSON with `json`, else its table) and gives
/// `bench`'s exit status: 0 passed, 1 failed a check, 2 could not run
/// (the error on stderr after `what`, the command as the user typed it).
pub fn exit_status<R: Outcome, E: std::fmt::Display>(
    what: &str,
    json: bool,
    outcome: Result<R, E>,
) -> i32 {
    match outcome {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a report serializes")
                );
            } else {
                print!("{}", report.table());
            }
            if report.ok() {
                0
            } else {
                1
            }
        }
        Err(err) => {
            eprintln!("{what}: {err}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(p99: f64) -> Latency {
        Latency {
            p50: p99 / 2.0,
            p90: p99,
            p99,
            p999: p99,
            max: p99,
            mean: p99 / 2.0,
        }
    }

    fn floor(cpu_us_per_write: f64, p99: f64, ok: bool) -> Floor {
        Floor {
            subscribers: 10,
            connected: 10,
            failed: 0,
            worker_processes: 0,
            connect_secs: 0.1,
            events: 5,
            rate: 10.0,
            size: 128,
            frame_bytes: 160,
            writes: 50,
            failed_writes: 0,
            cpu_secs: cpu_us_per_write * 50.0 / 1e6,
            cpu_us_per_write,
            write_loop_ms: 0.02,
            write_loop_max_ms: 0.03,
            expected: 50,
            received: 50,
            lost: 0,
            duplicates: 0,
            dropped: 0,
            latency_ms: latency(p99),
            first_error: None,
            ok,
        }
    }

    fn report(server: Option<ServerUse>) -> Report {
        Report {
            transport: "sse".into(),
            subscribers: 10,
            connected: 10,
            failed: 0,
            slow: 0,
            connect_secs: 0.1,
            events: 5,
            rate: 10.0,
            size: 128,
            published: 5,
            publish_errors: 0,
            publish_secs: 0.5,
            expected: 50,
            received: 50,
            lost: 0,
            duplicates: 0,
            dropped: 0,
            window_secs: 0.5,
            deliveries_per_sec: 100.0,
            latency_ms: latency(3.0),
            server,
            topology: None,
            bench_cpu_secs: None,
            first_error: None,
            floor: None,
            vs_floor: None,
            floor_error: None,
            ok: true,
        }
    }

    fn server_use(cpu_us_per_delivery: f64) -> ServerUse {
        ServerUse {
            pids: vec![1],
            rss_start_kib: 1,
            rss_idle_kib: 2,
            rss_end_kib: 2,
            kib_per_conn: 0.1,
            cpu_secs: cpu_us_per_delivery * 50.0 / 1e6,
            cpu_us_per_delivery,
        }
    }

    #[test]
    fn the_server_is_given_as_multiples_of_the_floor() {
        let mut r = report(Some(server_use(8.0)));
        r.set_floor(floor(2.0, 0.5, true));
        let v = r.vs_floor.expect("ratios");
        assert_eq!((v.cpu, v.p99), (Some(4.0), Some(6.0)));
        assert!(r.ok);
        let json = serde_json::to_value(&r).expect("serializes");
        assert_eq!(json["vs_floor"]["cpu"], 4.0);
        assert_eq!(json["vs_floor"]["p99"], 6.0);
        assert_eq!(json["floor"]["cpu_us_per_write"], 2.0);
        assert!(json.get("floor_error").is_none());
        let table = r.table();
        assert!(table.contains("4.0× the floor's per write"), "{table}");
        assert!(table.contains("p99 6.0× the floor's"), "{table}");
        assert!(table.contains("2.00 µs per write"), "{table}");
    }

    #[test]
    fn a_remote_server_has_no_cpu_ratio_and_a_failed_floor_fails_the_run() {
        let mut r = report(None);
        r.set_floor(floor(2.0, 0.0, false));
        let v = r.vs_floor.expect("ratios");
        assert_eq!((v.cpu, v.p99), (None, None));
        assert!(!r.ok);
        assert!(r.table().contains("server CPU per delivery not known"));
        assert!(floor(1.0, 1.0, true).table().contains("result          ok"));
    }
}
