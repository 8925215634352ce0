//! Ping sockets through the stack: the application's echo requests out
//! (routed, the socket's identifier and the checksum written in), replies
//! and ICMP errors in (to the socket whose identifier they carry or quote).
//!
//! Read first: RFC 792 (echo), RFC 1122 §3.2.2.6; the socket table and its
//! semantics (identifiers, the message format, IP_RECVERR) are
//! [`crate::ping::PingSockets`], after Linux's net/ipv4/ping.c.

use core::net::Ipv4Addr;

use super::{Event, Stack};
use crate::ip::icmp::{IcmpErrorKind, TransportError, msg_type};
use crate::ip::options::SendOptions;
use crate::ip::pmtu::PmtuDiscovery;
use crate::ping::{HEADER_LEN, PingError, PingErrorReport, PingHandle, PingInput, PingReceived};
use crate::ping::{Outgoing, PingStats};
use crate::time::Instant;
use crate::udp::rx::Arrived;
use crate::wire::Checksum;
use crate::wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use crate::wire::ipv4::{HEADER_LEN as IP_HEADER_LEN, IpProtocol, Ipv4Repr};

impl Stack {
    /// A new, unbound ping socket (`socket(AF_INET, SOCK_DGRAM,
    /// IPPROTO_ICMP)`).
    pub fn ping_open(&mut self) -> PingHandle {
        self.ping.open()
    }

    /// Binds to `addr` (one of ours, or 0.0.0.0) and echo identifier
    /// `ident` (0: a free one); returns the identifier. AddrInUse when
    /// another socket has it, AddrNotAvailable for an address not ours.
    pub fn ping_bind(
        &mut self,
        h: PingHandle,
        addr: Ipv4Addr,
        ident: u16,
    ) -> Result<u16, PingError> {
        let ifaces = &self.ifaces;
        self.ping
            .bind(h, addr, ident, |a| super::iface::is_host_addr_of(ifaces, a))
    }

    /// Records `peer` as the requests' default destination (binding an
    /// unbound socket, fixing a wildcard address to the route's source);
    /// returns the local address and identifier.
    pub fn ping_connect(
        &mut self,
        h: PingHandle,
        peer: Ipv4Addr,
    ) -> Result<(Ipv4Addr, u16), PingError> {
        let src = self.source_for(peer);
        self.ping.connect(h, peer, src)
    }

    /// Sends `message` to the connected peer.
    pub fn ping_send(
        &mut self,
        now: Instant,
        h: PingHandle,
        message: &[u8],
    ) -> Result<usize, PingError> {
        self.ping_send_impl(now, h, None, message)
    }

    /// Sends `message`, an ICMP echo request header (type 8, code 0; the
    /// identifier and checksum are the stack's to write) and its data, to
    /// `dst` (`sendto`). Returns the message's length.
    pub fn ping_send_to(
        &mut self,
        now: Instant,
        h: PingHandle,
        dst: Ipv4Addr,
        message: &[u8],
    ) -> Result<usize, PingError> {
        self.ping_send_impl(now, h, Some(dst), message)
    }

    fn ping_send_impl(
        &mut self,
        now: Instant,
        h: PingHandle,
        dst: Option<Ipv4Addr>,
        message: &[u8],
    ) -> Result<usize, PingError> {
        self.advance(now);
        let bound = self.ping.local(h)?.map(|(a, _)| a);
        let target = dst.or(self.ping.peer(h)?);
        if bound.is_some_and(|a| a.is_loopback()) && target.is_some_and(|t| !self.is_host_addr(t)) {
            // 127/8 never leaves the host (RFC 1122 §3.2.1.3 (g); EINVAL).
            return Err(PingError::InvalidInput);
        }
        // IP_OPTIONS: a source route's first hop is where it goes first.
        let options = self.ping.ip_options(h)?.copied();
        let first_hop = self
            .first_hop_of(options.as_ref())
            .ok_or(PingError::NetworkUnreachable)?;
        let header_len = IP_HEADER_LEN + options.map_or(0, |o| o.len());
        let total = header_len + message.len();
        if total > usize::from(u16::MAX) {
            return Err(PingError::MessageTooLong);
        }
        // The table settles the destination as `target` did.
        let route_src = first_hop.or(target).and_then(|to| self.source_for(to));
        let broadcast = target.is_some_and(|to| {
            to.is_broadcast() || self.ifaces.iter().any(|i| i.cidr.is_directed_broadcast(to))
        });
        let out: Outgoing = self
            .ping
            .send_to(h, dst, message, |_| route_src, |_| broadcast)?;
        // IP_MTU_DISCOVER (`datagram_pmtu`), as UDP's.
        let via = first_hop.unwrap_or(out.dst);
        let Ok(dont_frag) = self.datagram_dont_fragment(out.pmtu_discovery, (via, None), total)
        else {
            self.ping.record_send_dropped();
            return Err(PingError::MessageTooLong);
        };
        let Some(mut buf) = self.out.alloc(total) else {
            self.ping.record_send_dropped();
            return Err(PingError::NoBufferSpace);
        };
        buf.resize(total, 0);
        let multicast = out.dst.is_multicast();
        let ttl = match multicast {
            true => out.multicast_ttl,
            false => out.ttl.unwrap_or(self.env.config.ip_default_ttl),
        };
        self.write_ip_header_tos(
            &mut buf[..IP_HEADER_LEN],
            out.src,
            first_hop.unwrap_or(out.dst),
            IpProtocol::Icmp,
            total - IP_HEADER_LEN,
            dont_frag,
            (out.tos, ttl),
        );
        if let Some(options) = options {
            self.write_socket_options(&mut buf, &options, out.dst);
        }
        // The application's sequence number and data, our identifier.
        let request = Icmpv4Repr::EchoRequest {
            ident: out.ident,
            seq_no: u16::from_be_bytes([message[6], message[7]]),
            data: &message[HEADER_LEN..],
        };
        request.emit(
            &mut Icmpv4Packet::new_unchecked(&mut buf[header_len..]),
            Checksum::Full,
        );
        // A group's request loops back to this host too
        // (IP_MULTICAST_LOOP's default), as UDP's.
        self.out.push_with(buf, None, multicast);
        self.env.stats.icmp.record_out(msg_type::ECHO_REQUEST);
        self.refresh_deadline();
        Ok(message.len())
    }

