//! Getting a feed document (whatever its format): from a file, or over
//! HTTP the way a polite, production client does.
//!
//! HTTP: connect and total timeouts (a hung feed server must not stall the
//! loop), gzip, conditional GET with the validators of the last *accepted*
//! document (a 304 then costs no parse and no publish), a clear
//! User-Agent, and a few retries with exponential backoff and jitter on
//! errors that are worth retrying (5xx, 429, timeouts, connection errors).
//! A 4xx other than 408/429 is not retried: asking again will not help.
//!
//! This module only fetches bytes; it never parses or publishes, and never
//! names a format (that is `format`'s business).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderValue, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{StatusCode, Url};

use super::redact::{redacted, scrub, scrub_error};
use super::source::{Location, Source};
use super::FeedError;
use crate::backoff::Backoff;

/// Sent on every request so the feed's operator can tell who polls them.
pub const USER_AGENT: &str = concat!(
    "livescore/",
    env!("CARGO_PKG_VERSION"),
    " (score feed poller)"
);

/// Largest document accepted. A scorestrip week is a few KiB and an ESPN
/// scoreboard a few hundred; anything this big is neither, and reading it
/// unbounded would let a broken server fill our memory.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Timeouts and retry policy for HTTP feeds.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Longest wait for the TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest a whole attempt (connect, headers, body) may take; a server
    /// that hangs costs at most this per attempt.
    pub timeout: Duration,
    /// Attempts per fetch, the first included.
    pub attempts: u32,
    /// Backoff before the first retry; doubles each retry.
    pub backoff_base: Duration,
    /// Cap on a single backoff.
    pub backoff_max: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            attempts: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
        }
    }
}

/// HTTP cache validators of a document, sent back on the next request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

impl Validators {
    /// True when the next request is not conditional.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    /// Validators holding `etag`, for tests of what keeps or drops them.
    #[cfg(test)]
    pub(crate) fn with_etag(etag: &'static str) -> Self {
        Self {
            etag: Some(HeaderValue::from_static(etag)),
            last_modified: None,
        }
    }
}

/// What one fetch gave.
#[derive(Debug)]
pub enum Fetched {
    /// A document, with the validators to remember if it is accepted.
    Document {
        /// The (decompressed) body.
        body: Bytes,
        /// Its ETag / Last-Modified.
        validators: Validators,
    },
    /// 304: the document has not changed since the last accepted one.
    NotModified,
}

/// Fetches one source, remembering the validators of the last accepted
/// document.
pub struct Fetcher {
    source: Source,
    client: reqwest::Client,
    config: FetchConfig,
    validators: Validators,
}

/// One failed attempt: worth retrying or not.
enum Failure {
    Retry(FeedError),
    Fatal(FeedError),
}

