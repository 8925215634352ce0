//! Zero-copy receive: a batch of frames the driver hands over, not lends.
//!
//! Read first: the parent module (software GRO: which frames make a run,
//! how a run goes to TCP as one segment) and `storage/kept.rs` (frames
//! holding a receive buffer's bytes).
//!
//! [`Stack::handle_frames`] borrows each frame for the call, so a
//! connection copies the payloads it accepts into its receive ring (summing
//! them on the way) and the application copies them out again.
//! [`Stack::handle_frames_owned`] takes the frames as the driver's buffers,
//! and an ESTABLISHED connection with nothing held out of order keeps a
//! run's frames instead: each payload is summed in place for its checksum, its
//! place in the ring is reserved but not written, and the application's read
//! copies it straight out of its frame. That is one pass over each payload
//! and one buffer's worth of memory less, as Linux's receive queue of skbs
//! has. The driver takes frames no longer needed back with
//! [`Stack::reclaim_frames`].
//!
//! Everything else goes as in [`Stack::handle_frames`]: a run that cannot
//! be kept (another state, data held out of order, no room, a payload under
//! 512 bytes or a frame whose allocation is more than twice its payload:
//! [`crate::storage::kept::worth_keeping`]) is merged by copying, frame by
//! frame, with the frames left with the driver. The segments TCP sees, and
//! so every answer on the wire, are the same either way.

use super::{
    Candidate, MAX_DATAGRAM, MAX_RUN, Run, candidate, fixed_headers, run_base, run_head,
    stage_rest, tcp_checksum_ok,
};
use crate::stack::{Demux, IfaceId, Stack, slots};
use crate::storage::FrameBuf;
use crate::storage::kept::worth_keeping;
use crate::time::Instant;
use crate::wire::checksum;

/// What a run is, once its frames are no longer borrowed.
#[derive(Clone, Copy, Debug)]
struct Shape {
    len: usize,
    first: Candidate,
    pushes: u64,
    /// Bytes of the merged datagram (IP and TCP headers once, every
    /// payload).
    datagram: usize,
}

impl Stack {
    /// [`Stack::handle_frames`] for frames the driver hands over: the stack
    /// may keep any of them (taking the buffer and leaving an empty one,
    /// [`FrameBuf::is_taken`]), so that a connection's readable bytes stay
    /// in the frames they came in instead of being copied into its receive
    /// buffer (see the module docs). What the stack did not take stays the
    /// driver's; what it took comes back through [`Stack::reclaim_frames`]
    /// once read.
    pub fn handle_frames_owned(&mut self, now: Instant, iface: IfaceId, frames: &mut [FrameBuf]) {
        let Some(f) = self.ifaces.get(usize::from(iface.0)) else {
            return;
        };
        let l2 = if f.mac().is_some() { 14 } else { 0 };
        let mut i = 0;
        while i < frames.len() {
            let Some(shape) = run_at(frames, i, l2) else {
                self.handle_frame_on(now, iface, frames[i].frame());
                i += 1;
                continue;
            };
            let run = &mut frames[i..i + shape.len];
            self.advance(now);
            let kept = self.deliver_kept(usize::from(iface.0), l2, run, shape);
            self.refresh_deadline();
            if kept == 0 {
                // Not kept: the copying way, as `handle_frames` takes it.
                self.handle_frames(now, iface, run.iter().map(FrameBuf::frame));
            } else {
                for frame in &run[kept..] {
                    self.handle_frame_on(now, iface, frame.frame());
                }
            }
            i += shape.len;
        }
    }

    /// Hands `give` every frame handed over by
    /// [`Stack::handle_frames_owned`] that the stack no longer needs (read
    /// by the application, or not kept after all), for the driver to reuse.
    /// Call it after each batch and each turn of the application: the stack
    /// holds at most [`crate::storage::kept::MAX_SPENT_FRAMES`] and frees
    /// the rest.
    #[inline]
    pub fn reclaim_frames(&mut self, give: impl FnMut(Vec<u8>)) {
        let spent = &mut self.env.spares.frames;
        if !spent.is_empty() {
            spent.drain(..).for_each(give);
        }
    }

