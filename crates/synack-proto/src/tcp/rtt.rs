//! Round-trip time estimation and the retransmission timeout.
//!
//! Read first: RFC 6298 (computing TCP's retransmission timer), RFC 7323 §4
//! (RTT samples from timestamps), Karn & Partridge 1987 (no samples from
//! retransmitted segments).
//!
//! The estimator follows RFC 6298 in the form Linux implements it, so that a
//! packetdrill script's timing matches Linux (net/ipv4/tcp_input.c
//! `tcp_rtt_estimator`, `tcp_set_rto`; include/net/tcp.h `__tcp_set_rto`):
//!
//! - SRTT is kept in microseconds times 8 and moves by 1/8 of the error
//!   (RFC 6298 §2.3, alpha = 1/8).
//! - `mdev` is 4 times the mean deviation and moves by 1/4 of its error
//!   (beta = 1/4). When the RTT falls, the deviation moves by only 1/32
//!   (Linux's finer gain, so a sudden drop does not inflate the RTO).
//! - The variance term added to SRTT is not `mdev` itself but the largest
//!   `mdev` seen in the current round trip, never below `rto_min`, and it
//!   decays by a quarter of the excess once per round trip (when SND.UNA
//!   passes the SND.NXT recorded at the start of the round). This replaces
//!   RFC 6298's `max(G, K*RTTVAR)` with a floor of `rto_min`.
//! - RTO = SRTT + variance term, rounded up to whole milliseconds (Linux
//!   jiffies at HZ=1000), capped at `rto_max` (RFC 6298 §2.4-2.5: at least
//!   rto_min, "a maximum value MAY be placed on RTO provided it is at least
//!   60 seconds").
//! - The first sample R gives SRTT = R, mdev = 2R, so RTO = 3R when
//!   R >= 100 ms (RFC 6298 §2.2 gives SRTT + 4 * R/2 = 3R too).
//!
//! **Karn's rule is the caller's** (RFC 6298 §3): take no sample from an ACK
//! that covers a retransmitted segment, unless timestamps (RFC 7323 §4.1)
//! say which transmission it acknowledges. Likewise RFC 6298 §5.7: if the
//! handshake produced no sample (its SYN was retransmitted), call
//! [`RttEstimator::on_established_without_sample`].

use crate::tcp::seq::SeqNum;
use crate::time::Duration;

/// Tunables of the retransmission timer (Linux defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttConfig {
    /// RTO before the first sample: 1 s (RFC 6298 §2.1, Linux TCP_TIMEOUT_INIT).
    pub initial_rto: Duration,
    /// Floor of the RTO and of its variance term: 200 ms (Linux TCP_RTO_MIN;
    /// RFC 6298 §2.4 says 1 s, Linux and most stacks use less).
    pub rto_min: Duration,
    /// Cap of the RTO, also after backoff: 120 s (Linux TCP_RTO_MAX).
    pub rto_max: Duration,
    /// RTO once a handshake completes without a sample: 3 s (RFC 6298 §5.7,
    /// Linux TCP_TIMEOUT_FALLBACK).
    pub fallback_rto: Duration,
}

impl Default for RttConfig {
    fn default() -> Self {
        RttConfig {
            initial_rto: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            fallback_rto: Duration::from_secs(3),
        }
    }
}

/// Samples above this are clamped (about 8.9 minutes, far above any RTO
/// the estimator can produce), so that SRTT x 8 and every other field fits
/// in 32 bits of microseconds and the arithmetic below never overflows.
const MAX_SAMPLE_US: u64 = (u32::MAX >> 3) as u64;

/// A duration in whole microseconds, saturating at `u32::MAX` (71 minutes).
fn us32(d: Duration) -> u32 {
    u32::try_from(d.total_micros()).unwrap_or(u32::MAX)
}

