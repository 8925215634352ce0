//! Zero-copy receive (`Stack::handle_frames_owned`, `storage::kept`): a
//! receiver that is handed its frames must answer on the wire, give the
//! application its bytes and count exactly as one that is lent them
//! (`Stack::handle_frames`), and every buffer handed over must either stay
//! with the driver or come back through `Stack::reclaim_frames`.
//!
//! The peer is scripted (its segments built here, so that their sizes, their
//! buffers' spare capacity, their order and their checksums are chosen), and
//! it talks to two identical receivers at once: `lent` and `owned`.

use super::*;
use crate::storage::FrameBuf;
use crate::tcp::conn::SocketOption;
use crate::wire::tcp::TcpTimestamp;
use std::collections::HashMap;

const PEER: SocketAddrV4 = SocketAddrV4::new(A, 40_000);
const LOCAL: SocketAddrV4 = SocketAddrV4::new(B, PORT);
/// The peer's ISS: its stream's sequence numbers wrap after 20,000 bytes.
const PEER_ISS: u32 = u32::MAX - 20_000;
/// The peer's MSS option.
const PEER_MSS: u16 = 1460;

/// Byte `i` of the peer's stream (varied, so that a byte out of place
/// shows).
fn byte(i: usize) -> u8 {
    ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8
}

fn stream(from: usize, len: usize) -> Vec<u8> {
    (from..from + len).map(byte).collect()
}

/// A TCP segment of ours, parsed.
#[derive(Clone, Copy, Debug)]
struct Sent {
    seq: u32,
    ack: Option<u32>,
    flags: TcpFlags,
    window: u16,
    tsval: Option<u32>,
    window_scale: Option<u8>,
}

fn parse(frame: &[u8]) -> Sent {
    let ip = Ipv4Packet::new_checked(frame).unwrap();
    let ipr = Ipv4Repr::parse(&ip, Checksum::Full).expect("a valid IP header");
    assert_eq!(ipr.protocol, IpProtocol::Tcp);
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    let seg = TcpRepr::parse(&tcp, ipr.src_addr, ipr.dst_addr, Checksum::Full).unwrap();
    assert!(seg.payload.is_empty(), "the receiver sends no data");
    Sent {
        seq: seg.seq.raw(),
        ack: seg.ack.map(SeqNum::raw),
        flags: seg.flags,
        window: seg.window,
        tsval: seg.options.timestamp.map(|t| t.tsval),
        window_scale: seg.options.window_scale,
    }
}

/// How a frame's buffer is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alloc {
    /// Exactly the frame.
    Exact,
    /// A few bytes more (still worth keeping if the payload is).
    Slack(usize),
    /// More than twice the payload: never worth keeping.
    Fat,
}

/// A frame `bytes` in a buffer allocated as `alloc` says.
fn buffer(bytes: &[u8], alloc: Alloc, payload: usize) -> Vec<u8> {
    let capacity = match alloc {
        Alloc::Exact => bytes.len(),
        Alloc::Slack(n) => bytes.len() + n,
        Alloc::Fat => bytes.len().max(2 * payload + 1),
    };
    let mut v = Vec::with_capacity(capacity);
    v.extend_from_slice(bytes);
    v
}

/// The scripted peer (A, port 40000) and two receivers (B) it talks to:
/// `lent` takes every batch through `handle_frames`, `owned` through
/// `handle_frames_owned`. After each step both must have sent the same
/// bytes, raised the same events and counted the same.
struct Twins {
    lent: Stack,
    owned: Stack,
    conn: Option<ConnHandle>,
    now: Instant,
    /// Timestamps (RFC 7323) negotiated.
    ts: bool,
    /// B's ISS + 1: the peer's ACK number.
    ack: u32,
    /// B's latest TSval, echoed.
    tsecr: u32,
    /// B's window scale.
    b_ws: u8,
    /// The stream offset B acknowledged last and the window it offered.
    acked: usize,
    window: usize,
    /// What the application read (on both; they must agree).
    got: Vec<u8>,
    /// Buffers `owned` took, by address: (bytes, capacity).
    held: HashMap<usize, (Vec<u8>, usize)>,
    /// Buffers taken and handed back so far.
    taken: usize,
    reclaimed: usize,
    /// Everything B sent (the lent receiver's frames).
    wire: Vec<Vec<u8>>,
    /// The link header's length: 14 on Ethernet, 0 on a bare IP
    /// interface.
    l2: usize,
}

impl Twins {
    fn new(ts: bool) -> Twins {
        Twins::on(ts, false)
    }

    /// Twins on an Ethernet interface (`eth`, the peer's station address
    /// known) or a bare IP one.
    fn on(ts: bool, eth: bool) -> Twins {
        Twins::handshake(ts, eth, Duration::ZERO)
    }

    /// Twins whose handshake took `rtt`: the peer's ACK of the SYN-ACK
    /// comes that long after it (the receivers' only RTT sample).
    fn with_rtt(ts: bool, rtt: Duration) -> Twins {
        Twins::handshake(ts, false, rtt)
    }

