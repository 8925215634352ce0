//! [`Episode::on_ack`]'s short paths: the ACKs of a request and response
//! (an ACK of everything in flight, in order, and an ACK of nothing while
//! nothing is in flight), with nothing of a recovery to settle. Test
//! builds run the full processing beside each and compare
//! ([`Episode::short_path`]).

use super::{Episode, newest_original};
use crate::SeqNum;
use crate::stats::TcpExtStats;
use crate::tcp::congestion::Congestion;
use crate::tcp::recovery::{AckInput, AckOutcome, CaState, FlightAck};
use crate::time::Instant;

impl Episode {
    /// Runs one of `on_ack`'s short paths. Test builds also run the full
    /// processing on a copy beside it and assert that both leave the same
    /// episode, congestion state, counters and outcome (every proto test
    /// that takes a short path checks it); `what` names the path.
    #[inline(always)]
    #[cfg_attr(not(test), allow(unused_variables))]
    pub(super) fn short_path(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
        what: &str,
        short: impl FnOnce(&mut Self, &mut Congestion) -> AckOutcome,
    ) -> AckOutcome {
        #[cfg(test)]
        let full = {
            let (mut ep, mut cc, mut stats) = (self.clone(), cc.clone(), stats.clone());
            let out = ep.on_ack_full(now, inp, &mut cc, &mut stats);
            (format!("{ep:?}"), cc, format!("{stats:?}"), out)
        };
        let out = short(self, cc);
        #[cfg(test)]
        {
            assert_eq!(full.0, format!("{self:?}"), "the {what} ACK's episode");
            assert_eq!(&full.1, cc, "the {what} ACK's congestion state");
            assert_eq!(full.2, format!("{stats:?}"), "the {what} ACK's counters");
            assert_eq!(full.3, out, "the {what} ACK's outcome");
        }
        out
    }

    /// An ACK of everything in flight, in order, with nothing else to
    /// settle: no SACK block, no duplicate, no ECN echo, nothing SACKed,
    /// lost or retransmitted on the scoreboard, no recovery (state Open), no
    /// probe, D-SACK round, undo, reordering timer or disorder pending, and
    /// nothing delivered beyond SND.UNA before (so no reordering to note).
    /// The request/response and handshake case: every record leaves, the
    /// scoreboard empties, and loss detection, reordering and the recovery
    /// states have nothing to look at. What the full processing does then
    /// is [`Episode::on_ack_of_all_in_order`] (tests run both and compare).
    ///
    /// The tests are `&`, not `&&`: loads and compares without a branch
    /// each (the branches' fall-through copies cost about as much again).
    pub(super) fn acks_all_in_order(&self, inp: &AckInput<'_>) -> bool {
        inp.ack.after(inp.prior_una)
            & (inp.ack == inp.snd_nxt)
            & inp.sack_blocks.is_empty()
            & !inp.dupack
            & !inp.ece
            & self.takes_flight(inp.prior_una, inp.snd_nxt)
    }

    /// [`Episode::acks_all_in_order`]'s conditions on the episode alone,
    /// for an ACK of the whole flight `prior_una..nxt`: the scoreboard
    /// holds exactly that flight, nothing on it is SACKed, lost or
    /// retransmitted, nothing was delivered beyond `prior_una`, the state
    /// is Open with a reordering degree, no chunk is being retransmitted
    /// and nothing of a recovery is pending. Tested with `&` (see
    /// [`Episode::acks_all_in_order`]).
    #[inline]
    pub(in crate::tcp::recovery) fn takes_flight(&self, prior_una: SeqNum, nxt: SeqNum) -> bool {
        let board = &self.board;
        let marked = board.sacked().segs | board.lost().segs | board.retrans().segs;
        (self.state == CaState::Open)
            & (board.nxt() == nxt)
            & (board.una() == prior_una)
            & !self.fack.after(prior_una)
            & (marked == 0)
            & (self.reordering > 0)
            & self.chunk.is_none()
            & self.nothing_pending()
    }

