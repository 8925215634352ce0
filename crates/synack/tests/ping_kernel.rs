//! synack's ping sockets against the Linux kernel over a TAP, in a fresh
//! network namespace with TEST-NET addresses: the kernel is 192.0.2.1 on
//! `syn0` and 198.51.100.1 on one end of a veth pair (this machine's
//! kernel has no dummy devices), forwards (`ip_forward` 1, the namespace's
//! own), routes 203.0.113.0/25 to that end and refuses
//! 203.0.113.128/25 (`prohibit`); the stack is 192.0.2.2 with the kernel
//! as its gateway. The kernel answers the stack's echoes, names itself
//! in time exceeded when a request's TTL runs out, and filters the
//! prohibited half, which a connected socket hears as a hard error; UDP
//! probes with IP_RECVERR hear the same hop and the port unreachable of
//! the kernel's far address, as traceroute does. Skips loudly without
//! root, /dev/net/tun, ip or Python (fails under CI=true).

use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use synack::Builder;
use synack::net::{PingEvent, PingSocket, PmtuDiscovery, UdpSocket};

mod common;
use common::kernel::{fresh_namespace, kernel_tap, skip, tool_missing};

const KERNEL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const KERNEL_FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const ROUTED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const PROHIBITED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 200);

fn ip(args: &str) {
    let status = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .expect("ip");
    assert!(status.success(), "ip {args}");
}

fn next(ping: &PingSocket) -> PingEvent {
    let mut buf = [0u8; 2048];
    ping.recv(&mut buf).expect("a reply or an error in time")
}

