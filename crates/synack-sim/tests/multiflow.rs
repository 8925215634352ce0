//! Issue 4's multi-flow check: 1, 4 and 16 CUBIC flows share one 100 Mbit/s
//! bottleneck (a BDP drop-tail queue, 20 ms RTT for every flow). Over a
//! measurement window after the flows started, the aggregate goodput must
//! reach 85% of the link and Jain's fairness index (sum x)^2 / (n sum x^2)
//! over the flows' goodputs must be at least 0.95.
//!
//! Topology: senders S1..Sn --1 Gbit/s-- router A ==100 Mbit/s== router B
//! --1 Gbit/s-- receivers R1..Rn; flow i goes from Si to Ri.

use std::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::{Duration, Instant};
use synack_sim::apps::{BulkReceiver, BulkSender, Finish, Pattern};
use synack_sim::{LinkConfig, NodeId, StackNode};

mod common;
use common::dumbbell::{Dumbbell, bulk_config, host};

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

fn run(n: usize, seed: u64, warmup: Duration, window: Duration) -> Outcome {
    // One-way delays add up to RTT / 2: 0.5 + 9 + 0.5 ms.
    let bdp = (BOTTLENECK_BPS as u128 * RTT.total_micros() as u128 / 8_000_000) as usize;
    let bottleneck = LinkConfig::new()
        .delay(Duration::from_millis(9))
        .bandwidth(BOTTLENECK_BPS)
        .queue_limit(bdp)
        .l2_header_len(0);
    let mut net = Dumbbell::new(seed, bottleneck);
    let pattern = Pattern::new(seed);
    let mut receivers: Vec<NodeId> = Vec::new();
    for i in 0..n {
        let dst = SocketAddrV4::new(receiver_addr(i), 80);
        // Staggered starts, 10 ms apart, so the flows do not move in lockstep.
        let sender = StackNode::with_app(
            host(
                bulk_config(net.world.derive_seed(100 + i as u64)),
                sender_addr(i),
            ),
            BulkSender::new(dst, u64::MAX / 4, pattern, Finish::Nothing)
                .starting_at(Instant::from_millis(10 * i as u64)),
        );
        let receiver = StackNode::with_app(
            host(
                bulk_config(net.world.derive_seed(200 + i as u64)),
                receiver_addr(i),
            ),
            BulkReceiver::new(dst, pattern),
        );
        let (_, r) = net.add_flow(sender, sender_addr(i), receiver, receiver_addr(i));
        receivers.push(r);
    }
    let received =
        |net: &Dumbbell| -> Vec<u64> { receivers.iter().map(|&r| net.received(r)).collect() };
    let t0 = Instant::ZERO + warmup;
    net.world.run_until(t0).expect("runs");
    let before = received(&net);
    net.world.run_until(t0 + window).expect("runs");
    let after = received(&net);
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
