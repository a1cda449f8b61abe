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

#[test]
fn every_event_published_on_one_node_reaches_subscribers_on_the_other() {
    let out = bench(&[
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
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed (is Redis up on 6379?): {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
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
