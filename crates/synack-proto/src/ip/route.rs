//! The routing table: connected routes, on-link (device) routes, routes via a
//! gateway, the default route; longest-prefix match.
//!
//! Read before touching: RFC 1122 §3.3.1 (how a host picks the next hop:
//! on-link destinations directly, others through a gateway), RFC 1812
//! §5.2.4.3 (longest match first), RFC 4632 §5.1 (prefixes).
//!
//! The table keeps one map per prefix length and a bitmask of the lengths
//! in use, so a lookup is at most 33 hash probes, longest first, whatever
//! the number of routes. One route per prefix: adding a second route to the
//! same prefix is an error (Linux's `EEXIST` for `ip route add`); replace it
//! by removing it first.

use core::cell::Cell;
use core::fmt;
use core::net::Ipv4Addr;
use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use super::IfaceId;
use super::addr::Ipv4Cidr;

/// Where to send a datagram next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// The destination is on-link: send to it directly (ARP for it).
    Direct(Ipv4Addr),
    /// Send through this gateway (ARP for the gateway).
    Gateway(Ipv4Addr),
}

impl NextHop {
    /// The address to resolve at the link layer.
    pub const fn addr(self) -> Ipv4Addr {
        match self {
            NextHop::Direct(a) | NextHop::Gateway(a) => a,
        }
    }
}

/// How a route got into the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// From an interface address (`ip addr add 192.0.2.1/24`): the subnet is on-link.
    Connected,
    /// A static on-link route without a gateway (`ip route add ... dev tun0`).
    Device,
    /// A static route through a gateway (`ip route add ... via 192.0.2.254`).
    Gateway,
}

/// The result of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// The prefix that matched (host bits cleared).
    pub dest: Ipv4Cidr,
    pub iface: IfaceId,
    pub next_hop: NextHop,
    /// The source address to use for new flows (RFC 1122 §3.3.4.3): the
    /// interface address of the connected route the next hop is on.
    pub src_hint: Option<Ipv4Addr>,
    pub kind: RouteKind,
}

/// Why a route could not be added or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// A route to exactly this prefix exists already.
    Exists,
    /// No route to exactly this prefix (or, for a connected route, not
    /// with this interface).
    NotFound,
    /// The gateway is not on-link: no connected or device route covers it
    /// (Linux: "Nexthop has invalid gateway").
    GatewayUnreachable,
    /// The gateway is our own address on that link.
    GatewayIsLocal,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteError::Exists => "route exists",
            RouteError::NotFound => "no such route",
            RouteError::GatewayUnreachable => "gateway is not on-link",
            RouteError::GatewayIsLocal => "gateway is a local address",
        })
    }
}

impl core::error::Error for RouteError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    iface: IfaceId,
    gateway: Option<Ipv4Addr>,
    src: Option<Ipv4Addr>,
    kind: RouteKind,
}

/// A host's routing table.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    /// `by_len[n]`: routes with prefix length `n`, keyed by network number.
    /// Keys come from the application, not the wire, so a fast unkeyed hash
    /// is fine here.
    by_len: [HashMap<u32, Entry, FxBuildHasher>; 33],
    /// Bit `n` set when `by_len[n]` is not empty.
    lengths: u64,
    len: usize,
    /// The last lookup and its answer, until the table changes: a stack
    /// looks up the route of every segment it sends, and consecutive
    /// segments mostly go to the same peer.
    last: Cell<Option<(Ipv4Addr, Option<Route>)>>,
}

impl Default for RoutingTable {
    fn default() -> Self {
        Self::new()
    }
}

