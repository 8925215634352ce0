//! ICMP policy: what an incoming ICMP error means to TCP and UDP, when we may
//! send one, how replies are built, and how fast we may send them.
//!
//! Read before touching: RFC 792 (message formats), RFC 1122 §3.2.2 (when a
//! host must not send an ICMP error; quoting), §4.2.3.9 (TCP's soft and hard
//! errors), RFC 1191 §5 and §7 (fragmentation needed, plateau table),
//! RFC 1812 §4.3.2.8 (rate limiting), RFC 5461 (aborting connection attempts
//! on soft errors), RFC 5927 (ICMP attacks on TCP: validate before acting),
//! RFC 6633 (ignore source quench).
//!
//! Error conversion follows Linux's `icmp_err_convert` table: each
//! destination-unreachable code maps to an errno and a "fatal" bit. The
//! policies built on it ([`tcp_action`], [`udp_error`]) are Linux's and are
//! documented at each function.
//!
//! Sequence-number validation of a quoted TCP segment (RFC 5927 §4.1) is the
//! connection's job: [`TransportError::tcp_seq`] gives it the number.

use core::fmt;
use core::hash::BuildHasher;
use core::net::Ipv4Addr;

use super::KeyedHasher;
use super::addr::{Destination, is_reserved, is_zero_net};
use crate::config::Config;
use crate::rng::Rng;
use crate::siphash::SipKey;
use crate::tcp::seq::SeqNum;
use crate::time::{Duration, Instant};
use crate::wire::checksum::Checksum;
use crate::wire::icmpv4::{self, DstUnreachable, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet, Ipv4Repr};

/// ICMP message types used here (RFC 792).
pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
    /// The highest type Linux knows (address mask reply).
    pub const MAX_KNOWN: u8 = 18;
}

/// RFC 1812 §4.3.2.3 / RFC 1122 §3.2.2: an error datagram (IP header
/// included) is at most 576 bytes, the size every host must accept; it quotes
/// as much of the offending datagram as fits, as Linux does.
pub const MAX_ERROR_DATAGRAM: usize = 576;

/// RFC 791: every host must accept 68-byte datagrams; no path MTU is lower.
pub const MIN_MTU: u16 = 68;

/// What an ICMP error means to a socket, as the errno Linux reports
/// (`icmp_err_convert` and `tcp_v4_err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpErrno {
    /// ENETUNREACH
    NetUnreachable,
    /// EHOSTUNREACH
    HostUnreachable,
    /// ENOPROTOOPT (protocol unreachable)
    ProtocolUnreachable,
    /// ECONNREFUSED (port unreachable)
    ConnectionRefused,
    /// EMSGSIZE (fragmentation needed)
    MessageTooLong,
    /// EOPNOTSUPP (source route failed)
    SourceRouteFailed,
    /// EHOSTDOWN (destination host unknown)
    HostDown,
    /// ENONET (source host isolated)
    NoNetwork,
    /// EPROTO (parameter problem)
    ProtocolError,
}

impl IcmpErrno {
    /// The Linux errno number, for `io::Error::from_raw_os_error` at the
    /// runtime edge.
    pub const fn linux_errno(self) -> i32 {
        match self {
            IcmpErrno::NetUnreachable => 101,
            IcmpErrno::HostUnreachable => 113,
            IcmpErrno::ProtocolUnreachable => 92,
            IcmpErrno::ConnectionRefused => 111,
            IcmpErrno::MessageTooLong => 90,
            IcmpErrno::SourceRouteFailed => 95,
            IcmpErrno::HostDown => 112,
            IcmpErrno::NoNetwork => 64,
            IcmpErrno::ProtocolError => 71,
        }
    }
}

impl fmt::Display for IcmpErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IcmpErrno::NetUnreachable => "network unreachable",
            IcmpErrno::HostUnreachable => "host unreachable",
            IcmpErrno::ProtocolUnreachable => "protocol not available",
            IcmpErrno::ConnectionRefused => "connection refused",
            IcmpErrno::MessageTooLong => "message too long",
            IcmpErrno::SourceRouteFailed => "operation not supported",
            IcmpErrno::HostDown => "host is down",
            IcmpErrno::NoNetwork => "machine is not on the network",
            IcmpErrno::ProtocolError => "protocol error",
        })
    }
}

