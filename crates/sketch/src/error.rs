//! The one error type of this crate: why a byte string is not a valid encoded sketch.

use std::fmt;

/// Why `decode` rejected its input. Decoding never panics; every malformed input maps here.
#[derive(Debug, Clone, PartialEq)]
pub enum SketchError {
    /// The input ended before the encoding was complete.
    Truncated,
    /// The leading version byte is not one this build can read.
    BadVersion(u8),
    /// The bytes are structurally wrong; the message names the broken invariant.
    Invalid(&'static str),
}

impl fmt::Display for SketchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SketchError::Truncated => write!(f, "sketch encoding is truncated"),
            SketchError::BadVersion(version) => write!(f, "unsupported sketch version {version}"),
            SketchError::Invalid(reason) => write!(f, "invalid sketch encoding: {reason}"),
        }
    }
}

impl std::error::Error for SketchError {}
