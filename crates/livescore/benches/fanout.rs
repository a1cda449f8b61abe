//! Hub fan-out: one event into the hub (`Hub::ingest`: encode once, record,
//! send on the topic's channel) and out to 10,000 subscribers, each taking
//! it with `Subscriber::try_next` as an SSE body does.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use livescore::bus::Envelope;
use livescore::hub::{Hub, Next, Start};
use livescore::model::EventId;

const SUBSCRIBERS: usize = 10_000;

/// Event `seq` on the `bench` topic.
fn event(seq: u64, data: &Bytes) -> Envelope {
    Envelope {
        id: EventId::new(1, seq),
        topic: "bench".into(),
        event: "bench".into(),
        data: data.clone(),
        published_us: 0,
    }
}

fn fanout(c: &mut Criterion) {
    let hub = Hub::new(1);
    let mut subs: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| hub.subscribe(vec!["bench".to_string()], Start::Current))
        .collect();
    let data = Bytes::from(format!(
        r#"{{"n":1,"pad":"{}","t":1764000000000000000}}"#,
        "x".repeat(84)
    ));
    let mut seq = 0u64;
    let mut group = c.benchmark_group("hub");
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    group.bench_function("ingest + 10k try_next", |b| {
        b.iter(|| {
            seq += 1;
            hub.ingest(&event(seq, &data));
            let mut bytes = 0;
            for sub in &mut subs {
                match sub.try_next() {
                    Next::Frame(f) => bytes += f.sse.len(),
                    Next::Empty | Next::Closed => panic!("every subscriber gets the event"),
                }
            }
            bytes
        })
    });
    group.finish();
}

/// One publish while 10,000 connections each follow a topic set of their
/// own choosing on other topics (the hardening of issue 19): the cost must
/// be the channels that want the event, not every distinct set.
fn distinct_sets(c: &mut Criterion) {
    let hub = Hub::new(1);
    let _noise: Vec<_> = (0..SUBSCRIBERS)
        .map(|i| hub.subscribe(vec![format!("noise/{i}")], Start::Current))
        .collect();
    let mut sub = hub.subscribe(vec!["bench".to_string()], Start::Current);
    let data = Bytes::from_static(br#"{"n":1}"#);
    let mut seq = 0u64;
    let mut group = c.benchmark_group("hub");
    group.bench_function("ingest beside 10k distinct idle sets", |b| {
        b.iter(|| {
            seq += 1;
            hub.ingest(&event(seq, &data));
            matches!(sub.try_next(), Next::Frame(_))
        })
    });
    group.finish();
}

criterion_group!(benches, fanout, distinct_sets);
criterion_main!(benches);
