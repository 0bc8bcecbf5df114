//! `quantile`: exact for small samples, UDDSketch (relative error α) beyond.
//!
//! Up to `QUANTILE_EXACT_MAX` (256) values are kept as a sorted `Vec<f64>` and answered by
//! linear interpolation at rank `q·(n−1)`, exactly as beava does. The 257th value promotes to
//! a `UddSketch` with α₀ = 0.01 and ≤ 2048 buckets, which answers the same interpolation with
//! each endpoint within relative error α (α grows as `2α/(1+α²)` on each collapse).
//! The sorted vector grows by doubling from 1: two values hold 16 heap bytes.

use crate::codec::{put_f64, put_u8, put_varint, Reader};
use crate::uddsketch::UddSketch;
use crate::SketchError;

/// Largest sample kept exact.
pub const QUANTILE_EXACT_MAX: usize = 256;

const VERSION: u8 = 1;
const TAG_EXACT: u8 = 0;
const TAG_SKETCH: u8 = 1;

/// Mergeable quantile summary (`quantile`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileSketch {
    repr: QuantileRepr,
}

#[derive(Debug, Clone, PartialEq)]
enum QuantileRepr {
    /// Sorted ascending, all finite, `len() <= QUANTILE_EXACT_MAX`.
    Exact(Vec<f64>),
    Sketch(Box<UddSketch>),
}

impl Default for QuantileSketch {
    fn default() -> Self {
        Self::new()
    }
}

impl QuantileSketch {
    /// An empty summary. Allocation-free.
    pub fn new() -> Self {
        QuantileSketch {
            repr: QuantileRepr::Exact(Vec::new()),
        }
    }

    /// Adds one value. Callers guarantee it is finite; a non-finite value is ignored so it
    /// cannot poison the ordering.
    pub fn insert(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        match &mut self.repr {
            QuantileRepr::Exact(values) => {
                if values.len() == QUANTILE_EXACT_MAX {
                    let mut sketch = sketch_of(values);
                    sketch.insert(value);
                    self.repr = QuantileRepr::Sketch(sketch);
                    return;
                }
                let insert_idx = values.partition_point(|&existing| existing <= value);
                if values.len() == values.capacity() {
                    values.reserve_exact(values.len().max(1));
                }
                values.insert(insert_idx, value);
            }
            QuantileRepr::Sketch(sketch) => sketch.insert(value),
        }
    }

    /// Folds `other` in. Exact + exact stays exact while the combined sample fits.
    pub fn merge(&mut self, other: &QuantileSketch) {
        match (&mut self.repr, &other.repr) {
            (QuantileRepr::Exact(values), QuantileRepr::Exact(other_values)) => {
                if other_values.is_empty() {
                    return;
                }
                let merged = sorted_merge(values, other_values);
                self.repr = if merged.len() > QUANTILE_EXACT_MAX {
                    QuantileRepr::Sketch(sketch_of(&merged))
                } else {
                    QuantileRepr::Exact(merged)
                };
            }
            (QuantileRepr::Exact(values), QuantileRepr::Sketch(other_sketch)) => {
                let mut sketch = other_sketch.clone();
                for &value in values.iter() {
                    sketch.insert(value);
                }
                self.repr = QuantileRepr::Sketch(sketch);
            }
            (QuantileRepr::Sketch(sketch), QuantileRepr::Exact(other_values)) => {
                for &value in other_values {
                    sketch.insert(value);
                }
            }
            (QuantileRepr::Sketch(sketch), QuantileRepr::Sketch(other_sketch)) => {
                sketch.merge(other_sketch);
            }
        }
    }

