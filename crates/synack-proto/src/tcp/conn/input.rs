//! Segment arrival: RFC 9293 §3.10.7, step by step.
//!
//! Read first: RFC 9293 §3.10.7.3 (SYN-SENT) and §3.10.7.4 (the other
//! states: "first, check the sequence number" ... "eighth, check the FIN
//! bit"), RFC 5961 (§3 RST, §4 SYN, §5 ACK validation, challenge ACKs), RFC
//! 7323 §4.3 and §5 (TS.Recent, PAWS), RFC 5681 §2-4 (what an ACK means for
//! congestion control), RFC 6298 §5 (the retransmission timer on ACKs),
//! RFC 2525 §2.17 (data after close).
//!
//! Each step is a function returning [`Step`]: carry on, or stop with a
//! [`Disposition`] for the caller. The steps quote the RFC text they follow.
//! Where Linux refines the RFC (and packetdrill scripts encode it) the
//! comment says so.

use super::spares::Spares;
use super::{
    Challenge, CloseReason, CloseWait, Closing, ConnEvent, Connection, Core, Disposition,
    DropReason, Env, Established, FinWait1, FinWait2, PendingRst, State, SynReceived,
};
use crate::SeqNum;
use crate::tcp::congestion::CongestionControl;
use crate::tcp::recovery::AckOutcome;
use crate::tcp::state::TcpState;
use crate::tcp::timer::Timer;
use crate::tcp::timestamps::TsRecent;
use crate::time::{Instant, Stamp};
use crate::wire::TcpRepr;
use crate::wire::tcp::TcpFlags;

use super::recv::{RecvHalf, Stager};
use super::send::{FinState, SendHalf};
use super::time_wait::TimeWaitVerdict;

mod ack_of_nothing;
mod prediction;
mod recovery_ack;

/// Test builds' switch and count for header prediction
/// ([`Connection::on_segment_predicted`]): with `OFF` set every segment
/// takes the full steps; `TAKEN` counts the segments prediction took.
#[cfg(test)]
pub(super) mod predicted {
    use core::cell::Cell;

    std::thread_local! {
        pub static OFF: Cell<bool> = const { Cell::new(false) };
        pub static TAKEN: Cell<u64> = const { Cell::new(0) };
    }
}

/// Test builds' switch and count for the ACK of nothing's short way
/// ([`Core::process_ack_of_nothing`]): with `OFF` set every ACK takes the
/// general steps; `TAKEN` counts the ACKs the short way took.
#[cfg(test)]
pub(super) mod idle_ack {
    use core::cell::Cell;

    std::thread_local! {
        pub static OFF: Cell<bool> = const { Cell::new(false) };
        pub static TAKEN: Cell<u64> = const { Cell::new(0) };
    }
}

/// The outcome of one step of §3.10.7.4.
pub(super) enum Step {
    Continue,
    Done(Disposition),
}

/// Evaluates a step, returning its disposition when it stops.
macro_rules! step {
    ($e:expr) => {
        match $e {
            Step::Continue => {}
            Step::Done(d) => return d,
        }
    };
}

/// RFC 9293 §3.10.7.4 "first": the acceptability test.
///
/// ```text
/// Segment Length  Receive Window  Test
/// 0               0               SEG.SEQ = RCV.NXT
/// 0               >0              RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
/// >0              0               not acceptable
/// >0              >0              RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
///                                 or RCV.NXT =< SEG.SEQ+SEG.LEN-1 < RCV.NXT+RCV.WND
/// ```
pub fn segment_acceptable(seq: SeqNum, seg_len: u32, rcv_nxt: SeqNum, rcv_wnd: u32) -> bool {
    let end = rcv_nxt + rcv_wnd;
    match (seg_len, rcv_wnd) {
        (0, 0) => seq == rcv_nxt,
        (0, _) => seq.in_window(rcv_nxt, end),
        (_, 0) => false,
        (len, _) => seq.in_window(rcv_nxt, end) || (seq + (len - 1)).in_window(rcv_nxt, end),
    }
}

impl Connection {
    /// A segment for this connection arrived (checksum verified, 4-tuple
    /// matched). Returns what was done with it; replies and data go out
    /// through [`Connection::poll_transmit`].
    pub fn handle_segment(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
    ) -> Disposition {
        // A GRO super-packet is the N segments it stands for (Linux
        // `tcp_segs_in` adds `gso_segs`).
        let pieces = super::offload::rx_pieces(seg.payload.len(), env.rx_gso);
        self.core.counters.add_segs_in(pieces);
        if !seg.payload.is_empty() {
            self.core
                .counters
                .data_mut_from(&mut env.spares)
                .data_segs_in += u64::from(pieces);
        }
        let disposition = match self.state.kind() {
            TcpState::Closed | TcpState::Listen => Disposition::Dropped(DropReason::Closed),
            TcpState::SynSent => self.on_segment_syn_sent(now, seg, env),
            TcpState::TimeWait => self.on_segment_time_wait(now, seg, env),
            TcpState::Established => match self.on_segment_predicted(now, seg, env) {
                Some(disposition) => disposition,
                None => self.on_segment_otherwise(now, seg, env),
            },
            state @ (TcpState::FinWait1 | TcpState::FinWait2 | TcpState::LastAck) => {
                match self.on_closing_segment_predicted(now, seg, state, env) {
                    Some(disposition) => disposition,
                    None => self.on_segment_otherwise(now, seg, env),
                }
            }
            TcpState::SynReceived => match self.on_handshake_ack_predicted(now, seg, env) {
                Some(disposition) => disposition,
                None => self.on_segment_otherwise(now, seg, env),
            },
            _ => self.on_segment_otherwise(now, seg, env),
        };
        self.core.settle_ack(now, &mut self.state, env);
        // Staged bytes belong to this segment only.
        if let Some(rcv) = self.state.recv_half_mut() {
            rcv.clear_staged();
        }
        disposition
    }

    /// The receive fast path's first half, before the checksum is known: an
    /// ESTABLISHED connection copies an in-order segment's payload to its
    /// place in the receive buffer without committing it, and returns the
    /// payload's RFC 1071 sum (see [`RecvHalf::stage`]). The caller verifies
    /// the checksum with it; if it is right, [`Connection::handle_segment`]
    /// commits the staged bytes instead of copying them, and if not the
    /// caller drops the segment and calls [`Connection::clear_staged`].
    /// `None` when the segment is not for the fast path: nothing was written.
    /// A first ring comes from `spares` when one fits (see
    /// [`Spares`]).
    ///
    /// Inlined: most segments of a handshake carry no text and leave at the
    /// first test, which a call would cost several times over.
    #[inline]
    pub fn stage_payload(&mut self, seg: &TcpRepr<'_>, spares: &mut Spares) -> Option<u16> {
        // Most segments of a handshake carry no text: nothing to stage.
        if seg.payload.is_empty() {
            return None;
        }
        let State::Established(s) = &mut self.state else {
            return None;
        };
        if seg.flags.syn() || seg.flags.rst() {
            return None;
        }
        s.rcv.stage_with(seg.seq, seg.payload, Some(spares))
    }

