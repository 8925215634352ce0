//! Listeners as the kernel does them: the accept queue's overflow (drop
//! the completing ACK, or reset with `tcp_abort_on_overflow`), closing a
//! listener, SO_REUSEADDR, and the ports of active opens.

use super::*;
use crate::stack::ReuseportError;
use crate::tcp::reuseport::ReuseportSelect;

const PORT: u16 = 80;

fn server() -> SocketAddrV4 {
    SocketAddrV4::new(B, PORT)
}

/// Two connects at once to a listener with backlog 0 (room for one: Linux
/// holds backlog + 1): both SYNs find room (the queue is empty), the second
/// completing ACK finds it full.
fn two_at_once(w: &mut Wire) -> (ListenerHandle, ConnHandle, ConnHandle) {
    let l = w.b.tcp_listen(server(), 0).unwrap();
    let now = w.now;
    let c1 =
        w.a.tcp_connect(now, server(), ConnectOptions::default())
            .unwrap();
    let c2 =
        w.a.tcp_connect(now, server(), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    (l, c1, c2)
}

#[test]
fn a_full_accept_queue_drops_the_completing_ack_until_there_is_room() {
    let mut w = Wire::new();
    let (l, c1, c2) = two_at_once(&mut w);
    // The client thinks both are open; the server has one queued, one
    // still half-open (its ACK dropped, Linux with abort_on_overflow = 0).
    assert_eq!(w.a.tcp_state(c2), TcpState::Established);
    assert_eq!(w.b.tcp_listener_queues(l), Some((1, 1)));
    assert_eq!(w.b.stats().tcp_ext.listen_overflows, 1);
    // The SYN-ACK is retransmitted (1 s) and the client's ACK is dropped
    // again while the queue stays full.
    w.run_until(1_500);
    assert_eq!(w.b.stats().tcp_ext.listen_overflows, 2);
    assert!(w.b.stats().tcp.retrans_segs >= 1);
    // Accepting makes room: the next retransmission completes it.
    let first = w.b.tcp_accept(l).unwrap();
    assert_eq!(
        w.b.tcp_addrs(first).unwrap().1,
        w.a.tcp_addrs(c1).unwrap().0
    );
    w.run_until(4_000);
    let second = w.b.tcp_accept(l).unwrap();
    assert_eq!(
        w.b.tcp_addrs(second).unwrap().1,
        w.a.tcp_addrs(c2).unwrap().0
    );
    assert_eq!(w.b.tcp_listener_queues(l), Some((0, 0)));
    // New SYNs are dropped while the queue is full (ListenDrops).
    let c3 =
        w.a.tcp_connect(w.now, server(), ConnectOptions::default())
            .unwrap();
    w.run_until(4_100);
    assert_eq!(w.b.tcp_listener_queues(l), Some((0, 1)));
    let drops = w.b.stats().tcp_ext.listen_drops;
    let c4 =
        w.a.tcp_connect(w.now, server(), ConnectOptions::default())
            .unwrap();
    w.run_until(4_200);
    assert_eq!(w.a.tcp_state(c3), TcpState::Established);
    assert_eq!(w.a.tcp_state(c4), TcpState::SynSent);
    assert_eq!(w.b.stats().tcp_ext.listen_drops, drops + 1);
    assert_eq!(w.b.tcp_listener_queues(l), Some((0, 1)), "no state for it");
}

#[test]
fn abort_on_overflow_resets_the_connection_that_does_not_fit() {
    let mut w = Wire::new();
    w.b = Stack::new(
        Config {
            seed: 2,
            tcp_abort_on_overflow: true,
            ..Config::default()
        },
        Interface::ip(B, 24),
    );
    let (l, c1, c2) = two_at_once(&mut w);
    assert_eq!(w.a.tcp_state(c1), TcpState::Established);
    assert_eq!(w.a.tcp_state(c2), TcpState::Closed, "reset by the server");
    assert!(events(&mut w.a).contains(&Event::Closed {
        conn: c2,
        reason: CloseReason::Reset
    }));
    assert_eq!(w.b.stats().tcp_ext.embryonic_rsts, 1);
    assert_eq!(w.b.tcp_listener_queues(l), Some((0, 1)));
    assert_eq!(w.b.connection_count(), (1, 0), "the half-open one is gone");
}

#[test]
fn closing_a_listener_resets_every_connection_not_yet_accepted() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(server(), 8).unwrap();
    let now = w.now;
    let done: Vec<ConnHandle> = (0..2)
        .map(|_| {
            w.a.tcp_connect(now, server(), ConnectOptions::default())
                .unwrap()
        })
        .collect();
    w.run_until(100);
    // A third whose handshake ACK is lost stays half-open at the server.
    w.drop = Box::new(|to_b, frame| to_b && frame[33] == TcpFlags::ACK.bits());
    let half =
        w.a.tcp_connect(w.now, server(), ConnectOptions::default())
            .unwrap();
    w.run_until(200);
    assert_eq!(w.b.tcp_listener_queues(l), Some((1, 2)));
    w.drop = Box::new(|_, _| false);
    let now = w.now;
    // The listener counts its half-open connection; the close finds it
    // by one walk of the connections.
    let scans = w.b.full_scans();
    w.b.tcp_close_listener(now, l);
    assert_eq!(w.b.full_scans(), scans + 1, "one walk for the half-open");
    w.run_until(300);
    for c in done.iter().chain([&half]) {
        assert_eq!(w.a.tcp_state(*c), TcpState::Closed, "{c}");
    }
    let resets = events(&mut w.a)
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Closed {
                    reason: CloseReason::Reset,
                    ..
                }
            )
        })
        .count();
    assert_eq!(resets, 3);
    assert_eq!(w.b.connection_count(), (0, 0));
    assert_eq!(w.b.tcp_accept(l), Err(AcceptError::InvalidHandle));
}

