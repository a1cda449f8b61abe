//! HTTPS in the binary (`--tls-cert`, `--tls-key`) with a self-signed
//! certificate made here: SSE over HTTP/2 to reqwest and over HTTP/1.1 to
//! curl, /ws over TLS, a certificate swapped on SIGHUP under an open
//! stream, silent clients closed, and bad files refused at start.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{Server, SseStream, TempDir};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "tls-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);

/// A fresh self-signed certificate for 127.0.0.1 and localhost, as PEM
/// (certificate, key).
fn self_signed() -> (String, String) {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("make a certificate");
    (made.cert.pem(), made.key_pair.serialize_pem())
}

/// The certificate and key files a server is started with.
struct Pair {
    cert: PathBuf,
    key: PathBuf,
    cert_pem: String,
}

impl Pair {
    fn write(dir: &Path) -> Pair {
        let (cert_pem, key_pem) = self_signed();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &cert_pem).expect("write cert");
        std::fs::write(&key, key_pem).expect("write key");
        Pair {
            cert,
            key,
            cert_pem,
        }
    }

    /// A new certificate and key in the same files (a renewal).
    fn renew(&mut self) {
        let (cert_pem, key_pem) = self_signed();
        std::fs::write(&self.key, key_pem).expect("write key");
        std::fs::write(&self.cert, &cert_pem).expect("write cert");
        self.cert_pem = cert_pem;
    }
}

