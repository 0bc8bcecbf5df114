//! UDDSketch (Epicoco et al. 2020): a relative-error quantile sketch with a bounded bucket count.
//!
//! A positive value `x` lands in bucket `k = ceil(ln x / ln γ)`, i.e. `(γ^(k-1), γ^k]`, with
//! `γ = (1+α)/(1-α)`; reporting `2γ^k/(γ+1)` for any value of that bucket is within relative
//! error `α`. Negative values use a mirrored store keyed by `|x|`, zeros a plain counter.
//! When the buckets would exceed `BUCKET_COUNT_MAX` the sketch *collapses*: bucket `k` folds
//! into `ceil(k/2)`, which is exactly the bucketing for `γ' = γ²`, i.e. `α' = 2α/(1+α²)`.
//! Two sketches merge exactly (counts add) once collapsed to the same level, so merging
//! window buckets gives the same result as one sketch over all their values.
//!
//! Stores are dense (`key_first` + a `Vec` of counts) so a bucket costs 8 bytes; the width
//! of both stores together is what `BUCKET_COUNT_MAX` bounds, which keeps memory at
//! ≤ 16 KiB of counts however wide the value range is.

use std::borrow::Cow;

use crate::codec::{put_f64, put_u8, put_varint, put_zigzag, Reader};
use crate::SketchError;

/// Relative accuracy before any collapse.
pub(crate) const ALPHA_INITIAL: f64 = 0.01;
/// Cap on positive + negative store width.
pub(crate) const BUCKET_COUNT_MAX: usize = 2048;
/// Deepest collapse level accepted from an encoding. Real streams stop below 10: at level 8
/// ln γ ≈ 5.1, so every finite f64 magnitude fits in under 300 keys per store. The cap keeps
/// γ = exp(ln γ) finite.
const COLLAPSES_MAX: u8 = 12;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UddSketch {
    /// Collapse level n: γ = γ₀^(2^n).
    collapses: u8,
    /// ln γ at the current level, cached (doubling it is exact in floating point).
    ln_gamma: f64,
    positive: DenseStore,
    /// Keyed by `|x|`.
    negative: DenseStore,
    zero_count: u64,
    count: u64,
    /// Exact extremes; quantile answers are clamped into `[min, max]`.
    min: f64,
    max: f64,
}

/// Counts for the contiguous keys `key_first ..= key_first + counts.len() - 1`.
/// Invariant: when non-empty, the first and last counts are non-zero (the range is tight).
#[derive(Debug, Clone, PartialEq, Default)]
struct DenseStore {
    key_first: i32,
    counts: Vec<u64>,
}

