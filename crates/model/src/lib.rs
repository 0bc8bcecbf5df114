//! weir's shared vocabulary: values, field types, row schemas, errors and limits.
//!
//! Every other crate speaks these types; this crate depends on nothing internal.

pub mod diff;
pub mod error;
pub mod limits;
pub mod schema;
pub mod value;
mod value_serde;

pub use diff::{Diff, DiffEntry};
pub use error::{PushError, QueryError, RegisterError};
pub use schema::{Column, FieldType, RowSchema};
pub use value::Value;
pub use value_serde::{DecodeLimits, ValueSeed};

/// Milliseconds since the Unix epoch (processing time, stamped by the store at dispatch).
pub type TimestampMs = i64;
