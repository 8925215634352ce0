//! Fuzz entry points for the stack's ingress, shared by the cargo-fuzz
//! target in `fuzz/` and by tests replaying corpora on stable Rust.
//!
//! A stack at 192.0.2.2 with listeners on a few ports, a connection of its
//! own in SYN-SENT and another by a source route with its own TTL, a UDP
//! socket on port 53 (IP_RECVOPTS on, a record route of its own to send,
//! two groups joined with source filters, a second socket sharing its
//! port, with IP_RECVERR), two ping sockets (identifier 0x1234 with IP_RECVERR and a
//! record route, and one connected to 192.0.2.1), and forwarding on to a second, smaller link
//! (198.51.100.2/24, MTU 576) takes arbitrary frames; it must never panic,
//! and an application on top keeps accepting, reading, writing and closing
//! (and echoing datagrams, and pinging whoever answers) so the frames reach
//! every state.

use core::net::{Ipv4Addr, SocketAddrV4};

use super::{ConnectOptions, Event, IfaceId, Interface, RxOffload, Stack};
use crate::config::Config;
use crate::ip::igmp::MembershipOp;
use crate::tcp::conn::{Linger2, RecvFlags, SendFlags, SocketOptions};
use crate::time::{Duration, Instant};
use crate::wire::ethernet::{
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr, HEADER_LEN as ETHERNET_HEADER_LEN,
};

/// The fuzzed stack's address (the corpora's frames were captured on
/// 192.0.2.0/24).
pub const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// The Ethernet fuzzed stack's hardware address, and its peer's (the
/// sender of the frames [`frames_ethernet`] wraps).
pub const MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
pub const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);

fn stack() -> Stack {
    stack_on(Interface::ip(ADDR, 24))
}

