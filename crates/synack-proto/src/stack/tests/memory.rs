//! The stack-wide buffer memory cap (`tcp_mem`, `crate::tcp::memory`):
//! several connections whose application does not keep up, with and without
//! a low cap, and the same bytes delivered either way.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;

const CONNS: usize = 4;
const BYTES: usize = 256 * 1024;

/// The byte at `offset` of connection `i`'s stream.
fn byte(i: usize, offset: usize) -> u8 {
    (offset.wrapping_mul(7) ^ (i * 31)) as u8
}

/// Which side's application falls behind.
#[derive(Clone, Copy, PartialEq)]
enum Slow {
    /// The receiver reads nothing for the first two seconds.
    Reader,
    /// The sender writes everything at once, the receiver reads nothing
    /// for the first two seconds: what waits is in the sender's buffers.
    Writer,
}

/// What a run saw.
struct Run {
    /// The most buffer memory the capped side held after any step.
    peak: usize,
    /// Whether that side was ever above `tcp_mem`'s high mark.
    exhausted: bool,
    /// `send` found no room while the send buffer was below its limit.
    refused_below_limit: bool,
    rcv_q_drops: u64,
    pressures: u64,
    /// The largest receive buffer limit at the end (autotuning's).
    rcvbuf: u32,
}

/// `conns` connections from A to B each carry `bytes`; `tcp_mem` (if any)
/// is set on the side whose buffers fill: B's when its reader is slow, A's
/// when its writer queues everything. Every byte must arrive, in order.
fn transfer(slow: Slow, tcp_mem: Option<&str>) -> Run {
    transfer_of(slow, tcp_mem, CONNS, BYTES)
}

/// [`transfer`] of `conns` connections carrying `bytes` each.
fn transfer_of(slow: Slow, tcp_mem: Option<&str>, conns: usize, bytes: usize) -> Run {
    let mut w = Wire::new();
    if let Some(pages) = tcp_mem {
        let side = if slow == Slow::Reader {
            &mut w.b
        } else {
            &mut w.a
        };
        side.set_sysctl("tcp_mem", pages).unwrap();
    }
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), conns).unwrap();
    let clients: Vec<_> = (0..conns)
        .map(|_| {
            w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
                .unwrap()
        })
        .collect();
    w.run_until(w.now.total_millis() + 100);
    // Pair each client with the server end of its connection.
    let mut servers = Vec::new();
    while let Ok(s) = w.b.tcp_accept(l) {
        servers.push(s);
    }
    let pairs: Vec<(ConnHandle, ConnHandle)> = clients
        .iter()
        .map(|&c| {
            let (local, _) = w.a.tcp_addrs(c).unwrap();
            let s = *servers
                .iter()
                .find(|&&s| w.b.tcp_addrs(s).unwrap().1 == local)
                .unwrap();
            (c, s)
        })
        .collect();
    let mut run = Run {
        peak: 0,
        exhausted: false,
        refused_below_limit: false,
        rcv_q_drops: 0,
        pressures: 0,
        rcvbuf: 0,
    };
    let mut sent = vec![0usize; conns];
    let mut got = vec![Vec::new(); conns];
    let mut buf = vec![0u8; 64 * 1024];
    for step in 0..20_000 {
        let now = w.now;
        for (i, &(c, _)) in pairs.iter().enumerate() {
            while sent[i] < bytes {
                let chunk: Vec<u8> = (sent[i]..bytes.min(sent[i] + 8192))
                    .map(|o| byte(i, o))
                    .collect();
                match w.a.tcp_send(now, c, &chunk) {
                    Ok(n) => sent[i] += n,
                    Err(SendError::WouldBlock) => {
                        let conn = &w.a.conns.get(c.0).unwrap().conn;
                        if conn.send_queue() < conn.send_buffer_limit() {
                            run.refused_below_limit = true;
                        }
                        break;
                    }
                    Err(e) => panic!("send: {e:?}"),
                }
            }
        }
        if now >= Instant::from_millis(2_100) {
            for (i, &(_, s)) in pairs.iter().enumerate() {
                while let Ok(n) = w.b.tcp_recv(now, s, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    got[i].extend_from_slice(&buf[..n]);
                }
            }
        }
        if got.iter().all(|g| g.len() == bytes) {
            break;
        }
        assert!(
            step < 19_999,
            "not delivered: {:?}",
            got.iter().map(Vec::len).collect::<Vec<_>>()
        );
        w.run_until(w.now.total_millis() + 5);
        let side = capped(&w, slow);
        run.peak = run.peak.max(side.buffer_memory());
        run.exhausted |= side.memory_state() == crate::tcp::memory::MemoryState::Exhausted;
    }
    for (i, g) in got.iter().enumerate() {
        assert!(
            g.iter().enumerate().all(|(o, &b)| b == byte(i, o)),
            "connection {i}'s bytes"
        );
    }
    let stats = capped(&w, slow).stats();
    run.rcv_q_drops = stats.tcp_ext.tcp_rcv_q_drop;
    run.pressures = stats.tcp_ext.tcp_memory_pressures;
    run.rcvbuf = pairs
        .iter()
        .map(|&(_, s)| w.b.tcp_mem_info(s).unwrap().rcvbuf)
        .max()
        .unwrap();
    run
}

