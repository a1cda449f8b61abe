//! The feed seam: which format a document is in, and the one function that
//! turns a fetched document into a typed [`Week`].
//!
//! Everything before it (fetch, conditional GET, backoff, lease) moves
//! bytes; everything after it (tracker, publisher, schedule) sees `Week`s.
//! A new source (another sport, a paid provider) is a new variant here and a
//! parser module beside `scorestrip` and `espn`; nothing else changes.

use std::fmt;

use super::{espn, scorestrip, FeedError};
use crate::model::Week;

/// A feed document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The NFL's retired scorestrip XML (`ss.xml`): archives and tests.
    Scorestrip,
    /// ESPN's public scoreboard JSON: what live tickers poll today.
    Espn,
}

impl Format {
    /// The name used on the command line and in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Scorestrip => "scorestrip",
            Format::Espn => "espn",
        }
    }

    /// The file extension a recording gives a document of this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Scorestrip => "xml",
            Format::Espn => "json",
        }
    }

    /// The format a recorded file's extension names, if any.
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext {
            "xml" => Some(Format::Scorestrip),
            "json" => Some(Format::Espn),
            _ => None,
        }
    }

    /// The syntax the document is written in, for "malformed …" errors.
    pub fn syntax(self) -> &'static str {
        match self {
            Format::Scorestrip => "XML",
            Format::Espn => "JSON",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tells the format from the first non-blank byte: `<` is scorestrip XML,
/// `{` is ESPN JSON. Both formats are fixed by their first byte, so this
/// never guesses; anything else (an HTML error page starts with `<` too,
/// and is then refused by the scorestrip parser by name) is an error that
/// says what the document starts with.
pub fn detect(doc: &[u8]) -> Result<Format, FeedError> {
    // A UTF-8 byte order mark is not content.
    let doc = doc.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(doc);
    match doc.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Ok(Format::Scorestrip),
        Some(b'{') => Ok(Format::Espn),
        Some(&other) => Err(FeedError::UnknownFormat(format!(
            "the document starts with {:?}",
            char::from(other)
        ))),
        None => Err(FeedError::UnknownFormat("the document is empty".into())),
    }
}

/// Parses one whole document into a week: in `format`, or in the format
/// [`detect`] finds when `None` (`--feed-format auto`). All or nothing, as
/// each parser is.
pub fn parse(doc: &[u8], format: Option<Format>) -> Result<Week, FeedError> {
    let format = match format {
        Some(format) => format,
        None => detect(doc)?,
    };
    match format {
        Format::Scorestrip => scorestrip::parse(doc),
        Format::Espn => espn::parse(doc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_non_blank_byte_names_the_format() {
        assert_eq!(detect(b"<ss/>").ok(), Some(Format::Scorestrip));
        assert_eq!(
            detect(b" \r\n\t<?xml version=\"1.0\"?>").ok(),
            Some(Format::Scorestrip)
        );
        assert_eq!(detect(b"{\"events\":[]}").ok(), Some(Format::Espn));
        assert_eq!(detect(b"\xEF\xBB\xBF\n{}").ok(), Some(Format::Espn));
        let err = detect(b"  [1]").expect_err("array").to_string();
        assert!(
            err.contains("'['") && err.contains("--feed-format"),
            "{err}"
        );
        assert!(detect(b" \n").is_err() && detect(b"").is_err());
    }

    #[test]
    fn parse_follows_the_format_given_or_detected() {
        let ss = include_bytes!("../../../../tests/fixtures/ss-2015-w1-final.xml");
        let espn = include_bytes!("../../../../tests/fixtures/espn-2015-w1-final.json");
        assert_eq!(parse(ss, None).expect("auto xml").games.len(), 16);
        assert_eq!(parse(espn, None).expect("auto json").games.len(), 16);
        assert_eq!(
            parse(espn, Some(Format::Espn)).expect("espn").games.len(),
            16
        );
        // Forced to the wrong format, the parser of that format refuses it.
        let err = parse(espn, Some(Format::Scorestrip)).expect_err("json as xml");
        assert!(err.to_string().starts_with("scorestrip: "), "{err}");
        let err = parse(ss, Some(Format::Espn)).expect_err("xml as json");
        assert!(err.to_string().starts_with("espn: malformed JSON"), "{err}");
    }

    #[test]
    fn extensions_round_trip() {
        for f in [Format::Scorestrip, Format::Espn] {
            assert_eq!(Format::from_extension(f.extension()), Some(f));
        }
        assert_eq!(Format::from_extension("txt"), None);
    }
}
