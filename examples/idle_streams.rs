//! Memory per idle SSE stream, over plain HTTP/1.1, TLS + HTTP/1.1 or
//! HTTP/2 (docs/BENCHMARKS.md, "TLS and HTTP/2"): opens idle
//! `/api/stream` requests against a running server and prints the growth
//! of the server's resident memory per stream.
//!
//! Run (the server on this machine, its pid given):
//!   cargo run --release --example idle_streams -- \
//!     --url https://127.0.0.1:8443 --cacert cert.pem --pid PID \
//!     --mode h2 --connections 50 --streams 100
//!
//! `--mode h1`: one connection per stream, `--connections` of them
//! (`--streams` is ignored); `--mode h2`: `--connections` HTTP/2
//! connections with `--streams` streams each (at most the server's 100).
//! `--in-flight N` (default 500): requests being opened at once.

use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    url: String,
    cacert: Option<String>,
    pid: u32,
    h2: bool,
    connections: usize,
    streams: usize,
    in_flight: usize,
}

fn args() -> Result<Args, Error> {
    let mut a = Args {
        url: String::new(),
        cacert: None,
        pid: 0,
        h2: false,
        connections: 1000,
        streams: 1,
        in_flight: 500,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--cacert" => a.cacert = Some(value()?),
            "--pid" => a.pid = value()?.parse()?,
            "--mode" => a.h2 = value()? == "h2",
            "--connections" => a.connections = value()?.parse()?,
            "--streams" => a.streams = value()?.parse()?,
            "--in-flight" => a.in_flight = value()?.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if a.url.is_empty() || a.pid == 0 {
        return Err("--url and --pid are needed".into());
    }
    if !a.h2 {
        a.streams = 1;
    }
    Ok(a)
}

fn client(args: &Args) -> Result<reqwest::Client, Error> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .pool_max_idle_per_host(usize::MAX);
    if let Some(path) = &args.cacert {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(path)?)?);
    }
    b = match args.h2 {
        true => b.http2_initial_stream_window_size(65_535),
        false => b.http1_only(),
    };
    Ok(b.build()?)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The server's RSS once three readings 250 ms apart are within 16 KiB.
async fn settled(pid: u32) -> u64 {
    let mut last = [rss_kib(pid), 0, u64::MAX];
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        last = [rss_kib(pid), last[0], last[1]];
        let (lo, hi) = (last.iter().min(), last.iter().max());
        if matches!((lo, hi), (Some(lo), Some(hi)) if hi - lo <= 16) {
            break;
        }
    }
    last[0]
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args()?;
    let before = settled(args.pid).await;
    let mut held = Vec::new();
    let mut opening = tokio::task::JoinSet::new();
    // HTTP/2: one client (one connection) per `--connections`, its
    // connection made first so the streams share it. HTTP/1.1: one client,
    // a connection per stream.
    let shared = client(&args)?;
    for _ in 0..args.connections {
        let client = match args.h2 {
            true => {
                let client = client(&args)?;
                client
                    .get(format!("{}/healthz", args.url))
                    .send()
                    .await?
                    .error_for_status()?;
                client
            }
            false => shared.clone(),
        };
        for _ in 0..args.streams {
            let (client, url) = (client.clone(), args.url.clone());
            opening.spawn(async move {
                let resp = client
                    .get(format!("{url}/api/stream?topic=idle"))
                    .header("accept", "text/event-stream")
                    .send()
                    .await?
                    .error_for_status()?;
                Ok::<_, Error>((resp.version(), resp, client))
            });
        }
        // Not all at once: the accept backlog and the client's own pool.
        while opening.len() > args.in_flight {
            if let Some(r) = opening.join_next().await {
                held.push(r??);
            }
        }
    }
    while let Some(r) = opening.join_next().await {
        held.push(r??);
    }
    let after = settled(args.pid).await;
    let n = held.len();
    let version = held
        .first()
        .map(|(v, _, _)| format!("{v:?}"))
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{n} idle streams ({version}) on {} connections: server RSS {before} -> {after} KiB, {:.2} KiB per stream; load average {}",
        if args.h2 { args.connections } else { n },
        (after.saturating_sub(before)) as f64 / n as f64,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    );
    drop(held);
    Ok(())
}
