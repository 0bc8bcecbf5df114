//! Mergeable summaries behind weir's sketch-backed aggregations: `n_unique`, `quantile`, `top_k`.
//!
//! Windowed operators keep one summary per sub-bucket (up to 64) and merge the active ones at
//! read time, so every type here supports `merge`, and merging is exact whenever the inputs
//! are exact. Per-entity memory is a headline metric, so each summary starts exact and tiny
//! (an empty one allocates nothing) and only promotes to a fixed-size sketch past a cap:
//!
//! | type | exact tier | sketch tier (heap) |
//! |---|---|---|
//! | [`DistinctCount`] | sorted hashes ≤ 1024 | HyperLogLog++ p=12 (4 KiB) |
//! | [`QuantileSketch`] | sorted values ≤ 256 | UDDSketch α₀=0.01, ≤ 2048 buckets (≤ 16 KiB) |
//! | [`TopK`] | `(item, count)` ≤ 1024 distinct | Count-Min 4×2048 u32 + min-heap(k) (32 KiB+) |
//!
//! Every summary has `heap_bytes`, and `encode`/`decode` with a leading version byte. Decoding
//! treats input as hostile: lengths are checked against the caps above and against the bytes
//! actually present before anything is allocated, and it never panics.
//!
//! Values enter as hashes from [`hash_bytes`] (xxh3-64), which is stable across versions and
//! platforms so persisted sketches stay meaningful.
//!
//! Accuracy: `DistinctCount` uses the full HLL++ estimator (Google's published p=12 bias
//! table, linear counting below 3100), ≈1.6% standard error past the exact tier.
//! `QuantileSketch` answers within relative error α per interpolation endpoint.
//! `TopK` counts are Count-Min estimates (never low) once past the exact tier.

mod codec;
mod count_min;
mod distinct;
mod error;
mod hash;
mod hyperloglog;
mod hyperloglog_bias;
pub mod prefetch;
mod quantile;
mod top_k;
mod uddsketch;

pub use distinct::{DistinctCount, DISTINCT_EXACT_MAX};
pub use error::SketchError;
pub use hash::hash_bytes;
pub use quantile::{QuantileSketch, QUANTILE_EXACT_MAX};
pub use top_k::{TopK, TOP_K_EXACT_MAX, TOP_K_K_MAX};