    fn handshake(ts: bool, eth: bool, rtt: Duration) -> Twins {
        let rx = || {
            if eth {
                let mut s = eth_stack(B, 2, config(2));
                assert!(s.add_arp_entry(IfaceId(0), A, mac(1)));
                s
            } else {
                stack(B, 2)
            }
        };
        let (mut lent, mut owned) = (rx(), rx());
        let l = lent.tcp_listen(LOCAL, 8).unwrap();
        assert_eq!(owned.tcp_listen(LOCAL, 8), Ok(l));
        let mut t = Twins {
            lent,
            owned,
            conn: None,
            now: Instant::from_millis(1),
            ts,
            ack: 0,
            tsecr: 0,
            b_ws: 0,
            acked: 0,
            window: 0,
            got: Vec::new(),
            held: HashMap::new(),
            taken: 0,
            reclaimed: 0,
            wire: Vec::new(),
            l2: if eth { 14 } else { 0 },
        };
        let syn = t.segment(
            PEER_ISS,
            None,
            TcpFlags::SYN,
            TcpOptions {
                mss: Some(PEER_MSS),
                window_scale: Some(7),
                sack_permitted: true,
                timestamp: ts.then_some(TcpTimestamp { tsval: 1, tsecr: 0 }),
                ..TcpOptions::default()
            },
            &[],
        );
        t.lent.handle_frame(t.now, &syn);
        t.owned.handle_frame(t.now, &syn);
        let sent = t.settle();
        assert_eq!(sent.len(), 1, "a SYN-ACK");
        let synack = sent[0];
        assert!(synack.flags.contains(TcpFlags::SYN));
        assert_eq!(synack.ack, Some(PEER_ISS.wrapping_add(1)));
        assert_eq!(synack.tsval.is_some(), ts);
        t.ack = synack.seq.wrapping_add(1);
        t.b_ws = synack.window_scale.unwrap_or(0);
        t.now += rtt;
        let ack = t.data(0, TcpFlags::empty(), &[]);
        t.lent.handle_frame(t.now, &ack);
        t.owned.handle_frame(t.now, &ack);
        t.settle();
        let s = t.lent.tcp_accept(l).unwrap();
        assert_eq!(t.owned.tcp_accept(l), Ok(s));
        t.conn = Some(s);
        assert_eq!(t.lent.tcp_state(s), TcpState::Established);
        t.settle();
        t
    }

    /// The receivers' connection (the same handle in both).
    fn s(&self) -> ConnHandle {
        self.conn.expect("accepted")
    }

    /// The peer's payload room in a segment.
    fn full(&self) -> usize {
        usize::from(PEER_MSS) - if self.ts { 12 } else { 0 }
    }

    /// An IPv4+TCP frame from the peer.
    fn segment(
        &self,
        seq: u32,
        ack: Option<u32>,
        flags: TcpFlags,
        options: TcpOptions,
        payload: &[u8],
    ) -> Vec<u8> {
        let header = crate::tcp::segment::SegmentHeader {
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            flags,
            window: 4096,
            options,
        };
        let buf = tcp_packet(PEER, LOCAL, &header, payload);
        if self.l2 > 0 {
            return eth_frame(mac(2), mac(1), EtherType::Ipv4, &buf);
        }
        buf
    }

    /// The peer's segment with `payload` at stream offset `at` (ACK set,
    /// plus `flags`).
    fn data(&self, at: usize, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
        let options = TcpOptions {
            timestamp: self.ts.then_some(TcpTimestamp {
                tsval: 1000 + self.now.total_millis() as u32,
                tsecr: self.tsecr,
            }),
            ..TcpOptions::default()
        };
        let seq = PEER_ISS.wrapping_add(1).wrapping_add(at as u32);
        self.segment(seq, Some(self.ack), flags, options, payload)
    }

    /// The stream's bytes `at..at + len` as a frame allocated as `alloc`
    /// says.
    fn piece(&self, at: usize, len: usize, alloc: Alloc) -> Vec<u8> {
        self.piece_with(at, len, alloc, true)
    }

    /// [`Twins::piece`] with PSH or not.
    fn piece_with(&self, at: usize, len: usize, alloc: Alloc, push: bool) -> Vec<u8> {
        let flags = if push {
            TcpFlags::PSH
        } else {
            TcpFlags::empty()
        };
        buffer(&self.data(at, flags, &stream(at, len)), alloc, len)
    }

    /// Both receivers shut their sending side (the same answer from
    /// each); returns the FIN they send.
    fn shut_write(&mut self) -> Sent {
        let s = self.s();
        let a = self.lent.tcp_shutdown(self.now, s, Shutdown::Write);
        assert_eq!(a, self.owned.tcp_shutdown(self.now, s, Shutdown::Write));
        let sent = self.settle();
        *sent
            .iter()
            .find(|s| s.flags.contains(TcpFlags::FIN))
            .expect("B's FIN")
    }

    /// Both receivers' output since the last step, which must be the same
    /// byte for byte, then their events, counters and connection; the
    /// frames `owned` hands back are checked against those it took.
    fn settle(&mut self) -> Vec<Sent> {
        let mut outs = [Vec::new(), Vec::new()];
        for (out, rx) in outs.iter_mut().zip([&mut self.lent, &mut self.owned]) {
            let mut buf = [0u8; 2000];
            while let Some(n) = rx.poll_transmit(self.now, &mut buf) {
                out.push(buf[..n].to_vec());
            }
        }
        let [lent, owned] = outs;
        assert_eq!(lent, owned, "the receivers sent different frames");
        let (el, eo) = (events(&mut self.lent), events(&mut self.owned));
        assert_eq!(el, eo, "different events");
        // The same but for the count of frames kept, which only `owned` can.
        let mut owned_stats = self.owned.stats().clone();
        owned_stats.tcp_ext.tcp_rcv_frames_kept = 0;
        assert_eq!(self.lent.stats(), &owned_stats, "different counters");
        if let Some(s) = self.conn {
            assert_eq!(self.lent.tcp_state(s), self.owned.tcp_state(s));
            assert_eq!(self.lent.tcp_info(s), self.owned.tcp_info(s));
            assert_eq!(self.lent.tcp_recv_queue(s), self.owned.tcp_recv_queue(s));
        }
        let l2 = self.l2;
        // (On Ethernet, ARP frames too: an announcement at start.)
        let sent: Vec<Sent> = lent
            .iter()
            .filter(|f| l2 == 0 || f[12..14] == [0x08, 0x00])
            .map(|f| parse(&f[l2..]))
            .collect();
        for seg in &sent {
            if let Some(ts) = seg.tsval {
                self.tsecr = ts;
            }
            if let Some(ack) = seg.ack
                && !seg.flags.contains(TcpFlags::SYN)
            {
                self.acked = ack.wrapping_sub(PEER_ISS.wrapping_add(1)) as usize;
                self.window = usize::from(seg.window) << self.b_ws;
            }
        }
        self.wire.extend(lent);
        self.reclaim();
        sent
    }

