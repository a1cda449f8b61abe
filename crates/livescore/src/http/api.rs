//! The JSON API: the week, one game, a game's score history, health.

use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Serialize;

use super::auth::request_token;
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

/// `GET /api/`: every game followed as last published (`?league=nba`:
/// that league's; several allowed).
#[utoipa::path(get, path = "/api/", tag = "api",
    params(("league" = Option<String>, Query, description = "Only these leagues' games \
        (`nba`, `eng.1`; repeated or comma-separated)")),
    responses(
        (status = 200, description = "The week as last published", body = WeekView),
        (status = 401, description = "`scores` is private and no valid token came", body = ErrorBody),
        (status = 403, description = "The token does not cover `scores`", body = ErrorBody),
        (status = 404, description = "A `league` this server does not follow", body = ErrorBody),
    ))]
pub async fn index(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let leagues = super::leagues::requested(query.as_deref())?;
    may_read(&st, model::TOPIC_SCORES, &headers, query.as_deref())?;
    super::leagues::known(&st, &leagues)?;
    let mut games: Vec<Game> = match st.hub.state(model::TOPIC_SCORES, model::EVENT_UPDATE) {
        Some(frame) => serde_json::from_slice(&frame.data).map_err(|e| ApiError::Internal {
            context: "stored scores are not a game list",
            source: Box::new(e),
        })?,
        None => Vec::new(),
    };
    if !leagues.is_empty() {
        games.retain(|g| leagues.contains(&g.league));
    }
    // The week fields describe a football board when one is there (a
    // client written for the NFL's board reads them), else the first.
    let first = games.iter().find(|g| g.week.is_some()).or(games.first());
    let view = WeekView {
        season: first.map(|g| g.season),
        week: first.and_then(|g| g.week),
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
        (status = 401, description = "The game's topic is private and no valid token came",
            body = ErrorBody),
        (status = 403, description = "The token does not cover the game's topic", body = ErrorBody),
        (status = 404, description = "No such game", body = ErrorBody),
    ))]
pub async fn game(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    eid: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(eid) = eid?;
    may_read(&st, &model::game_topic(&eid), &headers, query.as_deref())?;
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
        (status = 401, description = "The game's topic is private and no valid token came",
            body = ErrorBody),
        (status = 403, description = "The token does not cover the game's topic", body = ErrorBody),
        (status = 404, description = "No such game", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    ))]
pub async fn game_events(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    eid: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(eid) = eid?;
    let topic = model::game_topic(&eid);
    may_read(&st, &topic, &headers, query.as_deref())?;
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

/// The body of `GET /healthz` and `GET /readyz`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `degraded` with the reasons.
    status: &'static str,
    /// Why it is degraded: `bus disconnected`, `database unreachable`,
    /// `database writes failing`, `database queue above threshold`,
    /// `events lost since start`, `shutting down`, `feed KEY has produced
    /// no good document` (that feed's `last_error` says why); absent when
    /// ok.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<String>,
    bus: BusHealth,
    /// The database: kind, reachable, write queue, last written id,
    /// errors, events lost (per class).
    #[schema(value_type = Object)]
    database: StoreHealth,
    /// The feed, when this node runs exactly one (as before leagues).
    #[serde(skip_serializing_if = "Option::is_none")]
    feed: Option<FeedHealth>,
    /// Every feed this node runs, by key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    feeds: Vec<FeedHealth>,
}

/// Events queued for the database past which the node reports itself
/// degraded: a healthy writer keeps the queue to a batch or two, so this
/// many means the database has not kept up for a while.
pub const QUEUE_DEGRADED_EVENTS: usize = 2_000;

/// What this node's health is now, and whether it is ok.
async fn report(st: &AppState) -> (Health, bool) {
    let bus = st.bus.health();
    let database = st.store.health().await;
    let mut reasons: Vec<String> = Vec::new();
    let mut reason = |r: &str| reasons.push(r.to_owned());
    if !bus.connected {
        reason("bus disconnected");
    }
    if !database.reachable {
        reason("database unreachable");
    }
    if st.store.status.failing() {
        reason("database writes failing");
    }
    if database.queue > QUEUE_DEGRADED_EVENTS {
        reason("database queue above threshold");
    }
    if database.lost > 0 {
        reason("events lost since start");
    }
    if st.cancel.is_cancelled() {
        reason("shutting down");
    }
    let feeds = st.feeds.health();
    for f in feeds.iter().filter(|f| f.never_good()) {
        reasons.push(format!("feed {} has produced no good document", f.feed));
    }
    let feed = match feeds.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    };
    let ok = reasons.is_empty();
    let health = Health {
        status: if ok { "ok" } else { "degraded" },
        reasons,
        bus,
        database,
        feed,
        feeds,
    };
    (health, ok)
}

/// A read of a topic's state passes the same check as a subscription to
/// it: a private topic is no more readable through the JSON API than
/// through a stream.
fn may_read(
    st: &AppState,
    topic: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), ApiError> {
    let token = request_token(headers, query);
    st.config
        .auth
        .authorize(&[topic.to_string()], token.as_deref())?;
    Ok(())
}

/// `GET /healthz`: 200 while this node answers (it serves its clients
/// even when degraded: the stream survives a database or bus outage), with
/// `status` and the reasons in the JSON. For people and dashboards; a
/// balancer or a monitor that must act uses `/readyz`.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses(
        (status = 200, description = "This node is serving; `status` says `ok` or `degraded` with the reasons", body = Health),
    ))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    let (health, _) = report(&st).await;
    Json(health).into_response()
}

/// `GET /readyz`: 200 when `status` is `ok`, 503 (same JSON) whenever it
/// is not: the bus or database is away, writes fail, the write queue is
/// backing up, events were lost since start, or the node is stopping.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Ok: send it clients", body = Health),
        (status = 503, description = "Degraded: the reasons are in the JSON", body = Health),
    ))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    let (health, ok) = report(&st).await;
    let code = if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(health)).into_response()
}
