//! The network layer's building blocks, each a pure sans-IO component that
//! the `Stack` composes into a host: addresses and martian filtering
//! ([`addr`]), the routing table ([`route`]), the ARP cache ([`arp`]),
//! fragment reassembly ([`frag`]), ICMP policy, replies and rate limiting
//! ([`icmp`]), the header's options ([`options`]), path MTUs learned per destination ([`pmtu`]), and the MIB
//! counters the stack keeps ([`stats`]).
//!
//! None of them performs I/O or reads a clock: every method that depends on
//! time takes `now`, and each says what the caller should transmit through a
//! return value or a `poll_*` method. Nothing here panics on wire input.

use core::hash::BuildHasher;

use siphasher::sip::SipHasher13;

use crate::siphash::SipKey;

pub mod addr;
pub mod arp;
pub mod frag;
pub mod icmp;
pub mod igmp;
pub mod options;
pub mod pmtu;
pub mod redirect_limit;
pub mod route;
pub mod stats;

pub use addr::{CidrParseError, Ipv4Cidr, Martian};
pub use arp::{ArpCache, ArpLookup, NeighState, Neighbour};
pub use frag::Reassembler;
pub use icmp::IcmpRateLimiter;
pub use route::{NextHop, Route, RoutingTable};

/// The IP header fields a socket chooses for what it sends (Linux's
/// `inet_sock` `uc_ttl` and `tos`): IP_TTL and IP_TOS. A TCP socket's
/// `tos` holds the DSCP bits only: RFC 3168 §6.1 leaves the ECN field to
/// TCP, segment by segment (Linux `__ip_sock_set_tos` keeps a stream
/// socket's ECN bits its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SocketIp {
    /// IP_TTL; 0 until set, when each packet takes `ip_default_ttl` as it
    /// is sent (Linux's `uc_ttl` of -1, which `ip_select_ttl` resolves per
    /// packet).
    pub ttl: u8,
    /// IP_TOS: the header's TOS byte (RFC 2474's DSCP in its upper six
    /// bits, RFC 3168's ECN field in the lower two); 0 until set.
    pub tos: u8,
}

/// The ECN field of a TOS byte (RFC 3168 §5: its two low bits).
pub const ECN_MASK: u8 = 0b11;

/// One of the stack's network interfaces (an index the stack assigns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfaceId(pub u16);

/// A `BuildHasher` keyed with a secret, for tables whose keys a remote peer
/// chooses (ARP entries, reassembly queues, ICMP buckets, UDP bindings): with
/// a keyed SipHash an attacker cannot aim many keys at one bucket (hash
/// flooding). SipHash-1-3, as std's `RandomState`, but deterministic: the key
/// comes from the stack's seeded RNG.
#[derive(Clone, Copy, Debug)]
pub struct KeyedHasher(SipKey);

impl KeyedHasher {
    pub const fn new(key: SipKey) -> Self {
        KeyedHasher(key)
    }
}

impl BuildHasher for KeyedHasher {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_key(&self.0.0)
    }
}
