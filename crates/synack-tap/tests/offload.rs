//! The virtio-net header path against the Linux kernel: a TAP opened with
//! `IFF_VNET_HDR` and TCP offloads, a crafted TCP peer at 192.0.2.2, and a
//! kernel socket at 192.0.2.1. Proves that
//! - frames from the kernel carry a header (partial checksums: NEEDS_CSUM
//!   with csum_start/csum_offset at the TCP checksum);
//! - a bulk send from a kernel socket arrives as GSO super-segments
//!   (gso_type TCPV4, longer than the MTU, gso_size = MSS), and completing
//!   their checksum in software gives a valid TCP checksum;
//! - a super-segment written *to* the kernel (TSO from the stack's side) is
//!   accepted and its bytes reach the kernel socket.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};

use common::*;
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice};
use synack_tap::{FLAG_NEEDS_CSUM, GsoType, Offloads, Options, Tap, VirtioNetHdr, netns};

const KERNEL_PORT: u16 = 7000;
const PEER_PORT: u16 = 40000;
const PEER_ISS: u32 = 1000;
const MSS: u16 = 1460;
/// Bytes the kernel sends: enough for several full congestion windows.
const FROM_KERNEL: usize = 256 * 1024;
/// Bytes the peer sends in one super-segment: three MSS-sized segments.
const TO_KERNEL: usize = 3 * MSS as usize;

struct Peer<'a> {
    tap: &'a Tap,
    kernel_mac: [u8; 6],
}

impl Peer<'_> {
    /// A TCP segment from the peer to the kernel, complete checksums.
    fn segment(&self, seq: u32, ack: Option<u32>, syn: bool, payload: &[u8]) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2(PEER_MAC, self.kernel_mac)
            .ipv4(PEER_IP, KERNEL_IP, 64)
            .tcp(PEER_PORT, KERNEL_PORT, seq, u16::MAX);
        if syn {
            b = b
                .syn()
                .options(&[TcpOptionElement::MaximumSegmentSize(MSS)])
                .unwrap();
        }
        if let Some(ack) = ack {
            b = b.ack(ack);
        }
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn send(&self, frame: &[u8]) {
        assert_eq!(self.tap.send(frame).unwrap(), frame.len());
    }

    /// Waits for a TCP segment from the kernel's port to ours, answering ARP
    /// on the way; `want` sees the header, the frame and the parsed segment.
    fn recv_tcp<T>(
        &self,
        mut want: impl FnMut(&VirtioNetHdr, &[u8], &Seg) -> Option<T>,
        what: &str,
    ) -> T {
        recv_until(
            |t| self.tap.wait_readable(Some(t)),
            |buf| self.tap.recv_vnet(buf),
            |hdr, frame| {
                if let Some(reply) = arp_reply_to(frame) {
                    self.send(&reply);
                    return None;
                }
                let seg = Seg::parse(frame)?;
                want(hdr, frame, &seg)
            },
            what,
        )
    }
}

/// The fields of a kernel-to-peer TCP segment the test looks at.
#[derive(Debug)]
struct Seg {
    seq: u32,
    ack: u32,
    syn: bool,
    fin: bool,
    payload: Vec<u8>,
    checksum: u16,
    /// The checksum etherparse computes over the segment as it is now.
    computed: u16,
}

impl Seg {
    fn parse(frame: &[u8]) -> Option<Seg> {
        let p = SlicedPacket::from_ethernet(frame).ok()?;
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            return None;
        };
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
            return None;
        };
        if tcp.source_port() != KERNEL_PORT || tcp.destination_port() != PEER_PORT {
            return None;
        }
        Some(Seg {
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            syn: tcp.syn(),
            fin: tcp.fin(),
            payload: tcp.payload().to_vec(),
            checksum: tcp.checksum(),
            computed: tcp
                .calc_checksum_ipv4(ip.header().source(), ip.header().destination())
                .ok()?,
        })
    }
}