    /// Takes `owned`'s spent frames back: each one it took, unchanged.
    /// Once nothing is readable, it holds none.
    fn reclaim(&mut self) {
        let mut back = Vec::new();
        self.owned.reclaim_frames(|f| back.push(f));
        for f in back {
            let (bytes, capacity) = self
                .held
                .remove(&(f.as_ptr() as usize))
                .expect("a frame handed back that was not taken (or twice)");
            assert_eq!(f, bytes, "a frame came back changed");
            assert_eq!(f.capacity(), capacity);
            self.reclaimed += 1;
        }
        if self
            .conn
            .and_then(|s| self.owned.tcp_recv_queue(s))
            .unwrap_or(0)
            == 0
        {
            assert!(
                self.held.is_empty(),
                "nothing readable, yet {} frames held",
                self.held.len()
            );
        }
    }

    /// One batch from the peer, to both receivers.
    fn deliver(&mut self, frames: Vec<Vec<u8>>) -> Vec<Sent> {
        self.deliver_batch(frames)
    }

    fn deliver_batch(&mut self, frames: Vec<Vec<u8>>) -> Vec<Sent> {
        self.lent
            .handle_frames(self.now, IfaceId(0), frames.iter().map(Vec::as_slice));
        let handed: Vec<(usize, Vec<u8>, usize)> = frames
            .iter()
            .map(|f| (f.as_ptr() as usize, f.clone(), f.capacity()))
            .collect();
        let mut frames: Vec<FrameBuf> = frames
            .into_iter()
            .map(|f| {
                let len = f.len();
                FrameBuf::new(f, len)
            })
            .collect();
        self.owned
            .handle_frames_owned(self.now, IfaceId(0), &mut frames);
        for (slot, (ptr, bytes, capacity)) in frames.iter().map(|f| &f.buf).zip(handed) {
            if slot.is_empty() && slot.capacity() == 0 {
                // Taken. An address already held means a taken buffer was
                // freed, not handed back, and its memory reused.
                let before = self.held.insert(ptr, (bytes, capacity));
                assert!(before.is_none(), "a taken frame was freed");
                self.taken += 1;
            } else {
                assert_eq!(slot.as_ptr() as usize, ptr, "another buffer in the slot");
                assert_eq!(*slot, bytes, "a frame left with the driver was changed");
            }
        }
        self.settle()
    }

    /// One application read of up to `n` bytes on both; returns how many.
    fn read(&mut self, n: usize) -> Result<usize, RecvError> {
        let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
        let ra = self.lent.tcp_recv(self.now, self.s(), &mut a);
        let rb = self.owned.tcp_recv(self.now, self.s(), &mut b);
        assert_eq!(ra, rb, "different reads");
        if let Ok(k) = ra {
            let at = self.got.len();
            let first_diff = |x: &[u8], y: &[u8]| x.iter().zip(y).position(|(p, q)| p != q);
            assert_eq!(
                first_diff(&a[..k], &b[..k]),
                None,
                "different bytes read at {at}+"
            );
            let want = stream(at, k);
            assert_eq!(
                first_diff(&a[..k], &want),
                None,
                "not the stream's bytes at {at}+"
            );
            self.got.extend_from_slice(&a[..k]);
        }
        self.settle();
        ra
    }

    /// Reads in `chunk`-byte reads until nothing is left.
    fn read_all(&mut self, chunk: usize) {
        while let Ok(n) = self.read(chunk) {
            if n == 0 {
                break;
            }
        }
    }

    fn wait(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.lent.handle_timeout(self.now);
        self.owned.handle_timeout(self.now);
        self.settle();
    }

    fn set_option(&mut self, option: SocketOption) {
        let a = self.lent.tcp_set_option(self.now, self.s(), option);
        assert_eq!(a, self.owned.tcp_set_option(self.now, self.s(), option));
        self.settle();
    }

    /// The stream up to `len` in order, full segments as far as B's window
    /// lets (at least one, a probe), reads between, until B has it all.
    fn complete(&mut self, len: usize) {
        for _ in 0..2000 {
            self.read_all(4096);
            let at = self.got.len();
            if at >= len {
                assert_eq!(at, len);
                return;
            }
            let edge = (self.acked + self.window).min(len).max(at + 1);
            let mut frames = Vec::new();
            let mut p = at;
            while p < edge && frames.len() < 16 {
                let n = self.full().min(edge - p);
                frames.push(self.piece(p, n, Alloc::Exact));
                p += n;
            }
            self.deliver(frames);
            self.wait(50);
        }
        panic!(
            "the stream did not get through: {} of {len}",
            self.got.len()
        );
    }

