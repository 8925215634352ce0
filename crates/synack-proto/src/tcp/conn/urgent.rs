//! The urgent mechanism: URG and the urgent pointer, MSG_OOB, SO_OOBINLINE
//! and SIOCATMARK, as Linux implements them.
//!
//! Read first: RFC 9293 §3.8.5 (the urgent pointer points to the octet
//! *following* the urgent data, RFC 6093 §4; MUST-30 to MUST-33: urgent
//! data of any length, the application told when a pointer arrives or
//! advances, and how much is left), §3.10.7.4 "sixth, check the URG bit";
//! RFC 6093 §5 (new applications should not use it; its one-byte
//! "out-of-band" reading is the BSD sockets' interpretation, which
//! implementations follow).
//!
//! What Linux does, and this module with it:
//! - **Sending** (`send(MSG_OOB)`, Linux `tcp_mark_urg`): SND.UP becomes the
//!   end of the queued data; every segment sent while SND.UP is ahead of
//!   SND.UNA and its own sequence number carries URG with the pointer
//!   SND.UP - SEG.SEQ, or 0xFFFF when that is too far (`tcp_transmit_skb`).
//!   Nagle and the cork do not hold data in urgent mode (`tcp_nagle_test`),
//!   and each segment before SND.UP goes alone (no segmentation offload),
//!   so that each carries its own pointer.
//! - **Receiving** (`tcp_check_urg`, with `tcp_stdurg` 0): the urgent byte
//!   is the one before the pointer, SEG.SEQ + SEG.UP - 1. A pointer
//!   behind the bytes read, behind RCV.NXT, or not beyond the mark held
//!   changes nothing; a new one is the mark, and the application is told
//!   ([`super::ConnEvent::Urgent`], Linux's SIGURG). A new mark while the
//!   old one is the next byte to read, not in line and not the last byte
//!   received, drops that old byte (what Linux 6.x still does, its comment
//!   calling such applications buggy).
//! - **Reading**: a read stops before the mark; at the mark it skips the
//!   urgent byte (unless SO_OOBINLINE) and goes on. `recv(MSG_OOB)` reads
//!   the byte once it arrived, once (EINVAL after, or with SO_OOBINLINE,
//!   or without a mark; EAGAIN before it arrived, never blocking).
//!   SIOCATMARK says whether the next byte to read is the mark. The mark
//!   goes once the reads pass it.
//!
//! One difference: Linux copies the urgent byte out of whichever segment
//! holds it as that segment arrives, even out of order; here the byte is
//! read from the receive buffer, so `recv(MSG_OOB)` has it once RCV.NXT
//! passed it (which, for an in-order stream, is the same moment).

use super::api::{RecvError, RecvFlags};
use super::recv::RecvHalf;
use super::send::SendHalf;
use super::{ConnEvent, Connection, Env};
use crate::SeqNum;
use crate::tcp::state::TcpState;
use crate::time::Instant;
use crate::wire::checksum;
use crate::wire::tcp::{TcpFlags, TcpRepr};

/// The receive side's urgent mark (Linux `urg_seq` and `urg_data`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UrgentMark {
    /// The urgent byte's sequence number: the one before the pointer.
    pub seq: SeqNum,
    /// `recv(MSG_OOB)` took the byte (Linux `TCP_URG_READ`).
    pub taken: bool,
}

/// Why `recv(MSG_OOB)` found no byte to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoUrgentByte {
    /// No mark, the byte was taken or passed, or SO_OOBINLINE (EINVAL).
    Invalid,
    /// The mark is known, its byte has not arrived (EAGAIN).
    NotYet,
}

/// The urgent byte a segment's pointer names (RFC 9293 §3.8.5: the pointer
/// is the offset of the octet following the urgent data; Linux's default
/// `tcp_stdurg` 0 reads it so), or `None` without URG.
pub(crate) fn urgent_byte(seg: &TcpRepr<'_>) -> Option<SeqNum> {
    if !seg.flags.contains(TcpFlags::URG) {
        return None;
    }
    let ptr = u32::from(seg.urgent);
    Some(seg.seq + ptr.saturating_sub(1))
}

