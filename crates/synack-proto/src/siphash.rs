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

/// SipHash-1-3 of short fixed-size keys under a secret key, for the tables
/// a peer's packets probe on every segment (the demux table's 4-tuples):
/// the variant Rust's `HashMap` uses against hash flooding, about half the
/// rounds of SipHash-2-4, fed one packed key instead of field by field.
#[derive(Clone, Debug)]
pub struct SipHash13(SipHasher13);

impl SipHash13 {
    pub fn new(key: SipKey) -> Self {
        SipHash13(SipHasher13::new_with_key(&key.0))
    }

    /// SipHash-1-3 of `data`.
    #[inline]
    pub fn hash(&self, data: &[u8]) -> u64 {
        self.0.hash(data)
    }
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
        let msg: Vec<u8> = (0u8..15).collect();
        let h = SipHash13::new(SipKey(key));
        assert_eq!(h.hash(&msg), SipHasher13::new_with_key(&key).hash(&msg));
        assert_ne!(h.hash(&msg), SipKey(key).hash(&msg));
        assert_ne!(h.hash(&msg), SipHash13::new(SipKey([1; 16])).hash(&msg));
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
