//! Renders socket rows the way iproute2's `ss -tan` prints them.
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
    pub info: Option<SsInfo>,
}

impl SsRow {
    /// Shown by `-l`.
    pub fn is_listening(&self) -> bool {
        self.state == SsState::Listen
    }
}

/// What `ss -i` shows, named after Linux's `tcp_info`. As in ss, a zero or
/// `false` field is not shown; times are microseconds, shown in ms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SsInfo {
    pub ts: bool,
    pub sack: bool,
    pub ecn: bool,
    pub fastopen: bool,
    /// Congestion control algorithm ("cubic", "reno"); empty: not shown.
    pub cong: String,
    /// Window scale (send, receive), when negotiated.
    pub wscale: Option<(u8, u8)>,
    pub rto_us: u64,
    pub backoff: u32,
    pub rtt_us: u64,
    pub rttvar_us: u64,
    pub ato_us: u64,
    pub mss: u32,
    pub pmtu: u32,
    pub rcv_mss: u32,
    pub advmss: u32,
    pub cwnd: u32,
    /// 0 while slow start has no threshold (Linux: "infinite").
    pub ssthresh: u32,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u64,
    pub segs_in: u64,
    pub data_segs_out: u64,
    pub data_segs_in: u64,
    /// Milliseconds since the last send, receive and ACK.
    pub lastsnd_ms: u64,
    pub lastrcv_ms: u64,
    pub lastack_ms: u64,
    pub pacing_rate_bps: u64,
    pub delivery_rate_bps: u64,
    pub delivered: u64,
    pub app_limited: bool,
    pub unacked: u32,
    /// Segments in retransmission now, and retransmissions in total.
    pub retrans: u32,
    pub retrans_total: u32,
    pub lost: u32,
    pub sacked: u32,
    /// Reordering degree; shown when not Linux's default of 3.
    pub reordering: Option<u32>,
    pub rcv_rtt_us: u64,
    pub rcv_space: u32,
    pub rcv_ssthresh: u32,
    pub notsent: u32,
    pub min_rtt_us: u64,
    pub snd_wnd: u32,
}

