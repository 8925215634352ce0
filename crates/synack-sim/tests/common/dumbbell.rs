//! A dumbbell for congestion tests: senders --1 Gbit/s, 0.5 ms-- router A
//! ==bottleneck== router B --1 Gbit/s, 0.5 ms-- receivers, flow i on port
//! 1 + i of both routers, bulk apps checking the byte stream.

use std::net::Ipv4Addr;

use synack_proto::stack::Interface;
use synack_proto::{Config, Duration, Stack};
use synack_sim::apps::BulkReceiver;
use synack_sim::{LinkConfig, LinkId, NodeId, PortId, Router, StackNode, World};

/// A configuration whose socket buffers hold 1 MiB (synack does not
/// autotune its receive buffer, so the default 128 KiB would cap a flow
/// at 52 Mbit/s on a 20 ms path: the window, not congestion control).
pub fn bulk_config(seed: u64) -> Config {
    let mut config = Config {
        seed,
        ..Config::default()
    };
    config.tcp_rmem.default = 1 << 20;
    config.tcp_wmem.default = 1 << 20;
    config
}

/// A host at `addr`/24 with `config`.
pub fn host(config: Config, addr: Ipv4Addr) -> Stack {
    Stack::new(config, Interface::ip(addr, 24))
}

/// The two routers, the bottleneck between them, and the flows added.
pub struct Dumbbell {
    pub world: World,
    pub a: NodeId,
    pub b: NodeId,
    /// A to B is the direction the senders' data takes.
    pub bottleneck: LinkId,
    access: LinkConfig,
    flows: u16,
}

impl Dumbbell {
    pub fn new(seed: u64, bottleneck: LinkConfig) -> Self {
        let mut world = World::new(seed);
        let access = LinkConfig::new()
            .delay(Duration::from_micros(500))
            .bandwidth(1_000_000_000)
            .queue_limit(4 << 20)
            .l2_header_len(0);
        let a = world.add_node(Router::new());
        let b = world.add_node(Router::new());
        let bottleneck = world
            .connect(a, PortId(0), b, PortId(0), bottleneck)
            .expect("fresh ports");
        Dumbbell {
            world,
            a,
            b,
            bottleneck,
            access,
            flows: 0,
        }
    }

    /// Adds a sender at `from` behind A and a receiver at `to` behind B,
    /// routed through the bottleneck; returns (sender, receiver).
    pub fn add_flow(
        &mut self,
        sender: StackNode,
        from: Ipv4Addr,
        receiver: StackNode,
        to: Ipv4Addr,
    ) -> (NodeId, NodeId) {
        self.flows += 1;
        let port = PortId(self.flows);
        let w = &mut self.world;
        let s = w.add_node(sender);
        let r = w.add_node(receiver);
        w.connect(s, PortId(0), self.a, port, self.access.clone())
            .expect("fresh ports");
        w.connect(r, PortId(0), self.b, port, self.access.clone())
            .expect("fresh ports");
        let routes = [
            (self.a, to, PortId(0)),
            (self.a, from, port),
            (self.b, from, PortId(0)),
            (self.b, to, port),
        ];
        for (router, addr, port) in routes {
            w.node_mut::<Router>(router).add_route(addr, 32, port);
        }
        (s, r)
    }

    /// Bytes the receiver node `r` got, checked against its pattern.
    pub fn received(&self, r: NodeId) -> u64 {
        let rx = self
            .world
            .node::<StackNode>(r)
            .app::<BulkReceiver>()
            .expect("a receiver");
        assert_eq!(rx.mismatch, None, "corrupted stream");
        rx.received
    }
}
