//! How a feed URL is shown: the one place that decides which parts of it
//! are secrets. Health (`feed.last_error`), logs, spans, errors and the
//! `ingest`/`record` output all show a feed through [`redacted`]; text
//! that someone else wrote about it (a library's error, the first bytes
//! of a document that quotes the request) goes through [`scrub`] before
//! it is shown. The fetcher alone uses the URL itself.
//!
//! Secrets: the user info (`user:pw@`), and the value of every query
//! parameter whose name, case-insensitive, contains `key`, `token`,
//! `sig`, `pass`, `secret` or `auth` (so `apikey`, `api_key`,
//! `access_token`, `signature`, `password`, `X-Amz-Signature`, …).

use reqwest::Url;

use super::FeedError;

/// What a query parameter's name contains when its value is a secret.
/// Substrings, so every spelling of the usual names (`apiKey`, `api_key`,
/// `access_token`, `signature`) is caught; a harmless parameter that
/// happens to match (`monkey`) is only hidden, never broken.
const SECRET_NAME_PARTS: &[&str] = &["key", "token", "sig", "pass", "secret", "auth"];

/// What a secret is shown as.
const MASK: &str = "***";

/// Shorter secrets are not searched for in free text by [`scrub`]: a
/// one- or two-character value would blank out every occurrence of those
/// letters and leave the message unreadable, while revealing next to
/// nothing. They are still masked in [`redacted`].
const MIN_SCRUBBED_CHARS: usize = 3;

/// Whether a query parameter named `name` carries a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAME_PARTS.iter().any(|part| name.contains(part))
}

/// A feed URL as anything outside the fetcher shows it: the user info
/// and every secret query value replaced by `***`
/// (`https://***@feed.example/ss.xml?week=1&apikey=***`).
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        // Only fails for URLs that cannot have user info (no host), which
        // then have none to hide.
        let _ = shown.set_username(MASK);
        let _ = shown.set_password(None);
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_name(&k) {
                    MASK.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// `text` about `url` (an error message, a document's first bytes) with
/// the URL shown [`redacted`] and every secret of it, in any spelling it
/// may have there (as in the URL, percent-decoded, form-decoded), replaced
/// by `***`. For text we did not compose ourselves: a library may quote
/// the URL without its user info (reqwest moves it into a header), a
/// feed's error page may echo the request line.
pub fn scrub(text: &str, url: &Url) -> String {
    let mut out = text.replace(url.as_str(), &redacted(url));
    let mut secrets = secrets(url);
    // Longest first, so a secret that contains another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        if secret.chars().count() >= MIN_SCRUBBED_CHARS && secret != MASK {
            out = out.replace(&secret, MASK);
        }
    }
    out
}

/// `err` about a document or fetch of `url` with every text in it
/// [`scrub`]bed: a document can quote its request (an error page, a
/// value echoed into a field) and its errors quote the document.
pub fn scrub_error(err: FeedError, url: &Url) -> FeedError {
    let s = |text: String| scrub(&text, url);
    match err {
        FeedError::Syntax {
            format,
            position,
            message,
        } => FeedError::Syntax {
            format,
            position,
            message: s(message),
        },
        FeedError::NoWeek { format, message } => FeedError::NoWeek {
            format,
            message: s(message),
        },
        FeedError::BadWeek {
            format,
            field,
            problem,
        } => FeedError::BadWeek {
            format,
            field: s(field),
            problem: s(problem),
        },
        FeedError::Unsupported {
            format,
            league,
            problem,
        } => FeedError::Unsupported {
            format,
            league: s(league),
            problem: s(problem),
        },
        FeedError::MissingId {
            format,
            index,
            label,
            field,
        } => FeedError::MissingId {
            format,
            index,
            label: s(label),
            field,
        },
        FeedError::BadGame {
            format,
            game,
            field,
            problem,
        } => FeedError::BadGame {
            format,
            game: s(game),
            field: s(field),
            problem: s(problem),
        },
        FeedError::UnknownFormat(m) => FeedError::UnknownFormat(s(m)),
        FeedError::Unreachable(m) => FeedError::Unreachable(s(m)),
        FeedError::Recording(m) => FeedError::Recording(s(m)),
        // The bus's own errors never saw the feed.
        err @ FeedError::Bus(_) => err,
    }
}

/// Every spelling of every secret in `url`.
fn secrets(url: &Url) -> Vec<String> {
    let mut found = Vec::new();
    let mut add = |raw: &str| {
        found.push(raw.to_string());
        // The decoded forms: `%2B` and `+` as a library or a server may
        // print them back.
        let pair = format!("v={raw}");
        for (_, decoded) in form_urlencoded::parse(pair.as_bytes()) {
            found.push(decoded.into_owned());
        }
        found.push(raw.replace('+', " "));
    };
    if let Some(pw) = url.password() {
        add(pw);
    }
    for part in url.query().unwrap_or("").split('&') {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name: String = form_urlencoded::parse(format!("{name}=").as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect();
        if is_secret_name(&name) && !value.is_empty() {
            add(value);
        }
    }
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn user_info_and_every_secret_looking_query_value_are_masked() {
        let u = url("https://user:pw@feed.invalid/ss.xml?week=1&apiKey=abc&sig=xyz");
        assert_eq!(
            redacted(&u),
            "https://***@feed.invalid/ss.xml?week=1&apiKey=***&sig=***"
        );
        for name in [
            "key",
            "apikey",
            "api_key",
            "token",
            "access_token",
            "secret",
            "password",
            "sig",
            "signature",
            "APIKEY",
            "Access_Token",
        ] {
            let u = url(&format!("http://h.invalid/?{name}=S3CRET&week=1"));
            assert_eq!(
                redacted(&u),
                format!("http://h.invalid/?{name}=***&week=1"),
                "{name}"
            );
        }
        let plain = url("https://feed.invalid/ss.xml?week=1");
        assert_eq!(redacted(&plain), "https://feed.invalid/ss.xml?week=1");
    }

    #[test]
    fn scrub_masks_secrets_however_a_library_quotes_the_url() {
        let u = url("http://user:pw%2Bx@127.0.0.1:1/ss.xml?apikey=AB%2FC+D&week=1");
        // reqwest quotes the URL without its user info.
        let text = "error sending request for url \
                    (http://127.0.0.1:1/ss.xml?apikey=AB%2FC+D&week=1): refused";
        let shown = scrub(text, &u);
        assert!(!shown.contains("AB%2FC"), "{shown}");
        assert!(shown.contains("apikey=***&week=1"), "{shown}");
        // Decoded, as an error page might echo it.
        let shown = scrub("no such key AB/C D, pw+x", &u);
        assert_eq!(shown, "no such key ***, ***");
        // The whole URL becomes its redacted form.
        assert_eq!(scrub(u.as_str(), &u), redacted(&u));
    }

    #[test]
    fn very_short_secrets_do_not_blank_out_free_text() {
        let u = url("http://h.invalid/?sig=a");
        assert_eq!(redacted(&u), "http://h.invalid/?sig=***");
        assert_eq!(scrub("a timeout", &u), "a timeout");
    }
}