    /// Takes the oldest reply (its ICMP header and data) into `buf`, with
    /// its source and TTL; a pending error first, once.
    pub fn ping_recv_from(
        &mut self,
        h: PingHandle,
        buf: &mut [u8],
    ) -> Result<PingReceived, PingError> {
        self.ping.recv_from(h, buf)
    }

    /// [`Stack::ping_recv_from`], and the reply's IP options into
    /// `options` with their length (none unless
    /// [`Stack::ping_set_recv_ip_options`]): `recvmsg` with IP_RECVOPTS.
    pub fn ping_recv_msg(
        &mut self,
        h: PingHandle,
        buf: &mut [u8],
        options: &mut [u8; crate::ip::options::MAX_LEN],
    ) -> Result<(PingReceived, usize), PingError> {
        self.ping.recv_msg(h, buf, options)
    }

    /// Sets IP_OPTIONS, the IP options (RFC 791 §3.1) every request of the
    /// socket carries, as [`Stack::udp_set_ip_options`] takes them (a
    /// record route for `ping -R`); empty: none. Malformed ones are
    /// `InvalidInput`.
    pub fn ping_set_ip_options(&mut self, h: PingHandle, options: &[u8]) -> Result<(), PingError> {
        let options = match options {
            [] => None,
            _ => Some(SendOptions::new(options).map_err(|_| PingError::InvalidInput)?),
        };
        self.ping.set_ip_options(h, options)
    }

    /// Sets IP_RECVOPTS: replies queued from now on keep their IP options
    /// for [`Stack::ping_recv_msg`].
    pub fn ping_set_recv_ip_options(&mut self, h: PingHandle, on: bool) -> Result<(), PingError> {
        self.ping.set_recv_options(h, on)
    }

    /// Takes the oldest ICMP error queued by IP_RECVERR (MSG_ERRQUEUE).
    pub fn ping_recv_error(&mut self, h: PingHandle) -> Result<Option<PingErrorReport>, PingError> {
        self.ping.recv_error(h)
    }

    /// Sets IP_RECVERR: every ICMP error about the socket's requests is
    /// queued for [`Stack::ping_recv_error`] (traceroute's way of hearing
    /// time exceeded); off by default.
    pub fn ping_set_recv_error(&mut self, h: PingHandle, on: bool) -> Result<(), PingError> {
        self.ping.set_recv_error(h, on)
    }

    /// Sets IP_TTL, the TTL of the socket's requests; 0 is refused
    /// (`InvalidInput`). Until set, `ip_default_ttl`.
    pub fn ping_set_ttl(&mut self, h: PingHandle, ttl: u8) -> Result<(), PingError> {
        self.ping.set_ttl(h, Some(ttl))
    }

    /// Sets IP_MULTICAST_TTL, the TTL of the socket's requests to a group
    /// (1 until set; 0 keeps them on this host).
    pub fn ping_set_multicast_ttl(&mut self, h: PingHandle, ttl: u8) -> Result<(), PingError> {
        self.ping.set_multicast_ttl(h, ttl)
    }

    /// IP_MULTICAST_TTL.
    pub fn ping_multicast_ttl(&self, h: PingHandle) -> Result<u8, PingError> {
        self.ping.multicast_ttl(h)
    }

