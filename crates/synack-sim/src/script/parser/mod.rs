//! Recursive-descent parser for packetdrill scripts.
//!
//! It follows packetdrill's grammar (gtests/net/packetdrill/parser.y) and
//! makes the semantic checks packetdrill makes while parsing (ranges and
//! `*` only on outbound packets, window required inbound, options padded to
//! 4 bytes, values in range, ...), so a script it accepts is one packetdrill
//! accepts, with a few documented leniencies (see [`super`]).
//!
//! Errors list what would have been accepted at the failing token: the
//! parser records each alternative it checks ("expected") and forgets them
//! when it consumes a token.

mod expr;
mod packet;

use std::collections::HashMap;

use synack_proto::Duration;

use super::ast::{Action, CodeBlock, Command, Event, EventTime, Script, ScriptOption, Syscall};
use super::lexer::{Tok, Token};
use super::packet::{Direction, IcmpVersion};
use super::span::{Span, Spanned, SyntaxError};

type PResult<T> = Result<T, SyntaxError>;

/// The words packetdrill's lexer (lexer.l) turns into keyword tokens.
const KEYWORDS: &[&str] = &[
    "sa_family",
    "sin_port",
    "sin_addr",
    "msg_name",
    "msg_iov",
    "msg_flags",
    "msg_control",
    "cmsg_data",
    "cmsg_level",
    "cmsg_type",
    "ee_errno",
    "ee_origin",
    "ee_type",
    "ee_code",
    "ee_info",
    "ee_data",
    "scm_sec",
    "scm_nsec",
    "fd",
    "u32",
    "u64",
    "ptr",
    "events",
    "revents",
    "onoff",
    "linger",
    "htons",
    "ipv4",
    "ipv6",
    "icmp",
    "udp",
    "GREv0",
    "gre",
    "raw",
    "sum",
    "off",
    "key",
    "seq",
    "none",
    "checksum",
    "sequence#",
    "present",
    "encap",
    "psp",
    "spi",
    "mpls",
    "label",
    "tc",
    "ttl",
    "inet_addr",
    "inet6_addr",
    "ack",
    "eol",
    "ecr",
    "mss",
    "mtu",
    "nop",
    "sack",
    "sackOK",
    "md5",
    "TS",
    "FO",
    "FOEXP",
    "ECN",
    "e0b",
    "e1b",
    "ceb",
    "tos",
    "flowlabel",
    "flags",
    "Flags",
    "val",
    "win",
    "urg",
    "wscale",
    "ect01",
    "ect0",
    "ect1",
    "noecn",
    "ce",
    "id",
];

pub(crate) fn parse_tokens(toks: Vec<Token>, external_defines: &[(&str, &str)]) -> PResult<Script> {
    let mut p = Parser {
        toks,
        pos: 0,
        expected: Vec::new(),
        icmp_version: IcmpVersion::V4,
    };
    p.parse_script(external_defines)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// Alternatives checked at the current token; cleared on `bump`.
    expected: Vec<&'static str>,
    icmp_version: IcmpVersion,
}

impl Parser {
    // ----- token plumbing -----

    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Token {
        // The token list always ends with Eof, so clamp to it.
        let last = self.toks.len() - 1;
        &self.toks[(self.pos + n).min(last)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        self.expected.clear();
        t
    }

    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }

    /// Whether the next token is punctuation `c`; remembers it as expected.
    fn check_punct(&mut self, c: char, shown: &'static str) -> bool {
        if self.peek().is_punct(c) {
            true
        } else {
            self.expected.push(shown);
            false
        }
    }

    fn eat_punct(&mut self, c: char, shown: &'static str) -> bool {
        let yes = self.check_punct(c, shown);
        if yes {
            self.bump();
        }
        yes
    }

    fn expect_punct(&mut self, c: char, shown: &'static str) -> PResult<Span> {
        if self.eat_punct(c, shown) {
            Ok(self.prev_span())
        } else {
            Err(self.unexpected())
        }
    }

    fn check_word(&mut self, w: &str, shown: &'static str) -> bool {
        if self.peek().is_word(w) {
            true
        } else {
            self.expected.push(shown);
            false
        }
    }

    fn eat_word(&mut self, w: &str, shown: &'static str) -> bool {
        let yes = self.check_word(w, shown);
        if yes {
            self.bump();
        }
        yes
    }

    fn expect_word(&mut self, w: &str, shown: &'static str) -> PResult<Span> {
        if self.eat_word(w, shown) {
            Ok(self.prev_span())
        } else {
            Err(self.unexpected())
        }
    }