    /// Software GRO: a stager for the payloads of the segments that follow
    /// the staged one, the first at `seq`, at most `max` bytes (see
    /// [`RecvHalf::stager`]); `None` outside ESTABLISHED or if none fits.
    pub fn stager(&mut self, seq: SeqNum, max: usize) -> Option<Stager<'_>> {
        let State::Established(s) = &mut self.state else {
            return None;
        };
        s.rcv.stager(seq, max)
    }

    /// Zero-copy receive: whether `len` payload bytes at `seq` may be
    /// staged by keeping their frames ([`RecvHalf::may_keep`]); only in
    /// ESTABLISHED.
    pub fn may_keep(&self, seq: SeqNum, len: usize) -> bool {
        match &self.state {
            State::Established(s) => s.rcv.may_keep(seq, len),
            _ => false,
        }
    }

    /// Stages a run's payloads by keeping their frames (see
    /// [`RecvHalf::stage_kept`]); returns the bytes staged (0: none, the
    /// frames left in place).
    pub fn stage_kept(
        &mut self,
        frames: &mut [crate::storage::FrameBuf],
        start: usize,
        ends: &[usize],
        spares: &mut Spares,
    ) -> usize {
        match &mut self.state {
            State::Established(s) => s.rcv.stage_kept(frames, start, ends, spares),
            _ => 0,
        }
    }

    /// Gives back kept frames staged for a segment and not committed (see
    /// [`RecvHalf::drop_kept_pending`]).
    pub fn drop_kept_pending(&mut self, spent: &mut Vec<Vec<u8>>) {
        if let Some(rcv) = self.state.recv_half_mut() {
            rcv.drop_kept_pending(spent);
        }
    }

    /// Forgets bytes staged by [`Connection::stage_payload`] for a segment
    /// that was dropped.
    pub fn clear_staged(&mut self) {
        if let Some(rcv) = self.state.recv_half_mut() {
            rcv.clear_staged();
        }
    }

    /// RFC 9293 §3.10.7.3: SYN-SENT.
    fn on_segment_syn_sent(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
    ) -> Disposition {
        let State::SynSent(syn_sent) = &self.state else {
            return Disposition::Dropped(DropReason::Closed);
        };
        let (iss, snd_nxt) = (syn_sent.snd.iss, syn_sent.snd.nxt);
        // "First, check the ACK bit. If the ACK bit is set, if SEG.ACK =< ISS
        // or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set, if
        // so drop the segment and return) <SEQ=SEG.ACK><CTL=RST> and discard
        // the segment. Return. If SND.UNA < SEG.ACK =< SND.NXT, then the ACK
        // is acceptable."
        let mut ack_acceptable = false;
        if let Some(ack) = seg.ack {
            if ack.before_eq(iss) || ack.after(snd_nxt) {
                if seg.flags.rst() {
                    return Disposition::Dropped(DropReason::UnacceptableAck);
                }
                self.core.pending.set_rst(PendingRst::Reply {
                    seq: ack,
                    ack: None,
                });
                return Disposition::ResetSent(DropReason::UnacceptableAck);
            }
            ack_acceptable = true;
            // RFC 7323 §4.3 (and §5.3's PAWS): an echo of a TSval we never
            // sent, older than our first SYN or from the future, marks an old
            // or forged SYN-ACK; Linux answers it as an unacceptable ACK
            // (tcp_rcv_synsent_state_process, PAWSActiveRejected) and keeps
            // waiting in SYN-SENT.
            if !self.tsecr_plausible_in_syn_sent(now, seg) {
                if seg.flags.rst() {
                    return Disposition::Dropped(DropReason::Paws);
                }
                self.core.pending.set_rst(PendingRst::Reply {
                    seq: ack,
                    ack: None,
                });
                return Disposition::ResetSent(DropReason::Paws);
            }
        }
        // "Second, check the RST bit. If the RST bit is set, if the ACK was
        // acceptable, then signal to the user 'error: connection reset', drop
        // the segment, enter CLOSED state, delete TCB, and return. Otherwise
        // (no ACK), drop the segment and return."
        if seg.flags.rst() {
            if ack_acceptable {
                self.close_with(now, env, CloseReason::Refused);
                return Disposition::ConnectionReset;
            }
            return Disposition::Dropped(DropReason::IgnoredReset);
        }
        // "Fourth, check the SYN bit" (third, security, does not apply).
        // "If neither of the SYN or RST bits is set, then drop the segment
        // and return."
        if !seg.flags.syn() {
            return Disposition::Dropped(DropReason::NotSynOrReset);
        }
        if ack_acceptable {
            self.complete_active_open(now, seg, env)
        } else {
            self.simultaneous_open(now, seg, env)
        }
    }

    /// Whether a SYN-SENT segment's TSecr lies between the TSval of our
    /// first SYN and now (an absent or zero echo is not checked).
    fn tsecr_plausible_in_syn_sent(&self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        let Some(ts) = seg.options.timestamp.filter(|t| t.tsecr != 0) else {
            return true;
        };
        let xmit = &self.core.xmit;
        // The first SYN went out when the retransmissions' give-up clock
        // started, or, with none yet, when the SYN timed for an RTT left.
        let Some(first) = xmit
            .retrans_stamp()
            .get()
            .or(xmit.rtt_timed.get().map(|(_, sent)| sent))
        else {
            return true;
        };
        let clock = &self.core.ts_clock;
        let (lo, hi) = (clock.tsval(first), clock.tsval(now));
        ts.tsecr.wrapping_sub(lo) <= hi.wrapping_sub(lo)
    }

    /// SYN-SENT, SYN with an acceptable ACK: "RCV.NXT is set to SEG.SEQ+1,
    /// IRS is set to SEG.SEQ. SND.UNA should be advanced to equal SEG.ACK
    /// ... If SND.UNA > ISS (our SYN has been ACKed), change the connection
    /// state to ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT>
    /// <CTL=ACK> and send it."
    fn complete_active_open(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
    ) -> Disposition {
        let Some(ack) = seg.ack else {
            return Disposition::Dropped(DropReason::NoAck);
        };
        let core = &mut self.core;
        core.neg.on_syn_ack(&seg.options, &env.config);
        core.neg.ecn.on_syn_ack(seg.flags);
        core.neg.clamp_mss(core.socket.max_segment());
        if let Some(ts) = seg.options.timestamp.filter(|_| core.neg.ts_ok()) {
            core.ts_recent = Some(TsRecent::new(ts.tsval, now));
        }
        let rcv_limit = core.recv_buffer_limit(&env.config);
        let mut rcv = RecvHalf::new(
            seg.seq,
            rcv_limit,
            core.neg.rcv_wscale(),
            super::MAX_OUT_OF_ORDER_RANGES,
        );
        // The window our SYN offered (unscaled) is what the peer may fill.
        rcv.advertise_unscaled();
        let rtt = core.rtt_sample(now, ack, seg);
        let rcv_wnd = rcv.window();
        let (fin_queued, resend, write_pending) = {
            let State::SynSent(s) = &mut self.state else {
                return Disposition::Dropped(DropReason::Closed);
            };
            let snd = &mut s.snd;
            // Data written before the handshake that the SYN did not carry:
            // Linux's blocked writer (`sk_write_pending`).
            let write_pending = snd.unsent() > 0;
            core.apply_negotiated(snd);
            core.on_established_mtu(now, snd, env);
            snd.acknowledge(ack);
            // RFC 7323 §2.2: the SYN-ACK's window is not scaled.
            snd.set_window(u32::from(seg.window));
            snd.wl1 = seg.seq;
            snd.wl2 = ack;
            let resend = core
                .tfo_on_syn_ack(seg, snd, env)
                .then_some((snd.una, snd.nxt));
            // Linux `tcp_init_buffer_space`: room for two initial windows.
            core.grow_send_buffer(snd, &env.config);
            (snd.fin == FinState::Queued, resend, write_pending)
        };
        core.handshake_done(now, ack, rtt, env);
        if let Some((una, nxt)) = resend {
            // Fast Open data the SYN-ACK did not cover goes again now.
            core.recovery.retransmit_in_flight(now, una, nxt);
        }
        core.pending.set_syn(false);
        core.xmit.last_recv = now;
        self.transition(now, env, |old| match old {
            State::SynSent(s) if fin_queued => State::FinWait1(FinWait1 { snd: s.snd, rcv }),
            State::SynSent(s) => State::Established(Established { snd: s.snd, rcv }),
            other => other,
        });
        // Linux acknowledges a SYN-ACK at once (tcp_rcv_synsent_state_process).
        self.core.ack.schedule_now();
        if write_pending {
            // ... except when a write waits: the ACK is left to its data, in
            // quick-ACK mode from now (`lrcvtime`, `ato`); that data, sent
            // at once, makes the connection interactive (ping-pong, Linux
            // `tcp_event_data_sent`), so the peer's answer gets a delayed
            // ACK (blocking-connect-bypass.pkt).
            self.core.ack.enter_quickack_mode(rcv_wnd);
            self.core.ack.last_data = crate::time::Stamp::at(now);
        }
        // "If there are other controls or text in the segment, then continue
        // processing at the sixth step below."
        if !seg.payload.is_empty() || seg.flags.fin() {
            step!(self.process_text(now, seg, env));
        }
        Disposition::Accepted
    }

    /// SYN-SENT, SYN without ACK: "Otherwise, enter SYN-RECEIVED, form a
    /// SYN,ACK segment <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it."
    /// Text in the SYN is not kept (the peer retransmits it).
    /// Rare: kept out of line so the hot path's code stays dense in the
    /// instruction cache (docs/PERFORMANCE.md).
    #[cold]
    #[inline(never)]
    fn simultaneous_open(&mut self, now: Instant, seg: &TcpRepr<'_>, env: &mut Env) -> Disposition {
        let core = &mut self.core;
        core.neg.on_simultaneous_syn(&seg.options, &env.config);
        core.neg.ecn.on_simultaneous_syn(seg.flags);
        core.neg.clamp_mss(core.socket.max_segment());
        if let Some(ts) = seg.options.timestamp.filter(|_| core.neg.ts_ok()) {
            core.ts_recent = Some(TsRecent::new(ts.tsval, now));
        }
        let rcv = RecvHalf::new(
            seg.seq,
            core.recv_buffer_limit(&env.config),
            core.neg.rcv_wscale(),
            super::MAX_OUT_OF_ORDER_RANGES,
        );
        if let State::SynSent(s) = &mut self.state {
            core.apply_negotiated(&mut s.snd);
            s.snd.set_window(u32::from(seg.window));
            s.snd.wl1 = seg.seq;
        }
        core.pending.set_syn(true);
        core.xmit.last_recv = now;
        self.transition(now, env, |old| match old {
            State::SynSent(s) => State::SynReceived(SynReceived { snd: s.snd, rcv }),
            other => other,
        });
        Disposition::Accepted
    }

    /// RFC 9293 §3.10.7.4, TIME-WAIT rows, through [`super::TimeWait`].
    /// Out of line: a connection's last segments, off the hot path.
    #[cold]
    #[inline(never)]
    fn on_segment_time_wait(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
    ) -> Disposition {
        let State::TimeWait(t) = &mut self.state else {
            return Disposition::Dropped(DropReason::Closed);
        };
        let verdict = t.tw.handle_segment(now, seg, &env.config, &mut env.stats);
        self.core.timers.set(Timer::TimeWait, t.tw.expires);
        match verdict {
            TimeWaitVerdict::Ignore if seg.flags.rst() => {
                Disposition::Dropped(DropReason::IgnoredReset)
            }
            TimeWaitVerdict::Ignore => Disposition::Accepted,
            TimeWaitVerdict::Ack => {
                self.core.ack.schedule_now();
                Disposition::DroppedWithAck(DropReason::OutOfWindow)
            }
            TimeWaitVerdict::AckRateLimited => Disposition::Dropped(DropReason::OutOfWindow),
            TimeWaitVerdict::NewSyn { iss } => Disposition::Reincarnate { iss },
            TimeWaitVerdict::Kill => {
                self.close_with(now, env, CloseReason::Normal);
                Disposition::ConnectionReset
            }
        }
    }

    /// RFC 9293 §3.10.7.4 for SYN-RECEIVED and the synchronized states.
    fn on_segment_otherwise(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
    ) -> Disposition {
        step!(self.check_retransmitted_syn(now, seg, env));
        step!(self.check_paws(now, seg, env));
        let text_acceptable = match self.check_sequence(now, seg, env) {
            Ok(text) => text,
            Err(d) => return d,
        };
        step!(self.check_rst(now, seg, env));
        step!(self.check_syn(now, seg, env));
        step!(self.check_ack(now, seg, env));
        // "sixth, check the URG bit" (`conn::urgent`).
        if seg.flags.contains(TcpFlags::URG) {
            self.check_urg(seg, env);
        }
        if text_acceptable {
            step!(self.process_text(now, seg, env));
        } else if !seg.payload.is_empty() {
            // Zero window: the ACK was processed, the text is dropped and the
            // sender learns the window is still closed.
            env.stats.tcp_ext.tcp_zero_window_drop += 1;
            self.core.ack.schedule_now();
        }
        Disposition::Accepted
    }

    /// Linux `tcp_check_req`: a listener's half-open connection answers a
    /// retransmission of the peer's SYN with its SYN-ACK again (the first
    /// was lost or is slow). It would otherwise fail the sequence check.
    fn check_retransmitted_syn(&mut self, now: Instant, seg: &TcpRepr<'_>, env: &mut Env) -> Step {
        if let State::SynReceived(s) = &self.state
            && self.core.passive_open
            && seg.flags.syn()
            && !seg.flags.rst()
            && seg.ack.is_none()
            && seg.seq == s.rcv.irs
        {
            return Step::Done(self.core.resend_syn_ack(now, env));
        }
        Step::Continue
    }

    /// Simultaneous open: in SYN-RECEIVED the peer's SYN-ACK carries its SYN
    /// again (one before RCV.NXT) and acknowledges ours. RFC 9293 would
    /// answer it with an ACK and wait for that ACK's echo; like Linux, take
    /// it as the handshake's ACK.
    fn is_crossed_syn_ack(&self, seg: &TcpRepr<'_>) -> bool {
        let State::SynReceived(s) = &self.state else {
            return false;
        };
        !self.core.passive_open
            && seg.flags.syn()
            && seg.payload.is_empty()
            && seg.seq + 1u32 == s.rcv.nxt
            && seg.ack == Some(s.snd.nxt)
    }

    /// RFC 7323 §5.3 R1: "If there is a Timestamps option in the arriving
    /// segment, SEG.TSval < TS.Recent, TS.Recent is valid, and the RST bit
    /// is not set, then treat the arriving segment as not acceptable: Send
    /// an acknowledgment in reply as specified in RFC 793, page 69, and drop
    /// the segment."
    ///
    /// Always inlined: a rejection's work is out of line
    /// ([`Core::out_of_window_ack`]), and the test itself is a few
    /// instructions that a call would double.
    #[inline(always)]
    fn check_paws(&mut self, now: Instant, seg: &TcpRepr<'_>, env: &mut Env) -> Step {
        let (Some(recent), Some(ts)) = (&self.core.ts_recent, &seg.options.timestamp) else {
            return Step::Continue;
        };
        if seg.flags.rst() || !recent.paws_rejects(now, ts.tsval) {
            return Step::Continue;
        }
        env.stats.tcp_ext.paws_estab += 1;
        Step::Done(self.core.out_of_window_ack(now, seg, env, DropReason::Paws))
    }

    /// RFC 9293 §3.10.7.4 "first, check sequence number". Returns whether
    /// the text is acceptable; the segment's controls are processed either
    /// way once this passes.
    fn check_sequence(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
    ) -> Result<bool, Disposition> {
        let Some(rcv) = self.state.recv_half() else {
            return Err(Disposition::Dropped(DropReason::Closed));
        };
        let seg_len = seg.seg_len() as u32;
        let rcv_wnd = rcv.window();
        if segment_acceptable(seg.seq, seg_len, rcv.nxt, rcv_wnd) || self.is_crossed_syn_ack(seg) {
            return Ok(true);
        }
        self.unacceptable_sequence(now, seg, env)
    }

    /// [`Connection::check_sequence`] for a segment outside the window.
    /// Rare: out of line, so the acceptable case's code stays dense.
    #[cold]
    #[inline(never)]
    fn unacceptable_sequence(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
    ) -> Result<bool, Disposition> {
        let Some(rcv) = self.state.recv_half() else {
            return Err(Disposition::Dropped(DropReason::Closed));
        };
        let rcv_wnd = rcv.window();
        // "If the RCV.WND is zero, no segments will be acceptable, but
        // special allowance should be made to accept valid ACKs, URGs, and
        // RSTs."
        if rcv_wnd == 0 && seg.seq == rcv.nxt {
            return Ok(false);
        }
        // "If an incoming segment is not acceptable, an acknowledgment should
        // be sent in reply (unless the RST bit is set, if so drop the segment
        // and return)".
        if seg.flags.rst() {
            return Err(Disposition::Dropped(DropReason::IgnoredReset));
        }
        // RFC 5961 §4.2: a SYN, in the window or not, draws a challenge ACK
        // (Linux counts an out-of-window SYN as one too).
        if seg.flags.syn() {
            env.stats.tcp_ext.tcp_syn_challenge += 1;
            return Err(self.core.challenge_ack(now, env, Challenge::Syn));
        }
        if !seg.payload.is_empty() && !(seg.seq + seg.payload.len()).after(rcv.nxt) {
            // A retransmission of data we have: ACK it at once with a D-SACK
            // (RFC 2883 §4.1.1), and keep ACKing quickly (Linux
            // `tcp_data_queue`).
            env.stats.tcp_ext.tcp_dsack_old_sent += 1;
            self.core.ack.enter_quickack_mode(rcv_wnd);
            let end = seg.seq + seg.payload.len();
            if let Some(rcv) = self.state.recv_half_mut() {
                rcv.note_duplicate(seg.seq, end);
            }
        }
        Err(self
            .core
            .out_of_window_ack(now, seg, env, DropReason::OutOfWindow))
    }

    /// RFC 9293 §3.10.7.4 "second, check the RST bit", with RFC 5961 §3.2:
    /// "If the RST bit is set and the sequence number exactly matches the
    /// next expected sequence value, then TCP MUST reset the connection ...
    /// Otherwise (RST in the window), TCP MUST send an acknowledgment
    /// (challenge ACK)." Like Linux, RCV.NXT - 1 also resets once the peer's
    /// FIN has arrived (a reset sent at the FIN's sequence number).
    fn check_rst(&mut self, now: Instant, seg: &TcpRepr<'_>, env: &mut Env) -> Step {
        if !seg.flags.rst() {
            return Step::Continue;
        }
        self.on_rst(now, seg, env)
    }

    /// [`Connection::check_rst`] for a segment with RST: out of line, so
    /// the common segment's code stays dense.
    #[cold]
    #[inline(never)]
    fn on_rst(&mut self, now: Instant, seg: &TcpRepr<'_>, env: &mut Env) -> Step {
        let state = self.state.kind();
        let Some(rcv) = self.state.recv_half() else {
            return Step::Done(Disposition::Dropped(DropReason::Closed));
        };
        let after_fin = matches!(
            state,
            TcpState::CloseWait | TcpState::LastAck | TcpState::Closing
        );
        let exact = seg.seq == rcv.nxt || (after_fin && seg.seq == rcv.nxt - 1u32);
        if !exact {
            return Step::Done(self.core.challenge_ack(now, env, Challenge::Reset));
        }
        let reason = match &self.state {
            // "If this connection was initiated with a passive OPEN, then
            // return this connection to the LISTEN state" (the stack deletes
            // the half-open entry); "if ... active OPEN, then the connection
            // was refused".
            State::SynReceived(_) if self.core.passive_open => CloseReason::Reset,
            State::SynReceived(_) => CloseReason::Refused,
            // "ESTABLISHED ... CLOSE-WAIT: ... users should also receive an
            // unsolicited general 'connection reset' signal"; CLOSING,
            // LAST-ACK: "enter the CLOSED state, delete the TCB".
            _ => CloseReason::Reset,
        };
        self.close_with(now, env, reason);
        Step::Done(Disposition::ConnectionReset)
    }

    /// RFC 9293 §3.10.7.4 "fourth, check the SYN bit". SYN-RECEIVED from a
    /// passive open: "return this connection to the LISTEN state and return".
    /// Synchronized states (RFC 5961 §4.2): "If the SYN bit is set,
    /// irrespective of the sequence number, TCP MUST send an ACK (also
    /// referred to as challenge ACK) to the remote peer".
    fn check_syn(&mut self, now: Instant, seg: &TcpRepr<'_>, env: &mut Env) -> Step {
        if !seg.flags.syn() {
            return Step::Continue;
        }
        self.on_syn(now, seg, env)
    }

    /// [`Connection::check_syn`] for a segment with SYN: out of line, so
    /// the common segment's code stays dense.
    #[cold]
    #[inline(never)]
    fn on_syn(&mut self, now: Instant, seg: &TcpRepr<'_>, env: &mut Env) -> Step {
        if self.is_crossed_syn_ack(seg) {
            // Its SYN repeats one we already have (it is below RCV.NXT):
            // acknowledge it at once, as any old sequence number ("first,
            // check sequence number"); Linux answers it with an ACK too,
            // which D-SACKs the repeated SYN (`tcp_data_queue`, RFC 2883).
            env.stats.tcp_ext.tcp_dsack_old_sent += 1;
            if let Some(rcv) = self.state.recv_half_mut() {
                rcv.note_duplicate_syn();
            }
            self.core.ack.schedule_now();
            return Step::Continue;
        }
        if !seg.flags.syn() {
            return Step::Continue;
        }
        if let State::SynReceived(_) = &self.state
            && self.core.passive_open
        {
            self.close_with(now, env, CloseReason::Reset);
            return Step::Done(Disposition::Dropped(DropReason::SynInSynReceived));
        }
        env.stats.tcp_ext.tcp_syn_challenge += 1;
        Step::Done(self.core.challenge_ack(now, env, Challenge::Syn))
    }

    /// RFC 9293 §3.10.7.4 "fifth, check the ACK field".
    fn check_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, env: &mut Env) -> Step {
        // "if the ACK bit is off, drop the segment and return"
        let Some(ack) = seg.ack else {
            return Step::Done(Disposition::Dropped(DropReason::NoAck));
        };
        let mut state = self.state.kind();
        if state == TcpState::SynReceived {
            if let Step::Done(d) = self.complete_passive_open(now, seg, ack, env) {
                return Step::Done(d);
            }
            state = self.state.kind();
        }
        let core = &mut self.core;
        let Some((snd, rcv)) = self.state.halves_mut() else {
            return Step::Done(Disposition::Dropped(DropReason::Closed));
        };
        // RFC 5961 §5.2: "The ACK value is considered acceptable only if it
        // is in the range of ((SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT).
        // All incoming segments whose ACK value doesn't satisfy the above
        // condition MUST be discarded and an ACK sent back."
        if ack.after(snd.nxt) {
            return Step::Done(core.out_of_window_ack(now, seg, env, DropReason::AckOfUnsentData));
        }
        if ack.before(snd.una - snd.max_wnd) {
            return Step::Done(core.challenge_ack(now, env, Challenge::OldAck));
        }
        // RFC 7323 §4.3: TS.Recent follows acceptable segments up to
        // Last.ACK.sent.
        if let (Some(recent), Some(ts)) = (&mut core.ts_recent, seg.options.timestamp) {
            recent.update(now, ts.tsval, seg.seq, rcv.last_ack_sent);
        }
        core.xmit.last_recv = now;
        core.process_ack(now, seg, ack, snd, env);
        self.after_ack_in(now, state, env)
    }

    /// RFC 9293 §3.10.7.4 "fifth", after the ACK's processing: the states
    /// an ACK of our FIN enters from `state`, the state the segment found.
    #[inline(always)]
    fn after_ack_in(&mut self, now: Instant, state: TcpState, env: &mut Env) -> Step {
        let fin_acked = self.state.send_half().is_some_and(SendHalf::fin_acked);
        match state {
            // "FIN-WAIT-1: In addition to the processing for the ESTABLISHED
            // state, if the FIN segment is now acknowledged, then enter
            // FIN-WAIT-2 and continue processing in that state."
            TcpState::FinWait1 if fin_acked => {
                self.transition(now, env, |old| match old {
                    State::FinWait1(s) => State::FinWait2(FinWait2 {
                        snd: s.snd,
                        rcv: s.rcv,
                    }),
                    other => other,
                });
            }
            // "CLOSING: In addition to the processing for the ESTABLISHED
            // state, if the ACK acknowledges our FIN, then enter the
            // TIME-WAIT state; otherwise, ignore the segment."
            TcpState::Closing if fin_acked => {
                self.enter_time_wait(now, env);
                return Step::Done(Disposition::Accepted);
            }
            // "LAST-ACK: The only thing that can arrive in this state is an
            // acknowledgment of our FIN. If our FIN is now acknowledged,
            // delete the TCB, enter the CLOSED state, and return."
            TcpState::LastAck if fin_acked => {
                self.close_with(now, env, CloseReason::Normal);
                return Step::Done(Disposition::Accepted);
            }
            _ => {}
        }
        Step::Continue
    }

    /// SYN-RECEIVED, "fifth": "If SND.UNA < SEG.ACK =< SND.NXT, then enter
    /// ESTABLISHED state and continue processing with the variables below
    /// set to: SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK.
    /// If the segment acknowledgment is not acceptable, form a reset segment
    /// <SEQ=SEG.ACK><CTL=RST> and send it."
    fn complete_passive_open(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        ack: SeqNum,
        env: &mut Env,
    ) -> Step {
        let core = &mut self.core;
        let State::SynReceived(s) = &mut self.state else {
            return Step::Continue;
        };
        if !(ack.after(s.snd.una) && ack.before_eq(s.snd.nxt)) {
            core.pending.set_rst(PendingRst::Reply {
                seq: ack,
                ack: None,
            });
            return Step::Done(Disposition::ResetSent(DropReason::BadHandshakeAck));
        }
        // TCP_DEFER_ACCEPT (Linux `tcp_check_req`): a bare ACK is dropped,
        // and noted, until the SYN-ACK was resent as often as asked; data
        // (or a FIN) completes the handshake.
        if seg.payload.is_empty()
            && !seg.flags.fin()
            && core.socket.defers_accept(core.xmit.retransmits)
        {
            env.stats.tcp_ext.tcp_defer_accept_drop += 1;
            return Step::Done(Disposition::Dropped(DropReason::DeferAccept));
        }
        let rtt = core.rtt_sample(now, ack, seg);
        s.snd.acknowledge(ack);
        s.snd.set_window(u32::from(seg.window) << s.snd.wscale);
        s.snd.wl1 = seg.seq;
        s.snd.wl2 = ack;
        core.grow_send_buffer(&mut s.snd, &env.config);
        core.on_established_mtu(now, &mut s.snd, env);
        let fin_queued = s.snd.fin == FinState::Queued;
        core.handshake_done(now, ack, rtt, env);
        core.tfo_on_passive_established(now, &s.snd);
        core.pending.set_syn(false);
        self.transition(now, env, |old| match old {
            State::SynReceived(s) if fin_queued => State::FinWait1(FinWait1 {
                snd: s.snd,
                rcv: s.rcv,
            }),
            State::SynReceived(s) => State::Established(Established {
                snd: s.snd,
                rcv: s.rcv,
            }),
            other => other,
        });
        Step::Continue
    }

    /// RFC 9293 §3.10.7.4 "seventh, process the segment text" and "eighth,
    /// check the FIN bit".
    fn process_text(&mut self, now: Instant, seg: &TcpRepr<'_>, env: &mut Env) -> Step {
        let state = self.state.kind();
        let receiving = matches!(
            state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        );
        if !receiving {
            // "CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: This should not occur
            // since a FIN has been received from the remote side. Ignore the
            // segment text."
            return Step::Continue;
        }
        let core = &mut self.core;
        let Some(rcv) = self.state.recv_half_mut() else {
            return Step::Continue;
        };
        // The text of a SYN (a SYN-ACK carrying data) starts after the SYN's
        // own sequence number.
        let text_seq = if seg.flags.syn() {
            seg.seq + 1u32
        } else {
            seg.seq
        };
        let has_new_data = !seg.payload.is_empty() && (text_seq + seg.payload.len()).after(rcv.nxt);
        // RFC 2525 §2.17 and RFC 1122 §4.2.2.13, as Linux does it: once the
        // application closed (or shut down reading) in FIN-WAIT-1/2, new
        // data cannot be delivered: reset the connection.
        if has_new_data
            && matches!(state, TcpState::FinWait1 | TcpState::FinWait2)
            && (core.life.orphan() || core.life.read_shutdown())
        {
            env.stats.tcp_ext.tcp_abort_on_data += 1;
            core.pending.set_rst(match seg.ack {
                Some(ack) => PendingRst::Reply {
                    seq: ack,
                    ack: None,
                },
                None => PendingRst::Reply {
                    seq: SeqNum(0),
                    ack: Some(seg.seq + seg.seg_len()),
                },
            });
            self.close_with(now, env, CloseReason::Aborted);
            return Step::Done(Disposition::ResetSent(DropReason::DataAfterClose));
        }
        if core.take_text(now, seg, text_seq, rcv, env) {
            self.on_fin(now, env);
        }
        Step::Continue
    }

    /// RFC 9293 §3.10.7.4 "eighth, check the FIN bit": the FIN is in order
    /// (RCV.NXT has been advanced over it).
    fn on_fin(&mut self, now: Instant, env: &mut Env) {
        if !self.core.life.orphan() {
            env.events.push(ConnEvent::PeerClosed);
        }
        self.core.life.set_readable_armed(true);
        self.core.notify_readable(env);
        match self.state.kind() {
            // "SYN-RECEIVED STATE, ESTABLISHED STATE: Enter the CLOSE-WAIT
            // state." Linux then delays the ACK (ping-pong mode): the
            // application's close usually follows and the FIN carries it.
            TcpState::SynReceived | TcpState::Established => {
                self.core.ack.schedule();
                self.core.ack.pingpong = true;
                self.transition(now, env, |old| match old {
                    State::Established(s) => State::CloseWait(CloseWait {
                        snd: s.snd,
                        rcv: s.rcv,
                    }),
                    State::SynReceived(s) => State::CloseWait(CloseWait {
                        snd: s.snd,
                        rcv: s.rcv,
                    }),
                    other => other,
                });
            }
            // "FIN-WAIT-1 STATE: If our FIN has been ACKed (perhaps in this
            // segment), then enter TIME-WAIT, start the time-wait timer, turn
            // off the other timers; otherwise, enter the CLOSING state."
            TcpState::FinWait1 => {
                self.core.ack.schedule_now();
                let fin_acked = self.state.send_half().is_some_and(SendHalf::fin_acked);
                if fin_acked {
                    self.enter_time_wait(now, env);
                } else {
                    self.transition(now, env, |old| match old {
                        State::FinWait1(s) => State::Closing(Closing {
                            snd: s.snd,
                            rcv: s.rcv,
                        }),
                        other => other,
                    });
                }
            }
            // "FIN-WAIT-2 STATE: Enter the TIME-WAIT state. Start the
            // time-wait timer, turn off the other timers."
            TcpState::FinWait2 => {
                self.core.ack.schedule_now();
                self.enter_time_wait(now, env);
            }
            _ => {}
        }
    }
}

