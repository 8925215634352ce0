//! ICMP in the stack: echo replies (ours out, the ping sockets' in), errors
//! in (to the TCP connection, UDP socket or ping socket whose datagram they
//! quote) and errors out (rate limited).
//!
//! Read first: RFC 792, RFC 1122 §3.2.2 (when a host must not send an
//! error; §3.2.2.6 echo), §4.2.3.9 and §4.1.3.3 (errors to TCP and UDP),
//! RFC 1812 §4.3.2.8 (rate limiting), RFC 5927 (validate before acting); the
//! policy lives in [`crate::ip::icmp`].
//!
//! An incoming error is taken only if it quotes a datagram from one of our
//! addresses; TCP then checks the quoted sequence number (RFC 5927 §4.1).
//! A redirect goes to the routing table (`redirect.rs`).

use super::{Event, Stack};
use crate::ip::addr::Destination;
use crate::ip::icmp::{
    self, ErrorMessage, IcmpErrorKind, RateLimited, ReplyIp, emit_echo_reply, emit_error,
    may_answer_echo, may_send_error, msg_type,
};
use crate::ip::options::{self as ip_options, ReturnRoute};
use crate::time::Instant;
use crate::wire::icmpv4::{DstUnreachable, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
use crate::wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::{Checksum, WireError};

impl Stack {
    /// An ICMP message for us, in a datagram whose IP options (checked)
    /// were `options`. Not inlined into `deliver_ip`, whose TCP path stays
    /// dense.
    #[inline(never)]
    pub(super) fn handle_icmp(
        &mut self,
        (ip, iface): (&Ipv4Repr, usize),
        options: &[u8],
        payload: &[u8],
        dst: Destination,
    ) {
        let repr =
            Icmpv4Packet::new_checked(payload).and_then(|p| Icmpv4Repr::parse(&p, Checksum::Full));
        let repr = match repr {
            Ok(r) => r,
            Err(e) => {
                self.env
                    .stats
                    .icmp
                    .record_in_error(e == WireError::BadChecksum);
                return;
            }
        };
        self.env.stats.icmp.record_in(payload[0]);
        if let Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } = repr
        {
            if may_answer_echo(dst, self.env.config.icmp_echo_ignore_broadcasts) {
                self.send_echo_reply(ip, options, ident, seq_no, data, dst);
            }
            return;
        }
        if let Icmpv4Repr::EchoReply { ident, .. } = repr {
            // Unicast only (Linux `icmp_rcv` drops a broadcast reply).
            if dst == Destination::Local {
                self.handle_echo_reply((ip, iface), options, ident, payload);
            }
            return;
        }
        if let Some(redirect) = icmp::parse_redirect(&repr) {
            return self.handle_redirect(ip.src_addr, &redirect);
        }
        let Some(err) = icmp::parse_error(&repr) else {
            return;
        };
        // It must quote something we sent: from one of our addresses, or
        // over the loopback from 127/8 (never seen on a wire).
        let ours = if self.rx_looped {
            self.is_host_addr(err.quoted.src_addr)
        } else {
            self.is_local_addr(err.quoted.src_addr)
        };
        if !ours {
            return;
        }
        match err.quoted.protocol {
            IpProtocol::Tcp => self.tcp_icmp_error(&err),
            IpProtocol::Udp => {
                if matches!(err.error.kind, IcmpErrorKind::FragNeeded { .. })
                    && self.udp.sent_quoted(&err)
                {
                    self.learn_datagram_pmtu(&err);
                }
                if let Some(h) = self.udp.handle_transport_error(ip.src_addr, &err) {
                    self.events.push_back(Event::UdpReadable(h));
                }
            }
            IpProtocol::Icmp => self.ping_icmp_error(ip.src_addr, &err),
            _ => {}
        }
    }

    /// RFC 792 / RFC 1122 §3.2.2.6: the reply mirrors the request's
    /// identifier, sequence number and data, and carries its record route
    /// and timestamp options (`options`, the request's) with this host's
    /// entry added.
    fn send_echo_reply(
        &mut self,
        request: &Ipv4Repr,
        options: &[u8],
        ident: u16,
        seq_no: u16,
        data: &[u8],
        dst: Destination,
    ) {
        let Some(src) = self.reply_source(request, dst) else {
            self.env.stats.icmp.out_errors += 1;
            return;
        };
        let mut reply_options = [0; ip_options::MAX_LEN];
        // RFC 1122 §3.2.2.6: back along the request's source route, if it
        // came by one (taken only with `accept_source_route`).
        let mut first_hop = None;
        let options_len = match ip_options::Options::parse(options) {
            Ok(found) if !options.is_empty() => {
                let me = ip_options::Registration {
                    address: src,
                    timestamp: self.ip_timestamp(),
                };
                let ours = |a| self.is_local_addr(a);
                let route = ReturnRoute::reversed(options, &found, request.src_addr, ours);
                first_hop = route.map(|r| r.first_hop());
                let back = route.as_ref().map(|r| (r, request.src_addr));
                ip_options::echo_reply(options, &found, me, ours, back, &mut reply_options)
            }
            // None, or (checked on the way in) none to carry.
            _ => 0,
        };
        let reply_options = &reply_options[..options_len];
        let len = 20 + reply_options.len() + 8 + data.len();
        let Some(mut buf) = self.out.alloc(len) else {
            self.env.stats.icmp.out_errors += 1;
            return;
        };
        buf.resize(len, 0);
        let reply = ReplyIp {
            src,
            ttl: self.env.config.ip_default_ttl,
            ident: self.next_ident(),
        };
        match emit_echo_reply(request, reply_options, ident, seq_no, data, reply, &mut buf) {
            Some(n) => {
                buf.truncate(n);
                if let Some(hop) = first_hop {
                    let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
                    ip.set_dst_addr(hop);
                    ip.fill_checksum();
                }
                self.out.push(buf);
                self.env.stats.ip.out_requests += 1;
                self.env.stats.icmp.record_out(msg_type::ECHO_REPLY);
            }
            None => self.out.recycle(buf),
        }
    }

    /// Our address to answer `offending` from: its destination if that is
    /// one of our unicast addresses, else the route's source towards its
    /// sender (RFC 1122 §3.2.2).
    fn reply_source(&self, offending: &Ipv4Repr, dst: Destination) -> Option<core::net::Ipv4Addr> {
        if dst == Destination::Local {
            Some(offending.dst_addr)
        } else {
            self.source_for(offending.src_addr)
        }
    }

    /// An ICMP error about `datagram` (header `ip`, payload `payload`),
    /// unless RFC 1122 §3.2.2 forbids one or the rate limiter says no.
    /// Rare: out of line.
    #[cold]
    #[inline(never)]
    pub(super) fn send_icmp_error(
        &mut self,
        message: ErrorMessage,
        ip: &Ipv4Repr,
        payload: &[u8],
        datagram: &[u8],
        dst: Destination,
        link_broadcast: bool,
    ) {
        if may_send_error(ip, payload, dst, link_broadcast, self.rx_looped).is_err() {
            return;
        }
        let (ty, code) = match message {
            ErrorMessage::DstUnreachable { reason, .. } => {
                (msg_type::DST_UNREACHABLE, u8::from(reason))
            }
            ErrorMessage::TimeExceeded(reason) => (msg_type::TIME_EXCEEDED, u8::from(reason)),
            ErrorMessage::ParamProblem { .. } => (msg_type::PARAM_PROBLEM, 0),
            ErrorMessage::Redirect { .. } => (msg_type::REDIRECT, 1),
        };
        // Not limited on the loopback (Linux's `icmpv4_xrlim_allow`).
        let limited = if self.rx_looped {
            Ok(())
        } else {
            self.icmp_limiter.allow(self.now, ip.src_addr, ty, code)
        };
        match limited {
            Ok(()) => {}
            Err(RateLimited::Global) => {
                self.env.stats.icmp.out_rate_limit_global += 1;
                return;
            }
            Err(RateLimited::Host) => {
                self.env.stats.icmp.out_rate_limit_host += 1;
                return;
            }
        }
        let Some(src) = self.reply_source(ip, dst) else {
            self.env.stats.icmp.out_errors += 1;
            return;
        };
        let Some(mut buf) = self.out.alloc(icmp::MAX_ERROR_DATAGRAM) else {
            self.env.stats.icmp.out_errors += 1;
            return;
        };
        buf.resize(icmp::MAX_ERROR_DATAGRAM, 0);
        let reply = ReplyIp {
            src,
            ttl: self.env.config.ip_default_ttl,
            ident: self.next_ident(),
        };
        match emit_error(message, datagram, reply, &mut buf) {
            Some(n) => {
                buf.truncate(n);
                self.out.push(buf);
                self.env.stats.ip.out_requests += 1;
                self.env.stats.icmp.record_out(ty);
            }
            None => self.out.recycle(buf),
        }
    }

    /// Datagrams whose fragments did not all come in time: RFC 1122 §3.3.2,
    /// time exceeded (code 1) if fragment 0 arrived.
    pub(super) fn reassembly_timeouts(&mut self, now: Instant) {
        loop {
            let Some(expired) = self.reasm.poll_expired(now) else {
                return;
            };
            let first = expired.first_fragment.to_vec();
            let Ok(packet) = Ipv4Packet::new_checked(&first[..]) else {
                continue;
            };
            let Ok(ip) = Ipv4Repr::parse(&packet, Checksum::Offload) else {
                continue;
            };
            let payload = packet.payload();
            let dst = if self.is_local_addr(ip.dst_addr) {
                Destination::Local
            } else {
                Destination::Broadcast
            };
            let message = ErrorMessage::TimeExceeded(TimeExceeded::FragExpired);
            self.send_icmp_error(message, &ip, payload, &first, dst, false);
        }
    }

    /// Port unreachable for a unicast UDP datagram no socket takes.
    pub(super) fn send_port_unreachable(
        &mut self,
        ip: &Ipv4Repr,
        payload: &[u8],
        datagram: &[u8],
        dst: Destination,
        link_broadcast: bool,
    ) {
        let message = ErrorMessage::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            next_hop_mtu: 0,
        };
        self.send_icmp_error(message, ip, payload, datagram, dst, link_broadcast);
    }
}
