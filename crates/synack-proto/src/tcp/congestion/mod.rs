//! Congestion control: how much a connection may have in flight.
//!
//! Read first: RFC 5681 (slow start, congestion avoidance, fast
//! retransmit/recovery), RFC 3465 (appropriate byte counting), RFC 6928
//! (initial window of 10 segments), RFC 7661 (do not grow a window the
//! sender does not use), RFC 9438 (CUBIC), RFC 9406 (HyStart++).
//!
//! A controller implements [`CongestionControl`]: it owns `cwnd` and
//! `ssthresh` (in bytes at the trait) and reacts to ACKs, congestion events
//! and timeouts. Loss *detection* and what happens to the window *during*
//! fast recovery are not its business: [`crate::tcp::recovery`] decides when
//! there is a congestion event, calls
//! [`CongestionControl::on_congestion_event`] for the new `ssthresh`, governs
//! the window with PRR (RFC 6937) until recovery ends, then hands control
//! back with [`CongestionControl::on_recovery_end`]. (Linux splits the work
//! the same way: `tcp_congestion_ops` versus `tcp_fastretrans_alert` and PRR.)
//!
//! - [`Reno`]: NewReno's window (RFC 5681, RFC 3465 byte counting, RFC 6928);
//! - [`Cubic`]: RFC 9438 in Linux's fixed point, with HyStart++ (RFC 9406,
//!   [`hystart`]) ending the initial slow start.
//!
//! A spurious congestion event (detected by the recovery module's undo
//! logic) is reverted with [`Congestion::undo`] from a copy of the
//! controller taken before the reduction.
//!
//! Connections hold a [`Congestion`], an enum over the algorithms, so there is
//! no allocation or virtual call per connection; adding an algorithm is a new
//! file and a new variant.

pub mod cubic;
pub mod hystart;
pub mod reno;

pub use cubic::Cubic;
pub use hystart::HyStart;
pub use reno::Reno;

use self::hystart::Detect;
use crate::SeqNum;
use crate::config::CongestionAlgorithm;
use crate::time::{Duration, Instant};

/// What one ACK told the sender, for window growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSample {
    /// Bytes newly acknowledged cumulatively (SYN and FIN count one each).
    pub acked: u32,
    /// Segments newly delivered, cumulatively or by SACK (Linux's
    /// `acked_sacked`, what packet-counting algorithms such as CUBIC grow by).
    pub delivered_segments: u32,
    /// Bytes in flight before this ACK.
    pub in_flight: u32,
    /// An RTT sample taken from this ACK, if any.
    pub rtt: Option<Duration>,
    /// The smallest RTT seen on the connection.
    pub min_rtt: Option<Duration>,
    /// Whether the sender used its window recently (RFC 7661: a window the
    /// application does not fill must not grow).
    pub cwnd_limited: bool,
    /// SND.UNA after this ACK and SND.NXT: round boundaries (RFC 9406 §4.2).
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
}

impl AckSample {
    /// A sample for tests: `acked` bytes of `mss`-byte segments, cwnd-limited.
    pub fn bytes(acked: u32, mss: u32) -> AckSample {
        AckSample {
            acked,
            delivered_segments: acked.div_ceil(mss.max(1)),
            in_flight: 0,
            rtt: None,
            min_rtt: None,
            cwnd_limited: true,
            snd_una: SeqNum(0),
            snd_nxt: SeqNum(0),
        }
    }
}

/// A congestion control algorithm. Every hook takes `now`, so time-based
/// algorithms (CUBIC) fit the same shape. Windows are in bytes.
pub trait CongestionControl {
    /// The algorithm's name as Linux spells it (`"reno"`, `"cubic"`).
    fn name(&self) -> &'static str;

    /// The congestion window, `cwnd`.
    fn window(&self) -> u32;

    /// The slow start threshold, `ssthresh` (`u32::MAX` until the first
    /// congestion event: RFC 5681 §3.1 "arbitrarily high").
    fn ssthresh(&self) -> u32;

    /// Whether the window grows by slow start (RFC 5681 §3.1: cwnd < ssthresh).
    fn in_slow_start(&self) -> bool {
        self.window() < self.ssthresh()
    }

