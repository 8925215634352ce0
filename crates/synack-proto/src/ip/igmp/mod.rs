//! The host's multicast group memberships and its side of IGMP: which
//! groups (and sources) each interface receives, and when to say so.
//!
//! Read first: RFC 1112 §4 and §7.2 (a host joins groups per interface;
//! the all-hosts group 224.0.0.1 is joined by every interface and never
//! reported), RFC 3376 (IGMPv3, the version a host speaks unless a router
//! of an older one is heard): §3 (socket and interface filter state,
//! `filter`), §5.1 (a change of the interface's state is reported at once
//! and [Robustness Variable] - 1 more times, each within the Unsolicited
//! Report Interval of 1 s), §5.2 (a query's answer: the interface timer for
//! a General Query, the group timer and its recorded sources for the
//! others, the five rules that merge them), §7.2.1 (Host Compatibility
//! Mode: a version 1 or 2 query puts the interface in that version for the
//! Older Version Querier Present Timeout, §8.12, and cancels what version
//! 3 had pending), §8 (the defaults). In version 1 or 2 the host is the
//! RFC 2236 one: §3 (an unsolicited report on joining, repeated once; a
//! report at a random time within a query's Max Response Time; a report
//! heard from another member cancels ours; a Leave Group from the last
//! host to report), §6 (Non-Member, Delaying Member, Idle Member), §4 (a
//! version 1 router: version 1 reports and no leaves), §8.10 (Unsolicited
//! Report Interval 10 s).
//!
//! Sans-IO: every call takes `now`; messages to send are queued for the
//! stack ([`Memberships::pop_message`]), which writes them with TTL 1 and
//! the Router Alert option. Random delays come from the stack's seeded
//! generator. `force_igmp_version` (as Linux's) pins version 1 or 2.

mod filter;
mod socket;

use core::net::Ipv4Addr;
use std::collections::VecDeque;

use filter::{Delta, Filters};
pub use filter::{FilterMode, InterfaceFilter, SocketFilter};
pub use socket::{MAX_SOURCES, Membership, MembershipError, MembershipOp, Plan, SocketMemberships};

use crate::rng::Rng;
use crate::time::{Duration, Instant};
use crate::wire::igmp::{GroupRecord, IgmpRepr, RecordType, V3Query};

/// RFC 2236 §8.10: the Unsolicited Report Interval of versions 1 and 2, the
/// most the repeat of a join's report waits.
pub const UNSOLICITED_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// RFC 3376 §8.11: version 3's Unsolicited Report Interval, the most each
/// retransmission of a state-change report waits.
pub const V3_UNSOLICITED_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// RFC 3376 §8.1: the Robustness Variable until a querier says otherwise.
pub const DEFAULT_ROBUSTNESS: u8 = 2;

/// RFC 3376 §8.2: the Query Interval until a querier says otherwise.
pub const DEFAULT_QUERY_INTERVAL: Duration = Duration::from_secs(125);

/// RFC 2236 §4: a version 1 query's Max Response Time (it has none).
const V1_MAX_RESPONSE: Duration = Duration::from_secs(10);

/// The all-hosts group (RFC 1112 §4): every interface is a member, and
/// reports for it are never sent.
pub const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

/// The all-routers group (RFC 2236 §3): where a Leave Group goes.
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);

/// All IGMPv3-capable multicast routers (RFC 3376 §4.2.14): where a version
/// 3 report goes.
pub const ALL_V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

/// Most groups joined at once, over every interface (Linux's
/// `igmp_max_memberships` is 20 per socket; this bounds the host).
pub const MAX_GROUPS: usize = 1024;

/// A message the stack should send on `iface` to `dst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub iface: usize,
    pub dst: Ipv4Addr,
    pub message: Message,
}

/// What the host sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A version 1 or 2 Membership Report.
    Report { version: u8, group: Ipv4Addr },
    /// A version 2 Leave Group.
    Leave { group: Ipv4Addr },
    /// A version 3 Membership Report with these records (the stack splits
    /// it to fit the link).
    V3Report(Vec<GroupRecord>),
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// Not a multicast address.
    NotAGroup,
    /// [`MAX_GROUPS`] reached.
    TooMany,
}

