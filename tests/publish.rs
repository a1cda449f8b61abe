//! `POST /api/publish` and `livescore publish`, over real HTTP against the
//! real binary: auth, limits, validation, and delivery to SSE clients.

mod common;

use std::time::Duration;

use common::{client, Server, SseStream};

const TOKEN: &str = "test-token-0123456789";

async fn post(
    server: &Server,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value) {
    let mut req = client()
        .post(format!("{}/api/publish", server.url))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("post");
    let status = resp.status().as_u16();
    let body = resp.json().await.expect("every answer is JSON");
    (status, body)
}

fn event(topic: &str, event: &str, data: serde_json::Value) -> String {
    serde_json::json!({"topic": topic, "event": event, "data": data}).to_string()
}

#[tokio::test]
async fn a_good_token_publishes_and_the_event_reaches_sse_clients() {
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
    ]);
    let mut sse = SseStream::connect(&format!("{}/api/stream?topic=news", server.url), None).await;
    let data = serde_json::json!({"text": "kickoff moved to 4:25", "lines": "a\nb"});
    let (status, body) = post(&server, Some(TOKEN), event("news", "flash", data.clone())).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    let ev = sse
        .next_event(Duration::from_secs(10))
        .await
        .expect("event");
    assert_eq!(ev.id.as_deref(), Some(id.as_str()));
    assert_eq!(ev.event, "flash");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ev.data).expect("json"),
        data
    );
}

#[tokio::test]
async fn bad_tokens_limits_and_bad_bodies_are_refused_with_json_errors() {
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
    ]);
    let good = event("news", "flash", serde_json::json!(1));
    for token in [None, Some("wrong"), Some("test-token-012345678"), Some("")] {
        let (status, body) = post(&server, token, good.clone()).await;
        assert_eq!(status, 401, "{token:?}");
        assert!(body["error"].is_string());
    }
    // Not "Bearer": refused too.
    let resp = client()
        .post(format!("{}/api/publish", server.url))
        .header("authorization", format!("Basic {TOKEN}"))
        .body(good.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);

    let big = event("news", "flash", serde_json::json!("x".repeat(70 * 1024)));
    let (status, body) = post(&server, Some(TOKEN), big).await;
    assert_eq!(status, 413);
    assert!(body["error"].as_str().expect("error").contains("larger"));

    let bad_bodies = [
        ("{not json".to_string(), "bad publish request"),
        (r#"{"topic":"news","event":"flash"}"#.to_string(), "data"),
        (event("a b", "flash", serde_json::json!(1)), "bad topic"),
        (event("", "flash", serde_json::json!(1)), "bad topic"),
        (event("news", "", serde_json::json!(1)), "bad event name"),
        (
            event("news", "two\nlines", serde_json::json!(1)),
            "bad event name",
        ),
        (
            event("news", &"e".repeat(65), serde_json::json!(1)),
            "bad event name",
        ),
        (
            event("scores", "update", serde_json::json!({"not": "games"})),
            "list of games",
        ),
    ];
    for (body, words) in bad_bodies {
        let (status, answer) = post(&server, Some(TOKEN), body.clone()).await;
        assert_eq!(status, 400, "{body:.80}");
        let msg = answer["error"].as_str().expect("error message");
        assert!(msg.contains(words), "{msg:?} should mention {words:?}");
    }

    // None of it reached the bus.
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    assert!(week["last_event_id"].is_null(), "{week}");
}

#[tokio::test]
async fn without_a_configured_token_the_endpoint_is_off() {
    let server = Server::start(&["serve", "--database-url", "sqlite::memory:"]);
    for token in [None, Some(TOKEN)] {
        let (status, body) =
            post(&server, token, event("news", "flash", serde_json::json!(1))).await;
        assert_eq!(status, 403);
        assert!(body["error"].as_str().expect("error").contains("off"));
    }
}