impl Core {
    /// RFC 9293 §3.10.7.4 "seventh, process the segment text" once the
    /// state allows it (ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2): the ECN echo,
    /// the text stored at `text_seq` (the receive half trims it to the
    /// window and takes a FIN in order), and the ACK it calls for. Returns
    /// whether a FIN was taken ("eighth": the caller's [`Connection::on_fin`]);
    /// it may be this segment's or one held beyond a hole it filled.
    ///
    /// Always inlined into its two callers (the full steps and header
    /// prediction): out of line it cost about 200 instructions a handshake
    /// more, in calls and in what the callers could no longer keep in
    /// registers.
    #[inline(always)]
    fn take_text(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        text_seq: SeqNum,
        rcv: &mut RecvHalf,
        env: &mut Env,
    ) -> bool {
        // RFC 3168 §6.1.3: CWR ends the echo; CE on data starts it (ACKed
        // at once, Linux's quick-ACK on CE).
        if self
            .neg
            .ecn
            .on_segment(seg.flags, env.rx_ecn(), !seg.payload.is_empty())
        {
            self.ack.schedule_now();
        }
        // Above `tcp_mem`'s high mark the buffer takes no new memory
        // (`crate::tcp::memory`); asked at every segment, so that it grows
        // again once memory is back.
        rcv.limit_growth(env.memory.exhausted().then_some(env.config.tcp_rmem.min));
        let had_out_of_order = rcv.has_out_of_order();
        if seg.payload.is_empty() && !seg.flags.fin() {
            // No text and no FIN (a pure ACK): nothing to store, deliver or
            // take, and nothing was staged for it. Only a hole still held
            // is acknowledged at once, as for any segment below.
            if had_out_of_order {
                self.ack.schedule_now();
            }
            return false;
        }
        let received = rcv.receive_with(
            text_seq,
            seg.payload,
            seg.flags.fin(),
            Some(&mut env.spares),
        );
        let rcv_wnd = rcv.window();
        if !seg.payload.is_empty() {
            let rto = self.rtt.rto();
            self.ack.on_data(
                now,
                super::offload::rx_segment_size(seg.payload.len(), env.rx_gso),
                rcv_wnd,
                rto,
                u32::from(self.neg.adv_mss),
            );
            self.xmit.last_data_recv = Stamp::at(now);
        }
        if received.in_order > 0 {
            self.counters.data_mut().bytes_received += u64::from(received.in_order);
        }
        if received.out_of_order {
            env.stats.tcp_ext.tcp_ofo_queue += 1;
        }
        if received.dropped_too_many_holes {
            env.stats.tcp_ext.tcp_ofo_drop += 1;
        }
        if received.dropped_no_space > 0 {
            if rcv.growth_limited() {
                env.stats.tcp_ext.tcp_rcv_q_drop += 1;
                // Memory refused what the window offered: the ACK sent at
                // once advertises no more than there is room for (Linux
                // 6.5+, `ICSK_ACK_NOMEM`).
                rcv.retract_window();
            } else {
                env.stats.tcp_ext.tcp_zero_window_drop += 1;
            }
        }
        // RFC 5681 §4.2: out-of-order data, data filling a hole, and
        // duplicates are acknowledged at once (Linux also while a hole exists).
        if received.out_of_order
            || received.duplicate
            || had_out_of_order
            || received.dropped_too_many_holes
            || received.dropped_no_space > 0
        {
            self.ack.schedule_now();
        }
        if received.duplicate {
            self.ack.enter_quickack_mode(rcv_wnd);
            if received.out_of_order {
                env.stats.tcp_ext.tcp_dsack_ofo_sent += 1;
            }
        }
        if seg.flags.fin() && !received.fin {
            // A FIN beyond a hole (or one we could not take): tell the peer
            // where we are at once.
            self.ack.schedule_now();
        }
        if received.in_order > 0 {
            self.notify_data_readable(rcv, env);
        }
        received.fin
    }

