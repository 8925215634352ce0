//! A SYN flood (RFC 4987): 1,000,000 spoofed SYNs from random sources at
//! 1,000,000 per second of virtual time while 1,000 legitimate clients
//! connect to a listener with backlog 1024. Every legitimate client gets
//! through (SYN cookies once the SYN queue is full), the SYN queue never
//! grows past its cap, and the process's memory grows by less than 16 MiB.
//!
//! The server is a synack host on Ethernet (192.0.2.2/24, default gateway
//! 192.0.2.254). Behind the gateway, the "Internet" node holds the attacker
//! and the clients' stacks: it answers ARP for the gateway, forwards what
//! the server sends to the clients it belongs to, and drops the rest (the
//! SYN-ACKs to spoofed addresses go nowhere, as in a real flood).
//!
//! Memory is measured with a counting allocator (`cap`; no unsafe here):
//! everything the process allocates counts, clients and simulator included,
//! from the moment the world is built to the highest point during the run.

use std::alloc::System;
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

use cap::Cap;
use synack_proto::stack::{ConnHandle, Event, Interface, ListenerHandle};
use synack_proto::tcp::segment::{SegmentHeader, write_segment};
use synack_proto::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use synack_proto::wire::tcp::{TcpFlags, TcpOptions, TcpTimestamp};
use synack_proto::wire::{
    ArpOperation, ArpPacket, ArpRepr, Checksum, EthernetAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
};
use synack_proto::{Config, Duration, Instant, Rng, SeqNum, Stack};
use synack_sim::{App, LinkConfig, Node, NodeId, PortId, StackNode, World};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const GATEWAY_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xfe]);
const PORT: u16 = 80;
const BACKLOG: usize = 1024;
const HELLO: usize = 100;

/// The server's application: accepts everything, reads each connection's
/// hello; watches the SYN queue and the process's memory.
struct Server {
    listener: Option<ListenerHandle>,
    received: HashMap<ConnHandle, usize>,
    complete: usize,
    max_syn_queue: usize,
    peak_memory: usize,
    calls: u64,
}

impl App for Server {
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: &Event) {
        match *event {
            Event::AcceptReady(l) => {
                while let Ok(c) = stack.tcp_accept(l) {
                    self.received.insert(c, 0);
                    self.read(now, stack, c);
                }
            }
            Event::Readable(c) => self.read(now, stack, c),
            _ => {}
        }
    }

    fn poll(&mut self, _now: Instant, stack: &mut Stack) {
        if self.listener.is_none() {
            let l = stack.tcp_listen(SocketAddrV4::new(SERVER, PORT), BACKLOG);
            self.listener = Some(l.expect("a free port"));
        }
        if let Some((syn_queue, _)) = self.listener.and_then(|l| stack.tcp_listener_queues(l)) {
            self.max_syn_queue = self.max_syn_queue.max(syn_queue);
        }
        self.calls += 1;
        if self.calls.is_multiple_of(1024) {
            self.peak_memory = self.peak_memory.max(ALLOCATOR.allocated());
        }
    }
}

impl Server {
    fn read(&mut self, now: Instant, stack: &mut Stack, c: ConnHandle) {
        let mut buf = [0u8; 512];
        while let Ok(n) = stack.tcp_recv(now, c, &mut buf) {
            if n == 0 {
                break;
            }
            let got = self.received.entry(c).or_insert(0);
            let before = *got;
            *got += n;
            if before < HELLO && *got >= HELLO {
                self.complete += 1;
            }
        }
    }
}

/// A legitimate client host: an IP-medium stack behind the gateway.
struct Client {
    stack: Stack,
    conns: Vec<ConnHandle>,
    connected: usize,
}

/// Everything behind the gateway: the attacker and the clients.
struct Internet {
    clients: Vec<Client>,
    by_addr: HashMap<Ipv4Addr, usize>,
    /// (when, client index): the legitimate connects still to make.
    schedule: VecDeque<(Instant, usize)>,
    arp_replies: VecDeque<ArpRepr>,
    rng: Rng,
    /// Spoofed SYNs still to send, one per microsecond from `next_syn`.
    syns_left: u64,
    next_syn: Instant,
    syns_sent: u64,
    pending_syns: u64,
    dropped: u64,
    buf: Vec<u8>,
}

/// SYNs are sent in batches of this many (one batch per 100 µs of virtual
/// time: the rate is exactly one per microsecond).
const BATCH: u64 = 100;

