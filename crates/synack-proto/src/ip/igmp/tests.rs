//! IGMP's tests: version 3 reports, queries and their merges, the older
//! versions' compatibility, and random walks against a model.

use super::*;
use crate::wire::Checksum;
use crate::wire::igmp::v3_query_bytes;

const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
const H: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 9);
const S1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const S2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const S3: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn drain(m: &mut Memberships) -> Vec<Outgoing> {
    core::iter::from_fn(|| m.pop_message()).collect()
}

/// What `m` sends at `now`: a change's report waits for the interface's
/// change timer, due at once.
fn sent_at(m: &mut Memberships, now: Instant, rng: &mut Rng) -> Vec<Outgoing> {
    m.handle_timeout(now, rng);
    drain(m)
}

fn report(version: u8, group: Ipv4Addr) -> Outgoing {
    Outgoing {
        iface: 0,
        dst: group,
        message: Message::Report { version, group },
    }
}

fn leave_group(group: Ipv4Addr) -> Outgoing {
    Outgoing {
        iface: 0,
        dst: ALL_ROUTERS,
        message: Message::Leave { group },
    }
}

fn v3(records: Vec<GroupRecord>) -> Outgoing {
    Outgoing {
        iface: 0,
        dst: ALL_V3_ROUTERS,
        message: Message::V3Report(records),
    }
}

fn rec(kind: RecordType, group: Ipv4Addr, sources: &[Ipv4Addr]) -> GroupRecord {
    record(kind, group, sources.to_vec())
}

fn include(sources: &[Ipv4Addr]) -> SocketFilter<'_> {
    SocketFilter {
        mode: FilterMode::Include,
        sources,
    }
}

fn join(m: &mut Memberships, now: Instant, group: Ipv4Addr, rng: &mut Rng) {
    m.change(now, 0, group, None, Some(SocketFilter::ANY_SOURCE), rng)
        .unwrap();
}

fn leave(m: &mut Memberships, now: Instant, group: Ipv4Addr, rng: &mut Rng) {
    m.change(now, 0, group, Some(SocketFilter::ANY_SOURCE), None, rng)
        .unwrap();
}

/// Runs the timers from `from` to `to` ms, one ms at a time.
fn run(m: &mut Memberships, from: u64, to: u64, rng: &mut Rng) -> Vec<(u64, Outgoing)> {
    let mut sent = Vec::new();
    for ms in from..=to {
        m.handle_timeout(t(ms), rng);
        sent.extend(drain(m).into_iter().map(|o| (ms, o)));
    }
    sent
}

/// A query's bytes as parsed, handed to `m` on interface 0.
fn hear(m: &mut Memberships, now: Instant, dst: Ipv4Addr, bytes: &[u8], rng: &mut Rng) {
    let q = IgmpRepr::parse(bytes, Checksum::Full).unwrap();
    m.handle(now, 0, dst, &q, rng);
}

/// A version 2 (or with 0 tenths version 1) General Query heard at `now`.
fn general_v2(m: &mut Memberships, now: Instant, tenths: u8, rng: &mut Rng) {
    let query = v2_query(tenths, Ipv4Addr::UNSPECIFIED);
    hear(m, now, ALL_HOSTS, &query, rng);
}

fn v2_query(tenths: u8, group: Ipv4Addr) -> [u8; 8] {
    IgmpRepr::Query {
        max_resp_tenths: u16::from(tenths),
        group,
        v3: None,
    }
    .to_bytes()
}

// Version 3 (RFC 3376), the default.

