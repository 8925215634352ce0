//! Raw IPv4 frames in and out of the stack under test: the packets a
//! script injects, built byte by byte, and the packets synack sends,
//! parsed into what a scripted `>` line compares.
//!
//! The runner builds inbound packets itself rather than through synack's
//! own emitters, so a bug in those cannot hide a bug in the receive path.

use core::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::wire::Checksum;
use synack_proto::wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};

/// TCP option kinds (IANA).
pub mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WSCALE: u8 = 3;
    pub const SACK_OK: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
    pub const MD5: u8 = 19;
    pub const FAST_OPEN: u8 = 34;
    pub const EXPERIMENTAL: u8 = 254;
    /// RFC 7413 §4.1.1's experimental Fast Open magic (ExID 0xF989).
    pub const FAST_OPEN_MAGIC: u16 = 0xF989;
}

/// The 12 TCP header flag bits as the runner handles them: byte 13 plus the
/// AE (formerly NS) bit, bit 0 of byte 12 (RFC 3540, AccECN).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RawFlags {
    pub byte13: u8,
    pub ae: bool,
}

impl RawFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn has(self, bit: u8) -> bool {
        self.byte13 & bit != 0
    }

    /// From a scripted flag set (an ACE digit sets AE, CWR, ECE as one number).
    pub fn from_script(f: &crate::script::TcpFlags) -> RawFlags {
        let mut b = 0;
        for (on, bit) in [
            (f.fin, Self::FIN),
            (f.syn, Self::SYN),
            (f.rst, Self::RST),
            (f.psh, Self::PSH),
            (f.ack, Self::ACK),
            (f.urg, Self::URG),
            (f.ece, Self::ECE),
            (f.cwr, Self::CWR),
        ] {
            if on {
                b |= bit;
            }
        }
        let mut ae = f.ae;
        if let Some(ace) = f.ace {
            if ace & 1 != 0 {
                b |= Self::ECE;
            }
            if ace & 2 != 0 {
                b |= Self::CWR;
            }
            ae = ace & 4 != 0;
        }
        RawFlags { byte13: b, ae }
    }

    /// packetdrill's spelling: `S.`, `F.`, `P.`, `R`, `.`, `SEW`.
    pub fn script_text(self) -> String {
        let mut s = String::new();
        for (bit, c) in [
            (Self::FIN, 'F'),
            (Self::SYN, 'S'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::ACK, '.'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
        ] {
            if self.has(bit) {
                s.push(c);
            }
        }
        if self.ae {
            s.push('A');
        }
        if s.is_empty() {
            s.push('-');
        }
        s
    }
}

/// A TCP segment the runner injects.
#[derive(Clone, Debug)]
pub struct InboundTcp {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub seq: u32,
    pub ack: u32,
    pub flags: RawFlags,
    pub window: u16,
    pub urg: u16,
    /// Option bytes as scripted; padded with EOL to a 4-byte boundary.
    pub options: Vec<u8>,
    pub payload_len: usize,
    pub tos: u8,
    pub ttl: u8,
}

/// An IPv4 header in front of `payload` (already laid out after 20 bytes).
fn ipv4_frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    tos: u8,
    ttl: u8,
    mut frame: Vec<u8>,
) -> Vec<u8> {
    let payload_len = u16::try_from(frame.len() - 20).unwrap_or(u16::MAX);
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len,
        ttl,
        dscp_ecn: tos,
        ident: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut frame[..20]),
        Checksum::Full,
    );
    frame
}

impl InboundTcp {
    /// The whole IPv4 packet, checksums filled in; payload bytes are zeros
    /// (packetdrill's are too).
    pub fn to_frame(&self) -> Vec<u8> {
        let mut options = self.options.clone();
        while !options.len().is_multiple_of(4) {
            options.push(kind::EOL);
        }
        let header_len = 20 + options.len();
        let mut frame = vec![0u8; 20 + header_len + self.payload_len];
        {
            let tcp = &mut frame[20..];
            tcp[0..2].copy_from_slice(&self.src.port().to_be_bytes());
            tcp[2..4].copy_from_slice(&self.dst.port().to_be_bytes());
            tcp[4..8].copy_from_slice(&self.seq.to_be_bytes());
            tcp[8..12].copy_from_slice(&self.ack.to_be_bytes());
            // Data offset in 32-bit words; at most 15 (the parser caps options at 40 bytes).
            tcp[12] = ((header_len / 4) as u8) << 4 | u8::from(self.flags.ae);
            tcp[13] = self.flags.byte13;
            tcp[14..16].copy_from_slice(&self.window.to_be_bytes());
            tcp[18..20].copy_from_slice(&self.urg.to_be_bytes());
            tcp[20..header_len].copy_from_slice(&options);
            let sum = transport_checksum(*self.src.ip(), *self.dst.ip(), 6, tcp);
            tcp[16..18].copy_from_slice(&sum.to_be_bytes());
        }
        ipv4_frame(
            *self.src.ip(),
            *self.dst.ip(),
            IpProtocol::Tcp,
            self.tos,
            self.ttl,
            frame,
        )
    }
}

