//! When to acknowledge: delayed ACKs, quick-ACK mode and ping-pong mode.
//!
//! Read first: RFC 9293 §3.8.6.3 and RFC 1122 §4.2.3.2 (delay an ACK at most
//! 500 ms, and ACK at least every second full-sized segment), RFC 5681 §4.2
//! (ACK out-of-order data and hole-filling data at once).
//!
//! Linux's refinements, which packetdrill scripts encode (net/ipv4/tcp_input.c
//! `tcp_event_data_recv`, `__tcp_ack_snd_check`, tcp_output.c
//! `tcp_send_delayed_ack`, tcp_timer.c `tcp_delack_timer_handler`):
//! - **quick-ACK mode**: the first data of a connection, and data after a
//!   silence longer than the RTO, earn up to 16 immediate ACKs (fewer when the
//!   window is small), so slow start is not slowed by delayed ACKs;
//! - **ping-pong mode**: in request/response traffic ACKs are delayed to ride
//!   on the reply; entered when the peer's FIN arrives in ESTABLISHED (or we
//!   reply within `ato` of receiving), left when a delayed ACK had to be sent
//!   alone;
//! - **ato**, the delayed-ACK timeout, starts at 40 ms (`tcp_delack_min`)
//!   and follows the data's inter-arrival time, bounded by the RTO, the SRTT
//!   and 200 ms (`tcp_delack_max`).

use crate::time::{Duration, Instant, Stamp};

/// Linux TCP_MAX_QUICKACKS.
const MAX_QUICKACKS: u32 = 16;

/// Upper bound of the delayed-ACK timeout outside ping-pong mode (Linux HZ/2).
const MAX_ATO: Duration = Duration::from_millis(500);

/// A delayed ACK due "now" goes at Linux's next timer tick (HZ=1000).
const NEXT_JIFFY: Duration = Duration::from_millis(1);

/// The delayed-ACK machinery of one connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AckState {
    /// An ACK is owed.
    pub scheduled: bool,
    /// ... and must go out now, not on the timer.
    pub now: bool,
    /// Immediate ACKs left in quick-ACK mode (Linux `icsk_ack.quick`), at
    /// most [`MAX_QUICKACKS`].
    pub quick: u8,
    /// Interactive traffic: hold ACKs for a reply to carry them.
    pub pingpong: bool,
    /// The delayed-ACK timeout (Linux `icsk_ack.ato`) in µs (at most the
    /// RTO, saturating at 71 minutes); zero before any data.
    ato_us: u32,
    /// Estimated size of the peer's full segments (Linux `icsk_ack.rcv_mss`).
    pub rcv_mss: u32,
    /// When data last arrived (Linux `icsk_ack.lrcvtime`).
    pub last_data: Stamp,
    /// `tcp_delack_min` in µs.
    delack_min_us: u32,
}

/// A duration in whole µs, saturating at `u32::MAX` (4 bytes, not 8).
fn us32(d: Duration) -> u32 {
    u32::try_from(d.total_micros()).unwrap_or(u32::MAX)
}

impl AckState {
    pub fn new(delack_min: Duration, rcv_mss: u32) -> Self {
        AckState {
            scheduled: false,
            now: false,
            quick: 0,
            pingpong: false,
            ato_us: 0,
            rcv_mss: rcv_mss.max(1),
            last_data: Stamp::NONE,
            delack_min_us: us32(delack_min),
        }
    }

    /// The delayed-ACK timeout; zero before any data.
    pub fn ato(&self) -> Duration {
        Duration::from_micros(u64::from(self.ato_us))
    }

    fn set_ato(&mut self, ato: Duration) {
        self.ato_us = us32(ato);
    }

    fn delack_min(&self) -> Duration {
        Duration::from_micros(u64::from(self.delack_min_us))
    }

    /// Whether each segment is acknowledged at once.
    pub fn in_quickack_mode(&self) -> bool {
        self.quick > 0 && !self.pingpong
    }

    /// Owe an ACK, possibly delayed.
    pub fn schedule(&mut self) {
        self.scheduled = true;
    }

