//! `/metrics` in Prometheus text format, and the connection gauge.
//!
//! Metric names (all `livescore_*`): `connections{transport}`,
//! `events_total`, `resets_total{reason}`, `subscribers_conflated_total`,
//! `subscribers_dropped_total{reason}`, `hub_lagged_total`,
//! `history_events{topic}`.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::AppState;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once; later calls reuse it (tests
/// build several routers in one process).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, in which
            // case our handle renders nothing but the process still works.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// `GET /metrics`.
pub async fn render(State(st): State<AppState>) -> impl IntoResponse {
    for (topic, n) in st.hub.history_sizes() {
        metrics::gauge!("livescore_history_events", "topic" => topic).set(n as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
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
