//! protocol (in progress).
