//! How a planned segment is laid out, written and accounted for: the
//! header and options (RFC 7323 §3 timestamps, RFC 2018 SACK blocks), the
//! sequence space it uses, the timers sending arms (RFC 6298 §5.1, RFC 8985
//! §7.2) and the counters. The parent module decides what goes; this one
//! sends it.

use super::{Kind, Layout, Plan, Segment};
use crate::SeqNum;
use crate::tcp::conn::{Core, Env, PendingRst};
use crate::tcp::ecn::Ecn;
use crate::tcp::recovery::{Mark, Retransmission};
use crate::tcp::segment::{
    PieceHeader, SegmentHeader, TimestampHeader, write_segment, write_segment_partial,
    write_timestamp_segment,
};
use crate::tcp::timer::Timer;
use crate::time::{Instant, Stamp};
use crate::wire::tcp::{SackBlocks, TcpFlags, TcpOptions, TcpPacket, TcpTimestamp};

use crate::tcp::conn::TimedSegment;
use crate::tcp::conn::offload::pieces;
use crate::tcp::conn::recv::RecvHalf;
use crate::tcp::conn::send::SendHalf;
use crate::tcp::conn::urgent;

impl Core {
    /// Lays out and writes one segment of a connection past its SYN (data,
    /// FIN, a retransmission, a probe or a bare ACK), then does the
    /// bookkeeping that sending it implies. Our SYN and SYN-ACK go through
    /// [`Core::emit_syn`]: apart, this path (every segment but two of a
    /// connection's) carries no SYN layout and no SYN branches.
    #[inline(always)]
    pub(super) fn emit(
        &mut self,
        now: Instant,
        plan: &Plan,
        snd: &mut SendHalf,
        rcv: &mut RecvHalf,
        buf: &mut [u8],
        env: &mut Env,
    ) -> Option<usize> {
        debug_assert!(plan.kind != Kind::Syn, "a SYN goes through emit_syn");
        let tsval = self.ts_clock.tsval(now);
        let tsecr = self.ts_recent.map_or(0, |r| r.value());
        let sws_mss = u32::from(self.neg.adv_mss) - self.neg.option_overhead();
        let timestamp = TcpTimestamp { tsval, tsecr };
        // RFC 7323 §3: timestamps on every segment once agreed; an
        // established connection's segment carries nothing else unless it
        // reports SACK blocks. Nearly every segment has none to report:
        // that is known without building the (empty) list. A signed
        // connection's carry the signature's place too (RFC 2385).
        let sack_ok = self.neg.sack_ok();
        let layout = if self.neg.timestamp_only() && !(sack_ok && rcv.may_have_sack_blocks()) {
            Layout::Timestamp(timestamp)
        } else {
            let sack_blocks = if sack_ok {
                rcv.sack_blocks(env.config.tcp_dsack)
            } else {
                SackBlocks::new()
            };
            match (self.neg.timestamp_only(), sack_blocks.is_empty()) {
                (true, true) => Layout::Timestamp(timestamp),
                _ => Layout::Options(TcpOptions {
                    timestamp: self.neg.ts_ok().then_some(timestamp),
                    sack_blocks,
                    md5: self.neg.md5(),
                    ..TcpOptions::default()
                }),
            }
        };
        let (ack, window) = (rcv.nxt, rcv.advertise(sws_mss));
        // RFC 3168 §6.1.2-§6.1.5: ECE/CWR and ECT(0) on the data path.
        let new_data = plan.kind == Kind::New && plan.len > 0;
        let (flags, ip_ecn) = self.neg.ecn.on_send(new_data);
        let segment = Segment {
            ack: Some(ack),
            window,
            flags,
            ip_ecn,
            layout,
        };
        self.write_and_account(now, plan, segment, snd, Some(rcv), buf, env, |_, _| {})
    }

