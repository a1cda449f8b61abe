//! Compression encoded once, against the real binary and independent
//! clients: gzip SSE decoded by `curl --compressed` and by Python's zlib
//! on both paths (the socket path and hyper's), and WebSocket
//! permessage-deflate with Python's `websockets` and with frames written
//! by hand (a compressed request, a zip bomb, a bad deflate stream).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{client, wait_until, Server, TempDir};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TOKEN: &str = "compression-test-token";
const WAIT: Duration = Duration::from_secs(30);
const ORIGIN: &str = "http://page.example";
const GAME: &str = "2015091300";

/// Events of every shape: small, large (a whole board's worth, so over
/// one deflate block's worth of matches), with line breaks, unicode.
fn events() -> Vec<(String, serde_json::Value)> {
    let game = serde_json::json!({"eid": "2015091000", "home": {"abbr": "NE", "score": 28},
        "away": {"abbr": "PIT", "score": 21}, "quarter": "4", "clock": "02:11"});
    let mut out = Vec::new();
    for i in 0..12 {
        let data = match i % 4 {
            0 => serde_json::json!({"n": i}),
            1 => serde_json::Value::Array(vec![game.clone(); 16]),
            2 => serde_json::json!({"text": format!("line one\nline two {i}\r\nthree ü ⚽")}),
            _ => serde_json::json!({"big": "x".repeat(3000 + i), "n": i}),
        };
        out.push((format!("ev{i}"), data));
    }
    out
}

async fn publish(server: &Server, topic: &str) -> Vec<String> {
    let http = client();
    let mut ids = Vec::new();
    for (event, data) in events() {
        let body = serde_json::json!({"topic": topic, "event": event, "data": data});
        ids.push(common::publish_event(&http, &server.url, TOKEN, &body).await);
    }
    ids
}

/// One `curl -N` following `url`, its body in `out` and its response
/// head in `out.head`.
struct Curl {
    child: tokio::process::Child,
    out: PathBuf,
    head: PathBuf,
}

impl Curl {
    fn start(url: &str, dir: &Path, name: &str, args: &[&str]) -> Curl {
        let out = dir.join(name);
        let head = dir.join(format!("{name}.head"));
        let child = tokio::process::Command::new("curl")
            .args(["-sS", "-N", "-H", "Accept: text/event-stream", "-o"])
            .arg(&out)
            .arg("-D")
            .arg(&head)
            .args(args)
            .arg(url)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("curl runs");
        Curl { child, out, head }
    }

    fn body(&self) -> Vec<u8> {
        std::fs::read(&self.out).unwrap_or_default()
    }