    /// Nothing of a recovery is pending: no duplicate ACKs counted without
    /// SACK, no disorder or reordering timer, no D-SACK round, no probe,
    /// no undo waiting on D-SACKs. Tested with `&` (see
    /// [`Episode::acks_all_in_order`]).
    fn nothing_pending(&self) -> bool {
        (self.reno_sacked == 0)
            & self.flight_at_disorder.is_none()
            & self.rack_deadline.is_none()
            & !self.rack.in_dsack_round()
            & !self.tlp.in_episode()
            & !self.undo.all_dsacked()
    }

    /// [`Episode::on_ack`] for an ACK that [`Episode::acks_all_in_order`]:
    /// the cumulative ACK delivers every record (RACK and the RTT sample
    /// see each, Karn's rule applied), then HyStart's ACK train and the
    /// window grow as [`Episode::on_ack_full`] would let them.
    /// Out of line: one copy for both callers (`on_ack`'s short path and
    /// [`super::super::LossRecovery::on_ack_of_flight`]).
    #[inline(never)]
    pub(in crate::tcp::recovery) fn on_ack_of_all_in_order(
        &mut self,
        now: Instant,
        f: &FlightAck,
        cc: &mut Congestion,
    ) -> AckOutcome {
        self.mss = f.mss.max(1);
        let prior_pipe = self.pipe();
        self.frto_send_new = false;
        let mut delivery_rtt = None;
        let (tsecr, clock, min_rtt) = (f.tsecr, f.ts_clock, f.min_rtt);
        let rack = &mut self.rack;
        let cum = self.board.acknowledge_all(f.ack, |d| {
            rack.on_delivered(d, now, tsecr, &clock, min_rtt);
            delivery_rtt = newest_original(delivery_rtt, d, now);
        });
        self.fack = f.ack;
        // RFC 8985 §6.2 step 4 (no D-SACK here); SND.NXT is `f.ack`.
        self.rack.update_reo_wnd(false, self.board.una(), f.ack);
        let (delivered, delivered_segs) = (cum.delivered.bytes, cum.delivered.segs);
        let out = AckOutcome {
            restart_rto: true,
            undone: core::mem::take(&mut self.undone_now),
            reduced: core::mem::take(&mut self.reduced_now),
            ..AckOutcome::default()
        };
        // As in `on_ack_full`: HyStart's ACK train, then the window.
        if delivered_segs > 0 && delivery_rtt.or(f.rtt).is_some() {
            cc.on_delivery(now, f.min_rtt, f.ack, f.ack);
        }
        if delivered_segs > 0 {
            self.grow(now, f, f.ack, cc, (prior_pipe, delivered, delivered_segs));
        }
        out
    }

    /// An ACK that can change nothing here: nothing is recorded (no data
    /// in flight) and it acknowledges nothing, SACKs nothing, is no
    /// duplicate and echoes no congestion, with no recovery, probe, D-SACK
    /// round, undo or reordering timer to settle: a pure ACK of an idle
    /// sender, or data from the peer while we have nothing out. What the
    /// full processing would do then is [`Episode::on_idle_ack`].
    pub(super) fn acks_nothing(&self, inp: &AckInput<'_>) -> bool {
        inp.ack == inp.prior_una
            && inp.sack_blocks.is_empty()
            && !inp.dupack
            && !inp.ece
            && self.is_settled_at(inp.prior_una)
    }

    /// [`Episode::acks_nothing`]'s conditions on the episode alone, with
    /// SND.UNA at `una`.
    fn is_settled_at(&self, una: SeqNum) -> bool {
        self.board.is_empty()
            & (self.state == CaState::Open)
            & (self.board.una() == una)
            & self.nothing_pending()
    }

    /// [`Episode::on_ack`] for an ACK the caller knows acknowledges
    /// nothing at SND.UNA = `una`, SACKs nothing, is no duplicate and
    /// echoes no congestion (see [`super::LossRecovery::on_ack_of_nothing`]):
    /// [`Episode::on_idle_ack`] if [`Episode::acks_nothing`] would hold,
    /// else `None`.
    #[inline]
    pub(in crate::tcp::recovery) fn on_ack_of_nothing(
        &mut self,
        una: SeqNum,
        mss: u32,
    ) -> Option<AckOutcome> {
        self.is_settled_at(una).then(|| self.on_idle_ack(mss))
    }

