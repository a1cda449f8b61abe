use std::time::Duration;

use bytes::Bytes;

use super::*;

fn env(seq: u64, topic: &str, event: &str, data: &str) -> Envelope {
    Envelope {
        id: EventId::new(1, seq),
        topic: topic.into(),
        event: event.into(),
        data: Bytes::from(data.to_owned()),
        published_us: 0,
    }
}

fn topics(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

fn drain(sub: &mut Subscriber) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while let Next::Frame(f) = sub.try_next() {
        out.push((f.id.seq, f.event.clone()));
    }
    out
}

#[test]
fn a_new_subscriber_gets_current_state_then_live_in_id_order() {
    let hub = Hub::new(1);
    hub.ingest(&env(1, "scores", "update", "[1]"));
    hub.ingest(&env(2, "game/a", "score", "{}"));
    hub.ingest(&env(3, "game/a", "game", "{}"));
    hub.ingest(&env(4, "scores", "update", "[2]"));
    let mut sub = hub.subscribe(topics(&["game/a", "scores"]), Start::Current);
    assert_eq!(
        drain(&mut sub),
        vec![(3, "game".into()), (4, "update".into())]
    );
    hub.ingest(&env(5, "other", "x", "{}"));
    hub.ingest(&env(6, "game/a", "score", "{}"));
    hub.ingest(&env(7, "scores", "update", "[3]"));
    assert_eq!(
        drain(&mut sub),
        vec![(6, "score".into()), (7, "update".into())]
    );
}

#[test]
fn resume_replays_exactly_what_came_after_the_id() {
    let hub = Hub::new(1);
    for seq in 1..=10 {
        hub.ingest(&env(
            seq,
            if seq % 2 == 0 { "chat/a" } else { "news" },
            "m",
            "{}",
        ));
    }
    let mut sub = hub.subscribe(
        topics(&["chat/a", "news"]),
        Start::After(EventId::new(1, 6)),
    );
    hub.ingest(&env(11, "news", "m", "{}"));
    let seqs: Vec<u64> = drain(&mut sub).into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, vec![7, 8, 9, 10, 11]);
    // Replaying an event the hub already has does not deliver it twice.
    hub.ingest(&env(11, "news", "m", "{}"));
    assert!(matches!(sub.try_next(), Next::Empty));
}

#[test]
fn ids_that_cannot_be_honoured_get_a_reset_then_state() {
    let hub = Hub::new(1);
    hub.ingest(&env(1, "scores", "update", "[1]"));
    hub.ingest(&env(2, "scores", "update", "[2]"));
    let cases = [
        (Start::After(EventId::new(9, 1)), "epoch"),
        (Start::After(EventId::new(1, 99)), "unknown"),
        (Start::Unknown("garbage".into()), "unknown"),
    ];
    for (start, reason) in cases {
        let mut sub = hub.subscribe(topics(&["scores"]), start);
        let Next::Frame(reset) = sub.try_next() else {
            panic!("reset expected")
        };
        assert_eq!(reset.event, "reset");
        let data: serde_json::Value = serde_json::from_slice(&reset.data).expect("json");
        assert_eq!(data["reason"], reason);
        assert!(
            reset.id.seq < 2,
            "reset sorts before the state that follows"
        );
        let Next::Frame(state) = sub.try_next() else {
            panic!("state expected")
        };
        assert_eq!((state.id.seq, &state.data[..]), (2, &b"[2]"[..]));
    }
    // Evicted: more than the history holds came after the id.
    for seq in 3..(HISTORY_PER_TOPIC as u64 + 10) {
        hub.ingest(&env(seq, "news", "m", "{}"));
    }
    let mut sub = hub.subscribe(topics(&["news"]), Start::After(EventId::new(1, 2)));
    let Next::Frame(reset) = sub.try_next() else {
        panic!("reset expected")
    };
    assert!(std::str::from_utf8(&reset.data)
        .expect("utf8")
        .contains("evicted"));
}

