//! CUBIC (RFC 9438), in the fixed-point form Linux's `tcp_cubic` uses, so a
//! trace reads like Linux's and packetdrill scripts that time its window
//! growth hold (gtests/net/tcp/cubic).
//!
//! Read first: RFC 9438 §4 (the algorithm), §4.2 (the window function), §4.3
//! (the Reno-friendly region), §4.6 (multiplicative decrease), §4.7 (fast
//! convergence), §4.8 (timeouts), §4.9 (spurious congestion events), §5.8
//! (idle periods); RFC 9406 for slow start ([`super::hystart`]).
//!
//! Windows are counted in segments, like Linux's: `cwnd` here is segments
//! and the trait reports `cwnd * MSS` bytes. Time is counted in
//! milliseconds (Linux with HZ = 1000) and the cubic function's `t` in
//! 1/1024 s. The constants:
//!
//! - β_cubic = 717/1024 ≈ 0.7 (§4.6);
//! - C = 410/1024 ≈ 0.4 (§5.1: "C = 0.4");
//! - the Reno-friendly estimate grows by one segment per
//!   `cwnd * 15 / 8` segments acknowledged, Linux's integer form of
//!   α_cubic = 3(1 - β)/(1 + β) ≈ 0.53 per RTT (§4.3);
//! - the growth rate is recomputed at most every 31 ms (Linux's HZ/32)
//!   unless the window changed, and the target is `W_cubic(t + min RTT)`,
//!   never more than 1.5 x cwnd per RTT (§4.4: "target ... is limited to
//!   1.5 cwnd"; here: at least 2 ACKs per added segment).
//!
//! Linux extras kept for the same traces: until the first congestion event
//! (`W_max = 0`), congestion avoidance adds at least 5% per RTT; RTT samples
//! in the first second of an epoch do not lower the minimum RTT.

use super::hystart::{ABC_L, Detect, HyStart, Lazy, Phase, SlowStartGrowth};
use super::{AckSample, CongestionControl, idle_restart};
use crate::SeqNum;
use crate::time::{Duration, Instant};

/// β_cubic (RFC 9438 §4.6) as a fraction of 1024.
const BETA: u64 = 717;
const BETA_SCALE: u64 = 1024;
/// `t` in the cubic function counts 1/1024 s (2^10).
const T_SHIFT: u32 = 10;
/// C (RFC 9438 §5.1) as a fraction of 1024.
const C_SCALED: u128 = 410;
/// `K` is `cbrt(CUBE_FACTOR * (W_max - cwnd))` in 1/1024 s: RFC 9438 eq. 2,
/// K = cbrt(W_max (1 - β) / C), with `W_max - cwnd_epoch` for W_max (1 - β).
const CUBE_FACTOR: u64 = (1u64 << (T_SHIFT * 4)) / C_SCALED as u64;
/// Linux's `beta_scale`: 8 (1024 + 717) / 3 / (1024 - 717) = 15.
const FRIENDLY_SCALE: u64 = 8 * (BETA_SCALE + BETA) / 3 / (BETA_SCALE - BETA);
/// The growth rate is recomputed at most this often with an unchanged window.
const UPDATE_INTERVAL_MS: u64 = 1000 / 32;
/// RTT samples this soon after an epoch started do not lower `delay_min`
/// (they may be inflated by recovery).
const DELAY_SAMPLE_QUIET_MS: u64 = 1000;
/// Before the first congestion event, at most this many ACKs per segment.
const INITIAL_MAX_CNT: u32 = 20;

/// CUBIC's state: the window, and its epoch boxed (DESIGN.md §4: a
/// connection that never reached congestion avoidance, such as an idle one
/// fresh from its handshake, does not hold it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cubic {
    mss: u32,
    /// cwnd in segments.
    cwnd: u32,
    /// ssthresh in segments; `u32::MAX` is "arbitrarily high".
    ssthresh: u32,
    /// Segments acknowledged towards the next increase (Linux `snd_cwnd_cnt`).
    cwnd_cnt: u32,
    /// W_max: the window before the last reduction (RFC 9438 §4.6), segments.
    w_max: u32,
    /// The smallest RTT seen in this epoch's conditions (RFC 9438's "RTT"
    /// in W_cubic(t + RTT)), µs; 0 before any sample.
    delay_min_us: u32,
    /// cwnd when ssthresh was last set (RFC 9438 `cwnd_prior`), segments.
    cwnd_prior: u32,
    /// The growth-rate state: `None` until the first congestion-avoidance
    /// ACK (all of it zero until then), and again after a timeout.
    epoch: Option<Box<Epoch>>,
    /// HyStart++ during the initial slow start only (RFC 9406 §4.4): gone
    /// once it is done. Allocated at the first slow-start ACK that grows the
    /// window (`hystart_pending` until then), so a connection that never
    /// sends data never holds it (DESIGN.md §4: an idle connection stays small).
    hystart: Option<Box<HyStart>>,
    /// HyStart++ has not started yet: it starts watching these signals
    /// ([`HyStart::with_detect`]); empty once it started or never will.
    hystart_pending: Detect,
    /// At most one: HyStart++ runs in the initial slow start only.
    hystart_exits: u16,
}

