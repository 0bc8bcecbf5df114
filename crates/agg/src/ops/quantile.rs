//! `quantile`: the q-quantile of a numeric field (default q = 0.5).
//!
//! `sketch::QuantileSketch` is exact up to 256 values (linear interpolation at `q·(n−1)`, as
//! beava) and a UDDSketch beyond; window buckets are merged at read.

use model::Value;
use sketch::QuantileSketch;

/// Default `q` when the param is absent or not a number (oracle: `q: "0.9"` reads as 0.5).
pub const Q_DEFAULT: f64 = 0.5;

pub fn read(sketch: Option<&QuantileSketch>, q: f64) -> Value {
    sketch
        .and_then(|s| s.quantile(q))
        .map_or(Value::Null, Value::F64)
}

/// Merges the active buckets (oldest first) and reads `q`. A single bucket is read in place.
pub fn read_merged<'a>(mut buckets: impl Iterator<Item = &'a QuantileSketch>, q: f64) -> Value {
    let Some(first) = buckets.next() else {
        return Value::Null;
    };
    match buckets.next() {
        None => read(Some(first), q),
        Some(second) => {
            let mut acc = first.clone();
            acc.merge(second);
            for b in buckets {
                acc.merge(b);
            }
            read(Some(&acc), q)
        }
    }
}
