//! Packetization layer path MTU discovery (RFC 4821): a connection finds
//! its path's MTU by sending one larger segment now and then and seeing
//! whether it is acknowledged, without depending on ICMP "fragmentation
//! needed", which a black hole (RFC 2923 §2.1) never delivers.
//!
//! Read first: RFC 4821 §3 (probes are ordinary data; a lost probe means
//! the size, not congestion), §7.2 (black hole detection), §7.3-7.7 (the
//! search, its bounds and when it is done), and Linux's
//! `tcp_mtu_probing` sysctl, whose modes this follows: 1 starts a search
//! only once black hole detection fired (net/ipv4/tcp_timer.c
//! `tcp_mtu_probing`), 2 starts one with every connection (tcp_output.c
//! `tcp_mtup_init`).
//!
//! The search is Linux's binary search (tcp_output.c `tcp_mtu_probe`,
//! tcp_input.c `tcp_mtup_probe_success` and `tcp_mtup_probe_failed`):
//! - `low`, the largest MTU known to pass, is what the segments use; it
//!   starts at `tcp_base_mss` plus headers;
//! - `high`, the largest not known to fail, starts at the path MTU the
//!   route and ICMP allow;
//! - a probe is one segment of `(low + high) / 2`; acknowledged, `low`
//!   rises to it; lost (the first unacknowledged segment when loss is
//!   detected, with no reduction under way), `high` falls below it;
//! - the search stops when `high - low` is under `tcp_probe_threshold`
//!   (8 bytes), and starts over after `tcp_probe_interval` (600 s), so a
//!   path that grew is found again.
//!
//! This module is the search's state and arithmetic; the connection
//! (`conn::mtu_probe`) decides when a probe may go, sends it and reads
//! its fate from the ACKs and loss recovery. Everything here is in IP
//! datagram bytes (MTUs); `headers` is what a segment adds to its
//! payload: the IP and TCP headers and the options every segment carries.

use crate::SeqNum;
use crate::time::{Duration, Instant};

/// One connection's search (Linux `icsk_mtup` with `tp->mtu_probe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MtuSearch {
    /// The largest MTU the path can have: the route's (the interface's,
    /// and the peer's MSS) as ICMP lowered it. `high` never exceeds it.
    pmtu: u16,
    /// What the route allowed when the search began, for a new search.
    ceiling: u16,
    /// The largest MTU not known to fail (Linux `search_high`).
    high: u16,
    /// The largest MTU known to pass (Linux `search_low`): the segments'.
    low: u16,
    /// The probe in flight: its MTU and its sequence range.
    probe: Option<Probe>,
    /// When the search (re)started (Linux `probe_timestamp`).
    started: Instant,
}

/// A probe in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub mtu: u16,
    pub start: SeqNum,
    pub end: SeqNum,
}

/// What became of a probe (see [`MtuSearch::settle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Acknowledged: segments may now be as large.
    Passed,
    /// Lost as the first unacknowledged segment: the path is smaller.
    Failed,
    /// Its fate says nothing of its size (a loss before it, a timeout, a
    /// congestion signal): it is forgotten, the bounds stay.
    Abandoned,
}

impl MtuSearch {
    /// A search on a path that allows `pmtu`, starting from `low` (the
    /// base MSS plus headers, or less when the path is smaller).
    pub fn new(now: Instant, pmtu: u16, low: u16) -> Self {
        MtuSearch {
            pmtu,
            ceiling: pmtu,
            high: pmtu,
            low: low.min(pmtu),
            probe: None,
            started: now,
        }
    }

    /// The MTU segments use now.
    pub fn mtu(&self) -> u16 {
        self.low
    }

    /// The path MTU the route and ICMP allow.
    pub fn path_mtu(&self) -> u16 {
        self.pmtu
    }

    /// The bounds: known to pass, not known to fail.
    pub fn bounds(&self) -> (u16, u16) {
        (self.low, self.high)
    }

    /// The probe in flight.
    pub fn probe(&self) -> Option<Probe> {
        self.probe
    }

