//! `tcp_close` of a connection that already ended (CLOSED, or TIME-WAIT)
//! retires it at once instead of running the general bookkeeping after
//! the connection: the stack must do exactly what the general path does.

use super::life::{Observed, record_lossy};
use super::*;
use crate::rng::Rng;

/// What a run shows from outside, and the stack's own tables.
#[derive(Debug, PartialEq)]
struct Closes {
    /// Frames, events, counters and the `ss` view (no listener queues).
    seen: Observed,
    /// (connections, TIME-WAIT entries) after each round.
    counts: Vec<[(usize, usize); 2]>,
    /// Each stack's next deadline after each round.
    deadlines: Vec<[Option<Instant>; 2]>,
    /// What connecting again from each ended connection's port gave.
    reconnects: Vec<Result<TcpState, ConnectError>>,
}

fn host(addr: Ipv4Addr, seed: u64, tw_buckets: usize) -> Stack {
    Stack::new(
        Config {
            seed,
            tcp_max_tw_buckets: tw_buckets,
            ..Config::default()
        },
        Interface::ip(addr, 24),
    )
}

/// Connections that exchange a few bytes, shut down and close at random
/// moments (seeded) over a path that loses frames at random: some closes
/// come while the connection still runs (the general path), most once it
/// ended, in TIME-WAIT or CLOSED, some with an ACK still due. Returns what
/// was seen and how many closes took the short way.
fn closes(seed: u64, tw_buckets: usize, short: bool) -> (Closes, u64) {
    let mut w = Wire::new();
    w.a = host(A, seed, tw_buckets);
    w.b = host(B, seed + 1, tw_buckets);
    w.a.short_close = short;
    w.b.short_close = short;
    let frames = record_lossy(&mut w, seed);
    let mut rng = Rng::from_seed(seed ^ 0x5eed);
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 64).unwrap();
    let opts = ConnectOptions::default();
    let clients: Vec<ConnHandle> = (0..8)
        .map(|_| {
            w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), opts.clone())
                .unwrap()
        })
        .collect();
    let ports: Vec<u16> = clients
        .iter()
        .map(|c| w.a.conns.get(c.0).unwrap().conn.local().port())
        .collect();
    let mut ends: Vec<(bool, ConnHandle)> = clients.iter().map(|&c| (true, c)).collect();
    let mut observed = Closes {
        seen: Observed {
            frames: Vec::new(),
            events: [Vec::new(), Vec::new()],
            stats: Default::default(),
            sockets: [Vec::new(), Vec::new()],
            queues: None,
        },
        counts: Vec::new(),
        deadlines: Vec::new(),
        reconnects: Vec::new(),
    };
    let mut buf = [0u8; 64];
    let mut closed = Vec::new();
    for round in 0..60u64 {
        w.run_until(round * 200);
        observed.seen.events[0].extend(events(&mut w.a));
        observed.seen.events[1].extend(events(&mut w.b));
        while let Ok(s) = w.b.tcp_accept(l) {
            ends.push((false, s));
        }
        let now = w.now;
        for &(client, c) in &ends {
            if closed.contains(&(client, c)) {
                continue;
            }
            let st = if client { &mut w.a } else { &mut w.b };
            let _ = st.tcp_recv(now, c, &mut buf);
            match rng.below(8) {
                0 => {
                    let _ = st.tcp_send(now, c, b"some bytes");
                }
                1 => {
                    let _ = st.tcp_shutdown(now, c, Shutdown::Write);
                }
                // Late closes are likelier, so most find the end reached.
                2 if round > 10 || rng.chance(0.1) => {
                    st.tcp_close(now, c);
                    closed.push((client, c));
                }
                _ => {}
            }
        }
        observed
            .counts
            .push([w.a.connection_count(), w.b.connection_count()]);
        observed
            .deadlines
            .push([w.a.poll_timeout(), w.b.poll_timeout()]);
    }
    // Past TIME-WAIT and every retransmission limit, then the ports again.
    w.run_until(400_000);
    observed.seen.events[0].extend(events(&mut w.a));
    observed.seen.events[1].extend(events(&mut w.b));
    for port in ports {
        let opts = ConnectOptions {
            local_port: Some(port),
            ..ConnectOptions::default()
        };
        let c = w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), opts);
        let end = w.now.total_millis() + 1_000;
        w.run_until(end);
        observed.reconnects.push(c.map(|c| w.a.tcp_state(c)));
    }
    observed
        .counts
        .push([w.a.connection_count(), w.b.connection_count()]);
    observed.seen.frames = frames.take();
    observed.seen.stats = [w.a.stats().clone(), w.b.stats().clone()];
    observed.seen.sockets = [w.a.sockets().collect(), w.b.sockets().collect()];
    (observed, w.a.short_closes + w.b.short_closes)
}

