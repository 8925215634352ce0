//! The application's commands and getters.
//!
//! Every command validates its handle first (a stale or foreign handle is
//! the application's bug and gets `InvalidHandle`), runs the connection's
//! command, then lets the stack do its bookkeeping (events, output queue,
//! timers).

use core::net::{Ipv4Addr, SocketAddrV4};

use super::slab::Key;
use super::{
    AcceptError, ConnEntry, ConnHandle, ConnectError, ConnectOptions, Demux, FourTuple,
    ListenError, ListenerHandle, Owner, SocketId, SocketSummary, Stack,
};
use crate::tcp::conn::{
    ConnParams, Connection, RecvError, SendError, SendFlags, SetOptionError, Shutdown,
    ShutdownError, SocketOption, TcpInfo,
};
use crate::tcp::listener::Listener;
use crate::tcp::state::TcpState;
use crate::time::Instant;

impl Stack {
    /// Listens on `local` (address 0.0.0.0 for any) with a listen(2)
    /// `backlog` (capped by `somaxconn`).
    pub fn tcp_listen(
        &mut self,
        local: SocketAddrV4,
        backlog: usize,
    ) -> Result<ListenerHandle, ListenError> {
        if local.port() == 0 {
            return Err(ListenError::InvalidPort);
        }
        if *local.ip() != self.iface.addr && !local.ip().is_unspecified() {
            return Err(ListenError::AddrNotAvailable);
        }
        let wildcard = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local.port());
        let specific = SocketAddrV4::new(self.iface.addr, local.port());
        if self.listen_map.contains_key(&wildcard) || self.listen_map.contains_key(&specific) {
            return Err(ListenError::AddrInUse);
        }
        let key = self
            .listeners
            .insert(Listener::new(local, backlog, &self.env.config));
        self.listen_map.insert(local, key);
        Ok(ListenerHandle(key))
    }

    /// Stops listening. Connections not yet accepted are reset.
    pub fn tcp_close_listener(&mut self, now: Instant, listener: ListenerHandle) {
        self.advance(now);
        let Some(mut l) = self.listeners.remove(listener.0) else {
            return;
        };
        self.listen_map.remove(&l.local());
        let queued: Vec<Key> = l.drain().collect();
        let half_open: Vec<Key> = self
            .conns
            .iter()
            .filter(|(_, e)| e.owner == Owner::HalfOpen(listener.0))
            .map(|(k, _)| k)
            .collect();
        for key in queued.into_iter().chain(half_open) {
            if let Some(entry) = self.conns.get_mut(key) {
                entry.owner = Owner::Orphan;
                entry.conn.abort(now, &mut self.env);
                self.after_conn(key);
            }
        }
        self.refresh_deadline();
    }

    /// The oldest connection waiting on `listener`.
    pub fn tcp_accept(&mut self, listener: ListenerHandle) -> Result<ConnHandle, AcceptError> {
        let l = self
            .listeners
            .get_mut(listener.0)
            .ok_or(AcceptError::InvalidHandle)?;
        let key = l.accept().ok_or(AcceptError::WouldBlock)?;
        if let Some(entry) = self.conns.get_mut(key) {
            entry.owner = Owner::App;
            // What happened while it waited in the queue: data that came
            // with (or after) the handshake, the peer's FIN.
            let handle = ConnHandle(key);
            let peer_closed = matches!(
                entry.conn.state(),
                TcpState::CloseWait | TcpState::LastAck | TcpState::Closing | TcpState::TimeWait
            );
            if entry.conn.recv_queue() > 0 || peer_closed {
                self.events.push_back(super::Event::Readable(handle));
            }
            if peer_closed {
                self.events.push_back(super::Event::PeerClosed(handle));
            }
        }
        Ok(ConnHandle(key))
    }

    /// Opens a connection to `remote` (RFC 9293 §3.10.1): SYN-SENT. The ISS
    /// follows RFC 6528 and the local port RFC 6056 unless given.
    pub fn tcp_connect(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        opts: ConnectOptions,
    ) -> Result<ConnHandle, ConnectError> {
        self.advance(now);
        if remote.port() == 0 || remote.ip().is_unspecified() || *remote.ip() == self.iface.addr {
            return Err(ConnectError::InvalidAddress);
        }
        let local_ip = self.iface.addr;
        let demux = &self.demux;
        let taken = |port: u16| {
            demux.contains_key(&FourTuple {
                local: SocketAddrV4::new(local_ip, port),
                remote,
            })
        };
        let port = match opts.local_port {
            Some(port) if taken(port) => return Err(ConnectError::AddrInUse),
            Some(port) => port,
            None => self
                .ports
                .select(local_ip, remote, |p| !taken(p))
                .ok_or(ConnectError::NoEphemeralPorts)?,
        };
        let tuple = FourTuple {
            local: SocketAddrV4::new(local_ip, port),
            remote,
        };
        let params = ConnParams {
            iss: self.isn.isn(now, tuple.local, tuple.remote),
            ts_offset: self.ts_offset(&tuple),
            socket: opts.socket,
        };
        let conn = Connection::connect(now, tuple.local, remote, &params, &mut self.env);
        let key = self.conns.insert(ConnEntry {
            conn,
            owner: Owner::App,
            queued: false,
        });
        self.demux.insert(tuple, Demux::Conn(key));
        self.after_conn(key);
        self.refresh_deadline();
        Ok(ConnHandle(key))
    }

    /// Runs a command on a connection, then the stack's bookkeeping.
    fn with_conn<T>(
        &mut self,
        now: Instant,
        c: ConnHandle,
        invalid: T,
        f: impl FnOnce(&mut Connection, &mut crate::tcp::conn::Env) -> T,
    ) -> T {
        self.advance(now);
        let Some(entry) = self.conns.get_mut(c.0).filter(|e| e.owner == Owner::App) else {
            return invalid;
        };
        let out = f(&mut entry.conn, &mut self.env);
        self.after_conn(c.0);
        self.refresh_deadline();
        out
    }

    /// Queues data; returns how much fit in the send buffer.
    pub fn tcp_send(
        &mut self,
        now: Instant,
        c: ConnHandle,
        data: &[u8],
    ) -> Result<usize, SendError> {
        self.tcp_send_with(now, c, data, SendFlags::default())
    }

    /// [`Stack::tcp_send`] with flags (`MSG_MORE`).
    pub fn tcp_send_with(
        &mut self,
        now: Instant,
        c: ConnHandle,
        data: &[u8],
        flags: SendFlags,
    ) -> Result<usize, SendError> {
        let now_ = self.now.max(now);
        self.with_conn(now, c, Err(SendError::InvalidHandle), |conn, env| {
            conn.send(now_, data, flags, env)
        })
    }

    /// Reads data; `Ok(0)` is the end of the stream.
    pub fn tcp_recv(
        &mut self,
        now: Instant,
        c: ConnHandle,
        buf: &mut [u8],
    ) -> Result<usize, RecvError> {
        let now_ = self.now.max(now);
        self.with_conn(now, c, Err(RecvError::InvalidHandle), |conn, env| {
            conn.recv(now_, buf, env)
        })
    }

    /// Shuts down reading, writing (a FIN after the queued data) or both.
    pub fn tcp_shutdown(
        &mut self,
        now: Instant,
        c: ConnHandle,
        how: Shutdown,
    ) -> Result<(), ShutdownError> {
        let now_ = self.now.max(now);
        self.with_conn(now, c, Err(ShutdownError::InvalidHandle), |conn, env| {
            conn.shutdown(now_, how, env)
        })
    }

    /// Gives up the handle (`close(2)`): the stack finishes the close in
    /// the background (FIN, TIME-WAIT), or resets the connection if data was
    /// left unread or SO_LINGER is zero.
    pub fn tcp_close(&mut self, now: Instant, c: ConnHandle) {
        self.advance(now);
        let now = self.now;
        let Some(entry) = self.conns.get_mut(c.0).filter(|e| e.owner == Owner::App) else {
            return;
        };
        entry.conn.close(now, &mut self.env);
        entry.owner = Owner::Orphan;
        self.after_conn(c.0);
        self.refresh_deadline();
    }

    /// Resets the connection (RFC 9293 §3.10.5 ABORT) and gives up the handle.
    pub fn tcp_abort(&mut self, now: Instant, c: ConnHandle) {
        self.advance(now);
        let now = self.now;
        let Some(entry) = self.conns.get_mut(c.0).filter(|e| e.owner == Owner::App) else {
            return;
        };
        entry.conn.abort(now, &mut self.env);
        entry.owner = Owner::Orphan;
        self.after_conn(c.0);
        self.refresh_deadline();
    }

    /// `setsockopt`.
    pub fn tcp_set_option(
        &mut self,
        now: Instant,
        c: ConnHandle,
        option: SocketOption,
    ) -> Result<(), SetOptionError> {
        let now_ = self.now.max(now);
        self.with_conn(now, c, Err(SetOptionError::InvalidHandle), |conn, env| {
            conn.set_option(now_, option, env)
        })
    }

    /// The connection's state; CLOSED for a stale handle.
    pub fn tcp_state(&self, c: ConnHandle) -> TcpState {
        self.conns
            .get(c.0)
            .filter(|e| e.owner == Owner::App)
            .map_or(TcpState::Closed, |e| e.conn.state())
    }

    /// The connection's `tcp_info`, as of the latest time the stack saw.
    pub fn tcp_info(&self, c: ConnHandle) -> Option<TcpInfo> {
        self.conns
            .get(c.0)
            .filter(|e| e.owner == Owner::App)
            .map(|e| e.conn.info(self.now))
    }

    /// The local and remote address of a connection.
    pub fn tcp_addrs(&self, c: ConnHandle) -> Option<(SocketAddrV4, SocketAddrV4)> {
        self.conns
            .get(c.0)
            .filter(|e| e.owner == Owner::App)
            .map(|e| (e.conn.local(), e.conn.remote()))
    }

    /// Bytes received and not yet read by the application (Linux `SIOCINQ`),
    /// or `None` for a stale handle.
    pub fn tcp_recv_queue(&self, c: ConnHandle) -> Option<usize> {
        self.app_conn_ref(c).map(Connection::recv_queue)
    }

    /// Every socket, for `ss`: listeners, connections (half-open and
    /// orphaned ones included) and compact TIME-WAIT entries.
    pub fn sockets(&self) -> impl Iterator<Item = SocketSummary> + '_ {
        let listeners = self.listeners.iter().map(|(k, l)| SocketSummary {
            id: SocketId::Listener(ListenerHandle(k)),
            state: TcpState::Listen,
            local: l.local(),
            remote: None,
            recv_q: l.accept_queue_len(),
            send_q: l.backlog(),
        });
        let conns = self.conns.iter().map(|(k, e)| SocketSummary {
            id: SocketId::Conn((e.owner == Owner::App).then_some(ConnHandle(k))),
            state: e.conn.state(),
            local: e.conn.local(),
            remote: Some(e.conn.remote()),
            recv_q: e.conn.recv_queue(),
            send_q: e.conn.send_queue(),
        });
        let time_wait = self.time_wait.iter().map(|(_, t)| SocketSummary {
            id: SocketId::Conn(None),
            state: TcpState::TimeWait,
            local: t.tuple.local,
            remote: Some(t.tuple.remote),
            recv_q: 0,
            send_q: 0,
        });
        listeners.chain(conns).chain(time_wait)
    }

    /// Whether `c` is a live application handle.
    pub fn is_valid(&self, c: ConnHandle) -> bool {
        self.app_conn_ref(c).is_some()
    }

    fn app_conn_ref(&self, c: ConnHandle) -> Option<&Connection> {
        self.conns
            .get(c.0)
            .filter(|e| e.owner == Owner::App)
            .map(|e| &e.conn)
    }

    /// Bytes of buffer memory all connections hold.
    pub fn buffer_memory(&self) -> usize {
        self.conns.iter().map(|(_, e)| e.conn.buffer_memory()).sum()
    }
}
