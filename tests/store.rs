//! The `Store` seam, driven the same way against both real backends: a
//! SQLite file of its own and a schema of its own on the machine's
//! PostgreSQL (dropped afterwards).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use common::{PgSchema, TempDir};
use livescore::bus::{Bus, Envelope, MemoryBus};
use livescore::model::{EventId, Quarter, ScoreEvent};
use livescore::store::rows::Batch;
use livescore::store::writer::Writer;
use livescore::store::{self, Store, StoreError, StoreHandle, WriterStatus, UNCLEAN_SEQ_GAP};
use tokio_util::sync::CancellationToken;

/// One backend under test, with what must outlive it.
struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    _pg: Option<PgSchema>,
    _dir: Option<TempDir>,
}

async fn backends() -> Vec<Backend> {
    let dir = TempDir::new("store");
    let sqlite = store::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .expect("open sqlite");
    let pg = PgSchema::new();
    let postgres = store::open(&pg.url).await.expect("open postgres");
    vec![
        Backend {
            name: "sqlite",
            store: sqlite,
            _pg: None,
            _dir: Some(dir),
        },
        Backend {
            name: "postgres",
            store: postgres,
            _pg: Some(pg),
            _dir: None,
        },
    ]
}

const EPOCH: u64 = 0x19a_0000_0000;

fn env(seq: u64, topic: &str, event: &str, data: String) -> Arc<Envelope> {
    Arc::new(Envelope {
        id: EventId::new(EPOCH, seq),
        topic: topic.into(),
        event: event.into(),
        data: Bytes::from(data),
        published_us: 0,
    })
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("date")
        .with_timezone(&Utc)
}

fn game(home: u16, away: u16, quarter: &str) -> String {
    serde_json::json!({
        "eid": "g1", "season": 2015, "week": 1, "season_type": "REG",
        "kickoff": "2015-09-11T00:30:00Z", "day": "Thu", "time": "8:30",
        "state": if quarter == "F" { "final" } else { "live" },
        "quarter": quarter, "clock": null, "possession": null, "red_zone": false,
        "home": {"abbr": "NE", "nickname": "patriots", "score": home},
        "away": {"abbr": "PIT", "nickname": "steelers", "score": away},
    })
    .to_string()
}

