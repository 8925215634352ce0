//! The socket API itself (the library, blocking and tokio on one stack)
//! against the Linux kernel over a TAP, in a fresh network namespace with
//! TEST-NET-1 addresses: the kernel is 192.0.2.1, the stack 192.0.2.2.
//! Python plays the kernel's side. Skips loudly without root and
//! /dev/net/tun (fails under CI=true).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[cfg(feature = "tokio")]
use synack::Runtime;
use synack::net::{TcpListener, TcpStream, UdpSocket};
use synack_tap::netns;

mod common;
use common::kernel::{PYTHON, python, skip, tap_runtime};

/// TCP and UDP echo on 192.0.2.1:9000; says "ready" once listening.
const KERNEL_ECHO: &str = r#"
import socket, threading
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("192.0.2.1", 9000))
t.listen(8)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("192.0.2.1", 9000))
def udp():
    while True:
        data, src = u.recvfrom(2048)
        u.sendto(data, src)
def serve(c):
    while True:
        data = c.recv(65536)
        if not data:
            break
        c.sendall(data)
    c.close()
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
while True:
    c, _ = t.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

fn kernel_echo() -> Child {
    let mut child = Command::new(PYTHON)
        .args(["-c", KERNEL_ECHO])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    child
}

#[test]
fn blocking_tokio_and_udp_sockets_talk_to_the_kernel() {
    if skip("blocking_tokio_and_udp_sockets_talk_to_the_kernel") {
        return;
    }
    netns::run_in_fresh(|| {
        let rt = tap_runtime();
        let mut kernel = kernel_echo();

        // Blocking TCP: a round trip, a half-close, the echo's end.
        let mut s = TcpStream::connect(&rt, "192.0.2.1:9000").unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let w = s.try_clone().unwrap();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            (&w).write_all(&sent).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back == data, "the kernel's echo differs");

        // tokio on the same stack.
        #[cfg(feature = "tokio")]
        async_echo(&rt);

        // UDP.
        let u = UdpSocket::bind(&rt, "0.0.0.0:0").unwrap();
        u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        u.send_to(b"datagram", "192.0.2.1:9000").unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = u.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from.to_string().as_str()),
            (&b"datagram"[..], "192.0.2.1:9000")
        );

        // A closed port: refused, as std would say.
        let e = TcpStream::connect(&rt, "192.0.2.1:9001").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");

        let _ = kernel.kill();
        let _ = kernel.wait();
    })
    .unwrap();
}

#[cfg(feature = "tokio")]
fn async_echo(rt: &Runtime) {
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = tokio_rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = synack::tokio::TcpStream::connect(rt, "192.0.2.1:9000")
            .await
            .unwrap();
        s.write_all(b"async hello").await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    });
    assert_eq!(got, b"async hello");
}

/// Connects to 192.0.2.2:7, sends "hi", and reports how the read ended.
const KERNEL_CLIENT: &str = r#"
import socket
s = socket.create_connection(("192.0.2.2", 7), timeout=10)
s.sendall(b"hi")
try:
    print(repr(s.recv(100)), flush=True)
    print(repr(s.recv(100)), flush=True)
except ConnectionResetError:
    print("reset", flush=True)
"#;

#[test]
fn a_kernel_client_sees_data_then_a_reset_from_linger_zero() {
    if skip("a_kernel_client_sees_data_then_a_reset_from_linger_zero") {
        return;
    }
    netns::run_in_fresh(|| {
        let rt = tap_runtime();
        let l = TcpListener::bind(&rt, "0.0.0.0:7").unwrap();
        let client = Command::new(PYTHON)
            .args(["-c", KERNEL_CLIENT])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut s, peer) = l.accept().unwrap();
        assert_eq!(peer.ip().to_string(), "192.0.2.1");
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"bye").unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
        let out = client.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text, "b'bye'\nreset\n");
    })
    .unwrap();
}

