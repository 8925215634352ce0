//! `memory`: heap bytes per idle established connection.
//!
//! Counted with the counting global allocator ([`crate::alloc`]): the heap
//! in use before both hosts are made, and after `n` connections between them
//! are established and idle and the frame queues are emptied and freed. The
//! difference, over `2 n` (each connection has an endpoint on each host, and
//! the two endpoints cost the same), is the figure. It holds everything a
//! connection costs in that stack: the socket, its slot in the socket table,
//! and its buffers as the stack needs them; the two interfaces' own fixed
//! cost is in it too, spread over `2 n` endpoints (a few hundred bytes in
//! all). It counts the sizes asked of the allocator, not malloc's rounding.
//!
//! Run it alone in its process: the allocator counts every thread.

use std::time::Instant as WallInstant;

use serde::Serialize;

use crate::pair::{DriveError, Pair};
use crate::stack::{BenchStack, Buffers, CLIENT_ADDR, Congestion, HostConfig, SERVER_ADDR};

/// The smallest socket buffers smoltcp still moves data with: one byte each
/// way (a one-byte window: slow, but a working connection; the tests send
/// data through it). smoltcp cannot grow buffers, so these are allocated for
/// every socket whether it is idle or not.
pub const SMOLTCP_MIN_BUFFERS: Buffers = Buffers::both(1);

/// Why `memory` could not measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// Built without the `counting-allocator` feature.
    NoCountingAllocator,
    Drive(DriveError),
}

impl std::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemoryError::NoCountingAllocator => {
                f.write_str("built without the counting-allocator feature")
            }
            MemoryError::Drive(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for MemoryError {}

impl From<DriveError> for MemoryError {
    fn from(e: DriveError) -> Self {
        MemoryError::Drive(e)
    }
}

/// What one measurement found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryRun {
    pub connections: usize,
    pub buffers: Buffers,
    /// Heap bytes for both hosts with every connection open.
    pub total_bytes: usize,
    pub bytes_per_connection: f64,
    /// Seconds it took to open the connections.
    pub setup_seconds: f64,
}

/// Opens `connections` idle connections and counts the heap they hold.
pub fn memory_once<S: BenchStack>(
    connections: usize,
    buffers: Buffers,
) -> Result<MemoryRun, MemoryError> {
    let before = crate::alloc::allocated().ok_or(MemoryError::NoCountingAllocator)?;
    let host = |addr, seed| HostConfig {
        buffers,
        congestion: Congestion::Cubic,
        seed,
        capacity: connections,
        ..HostConfig::new(addr)
    };
    let start = WallInstant::now();
    let mut pair: Pair<S> = Pair::new(&host(CLIENT_ADDR, 1), &host(SERVER_ADDR, 2));
    let conns = S::open_idle(&mut pair, connections, 10_000)?;
    let setup_seconds = start.elapsed().as_secs_f64();
    assert_eq!(conns.len(), connections, "open_idle opens every connection");
    // The handles are the application's, not the stack's: not counted.
    drop(conns);
    pair.ab.release_memory();
    pair.ba.release_memory();
    let after = crate::alloc::allocated().ok_or(MemoryError::NoCountingAllocator)?;
    let total_bytes = after.saturating_sub(before);
    let run = MemoryRun {
        connections,
        buffers,
        total_bytes,
        bytes_per_connection: total_bytes as f64 / (2 * connections.max(1)) as f64,
        setup_seconds,
    };
    drop(pair);
    Ok(run)
}