fn from_us32(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

/// The RFC 6298 estimator of one connection, with Linux's arithmetic, in
/// 32 bytes: every field is a 32-bit count of microseconds (DESIGN.md §4).
/// It keeps no copy of its [`RttConfig`]: the bounds are the stack's
/// settings, passed to the calls that apply them.
///
/// Feed it with [`RttEstimator::on_sample`]; arm the retransmission timer with
/// [`RttEstimator::rto_with_backoff`]; call [`RttEstimator::backoff`] when it
/// fires.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    /// Smoothed RTT in µs, times 8 (Linux `srtt_us`). 0 until the first sample.
    srtt8: u32,
    /// 4 x mean deviation in µs (Linux `mdev_us`).
    mdev: u32,
    /// Largest `mdev` in the current round trip (Linux `mdev_max_us`).
    mdev_max: u32,
    /// The variance term of the RTO, in µs (Linux `rttvar_us`).
    rttvar: u32,
    /// The round trip ends when SND.UNA passes this (Linux `rtt_seq`).
    rtt_seq: SeqNum,
    /// RTO without backoff, in µs.
    rto_us: u32,
    /// Consecutive timeouts since the last valid sample (Linux `icsk_backoff`).
    backoffs: u32,
    /// The most recent sample in µs (at most `MAX_SAMPLE_US`); `u32::MAX`:
    /// none yet (4 bytes where an `Option<Duration>` takes 16).
    latest_us: u32,
}

impl RttEstimator {
    /// An estimator with no samples: RTO = `initial_rto`.
    pub fn new(config: RttConfig) -> Self {
        RttEstimator {
            srtt8: 0,
            mdev: 0,
            mdev_max: 0,
            rttvar: 0,
            rtt_seq: SeqNum(0),
            rto_us: us32(config.initial_rto.min(config.rto_max)),
            backoffs: 0,
            latest_us: u32::MAX,
        }
    }

    /// Feeds one RTT measurement, taken from an ACK (Karn's rule: never from a
    /// retransmitted segment unless timestamps disambiguate).
    ///
    /// `snd_una` is SND.UNA after processing that ACK and `snd_nxt` the current
    /// SND.NXT: the estimator uses them to end a round trip once all data sent
    /// when the round started is acknowledged, as Linux does.
    ///
    /// Also resets the backoff (RFC 6298 §5.7 read with Linux: "only reset
    /// backoff on valid RTT measurement").
    pub fn on_sample(
        &mut self,
        rtt: Duration,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        config: &RttConfig,
    ) {
        // Lossless: at most MAX_SAMPLE_US.
        let m = rtt.total_micros().min(MAX_SAMPLE_US) as u32;
        self.latest_us = m;
        let rto_min = us32(config.rto_min);
        if self.srtt8 == 0 {
            // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2 (mdev is 4 x RTTVAR).
            self.srtt8 = m << 3;
            self.mdev = m << 1;
            self.rttvar = self.mdev.max(rto_min);
            self.mdev_max = self.rttvar;
            self.rtt_seq = snd_nxt;
        } else {
            // RFC 6298 §2.3, in Linux's fixed point.
            let m = m as i64;
            let srtt8 = self.srtt8 as i64;
            let mdev = self.mdev as i64;
            let err = m - (srtt8 >> 3);
            let new_srtt8 = srtt8 + err; // srtt += err/8, in units of 1/8
            let mut e = if err < 0 {
                let mut e = -err - (mdev >> 2);
                // The RTT fell: move the deviation 8x slower.
                if e > 0 {
                    e >>= 3;
                }
                e
            } else {
                err - (mdev >> 2)
            };
            // mdev += e; (never below zero: e >= -mdev/4)
            e += mdev;
            // Both stay below 2^32: samples are at most 2^29 µs, so SRTT x 8
            // is below 2^32 and mdev below 2^31.
            self.mdev = u32::try_from(e.max(0)).unwrap_or(u32::MAX);
            self.srtt8 = u32::try_from(new_srtt8.max(1)).unwrap_or(u32::MAX);
            if self.mdev > self.mdev_max {
                self.mdev_max = self.mdev;
                if self.mdev_max > self.rttvar {
                    self.rttvar = self.mdev_max;
                }
            }
            // Once per round trip, let the variance term decay.
            if snd_una.after(self.rtt_seq) {
                if self.mdev_max < self.rttvar {
                    self.rttvar -= (self.rttvar - self.mdev_max) >> 2;
                }
                self.rtt_seq = snd_nxt;
                self.mdev_max = rto_min;
            }
        }
        self.srtt8 = self.srtt8.max(1);
        self.rto_us = self.compute_rto(config);
        self.backoffs = 0;
    }

