//! TAP and TUN against the Linux kernel, each test in its own fresh network
//! namespace with TEST-NET-1 addresses. Needs root and /dev/net/tun; skips
//! loudly without them (fails when CI=true).

mod common;

use std::io;
use std::net::{Ipv4Addr, UdpSocket};

use common::*;
use etherparse::{ArpOperation, Icmpv4Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use synack_tap::{Options, Tap, Tun, VirtioNetHdr, explain, netns};

const KERNEL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn tap_recv(tap: &Tap) -> impl FnMut(&mut [u8]) -> io::Result<(VirtioNetHdr, usize)> + '_ {
    |buf| tap.recv(buf).map(|n| (VirtioNetHdr::default(), n))
}

fn tun_recv(tun: &Tun) -> impl FnMut(&mut [u8]) -> io::Result<(VirtioNetHdr, usize)> + '_ {
    |buf| tun.recv(buf).map(|n| (VirtioNetHdr::default(), n))
}

/// An ICMP echo request from the peer to the kernel, without link header.
fn echo_request_ip(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(PEER_IP, KERNEL_IP, 64)
        .icmpv4_echo_request(id, seq)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// `Some(payload)` if `ip` is an echo reply from the kernel to the peer with `id`/`seq`.
fn echo_reply(p: SlicedPacket<'_>, id: u16, seq: u16) -> Option<Vec<u8>> {
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    if ip.header().source() != KERNEL_IP || ip.header().destination() != PEER_IP {
        return None;
    }
    let Some(TransportSlice::Icmpv4(icmp)) = &p.transport else {
        return None;
    };
    match icmp.icmp_type() {
        Icmpv4Type::EchoReply(h) if h.id == id && h.seq == seq => Some(icmp.payload().to_vec()),
        _ => None,
    }
}

/// `Some(payload)` if the packet is a UDP datagram from the kernel to the peer's `port`.
fn udp_to_peer(p: SlicedPacket<'_>, port: u16) -> Option<Vec<u8>> {
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    if ip.header().source() != KERNEL_IP || ip.header().destination() != PEER_IP {
        return None;
    }
    match &p.transport {
        Some(TransportSlice::Udp(udp)) if udp.destination_port() == port => {
            Some(udp.payload().to_vec())
        }
        _ => None,
    }
}

/// Sends an echo request from the peer to the kernel (`kernel_mac`) on
/// `tap` and waits for the reply, answering the kernel's ARP requests on
/// the way: the reply's destination MAC and payload.
fn ping(tap: &Tap, kernel_mac: [u8; 6], id: u16, seq: u16, payload: &[u8]) -> ([u8; 6], Vec<u8>) {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, kernel_mac)
        .ipv4(PEER_IP, KERNEL_IP, 64)
        .icmpv4_echo_request(id, seq)
        .write(&mut frame, payload)
        .unwrap();
    assert_eq!(tap.send(&frame).unwrap(), frame.len());
    recv_until(
        |t| tap.wait_readable(Some(t)),
        tap_recv(tap),
        |_, frame| {
            if let Some(reply) = arp_reply_to(frame) {
                tap.send(&reply).unwrap();
                return None;
            }
            let (_, dst) = eth_addrs(frame)?;
            echo_reply(SlicedPacket::from_ethernet(frame).ok()?, id, seq).map(|p| (dst, p))
        },
        "the echo reply",
    )
}

