//! `ss`'s filter: `[ state STATE ] [ exclude STATE ] [ EXPRESSION ]`, as
//! iproute2's ss reads it (ss(8) "STATE-FILTER" and "EXPRESSION";
//! `ssfilter.y`), over the rows `synack ss` prints.
//!
//! - **States**: each `state NAME` keeps that state (the first one replaces
//!   the default, every state), each `exclude NAME` drops it. Names are
//!   ss's (`established`, `syn-sent`, `syn-recv`, `fin-wait-1`,
//!   `fin-wait-2`, `time-wait`, `closed`, `close-wait`, `last-ack`,
//!   `listening`, `closing`) and its groups (ss(8)'s words): `all`,
//!   `connected` (all but listening and closed), `synchronized`
//!   (connected but syn-sent), `bucket` (the minisockets: syn-recv and
//!   time-wait), `big` (all but the bucket).
//! - **Expressions**: `dport OP [:]PORT`, `sport OP [:]PORT` (OP one of
//!   `=` `==` `eq` `!=` `ne` `neq` `<` `lt` `>` `gt` `<=` `le` `leq` `>=`
//!   `ge` `geq`; a port by number or by its /etc/services name),
//!   `dst HOST`, `src HOST` (HOST `ADDR[/LEN][:PORT]`, `*` for any
//!   address), joined by `and` (`&`, `&&`, or nothing) and `or` (`|`,
//!   `||`) from left to right, as ss's grammar (`exprlist`) joins them:
//!   `a or b and c` is `(a or b) and c`; `not` (`!`) takes the term after
//!   it, parentheses group.

use std::net::{Ipv4Addr, SocketAddr};

use crate::ss_render::{SsRow, SsState};

