//! `n_unique`: a distinct counter that is exact for small sets and HyperLogLog++ beyond.
//!
//! Tiers: an exact sorted set of value hashes (up to `DISTINCT_EXACT_MAX` = 1024) and then a
//! 4 KiB HyperLogLog++ sketch. beava has an extra "≤ 16 raw values" tier in front of the hash
//! set; since callers hand us hashes, both exact tiers are the same thing here, so one sorted
//! `Vec<u64>` serves them. Its capacity grows by doubling from 1, so a set of 1 value holds
//! 8 heap bytes, 2 values 16 bytes and 16 values 128 bytes; an empty counter allocates nothing.

use crate::codec::{put_u64_fixed, put_u8, put_varint, Reader};
use crate::hyperloglog::HyperLogLog;
use crate::SketchError;

/// Largest set kept exact; one more distinct hash promotes to HyperLogLog++.
pub const DISTINCT_EXACT_MAX: usize = 1024;

const VERSION: u8 = 1;
const TAG_EXACT: u8 = 0;
const TAG_HYPERLOGLOG: u8 = 1;

/// Mergeable distinct-count summary (`n_unique`).
#[derive(Debug, Clone, PartialEq)]
pub struct DistinctCount {
    repr: DistinctRepr,
}

#[derive(Debug, Clone, PartialEq)]
enum DistinctRepr {
    /// Strictly increasing hashes; `len() <= DISTINCT_EXACT_MAX`.
    Exact(Vec<u64>),
    HyperLogLog(HyperLogLog),
}

impl Default for DistinctCount {
    fn default() -> Self {
        Self::new()
    }
}

impl DistinctCount {
    /// An empty counter. Allocation-free.
    pub fn new() -> Self {
        DistinctCount {
            repr: DistinctRepr::Exact(Vec::new()),
        }
    }

    /// Adds one value, identified by `hash_bytes` of its canonical encoding.
    pub fn insert_hash(&mut self, hash: u64) {
        match &mut self.repr {
            DistinctRepr::Exact(hashes) => {
                let Err(insert_idx) = hashes.binary_search(&hash) else {
                    return;
                };
                if hashes.len() == DISTINCT_EXACT_MAX {
                    let mut sketch = hyperloglog_of(hashes);
                    sketch.insert_hash(hash);
                    self.repr = DistinctRepr::HyperLogLog(sketch);
                    return;
                }
                reserve_doubling(hashes);
                hashes.insert(insert_idx, hash);
            }
            DistinctRepr::HyperLogLog(sketch) => sketch.insert_hash(hash),
        }
    }

    /// Folds `other` in: set union while both are exact, register-wise max otherwise.
    pub fn merge(&mut self, other: &DistinctCount) {
        match (&mut self.repr, &other.repr) {
            (DistinctRepr::Exact(hashes), DistinctRepr::Exact(other_hashes)) => {
                if other_hashes.is_empty() {
                    return;
                }
                let union = sorted_union(hashes, other_hashes);
                self.repr = if union.len() > DISTINCT_EXACT_MAX {
                    DistinctRepr::HyperLogLog(hyperloglog_of(&union))
                } else {
                    DistinctRepr::Exact(union)
                };
            }
            (DistinctRepr::Exact(hashes), DistinctRepr::HyperLogLog(other_sketch)) => {
                let mut sketch = other_sketch.clone();
                for &hash in hashes.iter() {
                    sketch.insert_hash(hash);
                }
                self.repr = DistinctRepr::HyperLogLog(sketch);
            }
            (DistinctRepr::HyperLogLog(sketch), DistinctRepr::Exact(other_hashes)) => {
                for &hash in other_hashes {
                    sketch.insert_hash(hash);
                }
            }
            (DistinctRepr::HyperLogLog(sketch), DistinctRepr::HyperLogLog(other_sketch)) => {
                sketch.merge(other_sketch);
            }
        }
    }

    /// Number of distinct values: exact while exact, HLL++ estimate (~1.6% SE) after.
    pub fn estimate(&self) -> u64 {
        match &self.repr {
            DistinctRepr::Exact(hashes) => hashes.len() as u64,
            DistinctRepr::HyperLogLog(sketch) => sketch.estimate(),
        }
    }

