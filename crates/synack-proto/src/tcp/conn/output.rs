//! What to send next, and how it is laid out.
//!
//! Read first: RFC 9293 §3.8.6.2.1 (sender silly window avoidance),
//! §3.7.4 and RFC 896 (Nagle; Linux uses Minshall's variant), RFC 5681 §3
//! (the congestion window bounds what is in flight), RFC 6298 §5.1 (arm the
//! retransmission timer when sending), RFC 7323 §3 (timestamps on every
//! segment), RFC 1122 §4.2.2.17 (zero-window probes).
//!
//! Priorities, one segment per call: a RST; our SYN or SYN-ACK; a
//! retransmission; new data (and the FIN); a probe; a bare ACK. Linux's wire
//! habits: PSH on the segment that empties the send queue (unless the write
//! said more was coming), a bare FIN is sent whatever cwnd says, probes are
//! `<SEQ=SND.UNA-1>` with no data (Linux `tcp_xmit_probe_skb`), and a RST
//! ending a connection carries `<SEQ=SND.NXT><ACK=RCV.NXT>` and our timestamp.
//!
//! This module plans (the `Plan` of each segment); [`emit`] lays a planned
//! segment out, writes it and does the bookkeeping that sending it implies.

use super::{Connection, Core, Env, State};
use crate::SeqNum;
use crate::tcp::congestion::CongestionControl;
use crate::tcp::ecn::Ecn;
use crate::tcp::recovery::{NextSegRule, Retransmission};
use crate::tcp::segment::TIMESTAMP_ONLY_LEN;
use crate::tcp::state::TcpState;
use crate::tcp::timer::Timer;
use crate::time::{Instant, Stamp};
use crate::wire::tcp::{FastOpenOption, HEADER_LEN, TcpFlags, TcpOptions, TcpTimestamp};

use super::recv::RecvHalf;
use super::send::{FinState, SendHalf};

mod emit;
mod mtu_probe;

/// Why a segment goes out: decides counters, timers and RTT timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Our SYN or SYN-ACK (a retransmission if `retransmits > 0`).
    Syn,
    /// Data or FIN sent for the first time.
    New,
    /// Data or FIN sent again.
    Retransmission,
    /// A zero-window or keepalive probe.
    Probe,
    /// A bare ACK.
    Ack,
}

/// One segment to send.
#[derive(Clone, Copy, Debug)]
struct Plan {
    seq: SeqNum,
    /// Payload bytes from the send buffer at `seq`.
    len: u32,
    fin: bool,
    push: bool,
    kind: Kind,
    /// What loss recovery chose, for a retransmission.
    rtx: Option<Retransmission>,
    /// Whether it is a probe of loss recovery's or the path MTU search's.
    probe: ProbeRole,
}

/// What a segment of new data or a retransmission probes, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProbeRole {
    None,
    /// A tail loss probe (RFC 8985 §7.3).
    TailLoss,
    /// A path MTU probe (RFC 4821): one segment larger than the MSS.
    PathMtu,
}

impl Plan {
    fn ack(seq: SeqNum) -> Plan {
        Plan {
            seq,
            len: 0,
            fin: false,
            push: false,
            kind: Kind::Ack,
            rtx: None,
            probe: ProbeRole::None,
        }
    }

    /// A tail loss probe (RFC 8985 §7.3).
    fn tail_loss_probe(&self) -> bool {
        self.probe == ProbeRole::TailLoss
    }

    /// A path MTU probe (RFC 4821).
    fn mtu_probe(&self) -> bool {
        self.probe == ProbeRole::PathMtu
    }
}

/// A segment's options as `emit` lays them out.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// The timestamp alone (`nop, nop, TS`): an established connection's
    /// every segment that reports no SACK blocks, written by
    /// [`write_timestamp_segment`] without a [`TcpOptions`] summary.
    Timestamp(TcpTimestamp),
    /// Anything else (a SYN's options, SACK blocks, no timestamps).
    Options(TcpOptions),
}

impl Layout {
    /// Bytes of header and options.
    fn header_len(&self) -> usize {
        match self {
            Layout::Timestamp(_) => TIMESTAMP_ONLY_LEN,
            Layout::Options(o) => HEADER_LEN + o.buffer_len(),
        }
    }

    /// The TSval sent, whether SACK blocks go, and the Fast Open option.
    fn summary(&self) -> (Option<u32>, bool, Option<FastOpenOption>) {
        match self {
            Layout::Timestamp(ts) => (Some(ts.tsval), false, None),
            Layout::Options(o) => (
                o.timestamp.map(|t| t.tsval),
                !o.sack_blocks.is_empty(),
                o.fast_open,
            ),
        }
    }

    fn into_options(self) -> TcpOptions {
        match self {
            Layout::Timestamp(ts) => TcpOptions {
                timestamp: Some(ts),
                ..TcpOptions::default()
            },
            Layout::Options(o) => o,
        }
    }
}

/// A segment laid out by [`Core::emit`] or [`Core::emit_syn`], before the
/// plan's FIN and PSH bits and its payload.
#[derive(Clone, Copy, Debug)]
struct Segment {
    /// `Some` sets the ACK flag.
    ack: Option<SeqNum>,
    /// The window field as sent.
    window: u16,
    /// Control bits (SYN, ECN's) so far.
    flags: TcpFlags,
    /// The IP header's ECN codepoint.
    ip_ecn: Ecn,
    layout: Layout,
}