    fn head(&self) -> String {
        std::fs::read_to_string(&self.head)
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

/// Python's zlib on a raw gzip body (see tests/interop/gunzip_stream.py).
async fn python_gunzip(file: &Path, complete: bool) -> (bool, Vec<u8>, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/gunzip_stream.py"
    );
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(script).arg(file);
    if complete {
        cmd.arg("--complete");
    }
    let out = cmd.output().await.expect("python3 runs");
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The same events to a plain client, a `curl --compressed` client and a
/// client that keeps the raw gzip bytes, on the socket path and on
/// hyper's (a cross-origin request on a CORS node goes there): every
/// gzip body decodes to exactly the plain body, and once the server
/// stops, ends as a whole gzip stream (curl and zlib check the CRC).
#[tokio::test]
async fn gzip_sse_decodes_to_exactly_what_a_plain_client_got_on_both_paths() {
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
        "--cors-origin",
        ORIGIN,
        "--keepalive",
        "1h",
        // One retry for every stream, so their bodies are byte for byte
        // the same (each stream gets its own random one otherwise).
        "--retry-min",
        "2s",
        "--retry-max",
        "2s",
    ]);
    let dir = TempDir::new("compression");
    let url = format!("{}/api/stream?topic=news", server.url);
    let origin = format!("Origin: {ORIGIN}");
    let mut curls = Vec::new();
    for (path, extra) in [("socket", None), ("hyper", Some(origin.as_str()))] {
        let with = |args: &[&'static str]| {
            let mut v: Vec<&str> = args.to_vec();
            if let Some(h) = extra {
                v.extend(["-H", h]);
            }
            v
        };
        curls.push(Curl::start(
            &url,
            dir.path(),
            &format!("{path}-plain"),
            &with(&[]),
        ));
        curls.push(Curl::start(
            &url,
            dir.path(),
            &format!("{path}-curl"),
            &with(&["--compressed"]),
        ));
        curls.push(Curl::start(
            &url,
            dir.path(),
            &format!("{path}-raw"),
            &with(&["-H", "Accept-Encoding: br;q=1, gzip;q=0.8"]),
        ));
    }
    // Every stream is open (its head is in) before anything is published.
    wait_until("all six streams open", WAIT, || {
        let heads: Vec<String> = curls.iter().map(Curl::head).collect();
        async move { heads.iter().all(|h| h.contains("\r\n\r\n")) }
    })
    .await;
    for (i, c) in curls.iter().enumerate() {
        let head = c.head();
        let hyper = i >= 3;
        // The path each took: hyper's response is chunked.
        assert_eq!(head.contains("transfer-encoding: chunked"), hyper, "{head}");
        if i % 3 == 0 {
            assert!(!head.contains("content-encoding"), "{head}");
        } else {
            assert!(head.contains("content-encoding: gzip\r\n"), "{head}");
            assert!(head.contains("vary: accept-encoding"), "{head}");
        }
    }
    let ids = publish(&server, "news").await;
    let last = format!("id: {}\n", ids.last().expect("ids"));
    let is_raw = |c: &&Curl| c.out.to_string_lossy().ends_with("raw");
    for c in curls.iter().filter(|c| !is_raw(c)) {
        wait_until("every event in", WAIT, || {
            let body = c.body();
            let last = last.clone();
            async move { contains(&body, &last) }
        })
        .await;
    }
    for c in curls.iter().filter(is_raw) {
        wait_until("every event in, decoded by zlib", WAIT, || {
            let file = c.out.clone();
            let last = last.clone();
            async move { contains(&python_gunzip(&file, false).await.1, &last) }
        })
        .await;
    }
    // The server ends the streams: each gzip body must end whole.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    for c in &mut curls {
        let status = tokio::time::timeout(WAIT, c.child.wait())
            .await
            .expect("curl ends with the stream")
            .expect("curl");
        // curl --compressed fails on a truncated or corrupt gzip body.
        assert!(status.success(), "{}: {status}", c.out.display());
    }
    for path in ["socket", "hyper"] {
        let plain = std::fs::read(dir.path().join(format!("{path}-plain"))).expect("plain");
        assert!(contains(&plain, &last), "{path}");
        let by_curl = std::fs::read(dir.path().join(format!("{path}-curl"))).expect("curl");
        assert_eq!(
            String::from_utf8_lossy(&by_curl),
            String::from_utf8_lossy(&plain),
            "{path}: curl --compressed"
        );
        let raw = dir.path().join(format!("{path}-raw"));
        let (ok, by_zlib, err) = python_gunzip(&raw, true).await;
        assert!(ok, "{path}: {err}");
        assert_eq!(
            String::from_utf8_lossy(&by_zlib),
            String::from_utf8_lossy(&plain),
            "{path}: zlib"
        );
        // And it was compressed: the large events shrink.
        let raw_len = std::fs::metadata(&raw).expect("raw").len() as usize;
        assert!(
            raw_len * 3 < plain.len(),
            "{path}: {raw_len} of {}",
            plain.len()
        );
    }
    // Also against flate2's reader, which checks the trailer too.
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir.path().join("socket-raw")).expect("raw"))
        .read_to_end(&mut decoded)
        .expect("a whole gzip stream");
}

/// `gzip;q=0` (and no Accept-Encoding) get the plain stream.
#[tokio::test]
async fn a_client_that_refuses_gzip_gets_the_plain_stream() {
    let server = Server::start(&["serve", "--database-url", "sqlite::memory:"]);
    for ae in ["gzip;q=0", "identity", "br"] {
        let resp = client()
            .get(format!("{}/api/stream?topic=news", server.url))
            .header("accept", "text/event-stream")
            .header("accept-encoding", ae)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("content-encoding").is_none(), "{ae}");
    }
}

