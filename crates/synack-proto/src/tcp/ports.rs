//! Ephemeral port selection.
//!
//! Read first: RFC 6056 (recommendations for transport-protocol port
//! randomization), §3.3.4 "Algorithm 4: Double-Hash Port Selection".
//!
//! RFC 6056 §3.3.4, in short:
//!
//! ```text
//! offset = F(local_IP, remote_IP, remote_port, secret_key1)
//! index  = G(local_IP, remote_IP, remote_port, secret_key2)
//! repeat num_ephemeral times:
//!     port = min_ephemeral + (offset + table[index]) % num_ephemeral
//!     table[index]++
//!     if port is suitable: return port
//! ```
//!
//! Each destination starts at its own secret offset, so an attacker cannot
//! guess the port used towards another destination, and successive
//! connections to one destination walk the range sequentially, which spaces
//! reuse of a 4-tuple as far apart as possible (fewer TIME-WAIT collisions).
//! `table` spreads destinations over independent counters, so that connecting
//! to one destination does not reveal the next port towards another.
//!
//! F and G are SipHash-2-4 under keys derived from one secret; the table's
//! initial values are derived from it too, so the whole selector is a
//! deterministic function of its key (the stack draws it from its RNG).

use crate::siphash::SipKey;
use core::hash::Hasher;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::ops::RangeInclusive;

/// Linux's default `ip_local_port_range`: 32768..=60999.
pub const DEFAULT_PORT_RANGE: RangeInclusive<u16> = 32768..=60999;

/// RFC 6056 §3.3.4's suggested TABLE_LENGTH is 10; a larger table makes
/// destinations that share a counter rarer. 256 u32 counters = 1 KiB per stack.
pub const DEFAULT_TABLE_SIZE: usize = 256;

/// RFC 6056 Algorithm 4 over one port range.
#[derive(Clone, Debug)]
pub struct EphemeralPorts {
    min: u16,
    max: u16,
    /// Number of ports in the range (0 when the range is empty).
    count: u32,
    key: SipKey,
    /// Per-bucket counters (`table[]` of the RFC).
    table: Box<[u32]>,
}

/// Domain separation for the three uses of the key.
const DOMAIN_OFFSET: u8 = 1;
const DOMAIN_INDEX: u8 = 2;
const DOMAIN_TABLE: u8 = 3;

impl EphemeralPorts {
    /// A selector over `range` with a `table_size`-entry counter table
    /// (at least 1). Allocates the table.
    pub fn new(range: RangeInclusive<u16>, key: SipKey, table_size: usize) -> Self {
        let (min, max) = (*range.start(), *range.end());
        let count = if min <= max {
            u32::from(max - min) + 1
        } else {
            0
        };
        let table = (0..table_size.max(1))
            .map(|i| {
                let mut h = key.hasher();
                h.write(&[DOMAIN_TABLE]);
                h.write(&(i as u64).to_le_bytes());
                h.finish() as u32
            })
            .collect();
        EphemeralPorts {
            min,
            max,
            count,
            key,
            table,
        }
    }

    /// The ports this selector hands out.
    pub fn range(&self) -> RangeInclusive<u16> {
        self.min..=self.max
    }

    /// Picks a port for a connection from `local` to `remote`: the first
    /// candidate for which `is_free` returns true. Tries every port of the
    /// range at most once; `None` when none is free (or the range is empty).
    pub fn select(
        &mut self,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        mut is_free: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        if self.count == 0 {
            return None;
        }
        let n = u64::from(self.count);
        let offset = self.hash(DOMAIN_OFFSET, local, remote);
        let index = (self.hash(DOMAIN_INDEX, local, remote) % self.table.len() as u64) as usize;
        // Start once, then step by one: each port is tried exactly once even
        // if the counter wraps in between.
        let start = (offset % n + u64::from(self.table[index]) % n) % n;
        for tried in 0..n {
            let port = self.min + ((start + tried) % n) as u16;
            if is_free(port) {
                // table[index]++ for every attempt, as in the RFC.
                self.table[index] = self.table[index].wrapping_add(tried as u32 + 1);
                return Some(port);
            }
        }
        self.table[index] = self.table[index].wrapping_add(self.count);
        None
    }