/// The kind of an incoming ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpErrorKind {
    /// Destination unreachable, any code but 4.
    DstUnreachable(DstUnreachable),
    /// Destination unreachable code 4: the datagram was too big and had DF.
    FragNeeded {
        /// RFC 1191 next-hop MTU; zero from routers that predate RFC 1191.
        next_hop_mtu: u16,
    },
    TimeExceeded(TimeExceeded),
    /// Parameter problem (type 12), with the octet pointer.
    ParamProblem {
        pointer: u8,
    },
}

/// An incoming ICMP error, converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    pub kind: IcmpErrorKind,
    pub errno: IcmpErrno,
    /// Linux's "fatal" bit (RFC 1122 §4.2.3.9 hard error): protocol and port
    /// unreachable, unknown/prohibited destinations, parameter problems.
    pub fatal: bool,
}

impl IcmpError {
    /// The ICMP type and code the error came as.
    pub fn type_code(&self) -> (u8, u8) {
        match self.kind {
            IcmpErrorKind::DstUnreachable(reason) => (msg_type::DST_UNREACHABLE, reason.into()),
            IcmpErrorKind::FragNeeded { .. } => (msg_type::DST_UNREACHABLE, 4),
            IcmpErrorKind::TimeExceeded(reason) => (msg_type::TIME_EXCEEDED, reason.into()),
            IcmpErrorKind::ParamProblem { .. } => (msg_type::PARAM_PROBLEM, 0),
        }
    }

    /// The conversion of a destination-unreachable code (Linux's
    /// `icmp_err_convert`; RFC 1122 §3.2.2.1 makes codes 0, 1 and 5 soft).
    /// `None` for codes above 15, which Linux ignores.
    pub fn from_dst_unreachable(reason: DstUnreachable, next_hop_mtu: u16) -> Option<Self> {
        use DstUnreachable::*;
        let (errno, fatal) = match reason {
            NetUnreachable => (IcmpErrno::NetUnreachable, false),
            HostUnreachable => (IcmpErrno::HostUnreachable, false),
            ProtoUnreachable => (IcmpErrno::ProtocolUnreachable, true),
            PortUnreachable => (IcmpErrno::ConnectionRefused, true),
            FragRequired => {
                return Some(IcmpError {
                    kind: IcmpErrorKind::FragNeeded { next_hop_mtu },
                    errno: IcmpErrno::MessageTooLong,
                    fatal: false,
                });
            }
            SrcRouteFailed => (IcmpErrno::SourceRouteFailed, false),
            DstNetUnknown => (IcmpErrno::NetUnreachable, true),
            DstHostUnknown => (IcmpErrno::HostDown, true),
            SrcHostIsolated => (IcmpErrno::NoNetwork, true),
            NetProhibited => (IcmpErrno::NetUnreachable, true),
            HostProhibited => (IcmpErrno::HostUnreachable, true),
            NetUnreachToS => (IcmpErrno::NetUnreachable, false),
            HostUnreachToS => (IcmpErrno::HostUnreachable, false),
            CommProhibited | HostPrecedenceViolation | PrecedenceCutoff => {
                (IcmpErrno::HostUnreachable, true)
            }
            Other(_) => return None,
        };
        Some(IcmpError {
            kind: IcmpErrorKind::DstUnreachable(reason),
            errno,
            fatal,
        })
    }
}

/// An incoming ICMP error with the datagram it quotes: what TCP and UDP
/// need to find the socket and check the error against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportError<'a> {
    pub error: IcmpError,
    /// The quoted header: a datagram *we* sent, so `src_addr` is ours.
    pub quoted: Ipv4Repr,
    /// The quoted bytes after that header (at least 8).
    pub quoted_data: &'a [u8],
}

