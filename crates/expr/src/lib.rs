//! expr (in progress).