    /// "expected A, B or C, found X" at the next token.
    fn unexpected(&self) -> SyntaxError {
        let mut seen: Vec<&str> = Vec::new();
        for e in &self.expected {
            if !seen.contains(e) {
                seen.push(e);
            }
        }
        let expected = match seen.as_slice() {
            [] => "something else".to_string(),
            [one] => (*one).to_string(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
        };
        let t = self.peek();
        SyntaxError::new(
            t.span,
            format!("expected {expected}, found {}", t.describe()),
        )
    }

    fn error_at(span: Span, msg: impl Into<String>) -> SyntaxError {
        SyntaxError::new(span, msg)
    }

    /// A decimal integer (packetdrill's INTEGER) that fits `T`.
    fn expect_int<T: TryFrom<i64>>(
        &mut self,
        shown: &'static str,
        what: &str,
    ) -> PResult<Spanned<T>> {
        match self.peek().tok {
            Tok::Int(v) => {
                let t = self.bump();
                v.and_then(|v| T::try_from(v).ok())
                    .map(|v| Spanned::new(v, t.span))
                    .ok_or_else(|| Self::error_at(t.span, format!("{what} out of range")))
            }
            _ => {
                self.expected.push(shown);
                Err(self.unexpected())
            }
        }
    }

    /// A decimal or hexadecimal integer (packetdrill's `any_int`).
    fn expect_any_int(&mut self, shown: &'static str) -> PResult<Spanned<i64>> {
        match self.peek().tok {
            Tok::Int(v) | Tok::Hex(v) => {
                let t = self.bump();
                v.map(|v| Spanned::new(v, t.span))
                    .ok_or_else(|| Self::error_at(t.span, "integer out of range"))
            }
            _ => {
                self.expected.push(shown);
                Err(self.unexpected())
            }
        }
    }

    // ----- script -----

    fn parse_script(&mut self, external_defines: &[(&str, &str)]) -> PResult<Script> {
        let options = self.parse_options()?;

        // Defines: the script's, then the caller's (packetdrill lets the
        // command line override the script).
        let mut defines: HashMap<String, String> = HashMap::new();
        for o in &options {
            if let Some((k, v)) = o.as_define() {
                defines.insert(k.to_string(), v.to_string());
            }
        }
        for (k, v) in external_defines {
            defines.insert((*k).to_string(), (*v).to_string());
        }
        self.substitute_defines(&defines);
        if let Some(v) = options.iter().rev().find(|o| o.name == "ip_version")
            && v.value.as_deref() == Some("ipv6")
        {
            self.icmp_version = IcmpVersion::V6;
        }

        let init_command = match &self.peek().tok {
            Tok::BackQuoted(text) => {
                let text = text.clone();
                let span = self.bump().span;
                Some(Command { text, span })
            }
            _ => None,
        };

        let mut events = Vec::new();
        let mut cleanup_command = None;
        loop {
            match &self.peek().tok {
                Tok::Eof if !events.is_empty() => break,
                Tok::BackQuoted(text) if !events.is_empty() && self.peek_at(1).tok == Tok::Eof => {
                    let text = text.clone();
                    let span = self.bump().span;
                    cleanup_command = Some(Command { text, span });
                    break;
                }
                Tok::BackQuoted(_) => {
                    return Err(Self::error_at(
                        self.peek().span,
                        "a shell command needs an event time (e.g. `+0 `...``) unless it is \
                         the first or the last thing in the script",
                    ));
                }
                Tok::Opt { name, .. } => {
                    return Err(Self::error_at(
                        self.peek().span,
                        format!("option `--{name}` must come before the first event"),
                    ));
                }
                _ => events.push(self.parse_event()?),
            }
        }
        Ok(Script {
            options,
            init_command,
            events,
            cleanup_command,
        })
    }

    fn parse_options(&mut self) -> PResult<Vec<ScriptOption>> {
        let mut options = Vec::new();
        while let Tok::Opt { name, value } = &self.peek().tok {
            let (name, value) = (name.clone(), value.clone());
            let span = self.bump().span;
            let value = match value {
                // packetdrill's STRING option value loses its quotes; a
                // define keeps them so the value lexes back as a string.
                Some(v) if name != "define" => Some(unquote(&v).unwrap_or(v)),
                v => v,
            };
            if name == "define" {
                let ok = value
                    .as_deref()
                    .and_then(|v| v.split_once('='))
                    .is_some_and(|(k, _)| is_define_name(k));
                if !ok {
                    return Err(Self::error_at(span, "expected `--define=NAME=VALUE`"));
                }
            }
            options.push(ScriptOption { name, value, span });
        }
        Ok(options)
    }

    /// packetdrill's lexer replaces each word that names a define by its
    /// value: a string, a backquoted command, an integer (C `strtol`
    /// syntax) or another word.
    fn substitute_defines(&mut self, defines: &HashMap<String, String>) {
        if defines.is_empty() {
            return;
        }
        for t in &mut self.toks[self.pos..] {
            if t.tok != Tok::Word {
                continue;
            }
            // Keywords are their own tokens in packetdrill's lexer, never
            // looked up as defines.
            if KEYWORDS.contains(&t.text.as_str()) {
                continue;
            }
            let Some(value) = defines.get(&t.text) else {
                continue;
            };
            t.tok = if let Some(s) = value.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Tok::Str(s.to_string())
            } else if let Some(s) = value.strip_prefix('`').and_then(|s| s.strip_suffix('`')) {
                Tok::BackQuoted(s.to_string())
            } else if let Some(n) = strtol(value) {
                Tok::Int(Some(n))
            } else {
                Tok::Word
            };
            t.text = value.clone();
        }
    }

