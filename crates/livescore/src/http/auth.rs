//! Access control: who may follow and publish which topics.
//!
//! Signed tokens (JWT) say who a client is (`sub`, `name`) and what it may
//! do (`livescore.subscribe` / `livescore.publish`: topic patterns). Topics
//! matching `--private-topics` (every topic with `--auth required`) need a
//! token whose grant covers them; the rest stay public, so a server started
//! without these flags behaves exactly as before.
//!
//! One check, [`Auth::authorize`], stands before every subscription: SSE
//! through hyper, SSE served on the socket, and each WebSocket `subscribe`.
//! They find the token the same way ([`token_from`]) and answer the same
//! errors, so no path is a way around another. The token itself is never
//! logged nor echoed: errors name the topic and the reason, not the token.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::error::ApiError;
use super::live::Live;
use crate::model;

pub mod jwks;

pub use jwks::Jwks;

/// The cookie a browser page may carry its token in.
pub const COOKIE_NAME: &str = "livescore_token";
/// The query parameter for clients that can set neither a header nor a
/// cookie (`EventSource` across origins).
pub const QUERY_PARAM: &str = "access_token";
/// Clock difference tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// The latest time a token's `exp`, `nbf` or `iat` may name: the end of
/// the year 9999 (RFC 3339's last second). A later one, or a negative one,
/// is "claims are malformed": such a time cannot be a clock reading, and
/// near 2^63 seconds it cannot even be added to the clock without
/// overflowing (which used to panic the connection's task).
pub const LATEST_CLAIM_SECS: u64 = 253_402_300_799;

/// A topic pattern of `--private-topics` and of a token's grants: an exact
/// topic, a prefix ending in `/*` (`user/42/*`: every topic under
/// `user/42/`), or `*` (every topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Every topic.
    Any,
    /// Every topic starting with this (which ends in `/`).
    Prefix(String),
    /// This topic.
    Exact(String),
}

impl Pattern {
    /// Whether `topic` is one this pattern names.
    pub fn covers(&self, topic: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Prefix(p) => topic.starts_with(p.as_str()) && topic.len() > p.len(),
            Pattern::Exact(t) => t == topic,
        }
    }
}

impl FromStr for Pattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "*" {
            return Ok(Pattern::Any);
        }
        let (topic, prefix) = match s.strip_suffix("/*") {
            Some(head) => (head, true),
            None => (s, false),
        };
        if !model::valid_topic(topic) || topic.contains('*') {
            return Err(format!(
                "{s:?} is not a topic pattern: a topic, a prefix ending in /* (user/42/*) or *"
            ));
        }
        Ok(if prefix {
            Pattern::Prefix(format!("{topic}/"))
        } else {
            Pattern::Exact(topic.to_string())
        })
    }
}

/// A comma-separated list of patterns (`--private-topics user/*,private/*`).
pub fn parse_patterns(s: &str) -> Result<Vec<Pattern>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(Pattern::from_str)
        .collect()
}

/// Which subscriptions need a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Only topics matching `--private-topics`.
    #[default]
    Optional,
    /// Every topic.
    Required,
}

/// The key tokens are verified with.
#[derive(Clone)]
pub enum KeySource {
    /// HS256 with a shared secret (`--jwt-secret`).
    Secret(Vec<u8>),
    /// RS256 or ES256 with a public key in PEM (`--jwt-public-key FILE`).
    PublicKeyPem(Vec<u8>),
    /// RS256 or ES256 keys published by an identity provider, chosen by
    /// `kid` (`--jwks-url URL`).
    Jwks(String),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Secret(_) => f.write_str("Secret(<redacted>)"),
            KeySource::PublicKeyPem(_) => f.write_str("PublicKeyPem"),
            KeySource::Jwks(url) => write!(f, "Jwks({url})"),
        }
    }
}