impl Fetcher {
    /// A fetcher for `source`. Fails only if the TLS backend cannot start.
    pub fn new(source: Source, config: FetchConfig) -> Result<Self, FeedError> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .gzip(true)
            .build()
            .map_err(|e| FeedError::Unreachable(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            source,
            client,
            config,
            validators: Validators::default(),
        })
    }

    /// Its timeouts and retries (a new source gets the same).
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// The source it reads.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// `err`, about this source, as it may be shown: every secret of the
    /// URL masked wherever the text quotes it ([`scrub_error`]). Errors
    /// about a document pass through here before they reach a log,
    /// `/healthz` or the terminal, since a document can echo its request.
    pub fn shown(&self, err: FeedError) -> FeedError {
        match &self.source.location {
            Location::Http(url) => scrub_error(err, url),
            Location::File(_) => err,
        }
    }

    /// Asks for `date`'s board from now on (`dates=YYYYMMDD` on the URL):
    /// a day league's. Another day is another document, so the validators
    /// of the last one are dropped.
    pub fn set_day(&mut self, date: chrono::NaiveDate) {
        let Location::Http(url) = &mut self.source.location else {
            return;
        };
        let value = date.format("%Y%m%d").to_string();
        let others: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "dates")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let before = url.query().map(str::to_owned);
        url.query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair("dates", &value);
        if url.query() != before.as_deref() {
            self.validators = Validators::default();
        }
    }

    /// The validators the next request sends.
    pub fn validators(&self) -> &Validators {
        &self.validators
    }

    /// Remembers the validators of a document that was accepted, so the
    /// next request is conditional. Those of a rejected document are never
    /// kept: a 304 for a bad document would hide its fix forever.
    pub fn accept(&mut self, validators: Validators) {
        self.validators = validators;
    }

    /// Fetches the document, retrying transient failures with backoff.
    /// Cancel-safe: dropping the future abandons the request.
    pub async fn fetch(&self) -> Result<Fetched, FeedError> {
        let url = match &self.source.location {
            Location::File(path) => {
                let body = tokio::fs::read(path)
                    .await
                    .map_err(|e| FeedError::Unreachable(format!("{}: {e}", path.display())))?;
                return Ok(Fetched::Document {
                    body: Bytes::from(body),
                    validators: Validators::default(),
                });
            }
            Location::Http(url) => url,
        };
        let mut attempt = 1;
        loop {
            match self.attempt(url).await {
                Ok(fetched) => return Ok(fetched),
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::Retry(err)) if attempt >= self.config.attempts => return Err(err),
                Err(Failure::Retry(err)) => {
                    let delay = backoff(&self.config, attempt);
                    tracing::debug!(%err, attempt, ?delay, "feed fetch failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, url: &Url) -> Result<Fetched, Failure> {
        let mut req = self.client.get(url.clone());
        if let Some(etag) = &self.validators.etag {
            req = req.header(IF_NONE_MATCH, etag.clone());
        }
        if let Some(since) = &self.validators.last_modified {
            req = req.header(IF_MODIFIED_SINCE, since.clone());
        }
        let mut resp = req.send().await.map_err(|e| transport(url, e))?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            let err = FeedError::Unreachable(format!("{} answered HTTP {status}", redacted(url)));
            let transient = status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT;
            return Err(if transient {
                Failure::Retry(err)
            } else {
                Failure::Fatal(err)
            });
        }
        let too_big = || {
            Failure::Fatal(FeedError::Unreachable(format!(
                "{}: document larger than {MAX_DOCUMENT_BYTES} bytes",
                redacted(url)
            )))
        };
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_big());
        }
        let validators = Validators {
            etag: resp.headers().get(ETAG).cloned(),
            last_modified: resp.headers().get(LAST_MODIFIED).cloned(),
        };
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport(url, e))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Document {
            body: body.freeze(),
            validators,
        })
    }
}

/// A transport error (connect, DNS, timeout, TLS, reset, bad gzip), with
/// its whole cause chain on one line: reqwest's own message alone says only
/// "error sending request". reqwest quotes the URL in its message without
/// the user info (it moved that into a header), so the URL is taken out
/// of the error and ours put in front, redacted; the causes are scrubbed
/// too, in case one quotes the URL its own way.
fn transport(url: &Url, err: reqwest::Error) -> Failure {
    let timed_out = err.is_timeout();
    let cause = scrub(&crate::error_chain(&err.without_url()), url);
    let mut msg = format!("{}: {cause}", redacted(url));
    if timed_out && !msg.contains("timed out") {
        msg.push_str(": timed out");
    }
    // Transient by nature (a restart, a blip, a slow moment): retry.
    Failure::Retry(FeedError::Unreachable(msg))
}

/// Delay before retry number `attempt` (from 1): exponential from
/// `backoff_base`, capped at `backoff_max`, with equal jitter so many
/// pollers hit by one outage do not retry in lockstep, while the wait still
/// grows (the shared [`Backoff`] policy).
pub fn backoff(config: &FetchConfig, attempt: u32) -> Duration {
    Backoff::new(config.backoff_base, config.backoff_max)
        .jittered()
        .delay(attempt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let c = FetchConfig::default();
        for _ in 0..200 {
            let first = backoff(&c, 1);
            assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
            let third = backoff(&c, 3);
            assert!(third >= Duration::from_secs(1) && third <= Duration::from_secs(2));
            let late = backoff(&c, 40);
            assert!(late >= c.backoff_max / 2 && late <= c.backoff_max);
        }
    }

    #[test]
    fn user_agent_names_us_and_our_version() {
        assert!(USER_AGENT.starts_with(&format!("livescore/{}", env!("CARGO_PKG_VERSION"))));
    }
}
