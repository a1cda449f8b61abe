//! Logs for people and machines (issue 21): `--log-level` (env
//! `LIVESCORE_LOG`) beats `RUST_LOG`, which beats the default `info`; a
//! filter that does not parse is refused at start; and logs written to a
//! pipe or file carry no colour escape codes.

mod common;

use std::time::Duration;

use common::Server;

const WAIT: Duration = Duration::from_secs(30);

/// One request, so the server logs a connection (at `debug`).
async fn poke(server: &Server) {
    common::get_text(format!("{}/healthz", server.url)).await;
}

#[tokio::test]
async fn the_default_is_info_and_a_pipe_gets_no_colour() {
    let server = Server::start_env(&["serve"], &[("LIVESCORE_LOG", None), ("RUST_LOG", None)]);
    poke(&server).await;
    common::wait_until("the serving line", WAIT, || async {
        server.logs().contains("serving")
    })
    .await;
    let logs = server.logs();
    assert!(logs.contains(" INFO "), "{logs}");
    assert!(!logs.contains("connection opened"), "debug at info: {logs}");
    assert!(!logs.contains('\u{1b}'), "escape codes in a pipe: {logs:?}");
}

#[tokio::test]
async fn rust_log_is_honoured_without_a_level() {
    let server = Server::start_env(
        &["serve"],
        &[("LIVESCORE_LOG", None), ("RUST_LOG", Some("debug"))],
    );
    poke(&server).await;
    common::wait_until("a debug line", WAIT, || async {
        server.logs().contains("connection opened")
    })
    .await;
    assert!(!server.logs().contains('\u{1b}'));
}

#[tokio::test]
async fn log_level_beats_rust_log() {
    // The flag over both environment variables ...
    let quiet = Server::start_env(
        &["serve", "--log-level", "warn"],
        &[
            ("LIVESCORE_LOG", Some("debug")),
            ("RUST_LOG", Some("debug")),
        ],
    );
    // ... and its variable over RUST_LOG.
    let loud = Server::start_env(
        &["serve"],
        &[
            ("LIVESCORE_LOG", Some("info,livescore=debug")),
            ("RUST_LOG", Some("warn")),
        ],
    );
    poke(&loud).await;
    poke(&quiet).await;
    common::wait_until("a debug line from the module filter", WAIT, || async {
        loud.logs().contains("connection opened")
    })
    .await;
    let logs = quiet.logs();
    assert!(
        !logs.contains(" INFO ") && !logs.contains(" DEBUG "),
        "{logs}"
    );
}

#[test]
fn a_filter_that_does_not_parse_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args(["serve", "--log-level", "livescore=loud"])
        .output()
        .expect("run livescore");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a log level or filter"), "{err}");
}
