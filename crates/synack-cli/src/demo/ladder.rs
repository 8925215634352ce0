//! A ladder diagram of one connection from both stacks' traces: the ARP
//! exchange that precedes it (for the first connection), the handshake and
//! the close segment by segment with each side's state, the data in between
//! summarised in one line.
//!
//! Kept small and self-contained on purpose: it will be merged with the
//! `trace` subcommand's renderer once both have landed.

use core::fmt::Write;
use core::net::SocketAddrV4;

use synack_proto::stack::{Direction, Event, SegmentSummary};
use synack_proto::tcp::TcpState;
use synack_proto::wire::{ArpOperation, ArpRepr};
use synack_proto::{Instant, SeqNum};

/// Above this many segments the data phase is summarised.
const MAX_DATA_ROWS: usize = 6;
/// Width of the arrow column.
const ARROW: usize = 54;
/// Width of a state column.
const STATE: usize = 13;

/// One side's trace.
pub struct Side<'a> {
    pub addr: SocketAddrV4,
    pub events: &'a [(Instant, Event)],
}

/// One connection's conversation, both ways.
pub struct Conversation<'a> {
    pub client: Side<'a>,
    pub server: Side<'a>,
}

#[derive(Clone, Copy)]
struct Sent {
    at: Instant,
    by_client: bool,
    seg: SegmentSummary,
    lost: bool,
}

/// A side's state history: (time, new state), in order.
fn state_history(side: &Side<'_>, peer: SocketAddrV4) -> Vec<(Instant, TcpState, TcpState)> {
    side.events
        .iter()
        .filter_map(|(t, e)| match *e {
            Event::StateChanged {
                local,
                remote,
                from,
                to,
                ..
            } if local == side.addr && remote == peer => Some((*t, from, to)),
            _ => None,
        })
        .collect()
}

/// The states a side went through for this conversation: the first state,
/// then every state it entered.
pub fn states(side: &Side<'_>, peer: SocketAddrV4) -> Vec<TcpState> {
    let history = state_history(side, peer);
    let mut out: Vec<TcpState> = history.first().map(|h| h.1).into_iter().collect();
    out.extend(history.iter().map(|h| h.2));
    out
}

fn state_at(history: &[(Instant, TcpState, TcpState)], at: Instant, before: TcpState) -> TcpState {
    history
        .iter()
        .take_while(|h| h.0 <= at)
        .last()
        .map_or(before, |h| h.2)
}

fn segments(side: &Side<'_>, peer: SocketAddrV4, dir: Direction) -> Vec<(Instant, SegmentSummary)> {
    side.events
        .iter()
        .filter_map(|(t, e)| match *e {
            Event::Segment {
                dir: d, segment, ..
            } if d == dir && segment.local == side.addr && segment.remote == peer => {
                Some((*t, segment))
            }
            _ => None,
        })
        .collect()
}

fn same(a: &SegmentSummary, b: &SegmentSummary) -> bool {
    (a.seq, a.ack, a.flags, a.len) == (b.seq, b.ack, b.flags, b.len)
}

/// Every segment either side sent, in time order, marked lost when the other
/// side never received it.
fn sent(conv: &Conversation<'_>) -> Vec<Sent> {
    let mut out = Vec::new();
    for by_client in [true, false] {
        let (from, to) = if by_client {
            (&conv.client, &conv.server)
        } else {
            (&conv.server, &conv.client)
        };
        let mut arrivals = segments(to, from.addr, Direction::In);
        for (at, seg) in segments(from, to.addr, Direction::Out) {
            let found = arrivals.iter().position(|(t, a)| *t >= at && same(a, &seg));
            if let Some(i) = found {
                arrivals.remove(i);
            }
            out.push(Sent {
                at,
                by_client,
                seg,
                lost: found.is_none(),
            });
        }
    }
    out.sort_by_key(|s| (s.at, !s.by_client));
    out
}

