//! `livescore record`: save a feed's documents as a recording (see
//! `feed::record`), one line on stdout per document saved.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{parse_duration, FeedFormatArg, FeedParser};
use crate::feed::fetch::{FetchConfig, Fetcher};
use crate::feed::poller::Source;
use crate::feed::record::Recorder;
use crate::feed::FeedError;

/// `livescore record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Feeds to record: `espn:LEAGUE` (`nfl`, `nba`, `nhl`, `mlb`, `eng.1`,
    /// …), `espn:SPORT/LEAGUE`, an `http(s)://` URL or a file path;
    /// several (comma-separated or the flag repeated) are recorded into one
    /// sub-directory each, on one clock.
    /// Example: --feed espn:nfl,espn:nba
    #[arg(long, required = true, env = "LIVESCORE_FEED", hide_env_values = true, value_delimiter = ',', value_parser = FeedParser)]
    pub feed: Vec<Source>,

    /// The feed's format.
    #[command(flatten)]
    pub feed_format: FeedFormatArg,

    /// Directory to write the recording into (created if missing; must
    /// hold no recording yet). Files are `<ms since the first>.json|xml`.
    /// Example: --out recordings/2025-w1
    #[arg(long, value_name = "DIR", env = "LIVESCORE_RECORD_OUT")]
    pub out: PathBuf,

    /// Stop once every game of the last saved document is over (final,
    /// final OT or canceled), instead of recording until stopped.
    /// Example: --until-final
    #[arg(long, env = "LIVESCORE_UNTIL_FINAL")]
    pub until_final: bool,

    /// How often to poll while a game is on or about to start.
    /// Example: --poll-interval 15s
    #[arg(long, env = "LIVESCORE_POLL_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// Longest one HTTP attempt on the feed may take.
    /// Example: --feed-timeout 10s
    #[arg(long, env = "LIVESCORE_FEED_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub feed_timeout: Duration,
}

/// Records until `shutdown` (or every game is over, with `--until-final`),
/// printing `PATH  N games, M over` per saved document.
pub async fn run(args: RecordArgs, shutdown: impl Future<Output = ()>) -> Result<(), FeedError> {
    let fetch = FetchConfig {
        timeout: args.feed_timeout,
        ..FetchConfig::default()
    };
    let several = args.feed.len() > 1;
    let origin = tokio::time::Instant::now();
    let mut recorders = Vec::with_capacity(args.feed.len());
    for source in &args.feed {
        let source = args.feed_format.apply(source.clone());
        // One feed: the documents in `--out` itself, as `--feed-replay`
        // reads them; several: a sub-directory per feed.
        let out = if several {
            args.out.join(source.key())
        } else {
            args.out.clone()
        };
        let fetcher = Fetcher::new(source, fetch.clone())?;
        let recorder = Recorder::new(fetcher, &out, args.poll_interval, args.until_final)?;
        recorders.push(if several {
            recorder.with_origin(origin)
        } else {
            recorder
        });
    }
    let cancel = CancellationToken::new();
    let recording = futures::future::try_join_all(recorders.into_iter().map(|r| {
        r.run(cancel.clone(), |saved| {
            println!(
                "{}  {} games, {} over",
                saved.path.display(),
                saved.games,
                saved.over
            );
        })
    }));
    tokio::pin!(recording);
    tokio::select! {
        // Every game of every feed over (--until-final), or a file could
        // not be written.
        result = &mut recording => result.map(|_| ()),
        // Stopped: let the recorders finish the files they may be writing.
        () = shutdown => {
            cancel.cancel();
            recording.await.map(|_| ())
        }
    }
}
