//! The node interface: anything that speaks frames on numbered ports.
//!
//! It has the sans-IO stack's shape (`handle_*` for input, `poll_*` for
//! output), so a `synack_proto` stack plugs in with a trivial adapter.

use core::any::Any;
use core::fmt;

use synack_proto::Instant;

/// A node in a simulated network: a host, a router, a test peer.
///
/// The world calls it in this order after every input (a frame, a timeout,
/// or a [`World::node_mut`](crate::World::node_mut) borrow): `poll_transmit`
/// until it returns `None`, then `poll_timeout`.
pub trait Node: Any {
    /// A frame arrived on `port`.
    fn handle_frame(&mut self, now: Instant, port: PortId, frame: &[u8]);

    /// A frame the node wants to send: written to the front of `buf` (which
    /// holds [`SimConfig::max_frame_len`](crate::SimConfig::max_frame_len)
    /// bytes of leftovers), returning the port and the frame's length. Called
    /// until `None` after every input.
    #[must_use]
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(PortId, usize)>;

    /// When the node next wants [`handle_timeout`](Node::handle_timeout);
    /// `None` when nothing is pending. An instant in the past fires at once.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// The time asked for by `poll_timeout` has come. Must be harmless when
    /// nothing is due (the world never calls it early, but a node's own
    /// bookkeeping may have moved on).
    fn handle_timeout(&mut self, now: Instant);
}

/// Identifies a node in its [`World`](crate::World).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// Position in the order nodes were added, from 0.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node{}", self.0)
    }
}

/// A node's interface number. Each node numbers its own ports, usually from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PortId(pub u16);

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port{}", self.0)
    }
}

/// `Node` plus the downcasts the world needs. A blanket impl covers every
/// node, so implementors never see it (and it needs no trait upcasting).
pub(crate) trait AnyNode: Node {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Node> AnyNode for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