impl Connection {
    /// Writes the next segment this connection wants to send into the front
    /// of `buf` (which must hold a full segment: MSS plus 60 bytes) and
    /// returns its length; `None` when there is nothing to send now. Call
    /// until `None` after every input.
    ///
    /// Inline in the stack's output path, which has a second, cold copy
    /// for the loopback (`Stack::transmit_conn_looped`): left to itself,
    /// the compiler made it a call for both.
    #[must_use]
    #[inline(always)]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8], env: &mut Env) -> Option<usize> {
        // A RST, or a GSO packet's next piece, goes first: one test for
        // both, the writing out of line.
        if self.core.pending.rst_or_pieces()
            && let Some(n) = self.transmit_rst_or_piece(now, buf, env)
        {
            return Some(n);
        }
        let kind = self.state.kind();
        let core = &mut self.core;
        match &mut self.state {
            State::Closed(_) => None,
            State::TimeWait(t) => {
                if !core.ack.now {
                    return None;
                }
                core.ack.on_ack_sent();
                let mut ack = t.tw.ack_segment(now, core.local, core.remote);
                ack.md5 = core.neg.md5();
                let n = ack.write(buf).ok()?;
                core.counted_control(env);
                Some(n)
            }
            State::SynSent(s) => {
                if !core.pending.syn() {
                    return None;
                }
                core.emit_syn(now, &core.syn_plan(&s.snd), &mut s.snd, None, buf, env)
            }
            State::SynReceived(s) => {
                if core.pending.syn() {
                    let plan = core.syn_plan(&s.snd);
                    return core.emit_syn(now, &plan, &mut s.snd, Some(&mut s.rcv), buf, env);
                }
                if core.tfo_may_send_in_syn_received() {
                    // RFC 7413 §4.2.2: a Fast Open child answers at once.
                    let established = TcpState::Established;
                    let n = core.transmit_synchronized(
                        now,
                        established,
                        &mut s.snd,
                        &mut s.rcv,
                        buf,
                        env,
                    )?;
                    // Its `may_transmit` is not a synchronized one's.
                    env.tx.more = None;
                    return Some(n);
                }
                if core.ack.now {
                    return core.emit(now, &Plan::ack(s.snd.nxt), &mut s.snd, &mut s.rcv, buf, env);
                }
                None
            }
            other => {
                let (snd, rcv) = other.halves_mut()?;
                core.transmit_synchronized(now, kind, snd, rcv, buf, env)
            }
        }
    }
}

impl Connection {
    /// The next piece of the software GSO packet being sent (`conn::gso`)
    /// when that is what [`Connection::poll_transmit`] would write now
    /// (pieces are pending and no RST goes first): its length, `None`
    /// otherwise. For a stack that knows a packet is under way
    /// ([`TxOffload::packet`](super::offload::TxOffload::packet)): a piece
    /// changes no timer and nothing else a poll reports but the end of the
    /// connection's turn, which the last piece's PSH marks as any segment
    /// that may be the last.
    pub fn poll_piece(&mut self, buf: &mut [u8], env: &mut Env) -> Option<usize> {
        if !self.core.pending.pieces() || self.core.pending.rst().is_some() {
            return None;
        }
        self.transmit_piece(buf, env)
    }

    /// Whether the peer has been heard since the last call (see
    /// `XmitState::neighbour_confirm`): the stack asks as each segment
    /// leaves and confirms the next hop's ARP entry.
    #[inline]
    pub fn take_neighbour_confirm(&mut self) -> bool {
        core::mem::take(&mut self.core.xmit.neighbour_confirm)
    }

    /// Whether a software GSO packet has pieces still to write.
    pub fn has_pieces(&self) -> bool {
        self.core.pending.pieces()
    }

    /// A pending RST, else the next piece of a GSO packet
    /// ([`Connection::transmit_piece`]); `None` lets the poll go on.
    #[inline(never)]
    fn transmit_rst_or_piece(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        env: &mut Env,
    ) -> Option<usize> {
        if let Some(rst) = self.core.pending.take_rst() {
            return self.core.write_rst(now, rst, buf, env);
        }
        self.transmit_piece(buf, env)
    }

    /// The next piece of the software GSO packet being sent (`conn::gso`),
    /// already accounted as sent when its first piece went: written first,
    /// whatever came in since, as a packet handed to a device goes out
    /// whole. `None`, with the rest given up, if it cannot go as planned
    /// (see `SendHalf::write_next_piece`; a connection that ended has no
    /// send half). The stack learns whether the turn ends from the last
    /// piece's PSH, as after any segment that may be the last.
    fn transmit_piece(&mut self, buf: &mut [u8], env: &mut Env) -> Option<usize> {
        let core = &mut self.core;
        let written = self
            .state
            .send_half_mut()
            .and_then(|snd| snd.write_next_piece(buf));
        let Some((n, last, ecn)) = written else {
            core.pending.set_pieces(false);
            return None;
        };
        if last {
            core.pending.set_pieces(false);
        }
        #[cfg(test)]
        in_packet::PIECES.with(|p| p.set(p.get() + 1));
        env.tx.ecn = ecn;
        Some(n)
    }

    /// Whether [`Connection::poll_transmit`] may have a segment to send.
    /// Conservative: `false` only when a poll now would certainly return
    /// `None` and change nothing, so a caller may skip it (the stack skips
    /// it after an input or a segment). A poll with nothing to send still
    /// clears a forced push and arms the persist timer for data that cannot
    /// go, and notes a full congestion window or scoreboard; each needs
    /// something pending, unsent or full, which makes this `true`. What
    /// else could send (a due ACK, a RST, our SYN, probes, data or a FIN
    /// not yet sent, a segment marked lost, fast recovery, a Fast Open
    /// child's data) makes it `true` as well.
    pub fn may_transmit(&self) -> bool {
        let core = &self.core;
        if core.pending.any() || core.ack.now {
            return true;
        }
        match &self.state {
            State::Closed(_) | State::TimeWait(_) | State::SynSent(_) => false,
            // RFC 7413 §4.2.2: a Fast Open child may send data here.
            State::SynReceived(_) => core.tfo_is_passive(),
            other => other
                .send_half()
                .is_none_or(|snd| core.send_half_may_transmit(snd)),
        }
    }
}

