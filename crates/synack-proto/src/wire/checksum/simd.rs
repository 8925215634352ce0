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
//! `fearless_simd` supplies the safety: a token (`Avx2`, `Sse2`) exists only
//! once the CPU is known to have the feature, and `vectorize` runs a closure
//! inside a `#[target_feature]` function, so the intrinsics are called without
//! `unsafe` in this crate (the crate holds the one `unsafe` call that enters
//! such a function). The CPU is probed once per process and cached by
//! `fearless_simd::Level::new`; a call then costs one load and a branch.
//! The kernel is one generic function over fixed 32-byte vectors: with the
//! `Avx2` token it compiles to 256-bit instructions, with `Sse2` to pairs of
//! 128-bit ones.

use fearless_simd::prelude::*;
use fearless_simd::{Level, i16x16, i32x8, u8x32};

use super::{BLOCK, sum_short};

/// Bytes per loop iteration: two 32-byte vectors, one per accumulator, so
/// consecutive additions do not wait on each other.
const STEP: usize = 64;

// Each accumulator lane gains at most 2 x 32767 and loses at most
// 2 x 32768 per step; 2^15 steps stay within i32. A block takes
// BLOCK / STEP steps.
const _: () = assert!(BLOCK / STEP <= 1 << 15);

/// [`super::sum_block`] on the widest kernel this CPU has.
#[inline]
pub(super) fn sum_block(block: &[u8]) -> u64 {
    let level = Level::new();
    if let Some(avx2) = level.as_avx2() {
        return avx2.vectorize(
            #[inline(always)]
            || sum_kernel(avx2, block),
        );
    }
    match level.as_sse2() {
        Some(sse2) => sse2.vectorize(
            #[inline(always)]
            || sum_kernel(sse2, block),
        ),
        // Only on 32-bit x86 built without SSE2.
        None => super::portable::sum_block(block),
    }
}

/// [`super::copy_block`] on the widest kernel this CPU has.
#[inline]
pub(super) fn copy_block(dst: &mut [u8], src: &[u8]) -> u64 {
    let level = Level::new();
    if let Some(avx2) = level.as_avx2() {
        return avx2.vectorize(
            #[inline(always)]
            || copy_kernel(avx2, dst, src),
        );
    }
    match level.as_sse2() {
        Some(sse2) => sse2.vectorize(
            #[inline(always)]
            || copy_kernel(sse2, dst, src),
        ),
        None => super::portable::copy_block(dst, src),
    }
}

/// The signed lanes of one step's two vectors, added into two accumulators.
#[inline(always)]
fn add_step<S: Simd>(simd: S, acc: &mut [i32x8<S>; 2], x: u8x32<S>, y: u8x32<S>) {
    let bias = i16x16::splat(simd, i16::MIN);
    let ones = i16x16::splat(simd, 1);
    let x: i16x16<S> = x.bitcast();
    let y: i16x16<S> = y.bitcast();
    acc[0] += (x ^ bias).pairwise_dot_product(ones);
    acc[1] += (y ^ bias).pairwise_dot_product(ones);
}

/// The unsigned sum of `steps` steps' words, from their signed accumulators
/// (each of the 32 words per step was counted 32768 low), plus the sum of
/// the bytes left over.
#[inline(always)]
fn finish<S: Simd>(acc: [i32x8<S>; 2], steps: usize, rest: &[u8]) -> u64 {
    let signed: i64 = acc
        .into_iter()
        .flat_map(<[i32; 8]>::from)
        .map(i64::from)
        .sum();
    // At most 2^15 steps of 32 words: the bias is below 2^35, and the
    // biased sum is non-negative (every word is at least zero).
    let bias = 32_768 * (STEP / 2) as i64 * steps as i64;
    (signed + bias) as u64 + sum_short(rest)
}

/// The native-endian sum of one block (at most [`BLOCK`] bytes).
#[inline(always)]
pub(super) fn sum_kernel<S: Simd>(simd: S, block: &[u8]) -> u64 {
    let mut acc = [i32x8::splat(simd, 0); 2];
    let mut chunks = block.chunks_exact(STEP);
    let steps = chunks.len();
    for chunk in &mut chunks {
        let (x, y) = chunk.split_at(STEP / 2);
        add_step(
            simd,
            &mut acc,
            u8x32::from_slice(simd, x),
            u8x32::from_slice(simd, y),
        );
    }
    finish(acc, steps, chunks.remainder())
}

/// [`sum_kernel`] that also copies `src` into `dst` (of the same length): each
/// vector is loaded once, stored from the register and summed (storing from
/// the register, not copying the bytes first and loading them again, keeps
/// the loads clear of the stores just made).
#[inline(always)]
pub(super) fn copy_kernel<S: Simd>(simd: S, dst: &mut [u8], src: &[u8]) -> u64 {
    let mut acc = [i32x8::splat(simd, 0); 2];
    let mut d_chunks = dst.chunks_exact_mut(STEP);
    let mut s_chunks = src.chunks_exact(STEP);
    let steps = s_chunks.len();
    for (d, s) in (&mut d_chunks).zip(&mut s_chunks) {
        let (s0, s1) = s.split_at(STEP / 2);
        let (d0, d1) = d.split_at_mut(STEP / 2);
        let x = u8x32::from_slice(simd, s0);
        let y = u8x32::from_slice(simd, s1);
        x.store_slice(d0);
        y.store_slice(d1);
        add_step(simd, &mut acc, x, y);
    }
    let rest = s_chunks.remainder();
    d_chunks.into_remainder().copy_from_slice(rest);
    finish(acc, steps, rest)
}
