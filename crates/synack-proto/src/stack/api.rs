//! The application's commands and getters.
//!
//! Every command validates its handle first (a stale or foreign handle is
//! the application's bug and gets `InvalidHandle`), runs the connection's
//! command, then lets the stack do its bookkeeping (events, output queue,
//! timers).

use core::net::{Ipv4Addr, SocketAddrV4};

use super::slab::Key;
use super::tcp::conn_glue;
use super::{
    AcceptError, ConnHandle, ConnectError, ConnectOptions, FourTuple, ListenError, ListenOptions,
    ListenerHandle, Owner, ReuseportError, SocketId, SocketSummary, Stack,
};
use crate::config::SysctlError;
use crate::ip::{ECN_MASK, SocketIp};
use crate::siphash::SipKey;
use crate::tcp::conn::{
    ConnParams, Connection, FastOpenClientPlan, FastOpenInfo, MemInfo, Open, RecvError, RecvFlags,
    SendError, SendFlags, SetOptionError, Shutdown, ShutdownError, SocketOption, SocketOptions,
    TcpInfo,
};
use crate::tcp::fastopen;
use crate::tcp::fastopen_cookie::{FastOpenEntry, FastOpenKeys};
use crate::tcp::listener::Listener;
use crate::tcp::memory::{MemoryState, SOCK_MIN_SNDBUF};
use crate::tcp::reuseport::ReuseportSelect;
use crate::tcp::state::TcpState;
use crate::time::Instant;
use crate::wire::tcp::FastOpenOption;

impl Stack {
    /// Listens on `local` (address 0.0.0.0 for any) with a listen(2)
    /// `backlog` (capped by `somaxconn`), SO_REUSEADDR off.
    pub fn tcp_listen(
        &mut self,
        local: SocketAddrV4,
        backlog: usize,
    ) -> Result<ListenerHandle, ListenError> {
        self.tcp_listen_with(
            local,
            ListenOptions {
                backlog,
                ..ListenOptions::default()
            },
        )
    }

    /// Listens on `local` with [`ListenOptions`]: the backlog, SO_REUSEADDR
    /// (without it, any connection on the port, TIME-WAIT included, makes
    /// this fail with AddrInUse, as Linux's bind does) and Fast Open.
    pub fn tcp_listen_with(
        &mut self,
        local: SocketAddrV4,
        opts: ListenOptions,
    ) -> Result<ListenerHandle, ListenError> {
        if local.port() == 0 {
            return Err(ListenError::InvalidPort);
        }
        let wildcard = local.ip().is_unspecified();
        if !wildcard && !self.is_host_addr(*local.ip()) {
            return Err(ListenError::AddrNotAvailable);
        }
        let port = local.port();
        // Overlapping listeners conflict unless both set SO_REUSEPORT
        // (Linux's `inet_csk_bind_conflict`; a group's members all set it,
        // so its first answers for it).
        let listeners = &self.listeners;
        let listener_conflict = self.listen_map.entries().any(|(l, &key)| {
            let overlaps =
                l.port() == port && (wildcard || l.ip().is_unspecified() || l.ip() == local.ip());
            let shared = opts.reuse_port && listeners.get(key).is_some_and(Listener::reuse_port);
            overlaps && !shared
        });
        if listener_conflict {
            return Err(ListenError::AddrInUse);
        }
        if !opts.reuse_addr {
            // A wildcard listen conflicts with a holder on any of our
            // addresses (127/8 included), a specific one with a holder on
            // its own.
            let ifaces = &self.ifaces;
            let on = |addr: Ipv4Addr| {
                if wildcard {
                    super::iface::is_host_addr_of(ifaces, addr)
                } else {
                    addr == *local.ip()
                }
            };
            // A marked port is answered by walking every connection: a
            // listen's cost, counted like the stack's other full scans.
            if self.port_marks.is_marked(port) {
                self.full_scans += 1;
            }
            let locals = (self.conns.iter().map(|(_, e)| e.conn.local()))
                .chain(self.time_wait.iter().map(|(_, e)| e.tuple.local));
            let in_use = self.port_marks.held(port, locals, on);
            // The old exact count's verdict (kept by the tests) must agree.
            #[cfg(test)]
            {
                let used = |addr: Ipv4Addr| {
                    let key = super::PortKey::new(SocketAddrV4::new(addr, port));
                    self.port_users.contains_key(&key)
                };
                let counted = if wildcard {
                    self.ifaces.iter().any(|i| used(i.config.addr))
                        || self.port_users.keys().any(|k| {
                            let held = k.addr();
                            held.port() == port && held.ip().is_loopback()
                        })
                } else {
                    used(*local.ip())
                };
                assert_eq!(in_use, counted, "port marks against the count");
            }
            if in_use {
                return Err(ListenError::AddrInUse);
            }
        }
        let mut listener = Listener::new(local, opts.backlog, &self.env.config);
        let qlen = fastopen::listener_qlen(
            self.env.config.tcp_fastopen,
            opts.fastopen_qlen,
            listener.backlog(),
        );
        listener.set_fastopen_qlen(qlen.unwrap_or(0));
        listener.set_reuse_port(opts.reuse_port);
        let key = self.listeners.insert(listener);
        if opts.reuse_port {
            self.listen_map.join(local, key);
        } else {
            self.listen_map.insert(local, key);
        }
        Ok(ListenerHandle(key))
    }

