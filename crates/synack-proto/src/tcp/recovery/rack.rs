//! RACK (RFC 8985 §6): time-based loss detection. A segment is lost when a
//! segment sent after it was delivered and a reordering window has passed.
//!
//! Read first: RFC 8985 §6.1-6.3 (the state, per-ACK steps 1-5, the
//! reordering timer), §3.4 (why time, not sequence counting).
//!
//! The per-ACK steps map to this module:
//! - step 1-2 (`RACK_update`): [`Rack::on_delivered`] for each segment newly
//!   acknowledged or SACKed: remember the most recently *sent* delivered
//!   segment, skipping deliveries that may be for an earlier copy;
//! - step 3 (reordering detection): [`Rack::on_reordering`], fed by the
//!   recovery module, which sees which delivered segments were never
//!   retransmitted and below the highest delivered one;
//! - step 4 (`RACK_update_reo_wnd`): [`Rack::update_reo_wnd`] and
//!   [`Rack::reo_wnd`];
//! - step 5 (`RACK_detect_loss`): [`Rack::detect_loss`], over the
//!   scoreboard in transmission order; the reordering timer
//!   ([`crate::tcp::timer::Timer::RackReorder`]) reruns it.

use crate::SeqNum;
use crate::tcp::sack::scoreboard::{Delivered, Scan, Scoreboard};
use crate::tcp::timestamps::TsClock;
use crate::time::{Duration, Instant};

/// RFC 8985 §6.2 step 4: the window grows by this much per round with a
/// D-SACK, and is reset after this many recoveries without one.
pub const REO_WND_PERSIST: u32 = 16;
/// Linux caps the multiplier (a byte in `tcp_sock`).
const MAX_REO_WND_MULT: u32 = 255;

/// RACK's state (RFC 8985 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rack {
    /// RACK.xmit_ts / RACK.end_seq: the most recently sent segment delivered.
    xmit: Option<Instant>,
    end_seq: SeqNum,
    /// RACK.rtt: that segment's RTT.
    rtt: Duration,
    /// RACK.reordering_seen.
    pub reordering_seen: bool,
    /// RACK.dsack_round: SND.NXT when a D-SACK round began.
    dsack_round: Option<SeqNum>,
    /// RACK.reo_wnd_mult and RACK.reo_wnd_persist.
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
}

impl Default for Rack {
    fn default() -> Self {
        Rack::new()
    }
}

/// RFC 8985 §6.2 `RACK_sent_after(t1, seq1, t2, seq2)`.
fn sent_after(t1: Instant, seq1: SeqNum, t2: Instant, seq2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && seq1.after(seq2))
}

/// What RACK keeps across idle periods: whether the path reorders and the
/// D-SACK-grown reordering window (RFC 8985 §6.2 step 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RackPersistent {
    pub reordering_seen: bool,
    pub reo_wnd_mult: u8,
    pub reo_wnd_persist: u8,
}

impl Rack {
    /// The part that outlives a loss-recovery episode.
    pub fn persistent(&self) -> RackPersistent {
        RackPersistent {
            reordering_seen: self.reordering_seen,
            reo_wnd_mult: self.reo_wnd_mult.min(u32::from(u8::MAX)) as u8,
            reo_wnd_persist: self.reo_wnd_persist.min(u32::from(u8::MAX)) as u8,
        }
    }

    /// Restores what [`Rack::persistent`] kept.
    pub fn restore(&mut self, p: RackPersistent) {
        self.reordering_seen = p.reordering_seen;
        self.reo_wnd_mult = u32::from(p.reo_wnd_mult).max(1);
        self.reo_wnd_persist = u32::from(p.reo_wnd_persist);
    }

    pub const fn new() -> Self {
        Rack {
            xmit: None,
            end_seq: SeqNum(0),
            rtt: Duration::ZERO,
            reordering_seen: false,
            dsack_round: None,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
        }
    }

    /// RACK.rtt, once a segment was delivered.
    pub fn rtt(&self) -> Option<Duration> {
        self.xmit.map(|_| self.rtt)
    }

    pub fn reo_wnd_mult(&self) -> u32 {
        self.reo_wnd_mult
    }

