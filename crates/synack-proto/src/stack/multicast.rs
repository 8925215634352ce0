//! Multicast groups for the host's UDP sockets: joining and leaving them
//! (IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP), receiving only the groups an
//! interface has joined, and IGMPv2 in and out (`ip::igmp` keeps the
//! protocol's state; this module is its I/O).
//!
//! Read first: RFC 1112 §6 (the host's service interface: join and leave
//! per interface; a datagram to a group the host has joined is delivered
//! like any other; IP_MULTICAST_TTL and IP_MULTICAST_LOOP), §7.2 (a
//! datagram to a group the interface has not joined is dropped),
//! RFC 2236 §2 (every IGMP message goes with TTL 1 and the Router Alert
//! option).
//!
//! As Linux: membership is per interface and shared by the host (a
//! datagram for a joined group reaches every socket bound to its port,
//! `IP_MULTICAST_ALL` on); a socket's memberships go when it closes; the
//! interface of a join without an interface address is the route's to the
//! group; the host's own IGMP messages are not looped back.

use core::net::Ipv4Addr;

use super::Stack;
use super::iface::Hop;
use crate::ip::igmp::{self, JoinError};
use crate::time::Instant;
use crate::udp::{UdpError, UdpHandle};
use crate::wire::Checksum;
use crate::wire::igmp::{IgmpRepr, ROUTER_ALERT};
use crate::wire::ipv4::{HEADER_LEN as IP_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr};

impl Stack {
    /// IP_ADD_MEMBERSHIP: the socket joins `group` on the interface whose
    /// address is `iface_addr` (0.0.0.0: the interface of the route to the
    /// group). The interface's first member announces it with an IGMP
    /// report (RFC 2236 §3).
    ///
    /// Errors: `InvalidInput` for an address that is no group;
    /// `AddrNotAvailable` for an interface address not ours; `NetworkUnreachable` with no route to the group;
    /// `AddrInUse` if the socket has joined it there already;
    /// `NoBufferSpace` past [`igmp::MAX_GROUPS`].
    pub fn udp_join_multicast(
        &mut self,
        now: Instant,
        h: UdpHandle,
        group: Ipv4Addr,
        iface_addr: Ipv4Addr,
    ) -> Result<(), UdpError> {
        self.advance(now);
        let iface = self.multicast_iface(group, iface_addr)?;
        self.udp.add_group(h, group, iface)?;
        let now = self.now;
        if let Err(e) = self.igmp.join(now, iface, group, &mut self.igmp_rng) {
            // The socket's record goes again: the join did not happen.
            let _ = self.udp.remove_group(h, group, iface);
            return Err(match e {
                JoinError::NotAGroup => UdpError::InvalidInput,
                JoinError::TooMany => UdpError::NoBufferSpace,
            });
        }
        self.after_igmp();
        Ok(())
    }

    /// IP_DROP_MEMBERSHIP: the socket leaves `group` on the interface of
    /// `iface_addr` (as for [`Stack::udp_join_multicast`]); the
    /// interface's last member leaves it, with an IGMP Leave Group when the
    /// host sent its last report (RFC 2236 §3). `AddrNotAvailable` if the
    /// socket had not joined it there.
    pub fn udp_leave_multicast(
        &mut self,
        now: Instant,
        h: UdpHandle,
        group: Ipv4Addr,
        iface_addr: Ipv4Addr,
    ) -> Result<(), UdpError> {
        self.advance(now);
        let iface = self.multicast_iface(group, iface_addr)?;
        self.udp.remove_group(h, group, iface)?;
        let now = self.now;
        self.igmp.leave(now, iface, group);
        self.after_igmp();
        Ok(())
    }

    /// Sets IP_MULTICAST_IF: the interface (by its address) the socket's
    /// datagrams to a group leave by, whatever the routes say; 0.0.0.0
    /// goes back to the route's. `AddrNotAvailable` for an address not
    /// ours.
    pub fn udp_set_multicast_if(
        &mut self,
        h: UdpHandle,
        iface_addr: Ipv4Addr,
    ) -> Result<(), UdpError> {
        let iface = if iface_addr.is_unspecified() {
            None
        } else {
            let i = self.ifaces.iter().position(|i| i.config.addr == iface_addr);
            Some(i.ok_or(UdpError::AddrNotAvailable)?)
        };
        self.udp.set_multicast_if(h, iface)
    }

    /// Sets IP_MULTICAST_LOOP: whether the socket's datagrams to a group
    /// this host has joined also reach its own members (default on).
    pub fn udp_set_multicast_loop(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.udp.set_multicast_loop(h, on)
    }

    /// The groups interface `iface` has joined, with how many sockets hold
    /// each (Linux `/proc/net/igmp`).
    pub fn multicast_groups(&self, iface: crate::ip::IfaceId) -> Vec<(Ipv4Addr, u32)> {
        self.igmp.groups(usize::from(iface.0)).collect()
    }