#[test]
fn a_v3_join_and_leave_report_the_mode_change_twice_within_a_second() {
    let mut rng = Rng::from_seed(11);
    let mut m = Memberships::new(0);
    assert_eq!(m.version(0, t(0)), 3);
    join(&mut m, t(0), G, &mut rng);
    let to_ex = v3(vec![rec(RecordType::ChangeToExclude, G, &[])]);
    assert_eq!(
        sent_at(&mut m, t(0), &mut rng),
        core::slice::from_ref(&to_ex)
    );
    assert!(m.is_member(0, G) && m.accepts(0, G, S1, false));
    let again = run(&mut m, 1, 5_000, &mut rng);
    assert_eq!(again.len(), 1, "robustness 2: one retransmission");
    assert!(again[0].0 <= 1_000, "within the 1 s interval");
    assert_eq!(again[0].1, to_ex);
    assert_eq!(m.poll_timeout(), None);
    // Leaving: TO_IN({}) at once and again; nothing is received from
    // the moment it is left, and the group goes once it is said.
    leave(&mut m, t(10_000), G, &mut rng);
    let to_in = v3(vec![rec(RecordType::ChangeToInclude, G, &[])]);
    assert_eq!(
        sent_at(&mut m, t(10_000), &mut rng),
        core::slice::from_ref(&to_in)
    );
    assert!(!m.is_member(0, G) && !m.accepts(0, G, S1, false));
    assert_eq!(m.groups(0).count(), 0);
    let again = run(&mut m, 10_001, 15_000, &mut rng);
    assert_eq!(again.iter().map(|(_, o)| o).collect::<Vec<_>>(), [&to_in]);
    assert!(m.is_empty());
}

#[test]
fn the_changes_of_one_moment_go_in_one_report_and_are_retransmitted_together() {
    // Linux's interface change timer (`igmp_ifc_event`, `igmpv3_send_cr`):
    // every group's pending records in each report.
    let mut rng = Rng::from_seed(19);
    let mut m = Memberships::new(0);
    join(&mut m, t(0), G, &mut rng);
    join(&mut m, t(0), H, &mut rng);
    let joins = v3(vec![
        rec(RecordType::ChangeToExclude, G, &[]),
        rec(RecordType::ChangeToExclude, H, &[]),
    ]);
    assert_eq!(
        sent_at(&mut m, t(0), &mut rng),
        core::slice::from_ref(&joins)
    );
    let again = run(&mut m, 1, 5_000, &mut rng);
    assert_eq!(again.len(), 1, "one retransmission of both: {again:?}");
    assert!(again[0].0 <= 1_000);
    assert_eq!(again[0].1, joins);
    // A change while another is pending: the pending one rides along.
    leave(&mut m, t(10_000), G, &mut rng);
    let to_in_g = rec(RecordType::ChangeToInclude, G, &[]);
    let to_in_h = rec(RecordType::ChangeToInclude, H, &[]);
    assert_eq!(
        sent_at(&mut m, t(10_000), &mut rng),
        [v3(vec![to_in_g.clone()])]
    );
    leave(&mut m, t(10_100), H, &mut rng);
    assert_eq!(
        sent_at(&mut m, t(10_100), &mut rng),
        [v3(vec![to_in_g, to_in_h.clone()])]
    );
    let last = run(&mut m, 10_101, 15_000, &mut rng);
    assert_eq!(
        last.into_iter().map(|(_, o)| o).collect::<Vec<_>>(),
        [v3(vec![to_in_h])]
    );
    assert!(m.is_empty() && m.poll_timeout().is_none());
}

#[test]
fn source_changes_merge_into_the_pending_report() {
    let mut rng = Rng::from_seed(12);
    let mut m = Memberships::new(0);
    // A source-specific join: INCLUDE({}) -> INCLUDE({S1}) is ALLOW(S1).
    m.change(t(0), 0, G, None, Some(include(&[S1])), &mut rng)
        .unwrap();
    assert_eq!(
        sent_at(&mut m, t(0), &mut rng),
        [v3(vec![rec(RecordType::AllowNewSources, G, &[S1])])]
    );
    assert!(m.accepts(0, G, S1, false) && !m.accepts(0, G, S2, false));
    assert!(m.accepts(0, G, S2, true), "IGMP itself is taken");
    // Before the retransmission, S2 too: the pending report now allows
    // both, and is sent again twice.
    m.change(
        t(1),
        0,
        G,
        Some(include(&[S1])),
        Some(include(&[S1, S2])),
        &mut rng,
    )
    .unwrap();
    let both = v3(vec![rec(RecordType::AllowNewSources, G, &[S1, S2])]);
    assert_eq!(
        sent_at(&mut m, t(1), &mut rng),
        core::slice::from_ref(&both)
    );
    // Then S1 goes: S2 still to be allowed, S1 blocked.
    m.change(
        t(2),
        0,
        G,
        Some(include(&[S1, S2])),
        Some(include(&[S2])),
        &mut rng,
    )
    .unwrap();
    let mixed = v3(vec![
        rec(RecordType::AllowNewSources, G, &[S2]),
        rec(RecordType::BlockOldSources, G, &[S1]),
    ]);
    assert_eq!(
        sent_at(&mut m, t(2), &mut rng),
        core::slice::from_ref(&mixed)
    );
    let again = run(&mut m, 3, 5_000, &mut rng);
    assert_eq!(again.iter().map(|(_, o)| o).collect::<Vec<_>>(), [&mixed]);
    // A second socket joins for every source: the interface turns to
    // EXCLUDE({}), a mode change, reported with the whole state.
    join(&mut m, t(6_000), G, &mut rng);
    assert_eq!(
        sent_at(&mut m, t(6_000), &mut rng),
        [v3(vec![rec(RecordType::ChangeToExclude, G, &[])])]
    );
    assert_eq!(
        m.filter(0, G),
        Some(InterfaceFilter {
            mode: FilterMode::Exclude,
            sources: vec![]
        })
    );
}

