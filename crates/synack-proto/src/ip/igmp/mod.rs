//! The host's multicast group memberships and its side of IGMP: which
//! groups (and sources) each interface receives, and when to say so.
//!
//! Read first: RFC 1112 §4 and §7.2 (a host joins groups per interface;
//! the all-hosts group 224.0.0.1 is joined by every interface and never
//! reported), RFC 3376 (IGMPv3, the version a host speaks unless a router
//! of an older one is heard): §3 (socket and interface filter state,
//! `filter`), §5.1 (a change of the interface's state is reported at once
//! and [Robustness Variable] - 1 more times, each within the Unsolicited
//! Report Interval of 1 s; as Linux's `igmp_ifc_event`, one interface
//! timer sends every group's pending changes together, so the changes of
//! one moment, such as a closing socket's leaves, go in one report), §5.2
//! (a query's answer: the interface timer for
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

/// A version 3 state change still to be sent (RFC 3376 §5.1), when the
/// interface's change timer next runs (`Iface::change_due`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    /// Transmissions left.
    left: u8,
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
    /// RFC 3376 §5.1: the groups' pending state changes are sent then, all
    /// in one report (Linux's `mr_ifc_timer`).
    change_due: Option<Instant>,
}

impl Default for Iface {
    fn default() -> Iface {
        Iface {
            v1_until: None,
            v2_until: None,
            robustness: DEFAULT_ROBUSTNESS,
            query_interval: DEFAULT_QUERY_INTERVAL,
            general_due: None,
            change_due: None,
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
                3 => self.state_changed(i, now, &before, &after),
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
    ) {
        let robustness = self.robustness(self.groups[i].iface);
        let g = &mut self.groups[i];
        let delta = filter::delta(before, after);
        if delta == Delta::Unchanged {
            return;
        }
        let c = g.change.get_or_insert(Change {
            left: 0,
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
        // At once: the report goes when the stack next runs the timers
        // (Linux waits two jiffies), with any other change of this moment.
        let index = self.groups[i].iface;
        let iface = self.iface_mut(index);
        iface.change_due = Some(iface.change_due.map_or(now, |d| d.min(now)));
    }

    /// The interface's change timer: one report of every group's pending
    /// state-change records (RFC 3376 §5.1), and the next retransmission,
    /// within the Unsolicited Report Interval, while any is left.
    fn send_changes(&mut self, iface: usize, now: Instant, rng: &mut Rng) {
        let mut records = Vec::new();
        let mut pending = false;
        for i in 0..self.groups.len() {
            if self.groups[i].iface == iface {
                pending |= self.take_change(i, &mut records);
            }
        }
        self.iface_mut(iface).change_due =
            pending.then(|| now + random_delay(rng, V3_UNSOLICITED_REPORT_INTERVAL));
        self.v3_report(iface, records);
    }

    /// Group `i`'s pending state-change records, into `records`; one
    /// transmission fewer left. Whether any is still left after this one.
    fn take_change(&mut self, i: usize, records: &mut Vec<GroupRecord>) -> bool {
        let g = &mut self.groups[i];
        let Some(c) = g.change.as_mut() else {
            return false;
        };
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
        }
        g.change.is_some()
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
        let i = self.iface_mut(iface);
        i.general_due = None;
        i.change_due = None;
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
            if self.ifaces[iface].change_due.is_some_and(|d| d <= now) {
                self.send_changes(iface, now, rng);
            }
            if self.ifaces[iface].general_due.is_some_and(|d| d <= now) {
                self.ifaces[iface].general_due = None;
                let records = self.current_state(iface);
                self.v3_report(iface, records);
            }
        }
        for i in 0..self.groups.len() {
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
        let groups = self
            .groups
            .iter()
            .filter_map(|g| g.response.as_ref().map(|r| r.due));
        let ifaces = self
            .ifaces
            .iter()
            .flat_map(|i| i.general_due.into_iter().chain(i.change_due));
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
mod tests;
