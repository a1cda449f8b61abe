//! `livescore watch [URL]`: a terminal scoreboard that follows a server's
//! SSE stream (`/api/stream?topic=scores`), like the web page does.
//!
//! It is a client of the public contract only (SPEC "SSE"): it reads the
//! stream over HTTP, never the bus or the store, so it works against any
//! livescore node, behind nginx too. `--once` prints the board and exits,
//! for scripts; otherwise `follow` redraws until q or Ctrl-C and
//! reconnects with the last event id, so nothing is missed while away.
//!
//! Every sport the server follows is drawn in its own words (`status`);
//! `--league` narrows the board to some leagues, picked on this side from
//! the `scores` stream (`league`), so it works against any server.
//!
//! `sse` parses the stream (WHATWG rules), `board` turns games into lines
//! (`status` says where each stands, `linescore` its line score, `league`
//! names leagues and filters them), `follow` runs the reconnect loop,
//! `screen` owns the terminal.

pub mod board;
mod follow;
pub mod league;
mod linescore;
mod screen;
pub mod sse;
mod status;

use std::io::Write;
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, Response, Url};

use livescore::feed::fetch::USER_AGENT;
use livescore::model::Game;
use sse::{EventTooLarge, SseParser};

/// `livescore watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Server to follow: its base URL (the board comes from
    /// `/api/stream?topic=scores` under it).
    /// Example: livescore watch http://127.0.0.1:8000
    #[arg(env = "LIVESCORE_URL", default_value = "http://127.0.0.1:8000", value_parser = parse_url)]
    pub url: Url,

    /// Print the current board once as plain text, one line per game
    /// (`PIT 21 @ NE 28  Final`), and exit 0; exit 1 with a one-line reason
    /// when the server is unreachable or sends no board within --timeout.
    /// Fields 1-5 are always away team, away score, `@`, home team, home
    /// score. With several leagues on the board, each league's games
    /// follow a header line (`NBA 2024-12-15 · 2 live`) and a blank line
    /// ends each group; `awk '$3 == "@"'` keeps the games.
    /// Example: livescore watch --once http://127.0.0.1:8000 | grep Final
    #[arg(long, env = "LIVESCORE_ONCE")]
    pub once: bool,

    /// Only these leagues' games, by the key the server gives them (`nfl`,
    /// `college-football`, `nba`, `nhl`, `mlb`, `eng.1`, `uefa.champions`…);
    /// repeat the flag or give a comma list. Without it, every league the
    /// server follows. Games are picked from the `scores` stream, so any
    /// server will do. A league with no game on the board is not an error
    /// (its games may come later): `watch` says `--league nba: no such
    /// league on the board (it has nfl)`, under the board while following,
    /// on stderr with --once (which still exits 0).
    /// Example: livescore watch --league nba --league nhl   (or --league nba,nhl)
    #[arg(
        long = "league",
        value_name = "LEAGUE",
        env = "LIVESCORE_LEAGUE",
        value_delimiter = ','
    )]
    pub leagues: Vec<String>,

    /// Under each game, its line score: each side's points per quarter or
    /// period, runs per inning (`x` for a half-inning not needed), a
    /// shoot-out's goals, then the total; for games whose feed gives one
    /// (ESPN boards; not the NFL scorestrip, rarely soccer). The rows are
    /// indented, so game lines stay the only ones starting with a team.
    /// While following full-screen, `l` turns it on and off.
    /// Example: livescore watch --once --linescore --league nba
    #[arg(long, env = "LIVESCORE_LINESCORE")]
    pub linescore: bool,

    /// How long to wait for the server to answer; with --once, for the
    /// whole board.
    /// Example: --timeout 3s
    #[arg(long, env = "LIVESCORE_TIMEOUT", default_value = "10s", value_parser = livescore::cli::parse_duration)]
    pub timeout: Duration,

    /// No colours, even on a terminal (also set by the NO_COLOR
    /// convention). Without a terminal there are none anyway.
    /// Example: --no-color
    #[arg(long, env = "NO_COLOR", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_color: bool,
}

