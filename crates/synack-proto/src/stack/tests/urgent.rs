//! The urgent mechanism between two stacks (docs/TCP.md "Urgent data"):
//! the scenarios of Linux's `msg_oob` selftest and a few more, each with
//! what Linux 6.18 answered to the same calls over its loopback (recorded
//! with Python sockets in a fresh namespace: TCP_NODELAY on the sender,
//! 50 ms between calls), and URG on the wire.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::tcp::conn::{RecvFlags, SendFlags, SocketOption};

/// One call of a scenario.
enum Step {
    /// The sender writes, with MSG_OOB or not.
    Send(&'static [u8], bool),
    /// The receiver reads at most `n` bytes with these flags and gets
    /// this: bytes, or an error.
    Recv(usize, RecvFlags, Result<&'static [u8], RecvError>),
    /// SIOCATMARK reads this.
    Mark(bool),
    /// SO_OOBINLINE on the receiver.
    Inline,
}

use Step::{Inline, Mark, Recv, Send};

const PLAIN: RecvFlags = RecvFlags {
    peek: false,
    oob: false,
};
const OOB: RecvFlags = RecvFlags {
    peek: false,
    oob: true,
};
const OOB_PEEK: RecvFlags = RecvFlags {
    peek: true,
    oob: true,
};
const EAGAIN: Result<&[u8], RecvError> = Err(RecvError::WouldBlock);
const EINVAL: Result<&[u8], RecvError> = Err(RecvError::NoUrgentData);

fn run(name: &str, steps: &[Step]) {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    w.a.tcp_set_option(w.now, c, SocketOption::NoDelay(true))
        .unwrap();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Send(data, oob) => {
                let flags = SendFlags {
                    oob: *oob,
                    ..SendFlags::default()
                };
                assert_eq!(w.a.tcp_send_with(w.now, c, data, flags), Ok(data.len()));
                let ms = w.now.total_millis() + 50;
                w.run_until(ms);
            }
            Recv(n, flags, want) => {
                let mut buf = vec![0u8; *n];
                let got = w.b.tcp_recv_with(w.now, s, &mut buf, *flags);
                let got = got.map(|k| buf[..k].to_vec());
                let want = want.map(<[u8]>::to_vec);
                assert_eq!(got, want, "{name}, step {i}: recv({n}, {flags:?})");
            }
            Mark(want) => assert_eq!(w.b.tcp_at_mark(s), Some(*want), "{name}, step {i}"),
            Inline => {
                w.b.tcp_set_option(w.now, s, SocketOption::OobInline(true))
                    .unwrap()
            }
        }
        assert_invariants(&w.b);
    }
}

