//! `bulk`: goodput of one long transfer between two stacks in memory.
//!
//! Setup (issue 8): two hosts in one [`Pair`] on one core, zero-delay
//! lossless queues, checksums computed and verified by the stacks, the
//! application copying the stream into the sender's socket and out of the
//! receiver's, and the receiver comparing every byte with the stream (one
//! `memcmp` of hot data, the same for every stack). Goodput is the stream's
//! length over the wall time from `connect` to the last byte read.

use std::net::SocketAddrV4;
use std::time::Instant as WallInstant;

use serde::Serialize;

use crate::app::{BulkReceiver, BulkSender};
use crate::pair::{DriveError, Pair};
use crate::stack::{BenchStack, Buffers, CLIENT_ADDR, Congestion, HostConfig, SERVER_ADDR};

/// One bulk configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BulkConfig {
    /// Bytes of stream to move (issue 8: at least 1 GiB).
    pub bytes: u64,
    /// IP MTU of both interfaces; the MSS follows (MTU - 40).
    pub mtu: usize,
    pub buffers: Buffers,
    pub congestion: Congestion,
}

impl BulkConfig {
    /// 1 GiB at `mtu` with [`BULK_BUFFERS`] and CUBIC.
    pub fn new(mtu: usize) -> BulkConfig {
        BulkConfig {
            bytes: 1 << 30,
            mtu,
            buffers: BULK_BUFFERS,
            congestion: Congestion::Cubic,
        }
    }
}

/// Socket buffers for the in-memory transfer: 256 KiB each way. Large enough
/// that the window never stalls the zero-delay link (four full segments at
/// MTU 65535; with 64 KiB smoltcp sends one 64 KiB segment per delayed ACK),
/// small enough that both hosts' buffers stayed in the 2 MiB L2 of the
/// machine it was chosen on (smoltcp measured about 1.3x slower at MTU 1500
/// with 4 MiB buffers). On a 512 KiB L2 a turn's data overflows it for
/// every stack alike; [`crate::floor`] measures what that leaves.
pub const BULK_BUFFERS: Buffers = Buffers::both(256 << 10);

/// What one transfer did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BulkRun {
    pub bytes: u64,
    pub seconds: f64,
    pub gbps: f64,
    /// Every byte arrived, in order, as sent.
    pub intact: bool,
    /// Frames both ways.
    pub frames: u64,
    /// Times the loop jumped the clock to a timer instead of waiting.
    pub timer_jumps: u64,
    /// Turns of the harness's loop (the application writes, both hosts
    /// poll, the application reads): the unit of `scripts/perf/count.sh
    /// bulk-footprint`.
    pub steps: u64,
    /// Data frames the receiver kept instead of copying (zero-copy receive;
    /// [`BenchStack::frames_kept`]).
    pub frames_kept: u64,
}

/// Bits per second as Gbit/s.
pub fn gbps(bytes: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    bytes as f64 * 8.0 / seconds / 1e9
}

/// Runs one transfer from A to B.
pub fn bulk_once<S: BenchStack>(cfg: &BulkConfig) -> Result<BulkRun, DriveError> {
    let host = |addr, seed| HostConfig {
        mtu: cfg.mtu,
        buffers: cfg.buffers,
        congestion: cfg.congestion,
        seed,
        capacity: 4,
        ..HostConfig::new(addr)
    };
    let mut pair: Pair<S> = Pair::new(&host(CLIENT_ADDR, 1), &host(SERVER_ADDR, 2));
    let mut rx = BulkReceiver::listen(&mut pair.b, 80, cfg.bytes);
    let start = WallInstant::now();
    let now = pair.clock.now();
    let mut tx = BulkSender::connect(
        &mut pair.a,
        now,
        40_000,
        SocketAddrV4::new(SERVER_ADDR, 80),
        cfg.bytes,
    );
    // Every useful step moves at least a few bytes; a run that needs more
    // steps than this has livelocked.
    let max_steps = cfg.bytes / 16 + 1_000_000;
    let mut steps = 0u64;
    while !rx.done() {
        steps += 1;
        if steps > max_steps {
            return Err(DriveError::TooManySteps("bulk transfer".into()));
        }
        let wrote = tx.step(&mut pair.a);
        let moved = pair.step();
        let read = rx.step(&mut pair.b, pair.clock.now());
        pair.b.reclaim(&mut pair.ab);
        if wrote == 0 && moved == 0 && read == 0 && !rx.done() && !pair.wait_for_timer() {
            return Err(DriveError::Stalled(format!(
                "bulk transfer at {} of {} bytes",
                rx.received, cfg.bytes
            )));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BulkRun {
        bytes: rx.received,
        seconds,
        gbps: gbps(rx.received, seconds),
        intact: rx.intact && rx.received == cfg.bytes,
        frames: pair.ab.pushed() + pair.ba.pushed(),
        timer_jumps: pair.clock.jumps(),
        steps,
        frames_kept: pair.b.frames_kept(),
    })
}