/// A segment as tcpdump would show it with relative numbers.
fn label(seg: &SegmentSummary, own_iss: SeqNum, peer_iss: SeqNum) -> String {
    let mut s = seg.flags.to_string();
    let seq = seg.seq.raw().wrapping_sub(own_iss.raw());
    if seg.len > 0 {
        let _ = write!(s, " {}:{}({})", seq, seq.wrapping_add(seg.len), seg.len);
    } else if !seg.flags.ack() || seg.flags.syn() || seg.flags.fin() || seg.flags.rst() {
        let _ = write!(s, " seq {seq}");
    }
    if let Some(ack) = seg.ack {
        let _ = write!(s, " ack {}", ack.raw().wrapping_sub(peer_iss.raw()));
    }
    if seg.flags.syn() {
        let o = &seg.options;
        let mut parts = Vec::new();
        if let Some(mss) = o.mss {
            parts.push(format!("mss {mss}"));
        }
        if o.sack_permitted {
            parts.push("sackOK".to_string());
        }
        if o.timestamp.is_some() {
            parts.push("TS".to_string());
        }
        if let Some(ws) = o.window_scale {
            parts.push(format!("wscale {ws}"));
        }
        if let Some(fo) = &o.fast_open {
            let kind = if fo.experimental { "FOEXP" } else { "FO" };
            let cookie: String = fo
                .cookie
                .as_slice()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            parts.push(if cookie.is_empty() {
                kind.to_string()
            } else {
                format!("{kind} {cookie}")
            });
        }
        if !parts.is_empty() {
            let _ = write!(s, " <{}>", parts.join(","));
        }
    }
    s
}

fn arrow(text: &str, to_right: bool, lost: bool) -> String {
    let body = format!(" {text} ");
    let fill = ARROW.saturating_sub(body.chars().count() + 3).max(2);
    let (left_fill, right_fill) = (2, fill.saturating_sub(2).max(1));
    let head = if lost {
        "✗"
    } else if to_right {
        "▶"
    } else {
        "◀"
    };
    if to_right {
        format!(
            "{}{body}{}{head}",
            "─".repeat(left_fill),
            "─".repeat(right_fill)
        )
    } else {
        format!(
            "{head}{}{body}{}",
            "─".repeat(right_fill),
            "─".repeat(left_fill)
        )
    }
}

fn row(out: &mut String, at: Option<Instant>, left: &str, middle: &str, right: &str) {
    let time = at.map_or(String::new(), |t| format!("{:.3} s", t.as_secs_f64()));
    let pad = ARROW.saturating_sub(middle.chars().count());
    let _ = writeln!(
        out,
        "{time:>10}  {left:<STATE$} {middle}{} {right}",
        " ".repeat(pad)
    );
}

/// ARP packets one side sent, with whether the other side got them.
fn arp_sent(from: &Side<'_>, to: &Side<'_>) -> Vec<(Instant, ArpRepr, bool)> {
    let arrivals: Vec<(Instant, ArpRepr)> = to
        .events
        .iter()
        .filter_map(|(t, e)| match *e {
            Event::Arp {
                dir: Direction::In,
                packet,
                ..
            } => Some((*t, packet)),
            _ => None,
        })
        .collect();
    from.events
        .iter()
        .filter_map(|(t, e)| match *e {
            Event::Arp {
                dir: Direction::Out,
                packet,
                ..
            } if packet.source_protocol_addr == *from.addr.ip() => {
                let got = arrivals.iter().any(|(at, p)| at >= t && *p == packet);
                Some((*t, packet, !got))
            }
            _ => None,
        })
        .collect()
}

/// An ARP packet as tcpdump says it.
fn arp_label(p: &ArpRepr) -> String {
    match p.operation {
        ArpOperation::Request if p.source_protocol_addr == p.target_protocol_addr => {
            format!("ARP announce {} (gratuitous)", p.source_protocol_addr)
        }
        ArpOperation::Request => format!(
            "ARP who-has {} tell {}",
            p.target_protocol_addr, p.source_protocol_addr
        ),
        _ => format!(
            "ARP {} is-at {}",
            p.source_protocol_addr, p.source_hardware_addr
        ),
    }
}

