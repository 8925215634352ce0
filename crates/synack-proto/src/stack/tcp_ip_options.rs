//! IP options on TCP segments: a connection's own (IP_OPTIONS, as Linux
//! takes it on a TCP socket) and the return route a passive open keeps.
//!
//! Read first: RFC 1122 §4.2.3.8 ("An application MUST be able to specify a
//! source route when it actively opens a TCP connection, and this MUST take
//! precedence over a source route received in a datagram. When a TCP
//! connection is OPENed passively and a packet arrives with a completed IP
//! Source Route option (containing a return route), TCP MUST save the
//! return route and use it for all segments sent on this connection"),
//! §4.2.2.6 (the send MSS leaves room for the IP options), RFC 791 §3.1.
//!
//! What the stack does, as Linux does:
//! - an active open's options are the application's, given to `connect`
//!   ([`ConnectOptions::ip_options`](super::ConnectOptions)) or set later
//!   ([`Stack::tcp_set_ip_options`]); a source route's first hop is where
//!   every segment goes (its route picks the source address at `connect`),
//!   the peer is written into its last slot, and TCP's checksum covers the
//!   peer (RFC 9293 §3.1: the pseudo-header's destination is the final one);
//! - a passive open keeps the options of the segment that made it (the SYN,
//!   or the ACK that brought a SYN cookie back) as the answer to it: a
//!   record route or timestamp option as it came, a source route reversed
//!   ([`ip_options::return_options`], Linux's `tcp_v4_save_options`);
//! - a reset, a TIME-WAIT ACK or a SYN-cookie SYN-ACK answering a segment
//!   that came with options carries that answer (Linux's
//!   `ip_send_unicast_reply`), built as a datagram of its own;
//! - a later segment's route does not replace the one kept: RFC 1122's
//!   "the later definition SHOULD override the earlier one" is not
//!   followed, as Linux does not follow it (an in-window segment from
//!   anyone could move the connection's path).
//!
//! Options are written on every segment with this host registered in a
//! record route or timestamp option (`SendOptions::write`). Such segments
//! are written one at a time and summed whole: no software GSO, TSO or
//! checksum offload, whose offsets count a 20-byte IP header. For every
//! other connection the output path asks one flag per segment
//! (`tx_special`, shared with `tcp_md5`'s signed connections).

use core::net::Ipv4Addr;

use super::slab::Key;
use super::tcp::TcpReply;
use super::{ConnHandle, Owner, Stack};
use crate::ip::options::{self as ip_options, MAX_LEN, Registration, SendOptions};
use crate::tcp::conn::SetOptionError;
use crate::time::Instant;
use crate::wire::ipv4::{HEADER_LEN as IP_HEADER_LEN, IpProtocol, Ipv4Packet};

/// What a connection's segment carries beyond the common path's: IP
/// options, an MD5 signature (`tcp_md5`). What `transmit_conn_on` writes
/// for a connection with either.
#[derive(Clone, Copy, Debug)]
pub(super) struct IpOut<'a> {
    pub options: Option<&'a SendOptions>,
    /// The header's destination: a source route's first hop, else the peer.
    pub dst: Ipv4Addr,
    /// The key the segment is signed with (RFC 2385).
    pub md5: Option<&'a crate::tcp::md5::Md5Key>,
}

impl IpOut<'_> {
    /// Bytes of IP options.
    pub fn options_len(&self) -> usize {
        self.options.map_or(0, |o| o.len())
    }
}

/// The options area of the datagram whose TCP segment is being delivered,
/// and its source: kept in `Stack::rx_ip_options` while it is.
#[derive(Clone, Copy, Debug)]
pub(super) struct RxIpOptions {
    area: [u8; MAX_LEN],
    len: u8,
    src: Ipv4Addr,
}

