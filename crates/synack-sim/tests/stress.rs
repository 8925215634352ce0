//! The stress test of issue 3: 10 MiB through a link with 10% loss, 5%
//! reordering, 1% duplication and 0.1% corruption, over many seeds. The
//! bytes must arrive identical (nothing lost, altered or delivered twice:
//! every byte is checked against its offset's pattern), both sides must
//! close cleanly, and every corrupted frame must be dropped and counted.
//!
//! `STRESS_SEEDS=n` runs n seeds (default 20); `STRESS_BYTES` changes the
//! transfer size. A failing seed is printed.

use synack_proto::{Config, Duration, Instant, Stats};
use synack_sim::apps::{BulkReceiver, BulkSender, Finish, Pattern};
use synack_sim::scenario::{Pair, SERVER_ADDR};
use synack_sim::{Dir, LinkConfig, LinkStats, StackNode};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn hostile_link() -> LinkConfig {
    LinkConfig::new()
        .delay(Duration::from_millis(5))
        .bandwidth(100_000_000)
        .random_loss(0.10)
        .reorder(0.05, Duration::from_millis(3))
        .duplicate(0.01, Duration::from_micros(200))
        .corrupt(0.001)
}

/// Frames the receiving stack threw away as damaged: IP header errors,
/// truncated datagrams, and TCP segments in error (bad checksums included).
fn damaged_dropped(s: &Stats) -> u64 {
    s.ip.in_hdr_errors + s.ip.in_truncated_pkts + s.tcp.in_errs
}

fn damaged_sent(l: &LinkStats) -> u64 {
    l.corrupted + l.duplicated_corrupted
}

struct Outcome {
    virtual_secs: f64,
    retransmissions: u64,
    corrupted: u64,
}

fn run(seed: u64, bytes: u64) -> Outcome {
    let pattern = Pattern::new(seed);
    let mut pair = Pair::with_nodes(
        seed,
        |stack| {
            StackNode::with_app(
                stack,
                BulkSender::new(SERVER_ADDR, bytes, pattern, Finish::Close),
            )
        },
        |stack| StackNode::with_app(stack, BulkReceiver::new(SERVER_ADDR, pattern)),
        Config::default(),
        Config::default(),
        hostile_link(),
    );
    let client = pair.client;
    let server = pair.server;
    // Until the server has read everything and both sides finished closing
    // (the client's TIME-WAIT included).
    let done = |p: &Pair| {
        let rx = p
            .world
            .node::<StackNode>(server)
            .app::<BulkReceiver>()
            .unwrap();
        rx.eof_at.is_some()
            && p.client_ref().connection_count() == (0, 0)
            && p.server_ref().connection_count() == (0, 0)
    };
    let result = pair.run_until(done, Instant::from_secs(3_600));
    let rx = pair
        .world
        .node::<StackNode>(server)
        .app::<BulkReceiver>()
        .unwrap();
    let tx = pair
        .world
        .node::<StackNode>(client)
        .app::<BulkSender>()
        .unwrap();
    let info = |stack: &synack_proto::Stack, c: Option<synack_proto::stack::ConnHandle>| {
        c.and_then(|c| stack.tcp_info(c)).map(|i| {
            format!(
                "{} ca {:?} retrans {} backoff {} rto {} cwnd {} ssthresh {} snd_wnd {} rcv_wnd {} unacked {} notsent {}",
                i.state, i.ca_state, i.retransmits, i.backoff, i.rto, i.snd_cwnd, i.snd_ssthresh, i.snd_wnd, i.rcv_wnd, i.unacked, i.notsent_bytes
            )
        })
    };
    let context = format!(
        "seed {seed}: client [{:?}] server [{:?}] timers {:?}/{:?}: received {} of {bytes}, mismatch {:?}, rx error {:?}, tx error {:?}, closed {:?}, at {:?}",
        info(pair.client_ref(), tx.conn),
        info(pair.server_ref(), rx.conn),
        pair.client_ref().poll_timeout(),
        pair.server_ref().poll_timeout(),
        rx.received,
        rx.mismatch,
        rx.error,
        tx.error,
        tx.closed,
        pair.now()
    );
    assert!(result.is_ok(), "{context}: {result:?}");
    assert_eq!(rx.mismatch, None, "{context}");
    assert_eq!(rx.received, bytes, "{context}");
    assert_eq!(tx.sent, bytes, "{context}");
    assert!(rx.error.is_none() && tx.error.is_none(), "{context}");
    let to_server = *pair.world.link_stats(pair.link, Dir::AToB);
    let to_client = *pair.world.link_stats(pair.link, Dir::BToA);
    let (cs, ss) = (
        pair.client_ref().stats().clone(),
        pair.server_ref().stats().clone(),
    );
    assert_eq!(
        damaged_dropped(&ss),
        damaged_sent(&to_server),
        "{context}: server drops"
    );
    assert_eq!(
        damaged_dropped(&cs),
        damaged_sent(&to_client),
        "{context}: client drops"
    );
    assert_eq!(ss.tcp.curr_estab + cs.tcp.curr_estab, 0);
    assert_eq!(pair.client_ref().sockets().count(), 0);
    Outcome {
        virtual_secs: rx.eof_at.unwrap().as_secs_f64(),
        retransmissions: cs.tcp.retrans_segs + ss.tcp.retrans_segs,
        corrupted: damaged_sent(&to_server) + damaged_sent(&to_client),
    }
}

#[test]
fn ten_mib_survive_loss_reordering_duplication_and_corruption_over_many_seeds() {
    let seeds = env_or("STRESS_SEEDS", 20);
    let bytes = env_or("STRESS_BYTES", 10 << 20);
    let (mut retrans, mut corrupted, mut secs) = (0, 0, 0.0);
    for seed in 1..=seeds {
        let o = run(seed, bytes);
        retrans += o.retransmissions;
        corrupted += o.corrupted;
        secs += o.virtual_secs;
    }
    eprintln!(
        "stress: {seeds} seeds x {bytes} bytes: {retrans} retransmissions, {corrupted} corrupted frames dropped and counted, {:.1} virtual s per transfer",
        secs / seeds as f64
    );
    assert!(corrupted > 0, "the link corrupted something");
}
