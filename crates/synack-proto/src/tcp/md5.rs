//! The TCP MD5 signature option (RFC 2385): a keyed digest on every segment
//! of a connection, so that no one without the key can inject a segment
//! into it (a reset that would end a BGP session, say).
//!
//! Read first: RFC 2385 §2.0 (what is digested, in order: "the TCP
//! pseudo-header (in the order: source IP address, destination IP address,
//! zero-padded protocol number, and segment length)", "the TCP header,
//! excluding options, and assuming a checksum of zero", "the TCP segment
//! data (if any)", "an independently-specified key or password, known to
//! both TCPs"), §3.0 (the option: kind 19, length 18, 16 bytes of digest)
//! and §4.0 ("Unsigned segments received where a signature is expected
//! must be discarded", as a failing comparison is, "and must not produce
//! any response back to the sender"). RFC 5925 (TCP-AO) obsoletes it;
//! BGP speakers still use it, and Linux's TCP_MD5SIG is what they set.
//!
//! This module is the wire side: the key, where a segment's digest sits,
//! and signing and verifying a written segment. Which segments must be
//! signed and with which key is the stack's (`stack::tcp_md5`).

use core::fmt;
use core::net::Ipv4Addr;

use md5::{Digest, Md5};

use crate::wire::ipv4::IpProtocol;
use crate::wire::tcp::options::kind;
use crate::wire::tcp::{HEADER_LEN, TcpPacket};

/// Bytes of digest in the option (RFC 2385 §3.0).
pub const MD5_DIGEST_LEN: usize = 16;
/// Bytes the option takes in a header: `nop, nop, 19, 18` and the digest
/// (Linux's `TCPOLEN_MD5SIG_ALIGNED`).
pub const MD5_OPTION_LEN: usize = 20;
/// The longest key Linux takes (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_KEY_LEN: usize = 80;

/// A connection's secret: 1 to [`MAX_KEY_LEN`] bytes. Its `Debug` shows
/// the length only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Md5Key {
    bytes: [u8; MAX_KEY_LEN],
    len: u8,
}

impl Md5Key {
    /// A key of 1 to 80 bytes; `None` for an empty or longer one (Linux:
    /// an empty key deletes, a longer one is EINVAL).
    pub fn new(key: &[u8]) -> Option<Self> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return None;
        }
        let mut bytes = [0; MAX_KEY_LEN];
        bytes[..key.len()].copy_from_slice(key);
        Some(Md5Key {
            bytes,
            len: key.len() as u8,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Md5Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5Key({} bytes)", self.len)
    }
}

/// Where the digest of `segment`'s MD5 signature option starts (its 16
/// bytes), or `None` when it has none (or a broken header). The options
/// are walked as the parser walks them; an option of kind 19 with another
/// length is no signature.
pub fn digest_at(segment: &[u8]) -> Option<usize> {
    let packet = TcpPacket::new_checked(segment).ok()?;
    let header_len = usize::from(packet.header_len());
    let mut at = HEADER_LEN;
    while at < header_len {
        match segment[at] {
            kind::END_OF_LIST => return None,
            kind::NOP => at += 1,
            k => {
                let len = usize::from(*segment.get(at + 1)?);
                if len < 2 || at + len > header_len {
                    return None;
                }
                if k == kind::MD5_SIGNATURE && len == 2 + MD5_DIGEST_LEN {
                    return Some(at + 2);
                }
                at += len;
            }
        }
    }
    None
}

/// RFC 2385 §2.0's digest of `segment` (a whole TCP segment, header first)
/// from `src` to `dst` under `key`.
pub fn digest(key: &Md5Key, src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> [u8; MD5_DIGEST_LEN] {
    let header_len = TcpPacket::new_unchecked(segment).header_len();
    let data = segment.get(usize::from(header_len)..).unwrap_or(&[]);
    let mut md5 = Md5::new();
    // 1. The pseudo-header: the segment's length as 16 bits.
    md5.update(src.octets());
    md5.update(dst.octets());
    md5.update([0, u8::from(IpProtocol::Tcp)]);
    md5.update((segment.len() as u16).to_be_bytes());
    // 2. The fixed header with a zero checksum, no options.
    let mut fixed = [0; HEADER_LEN];
    fixed.copy_from_slice(&segment[..HEADER_LEN]);
    fixed[16..18].fill(0);
    md5.update(fixed);
    // 3. The data, 4. the key.
    md5.update(data);
    md5.update(key.as_bytes());
    md5.finalize().into()
}

/// Signs a written segment: its signature option's digest (written as
/// zeros by `TcpOptions::emit`) filled in, and its checksum summed again
/// over it, whole. `false`, changing nothing, when it has no such option.
pub fn sign(key: &Md5Key, src: Ipv4Addr, dst: Ipv4Addr, segment: &mut [u8]) -> bool {
    let Some(at) = digest_at(segment) else {
        return false;
    };
    let d = digest(key, src, dst, segment);
    segment[at..at + MD5_DIGEST_LEN].copy_from_slice(&d);
    TcpPacket::new_unchecked(&mut *segment).fill_checksum(src, dst);
    true
}

/// What a received segment's signature says under the key expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The digest is right.
    Valid,
    /// No signature where one is expected (Linux's `TCPMD5NotFound`).
    Missing,
    /// A signature that is wrong (Linux's `TCPMD5Failure`).
    Wrong,
}

