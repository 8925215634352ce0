//! Tokens of the packetdrill script language.
//!
//! The rules follow packetdrill's flex lexer (gtests/net/packetdrill/lexer.l):
//! the longest match wins and, between matches of equal length, the earlier
//! rule. Keywords (`ack`, `win`, `mss`, ...) are ordinary words here; the
//! parser checks their spelling where the grammar wants them. Whitespace is
//! space, tab and newline (carriage return too, so CRLF files read the same);
//! `//` and `/* */` comments are skipped.
//!
//! Two lexical forms are ours rather than packetdrill's, both for option
//! lines at the top of a script: `--name value` (the command-line form, value
//! on the same line) and `-D NAME=VALUE` (packetdrill's command-line define,
//! written `--define=NAME=VALUE` inside scripts). An option's value is read
//! raw to the next blank, so `--ip_version=ipv4-mapped-ipv6` and
//! `--tolerance_percent=12.5` work.

use super::span::{Span, SyntaxError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `--name[=value]`; `-D NAME=VALUE` arrives as name `define`. The value
    /// is raw text (quotes kept); the parser unquotes it.
    Opt {
        name: String,
        value: Option<String>,
    },
    /// `[-]?[0-9]*[.][0-9]+`
    Float,
    /// `[-]?[0-9]+`; `None` when it does not fit an i64 (the text is kept:
    /// long digit strings are valid TCP Fast Open cookies).
    Int(Option<i64>),
    /// `0x[0-9a-fA-F]+`; `None` when it does not fit an i64.
    Hex(Option<i64>),
    /// `[a-zA-Z0-9_]+` (and `sequence#`).
    Word,
    /// The raw text between double quotes; escapes are kept as written.
    Str(String),
    /// The raw text between backquotes, newlines included.
    BackQuoted(String),
    /// The raw text between `%{` and `}%`.
    Code(String),
    Ipv4,
    Ipv6,
    /// `...`
    Ellipsis,
    /// Any other single character.
    Punct(char),
    Eof,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    /// The source text of the token.
    pub text: String,
    pub span: Span,
    /// Whether whitespace or a comment separates this token from the previous one.
    pub gap_before: bool,
}

impl Token {
    pub fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }

    pub fn is_word(&self, w: &str) -> bool {
        self.tok == Tok::Word && self.text == w
    }

    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match &self.tok {
            Tok::Eof => "end of file".to_string(),
            Tok::Str(_) => format!("string {}", clip(&self.text)),
            Tok::BackQuoted(_) => "a `shell command`".to_string(),
            Tok::Code(_) => "a %{ code }% block".to_string(),
            Tok::Opt { name, .. } => format!("option `--{name}`"),
            _ => format!("`{}`", clip(&self.text)),
        }
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}...")
    }
}

/// Splits `src` into tokens, ending with one `Eof`.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lx = Lexer {
        src,
        pos: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        let gap_before = lx.skip_blanks_and_comments()?;
        let start = lx.here();
        let Some(c) = lx.peek(0) else {
            out.push(Token {
                tok: Tok::Eof,
                text: String::new(),
                span: lx.span_from(start),
                gap_before,
            });
            return Ok(out);
        };
        let tok = lx.lex_one(c, start)?;
        out.push(Token {
            tok,
            text: src[start.offset..lx.pos].to_string(),
            span: lx.span_from(start),
            gap_before,
        });
    }
}

#[derive(Clone, Copy)]
struct Mark {
    offset: usize,
    line: u32,
    col: u32,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    col: u32,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

impl Lexer<'_> {
    fn here(&self) -> Mark {
        Mark {
            offset: self.pos,
            line: self.line,
            col: self.col,
        }
    }

