//! `floor`: what the bulk harness's memory passes allow with no TCP at all.
//!
//! The in-memory bulk transfer ([`crate::bulk`]) touches each byte of the
//! stream five times whatever the stack: the application's copy into the
//! send buffer, the sender's copy into a frame, the receiver's copy into the
//! receive buffer, the application's copy out and the compare with the
//! stream. This loop does exactly those passes, on the same buffers, frame
//! pool and turn structure, with nothing else: no headers parsed, no state,
//! no ACKs. Its rate is the ceiling any stack can reach in that harness on
//! this machine, and so bounds the ratio any stack can have over another.
//!
//! Per turn, as the bulk loop: the application fills the send ring's free
//! room; the "sender" first frees what the previous turn sent (everything is
//! acknowledged one turn later, as the peer's ACKs arrive with its next
//! poll), then cuts every unsent byte into MSS-sized frames in the pool; the
//! "receiver" copies every frame's payload into its ring; the application
//! reads the ring in [`crate::pattern::MAX_CHUNK`] pieces and compares them
//! with the stream.

use std::time::Instant as WallInstant;

use serde::Serialize;
use synack_proto::storage::{RingBuffer, copy};
use synack_proto::wire::checksum;

use crate::Frames;
use crate::bulk::gbps;
use crate::pattern;

/// How the two stacks' copies are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FloorCopies {
    /// Plain copies: a stack with checksum offload both ways.
    Plain,
    /// Copies that sum the payload as they go (synack's `copy_and_sum`),
    /// the receiver checking the sender's sum: checksums in software, as
    /// the bulk figure requires.
    Summed,
    /// As `Summed` on the sender, but the receiver keeps the frames as
    /// its buffer (as Linux keeps skbs): it sums each payload in place and
    /// the application copies out of the frames. Four passes instead of
    /// five: what a receive path without its copy into a ring would allow.
    FramesKept,
}

/// One floor run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FloorRun {
    pub bytes: u64,
    pub seconds: f64,
    pub gbps: f64,
    /// Every byte arrived as sent (and, summed, every frame's sum matched).
    pub intact: bool,
    pub frames: u64,
    pub turns: u64,
}

/// Bytes before a frame's payload: Ethernet, IPv4 and a TCP header with
/// timestamps, as synack's data segments carry.
const HEADERS: usize = 14 + 20 + 32;

/// Moves `bytes` of the stream at `mtu` with `buffers`-byte rings each way
/// (synack's [`RingBuffer`], so the rings' copies are synack's: vectors for
/// the application's kilobytes, [`checksum::copy_and_sum`] for the summed
/// ones).
pub fn floor_once(bytes: u64, mtu: usize, buffers: usize, copies: FloorCopies) -> FloorRun {
    // Data segments' payload: MTU less IPv4, TCP and the timestamps option.
    let mss = mtu - 20 - 32;
    let frame_len = HEADERS + mss;
    let mut send = RingBuffer::new(buffers);
    let mut recv = RingBuffer::new(buffers);
    let mut wire = Frames::new();
    let mut out = vec![0u8; pattern::MAX_CHUNK];
    let (mut written, mut sent, mut in_flight, mut read) = (0u64, 0usize, 0usize, 0u64);
    let (mut intact, mut turns) = (true, 0u64);
    let start = WallInstant::now();
    while read < bytes {
        turns += 1;
        // The application fills the send ring.
        while written < bytes && send.free() > 0 {
            let want = usize::try_from(bytes - written).unwrap_or(usize::MAX);
            let n = send.enqueue_slice(pattern::chunk(written, want.min(send.free())));
            written += n as u64;
        }
        // The sender: last turn's frames are acknowledged, then every
        // unsent byte goes out.
        send.discard_front(in_flight);
        sent -= in_flight;
        in_flight = 0;
        while sent < send.len() {
            let pieces = send.slices_at(sent, mss);
            let n = pieces.0.len() + pieces.1.len();
            wire.push_up_to(frame_len, |frame| {
                let payload = &mut frame[HEADERS..HEADERS + n];
                let sum = match copies {
                    FloorCopies::Plain => {
                        let (first, second) = payload.split_at_mut(pieces.0.len());
                        copy::copy(first, pieces.0);
                        copy::copy(second, pieces.1);
                        0
                    }
                    FloorCopies::Summed | FloorCopies::FramesKept => {
                        checksum::combine(&checksum::copy_and_sum_pieces(payload, pieces))
                    }
                };
                frame[..2].copy_from_slice(&sum.to_be_bytes());
                frame[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                Some(HEADERS + n)
            });
            sent += n;
            in_flight += n;
        }
        if copies == FloorCopies::FramesKept {
            // The receiver checks each frame where it lies; the
            // application reads the frames themselves.
            let mut filled = 0;
            for frame in wire.frames() {
                let n = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
                let mut payload = &frame[HEADERS..HEADERS + n];
                intact &= frame[..2] == checksum::data(payload).to_be_bytes();
                while !payload.is_empty() {
                    let k = payload.len().min(out.len() - filled);
                    copy::copy(&mut out[filled..filled + k], &payload[..k]);
                    (filled, payload) = (filled + k, &payload[k..]);
                    if filled == out.len() {
                        intact &= pattern::matches(read, &out);
                        (read, filled) = (read + filled as u64, 0);
                    }
                }
            }
            intact &= pattern::matches(read, &out[..filled]);
            read += filled as u64;
            wire.recycle_all();
            continue;
        }
        // The receiver: every frame's payload into its ring.
        for frame in wire.frames() {
            let n = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
            let payload = &frame[HEADERS..HEADERS + n];
            let stored = match copies {
                FloorCopies::Plain => recv.write_at(0, payload),
                FloorCopies::Summed | FloorCopies::FramesKept => {
                    let (stored, sum) = recv.write_at_summed(0, payload);
                    intact &= frame[..2] == sum.to_be_bytes();
                    stored
                }
            };
            intact &= recv.commit(stored) == n;
        }
        wire.recycle_all();
        // The application reads everything and checks it.
        while !recv.is_empty() {
            let n = recv.dequeue_slice(&mut out);
            intact &= pattern::matches(read, &out[..n]);
            read += n as u64;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    FloorRun {
        bytes: read,
        seconds,
        gbps: gbps(read, seconds),
        intact: intact && read == bytes,
        frames: wire.pushed(),
        turns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_moves_every_byte_intact_across_ring_wraps() {
        // 3 MiB through 100,000-byte rings: the rings wrap mid-frame and
        // mid-chunk, and the summed copies check every frame.
        for copies in [
            FloorCopies::Plain,
            FloorCopies::Summed,
            FloorCopies::FramesKept,
        ] {
            let run = floor_once(3 << 20, 1500, 100_000, copies);
            assert!(run.intact, "{copies:?}");
            assert_eq!(run.bytes, 3 << 20);
            // Every byte went in a frame of at most one MSS (1448).
            assert!(run.frames >= (3 << 20) / 1448, "{run:?}");
            assert!(run.turns > 1);
        }
    }
}