    /// An RTT sample from an ACK of `ack`: the timed segment if it is
    /// covered (Karn: retransmissions cancel timing), else the echoed
    /// timestamp (RFC 7323 §4.1, which disambiguates retransmissions).
    pub(super) fn rtt_sample(
        &mut self,
        now: Instant,
        ack: SeqNum,
        seg: &TcpRepr<'_>,
    ) -> Option<crate::time::Duration> {
        if let Some((end, sent)) = self.xmit.rtt_timed.get()
            && ack.after_eq(end)
        {
            self.xmit.rtt_timed = super::TimedSegment::NONE;
            return Some(now.saturating_duration_since(sent));
        }
        if self.neg.ts_ok() {
            let ts = seg.options.timestamp?;
            if let Some(first_rtx) = self.xmit.rtx_tsval() {
                if (ts.tsecr.wrapping_sub(first_rtx) as i32) < 0 {
                    // Echoes an original transmission: with a retransmission
                    // in flight it would count our timeout as RTT.
                    return None;
                }
                self.xmit.set_rtx_tsval(None);
            }
            return self.ts_clock.rtt_from_echo(now, ts.tsecr);
        }
        None
    }

    /// The handshake completed (our SYN is acknowledged by `ack`, now SND.UNA
    /// and SND.NXT) with an optional RTT sample.
    fn handshake_done(
        &mut self,
        now: Instant,
        ack: SeqNum,
        rtt: Option<crate::time::Duration>,
        env: &mut Env,
    ) {
        self.timers.stop(Timer::Retransmit);
        self.xmit.set_rtx_tsval(None);
        // The peer answered our SYN or SYN-ACK: forward progress.
        self.xmit.neighbour_confirm = true;
        // Our SYN or SYN-ACK is the first segment delivered (Linux counts it
        // in `tcpi_delivered` on both sides).
        self.counters.add_delivered(1);
        // Loss recovery's scoreboard starts with the data after our SYN.
        self.recovery
            .on_established(ack, self.neg.sack_ok(), self.send_mss());
        match rtt {
            Some(sample) => {
                // The estimator's round trips are counted in sequence space
                // from here.
                self.on_rtt_sample(sample, ack, ack, &env.config);
            }
            // RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN
            // segment and the TCP implementation is using an RTO less than 3
            // seconds, the RTO MUST be re-initialized to 3 seconds when data
            // transmission begins".
            None => self
                .rtt
                .on_established_without_sample(&super::rtt_config(&env.config)),
        }
        // RFC 5681 §3.1 as Linux applies it: a handshake that needed more
        // than one retransmission starts with one segment.
        if self.xmit.retransmits > 1 {
            self.cc.on_rto(now, 0, false);
        }
        self.xmit.retransmits = 0;
        self.xmit.set_retrans_stamp(Stamp::NONE);
        self.rtt.reset_backoff();
        if self.life.keepalive() {
            self.timers
                .set(Timer::Keepalive, now + self.keepalive_idle(&env.config));
        }
    }

