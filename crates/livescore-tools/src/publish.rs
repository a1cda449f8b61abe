//! `livescore publish`: put one event on a topic from a shell or a script,
//! through a server's `POST /api/publish` (with the bearer token) or,
//! once a shared bus exists, straight onto the bus.
//!
//! Prints the event id on success, so a script can log or resume from it.
//! Every failure is one line naming what to fix.

use std::time::Duration;

use clap::Args;
use reqwest::{StatusCode, Url};

use livescore::feed::fetch::USER_AGENT;
use livescore::model;

/// How long the whole request may take: one small POST to a server that
/// answers at once, so anything longer means it is not reachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `livescore publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Topic to publish on (letters, digits, `/-_.:`).
    /// Example: --topic news
    #[arg(long, env = "LIVESCORE_TOPIC")]
    pub topic: String,

    /// SSE event name the subscribers see (1-64 bytes, no line breaks).
    /// Example: --event flash
    #[arg(long, env = "LIVESCORE_EVENT")]
    pub event: String,

    /// Server whose publish API to use.
    /// Example: --server http://127.0.0.1:8000
    #[arg(long, env = "LIVESCORE_SERVER")]
    pub server: Option<Url>,

    /// Bearer token of that server's publish API (its --publish-token).
    /// Example: --token "$LIVESCORE_PUBLISH_TOKEN"
    #[arg(long, env = "LIVESCORE_PUBLISH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Makes the publish idempotent: a retry with the same key (after a
    /// timeout, say) gets the first publish's id instead of publishing
    /// twice, on any node, within the bus's dedupe window. 1-128 visible
    /// ASCII characters.
    /// Example: --idempotency-key kickoff-moved-2015091000
    #[arg(long, env = "LIVESCORE_IDEMPOTENCY_KEY")]
    pub idempotency_key: Option<String>,

    /// Publish straight onto this bus instead of through a server. Only
    /// shared buses make sense here (the memory bus is private to one
    /// process), so for now use --server.
    /// Example: --bus memory
    #[arg(long, env = "LIVESCORE_BUS", default_value = "memory", value_parser = <livescore::bus::BusUrl as std::str::FromStr>::from_str)]
    pub bus: livescore::bus::BusUrl,

    /// The event's data, as JSON.
    /// Example: '{"text":"kickoff moved to 4:25"}'
    pub data: String,
}

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// DATA is not JSON.
    #[error("DATA is not JSON: {0}")]
    BadData(serde_json::Error),
    /// The flags do not make a request.
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached or answered nonsense.
    #[error("{0}")]
    Request(String),
    /// The server refused the event.
    #[error("the server refused: HTTP {status}: {message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// The server's `error` message.
        message: String,
    },
}

/// Publishes the event and returns its id.
pub async fn run(args: PublishArgs) -> Result<String, PublishError> {
    let data: serde_json::Value =
        serde_json::from_str(&args.data).map_err(PublishError::BadData)?;
    if !model::valid_topic(&args.topic) {
        return Err(PublishError::Usage(format!(
            "bad topic {:?}: use letters, digits and / - _ . :",
            args.topic
        )));
    }
    if let Some(key) = args.idempotency_key.as_deref() {
        if !livescore::bus::valid_key(key) {
            return Err(PublishError::Usage(format!(
                "bad --idempotency-key {key:?}: 1 to {} visible ASCII characters",
                livescore::bus::MAX_KEY_BYTES
            )));
        }
    }
    let Some(server) = args.server else {
        return Err(PublishError::Usage(format!(
            "publishing onto the {:?} bus is not possible: the memory bus is private to one \
             process; give --server URL",
            args.bus.to_string()
        )));
    };
    let token = args.token.filter(|t| !t.is_empty()).ok_or_else(|| {
        PublishError::Usage("--token (or LIVESCORE_PUBLISH_TOKEN) is required with --server".into())
    })?;
    let url = server
        .join("/api/publish")
        .map_err(|e| PublishError::Usage(format!("bad --server {server}: {e}")))?;
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| PublishError::Request(format!("cannot build HTTP client: {e}")))?;
    let body = serde_json::json!({"topic": args.topic, "event": args.event, "data": data});
    let mut request = client.post(url.clone()).bearer_auth(token).json(&body);
    if let Some(key) = &args.idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let resp = request.send().await.map_err(|e| {
        PublishError::Request(format!(
            "cannot reach {url}: {}",
            livescore::error_chain(&e)
        ))
    })?;
    let status = resp.status();
    let answer: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if status != StatusCode::ACCEPTED {
        let message = answer["error"]
            .as_str()
            .unwrap_or("no error message")
            .to_string();
        return Err(PublishError::Refused { status, message });
    }
    answer["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| PublishError::Request(format!("{url} answered 202 without an id")))
}