/// A parsed filter: the states kept, and the expression (`None`: any).
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    states: u16,
    expr: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `sport` (local) or `dport` (peer) compared with a port.
    Port {
        peer: bool,
        op: Op,
        port: u16,
    },
    /// `src` (local) or `dst` (peer) within a prefix, on a port if given.
    Host {
        peer: bool,
        host: Host,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Host {
    /// The prefix; `None` for any address (`*`, or a port alone).
    net: Option<(Ipv4Addr, u8)>,
    port: Option<u16>,
}

/// Every state (ss's `SS_ALL`).
const ALL: u16 = (1 << SsState::ALL.len()) - 1;

fn bit(s: SsState) -> u16 {
    1 << SsState::ALL.iter().position(|&x| x == s).unwrap_or(0)
}

/// A state name or group, as ss spells them.
fn states_named(name: &str) -> Option<u16> {
    use SsState::*;
    let bucket = bit(SynRecv) | bit(TimeWait);
    let connected = ALL & !(bit(Listen) | bit(Closed));
    Some(match name {
        "all" => ALL,
        "connected" => connected,
        "synchronized" => connected & !bit(SynSent),
        "bucket" => bucket,
        "big" => ALL & !bucket,
        "established" => bit(Established),
        "syn-sent" => bit(SynSent),
        "syn-recv" => bit(SynRecv),
        "fin-wait-1" => bit(FinWait1),
        "fin-wait-2" => bit(FinWait2),
        "time-wait" => bit(TimeWait),
        "closed" => bit(Closed),
        "close-wait" => bit(CloseWait),
        "last-ack" => bit(LastAck),
        "listening" => bit(Listen),
        "closing" => bit(Closing),
        _ => return None,
    })
}

impl Default for Filter {
    /// No filter: every state, any socket.
    fn default() -> Filter {
        Filter {
            states: ALL,
            expr: None,
        }
    }
}

impl Filter {
    /// Parses the words after ss's options (they may be split anywhere, or
    /// one quoted string).
    pub fn parse(words: &[String]) -> Result<Filter, String> {
        let text = words.join(" ");
        let tokens = tokenize(&text);
        let mut at = 0;
        let mut states = None;
        while let Some(word) = tokens.get(at).map(String::as_str) {
            let exclude = match word {
                "state" => false,
                "exclude" | "excl" => true,
                _ => break,
            };
            let name = tokens
                .get(at + 1)
                .ok_or_else(|| format!("`{word}` wants a state name"))?;
            let named = states_named(name).ok_or_else(|| format!("unknown state `{name}`"))?;
            let current = states.unwrap_or(if exclude { ALL } else { 0 });
            states = Some(if exclude {
                current & !named
            } else {
                current | named
            });
            at += 2;
        }
        let mut parser = Parser {
            tokens: &tokens[at..],
            at: 0,
        };
        let expr = if parser.tokens.is_empty() {
            None
        } else {
            let e = parser.list()?;
            if let Some(extra) = parser.peek() {
                return Err(format!("unexpected `{extra}`"));
            }
            Some(e)
        };
        Ok(Filter {
            states: states.unwrap_or(ALL),
            expr,
        })
    }

    /// Whether `row` passes.
    pub fn keeps(&self, row: &SsRow) -> bool {
        self.states & bit(row.state) != 0 && self.expr.as_ref().is_none_or(|e| e.holds(row))
    }
}

impl Expr {
    fn holds(&self, row: &SsRow) -> bool {
        match self {
            Expr::Not(e) => !e.holds(row),
            Expr::And(a, b) => a.holds(row) && b.holds(row),
            Expr::Or(a, b) => a.holds(row) || b.holds(row),
            Expr::Port { peer, op, port } => {
                let have = end(row, *peer).port();
                match op {
                    Op::Eq => have == *port,
                    Op::Ne => have != *port,
                    Op::Lt => have < *port,
                    Op::Gt => have > *port,
                    Op::Le => have <= *port,
                    Op::Ge => have >= *port,
                }
            }
            Expr::Host { peer, host } => {
                let addr = end(row, *peer);
                let ip = match addr {
                    SocketAddr::V4(a) => *a.ip(),
                    SocketAddr::V6(_) => return false,
                };
                let in_net = host.net.is_none_or(|(net, len)| {
                    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                    u32::from(ip) & mask == u32::from(net) & mask
                });
                in_net && host.port.is_none_or(|p| addr.port() == p)
            }
        }
    }
}

/// The row's local (`src`, `sport`) or peer (`dst`, `dport`) address.
fn end(row: &SsRow, peer: bool) -> SocketAddr {
    if peer { row.peer } else { row.local }
}

/// Splits on spaces and around parentheses and the operator characters.
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    let flush = |word: &mut String, tokens: &mut Vec<String>| {
        if !word.is_empty() {
            tokens.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            '(' | ')' => {
                flush(&mut word, &mut tokens);
                tokens.push(c.to_string());
            }
            '=' | '!' | '<' | '>' | '&' | '|' => {
                flush(&mut word, &mut tokens);
                let mut op = c.to_string();
                if let Some(&next) = chars.peek()
                    && matches!(
                        (c, next),
                        ('=' | '!' | '<' | '>', '=') | ('&', '&') | ('|', '|')
                    )
                {
                    op.push(next);
                    chars.next();
                }
                tokens.push(op);
            }
            c => word.push(c),
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<&'a str> {
        let t = self.tokens.get(self.at).map(String::as_str);
        self.at += 1;
        t
    }

    /// ss's `exprlist`: terms joined left to right, `and` and `or` alike.
    fn list(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            let or = match self.peek() {
                Some("|" | "||" | "or") => true,
                Some("&" | "&&" | "and") => false,
                // Juxtaposition is `and` too, up to what ends the list.
                Some(t) if t != ")" => {
                    left = Expr::And(Box::new(left), Box::new(self.unary()?));
                    continue;
                }
                _ => return Ok(left),
            };
            self.at += 1;
            let right = Box::new(self.unary()?);
            left = match or {
                true => Expr::Or(Box::new(left), right),
                false => Expr::And(Box::new(left), right),
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some("!" | "not") => Ok(Expr::Not(Box::new(self.unary()?))),
            Some("(") => {
                let e = self.list()?;
                match self.next() {
                    Some(")") => Ok(e),
                    _ => Err("a `(` without its `)`".into()),
                }
            }
            Some(key @ ("dport" | "sport")) => {
                let peer = key == "dport";
                let op = match self.next() {
                    Some("=" | "==" | "eq") => Op::Eq,
                    Some("!=" | "ne" | "neq") => Op::Ne,
                    Some("<" | "lt") => Op::Lt,
                    Some(">" | "gt") => Op::Gt,
                    Some("<=" | "le" | "leq") => Op::Le,
                    Some(">=" | "ge" | "geq") => Op::Ge,
                    other => {
                        return Err(format!(
                            "`{key}` wants a comparison (=, !=, <, >, <=, >=), not {}",
                            shown(other)
                        ));
                    }
                };
                let value = self.next().ok_or_else(|| format!("`{key}` wants a port"))?;
                let port = port(value.strip_prefix(':').unwrap_or(value))?;
                Ok(Expr::Port { peer, op, port })
            }
            Some(key @ ("dst" | "src")) => {
                let peer = key == "dst";
                if matches!(self.peek(), Some("=" | "==" | "eq")) {
                    self.at += 1;
                }
                let value = self
                    .next()
                    .ok_or_else(|| format!("`{key}` wants an address"))?;
                Ok(Expr::Host {
                    peer,
                    host: host(value)?,
                })
            }
            other => Err(format!(
                "expected dst, src, dport, sport, not or `(`, not {}",
                shown(other)
            )),
        }
    }
}

fn shown(token: Option<&str>) -> String {
    token.map_or("the end".into(), |t| format!("`{t}`"))
}

/// `ADDR[/LEN][:PORT]`, `*[:PORT]` or `:PORT`.
fn host(text: &str) -> Result<Host, String> {
    let bad = || format!("`{text}` is not ADDR[/LEN][:PORT]");
    let (net, port) = match text.rsplit_once(':') {
        Some((net, p)) => (net, Some(port(p)?)),
        None => (text, None),
    };
    let net = match net {
        "" | "*" => None,
        net => {
            let (addr, len) = match net.split_once('/') {
                Some((a, l)) => (
                    a,
                    l.parse::<u8>().ok().filter(|&l| l <= 32).ok_or_else(bad)?,
                ),
                None => (net, 32),
            };
            Some((addr.parse().map_err(|_| bad())?, len))
        }
    };
    Ok(Host { net, port })
}

/// A port by number, `*` (0), or by its name in /etc/services (tcp).
fn port(text: &str) -> Result<u16, String> {
    if text == "*" {
        return Ok(0);
    }
    if let Ok(n) = text.parse::<u16>() {
        return Ok(n);
    }
    let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
    services
        .lines()
        .filter_map(|l| {
            let mut fields = l.split('#').next()?.split_whitespace();
            let name = fields.next()?;
            let (number, proto) = fields.next()?.split_once('/')?;
            let named = name == text || fields.any(|alias| alias == text);
            (named && proto == "tcp")
                .then(|| number.parse().ok())
                .flatten()
        })
        .next()
        .ok_or_else(|| format!("unknown port `{text}` (a number, or a name in /etc/services)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: SsState, local: &str, peer: &str) -> SsRow {
        SsRow {
            state,
            recv_q: 0,
            send_q: 0,
            local: local.parse().unwrap(),
            peer: peer.parse().unwrap(),
            info: None,
            mem: None,
            udp: false,
            timer: None,
        }
    }

    fn filter(text: &str) -> Filter {
        let words: Vec<String> = text.split(' ').map(str::to_string).collect();
        Filter::parse(&words).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn kept(text: &str) -> Vec<usize> {
        let rows = [
            row(SsState::Listen, "0.0.0.0:80", "0.0.0.0:0"),
            row(SsState::Established, "192.0.2.2:80", "192.0.2.1:40000"),
            row(SsState::TimeWait, "192.0.2.2:80", "198.51.100.7:40001"),
            row(SsState::SynSent, "192.0.2.2:50000", "203.0.113.9:22"),
        ];
        let f = filter(text);
        (0..rows.len()).filter(|&i| f.keeps(&rows[i])).collect()
    }

    #[test]
    fn states_and_groups_keep_and_drop_as_ss_does() {
        assert_eq!(kept(""), [0, 1, 2, 3]);
        assert_eq!(kept("state established"), [1]);
        assert_eq!(kept("state listening state time-wait"), [0, 2]);
        assert_eq!(kept("state connected"), [1, 2, 3]);
        assert_eq!(kept("state synchronized"), [1, 2]);
        assert_eq!(kept("state bucket"), [2]);
        assert_eq!(kept("exclude listening"), [1, 2, 3]);
        assert_eq!(kept("state all exclude bucket"), [0, 1, 3]);
    }

    #[test]
    fn expressions_compare_ports_and_prefixes() {
        assert_eq!(kept("sport = :80"), [0, 1, 2]);
        assert_eq!(kept("dport > :30000"), [1, 2]);
        assert_eq!(kept("( dport = :22 or sport = :50000 )"), [3]);
        assert_eq!(kept("dst 192.0.2.0/24"), [1]);
        assert_eq!(kept("not dst 192.0.2.0/24"), [0, 2, 3]);
        assert_eq!(kept("src 192.0.2.2:80 dport geq 40001"), [2]);
        assert_eq!(kept("dst *:22"), [3]);
        // The states and the expression both hold.
        assert_eq!(kept("state established sport eq 80 || dport == :22"), [1]);
        assert_eq!(kept("sport eq 80 && dst 192.0.2.1 || dport == :22"), [1, 3]);
        assert_eq!(kept("!(sport=:80)"), [3]);
        // Left to right, as ss: `(a or b) and c`, not `a or (b and c)`.
        assert_eq!(
            kept("dport = :40000 or dport = :22 and src 192.0.2.2:50000"),
            [3]
        );
        // `not` takes the one term after it.
        assert_eq!(kept("not sport = :80 and dport = :22"), [3]);
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let err = |text: &str| {
            let words: Vec<String> = text.split(' ').map(str::to_string).collect();
            Filter::parse(&words).unwrap_err()
        };
        assert_eq!(err("state estab"), "unknown state `estab`");
        assert!(err("dport :80").contains("wants a comparison"));
        assert!(err("( sport = :80").contains("without its `)`"));
        assert!(err("dst 192.0.2.0/33").contains("ADDR[/LEN][:PORT]"));
        assert!(err("sport = :no-such-service-here").contains("unknown port"));
        assert!(err("sport = :80 )").contains("unexpected `)`"));
    }
}