impl TransportError<'_> {
    /// Source and destination ports of a quoted TCP or UDP header (our port
    /// first): the first 4 quoted bytes (RFC 792 quotes at least 8).
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.quoted_data {
            [a, b, c, d, ..] => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
            _ => None,
        }
    }

    /// The sequence number of a quoted TCP segment (bytes 4..8), which the
    /// connection must find in SND.UNA..SND.NXT before acting (RFC 5927 §4.1).
    pub fn tcp_seq(&self) -> Option<SeqNum> {
        if self.quoted.protocol != IpProtocol::Tcp {
            return None;
        }
        match self.quoted_data {
            [_, _, _, _, a, b, c, d, ..] => Some(SeqNum::new(u32::from_be_bytes([*a, *b, *c, *d]))),
            _ => None,
        }
    }
}

/// An ICMP redirect (RFC 792, type 5): datagrams to the quoted datagram's
/// destination should go through `gateway`. Codes 0-3 (network, host, and
/// each with a type of service) are taken alike, as host redirects (RFC
/// 1122 §3.3.1.2: a host does not know the mask a network redirect means).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    pub gateway: Ipv4Addr,
    /// The header of the datagram that was redirected.
    pub quoted: Ipv4Repr,
}

/// The redirect in an incoming ICMP message, if it is one with a
/// well-formed quote.
pub fn parse_redirect(repr: &Icmpv4Repr<'_>) -> Option<Redirect> {
    let Icmpv4Repr::Other {
        msg_type: msg_type::REDIRECT,
        code: 0..=3,
        body,
    } = *repr
    else {
        return None;
    };
    let gateway = Ipv4Addr::from(<[u8; 4]>::try_from(body.get(..4)?).ok()?);
    let (quoted, _) = parse_quoted(body.get(4..)?)?;
    Some(Redirect { gateway, quoted })
}

/// Converts an incoming ICMP message into a transport error, or `None` when
/// it is not an error a socket should see: queries and replies, source
/// quench (RFC 6633 §1: ignored), redirects (routing's business:
/// [`parse_redirect`]), unknown destination-unreachable codes, a quote that
/// is not a first fragment (no ports in it).
pub fn parse_error<'a>(repr: &Icmpv4Repr<'a>) -> Option<TransportError<'a>> {
    let (error, quoted, quoted_data) = match *repr {
        Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            header,
            data,
        } => (
            IcmpError::from_dst_unreachable(reason, next_hop_mtu)?,
            header,
            data,
        ),
        Icmpv4Repr::TimeExceeded {
            reason,
            header,
            data,
        } => (
            IcmpError {
                kind: IcmpErrorKind::TimeExceeded(reason),
                errno: IcmpErrno::HostUnreachable,
                fatal: false,
            },
            header,
            data,
        ),
        Icmpv4Repr::Other {
            msg_type: msg_type::PARAM_PROBLEM,
            body,
            ..
        } => {
            let pointer = *body.first()?;
            let (header, data) = parse_quoted(body.get(4..)?)?;
            (
                IcmpError {
                    kind: IcmpErrorKind::ParamProblem { pointer },
                    errno: IcmpErrno::ProtocolError,
                    fatal: true,
                },
                header,
                data,
            )
        }
        _ => return None,
    };
    if quoted.frag_offset != 0 {
        return None;
    }
    Some(TransportError {
        error,
        quoted,
        quoted_data,
    })
}

/// The quoted header and data of a parameter-problem message (the wire
/// module parses them only for types 3 and 11).
fn parse_quoted(quoted: &[u8]) -> Option<(Ipv4Repr, &[u8])> {
    if quoted.len() < ipv4::HEADER_LEN {
        return None;
    }
    let p = Ipv4Packet::new_unchecked(quoted);
    let header_len = usize::from(p.header_len());
    if p.version() != 4
        || header_len < ipv4::HEADER_LEN
        || quoted.len() < header_len + icmpv4::MIN_QUOTED_DATA
    {
        return None;
    }
    let payload_len = p.total_len().checked_sub(header_len as u16)?;
    let header = Ipv4Repr {
        src_addr: p.src_addr(),
        dst_addr: p.dst_addr(),
        protocol: p.protocol(),
        payload_len,
        ttl: p.ttl(),
        dscp_ecn: p.dscp_ecn(),
        ident: p.ident(),
        dont_frag: p.dont_frag(),
        more_frags: p.more_frags(),
        frag_offset: p.frag_offset(),
    };
    Some((header, &quoted[header_len..]))
}