    fn span_from(&self, m: Mark) -> Span {
        Span {
            line: m.line,
            column: m.col,
            end_line: self.line,
            end_column: self.col,
            start: m.offset,
            end: self.pos,
        }
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + i).copied()
    }

    /// Moves forward `n` bytes (always on a char boundary), tracking lines.
    fn advance(&mut self, n: usize) {
        let end = (self.pos + n).min(self.src.len());
        for c in self.src[self.pos..end].chars() {
            if c == '\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
        }
        self.pos = end;
    }

    /// Skips whitespace and comments; reports whether anything was skipped.
    fn skip_blanks_and_comments(&mut self) -> Result<bool, SyntaxError> {
        let before = self.pos;
        loop {
            let rest = self.rest();
            if let Some(c) = rest.chars().next().filter(|c| is_blank(*c)) {
                self.advance(c.len_utf8());
            } else if rest.starts_with("//") {
                let len = rest.find('\n').map_or(rest.len(), |i| i + 1);
                self.advance(len);
            } else if let Some(body) = rest.strip_prefix("/*") {
                let start = self.here();
                match body.find("*/") {
                    Some(i) => self.advance(i + 4),
                    None => {
                        self.advance(2);
                        return Err(SyntaxError::new(
                            self.span_from(start),
                            "unterminated `/*` comment (missing `*/`)",
                        ));
                    }
                }
            } else {
                return Ok(self.pos != before);
            }
        }
    }

    fn lex_one(&mut self, c: char, start: Mark) -> Result<Tok, SyntaxError> {
        let rest = self.rest();
        if rest.starts_with("...") {
            self.advance(3);
            return Ok(Tok::Ellipsis);
        }
        if rest.starts_with("--") && rest.as_bytes().get(2).copied().is_some_and(is_word_byte) {
            return self.lex_option(start);
        }
        if rest.starts_with("-D")
            && rest[2..]
                .chars()
                .next()
                .is_some_and(|c| c == ' ' || c == '\t' || c.is_ascii_alphabetic() || c == '_')
        {
            return self.lex_define(start);
        }
        if c == '"' || c == '`' {
            return self.lex_quoted(c, start);
        }
        if let Some(after) = rest.strip_prefix("%{") {
            return match after.find("}%") {
                Some(i) => {
                    let body = after[..i].to_string();
                    self.advance(i + 4);
                    Ok(Tok::Code(body))
                }
                None => {
                    self.advance(2);
                    Err(SyntaxError::new(
                        self.span_from(start),
                        "unterminated `%{` block (missing `}%`)",
                    ))
                }
            };
        }
        if (c == '-' || c == '.' || c.is_ascii_alphanumeric() || c == '_')
            && let Some(tok) = self.lex_number_or_word()
        {
            return Ok(tok);
        }
        self.advance(c.len_utf8());
        Ok(Tok::Punct(c))
    }

    /// Longest match among FLOAT, INTEGER, HEX_INTEGER, WORD, IPV4_ADDR and
    /// IPV6_ADDR, ties to the earlier rule (in that order).
    fn lex_number_or_word(&mut self) -> Option<Tok> {
        let b = self.src.as_bytes();
        let p = self.pos;
        let digits_from = |i: usize| {
            b[i.min(b.len())..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let neg = usize::from(b[p] == b'-');
        let int_digits = digits_from(p + neg);
        let int_len = if int_digits > 0 { neg + int_digits } else { 0 };
        let float_len = {
            let i = p + neg + int_digits;
            if b.get(i) == Some(&b'.') {
                let frac = digits_from(i + 1);
                if frac > 0 {
                    neg + int_digits + 1 + frac
                } else {
                    0
                }
            } else {
                0
            }
        };
        let hex_len = if b[p..].starts_with(b"0x") {
            let n = b[p + 2..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            if n > 0 { 2 + n } else { 0 }
        } else {
            0
        };
        let word_len = b[p..].iter().take_while(|c| is_word_byte(**c)).count();
        let ipv4_len = ipv4_len(&b[p..]);
        let ipv6_len = ipv6_len(&self.src[p..]);

        // Candidates in rule order; `max_by_key` keeps the last maximum, so
        // scan in reverse to let the earliest rule win ties.
        let candidates = [
            (float_len, 0u8),
            (int_len, 1),
            (hex_len, 2),
            (word_len, 3),
            (ipv4_len, 4),
            (ipv6_len, 5),
        ];
        let (len, rule) = candidates
            .iter()
            .rev()
            .copied()
            .filter(|(len, _)| *len > 0)
            .max_by_key(|(len, _)| *len)?;
        let text = &self.src[p..p + len];
        let tok = match rule {
            0 => Tok::Float,
            1 => Tok::Int(text.parse::<i64>().ok()),
            2 => Tok::Hex(i64::from_str_radix(&text[2..], 16).ok()),
            3 => {
                // packetdrill's GRE keyword `sequence#` outruns the word.
                if text == "sequence" && b.get(p + len) == Some(&b'#') {
                    self.advance(len + 1);
                    return Some(Tok::Word);
                }
                Tok::Word
            }
            4 => Tok::Ipv4,
            _ => Tok::Ipv6,
        };
        self.advance(len);
        Some(tok)
    }

    fn lex_quoted(&mut self, quote: char, start: Mark) -> Result<Tok, SyntaxError> {
        let rest = self.rest();
        let mut chars = rest.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                chars.next();
            } else if c == quote {
                let body = rest[1..i].to_string();
                self.advance(i + 1);
                return Ok(if quote == '"' {
                    Tok::Str(body)
                } else {
                    Tok::BackQuoted(body)
                });
            }
        }
        self.advance(1);
        let what = if quote == '"' {
            "unterminated string (missing `\"`)"
        } else {
            "unterminated shell command (missing closing backquote)"
        };
        Err(SyntaxError::new(self.span_from(start), what))
    }

    fn lex_option(&mut self, start: Mark) -> Result<Tok, SyntaxError> {
        self.advance(2);
        let name_len = self.rest().bytes().take_while(|b| is_word_byte(*b)).count();
        let name = self.rest()[..name_len].to_string();
        self.advance(name_len);
        let value = if self.byte(0) == Some(b'=') {
            self.advance(1);
            let v = self.raw_value(start)?;
            if v.is_empty() {
                return Err(SyntaxError::new(
                    self.span_from(start),
                    format!("missing value after `--{name}=`"),
                ));
            }
            Some(v)
        } else {
            self.same_line_value(start)?
        };
        Ok(Tok::Opt { name, value })
    }

    fn lex_define(&mut self, start: Mark) -> Result<Tok, SyntaxError> {
        self.advance(2);
        let blanks = self
            .rest()
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t')
            .count();
        self.advance(blanks);
        let value = self.raw_value(start)?;
        if !value.contains('=') || value.starts_with('=') {
            return Err(SyntaxError::new(
                self.span_from(start),
                "expected `-D NAME=VALUE`",
            ));
        }
        Ok(Tok::Opt {
            name: "define".to_string(),
            value: Some(value),
        })
    }

    /// `--name value`: a value on the same line that is not a comment or
    /// another option.
    fn same_line_value(&mut self, start: Mark) -> Result<Option<String>, SyntaxError> {
        let rest = self.rest();
        let blanks = rest
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t')
            .count();
        if blanks == 0 {
            return Ok(None);
        }
        let after = &rest[blanks..];
        let starts_value = after.chars().next().is_some_and(|c| !is_blank(c))
            && !after.starts_with("//")
            && !after.starts_with("/*")
            && !after.starts_with('-');
        if !starts_value {
            return Ok(None);
        }
        self.advance(blanks);
        self.raw_value(start).map(Some)
    }

    /// Raw option value: up to the next blank or comment, with `"..."` and
    /// backquoted parts read whole.
    fn raw_value(&mut self, start: Mark) -> Result<String, SyntaxError> {
        let rest = self.rest();
        let mut chars = rest.char_indices().peekable();
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            if is_blank(c) || rest[i..].starts_with("//") || rest[i..].starts_with("/*") {
                end = i;
                break;
            }
            if c == '"' || c == '`' {
                let mut closed = false;
                while let Some((_, d)) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    self.advance(rest.len());
                    return Err(SyntaxError::new(
                        self.span_from(start),
                        "unterminated quote in option value",
                    ));
                }
            }
        }
        let v = rest[..end].to_string();
        self.advance(end);
        Ok(v)
    }
}

