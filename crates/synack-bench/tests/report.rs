//! `synack bench --json` has issue 8's keys and shapes; a missing synack
//! figure prints as null / a dash.

use serde_json::Value;
use synack_bench::Report;
use synack_bench::report::{BulkRow, HandshakeRow, LossRow, MemoryRow};
use synack_bench::stack::Buffers;
use synack_bench::tap::TapRow;

fn sample() -> Report {
    Report {
        bulk: Some(vec![BulkRow {
            mtu: 1500,
            synack_gbps: Some(30.1),
            smoltcp_gbps: 13.4,
            bytes: 1 << 30,
            buffers: Buffers::both(1 << 18),
            repetitions: 5,
            smoltcp_runs_gbps: vec![13.4; 5],
            synack_runs_gbps: vec![30.1; 5],
            floor_gbps: 45.2,
            floor_runs_gbps: vec![45.2; 5],
        }]),
        handshake: Some(HandshakeRow {
            idle: vec![0, 1000, 100_000],
            synack_per_sec: Some(vec![600_000.0, 590_000.0, 550_000.0]),
            smoltcp_per_sec: vec![300_000.0, 1800.0, 12.0],
            smoltcp_handshakes: vec![1_000_000, 9000, 60],
            smoltcp_setup_seconds: vec![0.0, 0.01, 18.0],
            synack_handshakes: vec![1_000_000, 1_000_000, 1_000_000],
            synack_setup_seconds: vec![0.0, 0.01, 0.5],
            repetitions: 5,
            time_cap_seconds: 5.0,
        }),
        memory: Some(MemoryRow {
            connections: 1_000_000,
            bytes_per_idle_connection: Some(420.0),
            smoltcp_bytes_per_connection: 538.0,
            smoltcp_connections: 100_000,
            smoltcp_buffers: Buffers::both(1),
            synack_connections: 1_000_000,
        }),
        loss: Some(vec![LossRow {
            loss: 0.01,
            bytes: 10 << 20,
            rtt_ms: 20,
            synack_mbps: Some(9.5),
            smoltcp_mbps: 4.2,
            repetitions: 5,
            smoltcp_completed: 5,
            synack_completed: 5,
            mathis_mbps: Some(7.1),
        }]),
        loss_table: None,
        tap: Some(TapRow {
            to_kernel_gbps: 4.1,
            from_kernel_gbps: 5.6,
            offload_to_kernel_gbps: 10.2,
            offload_from_kernel_gbps: 11.8,
            kernel_veth_gbps: 11.7,
            bytes: 512 << 20,
            repetitions: 3,
        }),
    }
}

#[test]
fn json_has_issue_8_keys_and_shapes() {
    let v: Value = serde_json::from_str(&sample().to_json()).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["bulk", "handshake", "loss", "memory", "tap"]);

    let t = &v["tap"];
    for (key, value) in [
        ("to_kernel_gbps", 4.1),
        ("from_kernel_gbps", 5.6),
        ("offload_to_kernel_gbps", 10.2),
        ("offload_from_kernel_gbps", 11.8),
        ("kernel_veth_gbps", 11.7),
    ] {
        assert_eq!(t[key], value, "{key}");
    }

    let b = &v["bulk"][0];
    assert_eq!(b["mtu"], 1500);
    assert_eq!(b["synack_gbps"], 30.1);
    assert_eq!(b["smoltcp_gbps"], 13.4);
    assert_eq!(b["floor_gbps"], 45.2);

    let h = &v["handshake"];
    assert_eq!(h["idle"], serde_json::json!([0, 1000, 100000]));
    assert_eq!(h["synack_per_sec"].as_array().unwrap().len(), 3);
    assert_eq!(h["smoltcp_per_sec"].as_array().unwrap().len(), 3);

    let m = &v["memory"];
    assert_eq!(m["connections"], 1_000_000);
    assert_eq!(m["bytes_per_idle_connection"], 420.0);
    assert_eq!(m["smoltcp_bytes_per_connection"], 538.0);

    let l = &v["loss"][0];
    assert_eq!(l["loss"], 0.01);
    assert_eq!(l["synack_mbps"], 9.5);
    assert_eq!(l["smoltcp_mbps"], 4.2);
}

#[test]
fn sections_that_did_not_run_are_absent() {
    let r = Report {
        memory: sample().memory,
        ..Report::default()
    };
    let v: Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert!(v.get("bulk").is_none());
}

#[test]
fn table_shows_each_section() {
    let t = sample().to_table();
    for needle in [
        "bulk:",
        "handshake:",
        "memory:",
        "loss:",
        "13.40",
        "538",
        "median of 5",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    assert!(t.lines().any(|l| l.contains("1500") && l.contains("30.10")));
    // The floor and synack's share of it (30.1 / 45.2).
    assert!(
        t.lines()
            .any(|l| l.contains("1500") && l.contains("45.20") && l.contains("0.67x")),
        "{t}"
    );
}

#[test]
fn a_missing_synack_figure_is_null_in_json_and_a_dash_in_the_table() {
    let mut r = sample();
    if let Some(rows) = r.bulk.as_mut() {
        rows[0].synack_gbps = None;
    }
    let v: Value = serde_json::from_str(&r.to_json()).unwrap();
    assert!(v["bulk"][0]["synack_gbps"].is_null());
    assert!(
        r.to_table()
            .lines()
            .any(|l| l.contains("1500") && l.contains(" - "))
    );
}