    /// The MTU to probe next, unless the search is done (the bounds closer
    /// than `threshold`) or a probe is in flight. A done search starts over
    /// once `interval` has passed since it began (Linux
    /// `tcp_mtu_check_reprobe`): `high` back to what the route allowed,
    /// `low` where it is.
    pub fn next_probe(&mut self, now: Instant, threshold: u16, interval: Duration) -> Option<u16> {
        if self.probe.is_some() {
            return None;
        }
        if self.high.saturating_sub(self.low) < threshold.max(1) {
            if now.saturating_duration_since(self.started) < interval {
                return None;
            }
            self.pmtu = self.ceiling;
            self.high = self.ceiling;
            self.started = now;
            if self.high.saturating_sub(self.low) < threshold.max(1) {
                return None;
            }
        }
        // Linux rounds down; the probe is always above `low`.
        Some(((u32::from(self.low) + u32::from(self.high)) / 2) as u16).filter(|&m| m > self.low)
    }

    /// A probe of `mtu` went out as `start..end`.
    pub fn sent(&mut self, mtu: u16, start: SeqNum, end: SeqNum) {
        self.probe = Some(Probe { mtu, start, end });
    }

    /// The probe's fate, once known: `Passed` raises `low` to it, `Failed`
    /// lowers `high` below it, `Abandoned` forgets it.
    pub fn settle(&mut self, verdict: Verdict) {
        let Some(probe) = self.probe.take() else {
            return;
        };
        match verdict {
            Verdict::Passed => self.low = self.low.max(probe.mtu.min(self.high)),
            Verdict::Failed => self.high = self.high.min(probe.mtu - 1).max(self.low),
            Verdict::Abandoned => {}
        }
    }

    /// ICMP says the path allows at most `mtu` (RFC 1191 §6.1; Linux
    /// `tcp_sync_mss` bounds `search_high` by the path MTU): both bounds
    /// follow it down. Returns whether a probe in flight was larger, and
    /// so is lost (forgotten here; its data goes again, smaller).
    pub fn on_path_mtu(&mut self, mtu: u16) -> bool {
        self.pmtu = self.pmtu.min(mtu);
        self.high = self.high.min(mtu);
        self.low = self.low.min(mtu);
        let lost = self.probe.is_some_and(|p| p.mtu > mtu);
        if lost {
            self.probe = None;
        }
        lost
    }

