//! weir's feature engine: registry, derivation pipelines, per-entity state, the engine facade.
//!
//! Pure and synchronous: no IO, no clock (every time is an argument in ms since the epoch), no
//! async. The store drives it from a single writer; tests drive it directly. The only threads
//! are `Engine::apply_many`'s scoped lane threads, joined before it returns.

pub mod engine;
mod entity_map;
pub mod pipeline;
pub mod push;
pub mod registry;
pub mod snapshot;
pub mod table;

pub use engine::{
    panic_message, DedupeKey, Engine, EngineConfig, EngineStats, Panic, ReadTime, RegisterOutcome,
    RowPrefetch, APPLY_PARALLEL_MIN,
};
pub use model::{Diff, DiffEntry, PushError, QueryError, RegisterError, TimestampMs, Value};
pub use push::{PrevalidatedPush, Prevalidation, ValidatedPush};
pub use snapshot::{
    ChunkLimits, EngineView, RestoreError, RestoreOptions, SectionSink, SECTION_META,
    SECTION_TABLE, SECTION_TABLE_CHUNK,
};
