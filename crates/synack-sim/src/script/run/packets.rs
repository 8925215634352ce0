//! `<` and `>` lines: which connection a packet belongs to, building the
//! packet a `<` line injects, and checking what synack sent against a `>`
//! line (run_packet.c's rules; see the module docs of [`super`]).

use core::fmt::Write as _;
use core::net::SocketAddrV4;

use synack_proto::tcp::fastopen_cookie::FastOpenKeys;

use super::frames::{self, InboundTcp, RawFlags, Sent, SentTcp, kind};
use super::net::Captured;
use super::runner::{Runner, SNIFF_SLACK, Step, Stop, fail, skip};
use super::sockets::{Conn, ConnState};
use crate::script::meaning::{
    AckMeaning, Anchor, OptionMeaning, OptionsMeaning, SegmentMeaning, SeqRef, Side,
    TimestampMeaning, icmp_echoed_seq,
};
use crate::script::packet::{
    FastOpenCookie, IcmpEchoed, IcmpPacket, IcmpVersion, IpInfo, Packet, PacketBody, Ports,
    TcpOptionKind, TcpPacket, TosSpec,
};
use crate::script::timing::{self, Due, ResolvedTime};

/// The TTL of injected packets when the script gives none.
const INBOUND_TTL: u8 = 64;

impl<'s> Runner<'s> {
    // ---- which connection -------------------------------------------------

    /// A child of a listening socket for the script's first packet to it
    /// (run_packet.c `handle_listen_for_script_packet`).
    fn new_child(&mut self, remote_isn: u32, remote_port: Option<u16>) -> usize {
        let port = remote_port.unwrap_or(self.next_remote_port);
        if remote_port.is_none() {
            self.next_remote_port = self.next_remote_port.wrapping_add(1).max(1024);
        }
        let mut conn = Conn::new(
            ConnState::PassivePacketReceived,
            SocketAddrV4::new(self.local_ip, self.bind_port),
            SocketAddrV4::new(self.remote_ip, port),
        );
        conn.remote_isn = remote_isn;
        self.conns.push(conn);
        let index = self.conns.len() - 1;
        self.sut = Some(index);
        index
    }

    /// The connection an inbound TCP packet goes to, creating a listener's
    /// child when the socket under test listens.
    fn conn_for_inbound_tcp(&mut self, seq: u32, ports: Option<Ports>) -> usize {
        if let Some(p) = ports {
            // The runner's extension: `< SRC>DST ...` names a connection by
            // its ports, so one script can hold several at once (a listener's
            // queues). A new source port to a listening port is a new child.
            if let Some(i) = self.conn_by_ports(p.dst, p.src) {
                // The connection a script just spoke on is the one it means
                // next (by `%{ }%` blocks and unported lines).
                self.sut = Some(i);
                return i;
            }
            let listening = self
                .conns
                .iter()
                .any(|c| c.state == ConnState::Listening && c.live_local.port() == p.dst);
            if listening || self.sut.is_none() {
                return self.new_child(seq, Some(p.src));
            }
        }
        match self.sut {
            Some(i) if self.conns[i].state != ConnState::Listening => i,
            _ => self.new_child(seq, None),
        }
    }

    /// The newest connection with these live ports (ours, the script host's).
    fn conn_by_ports(&self, local: u16, remote: u16) -> Option<usize> {
        self.conns.iter().rposition(|c| {
            c.state != ConnState::Listening
                && c.live_local.port() == local
                && c.live_remote.port() == remote
        })
    }

    /// Whether synack's packet belongs to `conn` (its live 4-tuple, or its
    /// SYN when it is connecting: run_packet.c `find_socket_for_live_packet`
    /// and `find_connect_for_live_packet`).
    pub fn packet_is_for(&self, conn: &Conn, sent: &Sent) -> bool {
        let Some((src, dst)) = sent.tuple() else {
            return matches!(sent.body, frames::SentBody::Icmp { .. })
                && sent.dst == *conn.live_remote.ip();
        };
        if dst != conn.live_remote {
            return false;
        }
        if conn.live_local.port() != 0 && src == conn.live_local {
            return true;
        }
        let connecting_syn = sent
            .tcp()
            .is_some_and(|t| t.flags.has(RawFlags::SYN) && !t.flags.has(RawFlags::ACK));
        conn.state == ConnState::ActiveSynSent && connecting_syn
    }

    // ---- inbound ------------------------------------------------------------

    /// Builds the live packet for a `<` line and injects it.
    pub fn inject(&mut self, p: &Packet) -> Step<()> {
        if !p.encapsulation.is_empty() {
            return skip(
                "encapsulated packets (IPv4/IPv6-in-IP, GRE, MPLS): synack has no tunnels",
            );
        }
        let (tos, ttl) = self.inbound_ip_fields(&p.ip)?;
        // A GRO super-packet's segment size, for a TCP payload beyond `--mss`.
        let mut gso_size = None;
        let frame = match &p.body {
            PacketBody::Tcp(t) => {
                let (frame, gso) = self.inbound_tcp(p, t, tos, ttl)?;
                gso_size = gso;
                frame
            }
            PacketBody::Udp(u) => {
                let Some(sut) = self.sut else {
                    return fail(self.line, "no matching socket for script packet");
                };
                let conn = &self.conns[sut];
                let (src, dst) = match u.ports {
                    Some(ports) => (
                        SocketAddrV4::new(self.remote_ip, ports.src),
                        SocketAddrV4::new(self.local_ip, ports.dst),
                    ),
                    None => (conn.live_remote, conn.live_local),
                };
                frames::udp_frame(src, dst, usize::from(u.len), tos, ttl)
            }
            PacketBody::Icmp(i) => self.inbound_icmp(i)?,
        };
        self.log(|| format!("inject {p}"));
        self.net.inject(&frame, gso_size).map_err(|e| Stop::Fail {
            line: self.line,
            message: e,
        })?;
        self.settle()
    }

