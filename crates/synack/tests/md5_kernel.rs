//! TCP MD5 signatures (RFC 2385) against the Linux kernel's TCP_MD5SIG over
//! a TAP, in a fresh network namespace with TEST-NET-1 addresses (the
//! kernel 192.0.2.1, the stack 192.0.2.2), both ways: synack connecting to
//! a kernel listener that expects a key, and a kernel client connecting to
//! a synack listener that does. Python checks the digest of every segment
//! synack sent with its own MD5 (hashlib); a wrong key or none gets no
//! connection, and both sides count the drops. Skips loudly without root
//! and /dev/net/tun (fails under CI=true).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};

use synack::net::{TcpListener, TcpStream};

mod common;
use common::kernel::{PYTHON, python, skip, tap_runtime, tap_runtime_with};

/// `md5sig(sock, peer, key)`: TCP_MD5SIG for `peer` (struct tcp_md5sig:
/// a sockaddr_storage, flags, prefix length, key length, ifindex, 80 key
/// bytes). `signed_ok(frame, key)`: whether a captured segment carries a
/// signature that RFC 2385's digest under `key` reproduces. `counter(name)`:
/// one of the namespace's TcpExt counters.
const MD5_HELPERS: &str = r#"
import hashlib
TCP_MD5SIG = 14
def md5sig(sock, peer, key):
    addr = struct.pack("=HH4s120x", socket.AF_INET, 0, socket.inet_aton(peer))
    sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG,
                    addr + struct.pack("=BBHi", 0, 0, len(key), 0) + key.ljust(80, b"\0"))
def signed_ok(frame, key):
    ip, ihl, _ = headers(frame)
    tcp = ip[ihl:struct.unpack("!H", ip[2:4])[0]]
    hl = (tcp[12] >> 4) * 4
    opts, i, digest = tcp[20:hl], 0, None
    while i < len(opts) and opts[i] != 0:
        if opts[i] == 1:
            i += 1
            continue
        if opts[i] == 19 and opts[i + 1] == 18:
            digest = opts[i + 2:i + 18]
        i += max(opts[i + 1], 2)
    if digest is None:
        return False
    pseudo = ip[12:20] + bytes([0, 6]) + len(tcp).to_bytes(2, "big")
    fixed = tcp[:16] + b"\0\0" + tcp[18:20]
    return hashlib.md5(pseudo + fixed + tcp[hl:] + key).digest() == digest
def from_stack(frame):
    ip, ihl, tcp = headers(frame)
    return ip[9] == 6 and ip[12:16] == bytes([192, 0, 2, 2])
def stack_segments(key):
    # Of synack's segments on the wire: how many, how many signed right
    # under `key`, and whether its SYN-ACK (if any) was.
    wire.settimeout(0.5)
    seen, good, syn_ack = 0, 0, False
    try:
        while True:
            frame = wire.recv(4096)
            if from_stack(frame):
                seen += 1
                good += signed_ok(frame, key)
                ip, ihl, tcp = headers(frame)
                syn_ack |= tcp[13] & 0x12 == 0x12 and signed_ok(frame, key)
    except socket.timeout:
        pass
    return seen, good, syn_ack
