//! Packets out: what goes next, where it goes (routing), to whom on the
//! link (ARP), in which frame, and in fragments if it is too big.
//!
//! Read first: RFC 1122 §3.3.1 (routing outbound datagrams), §2.3.2.2 (ARP
//! queues packets for an unresolved next hop), RFC 791 §3.2 (fragmentation;
//! every fragment but the last carries a multiple of 8 bytes), RFC 894 (IP
//! over Ethernet), RFC 1112 §6.4 (multicast MAC addresses).
//!
//! One frame per `poll_transmit`, in this order: link-layer control (ARP
//! announcements, replies, requests), datagrams ARP was holding and can now
//! send, TCP control segments (resets, TIME-WAIT ACKs, SYN-cookie SYN-ACKs),
//! other datagrams (ICMP, UDP), then the connections with output. Every
//! source either yields a frame or makes progress, so the loop ends.
//!
//! A datagram whose next hop is not resolved yet is copied into the ARP
//! cache's bounded queue and the loop goes on; a datagram with no route is
//! dropped and counted (`OutNoRoutes`), as if lost on the wire: TCP's
//! timers deal with it. TCP segments carry DF (path MTU discovery, RFC
//! 1191); other datagrams larger than the MTU are fragmented.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;

use super::iface::Hop;
use super::slab::OptionKey;
use super::tcp::TcpReply;
use super::tcp_ip_options::IpOut;
use super::{Direction, FourTuple, IfaceId, MIN_TRANSMIT_BUFFER, Stack};
use crate::ip::arp::Resolution;
use crate::ip::options as ip_options;
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use crate::wire::ipv4::{
    HEADER_LEN as IP_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv4Template,
};
use crate::wire::tcp::{TcpFlags, TcpPacket, TcpRepr};
use crate::wire::{ArpPacket, ArpRepr, Checksum};

/// Bytes of an Ethernet header.
const ETH: usize = crate::wire::ethernet::HEADER_LEN;

/// Most datagrams (ICMP, UDP) waiting to be sent.
pub const MAX_OUT_DATAGRAMS: usize = 1024;
/// Most bytes those may hold.
pub const MAX_OUT_BYTES: usize = 4 * 1024 * 1024;
/// Buffers kept for reuse.
const POOL_MAX: usize = 64;

/// A frame written into the caller's buffer: the interface it leaves by
/// (the high half) and its length (the low half) in one word, so that an
/// `Option` of it, or of that, is a tag and a word and comes back from the
/// output path's calls in two registers. The public `(IfaceId, usize)` in
/// an `Option` is 24 bytes: returned through memory, written there in
/// pieces and read back in wider loads, which the CPU cannot forward from
/// the stores. Every frame stalled on that, on a bulk sender's path most
/// (docs/PERFORMANCE.md, "Session 21").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Written(u64);

impl Written {
    /// A frame of `len` bytes (at most a buffer's: below 4 GiB).
    #[inline]
    fn new(iface: IfaceId, len: usize) -> Written {
        debug_assert!(u32::try_from(len).is_ok(), "a frame of {len} bytes");
        Written(u64::from(iface.0) << 32 | (len as u64 & 0xffff_ffff))
    }

    #[inline]
    fn len(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    #[inline]
    fn pair(self) -> (IfaceId, usize) {
        (IfaceId((self.0 >> 32) as u16), self.len())
    }
}

/// An IP datagram waiting to go out.
#[derive(Debug)]
struct OutDatagram {
    /// The whole datagram, header first (20 bytes, no options, but for
    /// IGMP's, which are never fragmented).
    data: Vec<u8>,
    /// Payload bytes already sent as fragments.
    sent: usize,
    /// The interface it must leave by (an IGMP message), not the route's.
    iface: Option<usize>,
    /// A datagram to a group this host has joined comes back to the host's
    /// own members too (the sender's IP_MULTICAST_LOOP).
    multicast_loop: bool,
}

/// Datagrams other than TCP segments waiting to be sent, in pooled buffers.
#[derive(Debug, Default)]
pub(super) struct OutQueue {
    queue: VecDeque<OutDatagram>,
    pool: Vec<Vec<u8>>,
    bytes: usize,
}

impl OutQueue {
    /// A cleared buffer for a datagram of up to `len` bytes, or `None` when
    /// the queue is full.
    pub fn alloc(&mut self, len: usize) -> Option<Vec<u8>> {
        if self.queue.len() >= MAX_OUT_DATAGRAMS || self.bytes + len > MAX_OUT_BYTES {
            return None;
        }
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        Some(buf)
    }

    /// Queues a datagram built in a buffer from [`OutQueue::alloc`].
    pub fn push(&mut self, data: Vec<u8>) {
        self.push_with(data, None, false);
    }

    /// [`OutQueue::push`] of a datagram that leaves by interface `iface`
    /// whatever the routes say.
    pub fn push_on(&mut self, data: Vec<u8>, iface: usize) {
        self.push_with(data, Some(iface), false);
    }

    /// [`OutQueue::push`] of a UDP datagram: the sender's IP_MULTICAST_IF
    /// (`iface`) and IP_MULTICAST_LOOP.
    pub fn push_with(&mut self, data: Vec<u8>, iface: Option<usize>, multicast_loop: bool) {
        self.bytes += data.len();
        self.queue.push_back(OutDatagram {
            data,
            sent: 0,
            iface,
            multicast_loop,
        });
    }