    fn inbound_ip_fields(&self, ip: &IpInfo) -> Step<(u8, u8)> {
        let tos = match ip.tos() {
            None => 0,
            Some(TosSpec::Ecn(e)) => e.bits(),
            Some(TosSpec::Tos(t)) => t,
            Some(TosSpec::Ect01) => {
                return fail(self.line, "ect01 is for outbound packets only");
            }
        };
        if ip.flow_label().is_some() {
            return skip("IPv6 flow labels: synack has no IPv6");
        }
        Ok((tos, ip.ttl().unwrap_or(INBOUND_TTL)))
    }

    /// The frame for an inbound TCP packet and, for a payload larger than
    /// `--mss`, the GSO size it goes in with: packetdrill then writes it to
    /// its TUN as a GRO super-packet (virtio-net `gso_size` = `--mss`), and
    /// the kernel's TCP counts it as that many segments.
    fn inbound_tcp(
        &mut self,
        p: &Packet,
        t: &TcpPacket,
        tos: u8,
        ttl: u8,
    ) -> Step<(Vec<u8>, Option<u16>)> {
        if t.psp_spi.is_some() {
            return skip("PSP encapsulation: synack has no PSP");
        }
        let Some(m) = SegmentMeaning::of(p) else {
            return fail(self.line, "not a TCP packet");
        };
        let index = self.conn_for_inbound_tcp(t.seq.value.start, t.ports);
        let flags = m.flags;
        {
            let conn = &mut self.conns[index];
            if conn.state == ConnState::PassiveSynAckSent && flags.ack {
                conn.state = ConnState::PassiveSynAckAcked;
            } else if conn.state == ConnState::ActiveSynSent && flags.syn && flags.ack {
                conn.state = ConnState::ActiveSynAcked;
                conn.remote_isn = t.seq.value.start;
            }
        }
        let gso_size = self.gro_mss.filter(|&mss| m.payload_len > mss);
        let conn = &self.conns[index];
        let isns = conn.isns();
        let ack = match m.ack {
            AckMeaning::Mapped(r) => r.to_wire(&isns).raw(),
            AckMeaning::Raw(v) => v,
        };
        let mut options = Vec::new();
        match &m.options {
            OptionsMeaning::Any => return fail(self.line, "<...> is for outbound packets only"),
            OptionsMeaning::Exact(list) => {
                for o in list {
                    match o {
                        OptionMeaning::Sack(blocks) => {
                            options.extend_from_slice(&[kind::SACK, (2 + 8 * blocks.len()) as u8]);
                            for (l, r) in blocks {
                                options.extend_from_slice(&l.to_wire(&isns).raw().to_be_bytes());
                                options.extend_from_slice(&r.to_wire(&isns).raw().to_be_bytes());
                            }
                        }
                        OptionMeaning::Timestamp(TimestampMeaning::Inbound {
                            val,
                            ecr,
                            ecr_mapped,
                        }) => {
                            let ecr = if *ecr_mapped {
                                conn.ts
                                    .inbound_ecr(*ecr, self.timing.tcp_ts_ecr_scaled)
                                    .or_else(|e| fail(self.line, e))?
                            } else {
                                *ecr
                            };
                            options.extend_from_slice(&[kind::TIMESTAMP, 10]);
                            options.extend_from_slice(&val.to_be_bytes());
                            options.extend_from_slice(&ecr.to_be_bytes());
                        }
                        OptionMeaning::Timestamp(TimestampMeaning::Outbound { .. }) => {
                            return fail(self.line, "outbound timestamp in an inbound packet");
                        }
                        OptionMeaning::Plain(k) => options.extend(self.plain_option_bytes(k)?),
                    }
                }
            }
        }
        let (src, dst) = match t.ports {
            Some(ports) => (
                SocketAddrV4::new(*conn.live_remote.ip(), ports.src),
                SocketAddrV4::new(*conn.live_local.ip(), ports.dst),
            ),
            None => (conn.live_remote, conn.live_local),
        };
        let dst = if dst.port() == 0 {
            SocketAddrV4::new(*dst.ip(), self.bind_port)
        } else {
            dst
        };
        let seg = InboundTcp {
            src,
            dst,
            seq: m.seq.to_wire(&isns).raw(),
            ack,
            flags: RawFlags::from_script(&flags),
            window: m.window.unwrap_or(0),
            urg: m.urg_ptr,
            options,
            payload_len: usize::from(m.payload_len),
            tos,
            ttl,
        };
        Ok((seg.to_frame(), gso_size))
    }

