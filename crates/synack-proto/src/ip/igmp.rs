//! The host's multicast group memberships and its side of IGMPv2: which
//! groups each interface receives, and when to say so.
//!
//! Read first: RFC 1112 §4 and §7.2 (a host joins groups per interface;
//! the all-hosts group 224.0.0.1 is joined by every interface and never
//! reported), RFC 2236 §3 (the host's protocol: an unsolicited report on
//! joining, repeated once; a report at a random time within a query's Max
//! Response Time; a report heard from another member cancels ours; a Leave
//! Group from the last host to report), §6 (the host state diagram:
//! Non-Member, Delaying Member, Idle Member), §4 (a version 1 router's
//! query: reports in version 1 and no leaves while one is present, for the
//! Version 1 Router Present Timeout of 400 s), §8 (Unsolicited Report
//! Interval 10 s).
//!
//! Sans-IO: every call takes `now`; messages to send are queued for the
//! stack ([`Memberships::pop_message`]), which writes them with TTL 1 and
//! the Router Alert option. Random delays come from the stack's seeded
//! generator. Departures from Linux (which speaks IGMPv3 by default): the
//! host speaks version 2; a version 3 query is taken as a version 2 query
//! (RFC 3376 §7.2.1 lets a version 2 host do so), source filters are not
//! offered.

use core::net::Ipv4Addr;
use std::collections::VecDeque;

use crate::rng::Rng;
use crate::time::{Duration, Instant};
use crate::wire::igmp::IgmpRepr;

/// RFC 2236 §8.10: the Unsolicited Report Interval, the most the repeat of
/// a join's report waits.
pub const UNSOLICITED_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// RFC 2236 §8.11: how long a version 1 router's query keeps the host in
/// version 1 (no leaves, version 1 reports).
pub const V1_ROUTER_PRESENT_TIMEOUT: Duration = Duration::from_secs(400);

/// RFC 2236 §4: a version 1 query's Max Response Time (it has none).
const V1_MAX_RESPONSE: Duration = Duration::from_secs(10);

/// The all-hosts group (RFC 1112 §4): every interface is a member, and
/// reports for it are never sent.
pub const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

/// The all-routers group (RFC 2236 §3): where a Leave Group goes.
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);

/// Most groups joined at once, over every interface (Linux's
/// `igmp_max_memberships` is 20 per socket; this bounds the host).
pub const MAX_GROUPS: usize = 1024;

/// A message the stack should send on `iface` to `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    pub iface: usize,
    pub dst: Ipv4Addr,
    pub message: IgmpRepr,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// Not a multicast address.
    NotAGroup,
    /// [`MAX_GROUPS`] reached.
    TooMany,
}

/// RFC 2236 §6: a member is Delaying (a report is due at `until`) or Idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Delaying { until: Instant },
    Idle,
}

#[derive(Debug, Clone)]
struct Group {
    iface: usize,
    addr: Ipv4Addr,
    /// Sockets that joined it on this interface.
    users: u32,
    state: State,
    /// We sent the last report for it (RFC 2236 §6: the flag that decides
    /// whether leaving sends a Leave Group).
    last_reporter: bool,
}

/// Every interface's groups, and the messages they have to send.
#[derive(Debug, Default)]
pub struct Memberships {
    groups: Vec<Group>,
    /// Per interface (by index): a version 1 router was heard, until then.
    v1_router_until: Vec<(usize, Instant)>,
    out: VecDeque<Outgoing>,
}

impl Memberships {
    /// Whether no group is joined (nothing to receive but 224.0.0.1, no
    /// timer).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether `iface` receives datagrams for `group`.
    pub fn is_member(&self, iface: usize, group: Ipv4Addr) -> bool {
        group == ALL_HOSTS || self.find(iface, group).is_some()
    }

