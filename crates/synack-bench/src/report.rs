//! The report `synack bench` prints: issue 8's JSON keys, and a table.
//!
//! Each section is present only if it ran. synack's fields are `null` until
//! its stack implements [`BenchStack`](crate::BenchStack); smoltcp's are
//! filled now. Extra fields (repetitions, counts, per-run values) sit next to
//! the keys inside each section.

use std::fmt::Write as _;

use serde::Serialize;

use crate::stack::Buffers;

/// Everything that ran.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk: Option<Vec<BulkRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake: Option<HandshakeRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Vec<LossRow>>,
    /// Issue 4's loss x RTT table (only with `loss-table`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_table: Option<Vec<LossRow>>,
    /// Over a TAP to and from the Linux kernel (root only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tap: Option<crate::tap::TapRow>,
}

/// `bulk`: `{"mtu":1500,"synack_gbps":x,"smoltcp_gbps":y}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BulkRow {
    pub mtu: usize,
    pub synack_gbps: Option<f64>,
    pub smoltcp_gbps: f64,
    pub bytes: u64,
    pub buffers: Buffers,
    pub repetitions: usize,
    /// Every repetition, in run order.
    pub smoltcp_runs_gbps: Vec<f64>,
    /// synack's repetitions, in the order they ran.
    pub synack_runs_gbps: Vec<f64>,
    /// The harness's memory passes alone, with no TCP ([`crate::floor`],
    /// copies summed): the most any stack can reach in this harness on this
    /// machine. Median of the repetitions, run alternating with the stacks.
    pub floor_gbps: f64,
    pub floor_runs_gbps: Vec<f64>,
}

/// `handshake`: `{"idle":[..],"synack_per_sec":[..],"smoltcp_per_sec":[..]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HandshakeRow {
    pub idle: Vec<usize>,
    pub synack_per_sec: Option<Vec<f64>>,
    pub smoltcp_per_sec: Vec<f64>,
    /// Handshakes smoltcp completed per point, all repetitions together.
    pub smoltcp_handshakes: Vec<u64>,
    /// Seconds smoltcp took to open each point's idle connections.
    pub smoltcp_setup_seconds: Vec<f64>,
    /// Handshakes synack completed per idle point, over all repetitions.
    pub synack_handshakes: Vec<u64>,
    /// Seconds synack took to open the idle connections, per point.
    pub synack_setup_seconds: Vec<f64>,
    pub repetitions: usize,
    /// Wall-time cap per point, all repetitions together.
    pub time_cap_seconds: f64,
}

/// `memory`: `{"connections":1000000,"bytes_per_idle_connection":b,
/// "smoltcp_bytes_per_connection":s}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryRow {
    /// Connections synack's figure is measured at.
    pub connections: usize,
    /// synack's bytes per idle connection.
    pub bytes_per_idle_connection: Option<f64>,
    pub smoltcp_bytes_per_connection: f64,
    /// Connections smoltcp's figure was measured at (see `memory` docs).
    pub smoltcp_connections: usize,
    pub smoltcp_buffers: Buffers,
    /// Connections synack was measured at.
    pub synack_connections: usize,
}

/// `loss`: `{"loss":0.01,"synack_mbps":x,"smoltcp_mbps":y}` (also a row of
/// issue 4's table).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LossRow {
    pub loss: f64,
    /// Bytes per transfer.
    pub bytes: u64,
    pub rtt_ms: u64,
    pub synack_mbps: Option<f64>,
    pub smoltcp_mbps: f64,
    /// Repetitions (seeds) per stack.
    pub repetitions: usize,
    /// smoltcp repetitions that finished before the virtual deadline.
    pub smoltcp_completed: usize,
    /// synack transfers that completed within the time limit.
    pub synack_completed: usize,
    pub mathis_mbps: Option<f64>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

fn ratio(synack: Option<f64>, base: f64) -> String {
    match synack {
        Some(s) if base > 0.0 => format!("{:.2}x", s / base),
        _ => "-".to_string(),
    }
}

impl Report {
    /// The JSON object issue 8 specifies (one line).
    pub fn to_json(&self) -> String {
        // Only plain numbers, strings and options: serialization cannot fail.
        serde_json::to_string(self).expect("report serializes")
    }