    /// The first piece of a software GSO packet (`Core::gso_packet`, the
    /// rest planned in `snd`'s pieces) just went as the segment it is
    /// alone (`written`, its header first): the other pieces are accounted
    /// at once, as one super-segment of MSS pieces is (one scoreboard
    /// record each), and left for `Connection::transmit_piece` to write
    /// from this one's header. What that leaves is what sending the pieces
    /// one by one at `now` leaves: the first is the RTT-timed segment, the
    /// timers are set from the same `now`, the counters count each piece.
    /// Pieces share one header, so a segment that may report SACK blocks
    /// (a D-SACK is reported once) goes alone, as does one a short buffer
    /// cut: the rest then goes one by one, as without GSO (a packet's first
    /// segment never carries PSH).
    #[inline(never)]
    pub(super) fn after_first_piece(
        &mut self,
        now: Instant,
        snd: &mut SendHalf,
        rcv: &RecvHalf,
        written: &[u8],
        env: &mut Env,
    ) {
        let header_len = usize::from(TcpPacket::new_unchecked(written).header_len());
        let header = PieceHeader::new(&written[..header_len], (self.local, self.remote));
        let (Some((seq, end)), Some(header)) = (snd.planned_pieces(), header) else {
            self.pending.set_pieces(false);
            return;
        };
        if (self.neg.sack_ok() && rcv.may_have_sack_blocks())
            || written.len() != header_len + snd.mss as usize
        {
            self.pending.set_pieces(false);
            return;
        }
        let rest = Plan {
            len: end.since(seq),
            kind: Kind::New,
            ..Plan::ack(seq)
        };
        self.on_emitted(now, &rest, snd, None, false, None, env);
        snd.set_piece_header(header, env.tx.ecn);
        env.tx.packet = true;
    }

    /// [`Core::emit`] for our SYN (`rcv` is `None`) or SYN-ACK.
    #[inline(never)]
    pub(super) fn emit_syn(
        &mut self,
        now: Instant,
        plan: &Plan,
        snd: &mut SendHalf,
        mut rcv: Option<&mut RecvHalf>,
        buf: &mut [u8],
        env: &mut Env,
    ) -> Option<usize> {
        debug_assert!(plan.kind == Kind::Syn);
        // Known here, so the shared tail drops what other kinds need.
        let plan = &Plan {
            kind: Kind::Syn,
            ..*plan
        };
        let tsval = self.ts_clock.tsval(now);
        let retransmitted = self.xmit.retransmits > 0;
        let (ack, window, flags, options) = match rcv.as_deref_mut() {
            // Our SYN: no ACK; window unscaled (RFC 7323 §2.2); RFC 3168
            // §6.1.1: ECE and CWR ask for ECN.
            None => {
                let window = self
                    .recv_buffer_limit(&env.config)
                    .min(usize::from(u16::MAX)) as u16;
                let flags = self.neg.ecn.syn_flags(retransmitted);
                let mut options = self.neg.syn_options(tsval);
                options.fast_open = self.tfo_syn_option();
                (None, window, flags, options)
            }
            Some(r) => {
                let tsecr = self.ts_recent.map_or(0, |r| r.value());
                let mut options = self.neg.syn_ack_options(tsval, tsecr);
                options.fast_open = self.tfo_syn_ack_option();
                let flags = self.neg.ecn.syn_ack_flags();
                (Some(r.nxt), r.advertise_unscaled(), flags, options)
            }
        };
        let first_syn = rcv.is_none();
        let fast_open = options.fast_open;
        let segment = Segment {
            ack,
            window,
            flags: flags | TcpFlags::SYN,
            ip_ecn: Ecn::NotEct,
            layout: Layout::Options(options),
        };
        let n = self.write_and_account(now, plan, segment, snd, rcv, buf, env, |core, len| {
            if first_syn {
                core.tfo_on_syn_sent(fast_open, len);
            }
        })?;
        if plan.len == 0 {
            // A bare SYN or SYN-ACK may end the connection's turn: it
            // answers `may_transmit` here as for a synchronized segment
            // (`transmit_synchronized`). Past the SYN only a due ACK, a
            // pending flag or a Fast Open child's data can send.
            env.tx.more =
                Some(self.pending.any() || self.ack.now || (!first_syn && self.tfo_is_passive()));
        }
        Some(n)
    }

