//! The value hash every sketch is fed with: xxh3-64, seed 0.
//!
//! Sketch state is persisted in snapshots and merged across processes, so the hash must never
//! change between versions, builds or platforms. xxh3-64 is a published, frozen algorithm with
//! no per-process randomisation (unlike `std`'s `RandomState`).

/// Stable 64-bit hash of `bytes` (xxh3-64 with seed 0).
///
/// Callers hash a canonical encoding of the value, so equal values always hash equally.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// splitmix64 finaliser: a cheap bijective mixer used to derive independent row hashes from
/// one value hash (Count-Min rows) and to generate test streams.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_bytes_is_xxh3_64_seed_0() {
        // Published xxh3-64 test vectors (seed 0); a change here breaks every persisted sketch.
        assert_eq!(hash_bytes(b""), 0x2D06_8005_38D3_94C2);
        assert_eq!(hash_bytes(b"a"), 0xE6C6_32B6_1E96_4E1F);
    }

    #[test]
    fn mix64_is_not_identity() {
        assert_ne!(mix64(0), 0);
        assert_ne!(mix64(1), mix64(2));
    }
}
