//! The publisher: M events at R per second through `POST /api/publish`,
//! each carrying its index and the Unix nanos at which it was sent, so a
//! subscriber knows which event it got and how long it took.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::fleet::unix_nanos;
use super::BenchError;

/// What the publish phase did.
#[derive(Debug, Clone)]
pub struct Published {
    /// Events the server accepted (202).
    pub ok: u64,
    /// Events it refused or that failed in transit.
    pub errors: u64,
    /// Unix nanos when the first event was sent.
    pub start_ns: u64,
    /// How long publishing took.
    pub elapsed: Duration,
    /// Which events the server accepted: bit `n % 64` of word `n / 64`
    /// (a storm's subscribers must get exactly these).
    pub accepted: Vec<u64>,
}

/// Publishing settings.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    /// `http://host:port/api/publish`.
    pub url: String,
    /// Bearer token.
    pub token: String,
    /// Topic.
    pub topic: String,
    /// Number of events.
    pub events: u64,
    /// Events per second.
    pub rate: f64,
    /// Bytes of each event's data.
    pub size: usize,
    /// nchan's publisher: the data alone is the body.
    pub nchan: bool,
    /// Requests in flight at once (a request takes a round trip; high
    /// rates need several).
    pub concurrency: usize,
}

/// The event's `data`: `{"t":<unix nanos>,"n":<index>,"pad":"x…"}`, padded
/// to `size` bytes (or as small as it gets).
pub fn event_data(t: u64, n: u64, size: usize) -> String {
    let bare = format!(r#"{{"t":{t},"n":{n},"pad":""}}"#);
    let pad = "x".repeat(size.saturating_sub(bare.len()));
    format!(r#"{{"t":{t},"n":{n},"pad":"{pad}"}}"#)
}

/// Publishes every event on schedule (event `i` at `start + i / rate`;
/// late ones go at once) and waits for the answers.
pub async fn run(plan: PublishPlan) -> Result<Published, BenchError> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| BenchError::Publish(format!("cannot build an HTTP client: {e}")))?;
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let accepted: Arc<Vec<AtomicU64>> = Arc::new(
        (0..plan.events.div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect(),
    );
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let start = Instant::now();
    let start_ns = unix_nanos();
    let plan = Arc::new(plan);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency.max(1) {
        let (client, plan, next, ok, errors, first_error, accepted) = (
            client.clone(),
            plan.clone(),
            next.clone(),
            ok.clone(),
            errors.clone(),
            first_error.clone(),
            accepted.clone(),
        );
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= plan.events {
                    return;
                }
                tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / plan.rate))
                    .await;
                let data = event_data(unix_nanos(), n, plan.size);
                let body = if plan.nchan {
                    data
                } else {
                    format!(
                        r#"{{"topic":"{}","event":"bench","data":{data}}}"#,
                        plan.topic
                    )
                };
                let sent = client
                    .post(&plan.url)
                    .bearer_auth(&plan.token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    // livescore answers 202; nchan 201 or 202.
                    Ok(r) if r.status().is_success() => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if let Some(word) = accepted.get((n / 64) as usize) {
                            word.fetch_or(1 << (n % 64), Ordering::Relaxed);
                        }
                    }
                    other => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        let why = match other {
                            Ok(r) => format!("status {}", r.status()),
                            Err(e) => e.to_string(),
                        };
                        first_error
                            .lock()
                            .expect("error lock poisoned")
                            .get_or_insert(why);
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let errors = errors.load(Ordering::Relaxed);
    if errors == plan.events && errors > 0 {
        let why = first_error.lock().expect("error lock poisoned").take();
        return Err(BenchError::Publish(format!(
            "every publish failed: {}",
            why.unwrap_or_default()
        )));
    }
    Ok(Published {
        ok: ok.load(Ordering::Relaxed),
        errors,
        start_ns,
        elapsed: start.elapsed(),
        accepted: accepted.iter().map(|w| w.load(Ordering::Relaxed)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_padded_to_the_size_asked() {
        let d = event_data(1_764_000_000_000_000_000, 42, 128);
        assert_eq!(d.len(), 128);
        let v: serde_json::Value = serde_json::from_str(&d).expect("json");
        assert_eq!(v["n"], 42);
        assert!(event_data(1, 1, 0).len() < 30);
    }
}