    /// Replies to an unacceptable segment with an ACK, as RFC 9293
    /// §3.10.7.4 says, limited like Linux's `tcp_oow_rate_limited`: replies
    /// to pure ACKs and SYNs at most once per `tcp_invalid_ratelimit`; data
    /// is always answered (it cannot be part of an ACK loop).
    #[cold]
    #[inline(never)]
    pub(super) fn out_of_window_ack(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        env: &mut Env,
        reason: DropReason,
    ) -> Disposition {
        let loop_risk = seg.payload.is_empty() || seg.flags.syn();
        if loop_risk && self.oow_rate_limited(now, env) {
            match reason {
                DropReason::Paws => env.stats.tcp_ext.tcp_ack_skipped_paws += 1,
                _ => env.stats.tcp_ext.tcp_ack_skipped_seq += 1,
            }
            return Disposition::Dropped(reason);
        }
        self.ack.schedule_now();
        Disposition::DroppedWithAck(reason)
    }

    /// [`Connection::check_retransmitted_syn`]'s answer: the SYN-ACK
    /// again, at most once per `tcp_invalid_ratelimit`; the SYN-ACK timer
    /// restarts, as after any SYN-ACK. Rare: out of line.
    #[cold]
    #[inline(never)]
    fn resend_syn_ack(&mut self, now: Instant, env: &Env) -> Disposition {
        if self.oow_rate_limited(now, env) {
            return Disposition::Dropped(DropReason::OutOfWindow);
        }
        self.pending.set_syn(true);
        self.timers
            .set(Timer::Retransmit, now + self.rto_with_backoff(&env.config));
        Disposition::Accepted
    }