impl RoutingTable {
    /// An empty table. Allocates nothing until the first route.
    pub fn new() -> Self {
        RoutingTable {
            by_len: core::array::from_fn(|_| HashMap::with_hasher(FxBuildHasher)),
            lengths: 0,
            len: 0,
            last: Cell::new(None),
        }
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The route for `dst`: the longest matching prefix (RFC 1812 §5.2.4.3).
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<Route> {
        if let Some((addr, route)) = self.last.get()
            && addr == dst
        {
            return route;
        }
        let route = self.longest_match(dst, |_| true);
        self.last.set(Some((dst, route)));
        route
    }

    /// Adds the connected route of an interface address: `cidr`'s subnet is
    /// on-link through `iface`, with `cidr.addr()` as the source hint.
    pub fn add_connected(&mut self, iface: IfaceId, cidr: Ipv4Cidr) -> Result<(), RouteError> {
        self.insert(
            cidr.to_network(),
            Entry {
                iface,
                gateway: None,
                src: Some(cidr.addr()),
                kind: RouteKind::Connected,
            },
        )
    }

    /// Adds an on-link route without a gateway (a point-to-point or TUN
    /// link: `ip route add 0.0.0.0/0 dev tun0`).
    pub fn add_device(
        &mut self,
        dest: Ipv4Cidr,
        iface: IfaceId,
        src_hint: Option<Ipv4Addr>,
    ) -> Result<(), RouteError> {
        self.insert(
            dest.to_network(),
            Entry {
                iface,
                gateway: None,
                src: src_hint,
                kind: RouteKind::Device,
            },
        )
    }

    /// Adds a route to `dest` through `gateway`, which must be on-link
    /// (covered by a connected or device route) and not our own address.
    /// The route takes the interface and source hint of that on-link route.
    pub fn add_gateway(&mut self, dest: Ipv4Cidr, gateway: Ipv4Addr) -> Result<(), RouteError> {
        let entry = self.resolve_gateway(gateway)?;
        self.insert(dest.to_network(), entry)
    }

    /// Sets the default route (0.0.0.0/0) through `gateway`, replacing any
    /// previous default route.
    pub fn set_default_gateway(&mut self, gateway: Ipv4Addr) -> Result<(), RouteError> {
        let entry = self.resolve_gateway(gateway)?;
        let default = Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0 is a valid prefix");
        let _ = self.take(default);
        self.insert(default, entry)
    }

    /// Removes the route to exactly `dest` (host bits ignored). Removing an
    /// on-link route also removes the gateway routes that were reachable only
    /// through it; returns how many of those went with it.
    pub fn remove(&mut self, dest: Ipv4Cidr) -> Result<usize, RouteError> {
        let entry = self.take(dest.to_network()).ok_or(RouteError::NotFound)?;
        Ok(if entry.kind == RouteKind::Gateway {
            0
        } else {
            self.revalidate_gateways()
        })
    }

    /// Removes an interface address's connected route. Like [`Self::remove`]
    /// but only when the route is that interface's connected route.
    pub fn remove_connected(
        &mut self,
        iface: IfaceId,
        cidr: Ipv4Cidr,
    ) -> Result<usize, RouteError> {
        let net = cidr.to_network();
        match self.get(net) {
            Some(e) if e.kind == RouteKind::Connected && e.iface == iface => self.remove(net),
            _ => Err(RouteError::NotFound),
        }
    }

    /// Removes every route through `iface` (the interface went down);
    /// returns how many were removed, dependent gateway routes included.
    pub fn remove_iface(&mut self, iface: IfaceId) -> usize {
        let before = self.len;
        self.last.set(None);
        for n in 0..=32 {
            self.by_len[n].retain(|_, e| e.iface != iface);
        }
        self.recount();
        let _ = self.revalidate_gateways();
        before - self.len
    }

    /// Every route, longest prefix first, then by address (for display). A
    /// direct route's next hop shows its own network address.
    pub fn routes(&self) -> Vec<Route> {
        let mut out: Vec<Route> = (0..=32u8)
            .rev()
            .flat_map(|n| {
                self.by_len[usize::from(n)]
                    .iter()
                    .map(move |(&net, e)| route(net, n, e, Ipv4Addr::from_bits(net)))
            })
            .collect();
        out.sort_by_key(|r| {
            (
                core::cmp::Reverse(r.dest.prefix_len()),
                r.dest.addr().to_bits(),
            )
        });
        out
    }

    fn get(&self, net: Ipv4Cidr) -> Option<&Entry> {
        self.by_len[usize::from(net.prefix_len())].get(&net.addr().to_bits())
    }

    fn insert(&mut self, net: Ipv4Cidr, entry: Entry) -> Result<(), RouteError> {
        self.last.set(None);
        let n = usize::from(net.prefix_len());
        let map = &mut self.by_len[n];
        if map.contains_key(&net.addr().to_bits()) {
            return Err(RouteError::Exists);
        }
        map.insert(net.addr().to_bits(), entry);
        self.lengths |= 1 << n;
        self.len += 1;
        Ok(())
    }

    fn take(&mut self, net: Ipv4Cidr) -> Option<Entry> {
        self.last.set(None);
        let n = usize::from(net.prefix_len());
        let e = self.by_len[n].remove(&net.addr().to_bits())?;
        if self.by_len[n].is_empty() {
            self.lengths &= !(1 << n);
        }
        self.len -= 1;
        Some(e)
    }

    fn recount(&mut self) {
        self.lengths = 0;
        self.len = 0;
        for (n, map) in self.by_len.iter().enumerate() {
            if !map.is_empty() {
                self.lengths |= 1 << n;
                self.len += map.len();
            }
        }
    }

    /// Longest-prefix match among routes that `accept`.
    fn longest_match(&self, dst: Ipv4Addr, accept: impl Fn(&Entry) -> bool) -> Option<Route> {
        let mut lengths = self.lengths;
        while lengths != 0 {
            // Highest set bit: the longest prefix length still to try.
            let n = 63 - lengths.leading_zeros() as u8;
            lengths &= !(1u64 << n);
            let net = dst.to_bits() & prefix_mask(n);
            match self.by_len[usize::from(n)].get(&net) {
                Some(e) if accept(e) => return Some(route(net, n, e, dst)),
                _ => {}
            }
        }
        None
    }

    /// RFC 1122 §3.3.1.1: a gateway must be on a directly connected network.
    fn resolve_gateway(&self, gateway: Ipv4Addr) -> Result<Entry, RouteError> {
        let on_link = self
            .longest_match(gateway, |e| e.kind != RouteKind::Gateway)
            .ok_or(RouteError::GatewayUnreachable)?;
        if on_link.src_hint == Some(gateway) {
            return Err(RouteError::GatewayIsLocal);
        }
        Ok(Entry {
            iface: on_link.iface,
            gateway: Some(gateway),
            src: on_link.src_hint,
            kind: RouteKind::Gateway,
        })
    }

    /// After an on-link route went away: re-resolve every gateway route,
    /// dropping those whose gateway is no longer on-link (as Linux flushes
    /// routes through a dead next hop). Returns how many were dropped.
    fn revalidate_gateways(&mut self) -> usize {
        self.last.set(None);
        let mut dropped = 0;
        for n in 0..=32 {
            let keys: Vec<u32> = self.by_len[n]
                .iter()
                .filter(|(_, e)| e.kind == RouteKind::Gateway)
                .map(|(&k, _)| k)
                .collect();
            for k in keys {
                let gw = match self.by_len[n].get(&k).and_then(|e| e.gateway) {
                    Some(gw) => gw,
                    None => continue,
                };
                match self.resolve_gateway(gw) {
                    Ok(fresh) => {
                        self.by_len[n].insert(k, fresh);
                    }
                    Err(_) => {
                        self.by_len[n].remove(&k);
                        dropped += 1;
                    }
                }
            }
        }
        self.recount();
        dropped
    }
}

const fn prefix_mask(n: u8) -> u32 {
    if n == 0 { 0 } else { u32::MAX << (32 - n) }
}

fn route(net: u32, n: u8, e: &Entry, dst: Ipv4Addr) -> Route {
    Route {
        // n <= 32 by construction of `by_len`.
        dest: Ipv4Cidr::new(Ipv4Addr::from_bits(net), n).unwrap_or(Ipv4Cidr::host(dst)),
        iface: e.iface,
        next_hop: match e.gateway {
            Some(gw) => NextHop::Gateway(gw),
            None => NextHop::Direct(dst),
        },
        src_hint: e.src,
        kind: e.kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    const ETH0: IfaceId = IfaceId(0);
    const ETH1: IfaceId = IfaceId(1);

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn host() -> RoutingTable {
        let mut t = RoutingTable::new();
        t.add_connected(ETH0, cidr("192.0.2.10/24")).unwrap();
        t.add_connected(ETH1, cidr("198.51.100.10/24")).unwrap();
        t
    }

    #[test]
    fn a_repeated_lookup_sees_every_change_to_the_table() {
        let mut t = host();
        let dst = ip("203.0.113.9");
        assert_eq!(t.lookup(dst), None);
        assert_eq!(t.lookup(dst), None, "the cached miss");
        t.set_default_gateway(ip("192.0.2.1")).unwrap();
        assert_eq!(t.lookup(dst).unwrap().iface, ETH0, "a new route");
        t.add_device(cidr("203.0.113.0/24"), ETH1, None).unwrap();
        assert_eq!(t.lookup(dst).unwrap().iface, ETH1, "a longer prefix");
        t.remove(cidr("203.0.113.0/24")).unwrap();
        assert_eq!(t.lookup(dst).unwrap().iface, ETH0, "a removed route");
        t.remove_iface(ETH0);
        assert_eq!(t.lookup(dst), None, "an interface gone");
    }

    #[test]
    fn on_link_destinations_go_direct_with_the_interface_address_as_source() {
        let t = host();
        let r = t.lookup(ip("192.0.2.77")).unwrap();
        assert_eq!(r.iface, ETH0);
        assert_eq!(r.next_hop, NextHop::Direct(ip("192.0.2.77")));
        assert_eq!(r.src_hint, Some(ip("192.0.2.10")));
        assert_eq!(r.dest, cidr("192.0.2.0/24"));
        assert_eq!(r.kind, RouteKind::Connected);
        assert_eq!(t.lookup(ip("198.51.100.1")).unwrap().iface, ETH1);
        assert_eq!(t.lookup(ip("203.0.113.1")), None, "no default route yet");
    }

    #[test]
    fn default_route_catches_everything_else() {
        let mut t = host();
        t.set_default_gateway(ip("192.0.2.1")).unwrap();
        let r = t.lookup(ip("203.0.113.9")).unwrap();
        assert_eq!(r.next_hop, NextHop::Gateway(ip("192.0.2.1")));
        assert_eq!(r.iface, ETH0);
        assert_eq!(r.src_hint, Some(ip("192.0.2.10")));
        assert_eq!(r.next_hop.addr(), ip("192.0.2.1"));
        // Replacing the default gateway is allowed.
        t.set_default_gateway(ip("198.51.100.1")).unwrap();
        let r = t.lookup(ip("203.0.113.9")).unwrap();
        assert_eq!((r.iface, r.next_hop.addr()), (ETH1, ip("198.51.100.1")));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn longest_prefix_wins_among_overlapping_routes() {
        let mut t = host();
        t.set_default_gateway(ip("192.0.2.1")).unwrap();
        t.add_gateway(cidr("203.0.0.0/8"), ip("192.0.2.2")).unwrap();
        t.add_gateway(cidr("203.0.113.0/24"), ip("198.51.100.3"))
            .unwrap();
        t.add_gateway(cidr("203.0.113.128/25"), ip("192.0.2.4"))
            .unwrap();
        t.add_gateway(cidr("203.0.113.200/32"), ip("192.0.2.5"))
            .unwrap();
        let via = |d: &str| t.lookup(ip(d)).unwrap().next_hop.addr();
        assert_eq!(via("203.0.113.200"), ip("192.0.2.5"));
        assert_eq!(via("203.0.113.201"), ip("192.0.2.4"));
        assert_eq!(via("203.0.113.127"), ip("198.51.100.3"));
        assert_eq!(via("203.1.0.1"), ip("192.0.2.2"));
        assert_eq!(via("8.8.8.8"), ip("192.0.2.1"));
        assert_eq!(t.lookup(ip("203.0.113.127")).unwrap().iface, ETH1);
    }

    #[test]
    fn host_route_overrides_the_connected_subnet() {
        let mut t = host();
        t.add_gateway(cidr("192.0.2.99/32"), ip("198.51.100.1"))
            .unwrap();
        assert_eq!(
            t.lookup(ip("192.0.2.99")).unwrap().next_hop,
            NextHop::Gateway(ip("198.51.100.1"))
        );
        assert_eq!(
            t.lookup(ip("192.0.2.98")).unwrap().next_hop,
            NextHop::Direct(ip("192.0.2.98"))
        );
    }

    #[test]
    fn device_routes_are_on_link_without_arp_for_a_gateway() {
        let mut t = RoutingTable::new();
        let tun = IfaceId(7);
        t.add_device(cidr("0.0.0.0/0"), tun, Some(ip("203.0.113.2")))
            .unwrap();
        let r = t.lookup(ip("198.51.100.50")).unwrap();
        assert_eq!(r.next_hop, NextHop::Direct(ip("198.51.100.50")));
        assert_eq!((r.iface, r.kind), (tun, RouteKind::Device));
        // A gateway behind a device route is on-link.
        t.add_gateway(cidr("192.0.2.0/24"), ip("203.0.113.1"))
            .unwrap();
        assert_eq!(t.lookup(ip("192.0.2.5")).unwrap().iface, tun);
    }

    #[test]
    fn gateways_must_be_on_link_and_not_ourselves() {
        let mut t = host();
        assert_eq!(
            t.add_gateway(cidr("203.0.113.0/24"), ip("10.0.0.1")),
            Err(RouteError::GatewayUnreachable)
        );
        assert_eq!(
            t.set_default_gateway(ip("192.0.2.10")),
            Err(RouteError::GatewayIsLocal)
        );
        // A gateway reachable only through another gateway is not on-link.
        t.add_gateway(cidr("10.0.0.0/8"), ip("192.0.2.1")).unwrap();
        assert_eq!(
            t.add_gateway(cidr("203.0.113.0/24"), ip("10.0.0.1")),
            Err(RouteError::GatewayUnreachable)
        );
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn duplicate_prefixes_are_refused_host_bits_ignored() {
        let mut t = host();
        assert_eq!(
            t.add_connected(ETH1, cidr("192.0.2.99/24")),
            Err(RouteError::Exists)
        );
        t.add_gateway(cidr("203.0.113.7/24"), ip("192.0.2.1"))
            .unwrap();
        assert_eq!(
            t.add_gateway(cidr("203.0.113.0/24"), ip("192.0.2.2")),
            Err(RouteError::Exists)
        );
    }

    #[test]
    fn removal_takes_dependent_gateway_routes_along() {
        let mut t = host();
        t.set_default_gateway(ip("192.0.2.1")).unwrap();
        t.add_gateway(cidr("203.0.113.0/24"), ip("198.51.100.1"))
            .unwrap();
        assert_eq!(
            t.remove_connected(ETH1, cidr("192.0.2.10/24")),
            Err(RouteError::NotFound),
            "wrong interface"
        );
        assert_eq!(t.remove_connected(ETH0, cidr("192.0.2.10/24")), Ok(1));
        assert_eq!(
            t.lookup(ip("8.8.8.8")),
            None,
            "default route went with eth0"
        );
        assert_eq!(
            t.lookup(ip("203.0.113.1")).unwrap().next_hop.addr(),
            ip("198.51.100.1")
        );
        assert_eq!(t.remove(cidr("203.0.113.0/24")), Ok(0));
        assert_eq!(t.remove(cidr("203.0.113.0/24")), Err(RouteError::NotFound));
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove_iface(ETH1), 1);
        assert!(t.is_empty());
        assert_eq!(t.lookup(ip("198.51.100.1")), None);
    }

    #[test]
    fn a_gateway_route_moves_to_a_remaining_on_link_route() {
        let mut t = host();
        t.add_connected(ETH1, cidr("192.0.0.1/16")).unwrap();
        t.add_gateway(cidr("203.0.113.0/24"), ip("192.0.2.1"))
            .unwrap();
        assert_eq!(t.lookup(ip("203.0.113.1")).unwrap().iface, ETH0);
        assert_eq!(t.remove(cidr("192.0.2.0/24")), Ok(0));
        let r = t.lookup(ip("203.0.113.1")).unwrap();
        assert_eq!((r.iface, r.src_hint), (ETH1, Some(ip("192.0.0.1"))));
    }

    #[test]
    fn routes_list_longest_first() {
        let mut t = host();
        t.set_default_gateway(ip("192.0.2.1")).unwrap();
        t.add_gateway(cidr("192.0.2.99/32"), ip("192.0.2.1"))
            .unwrap();
        let dests: Vec<String> = t.routes().iter().map(|r| r.dest.to_string()).collect();
        assert_eq!(
            dests,
            [
                "192.0.2.99/32",
                "192.0.2.0/24",
                "198.51.100.0/24",
                "0.0.0.0/0"
            ]
        );
    }

    /// Longest-prefix match agrees with a linear scan over random tables.
    #[test]
    fn lookup_matches_a_linear_scan() {
        for seed in 0..20 {
            let mut rng = Rng::from_seed(seed);
            let mut t = RoutingTable::new();
            let mut all: Vec<(Ipv4Cidr, IfaceId)> = Vec::new();
            for i in 0..40u16 {
                // Cluster addresses in 10.0.0.0/16 so prefixes overlap.
                let a = Ipv4Addr::from_bits(0x0A00_0000 | (rng.u32() & 0xFFFF));
                let len = rng.below(33) as u8;
                let c = Ipv4Cidr::new(a, len).unwrap();
                if t.add_device(c, IfaceId(i), None).is_ok() {
                    all.push((c.to_network(), IfaceId(i)));
                }
            }
            for _ in 0..500 {
                let d = Ipv4Addr::from_bits(0x0A00_0000 | (rng.u32() & 0xFFFF));
                let want = all
                    .iter()
                    .filter(|(c, _)| c.contains(d))
                    .max_by_key(|(c, _)| c.prefix_len())
                    .map(|&(c, i)| (c, i));
                let got = t.lookup(d).map(|r| (r.dest, r.iface));
                assert_eq!(got, want, "seed {seed} dst {d}");
            }
        }
    }
}