#[test]
fn a_slow_state_subscriber_skips_to_the_latest_list_and_others_get_everything() {
    let hub = Hub::new(1);
    let mut slow = hub.subscribe(topics(&["scores"]), Start::Current);
    let mut fast = hub.subscribe(topics(&["scores"]), Start::Current);
    let total = CHANNEL_CAPACITY as u64 * 3;
    let mut fast_got = 0;
    for seq in 1..=total {
        hub.ingest(&env(seq, "scores", "update", &format!("[{seq}]")));
        fast_got += drain(&mut fast).len();
    }
    assert_eq!(fast_got as u64, total, "a fast reader sees every update");
    let got = drain(&mut slow);
    assert_eq!(
        got,
        vec![(total, "update".into())],
        "the slow one skips to the latest list"
    );
}

#[test]
fn a_slow_subscriber_on_a_plain_topic_refills_from_history_or_is_dropped() {
    let hub = Hub::new(1);
    let mut sub = hub.subscribe(topics(&["news"]), Start::Current);
    let n = CHANNEL_CAPACITY as u64 + 50;
    for seq in 1..=n {
        hub.ingest(&env(seq, "news", "m", "{}"));
    }
    let seqs: Vec<u64> = drain(&mut sub).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "lossless while history has it"
    );

    let mut gone = hub.subscribe(topics(&["news"]), Start::Current);
    for seq in n + 1..=n + HISTORY_PER_TOPIC as u64 + 1 {
        hub.ingest(&env(seq, "news", "m", "{}"));
    }
    assert!(
        matches!(gone.try_next(), Next::Closed),
        "past history: dropped, never a silent gap"
    );
}

#[test]
fn a_hub_warmed_from_the_tail_of_a_log_resets_resumes_from_before_it() {
    let hub = Hub::new(1);
    // Warmed with events 11..=12 of a log whose first ten it never saw.
    hub.ingest(&env(11, "news", "x", "{}"));
    hub.ingest(&env(12, "news", "x", "{}"));
    hub.set_floor(10);
    let mut from_before = hub.subscribe(topics(&["news"]), Start::After(EventId::new(1, 5)));
    assert_eq!(drain(&mut from_before)[0].1, "reset");
    let mut from_floor = hub.subscribe(topics(&["news"]), Start::After(EventId::new(1, 10)));
    assert_eq!(
        drain(&mut from_floor),
        vec![(11, "x".into()), (12, "x".into())]
    );
    // A new epoch (the log was reset) starts complete: no floor.
    let mut first = env(1, "news", "x", "{}");
    first.id = EventId::new(2, 1);
    hub.ingest(&first);
    let mut fresh = hub.subscribe(topics(&["news"]), Start::After(EventId::new(2, 0)));
    assert_eq!(drain(&mut fresh), vec![(1, "x".into())]);
}

#[test]
fn closing_ends_every_subscription_after_what_it_holds() {
    let hub = Hub::new(1);
    hub.ingest(&env(1, "scores", "update", "[1]"));
    let mut live = hub.subscribe(topics(&["scores"]), Start::Current);
    hub.ingest(&env(2, "scores", "update", "[2]"));
    hub.close();
    // What was published before the close still arrives, then the end.
    assert_eq!(
        drain(&mut live),
        vec![(1, "update".into()), (2, "update".into())]
    );
    assert!(matches!(live.try_next(), Next::Closed));
    // A subscription after the close gets its snapshot, then the end.
    let mut late = hub.subscribe(topics(&["scores"]), Start::Current);
    assert_eq!(drain(&mut late), vec![(2, "update".into())]);
    assert!(matches!(late.try_next(), Next::Closed));
}

/// An event of epoch `epoch` (the tests above are all in epoch 1).
fn env_in(epoch: u64, seq: u64, topic: &str, event: &str, data: &str) -> Envelope {
    Envelope {
        id: EventId::new(epoch, seq),
        ..env(seq, topic, event, data)
    }
}

