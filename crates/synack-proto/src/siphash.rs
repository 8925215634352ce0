//! Keyed hashing (SipHash) for everything an attacker must not predict:
//! initial sequence numbers (RFC 6528), SYN cookies (RFC 4987), Fast Open
//! cookies (RFC 7413), ephemeral port offsets (RFC 6056) and the demux table's
//! hasher (hash-flooding resistance).

use core::hash::BuildHasher;
use siphasher::sip::{SipHasher13, SipHasher24};

/// A 128-bit SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SipKey(pub [u8; 16]);

impl core::fmt::Debug for SipKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Keys are secrets: never print them.
        f.write_str("SipKey(..)")
    }
}

impl SipKey {
    /// A fresh hasher keyed with this key (SipHash-2-4).
    pub fn hasher(&self) -> SipHasher24 {
        SipHasher24::new_with_key(&self.0)
    }

    /// SipHash-2-4 of `data`, in one shot: the value `hasher()` gives
    /// for one `write` of `data`, without the streaming hasher's
    /// buffering (every connection's ISN comes through here).
    pub fn hash(&self, data: &[u8]) -> u64 {
        self.hasher().hash(data)
    }
}

/// A [`BuildHasher`] for hash maps whose keys a peer chooses (the stack's
/// demux table: 4-tuples): SipHash-2-4 under a secret key, so an attacker
/// cannot aim many keys at one bucket (hash flooding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipBuildHasher(pub SipKey);

impl BuildHasher for SipBuildHasher {
    type Hasher = SipHasher24;

    fn build_hasher(&self) -> SipHasher24 {
        self.0.hasher()
    }
}

/// SipHash of a 12-byte message (a TCP 4-tuple: the ISN's F of RFC 6528 §3,
/// the demux table's hash) under a secret key, in one shot: the value
/// siphasher's streaming hasher gives for one `write` of the 12 bytes
/// (tests compare them). Either variant: SipHash-2-4 for the ISN (the
/// paper's PRF), SipHash-1-3 for the demux table (the variant Rust's
/// `HashMap` uses against hash flooding, about half the rounds).
///
/// One out-of-line copy serves both: a handshake hashes a 4-tuple four
/// times (the ISN and the demux probe, on either side), and siphasher's two
/// implementations, each generic over the message length, were 245
/// distinct hot instructions for those four runs, this one 143 (and 16
/// fewer instructions a run on average). The key is folded into the initial state
/// once, when the hasher is made.
#[derive(Clone)]
pub struct SipTuple {
    /// v0..v3 after keying (the paper's initialization).
    init: [u64; 4],
    /// Compression rounds per message word (c).
    c: u8,
    /// Finalization rounds (d).
    d: u8,
}

impl core::fmt::Debug for SipTuple {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The state is the key in disguise: never print it.
        write!(f, "SipTuple(SipHash-{}-{}, ..)", self.c, self.d)
    }
}

impl SipTuple {
    /// SipHash-2-4 under `key`.
    pub fn sip24(key: SipKey) -> Self {
        SipTuple::new(key, 2, 4)
    }

    /// SipHash-1-3 under `key`.
    pub fn sip13(key: SipKey) -> Self {
        SipTuple::new(key, 1, 3)
    }

    /// SipHash-c-d under `key`, for the two variants `hash` runs.
    fn new(key: SipKey, c: u8, d: u8) -> Self {
        debug_assert!(matches!((c, d), (1, 3) | (2, 4)));
        let k0 = u64::from_le_bytes(word(&key.0, 0));
        let k1 = u64::from_le_bytes(word(&key.0, 8));
        SipTuple {
            init: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
            c,
            d,
        }
    }

    /// SipHash-c-d of the 12 bytes of `msg`: two message words, the
    /// second the last four bytes under the length (12) in its top byte.
    /// The rounds are written out for the two variants (c is 1 or 2, d is
    /// 3 or 4: a branch each, where a loop would pay its counter every
    /// round), the message words share one copy.
    #[inline(never)]
    pub fn hash(&self, msg: &[u8; 12]) -> u64 {
        let mut last = [0u8; 8];
        last[..4].copy_from_slice(&msg[8..]);
        last[7] = 12;
        let two = self.c == 2;
        let mut v = self.init;
        for m in [u64::from_le_bytes(word(msg, 0)), u64::from_le_bytes(last)] {
            v[3] ^= m;
            sip_round(&mut v);
            if two {
                sip_round(&mut v);
            }
            v[0] ^= m;
        }
        v[2] ^= 0xff;
        sip_round(&mut v);
        sip_round(&mut v);
        sip_round(&mut v);
        if self.d == 4 {
            sip_round(&mut v);
        }
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }
}

