//! TCP in the stack: segments to connections (demux), to TIME-WAIT entries
//! or to listeners; listeners' SYN queues, SYN cookies and Fast Open;
//! ICMP errors for connections; and the bookkeeping after any call into a
//! connection.
//!
//! Read first: RFC 9293 §3.10.7.1 (segments for no connection) and
//! §3.10.7.2 (LISTEN), RFC 4987 §3.6 (SYN cookies), RFC 7413 §4.2.2 (Fast
//! Open server), RFC 5927 §4.1 (ICMP errors), RFC 6191 (reopening a
//! TIME-WAIT 4-tuple); the policies live in [`crate::tcp::listener`],
//! [`crate::tcp::syncookie`] and [`crate::tcp::fastopen`].
//!
//! Demux is one probe of a SipHash-keyed map from 4-tuple to connection or
//! TIME-WAIT entry, then (for no connection) at most two probes of the
//! listener map: O(1) per segment whatever the number of connections.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;

use super::slab::{Key, Slab};
use super::slots;
use super::tcp_md5::Md5Owner;
use super::{
    ConnEntry, ConnHandle, Demux, Direction, Event, FourTuple, ListenerHandle, MAX_PENDING_CONTROL,
    Owner, OwnerKind, Ready, SegmentSummary, Stack, TimeWaitEntry, TimerKey, Trace,
};
use crate::SeqNum;
use crate::config::SynCookieMode;
use crate::ip::SocketIp;
use crate::ip::icmp::TransportError;
use crate::tcp::conn::{
    ConnEvent, ConnParams, Connection, ControlSegment, Disposition, Env, FastOpenReport,
    IcmpOutcome, Open, SocketOptions, TimeWaitVerdict,
};
use crate::tcp::ecn;
use crate::tcp::fastopen::{self, PassiveOutcome};
use crate::tcp::fastopen_cookie::FastOpenCache;
use crate::tcp::listener::{InheritedOptions, ListenDrop, ListenVerdict, Listener};
use crate::tcp::memory::BufferMemory;
use crate::tcp::recovery::CongestionSample;
use crate::tcp::reuseport::ReuseportContext;
use crate::tcp::segment::{SegmentHeader, write_segment};
use crate::tcp::state::TcpState;
use crate::tcp::syncookie::{CookieOptions, SynCookies};
use crate::tcp::timestamps::TsClock;
use crate::time::Instant;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr, TcpTimestamp};
use crate::wire::{Checksum, WireError};

/// How a connection leaves the connection table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Removal {
    /// Nothing takes its place: its demux entry goes (if the stack did not
    /// take it out when it closed).
    Gone,
    /// Its compact TIME-WAIT entry took its demux entry.
    ToTimeWait,
}

/// A segment the stack sends without a connection.
#[derive(Clone, Copy, Debug)]
pub(super) enum TcpReply {
    /// A reset for no connection, or a TIME-WAIT entry's ACK.
    Control(ControlSegment),
    /// A SYN-cookie SYN-ACK (RFC 4987 §3.6): nothing is kept.
    SynAck {
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seq: SeqNum,
        ack: SeqNum,
        window: u16,
        options: TcpOptions,
        /// ECN-setup SYN-ACK (RFC 3168 §6.1.1): only when the cookie
        /// remembers the ECN-setup SYN (in the TSval, so with timestamps).
        ece: bool,
        /// The listener's IP_TTL and IP_TOS.
        ip: SocketIp,
    },
}

impl TcpReply {
    pub fn addrs(&self) -> (SocketAddrV4, SocketAddrV4) {
        match self {
            TcpReply::Control(c) => (c.local, c.remote),
            TcpReply::SynAck { local, remote, .. } => (*local, *remote),
        }
    }

    pub fn is_rst(&self) -> bool {
        matches!(self, TcpReply::Control(c) if c.flags.rst())
    }

    /// The IP_TTL and IP_TOS its datagram carries: a SYN-cookie SYN-ACK
    /// its listener's, a TIME-WAIT entry's ACK its connection's DSCP, a
    /// reset to no connection none (the stack's default TTL, TOS 0).
    pub fn ip(&self) -> SocketIp {
        match self {
            TcpReply::SynAck { ip, .. } => *ip,
            TcpReply::Control(c) => SocketIp {
                ttl: 0,
                tos: c.dscp,
            },
        }
    }

    /// With the MD5 signature option's place (RFC 2385), for the stack to
    /// sign.
    pub fn with_md5(mut self) -> TcpReply {
        match &mut self {
            TcpReply::Control(c) => c.md5 = true,
            TcpReply::SynAck { options, .. } => options.md5 = true,
        }
        self
    }

    /// Writes the segment into the front of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Option<usize> {
        match self {
            TcpReply::Control(c) => c.write(buf).ok(),
            TcpReply::SynAck {
                local,
                remote,
                seq,
                ack,
                window,
                options,
                ece,
                ip: _,
            } => {
                let mut flags = TcpFlags::SYN;
                if *ece {
                    flags |= TcpFlags::ECE;
                }
                let header = SegmentHeader {
                    seq: *seq,
                    ack: Some(*ack),
                    flags,
                    window: *window,
                    options: *options,
                };
                write_segment(buf, *local, *remote, &header, (&[], &[])).ok()
            }
        }
    }
}

