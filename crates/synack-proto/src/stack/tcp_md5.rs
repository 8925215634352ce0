//! The TCP MD5 signature option (RFC 2385) in the stack: which segments
//! are signed and checked, and with which key. The digest itself is
//! `tcp::md5`'s.
//!
//! Read first: RFC 2385 §2.0 ("every segment sent on a TCP connection to be
//! protected against spoofing will contain the 16-byte MD5 digest"), §3.0
//! and §4.0 ("Upon receiving a signed segment, the receiver must validate
//! it ... A failing comparison must result in the segment being dropped and
//! must not produce any response back to the sender ... Unsigned segments
//! received where a signature is expected must be discarded too"), and
//! Linux's TCP_MD5SIG (net/ipv4/tcp_ipv4.c, `tcp_inbound_md5_hash`,
//! `tcp_v4_send_reset`), whose rules these are:
//! - a listener keeps keys for peers, each an address and prefix length
//!   (TCP_MD5SIG_EXT's `tcpm_prefixlen`); a segment from a peer takes the
//!   key of the longest prefix that holds it;
//! - a connection has the key its connect was given, or, for a passive
//!   open, its listener's key for its peer, and keeps it in TIME-WAIT;
//! - a segment for a connection, TIME-WAIT entry or listener that has a
//!   key for its sender is dropped unless it carries a valid signature
//!   (`TCPMD5NotFound`, `TCPMD5Failure`), and one that carries a signature
//!   where no key is expected is dropped too (`TCPMD5Unexpected`); no
//!   answer goes back for any of them;
//! - what the stack answers a verified segment with (a reset, a TIME-WAIT
//!   ACK, a SYN cookie's SYN-ACK) is signed with the key that verified it;
//!   a signed segment for no listener gets no reset (Linux finds no key to
//!   sign it with).
//!
//! A signed connection's segments go one at a time and summed whole: no
//! GSO, TSO or checksum offload (each has a digest of its own, Linux's
//! `sk_nocaps_add(sk, NETIF_F_GSO_MASK)`), and the receive path's
//! coalescing stands aside while any key exists. A stack with no key pays
//! one test a segment each way.

use core::net::Ipv4Addr;
use std::collections::HashMap;

use super::egress::Written;
use super::slab::Key;
use super::tcp::TcpReply;
use super::tcp_ip_options::IpOut;
use super::{ConnHandle, Demux, FourTuple, ListenerHandle, Ready, Stack, slots};
use crate::tcp::conn::SetOptionError;
use crate::tcp::md5::{self, Md5Key, Verdict};
use crate::wire::tcp::{TcpPacket, TcpRepr};

/// What a connection key belongs to: the 4-tuple's connection or TIME-WAIT
/// entry (a new connection on the tuple must not lose its key when the old
/// one's slot is freed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Md5Owner {
    Conn(Key),
    TimeWait(Key),
}

/// A listener's key for the peers in `addr`/`prefix_len`.
#[derive(Clone, Copy, Debug)]
struct Md5Peer {
    addr: Ipv4Addr,
    prefix_len: u8,
    key: Md5Key,
}

impl Md5Peer {
    fn holds(&self, peer: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0);
        u32::from(peer) & mask == u32::from(self.addr) & mask
    }
}

/// Every key the stack holds: the connections' and TIME-WAIT entries' by
/// 4-tuple, the listeners' by listener.
#[derive(Debug, Default)]
pub(super) struct Md5Table {
    conns: HashMap<FourTuple, (Md5Owner, Md5Key), rustc_hash::FxBuildHasher>,
    listeners: HashMap<Key, Vec<Md5Peer>, rustc_hash::FxBuildHasher>,
}

impl Md5Table {
    /// Whether any key exists (then every segment is looked at).
    fn is_active(&self) -> bool {
        !self.conns.is_empty() || !self.listeners.is_empty()
    }

    fn conn_key(&self, tuple: &FourTuple) -> Option<Md5Key> {
        self.conns.get(tuple).map(|(_, k)| *k)
    }

    /// Listener `l`'s key for `peer`: the longest prefix's.
    fn listener_key(&self, l: Key, peer: Ipv4Addr) -> Option<Md5Key> {
        self.listeners
            .get(&l)?
            .iter()
            .filter(|p| p.holds(peer))
            .max_by_key(|p| p.prefix_len)
            .map(|p| p.key)
    }
}