impl RxIpOptions {
    /// A checked options area (at most 40 bytes) from `src`.
    pub fn new(area: &[u8], src: Ipv4Addr) -> Self {
        let len = area.len().min(MAX_LEN);
        let mut kept = [ip_options::kind::END; MAX_LEN];
        kept[..len].copy_from_slice(&area[..len]);
        RxIpOptions {
            area: kept,
            len: len as u8,
            src,
        }
    }

    /// The options that answer the datagram (Linux `ip_options_echo`), in
    /// the form an application sets: `None` when nothing goes back (no
    /// record route, timestamp or source route with a hop left).
    fn answer(&self) -> Option<SendOptions> {
        let mut out = [0; MAX_LEN];
        let area = &self.area[..usize::from(self.len)];
        let n = ip_options::return_options(area, self.src, &mut out);
        (n > 0).then(|| SendOptions::new(&out[..n]).ok()).flatten()
    }
}

impl Stack {
    /// Sets IP_OPTIONS on a connection: the IP options (RFC 791 §3.1) every
    /// segment it sends from now on carries, in the form
    /// [`Stack::udp_set_ip_options`] takes (a source route's hops in order,
    /// the peer left out); empty: none. The send MSS makes room for them.
    /// A source route set after `connect` sends the segments by its first
    /// hop, but the source address stays the one `connect` chose. Refused
    /// with `InvalidValue` (Linux's EINVAL) as UDP refuses them.
    pub fn tcp_set_ip_options(
        &mut self,
        now: Instant,
        c: ConnHandle,
        options: &[u8],
    ) -> Result<(), SetOptionError> {
        let options = SendOptions::new(options).map_err(|_| SetOptionError::InvalidValue)?;
        self.advance(now);
        match self.conns.get(c.0) {
            Some(e) if e.owner() == Owner::App => {}
            _ => return Err(SetOptionError::InvalidHandle),
        }
        self.set_conn_ip_options(c.0, Some(options).filter(|o| !o.is_empty()));
        self.after_conn(c.0);
        self.refresh_deadline();
        Ok(())
    }

    /// A connection's IP options (IP_OPTIONS as `getsockopt` reads them:
    /// for a passive open, those it answers its peer with); `None` for none
    /// or a stale handle.
    pub fn tcp_ip_options(&self, c: ConnHandle) -> Option<SendOptions> {
        self.conns.get(c.0).filter(|e| e.owner() == Owner::App)?;
        self.tcp_ip_options.get(&c.0).copied()
    }

    /// Gives connection `key` these options (`None`: none), and its send
    /// MSS the room they take.
    pub(super) fn set_conn_ip_options(&mut self, key: Key, options: Option<SendOptions>) {
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        let len = options.map_or(0, |o| o.len() as u8);
        entry.conn.set_ip_options_len(len);
        match options {
            Some(o) => self.tcp_ip_options.insert(key, o),
            None => self.tcp_ip_options.remove(&key),
        };
        self.refresh_tx_special();
    }

    /// Whether any connection has IP options or a signature (`tcp_md5`):
    /// the one flag the output path asks before the common way.
    pub(super) fn refresh_tx_special(&mut self) {
        self.tx_special = !self.tcp_ip_options.is_empty() || self.md5_active;
    }

    /// The hop to a source route's first hop, `first`: `None` when there
    /// is no route, or when a strict route's first hop is not on the link
    /// (RFC 791: each hop of a strict route is the next one's neighbour).
    #[cold]
    #[inline(never)]
    pub(super) fn first_hop_route(
        &self,
        first: Ipv4Addr,
        options: Option<SendOptions>,
    ) -> Option<super::iface::Hop> {
        let strict = options.is_some_and(|o| o.is_strict_route());
        self.hop_to(first)
            .filter(|h| !strict || h.next_hop == first)
    }

    /// A connection is gone: so are its options.
    #[cold]
    #[inline(never)]
    pub(super) fn forget_conn_ip_options(&mut self, key: Key) {
        self.tcp_ip_options.remove(&key);
        self.refresh_tx_special();
    }

