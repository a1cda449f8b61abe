//! Access control end to end (issue 19): tokens signed here as an identity
//! provider would (HS256 with a shared secret, RS256 and ES256 with the
//! test keys in tests/fixtures/jwt/), against the real binary, on every
//! subscription path: SSE served on the socket, SSE through hyper, and
//! WebSocket; plus publish grants and expiry on open streams.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{client, Server, SseStream};
use futures::{SinkExt, StreamExt};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";
const PUBLISH_TOKEN: &str = "static-publish-token";
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn hs256(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

/// A test private key (tests/fixtures/jwt/), as the identity provider holds it.
fn private_key(alg: Algorithm, private_pem: &str) -> EncodingKey {
    let pem = std::fs::read(format!("{KEYS}/{private_pem}")).expect("test key");
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        _ => EncodingKey::from_ec_pem(&pem),
    }
    .expect("private key")
}

fn signed(alg: Algorithm, private_pem: &str, claims: Value) -> String {
    encode(&Header::new(alg), &claims, &private_key(alg, private_pem)).expect("sign")
}

/// A token for user 42: may follow `user/42/*`, valid for `ttl` seconds.
fn user42(ttl: u64) -> Value {
    json!({"sub": "42", "name": "Ada", "exp": now() + ttl,
        "livescore": {"subscribe": ["user/42/*"], "publish": ["user/42/*"]}})
}

fn private_server() -> Server {
    Server::start(&[
        "serve",
        "--jwt-secret",
        SECRET,
        "--private-topics",
        "user/*,private/*",
        "--publish-token",
        PUBLISH_TOKEN,
    ])
}