/// Checks `segment` from `src` to `dst` against `key` (RFC 2385 §2.0),
/// comparing every byte of the digest whatever the first difference.
pub fn verify(key: &Md5Key, src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> Verdict {
    let Some(at) = digest_at(segment) else {
        return Verdict::Missing;
    };
    let expected = digest(key, src, dst, segment);
    let got = &segment[at..at + MD5_DIGEST_LEN];
    let differ = expected
        .iter()
        .zip(got)
        .fold(0, |acc, (a, b)| acc | (a ^ b));
    if differ == 0 {
        Verdict::Valid
    } else {
        Verdict::Wrong
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::{TcpOptions, TcpTimestamp};

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// A segment with a signature's place and a timestamp, and `data`.
    fn segment(data: &[u8]) -> Vec<u8> {
        let options = TcpOptions {
            md5: true,
            timestamp: Some(TcpTimestamp { tsval: 7, tsecr: 9 }),
            ..TcpOptions::default()
        };
        let mut opts = [0; 40];
        let n = options.emit(&mut opts);
        assert_eq!(n, 32, "signature, then nop, nop, TS");
        let mut seg = vec![0; HEADER_LEN + n];
        seg[0..2].copy_from_slice(&179u16.to_be_bytes());
        seg[2..4].copy_from_slice(&40000u16.to_be_bytes());
        seg[4..8].copy_from_slice(&1000u32.to_be_bytes());
        seg[12] = (((HEADER_LEN + n) / 4) as u8) << 4;
        seg[13] = 0x18;
        seg[14..16].copy_from_slice(&512u16.to_be_bytes());
        seg[HEADER_LEN..].copy_from_slice(&opts[..n]);
        seg.extend_from_slice(data);
        seg
    }

    /// RFC 2385 §2.0 spelled out byte by byte, as a reference: the
    /// pseudo-header, the fixed header with a zero checksum, the data, the
    /// key, through the hash once.
    fn reference(key: &[u8], seg: &[u8]) -> [u8; 16] {
        let header_len = usize::from(seg[12] >> 4) * 4;
        let mut input = Vec::new();
        input.extend_from_slice(&SRC.octets());
        input.extend_from_slice(&DST.octets());
        input.extend_from_slice(&[0, 6]);
        input.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        input.extend_from_slice(&seg[..16]);
        input.extend_from_slice(&[0, 0]);
        input.extend_from_slice(&seg[18..20]);
        input.extend_from_slice(&seg[header_len..]);
        input.extend_from_slice(key);
        Md5::digest(&input).into()
    }

    #[test]
    fn the_digest_covers_what_rfc_2385_lists_and_nothing_else() {
        let key = Md5Key::new(b"bgp-secret").unwrap();
        let mut seg = segment(b"OPEN message");
        assert!(sign(&key, SRC, DST, &mut seg));
        let at = digest_at(&seg).unwrap();
        assert_eq!(at, HEADER_LEN + 4);
        assert_eq!(seg[at..at + 16], reference(b"bgp-secret", &seg));
        assert!(TcpPacket::new_unchecked(&seg[..]).verify_checksum(SRC, DST));
        assert_eq!(verify(&key, SRC, DST, &seg), Verdict::Valid);
        // The options (the timestamp) are not digested: a middlebox that
        // rewrites them leaves the signature whole (RFC 2385 §2.0).
        let mut ts_changed = seg.clone();
        ts_changed[HEADER_LEN + 24] ^= 1;
        assert_eq!(verify(&key, SRC, DST, &ts_changed), Verdict::Valid);
        // Everything else is.
        for at in [0, 5, 13, 15, 19, seg.len() - 1] {
            let mut bad = seg.clone();
            bad[at] ^= 0x40;
            assert_eq!(verify(&key, SRC, DST, &bad), Verdict::Wrong, "byte {at}");
        }
        assert_eq!(verify(&key, DST, SRC, &seg), Verdict::Wrong, "addresses");
        let other = Md5Key::new(b"bgp-secreT").unwrap();
        assert_eq!(verify(&other, SRC, DST, &seg), Verdict::Wrong, "key");
    }

    #[test]
    fn a_segment_without_the_option_is_missing_and_is_not_signed() {
        let key = Md5Key::new(b"k").unwrap();
        let mut seg = segment(b"");
        // Kind 19 with length 17: no signature.
        seg[HEADER_LEN + 3] = 17;
        let before = seg.clone();
        assert_eq!(digest_at(&seg), None);
        assert!(!sign(&key, SRC, DST, &mut seg));
        assert_eq!(seg, before);
        assert_eq!(verify(&key, SRC, DST, &seg), Verdict::Missing);
        assert_eq!(verify(&key, SRC, DST, &[0; 10]), Verdict::Missing);
    }

    #[test]
    fn keys_are_1_to_80_bytes_and_never_printed() {
        assert!(Md5Key::new(b"").is_none());
        assert!(Md5Key::new(&[7; 81]).is_none());
        let key = Md5Key::new(&[7; 80]).unwrap();
        assert_eq!(key.as_bytes(), &[7; 80]);
        assert_eq!(
            format!("{:?}", Md5Key::new(b"hunter2").unwrap()),
            "Md5Key(7 bytes)"
        );
    }
}
