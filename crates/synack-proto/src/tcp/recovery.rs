//! Loss recovery without SACK: duplicate ACKs, fast retransmit, NewReno fast
//! recovery, limited transmit, and the state after a retransmission timeout.
//!
//! Read first: RFC 5681 §2 (what a duplicate ACK is) and §3.2 (fast
//! retransmit and fast recovery), RFC 6582 (NewReno: partial ACKs and the
//! `recover` point), RFC 3042 (limited transmit), RFC 6298 §5 (timeouts).
//!
//! The seams, for SACK, PRR and RACK-TLP to come:
//! - **where duplicate ACKs are counted**: [`LossRecovery::on_dupack`]; the
//!   connection decides what a duplicate ACK is (RFC 5681 §2) and calls it.
//! - **where a retransmission is chosen**: the [`RecoveryAction`] returned
//!   by the hooks; the connection's send half retransmits the segment at
//!   SND.UNA (after a timeout, everything from SND.UNA, go-back-N).
//! - **where cwnd is consulted**: [`LossRecovery::send_window`], the window
//!   the sender may fill. During fast recovery it is NewReno's inflated
//!   window (RFC 6582 / RFC 5681 §3.2 steps 3-4), which PRR will replace;
//!   otherwise the congestion controller's `cwnd` plus limited transmit.
//!
//! The state names follow Linux's `tcpi_ca_state` (Open, Disorder, CWR,
//! Recovery, Loss), so `TcpInfo` reads like Linux's.

use crate::SeqNum;
use crate::tcp::congestion::{AckSample, Congestion, CongestionControl};
use crate::time::Instant;

/// Linux's congestion-avoidance state (`tcpi_ca_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaState {
    /// Nothing unusual.
    Open,
    /// Duplicate ACKs seen, fewer than the threshold.
    Disorder,
    /// Window reduced without loss (ECN); unused until ECN lands.
    Cwr,
    /// Fast recovery (RFC 5681 §3.2, RFC 6582).
    Recovery,
    /// After a retransmission timeout, until everything sent before it is acked.
    Loss,
}

impl CaState {
    /// Linux's number for `tcpi_ca_state`.
    pub const fn linux_number(self) -> u8 {
        match self {
            CaState::Open => 0,
            CaState::Disorder => 1,
            CaState::Cwr => 2,
            CaState::Recovery => 3,
            CaState::Loss => 4,
        }
    }
}

/// What the sender must do after an ACK or a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryAction {
    /// Nothing beyond sending what the window allows.
    None,
    /// RFC 5681 §3.2 step 2: the third duplicate ACK; retransmit the
    /// segment at SND.UNA now, whatever the window says.
    FastRetransmit,
    /// RFC 6582 §3.2 step 5: a partial ACK in fast recovery; retransmit the
    /// first unacknowledged segment.
    RetransmitFirstUnacked,
}

/// The loss-recovery state of one connection.
#[derive(Clone, Debug)]
pub struct LossRecovery {
    state: CaState,
    /// Duplicate ACKs since the last ACK that advanced SND.UNA.
    dupacks: u32,
    /// RFC 6582 `recover`: SND.NXT when recovery (or the timeout) began.
    recover: SeqNum,
    /// The inflated window during fast recovery (RFC 6582 §3.2 steps 3-5).
    recovery_window: u32,
    /// Duplicate ACKs that mean loss (`tcp_reordering`, 3).
    dupthresh: u32,
    /// Fast recoveries entered, for counters.
    recoveries: u64,
    /// Bytes in flight at the first duplicate ACK: FlightSize for ssthresh,
    /// without what limited transmit sent since (RFC 5681 §3.2 step 2).
    flight_at_first_dupack: u32,
}

impl LossRecovery {
    /// `iss` starts `recover` (RFC 6582 §3.2: "initialized to the initial
    /// send sequence number").
    pub fn new(iss: SeqNum, dupthresh: u32) -> Self {
        LossRecovery {
            state: CaState::Open,
            dupacks: 0,
            recover: iss,
            recovery_window: 0,
            dupthresh: dupthresh.max(1),
            recoveries: 0,
            flight_at_first_dupack: 0,
        }
    }

    pub fn ca_state(&self) -> CaState {
        self.state
    }

    pub fn dupacks(&self) -> u32 {
        self.dupacks
    }

    /// The duplicate-ACK threshold (`tcp_reordering`).
    pub fn dupthresh(&self) -> u32 {
        self.dupthresh
    }

    /// Fast recoveries entered so far.
    pub fn recoveries(&self) -> u64 {
        self.recoveries
    }

    /// Whether fast recovery is under way.
    pub fn in_fast_recovery(&self) -> bool {
        self.state == CaState::Recovery
    }

