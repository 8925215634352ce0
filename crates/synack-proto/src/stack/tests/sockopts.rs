//! TCP_LINGER2 and TCP_QUICKACK between two stacks, as Linux treats them
//! (`do_tcp_setsockopt`, `tcp_close`, `tcp_rcv_state_process`,
//! `__tcp_sock_set_quickack`).

use super::*;
use crate::tcp::conn::{
    Linger2, MAX_LINGER2, SocketOption, SocketOptions, defer_accept_retransmits,
};

/// A's connection state, found by its ports in `ss`'s list (an orphan has
/// no handle to ask with); `None` once it is gone.
fn state_of(stack: &Stack, local: SocketAddrV4) -> Option<TcpState> {
    stack
        .sockets()
        .find(|s| s.local == local && s.remote.is_some())
        .map(|s| s.state)
}

/// A half-closes and B acknowledges without closing: A sits in FIN-WAIT-2.
fn in_fin_wait2(w: &mut Wire) -> (ConnHandle, SocketAddrV4) {
    let (c, _s) = connected(w);
    let local = w.a.tcp_addrs(c).unwrap().0;
    w.a.tcp_shutdown(w.now, c, Shutdown::Write).unwrap();
    let ms = w.now.total_millis() + 100;
    w.run_until(ms);
    assert_eq!(w.a.tcp_state(c), TcpState::FinWait2);
    (c, local)
}

#[test]
fn linger2_sets_how_long_an_orphan_waits_in_fin_wait2() {
    // The default: `tcp_fin_timeout`, 60 s.
    let mut w = Wire::new();
    let (c, local) = in_fin_wait2(&mut w);
    let closed_at = w.now.total_millis();
    w.a.tcp_close(w.now, c);
    w.run_until(closed_at + 59_000);
    assert_eq!(state_of(&w.a, local), Some(TcpState::FinWait2));
    w.run_until(closed_at + 61_000);
    assert_eq!(state_of(&w.a, local), None);

    // TCP_LINGER2 5 s.
    let mut w = Wire::new();
    let (c, local) = in_fin_wait2(&mut w);
    w.a.tcp_set_option(
        w.now,
        c,
        SocketOption::Linger2(Linger2::Timeout(Duration::from_secs(5))),
    )
    .unwrap();
    let closed_at = w.now.total_millis();
    w.a.tcp_close(w.now, c);
    w.run_until(closed_at + 4_900);
    assert_eq!(state_of(&w.a, local), Some(TcpState::FinWait2));
    w.run_until(closed_at + 5_100);
    assert_eq!(state_of(&w.a, local), None);
}

/// On a long path the wait is at least 3.5 RTOs, whatever TCP_LINGER2 says
/// (Linux `tcp_fin_time`): 1 s asked, over a 1.2 s round trip.
#[test]
fn an_orphans_fin_wait2_lasts_at_least_three_and_a_half_rtos() {
    let mut w = Wire::new();
    w.delay = Duration::from_millis(600);
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let to = SocketAddrV4::new(B, PORT);
    let c =
        w.a.tcp_connect(w.now, to, ConnectOptions::default())
            .unwrap();
    w.run_until(3_000);
    let _s = w.b.tcp_accept(l).unwrap();
    let local = w.a.tcp_addrs(c).unwrap().0;
    w.a.tcp_shutdown(w.now, c, Shutdown::Write).unwrap();
    w.run_until(w.now.total_millis() + 2_000);
    assert_eq!(w.a.tcp_state(c), TcpState::FinWait2);
    let rto = Duration::from_micros(w.a.tcp_info(c).unwrap().rto);
    assert!(rto > Duration::from_millis(1_200), "{rto:?}");
    let floor = Duration::from_micros(rto.total_micros() * 7 / 2);
    let linger2 = Linger2::Timeout(Duration::from_secs(1));
    w.a.tcp_set_option(w.now, c, SocketOption::Linger2(linger2))
        .unwrap();
    let closed_at = w.now;
    w.a.tcp_close(w.now, c);
    w.run_until((closed_at + floor).total_millis() - 100);
    assert_eq!(state_of(&w.a, local), Some(TcpState::FinWait2));
    w.run_until((closed_at + floor).total_millis() + 100);
    assert_eq!(state_of(&w.a, local), None);
}

