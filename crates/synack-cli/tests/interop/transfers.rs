//! The bulk transfers of `interop_transfer.rs` and `interop_loss.rs`,
//! parameterized by the impairment options given to synack.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// 100 MiB.
pub const BIG: usize = 100 << 20;

fn label(impair: &[&str]) -> String {
    if impair.is_empty() {
        String::new()
    } else {
        format!(" [{}]", impair.join(" "))
    }
}

/// A Linux client (socat) sends `size` bytes to `synack serve --discard`;
/// the server counts every byte.
pub fn upload_to_discard(test: &str, impair: &[&str], size: usize) {
    in_namespace(test, &["socat", "ss"], |env| {
        let file = env.path("up.bin");
        random_file(&file, size, 1);
        let mut args = vec!["--port", "9", "--discard"];
        args.extend_from_slice(impair);
        let serve = Synack::serve(env, &args);
        let start = Instant::now();
        let out = run(Command::new("socat")
            .args(["-u", "-b", "65536"])
            .arg(format!("OPEN:{}", file.display()))
            .arg(format!("TCP:{STACK}:9")));
        let took = start.elapsed();
        assert!(out.status.success(), "socat: {out:?}");
        // The discard service has read everything once its connection is gone.
        serve.wait_idle();
        let (status, summary) = serve.stop();
        assert!(status.success(), "{summary}");
        assert!(
            summary.contains(&format!("({size} bytes)")),
            "discard did not count {size} bytes:\n{summary}"
        );
        report(&format!(
            "Linux -> synack --discard, {} MiB{}: {:.2} s, {:.0} Mbit/s; {}",
            size >> 20,
            label(impair),
            took.as_secs_f64(),
            mbit_s(size as u64, took),
            segments_line(&summary)
        ));
    });
}

/// The summary's `segments:` line (retransmissions, fast retransmits,
/// timeouts), for the test's report.
fn segments_line(summary: &str) -> &str {
    summary
        .lines()
        .find(|l| l.starts_with("segments:"))
        .unwrap_or("")
}

/// Sends a file to `addr` and reads everything back (both at once), as a
/// Linux client of an echo server.
pub const ECHO_CLIENT: &str = r#"
import socket, sys, threading
src, dst, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.create_connection((host, port))
def send():
    with open(src, "rb") as f:
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
with open(dst, "wb") as out:
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        out.write(chunk)
t.join()
s.close()
"#;

/// A Linux client sends `size` bytes through `synack serve --echo` and
/// gets them back identical.
pub fn echo_through_serve(test: &str, impair: &[&str], size: usize) {
    in_namespace(test, &["sha256sum", PYTHON], |env| {
        let (src, dst) = (env.path("src.bin"), env.path("echo.bin"));
        random_file(&src, size, 2);
        let mut args = vec!["--port", "7", "--echo"];
        args.extend_from_slice(impair);
        let serve = Synack::serve(env, &args);
        let start = Instant::now();
        let out = python(
            ECHO_CLIENT,
            &[src.to_str().unwrap(), dst.to_str().unwrap(), STACK, "7"],
        );
        let took = start.elapsed();
        assert!(out.status.success(), "echo client: {out:?}");
        assert_eq!(sha256(&dst), sha256(&src), "the echo differs");
        serve.wait_idle();
        let (status, summary) = serve.stop();
        assert!(
            summary.contains(&format!("({size} bytes) in"))
                || summary.contains(&format!("in ({size} bytes)")),
            "{summary}"
        );
        assert!(status.success(), "{summary}");
        report(&format!(
            "Linux <-> synack --echo, {} MiB each way{}: {:.2} s, {:.0} Mbit/s each way; {}",
            size >> 20,
            label(impair),
            took.as_secs_f64(),
            mbit_s(size as u64, took),
            segments_line(&summary)
        ));
    });
}

/// `synack connect` with the test's link and `impair`, stdin from `input`
/// (or nothing), stdout to `output` (or discarded); returns how long it ran.
fn connect(
    env: &Env,
    target: &str,
    impair: &[&str],
    input: Option<&std::path::Path>,
    output: Option<&std::path::Path>,
) -> Duration {
    let mut cmd = Command::new(BIN);
    cmd.arg("connect")
        .arg(target)
        .args(link_args(env))
        .args(impair);
    cmd.stdin(match input {
        Some(p) => Stdio::from(std::fs::File::open(p).unwrap()),
        None => Stdio::null(),
    });
    cmd.stdout(match output {
        Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
        None => Stdio::null(),
    });
    cmd.stderr(Stdio::piped());
    let start = Instant::now();
    let child = cmd.spawn().expect("spawning synack connect");
    let out = wait_output(child, PATIENCE);
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "synack connect: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::io::stderr().write_all(&out.stderr);
    took
}

/// `synack connect` downloads `size` bytes from a Linux socat server.
pub fn download_from_socat(test: &str, impair: &[&str], size: usize) {
    in_namespace(test, &["socat", "sha256sum", "ss"], |env| {
        let (src, dst) = (env.path("src.bin"), env.path("down.bin"));
        random_file(&src, size, 3);
        let server = Command::new("socat")
            .args(["-u", "-b", "65536"])
            .arg(format!("OPEN:{}", src.display()))
            .arg("TCP-LISTEN:9000,reuseaddr")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning socat");
        wait_for_listener(9000);
        let took = connect(env, "192.0.2.1:9000", impair, None, Some(&dst));
        let out = wait_output(server, PATIENCE);
        assert!(out.status.success(), "socat: {out:?}");
        assert_eq!(sha256(&dst), sha256(&src), "the download differs");
        report(&format!(
            "socat -> synack connect, {} MiB{}: {:.2} s, {:.0} Mbit/s",
            size >> 20,
            label(impair),
            took.as_secs_f64(),
            mbit_s(size as u64, took)
        ));
    });
}

/// `synack connect` uploads `size` bytes to a Linux socat server.
pub fn upload_to_socat(test: &str, impair: &[&str], size: usize) {
    in_namespace(test, &["socat", "sha256sum", "ss"], |env| {
        let (src, dst) = (env.path("src.bin"), env.path("up.bin"));
        random_file(&src, size, 4);
        let server = Command::new("socat")
            .args(["-u", "-b", "65536", "TCP-LISTEN:9001,reuseaddr"])
            .arg(format!("CREATE:{}", dst.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning socat");
        wait_for_listener(9001);
        let took = connect(env, "192.0.2.1:9001", impair, Some(&src), None);
        let out = wait_output(server, PATIENCE);
        assert!(out.status.success(), "socat: {out:?}");
        assert_eq!(sha256(&dst), sha256(&src), "the upload differs");
        report(&format!(
            "synack connect -> socat, {} MiB{}: {:.2} s, {:.0} Mbit/s",
            size >> 20,
            label(impair),
            took.as_secs_f64(),
            mbit_s(size as u64, took)
        ));
    });
}
