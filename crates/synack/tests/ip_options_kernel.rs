//! IP options against the Linux kernel over a TAP, in a fresh network
//! namespace with TEST-NET-1 addresses (the kernel is 192.0.2.1, the stack
//! 192.0.2.2): the kernel's `ping -R` (record route) and `ping -T tsonly`
//! (timestamps) to synack, whose echo replies carry the options on with its
//! own entry (RFC 1122 §3.2.2.6); and a synack UDP socket's IP_OPTIONS as
//! a kernel socket receives them (IP_RECVOPTS), in one datagram and in a
//! fragmented one; source routes both ways; and TCP with IP options: a
//! synack connection by a source route to a kernel server, and a kernel
//! connection with a record route that synack answers with it (RFC 1122
//! §4.2.3.8). Skips loudly without root, /dev/net/tun or ping (fails under
//! CI=true).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;
use common::kernel::{PYTHON, fresh_namespace, python, skip, tap_runtime_with, tool_missing};

/// The kernel's `ping -c 1` to synack with `options`; its output.
fn ping(options: &[&str]) -> String {
    let out = Command::new("ping")
        .args(options)
        .args(["-c", "1", "-W", "5", "192.0.2.2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ping {options:?}: {text}");
    eprintln!("ping {options:?}:\n{text}");
    text
}

/// The lines of ping's report of an option (`RR:` or `TS:`): the first
/// line's value and those of the indented lines after it.
fn option_lines(text: &str, label: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(label));
    let Some(first) = lines.next() else {
        return Vec::new();
    };
    let mut values = vec![first[label.len()..].trim().to_string()];
    values.extend(
        lines
            .take_while(|l| l.starts_with('\t') && !l.trim().is_empty())
            .map(|l| l.trim().to_string()),
    );
    values
}

/// Runs `body` with a synack runtime at 192.0.2.2 on a TAP in a fresh
/// namespace, the kernel at 192.0.2.1 (`common::kernel::tap_runtime`).
fn in_fresh_namespace(body: impl FnOnce(&synack::Runtime) + Send) {
    in_fresh_namespace_routing(false, body);
}

/// [`in_fresh_namespace`]; with `source_routes`, both ends take source
/// routes (synack's `accept_source_route`, the kernel's for all devices and
/// the TAP, both needed) and the kernel has a second address, 192.0.2.3,
/// to be a route's hop.
fn in_fresh_namespace_routing(source_routes: bool, body: impl FnOnce(&synack::Runtime) + Send) {
    fresh_namespace(|| {
        let config = synack_proto::Config {
            accept_source_route: source_routes,
            ..Default::default()
        };
        let rt = tap_runtime_with(config);
        if source_routes {
            // Net sysctls are the calling thread's namespace's.
            for dev in ["all", "syn0"] {
                let path = format!("/proc/sys/net/ipv4/conf/{dev}/accept_source_route");
                std::fs::write(path, "1").unwrap();
            }
            let status = Command::new("ip")
                .args(["addr", "add", "192.0.2.3/24", "dev", "syn0"])
                .status()
                .unwrap();
            assert!(status.success());
        }
        body(&rt);
    });
}

#[test]
fn the_kernels_ping_records_the_route_and_timestamps_through_synack() {
    let test = "the_kernels_ping_records_the_route_and_timestamps_through_synack";
    if skip(test) || tool_missing(test, "ping", "-V", "iputils-ping") {
        return;
    }
    in_fresh_namespace(|rt| {
        // Record route: the kernel writes itself going out, synack itself
        // in the reply, the kernel itself again on receipt.
        let text = ping(&["-R"]);
        let route = option_lines(&text, "RR:");
        assert_eq!(
            route,
            ["192.0.2.1", "192.0.2.2", "192.0.2.1"],
            "the round trip's route: {text}"
        );

        // Timestamps only: the kernel's going out, synack's (milliseconds
        // since midnight UT, from the runtime's time of day), the
        // kernel's on receipt. ping prints the first absolute and the
        // others as differences from the one before.
        let text = ping(&["-T", "tsonly"]);
        let stamps = option_lines(&text, "TS:");
        assert_eq!(stamps.len(), 3, "three timestamps: {text}");
        assert!(stamps[0].ends_with("absolute"), "{text}");
        for delta in &stamps[1..] {
            let ms: i64 = delta.parse().unwrap_or_else(|_| panic!("{delta}: {text}"));
            // The stack's clock and the kernel's agree to a few
            // milliseconds, and the round trip is short: a non-standard
            // (high bit) value would be billions away.
            assert!(
                ms.abs() < 1_000,
                "synack's timestamp is the time of day: {text}"
            );
        }

        let stats = rt.stats().stack;
        assert_eq!(stats.icmp.out_echo_reps, 2);
        assert_eq!(stats.ip.in_hdr_errors, 0);
    });
}