/// Python's `websockets` negotiates permessage-deflate and gets the
/// same events as a connection without it; a chat it sends compressed
/// is accepted.
#[tokio::test]
async fn python_websockets_negotiates_permessage_deflate() {
    let server = Server::start(&["demo", "--speed", "2000", "--publish-token", TOKEN]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/ws_deflate_client.py"
    );
    let n = events().len().to_string();
    let mut child = tokio::process::Command::new("python3")
        .args([script, &ws_url(&server), "news", &n, GAME])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (install Python 3 and `pip install websockets`)");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the client gets ready")
            .expect("stdout");
        let Some(line) = line else {
            let out = child.wait_with_output().await.expect("python");
            panic!(
                "client ended early: {seen:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        seen.push(line.clone());
        if line == "ready" {
            break;
        }
    }
    publish(&server, "news").await;
    while let Some(line) = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the client finishes")
        .expect("stdout")
    {
        seen.push(line);
    }
    let out = child.wait_with_output().await.expect("python");
    assert!(
        out.status.success(),
        "{seen:#?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        seen.contains(
            &"extensions deflate: permessage-deflate; server_no_context_takeover; client_no_context_takeover"
                .into()
        ),
        "{seen:#?}"
    );
    assert!(seen.contains(&"extensions plain: None".into()), "{seen:#?}");
    let of = |who: &str| -> Vec<String> {
        seen.iter()
            .filter_map(|l| l.strip_prefix(who).map(str::to_owned))
            .collect()
    };
    let (deflated, plain) = (of("deflate "), of("plain "));
    assert_eq!(deflated.len(), events().len(), "{seen:#?}");
    assert_eq!(deflated, plain);
    assert!(seen.contains(&"chat zlib: True".into()), "{seen:#?}");
}

fn ws_url(server: &Server) -> String {
    format!("{}/ws", server.url.replacen("http://", "ws://", 1))
}

/// A WebSocket opened by hand, for frames no client library would send.
struct RawWs {
    sock: TcpStream,
    /// The handshake's `Sec-WebSocket-Extensions` answer.
    extensions: Option<String>,
}

