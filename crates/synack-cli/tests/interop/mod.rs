//! Shared pieces of the interop tests against the Linux kernel.
//!
//! Every test runs in a network namespace of its own (a thread that
//! unshared its namespace; child processes inherit it), with TEST-NET-1
//! addresses only: the kernel's side of the TAP (or TUN) is 192.0.2.1, the
//! stack is 192.0.2.2 (RFC 5737). Control sockets and files live in a temporary
//! directory per test. Without root, /dev/net/tun or a peer tool the tests
//! print "skipping: ..." and pass, except under `CI=true`, where they fail.
#![allow(dead_code)]

pub mod transfers;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};

pub use synack_tap::netns;

pub const BIN: &str = env!("CARGO_BIN_EXE_synack");
/// The kernel's side of the link.
pub const KERNEL: &str = "192.0.2.1";
/// The stack's address.
pub const STACK: &str = "192.0.2.2";
/// The longest any one step may take before the test fails; a healthy run
/// is far quicker (debug builds move about 10 MiB/s).
pub const PATIENCE: Duration = Duration::from_secs(240);
pub const PYTHON: &str = "/usr/bin/python3";

/// A test's scratch directory.
#[derive(Debug)]
pub struct Env {
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Env {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Skips (or fails under CI=true) without what the test needs.
fn prerequisites(test: &str, tools: &[&str]) -> bool {
    if netns::skip_unless_supported(test) {
        return false;
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            let found = if t.starts_with('/') {
                Path::new(t).exists()
            } else {
                Command::new("sh")
                    .args(["-c", &format!("command -v {t}")])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            !found
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: missing {} (scripts/install-test-deps.sh installs them)",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but cannot run {msg}");
    }
    let _ = writeln!(std::io::stderr(), "skipping: {msg}");
    false
}

/// Runs `f` in a fresh network namespace with a scratch directory.
pub fn in_namespace(test: &str, tools: &[&str], f: impl FnOnce(&Env) + Send) {
    if !prerequisites(test, tools) {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("synack-interop-")
        .tempdir()
        .expect("temporary directory");
    let env = Env {
        dir: tmp.path().to_owned(),
        _tmp: tmp,
    };
    netns::run_in_fresh(|| f(&env)).expect("entering a fresh network namespace");
}

/// A running `synack serve` or `synack connect`.
#[derive(Debug)]
pub struct Synack {
    pub child: Child,
    lines: Receiver<String>,
    pub control: PathBuf,
}

/// The link options every test uses: a TAP named syn0 (Ethernet, ARP), the
/// stack at 192.0.2.2/24, the kernel at 192.0.2.1/24, and the test's
/// control socket.
pub fn link_args(env: &Env) -> Vec<String> {
    link_args_on(env, "--tap")
}

/// [`link_args`] on `--tap` or `--tun`.
pub fn link_args_on(env: &Env, kind: &str) -> Vec<String> {
    [
        kind,
        "syn0",
        "--addr",
        "192.0.2.2/24",
        "--peer-addr",
        "192.0.2.1/24",
        "--control",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([env.path("control.sock").display().to_string()])
    .collect()
}

impl Synack {
    /// Starts `synack serve` with the test's link and `args`, and waits
    /// for "listening on 192.0.2.2:PORT".
    pub fn serve(env: &Env, args: &[&str]) -> Synack {
        Synack::serve_on(env, "--tap", args)
    }

    /// [`Synack::serve`] on `--tap` or `--tun`.
    pub fn serve_on(env: &Env, kind: &str, args: &[&str]) -> Synack {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").args(link_args_on(env, kind)).args(args);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning synack serve");
        let lines = stdout_lines(&mut child);
        let mut s = Synack {
            child,
            lines,
            control: env.path("control.sock"),
        };
        let first = s.line(Duration::from_secs(30));
        assert!(
            first
                .as_deref()
                .is_some_and(|l| l.starts_with(&format!("listening on {STACK}:"))),
            "synack serve did not start: {first:?}"
        );
        s
    }

    fn line(&mut self, patience: Duration) -> Option<String> {
        match self.lines.recv_timeout(patience) {
            Ok(l) => Some(l),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// `synack ss ARGS` against this process.
    pub fn ss(&self, args: &[&str]) -> String {
        self.ask("ss", args)
    }

    /// `synack neigh` of this stack, with `args`.
    pub fn neigh(&self, args: &[&str]) -> String {
        self.ask("neigh", args)
    }

    /// `synack COMMAND` against this stack's control socket.
    fn ask(&self, command: &str, args: &[&str]) -> String {
        let out = run(Command::new(BIN)
            .arg(command)
            .arg("--control")
            .arg(&self.control)
            .args(args));
        assert!(out.status.success(), "synack {command} failed: {out:?}");
        String::from_utf8(out.stdout).expect("it prints text")
    }

    /// Waits until every connection finished (only listeners and TIME-WAIT
    /// entries are left), so a service has counted everything.
    pub fn wait_idle(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let rows: serde_json::Value =
                serde_json::from_str(&self.ss(&["--json"])).expect("ss --json");
            let busy = rows
                .as_array()
                .expect("an array of rows")
                .iter()
                .any(|r| r["state"] != "LISTEN" && r["state"] != "TIME-WAIT");
            if !busy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "connections never finished: {rows}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT and returns the exit status and the rest of stdout (the
    /// summary).
    pub fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let status = wait(&mut self.child, Duration::from_secs(30));
        let mut rest = String::new();
        while let Some(l) = self.line(Duration::from_secs(5)) {
            rest.push_str(&l);
            rest.push('\n');
        }
        (status, rest)
    }
}

impl Drop for Synack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child`, killing it (and failing) after `patience`.
pub fn wait(child: &mut Child, patience: Duration) -> ExitStatus {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a child process ran longer than {patience:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A spawned child's stdout (piped), line by line as it comes.
pub fn stdout_lines(child: &mut Child) -> Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs a command to completion within [`PATIENCE`], collecting its output.
pub fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    wait_output(child, PATIENCE)
}

/// Collects a spawned child's output, killing it after `patience`.
pub fn wait_output(mut child: Child, patience: Duration) -> Output {
    let out = child.stdout.take();
    let err = child.stderr.take();
    let read = |s: Option<Box<dyn std::io::Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut s) = s {
                let _ = s.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(out.map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let err = read(err.map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let status = wait(&mut child, patience);
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Runs `ip ARGS` in the test's namespace.
pub fn ip(args: &str) {
    let out = run(Command::new("ip").args(args.split_whitespace()));
    assert!(out.status.success(), "ip {args}: {out:?}");
}

/// Makes the kernel a router beyond the link (in the test's namespace:
/// its sysctls and devices are the namespace's own): `ip_forward` on,
/// 198.51.100.1 on one end of a veth pair (this machine's kernel has no
/// dummy devices), 203.0.113.0/25 routed out of it (where nobody answers)
/// and 203.0.113.128/25 refused (`prohibit`: ICMP type 3 code 13).
///
/// `icmp_ratemask` 0 exempts its time exceeded and port unreachable from
/// the per-destination limit, so a test's probes each get theirs. That
/// limit shares its tokens with the one `prohibit`'s errors pass
/// (`ip_error`, five in a burst, then one a second): `icmp_ratelimit` 0
/// would zero them at each error sent and starve it.
pub fn kernel_router() {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").expect("ip_forward");
    std::fs::write("/proc/sys/net/ipv4/icmp_ratemask", "0").expect("icmp_ratemask");
    ip("link add far0 type veth peer name far1");
    ip("addr add 198.51.100.1/24 dev far0");
    ip("link set far0 up");
    ip("link set far1 up");
    ip("route add 203.0.113.0/25 dev far0");
    ip("route add prohibit 203.0.113.128/25");
}

/// A Python script run by Debian's python3 (which has scapy).
pub fn python(script: &str, args: &[&str]) -> Output {
    run(Command::new(PYTHON).arg("-c").arg(script).args(args))
}

/// Writes `size` pseudo-random bytes (xorshift from `seed`) to `path`.
pub fn random_file(path: &Path, size: usize, seed: u64) {
    let mut x = seed | 1;
    let mut data = Vec::with_capacity(size + 8);
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(size);
    std::fs::write(path, data).expect("writing a test file");
}

/// `sha256sum FILE`'s hash.
pub fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the kernel has a TCP listener on `port` (`ss -tln`).
pub fn wait_for_listener(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = run(Command::new("ss").args(["-Htln"]));
        let text = String::from_utf8_lossy(&out.stdout);
        if text.lines().any(|l| {
            l.split_whitespace()
                .nth(3)
                .is_some_and(|local| local.ends_with(&format!(":{port}")))
        }) {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Megabits per second for `bytes` in `elapsed`.
pub fn mbit_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 * 8.0 / elapsed.as_secs_f64() / 1e6
}

/// Prints a measurement so it shows in the test log even when passing.
pub fn report(what: &str) {
    let _ = writeln!(std::io::stderr(), "interop: {what}");
}