/// Renders the ladder; `with_arp` draws the ARP exchange before the SYN.
pub fn render(conv: &Conversation<'_>, with_arp: bool) -> String {
    let client_history = state_history(&conv.client, conv.server.addr);
    let server_history = state_history(&conv.server, conv.client.addr);
    let all = sent(conv);
    let iss = |by_client: bool| {
        all.iter()
            .find(|s| s.by_client == by_client && s.seg.flags.syn())
            .map_or(SeqNum(0), |s| s.seg.seq)
    };
    let (client_iss, server_iss) = (iss(true), iss(false));
    // Phases: the handshake ends with the client's first ACK of the
    // server's SYN; the close starts with the first FIN or RST.
    let handshake_end = all
        .iter()
        .position(|s| s.by_client && !s.seg.flags.syn() && s.seg.ack == Some(server_iss + 1u32))
        .map_or(all.len(), |i| i + 1);
    let close_start = all
        .iter()
        .position(|s| s.seg.flags.fin() || s.seg.flags.rst())
        .unwrap_or(all.len())
        .max(handshake_end);
    let data = &all[handshake_end..close_start];
    let summarise = data.len() > MAX_DATA_ROWS;

    let mut out = String::new();
    let client_title = format!("client {}", conv.client.addr);
    let server_title = format!("server {}", conv.server.addr);
    let _ = writeln!(
        out,
        "{:>10}  {:<w$}{}",
        "time",
        client_title,
        server_title,
        w = STATE + 1 + ARROW + 1
    );
    let first_client = client_history.first().map_or(TcpState::Closed, |h| h.1);
    let first_server = server_history.first().map_or(TcpState::Listen, |h| h.1);
    let states_at = |at: Instant| {
        (
            state_at(&client_history, at, first_client),
            state_at(&server_history, at, first_server),
        )
    };
    let draw = |out: &mut String, s: &Sent| {
        let (c, v) = states_at(s.at);
        let (own, peer) = if s.by_client {
            (client_iss, server_iss)
        } else {
            (server_iss, client_iss)
        };
        let mut text = label(&s.seg, own, peer);
        if s.lost {
            text.push_str(" (lost)");
        }
        row(
            out,
            Some(s.at),
            c.rfc_name(),
            &arrow(&text, s.by_client, s.lost),
            v.rfc_name(),
        );
    };
    // The handshake, with the ARP exchange around it merged in time order.
    let handshake = &all[..handshake_end];
    let mut arp: Vec<(Instant, bool, ArpRepr, bool)> = Vec::new();
    if with_arp {
        let until = handshake.last().map_or(Instant::ZERO, |s| s.at);
        arp = arp_sent(&conv.client, &conv.server)
            .into_iter()
            .map(|(t, p, lost)| (t, true, p, lost))
            .chain(
                arp_sent(&conv.server, &conv.client)
                    .into_iter()
                    .map(|(t, p, lost)| (t, false, p, lost)),
            )
            .filter(|(t, ..)| *t <= until)
            .collect();
        arp.sort_by_key(|(t, by_client, ..)| (*t, !*by_client));
    }
    let mut arp = arp.into_iter().peekable();
    for s in handshake {
        while let Some((at, by_client, packet, lost)) = arp.next_if(|a| a.0 <= s.at) {
            let (c, v) = states_at(at);
            let mut text = arp_label(&packet);
            if lost {
                text.push_str(" (lost)");
            }
            row(
                &mut out,
                Some(at),
                c.rfc_name(),
                &arrow(&text, by_client, lost),
                v.rfc_name(),
            );
        }
        draw(&mut out, s);
    }
    if summarise {
        let (first, last) = (data[0].at, data[data.len() - 1].at);
        let data_segments = data.iter().filter(|s| s.seg.len > 0).count();
        let retransmitted = retransmissions(data);
        let acks = data.len() - data_segments;
        let lost = data.iter().filter(|s| s.lost).count();
        let (c, v) = states_at(last);
        let text = format!(
            "… {data_segments} data segments ({retransmitted} retransmitted), {acks} ACKs, {lost} frames lost, {:.3} s …",
            (last - first).as_secs_f64()
        );
        row(&mut out, None, c.rfc_name(), &text, v.rfc_name());
    } else {
        for s in data {
            draw(&mut out, s);
        }
    }
    for s in &all[close_start..] {
        draw(&mut out, s);
    }
    // State changes after the last segment (the final ACK arriving, the
    // end of TIME-WAIT), in time order.
    let last_seg = all.last().map_or(Instant::ZERO, |s| s.at);
    let mut tail: Vec<Instant> = client_history
        .iter()
        .chain(&server_history)
        .map(|h| h.0)
        .filter(|&t| t > last_seg)
        .collect();
    tail.sort();
    tail.dedup();
    for at in tail {
        let (c, v) = states_at(at);
        row(&mut out, Some(at), c.rfc_name(), "", v.rfc_name());
    }
    out
}

/// Data segments that repeat sequence space already sent by the same side.
fn retransmissions(data: &[Sent]) -> usize {
    let mut highest: [Option<SeqNum>; 2] = [None, None];
    let mut count = 0;
    for s in data.iter().filter(|s| s.seg.len > 0) {
        let side = usize::from(s.by_client);
        let end = s.seg.seq + s.seg.len;
        match highest[side] {
            Some(h) if s.seg.seq.before(h) => count += 1,
            _ => {}
        }
        highest[side] = Some(highest[side].map_or(end, |h| h.max_seq(end)));
    }
    count
}