/// A stream request carrying `token` as a bearer token.
async fn with_token(url: impl reqwest::IntoUrl, token: &str) -> reqwest::Response {
    client()
        .get(url)
        .header("accept", "text/event-stream")
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// Status and JSON error of a stream request (which must not be a 200).
async fn refused(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = client().get(url).header("accept", "text/event-stream");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    assert_ne!(status, 200, "{url} was served");
    let body: Value = resp.json().await.expect("a JSON error");
    (status, body["error"].as_str().expect("error").to_string())
}

async fn publish(base: &str, token: &str, topic: &str, n: u64) -> (u16, Value) {
    let resp = client()
        .post(format!("{base}/api/publish"))
        .bearer_auth(token)
        .json(&json!({"topic": topic, "event": "alert", "data": {"n": n}}))
        .send()
        .await
        .expect("publish");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

async fn publish_ok(base: &str, topic: &str, n: u64) -> String {
    let (status, body) = publish(base, PUBLISH_TOKEN, topic, n).await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_string()
}

async fn next_alert(sse: &mut SseStream) -> (String, u64) {
    loop {
        let ev = sse.next_event(WAIT).await.expect("stream open");
        if ev.event == "alert" {
            let data: Value = serde_json::from_str(&ev.data).expect("json");
            return (ev.id.expect("id"), data["n"].as_u64().expect("n"));
        }
    }
}

/// One raw request (its head as given) and the response's head and body
/// so far: which path served it shows in its framing.
async fn raw(base: &str, head: &str) -> (String, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            // A refusal is a whole JSON body; a stream has begun once its
            // `retry:` line is in.
            if body.contains("retry:") || body.trim_end().ends_with('}') {
                return (head.to_string(), body.to_string());
            }
        }
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("timed out reading")
            .expect("read");
        if n == 0 {
            let text = String::from_utf8_lossy(&got).to_string();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            return (head.to_string(), body.to_string());
        }
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn private_topics_need_a_token_whose_grant_covers_them() {
    let server = private_server();
    let base = &server.url;
    let stream = |topic: &str| format!("{base}/api/stream?topic={topic}");

    // Public topics as before: no token needed, none looked at.
    SseStream::connect(&stream("scores"), None).await;
    let resp = with_token(stream("news"), "garbage").await;
    assert_eq!(
        resp.status(),
        200,
        "a token is not looked at for public topics"
    );

    // Private: none 401, a wrong grant 403, expired or early 401.
    let (status, error) = refused(&stream("user/42/alerts"), None).await;
    assert_eq!(status, 401);
    assert!(error.contains("user/42/alerts"), "{error}");
    let other = hs256(json!({"sub": "43", "exp": now() + 600,
        "livescore": {"subscribe": ["user/43/*"]}}));
    let (status, error) = refused(&stream("user/42/alerts"), Some(&other)).await;
    assert_eq!(status, 403);
    assert!(error.contains("user/42/alerts"), "{error}");
    let expired = hs256(json!({"exp": now() - 120, "livescore": {"subscribe": ["*"]}}));
    assert_eq!(
        refused(&stream("user/42/alerts"), Some(&expired)).await,
        (401, "bad token: expired".to_string())
    );
    let early = hs256(json!({"exp": now() + 600, "nbf": now() + 300,
        "livescore": {"subscribe": ["*"]}}));
    assert_eq!(
        refused(&stream("user/42/alerts"), Some(&early)).await,
        (401, "bad token: not valid yet (nbf)".to_string())
    );
    let forged = encode(
        &Header::default(),
        &user42(600),
        &EncodingKey::from_secret(b"not the server's secret"),
    )
    .expect("sign");
    assert_eq!(
        refused(&stream("user/42/alerts"), Some(&forged)).await.0,
        401
    );
    // The token is never echoed.
    let (_, error) = refused(&stream("user/42/alerts"), Some(&forged)).await;
    assert!(!error.contains(&forged[..20]), "{error}");

    // The right grant, from each of the three places a token may be.
    let token = hs256(user42(600));
    let by_header = with_token(stream("user/42/alerts"), &token).await;
    let mut by_header = SseStream::from_response(by_header);
    let by_cookie = client()
        .get(stream("user/42/alerts"))
        .header("accept", "text/event-stream")
        .header("cookie", format!("theme=dark; livescore_token={token}"))
        .send()
        .await
        .expect("request");
    let mut by_cookie = SseStream::from_response(by_cookie);
    let mut by_query = SseStream::connect(
        &format!("{}&access_token={token}", stream("user/42/alerts")),
        None,
    )
    .await;
    let id = publish_ok(base, "user/42/alerts", 1).await;
    for sse in [&mut by_header, &mut by_cookie, &mut by_query] {
        assert_eq!(next_alert(sse).await, (id.clone(), 1));
    }
    // A mix of public and private topics needs the grant for the private.
    let (status, _) = refused(
        &format!("{}&topic=scores", stream("user/43/x")),
        Some(&token),
    )
    .await;
    assert_eq!(status, 403);

    // Resume works the same for a private topic.
    let second = publish_ok(base, "user/42/alerts", 2).await;
    let resumed = client()
        .get(stream("user/42/alerts"))
        .header("accept", "text/event-stream")
        .header("last-event-id", &id)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    let mut resumed = SseStream::from_response(resumed);
    assert_eq!(next_alert(&mut resumed).await, (second, 2));
}

#[tokio::test]
async fn the_socket_path_and_the_hyper_path_give_the_same_answers() {
    let server = private_server();
    let token = hs256(user42(600));
    let get = |target: &str, extra: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{extra}\r\n")
    };
    // `Expect` sends a request through hyper instead of the socket path.
    let via_hyper = "Expect: 100-continue\r\n";
    for (target, extra, status) in [
        ("/api/stream?topic=user/42/a", String::new(), "401"),
        (
            "/api/stream?topic=user/43/a",
            format!("Authorization: Bearer {token}\r\n"),
            "403",
        ),
        (
            "/api/stream?topic=user/42/a",
            format!("Authorization: Bearer {token}\r\n"),
            "200",
        ),
        (
            "/api/stream?topic=user/42/a",
            format!("Cookie: livescore_token={token}\r\n"),
            "200",
        ),
        (
            &*format!("/api/stream?topic=user/42/a&access_token={token}"),
            String::new(),
            "200",
        ),
    ] {
        let (socket_head, socket_body) = raw(&server.url, &get(target, &extra)).await;
        let (hyper_head, hyper_body) =
            raw(&server.url, &get(target, &format!("{extra}{via_hyper}"))).await;
        for head in [&socket_head, &hyper_head] {
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status}")),
                "{target} {extra}: {head}"
            );
        }
        if status == "200" {
            // Which path served it: hyper chunks the body, the socket path
            // delimits it by the close.
            assert!(
                !socket_head
                    .to_ascii_lowercase()
                    .contains("transfer-encoding"),
                "{socket_head}"
            );
            assert!(
                hyper_head
                    .to_ascii_lowercase()
                    .contains("transfer-encoding: chunked"),
                "{hyper_head}"
            );
            assert!(socket_body.contains("retry:") && hyper_body.contains("retry:"));
        } else {
            let json = |b: &str| -> Value {
                let start = b.find('{').expect("json body");
                serde_json::from_str(b[start..].trim_end().trim_end_matches("\r\n0")).expect("json")
            };
            assert_eq!(json(&socket_body), json(&hyper_body), "{target}");
        }
    }
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_with_the_public_key() {
    for (alg, private, public) in [
        (Algorithm::RS256, "rsa-private.pem", "rsa-public.pem"),
        (Algorithm::ES256, "ec-private.pem", "ec-public.pem"),
    ] {
        let server = Server::start(&[
            "serve",
            "--jwt-public-key",
            &format!("{KEYS}/{public}"),
            "--jwt-audience",
            "livescore",
            "--private-topics",
            "user/*",
        ]);
        let url = format!("{}/api/stream?topic=user/42/a", server.url);
        let mut claims = user42(600);
        claims["aud"] = json!("livescore");
        let good = signed(alg, private, claims.clone());
        let resp = with_token(&url, &good).await;
        assert_eq!(resp.status(), 200, "{alg:?}");
        // An HS256 token (the public key used as a secret: the classic
        // confusion attack) and a wrong audience are refused.
        let confused = encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(&std::fs::read(format!("{KEYS}/{public}")).expect("pem")),
        )
        .expect("sign");
        assert_eq!(refused(&url, Some(&confused)).await.0, 401, "{alg:?}");
        claims["aud"] = json!("someone-else");
        let wrong_aud = signed(alg, private, claims);
        assert_eq!(
            refused(&url, Some(&wrong_aud)).await,
            (401, "bad token: wrong audience".to_string())
        );
    }
}

