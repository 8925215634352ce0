//! Whole hosts on a simulated Ethernet link: ARP before the first segment,
//! a verified transfer over a lossy link, and a fragmented UDP datagram.

use std::net::SocketAddrV4;

use synack_proto::stack::{ConnectOptions, Direction, Event, Trace};
use synack_proto::tcp::TcpState;
use synack_proto::{Config, Duration, Instant};
use synack_sim::apps::{BulkReceiver, BulkSender, Finish, Pattern};
use synack_sim::scenario::{CLIENT, CLIENT_MAC, Pair, SERVER, SERVER_ADDR, SERVER_MAC};
use synack_sim::{Dir, LinkConfig, StackNode};

#[test]
fn an_ethernet_pair_resolves_each_other_before_the_handshake() {
    let mut p = Pair::ethernet_with_nodes(
        3,
        |s| StackNode::new(s).keeping_events(),
        |s| StackNode::new(s).keeping_events(),
        Config::default(),
        Config::default(),
        LinkConfig::new().delay(Duration::from_millis(5)),
    );
    let trace = Trace {
        states: false,
        segments: true,
        congestion: false,
    };
    p.client().set_trace(trace);
    p.server().set_trace(trace);
    p.server().tcp_listen(SERVER_ADDR, 8).unwrap();
    // Let the gratuitous announcements pass first.
    p.run_for(Duration::from_millis(20)).unwrap();
    let now = p.now();
    let c = p
        .client()
        .tcp_connect(now, SERVER_ADDR, ConnectOptions::default())
        .unwrap();
    p.run_until(
        |p| p.client_ref().tcp_state(c) == TcpState::Established,
        Instant::from_secs(1),
    )
    .unwrap();
    let seen: Vec<String> = p
        .client_node()
        .take_events()
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Arp { dir, packet, .. } => Some(format!(
                "{} arp {:?} {}->{}",
                if dir == Direction::Out { ">" } else { "<" },
                packet.operation,
                packet.source_protocol_addr,
                packet.target_protocol_addr
            )),
            Event::Segment { dir, segment, .. } => Some(format!(
                "{} tcp {:?}",
                if dir == Direction::Out { ">" } else { "<" },
                segment.flags
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        seen,
        [
            "> arp Request 192.0.2.1->192.0.2.1",
            "< arp Request 192.0.2.2->192.0.2.2",
            "> arp Request 192.0.2.1->192.0.2.2",
            "< arp Reply 192.0.2.2->192.0.2.1",
            "> tcp TcpFlags[S]",
            "< tcp TcpFlags[S.]",
            "> tcp TcpFlags[.]",
        ]
    );
    p.run_for(Duration::from_millis(20)).unwrap();
    let stats = p.world.link_stats(p.link, Dir::AToB);
    assert_eq!(stats.delivered_frames, 4, "announce, request, SYN, ACK");
    let iface = synack_proto::stack::IfaceId(0);
    assert_eq!(
        p.server_ref().arp_entries(iface),
        [(CLIENT, Some(CLIENT_MAC))]
    );
    assert_eq!(
        p.client_ref().arp_entries(iface),
        [(SERVER, Some(SERVER_MAC))]
    );
}

#[test]
fn a_verified_transfer_crosses_a_lossy_ethernet_link() {
    let bytes = 2 << 20;
    let pattern = Pattern::new(11);
    let mut p = Pair::ethernet_with_nodes(
        11,
        |s| {
            StackNode::with_app(
                s,
                BulkSender::new(SERVER_ADDR, bytes, pattern, Finish::Close),
            )
        },
        |s| StackNode::with_app(s, BulkReceiver::new(SERVER_ADDR, pattern)),
        Config::default(),
        Config::default(),
        LinkConfig::new()
            .delay(Duration::from_millis(10))
            .bandwidth(50_000_000)
            .random_loss(0.01),
    );
    let server = p.server;
    let done = |p: &Pair| {
        p.world
            .node::<StackNode>(server)
            .app::<BulkReceiver>()
            .unwrap()
            .eof_at
            .is_some()
    };
    p.run_until(done, Instant::from_secs(120)).unwrap();
    let rx = p
        .world
        .node::<StackNode>(server)
        .app::<BulkReceiver>()
        .unwrap();
    assert_eq!(rx.received, bytes);
    assert_eq!(rx.mismatch, None);
    assert!(p.world.link_stats(p.link, Dir::AToB).dropped_loss > 0);
}

#[test]
fn a_udp_datagram_larger_than_the_mtu_crosses_an_ethernet_link() {
    let mut p = Pair::ethernet(5, Config::default(), Config::default(), LinkConfig::new());
    let server = p.server().udp_open();
    p.server()
        .udp_bind(server, SocketAddrV4::new(SERVER, 7))
        .unwrap();
    let client = p.client().udp_open();
    let now = p.now();
    let big: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    p.client()
        .udp_send_to(now, client, SocketAddrV4::new(SERVER, 7), &big)
        .unwrap();
    p.run_for(Duration::from_millis(50)).unwrap();
    let mut buf = vec![0u8; 8000];
    let got = p.server().udp_recv_from(server, &mut buf).unwrap();
    assert_eq!((got.len, *got.src.ip()), (5000, CLIENT));
    assert_eq!(
        &buf[..5000],
        &big[..],
        "fragmented on the way, whole on arrival"
    );
    assert_eq!(p.server_ref().reasm_stats().reasm_oks, 1);
}
