//! The TCP MD5 signature option (RFC 2385) through the stack
//! (`stack/tcp_md5.rs`): a signed connection signs every segment and drops
//! every segment from its peer that is not signed with its key, a listener
//! keeps keys for peer prefixes and gives its children theirs (through a
//! SYN cookie too), the stack's own answers (a reset, a TIME-WAIT ACK) are
//! signed, and nothing answers a segment that fails.

use super::*;
use crate::config::SynCookieMode;
use crate::tcp::conn::SetOptionError;
use crate::tcp::md5::{self, Md5Key, Verdict};
use crate::tcp::segment::SegmentHeader;

const KEY: &[u8] = b"bgp-session-secret";
const OTHER: &[u8] = b"bgp-session-secreT";

fn key(k: &[u8]) -> Option<Box<Md5Key>> {
    Some(Box::new(Md5Key::new(k).unwrap()))
}

fn signed(k: &[u8]) -> ConnectOptions {
    ConnectOptions {
        md5_key: key(k),
        ..ConnectOptions::default()
    }
}

/// What a frame on the wire says of its segment: towards B, its TCP
/// flags, its payload length, the verdict of `KEY` on it, its options.
#[derive(Clone, Debug)]
struct Seen {
    to_b: bool,
    flags: u8,
    len: usize,
    verdict: Verdict,
    options: TcpOptions,
}

fn see(to_b: bool, frame: &[u8]) -> Seen {
    let ip = Ipv4Packet::new_checked(frame).unwrap();
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    assert!(tcp.verify_checksum(src, dst), "a bad checksum on the wire");
    let k = Md5Key::new(KEY).unwrap();
    Seen {
        to_b,
        flags: frame[33],
        len: tcp.payload().len(),
        verdict: md5::verify(&k, src, dst, ip.payload()),
        options: TcpOptions::parse(tcp.options()).unwrap(),
    }
}

/// B listening on `PORT` with `KEY` for A's address alone.
fn keyed_listener(w: &mut Wire) -> ListenerHandle {
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    w.b.tcp_listener_set_md5_key(l, A, 32, Some(KEY)).unwrap();
    l
}

fn signed_pair(w: &mut Wire) -> (ConnHandle, ConnHandle) {
    let l = keyed_listener(w);
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), signed(KEY))
            .unwrap();
    w.run_until(100);
    assert_eq!(w.a.tcp_state(c), TcpState::Established);
    let s = w.b.tcp_accept(l).unwrap();
    (c, s)
}

#[test]
fn a_signed_connection_signs_every_segment_both_ways_from_syn_to_time_wait() {
    let mut w = Wire::new();
    w.batch = true;
    let log = record(&mut w, see);
    let (c, s) = signed_pair(&mut w);
    assert!(w.a.tcp_signs_md5(c) && w.b.tcp_signs_md5(s));
    // Each side's key for its peer alone, as `ss -i` shows it.
    let (peer, len, k) = w.b.tcp_md5_key(s).unwrap();
    assert_eq!((peer, len, k.as_bytes()), (A, 32, KEY));
    assert_eq!(w.a.tcp_md5_key(c).map(|k| k.0), Some(B));
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    w.transfer(true, c, s, &data);
    w.transfer(false, s, c, &data[..30_000]);
    w.a.tcp_close(w.now, c);
    w.run_until(w.now.total_millis() + 200);
    w.b.tcp_close(w.now, s);
    w.run_until(w.now.total_millis() + 200);
    let seen = log.borrow();
    assert!(seen.iter().filter(|f| f.to_b).count() > 100);
    for f in seen.iter() {
        assert_eq!(f.verdict, Verdict::Valid, "{f:?}");
    }
    // Linux's SYN with a signature: no timestamps, for SACK's room.
    let syn = &seen[0];
    assert_eq!(syn.flags, 0x02);
    assert!(syn.options.md5 && syn.options.sack_permitted && syn.options.timestamp.is_none());
    // Each segment is cut and signed alone: the MSS leaves the
    // signature's 20 bytes (1460 - 20), no GSO packet goes.
    let largest = seen.iter().map(|f| f.len).max().unwrap();
    assert_eq!(largest, 1440);
    assert_eq!(w.a.piece_polls, 0);
    // A FIN each way, and A's TIME-WAIT entry keeps the key.
    assert_eq!(seen.iter().filter(|f| f.flags & 0x01 != 0).count(), 2);
    assert_eq!(w.a.md5_conn_keys(), 1);
    assert_eq!(w.b.md5_conn_keys(), 0);
    // 2 MSL later the entry goes, and its key with it.
    w.run_until(w.now.total_millis() + 130_000);
    assert_eq!(w.a.md5_conn_keys(), 0);
    assert!(!w.a.md5_active);
}