/// Why `watch` stopped; each is one line for the user.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// No connection or no answer.
    #[error("cannot reach {url}: {cause}")]
    Unreachable {
        /// The stream URL.
        url: Url,
        /// The innermost cause, e.g. `Connection refused (os error 111)`.
        cause: String,
    },
    /// The server answered, but not with an event stream.
    #[error("{url} answered HTTP {status} {content_type:?}, not an event stream")]
    NotAStream {
        /// The stream URL.
        url: Url,
        /// HTTP status.
        status: reqwest::StatusCode,
        /// Its Content-Type, if any.
        content_type: String,
    },
    /// `--once` got no `update` in time.
    #[error("no scoreboard from {url} within {}s", timeout.as_secs_f64())]
    NoBoard {
        /// The stream URL.
        url: Url,
        /// `--timeout`.
        timeout: Duration,
    },
    /// The stream ended or broke before the board came.
    #[error("{url} closed the stream before sending a scoreboard: {cause}")]
    Closed {
        /// The stream URL.
        url: Url,
        /// What happened.
        cause: String,
    },
    /// The board is not the SPEC's JSON array of games.
    #[error("the server sent a scoreboard this client cannot read: {0}")]
    BadBoard(#[from] serde_json::Error),
    /// The stream broke the parser's size limit.
    #[error(transparent)]
    TooLarge(#[from] EventTooLarge),
    /// The HTTP client could not be set up.
    #[error("HTTP client: {0}")]
    Client(String),
    /// Writing to the terminal, or setting it up, failed.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs `watch` until the board is printed (`--once`) or the user quits.
pub async fn run(args: WatchArgs) -> Result<(), WatchError> {
    if !args.once {
        return follow::run(&args).await;
    }
    let board = once(&args).await?;
    let filter = league::Filter::new(&args.leagues);
    if let Some(missing) = filter.missing(&board) {
        eprintln!("livescore watch: {missing}");
    }
    let style = board::Style {
        color: false,
        pad: false,
        linescore: args.linescore,
    };
    let lines = board::body(&filter.select(&board), &chrono::Local, style);
    let mut out = std::io::stdout().lock();
    for line in &lines {
        match writeln!(out, "{line}") {
            // `watch --once | head -1` is fine, not an error.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    out.flush().or_else(|err| match err.kind() {
        std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(err),
    })?;
    Ok(())
}

/// Connects and waits for the first `update`: the server sends the current
/// board at once on every connect, so this is one round trip.
async fn once(args: &WatchArgs) -> Result<Vec<Game>, WatchError> {
    let url = stream_url(&args.url);
    let client = client(args.timeout)?;
    let fetch = async {
        let resp = connect(&client, &url, None).await?;
        let mut parser = SseParser::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| WatchError::Closed {
                url: url.clone(),
                cause: root_cause(&err),
            })?;
            // A `reset` first is fine: the current board follows it.
            if let Some(ev) = parser
                .feed(&chunk)?
                .into_iter()
                .find(|e| e.event == "update")
            {
                return Ok(serde_json::from_str(&ev.data)?);
            }
        }
        Err(WatchError::Closed {
            url: url.clone(),
            cause: "end of stream".into(),
        })
    };
    tokio::time::timeout(args.timeout, fetch)
        .await
        .map_err(|_| WatchError::NoBoard {
            url: url.clone(),
            timeout: args.timeout,
        })?
}

/// The HTTP client: a connect timeout but no overall one, since a stream
/// is meant to stay open for hours.
fn client(timeout: Duration) -> Result<Client, WatchError> {
    Client::builder()
        .connect_timeout(timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|err| WatchError::Client(root_cause(&err)))
}

/// Opens the stream, resuming after `last_id` when given.
async fn connect(
    client: &Client,
    url: &Url,
    last_id: Option<&str>,
) -> Result<Response, WatchError> {
    let mut req = client.get(url.clone()).header(ACCEPT, "text/event-stream");
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id);
    }
    let resp = req.send().await.map_err(|err| WatchError::Unreachable {
        url: url.clone(),
        cause: root_cause(&err),
    })?;
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !resp.status().is_success() || !content_type.starts_with("text/event-stream") {
        return Err(WatchError::NotAStream {
            url: url.clone(),
            status: resp.status(),
            content_type,
        });
    }
    Ok(resp)
}

/// The stream URL for what the user typed: a server's base URL (with any
/// path prefix a proxy adds) gets `/api/stream?topic=scores`; a URL that
/// already names an SSE endpoint is used as it is.
pub fn stream_url(base: &Url) -> Url {
    let path = base.path().trim_end_matches('/');
    if path.ends_with("/api/stream") || path.ends_with("/api/livescore") {
        return base.clone();
    }
    let mut url = base.clone();
    url.set_path(&format!("{path}/api/stream"));
    // Only what changed after the first board (merge patches, applied in
    // `follow`): ~100 bytes a score change instead of the ~5 KB board.
    url.set_query(Some("topic=scores&delta=true"));
    url
}

/// The innermost error: `Connection refused (os error 111)` says more in
/// one line than reqwest's `error sending request for url (...)`.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

fn parse_url(s: &str) -> Result<Url, String> {
    match Url::parse(s) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err(format!(
            "{s:?} is not an http(s) URL (e.g. http://127.0.0.1:8000)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_url_from_what_the_user_typed() {
        let s = |u: &str| stream_url(&parse_url(u).expect("url")).to_string();
        assert_eq!(
            s("http://127.0.0.1:8000"),
            "http://127.0.0.1:8000/api/stream?topic=scores&delta=true"
        );
        assert_eq!(
            s("https://x.example/scores/"),
            "https://x.example/scores/api/stream?topic=scores&delta=true"
        );
        assert_eq!(
            s("http://h/api/stream?topic=game/1"),
            "http://h/api/stream?topic=game/1"
        );
        assert!(parse_url("ftp://h").is_err() && parse_url("nonsense").is_err());
    }

    #[test]
    fn errors_are_one_line() {
        let url = parse_url("http://127.0.0.1:1").expect("url");
        let err = WatchError::NoBoard {
            url,
            timeout: Duration::from_millis(2500),
        };
        assert_eq!(
            err.to_string(),
            "no scoreboard from http://127.0.0.1:1/ within 2.5s"
        );
    }
}
