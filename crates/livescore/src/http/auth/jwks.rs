//! `--jwks-url`: the identity provider's published keys (RFC 7517),
//! fetched at start, refreshed in the background and on an unknown `kid`,
//! chosen per token by `kid`.
//!
//! Verification never waits on the network: a token whose `kid` is not in
//! the cached set is refused at once and wakes the refresher, so the next
//! attempt (the client's reconnect) finds a key the provider just rotated
//! in. A rotated-out key stops verifying at the next refresh.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::AuthSetupError;
use crate::backoff::Backoff;

/// How often the key set is fetched again when nothing asks sooner.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// The least time between two fetches: an unknown `kid` (a rotation, or a
/// client sending garbage) triggers at most one fetch per this.
pub const MIN_REFETCH: Duration = Duration::from_secs(2);
/// Longest one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest key set read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The cached key set of one provider.
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    wanted: Notify,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("url", &self.url).finish()
    }
}

impl Jwks {
    /// A key set to fetch from `url` (not fetched yet: [`Jwks::fetch`]).
    pub fn new(url: &str) -> Result<Arc<Self>, AuthSetupError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(AuthSetupError::Jwks(format!("{url}: not an http(s) URL")));
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .user_agent(crate::feed::fetch::USER_AGENT)
            .build()
            .map_err(|e| AuthSetupError::Jwks(e.to_string()))?;
        Ok(Arc::new(Self {
            url: url.to_string(),
            client,
            keys: RwLock::new(HashMap::new()),
            wanted: Notify::new(),
        }))
    }

    /// The key for `kid`; `None` wakes the refresher.
    pub fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        let found = self
            .keys
            .read()
            .expect("jwks lock poisoned")
            .get(kid)
            .cloned();
        if found.is_none() {
            self.wanted.notify_one();
        }
        found
    }

    /// Fetches the key set and replaces the cached one whole; keys of a
    /// type or algorithm we do not verify are skipped (and said).
    pub async fn fetch(&self) -> Result<usize, AuthSetupError> {
        let err = |e: String| AuthSetupError::Jwks(format!("{}: {e}", self.url));
        let resp = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| err(crate::error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(err(format!("HTTP {}", resp.status())));
        }
        let body = resp.bytes().await.map_err(|e| err(e.to_string()))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(err(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| err(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                tracing::warn!("JWKS key without a kid skipped");
                continue;
            };
            // The key's `alg` when it names one, else its type's usual one.
            let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::RS256) | None) => {
                    Some(Algorithm::RS256)
                }
                (AlgorithmParameters::EllipticCurve(_), Some(KeyAlgorithm::ES256) | None) => {
                    Some(Algorithm::ES256)
                }
                _ => None,
            };
            match (alg, DecodingKey::from_jwk(jwk)) {
                (Some(alg), Ok(key)) => {
                    keys.insert(kid, (key, alg));
                }
                _ => tracing::warn!(kid, "JWKS key skipped: only RS256 and ES256 keys are used"),
            }
        }
        if keys.is_empty() {
            return Err(err("no usable key (RS256 or ES256 with a kid)".into()));
        }
        let n = keys.len();
        *self.keys.write().expect("jwks lock poisoned") = keys;
        Ok(n)
    }

    /// Refreshes every [`REFRESH_EVERY`], and soon after a token names a
    /// `kid` we do not have (at most once per [`MIN_REFETCH`]), until
    /// `cancel`. A failed fetch keeps the keys we have and is retried with
    /// backoff.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let backoff = Backoff::new(MIN_REFETCH, REFRESH_EVERY).jittered();
        let mut failures = 0;
        let mut wait = REFRESH_EVERY;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                () = self.wanted.notified() => {}
            }
            // Whatever woke us, never two fetches within MIN_REFETCH.
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(MIN_REFETCH) => {}
            }
            match self.fetch().await {
                Ok(n) => {
                    tracing::debug!(keys = n, "JWKS refreshed");
                    failures = 0;
                    wait = REFRESH_EVERY;
                }
                Err(err) => {
                    tracing::warn!(%err, "JWKS refresh failed; keeping the keys we have");
                    failures += 1;
                    wait = backoff.delay(failures);
                }
            }
        }
    }
}
