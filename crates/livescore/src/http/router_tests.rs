//! The router driven in process with `tower::ServiceExt::oneshot`: no
//! socket, no binary, so each answer's status and body is checked in
//! milliseconds. The binary-level suites (tests/) cover the same surface
//! over real connections; these pin what each route answers to a bad or
//! unknown request.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;

use super::{router, AppState, HttpConfig};
use crate::bus::{Bus, MemoryBus};
use crate::hub::Hub;
use crate::store::{self, StoreHandle, WriterStatus};

/// A node's state on the memory bus and an in-memory database, with
/// publishing on under `token`.
async fn state(token: Option<&str>) -> AppState {
    let config = HttpConfig {
        publish_token: super::publish::PublishTokenCell::new(
            token.and_then(super::publish::PublishToken::new),
        ),
        ..HttpConfig::default()
    };
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(1, 0));
    AppState {
        hub: Hub::new(1),
        bus,
        feeds: Default::default(),
        cancel: tokio_util::sync::CancellationToken::new(),
        tracker: tokio_util::task::TaskTracker::new(),
        chat: Arc::new(super::ws::chat::ChatGate::new(&config.ws.chat)),
        config: Arc::new(config),
        metrics: super::metrics::handle(),
        store: StoreHandle {
            store: store::open("sqlite::memory:")
                .await
                .expect("in-memory database"),
            status: WriterStatus::new(1, 0),
        },
    }
}

/// Status and JSON body of one request.
async fn call(st: AppState, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = router(st).oneshot(req).await.expect("the router answers");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("a body");
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

#[tokio::test]
async fn an_unknown_game_is_a_json_404() {
    let (status, body) = call(state(None).await, get("/api/games/1999010100")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("1999010100")),
        "{body}"
    );
}

#[tokio::test]
async fn a_stream_without_a_topic_is_a_json_400() {
    let req = Request::get("/api/stream")
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .expect("request");
    let (status, body) = call(state(None).await, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("topic")),
        "{body}"
    );
}

#[tokio::test]
async fn publishing_is_off_without_a_token_and_needs_the_right_one_with_it() {
    let publish = |auth: Option<&str>| {
        let mut req =
            Request::post("/api/publish").header(header::CONTENT_TYPE, "application/json");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        req.body(Body::from(r#"{"topic":"news","event":"m","data":{}}"#))
            .expect("request")
    };
    let (status, _) = call(state(None).await, publish(Some("Bearer x"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let st = state(Some("s3cret-token")).await;
    let mut heard = st.bus.subscribe();
    let (status, body) = call(st.clone(), publish(Some("Bearer wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = call(st.clone(), publish(Some("Bearer s3cret-token"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Once, on the bus, with the id it was answered with.
    let env = heard.try_recv().expect("the event is on the bus");
    assert_eq!(
        (env.topic.as_str(), env.id.to_string()),
        ("news", body["id"].as_str().unwrap_or_default().to_string())
    );
    assert!(
        heard.try_recv().is_err(),
        "the refused publish was not on the bus"
    );
}

#[tokio::test]
async fn a_plain_get_on_ws_is_a_json_400_not_an_upgrade() {
    let mut req = get("/ws");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            9,
        ))));
    let (status, body) = call(state(None).await, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("WebSocket upgrade")),
        "{body}"
    );
}
