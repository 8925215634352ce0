//! Capture files: classic libpcap (write and read) and pcapng (read).
//!
//! Read before touching: draft-ietf-opsawg-pcap (the classic format) and
//! draft-ietf-opsawg-pcapng (the block format Wireshark writes).
//!
//! This module is pure format code and does no I/O. The writer side is two
//! encoders, [`global_header`] and [`record_header`]; whoever owns a file (the
//! simulator, the runtime) writes `record_header` followed by the frame bytes.
//! The reader side, [`PcapReader`], walks a capture held in memory and yields
//! [`PcapRecord`]s that borrow from it. Nothing in a capture can make it panic
//! or loop forever: every record consumes at least one header's worth of bytes
//! and every length is checked against what is left.

use crate::time::Instant;

/// Classic pcap magic for microsecond timestamps (as written in our byte order).
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Classic pcap magic for nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// pcapng's Section Header Block type, which is also the file's first four bytes.
pub const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
/// The classic format's version; readers reject any other major version.
pub const VERSION_MAJOR: u16 = 2;
pub const VERSION_MINOR: u16 = 4;
/// Length of the classic global header.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Length of a classic per-record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// The largest record the reader accepts, as libpcap does: anything longer is
/// a corrupt length field, not a packet.
pub const MAX_RECORD_LEN: u32 = 262_144;

/// What the first byte of every captured frame is (the pcap "LINKTYPE_" value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// BSD loopback: a 4-byte address family in the writer's byte order (0).
    Null,
    /// Ethernet II / IEEE 802.3 frames, no FCS (1).
    Ethernet,
    /// Raw IP, version from the first nibble (101; also DLT_RAW's 12 and 14 on read).
    Raw,
    /// Linux "cooked" capture v1, 16-byte pseudo header (113).
    LinuxSll,
    /// Linux "cooked" capture v2, 20-byte pseudo header (276): what
    /// `tcpdump -i any` writes with libpcap 1.10 and later.
    LinuxSll2,
    /// Raw IPv4 only (228).
    Ipv4,
    /// Anything else, kept so a caller can report it.
    Unknown(u32),
}

impl LinkType {
    /// The link type from a header field. Classic pcap keeps FCS flags in the
    /// upper bits of that field (draft-ietf-opsawg-pcap §5.9): only the low 16
    /// bits name the link type.
    pub const fn from_u32(value: u32) -> LinkType {
        match value & 0xffff {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            // DLT_RAW is 12 on most BSDs and 14 on OpenBSD; LINKTYPE_RAW is 101.
            12 | 14 | 101 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unknown(other),
        }
    }

    /// The value written to a file (the canonical LINKTYPE_ number).
    pub const fn to_u32(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::LinuxSll2 => 276,
            LinkType::Unknown(v) => v,
        }
    }

    /// True when frames start directly with an IP header.
    pub const fn is_raw_ip(self) -> bool {
        matches!(self, LinkType::Raw | LinkType::Ipv4)
    }
}

/// Why a capture could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcapError {
    /// Not a capture file at all: unknown magic, or shorter than a header.
    NotPcap,
    /// A pcapng file that uses something this reader does not (see the reason).
    /// Writing with `tcpdump -w FILE` gives classic pcap, which always works.
    UnsupportedPcapng(&'static str),
    /// A classic pcap file of a version other than 2.x.
    UnsupportedVersion { major: u16, minor: u16 },
    /// The file ends in the middle of the record or block starting at `offset`.
    Truncated { offset: usize },
    /// The record or block at `offset` has an impossible length field.
    BadLength { offset: usize, len: u32 },
}

impl core::fmt::Display for PcapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            PcapError::NotPcap => f.write_str("not a pcap file (bad magic or too short)"),
            PcapError::UnsupportedPcapng(why) => write!(
                f,
                "unsupported pcapng file ({why}); write a classic pcap file with `tcpdump -w FILE`"
            ),
            PcapError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported pcap version {major}.{minor}")
            }
            PcapError::Truncated { offset } => {
                write!(f, "capture truncated in the record at byte {offset}")
            }
            PcapError::BadLength { offset, len } => {
                write!(f, "impossible length {len} in the record at byte {offset}")
            }
        }
    }
}

impl std::error::Error for PcapError {}

