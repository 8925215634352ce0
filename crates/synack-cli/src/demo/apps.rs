//! The demo's two applications: a client that uploads `bytes` and closes,
//! then opens a second connection for a small request, sent in the SYN with
//! the Fast Open cookie the first connection learned; and a server that
//! checks every byte and answers the request.

use core::net::SocketAddrV4;

use synack_proto::stack::{ConnHandle, ConnectOptions, Event, ListenOptions, ListenerHandle};
use synack_proto::tcp::TcpState;
use synack_proto::tcp::conn::{RecvError, SendError, Shutdown, TcpInfo};
use synack_proto::{Duration, Instant, Stack};
use synack_sim::App;
use synack_sim::apps::Pattern;

/// The second connection's request and response.
pub const REQUEST: &[u8] = b"GET /again HTTP/1.0\r\n\r\n";
pub const RESPONSE: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nsame host, new connection\n";

/// Where the client is, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ClientPhase {
    Connecting,
    Uploading,
    Closing,
    Reconnecting,
    Requesting,
    Done,
}

/// Uploads `total` bytes of a pattern, closes, and once the first
/// connection sits in TIME-WAIT, connects again for a small request.
#[derive(Debug)]
pub struct Client {
    server: SocketAddrV4,
    pattern: Pattern,
    total: u64,
    phase: ClientPhase,
    chunk: Vec<u8>,
    pub sent: u64,
    pub first: Option<ConnHandle>,
    pub second: Option<ConnHandle>,
    pub started_at: Option<Instant>,
    /// The first connection's `tcp_info` when the upload was queued in full.
    pub info_at_close: Option<TcpInfo>,
    pub response: Vec<u8>,
    pub error: Option<String>,
    /// When the second connection opened: the client held a Fast Open
    /// cookie for the server (learned on the first connection).
    pub cookie_learned: bool,
    /// The second connection's SYN carried data and the server's SYN-ACK
    /// acknowledged it (RFC 7413: the server took it at once).
    pub syn_data_accepted: bool,
}

impl Client {
    pub fn new(server: SocketAddrV4, total: u64, pattern: Pattern) -> Self {
        Client {
            server,
            pattern,
            total,
            phase: ClientPhase::Connecting,
            chunk: vec![0; 64 * 1024],
            sent: 0,
            first: None,
            second: None,
            started_at: None,
            info_at_close: None,
            response: Vec::new(),
            error: None,
            cookie_learned: false,
            syn_data_accepted: false,
        }
    }

    pub fn done(&self) -> bool {
        self.phase == ClientPhase::Done
    }

    fn upload(&mut self, now: Instant, stack: &mut Stack) {
        let Some(conn) = self.first else {
            return;
        };
        while self.sent < self.total {
            let n = (self.total - self.sent).min(self.chunk.len() as u64) as usize;
            self.pattern.fill(self.sent, &mut self.chunk[..n]);
            match stack.tcp_send(now, conn, &self.chunk[..n]) {
                Ok(k) => self.sent += k as u64,
                Err(SendError::WouldBlock) => return,
                Err(e) => {
                    self.error = Some(format!("upload: {e}"));
                    self.phase = ClientPhase::Done;
                    return;
                }
            }
        }
        // Everything is queued; once it is all acknowledged the client
        // closes first (the active close, ending in TIME-WAIT).
        if stack
            .tcp_info(conn)
            .is_some_and(|i| i.bytes_acked == self.total)
        {
            self.info_at_close = stack.tcp_info(conn);
            stack.tcp_close(now, conn);
            self.phase = ClientPhase::Closing;
        }
    }

    fn read_response(&mut self, now: Instant, stack: &mut Stack) {
        let Some(conn) = self.second else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match stack.tcp_recv(now, conn, &mut buf) {
                Ok(0) => {
                    stack.tcp_close(now, conn);
                    self.second = None;
                    self.phase = ClientPhase::Done;
                    return;
                }
                Ok(n) => self.response.extend_from_slice(&buf[..n]),
                Err(RecvError::WouldBlock) => return,
                Err(e) => {
                    self.error = Some(format!("second connection: {e}"));
                    self.phase = ClientPhase::Done;
                    return;
                }
            }
        }
    }
}

