//! The deterministic byte stream every transfer sends and checks.
//!
//! Byte `i` of the stream is `TABLE[i % PERIOD]`, a pseudo-random table with a
//! prime period, so a dropped, duplicated or shifted range never lines up with
//! segment or buffer sizes and shows as a mismatch. Slices of the stream come
//! straight out of the table, so the sender copies from it and the receiver
//! compares with `memcmp`: checking costs about one extra pass over hot data.

use std::sync::OnceLock;

/// The stream repeats every `PERIOD` bytes (the largest prime below 2^16).
pub const PERIOD: usize = 65_521;
/// Longest slice [`chunk`] hands out.
pub const MAX_CHUNK: usize = 65_536;

fn table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // xorshift64*: any fixed generator works; this one needs no crate.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut t = Vec::with_capacity(PERIOD + MAX_CHUNK);
        for _ in 0..PERIOD {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            t.push((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8);
        }
        for i in 0..MAX_CHUNK {
            t.push(t[i % PERIOD]);
        }
        t
    })
}

/// Bytes `offset .. offset + len` of the stream; `len` is capped at
/// [`MAX_CHUNK`].
pub fn chunk(offset: u64, len: usize) -> &'static [u8] {
    let start = (offset % PERIOD as u64) as usize;
    &table()[start..start + len.min(MAX_CHUNK)]
}

/// Byte `offset` of the stream.
pub fn byte(offset: u64) -> u8 {
    table()[(offset % PERIOD as u64) as usize]
}

/// Whether `data` is the stream's bytes starting at `offset`.
pub fn matches(offset: u64, data: &[u8]) -> bool {
    let mut at = offset;
    data.chunks(MAX_CHUNK).all(|piece| {
        let ok = piece == chunk(at, piece.len());
        at += piece.len() as u64;
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_agree_with_bytes_across_the_period() {
        for offset in [0u64, 1, 65_520, 65_521, 1 << 32, 7 * 65_521 + 3] {
            let c = chunk(offset, 300);
            for (i, &b) in c.iter().enumerate() {
                assert_eq!(b, byte(offset + i as u64), "offset {offset} + {i}");
            }
            assert!(matches(offset, c));
        }
    }

    #[test]
    fn shifted_or_corrupted_data_does_not_match() {
        let good = chunk(1000, 1460).to_vec();
        assert!(matches(1000, &good));
        assert!(!matches(1001, &good), "a one-byte shift must show");
        let mut bad = good.clone();
        bad[700] ^= 1;
        assert!(!matches(1000, &bad));
        // A whole period later the stream repeats, by design.
        assert!(matches(1000 + PERIOD as u64, &good));
    }

    #[test]
    fn long_data_is_checked_in_pieces() {
        let mut long = Vec::new();
        let mut at = 5u64;
        while long.len() < 200_000 {
            let c = chunk(at, MAX_CHUNK);
            long.extend_from_slice(c);
            at += c.len() as u64;
        }
        assert!(matches(5, &long));
        long[150_000] ^= 0x80;
        assert!(!matches(5, &long));
    }
}
