//! The checksum's x86 kernels: explicit vectors, chosen at run time.
//!
//! The portable loop in the parent module widens 32-bit words into 64-bit
//! lanes; at the SSE2 baseline that costs two shuffles per 16 bytes and runs
//! at about a third of memcpy. These kernels use `pmaddwd` instead: each
//! 16-bit word is XORed with `0x8000`, which turns the unsigned `u` into the
//! signed `u - 32768`, and a multiply-add with ones sums adjacent words into
//! 32-bit lanes (one instruction per vector for both the widening and the
//! first addition). The unsigned sum is the signed sum plus `32768` per word.
//! As in the portable loop, words are summed in native byte order and the
//! caller swaps the folded result (RFC 1071 §2(B)).
//!
//! `fearless_simd` supplies the safety: a token (`Avx512`, `Avx2`, `Sse2`)
//! exists only once the CPU is known to have the feature, and `vectorize`
//! runs a closure inside a `#[target_feature]` function, so the intrinsics
//! are called without `unsafe` in this crate (the crate holds the one
//! `unsafe` call that enters such a function). The CPU is probed once per
//! process and cached by `fearless_simd::Level::new`; a call then costs one
//! load and a branch.
//!
//! Two kernels, each generic over the token: the *narrow* one steps over
//! 64 bytes as two 32-byte vectors (with `Avx2` two ymm registers, with
//! `Sse2` four xmm ones); the *wide* one steps over 128 bytes as two 64-byte
//! vectors (one zmm register each with `Avx512`). What is left after the
//! last step takes one vector of each smaller width that fits, then the
//! scalar [`Tail`]: a 1448-byte segment is 22 narrow steps, one 32-byte
//! vector and 8 bytes.

use fearless_simd::prelude::*;
use fearless_simd::{Level, i16x16, i16x32, i32x8, i32x16, u8x32, u8x64};

use super::{BLOCK, Tail, add_end_around};

/// Bytes per step of the narrow kernel: two 32-byte vectors, one per
/// accumulator, so consecutive additions do not wait on each other.
const STEP: usize = 64;

/// Bytes per step of the wide kernel: two 64-byte vectors.
const WIDE_STEP: usize = 128;

// Every lane, and every sum of lanes, adds up biased words of one block,
// each in -32768..=32767: BLOCK / 2 words of them stay within i32, so the
// lanes are added together in i32 without widening.
const _: () = assert!(BLOCK / 2 * 32_768 <= i32::MAX as usize);

/// [`super::sum_block`] on the widest kernel this CPU has.
#[inline]
pub(super) fn sum_block(block: &[u8]) -> u64 {
    let level = Level::new();
    if let Some(avx512) = level.as_avx512() {
        return avx512.vectorize(
            #[inline(always)]
            || sum_wide(avx512, block),
        );
    }
    if let Some(avx2) = level.as_avx2() {
        return avx2.vectorize(
            #[inline(always)]
            || sum_narrow(avx2, block),
        );
    }
    sum_block_sse2(level, block)
}

/// [`sum_block`] below AVX2, out of line so the common path's caller stays
/// small enough to inline.
#[inline(never)]
fn sum_block_sse2(level: Level, block: &[u8]) -> u64 {
    match level.as_sse2() {
        Some(sse2) => sse2.vectorize(
            #[inline(always)]
            || sum_narrow(sse2, block),
        ),
        // Only on 32-bit x86 built without SSE2.
        None => super::portable::sum_block(block),
    }
}

/// [`super::copy_block`] on the widest kernel this CPU has.
#[inline]
pub(super) fn copy_block(dst: &mut [u8], src: &[u8]) -> u64 {
    let level = Level::new();
    if let Some(avx512) = level.as_avx512() {
        return avx512.vectorize(
            #[inline(always)]
            || copy_wide(avx512, dst, src),
        );
    }
    if let Some(avx2) = level.as_avx2() {
        return avx2.vectorize(
            #[inline(always)]
            || copy_narrow(avx2, dst, src),
        );
    }
    copy_block_sse2(level, dst, src)
}

/// [`copy_block`] below AVX2, out of line like [`sum_block_sse2`].
#[inline(never)]
fn copy_block_sse2(level: Level, dst: &mut [u8], src: &[u8]) -> u64 {
    match level.as_sse2() {
        Some(sse2) => sse2.vectorize(
            #[inline(always)]
            || copy_narrow(sse2, dst, src),
        ),
        None => super::portable::copy_block(dst, src),
    }
}

/// One 32-byte vector's words, biased to signed and summed in pairs into
/// eight 32-bit lanes.
#[inline(always)]
fn biased_pairs<S: Simd>(simd: S, x: u8x32<S>) -> i32x8<S> {
    let x: i16x16<S> = x.bitcast();
    (x ^ i16x16::splat(simd, i16::MIN)).pairwise_dot_product(i16x16::splat(simd, 1))
}

/// [`biased_pairs`] of a 64-byte vector, into sixteen lanes.
#[inline(always)]
fn biased_pairs_wide<S: Simd>(simd: S, x: u8x64<S>) -> i32x16<S> {
    let x: i16x32<S> = x.bitcast();
    (x ^ i16x32::splat(simd, i16::MIN)).pairwise_dot_product(i16x32::splat(simd, 1))
}

