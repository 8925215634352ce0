//! synack-sim: whole networks on virtual time.
//!
//! # What it models
//!
//! A [`World`] owns [`Node`]s (hosts, routers, test peers: anything that
//! speaks frames on numbered ports, in the sans-IO shape `handle_frame` /
//! `poll_transmit` / `poll_timeout` / `handle_timeout`) and point-to-point
//! links between (node, port) pairs. The simulator carries raw frames and
//! never looks inside them. Each direction of a link has its own
//! [`LinkConfig`]:
//!
//! - one-way propagation delay and uniform jitter (jitter alone never
//!   reorders: arrivals keep the send order);
//! - bandwidth with a drop-tail queue (limit in bytes waiting for the
//!   transmitter); serialization takes exactly `len * 8 / bandwidth`,
//!   accumulated without rounding drift;
//! - loss: random (Bernoulli) or bursty (Gilbert-Elliott), applied on the
//!   wire after serialization;
//! - reordering (a fraction of frames held back so later ones pass),
//!   duplication, corruption (one random bit flipped);
//! - an MTU, counted at layer 3: a frame may be `mtu + l2_header_len` bytes,
//!   with `l2_header_len` 14 (Ethernet) by default and 0 for IP-medium links;
//! - blackout windows `[start, end)`: frames *sent* inside one are dropped;
//! - a filter hook that sees (and may rewrite, drop or delay) every frame.
//!
//! The order in which a frame meets these is documented in [`link`]. Each
//! direction counts what happened to its frames ([`LinkStats`]), and any link
//! can be captured to a pcap file ([`World::capture`]): by default every frame
//! as it enters the link, stamped with its send time, like tcpdump on the
//! sender's interface (so frames the link then drops are in the file); or
//! every frame as delivered ([`CapturePoint::Delivered`]). Timestamps are
//! virtual time, so a capture starts at 1970-01-01 00:00:00.
//!
//! # How to use it
//!
//! ```
//! use synack_proto::{Duration, Instant};
//! use synack_sim::nodes::{Blaster, Sink};
//! use synack_sim::{Dir, LinkConfig, PortId, World};
//!
//! let mut world = World::new(42);
//! let a = world.add_node(Blaster::new(PortId(0), 100, 1000, Instant::ZERO, Duration::from_millis(1)));
//! let b = world.add_node(Sink::new());
//! let link = world
//!     .connect(a, PortId(0), b, PortId(0),
//!              LinkConfig::new().delay(Duration::from_millis(10)).random_loss(0.01))
//!     .unwrap();
//! world.run_until_idle(Instant::from_secs(10)).unwrap();
//! let stats = world.link_stats(link, Dir::AToB);
//! assert_eq!(world.node::<Sink>(b).arrivals.len() as u64, 100 - stats.dropped_loss);
//! ```
//!
//! The event loop keeps frames in flight in a priority queue ordered by
//! (arrival time, scheduling order) and node timeouts in another. [`World::step`]
//! takes the earliest event (frames before timeouts at equal times), moves the
//! clock to it (never backwards: a timeout asked for in the past fires now),
//! delivers the frame or fires the timeout, then drains that node's
//! `poll_transmit` and reads its `poll_timeout`. Commands given to a node
//! through [`World::node_mut`] are picked up at the next step.
//!
//! Every run takes an explicit bound ([`World::run_until`],
//! [`World::run_until_idle`], [`World::run_while`]) and livelocks become
//! errors instead of hangs: a node that emits more than
//! [`SimConfig::max_transmits_per_step`] frames in answer to one input is
//! [`SimError::Livelock`], and more than [`SimConfig::max_steps_per_instant`]
//! events without the clock moving is [`SimError::StepLimit`].
//!
//! # Determinism
//!
//! A run is a function of the world's seed, its topology and configuration,
//! and its nodes' behaviour: same inputs, the same events in the same order,
//! bit for bit, on every platform (ChaCha8 RNGs, integer time, ties broken by
//! scheduling order). Each link direction's RNG is derived from the world
//! seed and the link's id alone, so adding a link or a node does not change
//! the randomness of existing links; a random draw is made only for an
//! impairment whose probability is above zero. Nodes that need randomness
//! should seed it from [`World::derive_seed`].
//!
//! # Performance
//!
//! An event costs O(log n) in the number of pending events. Frame buffers are
//! pooled: once warm, carrying a frame costs one copy into a pooled buffer
//! and no allocation.
#![forbid(unsafe_code)]

pub mod apps;
pub mod link;
mod node;
pub mod nodes;
pub mod pcap;
pub mod router;
pub mod scenario;
pub mod script;
mod stack_node;
mod world;

pub use link::{FilterAction, LinkConfig, LinkStats, Loss};
pub use node::{Node, NodeId, PortId};
pub use router::Router;
pub use stack_node::{App, StackNode};
pub use world::{CapturePoint, Dir, LinkId, SimConfig, SimError, TopologyError, World, WorldStats};
