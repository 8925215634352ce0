//! `synack bench --quick --json` runs every measurement and prints issue 8's
//! keys. (Numbers from a quick run mean nothing; only the shape is checked.)

use std::process::Command;

#[test]
fn quick_json_run_exits_zero_with_every_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["bench", "--quick", "--json"])
        .output()
        .expect("run synack");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for key in ["bulk", "handshake", "memory", "loss"] {
        assert!(v.get(key).is_some(), "missing {key}: {stdout}");
    }
    assert_eq!(v["bulk"].as_array().unwrap().len(), 2);
    for stack in ["smoltcp", "synack"] {
        assert!(v["bulk"][0][format!("{stack}_gbps")].as_f64().unwrap() > 0.0);
        assert!(
            v["handshake"][format!("{stack}_per_sec")][0]
                .as_f64()
                .unwrap()
                > 0.0
        );
        assert!(v["loss"][0][format!("{stack}_mbps")].as_f64().unwrap() > 0.0);
    }
    assert_eq!(
        v["handshake"]["synack_per_sec"].as_array().unwrap().len(),
        3,
        "one rate per idle count"
    );
    assert!(
        v["memory"]["smoltcp_bytes_per_connection"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(v["loss"].as_array().unwrap().len(), 3);
    // `tap` runs where it can (root, /dev/net/tun, namespaces), and its
    // absence is said on stderr.
    match synack_bench::tap::supported() {
        Ok(()) => {
            for key in [
                "to_kernel_gbps",
                "from_kernel_gbps",
                "offload_to_kernel_gbps",
                "offload_from_kernel_gbps",
                "kernel_veth_gbps",
            ] {
                assert!(v["tap"][key].as_f64().unwrap() > 0.0, "{key}: {stdout}");
            }
        }
        Err(_) => {
            assert!(v.get("tap").is_none(), "{stdout}");
            assert!(stderr.contains("skipping tap"), "{stderr}");
        }
    }
}

#[test]
fn one_target_prints_only_its_section() {
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["bench", "memory", "--quick", "--json"])
        .output()
        .expect("run synack");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert!(v["memory"]["bytes_per_idle_connection"].as_f64().unwrap() > 0.0);
}