/// Connects to 192.0.2.2:7, sends "hi", reads to the end; then prints what
/// came back, the TTLs of every segment synack sent as they were on the
/// wire, and its SYN-ACK's.
const TTL_CLIENT: &str = r#"
c = socket.create_connection(("192.0.2.2", 7), timeout=10)
c.sendall(b"hi")
back = read_all(c)
c.close()
wire.settimeout(0.5)
ttls, syn_ack = set(), None
try:
    while True:
        ip, ihl, tcp = headers(wire.recv(4096))
        if ip[9] == 6 and ip[12:16] == bytes([192, 0, 2, 2]):
            ttls.add(ip[8])
            if tcp[13] & 0x12 == 0x12:
                syn_ack = ip[8]
except socket.timeout:
    pass
print(back, sorted(ttls), syn_ack, flush=True)
"#;

#[test]
fn a_kernel_client_gets_the_ttl_set_on_synacks_listener() {
    // IP_TTL on a listening socket is every accepted connection's, from
    // its SYN-ACK on, as Linux's children clone the listener's.
    if skip("a_kernel_client_gets_the_ttl_set_on_synacks_listener") {
        return;
    }
    netns::run_in_fresh(|| {
        let rt = tap_runtime();
        let l = TcpListener::bind(&rt, "0.0.0.0:7").unwrap();
        l.set_ttl(7).unwrap();
        let client = Command::new(PYTHON)
            .args(["-c", &python(TTL_CLIENT)])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut s, _) = l.accept().unwrap();
        assert_eq!(s.ttl().unwrap(), 7);
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"bye").unwrap();
        drop(s);
        let out = client.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert_eq!(text, "b'bye' [7] 7\n");
    })
    .unwrap();
}

/// Connects to 192.0.2.2:7 and sends 300,000 bytes; then prints the
/// largest window synack offered (scaled by the shift its SYN-ACK gave)
/// as the wire had it, and the SYN-ACK's shift.
const CLAMP_CLIENT: &str = r#"
c = socket.create_connection(("192.0.2.2", 7), timeout=10)
c.sendall(bytes(300000))
c.shutdown(socket.SHUT_WR)
read_all(c)
c.close()
wire.settimeout(0.5)
shift, most = None, 0
try:
    while True:
        ip, ihl, tcp = headers(wire.recv(4096))
        if ip[9] != 6 or ip[12:16] != bytes([192, 0, 2, 2]):
            continue
        window = int.from_bytes(tcp[14:16], "big")
        if tcp[13] & 0x12 == 0x12:
            opts = tcp[20:(tcp[12] >> 4) * 4]
            i = 0
            while i < len(opts):
                if opts[i] in (0, 1):
                    i += 1
                    continue
                if opts[i] == 3:
                    shift = opts[i + 2]
                i += opts[i + 1]
        elif shift is not None:
            most = max(most, window << shift)
except socket.timeout:
    pass
print(shift, most, flush=True)
"#;

#[test]
fn a_kernel_sender_never_sees_a_window_past_the_clamp() {
    // TCP_WINDOW_CLAMP on the listener: its SYN-ACK offers the shift a
    // 20,000-byte window needs (none: ilog2(20000) - 15 < 0, as Linux
    // offers), and no window it sends is larger.
    if skip("a_kernel_sender_never_sees_a_window_past_the_clamp") {
        return;
    }
    netns::run_in_fresh(|| {
        let rt = tap_runtime();
        let l = TcpListener::bind(&rt, "0.0.0.0:7").unwrap();
        l.set_window_clamp(20_000).unwrap();
        assert_eq!(l.window_clamp().unwrap(), 20_000);
        let client = Command::new(PYTHON)
            .args(["-c", &python(CLAMP_CLIENT)])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut s, _) = l.accept().unwrap();
        assert_eq!(s.window_clamp().unwrap(), 20_000);
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), 300_000);
        drop(s);
        let out = client.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        let (shift, most) = text.trim().split_once(' ').unwrap();
        assert_eq!(shift, "0", "{text}");
        let most: u32 = most.parse().unwrap();
        assert!((10_000..=20_000).contains(&most), "{text}");
    })
    .unwrap();
}