/// RFC 793 pseudo-header sum for TCP over IPv4, folded, not complemented:
/// what a sender puts in the checksum field with NEEDS_CSUM.
fn pseudo_header_sum(tcp_len: usize) -> u16 {
    let mut sum: u32 = 0;
    for pair in PEER_IP.chunks(2).chain(KERNEL_IP.chunks(2)) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    sum += 6 + tcp_len as u32;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[test]
fn tap_with_vnet_hdr_exchanges_tcp_super_segments_with_the_kernel() {
    if netns::skip_unless_supported(
        "tap_with_vnet_hdr_exchanges_tcp_super_segments_with_the_kernel",
    ) {
        return;
    }
    netns::run_in_fresh(|| {
        let tap = Tap::with_options(&Options::new("synack0").vnet_hdr(Offloads::TCP)).unwrap();
        assert_eq!(tap.vnet_hdr_len(), Some(VirtioNetHdr::LEN));
        assert_eq!(tap.max_frame_len(), synack_tap::MAX_GSO_FRAME_LEN);
        tap.set_kernel_addr(Ipv4Addr::from(KERNEL_IP), 24).unwrap();
        tap.set_up().unwrap();
        let peer = Peer {
            tap: &tap,
            kernel_mac: tap.hw_addr().unwrap(),
        };

        // The kernel's side: accept, read the peer's super-segment, then send
        // FROM_KERNEL bytes and close. Timeouts keep a broken test from hanging.
        let listener = TcpListener::bind((Ipv4Addr::from(KERNEL_IP), KERNEL_PORT)).unwrap();
        let server = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
            let (mut s, _) = listener.accept()?;
            s.set_read_timeout(Some(PATIENCE))?;
            s.set_write_timeout(Some(PATIENCE))?;
            let mut got = vec![0u8; TO_KERNEL];
            s.read_exact(&mut got)?;
            let data: Vec<u8> = (0..FROM_KERNEL).map(pattern).collect();
            s.write_all(&data)?;
            s.shutdown(std::net::Shutdown::Write)?;
            Ok(got)
        });

        // Handshake. The SYN-ACK already shows the header path: a partial
        // checksum the kernel left for us to finish.
        peer.send(&peer.segment(PEER_ISS, None, true, &[]));
        let (hdr, kernel_iss) =
            peer.recv_tcp(|hdr, _, s| s.syn.then_some((*hdr, s.seq)), "a SYN-ACK");
        assert!(hdr.needs_csum(), "{hdr:?}");
        assert_eq!((hdr.csum_start, hdr.csum_offset), (14 + 20, 16), "{hdr:?}");
        assert_eq!(hdr.gso_type, GsoType::None);
        let mut rcv_nxt = kernel_iss.wrapping_add(1);
        let snd_nxt = PEER_ISS.wrapping_add(1);
        peer.send(&peer.segment(snd_nxt, Some(rcv_nxt), false, &[]));

        // One super-segment to the kernel: TSO done by the kernel's stack for us.
        let sent: Vec<u8> = (0..TO_KERNEL).map(|i| (i * 7 % 256) as u8).collect();
        let mut frame = peer.segment(snd_nxt, Some(rcv_nxt), false, &sent);
        let csum_at = 14 + 20 + 16;
        frame[csum_at..csum_at + 2]
            .copy_from_slice(&pseudo_header_sum(20 + TO_KERNEL).to_be_bytes());
        let gso = VirtioNetHdr {
            flags: FLAG_NEEDS_CSUM,
            gso_type: GsoType::TcpV4,
            hdr_len: 14 + 20 + 20,
            gso_size: MSS,
            csum_start: 14 + 20,
            csum_offset: 16,
            ..VirtioNetHdr::default()
        };
        assert_eq!(tap.send_vnet(&gso, &frame).unwrap(), frame.len());
        let snd_nxt = snd_nxt.wrapping_add(TO_KERNEL as u32);

        // The kernel's bulk send: ACK every segment in order, check every
        // byte, remember the super-segments.
        let mut received = 0usize;
        let mut kernel_acked = false;
        let mut super_segments = Vec::new();
        peer.recv_tcp(
            |hdr, frame, s| {
                kernel_acked |= s.ack == snd_nxt;
                if s.seq != rcv_nxt || (s.payload.is_empty() && !s.fin) {
                    return None;
                }
                for (i, &b) in s.payload.iter().enumerate() {
                    assert_eq!(b, pattern(received + i), "byte {}", received + i);
                }
                received += s.payload.len();
                rcv_nxt = rcv_nxt.wrapping_add(s.payload.len() as u32 + u32::from(s.fin));
                if hdr.gso_type != GsoType::None {
                    // Finish the partial checksum the way Tap::recv does.
                    let mut copy = frame.to_vec();
                    let mut h = *hdr;
                    h.complete_checksum(&mut copy).unwrap();
                    let done = Seg::parse(&copy).unwrap();
                    super_segments.push((*hdr, frame.len(), done.checksum == done.computed));
                }
                peer.send(&peer.segment(snd_nxt, Some(rcv_nxt), false, &[]));
                s.fin.then_some(())
            },
            "the kernel's data and FIN",
        );
        assert_eq!(received, FROM_KERNEL);
        assert!(
            kernel_acked,
            "the kernel never acknowledged the super-segment"
        );
        let got = server.join().unwrap().unwrap();
        assert_eq!(got, sent, "the kernel socket read different bytes");

        assert!(
            !super_segments.is_empty(),
            "no GSO super-segment from the kernel"
        );
        for (hdr, len, checksum_ok) in &super_segments {
            assert_eq!(hdr.gso_type, GsoType::TcpV4, "{hdr:?}");
            assert_eq!(hdr.gso_size, MSS, "{hdr:?}");
            assert!(*len > 1514, "super-segment of {len} bytes");
            assert!(usize::from(hdr.hdr_len) >= 14 + 20 + 20 && usize::from(hdr.hdr_len) <= *len);
            assert!(checksum_ok, "completed checksum does not verify: {hdr:?}");
        }
        eprintln!(
            "{} super-segments, largest {} bytes",
            super_segments.len(),
            super_segments.iter().map(|s| s.1).max().unwrap_or(0)
        );
        // Tidy up: a RST so the kernel forgets the connection at once.
        let mut rst = Vec::new();
        PacketBuilder::ethernet2(PEER_MAC, peer.kernel_mac)
            .ipv4(PEER_IP, KERNEL_IP, 64)
            .tcp(PEER_PORT, KERNEL_PORT, snd_nxt, 0)
            .rst()
            .write(&mut rst, &[])
            .unwrap();
        peer.send(&rst);
    })
    .unwrap();
}

