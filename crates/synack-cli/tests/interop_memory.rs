//! The stack-wide buffer memory cap (`tcp_mem`) against the Linux kernel:
//! `synack serve --echo` under a 16 KiB high mark (`--sysctl tcp_mem`), so
//! its receive and send buffers stay at what they have and Linux's data
//! beyond them is dropped and sent again. `synack ss -s` shows the stack
//! above the mark while the echo runs; every byte comes back identical.

mod interop;

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use interop::transfers::ECHO_CLIENT;
use interop::*;

const SIZE: usize = 16 << 20;

#[test]
fn linux_echoes_through_serve_under_a_16_kib_tcp_mem() {
    in_namespace(
        "linux_echoes_through_serve_under_a_16_kib_tcp_mem",
        &["sha256sum", PYTHON],
        |env| {
            let (src, dst) = (env.path("src.bin"), env.path("echo.bin"));
            random_file(&src, SIZE, 24);
            // Pages: low 8 KiB, pressure 12 KiB, high 16 KiB.
            let serve = Synack::serve(env, &["--port", "7", "--echo", "--sysctl", "tcp_mem=2 3 4"]);
            let start = Instant::now();
            let mut client = Command::new(PYTHON)
                .args(["-c", ECHO_CLIENT])
                .args([src.to_str().unwrap(), dst.to_str().unwrap(), STACK, "7"])
                .stdout(Stdio::null())
                .spawn()
                .expect("spawning the echo client");
            // What `ss -s` says of the stack's memory while the echo runs.
            let mut states = Vec::new();
            let status = loop {
                if let Some(status) = client.try_wait().unwrap() {
                    break status;
                }
                assert!(start.elapsed() < PATIENCE, "the echo never ended");
                let summary = serve.ss(&["-s"]);
                let state = summary
                    .lines()
                    .find_map(|l| l.strip_prefix("TCP buffer memory: "))
                    .unwrap_or_else(|| panic!("no memory line: {summary}"))
                    .to_string();
                states.push(state);
                thread::sleep(Duration::from_millis(5));
            };
            let took = start.elapsed();
            assert!(status.success(), "echo client: {status}");
            assert_eq!(sha256(&dst), sha256(&src), "the echo differs");
            let exhausted = states.iter().filter(|s| s.ends_with("(exhausted)")).count();
            serve.wait_idle();
            let after = serve.ss(&["-s"]);
            let (status, summary) = serve.stop();
            assert!(status.success(), "{summary}");
            report(&format!(
                "Linux <-> synack --echo under tcp_mem 16 KiB, {} MiB each way: {:.2} s, \
                 {:.0} Mbit/s each way; above the high mark in {exhausted} of {} looks \
                 (e.g. {:?}); {}",
                SIZE >> 20,
                took.as_secs_f64(),
                mbit_s(SIZE as u64, took),
                states.len(),
                states.iter().find(|s| s.ends_with("(exhausted)")),
                summary
                    .lines()
                    .find(|l| l.starts_with("segments:"))
                    .unwrap_or("")
            ));
            assert!(exhausted > 0, "never above the mark: {states:?}");
            // Once the connection is gone, its memory is given back.
            assert!(
                after.contains("TCP buffer memory: 0 bytes (normal)"),
                "{after}"
            );
        },
    );
}
