//! `min` and `max`: the typed extreme of a field.
//!
//! beava keeps the first non-null value and replaces it only by a value of the **same kind** that
//! compares lower (`min`) / higher (`max`): i64 with i64, f64 with f64, str with str. Bools and
//! mixed kinds never compare, so `max` over `[1, 2.5, 0.5, 3]` (ints and floats pushed into one
//! `f64` field) is `3`, and `max` over `[false, true]` is `false` (oracle-verified quirks).

use crate::scalar::Scalar;
use model::Value;
use std::cmp::Ordering;

/// Which extreme: `Less` keeps the minimum, `Greater` the maximum.
pub type Direction = Ordering;

/// Offers a non-null `value` to the extreme slot.
pub fn offer(slot: &mut Option<Scalar>, value: &Value, direction: Direction) {
    match slot {
        None => *slot = Scalar::from_value(value),
        Some(current) => {
            if current.cmp_same_kind(value) == Some(direction.reverse()) {
                current.assign(value);
            }
        }
    }
}

/// Folds window-bucket extremes, oldest first, with the same rule.
pub fn merge<'a>(buckets: impl Iterator<Item = &'a Scalar>, direction: Direction) -> Value {
    let mut best: Option<&Scalar> = None;
    for candidate in buckets {
        match best {
            None => best = Some(candidate),
            Some(current) => {
                if current.cmp_same_kind_scalar(candidate) == Some(direction.reverse()) {
                    best = Some(candidate);
                }
            }
        }
    }
    best.map_or(Value::Null, Scalar::to_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(values: &[Value], direction: Direction) -> Value {
        let mut slot = None;
        for v in values {
            if !v.is_null() {
                offer(&mut slot, v, direction);
            }
        }
        slot.as_ref().map_or(Value::Null, Scalar::to_value)
    }

    #[test]
    fn numbers_and_strings() {
        let xs = [Value::I64(3), Value::I64(1), Value::I64(7)];
        assert_eq!(fold(&xs, Ordering::Less), Value::I64(1));
        assert_eq!(fold(&xs, Ordering::Greater), Value::I64(7));
        let ss = [Value::str("foo"), Value::str("bar"), Value::str("baz")];
        assert_eq!(fold(&ss, Ordering::Less), Value::str("bar"));
        assert_eq!(fold(&ss, Ordering::Greater), Value::str("foo"));
        assert_eq!(fold(&[], Ordering::Less), Value::Null);
    }

    #[test]
    fn mixed_kinds_and_bools_do_not_compare() {
        // Oracle: max over [1, 2.5, 0.5, 3] is 3, min is 1; over [1.0, 2, 3.5] max is 3.5.
        let xs = [
            Value::I64(1),
            Value::F64(2.5),
            Value::F64(0.5),
            Value::I64(3),
        ];
        assert_eq!(fold(&xs, Ordering::Greater), Value::I64(3));
        assert_eq!(fold(&xs, Ordering::Less), Value::I64(1));
        let ys = [Value::F64(1.0), Value::I64(2), Value::F64(3.5)];
        assert_eq!(fold(&ys, Ordering::Greater), Value::F64(3.5));
        let bs = [Value::Bool(false), Value::Bool(true)];
        assert_eq!(fold(&bs, Ordering::Greater), Value::Bool(false));
        assert_eq!(fold(&bs, Ordering::Less), Value::Bool(false));
    }

    #[test]
    fn bucket_merge_uses_the_same_rule() {
        let buckets = [Scalar::I64(4), Scalar::F64(9.0), Scalar::I64(6)];
        assert_eq!(merge(buckets.iter(), Ordering::Greater), Value::I64(6));
        assert_eq!(merge(buckets.iter(), Ordering::Less), Value::I64(4));
    }
}
