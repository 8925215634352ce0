//! `serve`, `connect`, `ss`, `ping` and `traceroute` failing the way a
//! person can act on: one line on stderr and exit status 2 (no privileges
//! needed for these).

use std::os::unix::net::UnixListener;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_synack");

fn synack(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ss_without_a_running_process_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock");
    let (code, err) = synack(&["ss", "--control", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no running synack"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn ss_with_a_dead_process_says_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.sock");
    drop(UnixListener::bind(&dead).unwrap());
    let (code, err) = synack(&["ss", "--control", dead.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is gone"), "{err}");
}

#[test]
fn serve_refuses_a_bad_device_name_in_one_line() {
    let (code, err) = synack(&[
        "serve",
        "--tap",
        "a-name-far-too-long-for-linux",
        "--addr",
        "192.0.2.2/24",
        "--port",
        "7",
        "--echo",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.starts_with("synack serve: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn serve_refuses_an_unknown_sysctl_before_opening_a_device() {
    let (code, err) = synack(&[
        "serve",
        "--tap",
        "synack-sysctl",
        "--addr",
        "192.0.2.2/24",
        "--port",
        "7",
        "--echo",
        "--sysctl",
        "tcp_nonsense=1",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err.trim_end(),
        "synack serve: --sysctl tcp_nonsense=1: unknown setting `tcp_nonsense`"
    );
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    // No service chosen.
    let (code, _) = synack(&[
        "serve",
        "--tap",
        "x",
        "--addr",
        "192.0.2.2/24",
        "--port",
        "7",
    ]);
    assert_eq!(code, Some(2));
    // Not IP/LEN.
    let (code, err) = synack(&[
        "connect",
        "192.0.2.1:80",
        "--tap",
        "x",
        "--addr",
        "192.0.2.2",
    ]);
    assert_eq!(code, Some(2), "{err}");
    for cmd in ["serve", "connect", "ss", "neigh", "ping", "traceroute"] {
        let out = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && help.contains("Examples:"),
            "{cmd}: {help}"
        );
    }
}

#[test]
fn commands_on_a_device_without_privileges_explain_in_one_line() {
    // Drop to `nobody` with setpriv when we can (as root); otherwise we
    // are unprivileged already, unless /dev/net/tun is missing altogether.
    let as_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if as_root && Command::new("setpriv").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but setpriv is missing"
        );
        eprintln!("skipping: setpriv is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let link = ["--tap", "syn9", "--addr", "192.0.2.2/24"];
    for (command, args) in [
        ("serve", &["--port", "7", "--echo"][..]),
        ("ping", &["192.0.2.1"][..]),
        ("traceroute", &["192.0.2.1"][..]),
    ] {
        let mut cmd = if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        let out = cmd
            .arg(command)
            .args(link)
            .args(args)
            .arg("--control")
            .arg(dir.path().join("c.sock"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(out.stdout.is_empty(), "{command}: {out:?}");
        assert!(err.starts_with(&format!("synack {command}: ")), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{command}: {err}");
        assert!(
            err.contains("CAP_NET_ADMIN") || err.contains("/dev/net/tun"),
            "{command}: {err}"
        );
    }
}
