//! Packets in a script: `<` inbound (the script's host sends to synack) and
//! `>` outbound (synack must send it), TCP, UDP or ICMP, with optional IP
//! fields and outer headers.
//!
//! Sequence and acknowledgment numbers are kept as written; [`super::meaning`]
//! says which ISN each is relative to.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::span::{Span, Spanned};

/// TCP options may take 40 bytes (RFC 9293 §3.1: data offset ≤ 15 words).
pub const MAX_TCP_OPTION_BYTES: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `<`: the script injects it into synack.
    Inbound,
    /// `>`: synack must send it.
    Outbound,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub direction: Direction,
    /// Outer headers, outermost first (`ipv4 A > B: gre: ...`).
    pub encapsulation: Vec<Encapsulation>,
    /// `(ecn ...)`, `[ttl N]` etc. for the innermost IP header.
    pub ip: IpInfo,
    pub body: PacketBody,
    pub span: Span,
}

impl Packet {
    pub fn tcp(&self) -> Option<&TcpPacket> {
        match &self.body {
            PacketBody::Tcp(t) => Some(t),
            _ => None,
        }
    }
}

// TCP is nearly every packet: boxing it would allocate in the common case
// to save space in the rare one.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketBody {
    Tcp(TcpPacket),
    Udp(UdpPacket),
    Icmp(IcmpPacket),
}

/// An outer header in front of the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encapsulation {
    pub kind: EncapKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncapKind {
    /// `ipv4 [(ip info)] SRC > DST:`
    Ipv4 {
        ip: IpInfo,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    },
    /// `ipv6 [(ip info)] SRC > DST:`
    Ipv6 {
        ip: IpInfo,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    },
    /// `gre:` or `gre flags [...] sum N off N key N seq N:`
    Gre(Option<GreHeader>),
    /// `mpls (label N, tc N, [S], ttl N)...:`
    Mpls(Vec<MplsEntry>),
}

/// IP-level extras for a header, in `(...)` or `[...]`: `(ect0)`, `[ce]`,
/// `(tos 0x10)`, `(ect01)`, `(flowlabel 0x12345)`, `[ttl 64]`,
/// `(ect1, flowlabel 0x1)`. These are the only combinations packetdrill's
/// grammar has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IpInfo {
    #[default]
    None,
    Tos(TosSpec),
    /// IPv6 flow label (20 bits, RFC 8200 §6).
    FlowLabel(u32),
    TosAndFlowLabel(TosSpec, u32),
    /// IPv4 TTL or IPv6 hop limit.
    Ttl(u8),
}

impl IpInfo {
    pub fn is_empty(&self) -> bool {
        *self == IpInfo::None
    }

    pub fn tos(&self) -> Option<TosSpec> {
        match *self {
            IpInfo::Tos(t) | IpInfo::TosAndFlowLabel(t, _) => Some(t),
            _ => None,
        }
    }

    pub fn flow_label(&self) -> Option<u32> {
        match *self {
            IpInfo::FlowLabel(f) | IpInfo::TosAndFlowLabel(_, f) => Some(f),
            _ => None,
        }
    }

    pub fn ttl(&self) -> Option<u8> {
        match *self {
            IpInfo::Ttl(t) => Some(t),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TosSpec {
    /// Check (outbound) or set (inbound) the ECN field.
    Ecn(Ecn),
    /// `ect01`: outbound only; either ECT codepoint is fine.
    Ect01,
    /// `tos 0xNN`: the whole byte.
    Tos(u8),
}

/// The IP ECN field (RFC 3168 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// `noecn`: 00
    NotEct,
    /// `ect1`: 01
    Ect1,
    /// `ect0`: 10
    Ect0,
    /// `ce`: 11
    Ce,
}

impl Ecn {
    pub fn bits(self) -> u8 {
        match self {
            Ecn::NotEct => 0,
            Ecn::Ect1 => 1,
            Ecn::Ect0 => 2,
            Ecn::Ce => 3,
        }
    }
}

/// `SRC>DST` ports written in front of the flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ports {
    pub src: u16,
    pub dst: u16,
}

/// `FLAGS START:END(LEN) [ack N] [win N] [urg N] [<options>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpPacket {
    /// `encap psp spi N`: transport-mode PSP with this SPI.
    pub psp_spi: Option<Spanned<u32>>,
    pub ports: Option<Ports>,
    pub flags: Spanned<TcpFlags>,
    pub seq: Spanned<SeqRange>,
    pub ack: Option<Spanned<u32>>,
    /// Required on inbound packets; on outbound ones `None` means "not checked".
    pub window: Option<Spanned<u16>>,
    pub urg_ptr: Option<Spanned<u16>>,
    pub options: TcpOptions,
}