/// What a pointer that arrived does to the mark `held` (Linux
/// `tcp_check_urg`): `None` when it changes nothing, else the new mark.
/// `copied` is the next byte the application reads, `rcv_nxt` RCV.NXT
/// before the segment's text.
pub(crate) fn new_mark(
    byte: SeqNum,
    held: Option<UrgentMark>,
    copied: SeqNum,
    rcv_nxt: SeqNum,
) -> Option<UrgentMark> {
    // Urgent data already read, or a pointer into bytes already received
    // (Linux does not replay it), or one not beyond the mark held.
    if copied.after(byte) || byte.before(rcv_nxt) {
        return None;
    }
    if held.is_some_and(|m| !byte.after(m.seq)) {
        return None;
    }
    Some(UrgentMark {
        seq: byte,
        taken: false,
    })
}

/// Whether a new mark drops the old urgent byte: it is the next byte to
/// read, read out of line, and not the last byte received (Linux's
/// `tcp_check_urg` moves `copied_seq` over it).
pub(crate) fn drops_old_byte(
    held: Option<UrgentMark>,
    copied: SeqNum,
    rcv_nxt: SeqNum,
    inline: bool,
) -> bool {
    held.is_some_and(|m| m.seq == copied) && !inline && copied != rcv_nxt
}

/// How a read goes around the mark: bytes to skip first (the urgent byte
/// itself, out of line, when it is the next one) and the most to read
/// after them (up to the mark when it is ahead).
pub(crate) fn read_plan(
    mark: UrgentMark,
    copied: SeqNum,
    readable: usize,
    inline: bool,
) -> (usize, usize) {
    if mark.seq == copied {
        let skip = usize::from(!inline && readable > 0);
        return (skip, readable - skip);
    }
    if mark.seq.after(copied) {
        let to_mark = mark.seq.since(copied) as usize;
        return (0, readable.min(to_mark));
    }
    (0, readable)
}

/// `recv(MSG_OOB)` on `rcv` with the mark it holds (Linux `tcp_recv_urg`):
/// the urgent byte, or why not.
pub(crate) fn urgent_byte_of(
    rcv: &RecvHalf,
    mark: Option<UrgentMark>,
    inline: bool,
) -> Result<u8, NoUrgentByte> {
    let Some(mark) = mark.filter(|m| !m.taken && !inline) else {
        return Err(NoUrgentByte::Invalid);
    };
    if !rcv.nxt.after(mark.seq) {
        return Err(NoUrgentByte::NotYet);
    }
    let copied = rcv.copied();
    if copied.after(mark.seq) {
        return Err(NoUrgentByte::Invalid);
    }
    let mut byte = [0u8; 1];
    match rcv.peek(mark.seq.since(copied) as usize, &mut byte) {
        1 => Ok(byte[0]),
        _ => Err(NoUrgentByte::Invalid),
    }
}

impl Connection {
    /// RFC 9293 §3.10.7.4 "sixth, check the URG bit", for an acceptable
    /// segment with URG: in ESTABLISHED and FIN-WAIT-1/2 a new mark, and
    /// the application told of it; after the peer's FIN it is ignored.
    #[cold]
    #[inline(never)]
    pub(super) fn check_urg(&mut self, seg: &TcpRepr<'_>, env: &mut Env) {
        let Some(byte) = urgent_byte(seg) else {
            return;
        };
        let state = self.state.kind();
        if !matches!(
            state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        ) {
            return;
        }
        let inline = self.core.socket.oob_inline();
        let Some(rcv) = self.state.recv_half_mut() else {
            return;
        };
        let (held, copied, nxt) = (rcv.urgent_mark(), rcv.copied(), rcv.nxt);
        let Some(mark) = new_mark(byte, held, copied, nxt) else {
            return;
        };
        if drops_old_byte(held, copied, nxt, inline) {
            read(rcv, &mut [0u8; 1], &mut env.spares.frames);
        }
        rcv.set_urgent_mark(Some(mark));
        if !self.core.life.orphan() {
            env.events.push(ConnEvent::Urgent);
        }
    }

