//! IP_TOS against the Linux kernel over a TAP, in a fresh network namespace
//! with TEST-NET-1 addresses (the kernel 192.0.2.1, the stack 192.0.2.2):
//! the DSCP a listener and its connection set is on every segment the
//! kernel receives from them; a UDP socket's whole TOS byte reaches a
//! kernel socket's IP_RECVTOS, and the byte the kernel's socket sets comes
//! back in `recv_msg`; the kernel's echo reply mirrors a ping's TOS.
//! Skips loudly without root and /dev/net/tun (fails under CI=true).

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use synack::net::{PingEvent, PingSocket, TcpListener, UdpSocket};
use synack_tap::netns;

mod common;
use common::kernel::{PYTHON, python, skip, tap_runtime};

/// Expedited Forwarding (RFC 3246) and AF31 (RFC 2597): DSCP 46 and 26.
const EF: u8 = 46 << 2;
const AF31: u8 = 26 << 2;

/// Connects to 192.0.2.2:7, sends "hi", reads to the end; then prints
/// what came back, the TOS bytes of every segment synack sent as the wire
/// had them, its SYN-ACK's, and that of the segment carrying "bye".
const TOS_CLIENT: &str = r#"
c = socket.create_connection(("192.0.2.2", 7), timeout=10)
c.sendall(b"hi")
back = read_all(c)
c.close()
wire.settimeout(0.5)
seen, syn_ack, bye = set(), None, None
try:
    while True:
        ip, ihl, tcp = headers(wire.recv(4096))
        if ip[9] == 6 and ip[12:16] == bytes([192, 0, 2, 2]):
            seen.add(ip[1])
            if tcp[13] & 0x12 == 0x12:
                syn_ack = ip[1]
            if tcp[(tcp[12] >> 4) * 4:].startswith(b"bye"):
                bye = ip[1]
except socket.timeout:
    pass
print(back, sorted(seen), syn_ack, bye, flush=True)
"#;

#[test]
fn a_kernel_client_sees_the_dscp_of_synacks_listener_and_connection() {
    // IP_TOS on a listening socket is every accepted connection's, from
    // its SYN-ACK on (Linux's children clone the listener's `tos`); the
    // connection's own setting takes over from its next segment.
    if skip("a_kernel_client_sees_the_dscp_of_synacks_listener_and_connection") {
        return;
    }
    netns::run_in_fresh(|| {
        let rt = tap_runtime();
        let l = TcpListener::bind(&rt, "0.0.0.0:7").unwrap();
        // The ECN bits are TCP's: ignored on a stream socket.
        l.set_tos(u32::from(EF | 0b11)).unwrap();
        assert_eq!(l.tos().unwrap(), u32::from(EF));
        let client = Command::new(PYTHON)
            .args(["-c", &python(TOS_CLIENT)])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut s, _) = l.accept().unwrap();
        assert_eq!(s.tos().unwrap(), u32::from(EF));
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).unwrap();
        s.set_tos(u32::from(AF31)).unwrap();
        s.write_all(b"bye").unwrap();
        drop(s);
        let out = client.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        // Sorted: AF31 (0x68) before EF (0xb8).
        assert_eq!(text, format!("b'bye' [{AF31}, {EF}] {EF} {AF31}\n"));
        assert!(tos_above_a_byte_is_refused(&l));
    })
    .unwrap();
}

/// A Linux client with IP_TOS set (AF31 and ECT(0)) connects to a port
/// nobody listens on: prints how connect ended and the TOS byte of the
/// reset synack sent.
const REFUSED_CLIENT: &str = r#"
c = socket.socket()
c.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x6a)
c.settimeout(10)
try:
    c.connect(("192.0.2.2", 9))
    how = "connected"
except ConnectionRefusedError:
    how = "refused"
