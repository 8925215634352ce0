//! IGMPv3 and source filters through the stack (RFC 3376, RFC 3678's
//! delta-based calls, RFC 4607's source-specific multicast): what each call
//! puts on the wire, which sources' datagrams reach the interface and the
//! socket, a query's answer split to fit the link, and the version-2
//! fallback when such a router is heard.

use super::multicast::{bound, frames, host, igmp_in, run, to_group_from};
use super::*;
use crate::ip::igmp::{FilterMode, InterfaceFilter, MembershipOp, Message};
use crate::udp::UdpError;
use crate::wire::igmp::{GroupRecord, IgmpRepr, RecordType, v3_query_bytes};

/// Source-specific multicast's range (RFC 4607 §1).
const SSM_GROUP: Ipv4Addr = Ipv4Addr::new(232, 1, 1, 1);
const ANY_GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 5, 5);
const S1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const S2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const ALL_V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

fn report(records: Vec<GroupRecord>) -> (Ipv4Addr, Message) {
    (ALL_V3_ROUTERS, Message::V3Report(records))
}

fn rec(kind: RecordType, group: Ipv4Addr, sources: &[Ipv4Addr]) -> GroupRecord {
    GroupRecord {
        kind,
        group,
        sources: sources.to_vec(),
    }
}

/// What `s` sends at `now`: one version 3 report of one record.
fn one_record(s: &mut Stack, now: Instant) -> GroupRecord {
    let sent = igmp_in(&frames(s, now));
    match &sent[..] {
        [(ALL_V3_ROUTERS, Message::V3Report(records))] if records.len() == 1 => records[0].clone(),
        _ => panic!("not one record: {sent:?}"),
    }
}

/// Whether a datagram from `src` to `group`:[`PORT`] reaches socket `u`.
fn reaches(s: &mut Stack, u: crate::udp::UdpHandle, src: Ipv4Addr, group: Ipv4Addr) -> bool {
    let t = s.now;
    s.handle_frame(t, &to_group_from(src, group, IpProtocol::Udp, b"data"));
    let mut buf = [0u8; 16];
    s.udp_recv(u, &mut buf) == Ok(4)
}

#[test]
fn an_ssm_join_reports_allow_and_takes_only_its_sources() {
    let mut s = host(A, 1);
    frames(&mut s, Instant::ZERO);
    assert_eq!(s.igmp_version(IfaceId(0)), 3, "Linux's default");
    let u = bound(&mut s);
    // IP_ADD_SOURCE_MEMBERSHIP: INCLUDE({}) -> INCLUDE({S1}), ALLOW(S1), to
    // 224.0.0.22 (MAC 01:00:5e:00:00:16), and again within 1 s.
    s.udp_membership(Instant::ZERO, u, SSM_GROUP, A, MembershipOp::JoinSource(S1))
        .unwrap();
    let allow = report(vec![rec(RecordType::AllowNewSources, SSM_GROUP, &[S1])]);
    assert_eq!(
        igmp_in(&frames(&mut s, Instant::ZERO)),
        core::slice::from_ref(&allow)
    );
    let again = run(&mut s, Instant::ZERO, 5_000);
    assert_eq!(again.len(), 1);
    assert!(again[0].0 <= Instant::from_secs(1));
    assert_eq!(igmp_in(&[again[0].1.clone()]), [allow]);
    assert_eq!(
        s.multicast_filter(IfaceId(0), SSM_GROUP),
        Some(InterfaceFilter {
            mode: FilterMode::Include,
            sources: vec![S1]
        })
    );
    // S1's datagrams arrive; S2's stop at the interface, counted as an
    // address not taken.
    assert!(reaches(&mut s, u, S1, SSM_GROUP));
    let errors = s.stats().ip.in_addr_errors;
    assert!(!reaches(&mut s, u, S2, SSM_GROUP));
    assert_eq!(s.stats().ip.in_addr_errors, errors + 1);
    // Another socket joins for every source: the interface takes S2 now,
    // but the SSM socket's own filter still refuses it (IgnoredMulti).
    let v = s.udp_open();
    s.udp_join_multicast(s.now, v, SSM_GROUP, A).unwrap();
    assert_eq!(
        one_record(&mut s, Instant::ZERO),
        rec(RecordType::ChangeToExclude, SSM_GROUP, &[])
    );
    let ignored = s.udp_stats().ignored_multi;
    assert!(!reaches(&mut s, u, S2, SSM_GROUP));
    assert_eq!(s.udp_stats().ignored_multi, ignored + 1);
    assert!(reaches(&mut s, u, S1, SSM_GROUP));
    // The any-source socket closes; then the last source goes, which
    // leaves the group: INCLUDE({S1}) -> INCLUDE({}) is BLOCK(S1).
    s.udp_close(v).unwrap();
    assert_eq!(
        one_record(&mut s, Instant::ZERO),
        rec(RecordType::ChangeToInclude, SSM_GROUP, &[S1])
    );
    // (While that mode change is still being retransmitted, a change
    // would go out as the whole state again; let it finish.)
    run(&mut s, Instant::ZERO, 5_000);
    let now = s.now;
    s.udp_membership(now, u, SSM_GROUP, A, MembershipOp::LeaveSource(S1))
        .unwrap();
    assert_eq!(
        one_record(&mut s, now),
        rec(RecordType::BlockOldSources, SSM_GROUP, &[S1])
    );
    assert!(s.multicast_groups(IfaceId(0)).is_empty());
    assert!(!reaches(&mut s, u, S1, SSM_GROUP));
}