    /// `recv` with flags: MSG_OOB reads the urgent byte, MSG_PEEK copies
    /// without consuming; without either, [`Connection::recv`].
    pub fn recv_with(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        flags: RecvFlags,
        env: &mut Env,
    ) -> Result<usize, RecvError> {
        if flags.oob {
            return self.recv_urgent(buf, flags.peek);
        }
        if !flags.peek {
            return self.recv(now, buf, env);
        }
        let inline = self.core.socket.oob_inline();
        let n = match (self.state.recv_half(), self.state.unread()) {
            (Some(rcv), _) => {
                let (skip, max) = match rcv.urgent_mark() {
                    Some(mark) => read_plan(mark, rcv.copied(), rcv.readable(), inline),
                    None => (0, rcv.readable()),
                };
                let want = buf.len().min(max);
                rcv.peek(skip, &mut buf[..want])
            }
            (None, Some(unread)) => unread.peek(0, buf),
            (None, None) => 0,
        };
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        self.core.life.set_readable_armed(true);
        self.nothing_read()
    }

    /// `recv(MSG_OOB)` (Linux `tcp_recv_urg`): the urgent byte into `buf`,
    /// taken unless `peek`. It never waits: `WouldBlock` until the byte
    /// arrives, end of stream (`Ok(0)`) if it cannot any more.
    fn recv_urgent(&mut self, buf: &mut [u8], peek: bool) -> Result<usize, RecvError> {
        let inline = self.core.socket.oob_inline();
        let read_shutdown = self.core.life.read_shutdown();
        let Some(rcv) = self.state.recv_half_mut() else {
            return Err(RecvError::NoUrgentData);
        };
        let mark = rcv.urgent_mark();
        match urgent_byte_of(rcv, mark, inline) {
            Ok(byte) => {
                let Some(first) = buf.first_mut() else {
                    return Ok(0);
                };
                *first = byte;
                if let (Some(m), false) = (mark, peek) {
                    rcv.set_urgent_mark(Some(UrgentMark { taken: true, ..m }));
                }
                Ok(1)
            }
            Err(NoUrgentByte::Invalid) => Err(RecvError::NoUrgentData),
            Err(NoUrgentByte::NotYet) if rcv.fin().is_some() || read_shutdown => Ok(0),
            Err(NoUrgentByte::NotYet) => Err(RecvError::WouldBlock),
        }
    }

    /// SIOCATMARK: whether the next byte to read is the urgent mark.
    pub fn at_mark(&self) -> bool {
        self.state
            .recv_half()
            .is_some_and(|rcv| rcv.urgent_mark().is_some_and(|m| m.seq == rcv.copied()))
    }

    /// Whether `recv(MSG_OOB)` has a byte to read now (Linux's EPOLLPRI).
    pub fn urgent_ready(&self) -> bool {
        self.state.recv_half().is_some_and(|rcv| {
            rcv.urgent_mark()
                .is_some_and(|m| !m.taken && rcv.nxt.after(m.seq) && !rcv.copied().after(m.seq))
        })
    }
}

/// [`RecvHalf::read_with`] for this module: a call of its own, so that
/// the plain `recv` keeps the reader inlined as its only caller.
#[inline(never)]
fn read(rcv: &mut RecvHalf, out: &mut [u8], spent: &mut Vec<Vec<u8>>) -> usize {
    rcv.read_with(out, spent)
}

