//! weir's feature engine: registry, derivation pipelines, per-entity state, the engine facade.
//!
//! Pure and synchronous: no IO, no clock (every time is an argument in ms since the epoch), no
//! async. The store drives it from a single writer; tests drive it directly.