/// Runs `livescore publish ARGS`: (exit ok, stdout, stderr).
async fn publish_cli(args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .arg("publish")
        .args(args)
        .env_remove("LIVESCORE_PUBLISH_TOKEN")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run publish");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_publish_command_posts_to_a_server_and_prints_the_id() {
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
    ]);
    let mut sse = SseStream::connect(&format!("{}/api/stream?topic=news", server.url), None).await;
    let (ok, out, err) = publish_cli(&[
        "--server",
        &server.url,
        "--token",
        TOKEN,
        "--topic",
        "news",
        "--event",
        "flash",
        r#"{"text":"hi"}"#,
    ])
    .await;
    assert!(ok, "{err}");
    let id = out.trim();
    let ev = sse
        .next_event(Duration::from_secs(10))
        .await
        .expect("event");
    assert_eq!(ev.id.as_deref(), Some(id));
    assert_eq!(ev.event, "flash");
    assert_eq!(ev.data, r#"{"text":"hi"}"#);

    let failures: [(&[&str], &str); 4] = [
        (
            &[
                "--server",
                &server.url,
                "--token",
                "nope",
                "--topic",
                "news",
                "--event",
                "e",
                "1",
            ],
            "401",
        ),
        (
            &[
                "--server",
                &server.url,
                "--topic",
                "news",
                "--event",
                "e",
                "1",
            ],
            "--token",
        ),
        (
            &[
                "--server",
                &server.url,
                "--token",
                TOKEN,
                "--topic",
                "news",
                "--event",
                "e",
                "{bad",
            ],
            "not JSON",
        ),
        (&["--topic", "news", "--event", "e", "1"], "--server"),
    ];
    for (args, words) in failures {
        let (ok, out, err) = publish_cli(args).await;
        assert!(!ok && out.is_empty(), "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(words), "{err:?} should mention {words:?}");
    }
}

/// `Idempotency-Key` (header, and `livescore publish --idempotency-key`):
/// a retry gets the first id and the event is delivered once; a bad key
/// is a 400 that publishes nothing.
#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_is_delivered_once() {
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
    ]);
    let mut sse = SseStream::connect(&format!("{}/api/stream?topic=news", server.url), None).await;
    let keyed = |key: &str, n: u64| {
        client()
            .post(format!("{}/api/publish", server.url))
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", key)
            .body(event("news", "flash", serde_json::json!({ "n": n })))
    };
    let first: serde_json::Value = keyed("order-42", 1)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let again = keyed("order-42", 1).send().await.expect("post");
    assert_eq!(again.status(), 202);
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(again["id"], first["id"], "the retry answered the first id");
    for bad in ["", "has space", &"k".repeat(129)] {
        let resp = keyed(bad, 9).send().await.expect("post");
        assert_eq!(resp.status(), 400, "{bad:?}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert!(body["error"]
            .as_str()
            .expect("error")
            .contains("Idempotency-Key"));
    }
    // The CLI sends the same header.
    let cli = |key: &'static str| {
        let url = server.url.clone();
        async move {
            publish_cli(&[
                "--server",
                &url,
                "--token",
                TOKEN,
                "--topic",
                "news",
                "--event",
                "flash",
                "--idempotency-key",
                key,
                r#"{"n":2}"#,
            ])
            .await
        }
    };
    let (ok, second, err) = cli("order-43").await;
    assert!(ok, "{err}");
    let (ok, retried, err) = cli("order-43").await;
    assert!(ok, "{err}");
    assert_eq!(second, retried);
    let marker = post(
        &server,
        Some(TOKEN),
        event("news", "flash", serde_json::json!({"n": 3})),
    )
    .await;
    let wait = Duration::from_secs(10);
    let got: Vec<_> = [
        sse.next_event(wait).await.expect("1"),
        sse.next_event(wait).await.expect("2"),
        sse.next_event(wait).await.expect("3"),
    ]
    .into_iter()
    .map(|e| e.id.expect("id"))
    .collect();
    let want = [
        first["id"].as_str().expect("id").to_owned(),
        second.trim().to_owned(),
        marker.1["id"].as_str().expect("id").to_owned(),
    ];
    assert_eq!(got, want, "each key delivered once, the bad ones never");
}

