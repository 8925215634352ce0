//! Stack tests, by concern; helpers shared by all of them here: building
//! packets with literal fields, draining a stack's output, and two stacks
//! wired back to back on virtual time.

mod basics;
mod batch;
mod close;
mod cookies;
mod datagram_pmtu;
mod demux;
mod ecn;
mod ethernet;
mod fastopen;
mod forward;
mod gro;
mod iface_mtu;
mod igmpv3;
mod ip;
mod ip_options;
mod kept;
mod life;
mod listen;
mod lookups;
mod loopback;
mod md5;
mod memory;
mod multicast;
mod notsent;
mod offload;
mod ping;
mod polls;
mod robustness;
mod sockopts;
mod source_route;
mod spares;
mod tcp_ip_options;
mod tos;
mod ttl;
mod udp;
mod urgent;
mod window_clamp;

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
    tcp_packet(src, dst, &header, payload)
}

/// Builds an IPv4+TCP packet from `src` to `dst` with `header`.
pub(super) fn tcp_packet(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    header: &crate::tcp::segment::SegmentHeader,
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; 1600];
    let n = crate::tcp::segment::write_segment(&mut buf[20..], src, dst, header, (payload, &[]))
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

/// What [`record`] keeps of the frames on a [`Wire`].
pub(super) type Record<T> = std::rc::Rc<std::cell::RefCell<Vec<T>>>;

/// Keeps what `seen` makes of every frame on the wire (its direction,
/// towards B or not, and its bytes), dropping none.
pub(super) fn record<T: 'static>(
    w: &mut Wire,
    seen: impl Fn(bool, &[u8]) -> T + 'static,
) -> Record<T> {
    let log: Record<T> = Default::default();
    let sink = std::rc::Rc::clone(&log);
    w.drop = Box::new(move |to_b, frame| {
        sink.borrow_mut().push(seen(to_b, frame));
        false
    });
    log
}

/// Rewrites a frame in place (towards B?): a router in the middle.
pub(super) type Relay = Box<dyn FnMut(bool, &mut [u8])>;

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
    /// Drain each stack with `poll_transmit_batch`, not frame by frame.
    pub batch: bool,
    /// Rewrites each frame that is not dropped on its way.
    pub relay: Option<Relay>,
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
            batch: false,
            relay: None,
        }
    }

    /// Sends `data` from connection `from` on one side (A's if `from_a`)
    /// and reads it at `to` on the other, 10 ms of the wire at a time, until
    /// all of it arrived; checks it arrived unchanged.
    pub(super) fn transfer(&mut self, from_a: bool, from: ConnHandle, to: ConnHandle, data: &[u8]) {
        let mut got = Vec::new();
        let mut sent = 0;
        let mut buf = vec![0u8; 64 * 1024];
        for _ in 0..10_000 {
            let (tx, rx) = if from_a {
                (&mut self.a, &mut self.b)
            } else {
                (&mut self.b, &mut self.a)
            };
            if sent < data.len() {
                sent += tx.tcp_send(self.now, from, &data[sent..]).unwrap_or(0);
            }
            while let Ok(n @ 1..) = rx.tcp_recv(self.now, to, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            if got.len() == data.len() {
                assert!(got == data, "the bytes arrived changed");
                return;
            }
            let ms = self.now.total_millis() + 10;
            self.run_until(ms);
        }
        panic!("{} of {} bytes arrived", got.len(), data.len());
    }

    pub(super) fn pump(&mut self) {
        // Room for a jumbo frame (`iface_mtu.rs`).
        let mut buf = vec![0u8; 9100];
        for to_b in [true, false] {
            let src = if to_b { &mut self.a } else { &mut self.b };
            let mut sent = Vec::new();
            if self.batch {
                src.poll_transmit_batch(self.now, |write| {
                    let n = write(&mut buf)?;
                    sent.push(buf[..n].to_vec());
                    Some(n)
                });
            } else {
                while let Some(n) = src.poll_transmit(self.now, &mut buf) {
                    sent.push(buf[..n].to_vec());
                }
            }
            for mut frame in sent {
                if !(self.drop)(to_b, &frame) {
                    if let Some(relay) = &mut self.relay {
                        relay(to_b, &mut frame[..]);
                    }
                    self.flight.push((self.now + self.delay, to_b, frame));
                }
            }
            assert_invariants(src);
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

/// No connection's deadline is later than the stack's (`poll_timeout` is
/// a lower bound, never late), whether or not its last poll was skipped.
/// What must hold whenever a call into the stack has returned: every
/// connection's deadline is in the stack's timer queue, and the buffer
/// memory counter (`tcp_mem`'s) is the sum of what the connections hold.
pub(super) fn assert_invariants(stack: &Stack) {
    assert_eq!(
        stack.buffer_memory(),
        stack.buffer_memory_scan(),
        "the buffer memory counter drifted from the connections' sum"
    );
    let orphans = stack
        .conns
        .iter()
        .filter(|(_, e)| e.owner() == Owner::Orphan)
        .count();
    assert_eq!(stack.env.orphans, orphans, "the orphan count drifted");
    for (_, entry) in stack.conns.iter() {
        if let Some(at) = entry.conn.poll_timeout() {
            let stack_at = stack.poll_timeout();
            assert!(
                stack_at.is_some_and(|d| d <= at),
                "a connection's deadline {at:?} is not in the stack's {stack_at:?}"
            );
        }
    }
}

pub(super) const PORT: u16 = 80;

/// [`connected`] with B's receive buffer `recv_buffer` bytes from its
/// start (its listener's SO_RCVBUF), so that its window closes soon.
pub(super) fn connected_with_small_window(
    w: &mut Wire,
    recv_buffer: usize,
) -> (ConnHandle, ConnHandle) {
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let small = crate::tcp::conn::SocketOptions {
        recv_buffer: Some(recv_buffer),
        ..Default::default()
    };
    w.b.tcp_listener_set_options(l, small).unwrap();
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    (c, w.b.tcp_accept(l).unwrap())
}

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

// ---- Ethernet hosts -----------------------------------------------------------

pub(super) use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub(super) use crate::wire::{ArpOperation, ArpPacket, ArpRepr};

/// A locally administered station address ending in `n`.
pub(super) const fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, n])
}