#[test]
fn blocking_a_source_excludes_it_and_unblocking_allows_it_again() {
    let mut s = host(A, 1);
    frames(&mut s, Instant::ZERO);
    let u = bound(&mut s);
    s.udp_join_multicast(Instant::ZERO, u, ANY_GROUP, A)
        .unwrap();
    assert_eq!(
        one_record(&mut s, Instant::ZERO),
        rec(RecordType::ChangeToExclude, ANY_GROUP, &[])
    );
    // EXCLUDE({}) -> EXCLUDE({S2}): BLOCK(S2). The pending retransmission
    // of the join is a mode change, so it carries the whole new state.
    s.udp_membership(
        Instant::ZERO,
        u,
        ANY_GROUP,
        A,
        MembershipOp::BlockSource(S2),
    )
    .unwrap();
    assert_eq!(
        one_record(&mut s, Instant::ZERO),
        rec(RecordType::ChangeToExclude, ANY_GROUP, &[S2])
    );
    run(&mut s, Instant::ZERO, 5_000);
    assert!(reaches(&mut s, u, S1, ANY_GROUP));
    assert!(!reaches(&mut s, u, S2, ANY_GROUP));
    // Now with nothing pending: UNBLOCK is ALLOW(S2).
    s.udp_membership(s.now, u, ANY_GROUP, A, MembershipOp::UnblockSource(S2))
        .unwrap();
    assert_eq!(
        one_record(&mut s, Instant::ZERO),
        rec(RecordType::AllowNewSources, ANY_GROUP, &[S2])
    );
    assert!(reaches(&mut s, u, S2, ANY_GROUP));
}