#[tokio::test]
async fn an_open_sse_stream_ends_at_exp_and_a_fresh_token_resumes_it() {
    let server = private_server();
    let base = &server.url;
    let url = format!("{base}/api/stream?topic=user/42/alerts");
    let short = hs256(user42(3));
    let resp = with_token(&url, &short).await;
    let mut sse = SseStream::from_response(resp);
    let first = publish_ok(base, "user/42/alerts", 1).await;
    assert_eq!(next_alert(&mut sse).await, (first.clone(), 1));
    let ev = sse.next_event(WAIT).await.expect("the expired event");
    assert_eq!(ev.event, "expired");
    assert_eq!(ev.id, None, "no id: the client resumes from its last event");
    assert!(sse.next_event(WAIT).await.is_none(), "the stream ends");

    // Published while the client is away; a fresh token resumes.
    let second = publish_ok(base, "user/42/alerts", 2).await;
    let resp = client()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("last-event-id", &first)
        .bearer_auth(hs256(user42(600)))
        .send()
        .await
        .expect("request");
    let mut again = SseStream::from_response(resp);
    assert_eq!(next_alert(&mut again).await, (second, 2), "nothing lost");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(base: &str, token: Option<&str>) -> Ws {
    let mut url = format!("{}/ws", base.replace("http://", "ws://"));
    if let Some(t) = token {
        url.push_str(&format!("?access_token={t}"));
    }
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake");
    ws
}

async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// The next JSON message; `Err` with the close frame when the server closes.
async fn ws_next(ws: &mut Ws) -> Result<Value, Option<(CloseCode, String)>> {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for a message");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).expect("json")),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| (f.code, f.reason.to_string())))
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn ws_next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let v = ws_next(ws).await.expect("open");
        if v["type"] == kind {
            return v;
        }
    }
}

