//! Source positions and parse errors.
//!
//! Every AST node carries a [`Span`] so the runner can say exactly where a
//! script went wrong (`file.pkt:12:5: ...`). Spans never take part in
//! equality: two nodes are equal when they mean the same thing wherever they
//! were written, which is what the print/parse round trip compares. Read
//! `line`/`column` directly when the position itself matters.

use core::fmt;
use core::hash::{Hash, Hasher};

/// A region of the script source: 1-based line and column (in characters) of
/// its first character, the same for one past its last, and byte offsets.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset one past the last character.
    pub end: usize,
}

impl Span {
    /// The region from the start of `self` to the end of `other`.
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span {
            line: self.line,
            column: self.column,
            end_line: other.end_line,
            end_column: other.end_column,
            start: self.start,
            end: other.end.max(self.start),
        }
    }
}

// Spans are position metadata, not meaning: see the module comment.
impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

impl Eq for Span {}

impl Hash for Span {
    fn hash<H: Hasher>(&self, _state: &mut H) {}
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value with the span it was written at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// A script that packetdrill would refuse, with the place and the reason.
///
/// Displays as `path:line:column: message`, the form compilers use, so
/// editors can jump to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub path: String,
    pub span: Span,
    pub message: String,
}

impl ParseError {
    pub fn line(&self) -> u32 {
        self.span.line
    }

    pub fn column(&self) -> u32 {
        self.span.column
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.span.line, self.span.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// An error before the path is known: the lexer and parser build these and
/// `parse_script` attaches the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub span: Span,
    pub message: String,
}

impl SyntaxError {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        SyntaxError {
            span,
            message: message.into(),
        }
    }

    pub fn with_path(self, path: &str) -> ParseError {
        ParseError {
            path: path.to_string(),
            span: self.span,
            message: self.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_displays_like_a_compiler_diagnostic() {
        let err = ParseError {
            path: "file.pkt".into(),
            span: Span {
                line: 12,
                column: 5,
                ..Span::default()
            },
            message: "expected `ack` or `win`, found `foo`".into(),
        };
        assert_eq!(
            err.to_string(),
            "file.pkt:12:5: expected `ack` or `win`, found `foo`"
        );
    }

    #[test]
    fn spans_do_not_affect_equality_but_keep_their_positions() {
        let a = Spanned::new(
            7u32,
            Span {
                line: 1,
                column: 1,
                ..Span::default()
            },
        );
        let b = Spanned::new(
            7u32,
            Span {
                line: 9,
                column: 4,
                ..Span::default()
            },
        );
        assert_eq!(a, b);
        assert_ne!(a.span.line, b.span.line);
        assert_ne!(a, Spanned::new(8u32, a.span));
    }

    #[test]
    fn joined_span_runs_from_first_start_to_last_end() {
        let a = Span {
            line: 1,
            column: 3,
            end_line: 1,
            end_column: 5,
            start: 2,
            end: 4,
        };
        let b = Span {
            line: 2,
            column: 1,
            end_line: 2,
            end_column: 9,
            start: 10,
            end: 18,
        };
        let j = a.to(b);
        assert_eq!((j.line, j.column, j.end_line, j.end_column), (1, 3, 2, 9));
        assert_eq!((j.start, j.end), (2, 18));
    }
}
