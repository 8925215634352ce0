//! The loopback (`stack/loopback.rs`): TCP and UDP to our own addresses
//! and to 127.0.0.0/8 inside one stack, with nothing for the driver to
//! send; ICMP errors over it; what the wire still refuses.

use super::*;
use crate::ip::icmp::IcmpErrno;
use crate::tcp::conn::SocketOptions;
use crate::udp::UdpError;

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// One stack and its clock. Every drain must leave nothing for the wire:
/// whatever this stack says to itself stays inside it.
struct Host {
    s: Stack,
    now: Instant,
    /// Drains that ended with looped datagrams left (the deadline then
    /// says now).
    budget_stops: u32,
}

impl Host {
    fn new() -> Host {
        Host {
            s: stack(A, 7),
            now: Instant::ZERO,
            budget_stops: 0,
        }
    }

    /// Drains the output (none of it may reach the driver), then runs the
    /// timers that are due, until neither has anything.
    fn settle(&mut self) {
        let mut buf = [0u8; 2000];
        for _ in 0..10_000 {
            if let Some(n) = self.s.poll_transmit(self.now, &mut buf) {
                panic!("a {n}-byte frame left for the driver");
            }
            assert_invariants(&self.s);
            match self.s.poll_timeout() {
                Some(t) if t <= self.now => {
                    if !self.s.looped.is_empty() {
                        self.budget_stops += 1;
                    }
                    self.s.handle_timeout(self.now);
                }
                _ => return,
            }
        }
        panic!("the loopback never settled");
    }

    /// Moves the clock to `ms`, running every timer on the way.
    fn run_until(&mut self, ms: u64) {
        let end = Instant::from_millis(ms);
        self.settle();
        while let Some(t) = self.s.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.s.handle_timeout(self.now);
            self.settle();
        }
        self.now = self.now.max(end);
    }

    fn events(&mut self) -> Vec<Event> {
        events(&mut self.s)
    }

    /// A connection from `connect` to a listener on `listen`, accepted.
    fn pair(&mut self, listen: SocketAddrV4, to: SocketAddrV4) -> (ConnHandle, ConnHandle) {
        self.pair_with(listen, to, ConnectOptions::default())
    }

    /// [`Host::pair`] with the connecting side's options.
    fn pair_with(
        &mut self,
        listen: SocketAddrV4,
        to: SocketAddrV4,
        opts: ConnectOptions,
    ) -> (ConnHandle, ConnHandle) {
        let l = self.s.tcp_listen(listen, 8).unwrap();
        let c = self.s.tcp_connect(self.now, to, opts).unwrap();
        // The whole handshake happens in the one drain, at one instant.
        self.settle();
        assert_eq!(self.s.tcp_state(c), TcpState::Established);
        let ev = self.events();
        assert!(ev.contains(&Event::Connected(c)), "{ev:?}");
        assert!(ev.contains(&Event::AcceptReady(l)), "{ev:?}");
        let a = self.s.tcp_accept(l).unwrap();
        (c, a)
    }

    /// Sends `data` from `from` and reads it at `to`, in turns.
    fn transfer(&mut self, from: ConnHandle, to: ConnHandle, data: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        let mut sent = 0;
        let mut buf = vec![0u8; 64 * 1024];
        for _ in 0..100_000 {
            if sent < data.len() {
                sent += self.s.tcp_send(self.now, from, &data[sent..]).unwrap_or(0);
            }
            self.settle();
            loop {
                match self.s.tcp_recv(self.now, to, &mut buf) {
                    Ok(0) | Err(RecvError::WouldBlock) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("{e:?}"),
                }
            }
            self.settle();
            if got.len() == data.len() {
                return got;
            }
            // Let a delayed ACK or a timer go when nothing else moves.
            let next = self.s.poll_timeout().map_or(self.now, |t| t.max(self.now));
            self.now = next;
            self.s.handle_timeout(self.now);
        }
        panic!("{} of {} bytes arrived", got.len(), data.len());
    }
}

