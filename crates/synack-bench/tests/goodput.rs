//! Issue 4's goodput table, checked in as a snapshot so that any change in
//! behaviour shows up as a diff: `tests/snapshots/goodput.txt`. The test
//! regenerates the table (synack and smoltcp, same links, same seeds, one
//! run) and fails if it differs; `UPDATE_SNAPSHOTS=1 cargo test -p
//! synack-bench --test goodput` rewrites it after a deliberate change.
//!
//! It also holds synack to issue 4's targets where they are reachable on
//! these paths (see `docs/CONGESTION.md` for the ones that are not, and why).

use std::path::PathBuf;

use synack_bench::BenchStack;
use synack_bench::goodput::{GoodputConfig, GoodputRow, render, run, smoltcp_twin};
use synack_bench::{Congestion, SynackStack};

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/goodput.txt")
}

fn synack_cubic_sack(rows: &[GoodputRow], rtt: u64, loss: f64, reorder: f64) -> &GoodputRow {
    rows.iter()
        .find(|r| {
            r.variant.stack == SynackStack::NAME
                && r.variant.congestion == Congestion::Cubic
                && r.variant.sack
                && r.rtt_ms == rtt
                && r.loss == loss
                && r.reorder == reorder
        })
        .expect("the row exists")
}

#[test]
fn goodput_table_matches_the_snapshot_and_meets_the_targets() {
    let cfg = GoodputConfig::issue4();
    let rows = run(&cfg).expect("the simulations run");
    let table = render(&rows, &cfg);
    let path = snapshot_path();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &table).expect("write the snapshot");
    } else {
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            expected == table,
            "the goodput table changed (UPDATE_SNAPSHOTS=1 to accept):\n--- {}\n{expected}\n+++ now\n{table}",
            path.display()
        );
    }
    println!("{table}");

    // Every synack transfer delivers every byte intact.
    for r in rows.iter().filter(|r| r.variant.stack == SynackStack::NAME) {
        assert!(r.completed && r.intact, "{r:?}");
    }
    // 0% loss at 10 ms: at least 90% of the link.
    let clean = synack_cubic_sack(&rows, 10, 0.0, 0.0);
    assert!(clean.mbps >= 90.0, "{clean:?}");
    // Reno with SACK too: the ACK ending the first recovery no longer sends
    // ssthresh as one burst into the queue (docs/CONGESTION.md).
    let reno = rows
        .iter()
        .find(|r| {
            r.variant.stack == SynackStack::NAME
                && r.variant.congestion == Congestion::Reno
                && r.variant.sack
                && r.rtt_ms == 10
                && r.loss == 0.0
                && r.reorder == 0.0
        })
        .expect("the row exists");
    assert!(reno.mbps >= 90.0, "{reno:?}");
    // 5% reordering: spurious retransmissions at most 2% of the bytes.
    for rtt in [10, 100] {
        let r = synack_cubic_sack(&rows, rtt, 0.0, cfg.reorder);
        assert!(r.resent_pct <= 2.0, "{r:?}");
    }
    // With SACK, synack beats smoltcp on every lossy path.
    for r in rows
        .iter()
        .filter(|r| r.variant.stack == SynackStack::NAME && r.variant.sack && r.loss > 0.0)
    {
        let smol = smoltcp_twin(&rows, r).expect("smoltcp's row");
        assert!(r.mbps > smol.mbps, "{r:?} vs {smol:?}");
    }
}

/// Issue 4's "0% loss: at least 90% of the link" at 100 ms RTT, where the
/// table's 10 MiB cannot show it: from `connect`, the handshake and about
/// seven round trips of slow start (IW10 doubling to the 863-segment BDP)
/// take 0.8 s while the whole 10 MiB needs only 0.84 s at line rate, so
/// even a perfect ramp ends near 54%. The steady state is what follows the
/// ramp: the difference between a 100 MiB and a 10 MiB transfer over the
/// same path and seed.
#[test]
fn at_100_ms_the_steady_state_after_slow_start_fills_90_percent_of_the_link() {
    use synack_bench::loss::BANDWIDTH_BPS;
    use synack_bench::transfer::{Path, TransferConfig, transfer};
    use synack_proto::Duration;

    let path = Path::new(BANDWIDTH_BPS, Duration::from_millis(100), 0.0);
    let run = |mib: u64| {
        let r = transfer::<SynackStack>(&TransferConfig::new(mib << 20, path, 1))
            .expect("the simulation runs");
        assert!(r.completed && r.intact, "{r:?}");
        r.seconds
    };
    let (short, long) = (run(10), run(100));
    let steady_bps = (90u64 << 20) as f64 * 8.0 / (long - short);
    let link = steady_bps / BANDWIDTH_BPS as f64;
    println!("10 MiB in {short:.2} s, 100 MiB in {long:.2} s: steady state {link:.3} of the link");
    assert!(link >= 0.90, "steady state {link:.3} of the link");
}