    /// True while the count is exact (no promotion to HyperLogLog++ yet).
    pub fn is_exact(&self) -> bool {
        matches!(self.repr, DistinctRepr::Exact(_))
    }

    /// Hints the heap an insert will read first (see [`crate::prefetch`]).
    #[inline]
    pub fn prefetch_heap(&self) {
        match &self.repr {
            DistinctRepr::Exact(hashes) => crate::prefetch::slice(hashes),
            // The register an insert touches depends on the value: nothing to hint.
            DistinctRepr::HyperLogLog(_) => {}
        }
    }

    /// Approximate heap bytes owned (excludes `size_of::<DistinctCount>()` itself).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            DistinctRepr::Exact(hashes) => hashes.capacity() * std::mem::size_of::<u64>(),
            DistinctRepr::HyperLogLog(sketch) => sketch.heap_bytes(),
        }
    }

    /// Layout: `[version=1][tag]` then tag 0 (exact): `[varint n][n × u64 LE, increasing]`,
    /// or tag 1 (HyperLogLog++): `[4096 register bytes]`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        match &self.repr {
            DistinctRepr::Exact(hashes) => {
                put_u8(out, TAG_EXACT);
                put_varint(out, hashes.len() as u64);
                for &hash in hashes {
                    put_u64_fixed(out, hash);
                }
            }
            DistinctRepr::HyperLogLog(sketch) => {
                put_u8(out, TAG_HYPERLOGLOG);
                sketch.encode(out);
            }
        }
    }

    /// Inverse of `encode`; returns the counter and the bytes consumed.
    pub fn decode(input: &[u8]) -> Result<(Self, usize), SketchError> {
        let mut reader = Reader::new(input);
        reader.expect_version(VERSION)?;
        let repr = match reader.u8()? {
            TAG_EXACT => {
                let len = reader.varint_max(DISTINCT_EXACT_MAX as u64, "distinct set too large")?;
                let len = len as usize;
                // Check the bytes exist before allocating for them.
                let bytes = reader.bytes(len * 8)?;
                let mut hashes = Vec::with_capacity(len.next_power_of_two());
                for chunk in bytes.chunks_exact(8) {
                    let mut buffer = [0u8; 8];
                    buffer.copy_from_slice(chunk);
                    let hash = u64::from_le_bytes(buffer);
                    if hashes.last().is_some_and(|&last| last >= hash) {
                        return Err(SketchError::Invalid(
                            "distinct hashes not strictly increasing",
                        ));
                    }
                    hashes.push(hash);
                }
                DistinctRepr::Exact(hashes)
            }
            TAG_HYPERLOGLOG => DistinctRepr::HyperLogLog(HyperLogLog::decode(&mut reader)?),
            _ => return Err(SketchError::Invalid("unknown distinct tag")),
        };
        Ok((DistinctCount { repr }, reader.position()))
    }
}

/// Doubles capacity from 1 when full, so tiny sets stay tiny (std starts at 4 elements).
fn reserve_doubling(hashes: &mut Vec<u64>) {
    if hashes.len() == hashes.capacity() {
        hashes.reserve_exact(hashes.len().max(1));
    }
}

fn sorted_union(left: &[u64], right: &[u64]) -> Vec<u64> {
    let mut union = Vec::with_capacity((left.len() + right.len()).next_power_of_two());
    let (mut left_idx, mut right_idx) = (0, 0);
    while left_idx < left.len() && right_idx < right.len() {
        let (l, r) = (left[left_idx], right[right_idx]);
        union.push(l.min(r));
        left_idx += usize::from(l <= r);
        right_idx += usize::from(r <= l);
    }
    union.extend_from_slice(&left[left_idx..]);
    union.extend_from_slice(&right[right_idx..]);
    if union.len() <= DISTINCT_EXACT_MAX {
        union.shrink_to(union.len().next_power_of_two());
    }
    union
}

