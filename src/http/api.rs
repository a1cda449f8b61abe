//! The JSON API: the week, one game, a game's score history, health.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::error::ApiError;
use super::AppState;
use crate::bus::BusHealth;
use crate::feed::poller::FeedHealth;
use crate::model::{self, EventId, Game};

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

/// `GET /api/games/{eid}/events`: the game's ScoreEvents, oldest first.
pub async fn game_events(
    State(st): State<AppState>,
    Path(eid): Path<String>,
) -> Result<Response, ApiError> {
    let topic = model::game_topic(&eid);
    if st.hub.state(&topic, model::EVENT_GAME).is_none() {
        return Err(unknown_game(&eid));
    }
    let events = st.hub.history(&topic, model::EVENT_SCORE);
    let mut out =
        BytesMut::with_capacity(2 + events.iter().map(|f| f.data.len() + 1).sum::<usize>());
    out.put_u8(b'[');
    for (i, f) in events.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(&f.data);
    }
    out.put_u8(b']');
    Ok(json_bytes(out.freeze()))
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
    (code, Json(Health { status, bus, feed })).into_response()
}
