//! `--config FILE` (issue 21) through the real binary: keys are flags,
//! precedence is flag > environment > file > default, unknown keys and bad
//! values name the file and line, and `config example` is a file that
//! `config check` accepts.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{client, Server, TempDir};
use serde_json::json;

fn livescore(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_livescore"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run livescore")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

/// Whether the server takes a publish with `token`.
async fn publishes_with(server: &Server, token: &str) -> bool {
    let resp = client()
        .post(format!("{}/api/publish", server.url))
        .bearer_auth(token)
        .json(&json!({"topic": "news", "event": "flash", "data": {"n": 1}}))
        .send()
        .await
        .expect("publish");
    resp.status().as_u16() == 202
}

#[tokio::test]
async fn a_flag_beats_its_variable_which_beats_the_file_which_beats_the_default() {
    let dir = TempDir::new("config-precedence");
    let file = write(
        dir.path(),
        "livescore.toml",
        "# the publish API's token\npublish-token = \"from-file\"\nchat_rate = 2.5\n",
    );
    let file = file.to_str().expect("path");
    let unset = [("LIVESCORE_PUBLISH_TOKEN", None)];

    let from_file = Server::start_env(&["serve", "--config", file], &unset);
    assert!(publishes_with(&from_file, "from-file").await);
    assert!(!publishes_with(&from_file, "from-env").await);

    let from_env = Server::start_env(
        &["serve", "--config", file],
        &[("LIVESCORE_PUBLISH_TOKEN", Some("from-env"))],
    );
    assert!(publishes_with(&from_env, "from-env").await);
    assert!(!publishes_with(&from_env, "from-file").await);

    let from_flag = Server::start_env(
        &["serve", "--config", file, "--publish-token", "from-flag"],
        &[("LIVESCORE_PUBLISH_TOKEN", Some("from-env"))],
    );
    assert!(publishes_with(&from_flag, "from-flag").await);
    assert!(!publishes_with(&from_flag, "from-env").await);
    assert!(!publishes_with(&from_flag, "from-file").await);

    // The file named by the variable, the same way.
    let by_env = Server::start_env(
        &["serve"],
        &[
            ("LIVESCORE_CONFIG", Some(file)),
            ("LIVESCORE_PUBLISH_TOKEN", None),
        ],
    );
    assert!(publishes_with(&by_env, "from-file").await);

    // No file: the default (the publish API off).
    let default = Server::start_env(&["serve"], &unset);
    assert!(!publishes_with(&default, "from-file").await);
}

