//! Count-Min sketch (Cormode & Muthukrishnan 2005), 4 rows × 2048 counters, conservative update.
//!
//! Each row maps an item hash to one counter; an item's estimate is the minimum over its
//! counters, which never undercounts and overcounts by at most ~e/2048 of the total weight
//! with probability 1 − e⁻⁴. Updates are *conservative* (Estan & Varghese): a row counter is
//! only raised as far as the new estimate needs, which cuts overcounting on skewed streams and
//! keeps the no-undercount guarantee. Merging adds counters; the sum of two conservative
//! sketches still upper-bounds every item's combined count.
//!
//! Counters are `u32` (32 KiB per sketch instead of 64 KiB) and saturate at `u32::MAX`.

use std::fmt;

use crate::codec::{put_varint, Reader};
use crate::hash::mix64;
use crate::SketchError;

pub(crate) const COUNT_MIN_WIDTH: usize = 2048;
pub(crate) const COUNT_MIN_DEPTH: usize = 4;
const COUNTER_COUNT: usize = COUNT_MIN_WIDTH * COUNT_MIN_DEPTH;
const WIDTH_BITS: u32 = COUNT_MIN_WIDTH.trailing_zeros();
const _: () = assert!(COUNT_MIN_WIDTH.is_power_of_two());

/// Per-row salts so the rows index independently even though they share one value hash.
const ROW_SALTS: [u64; COUNT_MIN_DEPTH] = [
    0x243F_6A88_85A3_08D3,
    0x1319_8A2E_0370_7344,
    0xA409_3822_299F_31D0,
    0x082E_FA98_EC4E_6C89,
];

#[derive(Clone, PartialEq)]
pub(crate) struct CountMin {
    /// Row-major: row `r` occupies `[r * WIDTH, (r + 1) * WIDTH)`.
    counters: Box<[u32]>,
}

impl CountMin {
    pub(crate) fn new() -> Self {
        CountMin {
            counters: vec![0; COUNTER_COUNT].into_boxed_slice(),
        }
    }

    fn slots(hash: u64) -> [usize; COUNT_MIN_DEPTH] {
        let mut slots = [0; COUNT_MIN_DEPTH];
        for (row, slot) in slots.iter_mut().enumerate() {
            let column = (mix64(hash ^ ROW_SALTS[row]) >> (64 - WIDTH_BITS)) as usize;
            *slot = row * COUNT_MIN_WIDTH + column;
        }
        slots
    }

    /// Adds `weight` occurrences of the item with `hash`; returns its new estimate.
    pub(crate) fn add(&mut self, hash: u64, weight: u64) -> u64 {
        let slots = Self::slots(hash);
        let current = slots
            .iter()
            .map(|&slot| self.counters[slot])
            .min()
            .unwrap_or(0);
        let target = u64::from(current)
            .saturating_add(weight)
            .min(u64::from(u32::MAX)) as u32;
        for slot in slots {
            let counter = &mut self.counters[slot];
            *counter = (*counter).max(target);
        }
        u64::from(target)
    }

    pub(crate) fn estimate(&self, hash: u64) -> u64 {
        let slots = Self::slots(hash);
        slots
            .iter()
            .map(|&slot| u64::from(self.counters[slot]))
            .min()
            .unwrap_or(0)
    }

    pub(crate) fn merge(&mut self, other: &CountMin) {
        for (counter, &other_counter) in self.counters.iter_mut().zip(other.counters.iter()) {
            *counter = counter.saturating_add(other_counter);
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.counters.len() * std::mem::size_of::<u32>()
    }

    /// Layout: 8192 varint counters, row-major (zeros and small counts take one byte).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for &counter in self.counters.iter() {
            put_varint(out, u64::from(counter));
        }
    }

    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<Self, SketchError> {
        // Each counter is at least one byte: check before allocating 32 KiB.
        if reader.remaining().len() < COUNTER_COUNT {
            return Err(SketchError::Truncated);
        }
        let mut sketch = CountMin::new();
        for counter in sketch.counters.iter_mut() {
            *counter =
                reader.varint_max(u64::from(u32::MAX), "count-min counter overflows u32")? as u32;
        }
        Ok(sketch)
    }
}

impl fmt::Debug for CountMin {
    // 8192 counters are noise in a test failure; the fill and total say what matters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first_row = &self.counters[..COUNT_MIN_WIDTH];
        f.debug_struct("CountMin")
            .field(
                "row0_total",
                &first_row.iter().map(|&c| u64::from(c)).sum::<u64>(),
            )
            .field(
                "row0_nonzero",
                &first_row.iter().filter(|&&c| c > 0).count(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_undercounts_and_is_exact_when_sparse() {
        let mut sketch = CountMin::new();
        for item in 0..100u64 {
            sketch.add(mix64(item), item + 1);
        }
        for item in 0..100u64 {
            assert!(sketch.estimate(mix64(item)) > item);
        }
        // 100 items over 2048 columns: collisions in all four rows are vanishingly rare.
        let exact = (0..100u64)
            .filter(|&item| sketch.estimate(mix64(item)) == item + 1)
            .count();
        assert!(exact >= 99, "exact estimates: {exact}");
    }

    #[test]
    fn merge_adds_and_saturates() {
        let mut left = CountMin::new();
        left.add(7, u64::MAX);
        let right = left.clone();
        left.merge(&right);
        assert_eq!(left.estimate(7), u64::from(u32::MAX));
    }

    #[test]
    fn encode_decode_round_trips() {
        let mut sketch = CountMin::new();
        sketch.add(1, 5);
        sketch.add(2, 300);
        let mut out = Vec::new();
        sketch.encode(&mut out);
        let mut reader = Reader::new(&out);
        assert_eq!(CountMin::decode(&mut reader).ok(), Some(sketch));
        assert_eq!(reader.position(), out.len());
    }
}
