//! Issue 4's goodput table: one 10 MiB transfer over a 100 Mbit/s path with
//! a bandwidth-delay-product queue, for loss {0, 0.1, 1, 2, 5, 10}% x RTT
//! {10, 100} ms; synack with reno and cubic, with and without SACK, and
//! smoltcp with reno and cubic, over the same simulated link with the same
//! seeds, in the same run. Reordering rows (no loss, a fraction of frames
//! held back) measure spurious retransmissions.
//!
//! Loss is random and applies to both directions (ACKs too). Goodput is the
//! bytes the receiving application read over the time from `connect` to
//! the last byte (handshake included); `resent` is the payload the sender
//! put on the wire again, as a share of the transfer (on a path that does
//! not lose, every resent byte is a spurious retransmission).

use std::fmt::Write as _;

use serde::Serialize;
use synack_proto::Duration;
use synack_sim::SimError;

use crate::loss::{BANDWIDTH_BPS, TRANSFER_BYTES, mathis_mbps};
use crate::smol::SmolStack;
use crate::stack::{BenchStack, Congestion};
use crate::synack::SynackStack;
use crate::transfer::{Path, TransferConfig, TransferResult, transfer};

/// Which stack and settings a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Variant {
    pub stack: &'static str,
    pub congestion: Congestion,
    /// SACK negotiated (smoltcp: as its defaults have it; it has no
    /// SACK-based recovery either way).
    pub sack: bool,
}

impl Variant {
    /// The six variants of the table, synack's first.
    pub fn all() -> [Variant; 6] {
        let synack = |congestion, sack| Variant {
            stack: SynackStack::NAME,
            congestion,
            sack,
        };
        let smoltcp = |congestion| Variant {
            stack: SmolStack::NAME,
            congestion,
            sack: false,
        };
        [
            synack(Congestion::Cubic, true),
            synack(Congestion::Cubic, false),
            synack(Congestion::Reno, true),
            synack(Congestion::Reno, false),
            smoltcp(Congestion::Cubic),
            smoltcp(Congestion::Reno),
        ]
    }

    fn label(&self) -> String {
        let sack = if self.stack == SmolStack::NAME {
            ""
        } else if self.sack {
            "+sack"
        } else {
            "-sack"
        };
        format!("{} {}{}", self.stack, self.congestion, sack)
    }
}

/// One point: a path and a variant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GoodputRow {
    pub variant: Variant,
    pub rtt_ms: u64,
    pub loss: f64,
    /// Fraction of frames reordered (held back), each direction.
    pub reorder: f64,
    pub mbps: f64,
    pub seconds: f64,
    pub completed: bool,
    pub intact: bool,
    /// Payload sent again, percent of the transfer.
    pub resent_pct: f64,
    /// Mathis et al.'s estimate for this loss and RTT (MSS 1460), Mbit/s.
    pub mathis_mbps: Option<f64>,
}

/// The table's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct GoodputConfig {
    pub bytes: u64,
    pub bandwidth_bps: u64,
    pub rtts_ms: Vec<u64>,
    pub losses: Vec<f64>,
    /// Reordering rows: this fraction of frames, held back this share of
    /// the RTT.
    pub reorder: f64,
    pub reorder_rtt_fraction: f64,
    pub seed: u64,
}

impl GoodputConfig {
    /// Issue 4's table.
    pub fn issue4() -> GoodputConfig {
        GoodputConfig {
            bytes: TRANSFER_BYTES,
            bandwidth_bps: BANDWIDTH_BPS,
            rtts_ms: vec![10, 100],
            losses: vec![0.0, 0.001, 0.01, 0.02, 0.05, 0.1],
            reorder: 0.05,
            reorder_rtt_fraction: 0.25,
            seed: 1,
        }
    }
}

fn measure<S: BenchStack>(
    v: Variant,
    path: Path,
    cfg: &GoodputConfig,
) -> Result<TransferResult, SimError> {
    let mut t = TransferConfig::new(cfg.bytes, path, cfg.seed);
    t.congestion = v.congestion;
    t.sack = v.sack;
    transfer::<S>(&t)
}