/// The classic pcap global header (draft-ietf-opsawg-pcap §4): magic for
/// microsecond timestamps, version 2.4, zone and accuracy 0. Always written
/// little-endian so the same capture gives the same bytes on every host.
pub fn global_header(link_type: LinkType, snaplen: u32) -> [u8; GLOBAL_HEADER_LEN] {
    let mut h = [0u8; GLOBAL_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
    h[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
    h[6..8].copy_from_slice(&VERSION_MINOR.to_le_bytes());
    // 8..16: thiszone and sigfigs, both 0 as every modern writer does.
    h[16..20].copy_from_slice(&snaplen.to_le_bytes());
    h[20..24].copy_from_slice(&link_type.to_u32().to_le_bytes());
    h
}

/// A classic pcap record header (draft-ietf-opsawg-pcap §5), little-endian to
/// match [`global_header`]. `ts` is taken as microseconds since the Unix epoch
/// (the simulator's zero becomes 1970-01-01); seconds past `u32::MAX` saturate.
/// `caplen` is the number of frame bytes that follow, `origlen` the frame's
/// length on the wire.
pub fn record_header(ts: Instant, caplen: u32, origlen: u32) -> [u8; RECORD_HEADER_LEN] {
    let micros = ts.total_micros();
    let secs = u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX);
    // Below 10^6, so it always fits.
    let frac = (micros % 1_000_000) as u32;
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&frac.to_le_bytes());
    h[8..12].copy_from_slice(&caplen.to_le_bytes());
    h[12..16].copy_from_slice(&origlen.to_le_bytes());
    h
}

/// One captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapRecord<'a> {
    /// Timestamp in microseconds since the writer's zero (the Unix epoch for
    /// real captures, the start of the simulation for ours).
    pub ts_micros: u64,
    /// The frame's length on the wire; `data` is shorter if the writer's snap
    /// length cut it.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

impl PcapRecord<'_> {
    /// The timestamp as an [`Instant`].
    pub fn ts(&self) -> Instant {
        Instant::from_micros(self.ts_micros)
    }

    /// True when the writer kept fewer bytes than were on the wire.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}

/// The container a [`PcapReader`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap; `nanos` when the magic says nanosecond timestamps.
    Pcap { big_endian: bool, nanos: bool },
    /// pcapng (packets from Enhanced and Simple Packet Blocks).
    Pcapng,
}

/// Reads a capture held in memory. Iterating yields the records in file order;
/// after the first error the iterator ends.
#[derive(Clone, Debug)]
pub struct PcapReader<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
    link_type: LinkType,
    snaplen: u32,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Pcap { big_endian: bool, nanos: bool },
    Ng(NgState),
}

impl<'a> PcapReader<'a> {
    /// Checks the file header. Errors: [`PcapError::NotPcap`] for anything that
    /// is not a capture, [`PcapError::UnsupportedVersion`], and for pcapng
    /// anything [`PcapError::UnsupportedPcapng`] or a bad first block.
    pub fn new(data: &'a [u8]) -> Result<Self, PcapError> {
        let magic = match data.get(0..4) {
            Some(m) => u32::from_le_bytes([m[0], m[1], m[2], m[3]]),
            None => return Err(PcapError::NotPcap),
        };
        if magic == PCAPNG_SHB {
            return PcapReader::new_ng(data);
        }
        let (big_endian, nanos) = match magic {
            MAGIC_MICROS => (false, false),
            MAGIC_NANOS => (false, true),
            m if m == MAGIC_MICROS.swap_bytes() => (true, false),
            m if m == MAGIC_NANOS.swap_bytes() => (true, true),
            _ => return Err(PcapError::NotPcap),
        };
        if data.len() < GLOBAL_HEADER_LEN {
            return Err(PcapError::NotPcap);
        }
        let bytes = Bytes { data, big_endian };
        let major = bytes.u16(4).unwrap_or(0);
        let minor = bytes.u16(6).unwrap_or(0);
        if major != VERSION_MAJOR {
            return Err(PcapError::UnsupportedVersion { major, minor });
        }
        Ok(PcapReader {
            data,
            pos: GLOBAL_HEADER_LEN,
            done: false,
            snaplen: bytes.u32(16).unwrap_or(0),
            link_type: LinkType::from_u32(bytes.u32(20).unwrap_or(0)),
            kind: Kind::Pcap { big_endian, nanos },
        })
    }

    /// What every frame in the file starts with.
    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// The writer's snap length (the longest record it would keep).
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Which container and, for classic pcap, which variant.
    pub fn format(&self) -> Format {
        match self.kind {
            Kind::Pcap { big_endian, nanos } => Format::Pcap { big_endian, nanos },
            Kind::Ng(_) => Format::Pcapng,
        }
    }

