//! The Internet checksum: 16-bit ones' complement of the ones' complement sum.
//!
//! Read before touching: RFC 1071 (computing it, and why byte order and word
//! size do not matter), RFC 1141 and RFC 1624 (incremental update, and why
//! `~(~HC + ~m + m')` is the correct form), RFC 9293 §3.1 and RFC 768 (the
//! pseudo-header for TCP and UDP over IPv4).
//!
//! Vocabulary used here: a *sum* is a folded, not yet complemented ones'
//! complement sum (what [`data`], [`pseudo_header`] and [`combine`] return);
//! a *checksum* is its complement, the value carried in a header. A buffer
//! whose checksum field is correct sums to `0xFFFF`.

use core::net::Ipv4Addr;

use super::ipv4::IpProtocol;

/// What parse and emit do with checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Checksum {
    /// Parse verifies every checksum; emit computes and writes every checksum.
    #[default]
    Full,
    /// Someone else does it (a NIC or virtio offload, or a test that wants
    /// raw fields): parse trusts the checksum without reading it, emit writes
    /// zero into the checksum field for the offload to fill in.
    Offload,
}

impl Checksum {
    /// Whether checksums are verified on parse and computed on emit.
    pub const fn is_full(self) -> bool {
        matches!(self, Checksum::Full)
    }
}

/// Bytes summed per block before the lanes are folded, so no lane can
/// overflow: a portable lane gains at most `u32::MAX` per 32 bytes; the x86
/// kernels' 32-bit lanes hold signed words, and 64 KiB keeps even their
/// total within `i32`, so they add their lanes up without widening
/// (`simd.rs` checks the bound at compile time). Every segment, even at MTU
/// 65535, is one block.
const BLOCK: usize = 1 << 16;

/// The folded ones' complement sum of `bytes` as big-endian 16-bit words; an
/// odd final byte is padded with zero on the right (RFC 1071 §4.1).
///
/// Written for speed: the bytes are summed in wide lanes (on x86 with the
/// widest vectors the CPU has, see `simd.rs`), folded once at the end.
/// RFC 1071 §2(B) makes the native byte order harmless: summing byte-swapped
/// words yields the byte-swapped sum, which is swapped back at the end.
/// Alignment does not matter.
pub fn data(bytes: &[u8]) -> u16 {
    if bytes.len() <= SHORT {
        // Headers (IP, TCP with options): no lanes to set up and fold.
        return header(bytes);
    }
    if bytes.len() <= BLOCK {
        // Every packet: skip the block loop.
        return u16::from_be(fold(sum_block(bytes)));
    }
    data_blocks(bytes)
}

/// [`data`] beyond one block (a segment built for offload, a test), out of
/// line so the common path's frame stays small.
#[inline(never)]
fn data_blocks(bytes: &[u8]) -> u16 {
    let mut total: u64 = 0;
    for block in bytes.chunks(BLOCK) {
        total = add_end_around(total, sum_block(block));
    }
    u16::from_be(fold(total))
}

/// [`data`] for a header (at most 64 bytes), inlined where it is called so
/// a fixed length unrolls.
#[inline]
pub fn header(bytes: &[u8]) -> u16 {
    debug_assert!(bytes.len() <= SHORT);
    u16::from_be(fold(sum_short(bytes)))
}

/// [`header`] of a 20-byte IPv4 header without options (RFC 791), as two
/// 64-bit words and one 32-bit word with end-around carry (RFC 1071
/// §2(C)): three additions instead of five, and no loop.
#[inline(always)]
pub fn ipv4_header(bytes: &[u8; 20]) -> u16 {
    let (a, b, c) = (
        bytes.first_chunk::<8>(),
        bytes[8..].first_chunk::<8>(),
        bytes.last_chunk::<4>(),
    );
    let (Some(a), Some(b), Some(&c)) = (a, b, c) else {
        return header(bytes);
    };
    let wide = add_end_around(u64::from_ne_bytes(*a), u64::from_ne_bytes(*b));
    u16::from_be(fold(add_end_around(wide, u64::from(u32::from_ne_bytes(c)))))
}

/// A sum kept in native byte order and not yet folded: 16-bit parts added
/// at their place in native-endian 16-, 32- or 64-bit words (RFC 1071
/// §2(B): the byte order only swaps the result, which [`native_folded`]
/// swaps back). The caller keeps it from overflowing (few parts).
#[inline(always)]
pub fn native_folded(acc: u64) -> u16 {
    u16::from_be(fold(acc))
}