impl Stack {
    /// A TCP segment from `src` to `dst` (one of our unicast addresses).
    pub(super) fn handle_tcp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) {
        self.env.stats.tcp.in_segs += 1;
        // RFC 9293 §3.1 (MUST-2/3): the checksum is verified before anything
        // of the segment is used. It is checked below, after the header is
        // parsed and the connection found, so that a connection's in-order
        // data is summed while it is copied into the receive buffer (one
        // pass instead of two) and committed only if the sum is right.
        let verify = !self.rx.csum_trusted;
        // Read in place, not through a `Result`: the parsed segment (over a
        // hundred bytes with its options) is not copied on the way.
        // `parse` checks the lengths first, as `new_checked` would (once,
        // not twice).
        let packet = TcpPacket::new_unchecked(bytes);
        let mut seg = TcpRepr::EMPTY;
        if let Err(e) = seg.read(&packet, src, dst, Checksum::Offload) {
            return self.count_malformed_tcp(e, verify, src, dst, bytes);
        }
        let tuple = FourTuple {
            local: SocketAddrV4::new(dst, seg.dst_port),
            remote: SocketAddrV4::new(src, seg.src_port),
        };
        let found = self.demux.get(slots!(self), &tuple);
        // RFC 2385: with any key in the stack, or for a signed segment, the
        // signature is checked first (`tcp_md5`); one test otherwise.
        if seg.options.md5 | self.md5_active {
            return self.handle_tcp_signed(&packet, (src, dst), &tuple, found, &seg);
        }
        // The fast path: the payload is staged (copied and summed) by the
        // connection; anything else sums the whole segment.
        let mut staged = None;
        if verify {
            // Most segments of a handshake carry no text: no lookup of the
            // connection to stage nothing (`stage_payload` would say so).
            // Above `tcp_mem`'s high mark nothing is staged: the segment is
            // stored, or dropped, by the connection under its buffer's cap.
            if let Some(Demux::Conn(key)) = found
                && !seg.payload.is_empty()
                && !self.env.memory.exhausted()
            {
                staged = self
                    .conns
                    .get_mut(key)
                    .and_then(|e| e.conn.stage_payload(&seg, &mut self.env.spares))
                    .map(|sum| (key, sum));
            }
            let valid = match staged {
                Some((_, sum)) => packet.verify_checksum_with(src, dst, sum),
                None => packet.verify_checksum(src, dst),
            };
            if !valid {
                return self.drop_bad_checksum(staged.map(|(key, _)| key));
            }
        }
        self.deliver_found(found, &tuple, &seg);
        // Staged bytes are not cleared here (a lookup of the connection
        // again, two a handshake): `deliver` reaches `handle_segment`, which
        // consumes them, or clears them itself.
    }

    /// A checked segment to what the demux found for it: its connection,
    /// its TIME-WAIT entry, or a listener (or a reset).
    #[inline(always)]
    pub(super) fn deliver_found(
        &mut self,
        found: Option<Demux>,
        tuple: &FourTuple,
        seg: &TcpRepr<'_>,
    ) {
        if self.trace.segments {
            self.trace_segment(Direction::In, tuple, seg);
        }
        // A GRO super-packet: the connection counts the segments it stands for.
        self.env.rx_gso = self.rx.tcp_gso_size(seg.payload.len());
        match found {
            Some(Demux::Conn(key)) => self.deliver(key, tuple, seg),
            Some(Demux::TimeWait(key)) => self.deliver_time_wait(key, tuple, seg),
            None => self.deliver_unconnected(tuple, seg, None),
        }
        self.env.rx_gso = 0;
    }

    /// A segment whose checksum is wrong (RFC 9293 §3.1, MUST-2/3): counted
    /// and dropped, and the payload a connection staged for it (`staged`)
    /// is cleared. Cold and out of line: the segments a handshake gets are
    /// all sound.
    #[cold]
    #[inline(never)]
    pub(super) fn drop_bad_checksum(&mut self, staged: Option<Key>) {
        if let Some(key) = staged
            && let Some(e) = self.conns.get_mut(key)
        {
            e.conn.clear_staged();
            // Staging may have made the buffer it wrote to.
            if e.charge(&mut self.env.memory) {
                self.env.stats.tcp_ext.tcp_memory_pressures += 1;
            }
        }
        self.env.stats.tcp.in_csum_errors += 1;
        self.env.stats.tcp.in_errs += 1;
    }

    /// A TCP segment that did not parse: counted. As if verified first, a
    /// corrupted segment that is also malformed counts as a checksum error.
    #[cold]
    #[inline(never)]
    fn count_malformed_tcp(
        &mut self,
        e: WireError,
        verify: bool,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        bytes: &[u8],
    ) {
        let bad_sum = e == WireError::BadChecksum
            || (verify
                && TcpPacket::new_checked(bytes).is_ok_and(|p| !p.verify_checksum(src, dst)));
        if bad_sum {
            self.env.stats.tcp.in_csum_errors += 1;
        }
        self.env.stats.tcp.in_errs += 1;
    }

    /// A segment for a connection. Bytes staged for it (`stage_payload`)
    /// are consumed or cleared on every path: none is left for a later
    /// segment.
    pub(super) fn deliver(&mut self, key: Key, tuple: &FourTuple, seg: &TcpRepr<'_>) {
        let now = self.now;
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        // A listener's half-open connection completing while the accept
        // queue is full: drop the ACK (the SYN-ACK will be retransmitted),
        // or with `tcp_abort_on_overflow` reset it (Linux `tcp_check_req`).
        if let Owner::HalfOpen(l) = entry.owner() {
            let completing = entry.conn.state() == TcpState::SynReceived
                && seg.ack.is_some()
                && !seg.flags.rst()
                && !seg.flags.syn();
            if completing && !self.listeners.get(l).is_some_and(|l| l.can_accept_more()) {
                return self.refuse_for_full_accept_queue(key);
            }
        }
        let disposition = entry.conn.handle_segment(now, seg, &mut self.env);
        if let Disposition::Reincarnate { iss } = disposition {
            return self.reincarnate(key, tuple, seg, iss);
        }
        // The entry in hand: no second lookup (`after_conn` would find it).
        let ran = conn_glue!(self).after(key, entry);
        self.after_conn_done(key, ran);
    }

    /// [`Stack::deliver`]'s two rare turns are out of line and cold (a
    /// handshake takes neither): inlined, their code (a demux removal with
    /// its hash and probe, an abort) sat in the instruction-cache lines of
    /// every segment's delivery.
    ///
    /// The ACK completing a half-open connection while the accept queue is
    /// full: dropped (the SYN-ACK will be retransmitted), or with
    /// `tcp_abort_on_overflow` the connection is reset (Linux
    /// `tcp_check_req`).
    #[cold]
    #[inline(never)]
    fn refuse_for_full_accept_queue(&mut self, key: Key) {
        let now = self.now;
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        // Nothing is staged in SYN-RECEIVED; cleared all the same, as
        // `handle_segment` would.
        entry.conn.clear_staged();
        self.env.stats.tcp_ext.listen_overflows += 1;
        self.env.stats.tcp_ext.listen_drops += 1;
        if self.env.config.tcp_abort_on_overflow {
            self.env.stats.tcp_ext.embryonic_rsts += 1;
            entry.conn.abort(now, &mut self.env);
            self.after_conn(key);
        }
    }

    /// RFC 6191 for a TIME-WAIT connection the application still holds: a
    /// new SYN ends it and opens a new connection on the same tuple.
    #[cold]
    #[inline(never)]
    fn reincarnate(&mut self, key: Key, tuple: &FourTuple, seg: &TcpRepr<'_>, iss: SeqNum) {
        let now = self.now;
        if let Some(entry) = self.conns.get_mut(key) {
            entry.conn.end_time_wait(now, &mut self.env);
        }
        self.after_conn(key);
        self.demux.remove(slots!(self), tuple);
        self.env.stats.tcp_ext.tw_recycled += 1;
        self.deliver_unconnected(tuple, seg, Some(iss));
    }

    /// A segment for a compact TIME-WAIT entry.
    fn deliver_time_wait(&mut self, key: Key, tuple: &FourTuple, seg: &TcpRepr<'_>) {
        let now = self.now;
        let Some(entry) = self.time_wait.get_mut(key) else {
            return;
        };
        let verdict = entry
            .tw
            .handle_segment(now, seg, &self.env.config, &mut self.env.stats);
        let expires = entry.tw.expires;
        match verdict {
            TimeWaitVerdict::Ignore | TimeWaitVerdict::AckRateLimited => {
                self.timers.schedule(TimerKey::TimeWait(key.index), expires);
            }
            TimeWaitVerdict::Ack => {
                let ack = entry.tw.ack_segment(now, tuple.local, tuple.remote);
                self.timers.schedule(TimerKey::TimeWait(key.index), expires);
                self.queue_reply(TcpReply::Control(ack));
            }
            TimeWaitVerdict::NewSyn { iss } => {
                self.env.stats.tcp_ext.tw_recycled += 1;
                self.remove_time_wait(key);
                self.deliver_unconnected(tuple, seg, Some(iss));
            }
            TimeWaitVerdict::Kill => self.remove_time_wait(key),
        }
    }

    /// SO_REUSEPORT: the listener of `l`'s group (if it is in one) that
    /// takes the connection `tuple` (Linux's `reuseport_select_sock`): the
    /// one the group's selection program picks, if it has one and its
    /// answer is a member (`tcp::reuseport`), else by a keyed hash of the
    /// 4-tuple scaled to the group (`reciprocal_scale`): every segment of a
    /// connection (a SYN-cookie ACK too) finds the same one while the group
    /// is unchanged, and a peer cannot aim at one.
    #[inline(never)]
    pub(super) fn reuseport_pick(&self, l: Key, tuple: &FourTuple) -> Key {
        let Some(local) = self.listeners.get(l).map(Listener::local) else {
            return l;
        };
        if let Some((group, select)) = self.listen_map.group_select(local) {
            let ctx = ReuseportContext {
                local: tuple.local,
                remote: tuple.remote,
                hash: self.reuseport_hash(tuple),
                members: group.len(),
            };
            if let Some(i) = select.select(&ctx) {
                return group[i];
            }
        }
        match self.listen_map.group(local) {
            Some(group) if group.len() > 1 => self.pick_in_group(group, tuple),
            _ => l,
        }
    }

    /// The member of a (non-empty) reuseport group that takes `tuple` by
    /// the hash.
    pub(super) fn pick_in_group(&self, group: &[Key], tuple: &FourTuple) -> Key {
        let hash = self.reuseport_hash(tuple);
        let i = (u64::from(hash) * group.len() as u64) >> 32;
        group[i as usize]
    }

    /// The keyed hash a reuseport group picks `tuple`'s member by.
    fn reuseport_hash(&self, tuple: &FourTuple) -> u32 {
        self.reuseport_key.hash(&tuple.packed()) as u32
    }

    /// A segment for no connection: a listener's, or a reset.
    fn deliver_unconnected(&mut self, tuple: &FourTuple, seg: &TcpRepr<'_>, iss: Option<SeqNum>) {
        let now = self.now;
        let Some(mut l) = self.listen_map.find(tuple.local) else {
            // RFC 9293 §3.10.7.1 (CLOSED): reset anything but a reset.
            return self.reset(tuple, seg);
        };
        if self.listen_map.has_groups() {
            l = self.reuseport_pick(l, tuple);
        }
        let is_syn = seg.flags.syn() && seg.ack.is_none() && !seg.flags.rst();
        if is_syn && !self.syn_limiter.allow(now, *tuple.remote.ip()) {
            self.env.stats.tcp_ext.tcp_syn_rate_limited += 1;
            self.env.stats.tcp_ext.listen_drops += 1;
            return;
        }
        let Some(listener) = self.listeners.get_mut(l) else {
            return;
        };
        match listener.on_segment(now, seg, &self.env.config) {
            // A SYN without Fast Open's option or data (every SYN of a
            // handshake): RFC 7413 §4.2.2 has nothing to decide
            // (`fastopen::decide_passive` answers "nothing" for it, whatever
            // the listener's Fast Open), so it takes the short way: joins
            // the SYN queue now, with the listener in hand.
            ListenVerdict::Accept if seg.options.fast_open.is_none() && seg.payload.is_empty() => {
                listener.add_half_open();
                let inherited = (
                    listener.socket_options(),
                    listener.ip(),
                    listener.inherited(),
                );
                self.open_half_open(l, tuple, seg, iss, inherited);
            }
            ListenVerdict::Accept => self.open_passive(l, tuple, seg, iss),
            ListenVerdict::SynCookie => {
                let (user_mss, ip) = (listener.socket_options().max_segment, listener.ip());
                self.send_cookie(tuple, seg, user_mss, ip);
            }
            ListenVerdict::CheckCookie => self.check_cookie(l, tuple, seg),
            ListenVerdict::Reset => self.reset(tuple, seg),
            ListenVerdict::Drop(why) => {
                let ext = &mut self.env.stats.tcp_ext;
                match why {
                    ListenDrop::SynQueueFull => {
                        ext.tcp_req_q_full_drop += 1;
                        ext.listen_drops += 1;
                    }
                    ListenDrop::AcceptQueueFull => {
                        ext.listen_overflows += 1;
                        ext.listen_drops += 1;
                    }
                    ListenDrop::Reset | ListenDrop::NotSyn | ListenDrop::SynFin => {}
                }
            }
        }
    }

    /// RFC 9293 §3.10.7.1: the reset for a segment nobody takes, with the
    /// segment's DSCP (Linux's `tcp_v4_send_reset` replies with the TOS it
    /// got, its ECN bits cleared).
    fn reset(&mut self, tuple: &FourTuple, seg: &TcpRepr<'_>) {
        if let Some(mut rst) = ControlSegment::reset_for(tuple.local, tuple.remote, seg) {
            rst.dscp = self.env.rx_tos & !crate::ip::ECN_MASK;
            self.queue_reply(TcpReply::Control(rst));
        }
    }

    /// A passive open's parameters: the SYN-ACK's ISN (`iss`, a SYN
    /// cookie's, or RFC 6528's for the tuple), the tuple's timestamp offset
    /// and the listener's socket options.
    #[inline(always)]
    fn passive_params(
        &mut self,
        tuple: &FourTuple,
        iss: Option<SeqNum>,
        socket: SocketOptions,
    ) -> ConnParams {
        let now = self.now;
        let iss = iss.unwrap_or_else(|| self.isn.isn(now, tuple.local, tuple.remote));
        ConnParams {
            iss,
            ts_offset: self.ts_offset(tuple),
            socket,
            route_mtu: self.rx_route_mtu(*tuple.remote.ip()),
        }
    }

    /// The MTU of the route back to the sender of the segment in hand,
    /// `remote`, when it is not the configured one: a looped SYN's peer is
    /// this host, over the loopback; otherwise an interface with an MTU of
    /// its own.
    #[inline]
    fn rx_route_mtu(&self, remote: Ipv4Addr) -> Option<u16> {
        if self.rx_looped {
            return Some(super::loopback::LOOPBACK_MTU);
        }
        if !self.own_mtus {
            return None;
        }
        self.own_route_mtu(self.hop_to(remote)?.iface)
    }

    /// A listener took a SYN without Fast Open (it joined the listener's
    /// SYN queue): a half-open connection in SYN-RECEIVED.
    fn open_half_open(
        &mut self,
        l: Key,
        tuple: &FourTuple,
        syn: &TcpRepr<'_>,
        iss: Option<SeqNum>,
        (socket, ip, inherited): (SocketOptions, SocketIp, InheritedOptions),
    ) {
        let params = self.passive_params(tuple, iss, socket);
        let (open, owner) = (Open::Passive(syn), Owner::HalfOpen(l));
        let key = self.insert_conn(tuple.local, tuple.remote, open, &params, owner, ip);
        if inherited.any() {
            self.inherit_options(key, inherited);
        }
        self.after_conn(key);
    }

    /// A listener's TCP_NOTSENT_LOWAT and TCP_WINDOW_CLAMP to its new child
    /// `key`, before its SYN-ACK is written: cold, as few listeners set
    /// them. (Its MD5 key for the peer is given after the segment that made
    /// the child is delivered: `Stack::handle_tcp_signed`.)
    #[cold]
    #[inline(never)]
    fn inherit_options(&mut self, key: Key, inherited: InheritedOptions) {
        if let Some(entry) = self.conns.get_mut(key) {
            if inherited.notsent_lowat != 0 {
                entry.conn.inherit_notsent_lowat(inherited.notsent_lowat);
            }
            if inherited.window_clamp != 0 {
                entry.conn.apply_window_clamp(inherited.window_clamp);
            }
        }
    }

    /// A listener took a SYN with Fast Open's option or data (RFC 7413
    /// §4.2.2): a half-open connection in SYN-RECEIVED (its SYN queue), or
    /// a Fast Open child in its accept queue at once. Cold and out of line:
    /// a SYN without either takes [`Stack::open_half_open`].
    #[cold]
    #[inline(never)]
    fn open_passive(&mut self, l: Key, tuple: &FourTuple, syn: &TcpRepr<'_>, iss: Option<SeqNum>) {
        let Some((socket, ip, inherited)) = self
            .listeners
            .get(l)
            .map(|l| (l.socket_options(), l.ip(), l.inherited()))
        else {
            return;
        };
        let params = self.passive_params(tuple, iss, socket);
        let Some(listener) = self.listeners.get(l) else {
            return;
        };
        let flags = self.env.config.tcp_fastopen;
        let d = fastopen::decide_passive(
            flags,
            listener.fastopen_qlen() > 0,
            listener.fastopen_has_room(),
            &self.fastopen_keys,
            *tuple.remote.ip(),
            *tuple.local.ip(),
            syn,
        );
        let ext = &mut self.env.stats.tcp_ext;
        if d.cookie_requested {
            ext.tcp_fast_open_cookie_reqd += 1;
        }
        match d.outcome {
            Some(PassiveOutcome::Accepted) => ext.tcp_fast_open_passive += 1,
            Some(PassiveOutcome::AcceptedBackupKey) => {
                ext.tcp_fast_open_passive += 1;
                ext.tcp_fast_open_passive_alt_key += 1;
            }
            Some(PassiveOutcome::InvalidCookie) => ext.tcp_fast_open_passive_fail += 1,
            Some(PassiveOutcome::QueueFull) => ext.tcp_fast_open_listen_overflow += 1,
            Some(PassiveOutcome::CookieSent) | None => {}
        }
        let (local, remote) = (tuple.local, tuple.remote);
        let owner = if d.child {
            Owner::Queued(l)
        } else {
            Owner::HalfOpen(l)
        };
        let key = if d.child || d.reply.is_some() {
            self.insert_fast_open(local, remote, syn, &params, &d, (owner, ip), l)
        } else {
            self.insert_conn(local, remote, Open::Passive(syn), &params, owner, ip)
        };
        if inherited.any() {
            self.inherit_options(key, inherited);
        }
        if let Some(listener) = self.listeners.get_mut(l) {
            if d.child {
                // RFC 7413 §4.2.2: the application gets the connection (and
                // the SYN's data) before the handshake completes.
                if listener.add_fastopen_child(key) {
                    self.events.push_back(Event::AcceptReady(ListenerHandle(l)));
                }
            } else {
                listener.add_half_open();
            }
        }
        self.after_conn(key);
    }

    /// A Fast Open SYN's connection (RFC 7413 §4.2.2): cold and out of
    /// line, as a handshake without Fast Open never makes one.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn insert_fast_open(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        params: &ConnParams,
        d: &fastopen::PassiveDecision,
        (owner, ip): (Owner, SocketIp),
        l: Key,
    ) -> Key {
        let now = self.now;
        let make = |env: &mut Env| {
            Connection::accept_fast_open(now, local, remote, syn, params, d.reply, d.child, env)
        };
        self.insert_conn_with(make, owner, d.child.then_some(l), ip)
    }

    /// RFC 4987 §3.6: a stateless SYN-ACK whose ISN is a cookie; with the
    /// peer's timestamps, its window scale and SACK ride in our TSval (a
    /// cookie SYN-ACK without timestamps offers only the MSS, as Linux).
    /// The listener's TCP_MAXSEG (`user_mss`, 0 when unset) bounds the MSS
    /// we offer and the peer's MSS the cookie keeps, as it bounds a
    /// connection's (Linux `mss_clamp`). `ip`: the listener's IP_TTL and
    /// IP_TOS, which Linux's SYN-ACK takes from the listening socket.
    fn send_cookie(&mut self, tuple: &FourTuple, syn: &TcpRepr<'_>, user_mss: u16, ip: SocketIp) {
        let now = self.now;
        let config = &self.env.config;
        let clamp = |mss: u16| {
            if user_mss != 0 {
                mss.min(user_mss)
            } else {
                mss
            }
        };
        let peer_mss = clamp(syn.options.mss.unwrap_or(536));
        let iss = self.syncookies.encode(
            now,
            tuple.local,
            tuple.remote,
            syn.seq,
            SynCookies::mss_index(peer_mss),
        );
        let mut options = TcpOptions {
            mss: Some(clamp(match self.rx_route_mtu(*tuple.remote.ip()) {
                Some(mtu) => mtu.saturating_sub(40),
                None => config.advertised_mss(),
            })),
            ..TcpOptions::default()
        };
        // RFC 3168 §6.1.1 with a stateless SYN-ACK: ECN only if the cookie
        // can carry it back (the TSval's ECN bit), as Linux
        // (`tcp_conn_request` clears `ecn_ok` for a cookie without
        // timestamps): an ECN-setup SYN-ACK the ACK cannot confirm would
        // leave the peer marking ECT for a connection that ignores CE.
        let mut ece = false;
        if let Some(ts) = syn.options.timestamp.filter(|_| config.tcp_timestamps) {
            let wscale = syn
                .options
                .window_scale
                .filter(|_| config.tcp_window_scaling);
            let sack = syn.options.sack_permitted && config.tcp_sack;
            ece = ecn::accept_syn(config, syn.flags, self.env.rx_ecn());
            let clock = TsClock::new(self.ts_offset(tuple));
            let tsval = SynCookies::encode_ts_options(clock.tsval(now), wscale, sack, ece);
            options.timestamp = Some(TcpTimestamp {
                tsval,
                tsecr: ts.tsval,
            });
            options.sack_permitted = sack;
            options.window_scale = wscale.map(|_| config.window_scale());
        }
        let window = config.tcp_rmem.default.min(usize::from(u16::MAX)) as u16;
        let ext = &mut self.env.stats.tcp_ext;
        ext.syncookies_sent += 1;
        if config.tcp_syncookies == SynCookieMode::Overflow {
            ext.tcp_req_q_full_do_cookies += 1;
        }
        self.queue_reply(TcpReply::SynAck {
            local: tuple.local,
            remote: tuple.remote,
            seq: iss,
            ack: syn.seq + 1u32,
            window,
            options,
            ece,
            ip,
        });
    }

    /// An ACK at a listener that sent cookies lately: a valid cookie makes
    /// the connection directly (RFC 4987 §3.6); a forged or stale one is an
    /// ACK in LISTEN (a reset).
    fn check_cookie(&mut self, l: Key, tuple: &FourTuple, seg: &TcpRepr<'_>) {
        let now = self.now;
        let Some(ack) = seg.ack else {
            return;
        };
        let peer_isn = seg.seq - 1u32;
        let Some(mss) =
            self.syncookies
                .decode(now, tuple.local, tuple.remote, peer_isn, ack - 1u32)
        else {
            self.env.stats.tcp_ext.syncookies_failed += 1;
            return self.reset(tuple, seg);
        };
        self.env.stats.tcp_ext.syncookies_recv += 1;
        if !self.listeners.get(l).is_some_and(|l| l.can_accept_more()) {
            self.env.stats.tcp_ext.listen_overflows += 1;
            self.env.stats.tcp_ext.listen_drops += 1;
            if self.env.config.tcp_abort_on_overflow {
                self.reset(tuple, seg);
            }
            return;
        }
        let opts = seg.options.timestamp.map_or(CookieOptions::NONE, |ts| {
            SynCookies::decode_ts_options(ts.tsecr)
        });
        // The SYN as the cookie remembers it: ECN-setup if its bit says so.
        let mut syn_flags = TcpFlags::SYN;
        if opts.ecn {
            syn_flags |= TcpFlags::ECE | TcpFlags::CWR;
        }
        let syn = TcpRepr {
            src_port: tuple.remote.port(),
            dst_port: tuple.local.port(),
            seq: peer_isn,
            ack: None,
            flags: syn_flags,
            window: seg.window,
            urgent: 0,
            options: TcpOptions {
                mss: Some(mss),
                window_scale: opts.wscale,
                sack_permitted: opts.sack,
                timestamp: seg.options.timestamp.map(|ts| TcpTimestamp {
                    tsval: ts.tsval,
                    tsecr: 0,
                }),
                ..TcpOptions::default()
            },
            payload: &[],
        };
        let (socket, ip, inherited) = self
            .listeners
            .get(l)
            .map(|l| (l.socket_options(), l.ip(), l.inherited()))
            .unwrap_or_default();
        let params = ConnParams {
            iss: ack - 1u32,
            ts_offset: self.ts_offset(tuple),
            socket,
            route_mtu: self.rx_route_mtu(*tuple.remote.ip()),
        };
        let key = self.insert_conn_with(
            |env| Connection::from_cookie(now, tuple.local, tuple.remote, &syn, &params, env),
            Owner::HalfOpen(l),
            None,
            ip,
        );
        if inherited.any() {
            self.inherit_options(key, inherited);
        }
        // Half-open like any (in SYN-RECEIVED until the ACK below completes
        // it): counted in the SYN queue until then.
        if let Some(listener) = self.listeners.get_mut(l) {
            listener.add_half_open();
        }
        self.after_conn(key);
        self.deliver(key, tuple, seg);
    }

    /// Stores a new connection, active or passive ([`Connection::open`]),
    /// built in its slot, and makes its 4-tuple find it. One out-of-line
    /// copy for both opens: a handshake runs it once on either side, and
    /// the connection's set-up (hundreds of bytes of stores) is its bulk.
    #[inline(never)]
    pub(super) fn insert_conn(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        open: Open<'_, '_>,
        params: &ConnParams,
        owner: Owner,
        ip: SocketIp,
    ) -> Key {
        let now = self.now;
        self.insert_conn_with(
            |env| Connection::open(now, local, remote, open, params, env),
            owner,
            None,
            ip,
        )
    }

    /// Stores the new connection `make` builds (in its slot: it is
    /// hundreds of bytes, built once and never moved) and makes its
    /// 4-tuple find it: [`Stack::insert_conn`]'s body, and the way in of
    /// the connections made otherwise (a Fast Open SYN, a SYN cookie).
    /// `ip`: its IP_TTL and IP_TOS, a listener's child's inherited from
    /// the listening socket as Linux clones them.
    #[inline(always)]
    pub(super) fn insert_conn_with(
        &mut self,
        make: impl FnOnce(&mut Env) -> Connection,
        owner: Owner,
        fastopen_listener: Option<Key>,
        ip: SocketIp,
    ) -> Key {
        let (owner_kind, owner_listener) = owner.packed();
        debug_assert!(
            fastopen_listener.is_none_or(|l| l == owner_listener),
            "a Fast Open child counts against its own listener"
        );
        let env = &mut self.env;
        // The 4-tuple is read as the connection is built: finding the new
        // entry again to read it was a lookup a connection.
        let mut tuple = FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            remote: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
        };
        let key = self.conns.insert_with(|| {
            let conn = make(env);
            tuple = FourTuple {
                local: conn.local(),
                remote: conn.remote(),
            };
            ConnEntry {
                conn,
                owner_kind,
                owner_listener,
                generation: 0,
                queued: false,
                fastopen_pending: fastopen_listener.is_some(),
                charged: 0,
                ip,
            }
        });
        self.demux.insert(slots!(self), tuple, Demux::Conn(key));
        if !self.path_mtus.is_empty() {
            self.start_with_learned_path_mtu(key, *tuple.remote.ip());
        }
        // Made by a segment that came with IP options (a passive open):
        // their answer is its options (RFC 1122 §4.2.3.8).
        if self.rx_ip_options.is_some() {
            self.keep_return_options(key);
        }
        // Bind conflicts: the mark outlives the connection (and its
        // TIME-WAIT entry) until a listen's scan finds the port free.
        self.port_marks.mark(tuple.local.port());
        #[cfg(test)]
        self.port_use(tuple.local, true);
        key
    }

    /// Tests only: counts a connection or TIME-WAIT entry on a local
    /// address and port in or out, the exact model `port_marks` is checked
    /// against.
    #[cfg(test)]
    pub(super) fn port_use(&mut self, local: SocketAddrV4, add: bool) {
        let key = super::PortKey::new(local);
        if add {
            *self.port_users.entry(key).or_insert(0) += 1;
        } else if let std::collections::hash_map::Entry::Occupied(mut n) =
            self.port_users.entry(key)
        {
            *n.get_mut() -= 1;
            if *n.get() == 0 {
                n.remove();
            }
        }
    }

    /// An ICMP error quoting one of our TCP segments (RFC 5927): to its
    /// connection, which validates the quoted sequence number.
    pub(super) fn tcp_icmp_error(&mut self, err: &TransportError<'_>) {
        let Some((sport, dport)) = err.ports() else {
            return;
        };
        let tuple = FourTuple {
            local: SocketAddrV4::new(err.quoted.src_addr, sport),
            remote: SocketAddrV4::new(err.quoted.dst_addr, dport),
        };
        let Some(Demux::Conn(key)) = self.demux.get(slots!(self), &tuple) else {
            return;
        };
        let now = self.now;
        let min_pmtu = self.env.config.route_min_pmtu;
        let quoted_len = err.quoted.payload_len.saturating_add(20);
        if let Some(entry) = self.conns.get_mut(key) {
            let outcome = entry.conn.handle_icmp_error(
                now,
                &err.error,
                err.tcp_seq(),
                quoted_len,
                min_pmtu,
                &mut self.env,
            );
            // RFC 1191 §5: kept for the destination, so the next connection
            // there starts with it.
            if let IcmpOutcome::PathMtuLowered { mtu } = outcome {
                let expires = self.env.config.route_mtu_expires;
                self.path_mtus.learn(now, *tuple.remote.ip(), mtu, expires);
            }
            self.after_conn(key);
        }
    }

    /// A new connection to a destination whose path MTU the stack learned
    /// ([`PathMtuCache`](crate::ip::pmtu::PathMtuCache)) starts with it.
    /// Out of line: asked only while some destination is remembered.
    #[cold]
    #[inline(never)]
    fn start_with_learned_path_mtu(&mut self, key: Key, remote: Ipv4Addr) {
        let now = self.now;
        if let Some(mtu) = self.path_mtus.get(now, remote)
            && let Some(entry) = self.conns.get_mut(key)
        {
            entry.conn.start_with_path_mtu(mtu);
        }
    }

    /// Queues a segment the stack makes without a connection; one that
    /// answers a segment that came with IP options carries their answer
    /// (`tcp_ip_options`).
    pub(super) fn queue_reply(&mut self, reply: TcpReply) {
        if self.rx_ip_options.is_some() || self.rx_md5.is_some() {
            return self.queue_reply_answering(reply);
        }
        self.queue_control(reply);
    }

    /// Queues a segment the stack makes without a connection, with a plain
    /// IP header; at most `MAX_PENDING_CONTROL` wait, the rest are dropped.
    pub(super) fn queue_control(&mut self, reply: TcpReply) {
        if self.control.len() < MAX_PENDING_CONTROL {
            self.control.push_back(reply);
        }
    }

    pub(super) fn trace_segment(&mut self, dir: Direction, tuple: &FourTuple, seg: &TcpRepr<'_>) {
        self.events.push_back(Event::Segment {
            dir,
            at: self.now,
            segment: SegmentSummary {
                local: tuple.local,
                remote: tuple.remote,
                seq: seg.seq,
                ack: seg.ack,
                flags: seg.flags,
                window: seg.window,
                len: seg.payload.len() as u32,
                options: TcpOptions {
                    sack_blocks: seg.options.sack_blocks,
                    ..seg.options
                },
            },
        });
    }

    // ---- bookkeeping after a connection ran -------------------------------------

    /// After any call into a connection: turn its events into the
    /// application's, keep the listener's queues right, record what Fast
    /// Open taught, queue it for output and reschedule its timer.
    pub(super) fn after_conn(&mut self, key: Key) {
        let Some(entry) = self.conns.get_mut(key) else {
            self.env.events.clear();
            return;
        };
        let ran = conn_glue!(self).after(key, entry);
        self.after_conn_done(key, ran);
    }

    /// The end of [`Stack::after_conn`], once the entry is let go: a
    /// closed connection leaves the demux map, and the connection's timer
    /// is rescheduled. A caller that holds the entry runs
    /// [`ConnGlue::after`] on it, then this, instead of `after_conn`
    /// (which would find the entry again: a slab lookup, about 10 a
    /// handshake).
    #[inline(always)]
    pub(super) fn after_conn_done(&mut self, key: Key, ran: ConnRan) {
        if let Some(tuple) = ran.closed {
            self.demux.remove_if(slots!(self), &tuple, Demux::Conn(key));
        }
        self.set_conn_timer(key, ran.deadline);
    }

    /// Puts a connection's next deadline (its `poll_timeout`, read while
    /// the caller had it at hand) in the stack's timer queue.
    #[inline]
    pub(super) fn set_conn_timer(&mut self, key: Key, deadline: Option<Instant>) {
        let timer = TimerKey::Conn(key.index);
        match deadline {
            Some(at) => self.timers.schedule(timer, at),
            None => {
                self.timers.cancel(timer);
            }
        }
    }

    /// Once a connection has sent everything: an orphan in TIME-WAIT moves
    /// to the compact table; a closed connection nobody holds is deleted.
    /// `state` and `owner` are the connection's, as the caller read them.
    pub(super) fn retire_if_done(&mut self, key: Key, state: TcpState, owner: Owner) {
        match (state, owner) {
            (TcpState::TimeWait, Owner::Orphan) => self.move_to_time_wait(key),
            (TcpState::Closed, Owner::App) => {}
            (TcpState::Closed, _) => self.remove_conn(key),
            _ => {}
        }
    }

    fn move_to_time_wait(&mut self, key: Key) {
        let Some(entry) = self.conns.get(key) else {
            return;
        };
        let tuple = FourTuple {
            local: entry.conn.local(),
            remote: entry.conn.remote(),
        };
        let Some(mut tw) = entry.conn.time_wait_entry() else {
            return;
        };
        tw.dscp = entry.ip.tos;
        if self.time_wait.len() >= self.env.config.tcp_max_tw_buckets {
            self.remove_conn(key);
            // Linux: no TIME-WAIT socket, the connection just goes.
            self.env.stats.tcp_ext.tcp_time_wait_overflow += 1;
            self.trace_state(None, tuple, TcpState::TimeWait, TcpState::Closed);
            return;
        }
        let tw_key = self.time_wait.insert(TimeWaitEntry {
            tuple,
            tw,
            generation: 0,
        });
        // The tuple's demux entry is re-pointed to the TIME-WAIT entry in
        // place (one probe, where removing and inserting took two), while
        // the connection's slot still holds the tuple. The local port's
        // mark stays, as it does for every ended connection.
        self.demux
            .insert(slots!(self), tuple, Demux::TimeWait(tw_key));
        if self.md5_active {
            // A signed connection's entry keeps its key (Linux's
            // `tcp_twsk_md5_key`): its ACKs are signed, what it gets checked.
            let to = Some(Md5Owner::TimeWait(tw_key));
            self.move_md5(&tuple, Md5Owner::Conn(key), to);
        }
        self.remove_conn_with(key, Removal::ToTimeWait);
        self.timers
            .schedule(TimerKey::TimeWait(tw_key.index), tw.expires);
    }

    pub(super) fn remove_time_wait(&mut self, key: Key) {
        // The demux entry goes first: it is resolved through the slot.
        if let Some(entry) = self.time_wait.get(key) {
            let tuple = entry.tuple;
            self.demux
                .remove_if(slots!(self), &tuple, Demux::TimeWait(key));
        }
        let Some(entry) = self.time_wait.remove(key) else {
            return;
        };
        if self.md5_active {
            self.move_md5(&entry.tuple, Md5Owner::TimeWait(key), None);
        }
        self.timers.cancel(TimerKey::TimeWait(key.index));
        #[cfg(test)]
        self.port_use(entry.tuple.local, false);
        self.trace_state(None, entry.tuple, TcpState::TimeWait, TcpState::Closed);
    }

    pub(super) fn remove_conn(&mut self, key: Key) {
        self.remove_conn_with(key, Removal::Gone);
    }

    /// [`Stack::remove_conn`], or (`Removal::ToTimeWait`) the end of a
    /// connection whose TIME-WAIT entry took its demux entry.
    fn remove_conn_with(&mut self, key: Key, how: Removal) {
        // The demux entry goes first: it is resolved through the slot.
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        entry.conn.leave_spares(&mut self.env.spares);
        // What it held goes with it: its charge is given back whole
        // (nothing, nearly always: an ended connection's buffers went to
        // the spares as it ended).
        if entry.charged != 0 {
            self.env.memory.charge(entry.charged, 0);
        }
        let tuple = FourTuple {
            local: entry.conn.local(),
            remote: entry.conn.remote(),
        };
        let fastopen_listener = entry.fastopen_listener();
        let orphan = entry.owner_kind == OwnerKind::Orphan;
        match how {
            // `move_to_time_wait` re-pointed the entry.
            Removal::ToTimeWait => {}
            // `after_conn` took the tuple out when the connection closed
            // (the change into CLOSED always raises an event, which runs
            // it): no second probe of a table that may be millions of
            // entries.
            Removal::Gone if entry.conn.state() == TcpState::Closed => debug_assert!(
                self.demux.get(slots!(self), &tuple) != Some(Demux::Conn(key)),
                "a closed connection still in the demux map"
            ),
            Removal::Gone => self.demux.remove_if(slots!(self), &tuple, Demux::Conn(key)),
        }
        if !self.conns.delete(key) {
            return;
        }
        self.env.orphans -= usize::from(orphan);
        if !self.tcp_ip_options.is_empty() {
            self.forget_conn_ip_options(key);
        }
        if self.md5_active && how == Removal::Gone {
            self.move_md5(&tuple, Md5Owner::Conn(key), None);
        }
        self.timers.cancel(TimerKey::Conn(key.index));
        if let Some(l) = fastopen_listener
            && let Some(listener) = self.listeners.get_mut(l)
        {
            listener.fastopen_done();
        }
        #[cfg(test)]
        if how == Removal::Gone {
            self.port_use(tuple.local, false);
        }
    }

    fn trace_state(
        &mut self,
        conn: Option<ConnHandle>,
        tuple: FourTuple,
        from: TcpState,
        to: TcpState,
    ) {
        if self.trace.states {
            self.events.push_back(Event::StateChanged {
                conn,
                local: tuple.local,
                remote: tuple.remote,
                from,
                to,
                at: self.now,
            });
        }
    }

    /// Connections and TIME-WAIT entries (for tests and `ss -s`).
    pub fn connection_count(&self) -> (usize, usize) {
        (self.conns.len(), self.time_wait.len())
    }
}