/// The end of every kernel. `rest` (with `dst` its copy, if copying) is
/// what follows the last full step and any wider vector, fewer than 64
/// bytes: one 32-byte vector if it fits, then the [`Tail`]. `acc` holds the
/// signed lanes of the `len - rest.len()` bytes before it.
///
/// The lanes are added together in vectors (the `const` bound above rules
/// out overflow), and each word summed in vectors was counted 32768 low.
#[inline(always)]
fn finish<S: Simd>(
    simd: S,
    mut acc: i32x8<S>,
    len: usize,
    mut dst: Option<&mut [u8]>,
    mut rest: &[u8],
) -> u64 {
    debug_assert!(rest.len() < STEP);
    if let Some((x, more)) = rest.split_first_chunk::<32>() {
        let x = u8x32::from_slice(simd, x);
        if let Some(to) = dst.take() {
            let (to, to_more) = to.split_at_mut(32);
            x.store_slice(to);
            dst = Some(to_more);
        }
        acc += biased_pairs(simd, x);
        rest = more;
    }
    let words_in_vectors = (len - rest.len()) / 2;
    let signed = i64::from(acc.reduce_sum());
    // At most BLOCK / 2 words: the biased sum is below 2^31, and it is
    // non-negative (every word is at least zero).
    let vectors = (signed + 32_768 * words_in_vectors as i64) as u64;
    add_end_around(vectors, Tail { src: rest, dst }.sum())
}

/// The native-endian sum of one block (at most [`BLOCK`] bytes), on 32-byte
/// vectors.
#[inline(always)]
pub(super) fn sum_narrow<S: Simd>(simd: S, block: &[u8]) -> u64 {
    let mut acc = [i32x8::splat(simd, 0); 2];
    let mut chunks = block.chunks_exact(STEP);
    for chunk in &mut chunks {
        let (x, y) = chunk.split_at(STEP / 2);
        acc[0] += biased_pairs(simd, u8x32::from_slice(simd, x));
        acc[1] += biased_pairs(simd, u8x32::from_slice(simd, y));
    }
    finish(simd, acc[0] + acc[1], block.len(), None, chunks.remainder())
}

/// [`sum_narrow`] that also copies `src` into `dst` (of the same length):
/// each vector is loaded once, stored from the register and summed (storing
/// from the register, not copying the bytes first and loading them again,
/// keeps the loads clear of the stores just made).
#[inline(always)]
pub(super) fn copy_narrow<S: Simd>(simd: S, dst: &mut [u8], src: &[u8]) -> u64 {
    // The same length for both, visibly to the compiler: one loop counter.
    let dst = &mut dst[..src.len()];
    let mut acc = [i32x8::splat(simd, 0); 2];
    let mut d_chunks = dst.chunks_exact_mut(STEP);
    let mut s_chunks = src.chunks_exact(STEP);
    for (d, s) in (&mut d_chunks).zip(&mut s_chunks) {
        let (s0, s1) = s.split_at(STEP / 2);
        let (d0, d1) = d.split_at_mut(STEP / 2);
        let x = u8x32::from_slice(simd, s0);
        let y = u8x32::from_slice(simd, s1);
        x.store_slice(d0);
        y.store_slice(d1);
        acc[0] += biased_pairs(simd, x);
        acc[1] += biased_pairs(simd, y);
    }
    finish(
        simd,
        acc[0] + acc[1],
        src.len(),
        Some(d_chunks.into_remainder()),
        s_chunks.remainder(),
    )
}

/// The native-endian sum of one block (at most [`BLOCK`] bytes), on 64-byte
/// vectors.
#[inline(always)]
pub(super) fn sum_wide<S: Simd>(simd: S, block: &[u8]) -> u64 {
    let mut acc = [i32x16::splat(simd, 0); 2];
    let mut chunks = block.chunks_exact(WIDE_STEP);
    for chunk in &mut chunks {
        let (x, y) = chunk.split_at(WIDE_STEP / 2);
        acc[0] += biased_pairs_wide(simd, u8x64::from_slice(simd, x));
        acc[1] += biased_pairs_wide(simd, u8x64::from_slice(simd, y));
    }
    let mut rest = chunks.remainder();
    if let Some((x, more)) = rest.split_first_chunk::<64>() {
        acc[0] += biased_pairs_wide(simd, u8x64::from_slice(simd, x));
        rest = more;
    }
    let (lo, hi) = (acc[0] + acc[1]).split();
    finish(simd, lo + hi, block.len(), None, rest)
}

/// [`sum_wide`] that also copies `src` into `dst` (of the same length), as
/// [`copy_narrow`] does.
#[inline(always)]
pub(super) fn copy_wide<S: Simd>(simd: S, dst: &mut [u8], src: &[u8]) -> u64 {
    let dst = &mut dst[..src.len()];
    let mut acc = [i32x16::splat(simd, 0); 2];
    let mut d_chunks = dst.chunks_exact_mut(WIDE_STEP);
    let mut s_chunks = src.chunks_exact(WIDE_STEP);
    for (d, s) in (&mut d_chunks).zip(&mut s_chunks) {
        let (s0, s1) = s.split_at(WIDE_STEP / 2);
        let (d0, d1) = d.split_at_mut(WIDE_STEP / 2);
        let x = u8x64::from_slice(simd, s0);
        let y = u8x64::from_slice(simd, s1);
        x.store_slice(d0);
        y.store_slice(d1);
        acc[0] += biased_pairs_wide(simd, x);
        acc[1] += biased_pairs_wide(simd, y);
    }
    let mut dst = d_chunks.into_remainder();
    let mut rest = s_chunks.remainder();
    if let Some((x, more)) = rest.split_first_chunk::<64>() {
        let x = u8x64::from_slice(simd, x);
        let (to, to_more) = dst.split_at_mut(64);
        x.store_slice(to);
        acc[0] += biased_pairs_wide(simd, x);
        (dst, rest) = (to_more, more);
    }
    let (lo, hi) = (acc[0] + acc[1]).split();
    finish(simd, lo + hi, src.len(), Some(dst), rest)
}
