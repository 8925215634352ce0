//! IPv4 fragment reassembly with per-datagram and global memory caps and a
//! timeout.
//!
//! Read before touching: RFC 791 §3.2 (fragmentation and reassembly; the
//! key is source, destination, protocol and identification), RFC 815 (the
//! hole list, here a bounded [`RangeSet`]), RFC 1122 §3.3.2 (reassembly
//! timeout; ICMP time exceeded code 1 only if fragment 0 arrived), RFC 792
//! (time exceeded), RFC 5722 and its errata 3089 (overlapping fragments),
//! RFC 3168 §5.3 (ECN across fragments), RFC 8900 (why fragments are fragile).
//!
//! What happens to each fragment, exactly:
//!
//! - Not a fragment (MF clear, offset 0): [`FragOutcome::NotFragment`]; the
//!   caller processes it as usual.
//! - Malformed: a fragment with MF set whose length is zero or not a
//!   multiple of 8 (RFC 791 §3.2), an empty last fragment, a last fragment
//!   that ends before data already received or that disagrees with an
//!   earlier last fragment, a fragment beyond the known end: the whole
//!   datagram is discarded (`ReasmFails`), as Linux's `ip_frag_queue` does.
//! - Too large: data beyond 65,515 bytes (a 20-byte header plus it would
//!   exceed 65,535: "ping of death"): discarded likewise; checked again with
//!   the real header length on completion.
//! - Overlap: bytes already received are compared with the new fragment's.
//!   If they are identical it is a duplicate (or a harmless re-fragmentation)
//!   and is accepted. If any byte differs the whole datagram is discarded and
//!   counted in `ReasmOverlaps` and `ReasmFails`: never pick one version of
//!   the data (RFC 5722's rule, applied to IPv4 as Linux does; Linux drops
//!   every partial overlap without comparing, synack only conflicting ones).
//! - Too many holes: more than 64 disjoint pieces: discarded (bounds the
//!   hole list of a datagram sent in tiny fragments in a hostile order).
//! - Memory: every datagram is charged its buffer (header room plus the
//!   highest byte received) and a fixed overhead. When the total would exceed
//!   `ipfrag_high_thresh`, the oldest other datagrams are evicted
//!   (`ReasmFails` each) until it fits; a datagram that cannot fit alone is
//!   discarded.
//! - Timeout: a datagram incomplete `ipfrag_time` after its first fragment
//!   arrived is discarded (`ReasmTimeout`, `ReasmFails`); if fragment 0 was
//!   among its fragments, [`Reassembler::poll_expired`] hands it out so the
//!   stack can send ICMP time exceeded, code 1.
//! - ECN (RFC 3168 §5.3): fragments mixing Not-ECT and ECT are discarded;
//!   if any fragment carried CE the datagram is CE.
//! - Complete: [`FragOutcome::Complete`] lends the whole datagram, fragment
//!   0's header (options kept) with the total length, flags and checksum
//!   rewritten, followed by the payload: the caller can feed it to its
//!   normal receive path. It stays valid until the next call.
//!
//! Allocation: a datagram's buffer and hole list come from a small pool and
//! return to it, so steady fragmented traffic does not allocate.

use core::net::Ipv4Addr;
use std::collections::{HashMap, VecDeque};

use super::KeyedHasher;
use super::stats::mib;
use crate::siphash::SipKey;
use crate::storage::RangeSet;
use crate::time::{Duration, Instant};
use crate::wire::checksum::Checksum;
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet, Ipv4Repr};

mib! {
    /// Reassembly counters (Linux `Ip:` section; `ReasmOverlaps` is IpExt).
    pub struct ReasmStats in "Ip" {
        /// Datagrams discarded because their time was up.
        reasm_timeout => "ReasmTimeout",
        /// Fragments received that needed reassembly.
        reasm_reqds => "ReasmReqds",
        /// Datagrams reassembled.
        reasm_oks => "ReasmOKs",
        /// Datagrams given up, whatever the reason (timeout, overlap,
        /// malformed or oversized fragments, holes, memory).
        reasm_fails => "ReasmFails",
        /// Datagrams discarded for conflicting overlapping fragments.
        reasm_overlaps => "ReasmOverlaps",
    }
}

/// RFC 791 §3.2: fragments belong together when these four match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    pub ident: u16,
}

/// Room for the largest header in front of the payload.
const HEADROOM: usize = ipv4::MAX_HEADER_LEN;
/// The largest payload: 65,535 minus the smallest header.
const MAX_PAYLOAD: usize = u16::MAX as usize - ipv4::HEADER_LEN;
/// Disjoint pieces a datagram may have before it is given up.
const MAX_RANGES: usize = 64;
/// Charged per datagram besides its buffer: the hole list (64 x 16 bytes)
/// and the bookkeeping.
pub const DATAGRAM_OVERHEAD: usize = MAX_RANGES * 16 + 256;
/// Free buffers kept for reuse.
const POOL_MAX: usize = 8;

/// Why a fragment (and with it, its datagram) was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragDrop {
    /// Not an IPv4 datagram the parser accepts (the caller should have
    /// checked first).
    Unparsable,
    /// Bad length or offset, or inconsistent with the other fragments.
    Malformed,
    /// The datagram would exceed 65,535 bytes.
    TooLarge,
    /// Overlapping fragments disagree about the data.
    Overlap,
    /// Too many holes.
    TooManyHoles,
    /// `ipfrag_high_thresh` leaves no room for it.
    NoMemory,
    /// Not-ECT and ECT fragments mixed (RFC 3168 §5.3).
    EcnMismatch,
}

