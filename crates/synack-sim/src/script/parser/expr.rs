//! System call argument and result expressions (parser.y `expression`),
//! and the GRE header and MPLS stack forms they share with packet prefixes.

use super::super::ast::{Expr, ExprKind, IntLit};
use super::super::lexer::Tok;
use super::super::packet::{GreFlag, GreFlags, GreHeader, MplsEntry};
use super::{PResult, Parser};

/// packetdrill's built-in functions; any other `word(` is not a call (so
/// `= ERR (note)` stays a word and a note).
const CALLS: &[&str] = &["htons", "inet_addr", "inet6_addr", "msg_name", "msg_iov"];

impl Parser {
    /// `expr (',' expr)* CLOSE`, consuming CLOSE.
    pub(super) fn parse_expr_list(
        &mut self,
        close: char,
        shown: &'static str,
    ) -> PResult<Vec<Expr>> {
        let mut items = vec![self.parse_expr()?];
        loop {
            if self.eat_punct(close, shown) {
                return Ok(items);
            }
            self.expect_punct(',', "`,`")?;
            items.push(self.parse_expr()?);
        }
    }

    /// `a | b | c` flattens into one `BitOr` (packetdrill's `|` is
    /// right-associative and associative in effect).
    pub(super) fn parse_expr(&mut self) -> PResult<Expr> {
        let first = self.parse_primary()?;
        if !self.check_punct('|', "`|`") {
            return Ok(first);
        }
        let start = first.span;
        let mut items = vec![first];
        while self.eat_punct('|', "`|`") {
            items.push(self.parse_primary()?);
        }
        let span = start.to(self.prev_span());
        Ok(Expr {
            kind: ExprKind::BitOr(items),
            span,
        })
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let start = self.peek().span;
        let kind = match self.peek().tok.clone() {
            Tok::Ellipsis => {
                self.bump();
                ExprKind::Ellipsis
            }
            Tok::Int(v) | Tok::Hex(v) => {
                let hex = matches!(self.peek().tok, Tok::Hex(_));
                let t = self.bump();
                let value = v.ok_or_else(|| Self::error_at(t.span, "integer out of range"))?;
                ExprKind::Int(IntLit { value, hex })
            }
            Tok::Str(_) => {
                let mut parts = Vec::new();
                while let Tok::Str(s) = &self.peek().tok {
                    parts.push(s.clone());
                    self.bump();
                }
                let ellipsis = matches!(self.peek().tok, Tok::Ellipsis);
                if ellipsis {
                    self.bump();
                }
                ExprKind::Str { parts, ellipsis }
            }
            Tok::Word => {
                let name = self.bump().text;
                let lhs = if CALLS.contains(&name.as_str()) && self.check_punct('(', "`(`") {
                    self.bump();
                    let args = if self.eat_punct(')', "`)`") {
                        Vec::new()
                    } else {
                        self.parse_expr_list(')', "`)`")?
                    };
                    ExprKind::Call { name, args }
                } else {
                    ExprKind::Word(name)
                };
                let lhs_span = start.to(self.prev_span());
                if self.eat_punct('=', "`=`") {
                    let lhs = Expr {
                        kind: lhs,
                        span: lhs_span,
                    };
                    let rhs = self.parse_expr()?;
                    ExprKind::Assign {
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    }
                } else {
                    lhs
                }
            }
            Tok::Punct('[') => {
                self.bump();
                if self.eat_punct(']', "`]`") {
                    ExprKind::Array(Vec::new())
                } else {
                    ExprKind::Array(self.parse_expr_list(']', "`]`")?)
                }
            }
            Tok::Punct('{') => {
                self.bump();
                self.parse_braces()?
            }
            Tok::Float => {
                let t = self.peek();
                return Err(Self::error_at(
                    t.span,
                    format!(
                        "expected an expression, found `{}` (arguments are integers, not fractions)",
                        t.text
                    ),
                ));
            }
            _ => {
                self.expected.push("an expression");
                return Err(self.unexpected());
            }
        };
        Ok(Expr {
            kind,
            span: start.to(self.prev_span()),
        })
    }

