//! RFC 4821 path MTU probing against the Linux kernel over a TAP, in a
//! fresh network namespace with TEST-NET-1 addresses (the kernel is
//! 192.0.2.1, the stack 192.0.2.2): an nftables rule in that namespace
//! drops every datagram over 1,300 bytes coming in, and no ICMP error goes
//! back (a PMTU black hole, RFC 2923 §2.1). synack with `tcp_mtu_probing`
//! 2 sends 3 MB to a kernel server through it: its segments start at the
//! 1,024-byte base MSS, probes above 1,300 bytes vanish, and the search
//! ends at the path's 1,300; the kernel receives every byte. Skips loudly
//! without root, /dev/net/tun or `nft` (fails under CI=true).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use synack::Builder;
use synack::net::TcpStream;
use synack_proto::Config;

mod common;
use common::kernel::{PYTHON, fresh_namespace, kernel_tap, skip, tool_missing};

const BYTES: usize = 3_000_000;

/// Accepts one connection, reads everything until EOF, and answers on it
/// with the byte count and the sum of the bytes, as one line.
const KERNEL_SERVER: &str = r#"
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("192.0.2.1", 9000))
l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
c.settimeout(60)
n = total = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    n += len(b)
    total = (total + sum(b)) % (1 << 32)
c.sendall(f"{n} {total}\n".encode())
c.close()
"#;

/// The black hole: datagrams over 1,300 bytes to this namespace's kernel
/// are dropped before IP sees them, so no "fragmentation needed" goes out.
const BLACK_HOLE: &str = "table inet plpmtud {
    chain input {
        type filter hook input priority 0;
        ip length > 1300 drop
    }
}
";

#[test]
fn synack_finds_a_1300_byte_black_hole_to_the_kernel_by_probing() {
    let test = "synack_finds_a_1300_byte_black_hole_to_the_kernel_by_probing";
    if skip(test) || tool_missing(test, "nft", "--version", "nftables") {
        return;
    }
    fresh_namespace(|| {
        let tap = kernel_tap();
        let nft = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn();
        let mut nft = nft.unwrap();
        nft.stdin
            .take()
            .unwrap()
            .write_all(BLACK_HOLE.as_bytes())
            .unwrap();
        assert!(nft.wait().unwrap().success(), "nft -f: {BLACK_HOLE}");
        let mut config = Config::default();
        config.set_sysctl("tcp_mtu_probing", "2").unwrap();
        let rt = Builder::new("192.0.2.2".parse().unwrap(), 24)
            .config(config)
            .start(tap)
            .unwrap();
        let mut server = Command::new(PYTHON)
            .args(["-c", KERNEL_SERVER])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = server.stdout.take().unwrap();
        let mut line = [0u8; 10];
        out.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"listening\n");

        let mut s = TcpStream::connect(&rt, "192.0.2.1:9000").unwrap();
        let first = s.info().unwrap();
        assert_eq!(
            (first.snd_mss, first.pmtu),
            (1024, 1500),
            "the base MSS first"
        );
        let data: Vec<u8> = (0..BYTES).map(|i| (i * 7 + i / 1000) as u8).collect();
        s.write_all(&data).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(server.wait().unwrap().success());
        let sum = data.iter().fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
        assert_eq!(
            answer.trim(),
            format!("{BYTES} {sum}"),
            "the kernel got it all"
        );
        // The segments settled on the path's MTU: 1,300 minus 52 bytes of
        // headers and timestamps (the search ends within the first
        // megabyte); the route's MTU is still the TAP's.
        let info = s.info().unwrap();
        assert_eq!((info.snd_mss, info.pmtu), (1248, 1500), "{info:?}");
        let ext = rt.stats().stack.tcp_ext;
        assert!(ext.tcp_mtup_fail >= 1, "a probe above 1,300 was lost");
        assert!(ext.tcp_mtup_success >= 1);
        eprintln!(
            "mss {} pmtu {}; probes passed {} failed {}; timeouts {}",
            info.snd_mss, info.pmtu, ext.tcp_mtup_success, ext.tcp_mtup_fail, ext.tcp_timeouts
        );
    });
}