    fn oow_rate_limited(&mut self, now: Instant, env: &Env) -> bool {
        if let Some(last) = self.xmit.last_oow_ack().get()
            && now.saturating_duration_since(last) < env.config.tcp_invalid_ratelimit
        {
            return true;
        }
        self.xmit.set_last_oow_ack(Stamp::at(now));
        false
    }

    /// RFC 5961 §3.2, §4.2, §5.2: a challenge ACK `<SEQ=SND.NXT><ACK=RCV.NXT>`,
    /// limited per connection (`tcp_invalid_ratelimit`) and for the whole
    /// stack (`tcp_challenge_ack_limit` per second, RFC 5961 §7).
    #[cold]
    #[inline(never)]
    pub(super) fn challenge_ack(
        &mut self,
        now: Instant,
        env: &mut Env,
        why: Challenge,
    ) -> Disposition {
        if self.oow_rate_limited(now, env)
            || !env.challenge.take(now, env.config.tcp_challenge_ack_limit)
        {
            env.stats.tcp_ext.tcp_ack_skipped_challenge += 1;
        } else {
            env.stats.tcp_ext.tcp_challenge_ack += 1;
            self.ack.schedule_now();
        }
        Disposition::ChallengeAck(why)
    }

    /// RFC 9293 §3.10.7.4 "fifth" for an acceptable ACK (SND.UNA -
    /// MAX.SND.WND =< SEG.ACK =< SND.NXT): advance SND.UNA, take an RTT
    /// sample, update the window, hand the ACK (and its SACK blocks) to loss
    /// recovery and manage the timers.
    ///
    /// An ACK of nothing while nothing is in flight (SEG.ACK = SND.UNA =
    /// SND.NXT: the peer's data or FIN, or the handshake's ACK once the
    /// SYN-ACK is acknowledged) takes [`Core::process_ack_of_nothing`], the
    /// steps that can act on it; every other ACK the general steps
    /// ([`Core::process_ack_general`]). Both out of line, one copy each for
    /// the two callers (the full steps and header prediction); a dispatch
    /// inside one function would make the short way pay the general steps'
    /// frame (about 25 instructions an ACK).
    #[inline(always)]
    fn process_ack(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        ack: SeqNum,
        snd: &mut SendHalf,
        env: &mut Env,
    ) {
        #[cfg(test)]
        let short_way = !idle_ack::OFF.with(core::cell::Cell::get);
        #[cfg(not(test))]
        let short_way = true;
        if short_way && ack == snd.una && ack == snd.nxt {
            self.process_ack_of_nothing(now, seg, snd, env);
        } else {
            self.process_ack_general(snd, now, seg, ack, env);
        }
    }

