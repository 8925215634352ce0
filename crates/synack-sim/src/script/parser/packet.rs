//! Packet lines (parser.y `packet_spec`): direction, outer headers, IP
//! extras, then a TCP, UDP or ICMP body, with packetdrill's checks.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::super::lexer::Tok;
use super::super::packet::{
    AccEcnFirst, AccEcnOption, Direction, Ecn, EncapKind, Encapsulation, FastOpenCookie,
    IcmpEchoed, IcmpPacket, IpInfo, MAX_TCP_OPTION_BYTES, Packet, PacketBody, Ports, SackBlock,
    SeqRange, TcpFlags, TcpOption, TcpOptionKind, TcpOptions, TcpPacket, TosSpec, UdpPacket,
};
use super::super::span::Spanned;
use super::{PResult, Parser};

/// Largest AccECN counter: 24 bits.
const ACCECN_MAX: i64 = (1 << 24) - 1;
/// RFC 2385: an MD5 digest is 16 bytes.
const MD5_DIGEST_BYTES: usize = 16;

impl Parser {
    pub(super) fn parse_packet(&mut self) -> PResult<Packet> {
        let dir_tok = self.bump();
        let start = dir_tok.span;
        let direction = if dir_tok.is_punct('<') {
            Direction::Inbound
        } else {
            Direction::Outbound
        };

        let mut encapsulation = Vec::new();
        loop {
            let enc_start = self.peek().span;
            let kind = if self.eat_word("ipv4", "`ipv4`") {
                self.parse_ip_encap(true)?
            } else if self.eat_word("ipv6", "`ipv6`") {
                self.parse_ip_encap(false)?
            } else if self.eat_word("gre", "`gre`") || self.eat_word("GREv0", "`gre`") {
                if self.eat_punct(':', "`:`") {
                    EncapKind::Gre(None)
                } else {
                    self.eat_punct(',', "`,`");
                    let h = self.parse_gre_header()?;
                    self.expect_punct(':', "`:`")?;
                    EncapKind::Gre(Some(h))
                }
            } else if self.eat_word("mpls", "`mpls`") {
                let stack = self.parse_mpls_stack()?;
                self.expect_punct(':', "`:`")?;
                EncapKind::Mpls(stack)
            } else {
                break;
            };
            encapsulation.push(Encapsulation {
                kind,
                span: enc_start.to(self.prev_span()),
            });
        }

        let ip_start = self.peek().span;
        let ip = self.parse_opt_ip_info()?;
        let ip_span = ip_start.to(self.prev_span());
        if ip.tos() == Some(TosSpec::Ect01) && direction != Direction::Outbound {
            return Err(Self::error_at(
                ip_span,
                "[ect01] can only be used with outbound packets",
            ));
        }

        let body = if self.eat_word("udp", "`udp`") {
            if matches!(ip.tos(), Some(TosSpec::Ecn(_))) {
                return Err(Self::error_at(
                    ip_span,
                    "ECN can only be used with TCP packets",
                ));
            }
            PacketBody::Udp(self.parse_udp()?)
        } else if self.eat_word("icmp", "`icmp`") {
            let icmp_start = self.prev_span();
            let icmp = self.parse_icmp()?;
            icmp.type_and_code(self.icmp_version)
                .map_err(|e| Self::error_at(icmp_start.to(self.prev_span()), e))?;
            PacketBody::Icmp(icmp)
        } else {
            PacketBody::Tcp(self.parse_tcp(direction)?)
        };

        Ok(Packet {
            direction,
            encapsulation,
            ip,
            body,
            span: start.to(self.prev_span()),
        })
    }

    /// `[(ip info)] SRC > DST :` after `ipv4` / `ipv6`.
    fn parse_ip_encap(&mut self, v4: bool) -> PResult<EncapKind> {
        let ip = self.parse_opt_ip_info()?;
        let (want, shown) = if v4 {
            (Tok::Ipv4, "an IPv4 address")
        } else {
            (Tok::Ipv6, "an IPv6 address")
        };
        let addr = |p: &mut Parser| -> PResult<Spanned<String>> {
            if p.peek().tok == want {
                let t = p.bump();
                Ok(Spanned::new(t.text, t.span))
            } else {
                p.expected.push(shown);
                Err(p.unexpected())
            }
        };
        let src = addr(self)?;
        self.expect_punct('>', "`>`")?;
        let dst = addr(self)?;
        self.expect_punct(':', "`:`")?;
        if v4 {
            let parse = |a: &Spanned<String>| {
                a.value.parse::<Ipv4Addr>().map_err(|_| {
                    Self::error_at(a.span, format!("invalid IPv4 address `{}`", a.value))
                })
            };
            Ok(EncapKind::Ipv4 {
                ip,
                src: parse(&src)?,
                dst: parse(&dst)?,
            })
        } else {
            let parse = |a: &Spanned<String>| {
                a.value.parse::<Ipv6Addr>().map_err(|_| {
                    Self::error_at(a.span, format!("invalid IPv6 address `{}`", a.value))
                })
            };
            Ok(EncapKind::Ipv6 {
                ip,
                src: parse(&src)?,
                dst: parse(&dst)?,
            })
        }
    }