    /// New data was acknowledged outside a window reduction: grow the window.
    fn on_ack(&mut self, now: Instant, ack: &AckSample);

    /// Loss was detected (RFC 5681 §3.2 step 2, RFC 6675 §5): set
    /// `ssthresh`. The loss recovery module governs the window until the
    /// reduction ends ([`CongestionControl::on_recovery_end`]).
    fn on_congestion_event(&mut self, now: Instant, in_flight: u32);

    /// The peer echoed an ECN congestion mark (RFC 3168 §6.1.2: "the
    /// congestion window ... should be halved", as for a loss; RFC 9438
    /// counts an ECN-Echo as a congestion event like a loss): set
    /// `ssthresh`. Loss recovery raises it at most once per window (the
    /// CWR state) and governs the window with PRR until
    /// [`CongestionControl::on_recovery_end`], as for a loss; NewReno and
    /// CUBIC respond exactly as to a loss, so neither overrides it.
    fn on_ecn(&mut self, now: Instant, in_flight: u32) {
        self.on_congestion_event(now, in_flight);
    }

    /// The window reduction ended (fast recovery's RecoveryPoint was
    /// acknowledged): `cwnd = ssthresh` (RFC 6675 §5.1, RFC 6937 §3).
    fn on_recovery_end(&mut self, now: Instant);

    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4 and the loss
    /// window). `first` is false for further timeouts of the same episode,
    /// which keep `ssthresh` ("has already been retransmitted once").
    fn on_rto(&mut self, now: Instant, in_flight: u32, first: bool);

    /// Sending resumed after `idle` without data sent, longer than `rto`
    /// (RFC 5681 §4.1, as Linux's `tcp_cwnd_restart`: ssthresh keeps 3/4 of
    /// the window, the window halves per RTO idle, down to the initial window
    /// of `init_cwnd` segments). `init_cwnd` is the stack's `tcp_init_cwnd`,
    /// passed in rather than copied into every connection.
    fn on_idle_restart(&mut self, now: Instant, idle: Duration, rto: Duration, init_cwnd: u32);

    /// New data goes out with nothing in flight, `idle` after the last data
    /// (Linux `CA_EVENT_TX_START`): time-based algorithms skip the pause.
    fn on_send_after_idle(&mut self, now: Instant, idle: Duration) {
        let _ = (now, idle);
    }

    /// The sender's MSS changed (e.g. once options are negotiated).
    fn set_mss(&mut self, mss: u32);
}

/// RFC 5681 §4.1 as Linux's `tcp_cwnd_restart` does it, in segments: the
/// new `(cwnd, ssthresh)` after `idle`.
pub(crate) fn idle_restart(
    cwnd: u32,
    ssthresh: u32,
    init_cwnd: u32,
    idle: Duration,
    rto: Duration,
) -> (u32, u32) {
    // Linux `tcp_current_ssthresh`: keep at least 3/4 of the window.
    let ssthresh = ssthresh.max((cwnd >> 1) + (cwnd >> 2));
    let restart = init_cwnd.max(1).min(cwnd);
    let mut cwnd = cwnd;
    let rto = rto.total_micros().max(1);
    let mut left = idle.total_micros();
    while left > rto && cwnd > restart {
        left -= rto;
        cwnd >>= 1;
    }
    (cwnd.max(restart).max(1), ssthresh)
}

/// The algorithm of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Congestion {
    Reno(Reno),
    Cubic(Cubic),
}

impl Congestion {
    /// A controller for `algorithm` with an initial window of `init_cwnd`
    /// segments of `mss` bytes.
    pub fn new(algorithm: CongestionAlgorithm, mss: u32, init_cwnd: u32) -> Self {
        match algorithm {
            CongestionAlgorithm::Reno => Congestion::Reno(Reno::new(mss, init_cwnd)),
            CongestionAlgorithm::Cubic => Congestion::Cubic(Cubic::new(mss, init_cwnd)),
        }
    }