    fn hash(&self, domain: u8, local: Ipv4Addr, remote: SocketAddrV4) -> u64 {
        let mut h = self.key.hasher();
        h.write(&[domain]);
        h.write(&local.octets());
        h.write(&remote.ip().octets());
        h.write(&remote.port().to_be_bytes());
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn remote(last: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, last), port)
    }

    fn selector(key: u8) -> EphemeralPorts {
        EphemeralPorts::new(DEFAULT_PORT_RANGE, SipKey([key; 16]), DEFAULT_TABLE_SIZE)
    }

    #[test]
    fn ports_stay_in_the_range() {
        let mut p = EphemeralPorts::new(1000..=1009, SipKey([5; 16]), 4);
        for i in 0..200u16 {
            let port = p.select(LOCAL, remote(i as u8, 80 + i), |_| true).unwrap();
            assert!((1000..=1009).contains(&port), "{port}");
        }
        let mut p = selector(1);
        for i in 0..1000u16 {
            let port = p.select(LOCAL, remote(1, i), |_| true).unwrap();
            assert!(DEFAULT_PORT_RANGE.contains(&port));
        }
        assert_eq!(p.range(), DEFAULT_PORT_RANGE);
    }

    #[test]
    fn one_destination_walks_the_range_sequentially() {
        let mut p = selector(2);
        let dst = remote(7, 443);
        let first = p.select(LOCAL, dst, |_| true).unwrap();
        let second = p.select(LOCAL, dst, |_| true).unwrap();
        let expected = if first == 60999 { 32768 } else { first + 1 };
        assert_eq!(second, expected);
        // A busy port is skipped, and the counter moves past it.
        let third = p.select(LOCAL, dst, |port| port != expected + 1).unwrap();
        assert_eq!(third, expected + 2);
    }

    #[test]
    fn different_destinations_get_independent_sequences() {
        let mut p = selector(3);
        let starts: HashSet<u16> = (0..100u8)
            .map(|i| p.select(LOCAL, remote(i, 443), |_| true).unwrap())
            .collect();
        // 100 draws from 28232 ports: a handful of coincidences at most.
        assert!(starts.len() >= 97, "{} distinct first ports", starts.len());
        // Using one destination a lot does not move another's sequence
        // (unless they share a table bucket, which this pair does not).
        let mut a = selector(4);
        let mut b = selector(4);
        let x = remote(1, 80);
        let y = remote(2, 80);
        assert_ne!(
            a.hash(DOMAIN_INDEX, LOCAL, x) % 256,
            a.hash(DOMAIN_INDEX, LOCAL, y) % 256
        );
        for _ in 0..50 {
            a.select(LOCAL, x, |_| true);
        }
        assert_eq!(a.select(LOCAL, y, |_| true), b.select(LOCAL, y, |_| true));
    }

    #[test]
    fn exhaustion_tries_every_port_once_then_returns_none() {
        let mut p = EphemeralPorts::new(50000..=50099, SipKey([6; 16]), 8);
        let mut tried = Vec::new();
        let got = p.select(LOCAL, remote(1, 80), |port| {
            tried.push(port);
            false
        });
        assert_eq!(got, None);
        assert_eq!(tried.len(), 100);
        let distinct: HashSet<u16> = tried.iter().copied().collect();
        assert_eq!(distinct.len(), 100);
        // A free port among busy ones is found.
        let got = p.select(LOCAL, remote(1, 80), |port| port == 50042);
        assert_eq!(got, Some(50042));
    }

    #[test]
    fn empty_and_single_port_ranges() {
        #[allow(clippy::reversed_empty_ranges)]
        let mut empty = EphemeralPorts::new(10..=9, SipKey([0; 16]), 1);
        assert_eq!(empty.select(LOCAL, remote(1, 1), |_| true), None);
        assert!(empty.range().is_empty());
        let mut one = EphemeralPorts::new(65535..=65535, SipKey([0; 16]), 0);
        assert_eq!(one.select(LOCAL, remote(1, 1), |_| true), Some(65535));
        assert_eq!(one.select(LOCAL, remote(1, 1), |_| false), None);
        let mut all = EphemeralPorts::new(0..=65535, SipKey([0; 16]), 1);
        assert!(all.select(LOCAL, remote(1, 1), |_| true).is_some());
        assert_eq!(all.range(), 0..=65535);
    }

    #[test]
    fn same_key_same_choices() {
        let mut a = selector(7);
        let mut b = selector(7);
        let mut c = selector(8);
        let pick = |p: &mut EphemeralPorts| -> Vec<u16> {
            (0..20u8)
                .map(|i| p.select(LOCAL, remote(i, 443), |_| true).unwrap())
                .collect()
        };
        let (va, vb, vc) = (pick(&mut a), pick(&mut b), pick(&mut c));
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }
}