#[test]
fn linux_msg_oob_scenarios() {
    run("non_oob", &[Send(b"x", false), Recv(1, OOB, EINVAL)]);
    run(
        "oob",
        &[
            Send(b"x", true),
            Mark(true),
            Recv(1, OOB, Ok(b"x")),
            Mark(true),
        ],
    );
    run(
        "oob_drop",
        &[
            Send(b"x", true),
            Recv(1, PLAIN, EAGAIN),
            Recv(1, OOB, EINVAL),
        ],
    );
    run(
        "oob_ahead",
        &[
            Send(b"hello", true),
            Recv(1, OOB, Ok(b"o")),
            Recv(4, PLAIN, Ok(b"hell")),
        ],
    );
    run(
        "oob_break",
        &[
            Send(b"hello", true),
            Mark(false),
            Recv(5, PLAIN, Ok(b"hell")),
            Mark(true),
            Recv(1, OOB, Ok(b"o")),
        ],
    );
    run(
        "oob_ahead_break",
        &[
            Send(b"hello", true),
            Send(b"world", false),
            Recv(1, OOB, Ok(b"o")),
            Recv(9, PLAIN, Ok(b"hell")),
            Recv(5, PLAIN, Ok(b"world")),
        ],
    );
    run(
        "oob_break_drop",
        &[
            Send(b"hello", true),
            Send(b"world", false),
            Recv(10, PLAIN, Ok(b"hell")),
            Recv(10, PLAIN, Ok(b"world")),
            Recv(1, OOB, EINVAL),
        ],
    );
    run(
        "ex_oob_break",
        &[
            Send(b"hello", true),
            Send(b"wor", true),
            Send(b"ld", false),
            Recv(10, PLAIN, Ok(b"hellowo")),
            Recv(1, OOB, Ok(b"r")),
            Recv(2, PLAIN, Ok(b"ld")),
        ],
    );
    // A new mark while the old urgent byte is the next to read drops it.
    run(
        "ex_oob_drop",
        &[
            Send(b"x", true),
            Send(b"y", true),
            Mark(true),
            Recv(1, PLAIN, EAGAIN),
            Mark(false),
            Recv(1, OOB, EINVAL),
        ],
    );
    run(
        "ex_oob_drop_2",
        &[
            Send(b"x", true),
            Send(b"y", true),
            Recv(1, OOB, Ok(b"y")),
            Recv(1, PLAIN, EAGAIN),
        ],
    );
    run(
        "ex_oob_ahead_break",
        &[
            Send(b"hello", true),
            Send(b"wor", true),
            Recv(1, OOB, Ok(b"r")),
            Send(b"ld", true),
            Recv(10, PLAIN, Ok(b"helloworl")),
            Recv(1, OOB, Ok(b"d")),
        ],
    );
    run(
        "peek",
        &[
            Send(b"hello", true),
            Recv(1, OOB_PEEK, Ok(b"o")),
            Recv(1, OOB, Ok(b"o")),
            Recv(1, OOB, EINVAL),
            Recv(10, PLAIN, Ok(b"hell")),
        ],
    );
    run(
        "inline",
        &[
            Inline,
            Send(b"hello", true),
            Mark(false),
            Recv(1, OOB, EINVAL),
            Recv(10, PLAIN, Ok(b"hell")),
            Mark(true),
            Recv(10, PLAIN, Ok(b"o")),
        ],
    );
    run(
        "inline_mark",
        &[
            Inline,
            Send(b"hello", true),
            Send(b"world", false),
            Recv(10, PLAIN, Ok(b"hell")),
            Mark(true),
            Recv(10, PLAIN, Ok(b"oworld")),
            Mark(false),
        ],
    );
    run(
        "inline_ex_oob_drop",
        &[
            Send(b"x", true),
            Send(b"y", true),
            Inline,
            Mark(true),
            Recv(1, PLAIN, Ok(b"y")),
            Mark(false),
            Recv(1, PLAIN, EAGAIN),
            Mark(false),
        ],
    );
    run(
        "empty_at_mark",
        &[
            Send(b"ab", true),
            Recv(10, PLAIN, Ok(b"a")),
            Mark(true),
            Recv(10, PLAIN, EAGAIN),
            Mark(false),
        ],
    );
}

/// MSG_PEEK copies without consuming, stops at the mark as a read does,
/// and a read then returns the same bytes.
#[test]
fn peeking_leaves_the_bytes_and_respects_the_mark() {
    let peek = RecvFlags {
        peek: true,
        oob: false,
    };
    run(
        "peek_plain",
        &[
            Send(b"hello", false),
            Recv(3, peek, Ok(b"hel")),
            Recv(10, peek, Ok(b"hello")),
            Recv(10, PLAIN, Ok(b"hello")),
            Recv(10, peek, EAGAIN),
        ],
    );
    run(
        "peek_mark",
        &[
            Send(b"hello", true),
            Send(b"world", false),
            Recv(10, peek, Ok(b"hell")),
            Recv(10, PLAIN, Ok(b"hell")),
            Recv(10, peek, Ok(b"world")),
            Mark(true),
            Recv(10, PLAIN, Ok(b"world")),
        ],
    );
}

/// The segments A sends, as (seq offset from the first data, flags,
/// urgent pointer, payload length), recorded by a relay.
type Sent = Rc<RefCell<Vec<(u32, TcpFlags, u16, usize)>>>;

fn recording(w: &mut Wire) -> Sent {
    let sent: Sent = Rc::default();
    let log = sent.clone();
    w.relay = Some(Box::new(move |to_b, frame| {
        if !to_b {
            return;
        }
        let ip = Ipv4Packet::new_unchecked(&frame[..]);
        let tcp = TcpPacket::new_unchecked(ip.payload());
        let payload = tcp.payload().len();
        log.borrow_mut()
            .push((tcp.seq_number().0, tcp.flags(), tcp.urgent_at(), payload));
    }));
    sent
}