/// A connection whose listener is closed and whose server side closed
/// first: the server holds `server()` in one TIME-WAIT entry.
fn server_in_time_wait() -> Wire {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let l = ListenerHandle(w.b.listeners.keys().next().unwrap());
    let now = w.now;
    w.b.tcp_close_listener(now, l);
    // The server closes first: its side of the 4-tuple ends in TIME-WAIT.
    w.b.tcp_close(now, s);
    w.run_until(200);
    let now = w.now;
    w.a.tcp_close(now, c);
    w.run_until(300);
    assert_eq!(w.b.connection_count(), (0, 1));
    w
}

#[test]
fn so_reuseaddr_lets_a_listener_bind_a_port_with_time_wait_entries() {
    let mut w = server_in_time_wait();
    assert_eq!(w.b.tcp_listen(server(), 8), Err(ListenError::AddrInUse));
    let wildcard = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT);
    assert_eq!(w.b.tcp_listen(wildcard, 8), Err(ListenError::AddrInUse));
    let reuse = ListenOptions {
        backlog: 8,
        reuse_addr: true,
        reuse_port: false,
        ..ListenOptions::default()
    };
    let l = w.b.tcp_listen_with(wildcard, reuse).unwrap();
    // A second listener on the port is refused, SO_REUSEADDR or not.
    assert_eq!(
        w.b.tcp_listen_with(server(), reuse),
        Err(ListenError::AddrInUse)
    );
    // Once TIME-WAIT is over, the port is free for anyone.
    w.b.tcp_close_listener(w.now, l);
    w.run_until(61_000);
    assert_eq!(w.b.connection_count(), (0, 0));
    assert!(w.b.tcp_listen(server(), 8).is_ok());
}

