//! The world: nodes, links, the virtual clock and the event loop.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use synack_proto::siphash::SipKey;
use synack_proto::{Duration, Instant, Rng};

use crate::link::{Direction, Fate, FilterAction, LinkConfig, LinkStats};
use crate::node::{AnyNode, Node, NodeId, PortId};
use crate::pcap::{DEFAULT_SNAPLEN, LinkType, PcapFile};

/// Identifies a link in its [`World`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(u32);

impl LinkId {
    /// Position in the order links were made, from 0.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link{}", self.0)
    }
}

/// One direction of a link: from the first endpoint given to
/// [`World::connect`] to the second, or back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    AToB,
    BToA,
}

impl Dir {
    fn index(self) -> usize {
        match self {
            Dir::AToB => 0,
            Dir::BToA => 1,
        }
    }

    pub fn reverse(self) -> Dir {
        match self {
            Dir::AToB => Dir::BToA,
            Dir::BToA => Dir::AToB,
        }
    }
}

/// Where on the link a capture records frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CapturePoint {
    /// Every frame sent into the link, before any impairment, stamped with
    /// its send time: what tcpdump on the sender's interface shows. Frames the
    /// link then drops are in the file.
    #[default]
    Sent,
    /// Every frame handed to the receiver (duplicates, corruption and filter
    /// rewrites included), stamped with its arrival time.
    Delivered,
}

/// Limits that turn a livelock into an error instead of a hang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Most frames one node may emit in answer to one input.
    pub max_transmits_per_step: usize,
    /// Most steps at one instant before time is declared stuck.
    pub max_steps_per_instant: u64,
    /// Size of the buffer handed to `poll_transmit`.
    pub max_frame_len: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            max_transmits_per_step: 10_000,
            max_steps_per_instant: 1_000_000,
            max_frame_len: 65_536,
        }
    }
}

/// Why a run stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimError {
    /// A node kept transmitting: more than `max_transmits_per_step` frames in
    /// answer to one input.
    Livelock { node: NodeId, at: Instant },
    /// Time stopped: more than `max_steps_per_instant` events at `at` (a node
    /// asking for a timeout "now" forever, or frames bouncing on zero-delay
    /// links).
    StepLimit { at: Instant, steps: u64 },
    /// The deadline came while events were still pending (`run_until_idle`) or
    /// the condition still held (`run_while`).
    Deadline { at: Instant },
    /// `run_while`: nothing is left to happen and the condition still holds.
    Stalled { at: Instant },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SimError::Livelock { node, at } => write!(
                f,
                "livelock: {node} kept transmitting at {at} (more frames than the per-step bound)"
            ),
            SimError::StepLimit { at, steps } => {
                write!(f, "time stopped at {at}: {steps} steps without advancing")
            }
            SimError::Deadline { at } => write!(f, "deadline {at} reached with work pending"),
            SimError::Stalled { at } => {
                write!(f, "stalled at {at}: no events left, condition still holds")
            }
        }
    }
}

impl std::error::Error for SimError {}

/// Misuse of the topology API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopologyError {
    /// No node with this id.
    NoSuchNode(NodeId),
    /// The port already has a link.
    PortInUse(NodeId, PortId),
    /// Both ends are the same port.
    Loop(NodeId, PortId),
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TopologyError::NoSuchNode(n) => write!(f, "no such node: {n}"),
            TopologyError::PortInUse(n, p) => write!(f, "{n} {p} already has a link"),
            TopologyError::Loop(n, p) => write!(f, "{n} {p} cannot be linked to itself"),
        }
    }
}

impl std::error::Error for TopologyError {}

/// Counters for the whole world.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldStats {
    /// Events processed (frame deliveries plus timeouts).
    pub steps: u64,
    pub deliveries: u64,
    pub timeouts: u64,
    /// Frames sent on a port with no link.
    pub unconnected_frames: u64,
}