/// RFC 9293 §3.8.5: every segment before SND.UP carries URG and the
/// offset of the byte after the urgent data; Nagle does not hold urgent
/// data; once it is acknowledged segments carry no URG; the receiver is
/// told with `Event::Urgent`, and the checksum stays valid (the receiver
/// took the data).
#[test]
fn urgent_data_is_marked_on_the_wire_and_not_held_by_nagle() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    events(&mut w.b);
    let sent = recording(&mut w);
    // A small segment in flight: Nagle would hold the next small write.
    w.a.tcp_send(w.now, c, b"abc").unwrap();
    w.pump();
    let urgent = SendFlags {
        oob: true,
        ..SendFlags::default()
    };
    w.a.tcp_send_with(w.now, c, b"!", urgent).unwrap();
    w.pump();
    {
        let log = sent.borrow();
        assert_eq!(log.len(), 2, "the urgent byte went at once: {log:?}");
        let (seq0, flags0, _, _) = log[0];
        assert!(!flags0.contains(TcpFlags::URG));
        let (seq1, flags1, ptr1, len1) = log[1];
        assert_eq!((seq1 - seq0, len1), (3, 1));
        assert!(flags1.contains(TcpFlags::URG), "{flags1:?}");
        assert_eq!(ptr1, 1, "the byte after the urgent one");
    }
    w.run_until(w.now.total_millis() + 100);
    assert!(events(&mut w.b).contains(&Event::Urgent(s)));
    assert!(w.b.tcp_urgent_ready(s));
    let mut buf = [0u8; 8];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(
        w.b.tcp_recv_with(w.now, s, &mut buf, OOB),
        Ok(1),
        "the byte arrived with a valid checksum"
    );
    assert_eq!(buf[0], b'!');
    assert!(!w.b.tcp_urgent_ready(s));
    // Acknowledged: the next data carries no URG.
    sent.borrow_mut().clear();
    w.a.tcp_send(w.now, c, b"more").unwrap();
    w.run_until(w.now.total_millis() + 100);
    assert!(
        sent.borrow()
            .iter()
            .all(|(_, f, _, _)| !f.contains(TcpFlags::URG))
    );
}

/// Urgent data after a full window's worth: every data segment before
/// SND.UP carries URG with its own distance to it, each one MSS at most.
#[test]
fn each_segment_before_the_pointer_carries_its_own_distance() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let sent = recording(&mut w);
    let data = vec![7u8; 5000];
    let urgent = SendFlags {
        oob: true,
        ..SendFlags::default()
    };
    assert_eq!(w.a.tcp_send_with(w.now, c, &data, urgent), Ok(5000));
    w.run_until(w.now.total_millis() + 200);
    let log = sent.borrow();
    let data_segs: Vec<_> = log.iter().filter(|e| e.3 > 0).collect();
    assert!(data_segs.len() >= 4, "{log:?}");
    let first = data_segs[0].0;
    for &&(seq, flags, ptr, _) in &data_segs {
        assert!(flags.contains(TcpFlags::URG), "{log:?}");
        assert_eq!(u32::from(ptr), 5000 - (seq - first), "{log:?}");
    }
    let mut buf = vec![0u8; 6000];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(4999), "up to the mark");
    assert_eq!(w.b.tcp_recv_with(w.now, s, &mut buf, OOB), Ok(1));
}

