//! The loopback interface, Linux's `lo`: datagrams to one of our own
//! addresses or to 127.0.0.0/8 never reach a driver. The output path hands
//! them here; they come back in as input, on the host's own loopback, with
//! nothing for the driver to do but call `poll_transmit` as always.
//!
//! Read first: RFC 1122 §3.2.1.3 (g) (127.0.0.0/8 is the internal host
//! loopback address: it "MUST NOT appear outside a host"), §3.3.4.2 (a
//! datagram for any of our addresses is ours), RFC 1812 §5.3.7 (the
//! martian checks a datagram from the wire gets and a looped one does not).
//!
//! How it runs. A datagram routed to the loopback ([`LOOPBACK`], the hop's
//! interface) is copied into a bounded queue instead of the caller's frame
//! (Linux's per-CPU backlog, `netdev_max_backlog`: beyond it, dropped and
//! counted, as on a wire). The queue is delivered as input from the same
//! output loop, when no connection has output left or when a batch of
//! [`LOOPBACK_WEIGHT`] waits (Linux's NAPI weight for the backlog), so a
//! whole local exchange (a handshake, a request and its answer) settles in
//! one drain. At most [`LOOPBACK_ROUNDS`] batches go per frame asked for;
//! what is left then makes the deadline `now`, and the next call (as after
//! any timeout) goes on.
//!
//! A looped datagram skips the wire's checks: its addresses are ours or
//! loopback by construction (the martian checks would refuse both), it
//! has no link layer and is never merged by GRO. Its checksums are still
//! computed, so a looped segment is the segment a peer would see (`synack
//! trace` shows both directions); a TCP segment's is not summed again on
//! the way in, as Linux's `lo` vouches for it. A broadcast datagram goes
//! out of its interface and, a copy, round the loopback to local sockets,
//! as on Linux. Departures from Linux: the loopback's MTU is the stack's
//! (`Config::mtu`), not 65,536, so local connections use the same MSS as
//! the others; multicast is never looped back (no group membership).

use std::collections::VecDeque;

use super::Stack;
use crate::ip::addr::Destination;
use crate::wire::Checksum;
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};

/// The hop's interface index for the loopback (`iface::Hop::iface`): past
/// every real interface, so `Stack::ifaces` has no entry for it and no
/// driver ever sees it.
pub(super) const LOOPBACK: usize = usize::MAX;

/// Most datagrams waiting to come back in (Linux's `netdev_max_backlog`).
pub(super) const LOOPBACK_QLEN: usize = 1000;

/// Datagrams delivered per batch (Linux's backlog NAPI weight, `dev_weight`).
pub(super) const LOOPBACK_WEIGHT: usize = 64;

/// Most batches delivered per frame asked for.
pub(super) const LOOPBACK_ROUNDS: usize = 16;

/// Buffers kept for reuse.
const POOL_MAX: usize = 64;

/// Datagrams on their way back in, in pooled buffers.
#[derive(Debug, Default)]
pub(super) struct Loopback {
    queue: VecDeque<Vec<u8>>,
    pool: Vec<Vec<u8>>,
}

impl Loopback {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Queues a copy of `datagram`; false when the queue is full.
    fn push(&mut self, datagram: &[u8]) -> bool {
        if self.queue.len() >= LOOPBACK_QLEN {
            return false;
        }
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(datagram);
        self.queue.push_back(buf);
        true
    }

    fn pop(&mut self) -> Option<Vec<u8>> {
        self.queue.pop_front()
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < POOL_MAX {
            self.pool.push(buf);
        }
    }
}

impl Stack {
    /// A datagram the output path routed to the loopback: queued to come
    /// back in, or dropped (and counted) when the queue is full. Looped TCP
    /// segments are traced as sent.
    #[cold]
    #[inline(never)]
    pub(super) fn loop_back(&mut self, datagram: &[u8]) {
        let stats = &mut self.env.stats.lo;
        if !self.looped.push(datagram) {
            stats.drops += 1;
            return;
        }
        stats.packets += 1;
        stats.bytes += datagram.len() as u64;
        debug_assert!(tcp_checksum_ok(datagram), "a looped segment's checksum");
        self.trace_out_tcp(datagram);
    }

    /// One more batch of looped datagrams delivered in this drain, unless
    /// `rounds` has reached [`LOOPBACK_ROUNDS`] (then false: the deadline
    /// says now and the next call goes on).
    #[inline(never)]
    pub(super) fn loopback_round(&mut self, rounds: &mut usize) -> bool {
        if *rounds == LOOPBACK_ROUNDS {
            return false;
        }
        *rounds += 1;
        self.deliver_looped();
        true
    }

    /// At the end of a drain: looped datagrams left (the drain's budget
    /// ran out) make the deadline now, so a driver that waits for it comes
    /// back at once. Only here: every other entry point is followed by a
    /// drain (the call order `poll_transmit` documents), which goes on
    /// delivering them, so the deadline's other computations need not ask.
    #[inline]
    pub(super) fn loopback_deadline(&mut self) {
        if !self.looped.is_empty() {
            self.next_deadline = Some(self.now);
        }
    }

    /// Delivers up to [`LOOPBACK_WEIGHT`] looped datagrams as input.
    fn deliver_looped(&mut self) {
        for _ in 0..LOOPBACK_WEIGHT {
            let Some(datagram) = self.looped.pop() else {
                break;
            };
            self.handle_looped(&datagram);
            self.looped.recycle(datagram);
        }
    }

    /// One looped datagram in: the header is checked as any other's (it is
    /// our own, so nothing fails), the martian checks are skipped, and it
    /// goes to its protocol as a local datagram.
    fn handle_looped(&mut self, bytes: &[u8]) {
        self.env.stats.ip.in_receives += 1;
        let packet = Ipv4Packet::new_unchecked(bytes);
        let (ip, header_len) = match Ipv4Repr::parse_with_header_len(&packet, Checksum::Full) {
            Ok(parsed) => parsed,
            Err(e) => return self.count_ip_error(e),
        };
        let datagram = &bytes[..header_len + usize::from(ip.payload_len)];
        // Ours (127/8 included), or a broadcast we sent (a copy of it).
        let dst = if self.is_host_addr(ip.dst_addr) {
            Destination::Local
        } else {
            Destination::Broadcast
        };
        self.rx_looped = true;
        // Our own TCP checksum, computed as the segment was written: not
        // summed again (Linux's `lo` vouches for it, `CHECKSUM_UNNECESSARY`).
        self.rx.csum_trusted = true;
        if ip.is_fragment() {
            self.handle_fragment(datagram, dst, false);
        } else {
            self.deliver_ip_outlined(&ip, datagram, dst, false);
        }
        self.rx = super::RxOffload::default();
        self.rx_looped = false;
    }
}

/// Debug builds: a looped TCP segment's checksum is right, as the receiver
/// no longer checks it (every test over the loopback checks it here).
fn tcp_checksum_ok(datagram: &[u8]) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(datagram) else {
        return false;
    };
    if ip.protocol() != crate::wire::ipv4::IpProtocol::Tcp
        || ip.more_frags()
        || ip.frag_offset() != 0
    {
        return true;
    }
    crate::wire::tcp::TcpPacket::new_checked(ip.payload())
        .is_ok_and(|t| t.verify_checksum(ip.src_addr(), ip.dst_addr()))
}
