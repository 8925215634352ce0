//! A socket's own group memberships and source filters, and the calls that
//! change them: IP_ADD_MEMBERSHIP and IP_DROP_MEMBERSHIP (any source),
//! IP_ADD_SOURCE_MEMBERSHIP and IP_DROP_SOURCE_MEMBERSHIP (INCLUDE mode,
//! source-specific multicast), IP_BLOCK_SOURCE and IP_UNBLOCK_SOURCE
//! (EXCLUDE mode).
//!
//! Read first: RFC 3376 §3.1 (the socket's state per interface and group:
//! a filter mode and a source list; INCLUDE with no sources is no
//! membership), RFC 3678 §4.1.2 and §4.1.3 (the delta-based API: the
//! source calls and which mode each belongs to), RFC 4607 §1 (source-
//! specific multicast: a receiver names the source). Errors as Linux's
//! `ip_mc_source` gives them: a source call on a group not joined, or one
//! of the other mode, is EINVAL (a source-specific join of a group joined
//! for any source turns it into INCLUDE, as Linux lets an empty filter
//! change mode); a source already listed, or not listed, EADDRNOTAVAIL;
//! more than `igmp_max_msf` (10) sources ENOBUFS. Dropping the last
//! INCLUDE source leaves the group.
//!
//! IP_MSFILTER, the full-state call (RFC 3678 §4.2), replaces a joined
//! group's filter whole ([`SocketMemberships::plan_filter`]).
//!
//! This module only decides: [`SocketMemberships::plan`] says what the
//! socket's filter was and will be, the stack hands that change to the
//! interface ([`super::Memberships::change`]) and then
//! [`SocketMemberships::apply`]s it, so a refused change leaves both as
//! they were.

use core::net::Ipv4Addr;

use super::filter::{FilterMode, SocketFilter};

/// Most sources in one socket's filter for one group (Linux's
/// `igmp_max_msf`).
pub const MAX_SOURCES: usize = 10;

/// One socket's membership of a group on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group: Ipv4Addr,
    pub iface: usize,
    pub mode: FilterMode,
    pub sources: Vec<Ipv4Addr>,
}

impl Membership {
    /// The filter as the interface counts it.
    pub fn filter(&self) -> SocketFilter<'_> {
        SocketFilter {
            mode: self.mode,
            sources: &self.sources,
        }
    }

    /// Whether the socket takes a datagram from `src` (Linux
    /// `ip_mc_sf_allow`).
    pub fn allows(&self, src: Ipv4Addr) -> bool {
        self.sources.contains(&src) == (self.mode == FilterMode::Include)
    }
}

/// A change a socket asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipOp {
    /// IP_ADD_MEMBERSHIP: every source.
    Join,
    /// IP_DROP_MEMBERSHIP, whatever the filter.
    Leave,
    /// IP_ADD_SOURCE_MEMBERSHIP: this source too (INCLUDE).
    JoinSource(Ipv4Addr),
    /// IP_DROP_SOURCE_MEMBERSHIP: not this source any more (INCLUDE).
    LeaveSource(Ipv4Addr),
    /// IP_BLOCK_SOURCE: every source but this one too (EXCLUDE).
    BlockSource(Ipv4Addr),
    /// IP_UNBLOCK_SOURCE: this source again (EXCLUDE).
    UnblockSource(Ipv4Addr),
}

/// Why a change was refused, with the errno Linux gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipError {
    /// IP_ADD_MEMBERSHIP of a group already joined there (EADDRINUSE).
    AlreadyJoined,
    /// IP_DROP_MEMBERSHIP of a group not joined there (EADDRNOTAVAIL).
    NotJoined,
    /// A source call without a prior join, or on a filter of the other
    /// mode (EINVAL).
    WrongMode,
    /// The source is already in the list, or not in it (EADDRNOTAVAIL).
    Source,
    /// [`MAX_SOURCES`] reached (ENOBUFS).
    TooManySources,
}

/// What a change does: the socket's filter before and after (`None`: no
/// membership).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub old: Option<Membership>,
    pub new: Option<Membership>,
}

/// Every membership of one socket.
#[derive(Debug, Clone, Default)]
pub struct SocketMemberships(Vec<Membership>);

