//! Operator families, one file each; `spec.rs` dispatches to them.

pub mod bloom;
pub mod buffer;
pub mod count;
pub mod decay;
pub mod distinct;
pub mod extremes;
pub mod geo;
pub mod histogram;
pub mod moments;
pub mod quantile;
pub mod recency;
pub mod streak;
pub mod top_k;
pub mod velocity;