    /// Bytes of an option the runner sends or compares as written.
    fn plain_option_bytes(&self, k: &TcpOptionKind) -> Step<Vec<u8>> {
        Ok(match k {
            TcpOptionKind::Eol => vec![kind::EOL],
            TcpOptionKind::Nop => vec![kind::NOP],
            TcpOptionKind::Mss(m) => {
                let b = m.to_be_bytes();
                vec![kind::MSS, 4, b[0], b[1]]
            }
            TcpOptionKind::WindowScale(s) => vec![kind::WSCALE, 3, *s],
            TcpOptionKind::SackPermitted => vec![kind::SACK_OK, 2],
            TcpOptionKind::Sack(blocks) => {
                let mut v = vec![kind::SACK, (2 + 8 * blocks.len()) as u8];
                for b in blocks {
                    v.extend_from_slice(&b.left.to_be_bytes());
                    v.extend_from_slice(&b.right.to_be_bytes());
                }
                v
            }
            TcpOptionKind::Timestamp { val, ecr } => {
                let mut v = vec![kind::TIMESTAMP, 10];
                v.extend_from_slice(&val.to_be_bytes());
                v.extend_from_slice(&ecr.to_be_bytes());
                v
            }
            TcpOptionKind::Md5(d) => {
                let mut v = vec![kind::MD5, (2 + d.len()) as u8];
                v.extend_from_slice(d);
                v
            }
            TcpOptionKind::FastOpen(c) => {
                let cookie = self.cookie_bytes(c)?;
                let mut v = vec![kind::FAST_OPEN, (2 + cookie.len()) as u8];
                v.extend(cookie);
                v
            }
            TcpOptionKind::FastOpenExp(c) => {
                let cookie = self.cookie_bytes(c)?;
                let mut v = vec![kind::EXPERIMENTAL, (4 + cookie.len()) as u8];
                v.extend_from_slice(&kind::FAST_OPEN_MAGIC.to_be_bytes());
                v.extend(cookie);
                v
            }
            TcpOptionKind::AccEcn(_) => {
                return skip("the AccECN option: synack has no Accurate ECN");
            }
        })
    }

    /// A Fast Open cookie's bytes. `TFO_COOKIE`, which packetdrill's test
    /// harness defines, is the cookie synack's server computes for the
    /// script host (RFC 7413 §4.1.2, Linux's SipHash of the addresses).
    fn cookie_bytes(&self, c: &FastOpenCookie) -> Step<Vec<u8>> {
        match c {
            FastOpenCookie::Request => Ok(Vec::new()),
            FastOpenCookie::Bytes(b) => Ok(b.clone()),
            FastOpenCookie::Named(name) if name == "TFO_COOKIE" => {
                let Some(key) = self.net.stack.config().tcp_fastopen_key.clone() else {
                    return skip(
                        "TFO_COOKIE without tcp_fastopen_key: the runner cannot compute the \
                         server's cookie from a random key",
                    );
                };
                let keys = FastOpenKeys::parse_sysctl(&key).map_err(|e| Stop::Fail {
                    line: self.line,
                    message: format!("tcp_fastopen_key {key}: {e:?}"),
                })?;
                Ok(keys.cookie(self.remote_ip, self.local_ip).to_vec())
            }
            FastOpenCookie::Named(name) => fail(
                self.line,
                format!("Fast Open cookie `{name}` is not defined (-D {name}=...)"),
            ),
        }
    }

    fn inbound_icmp(&mut self, i: &IcmpPacket) -> Step<Vec<u8>> {
        let (ty, code) = i
            .type_and_code(IcmpVersion::V4)
            .or_else(|e| fail(self.line, e))?;
        let Some(sut) = self.sut else {
            return fail(self.line, "no matching socket for script packet");
        };
        let conn = &self.conns[sut];
        let mut rest = [0u8; 4];
        if let Some(mtu) = i.mtu {
            rest[2..].copy_from_slice(&(mtu as u16).to_be_bytes());
        }
        if let Some(id) = i.echo_id {
            rest[..2].copy_from_slice(&id.to_be_bytes());
        }
        // The quoted packet: as synack would have sent it.
        let quoted = match i.echoed {
            None => Vec::new(),
            Some(IcmpEchoed::Tcp(range)) => {
                let seq = icmp_echoed_seq(i)
                    .map(|r| r.to_wire(&conn.isns()).raw())
                    .unwrap_or(range.start);
                InboundTcp {
                    src: conn.live_local,
                    dst: conn.live_remote,
                    seq,
                    ack: 0,
                    flags: RawFlags {
                        byte13: RawFlags::ACK,
                        ae: false,
                    },
                    window: 0,
                    urg: 0,
                    options: Vec::new(),
                    payload_len: usize::from(range.len),
                    tos: 0,
                    ttl: 64,
                }
                .to_frame()
            }
            Some(IcmpEchoed::Udp(len)) => {
                frames::udp_frame(conn.live_local, conn.live_remote, usize::from(len), 0, 64)
            }
            Some(IcmpEchoed::Raw(_)) => {
                return skip("ICMP quoting a raw IP packet: synack has no raw sockets");
            }
        };
        // RFC 792: the IP header plus at least 64 bits of the datagram;
        // quote the header and the whole transport header.
        let quoted_len = quoted.len().min(20 + 20);
        Ok(frames::icmp_error_frame(
            self.remote_ip,
            self.local_ip,
            ty,
            code,
            rest,
            &quoted[..quoted_len],
        ))
    }