    /// Groups joined on `iface`, with how many sockets hold each.
    pub fn groups(&self, iface: usize) -> impl Iterator<Item = (Ipv4Addr, u32)> + '_ {
        self.groups
            .iter()
            .filter(move |g| g.iface == iface)
            .map(|g| (g.addr, g.users))
    }

    fn find(&self, iface: usize, group: Ipv4Addr) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.iface == iface && g.addr == group)
    }

    fn v1_router(&self, iface: usize, now: Instant) -> bool {
        self.v1_router_until
            .iter()
            .any(|&(i, until)| i == iface && now < until)
    }

    fn report(&self, iface: usize, group: Ipv4Addr, now: Instant) -> Outgoing {
        let version = if self.v1_router(iface, now) { 1 } else { 2 };
        Outgoing {
            iface,
            dst: group,
            message: IgmpRepr::Report { version, group },
        }
    }

    /// A socket joins `group` on `iface`. The interface's first join sends
    /// a report now and once more within the Unsolicited Report Interval
    /// (RFC 2236 §3); a later one only counts the socket. The all-hosts
    /// group is counted and never reported (RFC 2236 §6: "the all-systems
    /// group ... no reports are sent").
    pub fn join(
        &mut self,
        now: Instant,
        iface: usize,
        group: Ipv4Addr,
        rng: &mut Rng,
    ) -> Result<(), JoinError> {
        if !group.is_multicast() {
            return Err(JoinError::NotAGroup);
        }
        if let Some(i) = self.find(iface, group) {
            self.groups[i].users += 1;
            return Ok(());
        }
        if self.groups.len() >= MAX_GROUPS {
            return Err(JoinError::TooMany);
        }
        if group == ALL_HOSTS {
            self.groups.push(Group {
                iface,
                addr: group,
                users: 1,
                state: State::Idle,
                last_reporter: false,
            });
            return Ok(());
        }
        let report = self.report(iface, group, now);
        self.out.push_back(report);
        self.groups.push(Group {
            iface,
            addr: group,
            users: 1,
            state: State::Delaying {
                until: now + random_delay(rng, UNSOLICITED_REPORT_INTERVAL),
            },
            last_reporter: true,
        });
        Ok(())
    }

    /// A socket leaves `group` on `iface`; false if it had not joined it.
    /// The interface's last one leaves the group, with a Leave Group to
    /// the all-routers group if we sent the last report and no version 1
    /// router is present (RFC 2236 §3).
    pub fn leave(&mut self, now: Instant, iface: usize, group: Ipv4Addr) -> bool {
        let Some(i) = self.find(iface, group) else {
            return false;
        };
        let g = &mut self.groups[i];
        g.users -= 1;
        if g.users > 0 {
            return true;
        }
        let g = self.groups.swap_remove(i);
        if g.last_reporter && !self.v1_router(iface, now) {
            self.out.push_back(Outgoing {
                iface,
                dst: ALL_ROUTERS,
                message: IgmpRepr::Leave { group },
            });
        }
        true
    }

    /// An IGMP message heard on `iface` (sent to `dst`).
    pub fn handle(
        &mut self,
        now: Instant,
        iface: usize,
        dst: Ipv4Addr,
        message: &IgmpRepr,
        rng: &mut Rng,
    ) {
        match *message {
            IgmpRepr::Query {
                max_resp_tenths,
                group,
            } => self.on_query(now, iface, dst, max_resp_tenths, group, rng),
            // RFC 2236 §3: "If the host receives another host's Report
            // ... while it has a timer running, it stops its timer for the
            // specified group and does not send a Report", and it is no
            // longer the last reporter.
            IgmpRepr::Report { group, .. } => {
                if let Some(i) = self.find(iface, group) {
                    let g = &mut self.groups[i];
                    if matches!(g.state, State::Delaying { .. }) {
                        g.state = State::Idle;
                        g.last_reporter = false;
                    }
                }
            }
            // For routers.
            IgmpRepr::Leave { .. } => {}
        }
    }

    /// RFC 2236 §3: a General Query (to 224.0.0.1, group 0) starts a timer
    /// for every group of the interface, a Group-Specific one for its
    /// group; a timer already running keeps its time unless the query asks
    /// for an answer sooner. A version 1 query (no Max Response Time) means
    /// 10 s and a version 1 router present (§4).
    fn on_query(
        &mut self,
        now: Instant,
        iface: usize,
        dst: Ipv4Addr,
        max_resp_tenths: u16,
        group: Ipv4Addr,
        rng: &mut Rng,
    ) {
        let general = group.is_unspecified();
        // A General Query goes to all-hosts; a Group-Specific one to its
        // group (RFC 2236 §2.1); anything else is ignored.
        if dst != ALL_HOSTS && (general || dst != group) {
            return;
        }
        let max = if max_resp_tenths == 0 {
            self.v1_router_until.retain(|&(i, _)| i != iface);
            self.v1_router_until
                .push((iface, now + V1_ROUTER_PRESENT_TIMEOUT));
            V1_MAX_RESPONSE
        } else {
            Duration::from_millis(u64::from(max_resp_tenths) * 100)
        };
        for g in &mut self.groups {
            if g.iface != iface || (!general && g.addr != group) || g.addr == ALL_HOSTS {
                continue;
            }
            let due = now + random_delay(rng, max);
            g.state = match g.state {
                State::Delaying { until } if until <= now + max => State::Delaying { until },
                _ => State::Delaying { until: due },
            };
        }
    }

    /// Sends the reports that are due (RFC 2236 §3: "When a host's timer
    /// for a group expires, it will multicast a Version 2 Membership
    /// Report to the group").
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.groups.len() {
            let g = &self.groups[i];
            if let State::Delaying { until } = g.state
                && until <= now
            {
                let report = self.report(g.iface, g.addr, now);
                self.out.push_back(report);
                let g = &mut self.groups[i];
                g.state = State::Idle;
                g.last_reporter = true;
            }
        }
        self.v1_router_until.retain(|&(_, until)| now < until);
    }

    /// When [`Memberships::handle_timeout`] has a report to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.groups
            .iter()
            .filter_map(|g| match g.state {
                State::Delaying { until } => Some(until),
                State::Idle => None,
            })
            .min()
    }

    /// The oldest message to send.
    pub fn pop_message(&mut self) -> Option<Outgoing> {
        self.out.pop_front()
    }
}