fn hyperloglog_of(hashes: &[u64]) -> HyperLogLog {
    let mut sketch = HyperLogLog::new();
    for &hash in hashes {
        sketch.insert_hash(hash);
    }
    sketch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::mix64;

    fn counter_of(values: impl IntoIterator<Item = u64>) -> DistinctCount {
        let mut counter = DistinctCount::new();
        for value in values {
            counter.insert_hash(mix64(value));
        }
        counter
    }

    fn round_trip(counter: &DistinctCount) -> DistinctCount {
        let mut out = Vec::new();
        counter.encode(&mut out);
        let (decoded, consumed) = DistinctCount::decode(&out).expect("decodes");
        assert_eq!(consumed, out.len());
        decoded
    }

    #[test]
    fn new_is_allocation_free() {
        let counter = DistinctCount::new();
        assert_eq!(counter.heap_bytes(), 0);
        assert_eq!(counter.estimate(), 0);
    }

    #[test]
    fn small_sets_stay_small() {
        assert_eq!(counter_of(0..1).heap_bytes(), 8);
        assert_eq!(counter_of(0..2).heap_bytes(), 16);
        assert_eq!(counter_of(0..16).heap_bytes(), 128);
        assert_eq!(counter_of([1, 1, 1, 2, 2]).estimate(), 2);
    }

    #[test]
    fn promotes_past_exact_cap() {
        let exact = counter_of(0..DISTINCT_EXACT_MAX as u64);
        assert!(exact.is_exact());
        assert_eq!(exact.estimate(), DISTINCT_EXACT_MAX as u64);
        let promoted = counter_of(0..DISTINCT_EXACT_MAX as u64 + 1);
        assert!(!promoted.is_exact());
        assert_eq!(promoted.heap_bytes(), 4096);
        // Linear counting is near-exact at this size.
        assert!(promoted.estimate().abs_diff(1025) <= 10);
    }

    #[test]
    fn merge_promotes_when_union_exceeds_cap() {
        let mut left = counter_of(0..600);
        left.merge(&counter_of(300..900));
        assert!(left.is_exact());
        assert_eq!(left.estimate(), 900);
        left.merge(&counter_of(900..1200));
        assert!(!left.is_exact());
        assert!(left.estimate().abs_diff(1200) <= 24);
    }

    #[test]
    fn merge_mixed_tiers_both_ways() {
        let big = counter_of(0..5000);
        let small = counter_of(10_000..10_010);
        let mut small_into_big = big.clone();
        small_into_big.merge(&small);
        let mut big_into_small = small.clone();
        big_into_small.merge(&big);
        assert_eq!(small_into_big, big_into_small);
        assert_eq!(small_into_big, counter_of((0..5000).chain(10_000..10_010)));
    }

    #[test]
    fn encode_decode_round_trips_both_tiers() {
        for counter in [DistinctCount::new(), counter_of(0..3), counter_of(0..5000)] {
            assert_eq!(round_trip(&counter), counter);
        }
    }

    #[test]
    fn decode_rejects_malformed() {
        assert_eq!(DistinctCount::decode(&[]), Err(SketchError::Truncated));
        assert_eq!(DistinctCount::decode(&[9]), Err(SketchError::BadVersion(9)));
        assert!(matches!(
            DistinctCount::decode(&[1, 7]),
            Err(SketchError::Invalid(_))
        ));
        // Claims 1025 hashes: rejected before any allocation.
        assert!(matches!(
            DistinctCount::decode(&[1, 0, 0x81, 0x08]),
            Err(SketchError::Invalid(_))
        ));
        // Claims 1024 hashes but carries none.
        assert_eq!(
            DistinctCount::decode(&[1, 0, 0x80, 0x08]),
            Err(SketchError::Truncated)
        );
        let mut unsorted = vec![1, 0, 2];
        unsorted.extend_from_slice(&5u64.to_le_bytes());
        unsorted.extend_from_slice(&5u64.to_le_bytes());
        assert!(matches!(
            DistinctCount::decode(&unsorted),
            Err(SketchError::Invalid(_))
        ));
    }
}