#[test]
fn the_source_calls_refuse_what_linux_refuses() {
    let mut s = host(A, 1);
    let u = s.udp_open();
    let now = Instant::ZERO;
    // Without a join: EINVAL; a source that is no unicast address: EINVAL.
    assert_eq!(
        s.udp_membership(now, u, ANY_GROUP, A, MembershipOp::BlockSource(S1)),
        Err(UdpError::InvalidInput)
    );
    assert_eq!(
        s.udp_membership(now, u, SSM_GROUP, A, MembershipOp::LeaveSource(S1)),
        Err(UdpError::InvalidInput)
    );
    for bad in [Ipv4Addr::UNSPECIFIED, ANY_GROUP, Ipv4Addr::BROADCAST] {
        assert_eq!(
            s.udp_membership(now, u, SSM_GROUP, A, MembershipOp::JoinSource(bad)),
            Err(UdpError::InvalidInput)
        );
    }
    assert_eq!(
        s.udp_membership(now, u, S2, A, MembershipOp::JoinSource(S1)),
        Err(UdpError::InvalidInput),
        "no group"
    );
    // Twice the same source: EADDRNOTAVAIL; the other mode: EINVAL.
    s.udp_membership(now, u, SSM_GROUP, A, MembershipOp::JoinSource(S1))
        .unwrap();
    assert_eq!(
        s.udp_membership(now, u, SSM_GROUP, A, MembershipOp::JoinSource(S1)),
        Err(UdpError::AddrNotAvailable)
    );
    assert_eq!(
        s.udp_membership(now, u, SSM_GROUP, A, MembershipOp::BlockSource(S2)),
        Err(UdpError::InvalidInput)
    );
    assert_eq!(
        s.udp_join_multicast(now, u, SSM_GROUP, A),
        Err(UdpError::AddrInUse)
    );
    assert_eq!(
        s.udp_membership(now, u, SSM_GROUP, A, MembershipOp::LeaveSource(S2)),
        Err(UdpError::AddrNotAvailable)
    );
    // At most ten sources: ENOBUFS for the eleventh.
    for i in 2..=10 {
        let src = Ipv4Addr::new(198, 51, 100, i);
        s.udp_membership(now, u, SSM_GROUP, A, MembershipOp::JoinSource(src))
            .unwrap();
    }
    let eleventh = Ipv4Addr::new(198, 51, 100, 11);
    assert_eq!(
        s.udp_membership(now, u, SSM_GROUP, A, MembershipOp::JoinSource(eleventh)),
        Err(UdpError::NoBufferSpace)
    );
    // IP_DROP_MEMBERSHIP leaves whatever the filter.
    s.udp_leave_multicast(now, u, SSM_GROUP, A).unwrap();
    assert!(s.multicast_filter(IfaceId(0), SSM_GROUP).is_none());
}

#[test]
fn a_general_query_is_answered_with_every_group_in_reports_that_fit_the_link() {
    let mut s = host(A, 1);
    frames(&mut s, Instant::ZERO);
    let u = s.udp_open();
    // 200 groups: 200 records of 8 bytes do not fit one 1,500-byte
    // datagram (24 bytes of IP header, 8 of report header).
    let groups: Vec<Ipv4Addr> = (0..200u8).map(|i| Ipv4Addr::new(239, 0, 1, i)).collect();
    for &g in &groups {
        s.udp_join_multicast(Instant::ZERO, u, g, A).unwrap();
    }
    s.udp_membership(Instant::ZERO, u, SSM_GROUP, A, MembershipOp::JoinSource(S1))
        .unwrap();
    run(&mut s, Instant::ZERO, 5_000);
    let at = Instant::from_secs(10);
    let query = v3_query_bytes(20, Ipv4Addr::UNSPECIFIED, 2, 125, &[]);
    let all_hosts = Ipv4Addr::new(224, 0, 0, 1);
    s.handle_frame(at, &to_group_from(S1, all_hosts, IpProtocol::Igmp, &query));
    assert_eq!(s.stats().igmp.in_queries, 1);
    let sent = run(&mut s, at, 20_000);
    assert_eq!(sent.len(), 2, "split in two");
    assert!(
        sent.iter()
            .all(|(t, f)| *t > at && *t <= at + Duration::from_secs(2) && f.len() <= 1514)
    );
    let frames: Vec<_> = sent.into_iter().map(|(_, f)| f).collect();
    let mut records = Vec::new();
    for (dst, m) in igmp_in(&frames) {
        assert_eq!(dst, ALL_V3_ROUTERS);
        let Message::V3Report(r) = m else {
            panic!("{m:?}")
        };
        records.extend(r);
    }
    assert_eq!(records.len(), 201);
    for g in &groups {
        assert!(records.contains(&rec(RecordType::ModeIsExclude, *g, &[])));
    }
    assert!(records.contains(&rec(RecordType::ModeIsInclude, SSM_GROUP, &[S1])));
}

