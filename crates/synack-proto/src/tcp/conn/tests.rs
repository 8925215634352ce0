//! Unit tests: one connection driven with literal segments on virtual time,
//! checking the exact segments it sends and when.
//!
//! The harness plays the peer: [`seg`] builds a segment from tcpdump-style
//! flags, [`Harness::input`] delivers it, [`Harness::output`] drains what the
//! connection sends (parsed back with full checksum verification), and
//! [`Harness::advance`] moves virtual time, firing timers on the way.

mod close;
mod data;
mod gro;
mod gso;
mod handshake;
mod idle_ack;
mod in_packet;
mod layout;
mod loss;
mod predicted;
mod probes;
mod records;
mod recovery;
mod robustness;
mod table;

use super::*;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpTimestamp};
use crate::wire::{Checksum, TcpRepr};
use core::net::Ipv4Addr;

pub(super) const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000);
pub(super) const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80);
/// Our ISS in every test.
pub(super) const ISS: u32 = 1_000_000;
/// Our timestamp clock's offset: TSval = ms + this.
pub(super) const TS_OFFSET: u32 = 5_000;
/// The peer's ISN in every test.
pub(super) const IRS: u32 = 7_000;

/// An owned segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Seg {
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

/// A segment from the peer: `flags` as tcpdump prints them (`"S"`, `"S."`,
/// `"."`, `"P."`, `"F."`, `"R"`, `"R."`), ACK set by `"."`.
pub(super) fn seg(flags: &str, seq: u32, ack: Option<u32>) -> Seg {
    let mut f = TcpFlags::empty();
    for c in flags.chars() {
        f |= match c {
            'S' => TcpFlags::SYN,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            '.' => TcpFlags::ACK,
            _ => panic!("unknown flag {c}"),
        };
    }
    let ack = if f.ack() {
        Some(SeqNum(ack.expect("'.' needs an ack number")))
    } else {
        None
    };
    Seg {
        seq: SeqNum(seq),
        ack,
        flags: f,
        window: 65_535,
        options: TcpOptions::default(),
        payload: Vec::new(),
    }
}

impl Seg {
    pub fn win(mut self, window: u16) -> Self {
        self.window = window;
        self
    }

    pub fn data(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    pub fn len(self, n: usize) -> Self {
        let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
        self.data(&payload)
    }

    pub fn ts(mut self, tsval: u32, tsecr: u32) -> Self {
        self.options.timestamp = Some(TcpTimestamp { tsval, tsecr });
        self
    }

    pub fn mss(mut self, mss: u16) -> Self {
        self.options.mss = Some(mss);
        self
    }

    pub fn wscale(mut self, shift: u8) -> Self {
        self.options.window_scale = Some(shift);
        self
    }

    pub fn sack_ok(mut self) -> Self {
        self.options.sack_permitted = true;
        self
    }

    /// A Linux peer's SYN options: `<mss 1460,sackOK,TS val 700 ecr 0,nop,wscale 7>`.
    pub fn linux_syn_opts(self) -> Self {
        self.mss(1460).sack_ok().ts(700, 0).wscale(7)
    }

    pub fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: REMOTE.port(),
            dst_port: LOCAL.port(),
            seq: self.seq,
            ack: self.ack,
            flags: if self.ack.is_some() {
                self.flags | TcpFlags::ACK
            } else {
                self.flags
            },
            window: self.window,
            urgent: 0,
            options: self.options,
            payload: &self.payload,
        }
    }

    /// tcpdump's flag letters.
    pub fn f(&self) -> String {
        self.flags.to_string()
    }

    pub fn ts_val(&self) -> Option<TcpTimestamp> {
        self.options.timestamp
    }
}

/// One connection and the world around it.
pub(super) struct Harness {
    pub env: Env,
    pub conn: Connection,
    pub now: Instant,
    /// Events drained so far.
    pub events: Vec<ConnEvent>,
}

pub(super) fn params() -> ConnParams {
    ConnParams {
        iss: SeqNum(ISS),
        ts_offset: TS_OFFSET,
        socket: SocketOptions::default(),
        route_mtu: None,
    }
}

impl Harness {
    /// A client in SYN-SENT at time 0 (its SYN not yet drained).
    pub fn client(config: Config) -> Self {
        Self::client_with(config, SocketOptions::default())
    }

    /// [`Harness::client`] with socket options set before connect.
    pub fn client_with(config: Config, socket: SocketOptions) -> Self {
        let mut env = Env::new(config);
        let params = ConnParams { socket, ..params() };
        let conn = Connection::connect(Instant::ZERO, LOCAL, REMOTE, &params, &mut env);
        Harness {
            env,
            conn,
            now: Instant::ZERO,
            events: Vec::new(),
        }
    }

