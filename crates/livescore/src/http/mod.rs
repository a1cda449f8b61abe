//! HTTP transports: the JSON API, SSE, the page, health and metrics.
//!
//! Handlers read from the hub and write to the bus; they never touch the
//! store directly and never block on a client.

pub mod api;
pub mod auth;
pub mod caps;
pub mod client_addr;
pub mod encoding;
pub mod error;
pub mod guard;
pub mod head;
pub mod leagues;
pub mod limit;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod per_client;
pub mod publish;
pub mod server;
pub mod sse;
pub mod sse_socket;
pub mod subscription;
pub mod tls;
pub mod ui;
pub mod ws;

#[cfg(test)]
mod router_tests;

use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use crate::bus::Bus;
use crate::feed::poller::FeedSet;
use crate::hub::Hub;
use crate::store::StoreHandle;

/// Transport settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Idle time after which an SSE stream gets a `: keep-alive` comment
    /// (SPEC: at most 15 s, so proxies with 30-60 s idle timeouts keep it).
    pub keepalive: Duration,
    /// The range each SSE stream's `retry:` is drawn from
    /// (`--retry-min`, `--retry-max`).
    pub retry: sse::RetryRange,
    /// SSE streams on the socket path go on the hub's fast path when they
    /// keep up (`--fast-path`).
    pub fast_path: bool,
    /// Bearer token for `POST /api/publish`; none turns the endpoint off
    /// (403), so a server is never writable by accident. Replaceable at
    /// run time (SIGHUP with `--config`).
    pub publish_token: publish::PublishTokenCell,
    /// What a 202 from the publish API waits for (`--publish-ack`).
    pub publish_ack: publish::Ack,
    /// How long a `stored` 202 waits for the database (the publish
    /// timeout).
    pub store_wait: Duration,
    /// WebSocket limits and timers.
    pub ws: ws::WsConfig,
    /// Largest request body on any route, in bytes; past it, 413.
    pub max_body_bytes: usize,
    /// Origins whose pages may call this API from a browser (`*`: any);
    /// empty sends no CORS headers at all.
    pub cors_origins: guard::Origins,
    /// Peers whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub trusted_proxies: client_addr::TrustedProxies,
    /// `--max-connections-per-ip`'s counts, shared with the listener: the
    /// router charges requests through a trusted proxy to their client,
    /// and HTTP/2 streams (made by `app::serve` from the caps and
    /// `trusted_proxies`; the default caps nothing).
    pub client_cap: per_client::ClientCap,
    /// Tokens and private topics (`--jwt-*`, `--private-topics`, `--auth`).
    pub auth: auth::Auth,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(15),
            retry: sse::RetryRange::default(),
            fast_path: true,
            publish_token: publish::PublishTokenCell::default(),
            publish_ack: publish::Ack::Bus,
            store_wait: crate::bus::DEFAULT_PUBLISH_TIMEOUT,
            ws: ws::WsConfig::default(),
            max_body_bytes: guard::DEFAULT_MAX_BODY_BYTES,
            cors_origins: guard::Origins::default(),
            trusted_proxies: client_addr::TrustedProxies::default(),
            client_cap: per_client::ClientCap::default(),
            auth: auth::Auth::default(),
        }
    }
}

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Fan-out and recent history.
    pub hub: Arc<Hub>,
    /// Where published events enter.
    pub bus: Arc<dyn Bus>,
    /// The in-process feeds' status (none when this node runs no feed).
    pub feeds: FeedSet,
    /// Cancelled at shutdown: WebSockets close on it, SSE streams end when
    /// the hub closes on it.
    pub cancel: CancellationToken,
    /// The app's tasks; upgraded WebSocket connections hold a token of it
    /// so shutdown waits for their close frames.
    pub tracker: TaskTracker,
    /// Transport settings.
    pub config: Arc<HttpConfig>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The database (score history) and its writer's status (`/healthz`).
    pub store: StoreHandle,
    /// Chat rate limits, shared by every connection of the node.
    pub chat: Arc<ws::chat::ChatGate>,
}

/// The whole HTTP surface; tests drive it directly or over a socket.
pub fn router(state: AppState) -> Router {
    let body_limit = guard::BodyLimit(state.config.max_body_bytes);
    let cors = guard::cors(&state.config.cors_origins);
    let routes = Router::new()
        .route("/", get(ui::index))
        .route("/api", get(|| async { Redirect::permanent("/api/") }))
        .route("/api/", get(api::index))
        .route("/api/leagues", get(leagues::list))
        .route("/api/games/{eid}", get(api::game))
        .route("/api/games/{eid}/events", get(api::game_events))
        .route("/api/livescore", get(sse::livescore))
        .route("/api/stream", get(sse::stream))
        .route("/ws", get(ws::handler))
        .route("/api/publish", post(publish::publish))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(metrics::render))
        .fallback(ui::asset)
        .method_not_allowed_fallback(|uri: Uri| async move {
            (
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(
                    serde_json::json!({"error": format!("method not allowed on {}", uri.path())}),
                ),
            )
                .into_response()
        })
        .layer(axum::middleware::from_fn_with_state(
            body_limit,
            guard::limit_body,
        ))
        // A client behind a trusted proxy: its slot before anything else
        // is done for it.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            per_client::limit,
        ));
    // CORS outside the body limit, so an allowed page can read a 413 too.
    let routes = match cors {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    routes
        .layer(
            TraceLayer::new_for_http()
                // The path only: a query may carry `access_token`, which
                // is never logged.
                .make_span_with(|req: &axum::http::Request<_>| {
                    tracing::debug_span!("request", method = %req.method(), path = req.uri().path())
                })
                .on_response(metrics::RecordLatency::default()),
        )
        .with_state(state)
}