    /// Reads the stream's `len` bytes, then [`Twins::finish`].
    fn finish_reading(&mut self, len: usize) {
        self.read_all(4096);
        assert_eq!(self.got.len(), len);
        self.finish(len);
    }

    /// The peer's FIN after `len` bytes, then
    /// [`Twins::finish_reading_after_fin`].
    fn finish(&mut self, len: usize) {
        let fin = self.data(len, TcpFlags::FIN, &[]);
        self.deliver(vec![fin]);
        self.finish_reading_after_fin(len);
    }

    /// After the peer's FIN at `len`: the application reads what is left
    /// of the stream and its end, and closes; the peer acknowledges B's
    /// FIN. Every frame taken is back.
    fn finish_reading_after_fin(&mut self, len: usize) {
        self.read_all(1000);
        assert_eq!(self.got.len(), len);
        assert_eq!(self.read(100), Ok(0), "the end of the stream");
        self.lent.tcp_close(self.now, self.s());
        self.owned.tcp_close(self.now, self.s());
        let sent = self.settle();
        let fin = sent
            .iter()
            .find(|s| s.flags.contains(TcpFlags::FIN))
            .expect("B's FIN");
        self.ack = fin.seq.wrapping_add(1);
        let ack = self.data(len + 1, TcpFlags::empty(), &[]);
        self.deliver(vec![ack]);
        self.wait(100);
        assert!(
            self.held.is_empty(),
            "{} frames never came back",
            self.held.len()
        );
        assert_eq!(self.taken, self.reclaimed);
    }
}

// ---- Scripted cases -----------------------------------------------------------

/// Full segments in order while nothing is readable: every frame is kept
/// (its buffer taken), the application reads the stream out of them, and
/// each comes back once read.
#[test]
fn in_order_frames_are_kept_read_and_handed_back() {
    let mut t = Twins::new(false);
    let full = t.full();
    let frames: Vec<_> = (0..8)
        .map(|i| t.piece(i * full, full, Alloc::Exact))
        .collect();
    t.deliver(frames);
    assert_eq!(t.taken, 8, "every frame kept");
    assert_eq!(t.held.len(), 8);
    t.read_all(4096);
    assert_eq!(t.got.len(), 8 * full);
    assert_eq!((t.held.len(), t.reclaimed), (0, 8));
    t.finish(8 * full);
}

// ---- The differential property ------------------------------------------------

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// What becomes of a new segment on its way.
    #[derive(Clone, Copy, Debug)]
    enum Fate {
        Arrives(Alloc),
        Lost,
        Twice,
        /// A payload bit flipped: its TCP checksum fails.
        Corrupted,
    }

    #[derive(Clone, Debug)]
    enum Item {
        /// The next `len` bytes of the stream (at most a full segment).
        New { len: usize, fate: Fate, push: bool },
        /// A retransmission of up to `len` bytes already sent, from a
        /// point chosen by `at` (cut differently from the first time).
        Old { at: u32, len: usize },
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// A batch, some of its frames swapped.
        Batch(Vec<Item>, Vec<(u8, u8)>),
        Read(usize),
        Wait(u64),
        RecvBuffer(usize),
    }

    fn len() -> impl Strategy<Value = usize> {
        // usize::MAX: a full segment.
        prop_oneof![
            5 => Just(usize::MAX),
            2 => 512usize..=1460,
            1 => 1usize..512,
        ]
    }

    fn fate() -> impl Strategy<Value = Fate> {
        prop_oneof![
            30 => Just(Fate::Arrives(Alloc::Exact)),
            4 => (1usize..600).prop_map(|n| Fate::Arrives(Alloc::Slack(n))),
            2 => Just(Fate::Arrives(Alloc::Fat)),
            1 => Just(Fate::Lost),
            1 => Just(Fate::Twice),
            1 => Just(Fate::Corrupted),
        ]
    }

    fn item() -> impl Strategy<Value = Item> {
        prop_oneof![
            8 => (len(), fate(), any::<bool>())
                .prop_map(|(len, fate, push)| Item::New { len, fate, push }),
            1 => (any::<u32>(), len()).prop_map(|(at, len)| Item::Old { at, len }),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (
                proptest::collection::vec(item(), 1..12),
                proptest::collection::vec((any::<u8>(), any::<u8>()), 0..2),
            )
                .prop_map(|(items, swaps)| Op::Batch(items, swaps)),
            3 => prop_oneof![Just(1usize), 1usize..3000, Just(65_536)].prop_map(Op::Read),
            1 => (1u64..300).prop_map(Op::Wait),
            1 => prop_oneof![Just(1024usize), Just(4096), Just(20_000), Just(1 << 20)]
                .prop_map(Op::RecvBuffer),
        ]
    }

    /// Plays `ops`, then the rest of the stream in order, the FIN and the
    /// close, on both receivers (every step compared); returns the frames
    /// the owned receiver kept.
    fn play(ts: bool, eth: bool, ops: &[Op]) -> usize {
        let mut t = Twins::on(ts, eth);
        let full = t.full();
        // The stream's bytes sent so far.
        let mut sent = 0usize;
        for op in ops {
            match op {
                Op::Batch(items, swaps) => {
                    let mut frames = Vec::new();
                    for item in items {
                        match *item {
                            Item::New { len, fate, push } => {
                                let n = len.min(full);
                                let at = sent;
                                sent += n;
                                match fate {
                                    Fate::Arrives(alloc) => {
                                        frames.push(t.piece_with(at, n, alloc, push))
                                    }
                                    Fate::Lost => {}
                                    Fate::Twice => {
                                        let f = t.piece(at, n, Alloc::Exact);
                                        frames.push(f.clone());
                                        frames.push(f);
                                    }
                                    Fate::Corrupted => {
                                        let mut f = t.piece(at, n, Alloc::Exact);
                                        let last = f.len() - 1;
                                        f[last] ^= 0x10;
                                        frames.push(f);
                                    }
                                }
                            }
                            Item::Old { at, len } if sent > 0 => {
                                let at = at as usize % sent;
                                let n = len.min(full).min(sent - at);
                                frames.push(t.piece(at, n, Alloc::Exact));
                            }
                            Item::Old { .. } => {}
                        }
                    }
                    for &(i, j) in swaps {
                        if !frames.is_empty() {
                            let (i, j) = (usize::from(i), usize::from(j));
                            let len = frames.len();
                            frames.swap(i % len, j % len);
                        }
                    }
                    if !frames.is_empty() {
                        t.deliver(frames);
                    }
                }
                Op::Read(n) => {
                    let _ = t.read(*n);
                }
                Op::Wait(ms) => t.wait(*ms),
                Op::RecvBuffer(n) => t.set_option(SocketOption::RecvBuffer(*n)),
            }
        }
        t.complete(sent);
        t.finish(sent);
        t.taken
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the peer's segments (sizes, buffers, order, losses,
        /// duplicates, bad checksums), the application's reads and the
        /// receive buffer's size do, a receiver handed its frames sends,
        /// reads and counts exactly as one lent them, and hands back every
        /// frame it took.
        #[test]
        fn frames_handed_over_give_what_frames_lent_give(
            ts in any::<bool>(),
            eth in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..24),
        ) {
            play(ts, eth, &ops);
        }
    }

    /// The property's histories do keep frames (else it proves little):
    /// a plain in-order history keeps most of them.
    #[test]
    fn the_property_keeps_frames() {
        let batch = Op::Batch(
            vec![
                Item::New {
                    len: usize::MAX,
                    fate: Fate::Arrives(Alloc::Exact),
                    push: false,
                };
                10
            ],
            vec![],
        );
        let ops = [batch.clone(), Op::Read(65_536), batch, Op::Read(5000)];
        assert!(play(true, false, &ops) >= 20);
        assert!(play(false, true, &ops) >= 20);
    }
}