/// Linux keeps 0 as "the sysctl" and cuts longer values to 120 s.
#[test]
fn linger2_zero_is_the_default_and_long_values_are_cut() {
    let mut w = Wire::new();
    let (c, _) = connected(&mut w);
    let set = |w: &mut Wire, l| {
        w.a.tcp_set_option(w.now, c, SocketOption::Linger2(l))
            .unwrap();
        w.a.tcp_connection(c).unwrap().socket_options().linger2
    };
    assert_eq!(
        set(&mut w, Linger2::Timeout(Duration::ZERO)),
        Linger2::Default
    );
    let long = Linger2::Timeout(Duration::from_secs(1000));
    assert_eq!(set(&mut w, long), Linger2::Timeout(MAX_LINGER2));
    assert_eq!(set(&mut w, Linger2::Abort), Linger2::Abort);
}

/// TCP_LINGER2 below zero: a close in FIN-WAIT-2 resets the connection
/// (`TCPAbortOnLinger`), and an orphan that reaches FIN-WAIT-2 goes at
/// once, without a reset (`TCPAbortOnData`).
#[test]
fn a_negative_linger2_resets_in_fin_wait2_or_ends_the_orphan_at_once() {
    let mut w = Wire::new();
    let (c, local) = in_fin_wait2(&mut w);
    w.a.tcp_set_option(w.now, c, SocketOption::Linger2(Linger2::Abort))
        .unwrap();
    w.a.tcp_close(w.now, c);
    let sent = drain(&mut w.a, w.now);
    assert!(
        sent.iter().any(|o| o.flags.contains(TcpFlags::RST)),
        "a reset: {sent:?}"
    );
    assert_eq!(state_of(&w.a, local), None);
    assert_eq!(w.a.stats().tcp_ext.tcp_abort_on_linger, 1);

    // Closed before the FIN is acknowledged: FIN-WAIT-1, then gone when
    // the ACK comes, no reset.
    let mut w = Wire::new();
    let (c, _s) = connected(&mut w);
    let local = w.a.tcp_addrs(c).unwrap().0;
    w.a.tcp_set_option(w.now, c, SocketOption::Linger2(Linger2::Abort))
        .unwrap();
    w.a.tcp_close(w.now, c);
    assert_eq!(state_of(&w.a, local), Some(TcpState::FinWait1));
    let ms = w.now.total_millis() + 100;
    w.run_until(ms);
    assert_eq!(state_of(&w.a, local), None);
    assert_eq!(w.a.stats().tcp_ext.tcp_abort_on_data, 1);
    assert_eq!(w.a.stats().tcp_ext.tcp_abort_on_linger, 0);
}

/// TCP_QUICKACK 0 enters ping-pong mode: B's ACK of A's data waits for
/// the delayed-ACK timer (without it, data after a silence is ACKed at
/// once); 1 leaves it and, the data read, sends the owed ACK at once.
#[test]
fn quickack_switches_ping_pong_mode_and_flushes_an_owed_ack() {
    for pingpong in [false, true] {
        let mut w = Wire::new();
        let (c, s) = connected(&mut w);
        w.transfer(true, c, s, &[5u8; 40_000]);
        let ms = w.now.total_millis() + 1_000;
        w.run_until(ms);
        assert!(w.b.tcp_connection(s).unwrap().quick_ack());
        if pingpong {
            w.b.tcp_set_option(w.now, s, SocketOption::QuickAck(false))
                .unwrap();
            assert!(!w.b.tcp_connection(s).unwrap().quick_ack());
        }
        // One small segment after a silence, read at once.
        w.a.tcp_send(w.now, c, b"x").unwrap();
        let at = w.now.total_millis();
        w.run_until(at + 10);
        let mut buf = [0u8; 8];
        assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(1));
        w.run_until(at + 25);
        let unacked = w.a.tcp_connection(c).unwrap().send_queue();
        assert_eq!(
            unacked,
            usize::from(pingpong),
            "ping-pong mode holds the ACK"
        );
        if pingpong {
            w.b.tcp_set_option(w.now, s, SocketOption::QuickAck(true))
                .unwrap();
            assert!(w.b.tcp_connection(s).unwrap().quick_ack());
            let sent = drain(&mut w.b, w.now);
            assert_eq!(sent.len(), 1, "the owed ACK at once: {sent:?}");
            assert!(sent[0].flags.contains(TcpFlags::ACK));
        }
    }
}

