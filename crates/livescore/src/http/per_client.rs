//! `--max-connections-per-ip`: what one client address may hold open.
//!
//! Who the client is decides where it is counted:
//! - a direct client (a peer that is not a `--trusted-proxies` proxy):
//!   each TCP connection, at accept ([`super::limit::LimitedListener`]),
//!   before a byte is read, so a flood from one address costs nothing;
//! - a client behind a trusted proxy: each request it has in flight
//!   (an SSE stream or a WebSocket for its whole life), charged to the
//!   address its `X-Forwarded-For` names, once the request head is read.
//!   The proxy's own connections are not capped: every visitor has its
//!   address, and it keeps upstream connections alive and sends many
//!   clients' requests over each, so a connection cannot be charged to
//!   one client, a request can;
//! - HTTP/2 (over TLS): each stream, not the connection, so that one
//!   connection's hundred streams count a hundred times (docs/SECURITY.md,
//!   "Holes closed").
//!
//! Past the cap: 429 with `Retry-After`, the JSON body of the accept-time
//! refusal. Health and metrics probes are never counted.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

use super::caps::{ConnCaps, Rejection};
use super::client_addr::{canonical, TrustedProxies};
use super::AppState;

/// Open connections, requests and streams per client address, against
/// the cap of [`ConnCaps`] (changed live by a reload). Cheap to clone;
/// the listener and the router share one.
#[derive(Debug, Clone, Default)]
pub struct ClientCap {
    caps: ConnCaps,
    trusted: TrustedProxies,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ClientCap {
    /// Counts against `caps.per_ip()`; peers in `trusted` are proxies.
    pub fn new(caps: ConnCaps, trusted: TrustedProxies) -> Self {
        Self {
            caps,
            trusted,
            open: Arc::default(),
        }
    }

    /// A new TCP connection from `peer`: its slot, none when there is no
    /// cap or the peer is a trusted proxy (its clients are counted per
    /// request), or the refusal when the address is at the cap.
    pub fn at_accept(&self, peer: IpAddr) -> Result<Option<ClientSlot>, Rejection> {
        let peer = canonical(peer);
        if self.caps.per_ip() == 0 || self.trusted.trusts(peer) {
            return Ok(None);
        }
        self.take(peer).map(Some)
    }

    /// A request from a trusted proxy, charged to the client its
    /// `X-Forwarded-For` names; none for any other peer (counted at
    /// accept) or without a cap.
    pub fn forwarded(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<Option<ClientSlot>, Rejection> {
        if self.caps.per_ip() == 0 || !self.trusted.trusts(canonical(peer.ip())) {
            return Ok(None);
        }
        counted(self.take(self.trusted.client(peer, headers))).map(Some)
    }

    /// An HTTP/2 stream: charged to its client (the forwarded one behind
    /// a trusted proxy, else the peer), whose connection was released from
    /// the count when HTTP/2 was agreed.
    pub fn stream(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<Option<ClientSlot>, Rejection> {
        if self.caps.per_ip() == 0 {
            return Ok(None);
        }
        counted(self.take(self.trusted.client(peer, headers))).map(Some)
    }

    fn take(&self, ip: IpAddr) -> Result<ClientSlot, Rejection> {
        let ip = canonical(ip);
        let mut open = self.open.lock().expect("per-client lock poisoned");
        let n = open.entry(ip).or_insert(0);
        if *n >= self.caps.per_ip() {
            return Err(Rejection::PerIp);
        }
        *n += 1;
        Ok(ClientSlot {
            open: self.open.clone(),
            ip,
        })
    }
}

/// A refusal of a request already read, counted as the accept loop counts
/// its own (`livescore_connections_rejected_total{reason="per_ip"}`).
fn counted(taken: Result<ClientSlot, Rejection>) -> Result<ClientSlot, Rejection> {
    if let Err(why) = &taken {
        metrics::counter!("livescore_connections_rejected_total", "reason" => why.label())
            .increment(1);
        tracing::debug!(reason = why.label(), "request refused");
    }
    taken
}

/// One connection's, request's or stream's place in its address's count,
/// given back when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("per-client lock poisoned");
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A request's slot, in its extensions: a WebSocket upgrade keeps it for
/// the connection's life.
#[derive(Debug, Clone)]
pub struct HeldSlot(pub Arc<ClientSlot>);

/// The router's layer: a request through a trusted proxy takes its
/// client's slot for as long as its response body is open (an SSE
/// stream's whole life) and, for a WebSocket, the upgraded connection's;
/// past the cap, 429. Other requests pass untouched (HTTP/1 direct
/// clients were counted at accept, HTTP/2 streams by the connection).
pub async fn limit(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let probe = matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics");
    // Requests driven in process (tests) have no peer: nothing to count.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let Some(peer) = peer.filter(|_| !probe && req.version() != axum::http::Version::HTTP_2) else {
        return next.run(req).await;
    };
    let slot = match st.config.client_cap.forwarded(peer, req.headers()) {
        Ok(Some(slot)) => Arc::new(slot),
        Ok(None) => return next.run(req).await,
        Err(why) => return refusal(why),
    };
    req.extensions_mut().insert(HeldSlot(slot.clone()));
    next.run(req).await.map(|body| {
        axum::body::Body::new(body.map_frame(move |frame| {
            let _held = &slot;
            frame
        }))
    })
}

/// The answer past a limit, for a request already read: the status, JSON
/// body and `Retry-After` of the accept-time refusal.
pub fn refusal(why: Rejection) -> Response {
    let status = why
        .status()
        .split_once(' ')
        .and_then(|(code, _)| code.parse::<u16>().ok())
        .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
        .unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE);
    let mut res = Response::new(axum::body::Body::from(why.body()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().expect("value"));
        h
    }

    #[test]
    fn direct_clients_count_at_accept_forwarded_ones_per_request() {
        let proxy: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let cap = ClientCap::new(
            ConnCaps::new(0, 2),
            TrustedProxies(vec!["127.0.0.1".parse().expect("cidr")]),
        );
        // The proxy itself is not capped at accept.
        let proxied: Vec<_> = (0..5).map(|_| cap.at_accept(proxy.ip())).collect();
        assert!(proxied.iter().all(|s| matches!(s, Ok(None))));
        // Its clients are, each on its own.
        let a1 = cap.forwarded(proxy, &xff("203.0.113.1")).expect("first");
        let a2 = cap.forwarded(proxy, &xff("203.0.113.1")).expect("second");
        assert!(a1.is_some() && a2.is_some());
        assert!(matches!(
            cap.forwarded(proxy, &xff("203.0.113.1")),
            Err(Rejection::PerIp)
        ));
        assert!(cap.forwarded(proxy, &xff("203.0.113.2")).is_ok());
        drop(a1);
        assert!(cap.forwarded(proxy, &xff("203.0.113.1")).is_ok());
        // A direct client is counted at accept, its header ignored.
        let direct: SocketAddr = "198.51.100.7:1".parse().expect("addr");
        let d = [cap.at_accept(direct.ip()), cap.at_accept(direct.ip())];
        assert!(d.iter().all(|s| matches!(s, Ok(Some(_)))));
        assert!(matches!(cap.at_accept(direct.ip()), Err(Rejection::PerIp)));
        assert!(matches!(
            cap.forwarded(direct, &xff("203.0.113.9")),
            Ok(None)
        ));
        // No cap, nothing counted.
        cap.caps.set(0, 0);
        assert!(matches!(cap.at_accept(direct.ip()), Ok(None)));
    }
}
