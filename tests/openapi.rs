//! `GET /api/openapi.json` on the real binary, and the answers that
//! schemathesis (scripts/schemathesis.sh) made us fix, pinned here so a
//! plain `cargo test` keeps them: every answer is a status the description
//! lists, with a JSON error body.

mod common;

use common::{client, Server};

const TOKEN: &str = "openapi-test-token";

fn server() -> Server {
    Server::start(&[
        "serve",
        "--publish-token",
        TOKEN,
        "--feed",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ss-2015-w1-final.xml"
        ),
    ])
}

/// Extra request headers of a case.
type Headers<'a> = &'a [(&'a str, &'a str)];

/// The statuses the description lists for `method path`.
fn documented(doc: &serde_json::Value, path: &str, method: &str) -> Vec<u16> {
    doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is described"))
        .keys()
        .map(|k| k.parse().expect("numeric status"))
        .collect()
}

async fn get(url: String, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut req = client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("get");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    (status, ctype, resp.text().await.unwrap_or_default())
}

/// The feed is polled once the server listens; the game cases need it done.
async fn wait_for_games(srv: &Server) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, _, body) = get(format!("{}/api/", srv.url), &[]).await;
        let week: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if week["games"].as_array().is_some_and(|g| !g.is_empty()) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no games after 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_description_is_served_and_the_answers_match_it() {
    let srv = server();
    let (status, ctype, body) = get(format!("{}/api/openapi.json", srv.url), &[]).await;
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    wait_for_games(&srv).await;

    // (path template, request path, extra headers, expected status)
    let ws_headers: Headers = &[
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "not base64 at all"),
    ];
    let many_topics = format!("/api/stream?{}", ["topic=scores"; 33].join("&"));
    let cases: &[(&str, &str, Headers, u16)] = &[
        ("/api/", "/api/", &[], 200),
        ("/api/games/{eid}", "/api/games/2015091000", &[], 200),
        ("/api/games/{eid}", "/api/games/nope", &[], 404),
        // Not UTF-8 once decoded: axum's plain-text rejection before the fix.
        ("/api/games/{eid}", "/api/games/%FF", &[], 400),
        ("/api/games/{eid}/events", "/api/games/%FF/events", &[], 400),
        (
            "/api/games/{eid}/events",
            "/api/games/2015091000/events",
            &[],
            200,
        ),
        ("/api/stream", "/api/stream", &[], 400),
        ("/api/stream", "/api/stream?topic=a%20b", &[], 400),
        // 33 topic parameters, one distinct: over `maxItems: 32` (was a 200).
        ("/api/stream", &many_topics, &[], 400),
        ("/api/livescore", "/api/livescore", &[], 302),
        ("/healthz", "/healthz", &[], 200),
        ("/readyz", "/readyz", &[], 200),
        ("/metrics", "/metrics", &[], 200),
        ("/ws", "/ws", &[], 400),
        // RFC 6455 4.2.1: a key that is not 16 bytes in base64 is a 400
        // (axum alone upgraded it).
        ("/ws", "/ws", ws_headers, 400),
    ];
    for (template, path, headers, want) in cases {
        let (status, ctype, body) = get(format!("{}{path}", srv.url), headers).await;
        assert_eq!(status, *want, "GET {path}: {body}");
        assert!(
            documented(&doc, template, "get").contains(&status),
            "GET {path} answered {status}, not in the description of {template}"
        );
        if status >= 400 {
            assert_eq!(ctype, "application/json", "GET {path}");
            let err: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
            assert!(err["error"].is_string(), "GET {path}: {body}");
        }
    }
}

#[tokio::test]
async fn event_names_are_limited_in_characters_as_documented() {
    let srv = server();
    let post = |event: String| {
        let body = serde_json::json!({"topic": "news", "event": event, "data": 1});
        client()
            .post(format!("{}/api/publish", srv.url))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    // 64 two-byte characters: within `maxLength: 64`, so accepted.
    let ok = post("é".repeat(64)).await.expect("post");
    assert_eq!(ok.status().as_u16(), 202);
    let too_long = post("é".repeat(65)).await.expect("post");
    assert_eq!(too_long.status().as_u16(), 400);
}
