//! Frames in: the Ethernet header, the IPv4 header checks a host makes,
//! martian and hostile datagrams, fragment reassembly, and the hand-off to
//! ARP, ICMP, UDP and TCP.
//!
//! Read first: RFC 894 (IP over Ethernet), RFC 1122 §3.2.1 (what a host
//! checks in an IP header: version, checksum, lengths; §3.2.1.3 addresses
//! it must never accept as a source), §3.3.2 (reassembly), §3.3.4.2
//! (multihoming: any of our addresses on any interface), RFC 1812 §5.3.7
//! (martians), RFC 4987 (why hostile traffic must cost little).
//!
//! Nothing from the wire panics or reaches the application as an error:
//! every drop is counted, in the counter Linux would use where it has one.
//! A "land" datagram (source = destination, RFC 4987 mentions it among
//! floods) has one of our addresses as its source and is dropped as a
//! martian source before any transport sees it.

use core::net::Ipv4Addr;

use super::tcp_ip_options::RxIpOptions;
use super::{IfaceId, RxAddrs, RxOffload, Stack};
use crate::ip::addr::{Destination, check_martian, classify_destination};
use crate::ip::frag::FragOutcome;
use crate::ip::icmp::ErrorMessage;
use crate::ip::options::{Options, source_route};
use crate::time::Instant;
use crate::wire::ethernet::{
    EtherType, EthernetAddress, EthernetFrame, HEADER_LEN as ETHERNET_HEADER_LEN,
};
use crate::wire::icmpv4::DstUnreachable;
use crate::wire::ipv4::{HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::{Checksum, WireError};

impl Stack {
    /// A frame arrived on the first interface. Anything malformed is
    /// dropped and counted; nothing from the wire panics.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        self.handle_frame_on(now, IfaceId(0), frame);
    }

    /// A frame arrived on interface `iface`: an Ethernet frame on an
    /// Ethernet interface, a bare IPv4 packet on an IP-medium one.
    pub fn handle_frame_on(&mut self, now: Instant, iface: IfaceId, frame: &[u8]) {
        self.advance(now);
        let index = usize::from(iface.0);
        let Some(f) = self.ifaces.get(index) else {
            return;
        };
        // One call of `handle_ip` for both media, so that it is inlined
        // here once (a call level less for every frame).
        let datagram = match f.mac() {
            None => Some((frame, false)),
            Some(mac) => self.handle_ethernet(index, mac, frame),
        };
        if let Some((datagram, link_broadcast)) = datagram {
            self.handle_ip(index, datagram, link_broadcast);
        }
        self.refresh_deadline();
    }

    /// A frame from a device that vouches for its TCP checksum: a virtio-net
    /// header with `DATA_VALID` (checked by the device) or `NEEDS_CSUM` (a
    /// local sender left it partial: the kernel over a TAP with offloads).
    /// Such a frame may also be a super-segment larger than the MTU; without
    /// a GSO size TCP takes it as one segment. The IP header checksum is
    /// still checked. [`Stack::handle_frame_rx`] with `csum_trusted` only.
    pub fn handle_frame_offloaded(&mut self, now: Instant, iface: IfaceId, frame: &[u8]) {
        let rx = RxOffload {
            csum_trusted: true,
            gso_size: None,
        };
        self.handle_frame_rx(now, iface, frame, rx);
    }

    /// A frame arrived on `iface` with its device's receive metadata
    /// ([`RxOffload`]): a checksum the device vouches for, and for a GRO
    /// super-packet the size of the segments it stands for. Hostile
    /// metadata (a GSO size of 0, one larger than the payload, one on a
    /// packet that is not TCP) is ignored, never trusted further.
    pub fn handle_frame_rx(&mut self, now: Instant, iface: IfaceId, frame: &[u8], rx: RxOffload) {
        self.rx = rx;
        self.handle_frame_on(now, iface, frame);
        self.rx = RxOffload::default();
    }

    /// An Ethernet frame: ARP is handled here; an IPv4 payload is returned
    /// (with whether the frame was link-layer broadcast or multicast) for
    /// the caller's `handle_ip`.
    fn handle_ethernet<'f>(
        &mut self,
        index: usize,
        mac: EthernetAddress,
        frame: &'f [u8],
    ) -> Option<(&'f [u8], bool)> {
        let eth = &mut self.env.stats.eth;
        eth.in_frames += 1;
        let Ok(frame) = EthernetFrame::new_checked(frame) else {
            eth.in_truncated += 1;
            return None;
        };
        let (src, dst) = (frame.src_addr(), frame.dst_addr());
        // No station sends from a group address (RFC 1812 §3.3.2).
        if !src.is_unicast() || src == EthernetAddress::default() {
            eth.in_bad_source += 1;
            return None;
        }
        let link_broadcast = dst.is_multicast();
        if dst != mac && !link_broadcast {
            eth.in_other_host += 1;
            return None;
        }
        match frame.ethertype() {
            EtherType::Ipv4 => {
                return Some((&frame.into_inner()[ETHERNET_HEADER_LEN..], link_broadcast));
            }
            EtherType::Arp => self.handle_arp(index, frame.payload(), !link_broadcast),
            _ => eth.in_unknown_ethertype += 1,
        }
        None
    }

    /// An IPv4 datagram (from an Ethernet payload: padding may follow it).
    /// Inlined into its one caller, `handle_frame_on`.
    #[inline(always)]
    fn handle_ip(&mut self, index: usize, bytes: &[u8], link_broadcast: bool) {
        self.env.stats.ip.in_receives += 1;
        // `parse` checks the lengths first, as `new_checked` would (once,
        // not twice), then the version and the header checksum.
        let packet = Ipv4Packet::new_unchecked(bytes);
        let (ip, header_len) = match Ipv4Repr::parse_with_header_len(&packet, Checksum::Full) {
            Ok(parsed) => parsed,
            // Linux: a header longer than the packet is a header error; a
            // total length beyond it, a truncated packet.
            Err(WireError::Truncated)
                if bytes.len() >= 20 && usize::from(bytes[0] & 0x0F) * 4 > bytes.len() =>
            {
                return self.count_ip_error(WireError::Malformed);
            }
            Err(e) => return self.count_ip_error(e),
        };
        if header_len != HEADER_LEN {
            return self.accept_ip_with_options(index, bytes, link_broadcast);
        }
        self.accept_ip(index, bytes, &ip, HEADER_LEN, link_broadcast);
    }

    /// A datagram with options (rare; its header checked by `handle_ip`):
    /// [`Stack::accept_ip`] out of line, so that the copy inlined for every
    /// other datagram has a constant header length and no options to check.
    /// It parses the header again rather than take it from `handle_ip`,
    /// whose parsed fields then stay in registers.
    #[cold]
    #[inline(never)]
    fn accept_ip_with_options(&mut self, index: usize, bytes: &[u8], link_broadcast: bool) {
        let packet = Ipv4Packet::new_unchecked(bytes);
        if let Ok((ip, header_len)) = Ipv4Repr::parse_with_header_len(&packet, Checksum::Offload) {
            self.accept_ip(index, bytes, &ip, header_len, link_broadcast);
        }
    }

    /// A parsed datagram whose header is `header_len` bytes: its addresses
    /// checked, its options (if any) checked, then to its protocol or to
    /// reassembly.
    #[inline(always)]
    fn accept_ip(
        &mut self,
        index: usize,
        bytes: &[u8],
        ip: &Ipv4Repr,
        header_len: usize,
        link_broadcast: bool,
    ) {
        // The datagram proper, without link-layer padding: its total
        // length, which `parse` checked lies within the buffer.
        let datagram = &bytes[..header_len + usize::from(ip.payload_len)];
        let pair = RxAddrs {
            iface: index,
            src: ip.src_addr,
            dst: ip.dst_addr,
        };
        let dst = match self.rx_addrs_last {
            Some((last, dst)) if last == pair => dst,
            _ => {
                let Some(dst) = self.classify_addrs(ip.src_addr, ip.dst_addr) else {
                    return;
                };
                self.rx_addrs_last = Some((pair, dst));
                dst
            }
        };
        // Options before any protocol sees the datagram (IGMP's router
        // alert among them). None in the copy every other datagram runs.
        if header_len > HEADER_LEN
            && !self.ip_options_accepted(index, ip, datagram, header_len, dst, link_broadcast)
        {
            return;
        }
        match dst {
            Destination::Local => {}
            Destination::Broadcast => self.env.stats.ip.in_bcast_pkts += 1,
            Destination::Multicast => {
                self.env.stats.ip.in_mcast_pkts += 1;
                // RFC 1112 §7.2: only the groups this interface joined.
                if !self.accepts_multicast(index, ip) {
                    return;
                }
                if ip.protocol == IpProtocol::Igmp && !ip.is_fragment() {
                    return self.handle_igmp(index, ip, &datagram[header_len..]);
                }
            }
            // Forwarding is on (`classify_addrs` refused it otherwise).
            Destination::NotOurs => {
                return self.forward(index, datagram, link_broadcast, false);
            }
        }
        if !ip.is_fragment() {
            return self.deliver_ip(index, ip, datagram, header_len, dst, link_broadcast);
        }
        self.handle_fragment(index, datagram, dst, link_broadcast);
    }

    /// RFC 1122 §3.2.1.8: a datagram's options are checked before the
    /// datagram is used (`ip::options`). A malformed option is a header
    /// error, answered with a parameter problem pointing at it (RFC 1122
    /// §3.2.2.5); a source route drops the datagram (`InSourceRouted`), as
    /// Linux does with `accept_source_route` off.
    fn ip_options_accepted(
        &mut self,
        index: usize,
        ip: &Ipv4Repr,
        datagram: &[u8],
        header_len: usize,
        dst: Destination,
        link_broadcast: bool,
    ) -> bool {
        let area = &datagram[HEADER_LEN..header_len];
        match Options::parse(area) {
            Ok(found) if found.source_route.is_some() => {
                let at = (index, dst, link_broadcast);
                self.source_route_accepted(ip, area, &found, datagram, at)
            }
            Ok(_) => true,
            Err(problem) => {
                self.env.stats.ip.in_hdr_errors += 1;
                let message = ErrorMessage::ParamProblem {
                    pointer: problem.pointer,
                };
                let payload = &datagram[header_len..];
                self.send_icmp_error(message, ip, payload, datagram, dst, link_broadcast);
                false
            }
        }
    }

    /// A checked datagram with a source route: taken only with
    /// `accept_source_route` on, when the route ends here (RFC 1122
    /// §3.2.1.8(c): a host is a route's final destination; TCP answers
    /// along the route reversed, RFC 1122 §4.2.3.8: `tcp_ip_options`). A
    /// route that goes on past this host is passed on by a router
    /// (`forward`) and answered with "source route failed" by a host (RFC
    /// 1122 §3.3.5: a host that does not forward it SHOULD). One in transit
    /// to someone else (forwarding on) is `in_transit_route_accepted`'s.
    #[cold]
    #[inline(never)]
    fn source_route_accepted(
        &mut self,
        ip: &Ipv4Repr,
        area: &[u8],
        found: &Options,
        datagram: &[u8],
        (index, dst, link_broadcast): (usize, Destination, bool),
    ) -> bool {
        if !self.env.config.accept_source_route {
            self.env.stats.ip.in_source_routed += 1;
            return false;
        }
        if dst == Destination::NotOurs {
            return self.in_transit_route_accepted(ip, area, found, datagram);
        }
        match source_route::at_us(area, found, |a| self.is_local_addr(a)) {
            source_route::AtUs::Done => true,
            // A router passes it on to the route's next hop.
            source_route::AtUs::Forward(_) if self.env.config.ip_forward => {
                self.forward(index, datagram, link_broadcast, true);
                false
            }
            source_route::AtUs::Forward(_) => {
                self.env.stats.ip.in_source_routed += 1;
                let message = ErrorMessage::DstUnreachable {
                    reason: DstUnreachable::SrcRouteFailed,
                    next_hop_mtu: 0,
                };
                let payload = &datagram[datagram.len() - usize::from(ip.payload_len)..];
                self.send_icmp_error(message, ip, payload, datagram, dst, link_broadcast);
                false
            }
        }
    }

    /// RFC 1122 §3.3.2: a fragment is reassembled, within the reassembler's
    /// caps; the whole datagram is copied out to be processed. Out of line,
    /// so that `deliver_ip` is inlined into `handle_ip` for every whole
    /// datagram (one call level less a frame) and not a second time here.
    #[inline(never)]
    pub(super) fn handle_fragment(
        &mut self,
        iface: usize,
        datagram: &[u8],
        dst: Destination,
        link_broadcast: bool,
    ) {
        // A fragment is no super-packet (segmentation offload never
        // fragments), so its GSO size is nonsense and dropped.
        self.rx.gso_size = None;
        let mut scratch = core::mem::take(&mut self.scratch);
        scratch.clear();
        let whole = match self.reasm.handle_fragment(self.now, datagram) {
            FragOutcome::Complete(r) => {
                scratch.extend_from_slice(r.datagram);
                Some(r.header)
            }
            FragOutcome::NotFragment | FragOutcome::Queued | FragOutcome::Duplicate => None,
            FragOutcome::Dropped(_) => {
                self.env.stats.ip.in_discards += 1;
                None
            }
        };
        if let Some(header) = whole {
            // On the interface of the fragment that completed it, as
            // Linux's reassembled skb keeps the last fragment's device.
            self.deliver_ip_outlined(iface, &header, &scratch, dst, link_broadcast);
        }
        scratch.clear();
        self.scratch = scratch;
    }

    /// The checks of a datagram's addresses: martians (RFC 1812 §5.3.7,
    /// RFC 1122 §3.2.1.3) and someone else's destination (RFC 1122
    /// §3.3.1.1: a host does not forward) are counted and give `None`;
    /// otherwise what the destination is to us. The broadcast addresses are
    /// every interface's, whichever the datagram came in on. The answer
    /// depends only on the two addresses (and the interfaces' addresses,
    /// which change only in `add_interface`), so `handle_ip` keeps the last
    /// accepted pair's (with its interface): a run of datagrams of one
    /// conversation is checked once.
    fn classify_addrs(&mut self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<Destination> {
        let is_local = self.is_local_addr(dst);
        let src_is_local = self.is_local_addr(src);
        let subnets = self.ifaces.iter().map(|i| i.cidr);
        if let Err(martian) = check_martian(src, dst, subnets.clone(), false, src_is_local) {
            if martian.is_source() {
                self.env.stats.ip.in_martian_src += 1;
            } else {
                self.env.stats.ip.in_martian_dst += 1;
            }
            return None;
        }
        let class = classify_destination(dst, subnets, is_local);
        if class == Destination::NotOurs && !self.env.config.ip_forward {
            self.env.stats.ip.in_addr_errors += 1;
            return None;
        }
        // Someone else's with forwarding on: for `forward`.
        Some(class)
    }

    /// [`Stack::deliver_ip`] for a reassembled datagram (rare): one copy of
    /// it out of line, not a second one inlined into `handle_fragment`.
    #[inline(never)]
    pub(super) fn deliver_ip_outlined(
        &mut self,
        iface: usize,
        ip: &Ipv4Repr,
        datagram: &[u8],
        dst: Destination,
        link_bcast: bool,
    ) {
        let header_len = usize::from(Ipv4Packet::new_unchecked(datagram).header_len());
        self.deliver_ip(iface, ip, datagram, header_len, dst, link_bcast);
    }

    /// A whole datagram for us, whose header is `header_len` bytes: to its
    /// protocol. Inlined into its one hot caller, `handle_ip` (a call level
    /// less for every frame).
    #[inline(always)]
    fn deliver_ip(
        &mut self,
        iface: usize,
        ip: &Ipv4Repr,
        datagram: &[u8],
        header_len: usize,
        dst: Destination,
        link_bcast: bool,
    ) {
        let payload = &datagram[header_len..];
        match ip.protocol {
            IpProtocol::Tcp => {
                // TCP is unicast only (RFC 1122 §4.2.3.10).
                if dst != Destination::Local {
                    self.env.stats.ip.in_discards += 1;
                    return;
                }
                self.env.stats.ip.in_delivers += 1;
                // RFC 3168 §6.1.3: TCP needs the ECN field (CE marks); a
                // reset for no connection reflects the DSCP.
                self.env.rx_tos = ip.dscp_ecn;
                // The options a passive open keeps and a reply answers
                // (`tcp_ip_options`); none in the copy for 20-byte headers.
                if header_len > HEADER_LEN {
                    let area = &datagram[HEADER_LEN..header_len];
                    self.rx_ip_options = Some(RxIpOptions::new(area, ip.src_addr));
                }
                self.handle_tcp(ip.src_addr, ip.dst_addr, payload);
                if header_len > HEADER_LEN {
                    self.rx_ip_options = None;
                }
                self.env.rx_tos = 0;
            }
            // UDP and ICMP are called, not inlined (`handle_udp` and
            // `handle_icmp` are `#[inline(never)]`), so TCP's path is dense.
            // They take the header by reference: a copy made here, so that
            // TCP's path keeps the parsed fields in registers instead of
            // storing them all for a reference it never makes.
            IpProtocol::Udp => {
                self.env.stats.ip.in_delivers += 1;
                let ip = *ip;
                self.handle_udp(iface, &ip, payload, datagram, dst, link_bcast);
            }
            IpProtocol::Icmp => {
                self.env.stats.ip.in_delivers += 1;
                let ip = *ip;
                let options = &datagram[HEADER_LEN..header_len];
                self.handle_icmp((&ip, iface), options, payload, dst);
            }
            // IGMP is for groups (`handle_ip` takes it there); a unicast
            // message is no query a version 2 host answers (RFC 2236 §2.1)
            // and no unknown protocol either.
            IpProtocol::Igmp => self.env.stats.ip.in_delivers += 1,
            _ => {
                // RFC 1122 §3.2.2.1: protocol unreachable, for a unicast
                // datagram.
                self.env.stats.ip.in_unknown_protos += 1;
                let message = ErrorMessage::DstUnreachable {
                    reason: DstUnreachable::ProtoUnreachable,
                    next_hop_mtu: 0,
                };
                let ip = *ip;
                self.send_icmp_error(message, &ip, payload, datagram, dst, link_bcast);
            }
        }
    }

    pub(super) fn count_ip_error(&mut self, e: WireError) {
        let ip = &mut self.env.stats.ip;
        match e {
            WireError::Truncated => ip.in_truncated_pkts += 1,
            WireError::BadChecksum => {
                ip.in_csum_errors += 1;
                ip.in_hdr_errors += 1;
            }
            _ => ip.in_hdr_errors += 1,
        }
    }
}