impl Core {
    fn syn_plan(&self, snd: &SendHalf) -> Plan {
        Plan {
            // Fast Open data rides on the first SYN only.
            len: self.tfo_syn_data_len(snd),
            kind: Kind::Syn,
            ..Plan::ack(snd.iss)
        }
    }

    /// [`Connection::may_transmit`] for a synchronized connection with a
    /// send half, its pending flags and due ACK aside.
    #[inline(always)]
    fn send_half_may_transmit(&self, snd: &SendHalf) -> bool {
        // Data in flight alone sends nothing: its retransmission needs a
        // loss mark or a timer, which sets a pending flag.
        snd.unsent() > 0
            || snd.fin == FinState::Queued
            || !self.recovery.is_quiet()
            // An empty poll would note a full window (RFC 7661).
            || self.pipe() >= self.send_window()
    }

    /// The window the sender may fill in flight (PRR's during recovery).
    pub(super) fn send_window(&self) -> u32 {
        self.recovery.send_window(&self.cc)
    }

    /// Bytes counted against the congestion window: RFC 6675 pipe (SACKed
    /// and lost segments have left the network; retransmissions count).
    pub(super) fn pipe(&self) -> u32 {
        self.recovery.pipe()
    }

    /// Whether the congestion window has room; notes when it has not
    /// (RFC 7661: the window is being used).
    fn cwnd_allows(&mut self) -> bool {
        if self.pipe() >= self.send_window() {
            self.xmit.cwnd_limited = true;
            return false;
        }
        true
    }

    /// The next segment of a synchronized connection (or of a Fast Open
    /// child in SYN-RECEIVED). After one that may be the connection's last
    /// for now (no payload, PSH or FIN) it also answers
    /// [`Connection::may_transmit`] for the stack (`env.tx.more`), which
    /// asks it then to know whether the connection's turn ends: here the
    /// send half is at hand, and there is no call or state dispatch.
    fn transmit_synchronized(
        &mut self,
        now: Instant,
        state: TcpState,
        snd: &mut SendHalf,
        rcv: &mut RecvHalf,
        buf: &mut [u8],
        env: &mut Env,
    ) -> Option<usize> {
        // The usual segment of a bulk transfer, planned without the steps
        // that cannot change it, and written by an `emit` of its own, which
        // the plan's constants (new data, one MSS, no FIN) thin down.
        if let Some(plan) = self.plan_inside_packet(state, snd, env) {
            let n = self.emit(now, &plan, snd, rcv, buf, env)?;
            if plan.push {
                env.tx.more = Some(self.synchronized_may_transmit(snd));
            }
            return Some(n);
        }
        // A bare ACK with nothing else to send planned without the long
        // way's steps, which would find nothing else; it knows its answer
        // to `may_transmit` too (`more`).
        let (plan, more) = match self.bare_ack_only(snd) {
            Some(cwnd_room) => (Plan::ack(snd.nxt), Some(!cwnd_room)),
            None => match self.plan_first_in_flight(now, state, snd, env) {
                Some(plan) => (plan, None),
                None => {
                    let Some(plan) = self.plan_synchronized(now, state, snd, env) else {
                        self.pending.set_force_push(false);
                        self.arm_persist_if_stalled(now, snd, env);
                        return None;
                    };
                    (plan, None)
                }
            },
        };
        let maybe_last = plan.len == 0 || plan.push || plan.fin;
        // The long way's one call site: whatever its plan, one `emit`.
        let n = self.emit(now, &plan, snd, rcv, buf, env)?;
        // The first piece of a software GSO packet (`gso_packet`) went as
        // a segment of its own: the others are accounted now.
        if self.pending.pieces() {
            self.after_first_piece(now, snd, rcv, &buf[..n], env);
        }
        if maybe_last {
            debug_assert!(more.is_none_or(|m| m == self.synchronized_may_transmit(snd)));
            env.tx.more = Some(more.unwrap_or_else(|| self.synchronized_may_transmit(snd)));
        }
        Some(n)
    }