#[test]
fn a_v3_general_query_is_answered_with_every_groups_current_state() {
    let mut rng = Rng::from_seed(13);
    let mut m = Memberships::new(0);
    join(&mut m, t(0), G, &mut rng);
    m.change(t(0), 0, H, None, Some(include(&[S1, S2])), &mut rng)
        .unwrap();
    run(&mut m, 0, 5_000, &mut rng);
    // Max Resp Code 50: 5 s; QRV 2, QQIC 125.
    let q = v3_query_bytes(50, Ipv4Addr::UNSPECIFIED, 2, 125, &[]);
    hear(&mut m, t(10_000), ALL_HOSTS, &q, &mut rng);
    let sent = run(&mut m, 10_000, 20_000, &mut rng);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].0 > 10_000 && sent[0].0 <= 15_000);
    assert_eq!(
        sent[0].1,
        v3(vec![
            rec(RecordType::ModeIsExclude, G, &[]),
            rec(RecordType::ModeIsInclude, H, &[S1, S2]),
        ])
    );
    // Rule 1: a group query while a sooner general answer is pending
    // adds nothing.
    hear(&mut m, t(30_000), ALL_HOSTS, &q, &mut rng);
    let due = m.poll_timeout().unwrap();
    let long = v3_query_bytes(250, G, 2, 125, &[]);
    hear(&mut m, t(30_000), G, &long, &mut rng);
    assert_eq!(m.poll_timeout(), Some(due));
    assert_eq!(run(&mut m, 30_000, 60_000, &mut rng).len(), 1);
}

#[test]
fn a_group_and_source_query_is_answered_for_the_sources_received() {
    let mut rng = Rng::from_seed(14);
    let mut m = Memberships::new(0);
    m.change(t(0), 0, G, None, Some(include(&[S1, S2])), &mut rng)
        .unwrap();
    join(&mut m, t(0), H, &mut rng);
    m.change(
        t(0),
        0,
        H,
        Some(SocketFilter::ANY_SOURCE),
        Some(SocketFilter {
            mode: FilterMode::Exclude,
            sources: &[S1],
        }),
        &mut rng,
    )
    .unwrap();
    run(&mut m, 0, 5_000, &mut rng);
    // INCLUDE({S1, S2}) asked about {S2, S3}: IS_IN({S2}).
    let q = v3_query_bytes(10, G, 2, 125, &[S2, S3]);
    hear(&mut m, t(10_000), G, &q, &mut rng);
    // EXCLUDE({S1}) asked about {S1, S3}: IS_IN({S3}).
    let q = v3_query_bytes(10, H, 2, 125, &[S1, S3]);
    hear(&mut m, t(10_000), H, &q, &mut rng);
    let mut sent: Vec<_> = run(&mut m, 10_000, 12_000, &mut rng)
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    sent.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        sent,
        [
            v3(vec![rec(RecordType::ModeIsInclude, G, &[S2])]),
            v3(vec![rec(RecordType::ModeIsInclude, H, &[S3])]),
        ]
    );
    // About sources it does not receive: no answer at all.
    let q = v3_query_bytes(10, H, 2, 125, &[S1]);
    hear(&mut m, t(20_000), H, &q, &mut rng);
    assert!(run(&mut m, 20_000, 22_000, &mut rng).is_empty());
    // Rules 4 and 5: two source queries merge; a group query after one
    // asks for the whole group.
    let q1 = v3_query_bytes(100, G, 2, 125, &[S1]);
    let q2 = v3_query_bytes(100, G, 2, 125, &[S2]);
    hear(&mut m, t(30_000), G, &q1, &mut rng);
    hear(&mut m, t(30_000), G, &q2, &mut rng);
    let sent = run(&mut m, 30_000, 41_000, &mut rng);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].1,
        v3(vec![rec(RecordType::ModeIsInclude, G, &[S1, S2])])
    );
    hear(&mut m, t(50_000), G, &q1, &mut rng);
    hear(
        &mut m,
        t(50_000),
        G,
        &v3_query_bytes(100, G, 2, 125, &[]),
        &mut rng,
    );
    let sent = run(&mut m, 50_000, 61_000, &mut rng);
    assert_eq!(
        sent.into_iter().map(|(_, o)| o).collect::<Vec<_>>(),
        [v3(vec![rec(RecordType::ModeIsInclude, G, &[S1, S2])])]
    );
}