/// `n` full segments from stream offset `at`, in exact buffers.
fn fulls(t: &Twins, at: usize, n: usize) -> Vec<Vec<u8>> {
    let full = t.full();
    (0..n)
        .map(|i| t.piece(at + i * full, full, Alloc::Exact))
        .collect()
}

/// Kept frames, then a segment beyond a hole (copied and held out of
/// order), then the hole filled (copied: data is held out of order), then
/// a small segment (copied after the kept bytes), then full ones (kept
/// again, after the small one's bytes in the ring); reads of one byte and
/// reads ending in the middle of a frame. Each step's path is checked by
/// what was taken.
#[test]
fn kept_frames_then_out_of_order_data_a_hole_filled_and_small_segments() {
    let mut t = Twins::new(true);
    let full = t.full();
    t.deliver(fulls(&t, 0, 2));
    assert_eq!(t.taken, 2, "kept");
    // Segment 3 beyond the hole at 2.
    t.deliver(fulls(&t, 3 * full, 1));
    assert_eq!(t.taken, 2, "out of order: copied");
    for _ in 0..3 {
        assert_eq!(t.read(1), Ok(1));
    }
    // The hole: in order, but data is held beyond it.
    t.deliver(fulls(&t, 2 * full, 1));
    assert_eq!(t.taken, 2, "the hole filled: copied");
    // A read ending inside the first frame, one across both kept frames
    // into the ring.
    assert_eq!(t.read(1000), Ok(1000));
    assert_eq!(t.held.len(), 2);
    assert_eq!(t.read(full), Ok(full));
    assert_eq!(t.held.len(), 2, "read frames go back together");
    t.read_all(4096);
    assert!(t.held.is_empty());
    // Kept again (nothing readable), then a small segment after it
    // (copied), then full ones: kept, their bytes after the small one's.
    t.deliver(fulls(&t, 4 * full, 1));
    assert_eq!(t.taken, 3, "kept");
    let small = t.piece(5 * full, 100, Alloc::Exact);
    t.deliver(vec![small]);
    assert_eq!(t.taken, 3, "a small segment: copied");
    t.deliver(fulls(&t, 5 * full + 100, 2));
    assert_eq!(t.taken, 5, "kept after the ring's bytes");
    for _ in 0..full + 10 {
        assert_eq!(t.read(1), Ok(1));
    }
    t.finish_reading(7 * full + 100);
}

/// Kept frames not read when our FIN is acknowledged with the peer's:
/// TIME-WAIT spills them into the buffer the application still reads, and
/// hands them back at once.
#[test]
fn kept_frames_unread_into_time_wait_are_read_from_the_spilled_buffer() {
    let mut t = Twins::new(false);
    let full = t.full();
    t.deliver(fulls(&t, 0, 3));
    assert_eq!(t.taken, 3);
    assert_eq!(t.read(1000), Ok(1000));
    let fin = t.shut_write();
    // The peer's FIN, acknowledging B's.
    t.ack = fin.seq.wrapping_add(1);
    let fin = t.data(3 * full, TcpFlags::FIN, &[]);
    t.deliver(vec![fin]);
    assert_eq!(t.lent.tcp_state(t.s()), TcpState::TimeWait);
    assert!(t.held.is_empty(), "spilled frames go back at once");
    assert_eq!(t.reclaimed, 3);
    assert_eq!(t.read(1), Ok(1));
    t.read_all(777);
    assert_eq!(t.got.len(), 3 * full);
    assert_eq!(t.read(10), Ok(0), "the end of the stream");
    t.lent.tcp_close(t.now, t.s());
    t.owned.tcp_close(t.now, t.s());
    t.settle();
    t.wait(1000);
}