/// Where the TCP side of an error landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpContext {
    /// A connection in SYN-SENT, or in SYN-RECEIVED after a simultaneous
    /// open or as a Fast Open child (Linux treats those alike).
    SynSent,
    /// A listener's half-open request in its SYN queue.
    SynQueue,
    /// ESTABLISHED or later.
    Synchronized,
}

/// What a TCP connection should do with a validated ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpIcmpAction {
    /// Nothing.
    Ignore,
    /// Abort the connection (or drop the half-open request) and report the
    /// error to the application.
    Abort(IcmpErrno),
    /// Remember the error; report it only if the connection later times out
    /// (Linux `sk_err_soft`).
    SoftError(IcmpErrno),
    /// Fragmentation needed: lower the path MTU (see [`pmtu_update`]) and
    /// retransmit at once with the smaller MSS.
    PathMtu { next_hop_mtu: u16 },
}

/// Linux's reaction (`tcp_v4_err`, `tcp_req_err`) to a validated error:
///
/// - Fragmentation needed: a path MTU update, in every state (RFC 1191 §6).
/// - SYN-SENT: abort on every other error, soft ones included. RFC 1122
///   §4.2.3.9 says a soft error "MUST NOT" abort, but RFC 5461 documents the
///   abort-on-connect behaviour as widely implemented and beneficial (a dead
///   address fails fast instead of after 127 s of SYN retries).
/// - SYN queue: drop the half-open request on net/host unreachable, time
///   exceeded and parameter problem (the peer is gone: free the slot under
///   a SYN flood); ignore the rest.
/// - Synchronized: every error is soft (RFC 5927 §5.2: treating hard errors
///   as soft defeats blind reset attacks; the connection times out if the
///   peer is really gone).
pub fn tcp_action(error: &IcmpError, context: TcpContext) -> TcpIcmpAction {
    if let IcmpErrorKind::FragNeeded { next_hop_mtu } = error.kind {
        return TcpIcmpAction::PathMtu { next_hop_mtu };
    }
    match context {
        TcpContext::SynSent => TcpIcmpAction::Abort(error.errno),
        TcpContext::SynQueue => {
            let peer_gone = matches!(
                error.kind,
                IcmpErrorKind::TimeExceeded(_)
                    | IcmpErrorKind::ParamProblem { .. }
                    | IcmpErrorKind::DstUnreachable(
                        DstUnreachable::NetUnreachable | DstUnreachable::HostUnreachable
                    )
            );
            if peer_gone {
                TcpIcmpAction::Abort(error.errno)
            } else {
                TcpIcmpAction::Ignore
            }
        }
        TcpContext::Synchronized => TcpIcmpAction::SoftError(error.errno),
    }
}

/// The error a *connected* UDP socket reports on its next call, as Linux's
/// `__udp4_lib_err` decides without IP_RECVERR: only hard errors (the fatal
/// bit; fragmentation needed counts as hard with EMSGSIZE, as Linux does for
/// sockets doing path MTU discovery). Unconnected sockets report nothing.
pub fn udp_error(error: &IcmpError) -> Option<IcmpErrno> {
    match error.kind {
        IcmpErrorKind::FragNeeded { .. } => Some(IcmpErrno::MessageTooLong),
        _ if error.fatal => Some(error.errno),
        _ => None,
    }
}

/// A path MTU decrease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmtuUpdate {
    pub mtu: u16,
    /// The report was below the floor and the floor was used instead. Linux
    /// then "locks" the MTU: it stops setting DF so that routers may fragment
    /// (RFC 1191 §6.1 allows either).
    pub clamped: bool,
}