#[test]
fn the_queriers_robustness_sets_how_often_a_change_is_sent() {
    let mut rng = Rng::from_seed(15);
    let mut m = Memberships::new(0);
    let q = v3_query_bytes(10, Ipv4Addr::UNSPECIFIED, 4, 60, &[]);
    hear(&mut m, t(0), ALL_HOSTS, &q, &mut rng);
    assert!(
        run(&mut m, 0, 2_000, &mut rng).is_empty(),
        "no group to report"
    );
    join(&mut m, t(3_000), G, &mut rng);
    let first = sent_at(&mut m, t(3_000), &mut rng);
    let later = run(&mut m, 3_001, 10_000, &mut rng);
    assert_eq!(first.len() + later.len(), 4, "QRV 4: four in all");
    // Another host's report does not silence a version 3 host.
    join(&mut m, t(20_000), H, &mut rng);
    sent_at(&mut m, t(20_000), &mut rng);
    let theirs = IgmpRepr::Report {
        version: 2,
        group: H,
    };
    m.handle(t(20_001), 0, H, &theirs, &mut rng);
    assert_eq!(run(&mut m, 20_001, 30_000, &mut rng).len(), 3);
}

#[test]
fn an_older_querier_puts_the_interface_in_its_version_until_the_timeout() {
    let mut rng = Rng::from_seed(16);
    let mut m = Memberships::new(0);
    join(&mut m, t(0), G, &mut rng);
    sent_at(&mut m, t(0), &mut rng);
    assert!(m.poll_timeout().is_some(), "a retransmission pending");
    // A version 2 query: version 2, the retransmission cancelled, a
    // version 2 report within the query's time.
    general_v2(&mut m, t(1), 20, &mut rng);
    assert_eq!(m.version(0, t(1)), 2);
    let sent = run(&mut m, 1, 5_000, &mut rng);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0 <= 2_001);
    assert_eq!(sent[0].1, report(2, G));
    // [Robustness] 2 x [Query Interval] 125 s + 2 s: version 3 again.
    assert_eq!(m.version(0, t(252_000)), 2);
    assert_eq!(m.version(0, t(252_001)), 3);
    // A version 3 query in version 2 is answered as version 2.
    hear(
        &mut m,
        t(10_000),
        ALL_HOSTS,
        &v3_query_bytes(10, Ipv4Addr::UNSPECIFIED, 2, 125, &[]),
        &mut rng,
    );
    let sent = run(&mut m, 10_000, 12_000, &mut rng);
    assert_eq!(
        sent.into_iter().map(|(_, o)| o).collect::<Vec<_>>(),
        [report(2, G)]
    );
    // Leaving in version 2: a Leave Group, no retransmission.
    leave(&mut m, t(20_000), G, &mut rng);
    assert_eq!(drain(&mut m), [leave_group(G)]);
    assert!(m.is_empty());
    // After the timeout a join is version 3 again.
    join(&mut m, t(300_000), G, &mut rng);
    assert_eq!(
        sent_at(&mut m, t(300_000), &mut rng),
        [v3(vec![rec(RecordType::ChangeToExclude, G, &[])])]
    );
}

