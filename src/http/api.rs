//! The JSON API: the week, one game, a game's score history, health.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Serialize;

use super::error::ApiError;
use super::AppState;
use crate::bus::BusHealth;
use crate::feed::poller::FeedHealth;
use crate::model::{self, EventId, Game};
use crate::store::{StoreError, StoreHealth};

#[derive(Serialize)]
struct WeekView {
    season: Option<u16>,
    week: Option<u8>,
    season_type: Option<String>,
    games: Vec<Game>,
    last_event_id: Option<EventId>,
}

/// `GET /api/`: the whole week as last published.
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
pub async fn game(
    State(st): State<AppState>,
    Path(eid): Path<String>,
) -> Result<Response, ApiError> {
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
pub async fn game_events(
    State(st): State<AppState>,
    Path(eid): Path<String>,
) -> Result<Response, ApiError> {
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

#[derive(Serialize)]
struct Health {
    status: &'static str,
    bus: BusHealth,
    database: StoreHealth,
    #[serde(skip_serializing_if = "Option::is_none")]
    feed: Option<FeedHealth>,
}

/// `GET /healthz`: 200 while this node can serve, 503 when it cannot.
pub async fn healthz(State(st): State<AppState>) -> Response {
    let bus = st.bus.health();
    let ok = bus.connected;
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
    // Reported, not yet judged: a database that is down does not stop the
    // stream (writes queue), so it does not make this node unhealthy here.
    let database = st.store.health().await;
    let health = Health {
        status,
        bus,
        database,
        feed,
    };
    (code, Json(health)).into_response()
}