#[test]
fn a_wrong_key_no_key_or_an_unexpected_signature_gets_no_connection_and_no_answer() {
    for (client, counter) in [
        (signed(OTHER), "TCPMD5Failure"),
        (ConnectOptions::default(), "TCPMD5NotFound"),
    ] {
        let mut w = Wire::new();
        keyed_listener(&mut w);
        let log = record(&mut w, see);
        let c =
            w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), client)
                .unwrap();
        w.run_until(5_000);
        assert_eq!(w.a.tcp_state(c), TcpState::SynSent, "{counter}");
        // RFC 2385 §4.0: "must not produce any response back to the
        // sender": B never sent a frame, the SYN retransmissions dropped.
        assert!(log.borrow().iter().all(|f| f.to_b), "{counter}");
        let dropped =
            w.b.stats()
                .iter()
                .find(|(name, _)| name.ends_with(counter))
                .unwrap()
                .1;
        assert!(dropped >= 3, "{counter}: {dropped}");
    }
    // A signed SYN to a listener that expects no signature: dropped,
    // counted, unanswered (Linux has no key to sign a reset with).
    let mut w = Wire::new();
    w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let log = record(&mut w, see);
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), signed(KEY))
            .unwrap();
    w.run_until(2_000);
    assert_eq!(w.a.tcp_state(c), TcpState::SynSent);
    assert!(log.borrow().iter().all(|f| f.to_b));
    assert!(w.b.stats().tcp_ext.tcp_md5_unexpected >= 2);
    // And to no listener at all: no reset either.
    let mut w = Wire::new();
    let log = record(&mut w, see);
    w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), signed(KEY))
        .unwrap();
    w.run_until(2_000);
    assert!(log.borrow().iter().all(|f| f.to_b));
}

/// A segment on A's connection `c` to B, at `(seq, ack)`, with `flags`
/// and `payload`, signed with `sign` (or not signed at all).
fn forged(
    w: &Wire,
    c: ConnHandle,
    (seq, ack): (u32, u32),
    flags: TcpFlags,
    payload: &[u8],
    sign: Option<&[u8]>,
) -> Vec<u8> {
    let conn = w.a.tcp_connection(c).unwrap();
    let (local, remote) = (conn.local(), conn.remote());
    let header = SegmentHeader {
        seq: SeqNum(seq),
        ack: Some(SeqNum(ack)),
        flags,
        window: 1000,
        options: TcpOptions {
            md5: sign.is_some(),
            ..TcpOptions::default()
        },
    };
    let mut frame = tcp_packet(local, remote, &header, payload);
    if let Some(k) = sign {
        let k = Md5Key::new(k).unwrap();
        assert!(md5::sign(&k, *local.ip(), *remote.ip(), &mut frame[20..]));
    }
    frame
}