impl Internet {
    fn wrap(&self, ip_len: usize, out: &mut [u8]) -> usize {
        out[14..14 + ip_len].copy_from_slice(&self.buf[..ip_len]);
        EthernetRepr {
            src_addr: GATEWAY_MAC,
            dst_addr: SERVER_MAC,
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut out[..14]));
        14 + ip_len
    }

    /// A SYN from a random public address (not a martian, not ours).
    fn spoofed_syn(&mut self, out: &mut [u8]) -> usize {
        let src = loop {
            let a = Ipv4Addr::from(self.rng.u32());
            let first = a.octets()[0];
            let usable = (1..224).contains(&first) && first != 127 && first != 192;
            if usable && !self.by_addr.contains_key(&a) {
                break a;
            }
        };
        let from = SocketAddrV4::new(src, 1024 + (self.rng.u32() % 60_000) as u16);
        let header = SegmentHeader {
            seq: SeqNum(self.rng.u32()),
            ack: None,
            flags: TcpFlags::SYN,
            window: 64240,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamp: Some(TcpTimestamp {
                    tsval: self.rng.u32(),
                    tsecr: 0,
                }),
                ..TcpOptions::default()
            },
        };
        let to = SocketAddrV4::new(SERVER, PORT);
        let n = write_segment(&mut out[34..], from, to, &header, (&[], &[])).expect("room");
        Ipv4Repr {
            src_addr: src,
            dst_addr: SERVER,
            protocol: IpProtocol::Tcp,
            payload_len: n as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
        .emit(
            &mut Ipv4Packet::new_unchecked(&mut out[14..34]),
            Checksum::Full,
        );
        EthernetRepr {
            src_addr: GATEWAY_MAC,
            dst_addr: SERVER_MAC,
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut out[..14]));
        34 + n
    }

    fn run_clients(&mut self, now: Instant) {
        while self.schedule.front().is_some_and(|&(t, _)| t <= now) {
            let (_, i) = self.schedule.pop_front().unwrap();
            let c = &mut self.clients[i];
            let to = SocketAddrV4::new(SERVER, PORT);
            let conn = c.stack.tcp_connect(now, to, Default::default());
            c.conns.push(conn.expect("a free port"));
        }
        for c in &mut self.clients {
            while let Some(event) = c.stack.poll_event() {
                if let Event::Connected(conn) = event {
                    c.connected += 1;
                    let sent = c.stack.tcp_send(now, conn, &[0x55; HELLO]);
                    assert_eq!(sent, Ok(HELLO));
                }
            }
        }
    }
}

impl Node for Internet {
    fn handle_frame(&mut self, now: Instant, _port: PortId, frame: &[u8]) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        match eth.ethertype() {
            EtherType::Arp => {
                let Ok(arp) =
                    ArpPacket::new_checked(eth.payload()).and_then(|p| ArpRepr::parse(&p))
                else {
                    return;
                };
                if arp.operation == ArpOperation::Request && arp.target_protocol_addr == GATEWAY {
                    self.arp_replies
                        .push_back(synack_proto::ip::arp::reply(&arp, GATEWAY_MAC));
                }
            }
            EtherType::Ipv4 => {
                let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
                    return;
                };
                match self.by_addr.get(&ip.dst_addr()) {
                    Some(&i) => {
                        let len = usize::from(ip.total_len());
                        self.clients[i]
                            .stack
                            .handle_frame(now, &eth.payload()[..len]);
                    }
                    None => self.dropped += 1,
                }
            }
            _ => {}
        }
        self.run_clients(now);
    }

    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<(PortId, usize)> {
        if let Some(arp) = self.arp_replies.pop_front() {
            EthernetRepr {
                src_addr: GATEWAY_MAC,
                dst_addr: arp.target_hardware_addr,
                ethertype: EtherType::Arp,
            }
            .emit(&mut EthernetFrame::new_unchecked(&mut out[..14]));
            arp.emit(&mut ArpPacket::new_unchecked(&mut out[14..42]));
            return Some((PortId(0), 42));
        }
        if self.pending_syns > 0 {
            self.pending_syns -= 1;
            self.syns_sent += 1;
            return Some((PortId(0), self.spoofed_syn(out)));
        }
        let mut buf = core::mem::take(&mut self.buf);
        let mut sent = None;
        for c in &mut self.clients {
            if let Some(n) = c.stack.poll_transmit(now, &mut buf) {
                sent = Some(n);
                break;
            }
        }
        self.buf = buf;
        let n = sent?;
        Some((PortId(0), self.wrap(n, out)))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let attack = (self.syns_left > 0).then_some(self.next_syn);
        let connect = self.schedule.front().map(|&(t, _)| t);
        let clients = self
            .clients
            .iter()
            .filter_map(|c| c.stack.poll_timeout())
            .min();
        [attack, connect, clients].into_iter().flatten().min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        for c in &mut self.clients {
            if c.stack.poll_timeout().is_some_and(|t| t <= now) {
                c.stack.handle_timeout(now);
            }
        }
        if self.syns_left > 0 && self.next_syn <= now {
            let n = BATCH.min(self.syns_left);
            self.syns_left -= n;
            self.pending_syns += n;
            self.next_syn += Duration::from_micros(BATCH);
        }
        self.run_clients(now);
    }
}

