//! Which local ports connections and TIME-WAIT entries may hold, for bind
//! conflicts: a listen without SO_REUSEADDR fails with AddrInUse when any
//! connection, TIME-WAIT included, holds its address and port (as Linux's
//! bind does).
//!
//! A per-address count (a hash map) answered that question exactly, but
//! every connection paid an insert and a removal for a question only
//! `listen` asks. Here a connection only sets its port's bit; nothing
//! happens when it ends. `listen` on a marked port scans the connections
//! and TIME-WAIT entries for the exact answer and clears the bit when no
//! holder of the port is left: the same verdict, paid by the rare listen
//! on a port that was in use rather than by every handshake.
//!
//! The listening addresses live here too ([`ListenMap`]): a segment for no
//! connection and every active open's port look them up.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::HashMap;

use super::slab::Key;
use crate::tcp::reuseport::ReuseportSelect;

/// Number of 64-bit words for one bit per port.
const WORDS: usize = (u16::MAX as usize + 1) / 64;

/// One bit per local port. Invariant: a port some connection or TIME-WAIT
/// entry holds is marked (a marked port may be free).
pub(crate) struct PortMarks(Box<[u64; WORDS]>);

impl PortMarks {
    pub fn new() -> Self {
        PortMarks(Box::new([0; WORDS]))
    }

    /// A connection (or the TIME-WAIT entry it becomes) takes `port`.
    #[inline]
    pub fn mark(&mut self, port: u16) {
        self.0[usize::from(port >> 6)] |= 1 << (port & 63);
    }

