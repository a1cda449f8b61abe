//! `/metrics` in Prometheus text format; every metric name lives here.
//!
//! Metrics are recorded where things happen through the `metrics` facade
//! (one atomic add, no log line, never per client per event at info) and
//! rendered by `metrics-exporter-prometheus`. All names are `livescore_*`:
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `connections` | gauge | `transport` = `sse`, `ws` | open streams |
//! | `tcp_connections` | gauge | | open TCP connections (all kinds) |
//! | `connections_rejected_total` | counter | `reason` = `max_connections`, `per_ip` | turned away at accept |
//! | `accept_errors_total` | counter | | `accept` failed (EMFILE...) |
//! | `accepts_paced_total` | counter | | connections the accept loop waited for a token to take (`--accept-rate`) |
//! | `events_total` | counter | | events published on the bus, as this node's hub took them |
//! | `bus_connected` | gauge | | 1 while the bus is usable, set at each scrape |
//! | `bus_lag_events` | gauge | | events in the shared log this node has not delivered yet (Redis), set at each scrape |
//! | `bus_reconnects_total` | counter | | reconnections to the shared bus (Redis) |
//! | `bus_publish_retries_total` | counter | | publishes retried on the shared bus (Redis, NATS) |
//! | `bus_publish_timeouts_total` | counter | | publishes refused for `--publish-timeout` (API 503, chat error, feed retry) |
//! | `bus_epoch_resets_total` | counter | | new bus histories this node found (Redis restarted empty, JetStream stream recreated) |
//! | `bus_late_dropped_total` | counter | | NATS messages stored after their publish was refused, dropped unread |
//! | `bus_corrupt_total` | counter | | unreadable entries skipped on the shared bus (Redis, NATS) |
//! | `events_delivered_total` | counter | `transport` | event frames written to clients |
//! | `resumes_total` | counter | | `Last-Event-ID` resumes served from history |
//! | `resets_total` | counter | `reason` = `evicted`, `epoch`, `unknown` | `reset` events sent |
//! | `subscribers_conflated_total` | counter | | lagging subscribers skipped to the latest state |
//! | `subscribers_dropped_total` | counter | `reason` = `lagged`, `slow`, `timeout` | subscribers disconnected |
//! | `delivery_latency_seconds` | histogram | `transport` | from the bus taking an event to its write to a client, live deliveries only (`http::latency`) |
//! | `hub_lagged_total` | counter | | the hub fell behind the bus and refilled |
//! | `fast_path_writes_total` | counter | `transport` | deliveries the hub wrote straight to a subscriber's socket (also in `events_delivered_total`) |
//! | `fast_path_handbacks_total` | counter | | times a socket could not take an event whole and went back to its subscriber's own task |
//! | `fast_path_yields_total` | counter | | events the hub did not write itself because more were waiting: every socket went back to its task, which batches |
//! | `hub_skipped_total` | counter | | events the hub stepped over after falling behind the bus ring (never score history: that is recovered apart) |
//! | `history_events` | gauge | `topic` | events kept for resume: the 20 largest topics, the rest summed as `other` |
//! | `feed_polls_total` | counter | `result` | feed polls by outcome |
//! | `store_queue` | gauge | | events published but not yet written |
//! | `store_writes_total` | counter | | events written to the database |
//! | `store_write_errors_total` | counter | | failed write attempts |
//! | `store_lost_total` | counter | `class` = `state`, `other`, `unknown` | events that never reached the database (`state`: score history, shed last) |
//! | `chat_messages_total` | counter | | chat messages published |
//! | `chat_rejected_total` | counter | `reason` = `invalid`, `rate`, `game_rate`, `auth` | chat messages refused |
//! | `http_request_duration_seconds` | histogram | `status` | time to the response head, streams (SSE, WebSocket upgrades) excluded: their lifetime is not latency |
//!
//! Every counter and gauge above (with its usual labels) is exported from
//! the start at 0, so a dashboard (deploy/grafana/livescore.json) or an
//! alert sees a series, and `rate()` a first sample, before anything
//! happens; the histogram appears with the first request.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, Response, StatusCode};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower_http::trace::{DefaultOnResponse, OnResponse};