/// What the bookkeeping after a connection ran touches beside the
/// connection's entry (and the demux map and timers, which
/// [`Stack::after_conn_done`] updates once the entry is let go): borrowed
/// field by field ([`conn_glue!`]), apart from the connection slab, so that
/// a caller holding the entry (`deliver`, the application's common calls)
/// need not find it again.
pub(super) struct ConnGlue<'a> {
    pub now: Instant,
    /// The connection's events (the stack's [`Env`]'s), drained here.
    pub conn_events: &'a mut Vec<ConnEvent>,
    pub trace: &'a Trace,
    /// The application's events.
    pub events: &'a mut VecDeque<Event>,
    pub listeners: &'a mut Slab<Listener<Key>>,
    pub fastopen_cache: &'a mut FastOpenCache,
    pub ready: &'a mut VecDeque<Ready>,
    pub memory: &'a mut BufferMemory,
    pub memory_pressures: &'a mut u64,
}

/// [`ConnGlue`] over a stack's fields (a macro, not a method: the borrow
/// of the connection slab stays apart).
macro_rules! conn_glue {
    ($stack:expr) => {
        $crate::stack::tcp::ConnGlue {
            now: $stack.now,
            conn_events: &mut $stack.env.events,
            trace: &$stack.trace,
            events: &mut $stack.events,
            listeners: &mut $stack.listeners,
            fastopen_cache: &mut $stack.fastopen_cache,
            ready: &mut $stack.ready,
            memory: &mut $stack.env.memory,
            memory_pressures: &mut $stack.env.stats.tcp_ext.tcp_memory_pressures,
        }
    };
}
pub(super) use conn_glue;