    /// Linux `TCP_FASTOPEN` on a listener: at most `qlen` Fast Open
    /// connections not yet established (0 turns server Fast Open off).
    /// Server Fast Open also needs the 0x2 bit of `tcp_fastopen`.
    pub fn tcp_listener_set_fastopen(
        &mut self,
        listener: ListenerHandle,
        qlen: usize,
    ) -> Result<(), ListenError> {
        let flags = self.env.config.tcp_fastopen;
        let l = self
            .listeners
            .get_mut(listener.0)
            .ok_or(ListenError::InvalidHandle)?;
        let qlen = fastopen::listener_qlen(flags, qlen, l.backlog()).unwrap_or(0);
        l.set_fastopen_qlen(qlen);
        Ok(())
    }

    /// Sets the socket options a listener's children inherit (Linux clones
    /// the listening socket: TCP_MAXSEG shapes the SYN-ACK's MSS, TCP_SYNCNT
    /// its retransmissions, TCP_NODELAY the child's sends, ...).
    pub fn tcp_listener_set_options(
        &mut self,
        listener: ListenerHandle,
        socket: SocketOptions,
    ) -> Result<(), ListenError> {
        let l = self
            .listeners
            .get_mut(listener.0)
            .ok_or(ListenError::InvalidHandle)?;
        l.set_socket_options(socket);
        Ok(())
    }

    /// IP_TTL on a listening socket: the TTL of its SYN-cookie SYN-ACKs
    /// and, inherited, of every connection it accepts from now on (their
    /// SYN-ACKs too), as Linux's children clone the listener's `uc_ttl`. 0
    /// is refused (`InvalidValue`, Linux's EINVAL).
    pub fn tcp_listener_set_ttl(
        &mut self,
        listener: ListenerHandle,
        ttl: u8,
    ) -> Result<(), SetOptionError> {
        if ttl == 0 {
            return Err(SetOptionError::InvalidValue);
        }
        self.listeners
            .get_mut(listener.0)
            .ok_or(SetOptionError::InvalidHandle)?
            .set_ttl(ttl);
        Ok(())
    }

    /// A listener's IP_TTL as `getsockopt` reads it (set, or
    /// `ip_default_ttl`); `None` for a stale handle.
    pub fn tcp_listener_ttl(&self, listener: ListenerHandle) -> Option<u8> {
        let l = self.listeners.get(listener.0)?;
        Some(self.env.config.ttl(l.ip().ttl))
    }

    /// IP_TOS on a listening socket: the DSCP bits (RFC 2474) of its
    /// SYN-cookie SYN-ACKs and, inherited, of every connection it accepts
    /// from now on, as Linux's children clone the listener's `tos`. The
    /// ECN field's two bits are TCP's (RFC 3168 §6.1), so they are
    /// ignored here, as Linux ignores them on a stream socket.
    pub fn tcp_listener_set_tos(
        &mut self,
        listener: ListenerHandle,
        tos: u8,
    ) -> Result<(), SetOptionError> {
        self.listeners
            .get_mut(listener.0)
            .ok_or(SetOptionError::InvalidHandle)?
            .set_tos(tos);
        Ok(())
    }

    /// TCP_NOTSENT_LOWAT on a listening socket: every connection it accepts
    /// from now on starts with it (Linux clones the listener's
    /// `notsent_lowat`); 0 goes back to the `tcp_notsent_lowat` sysctl's.
    pub fn tcp_listener_set_notsent_lowat(
        &mut self,
        listener: ListenerHandle,
        bytes: u32,
    ) -> Result<(), SetOptionError> {
        self.listeners
            .get_mut(listener.0)
            .ok_or(SetOptionError::InvalidHandle)?
            .set_notsent_lowat(bytes);
        Ok(())
    }

    /// A listener's TCP_NOTSENT_LOWAT as `getsockopt` reads it (0: unset);
    /// `None` for a stale handle.
    pub fn tcp_listener_notsent_lowat(&self, listener: ListenerHandle) -> Option<u32> {
        Some(self.listeners.get(listener.0)?.inherited().notsent_lowat)
    }

    /// TCP_WINDOW_CLAMP on a listening socket (at least 1,152 bytes,
    /// `MIN_WINDOW_CLAMP`; 0 clears it): every connection it accepts from
    /// now on starts with it, its SYN-ACK's window and window scale
    /// included (Linux's request sock takes the listener's
    /// `window_clamp`).
    pub fn tcp_listener_set_window_clamp(
        &mut self,
        listener: ListenerHandle,
        bytes: u32,
    ) -> Result<(), SetOptionError> {
        let clamp = match bytes {
            0 => 0,
            n => n.max(crate::tcp::conn::MIN_WINDOW_CLAMP),
        };
        self.listeners
            .get_mut(listener.0)
            .ok_or(SetOptionError::InvalidHandle)?
            .set_window_clamp(clamp);
        Ok(())
    }