    /// The window the sender may fill (bytes in flight up to it). RFC 3042:
    /// the first two duplicate ACKs each allow one new segment beyond `cwnd`.
    pub fn send_window(&self, cc: &Congestion, mss: u32) -> u32 {
        match self.state {
            CaState::Recovery => self.recovery_window,
            CaState::Disorder => {
                let limited = self.dupacks.min(2).saturating_mul(mss);
                cc.window().saturating_add(limited)
            }
            CaState::Open | CaState::Cwr | CaState::Loss => cc.window(),
        }
    }

    /// A duplicate ACK (RFC 5681 §2) arrived while `snd_nxt` bytes were sent
    /// and `in_flight` were outstanding.
    pub fn on_dupack(
        &mut self,
        now: Instant,
        cc: &mut Congestion,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        in_flight: u32,
        mss: u32,
    ) -> RecoveryAction {
        match self.state {
            // RFC 6582 §4: after a timeout, duplicate ACKs for data sent
            // before it must not start another recovery.
            CaState::Loss => RecoveryAction::None,
            // RFC 5681 §3.2 step 4: each further duplicate ACK means a
            // segment left the network; inflate by one segment.
            CaState::Recovery => {
                self.dupacks += 1;
                self.recovery_window = self.recovery_window.saturating_add(mss);
                RecoveryAction::None
            }
            CaState::Open | CaState::Disorder | CaState::Cwr => {
                self.dupacks += 1;
                if self.dupacks == 1 {
                    self.flight_at_first_dupack = in_flight;
                }
                if self.dupacks < self.dupthresh {
                    self.state = CaState::Disorder;
                    return RecoveryAction::None;
                }
                // RFC 6582 §3.2 step 2: only if the ACK covers more than
                // `recover`, else these duplicates belong to a recovery
                // already handled.
                if !snd_una.after(self.recover) {
                    self.state = CaState::Disorder;
                    return RecoveryAction::None;
                }
                self.recover = snd_nxt;
                // "When [RFC 3042] is in use, additional data sent in limited
                // transmit MUST NOT be included in this calculation."
                cc.on_congestion_event(now, self.flight_at_first_dupack.min(in_flight));
                // RFC 5681 §3.2 step 3: cwnd = ssthresh + 3 * SMSS.
                self.recovery_window = cc
                    .ssthresh()
                    .saturating_add(self.dupthresh.saturating_mul(mss));
                self.state = CaState::Recovery;
                self.recoveries += 1;
                RecoveryAction::FastRetransmit
            }
        }
    }

    /// An ACK advanced SND.UNA to `ack`, acknowledging `sample.acked` bytes.
    /// Grows the congestion window where the state allows.
    pub fn on_ack(
        &mut self,
        now: Instant,
        cc: &mut Congestion,
        ack: SeqNum,
        sample: &AckSample,
        mss: u32,
    ) -> RecoveryAction {
        self.dupacks = 0;
        match self.state {
            CaState::Recovery => {
                if ack.after_eq(self.recover) {
                    // RFC 6582 §3.2 step 3 (full acknowledgment): deflate
                    // to ssthresh and leave fast recovery.
                    self.state = CaState::Open;
                    cc.on_recovery_end(now);
                    RecoveryAction::None
                } else {
                    // RFC 6582 §3.2 step 5 (partial acknowledgment):
                    // retransmit the next hole; deflate by the amount acked,
                    // adding back one segment if at least one was acked.
                    self.recovery_window = self.recovery_window.saturating_sub(sample.acked);
                    if sample.acked >= mss {
                        self.recovery_window = self.recovery_window.saturating_add(mss);
                    }
                    RecoveryAction::RetransmitFirstUnacked
                }
            }
            CaState::Loss => {
                if ack.after_eq(self.recover) {
                    self.state = CaState::Open;
                }
                cc.on_ack(now, sample);
                RecoveryAction::None
            }
            CaState::Open | CaState::Disorder | CaState::Cwr => {
                self.state = CaState::Open;
                cc.on_ack(now, sample);
                RecoveryAction::None
            }
        }
    }