    /// A server in SYN-RECEIVED at time 0 after `syn` (SYN-ACK not drained).
    pub fn server(config: Config, syn: &Seg) -> Self {
        let mut env = Env::new(config);
        let conn = Connection::accept_syn(
            Instant::ZERO,
            LOCAL,
            REMOTE,
            &syn.repr(),
            &params(),
            &mut env,
        );
        Harness {
            env,
            conn,
            now: Instant::ZERO,
            events: Vec::new(),
        }
    }

    /// A client with the handshake done at 100 ms (RTT 100 ms) with a Linux
    /// peer (`wscale 7`, timestamps, SACK): ESTABLISHED, nothing pending.
    pub fn established() -> Self {
        Self::established_with(Config::default())
    }

    pub fn established_with(config: Config) -> Self {
        let mut h = Self::client(config);
        let syn = h.output();
        assert_eq!(syn.len(), 1);
        h.at(100);
        h.feed(
            seg("S.", IRS, Some(ISS + 1))
                .linux_syn_opts()
                .ts(700, syn[0].ts_val().map_or(0, |t| t.tsval))
                .win(65_535),
        );
        let ack = h.output();
        assert_eq!(ack.len(), 1, "{ack:?}");
        assert_eq!(h.state(), TcpState::Established);
        h.drain_events();
        h
    }

    /// A connection driven into `state` with a Linux-like peer, nothing
    /// pending. Our data: none sent. The peer's next sequence number is
    /// [`Harness::peer_nxt`], ours [`Harness::our_nxt`].
    pub fn in_state(state: TcpState) -> Self {
        let peer = IRS + 1;
        let ours = ISS + 1;
        let mut h = match state {
            TcpState::SynSent => {
                let mut h = Self::client(Config::default());
                h.output();
                h
            }
            TcpState::SynReceived => {
                let syn = seg("S", IRS, None).linux_syn_opts();
                let mut h = Self::server(Config::default(), &syn);
                h.output();
                h
            }
            TcpState::Listen => panic!("LISTEN is the listener's"),
            _ => Self::established(),
        };
        let shut = |h: &mut Harness| {
            h.conn.shutdown(h.now, Shutdown::Write, &mut h.env).unwrap();
            assert_eq!(h.output().len(), 1);
        };
        // In ESTABLISHED, CLOSE-WAIT, FIN-WAIT-1, CLOSING and LAST-ACK, 100
        // bytes of ours are in flight (and the FIN, once sent).
        let in_flight = |h: &mut Harness| {
            h.send(&[0x55; 100]);
            assert_eq!(h.output().len(), 1);
        };
        match state {
            TcpState::Established => in_flight(&mut h),
            TcpState::FinWait1 => {
                in_flight(&mut h);
                shut(&mut h);
            }
            TcpState::FinWait2 => {
                shut(&mut h);
                h.feed(seg(".", peer, Some(ours + 1)));
            }
            TcpState::CloseWait => {
                h.feed(seg("F.", peer, Some(ours)));
                in_flight(&mut h);
            }
            TcpState::Closing => {
                in_flight(&mut h);
                shut(&mut h);
                h.feed(seg("F.", peer, Some(ours)));
            }
            TcpState::LastAck => {
                h.feed(seg("F.", peer, Some(ours)));
                in_flight(&mut h);
                shut(&mut h);
            }
            TcpState::TimeWait => {
                shut(&mut h);
                h.feed(seg(".", peer, Some(ours + 1)));
                h.feed(seg("F.", peer, Some(ours + 1)));
            }
            TcpState::Closed => {
                let _ = h.input(seg("R", peer, None));
            }
            _ => {}
        }
        h.output();
        h.drain_events();
        assert_eq!(h.state(), state);
        h
    }

    /// RCV.NXT, wherever the state keeps it.
    pub fn rcv_nxt(&self) -> SeqNum {
        match &self.conn.state {
            State::TimeWait(t) => t.tw.rcv_nxt,
            other => other.recv_half().map_or(SeqNum(IRS + 1), |r| r.nxt),
        }
    }

    /// SND.UNA and SND.NXT, wherever the state keeps them.
    pub fn snd_una_nxt(&self) -> (SeqNum, SeqNum) {
        match &self.conn.state {
            State::TimeWait(t) => (t.tw.snd_nxt, t.tw.snd_nxt),
            other => other
                .send_half()
                .map_or((SeqNum(ISS + 1), SeqNum(ISS + 1)), |s| (s.una, s.nxt)),
        }
    }

    pub fn state(&self) -> TcpState {
        self.conn.state()
    }

    /// Moves the clock to `ms` without firing timers.
    pub fn at(&mut self, ms: u64) {
        let t = Instant::from_millis(ms);
        assert!(t >= self.now, "time goes forward");
        self.now = t;
    }