    pub fn is_marked(&self, port: u16) -> bool {
        self.0[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// Whether one of `locals` (every connection's and TIME-WAIT entry's
    /// local address) holds `port` on an address `on` accepts. Exact; an
    /// unmarked port is free without a scan, and a scan that finds no
    /// holder of the port on any address clears its mark.
    pub fn held(
        &mut self,
        port: u16,
        locals: impl Iterator<Item = SocketAddrV4>,
        on: impl Fn(Ipv4Addr) -> bool,
    ) -> bool {
        if !self.is_marked(port) {
            return false;
        }
        let mut any = false;
        for local in locals.filter(|l| l.port() == port) {
            if on(*local.ip()) {
                return true;
            }
            any = true;
        }
        if !any {
            self.0[usize::from(port >> 6)] &= !(1 << (port & 63));
        }
        false
    }
}

/// The application's listening addresses (FxHash: a peer's segments look
/// keys up but cannot add any), and how many of them are specific
/// addresses rather than the wildcard.
///
/// SO_REUSEPORT: listeners that set it may share an address and port (a
/// reuseport group, Linux's `sock_reuseport`). The map keeps a group's
/// first listener, as it keeps a lone one, and `groups` the whole group;
/// the stack picks a segment's listener in it by the group's selection
/// program if it has one, else by a keyed hash of the 4-tuple
/// (`Stack::reuseport_pick`).
#[derive(Default)]
pub(crate) struct ListenMap {
    map: HashMap<SocketAddrV4, Key, rustc_hash::FxBuildHasher>,
    /// Every listener bound with SO_REUSEPORT, by address.
    groups: HashMap<SocketAddrV4, Group, rustc_hash::FxBuildHasher>,
    /// Keys with a specific address: with none (a server listening on
    /// 0.0.0.0, the usual case), [`ListenMap::get`] looks up the wildcard
    /// alone instead of missing on the specific address first.
    specific: usize,
    /// [`ListenMap::find`]'s last answer while `specific` is 0: a port and
    /// its wildcard listener (or none). Cleared by every insert and
    /// removal, so it is the map's answer; a server's SYNs mostly come to
    /// one port, and a hit is a compare where the hash-map lookup was
    /// about 30 instructions of code on a handshake's path.
    last: Option<(u16, Option<Key>)>,
}

/// A reuseport group.
#[derive(Default)]
struct Group {
    /// In bind order.
    members: Vec<Key>,
    /// Its selection program (SO_ATTACH_REUSEPORT_CBPF's place).
    select: Option<ReuseportSelect>,
}

impl ListenMap {
    pub fn insert(&mut self, local: SocketAddrV4, key: Key) {
        self.last = None;
        if self.map.insert(local, key).is_none() && !local.ip().is_unspecified() {
            self.specific += 1;
        }
    }

    /// Adds a SO_REUSEPORT listener to its address's group (making the
    /// group if it is the first).
    pub fn join(&mut self, local: SocketAddrV4, key: Key) {
        let group = &mut self.groups.entry(local).or_default().members;
        group.push(key);
        if group.len() == 1 {
            self.insert(local, key);
        }
    }

    /// Removes listener `key` from `local`: a group's next member takes
    /// its place in the map.
    pub fn remove(&mut self, local: SocketAddrV4, key: Key) {
        if let Some(group) = self.groups.get_mut(&local) {
            group.members.retain(|&k| k != key);
            if let Some(&first) = group.members.first() {
                self.last = None;
                self.map.insert(local, first);
                return;
            }
            self.groups.remove(&local);
        }
        self.last = None;
        if self.map.remove(&local).is_some() && !local.ip().is_unspecified() {
            self.specific -= 1;
        }
    }

    /// Every listening address with its (first) listener.
    pub fn entries(&self) -> impl Iterator<Item = (&SocketAddrV4, &Key)> + '_ {
        self.map.iter()
    }

    /// Whether any listener set SO_REUSEPORT: only then is a segment's
    /// listener picked in a group.
    #[inline(always)]
    pub fn has_groups(&self) -> bool {
        !self.groups.is_empty()
    }

    /// The SO_REUSEPORT group on exactly `local`, if any.
    pub fn group(&self, local: SocketAddrV4) -> Option<&[Key]> {
        self.groups.get(&local).map(|g| g.members.as_slice())
    }

    /// The group on `local` and its selection program, if it has one.
    pub fn group_select(&self, local: SocketAddrV4) -> Option<(&[Key], &ReuseportSelect)> {
        let g = self.groups.get(&local)?;
        Some((&g.members, g.select.as_ref()?))
    }

    /// Sets (or with `None` clears) the selection program of the group on
    /// `local`; the program it had. `Err` if there is no group there.
    pub fn set_group_select(
        &mut self,
        local: SocketAddrV4,
        select: Option<ReuseportSelect>,
    ) -> Result<Option<ReuseportSelect>, ()> {
        let g = self.groups.get_mut(&local).ok_or(())?;
        Ok(core::mem::replace(&mut g.select, select))
    }

    /// The listener for a local address and port: the specific one, else
    /// the wildcard one (Linux prefers the more specific socket).
    #[inline(always)]
    pub fn get(&self, local: SocketAddrV4) -> Option<Key> {
        let found = self.lookup(local);
        // Tests: the count is right and the two lookups this saves one of
        // agree.
        #[cfg(test)]
        {
            let specific = self.map.keys().filter(|a| !a.ip().is_unspecified());
            assert_eq!(self.specific, specific.count());
            let wildcard = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local.port());
            let both = self.map.get(&local).or_else(|| self.map.get(&wildcard));
            assert_eq!(found, both.copied(), "the listener for {local}");
        }
        found
    }

    /// [`ListenMap::get`] for a segment (a SYN, or anything for no
    /// connection), remembering the answer for the next segment to the
    /// same port.
    #[inline(always)]
    pub fn find(&mut self, local: SocketAddrV4) -> Option<Key> {
        if self.specific == 0
            && let Some((port, found)) = self.last
            && port == local.port()
        {
            #[cfg(test)]
            assert_eq!(found, self.get(local), "a stale answer for {local}");
            return found;
        }
        self.find_and_remember(local)
    }

    /// [`ListenMap::find`] when its last answer is for another port: out of
    /// line, so the hash-map lookup is not inlined where it rarely runs.
    #[inline(never)]
    fn find_and_remember(&mut self, local: SocketAddrV4) -> Option<Key> {
        let found = self.get(local);
        if self.specific == 0 {
            self.last = Some((local.port(), found));
        }
        found
    }

