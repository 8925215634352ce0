//! `%{ ... }%` blocks: the Python that packetdrill runs after an event with
//! the connection's `tcp_info` fields bound as `tcpi_*` variables
//! (packetdrill code.c).
//!
//! synack runs no Python. It reads the statements the corpus uses,
//! `assert EXPR[, MESSAGE]`, into a small expression tree and evaluates
//! them against its own connection info; any other statement is returned as
//! [`StatementKind::Unsupported`] for the runner to skip with a note.
//!
//! Expressions follow Python 3: `or`, `and`, `not`, chained comparisons
//! (`== != < <= > >=`), `| ^ &`, `<< >>`, `+ -`, `* / // %`, unary
//! `- + ~`, `**`, parentheses, integer literals (`10`, `0x20`, `0o7`, `0b1`,
//! `1_000`), decimal fractions, strings (for messages) and names
//! (`tcpi_snd_cwnd`, `TCP_CA_Open`, `TCPI_OPT_SYN_DATA`; see
//! [`linux_constant`]). `/` divides exactly and `//`, `%` round toward
//! negative infinity, as in Python.

use core::fmt;

use super::ast::CodeBlock;
use super::span::Span;

/// One statement of a code block.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub kind: StatementKind,
    /// Where the statement is in the script.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StatementKind {
    /// `assert test[, message]`.
    Assert {
        test: PyExpr,
        message: Option<PyExpr>,
    },
    /// Anything else: the text and why synack does not evaluate it.
    Unsupported { text: String, reason: String },
}

/// An expression node.
#[derive(Clone, Debug, PartialEq)]
pub struct PyExpr {
    pub kind: PyExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PyExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    Name(String),
    Unary(UnaryOp, Box<PyExpr>),
    Binary(BinaryOp, Box<PyExpr>, Box<PyExpr>),
    /// `a < b <= c`: each comparison with the operand before it.
    Compare(Box<PyExpr>, Vec<(CompareOp, PyExpr)>),
    /// `a and b`, `a or b`: short-circuit, yielding an operand.
    And(Box<PyExpr>, Box<PyExpr>),
    Or(Box<PyExpr>, Box<PyExpr>),
    Not(Box<PyExpr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Pos,
    Invert,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    Shl,
    Shr,
    BitAnd,
    BitOr,
    BitXor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The statements of a block, in order.
pub fn statements(block: &CodeBlock) -> Vec<Statement> {
    // The text starts after `%{`, two columns into the block's span.
    let origin = Origin {
        line: block.span.line,
        column: block.span.column + 2,
        offset: block.span.start + 2,
    };
    let toks = tokenize(&block.text);
    let mut out = Vec::new();
    for stmt in toks.split(|t| matches!(t.kind, Tk::Newline | Tk::Semi)) {
        let Some(first) = stmt.first() else { continue };
        let last = stmt.last().unwrap_or(first);
        let text = block.text[first.start..last.end].to_string();
        let span = origin.span(&block.text, first.start, last.end);
        let kind = if matches!(&first.kind, Tk::Name(n) if n == "assert") {
            let mut p = ExprParser {
                toks: &stmt[1..],
                pos: 0,
                src: &block.text,
                origin,
            };
            match p.assert_body() {
                Ok((test, message)) => StatementKind::Assert { test, message },
                Err(reason) => StatementKind::Unsupported { text, reason },
            }
        } else {
            StatementKind::Unsupported {
                text,
                reason: "only `assert` statements are evaluated".into(),
            }
        };
        out.push(Statement { kind, span });
    }
    out
}

/// Linux's values for the names packetdrill binds in every block
/// (code.c `write_symbols`): `tcpi_state` and `tcpi_ca_state` values and
/// `tcpi_options` bits, from linux/tcp.h and net/tcp_states.h.
pub fn linux_constant(name: &str) -> Option<i64> {
    Some(match name {
        "TCP_ESTABLISHED" => 1,
        "TCP_SYN_SENT" => 2,
        "TCP_SYN_RECV" => 3,
        "TCP_FIN_WAIT1" => 4,
        "TCP_FIN_WAIT2" => 5,
        "TCP_TIME_WAIT" => 6,
        "TCP_CLOSE" => 7,
        "TCP_CLOSE_WAIT" => 8,
        "TCP_LAST_ACK" => 9,
        "TCP_LISTEN" => 10,
        "TCP_CLOSING" => 11,
        "TCP_CA_Open" => 0,
        "TCP_CA_Disorder" => 1,
        "TCP_CA_CWR" => 2,
        "TCP_CA_Recovery" => 3,
        "TCP_CA_Loss" => 4,
        "TCPI_OPT_TIMESTAMPS" => 1,
        "TCPI_OPT_SACK" => 2,
        "TCPI_OPT_WSCALE" => 4,
        "TCPI_OPT_ECN" => 8,
        "TCPI_OPT_ECN_SEEN" => 16,
        "TCPI_OPT_SYN_DATA" => 32,
        "TCPI_OPT_USEC_TS" => 64,
        "TCPI_OPT_TFO_CHILD" => 128,
        "True" => 1,
        "False" => 0,
        _ => return None,
    })
}

/// A value during evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Value {
    pub fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
        }
    }

    fn num(&self) -> Option<Num> {
        match *self {
            Value::Bool(b) => Some(Num::Int(i64::from(b))),
            Value::Int(i) => Some(Num::Int(i)),
            Value::Float(f) => Some(Num::Float(f)),
            Value::Str(_) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(x) => x,
        }
    }
}

