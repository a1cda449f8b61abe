//! docs/CLIENTS.md's snippets, run against a real server with a fixed
//! board (the final-scores fixture): the curl commands (read out of the
//! doc itself), the Python client (tests/clients/python_sse.py) and the
//! Rust one (examples/sse_client.rs), both of which the doc shows whole.
//!
//! Python with httpx and httpx-sse is required, not optional: .ci/run
//! installs them, and a machine without them fails here, loudly.

mod common;

// Its `main` is for `cargo run --example`; the test calls `read_stream`.
#[allow(dead_code)]
#[path = "../examples/sse_client.rs"]
mod sse_client;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Server, TempDir};

/// Guards against a hang only.
const WAIT: Duration = Duration::from_secs(30);

/// The host and port the doc's snippets use; replaced by the test server's.
const DOC_URL: &str = "http://127.0.0.1:8000";

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn doc() -> String {
    std::fs::read_to_string(format!("{ROOT}/docs/CLIENTS.md")).expect("docs/CLIENTS.md")
}

fn fixed_board_server(dir: &TempDir) -> Server {
    let feed = format!("{ROOT}/tests/fixtures/ss-2015-w1-final.xml");
    Server::start_in(
        &["serve", "--feed", &feed, "--poll-interval", "1s"],
        dir.path(),
    )
}

/// The 16 lines the Python client prints for the final board, from the
/// server's own JSON.
async fn expected_python_board(server: &Server) -> Vec<String> {
    let week: serde_json::Value = common::get_json(format!("{}/api/", server.url)).await;
    week["games"]
        .as_array()
        .expect("games")
        .iter()
        .map(|g| {
            format!(
                "{} {} @ {} {}  {}",
                g["away"]["abbr"].as_str().expect("abbr"),
                g["away"]["score"],
                g["home"]["abbr"].as_str().expect("abbr"),
                g["home"]["score"],
                g["state"].as_str().expect("state")
            )
        })
        .collect()
}

/// Runs a command to the end, failing the test if it hangs.
fn run(mut cmd: Command, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {what} ({err}); .ci/run installs it"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WAIT) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{what} did not finish within {WAIT:?}");
        }
    }
}

fn python(script_args: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("python3");
    cmd.arg(format!("{ROOT}/tests/clients/python_sse.py"))
        .args(script_args);
    let out = run(cmd, "python3");
    assert!(
        out.status.success(),
        "python_sse.py failed (needs `pip install httpx httpx-sse`, as .ci/run does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn python_httpx_sse_client_reads_the_board_and_a_reset() {
    let source = std::fs::read_to_string(format!("{ROOT}/tests/clients/python_sse.py"))
        .expect("python_sse.py");
    assert!(
        doc().contains(source.trim()),
        "docs/CLIENTS.md shows tests/clients/python_sse.py as it is"
    );
    let dir = TempDir::new("clients-py");
    let server = fixed_board_server(&dir);
    let url = server.url.clone();
    let first = tokio::task::spawn_blocking(move || python(&[&url, "--max-events", "1"]))
        .await
        .expect("join");
    let expected = expected_python_board(&server).await;
    assert_eq!(expected.len(), 16);
    assert_eq!(expected[0], "PIT 21 @ NE 28  final");
    assert_eq!(first[..16], expected[..], "{first:#?}");
    let id = first[16].strip_prefix("id: ").expect("then the event id");
    assert_eq!(
        id.split_once('-')
            .map(|(_, seq)| seq.parse::<u64>().is_ok()),
        Some(true)
    );

    // An id from another history: `reset` first, then the current board.
    let url = server.url.clone();
    let resumed = tokio::task::spawn_blocking(move || {
        python(&[&url, "--last-event-id", "0-1", "--max-events", "2"])
    })
    .await
    .expect("join");
    assert_eq!(resumed[0], "reset: epoch", "{resumed:#?}");
    assert!(resumed[1].starts_with("id: "));
    assert_eq!(resumed[2..18], expected[..], "{resumed:#?}");
}

#[tokio::test]
async fn rust_example_client_reads_the_board_and_a_reset() {
    let source = std::fs::read_to_string(format!("{ROOT}/examples/sse_client.rs"))
        .expect("examples/sse_client.rs");
    assert!(
        doc().contains(source.trim()),
        "docs/CLIENTS.md shows examples/sse_client.rs as it is"
    );
    let dir = TempDir::new("clients-rs");
    let server = fixed_board_server(&dir);
    let client = reqwest::Client::new();

    let read = |last_id: Option<String>| {
        let (client, url) = (client.clone(), server.url.clone());
        async move {
            let mut last_id = last_id;
            let mut events = Vec::new();
            tokio::time::timeout(
                WAIT,
                sse_client::read_stream(&client, &url, "scores", &mut last_id, |ev| {
                    events.push(ev.clone());
                    ev.event != "update" // stop after the board
                }),
            )
            .await
            .expect("no hang")
            .expect("read the stream");
            (events, last_id)
        }
    };

    let (events, last_id) = read(None).await;
    assert_eq!(events.len(), 1, "the board at once: {events:?}");
    let games: Vec<livescore::model::Game> =
        serde_json::from_str(&events[0].data).expect("SPEC games");
    assert_eq!(games.len(), 16);
    assert_eq!(last_id.as_deref(), Some(events[0].id.as_str()));

    let (events, _) = read(Some("0-1".into())).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["reset", "update"]);
    let reset: serde_json::Value = serde_json::from_str(&events[0].data).expect("json");
    assert_eq!(reset["reason"], "epoch");
    assert_eq!(reset["last_id"], "0-1");
}

