//! SIGHUP: read the TLS certificate and key again (`--tls-cert`,
//! `--tls-key`: new handshakes get the new pair, open connections stay; a
//! pair that does not load is logged and the old one kept), then re-read
//! the `--config` file and apply what can change while
//! the server runs: the static publish token, the log level, the chat
//! rates, the connection caps, the allowed origins and the token key
//! (`jwt-secret` or `jwt-public-key`, its file read again: a rotated key
//! under the same name) with audience and issuer, and the feed's source
//! and poll interval ([`LIVE_KEYS`]); a change to any other
//! key is logged as needing a restart. A file that does not parse, or
//! names an unknown key or a bad value, is rejected whole and logged, and
//! the running settings stay.

use std::ffi::OsString;

use livescore::app::{FeedSource, ServerConfig};
use livescore::cli::ServeArgs;
use livescore::cli::ServerArgs;
use livescore::feed::poller::{FeedList, Plan};
use livescore::http::auth::Auth;
use livescore::http::guard::Origins;
use livescore::http::limit::ConnCaps;
use livescore::http::publish::{PublishToken, PublishTokenCell};
use livescore::http::ws::chat::ChatRates;
use tracing_subscriber::EnvFilter;

/// Replaces the log filter of the running process.
pub type LogLevel = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// Keys a reload applies; every other changed key needs a restart.
const LIVE_KEYS: &[&str] = &[
    "publish-token",
    "log-level",
    "chat-rate",
    "chat-burst",
    "chat-game-rate",
    "chat-game-burst",
    "max-connections",
    "max-connections-per-ip",
    "cors-origin",
    "jwt-secret",
    "jwt-public-key",
    "jwt-audience",
    "jwt-issuer",
    "feed",
    "feed-format",
    "poll-interval",
];

/// The running server's settings that a reload replaces, shared with it.
pub struct Live {
    publish: PublishTokenCell,
    chat: ChatRates,
    conn: ConnCaps,
    cors: Origins,
    auth: Auth,
    /// The polled feeds' sources and interval (none without `--feed`).
    feed: Option<FeedList>,
    /// The certificate served (none without `--tls-cert`).
    tls: Option<livescore::http::tls::Tls>,
}

impl Live {
    /// The handles of `config`, before it is handed to the server.
    pub fn of(config: &ServerConfig) -> Self {
        Self {
            publish: config.http.publish_token.clone(),
            chat: config.http.ws.chat_rates.clone(),
            conn: config.conn_caps.clone(),
            cors: config.http.cors_origins.clone(),
            auth: config.http.auth.clone(),
            feed: match &config.feed {
                FeedSource::Poll { feeds, .. } => Some(feeds.clone()),
                _ => None,
            },
            tls: config.tls.clone(),
        }
    }

    /// Reads the certificate pair again, the files named at start.
    fn reload_tls(&self) {
        let Some(tls) = &self.tls else { return };
        match tls.reload() {
            Ok(()) => tracing::info!("TLS certificate reloaded"),
            Err(err) => {
                tracing::error!(%err, "TLS certificate reload rejected; the old one stays")
            }
        }
    }

    /// Applies what can change live of `server` (its keys already read
    /// into `auth`); what could not though it `changed`, as notes for the
    /// restart warning.
    fn apply(
        &self,
        cli: &crate::cli::Cli,
        server: &ServerArgs,
        auth: &Auth,
        changed: &[String],
    ) -> Vec<String> {
        let mut notes = Vec::new();
        // The feeds polled: new ones start, removed ones stop, the rest
        // take a new source or interval from their next poll. A server
        // started without any (a relay, a replay) needs a restart for one.
        if let crate::cli::Command::Serve(serve) = &cli.command {
            match (&self.feed, serve.feed.is_empty()) {
                (Some(feeds), _) => {
                    if let Err(why) = feeds.set(plans(serve)) {
                        notes.push(format!("feed ({why})"));
                    }
                }
                (None, true) => {}
                (None, false) => notes.push("feed (started on a server that polls none)".into()),
            }
        }
        self.publish
            .set(server.publish_token.as_deref().and_then(PublishToken::new));
        self.chat.set(&server.ws.chat_limits());
        self.conn
            .set(server.max_connections, server.max_connections_per_ip);
        let origins = server.limits.cors_origins.clone();
        // The list is live; CORS itself on or off is not.
        if self.cors.enabled() == origins.is_empty() {
            notes.push("cors-origin (CORS on or off)".into());
        }
        self.cors.set(origins);
        if let Err(why) = self.auth.replace_keys(auth) {
            if changed.iter().any(|k| k.starts_with("jwt-")) {
                notes.push(format!("jwt keys ({why})"));
            }
        }
        notes
    }
}

