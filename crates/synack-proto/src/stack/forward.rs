//! Forwarding: with `ip_forward` on the stack is a router between its
//! interfaces (RFC 1812 §5.2-5.3, Linux's `ip_forward`); off, a host,
//! which counts a datagram for someone else in `InAddrErrors` and drops it
//! (RFC 1122 §3.3.1.1).
//!
//! Read first: RFC 1812 §5.2.4 (what a router checks and does to a
//! datagram it forwards), §5.3.1 (TTL), §5.2.7 (the ICMP errors it sends),
//! §5.2.6 and RFC 1191 §4 (fragmentation, and "fragmentation needed" for a
//! datagram that may not be fragmented), RFC 791 §3.1 (the options a
//! module that forwards writes into).
//!
//! What happens to a datagram that is not for this host, in order:
//! - one that came as a link-layer broadcast or multicast is not forwarded
//!   (RFC 1812 §5.3.4; Linux's `ip_forward` takes only what was sent to
//!   its station address): `InAddrErrors`;
//! - a TTL of 1 or less is not decremented to 0 and sent on: time exceeded
//!   in transit goes back to the source (RFC 1812 §5.3.1; Linux counts
//!   `InHdrErrors`), which is how `traceroute` finds each hop;
//! - no route: destination unreachable, network (RFC 1812 §5.2.7.1),
//!   `OutNoRoutes`; a route that would send it to a directed broadcast is
//!   not taken (Linux's `bc_forwarding` is off by default) and is counted
//!   the same way;
//! - larger than the MTU with don't-fragment set: fragmentation needed,
//!   carrying the MTU of the next hop (RFC 1191 §4), `FragFails`; without
//!   it, the datagram leaves in fragments (the output queue's, RFC 791
//!   §3.2);
//! - otherwise it leaves by the route with its TTL one less and its header
//!   checksum remade, this host recorded in a record route or timestamp
//!   option (RFC 791, Linux's `ip_forward_options`), `ForwDatagrams`. Sent
//!   back out of the interface it came in by to a sender on that link, the
//!   sender also gets a redirect to the better next hop (RFC 1812 §5.2.7.2,
//!   `send_redirects`), unless it came by a source route; each sender's
//!   redirects back off as Linux's do (`ip::redirect_limit`).
//!
//! Source routes (with `accept_source_route` on): a datagram addressed to
//! this host whose route goes on is passed on to the route's next hop
//! (`source_route::pass_on`; a strict route's next hop must be on the
//! link, else source route failed); one addressed to someone else keeps
//! going as addressed if its route is loose, and a strict one, which
//! should not have come here, is answered with a parameter problem at its
//! destination address (Linux's `ip_options_rcv_srr`).
//!
//! Each forwarded datagram is copied once, into a buffer of the output
//! queue of datagrams (ICMP's and UDP's), which resolves the next hop's
//! link address and fragments. Nothing of it runs for a datagram to this
//! host.

use super::Stack;
use super::loopback::LOOPBACK;
use crate::ip::addr::Destination;
use crate::ip::icmp::ErrorMessage;
use crate::ip::options::{self as ip_options, Options, Registration, source_route};
use crate::wire::Checksum;
use crate::wire::icmpv4::{DstUnreachable, TimeExceeded};
use crate::wire::ipv4::{HEADER_LEN, Ipv4Packet, Ipv4Repr};

/// RFC 1812 §5.2.4.1's "pointer to the destination address": where a
/// parameter problem about a misrouted strict route points.
const DST_ADDR_OCTET: u8 = 16;