    /// Switches to `algorithm` (`TCP_CONGESTION`), keeping the window and
    /// threshold as they are (Linux `tcp_reinit_congestion_control`).
    pub fn switch_to(&mut self, algorithm: CongestionAlgorithm, mss: u32, init_cwnd: u32) {
        if algorithm == self.algorithm() {
            return;
        }
        let (cwnd, ssthresh) = (self.window(), self.ssthresh());
        let mut next = Congestion::new(algorithm, mss, init_cwnd);
        match &mut next {
            Congestion::Reno(r) => r.set_window(cwnd, ssthresh),
            Congestion::Cubic(c) => c.set_window(cwnd, ssthresh),
        }
        *self = next;
    }

    /// The algorithm.
    pub fn algorithm(&self) -> CongestionAlgorithm {
        match self {
            Congestion::Reno(_) => CongestionAlgorithm::Reno,
            Congestion::Cubic(_) => CongestionAlgorithm::Cubic,
        }
    }

    /// Spurious congestion event (RFC 9438 §4.9, Linux `tcp_undo_cwnd_reduction`):
    /// back to the state saved in `prior` before the reduction, keeping the
    /// larger window and threshold. Another algorithm's `prior` (the option
    /// changed in between) keeps only the window and threshold.
    pub fn undo(&mut self, now: Instant, prior: &Congestion) {
        let _ = now;
        match (self, prior) {
            (Congestion::Reno(r), Congestion::Reno(p)) => r.undo(p),
            (Congestion::Cubic(c), Congestion::Cubic(p)) => c.undo(p),
            (me, other) => {
                let (cwnd, ssthresh) = (other.window(), other.ssthresh());
                me.restore_window(cwnd, ssthresh);
            }
        }
    }

    /// Caps the window at `limit` bytes, keeping `ssthresh`: below it the
    /// window climbs back by slow start, ACK-clocked, instead of leaving as
    /// one burst (RFC 6582 §3.2 step 3's concern).
    pub fn moderate(&mut self, limit: u32) {
        match self {
            Congestion::Reno(r) => r.moderate(limit),
            Congestion::Cubic(c) => c.moderate(limit),
        }
    }

    fn restore_window(&mut self, cwnd: u32, ssthresh: u32) {
        match self {
            Congestion::Reno(r) => r.restore_window(cwnd, ssthresh),
            Congestion::Cubic(c) => c.restore_window(cwnd, ssthresh),
        }
    }

    /// The slow-start exit signals HyStart watches (Linux cubic's
    /// `hystart_detect`); before the first ACK.
    pub fn set_hystart_detect(&mut self, detect: hystart::Detect) {
        match self {
            Congestion::Reno(r) => r.set_hystart_detect(detect),
            Congestion::Cubic(c) => c.set_hystart_detect(detect),
        }
    }

    /// An ACK delivered data (cumulatively or by SACK) and carried an RTT
    /// sample (Linux `pkts_acked`): called before any window growth, and
    /// also for ACKs that may not grow it (SACK-only ACKs below the
    /// reordering threshold, an application-limited sender). HyStart's ACK
    /// train watches these; it may end slow start (ssthresh = cwnd).
    /// `delivered_end` is one past the highest byte delivered so far
    /// (SND.UNA or the highest SACKed byte), `min_rtt` the connection's.
    /// Inlined: a dispatch in front of the controller's own hook.
    #[inline]
    pub fn on_delivery(
        &mut self,
        now: Instant,
        min_rtt: Option<Duration>,
        delivered_end: SeqNum,
        snd_nxt: SeqNum,
    ) {
        match self {
            Congestion::Reno(r) => r.on_delivery(now, min_rtt, delivered_end, snd_nxt),
            Congestion::Cubic(c) => c.on_delivery(now, min_rtt, delivered_end, snd_nxt),
        }
    }

    /// [`CongestionControl::on_ack`] for an ACK while the application, not
    /// the window, limits the sender (its sample's `cwnd_limited` false):
    /// RFC 9438 §5.8 and RFC 7661 leave the window alone then ("no growth
    /// while application-limited"), so NewReno does nothing and CUBIC only
    /// notes the RTT sample for its delay minimum. The same state as
    /// `on_ack` with that sample (a test compares them), without building
    /// the sample: every ACK of a request or a response is one.
    #[inline]
    pub fn on_app_limited_ack(&mut self, now: Instant, rtt: Option<Duration>) {
        if let (Congestion::Cubic(c), Some(rtt)) = (self, rtt) {
            c.on_rtt_at(now, rtt);
        }
    }