/// The native-endian form of a sum (a [`data`] result) for adding to a
/// sum that [`native_folded`] finishes.
#[inline(always)]
pub fn to_native(sum: u16) -> u64 {
    u64::from(sum.to_be())
}

/// [`data`] of 32-bit words as they go on the wire (big-endian), summed
/// from their values: a header built as words is summed without reading
/// back the bytes just stored (RFC 1071 §2(B): the sum of the halves of a
/// 32-bit value is that value folded).
#[inline]
pub fn words(words: &[u32]) -> u16 {
    fold(words.iter().map(|&w| u64::from(w)).sum())
}

/// Inputs up to this long are summed word by word ([`sum_short`]).
const SHORT: usize = 64;

/// The native-endian sum of a short input (a header), not yet folded: one
/// 32-bit word at a time into one 64-bit accumulator, which cannot overflow
/// for any input shorter than 2^34 bytes.
#[inline]
fn sum_short(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(4);
    let mut acc: u64 = 0;
    for w in &mut words {
        acc += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    match *words.remainder() {
        [a, b, c] => {
            acc + u64::from(u16::from_ne_bytes([a, b])) + u64::from(u16::from_ne_bytes([c, 0]))
        }
        [a, b] => acc + u64::from(u16::from_ne_bytes([a, b])),
        // The odd byte is the high byte of a big-endian word padded with zero.
        [a] => acc + u64::from(u16::from_ne_bytes([a, 0])),
        _ => acc,
    }
}

/// The bytes after a block loop's last full vector (fewer than 32), copied
/// and summed in pieces of 16, 8, 4, 2 and 1 bytes (the bits of the
/// length): each piece a fixed-size load, a fixed-size store, and 64-bit
/// ones' complement additions (RFC 1071 §2(C): wider words with end-around
/// carry give the same folded sum). No loop and no `memcpy` call, which on
/// a segment cost more than the piece itself.
struct Tail<'a> {
    src: &'a [u8],
    /// Where the bytes go, if they are copied; `None` when only summed.
    dst: Option<&'a mut [u8]>,
}

impl Tail<'_> {
    /// The next `N` bytes, if there are that many, copied to `dst`.
    #[inline(always)]
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.src.split_first_chunk::<N>()?;
        self.src = rest;
        if let Some(dst) = self.dst.take() {
            // Callers pass `dst` as long as `src`.
            let (to, dst_rest) = dst.split_at_mut(N);
            to.copy_from_slice(head);
            self.dst = Some(dst_rest);
        }
        Some(*head)
    }

    /// The native-endian sum of the tail, not yet folded, after copying it.
    /// Pieces keep their even offsets (each but the last is of even length),
    /// so the words stay aligned as in the block; a last odd byte is padded
    /// with zero on the right (RFC 1071 §4.1).
    #[inline(always)]
    fn sum(mut self) -> u64 {
        debug_assert!(self.src.len() < 32);
        let mut sum = 0;
        if let Some(w) = self.take::<16>() {
            // The halves of a native u128 are the native u64 words of its
            // halves, whichever the byte order.
            let w = u128::from_ne_bytes(w);
            sum = add_end_around(w as u64, (w >> 64) as u64);
        }
        if let Some(w) = self.take::<8>() {
            sum = add_end_around(sum, u64::from_ne_bytes(w));
        }
        if let Some(w) = self.take::<4>() {
            sum = add_end_around(sum, u64::from(u32::from_ne_bytes(w)));
        }
        if let Some(w) = self.take::<2>() {
            sum = add_end_around(sum, u64::from(u16::from_ne_bytes(w)));
        }
        if let Some([a]) = self.take::<1>() {
            sum = add_end_around(sum, u64::from(u16::from_ne_bytes([a, 0])));
        }
        sum
    }
}

// The block loops: explicit vectors chosen at run time on x86 (the
// portable loop is their fallback there), the portable loop elsewhere.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod simd;
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
use portable::{copy_block, sum_block};
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
use simd::{copy_block, sum_block};

/// The block loops in plain Rust, for any target.
mod portable {
    use super::{Tail, add_end_around};