/// RFC 1191 §7: plateaus for estimating the next-hop MTU when a router
/// reports zero (pre-RFC 1191 routers).
const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// The new path MTU after "fragmentation needed", or `None` when the report
/// changes nothing or is bogus.
///
/// - RFC 5927 §7.2: a report not below the size of the quoted datagram
///   cannot be true (that datagram would have fit): ignored.
/// - RFC 1191 §5/§7: a zero report is estimated from the quoted total
///   length with the plateau table (Linux instead falls to the floor).
/// - The result never goes below `min_pmtu` (`route.min_pmtu`, Linux's 552
///   by default; synack's choice too, since accepting 68 lets a forged ICMP
///   shrink segments to 28 bytes of data, RFC 5927 §7.1) nor below 68
///   (RFC 791).
/// - Path MTUs only shrink here (RFC 1191 §6.3 raises them by timeout):
///   a value not below `current` is ignored.
pub fn pmtu_update(
    next_hop_mtu: u16,
    quoted_total_len: u16,
    current: u16,
    min_pmtu: u16,
) -> Option<PmtuUpdate> {
    let reported = if next_hop_mtu == 0 {
        PLATEAUS
            .iter()
            .copied()
            .find(|&p| p < quoted_total_len)
            .unwrap_or(MIN_MTU)
    } else if next_hop_mtu >= quoted_total_len {
        return None;
    } else {
        next_hop_mtu
    };
    let floor = min_pmtu.max(MIN_MTU);
    let (mtu, clamped) = if reported < floor {
        (floor, true)
    } else {
        (reported, false)
    };
    if mtu >= current {
        return None;
    }
    Some(PmtuUpdate { mtu, clamped })
}

/// Why no ICMP error may be sent about a datagram (RFC 1122 §3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppressed {
    /// It was itself an ICMP error (or an ICMP message of unknown type,
    /// which Linux also treats as one), or too short to tell.
    IcmpError,
    /// It was sent to a broadcast or multicast IP address.
    Broadcast,
    /// It arrived as a link-layer broadcast or multicast.
    LinkBroadcast,
    /// It is a fragment other than the first.
    NonInitialFragment,
    /// Its source does not define a single host: 0.0.0.0/8, loopback,
    /// broadcast, multicast, 240/4.
    BadSource,
}

/// RFC 1122 §3.2.2: "An ICMP error message MUST NOT be sent as the result
/// of receiving" an ICMP error, a datagram to a broadcast or multicast
/// address, a link-layer broadcast, a non-initial fragment, or a datagram
/// whose source does not define a single host.
///
/// `offending` is the header of the datagram that caused the error and
/// `payload` the bytes after it; `dst` classifies its destination;
/// `link_broadcast` says whether its frame was a link-layer broadcast or
/// multicast; and `looped` whether it came over this host's loopback,
/// where a 127/8 source is this host itself (RFC 1122 §3.2.1.3 (g)), so it
/// is answered as Linux answers it on `lo`.
pub fn may_send_error(
    offending: &Ipv4Repr,
    payload: &[u8],
    dst: Destination,
    link_broadcast: bool,
    looped: bool,
) -> Result<(), Suppressed> {
    if offending.frag_offset != 0 {
        return Err(Suppressed::NonInitialFragment);
    }
    if dst.is_broadcast_or_multicast() {
        return Err(Suppressed::Broadcast);
    }
    if link_broadcast {
        return Err(Suppressed::LinkBroadcast);
    }
    let src = offending.src_addr;
    if is_zero_net(src)
        || (src.is_loopback() && !looped)
        || src.is_broadcast()
        || src.is_multicast()
        || is_reserved(src)
    {
        return Err(Suppressed::BadSource);
    }
    if offending.protocol == IpProtocol::Icmp {
        // Only queries and replies may be answered with an error; an unknown
        // type counts as an error, as in Linux (`icmp_pointers[].error`).
        let is_query = matches!(payload.first(), Some(0 | 8 | 13..=18));
        if !is_query {
            return Err(Suppressed::IcmpError);
        }
    }
    Ok(())
}

/// Whether to answer an echo request sent to `dst` (RFC 1122 §3.2.2.6: to a
/// broadcast or multicast address, "MAY be silently discarded"; Linux
/// discards with `icmp_echo_ignore_broadcasts`, the default).
pub const fn may_answer_echo(dst: Destination, ignore_broadcasts: bool) -> bool {
    match dst {
        Destination::Local => true,
        Destination::Broadcast | Destination::Multicast => !ignore_broadcasts,
        Destination::NotOurs => false,
    }
}