fn score(n: u32, home: u16, away: u16) -> ScoreEvent {
    ScoreEvent {
        id: format!("g1-{n}"),
        eid: "g1".into(),
        team: "NE".into(),
        points: 7,
        league: "nfl".into(),
        quarter: Quarter::Period(2),
        period: 2,
        period_label: Some("Q2".into()),
        clock: (n == 1).then(|| "05:11".to_string()),
        home_score: home,
        away_score: away,
        at: at("2015-09-11T00:51:02Z"),
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("json")
}

#[tokio::test]
async fn ids_continue_after_a_restart_and_are_never_reused() {
    for b in backends().await {
        let s = b.store.as_ref();
        let first = store::begin(s, EPOCH).await.expect("begin");
        assert_eq!((first.epoch, first.last_seq, first.base_seq), (EPOCH, 0, 0));
        let events: Vec<_> = (1..=3).map(|i| env(i, "t", "e", format!("{i}"))).collect();
        s.write(&Batch::from_events(&events, Utc::now()))
            .await
            .expect("write");

        // A crash (no clean mark): the epoch stays, ids jump past anything
        // that may have been streamed but not written.
        let second = store::begin(s, EPOCH + 1).await.expect("begin");
        assert_eq!(second.epoch, EPOCH, "{}: the epoch is set once", b.name);
        assert_eq!(second.last_seq, 3);
        assert_eq!(second.base_seq, 3 + UNCLEAN_SEQ_GAP);
        // Crashing again before anything is written still moves on.
        let third = store::begin(s, EPOCH + 2).await.expect("begin");
        assert_eq!(third.base_seq, second.base_seq + UNCLEAN_SEQ_GAP);
        // A clean shutdown lets the next run continue without a gap, once.
        s.set_meta(store::META_CLEAN_SEQ, Some(&third.base_seq.to_string()))
            .await
            .expect("mark clean");
        let fourth = store::begin(s, EPOCH + 3).await.expect("begin");
        assert_eq!(fourth.base_seq, third.base_seq, "{}", b.name);
        let fifth = store::begin(s, EPOCH + 4).await.expect("begin");
        assert_eq!(fifth.base_seq, fourth.base_seq + UNCLEAN_SEQ_GAP);
        b.store.close().await;
    }
}

#[tokio::test]
async fn batches_are_written_once_and_derive_games_and_score_history() {
    for b in backends().await {
        let s = b.store.as_ref();
        let name = b.name;
        let first = vec![
            env(1, "game/g1", "game", game(0, 0, "1")),
            env(2, "game/g1", "score", json(&score(1, 7, 0))),
            env(3, "scores", "update", format!("[{}]", game(7, 0, "2"))),
            env(
                4,
                "chat/g1",
                "chat",
                r#"{"text":"what a catch \u00e9"}"#.into(),
            ),
        ];
        let batch = Batch::from_events(&first, Utc::now());
        s.write(&batch).await.expect("write");
        s.write(&batch).await.expect("a retried batch is harmless");
        let second = vec![
            env(5, "game/g1", "score", json(&score(2, 14, 0))),
            env(6, "game/g1", "game", game(14, 0, "F")),
            env(7, "scores", "update", format!("[{}]", game(14, 0, "F"))),
        ];
        s.write(&Batch::from_events(&second, Utc::now()))
            .await
            .expect("write");

        let all = s.recent(EPOCH, 1000).await.expect("recent");
        let want: Vec<Envelope> = first.iter().chain(&second).map(|e| (**e).clone()).collect();
        assert_eq!(
            all, want,
            "{name}: every event once, in order, byte for byte"
        );
        let window: Vec<u64> = s
            .recent(EPOCH, 2)
            .await
            .expect("recent")
            .iter()
            .map(|e| e.id.seq)
            .collect();
        assert_eq!(window, vec![3, 4, 5, 6, 7], "{name}: the last 2 per topic");
        assert!(s.recent(EPOCH + 1, 10).await.expect("recent").is_empty());

        assert_eq!(
            s.score_events("g1").await.expect("history"),
            vec![score(1, 7, 0), score(2, 14, 0)],
            "{name}"
        );
        assert!(s.score_events("nope").await.expect("history").is_empty());
        assert!(s.has_game("g1").await.expect("has"));
        assert!(!s.has_game("nope").await.expect("has"));
        let latest = s
            .latest(EPOCH, "scores", "update")
            .await
            .expect("latest")
            .expect("an update");
        assert_eq!(latest.id.seq, 7);
        assert_eq!(s.score_counts(7).await.expect("counts")["g1"], 2);
        assert_eq!(s.score_counts(5).await.expect("counts")["g1"], 1);

        let state = store::feed_state(s, EPOCH, "nfl")
            .await
            .expect("feed state")
            .expect("some state");
        assert_eq!(state.week.games.len(), 1);
        assert_eq!(state.week.games[0].home.score, 14);
        assert_eq!(state.score_changes["g1"], 2, "{name}");
        s.ping().await.expect("ping");
        b.store.close().await;
    }
}

#[tokio::test]
async fn the_writer_takes_everything_even_after_lagging_behind_the_bus() {
    for b in backends().await {
        let history = store::begin(b.store.as_ref(), EPOCH).await.expect("begin");
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(history.epoch, history.base_seq));
        let rx = bus.subscribe();
        // More than the bus channel holds before the writer even starts: it
        // lags at once and must refill from the bus ring.
        let n = livescore::bus::memory::CHANNEL_CAPACITY as u64 + 2000;
        for i in 0..n {
            let topic = format!("t/{}", i % 10);
            bus.publish(&topic, "e", Bytes::from(format!("{{\"i\":{i}}}")), None)
                .await
                .expect("publish");
        }
        let status = WriterStatus::new(history.epoch, history.last_seq);
        let writer = Writer::new(
            b.store.clone(),
            bus.clone(),
            rx,
            status.clone(),
            history.base_seq,
        );
        let cancel = CancellationToken::new();
        let task = tokio::spawn(writer.run(cancel.clone()));
        let handle = StoreHandle {
            store: b.store.clone(),
            status,
        };
        assert!(
            handle.caught_up(n, Duration::from_secs(60)).await,
            "{}: the writer caught up",
            b.name
        );
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the writer ends on cancel")
            .expect("no panic");
        let health = handle.health().await;
        assert_eq!((health.queue, health.lost, health.write_errors), (0, 0, 0));
        assert!(health.reachable);
        let stored = b.store.recent(history.epoch, 10_000).await.expect("recent");
        let seqs: Vec<u64> = stored.iter().map(|e| e.id.seq).collect();
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{}", b.name);
        // The flush marked the history clean: the next run continues at once.
        let next = store::begin(b.store.as_ref(), EPOCH).await.expect("begin");
        assert_eq!(next.base_seq, n, "{}", b.name);
        b.store.close().await;
    }
}