    /// The HyStart box and its pending detection bits, whichever the
    /// controller.
    fn hystart_slots(&mut self) -> (&mut Option<Box<HyStart>>, &mut Detect) {
        match self {
            Congestion::Reno(r) => r.hystart_slots(),
            Congestion::Cubic(c) => c.hystart_slots(),
        }
    }

    /// Runs `f` (an ACK's processing) with `spare`, a HyStart box an ended
    /// connection left, parked in the controller: if HyStart has not
    /// started yet, the call that starts it takes the parked box instead
    /// of allocating one (the value is the same); if it does not start,
    /// the box goes back to `spare`. Outside the call nothing can tell.
    #[inline]
    pub fn with_hystart_spare<R>(
        &mut self,
        spare: &mut Option<Box<HyStart>>,
        f: impl FnOnce(&mut Congestion) -> R,
    ) -> R {
        if spare.is_none() {
            return f(self);
        }
        let (boxed, pending) = self.hystart_slots();
        if boxed.is_some() || pending.is_empty() {
            return f(self);
        }
        *boxed = spare.take();
        let out = f(self);
        let (boxed, pending) = self.hystart_slots();
        if !pending.is_empty() {
            *spare = boxed.take();
        }
        out
    }

    /// The HyStart box of a connection the stack removes (for
    /// [`Congestion::with_hystart_spare`] on a later one).
    pub fn take_hystart_box(&mut self) -> Option<Box<HyStart>> {
        self.hystart_slots().0.take()
    }

    /// Slow starts HyStart++ ended early (RFC 9406), for the counters.
    pub fn hystart_exits(&self) -> u64 {
        match self {
            Congestion::Reno(r) => r.hystart_exits(),
            Congestion::Cubic(c) => c.hystart_exits(),
        }
    }
}

/// Calls one hook on the connection's algorithm: a `match` over the
/// variants, so each arm is a direct call the compiler may inline. (A
/// `&dyn` over the one variant left small hooks such as `window` as tail
/// calls through it: about 16 instructions a read, some 7 reads and 250
/// instructions a handshake.)
macro_rules! dispatch {
    ($self:expr, $c:ident => $call:expr) => {
        match $self {
            Congestion::Reno($c) => $call,
            Congestion::Cubic($c) => $call,
        }
    };
}