#[test]
fn a_version_2_querier_turns_the_host_to_version_2_reports_and_leaves() {
    let mut s = host(A, 1);
    frames(&mut s, Instant::ZERO);
    let u = s.udp_open();
    s.udp_join_multicast(Instant::ZERO, u, ANY_GROUP, A)
        .unwrap();
    run(&mut s, Instant::ZERO, 5_000);
    let query = IgmpRepr::Query {
        max_resp_tenths: 10,
        group: Ipv4Addr::UNSPECIFIED,
        v3: None,
    }
    .to_bytes();
    let at = Instant::from_secs(10);
    let all_hosts = Ipv4Addr::new(224, 0, 0, 1);
    s.handle_frame(at, &to_group_from(S1, all_hosts, IpProtocol::Igmp, &query));
    assert_eq!(s.igmp_version(IfaceId(0)), 2);
    let sent = run(&mut s, at, 20_000);
    let frames_sent: Vec<_> = sent.into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        igmp_in(&frames_sent),
        [(
            ANY_GROUP,
            Message::Report {
                version: 2,
                group: ANY_GROUP
            }
        )]
    );
    // An SSM join says nothing a version 2 router could read but the join.
    s.udp_membership(s.now, u, SSM_GROUP, A, MembershipOp::JoinSource(S1))
        .unwrap();
    assert_eq!(
        igmp_in(&frames(&mut s, Instant::ZERO)),
        [(
            SSM_GROUP,
            Message::Report {
                version: 2,
                group: SSM_GROUP
            }
        )]
    );
    s.udp_close(u).unwrap();
    let left = igmp_in(&frames(&mut s, Instant::ZERO));
    assert_eq!(left.len(), 2);
    assert!(
        left.iter()
            .all(|(dst, m)| *dst == Ipv4Addr::new(224, 0, 0, 2)
                && matches!(m, Message::Leave { .. }))
    );
}

#[test]
fn a_query_to_a_host_in_no_group_leaves_no_timer_behind() {
    // An Ethernet host (ARP keeps its slow timers looked at) that joined
    // nothing hears a version 3 General Query: nothing to answer, and its
    // deadline does not stay in the past.
    let mut s = host(A, 1);
    frames(&mut s, Instant::ZERO);
    let before = s.poll_timeout();
    let query = v3_query_bytes(100, Ipv4Addr::UNSPECIFIED, 2, 125, &[]);
    let all_hosts = Ipv4Addr::new(224, 0, 0, 1);
    let at = Instant::from_secs(1);
    s.handle_frame(at, &to_group_from(S1, all_hosts, IpProtocol::Igmp, &query));
    assert_eq!(s.stats().igmp.in_queries, 1);
    assert_eq!(s.poll_timeout(), before);
    assert!(run(&mut s, at, 20_000).is_empty());
}