#[test]
fn a_connection_to_ourselves_carries_its_ip_options_both_ways() {
    use crate::ip::options::{MAX_LEN, SendOptions, kind};
    let mut h = Host::new();
    // A record route of one slot, which the first segment's sender fills.
    let rr = [kind::NOP, kind::RECORD_ROUTE, 7, 4, 0, 0, 0, 0];
    let opts = ConnectOptions {
        ip_options: Some(Box::new(SendOptions::new(&rr).unwrap())),
        ..ConnectOptions::default()
    };
    let at = SocketAddrV4::new(A, 80);
    let (c, a) = h.pair_with(at, at, opts);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    assert!(h.transfer(c, a, &data) == data);
    assert!(h.transfer(a, c, &data[..70_000]) == data[..70_000]);
    // The accepted side answers with the option as it came, A in its slot.
    let mut out = [0; MAX_LEN];
    let n = h.s.tcp_ip_options(a).unwrap().as_set(&mut out);
    assert_eq!(
        &out[..n],
        &[kind::RECORD_ROUTE, 7, 8, 192, 0, 2, 1, kind::END]
    );
    assert_eq!(h.s.stats().tcp.retrans_segs, 0);
}

/// A UDP socket bound to 127.0.0.1:7 (the server) and an unbound one
/// (the client).
fn udp_pair(h: &mut Host) -> (crate::udp::UdpHandle, crate::udp::UdpHandle) {
    let server = h.s.udp_open();
    h.s.udp_bind(server, SocketAddrV4::new(LOCALHOST, 7))
        .unwrap();
    (server, h.s.udp_open())
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn a_connection_to_our_own_address_stays_inside_the_stack() {
    let mut h = Host::new();
    let (c, a) = h.pair(SocketAddrV4::new(A, 80), SocketAddrV4::new(A, 80));
    // A new flow to one of our addresses takes it as its source.
    let (local, remote) = h.s.tcp_addrs(c).unwrap();
    assert_eq!((*local.ip(), remote), (A, SocketAddrV4::new(A, 80)));
    assert_eq!(h.s.tcp_addrs(a).unwrap(), (remote, local));
    let data = pattern(1 << 20);
    assert_eq!(h.transfer(c, a, &data), data, "a MiB one way");
    let back = pattern(300_000);
    assert_eq!(h.transfer(a, c, &back), back, "and back");
    // The four-way close, and TIME-WAIT on the side that closed first.
    h.s.tcp_close(h.now, c);
    h.settle();
    h.s.tcp_close(h.now, a);
    h.run_until(h.now.total_millis() + 1_000);
    let states: Vec<_> = h.s.sockets().map(|s| s.state).collect();
    assert!(
        states.contains(&TcpState::TimeWait) && !states.contains(&TcpState::Established),
        "{states:?}"
    );
    h.run_until(h.now.total_millis() + 61_000);
    assert_eq!(h.s.sockets().filter(|s| s.remote.is_some()).count(), 0);
    // Every segment went round the loopback (each with its checksum
    // right: `loop_back` asserts it in debug builds), the data in 64 KB
    // segments: 17 for the MiB, 5 back, and their ACKs.
    let lo = h.s.stats().lo.clone();
    assert!(lo.packets > 22 && lo.bytes > (1 << 20) + 300_000, "{lo:?}");
    assert!(lo.packets < 100, "{lo:?}");
    assert_eq!(lo.drops, 0);
    assert_eq!(h.s.stats().tcp.in_errs, 0);
    assert_eq!(h.s.stats().ip.out_no_routes, 0);
}

#[test]
fn loopback_addresses_take_127_0_0_1_as_their_source() {
    let mut h = Host::new();
    // Bound to 127.0.0.1 and reached there.
    let (c, _) = h.pair(
        SocketAddrV4::new(LOCALHOST, 80),
        SocketAddrV4::new(LOCALHOST, 80),
    );
    let (local, _) = h.s.tcp_addrs(c).unwrap();
    assert_eq!(*local.ip(), LOCALHOST);
    // A wildcard listener hears any of 127/8, as Linux's `local` route.
    let other = Ipv4Addr::new(127, 1, 2, 3);
    let (c, a) = h.pair(
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 81),
        SocketAddrV4::new(other, 81),
    );
    let (local, remote) = h.s.tcp_addrs(c).unwrap();
    assert_eq!(
        (*local.ip(), remote),
        (LOCALHOST, SocketAddrV4::new(other, 81))
    );
    assert_eq!(h.s.tcp_addrs(a).unwrap(), (remote, local));
    // A listener on 127.0.0.1 is not on A, and a wildcard one takes the
    // port on 127/8 too.
    assert_eq!(
        h.s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 1),
        Err(ListenError::AddrInUse)
    );
    let c =
        h.s.tcp_connect(h.now, SocketAddrV4::new(A, 80), ConnectOptions::default())
            .unwrap();
    h.settle();
    assert!(h.events().contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Refused
    }));
}

