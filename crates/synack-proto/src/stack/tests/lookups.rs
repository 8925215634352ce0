//! Connection-slab lookups on the receive path: a path that holds a
//! connection's entry does not find it again (`deliver` runs the
//! bookkeeping after the connection on the entry it found; a new
//! connection's 4-tuple is read as it is built), and the bookkeeping still
//! does all it did.

use super::*;

/// Lookups in `stack`'s connection slab during `f`.
fn lookups_during(stack: &mut Stack, f: impl FnOnce(&mut Stack)) -> u64 {
    let before = stack.conns.lookups();
    f(stack);
    stack.conns.lookups() - before
}

/// The one frame in flight (to `to_b`), taken off the wire.
fn take_frame(w: &mut Wire, to_b: bool) -> Vec<u8> {
    w.pump();
    let i = w
        .flight
        .iter()
        .position(|f| f.1 == to_b)
        .expect("a frame in flight");
    assert_eq!(w.flight.iter().filter(|f| f.1 == to_b).count(), 1);
    w.flight.remove(i).2
}

#[test]
fn a_segment_finds_its_connection_once_and_text_twice() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    w.a.tcp_send(w.now, c, b"q").unwrap();
    let data = take_frame(&mut w, true);
    let now = w.now;
    // Text: staged (checksummed while copied) before the checksum is
    // known, then delivered. Before, `after_conn` and the clearing of
    // staged bytes found the entry again: 4.
    let n = lookups_during(&mut w.b, |b| b.handle_frame(now, &data));
    assert_eq!(n, 2, "lookups for a segment with text");
    // The bookkeeping after the connection ran, as before: the
    // application's event, the connection queued for its ACK, the text
    // committed (nothing left staged).
    assert!(events(&mut w.b).contains(&Event::Readable(s)));
    let ack = take_frame(&mut w, false);
    let mut buf = [0u8; 4];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(1));
    assert_eq!(&buf[..1], b"q");
    // A bare ACK: found once. Before, `after_conn` found it again: 2.
    let n = lookups_during(&mut w.a, |a| a.handle_frame(now, &ack));
    assert_eq!(n, 1, "lookups for a bare ACK");
    w.run_until(1_000);
    assert_eq!(w.a.tcp_state(c), TcpState::Established);
}

#[test]
fn a_reset_closes_and_unhooks_its_connection_from_the_segment_path() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    w.b.tcp_abort(w.now, s);
    let rst = take_frame(&mut w, false);
    let tuple = FourTuple {
        local: SocketAddrV4::new(A, w.a.conns.get(c.0).unwrap().conn.local().port()),
        remote: SocketAddrV4::new(B, PORT),
    };
    assert_eq!(w.a.demux.get(slots!(w.a), &tuple), Some(Demux::Conn(c.0)));
    let now = w.now;
    let n = lookups_during(&mut w.a, |a| a.handle_frame(now, &rst));
    assert_eq!(n, 1, "lookups for a reset");
    // The closed connection left the demux map and the timer queue, and
    // the application heard of it.
    assert_eq!(w.a.demux.get(slots!(w.a), &tuple), None);
    assert_eq!(w.a.tcp_state(c), TcpState::Closed);
    assert!(events(&mut w.a).contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Reset,
    }));
    assert_eq!(w.a.conns.get(c.0).unwrap().conn.poll_timeout(), None);
    assert_eq!(w.a.poll_timeout(), None);
}

#[test]
fn opening_a_connection_finds_the_new_entry_once() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let now = w.now;
    let mut c = None;
    // `insert_conn` reads the 4-tuple as it builds the connection; the two
    // lookups are `connect_impl`'s (to set the connection up) and its
    // `after_conn`'s. Before: 3.
    let n = lookups_during(&mut w.a, |a| {
        c = Some(
            a.tcp_connect(now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
                .unwrap(),
        );
    });
    assert_eq!(n, 2, "lookups for a connect");
    let c = c.unwrap();
    let syn = take_frame(&mut w, true);
    // The listener's half-open child: the same. Before: 2.
    let n = lookups_during(&mut w.b, |b| b.handle_frame(now, &syn));
    assert_eq!(n, 1, "lookups for a SYN at a listener");
    // The new connections are found by their 4-tuples.
    let tuple = FourTuple {
        local: SocketAddrV4::new(B, PORT),
        remote: w.a.conns.get(c.0).unwrap().conn.local(),
    };
    assert!(matches!(
        w.b.demux.get(slots!(w.b), &tuple),
        Some(Demux::Conn(_))
    ));
    w.run_until(100);
    assert_eq!(w.a.tcp_state(c), TcpState::Established);
    assert!(events(&mut w.b).contains(&Event::AcceptReady(l)));
}

#[test]
fn the_applications_calls_find_their_connection_once() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    events(&mut w.a);
    events(&mut w.b);
    let now = w.now;
    // A send runs the bookkeeping on the entry it found. Before, its
    // `after_conn` found it again: 2.
    let n = lookups_during(&mut w.a, |a| assert_eq!(a.tcp_send(now, c, b"hi"), Ok(2)));
    assert_eq!(n, 1, "lookups for a send");
    // The bookkeeping ran: the connection is queued for output.
    let data = take_frame(&mut w, true);
    w.b.handle_frame(now, &data);
    let ack = take_frame(&mut w, false);
    w.a.handle_frame(now, &ack);
    events(&mut w.b);
    // A read that takes bytes (its window update may be due): the same.
    let mut buf = [0u8; 4];
    let n = lookups_during(&mut w.b, |b| {
        assert_eq!(b.tcp_recv(now, s, &mut buf), Ok(2))
    });
    assert_eq!(n, 1, "lookups for a read with data");
    assert_eq!(&buf[..2], b"hi");
    // A read that finds nothing: once, as before.
    let n = lookups_during(&mut w.b, |b| {
        assert_eq!(b.tcp_recv(now, s, &mut buf), Err(RecvError::WouldBlock));
    });
    assert_eq!(n, 1, "lookups for a read that would block");
    // A shutdown of writing: once (before 2), and its FIN is queued.
    let n = lookups_during(&mut w.a, |a| {
        assert_eq!(a.tcp_shutdown(now, c, Shutdown::Write), Ok(()));
    });
    assert_eq!(n, 1, "lookups for a shutdown");
    assert_eq!(w.a.tcp_state(c), TcpState::FinWait1);
    let fin = take_frame(&mut w, true);
    w.b.handle_frame(now, &fin);
    assert!(events(&mut w.b).contains(&Event::PeerClosed(s)));
    // close(2): once (before 2); the connection still sends its FIN and
    // both ends finish the close on their own.
    let n = lookups_during(&mut w.b, |b| b.tcp_close(now, s));
    assert_eq!(n, 1, "lookups for a close");
    assert_eq!(w.b.conns.get(s.0).unwrap().conn.state(), TcpState::LastAck);
    w.run_until(5_000);
    assert_eq!(w.b.connection_count(), (0, 0));
    assert_eq!(w.a.tcp_state(c), TcpState::TimeWait);
}