    // ---- outbound -----------------------------------------------------------

    /// A `>` line: claim synack's next packets for the connection under
    /// test (several, if their payloads add up) and compare.
    pub fn expect(&mut self, p: &Packet, resolved: &ResolvedTime) -> Step<()> {
        if !p.encapsulation.is_empty() {
            return skip(
                "encapsulated packets (IPv4/IPv6-in-IP, GRE, MPLS): synack has no tunnels",
            );
        }
        let ported = p
            .tcp()
            .and_then(|t| t.ports)
            .and_then(|ports| self.conn_by_ports(ports.src, ports.dst));
        let Some(sut) = ported.or(self.sut) else {
            return fail(self.line, "no matching socket for script packet");
        };
        let expected_len = match &p.body {
            PacketBody::Tcp(t) => {
                if t.psp_spi.is_some() {
                    return skip("PSP encapsulation: synack has no PSP");
                }
                let f = t.flags.value;
                // Classic ECN (ECE, CWR) is checked like any flag; the AE
                // bit and ACE counters are Accurate ECN's.
                if f.ae || f.ace.is_some_and(|a| a != 0) {
                    return skip(format!(
                        "Accurate ECN: line {} expects the AE bit or an ACE counter from \
                         synack, which has classic ECN (RFC 3168) only",
                        self.line
                    ));
                }
                let conn = &mut self.conns[sut];
                if f.syn && !f.ack && conn.state == ConnState::ActiveConnecting {
                    conn.state = ConnState::ActiveSynSent;
                    conn.local_isn_script = t.seq.value.start;
                }
                if f.syn && f.ack && conn.state == ConnState::PassivePacketReceived {
                    conn.local_isn_script = t.seq.value.start;
                }
                usize::from(t.seq.value.len)
            }
            PacketBody::Udp(u) => usize::from(u.len),
            PacketBody::Icmp(_) => 0,
        };
        let latest = match resolved.due {
            Due::At(t) => Some(t),
            Due::Within(_, b) => Some(b),
            Due::Any => None,
        };
        let deadline = latest.map(|t| t.max(self.net.now) + SNIFF_SLACK);
        let frags = self.sniff(sut, p, expected_len, deadline)?;
        let Some(last) = frags.last() else {
            return fail(
                self.line,
                "timed out waiting for packet (runner bug: no fragments)",
            );
        };
        let at = last.at;
        match (&p.body, &last.packet.body) {
            (PacketBody::Tcp(t), frames::SentBody::Tcp(_)) => {
                let actual = aggregate(&frags);
                self.learn_isn(sut, t, &frags[0].packet);
                let packet = Sent {
                    body: frames::SentBody::Tcp(actual),
                    ..last.packet.clone()
                };
                self.verify_tcp(sut, p, &packet, at, resolved)?;
            }
            (PacketBody::Udp(_), frames::SentBody::Udp { .. }) => {
                self.verify_time(p, &last.packet, sut, at, resolved)?;
            }
            (PacketBody::Icmp(i), frames::SentBody::Icmp { icmp_type, code }) => {
                let (ty, c) = i
                    .type_and_code(IcmpVersion::V4)
                    .or_else(|e| fail(self.line, e))?;
                if (ty, c) != (*icmp_type, *code) {
                    let text = self.describe_actual(sut, &last.packet, at);
                    return fail(
                        self.line,
                        format!(
                            "live packet field icmp type/code: expected: {ty}/{c} vs actual: \
                             {icmp_type}/{code}\n  script packet: {p}\n  actual packet: {text}"
                        ),
                    );
                }
                self.verify_time(p, &last.packet, sut, at, resolved)?;
            }
            _ => {
                let text = self.describe_actual(sut, &last.packet, at);
                return fail(
                    self.line,
                    format!(
                        "live packet is another protocol than the script's\n  script packet: \
                         {p}\n  actual packet: {text}"
                    ),
                );
            }
        }
        let shown = match (&p.body, frags.len()) {
            (PacketBody::Tcp(_), n) if n > 1 => Sent {
                body: frames::SentBody::Tcp(aggregate(&frags)),
                ..last.packet.clone()
            },
            _ => last.packet.clone(),
        };
        let text = self.describe_actual(sut, &shown, at);
        let line = self.line;
        let n = frags.len();
        self.log(|| {
            if n > 1 {
                format!("sent    {text}  ({n} segments, match line {line})")
            } else {
                format!("sent    {text}  (matches line {line})")
            }
        });
        Ok(())
    }

    /// Our ISN, from the SYN or SYN-ACK the script expected.
    fn learn_isn(&mut self, sut: usize, t: &TcpPacket, first: &Sent) {
        let Some(tcp) = first.tcp() else { return };
        let f = t.flags.value;
        let conn = &mut self.conns[sut];
        if f.syn && f.ack && conn.state == ConnState::PassivePacketReceived {
            conn.state = ConnState::PassiveSynAckSent;
            conn.local_isn_live = Some(synack_proto::SeqNum(tcp.seq));
        }
    }

