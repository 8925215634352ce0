//! A socket's receive queue: datagrams stored back to back in one ring
//! buffer, each charged its length plus `DATAGRAM_OVERHEAD` against the
//! receive buffer, with the IP options it was asked to keep and the TTL and
//! TOS it came with. UDP's sockets and ping sockets ([`crate::ping`]) share
//! it.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;

use super::{DATAGRAM_OVERHEAD, Received};
use crate::ip::IfaceId;
use crate::ip::options::MAX_LEN as MAX_OPTIONS;
use crate::storage::RingBuffer;

/// What a datagram's IP header said, as `recvmsg` reports it: where it
/// was sent and the interface it came in on (IP_PKTINFO), its TTL
/// (IP_RECVTTL) and TOS (IP_RECVTOS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrived {
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub tos: u8,
    pub iface: IfaceId,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    src: SocketAddrV4,
    dst: Ipv4Addr,
    len: usize,
    /// The TTL it arrived with (IP_RECVTTL).
    ttl: u8,
    /// The TOS byte it arrived with (IP_RECVTOS).
    tos: u8,
    /// The IP options stored before the payload (IP_RECVOPTS), bytes.
    options: u8,
    /// The interface it came in on (IP_PKTINFO's `ipi_ifindex`).
    iface: IfaceId,
}

#[derive(Debug)]
pub(crate) struct RxQueue {
    pub(crate) bytes: RingBuffer,
    pub(crate) meta: VecDeque<Meta>,
    charged: usize,
    pub(crate) limit: usize,
}

impl RxQueue {
    pub(crate) fn new(limit: usize) -> Self {
        RxQueue {
            bytes: RingBuffer::new(limit),
            meta: VecDeque::new(),
            charged: 0,
            limit,
        }
    }

    /// Queues a datagram, and its IP options if the socket wants them
    /// (`options` is empty otherwise); both count against the limit.
    pub(crate) fn push(
        &mut self,
        src: SocketAddrV4,
        Arrived {
            dst,
            ttl,
            tos,
            iface,
        }: Arrived,
        options: &[u8],
        data: &[u8],
    ) -> bool {
        let stored_len = options.len() + data.len();
        let cost = stored_len + DATAGRAM_OVERHEAD;
        if self.charged + cost > self.limit || self.bytes.free() < stored_len {
            return false;
        }
        let stored = self.bytes.enqueue_slice(options) + self.bytes.enqueue_slice(data);
        debug_assert_eq!(stored, stored_len, "free() was checked");
        self.meta.push_back(Meta {
            src,
            dst,
            len: data.len(),
            ttl,
            tos,
            // At most 40 (`ip::options::MAX_LEN`).
            options: options.len() as u8,
            iface,
        });
        self.charged += cost;
        true
    }

    /// What the queue charges against the receive buffer now: its bytes
    /// and [`DATAGRAM_OVERHEAD`] a datagram (`ss -u`'s Recv-Q).
    pub(crate) fn charged(&self) -> usize {
        self.charged
    }

    /// Takes the oldest datagram into `buf` and its IP options into
    /// `options`, with their length.
    pub(crate) fn pop(
        &mut self,
        buf: &mut [u8],
        options: &mut [u8; MAX_OPTIONS],
    ) -> Option<(Received, usize)> {
        let m = self.meta.pop_front()?;
        let options_len = usize::from(m.options);
        let taken = self.bytes.dequeue_slice(&mut options[..options_len]);
        debug_assert_eq!(taken, options_len, "queued with the datagram");
        let n = m.len.min(buf.len());
        let copied = self.bytes.dequeue_slice(&mut buf[..n]);
        self.bytes.discard_front(m.len - copied);
        self.charged -= options_len + m.len + DATAGRAM_OVERHEAD;
        let received = Received {
            len: copied,
            truncated: copied < m.len,
            src: m.src,
            dst: m.dst,
            ttl: m.ttl,
            tos: m.tos,
            iface: m.iface,
        };
        Some((received, options_len))
    }
}
