//! UDP sockets through the stack: the application's commands, datagrams
//! in (to a socket, or ICMP port unreachable) and out (routed, checksummed,
//! fragmented when larger than the MTU).
//!
//! Read first: RFC 768, RFC 1122 §4.1.3 (a host's UDP: port unreachable,
//! ICMP errors to the application, checksums), RFC 8085 §5; the socket
//! table and its semantics (bind, connect, disconnect, the bounded receive
//! queue) are [`crate::udp::UdpSockets`].

use core::net::{Ipv4Addr, SocketAddrV4};

use super::{Event, Stack};
use crate::ip::addr::Destination;
use crate::ip::options::{MAX_LEN as MAX_OPTIONS, Registration, SendOptions};
use crate::ip::pmtu::PmtuDiscovery;
use crate::ip::stats::UdpStats;
use crate::time::Instant;
use crate::udp::{
    Outgoing, Received, UdpError, UdpErrorReport, UdpHandle, UdpInput, UdpSocketSummary,
};
use crate::wire::Checksum;
use crate::wire::ipv4::{HEADER_LEN as IP_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr};

impl Stack {
    /// A new, unbound UDP socket (`socket(AF_INET, SOCK_DGRAM)`).
    pub fn udp_open(&mut self) -> UdpHandle {
        self.udp.open()
    }

    /// Binds to `local` (one of our addresses or 0.0.0.0; port 0 for an
    /// ephemeral one); returns the address bound. AddrInUse and
    /// AddrNotAvailable as std reports them.
    pub fn udp_bind(
        &mut self,
        h: UdpHandle,
        local: SocketAddrV4,
    ) -> Result<SocketAddrV4, UdpError> {
        let ifaces = &self.ifaces;
        self.udp
            .bind(h, local, |a| super::iface::is_host_addr_of(ifaces, a))
    }

    /// Records `remote` as the peer (binding an unbound socket, fixing a
    /// wildcard local address to the route's source); may be repeated to
    /// change peers. Returns the local address.
    pub fn udp_connect(
        &mut self,
        h: UdpHandle,
        remote: SocketAddrV4,
    ) -> Result<SocketAddrV4, UdpError> {
        let bound = self.udp.local_addr(h)?.map(|a| *a.ip());
        if bound.is_some_and(|a| a.is_loopback()) && !self.is_host_addr(*remote.ip()) {
            // 127/8 never leaves the host (RFC 1122 §3.2.1.3 (g); EINVAL).
            return Err(UdpError::InvalidInput);
        }
        let src = self.source_for(*remote.ip());
        self.udp.connect(h, remote, src)
    }

    /// Undoes `udp_connect` (`connect(AF_UNSPEC)`).
    pub fn udp_disconnect(&mut self, h: UdpHandle) -> Result<(), UdpError> {
        self.udp.disconnect(h)
    }

    /// Sends `data` to the connected peer.
    pub fn udp_send(&mut self, now: Instant, h: UdpHandle, data: &[u8]) -> Result<usize, UdpError> {
        self.udp_send_impl(now, h, None, None, data)
    }

    /// Sends `data` to `dst` (`sendto`).
    pub fn udp_send_to(
        &mut self,
        now: Instant,
        h: UdpHandle,
        dst: SocketAddrV4,
        data: &[u8],
    ) -> Result<usize, UdpError> {
        self.udp_send_impl(now, h, Some(dst), None, data)
    }

    /// [`Stack::udp_send_to`] from source address `src` (`sendmsg` with
    /// IP_PKTINFO's `ipi_spec_dst`): a server bound to 0.0.0.0 on a host
    /// of several addresses answers from the one a request came to
    /// ([`Received::dst`]), which the route to `dst` might not pick (RFC
    /// 1122 §4.1.3.5: the reply's source is the request's destination).
    /// `src` must be this host's (one of its interfaces' addresses, or on
    /// 127/8 to this host; `InvalidInput` otherwise, as Linux's EINVAL);
    /// the route to `dst` still chooses the way out. `dst` `None`: the
    /// connected peer.
    pub fn udp_send_from(
        &mut self,
        now: Instant,
        h: UdpHandle,
        dst: Option<SocketAddrV4>,
        src: Ipv4Addr,
        data: &[u8],
    ) -> Result<usize, UdpError> {
        self.udp_send_impl(now, h, dst, Some(src), data)
    }