/// The outer IP header fields of a reply we originate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyIp {
    /// Our address the reply comes from: the offending datagram's
    /// destination when that is one of our unicast addresses, otherwise the
    /// route's source hint towards the offender (RFC 1122 §3.2.2).
    pub src: Ipv4Addr,
    pub ttl: u8,
    /// The IP Identification field to use.
    pub ident: u16,
}

/// Writes an echo reply (IP header and ICMP) to `request` into `buf`,
/// mirroring its identifier, sequence number and data (RFC 792; RFC 1122
/// §3.2.2.6 "the data received in the ICMP Echo Request MUST be entirely
/// included in the resulting Echo Reply"). The TOS byte is the request's,
/// as Linux does; DF is clear. `options` (whole 32-bit words, at most 40
/// octets: `ip::options::echo_reply`'s) follow the fixed header. Returns the
/// datagram length, or `None` when `buf` is too small.
pub fn emit_echo_reply(
    request: &Ipv4Repr,
    options: &[u8],
    echo_ident: u16,
    seq_no: u16,
    data: &[u8],
    ip: ReplyIp,
    buf: &mut [u8],
) -> Option<usize> {
    let icmp = Icmpv4Repr::EchoReply {
        ident: echo_ident,
        seq_no,
        data,
    };
    let icmp_len = icmp.buffer_len();
    let header_len = ipv4::HEADER_LEN + options.len();
    let total = header_len + icmp_len;
    let payload_len = u16::try_from(icmp_len).ok()?;
    if total > buf.len() || total > usize::from(u16::MAX) || options.len() > 40 {
        return None;
    }
    let header = Ipv4Repr {
        src_addr: ip.src,
        dst_addr: request.src_addr,
        protocol: IpProtocol::Icmp,
        payload_len,
        ttl: ip.ttl,
        dscp_ecn: request.dscp_ecn,
        ident: ip.ident,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let (head, rest) = buf[..total].split_at_mut(header_len);
    header.emit_with_options(&mut Ipv4Packet::new_unchecked(head), options);
    icmp.emit(&mut Icmpv4Packet::new_unchecked(rest), Checksum::Full);
    Some(total)
}

/// An ICMP error we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorMessage {
    /// Destination unreachable; `next_hop_mtu` only for `FragRequired`.
    DstUnreachable {
        reason: DstUnreachable,
        next_hop_mtu: u16,
    },
    /// Time exceeded, e.g. `FragExpired` for a reassembly timeout.
    TimeExceeded(TimeExceeded),
    /// Parameter problem (RFC 792, code 0): `pointer` names the octet of
    /// the offending header in error (a malformed IP option).
    ParamProblem { pointer: u8 },
    /// Redirect for the host (RFC 792, code 1): send its datagrams to
    /// `gateway` (RFC 1812 §5.2.7.2: a router that forwards a datagram
    /// back out of the link it came in on, to a sender on that link).
    Redirect { gateway: Ipv4Addr },
}

