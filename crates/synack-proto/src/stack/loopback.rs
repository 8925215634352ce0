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
//! has no link layer and is never merged by GRO. As on Linux's `lo`, a
//! connection's data segments leave with the checksum offloaded (the
//! pseudo-header's sum only: nothing sums the payload) and a TCP
//! segment's checksum is never checked on the way in (`CHECKSUM_UNNECESSARY`);
//! control segments, UDP and ICMP carry whole checksums. `synack trace`
//! shows both directions (a data segment's checksum as partial, as
//! tcpdump on `lo` does). A broadcast datagram goes
//! out of its interface and, a copy, round the loopback to local sockets,
//! as on Linux.
//!
//! The MTU. Linux's `lo` has an MTU of 65,536, so a local connection
//! advertises and sends segments of up to 64 KB (an MSS of 65,483 with
//! timestamps). Here the loopback's MTU is [`LOOPBACK_MTU`], 65,535, the
//! largest IPv4 datagram (RFC 791 §3.1, Total Length), which gives the same
//! MSS: a connection over the loopback starts with it (`ConnParams::
//! route_mtu`), whatever `Config::mtu` the interfaces have. Such a segment
//! does not fit the driver's frame buffer, so a connection routed here
//! writes into one of the loopback's own buffers
//! ([`Stack::with_loopback_buffer`]), which joins the queue as it is: no
//! copy. Other looped datagrams (a reply, a UDP datagram) are written into
//! the driver's buffer as ever and copied into the queue. A multicast
//! datagram to a group the host has joined comes round too, unless its
//! sender said not to (IP_MULTICAST_LOOP, `stack/multicast.rs`).

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

/// The loopback's MTU: the largest IPv4 datagram (Linux's `lo` says
/// 65,536, which no IPv4 datagram reaches; the MSS is the same).
pub(crate) const LOOPBACK_MTU: u16 = u16::MAX;

/// Room before each queued datagram: a frame's link header, which the
/// output path leaves free in any buffer it writes (a looped frame's
/// Ethernet header is never written).
const HEADROOM: usize = crate::wire::ethernet::HEADER_LEN;

/// A buffer a connection writes a looped segment into: the headroom and
/// the largest datagram.
const BUFFER_LEN: usize = HEADROOM + LOOPBACK_MTU as usize;

/// Buffers kept for reuse (at most 64 of [`BUFFER_LEN`] bytes: 4 MiB
/// after a burst of large segments).
const POOL_MAX: usize = 64;

/// Datagrams on their way back in, in pooled buffers, each after
/// [`HEADROOM`] bytes.
#[derive(Debug, Default)]
pub(super) struct Loopback {
    queue: VecDeque<Queued>,
    pool: Vec<Vec<u8>>,
    /// A connection is writing into a loopback buffer
    /// ([`Stack::with_loopback_buffer`]): the looped datagram is left
    /// there, not copied, its length noted in `written` if the queue has
    /// room for it.
    direct: bool,
    /// The length and interface of what `loop_back` left there.
    written: Option<(usize, usize)>,
}

/// A datagram in the queue: `len` bytes after the buffer's headroom (the
/// buffer is kept at its length, so reusing it zeroes nothing), and the
/// interface it comes back in on ([`Stack::loop_back`]).
#[derive(Debug)]
struct Queued {
    buf: Vec<u8>,
    len: usize,
    iface: usize,
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
    fn push(&mut self, datagram: &[u8], iface: usize) -> bool {
        if self.queue.len() >= LOOPBACK_QLEN {
            return false;
        }
        let mut buf = self.pool.pop().unwrap_or_default();
        let end = HEADROOM + datagram.len();
        if buf.len() < end {
            // Zeroed once, as the buffer grows; reused as it is.
            buf.resize(end, 0);
        }
        buf[HEADROOM..end].copy_from_slice(datagram);
        self.queue.push_back(Queued {
            buf,
            len: datagram.len(),
            iface,
        });
        true
    }

    /// A buffer for a connection to write a frame of up to
    /// [`BUFFER_LEN`] bytes into.
    fn take_buffer(&mut self) -> Vec<u8> {
        let mut buf = self.pool.pop().unwrap_or_default();
        if buf.len() < BUFFER_LEN {
            buf.resize(BUFFER_LEN, 0);
        }
        buf
    }

    fn pop(&mut self) -> Option<Queued> {
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
    /// segments are traced as sent. Written into a loopback buffer
    /// ([`Stack::with_loopback_buffer`]), it stays there. `iface`: the
    /// interface it comes back in on, [`LOOPBACK`] for one routed there and
    /// the interface it was sent on for a broadcast or multicast copy (as
    /// Linux's `dev_loopback_xmit` keeps the device), which a socket's
    /// group filter is matched by.
    #[cold]
    #[inline(never)]
    pub(super) fn loop_back(&mut self, datagram: &[u8], iface: usize) {
        let stats = &mut self.env.stats.lo;
        let queued = if self.looped.direct {
            // Left in the loopback's buffer, which joins the queue.
            let room = self.looped.queue.len() < LOOPBACK_QLEN;
            self.looped.written = room.then_some((datagram.len(), iface));
            room
        } else {
            self.looped.push(datagram, iface)
        };
        if !queued {
            stats.drops += 1;
            return;
        }
        stats.packets += 1;
        stats.bytes += datagram.len() as u64;
        // A connection's segment in a loopback buffer carries a partial
        // checksum (`tx_offload` notes it); any other a whole one.
        debug_assert!(
            self.tx_offload.is_some() || tcp_checksum_ok(datagram),
            "a looped segment's checksum"
        );
        self.trace_out_tcp(datagram);
    }

    /// `write` (the output path of a connection routed to the loopback)
    /// into a loopback buffer instead of the driver's `buf`, which may be
    /// too small for the loopback's segments; the datagram it leaves there
    /// joins the queue in that buffer. Returns what `write` returns (a
    /// looped segment leaves no frame for the driver).
    #[cold]
    #[inline(never)]
    pub(super) fn with_loopback_buffer<T>(
        &mut self,
        write: impl FnOnce(&mut Self, &mut [u8]) -> T,
    ) -> T {
        debug_assert!(!self.looped.direct, "loopback buffers do not nest");
        let mut buf = self.looped.take_buffer();
        self.looped.direct = true;
        let done = write(self, &mut buf);
        self.looped.direct = false;
        match self.looped.written.take() {
            Some((len, iface)) => self.looped.queue.push_back(Queued { buf, len, iface }),
            // Nothing written, or dropped (`loop_back` counted it).
            None => self.looped.recycle(buf),
        }
        done
    }

    /// Whether output to `iface` goes to a loopback buffer rather than the
    /// driver's (the hop is the loopback's, and no such buffer is in use).
    #[inline]
    pub(super) fn needs_loopback_buffer(&self, iface: usize) -> bool {
        iface == LOOPBACK && !self.looped.direct
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
            let Some(Queued { buf, len, iface }) = self.looped.pop() else {
                break;
            };
            self.handle_looped(&buf[HEADROOM..HEADROOM + len], iface);
            self.looped.recycle(buf);
        }
    }

    /// One looped datagram in, on `iface`: the header is checked as any other's (it is
    /// our own, so nothing fails), the martian checks are skipped, and it
    /// goes to its protocol as a local datagram.
    fn handle_looped(&mut self, bytes: &[u8], iface: usize) {
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
            self.handle_fragment(iface, datagram, dst, false);
        } else {
            self.deliver_ip_outlined(iface, &ip, datagram, dst, false);
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