/// Every frame as (epoch, seq, event, data).
fn drain_all(sub: &mut Subscriber) -> Vec<(u64, u64, String, String)> {
    let mut out = Vec::new();
    while let Next::Frame(f) = sub.try_next() {
        let data = String::from_utf8_lossy(&f.data).into_owned();
        out.push((f.id.epoch, f.id.seq, f.event.clone(), data));
    }
    out
}

/// The bus restarted empty: the old history ended at seq 500, the new one
/// starts at 1. Before the fix a subscriber at 500 skipped seqs 1..=500.
fn old_history(hub: &Hub) {
    hub.ingest(&env_in(1, 1, "scores", "update", "[1]"));
    for seq in 2..=500 {
        hub.ingest(&env_in(1, seq, "news", "flash", "{}"));
    }
}

#[test]
fn a_live_subscriber_gets_an_epoch_reset_with_state_then_the_whole_new_history() {
    let hub = Hub::new(1);
    old_history(&hub);
    let mut sub = hub.subscribe(topics(&["news", "scores"]), Start::Current);
    assert_eq!(drain_all(&mut sub).len(), 1, "the scores state");
    for seq in 1..=5 {
        hub.ingest(&env_in(
            2,
            seq,
            "news",
            "flash",
            &format!("{{\"n\":{seq}}}"),
        ));
    }
    let got = drain_all(&mut sub);
    assert_eq!(got.len(), 7, "{got:?}");
    let (epoch, seq, event, data) = &got[0];
    assert_eq!((*epoch, *seq, event.as_str()), (2, 0, "reset"));
    let reset: serde_json::Value = serde_json::from_str(data).expect("json");
    assert_eq!(reset["reason"], "epoch");
    assert_eq!(reset["last_id"], EventId::new(1, 500).to_string());
    // The state, carried over to the new history's start.
    assert_eq!(got[1], (2, 0, "update".into(), "[1]".into()));
    let news: Vec<_> = got[2..].iter().map(|(e, s, ..)| (*e, *s)).collect();
    assert_eq!(news, (1..=5).map(|s| (2, s)).collect::<Vec<_>>());
    // And live after that, in the new history.
    hub.ingest(&env_in(2, 6, "news", "flash", "{}"));
    assert_eq!(drain_all(&mut sub).len(), 1);
}

#[test]
fn a_subscriber_that_lagged_across_the_epoch_reset_still_gets_it() {
    let hub = Hub::new(1);
    old_history(&hub);
    let mut sub = hub.subscribe(topics(&["news", "scores"]), Start::Current);
    drain_all(&mut sub);
    // More than its channel holds: the reset itself is overwritten.
    let n = CHANNEL_CAPACITY as u64 + 10;
    for seq in 1..=n {
        hub.ingest(&env_in(2, seq, "news", "flash", "{}"));
    }
    let got = drain_all(&mut sub);
    assert_eq!(got[0].2, "reset");
    assert_eq!(got[1], (2, 0, "update".into(), "[1]".into()));
    let news: Vec<_> = got[2..].iter().map(|(_, s, ..)| *s).collect();
    assert_eq!(news, (1..=n).collect::<Vec<_>>());
}

#[test]
fn a_client_resuming_from_the_old_history_gets_the_reset_and_the_new_history() {
    let hub = Hub::new(1);
    old_history(&hub);
    for seq in 1..=3 {
        hub.ingest(&env_in(2, seq, "news", "flash", "{}"));
    }
    let from = Start::After(EventId::new(1, 450));
    let mut sub = hub.subscribe(topics(&["news", "scores"]), from);
    let got: Vec<_> = drain_all(&mut sub)
        .into_iter()
        .map(|(e, s, ev, _)| (e, s, ev))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, 0, "reset".into()),
            (2, 0, "update".into()),
            (2, 1, "flash".into()),
            (2, 2, "flash".into()),
            (2, 3, "flash".into()),
        ]
    );
    // Resuming from the reset's own id gives the same new history.
    let mut again = hub.subscribe(topics(&["news"]), Start::After(EventId::new(2, 0)));
    assert_eq!(drain_all(&mut again).len(), 3);
}

