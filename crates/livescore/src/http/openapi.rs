//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the HTTP API.
//!
//! Generated from the code, never hand-kept: each handler carries its
//! `#[utoipa::path]` (method, path, parameters, every status it can really
//! answer) and each body type derives `ToSchema` beside its serde derives,
//! so a change to a handler or a type changes the description with it.
//! This module only gathers them, adds the publish API's bearer scheme, and
//! serves the document (built once; it cannot change while running).
//! `scripts/schemathesis.sh` fuzzes a live server against it in CI.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::sse::{LivescoreEvent, StreamEvent, Topic};
use super::{api, error, leagues, metrics, publish, sse, ui, ws};
use crate::bus::BusHealth;
use crate::feed::poller::FeedHealth;
use crate::model::{
    EventId, Game, GameDetails, GameState, Quarter, ScoreEvent, Situation, Sport, Team, TeamDetails,
};

/// The description. `paths` lists every route of [`super::router`] except
/// the `/api` redirect and the static assets of the page.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "livescore",
        description = "Real-time NFL scores: JSON API, Server-Sent Events, WebSocket, publish API."
    ),
    paths(
        ui::index,
        api::index,
        leagues::list,
        api::game,
        api::game_events,
        sse::livescore,
        sse::stream,
        ws::handler,
        publish::publish,
        api::healthz,
        api::readyz,
        metrics::render,
        openapi_json,
    ),
    components(schemas(
        Game,
        Team,
        GameDetails,
        TeamDetails,
        GameState,
        Quarter,
        Sport,
        Situation,
        ScoreEvent,
        EventId,
        api::WeekView,
        api::Health,
        BusHealth,
        FeedHealth,
        publish::PublishRequest,
        publish::Published,
        error::ErrorBody,
        Topic,
        LivescoreEvent,
        StreamEvent,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "api", description = "JSON API and publishing"),
        (name = "stream", description = "Live streams: SSE and WebSocket"),
        (name = "ops", description = "Health and metrics"),
        (name = "ui", description = "The scoreboard page"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme that `POST /api/publish` requires.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The server's --publish-token"))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The serialized description, built on first request.
fn document() -> &'static Bytes {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    DOC.get_or_init(|| {
        Bytes::from(
            ApiDoc::openapi()
                .to_json()
                .expect("the OpenAPI description serializes"),
        )
    })
}

/// `GET /api/openapi.json`.
#[utoipa::path(get, path = "/api/openapi.json", tag = "api",
    responses((status = 200, description = "This document (OpenAPI 3.1)",
        content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document().clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn doc() -> Value {
        serde_json::from_slice(document()).expect("the document is JSON")
    }

    #[test]
    fn every_spec_endpoint_is_described_with_its_statuses() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let expect: &[(&str, &str, &[&str])] = &[
            ("/", "get", &["200"]),
            ("/api/", "get", &["200", "401", "403", "404"]),
            ("/api/leagues", "get", &["200", "401", "403"]),
            (
                "/api/games/{eid}",
                "get",
                &["200", "400", "401", "403", "404"],
            ),
            (
                "/api/games/{eid}/events",
                "get",
                &["200", "400", "401", "403", "404", "503"],
            ),
            (
                "/api/livescore",
                "get",
                &["200", "302", "400", "401", "403", "404"],
            ),
            ("/api/stream", "get", &["200", "400", "401", "403"]),
            ("/ws", "get", &["101", "400", "403"]),
            (
                "/api/publish",
                "post",
                &["202", "400", "401", "403", "413", "503", "504"],
            ),
            ("/healthz", "get", &["200"]),
            ("/readyz", "get", &["200", "503"]),
            ("/metrics", "get", &["200"]),
            ("/api/openapi.json", "get", &["200"]),
        ];
        let paths = doc["paths"].as_object().expect("paths");
        assert_eq!(paths.len(), expect.len(), "{:?}", paths.keys());
        for (path, method, statuses) in expect {
            let op = &doc["paths"][path][method];
            let got: Vec<&str> = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} is described"))
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(&got, statuses, "{method} {path}");
        }
    }

    #[test]
    fn streams_publish_and_errors_are_described_as_served() {
        let doc = doc();
        for path in ["/api/livescore", "/api/stream"] {
            let ok = &doc["paths"][path]["get"]["responses"]["200"]["content"];
            assert!(ok.get("text/event-stream").is_some(), "{path}: {ok}");
        }
        let publish = &doc["paths"]["/api/publish"]["post"];
        assert_eq!(publish["security"][0]["bearer"], serde_json::json!([]));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let req = &doc["components"]["schemas"]["PublishRequest"];
        assert_eq!(req["additionalProperties"], false, "{req}");
        let err = &doc["components"]["schemas"]["ErrorBody"];
        assert_eq!(err["required"], serde_json::json!(["error"]));
        let stream = &doc["paths"]["/api/stream"]["get"]["parameters"];
        let topic = &stream[0];
        assert_eq!(topic["name"], "topic");
        assert_eq!(topic["explode"], true);
        assert_eq!(
            topic["schema"]["items"]["$ref"],
            "#/components/schemas/Topic"
        );
    }

    #[test]
    fn the_topic_pattern_states_what_the_server_checks() {
        let schema = &doc()["components"]["schemas"]["Topic"];
        assert_eq!(schema["pattern"], crate::http::sse::TOPIC_PATTERN);
        // The pattern's pieces, checked against the real validator.
        let max = "x".repeat(crate::model::MAX_TOPIC_BYTES);
        for ok in ["scores", "game/2015091000", "a.b:c-d_e", max.as_str()] {
            assert!(crate::model::valid_topic(ok), "{ok}");
        }
        for bad in ["", "a b", "é", "a?b", &format!("{max}x")] {
            assert!(!crate::model::valid_topic(bad), "{bad}");
        }
    }
}
