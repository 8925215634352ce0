//! `Display` for the syntax tree: a canonical script that parses back to an
//! equal tree. Comments and layout are not kept; times print in seconds with
//! trailing zeros dropped (`0.1`, `+0`), flags in the order `FSRPUEWA.` then
//! the ACE digit, hex cookies in lower case.

use core::fmt::{self, Display, Formatter, Write as _};

use synack_proto::Duration;

use super::ast::{Action, Event, EventTime, Expr, ExprKind, Script, ScriptOption, Syscall};
use super::packet::{
    AccEcnFirst, Ecn, EncapKind, Encapsulation, FastOpenCookie, GreFlag, GreFlags, GreHeader,
    IcmpEchoed, IcmpPacket, IpInfo, MplsEntry, Packet, PacketBody, Ports, SeqRange, TcpFlags,
    TcpOption, TcpOptionKind, TcpOptions, TcpPacket, TosSpec, UdpPacket,
};

/// Seconds with up to six decimals, trailing zeros dropped: `0`, `0.1`, `1.000001`.
pub fn fmt_seconds(d: Duration) -> String {
    let us = d.total_micros();
    let (secs, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        secs.to_string()
    } else {
        let digits = format!("{frac:06}");
        format!("{secs}.{}", digits.trim_end_matches('0'))
    }
}

fn join<T: Display>(f: &mut Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        item.fmt(f)?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl Display for Script {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for o in &self.options {
            writeln!(f, "{o}")?;
        }
        if let Some(c) = &self.init_command {
            writeln!(f, "`{}`", c.text)?;
        }
        for e in &self.events {
            writeln!(f, "{e}")?;
        }
        if let Some(c) = &self.cleanup_command {
            writeln!(f, "`{}`", c.text)?;
        }
        Ok(())
    }
}

/// Whether the lexer would read `v` back as one raw option value.
fn reads_back_raw(v: &str) -> bool {
    if v.is_empty() || v.starts_with('-') {
        return false;
    }
    let mut quote = None;
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == '\\' {
                    chars.next();
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                ' ' | '\t' | '\n' | '\r' => return false,
                '/' if matches!(chars.peek(), Some('/' | '*')) => return false,
                '"' | '`' => quote = Some(c),
                _ => {}
            },
        }
    }
    // An unclosed quote, or a whole string that would lose its quotes.
    quote.is_none() && !(v.len() >= 2 && v.starts_with('"') && v.ends_with('"'))
}

impl Display for ScriptOption {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "--{}", self.name)?;
        match &self.value {
            None => Ok(()),
            Some(v) if self.name == "define" || reads_back_raw(v) => write!(f, "={v}"),
            Some(v) => write!(f, "=\"{v}\""),
        }
    }
}

impl Display for EventTime {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match *self {
            EventTime::Absolute(t) => f.write_str(&fmt_seconds(t)),
            EventTime::Relative(t) => write!(f, "+{}", fmt_seconds(t)),
            EventTime::AbsoluteRange(a, b) => write!(f, "{}~{}", fmt_seconds(a), fmt_seconds(b)),
            EventTime::RelativeRange(a, b) => write!(f, "+{}~+{}", fmt_seconds(a), fmt_seconds(b)),
            EventTime::Any => f.write_str("*"),
        }
    }
}

impl Display for Event {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.time)?;
        // A blocking call's end time reads best glued to the start: `+0...0.2`.
        if let Action::Syscall(Syscall { end: Some(end), .. }) = &self.action {
            write!(f, "...{}", fmt_seconds(end.value))?;
        }
        write!(f, " {}", self.action)
    }
}

impl Display for Action {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Action::Packet(p) => p.fmt(f),
            Action::Syscall(s) => s.fmt(f),
            Action::Command(c) => write!(f, "`{}`", c.text),
            Action::Code(c) => write!(f, "%{{{}}}%", c.text),
        }
    }
}

/// The call without its blocking end time, which [`Event`] prints.
impl Display for Syscall {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name.value)?;
        join(f, &self.args, ", ")?;
        write!(f, ") = {}", self.result)?;
        if let Some(e) = &self.errno {
            write!(f, " {}", e.value)?;
        }
        if let Some(n) = &self.note {
            write!(f, " ({})", n.value)?;
        }
        Ok(())
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Ellipsis => f.write_str("..."),
            ExprKind::Int(i) if i.hex => write!(f, "{:#x}", i.value),
            ExprKind::Int(i) => write!(f, "{}", i.value),
            ExprKind::Word(w) => f.write_str(w),
            ExprKind::Str { parts, ellipsis } => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "\"{p}\"")?;
                }
                if *ellipsis {
                    f.write_str("...")?;
                }
                Ok(())
            }
            ExprKind::BitOr(items) => join(f, items, "|"),
            ExprKind::Assign { lhs, rhs } => write!(f, "{lhs}={rhs}"),
            ExprKind::Call { name, args } => {
                write!(f, "{name}(")?;
                join(f, args, ", ")?;
                f.write_str(")")
            }
            ExprKind::Array(items) => {
                f.write_str("[")?;
                join(f, items, ", ")?;
                f.write_str("]")
            }
            ExprKind::Struct(items) => {
                f.write_str("{")?;
                join(f, items, ", ")?;
                f.write_str("}")
            }
            ExprKind::Mpls(stack) => {
                f.write_str("{")?;
                join(f, stack, " ")?;
                f.write_str("}")
            }
            ExprKind::Gre(h) => write!(f, "{{{h}}}"),
        }
    }
}

