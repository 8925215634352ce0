//! A group's source filters on one interface: every socket's filter merged
//! into the interface's, and how a change of the interface's reads as
//! IGMPv3 records.
//!
//! Read first: RFC 3376 §3.1 (a socket's state: a filter mode, INCLUDE or
//! EXCLUDE, and a source list; leaving a group is INCLUDE with no
//! sources), §3.2 (the interface's state: EXCLUDE if any socket excludes,
//! with the sources every excluding socket excludes and no including
//! socket includes; else INCLUDE with every socket's sources), §5.1 (the
//! state-change records: a new filter mode is CHANGE_TO_INCLUDE_MODE or
//! CHANGE_TO_EXCLUDE_MODE with the new list, a new list in the same mode
//! is ALLOW_NEW_SOURCES and BLOCK_OLD_SOURCES of the difference).
//!
//! As Linux does it (`ip_mc_add_src`, `sf_setstate`): the interface keeps
//! counts, how many sockets hold the group, how many of them exclude, and
//! per source how many include it and how many exclude it, so a socket's
//! change costs its own sources, not a walk over every socket.

use core::net::Ipv4Addr;

/// RFC 3376 §3.1: a filter's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterMode {
    /// Only the listed sources.
    Include,
    /// Every source but the listed ones.
    Exclude,
}

/// One socket's filter for a group on an interface (RFC 3376 §3.1): a plain
/// join (IP_ADD_MEMBERSHIP) is EXCLUDE with no sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketFilter<'a> {
    pub mode: FilterMode,
    pub sources: &'a [Ipv4Addr],
}

impl SocketFilter<'_> {
    /// Any-source membership (IP_ADD_MEMBERSHIP): EXCLUDE, nothing excluded.
    pub const ANY_SOURCE: SocketFilter<'static> = SocketFilter {
        mode: FilterMode::Exclude,
        sources: &[],
    };
}

/// The interface's state for a group (RFC 3376 §3.2), sources in ascending
/// order. INCLUDE with no sources is no reception state at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceFilter {
    pub mode: FilterMode,
    pub sources: Vec<Ipv4Addr>,
}

impl InterfaceFilter {
    /// Whether the interface receives anything of the group.
    pub fn has_state(&self) -> bool {
        self.mode == FilterMode::Exclude || !self.sources.is_empty()
    }
}

/// How the interface's state changed (RFC 3376 §5.1's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Delta {
    Unchanged,
    /// A new filter mode: a CHANGE_TO_INCLUDE_MODE or CHANGE_TO_EXCLUDE_MODE
    /// record with the new list.
    Mode,
    /// The same mode, another list: the sources now allowed and those now
    /// blocked (either may be empty).
    Sources {
        allow: Vec<Ipv4Addr>,
        block: Vec<Ipv4Addr>,
    },
}

/// RFC 3376 §5.1: from state `old` to `new`. INCLUDE(A) to INCLUDE(B) allows
/// B-A and blocks A-B; EXCLUDE(A) to EXCLUDE(B) allows A-B and blocks B-A.
pub(super) fn delta(old: &InterfaceFilter, new: &InterfaceFilter) -> Delta {
    if old.mode != new.mode {
        return Delta::Mode;
    }
    let added = minus(&new.sources, &old.sources);
    let removed = minus(&old.sources, &new.sources);
    if added.is_empty() && removed.is_empty() {
        return Delta::Unchanged;
    }
    match new.mode {
        FilterMode::Include => Delta::Sources {
            allow: added,
            block: removed,
        },
        FilterMode::Exclude => Delta::Sources {
            allow: removed,
            block: added,
        },
    }
}

/// The addresses of `a` not in `b`.
pub(super) fn minus(a: &[Ipv4Addr], b: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    a.iter().filter(|s| !b.contains(s)).copied().collect()
}

/// One source's counts: sockets including it, sockets excluding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SourceCount {
    addr: Ipv4Addr,
    include: u32,
    exclude: u32,
}

/// Every socket's filter for one group on one interface, as counts.
#[derive(Debug, Clone, Default)]
pub(super) struct Filters {
    /// Sockets holding the group, either mode.
    users: u32,
    /// Of them, the ones in EXCLUDE mode.
    excluders: u32,
    /// Sources some socket names, ascending.
    sources: Vec<SourceCount>,
}

impl Filters {
    /// Sockets holding the group.
    pub(super) fn users(&self) -> u32 {
        self.users
    }

    /// A socket's filter comes in.
    pub(super) fn add(&mut self, f: SocketFilter<'_>) {
        self.users += 1;
        if f.mode == FilterMode::Exclude {
            self.excluders += 1;
        }
        for &addr in f.sources {
            let i = match self.sources.binary_search_by_key(&addr, |s| s.addr) {
                Ok(i) => i,
                Err(i) => {
                    let zero = SourceCount {
                        addr,
                        include: 0,
                        exclude: 0,
                    };
                    self.sources.insert(i, zero);
                    i
                }
            };
            match f.mode {
                FilterMode::Include => self.sources[i].include += 1,
                FilterMode::Exclude => self.sources[i].exclude += 1,
            }
        }
    }