    /// A human-readable table per section.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        if let Some(rows) = &self.bulk {
            let reps = rows.first().map_or(0, |r| r.repetitions);
            let _ = writeln!(
                out,
                "bulk: in-memory transfer, one core, checksums on (median of {reps})"
            );
            let _ = writeln!(
                out,
                "  {:>6}  {:>10}  {:>14}  {:>14}  {:>6}  {:>12}  {:>13}",
                "MTU",
                "bytes",
                "synack Gbit/s",
                "smoltcp Gbit/s",
                "ratio",
                "floor Gbit/s",
                "synack/floor"
            );
            for r in rows {
                let _ = writeln!(
                    out,
                    "  {:>6}  {:>10}  {:>14}  {:>14.2}  {:>6}  {:>12.2}  {:>13}",
                    r.mtu,
                    r.bytes,
                    opt(r.synack_gbps, 2),
                    r.smoltcp_gbps,
                    ratio(r.synack_gbps, r.smoltcp_gbps),
                    r.floor_gbps,
                    ratio(r.synack_gbps, r.floor_gbps)
                );
            }
            let _ = writeln!(
                out,
                "  floor: the harness's five passes over each byte with no TCP (`synack_bench::floor`)"
            );
            out.push('\n');
        }
        if let Some(h) = &self.handshake {
            let _ = writeln!(
                out,
                "handshake: open, 1 byte each way, close; per second (median of {}, at most {:.1} s per point)",
                h.repetitions, h.time_cap_seconds
            );
            let _ = writeln!(
                out,
                "  {:>8}  {:>12}  {:>12}  {:>12}  {:>6}",
                "idle", "synack /s", "smoltcp /s", "smoltcp done", "ratio"
            );
            for (i, idle) in h.idle.iter().enumerate() {
                let s = h.synack_per_sec.as_ref().and_then(|v| v.get(i).copied());
                let m = h.smoltcp_per_sec.get(i).copied().unwrap_or(0.0);
                let done = h.smoltcp_handshakes.get(i).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "  {:>8}  {:>12}  {:>12.0}  {:>12}  {:>6}",
                    idle,
                    opt(s, 0),
                    m,
                    done,
                    ratio(s, m)
                );
            }
            out.push('\n');
        }
        if let Some(m) = &self.memory {
            let _ = writeln!(out, "memory: heap bytes per idle established connection");
            let _ = writeln!(
                out,
                "  synack   {:>10} bytes at {} connections",
                opt(m.bytes_per_idle_connection, 0),
                m.connections
            );
            let _ = writeln!(
                out,
                "  smoltcp  {:>10.0} bytes at {} connections (buffers {} + {} bytes)",
                m.smoltcp_bytes_per_connection,
                m.smoltcp_connections,
                m.smoltcp_buffers.rx,
                m.smoltcp_buffers.tx
            );
            out.push('\n');
        }
        for (title, rows) in [
            ("loss: 10 MiB at 100 Mbit/s", &self.loss),
            (
                "loss table (issue 4): 10 MiB at 100 Mbit/s",
                &self.loss_table,
            ),
        ] {
            let Some(rows) = rows else { continue };
            let reps = rows.first().map_or(0, |r| r.repetitions);
            let _ = writeln!(
                out,
                "{title}, BDP queue, goodput Mbit/s (median of {reps} seeds)"
            );
            let _ = writeln!(
                out,
                "  {:>6}  {:>6}  {:>10}  {:>10}  {:>10}  {:>6}",
                "loss", "RTT ms", "synack", "smoltcp", "Mathis", "ratio"
            );
            for r in rows {
                let unfinished = if r.smoltcp_completed < r.repetitions {
                    format!(
                        "  ({} of {} unfinished)",
                        r.repetitions - r.smoltcp_completed,
                        r.repetitions
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "  {:>5.1}%  {:>6}  {:>10}  {:>10.2}  {:>10}  {:>6}{}",
                    r.loss * 100.0,
                    r.rtt_ms,
                    opt(r.synack_mbps, 2),
                    r.smoltcp_mbps,
                    opt(r.mathis_mbps, 2),
                    ratio(r.synack_mbps, r.smoltcp_mbps),
                    unfinished
                );
            }
            out.push('\n');
        }
        if let Some(t) = &self.tap {
            let _ = writeln!(
                out,
                "tap: synack <-> Linux over a TAP, MTU 1500, Gbit/s (median of {}, {} MiB each)",
                t.repetitions,
                t.bytes >> 20
            );
            let _ = writeln!(out, "  {:>22}  {:>10}  {:>10}", "", "plain", "offloads");
            let _ = writeln!(
                out,
                "  {:>22}  {:>10.2}  {:>10.2}",
                "synack -> kernel", t.to_kernel_gbps, t.offload_to_kernel_gbps
            );
            let _ = writeln!(
                out,
                "  {:>22}  {:>10.2}  {:>10.2}",
                "kernel -> synack", t.from_kernel_gbps, t.offload_from_kernel_gbps
            );
            let _ = writeln!(
                out,
                "  {:>22}  {:>10.2}",
                "kernel -> kernel veth", t.kernel_veth_gbps
            );
            let _ = writeln!(
                out,
                "  (plain: MTU-sized frames, the TAP with IFF_NAPI and threaded NAPI; \
                 offloads: virtio-net header, TSO and partial checksums)"
            );
            out.push('\n');
        }
        out
    }
}
