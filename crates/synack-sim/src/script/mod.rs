//! packetdrill scripts: parser, syntax tree, printer and the pure semantic
//! helpers a runner needs.
//!
//! [packetdrill](https://github.com/google/packetdrill) scripts mix socket
//! calls, packets and timing: the script plays a remote host, synack is the
//! stack under test. This module reads them faithfully:
//!
//! - [`parse_script`] turns source text into a [`Script`] whose every node has
//!   a [`Span`]; errors read `file.pkt:12:5: expected ..., found ...`.
//! - `Display` on [`Script`] prints a canonical form that parses back to an
//!   equal tree (spans aside).
//! - [`timing`]: when each event is due and how much slack it gets.
//! - [`meaning`]: which ISN each sequence number in a packet is relative to.
//! - [`shell`]: the sysctls that backquoted shell lines set.
//! - [`code`]: `%{ assert tcpi_x == N }%` blocks as expressions to evaluate.
//!
//! The grammar is packetdrill's (gtests/net/packetdrill/parser.y and
//! lexer.l), including its parse-time checks. Where we differ, we accept
//! more, never less:
//!
//! - option lines may also be written `--name value` and `-D NAME=VALUE`
//!   (packetdrill takes those forms only on its command line), and option
//!   values are read raw (`--ip_version=ipv4-mapped-ipv6`, `--x=12.5`);
//! - `= -1 ERRNO` needs no `(note)`, and a note may hold any words and
//!   punctuation on its way to `)`;
//! - a TCP Fast Open cookie that is an undefined upper-case name (the
//!   corpus's `FOEXP TFO_COOKIE`, which packetdrill's test harness passes
//!   with `-D`) stays a name for the runner to resolve;
//! - times are read exactly from their decimal digits (packetdrill goes
//!   through a `double`, which can be off by a microsecond);
//! - CR is whitespace, so CRLF files parse.

pub mod ast;
pub mod code;
mod lexer;
pub mod meaning;
pub mod packet;
mod parser;
mod print;
pub mod run;
pub mod shell;
pub mod span;
pub mod timing;

pub use ast::{
    Action, CodeBlock, Command, Event, EventTime, Expr, ExprKind, IntLit, Script, ScriptOption,
    Syscall,
};
pub use packet::{
    Direction, FastOpenCookie, IcmpPacket, IpInfo, Packet, PacketBody, SeqRange, TcpFlags,
    TcpOption, TcpOptionKind, TcpOptions, TcpPacket, UdpPacket,
};
pub use print::fmt_seconds;
pub use span::{ParseError, Span, Spanned};

/// Parses a packetdrill script. `path` only labels error messages.
pub fn parse_script(source: &str, path: &str) -> Result<Script, ParseError> {
    parse_script_with_defines(source, path, &[])
}

/// Parses with `-D NAME=VALUE` defines from outside the script (they
/// override the script's own `--define`s, as packetdrill's command line
/// does). Every word that names a define is replaced by its value while
/// parsing, as packetdrill's lexer does.
pub fn parse_script_with_defines(
    source: &str,
    path: &str,
    defines: &[(&str, &str)],
) -> Result<Script, ParseError> {
    lexer::tokenize(source)
        .and_then(|toks| parser::parse_tokens(toks, defines))
        .map_err(|e| e.with_path(path))
}