    fn next_classic(
        &mut self,
        big_endian: bool,
        nanos: bool,
    ) -> Option<Result<PcapRecord<'a>, PcapError>> {
        let offset = self.pos;
        let rest = self.data.get(offset..).unwrap_or(&[]);
        if rest.is_empty() {
            return None;
        }
        let bytes = Bytes {
            data: rest,
            big_endian,
        };
        let (Some(secs), Some(frac), Some(caplen), Some(orig_len)) =
            (bytes.u32(0), bytes.u32(4), bytes.u32(8), bytes.u32(12))
        else {
            return Some(Err(PcapError::Truncated { offset }));
        };
        if caplen > MAX_RECORD_LEN {
            return Some(Err(PcapError::BadLength {
                offset,
                len: caplen,
            }));
        }
        // caplen <= MAX_RECORD_LEN, so this cannot overflow.
        let end = RECORD_HEADER_LEN + caplen as usize;
        let Some(frame) = rest.get(RECORD_HEADER_LEN..end) else {
            return Some(Err(PcapError::Truncated { offset }));
        };
        self.pos = offset + end;
        let frac_micros = if nanos { frac / 1_000 } else { frac };
        Some(Ok(PcapRecord {
            ts_micros: u64::from(secs) * 1_000_000 + u64::from(frac_micros),
            orig_len,
            data: frame,
        }))
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<PcapRecord<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match &mut self.kind {
            Kind::Pcap { big_endian, nanos } => {
                let (b, n) = (*big_endian, *nanos);
                self.next_classic(b, n)
            }
            Kind::Ng(_) => self.next_ng(),
        };
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl core::iter::FusedIterator for PcapReader<'_> {}

/// Bounds-checked integer reads in the file's byte order.
#[derive(Clone, Copy)]
struct Bytes<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl Bytes<'_> {
    fn u16(self, at: usize) -> Option<u16> {
        let b = self.data.get(at..at.checked_add(2)?)?;
        let raw = [b[0], b[1]];
        Some(if self.big_endian {
            u16::from_be_bytes(raw)
        } else {
            u16::from_le_bytes(raw)
        })
    }

    fn u32(self, at: usize) -> Option<u32> {
        let b = self.data.get(at..at.checked_add(4)?)?;
        let raw = [b[0], b[1], b[2], b[3]];
        Some(if self.big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        })
    }
}

// ---------------------------------------------------------------------------
// pcapng (draft-ietf-opsawg-pcapng), read side only.

const NG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const NG_IDB: u32 = 0x0000_0001;
const NG_SPB: u32 = 0x0000_0003;
const NG_EPB: u32 = 0x0000_0006;
/// if_tsresol (§4.2): the interface's timestamp resolution.
const NG_OPT_TSRESOL: u16 = 9;
/// Type, total length, ..., total length again.
const NG_BLOCK_OVERHEAD: usize = 12;
/// Interfaces a reader tracks per section; more is refused, not allocated.
const NG_MAX_INTERFACES: usize = 64;

#[derive(Clone, Copy, Debug)]
struct NgInterface {
    link_type: LinkType,
    snaplen: u32,
    /// if_tsresol: bit 7 clear = 10^-n seconds, set = 2^-n seconds.
    tsresol: u8,
}

#[derive(Clone, Debug)]
struct NgState {
    big_endian: bool,
    interfaces: Vec<NgInterface>,
}

/// One block's header fields, checked against the data.
struct NgBlock<'a> {
    block_type: u32,
    /// The block body: between the leading lengths and the trailing length.
    body: &'a [u8],
    total_len: usize,
}

impl<'a> PcapReader<'a> {
    fn new_ng(data: &'a [u8]) -> Result<Self, PcapError> {
        // The file's link type is its first interface's: read blocks up to the
        // first Interface Description Block with a scratch state.
        let mut probe = NgState {
            big_endian: false,
            interfaces: Vec::new(),
        };
        let mut pos = 0;
        let first = loop {
            if pos >= data.len() {
                return Err(PcapError::UnsupportedPcapng(
                    "no interface description block",
                ));
            }
            let block = probe.block(data, &mut pos)?;
            if block.block_type == NG_EPB || block.block_type == NG_SPB {
                return Err(PcapError::UnsupportedPcapng(
                    "packet block before any interface description",
                ));
            }
            if let Some(iface) = probe.interfaces.first() {
                break *iface;
            }
        };
        Ok(PcapReader {
            data,
            pos: 0,
            done: false,
            link_type: first.link_type,
            snaplen: first.snaplen,
            kind: Kind::Ng(NgState {
                big_endian: false,
                interfaces: Vec::new(),
            }),
        })
    }
}