impl Stack {
    /// A datagram for someone else with forwarding on, or
    /// (`source_routed`) one for this host whose source route goes on. It
    /// came in by interface `in_iface`; `datagram` is the whole of it, its
    /// header checked. The header is read again here, not passed: a
    /// reference to the parsed one from `handle_ip` would make every
    /// datagram's path store it (18 instructions a frame).
    #[cold]
    #[inline(never)]
    pub(super) fn forward(
        &mut self,
        in_iface: usize,
        datagram: &[u8],
        link_broadcast: bool,
        source_routed: bool,
    ) {
        let packet = Ipv4Packet::new_unchecked(datagram);
        let Ok((ip, header_len)) = Ipv4Repr::parse_with_header_len(&packet, Checksum::Offload)
        else {
            return;
        };
        let ip = &ip;
        let payload = &datagram[header_len..];
        let dst = Destination::NotOurs;
        if link_broadcast {
            self.env.stats.ip.in_addr_errors += 1;
            return;
        }
        if usize::from(ip.frag_offset) + payload.len() > usize::from(u16::MAX) {
            // A fragment reaching past 65,535 bytes (Linux's "oversized IP
            // packet"): a header error, and no offset to cut it again at.
            self.env.stats.ip.in_hdr_errors += 1;
            return;
        }
        if ip.ttl <= 1 {
            self.env.stats.ip.in_hdr_errors += 1;
            let message = ErrorMessage::TimeExceeded(TimeExceeded::TtlExpired);
            return self.send_icmp_error(message, ip, payload, datagram, dst, false);
        }
        let mut buf_options = [0u8; ip_options::MAX_LEN];
        let options = &mut buf_options[..header_len - HEADER_LEN];
        options.copy_from_slice(&datagram[HEADER_LEN..header_len]);
        // Checked on the way in (`ip_options_accepted`).
        let found = Options::parse(options).unwrap_or_default();
        // The next hop: the destination, or a source route's next one
        // (this host recorded in its slot, by the address the route to it
        // leaves from).
        let mut next = ip.dst_addr;
        let mut strict = false;
        if source_routed {
            let is_ours = |a| self.is_local_addr(a);
            let me = |to| self.source_for(to).unwrap_or(ip.dst_addr);
            match source_route::pass_on(options, &found, is_ours, me) {
                Some((hop, is_strict)) => (next, strict) = (hop, is_strict),
                None => return,
            }
        }
        let hop = self
            .hop_to(next)
            .filter(|h| h.iface != LOOPBACK && !h.link_broadcast);
        let Some(hop) = hop else {
            self.env.stats.ip.out_no_routes += 1;
            let message = ErrorMessage::DstUnreachable {
                reason: DstUnreachable::NetUnreachable,
                next_hop_mtu: 0,
            };
            return self.send_icmp_error(message, ip, payload, datagram, dst, false);
        };
        if strict && hop.next_hop != next {
            // RFC 791: each hop of a strict route is the next one's
            // neighbour; RFC 1812 §5.2.4.1: source route failed.
            let message = ErrorMessage::DstUnreachable {
                reason: DstUnreachable::SrcRouteFailed,
                next_hop_mtu: 0,
            };
            return self.send_icmp_error(message, ip, payload, datagram, dst, false);
        }
        let mtu = self.iface_mtu(hop.iface);
        if datagram.len() > mtu && ip.dont_frag {
            self.env.stats.ip.frag_fails += 1;
            let message = ErrorMessage::DstUnreachable {
                reason: DstUnreachable::FragRequired,
                next_hop_mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
            };
            return self.send_icmp_error(message, ip, payload, datagram, dst, false);
        }
        let Some(mut buf) = self.out.alloc(datagram.len()) else {
            self.env.stats.ip.out_discards += 1;
            return;
        };
        buf.extend_from_slice(datagram);
        if header_len > HEADER_LEN {
            let me = Registration {
                address: self
                    .ifaces
                    .get(hop.iface)
                    .map_or(hop.src, |i| i.config.addr),
                timestamp: self.ip_timestamp(),
            };
            let is_ours = |a| self.is_local_addr(a);
            ip_options::register(options, &found, me, is_ours);
            buf[HEADER_LEN..header_len].copy_from_slice(options);
        }
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..header_len]);
        packet.set_ttl(ip.ttl - 1);
        packet.set_dst_addr(next);
        packet.fill_checksum();
        self.env.stats.ip.forw_datagrams += 1;
        self.out.push(buf);
        // RFC 1812 §5.2.7.2: back out of the link it came by, through a
        // gateway on that link, for a sender on it, which could have sent it
        // to the gateway itself (Linux: only by a route with a gateway, both
        // on the link; not by a device route, a point-to-point one's).
        let on_in_link = |a| {
            self.ifaces
                .get(in_iface)
                .is_some_and(|i| i.cidr.contains(a))
        };
        if self.env.config.send_redirects
            && !source_routed
            && header_len == HEADER_LEN
            && hop.iface == in_iface
            && hop.next_hop != next
            && on_in_link(ip.src_addr)
            && on_in_link(hop.next_hop)
            && hop.next_hop != ip.src_addr
            && self.redirect_limiter.allow(self.now, ip.src_addr)
        {
            let message = ErrorMessage::Redirect {
                gateway: hop.next_hop,
            };
            self.send_icmp_error(message, ip, payload, datagram, dst, false);
        }
    }

    /// A datagram for someone else carrying a source route (forwarding
    /// on): a loose route goes on as addressed; a strict one should not
    /// have come here (its destination is the hop it must reach next) and
    /// is answered with a parameter problem at its destination address, as
    /// Linux's `ip_options_rcv_srr` answers it. Whether it goes on.
    pub(super) fn in_transit_route_accepted(
        &mut self,
        ip: &Ipv4Repr,
        area: &[u8],
        found: &Options,
        datagram: &[u8],
    ) -> bool {
        let strict = found
            .source_route
            .is_some_and(|sr| area[usize::from(sr)] == ip_options::kind::STRICT_SOURCE_ROUTE);
        if !strict {
            return true;
        }
        self.env.stats.ip.in_source_routed += 1;
        let message = ErrorMessage::ParamProblem {
            pointer: DST_ADDR_OCTET,
        };
        let payload = &datagram[datagram.len() - usize::from(ip.payload_len)..];
        self.send_icmp_error(message, ip, payload, datagram, Destination::NotOurs, false);
        false
    }
}
