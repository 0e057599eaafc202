//! Client addresses behind reverse proxies. With `--trusted-proxy` set, a
//! request whose TCP peer is one of those proxies is attributed to the
//! address the proxy reports (`X-Forwarded-For`, else `Forwarded`); from
//! any other peer the headers are ignored, since anyone can write them.
//! The connection caps, the authentication throttle and the logs all use
//! the address resolved here; the caps count IPv6 per /64 ([`limit_key`]),
//! because one subscriber usually holds a whole /64.

mod cidr;
mod forwarded;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::header::HeaderMap;

pub(crate) use cidr::BadCidr;
use cidr::{mask, Cidr};
use forwarded::Chain;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Default)]
pub(crate) struct TrustedProxies(Vec<Cidr>);

/// Set once the hint about a missing `--trusted-proxy` has been logged.
static HINTED: AtomicBool = AtomicBool::new(false);

impl TrustedProxies {
    pub(crate) fn parse<S: AsRef<str>>(blocks: &[S]) -> Result<Self, BadCidr> {
        blocks
            .iter()
            .map(|b| Cidr::parse(b.as_ref()))
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client of a request from `peer` with `headers`: see
    /// [`TrustedProxies::resolve`]. Logs, once per process, when an
    /// untrusted peer sends forwarding headers.
    pub(crate) fn client_of(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        let peer = peer
            .map(|a| a.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if !self.trusts(peer) && forwarded::present(headers) {
            if !HINTED.swap(true, Ordering::Relaxed) {
                log::info!(
                    "{peer} sent X-Forwarded-For/Forwarded but is not a trusted proxy, so it \
                     counts as the client; behind a reverse proxy set --trusted-proxy"
                );
            }
            return peer.to_canonical();
        }
        self.resolve(peer, forwarded::chain(headers))
    }

    /// From a trusted peer: the right-most hop that is not itself trusted
    /// (the last address a proxy of ours saw), or the left-most if all are.
    /// Otherwise, or when the chain is absent or malformed, the peer.
    fn resolve(&self, peer: IpAddr, chain: Chain) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        match chain {
            Chain::Hops(hops) => hops
                .iter()
                .rev()
                .find(|ip| !self.trusts(**ip))
                .or(hops.first())
                .copied()
                .unwrap_or(peer),
            Chain::Absent | Chain::Malformed => peer,
        }
    }
}

/// What the per-address limits count by: an IPv4 address itself, an IPv6
/// address's /64 (IPv4-mapped IPv6 counts as IPv4).
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        v6 => mask(v6, 64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn hops(list: &[&str]) -> Chain {
        Chain::Hops(list.iter().map(|s| ip(s)).collect())
    }

    #[test]
    fn the_client_is_the_last_untrusted_hop() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "fd00::/8"]).unwrap();
        let proxy = ip("10.0.0.1");
        let r = |chain| t.resolve(proxy, chain);
        assert_eq!(r(hops(&["192.0.2.1"])), ip("192.0.2.1"));
        // The left hop is whatever the client wrote: not believed.
        assert_eq!(
            r(hops(&["6.6.6.6", "192.0.2.1", "10.0.0.7"])),
            ip("192.0.2.1")
        );
        assert_eq!(
            r(hops(&["10.1.1.1", "fd00::2"])),
            ip("10.1.1.1"),
            "all trusted"
        );
        assert_eq!(r(Chain::Absent), proxy);
        assert_eq!(r(Chain::Malformed), proxy);
        // An untrusted peer is the client, whatever it says.
        assert_eq!(
            t.resolve(ip("192.0.2.9"), hops(&["1.1.1.1"])),
            ip("192.0.2.9")
        );
        assert_eq!(
            t.resolve(ip("::ffff:10.0.0.1"), hops(&["1.1.1.1"])),
            ip("1.1.1.1")
        );
        let none = TrustedProxies::default();
        assert_eq!(none.resolve(proxy, hops(&["1.1.1.1"])), proxy);
    }

    #[test]
    fn limits_count_ipv6_per_64() {
        assert_eq!(limit_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2:ffff::9")), ip("2001:db8:1:2::"));
        assert_ne!(limit_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn bad_blocks_name_themselves() {
        let e = TrustedProxies::parse(&["10.0.0.0/8", "10.0.0.0/40"]).unwrap_err();
        assert!(e.to_string().contains("\"10.0.0.0/40\""), "{e}");
    }
}