#[tokio::test]
async fn websocket_subscribes_are_authorized_and_the_connection_ends_at_exp() {
    let server = private_server();
    let base = &server.url;

    // No token: the private topic is refused by name, the connection stays.
    let mut anon = ws_connect(base, None).await;
    ws_send(
        &mut anon,
        json!({"type": "subscribe", "topics": ["user/42/alerts"]}),
    )
    .await;
    let err = ws_next_of(&mut anon, "error").await;
    let msg = err["message"].as_str().expect("message");
    assert!(
        msg.contains("user/42/alerts") && msg.contains("needs a token"),
        "{msg}"
    );
    ws_send(
        &mut anon,
        json!({"type": "subscribe", "topics": ["scores"]}),
    )
    .await;
    assert_eq!(
        ws_next_of(&mut anon, "subscribed").await["topics"],
        json!(["scores"])
    );

    // A token on the upgrade: its grant, and nothing beyond it.
    let mut ws = ws_connect(base, Some(&hs256(user42(4)))).await;
    ws_send(
        &mut ws,
        json!({"type": "subscribe", "topics": ["user/43/alerts"]}),
    )
    .await;
    assert!(ws_next_of(&mut ws, "error").await["message"]
        .as_str()
        .expect("message")
        .contains("does not allow"));
    ws_send(
        &mut ws,
        json!({"type": "subscribe", "topics": ["user/42/alerts"]}),
    )
    .await;
    ws_next_of(&mut ws, "subscribed").await;
    let first = publish_ok(base, "user/42/alerts", 1).await;
    let ev = ws_next_of(&mut ws, "event").await;
    assert_eq!(ev["id"], json!(first));

    // A refreshed token keeps a second connection open past the first exp.
    let mut refreshed = ws_connect(base, Some(&hs256(user42(4)))).await;
    ws_send(
        &mut refreshed,
        json!({"type": "subscribe", "topics": ["user/42/alerts"]}),
    )
    .await;
    ws_next_of(&mut refreshed, "subscribed").await;
    ws_send(
        &mut refreshed,
        json!({"type": "auth", "token": hs256(user42(600))}),
    )
    .await;
    let ack = ws_next_of(&mut refreshed, "authorized").await;
    assert!(ack["exp"].as_u64().expect("exp") > now() + 500, "{ack}");

    // The first ends at exp with 4001.
    let closed = loop {
        match ws_next(&mut ws).await {
            Ok(_) => continue,
            Err(close) => break close,
        }
    };
    let (code, reason) = closed.expect("a close frame");
    assert_eq!(u16::from(code), 4001, "{reason}");
    assert_eq!(reason, "token expired");

    // Published after: the refreshed connection gets it; a reconnect with
    // a fresh token resumes the expired one with nothing lost.
    let second = publish_ok(base, "user/42/alerts", 2).await;
    assert_eq!(
        ws_next_of(&mut refreshed, "event").await["id"],
        json!(second)
    );
    let mut back = ws_connect(base, Some(&hs256(user42(600)))).await;
    ws_send(
        &mut back,
        json!({"type": "subscribe", "topics": ["user/42/alerts"], "last_event_id": first}),
    )
    .await;
    assert_eq!(ws_next_of(&mut back, "event").await["id"], json!(second));
}

