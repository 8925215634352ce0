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
//!
//! Besides RFC 9406's RTT-delay signal, HyStart's other exit (Ha and Rhee,
//! "Taming the elephants", 2011; Linux CUBIC's default `hystart_detect`
//! bit 1) watches the ACK train: an unpaced slow-start sender's ACKs come
//! back spaced by the bottleneck, so a round whose closely spaced ACKs
//! ([`ACK_TRAIN_DELTA`] apart at most) have lasted longer than half the
//! minimum RTT since the round began delivered more than half a
//! bandwidth-delay product in that time: with the window doubling per
//! round the pipe is full now, while the queue is still short and the RTT
//! has not risen. This exit goes straight to congestion avoidance
//! (ssthresh = cwnd, as Linux does), not into CSS: CSS's extra rounds of
//! growth exist to confirm a delay signal, whereas a full pipe is already
//! known, and CSS's quarter-rate growth over five rounds would push a
//! window of about one BDP well into the queue. [`Detect`] chooses the
//! signals.

use crate::SeqNum;
use crate::time::{Duration, Instant};

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

/// ACKs at most this far apart continue an ACK train (Linux
/// `hystart_ack_delta_us`, 2 ms): a wider gap means the sender, not the
/// bottleneck, spaced them.
pub const ACK_TRAIN_DELTA: Duration = Duration::from_millis(2);
/// The ACK train is watched only from this window on, in segments (Linux
/// `hystart_low_window`): the first rounds' small bursts say nothing about
/// the path.
pub const ACK_TRAIN_LOW_WINDOW: u32 = 16;

/// Which slow-start exit signals HyStart watches (Linux cubic's
/// `hystart_detect` bits; default both). An enum inside, not a bare `u8`:
/// its unused values are a niche, so the `Congestion` enum needs no tag
/// word of its own (DESIGN.md §4: 8 bytes per connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Detect(Bits);

/// The two bits of [`Detect`], every combination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
enum Bits {
    None = 0,
    AckTrain = 1,
    Delay = 2,
    Both = 3,
}

impl Detect {
    /// Bit 1: the ACK train spanned half the minimum RTT.
    pub const ACK_TRAIN: Detect = Detect(Bits::AckTrain);
    /// Bit 2: the RTT rose (RFC 9406 §4.2, with its CSS).
    pub const DELAY: Detect = Detect(Bits::Delay);
    /// Both signals (Linux's default, and synack's).
    pub const BOTH: Detect = Detect(Bits::Both);
    /// Neither: standard slow start.
    pub const NONE: Detect = Detect(Bits::None);

    /// From Linux's bit values; unknown bits are ignored.
    pub const fn from_bits(bits: u8) -> Detect {
        Detect(match bits & 3 {
            0 => Bits::None,
            1 => Bits::AckTrain,
            2 => Bits::Delay,
            _ => Bits::Both,
        })
    }

    pub const fn bits(self) -> u8 {
        self.0 as u8
    }

    pub const fn contains(self, other: Detect) -> bool {
        self.bits() & other.bits() == other.bits()
    }

    pub const fn is_empty(self) -> bool {
        self.bits() == 0
    }
}

impl Default for Detect {
    fn default() -> Self {
        Detect::BOTH
    }
}

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
    detect: Detect,
    /// SND.NXT when the ACK train's round began: its round ends at the
    /// first ACK that delivers beyond it (Linux `end_seq`), so it begins
    /// with the first ACK of a flight, not the last of the previous one as
    /// §4.2's rounds (which end when `windowEnd` itself is acknowledged)
    /// may. Delivered, not cumulatively acknowledged (Linux compares
    /// SND.UNA): a reordered segment holds SND.UNA back while its flight's
    /// SACKs already arrive.
    train_end: Option<SeqNum>,
    /// When the ACK train's round began (Linux `round_start`).
    round_start: Option<Instant>,
    /// The last ACK of the current round's unbroken train; `None` once a
    /// gap wider than [`ACK_TRAIN_DELTA`] ended it for the round.
    train_last_ack: Option<Instant>,
    /// Slow starts the ACK train ended (part of `exits`).
    train_exits: u64,
}