#[test]
fn ip_msfilter_sets_a_joined_groups_filter_whole() {
    // RFC 3678 §4.2's full-state call: the filter replaced at once, the
    // change reported as any other, read back by getsockopt.
    let mut s = host(A, 1);
    frames(&mut s, Instant::ZERO);
    let u = bound(&mut s);
    assert_eq!(
        s.udp_set_source_filter(Instant::ZERO, u, ANY_GROUP, A, FilterMode::Exclude, &[S1]),
        Err(UdpError::InvalidInput),
        "a prior join first"
    );
    assert_eq!(
        s.udp_source_filter(u, ANY_GROUP, A),
        Err(UdpError::AddrNotAvailable)
    );
    s.udp_join_multicast(Instant::ZERO, u, ANY_GROUP, A)
        .unwrap();
    run(&mut s, Instant::ZERO, 5_000);
    let now = s.now;
    s.udp_set_source_filter(now, u, ANY_GROUP, A, FilterMode::Include, &[S1])
        .unwrap();
    assert_eq!(
        one_record(&mut s, now),
        rec(RecordType::ChangeToInclude, ANY_GROUP, &[S1])
    );
    assert_eq!(
        s.udp_source_filter(u, ANY_GROUP, A),
        Ok((FilterMode::Include, vec![S1]))
    );
    assert!(reaches(&mut s, u, S1, ANY_GROUP));
    assert!(!reaches(&mut s, u, S2, ANY_GROUP));
    run(&mut s, now, 10_000);
    let now = s.now;
    s.udp_set_source_filter(now, u, ANY_GROUP, A, FilterMode::Exclude, &[S2])
        .unwrap();
    assert_eq!(
        one_record(&mut s, now),
        rec(RecordType::ChangeToExclude, ANY_GROUP, &[S2])
    );
    assert!(reaches(&mut s, u, S1, ANY_GROUP) && !reaches(&mut s, u, S2, ANY_GROUP));
    // INCLUDE({}) leaves the group.
    s.udp_set_source_filter(now, u, ANY_GROUP, A, FilterMode::Include, &[])
        .unwrap();
    assert!(s.multicast_groups(IfaceId(0)).is_empty());
    assert_eq!(
        s.udp_set_source_filter(now, u, ANY_GROUP, A, FilterMode::Include, &[]),
        Err(UdpError::AddrNotAvailable)
    );
}

#[test]
fn sockets_sharing_a_port_each_get_a_groups_datagram_by_their_own_filter() {
    // Several receivers of one group on one port (SO_REUSEADDR, Linux's
    // `__udp4_lib_mcast_deliver`): each takes its copy, by its own source
    // filter, and each is told it is readable.
    let mut s = host(A, 1);
    frames(&mut s, Instant::ZERO);
    let port = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000);
    let mut shared = || {
        let u = s.udp_open();
        s.udp_set_reuse_addr(u, true).unwrap();
        s.udp_bind(u, port).unwrap();
        u
    };
    let (any, ssm) = (shared(), shared());
    s.udp_join_multicast(Instant::ZERO, any, SSM_GROUP, A)
        .unwrap();
    s.udp_membership(
        Instant::ZERO,
        ssm,
        SSM_GROUP,
        A,
        MembershipOp::JoinSource(S1),
    )
    .unwrap();
    while s.poll_event().is_some() {}
    let t = s.now;
    s.handle_frame(t, &to_group_from(S1, SSM_GROUP, IpProtocol::Udp, b"one"));
    let mut readable = Vec::new();
    while let Some(e) = s.poll_event() {
        if let Event::UdpReadable(h) = e {
            readable.push(h);
        }
    }
    assert_eq!(readable.len(), 2, "{readable:?}");
    assert!(readable.contains(&any) && readable.contains(&ssm));
    // From S2: the any-source socket only.
    s.handle_frame(t, &to_group_from(S2, SSM_GROUP, IpProtocol::Udp, b"two"));
    let mut buf = [0u8; 8];
    assert_eq!(s.udp_recv(any, &mut buf), Ok(3));
    assert_eq!(s.udp_recv(any, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"two");
    assert_eq!(s.udp_recv(ssm, &mut buf), Ok(3));
    assert_eq!(s.udp_recv(ssm, &mut buf), Err(UdpError::WouldBlock));
}