impl Display for Packet {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self.direction {
            super::packet::Direction::Inbound => "<",
            super::packet::Direction::Outbound => ">",
        })?;
        for e in &self.encapsulation {
            write!(f, " {e}")?;
        }
        if !self.ip.is_empty() {
            write!(f, " {}", self.ip)?;
        }
        match &self.body {
            PacketBody::Tcp(t) => write!(f, " {t}"),
            PacketBody::Udp(u) => write!(f, " {u}"),
            PacketBody::Icmp(i) => write!(f, " {i}"),
        }
    }
}

impl Display for Encapsulation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let ip = |f: &mut Formatter<'_>, ip: &IpInfo| {
            if ip.is_empty() {
                Ok(())
            } else {
                write!(f, " {ip}")
            }
        };
        match &self.kind {
            EncapKind::Ipv4 { ip: i, src, dst } => {
                f.write_str("ipv4")?;
                ip(f, i)?;
                write!(f, " {src} > {dst}:")
            }
            EncapKind::Ipv6 { ip: i, src, dst } => {
                f.write_str("ipv6")?;
                ip(f, i)?;
                write!(f, " {src} > {dst}:")
            }
            EncapKind::Gre(None) => f.write_str("gre:"),
            EncapKind::Gre(Some(h)) => write!(f, "gre {h}:"),
            EncapKind::Mpls(stack) => {
                f.write_str("mpls")?;
                for e in stack {
                    write!(f, " {e}")?;
                }
                f.write_str(":")
            }
        }
    }
}

impl Display for MplsEntry {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "(label {}, tc {}, ", self.label, self.tc)?;
        if self.bottom {
            f.write_str("[S], ")?;
        }
        write!(f, "ttl {})", self.ttl)
    }
}

impl Display for GreHeader {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("flags ")?;
        match &self.flags {
            GreFlags::Value(v) => write!(f, "{v}")?,
            GreFlags::Named(list) => {
                f.write_str("[")?;
                for (i, flag) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(match flag {
                        GreFlag::None => "none",
                        GreFlag::Checksum => "checksum present",
                        GreFlag::Key => "key present",
                        GreFlag::Sequence => "sequence# present",
                    })?;
                }
                f.write_str("]")?;
            }
        }
        write!(
            f,
            " sum {} off {} key {} seq {}",
            self.sum, self.off, self.key, self.seq
        )
    }
}

impl Display for IpInfo {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            IpInfo::None => Ok(()),
            IpInfo::Tos(t) => write!(f, "({t})"),
            IpInfo::FlowLabel(l) => write!(f, "(flowlabel {l:#x})"),
            IpInfo::TosAndFlowLabel(t, l) => write!(f, "({t}, flowlabel {l:#x})"),
            IpInfo::Ttl(t) => write!(f, "[ttl {t}]"),
        }
    }
}

impl Display for TosSpec {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TosSpec::Ecn(Ecn::NotEct) => f.write_str("noecn"),
            TosSpec::Ecn(Ecn::Ect0) => f.write_str("ect0"),
            TosSpec::Ecn(Ecn::Ect1) => f.write_str("ect1"),
            TosSpec::Ecn(Ecn::Ce) => f.write_str("ce"),
            TosSpec::Ect01 => f.write_str("ect01"),
            TosSpec::Tos(t) => write!(f, "tos {t:#x}"),
        }
    }
}

impl Display for Ports {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}>{}", self.src, self.dst)
    }
}

impl Display for TcpPacket {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(spi) = &self.psp_spi {
            write!(f, "encap psp spi {} ", spi.value)?;
        }
        if let Some(p) = &self.ports {
            write!(f, "{p} ")?;
        }
        write!(f, "{} {}", self.flags.value, self.seq.value)?;
        if let Some(a) = &self.ack {
            write!(f, " ack {}", a.value)?;
        }
        if let Some(w) = &self.window {
            write!(f, " win {}", w.value)?;
        }
        if let Some(u) = &self.urg_ptr {
            write!(f, " urg {}", u.value)?;
        }
        match &self.options {
            TcpOptions::Exact(list) if list.is_empty() => Ok(()),
            TcpOptions::Exact(list) => {
                f.write_str(" <")?;
                join(f, list, ",")?;
                f.write_str(">")
            }
            TcpOptions::Any(_) => f.write_str(" <...>"),
        }
    }
}

