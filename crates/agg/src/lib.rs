//! agg (in progress).
