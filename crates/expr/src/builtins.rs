//! Builtin functions: `isnull`, `cast` and `quadkey`, their arities and the quadkey cell id.
//!
//! ## Quadkey cell id
//! `quadkey(lat, lon, zoom)` returns beava's "simplified Mercator" cell id as an i64, which we
//! reverse-engineered from the beava 0.0.6 server (see the `quadkey` cases in
//! `tests/semantics.rs`):
//!
//! ```text
//! n    = 2^zoom                                    zoom: i64 in 1..=24, else null
//! lat' = clamp(lat, -85.05112878, 85.05112878)      NaN stays NaN
//! x    = floor((lon + 180) / 360 * n)               not clamped: may leave 0..n
//! y    = floor((1 + sin(lat' in radians)) / 2 * n)  northwards: 0 is the south edge
//! id   = x * n + y                                  i64 arithmetic, saturating
//! ```
//!
//! (f64 to i64 conversions saturate and map NaN to 0, as Rust's `as` does.)
//!
//! so for a valid longitude `id >> zoom` is the column and `id & (n - 1)` the row. `y` uses
//! the sine (a cylindrical equal-area projection), not the true Mercator `ln(tan(..))`.
//! `lat` and `lon` may be i64 or f64; any other argument, or null, gives null.

use model::Value;

/// A function the evaluator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    IsNull,
    Cast,
    Quadkey,
}

impl Builtin {
    pub fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "isnull" => Builtin::IsNull,
            "cast" => Builtin::Cast,
            "quadkey" => Builtin::Quadkey,
            _ => return None,
        })
    }

    pub fn arity(self) -> usize {
        match self {
            Builtin::IsNull => 1,
            Builtin::Cast => 2,
            Builtin::Quadkey => 3,
        }
    }
}

const LATITUDE_MAX: f64 = 85.051_128_78;
const ZOOM_MIN: i64 = 1;
const ZOOM_MAX: i64 = 24;

/// The cell id described in the module doc, or `Null`.
pub(crate) fn quadkey(lat: &Value, lon: &Value, zoom: &Value) -> Value {
    let (Some(lat), Some(lon)) = (lat.as_f64(), lon.as_f64()) else {
        return Value::Null;
    };
    let Value::I64(zoom) = *zoom else {
        return Value::Null;
    };
    if !(ZOOM_MIN..=ZOOM_MAX).contains(&zoom) {
        return Value::Null;
    }
    let cells_per_side: i64 = 1 << zoom;
    let side = cells_per_side as f64;
    let lat = lat.clamp(-LATITUDE_MAX, LATITUDE_MAX);
    let x = ((lon + 180.0) / 360.0 * side).floor() as i64;
    let y = ((1.0 + lat.to_radians().sin()) / 2.0 * side).floor() as i64;
    Value::I64(x.saturating_mul(cells_per_side).saturating_add(y))
}