    /// New data that all fits one segment, or a FIN alone, with nothing in
    /// flight before it: a request's or a response's segment, a FIN after
    /// everything was acknowledged. What [`Core::plan_synchronized`] plans
    /// then, without its steps that cannot change it: nothing is pending
    /// (a loss probe, a probe, a push, a RST) and loss recovery is quiet,
    /// so RFC 6675 NextSeg finds nothing to retransmit and the scoreboard
    /// has room; with nothing in flight Nagle holds nothing (no small
    /// segment is unacknowledged) and no super-segment can be built (at
    /// most one MSS waits), and what may go is the segment itself. Its one
    /// effect is kept: the window check, which notes a full window (RFC
    /// 7661). `None` sends the connection the long way: data cut by the
    /// window or a record, more than an MSS, a partial segment the cork or
    /// MSG_MORE holds, a full window (always, with `in_packet::OFF` set in
    /// test builds).
    #[inline(always)]
    fn plan_first_in_flight(
        &mut self,
        now: Instant,
        state: TcpState,
        snd: &mut SendHalf,
        env: &mut Env,
    ) -> Option<Plan> {
        #[cfg(test)]
        if in_packet::OFF.with(core::cell::Cell::get) {
            return None;
        }
        if snd.in_flight() != 0
            || self.pending.any()
            || !sends_new_data(state)
            || !self.recovery.is_quiet()
        {
            return None;
        }
        let seq = snd.nxt;
        let unsent = snd.unsent();
        let fin_queued = snd.fin == FinState::Queued;
        let wnd_room = snd.window_end().since(seq);
        let room = self.cwnd_allows();
        let plan = if unsent == 0 {
            // A FIN alone: Linux sends it whatever cwnd says
            // (`tcp_cwnd_test`), but within the peer's window.
            if !(fin_queued && seq == snd.data_end() && (wnd_room > 0 || snd.wnd > 0)) {
                return None;
            }
            Plan {
                fin: true,
                kind: Kind::New,
                ..Plan::ack(seq)
            }
        } else {
            let mss = snd.mss;
            // RFC 9293 §3.8.6.2.1: the tail of the data waits for the cork
            // or MSG_MORE unless a FIN follows it (`partial_held`).
            let held = unsent < mss && !fin_queued && (self.life.cork() || snd.more);
            if !room || unsent > mss || unsent > wnd_room || unsent > snd.record_room(seq) || held {
                return None;
            }
            if self.xmit.last_data_sent.get().is_some() {
                self.restart_after_idle(now, env);
                // The restart may have shrunk the window: asked again, as
                // the long way asks it after the restart (which, done,
                // is not done again there: the idle time is now zero).
                if !self.cwnd_allows() {
                    return None;
                }
            }
            // `gso_push` for at most one segment that may go: inside the
            // current GSO packet, or a packet of its own.
            let gso_push = Self::gso_push_inside(seq, unsent, snd).unwrap_or_else(|| {
                snd.set_gso_end(seq);
                false
            });
            Plan {
                len: unsent,
                fin: fin_queued && (seq + unsent).before(snd.window_end() + 1u32),
                push: !snd.more || gso_push,
                kind: Kind::New,
                ..Plan::ack(seq)
            }
        };
        #[cfg(test)]
        in_packet::FIRST.with(|n| n.set(n.get() + 1));
        Some(plan)
    }

    /// Whether the next segment is a bare ACK and nothing else can go: an
    /// ACK is due (`ack.now`), nothing is pending (a probe, a push, a RST),
    /// loss recovery is quiet (NextSeg finds nothing, the scoreboard has
    /// room, no fast recovery) and no data or FIN waits. Then
    /// [`Core::plan_synchronized`]'s steps find nothing but the ACK: no
    /// retransmission, no new data or FIN, no speculative retransmission,
    /// no probe. Their one effect is kept: `plan_retransmission`'s window
    /// check, which notes a full window (RFC 7661). Its answer is
    /// returned: once the ACK is out, the connection may transmit again
    /// only if the window is full (an empty poll would note it again:
    /// [`Connection::may_transmit`]), as nothing else the ACK leaves
    /// changes. Every ACK of a handshake's SYN-ACK, of a request or of a
    /// response is one, and a bulk receiver's. `None` sends the connection
    /// the long way (always, with `in_packet::OFF` set in test builds).
    #[inline(always)]
    fn bare_ack_only(&mut self, snd: &SendHalf) -> Option<bool> {
        #[cfg(test)]
        if in_packet::OFF.with(core::cell::Cell::get) {
            return None;
        }
        if !self.ack.now
            || self.pending.any()
            || !self.recovery.is_quiet()
            || snd.unsent() > 0
            || snd.fin == FinState::Queued
        {
            return None;
        }
        #[cfg(test)]
        in_packet::BARE_ACKS.with(|n| n.set(n.get() + 1));
        Some(self.cwnd_allows())
    }

    /// [`Connection::may_transmit`] for a synchronized connection with send
    /// half `snd`. Out of line: a burst's segments do not ask it, and the
    /// writer's registers stay its own.
    #[inline(never)]
    fn synchronized_may_transmit(&self, snd: &SendHalf) -> bool {
        self.pending.any() || self.ack.now || self.send_half_may_transmit(snd)
    }

    /// The next segment of a synchronized connection, in priority order
    /// (see the module's doc); `None` when nothing may go now. Out of
    /// line: the short ways plan nearly every segment of a short
    /// connection, and this long way's code kept inline would spread the
    /// hot code around it over more cache lines.
    #[inline(never)]
    fn plan_synchronized(
        &mut self,
        now: Instant,
        state: TcpState,
        snd: &mut SendHalf,
        env: &mut Env,
    ) -> Option<Plan> {
        let may_send = sends_new_data(state);
        // RFC 8985 §7.3: a due probe goes first, whatever cwnd says.
        if self.pending.loss_probe() {
            self.pending.set_loss_probe(false);
            if let Some(plan) = self.plan_loss_probe(now, snd, env, may_send) {
                return Some(plan);
            }
        }
        // RFC 6675 §4 NextSeg: (1) lost segments, (2) new data, (3)/(4)
        // speculative and rescue retransmissions.
        if let Some(plan) = self.plan_retransmission(snd) {
            return Some(plan);
        }
        if may_send && let Some(plan) = self.plan_new_data(now, snd, env, false) {
            return Some(plan);
        }
        if let Some(plan) = self.plan_speculative(snd) {
            return Some(plan);
        }
        if self.pending.probe() {
            // Urgent mode: a probe at SND.UNA first, carrying the pointer
            // to a peer whose window is closed (`conn::urgent`).
            if snd.take_urgent_probe() {
                return Some(Plan {
                    kind: Kind::Probe,
                    ..Plan::ack(snd.una)
                });
            }
            self.pending.set_probe(false);
            return Some(Plan {
                kind: Kind::Probe,
                ..Plan::ack(snd.una - 1u32)
            });
        }
        self.ack.now.then(|| Plan::ack(snd.nxt))
    }