/// Access control settings.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// How tokens are verified; `None`: no token is accepted.
    pub key: Option<KeySource>,
    /// `--jwt-audience`: a token's `aud` must name it.
    pub audience: Option<String>,
    /// `--jwt-issuer`: a token's `iss` must be it.
    pub issuer: Option<String>,
    /// Topics that need a token.
    pub private: Vec<Pattern>,
    /// `--auth required`: every topic needs one.
    pub mode: AuthMode,
}

/// A configuration that cannot work, said at start.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The PEM is not an RSA or EC public key.
    #[error("--jwt-public-key: not an RSA or EC (P-256) public key in PEM")]
    BadKey,
    /// Private topics without a way to verify the tokens they need.
    #[error(
        "--private-topics and --auth required need --jwt-secret, --jwt-public-key or --jwks-url"
    )]
    NoKey,
    /// The key set could not be fetched or used.
    #[error("--jwks-url {0}")]
    Jwks(String),
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token, for a topic that needs one (401).
    #[error(
        "topic {0:?} needs a token (Authorization: Bearer, the livescore_token cookie or ?access_token=)"
    )]
    Missing(String),
    /// A token that does not verify (401): the reason, never the token.
    #[error("bad token: {0}")]
    Invalid(&'static str),
    /// A valid token whose grant does not cover the topic (403).
    #[error("the token does not allow subscribing to {0:?}")]
    NotAllowed(String),
    /// A valid token whose grant does not cover the publish (403).
    #[error("the token does not allow publishing on {0:?}")]
    PublishNotAllowed(String),
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Missing(_) | AuthError::Invalid(_) => {
                ApiError::Unauthorized(err.to_string())
            }
            AuthError::NotAllowed(_) | AuthError::PublishNotAllowed(_) => {
                ApiError::Forbidden(err.to_string())
            }
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    name: Option<String>,
    exp: u64,
    /// Numbers of any kind, so that a fractional time (RFC 7519 allows
    /// one) parses and a bad one is refused by range, not by type.
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    livescore: Grants,
}

impl Claims {
    /// `exp`, `nbf` and `iat` within 0 ..= [`LATEST_CLAIM_SECS`], then
    /// `nbf` honoured (with [`LEEWAY`]); `exp` itself was checked by the
    /// decoder. The range comes first so a far-future `nbf` is called
    /// malformed, not "not yet valid".
    fn check_times(&self, now: SystemTime) -> Result<(), AuthError> {
        let in_range = |t: f64| (0.0..=LATEST_CLAIM_SECS as f64).contains(&t);
        if self.exp > LATEST_CLAIM_SECS
            || !self.nbf.is_none_or(in_range)
            || !self.iat.is_none_or(in_range)
        {
            return Err(AuthError::Invalid(MALFORMED));
        }
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        if let Some(nbf) = self.nbf {
            if nbf > (now + LEEWAY).as_secs_f64() {
                return Err(AuthError::Invalid(NOT_YET_VALID));
            }
        }
        Ok(())
    }
}

/// The reason given for claims that are not what a token's claims are.
const MALFORMED: &str = "claims are malformed";
/// The reason given for a token used before its `nbf`.
const NOT_YET_VALID: &str = "not valid yet (nbf)";

#[derive(Default, Deserialize)]
struct Grants {
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    publish: Vec<String>,
}

/// A verified token: who, until when, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `sub`: the user.
    pub sub: Option<String>,
    /// `name`: shown in chat.
    pub name: Option<String>,
    /// `exp`: a stream that needed this token ends then.
    pub expires: SystemTime,
    subscribe: Vec<Pattern>,
    publish: Vec<Pattern>,
}

impl Grant {
    /// Whether the token lets its holder follow `topic`.
    pub fn may_subscribe(&self, topic: &str) -> bool {
        self.subscribe.iter().any(|p| p.covers(topic))
    }

    /// Whether the token lets its holder publish on `topic`.
    pub fn may_publish(&self, topic: &str) -> bool {
        self.publish.iter().any(|p| p.covers(topic))
    }

    /// When, on the runtime's clock, a stream that needed this token ends.
    pub fn deadline(&self) -> tokio::time::Instant {
        let left = self
            .expires
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        tokio::time::Instant::now() + left
    }
}