/// Starts a kernel-side Python `script` that prints "listening" once its
/// socket is bound; the process and the rest of its output's lines.
fn listening(
    script: &str,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "listening");
    (child, lines)
}

/// Receives two datagrams with IP_RECVOPTS and prints, for each, its length
/// and its IP options in hex (as the kernel saw them: it records itself in
/// a record route as it receives).
const KERNEL_RECEIVER: &str = r#"
import socket
IP_RECVOPTS = getattr(socket, "IP_RECVOPTS", 6)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_RECVOPTS, 1)
s.bind(("192.0.2.1", 9000))
s.settimeout(20)
print("listening", flush=True)
for _ in range(2):
    data, anc, flags, addr = s.recvmsg(8192, socket.CMSG_SPACE(40))
    opts = b"".join(d for (level, kind, d) in anc if level == socket.IPPROTO_IP and kind == IP_RECVOPTS)
    print(len(data), sum(data) % 65536, opts.hex(), flush=True)
"#;

#[test]
fn the_kernel_receives_a_synack_sockets_ip_options() {
    let test = "the_kernel_receives_a_synack_sockets_ip_options";
    if skip(test) {
        return;
    }
    in_fresh_namespace(|rt| {
        let (mut receiver, mut lines) = listening(KERNEL_RECEIVER);

        let socket = synack::net::UdpSocket::bind(rt, "192.0.2.2:5000").unwrap();
        // An empty record route of two slots.
        socket
            .set_ip_options(&[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0])
            .unwrap();
        let small = b"with options".to_vec();
        // Three fragments at MTU 1500: the options in the first only.
        let large: Vec<u8> = (0..4000u32).map(|i| (i * 13 + i / 7) as u8).collect();
        for data in [&small, &large] {
            socket.send_to(data, "192.0.2.1:9000").unwrap();
        }
        let sum = |d: &[u8]| d.iter().map(|&b| u32::from(b)).sum::<u32>() % 65536;
        // The route as the kernel holds it: synack's entry (as it sent),
        // the kernel's (as it received), the pointer past both; padded.
        let route = "070b0cc0000202c000020100";
        for data in [&small, &large] {
            let line = lines.next().unwrap().unwrap();
            assert_eq!(
                line,
                format!("{} {} {route}", data.len(), sum(data)),
                "{line}"
            );
        }
        assert!(receiver.wait().unwrap().success());
        // Refused, with the reason: a source route as received, not as an
        // application writes one (its pointer past the first slot).
        let e = socket
            .set_ip_options(&[131, 7, 8, 198, 51, 100, 1])
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("malformed at byte 2"), "{e}");
    });
}