pub(super) fn config(seed: u64) -> Config {
    Config {
        seed,
        ..Config::default()
    }
}

/// A stack with one Ethernet interface `addr/24`, station address `mac(n)`.
pub(super) fn eth_stack(addr: Ipv4Addr, n: u8, config: Config) -> Stack {
    Stack::new(config, Interface::ethernet(mac(n), addr, 24))
}

/// An Ethernet frame around `payload`.
pub(super) fn eth_frame(
    dst: EthernetAddress,
    src: EthernetAddress,
    ethertype: EtherType,
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0xAA; 14 + payload.len()];
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..14]));
    buf[14..].copy_from_slice(payload);
    buf
}

/// Every frame the stack sends now, raw.
pub(super) fn drain_raw(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0xAAu8; 1600];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// An IPv4 datagram around `payload`.
#[allow(dead_code)]
pub(super) fn ip_datagram(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len: payload.len() as u16,
        ttl: 64,
        dscp_ecn: 0,
        ident: 0x4242,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let mut buf = vec![0xAA; 20 + payload.len()];
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut buf[..20]),
        Checksum::Full,
    );
    buf[20..].copy_from_slice(payload);
    buf
}

/// An ICMP message from `from` to `to`, in its IP datagram: type, code,
/// the 4 bytes after the checksum (`rest`), then `body`.
pub(super) fn icmp(
    from: Ipv4Addr,
    to: Ipv4Addr,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let sum = crate::wire::checksum::finish(crate::wire::checksum::data(&m));
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    ip_datagram(from, to, IpProtocol::Icmp, &m)
}

/// A TCP segment (header, options, payload) with its checksum.
#[allow(dead_code)]
pub(super) fn tcp_bytes(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    header: &crate::tcp::segment::SegmentHeader,
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0xAA; 1600];
    let n = crate::tcp::segment::write_segment(&mut buf, src, dst, header, (payload, &[])).unwrap();
    buf.truncate(n);
    buf
}