#[test]
fn a_long_resume_is_read_from_history_a_page_at_a_time_then_live() {
    let hub = Hub::new(1);
    let n = RESUME_PAGE as u64 * 5 + 7;
    for seq in 1..=n {
        let topic = ["chat/a", "news", "chat/b"][(seq % 3) as usize];
        hub.ingest(&env(seq, topic, "m", "{}"));
    }
    let mut sub = hub.subscribe(
        topics(&["chat/a", "chat/b", "news"]),
        Start::After(EventId::new(1, 3)),
    );
    // Nothing is copied out up front: the subscriber owes the history.
    assert_eq!(sub.held(), (0, true));
    hub.ingest(&env(n + 1, "news", "live", "{}"));
    let seqs: Vec<u64> = drain(&mut sub).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        seqs,
        (4..=n + 1).collect::<Vec<_>>(),
        "all of it, in order, once"
    );
    assert!(sub.held().0 <= 2 * RESUME_PAGE, "one page held at a time");
}

#[test]
fn a_resume_overtaken_by_eviction_catches_up_or_is_dropped() {
    // State topic: the rest of the resume conflates to the latest state.
    let hub = Hub::new(1);
    for seq in 1..=200 {
        hub.ingest(&env(seq, "scores", "update", &format!("[{seq}]")));
    }
    let mut sub = hub.subscribe(topics(&["scores"]), Start::After(EventId::new(1, 100)));
    let Next::Frame(first) = sub.try_next() else {
        panic!("the resume starts")
    };
    assert_eq!(first.id.seq, 101);
    let total = 200 + HISTORY_PER_TOPIC as u64;
    for seq in 201..=total {
        hub.ingest(&env(seq, "scores", "update", &format!("[{seq}]")));
    }
    let rest: Vec<u64> = drain(&mut sub).into_iter().map(|(s, _)| s).collect();
    assert_eq!(rest.last(), Some(&total), "ends on the latest state");
    assert!(
        rest.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {rest:?}"
    );

    // Plain topic: what it was owed is gone, so it is dropped (and resumes
    // into a reset), never given a silent gap.
    let hub = Hub::new(1);
    for seq in 1..=200 {
        hub.ingest(&env(seq, "news", "m", "{}"));
    }
    let mut sub = hub.subscribe(topics(&["news"]), Start::After(EventId::new(1, 100)));
    assert!(matches!(sub.try_next(), Next::Frame(_)));
    for seq in 201..=200 + HISTORY_PER_TOPIC as u64 {
        hub.ingest(&env(seq, "news", "m", "{}"));
    }
    let mut after = Vec::new();
    let closed = loop {
        match sub.try_next() {
            Next::Frame(f) => after.push(f.id.seq),
            Next::Closed => break true,
            Next::Empty => break false,
        }
    };
    assert!(closed, "dropped after {after:?}");
    assert!(
        after.len() < RESUME_PAGE,
        "only the page it held: {after:?}"
    );
}