#[derive(Debug)]
struct Outcome {
    syns_sent: u64,
    clients_connected: usize,
    server_complete: usize,
    max_syn_queue: usize,
    memory_growth: usize,
    cookies_sent: u64,
    cookies_recv: u64,
    listen_drops: u64,
    virtual_secs: f64,
}

fn flood(spoofed: u64, clients: usize, seed: u64) -> Outcome {
    let mut world = World::new(seed);
    let mut config = Config {
        seed: world.derive_seed(1),
        ..Config::default()
    };
    config.tcp_max_syn_backlog = BACKLOG;
    let mut stack = Stack::new(config, Interface::ethernet(SERVER_MAC, SERVER, 24));
    stack.set_default_gateway(GATEWAY).expect("on-link");
    let server_app = Server {
        listener: None,
        received: HashMap::new(),
        complete: 0,
        max_syn_queue: 0,
        peak_memory: 0,
        calls: 0,
    };
    let server = world.add_node(StackNode::with_app(stack, server_app));
    // 100 client hosts (198.51.100.0/24, 203.0.113.0/24), connecting one
    // after another, one every millisecond, all through the flood.
    let hosts = 100.min(clients);
    let mut net = Internet {
        clients: Vec::new(),
        by_addr: HashMap::new(),
        schedule: VecDeque::new(),
        arp_replies: VecDeque::new(),
        rng: Rng::from_seed(world.derive_seed(2)),
        syns_left: spoofed,
        next_syn: Instant::from_millis(1),
        syns_sent: 0,
        pending_syns: 0,
        dropped: 0,
        buf: vec![0u8; 2048],
    };
    for h in 0..hosts {
        let addr = if h < 50 {
            Ipv4Addr::new(198, 51, 100, 1 + h as u8)
        } else {
            Ipv4Addr::new(203, 0, 113, 1 + (h - 50) as u8)
        };
        let cfg = Config {
            seed: world.derive_seed(100 + h as u64),
            ..Config::default()
        };
        net.by_addr.insert(addr, h);
        net.clients.push(Client {
            stack: Stack::new(cfg, Interface::ip(addr, 24)),
            conns: Vec::new(),
            connected: 0,
        });
    }
    let spacing = Duration::from_micros(1_000_000 / clients.max(1) as u64);
    for i in 0..clients {
        let at = Instant::from_millis(2) + spacing.saturating_mul(i as u64);
        net.schedule.push_back((at, i % hosts));
    }
    let internet = world.add_node(net);
    world
        .connect(
            internet,
            PortId(0),
            server,
            PortId(0),
            LinkConfig::new().delay(Duration::from_micros(500)),
        )
        .expect("free ports");
    let baseline = ALLOCATOR.allocated();
    let done = |w: &World| {
        let s = w.node::<StackNode>(server).app::<Server>().unwrap();
        s.complete >= clients && w.node::<Internet>(internet).syns_left == 0
    };
    world
        .run_while(|w| !done(w), Instant::from_secs(30))
        .expect("the flood runs to the end");
    outcome(&world, server, internet, baseline)
}

fn outcome(world: &World, server: NodeId, internet: NodeId, baseline: usize) -> Outcome {
    let node = world.node::<StackNode>(server);
    let app = node.app::<Server>().unwrap();
    let net = world.node::<Internet>(internet);
    let peak = app.peak_memory.max(ALLOCATOR.allocated());
    let ext = &node.stack.stats().tcp_ext;
    Outcome {
        syns_sent: net.syns_sent,
        clients_connected: net.clients.iter().map(|c| c.connected).sum(),
        server_complete: app.complete,
        max_syn_queue: app.max_syn_queue,
        memory_growth: peak.saturating_sub(baseline),
        cookies_sent: ext.syncookies_sent,
        cookies_recv: ext.syncookies_recv,
        listen_drops: ext.listen_drops,
        virtual_secs: world.now().as_secs_f64(),
    }
}

#[test]
fn a_million_spoofed_syns_do_not_keep_a_thousand_clients_out() {
    let o = flood(1_000_000, 1000, 4987);
    println!("{o:#?}");
    assert_eq!(o.syns_sent, 1_000_000);
    assert_eq!(o.clients_connected, 1000, "every client connected");
    assert_eq!(o.server_complete, 1000, "and the server read every hello");
    assert!(o.max_syn_queue <= BACKLOG, "{o:?}");
    assert!(o.cookies_sent > 990_000, "{o:?}");
    assert!(o.memory_growth < 16 << 20, "{o:?}");
    // Nearly all came after the SYN queue filled: by cookie.
    assert!(o.cookies_recv >= 990, "{o:?}");
    assert_eq!(o.listen_drops, 0, "the accept queue never overflowed");
    assert!(o.virtual_secs < 2.0, "{o:?}");
}