/// A listener with TCP_DEFER_ACCEPT, `secs` of it, and a client connected
/// to it (its handshake's bare ACK on the way).
fn deferring(secs: u32) -> (Wire, ListenerHandle, ConnHandle) {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let deferred = SocketOptions {
        defer_accept: defer_accept_retransmits(secs),
        ..SocketOptions::default()
    };
    w.b.tcp_listener_set_options(l, deferred).unwrap();
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    (w, l, c)
}

/// TCP_DEFER_ACCEPT (Linux `tcp_check_req`): the handshake's bare ACK is
/// dropped, so there is nothing to accept, and the SYN-ACK is not resent
/// meanwhile; the client's first data completes the handshake and the
/// connection is accepted with it.
#[test]
fn defer_accept_waits_for_the_first_data() {
    let (mut w, l, c) = deferring(5);
    w.run_until(100);
    assert_eq!(w.a.tcp_state(c), TcpState::Established);
    assert_eq!(w.b.tcp_accept(l), Err(AcceptError::WouldBlock));
    assert_eq!(w.b.stats().tcp_ext.tcp_defer_accept_drop, 1);
    let synacks_before = w.b.stats().tcp_ext.tcp_syn_retrans;
    w.run_until(2_000);
    assert_eq!(w.b.tcp_accept(l), Err(AcceptError::WouldBlock));
    assert_eq!(
        w.b.stats().tcp_ext.tcp_syn_retrans,
        synacks_before,
        "no SYN-ACK resent while waiting for data"
    );
    w.a.tcp_send(w.now, c, b"GET /").unwrap();
    w.run_until(2_100);
    let s = w.b.tcp_accept(l).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"GET /");
}

/// With no data, the deferral ends with its last period's SYN-ACK: the
/// client's ACK of it is taken, and the connection accepted without data
/// (Linux `syn_ack_recalc`). 3 s is two retransmissions (1 s + 2 s).
#[test]
fn defer_accept_takes_the_ack_of_its_last_syn_ack() {
    let (mut w, l, c) = deferring(3);
    w.run_until(2_900);
    assert_eq!(w.b.tcp_accept(l), Err(AcceptError::WouldBlock));
    w.run_until(3_100);
    assert_eq!(
        w.b.stats().tcp_ext.tcp_syn_retrans,
        1,
        "one SYN-ACK, at 3 s"
    );
    let s = w.b.tcp_accept(l).unwrap();
    assert_eq!(w.b.tcp_state(s), TcpState::Established);
    assert_eq!(w.a.tcp_state(c), TcpState::Established);
}

/// SO_RCVLOWAT: `Readable` waits until that many bytes are readable; a
/// blocking read of fewer bytes than the mark waits only for its own
/// length (Linux `tcp_recvmsg`'s target); a nonblocking read takes what
/// there is.
#[test]
fn recv_lowat_holds_readable_until_enough_bytes() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    w.b.tcp_set_option(w.now, s, SocketOption::RecvLowat(1000))
        .unwrap();
    assert_eq!(
        w.b.tcp_connection(s).unwrap().socket_options().recv_lowat,
        1000
    );
    let mut buf = [0u8; 4096];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Err(RecvError::WouldBlock));
    events(&mut w.b);
    w.a.tcp_send(w.now, c, &[1u8; 500]).unwrap();
    let ms = w.now.total_millis() + 50;
    w.run_until(ms);
    assert!(
        !events(&mut w.b).contains(&Event::Readable(s)),
        "500 < 1000"
    );
    assert!(!w.b.tcp_recv_ready(s, 4096));
    assert!(w.b.tcp_recv_ready(s, 100), "a read of 100 needs only 100");
    w.a.tcp_send(w.now, c, &[2u8; 600]).unwrap();
    let ms = w.now.total_millis() + 50;
    w.run_until(ms);
    assert!(
        events(&mut w.b).contains(&Event::Readable(s)),
        "1100 >= 1000"
    );
    assert!(w.b.tcp_recv_ready(s, 4096));
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(1100));
}