impl NgState {
    /// Reads the block at `*pos`, applies section and interface blocks to the
    /// state, and advances `*pos` past it.
    fn block<'a>(&mut self, data: &'a [u8], pos: &mut usize) -> Result<NgBlock<'a>, PcapError> {
        let offset = *pos;
        let rest = data.get(offset..).unwrap_or(&[]);
        let le_type = match rest.get(0..4) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => return Err(PcapError::Truncated { offset }),
        };
        if le_type == PCAPNG_SHB {
            // A new section sets the byte order for everything up to the next
            // one (§4.1), from its byte-order magic after the length.
            let bom = Bytes {
                data: rest,
                big_endian: false,
            }
            .u32(8)
            .ok_or(if offset == 0 {
                PcapError::NotPcap
            } else {
                PcapError::Truncated { offset }
            })?;
            self.big_endian = match bom {
                NG_BYTE_ORDER_MAGIC => false,
                m if m == NG_BYTE_ORDER_MAGIC.swap_bytes() => true,
                _ if offset == 0 => return Err(PcapError::NotPcap),
                _ => return Err(PcapError::UnsupportedPcapng("bad byte-order magic")),
            };
            self.interfaces.clear();
        }
        let bytes = Bytes {
            data: rest,
            big_endian: self.big_endian,
        };
        let block_type = bytes.u32(0).ok_or(PcapError::Truncated { offset })?;
        let len_field = bytes.u32(4).ok_or(PcapError::Truncated { offset })?;
        let total_len = len_field as usize;
        let bad = PcapError::BadLength {
            offset,
            len: len_field,
        };
        if total_len < NG_BLOCK_OVERHEAD || !total_len.is_multiple_of(4) {
            return Err(bad);
        }
        if rest.len() < total_len {
            return Err(PcapError::Truncated { offset });
        }
        if bytes.u32(total_len - 4) != Some(len_field) {
            return Err(bad);
        }
        let body = &rest[8..total_len - 4];
        let b = Bytes {
            data: body,
            big_endian: self.big_endian,
        };
        if block_type == PCAPNG_SHB {
            // Body: byte-order magic, major, minor, section length, options.
            if b.u16(4).ok_or(bad)? != 1 {
                return Err(PcapError::UnsupportedPcapng("section version is not 1.x"));
            }
        } else if block_type == NG_IDB {
            // Body: link type, reserved, snap length, options (§4.2).
            let (Some(link), Some(snaplen)) = (b.u16(0), b.u32(4)) else {
                return Err(bad);
            };
            if self.interfaces.len() >= NG_MAX_INTERFACES {
                return Err(PcapError::UnsupportedPcapng("too many interfaces"));
            }
            self.interfaces.push(NgInterface {
                link_type: LinkType::from_u32(u32::from(link)),
                snaplen,
                tsresol: ng_tsresol(b, 8),
            });
        }
        *pos = offset + total_len;
        Ok(NgBlock {
            block_type,
            body,
            total_len,
        })
    }
}

impl<'a> PcapReader<'a> {
    fn next_ng(&mut self) -> Option<Result<PcapRecord<'a>, PcapError>> {
        let Kind::Ng(state) = &mut self.kind else {
            return None;
        };
        // Every pass consumes a block of at least 12 bytes, so this ends.
        while self.pos < self.data.len() {
            let offset = self.pos;
            let block = match state.block(self.data, &mut self.pos) {
                Ok(block) => block,
                Err(e) => return Some(Err(e)),
            };
            let b = Bytes {
                data: block.body,
                big_endian: state.big_endian,
            };
            let bad = PcapError::BadLength {
                offset,
                len: block.total_len as u32,
            };
            let undeclared = PcapError::UnsupportedPcapng("packet from an undeclared interface");
            let (iface, ts_micros, caplen, orig_len, data_at) = match block.block_type {
                NG_EPB => {
                    // Body: interface, timestamp high and low, captured and
                    // original length, data, options (§4.3).
                    let (Some(id), Some(hi), Some(lo), Some(cap), Some(orig)) =
                        (b.u32(0), b.u32(4), b.u32(8), b.u32(12), b.u32(16))
                    else {
                        return Some(Err(bad));
                    };
                    let Some(iface) = state.interfaces.get(id as usize) else {
                        return Some(Err(undeclared));
                    };
                    let ts = (u64::from(hi) << 32) | u64::from(lo);
                    (*iface, ng_ts_micros(ts, iface.tsresol), cap, orig, 20)
                }
                NG_SPB => {
                    // Body: original length, data; always interface 0 (§4.4).
                    let Some(orig) = b.u32(0) else {
                        return Some(Err(bad));
                    };
                    let Some(iface) = state.interfaces.first() else {
                        return Some(Err(undeclared));
                    };
                    // The captured length is the smallest of the original
                    // length, the snap length, and what the block holds.
                    let room = u32::try_from(block.body.len() - 4).unwrap_or(u32::MAX);
                    let mut cap = orig.min(room);
                    if iface.snaplen != 0 {
                        cap = cap.min(iface.snaplen);
                    }
                    // A Simple Packet Block has no timestamp.
                    (*iface, 0, cap, orig, 4)
                }
                _ => continue,
            };
            if caplen > MAX_RECORD_LEN {
                return Some(Err(PcapError::BadLength {
                    offset,
                    len: caplen,
                }));
            }
            let Some(data) = block.body.get(data_at..data_at + caplen as usize) else {
                return Some(Err(bad));
            };
            if iface.link_type != self.link_type {
                return Some(Err(PcapError::UnsupportedPcapng(
                    "interfaces with different link types",
                )));
            }
            return Some(Ok(PcapRecord {
                ts_micros,
                orig_len,
                data,
            }));
        }
        None
    }
}

/// Finds if_tsresol among the options starting at `at`; 6 (microseconds) if absent.
fn ng_tsresol(b: Bytes<'_>, mut at: usize) -> u8 {
    // Each option consumes at least 4 bytes, so this ends.
    while let (Some(code), Some(len)) = (b.u16(at), b.u16(at + 2)) {
        if code == 0 {
            break;
        }
        if code == NG_OPT_TSRESOL
            && len == 1
            && let Some(&v) = b.data.get(at + 4)
        {
            return v;
        }
        at += 4 + usize::from(len).next_multiple_of(4);
    }
    6
}