/// `serve --config` with `file`: refused at start (exit 2), its stderr.
fn refused_at_start(file: &Path) -> String {
    let out = livescore(&["serve", "--config", file.to_str().expect("path")], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_keys_and_bad_values_name_the_file_and_line() {
    let dir = TempDir::new("config-bad");
    let typo = write(
        dir.path(),
        "typo.toml",
        "addr = \"127.0.0.1:0\"\n\n[limits]\nchat-rat = 3\n",
    );
    let err = refused_at_start(&typo);
    assert!(
        err.contains("typo.toml:3") && err.contains("unknown key `limits`"),
        "{err}"
    );

    let unknown = write(
        dir.path(),
        "unknown.toml",
        "addr = \"127.0.0.1:0\"\nchat-rat = 3\n",
    );
    let err = refused_at_start(&unknown);
    assert!(
        err.contains("unknown.toml:2") && err.contains("unknown key `chat-rat`"),
        "{err}"
    );

    let bad = write(dir.path(), "bad.toml", "chat-rate = \"fast\"\n");
    let err = refused_at_start(&bad);
    assert!(
        err.contains("bad.toml") && err.contains("--chat-rate"),
        "{err}"
    );

    // `config check` says the same without starting anything.
    let out = livescore(&["config", "check", unknown.to_str().expect("path")], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key `chat-rat`"));
}

#[test]
fn the_example_file_passes_check_and_check_applies_the_start_up_rules() {
    let dir = TempDir::new("config-example");
    let out = livescore(&["config", "example"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for key in [
        "addr = ",
        "database-url = ",
        "chat-retention = \"7d\"",
        "log-level = ",
    ] {
        assert!(text.contains(key), "{key} missing from the example");
    }
    let example = write(dir.path(), "example.toml", &text);
    // The environment does not mask the file: a bad variable is ignored.
    let out = livescore(
        &["config", "check", example.to_str().expect("path")],
        &[("LIVESCORE_CHAT_RATE", "not-a-rate")],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));

    // Lists, switches and the rules checked at start (a key file that
    // cannot be read; private topics without a key).
    let good = write(
        dir.path(),
        "good.toml",
        "jwt-secret = \"s3cret-s3cret-s3cret\"\nprivate-topics = [\"user/*\", \"private/*\"]\n\
         cors-origin = [\"https://a.example\", \"https://b.example\"]\n",
    );
    let out = livescore(&["config", "check", good.to_str().expect("path")], &[]);
    assert!(out.status.success(), "{out:?}");
    let keyless = write(
        dir.path(),
        "keyless.toml",
        "private-topics = [\"user/*\"]\n",
    );
    let out = livescore(&["config", "check", keyless.to_str().expect("path")], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let missing = write(
        dir.path(),
        "missing.toml",
        "jwt-public-key = \"/nonexistent.pem\"\n",
    );
    let out = livescore(&["config", "check", missing.to_str().expect("path")], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.pem"));
}

/// SIGHUP re-reads the file: a new publish token holds for the next
/// request while an open stream stays open and keeps receiving; a bad file
/// is rejected whole and the running token stays; a key that needs a
/// restart is said to.
#[tokio::test]
async fn sighup_applies_a_new_publish_token_and_a_bad_file_changes_nothing() {
    let dir = TempDir::new("config-reload");
    let path = write(dir.path(), "live.toml", "publish-token = \"first\"\n");
    let server = Server::start_env(
        &["serve", "--config", path.to_str().expect("path")],
        &[("LIVESCORE_PUBLISH_TOKEN", None)],
    );
    let mut stream =
        common::SseStream::connect(&format!("{}/api/stream?topic=news", server.url), None).await;
    assert!(publishes_with(&server, "first").await);
    let hup = || server.hup();

    write(
        dir.path(),
        "live.toml",
        "publish-token = \"second\"\nkeepalive = \"20s\"\n",
    );
    hup();
    common::wait_until(
        "the new token is taken",
        Duration::from_secs(30),
        || async { publishes_with(&server, "second").await },
    )
    .await;
    assert!(!publishes_with(&server, "first").await);
    common::wait_until("the restart warning", Duration::from_secs(30), || async {
        server.logs().contains("need a restart") && server.logs().contains("keepalive")
    })
    .await;

    // A bad file: rejected whole, the running token stays.
    write(
        dir.path(),
        "live.toml",
        "publish-token = \"third\"\nchat-rat = 3\n",
    );
    hup();
    common::wait_until("the rejection", Duration::from_secs(30), || async {
        server.logs().contains("config reload rejected")
    })
    .await;
    assert!(publishes_with(&server, "second").await);
    assert!(!publishes_with(&server, "third").await);

    // The stream opened before both reloads got every event, in order.
    let mut flashes = 0;
    // One before the reloads, one with the new token, one after the bad file.
    while flashes < 3 {
        let ev = stream
            .next_event(Duration::from_secs(30))
            .await
            .expect("the stream stayed open");
        if ev.event == "flash" {
            flashes += 1;
        }
    }
}

const PREGAME: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-pregame.xml"
);
const GAME: &str = "2015091300";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Whether the server takes one chat on `ws` (the message comes back) or
/// refuses it (an `error` frame).
async fn chat_taken(ws: &mut Ws, text: &str) -> bool {
    use futures::{SinkExt, StreamExt};
    let msg = json!({"type": "chat", "eid": GAME, "name": "fan", "text": text});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        msg.to_string().into(),
    ))
    .await
    .expect("send");
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("an answer")
            .expect("open")
            .expect("frame");
        let Ok(text_frame) = frame.into_text() else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&text_frame).expect("json");
        if v["type"] == "error" {
            return false;
        }
        if v["event"] == "chat" && v["data"]["text"] == text {
            return true;
        }
    }
}

/// Writes `text` as the server's config file, sends SIGHUP and waits for
/// the `nth` "config reloaded".
async fn reload(server: &Server, dir: &Path, text: &str, nth: usize) {
    write(dir, "live.toml", text);
    server.hup();
    common::wait_until("the reload", Duration::from_secs(30), || async {
        server.logs().matches("config reloaded").count() >= nth
    })
    .await;
}

/// The `Access-Control-Allow-Origin` the API answers a page from `origin`.
async fn allowed_origin(server: &Server, origin: &str) -> Option<String> {
    let resp = client()
        .get(format!("{}/api/", server.url))
        .header("origin", origin)
        .send()
        .await
        .expect("get");
    resp.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().expect("ascii").to_owned())
}