/// The 8 bytes of `bytes` from `at`.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> [u8; 8] {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    w
}

/// One SipRound (the SipHash paper, §2).
#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// [`SipBuildHasher`] with SipHash-1-3, for maps whose keys are hashed in
/// one write (fixed-size keys on a per-connection path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sip13BuildHasher(pub SipKey);

impl BuildHasher for Sip13BuildHasher {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_key(&(self.0).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::Hasher;

    #[test]
    fn matches_reference_vector() {
        // SipHash-2-4 reference: key 00..0f, message 00..0e (15 bytes).
        // From the SipHash paper's test vectors (vectors_sip64, index 15).
        let mut key = [0u8; 16];
        for (i, k) in key.iter_mut().enumerate() {
            *k = i as u8;
        }
        let msg: Vec<u8> = (0u8..15).collect();
        let expected = u64::from_le_bytes([0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1]);
        assert_eq!(SipKey(key).hash(&msg), expected);
    }

    #[test]
    fn the_one_shot_hash_is_the_streaming_hashers_value_for_every_length() {
        // ISNs, SYN cookies and Fast Open cookies from `hash` must not
        // change with how it is computed.
        let key = SipKey(*b"synack one shot!");
        let msg: Vec<u8> = (0u8..64).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for len in 0..=msg.len() {
            let mut h = key.hasher();
            h.write(&msg[..len]);
            assert_eq!(key.hash(&msg[..len]), h.finish(), "{len} bytes");
        }
    }

    #[test]
    fn sip13_is_keyed_and_is_not_sip24() {
        let mut key = [0u8; 16];
        for (i, k) in key.iter_mut().enumerate() {
            *k = i as u8;
        }
        let msg: [u8; 12] = core::array::from_fn(|i| i as u8);
        let h = SipTuple::sip13(SipKey(key));
        assert_eq!(h.hash(&msg), SipHasher13::new_with_key(&key).hash(&msg));
        assert_ne!(h.hash(&msg), SipKey(key).hash(&msg));
        assert_ne!(h.hash(&msg), SipTuple::sip13(SipKey([1; 16])).hash(&msg));
        assert_eq!(format!("{h:?}"), "SipTuple(SipHash-1-3, ..)");
    }

    #[test]
    fn sip24_of_a_tuple_is_the_reference_vectors() {
        // The paper's vectors_sip64 at 12 bytes (key 00..0f, message 00..0b).
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let msg: [u8; 12] = core::array::from_fn(|i| i as u8);
        let expected = u64::from_le_bytes([0xfb, 0xe5, 0x0e, 0x86, 0xbc, 0x8f, 0x1e, 0x75]);
        // (vectors_sip64 index 12), and siphasher's value.
        assert_eq!(
            SipKey(key).hash(&msg),
            SipTuple::sip24(SipKey(key)).hash(&msg)
        );
        assert_eq!(SipTuple::sip24(SipKey(key)).hash(&msg), expected);
    }

    proptest::proptest! {
        /// Both variants of the tuple hash are siphasher's values, for any
        /// key and message: ISNs and demux buckets do not change.
        #[test]
        fn the_tuple_hash_is_siphashers(
            key in proptest::array::uniform16(proptest::prelude::any::<u8>()),
            msg in proptest::array::uniform12(proptest::prelude::any::<u8>()),
        ) {
            let mut s24 = SipHasher24::new_with_key(&key);
            s24.write(&msg);
            proptest::prop_assert_eq!(SipTuple::sip24(SipKey(key)).hash(&msg), s24.finish());
            let mut s13 = SipHasher13::new_with_key(&key);
            s13.write(&msg);
            proptest::prop_assert_eq!(SipTuple::sip13(SipKey(key)).hash(&msg), s13.finish());
        }
    }

    #[test]
    fn build_hasher_is_keyed() {
        let a = SipBuildHasher(SipKey([1; 16]));
        let b = SipBuildHasher(SipKey([2; 16]));
        assert_eq!(a.hash_one(42u64), a.hash_one(42u64));
        assert_ne!(a.hash_one(42u64), b.hash_one(42u64));
        let mut map = std::collections::HashMap::with_hasher(a);
        map.insert((1u32, 2u16), "x");
        assert_eq!(map.get(&(1, 2)), Some(&"x"));
    }

    #[test]
    fn different_keys_differ() {
        assert_ne!(SipKey([1; 16]).hash(b"abc"), SipKey([2; 16]).hash(b"abc"));
        assert_eq!(format!("{:?}", SipKey([1; 16])), "SipKey(..)");
    }
}
