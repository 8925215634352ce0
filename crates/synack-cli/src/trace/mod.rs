//! `synack trace FILE`: any capture as ladder diagrams, or as JSON lines.
//!
//! - [`decode`]: a frame to a [`decode::Packet`] (Ethernet, raw IP, Linux
//!   cooked v1/v2, BSD loopback; ARP, IPv4, ICMP, UDP, TCP).
//! - [`text`]: tcpdump/packetdrill-style labels and one-line summaries.
//! - [`conversation`]: TCP segments grouped per connection, each drawn with
//!   [`crate::ladder`].
//! - [`json`]: the `--json` line format (documented there).
//!
//! Decisions:
//! - Input: classic pcap in either byte order with µs or ns timestamps, and
//!   pcapng as far as `wire::pcap` reads it (one link type per file); other
//!   pcapng files get a one-line error pointing at `tcpdump -w` and
//!   `editcap -F pcap`. `-` reads standard input.
//! - Exit status 2, one line on stderr, for a file that cannot be read, is
//!   not a capture, or has a link type this does not decode.
//! - A capture whose last record is cut short (tcpdump killed mid-write)
//!   prints everything before it, warns once on stderr and exits 0: the
//!   packets it has are all correct. A record with an impossible length in
//!   the middle of a file means corruption: what came before is printed,
//!   then the error, exit status 2.
//! - Diagram times are seconds since the capture's first packet; JSON times
//!   are the capture's own timestamps (see [`json`]).

pub mod conversation;
pub mod decode;
pub mod json;
pub mod text;

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use synack_proto::wire::pcap::{LinkType, PcapError, PcapReader};

use crate::ladder::Style;
use decode::{Body, Packet};

const EXAMPLES: &str = "\
Examples:
  synack trace capture.pcap                 ladder diagrams, one per TCP connection
  synack trace --json capture.pcap | jq .   one JSON object per packet
  synack trace --absolute --unicode f.pcap  raw sequence numbers, box drawing
  tcpdump -i any -c 20 -w - port 80 | synack trace -

Captures: classic pcap as `tcpdump -w FILE` writes it (Ethernet, raw IP,
Linux cooked `-i any`, BSD loopback), and single-interface pcapng. Convert
other pcapng files with `editcap -F pcap in.pcapng out.pcap`.

Diagrams: one per TCP conversation (endpoints left and right, the side that
spoke first on the left), time in seconds since the first packet, arrows
labelled `flags start:end(len) ack A win W <options>` with sequence numbers
relative to each side's initial one. Other packets are listed after them.

JSON: `t` is the packet's own pcap timestamp in seconds (six decimals),
seq/ack are absolute, `ack` is null without the ACK flag, options are in
wire order; `proto` is tcp, udp, icmp, arp or other.

Exit status: 0 on success (also when the last record is cut short: a
warning is printed); 2 when the file cannot be read or is not a capture.";

/// Arguments of `synack trace`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct TraceArgs {
    /// The capture file (`tcpdump -w`); `-` reads standard input.
    #[arg(value_name = "FILE.pcap")]
    pub file: PathBuf,
    /// One JSON object per packet, one per line, instead of diagrams.
    #[arg(long)]
    pub json: bool,
    /// Raw sequence numbers in the diagrams (JSON always has raw ones).
    #[arg(long)]
    pub absolute: bool,
    /// Draw with box-drawing characters instead of ASCII.
    #[arg(long)]
    pub unicode: bool,
    /// Diagram width in columns [default: $COLUMNS, else 100].
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
}