/// Sends one datagram from a socket with IP_OPTIONS (an empty record route
/// of two slots) to synack's port 7000.
const KERNEL_SENDER: &str = r#"
import socket
IP_OPTIONS = getattr(socket, "IP_OPTIONS", 4)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_OPTIONS, bytes([7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
s.bind(("192.0.2.1", 9001))
s.sendto(b"from the kernel", ("192.0.2.2", 7000))
"#;

#[test]
fn a_synack_socket_receives_the_kernels_ip_options() {
    let test = "a_synack_socket_receives_the_kernels_ip_options";
    if skip(test) {
        return;
    }
    in_fresh_namespace(|rt| {
        let socket = synack::net::UdpSocket::bind(rt, "192.0.2.2:7000").unwrap();
        socket.set_recv_ip_options(true).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let status = Command::new(PYTHON)
            .args(["-c", KERNEL_SENDER])
            .status()
            .unwrap();
        assert!(status.success());
        let mut buf = [0u8; 64];
        let (n, from, options) = socket.recv_from_with_ip_options(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"from the kernel");
        assert_eq!(from, "192.0.2.1:9001".parse().unwrap());
        // The kernel recorded itself as it sent; synack passes the options
        // up as they arrived (RFC 1122 §4.1.3.2).
        assert_eq!(options, [7, 11, 8, 192, 0, 2, 1, 0, 0, 0, 0, 0]);
    });
}

/// Receives one datagram on 192.0.2.1:9000 with IP_RECVOPTS and prints its
/// payload and its options in hex.
const ROUTED_RECEIVER: &str = r#"
import socket
IP_RECVOPTS = getattr(socket, "IP_RECVOPTS", 6)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_RECVOPTS, 1)
s.bind(("192.0.2.1", 9000))
s.settimeout(20)
print("listening", flush=True)
data, anc, flags, addr = s.recvmsg(8192, socket.CMSG_SPACE(40))
opts = b"".join(d for (level, kind, d) in anc if level == socket.IPPROTO_IP and kind == IP_RECVOPTS)
print(data.decode(), addr[0], opts.hex(), flush=True)
"#;

#[test]
fn the_kernel_takes_a_datagram_synack_sends_by_a_source_route() {
    // RFC 1122 §3.2.1.8(c): a host originates source routes. synack's
    // socket routes by way of 192.0.2.3 (the kernel's second address):
    // the datagram goes to 192.0.2.3 with 192.0.2.1 in the route's last
    // slot, and its UDP checksum covers 192.0.2.1, where the kernel
    // delivers it once it has passed its own hop.
    let test = "the_kernel_takes_a_datagram_synack_sends_by_a_source_route";
    if skip(test) {
        return;
    }
    in_fresh_namespace_routing(true, |rt| {
        let (mut receiver, mut lines) = listening(ROUTED_RECEIVER);
        let socket = synack::net::UdpSocket::bind(rt, "192.0.2.2:5001").unwrap();
        socket.set_ip_options(&[131, 7, 4, 192, 0, 2, 3]).unwrap();
        socket.send_to(b"routed", "192.0.2.1:9000").unwrap();
        let line = lines.next().unwrap().unwrap();
        eprintln!("kernel: {line}");
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(&fields[..2], ["routed", "192.0.2.2"], "{line}");
        // The loose route as the kernel got it: kind 131, 7 octets, the
        // final destination in its slot.
        assert!(fields[2].starts_with("8307"), "{line}");
        assert!(fields[2].contains("c0000201"), "{line}");
        assert!(receiver.wait().unwrap().success());
        assert_eq!(rt.stats().stack.ip.in_hdr_errors, 0);
    });
}

/// Sends an echo request from 192.0.2.1 to synack as if it had come by way
/// of 192.0.2.3 (a loose route with that hop recorded, the pointer past
/// it; a raw IP socket writes the header), then prints the echo reply's
/// destination on the wire (read off the TAP), then as delivered: its
/// source, destination, IP options in hex and data.
const ROUTED_PING: &str = r#"
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x77, 1) + b"by route"
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
opts = bytes([131, 7, 8, 192, 0, 2, 3, 0])
hdr = struct.pack("!BBHHHBBH4s4s", 0x47, 0, 28 + len(icmp), 1, 0, 64, 1, 0,
                  socket.inet_aton("192.0.2.1"), socket.inet_aton("192.0.2.2")) + opts
def reply(pkt):
    ihl = (pkt[0] & 15) * 4
    ic = pkt[ihl:]
    return ihl if ic[0] == 0 and struct.unpack("!H", ic[4:6])[0] == 0x77 else None
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
r.settimeout(10)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(hdr + icmp, ("192.0.2.2", 0))
while True:
    frame, addr = wire.recvfrom(2048)
    if addr[2] != socket.PACKET_OUTGOING and frame[23] == 1 and reply(frame[14:]):
        print(socket.inet_ntoa(frame[30:34]), flush=True)
        break