    fn udp_send_impl(
        &mut self,
        now: Instant,
        h: UdpHandle,
        dst: Option<SocketAddrV4>,
        from: Option<Ipv4Addr>,
        data: &[u8],
    ) -> Result<usize, UdpError> {
        self.advance(now);
        let target = dst.or(self.udp.peer_addr(h)?);
        if let Some(from) = from {
            // IP_PKTINFO's source: this host's, and 127/8 only to it.
            let leaves = target.is_some_and(|t| !self.is_host_addr(*t.ip()));
            if !self.is_host_addr(from) || (leaves && from.is_loopback()) {
                return Err(UdpError::InvalidInput);
            }
        }
        // IP_MULTICAST_IF: a group's datagrams leave by the socket's
        // interface, from its address, whatever the routes say.
        let multicast_if = match target {
            Some(t) if t.ip().is_multicast() => self.udp.multicast_if(h)?,
            _ => None,
        };
        let options = self.udp.ip_options(h)?.copied();
        let first_hop = self
            .first_hop_of(options.as_ref())
            .ok_or(UdpError::NetworkUnreachable)?;
        let src = match multicast_if {
            Some(i) => self.ifaces.get(i).map(|i| i.config.addr),
            None => first_hop
                .or(target.map(|t| *t.ip()))
                .and_then(|to| self.source_for(to)),
        };
        let bound = self.udp.local_addr(h)?.map(|a| *a.ip());
        if bound.is_some_and(|a| a.is_loopback())
            && target.is_some_and(|t| !self.is_host_addr(*t.ip()))
        {
            // 127/8 never leaves the host (RFC 1122 §3.2.1.3 (g); EINVAL).
            return Err(UdpError::InvalidInput);
        }
        let mut out: Outgoing = self.udp.send_to(h, dst, data.len(), |_| src)?;
        if let Some(from) = from {
            // IP_PKTINFO: this source, whatever the binding or the route.
            out.src = SocketAddrV4::new(from, out.src.port());
        }
        let udp_len = Outgoing::udp_len(data.len());
        // IP_OPTIONS: after the fixed header, this host registered in them.
        let header_len = IP_HEADER_LEN + options.map_or(0, |o| o.len());
        let total = header_len + udp_len;
        if total > usize::from(u16::MAX) {
            self.udp.record_send_dropped();
            return Err(UdpError::MessageTooLong);
        }
        // IP_MTU_DISCOVER (`datagram_pmtu`): DF if the mode says so, to a
        // source route's first hop; larger than the path MTU without DF,
        // the datagram is sent in fragments.
        let via = first_hop.unwrap_or(*out.dst.ip());
        let mode = self.udp.pmtu_discovery(h)?;
        let Ok(dont_frag) = self.datagram_dont_fragment(mode, (via, multicast_if), total) else {
            // IP_PMTUDISC_DO or _PROBE: EMSGSIZE (Linux `ip_append_data`).
            self.udp.record_send_dropped();
            return Err(UdpError::MessageTooLong);
        };
        let Some(mut buf) = self.out.alloc(total) else {
            self.udp.record_send_dropped();
            return Err(UdpError::NoBufferSpace);
        };
        buf.resize(total, 0);
        let mut multicast_loop = false;
        let ttl = if out.dst.ip().is_multicast() {
            // IP_MULTICAST_TTL (RFC 1112 §6.1: 1 unless the socket says
            // otherwise), in place of the unicast default; IP_MULTICAST_LOOP.
            // 0 keeps it on this host (`transmit_datagram`).
            multicast_loop = self.udp.multicast_loop(h)?;
            self.udp.multicast_ttl(h)?
        } else {
            // IP_TTL in place of `ip_default_ttl` (traceroute's probes).
            let set = self.udp.unicast_ttl(h)?;
            set.unwrap_or(self.env.config.ip_default_ttl)
        };
        // IP_TOS: the whole byte, its ECN field too (RFC 3168 §6 leaves
        // the field to the transport, and UDP's is the application).
        let tos = self.udp.tos(h)?;
        // To a source route's first hop; the UDP checksum covers the final
        // destination (RFC 1122 §4.1.3.4: the pseudo-header's is the final
        // one).
        self.write_ip_header_tos(
            &mut buf[..IP_HEADER_LEN],
            *out.src.ip(),
            first_hop.unwrap_or(*out.dst.ip()),
            IpProtocol::Udp,
            total - IP_HEADER_LEN,
            dont_frag,
            (tos, ttl),
        );
        if let Some(options) = options {
            self.write_socket_options(&mut buf, &options, *out.dst.ip());
        }
        match out.emit(data, Checksum::Full, &mut buf[header_len..]) {
            Some(_) => self.out.push_with(buf, multicast_if, multicast_loop),
            None => {
                self.out.recycle(buf);
                self.udp.record_send_dropped();
                return Err(UdpError::MessageTooLong);
            }
        }
        self.refresh_deadline();
        Ok(data.len())
    }

