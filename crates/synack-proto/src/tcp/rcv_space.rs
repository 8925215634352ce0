//! Receive-buffer autotuning: dynamic right-sizing (Fisk and Feng, "Dynamic
//! Right-Sizing in TCP", 2001), in the form of Linux's
//! `tcp_rcv_space_adjust`.
//!
//! Read first: RFC 9293 §3.8.6.2.2 (the window offered is the receive
//! buffer's free space), RFC 7323 §2 (window scaling: windows beyond 64 KiB).
//!
//! A window smaller than the path's bandwidth-delay product caps a transfer
//! at window / RTT, whatever the link and both applications could do: a
//! `tcp_rmem` default of 128 KiB is 52 Mbit/s at 20 ms. The right size is not
//! known in advance, so the receiver measures it. Once per round trip it
//! counts the bytes the application read in that round trip. If that is more
//! than the last measured round trip's, the transfer was held back by the
//! window, not by the application: the buffer grows to twice what was read
//! plus room for 16 segments, and by twice the rate's relative growth on top
//! while the rate still climbs (slow start doubles it every round trip). It
//! never shrinks here and never passes `tcp_rmem`'s maximum, which is also
//! what set the window scale at the SYN. The buffer's memory still follows
//! what is buffered: a larger limit costs nothing until bytes wait in it.
//!
//! An application that set SO_RCVBUF keeps its size (Linux's
//! `SOCK_RCVBUF_LOCK`), and `tcp_moderate_rcvbuf = 0` turns the tuning off.
//!
//! Deviation: the round trip is the connection's smoothed RTT (RFC 6298),
//! the sender's estimate, which a pure receiver has from its handshake;
//! Linux's receiver keeps an estimate of its own (`rcv_rtt_est`), from
//! timestamps or from the time one window takes to arrive. As in Linux,
//! nothing is tuned without an estimate above zero.

use crate::SeqNum;
use crate::time::{Duration, Instant};

/// Room for this many segments beyond twice a round trip's bytes (Linux's
/// `16 * advmss`).
const SEGMENTS_OF_SLACK: u64 = 16;

/// One round trip's measurement of how fast the application reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RcvSpace {
    /// Bytes the application read in the last round trip that read more
    /// than the one before it (at first, the initial window).
    space: u32,
    /// The first unread byte when this round trip's measurement began.
    seq: SeqNum,
    /// When it began.
    since: Instant,
}

impl RcvSpace {
    /// A measurement from `now`, with `copied` the next byte to read and
    /// `initial` the bytes a round trip is first measured against (Linux:
    /// the initial window, `min(rcv_wnd, 10 * advmss)`).
    pub fn new(now: Instant, copied: SeqNum, initial: u32) -> Self {
        RcvSpace {
            space: initial.max(1),
            seq: copied,
            since: now,
        }
    }

    /// The bytes the application read in the last round trip that read
    /// more than the one before it (Linux's `rcvq_space.space`, which
    /// `tcp_info` reports as `tcpi_rcv_space`).
    pub fn space(&self) -> u32 {
        self.space
    }

    /// After a read that left `copied` the next byte to read. Once `rtt`
    /// has passed since the measurement began, ends it and begins the next.
    /// Returns the buffer limit to grow to when the application read more
    /// in it than in the last one and that is above `limit`, at most `max`.
    /// `mss` is the segment size we advertised.
    pub fn on_read(
        &mut self,
        now: Instant,
        copied: SeqNum,
        rtt: Duration,
        mss: u32,
        limit: usize,
        max: usize,
    ) -> Option<usize> {
        if now - self.since < rtt {
            return None;
        }
        let read = copied.since(self.seq);
        let grown = if read > self.space {
            let (read64, space) = (u64::from(read), u64::from(self.space));
            let mut window = 2 * read64 + SEGMENTS_OF_SLACK * u64::from(mss);
            // Still climbing: room for the next round trip's growth too.
            window = window.saturating_add(2 * (window.saturating_mul(read64 - space) / space));
            self.space = read;
            let window = usize::try_from(window).unwrap_or(usize::MAX).min(max);
            (window > limit).then_some(window)
        } else {
            None
        };
        self.seq = copied;
        self.since = now;
        grown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1460;
    const MAX: usize = 6 << 20;
    const RTT: Duration = Duration::from_millis(20);

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn a_round_trip_that_read_more_grows_the_buffer_as_linux_does() {
        let mut s = RcvSpace::new(at(0), SeqNum(1000), 10 * MSS);
        // Reads inside the round trip only count.
        assert_eq!(
            s.on_read(at(5), SeqNum(1000 + 20_000), RTT, MSS, 131_072, MAX),
            None
        );
        assert_eq!(
            s.on_read(at(19), SeqNum(1000 + 40_000), RTT, MSS, 131_072, MAX),
            None
        );
        // The round trip ends: 60,000 read against 14,600. Linux's sum:
        // 2 * 60,000 + 16 * 1,460 = 143,360, plus twice its growth of
        // (60,000 - 14,600) / 14,600.
        let window = 143_360u64;
        let expected = window + 2 * (window * (60_000 - 14_600) / 14_600);
        assert_eq!(
            s.on_read(at(20), SeqNum(1000 + 60_000), RTT, MSS, 131_072, MAX),
            Some(expected as usize)
        );
        // The next round trip is measured against 60,000: reading the same
        // again does not grow it, reading more does, by less (the limit
        // passed is below both results).
        assert_eq!(
            s.on_read(at(40), SeqNum(1000 + 120_000), RTT, MSS, 131_072, MAX),
            None
        );
        let grown = s.on_read(at(60), SeqNum(1000 + 200_000), RTT, MSS, 131_072, MAX);
        let window = 2 * 80_000 + 16 * 1_460u64;
        assert_eq!(
            grown,
            Some((window + 2 * (window * 20_000 / 60_000)) as usize)
        );
    }

    #[test]
    fn it_never_shrinks_the_buffer_or_passes_the_maximum() {
        let mut s = RcvSpace::new(at(0), SeqNum(0), 10 * MSS);
        // Above the read rate already: nothing to do.
        assert_eq!(
            s.on_read(at(20), SeqNum(20_000), RTT, MSS, 4 << 20, MAX),
            None
        );
        // A huge round trip is capped at the maximum.
        assert_eq!(
            s.on_read(at(40), SeqNum(20_000 + (5 << 20)), RTT, MSS, 131_072, MAX),
            Some(MAX)
        );
        // At the maximum, more reading changes nothing.
        assert_eq!(
            s.on_read(at(60), SeqNum(20_000 + (11 << 20)), RTT, MSS, MAX, MAX),
            None
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let start = SeqNum(u32::MAX - 1_000);
        let mut s = RcvSpace::new(at(0), start, 10 * MSS);
        let grown = s.on_read(at(25), start + 50_000u32, RTT, MSS, 65_536, MAX);
        assert!(grown.is_some_and(|g| g > 100_000), "{grown:?}");
    }
}