/// Signed tokens whose `exp`, `nbf` or `iat` cannot be a time (near
/// 2^63 seconds and beyond, negative, not a number): every path answers
/// 401 "claims are malformed" (a WebSocket an `error` and stays open),
/// where adding such an `exp` to the clock used to panic the connection's
/// task and drop it without an answer.
#[tokio::test]
async fn times_out_of_range_get_a_401_on_every_path_never_a_dropped_connection() {
    let server = private_server();
    let base = &server.url;
    let grant = json!({"subscribe": ["*"], "publish": ["*"]});
    let fine = now() + 600;
    let cases = [
        json!({"exp": 1u64 << 63, "livescore": grant}),
        json!({"exp": u64::MAX, "livescore": grant}),
        json!({"exp": 253_402_300_800u64, "livescore": grant}),
        json!({"exp": fine, "nbf": 1u64 << 63, "livescore": grant}),
        json!({"exp": fine, "nbf": -1, "livescore": grant}),
        json!({"exp": fine, "iat": u64::MAX, "livescore": grant}),
        json!({"exp": fine, "iat": "now", "livescore": grant}),
    ];
    let malformed = "bad token: claims are malformed";
    let mut ws = ws_connect(base, None).await;
    for claims in cases {
        let token = hs256(claims.clone());
        // SSE on the socket path and through hyper (`Expect`), both routes.
        for target in ["/api/stream?topic=user/42/a", "/api/livescore"] {
            for via in ["", "Expect: 100-continue\r\n"] {
                let head = format!(
                    "GET {target} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\
                     Cookie: livescore_token={token}\r\n{via}\r\n"
                );
                let (head, body) = raw(base, &head).await;
                if target.contains("user/42") {
                    assert!(head.starts_with("HTTP/1.1 401"), "{claims} {via}: {head}");
                    assert!(body.contains(malformed), "{claims}: {body}");
                } else {
                    // Public: the token is not looked at; an answer all the same.
                    assert!(head.starts_with("HTTP/1.1 200"), "{claims} {via}: {head}");
                }
            }
        }
        let (status, body) = publish(base, &token, "user/42/alerts", 1).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some(malformed)),
            "{claims}"
        );

        // WebSocket: the token on the upgrade, then a subscribe.
        let mut upgraded = ws_connect(base, Some(&token)).await;
        ws_send(
            &mut upgraded,
            json!({"type": "subscribe", "topics": ["user/42/a"]}),
        )
        .await;
        let err = ws_next_of(&mut upgraded, "error").await;
        assert!(
            err["message"]
                .as_str()
                .is_some_and(|m| m.contains(malformed)),
            "{err}"
        );
        // ... and an `auth` on a connection that is already open.
        ws_send(&mut ws, json!({"type": "auth", "token": token})).await;
        let err = ws_next_of(&mut ws, "error").await;
        assert!(
            err["message"]
                .as_str()
                .is_some_and(|m| m.contains(malformed)),
            "{err}"
        );
    }
    // Both kinds of connection are still served.
    ws_send(&mut ws, json!({"type": "subscribe", "topics": ["scores"]})).await;
    ws_next_of(&mut ws, "subscribed").await;
}

#[tokio::test]
async fn publish_grants_are_checked_per_topic() {
    let server = private_server();
    let base = &server.url;
    let token = hs256(user42(600));
    assert_eq!(publish(base, &token, "user/42/alerts", 1).await.0, 202);
    let (status, body) = publish(base, &token, "user/43/alerts", 1).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]
        .as_str()
        .expect("error")
        .contains("user/43/alerts"));
    let read_only = hs256(json!({"exp": now() + 600, "livescore": {"subscribe": ["*"]}}));
    assert_eq!(publish(base, &read_only, "news", 1).await.0, 403);
    assert_eq!(
        publish(base, "not-a-jwt-nor-the-token", "news", 1).await.0,
        401
    );
    let expired = hs256(json!({"exp": now() - 120, "livescore": {"publish": ["*"]}}));
    assert_eq!(publish(base, &expired, "news", 1).await.0, 401);
    // The static token still publishes anywhere.
    assert_eq!(
        publish(base, PUBLISH_TOKEN, "user/43/alerts", 1).await.0,
        202
    );

    // `livescore publish --token` works with a signed token too.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args(["publish", "--server", base, "--token", &token])
        .args([
            "--topic",
            "user/42/alerts",
            "--event",
            "alert",
            r#"{"n":3}"#,
        ])
        .output()
        .await
        .expect("run publish");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A signed token's publish grant gives no more than the static token:
/// the server's own event names are refused on the topics it covers too
/// (400, the names listed), and the state events still pass on their own
/// topics (security re-test, item 2).
#[tokio::test]
async fn a_publish_grant_cannot_send_the_servers_own_event_names() {
    let server = private_server();
    let base = &server.url;
    let token = hs256(json!({"sub": "42", "exp": now() + 600,
        "livescore": {"subscribe": ["user/42/*"], "publish": ["user/42/*", "scores"]}}));
    let send = |topic: &str, event: &str, data: Value| {
        client()
            .post(format!("{base}/api/publish"))
            .bearer_auth(&token)
            .json(&json!({"topic": topic, "event": event, "data": data}))
            .send()
    };
    let game = json!({
        "eid": "2015091000", "season": 2015, "week": 1, "season_type": "REG",
        "kickoff": "2015-09-11T00:30:00Z", "day": "Thu", "time": "8:30",
        "state": "final", "quarter": "F", "clock": null, "possession": null,
        "red_zone": false,
        "home": {"abbr": "NE", "nickname": "patriots", "score": 999},
        "away": {"abbr": "PIT", "nickname": "steelers", "score": 21}
    });
    let forged_patch = json!({"2015091000": {"home": {"score": 999}, "state": "final"}});
    for (topic, event, data) in [
        ("scores", "patch", forged_patch.clone()),
        ("scores", "patch", json!({"2015091000": null})),
        ("user/42/alerts", "patch", forged_patch),
        ("user/42/alerts", "reset", json!({"reason": "epoch"})),
        (
            "user/42/alerts",
            "expired",
            json!({"reason": "token expired"}),
        ),
        ("user/42/alerts", "update", json!([game.clone()])),
        ("user/42/alerts", "game", game.clone()),
        ("user/42/alerts", "score", json!({})),
        ("scores", "game", game.clone()),
    ] {
        let resp = send(topic, event, data).await.expect("publish");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("json");
        assert_eq!(status, 400, "{topic} {event}: {body}");
        let msg = body["error"].as_str().expect("error");
        for name in ["patch", "reset", "expired", "update", "game", "score"] {
            assert!(msg.contains(&format!("\"{name}\"")), "{msg:?} lists {name}");
        }
    }
    // The board on `scores`, which the grant covers, still goes through.
    let resp = send("scores", "update", json!([game]))
        .await
        .expect("publish");
    assert_eq!(resp.status().as_u16(), 202);
    let resp = send("user/42/alerts", "alert", json!({"n": 1}))
        .await
        .expect("publish");
    assert_eq!(resp.status().as_u16(), 202);
}

#[tokio::test]
async fn a_server_with_private_topics_needs_a_key() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--private-topics",
            "user/*",
        ])
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--jwt-secret"), "{err}");
    // A provider whose keys cannot be fetched: said at start, not later.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--private-topics",
            "user/*",
        ])
        .args(["--jwks-url", "http://127.0.0.1:9/jwks.json"])
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--jwks-url http://127.0.0.1:9/jwks.json"),
        "{err}"
    );
}

#[tokio::test]
async fn auth_required_covers_the_scoreboard_too() {
    let feed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ss-2015-w1-final.xml"
    );
    let server = Server::start(&[
        "serve",
        "--jwt-secret",
        SECRET,
        "--auth",
        "required",
        "--feed",
        feed,
    ]);
    let board = format!("{}/api/livescore", server.url);
    assert_eq!(refused(&board, None).await.0, 401);
    let news_only = hs256(json!({"exp": now() + 600, "livescore": {"subscribe": ["news"]}}));
    assert_eq!(refused(&board, Some(&news_only)).await.0, 403);
    let fan = hs256(json!({"exp": now() + 600, "livescore": {"subscribe": ["scores"]}}));
    let resp = with_token(&board, &fan).await;
    let mut sse = SseStream::from_response(resp);
    assert_eq!(sse.next_event(WAIT).await.expect("board").event, "update");

    // The JSON API is no way around it: the same check for the same topics.
    let get = |path: &str, token: Option<&str>| {
        let mut req = client().get(format!("{}{path}", server.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.expect("request").status().as_u16() }
    };
    assert_eq!(get("/api/", None).await, 401);
    assert_eq!(get("/api/", Some(&news_only)).await, 403);
    assert_eq!(get("/api/", Some(&fan)).await, 200);
    assert_eq!(get("/api/games/2015091000", Some(&fan)).await, 403);
    let everything = hs256(json!({"exp": now() + 600, "livescore": {"subscribe": ["*"]}}));
    assert_eq!(get("/api/games/2015091000", Some(&everything)).await, 200);
    assert_eq!(get("/api/games/2015091000/events", None).await, 401);
    assert_eq!(
        get("/api/games/2015091000/events", Some(&everything)).await,
        200
    );
}

