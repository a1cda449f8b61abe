//! Worker processes, for more subscribers than one process may hold open
//! files (20,000 here): `livescore bench --worker` children each run a
//! [`Fleet`] of their share and report to the parent over stdout, one JSON
//! line per report (progress every tick, the merged tally at the end); the
//! parent says `finish` on their stdin. A histogram crosses the pipe as
//! (value, count) pairs, so merging is exact.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

use super::fleet::{new_histogram, Fleet, Tally};
use super::plan::Plan;
use super::{BenchError, TICK};

/// Subscribers per worker process when the parent picks the count: under
/// the 20,000 open-files cap with room for the runtime's own files.
pub const PER_WORKER: usize = 18_000;

/// Live counts, summed over subscribers.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Subscribers connected.
    pub connected: u64,
    /// Subscribers that failed to connect.
    pub failed: u64,
    /// Connected subscribers that read (not `--slow-percent` ones).
    pub readers: u64,
    /// Distinct deliveries.
    pub received: u64,
}

/// One line from a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    Progress(Counts),
    Done(WireTally),
}

/// [`Tally`] as it crosses the pipe.
#[derive(Debug, Serialize, Deserialize)]
struct WireTally {
    connected: u64,
    failed: u64,
    slow: u64,
    received: u64,
    dups: u64,
    missing: u64,
    dropped: u64,
    last_rx_ns: u64,
    first_error: Option<String>,
    /// (latency µs, count) for every recorded value.
    hist: Vec<(u64, u64)>,
}

impl From<Tally> for WireTally {
    fn from(t: Tally) -> Self {
        let hist = t
            .hist
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        Self {
            connected: t.connected,
            failed: t.failed,
            slow: t.slow,
            received: t.received,
            dups: t.dups,
            missing: t.missing,
            dropped: t.dropped,
            last_rx_ns: t.last_rx_ns,
            first_error: t.first_error,
            hist,
        }
    }
}

/// The subscribers of a run: in this process, or in workers.
pub enum Subscribers {
    /// This process holds them all.
    Local(Fleet),
    /// Child processes do.
    Workers(Vec<Worker>),
}

impl Subscribers {
    /// Live counts so far.
    pub fn counts(&self) -> Counts {
        match self {
            Subscribers::Local(f) => Counts {
                connected: f.connected(),
                failed: f.failed(),
                readers: f.readers(),
                received: f.received(),
            },
            Subscribers::Workers(ws) => ws.iter().fold(Counts::default(), |a, w| {
                let c = *w.counts.lock().expect("counts lock poisoned");
                Counts {
                    connected: a.connected + c.connected,
                    failed: a.failed + c.failed,
                    readers: a.readers + c.readers,
                    received: a.received + c.received,
                }
            }),
        }
    }

    /// The processes holding the subscribers (this one, or the workers).
    pub fn pids(&self) -> Vec<u32> {
        match self {
            Subscribers::Local(_) => vec![std::process::id()],
            Subscribers::Workers(ws) => ws.iter().filter_map(|w| w.child.id()).collect(),
        }
    }

    /// Closes every subscriber and merges what they saw.
    pub async fn finish(self) -> Tally {
        match self {
            Subscribers::Local(f) => f.finish().await,
            Subscribers::Workers(ws) => {
                let mut all = Tally {
                    hist: new_histogram(),
                    connected: 0,
                    failed: 0,
                    slow: 0,
                    received: 0,
                    dups: 0,
                    missing: 0,
                    dropped: 0,
                    last_rx_ns: 0,
                    first_error: None,
                };
                for w in ws {
                    let expected = w.count;
                    match w.finish().await {
                        Some(t) => {
                            for (v, n) in t.hist {
                                all.hist.saturating_record_n(v, n);
                            }
                            all.connected += t.connected;
                            all.failed += t.failed;
                            all.slow += t.slow;
                            all.received += t.received;
                            all.dups += t.dups;
                            all.missing += t.missing;
                            all.dropped += t.dropped;
                            all.last_rx_ns = all.last_rx_ns.max(t.last_rx_ns);
                            all.first_error = all.first_error.or(t.first_error);
                        }
                        // A worker that died counts all its subscribers failed.
                        None => {
                            all.failed += expected as u64;
                            all.first_error
                                .get_or_insert_with(|| "a bench worker process died".into());
                        }
                    }
                }
                all
            }
        }
    }
}