    /// A full segment of new data inside the GSO packet being sent (see
    /// `gso`) by a connection in a state that sends data, when nothing else
    /// could go first: what the steps of
    /// [`Core::plan_synchronized`] plan then, without them. They would find
    /// no pending probe, push or RST (`pending` is empty), nothing to
    /// retransmit and room in the scoreboard (`is_quiet`: RFC 6675 NextSeg
    /// rule (1) finds nothing, and rules (3) and (4) apply in fast recovery
    /// only), no idle restart (data is in flight), a full MSS within the
    /// data (not its tail, so no FIN and no PSH for it), the peer's window
    /// and the record (no cut at its end), no super-segment to build, and
    /// room in cwnd. Then the segment's PSH depends on the packet's end
    /// alone, not on the data or window beyond it (`gso_push_inside`), so
    /// the packet's sizing (Nagle, the cork, the pacing rate) is not worked
    /// out again. `None` sends the connection the long way, which decides
    /// (and notes a full window) as before; with `in_packet::OFF` set (test
    /// builds) it always goes that way, for the differential tests.
    #[inline(always)]
    fn plan_inside_packet(
        &mut self,
        state: TcpState,
        snd: &mut SendHalf,
        env: &Env,
    ) -> Option<Plan> {
        #[cfg(test)]
        if in_packet::OFF.with(core::cell::Cell::get) {
            return None;
        }
        let (seq, mss) = (snd.nxt, snd.mss);
        // First what most other polls fail, cheaply: a connection's segments
        // outside bulk transfers (a request, an ACK, a FIN) are each a GSO
        // packet of their own or none, so SND.NXT is not inside one. The
        // state is asked once per poll this way (the long way asks it too).
        if !snd.gso_end().after(seq) || !sends_new_data(state) {
            return None;
        }
        let full = mss > 0
            && snd.unsent() > mss
            && snd.window_end().since(seq) >= mss
            && snd.record_room(seq) > mss;
        if !full
            || self.pending.any()
            || snd.in_flight() == 0
            || env.tx.max_pieces(mss) > 1
            || !self.recovery.is_quiet()
            || self.pipe() >= self.send_window()
        {
            return None;
        }
        let push = Self::gso_push_inside(seq, mss, snd)?;
        #[cfg(test)]
        in_packet::TAKEN.with(|n| n.set(n.get() + 1));
        Some(Plan {
            len: mss,
            push,
            kind: Kind::New,
            ..Plan::ack(seq)
        })
    }

    /// RFC 6675 NextSeg rule (1): the next lost segment, when the window
    /// has room (PRR lets the first fast retransmission through). The rest
    /// of a segment being resent in pieces goes whatever the window says:
    /// the pipe has counted all of it since its first piece went (a record
    /// is one segment as first sent), so waiting for room would wait for
    /// the ACK of bytes not yet resent, that is for the next timeout, once
    /// per piece, after the MSS fell below the window (black hole
    /// detection's halvings: a piece per timeout where Linux, which splits
    /// the segment, sends a window of pieces).
    fn plan_retransmission(&mut self, snd: &SendHalf) -> Option<Plan> {
        if !self.recovery.resending_in_pieces() && !self.cwnd_allows() {
            return None;
        }
        let rtx = self.recovery.next_retransmission(snd.mss)?;
        retransmission_plan(snd, rtx)
    }

    /// RFC 6675 NextSeg rules (3) and (4): only when no new data can go
    /// (none is waiting, or the peer's window is full) and cwnd has room.
    fn plan_speculative(&mut self, snd: &SendHalf) -> Option<Plan> {
        // Rules (3) and (4) apply in fast recovery only (see
        // `Episode::next_speculative`): outside it, nothing to ask, and
        // the window was already judged (and a full one noted) by
        // `plan_retransmission` and `plan_new_data` in this poll.
        if !self.recovery.in_fast_recovery() {
            return None;
        }
        if snd.unsent() > 0 && snd.window_end().after(snd.nxt) {
            return None;
        }
        if !self.cwnd_allows() {
            return None;
        }
        let rtx = self.recovery.next_speculative(snd.mss)?;
        retransmission_plan(snd, rtx)
    }

    /// RFC 8985 §7.3: "If previously unsent data is available and can be
    /// transmitted ... transmit ... one new segment ...; otherwise ...
    /// retransmit ... the highest sequence number sent so far".
    fn plan_loss_probe(
        &mut self,
        now: Instant,
        snd: &mut SendHalf,
        env: &mut Env,
        may_send: bool,
    ) -> Option<Plan> {
        if snd.in_flight() == 0 {
            return None;
        }
        if may_send
            && snd.unsent() > 0
            && let Some(plan) = self.plan_new_data(now, snd, env, true)
        {
            return Some(Plan {
                probe: ProbeRole::TailLoss,
                ..plan
            });
        }
        let (start, end) = self.recovery.last_segment()?;
        let rtx = Retransmission {
            start,
            end: (start + snd.mss).min_seq(end),
            record_end: end,
            rule: NextSegRule::Lost,
        };
        let plan = retransmission_plan(snd, rtx)?;
        Some(Plan {
            probe: ProbeRole::TailLoss,
            ..plan
        })
    }