/// A reassembled datagram, lent until the next call on the reassembler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reassembled<'a> {
    /// The whole datagram's header: fragment 0's, with the total length.
    pub header: Ipv4Repr,
    /// The whole datagram: header (with fragment 0's options) and payload.
    pub datagram: &'a [u8],
    header_len: usize,
}

impl<'a> Reassembled<'a> {
    /// The payload after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.datagram[self.header_len..]
    }
}

/// What became of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragOutcome<'a> {
    /// MF clear and offset 0: a whole datagram, nothing to do here.
    NotFragment,
    /// Stored; the datagram is still incomplete.
    Queued,
    /// Nothing new: every byte was already there, identical.
    Duplicate,
    /// The last missing piece: here is the datagram.
    Complete(Reassembled<'a>),
    /// Dropped, and its datagram discarded (except for `Unparsable`, and
    /// `NoMemory`/`Malformed`/`TooLarge` on a fragment that would have
    /// started a datagram).
    Dropped(FragDrop),
}

/// A datagram given up on timeout whose fragment 0 had arrived, lent until
/// the next call: quote it in ICMP time exceeded, code 1 (RFC 792; RFC 1122
/// §3.3.2 "if fragment zero is not available, then no time-exceeded need be
/// sent at all").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired<'a> {
    pub key: FragKey,
    /// Fragment 0 as received, header and data (later data is not quoted,
    /// as in Linux). Pass it to
    /// [`icmp::emit_error`](super::icmp::emit_error).
    pub first_fragment: &'a [u8],
}

/// A buffer and hole list, pooled.
#[derive(Debug)]
struct Storage {
    /// `HEADROOM` bytes (fragment 0's header ends at `HEADROOM`), then the
    /// payload at `HEADROOM + offset`.
    data: Vec<u8>,
    ranges: RangeSet,
}

#[derive(Debug)]
struct Datagram {
    /// Creation order, to tell a live order record from a stale one.
    seq: u64,
    deadline: Instant,
    storage: Storage,
    /// Payload length, once the last fragment (MF clear) arrived.
    total: Option<usize>,
    /// Fragment 0's header length, once it arrived.
    first_header_len: Option<usize>,
    /// Bit `1 << ecn` for each ECN codepoint seen.
    ecn_seen: u8,
    charged: usize,
}

impl Datagram {
    fn high_end(&self) -> usize {
        self.storage.data.len().saturating_sub(HEADROOM)
    }
}

/// The reassembler: every incomplete datagram, bounded in memory and time.
#[derive(Debug)]
pub struct Reassembler {
    datagrams: HashMap<FragKey, Datagram, KeyedHasher>,
    /// `(seq, key)` in creation order, which is also deadline order (every
    /// datagram lives `timeout`). Records of datagrams already gone are
    /// skipped at the front and compacted when they pile up.
    order: VecDeque<(u64, FragKey)>,
    next_seq: u64,
    pool: Vec<Storage>,
    /// The storage lent by the last `Complete` or `Expired`.
    parked: Option<Storage>,
    memory: usize,
    high_thresh: usize,
    timeout: Duration,
    stats: ReasmStats,
    evictions: u64,
}

impl Reassembler {
    /// A reassembler capped at `high_thresh` bytes (`ipfrag_high_thresh`)
    /// that gives datagrams `timeout` (`ipfrag_time`) to complete. `key`
    /// keys the table's hash: sources choose the keys.
    pub fn new(high_thresh: usize, timeout: Duration, key: SipKey) -> Self {
        Reassembler {
            datagrams: HashMap::with_hasher(KeyedHasher::new(key)),
            order: VecDeque::new(),
            next_seq: 0,
            pool: Vec::new(),
            parked: None,
            memory: 0,
            high_thresh,
            timeout,
            stats: ReasmStats::default(),
            evictions: 0,
        }
    }

    pub fn stats(&self) -> &ReasmStats {
        &self.stats
    }