    /// The `q`-quantile (linear interpolation at rank `q·(n−1)`), `None` when empty.
    /// `q` is clamped into `[0, 1]`; a NaN `q` gives `None`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if q.is_nan() {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        match &self.repr {
            QuantileRepr::Exact(values) => exact_quantile(values, q),
            QuantileRepr::Sketch(sketch) => sketch.quantile(q),
        }
    }

    /// Number of values inserted (across merges).
    pub fn count(&self) -> u64 {
        match &self.repr {
            QuantileRepr::Exact(values) => values.len() as u64,
            QuantileRepr::Sketch(sketch) => sketch.count(),
        }
    }

    /// Relative-accuracy guarantee of `quantile` endpoints: 0 while exact, else the current α.
    pub fn relative_accuracy(&self) -> f64 {
        match &self.repr {
            QuantileRepr::Exact(_) => 0.0,
            QuantileRepr::Sketch(sketch) => sketch.alpha(),
        }
    }

    /// Hints the heap an insert will read first (see [`crate::prefetch`]).
    #[inline]
    pub fn prefetch_heap(&self) {
        match &self.repr {
            QuantileRepr::Exact(values) => crate::prefetch::slice(values),
            QuantileRepr::Sketch(sketch) => crate::prefetch::line(&**sketch),
        }
    }

    /// Approximate heap bytes owned (excludes `size_of::<QuantileSketch>()` itself).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            QuantileRepr::Exact(values) => values.capacity() * std::mem::size_of::<f64>(),
            QuantileRepr::Sketch(sketch) => std::mem::size_of::<UddSketch>() + sketch.heap_bytes(),
        }
    }

    /// Layout: `[version=1][tag]` then tag 0 (exact): `[varint n][n × f64 LE, ascending]`,
    /// or tag 1 (UDDSketch): see `UddSketch::encode`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        match &self.repr {
            QuantileRepr::Exact(values) => {
                put_u8(out, TAG_EXACT);
                put_varint(out, values.len() as u64);
                for &value in values {
                    put_f64(out, value);
                }
            }
            QuantileRepr::Sketch(sketch) => {
                put_u8(out, TAG_SKETCH);
                sketch.encode(out);
            }
        }
    }

    /// Inverse of `encode`; returns the summary and the bytes consumed.
    pub fn decode(input: &[u8]) -> Result<(Self, usize), SketchError> {
        let mut reader = Reader::new(input);
        reader.expect_version(VERSION)?;
        let repr = match reader.u8()? {
            TAG_EXACT => {
                let len =
                    reader.varint_max(QUANTILE_EXACT_MAX as u64, "quantile sample too large")?;
                let len = len as usize;
                if reader.remaining().len() < len * 8 {
                    return Err(SketchError::Truncated);
                }
                let mut values = Vec::with_capacity(len.next_power_of_two());
                for _ in 0..len {
                    let value = reader.f64_finite()?;
                    if values.last().is_some_and(|&last| last > value) {
                        return Err(SketchError::Invalid("quantile sample not sorted"));
                    }
                    values.push(value);
                }
                QuantileRepr::Exact(values)
            }
            TAG_SKETCH => QuantileRepr::Sketch(Box::new(UddSketch::decode(&mut reader)?)),
            _ => return Err(SketchError::Invalid("unknown quantile tag")),
        };
        Ok((QuantileSketch { repr }, reader.position()))
    }
}

/// beava's exact rule: interpolate between the order statistics around rank `q·(n−1)`.
fn exact_quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last_idx = sorted.len().checked_sub(1)?;
    let rank = q * last_idx as f64;
    let low_idx = rank.floor() as usize;
    let high_idx = (rank.ceil() as usize).min(last_idx);
    let (low, high) = (sorted[low_idx], sorted[high_idx]);
    if low_idx == high_idx {
        return Some(low);
    }
    let fraction = rank - low_idx as f64;
    let interpolated = low + (high - low) * fraction;
    // `high - low` overflows only for values near ±f64::MAX; the convex form cannot.
    Some(if interpolated.is_finite() {
        interpolated
    } else {
        low * (1.0 - fraction) + high * fraction
    })
}

fn sorted_merge(left: &[f64], right: &[f64]) -> Vec<f64> {
    let mut merged = Vec::with_capacity((left.len() + right.len()).next_power_of_two());
    let (mut left_idx, mut right_idx) = (0, 0);
    while left_idx < left.len() && right_idx < right.len() {
        if left[left_idx] <= right[right_idx] {
            merged.push(left[left_idx]);
            left_idx += 1;
        } else {
            merged.push(right[right_idx]);
            right_idx += 1;
        }
    }
    merged.extend_from_slice(&left[left_idx..]);
    merged.extend_from_slice(&right[right_idx..]);
    merged
}