/// The port marks (a bit per port, an exact scan at listen) against the
/// count they replaced: a port held on one address conflicts there and on
/// the wildcard only, a scan that finds a holder elsewhere keeps the mark,
/// and the port is free once its last TIME-WAIT entry ends.
#[test]
fn a_held_port_conflicts_on_its_own_address_only_until_its_holder_ends() {
    let mut w = server_in_time_wait();
    // A second address on the server: the TIME-WAIT entry on B holds
    // nothing there.
    let other = Ipv4Addr::new(198, 51, 100, 2);
    w.b.add_interface(Interface::ip(other, 24));
    let scans = w.b.full_scans();
    let elsewhere = w.b.tcp_listen(SocketAddrV4::new(other, PORT), 8).unwrap();
    w.b.tcp_close_listener(w.now, elsewhere);
    // That scan found the holder on B: the port is still marked.
    assert!(w.b.port_marks.is_marked(PORT));
    assert_eq!(w.b.full_scans(), scans + 1, "a marked port is a full scan");
    assert_eq!(w.b.tcp_listen(server(), 8), Err(ListenError::AddrInUse));
    let wildcard = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT);
    assert_eq!(w.b.tcp_listen(wildcard, 8), Err(ListenError::AddrInUse));
    // TIME-WAIT ends: nothing is scanned until the next listen, which
    // finds the port free and clears its mark.
    w.run_until(61_000);
    assert_eq!(w.b.connection_count(), (0, 0));
    assert!(w.b.port_marks.is_marked(PORT));
    let listener = w.b.tcp_listen(wildcard, 8).unwrap();
    assert!(!w.b.port_marks.is_marked(PORT));
    // Cleared: the next listen on the port walks nothing.
    w.b.tcp_close_listener(w.now, listener);
    let scans = w.b.full_scans();
    assert!(w.b.tcp_listen(wildcard, 8).is_ok());
    assert_eq!(w.b.full_scans(), scans, "an unmarked port is not scanned");
}

/// The listening addresses count their specific ones, and skip that
/// lookup when there are none: each listener gets its segments however
/// the specific and wildcard listeners come and go.
#[test]
fn specific_and_wildcard_listeners_each_get_their_own_segments() {
    let mut w = Wire::new();
    let wildcard = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    let accepted_by = |w: &mut Wire, l: ListenerHandle, to: SocketAddrV4| {
        let t = w.now.total_millis();
        let now = w.now;
        w.a.tcp_connect(now, to, ConnectOptions::default()).unwrap();
        w.run_until(t + 100);
        w.b.tcp_accept(l).is_ok()
    };
    let any81 = w.b.tcp_listen(wildcard(81), 8).unwrap();
    assert!(accepted_by(&mut w, any81, SocketAddrV4::new(B, 81)));
    let b80 = w.b.tcp_listen(server(), 8).unwrap();
    assert_eq!(w.b.listen_map.entries().count(), 2);
    assert!(accepted_by(&mut w, b80, server()));
    assert!(accepted_by(&mut w, any81, SocketAddrV4::new(B, 81)));
    w.b.tcp_close_listener(w.now, any81);
    assert!(accepted_by(&mut w, b80, server()));
    // The specific one gone, a wildcard one on its port takes over (its
    // accepted connections still hold the port: SO_REUSEADDR).
    w.b.tcp_close_listener(w.now, b80);
    let reuse = ListenOptions {
        backlog: 8,
        reuse_addr: true,
        reuse_port: false,
        ..ListenOptions::default()
    };
    let any80 = w.b.tcp_listen_with(wildcard(PORT), reuse).unwrap();
    assert!(accepted_by(&mut w, any80, server()));
    // No listener at all: the SYN is reset (nothing to accept).
    w.b.tcp_close_listener(w.now, any80);
    let resets = w.b.stats().tcp.out_rsts;
    let t = w.now.total_millis();
    let now = w.now;
    w.a.tcp_connect(now, server(), ConnectOptions::default())
        .unwrap();
    w.run_until(t + 100);
    assert_eq!(w.b.stats().tcp.out_rsts, resets + 1);
}