/// A report the group owes: in version 1 or 2 the Delaying Member state
/// (RFC 2236 §6); in version 3 the answer to a Group-Specific query
/// (`sources` empty) or a Group-and-Source-Specific one (RFC 3376 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Response {
    due: Instant,
    sources: Vec<Ipv4Addr>,
}

/// A version 3 state change still to be retransmitted (RFC 3376 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    /// Transmissions left.
    left: u8,
    due: Instant,
    /// The filter mode changed: each transmission is a Filter-Mode-Change
    /// record of the state then current.
    mode: bool,
    /// Otherwise the sources allowed and blocked since the report began.
    allow: Vec<Ipv4Addr>,
    block: Vec<Ipv4Addr>,
}

#[derive(Debug, Clone)]
struct Group {
    iface: usize,
    addr: Ipv4Addr,
    filters: Filters,
    response: Option<Response>,
    change: Option<Change>,
    /// Versions 1 and 2: we sent the last report for it (RFC 2236 §6: the
    /// flag that decides whether leaving sends a Leave Group).
    last_reporter: bool,
}

impl Group {
    /// A group no socket holds stays only while its leave is retransmitted.
    fn is_spent(&self) -> bool {
        self.filters.users() == 0 && self.change.is_none()
    }
}

/// A query as the interface answers it: when, where, for which group (a
/// General Query: all), and within how long.
#[derive(Debug, Clone, Copy)]
struct Asked {
    now: Instant,
    iface: usize,
    general: bool,
    group: Ipv4Addr,
    max: Duration,
}

/// One interface's querier state.
#[derive(Debug, Clone, Copy)]
struct Iface {
    /// RFC 3376 §7.2.1: an older version's querier was heard, until then.
    v1_until: Option<Instant>,
    v2_until: Option<Instant>,
    /// RFC 3376 §8.1, §8.2: as the last version 3 query said.
    robustness: u8,
    query_interval: Duration,
    /// RFC 3376 §5.2: the answer to a General Query is due (the interface
    /// timer).
    general_due: Option<Instant>,
}

impl Default for Iface {
    fn default() -> Iface {
        Iface {
            v1_until: None,
            v2_until: None,
            robustness: DEFAULT_ROBUSTNESS,
            query_interval: DEFAULT_QUERY_INTERVAL,
            general_due: None,
        }
    }
}

/// Every interface's groups, and the messages they have to send.
#[derive(Debug, Default)]
pub struct Memberships {
    groups: Vec<Group>,
    ifaces: Vec<Iface>,
    out: VecDeque<Outgoing>,
    /// `force_igmp_version`: 0 speaks version 3 and falls back; 1 or 2
    /// speaks that version at most.
    forced: u8,
}

impl Memberships {
    /// Memberships speaking at most version `force_igmp_version` (0: version
    /// 3, as Linux's default).
    pub fn new(force_igmp_version: u8) -> Memberships {
        Memberships {
            forced: force_igmp_version,
            ..Memberships::default()
        }
    }

