//! Which socket a port's datagram goes to: the bindings per port (the
//! overlap rules of `bind`, SO_REUSEADDR and SO_REUSEPORT sharing), RFC 6056
//! ephemeral ports, and the demultiplexing of a received datagram.

use core::net::{Ipv4Addr, SocketAddrV4};

use super::{UdpSockets, WILDCARD};

/// A socket bound to a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Binding {
    pub(super) index: u32,
    pub(super) addr: Ipv4Addr,
    pub(super) reuse_addr: bool,
    pub(super) reuse_port: bool,
}

impl Binding {
    /// Whether it and `other` may share an address and port.
    pub(super) fn shares_with(&self, reuse_addr: bool, reuse_port: bool) -> bool {
        (reuse_addr && self.reuse_addr) || (reuse_port && self.reuse_port)
    }
}

impl UdpSockets {
    /// The socket for a datagram to `dst:port` from `from`: the one bound
    /// to that address, else the wildcard one; a connected socket only
    /// matches its peer.
    pub(super) fn demux(&self, dst: Ipv4Addr, port: u16, from: SocketAddrV4) -> Option<u32> {
        if self.shared > 0 {
            return self.demux_shared(dst, port, from);
        }
        let accepts = |index: u32| {
            self.slots[index as usize]
                .socket
                .as_ref()
                .is_some_and(|s| s.peer.is_none_or(|p| p == from))
        };
        [dst, WILDCARD]
            .into_iter()
            .filter_map(|a| self.bound.get(&SocketAddrV4::new(a, port)).copied())
            .find(|&i| accepts(i))
    }

    /// [`Self::demux`] while some sockets share an address (SO_REUSEADDR,
    /// SO_REUSEPORT): of those on the port that take the datagram, one
    /// connected to its source first, then one bound to its address rather
    /// than the wildcard (Linux's `compute_score`); among the best, the one
    /// the 4-tuple's hash picks if they all set SO_REUSEPORT (Linux's
    /// `reuseport_select_sock`), else the newest.
    #[cold]
    #[inline(never)]
    fn demux_shared(&self, dst: Ipv4Addr, port: u16, from: SocketAddrV4) -> Option<u32> {
        let users = self.port_users.get(&port)?;
        let score = |b: &Binding| {
            let s = self.slots[b.index as usize].socket.as_ref()?;
            let connected = match s.peer {
                Some(p) if p == from => 2,
                Some(_) => return None,
                None => 0,
            };
            let specific = match b.addr {
                a if a == dst => 1,
                WILDCARD => 0,
                _ => return None,
            };
            Some(connected + specific)
        };
        let best = users.iter().filter_map(score).max()?;
        let top = || users.iter().filter(move |b| score(b) == Some(best));
        let count = top().count();
        if count > 1 && top().all(|b| b.reuse_port) {
            let mut tuple = [0u8; 12];
            tuple[..4].copy_from_slice(&dst.octets());
            tuple[4..8].copy_from_slice(&from.ip().octets());
            tuple[8..10].copy_from_slice(&port.to_be_bytes());
            tuple[10..].copy_from_slice(&from.port().to_be_bytes());
            let hash = self.reuseport_key.hash(&tuple) as u32;
            let i = (u64::from(hash) * count as u64) >> 32;
            return top().nth(i as usize).map(|b| b.index);
        }
        top().next_back().map(|b| b.index)
    }

    /// Whether `addr:port` may be bound: no socket on that address or on
    /// the wildcard address, and for the wildcard address none at all;
    /// unless this one and every one in the way set SO_REUSEADDR, or all
    /// set SO_REUSEPORT (`reuse`: this one's two).
    pub(super) fn is_free(&self, addr: Ipv4Addr, port: u16, reuse: (bool, bool)) -> bool {
        self.port_users.get(&port).is_none_or(|users| {
            users
                .iter()
                .filter(|b| b.addr == addr || b.addr == WILDCARD || addr == WILDCARD)
                .all(|b| b.shares_with(reuse.0, reuse.1))
        })
    }

    /// RFC 6056 §3.3.1 "Algorithm 1: Simple Port Randomization": a random
    /// start, then the next free port. (Algorithm 4, which TCP uses, keys on
    /// the destination; an unconnected UDP socket has none, and a per-source
    /// sequence would make DNS ports guessable.)
    pub(super) fn ephemeral(&mut self, addr: Ipv4Addr) -> Option<u16> {
        let (lo, hi) = self.port_range;
        if lo == 0 || lo > hi {
            return None;
        }
        let n = u32::from(hi - lo) + 1;
        let start = self.rng.below(u64::from(n)) as u32;
        (0..n)
            .map(|i| lo + ((start + i) % n) as u16)
            .find(|&p| self.is_free(addr, p, (false, false)))
    }

    pub(super) fn attach(&mut self, index: u32, local: SocketAddrV4) {
        let (reuse_addr, reuse_port) = self.slots[index as usize]
            .socket
            .as_ref()
            .map_or((false, false), |s| (s.reuse_addr, s.reuse_port));
        if self.bound.insert(local, index).is_some() {
            self.shared += 1;
        }
        self.port_users
            .entry(local.port())
            .or_default()
            .push(Binding {
                index,
                addr: *local.ip(),
                reuse_addr,
                reuse_port,
            });
        if let Some(s) = self.slots[index as usize].socket.as_mut() {
            s.local = Some(local);
        }
    }

    pub(super) fn unbind(&mut self, index: u32) {
        let Some(s) = self.slots[index as usize].socket.as_mut() else {
            return;
        };
        let Some(local) = s.local.take() else {
            return;
        };
        let Some(users) = self.port_users.get_mut(&local.port()) else {
            return;
        };
        users.retain(|b| b.index != index);
        // The newest left on the address takes it, if any.
        let next = users.iter().rev().find(|b| b.addr == *local.ip());
        match (self.bound.get(&local) == Some(&index), next) {
            (true, Some(b)) => {
                self.bound.insert(local, b.index);
                self.shared -= 1;
            }
            (true, None) => {
                self.bound.remove(&local);
            }
            (false, _) => self.shared -= 1,
        }
        if users.is_empty() {
            self.port_users.remove(&local.port());
        }
    }
}
