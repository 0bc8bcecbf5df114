//! Operator families, one file each; `spec.rs` dispatches to them.

pub mod count;
pub mod decay;
pub mod distinct;
pub mod extremes;
pub mod moments;
pub mod quantile;
pub mod recency;
pub mod streak;
pub mod top_k;