fn start(pair: &Pair, extra: &[&str]) -> Server {
    let mut args = vec![
        "serve",
        "--publish-token",
        TOKEN,
        "--tls-cert",
        pair.cert.to_str().expect("path"),
        "--tls-key",
        pair.key.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    let server = Server::start(&args);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    server
}

/// A client that trusts only `cert_pem` (and has its own connections).
fn https_client(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem"))
        .build()
        .expect("client")
}

async fn publish(client: &reqwest::Client, base: &str, text: &str) -> String {
    let event = json!({"topic": "news", "event": "flash", "data": {"text": text}});
    common::publish_event(client, base, TOKEN, &event).await
}

/// `/api/stream?topic=news` over HTTP/2.
async fn h2_stream(client: &reqwest::Client, base: &str) -> SseStream {
    let resp = client
        .get(format!("{base}/api/stream?topic=news"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET stream");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    SseStream::from_response(resp)
}

/// The next `flash` event's id (keep-alives and others skipped).
async fn next_flash(sse: &mut SseStream) -> String {
    loop {
        let ev = sse.next_event(WAIT).await.expect("an event");
        if ev.event == "flash" {
            return ev.id.expect("id");
        }
    }
}

/// A rustls client config trusting `cert_pem`, offering `alpn`.
fn tls_client_config(cert_pem: &str, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("pem");
    roots.add(der).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

async fn tls_connect(
    server: &Server,
    cert_pem: &str,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let addr = server.url.trim_start_matches("https://");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let connector = tokio_rustls::TlsConnector::from(tls_client_config(cert_pem, alpn));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    connector.connect(name, tcp).await.expect("TLS handshake")
}

/// Reads until the server closes (EOF or an error); false if it is still
/// open after `WAIT`.
async fn closed_by_server<S: tokio::io::AsyncRead + Unpin>(io: &mut S) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        while matches!(io.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await
    .is_ok()
}

/// curl over HTTP/1.1 following the stream; its output lines arrive on the
/// channel.
fn curl_stream(
    url: &str,
    cacert: &Path,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new("curl")
        .args(["-sS", "-N", "-i", "--http1.1", "--cacert"])
        .arg(cacert)
        .arg(url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run curl");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Lines from curl until one satisfies `want`; all lines read so far.
fn curl_until(rx: &std::sync::mpsc::Receiver<String>, want: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = want(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("curl never printed the line wanted; it printed {seen:?}"),
        }
    }
}

#[tokio::test]
async fn sse_over_http2_to_reqwest_and_over_http1_to_curl_get_the_same_events() {
    let dir = TempDir::new("tls-sse");
    let pair = Pair::write(dir.path());
    let server = start(&pair, &[]);
    let client = https_client(&pair.cert_pem);
    let mut h2 = h2_stream(&client, &server.url).await;
    let (mut curl, lines) =
        curl_stream(&format!("{}/api/stream?topic=news", server.url), &pair.cert);
    // curl's stream is open once its response head is through.
    let head = curl_until(&lines, |l| l.trim().is_empty());
    assert!(head[0].starts_with("HTTP/1.1 200"), "{head:?}");
    assert!(
        head.iter().any(|l| l
            .to_ascii_lowercase()
            .starts_with("content-type: text/event-stream")),
        "{head:?}"
    );

    // Published over HTTP/2 too.
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(publish(&client, &server.url, text).await);
    }
    for id in &ids {
        assert_eq!(&next_flash(&mut h2).await, id);
        let want = format!("id: {id}");
        curl_until(&lines, |l| l.trim_end() == want);
    }
    let _ = curl.kill();
    let _ = curl.wait();

    // The API and the page answer over HTTP/2 as well.
    let page = client
        .get(format!("{}/", server.url))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert_eq!(page.version(), reqwest::Version::HTTP_2);
    let api = client
        .get(format!("{}/api/", server.url))
        .send()
        .await
        .expect("api");
    assert_eq!(api.status(), 200);
    assert_eq!(api.version(), reqwest::Version::HTTP_2);
}

#[tokio::test]
async fn websocket_works_over_tls_on_http1() {
    let dir = TempDir::new("tls-ws");
    let pair = Pair::write(dir.path());
    let server = start(&pair, &[]);
    // What a browser does when its HTTP/2 connection cannot carry a
    // WebSocket: a connection of its own, ALPN http/1.1.
    let tls = tls_connect(&server, &pair.cert_pem, &[b"http/1.1"]).await;
    let url = format!("{}/ws", server.url.replacen("https://", "wss://", 1));
    let (mut ws, resp) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("websocket handshake over TLS");
    assert_eq!(resp.status(), 101);
    ws.send(Message::Text(
        json!({"type": "subscribe", "topics": ["news"]})
            .to_string()
            .into(),
    ))
    .await
    .expect("send");
    assert_eq!(next_ws(&mut ws).await["type"], "subscribed");
    let client = https_client(&pair.cert_pem);
    let id = publish(&client, &server.url, "over wss").await;
    let ev = next_ws(&mut ws).await;
    assert_eq!(ev["type"], "event", "{ev}");
    assert_eq!(ev["id"], id.as_str(), "{ev}");
}

#[tokio::test]
async fn sighup_swaps_the_certificate_and_open_streams_keep_going() {
    let dir = TempDir::new("tls-reload");
    let mut pair = Pair::write(dir.path());
    let server = start(&pair, &[]);
    let old = pair.cert_pem.clone();
    let old_client = https_client(&old);
    let mut h2 = h2_stream(&old_client, &server.url).await;
    let first = publish(&old_client, &server.url, "before").await;
    assert_eq!(next_flash(&mut h2).await, first);

    pair.renew();
    hup(&server);
    wait_for_log(&server, "TLS certificate reloaded", 1);

    // The stream opened under the old certificate goes on.
    let new_client = https_client(&pair.cert_pem);
    let second = publish(&new_client, &server.url, "after").await;
    assert_eq!(next_flash(&mut h2).await, second);
    // A new connection gets the new certificate: a client that trusts
    // only the old one is refused, one that trusts the new one is served.
    let err = https_client(&old)
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect_err("the old certificate is no longer served");
    assert!(format!("{err:?}").contains("InvalidCertificate"), "{err:?}");
    let ok = https_client(&pair.cert_pem)
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("the new certificate is served");
    assert_eq!(ok.status(), 200);

    // A broken renewal is refused and the good pair stays.
    std::fs::write(&pair.cert, "not a certificate").expect("write");
    hup(&server);
    wait_for_log(&server, "TLS certificate reload rejected", 1);
    let ok = https_client(&pair.cert_pem)
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("still served with the last good certificate");
    assert_eq!(ok.status(), 200);
    let third = publish(&new_client, &server.url, "still").await;
    assert_eq!(next_flash(&mut h2).await, third);
}

/// The next text message as JSON (pings skipped).
async fn next_ws<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("no error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("json");
        }
    }
}

fn hup(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits until the server's log holds `needle` `times` times.
fn wait_for_log(server: &Server, needle: &str, times: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    while server.logs().matches(needle).count() < times {
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} in the log: {}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn silent_tls_clients_are_closed_after_the_header_timeout_and_open_streams_stay() {
    let dir = TempDir::new("tls-silent");
    let pair = Pair::write(dir.path());
    // A header timeout well inside the wait below (the default is 10 s,
    // which `WAIT` would not see end).
    let server = start(&pair, &["--header-timeout", "1s"]);
    let client = https_client(&pair.cert_pem);
    let mut h2 = h2_stream(&client, &server.url).await;

    // No handshake at all.
    let addr = server.url.trim_start_matches("https://");
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    assert!(
        closed_by_server(&mut tcp).await,
        "a silent TCP client stayed open"
    );
    // A handshake, then nothing, on HTTP/1.1 and on HTTP/2.
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let mut tls = tls_connect(&server, &pair.cert_pem, &[alpn]).await;
        assert!(
            closed_by_server(&mut tls).await,
            "a silent TLS client ({}) stayed open",
            String::from_utf8_lossy(alpn)
        );
    }
    // The HTTP/2 preface and SETTINGS, then nothing.
    let mut tls = tls_connect(&server, &pair.cert_pem, &[b"h2"]).await;
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface");
    assert!(
        closed_by_server(&mut tls).await,
        "an HTTP/2 client with no stream stayed open"
    );

    // Meanwhile the stream that is open was kept: it still gets events.
    let id = publish(&client, &server.url, "still here").await;
    assert_eq!(next_flash(&mut h2).await, id);
}

#[tokio::test]
async fn bad_certificate_flags_are_refused_at_start_with_the_reason() {
    let dir = TempDir::new("tls-bad");
    let pair = Pair::write(dir.path());
    let other = TempDir::new("tls-bad-other");
    let other = Pair::write(other.path());
    let missing = dir.path().join("missing.pem");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello").expect("write");
    let s = |p: &Path| p.to_str().expect("path").to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--tls-cert".into(), s(&pair.cert)], "--tls-key"),
        (
            vec![
                "--tls-cert".into(),
                s(&missing),
                "--tls-key".into(),
                s(&pair.key),
            ],
            "--tls-cert",
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&junk),
                "--tls-key".into(),
                s(&pair.key),
            ],
            "--tls-cert",
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&pair.cert),
                "--tls-key".into(),
                s(&junk),
            ],
            "--tls-key",
        ),
        // A key that is not the certificate's.
        (
            vec![
                "--tls-cert".into(),
                s(&pair.cert),
                "--tls-key".into(),
                s(&other.key),
            ],
            "--tls-key",
        ),
    ];
    for (flags, names) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_livescore"))
            .arg("serve")
            .args(["--database-url", "sqlite::memory:", "--addr", "127.0.0.1:0"])
            .args(&flags)
            .output()
            .expect("run livescore");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?} started: {stderr}");
        assert!(
            stderr.contains(names),
            "{flags:?}: the error does not name {names}: {stderr}"
        );
    }
}