    /// Sets IP_OPTIONS: the IP options (RFC 791 §3.1) every datagram of the
    /// socket carries, with this host's entry written into a record route
    /// or timestamp option as each is sent; empty: none. A loose or strict
    /// source route is given as Linux takes it: its hops in order, the
    /// first of them the datagrams' IP destination, the final destination
    /// written into its last slot as each is sent (RFC 1122 §3.2.1.8(c):
    /// a host "MUST support originating a source route"). Refused with
    /// `InvalidInput` (Linux's EINVAL): longer than 40 bytes, malformed, a
    /// source route with a pointer other than 4 or no whole hop, or a
    /// timestamp flag RFC 791 does not define. A strict route whose first
    /// hop is not on the link makes sending fail with `NetworkUnreachable`.
    pub fn udp_set_ip_options(&mut self, h: UdpHandle, options: &[u8]) -> Result<(), UdpError> {
        let options = SendOptions::new(options).map_err(|_| UdpError::InvalidInput)?;
        self.udp.set_ip_options(h, Some(options))
    }

    /// Sets IP_TTL, the TTL of the socket's datagrams other than to a
    /// multicast group (RFC 1122 §3.2.1.7: "a transport layer protocol
    /// ... MUST be able to set the TTL"); 0 is refused (`InvalidInput`, as
    /// Linux's EINVAL). Until set, `ip_default_ttl`.
    pub fn udp_set_ttl(&mut self, h: UdpHandle, ttl: u8) -> Result<(), UdpError> {
        if ttl == 0 {
            return Err(UdpError::InvalidInput);
        }
        self.udp.set_unicast_ttl(h, Some(ttl))
    }

    /// IP_TTL as `getsockopt` reads it: set, or `ip_default_ttl`.
    pub fn udp_ttl(&self, h: UdpHandle) -> Result<u8, UdpError> {
        Ok(self
            .udp
            .unicast_ttl(h)?
            .unwrap_or(self.env.config.ip_default_ttl))
    }

    /// Sets IP_TOS: the TOS byte of the socket's datagrams, the DSCP (RFC
    /// 2474) and the ECN field both as given: a datagram socket chooses its
    /// own ECN codepoint (RFC 3168 §6; QUIC's ECN, RFC 9000 §13.4, sets it
    /// so), as Linux takes a datagram socket's whole byte. Until set, 0.
    pub fn udp_set_tos(&mut self, h: UdpHandle, tos: u8) -> Result<(), UdpError> {
        self.udp.set_tos(h, tos)
    }

    /// IP_TOS as `getsockopt` reads it.
    pub fn udp_tos(&self, h: UdpHandle) -> Result<u8, UdpError> {
        self.udp.tos(h)
    }

    /// Sets IP_MTU_DISCOVER (RFC 1191; `PmtuDiscovery`): whether the
    /// socket's datagrams carry DF and what is done with one larger than
    /// the path MTU. `Want` until set, as Linux's.
    pub fn udp_set_pmtu_discovery(
        &mut self,
        h: UdpHandle,
        mode: PmtuDiscovery,
    ) -> Result<(), UdpError> {
        self.udp.set_pmtu_discovery(h, mode)
    }

    /// IP_MTU_DISCOVER.
    pub fn udp_pmtu_discovery(&self, h: UdpHandle) -> Result<PmtuDiscovery, UdpError> {
        self.udp.pmtu_discovery(h)
    }