#[test]
fn a_publish_touches_only_the_channels_that_want_its_topic() {
    let hub = Hub::new(1);
    // An attacker's connections, each on its own topic set.
    let noise: Vec<Subscriber> = (0..2_000)
        .map(|i| hub.subscribe(topics(&[&format!("noise/{i}"), "noise/x"]), Start::Current))
        .collect();
    let mut fan = hub.subscribe(topics(&["scores"]), Start::Current);
    let mut both = hub.subscribe(topics(&["game/a", "scores"]), Start::Current);
    let frame = Arc::new(Frame::encode(&env(1, "scores", "update", "[1]")));
    assert_eq!(
        hub.lock().channels.send("scores", &frame, &mut Vec::new()),
        2
    );
    assert_eq!(
        hub.lock().channels.send("game/a", &frame, &mut Vec::new()),
        1
    );
    assert_eq!(
        hub.lock().channels.send("noise/7", &frame, &mut Vec::new()),
        1
    );
    assert_eq!(
        hub.lock().channels.send("nobody", &frame, &mut Vec::new()),
        0
    );
    // The index changes no delivery.
    drain(&mut fan);
    drain(&mut both);
    hub.ingest(&env(2, "scores", "update", "[2]"));
    hub.ingest(&env(3, "game/a", "score", "{}"));
    assert_eq!(drain(&mut fan), vec![(2, "update".into())]);
    assert_eq!(
        drain(&mut both),
        vec![(2, "update".into()), (3, "score".into())]
    );
    drop(noise);
}

#[test]
fn channels_of_gone_subscribers_are_forgotten() {
    let hub = Hub::new(1);
    let subs: Vec<Subscriber> = (0..1_000)
        .map(|i| hub.subscribe(topics(&[&format!("t/{i}")]), Start::Current))
        .collect();
    assert_eq!(hub.lock().channels.len(), 1_000);
    drop(subs);
    // A topic's event forgets its dead channel at once.
    hub.ingest(&env(1, "t/5", "m", "{}"));
    assert_eq!(hub.lock().channels.len(), 999);
    // Topics that never get an event: swept as new sets arrive, so dead
    // channels never outnumber live ones.
    let live: Vec<Subscriber> = (0..100)
        .map(|i| hub.subscribe(topics(&[&format!("u/{i}")]), Start::Current))
        .collect();
    let kept = hub.lock().channels.len();
    assert!(
        kept <= 2 * live.len(),
        "{kept} channels for {} live",
        live.len()
    );
}

/// A chat flood larger than the bus ring while the hub was not reading
/// (the flood test's unthrottled case on a busy machine): the hub refills
/// from the state events the bus kept apart, so a scoreboard client still
/// gets every score and the final board, not a gap it would wait on
/// forever.
#[tokio::test]
async fn a_hub_that_fell_past_the_bus_ring_still_delivers_every_score() {
    use crate::bus::memory::RING_CAPACITY;
    use crate::bus::MemoryBus;

    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(1, 0));
    let hub = Hub::new(1);
    let rx = bus.subscribe();
    let data = |s: &str| Bytes::from(s.to_owned());
    bus.publish("scores", "update", data("[0]"), None)
        .await
        .expect("publish");
    let first = bus
        .read_after(EventId::new(1, 0), 1)
        .await
        .expect("the first event");
    hub.ingest(&first[0]);
    let mut board = hub.subscribe(topics(&["game/a", "scores"]), Start::Current);
    drain(&mut board);

    let mut scores = Vec::new();
    for i in 0..2 * RING_CAPACITY {
        let (topic, event) = if i % 1_000 == 0 {
            ("game/a", "score")
        } else {
            ("chat/a", "chat")
        };
        let id = bus
            .publish(topic, event, data("{}"), None)
            .await
            .expect("publish");
        if topic == "game/a" {
            scores.push((id.seq, event.to_owned()));
        }
    }
    let last = bus
        .publish("scores", "update", data("[1]"), None)
        .await
        .expect("publish");
    scores.push((last.seq, "update".to_owned()));

    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(hub.clone(), bus.clone(), rx, cancel.clone(), |_| {}));
    while hub.last_id() != Some(last) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
    task.await.expect("hub task");
    assert_eq!(drain(&mut board), scores);
}