    /// RFC 6298 §5.7: the handshake completed without a valid sample (its
    /// SYN or SYN-ACK was retransmitted), so the RTO goes back to 3 s until
    /// the first sample. No-op once a sample exists.
    pub fn on_established_without_sample(&mut self, config: &RttConfig) {
        if self.srtt8 != 0 {
            return;
        }
        let fallback = us32(config.fallback_rto);
        self.mdev = fallback;
        self.mdev_max = fallback;
        self.rttvar = fallback;
        self.rto_us = fallback.max(us32(config.rto_min)).min(us32(config.rto_max));
    }

    /// The retransmission timer fired: RFC 6298 §5.5, double the RTO
    /// ("back off the timer"), up to `rto_max`.
    pub fn backoff(&mut self) {
        self.backoffs = self.backoffs.saturating_add(1);
    }

    /// Forget the backoff (e.g. a zero-window probe got an answer). A valid
    /// sample also resets it.
    pub fn reset_backoff(&mut self) {
        self.backoffs = 0;
    }

    /// Consecutive timeouts since the last reset (Linux `icsk_backoff`).
    pub fn backoffs(&self) -> u32 {
        self.backoffs
    }

    /// The RTO without backoff.
    pub fn rto(&self) -> Duration {
        from_us32(self.rto_us)
    }

    /// The RTO to arm the retransmission timer with: `rto() * 2^backoffs`,
    /// capped at `rto_max`. This is Linux's `icsk_rto` and `tcpi_rto`.
    pub fn rto_with_backoff(&self, config: &RttConfig) -> Duration {
        self.rto()
            .saturating_shl(self.backoffs)
            .min(from_us32(us32(config.rto_max)))
    }

    /// Whether any sample has been taken.
    pub fn has_sample(&self) -> bool {
        self.srtt8 != 0
    }

    /// Smoothed RTT (RFC 6298 SRTT), truncated to whole microseconds; `None`
    /// before the first sample. This is Linux's `tcpi_rtt` (`srtt_us >> 3`).
    pub fn srtt(&self) -> Option<Duration> {
        self.has_sample().then(|| from_us32(self.srtt8 >> 3))
    }

    /// Mean deviation of the RTT (RFC 6298 RTTVAR), truncated to whole
    /// microseconds. This is Linux's `tcpi_rttvar` (`mdev_us >> 2`): the
    /// smoothed deviation, not the variance term the RTO uses. Zero before
    /// the first sample.
    pub fn rttvar(&self) -> Duration {
        from_us32(self.mdev >> 2)
    }

    /// The variance term added to SRTT to make the RTO (RFC 6298's
    /// `K * RTTVAR`, Linux's `rttvar_us`): the largest 4 x deviation of the
    /// recent round trips, at least `rto_min`.
    pub fn variance_term(&self) -> Duration {
        from_us32(self.rttvar)
    }

    /// The most recent sample.
    pub fn latest_rtt(&self) -> Option<Duration> {
        (self.latest_us != u32::MAX).then(|| from_us32(self.latest_us))
    }

    /// SRTT + variance term, rounded up to a millisecond, within
    /// [rto_min, rto_max] (Linux `__tcp_set_rto` + `tcp_bound_rto`; the
    /// floor never binds because the variance term is at least rto_min).
    fn compute_rto(&self, config: &RttConfig) -> u32 {
        let us = u64::from(self.srtt8 >> 3) + u64::from(self.rttvar);
        let ms = us.div_ceil(1_000).saturating_mul(1_000);
        let ms = ms
            .max(u64::from(us32(config.rto_min)))
            .min(u64::from(us32(config.rto_max)));
        // Lossless: capped at rto_max, a u32.
        ms as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    fn est() -> RttEstimator {
        RttEstimator::new(RttConfig::default())
    }

    #[test]
    fn before_any_sample_the_rto_is_one_second() {
        let e = est();
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.srtt(), None);
        assert!(!e.has_sample());
    }