struct NodeSlot {
    node: Box<dyn AnyNode>,
    /// Indexed by port number.
    ports: Vec<Option<(LinkId, Dir)>>,
    /// The timeout the node last asked for.
    timer: Option<Instant>,
    /// The time of this node's live entry in the timer heap, if any. It is
    /// never later than `timer`: when the node moves its deadline later (a
    /// restarted retransmission timer) the entry stays, pops early and is
    /// pushed again, so the heap holds about one entry per node however often
    /// deadlines move.
    queued: Option<Instant>,
    dirty: bool,
}

struct Capture {
    file: PcapFile<Box<dyn Write>>,
    point: CapturePoint,
    /// The first write error; later frames are not written.
    error: Option<io::Error>,
}

impl Capture {
    fn record(&mut self, point: CapturePoint, ts: Instant, frame: &[u8]) {
        if self.point == point
            && self.error.is_none()
            && let Err(e) = self.file.write_frame(ts, frame)
        {
            self.error = Some(e);
        }
    }
}

struct Link {
    ends: [(NodeId, PortId); 2],
    dirs: [Direction; 2],
    capture: Option<Capture>,
}

/// A frame on its way: ordered by arrival time, then by the order it was
/// scheduled, so ties resolve the same way every run.
struct Delivery {
    at: Instant,
    seq: u64,
    link: LinkId,
    dir: Dir,
    frame: Vec<u8>,
}

impl PartialEq for Delivery {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Delivery {}
impl PartialOrd for Delivery {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delivery {
    /// Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Everything but the nodes, so a node and the network can be borrowed at once.
struct Net {
    now: Instant,
    links: Vec<Link>,
    deliveries: BinaryHeap<Delivery>,
    seq: u64,
    /// Spent frame buffers, reused so steady traffic allocates nothing.
    pool: Vec<Vec<u8>>,
    stats: WorldStats,
}

impl Net {
    fn buffer(&mut self, frame: &[u8]) -> Vec<u8> {
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        buf
    }

    fn schedule(&mut self, at: Instant, link: LinkId, dir: Dir, frame: Vec<u8>) {
        self.seq += 1;
        self.deliveries.push(Delivery {
            at,
            seq: self.seq,
            link,
            dir,
            frame,
        });
    }

    /// A node put `frame` on the port with this link end.
    fn send(&mut self, end: Option<(LinkId, Dir)>, frame: &[u8]) {
        let Some((link_id, dir)) = end else {
            self.stats.unconnected_frames += 1;
            return;
        };
        let now = self.now;
        let mut buf = self.buffer(frame);
        let link = &mut self.links[link_id.index()];
        if let Some(cap) = &mut link.capture {
            cap.record(CapturePoint::Sent, now, frame);
        }
        match link.dirs[dir.index()].transmit(now, &mut buf) {
            Fate::Dropped(_) => self.pool.push(buf),
            Fate::Deliver { at, copy_at } => {
                let copy = copy_at.map(|t| (t, self.buffer(&buf)));
                self.schedule(at, link_id, dir, buf);
                if let Some((t, copy)) = copy {
                    self.schedule(t, link_id, dir, copy);
                }
            }
        }
    }
}

enum Next {
    Delivery(Instant),
    Timeout(Instant, NodeId),
}

/// A simulated network on virtual time. See the crate documentation.
pub struct World {
    seed: u64,
    seed_key: SipKey,
    config: SimConfig,
    nodes: Vec<NodeSlot>,
    net: Net,
    /// Node timeouts: (when, node). An entry is live if it matches its node's
    /// `queued`; others are stale and skipped.
    timers: BinaryHeap<Reverse<(Instant, NodeId)>>,
    dirty: Vec<NodeId>,
    /// The buffer `poll_transmit` writes into.
    scratch: Vec<u8>,
    steps_at_now: u64,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("seed", &self.seed)
            .field("now", &self.net.now)
            .field("nodes", &self.nodes.len())
            .field("links", &self.net.links.len())
            .field("in_flight", &self.net.deliveries.len())
            .field("stats", &self.net.stats)
            .finish()
    }
}

impl World {
    /// An empty world at time zero whose randomness all derives from `seed`.
    pub fn new(seed: u64) -> World {
        World::with_config(seed, SimConfig::default())
    }