/// What [`ConnGlue::after`] leaves for [`Stack::after_conn_done`].
#[must_use]
pub(super) struct ConnRan {
    /// The connection's next deadline (`poll_timeout`).
    deadline: Option<Instant>,
    /// The 4-tuple of a connection that closed: it leaves the demux map.
    closed: Option<FourTuple>,
}

impl ConnGlue<'_> {
    /// [`Stack::after_conn`] on the entry the caller holds, up to what
    /// needs the connection slab again ([`Stack::after_conn_done`]).
    ///
    /// Always inlined, into `after_conn`, `deliver` and the application's
    /// common calls (`with_conn`, `tcp_recv`, `tcp_close`; about 3.7 KB
    /// of code each): out of line, its seven references were stored to
    /// the stack and read back on every call, which cost more than the
    /// lookup saved (+829 instructions a handshake against -269 inlined).
    #[inline(always)]
    pub(super) fn after(self, key: Key, entry: &mut ConnEntry) -> ConnRan {
        let now = self.now;
        let handle = ConnHandle(key);
        // The addresses are read where a trace or the demux needs them:
        // most calls need neither.
        // A slice walk and one `clear`, not `drain`: a `Drain` keeps a tail
        // to move back on drop, which an emptied list never needs.
        for &event in &*self.conn_events {
            match event {
                ConnEvent::StateChanged { from, to } => {
                    if self.trace.states {
                        trace_conn_state(self.events, handle, entry, from, to, now);
                    }
                    if from == TcpState::SynReceived
                        && let Some(l) = entry.take_fastopen_listener()
                    {
                        fastopen_child_done(self.listeners, l);
                    }
                    let opened = matches!(from, TcpState::SynSent | TcpState::SynReceived)
                        && to.is_synchronized();
                    if opened {
                        match entry.owner() {
                            Owner::App if !entry.conn.fastopen_info().passive => {
                                self.events.push_back(Event::Connected(handle));
                            }
                            Owner::HalfOpen(l) => {
                                entry.set_owner(Owner::Queued(l));
                                if child_established(self.listeners, l, key) {
                                    self.events.push_back(Event::AcceptReady(ListenerHandle(l)));
                                }
                            }
                            Owner::App | Owner::Queued(_) | Owner::Orphan => {}
                        }
                    }
                    if to == TcpState::Closed
                        && matches!(entry.owner(), Owner::HalfOpen(_) | Owner::Queued(_))
                    {
                        unaccepted_child_closed(self.listeners, entry.owner(), key);
                    }
                }
                ConnEvent::Congestion(sample) => {
                    if self.trace.congestion {
                        trace_congestion(self.events, handle, entry, sample, now);
                    }
                }
                _ if entry.owner() != Owner::App => {}
                ConnEvent::Readable => self.events.push_back(Event::Readable(handle)),
                ConnEvent::Writable => self.events.push_back(Event::Writable(handle)),
                ConnEvent::PeerClosed => self.events.push_back(Event::PeerClosed(handle)),
                ConnEvent::Urgent => self.events.push_back(Event::Urgent(handle)),
                ConnEvent::Closed(reason) => self.events.push_back(Event::Closed {
                    conn: handle,
                    reason,
                }),
            }
        }
        self.conn_events.clear();
        if let Some(report) = entry.conn.take_fastopen_report() {
            record_fastopen(self.fastopen_cache, entry, report, now);
        }
        // The stack's buffer memory follows the connection's (`tcp_mem`):
        // every change a call made is charged here.
        if entry.charge(self.memory) {
            *self.memory_pressures += 1;
        }
        let closed = entry.conn.state() == TcpState::Closed;
        if !entry.queued && entry.wants_poll() {
            entry.queued = true;
            self.ready.push_back(Ready {
                key,
                dst: *entry.conn.remote().ip(),
            });
        }
        let deadline = entry.conn.poll_timeout_cached();
        let closed = closed.then(|| FourTuple {
            local: entry.conn.local(),
            remote: entry.conn.remote(),
        });
        ConnRan { deadline, closed }
    }
}

