//! Path MTUs learned per destination, Linux's route cache exceptions
//! (`fib_nh_exception`): a "fragmentation needed" that lowers one
//! connection's path MTU is remembered for its destination, so the next
//! connection there starts with it instead of learning it again by losing
//! its first large segments.
//!
//! Read first: RFC 1191 §5 (hosts "SHOULD" keep the path MTU per
//! destination, in the route cache, and "MUST" let it age so a path that
//! grew is found again: §6.3 suggests 10 minutes), RFC 5927 §7 (only a
//! report a connection validated is believed).
//!
//! An entry lives `route.mtu_expires` (600 s, Linux's default) from the
//! report that set it; then the interface's MTU applies again. Entries come
//! only from reports the connections validated (the quoted sequence number
//! in flight), so a peer cannot fill the table at will; still it holds at
//! most [`MAX_ENTRIES`], and a report for a new destination when it is full
//! replaces the entry that expires first (a scan, once per such report).
//! Keys are hashed with a secret (SipHash-1-3), as the other tables whose
//! keys the network chooses. Connections already open keep the path MTU
//! they learned when an entry expires (Linux without `tcp_mtu_probing`).
//!
//! Datagram sockets (UDP, ping) learn here too, from a report that quotes
//! a datagram one of them sent (Linux `__udp4_lib_err` and `ping_err`
//! update the route's MTU whatever the socket's mode), and read it back
//! as they send: [`PmtuDiscovery`] says what a datagram does with it.

use core::net::Ipv4Addr;
use std::collections::HashMap;

use super::KeyedHasher;
use crate::time::{Duration, Instant};

/// Most destinations remembered.
pub const MAX_ENTRIES: usize = 4096;

/// IP_MTU_DISCOVER, a datagram socket's use of the path MTU (RFC 1191;
/// Linux's `IP_PMTUDISC_*`, whose default is `Want` unless
/// `ip_no_pmtu_disc`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PmtuDiscovery {
    /// `IP_PMTUDISC_DONT`: no DF; what is larger than the path MTU goes
    /// in fragments of it, and "fragmentation needed" is not reported.
    Dont,
    /// `IP_PMTUDISC_WANT`: DF on a datagram that fits the path MTU, the
    /// others in fragments of it.
    #[default]
    Want,
    /// `IP_PMTUDISC_DO`: DF always; a datagram larger than the path MTU
    /// is refused (EMSGSIZE).
    Do,
    /// `IP_PMTUDISC_PROBE`: DF always, bounded by the link's MTU, not the
    /// path's: a packetization layer's probes (RFC 8899, RFC 4821).
    Probe,
}

impl PmtuDiscovery {
    /// DF for a datagram of `len` bytes with the path MTU `path` and its
    /// link's MTU `link` (`__ip_make_skb`, `ip_dont_fragment`); `Err` with
    /// the MTU it exceeds when it is to be refused.
    pub fn dont_fragment(self, len: usize, path: u16, link: u16) -> Result<bool, u16> {
        match self {
            PmtuDiscovery::Dont => Ok(false),
            PmtuDiscovery::Want => Ok(len <= usize::from(path)),
            PmtuDiscovery::Do if len <= usize::from(path) => Ok(true),
            PmtuDiscovery::Do => Err(path),
            PmtuDiscovery::Probe if len <= usize::from(link) => Ok(true),
            PmtuDiscovery::Probe => Err(link),
        }
    }
}

/// Path MTUs by destination, each with its expiry.
#[derive(Debug)]
pub struct PathMtuCache {
    entries: HashMap<Ipv4Addr, (u16, Instant), KeyedHasher>,
}

impl PathMtuCache {
    pub fn new(hasher: KeyedHasher) -> Self {
        PathMtuCache {
            entries: HashMap::with_hasher(hasher),
        }
    }