/// SIGHUP applies new chat rates to the buckets already in use, new
/// connection caps to the next connection and a new list of allowed
/// origins to the next request, while the connections already open stay
/// open.
#[tokio::test]
async fn sighup_applies_chat_rates_connection_caps_and_origins_to_what_comes_next() {
    use futures::SinkExt;
    let dir = TempDir::new("config-reload-limits");
    let path = write(
        dir.path(),
        "live.toml",
        &format!(
            "feed = {PREGAME:?}\nchat-burst = 5\nchat-rate = 0.001\ncors-origin = \"https://a.example\"\n"
        ),
    );
    let server = Server::start(&["serve", "--config", path.to_str().expect("path")]);
    common::polled_eids(&server.url, Duration::from_secs(30)).await;
    let ws_url = format!("{}/ws", server.url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("websocket handshake");
    let subscribe = json!({"type": "subscribe", "topics": [format!("chat/{GAME}")]});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        subscribe.to_string().into(),
    ))
    .await
    .expect("subscribe");
    assert!(chat_taken(&mut ws, "one").await);
    assert!(chat_taken(&mut ws, "two").await);
    assert_eq!(
        allowed_origin(&server, "https://a.example")
            .await
            .as_deref(),
        Some("https://a.example")
    );

    // Three tokens left of five; the burst lowered to one leaves one.
    let settings = format!(
        "feed = {PREGAME:?}\nchat-burst = 1\nchat-rate = 0.001\ncors-origin = \"https://b.example\"\n"
    );
    reload(&server, dir.path(), &settings, 1).await;
    assert!(
        !server.logs().contains("need a restart"),
        "{}",
        server.logs()
    );
    assert!(chat_taken(&mut ws, "three").await);
    assert!(!chat_taken(&mut ws, "four").await, "the burst is one now");
    // The allowed origins: the new one answered, the old one not, and a
    // page from the old one can no longer open a WebSocket.
    assert_eq!(
        allowed_origin(&server, "https://b.example")
            .await
            .as_deref(),
        Some("https://b.example")
    );
    assert_eq!(allowed_origin(&server, "https://a.example").await, None);
    let mut from_a =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            ws_url.as_str(),
        )
        .expect("request");
    from_a
        .headers_mut()
        .insert("origin", "https://a.example".parse().expect("header"));
    assert!(tokio_tungstenite::connect_async(from_a).await.is_err());

    // The connection cap, off until now, is one per address from the next
    // reload on (a reload of its own: the connections above, made before
    // it, are not counted, however long they take to close). The
    // WebSocket opened before the cap stays; the first connection after
    // it is counted, the second from the same address refused.
    reload(
        &server,
        dir.path(),
        &format!("{settings}max-connections-per-ip = 1\n"),
        2,
    )
    .await;
    let stream = format!("{}/api/stream?topic=news", server.url);
    let first = common::SseStream::connect(&stream, None).await;
    let refused = client().get(&stream).send().await.expect("answered");
    assert_eq!(refused.status().as_u16(), 429);
    drop(first);
    assert!(
        !chat_taken(&mut ws, "five").await,
        "still open, still limited"
    );
}

