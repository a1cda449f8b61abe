//! `--feed-format`, shared by every command that reads a feed (`serve`,
//! `ingest`, `record`).

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Args, ValueEnum};

use crate::feed::poller::Source;
use crate::feed::Format;

/// `--feed-format`, shared by every command that reads a feed.
#[derive(Debug, Clone, Copy, Args)]
pub struct FeedFormatArg {
    /// The feed's document format: `auto` decides per document by its
    /// first non-blank byte (`<` scorestrip XML, `{` ESPN JSON).
    /// Example: --feed-format espn
    #[arg(long = "feed-format", value_name = "FORMAT", env = "LIVESCORE_FEED_FORMAT", value_enum, default_value_t = FeedFormat::Auto)]
    pub value: FeedFormat,
}

impl FeedFormatArg {
    /// `source` read in this format (auto keeps what `espn:` implied).
    pub fn apply(self, source: Source) -> Source {
        source.with_format(self.value.format())
    }
}

/// `--feed`'s parser. clap's own message for a bad value quotes the
/// value, and a feed URL may carry a key (`?apikey=…`, `user:pw@`): this
/// one names the flag and the reason only. With `hide_env_values` on the
/// flag, `--help` does not show `LIVESCORE_FEED`'s value either.
#[derive(Debug, Clone, Copy)]
pub struct FeedParser;

impl TypedValueParser for FeedParser {
    type Value = Source;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Source, clap::Error> {
        let flag = arg.map_or_else(|| "--feed".to_string(), ToString::to_string);
        let bad = |why: &str| {
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("invalid value for '{flag}': {why}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| bad("not UTF-8"))?;
        Source::parse(text).map_err(|why| bad(&why))
    }
}

/// `--feed-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FeedFormat {
    /// Decide per document: `<` scorestrip, `{` ESPN.
    Auto,
    /// The NFL scorestrip XML (`ss.xml`).
    Scorestrip,
    /// ESPN's scoreboard JSON.
    Espn,
}

impl FeedFormat {
    /// The fixed format, or `None` for auto.
    pub fn format(self) -> Option<Format> {
        match self {
            FeedFormat::Auto => None,
            FeedFormat::Scorestrip => Some(Format::Scorestrip),
            FeedFormat::Espn => Some(Format::Espn),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{Parser, Subcommand};

    use crate::cli::{record::RecordArgs, DemoArgs, IngestArgs, ServeArgs};
    use crate::feed::Format;

    /// The server commands as the binary parses them.
    #[derive(Parser)]
    #[command(name = "livescore")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        Demo(DemoArgs),
        Serve(ServeArgs),
        Ingest(IngestArgs),
        Record(RecordArgs),
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let mut all = vec!["livescore"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|cli| cli.command)
    }

    #[test]
    fn feed_flags_parse_into_a_source_and_its_format() {
        let Ok(Command::Serve(serve)) = parse(&["serve", "--feed", "espn:nfl"]) else {
            panic!("serve parses");
        };
        let source = serve
            .feed_format
            .apply(serve.feed.into_iter().next().expect("a feed"));
        assert_eq!(
            source.format,
            Some(Format::Espn),
            "espn: implies the format"
        );
        assert!(source.to_string().contains("site.api.espn.com"));

        let Ok(Command::Ingest(ingest)) = parse(&[
            "ingest",
            "--feed",
            "week.xml",
            "--feed-format",
            "scorestrip",
        ]) else {
            panic!("ingest parses");
        };
        let source = ingest.feed_format.apply(ingest.feed);
        assert_eq!(source.format, Some(Format::Scorestrip));

        let Ok(Command::Record(record)) = parse(&[
            "record",
            "--feed",
            "espn:college-football",
            "--out",
            "rec",
            "--until-final",
        ]) else {
            panic!("record parses");
        };
        assert!(record.until_final && record.out.ends_with("rec"));

        let Ok(Command::Serve(replay)) = parse(&["serve", "--feed-replay", "rec", "--speed", "10"])
        else {
            panic!("serve --feed-replay parses");
        };
        assert_eq!((replay.feed_replay.is_some(), replay.speed), (true, 10.0));
        assert!(parse(&["serve", "--feed", "a.json", "--feed-replay", "rec"]).is_err());
        // Several feeds: a comma list, the flag repeated, or both.
        let Ok(Command::Serve(many)) = parse(&[
            "serve",
            "--feed",
            "espn:nfl,espn:nba",
            "--feed",
            "espn:eng.1",
            "--feeds",
            "a.json",
        ]) else {
            panic!("several feeds parse");
        };
        let keys: Vec<String> = many.feed.iter().map(|s| s.key()).collect();
        assert_eq!(keys[..3], ["nfl", "nba", "eng.1"]);
        assert!(keys[3].starts_with("feed-"), "{keys:?}");
        assert!(
            parse(&["serve", "--feed", "espn:nba,espn:cricket"]).is_err(),
            "one bad feed refuses the list"
        );
        assert!(parse(&["serve", "--feed", "espn:cricket"]).is_err());
        assert!(parse(&["serve", "--feed", "x", "--feed-format", "csv"]).is_err());
        let Ok(Command::Demo(demo)) = parse(&["demo", "--replay", "rec"]) else {
            panic!("demo --replay parses");
        };
        assert_eq!(demo.replay.as_deref(), Some(std::path::Path::new("rec")));
    }
}
