//! 100 MiB each way between the Linux kernel and synack over a TAP: Linux
//! clients upload to `serve --discard` and through `serve --echo`; `synack
//! connect` downloads from and uploads to a Linux `socat`. Bytes identical.
//! And receive-buffer autotuning against Linux's sender: a 64 MiB upload
//! grows synack's buffer beyond the `tcp_rmem` default.
//! `interop_loss.rs` runs the same transfers through 2% loss and
//! reordering.

mod interop;

use interop::transfers::*;

#[test]
fn linux_uploads_100_mib_to_serve_discard() {
    upload_to_discard("linux_uploads_100_mib_to_serve_discard", &[], BIG);
}

#[test]
fn linux_echoes_100_mib_through_serve_echo() {
    echo_through_serve("linux_echoes_100_mib_through_serve_echo", &[], BIG);
}

#[test]
fn synack_connect_downloads_100_mib_from_socat() {
    download_from_socat("synack_connect_downloads_100_mib_from_socat", &[], BIG);
}

#[test]
fn synack_connect_uploads_100_mib_to_socat() {
    upload_to_socat("synack_connect_uploads_100_mib_to_socat", &[], BIG);
}

/// Sends 64 MiB as fast as the window lets it, says "sent", and keeps the
/// connection open until stdin ends.
const UPLOADER: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], 9))
chunk = bytes(1 << 16)
for _ in range(1024):
    s.sendall(chunk)
print("sent", flush=True)
sys.stdin.read()
s.close()
"#;

/// Receive-buffer autotuning against Linux's sender: while `serve
/// --discard` keeps up, synack's receive buffer (`ss -i`'s `rcv_space`)
/// grows from the 128 KiB `tcp_rmem` default.
#[test]
fn a_linux_upload_grows_synacks_receive_buffer() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use interop::*;

    in_namespace(
        "a_linux_upload_grows_synacks_receive_buffer",
        &[PYTHON],
        |env| {
            let serve = Synack::serve(env, &["--port", "9", "--discard"]);
            let mut client = Command::new(PYTHON)
                .args(["-c", UPLOADER, STACK])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(client.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "sent");
            // Once the service has read everything, the connection's row:
            // `ESTAB 0 0 192.0.2.2:9 ...`, then its details.
            let deadline = Instant::now() + Duration::from_secs(20);
            let rcv_space = loop {
                let table = serve.ss(&["-tan", "-i"]);
                let mut lines = table.lines();
                let row = lines.find(|l| l.starts_with("ESTAB") && l.contains(":9 "));
                let drained = row.is_some_and(|r| r.split_whitespace().nth(1) == Some("0"));
                let space = lines
                    .next()
                    .and_then(|d| {
                        d.split_whitespace()
                            .find_map(|f| f.strip_prefix("rcv_space:"))
                    })
                    .and_then(|v| v.parse::<u64>().ok());
                if let (true, Some(space)) = (drained, space) {
                    break space;
                }
                assert!(Instant::now() < deadline, "no drained row:\n{table}");
                std::thread::sleep(Duration::from_millis(20));
            };
            drop(client.stdin.take());
            assert!(client.wait().unwrap().success());
            report(&format!(
                "Linux -> synack --discard, 64 MiB: receive buffer grown to {rcv_space} bytes"
            ));
            assert!(rcv_space > 131_072, "rcv_space {rcv_space}");
            let (status, summary) = serve.stop();
            assert!(status.success(), "{summary}");
        },
    );
}
