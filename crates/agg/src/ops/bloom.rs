//! `bloom_member`: beava 0.0.6 ships it as a placeholder that reads `true` once any non-null
//! value was inserted (and `false` before). weir reproduces that; `expected_n`/`capacity` are
//! accepted and unused, `target_fpr`/`fpr` are validated (`invalid_bloom_fpr`).

/// Default false-positive rate (validated only).
pub const FPR_DEFAULT: f64 = 0.01;
