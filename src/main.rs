//! The `livescore` binary: parse the command line, set up logging, run.

use anyhow::Context;
use clap::Parser;
use livescore::app::{self, FeedSource, ServerConfig};
use livescore::cli::{Cli, Command, LogFormat, ServerArgs};
use livescore::feed::poller::Source;
use livescore::http::HttpConfig;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match cli.command {
        Command::Demo(args) => {
            let config =
                server_config(&args.server, FeedSource::Replay { speed: args.speed }, true);
            app::serve(config, shutdown_signal())
                .await
                .context("demo failed")
        }
        Command::Serve(args) => {
            let feed = match args.feed {
                Some(path) => FeedSource::Poll {
                    source: Source::File(path),
                    interval: args.poll_interval,
                },
                None => FeedSource::None,
            };
            let config = server_config(&args.server, feed, false);
            app::serve(config, shutdown_signal())
                .await
                .context("server failed")
        }
        Command::Ingest(_) | Command::Publish(_) | Command::Watch(_) | Command::Bench(_) => {
            eprintln!("livescore: this command is not yet available");
            std::process::exit(2);
        }
    }
}

fn server_config(args: &ServerArgs, feed: FeedSource, announce_url: bool) -> ServerConfig {
    ServerConfig {
        addr: args.addr,
        feed,
        http: HttpConfig {
            keepalive: args.keepalive,
            ..HttpConfig::default()
        },
        announce_url,
        send_buffer_bytes: args.send_buffer,
    }
}

fn init_tracing(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("LIVESCORE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM (what systemd and container runtimes send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