#[test]
fn tap_resolves_arp_delivers_udp_and_answers_ping() {
    if netns::skip_unless_supported("tap_resolves_arp_delivers_udp_and_answers_ping") {
        return;
    }
    netns::run_in_fresh(|| {
        let tap = Tap::open("synack0").unwrap();
        assert_eq!(tap.name(), "synack0");
        // Nonblocking by default: nothing queued yet.
        let mut buf = [0u8; 2048];
        assert_eq!(
            tap.recv(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        tap.set_kernel_addr(KERNEL, 24).unwrap();
        tap.set_up().unwrap();
        assert!(tap.is_up().unwrap());
        assert_eq!(tap.mtu().unwrap(), 1500);
        assert_eq!(tap.max_frame_len(), 1514);
        let kernel_mac = tap.hw_addr().unwrap();
        assert_ne!(kernel_mac, [0; 6]);

        // A datagram to 192.0.2.2 makes the kernel ask who has it.
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.send_to(b"hello synack", "192.0.2.2:9").unwrap();
        let request = recv_until(
            |t| tap.wait_readable(Some(t)),
            tap_recv(&tap),
            |_, frame| {
                let p = SlicedPacket::from_ethernet(frame).ok()?;
                let Some(NetSlice::Arp(arp)) = &p.net else {
                    return None;
                };
                (arp.operation() == ArpOperation::REQUEST && arp.target_protocol_addr() == PEER_IP)
                    .then(|| frame.to_vec())
            },
            "an ARP request for 192.0.2.2",
        );
        let (src, dst) = eth_addrs(&request).unwrap();
        assert_eq!((src, dst), (kernel_mac, BROADCAST));
        let p = SlicedPacket::from_ethernet(&request).unwrap();
        let Some(NetSlice::Arp(arp)) = p.net else {
            unreachable!()
        };
        assert_eq!(arp.sender_hw_addr(), kernel_mac);
        assert_eq!(arp.sender_protocol_addr(), KERNEL_IP);

        // Answer it; the queued datagram follows, addressed to our MAC.
        let reply = arp_reply_to(&request).unwrap();
        assert_eq!(tap.send(&reply).unwrap(), reply.len());
        let (dst, payload) = recv_until(
            |t| tap.wait_readable(Some(t)),
            tap_recv(&tap),
            |_, frame| {
                let (_, dst) = eth_addrs(frame)?;
                udp_to_peer(SlicedPacket::from_ethernet(frame).ok()?, 9).map(|p| (dst, p))
            },
            "the UDP datagram",
        );
        assert_eq!(dst, PEER_MAC);
        assert_eq!(payload, b"hello synack");

        // Ping the kernel; it answers to our MAC.
        let (dst, payload) = ping(&tap, kernel_mac, 0x5a5a, 7, b"ping payload");
        assert_eq!(dst, PEER_MAC);
        assert_eq!(payload, b"ping payload");
    })
    .unwrap();
}

#[test]
fn napi_tap_runs_threaded_and_answers_ping() {
    if netns::skip_unless_supported("napi_tap_runs_threaded_and_answers_ping") {
        return;
    }
    netns::run_in_fresh(|| {
        let plain = Tap::open("synack1").unwrap();
        assert!(!plain.napi().unwrap());
        let tap = Tap::with_options(&Options::new("synack0").napi(true)).unwrap();
        assert!(tap.napi().unwrap());
        assert!(!tap.threaded_napi().unwrap());
        tap.set_threaded_napi(true).unwrap();
        assert!(tap.threaded_napi().unwrap());
        // The attribute was reached through a sysfs of this namespace,
        // mounted where only its own thread saw it: the system's /sys
        // shows neither the interface nor the mount.
        assert!(!std::path::Path::new("/sys/class/net/synack0").exists());
        tap.set_kernel_addr(KERNEL, 24).unwrap();
        tap.set_up().unwrap();
        let kernel_mac = tap.hw_addr().unwrap();

        // Frames written now reach the kernel through its NAPI thread: a
        // ping is answered (after the kernel's ARP request is).
        let (dst, payload) = ping(&tap, kernel_mac, 0x4e41, 3, b"napi ping");
        assert_eq!((dst, payload.as_slice()), (PEER_MAC, &b"napi ping"[..]));

        tap.set_threaded_napi(false).unwrap();
        assert!(!tap.threaded_napi().unwrap());
    })
    .unwrap();
}

#[test]
fn tun_delivers_udp_and_answers_ping_without_arp() {
    if netns::skip_unless_supported("tun_delivers_udp_and_answers_ping_without_arp") {
        return;
    }
    netns::run_in_fresh(|| {
        let tun = Tun::open("synack0").unwrap();
        tun.set_kernel_addr(KERNEL, 24).unwrap();
        tun.set_up().unwrap();
        assert_eq!(tun.max_frame_len(), 1500);

        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.send_to(b"over tun", "192.0.2.2:9").unwrap();
        let payload = recv_until(
            |t| tun.wait_readable(Some(t)),
            tun_recv(&tun),
            |_, pkt| {
                // A TUN carries bare IP: the first nibble is the version.
                assert!(pkt.first().is_some_and(|b| b >> 4 == 4 || b >> 4 == 6));
                udp_to_peer(SlicedPacket::from_ip(pkt).ok()?, 9)
            },
            "the UDP datagram",
        );
        assert_eq!(payload, b"over tun");

        let req = echo_request_ip(0x1234, 1, b"tun ping");
        assert_eq!(tun.send(&req).unwrap(), req.len());
        let payload = recv_until(
            |t| tun.wait_readable(Some(t)),
            tun_recv(&tun),
            |_, pkt| echo_reply(SlicedPacket::from_ip(pkt).ok()?, 0x1234, 1),
            "the echo reply",
        );
        assert_eq!(payload, b"tun ping");
    })
    .unwrap();
}

#[test]
fn kernel_numbers_names_and_mtu_changes_are_seen() {
    if netns::skip_unless_supported("kernel_numbers_names_and_mtu_changes_are_seen") {
        return;
    }
    netns::run_in_fresh(|| {
        let a = Tap::open("synack%d").unwrap();
        let b = Tap::open("synack%d").unwrap();
        assert_eq!((a.name(), b.name()), ("synack0", "synack1"));
        let t = Tun::open("").unwrap();
        assert_eq!(t.name(), "tun0");
        assert_eq!(a.cached_mtu(), 1500);
        a.set_mtu(9000).unwrap();
        assert_eq!(a.mtu().unwrap(), 9000);
        assert_eq!(a.cached_mtu(), 9000);
        assert_eq!(a.max_frame_len(), 9014);
        a.set_up().unwrap();
        a.set_down().unwrap();
        assert!(!a.is_up().unwrap());
        // Blocking mode round-trips through fcntl.
        a.set_nonblocking(false).unwrap();
        a.set_nonblocking(true).unwrap();
        assert!(!a.wait_readable(Some(std::time::Duration::ZERO)).unwrap());
    })
    .unwrap();
}

#[test]
fn errors_carry_context_and_explanations() {
    if netns::skip_unless_supported("errors_carry_context_and_explanations") {
        return;
    }
    netns::run_in_fresh(|| {
        let tap = Tap::open("synack0").unwrap();
        // A second queue on a single-queue device is refused.
        let busy = Tap::open("synack0").unwrap_err();
        assert!(
            busy.to_string().starts_with("TUNSETIFF synack0: "),
            "{busy}"
        );
        assert_eq!(busy.kind(), io::ErrorKind::ResourceBusy);
        assert!(explain(&busy).is_some_and(|s| s.contains("in use")));
        // Same name, other kind.
        let wrong = Tun::open("synack0").unwrap_err();
        assert!(
            wrong.to_string().starts_with("TUNSETIFF synack0: "),
            "{wrong}"
        );
        assert!(explain(&wrong).is_some());
        // Impossible settings come back as errors, not panics.
        let mtu = tap.set_mtu(100_000).unwrap_err();
        assert!(
            mtu.to_string().starts_with("SIOCSIFMTU 100000 synack0: "),
            "{mtu}"
        );
        let prefix = tap.set_kernel_addr(KERNEL, 33).unwrap_err();
        assert_eq!(prefix.kind(), io::ErrorKind::InvalidInput);
        // Configuring an interface that does not exist names it.
        let missing = netns::set_link_up("nosuchdev0").unwrap_err();
        assert!(missing.to_string().contains("nosuchdev0"), "{missing}");
        // Bad names never reach the kernel.
        let bad = Tap::open("has space").unwrap_err();
        assert_eq!(bad.kind(), io::ErrorKind::InvalidInput);
        // Offload headers without IFF_VNET_HDR are refused.
        let hdr = VirtioNetHdr {
            flags: synack_tap::FLAG_NEEDS_CSUM,
            ..VirtioNetHdr::default()
        };
        let no_vnet = tap.send_vnet(&hdr, &[0; 60]).unwrap_err();
        assert_eq!(no_vnet.kind(), io::ErrorKind::InvalidInput);
        drop(tap);
        // Once the last fd is closed, a non-persistent device is gone and the name is free.
        // The kernel unregisters it after close returns (netdev_run_todo), so under load
        // the name may still be taken for a moment: retry, bounded (up to 2 s).
        let mut again = Tun::with_options(&Options::new("synack0"));
        for _ in 0..200 {
            if again.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            again = Tun::with_options(&Options::new("synack0"));
        }
        assert_eq!(again.unwrap().name(), "synack0");
    })
    .unwrap();
}

#[test]
fn attaches_to_an_existing_persistent_tap() {
    if netns::skip_unless_supported("attaches_to_an_existing_persistent_tap") {
        return;
    }
    netns::run_in_fresh(|| {
        // Made by iproute2 (a child process inherits this thread's namespace).
        let made = std::process::Command::new("ip")
            .args(["tuntap", "add", "dev", "persist0", "mode", "tap"])
            .status();
        match made {
            Ok(s) => assert!(s.success(), "ip tuntap add: {s}"),
            Err(e) => {
                assert!(
                    std::env::var("CI").map_or(true, |v| v != "true"),
                    "CI=true but no ip: {e}"
                );
                eprintln!("skipping attach check: no ip command ({e})");
                return;
            }
        }
        let tap = Tap::open("persist0").unwrap();
        assert_eq!(tap.name(), "persist0");
        tap.set_kernel_addr(KERNEL, 24).unwrap();
        tap.set_up().unwrap();
        // Attached, not a new device: the kernel talks through it.
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.send_to(b"persistent", "192.0.2.2:9").unwrap();
        recv_until(
            |t| tap.wait_readable(Some(t)),
            tap_recv(&tap),
            |_, frame| arp_reply_to(frame),
            "an ARP request on the attached TAP",
        );
        // Attaching as the other kind is refused.
        drop(tap);
        let wrong = Tun::open("persist0").unwrap_err();
        assert!(
            wrong.to_string().starts_with("TUNSETIFF persist0: "),
            "{wrong}"
        );
    })
    .unwrap();
}