    /// No destination remembered: the question every new connection asks
    /// is answered without a hash.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// A validated report lowered the path MTU to `dst` to `mtu`; it is
    /// kept for `expires` (`route.mtu_expires`).
    pub fn learn(&mut self, now: Instant, dst: Ipv4Addr, mtu: u16, expires: Duration) {
        let expiry = now + expires;
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&dst) {
            let first = self
                .entries
                .iter()
                .min_by_key(|&(_, &(_, at))| at)
                .map(|(&addr, _)| addr);
            if let Some(addr) = first {
                self.entries.remove(&addr);
            }
        }
        self.entries.insert(dst, (mtu, expiry));
    }

    /// [`Self::get`] without forgetting an expired entry.
    pub fn peek(&self, now: Instant, dst: Ipv4Addr) -> Option<u16> {
        let &(mtu, expiry) = self.entries.get(&dst)?;
        (now < expiry).then_some(mtu)
    }

    /// The path MTU to `dst`, if a report set one that has not expired (an
    /// expired one is forgotten).
    pub fn get(&mut self, now: Instant, dst: Ipv4Addr) -> Option<u16> {
        let &(mtu, expiry) = self.entries.get(&dst)?;
        if now >= expiry {
            self.entries.remove(&dst);
            return None;
        }
        Some(mtu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siphash::SipKey;

    const EXPIRES: Duration = Duration::from_secs(600);

    fn cache() -> PathMtuCache {
        PathMtuCache::new(KeyedHasher::new(SipKey([7; 16])))
    }

    #[test]
    fn each_mode_sets_df_or_refuses_as_linux() {
        use PmtuDiscovery::*;
        // Path 1280 on a 1500 link.
        let df = |mode: PmtuDiscovery, len| mode.dont_fragment(len, 1280, 1500);
        assert_eq!((df(Dont, 100), df(Dont, 1400)), (Ok(false), Ok(false)));
        assert_eq!((df(Want, 1280), df(Want, 1281)), (Ok(true), Ok(false)));
        assert_eq!((df(Do, 1280), df(Do, 1281)), (Ok(true), Err(1280)));
        assert_eq!((df(Probe, 1500), df(Probe, 1501)), (Ok(true), Err(1500)));
        assert_eq!(PmtuDiscovery::default(), Want);
    }

    #[test]
    fn an_entry_lives_its_expiry_and_a_later_report_renews_it() {
        let mut c = cache();
        let dst = Ipv4Addr::new(198, 51, 100, 7);
        let t0 = Instant::from_secs(10);
        assert!(c.is_empty());
        c.learn(t0, dst, 1280, EXPIRES);
        assert_eq!(c.get(t0 + Duration::from_secs(599), dst), Some(1280));
        c.learn(t0 + Duration::from_secs(300), dst, 1000, EXPIRES);
        assert_eq!(c.get(t0 + Duration::from_secs(899), dst), Some(1000));
        assert_eq!(c.get(t0 + Duration::from_secs(900), dst), None);
        assert!(c.is_empty(), "an expired entry is forgotten");
    }

    #[test]
    fn a_full_cache_replaces_the_entry_that_expires_first() {
        let mut c = cache();
        let addr = |i: usize| Ipv4Addr::from_bits(0xC633_0000 + i as u32);
        for i in 0..MAX_ENTRIES {
            c.learn(Instant::from_millis(i as u64), addr(i), 1400, EXPIRES);
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        let late = Instant::from_secs(100);
        c.learn(late, addr(MAX_ENTRIES), 1300, EXPIRES);
        assert_eq!(c.len(), MAX_ENTRIES);
        assert_eq!(c.get(late, addr(0)), None, "the oldest went");
        assert_eq!(c.get(late, addr(1)), Some(1400));
        assert_eq!(c.get(late, addr(MAX_ENTRIES)), Some(1300));
        // A destination already there is updated, nothing evicted.
        c.learn(late, addr(1), 1200, EXPIRES);
        assert_eq!((c.len(), c.get(late, addr(2))), (MAX_ENTRIES, Some(1400)));
    }
}
