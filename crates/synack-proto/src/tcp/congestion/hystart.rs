//! HyStart++ (RFC 9406): leave slow start when the RTT starts to grow,
//! before the queue overflows, through a short Conservative Slow Start.
//!
//! Read first: RFC 9406 §4.2 (the algorithm), §4.3 (tuning constants), §4.4
//! (which slow starts use it).
//!
//! The controller keeps the window; this module only says how a slow-start
//! ACK may grow it ([`SlowStartGrowth`]) and when slow start is over. Windows
//! and acknowledged amounts are in segments here.
//!
//! Rounds are counted in sequence space (§4.2: "windowEnd"): a round ends when
//! SND.UNA passes the SND.NXT recorded at its start.

use crate::SeqNum;
use crate::time::Duration;

/// RFC 9406 §4.3: lower bound of the RTT increase that ends slow start.
pub const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// RFC 9406 §4.3: upper bound of the RTT increase that ends slow start.
pub const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// RFC 9406 §4.3: the threshold is the last round's minimum RTT over this.
pub const MIN_RTT_DIVISOR: u64 = 8;
/// RFC 9406 §4.3: RTT samples a round needs before it may end slow start.
pub const N_RTT_SAMPLE: u32 = 8;
/// RFC 9406 §4.3: CSS grows the window this many times slower.
pub const CSS_GROWTH_DIVISOR: u32 = 4;
/// RFC 9406 §4.3: rounds of CSS before congestion avoidance.
pub const CSS_ROUNDS: u32 = 5;
/// RFC 9406 §4.3: "L = 8 for non-paced" senders: at most this many
/// segments of growth per ACK in slow start.
pub const NON_PACED_L: u32 = 8;
/// RFC 3465 §2.2: "L = 2*SMSS" in slow start outside HyStart++.
pub const ABC_L: u32 = 2;

/// Which part of slow start the sender is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Standard slow start, watching the RTT.
    SlowStart,
    /// RFC 9406 §4.2: Conservative Slow Start, after the RTT grew.
    Css,
    /// HyStart++ is done (it ended slow start, or a loss did): standard
    /// slow start only from now on (§4.4).
    Off,
}

/// What one slow-start ACK may do to the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowStartGrowth {
    /// Grow by this many segments (before any cap at ssthresh).
    Grow(u32),
    /// CSS is over: set ssthresh to cwnd and enter congestion avoidance
    /// (§4.2: "enter congestion avoidance by setting the ssthresh to the
    /// current cwnd").
    EnterCongestionAvoidance,
}

/// HyStart++ state of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HyStart {
    phase: Phase,
    /// SND.NXT at the start of the current round (`windowEnd`).
    window_end: Option<SeqNum>,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_sample_count: u32,
    css_baseline_min_rtt: Option<Duration>,
    css_rounds: u32,
    /// CSS growth not yet whole segments (acked segments, before the divisor).
    css_credit: u32,
    /// Slow starts HyStart++ ended (for the counters).
    exits: u64,
}

impl Default for HyStart {
    fn default() -> Self {
        HyStart::new()
    }
}

impl HyStart {
    /// Ready for the connection's initial slow start.
    pub const fn new() -> Self {
        HyStart {
            phase: Phase::SlowStart,
            window_end: None,
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_sample_count: 0,
            css_baseline_min_rtt: None,
            css_rounds: 0,
            css_credit: 0,
            exits: 0,
        }
    }

