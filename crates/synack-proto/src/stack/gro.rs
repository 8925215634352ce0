//! Software receive coalescing (GRO): a batch of frames in, consecutive
//! in-order data segments of one flow merged into one super-packet, one
//! engine pass for the run.
//!
//! Read first: RFC 9293 §3.1 (the checksum each merged segment must pass
//! before its bytes are trusted), RFC 1122 §4.2.3.2 (the ACK rule the
//! receive MSS drives), and the receive half of `offload.rs`: a merged run
//! goes in with `RxOffload { csum_trusted, gso_size }`, so TCP counts the
//! segments it stands for.
//!
//! The merge rules are Linux's `tcp_gro_receive` (net/ipv4/tcp_offload.c),
//! written from its description: same link header, IPv4 without options or
//! fragments, same TOS and TTL, same addresses and ports, same ACK number,
//! window and TCP option bytes (timestamps included), flags ACK (PSH
//! allowed); the next sequence number; no segment larger than the first
//! (the GSO size), and one shorter than it ends the run; at most 64 KiB.
//! Anything else is handed over alone, in order, so the stack sees exactly
//! the bytes it would have seen frame by frame.
//!
//! Departure: Linux ends a run at a PSH, because its GRO holds a run until
//! the end of a NAPI poll and PSH asks for the data to go up at once. Here
//! a run never outlives the batch, so PSH gains nothing by ending it; the
//! merged segment carries PSH if any of its segments did. (A Linux sender
//! sets PSH on every GSO packet, every second segment at 100 ms RTT.)
//!
//! No extra copy: the run's first segment takes the receive fast path
//! (`Connection::stage_payload`: its payload copied to its place in the
//! receive buffer and summed in one pass), each further segment is staged
//! right after it (`Connection::stage_more`) and its checksum verified from
//! that sum, and then one segment with the first one's header and the
//! run's length goes through the engine, which commits the staged bytes
//! instead of reading a payload. A segment whose checksum fails ends the
//! run and goes in alone, so the stack counts it as it always does; a run
//! that cannot be staged (not ESTABLISHED, out-of-order data held, no room)
//! goes in frame by frame. Link and IP counters see a run once, as Linux's
//! do after GRO.

use super::slab::Key;
use super::{Demux, Direction, FourTuple, IfaceId, Stack, slots};
use crate::ip::addr::{Destination, check_martian, classify_destination};
use crate::tcp::ecn::Ecn;
use crate::time::Instant;
use crate::wire::Checksum;
use crate::wire::checksum;
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame};
use crate::wire::ipv4::IpProtocol;
use crate::wire::tcp::{TcpFlags, TcpPacket, TcpRepr};
use core::net::{Ipv4Addr, SocketAddrV4};

/// The most segments one run merges (Linux's GRO stops at 64 too).
const MAX_RUN: usize = 64;

/// The largest IPv4 datagram.
const MAX_DATAGRAM: usize = 65_535;
/// TCP flags (RFC 9293 §3.1).
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// What the coalescer needs of one frame: a TCP data segment it may merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Candidate {
    /// Where the payload starts (link, IP and TCP headers before it).
    payload_at: usize,
    /// Where the IP datagram ends (link padding after it).
    end: usize,
    seq: u32,
    /// PSH: carried over to the merged segment.
    push: bool,
}

impl Candidate {
    fn payload_len(&self) -> usize {
        self.end - self.payload_at
    }
}

/// A mergeable TCP data segment in `frame` after an `l2`-byte link header,
/// or `None` (not IPv4 TCP, IP options, a fragment, flags other than
/// ACK[/PSH], no payload, malformed). Header checksums are checked when a
/// segment is merged, not here.
fn candidate(frame: &[u8], l2: usize) -> Option<Candidate> {
    let ip = frame.get(l2..)?;
    if ip.len() < 40 || ip[0] != 0x45 || ip[9] != u8::from(IpProtocol::Tcp) {
        return None;
    }
    // MF or a fragment offset: reassembly's business.
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF != 0 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total > ip.len() || total < 40 {
        return None;
    }
    let tcp_len = usize::from(ip[32] >> 4) * 4;
    if tcp_len < 20 || 20 + tcp_len >= total {
        return None;
    }
    let flags = ip[33];
    if flags != ACK && flags != ACK | PSH {
        return None;
    }
    Some(Candidate {
        payload_at: l2 + 20 + tcp_len,
        end: l2 + total,
        seq: u32::from_be_bytes([ip[24], ip[25], ip[26], ip[27]]),
        push: flags & PSH != 0,
    })
}