    #[test]
    fn first_sample_gives_three_times_rtt_from_100ms() {
        for rtt in [100, 250, 500, 2_000] {
            let mut e = est();
            e.on_sample(ms(rtt), SeqNum(0), SeqNum(100), &RttConfig::default());
            // srtt = R, mdev = 2R, rttvar = max(2R, 200 ms) = 2R for R >= 100 ms.
            assert_eq!(e.srtt(), Some(ms(rtt)));
            assert_eq!(e.rttvar(), us(rtt * 500), "tcpi_rttvar = mdev/4 = R/2");
            assert_eq!(e.rto(), ms(3 * rtt), "rtt {rtt} ms");
        }
    }

    #[test]
    fn small_rtts_hit_the_rto_min_floor() {
        let mut e = est();
        // 10 ms: mdev = 20 ms, rttvar = max(20, 200) = 200 ms; RTO = 10 + 200.
        e.on_sample(ms(10), SeqNum(0), SeqNum(100), &RttConfig::default());
        assert_eq!(e.rto(), ms(210));
        assert_eq!(e.variance_term(), ms(200));
        // 50 ms: RTO = 50 + 200 = 250 ms.
        let mut e = est();
        e.on_sample(ms(50), SeqNum(0), SeqNum(100), &RttConfig::default());
        assert_eq!(e.rto(), ms(250));
        // Many tiny samples: RTO converges to about srtt + 200 ms, never below.
        let mut e = est();
        for i in 0..200u32 {
            e.on_sample(
                us(100),
                SeqNum(i * 10),
                SeqNum(i * 10 + 10),
                &RttConfig::default(),
            );
            assert!(e.rto() >= ms(200));
        }
        assert_eq!(e.rto(), ms(201), "100 µs + 200 ms, rounded up");
    }

    #[test]
    fn scripted_sequence_matches_linux_arithmetic() {
        let mut e = est();
        // 1) 100 ms, una 1000, nxt 5000 (first sample):
        //    srtt8 = 800000, mdev = 200000, rttvar = mdev_max = 200000,
        //    rtt_seq = 5000. RTO = 100000 + 200000 us = 300 ms.
        e.on_sample(ms(100), SeqNum(1000), SeqNum(5000), &RttConfig::default());
        assert_eq!(e.rto(), ms(300));

        // 2) 200 ms, una 2000 (round not over), nxt 6000:
        //    err = 200000 - 100000 = 100000; srtt8 = 900000;
        //    e = 100000 - 200000/4 = 50000; mdev = 250000 > mdev_max
        //    -> mdev_max = rttvar = 250000. srtt = 112500 us.
        //    RTO = 112500 + 250000 = 362500 us -> rounded up to 363 ms.
        e.on_sample(ms(200), SeqNum(2000), SeqNum(6000), &RttConfig::default());
        assert_eq!(e.srtt(), Some(us(112_500)));
        assert_eq!(e.variance_term(), us(250_000));
        assert_eq!(e.rto(), ms(363));

        // 3) 50 ms, una 5001 (passes rtt_seq 5000: round ends), nxt 9000:
        //    err = 50000 - 112500 = -62500; srtt8 = 837500;
        //    e = 62500 - 250000/4 = 0 (not > 0, no shift); mdev = 250000,
        //    not above mdev_max. Round end: mdev_max (250000) is not below
        //    rttvar (250000): no decay; rtt_seq = 9000, mdev_max = 200000.
        //    srtt = 837500 >> 3 = 104687. RTO = 354687 us -> 355 ms.
        e.on_sample(ms(50), SeqNum(5001), SeqNum(9000), &RttConfig::default());
        assert_eq!(e.srtt(), Some(us(104_687)));
        assert_eq!(e.rto(), ms(355));

        // 4) 100 ms, una 6000 (round not over), nxt 9500:
        //    err = 100000 - 104687 = -4687; srtt8 = 832813;
        //    e = 4687 - 62500 = -57813 (negative: no shift);
        //    mdev = 192187, below mdev_max 200000. srtt = 104101.
        //    RTO = 104101 + 250000 = 354101 us -> 355 ms.
        e.on_sample(ms(100), SeqNum(6000), SeqNum(9500), &RttConfig::default());
        assert_eq!(e.srtt(), Some(us(104_101)));
        assert_eq!(e.rttvar(), us(192_187 / 4));
        assert_eq!(e.rto(), ms(355));

        // 5) 100 ms, una 9001 (passes 9000: round ends), nxt 12000:
        //    err = 100000 - 104101 = -4101; srtt8 = 828712;
        //    e = 4101 - 192187/4 (48046) = -43945; mdev = 148242.
        //    Round end: mdev_max 200000 < rttvar 250000 ->
        //    rttvar -= (250000 - 200000) / 4 = 12500 -> 237500.
        //    srtt = 103589. RTO = 103589 + 237500 = 341089 us -> 342 ms.
        //    tcpi_rttvar = 148242 / 4 = 37060.
        e.on_sample(ms(100), SeqNum(9001), SeqNum(12000), &RttConfig::default());
        assert_eq!(e.srtt(), Some(us(103_589)));
        assert_eq!(e.variance_term(), us(237_500));
        assert_eq!(e.rttvar(), us(37_060));
        assert_eq!(e.rto(), ms(342));
    }