#[tokio::test]
async fn livescore_token_mints_what_the_server_accepts() {
    let server = private_server();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args([
            "token",
            "--sub",
            "42",
            "--subscribe",
            "user/42/*",
            "--ttl",
            "10m",
        ])
        .env("LIVESCORE_JWT_SECRET", SECRET)
        .output()
        .await
        .expect("run token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    let url = format!("{}/api/stream?topic=user/42/a", server.url);
    let resp = with_token(&url, &token).await;
    assert_eq!(resp.status(), 200);
    let other = format!("{}/api/stream?topic=user/43/a", server.url);
    assert_eq!(refused(&other, Some(&token)).await.0, 403);
}

#[tokio::test]
async fn a_foreign_page_cannot_open_a_socket_when_origins_are_listed() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = Server::start(&["serve", "--cors-origin", "https://fans.example"]);
    let url = format!("{}/ws", server.url.replace("http://", "ws://"));
    let from = |origin: &'static str| {
        let mut req = url.clone().into_client_request().expect("request");
        req.headers_mut()
            .insert("origin", origin.parse().expect("header value"));
        req
    };
    match tokio_tungstenite::connect_async(from("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 403)
        }
        other => panic!("a foreign origin was not refused: {:?}", other.map(|_| ())),
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(from("https://fans.example"))
        .await
        .expect("a listed origin connects");
    ws_send(&mut ws, json!({"type": "subscribe", "topics": ["scores"]})).await;
    ws_next_of(&mut ws, "subscribed").await;
}

