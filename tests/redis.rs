//! Redis-specific faults against real processes: Redis killed while
//! events are published, a flushed Redis (epoch reset). The scenarios every
//! bus shares (cross-node delivery, resume, chat, warm start, ingest, the
//! feed lease) are in `tests/bus_suite.rs`.

mod common;
#[path = "common/redis.rs"]
mod redis_support;

use std::time::Duration;

use common::{SseStream, TempDir};
use redis_support::{
    bus_health, metric_sum, next_flash, next_flash_across_epoch, node, publish, stream_url,
    RedisPrefix, RedisServer, SHARED_REDIS, WAIT,
};

#[tokio::test]
async fn killing_redis_mid_publish_loses_nothing_and_repeats_nothing() {
    let dir = TempDir::new("redis-fault");
    let mut redis = RedisServer::start(dir.path());
    let url = redis.url();
    let prefix = RedisPrefix::on_port("fault", redis.port);
    let a = node(&url, &prefix, &[]);
    let b = node(&url, &prefix, &[]);
    let mut clients = vec![
        SseStream::connect(&stream_url(&a.url, "news"), None).await,
        SseStream::connect(&stream_url(&b.url, "news"), None).await,
    ];
    const TOTAL: u64 = 30;
    let base = a.url.clone();
    let publisher = tokio::spawn(async move {
        let mut ids = Vec::new();
        for n in 1..=TOTAL {
            ids.push(publish(&base, "news", serde_json::json!({ "n": n })).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ids
    });
    // Let some events through, then kill Redis mid-stream and bring it back.
    common::wait_until("five events are on the bus", WAIT, || async {
        bus_health(&a.url).await["last_id"]
            .as_str()
            .is_some_and(|id| common::id_parts(id).1 >= 5)
    })
    .await;
    redis.kill();
    // The nodes say so (and keep their clients).
    let deadline = tokio::time::Instant::now() + WAIT;
    while bus_health(&b.url).await["connected"] != false {
        assert!(
            tokio::time::Instant::now() < deadline,
            "healthz never showed the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Down until publishes have felt it: two retries waiting for the bus.
    common::wait_until("a publish retried twice", WAIT, || async {
        metric_sum(&a.url, "livescore_bus_publish_retries_total").await >= 2.0
    })
    .await;
    redis.restart();
    let ids = tokio::time::timeout(Duration::from_secs(90), publisher)
        .await
        .expect("publishing finished")
        .expect("publisher task");
    assert_eq!(ids.len() as u64, TOTAL);
    for sse in &mut clients {
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(next_flash(sse).await, (id.clone(), i as u64 + 1));
        }
    }
    // Both nodes counted a reconnect; the ids stayed in one epoch.
    for n in [&a, &b] {
        assert!(metric_sum(&n.url, "livescore_bus_reconnects_total").await >= 1.0);
    }
    let health = bus_health(&b.url).await;
    assert_eq!(
        (health["connected"].as_bool(), health["lag"].as_u64()),
        (Some(true), Some(0))
    );
    let epochs: std::collections::BTreeSet<_> = ids.iter().map(|i| common::id_parts(i).0).collect();
    assert_eq!(epochs.len(), 1, "persisted Redis keeps the epoch");
}

#[tokio::test]
async fn a_flushed_redis_gives_resuming_clients_an_epoch_reset() {
    let prefix = RedisPrefix::new("flush");
    let a = node(SHARED_REDIS, &prefix, &[]);
    let old = publish(&a.url, "news", serde_json::json!({ "n": 1 })).await;
    // Lose the history the way a flush (or a restart without persistence)
    // does, for this prefix only.
    let status = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "redis-cli --scan --pattern '{}:*' | xargs -r redis-cli del",
                prefix.name
            ),
        ])
        .status()
        .expect("redis-cli");
    assert!(status.success());
    let new = publish(&a.url, "news", serde_json::json!({ "n": 2 })).await;
    assert_ne!(
        common::id_parts(&old).0,
        common::id_parts(&new).0,
        "new epoch"
    );
    // Wait until node A has taken in the new history.
    let mut live = SseStream::connect(&stream_url(&a.url, "news"), None).await;
    let probe = publish(&a.url, "news", serde_json::json!({ "n": 3 })).await;
    // A client that connected before the node took in the new history
    // gets its reset and all of it (2) first.
    let mut got = next_flash_across_epoch(&mut live).await;
    if got.1 == 2 {
        assert_eq!(got.0, new);
        got = next_flash(&mut live).await;
    }
    assert_eq!(got, (probe, 3));
    let mut resumed = SseStream::connect(&stream_url(&a.url, "news"), Some(&old)).await;
    let ev = resumed.next_event(WAIT).await.expect("reset");
    assert_eq!(ev.event, "reset");
    let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
    assert_eq!(v["reason"], "epoch");
}
