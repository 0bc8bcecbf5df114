//! store (in progress).
