//! What one benchmark handshake puts on the wire, frame by frame, for each
//! stack. The handshake rate compares stacks doing the same application
//! work; this pins the work each does on the link, so a change of ACK policy
//! (or an extra frame) shows up here and not only as a moved rate.
//!
//! synack sends 10 frames: it mirrors Linux's quick-ACK mode (the first data
//! of a connection is acknowledged at once, net/ipv4/tcp_input.c
//! `tcp_event_data_recv`), so the request and the reply each draw a bare ACK
//! before the application has answered; the server's FIN carries the ACK of
//! the client's FIN (Linux's ping-pong mode after a FIN in ESTABLISHED).
//! smoltcp delays every ACK, so its reply carries the ACK of the request, but
//! it acknowledges the client's FIN alone: 9 frames.

use std::cell::RefCell;
use std::net::SocketAddrV4;

use synack_bench::frames::Frames;
use synack_bench::handshake::{HANDSHAKE_BUFFERS, one_handshake};
use synack_bench::stack::{CLIENT_ADDR, Congestion, SERVER_ADDR};
use synack_bench::{BenchStack, HostConfig, Pair, SmolStack, SynackStack, TcpState};
use synack_proto::Instant;

/// One frame as the test describes it: who sent it, its TCP flags (`S`
/// SYN, `.` ACK, `F` FIN, `R` RST, `P` PSH, in tcpdump's order) and its
/// payload length.
type Seen = (char, String, usize);

thread_local! {
    /// Every frame either host sent, in send order (each test runs on its
    /// own thread, so each has its own log).
    static LOG: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

/// A stack whose every sent frame is noted in [`LOG`].
#[derive(Debug)]
struct Recorded<S> {
    inner: S,
    name: char,
}

/// Flags and payload length of an IPv4/TCP frame (IP medium: the frame
/// starts with the IPv4 header).
fn describe(frame: &[u8]) -> (String, usize) {
    let ihl = usize::from(frame[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
    let tcp = &frame[ihl..];
    let data_offset = usize::from(tcp[12] >> 4) * 4;
    let flags = tcp[13];
    let names = [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, '.'),
    ];
    let shown = names
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, c)| c)
        .collect();
    (shown, total - ihl - data_offset)
}

impl<S: BenchStack> BenchStack for Recorded<S> {
    type Socket = S::Socket;
    const NAME: &'static str = S::NAME;

    fn new(config: &HostConfig) -> Self {
        let name = if config.addr == CLIENT_ADDR { 'C' } else { 'S' };
        Recorded {
            inner: S::new(config),
            name,
        }
    }

    fn poll(&mut self, now: Instant, rx: &mut Frames, tx: &mut Frames) {
        let before = tx.len();
        self.inner.poll(now, rx, tx);
        // Look at the new frames and put every frame back in order.
        let mut waiting = Vec::new();
        while let Some(frame) = tx.pop_with(<[u8]>::to_vec) {
            waiting.push(frame);
        }
        for frame in &waiting[before..] {
            let (flags, len) = describe(frame);
            LOG.with_borrow_mut(|log| log.push((self.name, flags, len)));
        }
        for frame in &waiting {
            tx.push(frame);
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.inner.poll_at(now)
    }
    fn listen(&mut self, port: u16) -> Self::Socket {
        self.inner.listen(port)
    }
    fn accept(&mut self, listener: Self::Socket) -> Option<Self::Socket> {
        self.inner.accept(listener)
    }
    fn connect(&mut self, now: Instant, local: u16, remote: SocketAddrV4) -> Self::Socket {
        self.inner.connect(now, local, remote)
    }
    fn state(&self, socket: Self::Socket) -> TcpState {
        self.inner.state(socket)
    }
    fn send(&mut self, socket: Self::Socket, data: &[u8]) -> usize {
        self.inner.send(socket, data)
    }
    fn recv(&mut self, socket: Self::Socket, buf: &mut [u8]) -> usize {
        self.inner.recv(socket, buf)
    }
    fn recv_finished(&self, socket: Self::Socket) -> bool {
        self.inner.recv_finished(socket)
    }
    fn close(&mut self, socket: Self::Socket) {
        self.inner.close(socket)
    }
    fn release(&mut self, socket: Self::Socket) {
        self.inner.release(socket)
    }
}

/// The frames of the second handshake on a fresh pair, in send order: the
/// first one warms up the pools and sockets, as the benchmark's runs are.
fn second_handshake<S: BenchStack>() -> Vec<Seen> {
    let host = |addr, seed| HostConfig {
        buffers: HANDSHAKE_BUFFERS,
        congestion: Congestion::Cubic,
        seed,
        capacity: 8,
        ..HostConfig::new(addr)
    };
    let mut pair: Pair<Recorded<S>> = Pair::new(&host(CLIENT_ADDR, 1), &host(SERVER_ADDR, 2));
    one_handshake(&mut pair, 1024).unwrap();
    LOG.with_borrow_mut(Vec::clear);
    one_handshake(&mut pair, 1025).unwrap();
    LOG.take()
}

fn frames(seen: &[(char, &str, usize)]) -> Vec<Seen> {
    seen.iter()
        .map(|&(who, flags, len)| (who, flags.to_string(), len))
        .collect()
}

#[test]
fn a_synack_handshake_is_ten_frames_with_linux_quick_acks() {
    let seen = second_handshake::<SynackStack>();
    let expected = frames(&[
        ('C', "S", 0),
        ('S', "S.", 0),
        ('C', ".", 0),
        ('C', "P.", 1),
        // Quick-ACK mode: the request is acknowledged before the reply.
        ('S', ".", 0),
        ('S', "P.", 1),
        // ... and so is the reply, before the client's close.
        ('C', ".", 0),
        ('C', "F.", 0),
        // Ping-pong mode after the FIN: the server's FIN carries its ACK.
        ('S', "F.", 0),
        ('C', ".", 0),
    ]);
    assert_eq!(seen, expected);
}

#[test]
fn a_smoltcp_handshake_is_nine_frames_with_delayed_acks() {
    let seen = second_handshake::<SmolStack>();
    let expected = frames(&[
        ('C', "S", 0),
        ('S', "S.", 0),
        ('C', ".", 0),
        ('C', "P.", 1),
        // Delayed ACK: the reply carries the ACK of the request.
        ('S', "P.", 1),
        ('C', "F.", 0),
        // The client's FIN is acknowledged alone, then the server closes.
        ('S', ".", 0),
        ('S', "F.", 0),
        ('C', ".", 0),
    ]);
    assert_eq!(seen, expected);
}