while True:
    pkt = r.recv(2048)
    ihl = reply(pkt)
    if ihl:
        print(socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), pkt[20:ihl].hex(), pkt[ihl + 8:].decode(), flush=True)
        break
"#;

#[test]
fn synack_answers_a_source_routed_ping_back_along_the_route() {
    // RFC 1122 §3.2.2.6: the reply to an echo request that came by a
    // source route goes back along it reversed: to 192.0.2.3 first, with
    // 192.0.2.1 to come, which the kernel passes through to its socket.
    let test = "synack_answers_a_source_routed_ping_back_along_the_route";
    if skip(test) {
        return;
    }
    in_fresh_namespace_routing(true, |rt| {
        let out = Command::new(PYTHON)
            .args(["-c", &python(ROUTED_PING)])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("kernel: {text}");
        let mut lines = text.lines();
        // On the wire, to the route's first hop back.
        assert_eq!(lines.next(), Some("192.0.2.3"), "{text}");
        // Delivered to 192.0.2.1 once the kernel passed its own hop.
        let fields: Vec<&str> = lines.next().unwrap_or("").splitn(4, ' ').collect();
        assert_eq!(fields.len(), 4, "{text}");
        assert_eq!(fields[..2], ["192.0.2.2", "192.0.2.1"], "{text}");
        // Loose route, 7 octets, the way on: 192.0.2.1.
        assert!(fields[2].starts_with("8307"), "{text}");
        assert!(fields[2].contains("c0000201"), "{text}");
        assert_eq!(fields[3], "by route");
        let stats = rt.stats().stack;
        assert_eq!(stats.icmp.out_echo_reps, 1);
        assert_eq!(stats.ip.in_source_routed, 0);
    });
}

// ---- TCP -------------------------------------------------------------------------

/// A kernel server on 192.0.2.1:9100: prints the first SYN to it on the
/// wire (its destination and IP options, as synack wrote them), then what
/// `getsockopt(IP_OPTIONS)` says on the accepted socket (the kernel's
/// answer to the SYN's options), reads until the end and sends the bytes
/// back reversed; then how many segments to it it saw on the wire, how
/// many of those went elsewhere than 192.0.2.3 or without the route, and
/// the longest.
const ROUTED_SERVER: &str = r#"
wire.settimeout(2)
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("192.0.2.1", 9100))
srv.listen(1)
srv.settimeout(20)
seen = {"syn": None, "n": 0, "off": 0, "longest": 0}
syn_seen = threading.Event()
done = threading.Event()
def sniff():
    # Until the wire stays quiet after the transfer: the frames still
    # queued when it ends are counted too (a busy machine leaves many).
    while True:
        try:
            frame, addr = wire.recvfrom(65536)
        except socket.timeout:
            if done.is_set():
                break
            continue
        ip, ihl, tcp = headers(frame)
        if ip[9] != 6 or struct.unpack("!H", tcp[2:4])[0] != 9100:
            continue
        dst, opts = socket.inet_ntoa(ip[16:20]), ip[20:ihl].hex()
        if tcp[13] & 0x02 and seen["syn"] is None:
            seen["syn"] = (dst, opts)
            syn_seen.set()
        seen["n"] += 1
        seen["off"] += dst != "192.0.2.3" or opts != "830704c000020100"
        seen["longest"] = max(seen["longest"], len(ip))
t = threading.Thread(target=sniff, daemon=True)
t.start()
print("listening", flush=True)
c, peer = srv.accept()
c.settimeout(20)
syn_seen.wait(10)
print("syn", *(seen["syn"] or ("none", "")), flush=True)
print("peer", peer[0], c.getsockopt(socket.IPPROTO_IP, IP_OPTIONS, 40).hex(), flush=True)
data = read_all(c)
c.sendall(data[::-1])
c.close()
done.set()
t.join()
print("done", len(data), seen["n"] > 100, seen["off"], seen["longest"], flush=True)
"#;

