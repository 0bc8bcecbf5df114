//! `top_k`: the k most frequent values with their counts (default k = 10, k ≤ 1024).
//!
//! Output is a JSON array of `{"count": c, "value": v}` objects (members in that order, as beava
//! serialises them), sorted by count descending then value ascending, where values order strings
//! < integers < floats < bools (oracle). Lists and objects (from `json` fields) are not counted;
//! `1`, `1.0` and `true` are different values. An empty window reads `[]`.

use crate::scalar::Scalar;
use compact_str::CompactString;
use model::Value;
use sketch::TopK;

/// Default `k` when the param is absent or not a positive integer (oracle: `k: 2.5`, `k: -1`,
/// `k: "3"` all read as 10).
pub const K_DEFAULT: usize = 10;

/// The key for an incoming value; `None` for values `top_k` does not count.
pub fn key_of(value: &Value) -> Option<Scalar> {
    Some(match value {
        Value::I64(v) => Scalar::I64(*v),
        Value::F64(v) => Scalar::F64(*v),
        Value::Bool(v) => Scalar::Bool(*v),
        Value::Str(s) => Scalar::Str(s.clone()),
        Value::Null | Value::List(_) | Value::Map(_) => return None,
    })
}

/// The hash a key is counted under: `1`, `1.0` and `true` are different keys.
pub fn hash_of(key: &Scalar) -> u64 {
    let hash = |tag: u8, bits: u64| {
        let mut buf = [0u8; 9];
        buf[0] = tag;
        buf[1..].copy_from_slice(&bits.to_le_bytes());
        sketch::hash_bytes(&buf)
    };
    match key {
        Scalar::I64(v) => hash(0x01, *v as u64),
        Scalar::F64(v) => hash(0x02, v.to_bits()),
        Scalar::Bool(v) => hash(0x04, u64::from(*v)),
        Scalar::Str(s) => sketch::hash_bytes(s.as_bytes()),
        // Never counted: `key_of` refuses lists and objects.
        Scalar::Nested(_) => 0,
    }
}

pub fn read(sketch: Option<&TopK<Scalar>>, k: usize) -> Value {
    match sketch {
        None => Value::List(Vec::new()),
        Some(s) => render(s, k),
    }
}

/// Merges the active buckets (oldest first); a single bucket is read in place.
pub fn read_merged<'a>(mut buckets: impl Iterator<Item = &'a TopK<Scalar>>, k: usize) -> Value {
    let Some(first) = buckets.next() else {
        return Value::List(Vec::new());
    };
    match buckets.next() {
        None => render(first, k),
        Some(second) => {
            let mut acc = first.clone();
            acc.merge(second);
            for b in buckets {
                acc.merge(b);
            }
            render(&acc, k)
        }
    }
}

fn render(sketch: &TopK<Scalar>, k: usize) -> Value {
    let mut top = sketch.top(Scalar::tie_order);
    top.truncate(k);
    Value::List(
        top.into_iter()
            .map(|(value, count)| {
                Value::Map(vec![
                    (
                        CompactString::const_new("count"),
                        Value::I64(i64::try_from(count).unwrap_or(i64::MAX)),
                    ),
                    (CompactString::const_new("value"), value.to_value()),
                ])
            })
            .collect(),
    )
}
