//! Generated segment-arrival tables: every state x segment kind x sequence
//! position x acknowledgment position, each case checked against an oracle
//! written from the RFC text (RFC 9293 §3.10.7.3-4, RFC 5961 §3-5) and the
//! Linux refinements this engine follows (listed in the oracle), never from
//! the implementation.
//!
//! A case's environment (RCV.NXT, RCV.WND, SND.UNA, SND.NXT, MAX.SND.WND)
//! is read from the connection before the segment arrives; positions are
//! defined relative to it. The oracle then says which reply goes out at once
//! (before any timer), which state follows, and which counters move.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Syn,
    SynAck,
    Ack,
    /// ACK with 10 bytes of data.
    Data,
    /// FIN + ACK.
    Fin,
    Rst,
    RstAck,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Syn,
        Kind::SynAck,
        Kind::Ack,
        Kind::Data,
        Kind::Fin,
        Kind::Rst,
        Kind::RstAck,
    ];

    fn flags(self) -> &'static str {
        match self {
            Kind::Syn => "S",
            Kind::SynAck => "S.",
            Kind::Ack | Kind::Data => ".",
            Kind::Fin => "F.",
            Kind::Rst => "R",
            Kind::RstAck => "R.",
        }
    }

    fn has_ack(self) -> bool {
        !matches!(self, Kind::Syn | Kind::Rst)
    }

    fn syn(self) -> bool {
        matches!(self, Kind::Syn | Kind::SynAck)
    }

    fn rst(self) -> bool {
        matches!(self, Kind::Rst | Kind::RstAck)
    }

    /// SEG.LEN: data plus SYN and FIN.
    fn seg_len(self) -> u32 {
        match self {
            Kind::Syn | Kind::SynAck | Kind::Fin => 1,
            Kind::Data => 10,
            _ => 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SeqPos {
    /// Well left of RCV.NXT (old).
    Left,
    /// At RCV.NXT.
    Next,
    /// Inside the window, past RCV.NXT.
    Inside,
    /// The last sequence number in the window.
    RightEdge,
    /// Past the window.
    Beyond,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AckPos {
    /// Before SND.UNA - MAX.SND.WND.
    TooOld,
    /// Before SND.UNA, within MAX.SND.WND.
    Old,
    Una,
    /// Between SND.UNA and SND.NXT (only when more than one is in flight).
    InFlight,
    Nxt,
    /// After SND.NXT.
    Beyond,
}

/// What the connection sends at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    Nothing,
    /// A plain ACK `<SEQ=SND.NXT><ACK=RCV.NXT>`.
    Ack,
    /// An RFC 5961 challenge ACK (counted as one).
    Challenge,
    /// A challenge ACK for a SYN (counted as both).
    SynChallenge,
    /// `<SEQ=SEG.ACK><CTL=RST>`.
    Rst(SeqNum),
    SynAck,
}

#[derive(Clone, Copy, Debug)]
struct Env0 {
    rcv_nxt: SeqNum,
    rcv_wnd: u32,
    una: SeqNum,
    nxt: SeqNum,
    max_wnd: u32,
    /// Our FIN is sent and unacknowledged (its sequence number is SND.NXT - 1).
    fin_in_flight: bool,
}

/// RFC 9293 §3.10.7.4 "first": the acceptability table.
fn acceptable(seq: SeqNum, len: u32, nxt: SeqNum, wnd: u32) -> bool {
    let in_window = |s: SeqNum| s.diff(nxt) >= 0 && (s.diff(nxt) as i64) < i64::from(wnd);
    match (len, wnd) {
        (0, 0) => seq == nxt,
        (0, _) => in_window(seq),
        (_, 0) => false,
        _ => in_window(seq) || in_window(seq + (len - 1)),
    }
}

/// The oracle.
fn expect(
    state: TcpState,
    kind: Kind,
    seq: SeqNum,
    ack: Option<SeqNum>,
    e: &Env0,
) -> (Reply, TcpState) {
    use TcpState::*;
    match state {
        SynSent => {
            // §3.10.7.3 "first, check the ACK bit".
            if let Some(ack) = ack
                && (!ack.after(e.una) || ack.after(e.nxt))
            {
                return if kind.rst() {
                    (Reply::Nothing, SynSent)
                } else {
                    (Reply::Rst(ack), SynSent)
                };
            }
            // "second, check the RST bit".
            if kind.rst() {
                return (Reply::Nothing, if ack.is_some() { Closed } else { SynSent });
            }
            // "fourth, check the SYN bit".
            match (kind.syn(), ack.is_some()) {
                (true, true) => (Reply::Ack, Established),
                (true, false) => (Reply::SynAck, SynReceived),
                (false, _) => (Reply::Nothing, SynSent),
            }
        }
        TimeWait => {
            // Linux tcp_timewait_state_process, as the engine follows it.
            let len = kind.seg_len();
            if seq == e.rcv_nxt && (len == 0 || kind.rst()) {
                return (Reply::Nothing, TimeWait); // a bare ACK, or a RST (RFC 1337)
            }
            if kind == Kind::Syn && seq.after(e.rcv_nxt) {
                return (Reply::Nothing, TimeWait); // RFC 6191: the stack may reopen
            }
            if kind.rst() {
                return (Reply::Nothing, TimeWait);
            }
            (Reply::Ack, TimeWait)
        }
        _ => expect_otherwise(state, kind, seq, ack, e),
    }
}

/// §3.10.7.4 for SYN-RECEIVED (from a passive open) and the synchronized
/// states.
fn expect_otherwise(
    state: TcpState,
    kind: Kind,
    seq: SeqNum,
    ack: Option<SeqNum>,
    e: &Env0,
) -> (Reply, TcpState) {
    use TcpState::*;
    // "first, check sequence number".
    if !acceptable(seq, kind.seg_len(), e.rcv_nxt, e.rcv_wnd) {
        if kind.rst() {
            return (Reply::Nothing, state);
        }
        if kind.syn() {
            // RFC 5961 §4.2: "irrespective of the sequence number".
            return (Reply::SynChallenge, state);
        }
        return (Reply::Ack, state);
    }
    // "second, check the RST bit" with RFC 5961 §3.2 (and Linux: RCV.NXT - 1
    // after the peer's FIN).
    if kind.rst() {
        let after_fin = matches!(state, CloseWait | LastAck | Closing);
        let exact = seq == e.rcv_nxt || (after_fin && seq == e.rcv_nxt - 1u32);
        return if exact {
            (Reply::Nothing, Closed)
        } else {
            (Reply::Challenge, state)
        };
    }
    // "fourth, check the SYN bit": a passive SYN-RECEIVED returns to LISTEN.
    if kind.syn() {
        return if state == SynReceived {
            (Reply::Nothing, Closed)
        } else {
            (Reply::SynChallenge, state)
        };
    }
    // "fifth, check the ACK field" (every remaining kind has one).
    let Some(ack) = ack else {
        return (Reply::Nothing, state);
    };
    let mut state = state;
    if state == SynReceived {
        if !(ack.after(e.una) && ack.before_eq(e.nxt)) {
            return (Reply::Rst(ack), SynReceived);
        }
        state = Established;
    }
    if ack.after(e.nxt) {
        return (Reply::Ack, state);
    }
    if ack.before(e.una - e.max_wnd) {
        return (Reply::Challenge, state);
    }
    let fin_acked = e.fin_in_flight && ack == e.nxt;
    match state {
        FinWait1 if fin_acked => state = FinWait2,
        Closing if fin_acked => return (Reply::Nothing, TimeWait),
        LastAck if fin_acked => return (Reply::Nothing, Closed),
        _ => {}
    }
    let receiving = matches!(state, Established | FinWait1 | FinWait2);
    // "seventh, process the segment text": new data is acknowledged at once
    // (quick-ACK mode at the start of a connection; at once anyway when out
    // of order).
    if kind == Kind::Data && receiving {
        return (Reply::Ack, state);
    }
    // "eighth, check the FIN bit".
    if kind == Kind::Fin && receiving {
        if seq != e.rcv_nxt {
            return (Reply::Ack, state); // beyond a hole: acknowledged at once
        }
        return match state {
            // Linux delays this ACK (ping-pong mode).
            Established => (Reply::Nothing, CloseWait),
            FinWait1 => (Reply::Ack, Closing),
            FinWait2 => (Reply::Ack, TimeWait),
            _ => (Reply::Nothing, state),
        };
    }
    (Reply::Nothing, state)
}

fn seq_at(pos: SeqPos, e: &Env0) -> SeqNum {
    match pos {
        SeqPos::Left => e.rcv_nxt - 50u32,
        SeqPos::Next => e.rcv_nxt,
        SeqPos::Inside => e.rcv_nxt + 10u32,
        SeqPos::RightEdge => e.rcv_nxt + (e.rcv_wnd - 1),
        SeqPos::Beyond => e.rcv_nxt + e.rcv_wnd + 100u32,
    }
}

fn ack_at(pos: AckPos, e: &Env0) -> Option<SeqNum> {
    match pos {
        AckPos::TooOld => Some(e.una - e.max_wnd - 1u32),
        AckPos::Old => Some(e.una - 10u32),
        AckPos::Una => Some(e.una),
        AckPos::InFlight => (e.nxt.since(e.una) > 1).then(|| e.una + 1u32),
        AckPos::Nxt => Some(e.nxt),
        AckPos::Beyond => Some(e.nxt + 1000u32),
    }
}

fn environment(h: &Harness) -> Env0 {
    let (una, nxt) = h.snd_una_nxt();
    let (rcv_wnd, max_wnd, fin_in_flight) = match &h.conn.state {
        State::TimeWait(_) => (1, 65_535, false),
        other => {
            let rcv = other.recv_half();
            let snd = other.send_half().expect("a send half");
            let fin_in_flight = snd.fin == FinState::Sent && !snd.fin_acked();
            (rcv.map_or(0, RecvHalf::window), snd.max_wnd, fin_in_flight)
        }
    };
    Env0 {
        rcv_nxt: h.rcv_nxt(),
        rcv_wnd,
        una,
        nxt,
        max_wnd,
        fin_in_flight,
    }
}

fn classify(out: &[Seg], before: &Stats, after: &Stats) -> Reply {
    let challenges = after.tcp_ext.tcp_challenge_ack - before.tcp_ext.tcp_challenge_ack;
    let syn_challenges = after.tcp_ext.tcp_syn_challenge - before.tcp_ext.tcp_syn_challenge;
    match out {
        [] => Reply::Nothing,
        [s] if s.flags.rst() => Reply::Rst(s.seq),
        [s] if s.flags.syn() => Reply::SynAck,
        [s] if s.f() == "." && challenges == 1 && syn_challenges == 1 => Reply::SynChallenge,
        [s] if s.f() == "." && challenges == 1 => Reply::Challenge,
        [s] if s.f() == "." && challenges == 0 => Reply::Ack,
        other => panic!("unexpected reply {other:?}"),
    }
}

#[test]
fn every_state_kind_sequence_and_ack_position_follows_the_rfc() {
    use TcpState::*;
    let states = [
        SynSent,
        SynReceived,
        Established,
        FinWait1,
        FinWait2,
        CloseWait,
        Closing,
        LastAck,
        TimeWait,
    ];
    let seq_positions = [
        SeqPos::Left,
        SeqPos::Next,
        SeqPos::Inside,
        SeqPos::RightEdge,
        SeqPos::Beyond,
    ];
    let ack_positions = [
        AckPos::TooOld,
        AckPos::Old,
        AckPos::Una,
        AckPos::InFlight,
        AckPos::Nxt,
        AckPos::Beyond,
    ];
    let mut cases = 0;
    let mut failures = Vec::new();
    for state in states {
        for kind in Kind::ALL {
            // SYN-SENT has no RCV.NXT yet: the sequence number is the peer's ISN.
            let seqs: &[SeqPos] = if state == SynSent {
                &[SeqPos::Next]
            } else {
                &seq_positions
            };
            let acks: &[AckPos] = if kind.has_ack() {
                &ack_positions
            } else {
                &[AckPos::Una]
            };
            for &seq_pos in seqs {
                for &ack_pos in acks {
                    let mut h = Harness::in_state(state);
                    let e = environment(&h);
                    let seq = if state == SynSent {
                        SeqNum(IRS)
                    } else {
                        seq_at(seq_pos, &e)
                    };
                    let ack = if kind.has_ack() {
                        match ack_at(ack_pos, &e) {
                            Some(a) => Some(a),
                            None => continue, // no such position in this state
                        }
                    } else {
                        None
                    };
                    let mut s = seg(kind.flags(), seq.raw(), ack.map(SeqNum::raw));
                    if kind == Kind::Data {
                        s = s.len(10);
                    }
                    if kind.syn() {
                        s = s.linux_syn_opts();
                    }
                    let before = h.env.stats.clone();
                    let _ = h.input(s);
                    let out = h.output();
                    let got = (classify(&out, &before, &h.env.stats), h.state());
                    let want = expect(state, kind, seq, ack, &e);
                    cases += 1;
                    if got != want {
                        failures.push(format!(
                            "{state:?} {kind:?} seq {seq_pos:?} ack {ack_pos:?}: got {got:?}, want {want:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(cases > 1_000, "{cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