/// The side whose buffers fill, and whose `tcp_mem` a run sets.
fn capped(w: &Wire, slow: Slow) -> &Stack {
    match slow {
        Slow::Reader => &w.b,
        Slow::Writer => &w.a,
    }
}

/// 16 pages (64 KiB) high, pressure above 48 KiB, until below 32 KiB.
const TIGHT: &str = "8 12 16";
const HIGH: usize = 16 * 4096;

#[test]
fn a_slow_reader_holds_no_more_than_tcp_mem_lets_it_and_loses_nothing() {
    let free = transfer(Slow::Reader, None);
    // Each receive buffer grows to its 128 KiB limit while nothing is read.
    assert!(
        free.peak >= CONNS * 128 * 1024,
        "uncapped: {} bytes",
        free.peak
    );
    assert!(!free.exhausted && free.rcv_q_drops == 0 && free.pressures == 0);
    // Autotuning grew the buffers once the application read.
    assert!(free.rcvbuf > 1 << 20, "grew to {}", free.rcvbuf);
    let capped = transfer(Slow::Reader, Some(TIGHT));
    assert!(capped.exhausted, "the high mark was passed");
    assert!(capped.pressures >= 1);
    // Above the mark by at most what one call's growth of one buffer took
    // (a ring doubles; 66,368 bytes in a run).
    assert!(capped.peak < 2 * HIGH, "capped: {} bytes", capped.peak);
    // Data the capped buffers could not take was dropped, and sent again.
    assert!(capped.rcv_q_drops > 0);
    // Under memory pressure buffers do not grow: autotuning waited.
    assert_eq!(capped.rcvbuf, 131_072);
}

#[test]
fn a_writer_ahead_of_its_peer_queues_no_more_than_tcp_mem_lets_it() {
    let free = transfer(Slow::Writer, None);
    assert!(!free.refused_below_limit && !free.exhausted);
    // The send buffers grew with the congestion window (493,984 bytes in
    // a run).
    assert!(free.peak > 4 * HIGH, "uncapped: {} bytes", free.peak);
    let capped = transfer(Slow::Writer, Some(TIGHT));
    assert!(capped.exhausted && capped.pressures >= 1);
    // `send` was refused while the buffer had room below its limit: the
    // memory, not the buffer, held it back.
    assert!(capped.refused_below_limit);
    assert!(
        capped.peak < free.peak,
        "capped {} against {}",
        capped.peak,
        free.peak
    );
    assert!(capped.peak < 2 * HIGH, "capped: {} bytes", capped.peak);
}

#[test]
fn the_memory_counter_follows_buffers_and_gives_everything_back() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    assert_eq!(w.b.buffer_memory(), 0, "idle: nothing held");
    let now = w.now;
    let n = w.a.tcp_send(now, c, &[7; 30_000]).unwrap();
    assert!(
        w.a.buffer_memory() >= n,
        "the send buffer is charged at once"
    );
    w.run_until(w.now.total_millis() + 100);
    assert!(w.b.buffer_memory() >= n, "received, unread");
    assert_eq!(w.b.buffer_memory(), w.b.buffer_memory_scan());
    w.b.tcp_abort(w.now, s);
    w.run_until(w.now.total_millis() + 100);
    assert_eq!(
        w.b.buffer_memory(),
        0,
        "a connection that goes gives its charge back"
    );
    assert_eq!(w.b.buffer_memory_scan(), 0);
}

mod random {
    use super::*;
    use crate::tcp::conn::SocketOption;
    use proptest::prelude::*;