    /// Whether no group is held (nothing to receive but 224.0.0.1) and no
    /// timer runs.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.ifaces.iter().all(|i| i.general_due.is_none())
    }

    /// Whether `iface` receives datagrams for `group` from some source.
    pub fn is_member(&self, iface: usize, group: Ipv4Addr) -> bool {
        group == ALL_HOSTS
            || self
                .find(iface, group)
                .is_some_and(|i| self.groups[i].filters.has_state())
    }

    /// Whether `iface` takes a datagram to `group` from `src`: the
    /// interface's filter lets the source in (RFC 3376 §3.2; Linux
    /// `ip_check_mc_rcu`). IGMP itself is taken for any group held.
    pub fn accepts(&self, iface: usize, group: Ipv4Addr, src: Ipv4Addr, igmp: bool) -> bool {
        if group == ALL_HOSTS {
            return true;
        }
        let Some(i) = self.find(iface, group) else {
            return false;
        };
        let f = &self.groups[i].filters;
        f.users() > 0 && (igmp || f.allows(src))
    }

    /// Groups held on `iface`, with how many sockets hold each.
    pub fn groups(&self, iface: usize) -> impl Iterator<Item = (Ipv4Addr, u32)> + '_ {
        self.groups
            .iter()
            .filter(move |g| g.iface == iface && g.filters.users() > 0)
            .map(|g| (g.addr, g.filters.users()))
    }

    /// The interface's filter for `group` (Linux `/proc/net/mcfilter`), if
    /// it holds the group.
    pub fn filter(&self, iface: usize, group: Ipv4Addr) -> Option<InterfaceFilter> {
        let g = &self.groups[self.find(iface, group)?];
        (g.filters.users() > 0).then(|| g.filters.state())
    }

    /// The IGMP version `iface` speaks now (RFC 3376 §7.2.1's Host
    /// Compatibility Mode).
    pub fn version(&self, iface: usize, now: Instant) -> u8 {
        let i = self.ifaces.get(iface).copied().unwrap_or_default();
        let seen = |until: Option<Instant>| until.is_some_and(|u| now < u);
        if self.forced == 1 || seen(i.v1_until) {
            1
        } else if self.forced == 2 || seen(i.v2_until) {
            2
        } else {
            3
        }
    }

    fn find(&self, iface: usize, group: Ipv4Addr) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.iface == iface && g.addr == group)
    }

    fn iface_mut(&mut self, iface: usize) -> &mut Iface {
        if self.ifaces.len() <= iface {
            self.ifaces.resize(iface + 1, Iface::default());
        }
        &mut self.ifaces[iface]
    }

    fn robustness(&self, iface: usize) -> u8 {
        self.ifaces
            .get(iface)
            .map_or(DEFAULT_ROBUSTNESS, |i| i.robustness)
    }

    fn legacy_report(&self, iface: usize, group: Ipv4Addr, now: Instant) -> Outgoing {
        let version = self.version(iface, now).min(2);
        Outgoing {
            iface,
            dst: group,
            message: Message::Report { version, group },
        }
    }

    fn v3_report(&mut self, iface: usize, records: Vec<GroupRecord>) {
        if !records.is_empty() {
            self.out.push_back(Outgoing {
                iface,
                dst: ALL_V3_ROUTERS,
                message: Message::V3Report(records),
            });
        }
    }

    /// A socket's filter for `group` on `iface` goes from `old` to `new`
    /// (`None`: it holds no filter; a join is `None` to
    /// [`SocketFilter::ANY_SOURCE`] or to INCLUDE of its sources, a leave
    /// the reverse). A change of the interface's state is reported: in
    /// version 3 at once and again within the Unsolicited Report Interval
    /// (RFC 3376 §5.1); in version 1 or 2 the first member's join reports
    /// and repeats within 10 s, and the last one's leave sends a Leave
    /// Group if we reported last and no version 1 router is present (RFC
    /// 2236 §3). The all-hosts group is counted and never reported.
    pub fn change(
        &mut self,
        now: Instant,
        iface: usize,
        group: Ipv4Addr,
        old: Option<SocketFilter<'_>>,
        new: Option<SocketFilter<'_>>,
        rng: &mut Rng,
    ) -> Result<(), JoinError> {
        if !group.is_multicast() {
            return Err(JoinError::NotAGroup);
        }
        let i = match self.find(iface, group) {
            Some(i) => i,
            None if old.is_none() && new.is_none() => return Ok(()),
            None if self.groups.len() >= MAX_GROUPS => return Err(JoinError::TooMany),
            None => {
                self.groups.push(Group {
                    iface,
                    addr: group,
                    filters: Filters::default(),
                    response: None,
                    change: None,
                    last_reporter: false,
                });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[i];
        let before = g.filters.state();
        if let Some(f) = old {
            g.filters.remove(f);
        }
        if let Some(f) = new {
            g.filters.add(f);
        }
        let after = g.filters.state();
        if group != ALL_HOSTS {
            match self.version(iface, now) {
                3 => self.state_changed(i, now, &before, &after, rng),
                _ => self.legacy_changed(i, now, before.has_state(), after.has_state(), rng),
            }
        }
        if self.groups[i].is_spent() {
            self.groups.swap_remove(i);
        }
        Ok(())
    }

    /// RFC 3376 §5.1: the change goes into the group's pending report (a
    /// new mode replaces any source changes; new source changes are added
    /// to those not yet retransmitted enough), which is sent now and
    /// [Robustness Variable] - 1 more times.
    fn state_changed(
        &mut self,
        i: usize,
        now: Instant,
        before: &InterfaceFilter,
        after: &InterfaceFilter,
        rng: &mut Rng,
    ) {
        let robustness = self.robustness(self.groups[i].iface);
        let g = &mut self.groups[i];
        let delta = filter::delta(before, after);
        if delta == Delta::Unchanged {
            return;
        }
        let c = g.change.get_or_insert(Change {
            left: 0,
            due: now,
            mode: false,
            allow: Vec::new(),
            block: Vec::new(),
        });
        match delta {
            Delta::Mode => {
                c.mode = true;
                c.allow.clear();
                c.block.clear();
            }
            Delta::Sources { allow, block } if !c.mode => {
                c.block.retain(|s| !allow.contains(s));
                c.allow.retain(|s| !block.contains(s));
                c.allow.extend(filter::minus(&allow, &c.allow));
                c.block.extend(filter::minus(&block, &c.block));
            }
            // A mode change pending reports the whole state each time.
            Delta::Sources { .. } | Delta::Unchanged => {}
        }
        c.left = robustness.max(1);
        c.due = now;
        self.send_change(i, now, rng);
    }

    /// Sends group `i`'s pending state-change records and schedules the
    /// next retransmission, if any is left.
    fn send_change(&mut self, i: usize, now: Instant, rng: &mut Rng) {
        let g = &mut self.groups[i];
        let Some(c) = g.change.as_mut() else {
            return;
        };
        let mut records = Vec::new();
        if c.mode {
            let state = g.filters.state();
            let kind = match state.mode {
                FilterMode::Include => RecordType::ChangeToInclude,
                FilterMode::Exclude => RecordType::ChangeToExclude,
            };
            records.push(record(kind, g.addr, state.sources));
        } else {
            if !c.allow.is_empty() {
                records.push(record(RecordType::AllowNewSources, g.addr, c.allow.clone()));
            }
            if !c.block.is_empty() {
                records.push(record(RecordType::BlockOldSources, g.addr, c.block.clone()));
            }
        }
        c.left -= 1;
        if c.left == 0 {
            g.change = None;
        } else {
            c.due = now + random_delay(rng, V3_UNSOLICITED_REPORT_INTERVAL);
        }
        let iface = g.iface;
        self.v3_report(iface, records);
    }

    /// RFC 2236 §3 in version 1 or 2: only joining and leaving are heard.
    fn legacy_changed(&mut self, i: usize, now: Instant, was: bool, is: bool, rng: &mut Rng) {
        let (iface, group) = (self.groups[i].iface, self.groups[i].addr);
        if !was && is {
            let report = self.legacy_report(iface, group, now);
            self.out.push_back(report);
            let g = &mut self.groups[i];
            g.response = Some(Response {
                due: now + random_delay(rng, UNSOLICITED_REPORT_INTERVAL),
                sources: Vec::new(),
            });
            g.last_reporter = true;
        } else if was && !is {
            let g = &mut self.groups[i];
            g.response = None;
            if g.last_reporter && self.version(iface, now) == 2 {
                self.out.push_back(Outgoing {
                    iface,
                    dst: ALL_ROUTERS,
                    message: Message::Leave { group },
                });
            }
        }
    }

    /// An IGMP message heard on `iface` (sent to `dst`).
    pub fn handle(
        &mut self,
        now: Instant,
        iface: usize,
        dst: Ipv4Addr,
        message: &IgmpRepr<'_>,
        rng: &mut Rng,
    ) {
        match *message {
            IgmpRepr::Query {
                max_resp_tenths,
                group,
                v3,
            } => self.on_query(now, iface, dst, max_resp_tenths, group, v3, rng),
            // RFC 2236 §3: "If the host receives another host's Report
            // ... while it has a timer running, it stops its timer for the
            // specified group and does not send a Report", and it is no
            // longer the last reporter. A version 3 host does not suppress
            // (RFC 3376 §5.2 has no such rule).
            IgmpRepr::Report { group, .. } => {
                if self.version(iface, now) == 3 {
                    return;
                }
                if let Some(i) = self.find(iface, group) {
                    let g = &mut self.groups[i];
                    if g.response.take().is_some() {
                        g.last_reporter = false;
                    }
                }
            }
            // For routers.
            IgmpRepr::Leave { .. } => {}
        }
    }

    /// A query: which version sent it, then the answer as that version's
    /// host gives it. A General Query goes to all-hosts, a Group-Specific
    /// one to its group (RFC 2236 §2.1, RFC 3376 §4.1.12); anything else is
    /// ignored.
    #[allow(clippy::too_many_arguments)]
    fn on_query(
        &mut self,
        now: Instant,
        iface: usize,
        dst: Ipv4Addr,
        max_resp_tenths: u16,
        group: Ipv4Addr,
        v3: Option<V3Query<'_>>,
        rng: &mut Rng,
    ) {
        let general = group.is_unspecified();
        if dst != ALL_HOSTS && (general || dst != group) {
            return;
        }
        let was = self.version(iface, now);
        let max = match (v3, max_resp_tenths) {
            (None, 0) => V1_MAX_RESPONSE,
            _ => Duration::from_millis(u64::from(max_resp_tenths) * 100),
        };
        // RFC 3376 §7.2.1 and §8.12: an older querier keeps the interface
        // in its version for [Robustness Variable] x [Query Interval] +
        // [Query Response Interval].
        let i = self.iface_mut(iface);
        let older = now + i.query_interval.saturating_mul(u64::from(i.robustness)) + max;
        match (v3, max_resp_tenths) {
            (None, 0) => i.v1_until = Some(older),
            (None, _) => i.v2_until = Some(older),
            (Some(q), _) => {
                // RFC 3376 §4.1.6, §4.1.7: the querier's values, when given.
                if q.robustness != 0 {
                    i.robustness = q.robustness;
                }
                if q.query_interval_secs != 0 {
                    i.query_interval = Duration::from_secs(u64::from(q.query_interval_secs));
                }
            }
        }
        let version = self.version(iface, now);
        if was == 3 && version < 3 {
            self.cancel_v3(iface);
        }
        let asked = Asked {
            now,
            iface,
            general,
            group,
            max,
        };
        if version < 3 {
            return self.legacy_query(&asked, rng);
        }
        let sources: Vec<Ipv4Addr> = v3.map(|q| q.sources().collect()).unwrap_or_default();
        self.v3_query(&asked, sources, rng);
    }

    /// RFC 3376 §7.2.1: moving to an older version cancels version 3's
    /// pending answers and retransmissions.
    fn cancel_v3(&mut self, iface: usize) {
        self.iface_mut(iface).general_due = None;
        for g in self.groups.iter_mut().filter(|g| g.iface == iface) {
            g.change = None;
            g.response = None;
        }
        self.groups.retain(|g| !g.is_spent());
    }

    /// RFC 2236 §3: a General Query starts a timer for every group of the
    /// interface, a Group-Specific one for its group; a timer already
    /// running keeps its time unless the query asks for an answer sooner.
    fn legacy_query(&mut self, q: &Asked, rng: &mut Rng) {
        let &Asked {
            now,
            iface,
            general,
            group,
            max,
        } = q;
        for g in &mut self.groups {
            if g.iface != iface
                || (!general && g.addr != group)
                || g.addr == ALL_HOSTS
                || g.filters.users() == 0
            {
                continue;
            }
            let due = now + random_delay(rng, max);
            match &g.response {
                Some(r) if r.due <= now + max => {}
                _ => {
                    g.response = Some(Response {
                        due,
                        sources: Vec::new(),
                    })
                }
            }
        }
    }

    /// RFC 3376 §5.2's five rules.
    fn v3_query(&mut self, q: &Asked, sources: Vec<Ipv4Addr>, rng: &mut Rng) {
        let &Asked {
            now,
            iface,
            general,
            group,
            max,
        } = q;
        let due = now + random_delay(rng, max);
        // An interface that holds no group has nothing to answer.
        if !self.current_state_exists(iface) {
            return;
        }
        let i = self.iface_mut(iface);
        // 1: a General Query's answer due sooner covers this one.
        if i.general_due.is_some_and(|d| d <= due) {
            return;
        }
        // 2: a General Query (re)starts the interface timer.
        if general {
            i.general_due = Some(due);
            return;
        }
        let Some(gi) = self.find(iface, group) else {
            return;
        };
        let g = &mut self.groups[gi];
        if g.filters.users() == 0 {
            return;
        }
        match g.response.as_mut() {
            // 3: nothing pending for the group: its timer, its sources.
            None => g.response = Some(Response { due, sources }),
            // 4: a Group-Specific query, or one pending: the whole group,
            // at the earlier time.
            Some(r) if sources.is_empty() || r.sources.is_empty() => {
                r.sources.clear();
                r.due = r.due.min(due);
            }
            // 5: both name sources: the union, at the earlier time.
            Some(r) => {
                let more = filter::minus(&sources, &r.sources);
                r.sources.extend(more);
                r.due = r.due.min(due);
            }
        }
    }

    /// Sends the reports that are due: version 3 retransmissions and
    /// answers (RFC 3376 §5.1, §5.2), version 1 and 2 reports (RFC 2236
    /// §3: "When a host's timer for a group expires, it will multicast a
    /// ... Membership Report to the group").
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut Rng) {
        for iface in 0..self.ifaces.len() {
            if self.ifaces[iface].general_due.is_some_and(|d| d <= now) {
                self.ifaces[iface].general_due = None;
                let records = self.current_state(iface);
                self.v3_report(iface, records);
            }
        }
        for i in 0..self.groups.len() {
            if self.groups[i].change.as_ref().is_some_and(|c| c.due <= now) {
                self.send_change(i, now, rng);
            }
            let g = &mut self.groups[i];
            if g.response.as_ref().is_none_or(|r| r.due > now) {
                continue;
            }
            let Some(r) = g.response.take() else {
                continue;
            };
            let (iface, addr) = (g.iface, g.addr);
            if self.version(iface, now) < 3 {
                let report = self.legacy_report(iface, addr, now);
                self.out.push_back(report);
                self.groups[i].last_reporter = true;
            } else {
                let records = self.group_answer(i, &r.sources).into_iter().collect();
                self.v3_report(iface, records);
            }
        }
        self.groups.retain(|g| !g.is_spent());
    }

    /// Whether `iface` holds a group it would report.
    fn current_state_exists(&self, iface: usize) -> bool {
        self.groups
            .iter()
            .any(|g| g.iface == iface && g.addr != ALL_HOSTS && g.filters.has_state())
    }

    /// RFC 3376 §5.2: the answer to a General Query, a Current-State Record
    /// for every group the interface holds.
    fn current_state(&self, iface: usize) -> Vec<GroupRecord> {
        self.groups
            .iter()
            .filter(|g| g.iface == iface && g.addr != ALL_HOSTS)
            .filter_map(|g| {
                let state = g.filters.state();
                state.has_state().then(|| current(g.addr, state))
            })
            .collect()
    }

    /// RFC 3376 §5.2: the answer for group `i`: its Current-State Record, or
    /// for recorded sources, INCLUDE(A) answers IS_IN(A * sources) and
    /// EXCLUDE(A) IS_IN(sources - A); nothing when that is empty.
    fn group_answer(&self, i: usize, sources: &[Ipv4Addr]) -> Option<GroupRecord> {
        let g = &self.groups[i];
        let state = g.filters.state();
        if !state.has_state() {
            return None;
        }
        if sources.is_empty() {
            return Some(current(g.addr, state));
        }
        let answer: Vec<Ipv4Addr> = match state.mode {
            FilterMode::Include => sources
                .iter()
                .filter(|s| state.sources.contains(s))
                .copied()
                .collect(),
            FilterMode::Exclude => filter::minus(sources, &state.sources),
        };
        (!answer.is_empty()).then(|| record(RecordType::ModeIsInclude, g.addr, answer))
    }

    /// When [`Memberships::handle_timeout`] has a report to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let groups = self.groups.iter().flat_map(|g| {
            let r = g.response.as_ref().map(|r| r.due);
            let c = g.change.as_ref().map(|c| c.due);
            r.into_iter().chain(c)
        });
        let ifaces = self.ifaces.iter().filter_map(|i| i.general_due);
        groups.chain(ifaces).min()
    }

    /// The oldest message to send.
    pub fn pop_message(&mut self) -> Option<Outgoing> {
        self.out.pop_front()
    }
}