    pub fn input(&mut self, s: Seg) -> Disposition {
        self.conn.handle_segment(self.now, &s.repr(), &mut self.env)
    }

    /// Delivers a segment that must be accepted.
    pub fn feed(&mut self, s: Seg) {
        let d = self.input(s);
        assert_eq!(d, Disposition::Accepted);
    }

    /// Drains every segment the connection wants to send now.
    pub fn output(&mut self) -> Vec<Seg> {
        let mut out = Vec::new();
        let mut buf = [0xAAu8; 2000];
        for _ in 0..1000 {
            buf.fill(0xAA);
            // Every poll checks `may_transmit`: when it says nothing can
            // go, the poll sends nothing and changes nothing (the stack
            // skips such polls).
            let quiet = (!self.conn.may_transmit()).then(|| self.snapshot());
            let Some(n) = self.conn.poll_transmit(self.now, &mut buf, &mut self.env) else {
                if let Some(before) = quiet {
                    assert_eq!(
                        before,
                        self.snapshot(),
                        "an empty poll changed the connection"
                    );
                }
                return out;
            };
            assert!(quiet.is_none(), "may_transmit said no, a segment went out");
            // A synchronized connection's own answer after a segment that
            // may be its last (the stack reads it instead of asking).
            if let Some(more) = self.env.tx.more.take() {
                assert_eq!(more, self.conn.may_transmit(), "the connection's answer");
            }
            let packet = TcpPacket::new_checked(&buf[..n]).expect("a valid header");
            let r = TcpRepr::parse(&packet, *LOCAL.ip(), *REMOTE.ip(), Checksum::Full)
                .expect("checksum and options verify");
            assert_eq!((r.src_port, r.dst_port), (LOCAL.port(), REMOTE.port()));
            out.push(Seg {
                seq: r.seq,
                ack: r.ack,
                flags: r.flags,
                window: r.window,
                options: r.options,
                payload: r.payload.to_vec(),
            });
        }
        panic!("the connection kept transmitting");
    }

    /// Everything a poll could change: the connection and its environment.
    fn snapshot(&self) -> String {
        format!("{:?} {:?} {:?}", self.conn.state, self.conn.core, self.env)
    }

    /// Fires timers up to `ms` (one at a time, in order), collecting what is
    /// sent with the time it was sent.
    pub fn run_until(&mut self, ms: u64) -> Vec<(u64, Seg)> {
        let end = Instant::from_millis(ms);
        let mut out = Vec::new();
        for s in self.output() {
            out.push((self.now.total_millis(), s));
        }
        for _ in 0..100_000 {
            match self.conn.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.conn.handle_timeout(self.now, &mut self.env);
                    for s in self.output() {
                        out.push((self.now.total_millis(), s));
                    }
                }
                _ => {
                    self.now = self.now.max(end);
                    return out;
                }
            }
        }
        panic!("timers kept firing");
    }

    pub fn drain_events(&mut self) -> Vec<ConnEvent> {
        let new: Vec<_> = self.env.events.drain(..).collect();
        self.events.extend(new.iter().copied());
        new
    }

    pub fn send(&mut self, data: &[u8]) -> usize {
        self.conn
            .send(self.now, data, SendFlags::default(), &mut self.env)
            .expect("send")
    }

    pub fn recv_all(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.conn.recv(self.now, &mut buf, &mut self.env) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// TSval the connection sends at `ms`.
    pub fn tsval_at(ms: u64) -> u32 {
        ms as u32 + TS_OFFSET
    }

    pub fn info(&self) -> TcpInfo {
        self.conn.info(self.now, &self.env.config)
    }
}

/// State changes among `events`.
pub(super) fn states(events: &[ConnEvent]) -> Vec<TcpState> {
    events
        .iter()
        .filter_map(|e| match e {
            ConnEvent::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

/// A differential test's two runs of `ops`: `run(ops, off)` with a short
/// way switched off (`true`) and on, each returning what every step left
/// and how often the short way was taken. Compares the steps one by one so
/// a failure names the first that differs; returns how often the short way
/// was taken.
pub(super) fn assert_same_steps<O: core::fmt::Debug>(
    ops: &[O],
    run: impl Fn(&[O], bool) -> (Vec<String>, u64),
) -> u64 {
    let (long, none) = run(ops, true);
    assert_eq!(none, 0, "the short way was off");
    let (short, taken) = run(ops, false);
    assert_eq!(long.len(), short.len());
    for (i, (a, b)) in long.iter().zip(&short).enumerate() {
        assert_eq!(a, b, "step {i} ({:?}) differs", ops[i]);
    }
    taken
}
