//! A feed server for tests (scorestrip XML or ESPN JSON, whatever the
//! script holds): plays a script of answers (documents with ETags,
//! conditional 304s, bare statuses, hangs) and records what each request
//! asked. Included by `tests/ingest.rs` and `tests/espn.rs` with `#[path]`.
// Each test file uses only part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

/// One scripted answer; each request takes the next one.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this body, a fresh ETag and Last-Modified; it becomes the
    /// server's current document.
    Doc(String),
    /// The same, gzip-encoded on the wire.
    GzipDoc(String),
    /// The current document, honouring If-None-Match (304 when it matches).
    Current,
    /// A bare status.
    Status(u16),
    /// Never answers (longer than the client's timeout).
    Hang,
}

/// What the feed server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub user_agent: String,
    pub accept_encoding: String,
    pub status: u16,
}

#[derive(Default)]
pub struct FeedState {
    pub script: VecDeque<Reply>,
    /// ETag, body and whether to gzip it: the document served as current.
    pub current: Option<(String, String, bool)>,
    pub version: u32,
    pub seen: Vec<Seen>,
}

#[derive(Clone)]
struct Feed {
    state: Arc<Mutex<FeedState>>,
    gate: watch::Receiver<bool>,
}

fn hv(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn serve_feed(
    axum::extract::State(feed): axum::extract::State<Feed>,
    headers: HeaderMap,
) -> Response {
    // Hold the first answer until the test's clients are connected; a
    // request dropped meanwhile (client timeout) consumes nothing.
    let mut gate = feed.gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    let reply = {
        let mut st = feed.state.lock().expect("lock");
        st.script.pop_front().unwrap_or(Reply::Current)
    };
    if matches!(reply, Reply::Hang) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let mut st = feed.state.lock().expect("lock");
    let inm = hv(&headers, header::IF_NONE_MATCH);
    let gzip = matches!(reply, Reply::GzipDoc(_));
    let (resp, status) = match reply {
        Reply::Doc(body) | Reply::GzipDoc(body) => {
            st.version += 1;
            let etag = format!("\"v{}\"", st.version);
            st.current = Some((etag.clone(), body.clone(), gzip));
            (document(&etag, body, gzip), 200)
        }
        Reply::Current => match st.current.clone() {
            Some((etag, _, _)) if inm.as_deref() == Some(etag.as_str()) => {
                (StatusCode::NOT_MODIFIED.into_response(), 304)
            }
            Some((etag, body, gzip)) => (document(&etag, body, gzip), 200),
            None => (StatusCode::NOT_FOUND.into_response(), 404),
        },
        Reply::Status(code) => {
            let code = StatusCode::from_u16(code).expect("status");
            (code.into_response(), code.as_u16())
        }
        Reply::Hang => unreachable!("slept past the client's timeout"),
    };
    st.seen.push(Seen {
        if_none_match: inm,
        if_modified_since: hv(&headers, header::IF_MODIFIED_SINCE),
        user_agent: hv(&headers, header::USER_AGENT).unwrap_or_default(),
        accept_encoding: hv(&headers, header::ACCEPT_ENCODING).unwrap_or_default(),
        status,
    });
    resp
}

fn document(etag: &str, body: String, gzip: bool) -> Response {
    let ctype = if body.trim_start().starts_with('{') {
        "application/json"
    } else {
        "application/xml"
    };
    let headers = [
        (header::CONTENT_TYPE, ctype),
        (header::ETAG, etag),
        (header::LAST_MODIFIED, "Sun, 13 Sep 2015 19:00:00 GMT"),
    ];
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(body.as_bytes()).expect("gzip");
        let bytes = enc.finish().expect("gzip");
        (headers, [(header::CONTENT_ENCODING, "gzip")], bytes).into_response()
    } else {
        (headers, body).into_response()
    }
}

/// A feed server on 127.0.0.1:0 playing `script`; answers wait until the
/// returned sender says `true` (pass `true` to start open).
pub async fn feed_server(
    script: Vec<Reply>,
    open: bool,
) -> (String, Arc<Mutex<FeedState>>, watch::Sender<bool>) {
    let state = Arc::new(Mutex::new(FeedState {
        script: script.into(),
        ..FeedState::default()
    }));
    let (gate_tx, gate) = watch::channel(open);
    let app = axum::Router::new()
        .route("/ss.xml", axum::routing::get(serve_feed))
        .route("/scoreboard", axum::routing::get(serve_feed))
        .with_state(Feed {
            state: state.clone(),
            gate,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/ss.xml", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("feed server") });
    (url, state, gate_tx)
}
