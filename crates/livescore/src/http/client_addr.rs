//! Who a request comes from: the peer address, or, when the peer is a proxy
//! the operator trusts (`--trusted-proxies`), the client it forwarded for.
//!
//! Why it matters: limits that belong to a client (the chat bucket) must
//! not reset when it reconnects, and must not be shared by every client of
//! an nginx in front. `X-Forwarded-For` is believed only from a trusted
//! peer, and only as far back as the chain stays trusted: a client can put
//! anything at the left of the header, so the address used is the
//! rightmost one that a trusted proxy did not add.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;

/// An address block: `10.0.0.0/8`, `::1/128`, or a bare address (all bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as
    /// its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (full, rest) = (usize::from(bits / 8), bits % 8);
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?}: expected an address or a block such as 10.0.0.0/8 or ::1/128");
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { addr, bits })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

/// The proxies whose `X-Forwarded-For` is believed (empty: none).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    /// Whether `ip` is one of the proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client behind `peer`: `peer` itself unless it is trusted, then
    /// the rightmost `X-Forwarded-For` entry that is not a trusted proxy (a
    /// header that does not parse ends the walk at the last good entry).
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer.ip());
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = canonical(ip);
                    if !self.trusts(client) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 as IPv4, so one client is one key on a dual-stack socket.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The key of a client for per-client limits: its IPv4 address, or its
/// IPv6 /64 (one subscriber line gets a /64; any address in it is theirs
/// to use, so a per-address limit would be no limit).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().expect("header value"));
        }
        h
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().expect("ip"), 4000)
    }

    #[test]
    fn blocks_parse_and_contain() {
        let net: Cidr = "10.1.0.0/16".parse().expect("cidr");
        assert!(net.contains("10.1.200.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(
            net.contains("::ffff:10.1.0.9".parse().expect("ip")),
            "mapped"
        );
        let one: Cidr = "::1".parse().expect("cidr");
        assert_eq!(one.to_string(), "::1/128");
        let odd: Cidr = "192.168.0.0/23".parse().expect("cidr");
        assert!(odd.contains("192.168.1.255".parse().expect("ip")));
        assert!(!odd.contains("192.168.2.0".parse().expect("ip")));
        for bad in ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0/8"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies(vec![
            "127.0.0.1".parse().expect("cidr"),
            "10.0.0.0/8".parse().expect("cidr"),
        ]);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        // Untrusted peer: its header is the client's own word, ignored.
        assert_eq!(
            trusted.client(peer("203.0.113.9"), &headers(&["1.2.3.4"])),
            ip("203.0.113.9")
        );
        // Through nginx: the address nginx appended.
        assert_eq!(
            trusted.client(peer("127.0.0.1"), &headers(&["198.51.100.7"])),
            ip("198.51.100.7")
        );
        // A client's forged entries sit left of what the proxies added.
        assert_eq!(
            trusted.client(
                peer("127.0.0.1"),
                &headers(&["6.6.6.6, 198.51.100.7", "10.0.0.2"])
            ),
            ip("198.51.100.7")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            trusted.client(peer("127.0.0.1"), &headers(&["junk, 10.0.0.3"])),
            ip("10.0.0.3")
        );
        // No header: the proxy itself.
        assert_eq!(
            trusted.client(peer("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        // Nothing trusted: always the peer.
        assert_eq!(
            TrustedProxies::default().client(peer("127.0.0.1"), &headers(&["1.2.3.4"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let a = client_key("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = client_key("2001:db8:1:2:ffff::9".parse().expect("ip"));
        let c = client_key("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            client_key("::ffff:192.0.2.1".parse().expect("ip")),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
    }
}
