//! `livescore_delivery_latency_seconds{transport}`: from the moment the
//! bus took an event to the moment this node wrote it to a client.
//!
//! Recorded for every live delivery, so it is a fixed set of atomic
//! counters rather than the exporter's histogram, which keeps every sample
//! until the next scrape (at a million deliveries a second and no scraper,
//! memory without bound). Frames handed over at the start of a
//! subscription (current state, a resume from history) are not counted:
//! their age is the history's, not a delay. The publish time is the clock
//! of whatever orders the bus (this process, the Redis server, the NATS
//! server), so across machines the figure includes their clock offset.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::hub::Frame;

/// Upper bounds of the buckets, in microseconds (`le` in seconds).
const BOUNDS_US: [u64; 14] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 10_000_000,
];

/// One transport's histogram.
pub struct Histogram {
    /// Per bucket (not cumulative), the last one past every bound.
    counts: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            counts: [const { AtomicU64::new(0) }; BOUNDS_US.len() + 1],
            sum_us: AtomicU64::new(0),
        }
    }

    /// Counts `frame` as written at `now_us`, if the bus stamped it.
    pub fn observe(&self, frame: &Frame, now_us: u64) {
        if frame.published_us == 0 {
            return;
        }
        let took = now_us.saturating_sub(frame.published_us);
        let bucket = BOUNDS_US.partition_point(|&b| b < took);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(took, Ordering::Relaxed);
    }

    /// Counts `n` writes of `frame` at `now_us` (one fan-out's worth).
    pub fn observe_n(&self, frame: &Frame, now_us: u64, n: u64) {
        if frame.published_us == 0 || n == 0 {
            return;
        }
        let took = now_us.saturating_sub(frame.published_us);
        let bucket = BOUNDS_US.partition_point(|&b| b < took);
        self.counts[bucket].fetch_add(n, Ordering::Relaxed);
        self.sum_us.fetch_add(took * n, Ordering::Relaxed);
    }

    /// How many deliveries were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, transport: &str, out: &mut String) {
        let name = "livescore_delivery_latency_seconds";
        let mut cumulative = 0;
        for (i, bound) in BOUNDS_US.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let le = *bound as f64 / 1e6;
            let _ = writeln!(
                out,
                "{name}_bucket{{transport=\"{transport}\",le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.counts[BOUNDS_US.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{transport=\"{transport}\",le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{transport=\"{transport}\"}} {sum}");
        let _ = writeln!(
            out,
            "{name}_count{{transport=\"{transport}\"}} {cumulative}"
        );
    }
}

static SSE: Histogram = Histogram::new();
static WS: Histogram = Histogram::new();

/// The histogram of a transport (`sse` or `ws`); taken once per connection.
pub fn of(transport: &'static str) -> &'static Histogram {
    match transport {
        "ws" => &WS,
        _ => &SSE,
    }
}

/// The histograms in Prometheus text format, for `/metrics`.
pub fn render() -> String {
    let mut out = String::from(
        "# HELP livescore_delivery_latency_seconds from the bus taking an event to its write to a client (live deliveries)\n\
         # TYPE livescore_delivery_latency_seconds histogram\n",
    );
    SSE.render("sse", &mut out);
    WS.render("ws", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Envelope;
    use crate::model::EventId;

    fn frame(published_us: u64) -> Frame {
        Frame::encode(&Envelope {
            id: EventId::new(1, 1),
            topic: "t".into(),
            event: "e".into(),
            data: bytes::Bytes::from_static(b"{}"),
            published_us,
        })
    }

    #[test]
    fn deliveries_land_in_cumulative_buckets_and_unstamped_frames_are_left_out() {
        let h = Histogram::new();
        h.observe(&frame(1_000_000), 1_000_200); // 200 µs
        h.observe(&frame(1_000_000), 1_003_000); // 3 ms
        h.observe(&frame(1_000_000), 61_000_000); // a minute
        h.observe(&frame(2_000_000), 1_000_000); // a clock behind: 0
        h.observe(&frame(0), 5_000_000); // not from the bus
        assert_eq!(h.count(), 4);
        let mut out = String::new();
        h.render("sse", &mut out);
        let line = |le: &str| {
            out.lines()
                .find(|l| l.contains(&format!("le=\"{le}\"")))
                .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(line("0.00025"), "2");
        assert_eq!(line("0.0025"), "2");
        assert_eq!(line("0.005"), "3");
        assert_eq!(line("10"), "3");
        assert_eq!(line("+Inf"), "4");
        assert!(out.contains("livescore_delivery_latency_seconds_sum{transport=\"sse\"} 60.0032"));
        assert!(out.contains("livescore_delivery_latency_seconds_count{transport=\"sse\"} 4"));
    }
}