fn row(v: Variant, path: Path, cfg: &GoodputConfig) -> Result<GoodputRow, SimError> {
    let r = if v.stack == SynackStack::NAME {
        measure::<SynackStack>(v, path, cfg)?
    } else {
        measure::<SmolStack>(v, path, cfg)?
    };
    Ok(GoodputRow {
        variant: v,
        rtt_ms: path.rtt.total_millis(),
        loss: path.loss,
        reorder: path.reorder,
        mbps: r.goodput_bps / 1e6,
        seconds: r.seconds,
        completed: r.completed,
        intact: r.intact,
        resent_pct: r.resent_bytes as f64 * 100.0 / cfg.bytes.max(1) as f64,
        mathis_mbps: mathis_mbps(path.mtu - 40, path.rtt, path.loss),
    })
}

/// Runs every row: each path for every variant, then the reordering rows.
pub fn run(cfg: &GoodputConfig) -> Result<Vec<GoodputRow>, SimError> {
    let mut rows = Vec::new();
    for &rtt in &cfg.rtts_ms {
        let rtt = Duration::from_millis(rtt);
        for &loss in &cfg.losses {
            let path = Path::new(cfg.bandwidth_bps, rtt, loss);
            for v in Variant::all() {
                rows.push(row(v, path, cfg)?);
            }
        }
    }
    for &rtt in &cfg.rtts_ms {
        let rtt = Duration::from_millis(rtt);
        let mut path = Path::new(cfg.bandwidth_bps, rtt, 0.0);
        path.reorder = cfg.reorder;
        path.reorder_delay = Duration::from_secs_f64(rtt.as_secs_f64() * cfg.reorder_rtt_fraction);
        for v in Variant::all() {
            rows.push(row(v, path, cfg)?);
        }
    }
    Ok(rows)
}

/// The table as text: one line per row, grouped by path, with goodput as a
/// share of the link, against Mathis, and against smoltcp (same congestion
/// control).
/// smoltcp's row on the same path (RTT, loss, reordering) with the same
/// congestion control as `r`: the row `r` is compared with.
pub fn smoltcp_twin<'a>(rows: &'a [GoodputRow], r: &GoodputRow) -> Option<&'a GoodputRow> {
    rows.iter().find(|o| {
        o.variant.stack == SmolStack::NAME
            && o.variant.congestion == r.variant.congestion
            && o.rtt_ms == r.rtt_ms
            && o.loss == r.loss
            && o.reorder == r.reorder
    })
}

pub fn render(rows: &[GoodputRow], cfg: &GoodputConfig) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "goodput of one {} MiB transfer, {} Mbit/s, BDP queue, random loss both ways, seed {}",
        cfg.bytes >> 20,
        cfg.bandwidth_bps / 1_000_000,
        cfg.seed
    );
    let _ = writeln!(
        out,
        "{:>4} {:>5} {:>7}  {:<20} {:>8} {:>6} {:>8} {:>8} {:>9} {:>7}",
        "rtt",
        "loss%",
        "reorder",
        "stack",
        "Mbit/s",
        "link%",
        "xMathis",
        "xsmoltcp",
        "resent%",
        "seconds"
    );
    let link = cfg.bandwidth_bps as f64 / 1e6;
    for r in rows {
        let smol = smoltcp_twin(rows, r).map(|o| o.mbps);
        let vs_smol = match smol {
            Some(s) if s > 0.0 && r.variant.stack != SmolStack::NAME => {
                format!("{:.2}", r.mbps / s)
            }
            _ => "-".into(),
        };
        let vs_mathis = r
            .mathis_mbps
            .map_or("-".into(), |m| format!("{:.2}", r.mbps / m));
        let done = if r.completed && r.intact {
            ""
        } else {
            " UNFINISHED"
        };
        let _ = writeln!(
            out,
            "{:>4} {:>5} {:>7}  {:<20} {:>8.2} {:>6.1} {:>8} {:>8} {:>9.2} {:>7.2}{}",
            r.rtt_ms,
            format!("{}", r.loss * 100.0),
            format!("{}", r.reorder * 100.0),
            r.variant.label(),
            r.mbps,
            r.mbps * 100.0 / link,
            vs_mathis,
            vs_smol,
            r.resent_pct,
            r.seconds,
            done
        );
    }
    out
}