/// The fixed IPv4 and TCP headers' bytes (20 + 20, no IP options: see
/// [`candidate`]) as five 64-bit words, with a mask per word of the bytes a
/// run's segments must share: every byte but the IP total length (2-3),
/// ID (4-5), flags and fragment offset (6-7: no fragment gets this far),
/// the IP checksum (10-11), the TCP sequence number (24-27), the TCP flags
/// (33: PSH may differ) and the TCP checksum (36-37).
const FIXED_HEADERS: usize = 40;
const SHARED: [u64; 5] = shared_mask();

const fn shared_mask() -> [u64; 5] {
    let mut bytes = [0xFF_u8; FIXED_HEADERS];
    let varying = [2, 3, 4, 5, 6, 7, 10, 11, 24, 25, 26, 27, 33, 36, 37];
    let mut i = 0;
    while i < varying.len() {
        bytes[varying[i]] = 0;
        i += 1;
    }
    let mut words = [0_u64; 5];
    let mut w = 0;
    while w < 5 {
        let b = 8 * w;
        words[w] = u64::from_ne_bytes([
            bytes[b],
            bytes[b + 1],
            bytes[b + 2],
            bytes[b + 3],
            bytes[b + 4],
            bytes[b + 5],
            bytes[b + 6],
            bytes[b + 7],
        ]);
        w += 1;
    }
    words
}

/// The fixed headers of `frame` after an `l2`-byte link header.
#[inline(always)]
fn fixed_headers(frame: &[u8], l2: usize) -> Option<&[u8; FIXED_HEADERS]> {
    frame.get(l2..)?.first_chunk()
}

/// The word `w` of a fixed-header block.
#[inline(always)]
fn header_word(h: &[u8; FIXED_HEADERS], w: usize) -> u64 {
    let mut word = [0_u8; 8];
    word.copy_from_slice(&h[8 * w..8 * w + 8]);
    u64::from_ne_bytes(word)
}

/// Whether `b` belongs to the same run as `a` (both candidates with the
/// same header length `payload_at`, past the `l2`-byte link header): the
/// link header equal, the fixed headers equal in every [`SHARED`] byte
/// (compared a word at a time), and the TCP options equal.
fn same_flow(a: &[u8], b: &[u8], l2: usize, payload_at: usize) -> bool {
    let (Some(ah), Some(bh)) = (fixed_headers(a, l2), fixed_headers(b, l2)) else {
        return false;
    };
    let mut differ = 0;
    for (w, shared) in SHARED.iter().enumerate() {
        differ |= (header_word(ah, w) ^ header_word(bh, w)) & shared;
    }
    let options = l2 + FIXED_HEADERS..payload_at;
    differ == 0 && a[..l2] == b[..l2] && a.get(options.clone()) == b.get(options)
}

/// The TCP checksum of a segment (RFC 9293 §3.1) whose payload sum is
/// known: header and pseudo-header added. `addresses` is the run's
/// pseudo-header sum without the length (addresses and protocol, the same
/// for every segment of a run); the length is added here (RFC 1071 §2(C):
/// a sum of parts in any grouping).
fn tcp_checksum_ok(addresses: u16, tcp: &[u8], tcp_header: usize, payload_sum: u16) -> bool {
    // At most 65535: one IPv4 datagram.
    let len = tcp.len() as u32;
    let sum = checksum::combine(&[
        addresses,
        (len >> 16) as u16,
        len as u16,
        checksum::header(&tcp[..tcp_header]),
        payload_sum,
    ]);
    checksum::is_valid(sum)
}

