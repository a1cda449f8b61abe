//! The `livescore` binary: parse the command line, set up logging, run.

mod cli;
mod config;
mod reload;

use std::ffi::OsString;

use clap::CommandFactory;
use cli::{Cli, Command, ConfigCommand, LogFormat};
use livescore::app::{self, FeedSource, IngestConfig, ServerConfig};
use livescore::cli::{bus_choice, record, ServerArgs};
use livescore::feed::fetch::FetchConfig;
use livescore::feed::poller::{FeedList, Polled};
use livescore::http::publish::{PublishToken, PublishTokenCell};
use livescore::http::HttpConfig;
use livescore::store;
use livescore_tools::{bench, publish, token, watch};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (cli, started) = parse_cli();
    let log = init_tracing(cli.log_format, cli.log_level.as_deref());
    match cli.command {
        Command::Demo(args) => {
            let replay = FeedSource::Replay {
                speed: args.speed,
                recording: args.replay.clone(),
            };
            let mut config = server_config(&args.server, replay, true);
            let demo_db = match args.server.database_url {
                Some(_) => None,
                None => match store::DemoDatabase::create() {
                    Ok(db) => Some(db),
                    Err(err) => {
                        eprintln!("livescore demo: cannot make a database directory: {err}");
                        std::process::exit(1);
                    }
                },
            };
            if let Some(db) = &demo_db {
                config.database_url = db.url.clone();
            }
            let reload = reload::spawn(started, reload::Live::of(&config), log);
            let result = app::serve(config, shutdown_signal()).await;
            reload.abort();
            // Only a crash leaves the demo's own database behind (to resume).
            if let Some(db) = demo_db {
                db.remove();
            }
            exit_on_error("demo", result)
        }
        Command::Serve(args) => {
            let plans = reload::plans(&args);
            let feed = match (plans.is_empty(), args.feed_replay) {
                (false, _) => {
                    let feeds = match FeedList::new(plans) {
                        Ok(feeds) => feeds,
                        Err(why) => {
                            eprintln!("livescore serve: --feed: {why}");
                            std::process::exit(2);
                        }
                    };
                    FeedSource::Poll {
                        feeds,
                        fetch: FetchConfig {
                            timeout: args.feed_timeout,
                            ..FetchConfig::default()
                        },
                    }
                }
                (true, Some(dir)) => FeedSource::Replay {
                    speed: args.speed,
                    recording: Some(dir),
                },
                (true, None) => FeedSource::None,
            };
            let config = server_config(&args.server, feed, false);
            let reload = reload::spawn(started, reload::Live::of(&config), log);
            let result = app::serve(config, shutdown_signal()).await;
            reload.abort();
            exit_on_error("serve", result)
        }
        Command::Ingest(args) => {
            let config = IngestConfig {
                source: args.feed_format.apply(args.feed.clone()),
                interval: args.poll_interval,
                fetch: FetchConfig {
                    timeout: args.feed_timeout,
                    ..FetchConfig::default()
                },
                once: args.once,
                database_url: args.database_url.clone(),
                bus: bus_choice(
                    &args.bus,
                    &args.redis_prefix,
                    &args.nats,
                    args.publish_timeout,
                ),
            };
            match app::ingest(config, shutdown_signal()).await {
                Ok(Some(Polled::Changed { games, scores })) => {
                    println!(
                        "{}: {games} games changed, {scores} score events published",
                        args.feed
                    );
                }
                Ok(Some(Polled::Unchanged | Polled::NotModified)) => {
                    println!("{}: nothing changed", args.feed);
                }
                Ok(None) => {}
                Err(err) => {
                    // One line a cron job's mail or a CI log shows as is.
                    eprintln!("livescore ingest: {err}");
                    std::process::exit(1);
                }
            }
            Ok(())
        }
        Command::Record(args) => match record::run(args, shutdown_signal()).await {
            Ok(()) => Ok(()),
            Err(err) => {
                eprintln!("livescore record: {err}");
                std::process::exit(1);
            }
        },
        Command::Publish(args) => match publish::run(args).await {
            Ok(id) => {
                println!("{id}");
                Ok(())
            }
            Err(err) => {
                eprintln!("livescore publish: {err}");
                std::process::exit(1);
            }
        },
        Command::Token(args) => match token::mint(&args) {
            Ok(token) => {
                println!("{token}");
                Ok(())
            }
            Err(err) => {
                eprintln!("livescore token: {err}");
                std::process::exit(1);
            }
        },
        Command::Watch(args) => match watch::run(args).await {
            Ok(()) => Ok(()),
            Err(err) => {
                // One line, after the terminal is restored.
                eprintln!("livescore watch: {err}");
                std::process::exit(1);
            }
        },
        Command::Bench(args) => std::process::exit(bench::main(args).await),
        Command::Config(ConfigCommand::Example) => {
            let root = Cli::command();
            let serve = root
                .find_subcommand("serve")
                .expect("serve is a subcommand");
            print!("{}", config::example(&root, serve));
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file }) => match check_config(&file) {
            Ok(keys) => {
                println!("{}: ok ({keys} keys)", file.display());
                Ok(())
            }
            Err(err) => {
                eprintln!("livescore config check: {err}");
                std::process::exit(1);
            }
        },
    }
}

/// What the flags cannot say alone (a key file that cannot be read, a
/// setting that needs a key), checked before anything starts.
fn server_checks(
    args: &ServerArgs,
) -> Result<
    (
        livescore::http::auth::Auth,
        Option<livescore::http::tls::Tls>,
    ),
    String,
