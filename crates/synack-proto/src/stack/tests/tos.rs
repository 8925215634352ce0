//! IP_TOS (RFC 2474's DSCP, RFC 3168's ECN field) through the stack: a TCP
//! connection's segments carry the DSCP it or its listener set, with TCP's
//! own ECN codepoint beside it; a SYN takes what was set before `connect`;
//! UDP and ping sockets send their whole TOS byte and report the one each
//! datagram came with (IP_RECVTOS).

use super::*;
use crate::ip::SocketIp;
use crate::tcp::conn::SetOptionError;

/// Expedited Forwarding (RFC 3246): DSCP 46 in the upper six bits.
const EF: u8 = 46 << 2;
/// AF41 (RFC 2597).
const AF41: u8 = 34 << 2;

type Log = Record<(bool, u8, u8)>;

/// Records every frame's direction (towards B), TOS byte and TCP flags
/// byte (no IP options on this wire: the header is 20 bytes).
fn log_tos(w: &mut Wire) -> Log {
    record(w, |to_b, frame| (to_b, frame[1], frame[33]))
}

/// The distinct TOS bytes seen one way since the log was last emptied.
fn tos_one_way(log: &Log, to_b: bool) -> Vec<u8> {
    let mut seen: Vec<u8> = log
        .borrow()
        .iter()
        .filter(|f| f.0 == to_b)
        .map(|f| f.1)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen
}

#[test]
fn a_connections_dscp_goes_on_every_segment_and_the_ecn_bits_stay_tcps() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    assert_eq!(w.a.tcp_tos(c), Some(0));
    // The ECN field's bits are ignored on a stream socket (Linux
    // `__ip_sock_set_tos`): the connection reads back the DSCP alone.
    w.a.tcp_set_tos(c, EF | 0b11).unwrap();
    assert_eq!(w.a.tcp_tos(c), Some(EF));
    let log = log_tos(&mut w);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    w.transfer(true, c, s, &data);
    w.transfer(false, s, c, &data[..10_000]);
    // Every segment of A's, data and ACKs, software GSO's pieces among
    // them; no ECN negotiated, so no ECT; B's segments keep DSCP 0.
    assert!(log.borrow().iter().filter(|f| f.0).count() > 200);
    assert!(w.a.piece_polls > 100, "{}", w.a.piece_polls);
    assert_eq!(tos_one_way(&log, true), vec![EF]);
    assert_eq!(tos_one_way(&log, false), vec![0]);
    // Changed mid-connection: the next segment carries the new one.
    w.a.tcp_set_tos(c, AF41).unwrap();
    log.borrow_mut().clear();
    w.transfer(true, c, s, &data[..20_000]);
    assert_eq!(tos_one_way(&log, true), vec![AF41]);
    w.a.tcp_abort(w.now, c);
    assert_eq!(w.a.tcp_set_tos(c, EF), Err(SetOptionError::InvalidHandle));
    assert_eq!(w.a.tcp_tos(c), None);
}

#[test]
fn with_ecn_the_data_is_ect0_beside_the_dscp_and_the_acks_are_not() {
    // RFC 3168 §6.1.2: ECT on data only; the DSCP on everything.
    let mut w = Wire::new();
    w.a.set_sysctl("tcp_ecn", "1").unwrap();
    w.b.set_sysctl("tcp_ecn", "1").unwrap();
    let (c, s) = connected(&mut w);
    w.a.tcp_set_tos(c, EF).unwrap();
    w.b.tcp_set_tos(s, AF41).unwrap();
    let log = log_tos(&mut w);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 247) as u8).collect();
    w.transfer(true, c, s, &data);
    let seen = log.borrow();
    for f in seen.iter() {
        let dscp = if f.0 { EF } else { AF41 };
        assert_eq!(f.1 & !0b11, dscp, "{f:?}");
    }
    // A sends the data: ECT(0) on it; B only ACKs: no ECT.
    let ect = seen.iter().filter(|f| f.0 && f.1 == EF | 0b10).count();
    assert!(ect > 10, "{ect} ECT(0) segments from A");
    assert!(seen.iter().filter(|f| !f.0).all(|f| f.1 == AF41));
}

#[test]
fn a_syn_carries_the_tos_and_ttl_set_before_connect() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let log = log_tos(&mut w);
    let opts = ConnectOptions {
        ip: SocketIp {
            ttl: 17,
            tos: AF41 | 0b01,
        },
        ..ConnectOptions::default()
    };
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), opts)
            .unwrap();
    assert_eq!(w.a.tcp_tos(c), Some(AF41));
    assert_eq!(w.a.tcp_ttl(c), Some(17));
    w.run_until(100);
    assert!(w.b.tcp_accept(l).is_ok());
    let seen = log.borrow();
    let syn = seen.iter().find(|f| f.0).unwrap();
    assert_eq!((syn.1, syn.2), (AF41, 0x02), "A's SYN, ECN field clear");
    assert!(seen.iter().filter(|f| f.0).all(|f| f.1 == AF41));
    // B's SYN-ACK and ACKs: its listener set nothing.
    assert!(seen.iter().filter(|f| !f.0).all(|f| f.1 == 0));
}

