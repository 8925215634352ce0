//! For the tests against the Linux kernel (root, in a fresh network
//! namespace): a runtime on a TAP device, and the skip rule.

use synack::{Builder, Runtime, Tap};
use synack_tap::netns;

/// The Python the kernel-side helpers run with.
pub const PYTHON: &str = "/usr/bin/python3";

/// What the kernel-side Python scripts start with (`python`): `wire`, a
/// packet socket on `syn0` that sees every IPv4 frame the stack sends the
/// kernel (20 s timeout, an 8 MiB buffer; frames the kernel sends reach
/// only ETH_P_ALL packet sockets); `headers(frame)`, a frame's IP header,
/// its length and what follows it; `read_all(c)`, a stream's bytes up to
/// its end.
const PY_PRELUDE: &str = r#"
import socket, struct, threading
IP_OPTIONS = getattr(socket, "IP_OPTIONS", 4)
wire = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
# 8 MiB past rmem_max (SO_RCVBUFFORCE, root): a burst of segments is not
# lost while the Python reader is slow on a busy machine.
wire.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
wire.bind(("syn0", 0))
wire.settimeout(20)
def headers(frame):
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    return ip, ihl, ip[ihl:]
def read_all(c):
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            return data
        data += chunk
"#;

/// A kernel-side Python script: [`PY_PRELUDE`], then `body`.
pub fn python(body: &str) -> String {
    format!("{PY_PRELUDE}{body}")
}

/// Runs `body` on a thread in a fresh network namespace, checked not to be
/// the root one: the devices it makes and the net sysctls it writes are
/// the fresh namespace's.
pub fn fresh_namespace<T: Send>(body: impl FnOnce() -> T + Send) -> T {
    let root_ns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    netns::run_in_fresh(|| {
        let ns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        assert_ne!(ns, root_ns, "must not touch the root namespace");
        body()
    })
    .unwrap()
}

/// TAP `syn0` with the kernel's end at 192.0.2.1/24, up.
pub fn kernel_tap() -> Tap {
    let tap = Tap::open("syn0").unwrap();
    tap.set_kernel_addr("192.0.2.1".parse().unwrap(), 24)
        .unwrap();
    tap.set_up().unwrap();
    tap
}

/// A runtime at 192.0.2.2 on TAP `syn0`, the kernel at 192.0.2.1/24.
pub fn tap_runtime() -> Runtime {
    tap_runtime_with(synack_proto::Config::default())
}

/// [`tap_runtime`] with the stack's `config`.
pub fn tap_runtime_with(config: synack_proto::Config) -> Runtime {
    let tap = kernel_tap();
    Builder::new("192.0.2.2".parse().unwrap(), 24)
        .config(config)
        .start(tap)
        .unwrap()
}

/// Whether `test` must be skipped here (no namespaces or no Python); under
/// `CI=true` a missing Python is a failure, not a skip.
pub fn skip(test: &str) -> bool {
    if netns::skip_unless_supported(test) {
        return true;
    }
    if !std::path::Path::new(PYTHON).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {PYTHON} is missing"
        );
        eprintln!("skipping: {test}: {PYTHON} is missing");
        return true;
    }
    false
}

/// Whether `test` must be skipped for want of the command `tool` (asked
/// for its version with `version_arg`); under `CI=true` a missing tool is a
/// failure, since `scripts/install-test-deps.sh` installs `package`.
pub fn tool_missing(test: &str, tool: &str, version_arg: &str, package: &str) -> bool {
    if std::process::Command::new(tool)
        .arg(version_arg)
        .output()
        .is_ok()
    {
        return false;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {tool} is missing (scripts/install-test-deps.sh installs {package})"
    );
    eprintln!("skipping: {test}: {tool} is missing");
    true
}