/// `START:END(LEN)`; packetdrill requires END = START + LEN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqRange {
    pub start: u32,
    pub len: u16,
}

impl SeqRange {
    pub fn end(self) -> u32 {
        self.start.wrapping_add(u32::from(self.len))
    }
}

/// TCP header flags as packetdrill spells them: `F S R P . U` and the ECN
/// bits `E` (ECE), `W` (CWR), `A` (AE); `-` for none; a digit 0-7 is the
/// AccECN ACE counter (AE, CWR, ECE as one 3-bit number) and excludes E/W/A.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    pub fin: bool,
    pub syn: bool,
    pub rst: bool,
    pub psh: bool,
    pub ack: bool,
    pub urg: bool,
    pub ece: bool,
    pub cwr: bool,
    pub ae: bool,
    pub ace: Option<u8>,
}

impl TcpFlags {
    /// Parses packetdrill's flag string (`S.`, `F.`, `SEW`, `.5`, `` for `-`),
    /// with packetdrill's rules for conflicting ECN and ACE flags.
    pub fn parse(spec: &str) -> Result<TcpFlags, String> {
        let mut f = TcpFlags::default();
        for c in spec.chars() {
            match c {
                'F' => f.fin = true,
                'S' => f.syn = true,
                'R' => f.rst = true,
                'P' => f.psh = true,
                '.' => f.ack = true,
                'U' => f.urg = true,
                'E' | 'W' | 'A' => {
                    if f.ace.is_some() {
                        return Err(format!("conflicting TCP flag '{c}' (ACE already given)"));
                    }
                    match c {
                        'E' => f.ece = true,
                        'W' => f.cwr = true,
                        _ => f.ae = true,
                    }
                }
                '0'..='7' => {
                    if f.ace.is_some() || f.ece || f.cwr || f.ae {
                        return Err(format!("conflicting TCP flag '{c}'"));
                    }
                    f.ace = Some(c as u8 - b'0');
                }
                _ => return Err(format!("invalid TCP flag '{c}'")),
            }
        }
        Ok(f)
    }

    /// The ACE value to check, if the script gave a nonzero one.
    pub fn checked_ace(&self) -> Option<u8> {
        self.ace.filter(|a| *a != 0)
    }
}

/// The options list of a TCP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOptions {
    /// As written (empty when the packet has no `<...>` part): on outbound
    /// packets synack must send exactly these, in this order.
    Exact(Vec<TcpOption>),
    /// `<...>`: outbound only; any options are fine.
    Any(Span),
}

impl TcpOptions {
    pub fn exact(&self) -> Option<&[TcpOption]> {
        match self {
            TcpOptions::Exact(v) => Some(v),
            TcpOptions::Any(_) => None,
        }
    }