/// The peer's FIN after kept frames: CLOSE-WAIT keeps them; the
/// application reads them, then the end, and closes.
#[test]
fn kept_frames_unread_at_the_peers_fin_are_read_in_close_wait() {
    let mut t = Twins::new(true);
    let full = t.full();
    t.deliver(fulls(&t, 0, 4));
    assert_eq!(t.taken, 4);
    let fin = t.data(4 * full, TcpFlags::FIN, &[]);
    t.deliver(vec![fin]);
    assert_eq!(t.lent.tcp_state(t.s()), TcpState::CloseWait);
    assert_eq!(t.held.len(), 4);
    t.finish_reading_after_fin(4 * full);
}

/// A reset while kept frames hold unread bytes: both receivers end the
/// same way (what the application may still read, the same bytes), no
/// panic, and the frames are handed back.
#[test]
fn a_reset_with_kept_frames_unread_hands_them_back() {
    let mut t = Twins::new(false);
    let full = t.full();
    t.deliver(fulls(&t, 0, 3));
    assert_eq!(t.taken, 3);
    assert_eq!(t.read(100), Ok(100));
    let seq = PEER_ISS.wrapping_add(1).wrapping_add(3 * full as u32);
    let rst = t.segment(seq, None, TcpFlags::RST, TcpOptions::default(), &[]);
    t.deliver(vec![rst]);
    assert_eq!(t.lent.tcp_state(t.s()), TcpState::Closed);
    assert!(t.held.is_empty(), "{} frames not handed back", t.held.len());
    // Whatever reads give (the data, then the error), both give it.
    for _ in 0..10 {
        if t.read(1000).is_err() {
            break;
        }
    }
    t.lent.tcp_close(t.now, t.s());
    t.owned.tcp_close(t.now, t.s());
    t.settle();
}

/// Kept frames count as the connection's buffer memory (the stack's
/// counter, `tcp_mem`'s, from `RecvHalf::buffer_allocated`), and a
/// connection idle after reading everything holds no frame and no memory.
#[test]
fn kept_frames_count_as_buffer_memory_and_an_idle_connection_holds_none() {
    let mut t = Twins::new(false);
    t.deliver(fulls(&t, 0, 4));
    assert_eq!(t.taken, 4);
    let frames: usize = t.held.values().map(|h| h.1).sum();
    assert_eq!(frames, 4 * 1500);
    let (lent, owned) = (t.lent.buffer_memory(), t.owned.buffer_memory());
    assert!(
        owned >= lent + frames && owned < lent + frames + 1024,
        "owned {owned}, lent {lent}, frames {frames}"
    );
    t.read_all(4096);
    assert!(t.held.is_empty());
    t.wait(1100);
    assert_eq!(t.lent.buffer_memory(), 0, "idle: released");
    assert_eq!(t.owned.buffer_memory(), 0, "idle: released");
    // And again after another round.
    let full = t.full();
    t.deliver(fulls(&t, 4 * full, 2));
    assert_eq!(t.taken, 6);
    assert!(t.owned.buffer_memory() >= 2 * 1500);
    t.read_all(100_000);
    t.wait(1100);
    assert_eq!(t.owned.buffer_memory(), 0);
    t.finish(6 * full);
}

/// Our close while kept frames hold unread bytes: a reset (RFC 2525
/// §2.17, data lost), the same on both, and the frames handed back.
#[test]
fn our_close_with_kept_frames_unread_resets_and_hands_them_back() {
    let mut t = Twins::new(true);
    t.deliver(fulls(&t, 0, 3));
    assert_eq!(t.taken, 3);
    assert_eq!(t.read(10), Ok(10));
    t.lent.tcp_close(t.now, t.s());
    t.owned.tcp_close(t.now, t.s());
    let sent = t.settle();
    assert!(
        sent.iter().any(|s| s.flags.contains(TcpFlags::RST)),
        "{sent:?}"
    );
    assert!(t.held.is_empty(), "{} frames not handed back", t.held.len());
    assert_eq!(t.taken, t.reclaimed);
    t.wait(1000);
}

/// Kept frames from ESTABLISHED, then data copied into the ring in
/// FIN-WAIT-2 (frames are kept only in ESTABLISHED), then the peer's FIN:
/// TIME-WAIT spills the frames in front of the ring's bytes, and the
/// application reads the stream in order.
#[test]
fn kept_frames_then_data_in_fin_wait_2_spill_in_front_of_it() {
    let mut t = Twins::new(false);
    let full = t.full();
    t.deliver(fulls(&t, 0, 2));
    assert_eq!(t.taken, 2);
    assert_eq!(t.read(700), Ok(700));
    let fin = t.shut_write();
    // Data acknowledging B's FIN: FIN-WAIT-2, copied.
    t.ack = fin.seq.wrapping_add(1);
    t.deliver(fulls(&t, 2 * full, 2));
    assert_eq!(t.lent.tcp_state(t.s()), TcpState::FinWait2);
    assert_eq!(t.taken, 2, "not kept outside ESTABLISHED");
    assert_eq!(t.held.len(), 2);
    let fin = t.data(4 * full, TcpFlags::FIN, &[]);
    t.deliver(vec![fin]);
    assert_eq!(t.lent.tcp_state(t.s()), TcpState::TimeWait);
    assert!(t.held.is_empty(), "spilled frames go back at once");
    t.read_all(1000);
    assert_eq!(t.got.len(), 4 * full);
    assert_eq!(t.read(10), Ok(0));
}