    /// `(ip_info)` or `[ip_info]`, or nothing.
    fn parse_opt_ip_info(&mut self) -> PResult<IpInfo> {
        let close = if self.eat_punct('(', "`(` IP fields") {
            (')', "`)`")
        } else if self.eat_punct('[', "`[` IP fields") {
            (']', "`]`")
        } else {
            return Ok(IpInfo::default());
        };
        let info = if self.eat_word("ttl", "`ttl`") {
            IpInfo::Ttl(self.expect_int::<u8>("a TTL", "ttl")?.value)
        } else if self.check_word("flowlabel", "`flowlabel`") {
            IpInfo::FlowLabel(self.parse_flow_label()?)
        } else {
            let tos = self.parse_tos_spec()?;
            if self.eat_punct(',', "`,`") {
                IpInfo::TosAndFlowLabel(tos, self.parse_flow_label()?)
            } else {
                IpInfo::Tos(tos)
            }
        };
        self.expect_punct(close.0, close.1)?;
        Ok(info)
    }

    fn parse_tos_spec(&mut self) -> PResult<TosSpec> {
        for (w, ecn) in [
            ("noecn", Ecn::NotEct),
            ("ect0", Ecn::Ect0),
            ("ect1", Ecn::Ect1),
            ("ce", Ecn::Ce),
        ] {
            if self.eat_word(w, "an ECN codepoint (`noecn`, `ect0`, `ect1`, `ce`)") {
                return Ok(TosSpec::Ecn(ecn));
            }
        }
        if self.eat_word("ect01", "`ect01`") {
            return Ok(TosSpec::Ect01);
        }
        if self.eat_word("tos", "`tos`") {
            return match self.peek().tok {
                Tok::Hex(v) => {
                    let t = self.bump();
                    v.and_then(|v| u8::try_from(v).ok())
                        .map(TosSpec::Tos)
                        .ok_or_else(|| Self::error_at(t.span, "tos out of range for 8 bits"))
                }
                _ => {
                    self.expected.push("a hexadecimal TOS byte (`0x..`)");
                    Err(self.unexpected())
                }
            };
        }
        self.expected.push("`ttl`");
        Err(self.unexpected())
    }

    /// `flowlabel 0xNNNNN` (20 bits, RFC 8200 §6).
    fn parse_flow_label(&mut self) -> PResult<u32> {
        self.expect_word("flowlabel", "`flowlabel`")?;
        match self.peek().tok {
            Tok::Hex(v) => {
                let t = self.bump();
                v.and_then(|v| u32::try_from(v).ok())
                    .filter(|v| *v < 1 << 20)
                    .ok_or_else(|| Self::error_at(t.span, "flowlabel out of range for 20 bits"))
            }
            _ => {
                self.expected.push("a hexadecimal flow label (`0x..`)");
                Err(self.unexpected())
            }
        }
    }

    /// `SRC>DST` ports, if the next token is a number.
    fn parse_opt_ports(&mut self) -> PResult<Option<Ports>> {
        if !matches!(self.peek().tok, Tok::Int(_)) {
            self.expected.push("`SRC>DST` ports");
            return Ok(None);
        }
        let src = self.expect_int::<u16>("a port", "src port")?.value;
        self.expect_punct('>', "`>`")?;
        let dst = self.expect_int::<u16>("a port", "dst port")?.value;
        Ok(Some(Ports { src, dst }))
    }