    // ----- events -----

    fn parse_event(&mut self) -> PResult<Event> {
        let time_start = self.peek().span;
        let time = self.parse_event_time()?;
        let time_span = time_start.to(self.prev_span());

        let action = match &self.peek().tok {
            Tok::Punct('<') | Tok::Punct('>') => Action::Packet(self.parse_packet()?),
            Tok::Ellipsis | Tok::Word => Action::Syscall(self.parse_syscall()?),
            Tok::BackQuoted(text) => {
                let text = text.clone();
                let span = self.bump().span;
                Action::Command(Command { text, span })
            }
            Tok::Code(text) => {
                let text = text.clone();
                let span = self.bump().span;
                Action::Code(CodeBlock { text, span })
            }
            _ => {
                self.expected.extend([
                    "a packet (`<` or `>`)",
                    "a system call",
                    "a `shell command`",
                    "a %{ code }% block",
                ]);
                return Err(self.unexpected());
            }
        };

        self.expect_event_boundary()?;

        // packetdrill's parser.y `event` rule: only an outbound packet can
        // be expected "at any time" or within a time range.
        let outbound_packet =
            matches!(&action, Action::Packet(p) if p.direction == Direction::Outbound);
        match time {
            EventTime::Any if !outbound_packet => {
                return Err(Self::error_at(
                    time_span,
                    "event time `*` can only be used with outbound packets",
                ));
            }
            EventTime::AbsoluteRange(..) | EventTime::RelativeRange(..) if !outbound_packet => {
                return Err(Self::error_at(
                    time_span,
                    "event time range can only be used with outbound packets",
                ));
            }
            EventTime::AbsoluteRange(a, b) | EventTime::RelativeRange(a, b) if b < a => {
                return Err(Self::error_at(time_span, "time range is backwards"));
            }
            _ => {}
        }
        let span = time_start.to(self.prev_span());
        Ok(Event {
            time,
            time_span,
            action,
            span,
        })
    }

    /// After an action the script must end or the next event begin; checked
    /// before semantic checks so a stray word is reported as what it is.
    fn expect_event_boundary(&mut self) -> PResult<()> {
        match self.peek().tok {
            // An option is an error, but the script loop names it better.
            Tok::Eof | Tok::BackQuoted(_) | Tok::Int(_) | Tok::Float | Tok::Opt { .. } => Ok(()),
            Tok::Punct('+' | '*') => Ok(()),
            _ => {
                self.expected.push("the next event's time");
                Err(self.unexpected())
            }
        }
    }

    fn parse_event_time(&mut self) -> PResult<EventTime> {
        if self.eat_punct('*', "an event time") {
            return Ok(EventTime::Any);
        }
        if self.eat_punct('+', "an event time") {
            let start = self.parse_time()?;
            if self.eat_punct('~', "`~`") {
                self.expect_punct('+', "`+` (both ends of a relative range are relative)")?;
                let end = self.parse_time()?;
                return Ok(EventTime::RelativeRange(start, end));
            }
            return Ok(EventTime::Relative(start));
        }
        if !matches!(self.peek().tok, Tok::Float | Tok::Int(_)) {
            self.expected.push("an event time");
            return Err(self.unexpected());
        }
        let start = self.parse_time()?;
        if self.eat_punct('~', "`~`") {
            let end = self.parse_time()?;
            return Ok(EventTime::AbsoluteRange(start, end));
        }
        Ok(EventTime::Absolute(start))
    }

    /// Seconds as packetdrill writes them (`0`, `.1`, `1.250`) to an exact
    /// microsecond count; digits past the sixth decimal are dropped.
    fn parse_time(&mut self) -> PResult<Duration> {
        if !matches!(self.peek().tok, Tok::Float | Tok::Int(_)) {
            self.expected.push("a time in seconds");
            return Err(self.unexpected());
        }
        let t = self.bump();
        parse_seconds(&t.text).map_err(|msg| Self::error_at(t.span, msg))
    }

    // ----- system calls -----