    #[test]
    fn falling_rtt_moves_the_deviation_eight_times_slower() {
        let mut e = est();
        e.on_sample(ms(100), SeqNum(0), SeqNum(10), &RttConfig::default());
        // 30 ms: err = -70000; srtt8 = 730000; e = 70000 - 50000 = 20000 > 0
        // -> e >>= 3 = 2500; mdev = 202500 > mdev_max 200000 -> rttvar 202500.
        // srtt = 91250. RTO = 91250 + 202500 = 293750 us -> 294 ms.
        // (Without the slower gain, mdev would be 220000 and RTO 312 ms.)
        e.on_sample(ms(30), SeqNum(5), SeqNum(10), &RttConfig::default());
        assert_eq!(e.srtt(), Some(us(91_250)));
        assert_eq!(e.variance_term(), us(202_500));
        assert_eq!(e.rto(), ms(294));
    }

    #[test]
    fn rto_is_capped_at_rto_max() {
        let mut e = est();
        e.on_sample(
            Duration::from_secs(50),
            SeqNum(0),
            SeqNum(10),
            &RttConfig::default(),
        );
        assert_eq!(e.rto(), Duration::from_secs(120), "3 x 50 s capped");
        let mut e = est();
        e.on_sample(
            Duration::from_secs(100_000),
            SeqNum(0),
            SeqNum(10),
            &RttConfig::default(),
        );
        assert_eq!(
            e.rto(),
            Duration::from_secs(120),
            "absurd samples are clamped"
        );
    }

    #[test]
    fn samples_at_the_clamp_keep_the_32_bit_fields_exact() {
        // A run of the largest samples (and a larger one), then a tiny one:
        // SRTT x 8 and mdev stay below 2^32, nothing wraps or saturates.
        let big = Duration::from_micros(MAX_SAMPLE_US);
        let mut e = est();
        e.on_sample(
            Duration::from_secs(3_600),
            SeqNum(0),
            SeqNum(10),
            &RttConfig::default(),
        );
        assert_eq!(e.srtt(), Some(big), "clamped to 2^29 - 1 µs");
        assert_eq!(e.latest_rtt(), Some(big));
        for i in 1..40u32 {
            e.on_sample(
                big,
                SeqNum(i * 10),
                SeqNum(i * 10 + 10),
                &RttConfig::default(),
            );
        }
        assert_eq!(e.srtt(), Some(big));
        e.on_sample(us(1), SeqNum(500), SeqNum(510), &RttConfig::default());
        // srtt -= (big - 1 µs) / 8, in Linux's fixed point.
        let srtt8 = (MAX_SAMPLE_US << 3) - (MAX_SAMPLE_US - 1);
        assert_eq!(e.srtt(), Some(us(srtt8 >> 3)));
        assert_eq!(e.rto(), Duration::from_secs(120));
        assert!(core::mem::size_of::<RttEstimator>() <= 44, "32-bit fields");
    }