    /// New data (and the FIN) within the peer's window and the congestion
    /// window (unless `probe`: a loss probe ignores cwnd), with silly window
    /// avoidance, Nagle and the cork.
    #[inline(always)]
    fn plan_new_data(
        &mut self,
        now: Instant,
        snd: &mut SendHalf,
        env: &mut Env,
        probe: bool,
    ) -> Option<Plan> {
        if !self.recovery.has_room() {
            // The scoreboard is full (MAX_RECORDS): wait for ACKs.
            self.xmit.cwnd_limited = true;
            return None;
        }
        let seq = snd.nxt;
        let data_end = snd.data_end();
        let unsent = snd.unsent();
        let fin_queued = snd.fin == FinState::Queued;
        let wnd_room = snd.window_end().since(seq);
        if unsent == 0 {
            // A FIN alone: Linux sends it whatever cwnd says
            // (`tcp_cwnd_test`), but within the peer's window.
            if fin_queued && seq == data_end && (wnd_room > 0 || snd.wnd > 0) {
                return Some(Plan {
                    fin: true,
                    kind: Kind::New,
                    ..Plan::ack(seq)
                });
            }
            return None;
        }
        let mss = snd.mss;
        // A segment ends at a record boundary (MSG_EOR, `conn::records`).
        let record_room = snd.record_room(seq);
        let len = unsent.min(mss).min(wnd_room).min(record_room);
        // Cut short by a record's end, not by the data or the window: it
        // goes as it is (Linux applies Nagle only to the last buffer).
        let record_cut = len == record_room && len < unsent.min(wnd_room);
        if len == 0 {
            return None; // window closed: the persist timer probes
        }
        if snd.in_flight() == 0 && self.xmit.last_data_sent.get().is_some() {
            self.restart_after_idle(now, env);
        }
        if !probe && !self.cwnd_allows() {
            return None;
        }
        // RFC 4821: a path MTU search's probe, when one may go.
        if !probe && self.rare.is_some() {
            match self.plan_mtu_probe(now, snd, env) {
                mtu_probe::ProbeStep::Send(plan) => return Some(plan),
                mtu_probe::ProbeStep::Wait => return None,
                mtu_probe::ProbeStep::Skip => {}
            }
        }
        // Segmentation offload: whole MSS pieces in one super-segment. A
        // tail shorter than the MSS is left for the next call, where the
        // rules below (SWS avoidance, Nagle, the cork) apply to it as usual.
        if !probe && len == mss {
            let n = self.tso_pieces(snd, env, unsent.min(record_room), wnd_room);
            if n > 1 {
                let len = n * mss;
                self.pending.set_force_push(false);
                // It is the GSO packet: PSH on it, as Linux sets it on every
                // GSO packet of two or more segments (see `gso`); the device
                // leaves it on the last piece. The FIN goes in a segment of
                // its own after it (a bare FIN, or with the tail).
                snd.set_gso_end(seq + len);
                return Some(Plan {
                    len,
                    push: true,
                    kind: Kind::New,
                    ..Plan::ack(seq)
                });
            }
        }
        let is_tail = len == unsent;
        if len < mss
            && !record_cut
            && !self.pending.force_push()
            && self.partial_held(len, is_tail, snd)
        {
            return None;
        }
        // What may go now, up to a partial segment that would wait: the GSO
        // packet Linux would build ends there at the latest, and at the
        // record's end (a GSO packet is one buffer, which never crosses it).
        let avail = unsent.min(wnd_room).min(record_room);
        let partial = avail % mss;
        let sendable = if partial != 0
            && avail != record_room
            && !self.pending.force_push()
            && self.partial_held(partial, avail == unsent, snd)
        {
            avail - partial
        } else {
            avail
        };
        let gso_push = if probe {
            snd.set_gso_end(seq); // a loss probe is a packet of its own
            false
        } else {
            self.gso_push(seq, len, sendable.max(len), snd, &env.config)
        };
        self.pending.set_force_push(false);
        if !probe && len == mss {
            let room = (unsent, wnd_room, record_room);
            if let Some((len, push)) = self.gso_packet(seq, room, snd, env) {
                // Its first piece goes as planned here; `after_first_piece`
                // accounts the others, whose PSH is the packet's.
                snd.plan_pieces(seq + mss, seq + len, push);
                self.pending.set_pieces(true);
                return Some(Plan {
                    len: mss,
                    kind: Kind::New,
                    ..Plan::ack(seq)
                });
            }
        }
        let fin = fin_queued && is_tail && (seq + len).before(snd.window_end() + 1u32);
        Some(Plan {
            len,
            fin,
            // Linux: PSH where the written data ends (`tcp_push`), unless
            // the write said more follows, and on every GSO packet of two
            // or more segments. A record ends where a write ended.
            push: (is_tail && !snd.more) || gso_push || record_cut,
            kind: Kind::New,
            ..Plan::ack(seq)
        })
    }

    /// New data about to go with nothing in flight, after data went
    /// before: RFC 5681 §4.1 (Linux `tcp_slow_start_after_idle`) restarts
    /// the window after an idle period longer than the RTO, and RFC 9438
    /// §5.8 keeps the idle time out of congestion avoidance. Its callers
    /// test the stamp first, inline: a connection's first data (every
    /// request and response of a handshake) then makes no call.
    fn restart_after_idle(&mut self, now: Instant, env: &Env) {
        let idle = self
            .xmit
            .last_data_sent
            .get()
            .map(|t| now.saturating_duration_since(t))
            .filter(|idle| !idle.is_zero());
        if let Some(idle) = idle {
            let rto = self.rtt.rto();
            if env.config.tcp_slow_start_after_idle && idle > rto {
                self.cc
                    .on_idle_restart(now, idle, rto, env.config.tcp_init_cwnd);
            }
            self.cc.on_send_after_idle(now, idle);
            self.xmit.last_data_sent = Stamp::at(now);
        }
    }