/// What a frame on the wire is, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    Arp {
        op: ArpOperation,
        sender: Ipv4Addr,
        target: Ipv4Addr,
        dst_mac: EthernetAddress,
    },
    Tcp {
        src: SocketAddrV4,
        dst: SocketAddrV4,
        flags: TcpFlags,
        seq: u32,
        ack: Option<u32>,
        len: usize,
        options: TcpOptions,
        dst_mac: Option<EthernetAddress>,
    },
    Udp {
        src: SocketAddrV4,
        dst: SocketAddrV4,
        len: usize,
    },
    Icmp {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ty: u8,
        code: u8,
        /// The bytes after the 8-byte ICMP header.
        body: Vec<u8>,
    },
    /// A fragment (not the first) or something else.
    Other(Vec<u8>),
}

impl Seen {
    /// Parses a frame (`ethernet`: with an Ethernet header).
    pub(super) fn parse(frame: &[u8], ethernet: bool) -> Seen {
        let (dst_mac, ip) = if ethernet {
            let f = EthernetFrame::new_checked(frame).unwrap();
            if f.ethertype() == EtherType::Arp {
                let a = ArpRepr::parse(&ArpPacket::new_checked(f.payload()).unwrap()).unwrap();
                return Seen::Arp {
                    op: a.operation,
                    sender: a.source_protocol_addr,
                    target: a.target_protocol_addr,
                    dst_mac: f.dst_addr(),
                };
            }
            (Some(f.dst_addr()), &frame[14..])
        } else {
            (None, frame)
        };
        let p = Ipv4Packet::new_checked(ip).unwrap();
        let repr = Ipv4Repr::parse(&p, Checksum::Full).expect("a valid IP header");
        if repr.frag_offset != 0 || repr.more_frags {
            return Seen::Other(ip.to_vec());
        }
        let (s, d) = (repr.src_addr, repr.dst_addr);
        match repr.protocol {
            IpProtocol::Tcp => {
                let t = TcpPacket::new_checked(p.payload()).unwrap();
                let seg = TcpRepr::parse(&t, s, d, Checksum::Full).expect("TCP checksum");
                Seen::Tcp {
                    src: SocketAddrV4::new(s, seg.src_port),
                    dst: SocketAddrV4::new(d, seg.dst_port),
                    flags: seg.flags,
                    seq: seg.seq.raw(),
                    ack: seg.ack.map(SeqNum::raw),
                    len: seg.payload.len(),
                    options: seg.options,
                    dst_mac,
                }
            }
            IpProtocol::Udp => {
                let u = crate::wire::udp::UdpPacket::new_checked(p.payload()).unwrap();
                let r = crate::wire::udp::UdpRepr::parse(&u, s, d, Checksum::Full).unwrap();
                Seen::Udp {
                    src: SocketAddrV4::new(s, r.src_port),
                    dst: SocketAddrV4::new(d, r.dst_port),
                    len: r.payload.len(),
                }
            }
            IpProtocol::Icmp => {
                let b = p.payload();
                assert!(crate::wire::checksum::is_valid(
                    crate::wire::checksum::data(b)
                ));
                Seen::Icmp {
                    src: s,
                    dst: d,
                    ty: b[0],
                    code: b[1],
                    body: b[8..].to_vec(),
                }
            }
            _ => Seen::Other(ip.to_vec()),
        }
    }

    /// A short label: "arp who-has 192.0.2.2", "tcp S", "icmp 3/3", ...
    pub(super) fn label(&self) -> String {
        match self {
            Seen::Arp {
                op: ArpOperation::Request,
                sender,
                target,
                ..
            } if sender == target => format!("arp announce {target}"),
            Seen::Arp {
                op: ArpOperation::Request,
                target,
                ..
            } => format!("arp who-has {target}"),
            Seen::Arp { sender, .. } => format!("arp {sender} is-at"),
            Seen::Tcp { flags, len, .. } => {
                let f = format!("{flags:?}");
                let letters = f.trim_start_matches("TcpFlags[").trim_end_matches(']');
                format!("tcp {letters} {len}")
            }
            Seen::Udp { len, .. } => format!("udp {len}"),
            Seen::Icmp { ty, code, .. } => format!("icmp {ty}/{code}"),
            Seen::Other(_) => "other".into(),
        }
    }
}

