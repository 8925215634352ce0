//! One bulk transfer between two hosts over a simulated path
//! (`synack-sim`), on virtual time.
//!
//! The path is symmetric: both directions get the same bandwidth, one-way
//! delay (RTT / 2), drop-tail queue and random loss, so ACKs are lost too.
//! Goodput is the bytes the receiving application read, checked against the
//! stream, over the virtual time from `connect` to the last byte read
//! (handshake included).

use std::net::SocketAddrV4;

use serde::Serialize;
use synack_proto::{Duration, Instant};
use synack_sim::{Dir, LinkConfig, PortId, SimError, World};

use crate::node::HostNode;
use crate::stack::{BenchStack, Buffers, CLIENT_ADDR, Congestion, HostConfig, SERVER_ADDR};

/// A simulated path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Path {
    pub bandwidth_bps: u64,
    pub rtt: Duration,
    /// Probability that a frame is lost, each direction.
    pub loss: f64,
    /// Drop-tail queue limit in bytes, each direction.
    pub queue_bytes: usize,
    /// IP MTU.
    pub mtu: usize,
}

impl Path {
    /// `bandwidth_bps` and `rtt` with a queue of one bandwidth-delay
    /// product, MTU 1500.
    pub fn new(bandwidth_bps: u64, rtt: Duration, loss: f64) -> Path {
        let mut p = Path {
            bandwidth_bps,
            rtt,
            loss,
            queue_bytes: 0,
            mtu: 1500,
        };
        p.queue_bytes = p.bdp_bytes().max(p.mtu);
        p
    }

    /// Bandwidth-delay product in bytes.
    pub fn bdp_bytes(&self) -> usize {
        let bits = u128::from(self.bandwidth_bps) * u128::from(self.rtt.total_micros()) / 1_000_000;
        usize::try_from(bits / 8).unwrap_or(usize::MAX)
    }

    /// Socket buffers that never limit a sender on this path: twice the
    /// bandwidth-delay product (the pipe plus a full BDP queue), at least
    /// 64 KiB.
    pub fn default_buffers(&self) -> Buffers {
        Buffers::both((2 * self.bdp_bytes()).max(64 * 1024))
    }

    fn link(&self) -> LinkConfig {
        let one_way = Duration::from_micros(self.rtt.total_micros() / 2);
        let mut l = LinkConfig::new()
            .delay(one_way)
            .bandwidth(self.bandwidth_bps)
            .queue_limit(self.queue_bytes)
            .mtu(self.mtu)
            .l2_header_len(0);
        if self.loss > 0.0 {
            l = l.random_loss(self.loss);
        }
        l
    }
}

/// One transfer's setup.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferConfig {
    pub bytes: u64,
    pub path: Path,
    pub buffers: Buffers,
    pub congestion: Congestion,
    /// Negotiate SACK where the stack supports it.
    pub sack: bool,
    pub seed: u64,
    /// Virtual time after which an unfinished transfer is reported as such.
    pub deadline: Duration,
}

impl TransferConfig {
    /// `bytes` over `path` with its default buffers and CUBIC, a 1 hour
    /// virtual deadline.
    pub fn new(bytes: u64, path: Path, seed: u64) -> TransferConfig {
        TransferConfig {
            bytes,
            path,
            buffers: path.default_buffers(),
            congestion: Congestion::Cubic,
            sack: true,
            seed,
            deadline: Duration::from_secs(3600),
        }
    }
}

/// What one transfer did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TransferResult {
    /// Bytes the receiver read.
    pub bytes: u64,
    /// Every byte expected arrived, as sent.
    pub completed: bool,
    pub intact: bool,
    /// Virtual seconds from `connect` to the last byte read (to the deadline
    /// if unfinished).
    pub seconds: f64,
    pub goodput_bps: f64,
    /// Frames the link lost (both directions) and dropped at a full queue.
    pub lost_frames: u64,
    pub queue_drops: u64,
    /// Frames offered in the data direction.
    pub data_frames: u64,
}

/// Goodput in bit/s of `bytes` in `elapsed`.
pub fn goodput_bps(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 * 8.0 / secs
}

/// Runs one transfer from client to server.
pub fn transfer<S: BenchStack>(cfg: &TransferConfig) -> Result<TransferResult, SimError> {
    let mut world = World::new(cfg.seed);
    let host = |addr, stream| HostConfig {
        mtu: cfg.path.mtu,
        buffers: cfg.buffers,
        congestion: cfg.congestion,
        sack: cfg.sack,
        seed: world.derive_seed(stream),
        capacity: 4,
        ..HostConfig::new(addr)
    };
    let (ca, sa) = (host(CLIENT_ADDR, 1), host(SERVER_ADDR, 2));
    let client = world.add_node(HostNode::<S>::new(&ca));
    let server = world.add_node(HostNode::<S>::new(&sa));
    let link = cfg.path.link();
    let id = world
        .connect(client, PortId(0), server, PortId(0), link)
        .expect("two fresh nodes, distinct ports");
    let start = world.now();
    world
        .node_mut::<HostNode<S>>(server)
        .start_receiver(start, 80, cfg.bytes);
    world.node_mut::<HostNode<S>>(client).start_sender(
        start,
        40_000,
        SocketAddrV4::new(SERVER_ADDR, 80),
        cfg.bytes,
    );
    let deadline = start + cfg.deadline;
    let done = |w: &World| {
        w.node::<HostNode<S>>(server)
            .receiver()
            .is_some_and(|r| r.done())
    };
    match world.run_while(|w| !done(w), deadline) {
        Ok(_) | Err(SimError::Deadline { .. }) | Err(SimError::Stalled { .. }) => {}
        Err(e) => return Err(e),
    }
    let r = world
        .node::<HostNode<S>>(server)
        .receiver()
        .expect("the server runs a receiver");
    let end: Instant = r.finished.unwrap_or(world.now());
    let elapsed = end.saturating_duration_since(start);
    let (ab, ba) = (
        world.link_stats(id, Dir::AToB),
        world.link_stats(id, Dir::BToA),
    );
    Ok(TransferResult {
        bytes: r.received,
        completed: r.done(),
        intact: r.intact && r.received == cfg.bytes,
        seconds: elapsed.as_secs_f64(),
        goodput_bps: goodput_bps(r.received, elapsed),
        lost_frames: ab.dropped_loss + ba.dropped_loss,
        queue_drops: ab.dropped_queue + ba.dropped_queue,
        data_frames: ab.offered_frames,
    })
}
