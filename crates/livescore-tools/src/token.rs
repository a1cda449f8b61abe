//! `livescore token`: mints an HS256 token with the server's secret, for
//! tests, scripts and small deployments without an identity provider
//! (docs/SECURITY.md). Prints the token alone, so `$(livescore token …)`
//! works in a shell.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

/// `livescore token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The secret the server verifies with (its `--jwt-secret`).
    /// Example: --jwt-secret "$LIVESCORE_JWT_SECRET"
    #[arg(long, env = "LIVESCORE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,

    /// The user (`sub`).
    /// Example: --sub 42
    #[arg(long)]
    pub sub: String,

    /// The name chat shows (`name`).
    /// Example: --name Ada
    #[arg(long)]
    pub name: Option<String>,

    /// Topics the token may follow (patterns: `topic`, `prefix/*`, `*`);
    /// repeat or separate with commas.
    /// Example: --subscribe 'user/42/*'
    #[arg(long, value_delimiter = ',', value_parser = pattern)]
    pub subscribe: Vec<String>,

    /// Topics the token may publish on (patterns as above).
    /// Example: --publish 'user/42/*'
    #[arg(long, value_delimiter = ',', value_parser = pattern)]
    pub publish: Vec<String>,

    /// How long the token is valid.
    /// Example: --ttl 1h
    #[arg(long, default_value = "1h", value_parser = livescore::cli::parse_duration)]
    pub ttl: Duration,

    /// `aud`, when the server checks one (`--jwt-audience`).
    #[arg(long)]
    pub audience: Option<String>,

    /// `iss`, when the server checks one (`--jwt-issuer`).
    #[arg(long)]
    pub issuer: Option<String>,
}

/// A pattern the server will accept, passed on as given.
fn pattern(s: &str) -> Result<String, String> {
    s.parse::<livescore::http::auth::Pattern>()
        .map(|_| s.trim().to_string())
}

/// The signed token.
pub fn mint(args: &TokenArgs) -> Result<String, String> {
    if args.jwt_secret.is_empty() {
        return Err("--jwt-secret is empty".into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    let mut claims = json!({
        "sub": args.sub,
        "iat": now.as_secs(),
        "exp": (now + args.ttl).as_secs(),
        "livescore": {"subscribe": args.subscribe, "publish": args.publish},
    });
    if let Some(name) = &args.name {
        claims["name"] = json!(name);
    }
    if let Some(aud) = &args.audience {
        claims["aud"] = json!(aud);
    }
    if let Some(iss) = &args.issuer {
        claims["iss"] = json!(iss);
    }
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(args.jwt_secret.as_bytes()),
    )
    .map_err(|e| format!("cannot sign: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use livescore::http::auth::{Auth, AuthConfig, KeySource};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TokenArgs,
    }

    #[test]
    fn a_minted_token_verifies_with_the_same_secret_and_grants_what_was_asked() {
        let cli = Cli::try_parse_from([
            "token",
            "--jwt-secret",
            "s3cret-s3cret",
            "--sub",
            "42",
            "--subscribe",
            "user/42/*,scores",
            "--publish",
            "user/42/*",
            "--ttl",
            "10m",
        ])
        .expect("parses");
        let token = mint(&cli.args).expect("signed");
        let auth = Auth::new(AuthConfig {
            key: Some(KeySource::Secret(b"s3cret-s3cret".to_vec())),
            ..AuthConfig::default()
        })
        .expect("auth");
        let grant = auth.verify(&token).expect("verifies");
        assert_eq!(grant.sub.as_deref(), Some("42"));
        assert!(grant.may_subscribe("user/42/a") && grant.may_subscribe("scores"));
        assert!(!grant.may_subscribe("user/43/a"));
        assert!(grant.may_publish("user/42/a") && !grant.may_publish("scores"));
        assert!(Cli::try_parse_from([
            "token",
            "--jwt-secret",
            "x",
            "--sub",
            "1",
            "--subscribe",
            "a/*/b"
        ])
        .is_err());
    }
}
