//! TCP's urgent data and MSG_PEEK against the Linux kernel over a TAP, in
//! a fresh network namespace (the kernel at 192.0.2.1, the stack at
//! 192.0.2.2): Python's `send(MSG_OOB)` reaches the stack's
//! `recv_out_of_band` and the stack's `send_out_of_band` the kernel's
//! `recv(MSG_OOB)`, with SIOCATMARK on both sides and the kernel's
//! `select` seeing the urgent byte as an exceptional condition. Skips
//! loudly without root and /dev/net/tun (fails under CI=true).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use synack::net::TcpStream;
use synack_tap::netns;

mod common;
use common::kernel::{PYTHON, python, skip, tap_runtime};

/// The kernel's side: accepts one connection on 192.0.2.1:9100, sends
/// "hello" with MSG_OOB and then "world", then reads what the stack sends
/// back with MSG_OOB and prints what it saw, line by line.
const KERNEL: &str = r#"
import array, fcntl, select, time
SIOCATMARK = 0x8905
def at_mark(c):
    buf = array.array("i", [0])
    fcntl.ioctl(c.fileno(), SIOCATMARK, buf)
    return buf[0]
# Frames the kernel sends reach only ETH_P_ALL packet sockets.
out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
out.bind(("syn0", 0))
out.settimeout(20)
l = socket.socket()
l.bind(("192.0.2.1", 9100))
l.listen(1)
print("ready", flush=True)
c, _ = l.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.send(b"hello", socket.MSG_OOB)
# The URG segment on the wire, as the stack receives it.
while True:
    ip, ihl, _ = headers(out.recv(65536))
    tcp = ip[ihl:struct.unpack("!H", ip[2:4])[0]]
    if ip[9] == 6 and ip[16:20] == socket.inet_aton("192.0.2.2") and len(tcp) > (tcp[12] >> 4) * 4:
        print("sent flags %#x urg %d" % (tcp[13], struct.unpack("!H", tcp[18:20])[0]), flush=True)
        break
time.sleep(0.2)
c.send(b"world")
# The stack answers "abc!" with "!" urgent, then "tail".
_, _, exc = select.select([], [], [c], 10)
print("exceptional", len(exc), flush=True)
time.sleep(0.3)
print("mark", at_mark(c), flush=True)
print("oob", c.recv(1, socket.MSG_OOB), flush=True)
print("read", c.recv(100), flush=True)
print("mark", at_mark(c), flush=True)
c.settimeout(10)
print("read", c.recv(100), flush=True)
print("done", flush=True)
"#;

#[test]
fn urgent_bytes_cross_both_ways_with_the_kernel() {
    if skip("urgent_bytes_cross_both_ways_with_the_kernel") {
        return;
    }
    netns::run_in_fresh(|| {
        let rt = tap_runtime();
        let mut kernel = Command::new(PYTHON)
            .args(["-c", &python(KERNEL)])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(kernel.stdout.take().unwrap()).lines();
        let mut next = || {
            lines
                .next()
                .expect("a line from the kernel's side")
                .unwrap()
        };
        assert_eq!(next(), "ready");
        let mut s = TcpStream::connect(&rt, "192.0.2.1:9100").unwrap();
        s.set_nodelay(true).unwrap();
        assert_eq!(
            next(),
            "sent flags 0x38 urg 5",
            "URG|ACK|PSH, pointer after the o"
        );

        // The kernel's "hello" with its "o" urgent: the byte waits out of
        // line, a read stops before it, a peek sees what a read would.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !s.has_out_of_band().unwrap() {
            assert!(Instant::now() < deadline, "no urgent byte arrived");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!s.at_mark().unwrap());
        let mut oob = [0u8; 1];
        assert_eq!(s.recv_out_of_band(&mut oob).unwrap(), 1);
        assert_eq!(&oob, b"o");
        let e = s.recv_out_of_band(&mut oob).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "read once: {e}");
        let mut buf = [0u8; 64];
        assert_eq!(s.peek(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"hell");
        assert_eq!(s.read(&mut buf).unwrap(), 4, "the read stops at the mark");
        assert_eq!(&buf[..4], b"hell");
        assert!(s.at_mark().unwrap());
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"world", "the urgent byte skipped");
        assert!(!s.at_mark().unwrap());

        // The stack's urgent "!" for the kernel, then more data.
        assert_eq!(s.send_out_of_band(b"abc!").unwrap(), 4);
        std::thread::sleep(Duration::from_millis(500));
        s.write_all(b"tail").unwrap();
        let rest: Vec<String> = std::iter::from_fn(|| lines.next().map(Result::unwrap)).collect();
        assert_eq!(
            rest,
            [
                "exceptional 1",
                "mark 0",
                "oob b'!'",
                "read b'abc'",
                "mark 1",
                "read b'tail'",
                "done",
            ],
            "the kernel's view of the stack's urgent data"
        );
        let _ = kernel.kill();
        let _ = kernel.wait();
    })
    .unwrap();
}