    /// What the applications do next.
    #[derive(Clone, Debug)]
    enum Op {
        /// A's application writes this many bytes on connection `.0`.
        Send(usize, usize),
        /// B's application reads up to this many bytes from connection `.0`.
        Read(usize, usize),
        /// B's application sets SO_RCVBUF on connection `.0`.
        RecvBuffer(usize, usize),
        /// B's `tcp_mem` high mark becomes this many pages (pressure at
        /// half of it, low at a quarter).
        HighMark(usize),
        /// Time passes.
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..2usize, 1..40_000usize).prop_map(|(c, n)| Op::Send(c, n)),
            3 => (0..2usize, 1..40_000usize).prop_map(|(c, n)| Op::Read(c, n)),
            1 => (0..2usize, 1024..200_000usize).prop_map(|(c, n)| Op::RecvBuffer(c, n)),
            1 => (1..64usize).prop_map(Op::HighMark),
            3 => (1..300u64).prop_map(Op::Wait),
        ]
    }

    /// Two connections from A to B, B's `tcp_mem` changing under them:
    /// whatever the applications and the marks do, the counter matches
    /// the connections (every step checks it), and once the cap is lifted
    /// and B reads, every byte written arrives, in order.
    fn run(ops: &[Op]) {
        let mut w = Wire::new();
        let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 4).unwrap();
        let c: Vec<_> = (0..2)
            .map(|_| {
                w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
                    .unwrap()
            })
            .collect();
        w.run_until(100);
        let mut s = Vec::new();
        while let Ok(h) = w.b.tcp_accept(l) {
            s.push(h);
        }
        // Server ends in the clients' order (by port).
        s.sort_by_key(|&h| w.b.tcp_addrs(h).unwrap().1.port());
        let mut sent = [0usize; 2];
        let mut got = [Vec::new(), Vec::new()];
        let mut buf = vec![0u8; 200_000];
        // One read of up to `max` bytes; given the whole buffer, reads
        // until nothing is left.
        let mut read = |w: &mut Wire, i: usize, max: usize, got: &mut [Vec<u8>; 2]| loop {
            match w.b.tcp_recv(w.now, s[i], &mut buf[..max]) {
                Ok(n) if n > 0 => got[i].extend_from_slice(&buf[..n]),
                _ => break,
            }
            if max < buf.len() {
                break;
            }
        };
        for op in ops {
            let now = w.now;
            match *op {
                Op::Send(i, n) => {
                    let data: Vec<u8> = (sent[i]..sent[i] + n).map(|o| byte(i, o)).collect();
                    if let Ok(k) = w.a.tcp_send(now, c[i], &data) {
                        sent[i] += k;
                    }
                }
                Op::Read(i, n) => read(&mut w, i, n, &mut got),
                Op::RecvBuffer(i, n) => {
                    w.b.tcp_set_option(now, s[i], SocketOption::RecvBuffer(n))
                        .unwrap();
                }
                Op::HighMark(pages) => {
                    let marks = format!("{} {} {pages}", pages / 4, pages / 2);
                    w.b.set_sysctl("tcp_mem", &marks).unwrap();
                }
                Op::Wait(ms) => w.run_until(now.total_millis() + ms),
            }
            assert_eq!(w.b.buffer_memory(), w.b.buffer_memory_scan());
        }
        w.b.set_sysctl("tcp_mem", "49152 65536 98304").unwrap();
        for _ in 0..2_000 {
            read(&mut w, 0, 200_000, &mut got);
            read(&mut w, 1, 200_000, &mut got);
            if got[0].len() == sent[0] && got[1].len() == sent[1] {
                break;
            }
            w.run_until(w.now.total_millis() + 100);
        }
        for i in 0..2 {
            assert_eq!(got[i].len(), sent[i], "connection {i}");
            assert!(got[i].iter().enumerate().all(|(o, &b)| b == byte(i, o)));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn the_counter_holds_and_nothing_is_lost_whatever_the_marks_do(
            ops in proptest::collection::vec(op(), 1..40)
        ) {
            run(&ops);
        }
    }
}