    /// RFC 4821 §7.2 black hole detection fired again while searching
    /// (Linux `tcp_mtu_probing`): even `low` seems not to pass. It halves
    /// in payload, to at most `base_mss` and at least `floor` bytes of it;
    /// `high` follows. Returns whether `low` went down.
    pub fn on_black_hole(&mut self, headers: u16, base_mss: u16, floor: u16) -> bool {
        self.probe = None;
        let mss = self.low.saturating_sub(headers) >> 1;
        let low = mss.min(base_mss).max(floor).max(1).saturating_add(headers);
        if low >= self.low {
            return false;
        }
        self.low = low;
        self.high = self.high.max(low);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Instant = Instant::ZERO;
    const HOUR: Duration = Duration::from_secs(3600);
    const TEN_MIN: Duration = Duration::from_secs(600);

    /// Runs the search against a path of `path` bytes, every probe passing
    /// when it fits: returns the probes' MTUs and the MTU it ends at.
    fn converge(search: &mut MtuSearch, path: u16) -> (Vec<u16>, u16) {
        let mut probes = Vec::new();
        let mut seq = SeqNum(0);
        while let Some(mtu) = search.next_probe(T, 8, HOUR) {
            assert!(probes.len() < 32, "the search ends");
            probes.push(mtu);
            search.sent(mtu, seq, seq + 1000u32);
            seq += 1000u32;
            let verdict = if mtu <= path {
                Verdict::Passed
            } else {
                Verdict::Failed
            };
            search.settle(verdict);
        }
        (probes, search.mtu())
    }

    #[test]
    fn a_search_from_the_base_mss_climbs_within_the_threshold_of_the_path() {
        // Linux's search on a 1,500-byte path from tcp_base_mss 1,024 with
        // timestamps (52 bytes of headers): 1,076 .. 1,500.
        let mut s = MtuSearch::new(T, 1500, 1076);
        let (probes, mtu) = converge(&mut s, 1500);
        assert_eq!(probes, [1288, 1394, 1447, 1473, 1486, 1493]);
        assert_eq!(mtu, 1493, "within 8 bytes of 1,500");
        assert_eq!(s.bounds(), (1493, 1500));
    }

    #[test]
    fn failed_probes_bound_the_search_from_above() {
        let mut s = MtuSearch::new(T, 1500, 1076);
        let (probes, mtu) = converge(&mut s, 1300);
        assert_eq!(probes, [1288, 1394, 1340, 1313, 1300, 1306]);
        assert_eq!(mtu, 1300, "the path itself");
        assert_eq!(s.bounds(), (1300, 1305), "1,306 failed last");
    }

    #[test]
    fn one_probe_at_a_time() {
        let mut s = MtuSearch::new(T, 1500, 1076);
        let mtu = s.next_probe(T, 8, HOUR).unwrap();
        s.sent(mtu, SeqNum(1), SeqNum(1237));
        assert_eq!(s.next_probe(T, 8, HOUR), None);
        s.settle(Verdict::Abandoned);
        assert_eq!(s.bounds(), (1076, 1500), "abandoned: nothing learned");
        assert_eq!(s.next_probe(T, 8, HOUR), Some(mtu));
    }

    #[test]
    fn a_done_search_starts_over_after_the_interval() {
        let mut s = MtuSearch::new(T, 1500, 1076);
        converge(&mut s, 1300);
        let (low, _) = s.bounds();
        assert_eq!(s.next_probe(T + Duration::from_secs(599), 8, TEN_MIN), None);
        let later = T + TEN_MIN;
        let probe = s.next_probe(later, 8, TEN_MIN).unwrap();
        assert_eq!(s.bounds(), (low, 1500), "high back to the route's");
        assert_eq!(probe, (low + 1500) / 2);
        // And the interval counts from there.
        s.sent(probe, SeqNum(0), SeqNum(1));
        s.settle(Verdict::Failed);
        converge(&mut s, 1300);
        assert_eq!(
            s.next_probe(later + Duration::from_secs(599), 8, TEN_MIN),
            None
        );
    }

    #[test]
    fn icmp_lowers_both_bounds_and_loses_a_larger_probe() {
        let mut s = MtuSearch::new(T, 1500, 1076);
        let mtu = s.next_probe(T, 8, HOUR).unwrap();
        s.sent(mtu, SeqNum(0), SeqNum(1000));
        assert!(s.on_path_mtu(1280), "the 1,288-byte probe is too large");
        assert_eq!(s.probe(), None);
        assert_eq!(s.bounds(), (1076, 1280));
        assert!(!s.on_path_mtu(1400), "a larger MTU raises nothing");
        assert_eq!(s.bounds(), (1076, 1280));
        assert!(!s.on_path_mtu(1000));
        assert_eq!(s.bounds(), (1000, 1000), "below low: both follow");
        assert_eq!(s.next_probe(T, 8, HOUR), None);
    }

    #[test]
    fn black_hole_detection_halves_low() {
        let mut s = MtuSearch::new(T, 1500, 1076);
        // 1,024 / 2 = 512 bytes of payload, 564 with 52 of headers.
        assert!(s.on_black_hole(52, 1024, 48));
        assert_eq!(s.mtu(), 564);
        assert!(s.on_black_hole(52, 1024, 48));
        assert_eq!(s.mtu(), 52 + 256);
        // At the floor it stays.
        let mut s = MtuSearch::new(T, 1500, 52 + 48);
        assert!(!s.on_black_hole(52, 1024, 48));
        assert_eq!(s.mtu(), 100);
    }

    #[test]
    fn the_route_below_the_base_caps_low() {
        let s = MtuSearch::new(T, 576, 1076);
        assert_eq!(s.bounds(), (576, 576));
    }
}