#[test]
fn a_reset_or_data_forged_without_the_key_is_dropped_and_the_right_key_is_taken() {
    let mut w = Wire::new();
    // A's last segment's numbers: where B's window starts.
    let last = record(&mut w, |to_b, f| {
        let n = |at: usize| u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]);
        (to_b, n(24), n(28))
    });
    let (c, s) = signed_pair(&mut w);
    let at = last
        .borrow()
        .iter()
        .rev()
        .find(|f| f.0)
        .map(|f| (f.1, f.2))
        .unwrap();
    let now = w.now;
    // The attack RFC 2385 is for: a reset at exactly RCV.NXT.
    let rst = forged(&w, c, at, TcpFlags::RST, &[], None);
    w.b.handle_frame(now, &rst);
    let rst = forged(&w, c, at, TcpFlags::RST, &[], Some(OTHER));
    w.b.handle_frame(now, &rst);
    assert_eq!(w.b.tcp_state(s), TcpState::Established);
    // Data in a batch, two segments that would merge: neither taken.
    let first = forged(&w, c, at, TcpFlags::PSH, b"forged", None);
    let second = {
        let mut f = forged(&w, c, at, TcpFlags::PSH, b"forged", None);
        let next = u32::from_be_bytes([f[24], f[25], f[26], f[27]]) + 6;
        f[24..28].copy_from_slice(&next.to_be_bytes());
        let (src, dst) = (A, B);
        TcpPacket::new_unchecked(&mut f[20..]).fill_checksum(src, dst);
        f
    };
    w.b.handle_frames(now, IfaceId(0), [&first[..], &second[..]]);
    let mut buf = [0u8; 64];
    assert_eq!(w.b.tcp_recv(now, s, &mut buf), Err(RecvError::WouldBlock));
    let ext = &w.b.stats().tcp_ext;
    assert_eq!((ext.tcp_md5_not_found, ext.tcp_md5_failure), (3, 1));
    // The same data signed with the key is the peer's.
    let good = forged(&w, c, at, TcpFlags::PSH, b"signed", Some(KEY));
    w.b.handle_frame(now, &good);
    assert_eq!(w.b.tcp_recv(now, s, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b"signed");
}

#[test]
fn a_listener_takes_the_longest_prefix_and_its_keys_can_be_deleted() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    w.b.tcp_listener_set_md5_key(l, Ipv4Addr::new(192, 0, 2, 0), 24, Some(OTHER))
        .unwrap();
    w.b.tcp_listener_set_md5_key(l, A, 32, Some(KEY)).unwrap();
    let keys = w.b.tcp_listener_md5_keys(l);
    let prefixes: Vec<_> = keys.iter().map(|k| (k.0, k.1, k.2.as_bytes())).collect();
    // The newest first, as Linux lists them.
    assert_eq!(
        prefixes,
        [(A, 32, KEY), (Ipv4Addr::new(192, 0, 2, 0), 24, OTHER)]
    );
    let connect = |w: &mut Wire, k: &[u8]| {
        let c =
            w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), signed(k))
                .unwrap();
        w.run_until(w.now.total_millis() + 500);
        let state = w.a.tcp_state(c);
        w.a.tcp_abort(w.now, c);
        w.run_until(w.now.total_millis() + 100);
        state
    };
    // A's own /32 key, not the /24's.
    assert_eq!(connect(&mut w, KEY), TcpState::Established);
    assert_eq!(connect(&mut w, OTHER), TcpState::SynSent);
    // Without the /32 the /24 holds A.
    w.b.tcp_listener_set_md5_key(l, A, 32, None).unwrap();
    assert_eq!(connect(&mut w, OTHER), TcpState::Established);
    // Linux's errors: ENOENT for a key it does not have, EINVAL for a
    // prefix past 32 or a key past 80 bytes.
    assert_eq!(
        w.b.tcp_listener_set_md5_key(l, A, 32, None),
        Err(SetOptionError::InvalidValue)
    );
    assert_eq!(
        w.b.tcp_listener_set_md5_key(l, A, 33, Some(KEY)),
        Err(SetOptionError::InvalidValue)
    );
    assert_eq!(
        w.b.tcp_listener_set_md5_key(l, A, 32, Some(&[1; 81])),
        Err(SetOptionError::InvalidValue)
    );
    // The last key gone, the listener takes unsigned connections only.
    w.b.tcp_listener_set_md5_key(l, Ipv4Addr::new(192, 0, 2, 0), 24, None)
        .unwrap();
    assert!(w.b.tcp_listener_md5_keys(l).is_empty());
    assert_eq!(connect(&mut w, KEY), TcpState::SynSent);
    let plain =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default());
    w.run_until(w.now.total_millis() + 500);
    assert_eq!(w.a.tcp_state(plain.unwrap()), TcpState::Established);
    // A closed listener's keys go with it.
    w.b.tcp_listener_set_md5_key(l, A, 32, Some(KEY)).unwrap();
    w.b.tcp_close_listener(w.now, l);
    assert!(w.b.tcp_listener_md5_keys(l).is_empty());
}