impl CongestionControl for Congestion {
    fn name(&self) -> &'static str {
        dispatch!(self, c => c.name())
    }
    #[inline]
    fn window(&self) -> u32 {
        dispatch!(self, c => c.window())
    }
    #[inline]
    fn ssthresh(&self) -> u32 {
        dispatch!(self, c => c.ssthresh())
    }
    #[inline]
    fn in_slow_start(&self) -> bool {
        dispatch!(self, c => c.in_slow_start())
    }
    fn on_ack(&mut self, now: Instant, ack: &AckSample) {
        dispatch!(self, c => c.on_ack(now, ack))
    }
    fn on_congestion_event(&mut self, now: Instant, in_flight: u32) {
        dispatch!(self, c => c.on_congestion_event(now, in_flight))
    }
    fn on_ecn(&mut self, now: Instant, in_flight: u32) {
        dispatch!(self, c => c.on_ecn(now, in_flight))
    }
    fn on_recovery_end(&mut self, now: Instant) {
        dispatch!(self, c => c.on_recovery_end(now))
    }
    fn on_rto(&mut self, now: Instant, in_flight: u32, first: bool) {
        dispatch!(self, c => c.on_rto(now, in_flight, first))
    }
    fn on_idle_restart(&mut self, now: Instant, idle: Duration, rto: Duration, init_cwnd: u32) {
        dispatch!(self, c => c.on_idle_restart(now, idle, rto, init_cwnd))
    }
    fn on_send_after_idle(&mut self, now: Instant, idle: Duration) {
        dispatch!(self, c => c.on_send_after_idle(now, idle))
    }
    fn set_mss(&mut self, mss: u32) {
        dispatch!(self, c => c.set_mss(mss))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_hystart_box_changes_nothing_and_is_taken_by_the_start() {
        // Two controllers fed the same ACKs, one with a spare HyStart box
        // (holding another state: a disabled HyStart) parked around each
        // call: after every call both are the same value; the spare comes
        // back while HyStart has not started and is gone once it has.
        use super::hystart::{Detect, HyStart};
        let ms = Duration::from_millis;
        for algorithm in [CongestionAlgorithm::Reno, CongestionAlgorithm::Cubic] {
            let mut plain = Congestion::new(algorithm, 1000, 10);
            let mut spared = plain.clone();
            let mut spare = Some(Box::new(HyStart::with_detect(Detect::NONE)));
            let mut used_at = None;
            for step in 0..60u32 {
                let now = Instant::from_millis(u64::from(step) * 10);
                let una = SeqNum(1 + step * 2000);
                let sample = AckSample {
                    acked: 2000,
                    delivered_segments: 2,
                    in_flight: 10_000,
                    // RTT rising from step 20: the delay signal ends slow start.
                    rtt: Some(ms(40 + u64::from(step.saturating_sub(20)) * 4)),
                    min_rtt: Some(ms(40)),
                    // Application-limited at first: no growth, no HyStart.
                    cwnd_limited: step >= 3,
                    snd_una: una,
                    snd_nxt: una + 10_000u32,
                };
                let deliver = step >= 5;
                let run = |cc: &mut Congestion| {
                    if deliver {
                        cc.on_delivery(now, sample.min_rtt, una, una + 10_000u32);
                    }
                    cc.on_ack(now, &sample);
                };
                run(&mut plain);
                spared.with_hystart_spare(&mut spare, run);
                assert_eq!(
                    format!("{plain:?}"),
                    format!("{spared:?}"),
                    "{algorithm:?} {step}"
                );
                if spare.is_none() {
                    used_at.get_or_insert(step);
                }
            }
            // Not taken while application-limited (steps 0-2), taken by
            // the first ACK that started HyStart.
            assert_eq!(used_at, Some(3), "{algorithm:?}");
            assert_eq!(plain.hystart_exits(), spared.hystart_exits());
            // A later spare finds HyStart started or over: never taken.
            let mut later = Some(Box::new(HyStart::new()));
            spared.with_hystart_spare(&mut later, |cc| {
                cc.on_ack(Instant::from_secs(9), &AckSample::bytes(1000, 1000))
            });
            assert!(later.is_some(), "{algorithm:?}");
            // A removed connection's box, for the stack's spares.
            let mut fresh = Congestion::new(algorithm, 1000, 10);
            assert!(fresh.take_hystart_box().is_none());
        }
    }

    #[test]
    fn each_algorithm_is_selected_by_name() {
        for (algorithm, name) in [
            (CongestionAlgorithm::Cubic, "cubic"),
            (CongestionAlgorithm::Reno, "reno"),
        ] {
            let c = Congestion::new(algorithm, 1000, 10);
            assert_eq!(c.name(), name);
            assert_eq!(c.algorithm(), algorithm);
            assert_eq!(c.window(), 10_000, "RFC 6928: 10 segments");
            assert!(c.in_slow_start());
        }
    }

    #[test]
    fn idle_restart_halves_per_rto_down_to_the_initial_window() {
        let rto = Duration::from_millis(200);
        // 100 segments, idle 3.5 RTOs: 50, 25, 12 (3 halvings); ssthresh
        // keeps 3/4 of 100.
        assert_eq!(
            idle_restart(100, u32::MAX, 10, Duration::from_millis(700), rto),
            (12, u32::MAX)
        );
        assert_eq!(
            idle_restart(100, 40, 10, Duration::from_millis(700), rto),
            (12, 75)
        );
        // A long idle ends at the initial window; a small window stays.
        assert_eq!(
            idle_restart(100, 40, 10, Duration::from_secs(60), rto).0,
            10
        );
        assert_eq!(idle_restart(4, 40, 10, Duration::from_secs(60), rto).0, 4);
    }

    #[test]
    fn switching_algorithms_keeps_the_window_and_threshold() {
        let mut c = Congestion::new(CongestionAlgorithm::Cubic, 1000, 10);
        c.on_congestion_event(Instant::ZERO, 20_000);
        c.on_recovery_end(Instant::ZERO);
        assert_eq!((c.window(), c.ssthresh()), (7_000, 7_000));
        c.switch_to(CongestionAlgorithm::Reno, 1000, 10);
        assert_eq!(c.name(), "reno");
        assert_eq!((c.window(), c.ssthresh()), (7_000, 7_000));
    }

    #[test]
    fn moderating_caps_the_window_and_keeps_ssthresh_for_slow_start() {
        for algorithm in [CongestionAlgorithm::Cubic, CongestionAlgorithm::Reno] {
            let mut c = Congestion::new(algorithm, 1000, 10);
            c.on_congestion_event(Instant::ZERO, 40_000);
            c.on_recovery_end(Instant::ZERO);
            let ssthresh = c.ssthresh();
            c.moderate(25_000);
            assert_eq!(c.window(), ssthresh.min(25_000), "{algorithm:?}");
            c.moderate(5_000);
            assert_eq!(c.window(), 5_000, "{algorithm:?}");
            assert_eq!(c.ssthresh(), ssthresh, "{algorithm:?}");
            assert!(c.in_slow_start(), "{algorithm:?}");
            c.moderate(0);
            assert_eq!(c.window(), 1_000, "at least one segment");
        }
    }

    #[test]
    fn undo_across_algorithms_keeps_the_larger_window() {
        let mut c = Congestion::new(CongestionAlgorithm::Cubic, 1000, 10);
        let prior = Congestion::new(CongestionAlgorithm::Reno, 1000, 20);
        c.on_rto(Instant::ZERO, 10_000, true);
        c.undo(Instant::ZERO, &prior);
        assert_eq!(c.window(), 20_000);
    }

    #[test]
    fn an_app_limited_ack_leaves_what_on_ack_leaves() {
        // Both controllers through a seeded random run (xorshift, fixed
        // seed): deliveries, window-limited ACKs that grow the window,
        // congestion events, RTOs and application-limited ACKs with and
        // without RTT samples (rising and falling, some within CUBIC's
        // quiet period after an epoch start). At each application-limited
        // ACK one copy takes `on_ack` with the full sample, the other
        // `on_app_limited_ack`: the two must be the same value (a dropped
        // RTT sample shows in CUBIC's delay minimum, a growth in the window).
        let mut x: u64 = 0x5EED_1234_ABCD_0001;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for algorithm in [CongestionAlgorithm::Reno, CongestionAlgorithm::Cubic] {
            let mut cc = Congestion::new(algorithm, 1000, 10);
            let mut now_ms = 0u64;
            let mut una = SeqNum(1);
            let mut app_limited_with_rtt = 0;
            for _ in 0..5_000 {
                now_ms += next(30);
                let now = Instant::from_millis(now_ms);
                let segs = 1 + next(4) as u32;
                let nxt = una + (segs + next(20) as u32) * 1000;
                let sample = AckSample {
                    acked: segs * 1000,
                    delivered_segments: segs,
                    in_flight: nxt.since(una),
                    rtt: (next(4) != 0).then(|| Duration::from_micros(1_000 + next(80_000))),
                    min_rtt: Some(Duration::from_millis(1)),
                    cwnd_limited: next(2) == 0,
                    snd_una: una + segs * 1000,
                    snd_nxt: nxt,
                };
                match next(40) {
                    0 => cc.on_congestion_event(now, sample.in_flight),
                    1 => cc.on_rto(now, sample.in_flight, next(2) == 0),
                    2 => cc.on_recovery_end(now),
                    _ => {}
                }
                if next(2) == 0 {
                    cc.on_delivery(now, sample.min_rtt, sample.snd_una, nxt);
                }
                if sample.cwnd_limited {
                    cc.on_ack(now, &sample);
                } else {
                    let mut full = cc.clone();
                    full.on_ack(now, &sample);
                    cc.on_app_limited_ack(now, sample.rtt);
                    assert_eq!(format!("{full:?}"), format!("{cc:?}"), "{algorithm:?}");
                    assert_eq!(full, cc);
                    app_limited_with_rtt += usize::from(sample.rtt.is_some());
                }
                una = sample.snd_una;
            }
            assert!(
                app_limited_with_rtt > 1_000,
                "{algorithm:?}: the case is exercised"
            );
        }
    }
}