/// Why an expression could not be evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalError {
    /// A name with no value, e.g. a `tcpi_*` field synack does not have.
    UnknownName {
        name: String,
        span: Span,
    },
    DivisionByZero {
        span: Span,
    },
    Overflow {
        span: Span,
    },
    /// An operation Python would reject (`"a" < 1`, `1.5 & 1`).
    Type {
        message: String,
        span: Span,
    },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::UnknownName { name, .. } => write!(f, "name `{name}` is not defined"),
            EvalError::DivisionByZero { .. } => f.write_str("division by zero"),
            EvalError::Overflow { .. } => f.write_str("integer overflow"),
            EvalError::Type { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for EvalError {}

/// The result of evaluating an `assert`.
#[derive(Clone, Debug, PartialEq)]
pub enum AssertOutcome {
    Passed,
    /// The test was false; the message evaluated, if there was one.
    Failed {
        message: Option<String>,
    },
}

impl StatementKind {
    /// Evaluates an `assert` with `lookup` giving names their values
    /// (`None` for a statement that is not an assert).
    pub fn check(
        &self,
        lookup: &dyn Fn(&str) -> Option<i64>,
    ) -> Option<Result<AssertOutcome, EvalError>> {
        let StatementKind::Assert { test, message } = self else {
            return None;
        };
        Some(test.eval(lookup).and_then(|v| {
            if v.truthy() {
                return Ok(AssertOutcome::Passed);
            }
            let message = match message {
                Some(m) => Some(m.eval(lookup)?.to_string()),
                None => None,
            };
            Ok(AssertOutcome::Failed { message })
        }))
    }
}

impl PyExpr {
    /// Evaluates with Python 3 semantics; `lookup` gives names their values.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<i64>) -> Result<Value, EvalError> {
        let span = self.span;
        let overflow = || EvalError::Overflow { span };
        match &self.kind {
            PyExprKind::Int(i) => Ok(Value::Int(*i)),
            PyExprKind::Float(x) => Ok(Value::Float(*x)),
            PyExprKind::Str(s) => Ok(Value::Str(s.clone())),
            PyExprKind::Name(n) => {
                lookup(n)
                    .map(Value::Int)
                    .ok_or_else(|| EvalError::UnknownName {
                        name: n.clone(),
                        span,
                    })
            }
            PyExprKind::Not(e) => Ok(Value::Bool(!e.eval(lookup)?.truthy())),
            PyExprKind::And(a, b) => {
                let l = a.eval(lookup)?;
                if l.truthy() { b.eval(lookup) } else { Ok(l) }
            }
            PyExprKind::Or(a, b) => {
                let l = a.eval(lookup)?;
                if l.truthy() { Ok(l) } else { b.eval(lookup) }
            }
            PyExprKind::Unary(op, e) => {
                let v = e.eval(lookup)?;
                match (op, v.num()) {
                    (UnaryOp::Neg, Some(Num::Int(i))) => {
                        i.checked_neg().map(Value::Int).ok_or_else(overflow)
                    }
                    (UnaryOp::Neg, Some(Num::Float(x))) => Ok(Value::Float(-x)),
                    (UnaryOp::Pos, Some(Num::Int(i))) => Ok(Value::Int(i)),
                    (UnaryOp::Pos, Some(Num::Float(x))) => Ok(Value::Float(x)),
                    (UnaryOp::Invert, Some(Num::Int(i))) => Ok(Value::Int(!i)),
                    _ => Err(type_error(span, "bad operand type for unary operator")),
                }
            }
            PyExprKind::Binary(op, a, b) => {
                let (l, r) = (a.eval(lookup)?, b.eval(lookup)?);
                let (Some(l), Some(r)) = (l.num(), r.num()) else {
                    return Err(type_error(span, "unsupported operand type"));
                };
                binary(*op, l, r, span)
            }
            PyExprKind::Compare(first, rest) => {
                let mut left = first.eval(lookup)?;
                for (op, e) in rest {
                    let right = e.eval(lookup)?;
                    if !compare(*op, &left, &right, e.span)? {
                        return Ok(Value::Bool(false));
                    }
                    left = right;
                }
                Ok(Value::Bool(true))
            }
        }
    }
}