    /// A HyStart++ that never acts (standard slow start).
    pub const fn disabled() -> Self {
        HyStart {
            phase: Phase::Off,
            ..HyStart::new()
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Times HyStart++ saw the RTT grow and left standard slow start.
    pub fn exits(&self) -> u64 {
        self.exits
    }

    /// §4.4: "An implementation SHOULD use HyStart++ only for the initial
    /// slow start ... and fall back to using standard slow start for the
    /// remainder of the connection lifetime." Called on any loss, ECN echo
    /// or timeout, and when CSS ends.
    pub fn stop(&mut self) {
        self.phase = Phase::Off;
    }

    /// §4.2: a new round starts when the ACK passes `windowEnd`.
    fn maybe_new_round(&mut self, snd_una: SeqNum, snd_nxt: SeqNum) -> bool {
        let ended = match self.window_end {
            None => true,
            Some(end) => snd_una.after_eq(end) && snd_nxt.after(end),
        };
        if ended {
            // "lastRoundMinRTT = currentRoundMinRTT; currentRoundMinRTT =
            // infinity; rttSampleCount = 0"
            self.window_end = Some(snd_nxt);
            self.last_round_min_rtt = self.current_round_min_rtt;
            self.current_round_min_rtt = None;
            self.rtt_sample_count = 0;
        }
        ended
    }

    /// One ACK in slow start that delivered `acked` segments, with an RTT
    /// sample if it carried one. `snd_una` is SND.UNA after the ACK.
    pub fn on_ack(
        &mut self,
        acked: u32,
        rtt: Option<Duration>,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
    ) -> SlowStartGrowth {
        if self.phase == Phase::Off {
            // Standard slow start: RFC 5681 §3.1 with RFC 3465 §2.2's
            // "L = 2*SMSS" per ACK (a stretch ACK after a timeout's
            // go-back-N must not open the window by everything it covers).
            return SlowStartGrowth::Grow(acked.min(ABC_L));
        }
        let new_round = self.maybe_new_round(snd_una, snd_nxt);
        if new_round && self.phase == Phase::Css {
            self.css_rounds += 1;
            // "If CSS_ROUNDS rounds are complete, enter congestion avoidance
            // by setting the ssthresh to the current cwnd."
            if self.css_rounds >= CSS_ROUNDS {
                self.phase = Phase::Off;
                return SlowStartGrowth::EnterCongestionAvoidance;
            }
        }
        if let Some(rtt) = rtt {
            // "currentRoundMinRTT = min(currentRoundMinRTT, currRTT);
            // rttSampleCount += 1"
            self.current_round_min_rtt =
                Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.rtt_sample_count += 1;
        }
        // "cwnd = cwnd + min(N, L * SMSS)"
        let n = acked.min(NON_PACED_L);
        let enough = self.rtt_sample_count >= N_RTT_SAMPLE;
        match self.phase {
            Phase::SlowStart => {
                if let (true, Some(current), Some(last)) =
                    (enough, self.current_round_min_rtt, self.last_round_min_rtt)
                {
                    // "RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT /
                    // MIN_RTT_DIVISOR, MAX_RTT_THRESH))"
                    let divided = Duration::from_micros(last.total_micros() / MIN_RTT_DIVISOR);
                    let thresh = MIN_RTT_THRESH.max(divided.min(MAX_RTT_THRESH));
                    if current >= last + thresh {
                        // "cssBaselineMinRtt = currentRoundMinRTT; exit slow
                        // start and enter CSS". The partial round counts.
                        self.css_baseline_min_rtt = Some(current);
                        self.phase = Phase::Css;
                        self.css_rounds = 0;
                        self.css_credit = 0;
                        self.exits += 1;
                    }
                }
                SlowStartGrowth::Grow(n)
            }
            Phase::Css => {
                if let (true, Some(current), Some(base)) = (
                    enough,
                    self.current_round_min_rtt,
                    self.css_baseline_min_rtt,
                ) {
                    // "if (currentRoundMinRTT < cssBaselineMinRtt):
                    // cssBaselineMinRtt = infinity; resume slow start"
                    if current < base {
                        self.css_baseline_min_rtt = None;
                        self.phase = Phase::SlowStart;
                        return SlowStartGrowth::Grow(n);
                    }
                }
                // "cwnd = cwnd + (min(N, L * SMSS) / CSS_GROWTH_DIVISOR)"
                self.css_credit += n;
                let grow = self.css_credit / CSS_GROWTH_DIVISOR;
                self.css_credit %= CSS_GROWTH_DIVISOR;
                SlowStartGrowth::Grow(grow)
            }
            Phase::Off => SlowStartGrowth::Grow(acked.min(ABC_L)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Plays one round of `acks` ACKs (one segment each) with RTT `rtt`,
    /// the round being `SND.NXT = end`. Returns the total growth.
    fn round(h: &mut HyStart, start: u32, end: u32, acks: u32, rtt: Duration) -> u32 {
        let mut grown = 0;
        for i in 1..=acks {
            let una = SeqNum(start + i);
            match h.on_ack(1, Some(rtt), una, SeqNum(end)) {
                SlowStartGrowth::Grow(n) => grown += n,
                SlowStartGrowth::EnterCongestionAvoidance => return u32::MAX,
            }
        }
        grown
    }

    #[test]
    fn a_stable_rtt_keeps_standard_slow_start() {
        let mut h = HyStart::new();
        // Rounds of 10, 20, 40 ACKs at a constant 50 ms.
        assert_eq!(round(&mut h, 0, 10, 10, ms(50)), 10);
        assert_eq!(round(&mut h, 10, 30, 20, ms(50)), 20);
        assert_eq!(round(&mut h, 30, 70, 40, ms(50)), 40);
        assert_eq!(h.phase(), Phase::SlowStart);
    }

    #[test]
    fn growth_per_ack_is_capped_at_l_segments() {
        let mut h = HyStart::new();
        // A stretch ACK for 20 segments: at most L = 8 (RFC 9406 §4.3).
        assert_eq!(
            h.on_ack(20, Some(ms(50)), SeqNum(20), SeqNum(40)),
            SlowStartGrowth::Grow(8)
        );
    }

    #[test]
    fn an_rtt_rise_of_the_threshold_enters_css_and_css_grows_a_quarter() {
        let mut h = HyStart::new();
        round(&mut h, 0, 10, 10, ms(40));
        // lastRoundMinRTT = 40 ms: RttThresh = max(4, min(40/8, 16)) = 5 ms.
        // A round at 44 ms is below 40 + 5: still slow start.
        assert_eq!(round(&mut h, 10, 30, 20, ms(44)), 20);
        assert_eq!(h.phase(), Phase::SlowStart);
        // lastRoundMinRTT = 44: threshold 5.5 ms; 50 ms >= 49.5 ms. The
        // eighth sample of the round triggers CSS; the rest of the round
        // grows by a quarter: 8 + 32/4 = 16 of 40 ACKs.
        assert_eq!(round(&mut h, 30, 70, 40, ms(50)), 8 + 8);
        assert_eq!(h.phase(), Phase::Css);
        assert_eq!(h.exits(), 1);
    }

    #[test]
    fn css_ends_in_congestion_avoidance_after_five_rounds() {
        let mut h = HyStart::new();
        round(&mut h, 0, 10, 10, ms(40));
        round(&mut h, 10, 30, 20, ms(60));
        assert_eq!(h.phase(), Phase::Css, "60 >= 40 + 5");
        // The partial round counts as the first; four more complete CSS, and
        // the next round's first ACK enters congestion avoidance.
        let mut start = 30;
        for n in 1..=CSS_ROUNDS {
            let end = start + 8;
            let grown = round(&mut h, start, end, 8, ms(60));
            if n < CSS_ROUNDS {
                assert_eq!(grown, 2, "8 ACKs / CSS_GROWTH_DIVISOR");
            } else {
                assert_eq!(grown, u32::MAX, "the fifth round's first ACK ends CSS");
            }
            start = end;
        }
        assert_eq!(h.phase(), Phase::Off);
    }

    #[test]
    fn a_lower_rtt_in_css_resumes_slow_start() {
        let mut h = HyStart::new();
        round(&mut h, 0, 10, 10, ms(40));
        round(&mut h, 10, 30, 20, ms(60));
        assert_eq!(h.phase(), Phase::Css);
        // Baseline 60 ms; a round whose minimum is 45 ms was a false alarm.
        round(&mut h, 30, 50, 20, ms(45));
        assert_eq!(h.phase(), Phase::SlowStart);
    }

    #[test]
    fn after_stop_it_is_standard_slow_start_forever() {
        let mut h = HyStart::new();
        h.stop();
        assert_eq!(round(&mut h, 0, 100, 100, ms(40)), 100);
        assert_eq!(
            h.on_ack(20, Some(ms(400)), SeqNum(120), SeqNum(200)),
            SlowStartGrowth::Grow(2),
            "RFC 3465's L = 2"
        );
        assert_eq!(HyStart::disabled().phase(), Phase::Off);
    }
}