/// `[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+`
fn ipv4_len(b: &[u8]) -> usize {
    let mut i = 0;
    for group in 0..4 {
        if group > 0 {
            if b.get(i) != Some(&b'.') {
                return 0;
            }
            i += 1;
        }
        let n = b[i.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n == 0 {
            return 0;
        }
        i += n;
    }
    i
}

/// The longest prefix that is an IPv6 address. Every textual IPv6 address has
/// at least two colons, which keeps `1:1001` a sequence range, and none is
/// longer than 45 characters.
fn ipv6_len(s: &str) -> usize {
    let run = s
        .bytes()
        .take(45)
        .take_while(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.')
        .count();
    let run_str = &s[..run];
    if run_str.bytes().filter(|c| *c == b':').count() < 2 {
        return 0;
    }
    (2..=run)
        .rev()
        .find(|&n| run_str[..n].parse::<std::net::Ipv6Addr>().is_ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Tok, String)> {
        tokenize(src)
            .unwrap()
            .into_iter()
            .filter(|t| t.tok != Tok::Eof)
            .map(|t| (t.tok, t.text))
            .collect()
    }

    fn texts(src: &str) -> Vec<String> {
        kinds(src).into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn times_split_into_plus_and_number() {
        assert_eq!(texts("+.1"), ["+", ".1"]);
        assert_eq!(texts("+0...0.200"), ["+", "0", "...", "0.200"]);
        assert_eq!(texts("+.3~+.400"), ["+", ".3", "~", "+", ".400"]);
        assert_eq!(texts("+ 0.00"), ["+", "0.00"]);
        assert_eq!(kinds("0.100")[0].0, Tok::Float);
        assert_eq!(kinds("*")[0].0, Tok::Punct('*'));
    }

    #[test]
    fn tcp_packet_line_lexes_like_packetdrill() {
        assert_eq!(
            texts("> S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>"),
            [
                ">", "S", ".", "0", ":", "0", "(", "0", ")", "ack", "1", "<", "mss", "1460", ",",
                "nop", ",", "wscale", "8", ">"
            ]
        );
        assert_eq!(texts("<...>"), ["<", "...", ">"]);
    }

    #[test]
    fn longest_match_decides_between_number_word_and_address() {
        assert_eq!(kinds("00000000")[0].0, Tok::Int(Some(0)));
        assert_eq!(kinds("00abaaabe8e954c2")[0].0, Tok::Word);
        assert_eq!(kinds("0x20000000")[0].0, Tok::Hex(Some(0x2000_0000)));
        assert_eq!(kinds("192.168.0.2")[0].0, Tok::Ipv4);
        assert_eq!(kinds("-1")[0].0, Tok::Int(Some(-1)));
        assert_eq!(texts("- 1:1(0)")[0], "-");
        assert_eq!(kinds("fe80::1")[0].0, Tok::Ipv6);
        assert_eq!(texts("2001:db8::2:"), ["2001:db8::2", ":"]);
        assert_eq!(texts("1:1001(1000)"), ["1", ":", "1001", "(", "1000", ")"]);
        assert_eq!(texts("sequence# present"), ["sequence#", "present"]);
    }

    #[test]
    fn huge_digit_strings_keep_their_text() {
        let k = kinds("01234567012345670123456701234567");
        assert_eq!(k[0].0, Tok::Int(None));
        assert_eq!(k[0].1, "01234567012345670123456701234567");
    }

    #[test]
    fn comments_are_skipped_and_gaps_recorded() {
        let toks = tokenize("a // x\n/* y\n z */b c").unwrap();
        assert_eq!(toks[0].text, "a");
        assert_eq!(toks[1].text, "b");
        assert!(toks[1].gap_before);
        assert_eq!(toks[1].span.line, 3);
        assert_eq!(toks[1].span.column, 6);
        assert_eq!(toks[2].text, "c");
    }

    #[test]
    fn quoted_forms_keep_their_raw_bodies() {
        let k = kinds("\"a\\\"b\" `x\ny` %{ assert tcpi_x == 1 }%");
        assert_eq!(k[0].0, Tok::Str("a\\\"b".into()));
        assert_eq!(k[1].0, Tok::BackQuoted("x\ny".into()));
        assert_eq!(k[2].0, Tok::Code(" assert tcpi_x == 1 ".into()));
    }

    #[test]
    fn options_read_their_value_raw() {
        let opt = |src: &str| match tokenize(src).unwrap().remove(0).tok {
            Tok::Opt { name, value } => (name, value),
            other => panic!("not an option: {other:?}"),
        };
        assert_eq!(
            opt("--tolerance_usecs=7000"),
            ("tolerance_usecs".into(), Some("7000".into()))
        );
        assert_eq!(
            opt("--ip_version=ipv4-mapped-ipv6"),
            ("ip_version".into(), Some("ipv4-mapped-ipv6".into()))
        );
        assert_eq!(
            opt("--tcp_ts_ecr_scaled // used in TEST 5\n"),
            ("tcp_ts_ecr_scaled".into(), None)
        );
        assert_eq!(
            opt("--ip_version ipv4\n0"),
            ("ip_version".into(), Some("ipv4".into()))
        );
        assert_eq!(
            opt("--define=CC=\"reno x\" more"),
            ("define".into(), Some("CC=\"reno x\"".into()))
        );
        assert_eq!(
            opt("-D TFO_COOKIE=3021b9d889017eeb"),
            ("define".into(), Some("TFO_COOKIE=3021b9d889017eeb".into()))
        );
        assert_eq!(
            opt("--tolerance_percent=12.5//c"),
            ("tolerance_percent".into(), Some("12.5".into()))
        );
    }

    #[test]
    fn unterminated_forms_are_errors_at_their_start() {
        for (src, msg) in [
            ("  \"abc", "unterminated string"),
            ("  `abc", "unterminated shell command"),
            ("  %{ abc", "unterminated `%{`"),
            ("  /* abc", "unterminated `/*`"),
            ("  --x=", "missing value"),
            ("  -D X", "expected `-D NAME=VALUE`"),
        ] {
            let err = tokenize(src).unwrap_err();
            assert!(err.message.contains(msg), "{src}: {}", err.message);
            assert_eq!((err.span.line, err.span.column), (1, 3), "{src}");
        }
    }

    #[test]
    fn spans_count_characters_and_lines() {
        let toks = tokenize("0 socket()\n  +.1 close(3) = 0").unwrap();
        let plus = toks.iter().find(|t| t.text == "+").unwrap();
        assert_eq!((plus.span.line, plus.span.column), (2, 3));
        let close = toks.iter().find(|t| t.text == "close").unwrap();
        assert_eq!(
            (close.span.line, close.span.column, close.span.end_column),
            (2, 7, 12)
        );
    }
}