    /// [`Core::process_ack`] for any acceptable ACK.
    #[inline(never)]
    fn process_ack_general(
        &mut self,
        snd: &mut SendHalf,
        now: Instant,
        seg: &TcpRepr<'_>,
        ack: SeqNum,
        env: &mut Env,
    ) {
        self.xmit.last_ack_recv = Stamp::at(now);
        // Any acceptable ACK answers outstanding probes (Linux tcp_ack).
        self.xmit.clear_probes();
        let prior_una = snd.una;
        let prior_in_flight = snd.in_flight();
        let prior_wnd = snd.wnd;
        let window_updated = snd.update_window(seg.seq, ack, seg.window) && snd.wnd != prior_wnd;
        let mss = snd.mss;
        let advanced = ack.after(snd.una);
        let mut rtt = None;
        if advanced {
            // "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK.
            // Any segments on the retransmission queue that are thereby
            // entirely acknowledged are removed."
            rtt = self.rtt_sample(now, ack, seg);
            let data_before = snd.buffered();
            let acked = snd.acknowledge(ack);
            let data_acked = data_before - snd.buffered();
            if data_acked > 0 {
                self.counters.data_mut().bytes_acked += data_acked as u64;
            }
            self.counters.add_delivered(acked.div_ceil(mss.max(1)));
            env.stats.tcp_ext.tcp_delivered += u64::from(acked.div_ceil(mss.max(1)));
            if let Some(sample) = rtt {
                self.on_rtt_sample(sample, snd.una, snd.nxt, &env.config);
            }
            // Progress: the give-up clock restarts (Linux clears
            // icsk_retransmits and retrans_stamp once data is acknowledged).
            self.xmit.retransmits = 0;
            self.xmit.set_retrans_stamp(Stamp::NONE);
        }
        // RFC 5681 §2: "DUPLICATE ACKNOWLEDGMENT: ... (a) the receiver of the
        // ACK has outstanding data, (b) the incoming acknowledgment carries no
        // data, (c) the SYN and FIN bits are both off, (d) the acknowledgment
        // number is equal to the greatest acknowledgment received on the given
        // connection (TCP.UNA from [RFC793]) and (e) the advertised window in
        // the incoming acknowledgment equals the advertised window in the last
        // incoming acknowledgment."
        let dupack = !advanced
            && ack == snd.una
            && prior_in_flight > 0
            && seg.payload.is_empty()
            && !seg.flags.syn()
            && !seg.flags.fin()
            && !window_updated;
        let outcome = if self.recovery.has_episode() {
            let facts = recovery_ack::AckFacts {
                ack,
                prior_una,
                prior_in_flight,
                dupack,
                rtt,
            };
            self.recovery_on_ack(now, seg, snd, facts, env)
        } else {
            // Nothing was sent since the last episode ended: loss recovery
            // has nothing to learn from this ACK (`LossRecovery::on_ack`
            // answers the default), so its input is not even built.
            AckOutcome::default()
        };
        // Linux `tcp_ack`: forward progress (new data acknowledged,
        // cumulatively or selectively) or a duplicate ACK shows the peer
        // hears us; the next segment confirms the neighbour.
        if advanced || outcome.newly_sacked > 0 || dupack {
            self.xmit.neighbour_confirm = true;
        }
        if outcome.reduced {
            // RFC 3168 §6.1.2: "set the CWR flag ... of the first new data
            // packet sent after the window reduction" (an ECE's or a loss's,
            // as Linux `tcp_init_cwnd_reduction`).
            self.neg.ecn.queue_cwr();
        }
        self.settle_mtu_probe(snd, outcome.reduced, env);
        if advanced {
            self.xmit.cwnd_limited = false;
        }
        if snd.una == snd.nxt {
            // RFC 6298 §5.2: "When all outstanding data has been
            // acknowledged, turn off the retransmission timer."
            self.xmit.set_rtx_tsval(None);
            self.timers.stop(Timer::Retransmit);
            self.timers.stop(Timer::TailLossProbe);
            self.timers.stop(Timer::RackReorder);
        } else {
            self.rearm_after_partial_ack(now, advanced, &outcome, env);
        }
        // Under memory pressure buffers do not grow (Linux
        // `tcp_should_expand_sndbuf`).
        if advanced && !env.memory.under_pressure() {
            self.grow_send_buffer(snd, &env.config);
        }
        if advanced {
            if snd.free() > 0 {
                self.notify_writable(snd, env);
            }
            if snd.buffered() == 0 {
                self.timers.set(Timer::Idle, now + super::IDLE_RELEASE);
            }
        }
        self.trace_congestion(env, None);
        self.end_probing_if_open(snd);
    }

