//! Header prediction (Van Jacobson's, as in Linux `tcp_rcv_established`):
//! the segment a connection expects goes through only the steps of RFC
//! 9293 §3.10.7.4 that can act on it, with no state dispatch between
//! them. Test builds can switch it off (`super::predicted::OFF`) and
//! compare whole connection histories (`tcp/conn/tests/predicted.rs`).

use super::Step;
use crate::SeqNum;
use crate::tcp::conn::recv::RecvHalf;
use crate::tcp::conn::send::SendHalf;
use crate::tcp::conn::{Connection, Core, Disposition, Env, State};
use crate::tcp::state::TcpState;
use crate::time::Instant;
use crate::wire::TcpRepr;
use crate::wire::tcp::TcpFlags;

/// Header prediction's tests of a segment against the connection's
/// halves: ACK set, no SYN or RST, SEG.SEQ = RCV.NXT, text or a FIN only
/// into an open window (RFC 9293 §3.10.7.4: a segment that occupies
/// sequence space is never acceptable into a zero window) and SEG.ACK in
/// RFC 5961 §5.2's range. The acknowledgment when all hold.
#[inline(always)]
fn predictable(seg: &TcpRepr<'_>, snd: &SendHalf, rcv: &RecvHalf) -> Option<SeqNum> {
    let ack = seg.ack?;
    let refused = seg
        .flags
        .intersects(TcpFlags::SYN | TcpFlags::RST | TcpFlags::URG)
        || seg.seq != rcv.nxt
        || ((!seg.payload.is_empty() || seg.flags.fin()) && rcv.window() == 0)
        || ack.after(snd.nxt)
        || ack.before(snd.una - snd.max_wnd);
    (!refused).then_some(ack)
}

impl Connection {
    /// Header prediction (Van Jacobson's, as in Linux `tcp_rcv_established`):
    /// the ESTABLISHED segment a connection expects, with ACK and no other
    /// control than PSH or FIN, at exactly RCV.NXT, with text or a FIN
    /// only into an open window (so "first, check sequence number" accepts
    /// it) and an acknowledgment in RFC 5961 §5.2's range, goes through the
    /// steps of §3.10.7.4 that can act on it with no state dispatch between
    /// them: PAWS (RFC 7323 §5.3), TS.Recent, the ACK ("fifth"; no URG, so
    /// nothing for "sixth"), the text
    /// ("seventh") and the FIN, the segment's own or one held beyond a hole
    /// that the text fills ("eighth": CLOSE-WAIT). The others cannot: no RST
    /// ("second"), no SYN ("fourth"), ESTABLISHED changes state on no ACK,
    /// and "seventh" resets only in FIN-WAIT-1/2. The results are the full
    /// steps' (test builds can switch prediction off and compare whole
    /// connection histories, `tests/predicted.rs`). `None`, with nothing
    /// done, for any other segment.
    #[inline]
    pub(super) fn on_segment_predicted(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
    ) -> Option<Disposition> {
        #[cfg(test)]
        if super::predicted::OFF.with(core::cell::Cell::get) {
            return None;
        }
        let State::Established(s) = &self.state else {
            return None;
        };
        let ack = predictable(seg, &s.snd, &s.rcv)?;
        // PAWS first, as in the full steps; a segment it lets through left
        // nothing changed.
        if let Step::Done(d) = self.check_paws(now, seg, env) {
            return Some(d);
        }
        #[cfg(test)]
        super::predicted::TAKEN.with(|n| n.set(n.get() + 1));
        let core = &mut self.core;
        let State::Established(s) = &mut self.state else {
            return None;
        };
        core.on_predicted_ack(now, seg, ack, &mut s.snd, &s.rcv, env);
        if core.take_text(now, seg, seg.seq, &mut s.rcv, env) {
            self.on_fin(now, env);
        }
        Some(Disposition::Accepted)
    }

