//! Initial sequence numbers.
//!
//! Read first: RFC 6528 (defending against sequence number attacks),
//! RFC 9293 §3.4.1 (the ISN clock).
//!
//! RFC 6528 §3: `ISN = M + F(localip, localport, remoteip, remoteport,
//! secretkey)`, where M is a timer that ticks every 4 microseconds and F a
//! keyed pseudorandom function. Here F is SipHash-2-4 of the 4-tuple under a
//! 128-bit key the stack draws from its RNG at start-up, truncated to 32 bits.
//! An off-path attacker who does not know the key cannot predict the ISN of a
//! connection; successive connections on the same 4-tuple still get ISNs that
//! increase with the clock (RFC 9293 §3.4.1), which keeps old duplicates of a
//! previous incarnation out of the new one's window.

use crate::siphash::{SipKey, SipTuple};
use crate::tcp::seq::SeqNum;
use crate::time::Instant;
use core::net::SocketAddrV4;

/// Microseconds per tick of the ISN clock M (RFC 6528 §3: "a 4 microsecond
/// timer"): 250,000 ticks per second, wrapping about every 4.77 hours.
pub const ISN_TICK_MICROS: u64 = 4;

/// Generates RFC 6528 initial sequence numbers under one secret key.
#[derive(Clone, Debug)]
pub struct IsnGenerator {
    /// F: SipHash-2-4 under the secret key.
    f: SipTuple,
}

impl IsnGenerator {
    /// A generator keyed with `key` (the stack draws it from its RNG).
    pub fn new(key: SipKey) -> Self {
        IsnGenerator {
            f: SipTuple::sip24(key),
        }
    }

    /// The ISN for a connection from `local` to `remote` starting at `now`.
    pub fn isn(&self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> SeqNum {
        // M: truncating to 32 bits is the clock's wrap (RFC 9293 §3.4.1).
        let m = (now.total_micros() / ISN_TICK_MICROS) as u32;
        // F over the tuple's 12 bytes in one call (SipHash sees one byte
        // stream however it is fed: the same value as field by field).
        let mut msg = [0u8; 12];
        msg[0..4].copy_from_slice(&local.ip().octets());
        msg[4..6].copy_from_slice(&local.port().to_be_bytes());
        msg[6..10].copy_from_slice(&remote.ip().octets());
        msg[10..12].copy_from_slice(&remote.port().to_be_bytes());
        let f = self.f.hash(&msg) as u32;
        SeqNum(m.wrapping_add(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use core::net::Ipv4Addr;

    fn addr(a: [u8; 4], port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a), port)
    }

    const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000);
    const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 443);

    #[test]
    fn same_key_same_tuple_same_time_gives_the_same_isn() {
        let a = IsnGenerator::new(SipKey([3; 16]));
        let b = IsnGenerator::new(SipKey([3; 16]));
        let now = Instant::from_millis(1234);
        assert_eq!(a.isn(now, LOCAL, REMOTE), b.isn(now, LOCAL, REMOTE));
    }

    #[test]
    fn isn_is_sip24_of_the_tuple_fields_in_order_plus_the_clock() {
        use core::hash::Hasher;
        // The value the generator always gave (fed field by field), so
        // runs replay across versions.
        let key = SipKey([5; 16]);
        let mut h = key.hasher();
        h.write(&[192, 0, 2, 1]);
        h.write(&40000u16.to_be_bytes());
        h.write(&[198, 51, 100, 7]);
        h.write(&443u16.to_be_bytes());
        let now = Instant::from_micros(4 * 1_000);
        let want = SeqNum((h.finish() as u32).wrapping_add(1_000));
        assert_eq!(IsnGenerator::new(key).isn(now, LOCAL, REMOTE), want);
    }

    #[test]
    fn every_tuple_field_changes_the_isn() {
        let g = IsnGenerator::new(SipKey([9; 16]));
        let now = Instant::from_secs(5);
        let base = g.isn(now, LOCAL, REMOTE);
        let variants = [
            (addr([192, 0, 2, 2], 40000), REMOTE),
            (addr([192, 0, 2, 1], 40001), REMOTE),
            (LOCAL, addr([198, 51, 100, 8], 443)),
            (LOCAL, addr([198, 51, 100, 7], 444)),
            // Swapping the direction is a different connection too.
            (REMOTE, LOCAL),
        ];
        for (l, r) in variants {
            assert_ne!(g.isn(now, l, r), base, "{l} -> {r}");
        }
    }

    #[test]
    fn the_isn_advances_250k_per_second() {
        let g = IsnGenerator::new(SipKey([1; 16]));
        let t0 = Instant::from_secs(100);
        let a = g.isn(t0, LOCAL, REMOTE);
        let b = g.isn(t0 + crate::time::Duration::from_secs(1), LOCAL, REMOTE);
        assert_eq!(b.diff(a), 250_000);
        let c = g.isn(t0 + crate::time::Duration::from_micros(4), LOCAL, REMOTE);
        assert_eq!(c.diff(a), 1);
        // And wraps like sequence space does.
        let far = Instant::from_micros(4 * (1u64 << 32));
        assert_eq!(
            g.isn(far, LOCAL, REMOTE),
            g.isn(Instant::ZERO, LOCAL, REMOTE)
        );
    }

    #[test]
    fn isns_under_different_keys_look_random() {
        let mut rng = Rng::from_seed(6528);
        let now = Instant::from_secs(1);
        let n = 10_000;
        let isns: Vec<u32> = (0..n)
            .map(|_| {
                IsnGenerator::new(SipKey(rng.key128()))
                    .isn(now, LOCAL, REMOTE)
                    .raw()
            })
            .collect();
        let distinct: std::collections::HashSet<u32> = isns.iter().copied().collect();
        // Birthday bound: about 0.01 expected collisions among 10k 32-bit values.
        assert!(distinct.len() >= n - 2, "{} distinct", distinct.len());
        // Every bit is set about half the time (sd 50; allow 6 sd).
        for bit in 0..32 {
            let ones = isns.iter().filter(|&&x| x >> bit & 1 == 1).count();
            assert!((4_700..=5_300).contains(&ones), "bit {bit}: {ones}");
        }
    }
}