impl App for Client {
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: &Event) {
        match *event {
            Event::Connected(c) if Some(c) == self.first => {
                self.phase = ClientPhase::Uploading;
                self.upload(now, stack);
            }
            Event::Writable(c) if Some(c) == self.first => self.upload(now, stack),
            Event::Closed { conn, reason }
                if Some(conn) == self.first && self.phase < ClientPhase::Closing =>
            {
                self.error = Some(format!("first connection closed: {reason:?}"));
                self.phase = ClientPhase::Done;
            }
            // The first connection's close reached TIME-WAIT: reconnect.
            Event::StateChanged {
                conn,
                to: TcpState::TimeWait,
                ..
            } if conn == self.first && self.phase == ClientPhase::Closing => {
                self.phase = ClientPhase::Reconnecting;
            }
            Event::Connected(c) if Some(c) == self.second => {
                // The request went with the SYN (or was queued behind it).
                self.syn_data_accepted = stack
                    .tcp_fastopen_info(c)
                    .is_some_and(|i| i.syn_data_sent > 0 && i.syn_data_acked);
                if stack.tcp_shutdown(now, c, Shutdown::Write).is_err() {
                    self.error = Some("second connection: request failed".into());
                }
                self.phase = ClientPhase::Requesting;
            }
            Event::Readable(c) | Event::PeerClosed(c) if Some(c) == self.second => {
                self.read_response(now, stack)
            }
            Event::Closed { conn, reason }
                if Some(conn) == self.second && self.phase != ClientPhase::Done =>
            {
                self.error = Some(format!("second connection closed: {reason:?}"));
                self.phase = ClientPhase::Done;
            }
            _ => {}
        }
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        if self.phase == ClientPhase::Uploading {
            self.upload(now, stack);
        }
        if self.first.is_none() {
            self.started_at = Some(now);
            // TCP_FASTOPEN_CONNECT without a cookie yet: an ordinary
            // handshake whose SYN asks for one (RFC 7413 §4.1.3).
            let opts = ConnectOptions {
                fastopen_connect: true,
                ..ConnectOptions::default()
            };
            match stack.tcp_connect(now, self.server, opts) {
                Ok(c) => self.first = Some(c),
                Err(e) => {
                    self.error = Some(format!("connect: {e}"));
                    self.phase = ClientPhase::Done;
                }
            }
        }
        if self.phase == ClientPhase::Reconnecting && self.second.is_none() {
            // sendto(MSG_FASTOPEN): the request rides in the SYN with the
            // cookie the first connection brought back.
            self.cookie_learned = stack.fastopen_cookie(*self.server.ip()).is_some();
            match stack.tcp_connect_with_data(now, self.server, ConnectOptions::default(), REQUEST)
            {
                Ok((c, queued)) if queued == REQUEST.len() => self.second = Some(c),
                Ok(_) => {
                    self.error = Some("second connection: request did not fit".into());
                    self.phase = ClientPhase::Done;
                }
                Err(e) => {
                    self.error = Some(format!("reconnect: {e}"));
                    self.phase = ClientPhase::Done;
                }
            }
        }
    }
}

/// How long the server takes to close after the upload's end of stream,
/// as an application finishing its work would: the peer's FIN is then
/// acknowledged on its own (by the delayed-ACK timer) before our FIN goes,
/// the textbook four-way close.
pub const SERVER_CLOSE_DELAY: Duration = Duration::from_millis(100);