    /// Gives a buffer back unused.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_MAX {
            buf.clear();
            self.pool.push(buf);
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    fn pop(&mut self) {
        if let Some(d) = self.queue.pop_front() {
            self.bytes -= d.data.len();
            self.recycle(d.data);
        }
    }
}

/// Where a software GSO packet's later pieces go: the hop and the
/// link-layer header room on that interface (0 on an IP interface), found
/// for its second piece and kept for the others until the packet ends
/// (the next packet's first piece forgets it) or a route or an interface
/// changes ([`Stack::forget_hops`]): each piece then skips the route's
/// look-up and the interface's (about 25 instructions a piece).
#[derive(Clone, Copy, Debug)]
pub(super) struct PieceHop {
    hop: Hop,
    l2: usize,
}

/// RFC 1112 §6.4: a multicast group's MAC address, 01:00:5e and the low
/// 23 bits of the group.
fn multicast_mac(group: Ipv4Addr) -> EthernetAddress {
    let o = group.octets();
    EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

impl Stack {
    /// Writes the next frame to send into the front of `buf` (room for the
    /// MTU plus 14; at least [`MIN_TRANSMIT_BUFFER`]) and returns its
    /// length. For a stack with one interface; with several, use
    /// [`Stack::poll_transmit_on`]. Call until `None` after every input.
    #[must_use]
    #[inline]
    pub fn poll_transmit(&mut self, now: crate::Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_on(now, buf).map(|(_, n)| n)
    }

    /// [`Stack::poll_transmit`], saying which interface the frame leaves by.
    #[must_use]
    #[inline]
    pub fn poll_transmit_on(
        &mut self,
        now: crate::Instant,
        buf: &mut [u8],
    ) -> Option<(IfaceId, usize)> {
        self.advance(now);
        // The call that ends every drain (a driver polls until `None`):
        // with nothing queued it changes nothing, not even the deadline,
        // which every input and command refreshed when it ended. So a new
        // entry point that changes a queue or a timer must end with
        // `refresh_deadline` too: nothing here repairs it any more (the
        // assertion catches one that does not, on the paths tests take).
        if self.nothing_to_transmit() {
            debug_assert!(
                self.deadline_is_fresh(),
                "an entry point left a stale deadline"
            );
            return None;
        }
        self.poll_transmit_queued(buf).map(Written::pair)
    }

    /// Every frame there is to send, in the order [`Stack::poll_transmit`]
    /// calls would give them, for a stack with one interface. `push` is
    /// called once per frame with a writer: it hands the writer a buffer
    /// (room for the MTU plus 14; at least [`MIN_TRANSMIT_BUFFER`]) and
    /// returns what the writer returned (the frame's length, or `None`
    /// when the stack has nothing more), or `None` without calling it when
    /// it has no room; the batch ends at the first `None`. Returns the
    /// number of frames written.
    ///
    /// Why: a driver that drains the stack frame by frame pays the entry
    /// point's work (the clock, the look at every output source, the
    /// deadline's refresh) once per frame; here it is paid once per
    /// batch. The frames and the state afterwards are exactly the one-frame
    /// calls' (`next_deadline` is read only by `poll_timeout`, which
    /// cannot be called while the batch holds the stack).
    pub fn poll_transmit_batch(
        &mut self,
        now: crate::Instant,
        mut push: impl FnMut(&mut dyn FnMut(&mut [u8]) -> Option<usize>) -> Option<usize>,
    ) -> usize {
        self.advance(now);
        let mut frames = 0;
        let mut looked = false;
        // Asked before each frame, so the driver is not asked for a buffer
        // the stack would leave empty (the drain's last, empty poll).
        while !self.nothing_to_transmit() {
            looked = true;
            // Whether the writer wrote: the batch ends when it did not, even
            // if a driver's `push` does not pass that `None` on (an ARP
            // interface keeps the sources above from ever looking empty).
            let mut wrote = false;
            let mut write = |buf: &mut [u8]| -> Option<usize> {
                if buf.len() < MIN_TRANSMIT_BUFFER {
                    return None;
                }
                let n = self.transmit(buf).map(Written::len);
                wrote = n.is_some();
                n
            };
            if push(&mut write).is_none() || !wrote {
                break;
            }
            frames += 1;
        }
        if looked {
            // As `poll_transmit_queued` after every frame, once.
            self.refresh_deadline();
            self.loopback_deadline();
        } else {
            // Nothing queued: nothing changed (see `poll_transmit_on`).
            debug_assert!(
                self.deadline_is_fresh(),
                "an entry point left a stale deadline"
            );
        }
        frames
    }

    /// No source of output has anything: no ARP interface (its caches
    /// have their own queues), no control segment, no other datagram, no
    /// connection in the ready queue, nothing looped back to deliver.
    #[inline]
    fn nothing_to_transmit(&self) -> bool {
        !self.arp_ifaces
            && self.control.is_empty()
            && self.out.len() == 0
            && self.ready.is_empty()
            && self.looped.is_empty()
    }

    /// [`Stack::poll_transmit_on`] when some source may have output.
    fn poll_transmit_queued(&mut self, buf: &mut [u8]) -> Option<Written> {
        if buf.len() < MIN_TRANSMIT_BUFFER {
            return None;
        }
        let written = self.transmit(buf);
        self.refresh_deadline();
        self.loopback_deadline();
        written
    }

    /// The next frame: a software GSO packet's next piece when that is
    /// what [`Stack::transmit_any`] would write (`transmit_next_piece`),
    /// else whatever that finds. While no packet is under way this is one
    /// compare more than `transmit_any`. A piece that left no frame (looped
    /// back, or held by ARP) is no reason to stop: `transmit_any` goes on.
    #[inline]
    fn transmit(&mut self, buf: &mut [u8]) -> Option<Written> {
        if self.piece_key.get().is_some()
            && let Some(Some(frame)) = self.transmit_next_piece(buf)
        {
            return Some(frame);
        }
        self.transmit_any(buf)
    }

    /// [`Stack::transmit_piece`] for the ready queue's first connection
    /// when it is the one whose packet is under way and no source that
    /// [`Stack::transmit_any`] asks first has anything (no ARP interface,
    /// no control segment, no other datagram): the frame `transmit_any`
    /// would write, without its frame set-up (about 30 instructions a
    /// piece). `None` when it does not apply or the piece does not go this
    /// way.
    #[inline(always)]
    fn transmit_next_piece(&mut self, buf: &mut [u8]) -> Option<Option<Written>> {
        if self.arp_ifaces || !self.control.is_empty() || self.out.len() > 0 {
            return None;
        }
        let super::Ready { key, dst } = *self.ready.front()?;
        if !self.piece_key.is(key) {
            return None;
        }
        self.transmit_piece(key, dst, buf)
    }

    #[inline(never)]
    fn transmit_any(&mut self, buf: &mut [u8]) -> Option<Written> {
        let mut loopback_rounds = 0;
        loop {
            // ARP's frames only on an Ethernet interface; their code is out
            // of line so an IP interface's path stays dense in the
            // instruction cache.
            if self.arp_ifaces {
                if let Some(frame) = self.transmit_arp(buf) {
                    return Some(frame);
                }
                if let Some(frame) = self.transmit_released(buf) {
                    return Some(frame);
                }
            }
            let frame = if let Some(reply) = self.control.pop_front() {
                self.transmit_reply(&reply, buf)
            } else if self.out.len() > 0 {
                self.transmit_datagram(buf)
            } else if let Some(&ready) = self.ready.front() {
                self.transmit_conn(ready, buf)
            } else {
                // Only looped datagrams may be left: they come back in,
                // and their answers go round this loop (see `loopback`).
                if self.looped.is_empty() || !self.loopback_round(&mut loopback_rounds) {
                    return None;
                }
                continue;
            };
            if frame.is_some() {
                return frame;
            }
            // A source that gave no frame (looped back, held by ARP, or a
            // connection done for now): a batch of looped datagrams comes
            // back in before their queue could fill.
            if self.looped.len() >= super::loopback::LOOPBACK_WEIGHT
                && !self.loopback_round(&mut loopback_rounds)
            {
                return None;
            }
        }
    }

    /// ARP announcements, replies and requests, first.
    /// Called only when some interface has ARP (`arp_ifaces`).
    #[inline(never)]
    fn transmit_arp(&mut self, buf: &mut [u8]) -> Option<Written> {
        for i in 0..self.ifaces.len() {
            let iface = &mut self.ifaces[i];
            let (Some(mac), Some(arp)) = (iface.mac(), iface.arp.as_mut()) else {
                continue;
            };
            let our_ip = iface.config.addr;
            let (packet, dst_mac) = if iface.announce {
                iface.announce = false;
                (
                    crate::ip::arp::gratuitous(mac, our_ip),
                    EthernetAddress::BROADCAST,
                )
            } else if let Some(req) = arp.poll_request() {
                (
                    crate::ip::arp::request(mac, our_ip, req.target),
                    req.unicast.unwrap_or(EthernetAddress::BROADCAST),
                )
            } else {
                continue;
            };
            self.env.stats.eth.out_arp_requests += 1;
            return Some(self.write_arp(i, packet, dst_mac, buf));
        }
        let out = self.arp_out.pop_front()?;
        self.env.stats.eth.out_arp_replies += 1;
        Some(self.write_arp(out.iface, out.packet, out.dst_mac, buf))
    }

    fn write_arp(
        &mut self,
        iface: usize,
        packet: ArpRepr,
        dst_mac: EthernetAddress,
        buf: &mut [u8],
    ) -> Written {
        let src_mac = self.ifaces[iface].mac().unwrap_or_default();
        EthernetRepr {
            src_addr: src_mac,
            dst_addr: dst_mac,
            ethertype: EtherType::Arp,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut buf[..ETH]));
        let len = packet.buffer_len();
        packet.emit(&mut ArpPacket::new_unchecked(&mut buf[ETH..ETH + len]));
        self.env.stats.eth.out_frames += 1;
        let id = IfaceId(iface as u16);
        if self.trace.segments {
            self.events.push_back(super::Event::Arp {
                dir: Direction::Out,
                at: self.now,
                iface: id,
                packet,
            });
        }
        Written::new(id, ETH + len)
    }

    /// Datagrams ARP held until their next hop was resolved.
    /// Called only when some interface has ARP (`arp_ifaces`).
    #[inline(never)]
    fn transmit_released(&mut self, buf: &mut [u8]) -> Option<Written> {
        for i in 0..self.ifaces.len() {
            let iface = &mut self.ifaces[i];
            let (Some(mac), Some(arp)) = (iface.mac(), iface.arp.as_mut()) else {
                continue;
            };
            let Some(released) = arp.poll_queued(&mut buf[ETH..]) else {
                continue;
            };
            EthernetRepr {
                src_addr: mac,
                dst_addr: released.mac,
                ethertype: EtherType::Ipv4,
            }
            .emit(&mut EthernetFrame::new_unchecked(&mut buf[..ETH]));
            self.env.stats.eth.out_frames += 1;
            let len = ETH + released.len;
            self.trace_out_tcp(&buf[ETH..len]);
            return Some(Written::new(IfaceId(i as u16), len));
        }
        None
    }

    /// A TCP segment the stack makes without a connection.
    #[inline(never)]
    fn transmit_reply(&mut self, reply: &TcpReply, buf: &mut [u8]) -> Option<Written> {
        let (local, remote) = reply.addrs();
        let Some(hop) = self.hop_to(*remote.ip()) else {
            self.env.stats.ip.out_no_routes += 1;
            return None;
        };
        let l2 = self.l2_len(hop.iface);
        let (ip_buf, tcp_buf) = buf[l2..].split_at_mut(IP_HEADER_LEN);
        let n = reply.write(tcp_buf)?;
        self.env.stats.tcp.out_segs += 1;
        if reply.is_rst() {
            self.env.stats.tcp.out_rsts += 1;
        }
        let ip = reply.ip();
        let ttl = self.env.config.ttl(ip.ttl);
        let (src, dst) = (*local.ip(), *remote.ip());
        self.write_ip_header_tos(ip_buf, src, dst, IpProtocol::Tcp, n, true, (ip.tos, ttl));
        self.finish_tcp_frame(hop, buf, l2, IP_HEADER_LEN + n, false)
    }

    /// The next connection's next segment; takes it off the ready queue
    /// when it has nothing more.
    fn transmit_conn(&mut self, ready: super::Ready, buf: &mut [u8]) -> Option<Written> {
        let super::Ready { key, dst } = ready;
        if self.piece_key.is(key)
            && let Some(frame) = self.transmit_piece(key, dst, buf)
        {
            return frame;
        }
        // A connection with IP options (rare: `tcp_ip_options`) goes by
        // their route and writes them, a signed one (`tcp_md5`) signs; the
        // rest asks one flag.
        if self.tx_special
            && let Some(frame) = self.transmit_conn_special(ready, buf)
        {
            return frame;
        }
        // The route decides the buffer's layout (link header room, offload
        // allowance); `hop_to` remembers its last answer, so asking before
        // the connection knows whether it has a segment costs a compare.
        let hop = self.hop_to(dst);
        self.transmit_conn_on(ready, hop, buf, None)
    }

    /// [`Stack::transmit_conn`] for a connection routed to the loopback:
    /// segments of up to the loopback's MTU, in a buffer of its own.
    #[cold]
    #[inline(never)]
    pub(super) fn transmit_conn_looped(
        &mut self,
        ready: super::Ready,
        hop: Option<Hop>,
        ip_out: Option<IpOut<'_>>,
    ) -> Option<Written> {
        self.with_loopback_buffer(|stack, lo| {
            // Linux's `lo` offloads the checksum: a data segment leaves with
            // the pseudo-header's sum only, and the receiver, on the same
            // loopback, never sums it (`handle_looped`). With IP options the
            // segment is summed whole (its TCP header is not where the
            // offload's offsets say).
            stack.env.tx = crate::tcp::conn::offload::TxOffload {
                csum: ip_out.is_none(),
                ..Default::default()
            };
            stack.transmit_conn_on(ready, hop, lo, ip_out)
        })
    }

    /// [`Stack::transmit_conn`] once the hop is known, into `buf`; with
    /// `ip_out`, the segment's IP header carries the connection's options
    /// (`tcp_ip_options`) and the segment its signature (`tcp_md5`)
    /// (`None`, a constant, in the common copy).
    #[inline(always)]
    pub(super) fn transmit_conn_on(
        &mut self,
        ready: super::Ready,
        hop: Option<Hop>,
        buf: &mut [u8],
        ip_out: Option<IpOut<'_>>,
    ) -> Option<Written> {
        let now = self.now;
        let super::Ready { key, dst } = ready;
        // The link header's room, from the interface the hop names; no
        // interface is the loopback's, whose connections write into a
        // buffer of its own (once: there, `direct` is set).
        let l2 = match hop {
            None => ETH,
            Some(h) => match self.ifaces.get(h.iface) {
                Some(i) if i.mac().is_none() => 0,
                Some(_) => ETH,
                None if self.needs_loopback_buffer(h.iface) => {
                    return self.transmit_conn_looped(ready, hop, ip_out);
                }
                None => ETH,
            },
        };
        let header_len = IP_HEADER_LEN + ip_out.map_or(0, |o| o.options_len());
        let (ip_buf, tcp_buf) = buf[l2..].split_at_mut(header_len);
        // With IP options a segment is written plain: the offloads' offsets
        // count a 20-byte IP header.
        if self.offload_call && ip_out.is_none() {
            // The ARP queue keeps bytes, not offload metadata: a segment that
            // would wait there is built plain (MSS-sized, full checksum).
            let offload_iface = hop.filter(|h| self.leaves_now(h)).map(|h| h.iface);
            self.env.tx = self.tx_allowance(offload_iface, l2, l2 + IP_HEADER_LEN + tcp_buf.len());
        }
        let Some(entry) = self.conns.get_mut(key) else {
            self.env.tx = Default::default();
            self.ready.pop_front();
            return None;
        };
        debug_assert_eq!(
            *entry.conn.remote().ip(),
            dst,
            "a ready entry's peer is not its connection's"
        );
        #[cfg(test)]
        {
            self.conn_polls += 1;
        }
        let Some(n) = entry.conn.poll_transmit(now, tcp_buf, &mut self.env) else {
            self.env.tx = Default::default();
            entry.queued = false;
            let (deadline, state, owner) =
                (entry.conn.poll_timeout(), entry.conn.state(), entry.owner());
            self.ready.pop_front();
            self.set_conn_timer(key, deadline);
            self.retire_if_done(key, state, owner);
            return None;
        };
        let (src, ttl) = (*entry.conn.local().ip(), self.env.config.ttl(entry.ip.ttl));
        if let Some(md5) = ip_out.and_then(|o| o.md5) {
            // RFC 2385: the whole segment written (plain: no offload for
            // it), its digest and then its checksum.
            crate::tcp::md5::sign(md5, src, dst, &mut tcp_buf[..n]);
        }
        // IP_TOS's DSCP bits; the ECN field is the connection's below.
        let dscp = entry.ip.tos;
        // The segment carries the connection's word that the peer has been
        // heard from since its last one (Linux `skb->dst_pending_confirm`).
        let confirm = entry.conn.take_neighbour_confirm();
        if self.env.tx.packet {
            // Its other pieces follow (`transmit_piece`), with this piece's
            // IP header but for the length and Identification.
            self.piece_key = OptionKey::some(key);
            let tos = dscp | self.env.tx.ecn.bits();
            let repr = unfragmented(ttl, src, dst, IpProtocol::Tcp, true, tos);
            self.piece_ip = Ipv4Template::new(&repr);
            self.piece_hop = None;
        }
        let deadline = entry.conn.poll_timeout();
        let packet = TcpPacket::new_unchecked(&tcp_buf[..n]);
        let header = packet.header_len();
        // A segment that may be the connection's last for now: control (no
        // payload) or data that emptied the queue (PSH, Linux's mark where
        // written data ends; FIN). Asked after every segment of a burst,
        // the question would cost more than the one empty poll it saves.
        // A synchronized connection answers it itself (`TxOffload::more`;
        // it is in no retiring state).
        let ends_turn = match self.env.tx.more {
            Some(more) => {
                debug_assert_eq!(more, entry.wants_poll(), "a connection's own answer");
                !more
            }
            None => {
                let maybe_last = usize::from(header) == n
                    || packet.flags().intersects(TcpFlags::PSH | TcpFlags::FIN);
                maybe_last && !entry.wants_poll()
            }
        };
        if ends_turn {
            // Its turn ends with this segment: the poll that would end it
            // finds nothing and changes nothing.
            entry.queued = false;
            self.ready.pop_front();
        }
        // The connection's choice of ECN codepoint (`note_tx_offload` takes
        // the rest of what it said).
        let ecn = self.env.tx.ecn;
        self.note_tx_offload(l2, usize::from(header));
        self.env.tx = Default::default();
        self.set_conn_timer(key, deadline);
        let Some(hop) = hop else {
            // Lost, as on the wire: the connection's timers retry.
            self.env.stats.ip.out_no_routes += 1;
            self.tx_offload = None;
            return None;
        };
        // RFC 3168 §6.1.2: the connection says whether it is ECT (§5: the
        // ECN field, beside IP_TOS's DSCP); TCP always sets DF.
        let tos = dscp | ecn.bits();
        match ip_out {
            None => {
                self.write_ip_header_tos(ip_buf, src, dst, IpProtocol::Tcp, n, true, (tos, ttl))
            }
            Some(o) => self.write_tcp_ip_header(ip_buf, src, dst, o, n, (tos, ttl)),
        }
        let frame = self.finish_tcp_frame(hop, buf, l2, header_len + n, confirm);
        if frame.is_none() {
            // Held by ARP (its queue keeps no metadata) or dropped.
            self.tx_offload = None;
        }
        frame
    }

    /// The next piece of connection `key`'s software GSO packet (see
    /// `conn::gso`), to `dst`, the ready queue's first: a piece changes no
    /// timer, so the deadline is not asked again, and its turn ends after
    /// the last piece as after any segment that may be the last (PSH, and
    /// nothing more wanted). `None` when no piece goes this way (the
    /// packet is done or given up, or there is no route): the connection
    /// is polled as usual.
    #[inline(never)]
    fn transmit_piece(
        &mut self,
        key: super::Key,
        dst: Ipv4Addr,
        buf: &mut [u8],
    ) -> Option<Option<Written>> {
        // The packet's first piece's hop, unless a route or an interface
        // changed since (then asked again, as for any segment).
        let PieceHop { hop, l2 } = match self.piece_hop {
            Some(piece_hop) => piece_hop,
            None => {
                let hop = self.hop_to(dst)?;
                let l2 = self.l2_len(hop.iface);
                let piece_hop = PieceHop { hop, l2 };
                self.piece_hop = Some(piece_hop);
                piece_hop
            }
        };
        if self.needs_loopback_buffer(hop.iface) {
            return self.with_loopback_buffer(|stack, lo| stack.transmit_piece(key, dst, lo));
        }
        let (ip_buf, tcp_buf) = buf[l2..].split_at_mut(IP_HEADER_LEN);
        let entry = self.conns.get_mut(key)?;
        #[cfg(test)]
        {
            self.conn_polls += 1;
        }
        let Some(n) = entry.conn.poll_piece(tcp_buf, &mut self.env) else {
            self.piece_key = OptionKey::NONE;
            self.env.tx = Default::default();
            return None;
        };
        #[cfg(test)]
        {
            self.piece_polls += 1;
        }
        if !entry.conn.has_pieces() {
            self.piece_key = OptionKey::NONE;
            let push = TcpPacket::new_unchecked(&tcp_buf[..n])
                .flags()
                .contains(TcpFlags::PSH);
            if push && !entry.wants_poll() {
                entry.queued = false;
                self.ready.pop_front();
            }
        }
        self.env.tx = Default::default();
        // The packet's first piece's IP header (`transmit_conn`), as
        // `write_ip_header_tos` writes it for this piece: the connection,
        // hence the addresses, and the ECN codepoint stay the packet's.
        let ident = self.next_ident();
        if let Some(ip) = ip_buf.first_chunk_mut() {
            self.piece_ip
                .write(ip, u16::try_from(n).unwrap_or(u16::MAX), ident);
        }
        self.env.stats.ip.out_requests += 1;
        let ip_len = IP_HEADER_LEN + n;
        // `finish_tcp_frame`, the interface's kind known from `l2`.
        let frame = if l2 == 0 {
            Some(Written::new(IfaceId(hop.iface as u16), ip_len))
        } else {
            let to = (hop.next_hop, hop.link_broadcast, false);
            self.finish_ethernet_frame(hop.iface, to, buf, ip_len)
        };
        if frame.is_some() {
            self.trace_out_tcp(&buf[l2..l2 + ip_len]);
        }
        Some(frame)
    }

    /// A route or an interface changed: the last hop found
    /// ([`Stack::hop_to`]) and a GSO packet's ([`PieceHop`]) are asked
    /// again.
    pub(super) fn forget_hops(&mut self) {
        self.hop_last.set(None);
        self.piece_hop = None;
    }

    /// A connection the application just gave up (`tcp_close`) that was
    /// not queued for output and has nothing to send (`idle`, read before
    /// the close's bookkeeping queued it) is queued only to be retired (an
    /// orphan in TIME-WAIT, a closed one nobody holds): the poll it was
    /// queued for would find nothing, change nothing (its deadline
    /// included) and retire it. It is retired now instead. A handshake's
    /// two connections are both given up this way once their last segment
    /// is out: two empty polls, about 150 instructions each.
    pub(super) fn retire_given_up(&mut self, key: super::Key, idle: bool) {
        // The close's bookkeeping queued it last, if at all.
        if !idle || self.ready.back().is_none_or(|r| r.key != key) {
            return;
        }
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        let (state, owner) = (entry.conn.state(), entry.owner());
        entry.queued = false;
        self.ready.pop_back();
        self.retire_if_done(key, state, owner);
    }

    /// The first queued datagram, or its next fragment.
    #[inline(never)]
    fn transmit_datagram(&mut self, buf: &mut [u8]) -> Option<Written> {
        let (dst, total, pinned, multicast_loop) = {
            let d = self.out.queue.front()?;
            let p = Ipv4Packet::new_unchecked(&d.data[..]);
            (p.dst_addr(), d.data.len(), d.iface, d.multicast_loop)
        };
        let hop = match pinned {
            Some(iface) => self.multicast_hop(iface, dst),
            None => self.hop_to(dst),
        };
        let Some(hop) = hop else {
            self.env.stats.ip.out_no_routes += 1;
            self.out.pop();
            return None;
        };
        if hop.iface == super::loopback::LOOPBACK {
            // Whole, never in fragments: the loopback takes any datagram.
            let d = self.out.queue.pop_front()?;
            self.out.bytes -= d.data.len();
            self.loop_back(&d.data, hop.iface);
            self.out.recycle(d.data);
            return None;
        }
        let for_us_too = if dst.is_multicast() {
            // RFC 1112 §6.1: to a group this host has joined on the
            // interface, from a source its filter takes (RFC 3376 §3.2,
            // Linux `ip_mc_output`), unless the sender said not to
            // (IP_MULTICAST_LOOP).
            let p = Ipv4Packet::new_unchecked(&self.out.queue.front()?.data[..]);
            let (src, igmp) = (p.src_addr(), p.protocol() == IpProtocol::Igmp);
            multicast_loop && self.igmp.accepts(hop.iface, dst, src, igmp)
        } else {
            true
        };
        if hop.link_broadcast && for_us_too && self.out.queue.front()?.sent == 0 {
            // A broadcast is for this host too, and so is a multicast
            // datagram to a joined group: a copy comes back in over the
            // loopback, once, whole (Linux's `ip_mc_output` loops both back
            // to local sockets).
            let d = self.out.queue.front_mut()?;
            let data = core::mem::take(&mut d.data);
            self.loop_back(&data, hop.iface);
            self.out.queue.front_mut()?.data = data;
        }
        if dst.is_multicast()
            && Ipv4Packet::new_unchecked(&self.out.queue.front()?.data[..]).ttl() == 0
        {
            // IP_MULTICAST_TTL 0: for this host only (Linux `ip_mc_output`),
            // whose members got their copy above; nothing for the wire.
            self.out.pop();
            return None;
        }
        let l2 = self.l2_len(hop.iface);
        let mut mtu = self.iface_mtu(hop.iface).min(buf.len() - l2);
        if !self.path_mtus.is_empty()
            && !Ipv4Packet::new_unchecked(&self.out.queue.front()?.data[..]).dont_frag()
        {
            // Without DF, cut to the path MTU a report taught for its
            // destination, as Linux's `ip_fragment` cuts to the route's
            // (`datagram_pmtu`).
            let link = u16::try_from(mtu).unwrap_or(u16::MAX);
            mtu = usize::from(self.learned_mtu(dst, link));
        }
        let d = self.out.queue.front_mut()?;
        if total <= mtu {
            buf[l2..l2 + total].copy_from_slice(&d.data);
            self.out.pop();
            return self.finish_frame(hop, buf, total, false);
        }
        // RFC 791 §3.2: fragments of at most the MTU, data in multiples of
        // 8; the first carries every option, the others those marked
        // copied (`ip::options::copied`).
        let header = Ipv4Packet::new_unchecked(&d.data[..]);
        let datagram_header_len = usize::from(header.header_len());
        let start = d.sent;
        let mut options = [0; ip_options::MAX_LEN];
        let options_len = if start == 0 {
            let all = header.options();
            options[..all.len()].copy_from_slice(all);
            all.len()
        } else {
            ip_options::copied(header.options(), &mut options)
        };
        let header_len = IP_HEADER_LEN + options_len;
        let payload = &d.data[datagram_header_len..];
        let chunk = (mtu - header_len) / 8 * 8;
        let end = (start + chunk).min(payload.len());
        let more = end < payload.len();
        let repr = Ipv4Repr {
            src_addr: header.src_addr(),
            dst_addr: header.dst_addr(),
            protocol: header.protocol(),
            payload_len: (end - start) as u16,
            ttl: header.ttl(),
            dscp_ecn: header.dscp_ecn(),
            ident: header.ident(),
            dont_frag: false,
            // A forwarded fragment cut again (`forward`): its pieces keep
            // its place in the original and its more-fragments flag.
            more_frags: more || header.more_frags(),
            frag_offset: header.frag_offset() + start as u16,
        };
        let frame = &mut buf[l2..l2 + header_len + end - start];
        repr.emit_with_options(
            &mut Ipv4Packet::new_unchecked(&mut *frame),
            &options[..options_len],
        );
        frame[header_len..].copy_from_slice(&payload[start..end]);
        d.sent = end;
        if !more {
            self.out.pop();
        }
        self.finish_frame(hop, buf, header_len + end - start, false)
    }

    /// Link-layer header room for an interface. The loopback has no link
    /// layer, but its frames take an Ethernet frame's room, so that they
    /// end where an Ethernet frame's do (`finish_ethernet_frame`, out of
    /// line) and an IP interface's frame ends, on every piece of a bulk
    /// transfer, as they did before there was a loopback.
    pub(super) fn l2_len(&self, iface: usize) -> usize {
        match self.ifaces.get(iface) {
            Some(i) if i.mac().is_none() => 0,
            _ => ETH,
        }
    }

    /// Writes an IPv4 header for `payload_len` bytes of `protocol`, with
    /// the TOS byte (DSCP and ECN) and the TTL.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_ip_header_tos(
        &mut self,
        buf: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload_len: usize,
        dont_frag: bool,
        (dscp_ecn, ttl): (u8, u8),
    ) {
        let repr = Ipv4Repr {
            // Callers stay below 65,515 bytes.
            payload_len: u16::try_from(payload_len).unwrap_or(u16::MAX),
            ident: self.next_ident(),
            ..unfragmented(ttl, src, dst, protocol, dont_frag, dscp_ecn)
        };
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut buf[..IP_HEADER_LEN]),
            Checksum::Full,
        );
        self.env.stats.ip.out_requests += 1;
    }

    /// The next IP Identification value.
    pub(super) fn next_ident(&mut self) -> u16 {
        let id = self.ip_ident;
        self.ip_ident = self.ip_ident.wrapping_add(1);
        id
    }

    /// Finishes a frame whose IP datagram (`ip_len` bytes) sits after the
    /// interface's link-layer header room in `buf`: on Ethernet, resolves
    /// the next hop (the datagram waits in the ARP cache if it is unknown:
    /// `None`) and writes the Ethernet header. `confirm`: the sender has
    /// proof the next hop hears it (TCP's forward progress, Linux's
    /// `dst_pending_confirm`), which keeps its ARP entry reachable.
    ///
    /// Always inline: on an IP interface it is a lookup and a compare,
    /// less than the call (every frame ends here).
    #[inline(always)]
    fn finish_frame(
        &mut self,
        hop: Hop,
        buf: &mut [u8],
        ip_len: usize,
        confirm: bool,
    ) -> Option<Written> {
        // An IP interface (TUN) has no link layer: nothing to add, no call.
        // The Ethernet path takes the hop's fields, not the hop: a `Hop`
        // argument is passed in memory, and every frame (a TUN one too)
        // paid for building that copy (about 14 instructions).
        // The loopback has no entry in `ifaces`, and its frames end on the
        // Ethernet path (see `l2_len`).
        match self.ifaces.get(hop.iface) {
            Some(iface) if iface.mac().is_none() => {
                Some(Written::new(IfaceId(hop.iface as u16), ip_len))
            }
            _ => {
                let to = (hop.next_hop, hop.link_broadcast, confirm);
                self.finish_ethernet_frame(hop.iface, to, buf, ip_len)
            }
        }
    }

    /// [`Stack::finish_frame`] on an Ethernet interface (`iface`), for a
    /// hop to `next_hop` (`link_broadcast`: a broadcast or multicast one;
    /// `confirm`: the sender's proof that the next hop hears it); on the
    /// loopback, the datagram goes back in (`None`).
    #[inline(never)]
    fn finish_ethernet_frame(
        &mut self,
        iface: usize,
        (next_hop, link_broadcast, confirm): (Ipv4Addr, bool, bool),
        buf: &mut [u8],
        ip_len: usize,
    ) -> Option<Written> {
        let now = self.now;
        let id = IfaceId(iface as u16);
        let Some(iface) = self.ifaces.get_mut(iface) else {
            // The loopback (no other index is past the interfaces).
            self.loop_back(&buf[ETH..ETH + ip_len], super::loopback::LOOPBACK);
            return None;
        };
        let mac = iface.mac()?;
        let dst = Ipv4Packet::new_unchecked(&buf[ETH..ETH + IP_HEADER_LEN]).dst_addr();
        let dst_mac = if dst.is_multicast() {
            multicast_mac(dst)
        } else if link_broadcast {
            EthernetAddress::BROADCAST
        } else {
            let arp = iface.arp.as_mut()?;
            match arp.resolve_or_queue(now, next_hop, &buf[ETH..ETH + ip_len], confirm) {
                Resolution::Ready(mac) => mac,
                Resolution::Queued => return None,
                Resolution::Dropped => {
                    self.env.stats.ip.out_discards += 1;
                    return None;
                }
            }
        };
        EthernetRepr {
            src_addr: mac,
            dst_addr: dst_mac,
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut buf[..ETH]));
        self.env.stats.eth.out_frames += 1;
        Some(Written::new(id, ETH + ip_len))
    }

    /// Whether a frame to `hop` leaves at once (no ARP resolution pending).
    fn leaves_now(&self, hop: &Hop) -> bool {
        let Some(iface) = self.ifaces.get(hop.iface) else {
            return false;
        };
        match (&iface.arp, iface.mac()) {
            (Some(arp), Some(_)) if !hop.link_broadcast => arp.sends_now(hop.next_hop),
            _ => true,
        }
    }

    /// [`Stack::finish_frame`] for a TCP segment, traced once it leaves.
    fn finish_tcp_frame(
        &mut self,
        hop: Hop,
        buf: &mut [u8],
        l2: usize,
        ip_len: usize,
        confirm: bool,
    ) -> Option<Written> {
        let frame = self.finish_frame(hop, buf, ip_len, confirm)?;
        self.trace_out_tcp(&buf[l2..l2 + ip_len]);
        Some(frame)
    }

    /// Raises [`super::Event::Segment`] for an outgoing TCP datagram.
    #[inline]
    pub(super) fn trace_out_tcp(&mut self, datagram: &[u8]) {
        // Every segment asks: the usual answer (not tracing) without a call.
        if self.trace.segments {
            self.trace_out_tcp_now(datagram);
        }
    }

    /// [`Stack::trace_out_tcp`] while tracing.
    fn trace_out_tcp_now(&mut self, datagram: &[u8]) {
        let Ok(ip) = Ipv4Packet::new_checked(datagram) else {
            return;
        };
        if ip.protocol() != IpProtocol::Tcp || ip.frag_offset() != 0 || ip.more_frags() {
            return;
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if let Ok(seg) = TcpPacket::new_checked(ip.payload())
            .and_then(|p| TcpRepr::parse(&p, src, dst, Checksum::Offload))
        {
            let tuple = FourTuple {
                local: SocketAddrV4::new(src, seg.src_port),
                remote: SocketAddrV4::new(dst, seg.dst_port),
            };
            self.trace_segment(Direction::Out, &tuple, &seg);
        }
    }
}

/// The header of an unfragmented datagram as [`Stack::write_ip_header_tos`]
/// writes it, payload length and Identification zero (that function fills
/// them in; a software GSO packet's template takes them per piece).
fn unfragmented(
    ttl: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    dont_frag: bool,
    dscp_ecn: u8,
) -> Ipv4Repr {
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len: 0,
        ttl,
        dscp_ecn,
        ident: 0,
        dont_frag,
        more_frags: false,
        frag_offset: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_frame_and_its_options_fit_two_registers() {
        // What `Written` is for: the output path's results come back in
        // registers, not through memory (see its docs).
        assert_eq!(core::mem::size_of::<Written>(), 8);
        assert!(core::mem::size_of::<Option<Option<Written>>>() <= 16);
    }

    #[test]
    fn a_written_frame_keeps_its_interface_and_length() {
        for (iface, len) in [
            (0, 0),
            (1, 1514),
            (u16::MAX, 65_549),
            (7, u32::MAX as usize),
        ] {
            let w = Written::new(IfaceId(iface), len);
            assert_eq!(w.len(), len);
            assert_eq!(w.pair(), (IfaceId(iface), len));
        }
    }
}