/// [`ConnGlue::after`]'s rare work, out of line and cold: `after` is
/// inlined into `deliver`, `after_conn` and the application's common calls,
/// and a handshake runs none of these (traces are off, no Fast Open), so
/// each copy of their code was instruction-cache lines fetched around the
/// common path for nothing. The branch that decides stays inline.
///
/// A state change for the trace (`Trace::states`).
#[cold]
#[inline(never)]
fn trace_conn_state(
    events: &mut VecDeque<Event>,
    handle: ConnHandle,
    entry: &ConnEntry,
    from: TcpState,
    to: TcpState,
    now: Instant,
) {
    events.push_back(Event::StateChanged {
        conn: Some(handle),
        local: entry.conn.local(),
        remote: entry.conn.remote(),
        from,
        to,
        at: now,
    });
}

/// A congestion-control sample for the trace (`Trace::congestion`); the
/// handle only while the application holds the connection.
#[cold]
#[inline(never)]
fn trace_congestion(
    events: &mut VecDeque<Event>,
    handle: ConnHandle,
    entry: &ConnEntry,
    sample: CongestionSample,
    now: Instant,
) {
    let conn = (entry.owner() == Owner::App).then_some(handle);
    events.push_back(Event::Congestion {
        conn,
        local: entry.conn.local(),
        remote: entry.conn.remote(),
        at: now,
        sample,
    });
}

