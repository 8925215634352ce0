//! IP options against the Linux kernel over a TAP, in a fresh network
//! namespace with TEST-NET-1 addresses (the kernel is 192.0.2.1, the stack
//! 192.0.2.2): the kernel's `ping -R` (record route) and `ping -T tsonly`
//! (timestamps) to synack, whose echo replies carry the options on with its
//! own entry (RFC 1122 §3.2.2.6). Skips loudly without root, /dev/net/tun
//! or ping (fails under CI=true).

use std::process::Command;

use synack_tap::netns;

mod common;
use common::kernel::{skip, tap_runtime};

fn ping_missing(test: &str) -> bool {
    if Command::new("ping").arg("-V").output().is_ok() {
        return false;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but ping is missing (scripts/install-test-deps.sh installs iputils-ping)"
    );
    eprintln!("skipping: {test}: ping is missing");
    true
}

/// The kernel's `ping -c 1` to synack with `options`; its output.
fn ping(options: &[&str]) -> String {
    let out = Command::new("ping")
        .args(options)
        .args(["-c", "1", "-W", "5", "192.0.2.2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ping {options:?}: {text}");
    eprintln!("ping {options:?}:\n{text}");
    text
}

/// The lines of ping's report of an option (`RR:` or `TS:`): the first
/// line's value and those of the indented lines after it.
fn option_lines(text: &str, label: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(label));
    let Some(first) = lines.next() else {
        return Vec::new();
    };
    let mut values = vec![first[label.len()..].trim().to_string()];
    values.extend(
        lines
            .take_while(|l| l.starts_with('\t') && !l.trim().is_empty())
            .map(|l| l.trim().to_string()),
    );
    values
}

#[test]
fn the_kernels_ping_records_the_route_and_timestamps_through_synack() {
    let test = "the_kernels_ping_records_the_route_and_timestamps_through_synack";
    if skip(test) || ping_missing(test) {
        return;
    }
    let root_ns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    netns::run_in_fresh(|| {
        let ns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        assert_ne!(ns, root_ns, "must not touch the root namespace");
        let rt = tap_runtime();

        // Record route: the kernel writes itself going out, synack itself
        // in the reply, the kernel itself again on receipt.
        let text = ping(&["-R"]);
        let route = option_lines(&text, "RR:");
        assert_eq!(
            route,
            ["192.0.2.1", "192.0.2.2", "192.0.2.1"],
            "the round trip's route: {text}"
        );

        // Timestamps only: the kernel's going out, synack's (milliseconds
        // since midnight UT, from the runtime's time of day), the
        // kernel's on receipt. ping prints the first absolute and the
        // others as differences from the one before.
        let text = ping(&["-T", "tsonly"]);
        let stamps = option_lines(&text, "TS:");
        assert_eq!(stamps.len(), 3, "three timestamps: {text}");
        assert!(stamps[0].ends_with("absolute"), "{text}");
        for delta in &stamps[1..] {
            let ms: i64 = delta.parse().unwrap_or_else(|_| panic!("{delta}: {text}"));
            // The stack's clock and the kernel's agree to a few
            // milliseconds, and the round trip is short: a non-standard
            // (high bit) value would be billions away.
            assert!(
                ms.abs() < 1_000,
                "synack's timestamp is the time of day: {text}"
            );
        }

        let stats = rt.stats().stack;
        assert_eq!(stats.icmp.out_echo_reps, 2);
        assert_eq!(stats.ip.in_hdr_errors, 0);
    })
    .unwrap();
}
