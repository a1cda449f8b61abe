//! A feed URL's secrets (its user info, a query value named like a key)
//! never show, whatever goes wrong with the feed: not in `/healthz`
//! (`feed.last_error`), the server's log (at debug, retries included),
//! `/metrics`, `ingest --once`'s message, `--help` or a refused `--feed`.
//! Each kind of failure is its own test, each against a loopback stand-in
//! (no network): refused, DNS, timeout, TLS, 4xx, 5xx, a bad body.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(30);
/// The query secret and the password of every feed URL here.
const KEY: &str = "APIKEY123";
const PASSWORD: &str = "pw5ecret";

/// The feed URL with its secrets, and the form every output must show.
fn feed(scheme: &str, authority: &str) -> (String, String) {
    (
        format!("{scheme}://user:{PASSWORD}@{authority}/ss.xml?week=1&apikey={KEY}"),
        format!("{scheme}://***@{authority}/ss.xml?week=1&apikey=***"),
    )
}

/// A loopback server that reads each request's head and writes `answer`
/// (`None`: never answers, holding the connection open).
async fn canned(answer: Option<Vec<u8>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                    // A TLS client hello has no blank line: answer it as is.
                    if head.first() == Some(&0x16) {
                        break;
                    }
                }
                match answer {
                    Some(a) => {
                        let _ = conn.write_all(&a).await;
                        let _ = conn.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
            });
        }
    });
    addr
}

fn http_answer(status: &str, body: &str) -> Option<Vec<u8>> {
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn assert_hidden(what: &str, text: &str) {
    assert!(
        !text.contains(KEY) && !text.contains(PASSWORD),
        "{what} shows a secret: {text}"
    );
}

/// Polls `url` with a server and with `ingest --once` and checks every
/// place the failure shows: the secrets nowhere, the redacted URL and
/// `cause` (the kind of failure) in the error.
async fn never_shown(url: &str, shown: &str, cause: &str) {
    let server = Server::start_env(
        &["serve", "--feed", url, "--feed-timeout", "1s"],
        &[("LIVESCORE_LOG", Some("debug"))],
    );
    let ingest = tokio::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args(["ingest", "--once", "--feed", url, "--feed-timeout", "1s"])
        .args(["--database-url", "sqlite::memory:"])
        .env("LIVESCORE_LOG", "debug")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();

    let deadline = Instant::now() + WAIT;
    let error = loop {
        let (_, health) = common::health(&server.url).await;
        if let Some(e) = health["feed"]["last_error"].as_str() {
            break e.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no feed error in /healthz: {health}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_hidden("/healthz", &error);
    assert!(error.contains(shown), "{error}");
    assert!(
        error.to_ascii_lowercase().contains(cause),
        "{cause:?} not in {error}"
    );

    common::wait_until("the failure is logged", WAIT, || async {
        let logs = server.logs();
        logs.contains("feed fetch failed") || logs.contains("feed document rejected")
    })
    .await;
    let logs = server.logs();
    assert_hidden("the log", &logs);
    assert!(logs.contains(shown), "{logs}");
    assert_hidden(
        "/metrics",
        &common::get_text(format!("{}/metrics", server.url)).await,
    );

    let out = tokio::time::timeout(WAIT, ingest)
        .await
        .expect("ingest --once ends")
        .expect("run ingest");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert_hidden("ingest --once", &format!("{stdout}{stderr}"));
    assert!(stderr.contains(shown), "{stderr}");
}

#[tokio::test]
async fn a_refused_connection_shows_the_feed_redacted() {
    // A port just freed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (url, shown) = feed("http", &format!("127.0.0.1:{port}"));
    never_shown(&url, &shown, "refused").await;
}

#[tokio::test]
async fn a_dns_failure_shows_the_feed_redacted() {
    // `.invalid` never resolves (RFC 6761); the resolver says so at once.
    let (url, shown) = feed("http", "feed.invalid");
    never_shown(&url, &shown, "dns").await;
}

#[tokio::test]
async fn a_timeout_shows_the_feed_redacted() {
    let addr = canned(None).await;
    let (url, shown) = feed("http", &addr.to_string());
    never_shown(&url, &shown, "timed out").await;
}

#[tokio::test]
async fn a_tls_failure_shows_the_feed_redacted() {
    // HTTPS to a server that answers in plain HTTP.
    let addr = canned(http_answer("400 Bad Request", "")).await;
    let (url, shown) = feed("https", &addr.to_string());
    never_shown(&url, &shown, "unreachable").await;
}

#[tokio::test]
async fn a_4xx_shows_the_feed_redacted() {
    let addr = canned(http_answer("401 Unauthorized", "")).await;
    let (url, shown) = feed("http", &addr.to_string());
    never_shown(&url, &shown, "401").await;
}

#[tokio::test]
async fn a_5xx_shows_the_feed_redacted() {
    let addr = canned(http_answer("503 Service Unavailable", "")).await;
    let (url, shown) = feed("http", &addr.to_string());
    never_shown(&url, &shown, "503").await;
}

#[tokio::test]
async fn a_bad_body_that_echoes_the_key_shows_it_masked() {
    // A document whose bad value is the key (as a feed echoing its
    // request might send): the error quotes the value, masked.
    let doc = std::fs::read_to_string(format!(
        "{}/tests/fixtures/ss-malformed-badscore.xml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
    .replace(r#"hs="abc""#, &format!(r#"hs="{KEY}""#));
    let addr = canned(http_answer("200 OK", &doc)).await;
    let (url, _) = feed("http", &addr.to_string());
    let server = Server::start_env(
        &["serve", "--feed", &url],
        &[("LIVESCORE_LOG", Some("debug"))],
    );
    let deadline = Instant::now() + WAIT;
    let error = loop {
        let (_, health) = common::health(&server.url).await;
        if let Some(e) = health["feed"]["last_error"].as_str() {
            break e.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no feed error in /healthz: {health}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_hidden("/healthz", &error);
    assert!(error.contains(r#"`hs` not a score: "***""#), "{error}");
    common::wait_until("the rejection is logged", WAIT, || async {
        server.logs().contains("feed document rejected")
    })
    .await;
    assert_hidden("the log", &server.logs());
}

#[tokio::test]
async fn help_and_a_refused_feed_flag_never_show_the_secret() {
    let (url, _) = feed("http", "feed.invalid");
    // `--help` with the feed in the environment: clap would print its value.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args(["serve", "--help"])
        .env("LIVESCORE_FEED", &url)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("LIVESCORE_FEED"), "{text}");
    assert_hidden("serve --help", &text);
    // A URL that does not parse is refused without being quoted.
    let bad = format!("http://user:{PASSWORD}@[::1/ss.xml?apikey={KEY}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args(["serve", "--feed", &bad])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--feed"), "{stderr}");
    assert_hidden("a refused --feed", &stderr);
}