/// A loopback pair: the server side in a fast-path slot, the client side
/// to read what the hub wrote.
async fn slot_pair(receive_buffer: Option<u32>) -> (Arc<direct::Slot>, tokio::net::TcpStream) {
    slot_pair_on(receive_buffer, direct::Wire::Sse).await
}

async fn slot_pair_on(
    receive_buffer: Option<u32>,
    wire: direct::Wire,
) -> (Arc<direct::Slot>, tokio::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).expect("rcvbuf");
    }
    let client = socket
        .connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    if receive_buffer.is_some() {
        socket2::SockRef::from(&server)
            .set_send_buffer_size(4096)
            .expect("sndbuf");
    }
    (direct::Slot::new(Arc::new(server), wire), client)
}

/// Reads `n` bytes off the client side (the hub's writes are in the
/// kernel once `ingest` returns; this waits for them, not for time).
async fn read_bytes(client: &tokio::net::TcpStream, n: usize) -> String {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        client.readable().await.expect("readable");
        match client.try_read(&mut out[got..]) {
            Ok(0) => panic!("closed after {got} of {n} bytes"),
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// The SSE bytes of these events as the hub encodes them.
fn sse_of(events: &[Envelope]) -> String {
    events
        .iter()
        .map(|e| String::from_utf8(Frame::encode(e).sse.to_vec()).expect("utf-8"))
        .collect()
}

fn ids_in(sse: &str) -> Vec<u64> {
    sse.lines()
        .filter_map(|l| l.strip_prefix("id: 1-"))
        .map(|s| s.parse().expect("seq"))
        .collect()
}

#[tokio::test]
async fn the_hub_writes_a_fast_subscriber_and_its_channel_skips_what_was_written() {
    let hub = Hub::new(1);
    let mut sub = hub.subscribe(topics(&["news"]), Start::Current);
    let (slot, client) = slot_pair(None).await;
    assert!(sub.go_fast(&slot), "nothing owed: it goes fast");
    let news: Vec<Envelope> = (1..=3).map(|seq| env(seq, "news", "m", "{}")).collect();
    for e in &news {
        hub.ingest(e);
    }
    hub.ingest(&env(4, "other", "m", "{}"));
    let wire = read_bytes(&client, sse_of(&news).len()).await;
    assert_eq!(ids_in(&wire), vec![1, 2, 3]);
    // Taken back: the channel holds 1-3 too, and they are not sent twice.
    let taken = sub.take_back(&slot);
    assert!(taken.rest.is_none() && taken.was_fast);
    assert_eq!(drain(&mut sub), vec![]);
    hub.ingest(&env(5, "news", "m", "{}"));
    assert_eq!(drain(&mut sub), vec![(5, "m".into())]);
    // Fast again: the next bytes on the socket are event 6's, so the hub
    // did not write 5 while the subscriber had the socket.
    assert!(sub.go_fast(&slot));
    let six = env(6, "news", "m", "{}");
    hub.ingest(&six);
    let wire = read_bytes(&client, sse_of(std::slice::from_ref(&six)).len()).await;
    assert_eq!(ids_in(&wire), vec![6]);
}

/// A gzip stream's fast path: the hub writes each event's shared
/// deflated bytes and sums what it wrote, so the task can end the stream
/// with a trailer that covers those events too.
#[tokio::test]
async fn the_hub_writes_a_gzip_subscriber_deflated_and_sums_what_it_wrote() {
    use super::deflate::{GzipSum, GZIP_HEADER};
    use std::io::Read;
    let hub = Hub::new(1);
    let mut sub = hub.subscribe(topics(&["news"]), Start::Current);
    let (slot, client) = slot_pair_on(None, direct::Wire::SseGzip).await;
    assert!(sub.go_fast(&slot));
    let news: Vec<Envelope> = (1..=3)
        .map(|seq| env(seq, "news", "m", &format!("{{\"n\":{seq}}}")))
        .collect();
    let frames: Vec<Frame> = news.iter().map(Frame::encode).collect();
    let deflated: usize = frames.iter().map(|f| f.sse_gzip().bytes.len()).sum();
    for e in &news {
        hub.ingest(e);
    }
    let mut wire = vec![0u8; deflated];
    let mut got = 0;
    while got < deflated {
        client.readable().await.expect("readable");
        match client.try_read(&mut wire[got..]) {
            Ok(0) => panic!("closed"),
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let taken = sub.take_back(&slot);
    let mut sum = GzipSum::default();
    for f in &frames {
        sum.add(f.sse_gzip());
    }
    assert_eq!(taken.gzip, sum);
    let stream = [&GZIP_HEADER[..], &wire, &sum.trailer()].concat();
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&stream[..])
        .read_to_string(&mut plain)
        .expect("a whole gzip stream");
    assert_eq!(plain, sse_of(&news));
}

#[tokio::test]
async fn a_subscriber_with_anything_unread_stays_on_its_own_path() {
    let hub = Hub::new(1);
    hub.ingest(&env(1, "scores", "update", "[1]"));
    let mut sub = hub.subscribe(topics(&["scores"]), Start::Current);
    let (slot, _client) = slot_pair(None).await;
    assert!(!sub.go_fast(&slot), "its current state is still owed");
    assert_eq!(drain(&mut sub), vec![(1, "update".into())]);
    hub.ingest(&env(2, "scores", "update", "[2]"));
    assert!(!sub.go_fast(&slot), "an unread live frame is still owed");
    assert_eq!(drain(&mut sub), vec![(2, "update".into())]);
    assert!(sub.go_fast(&slot));
}

#[tokio::test]
async fn a_full_socket_goes_back_with_the_rest_of_its_frame_and_nothing_is_lost() {
    let hub = Hub::new(1);
    let mut sub = hub.subscribe(topics(&["news"]), Start::Current);
    let (slot, client) = slot_pair(Some(2048)).await;
    assert!(sub.go_fast(&slot));
    let data = format!("{{\"pad\":\"{}\"}}", "x".repeat(1000));
    let mut seq = 0;
    while slot.is_fast() {
        seq += 1;
        hub.ingest(&env(seq, "news", "m", &data));
        assert!(seq < 10_000, "the socket never filled");
    }
    // Three more while the task has not taken it back yet.
    for _ in 0..3 {
        seq += 1;
        hub.ingest(&env(seq, "news", "m", &data));
    }
    let taken = sub.take_back(&slot);
    assert!(!taken.was_fast, "the hub handed it back");
    let rest = taken.rest.expect("the frame the socket took in part");
    let written: Vec<Envelope> = (1..=taken.written.seq)
        .map(|s| env(s, "news", "m", &data))
        .collect();
    let mut wire = read_bytes(&client, sse_of(&written).len() - rest.len()).await;
    wire.push_str(std::str::from_utf8(&rest).expect("utf-8"));
    for (s, _) in drain(&mut sub) {
        let frame = hub.history("news", "m");
        let f = frame.iter().find(|f| f.id.seq == s).expect("in history");
        wire.push_str(std::str::from_utf8(&f.sse).expect("utf-8"));
    }
    assert_eq!(
        ids_in(&wire),
        (1..=seq).collect::<Vec<_>>(),
        "every frame once, in order"
    );
}

#[tokio::test]
async fn closing_the_hub_or_a_new_history_hands_every_socket_back() {
    let hub = Hub::new(1);
    let mut sub = hub.subscribe(topics(&["news"]), Start::Current);
    let (slot, _client) = slot_pair(None).await;
    assert!(sub.go_fast(&slot));
    // The hub's first event is of another epoch than it started with: the
    // subscription reads it from its channel.
    hub.ingest(&Envelope {
        id: EventId::new(2, 1),
        ..env(0, "news", "m", "{}")
    });
    assert!(!slot.is_fast());
    sub.take_back(&slot);
    assert_eq!(drain(&mut sub), vec![(1, "m".into())]);
    assert!(sub.go_fast(&slot));
    // A new history: the reset comes down the channel, not the socket.
    hub.ingest(&Envelope {
        id: EventId::new(3, 1),
        ..env(0, "news", "m", "{}")
    });
    assert!(!slot.is_fast());
    sub.take_back(&slot);
    let got: Vec<String> = std::iter::from_fn(|| match sub.try_next() {
        Next::Frame(f) => Some(f.event.clone()),
        _ => None,
    })
    .collect();
    assert_eq!(got, vec!["reset".to_string(), "m".to_string()]);
    assert!(sub.go_fast(&slot));
    hub.close();
    assert!(!slot.is_fast(), "shutdown hands it back");
    sub.take_back(&slot);
    assert!(sub.next().await.is_none(), "and the subscription ends");
}

#[tokio::test]
async fn a_fast_subscriber_taken_back_after_a_new_history_skips_the_old_frames_in_its_channel() {
    let hub = Hub::new(1);
    let mut sub = hub.subscribe(topics(&["news"]), Start::Current);
    let (slot, _client) = slot_pair(None).await;
    assert!(sub.go_fast(&slot));
    // More than the channel holds, all written by the hub: the channel
    // lags with frames the socket already has.
    for seq in 1..=(CHANNEL_CAPACITY as u64 + 50) {
        hub.ingest(&env(seq, "news", "m", "{}"));
    }
    assert!(slot.is_fast(), "small frames: the socket took them all");
    hub.ingest(&Envelope {
        id: EventId::new(2, 1),
        ..env(0, "news", "new", "{}")
    });
    sub.take_back(&slot);
    let got: Vec<(u64, u64, String)> = std::iter::from_fn(|| match sub.try_next() {
        Next::Frame(f) => Some((f.id.epoch, f.id.seq, f.event.clone())),
        _ => None,
    })
    .collect();
    assert_eq!(
        got,
        vec![(2, 0, "reset".to_string()), (2, 1, "new".to_string())],
        "the reset and the new history, nothing of the old one again"
    );
}

#[test]
fn a_board_update_carries_its_patch_from_the_board_before_it_in_its_history() {
    let hub = Hub::new(1);
    let board = |score: u32| format!(r#"[{{"eid":"1","home":{{"score":{score}}}}}]"#);
    hub.ingest(&env(1, "scores", "update", &board(0)));
    hub.ingest(&env(2, "game/1", "game", "{}"));
    hub.ingest(&env(3, "scores", "update", &board(7)));
    let mut sub = hub.subscribe(topics(&["scores"]), Start::After(EventId::new(1, 0)));
    let frames: Vec<_> = std::iter::from_fn(|| match sub.try_next() {
        Next::Frame(f) => Some(f),
        _ => None,
    })
    .collect();
    assert_eq!(frames.len(), 2);
    assert!(
        frames[0].patch.is_none(),
        "the first board has nothing before it"
    );
    let patch = frames[1].patch.as_ref().expect("a patch");
    assert_eq!(
        patch.base,
        EventId::new(1, 1),
        "the scores board before, not game/1"
    );
    assert_eq!(&patch.frame.data[..], br#"{"1":{"home":{"score":7}}}"#);
    assert_eq!(patch.frame.event, EVENT_PATCH);
    assert_eq!(patch.frame.id, frames[1].id);
    // In a new history, the first board is patched from the state carried
    // into it (restamped), which is what a reset client is sent first.
    hub.ingest(&env_in(2, 1, "scores", "update", &board(14)));
    let mut sub = hub.subscribe(topics(&["scores"]), Start::Current);
    let Next::Frame(now) = sub.try_next() else {
        panic!("the current board")
    };
    assert_eq!(now.id, EventId::new(2, 1));
    assert!(now.patch.as_ref().is_none_or(|p| p.base.epoch == 2));
}