/// A pcapng timestamp in units of the interface's resolution, in microseconds.
fn ng_ts_micros(ts: u64, tsresol: u8) -> u64 {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        // 2^-exp seconds per unit.
        let micros = u128::from(ts) * 1_000_000;
        u64::try_from(micros.checked_shr(exp).unwrap_or(0)).unwrap_or(u64::MAX)
    } else if exp <= 6 {
        ts.saturating_mul(10u64.pow(6 - exp))
    } else {
        // 10^-exp with exp > 6: divide; beyond 10^-19 everything is below 1 µs.
        10u64.checked_pow(exp - 6).map_or(0, |d| ts / d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `tcpdump -i lo -w micro.pcap -c 2 icmp` in a private network namespace
    /// during `ping -c 1 -s 8 127.0.0.1`: an echo request and its reply.
    const TCPDUMP_MICROS: [u8; 156] = [
        0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, //
        0xed, 0x8f, 0x01, 0x6b, 0x7b, 0xc7, 0x04, 0x00, 0x32, 0x00, 0x00, 0x00, //
        0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x45, 0x00, 0x00, 0x24, 0xb1, 0x23, //
        0x40, 0x00, 0x40, 0x01, 0x8b, 0xb3, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, //
        0x00, 0x01, 0x08, 0x00, 0xc3, 0xef, 0x27, 0xff, 0x00, 0x01, 0x00, 0x01, //
        0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xed, 0x8f, 0x01, 0x6b, 0x91, 0xc7, //
        0x04, 0x00, 0x32, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, //
        0x45, 0x00, 0x00, 0x24, 0xb1, 0x24, 0x00, 0x00, 0x40, 0x01, 0xcb, 0xb2, //
        0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x00, 0xcb, 0xef, //
        0x27, 0xff, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, //
    ];

    /// The same exchange captured with `--time-stamp-precision=nano -s 40`:
    /// nanosecond magic, records cut to 40 of their 50 bytes.
    const TCPDUMP_NANOS_SNAP40: [u8; 136] = [
        0x4d, 0x3c, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, //
        0xed, 0x8f, 0x01, 0x6b, 0x96, 0x39, 0xab, 0x12, 0x28, 0x00, 0x00, 0x00, //
        0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x45, 0x00, 0x00, 0x24, 0xb1, 0x23, //
        0x40, 0x00, 0x40, 0x01, 0x8b, 0xb3, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, //
        0x00, 0x01, 0x08, 0x00, 0xc3, 0xef, 0x27, 0xff, 0xed, 0x8f, 0x01, 0x6b, //
        0x69, 0x91, 0xab, 0x12, 0x28, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x08, 0x00, 0x45, 0x00, 0x00, 0x24, 0xb1, 0x24, 0x00, 0x00, 0x40, 0x01, //
        0xcb, 0xb2, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x00, //
        0xcb, 0xef, 0x27, 0xff, //
    ];

    /// A big-endian microsecond capture (as a SPARC or s390x host writes it):
    /// raw IP link type, snaplen 65535, one 4-byte record at 1.000002 s.
    const BIG_ENDIAN: [u8; 44] = [
        0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x65, //
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, //
        0x00, 0x00, 0x00, 0x04, 0x45, 0x00, 0x00, 0x14, //
    ];

    fn records(data: &[u8]) -> Vec<Result<PcapRecord<'_>, PcapError>> {
        PcapReader::new(data).expect("valid header").collect()
    }

    #[test]
    fn reads_tcpdump_microsecond_capture() {
        let reader = PcapReader::new(&TCPDUMP_MICROS).unwrap();
        assert_eq!(reader.link_type(), LinkType::Ethernet);
        assert_eq!(reader.snaplen(), 262_144);
        assert_eq!(
            reader.format(),
            Format::Pcap {
                big_endian: false,
                nanos: false
            }
        );
        let recs: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].ts_micros, 1_795_264_493_313_211);
        assert_eq!(recs[1].ts_micros, 1_795_264_493_313_233);
        for rec in &recs {
            assert_eq!(rec.orig_len, 50);
            assert_eq!(rec.data.len(), 50);
            assert!(!rec.is_truncated());
            // Ethernet type IPv4, then an IPv4 header from 127.0.0.1.
            assert_eq!(&rec.data[12..15], &[0x08, 0x00, 0x45]);
            assert_eq!(&rec.data[26..30], &[127, 0, 0, 1]);
        }
        // ICMP echo request, then echo reply.
        assert_eq!(recs[0].data[34], 8);
        assert_eq!(recs[1].data[34], 0);
        assert_eq!(&recs[1].data[42..50], &[0, 1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn reads_tcpdump_nanosecond_capture_cut_by_snaplen() {
        let reader = PcapReader::new(&TCPDUMP_NANOS_SNAP40).unwrap();
        assert_eq!(
            reader.format(),
            Format::Pcap {
                big_endian: false,
                nanos: true
            }
        );
        assert_eq!(reader.snaplen(), 40);
        let recs: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(recs.len(), 2);
        // 313211286 ns and 313233769 ns: truncated to whole microseconds.
        assert_eq!(recs[0].ts_micros, 1_795_264_493_313_211);
        assert_eq!(recs[1].ts_micros, 1_795_264_493_313_233);
        assert_eq!(recs[0].ts(), Instant::from_micros(1_795_264_493_313_211));
        for rec in &recs {
            assert_eq!((rec.data.len(), rec.orig_len), (40, 50));
            assert!(rec.is_truncated());
        }
    }

    #[test]
    fn reads_big_endian_capture() {
        let reader = PcapReader::new(&BIG_ENDIAN).unwrap();
        assert_eq!(
            reader.format(),
            Format::Pcap {
                big_endian: true,
                nanos: false
            }
        );
        assert_eq!(reader.link_type(), LinkType::Raw);
        assert_eq!(reader.snaplen(), 65_535);
        let recs: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(
            recs,
            vec![PcapRecord {
                ts_micros: 1_000_002,
                orig_len: 4,
                data: &[0x45, 0x00, 0x00, 0x14],
            }]
        );
    }

    #[test]
    fn big_endian_copy_of_tcpdump_capture_reads_the_same() {
        // Swap every header field of the little-endian fixture.
        let mut be = TCPDUMP_MICROS.to_vec();
        let swap32 = |b: &mut [u8], at: usize| b[at..at + 4].reverse();
        swap32(&mut be, 0);
        be[4..6].reverse();
        be[6..8].reverse();
        for at in [8, 12, 16, 20] {
            swap32(&mut be, at);
        }
        let mut at = GLOBAL_HEADER_LEN;
        while at < be.len() {
            for f in 0..4 {
                swap32(&mut be, at + 4 * f);
            }
            at += RECORD_HEADER_LEN + 50;
        }
        let le = records(&TCPDUMP_MICROS);
        assert_eq!(records(&be), le);
        assert_eq!(
            PcapReader::new(&be).unwrap().format(),
            Format::Pcap {
                big_endian: true,
                nanos: false
            }
        );
    }

    #[test]
    fn encoders_write_exact_bytes() {
        assert_eq!(
            global_header(LinkType::Ethernet, 65_535),
            [
                0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, //
                0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
            ]
        );
        assert_eq!(global_header(LinkType::Raw, 0)[20..24], [101, 0, 0, 0]);
        assert_eq!(
            record_header(Instant::from_micros(3_000_123), 60, 1514),
            [
                0x03, 0x00, 0x00, 0x00, 0x7b, 0x00, 0x00, 0x00, //
                0x3c, 0x00, 0x00, 0x00, 0xea, 0x05, 0x00, 0x00,
            ]
        );
        // Seconds beyond u32 saturate rather than wrap.
        assert_eq!(
            record_header(Instant::FAR_FUTURE, 0, 0)[0..4],
            [0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn writer_output_reads_back() {
        let frames: [(u64, &[u8], u32); 4] = [
            (0, b"", 0),
            (1, b"\x01", 1),
            (999_999, b"hello, pcap", 11),
            (86_400_000_123, b"cut", 1500),
        ];
        let mut file = global_header(LinkType::Ethernet, 1500).to_vec();
        for (ts, data, orig) in frames {
            file.extend_from_slice(&record_header(
                Instant::from_micros(ts),
                data.len() as u32,
                orig,
            ));
            file.extend_from_slice(data);
        }
        let reader = PcapReader::new(&file).unwrap();
        assert_eq!(
            (reader.link_type(), reader.snaplen()),
            (LinkType::Ethernet, 1500)
        );
        let got: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(got.len(), frames.len());
        for (rec, (ts, data, orig)) in got.iter().zip(frames) {
            assert_eq!((rec.ts_micros, rec.data, rec.orig_len), (ts, data, orig));
        }
    }

    #[test]
    fn truncation_at_every_length_is_an_error_never_a_panic() {
        let boundaries = [24, 24 + 66, 24 + 132];
        for (file, big) in [(&TCPDUMP_MICROS[..], false), (&BIG_ENDIAN[..], true)] {
            let full: Vec<_> = records(file).into_iter().map(Result::unwrap).collect();
            for len in 0..file.len() {
                let cut = &file[..len];
                if len < GLOBAL_HEADER_LEN {
                    assert_eq!(
                        PcapReader::new(cut).err(),
                        Some(PcapError::NotPcap),
                        "{len}"
                    );
                    continue;
                }
                let got = records(cut);
                let ok = got.iter().take_while(|r| r.is_ok()).count();
                // The complete records come out unchanged...
                for (a, b) in got.iter().zip(&full) {
                    if let Ok(a) = a {
                        assert_eq!(a, b);
                    }
                }
                // ...and a partial one is reported where it starts.
                let at_boundary = big && len == 24 || !big && boundaries.contains(&len);
                if at_boundary {
                    assert_eq!(got.len(), ok, "len {len}");
                } else {
                    assert_eq!(got.len(), ok + 1, "len {len}");
                    let offset = GLOBAL_HEADER_LEN + ok * 66;
                    assert_eq!(got[ok], Err(PcapError::Truncated { offset }), "len {len}");
                }
            }
        }
    }

    #[test]
    fn not_a_capture_is_not_pcap() {
        for data in [
            &b""[..],
            b"\xd4\xc3\xb2",
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            &[0u8; 64],
            // pcap magic, but shorter than a global header.
            &TCPDUMP_MICROS[..23],
        ] {
            assert_eq!(PcapReader::new(data).err(), Some(PcapError::NotPcap));
        }
    }

    #[test]
    fn other_versions_are_rejected() {
        let mut v = TCPDUMP_MICROS;
        v[4] = 1;
        v[6] = 0;
        assert_eq!(
            PcapReader::new(&v).err(),
            Some(PcapError::UnsupportedVersion { major: 1, minor: 0 })
        );
    }

    #[test]
    fn absurd_record_length_is_an_error() {
        let mut file = global_header(LinkType::Ethernet, 65_535).to_vec();
        file.extend_from_slice(&record_header(Instant::ZERO, 0x8000_0000, 10));
        file.extend_from_slice(&[0; 64]);
        assert_eq!(
            records(&file),
            vec![Err(PcapError::BadLength {
                offset: 24,
                len: 0x8000_0000
            })]
        );
    }

    #[test]
    fn link_types_map_both_ways() {
        for (value, lt) in [
            (0, LinkType::Null),
            (1, LinkType::Ethernet),
            (12, LinkType::Raw),
            (14, LinkType::Raw),
            (101, LinkType::Raw),
            (113, LinkType::LinuxSll),
            (228, LinkType::Ipv4),
            (276, LinkType::LinuxSll2),
            (147, LinkType::Unknown(147)),
        ] {
            assert_eq!(LinkType::from_u32(value), lt);
        }
        // FCS flags in the upper bits do not change the link type.
        assert_eq!(LinkType::from_u32(0x1000_0001), LinkType::Ethernet);
        for lt in [
            LinkType::Ethernet,
            LinkType::Raw,
            LinkType::Ipv4,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
        ] {
            assert_eq!(LinkType::from_u32(lt.to_u32()), lt);
        }
        assert!(LinkType::Raw.is_raw_ip() && LinkType::Ipv4.is_raw_ip());
        assert!(!LinkType::Ethernet.is_raw_ip());
    }

    /// A little-endian pcapng file: Section Header, an Ethernet interface with
    /// nanosecond timestamps (if_tsresol = 9), an Enhanced Packet Block of 6
    /// bytes at 1.5 s, a block of unknown type, a Simple Packet Block of 5.
    const PCAPNG_LE: [u8; 140] = [
        // SHB: type, length 28, byte-order magic, version 1.0, section length -1.
        0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0x00, 0x00, 0x00, 0x4d, 0x3c, 0x2b, 0x1a, //
        0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //
        0x1c, 0x00, 0x00, 0x00, //
        // IDB: type 1, length 32, link type 1, snaplen 65535,
        // option if_tsresol (9) = 9, end of options.
        0x01, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, //
        0xff, 0xff, 0x00, 0x00, 0x09, 0x00, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, //
        // EPB: type 6, length 40, interface 0, timestamp 1_500_000_000 ns
        // (0x59682f00), captured 6, original 60, data padded to 8.
        0x06, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x2f, 0x68, 0x59, 0x06, 0x00, 0x00, 0x00, //
        0x3c, 0x00, 0x00, 0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x00, 0x00, //
        0x28, 0x00, 0x00, 0x00, //
        // Unknown block type 0x0bad, length 16, 4 bytes of body.
        0xad, 0x0b, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0xee, 0xee, 0xee, 0xee, //
        0x10, 0x00, 0x00, 0x00, //
        // SPB: type 3, length 24, original length 5, data padded to 8.
        0x03, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, //
        0x76, 0x77, 0x78, 0x79, 0x7a, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, //
    ];

    /// Big-endian pcapng: SHB, a raw-IP interface (default microseconds),
    /// one EPB of 4 bytes at 2.000003 s.
    const PCAPNG_BE: [u8; 84] = [
        0x0a, 0x0d, 0x0d, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d, //
        0x00, 0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //
        0x00, 0x00, 0x00, 0x1c, //
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x65, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, //
        0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x1e, 0x84, 0x83, 0x00, 0x00, 0x00, 0x04, //
        0x00, 0x00, 0x00, 0x04, 0x45, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x24, //
    ];

    #[test]
    fn reads_pcapng_enhanced_and_simple_packet_blocks() {
        let reader = PcapReader::new(&PCAPNG_LE).unwrap();
        assert_eq!(reader.format(), Format::Pcapng);
        assert_eq!(
            (reader.link_type(), reader.snaplen()),
            (LinkType::Ethernet, 65_535)
        );
        let recs: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(
            recs,
            vec![
                PcapRecord {
                    ts_micros: 1_500_000,
                    orig_len: 60,
                    data: b"abcdef"
                },
                PcapRecord {
                    ts_micros: 0,
                    orig_len: 5,
                    data: b"vwxyz"
                },
            ]
        );
    }

    #[test]
    fn reads_big_endian_pcapng() {
        let reader = PcapReader::new(&PCAPNG_BE).unwrap();
        assert_eq!(reader.link_type(), LinkType::Raw);
        let recs: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(
            recs,
            vec![PcapRecord {
                ts_micros: 2_000_003,
                orig_len: 4,
                data: &[0x45, 0, 0, 0x14]
            }]
        );
    }

    #[test]
    fn pcapng_truncated_at_every_length_is_an_error_never_a_panic() {
        let blocks = [28, 60, 100, 116, 140];
        for len in 0..PCAPNG_LE.len() {
            let cut = &PCAPNG_LE[..len];
            match PcapReader::new(cut) {
                // Too short for a section header, cut inside the interface
                // block, or no interface yet.
                Err(e) => assert!(
                    len < 60
                        && matches!(
                            e,
                            PcapError::NotPcap
                                | PcapError::Truncated { offset: 0 | 28 }
                                | PcapError::UnsupportedPcapng(_)
                        ),
                    "len {len}: {e:?}"
                ),
                Ok(reader) => {
                    let got: Vec<_> = reader.collect();
                    let ok = got.iter().take_while(|r| r.is_ok()).count();
                    let want_ok = usize::from(len >= 100) + usize::from(len >= 140);
                    assert_eq!(ok, want_ok, "len {len}");
                    if blocks.contains(&len) {
                        assert_eq!(got.len(), ok, "len {len}");
                    } else {
                        assert!(
                            matches!(got.last(), Some(Err(PcapError::Truncated { .. }))),
                            "len {len}: {got:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn pcapng_with_mixed_link_types_is_refused_not_misread() {
        // A second interface of type raw IP, and a packet from it.
        let mut file = PCAPNG_LE[..60].to_vec();
        file.extend_from_slice(&[
            0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x65, 0x00, 0x00, 0x00, //
            0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, //
            0x06, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, //
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
            0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
        ]);
        assert_eq!(
            records(&file),
            vec![Err(PcapError::UnsupportedPcapng(
                "interfaces with different link types"
            ))]
        );
        // A packet block before any interface.
        let mut no_idb = PCAPNG_LE[..28].to_vec();
        no_idb.extend_from_slice(&PCAPNG_LE[60..100]);
        assert!(matches!(
            PcapReader::new(&no_idb),
            Err(PcapError::UnsupportedPcapng(_))
        ));
    }

    #[test]
    fn pcapng_block_with_mismatched_trailing_length_is_an_error() {
        let mut file = PCAPNG_LE;
        file[96] = 0x2c; // EPB's trailing length no longer matches its leading one.
        assert_eq!(
            records(&file),
            vec![Err(PcapError::BadLength {
                offset: 60,
                len: 40
            })]
        );
    }

    #[test]
    fn pcapng_timestamp_resolutions() {
        assert_eq!(ng_ts_micros(1_234, 6), 1_234);
        assert_eq!(ng_ts_micros(1_234, 3), 1_234_000);
        assert_eq!(ng_ts_micros(1_234_567, 9), 1_234);
        assert_eq!(ng_ts_micros(5, 0), 5_000_000);
        // 2^-10 s units: 1024 units = 1 s.
        assert_eq!(ng_ts_micros(1_024, 0x80 | 10), 1_000_000);
        assert_eq!(ng_ts_micros(u64::MAX, 127), 0);
        assert_eq!(ng_ts_micros(u64::MAX, 0x80 | 127), 0);
        assert_eq!(ng_ts_micros(u64::MAX, 0), u64::MAX);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_or_loop(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(reader) = PcapReader::new(&data) {
                // Every record consumes at least 12 bytes.
                prop_assert!(reader.count() <= data.len() / 12 + 1);
            }
        }

        #[test]
        fn arbitrary_records_after_a_valid_header_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..512),
            which in 0usize..3,
        ) {
            let head: &[u8] = match which {
                0 => &TCPDUMP_MICROS[..24],
                1 => &BIG_ENDIAN[..24],
                _ => &PCAPNG_LE[..60],
            };
            let mut data = head.to_vec();
            data.extend_from_slice(&tail);
            let reader = PcapReader::new(&data).unwrap();
            prop_assert!(reader.count() <= data.len() / 12 + 1);
        }
    }
}