    /// A closing socket's groups are left.
    pub(super) fn leave_groups_of(&mut self, h: UdpHandle) {
        let Ok(groups) = self.udp.groups(h) else {
            return;
        };
        if groups.is_empty() {
            return;
        }
        let now = self.now;
        for &(group, iface) in groups {
            self.igmp.leave(now, iface, group);
        }
        self.after_igmp();
    }

    /// The interface a join or leave names.
    fn multicast_iface(&self, group: Ipv4Addr, iface_addr: Ipv4Addr) -> Result<usize, UdpError> {
        if !group.is_multicast() {
            return Err(UdpError::InvalidInput);
        }
        if !iface_addr.is_unspecified() {
            return self
                .ifaces
                .iter()
                .position(|i| i.config.addr == iface_addr)
                .ok_or(UdpError::AddrNotAvailable);
        }
        match self.hop_to(group) {
            Some(hop) if hop.iface < self.ifaces.len() => Ok(hop.iface),
            _ => Err(UdpError::NetworkUnreachable),
        }
    }

    /// Whether a datagram to multicast address `dst` on interface `iface`
    /// is for this host: its interface has joined the group (or it is the
    /// all-hosts group). RFC 1112 §7.2: otherwise it is dropped, counted
    /// as an address this host does not receive (`InAddrErrors`).
    pub(super) fn accepts_multicast(&mut self, iface: usize, dst: Ipv4Addr) -> bool {
        if self.igmp.is_member(iface, dst) {
            return true;
        }
        self.env.stats.ip.in_addr_errors += 1;
        false
    }

    /// An IGMP message to a group address on interface `iface` (`datagram`
    /// is the whole IP datagram, `payload` its IGMP message).
    #[cold]
    #[inline(never)]
    pub(super) fn handle_igmp(&mut self, iface: usize, ip: &Ipv4Repr, payload: &[u8]) {
        self.env.stats.ip.in_delivers += 1;
        let stats = &mut self.env.stats.igmp;
        stats.in_msgs += 1;
        let message = match IgmpRepr::parse(payload, Checksum::Full) {
            Ok(m) => m,
            Err(crate::wire::WireError::Unsupported) => return,
            Err(_) => {
                stats.in_errors += 1;
                return;
            }
        };
        match message {
            IgmpRepr::Query { .. } => stats.in_queries += 1,
            IgmpRepr::Report { .. } => stats.in_reports += 1,
            IgmpRepr::Leave { .. } => {}
        }
        let now = self.now;
        self.igmp
            .handle(now, iface, ip.dst_addr, &message, &mut self.igmp_rng);
    }

    /// IGMP's timers that are due.
    pub(super) fn igmp_timeouts(&mut self, now: Instant) {
        if self.igmp.is_empty() {
            return;
        }
        self.igmp.handle_timeout(now);
        self.after_igmp();
    }

    /// After anything that may have changed the memberships: their
    /// messages go into the output queue, and the deadline looks at their
    /// timers while any group is joined.
    pub(super) fn after_igmp(&mut self) {
        while let Some(out) = self.igmp.pop_message() {
            self.queue_igmp(out);
        }
        self.slow_timers_changed();
        self.refresh_deadline();
    }

    /// Writes an IGMP message as a datagram for its interface: TTL 1, the
    /// Router Alert option (RFC 2236 §2), from the interface's address.
    fn queue_igmp(&mut self, out: igmp::Outgoing) {
        let Some(src) = self.ifaces.get(out.iface).map(|i| i.config.addr) else {
            return;
        };
        let message = out.message.to_bytes();
        let total = IP_HEADER_LEN + ROUTER_ALERT.len() + message.len();
        let Some(mut buf) = self.out.alloc(total) else {
            self.env.stats.ip.out_discards += 1;
            return;
        };
        buf.resize(total, 0);
        let repr = Ipv4Repr {
            src_addr: src,
            dst_addr: out.dst,
            protocol: IpProtocol::Igmp,
            payload_len: message.len() as u16,
            ttl: 1,
            dscp_ecn: 0,
            ident: self.next_ident(),
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        };
        let header_len =
            repr.emit_with_options(&mut Ipv4Packet::new_unchecked(&mut buf[..]), &ROUTER_ALERT);
        buf[header_len..].copy_from_slice(&message);
        self.env.stats.ip.out_requests += 1;
        match out.message {
            IgmpRepr::Leave { .. } => self.env.stats.igmp.out_leaves += 1,
            _ => self.env.stats.igmp.out_reports += 1,
        }
        self.out.push_on(buf, out.iface);
    }

    /// The hop of a datagram to group `dst` sent on interface `iface`.
    pub(super) fn multicast_hop(&self, iface: usize, dst: Ipv4Addr) -> Option<Hop> {
        let i = self.ifaces.get(iface)?;
        Some(Hop {
            iface,
            next_hop: dst,
            src: i.config.addr,
            link_broadcast: true,
        })
    }
}
