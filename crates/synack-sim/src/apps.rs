//! Applications for [`StackNode`](crate::StackNode)s: a bulk sender and a
//! receiver that checks every byte it reads.
//!
//! Both speak [`Pattern`], a byte stream whose every byte is a function of
//! its offset (and a seed), so the receiver can tell a byte that arrived
//! twice, out of place or altered from the right one without keeping a copy
//! of what was sent.

use core::net::SocketAddrV4;

use synack_proto::stack::{ConnHandle, ConnectOptions, Event, ListenerHandle};
use synack_proto::tcp::conn::{CloseReason, RecvError, SendError, Shutdown};
use synack_proto::{Instant, Stack};

use crate::stack_node::App;

/// A reproducible byte stream: byte `i` depends on `i` and the seed through
/// a 64-bit mixer, so no short period can hide a shifted or repeated chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    seed: u64,
}

impl Pattern {
    pub const fn new(seed: u64) -> Self {
        Pattern { seed }
    }

    /// SplitMix64 of the 8-byte word's index.
    fn word(&self, index: u64) -> [u8; 8] {
        let mut z = index
            .wrapping_add(self.seed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    }

    /// Calls `f(position in out, expected bytes)` for each piece of the
    /// stream from `offset` covering `len` bytes, one 8-byte word at a time.
    fn pieces(&self, offset: u64, len: usize, mut f: impl FnMut(usize, &[u8]) -> bool) {
        let mut i = 0;
        while i < len {
            let at = offset + i as u64;
            let word = self.word(at / 8);
            let start = (at % 8) as usize;
            let n = (8 - start).min(len - i);
            if !f(i, &word[start..start + n]) {
                return;
            }
            i += n;
        }
    }

    /// Fills `out` with the stream's bytes from `offset` on.
    pub fn fill(&self, offset: u64, out: &mut [u8]) {
        let len = out.len();
        self.pieces(offset, len, |i, expected| {
            out[i..i + expected.len()].copy_from_slice(expected);
            true
        });
    }

    /// The first position in `data` (read from `offset`) that differs from
    /// the stream.
    pub fn mismatch(&self, offset: u64, data: &[u8]) -> Option<u64> {
        let mut found = None;
        self.pieces(offset, data.len(), |i, expected| {
            let got = &data[i..i + expected.len()];
            match got.iter().zip(expected).position(|(a, b)| a != b) {
                Some(k) => {
                    found = Some(offset + (i + k) as u64);
                    false
                }
                None => true,
            }
        });
        found
    }
}

/// How a [`BulkSender`] ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// `tcp_close` once everything is queued.
    Close,
    /// `tcp_shutdown(Write)` once everything is queued; keep the handle.
    Shutdown,
    /// Leave the connection open.
    Nothing,
}

/// Connects to `remote` and sends `total` bytes of a [`Pattern`].
#[derive(Debug)]
pub struct BulkSender {
    remote: SocketAddrV4,
    opts: ConnectOptions,
    pattern: Pattern,
    total: u64,
    /// Bytes accepted by the stack so far.
    pub sent: u64,
    finish: Finish,
    start_at: Instant,
    pub conn: Option<ConnHandle>,
    /// When the connection was established and when everything was queued.
    pub connected_at: Option<Instant>,
    pub all_queued_at: Option<Instant>,
    pub closed: Option<CloseReason>,
    pub error: Option<SendError>,
    chunk: Vec<u8>,
    finished: bool,
}

impl BulkSender {
    pub fn new(remote: SocketAddrV4, total: u64, pattern: Pattern, finish: Finish) -> Self {
        BulkSender {
            remote,
            opts: ConnectOptions::default(),
            pattern,
            total,
            sent: 0,
            finish,
            start_at: Instant::ZERO,
            conn: None,
            connected_at: None,
            all_queued_at: None,
            closed: None,
            error: None,
            chunk: vec![0; 64 * 1024],
            finished: false,
        }
    }

    /// Connect at `at` rather than at once.
    pub fn starting_at(mut self, at: Instant) -> Self {
        self.start_at = at;
        self
    }

    pub fn with_options(mut self, opts: ConnectOptions) -> Self {
        self.opts = opts;
        self
    }

    pub fn done(&self) -> bool {
        self.sent == self.total
    }

