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
use crate::ip::igmp::{
    self, FilterMode, InterfaceFilter, JoinError, Membership, MembershipError, MembershipOp,
    Message, Plan, SocketMemberships,
};
use crate::time::Instant;
use crate::udp::{UdpError, UdpHandle};
use crate::wire::Checksum;
use crate::wire::igmp::{
    GROUP_RECORD_HEADER_LEN, GroupRecord, IgmpRepr, ROUTER_ALERT, V3_REPORT_HEADER_LEN,
    v3_report_bytes,
};
use crate::wire::ipv4::{HEADER_LEN as IP_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr};

impl Stack {
    /// IP_ADD_MEMBERSHIP: the socket joins `group` on the interface whose
    /// address is `iface_addr` (0.0.0.0: the interface of the route to the
    /// group), for every source. The interface's change of state is
    /// reported (IGMPv3 RFC 3376 §5.1, or IGMPv2 RFC 2236 §3).
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
        self.change_membership(now, h, group, iface_addr, MembershipOp::Join)
    }

    /// IP_DROP_MEMBERSHIP: the socket leaves `group` on the interface of
    /// `iface_addr` (as for [`Stack::udp_join_multicast`]), whatever its
    /// source filter; the interface's last member leaves it, which is
    /// reported too. `AddrNotAvailable` if the socket had not joined it
    /// there.
    pub fn udp_leave_multicast(
        &mut self,
        now: Instant,
        h: UdpHandle,
        group: Ipv4Addr,
        iface_addr: Ipv4Addr,
    ) -> Result<(), UdpError> {
        self.change_membership(now, h, group, iface_addr, MembershipOp::Leave)
    }

    /// The source calls, and any other change of the socket's membership
    /// of `group` on the interface of `iface_addr` (as for
    /// [`Stack::udp_join_multicast`]), by `op`:
    /// - `JoinSource(s)`, IP_ADD_SOURCE_MEMBERSHIP (source-specific
    ///   multicast, RFC 4607): the socket receives `group` from `s` too,
    ///   joining it in INCLUDE mode if it had not (RFC 3678 §4.1.3);
    /// - `LeaveSource(s)`, IP_DROP_SOURCE_MEMBERSHIP: no longer from `s`;
    ///   its last source leaves the group;
    /// - `BlockSource(s)`, IP_BLOCK_SOURCE: a socket that joined `group`
    ///   for every source stops receiving it from `s` (EXCLUDE mode, RFC
    ///   3678 §4.1.2); `UnblockSource(s)`, IP_UNBLOCK_SOURCE, undoes it;
    /// - `Join` and `Leave`: [`Stack::udp_join_multicast`],
    ///   [`Stack::udp_leave_multicast`].
    ///
    /// Errors as [`Stack::udp_join_multicast`]'s, and: `InvalidInput` for a
    /// source that is no unicast address, a source call without a join or
    /// on a filter of the other mode; `AddrNotAvailable` for a source
    /// already listed or not listed; `NoBufferSpace` past
    /// [`igmp::MAX_SOURCES`] sources.
    pub fn udp_membership(
        &mut self,
        now: Instant,
        h: UdpHandle,
        group: Ipv4Addr,
        iface_addr: Ipv4Addr,
        op: MembershipOp,
    ) -> Result<(), UdpError> {
        if let MembershipOp::JoinSource(s)
        | MembershipOp::LeaveSource(s)
        | MembershipOp::BlockSource(s)
        | MembershipOp::UnblockSource(s) = op
        {
            check_source(s)?;
        }
        self.change_membership(now, h, group, iface_addr, op)
    }

    /// A delta call (`op`) through [`Stack::apply_membership`].
    fn change_membership(
        &mut self,
        now: Instant,
        h: UdpHandle,
        group: Ipv4Addr,
        iface_addr: Ipv4Addr,
        op: MembershipOp,
    ) -> Result<(), UdpError> {
        self.apply_membership(now, h, group, iface_addr, |m, iface| {
            m.plan(op, group, iface)
        })
    }

    /// IP_MSFILTER (RFC 3678 §4.2, the full-state API; Linux's
    /// `ip_mc_msfilter`): the socket's filter for `group` on the interface
    /// of `iface_addr` becomes `mode` with `sources` (duplicates count
    /// once); INCLUDE with none leaves the group. The change is reported as
    /// any other. Errors: `NoBufferSpace` past [`igmp::MAX_SOURCES`]
    /// sources; `AddrNotAvailable` leaving a group not joined;
    /// `InvalidInput` for a group the socket has not joined (Linux wants a
    /// prior join) or a source that is no unicast address; and those of
    /// [`Stack::udp_join_multicast`] for the group and interface.
    pub fn udp_set_source_filter(
        &mut self,
        now: Instant,
        h: UdpHandle,
        group: Ipv4Addr,
        iface_addr: Ipv4Addr,
        mode: FilterMode,
        sources: &[Ipv4Addr],
    ) -> Result<(), UdpError> {
        for &s in sources {
            check_source(s)?;
        }
        self.apply_membership(now, h, group, iface_addr, |m, iface| {
            m.plan_filter(group, iface, mode, sources)
        })
    }

    /// The socket's filter for `group` on the interface of `iface_addr`
    /// (getsockopt IP_MSFILTER): its mode and sources. `AddrNotAvailable`
    /// if it has not joined the group there.
    pub fn udp_source_filter(
        &self,
        h: UdpHandle,
        group: Ipv4Addr,
        iface_addr: Ipv4Addr,
    ) -> Result<(FilterMode, Vec<Ipv4Addr>), UdpError> {
        let iface = self.multicast_iface(group, iface_addr)?;
        let m = self.udp.memberships(h)?;
        let found = m.iter().find(|m| m.group == group && m.iface == iface);
        let m = found.ok_or(UdpError::AddrNotAvailable)?;
        Ok((m.mode, m.sources.clone()))
    }

    /// A change of the socket's membership: `plan` (given the socket's
    /// memberships and the interface) says what its filter was and will
    /// be; the interface takes the change (and reports it), then the
    /// socket keeps it. A refusal anywhere leaves both as they were.
    fn apply_membership(
        &mut self,
        now: Instant,
        h: UdpHandle,
        group: Ipv4Addr,
        iface_addr: Ipv4Addr,
        plan: impl FnOnce(&SocketMemberships, usize) -> Result<Plan, MembershipError>,
    ) -> Result<(), UdpError> {
        self.advance(now);
        let iface = self.multicast_iface(group, iface_addr)?;
        let plan = plan(self.udp.memberships(h)?, iface).map_err(|e| match e {
            MembershipError::AlreadyJoined => UdpError::AddrInUse,
            MembershipError::NotJoined | MembershipError::Source => UdpError::AddrNotAvailable,
            MembershipError::WrongMode => UdpError::InvalidInput,
            MembershipError::TooManySources => UdpError::NoBufferSpace,
        })?;
        let old = plan.old.as_ref().map(Membership::filter);
        let new = plan.new.as_ref().map(Membership::filter);
        let now = self.now;
        self.igmp
            .change(now, iface, group, old, new, &mut self.igmp_rng)
            .map_err(|e| match e {
                JoinError::NotAGroup => UdpError::InvalidInput,
                JoinError::TooMany => UdpError::NoBufferSpace,
            })?;
        self.udp.memberships_mut(h)?.apply(plan);
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

    /// Interface `iface`'s source filter for `group`, every socket's merged
    /// (RFC 3376 §3.2; Linux `/proc/net/mcfilter`), if it holds the group.
    pub fn multicast_filter(
        &self,
        iface: crate::ip::IfaceId,
        group: Ipv4Addr,
    ) -> Option<InterfaceFilter> {
        self.igmp.filter(usize::from(iface.0), group)
    }

    /// The IGMP version interface `iface` speaks now: 3, or 1 or 2 while a
    /// router of that version is heard or `force_igmp_version` says so
    /// (RFC 3376 §7.2.1).
    pub fn igmp_version(&self, iface: crate::ip::IfaceId) -> u8 {
        self.igmp.version(usize::from(iface.0), self.now)
    }

    /// A closing socket's groups are left.
    pub(super) fn leave_groups_of(&mut self, h: UdpHandle) {
        let Ok(memberships) = self.udp.memberships_mut(h) else {
            return;
        };
        if memberships.is_empty() {
            return;
        }
        let now = self.now;
        for m in memberships.take() {
            let old = Some(m.filter());
            let _ = self
                .igmp
                .change(now, m.iface, m.group, old, None, &mut self.igmp_rng);
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

    /// Whether datagram `ip` to a multicast address on interface `iface` is
    /// for this host: its interface has joined the group and its filter
    /// takes the source (RFC 3376 §3.2), or it is the all-hosts group.
    /// RFC 1112 §7.2: otherwise it is dropped, counted as an address this
    /// host does not receive (`InAddrErrors`).
    pub(super) fn accepts_multicast(&mut self, iface: usize, ip: &Ipv4Repr) -> bool {
        let igmp = ip.protocol == IpProtocol::Igmp;
        if self.igmp.accepts(iface, ip.dst_addr, ip.src_addr, igmp) {
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
        // A query may have changed the interface's version (and with it
        // what is pending) or scheduled an answer.
        self.after_igmp();
    }

    /// IGMP's timers that are due.
    pub(super) fn igmp_timeouts(&mut self, now: Instant) {
        if self.igmp.is_empty() {
            return;
        }
        self.igmp.handle_timeout(now, &mut self.igmp_rng);
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

    /// Writes an IGMP message as datagrams for its interface: TTL 1, the
    /// Router Alert option (RFC 2236 §2, RFC 3376 §4), from the
    /// interface's address. A version 3 report too long for the link is
    /// split over several (RFC 3376 §4.2.16).
    fn queue_igmp(&mut self, out: igmp::Outgoing) {
        let Some(iface) = self.ifaces.get(out.iface) else {
            return;
        };
        let src = iface.config.addr;
        let room = self
            .iface_mtu(out.iface)
            .saturating_sub(IP_HEADER_LEN + ROUTER_ALERT.len());
        match out.message {
            Message::Report { version, group } => {
                let bytes = IgmpRepr::Report { version, group }.to_bytes();
                self.env.stats.igmp.out_reports += 1;
                self.send_igmp(out.iface, src, out.dst, &bytes);
            }
            Message::Leave { group } => {
                let bytes = IgmpRepr::Leave { group }.to_bytes();
                self.env.stats.igmp.out_leaves += 1;
                self.send_igmp(out.iface, src, out.dst, &bytes);
            }
            Message::V3Report(records) => {
                for report in split_report(records, room) {
                    let bytes = v3_report_bytes(&report);
                    self.env.stats.igmp.out_reports += 1;
                    self.send_igmp(out.iface, src, out.dst, &bytes);
                }
            }
        }
    }

    fn send_igmp(&mut self, iface: usize, src: Ipv4Addr, dst: Ipv4Addr, message: &[u8]) {
        let total = IP_HEADER_LEN + ROUTER_ALERT.len() + message.len();
        let Some(mut buf) = self.out.alloc(total) else {
            self.env.stats.ip.out_discards += 1;
            return;
        };
        buf.resize(total, 0);
        let repr = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
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
        buf[header_len..].copy_from_slice(message);
        self.env.stats.ip.out_requests += 1;
        self.out.push_on(buf, iface);
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

/// A source for the source calls: a unicast address (not 0.0.0.0, a group or
/// the broadcast address).
fn check_source(source: Ipv4Addr) -> Result<(), UdpError> {
    if source.is_unspecified() || source.is_multicast() || source.is_broadcast() {
        return Err(UdpError::InvalidInput);
    }
    Ok(())
}

/// RFC 3376 §4.2.16: `records` as reports of at most `room` bytes each. A
/// record whose sources do not fit is split over records of the same type,
/// except that an excluded-sources list is cut short (splitting it would
/// change its meaning).
fn split_report(records: Vec<GroupRecord>, room: usize) -> Vec<Vec<GroupRecord>> {
    let room = room.saturating_sub(V3_REPORT_HEADER_LEN);
    let per_record = (room.saturating_sub(GROUP_RECORD_HEADER_LEN) / 4).max(1);
    let mut reports = Vec::new();
    let mut report: Vec<GroupRecord> = Vec::new();
    let mut used = 0;
    let mut push = |r: GroupRecord| {
        if used + r.wire_len() > room && !report.is_empty() {
            reports.push(core::mem::take(&mut report));
            used = 0;
        }
        used += r.wire_len();
        report.push(r);
    };
    for mut r in records {
        if r.sources.len() <= per_record {
            push(r);
        } else if r.kind.lists_excluded() {
            r.sources.truncate(per_record);
            push(r);
        } else {
            for chunk in r.sources.chunks(per_record) {
                push(GroupRecord {
                    kind: r.kind,
                    group: r.group,
                    sources: chunk.to_vec(),
                });
            }
        }
    }
    if !report.is_empty() {
        reports.push(report);
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::igmp::RecordType;

    fn rec(kind: RecordType, n: u8) -> GroupRecord {
        GroupRecord {
            kind,
            group: Ipv4Addr::new(232, 0, 0, n),
            sources: (1..=n).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect(),
        }
    }

    #[test]
    fn a_report_too_long_is_split_and_an_excluded_list_cut_short() {
        // Room for the report header and 24 bytes: two records of one
        // source each, or one of up to four sources.
        let room = V3_REPORT_HEADER_LEN + 24;
        let reports = split_report(
            vec![
                rec(RecordType::ModeIsInclude, 1),
                rec(RecordType::AllowNewSources, 6),
                rec(RecordType::ModeIsExclude, 6),
            ],
            room,
        );
        let shape: Vec<Vec<(RecordType, usize)>> = reports
            .iter()
            .map(|r| r.iter().map(|g| (g.kind, g.sources.len())).collect())
            .collect();
        // RFC 3376 §4.2.16: ALLOW's six sources in records of four and two;
        // MODE_IS_EXCLUDE's six cut to four.
        assert_eq!(
            shape,
            [
                vec![(RecordType::ModeIsInclude, 1)],
                vec![(RecordType::AllowNewSources, 4)],
                vec![(RecordType::AllowNewSources, 2)],
                vec![(RecordType::ModeIsExclude, 4)],
            ]
        );
        for r in &reports {
            assert!(v3_report_bytes(r).len() <= room, "{r:?}");
        }
    }
}