/// An HS256 token signed with `secret` that may follow `user/1`, valid
/// for an hour.
fn user_token(secret: &str) -> String {
    common::hs256_for_an_hour(
        secret,
        json!({"sub": "1", "livescore": {"subscribe": ["user/1"]}}),
    )
}

/// SIGHUP rotates the token key: from then on a token signed with the old
/// secret is refused and one signed with the new one taken, while a stream
/// opened with the old key's token stays open and keeps receiving.
#[tokio::test]
async fn sighup_rotates_the_token_key_and_open_streams_stay() {
    let dir = TempDir::new("config-reload-keys");
    let settings = |secret: &str| {
        format!("jwt-secret = {secret:?}\nprivate-topics = \"user/*\"\npublish-token = \"p\"\n")
    };
    let path = write(dir.path(), "live.toml", &settings("one"));
    let server = Server::start_env(
        &["serve", "--config", path.to_str().expect("path")],
        &[
            ("LIVESCORE_JWT_SECRET", None),
            ("LIVESCORE_PUBLISH_TOKEN", None),
        ],
    );
    let url = format!("{}/api/stream?topic=user/1", server.url);
    let open = |secret: &str| {
        client()
            .get(&url)
            .header("accept", "text/event-stream")
            .bearer_auth(user_token(secret))
            .send()
    };
    let status = |secret: &'static str| async move {
        open(secret).await.expect("answered").status().as_u16()
    };
    let mut before = common::SseStream::from_response(open("one").await.expect("answered"));
    assert_eq!(status("two").await, 401);

    reload(&server, dir.path(), &settings("two"), 1).await;
    assert!(
        !server.logs().contains("need a restart"),
        "{}",
        server.logs()
    );
    assert_eq!(status("one").await, 401, "the old key is gone");
    assert_eq!(status("two").await, 200, "the new key holds");

    let resp = client()
        .post(format!("{}/api/publish", server.url))
        .bearer_auth("p")
        .json(&json!({"topic": "user/1", "event": "note", "data": {"n": 1}}))
        .send()
        .await
        .expect("publish");
    assert_eq!(resp.status().as_u16(), 202);
    let ev = before
        .next_event(Duration::from_secs(30))
        .await
        .expect("the stream opened before the rotation is open");
    assert_eq!(ev.event, "note");
}

const FINAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-final.xml"
);

/// SIGHUP points the feed somewhere else: the poller, asleep for an hour,
/// wakes for the new plan and polls the new source at once.
#[tokio::test]
async fn sighup_moves_the_feed_to_a_new_source_and_interval() {
    let dir = TempDir::new("config-reload-feed");
    let settings =
        |feed: &str, every: &str| format!("feed = {feed:?}\npoll-interval = {every:?}\n");
    let path = write(dir.path(), "live.toml", &settings(PREGAME, "1h"));
    let server = Server::start_env(
        &["serve", "--config", path.to_str().expect("path")],
        &[("LIVESCORE_FEED", None), ("LIVESCORE_POLL_INTERVAL", None)],
    );
    common::polled_eids(&server.url, Duration::from_secs(30)).await;
    let board = || async {
        client()
            .get(format!("{}/api/", server.url))
            .send()
            .await
            .expect("get")
            .json::<serde_json::Value>()
            .await
            .expect("json")["games"]
            .clone()
    };
    assert!(!common::all_final(&board().await));

    reload(&server, dir.path(), &settings(FINAL, "300ms"), 1).await;
    assert!(
        !server.logs().contains("need a restart"),
        "{}",
        server.logs()
    );
    common::wait_until("the new source polled", Duration::from_secs(30), || async {
        common::all_final(&board().await)
    })
    .await;
    // Another source is another feed: the old one stopped, the new one
    // started (its league's board taken over, not emptied).
    assert!(server.logs().contains("feed removed"), "{}", server.logs());
    assert!(server.logs().contains("feed added"));
}