/// Accepts, checks the upload byte by byte, closes shortly after its end;
/// answers the second connection's request at once.
#[derive(Debug)]
pub struct Server {
    local: SocketAddrV4,
    pattern: Pattern,
    listener: Option<ListenerHandle>,
    pub first: Option<ConnHandle>,
    pub second: Option<ConnHandle>,
    pub received: u64,
    pub mismatch: Option<u64>,
    /// When the last byte of the upload was read.
    pub upload_done_at: Option<Instant>,
    /// The first connection, waiting to be closed at this time.
    closing: Option<(ConnHandle, Instant)>,
    pub request: Vec<u8>,
    pub error: Option<String>,
    buf: Vec<u8>,
}

impl Server {
    pub fn new(local: SocketAddrV4, pattern: Pattern) -> Self {
        Server {
            local,
            pattern,
            listener: None,
            first: None,
            second: None,
            received: 0,
            mismatch: None,
            upload_done_at: None,
            closing: None,
            request: Vec::new(),
            error: None,
            buf: vec![0; 64 * 1024],
        }
    }

    fn read_upload(&mut self, now: Instant, stack: &mut Stack) {
        let Some(conn) = self.first else {
            return;
        };
        loop {
            match stack.tcp_recv(now, conn, &mut self.buf) {
                Ok(0) => {
                    // The client's FIN: close our side (LAST-ACK) soon.
                    self.upload_done_at.get_or_insert(now);
                    self.closing = Some((conn, now + SERVER_CLOSE_DELAY));
                    self.first = None;
                    return;
                }
                Ok(n) => {
                    if self.mismatch.is_none() {
                        self.mismatch = self.pattern.mismatch(self.received, &self.buf[..n]);
                    }
                    self.received += n as u64;
                }
                Err(RecvError::WouldBlock) => return,
                Err(e) => {
                    self.error = Some(format!("upload: {e}"));
                    self.first = None;
                    return;
                }
            }
        }
    }

    fn answer(&mut self, now: Instant, stack: &mut Stack) {
        let Some(conn) = self.second else {
            return;
        };
        loop {
            match stack.tcp_recv(now, conn, &mut self.buf) {
                Ok(0) => {
                    if stack.tcp_send(now, conn, RESPONSE) != Ok(RESPONSE.len()) {
                        self.error = Some("response did not fit".into());
                    }
                    stack.tcp_close(now, conn);
                    self.second = None;
                    return;
                }
                Ok(n) => self.request.extend_from_slice(&self.buf[..n]),
                Err(RecvError::WouldBlock) => return,
                Err(e) => {
                    self.error = Some(format!("request: {e}"));
                    self.second = None;
                    return;
                }
            }
        }
    }
}

impl App for Server {
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: &Event) {
        match *event {
            Event::AcceptReady(l) if Some(l) == self.listener => {
                while let Ok(c) = stack.tcp_accept(l) {
                    if self.upload_done_at.is_none() && self.first.is_none() {
                        self.first = Some(c);
                        self.read_upload(now, stack);
                    } else {
                        self.second = Some(c);
                        self.answer(now, stack);
                    }
                }
            }
            Event::Readable(c) | Event::PeerClosed(c) if Some(c) == self.first => {
                self.read_upload(now, stack)
            }
            Event::Readable(c) | Event::PeerClosed(c) if Some(c) == self.second => {
                self.answer(now, stack)
            }
            _ => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.closing.map(|(_, at)| at)
    }

    fn on_timeout(&mut self, now: Instant, stack: &mut Stack) {
        if let Some((conn, at)) = self.closing
            && at <= now
        {
            stack.tcp_close(now, conn);
            self.closing = None;
        }
    }

    fn poll(&mut self, _now: Instant, stack: &mut Stack) {
        if self.listener.is_none() {
            // TCP_FASTOPEN: Fast Open for this listener, a few at a time.
            let opts = ListenOptions {
                backlog: 16,
                reuse_addr: true,
                reuse_port: false,
                fastopen_qlen: 16,
            };
            match stack.tcp_listen_with(self.local, opts) {
                Ok(l) => self.listener = Some(l),
                Err(e) => self.error = Some(format!("listen: {e}")),
            }
        }
    }
}