    /// Owe an ACK now (out-of-order data, a duplicate, a hole filled, a FIN
    /// in FIN-WAIT-*, a window update).
    pub fn schedule_now(&mut self) {
        self.scheduled = true;
        self.now = true;
    }

    /// Forget owed ACKs (the connection closed).
    pub fn clear(&mut self) {
        self.scheduled = false;
        self.now = false;
    }

    /// Linux `tcp_incr_quickack`: at most half the window's worth of
    /// segments, at least 2, at most 16.
    fn add_quickacks(&mut self, rcv_wnd: u32) {
        let quick = (rcv_wnd / (2 * self.rcv_mss)).clamp(2, MAX_QUICKACKS);
        // Lossless: at most MAX_QUICKACKS.
        self.quick = self.quick.max(quick as u8);
    }

    /// Linux `tcp_enter_quickack_mode`: acknowledge the next segments at
    /// once (duplicates and data after a long silence).
    pub fn enter_quickack_mode(&mut self, rcv_wnd: u32) {
        self.add_quickacks(rcv_wnd);
        self.pingpong = false;
        self.set_ato(self.delack_min());
    }

    /// In-order or out-of-order data arrived in segments of `len` bytes:
    /// the payload's length, or a GRO super-packet's GSO size (Linux
    /// `tcp_event_data_recv` and `tcp_measure_rcv_mss`). `adv_mss` is the
    /// MSS we advertised; `rcv_wnd` the window we advertise.
    pub fn on_data(&mut self, now: Instant, len: u32, rcv_wnd: u32, rto: Duration, adv_mss: u32) {
        self.schedule();
        if len >= self.rcv_mss {
            self.rcv_mss = len.min(adv_mss).max(1);
        }
        match self.last_data.get() {
            _ if self.ato().is_zero() => {
                // The first data: start in quick-ACK mode.
                self.add_quickacks(rcv_wnd);
                self.set_ato(self.delack_min());
            }
            Some(last) => {
                let gap = now.saturating_duration_since(last);
                let half_min = Duration::from_micros(self.delack_min().total_micros() / 2);
                if gap <= half_min {
                    self.set_ato(Duration::from_micros(self.ato().total_micros() / 2) + half_min);
                } else if gap < self.ato() {
                    self.set_ato(
                        (Duration::from_micros(self.ato().total_micros() / 2) + gap).min(rto),
                    );
                } else if gap > rto {
                    // The sender went quiet for longer than an RTO.
                    self.add_quickacks(rcv_wnd);
                }
            }
            None => {}
        }
        self.last_data = Stamp::at(now);
    }

    /// RFC 1122 §4.2.3.2 / Linux `__tcp_ack_snd_check`: whether the owed ACK
    /// goes now. `unacked` is RCV.NXT minus Last.ACK.sent.
    pub fn should_send_now(&self, unacked: u32) -> bool {
        self.scheduled && (self.now || self.in_quickack_mode() || unacked > self.rcv_mss)
    }

    /// How long a delayed ACK waits (Linux `tcp_send_delayed_ack`).
    pub fn delay(&self, srtt: Option<Duration>, delack_max: Duration) -> Duration {
        if self.ato().is_zero() {
            // No data has arrived yet (a bare FIN in ESTABLISHED): Linux's
            // `ato` is still 0 and its timer fires at the next jiffy.
            return NEXT_JIFFY;
        }
        let mut ato = self.ato().max(self.delack_min());
        if ato > self.delack_min() {
            let mut max_ato = if self.pingpong { delack_max } else { MAX_ATO };
            if let Some(srtt) = srtt {
                max_ato = max_ato.min(srtt.max(self.delack_min()));
            }
            ato = ato.min(max_ato);
        }
        ato.min(delack_max)
    }

    /// The delayed-ACK timer fired with an ACK owed: the ACK was delayed for
    /// nothing (Linux `tcp_delack_timer_handler`).
    pub fn on_delack_timeout(&mut self, rto: Duration) {
        if self.pingpong {
            self.pingpong = false;
            self.set_ato(self.delack_min());
        } else {
            self.set_ato(self.ato().saturating_mul(2).min(rto));
        }
    }