#[tokio::test]
async fn a_new_bus_epoch_is_written_from_its_first_event() {
    // A flushed Redis starts a new epoch at seq 1: those events are new,
    // not repeats of the old epoch's seq 1..n.
    for b in backends().await {
        let history = store::begin(b.store.as_ref(), EPOCH).await.expect("begin");
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(history.epoch, history.base_seq));
        let (tx, rx) = tokio::sync::broadcast::channel(64);
        let status = WriterStatus::new(history.epoch, history.last_seq);
        let writer = Writer::new(b.store.clone(), bus, rx, status, history.base_seq);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(writer.run(cancel.clone()));
        let new_epoch = history.epoch + 1;
        for seq in 1..=5 {
            let mut e = (*env(seq, "news", "m", format!("{{\"old\":{seq}}}"))).clone();
            e.id = EventId::new(history.epoch, seq);
            tx.send(Arc::new(e)).expect("send");
        }
        for seq in 1..=3 {
            let mut e = (*env(seq, "news", "m", format!("{{\"new\":{seq}}}"))).clone();
            e.id = EventId::new(new_epoch, seq);
            tx.send(Arc::new(e)).expect("send");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let stored = b.store.recent(new_epoch, 100).await.expect("recent");
            if stored.len() == 3 {
                let seqs: Vec<u64> = stored.iter().map(|e| e.id.seq).collect();
                assert_eq!(seqs, vec![1, 2, 3], "{}", b.name);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: new-epoch events were not written",
                b.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let old = b.store.recent(history.epoch, 100).await.expect("recent");
        assert_eq!(old.len(), 5, "{}: the old epoch is kept", b.name);
        cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        b.store.close().await;
    }
}

#[tokio::test]
async fn bad_urls_and_unreachable_databases_fail_at_open() {
    let bad = |r: Result<Arc<dyn Store>, StoreError>| match r {
        Ok(_) => panic!("opened a database that should not open"),
        Err(e) => e,
    };
    assert!(matches!(
        bad(store::open("mysql://root@127.0.0.1/test").await),
        StoreError::BadUrl(_)
    ));
    let refused = bad(store::open("postgres://postgres:pw@127.0.0.1:1/test").await);
    let text = refused.to_string();
    assert!(matches!(refused, StoreError::Open { .. }), "{text}");
    assert!(!text.contains("pw@"), "the password is hidden: {text}");
    assert!(!text.contains('\n'), "one line: {text}");
    let missing_dir = bad(store::open("sqlite:///nonexistent-livescore-dir/x.db").await);
    assert!(
        matches!(missing_dir, StoreError::Open { .. }),
        "{missing_dir}"
    );
    // In memory works and keeps its data for the life of the store.
    let mem = store::open("sqlite::memory:").await.expect("memory");
    store::begin(mem.as_ref(), EPOCH).await.expect("begin");
    assert_eq!(
        mem.meta(store::META_EPOCH).await.expect("meta"),
        Some(EPOCH.to_string())
    );
}

#[tokio::test]
async fn a_hub_warmed_from_the_store_resumes_inside_its_window_and_resets_before_it() {
    use livescore::hub::{Hub, Next, Start, HISTORY_PER_TOPIC};
    for b in backends().await {
        let n = HISTORY_PER_TOPIC as u64 + 100;
        let events: Vec<_> = (1..=n)
            .map(|i| env(i, "t", "e", format!("{i}")))
            .chain((n + 1..=n + 3).map(|i| env(i, "u", "e", format!("{i}"))))
            .collect();
        b.store
            .write(&Batch::from_events(&events, Utc::now()))
            .await
            .expect("write");
        let hub = Hub::new(EPOCH);
        let recent = b
            .store
            .recent(EPOCH, HISTORY_PER_TOPIC as u32 + 1)
            .await
            .expect("recent");
        for e in &recent {
            hub.ingest(e);
        }
        assert_eq!(hub.last_id(), Some(EventId::new(EPOCH, n + 3)));
        let frames = |topic: &str, after: u64| {
            let mut sub = hub.subscribe(
                vec![topic.to_string()],
                Start::After(EventId::new(EPOCH, after)),
            );
            let mut out = Vec::new();
            while let Next::Frame(f) = sub.try_next() {
                out.push(f);
            }
            out
        };
        // Inside the window: exactly the events after the id.
        let inside = frames("t", n - 50);
        assert_eq!(
            inside.iter().map(|f| f.id.seq).collect::<Vec<_>>(),
            (n - 49..=n).collect::<Vec<_>>(),
            "{}",
            b.name
        );
        // Before it: a reset, never a silent gap.
        let before = frames("t", 50);
        assert_eq!(before[0].event, "reset", "{}", b.name);
        assert!(String::from_utf8_lossy(&before[0].data).contains("evicted"));
        // A small topic is whole.
        let small = frames("u", n + 1);
        assert_eq!(
            small.iter().map(|f| f.id.seq).collect::<Vec<_>>(),
            vec![n + 2, n + 3]
        );
        b.store.close().await;
    }
}

#[tokio::test]
async fn a_document_cut_by_a_crash_is_counted_out_so_its_scores_are_stored_once() {
    for b in backends().await {
        let s = b.store.as_ref();
        // Document 1 whole; document 2 cut after its score event.
        let events = vec![
            env(1, "game/g1", "score", json(&score(1, 7, 0))),
            env(2, "game/g1", "game", game(7, 0, "2")),
            env(3, "scores", "update", format!("[{}]", game(7, 0, "2"))),
            env(4, "game/g1", "score", json(&score(2, 14, 0))),
        ];
        s.write(&Batch::from_events(&events, Utc::now()))
            .await
            .expect("write");
        let state = store::feed_state(s, EPOCH, "nfl")
            .await
            .expect("state")
            .expect("some");
        assert_eq!(
            state.week.games[0].home.score, 7,
            "{}: the last whole document",
            b.name
        );
        assert_eq!(
            state.score_changes["g1"], 1,
            "{}: the cut one's score is counted out",
            b.name
        );
        // The resumed feed derives that score again, same id, new event id.
        let again = vec![
            env(
                UNCLEAN_SEQ_GAP + 5,
                "game/g1",
                "score",
                json(&score(2, 14, 0)),
            ),
            env(UNCLEAN_SEQ_GAP + 6, "game/g1", "game", game(14, 0, "2")),
        ];
        s.write(&Batch::from_events(&again, Utc::now()))
            .await
            .expect("write");
        assert_eq!(
            s.score_events("g1").await.expect("history"),
            vec![score(1, 7, 0), score(2, 14, 0)],
            "{}: each score once",
            b.name
        );
        b.store.close().await;
    }
}

/// Chat is bounded by age and per game by count; nothing else is touched:
/// not an old score, not an old published event, not a `chat/…` event that
/// is not a chat message.
#[tokio::test]
async fn chat_history_is_pruned_by_age_and_by_count_per_game_and_nothing_else() {
    use livescore::store::retention::ChatRetention;
    let now = at("2026-12-03T12:00:00Z");
    let old = now - chrono::Duration::days(8);
    let recent = now - chrono::Duration::hours(1);
    for b in backends().await {
        let s = b.store.as_ref();
        let msg = |seq: u64, eid: &str| env(seq, &format!("chat/{eid}"), "chat", format!("{seq}"));
        // Old: two messages of g1, a score of g1, a published event.
        let old_events = vec![
            msg(1, "g1"),
            msg(2, "g1"),
            env(3, "game/g1", "score", json(&score(1, 7, 0))),
            env(4, "ticker/x", "chat", "\"not chat\"".into()),
            env(5, "chat/g1", "notice", "\"pinned\"".into()),
        ];
        s.write(&Batch::from_events(&old_events, old))
            .await
            .expect("write old");
        // Recent: five messages of g1, two of g2.
        let new_events: Vec<_> = (6..=10)
            .map(|i| msg(i, "g1"))
            .chain((11..=12).map(|i| msg(i, "g2")))
            .collect();
        s.write(&Batch::from_events(&new_events, recent))
            .await
            .expect("write recent");

        let seqs =
            |events: Vec<Envelope>| -> Vec<u64> { events.iter().map(|e| e.id.seq).collect() };

        // Age only: the two old messages go, nothing else.
        let by_age = ChatRetention {
            max_age: Some(Duration::from_secs(7 * 86_400)),
            per_game: None,
        };
        assert_eq!(by_age.prune(s, now).await.expect("prune"), 2, "{}", b.name);
        assert_eq!(
            seqs(s.recent(EPOCH, 100).await.expect("recent")),
            vec![3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            "{}",
            b.name
        );

        // Count only: g1 keeps its newest three, g2 (two) keeps both.
        let by_count = ChatRetention {
            max_age: None,
            per_game: Some(3),
        };
        assert_eq!(
            by_count.prune(s, now).await.expect("prune"),
            2,
            "{}",
            b.name
        );
        assert_eq!(
            seqs(s.recent(EPOCH, 100).await.expect("recent")),
            vec![3, 4, 5, 8, 9, 10, 11, 12],
            "{}",
            b.name
        );
        // Applying the bounds again deletes nothing more.
        assert_eq!(
            ChatRetention::default().prune(s, now).await.expect("prune"),
            0
        );
        assert_eq!(
            by_count.prune(s, now).await.expect("prune"),
            0,
            "{}",
            b.name
        );
        // Score history is untouched.
        assert_eq!(
            s.score_events("g1").await.expect("scores").len(),
            1,
            "{}",
            b.name
        );
        b.store.close().await;
    }
}