/// Writes an ICMP error about `offending` (a datagram as received, its IP
/// header first, options included) into `buf`: the outer IP header to the
/// offender, the ICMP header, and as much of `offending` as fits in
/// [`MAX_ERROR_DATAGRAM`] bytes, quoted byte for byte (RFC 1812 §4.3.2.3;
/// RFC 792 requires at least the header and 8 bytes). The TOS byte is
/// internetwork control (0xC0) with the offender's TOS bits, as Linux sends
/// errors. Returns the datagram length, or `None` when `offending` has no
/// readable IPv4 header or `buf` is too small.
pub fn emit_error(
    message: ErrorMessage,
    offending: &[u8],
    ip: ReplyIp,
    buf: &mut [u8],
) -> Option<usize> {
    if offending.len() < ipv4::HEADER_LEN {
        return None;
    }
    let off = Ipv4Packet::new_unchecked(offending);
    let header_len = usize::from(off.header_len());
    if off.version() != 4 || header_len < ipv4::HEADER_LEN {
        return None;
    }
    // Quote no further than the datagram's own total length (no Ethernet
    // padding), or what we have of it.
    let declared = usize::from(off.total_len());
    let end = if (header_len..=offending.len()).contains(&declared) {
        declared
    } else {
        offending.len()
    };
    let room = MAX_ERROR_DATAGRAM - ipv4::HEADER_LEN - icmpv4::HEADER_LEN;
    let quote = &offending[..end.min(room)];
    let icmp_len = icmpv4::HEADER_LEN + quote.len();
    let total = ipv4::HEADER_LEN + icmp_len;
    if total > buf.len() {
        return None;
    }
    let header = Ipv4Repr {
        src_addr: ip.src,
        dst_addr: off.src_addr(),
        protocol: IpProtocol::Icmp,
        // At most 556: fits.
        payload_len: icmp_len as u16,
        ttl: ip.ttl,
        // RFC 791 precedence "internetwork control" plus the TOS bits.
        dscp_ecn: 0xC0 | (off.dscp_ecn() & 0x1E),
        ident: ip.ident,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let (head, rest) = buf[..total].split_at_mut(ipv4::HEADER_LEN);
    header.emit(&mut Ipv4Packet::new_unchecked(head), Checksum::Full);
    let mut icmp = Icmpv4Packet::new_unchecked(rest);
    match message {
        ErrorMessage::DstUnreachable {
            reason,
            next_hop_mtu,
        } => {
            icmp.set_msg_type(msg_type::DST_UNREACHABLE);
            icmp.set_msg_code(reason.into());
            let mtu = if reason == DstUnreachable::FragRequired {
                next_hop_mtu
            } else {
                0
            };
            icmp.set_next_hop_mtu(mtu);
        }
        ErrorMessage::TimeExceeded(reason) => {
            icmp.set_msg_type(msg_type::TIME_EXCEEDED);
            icmp.set_msg_code(reason.into());
            icmp.set_next_hop_mtu(0);
        }
        ErrorMessage::ParamProblem { pointer } => {
            icmp.set_msg_type(msg_type::PARAM_PROBLEM);
            icmp.set_msg_code(0);
            // The pointer, then three unused octets.
            icmp.body_mut()[..4].copy_from_slice(&[pointer, 0, 0, 0]);
        }
        ErrorMessage::Redirect { gateway } => {
            icmp.set_msg_type(msg_type::REDIRECT);
            icmp.set_msg_code(1);
            icmp.body_mut()[..4].copy_from_slice(&gateway.octets());
        }
    }
    icmp.data_mut().copy_from_slice(quote);
    icmp.fill_checksum();
    Some(total)
}

/// Why the rate limiter said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimited {
    /// The global bucket is empty: count `OutRateLimitGlobal`.
    Global,
    /// This destination's bucket is empty: count `OutRateLimitHost`.
    Host,
}

/// Per-destination buckets: a fixed table indexed by a keyed hash of the
/// destination, so memory stays bounded (24 KiB) under a flood of spoofed
/// sources. Destinations that share a bucket share a limit (stricter, never
/// looser), and with a secret key nobody can aim at a victim's bucket.
const HOST_BUCKETS: usize = 1024;

/// Linux's `XRLIM_BURST_FACTOR`: a destination may receive 6 errors at once.
const HOST_BURST_FACTOR: u64 = 6;

#[derive(Debug, Clone, Copy, Default)]
struct HostBucket {
    /// Credit in microseconds; one message costs `icmp_ratelimit`.
    tokens: u64,
    /// When `tokens` was last brought up to date; `None`: never used (full).
    last: Option<Instant>,
}

