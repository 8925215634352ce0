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
//! right after it (through one `Connection::stager` for the run) and its
//! checksum verified from that sum and the header words the run's segments
//! share, summed once (`Run::base`), and then one segment with the first
//! one's header and the
//! run's length goes through the engine, which commits the staged bytes
//! instead of reading a payload. A segment whose checksum fails ends the
//! run and goes in alone, so the stack counts it as it always does; a run
//! that cannot be staged (not ESTABLISHED, out-of-order data held, no room)
//! goes in frame by frame. Link and IP counters see a run once, as Linux's
//! do after GRO.

mod owned;

use super::slab::Key;
use super::{Demux, Direction, FourTuple, IfaceId, Stack, slots};
use crate::ip::addr::{Destination, check_martian, classify_destination};
use crate::tcp::conn::Stager;
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
/// (The tests' reference for the flow; `Run::push` compares [`COMPARED`].)
#[cfg(test)]
const SHARED: [u64; 5] = mask_words(shared_bytes());

/// [`SHARED`] and the bits of the varying bytes that `candidate` requires
/// to be the same in every segment it takes: the fragment bits of bytes
/// 6-7 (MF and the offset, zero: RFC 791 §3.1) and the TCP flags but PSH
/// (ACK alone: RFC 9293 §3.1). A frame whose bytes equal a candidate's
/// under this mask is in its flow and passes those two tests of
/// `candidate` too, so `Run::push` makes one comparison for all three.
const COMPARED: [u64; 5] = mask_words(compared_bytes());

/// [`SHARED`] byte by byte.
const fn shared_bytes() -> [u8; FIXED_HEADERS] {
    let mut bytes = [0xFF_u8; FIXED_HEADERS];
    let varying = [2, 3, 4, 5, 6, 7, 10, 11, 24, 25, 26, 27, 33, 36, 37];
    let mut i = 0;
    while i < varying.len() {
        bytes[varying[i]] = 0;
        i += 1;
    }
    bytes
}

/// [`COMPARED`] byte by byte.
const fn compared_bytes() -> [u8; FIXED_HEADERS] {
    let mut bytes = shared_bytes();
    // MF and the fragment offset's high bits; its low byte.
    bytes[6] = 0x3F;
    bytes[7] = 0xFF;
    bytes[33] = !PSH;
    bytes
}