/// `--publish-ack stored`: every event answered 202 is in the database,
/// even when the node is killed (SIGKILL) in the middle of a publish load.
#[tokio::test]
async fn with_publish_ack_stored_a_kill_9_loses_no_event_answered_202() {
    let dir = common::TempDir::new("ack-stored");
    let db = dir.path().join("ack.db");
    let url = format!("sqlite://{}", db.display());
    let server = Server::start(&[
        "serve",
        "--database-url",
        &url,
        "--publish-token",
        TOKEN,
        "--publish-ack",
        "stored",
    ]);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let publishers: Vec<_> = (0..8)
        .map(|p| {
            let (base, acked) = (server.url.clone(), acked.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let body = event("news", "flash", serde_json::json!({ "p": p, "n": n }));
                    let Ok(resp) = client()
                        .post(format!("{base}/api/publish"))
                        .bearer_auth(TOKEN)
                        .body(body)
                        .send()
                        .await
                    else {
                        return; // the node is gone
                    };
                    if resp.status() != 202 {
                        continue;
                    }
                    let Ok(v) = resp.json::<serde_json::Value>().await else {
                        return;
                    };
                    let id = v["id"].as_str().expect("id").to_owned();
                    acked.lock().expect("lock").push(id);
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("lock").len() < 300 {
        assert!(std::time::Instant::now() < deadline, "publishing stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL, publishes in flight
    for p in publishers {
        p.await.expect("publisher");
    }
    let acked = acked.lock().expect("lock").clone();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             for e, s in c.execute('select epoch, seq from events'): print('%x-%d' % (e, s))",
        ])
        .arg(&db)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: std::collections::HashSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events answered 202 are not in the database: {missing:?}",
        missing.len(),
        acked.len()
    );
}

/// One game as the SPEC shapes it, with home score `home`.
fn game(home: u64) -> serde_json::Value {
    serde_json::json!({
        "eid": "2015091000", "season": 2015, "week": 1, "season_type": "REG",
        "kickoff": "2015-09-11T00:30:00Z", "day": "Thu", "time": "8:30",
        "state": "live", "quarter": "4", "clock": "02:00", "possession": "NE",
        "red_zone": false,
        "home": {"abbr": "NE", "nickname": "patriots", "score": home},
        "away": {"abbr": "PIT", "nickname": "steelers", "score": 21}
    })
}

/// The error names every event name the server keeps for itself.
fn names_the_reserved_events(msg: &str) {
    for name in ["patch", "reset", "expired", "update", "game", "score"] {
        assert!(
            msg.contains(&format!("\"{name}\"")),
            "{msg:?} should list {name:?}"
        );
    }
}

/// The server's own event names cannot be published with the publish
/// token: `patch`, `reset`, `expired` anywhere, `update` off `scores`,
/// `game` and `score` off `game/{eid}` (security re-test, item 2). The
/// state events on their own topics still pass, shape-checked.
#[tokio::test]
async fn the_servers_own_event_names_are_refused_and_listed() {
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
    ]);
    let forged_patch =
        serde_json::json!({"2015091000": {"home": {"score": 999}, "state": "final"}});
    let forged = [
        ("scores", "patch", forged_patch.clone()),
        ("scores", "patch", serde_json::json!({"2015091000": null})),
        ("news", "patch", forged_patch),
        ("game/2015091000", "patch", serde_json::json!({})),
        ("scores", "reset", serde_json::json!({"reason": "epoch"})),
        (
            "news",
            "expired",
            serde_json::json!({"reason": "token expired"}),
        ),
        ("news", "update", serde_json::json!([game(999)])),
        ("game/2015091000", "update", serde_json::json!([game(999)])),
        ("scores", "game", game(999)),
        ("news", "game", game(999)),
        ("news", "score", serde_json::json!({})),
    ];
    for (topic, name, data) in forged {
        let (status, body) = post(&server, Some(TOKEN), event(topic, name, data)).await;
        assert_eq!(status, 400, "{topic} {name}: {body}");
        let msg = body["error"].as_str().expect("error message");
        assert!(msg.contains("reserved"), "{msg}");
        names_the_reserved_events(msg);
    }
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    assert!(
        week["last_event_id"].is_null(),
        "nothing was published: {week}"
    );

    // The state events on their own topics: shape-checked, then accepted.
    let (status, body) = post(
        &server,
        Some(TOKEN),
        event("game/2015091000", "game", serde_json::json!({"home": 1})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().expect("error").contains("a game"));
    let score = serde_json::json!({"id": "2015091000-1", "eid": "2015091000", "team": "NE",
        "points": 7, "quarter": "1", "clock": "05:11", "home_score": 7, "away_score": 0,
        "at": "2015-09-11T00:51:02Z"});
    for (topic, name, data) in [
        ("scores", "update", serde_json::json!([game(7)])),
        ("game/2015091000", "game", game(7)),
        ("game/2015091000", "score", score),
    ] {
        let (status, body) = post(&server, Some(TOKEN), event(topic, name, data)).await;
        assert_eq!(status, 202, "{topic} {name}: {body}");
    }

    // The OpenAPI description says so.
    let doc: serde_json::Value = common::get_json(format!("{}/api/openapi.json", server.url)).await;
    let described = doc["components"]["schemas"]["PublishRequest"]["properties"]["event"]
        ["description"]
        .as_str()
        .expect("the event name is described")
        .to_owned();
    for name in [
        "`patch`",
        "`reset`",
        "`expired`",
        "`update`",
        "`game`",
        "`score`",
    ] {
        assert!(described.contains(name), "{described:?} names {name}");
    }
}

/// A `?delta=true` client never gets a forged patch: the publish is
/// refused, and the next event the client gets is the server's own
/// change to the board it holds.
#[tokio::test]
async fn a_delta_client_never_receives_a_forged_patch() {
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
    ]);
    let wait = Duration::from_secs(10);
    let mut delta = SseStream::connect(
        &format!("{}/api/stream?topic=scores&delta=true", server.url),
        None,
    )
    .await;
    let (status, first) = post(
        &server,
        Some(TOKEN),
        event("scores", "update", serde_json::json!([game(7)])),
    )
    .await;
    assert_eq!(status, 202, "{first}");
    let board = delta.next_event(wait).await.expect("the board");
    assert_eq!(
        (board.event.as_str(), board.id.as_deref()),
        ("update", first["id"].as_str())
    );
    for forged in [
        serde_json::json!({"2015091000": {"home": {"score": 999}, "state": "final"}}),
        serde_json::json!({"2015091000": null}),
    ] {
        let (status, body) = post(&server, Some(TOKEN), event("scores", "patch", forged)).await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, second) = post(
        &server,
        Some(TOKEN),
        event("scores", "update", serde_json::json!([game(14)])),
    )
    .await;
    assert_eq!(status, 202, "{second}");
    let next = delta.next_event(wait).await.expect("the change");
    assert_eq!(next.id.as_deref(), second["id"].as_str(), "{next:?}");
    assert_eq!(next.event, "patch", "the server's own patch: {next:?}");
    let patch: serde_json::Value = serde_json::from_str(&next.data).expect("json");
    assert_eq!(
        patch,
        serde_json::json!({"2015091000": {"home": {"score": 14}}})
    );
}