/// [`RecvHalf::read_with`] while a mark is held: stops before it, skips
/// the urgent byte out of line at it, and forgets the mark once passed.
/// Nothing happens for an empty `out`.
pub(super) fn read_around_mark(
    rcv: &mut RecvHalf,
    mark: UrgentMark,
    out: &mut [u8],
    inline: bool,
    spent: &mut Vec<Vec<u8>>,
) -> usize {
    if out.is_empty() {
        return 0;
    }
    let (skip, max) = read_plan(mark, rcv.copied(), rcv.readable(), inline);
    if skip > 0 {
        read(rcv, &mut [0u8; 1], spent);
    }
    let want = out.len().min(max);
    let n = read(rcv, &mut out[..want], spent);
    if rcv.copied().after(mark.seq) {
        rcv.set_urgent_mark(None);
    }
    n
}

/// A segment was just written into `segment` while SND.UP is set: marks
/// it if urgent mode goes on, or forgets SND.UP once SND.UNA reached it
/// (Linux `tcp_clean_rtx_queue` leaves urgent mode there). Out of line:
/// the output path only tests that SND.UP is set.
#[cold]
#[inline(never)]
pub(crate) fn after_written(segment: &mut [u8], seq: SeqNum, snd: &mut SendHalf, partial: bool) {
    match snd.urgent_mode() {
        Some(up) => mark_segment(segment, seq, up, snd.nxt, partial),
        None => snd.forget_snd_up(),
    }
}