    /// A passive open made by a segment that came with options keeps their
    /// answer for all its segments (RFC 1122 §4.2.3.8).
    #[cold]
    #[inline(never)]
    pub(super) fn keep_return_options(&mut self, key: Key) {
        let answer = self.rx_ip_options.as_ref().and_then(RxIpOptions::answer);
        if answer.is_some() {
            self.set_conn_ip_options(key, answer);
        }
    }

    /// A TCP segment's IP header with options, in `ip_buf` (the whole
    /// header, options included) before `tcp_len` bytes of segment to
    /// `peer` (the final destination, written into a source route).
    pub(super) fn write_tcp_ip_header(
        &mut self,
        ip_buf: &mut [u8],
        src: Ipv4Addr,
        peer: Ipv4Addr,
        out: IpOut<'_>,
        tcp_len: usize,
        tos_ttl: (u8, u8),
    ) {
        let header_len = ip_buf.len();
        let payload = header_len - IP_HEADER_LEN + tcp_len;
        self.write_ip_header_tos(
            ip_buf,
            src,
            out.dst,
            IpProtocol::Tcp,
            payload,
            true,
            tos_ttl,
        );
        if let Some(options) = out.options {
            self.write_options(ip_buf, options, src, peer);
        }
    }

    /// Writes `options` after the fixed header in `header` (sized to hold
    /// them) for a datagram from `src` to `peer`, and the header's length
    /// and checksum that follow.
    fn write_options(
        &self,
        header: &mut [u8],
        options: &SendOptions,
        src: Ipv4Addr,
        peer: Ipv4Addr,
    ) {
        let me = Registration {
            address: src,
            timestamp: self.ip_timestamp(),
        };
        options.write(
            me,
            |a| self.is_local_addr(a),
            peer,
            &mut header[IP_HEADER_LEN..],
        );
        let mut ip = Ipv4Packet::new_unchecked(header);
        ip.set_version_and_header_len(IP_HEADER_LEN as u8 + options.len() as u8);
        ip.fill_checksum();
    }

    /// [`Stack::queue_reply`] while a segment that came with options or a
    /// verified signature is delivered: the reply carries the options'
    /// answer or is signed with the key (`tcp_md5`), as a datagram of its
    /// own (to a source route's first hop); with neither, it is queued as
    /// any.
    #[cold]
    #[inline(never)]
    pub(super) fn queue_reply_answering(&mut self, reply: TcpReply) {
        let answer = self.rx_ip_options.as_ref().and_then(RxIpOptions::answer);
        if answer.is_none() && self.rx_md5.is_none() {
            return self.queue_control(reply);
        }
        let (reply, md5) = self.sign_reply(reply);
        let (local, remote) = reply.addrs();
        let header_len = IP_HEADER_LEN + answer.map_or(0, |o| o.len());
        // A reset or a SYN-ACK with every option: well under 120 bytes.
        let mut segment = [0u8; 120];
        let Some(n) = reply.write(&mut segment) else {
            return;
        };
        if let Some(key) = md5 {
            crate::tcp::md5::sign(&key, *local.ip(), *remote.ip(), &mut segment[..n]);
        }
        let Some(mut buf) = self.out.alloc(header_len + n) else {
            self.env.stats.ip.out_discards += 1;
            return;
        };
        buf.resize(header_len + n, 0);
        let out = IpOut {
            options: answer.as_ref(),
            dst: answer.and_then(|o| o.first_hop()).unwrap_or(*remote.ip()),
            md5: None,
        };
        let (ip_buf, tcp_buf) = buf.split_at_mut(header_len);
        tcp_buf.copy_from_slice(&segment[..n]);
        let ip = reply.ip();
        let ttl = self.env.config.ttl(ip.ttl);
        self.write_tcp_ip_header(ip_buf, *local.ip(), *remote.ip(), out, n, (ip.tos, ttl));
        self.env.stats.tcp.out_segs += 1;
        if reply.is_rst() {
            self.env.stats.tcp.out_rsts += 1;
        }
        self.out.push(buf);
    }
}