    pub fn with_config(seed: u64, config: SimConfig) -> World {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..].copy_from_slice(b"synack-w");
        World {
            seed,
            seed_key: SipKey(key),
            config,
            nodes: Vec::new(),
            net: Net {
                now: Instant::ZERO,
                links: Vec::new(),
                deliveries: BinaryHeap::new(),
                seq: 0,
                pool: Vec::new(),
                stats: WorldStats::default(),
            },
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            scratch: vec![0; config.max_frame_len],
            steps_at_now: 0,
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.net.now
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn stats(&self) -> WorldStats {
        self.net.stats
    }

    /// A seed for a node's own RNG, derived from the world's seed and a number
    /// the caller picks (e.g. the node's index). Independent of the links'
    /// streams and of every other `stream`.
    pub fn derive_seed(&self, stream: u64) -> u64 {
        self.mix(0, stream)
    }

    fn mix(&self, domain: u64, index: u64) -> u64 {
        let mut msg = [0u8; 16];
        msg[..8].copy_from_slice(&domain.to_le_bytes());
        msg[8..].copy_from_slice(&index.to_le_bytes());
        self.seed_key.hash(&msg)
    }

    // ---- topology -------------------------------------------------------

    /// Adds a node. It is polled (`poll_transmit`, `poll_timeout`) at the next step.
    pub fn add_node<T: Node>(&mut self, node: T) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).expect("fewer than 2^32 nodes"));
        self.nodes.push(NodeSlot {
            node: Box::new(node),
            ports: Vec::new(),
            timer: None,
            queued: None,
            dirty: false,
        });
        self.mark_dirty(id);
        id
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node as its concrete type.
    ///
    /// # Panics
    /// If `id` is not a node of this world or not a `T` (a test bug).
    pub fn node<T: Node>(&self, id: NodeId) -> &T {
        self.try_node(id)
            .unwrap_or_else(|| panic!("{id} is not a {}", std::any::type_name::<T>()))
    }

    /// The node as its concrete type, to issue commands. The world polls it
    /// again at the next step, so frames and timeouts the command caused are
    /// picked up.
    ///
    /// # Panics
    /// If `id` is not a node of this world or not a `T` (a test bug).
    pub fn node_mut<T: Node>(&mut self, id: NodeId) -> &mut T {
        self.try_node_mut(id)
            .unwrap_or_else(|| panic!("{id} is not a {}", std::any::type_name::<T>()))
    }

    pub fn try_node<T: Node>(&self, id: NodeId) -> Option<&T> {
        self.nodes.get(id.index())?.node.as_any().downcast_ref()
    }

    pub fn try_node_mut<T: Node>(&mut self, id: NodeId) -> Option<&mut T> {
        self.nodes.get(id.index())?;
        self.mark_dirty(id);
        self.nodes[id.index()].node.as_any_mut().downcast_mut()
    }