/// More connections than the high mark has room for at `tcp_rmem`'s
/// minimum each: each still takes that minimum (Linux's guarantee), none
/// is starved, and the stack holds about the minimums (245,760 bytes in a
/// run, 5 KiB a connection) where uncapped it would hold every byte sent.
#[test]
fn many_slow_readers_each_keep_their_minimum_and_all_finish() {
    const MANY: usize = 48;
    let run = transfer_of(Slow::Reader, Some(TIGHT), MANY, 64 * 1024);
    assert!(run.exhausted && run.rcv_q_drops > 0);
    // The mark, one ring's doubling past it, and each connection's minimum.
    let bound = 2 * HIGH + MANY * 4096;
    assert!(run.peak <= bound, "{} bytes against {bound}", run.peak);
    assert!(run.peak < MANY * 64 * 1024 / 8, "{} bytes", run.peak);
}

/// `tcp_mem_info` (`ss -m`'s `skmem`): the buffers' sizes from `tcp_rmem`
/// and `tcp_wmem`, and their memory while bytes wait in them.
#[test]
fn a_connections_memory_follows_what_its_buffers_hold() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let config = Config::default();
    let idle = w.a.tcp_mem_info(c).unwrap();
    assert_eq!(idle.rcvbuf as usize, config.tcp_rmem.default);
    // The send buffer grows with cwnd from `tcp_wmem`'s default (Linux's
    // `tcp_sndbuf_expand`: twice the initial window's bytes here).
    assert!(idle.sndbuf as usize >= config.tcp_wmem.default, "{idle:?}");
    assert_eq!((idle.rmem_alloc, idle.wmem_queued), (0, 0), "nothing held");
    // Bytes written and not yet acknowledged, then received and unread.
    let data = [7u8; 6000];
    assert_eq!(w.a.tcp_send(w.now, c, &data).unwrap(), data.len());
    assert!(w.a.tcp_mem_info(c).unwrap().wmem_queued as usize >= data.len());
    w.run_until(w.now.total_millis() + 50);
    let held = w.b.tcp_mem_info(s).unwrap();
    assert!(held.rmem_alloc as usize >= data.len(), "{held:?}");
    let mut buf = [0u8; 8192];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf).unwrap(), data.len());
    // Memory goes back when the buffers empty (at once, or on the idle
    // buffer timer).
    w.run_until(w.now.total_millis() + 2_000);
    assert_eq!(w.b.tcp_mem_info(s).unwrap().rmem_alloc, 0);
    assert_eq!(w.a.tcp_mem_info(c).unwrap().wmem_queued, 0);
}

#[test]
fn a_drop_for_memory_advertises_a_zero_window_until_the_reader_makes_room() {
    // Linux 6.5+ (`ICSK_ACK_NOMEM`): when buffer memory refuses data the
    // window offered has room for, the ACK sent at once advertises a zero
    // window, so the sender probes instead of sending into drops.
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    // 4 pages high: less than the window B offered.
    w.b.set_sysctl("tcp_mem", "2 3 4").unwrap();
    // The window field of each segment B sends.
    let windows: Rc<RefCell<Vec<u16>>> = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&windows);
    w.drop = Box::new(move |to_b, frame| {
        if !to_b {
            sink.borrow_mut()
                .push(u16::from_be_bytes([frame[20 + 14], frame[20 + 15]]));
        }
        false
    });
    let data: Vec<u8> = (0..400_000usize).map(|o| byte(0, o)).collect();
    let mut sent = 0;
    // Two seconds of writing with nobody reading.
    while w.now < Instant::from_millis(2_100) {
        sent += w.a.tcp_send(w.now, c, &data[sent..]).unwrap_or(0);
        let ms = w.now.total_millis() + 5;
        w.run_until(ms);
    }
    let drops = w.b.stats().tcp_ext.tcp_rcv_q_drop;
    assert!(drops > 0, "memory refused data");
    assert!(
        windows.borrow().contains(&0),
        "a zero window was advertised"
    );
    // The sender stopped at the zero window and probed: one drop or two
    // (34 while the old window stayed offered).
    assert!(drops < 4, "{drops} segments dropped for memory");
    // Then the reader empties the buffer: the window opens again and every
    // byte arrives.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..2_000 {
        sent += w.a.tcp_send(w.now, c, &data[sent..]).unwrap_or(0);
        while let Ok(n @ 1..) = w.b.tcp_recv(w.now, s, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
        let ms = w.now.total_millis() + 5;
        w.run_until(ms);
    }
    assert!(
        got == data,
        "{} of {} bytes, unchanged",
        got.len(),
        data.len()
    );
}
