//! Renders socket rows the way iproute2's `ss -tan` (and `-uan`, `-tuan`)
//! prints them.
//!
//! The layout was learned from `ss` (iproute2 6.1) run with its output
//! piped (no terminal, so no stretching to the screen width): columns State,
//! Recv-Q, Send-Q, Local Address:Port, Peer Address:Port, Process, each as
//! wide as its widest cell (header included), one space before Recv-Q,
//! Send-Q and each address; addresses are right-aligned with their `:`,
//! ports left-aligned right after them; every cell but the addresses is
//! padded, so lines end in spaces. With `-i` each row's Process cell holds
//! `"\n\t"` and the info (` rtt:0.031/0.017 ...`), padded like any cell:
//! the info lines share one width, and so does the header.
//!
//! Wildcards as ss shows them: `0.0.0.0`, `[::]`, port `*`.
//!
//! The stack's socket summary is converted into [`SsRow`]s by the caller.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;
use synack::control::{Info, Mem, TimerRow};

/// TCP states, spelled as `ss` spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SsState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    /// CLOSED: `ss` calls it UNCONN.
    Closed,
    CloseWait,
    LastAck,
    Listen,
    Closing,
}

impl SsState {
    /// Every state, in Linux's TCP state order.
    pub const ALL: [SsState; 11] = [
        SsState::Established,
        SsState::SynSent,
        SsState::SynRecv,
        SsState::FinWait1,
        SsState::FinWait2,
        SsState::TimeWait,
        SsState::Closed,
        SsState::CloseWait,
        SsState::LastAck,
        SsState::Listen,
        SsState::Closing,
    ];

    /// The name in ss's State column.
    pub fn name(self) -> &'static str {
        match self {
            SsState::Established => "ESTAB",
            SsState::SynSent => "SYN-SENT",
            SsState::SynRecv => "SYN-RECV",
            SsState::FinWait1 => "FIN-WAIT-1",
            SsState::FinWait2 => "FIN-WAIT-2",
            SsState::TimeWait => "TIME-WAIT",
            SsState::Closed => "UNCONN",
            SsState::CloseWait => "CLOSE-WAIT",
            SsState::LastAck => "LAST-ACK",
            SsState::Listen => "LISTEN",
            SsState::Closing => "CLOSING",
        }
    }
}

impl Serialize for SsState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One socket. For a listener, `recv_q` is the accept queue length and
/// `send_q` the backlog, as Linux reports them.
#[derive(Clone, Debug, PartialEq)]
pub struct SsRow {
    pub state: SsState,
    pub recv_q: u64,
    pub send_q: u64,
    /// Local address; unspecified address and port 0 are wildcards.
    pub local: SocketAddr,
    /// Peer address; `0.0.0.0:0` for a listener.
    pub peer: SocketAddr,
    /// Per-connection details for `-i` (None: none known, as for TIME-WAIT).
    pub info: Option<Info>,
    /// The socket's memory for `-m` (None: none known).
    pub mem: Option<Mem>,
    /// A UDP socket (`UNCONN`, or `ESTAB` when connected), not TCP.
    pub udp: bool,
    /// Its timer for `-o` (None: none running, or not asked for).
    pub timer: Option<TimerRow>,
}

impl SsRow {
    /// Shown by `-l`: a TCP listener, or an unconnected UDP socket (as
    /// `ss -lu` shows them).
    pub fn is_listening(&self) -> bool {
        match self.udp {
            false => self.state == SsState::Listen,
            true => self.state == SsState::Closed,
        }
    }

    /// The Netid column's word.
    pub fn netid(&self) -> &'static str {
        if self.udp { "udp" } else { "tcp" }
    }
}