    /// Delivers as much of `run` as its connection can keep, from its
    /// start, as one segment: returns how many frames that took (their
    /// buffers taken), 0 if none.
    fn deliver_kept(
        &mut self,
        index: usize,
        l2: usize,
        run: &mut [FrameBuf],
        shape: Shape,
    ) -> usize {
        let first = shape.first;
        // A short payload (a request, a handshake's data) is copied: no
        // lookups for it here.
        if !worth_keeping(run[0].buf.capacity(), first.payload_len()) {
            return 0;
        }
        let Some((src, dst)) = self.run_admissible(index, l2, run[0].frame()) else {
            return 0;
        };
        let payload_at = first.payload_at;
        let (head, tuple, tos) = {
            let Some((packet, seg, tuple)) = run_head(run[0].frame(), first, l2, src, dst) else {
                return 0;
            };
            // RFC 9293 §3.1 (MUST-2/3): verified before anything of it is
            // used; summed in place, the frame is not copied.
            if !packet.verify_checksum(src, dst) {
                return 0;
            }
            (seg.with_payload(&[]), tuple, run[0].frame()[l2 + 1])
        };
        let Some(Demux::Conn(key)) = self.demux.get(slots!(self), &tuple) else {
            return 0;
        };
        let mut ends = [0; MAX_RUN];
        let (count, bytes) = checked_prefix(run, l2, shape, src, dst, &mut ends);
        let Some(entry) = self.conns.get_mut(key) else {
            return 0;
        };
        if !entry.conn.may_keep(head.seq, bytes) {
            return 0;
        }
        let kept = entry.conn.stage_kept(
            &mut run[..count],
            payload_at,
            &ends[..count],
            &mut self.env.spares,
        );
        if kept == 0 {
            return 0;
        }
        self.env.stats.tcp_ext.tcp_rcv_frames_kept += count as u64;
        // The rest of the run (from a frame not worth keeping on) is
        // merged by copying, after the kept bytes, as `handle_frames` would
        // merge it: TCP sees the same segment either way. A frame whose
        // checksum fails ends it, as it ended the kept part.
        let rest = shape.datagram - (payload_at - l2) - kept;
        let (more, copied) = match entry.conn.stager(head.seq + kept as u32, rest) {
            Some(mut stager) if count < shape.len => {
                let base = run_base(run[count].frame(), payload_at, l2, src, dst);
                stage_rest(&mut stager, &run[count..shape.len], l2, payload_at, base)
            }
            _ => (0, 0),
        };
        let staged = count + more;
        // Bit `i` of `pushes`: frame `i`'s PSH; the first `staged` count.
        let push = shape.pushes & (u64::MAX >> (64 - staged)) != 0;
        // A single segment kept is not a super-packet.
        let gso = if staged > 1 {
            u16::try_from(shape.first.payload_len()).unwrap_or(0)
        } else {
            0
        };
        self.deliver_merged(key, l2, &tuple, &head, push, kept + copied, gso, tos);
        staged
    }
}

/// The run of frames from `frames[i]` (a candidate, then the frames that
/// continue it under the merge rules), or `None` if `frames[i]` is not a
/// candidate. A segment too long to merge with another is a run of one.
fn run_at(frames: &[FrameBuf], i: usize, l2: usize) -> Option<Shape> {
    let first = frames.get(i)?.frame();
    let c = candidate(first, l2)?;
    let mut run = Run::first_only(first, c, l2);
    if c.end - l2 + c.payload_len() <= MAX_DATAGRAM {
        run.extend(&mut frames[i + 1..].iter().map(FrameBuf::frame), l2);
    }
    Some(Shape {
        len: run.len,
        first: c,
        pushes: run.pushes,
        datagram: run.datagram,
    })
}

/// How many of `run`'s frames from its start may be kept, and their
/// payload bytes: the first (its checksum verified by the caller), then
/// each further one whose checksum is right (from the run's shared header
/// sum and its payload's sum in place) and that is worth keeping. Each
/// one's payload end goes to `ends`.
fn checked_prefix(
    run: &[FrameBuf],
    l2: usize,
    shape: Shape,
    src: core::net::Ipv4Addr,
    dst: core::net::Ipv4Addr,
    ends: &mut [usize; MAX_RUN],
) -> (usize, usize) {
    let first = shape.first;
    ends[0] = first.end;
    let mut bytes = first.payload_len();
    // A run of one (every 64 KB frame) has no further segment to check.
    if run.len() < 2 {
        return (run.len(), bytes);
    }
    let base = run_base(run[0].frame(), first.payload_at, l2, src, dst);
    for (n, buf) in run.iter().enumerate().skip(1) {
        let frame = buf.frame();
        let Some(h) = fixed_headers(frame, l2) else {
            return (n, bytes);
        };
        let end = l2 + usize::from(u16::from_be_bytes([h[2], h[3]]));
        let Some(payload) = frame.get(first.payload_at..end) else {
            return (n, bytes);
        };
        if !worth_keeping(buf.buf.capacity(), payload.len())
            || !tcp_checksum_ok(base, h, end - l2 - 20, checksum::data(payload))
        {
            return (n, bytes);
        }
        ends[n] = end;
        bytes += payload.len();
    }
    (run.len(), bytes)
}