/// Every frame a stack wants to send now, parsed.
pub(super) fn drain_seen(stack: &mut Stack, now: Instant) -> Vec<Seen> {
    let ethernet = stack.interface().mac().is_some();
    let mut out = Vec::new();
    let mut buf = [0xAAu8; 1600];
    while let Some(n) = stack.poll_transmit(now, &mut buf) {
        out.push(Seen::parse(&buf[..n], ethernet));
    }
    out
}

/// Decides whether a frame (from host i) is lost.
pub(super) type LanFilter = Box<dyn FnMut(usize, &[u8]) -> bool>;

/// Hosts on one Ethernet segment (a hub: every frame reaches every other
/// host), with a one-way delay and a record of every frame sent.
pub(super) struct Lan {
    pub hosts: Vec<Stack>,
    pub now: Instant,
    pub delay: Duration,
    /// (sent at, sender, frame)
    pub log: Vec<(Instant, usize, Vec<u8>)>,
    flight: Vec<(Instant, usize, Vec<u8>)>,
    /// Frames to lose: (sender, frame) -> lost?
    pub drop: LanFilter,
}

impl Lan {
    pub(super) fn new(hosts: Vec<Stack>) -> Self {
        Lan {
            hosts,
            now: Instant::ZERO,
            delay: Duration::from_millis(1),
            log: Vec::new(),
            flight: Vec::new(),
            drop: Box::new(|_, _| false),
        }
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 1600];
        for i in 0..self.hosts.len() {
            while let Some(n) = self.hosts[i].poll_transmit(self.now, &mut buf) {
                let frame = buf[..n].to_vec();
                self.log.push((self.now, i, frame.clone()));
                if !(self.drop)(i, &frame) {
                    self.flight.push((self.now + self.delay, i, frame));
                }
            }
            assert_invariants(&self.hosts[i]);
        }
    }

    /// Runs every event up to `ms`.
    pub(super) fn run_until(&mut self, ms: u64) {
        let end = Instant::from_millis(ms);
        for _ in 0..1_000_000 {
            self.pump();
            let next_frame = self.flight.iter().map(|f| f.0).min();
            let next_timer = self.hosts.iter().filter_map(Stack::poll_timeout).min();
            match [next_frame, next_timer].into_iter().flatten().min() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    let (due, rest): (Vec<_>, Vec<_>) =
                        self.flight.drain(..).partition(|f| f.0 <= now);
                    self.flight = rest;
                    for (_, from, frame) in due {
                        for (i, h) in self.hosts.iter_mut().enumerate() {
                            if i != from {
                                h.handle_frame(now, &frame);
                            }
                        }
                    }
                    for h in &mut self.hosts {
                        h.handle_timeout(now);
                    }
                }
                _ => {
                    self.now = self.now.max(end);
                    return;
                }
            }
        }
        panic!("no quiescence");
    }

    /// Runs for another `ms`.
    pub(super) fn run_for(&mut self, ms: u64) {
        let t = self.now.total_millis() + ms;
        self.run_until(t);
    }

    /// Host 0 connected to a listener of host 1 on `B:port`, 100 ms on:
    /// (the client's connection, the server's accepted one).
    pub(super) fn connected(&mut self, port: u16) -> (ConnHandle, ConnHandle) {
        let l = self.hosts[1]
            .tcp_listen(SocketAddrV4::new(B, port), 8)
            .unwrap();
        let c = self.hosts[0]
            .tcp_connect(
                self.now,
                SocketAddrV4::new(B, port),
                ConnectOptions::default(),
            )
            .unwrap();
        self.run_for(100);
        (c, self.hosts[1].tcp_accept(l).unwrap())
    }

    /// The frames sent so far, as (sender, label).
    pub(super) fn ladder(&self) -> Vec<(usize, String)> {
        self.log
            .iter()
            .map(|(_, from, f)| (*from, Seen::parse(f, true).label()))
            .collect()
    }
}