/// The info line's text, ss's fields in ss's order, each with a leading
/// space (`" cubic wscale:7,7 rto:204 rtt:0.5/0.25 ..."`).
pub fn render_info(info: &Info) -> String {
    let mut out = String::new();
    for (on, name) in [
        (info.ts, "ts"),
        (info.sack, "sack"),
        (info.ecn, "ecn"),
        (info.fastopen, "fastopen"),
    ] {
        if on {
            out.push(' ');
            out.push_str(name);
        }
    }
    if !info.cong.is_empty() {
        let _ = write!(out, " {}", info.cong);
    }
    if let Some((snd, rcv)) = info.wscale {
        let _ = write!(out, " wscale:{snd},{rcv}");
    }
    // A counter, shown only when nonzero (ss's rule for every field).
    let push = |out: &mut String, name: &str, v: u64| {
        if v != 0 {
            let _ = write!(out, " {name}:{v}");
        }
    };
    if info.rto_us != 0 {
        let _ = write!(out, " rto:{}", ms(info.rto_us));
    }
    push(&mut out, "backoff", info.backoff.into());
    if info.rtt_us != 0 {
        let _ = write!(out, " rtt:{}/{}", ms(info.rtt_us), ms(info.rttvar_us));
    }
    if info.ato_us != 0 {
        let _ = write!(out, " ato:{}", ms(info.ato_us));
    }
    push(&mut out, "mss", info.mss.into());
    push(&mut out, "pmtu", info.pmtu.into());
    push(&mut out, "rcvmss", info.rcv_mss.into());
    push(&mut out, "advmss", info.advmss.into());
    push(&mut out, "cwnd", info.cwnd.into());
    push(&mut out, "ssthresh", info.ssthresh.into());
    push(&mut out, "bytes_sent", info.bytes_sent);
    push(&mut out, "bytes_retrans", info.bytes_retrans);
    push(&mut out, "bytes_acked", info.bytes_acked);
    push(&mut out, "bytes_received", info.bytes_received);
    push(&mut out, "segs_out", info.segs_out);
    push(&mut out, "segs_in", info.segs_in);
    push(&mut out, "data_segs_out", info.data_segs_out);
    push(&mut out, "data_segs_in", info.data_segs_in);
    // ss derives the send rate: cwnd * mss * 8 bits per smoothed RTT.
    if info.rtt_us != 0 && info.cwnd != 0 && info.mss != 0 {
        let bps = f64::from(info.cwnd) * f64::from(info.mss) * 8.0 * 1e6 / info.rtt_us as f64;
        let _ = write!(out, " send {bps:.0}bps");
    }
    push(&mut out, "lastsnd", info.lastsnd_ms);
    push(&mut out, "lastrcv", info.lastrcv_ms);
    push(&mut out, "lastack", info.lastack_ms);
    if info.pacing_rate_bps != 0 {
        let _ = write!(out, " pacing_rate {}bps", info.pacing_rate_bps);
    }
    if info.delivery_rate_bps != 0 {
        let _ = write!(out, " delivery_rate {}bps", info.delivery_rate_bps);
    }
    push(&mut out, "delivered", info.delivered);
    if info.app_limited {
        out.push_str(" app_limited");
    }
    push(&mut out, "unacked", info.unacked.into());
    if info.retrans != 0 || info.retrans_total != 0 {
        let _ = write!(out, " retrans:{}/{}", info.retrans, info.retrans_total);
    }
    push(&mut out, "lost", info.lost.into());
    push(&mut out, "sacked", info.sacked.into());
    if let Some(r) = info.reordering.filter(|&r| r != 3) {
        let _ = write!(out, " reordering:{r}");
    }
    if info.rcv_rtt_us != 0 {
        let _ = write!(out, " rcv_rtt:{}", ms(info.rcv_rtt_us));
    }
    push(&mut out, "rcv_space", info.rcv_space.into());
    push(&mut out, "rcv_ssthresh", info.rcv_ssthresh.into());
    push(&mut out, "notsent", info.notsent.into());
    if info.min_rtt_us != 0 {
        let _ = write!(out, " minrtt:{}", ms(info.min_rtt_us));
    }
    push(&mut out, "snd_wnd", info.snd_wnd.into());
    // ss's `print_md5sig`: ADDR/LEN=KEY, the key's bytes as they are but
    // for unprintable ones, a backslash, a space and a comma (`\ooo`).
    for (i, (addr, len, key)) in info.md5keys.iter().enumerate() {
        out.push_str(if i == 0 { " md5keys:" } else { "," });
        let _ = write!(out, "{addr}/{len}=");
        for &b in key {
            if (0x20..0x7f).contains(&b) && !b" ,\\".contains(&b) {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out
}

/// `-o`'s ` timer:(NAME,WHEN,RETRANS)`, with a leading space as ss
/// writes it into the Process column.
pub fn render_timer(t: &TimerRow) -> String {
    format!(
        " timer:({},{},{})",
        t.name,
        ms_timer(t.expires_ms),
        t.retrans
    )
}

/// ss's `print_ms_timer`: minutes, seconds and milliseconds, each shown
/// only when nonzero, the milliseconds dropped beside minutes or ten
/// seconds and more, the seconds beside ten minutes and more (`124ms`,
/// `1.500ms`, `57sec`, `1min5sec`, `119min`; nothing for 0).
pub fn ms_timer(ms: u64) -> String {
    let (minutes, mut secs, mut msecs) = (ms / 60_000, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if minutes > 0 {
        msecs = 0;
        let _ = write!(out, "{minutes}min");
        if minutes > 9 {
            secs = 0;
        }
    }
    if secs > 0 {
        if secs > 9 {
            msecs = 0;
        }
        let _ = write!(out, "{secs}{}", if msecs > 0 { "." } else { "sec" });
    }
    if msecs > 0 {
        let _ = write!(out, "{msecs:03}ms");
    }
    out
}

/// Microseconds as milliseconds, formatted like C's `%g`.
fn ms(us: u64) -> String {
    fmt_g(us as f64 / 1000.0)
}

/// C's `printf("%g")`: six significant digits, trailing zeros removed,
/// scientific notation below 1e-4 and from 1e6 on.
pub fn fmt_g(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    // Round to six significant digits first: the exponent may change.
    let sci = format!("{x:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (5 - exp) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_owned()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `192.0.2.1:`, `[2001:db8::1]:`, as the address cell shows it.
fn addr_cell(a: &SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(ip) => format!("{ip}:"),
        IpAddr::V6(ip) => format!("[{ip}]:"),
    }
}

/// The port, or `*` for port 0.
fn port_cell(a: &SocketAddr) -> String {
    match a.port() {
        0 => "*".to_owned(),
        p => p.to_string(),
    }
}

/// How a column lines up its cells.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    /// Padded on the right to the column width.
    Left,
    /// Padded on the left; nothing after.
    Right,
}

/// (header, alignment, space before the cell)
const COLUMNS: [(&str, Align, &str); 8] = [
    ("State", Align::Left, ""),
    ("Recv-Q", Align::Left, " "),
    ("Send-Q", Align::Left, " "),
    ("Local Address:", Align::Right, " "),
    ("Port", Align::Left, ""),
    ("Peer Address:", Align::Right, " "),
    ("Port", Align::Left, ""),
    ("Process", Align::Left, ""),
];

/// `-m`'s `skmem:(...)` for a socket's memory, with a leading space as
/// ss writes it: r, rb, t, tb, f, w, o, bl, d. synack has no transmit queue
/// below the socket (`t`), no forward allocation (`f`), no option memory
/// (`o`) and no backlog (`bl`), and counts drops per stack (`d`): zeros.
pub fn render_mem(mem: &Mem) -> String {
    format!(
        " skmem:(r{},rb{},t0,tb{},f0,w{},o0,bl0,d0)",
        mem.rmem_alloc, mem.rcvbuf, mem.sndbuf, mem.wmem_queued
    )
}

/// The `ss -tan` table (`with_info`: `ss -tani`; `with_mem`: `-m`, the
/// memory before the details on their line, as ss puts it; `with_netid`:
/// `ss -tuan`'s first column, Netid, `tcp` or `udp`).
pub fn render_table(rows: &[SsRow], with_info: bool, with_mem: bool, with_netid: bool) -> String {
    let mut columns: Vec<(&str, Align, &str)> = Vec::with_capacity(COLUMNS.len() + 1);
    if with_netid {
        columns.push(("Netid", Align::Left, ""));
        columns.push(("State", Align::Left, " "));
        columns.extend_from_slice(&COLUMNS[1..]);
    } else {
        columns.extend_from_slice(&COLUMNS);
    }
    let mut cells: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 1);
    cells.push(columns.iter().map(|(h, _, _)| (*h).to_owned()).collect());
    for r in rows {
        // `-o`'s timer is the Process column's text, `-i` and `-m`'s line
        // follows it (ss writes both into the one cell).
        let timer = r.timer.as_ref().map_or(String::new(), render_timer);
        let process = if with_info || with_mem {
            let mem = match (with_mem, &r.mem) {
                (true, Some(m)) => render_mem(m),
                _ => String::new(),
            };
            let info = match (with_info, &r.info) {
                (true, Some(i)) => render_info(i),
                _ => String::new(),
            };
            format!("{timer}\n\t{mem}{info}")
        } else {
            timer
        };
        let netid = with_netid.then(|| r.netid().to_owned());
        cells.push(
            netid
                .into_iter()
                .chain([
                    r.state.name().to_owned(),
                    r.recv_q.to_string(),
                    r.send_q.to_string(),
                    addr_cell(&r.local),
                    port_cell(&r.local),
                    addr_cell(&r.peer),
                    port_cell(&r.peer),
                    process,
                ])
                .collect(),
        );
    }
    let mut widths = vec![0usize; columns.len()];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        for (i, cell) in row.iter().enumerate() {
            let (_, align, before) = columns[i];
            out.push_str(before);
            let pad = widths[i] - cell.chars().count();
            match align {
                Align::Left => {
                    out.push_str(cell);
                    out.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    out.extend(std::iter::repeat_n(' ', pad));
                    out.push_str(cell);
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Sockets per state, for `-s`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SsSummary {
    /// (state, count) for every state with at least one socket.
    pub per_state: Vec<(SsState, usize)>,
    pub total: usize,
    /// Connections the application has closed but the stack still runs
    /// (FIN-WAIT, LAST-ACK, ...); the caller knows, the rows do not.
    pub orphaned: usize,
    /// The stack's buffer memory in bytes and its state against `tcp_mem`
    /// (Linux shows its `mem` in /proc/net/sockstat, not in `ss -s`).
    pub memory: Option<(u64, String)>,
}

impl SsSummary {
    /// Counts the rows.
    pub fn from_rows(rows: &[SsRow]) -> Self {
        let per_state = SsState::ALL
            .iter()
            .map(|&s| (s, rows.iter().filter(|r| r.state == s).count()))
            .filter(|&(_, n)| n > 0)
            .collect();
        Self {
            per_state,
            total: rows.len(),
            orphaned: 0,
            memory: None,
        }
    }

    fn count(&self, state: SsState) -> usize {
        self.per_state
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |&(_, n)| n)
    }

    /// `ss -s`'s first lines and its transport table's TCP row, then a
    /// count per state (which `ss -s` does not show).
    pub fn render(&self) -> String {
        let tw = self.count(SsState::TimeWait);
        let live = self.total - tw;
        let mut s = format!(
            "Total: {}\nTCP:   {} (estab {}, closed {}, orphaned {}, timewait {})\n\n",
            self.total,
            self.total,
            self.count(SsState::Established),
            self.count(SsState::Closed),
            self.orphaned,
            tw
        );
        s.push_str("Transport Total     IP        IPv6\n");
        let _ = writeln!(s, "TCP\t  {live:<9} {live:<9} {:<9}", 0);
        s.push_str("\nState      Count\n");
        for (state, n) in &self.per_state {
            let _ = writeln!(s, "{:<10} {n}", state.name());
        }
        if let Some((bytes, state)) = &self.memory {
            let _ = writeln!(s, "\nTCP buffer memory: {bytes} bytes ({state})");
        }
        s
    }
}

#[derive(Serialize)]
struct JsonRow<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    netid: Option<&'static str>,
    state: SsState,
    recv_q: u64,
    send_q: u64,
    local: String,
    peer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<&'a Info>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mem: Option<&'a Mem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timer: Option<&'a TimerRow>,
}

/// `--json`: an array of objects with the table's fields (`local` and
/// `peer` as the table shows them, e.g. `0.0.0.0:*`) and, when known,
/// `info` with every [`Info`] field in its raw unit and `mem` with the
/// socket's memory ([`Mem`], bytes); with `with_netid`, `netid` first.
pub fn render_json(rows: &[SsRow], with_netid: bool) -> String {
    let rows: Vec<JsonRow<'_>> = rows
        .iter()
        .map(|r| JsonRow {
            netid: with_netid.then(|| r.netid()),
            state: r.state,
            recv_q: r.recv_q,
            send_q: r.send_q,
            local: format!("{}{}", addr_cell(&r.local), port_cell(&r.local)),
            peer: format!("{}{}", addr_cell(&r.peer), port_cell(&r.peer)),
            info: r.info.as_ref(),
            mem: r.mem.as_ref(),
            timer: r.timer.as_ref(),
        })
        .collect();
    // Infallible: plain structs of strings and numbers.
    serde_json::to_string_pretty(&rows).unwrap_or_default()
}