/// A UDP datagram of `len` zero bytes.
pub fn udp_frame(src: SocketAddrV4, dst: SocketAddrV4, len: usize, tos: u8, ttl: u8) -> Vec<u8> {
    let mut frame = vec![0u8; 20 + 8 + len];
    {
        let udp = &mut frame[20..];
        udp[0..2].copy_from_slice(&src.port().to_be_bytes());
        udp[2..4].copy_from_slice(&dst.port().to_be_bytes());
        let ulen = u16::try_from(8 + len).unwrap_or(u16::MAX);
        udp[4..6].copy_from_slice(&ulen.to_be_bytes());
        let sum = match transport_checksum(*src.ip(), *dst.ip(), 17, udp) {
            0 => 0xffff,
            s => s,
        };
        udp[6..8].copy_from_slice(&sum.to_be_bytes());
    }
    ipv4_frame(*src.ip(), *dst.ip(), IpProtocol::Udp, tos, ttl, frame)
}

/// An ICMP error from `src` to `dst` quoting `quoted` (an IPv4 packet
/// synack sent, of which the IP header and the first 8 bytes of its payload
/// are quoted, RFC 792); `rest` is the 4 bytes after type, code and
/// checksum (unused, or next-hop MTU for "fragmentation needed").
pub fn icmp_error_frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    rest: [u8; 4],
    quoted: &[u8],
) -> Vec<u8> {
    let mut frame = vec![0u8; 20 + 8];
    frame[20] = icmp_type;
    frame[21] = code;
    frame[24..28].copy_from_slice(&rest);
    frame.extend_from_slice(quoted);
    let sum = fold(sum_words(&frame[20..], 0));
    frame[22..24].copy_from_slice(&sum.to_be_bytes());
    ipv4_frame(src, dst, IpProtocol::Icmp, 0, 64, frame)
}

fn sum_words(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [b] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*b) << 8);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The RFC 9293 §3.1 / RFC 768 checksum over the pseudo-header and
/// `segment` (whose checksum field must be zero).
fn transport_checksum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    let mut acc = sum_words(&src.octets(), 0);
    acc = sum_words(&dst.octets(), acc);
    acc = acc.wrapping_add(u32::from(protocol));
    acc = acc.wrapping_add(segment.len() as u32);
    fold(sum_words(segment, acc))
}

/// A packet synack sent, as the runner compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub tos: u8,
    pub ttl: u8,
    pub body: SentBody,
    /// The whole IPv4 packet, for ICMP quotes.
    pub raw: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SentBody {
    Tcp(SentTcp),
    Udp {
        src_port: u16,
        dst_port: u16,
        len: usize,
    },
    Icmp {
        icmp_type: u8,
        code: u8,
    },
    Other {
        protocol: u8,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentTcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    /// The raw acknowledgment field (meaningful with ACK).
    pub ack: u32,
    pub flags: RawFlags,
    pub window: u16,
    pub urg: u16,
    pub options: Vec<u8>,
    pub payload_len: usize,
}

impl Sent {
    /// Parses a packet synack sent; `Err` says what is wrong with it (the
    /// runner fails the script: synack must only send well-formed packets).
    pub fn parse(frame: &[u8]) -> Result<Sent, String> {
        let ip = Ipv4Packet::new_checked(frame).map_err(|e| format!("bad IPv4 packet: {e:?}"))?;
        let repr =
            Ipv4Repr::parse(&ip, Checksum::Full).map_err(|e| format!("bad IPv4 header: {e:?}"))?;
        let payload = ip.payload();
        let body = match repr.protocol {
            IpProtocol::Tcp => {
                if payload.len() < 20 {
                    return Err("TCP header truncated".into());
                }
                let doff = usize::from(payload[12] >> 4) * 4;
                if doff < 20 || doff > payload.len() {
                    return Err(format!("bad TCP data offset {doff}"));
                }
                if transport_checksum(repr.src_addr, repr.dst_addr, 6, &zeroed_sum(payload, 16))
                    != u16::from_be_bytes([payload[16], payload[17]])
                {
                    return Err("bad outbound TCP checksum".into());
                }
                SentBody::Tcp(SentTcp {
                    src_port: u16::from_be_bytes([payload[0], payload[1]]),
                    dst_port: u16::from_be_bytes([payload[2], payload[3]]),
                    seq: u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]),
                    ack: u32::from_be_bytes([payload[8], payload[9], payload[10], payload[11]]),
                    flags: RawFlags {
                        byte13: payload[13],
                        ae: payload[12] & 1 != 0,
                    },
                    window: u16::from_be_bytes([payload[14], payload[15]]),
                    urg: u16::from_be_bytes([payload[18], payload[19]]),
                    options: payload[20..doff].to_vec(),
                    payload_len: payload.len() - doff,
                })
            }
            IpProtocol::Udp if payload.len() >= 8 => SentBody::Udp {
                src_port: u16::from_be_bytes([payload[0], payload[1]]),
                dst_port: u16::from_be_bytes([payload[2], payload[3]]),
                len: payload.len() - 8,
            },
            IpProtocol::Icmp if payload.len() >= 4 => SentBody::Icmp {
                icmp_type: payload[0],
                code: payload[1],
            },
            other => SentBody::Other {
                protocol: u8::from(other),
            },
        };
        Ok(Sent {
            src: repr.src_addr,
            dst: repr.dst_addr,
            tos: repr.dscp_ecn,
            ttl: repr.ttl,
            body,
            raw: frame.to_vec(),
        })
    }

    pub fn tcp(&self) -> Option<&SentTcp> {
        match &self.body {
            SentBody::Tcp(t) => Some(t),
            _ => None,
        }
    }

    /// (source, destination) with ports, for TCP and UDP.
    pub fn tuple(&self) -> Option<(SocketAddrV4, SocketAddrV4)> {
        let (sp, dp) = match &self.body {
            SentBody::Tcp(t) => (t.src_port, t.dst_port),
            SentBody::Udp {
                src_port, dst_port, ..
            } => (*src_port, *dst_port),
            _ => return None,
        };
        Some((
            SocketAddrV4::new(self.src, sp),
            SocketAddrV4::new(self.dst, dp),
        ))
    }
}

