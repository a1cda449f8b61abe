//! What `--feed` names: where the document is (a file or a URL) and, when
//! the name implies it, its format.
//!
//! `espn:<league>` is a shorthand for ESPN's public scoreboard URL of that
//! league (`espn:nba`, `espn:eng.1`, or `espn:SPORT/LEAGUE` for any other
//! league of the five sports; see [`leagues`]), so an operator never has
//! to copy the URL from a forum post.

use std::fmt;
use std::path::PathBuf;

use reqwest::Url;

use super::espn::leagues;
use super::redact::redacted;
use super::Format;

/// ESPN's public scoreboards, one per `sport/league` path; the same shape
/// serves every league. No key, no documented terms: it can change or
/// vanish, which is why the parser is strict.
const ESPN_SCOREBOARD: &str = "https://site.api.espn.com/apis/site/v2/sports";

/// Where a document is read from. Its `Debug` shows a URL redacted, as
/// `Display` does: a `{:?}` in a log line must not reveal a key either.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A file on disk, re-read every poll (tests, or another process that
    /// writes the file).
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Http(Url),
}

/// A feed: where it is and, when known, its format (`None`: decide per
/// document, `--feed-format auto`).
#[derive(Clone, PartialEq, Eq)]
pub struct Source {
    /// Where to read it.
    pub location: Location,
    /// Its format, or `None` to detect it from each document.
    pub format: Option<Format>,
    /// The league the name implies (`espn:nba`: `nba`); a file or URL
    /// is known by its documents.
    pub league: Option<String>,
    /// For an `espn:` day league, the zone of its calendar day: the poller
    /// asks for that day's board (`dates=YYYYMMDD`) rather than whatever
    /// ESPN's unqualified URL serves around midnight.
    pub day: Option<chrono_tz::Tz>,
}

impl Source {
    /// `espn:<league>` is ESPN's scoreboard for that league, `http(s)://...`
    /// a URL, anything else a file path.
    pub fn parse(s: &str) -> Result<Source, String> {
        if let Some(spec) = s.strip_prefix("espn:") {
            let league = leagues::resolve(spec)?;
            // A mirror or caching proxy of ESPN's API (and the tests' own
            // server) stands in for it with the same paths.
            let base = std::env::var("LIVESCORE_ESPN_BASE")
                .ok()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| ESPN_SCOREBOARD.to_owned());
            let base = base.trim_end_matches('/');
            let url = format!("{base}/{}/scoreboard", league.path());
            let mut url = Url::parse(&url).map_err(|e| format!("{url}: {e}"))?;
            if !league.query.is_empty() {
                url.query_pairs_mut().extend_pairs(league.query);
            }
            return Ok(Source {
                location: Location::Http(url),
                format: Some(Format::Espn),
                day: leagues::day_zone(&league.key, league.sport),
                league: Some(league.key),
            });
        }
        let location = if s.starts_with("http://") || s.starts_with("https://") {
            // The value is not echoed: it may hold a key.
            Location::Http(Url::parse(s).map_err(|e| format!("not a valid URL: {e}"))?)
        } else if s.is_empty() {
            return Err("the feed is a URL, a file path or espn:<league>, not empty".into());
        } else {
            Location::File(PathBuf::from(s))
        };
        Ok(Source {
            location,
            format: None,
            league: None,
            day: None,
        })
    }

    /// What names this feed in logs, `/healthz`, metrics and its lease
    /// across nodes: the league for `espn:` (`nba`), otherwise `feed-`
    /// and a fingerprint of the full address (the same on every node,
    /// and never the address itself, which may hold a key).
    pub fn key(&self) -> String {
        if let Some(league) = &self.league {
            return league.clone();
        }
        let full = match &self.location {
            Location::File(path) => path.display().to_string(),
            Location::Http(url) => url.to_string(),
        };
        format!("feed-{:08x}", super::fingerprint(full.as_bytes()) as u32)
    }

    /// The same source read as `format` (`--feed-format`); `None` (auto)
    /// keeps what the name implied.
    pub fn with_format(mut self, format: Option<Format>) -> Source {
        if format.is_some() {
            self.format = format;
        }
        self
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => f.debug_tuple("File").field(path).finish(),
            Location::Http(url) => f.debug_tuple("Http").field(&redacted(url)).finish(),
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("location", &self.location)
            .field("format", &self.format)
            .field("league", &self.league)
            .field("day", &self.day)
            .finish()
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Http(url) => f.write_str(&redacted(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_feed_url_are_never_shown() {
        let src = Source::parse("https://user:pw@feed.invalid/ss.xml?week=1&apiKey=abc&sig=xyz")
            .expect("url");
        let shown = src.to_string();
        assert_eq!(
            shown,
            "https://***@feed.invalid/ss.xml?week=1&apiKey=***&sig=***"
        );
        let plain = Source::parse("https://feed.invalid/ss.xml?week=1").expect("url");
        assert_eq!(plain.to_string(), "https://feed.invalid/ss.xml?week=1");
        let debug = format!("{src:?}");
        assert!(!debug.contains("abc") && !debug.contains("pw"), "{debug}");
    }

    #[test]
    fn sources_are_urls_paths_or_espn_leagues() {
        let url = Source::parse("https://feed.invalid/ss.xml").expect("url");
        assert!(matches!(url.location, Location::Http(_)) && url.format.is_none());
        assert_eq!(
            Source::parse("/tmp/ss.xml").expect("path").location,
            Location::File("/tmp/ss.xml".into())
        );
        assert!(Source::parse("http://").is_err());
        assert!(Source::parse("").is_err());

        let nfl = Source::parse("espn:nfl").expect("espn:nfl");
        assert_eq!(
            nfl.to_string(),
            "https://site.api.espn.com/apis/site/v2/sports/football/nfl/scoreboard"
        );
        assert_eq!(nfl.format, Some(Format::Espn));
        assert_eq!(nfl.key(), "nfl");
        let file = Source::parse("/tmp/a.json").expect("path");
        assert!(file.key().starts_with("feed-") && file.key().len() == 13);
        assert_ne!(
            file.key(),
            Source::parse("/tmp/b.json").expect("path").key()
        );
        let cfb = Source::parse("espn:college-football").expect("cfb");
        assert!(cfb
            .to_string()
            .contains("/football/college-football/scoreboard"));
        assert!(cfb.to_string().ends_with("?groups=80"), "{cfb}");
        let nba = Source::parse("espn:nba").expect("nba");
        assert_eq!(
            nba.to_string(),
            "https://site.api.espn.com/apis/site/v2/sports/basketball/nba/scoreboard"
        );
        let ned = Source::parse("espn:soccer/ned.1").expect("any soccer league");
        assert!(ned.to_string().ends_with("/soccer/ned.1/scoreboard"));
        let err = Source::parse("espn:cricket").expect_err("unknown league");
        assert!(err.contains("espn:nfl, espn:college-football"), "{err}");
        let err = Source::parse("espn:golf/pga").expect_err("unsupported sport");
        assert!(err.contains("supported: football, basketball"), "{err}");
    }

    #[test]
    fn an_explicit_format_overrides_and_auto_keeps() {
        let espn = Source::parse("espn:nfl").expect("espn");
        assert_eq!(espn.clone().with_format(None).format, Some(Format::Espn));
        let file = Source::parse("week.xml").expect("file");
        assert_eq!(
            file.with_format(Some(Format::Scorestrip)).format,
            Some(Format::Scorestrip)
        );
    }
}
