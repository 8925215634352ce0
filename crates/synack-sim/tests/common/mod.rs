//! Helpers shared by the simulator's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

pub mod dumbbell;

use std::collections::VecDeque;

use synack_proto::{Duration, Instant};
use synack_sim::nodes::{Blaster, Sink};
use synack_sim::{LinkConfig, LinkId, Node, NodeId, PortId, World};

/// Far enough for every test to go idle; reaching it is a failure.
pub const FOREVER: Instant = Instant::from_secs(1_000_000);

/// A Blaster (node 0) sending `count` frames of `len` bytes every `interval`
/// to a Sink (node 1) over a link with `config` both ways.
pub fn blast(
    seed: u64,
    count: u64,
    len: usize,
    interval: Duration,
    config: LinkConfig,
) -> (World, LinkId, NodeId) {
    let mut world = World::new(seed);
    let a = world.add_node(Blaster::new(PortId(0), count, len, Instant::ZERO, interval));
    let b = world.add_node(Sink::new());
    let link = world.connect(a, PortId(0), b, PortId(0), config).unwrap();
    (world, link, b)
}

/// Runs until idle (bounded) and returns the sink.
pub fn run_to_sink(world: &mut World, sink: NodeId) -> &Sink {
    world.run_until_idle(FOREVER).unwrap();
    world.node::<Sink>(sink)
}

/// Asserts that `observed` events out of `n` trials is within 5 standard
/// deviations of a Bernoulli(`p`) expectation.
#[track_caller]
pub fn assert_binomial(observed: u64, n: u64, p: f64) {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (observed as f64 - mean).abs() <= 5.0 * sd,
        "observed {observed}, expected {mean:.1} ± 5×{sd:.1}"
    );
}

/// Sends given frames at given times on port 0 and records what comes back.
#[derive(Debug, Default)]
pub struct Script {
    pub to_send: VecDeque<(Instant, Vec<u8>)>,
    pub received: Vec<(Instant, Vec<u8>)>,
}

impl Script {
    pub fn new(frames: impl IntoIterator<Item = (Instant, Vec<u8>)>) -> Self {
        Script {
            to_send: frames.into_iter().collect(),
            received: Vec::new(),
        }
    }
}

impl Node for Script {
    fn handle_frame(&mut self, now: Instant, _port: PortId, frame: &[u8]) {
        self.received.push((now, frame.to_vec()));
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(PortId, usize)> {
        if self.to_send.front()?.0 > now {
            return None;
        }
        let (_, frame) = self.to_send.pop_front()?;
        buf[..frame.len()].copy_from_slice(&frame);
        Some((PortId(0), frame.len()))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.to_send.front().map(|f| f.0)
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

/// A Blaster and a Sink in one node: sends numbered frames and records
/// whatever arrives, for two-way traffic.
#[derive(Debug)]
pub struct Chatter {
    pub blaster: Blaster,
    pub sink: Sink,
}

impl Chatter {
    pub fn new(count: u64, len: usize, start: Instant, interval: Duration) -> Self {
        Chatter {
            blaster: Blaster::new(PortId(0), count, len, start, interval),
            sink: Sink::keeping_frames(),
        }
    }
}

impl Node for Chatter {
    fn handle_frame(&mut self, now: Instant, port: PortId, frame: &[u8]) {
        self.sink.handle_frame(now, port, frame);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(PortId, usize)> {
        self.blaster.poll_transmit(now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.blaster.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.blaster.handle_timeout(now);
    }
}
