//! A PostgreSQL cluster of this test's own (initdb on a free port), stopped
//! and started again while the demo publishes: the stream never stops and
//! every event a client saw ends up in the database.

mod common;
mod persistence_support;
#[path = "common/pg_cluster.rs"]
mod pg_cluster;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Server, SseStream};
use persistence_support::{
    all_final, read_until, scores_seen, stream_url, wait_written, Seen, WAIT,
};
use pg_cluster::Cluster;

/// Seqs of `seen` that are not in `stored`.
fn missing(seen: &[Seen], stored: &BTreeSet<i64>) -> Vec<u64> {
    seen.iter()
        .map(|s| s.id.1)
        .filter(|seq| !stored.contains(&i64::try_from(*seq).expect("seq")))
        .collect()
}

#[tokio::test]
async fn every_streamed_event_reaches_postgres_across_an_outage() {
    let cluster = Cluster::new();
    let server = Server::start(&["demo", "--speed", "2000", "--database-url", &cluster.url()]);
    let mut sse = SseStream::connect(&stream_url(&server.url), None).await;
    let mut seen = read_until(&mut sse, |s| scores_seen(s) >= 5, WAIT).await;

    cluster.stop();
    // The stream goes on while the database is down, and the writes
    // that fail are counted and kept.
    let deadline = Instant::now() + WAIT;
    loop {
        let n = seen.len();
        seen.extend(read_until(&mut sse, |s| s.len() >= 20, WAIT).await);
        assert!(seen.len() > n);
        // 503 while the database is down (issue 10), same JSON.
        let (_, health) = common::health(&server.url).await;
        if health["database"]["write_errors"].as_u64() > Some(0) {
            assert_eq!(health["database"]["reachable"], false, "{health}");
            break;
        }
        assert!(Instant::now() < deadline, "no write failed: {health}");
    }
    seen.extend(read_until(&mut sse, |s| scores_seen(s) >= 10, WAIT).await);

    cluster.start();
    seen.extend(read_until(&mut sse, all_final, Duration::from_secs(180)).await);
    let last = seen.last().expect("events").id.1;
    let health = wait_written(&server.url, last).await;
    println!("{} events streamed across the outage; {health}", seen.len());
    assert_eq!(health["database"]["lost"], 0, "{health}");
    assert_eq!(health["database"]["reachable"], true, "{health}");

    let pool = sqlx::PgPool::connect(&cluster.url())
        .await
        .expect("connect");
    let epoch = i64::from_str_radix(&seen[0].id.0, 16).expect("hex epoch");
    let stored: BTreeSet<i64> = sqlx::query_scalar("SELECT seq FROM events WHERE epoch = $1")
        .bind(epoch)
        .fetch_all(&pool)
        .await
        .expect("query")
        .into_iter()
        .collect();
    assert_eq!(
        missing(&seen, &stored),
        Vec::<u64>::new(),
        "every streamed event is stored"
    );
    // Nothing published is missing either: the ids are contiguous.
    let max = *stored.last().expect("some");
    assert_eq!(stored.len() as i64, max - stored.first().expect("some") + 1);
    pool.close().await;
    drop(server);
}