    /// A socket's filter goes (one [`Filters::add`] made).
    pub(super) fn remove(&mut self, f: SocketFilter<'_>) {
        self.users = self.users.saturating_sub(1);
        if f.mode == FilterMode::Exclude {
            self.excluders = self.excluders.saturating_sub(1);
        }
        for &addr in f.sources {
            if let Ok(i) = self.sources.binary_search_by_key(&addr, |s| s.addr) {
                let s = &mut self.sources[i];
                match f.mode {
                    FilterMode::Include => s.include = s.include.saturating_sub(1),
                    FilterMode::Exclude => s.exclude = s.exclude.saturating_sub(1),
                }
                if s.include == 0 && s.exclude == 0 {
                    self.sources.remove(i);
                }
            }
        }
    }

    /// RFC 3376 §3.2: EXCLUDE if any socket excludes, listing the sources
    /// every excluding socket excludes and no including socket includes;
    /// else INCLUDE, listing every included source.
    pub(super) fn state(&self) -> InterfaceFilter {
        if self.excluders > 0 {
            InterfaceFilter {
                mode: FilterMode::Exclude,
                sources: self
                    .sources
                    .iter()
                    .filter(|s| s.exclude == self.excluders && s.include == 0)
                    .map(|s| s.addr)
                    .collect(),
            }
        } else {
            InterfaceFilter {
                mode: FilterMode::Include,
                sources: self
                    .sources
                    .iter()
                    .filter(|s| s.include > 0)
                    .map(|s| s.addr)
                    .collect(),
            }
        }
    }

    /// Whether the interface receives anything of the group
    /// ([`InterfaceFilter::has_state`] of [`Filters::state`], without
    /// building it).
    pub(super) fn has_state(&self) -> bool {
        self.excluders > 0 || self.sources.iter().any(|s| s.include > 0)
    }

    /// Whether the interface's state lets a datagram from `src` in (Linux
    /// `ip_check_mc_rcu`), without building the state.
    pub(super) fn allows(&self, src: Ipv4Addr) -> bool {
        match self.sources.binary_search_by_key(&src, |s| s.addr) {
            Ok(i) => {
                let s = &self.sources[i];
                s.include > 0 || (self.excluders > 0 && s.exclude != self.excluders)
            }
            Err(_) => self.excluders > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const S2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const S3: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);

    fn include(sources: &[Ipv4Addr]) -> SocketFilter<'_> {
        SocketFilter {
            mode: FilterMode::Include,
            sources,
        }
    }

    fn exclude(sources: &[Ipv4Addr]) -> SocketFilter<'_> {
        SocketFilter {
            mode: FilterMode::Exclude,
            sources,
        }
    }

    fn state(mode: FilterMode, sources: &[Ipv4Addr]) -> InterfaceFilter {
        InterfaceFilter {
            mode,
            sources: sources.to_vec(),
        }
    }

    #[test]
    fn the_interface_state_merges_the_sockets_as_rfc_3376_section_3_2_says() {
        let mut f = Filters::default();
        assert_eq!(f.state(), state(FilterMode::Include, &[]));
        assert!(!f.state().has_state() && !f.has_state() && !f.allows(S1));
        // Two INCLUDE sockets: the union.
        f.add(include(&[S2, S1]));
        f.add(include(&[S2, S3]));
        assert_eq!(f.state(), state(FilterMode::Include, &[S1, S2, S3]));
        assert!(f.allows(S3) && !f.allows(Ipv4Addr::new(192, 0, 2, 9)));
        assert!(f.has_state());
        // RFC 3376 §3.2's example: EXCLUDE sockets take the intersection of
        // their lists, minus every INCLUDE socket's sources.
        let mut f = Filters::default();
        f.add(exclude(&[S1, S2, S3]));
        f.add(exclude(&[S2, S3]));
        assert_eq!(f.state(), state(FilterMode::Exclude, &[S2, S3]));
        f.add(include(&[S3]));
        assert_eq!(f.state(), state(FilterMode::Exclude, &[S2]));
        assert!(f.allows(S1) && !f.allows(S2) && f.allows(S3));
        assert!(f.allows(Ipv4Addr::new(203, 0, 113, 5)));
        // Every socket's filter gone: no state, no sources kept.
        f.remove(include(&[S3]));
        f.remove(exclude(&[S2, S3]));
        f.remove(exclude(&[S1, S2, S3]));
        assert_eq!(f.users(), 0);
        assert!(f.sources.is_empty());
        assert!(!f.state().has_state() && !f.has_state());
    }

    #[test]
    fn a_state_change_reads_as_rfc_3376_section_5_1_table() {
        let inc = |s: &[Ipv4Addr]| state(FilterMode::Include, s);
        let exc = |s: &[Ipv4Addr]| state(FilterMode::Exclude, s);
        // INCLUDE(A) -> INCLUDE(B): ALLOW(B-A), BLOCK(A-B).
        assert_eq!(
            delta(&inc(&[S1, S2]), &inc(&[S2, S3])),
            Delta::Sources {
                allow: vec![S3],
                block: vec![S1]
            }
        );
        // EXCLUDE(A) -> EXCLUDE(B): ALLOW(A-B), BLOCK(B-A).
        assert_eq!(
            delta(&exc(&[S1, S2]), &exc(&[S2, S3])),
            Delta::Sources {
                allow: vec![S1],
                block: vec![S3]
            }
        );
        // A new mode, whatever the lists; no change at all.
        assert_eq!(delta(&inc(&[]), &exc(&[])), Delta::Mode);
        assert_eq!(delta(&exc(&[S1]), &inc(&[S1])), Delta::Mode);
        assert_eq!(delta(&exc(&[S1]), &exc(&[S1])), Delta::Unchanged);
    }
}