/// RFC 9293 §3.10.7.4 accepts URG on a segment at RCV.NXT even while the
/// window is closed: with urgent data queued behind a zero window, each
/// persist round sends a probe at SND.UNA (URG and the pointer) before the
/// usual one at SND.UNA - 1, as Linux's `tcp_write_wakeup`; the receiver
/// learns of the urgent data before the window opens, and reads the byte
/// once it does.
#[test]
fn a_closed_window_still_carries_the_urgent_pointer_by_probe() {
    let mut w = Wire::new();
    // B's buffer small from the start, so its window closes.
    let (c, s) = connected_with_small_window(&mut w, 4096);
    events(&mut w.b);
    // Fill B's window, and more; B reads nothing.
    let filler = vec![1u8; 12 * 1024];
    let mut queued = 0;
    for _ in 0..50 {
        queued += w.a.tcp_send(w.now, c, &filler[queued..]).unwrap_or(0);
        let ms = w.now.total_millis() + 20;
        w.run_until(ms);
    }
    assert_eq!(queued, filler.len());
    let buffered = w.b.tcp_recv_queue(s).unwrap();
    assert!(buffered > 0 && buffered < queued, "{buffered} of {queued}");
    let sent = recording(&mut w);
    let urgent = SendFlags {
        oob: true,
        ..SendFlags::default()
    };
    // Room in A's send buffer for the urgent byte.
    let mut n = 0;
    for _ in 0..100 {
        if let Ok(k) = w.a.tcp_send_with(w.now, c, b"!", urgent) {
            n = k;
            break;
        }
        let ms = w.now.total_millis() + 100;
        w.run_until(ms);
    }
    assert_eq!(n, 1);
    let ms = w.now.total_millis() + 5_000;
    w.run_until(ms);
    let log = sent.borrow();
    let probes: Vec<_> = log.iter().filter(|e| e.3 == 0).collect();
    let urgent_probes = probes
        .iter()
        .filter(|e| e.1.contains(TcpFlags::URG))
        .count();
    assert!(urgent_probes >= 2, "{probes:?}");
    assert!(
        probes.windows(2).any(|p| p[0].0 == p[1].0.wrapping_add(1)),
        "a probe at SND.UNA, then one at SND.UNA - 1: {probes:?}"
    );
    drop(log);
    assert!(
        events(&mut w.b).contains(&Event::Urgent(s)),
        "told while closed"
    );
    assert!(!w.b.tcp_urgent_ready(s), "the byte has not arrived");
    // B reads: the window opens, the rest arrives up to the urgent byte.
    let mut got = 0;
    let mut buf = vec![0u8; 8192];
    for _ in 0..200 {
        // A read at the mark would skip the urgent byte: stop there.
        if w.b.tcp_urgent_ready(s) && w.b.tcp_at_mark(s) == Some(true) {
            break;
        }
        if let Ok(k) = w.b.tcp_recv(w.now, s, &mut buf) {
            got += k;
        }
        let ms = w.now.total_millis() + 50;
        w.run_until(ms);
    }
    assert_eq!(got, queued, "every byte before the urgent one");
    assert_eq!(w.b.tcp_recv_with(w.now, s, &mut buf, OOB), Ok(1));
    assert_eq!(buf[0], b'!');
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Hostile urgent pointers: every data segment A sends may get URG and
    /// any pointer (its checksum kept right), while B reads in every way
    /// (plain, peeking, out of band, in line or not). B never panics, its
    /// invariants hold, and what it reads (in line and out of band) is the
    /// stream with bytes left out, never reordered or made up.
    #[test]
    fn any_urgent_pointers_leave_the_stream_a_subsequence(
        marks in proptest::collection::vec(proptest::option::of(1u16..=u16::MAX), 1..64),
        reads in proptest::collection::vec(0u8..6, 1..64),
    ) {
        let mut w = Wire::new();
        let (c, s) = connected(&mut w);
        let mut marks = marks.into_iter().cycle();
        w.relay = Some(Box::new(move |to_b, frame| {
            let Some(ptr) = marks.next().flatten().filter(|_| to_b) else {
                return;
            };
            let ihl = usize::from(frame[0] & 15) * 4;
            let tcp = &mut frame[ihl..];
            let seq = TcpPacket::new_unchecked(&*tcp).seq_number();
            if TcpPacket::new_unchecked(&*tcp).payload().is_empty() {
                return;
            }
            crate::tcp::conn::urgent::mark_segment(
                tcp, seq, seq + u32::from(ptr), seq + u32::from(ptr), false,
            );
        }));
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        let mut got = Vec::new();
        let mut buf = [0u8; 700];
        for (i, r) in reads.iter().cycle().take(400).enumerate() {
            if sent < data.len() {
                sent += w.a.tcp_send(w.now, c, &data[sent..(sent + 900).min(data.len())]).unwrap_or(0);
            }
            let flags = RecvFlags { peek: *r == 1, oob: *r == 2 };
            match *r {
                3 => { let _ = w.b.tcp_set_option(w.now, s, SocketOption::OobInline(i % 2 == 0)); }
                4 => { let _ = w.b.tcp_at_mark(s); let _ = w.b.tcp_urgent_ready(s); }
                _ => {
                    let read = w.b.tcp_recv_with(w.now, s, &mut buf, flags);
                    if let (Ok(n), RecvFlags { peek: false, oob: false }) = (read, flags) {
                        got.extend_from_slice(&buf[..n]);
                    }
                }
            }
            assert_invariants(&w.b);
            let ms = w.now.total_millis() + 5;
            w.run_until(ms);
        }
        // Out-of-band bytes come out of order by design: the in-line reads
        // alone are checked.
        let mut rest = data.iter();
        for b in &got {
            proptest::prop_assert!(rest.any(|d| d == b), "a byte read out of order or made up");
        }
        if reads.iter().any(|r| *r == 0 || *r == 5) {
            proptest::prop_assert!(!got.is_empty(), "plain reads read nothing");
        }
    }
}