    /// Takes synack's packets for connection `sut` until their payloads add
    /// up to `expected_len`, waiting on the clock up to `deadline`.
    fn sniff(
        &mut self,
        sut: usize,
        p: &Packet,
        expected_len: usize,
        deadline: Option<synack_proto::Instant>,
    ) -> Step<Vec<Captured>> {
        let mut frags: Vec<Captured> = Vec::new();
        let mut total = 0usize;
        let horizon = self.net.now + super::runner::MAX_BLOCK;
        loop {
            while let Some(c) = self.net.sent.pop_front() {
                if !self.packet_is_for(&self.conns[sut], &c.packet) {
                    let text = format!("{:?}", c.packet.tuple());
                    self.log(|| format!("ignored a packet for another connection {text}"));
                    continue;
                }
                // A connecting socket learns its port and ISN from its SYN.
                if let Some(tcp) = c.packet.tcp() {
                    let conn = &mut self.conns[sut];
                    if conn.state == ConnState::ActiveSynSent
                        && tcp.flags.has(RawFlags::SYN)
                        && !tcp.flags.has(RawFlags::ACK)
                    {
                        conn.live_local = SocketAddrV4::new(c.packet.src, tcp.src_port);
                        conn.local_isn_live = Some(synack_proto::SeqNum(tcp.seq));
                    }
                }
                let len = payload_len(&c.packet);
                if let Some(prev) = frags.last()
                    && let Err(e) = fragment_fits(&prev.packet, &c.packet, total, expected_len)
                {
                    let mut msg = format!("{e}\n  script packet: {p}");
                    for (n, f) in frags.iter().chain(core::iter::once(&c)).enumerate() {
                        let _ = write!(
                            msg,
                            "\n  actual #{n}: {}",
                            self.describe_actual(sut, &f.packet, f.at)
                        );
                    }
                    return fail(self.line, msg);
                }
                total += len;
                frags.push(c);
                // Only data segments add up: a bare segment (an early ACK)
                // is compared as it is. packetdrill would glue it to the
                // data after it, hiding the extra packet.
                if total >= expected_len || len == 0 {
                    break;
                }
            }
            let bare = frags.len() == 1 && total == 0;
            if !frags.is_empty() && (total >= expected_len || bare) {
                if bare && expected_len > 0 {
                    return Ok(frags);
                }
                if total != expected_len {
                    let last = frags.last().map(|f| (f.packet.clone(), f.at));
                    let mut msg = format!(
                        "live packet payload: expected {expected_len} bytes vs actual {total} bytes\n  script packet: {p}"
                    );
                    if let Some((packet, at)) = last {
                        let _ = write!(
                            msg,
                            "\n  actual packet: {}",
                            self.describe_actual(sut, &packet, at)
                        );
                    }
                    return fail(self.line, msg);
                }
                return Ok(frags);
            }
            // Wait for synack to send more.
            let limit = deadline.unwrap_or(horizon);
            if self.step_to_next_event(limit)? {
                self.settle()?;
            } else {
                self.net.set_clock(limit);
                self.settle()?;
                if self.net.sent.is_empty() {
                    let mut msg = String::from("timed out waiting for packet");
                    if !frags.is_empty() {
                        msg = format!(
                            "live packet payload: expected {expected_len} bytes vs actual {total} bytes (no more packets)"
                        );
                    }
                    let _ = write!(msg, "\n  script packet: {p}");
                    return fail(self.line, msg);
                }
            }
        }
    }