#[test]
fn a_closed_local_port_refuses_at_once() {
    let mut h = Host::new();
    for to in [SocketAddrV4::new(LOCALHOST, 9), SocketAddrV4::new(A, 9)] {
        let c =
            h.s.tcp_connect(h.now, to, ConnectOptions::default())
                .unwrap();
        // The SYN and its RST both go round in the one drain: no timer,
        // no retransmission.
        h.settle();
        assert!(
            h.events().contains(&Event::Closed {
                conn: c,
                reason: CloseReason::Refused
            }),
            "{to}"
        );
    }
    assert_eq!(h.now, Instant::ZERO);
    assert_eq!(h.s.stats().tcp.retrans_segs, 0);
    assert_eq!(h.s.stats().tcp.out_rsts, 2);
}

#[test]
fn a_socket_connected_to_itself_is_a_simultaneous_open() {
    // Linux's self-connect: the SYN comes back to the socket that sent it
    // (RFC 9293 §3.5, figure 7, with both ends one socket).
    let mut h = Host::new();
    let me = SocketAddrV4::new(A, 5000);
    let opts = ConnectOptions {
        local_port: Some(5000),
        ..ConnectOptions::default()
    };
    let c = h.s.tcp_connect(h.now, me, opts).unwrap();
    h.settle();
    assert_eq!(h.s.tcp_state(c), TcpState::Established);
    assert_eq!(h.s.tcp_addrs(c).unwrap(), (me, me));
    let data = pattern(100_000);
    assert_eq!(h.transfer(c, c, &data), data, "it hears itself");
}

#[test]
fn udp_datagrams_go_round_with_their_sources() {
    let mut h = Host::new();
    let (server, client) = udp_pair(&mut h);
    for (i, size) in [4usize, 1472, 9000, 60_000].into_iter().enumerate() {
        let data = pattern(size);
        h.s.udp_send_to(h.now, client, SocketAddrV4::new(LOCALHOST, 7), &data)
            .unwrap();
        h.settle();
        assert!(h.events().contains(&Event::UdpReadable(server)));
        let mut buf = vec![0u8; 65_536];
        let got = h.s.udp_recv_from(server, &mut buf).unwrap();
        assert_eq!(
            &buf[..got.len],
            &data[..],
            "datagram {i}: whole, never fragmented"
        );
        assert_eq!(*got.src.ip(), LOCALHOST);
    }
    assert_eq!(h.s.reasm_stats().reasm_reqds, 0);
    // To our own address, from a socket on any address: its source is A.
    let any = h.s.udp_open();
    h.s.udp_bind(any, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 53))
        .unwrap();
    h.s.udp_send_to(h.now, client, SocketAddrV4::new(A, 53), b"q")
        .unwrap();
    h.settle();
    let mut buf = [0u8; 8];
    let got = h.s.udp_recv_from(any, &mut buf).unwrap();
    assert_eq!((&buf[..got.len], *got.src.ip()), (&b"q"[..], A));
    // A socket on 127.0.0.1 reaches nothing beyond the host (EINVAL), by
    // `sendto` or `connect`.
    let away = SocketAddrV4::new(B, 7);
    assert_eq!(
        h.s.udp_send_to(h.now, server, away, b"out?"),
        Err(UdpError::InvalidInput)
    );
    assert_eq!(h.s.udp_connect(server, away), Err(UdpError::InvalidInput));
    assert!(drain(&mut h.s, h.now).is_empty());
}

#[test]
fn port_unreachable_comes_back_over_the_loopback() {
    // Linux answers a datagram to a closed port on 127.0.0.1 with ICMP
    // port unreachable, and a connected socket reads ECONNREFUSED; the
    // wire's rule against errors about 127/8 sources does not apply here.
    let mut h = Host::new();
    let u = h.s.udp_open();
    h.s.udp_connect(u, SocketAddrV4::new(LOCALHOST, 9)).unwrap();
    for _ in 0..20 {
        h.s.udp_send(h.now, u, b"anyone?").unwrap();
        h.settle();
        let mut buf = [0u8; 8];
        assert_eq!(
            h.s.udp_recv(u, &mut buf),
            Err(UdpError::Icmp(IcmpErrno::ConnectionRefused)),
            "every time: the loopback is not rate limited"
        );
    }
    assert_eq!(h.s.stats().icmp.out_rate_limit_host, 0);
}

