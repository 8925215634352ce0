//! The typed syntax tree of a packetdrill script: options, events, their
//! times, system calls and their argument expressions, shell commands and
//! `%{ }%` code blocks. Packets live in [`super::packet`].
//!
//! The tree keeps numbers as written (sequence numbers relative to the
//! script's idea of each side's ISN, times as scripted); the helpers in
//! [`super::timing`] and [`super::meaning`] say what they mean at run time.
//! `Display` prints a canonical form that parses back to an equal tree.

use synack_proto::Duration;

use super::packet::{GreHeader, MplsEntry, Packet};
use super::span::{Span, Spanned};

/// A parsed script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// `--name=value` lines (and `-D NAME=VALUE`, stored as `define`).
    pub options: Vec<ScriptOption>,
    /// A shell command before the first event, run without a time.
    pub init_command: Option<Command>,
    /// At least one event, in script order.
    pub events: Vec<Event>,
    /// A shell command after the last event, run without a time.
    pub cleanup_command: Option<Command>,
}

impl Script {
    /// The last value given for option `name` (packetdrill lets later lines
    /// override earlier ones). `Some(None)` for a flag given without a value.
    pub fn option(&self, name: &str) -> Option<Option<&str>> {
        self.options
            .iter()
            .rev()
            .find(|o| o.name == name)
            .map(|o| o.value.as_deref())
    }

    /// The `NAME=VALUE` defines the script makes, in order.
    pub fn defines(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options.iter().filter_map(ScriptOption::as_define)
    }

    /// Every shell command with its event time, init and cleanup included
    /// (those have no time).
    pub fn commands(&self) -> impl Iterator<Item = (Option<&EventTime>, &Command)> {
        let events = self.events.iter().filter_map(|e| match &e.action {
            Action::Command(c) => Some((Some(&e.time), c)),
            _ => None,
        });
        self.init_command
            .iter()
            .map(|c| (None, c))
            .chain(events)
            .chain(self.cleanup_command.iter().map(|c| (None, c)))
    }
}

/// One `--name[=value]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptOption {
    pub name: String,
    /// The value, unquoted when it was a single `"..."` string. For
    /// `define` it is `NAME=VALUE` with VALUE as written (quotes kept, as
    /// packetdrill keeps them to know a string from a word).
    pub value: Option<String>,
    pub span: Span,
}

impl ScriptOption {
    /// `(NAME, VALUE)` when this is `--define=NAME=VALUE` / `-D NAME=VALUE`.
    pub fn as_define(&self) -> Option<(&str, &str)> {
        if self.name != "define" {
            return None;
        }
        self.value.as_deref()?.split_once('=')
    }
}

/// A timed line of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub time: EventTime,
    pub time_span: Span,
    pub action: Action,
    /// From the time to the end of the action.
    pub span: Span,
}

impl Event {
    /// Whether this is a `<` packet (it anchors relative times, see
    /// [`super::timing`]).
    pub fn is_inbound_packet(&self) -> bool {
        matches!(&self.action, Action::Packet(p) if p.direction == super::packet::Direction::Inbound)
    }

    /// A blocking system call's `...END` time.
    pub fn blocking_end(&self) -> Option<Duration> {
        match &self.action {
            Action::Syscall(s) => s.end.map(|e| e.value),
            _ => None,
        }
    }
}

/// When an event happens, as written. Offsets are exact to the microsecond
/// (packetdrill converts through a double; we read the decimal digits).
///
/// See [`super::timing`] for how each form resolves against the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventTime {
    /// `0.100`: seconds since the script started.
    Absolute(Duration),
    /// `+.1`: seconds after the previous event.
    Relative(Duration),
    /// `0.3~0.4`: any time in the closed range (outbound packets only).
    AbsoluteRange(Duration, Duration),
    /// `+.3~+.4`: a range after the previous event (outbound packets only).
    RelativeRange(Duration, Duration),
    /// `*`: whenever it happens (outbound packets only).
    Any,
}

impl EventTime {
    pub fn is_relative(&self) -> bool {
        matches!(self, EventTime::Relative(_) | EventTime::RelativeRange(..))
    }

    pub fn is_absolute(&self) -> bool {
        matches!(self, EventTime::Absolute(_) | EventTime::AbsoluteRange(..))
    }

    pub fn is_range(&self) -> bool {
        matches!(
            self,
            EventTime::AbsoluteRange(..) | EventTime::RelativeRange(..)
        )
    }
}

/// What an event does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Packet(Packet),
    Syscall(Syscall),
    /// A backquoted shell command.
    Command(Command),
    /// A `%{ ... }%` Python block.
    Code(CodeBlock),
}

/// A backquoted shell command, verbatim (newlines and escapes included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub text: String,
    pub span: Span,
}

/// The text between `%{` and `}%`, verbatim. [`super::code`] parses the
/// `assert` statements in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeBlock {
    pub text: String,
    pub span: Span,
}

/// `[...END] name(args) = result [ERRNO] [(note)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Syscall {
    pub name: Spanned<String>,
    /// `...0.200`: a blocking call that returns at this time. It is on the
    /// same clock as the event's own time (see [`super::timing`]).
    pub end: Option<Spanned<Duration>>,
    pub args: Vec<Expr>,
    pub result: Expr,
    /// `EINPROGRESS` in `= -1 EINPROGRESS (Operation now in progress)`.
    pub errno: Option<Spanned<String>>,
    /// The words in parentheses after the result, single-spaced.
    pub note: Option<Spanned<String>>,
    pub span: Span,
}

impl Syscall {
    pub fn is_blocking(&self) -> bool {
        self.end.is_some()
    }
}

/// A system call argument or result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    /// The integer value, when this is an integer literal.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            ExprKind::Int(IntLit { value, .. }) => Some(value),
            _ => None,
        }
    }

    pub fn as_word(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Word(w) => Some(w),
            _ => None,
        }
    }

    pub fn is_ellipsis(&self) -> bool {
        matches!(self.kind, ExprKind::Ellipsis)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// `...`: don't care (the runner supplies a value).
    Ellipsis,
    Int(IntLit),
    /// A symbolic constant such as `SOCK_STREAM` or `EINPROGRESS`.
    Word(String),
    /// `"a" "b"` concatenate; `"abc"...` is a prefix match. Escapes are kept
    /// as written.
    Str {
        parts: Vec<String>,
        ellipsis: bool,
    },
    /// `O_RDWR|O_NONBLOCK`.
    BitOr(Vec<Expr>),
    /// `name=value` inside `{...}` (`l_onoff=1`, `events=POLLIN`), or
    /// `msg_iov(1)=[...]`.
    Assign {
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// One of packetdrill's built-in functions: `htons(8080)`,
    /// `inet_addr("1.2.3.4")`, `inet6_addr("::1")`, `msg_name(...)`, `msg_iov(1)`.
    Call {
        name: String,
        args: Vec<Expr>,
    },
    /// `[1]`, `[{...}, {...}]`, `[]`.
    Array(Vec<Expr>),
    /// `{...}`: a struct (`{fd=3, events=POLLIN}`), an iovec (`{..., 100}`)
    /// or a list.
    Struct(Vec<Expr>),
    /// `{(label 1, tc 0, [S], ttl 64)}`: an MPLS label stack.
    Mpls(Vec<MplsEntry>),
    /// `{flags [none] sum 0 off 0 key 0 seq 0}`: a GRE header.
    Gre(GreHeader),
}

/// An integer as written: the value and whether it was hexadecimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntLit {
    pub value: i64,
    pub hex: bool,
}