use super::AppState;

/// The request latency histogram's name.
const LATENCY: &str = "livescore_http_request_duration_seconds";

/// Latency buckets in seconds: sub-millisecond for the hub-backed JSON
/// answers up to seconds for a history read waiting on a slow database.
const LATENCY_BUCKETS_SECS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once; later calls reuse it (tests
/// build several routers in one process).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(LATENCY.into()), LATENCY_BUCKETS_SECS)
                .expect("the latency bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, in which
            // case our handle renders nothing but the process still works.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            export_zeroes();
            handle
        })
        .clone()
}

/// Counters exported at 0 from the start, with the label sets they get.
const COUNTERS: &[(&str, &str, &[&str])] = &[
    ("livescore_accept_errors_total", "", &[]),
    ("livescore_accepts_paced_total", "", &[]),
    ("livescore_bus_corrupt_total", "", &[]),
    ("livescore_bus_epoch_resets_total", "", &[]),
    ("livescore_bus_late_dropped_total", "", &[]),
    ("livescore_bus_publish_retries_total", "", &[]),
    ("livescore_bus_publish_timeouts_total", "", &[]),
    ("livescore_bus_reconnects_total", "", &[]),
    ("livescore_chat_messages_total", "", &[]),
    (
        "livescore_chat_rejected_total",
        "reason",
        &["invalid", "rate", "game_rate", "auth"],
    ),
    ("livescore_connections_dropped_total", "", &[]),
    ("livescore_connections_evicted_total", "", &[]),
    (
        "livescore_connections_rejected_total",
        "reason",
        &["max_connections", "per_ip"],
    ),
    (
        "livescore_events_delivered_total",
        "transport",
        &["sse", "ws"],
    ),
    ("livescore_events_total", "", &[]),
    ("livescore_fast_path_handbacks_total", "", &[]),
    ("livescore_fast_path_yields_total", "", &[]),
    (
        "livescore_fast_path_writes_total",
        "transport",
        &["sse", "ws"],
    ),
    ("livescore_feed_lease_acquired_total", "", &[]),
    (
        "livescore_feed_polls_total",
        "result",
        &["ok", "not_modified", "error", "rejected"],
    ),
    ("livescore_hub_lagged_total", "", &[]),
    ("livescore_hub_skipped_total", "", &[]),
    (
        "livescore_resets_total",
        "reason",
        &["evicted", "epoch", "unknown"],
    ),
    ("livescore_resumes_total", "", &[]),
    (
        "livescore_store_lost_total",
        "class",
        &["state", "other", "unknown"],
    ),
    ("livescore_store_write_errors_total", "", &[]),
    ("livescore_store_writes_total", "", &[]),
    ("livescore_subscribers_conflated_total", "", &[]),
    (
        "livescore_subscribers_dropped_total",
        "reason",
        &["lagged", "slow", "timeout"],
    ),
];

/// Gauges exported at 0 from the start (`bus_*` are set at each scrape).
const GAUGES: &[(&str, &str, &[&str])] = &[
    ("livescore_bus_lag_events", "", &[]),
    ("livescore_connections", "transport", &["sse", "ws"]),
    ("livescore_store_queue", "", &[]),
    ("livescore_tcp_connections", "", &[]),
];

fn export_zeroes() {
    for &(name, label, values) in COUNTERS {
        for labels in label_sets(label, values) {
            metrics::counter!(name, labels).absolute(0);
        }
    }
    for &(name, label, values) in GAUGES {
        for labels in label_sets(label, values) {
            metrics::gauge!(name, labels).increment(0.0);
        }
    }
}

/// One label set per value, or the one empty set of an unlabelled series.
fn label_sets(label: &'static str, values: &[&'static str]) -> Vec<Vec<metrics::Label>> {
    if values.is_empty() {
        return vec![Vec::new()];
    }
    values
        .iter()
        .map(|&v| vec![metrics::Label::new(label, v)])
        .collect()
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition format",
        content_type = "text/plain", body = String)))]