/// Splits a one-line shell command: words, with '…' quoting.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            _ => {
                word.push(c);
                any = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quote in {line:?}");
    if any {
        words.push(word);
    }
    words
}

/// Runs a curl command from the doc until `enough` says the lines so far
/// show what the doc promises, then stops it.
fn curl_until(words: &[String], enough: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut child = Command::new(&words[0])
        .args(&words[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl is installed");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let outcome = loop {
        if enough(&lines) {
            break Ok(());
        }
        match rx.recv_timeout(WAIT) {
            Ok(line) => lines.push(line),
            Err(err) => break Err(err),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    if let Err(err) = outcome {
        panic!("{words:?}: {err}; got {lines:#?}");
    }
    lines
}

#[test]
fn curl_commands_in_the_doc_stream_what_the_doc_says() {
    let dir = TempDir::new("clients-curl");
    let server = fixed_board_server(&dir);
    let commands: Vec<Vec<String>> = doc()
        .lines()
        .filter(|l| l.starts_with("curl -N "))
        .map(|l| shell_words(&l.replace(DOC_URL, &server.url)))
        .collect();
    assert_eq!(commands.len(), 2, "the doc's two curl commands");

    // The classic stream: `retry:`, then the board at once as `update`.
    let lines = curl_until(&commands[0], |l| l.iter().any(|l| l.starts_with("data: ")));
    assert!(lines[0].starts_with("retry: "), "{lines:?}");
    let at = lines
        .iter()
        .position(|l| l.starts_with("data: "))
        .expect("data");
    assert!(lines[at - 2].starts_with("id: "), "{lines:?}");
    assert_eq!(lines[at - 1], "event: update");
    let games: Vec<livescore::model::Game> =
        serde_json::from_str(&lines[at]["data: ".len()..]).expect("SPEC games");
    assert_eq!(games.len(), 16);

    // Resuming with an id of another history: `reset` first, then the
    // current state of both topics.
    let lines = curl_until(&commands[1], |l| {
        l.iter().filter(|l| l.starts_with("data: ")).count() >= 3
    });
    let events: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events[0], "reset", "{lines:?}");
    let mut rest = events[1..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, ["game", "update"], "{lines:?}");
    let reset = lines
        .iter()
        .position(|l| l == "event: reset")
        .expect("reset");
    let data: serde_json::Value =
        serde_json::from_str(&lines[reset + 1]["data: ".len()..]).expect("reset data");
    assert_eq!(data["reason"], "epoch");
    assert_eq!(data["last_id"], "0-1");
}