fn type_error(span: Span, message: &str) -> EvalError {
    EvalError::Type {
        message: message.to_string(),
        span,
    }
}

fn binary(op: BinaryOp, l: Num, r: Num, span: Span) -> Result<Value, EvalError> {
    let overflow = || EvalError::Overflow { span };
    let zero = || EvalError::DivisionByZero { span };
    if let (Num::Int(a), Num::Int(b)) = (l, r) {
        let v = match op {
            BinaryOp::Add => a.checked_add(b),
            BinaryOp::Sub => a.checked_sub(b),
            BinaryOp::Mul => a.checked_mul(b),
            BinaryOp::Div => {
                return if b == 0 {
                    Err(zero())
                } else {
                    Ok(Value::Float(a as f64 / b as f64))
                };
            }
            BinaryOp::FloorDiv | BinaryOp::Mod if b == 0 => return Err(zero()),
            // Python rounds the quotient toward negative infinity, so the
            // remainder takes the divisor's sign.
            BinaryOp::FloorDiv => a.checked_div(b).map(|q| {
                if a % b != 0 && (a < 0) != (b < 0) {
                    q - 1
                } else {
                    q
                }
            }),
            // x % -1 is 0 for every x; Rust's checked_rem calls MIN % -1 overflow.
            BinaryOp::Mod if b == -1 => Some(0),
            BinaryOp::Mod => a.checked_rem(b).map(|r| {
                if r != 0 && (r < 0) != (b < 0) {
                    r + b
                } else {
                    r
                }
            }),
            BinaryOp::Pow if b < 0 => return Ok(Value::Float((a as f64).powf(b as f64))),
            BinaryOp::Pow => u32::try_from(b).ok().and_then(|e| a.checked_pow(e)),
            BinaryOp::Shl if b < 0 => return Err(type_error(span, "negative shift count")),
            BinaryOp::Shl => u32::try_from(b)
                .ok()
                .and_then(|s| a.checked_shl(s))
                .filter(|v| v >> b == a),
            BinaryOp::Shr if b < 0 => return Err(type_error(span, "negative shift count")),
            BinaryOp::Shr => Some(a >> b.min(63)),
            BinaryOp::BitAnd => Some(a & b),
            BinaryOp::BitOr => Some(a | b),
            BinaryOp::BitXor => Some(a ^ b),
        };
        return v.map(Value::Int).ok_or_else(overflow);
    }
    let (a, b) = (l.f(), r.f());
    let v = match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div | BinaryOp::FloorDiv | BinaryOp::Mod if b == 0.0 => return Err(zero()),
        BinaryOp::Div => a / b,
        BinaryOp::FloorDiv => (a / b).floor(),
        BinaryOp::Mod => a - b * (a / b).floor(),
        BinaryOp::Pow => a.powf(b),
        _ => return Err(type_error(span, "unsupported operand type: float")),
    };
    Ok(Value::Float(v))
}

fn compare(op: CompareOp, l: &Value, r: &Value, span: Span) -> Result<bool, EvalError> {
    use core::cmp::Ordering;
    let ord = match (l.num(), r.num()) {
        (Some(Num::Int(a)), Some(Num::Int(b))) => Some(a.cmp(&b)),
        (Some(a), Some(b)) => a.f().partial_cmp(&b.f()),
        _ => match (l, r) {
            (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
            _ if matches!(op, CompareOp::Eq) => return Ok(false),
            _ if matches!(op, CompareOp::Ne) => return Ok(true),
            _ => return Err(type_error(span, "'<' not supported between str and number")),
        },
    };
    // NaN compares false except with `!=`.
    let Some(ord) = ord else {
        return Ok(op == CompareOp::Ne);
    };
    Ok(match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
    })
}

// ----- tokens -----