/// CUBIC's growth-rate state (Linux `bictcp` minus the window itself).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Epoch {
    /// ACKed segments per one-segment increase (Linux `ca->cnt`).
    cnt: u32,
    /// The window and time (ms, wrapping) of the last growth-rate computation.
    last_cwnd: u32,
    last_time_ms: u32,
    /// The window the cubic function returns to at `t = K` (W_max, or the
    /// window at the start of the epoch if that is larger).
    origin: u32,
    /// K (RFC 9438 eq. 2) in 1/1024 s.
    k: u32,
    /// When congestion avoidance began (RFC 9438 §4.2 `t_epoch`), ms
    /// (wrapping).
    epoch_start_ms: Option<u32>,
    /// Segments acknowledged since the Reno-friendly estimate last grew.
    ack_cnt: u32,
    /// W_est, the Reno-friendly window (RFC 9438 §4.3), segments.
    w_est: u32,
}

/// Floor of the cube root of `x`.
fn cube_root(x: u64) -> u64 {
    if x == 0 {
        return 0;
    }
    // A float estimate, then exact integer correction.
    let mut r = (x as f64).cbrt() as u64;
    while r > 0 && (r as u128).pow(3) > u128::from(x) {
        r -= 1;
    }
    while ((r + 1) as u128).pow(3) <= u128::from(x) {
        r += 1;
    }
    r
}

impl Cubic {
    /// CUBIC with an initial window of `init_cwnd` segments of `mss` bytes,
    /// HyStart++ watching the initial slow start.
    pub fn new(mss: u32, init_cwnd: u32) -> Self {
        Cubic {
            mss: mss.max(1),
            cwnd: init_cwnd.max(1),
            ssthresh: u32::MAX,
            cwnd_cnt: 0,
            w_max: 0,
            delay_min_us: 0,
            cwnd_prior: 0,
            epoch: None,
            hystart: None,
            hystart_pending: Detect::BOTH,
            hystart_exits: 0,
        }
    }

    /// The slow-start exit signals HyStart watches (Linux cubic's
    /// `hystart_detect`); set before the first ACK.
    pub fn set_hystart_detect(&mut self, detect: Detect) {
        if !self.hystart_pending.is_empty() {
            self.hystart_pending = detect;
        }
    }

    /// The window in segments.
    pub fn cwnd_segments(&self) -> u32 {
        self.cwnd
    }

    /// W_max in segments (0 before the first congestion event, and after a
    /// timeout).
    pub fn w_max(&self) -> u32 {
        self.w_max
    }

    /// The current growth rate: ACKed segments per added segment.
    pub fn acks_per_increment(&self) -> u32 {
        self.epoch().cnt
    }

    /// The epoch state (all zero while unallocated).
    fn epoch(&self) -> Epoch {
        self.epoch.as_deref().copied().unwrap_or_default()
    }

    /// The epoch state, to change it (allocated at the first
    /// congestion-avoidance ACK: once per connection, not per ACK).
    fn epoch_mut(&mut self) -> &mut Epoch {
        self.epoch.get_or_insert_with(Box::default)
    }

    /// HyStart++'s phase (Off once it is done).
    pub fn hystart_phase(&self) -> Phase {
        match &self.hystart {
            _ if !self.hystart_pending.is_empty() => Phase::SlowStart,
            Some(h) => h.phase(),
            None => Phase::Off,
        }
    }

    pub(crate) fn hystart_exits(&self) -> u64 {
        u64::from(self.hystart_exits)
    }

    /// An ACK that delivered data with an RTT sample (Linux
    /// `pkts_acked`), before and whether or not it grows the window:
    /// HyStart's ACK train. Its exit sets W_max as a loss-free HyStart exit
    /// does (RFC 9438 §4.10, see [`CongestionControl::on_ack`]).
    pub(crate) fn on_delivery(
        &mut self,
        now: Instant,
        min_rtt: Option<Duration>,
        delivered_end: SeqNum,
        snd_nxt: SeqNum,
    ) {
        if !self.in_slow_start_segments() {
            return;
        }
        let cwnd = self.cwnd;
        if self
            .hystart()
            .on_delivery(now, cwnd, min_rtt, delivered_end, snd_nxt)
        {
            self.enter_congestion_avoidance();
        }
    }

