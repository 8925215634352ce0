//! A connection's life outside the data path, as the stack sees it:
//! the bookkeeping of opening and closing must not depend on what is
//! traced.

use super::*;
use crate::rng::Rng;
use std::cell::RefCell;
use std::rc::Rc;

/// What a run shows from outside: the frames on the wire (in order, the
/// lost ones too), each stack's events, counters and `ss` view, and the
/// listener's queues.
#[derive(Debug, PartialEq)]
pub(super) struct Observed {
    pub frames: Vec<(bool, Vec<u8>)>,
    pub events: [Vec<Event>; 2],
    pub stats: [crate::stats::Stats; 2],
    pub sockets: [Vec<SocketSummary>; 2],
    /// The listener's SYN and accept queues before it closes.
    pub queues: Option<(usize, usize)>,
}

/// Frames as carried: (towards B?, bytes).
pub(super) type Frames = Rc<RefCell<Vec<(bool, Vec<u8>)>>>;

/// Every frame `w` carries from now on, the lost ones too, in order; a
/// tenth of them lost at random (seeded).
pub(super) fn record_lossy(w: &mut Wire, seed: u64) -> Frames {
    let frames = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&frames);
    let mut rng = Rng::from_seed(seed);
    w.drop = Box::new(move |to_b, frame| {
        seen.borrow_mut().push((to_b, frame.to_vec()));
        rng.chance(0.1)
    });
    frames
}

/// Connections opened and ended every way the stack's bookkeeping
/// distinguishes (orderly close from either side, TIME-WAIT, abort,
/// refusal, a listener closed with connections queued, a half-open
/// connection timing out), over a path that loses frames at random
/// (seeded), with or without a state trace on both stacks.
fn lives(seed: u64, trace_states: bool) -> Observed {
    let mut w = Wire::new();
    let frames = record_lossy(&mut w, seed);
    let trace = Trace {
        states: trace_states,
        ..Trace::default()
    };
    w.a.set_trace(trace);
    w.b.set_trace(trace);
    let mut events_seen = [Vec::new(), Vec::new()];
    let mut collect = |w: &mut Wire| {
        events_seen[0].extend(events(&mut w.a));
        events_seen[1].extend(events(&mut w.b));
    };
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let to = |port| SocketAddrV4::new(B, port);
    let opts = ConnectOptions::default();
    let conns: Vec<ConnHandle> = (0..4)
        .map(|_| w.a.tcp_connect(w.now, to(PORT), opts.clone()).unwrap())
        .collect();
    // Nobody listens here: refused.
    let refused = w.a.tcp_connect(w.now, to(PORT + 1), opts.clone()).unwrap();
    w.run_until(3_000);
    collect(&mut w);
    let accepted: Vec<ConnHandle> = core::iter::from_fn(|| w.b.tcp_accept(l).ok()).collect();
    let now = w.now;
    // 0: data both ways, the client closes first (its TIME-WAIT).
    let _ = w.a.tcp_send(now, conns[0], b"hello");
    if let Some(&s) = accepted.first() {
        let _ = w.b.tcp_send(now, s, b"world");
    }
    // 1: the server closes first.
    if let Some(&s) = accepted.get(1) {
        let _ = w.b.tcp_shutdown(now, s, Shutdown::Write);
    }
    // 2: the client aborts.
    w.a.tcp_abort(now, conns[2]);
    w.run_until(6_000);
    collect(&mut w);
    let now = w.now;
    let mut buf = [0u8; 64];
    for &c in &conns {
        let _ = w.a.tcp_recv(now, c, &mut buf);
        let _ = w.a.tcp_shutdown(now, c, Shutdown::Write);
    }
    for &s in &accepted {
        let _ = w.b.tcp_recv(now, s, &mut buf);
        let _ = w.b.tcp_shutdown(now, s, Shutdown::Write);
    }
    w.run_until(12_000);
    collect(&mut w);
    let now = w.now;
    for c in conns.iter().copied().chain([refused]) {
        w.a.tcp_close(now, c);
    }
    for &s in &accepted {
        w.b.tcp_close(now, s);
    }
    // A half-open connection reset (the client gave up before the SYN-ACK
    // came), one reset while it waits to be accepted, and one the
    // listener still holds when it closes.
    let gave_up = w.a.tcp_connect(w.now, to(PORT), opts.clone()).unwrap();
    w.a.tcp_abort(w.now, gave_up);
    let unaccepted = w.a.tcp_connect(w.now, to(PORT), opts.clone()).unwrap();
    w.a.tcp_connect(w.now, to(PORT), opts).unwrap();
    w.run_until(15_000);
    w.a.tcp_abort(w.now, unaccepted);
    w.run_until(18_000);
    let queues = w.b.tcp_listener_queues(l);
    w.b.tcp_close_listener(w.now, l);
    // Past TIME-WAIT and every retransmission limit.
    w.run_until(400_000);
    collect(&mut w);
    let frames = frames.take();
    Observed {
        frames,
        events: events_seen,
        stats: [w.a.stats().clone(), w.b.stats().clone()],
        sockets: [w.a.sockets().collect(), w.b.sockets().collect()],
        queues,
    }
}

