//! What `synack bench` runs: a [`Plan`] per target, full or quick, and the
//! functions that run a plan for every stack and fill the [`Report`].

use std::time::Duration as WallDuration;

use crate::bulk::{BULK_BUFFERS, BulkConfig, bulk_once};
use crate::floor::{FloorCopies, floor_once};
use crate::handshake::{HANDSHAKE_BUFFERS, HandshakeConfig, handshake_points_alternating};
use crate::loss::{LossConfig, loss_points};
use crate::memory::{MemoryError, SMOLTCP_MIN_BUFFERS, memory_once};
use crate::pair::DriveError;
use crate::report::{BulkRow, HandshakeRow, LossRow, MemoryRow, Report};
use crate::smol::SmolStack;
use crate::stack::{Buffers, Congestion};
use crate::stats::median;
use crate::synack::SynackStack;
use crate::tap::{TapConfig, TapError, run_tap};

/// A measurement `synack bench` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Bulk,
    Handshake,
    Memory,
    Loss,
    /// Issue 4's loss x RTT table (not part of `all`).
    LossTable,
    /// To and from the Linux kernel over a TAP (root; `all` skips it otherwise).
    Tap,
}

impl Target {
    /// Issue 8's set, in the order `all` runs them (`Tap` only where it
    /// can run: see [`crate::tap::supported`]).
    pub const ALL: [Target; 5] = [
        Target::Bulk,
        Target::Handshake,
        Target::Memory,
        Target::Loss,
        Target::Tap,
    ];
}

/// smoltcp's memory figure is measured at most at this many connections:
/// its `SocketSet::add` scans for a free slot, so filling one set is
/// quadratic (100,000 take about 20 s here; a million would take about half
/// an hour). Its cost per connection does not depend on the count.
pub const SMOLTCP_MEMORY_MAX_CONNECTIONS: usize = 100_000;

/// Sizes and repetitions of every measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub bulk_bytes: u64,
    pub bulk_mtus: Vec<usize>,
    pub bulk_buffers: Buffers,
    pub bulk_reps: usize,
    pub handshake_idle: Vec<usize>,
    pub handshake_per_rep: u64,
    pub handshake_reps: usize,
    pub handshake_time_cap: WallDuration,
    pub memory_connections: usize,
    pub loss: LossConfig,
    pub loss_table: LossConfig,
    pub tap: TapConfig,
}

impl Plan {
    /// Issue 8's sizes: 1 GiB, idle 0/1000/100000, 1M connections, 10 MiB.
    pub fn full() -> Plan {
        Plan {
            bulk_bytes: 1 << 30,
            bulk_mtus: vec![1500, 65535],
            bulk_buffers: BULK_BUFFERS,
            bulk_reps: 5,
            handshake_idle: vec![0, 1000, 100_000],
            handshake_per_rep: 200_000,
            handshake_reps: 5,
            handshake_time_cap: WallDuration::from_secs(5),
            memory_connections: 1_000_000,
            loss: LossConfig::issue8(5),
            loss_table: LossConfig::issue4(5),
            tap: TapConfig::full(),
        }
    }

    /// A reduced run for tests and smoke checks: same shapes, small sizes,
    /// one repetition.
    pub fn quick() -> Plan {
        let mut loss = LossConfig::issue8(1);
        loss.bytes = 256 << 10;
        let mut loss_table = LossConfig::issue4(1);
        loss_table.bytes = 256 << 10;
        Plan {
            bulk_bytes: 8 << 20,
            bulk_mtus: vec![1500, 65535],
            bulk_buffers: BULK_BUFFERS,
            bulk_reps: 1,
            handshake_idle: vec![0, 10, 100],
            handshake_per_rep: 200,
            handshake_reps: 1,
            handshake_time_cap: WallDuration::from_millis(500),
            memory_connections: 1000,
            loss,
            loss_table,
            tap: TapConfig {
                bytes: 16 << 20,
                reps: 1,
            },
        }
    }

    /// Every repetition count set to `reps`.
    pub fn with_reps(mut self, reps: usize) -> Plan {
        let reps = reps.max(1);
        self.bulk_reps = reps;
        self.handshake_reps = reps;
        self.loss.reps = reps;
        self.loss_table.reps = reps;
        self.tap.reps = reps;
        self
    }
}

/// Why a measurement failed.
#[derive(Debug)]
pub enum BenchError {
    Drive(DriveError),
    Sim(synack_sim::SimError),
    Memory(MemoryError),
    /// A transfer delivered bytes that differ from what was sent.
    Corrupted(String),
    Tap(TapError),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Drive(e) => write!(f, "in-memory run: {e}"),
            BenchError::Sim(e) => write!(f, "simulation: {e}"),
            BenchError::Memory(e) => write!(f, "memory: {e}"),
            BenchError::Corrupted(what) => write!(f, "data check failed: {what}"),
            BenchError::Tap(e) => write!(f, "tap: {e}"),
        }
    }
}

impl std::error::Error for BenchError {}

impl From<DriveError> for BenchError {
    fn from(e: DriveError) -> Self {
        BenchError::Drive(e)
    }
}
impl From<synack_sim::SimError> for BenchError {
    fn from(e: synack_sim::SimError) -> Self {
        BenchError::Sim(e)
    }
}
impl From<MemoryError> for BenchError {
    fn from(e: MemoryError) -> Self {
        BenchError::Memory(e)
    }
}

/// Runs `target` per `plan` and fills its section of `report`.
pub fn run(target: Target, plan: &Plan, report: &mut Report) -> Result<(), BenchError> {
    match target {
        Target::Bulk => report.bulk = Some(run_bulk(plan)?),
        Target::Handshake => report.handshake = Some(run_handshake(plan)?),
        Target::Memory => report.memory = Some(run_memory(plan)?),
        Target::Loss => report.loss = Some(run_loss(&plan.loss)?),
        Target::LossTable => report.loss_table = Some(run_loss(&plan.loss_table)?),
        Target::Tap => report.tap = Some(run_tap(&plan.tap).map_err(BenchError::Tap)?),
    }
    Ok(())
}