    fn pump(&mut self, now: Instant, stack: &mut Stack) {
        let Some(conn) = self.conn else {
            return;
        };
        while self.sent < self.total {
            let n = (self.total - self.sent).min(self.chunk.len() as u64) as usize;
            self.pattern.fill(self.sent, &mut self.chunk[..n]);
            match stack.tcp_send(now, conn, &self.chunk[..n]) {
                Ok(k) => self.sent += k as u64,
                Err(SendError::WouldBlock) => return,
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
        }
        if !self.finished {
            self.finished = true;
            self.all_queued_at = Some(now);
            match self.finish {
                Finish::Close => stack.tcp_close(now, conn),
                Finish::Shutdown => {
                    let _ = stack.tcp_shutdown(now, conn, Shutdown::Write);
                }
                Finish::Nothing => {}
            }
        }
    }
}

impl App for BulkSender {
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: &Event) {
        match *event {
            Event::Connected(c) if Some(c) == self.conn => {
                self.connected_at = Some(now);
                self.pump(now, stack);
            }
            Event::Writable(c) if Some(c) == self.conn => self.pump(now, stack),
            Event::Closed { conn, reason } if Some(conn) == self.conn => {
                self.closed = Some(reason);
            }
            _ => {}
        }
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        if self.conn.is_none() && now >= self.start_at {
            self.conn = stack.tcp_connect(now, self.remote, self.opts.clone()).ok();
            // Data may be queued before the handshake completes.
            self.pump(now, stack);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.is_none().then_some(self.start_at)
    }

    fn on_timeout(&mut self, now: Instant, stack: &mut Stack) {
        self.poll(now, stack);
    }
}

/// Listens on `local`, accepts connections and reads everything, checking
/// every byte against a [`Pattern`]; closes when the peer has finished.
#[derive(Debug)]
pub struct BulkReceiver {
    local: SocketAddrV4,
    pattern: Pattern,
    pub listener: Option<ListenerHandle>,
    pub conn: Option<ConnHandle>,
    /// Bytes read in order.
    pub received: u64,
    /// The first offset whose byte was wrong.
    pub mismatch: Option<u64>,
    /// The peer's end of stream was read.
    pub eof_at: Option<Instant>,
    pub first_byte_at: Option<Instant>,
    pub error: Option<RecvError>,
    /// Close our side once the peer's end of stream is read.
    close_on_eof: bool,
    /// Read only when `reading` (a test can stall the reader).
    pub reading: bool,
    buf: Vec<u8>,
}

impl BulkReceiver {
    pub fn new(local: SocketAddrV4, pattern: Pattern) -> Self {
        BulkReceiver {
            local,
            pattern,
            listener: None,
            conn: None,
            received: 0,
            mismatch: None,
            eof_at: None,
            first_byte_at: None,
            error: None,
            close_on_eof: true,
            reading: true,
            buf: vec![0; 64 * 1024],
        }
    }

    /// Keep the connection open after the peer's FIN.
    pub fn without_close(mut self) -> Self {
        self.close_on_eof = false;
        self
    }

    fn drain(&mut self, now: Instant, stack: &mut Stack) {
        let Some(conn) = self.conn else {
            return;
        };
        while self.reading && self.eof_at.is_none() {
            match stack.tcp_recv(now, conn, &mut self.buf) {
                Ok(0) => {
                    self.eof_at = Some(now);
                    if self.close_on_eof {
                        stack.tcp_close(now, conn);
                    }
                }
                Ok(n) => {
                    self.first_byte_at.get_or_insert(now);
                    if self.mismatch.is_none() {
                        self.mismatch = self.pattern.mismatch(self.received, &self.buf[..n]);
                    }
                    self.received += n as u64;
                }
                Err(RecvError::WouldBlock) => return,
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
        }
    }
}

impl App for BulkReceiver {
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: &Event) {
        match *event {
            Event::AcceptReady(l) if Some(l) == self.listener => {
                if let Ok(c) = stack.tcp_accept(l) {
                    self.conn.get_or_insert(c);
                    self.drain(now, stack);
                }
            }
            Event::Readable(c) | Event::PeerClosed(c) if Some(c) == self.conn => {
                self.drain(now, stack)
            }
            Event::Closed { conn, .. } if Some(conn) == self.conn => self.drain(now, stack),
            _ => {}
        }
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        if self.listener.is_none() {
            self.listener = stack.tcp_listen(self.local, 128).ok();
        }
        self.drain(now, stack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_a_function_of_the_offset() {
        let p = Pattern::new(7);
        let mut whole = vec![0u8; 100];
        p.fill(0, &mut whole);
        let mut part = vec![0u8; 37];
        p.fill(50, &mut part);
        assert_eq!(&whole[50..87], &part[..]);
        assert_eq!(p.mismatch(0, &whole), None);
        assert_eq!(p.mismatch(1, &whole[..10]), Some(1), "shifted by one");
        assert_ne!(Pattern::new(8).mismatch(0, &whole), None);
        let mut bad = whole.clone();
        bad[42] ^= 4;
        assert_eq!(p.mismatch(0, &bad), Some(42));
    }
}