impl UddSketch {
    pub(crate) fn new() -> Self {
        UddSketch {
            collapses: 0,
            ln_gamma: ln_gamma_initial(),
            positive: DenseStore::default(),
            negative: DenseStore::default(),
            zero_count: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Adds a finite value (callers filter non-finite ones).
    pub(crate) fn insert(&mut self, value: f64) {
        debug_assert!(value.is_finite());
        self.count = self.count.saturating_add(1);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value == 0.0 {
            self.zero_count = self.zero_count.saturating_add(1);
            return;
        }
        let positive = value > 0.0;
        let mut key = self.key_of(value.abs());
        // Collapse *before* growing so a far-away value never allocates a huge store.
        loop {
            let width = if positive {
                self.positive.width_including(key) + self.negative.width()
            } else {
                self.positive.width() + self.negative.width_including(key)
            };
            if width <= BUCKET_COUNT_MAX {
                break;
            }
            self.collapse();
            key = collapse_key(key);
        }
        let store = if positive {
            &mut self.positive
        } else {
            &mut self.negative
        };
        store.add(key, 1);
    }

    pub(crate) fn merge(&mut self, other: &UddSketch) {
        if other.count == 0 {
            return;
        }
        let mut other = Cow::Borrowed(other);
        while other.collapses < self.collapses {
            other.to_mut().collapse();
        }
        while self.collapses < other.collapses {
            self.collapse();
        }
        loop {
            let width = self.positive.union_width(&other.positive)
                + self.negative.union_width(&other.negative);
            if width <= BUCKET_COUNT_MAX {
                break;
            }
            self.collapse();
            other.to_mut().collapse();
        }
        self.positive.add_store(&other.positive);
        self.negative.add_store(&other.negative);
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.count = self.count.saturating_add(other.count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Current relative-accuracy guarantee α.
    pub(crate) fn alpha(&self) -> f64 {
        (self.ln_gamma / 2.0).tanh()
    }

    /// Linear interpolation between the values at ranks `floor(q(n-1))` and `ceil(q(n-1))`,
    /// each estimated within relative error α. `q` must be in `[0, 1]`.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        // beava's sketch mode answers the bucket of rank floor(q * (n - 1)), without
        // interpolating between ranks (interpolation is only for its exact mode).
        let rank = (q * (self.count - 1) as f64).floor() as u64;
        Some(self.value_at_rank(rank).clamp(self.min, self.max))
    }

    fn value_at_rank(&self, rank: u64) -> f64 {
        // The extremes are tracked exactly, so q=0 and q=1 are exact.
        if rank == 0 {
            return self.min;
        }
        if rank >= self.count - 1 {
            return self.max;
        }
        let mut seen = 0u64;
        for (key, count) in self.negative.iter_descending() {
            seen = seen.saturating_add(count);
            if rank < seen {
                return (-self.representative(key)).clamp(self.min, self.max);
            }
        }
        seen = seen.saturating_add(self.zero_count);
        if rank < seen {
            return 0.0;
        }
        for (key, count) in self.positive.iter_ascending() {
            seen = seen.saturating_add(count);
            if rank < seen {
                return self.representative(key).clamp(self.min, self.max);
            }
        }
        self.max
    }

    fn key_of(&self, magnitude: f64) -> i32 {
        // `as` saturates; magnitudes of finite non-zero f64 give |key| < 40_000 at level 0.
        (magnitude.ln() / self.ln_gamma).ceil() as i32
    }

    /// `2γ^k/(γ+1)`, computed in log space so the largest keys do not overflow to infinity.
    fn representative(&self, key: i32) -> f64 {
        let gamma = self.ln_gamma.exp();
        (f64::from(key) * self.ln_gamma - ((gamma + 1.0) / 2.0).ln()).exp()
    }

    fn collapse(&mut self) {
        debug_assert!(self.collapses < COLLAPSES_MAX);
        self.collapses += 1;
        self.ln_gamma *= 2.0;
        self.positive.collapse();
        self.negative.collapse();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.positive.heap_bytes() + self.negative.heap_bytes()
    }

    /// Layout: `[collapses u8][varint count][f64 min][f64 max][varint zero_count]`
    /// `[store positive][store negative]`, store = `[zigzag key_first][varint len][len × varint]`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_u8(out, self.collapses);
        put_varint(out, self.count);
        put_f64(out, self.min);
        put_f64(out, self.max);
        put_varint(out, self.zero_count);
        self.positive.encode(out);
        self.negative.encode(out);
    }

    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<Self, SketchError> {
        let collapses = reader.u8()?;
        if collapses > COLLAPSES_MAX {
            return Err(SketchError::Invalid("uddsketch collapse level too deep"));
        }
        let count = reader.varint()?;
        let min = reader.f64_finite()?;
        let max = reader.f64_finite()?;
        let zero_count = reader.varint()?;
        let positive = DenseStore::decode(reader, BUCKET_COUNT_MAX)?;
        let negative = DenseStore::decode(reader, BUCKET_COUNT_MAX - positive.width())?;
        if count == 0 || min > max {
            return Err(SketchError::Invalid("uddsketch extremes inconsistent"));
        }
        let ln_gamma = ln_gamma_initial() * f64::from(1u32 << collapses);
        // Keys no finite value can reach would make later inserts collapse without end.
        let (key_low, key_high) = reachable_keys(ln_gamma);
        for store in [&positive, &negative] {
            if !store.counts.is_empty()
                && (store.key_first < key_low || store.key_last() > key_high)
            {
                return Err(SketchError::Invalid("uddsketch key unreachable"));
            }
        }
        let total = [positive.total(), negative.total(), Some(zero_count)]
            .into_iter()
            .try_fold(0u64, |sum, part| {
                part.and_then(|part| sum.checked_add(part))
            });
        if total != Some(count) {
            return Err(SketchError::Invalid("uddsketch counts do not sum to count"));
        }
        Ok(UddSketch {
            collapses,
            ln_gamma,
            positive,
            negative,
            zero_count,
            count,
            min,
            max,
        })
    }
}

fn ln_gamma_initial() -> f64 {
    ((1.0 + ALPHA_INITIAL) / (1.0 - ALPHA_INITIAL)).ln()
}

/// Inclusive key range of finite non-zero magnitudes (5e-324 ..= f64::MAX) at `ln_gamma`,
/// widened by one key each side for rounding in `ln`.
fn reachable_keys(ln_gamma: f64) -> (i32, i32) {
    let smallest = (f64::from_bits(1).ln() / ln_gamma).ceil() as i32;
    let largest = (f64::MAX.ln() / ln_gamma).ceil() as i32;
    (smallest - 1, largest + 1)
}

/// `ceil(key / 2)`: the arithmetic shift floors (toward -∞) and odd keys round up by one.
fn collapse_key(key: i32) -> i32 {
    (key >> 1) + (key & 1)
}

impl DenseStore {
    fn width(&self) -> usize {
        self.counts.len()
    }

    fn key_last(&self) -> i32 {
        self.key_first + self.counts.len() as i32 - 1
    }

    /// Width after adding `key`, without allocating.
    fn width_including(&self, key: i32) -> usize {
        if self.counts.is_empty() {
            return 1;
        }
        let low = i64::from(self.key_first.min(key));
        let high = i64::from(self.key_last().max(key));
        (high - low + 1) as usize
    }

    fn union_width(&self, other: &DenseStore) -> usize {
        match (self.counts.is_empty(), other.counts.is_empty()) {
            (true, _) => other.width(),
            (_, true) => self.width(),
            _ => {
                let low = i64::from(self.key_first.min(other.key_first));
                let high = i64::from(self.key_last().max(other.key_last()));
                (high - low + 1) as usize
            }
        }
    }

    fn add(&mut self, key: i32, count: u64) {
        if self.counts.is_empty() {
            self.key_first = key;
            self.counts.push(count);
            return;
        }
        // Grow to the exact width: doubling slack would let 2048 buckets hold 32 KiB. Ranges
        // extend at most ~2048 times between collapses, so the extra copies stay cheap.
        if key < self.key_first {
            let grow = (self.key_first - key) as usize;
            self.counts.reserve_exact(grow);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.key_first = key;
        } else if key > self.key_last() {
            let len = (key - self.key_first) as usize + 1;
            self.counts.reserve_exact(len - self.counts.len());
            self.counts.resize(len, 0);
        }
        let slot = &mut self.counts[(key - self.key_first) as usize];
        *slot = slot.saturating_add(count);
    }

    fn add_store(&mut self, other: &DenseStore) {
        if other.counts.is_empty() {
            return;
        }
        // Widen once to the union range, then add slot by slot.
        self.add(other.key_first, 0);
        self.add(other.key_last(), 0);
        let offset = (other.key_first - self.key_first) as usize;
        for (slot, &count) in self.counts[offset..].iter_mut().zip(other.counts.iter()) {
            *slot = slot.saturating_add(count);
        }
    }

    /// Folds key `k` into `ceil(k/2)` in place; destinations never run ahead of sources.
    fn collapse(&mut self) {
        if self.counts.is_empty() {
            return;
        }
        let key_first = collapse_key(self.key_first);
        let width = (collapse_key(self.key_last()) - key_first) as usize + 1;
        for source_idx in 0..self.counts.len() {
            let key = self.key_first + source_idx as i32;
            let target_idx = (collapse_key(key) - key_first) as usize;
            let count = std::mem::take(&mut self.counts[source_idx]);
            self.counts[target_idx] = self.counts[target_idx].saturating_add(count);
        }
        self.counts.truncate(width);
        self.counts.shrink_to_fit();
        self.key_first = key_first;
    }

    fn iter_ascending(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        let key_first = self.key_first;
        self.counts
            .iter()
            .enumerate()
            .map(move |(idx, &count)| (key_first + idx as i32, count))
    }

    fn iter_descending(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        let key_first = self.key_first;
        self.counts
            .iter()
            .enumerate()
            .rev()
            .map(move |(idx, &count)| (key_first + idx as i32, count))
    }

    /// Sum of counts, or `None` on overflow (only reachable from hostile encodings).
    fn total(&self) -> Option<u64> {
        self.counts
            .iter()
            .try_fold(0u64, |sum, &count| sum.checked_add(count))
    }

    fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u64>()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_zigzag(out, i64::from(self.key_first));
        put_varint(out, self.counts.len() as u64);
        for &count in &self.counts {
            put_varint(out, count);
        }
    }

    fn decode(reader: &mut Reader<'_>, width_max: usize) -> Result<Self, SketchError> {
        let key_first = reader.zigzag()?;
        let len = reader.varint_max(width_max as u64, "uddsketch store too wide")? as usize;
        let key_first = i32::try_from(key_first)
            .ok()
            .filter(|&key| key.checked_add(len as i32).is_some())
            .ok_or(SketchError::Invalid("uddsketch key out of range"))?;
        // Every count takes at least one byte: check before allocating.
        if reader.remaining().len() < len {
            return Err(SketchError::Truncated);
        }
        let mut counts = Vec::with_capacity(len);
        for _ in 0..len {
            counts.push(reader.varint()?);
        }
        if counts.first() == Some(&0) || counts.last() == Some(&0) {
            return Err(SketchError::Invalid("uddsketch store range not tight"));
        }
        let key_first = if counts.is_empty() { 0 } else { key_first };
        Ok(DenseStore { key_first, counts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(sketch: &UddSketch) -> UddSketch {
        let mut out = Vec::new();
        sketch.encode(&mut out);
        let mut reader = Reader::new(&out);
        let decoded = UddSketch::decode(&mut reader).expect("decodes");
        assert_eq!(reader.position(), out.len());
        decoded
    }

    #[test]
    fn collapse_key_is_ceiling_half() {
        for key in -9..=9 {
            assert_eq!(
                collapse_key(key),
                (f64::from(key) / 2.0).ceil() as i32,
                "key {key}"
            );
        }
        assert_eq!(collapse_key(i32::MIN), i32::MIN / 2);
        assert_eq!(collapse_key(i32::MAX), i32::MAX / 2 + 1);
    }

    #[test]
    fn representative_is_within_alpha_of_bucket_members() {
        let sketch = UddSketch::new();
        for value in [1e-300, 1e-5, 0.37, 1.0, 2.5, 1234.5, 1e300, f64::MAX] {
            let estimate = sketch.representative(sketch.key_of(value)).min(f64::MAX);
            let error = (estimate - value).abs() / value;
            assert!(
                error <= ALPHA_INITIAL * 1.000_001,
                "value {value} error {error}"
            );
        }
    }

    #[test]
    fn collapse_keeps_counts_and_alpha_follows_recurrence() {
        let mut sketch = UddSketch::new();
        for idx in 0..5000 {
            sketch.insert(1.001f64.powi(idx) * if idx % 3 == 0 { -1.0 } else { 1.0 });
        }
        let alpha = sketch.alpha();
        sketch.collapse();
        let expected = 2.0 * alpha / (1.0 + alpha * alpha);
        assert!((sketch.alpha() - expected).abs() < 1e-12);
        assert_eq!(sketch.positive.total(), Some(3333));
        assert_eq!(sketch.negative.total(), Some(1667));
    }

    #[test]
    fn extreme_range_collapses_without_huge_allocation() {
        let mut sketch = UddSketch::new();
        for value in [
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
            -5e-324,
            5e-324,
            1.0,
            0.0,
        ] {
            sketch.insert(value);
            assert!(sketch.positive.width() + sketch.negative.width() <= BUCKET_COUNT_MAX);
        }
        assert!(sketch.collapses > 0);
        assert_eq!(sketch.quantile(0.0), Some(-f64::MAX));
        assert_eq!(sketch.quantile(1.0), Some(f64::MAX));
        let median = sketch.quantile(0.5).expect("non-empty");
        assert!(median.is_finite());
        assert_eq!(round_trip(&sketch), sketch);
    }

    #[test]
    fn zero_and_negative_ranks_are_ordered() {
        let mut sketch = UddSketch::new();
        for value in [-100.0, -1.0, 0.0, 0.0, 1.0, 100.0] {
            sketch.insert(value);
        }
        assert_eq!(sketch.value_at_rank(2), 0.0);
        assert_eq!(sketch.value_at_rank(3), 0.0);
        assert!((sketch.value_at_rank(1) + 1.0).abs() <= 0.01);
        assert!((sketch.value_at_rank(4) - 1.0).abs() <= 0.01);
    }

    #[test]
    fn decode_rejects_unreachable_keys() {
        let mut sketch = UddSketch::new();
        sketch.insert(3.0);
        sketch.positive.key_first = reachable_keys(sketch.ln_gamma).1 + 1;
        let mut out = Vec::new();
        sketch.encode(&mut out);
        assert!(UddSketch::decode(&mut Reader::new(&out)).is_err());
        sketch.positive.key_first -= 1;
        out.clear();
        sketch.encode(&mut out);
        let mut decoded = UddSketch::decode(&mut Reader::new(&out)).expect("reachable key");
        decoded.insert(-5e-324);
        decoded.insert(5e-324);
        assert!(decoded.collapses <= COLLAPSES_MAX);
    }

    #[test]
    fn reachable_keys_cover_every_finite_magnitude() {
        let sketch = UddSketch::new();
        let (low, high) = reachable_keys(sketch.ln_gamma);
        assert!(sketch.key_of(f64::from_bits(1)) >= low);
        assert!(sketch.key_of(f64::MAX) <= high);
    }

    #[test]
    fn decode_rejects_wide_or_loose_stores() {
        let mut sketch = UddSketch::new();
        sketch.insert(3.0);
        let mut out = Vec::new();
        sketch.encode(&mut out);
        // Patch the positive store length (byte after the zigzag key) to 2 with one count.
        let mut loose = out.clone();
        let len_idx = 1 + 1 + 8 + 8 + 1 + 1;
        assert_eq!(loose[len_idx], 1);
        loose[len_idx] = 2;
        loose.insert(len_idx + 2, 0);
        assert!(UddSketch::decode(&mut Reader::new(&loose)).is_err());
    }
}