    /// The native-endian ones' complement sum of one block (at most
    /// [`super::BLOCK`] bytes), not yet folded.
    ///
    /// Eight independent 64-bit lanes each gather one native 32-bit word per
    /// 32-byte chunk (the compiler turns this into SIMD adds), and the lanes
    /// are folded once at the end; the last bytes go through [`Tail`].
    #[inline]
    pub(super) fn sum_block(block: &[u8]) -> u64 {
        let mut lanes = [0u64; 8];
        let mut chunks = block.chunks_exact(32);
        for chunk in &mut chunks {
            for (i, lane) in lanes.iter_mut().enumerate() {
                let word = [
                    chunk[4 * i],
                    chunk[4 * i + 1],
                    chunk[4 * i + 2],
                    chunk[4 * i + 3],
                ];
                *lane += u64::from(u32::from_ne_bytes(word));
            }
        }
        // Each lane is below 2^43 here (at most 2^11 chunks of u32 words), so
        // these additions cannot overflow.
        let acc: u64 = lanes.iter().sum();
        let tail = Tail {
            src: chunks.remainder(),
            dst: None,
        };
        add_end_around(acc, tail.sum())
    }

    /// [`sum_block`] that also copies `src` into `dst` (of the same length):
    /// same lanes, same bound on their growth.
    #[inline]
    pub(super) fn copy_block(dst: &mut [u8], src: &[u8]) -> u64 {
        let mut lanes = [0u64; 8];
        let mut d_chunks = dst.chunks_exact_mut(32);
        let mut s_chunks = src.chunks_exact(32);
        for (d, s) in (&mut d_chunks).zip(&mut s_chunks) {
            d.copy_from_slice(s);
            for (i, lane) in lanes.iter_mut().enumerate() {
                let word = [s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]];
                *lane += u64::from(u32::from_ne_bytes(word));
            }
        }
        let acc: u64 = lanes.iter().sum();
        let tail = Tail {
            src: s_chunks.remainder(),
            dst: Some(d_chunks.into_remainder()),
        };
        add_end_around(acc, tail.sum())
    }
}

/// Copies `src` into `dst` (of the same length) and returns [`data`] of the
/// bytes copied: one pass over the payload instead of a copy and then a
/// checksum pass (the segment's data is summed while it is in registers).
///
/// # Panics
/// If the lengths differ (a caller bug, never wire input).
#[inline]
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u16 {
    // `assert!`, not `assert_eq!`: formatting the lengths would cost
    // every call two stores.
    assert!(dst.len() == src.len(), "copy_and_sum: lengths differ");
    if src.is_empty() {
        // The second piece of a ring buffer's data, on every segment that
        // does not wrap: checked where the call is made, so it costs no
        // call, no lane setup and no fold.
        return 0;
    }
    copy_and_sum_some(dst, src)
}

/// [`copy_and_sum`] of data held in two pieces (a ring buffer's two slices
/// either side of its wrap) into `dst` (their joint length), which starts
/// at an even offset of the checksummed whole: the two sums, the second
/// swapped when it starts at an odd offset (RFC 1071 §2(B)), to be added
/// with the caller's other parts in one [`combine`].
///
/// # Panics
/// If `dst` is not as long as the two pieces (a caller bug).
#[inline]
pub fn copy_and_sum_pieces(dst: &mut [u8], pieces: (&[u8], &[u8])) -> [u16; 2] {
    let (first, second) = dst.split_at_mut(pieces.0.len());
    let first_sum = copy_and_sum(first, pieces.0);
    let mut second_sum = copy_and_sum(second, pieces.1);
    if pieces.0.len() % 2 == 1 {
        second_sum = swap(second_sum);
    }
    [first_sum, second_sum]
}

/// [`copy_and_sum`] of at least one byte.
#[inline(never)]
fn copy_and_sum_some(dst: &mut [u8], src: &[u8]) -> u16 {
    if src.len() < 32 {
        // A few bytes (an interactive segment's text): the tail's
        // fixed-size pieces alone, with no CPU dispatch and no vector lanes
        // to set up and fold.
        let tail = Tail {
            src,
            dst: Some(dst),
        };
        return u16::from_be(fold(tail.sum()));
    }
    if src.len() <= BLOCK {
        // Every segment: skip the block loop.
        return u16::from_be(fold(copy_block(dst, src)));
    }
    copy_and_sum_blocks(dst, src)
}

/// [`copy_and_sum`] beyond one block, out of line like [`data_blocks`].
#[inline(never)]
fn copy_and_sum_blocks(dst: &mut [u8], src: &[u8]) -> u16 {
    let mut total: u64 = 0;
    for (d, s) in dst.chunks_mut(BLOCK).zip(src.chunks(BLOCK)) {
        total = add_end_around(total, copy_block(d, s));
    }
    u16::from_be(fold(total))
}