pub fn run_bulk(plan: &Plan) -> Result<Vec<BulkRow>, BenchError> {
    let mut rows = Vec::new();
    for &mtu in &plan.bulk_mtus {
        let cfg = BulkConfig {
            bytes: plan.bulk_bytes,
            mtu,
            buffers: plan.bulk_buffers,
            congestion: Congestion::Cubic,
        };
        let (mut smol, mut synack, mut floor) = (Vec::new(), Vec::new(), Vec::new());
        // Alternate the stacks (and the floor) so that a noisy neighbour
        // hits all alike.
        for _ in 0..plan.bulk_reps.max(1) {
            let r = bulk_once::<SmolStack>(&cfg)?;
            if !r.intact {
                return Err(BenchError::Corrupted(format!("smoltcp bulk at MTU {mtu}")));
            }
            smol.push(r.gbps);
            let r = bulk_once::<SynackStack>(&cfg)?;
            if !r.intact {
                return Err(BenchError::Corrupted(format!("synack bulk at MTU {mtu}")));
            }
            synack.push(r.gbps);
            let r = floor_once(
                plan.bulk_bytes,
                mtu,
                plan.bulk_buffers.rx,
                FloorCopies::Summed,
            );
            if !r.intact {
                return Err(BenchError::Corrupted(format!("the floor at MTU {mtu}")));
            }
            floor.push(r.gbps);
        }
        rows.push(BulkRow {
            mtu,
            synack_gbps: median(&synack),
            smoltcp_gbps: median(&smol).unwrap_or(0.0),
            bytes: plan.bulk_bytes,
            buffers: plan.bulk_buffers,
            repetitions: smol.len(),
            smoltcp_runs_gbps: smol,
            synack_runs_gbps: synack,
            floor_gbps: median(&floor).unwrap_or(0.0),
            floor_runs_gbps: floor,
        });
    }
    Ok(rows)
}

pub fn run_handshake(plan: &Plan) -> Result<HandshakeRow, BenchError> {
    let mut row = HandshakeRow {
        idle: plan.handshake_idle.clone(),
        synack_per_sec: Some(Vec::new()),
        smoltcp_per_sec: Vec::new(),
        smoltcp_handshakes: Vec::new(),
        smoltcp_setup_seconds: Vec::new(),
        synack_handshakes: Vec::new(),
        synack_setup_seconds: Vec::new(),
        repetitions: plan.handshake_reps.max(1),
        time_cap_seconds: plan.handshake_time_cap.as_secs_f64(),
    };
    let mut synack_rates = Vec::new();
    for &idle in &plan.handshake_idle {
        let cfg = HandshakeConfig {
            idle,
            per_rep: plan.handshake_per_rep,
            reps: plan.handshake_reps.max(1),
            time_cap: plan.handshake_time_cap,
            buffers: HANDSHAKE_BUFFERS,
        };
        // The stacks' repetitions alternate, as in `run_bulk`.
        let (smol, ours) = handshake_points_alternating::<SmolStack, SynackStack>(&cfg)?;
        row.smoltcp_per_sec.push(smol.median_per_sec());
        row.smoltcp_handshakes.push(smol.handshakes());
        row.smoltcp_setup_seconds.push(smol.setup_seconds);
        synack_rates.push(ours.median_per_sec());
        row.synack_handshakes.push(ours.handshakes());
        row.synack_setup_seconds.push(ours.setup_seconds);
    }
    row.synack_per_sec = Some(synack_rates);
    Ok(row)
}

pub fn run_memory(plan: &Plan) -> Result<MemoryRow, BenchError> {
    let n = plan.memory_connections.min(SMOLTCP_MEMORY_MAX_CONNECTIONS);
    let m = memory_once::<SmolStack>(n, SMOLTCP_MIN_BUFFERS)?;
    // synack's buffers are limits that grow on demand: give it the harness's
    // ordinary sizes; an idle connection holds none of them.
    let s = memory_once::<SynackStack>(plan.memory_connections, HANDSHAKE_BUFFERS)?;
    Ok(MemoryRow {
        connections: plan.memory_connections,
        bytes_per_idle_connection: Some(s.bytes_per_connection),
        smoltcp_bytes_per_connection: m.bytes_per_connection,
        smoltcp_connections: m.connections,
        smoltcp_buffers: m.buffers,
        synack_connections: s.connections,
    })
}

pub fn run_loss(cfg: &LossConfig) -> Result<Vec<LossRow>, BenchError> {
    let smol = loss_points::<SmolStack>(cfg)?;
    let synack = loss_points::<SynackStack>(cfg)?;
    for (name, points) in [("smoltcp", &smol), ("synack", &synack)] {
        if let Some(p) = points
            .iter()
            .find(|p| p.runs.iter().any(|r| r.completed && !r.intact))
        {
            return Err(BenchError::Corrupted(format!(
                "{name} transfer at loss {} RTT {} ms",
                p.loss, p.rtt_ms
            )));
        }
    }
    Ok(smol
        .into_iter()
        .zip(synack)
        .map(|(p, q)| LossRow {
            loss: p.loss,
            bytes: cfg.bytes,
            rtt_ms: p.rtt_ms,
            synack_mbps: Some(q.mbps),
            smoltcp_mbps: p.mbps,
            repetitions: p.runs.len(),
            smoltcp_completed: p.completed,
            synack_completed: q.completed,
            mathis_mbps: p.mathis_mbps,
        })
        .collect())
}