/// Kept-eligible frames in a segment TCP drops after they were staged (its
/// ACK acknowledges data never sent, RFC 9293 §3.10.7.4: answered with an
/// ACK and dropped): the frames go back, nothing is readable, and the
/// segment sent again is kept.
#[test]
fn frames_of_a_segment_tcp_drops_go_back() {
    let mut t = Twins::new(false);
    let ack = t.ack;
    t.ack = ack.wrapping_add(1000);
    t.deliver(fulls(&t, 0, 3));
    t.ack = ack;
    assert_eq!(t.taken, 3, "staged by keeping");
    assert_eq!(t.reclaimed, 3, "and handed back");
    assert!(t.held.is_empty());
    assert_eq!(t.read(100), Err(RecvError::WouldBlock));
    let before = t.taken;
    t.deliver(fulls(&t, 0, 3));
    assert_eq!(t.taken, before + 3, "kept");
    t.finish_reading(3 * t.full());
}

/// A kept frame that fits the free buffer (what `may_keep` checks) but
/// reaches beyond the window B announced (the free space rounded down to
/// the window scale's unit): both receivers take all of it (TCP accepts
/// what the buffer holds), and it reads back right.
#[test]
fn a_kept_frame_beyond_the_announced_window_but_within_the_buffer() {
    let mut t = Twins::new(false);
    let full = t.full();
    t.set_option(SocketOption::RecvBuffer(20_000));
    // Past the first window's edge (64 KiB), which never shrinks.
    for round in 0..4 {
        t.deliver(fulls(&t, round * 13 * full, 13));
        t.read_all(100_000);
    }
    let at = 4 * 13 * full;
    t.deliver(fulls(&t, at, 13));
    let edge = t.acked + t.window;
    let end = at + 13 * full + 1000;
    assert!(edge < end, "edge {edge}");
    assert!(20_000 - 13 * full >= 1000);
    let taken = t.taken;
    let piece = t.piece(at + 13 * full, 1000, Alloc::Exact);
    t.deliver(vec![piece]);
    assert_eq!(t.taken, taken + 1, "kept");
    assert_eq!(t.acked, end, "all of it");
    assert_eq!(t.held.len(), 14);
    t.read_all(3000);
    assert!(t.held.is_empty());
    t.finish(end);
}

/// Frames of a segment that fails PAWS (RFC 7323 §5: an older TSval than
/// the one recorded) go back, as those of any segment TCP drops.
#[test]
fn frames_of_a_segment_failing_paws_go_back() {
    let mut t = Twins::new(true);
    let full = t.full();
    t.deliver(fulls(&t, 0, 2));
    t.read_all(4096);
    t.wait(10);
    let options = TcpOptions {
        timestamp: Some(TcpTimestamp {
            tsval: 5,
            tsecr: t.tsecr,
        }),
        ..TcpOptions::default()
    };
    let frames: Vec<_> = (2..4)
        .map(|i| {
            let seq = PEER_ISS.wrapping_add(1).wrapping_add((i * full) as u32);
            t.segment(
                seq,
                Some(t.ack),
                TcpFlags::PSH,
                options,
                &stream(i * full, full),
            )
        })
        .collect();
    let taken = t.taken;
    t.deliver(frames);
    assert_eq!(t.lent.stats().tcp_ext.paws_estab, 1);
    assert_eq!(t.taken, taken + 2, "staged by keeping");
    assert!(t.held.is_empty(), "and handed back");
    assert_eq!(t.acked, 2 * full);
    t.complete(4 * full);
    t.finish(4 * full);
}

/// SO_RCVBUF lowered below the bytes kept frames hold (nothing out of
/// order): they stay readable, what comes before they are read is
/// handled as the lent receiver handles it, and later frames are kept
/// again within the new limit; raised again, full batches are kept.
#[test]
fn the_receive_buffer_lowered_below_kept_bytes_and_raised_again() {
    let mut t = Twins::new(true);
    let full = t.full();
    t.deliver(fulls(&t, 0, 4));
    assert_eq!(t.taken, 4);
    t.set_option(SocketOption::RecvBuffer(2048));
    t.deliver(fulls(&t, 4 * full, 2));
    assert_eq!(t.read(1000), Ok(1000));
    t.read_all(1000);
    assert!(t.held.is_empty());
    t.wait(300);
    t.complete(8 * full);
    t.set_option(SocketOption::RecvBuffer(1 << 20));
    t.read_all(1000);
    let taken = t.taken;
    t.deliver(fulls(&t, 8 * full, 8));
    assert_eq!(t.taken, taken + 8, "kept");
    t.finish_reading(16 * full);
}

/// Receive-buffer autotuning (`tcp::rcv_space`) counts bytes read from kept
/// frames as it counts copied ones: round trips that each read more grow
/// both receivers' buffers alike, and the windows they offer with them
/// (`settle` compares every segment they send).
#[test]
fn autotuning_grows_a_receiver_of_kept_frames_as_one_of_lent_frames() {
    let mut t = Twins::with_rtt(true, Duration::from_millis(4));
    let full = t.full();
    let info = |s: &Stack, c| s.tcp_mem_info(c).unwrap().rcvbuf;
    let default = info(&t.owned, t.s());
    // Linux's `tcpi_rcv_space`: the initial window until a read measures.
    let space = |s: &Stack, c| s.tcp_info(c).unwrap().rcv_space;
    let advmss = t.owned.tcp_info(t.s()).unwrap().advmss;
    assert_eq!(space(&t.owned, t.s()), 10 * advmss);
    let mut at = 0;
    for round in 1..=4 {
        let n = 8 * round;
        t.deliver(fulls(&t, at, n));
        at += n * full;
        t.read_all(4096);
        t.wait(5);
    }
    let (lent, owned) = (info(&t.lent, t.s()), info(&t.owned, t.s()));
    assert_eq!(lent, owned);
    assert!(owned > default, "{owned} against the default {default}");
    // A round trip's reads now: more than the initial window, and no more
    // than all that was read.
    let measured = space(&t.owned, t.s());
    assert_eq!(measured, space(&t.lent, t.s()));
    assert!(
        measured > 10 * advmss && measured as usize <= at,
        "{measured}"
    );
    assert!(t.taken >= 80, "{} frames kept", t.taken);
    t.finish_reading(at);
}

