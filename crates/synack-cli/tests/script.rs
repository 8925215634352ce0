//! `synack script`: one line per script, the summary line, exit status 1
//! when a script fails, `--json` objects, `--verbose` events.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../synack-sim/tests/scripts")
}

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .arg("script")
        .args(args)
        .output()
        .expect("run synack")
}

/// A temporary script file, removed on drop.
struct TempScript(PathBuf);

impl TempScript {
    fn new(name: &str, text: &str) -> TempScript {
        let path = std::env::temp_dir().join(format!("synack-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write a temporary script");
        TempScript(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempScript {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const WRONG_ACK: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 2 <mss 1460,nop,wscale 7>
";

#[test]
fn passing_scripts_exit_zero_with_a_summary() {
    let a = scripts().join("handshake-passive.pkt");
    let b = scripts().join("close-active.pkt");
    let out = synack(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("PASS ") && lines[0].ends_with("handshake-passive.pkt"));
    assert!(lines[1].starts_with("PASS "));
    assert_eq!(lines[2], "2 passed, 0 failed, 0 skipped");
}

#[test]
fn a_failing_script_exits_one_naming_the_line_and_both_packets() {
    let bad = TempScript::new("bad.pkt", WRONG_ACK);
    let skipped = TempScript::new("skip.pkt", "0 epoll_create(1) = 3\n");
    let good = scripts().join("mss.pkt");
    let out = synack(&[bad.path(), skipped.path(), good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "FAIL {}:5: live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)",
            bad.path()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  script packet: > S. 0:0(0) ack 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  actual packet: 0.000000s > S. 0:0(0) ack 1 win"),
        "{stdout}"
    );
    assert!(stdout.contains("SKIP "), "{stdout}");
    assert!(stdout.contains("epoll_create"), "{stdout}");
    assert!(
        stdout.ends_with("1 passed, 1 failed, 1 skipped\n"),
        "{stdout}"
    );
}

#[test]
fn json_gives_one_object_per_script() {
    let bad = TempScript::new("bad-json.pkt", WRONG_ACK);
    let good = scripts().join("mss.pkt");
    let out = synack(&["--json", good.to_str().unwrap(), bad.path()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 2, "{stdout}");
    assert_eq!(objects[0]["result"], "pass");
    assert_eq!(objects[0]["reason"], serde_json::Value::Null);
    assert!(objects[0]["script"].as_str().unwrap().ends_with("mss.pkt"));
    assert_eq!(objects[1]["result"], "fail");
    assert!(
        objects[1]["reason"]
            .as_str()
            .unwrap()
            .contains("tcp_ack_seq")
    );
}

#[test]
fn verbose_prints_every_event_with_its_time() {
    let a = scripts().join("rst-connect-refused.pkt");
    let out = synack(&["--verbose", a.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0.050000s inject < R. 0:0(0) ack 1 win 0"),
        "{stdout}"
    );
    assert!(stdout.contains("return  connect() = -1"), "{stdout}");
}

#[test]
fn defines_reach_the_script() {
    let s = TempScript::new(
        "define.pkt",
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = FD\n+0 close(FD) = 0\n",
    );
    let out = synack(&["-D", "FD=5", s.path()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = synack(&["-D", "oops", s.path()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn host_sysctls_apply_before_the_script() {
    // Our SYN's wscale follows tcp_rmem's max: 4000000 gives 6, the
    // default (6 MiB) 7.
    let s = TempScript::new(
        "sysctl.pkt",
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 6>
",
    );
    let out = synack(&["--sysctl", "net.ipv4.tcp_rmem=4096 87380 4000000", s.path()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let out = synack(&[s.path()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("expected: wscale 6 actual: wscale 7"),
        "{stdout}"
    );
    let out = synack(&["--sysctl", "tcp_rmem", s.path()]);
    assert_eq!(out.status.code(), Some(2));
}