    /// Header prediction ([`Connection::on_segment_predicted`]) for the
    /// segment a closing connection expects after its FIN: in FIN-WAIT-1,
    /// FIN-WAIT-2 or LAST-ACK, the peer's ACK (of our FIN, or not yet) or
    /// its FIN, without text, passing the same tests. The steps that can
    /// act on it run with no dispatch but the state's own: PAWS,
    /// TS.Recent, the ACK ("fifth", with the states an ACK of our FIN
    /// enters: FIN-WAIT-2, or CLOSED from LAST-ACK), then in FIN-WAIT-1/2
    /// the FIN ("eighth": CLOSING or TIME-WAIT). LAST-ACK ignores text and
    /// FIN ("seventh", "eighth"); text is left to the full steps, which
    /// reset a connection closed for reading that gets new data (RFC 2525
    /// §2.17). The results are the full steps' (`tests/predicted.rs` runs
    /// histories with shutdowns both ways). Out of line: a connection's
    /// last segments, once each.
    #[inline(never)]
    pub(super) fn on_closing_segment_predicted(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        state: TcpState,
        env: &mut Env,
    ) -> Option<Disposition> {
        #[cfg(test)]
        if super::predicted::OFF.with(core::cell::Cell::get) {
            return None;
        }
        if !seg.payload.is_empty() {
            return None;
        }
        let (snd, rcv) = self.state.halves_mut()?;
        let ack = predictable(seg, snd, rcv)?;
        if let Step::Done(d) = self.check_paws(now, seg, env) {
            return Some(d);
        }
        #[cfg(test)]
        super::predicted::TAKEN.with(|n| n.set(n.get() + 1));
        let core = &mut self.core;
        let (snd, rcv) = self.state.halves_mut()?;
        core.on_predicted_ack(now, seg, ack, snd, rcv, env);
        if let Step::Done(d) = self.after_ack_in(now, state, env) {
            return Some(d);
        }
        if state != TcpState::LastAck {
            let core = &mut self.core;
            let rcv = self.state.recv_half_mut()?;
            if core.take_text(now, seg, seg.seq, rcv, env) {
                self.on_fin(now, env);
            }
        }
        Some(Disposition::Accepted)
    }

    /// Header prediction ([`Connection::on_segment_predicted`]) for the
    /// segment SYN-RECEIVED expects: the handshake's ACK, passing the same
    /// tests (ACK set, no SYN or RST, SEG.SEQ = RCV.NXT, text or a FIN only
    /// into an open window, SEG.ACK in RFC 5961 §5.2's range). The steps
    /// that can act on it run with no dispatch between them: PAWS (RFC 7323
    /// §5.3), "fifth" with the open's completion (RFC 9293 §3.10.7.4: "If
    /// SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state", else a
    /// reset), TS.Recent and the ACK, then "seventh" and "eighth" through
    /// the full steps' [`Connection::process_text`]. The others cannot: a
    /// retransmitted SYN, "second" (RST) and "fourth" (SYN) need controls
    /// the tests refuse, and "first" accepts a segment at RCV.NXT with
    /// nothing or an open window to fill. The results are the full steps'
    /// (`tests/predicted.rs` runs handshakes both ways). Out of line: once a
    /// connection, and the server's full steps then run for no segment of a
    /// handshake.
    #[inline(never)]
    pub(super) fn on_handshake_ack_predicted(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
    ) -> Option<Disposition> {
        #[cfg(test)]
        if super::predicted::OFF.with(core::cell::Cell::get) {
            return None;
        }
        let State::SynReceived(s) = &self.state else {
            return None;
        };
        let ack = predictable(seg, &s.snd, &s.rcv)?;
        if let Step::Done(d) = self.check_paws(now, seg, env) {
            return Some(d);
        }
        #[cfg(test)]
        super::predicted::TAKEN.with(|n| n.set(n.get() + 1));
        if let Step::Done(d) = self.complete_passive_open(now, seg, ack, env) {
            return Some(d);
        }
        let state = self.state.kind();
        let core = &mut self.core;
        let (snd, rcv) = self.state.halves_mut()?;
        core.on_predicted_ack(now, seg, ack, snd, rcv, env);
        if let Step::Done(d) = self.after_ack_in(now, state, env) {
            return Some(d);
        }
        if let Step::Done(d) = self.process_text(now, seg, env) {
            return Some(d);
        }
        Some(Disposition::Accepted)
    }
}

impl Core {
    /// A predicted segment's acknowledgment: TS.Recent (RFC 7323 §4.3:
    /// it follows acceptable segments up to Last.ACK.sent), then "fifth".
    #[inline(always)]
    fn on_predicted_ack(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        ack: SeqNum,
        snd: &mut SendHalf,
        rcv: &RecvHalf,
        env: &mut Env,
    ) {
        if let (Some(recent), Some(ts)) = (&mut self.ts_recent, seg.options.timestamp) {
            recent.update(now, ts.tsval, seg.seq, rcv.last_ack_sent);
        }
        self.xmit.last_recv = now;
        self.process_ack(now, seg, ack, snd, env);
    }
}
