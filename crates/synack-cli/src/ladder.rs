//! Ladder (message sequence) diagrams in plain text: one vertical line per
//! endpoint, time on the left, one arrow per message between two lines.
//!
//! The renderer knows nothing about TCP. A caller builds a [`Ladder`] from
//! column names (endpoints) and [`Row`]s (time text, from, to, label, and
//! optionally a note per endpoint such as its TCP state after the message),
//! then calls [`Ladder::render`]. `synack trace` draws captures with it;
//! `synack demo` draws its connection, with each side's state, with it too.
//!
//! Layout, for a [`Style`] of `width` columns:
//! - the time text is right-aligned in a column of its own on the left;
//! - notes on the first endpoint go in a gutter left of its line, notes on
//!   the last endpoint in a gutter right of its line, notes on any endpoint
//!   in between on an extra line, just right of that endpoint's line;
//! - the endpoint lines are spread evenly over what is left, but never
//!   closer than [`MIN_GAP`] (a diagram too wide for the terminal beats an
//!   unreadable one);
//! - a label too long for its arrow continues on the following lines,
//!   between the two endpoint lines, broken at spaces or after commas but
//!   never at a no-break space ([`NBSP`], drawn as a space);
//! - a lost message's arrow stops short of its destination and ends in `x`.
//!
//! ASCII by default (`|`, `-`, `>`, `<`, `x`); [`Style::unicode`] uses box
//! drawing characters instead. Every character counts as one column, so
//! labels should stay ASCII. Lines carry no trailing spaces.

use std::fmt::Write as _;

/// Endpoint lines are at least this many columns apart.
pub const MIN_GAP: usize = 20;

/// How a ladder is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Columns available (the terminal width).
    pub width: usize,
    /// Box-drawing characters instead of ASCII.
    pub unicode: bool,
}

impl Style {
    /// The style for a terminal: `width` if given, else the `COLUMNS`
    /// environment variable if it holds a number, else 100 columns.
    pub fn for_terminal(width: Option<usize>, unicode: bool) -> Style {
        let width = width
            .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
            .unwrap_or(Style::default().width);
        Style { width, unicode }
    }
}

impl Default for Style {
    fn default() -> Self {
        Style {
            width: 100,
            unicode: false,
        }
    }
}

/// One line of the diagram's story: a message from one endpoint to another,
/// or a note across the whole diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    time: String,
    kind: RowKind,
    annotations: Vec<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RowKind {
    Arrow {
        from: usize,
        to: usize,
        label: String,
        lost: bool,
    },
    Note(String),
}

// `synack trace` uses arrows; notes, lost messages and per-endpoint notes
// are for `synack demo` (and any later caller), and tested here.
#[allow(dead_code)]
impl Row {
    /// A message from column `from` to column `to` (indices into the
    /// ladder's columns; a row naming a missing column, or `from == to`,
    /// is drawn as a note).
    pub fn arrow(time: impl Into<String>, from: usize, to: usize, label: impl Into<String>) -> Row {
        Row {
            time: time.into(),
            kind: RowKind::Arrow {
                from,
                to,
                label: label.into(),
                lost: false,
            },
            annotations: Vec::new(),
        }
    }

    /// A line of text across the diagram, e.g. "-- 1.2 s idle --". An empty
    /// text with annotations draws just the endpoints' notes (their initial
    /// states, say).
    pub fn note(time: impl Into<String>, text: impl Into<String>) -> Row {
        Row {
            time: time.into(),
            kind: RowKind::Note(text.into()),
            annotations: Vec::new(),
        }
    }

    /// Marks the message as lost on the way: its arrow stops short.
    pub fn lost(mut self) -> Row {
        if let RowKind::Arrow { lost, .. } = &mut self.kind {
            *lost = true;
        }
        self
    }

    /// Adds a note for one endpoint on this row (a TCP state, typically).
    pub fn annotate(mut self, column: usize, text: impl Into<String>) -> Row {
        self.annotations.push((column, text.into()));
        self
    }
}