#[test]
fn a_sockets_filter_is_the_one_for_the_interface_a_datagram_came_in_on() {
    // Linux's `ip_mc_sf_allow` matches a membership by group and
    // interface: a socket in one group on two interfaces, with a filter on
    // each, takes a datagram by the filter of the interface it arrived on,
    // and a socket not in the group there takes what the interface takes.
    let mut s = host(A, 1);
    let second = Ipv4Addr::new(203, 0, 113, 2);
    let if1 = s.add_interface(Interface::ethernet(mac(3), second, 24));
    frames(&mut s, Instant::ZERO);
    let port = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, super::multicast::PORT);
    let mut shared = || {
        let u = s.udp_open();
        s.udp_set_reuse_addr(u, true).unwrap();
        s.udp_bind(u, port).unwrap();
        u
    };
    let (picky, any) = (shared(), shared());
    // `picky`: only S1 on the first interface, every source on the second.
    let now = Instant::ZERO;
    s.udp_membership(now, picky, ANY_GROUP, A, MembershipOp::JoinSource(S1))
        .unwrap();
    s.udp_join_multicast(now, picky, ANY_GROUP, second).unwrap();
    // `any`: every source, on the first interface only.
    s.udp_join_multicast(now, any, ANY_GROUP, A).unwrap();
    frames(&mut s, now);
    let got = |s: &mut Stack, iface: IfaceId| {
        let frame = to_group_from(S2, ANY_GROUP, IpProtocol::Udp, b"data");
        s.handle_frame_on(now, iface, &frame);
        let mut buf = [0u8; 8];
        let mut took = |u| s.udp_recv(u, &mut buf) == Ok(4);
        (took(picky), took(any))
    };
    // From S2 on the first interface: `picky`'s filter there refuses it
    // (its second interface's would take it).
    assert_eq!(got(&mut s, IfaceId(0)), (false, true));
    // On the second: `picky` takes every source there; `any` did not join
    // there and takes what the interface takes (IP_MULTICAST_ALL).
    assert_eq!(got(&mut s, if1), (true, true));
    // This host's own datagram to the group, sent on the first interface:
    // its looped copy comes back in on that interface (Linux's
    // `dev_loopback_xmit` keeps the device), where `picky` takes only S1.
    let to = SocketAddrV4::new(ANY_GROUP, super::multicast::PORT);
    s.udp_send_to(now, any, to, b"mine").unwrap();
    frames(&mut s, now);
    let mut buf = [0u8; 8];
    assert_eq!(s.udp_recv(any, &mut buf), Ok(4), "the sender's own copy");
    assert_eq!(&buf[..4], b"mine");
    assert_eq!(s.udp_recv(picky, &mut buf), Err(UdpError::WouldBlock));
}

#[test]
fn the_groups_of_one_moment_are_reported_and_left_in_one_report() {
    // RFC 3376 §5.1 with Linux's interface change timer: a closing
    // socket's three groups are left in one report (and its one
    // retransmission), not three.
    let mut s = host(A, 1);
    frames(&mut s, Instant::ZERO);
    let u = bound(&mut s);
    let groups = [1, 2, 3].map(|n| Ipv4Addr::new(239, 7, 7, n));
    for g in groups {
        s.udp_join_multicast(Instant::ZERO, u, g, A).unwrap();
    }
    let records =
        |kind| -> Vec<GroupRecord> { groups.iter().map(|&g| rec(kind, g, &[])).collect() };
    let joins = report(records(RecordType::ChangeToExclude));
    assert_eq!(
        igmp_in(&frames(&mut s, Instant::ZERO)),
        core::slice::from_ref(&joins)
    );
    let again = run(&mut s, Instant::ZERO, 5_000);
    assert_eq!(igmp_in(&[again[0].1.clone()]), [joins]);
    assert_eq!(again.len(), 1, "one retransmission of all three");
    let now = Instant::from_secs(10);
    s.handle_timeout(now);
    s.udp_close(u).unwrap();
    let leaves = report(records(RecordType::ChangeToInclude));
    assert_eq!(
        igmp_in(&frames(&mut s, now)),
        core::slice::from_ref(&leaves)
    );
    let again = run(&mut s, now, 15_000);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(igmp_in(&[again[0].1.clone()]), [leaves]);
    assert_eq!(s.stats().igmp.out_reports, 4);
}