/// A controller's HyStart as it keeps it: boxed only during the initial
/// slow start (DESIGN.md §4: an idle connection stays small), allocated
/// from the detection bits still `pending` at its first use, dropped once
/// it is over; `exits` counts the slow starts it ended. Reno and CUBIC
/// hold the three fields inline and lend them here.
pub(super) struct Lazy<'a> {
    pub boxed: &'a mut Option<Box<HyStart>>,
    pub pending: &'a mut Detect,
    pub exits: &'a mut u16,
}

impl Lazy<'_> {
    /// The HyStart, started from the pending bits at its first use. Inlined
    /// into every ACK's hooks: once started (every ACK but a connection's
    /// first) it is one test and the box.
    #[inline(always)]
    fn get(&mut self) -> Option<&mut HyStart> {
        if !self.pending.is_empty() {
            self.start();
        }
        self.boxed.as_deref_mut()
    }

    /// Starts HyStart from the pending detection bits (once a slow start).
    #[inline(never)]
    fn start(&mut self) {
        let fresh = HyStart::with_detect(*self.pending);
        match self.boxed {
            // A spare box parked for this call (`Congestion::
            // with_hystart_spare`): the same value, no allocation.
            Some(parked) => **parked = fresh,
            None => *self.boxed = Some(Box::new(fresh)),
        }
        *self.pending = Detect::NONE;
    }

    /// [`HyStart::on_delivery`]; true when the ACK train ended slow start
    /// (the box is given back). Inlined into the controllers' hook, called
    /// on every ACK that delivers data in slow start.
    #[inline]
    pub fn on_delivery(
        &mut self,
        now: Instant,
        cwnd: u32,
        min_rtt: Option<Duration>,
        delivered_end: SeqNum,
        snd_nxt: SeqNum,
    ) -> bool {
        let Some(h) = self.get() else {
            return false;
        };
        if !h.on_delivery(now, cwnd, min_rtt, delivered_end, snd_nxt) {
            return false;
        }
        *self.boxed = None;
        *self.exits = self.exits.saturating_add(1);
        true
    }

    /// [`HyStart::on_ack`], or `None` without HyStart (standard slow
    /// start: the caller applies its own per-ACK limit).
    pub fn on_ack(
        &mut self,
        acked: u32,
        rtt: Option<Duration>,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
    ) -> Option<SlowStartGrowth> {
        let h = self.get()?;
        let before = h.exits();
        let growth = h.on_ack(acked, rtt, snd_una, snd_nxt);
        let exited = h.exits() > before;
        let off = h.phase() == Phase::Off;
        if exited {
            *self.exits = self.exits.saturating_add(1);
        }
        if off {
            *self.boxed = None;
        }
        Some(growth)
    }
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
            detect: Detect::BOTH,
            train_end: None,
            round_start: None,
            train_last_ack: None,
            train_exits: 0,
        }
    }

    /// Ready for the initial slow start, watching the `detect` signals
    /// (none: [`HyStart::disabled`]).
    pub const fn with_detect(detect: Detect) -> Self {
        if detect.is_empty() {
            return HyStart::disabled();
        }
        HyStart {
            detect,
            ..HyStart::new()
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

    /// Times HyStart++ saw the RTT grow or a full pipe and left standard
    /// slow start.
    pub fn exits(&self) -> u64 {
        self.exits
    }

    /// Of [`HyStart::exits`], those the ACK train caused.
    pub fn train_exits(&self) -> u64 {
        self.train_exits
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

    /// The ACK-train signal for an ACK at `now`: true when the pipe is full.
    fn ack_train_full(
        &mut self,
        now: Instant,
        cwnd: u32,
        min_rtt: Option<Duration>,
        delivered_end: SeqNum,
        snd_nxt: SeqNum,
    ) -> bool {
        if self.train_end.is_none_or(|end| delivered_end.after(end)) {
            self.train_end = Some(snd_nxt);
            self.round_start = Some(now);
            self.train_last_ack = Some(now);
            return false;
        }
        let (Some(start), Some(last)) = (self.round_start, self.train_last_ack) else {
            return false;
        };
        if now.saturating_duration_since(last) > ACK_TRAIN_DELTA {
            // Spread ACKs (delayed ACKs of a sparse flight, ACK
            // compression's bunches): the train is over for this round.
            self.train_last_ack = None;
            return false;
        }
        self.train_last_ack = Some(now);
        let Some(min_rtt) = min_rtt else {
            return false;
        };
        // Unpaced sender: half the minimum RTT (Linux `delay_min >> 1`).
        let half = Duration::from_micros(min_rtt.total_micros() / 2);
        cwnd >= ACK_TRAIN_LOW_WINDOW && now.saturating_duration_since(start) > half
    }

    /// The ACK-train signal for one ACK at `now` that delivered data
    /// (cumulatively or by SACK) and carried an RTT sample, whether or not
    /// it may grow the window (Linux runs `hystart_update` from
    /// `pkts_acked`, before and apart from window growth): SACK-only ACKs
    /// while reordered data holds SND.UNA keep the train going, as the
    /// bottleneck spaced them like any other. `cwnd` is the window in
    /// segments, `delivered_end` one past the highest byte delivered
    /// (SND.UNA, or the highest SACKed byte beyond it). True when the pipe is
    /// full: slow start is over (Linux HYSTART_ACK_TRAIN: "ssthresh =
    /// cwnd", straight to congestion avoidance, from standard slow start
    /// or CSS alike; see the module documentation).
    pub fn on_delivery(
        &mut self,
        now: Instant,
        cwnd: u32,
        min_rtt: Option<Duration>,
        delivered_end: SeqNum,
        snd_nxt: SeqNum,
    ) -> bool {
        if self.phase == Phase::Off
            || !self.detect.contains(Detect::ACK_TRAIN)
            || !self.ack_train_full(now, cwnd, min_rtt, delivered_end, snd_nxt)
        {
            return false;
        }
        self.phase = Phase::Off;
        self.exits += 1;
        self.train_exits += 1;
        true
    }

    /// One ACK in slow start that delivered `acked` segments and may grow
    /// the window, with an RTT sample if it carried one: RFC 9406's delay
    /// signal and the growth. `snd_una` is SND.UNA after the ACK. (The ACK
    /// train is [`HyStart::on_delivery`]'s, called first.)
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
                let delay = self.detect.contains(Detect::DELAY);
                if let (true, true, Some(current), Some(last)) = (
                    delay,
                    enough,
                    self.current_round_min_rtt,
                    self.last_round_min_rtt,
                ) {
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
    /// the round being `SND.NXT = end`.
    /// Returns the total growth.
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

    fn us(n: u64) -> Instant {
        Instant::from_micros(n)
    }

    /// ACKs for one segment each at `times` (µs), SND.UNA counting up from
    /// `una`, SND.NXT `nxt`, window `cwnd`, minimum RTT 10 ms: the index of
    /// the ACK that ended slow start, if one did.
    fn train(h: &mut HyStart, una: u32, nxt: u32, cwnd: u32, times: &[u64]) -> Option<usize> {
        for (i, &t) in times.iter().enumerate() {
            let una = SeqNum(una + 1 + i as u32);
            let min_rtt = Some(ms(10));
            if h.on_delivery(us(t), cwnd, min_rtt, una, SeqNum(nxt)) {
                return Some(i);
            }
        }
        None
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

    #[test]
    fn an_ack_train_longer_than_half_the_min_rtt_enters_congestion_avoidance() {
        let mut h = HyStart::new();
        // One round of back-to-back ACKs 120 µs apart (a 100 Mbit/s
        // bottleneck), min RTT 10 ms: the train passes 5 ms at the ACK
        // 42 x 120 = 5,040 µs after the round's first, not at 41 (4,920).
        let times: Vec<u64> = (0..80).map(|i| 1_000_000 + 120 * i).collect();
        assert_eq!(train(&mut h, 0, 200, 80, &times), Some(42));
        assert_eq!(h.phase(), Phase::Off);
        assert_eq!((h.exits(), h.train_exits()), (1, 1));
    }

    #[test]
    fn the_train_is_timed_from_the_first_ack_of_the_round() {
        let mut h = HyStart::new();
        // Round 1 (SND.NXT 30): 30 ACKs, 120 µs apart; round 2 (SND.NXT
        // 200) starts at the 31st ACK, continuing the same spacing. Timed
        // from the first ACK ever the train would pass 5 ms at ACK 42; from
        // the round's start it passes at 30 + 42 = 72.
        let times: Vec<u64> = (0..30).map(|i| 120 * i).collect();
        assert_eq!(train(&mut h, 0, 30, 80, &times), None);
        let times: Vec<u64> = (30..120).map(|i| 120 * i).collect();
        assert_eq!(train(&mut h, 30, 200, 80, &times), Some(42));
    }

    #[test]
    fn spread_acks_do_not_end_slow_start() {
        // Delayed ACKs of a sparse flight: one every 2.5 ms for 20 ms.
        let mut h = HyStart::new();
        let times: Vec<u64> = (0..8).map(|i| 2_500 * i).collect();
        assert_eq!(train(&mut h, 0, 200, 80, &times), None);
        // ACK compression: bunches of 10 ACKs 10 µs apart, 3 ms between
        // bunches; the round spans 12 ms, but no unbroken train is longer
        // than 90 µs.
        let mut h = HyStart::new();
        let times: Vec<u64> = (0..50).map(|i| (i / 10) * 3_000 + (i % 10) * 10).collect();
        assert_eq!(train(&mut h, 0, 200, 80, &times), None);
        assert_eq!(h.phase(), Phase::SlowStart);
        // A gap just over ACK_TRAIN_DELTA ends the train for the rest of the
        // round, however closely the later ACKs follow.
        let mut h = HyStart::new();
        let mut times: Vec<u64> = (0..20).map(|i| 120 * i).collect();
        times.extend((0..60).map(|i| 2_280 + 2_001 + 120 * i));
        assert_eq!(train(&mut h, 0, 200, 80, &times), None);
    }

    #[test]
    fn a_train_with_a_window_under_16_segments_does_not_end_slow_start() {
        let times: Vec<u64> = (0..80).map(|i| 120 * i).collect();
        let mut h = HyStart::new();
        assert_eq!(
            train(&mut h, 0, 200, ACK_TRAIN_LOW_WINDOW - 1, &times),
            None
        );
        let mut h = HyStart::new();
        assert_eq!(
            train(&mut h, 0, 200, ACK_TRAIN_LOW_WINDOW, &times),
            Some(42)
        );
    }

    #[test]
    fn the_detect_bits_choose_the_signals() {
        let times: Vec<u64> = (0..80).map(|i| 120 * i).collect();
        // Delay only: the train is ignored.
        let mut h = HyStart::with_detect(Detect::DELAY);
        assert_eq!(train(&mut h, 0, 200, 80, &times), None);
        assert_eq!(h.phase(), Phase::SlowStart);
        // ACK train only: an RTT rise does not enter CSS.
        let mut h = HyStart::with_detect(Detect::ACK_TRAIN);
        round(&mut h, 0, 10, 10, ms(40));
        round(&mut h, 10, 30, 20, ms(60));
        assert_eq!(h.phase(), Phase::SlowStart);
        let h = HyStart::with_detect(Detect::from_bits(0));
        assert_eq!(h.phase(), Phase::Off);
        assert_eq!(Detect::default(), Detect::from_bits(3));
    }
}
