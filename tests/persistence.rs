//! Persistence through the real binary: a SIGKILL mid-replay and a restart
//! on the same SQLite file, and a database that cannot be opened at start.
//! (A PostgreSQL outage mid-stream: `persistence_pg.rs`.)

mod common;
mod persistence_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{board, id_parts, official_finals, Server, SseItem, SseStream, TempDir};
use persistence_support::{
    all_final, get_json, history, official_plays, read_until, scores_seen, stream_url,
    wait_written, WAIT,
};

#[tokio::test]
async fn sigkill_mid_replay_then_restart_keeps_state_history_and_ids() {
    let dir = TempDir::new("kill");
    let url = format!("sqlite://{}/live.db", dir.path().display());

    // 1. A demo, followed by a client until a good part of the week is in.
    let mut demo = Server::start(&["demo", "--speed", "2000", "--database-url", &url]);
    let mut sse = SseStream::connect(&stream_url(&demo.url), None).await;
    let before = read_until(&mut sse, |s| scores_seen(s) >= 25, Duration::from_secs(120)).await;
    drop(sse);
    let last = before.last().expect("events").id.clone();
    // Write-behind lags the stream by a batch; a crash takes at most that.
    wait_written(&demo.url, last.1).await;
    demo.child.kill().expect("SIGKILL");
    demo.child.wait().expect("reaped");
    drop(demo);

    // 2. Restarted without a feed: the state, history and ids read back.
    let server = Server::start(&["serve", "--database-url", &url, "--keepalive", "300ms"]);
    let week = get_json(&format!("{}/api/", server.url)).await;
    let after_id = id_parts(week["last_event_id"].as_str().expect("last id"));
    assert_eq!(after_id.0, last.0, "same epoch after the restart");
    assert!(after_id.1 >= last.1, "nothing streamed is missing");
    let now = board(&week["games"]);
    println!(
        "killed after {} streamed events (last seq {}); restart reads back up to seq {}",
        before.len(),
        last.1,
        after_id.1
    );
    let streamed_board = before
        .iter()
        .rev()
        .find(|s| s.topic_event == "scores/update")
        .map(|s| board(&serde_json::from_str(&s.data).expect("json")))
        .expect("a scores update was streamed");
    if after_id.1 == last.1 {
        assert_eq!(now, streamed_board, "/api/ shows the last streamed state");
    }
    for (eid, (h, a, _)) in &streamed_board {
        let (nh, na, _) = &now[eid];
        assert!(nh >= h && na >= a, "{eid}: never behind what was streamed");
    }
    // Each game's history from the database: what was streamed, in order,
    // then nothing that contradicts the state.
    for eid in official_finals().keys() {
        let stored = history(&server.url, eid).await;
        let streamed: Vec<(String, u64, u64)> = before
            .iter()
            .filter(|s| s.topic_event == "score")
            .map(|s| serde_json::from_str::<serde_json::Value>(&s.data).expect("json"))
            .filter(|v| v["eid"] == eid.as_str())
            .map(|v| {
                (
                    v["id"].as_str().expect("id").to_string(),
                    v["home_score"].as_u64().expect("home"),
                    v["away_score"].as_u64().expect("away"),
                )
            })
            .collect();
        assert_eq!(
            &stored[..streamed.len()],
            &streamed[..],
            "{eid}: history is whole"
        );
        if let Some((_, h, a)) = stored.last() {
            assert_eq!(
                (*h, *a),
                (now[eid].0, now[eid].1),
                "{eid}: history ends at the state"
            );
        }
    }
    // Resume across the restart: the events after the client's last id, no
    // reset, then live (keep-alive, as nothing is published).
    let last_text = format!("{}-{}", last.0, last.1);
    let mut resumed = SseStream::connect(&stream_url(&server.url), Some(&last_text)).await;
    loop {
        match resumed.next_item(WAIT).await.expect("stream") {
            SseItem::Event(ev) => {
                assert_ne!(ev.event, "reset", "resumable after a restart: {ev:?}");
                let id = id_parts(ev.id.as_deref().expect("id"));
                assert!(id.1 > last.1 && id.1 <= after_id.1, "{id:?}");
            }
            SseItem::Comment(_) => break,
            SseItem::Retry(_) => {}
        }
    }
    drop(resumed);
    drop(server);

    // 3. The demo again on the same file: it carries on where it was and
    // ends on the official finals, each score change stored exactly once.
    let demo = Server::start(&["demo", "--speed", "2000", "--database-url", &url]);
    let mut sse = SseStream::connect(&stream_url(&demo.url), None).await;
    let rest = read_until(&mut sse, all_final, Duration::from_secs(180)).await;
    let first_new = rest
        .iter()
        .find(|s| s.id.1 > after_id.1)
        .expect("the replay went on");
    assert_eq!(first_new.id.0, last.0, "same epoch");
    println!(
        "second demo: {} events, first new seq {}",
        rest.len(),
        first_new.id.1
    );
    assert!(
        rest.iter().all(|s| s.id.0 == last.0),
        "one history across restarts"
    );
    let final_seen = rest.last().expect("events").id.1;
    wait_written(&demo.url, final_seen).await;
    let finals = official_finals();
    let week = get_json(&format!("{}/api/", demo.url)).await;
    let now = board(&week["games"]);
    for (eid, plays) in official_plays() {
        assert_eq!(
            (now[&eid].0, now[&eid].1),
            finals[&eid],
            "{eid}: official final"
        );
        let stored = history(&demo.url, &eid).await;
        let ids: Vec<String> = (1..=plays.len()).map(|n| format!("{eid}-{n}")).collect();
        assert_eq!(
            stored.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
            ids,
            "{eid}: every score change once, in order"
        );
        assert_eq!(
            stored.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
            plays,
            "{eid}: the real sequence of scores"
        );
    }
}