rst = None
wire.settimeout(0.5)
try:
    while rst is None:
        ip, ihl, tcp = headers(wire.recv(4096))
        if ip[9] == 6 and ip[12:16] == bytes([192, 0, 2, 2]) and tcp[13] & 0x04:
            rst = ip[1]
except socket.timeout:
    pass
print(how, rst, flush=True)
"#;

#[test]
fn a_reset_to_no_connection_carries_the_dscp_it_answers() {
    // Linux's `tcp_v4_send_reset` replies with the segment's TOS, its ECN
    // bits cleared; so does synack's reset for no connection.
    if skip("a_reset_to_no_connection_carries_the_dscp_it_answers") {
        return;
    }
    netns::run_in_fresh(|| {
        let _rt = tap_runtime();
        let out = Command::new(PYTHON)
            .args(["-c", &python(REFUSED_CLIENT)])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert_eq!(text, format!("refused {AF31}\n"));
    })
    .unwrap();
}

/// A TOS is one byte: more is a clear error, not a silent truncation.
fn tos_above_a_byte_is_refused(l: &TcpListener) -> bool {
    let e = l.set_tos(256).unwrap_err();
    e.kind() == std::io::ErrorKind::InvalidInput && e.to_string().contains("TOS")
}

/// A UDP socket on 192.0.2.1:9000 with IP_RECVTOS: prints the TOS byte of
/// the one datagram it gets, then answers it with IP_TOS 0x2a set.
const UDP_KERNEL: &str = r#"
IP_RECVTOS = getattr(socket, "IP_RECVTOS", 13)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
u.bind(("192.0.2.1", 9000))
print("ready", flush=True)
u.settimeout(10)
data, anc, flags, src = u.recvmsg(2048, 64)
tos = [d[0] for level, kind, d in anc if level == socket.IPPROTO_IP and kind == socket.IP_TOS]
print(data, tos, flush=True)
u.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x2a)
u.sendto(data.upper(), src)
"#;

#[test]
fn udp_and_ping_tos_cross_the_kernel_both_ways() {
    if skip("udp_and_ping_tos_cross_the_kernel_both_ways") {
        return;
    }
    netns::run_in_fresh(|| {
        let rt = tap_runtime();
        let mut kernel = Command::new(PYTHON)
            .args(["-c", &python(UDP_KERNEL)])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(kernel.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line.trim(), "ready");

        // A datagram socket's whole byte, its ECN field (ECT(1)) too.
        let u = UdpSocket::bind(&rt, "0.0.0.0:0").unwrap();
        u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        u.set_tos(u32::from(EF | 0b01)).unwrap();
        assert_eq!(u.tos().unwrap(), u32::from(EF | 0b01));
        u.send_to(b"marked", "192.0.2.1:9000").unwrap();
        line.clear();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line, format!("b'marked' [{}]\n", EF | 0b01));
        let mut buf = [0u8; 64];
        let got = u.recv_msg(&mut buf).unwrap();
        assert_eq!(&buf[..got.len], b"MARKED");
        assert_eq!(got.tos, 0x2a, "the kernel socket's IP_TOS");
        assert_eq!(got.dst, Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!((got.ttl, got.truncated), (64, false));
        assert!(kernel.wait().unwrap().success());

        // The kernel's echo reply mirrors the request's TOS byte.
        let ping = PingSocket::open(&rt).unwrap();
        ping.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        ping.set_tos(u32::from(AF31)).unwrap();
        assert_eq!(ping.tos().unwrap(), u32::from(AF31));
        ping.send_echo(Ipv4Addr::new(192, 0, 2, 1), 1, b"qos")
            .unwrap();
        let mut buf = [0u8; 128];
        match ping.recv(&mut buf).unwrap() {
            PingEvent::Reply(r) => assert_eq!(
                (r.src, r.seq, r.tos),
                (Ipv4Addr::new(192, 0, 2, 1), 1, AF31)
            ),
            other => panic!("expected an echo reply, got {other:?}"),
        }
    })
    .unwrap();
}
