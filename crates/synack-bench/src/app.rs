//! The applications every transfer runs: a sender that writes `total` bytes
//! of the [`pattern`] stream and closes, and a receiver that
//! reads, checks every byte against the stream, and notes when the last one
//! arrived.

use std::net::SocketAddrV4;

use synack_proto::Instant;

use crate::pattern;
use crate::stack::{BenchStack, TcpState};

/// Writes the stream into a connection.
#[derive(Debug)]
pub struct BulkSender<S: BenchStack> {
    pub socket: S::Socket,
    pub total: u64,
    pub sent: u64,
    /// When `connect` was called.
    pub started: Instant,
    closed: bool,
}

impl<S: BenchStack> BulkSender<S> {
    /// Connects from `local_port` to `remote`; data goes once established.
    pub fn connect(
        stack: &mut S,
        now: Instant,
        local_port: u16,
        remote: SocketAddrV4,
        total: u64,
    ) -> Self {
        BulkSender {
            socket: stack.connect(now, local_port, remote),
            total,
            sent: 0,
            started: now,
            closed: false,
        }
    }

    /// Copies as much of the rest of the stream as the send buffer takes;
    /// closes after the last byte. Returns the bytes written.
    pub fn step(&mut self, stack: &mut S) -> u64 {
        // Data may flow both ways, or the peer closed only its half.
        if !matches!(
            stack.state(self.socket),
            TcpState::Established | TcpState::CloseWait
        ) {
            return 0;
        }
        let before = self.sent;
        while self.sent < self.total {
            let want = usize::try_from(self.total - self.sent).unwrap_or(usize::MAX);
            let n = stack.send(self.socket, pattern::chunk(self.sent, want));
            if n == 0 {
                break;
            }
            self.sent += n as u64;
        }
        if self.sent == self.total && !self.closed {
            stack.close(self.socket);
            self.closed = true;
        }
        self.sent - before
    }
}

/// Reads the stream from an accepted connection and checks it.
#[derive(Debug)]
pub struct BulkReceiver<S: BenchStack> {
    pub listener: S::Socket,
    pub socket: Option<S::Socket>,
    pub expected: u64,
    pub received: u64,
    /// False as soon as one byte differs from the stream.
    pub intact: bool,
    /// When the last expected byte was read.
    pub finished: Option<Instant>,
    buf: Vec<u8>,
}

impl<S: BenchStack> BulkReceiver<S> {
    pub fn listen(stack: &mut S, port: u16, expected: u64) -> Self {
        BulkReceiver {
            listener: stack.listen(port),
            socket: None,
            expected,
            received: 0,
            intact: true,
            finished: None,
            buf: vec![0; pattern::MAX_CHUNK],
        }
    }

    /// Accepts, then reads everything ready. Returns the bytes read.
    pub fn step(&mut self, stack: &mut S, now: Instant) -> u64 {
        let sock = match self.socket {
            Some(s) => s,
            None => match stack.accept(self.listener) {
                Some(s) => {
                    self.socket = Some(s);
                    s
                }
                None => return 0,
            },
        };
        let before = self.received;
        loop {
            let n = stack.recv(sock, &mut self.buf);
            if n == 0 {
                break;
            }
            self.intact &= pattern::matches(self.received, &self.buf[..n]);
            self.received += n as u64;
        }
        // More bytes than were sent is corruption too.
        self.intact &= self.received <= self.expected;
        if self.received >= self.expected && self.finished.is_none() {
            self.finished = Some(now);
            // Everything is here: close our half so both sides can finish.
            stack.close(sock);
        }
        self.received - before
    }

    pub fn done(&self) -> bool {
        self.finished.is_some()
    }
}
