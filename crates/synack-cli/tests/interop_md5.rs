//! TCP MD5 signatures (RFC 2385) from the command line, against the Linux
//! kernel's TCP_MD5SIG: `synack serve --md5 ADDR=KEY` takes a Linux client
//! that signs with the key and drops one that does not, and `synack connect
//! --md5-key KEY` reaches a Linux listener that expects it.

mod interop;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use interop::*;

/// `md5sig(sock, peer, key)`: Linux's TCP_MD5SIG (struct tcp_md5sig);
/// `read_all(c)`: a stream's bytes up to its end.
const MD5SIG: &str = r#"
import socket, struct, sys
def md5sig(sock, peer, key):
    addr = struct.pack("=HH4s120x", socket.AF_INET, 0, socket.inet_aton(peer))
    sock.setsockopt(socket.IPPROTO_TCP, 14,
                    addr + struct.pack("=BBHi", 0, 0, len(key), 0) + key.ljust(80, b"\0"))
def read_all(c):
    data = b""
    while chunk := c.recv(4096):
        data += chunk
    return data
"#;

/// Echoes through 192.0.2.2:179 signed with argv[1] (none if empty);
/// prints what came back, or "timeout" if connect gives up.
const CLIENT: &str = r#"
c = socket.socket()
if sys.argv[1]:
    md5sig(c, "192.0.2.2", sys.argv[1].encode())
c.settimeout(3)
try:
    c.connect(("192.0.2.2", 179))
except socket.timeout:
    print("timeout")
    sys.exit()
c.sendall(b"keepalive")
print(c.recv(100).decode())
"#;

#[test]
fn serve_md5_takes_the_signed_linux_client_and_drops_the_others() {
    in_namespace(
        "serve_md5_takes_the_signed_linux_client_and_drops_the_others",
        &[PYTHON],
        |env| {
            // The key from a file (`=@FILE`), out of the process list.
            let key = env.path("bgp.key");
            std::fs::write(&key, "bgp-secret\n").unwrap();
            let md5 = format!("192.0.2.0/24=@{}", key.display());
            let serve = Synack::serve(env, &["--port", "179", "--echo", "--md5", &md5]);
            let client = |key: &str| {
                let out = python(&format!("{MD5SIG}{CLIENT}"), &[key]);
                assert!(out.status.success(), "{out:?}");
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            };
            assert_eq!(client("bgp-secret"), "keepalive");
            assert_eq!(client("bgp-secreT"), "timeout");
            assert_eq!(client(""), "timeout");
            // `ss -li` shows the listener's key, as Linux's ss does to root.
            let ss = serve.ss(&["-l", "-i"]);
            assert!(ss.contains(" md5keys:192.0.2.0/24=bgp-secret"), "{ss}");
            let (status, summary) = serve.stop();
            assert!(status.success(), "{summary}");
            assert!(summary.contains("1 accepted"), "{summary}");
        },
    );
}

/// A Linux listener on port 179 (192.0.2.1 once synack's link is up) expecting `bgp-secret` from
/// 192.0.2.2: answers what one connection says, upper-cased.
const LISTENER: &str = r#"
l = socket.socket()
md5sig(l, "192.0.2.2", b"bgp-secret")
l.bind(("0.0.0.0", 179))
l.listen(1)
print("listening", flush=True)
l.settimeout(30)
c, _ = l.accept()
c.sendall(read_all(c).upper())
c.close()
"#;

#[test]
fn connect_md5_key_reaches_a_linux_listener_that_expects_it() {
    in_namespace(
        "connect_md5_key_reaches_a_linux_listener_that_expects_it",
        &[PYTHON],
        |env| {
            let mut server = Command::new(PYTHON)
                .args(["-c", &format!("{MD5SIG}{LISTENER}")])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
            assert_eq!(lines.next().unwrap().unwrap(), "listening");
            let connect = |key: &str| {
                let mut child = Command::new(BIN)
                    .args(["connect", "192.0.2.1:179", "--md5-key", key])
                    .args(["--connect-timeout", "3"])
                    .args(link_args(env))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(b"open\n").unwrap();
                wait_output(child, PATIENCE)
            };
            // The wrong key first: the listener never sees it.
            let wrong = connect("bgp-secreT");
            assert!(!wrong.status.success());
            let err = String::from_utf8_lossy(&wrong.stderr);
            assert!(
                err.contains("192.0.2.1:179") && err.contains("timed out"),
                "{err}"
            );
            let key = env.path("bgp.key");
            std::fs::write(&key, "bgp-secret").unwrap();
            let right = connect(&format!("@{}", key.display()));
            assert!(right.status.success(), "{right:?}");
            assert_eq!(String::from_utf8_lossy(&right.stdout), "OPEN\n");
            assert!(server.wait().unwrap().success());
        },
    );
}

#[test]
fn a_bad_md5_argument_is_a_clear_error() {
    for (args, says) in [
        (
            &["serve", "--port", "1", "--md5", "192.0.2.1"][..],
            "ADDR[/LEN]=KEY",
        ),
        (
            &["serve", "--port", "1", "--md5", "192.0.2.0/33=k"],
            "ADDR[/LEN]=KEY",
        ),
        (
            &["serve", "--port", "1", "--md5", "192.0.2.1="],
            "1 to 80 bytes",
        ),
        (
            &["connect", "192.0.2.1:179", "--md5-key", ""],
            "1 to 80 bytes",
        ),
        (
            &[
                "connect",
                "192.0.2.1:179",
                "--md5-key",
                "@/nonexistent/bgp.key",
            ],
            "reading the TCP MD5 key from /nonexistent/bgp.key",
        ),
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