    /// [`Episode::on_ack`] for an ACK that [`Episode::acks_nothing`]: the
    /// segment size is noted, F-RTO's new-data turn ends and what the
    /// timers decided (an undo, a reduction) is reported.
    pub(super) fn on_idle_ack(&mut self, mss: u32) -> AckOutcome {
        self.mss = mss.max(1);
        self.frto_send_new = false;
        AckOutcome {
            undone: core::mem::take(&mut self.undone_now),
            reduced: core::mem::take(&mut self.reduced_now),
            ..AckOutcome::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Episode;
    use crate::SeqNum;
    use crate::config::CongestionAlgorithm;
    use crate::tcp::congestion::Congestion;
    use crate::tcp::recovery::tests::ack;
    use crate::tcp::recovery::{CaState, LossRecovery, RecoveryConfig};
    use crate::time::Instant;

    /// One thing to set on an episode, named.
    type Case = (&'static str, fn(&mut Episode));

    /// Each thing still to settle, alone, on an episode (SACK on).
    fn pending_cases() -> Vec<Case> {
        vec![
            ("a recovery state", |ep| ep.state = CaState::Disorder),
            ("duplicate ACKs counted", |ep| ep.reno_sacked = 1000),
            ("a disorder flight", |ep| ep.flight_at_disorder = Some(1)),
            ("a reordering timer", |ep| {
                ep.rack_deadline = Some(Instant::ZERO);
            }),
            ("a D-SACK round", |ep| {
                ep.rack.update_reo_wnd(true, SeqNum(1), SeqNum(101));
            }),
            ("a loss probe", |ep| {
                ep.tlp.on_probe_sent(SeqNum(101), false)
            }),
            ("an undo waiting on D-SACKs", |ep| {
                let cc = Congestion::new(CongestionAlgorithm::Cubic, 1000, 10);
                ep.undo.start(SeqNum(1), &cc, 1);
                ep.undo.on_dsack(1);
            }),
        ]
    }

    /// The short paths' conditions, written with `&` (no short circuit):
    /// with one request in flight and nothing else going on, an ACK of it
    /// all takes the in-order path, and once it is acknowledged an ACK of
    /// nothing takes the idle one; any one thing still to settle (or, for
    /// the in-order path, reordering history, a chunk being retransmitted
    /// or data delivered beyond SND.UNA) keeps each ACK off its short path.
    /// A condition lost from either test fails here.
    #[test]
    fn anything_to_settle_keeps_an_ack_off_the_short_paths() {
        let mut r = LossRecovery::new(SeqNum(0), RecoveryConfig::default());
        r.on_established(SeqNum(1), true, 1000);
        r.on_sent_new(Instant::ZERO, SeqNum(1), SeqNum(101));
        let busy = r.ep.as_deref().expect("an episode").clone();
        let all = ack(101, 1, 101, false);
        assert!(busy.acks_all_in_order(&all));
        let mut only_in_order: Vec<Case> = vec![
            ("no reordering degree", |ep| ep.reordering = 0),
            ("a chunk in retransmission", |ep| {
                ep.chunk = Some((SeqNum(1), SeqNum(101)));
            }),
            ("data delivered beyond SND.UNA", |ep| ep.fack = SeqNum(51)),
            ("a SACKed record", |ep| {
                let mut upd = Default::default();
                ep.board.sack(SeqNum(1), SeqNum(101), &mut upd, |_| {});
            }),
        ];
        only_in_order.extend(pending_cases());
        for (what, set) in only_in_order {
            let mut ep = busy.clone();
            set(&mut ep);
            assert!(!ep.acks_all_in_order(&all), "in order with {what}");
        }

        let mut idle = busy.clone();
        idle.board.acknowledge_all(SeqNum(101), |_| {});
        assert!(idle.acks_nothing(&ack(101, 101, 101, false)));
        assert!(idle.is_settled_at(SeqNum(101)));
        assert!(!idle.is_settled_at(SeqNum(100)), "SND.UNA elsewhere");
        assert!(!busy.is_settled_at(SeqNum(1)), "a record in flight");
        for (what, set) in pending_cases() {
            let mut ep = idle.clone();
            set(&mut ep);
            assert!(!ep.is_settled_at(SeqNum(101)), "idle with {what}");
        }
    }
}
