//! `n_unique` and `entropy`: how many distinct values, and how evenly spread.
//!
//! `n_unique` feeds a 64-bit hash of each value into `sketch::DistinctCount` (exact, then a
//! set, then HyperLogLog++). Identity follows beava (oracle): `1`, `1.0` and `"1"` are distinct,
//! but `true` counts as `1` and `false` as `0`; nested JSON values count by content.
//!
//! `entropy` keeps exact per-category counts (typed keys, first-seen order) capped at 1024
//! categories; values of new categories beyond the cap are dropped and counted in
//! [`entropy_categories_capped_total`].

use crate::scalar::Scalar;
use model::Value;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tag bytes for non-string values. They are control characters, which pushed strings can never
/// contain, so no string hashes like a number.
const TAG_INT: u8 = 0x01;
const TAG_FLOAT: u8 = 0x02;
const TAG_NESTED: u8 = 0x03;

/// Hash identity of `n_unique`. `None` for null.
pub fn distinct_hash(value: &Value) -> Option<u64> {
    let tagged = |tag: u8, bits: u64| {
        let mut buf = [0u8; 9];
        buf[0] = tag;
        buf[1..].copy_from_slice(&bits.to_le_bytes());
        sketch::hash_bytes(&buf)
    };
    Some(match value {
        Value::Null => return None,
        Value::I64(v) => tagged(TAG_INT, *v as u64),
        Value::Bool(b) => tagged(TAG_INT, u64::from(*b)),
        Value::F64(v) => tagged(TAG_FLOAT, v.to_bits()),
        Value::Str(s) => sketch::hash_bytes(s.as_bytes()),
        Value::List(_) | Value::Map(_) => {
            let mut buf = vec![TAG_NESTED];
            encode_nested(value, &mut buf);
            sketch::hash_bytes(&buf)
        }
    })
}

/// Injective byte encoding of a value tree (for hashing only).
fn encode_nested(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0),
        Value::Bool(b) => out.extend_from_slice(&[1, u8::from(*b)]),
        Value::I64(v) => {
            out.push(2);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::F64(v) => {
            out.push(3);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            out.push(4);
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::List(items) => {
            out.push(5);
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                encode_nested(item, out);
            }
        }
        Value::Map(entries) => {
            out.push(6);
            out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
            for (k, v) in entries {
                out.extend_from_slice(&(k.len() as u64).to_le_bytes());
                out.extend_from_slice(k.as_bytes());
                encode_nested(v, out);
            }
        }
    }
}

/// `n_unique` output.
pub fn read_n_unique(estimate: u64) -> Value {
    Value::I64(i64::try_from(estimate).unwrap_or(i64::MAX))
}

/// Most categories one `entropy` state tracks (beava: 1024).
pub const ENTROPY_CATEGORIES_MAX: usize = 1024;

static ENTROPY_CAPPED: AtomicU64 = AtomicU64::new(0);

/// Values dropped because their `entropy` state was full (`beava_entropy_categories_capped_total`,
/// also reported as `beava_lifetime_op_cap_hit_total`).
pub fn entropy_categories_capped_total() -> u64 {
    ENTROPY_CAPPED.load(Ordering::Relaxed)
}

/// Exact category counts in first-seen order (also one window bucket).
#[derive(Clone, Debug, Default)]
pub struct Categories {
    pub(crate) counts: Vec<(Scalar, u64)>,
}

impl Categories {
    pub fn add(&mut self, value: &Value) {
        self.add_n(value, 1);
    }

    fn add_n(&mut self, value: &Value, n: u64) {
        if let Some(slot) = self
            .counts
            .iter_mut()
            .find(|(k, _)| scalar_matches(k, value))
        {
            slot.1 += n;
            return;
        }
        if self.counts.len() >= ENTROPY_CATEGORIES_MAX {
            ENTROPY_CAPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(key) = Scalar::from_value(value) {
            self.counts.push((key, n));
        }
    }

    pub fn merge(&mut self, other: &Categories) {
        for (key, n) in &other.counts {
            if let Some(slot) = self.counts.iter_mut().find(|(k, _)| k == key) {
                slot.1 += n;
            } else if self.counts.len() < ENTROPY_CATEGORIES_MAX {
                self.counts.push((key.clone(), *n));
            }
        }
    }

    /// Shannon entropy in bits, `-Σ p·log2 p`; 0.0 when empty.
    pub fn entropy(&self) -> f64 {
        let total: u64 = self.counts.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return 0.0;
        }
        let mut h = 0.0;
        for (_, n) in &self.counts {
            let p = *n as f64 / total as f64;
            h -= p * p.log2();
        }
        h
    }

    #[cfg(test)]
    pub fn counts(&self) -> &[(Scalar, u64)] {
        &self.counts
    }

    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<(Scalar, u64)>()
            + self
                .counts
                .iter()
                .map(|(k, _)| k.heap_bytes())
                .sum::<usize>()
    }
}

/// Typed equality between a stored key and an incoming value, without building a `Scalar`.
fn scalar_matches(key: &Scalar, value: &Value) -> bool {
    match (key, value) {
        (Scalar::I64(a), Value::I64(b)) => a == b,
        (Scalar::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
        (Scalar::Bool(a), Value::Bool(b)) => a == b,
        (Scalar::Str(a), Value::Str(b)) => a == b,
        (Scalar::Nested(a), b) => a.key_eq(b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_follows_beava() {
        let h = |v: Value| distinct_hash(&v).unwrap();
        assert_eq!(h(Value::I64(1)), h(Value::Bool(true)));
        assert_eq!(h(Value::I64(0)), h(Value::Bool(false)));
        assert_ne!(h(Value::I64(1)), h(Value::F64(1.0)));
        assert_ne!(h(Value::I64(1)), h(Value::str("1")));
        assert_ne!(h(Value::str("true")), h(Value::Bool(true)));
        assert_eq!(
            h(Value::List(vec![Value::I64(1)])),
            h(Value::List(vec![Value::I64(1)]))
        );
        assert_ne!(
            h(Value::List(vec![Value::I64(1)])),
            h(Value::List(vec![Value::I64(2)]))
        );
        assert_eq!(distinct_hash(&Value::Null), None);
    }

    #[test]
    fn entropy_matches_oracle_bits() {
        // Oracle: a,a,b -> 0.9182958340544896; a,b,a,b,c -> 1.5219280948873621;
        // a,a,b,b,c,a,c -> 1.5566567074628228.
        let mut c = Categories::default();
        assert_eq!(c.entropy(), 0.0);
        for s in ["a", "a", "b"] {
            c.add(&Value::str(s));
        }
        assert_eq!(c.entropy(), 0.9182958340544896);
        let mut c = Categories::default();
        for s in ["a", "a", "b", "b", "c", "a", "c"] {
            c.add(&Value::str(s));
        }
        assert_eq!(c.entropy(), 1.5566567074628228);
    }

    #[test]
    fn entropy_caps_categories() {
        let mut c = Categories::default();
        let before = entropy_categories_capped_total();
        for i in 0..(ENTROPY_CATEGORIES_MAX as i64 + 5) {
            c.add(&Value::I64(i));
        }
        c.add(&Value::I64(0));
        assert_eq!(c.counts().len(), ENTROPY_CATEGORIES_MAX);
        assert_eq!(c.total(), ENTROPY_CATEGORIES_MAX as u64 + 1);
        assert!(entropy_categories_capped_total() >= before + 5);
    }
}