#[test]
fn a_group_being_left_answers_no_query_and_a_v1_querier_gets_v1_joins() {
    let mut rng = Rng::from_seed(17);
    let mut m = Memberships::new(0);
    join(&mut m, t(0), G, &mut rng);
    run(&mut m, 0, 5_000, &mut rng);
    // Left: its TO_IN({}) is still being retransmitted, but the
    // interface holds no state for a query to ask about.
    leave(&mut m, t(10_000), G, &mut rng);
    sent_at(&mut m, t(10_000), &mut rng);
    let q = v3_query_bytes(10, G, 2, 125, &[]);
    hear(&mut m, t(10_000), G, &q, &mut rng);
    let sent = run(&mut m, 10_000, 20_000, &mut rng);
    let to_in = v3(vec![rec(RecordType::ChangeToInclude, G, &[])]);
    assert_eq!(
        sent.into_iter().map(|(_, o)| o).collect::<Vec<_>>(),
        [to_in]
    );
    assert!(m.is_empty());
    // A version 1 querier: a join is a version 1 report, repeated.
    general_v2(&mut m, t(30_000), 0, &mut rng);
    join(&mut m, t(30_000), H, &mut rng);
    assert_eq!(drain(&mut m), [report(1, H)]);
    assert_eq!(run(&mut m, 30_001, 41_000, &mut rng).len(), 1);
}

/// RFC 3376 §3.2's merge of `filters`, as the test's model: the mode
/// and sources of the interface, or `None` if no socket holds a filter.
fn model_state(filters: &[Option<(FilterMode, Vec<Ipv4Addr>)>]) -> Option<InterfaceFilter> {
    let held: Vec<_> = filters.iter().flatten().collect();
    if held.is_empty() {
        return None;
    }
    let universe = [S1, S2, S3];
    let excl: Vec<_> = held.iter().filter(|f| f.0 == FilterMode::Exclude).collect();
    let incl: Vec<_> = held.iter().filter(|f| f.0 == FilterMode::Include).collect();
    let sources: Vec<Ipv4Addr> = if excl.is_empty() {
        universe
            .into_iter()
            .filter(|s| incl.iter().any(|f| f.1.contains(s)))
            .collect()
    } else {
        universe
            .into_iter()
            .filter(|s| excl.iter().all(|f| f.1.contains(s)))
            .filter(|s| !incl.iter().any(|f| f.1.contains(s)))
            .collect()
    };
    let mode = if excl.is_empty() {
        FilterMode::Include
    } else {
        FilterMode::Exclude
    };
    Some(InterfaceFilter { mode, sources })
}

fn view(f: &Option<(FilterMode, Vec<Ipv4Addr>)>) -> Option<SocketFilter<'_>> {
    f.as_ref().map(|(mode, sources)| SocketFilter {
        mode: *mode,
        sources,
    })
}