/// [`stack`] with `first` (at [`ADDR`]) as its first interface.
fn stack_on(first: Interface) -> Stack {
    // Source routes taken, so their checks and an echo reply's reversed
    // route take input too; and forwarding, so frames for others cross
    // (TTL, routes, fragmentation needed, fragments cut again, redirects).
    let config = Config {
        seed: 1,
        accept_source_route: true,
        ip_forward: true,
        ..Config::default()
    };
    let mut stack = Stack::new(config, first);
    let far = Ipv4Addr::new(198, 51, 100, 2);
    stack.add_interface(Interface::ip(far, 24).with_mtu(576));
    for port in [80, 443, 8080, 22, 5001] {
        let _ = stack.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port), 8);
    }
    // Port 8081's connections defer their accept for data, wait for 64
    // bytes to be readable, keep urgent bytes in line and reset rather
    // than linger in FIN-WAIT-2, so those paths take input too.
    if let Ok(l) = stack.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8081), 8) {
        let options = SocketOptions {
            defer_accept: 2,
            recv_lowat: 64,
            oob_inline: true,
            linger2: Linger2::Abort,
            ..SocketOptions::default()
        };
        let _ = stack.tcp_listener_set_options(l, options);
    }
    let _ = stack.tcp_connect(
        Instant::ZERO,
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80),
        ConnectOptions::default(),
    );
    // A connection by a loose source route through 192.0.2.1, its TTL and
    // DSCP set.
    let routed = ConnectOptions {
        ip_options: crate::ip::options::SendOptions::new(&[131, 7, 4, 192, 0, 2, 1])
            .ok()
            .map(Box::new),
        ..ConnectOptions::default()
    };
    let remote = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 9), 80);
    if let Ok(c) = stack.tcp_connect(Instant::ZERO, remote, routed) {
        let _ = stack.tcp_set_ttl(c, 9);
        let _ = stack.tcp_set_tos(c, 0xB8);
    }
    // A UDP socket that keeps its datagrams' IP options (IP_RECVOPTS) and
    // sends with its own (a record route), so both paths take input.
    let udp = stack.udp_open();
    let _ = stack.udp_set_reuse_addr(udp, true);
    let _ = stack.udp_bind(udp, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 53));
    let _ = stack.udp_set_recv_ip_options(udp, true);
    let _ = stack.udp_set_ip_options(udp, &[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
    let _ = stack.udp_set_tos(udp, 0x2A);
    // Groups with source filters of both modes, so IGMP queries of every
    // version and datagrams to groups meet the filters.
    let peer = Ipv4Addr::new(192, 0, 2, 1);
    let any = Ipv4Addr::new(239, 1, 2, 3);
    let _ = stack.udp_join_multicast(Instant::ZERO, udp, any, ADDR);
    let _ = stack.udp_membership(
        Instant::ZERO,
        udp,
        any,
        ADDR,
        MembershipOp::BlockSource(peer),
    );
    // A second socket on port 53 (SO_REUSEADDR): datagrams for several
    // sockets, and the choice among them for a unicast one.
    let second = stack.udp_open();
    let _ = stack.udp_set_reuse_addr(second, true);
    let _ = stack.udp_bind(second, SocketAddrV4::new(ADDR, 53));
    // IP_RECVERR on it: every ICMP error quoting its datagrams is queued.
    let _ = stack.udp_set_recv_error(second, true);
    // IP_PMTUDISC_DO on the first: "fragmentation needed" about its
    // datagrams lowers the path MTU it sends by.
    let _ = stack.udp_set_pmtu_discovery(udp, crate::ip::pmtu::PmtuDiscovery::Do);
    let _ = stack.udp_join_multicast(Instant::ZERO, second, any, ADDR);
    let ssm = Ipv4Addr::new(232, 1, 1, 1);
    let _ = stack.udp_membership(
        Instant::ZERO,
        udp,
        ssm,
        ADDR,
        MembershipOp::JoinSource(peer),
    );
    // Ping sockets: echo replies by identifier, and ICMP errors quoting
    // echo requests, queued (IP_RECVERR) or hard on a connected socket.
    let ping = stack.ping_open();
    let _ = stack.ping_bind(ping, Ipv4Addr::UNSPECIFIED, 0x1234);
    let _ = stack.ping_set_recv_error(ping, true);
    // ping -R: a record route out, each reply's options kept.
    let _ = stack.ping_set_ip_options(ping, &[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
    let _ = stack.ping_set_recv_ip_options(ping, true);
    let connected = stack.ping_open();
    let _ = stack.ping_connect(connected, peer);
    stack
}

/// Drains output and plays a simple application.
fn settle(stack: &mut Stack, now: Instant, buf: &mut [u8]) {
    for _ in 0..10_000 {
        if stack.poll_transmit(now, buf).is_none() {
            break;
        }
    }
    let mut read = [0u8; 512];
    while let Some(event) = stack.poll_event() {
        match event {
            Event::AcceptReady(l) => {
                while let Ok(c) = stack.tcp_accept(l) {
                    let _ = stack.tcp_send(now, c, b"hello");
                }
            }
            Event::Readable(c) => {
                let peek = RecvFlags {
                    peek: true,
                    oob: false,
                };
                let _ = stack.tcp_recv_with(now, c, &mut read, peek);
                while let Ok(n) = stack.tcp_recv(now, c, &mut read) {
                    if n == 0 {
                        stack.tcp_close(now, c);
                        break;
                    }
                }
            }
            Event::Connected(c) => {
                let _ = stack.tcp_send(now, c, b"request");
            }
            // Urgent data: the mark, the byte, and an urgent answer.
            Event::Urgent(c) => {
                let _ = stack.tcp_at_mark(c);
                let oob = RecvFlags {
                    peek: false,
                    oob: true,
                };
                if stack.tcp_recv_with(now, c, &mut read[..1], oob).is_ok() {
                    let urgent = SendFlags {
                        oob: true,
                        ..SendFlags::default()
                    };
                    let _ = stack.tcp_send_with(now, c, b"!", urgent);
                }
            }
            Event::Closed { conn, .. } => stack.tcp_close(now, conn),
            Event::PingReadable(h) => {
                while let Ok(Some(_)) = stack.ping_recv_error(h) {}
                // Answer each reply with another request.
                let mut options = [0u8; crate::ip::options::MAX_LEN];
                while let Ok((got, _)) = stack.ping_recv_msg(h, &mut read, &mut options) {
                    let _ = stack.ping_send_to(now, h, got.src, &[8, 0, 0, 0, 0, 0, 0, 1]);
                }
            }
            Event::UdpReadable(h) => {
                while let Ok(Some(_)) = stack.udp_recv_error(h) {}
                let mut options = [0u8; crate::ip::options::MAX_LEN];
                // Echo each datagram back with the socket's options.
                while let Ok((got, _)) = stack.udp_recv_msg(h, &mut read, &mut options) {
                    let _ = stack.udp_send_to(now, h, got.src, &read[..got.len]);
                }
            }
            _ => {}
        }
    }
    for _ in 0..10_000 {
        if stack.poll_transmit(now, buf).is_none() {
            break;
        }
    }
}

/// One frame into a fresh stack.
pub fn frame(data: &[u8]) {
    let mut stack = stack();
    let mut buf = vec![0u8; 2048];
    settle(&mut stack, Instant::ZERO, &mut buf);
    stack.handle_frame(Instant::ZERO, data);
    settle(&mut stack, Instant::ZERO, &mut buf);
    stack.handle_timeout(Instant::from_secs(1));
    settle(&mut stack, Instant::from_secs(1), &mut buf);
}

/// A sequence of frames: each is one byte of time advance (milliseconds),
/// two bytes of length (big-endian), then that many bytes (fewer at the end).
pub fn frames(data: &[u8]) {
    drive_frames(stack(), data, 0, |stack, now, _, frame| {
        stack.handle_frame(now, frame)
    });
}

/// [`frames`] on a stack whose first interface is Ethernet (at [`MAC`]):
/// ARP, the neighbour cache and the datagrams it holds take the input.
/// Each frame has one byte of kind after its time byte: `kind & 3` is 0 for
/// an IPv4 datagram sent in a frame to [`MAC`] from [`PEER_MAC`], 1 for
/// the same to the broadcast address, 2 for an ARP packet (to [`MAC`] if
/// `kind & 4`, else broadcast), 3 for a whole Ethernet frame as it is.
pub fn frames_ethernet(data: &[u8]) {
    run_ethernet(data);
}

/// [`frames_ethernet`], returning the stack.
fn run_ethernet(data: &[u8]) -> Stack {
    let first = Interface::ethernet(MAC, ADDR, 24);
    let mut frame_buf = Vec::new();
    drive_frames(
        signing(stack_on(first)),
        data,
        1,
        |stack, now, meta, bytes| {
            let kind = meta[0];
            let (dst, ethertype) = match kind & 3 {
                0 => (MAC, EtherType::Ipv4),
                1 => (EthernetAddress::BROADCAST, EtherType::Ipv4),
                2 if kind & 4 != 0 => (MAC, EtherType::Arp),
                2 => (EthernetAddress::BROADCAST, EtherType::Arp),
                _ => return stack.handle_frame(now, bytes),
            };
            frame_buf.clear();
            frame_buf.resize(ETHERNET_HEADER_LEN, 0);
            EthernetRepr {
                src_addr: PEER_MAC,
                dst_addr: dst,
                ethertype,
            }
            .emit(&mut EthernetFrame::new_unchecked(&mut frame_buf[..]));
            frame_buf.extend_from_slice(bytes);
            stack.handle_frame(now, &frame_buf);
        },
    )
}

/// The MD5 key the Ethernet fuzzed stack's port 179 expects from
/// 192.0.2.0/24, and its signed connection to 192.0.2.1:179 signs with.
pub const MD5_KEY: &[u8] = b"fuzz-bgp-key";

/// `stack` with TCP MD5 signatures (RFC 2385): a listener on port 179 with
/// [`MD5_KEY`] for 192.0.2.0/24 and a signed connection to 192.0.2.1:179,
/// so every segment goes by the signature's checks (the IP stack keeps the
/// fast paths, which stand aside while a key exists).
fn signing(mut stack: Stack) -> Stack {
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 179);
    if let Ok(l) = stack.tcp_listen(any, 8) {
        let _ = stack.tcp_listener_set_md5_key(l, Ipv4Addr::new(192, 0, 2, 0), 24, Some(MD5_KEY));
    }
    let signed = ConnectOptions {
        md5_key: crate::tcp::md5::Md5Key::new(MD5_KEY).map(Box::new),
        ..ConnectOptions::default()
    };
    let peer = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 179);
    let _ = stack.tcp_connect(Instant::ZERO, peer, signed);
    stack
}

/// [`frames`] with receive-offload metadata from the device: each frame is
/// one byte of time advance, one byte whose low bit trusts the checksum,
/// two bytes of GSO size (0: none), two bytes of length, then the bytes.
pub fn frames_rx(data: &[u8]) {
    drive_frames(stack(), data, 3, |stack, now, meta, frame| {
        let gso = u16::from_be_bytes([meta[1], meta[2]]);
        let rx = RxOffload {
            csum_trusted: meta[0] & 1 != 0,
            gso_size: (gso != 0).then_some(gso),
        };
        stack.handle_frame_rx(now, IfaceId(0), frame, rx);
    });
}

/// Runs `stack` (fresh) over `data`, frame by frame: one byte of time
/// advance, `meta` bytes handed to `deliver`, two bytes of length, then
/// the frame (shorter at the end); timers run and the stack's output is
/// drained after each, and five minutes after the last. Returns the stack.
fn drive_frames(
    mut stack: Stack,
    mut data: &[u8],
    meta: usize,
    mut deliver: impl FnMut(&mut Stack, Instant, &[u8], &[u8]),
) -> Stack {
    let mut buf = vec![0u8; 2048];
    let mut now = Instant::ZERO;
    settle(&mut stack, now, &mut buf);
    let head = 3 + meta;
    while data.len() >= head {
        now += Duration::from_millis(u64::from(data[0]) * 4);
        let len = usize::from(u16::from_be_bytes([data[head - 2], data[head - 1]]));
        let (frame, rest) = data[head..].split_at(len.min(data.len() - head));
        stack.handle_timeout(now);
        deliver(&mut stack, now, &data[1..1 + meta], frame);
        data = rest;
        settle(&mut stack, now, &mut buf);
    }
    stack.handle_timeout(now + Duration::from_secs(300));
    settle(&mut stack, now + Duration::from_secs(300), &mut buf);
    stack
}

/// [`frames`]' format, handed over in batches of up to eight frames
/// through [`Stack::handle_frames`] (software GRO), time advancing per
/// batch by the first frame's byte.
pub fn frames_batched(mut data: &[u8]) {
    let mut stack = stack();
    let mut buf = vec![0u8; 2048];
    let mut now = Instant::ZERO;
    settle(&mut stack, now, &mut buf);
    while data.len() >= 3 {
        now += Duration::from_millis(u64::from(data[0]) * 4);
        let mut batch: [&[u8]; 8] = [&[]; 8];
        let mut n = 0;
        while n < batch.len() && data.len() >= 3 {
            let len = usize::from(u16::from_be_bytes([data[1], data[2]])).min(data.len() - 3);
            let (frame, rest) = data[3..].split_at(len);
            batch[n] = frame;
            n += 1;
            data = rest;
        }
        stack.handle_timeout(now);
        stack.handle_frames(now, IfaceId(0), batch[..n].iter().copied());
        settle(&mut stack, now, &mut buf);
    }
    stack.handle_timeout(now + Duration::from_secs(300));
    settle(&mut stack, now + Duration::from_secs(300), &mut buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fuzz/corpus/stack_ethernet/seed-md5` (written by a Python script
    /// with hashlib) reaches what the fuzzer cannot forge: a SYN signed
    /// with the key makes a child; a wrong key, none, and a signature
    /// where none is expected are each dropped.
    #[test]
    fn the_md5_seed_reaches_a_signed_child_and_every_drop() {
        let seed = include_bytes!("../../../../fuzz/corpus/stack_ethernet/seed-md5");
        let stack = run_ethernet(seed);
        let s = stack.stats();
        assert_eq!(s.tcp.passive_opens, 1, "the signed SYN's child");
        assert_eq!(s.tcp_ext.tcp_md5_failure, 1, "the wrong key");
        assert_eq!(s.tcp_ext.tcp_md5_not_found, 1, "no signature");
        assert!(
            s.tcp_ext.tcp_md5_unexpected >= 2,
            "{}",
            s.tcp_ext.tcp_md5_unexpected
        );
    }
}