    /// Bytes on the wire, or `None` if a cookie is a name still to resolve.
    pub fn wire_len(&self) -> Option<usize> {
        match self {
            TcpOptions::Exact(v) => v.iter().map(|o| o.kind.wire_len()).sum(),
            TcpOptions::Any(_) => Some(0),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpOption {
    pub kind: TcpOptionKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOptionKind {
    /// `eol` (kind 0)
    Eol,
    /// `nop` (kind 1)
    Nop,
    /// `mss N` (kind 2)
    Mss(u16),
    /// `wscale N` (kind 3)
    WindowScale(u8),
    /// `sackOK` (kind 4)
    SackPermitted,
    /// `sack L:R ...` (kind 5), blocks in the receiver's sequence space.
    Sack(Vec<SackBlock>),
    /// `TS val N ecr N` (kind 8)
    Timestamp { val: u32, ecr: u32 },
    /// `md5 HEX` (kind 19): an RFC 2385 digest of up to 16 bytes.
    Md5(Vec<u8>),
    /// `FO [COOKIE]` (kind 34, RFC 7413 §4.1.1).
    FastOpen(FastOpenCookie),
    /// `FOEXP [COOKIE]` (kind 254 with magic 0xF989, RFC 7413 §4.1.1's
    /// experimental form).
    FastOpenExp(FastOpenCookie),
    /// `ECN e0b N [ceb N [e1b N]]` / `ECN e1b N ...`: AccECN option.
    AccEcn(AccEcnOption),
}

impl TcpOptionKind {
    /// Length on the wire, or `None` for a cookie that is still a name.
    pub fn wire_len(&self) -> Option<usize> {
        Some(match self {
            TcpOptionKind::Eol | TcpOptionKind::Nop => 1,
            TcpOptionKind::Mss(_) => 4,
            TcpOptionKind::WindowScale(_) => 3,
            TcpOptionKind::SackPermitted => 2,
            TcpOptionKind::Sack(b) => 2 + 8 * b.len(),
            TcpOptionKind::Timestamp { .. } => 10,
            TcpOptionKind::Md5(d) => 2 + d.len(),
            TcpOptionKind::FastOpen(c) => 2 + c.byte_len()?,
            TcpOptionKind::FastOpenExp(c) => 4 + c.byte_len()?,
            TcpOptionKind::AccEcn(a) => 2 + 3 * a.counters.len(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SackBlock {
    pub left: u32,
    pub right: u32,
}

/// A TCP Fast Open cookie as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FastOpenCookie {
    /// No cookie: a cookie request (RFC 7413 §4.1.1).
    Request,
    /// Hex digits, two per byte.
    Bytes(Vec<u8>),
    /// An upper-case name with no `-D` definition, such as `TFO_COOKIE`:
    /// packetdrill's test harness defines it as the cookie the server under
    /// test will compute, so the runner supplies it.
    Named(String),
}

impl FastOpenCookie {
    /// Cookie bytes, or `None` when it is a name.
    pub fn byte_len(&self) -> Option<usize> {
        match self {
            FastOpenCookie::Request => Some(0),
            FastOpenCookie::Bytes(b) => Some(b.len()),
            FastOpenCookie::Named(_) => None,
        }
    }
}

/// AccECN counters in the order written; `first` says which ECT counter
/// leads (it picks option kind 172 for e0b or 174 for e1b). The second
/// counter is always `ceb`, the third the other ECT counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccEcnOption {
    pub first: AccEcnFirst,
    /// One to three 24-bit counters.
    pub counters: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccEcnFirst {
    E0b,
    E1b,
}

/// `udp [SRC>DST] (LEN)`: a UDP datagram with LEN payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpPacket {
    pub ports: Option<Ports>,
    pub len: u16,
}

/// `icmp TYPE [CODE] [mtu N] [id N] [[echoed]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpPacket {
    /// `unreachable`, `echo_request`, ... or `type_N`.
    pub type_name: String,
    /// `frag_needed`, `port_unreachable`, ... or `code_N`.
    pub code_name: Option<String>,
    pub mtu: Option<u32>,
    pub echo_id: Option<u16>,
    /// The packet the ICMP error quotes, in brackets.
    pub echoed: Option<IcmpEchoed>,
}

/// What an ICMP error quotes: `[START:END(LEN)]` of TCP, `[udp (LEN)]`, `[raw (LEN)]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpEchoed {
    Tcp(SeqRange),
    Udp(u16),
    Raw(u16),
}

/// Which ICMP the wire uses: from `--ip_version` (`ipv4` and
/// `ipv4-mapped-ipv6` put IPv4 on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpVersion {
    V4,
    V6,
}

/// (name, code) pairs for one ICMP type.
type CodeTable = &'static [(&'static str, u8)];
/// (name, type, codes) for each ICMP type.
type TypeTable = &'static [(&'static str, u8, CodeTable)];

/// ICMPv4 (RFC 792; names as packetdrill spells them).
const ICMPV4_TYPES: TypeTable = &[
    ("echo_reply", 0, &[]),
    ("unreachable", 3, ICMPV4_UNREACHABLE_CODES),
    ("source_quench", 4, &[]),
    ("redirect", 5, &[]),
    ("echo_request", 8, &[]),
    ("time_exceeded", 11, &[]),
    ("parameter_problem", 12, &[]),
    ("timestamp_request", 13, &[]),
    ("timestamp_reply", 14, &[]),
    ("information_request", 15, &[]),
    ("information_reply", 16, &[]),
    ("address_mask_request", 17, &[]),
    ("address_mask_reply", 18, &[]),
];