/// Where the key of a token comes from.
enum Keys {
    /// One key, one algorithm (a secret or a PEM public key).
    Fixed(DecodingKey),
    /// The provider's key set, by `kid`.
    Jwks(Arc<Jwks>),
}

struct Verifier {
    keys: Keys,
    /// Everything but the algorithm, which the key decides.
    validation: Validation,
}

/// The node's access control; cheap to clone, and every clone sees a key
/// a config reload puts in ([`Auth::replace_keys`]).
#[derive(Clone, Default)]
pub struct Auth {
    verifier: Live<Option<Arc<Verifier>>>,
    private: Arc<[Pattern]>,
    required: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.accepts_tokens())
            .field("private", &self.private)
            .field("required", &self.required)
            .finish()
    }
}

impl Auth {
    /// Checks the configuration (the key parses, private topics have a
    /// key to verify their tokens with).
    pub fn new(config: AuthConfig) -> Result<Self, AuthSetupError> {
        let required = config.mode == AuthMode::Required;
        let verifier = match &config.key {
            None if required || !config.private.is_empty() => return Err(AuthSetupError::NoKey),
            None => None,
            Some(key) => Some(Arc::new(verifier(key, &config)?)),
        };
        Ok(Self {
            verifier: Live::new(verifier),
            private: config.private.into(),
            required,
        })
    }

    fn current(&self) -> Option<Arc<Verifier>> {
        self.verifier.get()
    }

    /// Takes the key, audience and issuer of `new` (a config reload: a
    /// rotated secret or public key) for every token verified from now on;
    /// streams already open keep the grant they were given. Only a fixed
    /// key replaces a fixed key: turning tokens on or off, or moving to or
    /// from a JWKS (whose refresher runs from the start), is refused with
    /// the reason and needs a restart.
    pub fn replace_keys(&self, new: &Auth) -> Result<(), &'static str> {
        let fixed = |v: &Option<Arc<Verifier>>| {
            matches!(
                v.as_deref(),
                Some(Verifier {
                    keys: Keys::Fixed(_),
                    ..
                })
            )
        };
        let next = new.current();
        self.verifier.update(|slot| {
            if !fixed(slot) || !fixed(&next) {
                return Err("a JWKS, or tokens turned on or off");
            }
            *slot = next;
            Ok(())
        })
    }

    /// Whether following `topic` needs a token.
    pub fn is_private(&self, topic: &str) -> bool {
        self.required || self.private.iter().any(|p| p.covers(topic))
    }

    /// The provider's key set, when tokens are verified with one: the app
    /// fetches it at start and runs its refresher.
    pub fn jwks(&self) -> Option<Arc<Jwks>> {
        match &self.current()?.keys {
            Keys::Jwks(jwks) => Some(jwks.clone()),
            Keys::Fixed(_) => None,
        }
    }

    /// Whether tokens are accepted at all (a key is configured).
    pub fn accepts_tokens(&self) -> bool {
        self.current().is_some()
    }

    /// Verifies a token: signature, `exp` (required), `nbf`, audience and
    /// issuer when configured.
    pub fn verify(&self, token: &str) -> Result<Grant, AuthError> {
        let Some(v) = self.current() else {
            return Err(AuthError::Invalid("this server accepts no tokens"));
        };
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::Invalid(reason(e.kind()));
        let data = match &v.keys {
            Keys::Fixed(key) => jsonwebtoken::decode::<Claims>(token, key, &v.validation),
            Keys::Jwks(jwks) => {
                let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
                let kid = header
                    .kid
                    .ok_or(AuthError::Invalid("no key id (kid) in the header"))?;
                let (key, alg) = jwks
                    .key(&kid)
                    .ok_or(AuthError::Invalid("unknown key id (kid)"))?;
                let mut validation = v.validation.clone();
                validation.algorithms = vec![alg];
                jsonwebtoken::decode::<Claims>(token, &key, &validation)
            }
        }
        .map_err(invalid)?;
        let c = data.claims;
        c.check_times(SystemTime::now())?;
        let patterns = |list: Vec<String>| -> Vec<Pattern> {
            // A pattern that does not parse grants nothing.
            list.iter().filter_map(|p| p.parse().ok()).collect()
        };
        Ok(Grant {
            sub: c.sub,
            name: c.name,
            // In range (check_times): no overflow.
            expires: UNIX_EPOCH + Duration::from_secs(c.exp),
            subscribe: patterns(c.livescore.subscribe),
            publish: patterns(c.livescore.publish),
        })
    }

    /// The one check before any subscription: every topic is public or
    /// covered by the token's grant. The grant comes back when one was
    /// needed, so the stream can end when it expires; a token given for
    /// public topics only is not looked at.
    pub fn authorize(
        &self,
        topics: &[String],
        token: Option<&str>,
    ) -> Result<Option<Grant>, AuthError> {
        let Some(first) = topics.iter().find(|t| self.is_private(t)) else {
            return Ok(None);
        };
        let token = token.ok_or_else(|| AuthError::Missing(first.clone()))?;
        let grant = self.verify(token)?;
        if let Some(t) = topics
            .iter()
            .find(|t| self.is_private(t) && !grant.may_subscribe(t))
        {
            return Err(AuthError::NotAllowed(t.clone()));
        }
        Ok(Some(grant))
    }

    /// A token that lets its holder publish on `topic`.
    pub fn authorize_publish(&self, topic: &str, token: &str) -> Result<Grant, AuthError> {
        let grant = self.verify(token)?;
        if !grant.may_publish(topic) {
            return Err(AuthError::PublishNotAllowed(topic.to_string()));
        }
        Ok(grant)
    }
}

