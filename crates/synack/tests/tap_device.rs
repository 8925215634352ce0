//! The device stack against the Linux kernel: `Capture<Impaired<Tap>>`
//! through the `Device` trait only, in a fresh network namespace with
//! TEST-NET-1 addresses, and the pcap it wrote read back by tcpdump.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv4Type, NetSlice, PacketBuilder,
    SlicedPacket, TransportSlice,
};
use synack::{Capture, Device, ImpairConfig, Impaired, Impairment, Medium, Tap};
use synack_tap::netns;

const KERNEL_IP: [u8; 4] = [192, 0, 2, 1];
const PEER_IP: [u8; 4] = [192, 0, 2, 2];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// What the test saw from the kernel.
#[derive(Debug, PartialEq)]
enum Seen {
    Udp(Vec<u8>),
    EchoReply(Vec<u8>),
}

/// Receives through the `Device` trait until `want` matches, answering ARP
/// requests for the peer. Bounded by time and frame count.
fn pump<D: Device>(
    dev: &mut D,
    wait: impl Fn(&D, Duration) -> bool,
    want: impl Fn(&Seen) -> bool,
) -> Seen {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; dev.max_frame_len()];
    for _ in 0..10_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out");
        let Some(n) = dev.recv(&mut buf).unwrap() else {
            wait(dev, left);
            continue;
        };
        let Ok(p) = SlicedPacket::from_ethernet(&buf[..n]) else {
            continue;
        };
        match (&p.net, &p.transport) {
            (Some(NetSlice::Arp(arp)), _)
                if arp.operation() == ArpOperation::REQUEST
                    && arp.target_protocol_addr() == PEER_IP =>
            {
                let mac: [u8; 6] = arp.sender_hw_addr().try_into().unwrap();
                let reply = ArpPacket::new(
                    ArpHardwareId::ETHERNET,
                    EtherType::IPV4,
                    ArpOperation::REPLY,
                    &PEER_MAC,
                    &PEER_IP,
                    &mac,
                    &KERNEL_IP,
                )
                .unwrap();
                let mut frame = Vec::new();
                PacketBuilder::ethernet2(PEER_MAC, mac)
                    .arp(reply)
                    .write(&mut frame)
                    .unwrap();
                dev.send(&frame).unwrap();
            }
            (Some(NetSlice::Ipv4(ip)), Some(t)) if ip.header().destination() == PEER_IP => {
                let seen = match t {
                    TransportSlice::Udp(u) => Seen::Udp(u.payload().to_vec()),
                    TransportSlice::Icmpv4(i)
                        if matches!(i.icmp_type(), Icmpv4Type::EchoReply(_)) =>
                    {
                        Seen::EchoReply(i.payload().to_vec())
                    }
                    _ => continue,
                };
                if want(&seen) {
                    return seen;
                }
            }
            _ => {}
        }
    }
    panic!("frame bound reached");
}

#[test]
fn captured_impaired_tap_talks_to_the_kernel_through_the_device_trait() {
    if netns::skip_unless_supported(
        "captured_impaired_tap_talks_to_the_kernel_through_the_device_trait",
    ) {
        return;
    }
    let pcap: PathBuf =
        std::env::temp_dir().join(format!("synack-tap-device-{}.pcap", std::process::id()));
    netns::run_in_fresh(|| {
        let tap = Tap::open("synack0").unwrap();
        tap.set_kernel_addr(Ipv4Addr::from(KERNEL_IP), 24).unwrap();
        tap.set_up().unwrap();
        let kernel_mac = tap.hw_addr().unwrap();
        // A perfect "impairment" still exercises the wrapper's pass-through path.
        let impaired = Impaired::new(tap, ImpairConfig::symmetric(Impairment::default(), 1));
        let mut dev = Capture::create(impaired, &pcap).unwrap();
        assert_eq!(dev.medium(), Medium::Ethernet);
        assert_eq!(dev.mtu(), 1500);
        assert!(dev.fd().is_some());
        assert_eq!(dev.poll_timeout(), None);
        // A buffer that could cut a frame is refused before the kernel cuts one.
        let short = dev.recv(&mut [0u8; 100]).unwrap_err();
        assert_eq!(short.kind(), std::io::ErrorKind::InvalidInput);
        let wait = |d: &Capture<Impaired<Tap>, _>, t: Duration| {
            d.inner().inner().wait_readable(Some(t)).unwrap()
        };

        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.send_to(b"via device", "192.0.2.2:9").unwrap();
        let seen = pump(&mut dev, wait, |s| matches!(s, Seen::Udp(_)));
        assert_eq!(seen, Seen::Udp(b"via device".to_vec()));

        let mut ping = Vec::new();
        PacketBuilder::ethernet2(PEER_MAC, kernel_mac)
            .ipv4(PEER_IP, KERNEL_IP, 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut ping, b"device ping")
            .unwrap();
        dev.send(&ping).unwrap();
        let seen = pump(&mut dev, wait, |s| matches!(s, Seen::EchoReply(_)));
        assert_eq!(seen, Seen::EchoReply(b"device ping".to_vec()));

        dev.flush().unwrap();
        assert!(dev.error().is_none());
        assert!(dev.stats().frames >= 4, "{:?}", dev.stats());
        let s = dev.inner().stats();
        assert_eq!(s.send.passed, s.send.frames);
        assert_eq!(s.recv.passed, s.recv.frames);
    })
    .unwrap();

    let bytes = std::fs::read(&pcap).unwrap();
    assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
    // An independent decoder reads the file (tcpdump is installed by
    // scripts/install-test-deps.sh; CI must have it).
    match std::process::Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(&pcap)
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "tcpdump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            for want in [
                "Request who-has 192.0.2.2",
                "192.0.2.1.",
                "ICMP echo request",
                "ICMP echo reply",
            ] {
                assert!(text.contains(want), "no {want:?} in:\n{text}");
            }
        }
        Err(e) => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but no tcpdump: {e}"
            );
            eprintln!("tcpdump not found ({e}); pcap checked by header only");
        }
    }
    let _ = std::fs::remove_file(&pcap);
}