impl SsInfo {
    /// The info line's text, ss's fields in ss's order, each with a
    /// leading space (`" cubic wscale:7,7 rto:204 rtt:0.5/0.25 ..."`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (on, name) in [
            (self.ts, "ts"),
            (self.sack, "sack"),
            (self.ecn, "ecn"),
            (self.fastopen, "fastopen"),
        ] {
            if on {
                out.push(' ');
                out.push_str(name);
            }
        }
        if !self.cong.is_empty() {
            let _ = write!(out, " {}", self.cong);
        }
        if let Some((snd, rcv)) = self.wscale {
            let _ = write!(out, " wscale:{snd},{rcv}");
        }
        // A counter, shown only when nonzero (ss's rule for every field).
        let push = |out: &mut String, name: &str, v: u64| {
            if v != 0 {
                let _ = write!(out, " {name}:{v}");
            }
        };
        if self.rto_us != 0 {
            let _ = write!(out, " rto:{}", ms(self.rto_us));
        }
        push(&mut out, "backoff", self.backoff.into());
        if self.rtt_us != 0 {
            let _ = write!(out, " rtt:{}/{}", ms(self.rtt_us), ms(self.rttvar_us));
        }
        if self.ato_us != 0 {
            let _ = write!(out, " ato:{}", ms(self.ato_us));
        }
        push(&mut out, "mss", self.mss.into());
        push(&mut out, "pmtu", self.pmtu.into());
        push(&mut out, "rcvmss", self.rcv_mss.into());
        push(&mut out, "advmss", self.advmss.into());
        push(&mut out, "cwnd", self.cwnd.into());
        push(&mut out, "ssthresh", self.ssthresh.into());
        push(&mut out, "bytes_sent", self.bytes_sent);
        push(&mut out, "bytes_retrans", self.bytes_retrans);
        push(&mut out, "bytes_acked", self.bytes_acked);
        push(&mut out, "bytes_received", self.bytes_received);
        push(&mut out, "segs_out", self.segs_out);
        push(&mut out, "segs_in", self.segs_in);
        push(&mut out, "data_segs_out", self.data_segs_out);
        push(&mut out, "data_segs_in", self.data_segs_in);
        // ss derives the send rate: cwnd * mss * 8 bits per smoothed RTT.
        if self.rtt_us != 0 && self.cwnd != 0 && self.mss != 0 {
            let bps = f64::from(self.cwnd) * f64::from(self.mss) * 8.0 * 1e6 / self.rtt_us as f64;
            let _ = write!(out, " send {bps:.0}bps");
        }
        push(&mut out, "lastsnd", self.lastsnd_ms);
        push(&mut out, "lastrcv", self.lastrcv_ms);
        push(&mut out, "lastack", self.lastack_ms);
        if self.pacing_rate_bps != 0 {
            let _ = write!(out, " pacing_rate {}bps", self.pacing_rate_bps);
        }
        if self.delivery_rate_bps != 0 {
            let _ = write!(out, " delivery_rate {}bps", self.delivery_rate_bps);
        }
        push(&mut out, "delivered", self.delivered);
        if self.app_limited {
            out.push_str(" app_limited");
        }
        push(&mut out, "unacked", self.unacked.into());
        if self.retrans != 0 || self.retrans_total != 0 {
            let _ = write!(out, " retrans:{}/{}", self.retrans, self.retrans_total);
        }
        push(&mut out, "lost", self.lost.into());
        push(&mut out, "sacked", self.sacked.into());
        if let Some(r) = self.reordering.filter(|&r| r != 3) {
            let _ = write!(out, " reordering:{r}");
        }
        if self.rcv_rtt_us != 0 {
            let _ = write!(out, " rcv_rtt:{}", ms(self.rcv_rtt_us));
        }
        push(&mut out, "rcv_space", self.rcv_space.into());
        push(&mut out, "rcv_ssthresh", self.rcv_ssthresh.into());
        push(&mut out, "notsent", self.notsent.into());
        if self.min_rtt_us != 0 {
            let _ = write!(out, " minrtt:{}", ms(self.min_rtt_us));
        }
        push(&mut out, "snd_wnd", self.snd_wnd.into());
        out
    }
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

/// The `ss -tan` table (`with_info`: `ss -tani`).
pub fn render_table(rows: &[SsRow], with_info: bool) -> String {
    let mut cells: Vec<[String; 8]> = Vec::with_capacity(rows.len() + 1);
    cells.push(COLUMNS.map(|(h, _, _)| h.to_owned()));
    for r in rows {
        let process = if with_info {
            let info = r.info.as_ref().map(SsInfo::render).unwrap_or_default();
            format!("\n\t{info}")
        } else {
            String::new()
        };
        cells.push([
            r.state.name().to_owned(),
            r.recv_q.to_string(),
            r.send_q.to_string(),
            addr_cell(&r.local),
            port_cell(&r.local),
            addr_cell(&r.peer),
            port_cell(&r.peer),
            process,
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        for (i, cell) in row.iter().enumerate() {
            let (_, align, before) = COLUMNS[i];
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
        s
    }
}

#[derive(Serialize)]
struct JsonRow<'a> {
    state: SsState,
    recv_q: u64,
    send_q: u64,
    local: String,
    peer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<&'a SsInfo>,
}

/// `--json`: an array of objects with the table's fields (`local` and
/// `peer` as the table shows them, e.g. `0.0.0.0:*`) and, when known,
/// `info` with every [`SsInfo`] field in its raw unit.
pub fn render_json(rows: &[SsRow]) -> String {
    let rows: Vec<JsonRow<'_>> = rows
        .iter()
        .map(|r| JsonRow {
            state: r.state,
            recv_q: r.recv_q,
            send_q: r.send_q,
            local: format!("{}{}", addr_cell(&r.local), port_cell(&r.local)),
            peer: format!("{}{}", addr_cell(&r.peer), port_cell(&r.peer)),
            info: r.info.as_ref(),
        })
        .collect();
    // Infallible: plain structs of strings and numbers.
    serde_json::to_string_pretty(&rows).unwrap_or_default()
}