    /// IP_TTL as `getsockopt` reads it: set, or `ip_default_ttl`.
    pub fn ping_ttl(&self, h: PingHandle) -> Result<u8, PingError> {
        Ok(self.ping.ttl(h)?.unwrap_or(self.env.config.ip_default_ttl))
    }

    /// Sets IP_TOS, the TOS byte of the socket's requests (`ping -Q`),
    /// which their echo replies carry back (RFC 1349 §5.1: "the same value
    /// in the TOS field as was used in the corresponding ICMP Echo
    /// Request"; Linux's `icmp_reply` and synack's `emit_echo_reply` do).
    /// Until set, 0.
    pub fn ping_set_tos(&mut self, h: PingHandle, tos: u8) -> Result<(), PingError> {
        self.ping.set_tos(h, tos)
    }

    /// IP_TOS.
    pub fn ping_tos(&self, h: PingHandle) -> Result<u8, PingError> {
        self.ping.tos(h)
    }

    /// Sets IP_MTU_DISCOVER (`ping -M`), as [`Stack::udp_set_pmtu_discovery`]:
    /// `Want` until set; with `Do` a request larger than the path MTU is
    /// refused (`MessageTooLong`).
    pub fn ping_set_pmtu_discovery(
        &mut self,
        h: PingHandle,
        mode: PmtuDiscovery,
    ) -> Result<(), PingError> {
        self.ping.set_pmtu_discovery(h, mode)
    }

    /// IP_MTU_DISCOVER.
    pub fn ping_pmtu_discovery(&self, h: PingHandle) -> Result<PmtuDiscovery, PingError> {
        self.ping.pmtu_discovery(h)
    }

    /// Sets SO_BROADCAST: requests may go to a broadcast address.
    pub fn ping_set_broadcast(&mut self, h: PingHandle, on: bool) -> Result<(), PingError> {
        self.ping.set_broadcast(h, on)
    }

    /// Takes the pending error, if any (`SO_ERROR`).
    pub fn ping_take_error(
        &mut self,
        h: PingHandle,
    ) -> Result<Option<crate::ip::icmp::IcmpErrno>, PingError> {
        self.ping.take_error(h)
    }

    /// A reply, an error or a queued error report is waiting.
    pub fn ping_is_readable(&self, h: PingHandle) -> Result<bool, PingError> {
        self.ping.is_readable(h)
    }

    /// The socket's address and echo identifier, once bound.
    pub fn ping_local(&self, h: PingHandle) -> Result<Option<(Ipv4Addr, u16)>, PingError> {
        self.ping.local(h)
    }

    /// The connected peer.
    pub fn ping_peer(&self, h: PingHandle) -> Result<Option<Ipv4Addr>, PingError> {
        self.ping.peer(h)
    }

    /// Sets the receive buffer (`SO_RCVBUF`), which bounds the queue.
    pub fn ping_set_recv_buffer(&mut self, h: PingHandle, bytes: usize) -> Result<(), PingError> {
        self.ping.set_recv_buffer_size(h, bytes)
    }

    /// Replies queued and their bytes.
    pub fn ping_recv_queue(&self, h: PingHandle) -> Result<(usize, usize), PingError> {
        self.ping.recv_queue(h)
    }

    /// Closes the socket, freeing its identifier.
    pub fn ping_close(&mut self, h: PingHandle) -> Result<(), PingError> {
        self.ping.close(h)
    }

    /// The ping sockets' counters.
    pub fn ping_stats(&self) -> &PingStats {
        self.ping.stats()
    }

    /// An echo reply for us (`payload` is the ICMP message, checksum
    /// verified; `options` its datagram's, checked): to the ping socket
    /// with its identifier, if any.
    pub(super) fn handle_echo_reply(
        &mut self,
        (ip, iface): (&Ipv4Repr, usize),
        options: &[u8],
        ident: u16,
        payload: &[u8],
    ) {
        let to = Arrived {
            dst: ip.dst_addr,
            ttl: ip.ttl,
            tos: ip.dscp_ecn,
            iface: crate::ip::IfaceId(iface as u16),
        };
        let input = self
            .ping
            .handle_reply(ip.src_addr, to, ident, options, payload);
        if let PingInput::Delivered(h) = input {
            self.events.push_back(Event::PingReadable(h));
        }
    }

    /// An ICMP error quoting an ICMP message we sent: to the ping socket
    /// whose echo request it was, if any.
    pub(super) fn ping_icmp_error(&mut self, offender: Ipv4Addr, error: &TransportError<'_>) {
        if matches!(error.error.kind, IcmpErrorKind::FragNeeded { .. })
            && self.ping.sent_quoted(error)
        {
            self.learn_datagram_pmtu(error);
        }
        if let Some(h) = self.ping.handle_error(offender, error) {
            self.events.push_back(Event::PingReadable(h));
        }
    }
}
