//! Fuzz entry points: one per parser, shared by the cargo-fuzz targets in
//! `fuzz/` and by `tests/fuzz_corpus.rs`, which replays the corpora on
//! stable Rust.
//!
//! Each function parses arbitrary bytes. When the parse succeeds it emits
//! the representation into a junk-filled buffer, parses that again and
//! asserts both parses agree. That assertion is the only panic allowed: it
//! means parse and emit disagree, a real bug.
//!
//! The round trip starts from a parse that trusts checksums
//! (`Checksum::Offload`), so the fuzzer gets past them and reaches the inner
//! layers; the re-parse verifies the checksums emit computed. The result is
//! the first error a strict parse (`Checksum::Full`) meets on the way down,
//! which the corpus test checks: real frames pass, crafted bad ones fail.
//!
//! The bare TCP and UDP targets read the pseudo-header addresses from the
//! input's first 8 bytes (source, then destination), so real segments of
//! either direction verify.

use core::net::Ipv4Addr;

use super::{
    ArpPacket, ArpRepr, Checksum, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr,
    IpProtocol, Ipv4Packet, Ipv4Repr, TcpOptionIter, TcpOptions, TcpPacket, TcpRepr, UdpPacket,
    UdpRepr, WireError,
};
use crate::wire::tcp::TcpOption;

fn junk(len: usize) -> Vec<u8> {
    vec![0xAA; len]
}

/// An Ethernet frame, parsed down through IPv4 to TCP, UDP or ICMP, or ARP.
pub fn ethernet(data: &[u8]) -> Result<(), WireError> {
    let frame = EthernetFrame::new_checked(data)?;
    let repr = EthernetRepr::parse(&frame)?;
    let payload = frame.payload();
    let mut buf = junk(repr.buffer_len(payload.len()));
    let mut out = EthernetFrame::new_unchecked(&mut buf[..]);
    repr.emit(&mut out);
    out.payload_mut().copy_from_slice(payload);
    let again = EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..])?);
    assert_eq!(again, Ok(repr), "Ethernet round trip");
    match repr.ethertype {
        EtherType::Ipv4 => ipv4(payload),
        EtherType::Arp => arp(payload),
        _ => Ok(()),
    }
}

/// An IPv4 datagram and, unless it is a fragment, what it carries.
pub fn ipv4(data: &[u8]) -> Result<(), WireError> {
    let packet = Ipv4Packet::new_checked(data)?;
    let strict = Ipv4Repr::parse(&packet, Checksum::Full).map(drop);
    let repr = Ipv4Repr::parse(&packet, Checksum::Offload)?;
    let payload = packet.payload();
    let mut buf = junk(repr.buffer_len());
    let mut out = Ipv4Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut out, Checksum::Full);
    out.payload_mut().copy_from_slice(payload);
    let out = Ipv4Packet::new_checked(&buf[..]).expect("emitted IPv4 must be well-formed");
    assert_eq!(
        Ipv4Repr::parse(&out, Checksum::Full),
        Ok(repr),
        "IPv4 round trip"
    );
    assert_eq!(out.payload(), payload, "IPv4 payload round trip");
    if repr.is_fragment() {
        return strict;
    }
    let (src, dst) = (repr.src_addr, repr.dst_addr);
    let inner = match repr.protocol {
        IpProtocol::Tcp => tcp_between(src, dst, payload),
        IpProtocol::Udp => udp_between(src, dst, payload),
        IpProtocol::Icmp => icmpv4(payload),
        IpProtocol::Igmp => igmp(payload),
        IpProtocol::Unknown(_) => Ok(()),
    };
    strict.and(inner)
}

/// Splits `src ++ dst ++ rest` for the bare transport targets.
fn addresses(data: &[u8]) -> Result<(Ipv4Addr, Ipv4Addr, &[u8]), WireError> {
    let Some((addrs, rest)) = data.split_at_checked(8) else {
        return Err(WireError::Truncated);
    };
    let src = Ipv4Addr::new(addrs[0], addrs[1], addrs[2], addrs[3]);
    let dst = Ipv4Addr::new(addrs[4], addrs[5], addrs[6], addrs[7]);
    Ok((src, dst, rest))
}

/// Source and destination address (8 bytes), then a TCP segment.
pub fn tcp_segment(data: &[u8]) -> Result<(), WireError> {
    let (src, dst, segment) = addresses(data)?;
    tcp_between(src, dst, segment)
}

fn tcp_between(src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> Result<(), WireError> {
    let packet = TcpPacket::new_checked(data)?;
    let strict = TcpRepr::parse(&packet, src, dst, Checksum::Full).map(drop);
    let repr = TcpRepr::parse(&packet, src, dst, Checksum::Offload)?;
    let mut buf = junk(repr.buffer_len());
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut buf[..]),
        src,
        dst,
        Checksum::Full,
    );
    let out = TcpPacket::new_checked(&buf[..]).expect("emitted TCP must be well-formed");
    let expected = TcpRepr {
        options: repr.options.as_emitted(),
        ..repr
    };
    assert_eq!(
        TcpRepr::parse(&out, src, dst, Checksum::Full),
        Ok(expected),
        "TCP round trip"
    );
    strict
}

/// Raw TCP option bytes: the iterator, each option's re-emission, and the
/// summary's Linux-layout round trip.
pub fn tcp_options(data: &[u8]) -> Result<(), WireError> {
    let mut steps = 0;
    let mut rest = data;
    for option in TcpOptionIter::new(data) {
        steps += 1;
        assert!(steps <= data.len(), "option iteration must consume bytes");
        let Ok(option) = option else { break };
        let mut out = [0xAA; 256];
        let len = option.emit(&mut out);
        assert_eq!(
            &out[..len],
            &rest[..len],
            "option {option:?} re-emits its bytes"
        );
        if option == TcpOption::EndOfList {
            break;
        }
        rest = &rest[len..];
    }
    let summary = TcpOptions::parse(data)?;
    let mut out = [0xAA; 64];
    let len = summary.emit(&mut out);
    assert!(len <= 40 && len % 4 == 0, "emitted options fit 40 bytes");
    assert_eq!(
        TcpOptions::parse(&out[..len]),
        Ok(summary.as_emitted()),
        "TCP options summary round trip"
    );
    Ok(())
}

