//! The leagues a node follows: `GET /api/leagues`, and the `league` query
//! parameter that narrows `/api/` and `/api/livescore` to some of them.
//!
//! A league is known by its board (`scores/{league}`, on the hub whoever
//! polls it) or by a feed of this node that named it; the feed's health
//! shows beside it when this node runs that feed.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::auth::request_token;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::feed::espn::leagues;
use crate::feed::poller::FeedHealth;
use crate::model::{self, Game, GameState, Sport};

/// One league in `GET /api/leagues`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LeagueView {
    /// The key used in topics and URLs (`nba`, `eng.1`).
    league: String,
    /// What a page shows (`NBA`, `Premier League`).
    name: String,
    /// Its sport; null until its board or its feed says.
    #[schema(value_type = Option<String>)]
    sport: Option<Sport>,
    /// Season year of the board.
    season: Option<u16>,
    /// The week on the board (football).
    week: Option<u8>,
    /// The day on the board (`YYYY-MM-DD`, leagues that play by day).
    #[schema(value_type = Option<String>)]
    date: Option<chrono::NaiveDate>,
    /// Games on the board.
    games: usize,
    /// Games being played (halftime and intermissions included).
    live: usize,
    /// Games over.
    #[serde(rename = "final")]
    finals: usize,
    /// This node's feed of the league; null when another node polls it.
    feed: Option<FeedHealth>,
}

/// `GET /api/leagues`: every league with a board or a feed on this node.
#[utoipa::path(get, path = "/api/leagues", tag = "api",
    responses(
        (status = 200, description = "Every league followed, by key", body = [LeagueView]),
        (status = 401, description = "`scores` is private and no valid token came", body = ErrorBody),
        (status = 403, description = "The token does not cover `scores`", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = request_token(&headers, query.as_deref());
    st.config
        .auth
        .authorize(&[model::TOPIC_SCORES.to_owned()], token.as_deref())?;
    Ok(Json(views(&st)).into_response())
}

fn views(st: &AppState) -> Vec<LeagueView> {
    let mut out: std::collections::BTreeMap<String, LeagueView> = Default::default();
    for frame in st.hub.league_boards() {
        let Some(key) = model::board_league(&frame.topic) else {
            continue;
        };
        let games: Vec<Game> = serde_json::from_slice(&frame.data).unwrap_or_default();
        let first = games.first();
        out.insert(
            key.to_owned(),
            LeagueView {
                league: key.to_owned(),
                name: name_of(key),
                sport: first.map(|g| g.sport).or_else(|| sport_of(key)),
                season: first.map(|g| g.season),
                week: first.and_then(|g| g.week),
                date: first.and_then(|g| g.date),
                games: games.len(),
                live: games.iter().filter(|g| g.state.in_progress()).count(),
                finals: games.iter().filter(|g| is_final(g.state)).count(),
                feed: None,
            },
        );
    }
    for health in st.feeds.health() {
        let Some(key) = health.league.clone() else {
            continue;
        };
        let view = out.entry(key.clone()).or_insert_with(|| LeagueView {
            name: name_of(&key),
            sport: sport_of(&key),
            league: key,
            season: None,
            week: None,
            date: None,
            games: 0,
            live: 0,
            finals: 0,
            feed: None,
        });
        view.feed = Some(health);
    }
    // A league whose feed was removed leaves an empty board behind.
    out.retain(|_, v| v.games > 0 || v.feed.is_some());
    out.into_values().collect()
}

fn is_final(state: GameState) -> bool {
    matches!(
        state,
        GameState::Final | GameState::FinalOvertime | GameState::FinalShootout
    )
}

fn name_of(key: &str) -> String {
    leagues::find(key).map_or_else(|| key.to_uppercase(), |l| l.name.to_owned())
}

fn sport_of(key: &str) -> Option<Sport> {
    leagues::find(key).map(|l| l.sport)
}

/// The `league=` values of a query (repeated or comma-separated), each
/// once, in the order asked; empty when none was given. Any string is
/// taken: one that is not a league this node follows (a typo, a key that
/// could be none) is the 404 of [`known`], which names the leagues there
/// are.
pub fn requested(query: Option<&str>) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k != "league" {
            continue;
        }
        for league in v.split(',').filter(|l| !l.is_empty()) {
            if !out.iter().any(|l| l == league) {
                out.push(league.to_owned());
            }
        }
    }
    Ok(out)
}

/// Checks that every league asked for is one this node knows (a board on
/// the hub or a feed of its own): an unknown key is a 404 naming the
/// leagues there are, not an empty board that looks like a quiet day.
pub fn known(st: &AppState, asked: &[String]) -> Result<(), ApiError> {
    let have: Vec<String> = views(st).into_iter().map(|v| v.league).collect();
    match asked.iter().find(|l| !have.contains(l)) {
        None => Ok(()),
        Some(missing) => Err(ApiError::NotFound(format!(
            "no league {:?} on this server (leagues: {})",
            missing.chars().take(40).collect::<String>(),
            if have.is_empty() {
                "none yet".to_owned()
            } else {
                have.join(", ")
            }
        ))),
    }
}
