//! What every subscriber of a run is told, and what a delivery looks like:
//! shared by the fleet and both transports' connections, so neither
//! imports the other.

use std::net::SocketAddr;
use std::time::Duration;

use super::Transport;

/// What every subscriber needs to know.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server's address.
    pub addr: SocketAddr,
    /// `host:port` for the `Host` header.
    pub authority: String,
    /// The topic the events are published on.
    pub topic: String,
    /// SSE, WebSocket or both.
    pub transport: Transport,
    /// Events that will be published (indices `0..events`).
    pub events: u64,
    /// Percentage of subscribers that connect and then never read.
    pub slow_percent: u8,
    /// Connections being set up at once.
    pub connect_concurrency: usize,
    /// Longest one connection may take to be subscribed.
    pub connect_timeout: Duration,
    /// SSE subscribers ask for gzip.
    pub gzip: bool,
}

impl Plan {
    pub(super) fn is_slow(&self, i: usize) -> bool {
        (i % 100) < usize::from(self.slow_percent)
    }
    pub(super) fn uses_ws(&self, i: usize) -> bool {
        match self.transport {
            Transport::Sse => false,
            Transport::Ws => true,
            Transport::Mix => i % 2 == 1,
        }
    }
}

/// `(t, n)` from a bench event's data (`{"n":…,"pad":"…","t":…}`, keys in
/// any order), anywhere in `text` (also inside a WebSocket message). The
/// pad is only `x`, so the keys cannot occur inside it.
pub fn parse_delivery(text: &[u8]) -> Option<(u64, u64)> {
    let t = number_after(text, text.windows(4).rposition(|w| w == b"\"t\":")? + 4)?;
    let n = number_after(text, find(text, b"\"n\":")? + 4)?;
    Some((t, n))
}

fn number_after(text: &[u8], start: usize) -> Option<u64> {
    let digits = text.get(start..)?;
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Where `needle` first occurs in `hay`.
pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_parse_in_either_key_order() {
        assert_eq!(
            parse_delivery(br#"{"n":7,"pad":"xxxx","t":1700000000123456789}"#),
            Some((1_700_000_000_123_456_789, 7))
        );
        assert_eq!(parse_delivery(br#"{"t":5,"n":12,"pad":""}"#), Some((5, 12)));
        let ws = br#"{"type":"event","topic":"bench-1","event":"bench","id":"a-3","data":{"n":2,"pad":"x","t":9}}"#;
        assert_eq!(parse_delivery(ws), Some((9, 2)));
        assert_eq!(parse_delivery(b"[]"), None);
    }
}