#[test]
fn a_syn_cookies_syn_ack_is_signed_and_its_child_keeps_the_key() {
    let mut w = Wire::new();
    w.b = Stack::new(
        Config {
            seed: 2,
            tcp_syncookies: SynCookieMode::Always,
            ..Config::default()
        },
        Interface::ip(B, 24),
    );
    let log = record(&mut w, see);
    let (c, s) = signed_pair(&mut w);
    assert_eq!(w.b.stats().tcp_ext.syncookies_sent, 1);
    assert!(w.b.tcp_signs_md5(s));
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    w.transfer(false, s, c, &data);
    let seen = log.borrow();
    assert!(seen.iter().all(|f| f.verdict == Verdict::Valid));
    assert!(seen.iter().any(|f| f.flags == 0x12), "the SYN-ACK");
}

#[test]
fn a_time_wait_entrys_ack_is_signed_and_a_lost_connections_reset_too() {
    let mut w = Wire::new();
    let (c, s) = signed_pair(&mut w);
    // A closes first; B's FIN comes back, and A's last ACK is lost: B
    // sends its FIN again and A's compact TIME-WAIT entry answers it.
    w.a.tcp_close(w.now, c);
    w.run_until(w.now.total_millis() + 100);
    let acks_lost = std::rc::Rc::new(std::cell::Cell::new(0));
    let lost = std::rc::Rc::clone(&acks_lost);
    let log: Record<Seen> = Default::default();
    let sink = std::rc::Rc::clone(&log);
    w.drop = Box::new(move |to_b, frame| {
        let f = see(to_b, frame);
        let drop = to_b && f.flags == 0x10 && lost.get() == 0;
        lost.set(lost.get() + u32::from(drop));
        sink.borrow_mut().push(f);
        drop
    });
    w.b.tcp_close(w.now, s);
    w.run_until(w.now.total_millis() + 3_000);
    assert_eq!(acks_lost.get(), 1);
    let seen = log.borrow();
    let fins = seen
        .iter()
        .filter(|f| !f.to_b && f.flags & 0x01 != 0)
        .count();
    assert_eq!(fins, 2, "B's FIN again");
    assert!(seen.iter().all(|f| f.verdict == Verdict::Valid), "{seen:?}");
    assert_eq!(w.b.stats().tcp_ext.tcp_md5_not_found, 0);
    assert_eq!(w.a.connection_count().1, 1, "a compact TIME-WAIT entry");
    drop(seen);

    // B loses a connection without a word (its reset lost); A's next
    // segment, signed, finds B's listener, whose key signs the reset.
    let mut w = Wire::new();
    let (c, s) = signed_pair(&mut w);
    w.drop = Box::new(|to_b, _| !to_b);
    w.b.tcp_abort(w.now, s);
    w.run_until(w.now.total_millis() + 100);
    let log = record(&mut w, see);
    w.a.tcp_send(w.now, c, b"anyone there?").unwrap();
    w.run_until(w.now.total_millis() + 100);
    let seen = log.borrow();
    let rst = seen.iter().find(|f| !f.to_b).expect("B's answer");
    assert_eq!(rst.flags & 0x04, 0x04);
    assert_eq!(rst.verdict, Verdict::Valid);
    assert_eq!(w.a.tcp_state(c), TcpState::Closed);
}