pub async fn render(State(st): State<AppState>) -> impl IntoResponse {
    let bus = st.bus.health();
    metrics::gauge!("livescore_bus_connected").set(if bus.connected { 1.0 } else { 0.0 });
    if let Some(lag) = bus.lag {
        metrics::gauge!("livescore_bus_lag_events").set(lag as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render()
            + &history_lines(st.hub.history_sizes())
            + &crate::hub::latency::render(),
    )
}

/// Topics that get a `history_events` series of their own (the largest);
/// the rest are summed under `topic="other"`. Topics are named by
/// publishers, so one label per topic would let them grow `/metrics` (and
/// every scraper's database) without bound.
pub const HISTORY_TOPICS_SHOWN: usize = 20;

/// `livescore_history_events{topic}` for the largest topics and `other`,
/// rendered here rather than registered, so a topic that falls out of the
/// top leaves no series behind.
fn history_lines(mut sizes: Vec<(String, usize)>) -> String {
    use std::fmt::Write;
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = String::from(
        "# HELP livescore_history_events events kept for resume, per topic (the largest; the rest as other)\n\
         # TYPE livescore_history_events gauge\n",
    );
    let rest: usize = sizes
        .iter()
        .skip(HISTORY_TOPICS_SHOWN)
        .map(|(_, n)| n)
        .sum();
    for (topic, n) in sizes.iter().take(HISTORY_TOPICS_SHOWN) {
        // Topics are `[A-Za-z0-9/_.:-]`: nothing to escape in a label.
        let _ = writeln!(out, "livescore_history_events{{topic=\"{topic}\"}} {n}");
    }
    if sizes.len() > HISTORY_TOPICS_SHOWN {
        let _ = writeln!(out, "livescore_history_events{{topic=\"other\"}} {rest}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_series_are_bounded_to_the_largest_topics_and_other() {
        let sizes: Vec<_> = (0..1000).map(|i| (format!("t{i:04}"), i)).collect();
        let text = history_lines(sizes);
        let series: Vec<_> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(series.len(), HISTORY_TOPICS_SHOWN + 1);
        assert_eq!(series[0], "livescore_history_events{topic=\"t0999\"} 999");
        let rest: usize = (0..980).sum();
        assert_eq!(
            series[HISTORY_TOPICS_SHOWN],
            format!("livescore_history_events{{topic=\"other\"}} {rest}")
        );
    }
}

/// The counter of event frames a transport writes to its clients; taken
/// once per connection so each write is a single atomic add.
pub fn delivered(transport: &'static str) -> metrics::Counter {
    metrics::counter!("livescore_events_delivered_total", "transport" => transport)
}

/// `TraceLayer` response hook: records the latency of ordinary requests,
/// then logs like the default hook. Streams are left out: an SSE response
/// or a WebSocket upgrade lives for hours, and its head goes out at once.
#[derive(Debug, Clone, Default)]
pub struct RecordLatency {
    log: DefaultOnResponse,
}

impl<B> OnResponse<B> for RecordLatency {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &tracing::Span) {
        let stream = response.status() == StatusCode::SWITCHING_PROTOCOLS
            || response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if !stream {
            metrics::histogram!(LATENCY, "status" => response.status().as_str().to_string())
                .record(latency.as_secs_f64());
        }
        self.log.on_response(response, latency, span);
    }
}

/// Counts one open connection of a transport for as long as it lives.
pub struct ConnectionGuard {
    transport: &'static str,
}

impl ConnectionGuard {
    /// Opens the count (and logs at debug, never per event).
    pub fn new(transport: &'static str) -> Self {
        metrics::gauge!("livescore_connections", "transport" => transport).increment(1.0);
        tracing::debug!(transport, "connection opened");
        Self { transport }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        metrics::gauge!("livescore_connections", "transport" => self.transport).decrement(1.0);
        tracing::debug!(transport = self.transport, "connection closed");
    }
}