#[test]
fn the_kernel_answers_names_itself_as_a_hop_and_filters() {
    let test = "the_kernel_answers_names_itself_as_a_hop_and_filters";
    if skip(test) || tool_missing(test, "ip", "-V", "iproute2") {
        return;
    }
    fresh_namespace(|| {
        // The namespace's own sysctl (looked up by the calling thread's).
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        // Time exceeded and port unreachable free of the per-destination
        // limit, whose tokens `prohibit`'s errors share (`ip_error`).
        std::fs::write("/proc/sys/net/ipv4/icmp_ratemask", "0").unwrap();
        let tap = kernel_tap();
        ip("link add far0 type veth peer name far1");
        ip("addr add 198.51.100.1/24 dev far0");
        ip("link set far0 up");
        ip("link set far1 up");
        ip("route add 203.0.113.0/25 dev far0");
        ip("route add prohibit 203.0.113.128/25");
        let rt = Builder::new("192.0.2.2".parse().unwrap(), 24)
            .gateway(KERNEL)
            .start(tap)
            .unwrap();
        let ping = PingSocket::open(&rt).unwrap();
        ping.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();

        // Echoes, on the link and beyond it: the kernel answers for both
        // of its addresses, with its default TTL.
        for (seq, dst) in [(1, KERNEL), (2, KERNEL), (3, KERNEL_FAR)] {
            let data = vec![0xA5; 1000];
            ping.send_echo(dst, seq, &data).unwrap();
            match next(&ping) {
                PingEvent::Reply(r) => {
                    let ident = ping.local_addr().unwrap().1;
                    assert_eq!((r.src, r.ttl, r.ident, r.seq), (dst, 64, ident, seq));
                    assert_eq!(r.len, 8 + data.len());
                }
                other => panic!("{other:?}"),
            }
        }

        // ping -R: a record route of nine slots, read back with the reply
        // by IP_RECVOPTS. Ours first, as the request left; then the
        // kernel's (Linux records itself as it takes the request and again
        // as it sends the reply).
        let mut rr = vec![7, 39, 4];
        rr.resize(39, 0);
        ping.set_ip_options(&rr).unwrap();
        ping.set_recv_ip_options(true).unwrap();
        ping.send_echo(KERNEL, 9, b"route").unwrap();
        match next(&ping) {
            PingEvent::Reply(r) => {
                let o = r.ip_options();
                assert_eq!((o.len(), o[0], o[1]), (40, 7, 39), "{o:?}");
                let recorded: Vec<Ipv4Addr> = o[3..usize::from(o[2]) - 1]
                    .chunks(4)
                    .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                    .collect();
                let us = "192.0.2.2".parse::<Ipv4Addr>().unwrap();
                assert_eq!(recorded, [us, KERNEL, KERNEL]);
            }
            other => panic!("{other:?}"),
        }
        ping.set_ip_options(&[]).unwrap();
        ping.set_recv_ip_options(false).unwrap();

        // TTL 1 to a network the kernel forwards to: its time exceeded,
        // heard by IP_RECVERR, names the hop.
        ping.set_recv_error(true).unwrap();
        ping.set_ttl(1).unwrap();
        ping.send_echo(ROUTED, 4, b"hop").unwrap();
        match next(&ping) {
            PingEvent::Error(report) => {
                assert_eq!(
                    (report.offender, report.dst, report.seq),
                    (KERNEL, ROUTED, 4)
                );
                assert_eq!(report.icmp_type_code(), (11, 0), "time exceeded in transit");
            }
            other => panic!("{other:?}"),
        }

        // A connected socket without IP_RECVERR hears the kernel's
        // filtering (type 3 code 13, a hard error) once.
        let connected = PingSocket::open(&rt).unwrap();
        connected
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        connected.connect(PROHIBITED).unwrap();
        connected.send(&[8, 0, 0, 0, 0, 0, 0, 5]).unwrap();
        let mut buf = [0u8; 64];
        let refused = connected.recv_from(&mut buf).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::HostUnreachable, "{refused}");
        connected
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let after = connected.recv_from(&mut buf).unwrap_err();
        assert_eq!(after.kind(), ErrorKind::WouldBlock, "reported once");

        // traceroute's UDP probes: the hop at TTL 1, then the port
        // unreachable of the kernel's far address at TTL 2.
        let probe = UdpSocket::bind(&rt, "0.0.0.0:0").unwrap();
        probe.set_recv_error(true).unwrap();
        probe
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        probe.set_ttl(1).unwrap();
        probe.send_to(b"probe", (ROUTED, 33434)).unwrap();
        let hop = probe.recv_error().unwrap();
        assert_eq!((hop.offender, hop.icmp_type_code()), (KERNEL, (11, 0)));
        assert_eq!(hop.dst, std::net::SocketAddrV4::new(ROUTED, 33434));
        probe.set_ttl(2).unwrap();
        probe.send_to(b"probe", (KERNEL_FAR, 33435)).unwrap();
        let end = probe.recv_error().unwrap();
        assert_eq!((end.offender, end.icmp_type_code()), (KERNEL_FAR, (3, 3)));

        // RFC 1191 for datagrams: with IP_PMTUDISC_DO a datagram leaves
        // whole with DF; the kernel's link beyond carries 1280, so it
        // answers "fragmentation needed", which lowers the path MTU, and
        // a datagram too big for it is refused from then on (EMSGSIZE).
        ip("link set far0 mtu 1280");
        let udp = UdpSocket::bind(&rt, "0.0.0.0:0").unwrap();
        udp.set_recv_error(true).unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        udp.set_path_mtu_discovery(PmtuDiscovery::Do).unwrap();
        udp.connect((ROUTED, 9)).unwrap();
        assert_eq!(udp.path_mtu().unwrap(), 1500);
        udp.send(&[0; 1400]).unwrap();
        let needed = udp.recv_error().unwrap();
        assert_eq!((needed.offender, needed.icmp_type_code()), (KERNEL, (3, 4)));
        assert_eq!(udp.path_mtu().unwrap(), 1280);
        assert_eq!(rt.path_mtu(ROUTED), Some(1280));
        let refused = udp.send(&[0; 1400]).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(90), "EMSGSIZE: {refused}");
        assert_eq!(udp.send(&[0; 1252]).unwrap(), 1252);
        rt.shutdown();
    });
}