> {
    let auth = args.auth.build()?;
    args.retry_range()?;
    let tls = args.limits.tls()?;
    if args.ws.chat_auth == livescore::http::ws::chat::ChatAuth::Required && !auth.accepts_tokens()
    {
        return Err(
            "--chat-auth required needs a token key: --jwt-secret, --jwt-public-key or --jwks-url"
                .into(),
        );
    }
    Ok((auth, tls))
}

fn server_config(args: &ServerArgs, feed: FeedSource, announce_url: bool) -> ServerConfig {
    let (auth, tls) = match server_checks(args) {
        Ok(checked) => checked,
        Err(err) => {
            eprintln!("livescore: {err}");
            std::process::exit(1);
        }
    };
    livescore::hub::direct::set_threads(args.fanout_threads);
    let mut config = ServerConfig {
        addr: args.addr,
        feed,
        http: HttpConfig {
            keepalive: args.keepalive,
            fast_path: args.fast_path,
            publish_token: PublishTokenCell::new(
                args.publish_token.as_deref().and_then(PublishToken::new),
            ),
            publish_ack: args.publish_ack,
            store_wait: args.publish_timeout,
            ws: args.ws.config(),
            max_body_bytes: args.limits.max_body,
            cors_origins: livescore::http::guard::Origins::new(args.limits.cors_origins.clone()),
            trusted_proxies: livescore::http::client_addr::TrustedProxies(
                args.limits.trusted_proxies.clone(),
            ),
            auth,
            ..HttpConfig::default()
        },
        conn: livescore::http::server::ConnConfig {
            header_timeout: args.limits.header_timeout,
            max_header_bytes: args.limits.max_header_bytes,
        },
        tls,
        shutdown_timeout: args.limits.shutdown_timeout,
        announce_url,
        send_buffer_bytes: args.send_buffer,
        accept_pace: args.limits.accept_pace(),
        conn_caps: livescore::http::limit::ConnCaps::new(
            args.max_connections,
            args.max_connections_per_ip,
        ),
        database_url: args
            .database_url
            .clone()
            .unwrap_or_else(|| store::DEFAULT_URL.to_string()),
        chat_retention: args.chat_retention(),
        bus: bus_choice(
            &args.bus,
            &args.redis_prefix,
            &args.nats,
            args.publish_timeout,
        ),
    };
    config.http.retry = args.retry_range().expect("checked by server_checks");
    config
}

/// The command line, with `--config FILE` (serve, demo) read into it (see
/// `config::parse_with_file`). Exits 2 with the reason on a bad file, as
/// clap does on a bad flag.
fn parse_cli() -> (Cli, reload::Started) {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let root = Cli::command();
    // Help, version and bad flags exit here the way clap prints them.
    root.clone().get_matches_from(&argv);
    match config::parse_with_file(&root, &argv) {
        Ok((cli, file_flags)) => (cli, reload::Started { argv, file_flags }),
        Err(err) => {
            eprintln!("livescore: {err}");
            std::process::exit(2);
        }
    }
}

/// `livescore config check FILE`: the file as `serve --config FILE` reads
/// it, with no environment variable in the way, then the start-up checks.
/// Returns how many keys it set.
fn check_config(path: &std::path::Path) -> Result<usize, String> {
    let root = Cli::command()
        .mut_args(|a| a.env(None))
        .mut_subcommand("serve", |c| c.mut_args(|a| a.env(None)));
    let argv: Vec<OsString> = vec![
        "livescore".into(),
        "serve".into(),
        "--config".into(),
        path.into(),
    ];
    let (cli, flags) = config::parse_with_file(&root, &argv)?;
    if let Command::Serve(args) = cli.command {
        server_checks(&args.server).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(flags.len())
}

/// A server that cannot start (database unreachable, port taken) says why
/// in one line and exits non-zero, so a supervisor's log shows the cause.
fn exit_on_error(command: &str, result: Result<(), app::AppError>) -> anyhow::Result<()> {
    if let Err(err) = result {
        eprintln!("livescore {command}: {err}");
        std::process::exit(1);
    }
    Ok(())
}

/// `--log-level` (or `LIVESCORE_LOG`) first, then `RUST_LOG`, then `info`.
/// Colour only for a terminal that did not ask for none (`NO_COLOR`): a
/// log file or journal gets plain text, no escape codes. Returns how to
/// change the level later (a config reload).
fn init_tracing(format: LogFormat, level: Option<&str>) -> reload::LogLevel {
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(reload::log_filter(level))
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let builder = builder.with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            Box::new(move |f| handle.reload(f).map_err(|e| e.to_string()))
        }
        LogFormat::Json => {
            let builder = builder.json().with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            Box::new(move |f| handle.reload(f).map_err(|e| e.to_string()))
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (what systemd and container
/// runtimes send). The handlers are installed by this call, not when the
/// future is first polled: the server says it is listening before it polls
/// it, and a signal in between would kill the process outright (a test
/// that sent SIGINT right after "listening" once saw exactly that).
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        async fn wait(s: std::io::Result<tokio::signal::unix::Signal>, name: &'static str) {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(err) => {
                    tracing::error!(%err, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        }
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            tokio::select! {
                () = wait(int, "Ctrl-C") => {}
                () = wait(term, "SIGTERM") => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if let Err(err) = tokio::signal::ctrl_c().await {
                tracing::error!(%err, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    }
}
