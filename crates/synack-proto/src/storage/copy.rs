//! Large byte copies for the socket buffers, in explicit vectors.
//!
//! The application's bytes go into a send buffer and out of a receive
//! buffer in pieces of kilobytes. glibc copies anything from about 2 KiB to
//! 512 KiB with `rep movsb`, which on the AMD Zen 3 machine the benchmarks
//! run on moves bytes that are not in the L2 cache at a fraction of the
//! rate of a loop of 32-byte vector loads and stores (docs/PERFORMANCE.md,
//! "Session 19"). [`copy`] keeps short copies on `memcpy` and copies longer
//! ones with the widest vectors the CPU has: 64-byte AVX-512 ones (on the
//! Zen 5 machine of session 25, 1.024x the bulk transfer's rate of 32-byte
//! ones in 20 alternating pairs), else AVX2's.

use fearless_simd::prelude::*;
use fearless_simd::{Level, Simd, u8x32};

/// Copies shorter than this stay on `memcpy` (which uses vectors for them
/// too).
pub const SHORT: usize = 2048;

/// Copies `src` into `dst` (of the same length).
///
/// # Panics
/// If the lengths differ (a caller bug).
#[inline]
pub fn copy(dst: &mut [u8], src: &[u8]) {
    // Each way checks the lengths once: `copy_from_slice` itself, or the
    // long way out of line (a short copy, every copy of a handshake, pays
    // nothing more than `memcpy` did).
    if src.len() < SHORT {
        dst.copy_from_slice(src);
    } else {
        copy_long(dst, src);
    }
}

/// [`copy`] of [`SHORT`] bytes or more.
#[inline(never)]
fn copy_long(dst: &mut [u8], src: &[u8]) {
    assert!(dst.len() == src.len(), "copy: lengths differ");
    let level = Level::new();
    if let Some(avx512) = level.as_avx512() {
        return avx512.vectorize(
            #[inline(always)]
            || copy_wide(avx512, dst, src),
        );
    }
    match level.as_avx2() {
        Some(avx2) => avx2.vectorize(
            #[inline(always)]
            || copy_vectors(avx2, dst, src),
        ),
        None => dst.copy_from_slice(src),
    }
}

/// [`copy_vectors`] in 64-byte vectors, the rest in 32-byte ones.
#[inline(always)]
fn copy_wide<S: Simd>(simd: S, dst: &mut [u8], src: &[u8]) {
    let dst = &mut dst[..src.len()];
    let mut d_vectors = dst.chunks_exact_mut(64);
    let mut s_vectors = src.chunks_exact(64);
    for (d, s) in (&mut d_vectors).zip(&mut s_vectors) {
        fearless_simd::u8x64::from_slice(simd, s).store_slice(d);
    }
    copy_vectors(simd, d_vectors.into_remainder(), s_vectors.remainder());
}

#[inline(always)]
fn copy_vectors<S: Simd>(simd: S, dst: &mut [u8], src: &[u8]) {
    let dst = &mut dst[..src.len()];
    let mut d_vectors = dst.chunks_exact_mut(32);
    let mut s_vectors = src.chunks_exact(32);
    for (d, s) in (&mut d_vectors).zip(&mut s_vectors) {
        u8x32::from_slice(simd, s).store_slice(d);
    }
    d_vectors
        .into_remainder()
        .copy_from_slice(s_vectors.remainder());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "lengths differ")]
    fn a_long_copy_of_unequal_lengths_panics() {
        copy(&mut [0u8; 4096], &[1u8; 4097]);
    }

    #[test]
    #[should_panic]
    fn a_short_copy_of_unequal_lengths_panics() {
        copy(&mut [0u8; 16], &[1u8; 17]);
    }

    #[test]
    fn copies_every_length_and_offset() {
        let src: Vec<u8> = (0..9000u32).map(|i| (i * 31 + 7) as u8).collect();
        for len in [
            0, 1, 31, 32, 127, 128, 2047, 2048, 2049, 2085, 2111, 4095, 4096, 4100, 4159, 8191,
        ] {
            for off in [0, 1, 3, 17, 64] {
                let mut dst = vec![0xAAu8; len + 2 * off + 1];
                copy(&mut dst[off..off + len], &src[off..off + len]);
                assert_eq!(
                    &dst[off..off + len],
                    &src[off..off + len],
                    "len {len} off {off}"
                );
                assert!(
                    dst[..off].iter().all(|&b| b == 0xAA),
                    "before, len {len} off {off}"
                );
                assert!(
                    dst[off + len..].iter().all(|&b| b == 0xAA),
                    "after, len {len} off {off}"
                );
            }
        }
    }
}