    /// After `{`: an MPLS stack `{(label ...)...}` (also `{}`), a GRE header
    /// `{flags ...}`, or a struct/list of expressions.
    fn parse_braces(&mut self) -> PResult<ExprKind> {
        if self.eat_punct('}', "`}`") {
            return Ok(ExprKind::Mpls(Vec::new()));
        }
        if self.peek().is_punct('(') {
            let stack = self.parse_mpls_stack()?;
            self.expect_punct('}', "`}`")?;
            return Ok(ExprKind::Mpls(stack));
        }
        let gre = (self.peek().is_word("flags") || self.peek().is_word("Flags"))
            && !self.peek_at(1).is_punct('=');
        if gre {
            let header = self.parse_gre_header()?;
            self.expect_punct('}', "`}`")?;
            return Ok(ExprKind::Gre(header));
        }
        Ok(ExprKind::Struct(self.parse_expr_list('}', "`}`")?))
    }

    /// Zero or more `(label N, tc N, [[S],] ttl N)` entries (RFC 3032 §2.1).
    pub(super) fn parse_mpls_stack(&mut self) -> PResult<Vec<MplsEntry>> {
        let mut stack = Vec::new();
        while self.eat_punct('(', "`(` and an MPLS label entry") {
            self.expect_word("label", "`label`")?;
            let label = self.expect_int::<i64>("an MPLS label", "MPLS label")?;
            self.expect_punct(',', "`,`")?;
            self.expect_word("tc", "`tc`")?;
            let tc = self.expect_int::<i64>("an MPLS traffic class", "MPLS traffic class")?;
            self.expect_punct(',', "`,`")?;
            let bottom = if self.eat_punct('[', "`[S],`") {
                self.expect_word("S", "`S` (bottom of stack)")?;
                self.expect_punct(']', "`]`")?;
                self.expect_punct(',', "`,`")?;
                true
            } else {
                false
            };
            self.expect_word("ttl", "`ttl`")?;
            let ttl = self.expect_int::<i64>("an MPLS TTL", "MPLS TTL")?;
            self.expect_punct(')', "`)`")?;
            let entry = MplsEntry {
                label: u32::try_from(label.value)
                    .ok()
                    .filter(|l| *l < 1 << 20)
                    .ok_or_else(|| {
                        Self::error_at(label.span, "MPLS label out of range (20 bits)")
                    })?,
                tc: u8::try_from(tc.value)
                    .ok()
                    .filter(|t| *t < 8)
                    .ok_or_else(|| {
                        Self::error_at(tc.span, "MPLS traffic class out of range (3 bits)")
                    })?,
                bottom,
                ttl: u8::try_from(ttl.value)
                    .map_err(|_| Self::error_at(ttl.span, "MPLS TTL out of range (8 bits)"))?,
            };
            stack.push(entry);
        }
        Ok(stack)
    }

    /// `flags [..] | flags N`, then `sum N off N key [=] N seq N`, with
    /// optional commas between the parts.
    pub(super) fn parse_gre_header(&mut self) -> PResult<GreHeader> {
        if !self.eat_word("flags", "`flags`") {
            self.expect_word("Flags", "`flags`")?;
        }
        let flags = if self.eat_punct('[', "`[`") {
            let mut list = Vec::new();
            loop {
                let flag = if self.eat_word("none", "`none`") {
                    GreFlag::None
                } else if self.eat_word("checksum", "`checksum present`") {
                    self.expect_word("present", "`present`")?;
                    GreFlag::Checksum
                } else if self.eat_word("key", "`key present`") {
                    self.expect_word("present", "`present`")?;
                    GreFlag::Key
                } else if self.eat_word("sequence#", "`sequence# present`") {
                    self.expect_word("present", "`present`")?;
                    GreFlag::Sequence
                } else {
                    return Err(self.unexpected());
                };
                list.push(flag);
                if self.eat_punct(']', "`]`") {
                    break;
                }
                self.expect_punct(',', "`,`")?;
            }
            GreFlags::Named(list)
        } else {
            GreFlags::Value(self.expect_any_int("`[` or a flags value")?.value)
        };
        self.eat_punct(',', "`,`");
        self.expect_word("sum", "`sum`")?;
        let sum = self.expect_any_int("a checksum")?.value;
        self.eat_punct(',', "`,`");
        self.expect_word("off", "`off`")?;
        let off = self.expect_any_int("an offset")?.value;
        self.eat_punct(',', "`,`");
        self.expect_word("key", "`key`")?;
        self.eat_punct('=', "`=`");
        let key = self.expect_any_int("a key")?.value;
        self.eat_punct(',', "`,`");
        self.expect_word("seq", "`seq`")?;
        let seq = self.expect_any_int("a sequence number")?.value;
        Ok(GreHeader {
            flags,
            sum,
            off,
            key,
            seq,
        })
    }
}
