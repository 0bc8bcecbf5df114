//! `Scalar`: a compact owned copy of one field value, as kept in state (`first`, `last`, `min`,
//! `top_k` keys, buffers).
//!
//! 24 bytes (the size of a `CompactString`) instead of `Value`'s 32; nested JSON values, which
//! only `json`-typed fields can carry, are boxed.
//!
//! Equality and hashing are *typed* (beava-compat oracle): `1`, `1.0` and `true` are three
//! different keys, and floats compare by bit pattern.

use compact_str::CompactString;
use model::Value;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

#[derive(Clone, Debug)]
pub enum Scalar {
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(CompactString),
    /// A list or object from a `json` field.
    Nested(Box<Value>),
}

impl Scalar {
    /// `None` for null (absent fields and explicit nulls are skipped by every operator).
    pub fn from_value(value: &Value) -> Option<Scalar> {
        Some(match value {
            Value::Null => return None,
            Value::I64(v) => Scalar::I64(*v),
            Value::F64(v) => Scalar::F64(*v),
            Value::Bool(v) => Scalar::Bool(*v),
            Value::Str(v) => Scalar::Str(v.clone()),
            Value::List(_) | Value::Map(_) => Scalar::Nested(Box::new(value.clone())),
        })
    }

    pub fn to_value(&self) -> Value {
        match self {
            Scalar::I64(v) => Value::I64(*v),
            Scalar::F64(v) => Value::F64(*v),
            Scalar::Bool(v) => Value::Bool(*v),
            Scalar::Str(v) => Value::Str(v.clone()),
            Scalar::Nested(v) => (**v).clone(),
        }
    }

    /// Overwrites `self` with `value` reusing the string buffer when possible.
    pub fn assign(&mut self, value: &Value) {
        match (&mut *self, value) {
            (Scalar::Str(s), Value::Str(v)) => {
                s.clear();
                s.push_str(v);
            }
            _ => {
                if let Some(v) = Scalar::from_value(value) {
                    *self = v;
                }
            }
        }
    }

    /// `min`/`max` ordering as beava implements it: only two values of the *same* kind compare
    /// (i64 with i64, f64 with f64, str with str). Bools, mixed kinds (even `1` vs `2.5`) and
    /// nested values are unordered, so the current extreme is kept.
    pub fn cmp_same_kind(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Scalar::I64(a), Value::I64(b)) => Some(a.cmp(b)),
            (Scalar::F64(a), Value::F64(b)) => a.partial_cmp(b),
            (Scalar::Str(a), Value::Str(b)) => Some(a.as_str().cmp(b.as_str())),
            _ => None,
        }
    }

    /// Same rule between two stored scalars (merging window buckets).
    pub fn cmp_same_kind_scalar(&self, other: &Scalar) -> Option<Ordering> {
        match (self, other) {
            (Scalar::I64(a), Scalar::I64(b)) => Some(a.cmp(b)),
            (Scalar::F64(a), Scalar::F64(b)) => a.partial_cmp(b),
            (Scalar::Str(a), Scalar::Str(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Tie order of `top_k` (oracle): strings, then integers, then floats, then bools, each in
    /// natural order; nested values last.
    pub fn tie_order(&self, other: &Scalar) -> Ordering {
        fn rank(s: &Scalar) -> u8 {
            match s {
                Scalar::Str(_) => 0,
                Scalar::I64(_) => 1,
                Scalar::F64(_) => 2,
                Scalar::Bool(_) => 3,
                Scalar::Nested(_) => 4,
            }
        }
        match (self, other) {
            (Scalar::Str(a), Scalar::Str(b)) => a.cmp(b),
            (Scalar::I64(a), Scalar::I64(b)) => a.cmp(b),
            (Scalar::F64(a), Scalar::F64(b)) => a.total_cmp(b),
            (Scalar::Bool(a), Scalar::Bool(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }

    /// Heap bytes owned beyond the inline 24.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Scalar::Str(s) if s.is_heap_allocated() => s.capacity(),
            Scalar::Nested(v) => std::mem::size_of::<Value>() + value_heap_bytes(v),
            _ => 0,
        }
    }
}

/// Approximate heap bytes of a `Value` tree.
pub fn value_heap_bytes(value: &Value) -> usize {
    match value {
        Value::Str(s) if s.is_heap_allocated() => s.capacity(),
        Value::List(items) => {
            items.capacity() * std::mem::size_of::<Value>()
                + items.iter().map(value_heap_bytes).sum::<usize>()
        }
        Value::Map(entries) => {
            entries.capacity() * std::mem::size_of::<(CompactString, Value)>()
                + entries
                    .iter()
                    .map(|(k, v)| {
                        value_heap_bytes(v)
                            + if k.is_heap_allocated() {
                                k.capacity()
                            } else {
                                0
                            }
                    })
                    .sum::<usize>()
        }
        _ => 0,
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Scalar::I64(a), Scalar::I64(b)) => a == b,
            (Scalar::F64(a), Scalar::F64(b)) => a.to_bits() == b.to_bits(),
            (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
            (Scalar::Str(a), Scalar::Str(b)) => a == b,
            (Scalar::Nested(a), Scalar::Nested(b)) => a.key_eq(b),
            _ => false,
        }
    }
}

impl Eq for Scalar {}

impl Hash for Scalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Scalar::I64(v) => (0u8, v).hash(state),
            Scalar::F64(v) => (1u8, v.to_bits()).hash(state),
            Scalar::Bool(v) => (2u8, v).hash(state),
            Scalar::Str(v) => (3u8, v.as_str()).hash(state),
            // Rare (json lists/objects): equal values must hash equally; a constant is correct.
            Scalar::Nested(_) => 4u8.hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_as_small_as_a_compact_string() {
        assert_eq!(std::mem::size_of::<Scalar>(), 24);
        assert_eq!(std::mem::size_of::<Option<Scalar>>(), 24);
    }

    #[test]
    fn equality_is_typed() {
        let one = Scalar::I64(1);
        assert_ne!(one, Scalar::F64(1.0));
        assert_ne!(one, Scalar::Bool(true));
        assert_eq!(Scalar::F64(2.5), Scalar::F64(2.5));
    }

    #[test]
    fn min_max_compare_only_same_kind() {
        assert_eq!(
            Scalar::I64(1).cmp_same_kind(&Value::I64(3)),
            Some(Ordering::Less)
        );
        assert_eq!(Scalar::I64(1).cmp_same_kind(&Value::F64(2.5)), None);
        assert_eq!(Scalar::Bool(false).cmp_same_kind(&Value::Bool(true)), None);
        assert_eq!(
            Scalar::Str("b".into()).cmp_same_kind(&Value::str("a")),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn tie_order_ranks_kinds() {
        let mut v = vec![
            Scalar::Bool(true),
            Scalar::F64(2.5),
            Scalar::I64(1),
            Scalar::Str("zz".into()),
            Scalar::F64(-7.5),
            Scalar::Bool(false),
            Scalar::I64(-3),
            Scalar::Str("aa".into()),
        ];
        v.sort_by(Scalar::tie_order);
        let want = vec![
            Scalar::Str("aa".into()),
            Scalar::Str("zz".into()),
            Scalar::I64(-3),
            Scalar::I64(1),
            Scalar::F64(-7.5),
            Scalar::F64(2.5),
            Scalar::Bool(false),
            Scalar::Bool(true),
        ];
        assert_eq!(v, want);
    }
}