fn zeroed_sum(segment: &[u8], at: usize) -> Vec<u8> {
    let mut v = segment.to_vec();
    v[at] = 0;
    v[at + 1] = 0;
    v
}

/// One option in a list of option bytes: its kind and all its bytes.
/// Unlike a receiver's parse, EOL does not end the walk: a script may list
/// several (`<mss 1460,sackOK,eol,eol>`), and they are compared one by one.
pub fn split_options(bytes: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(&k) = rest.first() {
        let len = if k == kind::EOL || k == kind::NOP {
            1
        } else {
            match rest.get(1) {
                Some(&l) if l >= 2 && usize::from(l) <= rest.len() => usize::from(l),
                _ => return Err(format!("malformed TCP option of kind {k}")),
            }
        };
        out.push((k, &rest[..len]));
        rest = &rest[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    #[test]
    fn an_injected_syn_has_the_scripted_header_and_a_valid_checksum() {
        let seg = InboundTcp {
            src: SocketAddrV4::new(A, 40000),
            dst: SocketAddrV4::new(B, 8080),
            seq: 0x0102_0304,
            ack: 0,
            flags: RawFlags {
                byte13: RawFlags::SYN,
                ae: false,
            },
            window: 32792,
            urg: 0,
            // mss 1000, nop, wscale 7: 7 bytes, padded to 8.
            options: vec![2, 4, 0x03, 0xe8, 1, 3, 3, 7],
            payload_len: 0,
            tos: 0,
            ttl: 64,
        };
        let frame = seg.to_frame();
        assert_eq!(frame.len(), 20 + 28);
        // The TCP header, checksum aside.
        assert_eq!(
            &frame[20..36],
            &[
                0x9c, 0x40, 0x1f, 0x90, 1, 2, 3, 4, 0, 0, 0, 0, 0x70, 0x02, 0x80, 0x18
            ]
        );
        let sent = Sent::parse(&frame).expect("the runner's own frame parses");
        let tcp = sent.tcp().unwrap();
        assert_eq!(tcp.seq, 0x0102_0304);
        assert_eq!(tcp.options, vec![2, 4, 0x03, 0xe8, 1, 3, 3, 7]);
        assert_eq!(tcp.flags.script_text(), "S");
    }

    #[test]
    fn a_bad_checksum_is_caught() {
        let seg = InboundTcp {
            src: SocketAddrV4::new(A, 1),
            dst: SocketAddrV4::new(B, 2),
            seq: 1,
            ack: 2,
            flags: RawFlags {
                byte13: RawFlags::ACK,
                ae: true,
            },
            window: 3,
            urg: 0,
            options: vec![],
            payload_len: 5,
            tos: 0,
            ttl: 64,
        };
        let mut frame = seg.to_frame();
        assert_eq!(
            Sent::parse(&frame)
                .unwrap()
                .tcp()
                .unwrap()
                .flags
                .script_text(),
            ".A"
        );
        frame[40] ^= 1;
        assert!(Sent::parse(&frame).unwrap_err().contains("checksum"));
    }

    #[test]
    fn options_split_keeps_every_eol_and_rejects_bad_lengths() {
        let opts = [2, 4, 5, 0xb4, 4, 2, 0, 0];
        let split = split_options(&opts).unwrap();
        let kinds: Vec<u8> = split.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, vec![2, 4, 0, 0]);
        assert!(split_options(&[2, 9, 0]).is_err());
        assert!(split_options(&[8, 1]).is_err());
    }

    #[test]
    fn flags_from_an_ace_digit_set_the_three_ecn_bits() {
        let f = crate::script::TcpFlags::parse(".5").unwrap();
        let raw = RawFlags::from_script(&f);
        assert!(raw.has(RawFlags::ECE) && !raw.has(RawFlags::CWR) && raw.ae);
    }
}
