//! Output polls: a connection is polled only when it may have something to
//! send (`Connection::may_transmit`), and skipping the other polls keeps
//! what an empty poll did (clearing a forced push, retirement).

use super::*;
use crate::tcp::conn::SocketOption;

/// Segments a stack has sent.
fn segs(s: &Stack) -> u64 {
    s.env.stats.tcp.out_segs
}

#[test]
fn a_handshake_polls_each_connection_about_once_per_segment() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    w.a.tcp_send(w.now, c, b"q").unwrap();
    w.run_until(200);
    let mut buf = [0u8; 8];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(1));
    w.b.tcp_send(w.now, s, b"r").unwrap();
    w.run_until(300);
    assert_eq!(w.a.tcp_recv(w.now, c, &mut buf), Ok(1));
    w.a.tcp_close(w.now, c);
    w.run_until(400);
    w.b.tcp_close(w.now, s);
    w.run_until(500);
    let (a, b) = (&w.a, &w.b);
    assert!(segs(a) >= 5 && segs(b) >= 4, "{} {}", segs(a), segs(b));
    // One poll per segment, plus the poll that retires the connection
    // (TIME-WAIT orphan on A, closed on B). Before polls were skipped, every
    // input and every burst of output ended with an empty poll: A 12, B 10.
    assert_eq!(a.conn_polls, segs(a) + 1, "A: {} polls", a.conn_polls);
    assert_eq!(b.conn_polls, segs(b) + 1, "B: {} polls", b.conn_polls);
    // The retirement the last polls did.
    assert_eq!(a.conns.len(), 0);
    assert_eq!(a.time_wait.len(), 1);
    assert_eq!(b.conns.len(), 0);
}

#[test]
fn uncorking_with_nothing_held_does_not_leave_a_forced_push_behind() {
    let mut w = Wire::new();
    let (c, _s) = connected(&mut w);
    // A small segment in flight: Nagle holds the next small one until it
    // is acknowledged.
    w.a.tcp_send(w.now, c, b"1").unwrap();
    w.pump();
    assert_eq!(w.flight.len(), 1);
    // Uncorking pushes held data; there is none, so the push is spent on
    // an empty poll and must not survive it.
    w.a.tcp_set_option(w.now, c, SocketOption::Cork(false))
        .unwrap();
    w.pump();
    assert_eq!(w.flight.len(), 1, "nothing was held");
    w.a.tcp_send(w.now, c, b"2").unwrap();
    w.pump();
    assert_eq!(w.flight.len(), 1, "Nagle holds the second small segment");
    w.run_until(1_000);
    assert_eq!(segs(&w.a), 4, "SYN, ACK, 1, then 2 once 1 is acknowledged");
}

#[test]
fn a_connection_with_nothing_to_send_is_not_queued_after_an_input() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let polls = w.b.conn_polls;
    // A pure ACK of nothing new: B has nothing to send and is not polled.
    w.a.tcp_send(w.now, c, b"x").unwrap();
    w.run_until(1_000);
    let mut buf = [0u8; 4];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(1));
    assert!(w.b.ready.is_empty());
    // B sent one ACK (delayed or quick); one poll for it, none empty.
    assert_eq!(segs(&w.b), 2);
    assert_eq!(w.b.conn_polls - polls, 1);
}

#[test]
fn a_closed_connection_given_up_is_retired_at_once_without_a_poll() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    w.a.tcp_abort(w.now, c);
    let polls = w.b.conn_polls;
    w.run_until(1_000);
    assert_eq!(w.b.tcp_state(s), TcpState::Closed);
    // Closed by the peer's RST while the application holds it: nothing to
    // send, nothing to retire, no poll.
    assert_eq!(w.b.conn_polls, polls);
    assert_eq!(w.b.conns.len(), 1);
    // Given up with nothing to send: retired by the close itself. (It
    // used to be queued, and one empty poll retired it.)
    w.b.tcp_close(w.now, s);
    assert_eq!(w.b.conns.len(), 0);
    assert!(w.b.ready.is_empty());
    w.pump();
    assert_eq!(w.b.conn_polls, polls);
}

#[test]
fn a_connection_in_time_wait_given_up_moves_to_the_table_without_a_poll() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    // A closes first but keeps its handle; B closes on A's FIN.
    w.a.tcp_shutdown(w.now, c, Shutdown::Write).unwrap();
    w.run_until(200);
    w.b.tcp_close(w.now, s);
    w.run_until(300);
    assert_eq!(w.a.tcp_state(c), TcpState::TimeWait);
    assert_eq!(w.b.conns.len(), 0);
    let polls = w.a.conn_polls;
    w.a.tcp_close(w.now, c);
    // Nothing left to send: it went to the TIME-WAIT table at once.
    assert_eq!(w.a.conns.len(), 0);
    assert_eq!(w.a.time_wait.len(), 1);
    assert!(w.a.ready.is_empty());
    assert_invariants(&w.a);
    assert!(drain(&mut w.a, w.now).is_empty());
    assert_eq!(w.a.conn_polls, polls);
    // The entry keeps the connection's TIME-WAIT timer (RFC 9293
    // §3.10.7.4: 2 MSL), and goes when it fires.
    let deadline = w.a.poll_timeout().expect("the TIME-WAIT timer");
    assert!(deadline > w.now);
    w.run_until(200_000);
    assert_eq!(w.a.time_wait.len(), 0);
}

#[test]
fn a_connection_given_up_with_a_fin_to_send_is_polled_as_before() {
    let mut w = Wire::new();
    let (c, _s) = connected(&mut w);
    let polls = w.a.conn_polls;
    w.a.tcp_close(w.now, c);
    // The FIN is still to go: the connection waits in the ready queue.
    assert_eq!(w.a.conns.len(), 1);
    assert_eq!(w.a.ready.len(), 1);
    let out = drain(&mut w.a, w.now);
    assert_eq!(out.len(), 1);
    assert!(out[0].flags.contains(TcpFlags::FIN));
    assert_eq!(w.a.conn_polls, polls + 1);
}

#[test]
fn a_ready_entry_carries_its_connections_peer() {
    // `transmit_conn` routes by the entry's copy before it looks the
    // connection up: the copy must be the connection's peer.
    let mut w = Wire::new();
    let (c, _s) = connected(&mut w);
    w.a.tcp_send(w.now, c, b"x").unwrap();
    assert_eq!(w.a.ready.len(), 1);
    let ready = w.a.ready[0];
    assert_eq!(ready.key, c.0);
    let entry = w.a.conns.get(ready.key).unwrap();
    assert_eq!(ready.dst, *entry.conn.remote().ip());
}