fn record(kind: RecordType, group: Ipv4Addr, sources: Vec<Ipv4Addr>) -> GroupRecord {
    GroupRecord {
        kind,
        group,
        sources,
    }
}

/// A Current-State Record of `state`: MODE_IS_INCLUDE or MODE_IS_EXCLUDE.
fn current(group: Ipv4Addr, state: InterfaceFilter) -> GroupRecord {
    let kind = match state.mode {
        FilterMode::Include => RecordType::ModeIsInclude,
        FilterMode::Exclude => RecordType::ModeIsExclude,
    };
    record(kind, group, state.sources)
}

/// A uniformly random delay in (0, `max`], in milliseconds (RFC 2236 §3:
/// "a random value between 0 and the maximum response time"; RFC 3376
/// §5.1 and §5.2 alike).
fn random_delay(rng: &mut Rng, max: Duration) -> Duration {
    let ms = max.total_millis().max(1);
    Duration::from_millis(1 + rng.below(ms))
}

#[cfg(test)]
mod tests {
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
        assert_eq!(drain(&mut m), core::slice::from_ref(&to_ex));
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
        assert_eq!(drain(&mut m), core::slice::from_ref(&to_in));
        assert!(!m.is_member(0, G) && !m.accepts(0, G, S1, false));
        assert_eq!(m.groups(0).count(), 0);
        let again = run(&mut m, 10_001, 15_000, &mut rng);
        assert_eq!(again.iter().map(|(_, o)| o).collect::<Vec<_>>(), [&to_in]);
        assert!(m.is_empty());
    }

    #[test]
    fn source_changes_merge_into_the_pending_report() {
        let mut rng = Rng::from_seed(12);
        let mut m = Memberships::new(0);
        // A source-specific join: INCLUDE({}) -> INCLUDE({S1}) is ALLOW(S1).
        m.change(t(0), 0, G, None, Some(include(&[S1])), &mut rng)
            .unwrap();
        assert_eq!(
            drain(&mut m),
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
        assert_eq!(drain(&mut m), core::slice::from_ref(&both));
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
        assert_eq!(drain(&mut m), core::slice::from_ref(&mixed));
        let again = run(&mut m, 3, 5_000, &mut rng);
        assert_eq!(again.iter().map(|(_, o)| o).collect::<Vec<_>>(), [&mixed]);
        // A second socket joins for every source: the interface turns to
        // EXCLUDE({}), a mode change, reported with the whole state.
        join(&mut m, t(6_000), G, &mut rng);
        assert_eq!(
            drain(&mut m),
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
        let first = drain(&mut m);
        let later = run(&mut m, 3_001, 10_000, &mut rng);
        assert_eq!(first.len() + later.len(), 4, "QRV 4: four in all");
        // Another host's report does not silence a version 3 host.
        join(&mut m, t(20_000), H, &mut rng);
        drain(&mut m);
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
        drain(&mut m);
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
            drain(&mut m),
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
        drain(&mut m);
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
                            _ => Some((FilterMode::Include, pick(&mut walk)))
                                .filter(|f| !f.1.is_empty()),
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
}