/// A listener with IP_TOS EF on B; A connects, B accepts, data each way.
/// Returns the TOS bytes B sent and the flags of its first segment.
fn accepted_from_listener_with_tos(w: &mut Wire) -> (Vec<u8>, u8, ConnHandle) {
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    assert_eq!(w.b.tcp_listener_tos(l), Some(0));
    w.b.tcp_listener_set_tos(l, EF | 0b10).unwrap();
    assert_eq!(w.b.tcp_listener_tos(l), Some(EF));
    let log = log_tos(w);
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    let s = w.b.tcp_accept(l).unwrap();
    // Inherited, as Linux's child clones the listener's `tos`.
    assert_eq!(w.b.tcp_tos(s), Some(EF));
    let data: Vec<u8> = (0..30_000u32).map(|i| (i % 241) as u8).collect();
    w.transfer(true, c, s, &data);
    w.transfer(false, s, c, &data);
    assert_eq!(tos_one_way(&log, true), vec![0]);
    let first_from_b = log.borrow().iter().find(|f| !f.0).map(|f| f.2).unwrap();
    w.b.tcp_close_listener(w.now, l);
    assert_eq!(
        w.b.tcp_listener_set_tos(l, AF41),
        Err(SetOptionError::InvalidHandle)
    );
    assert_eq!(w.b.tcp_listener_tos(l), None);
    (tos_one_way(&log, false), first_from_b, s)
}

#[test]
fn a_listeners_dscp_goes_on_its_syn_ack_and_to_the_connections_it_accepts() {
    let mut w = Wire::new();
    let (from_b, first_from_b, _) = accepted_from_listener_with_tos(&mut w);
    assert_eq!(first_from_b, 0x12, "B's first segment is its SYN-ACK");
    assert_eq!(from_b, vec![EF]);
    assert_eq!(w.b.stats().tcp_ext.syncookies_sent, 0);
}

#[test]
fn a_syn_cookie_syn_ack_carries_the_listeners_dscp() {
    let mut w = Wire::new();
    w.b.set_sysctl("tcp_syncookies", "2").unwrap();
    let (from_b, first_from_b, _) = accepted_from_listener_with_tos(&mut w);
    assert_eq!(first_from_b, 0x12);
    assert_eq!(from_b, vec![EF]);
    assert_eq!(w.b.stats().tcp_ext.syncookies_sent, 1);
}

#[test]
fn a_time_wait_entry_acks_with_its_connections_dscp() {
    // Linux keeps the socket's TOS in its TIME-WAIT socket (`tw_tos`) for
    // the ACKs it still sends; a reset to no connection carries the DSCP
    // of the segment it answers (`tcp_v4_send_reset`), without its ECN.
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    w.a.tcp_set_tos(c, EF).unwrap();
    // B's FIN, kept to be sent again.
    let fins = record(&mut w, |to_b, frame| {
        (!to_b && frame[33] & 0x01 != 0).then(|| frame.to_vec())
    });
    // A closes first (and lets go of its handle): the compact TIME-WAIT.
    w.a.tcp_close(w.now, c);
    w.run_until(w.now.total_millis() + 100);
    w.b.tcp_close(w.now, s);
    w.run_until(w.now.total_millis() + 100);
    assert_eq!(
        w.a.time_wait.len(),
        1,
        "A's connection is a TIME-WAIT entry"
    );
    // B's FIN again: the entry answers with an ACK, DSCP and all.
    let fin = fins.borrow().iter().flatten().next().unwrap().clone();
    w.a.handle_frame(w.now, &fin);
    let mut buf = [0u8; 200];
    w.a.poll_transmit(w.now, &mut buf).expect("TIME-WAIT's ACK");
    assert_eq!((buf[1], buf[33]), (EF, 0x10), "an ACK with A's DSCP");
    // A segment for no connection, AF41 and CE: a reset without A's DSCP,
    // with the segment's.
    let mut stray = packet(
        SocketAddrV4::new(B, 4242),
        SocketAddrV4::new(A, 9),
        TcpFlags::SYN,
        1,
        None,
        &[],
    );
    stray[1] = AF41 | 0b11;
    Ipv4Packet::new_unchecked(&mut stray[..20]).fill_checksum();
    w.a.handle_frame(w.now, &stray);
    w.a.poll_transmit(w.now, &mut buf).expect("a reset");
    assert_eq!((buf[1], buf[33] & 0x04), (AF41, 0x04));
    // And one without a DSCP, a reset without one.
    stray[1] = 0;
    Ipv4Packet::new_unchecked(&mut stray[..20]).fill_checksum();
    w.a.handle_frame(w.now, &stray);
    w.a.poll_transmit(w.now, &mut buf).expect("a reset");
    assert_eq!((buf[1], buf[33] & 0x04), (0, 0x04));
}
