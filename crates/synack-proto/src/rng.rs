//! The seeded random number generator.
//!
//! There is no global RNG in the core. Whoever needs randomness owns an `Rng`
//! seeded from a number (tests, simulations, `synack demo --seed N`) or from
//! the OS (the runtime, which then passes the seed in). The same seed gives the
//! same sequence on every platform and every build: ChaCha8's output is fixed
//! by its specification, unlike "small" generators that may change between
//! crate versions.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A deterministic, seedable random number generator.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha8Rng,
}

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn from_seed(seed: u64) -> Self {
        Rng {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A child generator with its own stream, derived from this one's next output.
    /// Used to give each simulated link direction or subsystem its own RNG so
    /// that adding a consumer in one place does not perturb another.
    pub fn fork(&mut self) -> Self {
        Rng::from_seed(self.u64())
    }

    pub fn u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    pub fn u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    pub fn fill(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest)
    }

    /// A 128-bit key, e.g. for SipHash.
    pub fn key128(&mut self) -> [u8; 16] {
        let mut key = [0u8; 16];
        self.fill(&mut key);
        key
    }

    /// Uniform in `0..n` (Lemire's multiply-shift with rejection). `n == 0` gives 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (clamped to `[0, 1]`). `p == 0` never draws.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.f64() < p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::from_seed(7);
        let mut b = Rng::from_seed(7);
        for _ in 0..100 {
            assert_eq!(a.u64(), b.u64());
        }
        let mut c = Rng::from_seed(8);
        assert_ne!(Rng::from_seed(7).u64(), c.u64());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::from_seed(1);
        let mut seen = [false; 10];
        for _ in 0..1_000 {
            let x = rng.below(10);
            assert!(x < 10);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn chance_matches_probability() {
        let mut rng = Rng::from_seed(2);
        let hits = (0..100_000).filter(|_| rng.chance(0.1)).count();
        // 10% of 100k, sd ~95: 5 sd either side.
        assert!((9_500..=10_500).contains(&hits), "hits {hits}");
        assert!(!Rng::from_seed(3).chance(0.0));
        assert!(Rng::from_seed(3).chance(1.0));
    }
}
