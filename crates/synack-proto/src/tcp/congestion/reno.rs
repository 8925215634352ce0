//! NewReno's window arithmetic (RFC 5681 §3.1, RFC 3465, RFC 6928).
//!
//! - Initial window: `tcp_init_cwnd` segments (10, RFC 6928 and Linux).
//! - Slow start: `cwnd += min(acked, L * SMSS)` per ACK with L = 2 (RFC 3465
//!   §2.2, appropriate byte counting), until `cwnd` reaches `ssthresh`; any
//!   excess carries over into congestion avoidance.
//! - Congestion avoidance: `cwnd += SMSS` once a whole window's worth of
//!   bytes has been acknowledged (RFC 3465 §2.1, RFC 5681 eq. 3).
//! - Congestion event: `ssthresh = max(FlightSize / 2, 2 * SMSS)` (RFC 5681
//!   eq. 4); `cwnd = ssthresh` once recovery ends (RFC 6582 §3.2 step 3).
//! - Timeout: the same `ssthresh` on the first timeout of an episode, and
//!   `cwnd` = 1 segment, the loss window (RFC 5681 §3.1).
//! - Idle restart: RFC 5681 §4.1 as Linux does it ([`super::idle_restart`]).
//! - Undo of a spurious reduction: back to the window and threshold before
//!   it (Linux `tcp_reno_undo_cwnd`: the larger of now and before).
//!
//! The window only grows while the sender is using it (RFC 7661 spirit,
//! Linux `tcp_is_cwnd_limited`).
//!
//! The window during fast recovery is not here: the loss recovery module
//! governs it with PRR (RFC 6937), which replaces RFC 5681 §3.2's
//! inflation and deflation (see [`super`]).

use super::hystart::{Detect, HyStart, Lazy, SlowStartGrowth};
use super::{AckSample, CongestionControl, idle_restart};
use crate::SeqNum;
use crate::time::{Duration, Instant};

/// RFC 3465 §2.2: in slow start, at most L = 2 segments of growth per ACK.
const ABC_LIMIT_SEGMENTS: u32 = 2;

/// NewReno's window state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged towards the next congestion-avoidance increment.
    bytes_acked: u32,
    /// HyStart in the initial slow start (RFC 9406 §4.4 allows it for any
    /// slow start), boxed lazily as CUBIC's ([`super::Cubic`]).
    hystart: Option<Box<HyStart>>,
    /// HyStart's signals until it starts; empty once started or never.
    hystart_pending: Detect,
    /// Slow starts HyStart ended (at most one).
    hystart_exits: u16,
}

impl Reno {
    /// A controller with an initial window of `init_cwnd` segments of `mss`.
    pub fn new(mss: u32, init_cwnd: u32) -> Self {
        let mss = mss.max(1);
        Reno {
            mss,
            cwnd: init_cwnd.max(1).saturating_mul(mss),
            ssthresh: u32::MAX,
            bytes_acked: 0,
            hystart: None,
            hystart_pending: Detect::BOTH,
            hystart_exits: 0,
        }
    }

    /// The slow-start exit signals HyStart watches; set before the first
    /// ACK.
    pub fn set_hystart_detect(&mut self, detect: Detect) {
        if !self.hystart_pending.is_empty() {
            self.hystart_pending = detect;
        }
    }

    pub(crate) fn hystart_exits(&self) -> u64 {
        u64::from(self.hystart_exits)
    }

    /// The HyStart box and the detection bits still pending (non-empty:
    /// HyStart has not started, whatever the box holds).
    pub(super) fn hystart_slots(&mut self) -> (&mut Option<Box<HyStart>>, &mut Detect) {
        (&mut self.hystart, &mut self.hystart_pending)
    }