#[test]
fn a_local_connection_sends_segments_of_the_loopbacks_mtu() {
    // Linux's `lo`: an MTU of 64 KB, whatever the interfaces' (RFC 9293
    // §3.7.1: the MSS follows the interface's MTU), so a local connection
    // moves data in 64 KB segments; TCP_MAXSEG still bounds them.
    let mut h = Host::new();
    assert_eq!(h.s.config().mtu, 1500);
    let (c, a) = h.pair(
        SocketAddrV4::new(LOCALHOST, 80),
        SocketAddrV4::new(LOCALHOST, 80),
    );
    for side in [c, a] {
        let info = h.s.tcp_info(side).unwrap();
        // 65,535 - 40, and less the 12 bytes of timestamps a segment.
        assert_eq!((info.advmss, info.snd_mss), (65_495, 65_483));
    }
    let data = pattern(4 << 20);
    let before = h.s.stats().lo.packets;
    assert_eq!(h.transfer(c, a, &data), data);
    let segments = h.s.stats().lo.packets - before;
    // 65 data segments of 65,483 bytes or fewer, and the ACKs.
    assert!((65..200).contains(&segments), "{segments}");
    // A clamped connection, on the other side too (the peer's MSS).
    let opts = ConnectOptions {
        socket: SocketOptions {
            max_segment: 9000,
            ..SocketOptions::default()
        },
        ..ConnectOptions::default()
    };
    let (c, a) = h.pair_with(SocketAddrV4::new(A, 81), SocketAddrV4::new(A, 81), opts);
    assert_eq!(h.s.tcp_info(c).unwrap().advmss, 9000);
    assert_eq!(h.s.tcp_info(a).unwrap().snd_mss, 9000 - 12);
    let data = pattern(1 << 20);
    assert_eq!(h.transfer(c, a, &data), data);
    assert_eq!(h.s.stats().lo.drops, 0);
    // A SYN cookie's stateless SYN-ACK offers the loopback's MSS too; the
    // cookie keeps the client's as one of its four values (1,460).
    h.s.set_sysctl("tcp_syncookies", "2").unwrap();
    let (c, a) = h.pair(
        SocketAddrV4::new(LOCALHOST, 82),
        SocketAddrV4::new(LOCALHOST, 82),
    );
    assert!(h.s.stats().tcp_ext.syncookies_sent > 0);
    assert_eq!(h.s.tcp_info(c).unwrap().snd_mss, 65_483);
    assert_eq!(h.s.tcp_info(a).unwrap().snd_mss, 1448);
}

#[test]
fn the_wire_still_refuses_loopback_and_our_own_sources() {
    // Looped datagrams skip the martian checks; frames from a driver do
    // not (RFC 1122 §3.2.1.3 (g), RFC 1812 §5.3.7).
    let mut h = Host::new();
    let l =
        h.s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 8)
            .unwrap();
    let syn = |src: Ipv4Addr, dst: Ipv4Addr| {
        packet(
            SocketAddrV4::new(src, 4000),
            SocketAddrV4::new(dst, 80),
            TcpFlags::SYN,
            1,
            None,
            &[],
        )
    };
    h.s.handle_frame(h.now, &syn(LOCALHOST, A));
    h.s.handle_frame(h.now, &syn(A, A));
    h.s.handle_frame(h.now, &syn(B, LOCALHOST));
    let ip = &h.s.stats().ip;
    assert_eq!((ip.in_martian_src, ip.in_martian_dst), (2, 1));
    assert!(drain(&mut h.s, h.now).is_empty());
    assert_eq!(h.s.tcp_listener_queues(l), Some((0, 0)));
}

#[test]
fn a_long_exchange_is_delivered_in_budgets_without_loss() {
    // A transfer large enough that one drain would deliver more than its
    // budget of looped datagrams: the drain stops with the deadline at
    // now, and the next call goes on, losing nothing.
    let mut h = Host::new();
    // Buffers of 4 MiB from the start: a window's worth is 2,900 segments.
    for name in ["tcp_rmem", "tcp_wmem"] {
        h.s.set_sysctl(name, "4096 4194304 8388608").unwrap();
    }
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80);
    // Segments of a wire's size (TCP_MAXSEG): 11,600 of them.
    let opts = ConnectOptions {
        socket: SocketOptions {
            max_segment: 1460,
            ..SocketOptions::default()
        },
        ..ConnectOptions::default()
    };
    let (c, a) = h.pair_with(any, SocketAddrV4::new(LOCALHOST, 80), opts);
    assert_eq!(h.s.tcp_info(a).unwrap().snd_mss, 1448);
    let data = pattern(16 << 20);
    assert_eq!(h.transfer(c, a, &data), data);
    assert!(h.budget_stops > 0, "the budget never ran out");
    assert_eq!(h.s.stats().lo.drops, 0);
    assert_eq!(h.s.stats().tcp.retrans_segs, 0);
}