    /// How many MSS-sized pieces the next super-segment holds: as many as
    /// the segment-at-a-time loop would send while pipe is below the
    /// window (RFC 5681 §3: "at most cwnd"), within the peer's window, the
    /// unsent data, the offload's size and the scoreboard's room.
    fn tso_pieces(&self, snd: &SendHalf, env: &Env, unsent: u32, wnd_room: u32) -> u32 {
        let mss = snd.mss;
        let max = env.tx.max_pieces(mss);
        // In urgent mode each segment carries its own pointer.
        if max <= 1 || snd.urgent_mode().is_some() {
            return 1;
        }
        max.min(self.segments_that_may_go(mss, unsent.min(wnd_room)))
    }

    /// Whether a partial segment of `len` bytes waits: one cut short by the
    /// window goes only if it is at least half the largest window the peer
    /// offered (RFC 9293 §3.8.6.2.1 (3)); the tail of the data (`is_tail`)
    /// waits for the cork, MSG_MORE or Nagle, unless a FIN follows it.
    fn partial_held(&self, len: u32, is_tail: bool, snd: &SendHalf) -> bool {
        if !is_tail {
            return len < snd.max_wnd / 2;
        }
        // Linux `tcp_nagle_test`: nothing holds data in urgent mode.
        snd.fin != FinState::Queued
            && (self.life.cork() || snd.more || self.nagle_holds(snd))
            && snd.urgent_mode().is_none()
    }

    /// Nagle's algorithm as Linux implements it (Minshall's variant, Linux
    /// `tcp_minshall_check`): a small segment waits while an earlier small
    /// segment is unacknowledged.
    fn nagle_holds(&self, snd: &SendHalf) -> bool {
        !self.life.nodelay() && snd.small_end().after(snd.una) && snd.small_end().before_eq(snd.nxt)
    }

    /// With nothing in flight, data that cannot go (a closed window, or the
    /// cork) needs a timer: the persist timer probes the window (RFC 1122
    /// §4.2.2.17) or, for the cork, pushes after at least 200 ms (Linux's
    /// probe timer, `tcp_check_probe_timer`).
    fn arm_persist_if_stalled(&mut self, now: Instant, snd: &SendHalf, env: &Env) {
        if self.timers.is_armed(Timer::Persist) || snd.in_flight() > 0 {
            return;
        }
        if snd.unsent() == 0 && snd.fin != FinState::Queued {
            return;
        }
        let when = self
            .rto_with_backoff(&env.config)
            .max(env.config.tcp_rto_min)
            .min(env.config.tcp_rto_max);
        self.timers.set(Timer::Persist, now + when);
    }
}

/// Whether a synchronized connection in `state` may send new data:
/// FIN-WAIT-1, CLOSING and LAST-ACK may still hold data queued before the
/// FIN (a crossing FIN moves FIN-WAIT-1 to CLOSING).
#[inline(always)]
fn sends_new_data(state: TcpState) -> bool {
    matches!(
        state,
        TcpState::Established
            | TcpState::CloseWait
            | TcpState::FinWait1
            | TcpState::Closing
            | TcpState::LastAck
    )
}

/// Test builds' switch and counts for the short ways,
/// [`Core::plan_inside_packet`] and [`Core::bare_ack_only`]: with `OFF` set
/// every segment is planned the long way; `TAKEN` counts the segments the
/// first planned, `BARE_ACKS` the bare ACKs the second did.
#[cfg(test)]
pub(super) mod in_packet {
    use core::cell::Cell;

    std::thread_local! {
        pub static OFF: Cell<bool> = const { Cell::new(false) };
        pub static TAKEN: Cell<u64> = const { Cell::new(0) };
        pub static BARE_ACKS: Cell<u64> = const { Cell::new(0) };
        pub static FIRST: Cell<u64> = const { Cell::new(0) };
        /// Pieces of software GSO packets written after their first.
        pub static PIECES: Cell<u64> = const { Cell::new(0) };
    }
}

/// The segment for a retransmission `rtx`: payload up to the data's end,
/// the FIN if the record holds it. Only the segment at SND.UNA may go
/// beyond the peer's window (as Linux's `tcp_retransmit_skb` allows).
fn retransmission_plan(snd: &SendHalf, rtx: Retransmission) -> Option<Plan> {
    let seq = rtx.start;
    let data_end = snd.data_end();
    let len = if seq.before(data_end) {
        let len = rtx.record_end.min_seq(data_end).since(seq).min(snd.mss);
        // Never across a record boundary (MSG_EOR), e.g. when a record
        // larger than the MSS goes again in pieces.
        len.min(snd.record_room(seq))
    } else {
        0
    };
    // The FIN rides along when the record holds it and the data fits.
    let fin = snd.fin == FinState::Sent && rtx.record_end.after(data_end) && seq + len == data_end;
    if len == 0 && !fin {
        return None;
    }
    if seq != snd.una && (seq + len).after(snd.window_end()) {
        return None;
    }
    Some(Plan {
        len,
        fin,
        push: len > 0 && (seq + len == data_end || snd.ends_record(seq + len)),
        kind: Kind::Retransmission,
        rtx: Some(Retransmission {
            end: seq + len + u32::from(fin),
            ..rtx
        }),
        ..Plan::ack(seq)
    })
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    /// The timestamp layout stands for the summary with the timestamp alone:
    /// same header length, same TSval, no SACK, no Fast Open; so writing it
    /// with `write_timestamp_segment` or through `write_segment` differs in
    /// nothing (`timestamp_segment_matches_the_general_writer`).
    #[test]
    fn a_timestamp_layout_is_the_timestamp_only_summary() {
        let ts = TcpTimestamp { tsval: 5, tsecr: 7 };
        let layout = Layout::Timestamp(ts);
        let options = layout.into_options();
        assert_eq!(options.only_timestamp(), Some(ts));
        assert_eq!(layout.header_len(), HEADER_LEN + options.buffer_len());
        assert_eq!(layout.summary(), Layout::Options(options).summary());
        assert_eq!(layout.summary(), (Some(5), false, None));
        // SACK blocks need the general layout, and count as sent.
        let mut with_sack = options;
        with_sack.sack_blocks.push((SeqNum(10), SeqNum(20)));
        let general = Layout::Options(with_sack);
        assert_eq!(general.header_len(), HEADER_LEN + 12 + 12);
        assert_eq!(general.summary(), (Some(5), true, None));
    }
}