#[test]
fn random_walks_keep_the_filter_the_model_and_no_timer_behind() {
    // Four sockets change their filters of one group at random while
    // queries of every version and other hosts' reports come and time
    // runs: the interface's filter is always RFC 3376 §3.2's merge of
    // the sockets', every message goes where it should, and no timer
    // is left due (a timer that handling does not clear would keep a
    // stack's deadline in the past).
    for seed in 0..40 {
        let mut rng = Rng::from_seed(seed);
        let mut walk = Rng::from_seed(1000 + seed);
        let mut m = Memberships::new(0);
        let mut sockets: Vec<Option<(FilterMode, Vec<Ipv4Addr>)>> = vec![None; 4];
        let mut now = 0u64;
        let pick = |walk: &mut Rng| -> Vec<Ipv4Addr> {
            [S1, S2, S3]
                .into_iter()
                .filter(|_| walk.below(2) == 0)
                .collect()
        };
        for step in 0..300 {
            match walk.below(6) {
                0 | 1 => {
                    let i = walk.below(4) as usize;
                    let new = match walk.below(3) {
                        0 => None,
                        1 => Some((FilterMode::Exclude, pick(&mut walk))),
                        _ => {
                            Some((FilterMode::Include, pick(&mut walk))).filter(|f| !f.1.is_empty())
                        }
                    };
                    m.change(t(now), 0, G, view(&sockets[i]), view(&new), &mut rng)
                        .unwrap();
                    sockets[i] = new;
                }
                2 => {
                    let bytes = match walk.below(5) {
                        0 => v2_query(0, Ipv4Addr::UNSPECIFIED).to_vec(),
                        1 => v2_query(20, G).to_vec(),
                        2 => v3_query_bytes(30, Ipv4Addr::UNSPECIFIED, 2, 20, &[]),
                        3 => v3_query_bytes(10, G, 3, 20, &[]),
                        _ => v3_query_bytes(10, G, 0, 0, &pick(&mut walk)),
                    };
                    let dst = if bytes[4..8] == [0; 4] { ALL_HOSTS } else { G };
                    hear(&mut m, t(now), dst, &bytes, &mut rng);
                }
                3 => {
                    let theirs = IgmpRepr::Report {
                        version: 2,
                        group: G,
                    };
                    m.handle(t(now), 0, G, &theirs, &mut rng);
                }
                _ => {
                    let until = now + walk.below(3_000);
                    while let Some(due) = m.poll_timeout().filter(|d| *d <= t(until)) {
                        let at = due.max(t(now));
                        m.handle_timeout(at, &mut rng);
                        assert!(
                            m.poll_timeout().is_none_or(|d| d > at),
                            "seed {seed} step {step}: a timer left due at {at:?}"
                        );
                        now = at.total_millis();
                    }
                    now = until;
                    m.handle_timeout(t(now), &mut rng);
                }
            }
            for out in drain(&mut m) {
                let ok = match &out.message {
                    Message::V3Report(records) => {
                        out.dst == ALL_V3_ROUTERS && records.iter().all(|r| r.group == G)
                    }
                    Message::Report { group, .. } => out.dst == G && *group == G,
                    Message::Leave { group } => out.dst == ALL_ROUTERS && *group == G,
                };
                assert!(ok, "seed {seed} step {step}: {out:?}");
            }
            let model = model_state(&sockets).filter(InterfaceFilter::has_state);
            assert_eq!(
                m.filter(0, G),
                model,
                "seed {seed} step {step}: {sockets:?}"
            );
            for s in [S1, S2, S3, Ipv4Addr::new(203, 0, 113, 1)] {
                let want = model
                    .as_ref()
                    .is_some_and(|f| (f.mode == FilterMode::Include) == f.sources.contains(&s));
                assert_eq!(m.accepts(0, G, s, false), want, "seed {seed} step {step}");
            }
            if m.is_empty() {
                assert_eq!(m.poll_timeout(), None, "seed {seed} step {step}");
            }
        }
    }
}

// Version 2 (RFC 2236), with `force_igmp_version` 2 or a v1 router.

/// A version 2 host that joined G at 0 and has sent both its reports.
fn settled_v2(seed: u64) -> (Memberships, Rng) {
    let mut rng = Rng::from_seed(seed);
    let mut m = Memberships::new(2);
    join(&mut m, t(0), G, &mut rng);
    run(&mut m, 0, 10_000, &mut rng);
    (m, rng)
}