impl RawWs {
    async fn open(server: &Server, offer: Option<&str>) -> RawWs {
        let addr = server.url.trim_start_matches("http://");
        let mut sock = TcpStream::connect(addr).await.expect("connect");
        let mut req = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(o) = offer {
            req.push_str(&format!("Sec-WebSocket-Extensions: {o}\r\n"));
        }
        req.push_str("\r\n");
        sock.write_all(req.as_bytes()).await.expect("write");
        // Byte by byte up to the blank line: nothing of the first frame
        // is read with the head.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let b = tokio::time::timeout(WAIT, sock.read_u8())
                .await
                .expect("a head")
                .expect("read");
            head.push(b);
        }
        let head = String::from_utf8(head).expect("ascii");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let extensions = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("sec-websocket-extensions")
                .then(|| v.trim().to_string())
        });
        RawWs { sock, extensions }
    }

    /// Sends one masked client frame; `first` is its first byte.
    async fn send(&mut self, first: u8, payload: &[u8]) {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut f = vec![first];
        let len = payload.len();
        if len < 126 {
            f.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            f.push(0x80 | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        self.sock.write_all(&f).await.expect("write");
    }

    /// A ping and its pong: the server now knows a WebSocket peer (one
    /// whose first frame breaks the protocol is hung up on, not closed).
    async fn ping(&mut self) {
        self.send(0x89, b"hi").await;
        loop {
            let (first, payload) = self.recv().await;
            if first == 0x8A {
                assert_eq!(payload, b"hi");
                return;
            }
        }
    }

    /// The next server frame: its first byte and payload.
    async fn recv(&mut self) -> (u8, Vec<u8>) {
        tokio::time::timeout(WAIT, async {
            let first = self.sock.read_u8().await.expect("a frame");
            let len = match self.sock.read_u8().await.expect("length") {
                126 => u64::from(self.sock.read_u16().await.expect("length")),
                127 => self.sock.read_u64().await.expect("length"),
                n => u64::from(n),
            };
            let mut payload = vec![0; len as usize];
            self.sock.read_exact(&mut payload).await.expect("payload");
            (first, payload)
        })
        .await
        .expect("a frame in time")
    }

    /// The next text message, inflated if it came compressed.
    async fn text(&mut self) -> serde_json::Value {
        loop {
            let (first, payload) = self.recv().await;
            if first & 0x0F != 1 {
                continue;
            }
            let bytes = if first & 0x40 != 0 {
                inflate(&payload)
            } else {
                payload
            };
            return serde_json::from_slice(&bytes).expect("json");
        }
    }

    /// The close code the server sends next (skipping other frames).
    async fn close_code(&mut self) -> u16 {
        loop {
            let (first, payload) = self.recv().await;
            if first & 0x0F == 8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

/// A message as a permessage-deflate client compresses it (its own
/// compressor, the sync flush's tail removed).
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
        .expect("deflate");
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "room for the flush");
    out.truncate(out.len() - 4);
    out
}

fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(&input[..])
        .read_to_end(&mut out)
        .ok();
    out
}

/// A compressed request (in two fragments) is understood, events come
/// with RSV1 set and inflate to the event; messages compressed each on
/// its own are understood, one that refers back into the message before
/// it (against the answer's `client_no_context_takeover`) gets an
/// `error`; a zip bomb is closed with 1009, a bad deflate stream with 1007,
/// RSV1 without the extension with 1002.
#[tokio::test]
async fn compressed_frames_by_hand() {
    let server = Server::start(&[
        "serve",
        "--database-url",
        "sqlite::memory:",
        "--publish-token",
        TOKEN,
    ]);
    let mut ws = RawWs::open(
        &server,
        Some("permessage-deflate; server_max_window_bits=9, permessage-deflate; client_max_window_bits"),
    )
    .await;
    assert_eq!(
        ws.extensions.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    let sub = deflate(br#"{"type":"subscribe","topics":["news"]}"#);
    let (a, b) = sub.split_at(sub.len() / 2);
    // RSV1 on the first fragment only (RFC 7692 6.1).
    ws.send(0x40 | 0x01, a).await;
    ws.send(0x80, b).await;
    let ack = ws.text().await;
    assert_eq!(ack["type"], "subscribed", "{ack}");
    let ids = publish(&server, "news").await;
    for (id, (event, data)) in ids.iter().zip(events()) {
        let (first, payload) = ws.recv().await;
        assert_eq!(first, 0x80 | 0x40 | 0x01, "a final, compressed text frame");
        let msg: serde_json::Value = serde_json::from_slice(&inflate(&payload)).expect("json");
        assert_eq!(msg["id"], id.as_str());
        assert_eq!(msg["event"], event.as_str());
        assert_eq!(msg["data"], data);
    }
    // Each message on its own, as the answer's client_no_context_takeover
    // asks (the server added it unoffered, RFC 7692 7.1.1.2).
    for _ in 0..2 {
        ws.send(
            0x80 | 0x40 | 0x01,
            &deflate(br#"{"type":"subscribe","topics":["news"]}"#),
        )
        .await;
        assert_eq!(ws.text().await["type"], "subscribed");
    }
    // A client that keeps its window anyway breaks the agreement: its
    // second message refers back into the first, which the server no
    // longer holds (it keeps no inflater between messages), so it does
    // not inflate to what was sent (the inflater reads zeros where the
    // window would be, which no JSON holds): an `error`, nothing acted on.
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut kept = |data: &[u8]| {
        let mut out = Vec::with_capacity(256);
        c.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
            .expect("deflate");
        out.truncate(out.len() - 4);
        out
    };
    let msg = br#"{"type":"subscribe","topics":["news"]}"#;
    let (first, second) = (kept(msg), kept(msg));
    assert!(second.len() < first.len(), "the second refers back");
    ws.send(0x80 | 0x40 | 0x01, &first).await;
    assert_eq!(ws.text().await["type"], "subscribed");
    ws.send(0x80 | 0x40 | 0x01, &second).await;
    let err = ws.text().await;
    assert_eq!(err["type"], "error", "{err}");
    assert!(
        err["message"].as_str().expect("message").contains("JSON"),
        "{err}"
    );

    // 1 MiB of spaces deflates to about 1 KiB: over the 64 KiB limit once
    // inflated.
    let mut ws = RawWs::open(&server, Some("permessage-deflate")).await;
    ws.ping().await;
    ws.send(0x80 | 0x40 | 0x01, &deflate(&vec![b' '; 1 << 20]))
        .await;
    assert_eq!(ws.close_code().await, 1009);

    let mut ws = RawWs::open(&server, Some("permessage-deflate")).await;
    ws.ping().await;
    ws.send(0x80 | 0x40 | 0x01, &[0xff, 0xff, 0xff, 0xff]).await;
    assert_eq!(ws.close_code().await, 1007);

    let mut ws = RawWs::open(&server, None).await;
    assert_eq!(ws.extensions, None);
    ws.ping().await;
    ws.send(0x80 | 0x40 | 0x01, &deflate(b"{}")).await;
    assert_eq!(ws.close_code().await, 1002);
}