    fn parse_tcp(&mut self, direction: Direction) -> PResult<TcpPacket> {
        let psp_spi = if self.eat_word("encap", "`encap psp`") {
            self.expect_word("psp", "`psp`")?;
            self.expect_word("spi", "`spi`")?;
            let spi = self.expect_any_int("an SPI")?;
            let v = u32::try_from(spi.value)
                .map_err(|_| Self::error_at(spi.span, "PSP SPI out of range"))?;
            Some(Spanned::new(v, spi.span))
        } else {
            None
        };
        let ports = self.parse_opt_ports()?;
        let flags = self.parse_tcp_flags()?;
        let seq = self.parse_seq_range()?;
        let ack = if self.eat_word("ack", "`ack`") {
            Some(self.expect_int::<u32>("an ack number", "TCP ack sequence number")?)
        } else {
            None
        };
        let window = if self.eat_word("win", "`win`") {
            Some(self.expect_int::<u16>("a window", "TCP window value")?)
        } else {
            None
        };
        let urg_ptr = if self.eat_word("urg", "`urg`") {
            Some(self.expect_int::<u16>("an urgent pointer", "urg_ptr value")?)
        } else {
            None
        };
        let options = self.parse_tcp_options()?;
        self.expect_event_boundary()?;

        if let TcpOptions::Any(span) = options
            && direction != Direction::Outbound
        {
            return Err(Self::error_at(
                span,
                "<...> for TCP options can only be used with outbound packets",
            ));
        }
        if window.is_none() && direction == Direction::Inbound {
            return Err(Self::error_at(
                flags.span.to(self.prev_span()),
                "window must be specified for inbound packets (`win N`)",
            ));
        }
        // RFC 9293 §3.1: the data offset counts 32-bit words, so options
        // fill whole words and take at most 40 bytes.
        if let Some(len) = options.wire_len() {
            let span = flags.span.to(self.prev_span());
            if len % 4 != 0 {
                return Err(Self::error_at(
                    span,
                    format!(
                        "TCP options are not padded correctly to ensure TCP header is a multiple \
                         of 4 bytes: {} excess bytes",
                        len % 4
                    ),
                ));
            }
            if len > MAX_TCP_OPTION_BYTES {
                return Err(Self::error_at(
                    span,
                    format!("TCP header too large: {len} bytes of options"),
                ));
            }
        }
        Ok(TcpPacket {
            psp_spi,
            ports,
            flags,
            seq,
            ack,
            window,
            urg_ptr,
            options,
        })
    }

    /// `WORD ['.']`, `[WORD] FLOAT` (AccECN ACE, e.g. `.5`), `.` or `-`.
    fn parse_tcp_flags(&mut self) -> PResult<Spanned<TcpFlags>> {
        let start = self.peek().span;
        let mut spec = String::new();
        match self.peek().tok {
            Tok::Word => {
                spec.push_str(&self.bump().text);
                if self.peek().is_punct('.') || self.peek().tok == Tok::Float {
                    spec.push_str(&self.bump().text);
                }
            }
            Tok::Float => spec.push_str(&self.bump().text),
            Tok::Punct('.') => spec.push_str(&self.bump().text),
            Tok::Punct('-') => {
                self.bump();
            }
            _ => {
                self.expected
                    .extend(["TCP flags (`S`, `.`, `F.`, `-`, ...)", "`udp`", "`icmp`"]);
                return Err(self.unexpected());
            }
        }
        let span = start.to(self.prev_span());
        TcpFlags::parse(&spec)
            .map(|f| Spanned::new(f, span))
            .map_err(|e| Self::error_at(span, e))
    }

    /// `START:END(LEN)`.
    fn parse_seq_range(&mut self) -> PResult<Spanned<SeqRange>> {
        let start_span = self.peek().span;
        let start = self.expect_int::<u32>(
            "a sequence range `START:END(LEN)`",
            "TCP start sequence number",
        )?;
        self.expect_punct(':', "`:`")?;
        let end = self.expect_int::<u32>("an end sequence number", "TCP end sequence number")?;
        self.expect_punct('(', "`(`")?;
        let len = self.expect_int::<u16>("a payload length", "TCP payload size")?;
        self.expect_punct(')', "`)`")?;
        let span = start_span.to(self.prev_span());
        if u64::from(end.value) != u64::from(start.value) + u64::from(len.value) {
            return Err(Self::error_at(
                span,
                format!(
                    "inconsistent TCP sequence numbers and payload size: {}:{} is {} bytes, not {}",
                    start.value,
                    end.value,
                    i64::from(end.value) - i64::from(start.value),
                    len.value
                ),
            ));
        }
        Ok(Spanned::new(
            SeqRange {
                start: start.value,
                len: len.value,
            },
            span,
        ))
    }

