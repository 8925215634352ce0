//! Issue 4's multi-flow check: 1, 4 and 16 CUBIC flows share one 100 Mbit/s
//! bottleneck (a BDP drop-tail queue, 20 ms RTT for every flow). Over a
//! measurement window after the flows started, the aggregate goodput must
//! reach 85% of the link and Jain's fairness index (sum x)^2 / (n sum x^2)
//! over the flows' goodputs must be at least 0.95.
//!
//! Topology: senders S1..Sn --1 Gbit/s-- router A ==100 Mbit/s== router B
//! --1 Gbit/s-- receivers R1..Rn; flow i goes from Si to Ri.

use std::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::stack::Interface;
use synack_proto::{Config, Duration, Instant, Stack};
use synack_sim::apps::{BulkReceiver, BulkSender, Finish, Pattern};
use synack_sim::{LinkConfig, NodeId, PortId, Router, StackNode, World};

const BOTTLENECK_BPS: u64 = 100_000_000;
const RTT: Duration = Duration::from_millis(20);

struct Outcome {
    /// Goodput of each flow over the window, Mbit/s.
    flows: Vec<f64>,
}

fn sender_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10 + i as u8)
}

fn receiver_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 10 + i as u8)
}

/// A host whose socket buffers hold twice the path's BDP (synack does not
/// autotune its receive buffer, so the default 128 KiB would cap one flow
/// at 52 Mbit/s on this path: the window, not congestion control).
fn host(addr: Ipv4Addr, seed: u64) -> Stack {
    let mut config = Config {
        seed,
        ..Config::default()
    };
    config.tcp_rmem.default = 1 << 20;
    config.tcp_wmem.default = 1 << 20;
    Stack::new(config, Interface::ip(addr, 24))
}

fn run(n: usize, seed: u64, warmup: Duration, window: Duration) -> Outcome {
    let mut world = World::new(seed);
    let access = LinkConfig::new()
        .delay(Duration::from_micros(500))
        .bandwidth(1_000_000_000)
        .queue_limit(4 << 20)
        .l2_header_len(0);
    // One-way delays add up to RTT / 2: 0.5 + 9 + 0.5 ms.
    let bdp = (BOTTLENECK_BPS as u128 * RTT.total_micros() as u128 / 8_000_000) as usize;
    let bottleneck = LinkConfig::new()
        .delay(Duration::from_millis(9))
        .bandwidth(BOTTLENECK_BPS)
        .queue_limit(bdp)
        .l2_header_len(0);
    let a = world.add_node(Router::new());
    let b = world.add_node(Router::new());
    world
        .connect(a, PortId(0), b, PortId(0), bottleneck)
        .expect("fresh ports");
    let pattern = Pattern::new(seed);
    let mut receivers: Vec<NodeId> = Vec::new();
    for i in 0..n {
        let port = PortId(1 + i as u16);
        let dst = SocketAddrV4::new(receiver_addr(i), 80);
        // Staggered starts, 10 ms apart, so the flows do not move in lockstep.
        let sender = StackNode::with_app(
            host(sender_addr(i), world.derive_seed(100 + i as u64)),
            BulkSender::new(dst, u64::MAX / 4, pattern, Finish::Nothing)
                .starting_at(Instant::from_millis(10 * i as u64)),
        );
        let receiver = StackNode::with_app(
            host(receiver_addr(i), world.derive_seed(200 + i as u64)),
            BulkReceiver::new(dst, pattern),
        );
        let s = world.add_node(sender);
        let r = world.add_node(receiver);
        world
            .connect(s, PortId(0), a, port, access.clone())
            .expect("fresh ports");
        world
            .connect(r, PortId(0), b, port, access.clone())
            .expect("fresh ports");
        world
            .node_mut::<Router>(a)
            .add_route(receiver_addr(i), 32, PortId(0));
        world
            .node_mut::<Router>(a)
            .add_route(sender_addr(i), 32, port);
        world
            .node_mut::<Router>(b)
            .add_route(sender_addr(i), 32, PortId(0));
        world
            .node_mut::<Router>(b)
            .add_route(receiver_addr(i), 32, port);
        receivers.push(r);
    }
    let received = |w: &World| -> Vec<u64> {
        receivers
            .iter()
            .map(|&r| {
                let rx = w
                    .node::<StackNode>(r)
                    .app::<BulkReceiver>()
                    .expect("a receiver");
                assert_eq!(rx.mismatch, None, "seed {seed}: corrupted stream");
                rx.received
            })
            .collect()
    };
    let t0 = Instant::ZERO + warmup;
    world.run_until(t0).expect("runs");
    let before = received(&world);
    world.run_until(t0 + window).expect("runs");
    let after = received(&world);
    let secs = window.as_secs_f64();
    Outcome {
        flows: before
            .iter()
            .zip(&after)
            .map(|(b, a)| (a - b) as f64 * 8.0 / secs / 1e6)
            .collect(),
    }
}

fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let squares: f64 = x.iter().map(|v| v * v).sum();
    sum * sum / (x.len() as f64 * squares)
}

#[test]
fn flows_sharing_a_bottleneck_fill_it_and_share_it_fairly() {
    // CUBIC's flows converge over several of its epochs (seconds here), so
    // the window starts after a warm-up; one flow needs less.
    let seed = 7;
    for (n, warmup, window) in [(1, 2, 10), (4, 10, 30), (16, 10, 30)] {
        let o = run(
            n,
            seed,
            Duration::from_secs(warmup),
            Duration::from_secs(window),
        );
        let total: f64 = o.flows.iter().sum();
        let fairness = jain(&o.flows);
        println!(
            "{n:>2} flows: aggregate {total:.2} Mbit/s ({:.1}% of the link), Jain {fairness:.4}, per flow {:?}",
            total * 1e8 / BOTTLENECK_BPS as f64,
            o.flows
                .iter()
                .map(|f| (f * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
        assert!(
            total >= 85.0,
            "seed {seed}, {n} flows: aggregate {total:.2} Mbit/s"
        );
        assert!(
            fairness >= 0.95,
            "seed {seed}, {n} flows: Jain {fairness:.4}, {:?}",
            o.flows
        );
    }
}

#[test]
fn jain_index_is_one_for_equal_shares_and_one_over_n_for_a_monopoly() {
    assert!((jain(&[5.0, 5.0, 5.0]) - 1.0).abs() < 1e-12);
    assert!((jain(&[9.0, 0.0, 0.0]) - 1.0 / 3.0).abs() < 1e-12);
}
