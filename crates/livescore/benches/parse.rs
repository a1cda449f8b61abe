//! Scorestrip parse: the whole 2015 week 1 final document, as the poller
//! parses it on every fetch.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn parse(c: &mut Criterion) {
    let xml = include_bytes!("../../../tests/fixtures/ss-2015-w1-final.xml");
    let mut group = c.benchmark_group("scorestrip");
    group.throughput(Throughput::Bytes(xml.len() as u64));
    group.bench_function("parse week 1 final", |b| {
        b.iter(|| livescore::feed::scorestrip::parse(std::hint::black_box(xml)).expect("parses"))
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