/// A uniformly random delay in (0, `max`], in milliseconds (RFC 2236 §3:
/// "a random value between 0 and the maximum response time").
fn random_delay(rng: &mut Rng, max: Duration) -> Duration {
    let ms = max.total_millis().max(1);
    Duration::from_millis(1 + rng.below(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
    const H: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 9);

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
            message: IgmpRepr::Report { version, group },
        }
    }

    /// Runs the timers from `from` to `to` ms, one ms at a time.
    fn run(m: &mut Memberships, from: u64, to: u64) -> Vec<(u64, Outgoing)> {
        let mut sent = Vec::new();
        for ms in from..=to {
            m.handle_timeout(t(ms));
            sent.extend(drain(m).into_iter().map(|o| (ms, o)));
        }
        sent
    }

    #[test]
    fn a_join_reports_at_once_and_once_more_within_ten_seconds() {
        let mut rng = Rng::from_seed(1);
        let mut m = Memberships::default();
        m.join(t(0), 0, G, &mut rng).unwrap();
        assert_eq!(drain(&mut m), [report(2, G)]);
        assert!(m.is_member(0, G) && !m.is_member(1, G) && m.is_member(1, ALL_HOSTS));
        let due = m.poll_timeout().unwrap();
        assert!(due > t(0) && due <= t(10_000), "{due:?}");
        let sent = run(&mut m, 1, 20_000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, report(2, G));
        assert_eq!(m.poll_timeout(), None, "idle after the repeat");
        // A second socket's join says nothing; leaving needs both to go.
        m.join(t(20_000), 0, G, &mut rng).unwrap();
        assert!(drain(&mut m).is_empty());
        assert!(m.leave(t(20_000), 0, G));
        assert!(drain(&mut m).is_empty() && m.is_member(0, G));
        assert!(m.leave(t(20_000), 0, G));
        assert_eq!(
            drain(&mut m),
            [Outgoing {
                iface: 0,
                dst: ALL_ROUTERS,
                message: IgmpRepr::Leave { group: G }
            }]
        );
        assert!(!m.is_member(0, G) && !m.leave(t(20_000), 0, G));
        // The all-hosts group: counted, never reported or left aloud.
        m.join(t(0), 0, ALL_HOSTS, &mut rng).unwrap();
        let query = IgmpRepr::Query {
            max_resp_tenths: 10,
            group: Ipv4Addr::UNSPECIFIED,
        };
        m.handle(t(30_000), 0, ALL_HOSTS, &query, &mut rng);
        assert!(run(&mut m, 30_000, 32_000).is_empty());
        assert!(m.leave(t(32_000), 0, ALL_HOSTS) && drain(&mut m).is_empty());
        assert!(m.is_member(0, ALL_HOSTS), "always");
        assert_eq!(
            m.join(t(0), 0, Ipv4Addr::new(10, 0, 0, 1), &mut rng),
            Err(JoinError::NotAGroup)
        );
    }

    #[test]
    fn a_query_draws_a_report_within_its_max_response_time() {
        let mut rng = Rng::from_seed(2);
        let mut m = Memberships::default();
        m.join(t(0), 0, G, &mut rng).unwrap();
        m.join(t(0), 0, H, &mut rng).unwrap();
        run(&mut m, 0, 10_000);
        // General query, 2 s: both groups, each within 2 s.
        let query = IgmpRepr::Query {
            max_resp_tenths: 20,
            group: Ipv4Addr::UNSPECIFIED,
        };
        m.handle(t(20_000), 0, ALL_HOSTS, &query, &mut rng);
        let sent = run(&mut m, 20_000, 25_000);
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|&(ms, _)| ms > 20_000 && ms <= 22_000));
        // Group-specific: only that group.
        let query = IgmpRepr::Query {
            max_resp_tenths: 10,
            group: H,
        };
        m.handle(t(30_000), 0, H, &query, &mut rng);
        let sent = run(&mut m, 30_000, 32_000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, report(2, H));
        // A query on another interface, or to a group address not its own,
        // starts nothing.
        m.handle(t(40_000), 1, ALL_HOSTS, &query, &mut rng);
        m.handle(t(40_000), 0, G, &query, &mut rng);
        assert_eq!(m.poll_timeout(), None);
    }

    #[test]
    fn another_members_report_cancels_ours_and_then_leaving_is_silent() {
        let mut rng = Rng::from_seed(3);
        let mut m = Memberships::default();
        m.join(t(0), 0, G, &mut rng).unwrap();
        drain(&mut m);
        let query = IgmpRepr::Query {
            max_resp_tenths: 100,
            group: Ipv4Addr::UNSPECIFIED,
        };
        m.handle(t(0), 0, ALL_HOSTS, &query, &mut rng);
        let theirs = IgmpRepr::Report {
            version: 2,
            group: G,
        };
        m.handle(t(1), 0, G, &theirs, &mut rng);
        assert_eq!(m.poll_timeout(), None);
        assert!(run(&mut m, 1, 20_000).is_empty());
        // Not the last reporter: no Leave Group.
        m.leave(t(20_000), 0, G);
        assert!(drain(&mut m).is_empty());
    }

    #[test]
    fn a_version_1_router_gets_version_1_reports_and_no_leaves() {
        let mut rng = Rng::from_seed(4);
        let mut m = Memberships::default();
        m.join(t(0), 0, G, &mut rng).unwrap();
        run(&mut m, 0, 10_000);
        let v1 = IgmpRepr::Query {
            max_resp_tenths: 0,
            group: Ipv4Addr::UNSPECIFIED,
        };
        m.handle(t(20_000), 0, ALL_HOSTS, &v1, &mut rng);
        let sent = run(&mut m, 20_000, 31_000);
        assert_eq!(sent.len(), 1);
        assert!(sent[0].0 <= 30_000, "within 10 s");
        assert_eq!(sent[0].1, report(1, G));
        m.leave(t(31_000), 0, G);
        assert!(drain(&mut m).is_empty(), "no leave with a v1 router");
        // 400 s on, version 2 again.
        m.join(t(500_000), 0, G, &mut rng).unwrap();
        m.handle_timeout(t(500_000));
        assert_eq!(drain(&mut m), [report(2, G)]);
    }

    #[test]
    fn a_query_asking_sooner_moves_a_timer_earlier_only() {
        let mut rng = Rng::from_seed(5);
        let mut m = Memberships::default();
        m.join(t(0), 0, G, &mut rng).unwrap();
        run(&mut m, 0, 10_000);
        let q = |tenths| IgmpRepr::Query {
            max_resp_tenths: tenths,
            group: Ipv4Addr::UNSPECIFIED,
        };
        m.handle(t(20_000), 0, ALL_HOSTS, &q(10), &mut rng);
        let due = m.poll_timeout().unwrap();
        // A longer one leaves it.
        m.handle(t(20_000), 0, ALL_HOSTS, &q(250), &mut rng);
        assert_eq!(m.poll_timeout(), Some(due));
        assert!(due <= t(21_000));
    }
}