    /// Datagrams waiting for fragments.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Bytes charged against `ipfrag_high_thresh`.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Datagrams evicted to make room (also counted in `ReasmFails`).
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// When the oldest incomplete datagram times out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.order
            .front()
            .and_then(|(_, key)| self.datagrams.get(key))
            .map(|d| d.deadline)
    }

    /// Gives up every datagram whose time is up, silently for those without
    /// fragment 0; returns the first that has one (for ICMP time exceeded).
    /// Call in a loop until `None` when `now` reaches [`Self::poll_timeout`].
    #[must_use = "an expired fragment 0 asks for an ICMP time exceeded"]
    pub fn poll_expired(&mut self, now: Instant) -> Option<Expired<'_>> {
        self.unpark();
        loop {
            let &(_, key) = self.order.front()?;
            let d = self.datagrams.get(&key)?;
            if d.deadline > now {
                return None;
            }
            let first = d.first_header_len;
            let d = self.remove(key)?;
            self.stats.reasm_timeout += 1;
            self.stats.reasm_fails += 1;
            if let Some(hl) = first {
                let storage = self.parked.insert(d.storage);
                let start = HEADROOM - hl;
                // Fragment 0's own length, from its header as received; its
                // bytes are all present (it was stored whole).
                let total = Ipv4Packet::new_unchecked(&storage.data[start..HEADROOM]).total_len();
                let end = (start + usize::from(total)).clamp(HEADROOM, storage.data.len());
                return Some(Expired {
                    key,
                    first_fragment: &storage.data[start..end],
                });
            }
            self.recycle(d.storage);
        }
    }

    /// Takes one received datagram (header and payload, bounded by its total
    /// length; its header checksum already verified) and, if it is a
    /// fragment, files it.
    pub fn handle_fragment(&mut self, now: Instant, datagram: &[u8]) -> FragOutcome<'_> {
        self.unpark();
        let Ok(packet) = Ipv4Packet::new_checked(datagram) else {
            return FragOutcome::Dropped(FragDrop::Unparsable);
        };
        let Ok(repr) = Ipv4Repr::parse(&packet, Checksum::Offload) else {
            return FragOutcome::Dropped(FragDrop::Unparsable);
        };
        if !repr.is_fragment() {
            return FragOutcome::NotFragment;
        }
        self.stats.reasm_reqds += 1;
        let key = FragKey {
            src: repr.src_addr,
            dst: repr.dst_addr,
            protocol: repr.protocol,
            ident: repr.ident,
        };
        let header_len = usize::from(packet.header_len());
        let payload = packet.payload();
        let offset = usize::from(repr.frag_offset);
        let end = offset + payload.len();

        // RFC 791 §3.2: every fragment but the last carries a multiple of 8
        // bytes; none is empty.
        let malformed = payload.is_empty() || (repr.more_frags && payload.len() % 8 != 0);
        if malformed {
            return self.fail(key, FragDrop::Malformed);
        }
        if end > MAX_PAYLOAD {
            return self.fail(key, FragDrop::TooLarge);
        }
        if let Some(d) = self.datagrams.get(&key) {
            let conflict = if repr.more_frags {
                d.total.is_some_and(|t| end > t)
            } else {
                d.high_end() > end || d.total.is_some_and(|t| t != end)
            };
            if conflict {
                return self.fail(key, FragDrop::Malformed);
            }
            match compare_overlap(d, offset, payload) {
                Overlap::None | Overlap::Partial => {}
                // Nothing new, unless it is the first word on where the
                // datagram ends: then go on and record that.
                Overlap::Duplicate if repr.more_frags || d.total.is_some() => {
                    return FragOutcome::Duplicate;
                }
                Overlap::Duplicate => {}
                Overlap::Conflict => {
                    self.stats.reasm_overlaps += 1;
                    return self.fail(key, FragDrop::Overlap);
                }
            }
        }

        // Make room: the growth of this datagram's buffer, plus the overhead
        // if it is new.
        let (existing, old_len) = match self.datagrams.get(&key) {
            Some(d) => (true, d.storage.data.len()),
            None => (false, 0),
        };
        let new_len = old_len.max(HEADROOM + end);
        let growth = new_len - old_len + if existing { 0 } else { DATAGRAM_OVERHEAD };
        if !self.make_room(growth, key) {
            return self.fail(key, FragDrop::NoMemory);
        }
        if !existing {
            self.create(now, key);
        }
        self.memory += growth;
        let Some(d) = self.datagrams.get_mut(&key) else {
            // Unreachable: created just above.
            return FragOutcome::Dropped(FragDrop::NoMemory);
        };
        d.charged += growth;

        if d.storage.ranges.insert(offset as u64..end as u64).is_err() {
            return self.fail(key, FragDrop::TooManyHoles);
        }
        if d.storage.data.len() < new_len {
            d.storage.data.resize(new_len, 0);
        }
        d.storage.data[HEADROOM + offset..HEADROOM + end].copy_from_slice(payload);
        if offset == 0 {
            d.storage.data[HEADROOM - header_len..HEADROOM]
                .copy_from_slice(&datagram[..header_len]);
            d.first_header_len = Some(header_len);
        }
        if !repr.more_frags {
            d.total = Some(end);
        }
        d.ecn_seen |= 1 << (repr.dscp_ecn & 0x03);

        let complete = match (d.total, d.first_header_len) {
            (Some(total), Some(_)) => {
                d.storage.ranges.len() == 1 && d.storage.ranges.covered_bytes() == total as u64
            }
            _ => false,
        };
        if !complete {
            return FragOutcome::Queued;
        }
        self.finish(key)
    }

    /// The datagram `key` is complete: patch the header and lend it out.
    fn finish(&mut self, key: FragKey) -> FragOutcome<'_> {
        let Some(d) = self.datagrams.get(&key) else {
            return FragOutcome::Dropped(FragDrop::Malformed);
        };
        let (Some(total), Some(hl)) = (d.total, d.first_header_len) else {
            return FragOutcome::Dropped(FragDrop::Malformed);
        };
        // RFC 3168 §5.3: Not-ECT mixed with ECT or CE cannot be merged.
        const NOT_ECT: u8 = 1 << 0;
        const CE: u8 = 1 << 3;
        let ecn = d.ecn_seen;
        if ecn & NOT_ECT != 0 && ecn != NOT_ECT {
            return self.fail(key, FragDrop::EcnMismatch);
        }
        let Ok(total_len) = u16::try_from(hl + total) else {
            return self.fail(key, FragDrop::TooLarge);
        };
        let Some(d) = self.remove(key) else {
            return FragOutcome::Dropped(FragDrop::Malformed);
        };
        self.stats.reasm_oks += 1;
        let storage = self.parked.insert(d.storage);
        let datagram = &mut storage.data[HEADROOM - hl..HEADROOM + total];
        let mut p = Ipv4Packet::new_unchecked(&mut *datagram);
        p.set_total_len(total_len);
        let dont_frag = p.dont_frag();
        p.set_frag(dont_frag, false, 0);
        if ecn & CE != 0 {
            let tos = p.dscp_ecn();
            p.set_dscp_ecn(tos | 0x03);
        }
        p.fill_checksum();
        let datagram = &storage.data[HEADROOM - hl..HEADROOM + total];
        let header = match Ipv4Repr::parse(&Ipv4Packet::new_unchecked(datagram), Checksum::Offload)
        {
            Ok(h) => h,
            // Unreachable: the header was fragment 0's, which parsed.
            Err(_) => return FragOutcome::Dropped(FragDrop::Unparsable),
        };
        FragOutcome::Complete(Reassembled {
            header,
            datagram,
            header_len: hl,
        })
    }

    /// Discards `key`'s datagram, if any, and reports `why`.
    fn fail(&mut self, key: FragKey, why: FragDrop) -> FragOutcome<'static> {
        if let Some(d) = self.remove(key) {
            self.stats.reasm_fails += 1;
            self.recycle(d.storage);
        } else {
            // A fragment that could not even start a datagram.
            self.stats.reasm_fails += 1;
        }
        FragOutcome::Dropped(why)
    }

    /// Evicts the oldest datagrams other than `keep` until `growth` more
    /// bytes fit; false if they cannot.
    fn make_room(&mut self, growth: usize, keep: FragKey) -> bool {
        while self.memory + growth > self.high_thresh {
            let victim = self
                .order
                .iter()
                .map(|&(_, k)| k)
                .find(|k| *k != keep && self.datagrams.contains_key(k));
            let Some(victim) = victim else {
                return false;
            };
            if let Some(d) = self.remove(victim) {
                self.stats.reasm_fails += 1;
                self.evictions += 1;
                self.recycle(d.storage);
            }
        }
        true
    }

    fn create(&mut self, now: Instant, key: FragKey) {
        let storage = self.pool.pop().unwrap_or_else(|| Storage {
            data: Vec::new(),
            ranges: RangeSet::new(MAX_RANGES),
        });
        let seq = self.next_seq;
        self.next_seq += 1;
        self.datagrams.insert(
            key,
            Datagram {
                seq,
                deadline: now + self.timeout,
                storage,
                total: None,
                first_header_len: None,
                ecn_seen: 0,
                charged: 0,
            },
        );
        self.order.push_back((seq, key));
        // Stale records pile up when datagrams complete out of order:
        // compact (amortised O(1)) so memory follows the live count.
        if self.order.len() > 2 * self.datagrams.len() + 16 {
            let datagrams = &self.datagrams;
            self.order
                .retain(|(s, k)| datagrams.get(k).is_some_and(|d| d.seq == *s));
        }
    }

    /// Removes `key`'s datagram and un-charges it; the caller recycles or
    /// parks its storage.
    fn remove(&mut self, key: FragKey) -> Option<Datagram> {
        let d = self.datagrams.remove(&key)?;
        self.memory -= d.charged;
        // Keep the front live so `poll_timeout` is O(1).
        while let Some(&(s, k)) = self.order.front() {
            if self.datagrams.get(&k).is_some_and(|d| d.seq == s) {
                break;
            }
            self.order.pop_front();
        }
        Some(d)
    }

    fn recycle(&mut self, mut storage: Storage) {
        if self.pool.len() < POOL_MAX {
            storage.data.clear();
            storage.ranges.clear();
            self.pool.push(storage);
        }
    }

    fn unpark(&mut self) {
        if let Some(s) = self.parked.take() {
            self.recycle(s);
        }
    }
}

