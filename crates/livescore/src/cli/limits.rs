//! Operational flags every server command shares: request limits,
//! connection timeouts, the CORS allow-list and the shutdown bound (see
//! docs/OPERATIONS.md). Kept apart from the transport flags so the two
//! lists stay readable.

use std::time::Duration;

use clap::Args;

/// Request limits, timeouts, CORS and the shutdown bound.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest request body on any route, in bytes; a bigger one gets a
    /// JSON 413.
    /// Example: --max-body 65536
    #[arg(long, env = "LIVESCORE_MAX_BODY", default_value_t = crate::http::guard::DEFAULT_MAX_BODY_BYTES)]
    pub max_body: usize,

    /// Time a client has to send a whole request head; also how long an
    /// idle keep-alive connection is kept. Past it the connection closes,
    /// so slow or silent clients cannot hold connections.
    /// Example: --header-timeout 10s
    #[arg(long, env = "LIVESCORE_HEADER_TIMEOUT", default_value = "10s", value_parser = super::parse_duration)]
    pub header_timeout: Duration,

    /// Most bytes of one request head (request line and headers); a bigger
    /// one gets 431.
    /// Example: --max-header-bytes 65536
    #[arg(long, env = "LIVESCORE_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,

    /// An origin whose pages may call this server from a browser (CORS);
    /// repeat the flag (or comma-separate the variable) for several, `*`
    /// for any. Without it no CORS headers are sent.
    /// Example: --cors-origin https://scores.example.com
    #[arg(long = "cors-origin", env = "LIVESCORE_CORS_ORIGINS", value_delimiter = ',', value_parser = crate::http::guard::parse_origin)]
    pub cors_origins: Vec<String>,

    /// Reverse proxies (addresses or blocks) whose `X-Forwarded-For` names
    /// the client, for the limits that belong to a client (the chat rate,
    /// --max-connections-per-ip, which then counts each visitor's open
    /// requests and never the proxy); comma-separate several. From other
    /// peers the header is ignored.
    /// Example: --trusted-proxies 127.0.0.1,10.0.0.0/8
    #[arg(long, env = "LIVESCORE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::http::client_addr::Cidr>,

    /// New connections accepted per second at most, sustained; past it
    /// newcomers wait in the kernel's listen backlog, so a reconnect storm
    /// cannot starve the streams already open. `0` turns pacing off.
    /// Example: --accept-rate 5000
    #[arg(long, env = "LIVESCORE_ACCEPT_RATE", default_value_t = crate::http::limit::AcceptPace::default().rate, value_parser = parse_accept_rate)]
    pub accept_rate: f64,

    /// New connections accepted at once after a quiet spell, before
    /// --accept-rate applies.
    /// Example: --accept-burst 2000
    #[arg(long, env = "LIVESCORE_ACCEPT_BURST", default_value_t = crate::http::limit::AcceptPace::default().burst, value_parser = clap::value_parser!(u32).range(1..))]
    pub accept_burst: u32,

    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this certificate chain (PEM,
    /// leaf first); needs --tls-key. Re-read on SIGHUP: new connections get
    /// the new certificate, open ones stay. Without it: plain HTTP.
    /// Example: --tls-cert /etc/livescore/cert.pem
    #[arg(
        long,
        env = "LIVESCORE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1); re-read
    /// with it on SIGHUP.
    /// Example: --tls-key /etc/livescore/key.pem
    #[arg(
        long,
        env = "LIVESCORE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<std::path::PathBuf>,

    /// Longest graceful shutdown (SIGTERM, Ctrl-C): streams end, WebSockets
    /// close with 1001 and queued database writes are flushed within it;
    /// then the process exits anyway.
    /// Example: --shutdown-timeout 10s
    #[arg(long, env = "LIVESCORE_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = super::parse_duration)]
    pub shutdown_timeout: Duration,
}

impl LimitArgs {
    /// The accept loop's pacing.
    pub fn accept_pace(&self) -> crate::http::limit::AcceptPace {
        crate::http::limit::AcceptPace {
            rate: self.accept_rate,
            burst: self.accept_burst,
        }
    }

    /// The node's TLS, when both files are given; a file that cannot be
    /// read, is not PEM, or a key that is not the certificate's, is said
    /// at start.
    pub fn tls(&self) -> Result<Option<crate::http::tls::Tls>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::http::tls::Tls::load(cert, key)
                .map(Some)
                .map_err(|e| e.to_string()),
            _ => Ok(None),
        }
    }
}

fn parse_accept_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "{s:?}: a rate is connections per second, 0 or more (0: no pacing)"
        )),
    }
}