/// Sets URG and the urgent pointer on the segment just written into
/// `segment` (its TCP header first) when SND.UP is ahead of it (Linux
/// `tcp_transmit_skb`): the pointer is SND.UP - SEG.SEQ, or 0xFFFF when
/// that does not fit and the segment is within 64 KiB of SND.NXT. The
/// checksum is updated (RFC 1624) unless it is left to an offload
/// (`partial`: the field holds the pseudo-header's sum only).
pub(crate) fn mark_segment(
    segment: &mut [u8],
    seq: SeqNum,
    snd_up: SeqNum,
    snd_nxt: SeqNum,
    partial: bool,
) {
    if !seq.before(snd_up) || segment.len() < 20 {
        return;
    }
    let distance = snd_up.since(seq);
    let pointer = match u16::try_from(distance) {
        Ok(p) => p,
        Err(_) if (seq + 0xFFFFu32).after(snd_nxt) => u16::MAX,
        Err(_) => return,
    };
    // Bytes 12-13: the data offset and the control bits; 16-17 the
    // checksum; 18-19 the urgent pointer (RFC 9293 §3.1).
    let word = |s: &[u8], at: usize| u16::from_be_bytes([s[at], s[at + 1]]);
    let old_word = word(segment, 12);
    segment[13] |= TcpFlags::URG.bits();
    let new_word = word(segment, 12);
    let old_pointer = word(segment, 18);
    segment[18..20].copy_from_slice(&pointer.to_be_bytes());
    if !partial {
        let sum = checksum::update(word(segment, 16), old_word, new_word);
        let sum = checksum::update(sum, old_pointer, pointer);
        segment[16..18].copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::TcpPacket;

    fn mark(seq: u32) -> UrgentMark {
        UrgentMark {
            seq: SeqNum(seq),
            taken: false,
        }
    }

    #[test]
    fn the_pointer_names_the_byte_before_it() {
        let mut seg = TcpRepr::EMPTY;
        seg.seq = SeqNum(1000);
        seg.urgent = 5;
        assert_eq!(
            urgent_byte(&seg),
            None,
            "without URG the field means nothing"
        );
        seg.flags = TcpFlags::URG | TcpFlags::ACK;
        assert_eq!(urgent_byte(&seg), Some(SeqNum(1004)));
        seg.urgent = 0;
        assert_eq!(urgent_byte(&seg), Some(SeqNum(1000)));
    }

    #[test]
    fn stale_repeated_and_older_pointers_change_nothing() {
        let (copied, nxt) = (SeqNum(100), SeqNum(200));
        assert_eq!(
            new_mark(SeqNum(99), None, copied, nxt),
            None,
            "already read"
        );
        assert_eq!(
            new_mark(SeqNum(150), None, copied, nxt),
            None,
            "already received"
        );
        assert_eq!(new_mark(SeqNum(200), None, copied, nxt), Some(mark(200)));
        assert_eq!(new_mark(SeqNum(250), Some(mark(250)), copied, nxt), None);
        assert_eq!(new_mark(SeqNum(240), Some(mark(250)), copied, nxt), None);
        assert_eq!(
            new_mark(SeqNum(260), Some(mark(250)), copied, nxt),
            Some(mark(260))
        );
    }

    #[test]
    fn a_new_mark_drops_the_old_byte_only_when_it_is_next_and_out_of_line() {
        let held = Some(mark(100));
        assert!(drops_old_byte(held, SeqNum(100), SeqNum(101), false));
        assert!(
            !drops_old_byte(held, SeqNum(100), SeqNum(101), true),
            "in line"
        );
        assert!(
            !drops_old_byte(held, SeqNum(99), SeqNum(101), false),
            "not next"
        );
        assert!(
            !drops_old_byte(held, SeqNum(100), SeqNum(100), false),
            "not received"
        );
        assert!(!drops_old_byte(None, SeqNum(100), SeqNum(101), false));
    }

    #[test]
    fn reads_stop_before_the_mark_and_skip_it_out_of_line() {
        let m = mark(104);
        // "hello" with the "o" urgent, nothing read yet.
        assert_eq!(read_plan(m, SeqNum(100), 5, false), (0, 4));
        assert_eq!(read_plan(m, SeqNum(100), 3, false), (0, 3));
        // At the mark: skip it, or read it in line.
        assert_eq!(read_plan(m, SeqNum(104), 6, false), (1, 5));
        assert_eq!(read_plan(m, SeqNum(104), 6, true), (0, 6));
        assert_eq!(read_plan(m, SeqNum(104), 0, false), (0, 0));
        // Past it (a mark not yet cleared): no limit.
        assert_eq!(read_plan(m, SeqNum(105), 6, false), (0, 6));
    }

    /// A written segment marked and its checksum still valid.
    #[test]
    fn marking_a_segment_sets_urg_and_the_pointer_and_keeps_the_checksum() {
        use crate::tcp::segment::{SegmentHeader, write_segment};
        use crate::wire::tcp::TcpOptions;
        use core::net::{Ipv4Addr, SocketAddrV4};
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let (local, remote) = (SocketAddrV4::new(src, 80), SocketAddrV4::new(dst, 4000));
        let header = SegmentHeader {
            seq: SeqNum(1000),
            ack: Some(SeqNum(5)),
            flags: TcpFlags::PSH,
            window: 100,
            options: TcpOptions::default(),
        };
        let mut buf = [0u8; 64];
        let n = write_segment(&mut buf, local, remote, &header, (b"hello", b"")).unwrap();
        mark_segment(
            &mut buf[..n],
            SeqNum(1000),
            SeqNum(1005),
            SeqNum(1005),
            false,
        );
        let p = TcpPacket::new_unchecked(&buf[..n]);
        assert!(
            p.flags()
                .contains(TcpFlags::URG | TcpFlags::PSH | TcpFlags::ACK)
        );
        assert_eq!(p.urgent_at(), 5);
        assert!(p.verify_checksum(src, dst), "RFC 1624 update");
        // A segment at or past SND.UP is left alone.
        let before = buf;
        mark_segment(
            &mut buf[..n],
            SeqNum(1005),
            SeqNum(1005),
            SeqNum(1010),
            false,
        );
        assert_eq!(buf, before);
        // Too far ahead: 0xFFFF while within 64 KiB of SND.NXT.
        let mut far = [0u8; 64];
        let n = write_segment(&mut far, local, remote, &header, (b"hello", b"")).unwrap();
        mark_segment(
            &mut far[..n],
            SeqNum(1000),
            SeqNum(1000 + 70_000),
            SeqNum(1005),
            false,
        );
        let p = TcpPacket::new_unchecked(&far[..n]);
        assert_eq!(p.urgent_at(), 0xFFFF);
        assert!(p.verify_checksum(src, dst));
    }
}