/// The feeds `serve` was asked to poll, each read in `--feed-format` at
/// `--poll-interval`.
pub fn plans(serve: &ServeArgs) -> Vec<Plan> {
    serve
        .feed
        .iter()
        .map(|source| Plan {
            source: serve.feed_format.apply(source.clone()),
            interval: serve.poll_interval,
        })
        .collect()
}

/// `--log-level` when given, else `RUST_LOG`, else `info`.
pub fn log_filter(level: Option<&str>) -> EnvFilter {
    match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
    }
}

/// How the running server was started: its command line and the flags
/// its config file gave then (what a reload compares against).
pub struct Started {
    /// The process's arguments.
    pub argv: Vec<OsString>,
    /// The flags `--config` added at start (none without a file).
    pub file_flags: Vec<OsString>,
}

/// Starts the reloader for a server started as `started`; the caller
/// aborts it when the server has stopped. Without `--config` a SIGHUP
/// reloads only the certificate, or with none is logged and ignored
/// (rather than ending the process, its default).
pub fn spawn(started: Started, live: Live, log: LogLevel) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Installed now, not when the task first runs: the server says it is
    // listening before then, and a SIGHUP in between would end it.
    let hup = signal(SignalKind::hangup());
    tokio::spawn(async move {
        let mut hup = match hup {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGHUP; config reload is off");
                return;
            }
        };
        use clap::CommandFactory;
        let Started {
            argv,
            file_flags: mut applied,
        } = started;
        let root = crate::cli::Cli::command();
        while hup.recv().await.is_some() {
            live.reload_tls();
            match crate::config::parse_with_file(&root, &argv) {
                Err(err) => {
                    tracing::error!(%err, "config reload rejected; the running settings stay")
                }
                Ok((cli, flags)) => {
                    let Some(server) = server_args(&cli) else {
                        continue;
                    };
                    if server.config.is_none() {
                        if live.tls.is_none() {
                            tracing::warn!("SIGHUP: there is no --config file to reload");
                        }
                        continue;
                    }
                    // Key files are read again (a rotated key under the
                    // same name); one that will not do rejects the file.
                    let auth = match server.auth.build() {
                        Ok(auth) => auth,
                        Err(err) => {
                            tracing::error!(%err, "config reload rejected; the running settings stay");
                            continue;
                        }
                    };
                    if let Err(err) = log(log_filter(cli.log_level.as_deref())) {
                        tracing::warn!(%err, "cannot change the log level");
                    }
                    let changed = changed_keys(&applied, &flags);
                    let notes = live.apply(&cli, server, &auth, &changed);
                    let restart: Vec<String> = changed
                        .into_iter()
                        .filter(|k| !LIVE_KEYS.contains(&k.as_str()))
                        .chain(notes)
                        .collect();
                    if restart.is_empty() {
                        tracing::info!("config reloaded");
                    } else {
                        tracing::warn!(
                            keys = restart.join(", "),
                            "config reloaded; these changes need a restart and are not applied"
                        );
                    }
                    applied = flags;
                }
            }
        }
    })
}

fn server_args(cli: &crate::cli::Cli) -> Option<&ServerArgs> {
    match &cli.command {
        crate::cli::Command::Serve(a) => Some(&a.server),
        crate::cli::Command::Demo(a) => Some(&a.server),
        _ => None,
    }
}

/// The keys whose flags differ between two sets of file flags
/// (`--key=value`, or `--key` for a switch).
fn changed_keys(before: &[OsString], after: &[OsString]) -> Vec<String> {
    let key = |f: &OsString| {
        let f = f.to_string_lossy();
        let f = f.trim_start_matches("--");
        f.split_once('=').map_or(f, |(k, _)| k).to_string()
    };
    let mut keys: Vec<String> = before
        .iter()
        .filter(|f| !after.contains(f))
        .chain(after.iter().filter(|f| !before.contains(f)))
        .map(key)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_those_added_removed_or_given_another_value() {
        let f = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let before = f(&["--addr=127.0.0.1:1", "--publish-token=a", "--chat-rate=1"]);
        let after = f(&["--addr=127.0.0.1:2", "--publish-token=a", "--verbose"]);
        assert_eq!(
            changed_keys(&before, &after),
            ["addr", "chat-rate", "verbose"]
        );
        assert!(changed_keys(&before, &before).is_empty());
    }
}