#[cfg(test)]
mod probe_timer_tests;

#[cfg(test)]
mod answer_tests {
    use super::super::tests::{Harness, IRS, ISS, seg};

    const PEER: u32 = IRS + 1;
    const OURS: u32 = ISS + 1;

    /// Polls once, returning the segment's length and the connection's own
    /// answer to `may_transmit` (checked against the real one).
    fn poll(h: &mut Harness) -> Option<(usize, Option<bool>)> {
        let mut buf = [0u8; 2000];
        h.env.tx = Default::default();
        let n = h.conn.poll_transmit(h.now, &mut buf, &mut h.env)?;
        let more = h.env.tx.more;
        if let Some(more) = more {
            assert_eq!(more, h.conn.may_transmit());
        }
        Some((n, more))
    }

    /// After a segment that may be its last (a bare ACK, PSH, FIN) a
    /// synchronized connection says whether it may send more, as
    /// `may_transmit` would: no after the data that empties its queue,
    /// yes after an ACK while Nagle holds a small segment back; the first
    /// segment of a burst (no PSH) carries no answer.
    #[test]
    fn a_connection_answers_may_transmit_after_a_segment_that_may_be_its_last() {
        // Segment by segment (a software GSO packet answers for its pieces).
        let mut h = Harness::established_with(crate::config::Config {
            gso: false,
            ..Default::default()
        });
        h.at(1_000);
        h.send(&[1; 3_000]);
        let mut answers = Vec::new();
        while let Some((_, more)) = poll(&mut h) {
            answers.push(more);
        }
        assert_eq!(answers.len(), 3, "{answers:?}");
        assert_eq!(answers[0], None, "a burst's segment: no PSH, no answer");
        assert_eq!(answers[2], Some(false), "the tail empties the queue");
        // Everything acknowledged; a small segment goes, the next waits
        // (Nagle); then the peer's data is acknowledged at once (quick ACK).
        h.at(1_100);
        h.feed(seg(".", PEER, Some(OURS + 3_000)));
        h.send(&[2; 10]);
        assert_eq!(poll(&mut h).map(|(_, m)| m), Some(Some(false)));
        h.send(&[3; 10]);
        assert!(poll(&mut h).is_none(), "Nagle holds the second");
        h.at(1_150);
        h.feed(seg("P.", PEER, Some(OURS + 3_000)).data(&[9; 5]));
        let (n, more) = poll(&mut h).expect("the ACK");
        assert_eq!(n, 32, "a bare ACK with timestamps");
        assert_eq!(more, Some(true), "the held segment may go later");
        assert!(!h.conn.core.pending.any());
    }

    /// A bare SYN answers too: nothing more until the SYN-ACK.
    #[test]
    fn a_bare_syn_answers_may_transmit() {
        let mut h = Harness::client(crate::Config::default());
        let (_, more) = poll(&mut h).expect("the SYN");
        assert_eq!(more, Some(false));
        assert!(poll(&mut h).is_none());
    }
}

#[cfg(test)]
mod sack_layout_tests {
    use super::super::tests::{Harness, IRS, ISS, seg};

    const PEER: u32 = IRS + 1;
    const OURS: u32 = ISS + 1;

    fn may_have_blocks(h: &Harness) -> bool {
        h.conn
            .state
            .recv_half()
            .expect("a receive half")
            .may_have_sack_blocks()
    }

    /// `emit` skips asking for SACK blocks while the receive half says it
    /// has none to report: so it says yes as soon as out-of-order data is
    /// held, and the ACK then reports the block (RFC 2018 §4); before,
    /// the ACKs carry the timestamp alone.
    #[test]
    fn sack_blocks_are_reported_once_out_of_order_data_is_held() {
        let mut h = Harness::established();
        h.at(1_000);
        assert!(!may_have_blocks(&h));
        h.feed(seg("P.", PEER, Some(OURS)).data(&[1; 10]));
        let out = h.output();
        assert_eq!(out.len(), 1);
        assert!(out[0].options.sack_blocks.is_empty());
        assert!(
            !may_have_blocks(&h),
            "in-order data leaves nothing to report"
        );
        // A hole: PEER + 10 .. PEER + 20 missing.
        h.feed(seg("P.", PEER + 20, Some(OURS)).data(&[2; 10]));
        assert!(may_have_blocks(&h));
        let out = h.output();
        assert_eq!(out.len(), 1);
        let blocks: Vec<_> = out[0].options.sack_blocks.iter().copied().collect();
        assert_eq!(
            blocks,
            [(crate::SeqNum(PEER + 20), crate::SeqNum(PEER + 30))]
        );
    }
}
