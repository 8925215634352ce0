//! `poll_transmit_batch` against `poll_transmit`: the same seeded histories
//! (several connections, bulk data both ways, random losses, a refused
//! connection's reset, closes) driven once frame by frame and once in
//! batches give the same frames in the same order, at the same times, and
//! leave the same state (deadlines, counters, events, connection states).

use super::*;
use std::cell::RefCell;
use std::rc::Rc;

/// What one run saw: every frame sent (time, direction, bytes), and the
/// state at the end.
#[derive(Debug, PartialEq)]
struct Record {
    frames: Vec<(u64, bool, Vec<u8>)>,
    end: u64,
    deadlines: (Option<Instant>, Option<Instant>),
    stats: (Stats, Stats),
    events: (Vec<Event>, Vec<Event>),
    states: Vec<(TcpState, TcpState)>,
}

/// A small deterministic generator (xorshift64).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn history(seed: u64, batch: bool) -> Record {
    let mut w = Wire::new();
    w.batch = batch;
    let log = Rc::new(RefCell::new(Vec::new()));
    let now = Rc::new(RefCell::new(0u64));
    {
        let (log, now) = (Rc::clone(&log), Rc::clone(&now));
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        w.drop = Box::new(move |to_b, frame| {
            log.borrow_mut().push((*now.borrow(), to_b, frame.to_vec()));
            next(&mut rng) % 100 < 3
        });
    }
    let mut rng = seed | 1;
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 16).unwrap();
    let mut pairs = Vec::new();
    for _ in 0..3 {
        let c =
            w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
                .unwrap();
        pairs.push(c);
    }
    // Refused: a reset from B's control queue, among the data segments.
    w.a.tcp_connect(
        w.now,
        SocketAddrV4::new(B, PORT + 1),
        ConnectOptions::default(),
    )
    .unwrap();
    let mut servers = Vec::new();
    let data = vec![0x5Au8; 64 * 1024];
    let mut buf = vec![0u8; 64 * 1024];
    let mut t = 0;
    for step in 0..40 {
        *now.borrow_mut() = w.now.total_millis();
        t += 1 + next(&mut rng) % 30;
        w.run_until(t);
        *now.borrow_mut() = w.now.total_millis();
        while let Ok(s) = w.b.tcp_accept(l) {
            servers.push(s);
        }
        for (i, &c) in pairs.iter().enumerate() {
            let len = (next(&mut rng) % 20_000) as usize;
            let _ = w.a.tcp_send(w.now, c, &data[..len]);
            let _ = w.a.tcp_recv(w.now, c, &mut buf);
            if let Some(&s) = servers.get(i) {
                let len = (next(&mut rng) % 3_000) as usize;
                let _ = w.b.tcp_send(w.now, s, &data[..len]);
                let _ = w.b.tcp_recv(w.now, s, &mut buf);
            }
        }
        if step == 30 {
            w.a.tcp_close(w.now, pairs[0]);
        }
    }
    t += 3_000;
    w.run_until(t);
    let states = pairs
        .iter()
        .zip(&servers)
        .map(|(&c, &s)| (w.a.tcp_state(c), w.b.tcp_state(s)))
        .collect();
    Record {
        frames: log.take(),
        end: w.now.total_millis(),
        deadlines: (w.a.poll_timeout(), w.b.poll_timeout()),
        stats: (w.a.stats().clone(), w.b.stats().clone()),
        events: (events(&mut w.a), events(&mut w.b)),
        states,
    }
}

#[test]
fn a_batch_sends_what_one_frame_polls_send_and_leaves_the_same_state() {
    for seed in 0..6 {
        let single = history(seed, false);
        let batched = history(seed, true);
        assert!(single.frames.len() > 100, "a history worth comparing");
        assert!(
            single.stats.0.tcp.out_rsts + single.stats.1.tcp.out_rsts > 0,
            "a reset among the frames"
        );
        assert_eq!(single.frames.len(), batched.frames.len(), "seed {seed}");
        for (i, (s, b)) in single.frames.iter().zip(&batched.frames).enumerate() {
            assert_eq!(s, b, "seed {seed}: frame {i}");
        }
        assert_eq!(single, batched, "seed {seed}");
    }
}

#[test]
fn a_batch_stops_when_the_driver_has_no_room() {
    let mut w = Wire::new();
    let (c, _s) = connected(&mut w);
    w.a.tcp_send(w.now, c, &[7u8; 8000]).unwrap();
    let mut buf = [0u8; 2000];
    let mut room = 2;
    let n = w.a.poll_transmit_batch(w.now, |write| {
        if room == 0 {
            return None;
        }
        room -= 1;
        write(&mut buf)
    });
    assert_eq!(n, 2);
    // The rest is still there, frame by frame.
    assert!(w.a.poll_transmit(w.now, &mut buf).is_some());
    // A buffer too small for a frame ends the batch without a frame.
    let mut small = [0u8; 8];
    assert_eq!(w.a.poll_transmit_batch(w.now, |write| write(&mut small)), 0);
    // A driver that does not pass the writer's `None` on still ends the
    // batch at the first frame not written (bounded here so a broken stack
    // fails the test instead of spinning).
    let mut calls = 0;
    let n = w.a.poll_transmit_batch(w.now, |write| {
        calls += 1;
        if calls > 10 {
            return None;
        }
        let _ = write(&mut small);
        Some(0)
    });
    assert_eq!((n, calls), (0, 1));
    // The data is still there for a driver with room.
    assert!(w.a.poll_transmit(w.now, &mut buf).is_some());
}
