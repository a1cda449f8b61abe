//! `livescore bench` across nodes (issue 9, target 7): two nodes on the
//! machine's Redis, publishes through one, every subscriber on the other.
//! Needs Redis on 127.0.0.1:6379 (fails, never skips, without it); the run
//! uses a key prefix of its own and deletes it at the end.

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_livescore"))
        .arg("bench")
        .args(args)
        .env("LIVESCORE_LOG", "warn")
        .output()
        .expect("run livescore bench")
}

/// Runs `livescore bench ARGS --json`, which must succeed (`why`: what to
/// check when it does not), and returns its one JSON report.
fn json_report(args: &[&str], why: &str) -> serde_json::Value {
    let out = bench(&[args, &["--json"]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{why}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON report")
}

#[test]
fn every_event_published_on_one_node_reaches_subscribers_on_the_other() {
    let report = json_report(
        &[
            "--spawn",
            "--nodes",
            "2",
            "--bus",
            "redis://127.0.0.1:6379",
            "-n",
            "200",
            "--events",
            "20",
            "--rate",
            "20",
        ],
        "bench failed (is Redis up on 6379?)",
    );
    assert_eq!(report["nodes"], 2, "{report}");
    assert_ne!(report["publish_node"], report["subscribe_node"], "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["received"], 4000, "{report}");
    assert_eq!(report["connected"], 200, "{report}");
}

#[test]
fn several_nodes_on_the_memory_bus_is_refused_with_a_reason() {
    let out = bench(&["--spawn", "--nodes", "2", "-n", "10"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bus"), "{stderr}");
}

/// `bench --storm` (issue 20): the server it started is restarted while
/// events are published; every subscriber comes back on its own
/// `retry:`, resumes with Last-Event-ID and gets every accepted event
/// exactly once, with no reset.
#[test]
fn a_restart_storm_brings_every_subscriber_back_with_nothing_lost() {
    let report = json_report(
        &[
            "--spawn", "--storm", "restart", "-n", "100", "--events", "60", "--rate", "20",
        ],
        "storm failed",
    );
    assert_eq!(report["storm"], "restart", "{report}");
    assert_eq!(report["connected"], 100, "{report}");
    assert_eq!(report["dropped"], 100, "{report}");
    assert_eq!(report["back"], 100, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    assert_eq!(report["resets"], 0, "{report}");
    assert!(
        report["accepted"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    // The server's jitter: the subscribers were given different retries.
    let retry = &report["retry_ms"];
    assert!(retry[0].as_u64() < retry[1].as_u64(), "{report}");
}

/// `--storm drop`: a share of the subscribers drop at once and come back;
/// the others stay, and their latency from the storm on is reported.
#[test]
fn a_drop_storm_resumes_the_dropped_and_keeps_the_others() {
    let report = json_report(
        &[
            "--spawn",
            "--storm",
            "drop",
            "--storm-percent",
            "50",
            "-n",
            "100",
            "--events",
            "60",
            "--rate",
            "20",
        ],
        "storm failed",
    );
    assert_eq!(report["dropped"], 50, "{report}");
    assert_eq!(report["back"], 50, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(
        report["publish_errors"], 0,
        "nothing was restarted: {report}"
    );
    assert!(report["steady_latency_ms"].is_object(), "{report}");
}

#[test]
fn a_storm_that_cannot_resume_is_refused_with_a_reason() {
    // A restart needs a server the bench started.
    let out = bench(&[
        "--storm",
        "restart",
        "--url",
        "http://127.0.0.1:9",
        "--token",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--spawn"));
    // More events than the server's history keeps could not be resumed.
    let out = bench(&["--spawn", "--storm", "--events", "5000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("history"));
}