    /// Compares an outbound TCP packet (mapped into script terms) with the
    /// script's, as run_packet.c `verify_outbound_live_packet` does.
    fn verify_tcp(
        &mut self,
        sut: usize,
        p: &Packet,
        sent: &Sent,
        at: synack_proto::Instant,
        resolved: &ResolvedTime,
    ) -> Step<()> {
        let Some(m) = SegmentMeaning::of(p) else {
            return fail(self.line, "not a TCP packet");
        };
        let Some(actual) = sent.tcp() else {
            return fail(self.line, "not a TCP packet");
        };
        // TS val mapping first (run_packet.c `map_outbound_live_packet`).
        let script_ts = match &m.options {
            OptionsMeaning::Exact(list) => list.iter().find_map(|o| match o {
                OptionMeaning::Timestamp(TimestampMeaning::Outbound { val, .. }) => Some(*val),
                _ => None,
            }),
            OptionsMeaning::Any => None,
        };
        let actual_opts = frames::split_options(&actual.options)
            .or_else(|e| fail(self.line, format!("synack sent malformed TCP options: {e}")))?;
        let actual_ts = actual_opts.iter().find_map(|(k, b)| {
            (*k == kind::TIMESTAMP && b.len() == 10).then(|| (be32(&b[2..6]), be32(&b[6..10])))
        });
        let mapped_ts_val = match (script_ts, actual_ts) {
            (Some(sv), Some((av, _))) => Some(self.conns[sut].ts.record_outbound(sv, av)),
            _ => None,
        };
        let isns = self.conns[sut].isns();
        let actual_syn = actual.flags.has(RawFlags::SYN);
        let anchor = if actual_syn {
            Anchor::ScriptIsn
        } else {
            Anchor::Isn
        };
        let seq = SeqRef::from_wire(synack_proto::SeqNum(actual.seq), Side::Local, anchor, &isns);
        let ack = if actual.flags.has(RawFlags::ACK) {
            SeqRef::from_wire(
                synack_proto::SeqNum(actual.ack),
                Side::Remote,
                anchor,
                &isns,
            )
            .value
        } else {
            actual.ack
        };
        let script_flags = RawFlags::from_script(&m.flags);
        let script_tcp = p.tcp().expect("a TCP packet has a TCP body");
        let mismatch = |field: &str, expected: u64, actual_v: u64| -> String {
            format!(
                "live packet field {field}: expected: {expected} ({expected:#x}) vs actual: \
                 {actual_v} ({actual_v:#x})"
            )
        };
        let mut error = None;
        let checks: [(&str, u8); 8] = [
            ("tcp_fin", RawFlags::FIN),
            ("tcp_syn", RawFlags::SYN),
            ("tcp_rst", RawFlags::RST),
            ("tcp_psh", RawFlags::PSH),
            ("tcp_ack", RawFlags::ACK),
            ("tcp_urg", RawFlags::URG),
            ("tcp_ece", RawFlags::ECE),
            ("tcp_cwr", RawFlags::CWR),
        ];
        if let Some(ace) = m.flags.checked_ace() {
            let actual_ace = u8::from(actual.flags.ae) << 2
                | u8::from(actual.flags.has(RawFlags::CWR)) << 1
                | u8::from(actual.flags.has(RawFlags::ECE));
            if actual_ace != ace {
                error = Some(mismatch("tcp_ace", ace.into(), actual_ace.into()));
            }
        }
        for (name, bit) in checks {
            if error.is_some() {
                break;
            }
            if m.flags.checked_ace().is_some() && (bit == RawFlags::ECE || bit == RawFlags::CWR) {
                continue;
            }
            let (e, a) = (script_flags.has(bit), actual.flags.has(bit));
            if e != a {
                error = Some(mismatch(name, e.into(), a.into()));
            }
        }
        if error.is_none() && m.flags.checked_ace().is_none() && script_flags.ae != actual.flags.ae
        {
            error = Some(mismatch(
                "tcp_ae",
                script_flags.ae.into(),
                actual.flags.ae.into(),
            ));
        }
        if error.is_none() && seq.value != m.seq.value {
            error = Some(mismatch("tcp_seq", m.seq.value.into(), seq.value.into()));
        }
        let script_ack = script_tcp.ack.map_or(0, |a| a.value);
        if error.is_none() && ack != script_ack {
            error = Some(mismatch("tcp_ack_seq", script_ack.into(), ack.into()));
        }
        if let (None, Some(w)) = (&error, m.window)
            && w != actual.window
        {
            error = Some(mismatch("tcp_window", w.into(), actual.window.into()));
        }
        if error.is_none() && m.urg_ptr != actual.urg {
            error = Some(mismatch("tcp_urg_ptr", m.urg_ptr.into(), actual.urg.into()));
        }
        if error.is_none() && usize::from(m.payload_len) != actual.payload_len {
            error = Some(mismatch(
                "tcp_payload_len",
                m.payload_len.into(),
                actual.payload_len as u64,
            ));
        }
        if error.is_none() {
            error = self.ip_field_error(&p.ip, sent);
        }
        if error.is_none()
            && let OptionsMeaning::Exact(list) = &m.options
        {
            error = self.options_error(list, &actual_opts, mapped_ts_val, &isns, anchor)?;
        }
        if let Some(e) = error {
            let text = self.describe_actual(sut, sent, at);
            return fail(
                self.line,
                format!("{e}\n  script packet: {p}\n  actual packet: {text}"),
            );
        }
        self.verify_time(p, sent, sut, at, resolved)
    }

    fn verify_time(
        &mut self,
        p: &Packet,
        sent: &Sent,
        sut: usize,
        at: synack_proto::Instant,
        resolved: &ResolvedTime,
    ) -> Step<()> {
        if let Err(e) = timing::check(&self.timing, resolved, self.previous, at) {
            let text = self.describe_actual(sut, sent, at);
            return fail(
                self.line,
                format!(
                    "timing error: outbound packet {e}\n  script packet: {p}\n  actual packet: {text}"
                ),
            );
        }
        Ok(())
    }

    /// The scripted `(tos ...)`, `(ecn)` and `[ttl N]` of an outbound packet.
    fn ip_field_error(&self, ip: &IpInfo, sent: &Sent) -> Option<String> {
        let ecn = sent.tos & 3;
        match ip.tos() {
            Some(TosSpec::Ecn(e)) if e.bits() != ecn => {
                return Some(format!(
                    "live packet field ip_ecn: expected: {:#x} vs actual: {ecn:#x}",
                    e.bits()
                ));
            }
            Some(TosSpec::Ect01) if ecn != 1 && ecn != 2 => {
                return Some(format!(
                    "live packet field ip_ecn: expected: 0x1 or 0x2 vs actual: {ecn:#x}"
                ));
            }
            Some(TosSpec::Tos(t)) if t != sent.tos => {
                return Some(format!(
                    "live packet field tos: expected: {t:#x} vs actual: {:#x}",
                    sent.tos
                ));
            }
            _ => {}
        }
        match ip.ttl() {
            Some(t) if t != sent.ttl => Some(format!(
                "live packet field ttl: expected: {t} vs actual: {}",
                sent.ttl
            )),
            _ => None,
        }
    }