/// One worker process, seen from the parent.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    count: usize,
    counts: Arc<Mutex<Counts>>,
    reader: JoinHandle<Option<WireTally>>,
}

impl Worker {
    /// Starts `livescore bench --worker` for subscribers `first..first+count`.
    pub fn spawn(plan: &Plan, first: usize, count: usize) -> Result<Self, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::Usage(format!("cannot find this executable: {e}")))?;
        let mut command = Command::new(exe);
        // Everything a worker needs is on its command line; a flag the
        // parent took from the environment (`LIVESCORE_BENCH_SPAWN=true`,
        // `LIVESCORE_BENCH_FLOOR=true`) would only conflict with `--url`.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LIVESCORE_BENCH_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .arg("bench")
            .arg("--worker")
            .args(["--url", &format!("http://{}", plan.authority)])
            .args(["--topic", &plan.topic])
            .args(["--subscribers", &count.to_string()])
            .args(["--worker-first", &first.to_string()])
            .args(["--transport", plan.transport.as_str()])
            .args(["--events", &plan.events.to_string()])
            .args(["--slow-percent", &plan.slow_percent.to_string()])
            .args(plan.gzip.then_some("--gzip"))
            .args([
                "--connect-concurrency",
                &plan.connect_concurrency.to_string(),
            ])
            .args([
                "--connect-timeout",
                &format!("{}ms", plan.connect_timeout.as_millis()),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Usage(format!("cannot start a bench worker: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(BenchError::Usage("a bench worker has no pipes".into()));
        };
        let counts = Arc::new(Mutex::new(Counts::default()));
        let sink = counts.clone();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Line>(&line) {
                    Ok(Line::Progress(c)) => *sink.lock().expect("counts lock poisoned") = c,
                    Ok(Line::Done(t)) => return Some(t),
                    Err(_) => {}
                }
            }
            None
        });
        Ok(Self {
            child,
            stdin,
            count,
            counts,
            reader,
        })
    }

    async fn finish(mut self) -> Option<WireTally> {
        let _ = self.stdin.write_all(b"finish\n").await;
        let _ = self.stdin.flush().await;
        let tally = self.reader.await.ok().flatten();
        let _ = self.child.wait().await;
        tally
    }
}

/// The worker side: runs its share and reports until told to finish (or
/// its stdin closes: the parent is gone). Returns the exit status.
pub async fn serve(plan: Plan, first: usize, count: usize) -> i32 {
    let fleet = Subscribers::Local(Fleet::start(plan, first, count));
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            // Progress for the parent's connect and drain phases.
            _ = tick.tick() => emit(&Line::Progress(fleet.counts())),
            // `finish`, or EOF when the parent went away.
            line = stdin.next_line() => match line {
                Ok(Some(l)) if l.trim() != "finish" => {}
                _ => break,
            },
        }
    }
    emit(&Line::Done(fleet.finish().await.into()));
    0
}

fn emit(line: &Line) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_crosses_the_pipe_with_its_histogram() {
        let mut hist = new_histogram();
        hist.record_n(1_500, 3).expect("in range");
        hist.record(90_000).expect("in range");
        let tally = Tally {
            hist,
            connected: 4,
            failed: 1,
            slow: 0,
            received: 4,
            dups: 0,
            missing: 2,
            dropped: 0,
            last_rx_ns: 7,
            first_error: Some("connect: refused".into()),
        };
        let line = serde_json::to_string(&Line::Done(tally.into())).expect("serializes");
        let Ok(Line::Done(back)) = serde_json::from_str::<Line>(&line) else {
            panic!("not a done line: {line}");
        };
        let total: u64 = back.hist.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 4);
        assert_eq!((back.connected, back.failed, back.missing), (4, 1, 2));
        assert_eq!(back.first_error.as_deref(), Some("connect: refused"));
    }
}