fn verifier(key: &KeySource, config: &AuthConfig) -> Result<Verifier, AuthSetupError> {
    let (keys, alg) = match key {
        KeySource::Secret(secret) => (
            Keys::Fixed(DecodingKey::from_secret(secret)),
            Algorithm::HS256,
        ),
        KeySource::PublicKeyPem(pem) => match DecodingKey::from_rsa_pem(pem) {
            Ok(k) => (Keys::Fixed(k), Algorithm::RS256),
            Err(_) => match DecodingKey::from_ec_pem(pem) {
                Ok(k) => (Keys::Fixed(k), Algorithm::ES256),
                Err(_) => return Err(AuthSetupError::BadKey),
            },
        },
        // Per token, from its key; RS256 until then.
        KeySource::Jwks(url) => (Keys::Jwks(Jwks::new(url)?), Algorithm::RS256),
    };
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY.as_secs();
    validation.validate_exp = true;
    // `nbf` is checked after its range (Claims::check_times): the
    // decoder would call a far-future one "not yet valid".
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp"]);
    match &config.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    if let Some(iss) = &config.issuer {
        validation.set_issuer(&[iss]);
    }
    Ok(Verifier { keys, validation })
}

/// Why a token failed, in words that help its holder and reveal nothing.
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => NOT_YET_VALID,
        ErrorKind::InvalidSignature => "signature does not verify",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAlgorithm => "algorithm not accepted",
        ErrorKind::MissingRequiredClaim(_) => "a required claim (exp) is missing",
        ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => MALFORMED,
        _ => "not a valid JWT",
    }
}

/// The token of a request, looked for the same way on every transport:
/// `Authorization: Bearer`, then the `livescore_token` cookie, then
/// `?access_token=`.
pub fn token_from(
    authorization: Option<&[u8]>,
    cookie: Option<&[u8]>,
    query: Option<&str>,
) -> Option<String> {
    // A header value is visible ASCII (what `HeaderValue::to_str` takes).
    let bearer = authorization
        .filter(|v| v.is_ascii())
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    if let Some(t) = bearer {
        return Some(t.to_string());
    }
    let from_cookie = cookie
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| {
            v.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == COOKIE_NAME).then(|| value.trim().trim_matches('"'))
            })
        })
        .filter(|t| !t.is_empty());
    if let Some(t) = from_cookie {
        return Some(t.to_string());
    }
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == QUERY_PARAM)
        .map(|(_, v)| v.into_owned())
        .filter(|t| !t.is_empty())
}