/// Letters first, then `.`, then the ACE digit, so the text lexes back as
/// packetdrill's `WORD '.'`, `WORD FLOAT` or `FLOAT` flag forms.
impl Display for TcpFlags {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for (on, c) in [
            (self.fin, 'F'),
            (self.syn, 'S'),
            (self.rst, 'R'),
            (self.psh, 'P'),
            (self.urg, 'U'),
            (self.ece, 'E'),
            (self.cwr, 'W'),
            (self.ae, 'A'),
            (self.ack, '.'),
        ] {
            if on {
                s.push(c);
            }
        }
        if let Some(ace) = self.ace {
            s.push(char::from(b'0' + ace));
        }
        if s.is_empty() {
            s.push('-');
        }
        f.write_str(&s)
    }
}

impl Display for SeqRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}({})", self.start, self.end(), self.len)
    }
}

impl Display for TcpOption {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl Display for TcpOptionKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TcpOptionKind::Eol => f.write_str("eol"),
            TcpOptionKind::Nop => f.write_str("nop"),
            TcpOptionKind::Mss(m) => write!(f, "mss {m}"),
            TcpOptionKind::WindowScale(w) => write!(f, "wscale {w}"),
            TcpOptionKind::SackPermitted => f.write_str("sackOK"),
            TcpOptionKind::Sack(blocks) => {
                f.write_str("sack")?;
                for b in blocks {
                    write!(f, " {}:{}", b.left, b.right)?;
                }
                Ok(())
            }
            TcpOptionKind::Timestamp { val, ecr } => write!(f, "TS val {val} ecr {ecr}"),
            TcpOptionKind::Md5(d) => write!(f, "md5 {}", hex(d)),
            TcpOptionKind::FastOpen(c) => write!(f, "FO{c}"),
            TcpOptionKind::FastOpenExp(c) => write!(f, "FOEXP{c}"),
            TcpOptionKind::AccEcn(a) => {
                let names = match a.first {
                    AccEcnFirst::E0b => ["e0b", "ceb", "e1b"],
                    AccEcnFirst::E1b => ["e1b", "ceb", "e0b"],
                };
                f.write_str("ECN")?;
                for (name, v) in names.iter().zip(&a.counters) {
                    write!(f, " {name} {v}")?;
                }
                Ok(())
            }
        }
    }
}

/// With a leading space when there is a cookie, so `FO{cookie}` reads right.
impl Display for FastOpenCookie {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FastOpenCookie::Request => Ok(()),
            FastOpenCookie::Bytes(b) => write!(f, " {}", hex(b)),
            FastOpenCookie::Named(n) => write!(f, " {n}"),
        }
    }
}

impl Display for UdpPacket {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("udp ")?;
        if let Some(p) = &self.ports {
            write!(f, "{p} ")?;
        }
        write!(f, "({})", self.len)
    }
}

impl Display for IcmpPacket {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "icmp {}", self.type_name)?;
        if let Some(c) = &self.code_name {
            write!(f, " {c}")?;
        }
        if let Some(m) = self.mtu {
            write!(f, " mtu {m}")?;
        }
        if let Some(id) = self.echo_id {
            write!(f, " id {id}")?;
        }
        match self.echoed {
            None => Ok(()),
            Some(IcmpEchoed::Tcp(r)) => write!(f, " [{r}]"),
            Some(IcmpEchoed::Udp(n)) => write!(f, " [udp ({n})]"),
            Some(IcmpEchoed::Raw(n)) => write!(f, " [raw ({n})]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_print_without_trailing_zeros() {
        assert_eq!(fmt_seconds(Duration::ZERO), "0");
        assert_eq!(fmt_seconds(Duration::from_millis(100)), "0.1");
        assert_eq!(fmt_seconds(Duration::from_micros(1_000_001)), "1.000001");
        assert_eq!(fmt_seconds(Duration::from_secs(65)), "65");
    }

    #[test]
    fn flags_print_letters_then_ack_then_ace() {
        let f = |s: &str| TcpFlags::parse(s).unwrap().to_string();
        assert_eq!(f("S."), "S.");
        assert_eq!(f(".S"), "S.");
        assert_eq!(f("P."), "P.");
        assert_eq!(f(""), "-");
        assert_eq!(f("."), ".");
        assert_eq!(f("SEW"), "SEW");
        assert_eq!(f(".5"), ".5");
        assert_eq!(f("S.5"), "S.5");
        assert_eq!(f("FU."), "FU.");
    }

    #[test]
    fn option_values_quote_only_when_they_must() {
        assert!(reads_back_raw("7000"));
        assert!(reads_back_raw("ipv4-mapped-ipv6"));
        assert!(reads_back_raw("X=\"a b\""));
        assert!(!reads_back_raw("a b"));
        assert!(!reads_back_raw(""));
        assert!(!reads_back_raw("a//b"));
        assert!(!reads_back_raw("\"ab\""));
        assert!(!reads_back_raw("-x"));
    }
}
