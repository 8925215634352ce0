//! Congestion control: how much a connection may have in flight.
//!
//! Read first: RFC 5681 (slow start, congestion avoidance, fast
//! retransmit/recovery), RFC 3465 (appropriate byte counting), RFC 6928
//! (initial window of 10 segments), RFC 7661 (do not grow a window the
//! sender does not use).
//!
//! A controller implements [`CongestionControl`]: it owns `cwnd` and
//! `ssthresh` (in bytes) and reacts to ACKs, congestion events and timeouts.
//! Loss *detection* and what happens to the window *during* fast recovery are
//! not its business: [`crate::tcp::recovery`] decides when there is a
//! congestion event, calls [`CongestionControl::on_congestion_event`] for the
//! new `ssthresh`, governs the window until recovery ends, then hands control
//! back with [`CongestionControl::on_recovery_end`]. (Linux splits the work
//! the same way: `tcp_congestion_ops` versus `tcp_fastretrans_alert` and PRR.)
//!
//! Connections hold a [`Congestion`], an enum over the algorithms, so there is
//! no allocation or virtual call per connection; adding an algorithm is a new
//! file and a new variant.

pub mod reno;

pub use reno::Reno;

use crate::config::CongestionAlgorithm;
use crate::time::{Duration, Instant};

/// What one ACK told the sender, for window growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSample {
    /// Bytes newly acknowledged (SYN and FIN count one each).
    pub acked: u32,
    /// Bytes in flight before this ACK.
    pub in_flight: u32,
    /// An RTT sample taken from this ACK, if any.
    pub rtt: Option<Duration>,
    /// Whether the sender used its window recently (RFC 7661: a window the
    /// application does not fill must not grow).
    pub cwnd_limited: bool,
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

    /// New data was acknowledged outside fast recovery: grow the window.
    fn on_ack(&mut self, now: Instant, ack: &AckSample);

    /// Loss detected by duplicate ACKs (RFC 5681 §3.2 step 2): set
    /// `ssthresh`, and `cwnd` to what it will be once recovery ends.
    fn on_congestion_event(&mut self, now: Instant, in_flight: u32);

    /// Fast recovery ended (the ACK covered `recover`): RFC 6582 §3.2 step 3,
    /// the window deflates to `ssthresh`.
    fn on_recovery_end(&mut self, now: Instant);

    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4 and the loss
    /// window). `first` is false for further timeouts of the same episode,
    /// which keep `ssthresh` ("has already been retransmitted once").
    fn on_rto(&mut self, now: Instant, in_flight: u32, first: bool);

    /// Sending resumed after an idle period longer than the RTO (RFC 5681 §4.1).
    fn on_idle_restart(&mut self, now: Instant);

    /// The sender's MSS changed (e.g. once options are negotiated).
    fn set_mss(&mut self, mss: u32);
}

/// The algorithm of one connection.
#[derive(Clone, Debug)]
pub enum Congestion {
    Reno(Reno),
}

impl Congestion {
    /// A controller for `algorithm` with an initial window of `init_cwnd`
    /// segments of `mss` bytes.
    ///
    /// CUBIC is not implemented yet (it is the next congestion issue's): it
    /// falls back to NewReno, and [`CongestionControl::name`] says `"reno"`.
    pub fn new(algorithm: CongestionAlgorithm, mss: u32, init_cwnd: u32) -> Self {
        match algorithm {
            CongestionAlgorithm::Reno | CongestionAlgorithm::Cubic => {
                Congestion::Reno(Reno::new(mss, init_cwnd))
            }
        }
    }

    fn inner(&self) -> &dyn CongestionControl {
        match self {
            Congestion::Reno(r) => r,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Congestion::Reno(r) => r,
        }
    }
}

// Enum dispatch: one match per hook (`inner` is a thin `&dyn` over the one
// variant, which the compiler devirtualises).
impl CongestionControl for Congestion {
    fn name(&self) -> &'static str {
        self.inner().name()
    }
    fn window(&self) -> u32 {
        self.inner().window()
    }
    fn ssthresh(&self) -> u32 {
        self.inner().ssthresh()
    }
    fn on_ack(&mut self, now: Instant, ack: &AckSample) {
        self.inner_mut().on_ack(now, ack)
    }
    fn on_congestion_event(&mut self, now: Instant, in_flight: u32) {
        self.inner_mut().on_congestion_event(now, in_flight)
    }
    fn on_recovery_end(&mut self, now: Instant) {
        self.inner_mut().on_recovery_end(now)
    }
    fn on_rto(&mut self, now: Instant, in_flight: u32, first: bool) {
        self.inner_mut().on_rto(now, in_flight, first)
    }
    fn on_idle_restart(&mut self, now: Instant) {
        self.inner_mut().on_idle_restart(now)
    }
    fn set_mss(&mut self, mss: u32) {
        self.inner_mut().set_mss(mss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_falls_back_to_reno_until_it_lands() {
        let c = Congestion::new(CongestionAlgorithm::Cubic, 1000, 10);
        assert_eq!(c.name(), "reno");
        assert_eq!(c.window(), 10_000);
        assert!(c.in_slow_start());
    }
}