    fn hystart(&mut self) -> Lazy<'_> {
        Lazy {
            boxed: &mut self.hystart,
            pending: &mut self.hystart_pending,
            exits: &mut self.hystart_exits,
        }
    }

    /// RFC 9406 §4.4: HyStart only in the initial slow start.
    fn stop_hystart(&mut self) {
        self.hystart = None;
        self.hystart_pending = Detect::NONE;
    }

    /// An ACK that delivered data with an RTT sample (Linux
    /// `pkts_acked`), before and whether or not it grows the window:
    /// HyStart's ACK train (ssthresh = cwnd when it ends slow start).
    pub(crate) fn on_delivery(
        &mut self,
        now: Instant,
        min_rtt: Option<Duration>,
        delivered_end: SeqNum,
        snd_nxt: SeqNum,
    ) {
        if self.cwnd >= self.ssthresh {
            return;
        }
        let cwnd = self.cwnd / self.mss.max(1);
        if self
            .hystart()
            .on_delivery(now, cwnd, min_rtt, delivered_end, snd_nxt)
        {
            self.ssthresh = self.cwnd;
        }
    }

    /// HyStart's say on one slow-start ACK: the growth in bytes, or `None`
    /// once it ended slow start (ssthresh = cwnd, RFC 9406 §4.2).
    fn hystart_growth(&mut self, ack: &AckSample) -> Option<u32> {
        let abc = ack.acked.min(ABC_LIMIT_SEGMENTS * self.mss);
        let Some(growth) =
            self.hystart()
                .on_ack(ack.delivered_segments, ack.rtt, ack.snd_una, ack.snd_nxt)
        else {
            return Some(abc);
        };
        match growth {
            // RFC 3465's L = 2 stays (NewReno's growth per ACK is
            // unchanged); HyStart may only slow it (CSS).
            SlowStartGrowth::Grow(n) => Some(abc.min(n.saturating_mul(self.mss))),
            SlowStartGrowth::EnterCongestionAvoidance => {
                self.ssthresh = self.cwnd;
                None
            }
        }
    }

    /// RFC 5681 eq. 4.
    fn reduced_ssthresh(&self, in_flight: u32) -> u32 {
        (in_flight / 2).max(2 * self.mss)
    }

    /// Back to `prior`'s state after a spurious reduction, keeping the
    /// larger window and threshold.
    pub fn undo(&mut self, prior: &Reno) {
        self.restore_window(prior.cwnd, prior.ssthresh);
    }

    /// Sets the window and threshold (bytes) outright.
    pub(crate) fn set_window(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = cwnd.max(self.mss);
        self.ssthresh = ssthresh;
        self.bytes_acked = 0;
        if ssthresh != u32::MAX {
            self.stop_hystart();
        }
    }

    /// At most `limit` bytes of window (at least one segment); see
    /// [`super::Congestion::moderate`].
    pub(crate) fn moderate(&mut self, limit: u32) {
        if self.cwnd > limit {
            self.cwnd = limit.max(self.mss);
            self.bytes_acked = 0;
        }
    }

    pub(crate) fn restore_window(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = self.cwnd.max(cwnd);
        self.ssthresh = self.ssthresh.max(ssthresh);
        self.bytes_acked = 0;
    }

    /// RFC 3465 §2.1: "When bytes_acked becomes greater than or equal to
    /// the value of the congestion window, bytes_acked is reduced by the
    /// value of cwnd. Next, cwnd is incremented by a full-sized segment" —
    /// once per ACK; what is left counts towards the next.
    fn congestion_avoidance(&mut self, acked: u32) {
        self.bytes_acked = self.bytes_acked.saturating_add(acked);
        if self.bytes_acked >= self.cwnd && self.cwnd > 0 {
            self.bytes_acked -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(self.mss);
        }
    }
}