/// The IP header checksum is right (RFC 791).
fn ip_checksum_ok(ip: &[u8]) -> bool {
    checksum::is_valid(checksum::header(&ip[..20]))
}

/// The run being built: frames still in the caller's buffers.
struct Run<'a> {
    frames: [&'a [u8]; MAX_RUN],
    /// What `candidate` found in each frame.
    cands: [Candidate; MAX_RUN],
    len: usize,
    first: Candidate,
    /// The sequence number the next segment must have.
    next_seq: u32,
    /// Bytes of the merged datagram (IP and TCP headers, every payload).
    datagram: usize,
    /// A segment shorter than the first ended the run.
    ended: bool,
}

impl<'a> Run<'a> {
    fn new(frame: &'a [u8], c: Candidate, l2: usize) -> Run<'a> {
        Run {
            frames: [frame; MAX_RUN],
            cands: [c; MAX_RUN],
            len: 1,
            first: c,
            next_seq: c.seq.wrapping_add(c.payload_len() as u32),
            datagram: c.end - l2,
            ended: false,
        }
    }

    /// Adds `frame` if it continues the run (module docs); `false` if not.
    fn push(&mut self, frame: &'a [u8], c: Candidate, l2: usize) -> bool {
        let gso = self.first.payload_len();
        if self.ended
            || self.len == MAX_RUN
            || c.payload_at != self.first.payload_at
            || c.seq != self.next_seq
            || c.payload_len() > gso
            || self.datagram + c.payload_len() > MAX_DATAGRAM
            || !same_flow(self.frames[0], frame, l2, c.payload_at)
            || !ip_checksum_ok(&frame[l2..])
        {
            return false;
        }
        self.frames[self.len] = frame;
        self.cands[self.len] = c;
        self.len += 1;
        self.next_seq = c.seq.wrapping_add(c.payload_len() as u32);
        self.datagram += c.payload_len();
        self.ended = c.payload_len() < gso;
        true
    }
}

impl Stack {
    /// Frames that arrived together on `iface`, in order: consecutive
    /// in-order data segments of one connection go to TCP as one
    /// super-packet of segments of the first one's size (software GRO, see
    /// the module docs); everything else as [`Stack::handle_frame_on`]
    /// would take it. A driver that reads frames in batches (the in-memory
    /// bench, a TAP read loop) calls this once per batch.
    pub fn handle_frames<'a>(
        &mut self,
        now: Instant,
        iface: IfaceId,
        frames: impl IntoIterator<Item = &'a [u8]>,
    ) {
        let Some(f) = self.ifaces.get(usize::from(iface.0)) else {
            return;
        };
        let l2 = if f.mac().is_some() { 14 } else { 0 };
        let mut frames = frames.into_iter();
        let Some(first) = frames.next() else {
            return;
        };
        let mut frames = frames.peekable();
        if frames.peek().is_none() {
            // A batch of one (a handshake's segments, a request, its
            // answer) has nothing to merge with: straight in.
            return self.handle_frame_on(now, iface, first);
        }
        let mut run: Option<Run<'a>> = None;
        for frame in core::iter::once(first).chain(frames) {
            // A segment too long to share a datagram with another of its
            // size (64 KiB MTUs) never merges: straight in.
            let Some(c) =
                candidate(frame, l2).filter(|c| c.end - l2 + c.payload_len() <= MAX_DATAGRAM)
            else {
                if let Some(r) = run.take() {
                    self.gro_flush(now, iface, l2, &r);
                }
                self.handle_frame_on(now, iface, frame);
                continue;
            };
            if let Some(r) = run.as_mut()
                && r.push(frame, c, l2)
            {
                continue;
            }
            if let Some(r) = run.take() {
                self.gro_flush(now, iface, l2, &r);
            }
            run = Some(Run::new(frame, c, l2));
        }
        if let Some(r) = run.take() {
            self.gro_flush(now, iface, l2, &r);
        }
    }