    /// IP_MTU: the path MTU to a connected socket's peer (its route's
    /// interface MTU, lowered by what "fragmentation needed" taught);
    /// `NotConnected` without a peer (Linux's ENOTCONN), `NetworkUnreachable`
    /// without a route.
    pub fn udp_path_mtu(&self, h: UdpHandle) -> Result<u16, UdpError> {
        let peer = self.udp.peer_addr(h)?.ok_or(UdpError::NotConnected)?;
        self.path_mtu(*peer.ip())
            .ok_or(UdpError::NetworkUnreachable)
    }

    /// Sets IP_MULTICAST_TTL, the TTL of the socket's datagrams to a
    /// multicast group (default 1: the link only, RFC 1112 §6.1).
    pub fn udp_set_multicast_ttl(&mut self, h: UdpHandle, ttl: u8) -> Result<(), UdpError> {
        self.udp.set_multicast_ttl(h, ttl)
    }

    /// Takes the oldest datagram (`recv`); a pending ICMP error first.
    pub fn udp_recv(&mut self, h: UdpHandle, buf: &mut [u8]) -> Result<usize, UdpError> {
        self.udp.recv(h, buf)
    }

    /// Takes the oldest datagram with its source (`recvfrom`).
    pub fn udp_recv_from(&mut self, h: UdpHandle, buf: &mut [u8]) -> Result<Received, UdpError> {
        self.udp.recv_from(h, buf)
    }

    /// [`Stack::udp_recv_from`], and the datagram's IP options (as received;
    /// none unless [`Stack::udp_set_recv_ip_options`]) into `options`, with
    /// their length (`recvmsg` with IP_RECVOPTS).
    pub fn udp_recv_msg(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
        options: &mut [u8; MAX_OPTIONS],
    ) -> Result<(Received, usize), UdpError> {
        self.udp.recv_msg(h, buf, options)
    }

    /// Sets IP_RECVOPTS: the socket's datagrams keep their IP options for
    /// [`Stack::udp_recv_msg`] (RFC 1122 §4.1.3.2), from the next one
    /// received.
    pub fn udp_set_recv_ip_options(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.udp.set_recv_options(h, on)
    }

    /// Sets SO_REUSEADDR for the socket's next bind: sockets that all set it
    /// may share an address and port; a unicast datagram goes to one of
    /// them, a broadcast or multicast one to each (Linux's UDP
    /// SO_REUSEADDR).
    pub fn udp_set_reuse_addr(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.udp.set_reuse_addr(h, on)
    }

    /// Sets SO_REUSEPORT for the socket's next bind: sockets that all set it
    /// may share an address and port; a unicast datagram goes to the one a
    /// keyed hash of its 4-tuple picks (one flow, one socket), a broadcast
    /// or multicast one to each (Linux's UDP SO_REUSEPORT).
    pub fn udp_set_reuse_port(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.udp.set_reuse_port(h, on)
    }

    /// Sets IP_RETOPTS: the socket's datagrams keep the IP options a reply
    /// should carry for [`Stack::udp_recv_msg`]: record route and
    /// timestamp as they came, a source route (taken with
    /// `accept_source_route`) reversed, in the form
    /// [`Stack::udp_set_ip_options`] takes, so that setting them sends the
    /// reply back along the route. In place of IP_RECVOPTS: the later of
    /// the two calls decides.
    pub fn udp_set_return_ip_options(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.udp.set_return_options(h, on)
    }

    /// Sets IP_RECVERR: every ICMP error about the socket's datagrams,
    /// connected or not, is queued for [`Stack::udp_recv_error`] with the
    /// address that sent it (a router's time exceeded, the destination's
    /// port unreachable: traceroute's answers); off by default.
    pub fn udp_set_recv_error(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.udp.set_recv_error(h, on)
    }

    /// Takes the oldest ICMP error IP_RECVERR queued (MSG_ERRQUEUE).
    pub fn udp_recv_error(&mut self, h: UdpHandle) -> Result<Option<UdpErrorReport>, UdpError> {
        self.udp.recv_error(h)
    }

    /// Closes the socket, dropping its queued datagrams.
    pub fn udp_close(&mut self, h: UdpHandle) -> Result<(), UdpError> {
        // Its multicast groups go with it (Linux `ip_mc_drop_socket`).
        self.leave_groups_of(h);
        self.udp.close(h)
    }