    fn mark_dirty(&mut self, id: NodeId) {
        let slot = &mut self.nodes[id.index()];
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Links `a`'s `a_port` with `b`'s `b_port`; both directions get `config`.
    pub fn connect(
        &mut self,
        a: NodeId,
        a_port: PortId,
        b: NodeId,
        b_port: PortId,
        config: LinkConfig,
    ) -> Result<LinkId, TopologyError> {
        self.connect_asymmetric(a, a_port, b, b_port, config.clone(), config)
    }

    /// Links two ports with a different configuration per direction.
    pub fn connect_asymmetric(
        &mut self,
        a: NodeId,
        a_port: PortId,
        b: NodeId,
        b_port: PortId,
        a_to_b: LinkConfig,
        b_to_a: LinkConfig,
    ) -> Result<LinkId, TopologyError> {
        for (n, p) in [(a, a_port), (b, b_port)] {
            let slot = self
                .nodes
                .get(n.index())
                .ok_or(TopologyError::NoSuchNode(n))?;
            if let Some(Some(_)) = slot.ports.get(usize::from(p.0)) {
                return Err(TopologyError::PortInUse(n, p));
            }
        }
        if (a, a_port) == (b, b_port) {
            return Err(TopologyError::Loop(a, a_port));
        }
        let id = LinkId(u32::try_from(self.net.links.len()).expect("fewer than 2^32 links"));
        // Each direction's RNG depends only on the seed and the link's id, so
        // adding links or nodes elsewhere changes nothing here.
        let rng = |dir: u64| Rng::from_seed(self.mix(1, u64::from(id.0) * 2 + dir));
        self.net.links.push(Link {
            ends: [(a, a_port), (b, b_port)],
            dirs: [
                Direction::new(a_to_b, rng(0)),
                Direction::new(b_to_a, rng(1)),
            ],
            capture: None,
        });
        for (n, p, dir) in [(a, a_port, Dir::AToB), (b, b_port, Dir::BToA)] {
            let ports = &mut self.nodes[n.index()].ports;
            let i = usize::from(p.0);
            if ports.len() <= i {
                ports.resize(i + 1, None);
            }
            ports[i] = Some((id, dir));
        }
        Ok(id)
    }

    pub fn link_count(&self) -> usize {
        self.net.links.len()
    }

    /// The (node, port) a direction sends from and the one it delivers to.
    ///
    /// # Panics
    /// If `link` is not a link of this world.
    pub fn link_ends(&self, link: LinkId, dir: Dir) -> ((NodeId, PortId), (NodeId, PortId)) {
        let ends = self.link(link).ends;
        (ends[dir.index()], ends[dir.reverse().index()])
    }

    /// The direction of `link` that `from` sends on.
    pub fn dir_from(&self, link: LinkId, from: NodeId) -> Option<Dir> {
        let ends = self.link(link).ends;
        [Dir::AToB, Dir::BToA]
            .into_iter()
            .find(|d| ends[d.index()].0 == from)
    }

    fn link(&self, link: LinkId) -> &Link {
        self.net
            .links
            .get(link.index())
            .unwrap_or_else(|| panic!("{link} is not a link of this world"))
    }

    fn link_mut(&mut self, link: LinkId) -> &mut Link {
        self.net
            .links
            .get_mut(link.index())
            .unwrap_or_else(|| panic!("{link} is not a link of this world"))
    }

    pub fn link_config(&self, link: LinkId, dir: Dir) -> &LinkConfig {
        &self.link(link).dirs[dir.index()].config
    }

    /// Changes a direction's behaviour from now on. Frames already in flight
    /// keep their schedule; the queue is kept.
    pub fn set_link_config(&mut self, link: LinkId, dir: Dir, config: LinkConfig) {
        self.link_mut(link).dirs[dir.index()].set_config(config);
    }

    pub fn link_stats(&self, link: LinkId, dir: Dir) -> &LinkStats {
        &self.link(link).dirs[dir.index()].stats
    }

    /// Installs a per-frame hook on one direction (replacing any other).
    pub fn set_filter(
        &mut self,
        link: LinkId,
        dir: Dir,
        filter: impl FnMut(Instant, &mut Vec<u8>) -> FilterAction + 'static,
    ) {
        self.link_mut(link).dirs[dir.index()].filter = Some(Box::new(filter));
    }

    pub fn clear_filter(&mut self, link: LinkId, dir: Dir) {
        self.link_mut(link).dirs[dir.index()].filter = None;
    }

    // ---- capture ---------------------------------------------------------

    /// Writes both directions of `link` to a pcap file at `path` (Ethernet
    /// link type, frames as sent; see [`CapturePoint::Sent`]).
    pub fn capture(&mut self, link: LinkId, path: impl AsRef<Path>) -> io::Result<()> {
        let file = BufWriter::new(File::create(path)?);
        self.capture_to(link, file, LinkType::Ethernet, CapturePoint::Sent)
    }

    /// Writes both directions of `link` to any writer, as pcap of
    /// `link_type` (use [`LinkType::Raw`] for IP-medium links), recording at
    /// `point`. Replaces an earlier capture of this link.
    pub fn capture_to(
        &mut self,
        link: LinkId,
        out: impl Write + 'static,
        link_type: LinkType,
        point: CapturePoint,
    ) -> io::Result<()> {
        let out: Box<dyn Write> = Box::new(out);
        let file = PcapFile::new(out, link_type, DEFAULT_SNAPLEN)?;
        self.link_mut(link).capture = Some(Capture {
            file,
            point,
            error: None,
        });
        Ok(())
    }

    /// Ends `link`'s capture: flushes it and reports the first write error.
    pub fn stop_capture(&mut self, link: LinkId) -> io::Result<()> {
        match self.link_mut(link).capture.take() {
            None => Ok(()),
            Some(Capture { error: Some(e), .. }) => Err(e),
            Some(mut cap) => cap.file.flush(),
        }
    }

    /// Flushes every capture, or reports the first write error one of them hit
    /// (a capture stops writing at its first error). Captures are also flushed
    /// when the world is dropped, with errors ignored.
    pub fn flush_captures(&mut self) -> io::Result<()> {
        for link in &mut self.net.links {
            if let Some(cap) = &mut link.capture {
                if let Some(e) = &cap.error {
                    // Kept: the capture stays stopped; stop_capture reports it too.
                    return Err(io::Error::new(e.kind(), e.to_string()));
                }
                cap.file.flush()?;
            }
        }
        Ok(())
    }

    // ---- the event loop --------------------------------------------------

    /// Drains a node after an input: every frame it wants to send goes onto
    /// its link, then its timeout is read again.
    fn service(&mut self, id: NodeId) -> Result<(), SimError> {
        let now = self.net.now;
        let slot = &mut self.nodes[id.index()];
        slot.dirty = false;
        let mut sent = 0;
        while let Some((port, len)) = slot.node.poll_transmit(now, &mut self.scratch) {
            sent += 1;
            if sent > self.config.max_transmits_per_step {
                return Err(SimError::Livelock { node: id, at: now });
            }
            let end = slot.ports.get(usize::from(port.0)).copied().flatten();
            let len = len.min(self.scratch.len());
            self.net.send(end, &self.scratch[..len]);
        }
        slot.timer = slot.node.poll_timeout();
        if let Some(t) = slot.timer
            && slot.queued.is_none_or(|q| t < q)
        {
            slot.queued = Some(t);
            self.timers.push(Reverse((t, id)));
        }
        Ok(())
    }

    /// Services nodes touched outside the loop, then finds the next event.
    fn next(&mut self) -> Result<Option<Next>, SimError> {
        // In the order they were touched; on an error the rest stay queued.
        for i in 0..self.dirty.len() {
            if let Err(e) = self.service(self.dirty[i]) {
                self.dirty.drain(..=i);
                return Err(e);
            }
        }
        self.dirty.clear();
        while let Some(&Reverse((t, id))) = self.timers.peek() {
            let slot = &mut self.nodes[id.index()];
            if slot.queued != Some(t) {
                self.timers.pop(); // stale: superseded by an earlier entry
                continue;
            }
            match slot.timer {
                Some(want) if want <= t => break, // due: the next timer event
                Some(want) => {
                    // The deadline moved later: requeue it there.
                    self.timers.pop();
                    slot.queued = Some(want);
                    self.timers.push(Reverse((want, id)));
                }
                None => {
                    // Cancelled.
                    self.timers.pop();
                    slot.queued = None;
                }
            }
        }
        let delivery = self.net.deliveries.peek().map(|d| d.at);
        let timer = self.timers.peek().map(|&Reverse((t, id))| (t, id));
        // At equal times frames arrive before timers fire.
        Ok(match (delivery, timer) {
            (None, None) => None,
            (Some(d), None) => Some(Next::Delivery(d)),
            (Some(d), Some((t, _))) if d <= t => Some(Next::Delivery(d)),
            (_, Some((t, id))) => Some(Next::Timeout(t, id)),
        })
    }

    /// When the next event happens (never earlier than now), if any.
    pub fn next_event_time(&mut self) -> Result<Option<Instant>, SimError> {
        let now = self.net.now;
        Ok(self.next()?.map(|n| match n {
            Next::Delivery(t) | Next::Timeout(t, _) => t.max(now),
        }))
    }

    fn advance(&mut self, to: Instant) -> Result<(), SimError> {
        if to > self.net.now {
            self.net.now = to;
            self.steps_at_now = 0;
        } else {
            self.steps_at_now += 1;
            if self.steps_at_now > self.config.max_steps_per_instant {
                return Err(SimError::StepLimit {
                    at: self.net.now,
                    steps: self.steps_at_now,
                });
            }
        }
        Ok(())
    }

    /// Processes the earliest event: delivers one frame or fires one node's
    /// timeout (a timeout asked for in the past fires now), then drains that
    /// node. Returns the time of the event, or `None` if nothing is pending.
    pub fn step(&mut self) -> Result<Option<Instant>, SimError> {
        let Some(next) = self.next()? else {
            return Ok(None);
        };
        self.net.stats.steps += 1;
        let id = match next {
            Next::Delivery(at) => {
                self.advance(at)?;
                let Some(d) = self.net.deliveries.pop() else {
                    return Ok(None); // peeked just above
                };
                self.net.stats.deliveries += 1;
                let now = self.net.now;
                let link = &mut self.net.links[d.link.index()];
                let stats = &mut link.dirs[d.dir.index()].stats;
                stats.delivered_frames += 1;
                stats.delivered_bytes += d.frame.len() as u64;
                if let Some(cap) = &mut link.capture {
                    cap.record(CapturePoint::Delivered, now, &d.frame);
                }
                let (node, port) = link.ends[d.dir.reverse().index()];
                self.nodes[node.index()]
                    .node
                    .handle_frame(now, port, &d.frame);
                self.net.pool.push(d.frame);
                node
            }
            Next::Timeout(at, id) => {
                self.advance(at)?;
                self.timers.pop();
                self.net.stats.timeouts += 1;
                let slot = &mut self.nodes[id.index()];
                // Consumed: if the node asks for the same time again it is a
                // new request (and fires again, bounded by the step limit).
                slot.timer = None;
                slot.queued = None;
                slot.node.handle_timeout(self.net.now);
                id
            }
        };
        self.service(id)?;
        Ok(Some(self.net.now))
    }

    /// Runs every event up to and including `deadline`, then sets the clock
    /// to `deadline`.
    pub fn run_until(&mut self, deadline: Instant) -> Result<(), SimError> {
        while let Some(t) = self.next_event_time()? {
            if t > deadline {
                break;
            }
            self.step()?;
        }
        if deadline > self.net.now {
            self.net.now = deadline;
            self.steps_at_now = 0;
        }
        Ok(())
    }

    /// `run_until(now + duration)`.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        self.run_until(self.net.now + duration)
    }

