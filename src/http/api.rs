//! The JSON API: the week, one game, a game's score history, health.

use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Serialize;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::bus::BusHealth;
use crate::feed::poller::FeedHealth;
use crate::model::{self, EventId, Game, ScoreEvent};
use crate::store::{StoreError, StoreHealth};

/// The body of `GET /api/`; the week fields are null before the first
/// feed document.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WeekView {
    season: Option<u16>,
    week: Option<u8>,
    season_type: Option<String>,
    games: Vec<Game>,
    last_event_id: Option<EventId>,
}

/// `GET /api/`: the whole week as last published.
#[utoipa::path(get, path = "/api/", tag = "api",
    responses((status = 200, description = "The week as last published", body = WeekView)))]
pub async fn index(State(st): State<AppState>) -> Result<Response, ApiError> {
    let games: Vec<Game> = match st.hub.state(model::TOPIC_SCORES, model::EVENT_UPDATE) {
        Some(frame) => serde_json::from_slice(&frame.data)
            .map_err(|e| ApiError::Internal(format!("stored scores are not a game list: {e}")))?,
        None => Vec::new(),
    };
    let first = games.first();
    let view = WeekView {
        season: first.map(|g| g.season),
        week: first.map(|g| g.week),
        season_type: first.map(|g| g.season_type.clone()),
        last_event_id: st.hub.last_id(),
        games,
    };
    Ok(Json(view).into_response())
}

/// `GET /api/games/{eid}`.
#[utoipa::path(get, path = "/api/games/{eid}", tag = "api",
    params(("eid" = String, Path, description = "Game id, e.g. 2015091000")),
    responses(
        (status = 200, description = "The game's latest state", body = Game),
        (status = 400, description = "The path is not valid UTF-8", body = ErrorBody),
        (status = 404, description = "No such game", body = ErrorBody),
    ))]
pub async fn game(
    State(st): State<AppState>,
    eid: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(eid) = eid?;
    let frame = st
        .hub
        .state(&model::game_topic(&eid), model::EVENT_GAME)
        .ok_or_else(|| unknown_game(&eid))?;
    Ok(json_bytes(frame.data.clone()))
}

/// How long a history request waits for the store writer to reach what
/// was already streamed, so the answer never lacks a score a client saw.
/// Normally milliseconds; a slow database gets what it has after this.
const HISTORY_CATCH_UP: Duration = Duration::from_secs(2);

/// `GET /api/games/{eid}/events`: the game's ScoreEvents, oldest first,
/// from the database (SPEC), which holds the whole game however long the
/// hub's window is.
#[utoipa::path(get, path = "/api/games/{eid}/events", tag = "api",
    params(("eid" = String, Path, description = "Game id, e.g. 2015091000")),
    responses(
        (status = 200, description = "The game's score changes, oldest first", body = [ScoreEvent]),
        (status = 400, description = "The path is not valid UTF-8", body = ErrorBody),
        (status = 404, description = "No such game", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    ))]
pub async fn game_events(
    State(st): State<AppState>,
    eid: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(eid) = eid?;
    let topic = model::game_topic(&eid);
    let streamed = st.hub.state(&topic, model::EVENT_GAME).is_some();
    if let Some(last) = st.hub.last_id() {
        st.store.caught_up(last.seq, HISTORY_CATCH_UP).await;
    }
    let unavailable = |err: StoreError| {
        tracing::warn!(%err, "score history read failed");
        ApiError::Unavailable("the database is unavailable; try again shortly".into())
    };
    let db = &st.store.store;
    if !streamed && !db.has_game(&eid).await.map_err(unavailable)? {
        return Err(unknown_game(&eid));
    }
    let events = db.score_events(&eid).await.map_err(unavailable)?;
    Ok(Json(events).into_response())
}

fn unknown_game(eid: &str) -> ApiError {
    let shown: String = eid.chars().take(40).collect();
    ApiError::NotFound(format!("unknown game {shown:?}"))
}

fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The body of `GET /healthz`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `degraded` with a 503.
    status: &'static str,
    /// Why it is degraded: `bus disconnected`, `database unreachable`,
    /// `shutting down`; absent when ok.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<&'static str>,
    bus: BusHealth,
    /// The database: kind, reachable, write queue, last written id, errors.
    #[schema(value_type = Object)]
    database: StoreHealth,
    #[serde(skip_serializing_if = "Option::is_none")]
    feed: Option<FeedHealth>,
}

/// `GET /healthz`: 200 while this node can serve, 503 when it cannot.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses(
        (status = 200, description = "This node is serving", body = Health),
        (status = 503, description = "This node cannot serve now", body = Health),
    ))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    let bus = st.bus.health();
    // The stream itself survives a database outage (writes queue behind
    // the bus), but history reads fail and an outage past the queue loses
    // events, so a balancer should prefer another node: 503 with the reason.
    let database = st.store.health().await;
    let mut reasons = Vec::new();
    if !bus.connected {
        reasons.push("bus disconnected");
    }
    if !database.reachable {
        reasons.push("database unreachable");
    }
    if st.cancel.is_cancelled() {
        reasons.push("shutting down");
    }
    let ok = reasons.is_empty();
    let code = if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    let feed = st
        .feed
        .as_ref()
        .map(|f| f.lock().expect("feed status lock").clone());
    let status = if ok { "ok" } else { "degraded" };
    let health = Health {
        status,
        reasons,
        bus,
        database,
        feed,
    };
    (code, Json(health)).into_response()
}