/// The short way for a close after the end changes nothing: the same
/// frames, events, counters, `ss` view, table sizes and deadlines after
/// every round, and the same answers when the ports are used again; with
/// a TIME-WAIT table and without one (`tcp_max_tw_buckets = 0`, as the
/// handshake benchmark runs).
#[test]
fn a_close_after_the_end_does_what_the_general_bookkeeping_did() {
    let mut short_ways = 0;
    for seed in 0..10 {
        for tw_buckets in [0, 18_000] {
            let (general, none) = closes(seed, tw_buckets, false);
            assert_eq!(none, 0);
            let (short, n) = closes(seed, tw_buckets, true);
            short_ways += n;
            assert_eq!(
                general, short,
                "seed {seed}, tcp_max_tw_buckets {tw_buckets}"
            );
        }
    }
    // Not vacuous: most closes took the short way.
    assert!(short_ways > 10 * 2 * 8, "{short_ways}");
}

/// A handshake's two closes both take the short way: the client's in
/// TIME-WAIT, the server's in CLOSED; both connections are gone at once
/// and the client's port is free again.
#[test]
fn a_handshakes_closes_retire_both_ends_at_once() {
    let mut w = Wire::new();
    w.a = host(A, 1, 0);
    w.b = host(B, 2, 0);
    let (c, s) = connected(&mut w);
    let port = w.a.conns.get(c.0).unwrap().conn.local().port();
    w.a.tcp_shutdown(w.now, c, Shutdown::Write).unwrap();
    w.run_until(200);
    w.b.tcp_shutdown(w.now, s, Shutdown::Write).unwrap();
    w.run_until(400);
    assert_eq!(w.a.tcp_state(c), TcpState::TimeWait);
    assert_eq!(w.b.tcp_state(s), TcpState::Closed);
    w.a.tcp_close(w.now, c);
    w.b.tcp_close(w.now, s);
    assert_eq!(w.a.short_closes + w.b.short_closes, 2);
    assert_eq!(w.a.connection_count(), (0, 0));
    assert_eq!(w.b.connection_count(), (0, 0));
    assert_eq!(w.a.poll_timeout(), None);
    let opts = ConnectOptions {
        local_port: Some(port),
        ..ConnectOptions::default()
    };
    let again =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), opts)
            .unwrap();
    w.run_until(600);
    assert_eq!(w.a.tcp_state(again), TcpState::Established);
}

#[test]
fn a_close_beyond_tcp_max_orphans_resets_instead_of_finishing() {
    // Linux `tcp_check_oom` at close: the second orphan past a cap of one
    // is reset (TCPAbortOnMemory) rather than left in FIN-WAIT-1.
    let mut w = Wire::new();
    w.a.set_sysctl("net.ipv4.tcp_max_orphans", "1").unwrap();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let to = SocketAddrV4::new(B, PORT);
    let first =
        w.a.tcp_connect(w.now, to, ConnectOptions::default())
            .unwrap();
    let second =
        w.a.tcp_connect(w.now, to, ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    while w.b.tcp_accept(l).is_ok() {}
    // The peer goes silent: nothing from A reaches it any more, so an
    // orphan's FIN stays unacknowledged.
    w.drop = Box::new(|to_b, _| to_b);
    for c in [first, second] {
        w.a.tcp_send(w.now, c, b"last words").unwrap();
        w.a.tcp_close(w.now, c);
    }
    assert_invariants(&w.a);
    assert_eq!(w.a.stats().tcp_ext.tcp_abort_on_memory, 1);
    // The second sends its reset (dropped on the way, as everything) and
    // is gone; the first goes on retransmitting its FIN.
    w.run_until(200);
    let states: Vec<TcpState> = w.a.sockets().map(|s| s.state).collect();
    assert_eq!(states, [TcpState::FinWait1], "one orphan left: {states:?}");
    assert_eq!(w.a.stats().tcp.out_rsts, 1);
    // The default cap (Linux's on a machine this size) leaves both.
    let mut w = Wire::new();
    assert_eq!(w.a.config().tcp_max_orphans, 131_072);
    let (c, _) = connected(&mut w);
    w.drop = Box::new(|to_b, _| to_b);
    w.a.tcp_send(w.now, c, b"last words").unwrap();
    w.a.tcp_close(w.now, c);
    assert_eq!(w.a.stats().tcp_ext.tcp_abort_on_memory, 0);
    // Buffer memory above tcp_mem's high mark (three pages here), with
    // more than SOCK_MIN_SNDBUF still to send: reset at close too.
    let mut w = Wire::new();
    let (c, _) = connected(&mut w);
    w.drop = Box::new(|to_b, _| to_b);
    w.a.set_sysctl("net.ipv4.tcp_mem", "1 2 3").unwrap();
    let sent = w.a.tcp_send(w.now, c, &[7; 40_000]).unwrap();
    assert!(sent > 4_608, "{sent}");
    assert_eq!(
        w.a.memory_state(),
        crate::tcp::memory::MemoryState::Exhausted
    );
    w.a.tcp_close(w.now, c);
    assert_eq!(w.a.stats().tcp_ext.tcp_abort_on_memory, 1);
    assert_invariants(&w.a);
}