#[test]
fn active_opens_pick_free_ports_and_report_std_errors() {
    let mut w = Wire::new();
    w.a = Stack::new(
        Config {
            seed: 1,
            ip_local_port_range: (40000, 40002),
            ..Config::default()
        },
        Interface::ip(A, 24),
    );
    w.b.tcp_listen(server(), 8).unwrap();
    let now = w.now;
    let mut ports: Vec<u16> = (0..3)
        .map(|_| {
            let c =
                w.a.tcp_connect(now, server(), ConnectOptions::default())
                    .unwrap();
            w.a.tcp_addrs(c).unwrap().0.port()
        })
        .collect();
    ports.sort_unstable();
    assert_eq!(ports, [40000, 40001, 40002]);
    assert_eq!(
        w.a.tcp_connect(now, server(), ConnectOptions::default()),
        Err(ConnectError::NoEphemeralPorts)
    );
    // Another server: the same ports are free again (RFC 6056 §2.2: the
    // 4-tuple must be unique, not the port).
    let other = SocketAddrV4::new(B, 81);
    assert!(
        w.a.tcp_connect(now, other, ConnectOptions::default())
            .is_ok()
    );
    let explicit = ConnectOptions {
        local_port: Some(40001),
        ..ConnectOptions::default()
    };
    assert_eq!(
        w.a.tcp_connect(now, server(), explicit),
        Err(ConnectError::AddrInUse)
    );
    // A port a listener owns is not used for connections.
    w.a.tcp_listen(SocketAddrV4::new(A, 5000), 1).unwrap();
    let on_listener = ConnectOptions {
        local_port: Some(5000),
        ..ConnectOptions::default()
    };
    assert_eq!(
        w.a.tcp_connect(now, other, on_listener),
        Err(ConnectError::AddrInUse)
    );
    for bad in [
        SocketAddrV4::new(B, 0),
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 255), 80),
        SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 1), 80),
    ] {
        assert_eq!(
            w.a.tcp_connect(now, bad, ConnectOptions::default()),
            Err(ConnectError::InvalidAddress),
            "{bad}"
        );
    }
    // 127/8 never leaves the host: bound there, no way to B (EINVAL).
    let loopback = ConnectOptions {
        local_addr: Some(Ipv4Addr::LOCALHOST),
        ..ConnectOptions::default()
    };
    assert_eq!(
        w.a.tcp_connect(now, server(), loopback),
        Err(ConnectError::InvalidAddress)
    );
}

#[test]
fn closing_a_listener_without_half_open_connections_walks_nothing() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(server(), 8).unwrap();
    let c =
        w.a.tcp_connect(w.now, server(), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    assert_eq!(w.b.tcp_listener_queues(l), Some((0, 1)));
    let scans = w.b.full_scans();
    let now = w.now;
    w.b.tcp_close_listener(now, l);
    assert_eq!(w.b.full_scans(), scans, "no half-open: no walk");
    w.run_until(200);
    assert_eq!(
        w.a.tcp_state(c),
        TcpState::Closed,
        "the queued one is reset"
    );
    assert_eq!(w.b.connection_count(), (0, 0));
}

/// `n` listeners on the server's address, all with SO_REUSEPORT.
fn reuseport_group(s: &mut Stack, n: usize) -> Vec<ListenerHandle> {
    let shared = ListenOptions {
        reuse_port: true,
        ..ListenOptions::default()
    };
    (0..n)
        .map(|_| s.tcp_listen_with(server(), shared).unwrap())
        .collect()
}

/// Accepts everything waiting on `l`; returns the connections' peers.
fn accept_all(s: &mut Stack, l: ListenerHandle) -> Vec<SocketAddrV4> {
    let mut peers = Vec::new();
    while let Ok(c) = s.tcp_accept(l) {
        peers.push(s.tcp_addrs(c).unwrap().1);
    }
    peers
}

#[test]
fn reuseport_listeners_share_a_port_and_split_its_connections() {
    // SO_REUSEPORT (Linux's reuseport groups): listeners that all set it
    // share an address and port; each new connection goes to one, by a
    // keyed hash of its 4-tuple.
    let mut w = Wire::new();
    let group = reuseport_group(&mut w.b, 3);
    // One that does not set it may not join, nor overlap as the wildcard.
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT);
    assert_eq!(w.b.tcp_listen(server(), 8), Err(ListenError::AddrInUse));
    assert_eq!(w.b.tcp_listen(any, 8), Err(ListenError::AddrInUse));
    let now = w.now;
    for _ in 0..90 {
        w.a.tcp_connect(now, server(), ConnectOptions::default())
            .unwrap();
    }
    w.run_until(200);
    let peers: Vec<Vec<_>> = group.iter().map(|&l| accept_all(&mut w.b, l)).collect();
    let counts: Vec<usize> = peers.iter().map(Vec::len).collect();
    eprintln!("connections per member: {counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 90, "{counts:?}");
    assert!(
        counts.iter().all(|&n| n >= 15),
        "spread over the group: {counts:?}"
    );
    // The first listener goes: the others keep the port and take every
    // new connection; its queue (empty here) would be reset, as on Linux.
    let now = w.now;
    w.b.tcp_close_listener(now, group[0]);
    for _ in 0..30 {
        w.a.tcp_connect(now, server(), ConnectOptions::default())
            .unwrap();
    }
    w.run_until(400);
    let later: usize = group[1..]
        .iter()
        .map(|&l| accept_all(&mut w.b, l).len())
        .sum();
    assert_eq!(later, 30);
    assert_eq!(w.b.stats().tcp.attempt_fails, 0);
    // The group's last members go: the port is free for any listener (with
    // SO_REUSEADDR, as the accepted connections still hold it).
    let now = w.now;
    for &l in &group[1..] {
        w.b.tcp_close_listener(now, l);
    }
    let reuse = ListenOptions {
        reuse_addr: true,
        ..ListenOptions::default()
    };
    w.b.tcp_listen_with(any, reuse).unwrap();
}