    /// Runs until nothing is in flight and no node wants a timeout; returns
    /// that time. [`SimError::Deadline`] if events remain after `max_time`
    /// (the clock is then at `max_time`).
    pub fn run_until_idle(&mut self, max_time: Instant) -> Result<Instant, SimError> {
        loop {
            match self.next_event_time()? {
                None => return Ok(self.net.now),
                Some(t) if t <= max_time => {
                    self.step()?;
                }
                Some(_) => {
                    self.run_until(max_time)?;
                    return Err(SimError::Deadline { at: max_time });
                }
            }
        }
    }

    /// Runs while `cond(world)` holds; returns the time it stopped holding.
    /// [`SimError::Deadline`] if it still holds after `deadline`,
    /// [`SimError::Stalled`] if it holds and nothing is left to happen.
    pub fn run_while(
        &mut self,
        mut cond: impl FnMut(&World) -> bool,
        deadline: Instant,
    ) -> Result<Instant, SimError> {
        loop {
            if !cond(self) {
                return Ok(self.net.now);
            }
            match self.next_event_time()? {
                None => return Err(SimError::Stalled { at: self.net.now }),
                Some(t) if t <= deadline => {
                    self.step()?;
                }
                Some(_) => {
                    self.run_until(deadline)?;
                    return Err(SimError::Deadline { at: deadline });
                }
            }
        }
    }

    /// Entries in the timer queue, stale ones included (for tests of the
    /// simulator's own bookkeeping).
    pub fn queued_timers(&self) -> usize {
        self.timers.len()
    }

    /// Frames currently on their way.
    pub fn in_flight(&self) -> usize {
        self.net.deliveries.len()
    }
}
