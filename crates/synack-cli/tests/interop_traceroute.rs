//! `synack traceroute` against the Linux kernel as the first hop, in a
//! fresh network namespace with TEST-NET addresses: the kernel is
//! 192.0.2.1 on the TAP and a router beyond it (`interop::kernel_router`:
//! 198.51.100.1 its own, 203.0.113.0/25 out of a veth end where nobody
//! answers, 203.0.113.128/25 prohibited). The stack is 192.0.2.2 with the
//! kernel as its gateway.

mod interop;

use std::process::Command;

use interop::*;

/// `synack traceroute ARGS` on the test's link with the kernel as the
/// gateway: its exit status and stdout lines.
fn traceroute(env: &Env, args: &[&str]) -> (i32, Vec<String>) {
    let out = run(Command::new(BIN)
        .arg("traceroute")
        .args(link_args(env))
        .args(["--gateway", KERNEL])
        .args(args));
    let stdout = String::from_utf8(out.stdout).expect("text");
    let code = out.status.code().expect("an exit status");
    (code, stdout.lines().map(str::to_owned).collect())
}

/// A hop line's words without the times: "1 192.0.2.1 ms ms".
fn shape(line: &str) -> String {
    line.split_whitespace()
        .filter(|w| !(w.contains('.') && w.parse::<f64>().is_ok()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn traceroute_finds_the_kernel_as_the_first_hop_and_the_paths_end() {
    in_namespace(
        "traceroute_finds_the_kernel_as_the_first_hop_and_the_paths_end",
        &["ip"],
        |env| {
            kernel_router();
            // UDP probes to the kernel's far address: it is the first hop
            // and the destination, answering with port unreachable.
            let (code, lines) = traceroute(env, &["-q", "2", "-w", "3", "198.51.100.1"]);
            assert_eq!(code, 0, "{lines:?}");
            assert_eq!(
                lines[0],
                "traceroute to 198.51.100.1 (198.51.100.1), 30 hops max, 60 byte packets"
            );
            assert_eq!(lines.len(), 2, "one hop: {lines:?}");
            assert_eq!(shape(&lines[1]), "1 198.51.100.1 ms ms", "{lines:?}");

            // Beyond the kernel nobody answers: the kernel names itself at
            // TTL 1 (time exceeded), then silence up to -m.
            let (code, lines) = traceroute(env, &["-m", "2", "-q", "1", "-w", "1", "203.0.113.1"]);
            assert_eq!(code, 0, "{lines:?}");
            assert_eq!(lines.len(), 3, "{lines:?}");
            assert_eq!(shape(&lines[1]), "1 192.0.2.1 ms", "{lines:?}");
            assert_eq!(lines[2], " 2  *");

            // ICMP echo probes end with the echo reply.
            let (code, lines) = traceroute(env, &["-I", "-q", "1", "-w", "3", "198.51.100.1"]);
            assert_eq!(code, 0, "{lines:?}");
            assert_eq!(lines.len(), 2, "{lines:?}");
            assert_eq!(shape(&lines[1]), "1 198.51.100.1 ms", "{lines:?}");

            // The prohibited half: the kernel's filtering (type 3 code 13)
            // is marked and ends the path, both ways of probing.
            for icmp in [false, true] {
                let mut args = vec!["-q", "1", "-w", "3", "203.0.113.200"];
                if icmp {
                    args.insert(0, "-I");
                }
                let (code, lines) = traceroute(env, &args);
                assert_eq!(code, 0, "{lines:?}");
                assert_eq!(lines.len(), 2, "{lines:?}");
                assert_eq!(shape(&lines[1]), "1 192.0.2.1 ms !X", "{lines:?}");
            }
        },
    );
}

#[test]
fn traceroute_refuses_bad_options_before_opening_a_device() {
    for (args, says) in [
        (
            &["-f", "5", "-m", "3", "192.0.2.1"][..],
            "beyond the largest",
        ),
        (&["-q", "0", "192.0.2.1"][..], "-q"),
        (&["-w", "0", "192.0.2.1"][..], "wait"),
        (&["-m", "256", "192.0.2.1"][..], "-m"),
        (&["example.org"][..], "HOST"),
    ] {
        let out = run(Command::new(BIN)
            .arg("traceroute")
            .args(["--tap", "nosuch0", "--addr", "192.0.2.2/24"])
            .args(args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