#[test]
fn a_reuseport_group_picks_the_same_listener_for_a_connections_segments() {
    // Every segment of a 4-tuple finds the same listener (a SYN-cookie ACK
    // must): the same client port, asked again after its first connection
    // is reset, lands on the same member.
    let mut w = Wire::new();
    let group = reuseport_group(&mut w.b, 4);
    let opts = ConnectOptions {
        local_port: Some(40_000),
        ..ConnectOptions::default()
    };
    let mut chosen = Vec::new();
    for round in 0..3 {
        let now = w.now;
        let c = w.a.tcp_connect(now, server(), opts.clone()).unwrap();
        w.run_until(100 * (round + 1));
        let l = group
            .iter()
            .copied()
            .find(|&l| w.b.tcp_listener_queues(l) == Some((0, 1)))
            .unwrap();
        chosen.push(l);
        let s = w.b.tcp_accept(l).unwrap();
        let now = w.now;
        w.a.tcp_abort(now, c);
        w.b.tcp_abort(now, s);
        w.run_until(100 * (round + 1) + 50);
    }
    assert!(chosen.windows(2).all(|p| p[0] == p[1]), "{chosen:?}");
}

/// `tcp_migrate_req`: a member of a reuseport group that closes hands the
/// connections in its queues, established and half-open, to the members
/// left, where they are accepted; without it (Linux's default) they are
/// reset. Either way each is counted (`TCPMigrateReqSuccess`, `...Failure`).
#[test]
fn a_closing_reuseport_member_hands_its_queues_on_with_tcp_migrate_req() {
    for migrate in [false, true] {
        let mut w = Wire::new();
        w.b = Stack::new(
            Config {
                seed: 2,
                tcp_migrate_req: migrate,
                ..Config::default()
            },
            Interface::ip(B, 24),
        );
        let group = reuseport_group(&mut w.b, 3);
        let now = w.now;
        let mut conns: Vec<ConnHandle> = (0..60)
            .map(|_| {
                w.a.tcp_connect(now, server(), ConnectOptions::default())
                    .unwrap()
            })
            .collect();
        w.run_until(200);
        // 30 more stay half-open: their handshakes' last ACKs are lost.
        w.drop = Box::new(|to_b, frame| to_b && frame[33] == 0x10 && frame.len() == 52);
        let now = w.now;
        conns.extend((0..30).map(|_| {
            w.a.tcp_connect(now, server(), ConnectOptions::default())
                .unwrap()
        }));
        w.run_until(400);
        let (half_open, queued) = w.b.tcp_listener_queues(group[0]).unwrap();
        assert!(half_open >= 3 && queued >= 10, "{half_open} and {queued}");
        let moved = (half_open + queued) as u64;
        let now = w.now;
        w.b.tcp_close_listener(now, group[0]);
        w.drop = Box::new(|_, _| false);
        // The SYN-ACKs go again at 1 s, and their ACKs get through.
        w.run_until(3_000);
        let accepted: usize = group[1..]
            .iter()
            .map(|&l| accept_all(&mut w.b, l).len())
            .sum();
        let closed = conns
            .iter()
            .filter(|&&c| w.a.tcp_state(c) == TcpState::Closed)
            .count();
        let ext = &w.b.stats().tcp_ext;
        if migrate {
            assert_eq!((accepted, closed), (90, 0), "every one handed on");
            assert_eq!(
                (ext.tcp_migrate_req_success, ext.tcp_migrate_req_failure),
                (moved, 0)
            );
        } else {
            assert_eq!(accepted as u64, 90 - moved);
            assert_eq!(closed as u64, moved, "reset");
            assert_eq!(
                (ext.tcp_migrate_req_success, ext.tcp_migrate_req_failure),
                (0, moved)
            );
        }
    }
}