    /// An ACK went out (alone or on data).
    pub fn on_ack_sent(&mut self) {
        if self.scheduled && self.quick > 0 {
            self.quick -= 1;
        }
        self.scheduled = false;
        self.now = false;
    }

    /// We sent data: a reply within `ato` of the last data received means
    /// request/response traffic (Linux `tcp_event_data_sent`).
    pub fn on_data_sent(&mut self, now: Instant) {
        if let Some(last) = self.last_data.get()
            && now.saturating_duration_since(last) < self.ato()
        {
            self.pingpong = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTO: Duration = Duration::from_millis(300);

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn state() -> AckState {
        AckState::new(Duration::from_millis(40), 536)
    }

    #[test]
    fn first_data_starts_quick_ack_mode_with_up_to_16_acks() {
        let mut a = state();
        a.on_data(t(0), 1448, 65_535, RTO, 1460);
        assert_eq!(a.rcv_mss, 1448);
        assert_eq!(a.quick, 16, "65535 / (2 * 1448) = 22, capped at 16");
        assert!(a.should_send_now(1448));
        for _ in 0..16 {
            a.on_ack_sent();
            a.schedule();
        }
        assert!(!a.in_quickack_mode());
        assert!(!a.should_send_now(1448), "one segment may wait");
        assert!(a.should_send_now(2 * 1448), "every second full segment");
    }

    #[test]
    fn a_small_window_earns_fewer_quick_acks() {
        let mut a = state();
        a.on_data(t(0), 1000, 4000, RTO, 1460);
        assert_eq!(a.quick, 2);
    }

    #[test]
    fn ato_follows_interarrival_times() {
        let mut a = state();
        a.on_data(t(0), 100, 65_535, RTO, 1460);
        assert_eq!(a.ato(), Duration::from_millis(40));
        a.on_data(t(10), 100, 65_535, RTO, 1460);
        assert_eq!(a.ato(), Duration::from_millis(40), "20 + 20");
        a.on_data(t(40), 100, 65_535, RTO, 1460);
        assert_eq!(a.ato(), Duration::from_millis(50), "a 30 ms gap: 40/2 + 30");
        a.quick = 0;
        a.on_data(t(400), 100, 65_535, RTO, 1460);
        assert_eq!(a.quick, 16, "a gap longer than the RTO: quick ACKs again");
    }

    #[test]
    fn before_any_data_a_delayed_ack_waits_one_tick() {
        // A FIN on a connection that never carried data: `ato` is 0.
        let mut a = state();
        a.schedule();
        a.pingpong = true;
        let max = Duration::from_millis(200);
        assert_eq!(a.delay(None, max), Duration::from_millis(1));
        a.on_data(t(0), 100, 65_535, RTO, 1460);
        assert_eq!(a.delay(None, max), Duration::from_millis(40));
    }

    #[test]
    fn delayed_ack_waits_ato_bounded_by_srtt_and_200ms() {
        let mut a = state();
        a.set_ato(Duration::from_millis(40));
        let max = Duration::from_millis(200);
        assert_eq!(a.delay(None, max), Duration::from_millis(40));
        a.set_ato(Duration::from_millis(400));
        assert_eq!(a.delay(None, max), max);
        assert_eq!(
            a.delay(Some(Duration::from_millis(60)), max),
            Duration::from_millis(60)
        );
    }

    #[test]
    fn pingpong_is_left_when_a_delayed_ack_goes_alone() {
        let mut a = state();
        a.on_data(t(0), 100, 65_535, RTO, 1460);
        a.on_data_sent(t(10));
        assert!(a.pingpong);
        assert!(!a.in_quickack_mode());
        a.on_delack_timeout(RTO);
        assert!(!a.pingpong);
        a.on_delack_timeout(RTO);
        assert_eq!(
            a.ato(),
            Duration::from_millis(80),
            "inflated when not pingpong"
        );
    }
}
