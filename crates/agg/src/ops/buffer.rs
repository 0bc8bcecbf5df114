//! Value buffers: `first_n`, `last_n`, `most_recent_n`, `lag`, `reservoir_sample`.
//!
//! All keep non-null field values of events that pass `where`, as pushed (typed `Scalar`s),
//! and read as JSON arrays (`lag` reads one value). Capacity is `n` (`samples`), at most
//! 1024; the buffer grows with the values actually seen.
//! - `first_n`: the first n values.
//! - `last_n` / `most_recent_n`: the last n, oldest → newest.
//! - `lag`: the value n values ago (null until n + 1 values).
//! - `reservoir_sample`: Algorithm R over a deterministic xorshift64 stream (a fixed seed, one
//!   draw per value past the first `samples`). beava also seeds deterministically but its
//!   stream could not be reproduced (oracle probes), so *which* values are sampled differs;
//!   the distribution is the same.

use crate::scalar::Scalar;
use model::Value;

/// A bounded buffer of values; the read mode is decided by the op.
#[derive(Clone, Debug, Default)]
pub struct Ring {
    /// Arrival order until full; then a ring whose oldest element is at `head`.
    pub(crate) items: Vec<Scalar>,
    pub(crate) head: u32,
    /// Values offered so far (reservoir sampling) / RNG state.
    pub(crate) n_seen: u64,
    pub(crate) rng: u64,
}

const RNG_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

impl Ring {
    /// `first_n`: keeps the first `cap` values.
    pub fn push_first(&mut self, value: &Value, cap: usize) {
        if self.items.len() < cap {
            if let Some(s) = Scalar::from_value(value) {
                self.items.push(s);
            }
        }
    }

    /// `last_n`, `most_recent_n`, `lag`: keeps the last `cap` values.
    pub fn push_last(&mut self, value: &Value, cap: usize) {
        let Some(s) = Scalar::from_value(value) else {
            return;
        };
        if self.items.len() < cap {
            self.items.push(s);
        } else if cap > 0 {
            let head = self.head as usize;
            self.items[head] = s;
            self.head = ((head + 1) % cap) as u32;
        }
    }

    /// `reservoir_sample` (Algorithm R).
    pub fn push_sample(&mut self, value: &Value, cap: usize) {
        if value.is_null() {
            return;
        }
        let i = self.n_seen;
        self.n_seen += 1;
        if self.items.len() < cap {
            if let Some(s) = Scalar::from_value(value) {
                self.items.push(s);
            }
            return;
        }
        if self.rng == 0 {
            self.rng = RNG_SEED;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let j = self.rng % (i + 1);
        if (j as usize) < cap {
            if let Some(s) = Scalar::from_value(value) {
                self.items[j as usize] = s;
            }
        }
    }

    /// Values oldest → newest (for `first_n` and the reservoir: storage order).
    pub fn read_list(&self) -> Value {
        let (newer, older) = self.items.split_at(self.head as usize);
        Value::List(older.iter().chain(newer).map(Scalar::to_value).collect())
    }

    /// `lag n`: the value `n` values before the newest, buffered with capacity `n + 1`.
    pub fn read_lag(&self, n: usize) -> Value {
        if self.items.len() < n + 1 {
            return Value::Null;
        }
        // Full: the oldest element is exactly n values before the newest.
        self.items[self.head as usize % self.items.len()].to_value()
    }

    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Scalar>()
            + self.items.iter().map(Scalar::heap_bytes).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &Value) -> Vec<i64> {
        match v {
            Value::List(items) => items
                .iter()
                .map(|i| match i {
                    Value::I64(i) => *i,
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_last_lag() {
        let (mut first, mut last, mut lag) = (Ring::default(), Ring::default(), Ring::default());
        assert_eq!(ints(&last.read_list()), Vec::<i64>::new());
        for i in 1..=5 {
            first.push_first(&Value::I64(i), 3);
            last.push_last(&Value::I64(i), 3);
            lag.push_last(&Value::I64(i), 2 + 1);
            if i == 2 {
                assert_eq!(lag.read_lag(2), Value::Null);
            }
        }
        last.push_last(&Value::Null, 3);
        assert_eq!(ints(&first.read_list()), vec![1, 2, 3]);
        assert_eq!(ints(&last.read_list()), vec![3, 4, 5]);
        assert_eq!(lag.read_lag(2), Value::I64(3));
    }

    #[test]
    fn reservoir_keeps_samples_values() {
        let mut r = Ring::default();
        for i in 0..1000 {
            r.push_sample(&Value::I64(i), 5);
        }
        let got = ints(&r.read_list());
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|v| (0..1000).contains(v)));
        // Deterministic.
        let mut again = Ring::default();
        for i in 0..1000 {
            again.push_sample(&Value::I64(i), 5);
        }
        assert_eq!(ints(&again.read_list()), got);
    }
}