/// A Fast Open child left SYN-RECEIVED: its listener's count of pending
/// Fast Open children drops (RFC 7413 §5.1's limit).
#[cold]
#[inline(never)]
fn fastopen_child_done(listeners: &mut Slab<Listener<Key>>, l: Key) {
    if let Some(listener) = listeners.get_mut(l) {
        listener.fastopen_done();
    }
}

/// What a Fast Open client learnt about its server (cookie, MSS, a lost
/// SYN), for the cache its next connect reads (RFC 7413 §4.1.3).
#[cold]
#[inline(never)]
fn record_fastopen(
    cache: &mut FastOpenCache,
    entry: &ConnEntry,
    report: FastOpenReport,
    now: Instant,
) {
    cache.record(
        now,
        *entry.conn.remote().ip(),
        report.mss,
        report.cookie,
        report.try_exp,
        report.syn_lost,
    );
}

/// A listener's child completed its handshake: it moves to the accept
/// queue. Returns whether the queue was empty (the moment to tell the
/// application). Out of line, as is [`unaccepted_child_closed`]: inlined
/// into `Stack::after_conn`, the listener's hash of the child's key was
/// computed ahead of its event loop on every call that had events (about
/// 30 instructions, 11 times a handshake), where one call needs it.
#[inline(never)]
fn child_established(listeners: &mut Slab<Listener<Key>>, l: Key, key: Key) -> bool {
    listeners
        .get_mut(l)
        .is_some_and(|listener| listener.established(key))
}

/// A listener's child closed before the application accepted it: it
/// leaves the SYN queue (half-open) or the accept queue (queued).
#[cold]
#[inline(never)]
fn unaccepted_child_closed(listeners: &mut Slab<Listener<Key>>, owner: Owner, key: Key) {
    match owner {
        Owner::HalfOpen(l) => {
            if let Some(listener) = listeners.get_mut(l) {
                listener.remove_half_open();
            }
        }
        Owner::Queued(l) => {
            if let Some(listener) = listeners.get_mut(l) {
                listener.forget(key);
            }
        }
        Owner::App | Owner::Orphan => {}
    }
}