#[test]
fn the_kernel_takes_a_synack_connection_by_a_source_route() {
    // RFC 1122 §4.2.3.8: an application opens a connection with a source
    // route. synack's goes by way of 192.0.2.3 (the kernel's second
    // address): its SYN leaves for 192.0.2.3 with 192.0.2.1 in the route's
    // last slot, and every segment after it the same way, each with room
    // made for the 8 bytes of options.
    let test = "the_kernel_takes_a_synack_connection_by_a_source_route";
    if skip(test) {
        return;
    }
    in_fresh_namespace_routing(true, |rt| {
        use std::io::{Read, Write};
        let (mut server, mut lines) = listening(&python(ROUTED_SERVER));
        let route = [131, 7, 4, 192, 0, 2, 3];
        let mut stream =
            synack::net::TcpStream::connect_with_ip_options(rt, "192.0.2.1:9100", &route).unwrap();
        let syn = lines.next().unwrap().unwrap();
        eprintln!("kernel: {syn}");
        assert_eq!(syn, "syn 192.0.2.3 830704c000020100");
        // The kernel keeps no route back: it passed its own hop inside
        // itself, recording nothing to reverse, and answers straight back.
        let peer = lines.next().unwrap().unwrap();
        eprintln!("kernel: {peer}");
        assert_eq!(peer.trim_end(), "peer 192.0.2.2");
        assert_eq!(stream.ip_options().unwrap(), [&route[..], &[0]].concat());
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        stream.write_all(&data).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        stream.read_to_end(&mut back).unwrap();
        assert!(
            back.iter().rev().eq(data.iter()),
            "{} bytes back",
            back.len()
        );
        // Every segment by the route, the largest filling the MTU.
        assert_eq!(lines.next().unwrap().unwrap(), "done 200000 True 0 1500");
        assert!(server.wait().unwrap().success());
        let stats = rt.stats().stack;
        assert_eq!(stats.ip.in_hdr_errors, 0);
        assert_eq!(stats.tcp.in_csum_errors, 0);
    });
}

/// A kernel client with a record route of two slots on its socket
/// (IP_OPTIONS on TCP): connects to synack's port 9200, prints synack's
/// SYN-ACK's IP options as they came off the wire, sends 5000 bytes, and
/// prints how many came back.
const RECORDING_CLIENT: &str = r#"
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
c.setsockopt(socket.IPPROTO_IP, IP_OPTIONS, bytes([7, 11, 4] + [0] * 9))
c.settimeout(20)
c.connect(("192.0.2.2", 9200))
while True:
    frame, addr = wire.recvfrom(4096)
    ip, ihl, tcp = headers(frame)
    if ip[9] == 6 and struct.unpack("!H", tcp[0:2])[0] == 9200 and tcp[13] & 0x12 == 0x12:
        print("synack", ip[20:ihl].hex(), flush=True)
        break
c.sendall(bytes(range(250)) * 20)
c.shutdown(socket.SHUT_WR)
back = read_all(c)
print("back", len(back), back == bytes(range(250)) * 20, flush=True)
"#;

#[test]
fn synack_answers_a_kernel_connection_with_its_record_route() {
    // Linux keeps a passive open's answer to its SYN's options
    // (`tcp_v4_save_options`), as synack does: the record route the kernel
    // sends on every segment comes back on synack's, synack's own entry
    // added in the slot after the kernel's.
    let test = "synack_answers_a_kernel_connection_with_its_record_route";
    if skip(test) {
        return;
    }
    in_fresh_namespace(|rt| {
        use std::io::{Read, Write};
        let listener = synack::net::TcpListener::bind(rt, "192.0.2.2:9200").unwrap();
        let client = Command::new(PYTHON)
            .args(["-c", &python(RECORDING_CLIENT)])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        // The kernel recorded itself as it sent the SYN.
        assert_eq!(
            stream.ip_options().unwrap(),
            [7, 11, 8, 192, 0, 2, 1, 0, 0, 0, 0, 0]
        );
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), 5000);
        stream.write_all(&got).unwrap();
        drop(stream);
        let out = client.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!("kernel: {text}");
        assert!(out.status.success(), "{text}");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("synack 070b0cc0000201c000020200"));
        assert_eq!(lines.next(), Some("back 5000 True"));
        assert_eq!(rt.stats().stack.tcp.in_csum_errors, 0);
    });
}
