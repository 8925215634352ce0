//! Stack tests, by concern; helpers shared by all of them here: building
//! packets with literal fields, draining a stack's output, and two stacks
//! wired back to back on virtual time.

mod basics;

pub(super) use super::*;
pub(super) use crate::SeqNum;
pub(super) use crate::config::Config;
pub(super) use crate::tcp::conn::{CloseReason, RecvError, SendError, Shutdown};
pub(super) use crate::tcp::state::TcpState;
pub(super) use crate::time::Duration;
pub(super) use crate::time::Instant;
pub(super) use crate::wire::Checksum;
pub(super) use crate::wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub(super) use crate::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
pub(super) use core::net::{Ipv4Addr, SocketAddrV4};

pub(super) const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub(super) const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

pub(super) fn stack(addr: Ipv4Addr, seed: u64) -> Stack {
    Stack::new(
        Config {
            seed,
            ..Config::default()
        },
        Interface::ip(addr, 24),
    )
}

/// Builds an IPv4+TCP packet from `src` to `dst`.
pub(super) fn packet(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    flags: TcpFlags,
    seq: u32,
    ack: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let header = crate::tcp::segment::SegmentHeader {
        seq: SeqNum(seq),
        ack: ack.map(SeqNum),
        flags,
        window: 1000,
        options: TcpOptions::default(),
    };
    let mut buf = vec![0u8; 1500];
    let n = crate::tcp::segment::write_segment(&mut buf[20..], src, dst, &header, (payload, &[]))
        .unwrap();
    let ip = Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        protocol: IpProtocol::Tcp,
        payload_len: n as u16,
        ttl: 64,
        dscp_ecn: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    ip.emit(
        &mut Ipv4Packet::new_unchecked(&mut buf[..20]),
        Checksum::Full,
    );
    buf.truncate(20 + n);
    buf
}

/// A parsed outgoing TCP segment.
#[derive(Debug)]
pub(super) struct Out {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: Option<u32>,
    pub window: u16,
}

pub(super) fn drain(stack: &mut Stack, now: Instant) -> Vec<Out> {
    let mut out = Vec::new();
    let mut buf = [0xAAu8; 2000];
    while let Some(n) = stack.poll_transmit(now, &mut buf) {
        let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        let ipr = Ipv4Repr::parse(&ip, Checksum::Full).expect("a valid IP header");
        assert_eq!(ipr.protocol, IpProtocol::Tcp);
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let seg = TcpRepr::parse(&tcp, ipr.src_addr, ipr.dst_addr, Checksum::Full).unwrap();
        out.push(Out {
            src: SocketAddrV4::new(ipr.src_addr, seg.src_port),
            dst: SocketAddrV4::new(ipr.dst_addr, seg.dst_port),
            flags: seg.flags,
            seq: seg.seq.raw(),
            ack: seg.ack.map(SeqNum::raw),
            window: seg.window,
        });
    }
    out
}

pub(super) fn events(stack: &mut Stack) -> Vec<Event> {
    core::iter::from_fn(|| stack.poll_event()).collect()
}

/// Decides whether a frame (towards B?) is lost.
pub(super) type DropFilter = Box<dyn FnMut(bool, &[u8]) -> bool>;

/// Two stacks back to back with a one-way delay; frames can be dropped by
/// a filter.
pub(super) struct Wire {
    pub a: Stack,
    pub b: Stack,
    pub now: Instant,
    pub delay: Duration,
    /// (arrival, to_b, frame)
    pub flight: Vec<(Instant, bool, Vec<u8>)>,
    pub drop: DropFilter,
}

impl Wire {
    pub(super) fn new() -> Self {
        Wire {
            a: stack(A, 1),
            b: stack(B, 2),
            now: Instant::ZERO,
            delay: Duration::from_millis(10),
            flight: Vec::new(),
            drop: Box::new(|_, _| false),
        }
    }

    pub(super) fn pump(&mut self) {
        let mut buf = [0u8; 2000];
        for to_b in [true, false] {
            let src = if to_b { &mut self.a } else { &mut self.b };
            while let Some(n) = src.poll_transmit(self.now, &mut buf) {
                if !(self.drop)(to_b, &buf[..n]) {
                    self.flight
                        .push((self.now + self.delay, to_b, buf[..n].to_vec()));
                }
            }
        }
    }

    /// Runs every event up to `ms`.
    pub(super) fn run_until(&mut self, ms: u64) {
        let end = Instant::from_millis(ms);
        for _ in 0..1_000_000 {
            self.pump();
            let next_frame = self.flight.iter().map(|f| f.0).min();
            let next_timer = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let next = [next_frame, next_timer].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let (due, rest): (Vec<_>, Vec<_>) =
                        self.flight.drain(..).partition(|f| f.0 <= self.now);
                    self.flight = rest;
                    for (_, to_b, frame) in due {
                        let dst = if to_b { &mut self.b } else { &mut self.a };
                        dst.handle_frame(self.now, &frame);
                    }
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => {
                    self.now = self.now.max(end);
                    return;
                }
            }
        }
        panic!("no quiescence");
    }
}

pub(super) const PORT: u16 = 80;

pub(super) fn connected(w: &mut Wire) -> (ConnHandle, ConnHandle) {
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    assert_eq!(w.a.tcp_state(c), TcpState::Established);
    let ev = events(&mut w.b);
    assert!(ev.contains(&Event::AcceptReady(l)), "{ev:?}");
    let s = w.b.tcp_accept(l).unwrap();
    assert!(events(&mut w.a).contains(&Event::Connected(c)));
    (c, s)
}