    #[test]
    fn backoff_doubles_and_saturates_at_rto_max() {
        let mut e = est();
        let expect = [1, 2, 4, 8, 16, 32, 64, 120, 120, 120];
        for &secs in &expect {
            assert_eq!(
                e.rto_with_backoff(&RttConfig::default()),
                Duration::from_secs(secs)
            );
            e.backoff();
        }
        for _ in 0..100 {
            e.backoff();
        }
        assert_eq!(
            e.rto_with_backoff(&RttConfig::default()),
            Duration::from_secs(120)
        );
        assert_eq!(e.backoffs(), 110);
        e.reset_backoff();
        assert_eq!(
            e.rto_with_backoff(&RttConfig::default()),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn a_valid_sample_resets_the_backoff() {
        let mut e = est();
        e.on_sample(ms(100), SeqNum(0), SeqNum(10), &RttConfig::default());
        e.backoff();
        e.backoff();
        assert_eq!(e.rto_with_backoff(&RttConfig::default()), ms(1200));
        e.on_sample(ms(100), SeqNum(10), SeqNum(20), &RttConfig::default());
        assert_eq!(e.backoffs(), 0);
        assert_eq!(e.rto_with_backoff(&RttConfig::default()), e.rto());
    }

    #[test]
    fn handshake_without_sample_falls_back_to_three_seconds() {
        let mut e = est();
        e.backoff();
        e.on_established_without_sample(&RttConfig::default());
        assert_eq!(e.rto(), Duration::from_secs(3));
        // The next sample is treated as the first one.
        e.on_sample(ms(100), SeqNum(0), SeqNum(10), &RttConfig::default());
        assert_eq!(e.rto(), ms(300));
        // Once there is a sample, the fallback does nothing.
        e.on_established_without_sample(&RttConfig::default());
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn rounds_end_only_when_snd_una_passes_the_recorded_snd_nxt() {
        // Same samples, but one run ends a round between them: the decay of
        // the variance term must show only in that run.
        let run = |una_second: u32| {
            let mut e = est();
            e.on_sample(ms(400), SeqNum(0), SeqNum(100), &RttConfig::default()); // rtt_seq = 100, rttvar 800 ms
            e.on_sample(
                ms(400),
                SeqNum(una_second),
                SeqNum(200),
                &RttConfig::default(),
            );
            e.variance_term()
        };
        // No round end: mdev 600000 < mdev_max 800000, rttvar stays 800 ms.
        assert_eq!(run(100), ms(800));
        // Round end: mdev_max 800000 is not below rttvar, so no decay yet, but
        // mdev_max resets to rto_min: the following round decays.
        assert_eq!(run(101), ms(800));
        let mut e = est();
        e.on_sample(ms(400), SeqNum(0), SeqNum(100), &RttConfig::default());
        e.on_sample(ms(400), SeqNum(101), SeqNum(200), &RttConfig::default()); // round 1 ends, mdev 600000
        e.on_sample(ms(400), SeqNum(201), SeqNum(300), &RttConfig::default()); // round 2 ends
        // mdev = 600000 - 150000 = 450000 > mdev_max 200000 -> mdev_max 450000;
        // decay: rttvar -= (800000 - 450000) / 4 = 87500 -> 712500.
        assert_eq!(e.variance_term(), us(712_500));
        assert_eq!(e.rto(), ms(400 + 713));
    }
}
