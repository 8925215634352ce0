//! TCP_NOTSENT_LOWAT (Linux, since 3.12): a bound on the bytes a connection
//! holds that it has not sent yet, so an application that writes as fast
//! as it may keeps its data in its own hands (where it can still change
//! its mind, reprioritize, or coalesce) instead of deep in a send buffer
//! sized for the path's bandwidth-delay product. Bytes in flight do not
//! count: the window stays full.
//!
//! As Linux's `tcp_stream_memory_free`:
//! - a `send` is refused (`WouldBlock`) while the unsent bytes (from
//!   SND.NXT to the end of the queue, `write_seq - snd_nxt`) reach the
//!   mark, and otherwise queues up to the mark, or one segment if that is
//!   more: less than the mark and a segment wait unsent, where Linux,
//!   which asks only before it starts a buffer and fills it to its size
//!   goal, may leave up to a 64 KB TSO packet past the mark;
//! - `Writable` is raised, and `poll` reports POLLOUT, once twice the unsent
//!   bytes are below the mark (the `wake` shift, so that a writer is woken
//!   with room for half a mark at least).
//!
//! The mark is the connection's (TCP_NOTSENT_LOWAT, inherited from its
//! listener) or else the `tcp_notsent_lowat` sysctl's; `u32::MAX`, Linux's
//! default, is none. Unsent bytes fall as segments go out, and the stack
//! sends after the ACK that let it: the wake-up is asked when an ACK
//! advances SND.UNA (where the send buffer's own is), with the unsent bytes
//! as they are before this turn's segments, so it may come one ACK later
//! than Linux's, which asks after it has sent (`tcp_check_space`).

use super::SendHalf;

/// No mark (Linux's default `tcp_notsent_lowat`).
pub const NONE: u32 = u32::MAX;

/// How much of `want` bytes a `send` may queue on `snd` under the mark
/// `lowat` (not [`NONE`]): 0 while the unsent bytes reach it.
#[cold]
#[inline(never)]
pub(super) fn room(snd: &SendHalf, lowat: u32, want: usize) -> usize {
    let unsent = snd.unsent();
    if unsent >= lowat {
        return 0;
    }
    let room = (lowat - unsent).max(snd.mss) as usize;
    want.min(room)
}

/// Whether a writer waiting on `snd` is to be woken under the mark
/// `lowat` (Linux `tcp_stream_memory_free` with `wake`): always without
/// one, else once twice the unsent bytes are below it.
#[inline]
pub(super) fn wakes(snd: &SendHalf, lowat: u32) -> bool {
    lowat == NONE || u64::from(snd.unsent()) * 2 < u64::from(lowat)
}
