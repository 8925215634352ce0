//! Counters named like Linux's SNMP MIB (`/proc/net/snmp`, `nstat`), so that
//! `synack ss -s` and people who know `netstat -s` read the same names.
//!
//! Read before touching: RFC 4293 (IP-MIB: what each Ip and Icmp counter
//! means), RFC 4113 (UDP-MIB). Linux adds a few of its own (`InCsumErrors`,
//! `RcvbufErrors`, `OutRateLimitGlobal`, ...); their meaning is Linux's.
//!
//! Each component counts what it sees: the stack owns [`IpStats`],
//! [`IcmpStats`] and [`UdpStats`]; the reassembler
//! ([`ReasmStats`](super::frag::ReasmStats)) and the ARP cache
//! ([`ArpStats`](super::arp::ArpStats)) count their own. Every counter set
//! has `SECTION` (Linux's heading) and `iter()`, yielding `(name, value)` in
//! Linux's order.

/// Defines a counter struct, its section name, and `iter()` over
/// `(Linux name, value)` in declaration order.
macro_rules! mib {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $section:literal {
            $( $(#[$fmeta:meta])* $field:ident => $linux:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: u64, )*
        }

        impl $name {
            /// The heading Linux prints these counters under.
            pub const SECTION: &'static str = $section;

            /// `(Linux name, value)` for every counter, in Linux's order.
            pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'static str, u64)> + '_ {
                [$( ($linux, self.$field), )*].into_iter()
            }

            /// The value of the counter Linux calls `name`.
            pub fn get(&self, name: &str) -> Option<u64> {
                self.iter().find(|&(n, _)| n == name).map(|(_, v)| v)
            }
        }
    };
}

pub(crate) use mib;

mib! {
    /// IP counters (`Ip:` and `IpExt:` in `/proc/net/snmp` and
    /// `/proc/net/netstat`; the martian counters are Linux's `rt_cache`
    /// statistics). Reassembly counters live in
    /// [`ReasmStats`](super::frag::ReasmStats).
    pub struct IpStats in "Ip" {
        /// Datagrams received from interfaces, including those in error.
        in_receives => "InReceives",
        /// Discarded for a header error: bad version, length, checksum, TTL.
        in_hdr_errors => "InHdrErrors",
        /// Discarded because the destination is not ours (a host does not
        /// forward; a router does not forward what came as a link-layer
        /// broadcast) or is a martian.
        in_addr_errors => "InAddrErrors",
        /// Delivered locally to an unknown protocol (answered with ICMP
        /// protocol unreachable).
        in_unknown_protos => "InUnknownProtos",
        /// Discarded for lack of resources (no error in the datagram).
        in_discards => "InDiscards",
        /// Delivered to ICMP, TCP or UDP.
        in_delivers => "InDelivers",
        /// Datagrams our protocols handed to IP for transmission.
        out_requests => "OutRequests",
        /// Datagrams forwarded for other hosts (`ip_forward`).
        forw_datagrams => "ForwDatagrams",
        /// Datagrams to forward that were too big for the next link and
        /// marked don't-fragment (answered with fragmentation needed).
        frag_fails => "FragFails",
        /// Discarded on output for lack of resources (e.g. the ARP queue).
        out_discards => "OutDiscards",
        /// Discarded on output because no route matched.
        out_no_routes => "OutNoRoutes",
        /// Shorter than their IP total length says (IpExt).
        in_truncated_pkts => "InTruncatedPkts",
        /// Bad header checksum; also counted in `InHdrErrors` (IpExt).
        in_csum_errors => "InCsumErrors",
        /// Received for a broadcast address (IpExt).
        in_bcast_pkts => "InBcastPkts",
        /// Received for a multicast address (IpExt).
        in_mcast_pkts => "InMcastPkts",
        /// Martian source (Linux `rt_cache` column `in_martian_src`).
        in_martian_src => "in_martian_src",
        /// Martian destination (Linux `rt_cache` column `in_martian_dst`).
        in_martian_dst => "in_martian_dst",
        /// Dropped for a loose or strict source route option: with
        /// `accept_source_route` off (Linux drops them so, uncounted), a
        /// route that goes on past a host that does not forward. synack's
        /// own.
        in_source_routed => "InSourceRouted",
    }
}

mib! {
    /// ICMP counters (`Icmp:` in `/proc/net/snmp`).
    pub struct IcmpStats in "Icmp" {
        /// Messages received, including those counted in `InErrors`.
        in_msgs => "InMsgs",
        /// Received with an error: bad checksum, truncated, bogus quote.
        in_errors => "InErrors",
        in_csum_errors => "InCsumErrors",
        in_dest_unreachs => "InDestUnreachs",
        in_time_excds => "InTimeExcds",
        in_parm_probs => "InParmProbs",
        in_src_quenchs => "InSrcQuenchs",
        in_redirects => "InRedirects",
        in_echos => "InEchos",
        in_echo_reps => "InEchoReps",
        in_timestamps => "InTimestamps",
        in_timestamp_reps => "InTimestampReps",
        in_addr_masks => "InAddrMasks",
        in_addr_mask_reps => "InAddrMaskReps",
        /// Messages sent, including those counted in `OutErrors`.
        out_msgs => "OutMsgs",
        /// Not sent for lack of resources (e.g. no route back).
        out_errors => "OutErrors",
        /// Suppressed by the global token bucket (`icmp_msgs_per_sec`).
        out_rate_limit_global => "OutRateLimitGlobal",
        /// Suppressed by the per-destination bucket (`icmp_ratelimit`).
        out_rate_limit_host => "OutRateLimitHost",
        out_dest_unreachs => "OutDestUnreachs",
        out_time_excds => "OutTimeExcds",
        out_parm_probs => "OutParmProbs",
        out_src_quenchs => "OutSrcQuenchs",
        out_redirects => "OutRedirects",
        out_echos => "OutEchos",
        out_echo_reps => "OutEchoReps",
        out_timestamps => "OutTimestamps",
        out_timestamp_reps => "OutTimestampReps",
        out_addr_masks => "OutAddrMasks",
        out_addr_mask_reps => "OutAddrMaskReps",
    }
}

impl IcmpStats {
    /// Counts a received message of `msg_type` (RFC 792 types) that parsed.
    pub fn record_in(&mut self, msg_type: u8) {
        self.in_msgs += 1;
        if let Some(c) = self.per_type(msg_type, true) {
            *c += 1;
        }
    }

    /// Counts a received message that did not parse; `bad_checksum` when
    /// the checksum failed.
    pub fn record_in_error(&mut self, bad_checksum: bool) {
        self.in_msgs += 1;
        self.in_errors += 1;
        if bad_checksum {
            self.in_csum_errors += 1;
        }
    }

    /// Counts a message of `msg_type` handed to IP for transmission.
    pub fn record_out(&mut self, msg_type: u8) {
        self.out_msgs += 1;
        if let Some(c) = self.per_type(msg_type, false) {
            *c += 1;
        }
    }

    fn per_type(&mut self, msg_type: u8, incoming: bool) -> Option<&mut u64> {
        Some(match (msg_type, incoming) {
            (0, true) => &mut self.in_echo_reps,
            (3, true) => &mut self.in_dest_unreachs,
            (4, true) => &mut self.in_src_quenchs,
            (5, true) => &mut self.in_redirects,
            (8, true) => &mut self.in_echos,
            (11, true) => &mut self.in_time_excds,
            (12, true) => &mut self.in_parm_probs,
            (13, true) => &mut self.in_timestamps,
            (14, true) => &mut self.in_timestamp_reps,
            (17, true) => &mut self.in_addr_masks,
            (18, true) => &mut self.in_addr_mask_reps,
            (0, false) => &mut self.out_echo_reps,
            (3, false) => &mut self.out_dest_unreachs,
            (4, false) => &mut self.out_src_quenchs,
            (5, false) => &mut self.out_redirects,
            (8, false) => &mut self.out_echos,
            (11, false) => &mut self.out_time_excds,
            (12, false) => &mut self.out_parm_probs,
            (13, false) => &mut self.out_timestamps,
            (14, false) => &mut self.out_timestamp_reps,
            (17, false) => &mut self.out_addr_masks,
            (18, false) => &mut self.out_addr_mask_reps,
            _ => return None,
        })
    }
}

mib! {
    /// UDP counters (`Udp:` in `/proc/net/snmp`), kept by
    /// [`UdpSockets`](crate::udp::UdpSockets).
    pub struct UdpStats in "Udp" {
        /// Datagrams queued to a socket.
        in_datagrams => "InDatagrams",
        /// Unicast datagrams for a port with no socket (answered with ICMP
        /// port unreachable, rate limits permitting).
        no_ports => "NoPorts",
        /// Received but not delivered for any other reason: malformed, bad
        /// checksum, receive buffer full.
        in_errors => "InErrors",
        /// Datagrams sent.
        out_datagrams => "OutDatagrams",
        /// Dropped because the socket's receive queue was full (also in `InErrors`).
        rcvbuf_errors => "RcvbufErrors",
        /// Not sent for lack of room in the stack's output queue.
        sndbuf_errors => "SndbufErrors",
        /// Bad checksum (also in `InErrors`).
        in_csum_errors => "InCsumErrors",
        /// Broadcast or multicast datagrams no socket wanted (no ICMP for those).
        ignored_multi => "IgnoredMulti",
    }
}

mib! {
    /// Link-layer counters of the stack's Ethernet interfaces. Linux keeps
    /// these per device (`ip -s link`); the names are synack's own.
    pub struct EthernetStats in "Eth" {
        /// Frames received on Ethernet interfaces.
        in_frames => "InFrames",
        /// Shorter than an Ethernet header.
        in_truncated => "InTruncated",
        /// Addressed to another station's unicast address.
        in_other_host => "InOtherHost",
        /// A broadcast or multicast source address: no station sends from
        /// one, so the frame is forged (RFC 1812 §3.3.2 never learns them).
        in_bad_source => "InBadSource",
        /// Neither IPv4 nor ARP.
        in_unknown_ethertype => "InUnknownEthertype",
        /// ARP packets received (valid ones).
        in_arp => "InArp",
        /// ARP packets that did not parse or are not Ethernet/IPv4.
        in_arp_errors => "InArpErrors",
        /// ARP packets claiming one of our addresses as the sender: a looped
        /// frame or an address conflict (RFC 5227 §2.4).
        in_arp_conflicts => "InArpConflicts",
        /// Frames sent.
        out_frames => "OutFrames",
        /// ARP requests sent (gratuitous announcements included).
        out_arp_requests => "OutArpRequests",
        /// ARP replies sent.
        out_arp_replies => "OutArpReplies",
    }
}

mib! {
    /// The loopback interface's counters (Linux's `ip -s link show lo`):
    /// every datagram to one of our own addresses or to 127.0.0.0/8 is
    /// sent and received there once.
    pub struct LoopbackStats in "Lo" {
        /// Datagrams looped back (sent and received on the loopback).
        packets => "Packets",
        /// Their bytes (IP headers included).
        bytes => "Bytes",
        /// Dropped because the loopback's queue was full.
        drops => "Drops",
    }
}

mib! {
    /// IGMP, the host's side (RFC 2236): what was heard and what was said.
    pub struct IgmpStats in "Igmp" {
        /// IGMP messages received (to a group this host receives).
        in_msgs => "InMsgs",
        /// Of those, ones that did not parse or failed the checksum.
        in_errors => "InErrors",
        /// Membership Queries received.
        in_queries => "InQueries",
        /// Other hosts' Membership Reports received.
        in_reports => "InReports",
        /// Membership Reports sent.
        out_reports => "OutReports",
        /// Leave Group messages sent.
        out_leaves => "OutLeaves",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_iterate_with_linux_names_in_linux_order() {
        let s = IpStats {
            in_receives: 7,
            in_delivers: 5,
            ..IpStats::default()
        };
        let names: Vec<&str> = s.iter().map(|(n, _)| n).take(6).collect();
        assert_eq!(
            names,
            [
                "InReceives",
                "InHdrErrors",
                "InAddrErrors",
                "InUnknownProtos",
                "InDiscards",
                "InDelivers"
            ]
        );
        assert_eq!(s.get("InReceives"), Some(7));
        assert_eq!(s.get("InDelivers"), Some(5));
        assert_eq!(s.get("NoSuchCounter"), None);
        assert_eq!(IpStats::SECTION, "Ip");
        assert_eq!(UdpStats::default().iter().len(), 8);
    }

    #[test]
    fn icmp_counts_per_type_in_and_out() {
        let mut s = IcmpStats::default();
        s.record_in(8);
        s.record_in(3);
        s.record_in(42); // unknown type: only InMsgs
        s.record_in_error(true);
        s.record_out(0);
        s.record_out(11);
        assert_eq!(s.get("InMsgs"), Some(4));
        assert_eq!((s.in_echos, s.in_dest_unreachs), (1, 1));
        assert_eq!((s.in_errors, s.in_csum_errors), (1, 1));
        assert_eq!((s.out_msgs, s.out_echo_reps, s.out_time_excds), (2, 1, 1));
        assert_eq!(IcmpStats::SECTION, "Icmp");
    }
}