    /// The retransmission timer expired with `in_flight` bytes outstanding
    /// and `snd_nxt` the highest sequence sent.
    pub fn on_rto(&mut self, now: Instant, cc: &mut Congestion, snd_nxt: SeqNum, in_flight: u32) {
        // Only the first timeout of an episode lowers ssthresh (RFC 5681
        // §3.1 after eq. 4); a fast recovery already lowered it.
        let first = matches!(self.state, CaState::Open | CaState::Disorder);
        cc.on_rto(now, in_flight, first);
        self.state = CaState::Loss;
        self.dupacks = 0;
        // RFC 6582 §4: record the highest sequence number transmitted.
        self.recover = snd_nxt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CongestionAlgorithm;

    const MSS: u32 = 1000;

    fn setup() -> (LossRecovery, Congestion) {
        (
            LossRecovery::new(SeqNum(0), 3),
            Congestion::new(CongestionAlgorithm::Reno, MSS, 10),
        )
    }

    fn sample(acked: u32) -> AckSample {
        AckSample {
            in_flight: 10 * MSS,
            ..AckSample::bytes(acked, MSS)
        }
    }

    fn t() -> Instant {
        Instant::ZERO
    }

    #[test]
    fn third_duplicate_ack_starts_fast_recovery_with_an_inflated_window() {
        let (mut r, mut cc) = setup();
        let (una, nxt) = (SeqNum(1001), SeqNum(11_001));
        let flight = 10 * MSS;
        assert_eq!(
            r.on_dupack(t(), &mut cc, una, nxt, flight, MSS),
            RecoveryAction::None
        );
        assert_eq!(r.ca_state(), CaState::Disorder);
        // RFC 3042: one extra segment per duplicate, at most two.
        assert_eq!(r.send_window(&cc, MSS), 11 * MSS);
        r.on_dupack(t(), &mut cc, una, nxt, flight, MSS);
        assert_eq!(r.send_window(&cc, MSS), 12 * MSS);
        assert_eq!(
            r.on_dupack(t(), &mut cc, una, nxt, flight, MSS),
            RecoveryAction::FastRetransmit
        );
        assert_eq!(r.ca_state(), CaState::Recovery);
        assert_eq!(cc.ssthresh(), 5 * MSS);
        assert_eq!(r.send_window(&cc, MSS), 8 * MSS, "ssthresh + 3 segments");
        r.on_dupack(t(), &mut cc, una, nxt, flight, MSS);
        assert_eq!(r.send_window(&cc, MSS), 9 * MSS, "inflated per dupack");
    }

    #[test]
    fn partial_ack_retransmits_and_full_ack_deflates_to_ssthresh() {
        let (mut r, mut cc) = setup();
        let (una, nxt) = (SeqNum(1001), SeqNum(11_001));
        for _ in 0..3 {
            r.on_dupack(t(), &mut cc, una, nxt, 10 * MSS, MSS);
        }
        let w = r.send_window(&cc, MSS);
        assert_eq!(
            r.on_ack(t(), &mut cc, SeqNum(3001), &sample(2 * MSS), MSS),
            RecoveryAction::RetransmitFirstUnacked
        );
        assert_eq!(r.send_window(&cc, MSS), w - 2 * MSS + MSS);
        assert_eq!(r.ca_state(), CaState::Recovery);
        assert_eq!(
            r.on_ack(t(), &mut cc, nxt, &sample(8 * MSS), MSS),
            RecoveryAction::None
        );
        assert_eq!(r.ca_state(), CaState::Open);
        assert_eq!(cc.window(), 5 * MSS);
        assert_eq!(r.recoveries(), 1);
    }

    #[test]
    fn duplicates_below_recover_do_not_restart_recovery() {
        let (mut r, mut cc) = setup();
        r.on_rto(t(), &mut cc, SeqNum(20_001), 10 * MSS);
        assert_eq!(r.ca_state(), CaState::Loss);
        for _ in 0..5 {
            assert_eq!(
                r.on_dupack(t(), &mut cc, SeqNum(1001), SeqNum(20_001), MSS, MSS),
                RecoveryAction::None
            );
        }
        // Back to Open once the ACK covers recover, then the old duplicates'
        // threshold needs `una > recover`.
        r.on_ack(t(), &mut cc, SeqNum(20_001), &sample(MSS), MSS);
        assert_eq!(r.ca_state(), CaState::Open);
        for _ in 0..3 {
            r.on_dupack(t(), &mut cc, SeqNum(20_001), SeqNum(30_001), MSS, MSS);
        }
        assert_eq!(r.ca_state(), CaState::Disorder, "una == recover");
    }

    #[test]
    fn timeout_collapses_the_window_and_enters_loss() {
        let (mut r, mut cc) = setup();
        r.on_rto(t(), &mut cc, SeqNum(10_001), 10 * MSS);
        assert_eq!(r.ca_state(), CaState::Loss);
        assert_eq!(r.send_window(&cc, MSS), MSS);
        assert_eq!(cc.ssthresh(), 5 * MSS);
        // A second timeout keeps ssthresh.
        r.on_rto(t(), &mut cc, SeqNum(10_001), MSS);
        assert_eq!(cc.ssthresh(), 5 * MSS);
        // Slow start resumes with ACKs in Loss.
        r.on_ack(t(), &mut cc, SeqNum(2001), &sample(MSS), MSS);
        assert_eq!(cc.window(), 2 * MSS);
        assert_eq!(r.ca_state(), CaState::Loss);
    }
}