/// `(checksum in the datagram, checksum it should have)` for a UDP datagram
/// from the kernel to the peer's port 9.
fn udp_checksums(frame: &[u8]) -> Option<(u16, u16)> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let Some(TransportSlice::Udp(udp)) = &p.transport else {
        return None;
    };
    if udp.destination_port() != 9 {
        return None;
    }
    let want = udp
        .to_header()
        .calc_checksum_ipv4_raw(
            ip.header().source(),
            ip.header().destination(),
            udp.payload(),
        )
        .ok()?;
    Some((udp.checksum(), want))
}

#[test]
fn tap_recv_completes_partial_checksums_that_recv_vnet_exposes() {
    if netns::skip_unless_supported("tap_recv_completes_partial_checksums_that_recv_vnet_exposes") {
        return;
    }
    netns::run_in_fresh(|| {
        let tap = Tap::with_options(&Options::new("synack0").vnet_hdr(Offloads::CSUM)).unwrap();
        // Checksum offload alone does not make frames longer than the MTU.
        assert_eq!(tap.max_frame_len(), 1514);
        tap.set_kernel_addr(Ipv4Addr::from(KERNEL_IP), 24).unwrap();
        tap.set_up().unwrap();
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.send_to(b"first", "192.0.2.2:9").unwrap();

        // Raw: the header says NEEDS_CSUM and the field is not yet the checksum.
        let (hdr, (field, want)) = recv_until(
            |t| tap.wait_readable(Some(t)),
            |buf| tap.recv_vnet(buf),
            |hdr, frame| {
                if let Some(reply) = arp_reply_to(frame) {
                    tap.send(&reply).unwrap();
                    return None;
                }
                udp_checksums(frame).map(|c| (*hdr, c))
            },
            "the first datagram",
        );
        assert!(hdr.needs_csum(), "{hdr:?}");
        assert_eq!((hdr.csum_start, hdr.csum_offset), (14 + 20, 6));
        assert_ne!(field, want, "the kernel computed the checksum after all");

        // Through recv: the checksum is finished in software.
        sock.send_to(b"second", "192.0.2.2:9").unwrap();
        let (field, want) = recv_until(
            |t| tap.wait_readable(Some(t)),
            |buf| tap.recv(buf).map(|n| (VirtioNetHdr::default(), n)),
            |_, frame| udp_checksums(frame),
            "the second datagram",
        );
        assert_eq!(field, want);
    })
    .unwrap();
}

#[test]
fn twelve_byte_vnet_header_is_consumed_whole() {
    if netns::skip_unless_supported("twelve_byte_vnet_header_is_consumed_whole") {
        return;
    }
    netns::run_in_fresh(|| {
        let opts = Options::new("synack0")
            .vnet_hdr(Offloads::CSUM)
            .vnet_hdr_len(12);
        let tap = Tap::with_options(&opts).unwrap();
        assert_eq!(tap.vnet_hdr_len(), Some(VirtioNetHdr::LEN_MRG));
        tap.set_kernel_addr(Ipv4Addr::from(KERNEL_IP), 24).unwrap();
        tap.set_up().unwrap();
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.send_to(b"x", "192.0.2.2:9").unwrap();
        // The ARP request parses from its first byte: the header took exactly 12.
        let frame = recv_until(
            |t| tap.wait_readable(Some(t)),
            |buf| tap.recv_vnet(buf),
            |_, frame| arp_reply_to(frame).map(|_| frame.to_vec()),
            "an ARP request after a 12-byte header",
        );
        assert_eq!(frame[..6], BROADCAST);
        assert_eq!(frame[12..14], [0x08, 0x06]);
        // And a frame we send with a 12-byte header is understood.
        let reply = arp_reply_to(&frame).unwrap();
        assert_eq!(tap.send(&reply).unwrap(), reply.len());
        let (field, want) = recv_until(
            |t| tap.wait_readable(Some(t)),
            |buf| tap.recv(buf).map(|n| (VirtioNetHdr::default(), n)),
            |_, frame| udp_checksums(frame),
            "the datagram after the ARP reply",
        );
        assert_eq!(field, want);
    })
    .unwrap();
}