/// A diagram: endpoint names and the rows in the order they are drawn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ladder {
    columns: Vec<String>,
    rows: Vec<Row>,
}

struct Glyphs {
    bar: char,
    line: char,
    right: char,
    left: char,
    lost: char,
}

const ASCII: Glyphs = Glyphs {
    bar: '|',
    line: '-',
    right: '>',
    left: '<',
    lost: 'x',
};

const UNICODE: Glyphs = Glyphs {
    bar: '│',
    line: '─',
    right: '▶',
    left: '◀',
    lost: '✕',
};

/// Joins words that must stay on one line; drawn as a space.
pub const NBSP: char = '\u{a0}';

/// Columns between an arrow's endpoint line and its label: `<-- ` or `--- `.
const LABEL_INDENT: usize = 4;

impl Ladder {
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Ladder {
        Ladder {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Draws the diagram; every line ends with `\n`.
    pub fn render(&self, style: &Style) -> String {
        let n = self.columns.len();
        if n == 0 {
            return String::new();
        }
        let g = if style.unicode { &UNICODE } else { &ASCII };
        let layout = Layout::new(self, style);
        let mut out = Canvas::default();

        // Endpoint names, centred on their lines, stacked when they collide.
        let mut header: Vec<Vec<(usize, usize)>> = Vec::new();
        for (i, name) in self.columns.iter().enumerate() {
            let len = width_of(name);
            let start = layout.bars[i]
                .saturating_sub(len / 2)
                .min(layout.total.saturating_sub(len));
            let end = start + len;
            let line = header
                .iter()
                .position(|used| used.iter().all(|&(s, e)| end < s || start > e))
                .unwrap_or_else(|| {
                    header.push(Vec::new());
                    header.len() - 1
                });
            header[line].push((start, end));
            out.put(line, start, name);
        }
        let mut y = header.len();
        out.bars(y, &layout.bars, g);
        y += 1;

        for row in &self.rows {
            y = layout.draw_row(&mut out, y, row, g);
        }
        out.finish()
    }
}

/// Where things go, computed once per render.
struct Layout {
    time_w: usize,
    /// Column of each endpoint's line.
    bars: Vec<usize>,
    /// The diagram's width (at least the style's, more if it had to grow).
    total: usize,
}

impl Layout {
    fn new(ladder: &Ladder, style: &Style) -> Layout {
        let n = ladder.columns.len();
        let time_w = ladder.rows.iter().map(|r| width_of(&r.time)).max();
        let time_w = time_w.unwrap_or(0);
        let notes_on = |col: usize| {
            ladder
                .rows
                .iter()
                .flat_map(|r| r.annotations.iter())
                .filter(|(c, _)| *c == col)
                .map(|(_, text)| width_of(text))
                .max()
                .unwrap_or(0)
        };
        let left_w = notes_on(0);
        let right_w = if n > 1 { notes_on(n - 1) } else { 0 };
        // Time, two spaces, left notes and a space, the first line.
        let x0 = time_w + if left_w > 0 { 2 + left_w + 1 } else { 2 };
        let right = if right_w > 0 { right_w + 2 } else { 0 };
        let gap = if n > 1 {
            let room = style.width.saturating_sub(1 + right + x0);
            (room / (n - 1)).max(MIN_GAP)
        } else {
            0
        };
        let bars: Vec<usize> = (0..n).map(|i| x0 + i * gap).collect();
        let last = bars[n - 1];
        let names = ladder.columns.iter().map(|c| width_of(c)).max();
        let total = style.width.max(last + 1 + right).max(names.unwrap_or(0));
        Layout {
            time_w,
            bars,
            total,
        }
    }

    /// Draws one row from line `y`; returns the next free line.
    fn draw_row(&self, out: &mut Canvas, mut y: usize, row: &Row, g: &Glyphs) -> usize {
        let n = self.bars.len();
        let first = y;
        out.bars(y, &self.bars, g);
        out.put(y, self.time_w - width_of(&row.time), &row.time);
        match &row.kind {
            RowKind::Arrow {
                from,
                to,
                label,
                lost,
            } if from != to && *from < n && *to < n => {
                let (a, b) = (self.bars[*from], self.bars[*to]);
                let (l, r) = (a.min(b), a.max(b));
                let inner = r - l - 1;
                let room = inner.saturating_sub(LABEL_INDENT + 3).max(1);
                let chunks = wrap(label, room);
                let (body, label_at) = arrow_body(inner, &chunks[0], a < b, *lost, g);
                out.put(y, l + 1, &body);
                for chunk in &chunks[1..] {
                    y += 1;
                    out.bars(y, &self.bars, g);
                    out.put(y, l + 1 + label_at, chunk);
                }
            }
            RowKind::Arrow { label: text, .. } | RowKind::Note(text) => {
                if !text.is_empty() {
                    out.put(y, self.bars[0] + 2, text);
                }
            }
        }
        // Notes on the outer endpoints sit beside the row's first line.
        let mut inner_notes = Vec::new();
        for (col, text) in &row.annotations {
            if *col == 0 {
                out.put(first, self.bars[0] - 1 - width_of(text), text);
            } else if *col == n - 1 {
                out.put(first, self.bars[n - 1] + 2, text);
            } else if *col < n {
                inner_notes.push((*col, text));
            }
        }
        if !inner_notes.is_empty() {
            y += 1;
            out.bars(y, &self.bars, g);
            for (col, text) in inner_notes {
                let room = self.bars[col + 1] - self.bars[col] - 3;
                let text: String = text.chars().take(room).collect();
                out.put(y, self.bars[col] + 2, &text);
            }
        }
        y + 1
    }
}

/// The `inner` characters between two endpoint lines for an arrow carrying
/// `label` (its first line), and where in them the label starts.
fn arrow_body(
    inner: usize,
    label: &str,
    rightward: bool,
    lost: bool,
    g: &Glyphs,
) -> (String, usize) {
    let lw = width_of(label);
    let line = |k: usize| g.line.to_string().repeat(k);
    // Shortest body: indent, label, space, one line char, head or mark.
    let min = LABEL_INDENT + lw + 3;
    let len = if lost {
        // Stop about two thirds of the way, short of the destination.
        (inner * 2 / 3)
            .max(min)
            .min(inner.saturating_sub(2))
            .max(min)
    } else {
        inner.max(min)
    };
    let mut body = String::new();
    let label_at;
    if rightward {
        // `--- label -…-->`: the head takes the last column.
        let fill = len - (LABEL_INDENT + lw + 2);
        let _ = write!(body, "{} {label} {}", line(3), line(fill));
        body.push(if lost { g.lost } else { g.right });
        label_at = LABEL_INDENT;
        for _ in len..inner {
            body.push(' ');
        }
    } else {
        for _ in len..inner {
            body.push(' ');
        }
        // `<-- label -…--`: the head takes the first column.
        let fill = len - (LABEL_INDENT + lw + 1);
        body.push(if lost { g.lost } else { g.left });
        let _ = write!(body, "{} {label} {}", line(2), line(fill));
        label_at = inner.saturating_sub(len) + LABEL_INDENT;
    }
    (body, label_at)
}

/// Breaks `text` into lines of at most `width` characters: at spaces (which
/// are dropped) and after commas (kept), never at a no-break space. A word
/// longer than a line is cut. Always returns at least one line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    // Words, each with whether a space separated it from the previous one.
    let mut words: Vec<(bool, Vec<char>)> = Vec::new();
    let mut spaced = false;
    let mut cur = Vec::new();
    for c in text.chars() {
        match c {
            ' ' => {
                if !cur.is_empty() {
                    words.push((spaced, std::mem::take(&mut cur)));
                }
                spaced = true;
            }
            ',' => {
                cur.push(c);
                words.push((spaced, std::mem::take(&mut cur)));
                spaced = false;
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push((spaced, cur));
    }
    let mut lines: Vec<Vec<char>> = Vec::new();
    let mut line: Vec<char> = Vec::new();
    for (spaced, mut word) in words {
        let sep = usize::from(spaced && !line.is_empty());
        if line.len() + sep + word.len() <= width {
            if sep == 1 {
                line.push(' ');
            }
            line.append(&mut word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            lines.push(word.drain(..width).collect());
        }
        line = word;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines.into_iter().map(|l| l.into_iter().collect()).collect()
}

fn width_of(s: &str) -> usize {
    s.chars().count()
}

/// A grid of characters that grows as it is written.
#[derive(Default)]
struct Canvas {
    lines: Vec<Vec<char>>,
}

impl Canvas {
    fn put(&mut self, y: usize, x: usize, text: &str) {
        if self.lines.len() <= y {
            self.lines.resize(y + 1, Vec::new());
        }
        let line = &mut self.lines[y];
        for (i, c) in text.chars().enumerate() {
            if line.len() <= x + i {
                line.resize(x + i + 1, ' ');
            }
            line[x + i] = if c == NBSP { ' ' } else { c };
        }
    }

    fn bars(&mut self, y: usize, bars: &[usize], g: &Glyphs) {
        for &x in bars {
            self.put(y, x, &g.bar.to_string());
        }
    }

    fn finish(self) -> String {
        let mut s = String::new();
        for line in self.lines {
            let text: String = line.into_iter().collect();
            s.push_str(text.trim_end());
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(width: usize) -> Style {
        Style {
            width,
            unicode: false,
        }
    }

    #[test]
    fn two_endpoints_with_arrows_both_ways() {
        let mut l = Ladder::new(["client", "server"]);
        l.push(Row::arrow("0.000", 0, 1, "S 0:0(0)"));
        l.push(Row::arrow("0.010", 1, 0, "S. 0:0(0) ack 1"));
        l.push(Row::arrow("12.5", 0, 1, "."));
        assert_eq!(
            l.render(&style(50)),
            "
    client                                  server
       |                                         |
0.000  |--- S 0:0(0) --------------------------->|
0.010  |<-- S. 0:0(0) ack 1 ---------------------|
 12.5  |--- . ---------------------------------->|
"[1..]
        );
    }

    #[test]
    fn long_labels_continue_between_the_lines() {
        let mut l = Ladder::new(["a", "b"]);
        l.push(Row::arrow(
            "1",
            1,
            0,
            "S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val 10 ecr 7,nop,wscale 7>",
        ));
        l.push(Row::arrow(
            "2",
            0,
            1,
            "a_word_longer_than_the_room_for_labels",
        ));
        assert_eq!(
            l.render(&style(40)),
            "
   a                                   b
   |                                   |
1  |<-- S. 0:0(0) ack 1 win 65160 -----|
   |    <mss 1460,sackOK,TS val 10     |
   |    ecr 7,nop,wscale 7>            |
2  |--- a_word_longer_than_the_room_ ->|
   |    for_labels                     |
"[1..]
        );
    }

    #[test]
    fn outer_notes_go_beside_their_endpoint() {
        let mut l = Ladder::new(["A", "B"]);
        l.push(
            Row::note("", "")
                .annotate(0, "CLOSED")
                .annotate(1, "LISTEN"),
        );
        l.push(Row::arrow("0", 0, 1, "SYN").annotate(0, "SYN-SENT"));
        l.push(
            Row::arrow("5", 1, 0, "SYN,ACK")
                .annotate(1, "SYN-RECEIVED")
                .annotate(0, "ESTABLISHED"),
        );
        assert_eq!(
            l.render(&style(56)),
            "
               A                         B
               |                         |
        CLOSED |                         | LISTEN
0     SYN-SENT |--- SYN ---------------->|
5  ESTABLISHED |<-- SYN,ACK -------------| SYN-RECEIVED
"[1..]
        );
    }

    #[test]
    fn no_break_spaces_keep_words_together_and_draw_as_spaces() {
        let mut l = Ladder::new(["a", "b"]);
        l.push(Row::arrow(
            "1",
            0,
            1,
            "<mss\u{a0}1460,TS\u{a0}val\u{a0}7\u{a0}ecr\u{a0}0,nop>",
        ));
        assert_eq!(
            l.render(&style(30)),
            "
   a                         b
   |                         |
1  |--- <mss 1460, --------->|
   |    TS val 7 ecr 0,      |
   |    nop>                 |
"[1..]
        );
    }

    #[test]
    fn lost_messages_stop_short_with_a_mark() {
        let mut l = Ladder::new(["A", "B"]);
        l.push(Row::arrow("1", 0, 1, "1:1001(1000)").lost());
        l.push(Row::arrow("2", 1, 0, "ack 1").lost());
        l.push(Row::note("3", "-- RTO --"));
        assert_eq!(
            l.render(&style(44)),
            "
   A                                       B
   |                                       |
1  |--- 1:1001(1000) --------x             |
2  |             x-- ack 1 ----------------|
3  | -- RTO --                             |
"[1..]
        );
    }

    #[test]
    fn arrows_cross_the_endpoints_between_them() {
        let mut l = Ladder::new(["h1", "router", "h2"]);
        l.push(Row::arrow("0", 0, 2, "ping").annotate(1, "fwd"));
        l.push(Row::arrow("1", 2, 1, "pong"));
        assert_eq!(
            l.render(&style(50)),
            "
  h1                   router                   h2
   |                      |                      |
0  |--- ping ----------------------------------->|
   |                      | fwd                  |
1  |                      |<-- pong -------------|
"[1..]
        );
    }

    #[test]
    fn narrow_terminals_keep_the_minimum_gap() {
        let mut l = Ladder::new(["a", "b"]);
        l.push(Row::arrow("0", 0, 1, "x"));
        let text = l.render(&style(10));
        assert_eq!(
            text,
            "
   a                   b
   |                   |
0  |--- x ------------>|
"[1..]
        );
        assert_eq!(text.lines().nth(1).unwrap().len(), 3 + MIN_GAP + 1);
    }

    #[test]
    fn colliding_names_stack_and_unicode_draws_boxes() {
        let mut l = Ladder::new(["192.0.2.1:40000", "192.0.2.2:80"]);
        l.push(Row::arrow("0", 0, 1, "S"));
        l.push(Row::arrow("1", 1, 0, "R.").lost());
        let s = Style {
            width: 20,
            unicode: true,
        };
        assert_eq!(
            l.render(&s),
            "
192.0.2.1:40000
            192.0.2.2:80
   │                   │
0  │─── S ────────────▶│
1  │       ✕── R. ─────│
"[1..]
        );
    }

    #[test]
    fn bad_columns_and_empty_ladders_do_not_panic() {
        assert_eq!(Ladder::new(Vec::<String>::new()).render(&style(80)), "");
        let mut l = Ladder::new(["only"]);
        l.push(
            Row::arrow("0", 0, 0, "to itself")
                .annotate(0, "A")
                .annotate(5, "?"),
        );
        l.push(Row::arrow("1", 0, 3, "nowhere"));
        assert_eq!(
            l.render(&style(80)),
            "   only\n     |\n0  A | to itself\n1    | nowhere\n"
        );
    }

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("", 5), vec![""]);
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("abcdefghij k", 4), vec!["abcd", "efgh", "ij k"]);
        assert_eq!(wrap("  spaced   out ", 20), vec!["spaced out"]);
        assert_eq!(wrap("<a 1,bb 2,c>", 8), vec!["<a 1,bb", "2,c>"]);
        let nb = "<a\u{a0}1,bb\u{a0}2,c>";
        assert_eq!(wrap(nb, 8), vec!["<a\u{a0}1,", "bb\u{a0}2,c>"]);
    }
}
