//! `synack bench --json` has issue 8's keys, with synack's as null.

use serde_json::Value;
use synack_bench::Report;
use synack_bench::report::{BulkRow, HandshakeRow, LossRow, MemoryRow};
use synack_bench::stack::Buffers;

fn sample() -> Report {
    Report {
        bulk: Some(vec![BulkRow {
            mtu: 1500,
            synack_gbps: None,
            smoltcp_gbps: 13.4,
            bytes: 1 << 30,
            buffers: Buffers::both(1 << 18),
            repetitions: 5,
            smoltcp_runs_gbps: vec![13.4; 5],
        }]),
        handshake: Some(HandshakeRow {
            idle: vec![0, 1000, 100_000],
            synack_per_sec: None,
            smoltcp_per_sec: vec![300_000.0, 1800.0, 12.0],
            smoltcp_handshakes: vec![1_000_000, 9000, 60],
            smoltcp_setup_seconds: vec![0.0, 0.01, 18.0],
            repetitions: 5,
            time_cap_seconds: 5.0,
        }),
        memory: Some(MemoryRow {
            connections: 1_000_000,
            bytes_per_idle_connection: None,
            smoltcp_bytes_per_connection: 538.0,
            smoltcp_connections: 100_000,
            smoltcp_buffers: Buffers::both(1),
        }),
        loss: Some(vec![LossRow {
            loss: 0.01,
            bytes: 10 << 20,
            rtt_ms: 20,
            synack_mbps: None,
            smoltcp_mbps: 4.2,
            repetitions: 5,
            smoltcp_completed: 5,
            mathis_mbps: Some(7.1),
        }]),
        loss_table: None,
    }
}

#[test]
fn json_has_issue_8_keys_with_synack_null() {
    let v: Value = serde_json::from_str(&sample().to_json()).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["bulk", "handshake", "loss", "memory"]);

    let b = &v["bulk"][0];
    assert_eq!(b["mtu"], 1500);
    assert!(b["synack_gbps"].is_null());
    assert_eq!(b["smoltcp_gbps"], 13.4);

    let h = &v["handshake"];
    assert_eq!(h["idle"], serde_json::json!([0, 1000, 100000]));
    assert!(h["synack_per_sec"].is_null());
    assert_eq!(h["smoltcp_per_sec"].as_array().unwrap().len(), 3);

    let m = &v["memory"];
    assert_eq!(m["connections"], 1_000_000);
    assert!(m["bytes_per_idle_connection"].is_null());
    assert_eq!(m["smoltcp_bytes_per_connection"], 538.0);

    let l = &v["loss"][0];
    assert_eq!(l["loss"], 0.01);
    assert!(l["synack_mbps"].is_null());
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
fn table_shows_each_section_and_a_dash_for_synack() {
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
    assert!(t.lines().any(|l| l.contains("1500") && l.contains(" - ")));
}