/// Without a state trace a connection raises only the state changes the
/// stack acts on (`tcp::conn::stack_acts_on`); with one, every change.
/// Either way the stack must do the same: the same frames, the same
/// events (the trace's own aside), counters and `ss` view.
#[test]
fn a_state_trace_changes_nothing_but_its_own_events() {
    let mut traced_changes = 0;
    for seed in 0..12 {
        let quiet = lives(seed, false);
        let mut traced = lives(seed, true);
        for events in &mut traced.events {
            events.retain(|e| {
                let trace = matches!(e, Event::StateChanged { .. });
                traced_changes += usize::from(trace);
                !trace
            });
        }
        assert!(
            quiet
                .events
                .iter()
                .flatten()
                .all(|e| !matches!(e, Event::StateChanged { .. })),
            "seed {seed}: a state change raised without a trace"
        );
        assert_eq!(quiet, traced, "seed {seed}");
    }
    // The traced runs did report changes, the quiet ones' among them.
    assert!(traced_changes > 12 * 20, "{traced_changes}");
}

/// With a state trace on, a connection's every change is reported,
/// those the stack ignores too (an orderly close on both sides).
#[test]
fn a_state_trace_reports_the_changes_the_stack_ignores() {
    let mut w = Wire::new();
    let trace = Trace {
        states: true,
        ..Trace::default()
    };
    w.a.set_trace(trace);
    w.b.set_trace(trace);
    let (c, s) = connected(&mut w);
    let _ = events(&mut w.a);
    let _ = events(&mut w.b);
    let now = w.now;
    w.a.tcp_shutdown(now, c, Shutdown::Write).unwrap();
    w.run_until(200);
    w.b.tcp_shutdown(w.now, s, Shutdown::Write).unwrap();
    w.run_until(400);
    let changes = |stack: &mut Stack| -> Vec<(TcpState, TcpState)> {
        events(stack)
            .into_iter()
            .filter_map(|e| match e {
                Event::StateChanged { from, to, .. } => Some((from, to)),
                _ => None,
            })
            .collect()
    };
    use TcpState::*;
    assert_eq!(
        changes(&mut w.a),
        [
            (Established, FinWait1),
            (FinWait1, FinWait2),
            (FinWait2, TimeWait)
        ]
    );
    assert_eq!(
        changes(&mut w.b),
        [
            (Established, CloseWait),
            (CloseWait, LastAck),
            (LastAck, Closed)
        ]
    );
    // Turned off, only the stack's own remain: none in TIME-WAIT's end.
    w.a.set_trace(Trace::default());
    w.run_until(200_000);
    assert_eq!(changes(&mut w.a), []);
}

/// An orphan reaching TIME-WAIT becomes a compact entry: its demux entry is
/// re-pointed in place (no removal searches the table) and its local port
/// stays counted, until TIME-WAIT ends.
#[test]
fn an_orphan_entering_time_wait_takes_over_its_demux_entry_in_place() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let conn = &w.a.conns.get(c.0).unwrap().conn;
    let tuple = FourTuple {
        local: conn.local(),
        remote: conn.remote(),
    };
    let now = w.now;
    w.a.tcp_close(now, c);
    w.b.tcp_close(now, s);
    w.run_until(1_000);
    let lookup = |stack: &Stack| {
        let slots = crate::stack::demux::Slots {
            conns: &stack.conns,
            time_wait: &stack.time_wait,
        };
        stack.demux.get(slots, &tuple)
    };
    assert_eq!(w.a.connection_count(), (0, 1));
    assert!(matches!(lookup(&w.a), Some(Demux::TimeWait(_))));
    assert_eq!(w.a.demux.removal_probes.get(), 0);
    assert_eq!(w.a.port_users.get(&PortKey::new(tuple.local)), Some(&1));
    // TIME-WAIT (60 s) ends: the entry, its demux entry and the count go.
    w.run_until(61_000);
    assert_eq!(w.a.connection_count(), (0, 0));
    assert_eq!(lookup(&w.a), None);
    assert!(w.a.port_users.is_empty());
}
