//! One bulk transfer between two hosts over a simulated path
//! (`synack-sim`), on virtual time.
//!
//! The path is symmetric: both directions get the same bandwidth, one-way
//! delay (RTT / 2), drop-tail queue and random loss, so ACKs are lost too.
//! Goodput is the bytes the receiving application read, checked against the
//! stream, over the virtual time from `connect` to the last byte read
//! (handshake included).

use std::cell::Cell;
use std::net::SocketAddrV4;
use std::rc::Rc;

use serde::Serialize;
use synack_proto::{Duration, Instant};
use synack_sim::{Dir, FilterAction, LinkConfig, PortId, SimError, World};

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
    /// Fraction of frames held back `reorder_delay` so later ones pass
    /// them, each direction.
    pub reorder: f64,
    pub reorder_delay: Duration,
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
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
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
        if self.reorder > 0.0 {
            l = l.reorder(self.reorder, self.reorder_delay);
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
    /// Payload bytes the sender put on the wire again (sequence numbers it
    /// had sent before): retransmissions, needed or not.
    pub resent_bytes: u64,
}

/// The sequence number and payload length of an IPv4/TCP frame with data.
fn tcp_payload(frame: &[u8]) -> Option<(u32, u32)> {
    let ihl = usize::from(*frame.first()? & 0x0f) * 4;
    if frame.get(9) != Some(&6) || frame.len() < ihl + 20 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([frame[2], frame[3]])).min(frame.len());
    let tcp = &frame[ihl..total];
    let offset = usize::from(tcp[12] >> 4) * 4;
    let len = tcp.len().checked_sub(offset)?;
    if len == 0 {
        return None;
    }
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    Some((seq, len as u32))
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
    // Count resent payload: the sender sends new data in sequence order,
    // so bytes below the highest sequence number seen went out before.
    let resent = Rc::new(Cell::new(0u64));
    let counter = Rc::clone(&resent);
    let mut highest: Option<u32> = None;
    world.set_filter(id, Dir::AToB, move |_, frame| {
        if let Some((seq, len)) = tcp_payload(frame) {
            let end = seq.wrapping_add(len);
            match highest {
                Some(h) if (seq.wrapping_sub(h) as i32) < 0 => {
                    let below = if (end.wrapping_sub(h) as i32) < 0 {
                        len
                    } else {
                        h.wrapping_sub(seq)
                    };
                    counter.set(counter.get() + u64::from(below));
                    if (end.wrapping_sub(h) as i32) > 0 {
                        highest = Some(end);
                    }
                }
                _ => highest = Some(end),
            }
        }
        FilterAction::Pass
    });
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
        resent_bytes: resent.get(),
    })
}
