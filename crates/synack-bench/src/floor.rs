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
use synack_proto::storage::copy;
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

/// A fixed-size ring of bytes (the harness's send and receive buffers).
struct Ring {
    bytes: Vec<u8>,
    /// Index of the first held byte.
    front: usize,
    len: usize,
}

impl Ring {
    fn new(size: usize) -> Ring {
        Ring {
            bytes: vec![0; size],
            front: 0,
            len: 0,
        }
    }

    fn free(&self) -> usize {
        self.bytes.len() - self.len
    }

    /// The at most two pieces of `n` bytes starting `offset` after the front.
    fn span(&self, offset: usize, n: usize) -> (usize, usize, usize) {
        let size = self.bytes.len();
        let at = (self.front + offset) % size;
        let first = n.min(size - at);
        (at, first, n - first)
    }

    /// Appends `data` (which fits) with `copy(dst, src)` for each piece.
    fn push(&mut self, data: &[u8], mut copy: impl FnMut(&mut [u8], &[u8])) {
        let (at, first, second) = self.span(self.len, data.len());
        copy(&mut self.bytes[at..at + first], &data[..first]);
        copy(&mut self.bytes[..second], &data[first..]);
        self.len += data.len();
    }

    /// Reads `out.len()` held bytes from `offset` with `copy(dst, src)`.
    fn read(&self, offset: usize, out: &mut [u8], mut copy: impl FnMut(&mut [u8], &[u8])) {
        let (at, first, second) = self.span(offset, out.len());
        copy(&mut out[..first], &self.bytes[at..at + first]);
        copy(&mut out[first..], &self.bytes[..second]);
    }

    fn drop_front(&mut self, n: usize) {
        self.front = (self.front + n) % self.bytes.len();
        self.len -= n;
    }
}

/// A copy without a sum, as synack's socket buffers make the application's
/// ([`synack_proto::storage::copy`]: vectors rather than glibc's
/// `rep movsb` for kilobytes, which is the faster of the two here).
fn plain(dst: &mut [u8], src: &[u8]) {
    copy::copy(dst, src);
}

/// Moves `bytes` of the stream at `mtu` with `buffers`-byte rings each way.
pub fn floor_once(bytes: u64, mtu: usize, buffers: usize, copies: FloorCopies) -> FloorRun {
    // Data segments' payload: MTU less IPv4, TCP and the timestamps option.
    let mss = mtu - 20 - 32;
    let frame_len = HEADERS + mss;
    let mut send = Ring::new(buffers);
    let mut recv = Ring::new(buffers);
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
            let chunk = pattern::chunk(written, want.min(send.free()));
            send.push(chunk, plain);
            written += chunk.len() as u64;
        }
        // The sender: last turn's frames are acknowledged, then every
        // unsent byte goes out.
        send.drop_front(in_flight);
        sent -= in_flight;
        in_flight = 0;
        while sent < send.len {
            let n = mss.min(send.len - sent);
            wire.push_up_to(frame_len, |frame| {
                let payload = &mut frame[HEADERS..HEADERS + n];
                let mut sum = 0u16;
                send.read(sent, payload, |d, s| match copies {
                    FloorCopies::Plain => copy::copy(d, s),
                    FloorCopies::Summed | FloorCopies::FramesKept => {
                        sum = checksum::combine(&[sum, checksum::copy_and_sum(d, s)]);
                    }
                });
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
                    plain(&mut out[filled..filled + k], &payload[..k]);
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
            let mut sum = 0u16;
            recv.push(payload, |d, s| match copies {
                FloorCopies::Plain => copy::copy(d, s),
                FloorCopies::Summed | FloorCopies::FramesKept => {
                    sum = checksum::combine(&[sum, checksum::copy_and_sum(d, s)]);
                }
            });
            intact &= frame[..2] == sum.to_be_bytes();
        }
        wire.recycle_all();
        // The application reads everything and checks it.
        while recv.len > 0 {
            let n = recv.len.min(out.len());
            recv.read(0, &mut out[..n], plain);
            recv.drop_front(n);
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

    #[test]
    fn the_ring_reads_across_its_wrap() {
        let mut ring = Ring::new(8);
        ring.push(&[1, 2, 3, 4, 5, 6], plain);
        ring.drop_front(5);
        ring.push(&[7, 8, 9, 10], plain);
        let mut out = [0u8; 5];
        ring.read(0, &mut out, plain);
        assert_eq!(out, [6, 7, 8, 9, 10], "read across the wrap");
    }
}