/// Byte-swaps a sum: the sum of data that starts at an odd offset within
/// the checksummed whole (RFC 1071 §2(B)).
#[inline]
pub const fn swap(sum: u16) -> u16 {
    sum.swap_bytes()
}

/// 64-bit ones' complement addition (end-around carry).
#[inline]
fn add_end_around(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + u64::from(carry)
}

/// Folds a wide ones' complement sum to 16 bits: the halves added with
/// end-around carry, twice (RFC 1071 §2(B)). Adding the carry back cannot
/// carry again (a sum that carried is at most `2 * MAX - 2^n`), and the
/// result is zero only for a zero input, as with any ones' complement
/// addition of non-negative parts.
#[inline]
fn fold(s: u64) -> u16 {
    let (s, carry) = (s as u32).overflowing_add((s >> 32) as u32);
    let s = s + u32::from(carry);
    let (s, carry) = (s as u16).overflowing_add((s >> 16) as u16);
    s + u16::from(carry)
}

/// Ones' complement sum of partial sums (RFC 1071 §2(C): sums of disjoint
/// parts combine by addition, as long as each part starts at an even offset).
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    let total: u64 = sums.iter().map(|&s| u64::from(s)).sum();
    fold(total)
}

/// Sum of the IPv4 pseudo-header that TCP (RFC 9293 §3.1) and UDP (RFC 768)
/// prepend for their checksum: source, destination, zero, protocol, and the
/// length of the TCP/UDP header plus data. The length is taken as 32 bits
/// (both halves summed) so a segment built for segmentation offload, longer
/// than 65535 bytes, still sums consistently.
#[inline]
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, length: u32) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let words = [
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        u16::from(u8::from(protocol)),
        (length >> 16) as u16,
        length as u16,
    ];
    combine(&words)
}

/// [`combine`] of [`pseudo_header`] and [`data`] of `bytes` (the segment
/// or its header, starting right after the pseudo-header): for a short
/// `bytes` (every header, every segment without payload) both are summed
/// in one native-endian accumulator and folded once, with no call and no
/// per-part fold. A 20- or 32-byte input (a bare header, or one with only
/// the timestamp option: nearly every segment) is summed as a fixed array,
/// which unrolls. `length` is the pseudo-header's length field.
#[inline(always)]
pub fn with_pseudo_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    length: u32,
    bytes: &[u8],
) -> u16 {
    let data = match bytes.len() {
        20 => bytes.first_chunk::<20>().map_or(0, |b| sum_short(b)),
        32 => bytes.first_chunk::<32>().map_or(0, |b| sum_short(b)),
        n if n <= SHORT => sum_short(bytes),
        _ => return combine(&[pseudo_header(src, dst, protocol, length), data(bytes)]),
    };
    // The pseudo-header as four native 32-bit words of its wire bytes
    // (RFC 1071 §2(B): any word size and byte order give the same folded
    // sum, swapped back at the end): the addresses, `0, protocol, 0, 0`,
    // and the length's four big-endian bytes (its two 16-bit halves).
    let pseudo = u64::from(u32::from_ne_bytes(src.octets()))
        + u64::from(u32::from_ne_bytes(dst.octets()))
        + u64::from(u32::from_ne_bytes([0, u8::from(protocol), 0, 0]))
        + u64::from(u32::from_ne_bytes(length.to_be_bytes()));
    u16::from_be(fold(pseudo + data))
}

/// The value for a checksum field, given the sum of everything it covers
/// (with the field itself counted as zero).
#[inline]
pub const fn finish(sum: u16) -> u16 {
    !sum
}

/// Whether a sum over data that includes its checksum field says "intact":
/// RFC 1071 §1, the sum is all ones. A sum of `0x0000` only comes from
/// all-zero bytes, which no correct sender produces (the checksum of zeros
/// is `0xFFFF`); Linux rejects it too.
#[inline]
pub const fn is_valid(sum: u16) -> bool {
    sum == 0xFFFF
}

/// RFC 1624 eqn. 3 incremental update: the new checksum after one 16-bit
/// word covered by `checksum` changes from `old` to `new`:
/// `HC' = ~(~HC + ~m + m')`. Unlike RFC 1141's form it never yields `0x0000`
/// from a non-zero sum's complement (RFC 1624 §3-4).
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    !combine(&[!checksum, !old, new])
}

/// [`update`] for a 32-bit field (an IPv4 address, a sequence number).
pub fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    !combine(&[
        !checksum,
        !((old >> 16) as u16),
        !(old as u16),
        (new >> 16) as u16,
        new as u16,
    ])
}