    fn parse_tcp_options(&mut self) -> PResult<TcpOptions> {
        if !self.eat_punct('<', "`<` TCP options") {
            return Ok(TcpOptions::Exact(Vec::new()));
        }
        let open = self.prev_span();
        if matches!(self.peek().tok, Tok::Ellipsis) {
            self.bump();
            let close = self.expect_punct('>', "`>`")?;
            return Ok(TcpOptions::Any(open.to(close)));
        }
        let mut list = vec![self.parse_tcp_option()?];
        while !self.eat_punct('>', "`>`") {
            self.expect_punct(',', "`,`")?;
            list.push(self.parse_tcp_option()?);
        }
        Ok(TcpOptions::Exact(list))
    }

    fn parse_tcp_option(&mut self) -> PResult<TcpOption> {
        let start = self.peek().span;
        let kind = if self.eat_word("nop", "a TCP option") {
            TcpOptionKind::Nop
        } else if self.eat_word("eol", "a TCP option") {
            TcpOptionKind::Eol
        } else if self.eat_word("mss", "a TCP option") {
            TcpOptionKind::Mss(self.expect_int::<u16>("an MSS", "mss value")?.value)
        } else if self.eat_word("wscale", "a TCP option") {
            TcpOptionKind::WindowScale(
                self.expect_int::<u8>("a shift count", "window scale shift count")?
                    .value,
            )
        } else if self.eat_word("sackOK", "a TCP option") {
            TcpOptionKind::SackPermitted
        } else if self.eat_word("sack", "a TCP option") {
            let mut blocks = Vec::new();
            loop {
                let left =
                    self.expect_int::<u32>("a SACK block `L:R`", "TCP SACK left sequence number")?;
                self.expect_punct(':', "`:`")?;
                let right =
                    self.expect_int::<u32>("a SACK right edge", "TCP SACK right sequence number")?;
                blocks.push(SackBlock {
                    left: left.value,
                    right: right.value,
                });
                if !matches!(self.peek().tok, Tok::Int(_)) {
                    break;
                }
            }
            TcpOptionKind::Sack(blocks)
        } else if self.eat_word("md5", "a TCP option") {
            let blob = self.parse_hex_blob("an MD5 digest in hex")?;
            let bytes = hex_bytes(&blob.value).ok_or_else(|| {
                Self::error_at(
                    blob.span,
                    format!("TCP MD5 digest `{}` is not a valid hex string", blob.value),
                )
            })?;
            if bytes.len() > MD5_DIGEST_BYTES {
                return Err(Self::error_at(
                    blob.span,
                    "TCP MD5 digest longer than 16 bytes",
                ));
            }
            TcpOptionKind::Md5(bytes)
        } else if self.eat_word("TS", "a TCP option") {
            self.expect_word("val", "`val`")?;
            let val = self.expect_int::<u32>("a timestamp value", "ts val")?.value;
            self.expect_word("ecr", "`ecr`")?;
            let ecr = self
                .expect_int::<u32>("a timestamp echo reply", "ecr val")?
                .value;
            TcpOptionKind::Timestamp { val, ecr }
        } else if self.eat_word("FO", "a TCP option") {
            TcpOptionKind::FastOpen(self.parse_fast_open_cookie(false)?)
        } else if self.eat_word("FOEXP", "a TCP option") {
            TcpOptionKind::FastOpenExp(self.parse_fast_open_cookie(true)?)
        } else if self.eat_word("ECN", "a TCP option") {
            TcpOptionKind::AccEcn(self.parse_accecn()?)
        } else {
            return Err(self.unexpected());
        };
        Ok(TcpOption {
            kind,
            span: start.to(self.prev_span()),
        })
    }

    /// packetdrill's `hex_blob`: a word or the digits of an integer.
    fn parse_hex_blob(&mut self, shown: &'static str) -> PResult<Spanned<String>> {
        match self.peek().tok {
            Tok::Word | Tok::Int(_) => {
                let t = self.bump();
                Ok(Spanned::new(t.text, t.span))
            }
            _ => {
                self.expected.push(shown);
                Err(self.unexpected())
            }
        }
    }