/// A driver that never takes its frames back: the stack holds at most
/// `MAX_SPENT_FRAMES` spent ones and frees the rest, and those it holds
/// are ones it was handed, each once.
#[test]
fn spent_frames_a_driver_never_takes_back_stay_bounded() {
    use crate::storage::kept::MAX_SPENT_FRAMES;
    let mut t = Twins::new(false);
    let full = t.full();
    let s = t.s();
    let mut handed = std::collections::HashSet::new();
    // A batch within the initial window.
    const PER: usize = 32;
    let mut buf = vec![0u8; PER * full];
    let rounds = MAX_SPENT_FRAMES / PER + 2;
    for round in 0..rounds {
        let at = round * PER * full;
        let mut frames: Vec<_> = (0..PER)
            .map(|i| {
                let f = t.piece(at + i * full, full, Alloc::Exact);
                let len = f.len();
                FrameBuf::new(f, len)
            })
            .collect();
        for f in &frames {
            handed.insert(f.buf.as_ptr() as usize);
        }
        t.owned.handle_frames_owned(t.now, IfaceId(0), &mut frames);
        assert!(
            frames.iter().all(FrameBuf::is_taken),
            "round {round}: all kept"
        );
        let mut got = 0;
        while let Ok(n) = t.owned.tcp_recv(t.now, s, &mut buf[got..]) {
            if n == 0 {
                break;
            }
            got += n;
        }
        assert_eq!(got, PER * full);
        assert_eq!(buf[..got], stream(at, got)[..]);
        while t.owned.poll_transmit(t.now, &mut [0u8; 2000]).is_some() {}
        assert!(t.owned.env.spares.frames.len() <= MAX_SPENT_FRAMES);
    }
    let mut back = Vec::new();
    t.owned.reclaim_frames(|f| back.push(f));
    assert_eq!(back.len(), MAX_SPENT_FRAMES);
    let distinct: std::collections::HashSet<_> = back.iter().map(|f| f.as_ptr() as usize).collect();
    assert_eq!(distinct.len(), back.len(), "each frame once");
    assert!(distinct.is_subset(&handed));
}

/// A run whose first frames are kept and whose last is not worth keeping
/// (a short segment ends a GRO run; or a sparse buffer): `handle_frames`
/// merges the whole run into one segment, and so does `handle_frames_owned`,
/// the kept prefix and the rest copied after it, so TCP sees one segment
/// either way (the same `TcpInSegs`, `tcp_info.segs_in` and delayed-ACK
/// estimate, `tcp_info.ato`). Found by the property before the rest of the
/// run was merged: it went in frame by frame.
#[test]
fn a_run_cut_short_by_a_frame_not_worth_keeping_goes_in_as_one_segment() {
    let mut t = Twins::new(false);
    let full = t.full();
    // A full segment, then 100 bytes: one run.
    let frames = vec![
        t.piece(0, full, Alloc::Exact),
        t.piece(full, 100, Alloc::Exact),
    ];
    t.deliver(frames);
    t.read_all(4096);
    // A full segment and one in a sparse buffer: one run too.
    let frames = vec![
        t.piece(full + 100, full, Alloc::Exact),
        t.piece(2 * full + 100, full, Alloc::Fat),
    ];
    t.deliver(frames);
    t.finish_reading(3 * full + 100);
}

/// Lowering SO_RCVBUF below data already held out of order, then filling
/// the hole: every contiguous byte becomes readable (they were stored under
/// the old limit, and Linux keeps its out-of-order queue too), and the
/// rest of the stream arrives in place. Before `RingBuffer::commit` stopped
/// capping at the limit, RCV.NXT stopped at the new limit (20,000) while
/// the assembler went on to 20,440, so later bytes were stored 440 bytes
/// off and the application read zeros at 21,460..21,900. Not the zero-copy
/// path's (the lent receiver did the same); found by the property.
#[test]
fn lowering_the_receive_buffer_below_data_held_out_of_order_keeps_the_stream() {
    let mut t = Twins::new(false);
    let full = t.full();
    // 1,460..20,440 and 21,900..23,360 held out of order, beyond the
    // holes at 0..1,460 and 20,440..21,900.
    let frames: Vec<_> = (1..16)
        .filter(|&i| i != 14)
        .map(|i| t.piece(i * full, full, Alloc::Exact))
        .collect();
    t.deliver(frames);
    t.set_option(SocketOption::RecvBuffer(20_000));
    let first = t.piece(0, full, Alloc::Exact);
    t.deliver(vec![first]);
    // Every contiguous byte is taken, beyond the lowered limit: they were
    // stored under the old one.
    assert_eq!(t.acked, 14 * full);
    // The rest in order, every byte the stream's.
    t.complete(16 * full);
    t.finish(16 * full);
}