    /// Options in order: same kinds, TS val within tolerance (when
    /// `--tcp_ts_tick_usecs` is set), everything else byte for byte with
    /// SACK blocks in script terms.
    fn options_error(
        &self,
        script: &[OptionMeaning],
        actual: &[(u8, &[u8])],
        mapped_ts_val: Option<u32>,
        isns: &crate::script::meaning::Isns,
        anchor: Anchor,
    ) -> Step<Option<String>> {
        if script.len() != actual.len() {
            return Ok(Some("bad outbound TCP options".into()));
        }
        let since_start = self.net.since_start();
        for (s, (k, bytes)) in script.iter().zip(actual) {
            let expected: Vec<u8> = match s {
                OptionMeaning::Timestamp(TimestampMeaning::Outbound { val, .. }) => {
                    if *k != kind::TIMESTAMP {
                        return Ok(Some("bad outbound TCP options".into()));
                    }
                    let actual_val = mapped_ts_val.unwrap_or(be32(&bytes[2..6]));
                    if !self.timing.ts_val_ok(*val, actual_val, since_start) {
                        let tol = self.timing.tolerance.total_micros();
                        return Ok(Some(format!(
                            "bad outbound TCP timestamp value, tolerance {tol}: expected: {val} \
                             vs actual: {actual_val}"
                        )));
                    }
                    continue;
                }
                OptionMeaning::Timestamp(TimestampMeaning::Inbound { .. }) => {
                    return Ok(Some("bad outbound TCP options".into()));
                }
                OptionMeaning::Sack(blocks) => {
                    let mut v = vec![kind::SACK, (2 + 8 * blocks.len()) as u8];
                    for (l, r) in blocks {
                        v.extend_from_slice(&l.value.to_be_bytes());
                        v.extend_from_slice(&r.value.to_be_bytes());
                    }
                    v
                }
                OptionMeaning::Plain(kind_) => self.plain_option_bytes(kind_)?,
            };
            if expected.first() != Some(k) {
                return Ok(Some("bad outbound TCP options".into()));
            }
            // SACK blocks synack sent, moved into script terms.
            let actual_bytes: Vec<u8> = if *k == kind::SACK {
                let mut v = bytes[..2].to_vec();
                for w in bytes[2..].chunks_exact(4) {
                    let r = SeqRef::from_wire(
                        synack_proto::SeqNum(be32(w)),
                        Side::Remote,
                        anchor,
                        isns,
                    );
                    v.extend_from_slice(&r.value.to_be_bytes());
                }
                v
            } else {
                bytes.to_vec()
            };
            if actual_bytes != expected {
                let what = if actual_bytes.len() != expected.len() {
                    "bad length"
                } else {
                    "bad value"
                };
                return Ok(Some(format!(
                    "{what} in outbound TCP option (kind={k}): expected: {} actual: {}",
                    option_text(&expected, None),
                    option_text(&actual_bytes, None)
                )));
            }
        }
        Ok(None)
    }