#[cfg(test)]
pub(crate) mod reference {
    /// The textbook byte-by-byte RFC 1071 sum, to check [`super::data`] against.
    pub fn data(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i < bytes.len() {
            let hi = u32::from(bytes[i]) << 8;
            let lo = bytes.get(i + 1).copied().map_or(0, u32::from);
            sum += hi | lo;
            sum = (sum & 0xFFFF) + (sum >> 16);
            i += 2;
        }
        sum as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Equal in ones' complement arithmetic, where 0x0000 and 0xFFFF are both zero.
    fn same_value(a: u16, b: u16) -> bool {
        let zero = |x| x == 0 || x == 0xFFFF;
        a == b || (zero(a) && zero(b))
    }

    #[test]
    fn rfc1071_section_3_example_sums_to_ddf2() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
        assert_eq!(reference::data(&bytes), 0xddf2);
    }

    #[test]
    fn copy_and_sum_copies_and_sums_like_data() {
        for len in [0, 1, 2, 3, 31, 32, 33, 64, 1459, 1460, 65535] {
            let src: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut dst = vec![0xAA; len];
            assert_eq!(
                copy_and_sum(&mut dst, &src),
                reference::data(&src),
                "len {len}"
            );
            assert_eq!(dst, src, "len {len}");
        }
    }

    #[test]
    fn a_part_at_an_odd_offset_combines_after_a_swap() {
        let bytes: Vec<u8> = (0..101u8).map(|i| i.wrapping_mul(37)).collect();
        let (a, b) = bytes.split_at(51);
        let whole = reference::data(&bytes);
        assert!(same_value(combine(&[data(a), swap(data(b))]), whole));
        assert!(!same_value(combine(&[data(a), data(b)]), whole));
    }

    #[test]
    fn odd_length_pads_the_last_byte_on_the_right() {
        assert_eq!(data(&[0x12]), 0x1200);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn every_short_length_sums_like_the_reference() {
        // Both sides of the short path's bound, every remainder length.
        let bytes: Vec<u8> = (0..SHORT as u32 + 8).map(|i| (i * 97 + 13) as u8).collect();
        for len in 0..=bytes.len() {
            assert_eq!(
                data(&bytes[..len]),
                reference::data(&bytes[..len]),
                "len {len}"
            );
        }
        for len in 0..=SHORT {
            assert_eq!(header(&bytes[..len]), reference::data(&bytes[..len]));
        }
        // Both sides of `copy_and_sum`'s few-bytes bound (32): copied
        // exactly, nothing written beyond, summed like the reference.
        for len in 0..=bytes.len() {
            let mut dst = vec![0xAA; len + 1];
            let sum = copy_and_sum(&mut dst[..len], &bytes[..len]);
            assert_eq!(sum, reference::data(&bytes[..len]), "len {len}");
            assert_eq!(&dst[..len], &bytes[..len]);
            assert_eq!(dst[len], 0xAA);
        }
    }

    #[test]
    fn words_sum_like_their_big_endian_bytes() {
        let w = [0x1234_5678u32, 0xFFFF_FFFF, 0, 0x0101_080A, 0x8010_01F6];
        let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_be_bytes()).collect();
        assert_eq!(words(&w), reference::data(&bytes));
        assert_eq!(words(&[]), 0);
    }