enum Overlap {
    /// No byte received before.
    None,
    /// Some bytes received before, identical; some new.
    Partial,
    /// Every byte received before, identical.
    Duplicate,
    /// Some byte received before differs.
    Conflict,
}

fn compare_overlap(d: &Datagram, offset: usize, payload: &[u8]) -> Overlap {
    let end = (offset + payload.len()) as u64;
    let mut at = offset as u64;
    let mut seen = 0u64;
    while let Some(piece) = d.storage.ranges.first_overlap(at..end) {
        let (s, e) = (piece.start as usize, piece.end as usize);
        let old = &d.storage.data[HEADROOM + s..HEADROOM + e];
        let new = &payload[s - offset..e - offset];
        if old != new {
            return Overlap::Conflict;
        }
        seen += piece.end - piece.start;
        at = piece.end;
    }
    if seen == 0 {
        Overlap::None
    } else if seen == payload.len() as u64 {
        Overlap::Duplicate
    } else {
        Overlap::Partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const T0: Instant = Instant::from_secs(10);

    fn reassembler() -> Reassembler {
        Reassembler::new(4 << 20, Duration::from_secs(30), SipKey([3; 16]))
    }

    fn header(ident: u16, offset: usize, more: bool, len: usize) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: SRC,
            dst_addr: DST,
            protocol: IpProtocol::Udp,
            payload_len: len as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident,
            dont_frag: false,
            more_frags: more,
            frag_offset: offset as u16,
        }
    }

    fn emit(h: Ipv4Repr, data: &[u8]) -> Vec<u8> {
        let mut buf = vec![0xAA; h.buffer_len()];
        h.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), Checksum::Full);
        buf[ipv4::HEADER_LEN..].copy_from_slice(data);
        buf
    }

    /// Fragment `ident`'s payload `whole` at `offset..offset + len`.
    fn frag(ident: u16, whole: &[u8], offset: usize, len: usize) -> Vec<u8> {
        let more = offset + len < whole.len();
        emit(
            header(ident, offset, more, len),
            &whole[offset..offset + len],
        )
    }

    /// Splits `whole` into fragments of `size` bytes (a multiple of 8).
    fn split(ident: u16, whole: &[u8], size: usize) -> Vec<Vec<u8>> {
        (0..whole.len())
            .step_by(size)
            .map(|o| frag(ident, whole, o, size.min(whole.len() - o)))
            .collect()
    }

    fn payload(len: usize, seed: u64) -> Vec<u8> {
        let mut v = vec![0; len];
        Rng::from_seed(seed).fill(&mut v);
        v
    }

    /// Feeds every fragment; returns the reassembled payload, checking that
    /// completion happens exactly at the last fragment.
    fn feed(r: &mut Reassembler, frags: &[Vec<u8>]) -> Vec<u8> {
        let mut out = None;
        for (i, f) in frags.iter().enumerate() {
            match r.handle_fragment(T0, f) {
                FragOutcome::Complete(d) => {
                    assert_eq!(i, frags.len() - 1, "completed early");
                    assert_eq!(d.header.payload_len as usize, d.payload().len());
                    out = Some(d.payload().to_vec());
                }
                FragOutcome::Queued | FragOutcome::Duplicate => {}
                other => panic!("fragment {i}: {other:?}"),
            }
        }
        out.expect("never completed")
    }

    #[test]
    fn a_whole_datagram_is_not_a_fragment() {
        let mut r = reassembler();
        let d = emit(header(1, 0, false, 4), b"abcd");
        assert_eq!(r.handle_fragment(T0, &d), FragOutcome::NotFragment);
        assert_eq!(r.stats().reasm_reqds, 0);
        assert_eq!(
            r.handle_fragment(T0, &d[..10]),
            FragOutcome::Dropped(FragDrop::Unparsable)
        );
    }

    #[test]
    fn in_order_fragments_rebuild_a_valid_datagram() {
        let mut r = reassembler();
        let whole = payload(3000, 1);
        let frags = split(7, &whole, 1480);
        assert_eq!(r.handle_fragment(T0, &frags[0]), FragOutcome::Queued);
        assert_eq!(r.handle_fragment(T0, &frags[1]), FragOutcome::Queued);
        let FragOutcome::Complete(d) = r.handle_fragment(T0, &frags[2]) else {
            panic!("not complete");
        };
        assert_eq!(d.payload(), &whole[..]);
        assert_eq!(d.datagram.len(), 3020);
        // The datagram is a valid, unfragmented IPv4 datagram.
        let p = Ipv4Packet::new_checked(d.datagram).unwrap();
        let h = Ipv4Repr::parse(&p, Checksum::Full).unwrap();
        assert_eq!(h, d.header);
        assert!(!h.is_fragment());
        assert_eq!((h.payload_len, h.ident, h.src_addr), (3000, 7, SRC));
        let s = r.stats();
        assert_eq!((s.reasm_reqds, s.reasm_oks, s.reasm_fails), (3, 1, 0));
        assert!(r.is_empty());
        assert_eq!(r.memory(), 0);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn reverse_order_completes_on_fragment_zero_with_its_options() {
        let mut r = reassembler();
        let whole = payload(2000, 2);
        let mut frags = split(9, &whole, 512);
        // Fragment 0 carries a 4-byte option (NOP NOP NOP EOL): IHL 6.
        let mut first = vec![0u8; 24 + 512];
        first[..20].copy_from_slice(&frags[0][..20]);
        first[0] = 0x46;
        first[2..4].copy_from_slice(&536u16.to_be_bytes());
        first[20..24].copy_from_slice(&[1, 1, 1, 0]);
        first[24..].copy_from_slice(&whole[..512]);
        Ipv4Packet::new_unchecked(&mut first[..]).fill_checksum();
        frags[0] = first;
        frags.reverse();
        let got = feed(&mut r, &frags);
        assert_eq!(got, whole);
    }

    #[test]
    fn reassembled_datagram_keeps_fragment_zeros_options() {
        let mut r = reassembler();
        let whole = payload(16, 3);
        let mut first = vec![0u8; 24 + 8];
        first[..20].copy_from_slice(&frag(4, &whole, 0, 8)[..20]);
        first[0] = 0x46;
        first[2..4].copy_from_slice(&32u16.to_be_bytes());
        first[20..24].copy_from_slice(&[1, 1, 1, 0]);
        first[24..].copy_from_slice(&whole[..8]);
        Ipv4Packet::new_unchecked(&mut first[..]).fill_checksum();
        assert_eq!(
            r.handle_fragment(T0, &frag(4, &whole, 8, 8)),
            FragOutcome::Queued
        );
        let FragOutcome::Complete(d) = r.handle_fragment(T0, &first) else {
            panic!()
        };
        let p = Ipv4Packet::new_checked(d.datagram).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.total_len(), 40);
        assert_eq!(d.payload(), &whole[..]);
    }

    #[test]
    fn identical_duplicates_and_overlaps_are_harmless() {
        let mut r = reassembler();
        let whole = payload(64, 4);
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 0, 32)),
            FragOutcome::Queued
        );
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 0, 32)),
            FragOutcome::Duplicate
        );
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 8, 16)),
            FragOutcome::Duplicate
        );
        // Overlapping the end of what we have with the same bytes.
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 24, 16)),
            FragOutcome::Queued
        );
        let FragOutcome::Complete(d) = r.handle_fragment(T0, &frag(1, &whole, 32, 32)) else {
            panic!()
        };
        assert_eq!(d.payload(), &whole[..]);
        assert_eq!(r.stats().reasm_overlaps, 0);
    }

    #[test]
    fn a_conflicting_overlap_discards_the_whole_datagram() {
        let mut r = reassembler();
        let whole = payload(64, 5);
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 0, 32)),
            FragOutcome::Queued
        );
        let mut evil = whole.clone();
        evil[20] ^= 0xFF;
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &evil, 16, 24)),
            FragOutcome::Dropped(FragDrop::Overlap)
        );
        assert!(r.is_empty());
        assert_eq!((r.stats().reasm_overlaps, r.stats().reasm_fails), (1, 1));
        // The rest of the datagram starts a new one that never completes
        // without the first half: neither version of the data is used.
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 32, 32)),
            FragOutcome::Queued
        );
        assert_eq!(r.memory(), DATAGRAM_OVERHEAD + HEADROOM + 64);
    }

    #[test]
    fn missing_last_fragment_times_out_with_fragment_zero_for_icmp() {
        let mut r = reassembler();
        let whole = payload(100, 6);
        let f0 = frag(5, &whole, 0, 48);
        assert_eq!(r.handle_fragment(T0, &f0), FragOutcome::Queued);
        assert_eq!(
            r.handle_fragment(T0, &frag(5, &whole, 48, 24)),
            FragOutcome::Queued
        );
        let deadline = T0 + Duration::from_secs(30);
        assert_eq!(r.poll_timeout(), Some(deadline));
        assert!(
            r.poll_expired(deadline - Duration::from_micros(1))
                .is_none()
        );
        let e = r.poll_expired(deadline).expect("expired");
        assert_eq!(e.key.ident, 5);
        // Fragment 0 as received: header (MF set, total 68) and its 48 bytes.
        assert_eq!(e.first_fragment, &f0[..]);
        assert!(r.poll_expired(deadline).is_none());
        let s = r.stats();
        assert_eq!((s.reasm_timeout, s.reasm_fails, s.reasm_oks), (1, 1, 0));
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.memory(), 0);
    }

    #[test]
    fn timeout_without_fragment_zero_is_silent() {
        let mut r = reassembler();
        let whole = payload(100, 7);
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 48, 52)),
            FragOutcome::Queued
        );
        let later = T0 + Duration::from_secs(1);
        assert_eq!(
            r.handle_fragment(later, &frag(2, &whole, 0, 48)),
            FragOutcome::Queued
        );
        // Datagram 1 expires silently; datagram 2 (which has fragment 0)
        // is reported when its own time comes.
        assert!(r.poll_expired(T0 + Duration::from_secs(30)).is_none());
        assert_eq!(r.stats().reasm_timeout, 1);
        assert_eq!(r.poll_timeout(), Some(later + Duration::from_secs(30)));
        let e = r.poll_expired(Instant::FAR_FUTURE).unwrap();
        assert_eq!(e.key.ident, 2);
        assert_eq!(r.stats().reasm_timeout, 2);
    }

    #[test]
    fn bogus_lengths_and_offsets_are_rejected() {
        let mut r = reassembler();
        let whole = payload(64, 8);
        // A fragment whose length is not a multiple of 8, not the last.
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 0, 12)),
            FragOutcome::Dropped(FragDrop::Malformed)
        );
        // An empty fragment.
        assert_eq!(
            r.handle_fragment(T0, &emit(header(1, 8, true, 0), &[])),
            FragOutcome::Dropped(FragDrop::Malformed)
        );
        // Data beyond 65,515 bytes: the last offset (65,528) plus 8.
        let far = emit(header(2, 65528, false, 8), &[0; 8]);
        assert_eq!(
            r.handle_fragment(T0, &far),
            FragOutcome::Dropped(FragDrop::TooLarge)
        );
        let ok_end = emit(header(2, 65512, false, 3), &[0; 3]);
        assert_eq!(r.handle_fragment(T0, &ok_end), FragOutcome::Queued);
        // A last fragment that ends before bytes we already have.
        assert_eq!(
            r.handle_fragment(T0, &emit(header(3, 32, true, 32), &whole[32..])),
            FragOutcome::Queued
        );
        assert_eq!(
            r.handle_fragment(T0, &emit(header(3, 8, false, 16), &whole[8..24])),
            FragOutcome::Dropped(FragDrop::Malformed)
        );
        // Two different ends.
        assert_eq!(
            r.handle_fragment(T0, &frag(4, &whole, 32, 32)),
            FragOutcome::Queued
        );
        assert_eq!(
            r.handle_fragment(T0, &emit(header(4, 64, false, 8), &[0; 8])),
            FragOutcome::Dropped(FragDrop::Malformed)
        );
        // A middle fragment past the known end.
        assert_eq!(
            r.handle_fragment(T0, &frag(5, &whole, 32, 32)),
            FragOutcome::Queued
        );
        assert_eq!(
            r.handle_fragment(T0, &emit(header(5, 64, true, 8), &[0; 8])),
            FragOutcome::Dropped(FragDrop::Malformed)
        );
        assert_eq!(r.len(), 1, "only datagram 2 is left");
    }

    #[test]
    fn oversized_with_header_options_fails_on_completion() {
        let mut r = reassembler();
        // 65,515 payload bytes fit a 20-byte header, not a 24-byte one.
        let last = emit(header(6, 65512, false, 3), &[1; 3]);
        assert_eq!(r.handle_fragment(T0, &last), FragOutcome::Queued);
        let middle = emit(header(6, 65504, true, 8), &[2; 8]);
        assert_eq!(r.handle_fragment(T0, &middle), FragOutcome::Queued);
        let mut first = vec![0u8; 24 + 65504];
        first[..20].copy_from_slice(&emit(header(6, 0, true, 0), &[])[..20]);
        first[0] = 0x46;
        first[2..4].copy_from_slice(&((24 + 65504) as u16).to_be_bytes());
        first[20..24].copy_from_slice(&[1, 1, 1, 0]);
        Ipv4Packet::new_unchecked(&mut first[..]).fill_checksum();
        assert_eq!(
            r.handle_fragment(T0, &first),
            FragOutcome::Dropped(FragDrop::TooLarge)
        );
        assert!(r.is_empty());
        assert_eq!(r.memory(), 0);
    }

    #[test]
    fn memory_cap_evicts_the_oldest_datagram() {
        // Room for two datagrams of 8 KiB, not three.
        let per = DATAGRAM_OVERHEAD + HEADROOM + 8192;
        let mut r = Reassembler::new(2 * per + 100, Duration::from_secs(30), SipKey([0; 16]));
        let whole = payload(8200, 9);
        for ident in 1..=3u16 {
            let t = T0 + Duration::from_millis(u64::from(ident));
            assert_eq!(
                r.handle_fragment(t, &frag(ident, &whole, 0, 8192)),
                FragOutcome::Queued
            );
            assert!(r.memory() <= 2 * per + 100);
        }
        assert_eq!(r.len(), 2);
        assert_eq!(r.evictions(), 1);
        assert_eq!(r.stats().reasm_fails, 1);
        // Datagram 1 went: its last fragment now starts a new datagram,
        // evicting datagram 2; datagram 3 completes.
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 8192, 8)),
            FragOutcome::Queued
        );
        assert!(matches!(
            r.handle_fragment(T0, &frag(3, &whole, 8192, 8)),
            FragOutcome::Complete(_)
        ));
        assert_eq!(r.evictions(), 2);
        // A datagram that cannot fit alone is refused.
        let mut tiny = Reassembler::new(1000, Duration::from_secs(30), SipKey([0; 16]));
        assert_eq!(
            tiny.handle_fragment(T0, &frag(1, &whole, 0, 8)),
            FragOutcome::Dropped(FragDrop::NoMemory)
        );
        assert_eq!(tiny.memory(), 0);
    }

    #[test]
    fn tiny_fragments_in_hostile_order_hit_the_hole_limit() {
        let mut r = reassembler();
        let whole = payload(2048, 10);
        // Every other 8-byte piece: each one a new hole.
        let mut outcome = FragOutcome::Queued;
        for i in 0..=MAX_RANGES {
            outcome = r.handle_fragment(T0, &frag(1, &whole, i * 16, 8));
            if outcome != FragOutcome::Queued {
                break;
            }
        }
        assert_eq!(outcome, FragOutcome::Dropped(FragDrop::TooManyHoles));
        assert!(r.is_empty());
        assert_eq!(r.memory(), 0);
    }

    #[test]
    fn ecn_ce_on_any_fragment_marks_the_datagram() {
        let mut r = reassembler();
        let whole = payload(16, 11);
        let mut a = header(1, 0, true, 8);
        a.dscp_ecn = 0b10; // ECT(0)
        let mut b = header(1, 8, false, 8);
        b.dscp_ecn = 0b11; // CE
        assert_eq!(
            r.handle_fragment(T0, &emit(a, &whole[..8])),
            FragOutcome::Queued
        );
        let FragOutcome::Complete(d) = r.handle_fragment(T0, &emit(b, &whole[8..])) else {
            panic!()
        };
        assert_eq!(d.header.dscp_ecn & 3, 3);
        // Not-ECT mixed with ECT is dropped.
        let mut c = header(2, 8, false, 8);
        c.dscp_ecn = 0b01;
        assert_eq!(
            r.handle_fragment(T0, &emit(header(2, 0, true, 8), &whole[..8])),
            FragOutcome::Queued
        );
        assert_eq!(
            r.handle_fragment(T0, &emit(c, &whole[8..])),
            FragOutcome::Dropped(FragDrop::EcnMismatch)
        );
    }

    #[test]
    fn different_keys_do_not_mix() {
        let mut r = reassembler();
        let whole = payload(16, 12);
        assert_eq!(
            r.handle_fragment(T0, &frag(1, &whole, 0, 8)),
            FragOutcome::Queued
        );
        let mut other_proto = header(1, 8, false, 8);
        other_proto.protocol = IpProtocol::Tcp;
        assert_eq!(
            r.handle_fragment(T0, &emit(other_proto, &whole[8..])),
            FragOutcome::Queued
        );
        let mut other_src = header(1, 8, false, 8);
        other_src.src_addr = Ipv4Addr::new(203, 0, 113, 1);
        assert_eq!(
            r.handle_fragment(T0, &emit(other_src, &whole[8..])),
            FragOutcome::Queued
        );
        assert_eq!(r.len(), 3);
        assert!(matches!(
            r.handle_fragment(T0, &frag(1, &whole, 8, 8)),
            FragOutcome::Complete(_)
        ));
    }

    #[test]
    fn steady_traffic_reuses_buffers_and_order_records_stay_bounded() {
        let mut r = reassembler();
        let whole = payload(3000, 13);
        // One datagram that never completes holds the front of the order.
        assert_eq!(
            r.handle_fragment(T0, &frag(65000, &whole, 0, 8)),
            FragOutcome::Queued
        );
        for ident in 0..2000u16 {
            let now = T0 + Duration::from_millis(u64::from(ident));
            for f in split(ident, &whole, 1480) {
                let _ = r.handle_fragment(now, &f);
            }
        }
        assert_eq!(r.stats().reasm_oks, 2000);
        assert_eq!(r.len(), 1);
        assert!(r.order.len() <= 2 + 16, "{} order records", r.order.len());
        assert!(r.pool.len() <= POOL_MAX);
        assert_eq!(r.memory(), DATAGRAM_OVERHEAD + HEADROOM + 8);
    }

    proptest! {
        /// Any order, any fragment size, with random duplicates: the payload
        /// comes back exactly, once.
        #[test]
        fn random_order_reassembles_exactly(
            seed in any::<u64>(),
            len in 1usize..9000,
            size8 in 16usize..200,
            dups in 0usize..5,
        ) {
            prop_assume!(len > size8 * 8);
            let mut rng = Rng::from_seed(seed);
            let whole = payload(len, seed);
            let mut frags = split(42, &whole, size8 * 8);
            for _ in 0..dups {
                let i = rng.below(frags.len() as u64) as usize;
                frags.push(frags[i].clone());
            }
            for i in (1..frags.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                frags.swap(i, j);
            }
            let mut r = reassembler();
            let mut completions = 0;
            for f in &frags {
                match r.handle_fragment(T0, f) {
                    FragOutcome::Complete(d) => {
                        completions += 1;
                        prop_assert_eq!(d.payload(), &whole[..]);
                    }
                    FragOutcome::Queued | FragOutcome::Duplicate => {}
                    other => prop_assert!(false, "seed {}: {:?}", seed, other),
                }
            }
            // Duplicates arriving after completion start a new datagram,
            // which completes again only if every fragment came twice.
            prop_assert!(completions >= 1, "seed {}", seed);
            prop_assert_eq!(r.stats().reasm_oks, completions);
            prop_assert_eq!(r.stats().reasm_fails, 0);
        }

        /// Arbitrary bytes never panic.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), n in 1usize..20) {
            let mut r = reassembler();
            for i in 0..=n {
                let _ = r.handle_fragment(T0, &bytes[..bytes.len() * i / n]);
            }
            while r.poll_expired(Instant::FAR_FUTURE).is_some() {}
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.memory(), 0);
        }

        /// Random fragments of a few datagrams (random offsets, lengths,
        /// flags, bytes) under a small memory cap: never a panic, the cap
        /// always holds, and the accounting returns to zero.
        #[test]
        fn hostile_fragments_keep_memory_within_the_cap(
            seed in any::<u64>(),
            count in 1usize..300,
        ) {
            let cap = 64 * 1024;
            let mut r = Reassembler::new(cap, Duration::from_secs(30), SipKey([5; 16]));
            let mut rng = Rng::from_seed(seed);
            for i in 0..count {
                let ident = rng.below(6) as u16;
                let offset = (rng.below(8192) as usize) * 8;
                let len = rng.below(1500) as usize;
                let more = rng.chance(0.7);
                let mut data = vec![0u8; len];
                // Few distinct byte values, so some overlaps agree.
                data.iter_mut().for_each(|b| *b = rng.below(2) as u8);
                let mut h = header(ident, offset, more, len);
                h.dscp_ecn = rng.below(4) as u8 & if rng.chance(0.9) { 0 } else { 3 };
                let now = T0 + Duration::from_millis(i as u64 * 200);
                let _ = r.handle_fragment(now, &emit(h, &data));
                prop_assert!(r.memory() <= cap, "seed {}: {} > cap", seed, r.memory());
                let charged: usize = r.datagrams.values().map(|d| d.charged).sum();
                prop_assert_eq!(charged, r.memory());
                while r.poll_expired(now).is_some() {}
            }
            while r.poll_expired(Instant::FAR_FUTURE).is_some() {}
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.memory(), 0);
        }
    }
}