    fn parse_syscall(&mut self) -> PResult<Syscall> {
        let start = self.peek().span;
        let end = if matches!(self.peek().tok, Tok::Ellipsis) {
            self.bump();
            let t0 = self.peek().span;
            let d = self.parse_time()?;
            Some(Spanned::new(d, t0.to(self.prev_span())))
        } else {
            None
        };
        if self.peek().tok != Tok::Word {
            self.expected.push("a system call name");
            return Err(self.unexpected());
        }
        let name_tok = self.bump();
        let name = Spanned::new(name_tok.text, name_tok.span);
        self.expect_punct('(', "`(`")?;
        let args = if self.eat_punct(')', "`)`") {
            Vec::new()
        } else {
            self.parse_expr_list(')', "`)`")?
        };
        self.expect_punct('=', "`=` and the expected result")?;
        let result = self.parse_expr()?;
        let errno = if self.peek().tok == Tok::Word {
            let t = self.bump();
            Some(Spanned::new(t.text, t.span))
        } else {
            self.expected.push("an errno name");
            None
        };
        let note = if self.check_punct('(', "a `(note)`") {
            Some(self.parse_note()?)
        } else {
            None
        };
        Ok(Syscall {
            name,
            end,
            args,
            result,
            errno,
            note,
            span: start.to(self.prev_span()),
        })
    }

    /// `(words ...)`: the tokens' text, single-spaced where the source had
    /// space; comments dropped.
    fn parse_note(&mut self) -> PResult<Spanned<String>> {
        let open = self.bump().span;
        let mut note = String::new();
        loop {
            let t = self.peek();
            match &t.tok {
                Tok::Punct(')') => break,
                Tok::Word | Tok::Int(_) | Tok::Hex(_) | Tok::Float | Tok::Ipv4 | Tok::Ipv6 => {}
                Tok::Punct(c) if *c != '(' => {}
                _ => {
                    self.expected.push("`)` to close the note");
                    return Err(self.unexpected());
                }
            }
            let t = self.bump();
            if t.gap_before && !note.is_empty() {
                note.push(' ');
            }
            note.push_str(&t.text);
        }
        let close = self.bump().span;
        if note.is_empty() {
            return Err(Self::error_at(open.to(close), "empty note `()`"));
        }
        Ok(Spanned::new(note, open.to(close)))
    }
}

/// A name packetdrill's lexer reads as one WORD: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_define_name(k: &str) -> bool {
    k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A string option value `"..."` without its quotes.
fn unquote(v: &str) -> Option<String> {
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    // Only one string: no unescaped quote inside.
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return None,
            _ => {}
        }
    }
    Some(inner.to_string())
}

/// C `strtol(s, &end, 0)` over the whole string: optional sign, `0x` hex,
/// leading-`0` octal, decimal.
fn strtol(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, h)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// `[-]?[0-9]*[.][0-9]+` or `[-]?[0-9]+` seconds to microseconds.
pub(crate) fn parse_seconds(text: &str) -> Result<Duration, String> {
    if text.starts_with('-') {
        return Err("negative time".into());
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| "time out of range".to_string())?
    };
    let mut micros: u64 = 0;
    for (i, d) in frac.bytes().take(6).enumerate() {
        micros += u64::from(d - b'0') * 10u64.pow(5 - i as u32);
    }
    secs.checked_mul(1_000_000)
        .and_then(|s| s.checked_add(micros))
        .map(Duration::from_micros)
        .ok_or_else(|| "time out of range".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_convert_exactly_to_microseconds() {
        let us = |s: &str| parse_seconds(s).unwrap().total_micros();
        assert_eq!(us("0"), 0);
        assert_eq!(us(".1"), 100_000);
        assert_eq!(us("0.100"), 100_000);
        assert_eq!(us("4.35"), 4_350_000); // a double would give 4349999
        assert_eq!(us("1.0000019"), 1_000_001);
        assert_eq!(us("65"), 65_000_000);
        assert_eq!(parse_seconds("-1").unwrap_err(), "negative time");
        assert!(parse_seconds("99999999999999999999").is_err());
    }

    #[test]
    fn strtol_reads_c_integer_syntax() {
        assert_eq!(strtol("1000"), Some(1000));
        assert_eq!(strtol("0x10"), Some(16));
        assert_eq!(strtol("010"), Some(8));
        assert_eq!(strtol("-5"), Some(-5));
        assert_eq!(strtol("0"), Some(0));
        assert_eq!(strtol("3021b9d889017eeb"), None);
        assert_eq!(strtol("IPPROTO_TCP"), None);
        assert_eq!(strtol("09"), None);
    }

    #[test]
    fn unquote_takes_one_whole_string_only() {
        assert_eq!(unquote("\"a b\""), Some("a b".into()));
        assert_eq!(unquote("\"a\\\"b\""), Some("a\\\"b".into()));
        assert_eq!(unquote("\"a\"b\""), None);
        assert_eq!(unquote("abc"), None);
    }
}