    /// A packet synack sent, in the script's terms and syntax (times are
    /// the script clock).
    pub fn describe_actual(&self, sut: usize, sent: &Sent, at: synack_proto::Instant) -> String {
        let conn = &self.conns[sut];
        let isns = conn.isns();
        let body = match &sent.body {
            frames::SentBody::Tcp(t) => {
                let syn = t.flags.has(RawFlags::SYN);
                let anchor = if syn { Anchor::ScriptIsn } else { Anchor::Isn };
                let seq =
                    SeqRef::from_wire(synack_proto::SeqNum(t.seq), Side::Local, anchor, &isns)
                        .value;
                let mut s = format!(
                    "{} {}:{}({})",
                    t.flags.script_text(),
                    seq,
                    seq.wrapping_add(t.payload_len as u32),
                    t.payload_len
                );
                if t.flags.has(RawFlags::ACK) {
                    let ack =
                        SeqRef::from_wire(synack_proto::SeqNum(t.ack), Side::Remote, anchor, &isns)
                            .value;
                    let _ = write!(s, " ack {ack}");
                }
                let _ = write!(s, " win {}", t.window);
                if t.urg != 0 {
                    let _ = write!(s, " urg {}", t.urg);
                }
                if !t.options.is_empty() {
                    let opts = match frames::split_options(&t.options) {
                        Ok(list) => list
                            .iter()
                            .map(|(k, b)| {
                                if *k == kind::SACK {
                                    let mut v = b[..2].to_vec();
                                    for w in b[2..].chunks_exact(4) {
                                        let r = SeqRef::from_wire(
                                            synack_proto::SeqNum(be32(w)),
                                            Side::Remote,
                                            anchor,
                                            &isns,
                                        );
                                        v.extend_from_slice(&r.value.to_be_bytes());
                                    }
                                    option_text(&v, None)
                                } else {
                                    option_text(b, Some(&conn.ts))
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(","),
                        Err(e) => e,
                    };
                    let _ = write!(s, " <{opts}>");
                }
                s
            }
            frames::SentBody::Udp { len, .. } => format!("udp ({len})"),
            frames::SentBody::Icmp { icmp_type, code } => {
                format!("icmp type_{icmp_type} code_{code}")
            }
            frames::SentBody::Other { protocol } => format!("IP protocol {protocol}"),
        };
        let ip = if sent.tos & 3 != 0 {
            let ecn = ["noecn", "ect1", "ect0", "ce"][usize::from(sent.tos & 3)];
            format!("({ecn}) ")
        } else {
            String::new()
        };
        format!("{at} > {ip}{body}")
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn payload_len(s: &Sent) -> usize {
    match &s.body {
        frames::SentBody::Tcp(t) => t.payload_len,
        frames::SentBody::Udp { len, .. } => *len,
        _ => 0,
    }
}

/// Whether `cur` may follow `prev` inside one scripted super-segment
/// (run_packet.c `verify_packet_fragments`): same connection, the next
/// sequence number, the same header apart from FIN, PSH and CWR, and a
/// full-sized payload unless it is the last piece.
fn fragment_fits(prev: &Sent, cur: &Sent, so_far: usize, expected: usize) -> Result<(), String> {
    let (Some(a), Some(b)) = (prev.tcp(), cur.tcp()) else {
        return Err("aggregate candidate packet is not TCP".into());
    };
    let loose = !(RawFlags::FIN | RawFlags::PSH | RawFlags::CWR);
    let field = |name: &str, x: u64, y: u64| {
        Err(format!(
            "aggregate candidate packet field {name}: expected: {x} vs actual: {y}"
        ))
    };
    if a.flags.byte13 & loose != b.flags.byte13 & loose || a.flags.ae != b.flags.ae {
        return field("tcp_flags", a.flags.byte13.into(), b.flags.byte13.into());
    }
    let next = a.seq.wrapping_add(a.payload_len as u32);
    if b.seq != next {
        return field("tcp_seq", next.into(), b.seq.into());
    }
    if a.ack != b.ack {
        return field("tcp_ack_seq", a.ack.into(), b.ack.into());
    }
    if a.window != b.window {
        return field("tcp_window", a.window.into(), b.window.into());
    }
    if a.options.len() != b.options.len() {
        return field(
            "tcp_data_offset",
            (a.options.len() / 4 + 5) as u64,
            (b.options.len() / 4 + 5) as u64,
        );
    }
    if (so_far + b.payload_len < expected && b.payload_len != a.payload_len) || b.payload_len == 0 {
        return Err(format!(
            "fragment payload: expected {} bytes vs actual {} bytes; total payload: expected {} \
             bytes vs actual {} bytes",
            a.payload_len,
            b.payload_len,
            expected,
            so_far + b.payload_len
        ));
    }
    Ok(())
}

/// One segment standing for several: the last one's header, the first
/// one's sequence number and CWR, all the payload (packet.c
/// `aggregate_packets`).
fn aggregate(frags: &[Captured]) -> SentTcp {
    let first = frags[0].packet.tcp().cloned();
    let last = frags[frags.len() - 1].packet.tcp().cloned();
    let (Some(first), Some(mut last)) = (first, last) else {
        // The caller checked every fragment is TCP.
        return SentTcp {
            src_port: 0,
            dst_port: 0,
            seq: 0,
            ack: 0,
            flags: RawFlags::default(),
            window: 0,
            urg: 0,
            options: Vec::new(),
            payload_len: 0,
        };
    };
    last.seq = first.seq;
    last.flags.byte13 = (last.flags.byte13 & !RawFlags::CWR) | (first.flags.byte13 & RawFlags::CWR);
    last.payload_len = frags.iter().map(|f| payload_len(&f.packet)).sum();
    last
}

/// An option in packetdrill's syntax; a TS val is shown on the script's
/// clock when `ts` knows the mapping.
fn option_text(b: &[u8], ts: Option<&crate::script::meaning::TsMap>) -> String {
    let _ = ts;
    match b.first().copied() {
        Some(kind::EOL) => "eol".into(),
        Some(kind::NOP) => "nop".into(),
        Some(kind::MSS) if b.len() == 4 => format!("mss {}", u16::from_be_bytes([b[2], b[3]])),
        Some(kind::WSCALE) if b.len() == 3 => format!("wscale {}", b[2]),
        Some(kind::SACK_OK) => "sackOK".into(),
        Some(kind::SACK) => {
            let blocks: Vec<String> = b[2..]
                .chunks_exact(8)
                .map(|c| format!("{}:{}", be32(&c[..4]), be32(&c[4..])))
                .collect();
            format!("sack {}", blocks.join(" "))
        }
        Some(kind::TIMESTAMP) if b.len() == 10 => {
            format!("TS val {} ecr {}", be32(&b[2..6]), be32(&b[6..10]))
        }
        Some(kind::FAST_OPEN) => {
            if b.len() == 2 {
                "FO".into()
            } else {
                format!("FO {}", hex(&b[2..]))
            }
        }
        Some(kind::EXPERIMENTAL)
            if b.len() >= 4 && b[2..4] == kind::FAST_OPEN_MAGIC.to_be_bytes() =>
        {
            if b.len() == 4 {
                "FOEXP".into()
            } else {
                format!("FOEXP {}", hex(&b[4..]))
            }
        }
        Some(k) => format!("kind {k} ({} bytes)", b.len()),
        None => String::new(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