    /// The socket's local address, once bound.
    pub fn udp_local_addr(&self, h: UdpHandle) -> Result<Option<SocketAddrV4>, UdpError> {
        self.udp.local_addr(h)
    }

    /// The connected peer.
    pub fn udp_peer_addr(&self, h: UdpHandle) -> Result<Option<SocketAddrV4>, UdpError> {
        self.udp.peer_addr(h)
    }

    /// Sets the receive buffer (`SO_RCVBUF`), which bounds the queue.
    pub fn udp_set_recv_buffer(&mut self, h: UdpHandle, bytes: usize) -> Result<(), UdpError> {
        self.udp.set_recv_buffer_size(h, bytes)
    }

    /// Datagrams queued and their bytes (IP options kept for IP_RECVOPTS
    /// count too).
    pub fn udp_recv_queue(&self, h: UdpHandle) -> Result<(usize, usize), UdpError> {
        self.udp.recv_queue(h)
    }

    /// Every bound UDP socket, for `ss -u`.
    pub fn udp_sockets(&self) -> impl Iterator<Item = UdpSocketSummary> + '_ {
        self.udp.summaries()
    }

    /// UDP counters (`Udp:` in `/proc/net/snmp`).
    pub fn udp_stats(&self) -> &UdpStats {
        self.udp.stats()
    }

    /// Where a datagram with a socket's IP_OPTIONS goes first: a source
    /// route's first hop (whose route then picks the source), or `None`
    /// for its destination. `None` outside: a strict route whose first hop
    /// is not on the link (RFC 791), which fails the send with ENETUNREACH.
    pub(super) fn first_hop_of(&self, options: Option<&SendOptions>) -> Option<Option<Ipv4Addr>> {
        let first_hop = options.and_then(|o| o.first_hop());
        if let Some(hop) = first_hop {
            let on_link = self.hop_to(hop).is_some_and(|r| r.next_hop == hop);
            if options.is_some_and(|o| o.is_strict_route()) && !on_link {
                return None;
            }
        }
        Some(first_hop)
    }

    /// Writes a socket's IP_OPTIONS after the fixed header already in
    /// `datagram` (which has room for them), this host registered in a
    /// record route or timestamp and `dst` in a source route's last slot,
    /// and makes the header's length and checksum say so.
    pub(super) fn write_socket_options(
        &self,
        datagram: &mut [u8],
        options: &SendOptions,
        dst: Ipv4Addr,
    ) {
        let mut ip = Ipv4Packet::new_unchecked(&mut datagram[..]);
        let me = Registration {
            address: ip.src_addr(),
            timestamp: self.ip_timestamp(),
        };
        let is_ours = |a| self.is_local_addr(a);
        options.write(me, is_ours, dst, &mut ip.payload_mut()[..options.len()]);
        ip.set_version_and_header_len((IP_HEADER_LEN + options.len()) as u8);
        ip.fill_checksum();
    }

    /// A UDP datagram for us (or for a broadcast or multicast address),
    /// arrived on interface `iface`.
    /// Not inlined into `deliver_ip`, whose TCP path stays dense.
    #[inline(never)]
    pub(super) fn handle_udp(
        &mut self,
        iface: usize,
        ip: &Ipv4Repr,
        payload: &[u8],
        datagram: &[u8],
        dst: Destination,
        link_broadcast: bool,
    ) {
        let broadcast = dst.is_broadcast_or_multicast();
        // The header's options: between its fixed part and the payload.
        let options = &datagram[IP_HEADER_LEN..datagram.len() - payload.len()];
        match self.udp.handle_datagram_with_options(
            ip,
            iface,
            options,
            payload,
            broadcast,
            Checksum::Full,
        ) {
            UdpInput::Delivered(h) => {
                if self.udp.recv_queue(h).is_ok_and(|(n, _)| n == 1) {
                    self.events.push_back(Event::UdpReadable(h));
                }
            }
            UdpInput::DeliveredToMany(_) => {
                let events = &mut self.events;
                self.udp
                    .drain_readable(|h| events.push_back(Event::UdpReadable(h)));
            }
            UdpInput::NoPort => {
                self.send_port_unreachable(ip, payload, datagram, dst, link_broadcast);
            }
            UdpInput::Ignored | UdpInput::Dropped(_) => {}
        }
    }
}