impl SocketMemberships {
    /// The memberships, in the order they were made.
    pub fn iter(&self) -> impl Iterator<Item = &Membership> {
        self.0.iter()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the socket takes a datagram to `group` from `src` that
    /// arrived on interface `iface`: by its filter for the group there,
    /// else yes (a socket that did not join the group on that interface
    /// takes what the interface takes, Linux's IP_MULTICAST_ALL), as
    /// Linux's `ip_mc_sf_allow` matches the group and the interface.
    pub fn allows(&self, group: Ipv4Addr, iface: usize, src: Ipv4Addr) -> bool {
        self.find(group, iface).is_none_or(|m| m.allows(src))
    }

    fn find(&self, group: Ipv4Addr, iface: usize) -> Option<&Membership> {
        self.0.iter().find(|m| m.group == group && m.iface == iface)
    }

    /// What `op` on `group` at `iface` would make of the socket's filter.
    pub fn plan(
        &self,
        op: MembershipOp,
        group: Ipv4Addr,
        iface: usize,
    ) -> Result<Plan, MembershipError> {
        let old = self.find(group, iface).cloned();
        let with = |mode, sources| {
            Some(Membership {
                group,
                iface,
                mode,
                sources,
            })
        };
        let new = match (op, &old) {
            (MembershipOp::Join, Some(_)) => return Err(MembershipError::AlreadyJoined),
            (MembershipOp::Join, None) => with(FilterMode::Exclude, Vec::new()),
            (MembershipOp::Leave, None) => return Err(MembershipError::NotJoined),
            (MembershipOp::Leave, Some(_)) => None,
            // IP_ADD_SOURCE_MEMBERSHIP joins in INCLUDE mode if need be.
            (MembershipOp::JoinSource(s), None) => with(FilterMode::Include, vec![s]),
            (MembershipOp::JoinSource(s), Some(m)) => {
                with(FilterMode::Include, added(m, FilterMode::Include, s)?)
            }
            (MembershipOp::BlockSource(s), Some(m)) => {
                with(FilterMode::Exclude, added(m, FilterMode::Exclude, s)?)
            }
            (MembershipOp::LeaveSource(s), Some(m)) => {
                let sources = removed(m, FilterMode::Include, s)?;
                // (INCLUDE, {}) is leaving the group.
                (!sources.is_empty())
                    .then(|| with(FilterMode::Include, sources))
                    .flatten()
            }
            (MembershipOp::UnblockSource(s), Some(m)) => {
                with(FilterMode::Exclude, removed(m, FilterMode::Exclude, s)?)
            }
            (
                MembershipOp::LeaveSource(_)
                | MembershipOp::BlockSource(_)
                | MembershipOp::UnblockSource(_),
                None,
            ) => return Err(MembershipError::WrongMode),
        };
        Ok(Plan { old, new })
    }

    /// What IP_MSFILTER (RFC 3678 §4.2) setting `group`'s filter on `iface`
    /// to `mode` with `sources` would make of the socket's filter, checked
    /// in Linux's order: too many sources; INCLUDE with none, which leaves
    /// the group (not joined: `NotJoined`); no prior join (`WrongMode`,
    /// EINVAL). Duplicate sources count once.
    pub fn plan_filter(
        &self,
        group: Ipv4Addr,
        iface: usize,
        mode: FilterMode,
        sources: &[Ipv4Addr],
    ) -> Result<Plan, MembershipError> {
        let mut sources = sources.to_vec();
        sources.sort_unstable();
        sources.dedup();
        if sources.len() > MAX_SOURCES {
            return Err(MembershipError::TooManySources);
        }
        let old = self.find(group, iface).cloned();
        if mode == FilterMode::Include && sources.is_empty() {
            return match old {
                Some(_) => Ok(Plan { old, new: None }),
                None => Err(MembershipError::NotJoined),
            };
        }
        if old.is_none() {
            return Err(MembershipError::WrongMode);
        }
        let new = Some(Membership {
            group,
            iface,
            mode,
            sources,
        });
        Ok(Plan { old, new })
    }

    /// Makes a [`SocketMemberships::plan`]'s filter the socket's.
    pub fn apply(&mut self, plan: Plan) {
        let Some(old) = plan.old.as_ref().or(plan.new.as_ref()) else {
            return;
        };
        let (group, iface) = (old.group, old.iface);
        let at = self
            .0
            .iter()
            .position(|m| m.group == group && m.iface == iface);
        match (at, plan.new) {
            (Some(i), Some(new)) => self.0[i] = new,
            (Some(i), None) => {
                self.0.remove(i);
            }
            (None, Some(new)) => self.0.push(new),
            (None, None) => {}
        }
    }

    /// Every membership goes (the socket closes): the filters to take out
    /// of their interfaces.
    pub fn take(&mut self) -> Vec<Membership> {
        core::mem::take(&mut self.0)
    }
}

/// `m`'s sources with `s` added, in `mode`. A filter of the other mode
/// refuses, unless it lists nothing (Linux lets an empty filter change
/// mode: a source-specific join of a group joined for every source).
fn added(m: &Membership, mode: FilterMode, s: Ipv4Addr) -> Result<Vec<Ipv4Addr>, MembershipError> {
    if m.mode != mode {
        return match m.sources.is_empty() {
            true => Ok(vec![s]),
            false => Err(MembershipError::WrongMode),
        };
    }
    if m.sources.contains(&s) {
        return Err(MembershipError::Source);
    }
    if m.sources.len() >= MAX_SOURCES {
        return Err(MembershipError::TooManySources);
    }
    let mut sources = m.sources.clone();
    sources.push(s);
    Ok(sources)
}

/// `m`'s sources without `s`, in `mode`.
fn removed(
    m: &Membership,
    mode: FilterMode,
    s: Ipv4Addr,
) -> Result<Vec<Ipv4Addr>, MembershipError> {
    if m.mode != mode {
        return match m.sources.is_empty() {
            true => Err(MembershipError::Source),
            false => Err(MembershipError::WrongMode),
        };
    }
    if !m.sources.contains(&s) {
        return Err(MembershipError::Source);
    }
    Ok(m.sources.iter().filter(|&&x| x != s).copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Ipv4Addr = Ipv4Addr::new(232, 1, 1, 1);
    const S1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const S2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn run(m: &mut SocketMemberships, op: MembershipOp) -> Result<Plan, MembershipError> {
        let plan = m.plan(op, G, 0)?;
        m.apply(plan.clone());
        Ok(plan)
    }

    fn only(m: &SocketMemberships) -> (FilterMode, Vec<Ipv4Addr>) {
        let all: Vec<_> = m.iter().collect();
        assert_eq!(all.len(), 1);
        (all[0].mode, all[0].sources.clone())
    }

    #[test]
    fn source_specific_joins_build_an_include_filter_and_the_last_drop_leaves() {
        let mut m = SocketMemberships::default();
        let p = run(&mut m, MembershipOp::JoinSource(S1)).unwrap();
        assert_eq!(p.old, None);
        assert_eq!(only(&m), (FilterMode::Include, vec![S1]));
        run(&mut m, MembershipOp::JoinSource(S2)).unwrap();
        assert!(m.allows(G, 0, S1) && m.allows(G, 0, S2));
        assert!(!m.allows(G, 0, Ipv4Addr::new(192, 0, 2, 9)));
        // Another group's datagrams: the socket holds no filter for it.
        assert!(m.allows(Ipv4Addr::new(232, 9, 9, 9), 0, Ipv4Addr::new(192, 0, 2, 9)));
        // The group on another interface: no filter of the socket's there
        // (Linux's `ip_mc_sf_allow` matches the interface too).
        assert!(m.allows(G, 1, Ipv4Addr::new(192, 0, 2, 9)));
        assert_eq!(
            run(&mut m, MembershipOp::JoinSource(S1)),
            Err(MembershipError::Source)
        );
        assert_eq!(
            run(&mut m, MembershipOp::BlockSource(S1)),
            Err(MembershipError::WrongMode)
        );
        assert_eq!(
            run(&mut m, MembershipOp::Join),
            Err(MembershipError::AlreadyJoined)
        );
        run(&mut m, MembershipOp::LeaveSource(S1)).unwrap();
        assert_eq!(only(&m), (FilterMode::Include, vec![S2]));
        let p = run(&mut m, MembershipOp::LeaveSource(S2)).unwrap();
        assert_eq!(p.new, None, "(INCLUDE, {{}}) leaves");
        assert!(m.is_empty());
        assert_eq!(
            run(&mut m, MembershipOp::LeaveSource(S2)),
            Err(MembershipError::WrongMode),
            "no prior join"
        );
        assert_eq!(
            run(&mut m, MembershipOp::Leave),
            Err(MembershipError::NotJoined)
        );
    }

    #[test]
    fn blocking_needs_an_any_source_join_and_a_source_join_may_narrow_one() {
        let mut m = SocketMemberships::default();
        assert_eq!(
            run(&mut m, MembershipOp::BlockSource(S1)),
            Err(MembershipError::WrongMode)
        );
        run(&mut m, MembershipOp::Join).unwrap();
        assert!(m.allows(G, 0, S1));
        run(&mut m, MembershipOp::BlockSource(S1)).unwrap();
        assert_eq!(only(&m), (FilterMode::Exclude, vec![S1]));
        assert!(!m.allows(G, 0, S1) && m.allows(G, 0, S2));
        assert_eq!(
            run(&mut m, MembershipOp::UnblockSource(S2)),
            Err(MembershipError::Source)
        );
        assert_eq!(
            run(&mut m, MembershipOp::JoinSource(S2)),
            Err(MembershipError::WrongMode),
            "a non-empty EXCLUDE filter keeps its mode"
        );
        run(&mut m, MembershipOp::UnblockSource(S1)).unwrap();
        assert_eq!(only(&m), (FilterMode::Exclude, vec![]));
        // An empty filter may change mode.
        run(&mut m, MembershipOp::JoinSource(S2)).unwrap();
        assert_eq!(only(&m), (FilterMode::Include, vec![S2]));
        run(&mut m, MembershipOp::Leave).unwrap();
        assert!(m.is_empty());
    }

    #[test]
    fn ip_msfilter_replaces_a_joined_groups_filter_whole() {
        let mut m = SocketMemberships::default();
        let set = |m: &mut SocketMemberships, mode, sources: &[Ipv4Addr]| {
            let plan = m.plan_filter(G, 0, mode, sources)?;
            m.apply(plan.clone());
            Ok::<Plan, MembershipError>(plan)
        };
        // No prior join: EINVAL; leaving what was not joined: EADDRNOTAVAIL.
        assert_eq!(
            set(&mut m, FilterMode::Exclude, &[S1]),
            Err(MembershipError::WrongMode)
        );
        assert_eq!(
            set(&mut m, FilterMode::Include, &[]),
            Err(MembershipError::NotJoined)
        );
        run(&mut m, MembershipOp::Join).unwrap();
        // EXCLUDE({}) -> INCLUDE({S1, S2}), a duplicate counted once.
        let plan = set(&mut m, FilterMode::Include, &[S2, S1, S2]).unwrap();
        assert_eq!(plan.old.map(|o| o.mode), Some(FilterMode::Exclude));
        assert_eq!(only(&m), (FilterMode::Include, vec![S1, S2]));
        set(&mut m, FilterMode::Exclude, &[S2]).unwrap();
        assert_eq!(only(&m), (FilterMode::Exclude, vec![S2]));
        let many: Vec<_> = (1..=11).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
        assert_eq!(
            set(&mut m, FilterMode::Include, &many),
            Err(MembershipError::TooManySources)
        );
        // INCLUDE({}) leaves.
        assert_eq!(set(&mut m, FilterMode::Include, &[]).unwrap().new, None);
        assert!(m.is_empty());
    }

    #[test]
    fn a_filter_holds_at_most_ten_sources() {
        let mut m = SocketMemberships::default();
        for i in 1..=MAX_SOURCES as u8 {
            run(
                &mut m,
                MembershipOp::JoinSource(Ipv4Addr::new(192, 0, 2, i)),
            )
            .unwrap();
        }
        assert_eq!(
            run(
                &mut m,
                MembershipOp::JoinSource(Ipv4Addr::new(192, 0, 2, 99))
            ),
            Err(MembershipError::TooManySources)
        );
        assert_eq!(only(&m).1.len(), MAX_SOURCES);
    }
}