impl Stack {
    /// TCP_MD5SIG (TCP_MD5SIG_EXT with a prefix) on a listener: connections
    /// from peers in `peer`/`prefix_len` must sign every segment with
    /// `key` (RFC 2385), and its children sign theirs. `None` deletes the
    /// key for exactly that prefix. A peer without a key connects
    /// unsigned, as before. Refused with `InvalidValue` for a prefix past
    /// 32 or a key of more than 80 bytes (Linux's EINVAL), or the deletion
    /// of a key it does not have (Linux's ENOENT).
    pub fn tcp_listener_set_md5_key(
        &mut self,
        listener: ListenerHandle,
        peer: Ipv4Addr,
        prefix_len: u8,
        key: Option<&[u8]>,
    ) -> Result<(), SetOptionError> {
        if prefix_len > 32 {
            return Err(SetOptionError::InvalidValue);
        }
        let key = match key {
            Some(k) => Some(Md5Key::new(k).ok_or(SetOptionError::InvalidValue)?),
            None => None,
        };
        if self.listeners.get(listener.0).is_none() {
            return Err(SetOptionError::InvalidHandle);
        }
        let peers = self.md5.listeners.entry(listener.0).or_default();
        let same = |p: &Md5Peer| p.addr == peer && p.prefix_len == prefix_len;
        match key {
            // A prefix's key is replaced where it is (Linux's
            // `tcp_md5_do_add` updates the key it finds).
            Some(key) => match peers.iter_mut().find(|p| same(p)) {
                Some(p) => p.key = key,
                None => peers.push(Md5Peer {
                    addr: peer,
                    prefix_len,
                    key,
                }),
            },
            None => {
                let before = peers.len();
                peers.retain(|p| !same(p));
                if peers.len() == before {
                    if peers.is_empty() {
                        self.md5.listeners.remove(&listener.0);
                    }
                    return Err(SetOptionError::InvalidValue);
                }
            }
        }
        if peers.is_empty() {
            self.md5.listeners.remove(&listener.0);
        }
        self.refresh_md5_active();
        Ok(())
    }

    /// A listener's keys: each peer prefix (address, length) and its key,
    /// the newest first as `ss -i` shows them (`md5keys:`; Linux adds a
    /// key at its list's head); empty for a stale handle.
    pub fn tcp_listener_md5_keys(&self, listener: ListenerHandle) -> Vec<(Ipv4Addr, u8, Md5Key)> {
        let peers = self.md5.listeners.get(&listener.0);
        peers.map_or(Vec::new(), |p| {
            p.iter()
                .rev()
                .map(|p| (p.addr, p.prefix_len, p.key))
                .collect()
        })
    }

    /// A connection's key, for its peer (a /32, as Linux's child keeps a
    /// copy for its peer alone), if it signs.
    pub fn tcp_md5_key(&self, c: ConnHandle) -> Option<(Ipv4Addr, u8, Md5Key)> {
        let key = self.conn_md5(c.0)?;
        let entry = self.conns.get(c.0)?;
        Some((*entry.conn.remote().ip(), 32, key))
    }

    /// Tests: how many connection and TIME-WAIT keys the stack holds.
    #[cfg(test)]
    pub(super) fn md5_conn_keys(&self) -> usize {
        self.md5.conns.len()
    }

    /// Whether a connection signs its segments (RFC 2385).
    pub fn tcp_signs_md5(&self, c: ConnHandle) -> bool {
        self.conns.get(c.0).is_some_and(|e| e.conn.signs_md5())
    }

    /// Whether any key exists, and whether any connection's segments take
    /// [`Stack::transmit_conn_special`], after a change of either.
    pub(super) fn refresh_md5_active(&mut self) {
        self.md5_active = self.md5.is_active();
        self.refresh_tx_special();
    }

    /// A listener is gone: so are its keys.
    #[cold]
    #[inline(never)]
    pub(super) fn forget_listener_md5(&mut self, l: Key) {
        self.md5.listeners.remove(&l);
        self.refresh_md5_active();
    }

    /// Connection `key` (on `tuple`) signs with `md5` from now on: before
    /// its SYN or SYN-ACK goes. `keep_timestamps`: a SYN cookie's child.
    pub(super) fn sign_conn(&mut self, key: Key, tuple: FourTuple, md5: Md5Key, keep_ts: bool) {
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        entry.conn.sign_md5(keep_ts);
        self.md5.conns.insert(tuple, (Md5Owner::Conn(key), md5));
        self.refresh_md5_active();
    }

    /// The segment on `tuple` just delivered (`seg`, found as `found`)
    /// made a listener's child: it takes the listener's key for the peer,
    /// if there is one, before it sends anything (its SYN-ACK goes when the
    /// stack is polled). A SYN cookie's child (made by an ACK) keeps the
    /// timestamps its cookie agreed.
    fn sign_new_child(&mut self, tuple: &FourTuple, found: Option<Demux>, seg: &TcpRepr<'_>) {
        let made = seg.flags.syn() || found.is_none();
        let Some(Demux::Conn(child)) = self.demux.get(slots!(self), tuple) else {
            return;
        };
        if !made || found == Some(Demux::Conn(child)) || self.tcp_signs_md5(ConnHandle(child)) {
            return;
        }
        if let Some(md5) = self.md5_key_for(None, tuple) {
            self.sign_conn(child, *tuple, md5, !seg.flags.syn());
        }
    }

