//! `sum`, `mean`, `var`, `std`: numeric moments.
//!
//! Only numeric values (`i64`/`f64`, whatever the declared field type) update; strings, bools,
//! nested values and nulls are skipped, so a numeric op on a `str` field registers fine and reads
//! null forever (oracle). `var`/`std` are **sample** statistics (n − 1), computed with Welford's
//! update (bit-identical to beava on the lifetime path) and Chan's pairwise merge across window
//! buckets.

use model::Value;

/// Running `Σx` and `n` (`sum`, `mean`; also one window bucket).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SumCount {
    pub sum: f64,
    pub n: u64,
}

impl SumCount {
    pub fn add(&mut self, x: f64) {
        self.sum += x;
        self.n += 1;
    }

    pub fn merge(&mut self, other: &SumCount) {
        self.sum += other.sum;
        self.n += other.n;
    }

    /// `sum`: f64, null when no value was seen.
    pub fn read_sum(&self) -> Value {
        if self.n == 0 {
            Value::Null
        } else {
            Value::F64(self.sum)
        }
    }

    pub fn read_mean(&self) -> Value {
        if self.n == 0 {
            Value::Null
        } else {
            Value::F64(self.sum / self.n as f64)
        }
    }
}

/// Welford accumulator (`var`, `std`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Welford {
    pub n: u64,
    pub mean: f64,
    pub m2: f64,
}

impl Welford {
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Chan et al. parallel combination.
    pub fn merge(&mut self, other: &Welford) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        let (na, nb, nf) = (self.n as f64, other.n as f64, n as f64);
        self.mean += delta * nb / nf;
        self.m2 += other.m2 + delta * delta * na * nb / nf;
        self.n = n;
    }

    /// Sample variance; `None` below two values.
    pub fn sample_var(&self) -> Option<f64> {
        (self.n >= 2).then(|| self.m2 / (self.n - 1) as f64)
    }

    pub fn read_var(&self) -> Value {
        self.sample_var().map_or(Value::Null, Value::F64)
    }

    pub fn read_std(&self) -> Value {
        self.sample_var()
            .map_or(Value::Null, |v| Value::F64(v.sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_and_mean_are_null_until_a_value() {
        let mut s = SumCount::default();
        assert_eq!(s.read_sum(), Value::Null);
        assert_eq!(s.read_mean(), Value::Null);
        s.add(1.0);
        s.add(2.5);
        assert_eq!(s.read_sum(), Value::F64(3.5));
        assert_eq!(s.read_mean(), Value::F64(1.75));
    }

    #[test]
    fn welford_matches_beava_bits() {
        // Oracle: var of [1, 1, 3] = 1.3333333333333335, std of [1, 2, 2.5] = 0.7637626158259734.
        let mut w = Welford::default();
        for x in [1.0, 1.0, 3.0] {
            w.add(x);
        }
        assert_eq!(w.read_var(), Value::F64(1.3333333333333335));
        let mut w = Welford::default();
        for x in [1.0, 2.0, 2.5] {
            w.add(x);
        }
        assert_eq!(w.read_std(), Value::F64(0.7637626158259734));
    }

    #[test]
    fn welford_needs_two_values_and_merges() {
        let mut a = Welford::default();
        a.add(4.0);
        assert_eq!(a.read_var(), Value::Null);
        let mut b = Welford::default();
        for x in [1.0, 7.0, 10.0] {
            b.add(x);
        }
        a.merge(&b);
        let mut all = Welford::default();
        for x in [4.0, 1.0, 7.0, 10.0] {
            all.add(x);
        }
        assert_eq!(a.n, 4);
        assert!((a.sample_var().unwrap() - all.sample_var().unwrap()).abs() < 1e-12);
    }
}