    /// Hands a run over: merged if it can be, else frame by frame.
    fn gro_flush(&mut self, now: Instant, iface: IfaceId, l2: usize, run: &Run<'_>) {
        let frames = &run.frames[..run.len];
        let mut done = 0;
        if frames.len() > 1 {
            self.advance(now);
            done = self.deliver_run(usize::from(iface.0), l2, run);
            self.refresh_deadline();
        }
        for frame in &frames[done..] {
            self.handle_frame_on(now, iface, frame);
        }
    }

    /// The link and IP checks of `handle_ethernet` and `handle_ip` for a
    /// run's first frame (a unicast IPv4 TCP datagram without options for
    /// one of our addresses); the others share its headers. `None`: let
    /// the ordinary path take (and count) the frames.
    fn run_admissible(
        &self,
        index: usize,
        l2: usize,
        frame: &[u8],
    ) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let iface = self.ifaces.get(index)?;
        if let Some(mac) = iface.mac() {
            let eth = EthernetFrame::new_checked(frame).ok()?;
            let src = eth.src_addr();
            if eth.dst_addr() != mac
                || !src.is_unicast()
                || src == EthernetAddress::default()
                || eth.ethertype() != EtherType::Ipv4
            {
                return None;
            }
        }
        let ip = &frame[l2..];
        if !ip_checksum_ok(ip) {
            return None;
        }
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let is_local = self.is_local_addr(dst);
        let src_is_local = self.is_local_addr(src);
        let cidr = iface.cidr;
        if check_martian(src, dst, &[cidr], false, src_is_local).is_err()
            || classify_destination(dst, &[cidr], is_local) != Destination::Local
        {
            return None;
        }
        Some((src, dst))
    }

    /// Merges as much of the run as it can from its start and delivers it
    /// as one segment; returns how many frames that took (0: none, the
    /// caller hands them over one by one).
    fn deliver_run(&mut self, index: usize, l2: usize, run: &Run<'_>) -> usize {
        let Some((src, dst)) = self.run_admissible(index, l2, run.frames[0]) else {
            return 0;
        };
        let first = run.first;
        let tcp = &run.frames[0][l2 + 20..first.end];
        let Ok(packet) = TcpPacket::new_checked(tcp) else {
            return 0;
        };
        let Ok(seg) = TcpRepr::parse(&packet, src, dst, Checksum::Offload) else {
            return 0;
        };
        let tuple = FourTuple {
            local: SocketAddrV4::new(dst, seg.dst_port),
            remote: SocketAddrV4::new(src, seg.src_port),
        };
        let Some(Demux::Conn(key)) = self.demux.get(slots!(self), &tuple) else {
            return 0;
        };
        let (merged, len, push) = self.stage_run(key, l2, run, &seg, &packet, src, dst);
        if merged < 2 {
            // Nothing merged: the ordinary path stages the first again.
            if let Some(e) = self.conns.get_mut(key) {
                e.conn.clear_staged();
            }
            return 0;
        }
        // Counted once, as Linux counts a GRO packet.
        let stats = &mut self.env.stats;
        if l2 > 0 {
            stats.eth.in_frames += 1;
        }
        stats.ip.in_receives += 1;
        stats.ip.in_delivers += 1;
        stats.tcp.in_segs += 1;
        // The engine commits the staged bytes and never reads these: the
        // run's payload is already in place (see `RecvHalf::stage`).
        let mut pad = core::mem::take(&mut self.gro_pad);
        if pad.len() < len {
            pad.resize(MAX_DATAGRAM, 0);
        }
        let mut flags = seg.flags;
        if push {
            flags |= TcpFlags::PSH;
        }
        let whole = TcpRepr {
            flags,
            payload: &pad[..len],
            ..seg
        };
        if self.trace.segments {
            self.trace_segment(Direction::In, &tuple, &whole);
        }
        self.env.rx_gso = u16::try_from(first.payload_len()).unwrap_or(0);
        // RFC 3168 §6.1.3: TCP needs the ECN field; a run shares one TOS
        // byte (a merge rule), so the first frame's is the run's.
        self.env.rx_ecn = Ecn::from_tos(run.frames[0][l2 + 1]);
        self.deliver(key, &tuple, &whole);
        self.env.rx_ecn = Ecn::NotEct;
        self.env.rx_gso = 0;
        if let Some(e) = self.conns.get_mut(key) {
            e.conn.clear_staged();
        }
        self.gro_pad = pad;
        merged
    }

    /// Stages the run's payloads in the connection's receive buffer from
    /// the first on, each checksum verified, until one does not fit or
    /// fails: (segments staged, their bytes, whether one had PSH).
    #[allow(clippy::too_many_arguments)]
    fn stage_run(
        &mut self,
        key: Key,
        l2: usize,
        run: &Run<'_>,
        seg: &TcpRepr<'_>,
        packet: &TcpPacket<&[u8]>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> (usize, usize, bool) {
        let Some(entry) = self.conns.get_mut(key) else {
            return (0, 0, false);
        };
        let conn = &mut entry.conn;
        let Some(sum) = conn.stage_payload(seg, &mut self.env.spares) else {
            return (0, 0, false);
        };
        if !packet.verify_checksum_with(src, dst, sum) {
            return (0, 0, false);
        }
        let header = run.first.payload_at - l2 - 20;
        let mut len = seg.payload.len();
        let mut push = seg.flags.contains(TcpFlags::PSH);
        let mut merged = 1;
        // Every segment of the run has these addresses (a merge rule).
        let addresses = checksum::pseudo_header(src, dst, IpProtocol::Tcp, 0);
        for (frame, c) in run.frames[1..run.len].iter().zip(&run.cands[1..run.len]) {
            let tcp = &frame[l2 + 20..c.end];
            let payload = &frame[c.payload_at..c.end];
            let before = conn.staged_len();
            let Some(sum) = conn.stage_more(crate::SeqNum(c.seq), payload) else {
                break;
            };
            if !tcp_checksum_ok(addresses, tcp, header, sum) {
                conn.truncate_staged(before);
                break;
            }
            len += payload.len();
            push |= c.push;
            merged += 1;
        }
        (merged, len, push)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `same_flow` as it was written first, byte range by byte range: the
    /// reference the word-at-a-time version must agree with.
    fn same_flow_by_ranges(a: &[u8], b: &[u8], l2: usize, payload_at: usize) -> bool {
        let (ai, bi) = (&a[l2..payload_at], &b[l2..payload_at]);
        a[..l2] == b[..l2]
            && ai[..2] == bi[..2]
            && ai[8..10] == bi[8..10]
            && ai[12..20] == bi[12..20]
            && ai[20..24] == bi[20..24]
            && ai[28..33] == bi[28..33]
            && ai[34..36] == bi[34..36]
            && ai[38..] == bi[38..]
    }

    proptest! {
        #[test]
        fn words_and_masks_agree_with_byte_ranges(
            l2 in prop_oneof![Just(0_usize), Just(14)],
            options in (0_usize..=10).prop_map(|w| 4 * w),
            base in proptest::collection::vec(any::<u8>(), 14 + 40 + 40 + 8),
            // Bytes of the second header changed: (position, new value).
            edits in proptest::collection::vec((0_usize..94, any::<u8>()), 0..4),
        ) {
            let payload_at = l2 + FIXED_HEADERS + options;
            let a = base.clone();
            let mut b = base;
            for (at, v) in edits {
                if at < payload_at {
                    b[at] = v;
                }
            }
            prop_assert_eq!(
                same_flow(&a, &b, l2, payload_at),
                same_flow_by_ranges(&a, &b, l2, payload_at)
            );
        }
    }

    #[test]
    fn every_varying_byte_is_ignored_and_every_other_compared() {
        let a = [0x5A_u8; 14 + FIXED_HEADERS + 12];
        for l2 in [0, 14] {
            let payload_at = l2 + FIXED_HEADERS + 12;
            for at in 0..payload_at {
                let mut b = a;
                b[at] ^= 0xFF;
                let varying =
                    at >= l2 && matches!(at - l2, 2..=7 | 10 | 11 | 24..=27 | 33 | 36 | 37);
                assert_eq!(
                    same_flow(&a, &b, l2, payload_at),
                    varying,
                    "byte {at} with a {l2}-byte link header"
                );
            }
        }
    }
}