    /// RFC 8985 §6.2 step 2, `RACK_update()`, for one delivered segment:
    ///
    /// ```text
    /// rtt = Now() - Segment.xmit_ts
    /// If Segment.retransmitted is TRUE:
    ///     If ACK.ts_option.echo_reply < Segment.xmit_ts: Return
    ///     If rtt < RACK.min_RTT: Return
    /// RACK.rtt = rtt
    /// If RACK_sent_after(Segment.xmit_ts, Segment.end_seq, RACK.xmit_ts, RACK.end_seq):
    ///     RACK.xmit_ts = Segment.xmit_ts; RACK.end_seq = Segment.end_seq
    /// ```
    pub fn on_delivered(
        &mut self,
        d: &Delivered,
        now: Instant,
        tsecr: Option<u32>,
        ts_clock: &TsClock,
        min_rtt: Option<Duration>,
    ) {
        let rtt = now.saturating_duration_since(d.xmit);
        if d.retransmitted {
            if let Some(echo) = tsecr.filter(|&e| e != 0)
                && (echo.wrapping_sub(ts_clock.tsval(d.xmit)) as i32) < 0
            {
                return;
            }
            if min_rtt.is_some_and(|m| rtt < m) {
                return;
            }
        }
        self.rtt = rtt;
        let newer = match self.xmit {
            None => true,
            Some(t) => sent_after(d.xmit, d.end, t, self.end_seq),
        };
        if newer {
            self.xmit = Some(d.xmit);
            self.end_seq = d.end;
        }
    }

    /// RFC 8985 §6.2 step 3: a never-retransmitted segment was delivered
    /// below the highest delivered sequence: the path reorders.
    pub fn on_reordering(&mut self) {
        self.reordering_seen = true;
    }

    /// A D-SACK round is open (`update_reo_wnd` may still close it).
    pub fn in_dsack_round(&self) -> bool {
        self.dsack_round.is_some()
    }