/// Destination-unreachable codes (RFC 792, RFC 1812 §5.2.7.1).
const ICMPV4_UNREACHABLE_CODES: CodeTable = &[
    ("net_unreachable", 0),
    ("host_unreachable", 1),
    ("protocol_unreachable", 2),
    ("port_unreachable", 3),
    ("frag_needed", 4),
    ("source_route_failed", 5),
    ("net_unknown", 6),
    ("host_unknown", 7),
    ("source_host_isolated", 8),
    ("net_prohibited", 9),
    ("host_prohibited", 10),
    ("net_unreachable_for_tos", 11),
    ("host_unreachable_for_tos", 12),
    ("packet_filtered", 13),
    ("precedence_violation", 14),
    ("precedence_cutoff", 15),
];

/// ICMPv6 (RFC 4443).
const ICMPV6_TYPES: TypeTable = &[
    (
        "unreachable",
        1,
        &[
            ("net_unreachable", 0),
            ("no_route", 0),
            ("admin_prohibited", 1),
            ("not_neighbour", 2),
            ("address_unreachable", 3),
            ("port_unreachable", 4),
        ],
    ),
    ("packet_too_big", 2, &[]),
    (
        "time_exceeded",
        3,
        &[("exceeded_hop_limit", 0), ("exceeded_frag_time", 1)],
    ),
    (
        "parameter_problem",
        4,
        &[
            ("header_field", 0),
            ("unknown_next_header", 1),
            ("unknown_option", 2),
        ],
    ),
    ("echo_request", 128, &[]),
    ("echo_reply", 129, &[]),
];

fn numbered(name: &str, prefix: &str) -> Option<Result<u8, String>> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        digits
            .parse::<u8>()
            .map_err(|_| format!("bad ICMP {}: {name}", &prefix[..prefix.len() - 1])),
    )
}

impl IcmpPacket {
    /// The ICMP type and code bytes, by packetdrill's names: the tables
    /// above, or `type_N` / `code_N`; a missing code is 0.
    pub fn type_and_code(&self, version: IcmpVersion) -> Result<(u8, u8), String> {
        let table = match version {
            IcmpVersion::V4 => ICMPV4_TYPES,
            IcmpVersion::V6 => ICMPV6_TYPES,
        };
        let (ty, codes): (u8, CodeTable) = match numbered(&self.type_name, "type_") {
            Some(n) => (n?, &[]),
            None => table
                .iter()
                .find(|(name, _, _)| *name == self.type_name)
                .map(|(_, ty, codes)| (*ty, *codes))
                .ok_or_else(|| format!("bad ICMP type {}", self.type_name))?,
        };
        let code = match &self.code_name {
            None => 0,
            Some(c) => match numbered(c, "code_") {
                Some(n) => n?,
                None => codes
                    .iter()
                    .find(|(name, _)| name == c)
                    .map(|(_, code)| *code)
                    .ok_or_else(|| format!("bad ICMP code {c}"))?,
            },
        };
        // The MTU field exists only in "fragmentation needed" (RFC 1191 §4)
        // and ICMPv6 "packet too big" (RFC 4443 §3.2).
        if let Some(mtu) = self.mtu {
            match version {
                IcmpVersion::V4 => {
                    if ty != 3 || code != 4 {
                        return Err("ICMPv4 MTU is only valid for unreachable frag_needed".into());
                    }
                    if mtu > u32::from(u16::MAX) {
                        return Err("ICMPv4 MTU out of 16-bit range".into());
                    }
                }
                IcmpVersion::V6 => {
                    if ty != 2 || code != 0 {
                        return Err("ICMPv6 MTU is only valid for packet_too_big".into());
                    }
                }
            }
        }
        Ok((ty, code))
    }
}

/// One MPLS label stack entry (RFC 3032 §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MplsEntry {
    /// 20 bits.
    pub label: u32,
    /// 3 bits: traffic class.
    pub tc: u8,
    /// `[S]`: bottom of stack.
    pub bottom: bool,
    pub ttl: u8,
}

