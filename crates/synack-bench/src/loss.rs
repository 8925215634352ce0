//! `loss`: goodput of a 10 MiB transfer over a lossy simulated path, and
//! issue 4's loss x RTT table, for a [`BenchStack`].
//!
//! Every point runs `reps` transfers with seeds `seed, seed + 1, ...` (the
//! same seeds for every stack, so each stack meets the same loss pattern on
//! the same link) and reports the median goodput. Path: 100 Mbit/s both ways,
//! a drop-tail queue of one bandwidth-delay product, random loss on both
//! directions, MTU 1500; socket buffers of twice the BDP unless given.

use serde::Serialize;
use synack_proto::Duration;
use synack_sim::SimError;

use crate::stack::{BenchStack, Buffers, Congestion};
use crate::stats::median;
use crate::transfer::{Path, TransferConfig, TransferResult, transfer};

/// 100 Mbit/s.
pub const BANDWIDTH_BPS: u64 = 100_000_000;
/// 10 MiB.
pub const TRANSFER_BYTES: u64 = 10 << 20;

/// A set of points to run.
#[derive(Clone, Debug, PartialEq)]
pub struct LossConfig {
    pub bytes: u64,
    pub bandwidth_bps: u64,
    /// (loss probability, RTT) per point.
    pub points: Vec<(f64, Duration)>,
    pub reps: usize,
    pub seed: u64,
    /// `None`: twice each path's BDP.
    pub buffers: Option<Buffers>,
    pub congestion: Congestion,
    /// Negotiate SACK where the stack supports it.
    pub sack: bool,
}

impl LossConfig {
    /// Issue 8's `loss`: 0.1%, 1%, 5% at RTT 20 ms.
    pub fn issue8(reps: usize) -> LossConfig {
        LossConfig {
            bytes: TRANSFER_BYTES,
            bandwidth_bps: BANDWIDTH_BPS,
            points: [0.001, 0.01, 0.05]
                .into_iter()
                .map(|p| (p, Duration::from_millis(20)))
                .collect(),
            reps,
            seed: 1,
            buffers: None,
            congestion: Congestion::Cubic,
            sack: true,
        }
    }

    /// Issue 4's table: loss {0, 0.1%, 1%, 2%, 5%, 10%} x RTT {10, 100 ms}.
    pub fn issue4(reps: usize) -> LossConfig {
        let mut points = Vec::new();
        for rtt in [10, 100] {
            for p in [0.0, 0.001, 0.01, 0.02, 0.05, 0.1] {
                points.push((p, Duration::from_millis(rtt)));
            }
        }
        LossConfig {
            points,
            ..LossConfig::issue8(reps)
        }
    }
}

/// One point's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LossPoint {
    pub loss: f64,
    pub rtt_ms: u64,
    /// Median goodput in Mbit/s.
    pub mbps: f64,
    /// Repetitions that delivered every byte before the deadline.
    pub completed: usize,
    pub runs: Vec<TransferResult>,
    /// The Mathis et al. estimate 1.22 MSS / (RTT sqrt(p)) in Mbit/s, for
    /// reference (MSS 1460; none at 0% loss).
    pub mathis_mbps: Option<f64>,
}

/// Mathis et al. (1997) steady-state Reno throughput, Mbit/s.
pub fn mathis_mbps(mss: usize, rtt: Duration, p: f64) -> Option<f64> {
    if p <= 0.0 || rtt.is_zero() {
        return None;
    }
    Some(1.22 * mss as f64 * 8.0 / (rtt.as_secs_f64() * p.sqrt()) / 1e6)
}

/// Runs every point of `cfg` for stack `S`.
pub fn loss_points<S: BenchStack>(cfg: &LossConfig) -> Result<Vec<LossPoint>, SimError> {
    let mut out = Vec::with_capacity(cfg.points.len());
    for &(p, rtt) in &cfg.points {
        let path = Path::new(cfg.bandwidth_bps, rtt, p);
        let mut runs = Vec::with_capacity(cfg.reps);
        for rep in 0..cfg.reps.max(1) {
            let mut t = TransferConfig::new(cfg.bytes, path, cfg.seed + rep as u64);
            t.congestion = cfg.congestion;
            t.sack = cfg.sack;
            if let Some(b) = cfg.buffers {
                t.buffers = b;
            }
            runs.push(transfer::<S>(&t)?);
        }
        let rates: Vec<f64> = runs.iter().map(|r| r.goodput_bps / 1e6).collect();
        out.push(LossPoint {
            loss: p,
            rtt_ms: rtt.total_millis(),
            mbps: median(&rates).unwrap_or(0.0),
            completed: runs.iter().filter(|r| r.completed).count(),
            runs,
            mathis_mbps: mathis_mbps(path.mtu - 40, rtt, p),
        });
    }
    Ok(out)
}