#[tokio::test]
async fn sigterm_ends_http2_streams_cleanly_and_the_process_exits() {
    let dir = TempDir::new("tls-shutdown");
    let pair = Pair::write(dir.path());
    let mut server = start(&pair, &[]);
    let client = https_client(&pair.cert_pem);
    // Two streams on one HTTP/2 connection, and one idle connection.
    let resp = |topic: &'static str| {
        client
            .get(format!("{}/api/stream?topic={topic}", server.url))
            .header("accept", "text/event-stream")
            .send()
    };
    let (a, b) = tokio::join!(resp("news"), resp("other"));
    let (a, b) = (a.expect("stream a"), b.expect("stream b"));
    assert_eq!(a.version(), reqwest::Version::HTTP_2);
    let _idle = tls_connect(&server, &pair.cert_pem, &[b"h2"]).await;
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    // Each body ends without a transport error (a GOAWAY, not a reset).
    for resp in [a, b] {
        let mut body = resp.bytes_stream();
        tokio::time::timeout(WAIT, async {
            while let Some(chunk) = body.next().await {
                chunk.expect("the stream ends cleanly, not with an error");
            }
        })
        .await
        .expect("the stream ends on shutdown");
    }
    let deadline = std::time::Instant::now() + WAIT;
    let code = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status.code();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running: {}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0), "{}", server.logs());
    assert!(
        !server
            .logs()
            .contains("tasks still running after the shutdown deadline"),
        "{}",
        server.logs()
    );
}

#[tokio::test]
async fn past_the_per_ip_cap_tls_clients_get_429_on_both_protocols_and_probes_are_served() {
    let dir = TempDir::new("tls-cap");
    let pair = Pair::write(dir.path());
    let server = start(&pair, &["--max-connections-per-ip", "1"]);
    // The one connection this address may have, held by a stream.
    let holder = https_client(&pair.cert_pem);
    let _stream = h2_stream(&holder, &server.url).await;

    let h1 = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(pair.cert_pem.as_bytes()).expect("pem"),
        )
        .http1_only()
        .build()
        .expect("client");
    for (name, client) in [("HTTP/1.1", h1), ("HTTP/2", https_client(&pair.cert_pem))] {
        let resp = client
            .get(format!("{}/api/", server.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: an answer, not {e:?}"));
        assert_eq!(resp.status(), 429, "{name}");
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5"),
            "{name}"
        );
        let body: Value = resp.json().await.expect("JSON");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("too many")),
            "{name}: {body}"
        );
        let probe = client
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: the probe answered, not {e:?}"));
        assert_eq!(probe.status(), 200, "{name}: a probe is served");
    }
}

/// Each HTTP/2 stream counts against the per-address cap, not the
/// connection once (which let `--max-connections-per-ip 2` admit 200
/// streams from one address): the third stream on one connection is a
/// 429, a probe is still served, and a stream that ends frees its place.
#[tokio::test]
async fn each_http2_stream_counts_against_the_per_ip_cap() {
    let dir = TempDir::new("tls-h2-streams");
    let pair = Pair::write(dir.path());
    let server = start(&pair, &["--max-connections-per-ip", "2"]);
    // One client: its requests share one HTTP/2 connection.
    let client = https_client(&pair.cert_pem);
    let first = h2_stream(&client, &server.url).await;
    let _second = h2_stream(&client, &server.url).await;
    let third = client
        .get(format!("{}/api/stream?topic=news", server.url))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("an answer");
    assert_eq!(third.version(), reqwest::Version::HTTP_2);
    assert_eq!(third.status(), 429);
    let probe = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("probe");
    assert_eq!(probe.status(), 200, "a probe is not counted");
    drop(first);
    let url = format!("{}/api/", server.url);
    common::wait_until("the ended stream's place is free", WAIT, || async {
        client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}
