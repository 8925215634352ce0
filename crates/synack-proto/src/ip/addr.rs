//! IPv4 interface addresses (address + prefix), address classes, and the
//! martian filter.
//!
//! Read before touching: RFC 4632 §3.1 (prefix notation), RFC 950 (subnet
//! masks), RFC 1122 §3.2.1.3 (addresses a host must never accept or send as
//! a source), RFC 1812 §5.3.7 (martian address filtering), RFC 3021 (/31
//! links have no broadcast address), RFC 3927 (169.254/16 link-local).
//!
//! "Same subnet" is decided by masking both addresses with the interface's
//! mask and comparing (RFC 950 §2.1). The martian rules follow what Linux's
//! `ip_route_input` checks on receive; differences are noted at [`check_martian`].

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

/// An interface address with its prefix length, e.g. `192.0.2.1/24`.
///
/// The prefix length is at most 32 by construction; the address keeps its
/// host bits (it is the interface's own address, not only a network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// `None` when `prefix_len > 32`.
    pub const fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        if prefix_len > 32 {
            None
        } else {
            Some(Ipv4Cidr { addr, prefix_len })
        }
    }

    /// A /32 for one host.
    pub const fn host(addr: Ipv4Addr) -> Self {
        Ipv4Cidr {
            addr,
            prefix_len: 32,
        }
    }

    pub const fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The mask as a number, e.g. `0xFFFF_FF00` for /24.
    pub const fn mask_bits(&self) -> u32 {
        mask(self.prefix_len)
    }

    /// The subnet mask, e.g. `255.255.255.0` for /24.
    pub const fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.mask_bits())
    }

    /// The network address: host bits cleared.
    pub const fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.addr.to_bits() & self.mask_bits())
    }

    /// The same prefix with the host bits cleared (`192.0.2.0/24` for
    /// `192.0.2.1/24`): the destination of the connected route.
    pub const fn to_network(&self) -> Ipv4Cidr {
        Ipv4Cidr {
            addr: self.network(),
            prefix_len: self.prefix_len,
        }
    }

    /// The directed broadcast address (host bits all ones). `None` for /31
    /// (RFC 3021 §2.2: both addresses are hosts) and /32.
    pub const fn broadcast(&self) -> Option<Ipv4Addr> {
        if self.prefix_len >= 31 {
            None
        } else {
            Some(Ipv4Addr::from_bits(self.addr.to_bits() | !self.mask_bits()))
        }
    }

    /// Whether `ip` is in this prefix: both masked with our mask are equal.
    pub const fn contains(&self, ip: Ipv4Addr) -> bool {
        self.is_same_subnet(self.addr, ip)
    }

    /// Whether `other` lies entirely within this prefix.
    pub const fn contains_cidr(&self, other: &Ipv4Cidr) -> bool {
        other.prefix_len >= self.prefix_len && self.contains(other.addr)
    }

    /// RFC 950 §2.1: `a` and `b` are on the same subnet under this mask when
    /// masking both gives the same network number.
    pub const fn is_same_subnet(&self, a: Ipv4Addr, b: Ipv4Addr) -> bool {
        let m = self.mask_bits();
        a.to_bits() & m == b.to_bits() & m
    }

    /// Whether `ip` is this subnet's directed broadcast address.
    ///
    /// Only all-ones host bits count. The all-zeros host address (the 4.2BSD
    /// broadcast) is an ordinary unicast address, as in Linux since 5.14.
    pub const fn is_directed_broadcast(&self, ip: Ipv4Addr) -> bool {
        match self.broadcast() {
            Some(b) => b.to_bits() == ip.to_bits(),
            None => false,
        }
    }
}

const fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else if prefix_len >= 32 {
        u32::MAX
    } else {
        u32::MAX << (32 - prefix_len)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Why a string is not an `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrParseError {
    /// The part before `/` is not a dotted-quad IPv4 address.
    BadAddress,
    /// The part after `/` is not a number from 0 to 32.
    BadPrefix,
}

impl fmt::Display for CidrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CidrParseError::BadAddress => "invalid IPv4 address",
            CidrParseError::BadPrefix => "invalid prefix length (0-32)",
        })
    }
}

impl core::error::Error for CidrParseError {}

impl FromStr for Ipv4Cidr {
    type Err = CidrParseError;

    /// Parses `192.0.2.1/24`. A bare address is a /32, as `ip addr add`
    /// takes it.
    fn from_str(s: &str) -> Result<Self, CidrParseError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| CidrParseError::BadAddress)?;
        let prefix_len = match prefix {
            None => 32,
            // Digits only: no sign, no spaces, no leading "+".
            Some(p) if !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| CidrParseError::BadPrefix)?
            }
            Some(_) => return Err(CidrParseError::BadPrefix),
        };
        Ipv4Cidr::new(addr, prefix_len).ok_or(CidrParseError::BadPrefix)
    }
}

/// 0.0.0.0/8, "this network" (RFC 1122 §3.2.1.3 (a) and (b)): only ever a
/// source during bootstrap, never a destination.
pub const fn is_zero_net(ip: Ipv4Addr) -> bool {
    ip.octets()[0] == 0
}

/// 240.0.0.0/4 without 255.255.255.255: reserved, "Class E" (RFC 1112 §4,
/// RFC 1812 §4.2.2.11 (f)).
pub const fn is_reserved(ip: Ipv4Addr) -> bool {
    ip.octets()[0] >= 240 && !ip.is_broadcast()
}

/// The class of an address, as RFC 1122 §3.2.1.3 and RFC 6890 list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    /// 0.0.0.0: "this host", a source only while bootstrapping.
    Unspecified,
    /// 0.0.0.0/8 other than 0.0.0.0: "a host on this network".
    ZeroNet,
    /// 127.0.0.0/8 (RFC 1122 §3.2.1.3 (g)).
    Loopback,
    /// 169.254.0.0/16 (RFC 3927).
    LinkLocal,
    /// 224.0.0.0/4 (RFC 1112).
    Multicast,
    /// 255.255.255.255 (RFC 919).
    LimitedBroadcast,
    /// 240.0.0.0/4 without 255.255.255.255 ("Class E").
    Reserved,
    /// Anything else. Whether it is some subnet's directed broadcast depends
    /// on the mask: see [`Ipv4Cidr::is_directed_broadcast`].
    Unicast,
}

/// Classifies `ip` without knowing any subnet.
pub const fn classify(ip: Ipv4Addr) -> AddrClass {
    if ip.is_unspecified() {
        AddrClass::Unspecified
    } else if is_zero_net(ip) {
        AddrClass::ZeroNet
    } else if ip.is_loopback() {
        AddrClass::Loopback
    } else if ip.is_link_local() {
        AddrClass::LinkLocal
    } else if ip.is_multicast() {
        AddrClass::Multicast
    } else if ip.is_broadcast() {
        AddrClass::LimitedBroadcast
    } else if is_reserved(ip) {
        AddrClass::Reserved
    } else {
        AddrClass::Unicast
    }
}

/// What a received datagram's destination means to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// One of our unicast addresses.
    Local,
    /// 255.255.255.255 or the receiving interface's directed broadcast.
    Broadcast,
    /// 224.0.0.0/4.
    Multicast,
    /// Someone else's: a host does not forward (RFC 1122 §3.3.1.1); count
    /// `InAddrErrors` and drop.
    NotOurs,
}

impl Destination {
    /// Broadcast or multicast: never answered with an ICMP error
    /// (RFC 1122 §3.2.2) and never to a TCP socket.
    pub const fn is_broadcast_or_multicast(self) -> bool {
        matches!(self, Destination::Broadcast | Destination::Multicast)
    }
}

/// Classifies `dst` for a datagram received by a host whose interfaces'
/// addresses are `subnets`: the directed broadcast of any of them is a
/// broadcast to this host, whichever interface it came in on (Linux's local
/// table has a broadcast route for each; it forwards one only with
/// `bc_forwarding`, off by default). `is_local` says whether `dst` is one of
/// the stack's addresses on any interface (RFC 1122 §3.3.4.2: a multihomed
/// host may accept any of them).
pub fn classify_destination(
    dst: Ipv4Addr,
    subnets: impl IntoIterator<Item = Ipv4Cidr>,
    is_local: bool,
) -> Destination {
    if is_local {
        Destination::Local
    } else if dst.is_broadcast() || subnets.into_iter().any(|c| c.is_directed_broadcast(dst)) {
        Destination::Broadcast
    } else if dst.is_multicast() {
        Destination::Multicast
    } else {
        Destination::NotOurs
    }
}

/// Why a received datagram's addresses are impossible ("martian"). Drop it
/// and count it; never answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Martian {
    /// Source in 224.0.0.0/4: a group cannot send (RFC 1122 §3.2.1.3 (c)).
    MulticastSource,
    /// Source 255.255.255.255 (RFC 1122 §3.2.1.3 (c)).
    LimitedBroadcastSource,
    /// Source is the receiving subnet's directed broadcast address
    /// (RFC 1122 §3.2.1.3 (d)); Linux rejects it too (`fib_validate_source`).
    DirectedBroadcastSource,
    /// Source in 0.0.0.0/8 (RFC 1812 §5.3.7 (a)). Linux lets 0.0.0.0 to
    /// 255.255.255.255 through for DHCP; synack has no DHCP client and does not.
    ZeroNetSource,
    /// Source in 127.0.0.0/8 on a non-loopback interface (RFC 1122
    /// §3.2.1.3 (g): loopback "MUST NOT appear outside a host").
    LoopbackSource,
    /// Source in 240.0.0.0/4 (RFC 1812 §5.3.7, Class E). Linux accepts these;
    /// a host has no use for them, so synack drops them.
    ReservedSource,
    /// Source is one of our own addresses on a non-loopback interface: a
    /// looped frame or a "land" attack (source = destination).
    LocalSource,
    /// Destination in 0.0.0.0/8 (RFC 1122 §3.2.1.3 (a)).
    ZeroNetDestination,
    /// Destination in 127.0.0.0/8 on a non-loopback interface.
    LoopbackDestination,
}

impl Martian {
    /// Whether the source (rather than the destination) is at fault.
    pub const fn is_source(self) -> bool {
        !matches!(
            self,
            Martian::ZeroNetDestination | Martian::LoopbackDestination
        )
    }
}

impl fmt::Display for Martian {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Martian::MulticastSource => "multicast source",
            Martian::LimitedBroadcastSource => "broadcast source",
            Martian::DirectedBroadcastSource => "directed-broadcast source",
            Martian::ZeroNetSource => "0.0.0.0/8 source",
            Martian::LoopbackSource => "loopback source on a non-loopback interface",
            Martian::ReservedSource => "240.0.0.0/4 source",
            Martian::LocalSource => "our own address as source",
            Martian::ZeroNetDestination => "0.0.0.0/8 destination",
            Martian::LoopbackDestination => "loopback destination on a non-loopback interface",
        })
    }
}

/// Checks a received datagram's addresses (RFC 1812 §5.3.7, RFC 1122
/// §3.2.1.3), in the order Linux's `ip_route_input_slow` does: source
/// multicast/broadcast, then 0/8 and loopback, then destination 0/8 and
/// loopback, then the source against our own addresses and broadcasts.
///
/// `subnets` are the addresses of every interface (a source that is the
/// broadcast of any of them is refused, as Linux's `fib_validate_source`
/// finds a broadcast route for it), `on_loopback` whether the receiving
/// interface is a loopback one, `src_is_local` whether `src` is one of the
/// stack's addresses on any interface.
pub fn check_martian(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    subnets: impl IntoIterator<Item = Ipv4Cidr>,
    on_loopback: bool,
    src_is_local: bool,
) -> Result<(), Martian> {
    if src.is_multicast() {
        return Err(Martian::MulticastSource);
    }
    if src.is_broadcast() {
        return Err(Martian::LimitedBroadcastSource);
    }
    if is_zero_net(src) {
        return Err(Martian::ZeroNetSource);
    }
    if is_reserved(src) {
        return Err(Martian::ReservedSource);
    }
    if is_zero_net(dst) {
        return Err(Martian::ZeroNetDestination);
    }
    if !on_loopback {
        if dst.is_loopback() {
            return Err(Martian::LoopbackDestination);
        }
        if src.is_loopback() {
            return Err(Martian::LoopbackSource);
        }
        if src_is_local {
            return Err(Martian::LocalSource);
        }
    }
    if subnets.into_iter().any(|c| c.is_directed_broadcast(src)) {
        return Err(Martian::DirectedBroadcastSource);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_prefix_notation_and_prints_it_back() {
        let c = cidr("192.0.2.77/24");
        assert_eq!((c.addr(), c.prefix_len()), (ip("192.0.2.77"), 24));
        assert_eq!(c.to_string(), "192.0.2.77/24");
        assert_eq!(cidr("198.51.100.1"), Ipv4Cidr::host(ip("198.51.100.1")));
        assert_eq!(cidr("0.0.0.0/0").prefix_len(), 0);
    }

    #[test]
    fn rejects_bad_addresses_and_prefixes() {
        for bad in ["192.0.2/24", "192.0.2.1.5/24", "x/24", "/24", ""] {
            assert_eq!(
                bad.parse::<Ipv4Cidr>(),
                Err(CidrParseError::BadAddress),
                "{bad}"
            );
        }
        for bad in [
            "192.0.2.1/33",
            "192.0.2.1/",
            "192.0.2.1/-1",
            "192.0.2.1/+8",
            "192.0.2.1/ 8",
            "192.0.2.1/024",
            "192.0.2.1/8/8",
        ] {
            assert_eq!(
                bad.parse::<Ipv4Cidr>(),
                Err(CidrParseError::BadPrefix),
                "{bad}"
            );
        }
        assert_eq!(Ipv4Cidr::new(ip("192.0.2.1"), 33), None);
    }

    #[test]
    fn masks_networks_and_broadcasts() {
        let c = cidr("192.0.2.77/26");
        assert_eq!(c.netmask(), ip("255.255.255.192"));
        assert_eq!(c.network(), ip("192.0.2.64"));
        assert_eq!(c.broadcast(), Some(ip("192.0.2.127")));
        assert_eq!(c.to_network(), cidr("192.0.2.64/26"));
        assert_eq!(cidr("10.1.2.3/0").netmask(), ip("0.0.0.0"));
        assert_eq!(cidr("10.1.2.3/0").broadcast(), Some(ip("255.255.255.255")));
        assert_eq!(cidr("10.1.2.3/32").netmask(), ip("255.255.255.255"));
        assert_eq!(cidr("10.1.2.3/8").broadcast(), Some(ip("10.255.255.255")));
    }

    #[test]
    fn slash_31_and_32_have_no_broadcast() {
        let p2p = cidr("203.0.113.0/31");
        assert_eq!(p2p.broadcast(), None);
        assert!(!p2p.is_directed_broadcast(ip("203.0.113.1")));
        assert!(p2p.contains(ip("203.0.113.1")));
        assert_eq!(cidr("203.0.113.9/32").broadcast(), None);
    }

    #[test]
    fn same_subnet_masks_both_addresses() {
        let c = cidr("192.0.2.1/25");
        assert!(c.contains(ip("192.0.2.126")));
        assert!(!c.contains(ip("192.0.2.128")));
        assert!(c.is_same_subnet(ip("192.0.2.200"), ip("192.0.2.129")));
        assert!(!c.is_same_subnet(ip("192.0.2.1"), ip("192.0.2.129")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.5")));
        assert!(cidr("192.0.2.1/32").contains(ip("192.0.2.1")));
        assert!(!cidr("192.0.2.1/32").contains(ip("192.0.2.2")));
        assert!(c.contains_cidr(&cidr("192.0.2.64/26")));
        assert!(!c.contains_cidr(&cidr("192.0.2.0/24")));
    }

    #[test]
    fn lowest_address_is_unicast_and_highest_is_broadcast() {
        let c = cidr("192.0.2.1/24");
        assert!(c.is_directed_broadcast(ip("192.0.2.255")));
        assert!(!c.is_directed_broadcast(ip("192.0.2.0")));
    }

    #[test]
    fn reserved_and_zero_net_classes() {
        assert!(is_zero_net(ip("0.1.2.3")) && !is_zero_net(ip("1.0.0.0")));
        assert!(is_reserved(ip("240.0.0.1")) && is_reserved(ip("255.255.255.254")));
        assert!(!is_reserved(ip("255.255.255.255")) && !is_reserved(ip("239.0.0.1")));
    }

    #[test]
    fn every_address_class_is_recognised() {
        for (a, class) in [
            ("0.0.0.0", AddrClass::Unspecified),
            ("0.0.0.1", AddrClass::ZeroNet),
            ("127.1.2.3", AddrClass::Loopback),
            ("169.254.9.9", AddrClass::LinkLocal),
            ("224.0.0.251", AddrClass::Multicast),
            ("239.255.255.255", AddrClass::Multicast),
            ("255.255.255.255", AddrClass::LimitedBroadcast),
            ("240.0.0.0", AddrClass::Reserved),
            ("192.0.2.255", AddrClass::Unicast),
            ("198.51.100.7", AddrClass::Unicast),
        ] {
            assert_eq!(classify(ip(a)), class, "{a}");
        }
    }

    #[test]
    fn destinations_are_classified_for_a_host() {
        let iface = [cidr("192.0.2.1/24"), cidr("198.51.100.1/30")];
        let class = |d: &str, local| classify_destination(ip(d), iface, local);
        assert_eq!(class("192.0.2.1", true), Destination::Local);
        assert_eq!(class("255.255.255.255", false), Destination::Broadcast);
        assert_eq!(class("192.0.2.255", false), Destination::Broadcast);
        assert_eq!(class("198.51.100.3", false), Destination::Broadcast);
        assert_eq!(class("224.0.0.1", false), Destination::Multicast);
        assert_eq!(class("192.0.2.9", false), Destination::NotOurs);
        assert!(Destination::Multicast.is_broadcast_or_multicast());
        assert!(!Destination::Local.is_broadcast_or_multicast());
    }

    #[test]
    fn martian_sources_and_destinations_are_named() {
        let iface = [cidr("192.0.2.1/24")];
        let us = ip("192.0.2.1");
        let check = |src: &str, dst: Ipv4Addr, lo: bool, local: bool| {
            check_martian(ip(src), dst, iface, lo, local)
        };
        assert_eq!(check("198.51.100.7", us, false, false), Ok(()));
        assert_eq!(
            check("224.0.0.5", us, false, false),
            Err(Martian::MulticastSource)
        );
        assert_eq!(
            check("255.255.255.255", us, false, false),
            Err(Martian::LimitedBroadcastSource)
        );
        assert_eq!(
            check("192.0.2.255", us, false, false),
            Err(Martian::DirectedBroadcastSource)
        );
        assert_eq!(
            check("0.0.0.0", ip("255.255.255.255"), false, false),
            Err(Martian::ZeroNetSource)
        );
        assert_eq!(
            check("0.9.9.9", us, false, false),
            Err(Martian::ZeroNetSource)
        );
        assert_eq!(
            check("127.0.0.1", us, false, false),
            Err(Martian::LoopbackSource)
        );
        assert_eq!(
            check("250.1.1.1", us, false, false),
            Err(Martian::ReservedSource)
        );
        // A land attack: our own address as the source.
        assert_eq!(
            check("192.0.2.1", us, false, true),
            Err(Martian::LocalSource)
        );
        assert_eq!(
            check("198.51.100.7", ip("0.0.0.5"), false, false),
            Err(Martian::ZeroNetDestination)
        );
        assert_eq!(
            check("198.51.100.7", ip("127.0.0.1"), false, false),
            Err(Martian::LoopbackDestination)
        );
        assert!(Martian::LocalSource.is_source());
        assert!(!Martian::LoopbackDestination.is_source());
    }

    #[test]
    fn loopback_interface_accepts_loopback_and_own_addresses() {
        let lo = [cidr("127.0.0.1/8")];
        let l = ip("127.0.0.1");
        assert_eq!(check_martian(l, l, lo, true, true), Ok(()));
        // Still never a multicast or broadcast source, even on loopback.
        assert_eq!(
            check_martian(ip("127.255.255.255"), l, lo, true, false),
            Err(Martian::DirectedBroadcastSource)
        );
    }
}