    #[inline(always)]
    fn lookup(&self, local: SocketAddrV4) -> Option<Key> {
        if self.specific != 0
            && let Some(&key) = self.map.get(&local)
        {
            return Some(key);
        }
        let wildcard = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local.port());
        self.map.get(&wildcard).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn find_remembers_a_port_until_the_map_changes() {
        let key = |index| Key {
            index,
            generation: 0,
        };
        let wild = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
        let mut map = ListenMap::default();
        assert_eq!(map.find(SocketAddrV4::new(A, 80)), None);
        assert_eq!(map.last, Some((80, None)), "a miss is remembered");
        map.insert(wild(80), key(1));
        assert_eq!(map.last, None, "an insert forgets");
        assert_eq!(map.find(SocketAddrV4::new(A, 80)), Some(key(1)));
        assert_eq!(
            map.find(SocketAddrV4::new(B, 80)),
            Some(key(1)),
            "any address"
        );
        assert_eq!(map.find(SocketAddrV4::new(A, 81)), None);
        assert_eq!(map.last, Some((81, None)));
        assert_eq!(map.find(SocketAddrV4::new(A, 80)), Some(key(1)));
        // A specific listener: the cache is not used.
        map.insert(SocketAddrV4::new(B, 80), key(2));
        assert_eq!(map.find(SocketAddrV4::new(B, 80)), Some(key(2)));
        assert_eq!(map.find(SocketAddrV4::new(A, 80)), Some(key(1)));
        assert_eq!(map.last, None);
        map.remove(SocketAddrV4::new(B, 80), key(2));
        assert_eq!(map.find(SocketAddrV4::new(B, 80)), Some(key(1)));
        map.remove(wild(80), key(1));
        assert_eq!(
            map.find(SocketAddrV4::new(B, 80)),
            None,
            "a removal forgets"
        );
    }

    #[test]
    fn a_reuseport_group_keeps_its_address_until_its_last_member_goes() {
        let key = |index| Key {
            index,
            generation: 0,
        };
        let a = SocketAddrV4::new(A, 80);
        let mut map = ListenMap::default();
        assert!(!map.has_groups());
        for i in 1..=3 {
            map.join(a, key(i));
        }
        assert!(map.has_groups());
        assert_eq!(map.group(a), Some(&[key(1), key(2), key(3)][..]));
        assert_eq!(map.find(a), Some(key(1)), "the first member answers");
        map.remove(a, key(1));
        assert_eq!(map.find(a), Some(key(2)), "the next takes its place");
        assert_eq!(map.group(a), Some(&[key(2), key(3)][..]));
        map.remove(a, key(3));
        map.remove(a, key(2));
        assert_eq!((map.find(a), map.group(a)), (None, None));
        assert!(!map.has_groups());
        assert_eq!(map.specific, 0);
    }

    #[test]
    fn unmarked_ports_are_free_without_looking() {
        let mut marks = PortMarks::new();
        let holder = [SocketAddrV4::new(A, 80)];
        // The invariant is the caller's: an unmarked port is not scanned.
        assert!(!marks.held(80, holder.into_iter(), |_| true));
        marks.mark(80);
        assert!(marks.held(80, holder.into_iter(), |_| true));
        assert!(!marks.is_marked(81) && !marks.is_marked(79));
    }

    #[test]
    fn a_scan_is_exact_and_clears_only_a_port_nobody_holds() {
        let mut marks = PortMarks::new();
        for port in [0, 63, 64, 80, u16::MAX] {
            marks.mark(port);
        }
        let locals = [SocketAddrV4::new(A, 80), SocketAddrV4::new(B, 64)];
        // Held on another address: not a conflict, the mark stays.
        assert!(!marks.held(80, locals.into_iter(), |ip| ip == B));
        assert!(marks.is_marked(80));
        assert!(marks.held(80, locals.into_iter(), |ip| ip == A));
        assert!(marks.held(64, locals.into_iter(), |_| true));
        // Nobody holds these any more: free, and the marks go.
        for port in [0, 63, u16::MAX] {
            assert!(!marks.held(port, locals.into_iter(), |_| true));
            assert!(!marks.is_marked(port));
        }
        assert!(marks.is_marked(64));
    }
}