#[derive(Clone, Debug, PartialEq)]
enum Tk {
    Int(i64),
    Float(f64),
    Str(String),
    Name(String),
    Op(&'static str),
    Newline,
    Semi,
    /// Something this subset does not read; its statement is unsupported.
    Bad(String),
}

#[derive(Clone, Debug)]
struct Token {
    kind: Tk,
    start: usize,
    end: usize,
}

const OPS: &[&str] = &[
    "**", "//", "<<", ">>", "<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "%", "&", "|",
    "^", "~", "(", ")", ",", "=", "[", "]", "{", "}", ".", ":",
];

fn tokenize(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'\\' if b.get(i + 1) == Some(&b'\n') => {
                i += 2;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\n' => {
                i += 1;
                // Inside brackets a newline is only space (Python's implicit joining).
                if depth > 0 {
                    continue;
                }
                Tk::Newline
            }
            b';' => {
                i += 1;
                Tk::Semi
            }
            b'0'..=b'9' => number(src, &mut i),
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => number(src, &mut i),
            b'"' | b'\'' => {
                i += 1;
                let mut s = String::new();
                let mut closed = false;
                while i < b.len() && b[i] != b'\n' {
                    if b[i] == c {
                        closed = true;
                        i += 1;
                        break;
                    }
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    let ch = src[i..].chars().next().unwrap_or(' ');
                    s.push(ch);
                    i += ch.len_utf8();
                }
                if closed {
                    Tk::Str(s)
                } else {
                    Tk::Bad("unterminated string".into())
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                Tk::Name(src[start..i].to_string())
            }
            _ => match OPS.iter().find(|op| src[i..].starts_with(**op)) {
                Some(op) => {
                    i += op.len();
                    match *op {
                        "(" | "[" | "{" => depth += 1,
                        ")" | "]" | "}" => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    Tk::Op(op)
                }
                None => {
                    let ch = src[i..].chars().next().unwrap_or(' ');
                    i += ch.len_utf8();
                    Tk::Bad(format!("unexpected character `{ch}`"))
                }
            },
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out
}

/// Python number literals: `10`, `1_000`, `0x20`, `0o17`, `0b101`, `1.5`, `.5`, `2e3`.
fn number(src: &str, i: &mut usize) -> Tk {
    let b = src.as_bytes();
    let start = *i;
    let radix = match (b[*i], b.get(*i + 1).map(u8::to_ascii_lowercase)) {
        (b'0', Some(b'x')) => 16,
        (b'0', Some(b'o')) => 8,
        (b'0', Some(b'b')) => 2,
        _ => 10,
    };
    if radix != 10 {
        *i += 2;
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_') {
            *i += 1;
        }
        let digits: String = src[start + 2..*i].chars().filter(|c| *c != '_').collect();
        return i64::from_str_radix(&digits, radix)
            .map(Tk::Int)
            .unwrap_or_else(|_| Tk::Bad(format!("bad number `{}`", &src[start..*i])));
    }
    let mut float = false;
    while *i < b.len() {
        match b[*i] {
            b'0'..=b'9' | b'_' => *i += 1,
            b'.' if !float => {
                float = true;
                *i += 1;
            }
            b'e' | b'E' => {
                float = true;
                *i += 1;
                if matches!(b.get(*i), Some(b'+' | b'-')) {
                    *i += 1;
                }
            }
            _ => break,
        }
    }
    let text: String = src[start..*i].chars().filter(|c| *c != '_').collect();
    let parsed = if float {
        text.parse::<f64>().ok().map(Tk::Float)
    } else {
        text.parse::<i64>().ok().map(Tk::Int)
    };
    parsed.unwrap_or_else(|| Tk::Bad(format!("bad number `{}`", &src[start..*i])))
}

// ----- positions -----

/// Where the block's text starts in the script.
#[derive(Clone, Copy)]
struct Origin {
    line: u32,
    column: u32,
    offset: usize,
}

impl Origin {
    fn pos(&self, text: &str, at: usize) -> (u32, u32) {
        let before = &text[..at];
        match before.rfind('\n') {
            Some(nl) => (
                self.line + before.matches('\n').count() as u32,
                1 + before[nl + 1..].chars().count() as u32,
            ),
            None => (self.line, self.column + before.chars().count() as u32),
        }
    }

    fn span(&self, text: &str, start: usize, end: usize) -> Span {
        let (line, column) = self.pos(text, start);
        let (end_line, end_column) = self.pos(text, end);
        Span {
            line,
            column,
            end_line,
            end_column,
            start: self.offset + start,
            end: self.offset + end,
        }
    }
}

// ----- parser -----

struct ExprParser<'a> {
    toks: &'a [Token],
    pos: usize,
    src: &'a str,
    origin: Origin,
}

type ExprResult = Result<PyExpr, String>;

impl ExprParser<'_> {
    fn peek(&self) -> Option<&Tk> {
        self.toks.get(self.pos).map(|t| &t.kind)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tk::Op(o)) if *o == op)
    }

    fn is_name(&self, n: &str) -> bool {
        matches!(self.peek(), Some(Tk::Name(x)) if x == n)
    }

    fn describe_next(&self) -> String {
        match self.toks.get(self.pos) {
            Some(t) => format!("`{}`", &self.src[t.start..t.end]),
            None => "the end of the statement".into(),
        }
    }

    fn span(&self, from: usize) -> Span {
        let start = self.toks.get(from).map_or(0, |t| t.start);
        let end = self.toks[..self.pos].last().map_or(start, |t| t.end);
        self.origin.span(self.src, start, end.max(start))
    }

    fn node(&self, from: usize, kind: PyExprKind) -> PyExpr {
        PyExpr {
            kind,
            span: self.span(from),
        }
    }

    fn assert_body(&mut self) -> Result<(PyExpr, Option<PyExpr>), String> {
        let test = self.expr()?;
        let message = if self.is_op(",") {
            self.pos += 1;
            Some(self.expr()?)
        } else {
            None
        };
        match self.peek() {
            None => {}
            Some(Tk::Bad(why)) => return Err(why.clone()),
            Some(_) => {
                return Err(format!(
                    "unsupported Python: unexpected {}",
                    self.describe_next()
                ));
            }
        }
        Ok((test, message))
    }

    fn expr(&mut self) -> ExprResult {
        let from = self.pos;
        let mut l = self.and_expr()?;
        while self.is_name("or") {
            self.pos += 1;
            let r = self.and_expr()?;
            l = self.node(from, PyExprKind::Or(Box::new(l), Box::new(r)));
        }
        Ok(l)
    }

    fn and_expr(&mut self) -> ExprResult {
        let from = self.pos;
        let mut l = self.not_expr()?;
        while self.is_name("and") {
            self.pos += 1;
            let r = self.not_expr()?;
            l = self.node(from, PyExprKind::And(Box::new(l), Box::new(r)));
        }
        Ok(l)
    }

    fn not_expr(&mut self) -> ExprResult {
        let from = self.pos;
        if self.is_name("not") {
            self.pos += 1;
            let e = self.not_expr()?;
            return Ok(self.node(from, PyExprKind::Not(Box::new(e))));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> ExprResult {
        let from = self.pos;
        let first = self.bitor()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek() {
                Some(Tk::Op("==")) => CompareOp::Eq,
                Some(Tk::Op("!=")) => CompareOp::Ne,
                Some(Tk::Op("<")) => CompareOp::Lt,
                Some(Tk::Op("<=")) => CompareOp::Le,
                Some(Tk::Op(">")) => CompareOp::Gt,
                Some(Tk::Op(">=")) => CompareOp::Ge,
                Some(Tk::Name(n)) if n == "in" || n == "is" => {
                    return Err(format!("unsupported Python: `{n}`"));
                }
                _ => break,
            };
            self.pos += 1;
            rest.push((op, self.bitor()?));
        }
        if rest.is_empty() {
            Ok(first)
        } else {
            Ok(self.node(from, PyExprKind::Compare(Box::new(first), rest)))
        }
    }

    /// One left-associative binary level.
    fn binary_level(
        &mut self,
        ops: &[(&str, BinaryOp)],
        next: fn(&mut Self) -> ExprResult,
    ) -> ExprResult {
        let from = self.pos;
        let mut l = next(self)?;
        while let Some((_, op)) = ops.iter().find(|(s, _)| self.is_op(s)) {
            self.pos += 1;
            let r = next(self)?;
            l = self.node(from, PyExprKind::Binary(*op, Box::new(l), Box::new(r)));
        }
        Ok(l)
    }

    fn bitor(&mut self) -> ExprResult {
        self.binary_level(&[("|", BinaryOp::BitOr)], Self::bitxor)
    }

    fn bitxor(&mut self) -> ExprResult {
        self.binary_level(&[("^", BinaryOp::BitXor)], Self::bitand)
    }

    fn bitand(&mut self) -> ExprResult {
        self.binary_level(&[("&", BinaryOp::BitAnd)], Self::shift)
    }

    fn shift(&mut self) -> ExprResult {
        self.binary_level(&[("<<", BinaryOp::Shl), (">>", BinaryOp::Shr)], Self::sum)
    }

    fn sum(&mut self) -> ExprResult {
        self.binary_level(&[("+", BinaryOp::Add), ("-", BinaryOp::Sub)], Self::term)
    }

    fn term(&mut self) -> ExprResult {
        self.binary_level(
            &[
                ("*", BinaryOp::Mul),
                ("//", BinaryOp::FloorDiv),
                ("/", BinaryOp::Div),
                ("%", BinaryOp::Mod),
            ],
            Self::unary,
        )
    }

    fn unary(&mut self) -> ExprResult {
        let from = self.pos;
        let op = match self.peek() {
            Some(Tk::Op("-")) => UnaryOp::Neg,
            Some(Tk::Op("+")) => UnaryOp::Pos,
            Some(Tk::Op("~")) => UnaryOp::Invert,
            _ => return self.power(),
        };
        self.pos += 1;
        let e = self.unary()?;
        Ok(self.node(from, PyExprKind::Unary(op, Box::new(e))))
    }

    /// `a ** b`: binds tighter than a unary minus on its left, right-associative.
    fn power(&mut self) -> ExprResult {
        let from = self.pos;
        let base = self.atom()?;
        if self.is_op("**") {
            self.pos += 1;
            let exp = self.unary()?;
            return Ok(self.node(
                from,
                PyExprKind::Binary(BinaryOp::Pow, Box::new(base), Box::new(exp)),
            ));
        }
        Ok(base)
    }

    fn atom(&mut self) -> ExprResult {
        let from = self.pos;
        let kind = match self.peek().cloned() {
            Some(Tk::Int(i)) => PyExprKind::Int(i),
            Some(Tk::Float(x)) => PyExprKind::Float(x),
            Some(Tk::Str(s)) => {
                // Adjacent strings concatenate, as in Python.
                let mut s = s;
                while let Some(Tk::Str(more)) = self.toks.get(self.pos + 1).map(|t| &t.kind) {
                    s.push_str(more);
                    self.pos += 1;
                }
                PyExprKind::Str(s)
            }
            Some(Tk::Name(n))
                if !matches!(
                    n.as_str(),
                    "and" | "or" | "not" | "in" | "is" | "lambda" | "if" | "else"
                ) =>
            {
                if matches!(
                    self.toks.get(self.pos + 1).map(|t| &t.kind),
                    Some(Tk::Op("(" | "[" | "."))
                ) {
                    return Err(format!(
                        "unsupported Python: calls, indexing and attributes (after `{n}`)"
                    ));
                }
                PyExprKind::Name(n)
            }
            Some(Tk::Op("(")) => {
                self.pos += 1;
                let inner = self.expr()?;
                if !self.is_op(")") {
                    return Err(format!("expected `)`, found {}", self.describe_next()));
                }
                self.pos += 1;
                // Keep the parenthesised node; its span covers the parentheses.
                return Ok(PyExpr {
                    kind: inner.kind,
                    span: self.span(from),
                });
            }
            Some(Tk::Bad(why)) => return Err(why),
            _ => {
                return Err(format!(
                    "expected an expression, found {}",
                    self.describe_next()
                ));
            }
        };
        self.pos += 1;
        Ok(self.node(from, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Action, parse_script};

    fn block(text: &str) -> CodeBlock {
        let s = parse_script(&format!("0 %{{{text}}}%"), "t.pkt").unwrap();
        match &s.events[0].action {
            Action::Code(c) => c.clone(),
            _ => panic!(),
        }
    }

    fn env(name: &str) -> Option<i64> {
        match name {
            "tcpi_snd_cwnd" => Some(10),
            "tcpi_options" => Some(32 | 4),
            "tcpi_ca_state" => Some(3),
            "tcpi_lost" => Some(7),
            n => linux_constant(n),
        }
    }

    fn eval(expr: &str) -> Result<Value, EvalError> {
        let stmts = statements(&block(&format!(" assert {expr} ")));
        let StatementKind::Assert { test, .. } = &stmts[0].kind else {
            panic!("not an assert: {:?}", stmts[0].kind)
        };
        test.eval(&env)
    }

    fn v(expr: &str) -> Value {
        eval(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    #[test]
    fn corpus_asserts_parse_and_evaluate() {
        assert_eq!(v("tcpi_snd_cwnd == 10"), Value::Bool(true));
        assert_eq!(
            v("(tcpi_options & TCPI_OPT_SYN_DATA) != 0"),
            Value::Bool(true)
        );
        assert_eq!(
            v("(tcpi_options & TCPI_OPT_SYN_DATA) == 0"),
            Value::Bool(false)
        );
        assert_eq!(v("tcpi_ca_state == TCP_CA_Recovery"), Value::Bool(true));
        assert_eq!(v("tcpi_snd_cwnd ==  7"), Value::Bool(false));
    }

    #[test]
    fn precedence_follows_python() {
        assert_eq!(v("1 + 2 * 3"), Value::Int(7));
        assert_eq!(v("(1 + 2) * 3"), Value::Int(9));
        assert_eq!(v("-2 ** 2"), Value::Int(-4));
        assert_eq!(v("2 ** 3 ** 2"), Value::Int(512));
        assert_eq!(v("1 | 2 ^ 3 & 5"), Value::Int(1 | (2 ^ (3 & 5))));
        assert_eq!(v("1 << 2 + 1"), Value::Int(8));
        assert_eq!(v("not 1 == 2"), Value::Bool(true));
        assert_eq!(v("1 < 2 and 2 < 1 or 3 == 3"), Value::Bool(true));
        assert_eq!(v("~5"), Value::Int(-6));
    }

    #[test]
    fn arithmetic_matches_python() {
        assert_eq!(v("7 / 2"), Value::Float(3.5));
        assert_eq!(v("7 // 2"), Value::Int(3));
        assert_eq!(v("-7 // 2"), Value::Int(-4));
        assert_eq!(v("7 // -2"), Value::Int(-4));
        assert_eq!(v("-7 % 3"), Value::Int(2));
        assert_eq!(v("7 % -3"), Value::Int(-2));
        assert_eq!(v("0x20 + 0o7 + 0b1 + 1_000"), Value::Int(32 + 7 + 1 + 1000));
        assert_eq!(v("2 ** -1"), Value::Float(0.5));
        assert_eq!(v("1.5 * 2 == 3"), Value::Bool(true));
        assert_eq!(v(".5 + 1e1"), Value::Float(10.5));
        assert_eq!(v("5 % 2.0"), Value::Float(1.0));
        assert_eq!(v("-7.0 // 2"), Value::Float(-4.0));
        assert_eq!(v("(-9223372036854775807 - 1) % -1"), Value::Int(0));
    }

    #[test]
    fn comparisons_chain_and_logic_short_circuits() {
        assert_eq!(v("1 < tcpi_lost <= 7"), Value::Bool(true));
        assert_eq!(v("1 < tcpi_lost < 7"), Value::Bool(false));
        assert_eq!(v("0 and unknown_name"), Value::Int(0));
        assert_eq!(v("5 or unknown_name"), Value::Int(5));
        assert_eq!(v("0 or 7"), Value::Int(7));
        assert_eq!(v("1 < 0 < unknown_name"), Value::Bool(false));
        assert_eq!(v("'a' == 1"), Value::Bool(false));
        assert_eq!(v("'a' < 'b'"), Value::Bool(true));
    }

    #[test]
    fn evaluation_errors_name_the_problem() {
        assert!(
            matches!(eval("tcpi_rtt == 1"), Err(EvalError::UnknownName { name, .. }) if name == "tcpi_rtt")
        );
        assert!(matches!(
            eval("1 // 0"),
            Err(EvalError::DivisionByZero { .. })
        ));
        assert!(matches!(
            eval("1 / 0"),
            Err(EvalError::DivisionByZero { .. })
        ));
        assert!(matches!(
            eval("9223372036854775807 + 1"),
            Err(EvalError::Overflow { .. })
        ));
        assert!(matches!(eval("1 << 64"), Err(EvalError::Overflow { .. })));
        assert!(matches!(
            eval("(-9223372036854775807 - 1) // -1"),
            Err(EvalError::Overflow { .. })
        ));
        assert!(matches!(eval("'a' < 1"), Err(EvalError::Type { .. })));
        assert!(matches!(eval("1.5 & 1"), Err(EvalError::Type { .. })));
        assert_eq!(
            eval("tcpi_rtt == 1").unwrap_err().to_string(),
            "name `tcpi_rtt` is not defined"
        );
    }

    #[test]
    fn blocks_split_into_statements_with_messages_and_comments() {
        let b = block(
            "\nassert tcpi_ca_state == TCP_CA_Recovery, tcpi_ca_state\n\
             assert tcpi_lost == 7, tcpi_lost  # RACK thinks 1:7001 are lost\n\
             assert tcpi_snd_cwnd == 2; assert (tcpi_lost ==\n   7)\n",
        );
        let stmts = statements(&b);
        assert_eq!(stmts.len(), 4);
        let outcomes: Vec<_> = stmts
            .iter()
            .map(|s| s.kind.check(&env).unwrap().unwrap())
            .collect();
        assert_eq!(
            outcomes,
            [
                AssertOutcome::Passed,
                AssertOutcome::Passed,
                AssertOutcome::Failed { message: None },
                AssertOutcome::Passed,
            ]
        );
        let StatementKind::Assert {
            message: Some(m), ..
        } = &stmts[0].kind
        else {
            panic!()
        };
        assert_eq!(m.kind, PyExprKind::Name("tcpi_ca_state".into()));
        // Positions are the script's: the block starts at line 1, column 3.
        assert_eq!((stmts[0].span.line, stmts[0].span.column), (2, 1));
        assert_eq!(
            (
                stmts[2].span.line,
                stmts[2].span.column,
                stmts[2].span.end_column
            ),
            (4, 1, 26)
        );
        assert_eq!((stmts[3].span.line, stmts[3].span.end_line), (4, 5));
    }

    #[test]
    fn failed_asserts_carry_their_evaluated_message() {
        let stmts = statements(&block(" assert tcpi_snd_cwnd == 2, tcpi_snd_cwnd "));
        assert_eq!(
            stmts[0].kind.check(&env),
            Some(Ok(AssertOutcome::Failed {
                message: Some("10".into())
            }))
        );
        let stmts = statements(&block(" assert 0, 'cwnd ' \"too small\" "));
        assert_eq!(
            stmts[0].kind.check(&env),
            Some(Ok(AssertOutcome::Failed {
                message: Some("cwnd too small".into())
            }))
        );
    }

    #[test]
    fn single_line_block_spans_point_into_the_line() {
        let s = parse_script("+0 %{ assert tcpi_rcv_mss == 1000, tcpi_rcv_mss }%", "t").unwrap();
        let Action::Code(c) = &s.events[0].action else {
            panic!()
        };
        let stmts = statements(c);
        assert_eq!((stmts[0].span.column, stmts[0].span.end_column), (7, 48));
        let StatementKind::Assert { test, .. } = &stmts[0].kind else {
            panic!()
        };
        let PyExprKind::Compare(lhs, _) = &test.kind else {
            panic!()
        };
        assert_eq!((lhs.span.column, lhs.span.end_column), (14, 26));
        assert_eq!(
            &"+0 %{ assert tcpi_rcv_mss == 1000, tcpi_rcv_mss }%"[lhs.span.start..lhs.span.end],
            "tcpi_rcv_mss"
        );
    }

    #[test]
    fn other_python_is_unsupported_with_a_reason() {
        let reason = |text: &str| match &statements(&block(text))[0].kind {
            StatementKind::Unsupported { reason, .. } => reason.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(" print(tcpi_rtt) "),
            "only `assert` statements are evaluated"
        );
        assert_eq!(reason(" x = 5 "), "only `assert` statements are evaluated");
        assert!(reason(" assert len(x) == 1 ").contains("calls, indexing and attributes"));
        assert!(reason(" assert x in y ").contains("`in`"));
        assert!(reason(" assert tcpi_x == ").contains("expected an expression"));
        assert!(reason(" assert (1 ").contains("expected `)`"));
        assert!(reason(" assert 1 $ 2 ").contains("unexpected character `$`"));
        assert!(reason(" assert 'abc ").contains("unterminated string"));
        assert!(reason(" assert 1 2 ").contains("unexpected `2`"));
        let stmts = statements(&block(" assert 1\nimport os\n"));
        assert!(
            matches!(stmts[1].kind, StatementKind::Unsupported { ref text, .. } if text == "import os")
        );
        assert!(stmts[1].kind.check(&env).is_none());
    }

    #[test]
    fn constants_are_linuxs_values() {
        assert_eq!(linux_constant("TCP_CLOSE_WAIT"), Some(8));
        assert_eq!(linux_constant("TCP_CA_Loss"), Some(4));
        assert_eq!(linux_constant("TCPI_OPT_SYN_DATA"), Some(32));
        assert_eq!(linux_constant("TCPI_SYN_RECEIVED"), None);
    }
}