/// A provider's key set as JSON: each test key by its `kid`.
fn jwks(keys: &[(Algorithm, &str, &str)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(alg, private, kid)| {
            let key = private_key(*alg, private);
            let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, *alg).expect("jwk");
            jwk.common.key_id = Some(kid.to_string());
            serde_json::to_value(jwk).expect("json")
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

fn with_kid(alg: Algorithm, private: &str, kid: &str, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    encode(&header, &claims, &private_key(alg, private)).expect("sign")
}

// Multi-threaded: the provider's server must answer while `Server::start`
// blocks this thread waiting for the node to listen (it fetches first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_keys_are_chosen_by_kid_and_a_rotation_is_picked_up() {
    // The identity provider: a JWKS endpoint whose set the test rotates.
    let published = std::sync::Arc::new(std::sync::Mutex::new(jwks(&[
        (Algorithm::RS256, "rsa-private.pem", "rsa-1"),
        (Algorithm::ES256, "ec-private.pem", "ec-1"),
    ])));
    let served = published.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let body = served.lock().expect("lock").clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let idp = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let server = Server::start(&["serve", "--jwks-url", &idp, "--private-topics", "user/*"]);
    let url = format!("{}/api/stream?topic=user/42/a", server.url);
    let status = |token: String| {
        let url = url.clone();
        async move { with_token(&url, &token).await.status().as_u16() }
    };
    // Both published keys verify, each by its kid.
    assert_eq!(
        status(with_kid(
            Algorithm::RS256,
            "rsa-private.pem",
            "rsa-1",
            user42(600)
        ))
        .await,
        200
    );
    assert_eq!(
        status(with_kid(
            Algorithm::ES256,
            "ec-private.pem",
            "ec-1",
            user42(600)
        ))
        .await,
        200
    );
    // A kid the set does not have, and a key under another's kid, fail.
    let (code, error) = refused(
        &url,
        Some(&with_kid(
            Algorithm::ES256,
            "ec-private.pem",
            "ec-2",
            user42(600),
        )),
    )
    .await;
    assert_eq!(
        (code, error.as_str()),
        (401, "bad token: unknown key id (kid)")
    );
    assert_eq!(
        status(with_kid(
            Algorithm::ES256,
            "ec-private.pem",
            "rsa-1",
            user42(600)
        ))
        .await,
        401
    );

    // Rotation: rsa-1 and ec-1 out, ec-2 in. A token under the new kid is
    // accepted once the server has refetched (it asks soon after seeing
    // the unknown kid); the rotated-out key no longer verifies.
    *published.lock().expect("lock") = jwks(&[(Algorithm::ES256, "ec-private.pem", "ec-2")]);
    let fresh = with_kid(Algorithm::ES256, "ec-private.pem", "ec-2", user42(600));
    common::wait_until("the rotated-in key verifies", WAIT, || {
        status(fresh.clone()).await_eq(200)
    })
    .await;
    assert_eq!(
        refused(
            &url,
            Some(&with_kid(
                Algorithm::RS256,
                "rsa-private.pem",
                "rsa-1",
                user42(600)
            ))
        )
        .await,
        (401, "bad token: unknown key id (kid)".to_string())
    );
}

/// `future == value`, as a future (for `wait_until`).
trait AwaitEq<T> {
    fn await_eq(self, want: T) -> impl std::future::Future<Output = bool>;
}

impl<F: std::future::Future<Output = T>, T: PartialEq> AwaitEq<T> for F {
    async fn await_eq(self, want: T) -> bool {
        self.await == want
    }
}

/// Chat under the default `--chat-auth open` with a key configured: a
/// connection with a token chats under the token's name whatever it types,
/// and its messages carry the user; an anonymous one keeps its typed name
/// and carries no user; a typed name cannot borrow a user's identity.
#[tokio::test]
async fn chat_names_come_from_the_token_and_anonymous_chat_carries_no_user() {
    const GAME: &str = "2015091300";
    let server = Server::start(&["demo", "--speed", "2000", "--jwt-secret", SECRET]);
    let base = &server.url;
    let mut ada = ws_connect(base, Some(&hs256(user42(600)))).await;
    let mut anon = ws_connect(base, None).await;
    for ws in [&mut ada, &mut anon] {
        ws_send(
            ws,
            json!({"type": "subscribe", "topics": [format!("game/{GAME}"), format!("chat/{GAME}")]}),
        )
        .await;
        // The game is known once its state has come.
        loop {
            let v = ws_next_of(ws, "event").await;
            if v["event"] == "game" {
                break;
            }
        }
    }
    async fn chat_back(ws: &mut Ws, name: &str, text: &str) -> Value {
        ws_send(
            ws,
            json!({"type": "chat", "eid": GAME, "name": name, "text": text}),
        )
        .await;
        loop {
            let v = ws_next(ws).await.expect("open");
            assert_ne!(v["type"], "error", "{v}");
            if v["event"] == "chat" && v["data"]["text"] == text {
                return v["data"].clone();
            }
        }
    }
    let from_ada = chat_back(&mut ada, "Mallory", "hello from a user").await;
    assert_eq!(from_ada["name"], "Ada", "{from_ada}");
    assert_eq!(from_ada["user"], "42", "{from_ada}");
    let from_anon = chat_back(&mut anon, "Ada", "hello from nobody").await;
    assert_eq!(from_anon["name"], "Ada", "{from_anon}");
    assert!(from_anon.get("user").is_none(), "{from_anon}");
    // The user's connection saw the anonymous one with no user either.
    loop {
        let v = ws_next(&mut ada).await.expect("open");
        if v["event"] == "chat" && v["data"]["text"] == "hello from nobody" {
            assert!(v["data"].get("user").is_none(), "{v}");
            break;
        }
    }
}