    /// [`Core::process_ack_general`]'s timers while data is still in
    /// flight after the ACK. Out of line: an ACK of the whole flight (every
    /// ACK of a handshake) never runs it, and inlined it spread the ACK
    /// steps' hot code over more cache lines.
    #[inline(never)]
    fn rearm_after_partial_ack(
        &mut self,
        now: Instant,
        advanced: bool,
        outcome: &AckOutcome,
        env: &mut Env,
    ) {
        if outcome.restart_rto {
            // RFC 6298 §5.3: "When an ACK is received that acknowledges
            // new data, restart the retransmission timer" (RFC 6582 §4
            // limits it during NewReno recovery).
            self.timers
                .set(Timer::Retransmit, now + self.rto_clamped(now, &env.config));
        }
        // RFC 8985 §6.3: the reordering timer.
        match self.recovery.reorder_deadline() {
            Some(at) => self.timers.set(Timer::RackReorder, at),
            None => self.timers.stop(Timer::RackReorder),
        }
        // RFC 8985 §7.2: restart the probe timer on an ACK that
        // acknowledges new data, cumulatively or selectively.
        if !self.recovery.tlp_may_arm() {
            self.timers.stop(Timer::TailLossProbe);
        } else if advanced || outcome.newly_sacked > 0 {
            self.arm_loss_probe(now, env);
        }
    }

    /// RFC 1122 §4.2.2.17: a window that opens ends the probing.
    #[inline(always)]
    fn end_probing_if_open(&mut self, snd: &SendHalf) {
        if snd.wnd > 0 && self.timers.is_armed(Timer::Persist) {
            let room = snd.window_end().since(snd.nxt);
            if room >= snd.unsent().min(snd.mss) {
                self.timers.stop(Timer::Persist);
                self.rtt.reset_backoff();
            }
        }
    }

    /// Linux `tcp_sndbuf_expand`: unless the application fixed SO_SNDBUF,
    /// the send buffer grows to hold two windows' worth of segments.
    fn grow_send_buffer(&self, snd: &mut SendHalf, config: &crate::config::Config) {
        if self.life.sndbuf_locked() {
            return;
        }
        let mss = snd.mss as usize;
        let segments = (self.cc.window() as usize / mss.max(1)).max(config.tcp_init_cwnd as usize);
        let wanted = (2 * segments * mss).clamp(config.tcp_wmem.default, config.tcp_wmem.max);
        if wanted > snd.buffer_limit() {
            snd.set_buffer_limit(wanted);
        }
    }

    /// After an input: send the owed ACK now, or arm the delayed-ACK timer.
    pub(super) fn settle_ack(&mut self, now: Instant, state: &mut State, env: &mut Env) {
        if !self.ack.scheduled {
            return;
        }
        let unacked = state
            .recv_half()
            .map_or(0, |r| r.nxt.since(r.last_ack_sent));
        if self.ack.should_send_now(unacked) || state.recv_half().is_none() {
            self.ack.now = true;
            return;
        }
        if !self.timers.is_armed(Timer::DelayedAck) {
            let delay = self.ack.delay(self.rtt.srtt(), env.config.tcp_delack_max);
            self.timers.set(Timer::DelayedAck, now + delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptability_test_follows_the_rfc_table() {
        let nxt = SeqNum(1000);
        // Zero-length segments.
        assert!(segment_acceptable(nxt, 0, nxt, 0));
        assert!(!segment_acceptable(nxt + 1u32, 0, nxt, 0));
        assert!(segment_acceptable(nxt + 99u32, 0, nxt, 100));
        assert!(!segment_acceptable(nxt + 100u32, 0, nxt, 100));
        assert!(!segment_acceptable(nxt - 1u32, 0, nxt, 100));
        // Data with a zero window: never.
        assert!(!segment_acceptable(nxt, 10, nxt, 0));
        // Data overlapping either edge.
        assert!(segment_acceptable(nxt - 5u32, 10, nxt, 100));
        assert!(!segment_acceptable(nxt - 10u32, 10, nxt, 100));
        assert!(segment_acceptable(nxt + 99u32, 10, nxt, 100));
        assert!(!segment_acceptable(nxt + 100u32, 10, nxt, 100));
    }
}