#[tokio::test]
async fn a_database_that_cannot_be_opened_fails_at_start_with_one_line() {
    for url in [
        "postgres://postgres:hunter2@127.0.0.1:1/nope",
        "sqlite:///nonexistent-livescore-dir/x.db",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_livescore"))
            .args(["serve", "--addr", "127.0.0.1:0", "--database-url", url])
            .env("LIVESCORE_LOG", "off")
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert!(!out.status.success(), "{url}: must not start");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("listening"), "{url}: {stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{url}: one line: {stderr}");
        assert!(lines[0].contains("cannot open database"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "no password in logs: {stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_livescore"))
        .args(["serve", "--database-url", "mysql://root@localhost/x"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "an unknown scheme is refused");
}

#[tokio::test]
async fn a_clean_shutdown_continues_the_ids_without_a_gap() {
    let dir = TempDir::new("clean");
    let url = format!("sqlite://{}/live.db", dir.path().display());
    let mut demo = Server::start(&["demo", "--speed", "2000", "--database-url", &url]);
    let mut sse = SseStream::connect(&stream_url(&demo.url), None).await;
    let before = read_until(&mut sse, |s| scores_seen(s) >= 5, Duration::from_secs(60)).await;
    drop(sse);
    let status = Command::new("kill")
        .args(["-TERM", &demo.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = demo.child.wait().expect("exits");
    assert!(
        exit.success(),
        "a clean shutdown: {exit:?}\n{}",
        demo.logs()
    );
    drop(demo);

    // Whatever was published before SIGTERM is stored (the flush), and the
    // next run's first new id comes right after the last one.
    let demo = Server::start(&["demo", "--speed", "2000", "--database-url", &url]);
    let week = get_json(&format!("{}/api/", demo.url)).await;
    let stored_last = id_parts(week["last_event_id"].as_str().expect("id"));
    let seen_last = &before.last().expect("events").id;
    assert_eq!(stored_last.0, seen_last.0, "same epoch");
    assert!(stored_last.1 >= seen_last.1, "the flush wrote everything");
    let mut sse = SseStream::connect(&stream_url(&demo.url), None).await;
    let after = read_until(
        &mut sse,
        |s| s.iter().any(|e| e.id.1 > stored_last.1),
        Duration::from_secs(60),
    )
    .await;
    let first_new = after.iter().find(|e| e.id.1 > stored_last.1).expect("new");
    assert_eq!(
        first_new.id.1,
        stored_last.1 + 1,
        "no gap after a clean stop"
    );
}
