//! Helpers for the kernel tests: a crafted peer at 192.0.2.2 (TEST-NET-1,
//! RFC 5737) on the far side of a TAP/TUN whose kernel side is 192.0.2.1.
#![allow(dead_code)]

use std::io;
use std::time::{Duration, Instant};

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, LinkSlice, NetSlice, PacketBuilder,
    SlicedPacket,
};
use synack_tap::VirtioNetHdr;

pub const KERNEL_IP: [u8; 4] = [192, 0, 2, 1];
pub const PEER_IP: [u8; 4] = [192, 0, 2, 2];
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// How long a test waits for the kernel before failing. Only reached when
/// something is broken; a healthy exchange takes microseconds.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// Most frames a test looks at while waiting for one (IPv6 router
/// solicitations, MLD reports... come and go): a loop bound.
pub const MAX_FRAMES: usize = 10_000;

/// Reads frames with `recv` until `want` returns `Some`, answering nothing.
/// Panics (failing the test) after `PATIENCE` or `MAX_FRAMES`.
pub fn recv_until<T>(
    wait: impl Fn(Duration) -> io::Result<bool>,
    mut recv: impl FnMut(&mut [u8]) -> io::Result<(VirtioNetHdr, usize)>,
    mut want: impl FnMut(&VirtioNetHdr, &[u8]) -> Option<T>,
    what: &str,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    let mut buf = vec![0u8; 70_000];
    for _ in 0..MAX_FRAMES {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        if !wait(left).expect("poll") {
            continue;
        }
        let (hdr, n) = match recv(&mut buf) {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("recv while waiting for {what}: {e}"),
        };
        if let Some(t) = want(&hdr, &buf[..n]) {
            return t;
        }
    }
    panic!("no {what} in {MAX_FRAMES} frames");
}

/// If `frame` is an ARP request for `PEER_IP`, the Ethernet frame answering it.
pub fn arp_reply_to(frame: &[u8]) -> Option<Vec<u8>> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Arp(arp)) = p.net else {
        return None;
    };
    if arp.operation() != ArpOperation::REQUEST || arp.target_protocol_addr() != PEER_IP {
        return None;
    }
    let asker_mac: [u8; 6] = arp.sender_hw_addr().try_into().ok()?;
    let asker_ip: [u8; 4] = arp.sender_protocol_addr().try_into().ok()?;
    let reply = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REPLY,
        &PEER_MAC,
        &PEER_IP,
        &asker_mac,
        &asker_ip,
    )
    .expect("valid ARP reply");
    let builder = PacketBuilder::ethernet2(PEER_MAC, asker_mac).arp(reply);
    let mut out = Vec::new();
    builder.write(&mut out).expect("write ARP");
    Some(out)
}

/// The Ethernet source and destination of a frame.
pub fn eth_addrs(frame: &[u8]) -> Option<([u8; 6], [u8; 6])> {
    match SlicedPacket::from_ethernet(frame).ok()?.link? {
        LinkSlice::Ethernet2(eth) => Some((eth.source(), eth.destination())),
        _ => None,
    }
}

/// Byte `i` of the test stream: a pattern with a period prime to every segment size.
pub fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}