def counter(name):
    lines = open("/proc/net/netstat").read().split("\n")
    for head, values in zip(lines[0::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            return dict(zip(head.split()[1:], map(int, values.split()[1:])))[name]
"#;

/// A kernel listener on 192.0.2.1:179 expecting `bgp-secret` from
/// 192.0.2.2: answers one connection's "open" with "OPEN", then reports
/// how many of synack's segments were signed right, of how many, and
/// (after "count" on stdin, once synack tried a wrong key and none) its
/// TCPMD5Failure and TCPMD5NotFound counters.
const KERNEL_LISTENER: &str = r#"
KEY = b"bgp-secret"
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
md5sig(l, "192.0.2.2", KEY)
l.bind(("192.0.2.1", 179))
l.listen(8)
print("ready", flush=True)
l.settimeout(20)
c, _ = l.accept()
c.settimeout(10)
assert c.recv(16) == b"open"
c.sendall(b"OPEN")
assert read_all(c) == b""
c.close()
seen, good, _ = stack_segments(KEY)
print(good, seen, flush=True)
input()
print(counter("TCPMD5Failure"), counter("TCPMD5NotFound"), flush=True)
"#;

fn spawn(script: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(PYTHON)
        .args(["-c", &python(&format!("{MD5_HELPERS}{script}"))])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

fn line(out: &mut BufReader<std::process::ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.trim().to_string()
}

#[test]
fn synack_signs_every_segment_to_a_kernel_md5_listener_and_a_wrong_key_gets_nothing() {
    if skip("synack_signs_every_segment_to_a_kernel_md5_listener_and_a_wrong_key_gets_nothing") {
        return;
    }
    common::kernel::fresh_namespace(|| {
        // Two SYN retransmissions: a refused attempt gives up in seconds.
        let rt = tap_runtime_with(synack_proto::Config {
            tcp_syn_retries: 2,
            ..synack_proto::Config::default()
        });
        let (mut kernel, mut out) = spawn(KERNEL_LISTENER);
        assert_eq!(line(&mut out), "ready");
        let mut s = TcpStream::connect_with_md5_key(&rt, "192.0.2.1:179", b"bgp-secret").unwrap();
        assert!(s.md5_signed().unwrap());
        s.write_all(b"open").unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"OPEN");
        drop(s);
        // Every segment synack sent, SYN to last ACK, signed right.
        let report = line(&mut out);
        let (good, seen) = report.split_once(' ').unwrap();
        assert_eq!(good, seen, "segments signed right, of all: {report}");
        assert!(seen.parse::<u32>().unwrap() >= 5, "{report}");
        // A wrong key, and none: the kernel drops the SYNs unanswered.
        let wrong = TcpStream::connect_with_md5_key(&rt, "192.0.2.1:179", b"bgp-secreT");
        assert_eq!(wrong.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        let unsigned = TcpStream::connect(&rt, "192.0.2.1:179");
        assert_eq!(unsigned.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        kernel
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"count\n")
            .unwrap();
        let counts = line(&mut out);
        let counts: Vec<u32> = counts.split(' ').map(|n| n.parse().unwrap()).collect();
        assert!(counts[0] >= 3 && counts[1] >= 3, "kernel drops: {counts:?}");
        assert!(kernel.wait().unwrap().success());
        // A key is 1 to 80 bytes: anything else is a clear error.
        let e = TcpStream::connect_with_md5_key(&rt, "192.0.2.1:179", &[7; 81]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    });
}

/// Three kernel clients of 192.0.2.2:179: the first with `bgp-secret`
/// sends "hello" and prints what comes back and whether every segment of
/// synack's (its SYN-ACK first) was signed right; the second with a wrong
/// key and the third with none print "timeout" when connect gives up.
const KERNEL_CLIENTS: &str = r#"
KEY = b"bgp-secret"
c = socket.socket()
md5sig(c, "192.0.2.2", KEY)
c.settimeout(10)
c.connect(("192.0.2.2", 179))
c.sendall(b"hello")
back = read_all(c)
c.close()
seen, good, syn_ack = stack_segments(KEY)
print(back, good == seen, seen >= 4, syn_ack, flush=True)
for key in (b"bgp-secreT", None):
    c = socket.socket()
    if key:
        md5sig(c, "192.0.2.2", key)
    c.settimeout(3)
    try:
        c.connect(("192.0.2.2", 179))
        print("connected", flush=True)
    except socket.timeout:
        print("timeout", flush=True)
    c.close()
"#;

#[test]
fn a_kernel_client_with_the_key_reaches_a_synack_md5_listener_and_others_do_not() {
    if skip("a_kernel_client_with_the_key_reaches_a_synack_md5_listener_and_others_do_not") {
        return;
    }
    common::kernel::fresh_namespace(|| {
        let rt = tap_runtime();
        let l = TcpListener::bind(&rt, "0.0.0.0:179").unwrap();
        l.set_md5_key(Ipv4Addr::new(192, 0, 2, 1), 32, Some(b"bgp-secret"))
            .unwrap();
        let (_kernel, mut out) = spawn(KERNEL_CLIENTS);
        let (mut s, _) = l.accept().unwrap();
        assert!(s.md5_signed().unwrap());
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        s.write_all(b"HELLO").unwrap();
        drop(s);
        assert_eq!(line(&mut out), "b'HELLO' True True True");
        assert_eq!(line(&mut out), "timeout", "a wrong key");
        assert_eq!(line(&mut out), "timeout", "no key");
        let ext = rt.stats().stack.tcp_ext;
        assert!(ext.tcp_md5_failure >= 2, "{}", ext.tcp_md5_failure);
        assert!(ext.tcp_md5_not_found >= 2, "{}", ext.tcp_md5_not_found);
        // Deleting a key the listener does not have, or a prefix past 32.
        let e = l
            .set_md5_key(Ipv4Addr::new(192, 0, 2, 9), 32, None)
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let e = l
            .set_md5_key(Ipv4Addr::new(192, 0, 2, 9), 33, Some(b"k"))
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    });
}