/// Opens a connection from each of `ports` to the server and runs the wire
/// until they are established.
fn connect_from(w: &mut Wire, ports: impl Iterator<Item = u16>, until: u64) {
    let now = w.now;
    for port in ports {
        let opts = ConnectOptions {
            local_port: Some(port),
            ..ConnectOptions::default()
        };
        w.a.tcp_connect(now, server(), opts).unwrap();
    }
    w.run_until(until);
}

#[test]
fn a_reuseport_groups_selection_program_picks_its_members() {
    // SO_ATTACH_REUSEPORT_CBPF's place (`tcp::reuseport`): the group's
    // program picks each connection's member by what it sees; an answer
    // past the group leaves it to the hash; detached, the hash again.
    let mut w = Wire::new();
    let group = reuseport_group(&mut w.b, 3);
    let odd_even = ReuseportSelect::new(|c| Some(if c.remote.port() % 2 == 0 { 0 } else { 2 }));
    // Set through any member, for the whole group.
    w.b.tcp_attach_reuseport_select(group[1], odd_even).unwrap();
    connect_from(&mut w, 41_000..41_040, 200);
    let ports = |peers: Vec<SocketAddrV4>| -> Vec<u16> { peers.iter().map(|p| p.port()).collect() };
    let first = ports(accept_all(&mut w.b, group[0]));
    let second = ports(accept_all(&mut w.b, group[1]));
    let third = ports(accept_all(&mut w.b, group[2]));
    assert_eq!((first.len(), second.len(), third.len()), (20, 0, 20));
    assert!(first.iter().all(|p| p % 2 == 0) && third.iter().all(|p| p % 2 == 1));
    // The member that set it goes; the program stays with the group, whose
    // members are now [first, third]: odd ports ask for index 2, past the
    // group, and the hash picks.
    let now = w.now;
    w.b.tcp_close_listener(now, group[1]);
    connect_from(&mut w, 42_000..42_040, 400);
    let even_first = ports(accept_all(&mut w.b, group[0]));
    let rest = ports(accept_all(&mut w.b, group[2]));
    assert_eq!(even_first.len() + rest.len(), 40);
    assert!(rest.iter().all(|p| p % 2 == 1), "even ports all to index 0");
    assert!(
        even_first.iter().any(|p| p % 2 == 1),
        "odd ones hashed: some here"
    );
    assert!(!rest.is_empty(), "odd ones hashed: some there");
    // Detached: the hash for every port.
    w.b.tcp_detach_reuseport_select(group[0]).unwrap();
    assert_eq!(
        w.b.tcp_detach_reuseport_select(group[0]),
        Err(ReuseportError::NoProgram)
    );
    connect_from(&mut w, 43_000..43_040, 600);
    let a = ports(accept_all(&mut w.b, group[0]));
    let b = ports(accept_all(&mut w.b, group[2]));
    assert_eq!(a.len() + b.len(), 40);
    assert!(
        a.iter().any(|p| p % 2 == 1) && b.iter().any(|p| p % 2 == 0),
        "{a:?} {b:?}"
    );
    assert_eq!(w.b.stats().tcp.attempt_fails, 0);
    // Only a SO_REUSEPORT listener has a group; a closed one has nothing.
    let other = SocketAddrV4::new(server().ip().to_owned(), PORT + 1);
    let plain = w.b.tcp_listen(other, 8).unwrap();
    let any = ReuseportSelect::new(|_| Some(0));
    assert_eq!(
        w.b.tcp_attach_reuseport_select(plain, any.clone()),
        Err(ReuseportError::NotReusePort)
    );
    assert_eq!(
        w.b.tcp_attach_reuseport_select(group[1], any),
        Err(ReuseportError::InvalidHandle)
    );
}