    /// A listener's TCP_WINDOW_CLAMP (0: unset); `None` for a stale handle.
    pub fn tcp_listener_window_clamp(&self, listener: ListenerHandle) -> Option<u32> {
        Some(self.listeners.get(listener.0)?.inherited().window_clamp)
    }

    /// A listener's IP_TOS as `getsockopt` reads it (its DSCP bits);
    /// `None` for a stale handle.
    pub fn tcp_listener_tos(&self, listener: ListenerHandle) -> Option<u8> {
        Some(self.listeners.get(listener.0)?.ip().tos)
    }

    /// SO_ATTACH_REUSEPORT_CBPF's place: the selection program of the
    /// SO_REUSEPORT group `listener` is in, which from now on picks the
    /// member that takes each connection (`tcp::reuseport`), in place of
    /// any program the group had. `NotReusePort` (Linux's EINVAL) for a
    /// listener without SO_REUSEPORT.
    pub fn tcp_attach_reuseport_select(
        &mut self,
        listener: ListenerHandle,
        select: ReuseportSelect,
    ) -> Result<(), ReuseportError> {
        let local = self.reuseport_local(listener)?;
        self.listen_map
            .set_group_select(local, Some(select))
            .map_err(|()| ReuseportError::NotReusePort)?;
        Ok(())
    }