/// ICMP output rate limiting (RFC 1812 §4.3.2.8, RFC 1122 §3.2.2), as Linux
/// does it:
///
/// - only types in `icmp_ratemask` are limited (by default destination
///   unreachable, source quench, time exceeded, parameter problem; echo
///   replies are not), and never "fragmentation needed" (path MTU discovery
///   depends on it);
/// - a global token bucket of `icmp_msgs_burst` messages refilled at
///   `icmp_msgs_per_sec`: a message may go while credit is positive, and
///   costs a random 0, 1 or 2 credits (mean 1), so an off-path attacker
///   cannot count our errors to find open UDP ports (CVE-2020-25705, "SAD
///   DNS"); zero `icmp_msgs_per_sec` or burst turns the global limit off;
/// - a per-destination bucket holding up to 6 messages, one more every
///   `icmp_ratelimit` (zero turns it off; loopback is exempt).
///
/// A message counts against the global bucket only if its destination's
/// bucket lets it through.
#[derive(Debug, Clone)]
pub struct IcmpRateLimiter {
    ratemask: u32,
    ratelimit: Duration,
    msgs_per_sec: u64,
    /// Burst in micro-credits (one message = 1,000,000).
    burst: i64,
    /// Credit in micro-credits; may go negative after a random cost.
    credit: i64,
    stamp: Option<Instant>,
    hosts: Box<[HostBucket]>,
    hasher: KeyedHasher,
    rng: Rng,
}

const CREDIT: i64 = 1_000_000;

impl IcmpRateLimiter {
    /// A limiter with `config`'s `icmp_*` settings; `key` hashes
    /// destinations, `rng` draws the random costs. Allocates its 24 KiB table.
    pub fn new(config: &Config, key: SipKey, rng: Rng) -> Self {
        let burst = i64::from(config.icmp_msgs_burst).saturating_mul(CREDIT);
        IcmpRateLimiter {
            ratemask: config.icmp_ratemask,
            ratelimit: config.icmp_ratelimit,
            msgs_per_sec: u64::from(config.icmp_msgs_per_sec),
            burst,
            credit: burst,
            stamp: None,
            hosts: vec![HostBucket::default(); HOST_BUCKETS].into_boxed_slice(),
            hasher: KeyedHasher::new(key),
            rng,
        }
    }

    /// Whether an ICMP message of `msg_type`/`code` to `dst` may be sent
    /// now. A `true` answer consumes credit: call it only for a message you
    /// will send.
    pub fn allow(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        msg_type: u8,
        code: u8,
    ) -> Result<(), RateLimited> {
        let masked = msg_type < 32 && self.ratemask & (1 << msg_type) != 0;
        let frag_needed =
            msg_type == msg_type::DST_UNREACHABLE && code == u8::from(DstUnreachable::FragRequired);
        if !masked || frag_needed {
            return Ok(());
        }
        let global = self.msgs_per_sec != 0 && self.burst != 0;
        if global && !self.global_has_credit(now) {
            return Err(RateLimited::Global);
        }
        if !dst.is_loopback() && !self.ratelimit.is_zero() && !self.host_allow(now, dst) {
            return Err(RateLimited::Host);
        }
        if global {
            // Linux `icmp_global_consume`: a random 0..=2 credits.
            self.credit -= self.rng.below(3) as i64 * CREDIT;
        }
        Ok(())
    }

    fn global_has_credit(&mut self, now: Instant) -> bool {
        let elapsed = match self.stamp {
            Some(t) => now.saturating_duration_since(t).total_micros(),
            None => 0,
        };
        if self.stamp.is_none() || elapsed > 0 {
            // Refill at msgs_per_sec credits per second, exactly: in
            // micro-credits, `msgs_per_sec` per microsecond.
            let refill =
                i64::try_from(elapsed.saturating_mul(self.msgs_per_sec)).unwrap_or(i64::MAX);
            self.credit = self.credit.saturating_add(refill).min(self.burst);
            self.stamp = Some(now);
        }
        self.credit > 0
    }

    fn host_allow(&mut self, now: Instant, dst: Ipv4Addr) -> bool {
        let index = (self.hasher.hash_one(dst.to_bits()) % HOST_BUCKETS as u64) as usize;
        let cost = self.ratelimit.total_micros();
        let cap = cost.saturating_mul(HOST_BURST_FACTOR);
        let bucket = &mut self.hosts[index];
        let tokens = match bucket.last {
            Some(last) => bucket
                .tokens
                .saturating_add(now.saturating_duration_since(last).total_micros()),
            None => cap,
        }
        .min(cap);
        bucket.last = Some(now);
        if tokens >= cost {
            bucket.tokens = tokens - cost;
            true
        } else {
            bucket.tokens = tokens;
            false
        }
    }
}

#[cfg(test)]
mod tests;