#[test]
fn a_join_reports_at_once_and_once_more_within_ten_seconds() {
    let mut rng = Rng::from_seed(1);
    let mut m = Memberships::new(2);
    join(&mut m, t(0), G, &mut rng);
    assert_eq!(drain(&mut m), [report(2, G)]);
    assert!(m.is_member(0, G) && !m.is_member(1, G) && m.is_member(1, ALL_HOSTS));
    let due = m.poll_timeout().unwrap();
    assert!(due > t(0) && due <= t(10_000), "{due:?}");
    let sent = run(&mut m, 1, 20_000, &mut rng);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, report(2, G));
    assert_eq!(m.poll_timeout(), None, "idle after the repeat");
    // A second socket's join says nothing; leaving needs both to go.
    join(&mut m, t(20_000), G, &mut rng);
    assert!(drain(&mut m).is_empty());
    leave(&mut m, t(20_000), G, &mut rng);
    assert!(drain(&mut m).is_empty() && m.is_member(0, G));
    leave(&mut m, t(20_000), G, &mut rng);
    assert_eq!(drain(&mut m), [leave_group(G)]);
    assert!(!m.is_member(0, G));
    // The all-hosts group: counted, never reported or left aloud.
    join(&mut m, t(0), ALL_HOSTS, &mut rng);
    general_v2(&mut m, t(30_000), 10, &mut rng);
    assert!(run(&mut m, 30_000, 32_000, &mut rng).is_empty());
    leave(&mut m, t(32_000), ALL_HOSTS, &mut rng);
    assert!(drain(&mut m).is_empty());
    assert!(m.is_member(0, ALL_HOSTS), "always");
    assert_eq!(
        m.change(
            t(0),
            0,
            Ipv4Addr::new(10, 0, 0, 1),
            None,
            Some(SocketFilter::ANY_SOURCE),
            &mut rng
        ),
        Err(JoinError::NotAGroup)
    );
}

#[test]
fn a_query_draws_a_report_within_its_max_response_time() {
    let mut rng = Rng::from_seed(2);
    let mut m = Memberships::new(2);
    join(&mut m, t(0), G, &mut rng);
    join(&mut m, t(0), H, &mut rng);
    run(&mut m, 0, 10_000, &mut rng);
    // General query, 2 s: both groups, each within 2 s.
    general_v2(&mut m, t(20_000), 20, &mut rng);
    let sent = run(&mut m, 20_000, 25_000, &mut rng);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|&(ms, _)| ms > 20_000 && ms <= 22_000));
    // Group-specific: only that group.
    hear(&mut m, t(30_000), H, &v2_query(10, H), &mut rng);
    let sent = run(&mut m, 30_000, 32_000, &mut rng);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, report(2, H));
    // A query on another interface, or to a group address not its own,
    // starts nothing.
    let bytes = v2_query(10, H);
    let q = IgmpRepr::parse(&bytes, Checksum::Full).unwrap();
    m.handle(t(40_000), 1, ALL_HOSTS, &q, &mut rng);
    m.handle(t(40_000), 0, G, &q, &mut rng);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn another_members_report_cancels_ours_and_then_leaving_is_silent() {
    let mut rng = Rng::from_seed(3);
    let mut m = Memberships::new(2);
    join(&mut m, t(0), G, &mut rng);
    drain(&mut m);
    general_v2(&mut m, t(0), 100, &mut rng);
    let theirs = IgmpRepr::Report {
        version: 2,
        group: G,
    };
    m.handle(t(1), 0, G, &theirs, &mut rng);
    assert_eq!(m.poll_timeout(), None);
    assert!(run(&mut m, 1, 20_000, &mut rng).is_empty());
    // Not the last reporter: no Leave Group.
    leave(&mut m, t(20_000), G, &mut rng);
    assert!(drain(&mut m).is_empty());
}

#[test]
fn a_version_1_router_gets_version_1_reports_and_no_leaves() {
    let (mut m, mut rng) = settled_v2(4);
    general_v2(&mut m, t(20_000), 0, &mut rng);
    assert_eq!(m.version(0, t(20_000)), 1);
    let sent = run(&mut m, 20_000, 31_000, &mut rng);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0 <= 30_000, "within 10 s");
    assert_eq!(sent[0].1, report(1, G));
    leave(&mut m, t(31_000), G, &mut rng);
    assert!(drain(&mut m).is_empty(), "no leave with a v1 router");
    // 2 x 125 s + 10 s on, version 2 again (forced to 2, not 3).
    assert_eq!(m.version(0, t(280_001)), 2);
    join(&mut m, t(500_000), G, &mut rng);
    assert_eq!(drain(&mut m), [report(2, G)]);
}

#[test]
fn a_query_asking_sooner_moves_a_timer_earlier_only() {
    let (mut m, mut rng) = settled_v2(5);
    general_v2(&mut m, t(20_000), 10, &mut rng);
    let due = m.poll_timeout().unwrap();
    // A longer one leaves it.
    general_v2(&mut m, t(20_000), 250, &mut rng);
    assert_eq!(m.poll_timeout(), Some(due));
    assert!(due <= t(21_000));
}