fn sketch_of(values: &[f64]) -> Box<UddSketch> {
    let mut sketch = Box::new(UddSketch::new());
    for &value in values {
        sketch.insert(value);
    }
    sketch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch_from(values: &[f64]) -> QuantileSketch {
        let mut sketch = QuantileSketch::new();
        for &value in values {
            sketch.insert(value);
        }
        sketch
    }

    fn round_trip(sketch: &QuantileSketch) -> QuantileSketch {
        let mut out = Vec::new();
        sketch.encode(&mut out);
        let (decoded, consumed) = QuantileSketch::decode(&out).expect("decodes");
        assert_eq!(consumed, out.len());
        decoded
    }

    #[test]
    fn empty_has_no_quantile_and_no_heap() {
        let sketch = QuantileSketch::new();
        assert_eq!(sketch.quantile(0.5), None);
        assert_eq!(sketch.count(), 0);
        assert_eq!(sketch.heap_bytes(), 0);
    }

    #[test]
    fn exact_interpolates_at_q_times_n_minus_one() {
        let sketch = sketch_from(&[40.0, 10.0, 30.0, 20.0]);
        assert_eq!(sketch.quantile(0.0), Some(10.0));
        assert_eq!(sketch.quantile(0.5), Some(25.0));
        assert_eq!(sketch.quantile(0.9), Some(37.0));
        assert_eq!(sketch.quantile(1.0), Some(40.0));
        assert_eq!(sketch_from(&[7.5]).quantile(0.3), Some(7.5));
    }

    #[test]
    fn exact_interpolation_survives_extreme_values() {
        let sketch = sketch_from(&[-f64::MAX, f64::MAX]);
        assert_eq!(sketch.quantile(0.5), Some(0.0));
    }

    #[test]
    fn small_samples_stay_small() {
        assert_eq!(sketch_from(&[1.0, 2.0]).heap_bytes(), 16);
        assert_eq!(sketch_from(&[1.0]).heap_bytes(), 8);
    }

    #[test]
    fn non_finite_input_is_ignored() {
        let sketch = sketch_from(&[f64::NAN, 1.0, f64::INFINITY]);
        assert_eq!(sketch.count(), 1);
        assert_eq!(sketch.quantile(f64::NAN), None);
    }

    #[test]
    fn promotes_past_exact_cap_and_keeps_count() {
        let values: Vec<f64> = (0..=QUANTILE_EXACT_MAX).map(|idx| idx as f64).collect();
        let sketch = sketch_from(&values);
        assert_eq!(sketch.count(), 257);
        assert!(sketch.relative_accuracy() > 0.0);
        let median = sketch.quantile(0.5).expect("non-empty");
        assert!((median - 128.0).abs() <= 128.0 * 0.02, "median {median}");
        assert_eq!(sketch.quantile(0.0), Some(0.0));
        assert_eq!(sketch.quantile(1.0), Some(256.0));
    }

    #[test]
    fn merge_exact_stays_exact_until_cap() {
        let mut left = sketch_from(&[3.0, 1.0]);
        left.merge(&sketch_from(&[2.0]));
        assert_eq!(left, sketch_from(&[1.0, 2.0, 3.0]));
        let many: Vec<f64> = (0..200).map(f64::from).collect();
        left.merge(&sketch_from(&many));
        left.merge(&sketch_from(&many));
        assert_eq!(left.count(), 403);
        assert!(left.relative_accuracy() > 0.0);
    }

    #[test]
    fn encode_decode_round_trips_both_tiers() {
        let large: Vec<f64> = (0..1000).map(|idx| f64::from(idx) - 300.5).collect();
        for sketch in [
            QuantileSketch::new(),
            sketch_from(&[2.0, -1.0]),
            sketch_from(&large),
        ] {
            assert_eq!(round_trip(&sketch), sketch);
        }
    }

    #[test]
    fn decode_rejects_malformed() {
        assert_eq!(
            QuantileSketch::decode(&[2]),
            Err(SketchError::BadVersion(2))
        );
        assert_eq!(
            QuantileSketch::decode(&[1, 0, 2]),
            Err(SketchError::Truncated)
        );
        assert!(matches!(
            QuantileSketch::decode(&[1, 0, 0x81, 0x02]),
            Err(SketchError::Invalid(_))
        ));
        let mut unsorted = vec![1, 0, 2];
        unsorted.extend_from_slice(&2.0f64.to_bits().to_le_bytes());
        unsorted.extend_from_slice(&1.0f64.to_bits().to_le_bytes());
        assert!(matches!(
            QuantileSketch::decode(&unsorted),
            Err(SketchError::Invalid(_))
        ));
    }
}
