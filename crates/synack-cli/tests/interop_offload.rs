//! Receive offload against the Linux kernel: `synack serve` opens its TAP
//! with a virtio-net header and TSO, so the kernel writes 64 KiB
//! super-segments with `gso_size` = its MSS. synack must count them as the
//! kernel's segments: its `rcv_mss` is the kernel's MSS (1448 with
//! timestamps at MTU 1500), not the super-segment's length, and its
//! `data_segs_in` counts MSS-sized segments, not frames. The same upload
//! shows receive-buffer autotuning against Linux's sender: while `serve
//! --discard` keeps up, synack's buffer (`rcv_space`) grows beyond the
//! 128 KiB `tcp_rmem` default.

mod interop;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use interop::*;

/// Sends argv[2] bytes to argv[1]:9 in 64 KiB writes, says "sent", then
/// keeps the connection open until stdin ends.
const CLIENT: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], 9))
left = int(sys.argv[2])
chunk = b"\x5a" * 65536
while left > 0:
    n = s.send(chunk[:min(left, len(chunk))])
    left -= n
print("sent", flush=True)
sys.stdin.read()
s.close()
"#;

const SIZE: u64 = 32 << 20;

/// Linux's MSS over a 1500-byte MTU with timestamps.
const LINUX_MSS: u64 = 1448;

#[test]
fn over_a_tap_with_offloads_synack_counts_the_kernels_segments_not_its_super_segments() {
    in_namespace(
        "over_a_tap_with_offloads_synack_counts_the_kernels_segments_not_its_super_segments",
        &[PYTHON],
        |env| {
            let serve = Synack::serve(env, &["--port", "9", "--discard"]);
            let mut client = Command::new(PYTHON)
                .args(["-c", CLIENT, STACK, &SIZE.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(client.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "sent");
            // The connection stays open; wait until synack received it all.
            let deadline = Instant::now() + PATIENCE;
            let row = loop {
                let rows: serde_json::Value =
                    serde_json::from_str(&serve.ss(&["-tanim", "--json"])).expect("ss --json");
                let estab = rows
                    .as_array()
                    .expect("rows")
                    .iter()
                    .find(|r| r["state"] == "ESTAB")
                    .cloned();
                if let Some(row) = estab.filter(|r| r["info"]["bytes_received"] == SIZE) {
                    break row;
                }
                assert!(Instant::now() < deadline, "never received it all: {rows}");
                thread::sleep(Duration::from_millis(20));
            };
            drop(client.stdin.take());
            let _ = client.wait();
            serve.wait_idle();
            let (status, summary) = serve.stop();
            assert!(status.success(), "{summary}");
            let frames_in: u64 = summary
                .lines()
                .find_map(|l| l.trim().strip_prefix("frames:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no frames line:\n{summary}"));
            let rcvbuf = row["mem"]["rcvbuf"].as_u64().unwrap();
            let info = &row["info"];
            let rcv_mss = info["rcv_mss"].as_u64().unwrap();
            let data_segs_in = info["data_segs_in"].as_u64().unwrap();
            report(&format!(
                "Linux -> synack --discard over an offloading TAP, {} MiB: {frames_in} frames \
                 in, data_segs_in {data_segs_in}, rcv_mss {rcv_mss}, receive buffer grown to \
                 {rcvbuf}",
                SIZE >> 20
            ));
            assert!(rcvbuf > 131_072, "autotuning: {row}");
            // The kernel did send super-segments (far fewer frames than
            // segments), and synack counted the segments inside them.
            assert!(
                frames_in * 2 < data_segs_in,
                "super-segments: {frames_in} frames for {data_segs_in} segments"
            );
            assert!(data_segs_in >= SIZE / LINUX_MSS, "{info}");
            assert_eq!(rcv_mss, LINUX_MSS, "the kernel's MSS: {info}");
        },
    );
}