    /// An optional cookie after `FO`/`FOEXP` (RFC 7413 §4.1.1: the option
    /// is 2 bytes, 4 for the experimental form, plus the cookie).
    fn parse_fast_open_cookie(&mut self, exp: bool) -> PResult<FastOpenCookie> {
        if !matches!(self.peek().tok, Tok::Word | Tok::Int(_)) {
            self.expected.push("a cookie in hex");
            return Ok(FastOpenCookie::Request);
        }
        let blob = self.parse_hex_blob("a cookie in hex")?;
        let text = &blob.value;
        if text.bytes().all(|b| b.is_ascii_hexdigit()) {
            if text.len() % 2 != 0 {
                return Err(Self::error_at(
                    blob.span,
                    "TCP fast open cookie has an odd number of digits",
                ));
            }
            let bytes =
                hex_bytes(text).ok_or_else(|| Self::error_at(blob.span, "bad hex cookie"))?;
            let max = MAX_TCP_OPTION_BYTES - if exp { 4 } else { 2 };
            if bytes.len() > max {
                return Err(Self::error_at(
                    blob.span,
                    format!(
                        "TCP fast open cookie of {} bytes exceeds maximum cookie length of {max} bytes",
                        bytes.len()
                    ),
                ));
            }
            return Ok(FastOpenCookie::Bytes(bytes));
        }
        let is_name = text.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if is_name {
            return Ok(FastOpenCookie::Named(text.clone()));
        }
        Err(Self::error_at(
            blob.span,
            format!("TCP fast open cookie `{text}` is not a valid hex string"),
        ))
    }

    /// `ECN e0b N [ceb N [e1b N]]` or `ECN e1b N [ceb N [e0b N]]`.
    fn parse_accecn(&mut self) -> PResult<AccEcnOption> {
        let first = if self.eat_word("e0b", "`e0b`") {
            AccEcnFirst::E0b
        } else {
            self.expect_word("e1b", "`e1b`")?;
            AccEcnFirst::E1b
        };
        let mut counters = vec![self.parse_accecn_val()?];
        if self.eat_word("ceb", "`ceb`") {
            counters.push(self.parse_accecn_val()?);
            let third = match first {
                AccEcnFirst::E0b => "e1b",
                AccEcnFirst::E1b => "e0b",
            };
            if self.peek().is_word(third) {
                self.bump();
                counters.push(self.parse_accecn_val()?);
            }
        }
        Ok(AccEcnOption { first, counters })
    }

    fn parse_accecn_val(&mut self) -> PResult<u32> {
        let v = self.expect_int::<i64>("an AccECN counter", "TCP AccECN field value")?;
        u32::try_from(v.value)
            .ok()
            .filter(|n| i64::from(*n) <= ACCECN_MAX)
            .ok_or_else(|| Self::error_at(v.span, "TCP AccECN field value out of range"))
    }

    fn parse_udp(&mut self) -> PResult<UdpPacket> {
        let ports = self.parse_opt_ports()?;
        self.expect_punct('(', "`(` and a payload length")?;
        let len = self
            .expect_int::<u16>("a payload length", "UDP payload size")?
            .value;
        self.expect_punct(')', "`)`")?;
        Ok(UdpPacket { ports, len })
    }

    /// `TYPE [CODE] [mtu N] [id N] [[echoed]]`.
    fn parse_icmp(&mut self) -> PResult<IcmpPacket> {
        if self.peek().tok != Tok::Word {
            self.expected
                .push("an ICMP type (`unreachable`, `echo_request`, `type_N`, ...)");
            return Err(self.unexpected());
        }
        let type_name = self.bump().text;
        let code_name = if self.peek().tok == Tok::Word
            && !self.peek().is_word("mtu")
            && !self.peek().is_word("id")
        {
            Some(self.bump().text)
        } else {
            None
        };
        let mtu = if self.eat_word("mtu", "`mtu`") {
            Some(self.expect_int::<u32>("an MTU", "ICMP MTU")?.value)
        } else {
            None
        };
        let echo_id = if self.eat_word("id", "`id`") {
            Some(self.expect_int::<u16>("an echo id", "ICMP echo id")?.value)
        } else {
            None
        };
        let echoed = if self.eat_punct('[', "`[` and the quoted packet") {
            let e = if self.eat_word("udp", "`udp (LEN)`") {
                IcmpEchoed::Udp(self.parse_paren_len("UDP payload size")?)
            } else if self.eat_word("raw", "`raw (LEN)`") {
                IcmpEchoed::Raw(self.parse_paren_len("raw payload size")?)
            } else {
                IcmpEchoed::Tcp(self.parse_seq_range()?.value)
            };
            self.expect_punct(']', "`]`")?;
            Some(e)
        } else {
            None
        };
        Ok(IcmpPacket {
            type_name,
            code_name,
            mtu,
            echo_id,
            echoed,
        })
    }

    fn parse_paren_len(&mut self, what: &str) -> PResult<u16> {
        self.expect_punct('(', "`(`")?;
        let len = self.expect_int::<u16>("a length", what)?.value;
        self.expect_punct(')', "`)`")?;
        Ok(len)
    }
}

/// Two hex digits per byte; `None` for odd length or a non-hex digit.
fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