    /// SO_DETACH_REUSEPORT_BPF: the group `listener` is in picks by the hash
    /// again. `NoProgram` (Linux's ENOENT) if it had none.
    pub fn tcp_detach_reuseport_select(
        &mut self,
        listener: ListenerHandle,
    ) -> Result<(), ReuseportError> {
        let local = self.reuseport_local(listener)?;
        match self.listen_map.set_group_select(local, None) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(ReuseportError::NoProgram),
            Err(()) => Err(ReuseportError::NotReusePort),
        }
    }

    /// The address of `listener`'s reuseport group.
    fn reuseport_local(&self, listener: ListenerHandle) -> Result<SocketAddrV4, ReuseportError> {
        let l = self
            .listeners
            .get(listener.0)
            .ok_or(ReuseportError::InvalidHandle)?;
        if !l.reuse_port() {
            return Err(ReuseportError::NotReusePort);
        }
        Ok(l.local())
    }

    /// Half-open connections of a listener (its SYN queue) and those
    /// waiting for `accept`.
    pub fn tcp_listener_queues(&self, listener: ListenerHandle) -> Option<(usize, usize)> {
        self.listeners
            .get(listener.0)
            .map(|l| (l.half_open(), l.accept_queue_len()))
    }

    /// Stops listening. Every connection not yet accepted, half-open or
    /// established, is reset; or, with `tcp_migrate_req` and a SO_REUSEPORT
    /// group that keeps other members, handed to one of them (picked by
    /// the connection's 4-tuple, as a new connection would be: Linux's
    /// `reuseport_migrate_sock`), to be accepted there.
    pub fn tcp_close_listener(&mut self, now: Instant, listener: ListenerHandle) {
        self.advance(now);
        let now = self.now;
        let Some(mut l) = self.listeners.remove(listener.0) else {
            return;
        };
        self.listen_map.remove(l.local(), listener.0);
        if self.md5_active {
            self.forget_listener_md5(listener.0);
        }
        let mut queued: Vec<Key> = l.drain_accept_queue().collect();
        let established = queued.len();
        // The half-open ones: the listener keeps only their count, so they
        // are found by a walk of the connections (a listener's close is
        // rare; counted like the stack's other full scans).
        if l.half_open() > 0 {
            self.full_scans += 1;
            let half_open = self
                .conns
                .iter()
                .filter_map(|(key, e)| (e.owner() == Owner::HalfOpen(listener.0)).then_some(key));
            queued.extend(half_open);
        }
        for (i, key) in queued.into_iter().enumerate() {
            if l.reuse_port() {
                if self.migrate_to_group(key, l.local(), i < established) {
                    self.env.stats.tcp_ext.tcp_migrate_req_success += 1;
                    continue;
                }
                self.env.stats.tcp_ext.tcp_migrate_req_failure += 1;
            }
            if let Some(entry) = self.conns.get_mut(key) {
                entry.set_owner(Owner::Orphan);
                self.env.orphans += 1;
                entry.conn.abort(now, &mut self.env);
                self.after_conn(key);
            }
        }
        self.refresh_deadline();
    }

    /// `tcp_migrate_req`: connection `key` of a closed SO_REUSEPORT listener
    /// on `local` goes to the member of the group left there that its
    /// 4-tuple picks: into its accept queue (`queued`: established, or a
    /// Fast Open child) or its SYN queue (half-open). `false` when the
    /// sysctl is off or no member is left.
    fn migrate_to_group(&mut self, key: Key, local: SocketAddrV4, queued: bool) -> bool {
        if !self.env.config.tcp_migrate_req {
            return false;
        }
        let Some(entry) = self.conns.get(key) else {
            return false;
        };
        let tuple = FourTuple {
            local: entry.conn.local(),
            remote: entry.conn.remote(),
        };
        let fastopen = entry.fastopen_listener().is_some();
        let heir = match self.listen_map.group(local) {
            Some(group) if !group.is_empty() => self.pick_in_group(group, &tuple),
            _ => return false,
        };
        let Some(to) = self.listeners.get_mut(heir) else {
            return false;
        };
        let owner = if queued {
            if to.adopt(key, fastopen) {
                self.events
                    .push_back(super::Event::AcceptReady(ListenerHandle(heir)));
            }
            Owner::Queued(heir)
        } else {
            to.add_half_open();
            Owner::HalfOpen(heir)
        };
        if let Some(entry) = self.conns.get_mut(key) {
            entry.move_to_listener(owner);
        }
        true
    }

    /// The oldest connection waiting on `listener`.
    pub fn tcp_accept(&mut self, listener: ListenerHandle) -> Result<ConnHandle, AcceptError> {
        let l = self
            .listeners
            .get_mut(listener.0)
            .ok_or(AcceptError::InvalidHandle)?;
        let key = l.accept().ok_or(AcceptError::WouldBlock)?;
        if let Some(entry) = self.conns.get_mut(key) {
            entry.set_owner(Owner::App);
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
    /// follows RFC 6528, the local address the route (RFC 1122 §3.3.4.3)
    /// and the local port RFC 6056, unless given. With
    /// `opts.fastopen_connect` this is Linux's `TCP_FASTOPEN_CONNECT`.
    pub fn tcp_connect(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        opts: ConnectOptions,
    ) -> Result<ConnHandle, ConnectError> {
        self.connect_impl(now, remote, opts, None).map(|(c, _)| c)
    }

    /// Connects and sends in one call, like `sendto(MSG_FASTOPEN)` (RFC 7413
    /// §4.2): with a cached cookie for the server, the SYN carries the
    /// cookie and the first bytes of `data` (up to one MSS); without one it
    /// asks for a cookie and the data follows the handshake. Returns the
    /// connection and how many bytes were queued (all that fit in the send
    /// buffer, where Linux's non-blocking `sendto` takes only what the SYN
    /// carries); [`Stack::tcp_fastopen_info`] says what the SYN carried.
    pub fn tcp_connect_with_data(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        opts: ConnectOptions,
        data: &[u8],
    ) -> Result<(ConnHandle, usize), ConnectError> {
        self.connect_impl(now, remote, opts, Some(data))
    }

    fn connect_impl(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        opts: ConnectOptions,
        data: Option<&[u8]>,
    ) -> Result<(ConnHandle, usize), ConnectError> {
        self.advance(now);
        let now = self.now;
        let r = *remote.ip();
        let unusable =
            remote.port() == 0 || r.is_unspecified() || r.is_broadcast() || r.is_multicast();
        if unusable {
            return Err(ConnectError::InvalidAddress);
        }
        let hop = match opts.ip_options.as_deref() {
            None => self.hop_to(r),
            Some(o) => self.first_hop_route(o.first_hop().unwrap_or(r), Some(*o)),
        };
        let hop = hop.ok_or(ConnectError::NetworkUnreachable)?;
        if hop.link_broadcast {
            return Err(ConnectError::InvalidAddress);
        }
        let local_ip = match opts.local_addr {
            Some(a) if !a.is_unspecified() => {
                if !self.is_host_addr(a) {
                    return Err(ConnectError::AddrNotAvailable);
                }
                // 127/8 never leaves the host (RFC 1122 §3.2.1.3 (g); Linux
                // refuses such a route with EINVAL).
                if a.is_loopback() && hop.iface != super::loopback::LOOPBACK {
                    return Err(ConnectError::InvalidAddress);
                }
                a
            }
            _ => hop.src,
        };
        let demux = &self.demux;
        let slots = super::slots!(self);
        let listen_map = &self.listen_map;
        let taken = |port: u16| {
            let tuple = FourTuple {
                local: SocketAddrV4::new(local_ip, port),
                remote,
            };
            demux.contains(slots, &tuple)
                || listen_map.get(SocketAddrV4::new(local_ip, port)).is_some()
        };
        let port = match opts.local_port {
            Some(port) if port == 0 || taken(port) => return Err(ConnectError::AddrInUse),
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
            route_mtu: self.conn_route_mtu(hop.iface),
        };
        // A signed SYN has no room for a Fast Open cookie worth having.
        let fastopen_plan = if (data.is_some() || opts.fastopen_connect) && opts.md5_key.is_none() {
            self.fastopen_plan(now, r, &opts, data.is_none())
        } else {
            None
        };
        // Built in its slot; set up there before anything is sent.
        let ip = SocketIp {
            ttl: opts.ip.ttl,
            tos: opts.ip.tos & !ECN_MASK,
        };
        let key = self.insert_conn(tuple.local, remote, Open::Active, &params, Owner::App, ip);
        if let Some(options) = opts.ip_options.as_deref().filter(|o| !o.is_empty()) {
            self.set_conn_ip_options(key, Some(*options));
        }
        if let Some(md5) = opts.md5_key.as_deref() {
            self.sign_conn(key, tuple, *md5, false);
        }
        let mut queued = 0;
        if let Some(entry) = self.conns.get_mut(key) {
            if opts.window_clamp != 0 {
                let clamp = opts.window_clamp.max(crate::tcp::conn::MIN_WINDOW_CLAMP);
                entry.conn.apply_window_clamp(clamp);
            }
            if let Some(plan) = fastopen_plan {
                entry.conn.set_fastopen_client(plan);
            }
            // Queued before the SYN is written, so the SYN can carry it.
            if let Some(d) = data.filter(|d| !d.is_empty()) {
                queued = entry
                    .conn
                    .send(now, d, SendFlags::default(), &mut self.env)
                    .unwrap_or(0);
            }
        }
        self.after_conn(key);
        self.refresh_deadline();
        Ok((ConnHandle(key), queued))
    }

    /// A Fast Open connect's plan for its SYN (RFC 7413 §4.1), from what
    /// the cache knows about `server`. Cold and out of line: a plain
    /// connect (every connect of a handshake) skips it, and its code no
    /// longer sits among `tcp_connect`'s.
    #[cold]
    #[inline(never)]
    fn fastopen_plan(
        &mut self,
        now: Instant,
        server: Ipv4Addr,
        opts: &ConnectOptions,
        no_data: bool,
    ) -> Option<FastOpenClientPlan> {
        // The path MTU learned for the server, if any, bounds the SYN's data.
        let learned = self.path_mtus.get(now, server);
        let config = &self.env.config;
        let entry: Option<FastOpenEntry> = self.fastopen_cache.get(server);
        let path_mtu = learned.unwrap_or(u16::try_from(config.mtu).unwrap_or(u16::MAX));
        let mut plan = fastopen::client_plan(
            config.tcp_fastopen,
            entry.as_ref(),
            now,
            path_mtu,
            config.advertised_mss(),
            opts.fastopen_connect && no_data,
        )?;
        // TCP_MAXSEG bounds the SYN's data too (Linux `tcp_send_syn_data`:
        // the MSS clamp is the smaller of the cached MSS and the user's).
        let user = opts.socket.max_segment;
        if user != 0 {
            let room = user.saturating_sub(fastopen::SYN_DATA_OPTION_RESERVE);
            plan.max_syn_data = plan.max_syn_data.min(u32::from(room));
        }
        Some(plan)
    }

    /// What the client knows about `server` for Fast Open (its cookie, in
    /// the option kind it came in, and MSS), if anything.
    pub fn fastopen_entry(&self, server: Ipv4Addr) -> Option<FastOpenEntry> {
        self.fastopen_cache.peek(server).copied()
    }

    /// The Fast Open cookie cached for `server`.
    pub fn fastopen_cookie(&self, server: Ipv4Addr) -> Option<FastOpenOption> {
        self.fastopen_entry(server).and_then(|e| e.cookie)
    }

    /// Tells the client what to know about `server` for Fast Open: an entry
    /// saved from an earlier run, as Linux's TCP metrics outlive a process
    /// (a runtime persists them for its short-lived clients).
    pub fn fastopen_remember(&mut self, server: Ipv4Addr, entry: FastOpenEntry) {
        self.fastopen_cache.insert(server, entry);
    }

    /// Forgets what Fast Open knows about `server` (`ip tcp_metrics delete`).
    pub fn fastopen_forget(&mut self, server: Ipv4Addr) {
        self.fastopen_cache.remove(server);
    }

    /// A connection's Fast Open status: what its SYN carried and whether
    /// the data was acknowledged, or (server side) taken from the SYN.
    pub fn tcp_fastopen_info(&self, c: ConnHandle) -> Option<FastOpenInfo> {
        self.app_conn_ref(c).map(Connection::fastopen_info)
    }

    /// Replaces the server's Fast Open keys (`tcp_fastopen_key`).
    pub fn set_fastopen_keys(&mut self, keys: FastOpenKeys) {
        self.fastopen_keys = keys;
    }

    /// RFC 7413 §4.1.2 key rotation: cookies are made with `key` from now
    /// on; those made with the previous key stay valid until the next
    /// rotation.
    pub fn rotate_fastopen_key(&mut self, key: SipKey) {
        self.fastopen_keys.rotate(key);
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
        let Some(entry) = self.conns.get_mut(c.0).filter(|e| e.owner() == Owner::App) else {
            return invalid;
        };
        let out = f(&mut entry.conn, &mut self.env);
        // The entry in hand: no second lookup (`after_conn` would find it).
        let ran = conn_glue!(self).after(c.0, entry);
        self.after_conn_done(c.0, ran);
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

    /// [`Stack::tcp_send`] with flags (`MSG_MORE`, `MSG_EOR`).
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
        self.advance(now);
        let now = self.now;
        let Some(entry) = self.conns.get_mut(c.0).filter(|e| e.owner() == Owner::App) else {
            return Err(RecvError::InvalidHandle);
        };
        let out = entry.conn.recv(now, buf, &mut self.env);
        if out == Err(RecvError::WouldBlock) && self.env.events.is_empty() {
            // An event loop polls its sockets far more often than data
            // comes: a read that found nothing changed no state, raised no
            // event and queued no segment; only the idle timer moved. Its
            // deadline is read from the entry at hand, not looked up again.
            let deadline = entry.conn.poll_timeout_cached();
            self.set_conn_timer(c.0, deadline);
        } else {
            let ran = conn_glue!(self).after(c.0, entry);
            self.after_conn_done(c.0, ran);
        }
        self.refresh_deadline();
        out
    }

    /// [`Stack::tcp_recv`] with flags: MSG_PEEK copies without consuming;
    /// MSG_OOB reads the urgent byte (docs/TCP.md "Urgent data"), never
    /// waiting: `WouldBlock` until it arrives, `NoUrgentData` (EINVAL)
    /// when there is none to read.
    pub fn tcp_recv_with(
        &mut self,
        now: Instant,
        c: ConnHandle,
        buf: &mut [u8],
        flags: RecvFlags,
    ) -> Result<usize, RecvError> {
        if flags == RecvFlags::default() {
            return self.tcp_recv(now, c, buf);
        }
        let now_ = self.now.max(now);
        self.with_conn(now, c, Err(RecvError::InvalidHandle), |conn, env| {
            conn.recv_with(now_, buf, flags, env)
        })
    }

    /// Whether a blocking read of up to `len` bytes may go now under
    /// SO_RCVLOWAT (enough bytes, or the stream's end or failure); if not,
    /// `Readable` comes when it may. `true` for a stale handle (the read
    /// then says why).
    pub fn tcp_recv_ready(&mut self, c: ConnHandle, len: usize) -> bool {
        match self.conns.get_mut(c.0).filter(|e| e.owner() == Owner::App) {
            Some(entry) => entry.conn.recv_ready(len),
            None => true,
        }
    }

    /// SIOCATMARK: whether the next byte to read is the urgent mark
    /// (`None` for a stale handle).
    pub fn tcp_at_mark(&self, c: ConnHandle) -> Option<bool> {
        self.tcp_connection(c).map(Connection::at_mark)
    }

    /// Whether `recv(MSG_OOB)` has an urgent byte to read now (Linux's
    /// EPOLLPRI).
    pub fn tcp_urgent_ready(&self, c: ConnHandle) -> bool {
        self.tcp_connection(c).is_some_and(Connection::urgent_ready)
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
        let Some(entry) = self.conns.get_mut(c.0).filter(|e| e.owner() == Owner::App) else {
            return;
        };
        #[cfg(test)]
        let short_close = self.short_close;
        #[cfg(not(test))]
        let short_close = true;
        if short_close
            && !entry.queued
            && self.env.events.is_empty()
            && entry.conn.ended_for_close()
        {
            // The connection already ended (a handshake's both ends close
            // here, in TIME-WAIT or CLOSED): `close` would only mark it
            // orphaned and drop unread bytes (`close_ended`, in line),
            // raising no event and leaving nothing to send, so the
            // bookkeeping below would only queue the orphan for output and
            // take it back, reschedule a timer the removal cancels, and
            // (CLOSED) probe the demux map for the tuple its change into
            // CLOSED already took out. It is retired at once, as
            // `retire_given_up` would.
            entry.conn.close_ended();
            entry.set_owner(Owner::Orphan);
            self.env.orphans += 1;
            let state = entry.conn.state();
            #[cfg(test)]
            {
                self.short_closes += 1;
            }
            self.retire_if_done(c.0, state, Owner::Orphan);
            self.refresh_deadline();
            return;
        }
        entry.conn.close(now, &mut self.env);
        entry.set_owner(Owner::Orphan);
        self.env.orphans += 1;
        // Linux `tcp_check_oom` at close: with too many orphans, or with
        // the buffer memory above `tcp_mem`'s high mark while this one
        // still has data to send, it is reset rather than left to finish.
        let too_many = self.env.orphans > self.env.config.tcp_max_orphans;
        if (too_many || self.env.memory.state() == MemoryState::Exhausted)
            && entry.conn.state() != TcpState::Closed
            && (too_many || entry.conn.send_queue() > SOCK_MIN_SNDBUF)
        {
            entry.conn.abort(now, &mut self.env);
            self.env.stats.tcp_ext.tcp_abort_on_memory += 1;
        }
        let idle = !entry.queued && !entry.conn.may_transmit();
        let ran = conn_glue!(self).after(c.0, entry);
        self.after_conn_done(c.0, ran);
        self.retire_given_up(c.0, idle);
        self.refresh_deadline();
    }

    /// Resets the connection (RFC 9293 §3.10.5 ABORT) and gives up the handle.
    pub fn tcp_abort(&mut self, now: Instant, c: ConnHandle) {
        self.advance(now);
        let now = self.now;
        let Some(entry) = self.conns.get_mut(c.0).filter(|e| e.owner() == Owner::App) else {
            return;
        };
        entry.conn.abort(now, &mut self.env);
        entry.set_owner(Owner::Orphan);
        self.env.orphans += 1;
        self.after_conn(c.0);
        self.refresh_deadline();
    }

    /// `ss -K` (Linux's SOCK_DESTROY, `tcp_abort`): ends the connection or
    /// TIME-WAIT entry on this 4-tuple now, whoever holds it. A
    /// synchronized connection sends a reset; an application holding it
    /// finds it aborted (`CloseReason::Aborted`, ECONNABORTED), a half-open
    /// or orphaned one goes. `false` when there is none.
    pub fn tcp_destroy(&mut self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> bool {
        self.advance(now);
        let now = self.now;
        let tuple = FourTuple { local, remote };
        match self.demux.get(super::slots!(self), &tuple) {
            Some(super::Demux::Conn(key)) => {
                let Some(entry) = self.conns.get_mut(key) else {
                    return false;
                };
                entry.conn.abort(now, &mut self.env);
                self.after_conn(key);
            }
            Some(super::Demux::TimeWait(key)) => self.remove_time_wait(key),
            None => return false,
        }
        self.refresh_deadline();
        true
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

    /// Sets IP_TTL: the TTL of the connection's segments from now on (RFC
    /// 1122 §3.2.1.7: the transport layer "MUST be able to set the TTL").
    /// Until set (here, or on the listener that accepted it), each segment
    /// takes `ip_default_ttl` as it is then, as Linux reads the sysctl per
    /// packet. 0 is refused (`InvalidValue`, Linux's EINVAL).
    pub fn tcp_set_ttl(&mut self, c: ConnHandle, ttl: u8) -> Result<(), SetOptionError> {
        if ttl == 0 {
            return Err(SetOptionError::InvalidValue);
        }
        let entry = self
            .conns
            .get_mut(c.0)
            .filter(|e| e.owner() == Owner::App)
            .ok_or(SetOptionError::InvalidHandle)?;
        entry.ip.ttl = ttl;
        Ok(())
    }

    /// IP_TTL as `getsockopt` reads it (set, or `ip_default_ttl`); `None`
    /// for a stale handle.
    pub fn tcp_ttl(&self, c: ConnHandle) -> Option<u8> {
        self.conns
            .get(c.0)
            .filter(|e| e.owner() == Owner::App)
            .map(|e| self.env.config.ttl(e.ip.ttl))
    }

    /// Sets IP_TOS: the DSCP bits (RFC 2474) of the connection's segments
    /// from now on. The ECN field's two bits are TCP's, chosen segment by
    /// segment (RFC 3168 §6.1: ECT on data once ECN is negotiated), so they
    /// are ignored here, as Linux ignores them on a stream socket
    /// (`__ip_sock_set_tos`). Until set (here, or on the listener that
    /// accepted it), DSCP 0.
    pub fn tcp_set_tos(&mut self, c: ConnHandle, tos: u8) -> Result<(), SetOptionError> {
        let entry = self
            .conns
            .get_mut(c.0)
            .filter(|e| e.owner() == Owner::App)
            .ok_or(SetOptionError::InvalidHandle)?;
        entry.ip.tos = tos & !ECN_MASK;
        Ok(())
    }

    /// IP_TOS as `getsockopt` reads it: the DSCP bits set; `None` for a
    /// stale handle.
    pub fn tcp_tos(&self, c: ConnHandle) -> Option<u8> {
        self.conns
            .get(c.0)
            .filter(|e| e.owner() == Owner::App)
            .map(|e| e.ip.tos)
    }

    /// The connection's state; CLOSED for a stale handle.
    pub fn tcp_state(&self, c: ConnHandle) -> TcpState {
        self.conns
            .get(c.0)
            .filter(|e| e.owner() == Owner::App)
            .map_or(TcpState::Closed, |e| e.conn.state())
    }

    /// The connection's `tcp_info`, as of the latest time the stack saw.
    pub fn tcp_info(&self, c: ConnHandle) -> Option<TcpInfo> {
        self.conns
            .get(c.0)
            .filter(|e| e.owner() == Owner::App)
            .map(|e| e.conn.info(self.now, &self.env.config))
    }

    /// A connection's memory (`ss -m`'s `skmem`), or `None` if the handle is
    /// stale.
    pub fn tcp_mem_info(&self, c: ConnHandle) -> Option<MemInfo> {
        self.app_conn_ref(c).map(Connection::mem_info)
    }

    /// The connection behind an application handle, read-only: for drivers
    /// that need more than [`Stack::tcp_info`] (a socket layer's poll(2)
    /// looks at the buffers).
    pub fn tcp_connection(&self, c: ConnHandle) -> Option<&Connection> {
        self.app_conn_ref(c)
    }

    /// Changes one setting by its Linux sysctl name while the stack runs,
    /// as a packetdrill script's shell lines do
    /// ([`Config::set_sysctl`](crate::Config::set_sysctl)).
    /// Settings read when something is created (a connection's options,
    /// the ephemeral port range) apply to what is created afterwards.
    pub fn set_sysctl(&mut self, name: &str, value: &str) -> Result<(), SysctlError> {
        // What a datagram's addresses are to us depends on `ip_forward`.
        self.rx_addrs_last = None;
        self.env.set_sysctl(name, value)
    }

    /// The local and remote address of a connection.
    pub fn tcp_addrs(&self, c: ConnHandle) -> Option<(SocketAddrV4, SocketAddrV4)> {
        self.conns
            .get(c.0)
            .filter(|e| e.owner() == Owner::App)
            .map(|e| (e.conn.local(), e.conn.remote()))
    }

    /// Bytes received and not yet read by the application (Linux `SIOCINQ`),
    /// or `None` for a stale handle.
    pub fn tcp_recv_queue(&self, c: ConnHandle) -> Option<usize> {
        self.app_conn_ref(c).map(Connection::recv_queue)
    }

    /// The time of the stack's last call: what its timers, `tcp_info`'s
    /// ages and [`SocketSummary::timer`]'s expiry count from.
    pub fn now(&self) -> Instant {
        self.now
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
            timer: None,
        });
        let conns = self.conns.iter().map(|(k, e)| SocketSummary {
            id: SocketId::Conn((e.owner() == Owner::App).then_some(ConnHandle(k))),
            state: e.conn.state(),
            local: e.conn.local(),
            remote: Some(e.conn.remote()),
            recv_q: e.conn.recv_queue(),
            send_q: e.conn.send_queue(),
            timer: e.conn.socket_timer(),
        });
        let time_wait = self.time_wait.iter().map(|(_, t)| SocketSummary {
            id: SocketId::Conn(None),
            state: TcpState::TimeWait,
            local: t.tuple.local,
            remote: Some(t.tuple.remote),
            recv_q: 0,
            send_q: 0,
            timer: Some(crate::tcp::conn::SocketTimer {
                kind: crate::tcp::conn::SocketTimerKind::TimeWait,
                expires: t.tw.expires,
                retrans: 0,
            }),
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
            .filter(|e| e.owner() == Owner::App)
            .map(|e| &e.conn)
    }

    /// Bytes all connections' buffers hold allocated (Linux's
    /// `tcp_memory_allocated`, in bytes; [`Connection::charged_memory`]):
    /// a counter, charged after every call into a connection
    /// ([`crate::tcp::memory`]).
    pub fn buffer_memory(&self) -> usize {
        self.env.memory.allocated()
    }

    /// The same sum, counted by visiting every connection: what
    /// [`Stack::buffer_memory`] must equal once a call into the stack has
    /// returned (tests check it; O(connections)).
    pub fn buffer_memory_scan(&self) -> usize {
        self.conns
            .iter()
            .map(|(_, e)| e.conn.charged_memory())
            .sum()
    }

    /// Where the buffer memory stands against `tcp_mem`'s marks.
    pub fn memory_state(&self) -> crate::tcp::memory::MemoryState {
        self.env.memory.state()
    }
}

#[cfg(test)]
mod driver_api_tests {
    use core::net::{Ipv4Addr, SocketAddrV4};

    use crate::config::{Config, SysctlError};
    use crate::stack::{ConnectOptions, Interface, Stack};
    use crate::tcp::state::TcpState;
    use crate::time::Instant;

    fn stack() -> Stack {
        Stack::new(
            Config::default(),
            Interface::ip(Ipv4Addr::new(192, 0, 2, 1), 24),
        )
    }

    #[test]
    fn set_sysctl_changes_the_running_configuration() {
        let mut s = stack();
        assert!(s.config().tcp_timestamps);
        s.set_sysctl("net.ipv4.tcp_timestamps", "0").unwrap();
        assert!(!s.config().tcp_timestamps);
        assert_eq!(
            s.set_sysctl("net.ipv4.tcp_nonsense", "1"),
            Err(SysctlError::Unknown("tcp_nonsense".into()))
        );
    }

    #[test]
    fn tcp_connection_shows_an_application_connection_only() {
        let mut s = stack();
        let remote = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80);
        let c = s
            .tcp_connect(Instant::ZERO, remote, ConnectOptions::default())
            .unwrap();
        let conn = s.tcp_connection(c).expect("a live handle");
        assert_eq!(conn.state(), TcpState::SynSent);
        assert_eq!(conn.remote(), remote);
        s.tcp_abort(Instant::ZERO, c);
        assert!(
            s.tcp_connection(c).is_none(),
            "a given-up handle shows nothing"
        );
    }
}
