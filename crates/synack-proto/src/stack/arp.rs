//! ARP in the stack: answering requests for our addresses, learning, and
//! what a failed resolution means to the connections that sent through it.
//!
//! Read first: RFC 826 ("Packet Reception"), RFC 5227 §2.4 (a packet
//! claiming our address as its sender: a conflict, or our own announcement
//! looped back), RFC 1122 §2.3.2; the cache itself is
//! [`crate::ip::arp::ArpCache`].
//!
//! Like Linux with `arp_ignore=0`, we answer for any of our addresses on
//! any interface. A next hop nobody answers for is unreachable: as Linux
//! does through a locally generated ICMP host unreachable, connections to
//! it that are still connecting fail with EHOSTUNREACH, established ones
//! keep it as a soft error.

use core::net::Ipv4Addr;

use super::slab::Key;
use super::{ArpOut, Direction, Event, IfaceId, MAX_PENDING_ARP, Stack};
use crate::ip::arp::{self, ArpEvent};
use crate::ip::icmp::IcmpError;
use crate::time::Instant;
use crate::wire::icmpv4::DstUnreachable;
use crate::wire::{ArpOperation, ArpPacket, ArpRepr};

impl Stack {
    /// An ARP packet on Ethernet interface `index`; `unicast`: its frame
    /// was sent to the interface's own address (a reply sent so proves the
    /// sender hears us).
    pub(super) fn handle_arp(&mut self, index: usize, bytes: &[u8], unicast: bool) {
        let now = self.now;
        let Ok(packet) = ArpPacket::new_checked(bytes).and_then(|p| ArpRepr::parse(&p)) else {
            self.env.stats.eth.in_arp_errors += 1;
            return;
        };
        self.env.stats.eth.in_arp += 1;
        if self.trace.segments {
            self.events.push_back(Event::Arp {
                dir: Direction::In,
                at: now,
                iface: IfaceId(index as u16),
                packet,
            });
        }
        if self.is_local_addr(packet.source_protocol_addr) {
            self.env.stats.eth.in_arp_conflicts += 1;
            return;
        }
        let for_us = self.is_local_addr(packet.target_protocol_addr);
        let iface = &mut self.ifaces[index];
        let (Some(mac), Some(cache)) = (iface.mac(), iface.arp.as_mut()) else {
            return;
        };
        let _ = cache.handle_arp(now, &packet, for_us, unicast);
        if for_us
            && packet.operation == ArpOperation::Request
            && packet.source_hardware_addr.is_unicast()
            && !packet.source_protocol_addr.is_unspecified()
            && self.arp_out.len() < MAX_PENDING_ARP
        {
            self.arp_out.push_back(ArpOut {
                iface: index,
                packet: arp::reply(&packet, mac),
                dst_mac: packet.source_hardware_addr,
            });
        }
    }

    /// The ARP caches' retries and expiries, and the next hops that failed.
    pub(super) fn arp_timeouts(&mut self, now: Instant) {
        let mut failed: Vec<Ipv4Addr> = Vec::new();
        for iface in &mut self.ifaces {
            let Some(cache) = iface.arp.as_mut() else {
                continue;
            };
            cache.handle_timeout(now);
            while let Some(ArpEvent::Unreachable { ip, dropped }) = cache.poll_event() {
                self.env.stats.ip.out_discards += dropped as u64;
                failed.push(ip);
            }
        }
        for ip in failed {
            self.next_hop_unreachable(ip);
        }
    }

    /// Nobody answered for `next_hop`: every connection routed through it
    /// takes an EHOSTUNREACH (hard while connecting, soft once
    /// established). Rare (at most once per address per resolution
    /// attempt), so walking the connections is fine.
    fn next_hop_unreachable(&mut self, next_hop: Ipv4Addr) {
        let now = self.now;
        self.full_scans += 1;
        let affected: Vec<Key> = self
            .conns
            .iter()
            .filter(|(_, e)| {
                self.hop_to(*e.conn.remote().ip())
                    .is_some_and(|h| h.next_hop == next_hop)
            })
            .map(|(k, _)| k)
            .collect();
        let Some(error) = IcmpError::from_dst_unreachable(DstUnreachable::HostUnreachable, 0)
        else {
            return;
        };
        let min_pmtu = self.env.config.route_min_pmtu;
        for key in affected {
            if let Some(entry) = self.conns.get_mut(key) {
                let _ = entry
                    .conn
                    .handle_icmp_error(now, &error, None, 0, min_pmtu, &mut self.env);
                self.after_conn(key);
            }
        }
    }
}