/// The token of an HTTP request (through hyper).
pub fn request_token(headers: &axum::http::HeaderMap, query: Option<&str>) -> Option<String> {
    token_from(
        headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
        headers
            .get(axum::http::header::COOKIE)
            .map(|v| v.as_bytes()),
        query,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"test-secret-of-enough-length-0123456789";

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs()
    }

    fn token(claims: serde_json::Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("sign")
    }

    fn auth(private: &str, mode: AuthMode) -> Auth {
        Auth::new(AuthConfig {
            key: Some(KeySource::Secret(SECRET.to_vec())),
            private: parse_patterns(private).expect("patterns"),
            mode,
            ..AuthConfig::default()
        })
        .expect("auth")
    }

    #[test]
    fn a_fixed_key_is_replaced_in_every_clone_and_nothing_else_is() {
        let a = auth("user/*", AuthMode::Optional);
        let clone = a.clone();
        let claims = json!({"sub": "1", "exp": now() + 60});
        assert!(clone.verify(&token(claims.clone())).is_ok());
        let other = Auth::new(AuthConfig {
            key: Some(KeySource::Secret(
                b"another-secret-of-enough-length-0123".to_vec(),
            )),
            ..AuthConfig::default()
        })
        .expect("auth");
        a.replace_keys(&other).expect("a secret for a secret");
        assert!(
            clone.verify(&token(claims)).is_err(),
            "the old secret is gone"
        );
        // Tokens off, or a key set with its own refresher: a restart.
        assert!(a.replace_keys(&Auth::default()).is_err());
        let jwks = Auth::new(AuthConfig {
            key: Some(KeySource::Jwks("https://auth.example/jwks.json".into())),
            ..AuthConfig::default()
        })
        .expect("auth");
        assert!(a.replace_keys(&jwks).is_err());
        assert!(clone.accepts_tokens());
    }

    #[test]
    fn patterns_name_a_topic_a_prefix_or_everything() {
        let p: Vec<Pattern> = parse_patterns("user/42/*, news ,*").expect("parse");
        assert!(p[0].covers("user/42/alerts") && !p[0].covers("user/420/x"));
        assert!(!p[0].covers("user/42/") && !p[0].covers("user/42"));
        assert!(p[1].covers("news") && !p[1].covers("news/x"));
        assert!(p[2].covers("anything"));
        assert!(parse_patterns("user/*/x").is_err());
        assert!(parse_patterns("bad topic").is_err());
        assert_eq!(parse_patterns(""), Ok(vec![]));
    }

    #[test]
    fn public_topics_need_nothing_and_private_ones_a_covering_grant() {
        let a = auth("user/*", AuthMode::Optional);
        let topics = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(a.authorize(&topics(&["scores"]), None), Ok(None));
        assert_eq!(
            a.authorize(&topics(&["scores", "user/42/a"]), None),
            Err(AuthError::Missing("user/42/a".into()))
        );
        let t42 = token(json!({"sub": "42", "exp": now() + 600,
            "livescore": {"subscribe": ["user/42/*"]}}));
        let grant = a
            .authorize(&topics(&["scores", "user/42/a"]), Some(&t42))
            .expect("allowed")
            .expect("a grant");
        assert_eq!(grant.sub.as_deref(), Some("42"));
        assert_eq!(
            a.authorize(&topics(&["user/43/a"]), Some(&t42)),
            Err(AuthError::NotAllowed("user/43/a".into()))
        );
        assert!(matches!(
            a.authorize(&topics(&["user/42/a"]), Some("not.a.jwt")),
            Err(AuthError::Invalid(_))
        ));
        // --auth required: the scoreboard too.
        let req = auth("", AuthMode::Required);
        assert!(matches!(
            req.authorize(&topics(&["scores"]), None),
            Err(AuthError::Missing(_))
        ));
    }

    #[test]
    fn times_out_of_range_are_malformed_never_a_panic() {
        let a = auth("user/*", AuthMode::Optional);
        let malformed = Err(AuthError::Invalid("claims are malformed"));
        let far = [
            json!(LATEST_CLAIM_SECS + 1),
            json!(1u64 << 63),
            json!(u64::MAX),
            json!(1e300),
            json!(-1),
        ];
        for t in &far {
            let exp = token(json!({"exp": t, "livescore": {"subscribe": ["*"]}}));
            assert_eq!(a.verify(&exp), malformed, "exp {t}");
            for claim in ["nbf", "iat"] {
                let mut claims = json!({"exp": now() + 600});
                claims[claim] = t.clone();
                assert_eq!(a.verify(&token(claims)), malformed, "{claim} {t}");
            }
        }
        let kind = json!({"exp": now() + 600, "iat": "yesterday"});
        assert_eq!(a.verify(&token(kind)), malformed);
        // The last second of 9999 is a time; a fractional iat is too.
        let last = token(json!({"exp": LATEST_CLAIM_SECS, "iat": 1.5e9, "nbf": now() - 5}));
        assert!(a.verify(&last).is_ok());
    }

    #[test]
    fn expiry_nbf_signature_audience_are_enforced() {
        let a = auth("user/*", AuthMode::Optional);
        let grant = json!({"subscribe": ["*"]});
        let expired = token(json!({"exp": now() - 120, "livescore": grant}));
        assert_eq!(a.verify(&expired), Err(AuthError::Invalid("expired")));
        let early = token(json!({"exp": now() + 600, "nbf": now() + 300, "livescore": grant}));
        assert_eq!(
            a.verify(&early),
            Err(AuthError::Invalid("not valid yet (nbf)"))
        );
        let no_exp = token(json!({"livescore": grant}));
        assert!(a.verify(&no_exp).is_err());
        let forged = encode(
            &Header::default(),
            &json!({"exp": now() + 600}),
            &EncodingKey::from_secret(b"another secret"),
        )
        .expect("sign");
        assert_eq!(
            a.verify(&forged),
            Err(AuthError::Invalid("signature does not verify"))
        );
        let aud = Auth::new(AuthConfig {
            key: Some(KeySource::Secret(SECRET.to_vec())),
            audience: Some("livescore".into()),
            ..AuthConfig::default()
        })
        .expect("auth");
        let wrong = token(json!({"exp": now() + 600, "aud": "other"}));
        assert_eq!(
            aud.verify(&wrong),
            Err(AuthError::Invalid("wrong audience"))
        );
        let right = token(json!({"exp": now() + 600, "aud": "livescore"}));
        assert!(aud.verify(&right).is_ok());
    }

    #[test]
    fn the_token_is_found_the_same_way_everywhere() {
        assert_eq!(
            token_from(
                Some(b"Bearer abc"),
                Some(b"livescore_token=def"),
                Some("access_token=ghi")
            ),
            Some("abc".into())
        );
        assert_eq!(
            token_from(
                None,
                Some(b"a=1; livescore_token=def"),
                Some("access_token=ghi")
            ),
            Some("def".into())
        );
        assert_eq!(
            token_from(None, None, Some("topic=x&access_token=g%2Bh")),
            Some("g+h".into())
        );
        assert_eq!(token_from(Some(b"Basic xyz"), None, None), None);
        assert_eq!(token_from(None, None, Some("access_token=")), None);
    }

    #[test]
    fn private_topics_without_a_key_are_refused_at_start() {
        let err = Auth::new(AuthConfig {
            private: parse_patterns("user/*").expect("patterns"),
            ..AuthConfig::default()
        });
        assert!(matches!(err, Err(AuthSetupError::NoKey)));
        let bad = Auth::new(AuthConfig {
            key: Some(KeySource::PublicKeyPem(b"not a pem".to_vec())),
            ..AuthConfig::default()
        });
        assert!(matches!(bad, Err(AuthSetupError::BadKey)));
    }
}