    /// Writes a laid-out segment with its payload, tells `written` how many
    /// payload bytes went, then does the bookkeeping: the shared tail of
    /// [`Core::emit`] and [`Core::emit_syn`], inlined into each so that
    /// `emit` keeps no SYN branches.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn write_and_account(
        &mut self,
        now: Instant,
        plan: &Plan,
        segment: Segment,
        snd: &mut SendHalf,
        rcv: Option<&mut RecvHalf>,
        buf: &mut [u8],
        env: &mut Env,
        written: impl FnOnce(&mut Core, u32),
    ) -> Option<usize> {
        let syn = plan.kind == Kind::Syn;
        let Segment {
            ack,
            window,
            mut flags,
            ip_ecn,
            layout,
        } = segment;
        if plan.fin {
            flags |= TcpFlags::FIN;
        }
        if plan.push {
            flags |= TcpFlags::PSH;
        }
        // The room left after the header bounds the payload (a segment
        // without one need not measure its options).
        let len = match plan.len as usize {
            0 => 0,
            want => want.min(buf.len().saturating_sub(layout.header_len())),
        };
        // A SYN's data (Fast Open) starts after the SYN's sequence number.
        let data_seq = if syn { plan.seq + 1u32 } else { plan.seq };
        // A control segment (most of a short connection's) asks no ring,
        // and makes no call.
        let payload = match len {
            0 => (&[][..], &[][..]),
            len => snd.data_at(data_seq, len),
        };
        // Checksum offload for data segments only: control segments are
        // cheap to sum, and a SYN may wait in the ARP queue, whose frames
        // go out without offload metadata.
        let partial = env.tx.csum && len > 0 && !syn;
        let (sent_tsval, sack_sent, _) = layout.summary();
        let n = match layout {
            Layout::Timestamp(ts) if !partial => {
                let header = TimestampHeader {
                    seq: plan.seq,
                    ack,
                    flags,
                    window,
                    ts,
                };
                write_timestamp_segment(buf, self.local, self.remote, &header, payload)
            }
            layout => {
                let header = SegmentHeader {
                    seq: plan.seq,
                    ack,
                    flags,
                    window,
                    options: layout.into_options(),
                };
                if partial {
                    write_segment_partial(buf, self.local, self.remote, &header, payload)
                } else {
                    write_segment(buf, self.local, self.remote, &header, payload)
                }
            }
        }
        .ok()?;
        if !syn && snd.snd_up().is_some() {
            urgent::after_written(&mut buf[..n], plan.seq, snd, partial);
        }
        env.tx.partial = partial;
        env.tx.ecn = ip_ecn;
        env.tx.gso_size = if env.tx.max_segment > 0 && len as u32 > snd.mss && !plan.mtu_probe() {
            // The MSS fits 16 bits: it came from a 16-bit option or the MTU.
            u16::try_from(snd.mss).unwrap_or(u16::MAX)
        } else {
            0
        };
        let retransmission =
            plan.kind == Kind::Retransmission || (syn && self.xmit.retransmits > 0);
        if retransmission && self.xmit.rtx_tsval().is_none() {
            self.xmit.set_rtx_tsval(sent_tsval);
        }
        written(self, len as u32);
        let sent = Plan {
            len: len as u32,
            ..*plan
        };
        self.on_emitted(now, &sent, snd, rcv, sack_sent, sent_tsval, env);
        Some(n)
    }

    /// Inlined into both writers' tails (one copy each), as it was into the
    /// one `emit` before the SYN path went apart: a call here costs more
    /// than it saves.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn on_emitted(
        &mut self,
        now: Instant,
        plan: &Plan,
        snd: &mut SendHalf,
        rcv: Option<&mut RecvHalf>,
        sack_sent: bool,
        tsval: Option<u32>,
        env: &mut Env,
    ) {
        let len = plan.len;
        let retransmission = plan.kind == Kind::Retransmission
            || (plan.kind == Kind::Syn && self.xmit.retransmits > 0);
        if plan.kind == Kind::Syn {
            self.pending.set_syn(false);
        }
        // A super-segment is N segments on the wire (see `offload`); a
        // path MTU probe is one.
        let segs = if plan.mtu_probe() {
            1
        } else {
            pieces(len, snd.mss)
        };
        self.counters.add_segs_out(segs);
        if len > 0 {
            let data = self.counters.data_mut_from(&mut env.spares);
            data.data_segs_out += u64::from(segs);
            data.bytes_sent += u64::from(len);
        }
        if retransmission {
            env.stats.tcp.retrans_segs += 1;
            let data = self.counters.data_mut();
            data.total_retrans += 1;
            data.bytes_retrans += u64::from(len);
            self.xmit.rtt_timed = TimedSegment::NONE; // Karn
            if plan.kind == Kind::Syn {
                env.stats.tcp_ext.tcp_syn_retrans += 1;
            }
        } else {
            env.stats.tcp.out_segs += u64::from(segs);
            if plan.kind == Kind::New && len > 0 {
                env.stats.tcp_ext.tcp_orig_data_sent += u64::from(segs);
            }
        }
        if sack_sent {
            env.stats.tcp_ext.tcp_sack_sent += 1;
        }
        if let Some(r) = rcv {
            r.last_ack_sent = r.nxt;
            self.ack.on_ack_sent();
            self.timers.stop(Timer::DelayedAck);
        }
        let occupies = plan.kind == Kind::Syn || plan.fin || len > 0;
        if plan.kind == Kind::Probe || !occupies {
            return;
        }
        let end = plan.seq + len + u32::from(plan.kind == Kind::Syn) + u32::from(plan.fin);
        snd.on_sent(end);
        self.on_data_emitted(now, plan, end, snd, tsval, env);
        // RFC 6298 §5.1: "Every time a packet containing data is sent
        // (including a retransmission), if the timer is not running, start
        // it running so that it will expire after RTO seconds".
        if !self.timers.is_armed(Timer::Retransmit) {
            self.timers
                .set(Timer::Retransmit, now + self.rto_clamped(now, &env.config));
        }
        self.timers.stop(Timer::Persist);
        if !retransmission && self.xmit.rtt_timed.is_none() {
            self.xmit.rtt_timed = TimedSegment::new(end, now);
        }
        if len > 0 {
            self.ack.on_data_sent(now);
            self.xmit.last_data_sent = Stamp::at(now);
            if len < snd.mss {
                snd.set_small_end(end);
            }
        }
    }

    /// Loss recovery's bookkeeping for a data segment that went out.
    #[inline(always)]
    fn on_data_emitted(
        &mut self,
        now: Instant,
        plan: &Plan,
        end: SeqNum,
        snd: &SendHalf,
        tsval: Option<u32>,
        env: &mut Env,
    ) {
        let sent = end.since(plan.seq);
        match plan.kind {
            Kind::New => {
                // A bulk transfer's segments find the episode under way:
                // no call for them.
                if !self.recovery.has_episode() {
                    self.recovery
                        .start_episode_from(plan.seq, &mut env.spares.episodes);
                }
                // One scoreboard record per MSS piece, so loss detection
                // and retransmission work per segment as the peer sees them
                // (only a super-segment or a GSO packet's pieces go beyond
                // one MSS, never with a FIN).
                if plan.len <= snd.mss {
                    self.recovery.on_sent_new(now, plan.seq, end);
                } else if plan.mtu_probe() {
                    // A path MTU probe is one segment larger than the MSS.
                    self.recovery.on_sent_new(now, plan.seq, end);
                    self.on_mtu_probe_sent(plan.seq, end);
                } else {
                    self.recovery.on_sent_pieces(now, plan.seq, end, snd.mss);
                }
                if plan.tail_loss_probe() {
                    self.recovery.on_probe_sent(
                        now,
                        plan.seq,
                        snd.nxt,
                        false,
                        &mut env.stats.tcp_ext,
                    );
                    self.after_probe(now, env, plan.seq, sent);
                } else if self.recovery.tlp_may_arm() {
                    // RFC 8985 §7.2: (re)start the probe timer on new data.
                    self.arm_loss_probe_sending(now, env);
                }
            }
            Kind::Retransmission if plan.tail_loss_probe() => {
                self.recovery
                    .on_probe_sent(now, plan.seq, snd.nxt, true, &mut env.stats.tcp_ext);
                self.after_probe(now, env, plan.seq, sent);
            }
            Kind::Retransmission => {
                if let Some(rtx) = plan.rtx {
                    // What actually went out (the buffer may have cut it).
                    let rtx = Retransmission { end, ..rtx };
                    self.recovery
                        .on_retransmitted(now, &rtx, tsval, &mut env.stats.tcp_ext);
                }
                self.trace_congestion(
                    env,
                    Some(Mark::Retransmit {
                        seq: plan.seq,
                        len: sent,
                    }),
                );
            }
            Kind::Syn | Kind::Probe | Kind::Ack => {}
        }
    }

    /// A probe went out: the RTO restarts from now (Linux
    /// `tcp_send_loss_probe` rearms it), and the trace marks it.
    fn after_probe(&mut self, now: Instant, env: &mut Env, seq: SeqNum, len: u32) {
        self.timers.stop(Timer::TailLossProbe);
        self.timers
            .set(Timer::Retransmit, now + self.rto_clamped(now, &env.config));
        self.trace_congestion(env, Some(Mark::Probe { seq, len }));
    }

    /// RFC 8985 §7.2: arm the probe timeout, never later than the RTO.
    pub(in crate::tcp::conn) fn arm_loss_probe(&mut self, now: Instant, env: &Env) {
        let rto_remaining = match self.timers.get(Timer::Retransmit) {
            Some(at) => at.saturating_duration_since(now),
            None => self.rto_clamped(now, &env.config),
        };
        let pto = self
            .recovery
            .tlp_timeout(self.rtt.srtt(), Some(rto_remaining));
        self.timers.set(Timer::TailLossProbe, now + pto);
    }

    /// [`Core::arm_loss_probe`] for a segment being sent: a retransmission
    /// timer not running yet is started here (RFC 6298 §5.1), as the caller
    /// would right after, so the one RTO computed serves both timers.
    pub(super) fn arm_loss_probe_sending(&mut self, now: Instant, env: &Env) {
        let rto_remaining = match self.timers.get(Timer::Retransmit) {
            Some(at) => at.saturating_duration_since(now),
            None => {
                let rto = self.rto_clamped(now, &env.config);
                self.timers.set(Timer::Retransmit, now + rto);
                rto
            }
        };
        let pto = self
            .recovery
            .tlp_timeout(self.rtt.srtt(), Some(rto_remaining));
        self.timers.set(Timer::TailLossProbe, now + pto);
    }

    /// Writes a pending RST.
    pub(super) fn write_rst(
        &mut self,
        now: Instant,
        rst: PendingRst,
        buf: &mut [u8],
        env: &mut Env,
    ) -> Option<usize> {
        let (seq, ack, timestamp) = match rst {
            PendingRst::Abort { seq, ack } => {
                let ts = self.neg.ts_ok().then(|| TcpTimestamp {
                    tsval: self.ts_clock.tsval(now),
                    tsecr: self.ts_recent.map_or(0, |r| r.value()),
                });
                (seq, ack, ts)
            }
            PendingRst::Reply { seq, ack } => (seq, ack, None),
        };
        let header = SegmentHeader {
            seq,
            ack,
            flags: TcpFlags::RST,
            window: 0,
            options: TcpOptions {
                timestamp,
                md5: self.neg.md5(),
                ..TcpOptions::default()
            },
        };
        let n = write_segment(buf, self.local, self.remote, &header, (&[], &[])).ok()?;
        self.counters.add_segs_out(1);
        env.stats.tcp.out_rsts += 1;
        env.stats.tcp.out_segs += 1;
        Some(n)
    }

    /// Counts a control segment written for a TIME-WAIT connection.
    pub(super) fn counted_control(&mut self, env: &mut Env) {
        self.counters.add_segs_out(1);
        env.stats.tcp.out_segs += 1;
    }
}