impl CongestionControl for Reno {
    fn name(&self) -> &'static str {
        "reno"
    }

    fn window(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn on_ack(&mut self, _now: Instant, ack: &AckSample) {
        if !ack.cwnd_limited || ack.acked == 0 {
            return;
        }
        let mut acked = ack.acked;
        if self.cwnd < self.ssthresh {
            // RFC 3465 §2.2: slow start by bytes, at most L segments per ACK.
            let Some(grow) = self.hystart_growth(ack) else {
                return;
            };
            let room = self.ssthresh - self.cwnd;
            if grow <= room {
                self.cwnd += grow;
                return;
            }
            self.cwnd = self.ssthresh;
            acked = grow - room;
        }
        self.congestion_avoidance(acked);
    }

    fn on_congestion_event(&mut self, _now: Instant, in_flight: u32) {
        self.ssthresh = self.reduced_ssthresh(in_flight);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
        self.stop_hystart();
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
    }

    fn on_rto(&mut self, _now: Instant, in_flight: u32, first: bool) {
        if first {
            self.ssthresh = self.reduced_ssthresh(in_flight);
        }
        self.stop_hystart();
        self.cwnd = self.mss;
        self.bytes_acked = 0;
    }

    fn on_idle_restart(&mut self, _now: Instant, idle: Duration, rto: Duration, init_cwnd: u32) {
        let segments = (self.cwnd / self.mss).max(1);
        let ssthresh = if self.ssthresh == u32::MAX {
            u32::MAX
        } else {
            self.ssthresh / self.mss
        };
        let (cwnd, ssthresh) = idle_restart(segments, ssthresh, init_cwnd, idle, rto);
        self.cwnd = cwnd.saturating_mul(self.mss);
        if ssthresh != u32::MAX {
            self.ssthresh = ssthresh.saturating_mul(self.mss);
        }
        self.bytes_acked = 0;
    }

    fn set_mss(&mut self, mss: u32) {
        let mss = mss.max(1);
        if mss == self.mss {
            return;
        }
        // Keep the window's size in segments.
        let segments = (self.cwnd / self.mss).max(1);
        self.mss = mss;
        self.cwnd = segments.saturating_mul(mss);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    fn ack(acked: u32) -> AckSample {
        AckSample {
            in_flight: 100 * MSS,
            ..AckSample::bytes(acked, MSS)
        }
    }

    fn now() -> Instant {
        Instant::ZERO
    }

    #[test]
    fn initial_window_is_ten_segments() {
        let r = Reno::new(MSS, 10);
        assert_eq!(r.window(), 10 * MSS);
        assert_eq!(r.ssthresh(), u32::MAX);
    }

    #[test]
    fn slow_start_grows_by_acked_bytes_capped_at_two_segments_per_ack() {
        let mut r = Reno::new(MSS, 10);
        r.on_ack(now(), &ack(MSS));
        assert_eq!(r.window(), 11 * MSS);
        // A stretch ACK for 5 segments grows by only 2 (RFC 3465 L = 2).
        r.on_ack(now(), &ack(5 * MSS));
        assert_eq!(r.window(), 13 * MSS);
    }

    #[test]
    fn congestion_avoidance_adds_one_segment_per_window_acked() {
        let mut r = Reno::new(MSS, 10);
        r.on_congestion_event(now(), 20 * MSS);
        assert_eq!((r.window(), r.ssthresh()), (10 * MSS, 10 * MSS));
        for _ in 0..9 {
            r.on_ack(now(), &ack(MSS));
        }
        assert_eq!(r.window(), 10 * MSS, "nine of ten segments acked");
        r.on_ack(now(), &ack(MSS));
        assert_eq!(r.window(), 11 * MSS);
    }

    #[test]
    fn slow_start_stops_at_ssthresh_and_carries_the_excess() {
        let mut r = Reno::new(MSS, 10);
        r.on_congestion_event(now(), 22 * MSS); // ssthresh 11 segments
        r.on_rto(now(), MSS, false); // cwnd 1, ssthresh kept
        assert_eq!(r.window(), MSS);
        assert_eq!(r.ssthresh(), 11 * MSS);
        for _ in 0..5 {
            r.on_ack(now(), &ack(2 * MSS));
        }
        assert_eq!(r.window(), 11 * MSS, "slow start ends at ssthresh");
        r.on_ack(now(), &ack(2 * MSS));
        assert_eq!(r.window(), 11 * MSS, "then congestion avoidance");
    }

    #[test]
    fn ssthresh_is_half_the_flight_but_at_least_two_segments() {
        let mut r = Reno::new(MSS, 10);
        r.on_congestion_event(now(), 3 * MSS);
        assert_eq!(r.ssthresh(), 2 * MSS);
        r.on_congestion_event(now(), 40 * MSS);
        assert_eq!(r.ssthresh(), 20 * MSS);
    }

    #[test]
    fn timeout_collapses_to_one_segment_and_only_the_first_sets_ssthresh() {
        let mut r = Reno::new(MSS, 10);
        r.on_rto(now(), 30 * MSS, true);
        assert_eq!((r.window(), r.ssthresh()), (MSS, 15 * MSS));
        r.on_rto(now(), MSS, false);
        assert_eq!((r.window(), r.ssthresh()), (MSS, 15 * MSS));
    }

    #[test]
    fn an_unused_window_does_not_grow() {
        let mut r = Reno::new(MSS, 10);
        r.on_ack(
            now(),
            &AckSample {
                cwnd_limited: false,
                ..ack(MSS)
            },
        );
        assert_eq!(r.window(), 10 * MSS);
    }

    #[test]
    fn idle_restart_returns_to_the_initial_window() {
        let mut r = Reno::new(MSS, 10);
        for _ in 0..20 {
            r.on_ack(now(), &ack(2 * MSS));
        }
        assert_eq!(r.window(), 50 * MSS);
        let rto = Duration::from_millis(300);
        // Idle for 1.5 RTOs: halved once; ssthresh keeps 3/4.
        r.on_idle_restart(now(), Duration::from_millis(450), rto, 10);
        assert_eq!(r.window(), 25 * MSS);
        assert_eq!(r.ssthresh(), u32::MAX, "still infinite");
        r.on_idle_restart(now(), Duration::from_secs(10), rto, 10);
        assert_eq!(r.window(), 10 * MSS);
    }

    #[test]
    fn undo_restores_the_window_and_threshold_before_the_reduction() {
        let mut r = Reno::new(MSS, 10);
        r.on_congestion_event(now(), 20 * MSS);
        let prior = r.clone();
        for _ in 0..20 {
            r.on_ack(now(), &ack(2 * MSS));
        }
        r.on_congestion_event(now(), 12 * MSS);
        assert_eq!((r.window(), r.ssthresh()), (6 * MSS, 6 * MSS));
        r.undo(&prior);
        assert_eq!((r.window(), r.ssthresh()), (10 * MSS, 10 * MSS));
    }

    /// One slow-start ACK for one segment at `t_us`, minimum RTT 10 ms.
    fn train_ack(r: &mut Reno, t_us: u64, una: u32, nxt: u32) {
        // As loss recovery does: the ACK train first, then growth.
        let (una, nxt) = (crate::SeqNum(una), crate::SeqNum(nxt));
        let min_rtt = Some(Duration::from_millis(10));
        r.on_delivery(Instant::from_micros(t_us), min_rtt, una, nxt);
        r.on_ack(
            Instant::from_micros(t_us),
            &AckSample {
                rtt: Some(Duration::from_millis(10)),
                min_rtt: Some(Duration::from_millis(10)),
                snd_una: una,
                snd_nxt: nxt,
                ..AckSample::bytes(MSS, MSS)
            },
        );
    }

    #[test]
    fn hystart_ack_train_ends_reno_slow_start_with_ssthresh_at_cwnd() {
        let mut r = Reno::new(MSS, 40);
        // One round of 80 back-to-back ACKs, 120 µs apart: the train passes
        // half the 10 ms minimum RTT at the 43rd, after 42 segments of
        // growth (RFC 3465's L = 2 never binds for one-segment ACKs).
        for i in 0..80u32 {
            train_ack(&mut r, 120 * u64::from(i), i + 1, 200);
            if r.ssthresh() != u32::MAX {
                assert_eq!(i, 42);
                break;
            }
        }
        assert_eq!(r.window(), 82 * MSS);
        assert_eq!(r.ssthresh(), 82 * MSS);
        assert_eq!(r.hystart_exits(), 1);
        assert!(r.hystart.is_none(), "the box is given back");
    }

    #[test]
    fn reno_with_hystart_off_grows_through_the_train() {
        let mut r = Reno::new(MSS, 40);
        r.set_hystart_detect(Detect::NONE);
        for i in 0..80u32 {
            train_ack(&mut r, 120 * u64::from(i), i + 1, 200);
        }
        assert_eq!(r.window(), 120 * MSS);
        assert_eq!(r.ssthresh(), u32::MAX);
    }
}
