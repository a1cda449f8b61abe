//! SSE encoding: one event becomes the bytes every subscriber shares
//! (`Frame::encode`), for a bench-sized event and a full `scores` update.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use livescore::bus::Envelope;
use livescore::hub::Frame;
use livescore::model::EventId;

fn envelope(topic: &str, event: &str, data: Vec<u8>) -> Envelope {
    Envelope {
        id: EventId::new(1_764_000_000, 12_345),
        topic: topic.into(),
        event: event.into(),
        data: Bytes::from(data),
        published_us: 0,
    }
}

fn encode(c: &mut Criterion) {
    let small = envelope(
        "bench",
        "bench",
        format!(
            r#"{{"n":42,"pad":"{}","t":1764000000000000000}}"#,
            "x".repeat(84)
        )
        .into_bytes(),
    );
    let week = livescore::feed::scorestrip::parse(include_bytes!(
        "../../../tests/fixtures/ss-2015-w1-final.xml"
    ))
    .expect("parses");
    let games = serde_json::to_vec(&week.games).expect("games serialize");
    let scores = envelope("scores", "update", games);
    let mut group = c.benchmark_group("frame");
    for (name, env) in [("sse 128 B event", &small), ("sse scores update", &scores)] {
        group.throughput(Throughput::Bytes(env.data.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| Frame::encode(std::hint::black_box(env)))
        });
    }
    group.throughput(Throughput::Bytes(small.data.len() as u64));
    group.bench_function("ws 128 B event", |b| {
        b.iter(|| {
            let f = Frame::encode(std::hint::black_box(&small));
            f.ws_json().len()
        })
    });
    // Compression encoded once: what gzip SSE and permessage-deflate cost
    // per event (not per client), on top of the plain encoding.
    for (name, env) in [("sse 128 B event", &small), ("sse scores update", &scores)] {
        group.throughput(Throughput::Bytes(env.data.len() as u64));
        group.bench_function(format!("{name}, gzip"), |b| {
            b.iter(|| {
                let f = Frame::encode(std::hint::black_box(env));
                f.sse_gzip().bytes.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