    /// HyStart ended slow start without a loss.
    fn enter_congestion_avoidance(&mut self) {
        self.ssthresh = self.cwnd;
        // RFC 9438 §4.10: HyStart left slow start without a loss, so "W_max
        // is undefined ... CUBIC sets cwnd_prior = cwnd ... K is set to 0,
        // and W_max is set to the congestion window size at the beginning of
        // the current congestion avoidance stage" (not Linux's 5% per RTT
        // for an unset W_max, which overflows the queue the exit just
        // avoided).
        self.w_max = self.cwnd;
        self.cwnd_prior = self.cwnd;
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

    fn stop_hystart(&mut self) {
        self.hystart = None;
        self.hystart_pending = Detect::NONE;
    }

    /// RFC 9438 §4.9: a spurious congestion event restores the state saved
    /// before it, keeping the larger window and threshold.
    pub fn undo(&mut self, prior: &Cubic) {
        let (cwnd, ssthresh) = (self.cwnd, self.ssthresh);
        *self = Cubic {
            mss: self.mss,
            ..prior.clone()
        };
        self.cwnd = self.cwnd.max(cwnd);
        self.ssthresh = self.ssthresh.max(ssthresh);
    }

    /// Sets the window and threshold (bytes) outright.
    pub(crate) fn set_window(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = (cwnd / self.mss).max(1);
        self.ssthresh = if ssthresh == u32::MAX {
            u32::MAX
        } else {
            (ssthresh / self.mss).max(2)
        };
        if self.ssthresh != u32::MAX {
            self.stop_hystart();
        }
    }

    /// At most `limit` bytes of window (at least one segment); see
    /// [`super::Congestion::moderate`].
    pub(crate) fn moderate(&mut self, limit: u32) {
        self.cwnd = self.cwnd.min((limit / self.mss).max(1));
    }

    /// Keeps at least `cwnd` / `ssthresh` bytes (an undo across algorithms).
    pub(crate) fn restore_window(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = self.cwnd.max(cwnd / self.mss);
        if ssthresh == u32::MAX {
            self.ssthresh = u32::MAX;
        } else {
            self.ssthresh = self.ssthresh.max(ssthresh / self.mss);
        }
    }

    fn in_slow_start_segments(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// [`Cubic::on_rtt`] at `now`: the ACK's RTT sample, whether or not
    /// the window may grow (the caller of an application-limited ACK calls
    /// it alone, see [`super::Congestion::on_app_limited_ack`]).
    #[inline]
    pub(super) fn on_rtt_at(&mut self, now: Instant, rtt: Duration) {
        self.on_rtt(now.total_millis() as u32, rtt);
    }

    /// Linux `cubictcp_acked`: track the minimum RTT.
    fn on_rtt(&mut self, now_ms: u32, rtt: Duration) {
        if let Some(start) = self.epoch().epoch_start_ms
            && u64::from(now_ms.wrapping_sub(start)) < DELAY_SAMPLE_QUIET_MS
        {
            return;
        }
        let rtt = u32::try_from(rtt.total_micros()).unwrap_or(u32::MAX).max(1);
        if self.delay_min_us == 0 || rtt < self.delay_min_us {
            self.delay_min_us = rtt;
        }
    }

    /// RFC 9438 §4.2-4.5: the growth rate `cnt` for this ACK (Linux
    /// `bictcp_update`).
    fn update(&mut self, now_ms: u32, acked: u32) {
        let cwnd = self.cwnd;
        let ep = self.epoch_mut();
        ep.ack_cnt = ep.ack_cnt.saturating_add(acked);
        let recent = u64::from(now_ms.wrapping_sub(ep.last_time_ms)) <= UPDATE_INTERVAL_MS;
        if ep.last_cwnd == cwnd && recent {
            return;
        }
        if !(ep.epoch_start_ms.is_some() && now_ms == ep.last_time_ms) {
            ep.last_cwnd = cwnd;
            ep.last_time_ms = now_ms;
            self.cubic_rate(now_ms, acked);
        }
        self.reno_friendly();
        // At most 1.5x per RTT (§4.4).
        let ep = self.epoch_mut();
        ep.cnt = ep.cnt.max(2);
    }

    /// The cubic function's rate (RFC 9438 §4.2, §4.4, §4.5).
    fn cubic_rate(&mut self, now_ms: u32, acked: u32) {
        let (cwnd, w_max, delay_min_us) = (self.cwnd, self.w_max, self.delay_min_us);
        let ep = self.epoch_mut();
        let epoch = match ep.epoch_start_ms {
            Some(e) => e,
            None => {
                // A new epoch (§4.2: "t_epoch"): count ACKs for W_est from here.
                ep.epoch_start_ms = Some(now_ms);
                ep.ack_cnt = acked;
                ep.w_est = cwnd;
                if w_max <= cwnd {
                    ep.k = 0;
                    ep.origin = cwnd;
                } else {
                    // RFC 9438 eq. 2: K = cbrt((W_max - cwnd_epoch) / C).
                    let k = cube_root(CUBE_FACTOR.saturating_mul(u64::from(w_max - cwnd)));
                    ep.k = u32::try_from(k).unwrap_or(u32::MAX);
                    ep.origin = w_max;
                }
                now_ms
            }
        };
        // t + RTT in 1/1024 s (RFC 9438 §4.2: "target = W_cubic(t + RTT)").
        let rtt_ms = u64::from(delay_min_us.div_ceil(1000));
        let t = ((u64::from(now_ms.wrapping_sub(epoch)) + rtt_ms) << T_SHIFT) / 1000;
        let k = u64::from(ep.k);
        let offs = u128::from(t.abs_diff(k));
        // RFC 9438 eq. 1: W_cubic(t) = C (t - K)^3 + W_max.
        let delta = (C_SCALED * offs * offs * offs) >> (T_SHIFT * 4);
        let delta = u32::try_from(delta).unwrap_or(u32::MAX);
        let target = if t < k {
            ep.origin.saturating_sub(delta)
        } else {
            ep.origin.saturating_add(delta)
        };
        // §4.4-4.5: cwnd += (target - cwnd) / cwnd per segment acknowledged;
        // below the target the window barely grows.
        ep.cnt = if target > cwnd {
            cwnd / (target - cwnd)
        } else {
            cwnd.saturating_mul(100)
        };
        if w_max == 0 && ep.cnt > INITIAL_MAX_CNT {
            ep.cnt = INITIAL_MAX_CNT;
        }
    }

    /// RFC 9438 §4.3: in the Reno-friendly region, grow at least as fast
    /// as W_est, the window an AIMD(α_cubic, β_cubic) sender would have.
    fn reno_friendly(&mut self) {
        let (cwnd, cwnd_prior) = (self.cwnd, self.cwnd_prior);
        let ep = self.epoch_mut();
        // α_cubic = 3 (1 - β) / (1 + β) as Linux counts it: one segment per
        // cwnd * 15 / 8 segments acknowledged. "Once W_est has grown to
        // reach the cwnd at the time of most recently setting ssthresh ...
        // the sender SHOULD set α_cubic to 1" (§4.3): one per cwnd.
        let per_segment = if cwnd_prior > 0 && ep.w_est >= cwnd_prior {
            u64::from(cwnd).max(1)
        } else {
            ((u64::from(cwnd) * FRIENDLY_SCALE) >> 3).max(1)
        };
        let per_segment = u32::try_from(per_segment).unwrap_or(u32::MAX);
        if ep.ack_cnt > per_segment {
            let grown = (ep.ack_cnt - 1) / per_segment;
            ep.ack_cnt -= grown * per_segment;
            ep.w_est = ep.w_est.saturating_add(grown);
        }
        if ep.w_est > cwnd {
            let max_cnt = cwnd / (ep.w_est - cwnd);
            ep.cnt = ep.cnt.min(max_cnt);
        }
    }

    /// Linux `tcp_cong_avoid_ai`: one segment per `w` acknowledged, credits
    /// earned at a slower rate applied first.
    fn additive_increase(&mut self, w: u32, acked: u32) {
        let w = w.max(1);
        if self.cwnd_cnt >= w {
            self.cwnd_cnt = 0;
            self.cwnd = self.cwnd.saturating_add(1);
        }
        self.cwnd_cnt = self.cwnd_cnt.saturating_add(acked);
        if self.cwnd_cnt >= w {
            let grow = self.cwnd_cnt / w;
            self.cwnd_cnt -= grow * w;
            self.cwnd = self.cwnd.saturating_add(grow);
        }
    }

    /// RFC 9438 §4.6-4.7: the new W_max (fast convergence) and ssthresh.
    fn reduce(&mut self) {
        if let Some(ep) = self.epoch.as_deref_mut() {
            ep.epoch_start_ms = None;
        }
        self.cwnd_prior = self.cwnd;
        // §4.7: "if (cwnd < W_max and fast convergence enabled) W_max = cwnd
        // * (1 + β_cubic) / 2; else W_max = cwnd".
        let cwnd = u64::from(self.cwnd);
        self.w_max = if self.cwnd < self.w_max {
            (cwnd * (BETA_SCALE + BETA) / (2 * BETA_SCALE)) as u32
        } else {
            self.cwnd
        };
        // §4.6: "ssthresh = cwnd * β_cubic", at least 2 segments.
        self.ssthresh = ((cwnd * BETA / BETA_SCALE) as u32).max(2);
        self.cwnd_cnt = 0;
        // RFC 9406 §4.4: HyStart++ only for the initial slow start.
        self.stop_hystart();
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn window(&self) -> u32 {
        self.cwnd.saturating_mul(self.mss)
    }

    fn ssthresh(&self) -> u32 {
        if self.ssthresh == u32::MAX {
            u32::MAX
        } else {
            self.ssthresh.saturating_mul(self.mss)
        }
    }

    fn in_slow_start(&self) -> bool {
        self.in_slow_start_segments()
    }

    fn on_ack(&mut self, now: Instant, ack: &AckSample) {
        let now_ms = now.total_millis() as u32; // wrapping ms, like jiffies
        if let Some(rtt) = ack.rtt {
            self.on_rtt(now_ms, rtt);
        }
        // RFC 9438 §5.8 / RFC 7661: no growth while the application, not the
        // window, limits the sender.
        let mut acked = ack.delivered_segments;
        if !ack.cwnd_limited || acked == 0 {
            return;
        }
        if self.in_slow_start_segments() {
            let growth = self
                .hystart()
                .on_ack(acked, ack.rtt, ack.snd_una, ack.snd_nxt)
                // Standard slow start, RFC 3465's L = 2 segments per ACK.
                .unwrap_or(SlowStartGrowth::Grow(acked.min(ABC_L)));
            match growth {
                SlowStartGrowth::EnterCongestionAvoidance => {
                    self.enter_congestion_avoidance();
                    return;
                }
                SlowStartGrowth::Grow(n) => {
                    let room = self.ssthresh - self.cwnd;
                    if n < room {
                        self.cwnd += n;
                        return;
                    }
                    // Slow start ends at ssthresh; what is left of the ACK
                    // counts in congestion avoidance (Linux `tcp_slow_start`).
                    self.cwnd = self.ssthresh;
                    acked = acked.saturating_sub(room);
                    if acked == 0 {
                        return;
                    }
                }
            }
        }
        self.update(now_ms, acked);
        self.additive_increase(self.epoch().cnt, acked);
    }

    fn on_congestion_event(&mut self, _now: Instant, _in_flight: u32) {
        // CUBIC's ssthresh follows cwnd (§4.6), not the flight size.
        self.reduce();
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        if self.ssthresh != u32::MAX {
            self.cwnd = self.ssthresh;
        }
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: u32, first: bool) {
        // §4.8: "CUBIC ... ssthresh ... as in §4.6 ... cwnd ... 1 segment",
        // then a fresh start: Linux resets W_max and the epoch on entering Loss.
        if first {
            self.reduce();
        }
        let (ssthresh, mss) = (self.ssthresh, self.mss);
        let cwnd_prior = self.cwnd_prior;
        let hystart_exits = self.hystart_exits;
        *self = Cubic {
            ssthresh,
            cwnd_prior,
            cwnd: 1,
            hystart: None,
            hystart_pending: Detect::NONE,
            hystart_exits,
            ..Cubic::new(mss, 1)
        };
    }

    fn on_idle_restart(&mut self, _now: Instant, idle: Duration, rto: Duration, init_cwnd: u32) {
        let (cwnd, ssthresh) = idle_restart(self.cwnd, self.ssthresh, init_cwnd, idle, rto);
        self.cwnd = cwnd;
        self.ssthresh = ssthresh;
    }

    fn on_send_after_idle(&mut self, now: Instant, idle: Duration) {
        // RFC 9438 §5.8: the time the sender was idle is not part of `t`
        // (Linux shifts the epoch on `CA_EVENT_TX_START`), never past now.
        let now_ms = now.total_millis() as u32;
        if let Some(start) = self
            .epoch
            .as_deref_mut()
            .and_then(|e| e.epoch_start_ms.as_mut())
        {
            let idle = u32::try_from(idle.total_millis()).unwrap_or(u32::MAX);
            let since = now_ms.wrapping_sub(*start);
            *start = start.wrapping_add(idle.min(since));
        }
    }

    fn set_mss(&mut self, mss: u32) {
        // Windows are in segments: nothing to convert.
        self.mss = mss.max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeqNum;

    const MSS: u32 = 1000;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// One ACK for one segment, with an RTT sample.
    fn ack1(rtt_ms: u64) -> AckSample {
        AckSample {
            rtt: Some(Duration::from_millis(rtt_ms)),
            ..AckSample::bytes(MSS, MSS)
        }
    }

    #[test]
    fn constants_match_the_rfc() {
        // β = 0.7, C = 0.4, α_cubic = 3 (1 - β) / (1 + β) ≈ 0.53: Linux's
        // 15/8 segments per ... gives 8/15 = 0.533 per RTT.
        assert_eq!(BETA * 1000 / BETA_SCALE, 700);
        assert_eq!(C_SCALED * 1000 / 1024, 400);
        assert_eq!(FRIENDLY_SCALE, 15);
        assert_eq!(cube_root(27), 3);
        assert_eq!(cube_root(26), 2);
        assert_eq!(cube_root(u64::MAX), 2_642_245);
    }

    #[test]
    fn reduction_sets_ssthresh_to_seven_tenths_and_remembers_w_max() {
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 100;
        c.on_congestion_event(at(0), 0);
        // §4.6: ssthresh = 100 * 717 / 1024 = 70; W_max = 100.
        assert_eq!(c.ssthresh(), 70 * MSS);
        assert_eq!(c.w_max(), 100);
        c.on_recovery_end(at(0));
        assert_eq!(c.window(), 70 * MSS);
        // §4.7 fast convergence: a loss below W_max remembers less:
        // 70 * (1 + 0.7) / 2 = 59 (1741 * 70 / 2048).
        c.on_congestion_event(at(0), 0);
        assert_eq!(c.w_max(), 59);
        assert_eq!(c.ssthresh(), 49 * MSS, "70 * 717 / 1024");
        assert_eq!(c.hystart_phase(), Phase::Off);
    }

    #[test]
    fn the_window_returns_to_w_max_after_k_seconds() {
        // After a loss at W_max = 100, cwnd = 70: K = cbrt(30 / 0.4) = 4.22 s.
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 100;
        c.on_congestion_event(at(0), 0);
        c.on_recovery_end(at(0));
        c.delay_min_us = 100_000;
        // One RTT of 100 ms carries cwnd ACKs; feed ACKs every ms-ish.
        let mut now = 1_000;
        while now < 1_000 + 4_200 {
            let per_rtt = c.cwnd_segments();
            for i in 0..per_rtt {
                let t = now + u64::from(i) * 100 / u64::from(per_rtt);
                c.on_ack(at(t), &AckSample::bytes(MSS, MSS));
            }
            now += 100;
        }
        assert_eq!(
            c.epoch().k,
            4_316,
            "K = cbrt(30 / 0.4) s = 4.217 s, in 1/1024 s"
        );
        // Concave approach: close to, not far above, W_max at t ~ K.
        let w = c.cwnd_segments();
        assert!((96..=101).contains(&w), "cwnd {w} near W_max 100 at t = K");
        // Then convex growth beyond it.
        for _ in 0..30 {
            let per_rtt = c.cwnd_segments();
            for i in 0..per_rtt {
                let t = now + u64::from(i) * 100 / u64::from(per_rtt);
                c.on_ack(at(t), &AckSample::bytes(MSS, MSS));
            }
            now += 100;
        }
        assert!(c.cwnd_segments() > 110, "{}", c.cwnd_segments());
    }

    #[test]
    fn the_reno_friendly_region_grows_about_half_a_segment_per_rtt() {
        // Tiny window, far from any W_max: the cubic term is negligible and
        // W_est drives growth: 0.53 segments per RTT (RFC 9438 §4.3).
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 10;
        c.w_max = 10;
        c.ssthresh = 10;
        c.delay_min_us = 10_000;
        let mut now = 0;
        for _ in 0..40 {
            let per_rtt = c.cwnd_segments();
            for _ in 0..per_rtt {
                now += 10 / u64::from(per_rtt).max(1) + 1;
                c.on_ack(at(now), &AckSample::bytes(MSS, MSS));
            }
        }
        // 40 RTTs x 0.53 = ~21 segments.
        let w = c.cwnd_segments();
        assert!((27..=33).contains(&w), "cwnd {w}");
    }

    #[test]
    fn once_w_est_reaches_the_prior_window_it_grows_like_reno() {
        // RFC 9438 §4.3: α_cubic = 0.53 until W_est reaches cwnd_prior, then 1.
        let grow = |cwnd_prior: u32| {
            let mut c = Cubic::new(MSS, 10);
            c.cwnd = 20;
            c.w_max = 20;
            c.ssthresh = 20;
            c.cwnd_prior = cwnd_prior;
            c.delay_min_us = 10_000;
            let mut now = 0;
            for _ in 0..20 {
                let per_rtt = c.cwnd_segments();
                for _ in 0..per_rtt {
                    now += 1;
                    c.on_ack(at(now), &AckSample::bytes(MSS, MSS));
                }
            }
            c.cwnd_segments() - 20
        };
        let (slow, reno) = (grow(40), grow(20));
        // 20 RTTs: about 10 segments at 0.53, about 20 at 1.
        assert!((8..=12).contains(&slow), "{slow}");
        assert!((17..=22).contains(&reno), "{reno}");
    }

    #[test]
    fn an_unused_window_does_not_grow() {
        let mut c = Cubic::new(MSS, 10);
        let limited = AckSample {
            cwnd_limited: false,
            ..AckSample::bytes(MSS, MSS)
        };
        c.on_ack(at(0), &limited);
        assert_eq!(c.window(), 10 * MSS);
    }

    #[test]
    fn slow_start_counts_segments_and_stops_at_ssthresh() {
        let mut c = Cubic::new(MSS, 10);
        c.ssthresh = 12;
        c.on_ack(at(0), &AckSample::bytes(MSS, MSS));
        assert_eq!(c.cwnd_segments(), 11);
        // A delayed ACK for 2 segments, then one for 3: capped at 12, the
        // rest goes to congestion avoidance's counter.
        c.on_ack(at(1), &AckSample::bytes(2 * MSS, MSS));
        assert_eq!(c.cwnd_segments(), 12);
        assert_eq!(c.cwnd_cnt, 1);
    }

    /// gtests/net/tcp/cubic/cubic-rto-ss-ca-cwnd-bump.pkt at the controller:
    /// after a timeout at cwnd 10 (ssthresh 7, W_max reset), slow start to 7,
    /// then congestion avoidance with one ACK per segment. Linux's window
    /// stays 7 for 15 ACKs and becomes 8 on the 16th (the Reno-friendly
    /// estimate, evaluated at most every 31 ms, passes 7 and releases the
    /// credit counted meanwhile).
    #[test]
    fn linux_cubic_rto_slow_start_then_ca_bump_timing() {
        let mut c = Cubic::new(MSS, 10);
        // Two 100 ms samples before the timeout.
        c.on_ack(
            at(100),
            &AckSample {
                cwnd_limited: false,
                ..ack1(100)
            },
        );
        c.on_ack(
            at(200),
            &AckSample {
                cwnd_limited: false,
                ..ack1(100)
            },
        );
        c.on_rto(at(800), MSS, true);
        assert_eq!((c.cwnd_segments(), c.ssthresh()), (1, 7 * MSS));
        // The retransmission's ACK at 900 (no RTT sample: Karn), then slow
        // start one segment per ACK, times as in the script.
        let mut t = 900;
        c.on_ack(at(t), &AckSample::bytes(MSS, MSS));
        assert_eq!(c.cwnd_segments(), 2);
        for (dt, cwnd) in [(100, 3), (2, 4), (98, 5), (2, 6), (2, 7)] {
            t += dt;
            c.on_ack(at(t), &ack1(100));
            assert_eq!(c.cwnd_segments(), cwnd, "slow start at {t}");
        }
        // Congestion avoidance: ACKs for 8001 ... 23001.
        let gaps = [2, 98, 2, 2, 2, 2, 2, 2, 98, 2, 2, 2, 2, 2, 2, 98];
        for (i, dt) in gaps.iter().enumerate() {
            t += dt;
            c.on_ack(at(t), &ack1(100));
            let expect = if i < 15 { 7 } else { 8 };
            assert_eq!(c.cwnd_segments(), expect, "CA ACK {} at {t} ms", i + 1);
        }
    }

    #[test]
    fn a_timeout_resets_to_one_segment_and_only_the_first_sets_ssthresh() {
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 40;
        c.on_rto(at(0), 0, true);
        assert_eq!((c.cwnd_segments(), c.ssthresh()), (1, 28 * MSS));
        assert_eq!(c.w_max(), 0, "Linux forgets W_max on a timeout");
        c.cwnd = 5;
        c.on_rto(at(0), 0, false);
        assert_eq!((c.cwnd_segments(), c.ssthresh()), (1, 28 * MSS));
    }

    #[test]
    fn undo_restores_w_max_and_the_window() {
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 50;
        c.w_max = 60;
        let prior = c.clone();
        c.on_congestion_event(at(0), 0);
        c.on_recovery_end(at(0));
        // Fast convergence: 50 < W_max 60, so W_max = 50 * 1.7 / 2 = 42.
        assert_eq!((c.cwnd_segments(), c.w_max()), (35, 42));
        c.undo(&prior);
        assert_eq!((c.cwnd_segments(), c.w_max()), (50, 60));
        assert_eq!(c.ssthresh(), u32::MAX);
    }

    #[test]
    fn idle_time_is_not_part_of_the_epoch() {
        let mut c = Cubic::new(MSS, 10);
        c.epoch_mut().epoch_start_ms = Some(1_000);
        c.on_send_after_idle(at(5_000), Duration::from_millis(3_000));
        assert_eq!(c.epoch().epoch_start_ms, Some(4_000));
        c.on_send_after_idle(at(5_000), Duration::from_millis(9_000));
        assert_eq!(c.epoch().epoch_start_ms, Some(5_000), "never in the future");
    }

    #[test]
    fn hystart_state_is_allocated_by_the_first_growing_ack_not_at_construction() {
        let mut c = Cubic::new(MSS, 10);
        assert!(
            c.hystart.is_none(),
            "an idle connection holds no HyStart++ box"
        );
        assert_eq!(c.hystart_phase(), Phase::SlowStart);
        // Not window-limited: no growth, still nothing allocated.
        let idle = AckSample {
            cwnd_limited: false,
            ..ack1(10)
        };
        c.on_ack(at(10), &idle);
        assert!(c.hystart.is_none());
        c.on_ack(at(20), &ack1(10));
        assert!(c.hystart.is_some());
        assert_eq!(c.hystart_phase(), Phase::SlowStart);
    }

    #[test]
    fn hystart_plus_plus_ends_the_initial_slow_start_on_rtt_growth() {
        let mut c = Cubic::new(MSS, 10);
        let mut una = 0u32;
        let mut nxt = 10u32;
        let mut t = 0;
        // Rounds with a flat 20 ms RTT, then a round at 30 ms (>= 20 + 4).
        for rtt in [20, 20, 30] {
            let acks = c.cwnd_segments();
            nxt += acks;
            for _ in 0..acks {
                una += 1;
                t += 1;
                c.on_ack(
                    at(t),
                    &AckSample {
                        rtt: Some(Duration::from_millis(rtt)),
                        snd_una: SeqNum(una),
                        snd_nxt: SeqNum(nxt),
                        ..AckSample::bytes(MSS, MSS)
                    },
                );
            }
        }
        assert_eq!(c.hystart_phase(), Phase::Css);
        assert_eq!(c.hystart_exits(), 1);
        assert!(c.in_slow_start(), "CSS is still slow start");
    }

    /// Slow start over a 10 ms path whose bottleneck spaces segments
    /// 120 µs apart (100 Mbit/s): each segment's ACK arrives 10 ms after it
    /// was sent, or 120 µs after the previous ACK if that is later; each ACK
    /// lets out what the window allows. Runs until slow start ends or
    /// `segments` are acknowledged; returns the window.
    fn slow_start_over_a_bottleneck(c: &mut Cubic, segments: u32) -> u32 {
        let mut sent_at = vec![Instant::from_millis(20); 10];
        let mut last = Instant::ZERO;
        for una in 1..=segments {
            let seg = (una - 1) as usize;
            let arrival =
                (sent_at[seg] + Duration::from_millis(10)).max(last + Duration::from_micros(120));
            last = arrival;
            let nxt = sent_at.len() as u32;
            // As loss recovery does: the ACK train first, then growth.
            let min_rtt = Some(Duration::from_millis(10));
            c.on_delivery(arrival, min_rtt, SeqNum(una), SeqNum(nxt));
            c.on_ack(
                arrival,
                &AckSample {
                    rtt: Some(Duration::from_millis(10)),
                    min_rtt: Some(Duration::from_millis(10)),
                    snd_una: SeqNum(una),
                    snd_nxt: SeqNum(nxt),
                    ..AckSample::bytes(MSS, MSS)
                },
            );
            if !c.in_slow_start() {
                break;
            }
            while (sent_at.len() as u32) < una + c.cwnd_segments() {
                sent_at.push(arrival);
            }
        }
        c.cwnd_segments()
    }

    #[test]
    fn an_ack_train_exit_sets_w_max_to_the_window_and_grows_slowly() {
        let mut c = Cubic::new(MSS, 10);
        // Flights of 10, 20, 40 segments come back in trains of 1.2, 2.4
        // and 4.8 ms; the flight of 80's train passes half the 10 ms
        // minimum RTT at its 43rd ACK (42 x 120 µs after its first), with
        // cwnd 80 + 42 = 122 (the path holds 83 in flight, the queue more).
        assert_eq!(slow_start_over_a_bottleneck(&mut c, 1000), 122);
        assert_eq!(c.ssthresh(), 122 * MSS, "ssthresh = cwnd (Linux)");
        assert_eq!(c.hystart_phase(), Phase::Off, "no CSS after a train");
        assert_eq!(c.hystart_exits(), 1);
        // RFC 9438 §4.10: W_max = cwnd, cwnd_prior = cwnd, K = 0.
        assert_eq!((c.w_max(), c.cwnd_prior), (122, 122));
        // A round of congestion avoidance adds about one segment (the
        // Reno-friendly rate with α = 1), not Linux's 5% for an unset W_max.
        let start = at(100);
        for i in 0..122u64 {
            c.on_ack(
                start + Duration::from_micros(120 * i),
                &AckSample {
                    min_rtt: Some(Duration::from_millis(10)),
                    ..AckSample::bytes(MSS, MSS)
                },
            );
        }
        assert!(c.cwnd_segments() <= 123, "{}", c.cwnd_segments());
    }

    #[test]
    fn without_the_ack_train_bit_the_same_acks_stay_in_slow_start() {
        let mut c = Cubic::new(MSS, 10);
        c.set_hystart_detect(Detect::DELAY);
        assert_eq!(slow_start_over_a_bottleneck(&mut c, 150), 160);
        assert!(c.in_slow_start());
        let mut c = Cubic::new(MSS, 10);
        c.set_hystart_detect(Detect::NONE);
        assert_eq!(c.hystart_phase(), Phase::Off);
    }
}