/// Runs `synack trace`; the exit status is 0 or 2 (see the module docs).
pub fn run(args: &TraceArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let fail = |msg: String| {
        eprintln!("synack trace: {msg}");
        ExitCode::from(2)
    };
    let data = match read_input(&args.file) {
        Ok(data) => data,
        Err(e) => return fail(format!("cannot read {name}: {e}")),
    };
    let reader = match PcapReader::new(&data) {
        Ok(r) => r,
        Err(e) => return fail(format!("{name}: {}", open_error(e))),
    };
    let link = reader.link_type();
    if !decode::supported(link) {
        return fail(format!(
            "{name}: link type {} is not supported (Ethernet, raw IP, Linux cooked and BSD \
             loopback are)",
            link.to_u32()
        ));
    }
    let mut packets = Vec::new();
    let mut stop = None;
    for rec in reader {
        match rec {
            Ok(rec) => packets.push(decode::decode(link, &rec)),
            Err(e) => {
                stop = Some(e);
                break;
            }
        }
    }

    let style = Style::for_terminal(args.width, args.unicode);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = if args.json {
        write_json(&mut out, &packets)
    } else {
        write_diagrams(&mut out, &name, link, &packets, &style, args.absolute)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => {}
        // `synack trace f | head`: the reader left, nothing is wrong.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => return fail(format!("writing the output: {e}")),
    }

    let n = packets.len();
    match stop {
        None => ExitCode::SUCCESS,
        Some(PcapError::Truncated { offset }) => {
            eprintln!(
                "synack trace: warning: {name} ends in the middle of the record at byte \
                 {offset} (capture cut short?); showed the {n} packets before it"
            );
            ExitCode::SUCCESS
        }
        Some(e) => fail(format!("{name}: {e}; showed the {n} packets before it")),
    }
}

fn read_input(path: &PathBuf) -> io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut data = Vec::new();
        io::stdin().lock().read_to_end(&mut data)?;
        Ok(data)
    } else {
        std::fs::read(path)
    }
}

/// Why a file is not a capture this reads, in one line.
fn open_error(e: PcapError) -> String {
    match e {
        PcapError::NotPcap => {
            "not a pcap capture (unknown magic number, or shorter than a pcap header)".into()
        }
        PcapError::UnsupportedPcapng(why) => format!(
            "pcapng capture that synack cannot read ({why}); capture with `tcpdump -w FILE` \
             (classic pcap) or convert with `editcap -F pcap IN OUT`"
        ),
        other => other.to_string(),
    }
}

fn write_json(out: &mut impl Write, packets: &[Packet<'_>]) -> io::Result<()> {
    for p in packets {
        writeln!(out, "{}", json::line(p))?;
    }
    Ok(())
}

fn link_name(link: LinkType) -> String {
    match link {
        LinkType::Null => "BSD loopback".into(),
        LinkType::Ethernet => "Ethernet".into(),
        LinkType::Raw | LinkType::Ipv4 => "raw IP".into(),
        LinkType::LinuxSll => "Linux cooked v1".into(),
        LinkType::LinuxSll2 => "Linux cooked v2".into(),
        LinkType::Unknown(n) => format!("link type {n}"),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn write_diagrams(
    out: &mut impl Write,
    name: &str,
    link: LinkType,
    packets: &[Packet<'_>],
    style: &Style,
    absolute: bool,
) -> io::Result<()> {
    let Some(first) = packets.first() else {
        return writeln!(out, "{name}: no packets ({})", link_name(link));
    };
    let t0 = first.ts_micros;
    let convs = conversation::conversations(packets);
    let others: Vec<&Packet<'_>> = packets
        .iter()
        .filter(|p| !matches!(p.body, Body::Tcp(_)))
        .collect();
    writeln!(
        out,
        "{name}: {} ({}), {}, {}; time 0 = {}.{:06}",
        plural(packets.len(), "packet", "packets"),
        link_name(link),
        plural(convs.len(), "TCP conversation", "TCP conversations"),
        plural(others.len(), "other packet", "other packets"),
        t0 / 1_000_000,
        t0 % 1_000_000,
    )?;
    for conv in &convs {
        writeln!(
            out,
            "\nTCP {} <-> {}: {}\n",
            conv.ends[0],
            conv.ends[1],
            plural(conv.packets.len(), "segment", "segments")
        )?;
        let ladder = conversation::ladder(conv, packets, t0, absolute);
        out.write_all(ladder.render(style).as_bytes())?;
    }
    if !others.is_empty() {
        writeln!(out, "\nOther packets:\n")?;
        let times: Vec<String> = others
            .iter()
            .map(|p| conversation::seconds(p.ts_micros, t0))
            .collect();
        let w = times.iter().map(String::len).max().unwrap_or(0);
        for (p, t) in others.iter().zip(&times) {
            writeln!(out, "{t:>w$}  {}", text::summary(&p.body))?;
        }
    }
    Ok(())
}