    /// RFC 8985 §6.2 step 4, `RACK_update_reo_wnd()`, the D-SACK part:
    ///
    /// ```text
    /// If RACK.dsack_round is not None AND SND.UNA >= RACK.dsack_round:
    ///     RACK.dsack_round = None
    /// If RACK.dsack_round is None AND any DSACK option is present on latest received ACK:
    ///     RACK.dsack_round = SND.NXT
    ///     RACK.reo_wnd_mult += 1
    ///     RACK.reo_wnd_persist = 16
    /// ```
    pub fn update_reo_wnd(&mut self, dsack: bool, snd_una: SeqNum, snd_nxt: SeqNum) {
        if self.dsack_round.is_some_and(|r| snd_una.after_eq(r)) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() && dsack {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(MAX_REO_WND_MULT);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// RFC 8985 §6.2 step 4: "Else if exiting Fast or RTO recovery:
    /// RACK.reo_wnd_persist -= 1; If RACK.reo_wnd_persist <= 0:
    /// RACK.reo_wnd_mult = 1".
    pub fn on_recovery_exit(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
        }
    }

    /// RFC 8985 §6.2 step 4, the window:
    ///
    /// ```text
    /// If RACK.reordering_seen is FALSE:
    ///     If in Fast or RTO recovery: Return 0
    ///     Else if RACK.segs_sacked >= DupThresh: Return 0
    /// Return min(RACK.reo_wnd_mult * RACK.min_RTT / 4, SRTT)
    /// ```
    pub fn reo_wnd(
        &self,
        in_recovery: bool,
        segs_sacked: u32,
        dupthresh: u32,
        min_rtt: Option<Duration>,
        srtt: Option<Duration>,
    ) -> Duration {
        if !self.reordering_seen && (in_recovery || segs_sacked >= dupthresh) {
            return Duration::ZERO;
        }
        let Some(min_rtt) = min_rtt else {
            return Duration::ZERO;
        };
        let wnd = Duration::from_micros(min_rtt.total_micros() / 4)
            .saturating_mul(u64::from(self.reo_wnd_mult));
        match srtt {
            Some(srtt) => wnd.min(srtt),
            None => wnd,
        }
    }

    /// RFC 8985 §6.2 step 5, `RACK_detect_loss()`: every segment in flight
    /// sent before RACK.xmit_ts whose time (xmit_ts + RACK.rtt + reo_wnd)
    /// has passed is lost; for the others, how long until the last of them
    /// would be (the reordering timer, §6.3). Returns (segments marked,
    /// retransmissions among them, timer).
    pub fn detect_loss(
        &self,
        board: &mut Scoreboard,
        now: Instant,
        reo_wnd: Duration,
    ) -> (u32, u32, Option<Duration>) {
        let Some(rack_xmit) = self.xmit else {
            return (0, 0, None);
        };
        let (rack_end, rack_rtt) = (self.end_seq, self.rtt);
        let mut timeout = Duration::ZERO;
        let (marked, lost_rtx) = board.scan_by_send_time(|_, end, xmit, _| {
            // In transmission order: the first segment not sent before
            // RACK's ends the walk.
            if !sent_after(rack_xmit, rack_end, xmit, end) {
                return Scan::Stop;
            }
            let deadline = xmit + rack_rtt + reo_wnd;
            if deadline <= now {
                Scan::Lost
            } else {
                timeout = timeout.max(deadline - now);
                Scan::Keep
            }
        });
        (marked, lost_rtx, (!timeout.is_zero()).then_some(timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn delivered(i: u32, sent_ms: u64, retransmitted: bool) -> Delivered {
        Delivered {
            start: SeqNum(i * MSS),
            end: SeqNum((i + 1) * MSS),
            xmit: t(sent_ms),
            retransmitted,
            was_sacked: false,
        }
    }

    /// Segments 0..n sent 1 ms apart from `t(0)`.
    fn board(n: u32) -> Scoreboard {
        let mut b = Scoreboard::new(SeqNum(0), 64, 16);
        for i in 0..n {
            b.push(SeqNum(i * MSS), SeqNum((i + 1) * MSS), t(u64::from(i)));
        }
        b
    }

    #[test]
    fn a_segment_sent_before_a_delivered_one_is_lost_after_rtt_plus_reo_wnd() {
        // RFC 8985 §3.4's example shape: 0..5 sent at 0..4 ms, segment 4
        // SACKed at 104 ms (RTT 100 ms): 0..3 were sent before it.
        let mut b = board(5);
        let mut rack = Rack::new();
        let clock = TsClock::new(0);
        rack.on_delivered(&delivered(4, 4, false), t(104), None, &clock, None);
        let mut upd = Default::default();
        b.sack(SeqNum(4 * MSS), SeqNum(5 * MSS), &mut upd, |_| {});
        // reo_wnd 2 ms: segment 0 is due at 0 + 100 + 2 = 102: lost;
        // 1 at 103: lost; 2 at 104: lost (deadline <= now); 3 at 105: wait.
        let (marked, _, timer) = rack.detect_loss(&mut b, t(104), ms(2));
        assert_eq!(marked, 3);
        assert_eq!(timer, Some(ms(1)));
        // The timer fires: segment 3 is lost too.
        let (marked, _, timer) = rack.detect_loss(&mut b, t(105), ms(2));
        assert_eq!((marked, timer), (1, None));
        assert_eq!(b.lost().segs, 4);
    }

    #[test]
    fn a_delivery_that_may_be_for_the_original_is_ignored() {
        let mut rack = Rack::new();
        let clock = TsClock::new(1000);
        // Retransmitted at 150 ms, acknowledged at 160 ms with min RTT 100:
        // a 10 ms "RTT" means the ACK was for the original (step 2).
        rack.on_delivered(
            &delivered(0, 150, true),
            t(160),
            None,
            &clock,
            Some(ms(100)),
        );
        assert_eq!(rack.rtt(), None);
        // The echo names the original (TSval 1000 + 50 < 1000 + 150).
        rack.on_delivered(
            &delivered(0, 150, true),
            t(300),
            Some(1050),
            &clock,
            Some(ms(100)),
        );
        assert_eq!(rack.rtt(), None);
        // Echo of the retransmission: accepted.
        rack.on_delivered(
            &delivered(0, 150, true),
            t(300),
            Some(1150),
            &clock,
            Some(ms(100)),
        );
        assert_eq!(rack.rtt(), Some(ms(150)));
    }

    #[test]
    fn reo_wnd_is_zero_until_reordering_then_a_quarter_min_rtt() {
        let mut rack = Rack::new();
        let (min, srtt) = (Some(ms(40)), Some(ms(50)));
        assert_eq!(rack.reo_wnd(true, 0, 3, min, srtt), ms(0), "in recovery");
        assert_eq!(
            rack.reo_wnd(false, 3, 3, min, srtt),
            ms(0),
            "dupthresh SACKed"
        );
        assert_eq!(rack.reo_wnd(false, 1, 3, min, srtt), ms(10));
        rack.on_reordering();
        assert_eq!(rack.reo_wnd(true, 5, 3, min, srtt), ms(10));
    }

    #[test]
    fn dsack_rounds_grow_the_window_and_sixteen_quiet_recoveries_reset_it() {
        let mut rack = Rack::new();
        rack.on_reordering();
        let (min, srtt) = (Some(ms(40)), Some(ms(200)));
        rack.update_reo_wnd(true, SeqNum(0), SeqNum(10_000));
        assert_eq!(rack.reo_wnd(false, 0, 3, min, srtt), ms(20));
        // Same round: no further growth.
        rack.update_reo_wnd(true, SeqNum(5_000), SeqNum(12_000));
        assert_eq!(rack.reo_wnd_mult(), 2);
        // Next round (SND.UNA passed 10000): grows again.
        rack.update_reo_wnd(true, SeqNum(10_000), SeqNum(20_000));
        assert_eq!(rack.reo_wnd_mult(), 3);
        // Capped by SRTT.
        assert_eq!(rack.reo_wnd(false, 0, 3, min, Some(ms(25))), ms(25));
        for _ in 0..15 {
            rack.on_recovery_exit();
        }
        assert_eq!(rack.reo_wnd_mult(), 3);
        rack.on_recovery_exit();
        assert_eq!(rack.reo_wnd_mult(), 1);
    }
}