/// `flags [...] sum N off N key N seq N` (RFC 2784 and RFC 2890 fields).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GreHeader {
    pub flags: GreFlags,
    pub sum: i64,
    pub off: i64,
    pub key: i64,
    pub seq: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GreFlags {
    /// `flags [none]`, `flags [checksum present, key present]`, ...
    Named(Vec<GreFlag>),
    /// `flags 0x2000`
    Value(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GreFlag {
    None,
    Checksum,
    Key,
    Sequence,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_strings_follow_packetdrill_rules() {
        let f = TcpFlags::parse("S.").unwrap();
        assert!(f.syn && f.ack && !f.fin);
        let f = TcpFlags::parse("SEW").unwrap();
        assert!(f.syn && f.ece && f.cwr && !f.ae);
        let f = TcpFlags::parse(".5").unwrap();
        assert_eq!((f.ack, f.ace, f.checked_ace()), (true, Some(5), Some(5)));
        assert_eq!(TcpFlags::parse(".0").unwrap().checked_ace(), None);
        assert_eq!(TcpFlags::parse("").unwrap(), TcpFlags::default());
        assert!(
            TcpFlags::parse("SX")
                .unwrap_err()
                .contains("invalid TCP flag 'X'")
        );
        assert!(TcpFlags::parse("E5").unwrap_err().contains("conflicting"));
        assert!(TcpFlags::parse("5E").unwrap_err().contains("conflicting"));
        assert!(TcpFlags::parse("12").unwrap_err().contains("conflicting"));
    }

    #[test]
    fn option_lengths_match_their_wire_encoding() {
        let len = |k: TcpOptionKind| k.wire_len();
        assert_eq!(len(TcpOptionKind::Mss(1460)), Some(4));
        assert_eq!(len(TcpOptionKind::WindowScale(7)), Some(3));
        assert_eq!(
            len(TcpOptionKind::Sack(vec![
                SackBlock { left: 1, right: 2 };
                3
            ])),
            Some(26)
        );
        assert_eq!(len(TcpOptionKind::Timestamp { val: 1, ecr: 2 }), Some(10));
        assert_eq!(
            len(TcpOptionKind::FastOpen(FastOpenCookie::Request)),
            Some(2)
        );
        assert_eq!(
            len(TcpOptionKind::FastOpenExp(FastOpenCookie::Bytes(vec![
                0;
                8
            ]))),
            Some(12)
        );
        assert_eq!(
            len(TcpOptionKind::FastOpen(FastOpenCookie::Named(
                "TFO_COOKIE".into()
            ))),
            None
        );
        let acc = AccEcnOption {
            first: AccEcnFirst::E0b,
            counters: vec![1, 2, 3],
        };
        assert_eq!(len(TcpOptionKind::AccEcn(acc)), Some(11));
    }

    fn icmp(ty: &str, code: Option<&str>, mtu: Option<u32>) -> IcmpPacket {
        IcmpPacket {
            type_name: ty.into(),
            code_name: code.map(Into::into),
            mtu,
            echo_id: None,
            echoed: None,
        }
    }

    #[test]
    fn icmp_names_resolve_per_ip_version() {
        let v4 = IcmpVersion::V4;
        assert_eq!(
            icmp("unreachable", Some("frag_needed"), Some(1000)).type_and_code(v4),
            Ok((3, 4))
        );
        assert_eq!(
            icmp("unreachable", Some("port_unreachable"), None).type_and_code(v4),
            Ok((3, 3))
        );
        assert_eq!(
            icmp("echo_request", None, None).type_and_code(v4),
            Ok((8, 0))
        );
        assert_eq!(
            icmp("type_42", Some("code_7"), None).type_and_code(v4),
            Ok((42, 7))
        );
        assert_eq!(
            icmp("packet_too_big", None, Some(1280)).type_and_code(IcmpVersion::V6),
            Ok((2, 0))
        );
        assert!(
            icmp("packet_too_big", None, None)
                .type_and_code(v4)
                .unwrap_err()
                .contains("bad ICMP type")
        );
        assert!(
            icmp("unreachable", Some("bogus"), None)
                .type_and_code(v4)
                .unwrap_err()
                .contains("bad ICMP code")
        );
        assert!(
            icmp("echo_request", Some("frag_needed"), None)
                .type_and_code(v4)
                .is_err()
        );
        assert!(
            icmp("unreachable", Some("port_unreachable"), Some(1000))
                .type_and_code(v4)
                .unwrap_err()
                .contains("MTU")
        );
        assert!(
            icmp("unreachable", Some("frag_needed"), Some(70_000))
                .type_and_code(v4)
                .unwrap_err()
                .contains("16-bit")
        );
        assert!(icmp("type_300", None, None).type_and_code(v4).is_err());
    }

    #[test]
    fn seq_range_end_wraps_like_sequence_numbers() {
        assert_eq!(
            SeqRange {
                start: 1,
                len: 1000
            }
            .end(),
            1001
        );
        assert_eq!(
            SeqRange {
                start: u32::MAX,
                len: 2
            }
            .end(),
            1
        );
        assert_eq!(Ecn::Ce.bits(), 3);
    }
}