/// Random local traffic: connections over 127.0.0.1 and the host's own
/// address, random writes, reads, half-closes and aborts, random small
/// buffers and queue pressure. Whatever happens, no frame reaches the
/// driver, the stack's invariants hold after every drain, and every
/// connection that was not aborted delivers exactly what was written, in
/// order, and ends.
mod random {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Writes this many bytes on connection `i` (client side if `from_client`).
        Write {
            i: usize,
            from_client: bool,
            len: usize,
        },
        /// Reads what connection `i` has (both sides).
        Read { i: usize },
        /// Lets virtual time pass (delayed ACKs, probes, TIME-WAIT).
        Wait { ms: u64 },
        /// Ends the client's writing on connection `i`.
        Shutdown { i: usize },
        /// Aborts connection `i` (RST both ways).
        Abort { i: usize },
    }

    const CONNS: usize = 4;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0..CONNS, any::<bool>(), 1usize..300_000)
                .prop_map(|(i, from_client, len)| Op::Write { i, from_client, len }),
            6 => (0..CONNS).prop_map(|i| Op::Read { i }),
            3 => (1u64..500).prop_map(|ms| Op::Wait { ms }),
            1 => (0..CONNS).prop_map(|i| Op::Shutdown { i }),
            1 => (0..CONNS).prop_map(|i| Op::Abort { i }),
        ]
    }

    /// One side of a local connection and what it has been sent.
    struct End {
        conn: ConnHandle,
        sent: Vec<u8>,
        got: Vec<u8>,
    }

    fn read_all(h: &mut Host, e: &mut End) {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = h.s.tcp_recv(h.now, e.conn, &mut buf) {
            if n == 0 {
                break;
            }
            e.got.extend_from_slice(&buf[..n]);
        }
    }

    fn run(rmem: usize, ops: &[Op]) {
        let mut h = Host::new();
        // Small buffers: windows fill, writes go short, zero windows.
        let sizes = format!("4096 {rmem} {rmem}");
        h.s.set_sysctl("tcp_rmem", &sizes).unwrap();
        h.s.set_sysctl("tcp_moderate_rcvbuf", "0").unwrap();
        let mut pairs: Vec<(End, End, bool)> = Vec::new();
        for i in 0..CONNS {
            let addr = if i % 2 == 0 { LOCALHOST } else { A };
            let port = 1000 + i as u16;
            let (c, a) = h.pair(SocketAddrV4::new(addr, port), SocketAddrV4::new(addr, port));
            let end = |conn| End {
                conn,
                sent: Vec::new(),
                got: Vec::new(),
            };
            pairs.push((end(c), end(a), false));
        }
        let mut fill = 0u8;
        for op in ops {
            match *op {
                Op::Write {
                    i,
                    from_client,
                    len,
                } => {
                    let (c, a, aborted) = &mut pairs[i];
                    if *aborted {
                        continue;
                    }
                    let from = if from_client { c } else { a };
                    let data: Vec<u8> = (0..len)
                        .map(|_| {
                            fill = fill.wrapping_add(1);
                            fill
                        })
                        .collect();
                    if let Ok(n) = h.s.tcp_send(h.now, from.conn, &data) {
                        from.sent.extend_from_slice(&data[..n]);
                    }
                }
                Op::Read { i } => {
                    let (c, a, _) = &mut pairs[i];
                    read_all(&mut h, c);
                    read_all(&mut h, a);
                }
                Op::Wait { ms } => h.run_until(h.now.total_millis() + ms),
                Op::Shutdown { i } => {
                    let c = pairs[i].0.conn;
                    let _ = h.s.tcp_shutdown(h.now, c, Shutdown::Write);
                }
                Op::Abort { i } => {
                    let (c, a, aborted) = &mut pairs[i];
                    h.s.tcp_abort(h.now, c.conn);
                    h.s.tcp_abort(h.now, a.conn);
                    *aborted = true;
                }
            }
            h.settle();
        }
        // Everything not aborted arrives: read until nothing moves.
        for _ in 0..2_000 {
            for (c, a, _) in &mut pairs {
                read_all(&mut h, c);
                read_all(&mut h, a);
            }
            h.settle();
            let done = pairs.iter().all(|(c, a, aborted)| {
                *aborted || (c.got.len() == a.sent.len() && a.got.len() == c.sent.len())
            });
            if done {
                break;
            }
            h.run_until(h.now.total_millis() + 200);
        }
        for (i, (c, a, aborted)) in pairs.iter().enumerate() {
            if !aborted {
                assert!(a.got == c.sent, "connection {i}: client to server");
                assert!(c.got == a.sent, "connection {i}: server to client");
            }
        }
        assert_eq!(h.s.stats().tcp.in_errs, 0);
        // Closed, every connection ends (TIME-WAIT's 60 s included).
        for (c, a, _) in &pairs {
            h.s.tcp_close(h.now, c.conn);
            h.s.tcp_close(h.now, a.conn);
        }
        h.run_until(h.now.total_millis() + 130_000);
        assert_eq!(h.s.sockets().filter(|s| s.remote.is_some()).count(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn local_traffic_never_leaves_and_nothing_is_lost(
            rmem in prop_oneof![Just(8192usize), Just(65536), Just(1 << 20)],
            ops in proptest::collection::vec(op(), 1..40)
        ) {
            run(rmem, &ops);
        }
    }
}

#[test]
fn a_broadcast_reaches_the_wire_and_the_hosts_own_sockets() {
    // Linux loops a broadcast back to local sockets besides sending it:
    // a copy goes round the loopback, once, the original out of the
    // interface.
    let mut h = Host::new();
    let listener = h.s.udp_open();
    h.s.udp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000))
        .unwrap();
    let sender = h.s.udp_open();
    let subnet = Ipv4Addr::new(192, 0, 2, 255);
    for (to, size) in [(Ipv4Addr::BROADCAST, 100), (subnet, 3000)] {
        let data = pattern(size);
        h.s.udp_send_to(h.now, sender, SocketAddrV4::new(to, 5000), &data)
            .unwrap();
        let mut frames = Vec::new();
        let mut buf = [0u8; 2000];
        while let Some(n) = h.s.poll_transmit(h.now, &mut buf) {
            frames.push(buf[..n].to_vec());
        }
        // On the wire: the datagram, in fragments when it is larger than
        // the MTU (3000 bytes: three).
        assert_eq!(frames.len(), size.div_ceil(1480), "to {to}");
        assert!(
            frames
                .iter()
                .all(|f| Ipv4Packet::new_unchecked(&f[..]).dst_addr() == to)
        );
        // And here, whole, from our own address, to the broadcast address.
        let mut got = vec![0u8; 4096];
        let r = h.s.udp_recv_from(listener, &mut got).unwrap();
        assert_eq!(&got[..r.len], &data[..], "to {to}");
        assert_eq!((*r.src.ip(), r.dst), (A, to));
    }
    assert_eq!(h.s.stats().lo.packets, 2);
    // Nobody on the port: no port unreachable for a broadcast (RFC 1122
    // §3.2.2), looped or not.
    h.s.udp_send_to(
        h.now,
        sender,
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 9),
        b"?",
    )
    .unwrap();
    let mut buf = [0u8; 2000];
    let mut frames = 0;
    while h.s.poll_transmit(h.now, &mut buf).is_some() {
        frames += 1;
    }
    assert_eq!(frames, 1, "the broadcast itself, no ICMP error after it");
    assert_eq!(h.s.stats().icmp.out_dest_unreachs, 0);
}

#[test]
fn a_burst_of_local_datagrams_comes_back_in_batches_not_dropped() {
    // A full output queue of datagrams (1,024) to a local socket: they
    // come back in batches of 64 as they go round, so the loopback's own
    // queue (1,000, Linux's netdev_max_backlog) never overflows.
    let mut h = Host::new();
    let (server, client) = udp_pair(&mut h);
    // Room for them all at the socket (SO_RCVBUF).
    h.s.udp_set_recv_buffer(server, 16 << 20).unwrap();
    let mut sent = 0;
    while h
        .s
        .udp_send_to(h.now, client, SocketAddrV4::new(LOCALHOST, 7), &[9; 100])
        .is_ok()
    {
        sent += 1;
    }
    assert_eq!(sent, super::super::egress::MAX_OUT_DATAGRAMS);
    h.settle();
    let mut got = 0;
    let mut buf = [0u8; 200];
    while h.s.udp_recv(server, &mut buf).is_ok() {
        got += 1;
    }
    assert_eq!((got, h.s.stats().lo.drops), (sent, 0));
}
