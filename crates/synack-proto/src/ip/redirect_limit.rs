//! How often a router redirects one sender (RFC 1812 §4.3.2.8: "a router
//! ... SHOULD limit the rate at which it sends" ICMP messages; Linux's
//! `ip_rt_send_redirect`, whose numbers these are): the first redirect at
//! once, each next one only after twice the wait of the one before (20 ms,
//! then 40, 80, ...), at most nine; then none while the sender keeps
//! sending by this router, as it ignores them. Once it has sent nothing
//! that needed one for the silence (20 ms << 10, about 20 s), it starts
//! over.

use core::net::Ipv4Addr;
use std::collections::HashMap;

use crate::time::{Duration, Instant};

/// The first wait (Linux `ip_rt_redirect_load`, HZ / 50).
const LOAD: Duration = Duration::from_millis(20);
/// Redirects to one sender before it is taken to ignore them
/// (`ip_rt_redirect_number`).
const NUMBER: u8 = 9;
/// Quiet time after which a sender starts over
/// (`ip_rt_redirect_silence`: the load shifted by the number plus one).
const SILENCE: Duration = Duration::from_millis(20 << (NUMBER + 1));
/// Senders remembered at most; a new one past this is not redirected
/// until some fall silent (a flood of sources cannot grow the table).
const MAX_PEERS: usize = 4096;

/// One sender's redirects.
#[derive(Clone, Copy, Debug)]
struct Peer {
    /// Sent since it last started over.
    sent: u8,
    /// When the last was sent, or (once `NUMBER` were) when the last
    /// datagram that needed one came.
    last: Instant,
}

/// The redirects a router owes each sender.
#[derive(Debug, Default)]
pub struct RedirectLimiter {
    peers: HashMap<Ipv4Addr, Peer, rustc_hash::FxBuildHasher>,
}

impl RedirectLimiter {
    /// Whether a redirect goes to `src` now, for a datagram it sent that
    /// needed one (and, when one goes, that it went).
    pub fn allow(&mut self, now: Instant, src: Ipv4Addr) -> bool {
        if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&src) {
            self.peers
                .retain(|_, p| now.saturating_duration_since(p.last) <= SILENCE);
            if self.peers.len() >= MAX_PEERS {
                return false;
            }
        }
        let peer = self.peers.entry(src).or_insert(Peer { sent: 0, last: now });
        if now.saturating_duration_since(peer.last) > SILENCE {
            peer.sent = 0;
        }
        if peer.sent >= NUMBER {
            peer.last = now;
            return false;
        }
        let wait = Duration::from_micros(LOAD.total_micros() << peer.sent);
        if peer.sent == 0 || now.saturating_duration_since(peer.last) > wait {
            peer.last = now;
            peer.sent += 1;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn the_waits_double_nine_are_sent_then_none_until_a_silence() {
        let mut l = RedirectLimiter::default();
        // Every millisecond a datagram that needs a redirect, for 12 s.
        let sent: Vec<u64> = (0..12_000).filter(|&ms| l.allow(at(ms), A)).collect();
        // At once, then past 40, 80, ... ms after the one before.
        assert_eq!(sent, [0, 41, 122, 283, 604, 1245, 2526, 5087, 10208]);
        // Another sender has its own count.
        assert!(l.allow(at(12_000), B));
        // A keeps sending: nothing, however long.
        assert!(!l.allow(at(30_000), A));
        // Quiet for over 20.48 s: it starts over.
        assert!(l.allow(at(30_000 + 20_481), A));
        assert!(!l.allow(at(30_000 + 20_482), A));
    }

    #[test]
    fn a_full_table_forgets_the_silent_and_refuses_new_senders_otherwise() {
        let mut l = RedirectLimiter::default();
        for i in 0..MAX_PEERS as u32 {
            assert!(l.allow(at(0), Ipv4Addr::from(0x0a00_0000 + i)));
        }
        assert!(!l.allow(at(1), A), "full: a new sender waits");
        assert!(l.allow(at(20_481), A), "the silent ones are forgotten");
        assert_eq!(l.peers.len(), 1);
    }
}