/// A byte mask of the fixed headers as native-endian words, as
/// [`header_word`] reads them.
const fn mask_words(bytes: [u8; FIXED_HEADERS]) -> [u64; 5] {
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

/// The bytes of a fixed-header block under `mask` ([`COMPARED`]), word
/// by word.
#[inline(always)]
fn masked_words(h: &[u8; FIXED_HEADERS], mask: [u64; 5]) -> [u64; 5] {
    let mut words = [0; 5];
    for (w, (word, m)) in words.iter_mut().zip(mask).enumerate() {
        *word = header_word(h, w) & m;
    }
    words
}

/// `a == b` for two byte strings of the same length `len` (a link header,
/// TCP options): the usual lengths compared as fixed arrays, in registers,
/// instead of through a `memcmp` call.
#[inline(always)]
fn bytes_equal(a: &[u8], b: &[u8], len: usize) -> bool {
    match len {
        0 => true,
        // Timestamps (RFC 7323 §3, padded to 12), or an Ethernet header.
        12 => a.first_chunk::<12>() == b.first_chunk::<12>(),
        14 => a.first_chunk::<14>() == b.first_chunk::<14>(),
        _ => a.get(..len) == b.get(..len),
    }
}

/// The TCP checksum of a segment (RFC 9293 §3.1) whose payload sum is
/// known, from the run's `base` (see [`Run::base`]) and the header fields
/// that vary within a run: the sequence number, the flags' 16-bit word and
/// the checksum itself, each added at its place in a native-endian word,
/// and the length (RFC 1071 §2(B) and (C): a sum of parts in any grouping
/// and byte order, folded once).
#[inline(always)]
fn tcp_checksum_ok(base: u64, h: &[u8; FIXED_HEADERS], tcp_len: usize, payload_sum: u16) -> bool {
    let seq = u32::from_ne_bytes([h[24], h[25], h[26], h[27]]);
    let flags = u16::from_ne_bytes([h[32], h[33]]);
    let check = u16::from_ne_bytes([h[36], h[37]]);
    // At most 65535: one IPv4 datagram.
    let len = u32::from_ne_bytes((tcp_len as u32).to_be_bytes());
    let acc = base
        + u64::from(seq)
        + u64::from(flags)
        + u64::from(check)
        + u64::from(len)
        + checksum::to_native(payload_sum);
    checksum::is_valid(checksum::native_folded(acc))
}

/// The IP header checksum is right (RFC 791).
#[inline(always)]
fn ip_checksum_ok(h: &[u8; FIXED_HEADERS]) -> bool {
    h.first_chunk::<20>()
        .is_some_and(|ip| checksum::is_valid(checksum::ipv4_header(ip)))
}

/// The run being built: frames still in the caller's buffers. It holds
/// the first `HELD` of them: every one ([`MAX_RUN`]) where the frames come
/// from an iterator and the run hands them on (`handle_frames`), only the
/// first where the caller has them in order in its own slice
/// (`handle_frames_owned`), so that nothing fills an array no one reads
/// (a run of one 64 KiB frame paid 1 KiB of stores for it).
struct Run<'a, const HELD: usize = MAX_RUN> {
    frames: [&'a [u8]; HELD],
    /// Bit `i`: frame `i` has PSH. (The rest of what `candidate` finds
    /// in a frame, `stage_run` reads from its header again.)
    pushes: u64,
    len: usize,
    first: Candidate,
    /// The first frame's [`COMPARED`] bytes: every further frame's must
    /// equal them.
    compared: [u64; 5],
    /// The first frame's TCP options: every further frame's must equal
    /// them.
    options: &'a [u8],
    /// The sequence number the next segment must have.
    next_seq: u32,
    /// Bytes of the merged datagram (IP and TCP headers, every payload).
    datagram: usize,
    /// A segment shorter than the first ended the run.
    ended: bool,
}

impl<'a> Run<'a> {
    /// A run of `frame` that holds all its frames.
    fn new(frame: &'a [u8], c: Candidate, l2: usize) -> Run<'a> {
        Run::start(frame, c, l2)
    }
}

impl<'a> Run<'a, 1> {
    /// A run of `frame` that holds only its first frame.
    fn first_only(frame: &'a [u8], c: Candidate, l2: usize) -> Run<'a, 1> {
        Run::start(frame, c, l2)
    }
}

impl<'a, const HELD: usize> Run<'a, HELD> {
    /// A run of `frame`, a candidate `c` (its fixed headers are there).
    #[inline(always)]
    fn start(frame: &'a [u8], c: Candidate, l2: usize) -> Run<'a, HELD> {
        Run {
            frames: [frame; HELD],
            pushes: u64::from(c.push),
            len: 1,
            first: c,
            compared: fixed_headers(frame, l2).map_or([0; 5], |h| masked_words(h, COMPARED)),
            options: frame
                .get(l2 + FIXED_HEADERS..c.payload_at)
                .unwrap_or_default(),
            next_seq: c.seq.wrapping_add(c.payload_len() as u32),
            datagram: c.end - l2,
            ended: false,
        }
    }

    /// Adds frames from `frames` while they continue the run (see
    /// [`Run::push`]); returns the first that does not, if any. One call
    /// for the run, the frames' tests in one loop. (Not `Iterator::find`:
    /// its closure, `push` and all, stays a call per frame, +16 instructions
    /// a segment in the bulk run.)
    #[allow(clippy::manual_find)]
    #[inline(never)]
    fn extend(
        &mut self,
        frames: &mut impl Iterator<Item = &'a [u8]>,
        l2: usize,
    ) -> Option<&'a [u8]> {
        for frame in frames {
            if !self.push(frame, l2) {
                return Some(frame);
            }
        }
        None
    }

    /// Adds `frame` if it continues the run (module docs); `false` if not.
    /// The same answer as [`candidate`] (with `handle_frames`' size
    /// filter) and the merge rules, from fewer tests: a frame whose shared
    /// header bytes equal the first's has its version and header length,
    /// protocol and TCP header length, all of which `candidate` checked
    /// on the first (the tests' `push_by_candidate` is the reference).
    #[inline(always)]
    fn push(&mut self, frame: &'a [u8], l2: usize) -> bool {
        if self.ended || self.len == MAX_RUN {
            return false;
        }
        let Some(h) = fixed_headers(frame, l2) else {
            return false;
        };
        let mut differ = 0;
        for (w, (mask, first)) in COMPARED.iter().zip(self.compared).enumerate() {
            differ |= (header_word(h, w) & mask) ^ first;
        }
        // The flow, no fragment, ACK with or without PSH (see `COMPARED`).
        if differ != 0 {
            return false;
        }
        let payload_at = self.first.payload_at;
        let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
        // `candidate`'s bounds: the datagram within the frame, longer than
        // its headers (which are the first's, at least 40 bytes).
        if l2 + total > frame.len() || l2 + total <= payload_at {
            return false;
        }
        let c = Candidate {
            payload_at,
            end: l2 + total,
            seq: u32::from_be_bytes([h[24], h[25], h[26], h[27]]),
            push: h[33] & PSH != 0,
        };
        // No larger than the first, within 64 KiB (which also keeps it
        // within `handle_frames`' size filter: `datagram` is at least the
        // headers and `gso` bytes), the next sequence number.
        let gso = self.first.payload_len();
        let first = self.frames[0];
        if c.seq != self.next_seq
            || c.payload_len() > gso
            || self.datagram + c.payload_len() > MAX_DATAGRAM
            || !bytes_equal(first, frame, l2)
            || !frame
                .get(l2 + FIXED_HEADERS..payload_at)
                .is_some_and(|o| bytes_equal(self.options, o, self.options.len()))
            || !ip_checksum_ok(h)
        {
            return false;
        }
        self.append(frame, c.seq, c.payload_len(), c.push, gso);
        true
    }

    /// Adds `frame` (sequence number `seq`, `len` payload bytes, PSH if
    /// `push`) to the run; a payload shorter than the run's `gso` ends it.
    #[inline(always)]
    fn append(&mut self, frame: &'a [u8], seq: u32, len: usize, push: bool, gso: usize) {
        if let Some(held) = self.frames.get_mut(self.len) {
            *held = frame;
        }
        self.pushes |= u64::from(push) << self.len;
        self.len += 1;
        self.next_seq = seq.wrapping_add(len as u32);
        self.datagram += len;
        self.ended = len < gso;
    }

    /// The part of every segment's TCP checksum sum that the run's
    /// segments share (see [`run_base`]).
    fn base(&self, l2: usize, src: Ipv4Addr, dst: Ipv4Addr) -> u64 {
        run_base(self.frames[0], self.first.payload_at, l2, src, dst)
    }
}

/// A run's first segment (`first` in `frame`, from `src` to `dst`): its
/// TCP packet, the segment as parsed (checksum not yet verified) and its
/// connection's four-tuple. `None` if it does not parse: the ordinary path
/// counts it. Always inlined: out of line, the segment (over a hundred
/// bytes) is built and moved out, and LLVM then lays out
/// `TcpPacket::verify_checksum` differently for every caller (+86
/// instructions a handshake, none of whose segments comes here).
#[inline(always)]
fn run_head(
    frame: &[u8],
    first: Candidate,
    l2: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> Option<(TcpPacket<&[u8]>, TcpRepr<'_>, FourTuple)> {
    let packet = TcpPacket::new_checked(frame.get(l2 + 20..first.end)?).ok()?;
    let seg = TcpRepr::parse(&packet, src, dst, Checksum::Offload).ok()?;
    let tuple = FourTuple {
        local: SocketAddrV4::new(dst, seg.dst_port),
        remote: SocketAddrV4::new(src, seg.src_port),
    };
    Some((packet, seg, tuple))
}

/// The part of every segment's TCP checksum sum that a run's segments
/// share, native-endian and not folded: the pseudo-header's addresses and
/// protocol, and the `first` frame's TCP header (up to `payload_at`) with
/// the bytes that vary within a run (sequence number, data offset and
/// flags, checksum) counted as zero; its options are every segment's.
fn run_base(first: &[u8], payload_at: usize, l2: usize, src: Ipv4Addr, dst: Ipv4Addr) -> u64 {
    let tcp = &first[l2 + 20..payload_at];
    let mut acc = u64::from(u32::from_ne_bytes(src.octets()))
        + u64::from(u32::from_ne_bytes(dst.octets()))
        + u64::from(u32::from_ne_bytes([0, u8::from(IpProtocol::Tcp), 0, 0]));
    for (i, w) in tcp.chunks_exact(4).enumerate() {
        let w = match i {
            1 => [0; 4],
            3 => [0, 0, w[2], w[3]],
            4 => [0, 0, w[2], w[3]],
            _ => [w[0], w[1], w[2], w[3]],
        };
        acc += u64::from(u32::from_ne_bytes(w));
    }
    acc
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
        let Some(second) = frames.next() else {
            // A batch of one (a handshake's segments, a request, its
            // answer) has nothing to merge with: straight in.
            return self.handle_frame_on(now, iface, first);
        };
        let mut frames = core::iter::once(second).chain(frames);
        let mut next = Some(first);
        while let Some(frame) = next {
            // A segment too long to share a datagram with another of its
            // size (64 KiB MTUs) never merges: straight in.
            let Some(c) =
                candidate(frame, l2).filter(|c| c.end - l2 + c.payload_len() <= MAX_DATAGRAM)
            else {
                self.handle_frame_on(now, iface, frame);
                next = frames.next();
                continue;
            };
            // The frames that continue it join the run; the first that does
            // not is looked at once the run has gone in.
            let mut run = Run::new(frame, c, l2);
            next = run.extend(&mut frames, l2);
            self.gro_flush(now, iface, l2, &run);
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
        // With MD5 keys in the stack each segment's signature is checked
        // on its own (`tcp_md5`).
        if self.md5_active {
            return None;
        }
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
        let ip = fixed_headers(frame, l2)?;
        if !ip_checksum_ok(ip) {
            return None;
        }
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let is_local = self.is_local_addr(dst);
        let src_is_local = self.is_local_addr(src);
        let subnets = self.ifaces.iter().map(|i| i.cidr);
        if check_martian(src, dst, subnets.clone(), false, src_is_local).is_err()
            || classify_destination(dst, subnets, is_local) != Destination::Local
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
        let Some((packet, seg, tuple)) = run_head(run.frames[0], first, l2, src, dst) else {
            return 0;
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
        let gso = u16::try_from(first.payload_len()).unwrap_or(0);
        let tos = run.frames[0][l2 + 1];
        self.deliver_merged(key, l2, &tuple, &seg, push, len, gso, tos);
        merged
    }

    /// A run's segment, its payloads staged already (copied, or kept in
    /// their frames), through TCP: `head` with PSH if `push`, `len` bytes
    /// of text in segments of `gso` bytes (0: one segment), TOS byte `tos`.
    /// Whatever was staged and not taken is forgotten (kept frames go back
    /// to the driver).
    #[allow(clippy::too_many_arguments)]
    fn deliver_merged(
        &mut self,
        key: Key,
        l2: usize,
        tuple: &FourTuple,
        head: &TcpRepr<'_>,
        push: bool,
        len: usize,
        gso: u16,
        tos: u8,
    ) {
        // Counted once, as Linux counts a GRO packet.
        let stats = &mut self.env.stats;
        if l2 > 0 {
            stats.eth.in_frames += 1;
        }
        stats.ip.in_receives += 1;
        stats.ip.in_delivers += 1;
        stats.tcp.in_segs += 1;
        // The engine commits the staged bytes and never reads these: the
        // run's payload is already in place (see `RecvHalf::stage` and
        // `RecvHalf::stage_kept`).
        let mut pad = core::mem::take(&mut self.gro_pad);
        if pad.len() < len {
            pad.resize(MAX_DATAGRAM, 0);
        }
        let mut flags = head.flags;
        if push {
            flags |= TcpFlags::PSH;
        }
        let whole = TcpRepr {
            flags,
            ..head.with_payload(&pad[..len])
        };
        if self.trace.segments {
            self.trace_segment(Direction::In, tuple, &whole);
        }
        self.env.rx_gso = gso;
        // RFC 3168 §6.1.3: TCP needs the ECN field; a run shares one TOS
        // byte (a merge rule), so the first frame's is the run's.
        self.env.rx_tos = tos;
        self.deliver(key, tuple, &whole);
        self.env.rx_tos = 0;
        self.env.rx_gso = 0;
        if let Some(e) = self.conns.get_mut(key) {
            e.conn.drop_kept_pending(&mut self.env.spares.frames);
            e.conn.clear_staged();
        }
        self.gro_pad = pad;
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
        let len = seg.payload.len();
        // The further segments' payload bytes: the run's datagram less the
        // first one's.
        let rest = run.datagram - (run.first.end - l2);
        let Some(mut stager) = conn.stager(seg.seq + len as u32, rest) else {
            return (1, len, seg.flags.contains(TcpFlags::PSH));
        };
        // Every segment of the run shares these (the merge rules).
        let base = run.base(l2, src, dst);
        let frames = &run.frames[1..run.len];
        let (more, bytes) = stage_rest(&mut stager, frames, l2, run.first.payload_at, base);
        let merged = 1 + more;
        // Bit `i` of `pushes`: frame `i`'s PSH; the first `merged` count.
        let push = run.pushes & (u64::MAX >> (64 - merged)) != 0;
        (merged, len + bytes, push)
    }
}

/// Stages the payloads of `frames`, a run's second segment on (after an
/// `l2`-byte link header, payloads from `payload_at`), each checksum
/// verified from the run's `base`, until one does not fit or fails:
/// (segments staged, their bytes). A loop of its own, out of line, so that
/// what it keeps stays in registers across the copies' calls.
#[inline(never)]
fn stage_rest<F: AsRef<[u8]>>(
    stager: &mut Stager<'_>,
    frames: &[F],
    l2: usize,
    payload_at: usize,
    base: u64,
) -> (usize, usize) {
    let mut bytes = 0;
    for (n, frame) in frames.iter().enumerate() {
        let frame = frame.as_ref();
        // `Run::push` checked these bounds.
        let Some(h) = fixed_headers(frame, l2) else {
            return (n, bytes);
        };
        let end = l2 + usize::from(u16::from_be_bytes([h[2], h[3]]));
        let Some(payload) = frame.get(payload_at..end) else {
            return (n, bytes);
        };
        let tcp_len = end - l2 - 20;
        if !stager.stage_if(payload, |sum| tcp_checksum_ok(base, h, tcp_len, sum)) {
            return (n, bytes);
        }
        bytes += payload.len();
    }
    (frames.len(), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whether `b` belongs to the same run as `a` (both candidates with the
    /// same header length `payload_at`, past the `l2`-byte link header): the
    /// link header equal, the fixed headers equal in every [`SHARED`] byte
    /// (compared a word at a time), and the TCP options equal. (`Run::push`
    /// before it compared with the first frame's words kept.)
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

    /// `Run::push` as it was before it took the shared header words as
    /// proof of `candidate`'s tests: `candidate` with `handle_frames`' size
    /// filter, then every merge rule, the IP checksum by `checksum::header`.
    /// The reference the short way must agree with.
    fn push_by_candidate<'a>(run: &mut Run<'a>, frame: &'a [u8], l2: usize) -> bool {
        let Some(c) = candidate(frame, l2).filter(|c| c.end - l2 + c.payload_len() <= MAX_DATAGRAM)
        else {
            return false;
        };
        let gso = run.first.payload_len();
        if run.ended
            || run.len == MAX_RUN
            || c.payload_at != run.first.payload_at
            || c.seq != run.next_seq
            || c.payload_len() > gso
            || run.datagram + c.payload_len() > MAX_DATAGRAM
            || !same_flow(run.frames[0], frame, l2, c.payload_at)
            || !checksum::is_valid(checksum::header(&frame[l2..l2 + 20]))
        {
            return false;
        }
        run.append(frame, c.seq, c.payload_len(), c.push, gso);
        true
    }

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A TCP/IPv4 data segment with right checksums after an `l2`-byte
    /// link header.
    fn segment(l2: usize, options: &[u8], seq: u32, payload: &[u8], push: bool) -> Vec<u8> {
        let mut f = vec![0_u8; l2];
        if l2 == 14 {
            f.copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        }
        let total = (40 + options.len() + payload.len()) as u16;
        f.extend_from_slice(&[0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0]);
        f[l2 + 2..l2 + 4].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&SRC.octets());
        f.extend_from_slice(&DST.octets());
        let ip_sum = checksum::finish(checksum::header(&f[l2..l2 + 20]));
        f[l2 + 10..l2 + 12].copy_from_slice(&ip_sum.to_be_bytes());
        f.extend_from_slice(&[0x30, 0x39, 0x00, 0x50]);
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x10, 0]);
        let flags = if push { ACK | PSH } else { ACK };
        f.extend_from_slice(&[((20 + options.len()) / 4 * 16) as u8, flags, 0xFF, 0xFF]);
        // The checksum, then an urgent pointer (without URG, but summed).
        f.extend_from_slice(&[0, 0, 0x12, 0x34]);
        f.extend_from_slice(options);
        f.extend_from_slice(payload);
        let tcp = &f[l2 + 20..];
        let sum = checksum::with_pseudo_header(SRC, DST, IpProtocol::Tcp, tcp.len() as u32, tcp);
        let at = l2 + 36;
        f[at..at + 2].copy_from_slice(&checksum::finish(sum).to_be_bytes());
        f
    }

    /// The TCP checksum of a whole segment, the usual way.
    fn tcp_checksum_whole(frame: &[u8], l2: usize, end: usize) -> bool {
        let tcp = &frame[l2 + 20..end];
        checksum::is_valid(checksum::with_pseudo_header(
            SRC,
            DST,
            IpProtocol::Tcp,
            tcp.len() as u32,
            tcp,
        ))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The short `Run::push` takes exactly the frames the reference
        /// takes, over runs of consecutive segments with bytes changed
        /// anywhere in their headers (or just past them), their lengths
        /// changed, or frames cut short; and for each merged segment the
        /// run's checksum from `Run::base` agrees with the whole segment's.
        #[test]
        fn push_agrees_with_candidate_and_the_merge_rules(
            l2 in prop_oneof![Just(0_usize), Just(14)],
            options in prop_oneof![Just(0_usize), Just(3), Just(1), Just(10)],
            sizes in proptest::collection::vec(
                prop_oneof![4 => Just(100_usize), 1 => 0_usize..120], 2..12),
            // (frame, byte in it, new value): a byte changed.
            edits in proptest::collection::vec((0_usize..12, 0_usize..110, any::<u8>()), 0..4),
            // (frame, bytes kept): a frame cut short.
            cuts in proptest::collection::vec((0_usize..12, 0_usize..160), 0..2),
            pushes in proptest::collection::vec(any::<bool>(), 12),
        ) {
            let opts: Vec<u8> = (0..4 * options).map(|i| [1, 1, 8, 10][i % 4]).collect();
            let mut seq = 0xFFFF_FF00_u32;
            let mut frames: Vec<Vec<u8>> = Vec::new();
            for (i, &n) in sizes.iter().enumerate() {
                let payload: Vec<u8> = (0..n).map(|b| (b * 7 + i) as u8).collect();
                frames.push(segment(l2, &opts, seq, &payload, pushes[i]));
                seq = seq.wrapping_add(n as u32);
            }
            for (f, at, v) in edits {
                if let Some(frame) = frames.get_mut(f)
                    && let Some(b) = frame.get_mut(at)
                {
                    *b = v;
                }
            }
            for (f, keep) in cuts {
                if let Some(frame) = frames.get_mut(f) {
                    frame.truncate(keep);
                }
            }
            let mut short: Option<Run<'_>> = None;
            let mut reference: Option<Run<'_>> = None;
            for frame in &frames {
                if let (Some(s), Some(r)) = (short.as_mut(), reference.as_mut()) {
                    let took = s.push(frame, l2);
                    prop_assert_eq!(took, push_by_candidate(r, frame, l2));
                    if took {
                        prop_assert_eq!(s.pushes, r.pushes);
                        let base = s.base(l2, SRC, DST);
                        let c = candidate(frame, l2).unwrap();
                        let payload_sum = checksum::data(&frame[c.payload_at..c.end]);
                        let h = fixed_headers(frame, l2).unwrap();
                        prop_assert_eq!(
                            tcp_checksum_ok(base, h, c.end - l2 - 20, payload_sum),
                            tcp_checksum_whole(frame, l2, c.end)
                        );
                        continue;
                    }
                }
                let c = candidate(frame, l2)
                    .filter(|c| c.end - l2 + c.payload_len() <= MAX_DATAGRAM);
                short = c.map(|c| Run::new(frame, c, l2));
                reference = c.map(|c| Run::new(frame, c, l2));
            }
        }

        /// A run's checksum from `Run::base` against the whole segment's,
        /// for any bytes in the header fields that vary within a run and
        /// in the payload.
        #[test]
        fn run_checksums_agree_with_the_whole_segments(
            l2 in prop_oneof![Just(0_usize), Just(14)],
            options in 0_usize..=10,
            payload in proptest::collection::vec(any::<u8>(), 1..200),
            seq: u32,
            flags: u8,
            check: u16,
            fix in any::<bool>(),
        ) {
            let opts: Vec<u8> = (0..4 * options).map(|i| (i * 13) as u8).collect();
            let first = segment(l2, &opts, 7, &[1, 2, 3], false);
            let mut f = segment(l2, &opts, seq, &payload, false);
            f[l2 + 33] = flags;
            if !fix {
                f[l2 + 36..l2 + 38].copy_from_slice(&check.to_be_bytes());
            }
            let c = candidate(&first, l2).unwrap();
            let run = Run::new(&first, c, l2);
            let payload_at = l2 + 40 + opts.len();
            let h = fixed_headers(&f, l2).unwrap();
            prop_assert_eq!(
                tcp_checksum_ok(run.base(l2, SRC, DST), h, f.len() - l2 - 20, checksum::data(&f[payload_at..])),
                tcp_checksum_whole(&f, l2, f.len())
            );
        }
    }

    #[test]
    fn an_intact_run_merges_whole_and_a_bad_ip_checksum_ends_it() {
        let opts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        for l2 in [0, 14] {
            let frames: Vec<Vec<u8>> = (0..4)
                .map(|i| segment(l2, &opts, 1000 + 100 * i, &[i as u8; 100], i == 1))
                .collect();
            let c = candidate(&frames[0], l2).unwrap();
            let mut run = Run::new(&frames[0], c, l2);
            assert!(frames[1..].iter().all(|f| run.push(f, l2)));
            assert_eq!(run.len, 4);
            let mut bad = segment(l2, &opts, 1400, &[9; 100], false);
            bad[l2 + 10] ^= 1;
            assert!(!run.push(&bad, l2));
        }
    }

    /// The fragment and flag tests folded into [`COMPARED`]: every value of
    /// the IP flags and fragment offset bytes (6, 7) and of the TCP flags
    /// (33), the IP checksum made right again so only the byte differs,
    /// taken exactly when the reference (`candidate`'s own tests) takes it.
    #[test]
    fn fragments_and_flags_in_the_mask_agree_with_candidate() {
        let opts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        for l2 in [0, 14] {
            let first = segment(l2, &opts, 1000, &[1; 100], false);
            for at in [6, 7, 33] {
                for v in 0..=255_u8 {
                    let mut f = segment(l2, &opts, 1100, &[2; 100], false);
                    f[l2 + at] = v;
                    f[l2 + 10..l2 + 12].fill(0);
                    let ip_sum = checksum::finish(checksum::header(&f[l2..l2 + 20]));
                    f[l2 + 10..l2 + 12].copy_from_slice(&ip_sum.to_be_bytes());
                    let c = candidate(&first, l2).unwrap();
                    let mut short = Run::new(&first, c, l2);
                    let mut reference = Run::new(&first, c, l2);
                    assert_eq!(
                        short.push(&f, l2),
                        push_by_candidate(&mut reference, &f, l2),
                        "byte {at} = {v:#04x} with a {l2}-byte link header"
                    );
                    assert_eq!(short.pushes, reference.pushes);
                }
            }
        }
    }

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