    #[test]
    fn empty_input_sums_to_zero() {
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn all_zero_bytes_with_a_zero_checksum_are_not_intact() {
        assert!(!is_valid(data(&[0; 8])));
        assert_eq!(finish(data(&[0; 8])), 0xFFFF);
        assert!(is_valid(data(&[0, 0, 0xFF, 0xFF])));
    }

    #[test]
    fn ipv4_header_from_literal_bytes_verifies() {
        // A real IPv4 header (Linux SYN, 192.0.2.1 -> 192.0.2.2), checksum 0x9a72.
        let hdr = [
            0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xc0, 0x00,
            0x02, 0x01, 0xc0, 0x00, 0x02, 0x02,
        ];
        let ck = finish(data(&hdr));
        assert_eq!(ck, 0x9a72);
        let mut full = hdr;
        full[10..12].copy_from_slice(&ck.to_be_bytes());
        assert!(is_valid(data(&full)));
        assert_eq!(ck, finish(reference::data(&hdr)));
    }

    #[test]
    fn all_ones_input_folds_without_losing_carries() {
        // 64 KiB of 0xFF: every lane saturates its carries.
        let bytes = vec![0xFF; 65536 + 7];
        assert_eq!(data(&bytes), reference::data(&bytes));
    }

    #[test]
    fn more_than_one_block_is_summed_with_end_around_carry() {
        let bytes: Vec<u8> = (0..(BLOCK * 2 + 33)).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(data(&bytes), reference::data(&bytes));
    }

    #[test]
    fn combine_of_parts_equals_sum_of_whole() {
        let bytes: Vec<u8> = (0..200u8).collect();
        let parts = [
            data(&bytes[..64]),
            data(&bytes[64..130]),
            data(&bytes[130..]),
        ];
        assert_eq!(combine(&parts), data(&bytes));
    }

    #[test]
    fn pseudo_header_matches_summing_its_bytes() {
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let dst = Ipv4Addr::new(198, 51, 100, 7);
        let bytes = [192, 0, 2, 1, 198, 51, 100, 7, 0, 6, 0x05, 0xdc];
        assert_eq!(pseudo_header(src, dst, IpProtocol::Tcp, 1500), data(&bytes));
    }

    #[test]
    fn rfc1624_example_update_is_exact() {
        // RFC 1624 §4: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
        assert_eq!(update(0xDD2F, 0x5555, 0x3285), 0x0000);
    }

    /// The fold as five plain halvings, to check [`fold`] against.
    fn fold_reference(mut s: u64) -> u16 {
        s = (s & 0xFFFF_FFFF) + (s >> 32);
        s = (s & 0xFFFF_FFFF) + (s >> 32);
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        s as u16
    }

    #[test]
    fn fold_keeps_zero_and_all_ones_apart_at_the_edges() {
        for s in [
            0,
            1,
            0xFFFF,
            0x1_0000,
            0xFFFF_FFFF,
            0x1_0000_0000,
            u64::MAX,
            u64::MAX - 1,
        ] {
            assert_eq!(fold(s), fold_reference(s), "{s:#x}");
        }
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xFFFF_0000), 0xFFFF);
    }

    /// One block loop, called directly: the portable loop, and on x86 each
    /// vector kernel through each token this CPU has. The wide kernel runs
    /// on the `Sse2` and `Avx2` tokens too (as pairs of narrower vectors),
    /// so its logic is checked on CPUs without AVX-512 as well.
    #[derive(Debug, Clone, Copy)]
    enum Kernel {
        Portable,
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Sse2(fearless_simd::Sse2),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Avx2(fearless_simd::Avx2),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Sse2Wide(fearless_simd::Sse2),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Avx2Wide(fearless_simd::Avx2),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Avx512Wide(fearless_simd::Avx512),
    }

    impl Kernel {
        fn all() -> Vec<Kernel> {
            #[allow(unused_mut)] // Only x86 adds more.
            let mut all = vec![Kernel::Portable];
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            {
                let level = fearless_simd::Level::new();
                all.extend(level.as_sse2().map(Kernel::Sse2));
                all.extend(level.as_avx2().map(Kernel::Avx2));
                all.extend(level.as_sse2().map(Kernel::Sse2Wide));
                all.extend(level.as_avx2().map(Kernel::Avx2Wide));
                all.extend(level.as_avx512().map(Kernel::Avx512Wide));
            }
            all
        }

        /// The folded, byte-order-corrected sum of a block, as [`data`] returns it.
        fn sum(self, block: &[u8]) -> u16 {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            use fearless_simd::Simd as _;
            let sum = match self {
                Kernel::Portable => portable::sum_block(block),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Sse2(t) => t.vectorize(|| simd::sum_narrow(t, block)),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Avx2(t) => t.vectorize(|| simd::sum_narrow(t, block)),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Sse2Wide(t) => t.vectorize(|| simd::sum_wide(t, block)),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Avx2Wide(t) => t.vectorize(|| simd::sum_wide(t, block)),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Avx512Wide(t) => t.vectorize(|| simd::sum_wide(t, block)),
            };
            u16::from_be(fold(sum))
        }

        /// [`Kernel::sum`] of `src`, copied into `dst`.
        fn copy(self, dst: &mut [u8], src: &[u8]) -> u16 {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            use fearless_simd::Simd as _;
            let sum = match self {
                Kernel::Portable => portable::copy_block(dst, src),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Sse2(t) => t.vectorize(|| simd::copy_narrow(t, dst, src)),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Avx2(t) => t.vectorize(|| simd::copy_narrow(t, dst, src)),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Sse2Wide(t) => t.vectorize(|| simd::copy_wide(t, dst, src)),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Avx2Wide(t) => t.vectorize(|| simd::copy_wide(t, dst, src)),
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                Kernel::Avx512Wide(t) => t.vectorize(|| simd::copy_wide(t, dst, src)),
            };
            u16::from_be(fold(sum))
        }

        /// Both entry points against the reference, and the copy exact.
        fn check(self, src: &[u8]) {
            let want = reference::data(src);
            assert_eq!(self.sum(src), want, "{self:?} sum, len {}", src.len());
            let mut dst = vec![0xAA; src.len()];
            assert_eq!(
                self.copy(&mut dst, src),
                want,
                "{self:?} copy, len {}",
                src.len()
            );
            assert!(dst == src, "{self:?} copy differs, len {}", src.len());
        }
    }

    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    #[test]
    fn x86_has_at_least_the_sse2_kernel() {
        // SSE2 is in the x86_64 baseline: the portable loop is never the
        // one that runs there.
        #[cfg(target_arch = "x86_64")]
        assert!(Kernel::all().iter().any(|k| matches!(k, Kernel::Sse2(_))));
    }

    #[test]
    fn every_kernel_sums_the_signed_bias_edges_at_every_short_length() {
        // 0x80 and 0x7F bytes put the words at the edges of the XOR with
        // 0x8000 (0x8080 -> 0x0080, 0x7F7F -> 0xFF7F); 0x00 and 0xFF are the
        // most negative and most positive biased words. Every length below
        // four 128-byte wide steps: every tail (0..128 bytes: a 64-byte
        // vector or not, a 32-byte vector or not, then every scalar piece)
        // after 0 to 3 wide steps, and likewise after 0 to 7 narrow steps.
        let fills: [&dyn Fn(usize) -> u8; 6] = [
            &|_| 0x00,
            &|_| 0xFF,
            &|_| 0x80,
            &|_| 0x7F,
            &|i| if i % 2 == 0 { 0x80 } else { 0x7F },
            &|i| if i % 4 < 2 { 0xFF } else { 0x00 },
        ];
        for kernel in Kernel::all() {
            for fill in fills {
                let bytes: Vec<u8> = (0..4 * 128).map(fill).collect();
                for len in 0..bytes.len() {
                    kernel.check(&bytes[..len]);
                }
            }
        }
    }

    #[test]
    fn every_kernel_sums_a_whole_block_of_extreme_words() {
        // BLOCK is where the lanes stop before they could overflow: all
        // 0xFF (each x86 lane at its most positive), all 0x00 (most
        // negative), all 0x80, and segment and jumbo lengths around it.
        for kernel in Kernel::all() {
            for byte in [0xFF, 0x00, 0x80, 0x7F] {
                let bytes = vec![byte; BLOCK];
                for len in [1447, 1448, 1449, 65535, 65536, BLOCK - 1, BLOCK] {
                    kernel.check(&bytes[..len]);
                }
            }
        }
    }

    #[test]
    fn the_tail_copies_and_sums_each_piece_at_every_length() {
        // Every length below 32 takes a different set of pieces (16, 8, 4,
        // 2, 1); summed alone and while copying, into a longer buffer whose
        // bytes after the tail must stay as they were.
        for fill in [0xFF, 0x00, 0x80] {
            let src: Vec<u8> = (0..32u8).map(|i| fill ^ i.wrapping_mul(29)).collect();
            for len in 0..32 {
                let src = &src[..len];
                let want = reference::data(src);
                let sum = Tail { src, dst: None }.sum();
                assert_eq!(u16::from_be(fold(sum)), want, "len {len}");
                let mut dst = [0xAA; 40];
                let sum = Tail {
                    src,
                    dst: Some(&mut dst[..len]),
                }
                .sum();
                assert_eq!(u16::from_be(fold(sum)), want, "copy, len {len}");
                assert_eq!(&dst[..len], src);
                assert!(dst[len..].iter().all(|&b| b == 0xAA));
            }
        }
    }

    #[test]
    fn data_and_copy_and_sum_agree_with_the_reference_across_block_edges() {
        // The dispatching entry points, at one block and just past it.
        for len in [BLOCK - 1, BLOCK, BLOCK + 1, BLOCK + 65] {
            let src = vec![0xFF; len];
            let mut dst = vec![0; len];
            assert_eq!(data(&src), reference::data(&src), "len {len}");
            assert_eq!(copy_and_sum(&mut dst, &src), reference::data(&src));
            assert!(dst == src);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_kernel_equals_the_reference_for_any_length_and_offset(
            bytes in proptest::collection::vec(any::<u8>(), 0..=70_000),
            offset in 0usize..32,
        ) {
            let src = &bytes[offset.min(bytes.len())..];
            for kernel in Kernel::all() {
                let want = reference::data(src);
                prop_assert_eq!(kernel.sum(src), want, "{:?} sum", kernel);
                // An unaligned destination too.
                let mut dst = vec![0xAA; src.len() + offset % 7];
                let to = offset % 7;
                prop_assert_eq!(kernel.copy(&mut dst[to..], src), want, "{:?} copy", kernel);
                prop_assert!(&dst[to..] == src);
                prop_assert!(dst[..to].iter().all(|&b| b == 0xAA));
            }
        }
    }

    proptest! {
        #[test]
        fn fold_equals_plain_halving(s: u64) {
            prop_assert_eq!(fold(s), fold_reference(s));
        }

        /// The IPv4 header sum in 64-bit words is `header`'s (and the
        /// textbook one's).
        #[test]
        fn ipv4_header_equals_header(bytes: [u8; 20]) {
            prop_assert_eq!(ipv4_header(&bytes), header(&bytes));
            prop_assert_eq!(ipv4_header(&bytes), reference::data(&bytes));
        }

        /// Parts summed in native words and folded once agree with the
        /// same bytes' `data`.
        #[test]
        fn native_parts_fold_like_data(
            bytes in proptest::collection::vec(any::<u8>(), 0..80),
            split in 0_usize..40,
        ) {
            let at = (2 * split).min(bytes.len() & !1);
            let (a, b) = bytes.split_at(at);
            let acc = to_native(data(a)) + to_native(data(b));
            prop_assert!(same_value(native_folded(acc), reference::data(&bytes)));
        }

        /// The one-accumulator sum of pseudo-header and bytes equals the
        /// two parts summed and combined, for every length (the fixed 20 and
        /// 32, the short loop, and the long fallback) and any length field,
        /// including one over 16 bits.
        #[test]
        fn with_pseudo_header_equals_pseudo_header_combined_with_data(
            bytes in proptest::collection::vec(any::<u8>(), 0..100),
            src: u32,
            dst: u32,
            protocol: u8,
            length: u32,
            fixed in 0usize..3,
        ) {
            // A third of the cases at exactly 20 or 32 bytes.
            let bytes = match fixed {
                1 if bytes.len() >= 20 => &bytes[..20],
                2 if bytes.len() >= 32 => &bytes[..32],
                _ => &bytes[..],
            };
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let protocol = IpProtocol::from(protocol);
            let want = combine(&[pseudo_header(src, dst, protocol, length), reference::data(bytes)]);
            prop_assert_eq!(with_pseudo_header(src, dst, protocol, length, bytes), want);
        }

        #[test]
        fn fast_sum_equals_reference_for_any_length_and_offset(
            bytes in proptest::collection::vec(any::<u8>(), 0..2100),
            offset in 0usize..8,
        ) {
            let slice = &bytes[offset.min(bytes.len())..];
            prop_assert_eq!(data(slice), reference::data(slice));
        }

        #[test]
        fn copy_and_sum_equals_reference_for_any_length_and_offsets(
            bytes in proptest::collection::vec(any::<u8>(), 0..2100),
            from in 0usize..8,
            to in 0usize..8,
        ) {
            let src = &bytes[from.min(bytes.len())..];
            let mut dst = vec![0xAA; src.len() + to];
            prop_assert_eq!(copy_and_sum(&mut dst[to..], src), reference::data(src));
            prop_assert_eq!(&dst[to..], src);
            prop_assert!(dst[..to].iter().all(|&b| b == 0xAA));
        }

        #[test]
        fn incremental_update_equals_recompute(
            mut words in proptest::collection::vec(any::<u16>(), 1..64),
            idx in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            let bytes = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<_>>();
            let i = idx.index(words.len());
            let before = finish(data(&bytes(&words)));
            let old = words[i];
            words[i] = new;
            let after = finish(data(&bytes(&words)));
            let updated = update(before, old, new);
            prop_assert!(same_value(updated, after),
                "updated {:#06x} recomputed {:#06x}", updated, after);
        }

        #[test]
        fn update_u32_equals_two_word_updates(ck: u16, old: u32, new: u32) {
            let two = update(update(ck, (old >> 16) as u16, (new >> 16) as u16), old as u16, new as u16);
            let one = update_u32(ck, old, new);
            prop_assert!(same_value(one, two), "{:#06x} vs {:#06x}", one, two);
        }
    }
}