/// Source and destination address (8 bytes), then a UDP datagram.
pub fn udp(data: &[u8]) -> Result<(), WireError> {
    let (src, dst, datagram) = addresses(data)?;
    udp_between(src, dst, datagram)
}

fn udp_between(src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> Result<(), WireError> {
    let packet = UdpPacket::new_checked(data)?;
    let strict = UdpRepr::parse(&packet, src, dst, Checksum::Full).map(drop);
    let repr = UdpRepr::parse(&packet, src, dst, Checksum::Offload)?;
    let mut buf = junk(repr.buffer_len());
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut buf[..]),
        src,
        dst,
        Checksum::Full,
    );
    let out = UdpPacket::new_checked(&buf[..]).expect("emitted UDP must be well-formed");
    assert_eq!(
        UdpRepr::parse(&out, src, dst, Checksum::Full),
        Ok(repr),
        "UDP round trip"
    );
    strict
}

/// IGMP: a version 1 or 2 message that parses writes back the same (a
/// version 3 query's time may not fit the 8-byte form); a version 3 query
/// writes back its fields and sources, a version 3 report its records.
fn igmp(data: &[u8]) -> Result<(), WireError> {
    use super::igmp::{IgmpRepr, parse_v3_report, v3_query_bytes, v3_report_bytes};
    let repr = match IgmpRepr::parse(data, Checksum::Full) {
        Err(WireError::Unsupported) if data.first() == Some(&0x22) => {
            let records = parse_v3_report(data, Checksum::Full)?;
            let bytes = v3_report_bytes(&records);
            assert_eq!(
                parse_v3_report(&bytes, Checksum::Full),
                Ok(records),
                "IGMPv3 report round trip"
            );
            return Ok(());
        }
        r => r?,
    };
    if let IgmpRepr::Query {
        max_resp_tenths,
        group,
        v3: Some(q),
    } = repr
    {
        let sources: Vec<_> = q.sources().collect();
        let bytes = v3_query_bytes(
            max_resp_tenths,
            group,
            q.robustness,
            q.query_interval_secs,
            &sources,
        );
        let back = IgmpRepr::parse(&bytes, Checksum::Full);
        assert_eq!(back, Ok(repr), "IGMPv3 query round trip");
        return Ok(());
    }
    if data.len() == super::igmp::HEADER_LEN {
        let bytes = repr.to_bytes();
        assert_eq!(
            IgmpRepr::parse(&bytes, Checksum::Full),
            Ok(repr),
            "IGMP round trip"
        );
    }
    Ok(())
}

/// An ICMPv4 message.
pub fn icmpv4(data: &[u8]) -> Result<(), WireError> {
    let packet = Icmpv4Packet::new_checked(data)?;
    let strict = Icmpv4Repr::parse(&packet, Checksum::Full).map(drop);
    let repr = Icmpv4Repr::parse(&packet, Checksum::Offload)?;
    let mut buf = junk(repr.buffer_len());
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf[..]),
        Checksum::Full,
    );
    let out = Icmpv4Packet::new_checked(&buf[..]).expect("emitted ICMP must be well-formed");
    assert_eq!(
        Icmpv4Repr::parse(&out, Checksum::Full),
        Ok(repr),
        "ICMPv4 round trip"
    );
    strict
}

/// An ARP packet.
pub fn arp(data: &[u8]) -> Result<(), WireError> {
    let packet = ArpPacket::new_checked(data)?;
    let repr = ArpRepr::parse(&packet)?;
    let mut buf = junk(repr.buffer_len());
    repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
    let out = ArpPacket::new_checked(&buf[..]).expect("emitted ARP must be well-formed");
    assert_eq!(ArpRepr::parse(&out), Ok(repr), "ARP round trip");
    Ok(())
}

/// A fuzz target: bytes in, the strict parse's verdict out.
pub type Target = fn(&[u8]) -> Result<(), WireError>;

/// Every target, by the name its `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/` use.
pub const TARGETS: [(&str, Target); 7] = [
    ("ethernet", ethernet),
    ("ipv4", ipv4),
    ("tcp_segment", tcp_segment),
    ("tcp_options", tcp_options),
    ("udp", udp),
    ("icmpv4", icmpv4),
    ("arp", arp),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_bytes_never_panic_any_target(
            bytes in proptest::collection::vec(any::<u8>(), 0..160)
        ) {
            for (_, target) in TARGETS {
                let _ = target(&bytes);
            }
        }

        #[test]
        fn plausible_frames_never_panic(
            ihl in 5u8..=6, proto in prop_oneof![Just(1u8), Just(6), Just(17)],
            tail in proptest::collection::vec(any::<u8>(), 0..120)
        ) {
            // An Ethernet + IPv4 header that passes the length checks, so the
            // fuzzing reaches the transport parsers.
            let total = (usize::from(ihl) * 4 + tail.len()).max(usize::from(ihl) * 4);
            let mut f = vec![0u8; 14 + usize::from(ihl) * 4];
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            f[14] = 0x40 | ihl;
            f[16..18].copy_from_slice(&(total as u16).to_be_bytes());
            f[23] = proto;
            f.extend_from_slice(&tail);
            let _ = ethernet(&f);
        }
    }
}