    /// The key of `tuple` leaves `from` (a connection or TIME-WAIT entry
    /// that ends): for `to`, or gone.
    #[cold]
    #[inline(never)]
    pub(super) fn move_md5(&mut self, tuple: &FourTuple, from: Md5Owner, to: Option<Md5Owner>) {
        match (self.md5.conns.get_mut(tuple), to) {
            (Some((owner, _)), Some(to)) if *owner == from => *owner = to,
            (Some((owner, _)), None) if *owner == from => {
                self.md5.conns.remove(tuple);
                self.refresh_md5_active();
            }
            _ => {}
        }
    }

    /// The key a segment on `tuple` must be signed with: its connection's
    /// or TIME-WAIT entry's, else the listener's (the one that would take
    /// it) for its sender.
    fn md5_key_for(&mut self, found: Option<Demux>, tuple: &FourTuple) -> Option<Md5Key> {
        if found.is_some() {
            return self.md5.conn_key(tuple);
        }
        let mut l = self.listen_map.find(tuple.local)?;
        if self.listen_map.has_groups() {
            l = self.reuseport_pick(l, tuple);
        }
        self.md5.listener_key(l, *tuple.remote.ip())
    }

    /// [`Stack::handle_tcp`]'s path while any key exists or for a signed
    /// segment: checked whole (no staging), its signature verified against
    /// the key expected (RFC 2385 §4.0), then delivered as any, anything
    /// the stack answers it with signed by that key.
    #[cold]
    #[inline(never)]
    pub(super) fn handle_tcp_signed(
        &mut self,
        packet: &TcpPacket<&[u8]>,
        (src, dst): (Ipv4Addr, Ipv4Addr),
        tuple: &FourTuple,
        found: Option<Demux>,
        seg: &TcpRepr<'_>,
    ) {
        if !self.rx.csum_trusted && !packet.verify_checksum(src, dst) {
            return self.drop_bad_checksum(None);
        }
        let expected = self.md5_key_for(found, tuple);
        let ext = &mut self.env.stats.tcp_ext;
        match expected {
            None if seg.options.md5 => {
                ext.tcp_md5_unexpected += 1;
                return;
            }
            None => {}
            Some(key) => match md5::verify(&key, src, dst, packet.as_bytes()) {
                Verdict::Valid => self.rx_md5 = Some(key),
                Verdict::Missing => {
                    ext.tcp_md5_not_found += 1;
                    return;
                }
                Verdict::Wrong => {
                    ext.tcp_md5_failure += 1;
                    return;
                }
            },
        }
        self.deliver_found(found, tuple, seg);
        self.rx_md5 = None;
        self.sign_new_child(tuple, found, seg);
    }

    /// The key connection `key` signs with, if any.
    fn conn_md5(&self, key: Key) -> Option<Md5Key> {
        let entry = self.conns.get(key)?;
        if !entry.conn.signs_md5() {
            return None;
        }
        let tuple = FourTuple {
            local: entry.conn.local(),
            remote: entry.conn.remote(),
        };
        self.md5.conn_key(&tuple)
    }

    /// [`Stack::transmit_conn`] for a connection with IP options or a
    /// signature: by its options' route, its segment signed; `None` for
    /// one with neither (the common path goes on).
    #[cold]
    #[inline(never)]
    pub(super) fn transmit_conn_special(
        &mut self,
        ready: Ready,
        buf: &mut [u8],
    ) -> Option<Option<Written>> {
        let options = self.tcp_ip_options.get(&ready.key).copied();
        let md5 = if self.md5_active {
            self.conn_md5(ready.key)
        } else {
            None
        };
        if options.is_none() && md5.is_none() {
            return None;
        }
        let dst = options.and_then(|o| o.first_hop()).unwrap_or(ready.dst);
        // With no way to the first hop the segment is lost, as with no
        // route at all.
        let hop = match options {
            Some(o) => self.first_hop_route(dst, Some(o)),
            None => self.hop_to(dst),
        };
        let out = IpOut {
            options: options.as_ref(),
            dst,
            md5: md5.as_ref(),
        };
        Some(self.transmit_conn_on(ready, hop, buf, Some(out)))
    }

    /// Signs a reply to the segment being delivered, if a key verified it.
    pub(super) fn sign_reply(&self, reply: TcpReply) -> (TcpReply, Option<Md5Key>) {
        match self.rx_md5 {
            Some(key) => (reply.with_md5(), Some(key)),
            None => (reply, None),
        }
    }
}
