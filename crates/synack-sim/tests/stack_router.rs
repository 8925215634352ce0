//! A synack stack as the router of a simulated network (`ip_forward`,
//! RFC 1812 §5.2-5.3), where `Router` is a bare forwarder: two hosts on two
//! links, the far one smaller (1,280 bytes) and lossy. The sender's path MTU
//! comes down to the far link's by the router's fragmentation needed
//! (RFC 1191), and a verified transfer arrives whole; a datagram whose TTL
//! runs out at the router is answered with time exceeded from it.

use std::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::stack::Interface;
use synack_proto::{Config, Duration, Instant, Stack};
use synack_sim::apps::{BulkReceiver, BulkSender, Finish, Pattern};
use synack_sim::{Dir, LinkConfig, PortId, StackNode, World};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const R_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const R_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 254);
const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn host(addr: Ipv4Addr, gateway: Ipv4Addr, config: Config) -> Stack {
    let mut s = Stack::new(config, Interface::ip(addr, 24));
    s.set_default_gateway(gateway).unwrap();
    s
}

/// A -- R -- B; returns the world, the nodes and the far link.
fn network(
    seed: u64,
    a: StackNode,
    b: StackNode,
) -> (World, [synack_sim::NodeId; 3], synack_sim::LinkId) {
    let mut world = World::new(seed);
    let mut router = Stack::new(
        Config {
            seed: world.derive_seed(1),
            ip_forward: true,
            ..Config::default()
        },
        Interface::ip(R_A, 24),
    );
    router.add_interface(Interface::ip(R_B, 24).with_mtu(1280));
    router
        .remove_route(synack_proto::ip::Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0).unwrap())
        .unwrap();
    let a = world.add_node(a);
    let r = world.add_node(StackNode::new(router));
    let b = world.add_node(b);
    let near = LinkConfig::new()
        .delay(Duration::from_millis(5))
        .bandwidth(50_000_000)
        .mtu(1500)
        .l2_header_len(0);
    let far = LinkConfig::new()
        .delay(Duration::from_millis(5))
        .bandwidth(10_000_000)
        .mtu(1280)
        .random_loss(0.01)
        .l2_header_len(0);
    world.connect(a, PortId(0), r, PortId(0), near).unwrap();
    let far_link = world.connect(r, PortId(1), b, PortId(0), far).unwrap();
    (world, [a, r, b], far_link)
}

#[test]
fn a_verified_transfer_crosses_a_synack_router_onto_a_smaller_lossy_link() {
    let bytes = 1 << 20;
    let pattern = Pattern::new(5);
    let to = SocketAddrV4::new(B, 80);
    let sender = StackNode::with_app(
        host(A, R_A, Config::default()),
        BulkSender::new(to, bytes, pattern, Finish::Close),
    );
    // B advertises 1,460 as a host beyond a smaller hop does: only the
    // router's fragmentation needed tells A the way is narrower.
    let receiver = StackNode::with_app(
        host(
            B,
            R_B,
            Config {
                seed: 3,
                ..Config::default()
            },
        ),
        BulkReceiver::new(to, pattern),
    );
    let (mut world, [a, r, b], far) = network(7, sender, receiver);
    let mut end = Instant::ZERO;
    for _ in 0..600 {
        end += Duration::from_millis(100);
        world.run_until(end).unwrap();
        let rx = world.node::<StackNode>(b).app::<BulkReceiver>().unwrap();
        if rx.eof_at.is_some() {
            break;
        }
    }
    let rx = world.node::<StackNode>(b).app::<BulkReceiver>().unwrap();
    assert_eq!(rx.received, bytes);
    assert_eq!(rx.mismatch, None);
    // The router said "fragmentation needed" for the first full segments,
    // and nothing too big reached the far link after.
    let router = &world.node::<StackNode>(r).stack;
    assert!(router.stats().ip.frag_fails >= 1);
    assert!(router.stats().ip.forw_datagrams > 900);
    let far_stats = world.link_stats(far, Dir::AToB);
    assert_eq!(far_stats.dropped_mtu, 0);
    assert!(far_stats.dropped_loss > 0, "the far link loses some");
    let sender = &world.node::<StackNode>(a).stack;
    assert!(sender.stats().icmp.in_dest_unreachs >= 1);
}

#[test]
fn a_ttl_that_runs_out_at_the_router_is_answered_from_it() {
    let (mut world, [a, r, _], _) = network(
        9,
        StackNode::new(host(A, R_A, Config::default())),
        StackNode::new(host(B, R_B, Config::default())),
    );
    world.run_for(Duration::from_millis(1)).unwrap();
    // A UDP datagram from A with TTL 1, as traceroute's first probe.
    let node = world.node_mut::<StackNode>(a);
    let u = node.stack.udp_open();
    node.stack.udp_bind(u, SocketAddrV4::new(A, 33434)).unwrap();
    node.stack.udp_set_ttl(u, 1).unwrap();
    let now = world.now();
    let node = world.node_mut::<StackNode>(a);
    node.stack
        .udp_send_to(now, u, SocketAddrV4::new(B, 33434), b"probe")
        .unwrap();
    world.run_for(Duration::from_millis(50)).unwrap();
    let router = &world.node::<StackNode>(r).stack;
    assert_eq!(router.stats().ip.in_hdr_errors, 1);
    assert_eq!(router.stats().icmp.out_time_excds, 1);
    let host_a = &world.node::<StackNode>(a).stack;
    assert_eq!(host_a.stats().icmp.in_time_excds, 1);
}
