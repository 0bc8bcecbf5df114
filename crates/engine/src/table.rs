//! Per-entity feature state of one table, keyed by the entity key string.
//!
//! An entity's key is its group-key values joined by `|` (a global table has the single key
//! `""`), exactly the string clients pass to `/get`. Each entity holds one `AggState` per feature
//! in declaration order, plus the time of its last event for `cold_after_ms`.
//!
//! The map is persistent (`imbl`'s HAMT) and each entity sits behind an `Arc`, so cloning a table
//! is O(1) and a clone is a point-in-time view: the writer keeps mutating its copy, and only the
//! map nodes and entities it touches while a view is alive get copied (`Arc::make_mut`).
//! This is how snapshots avoid stalling the writer (docs/decisions/0006).

use compact_str::CompactString;
use model::{TimestampMs, Value};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct EntityState {
    pub last_event_ms: TimestampMs,
    pub features: Box<[agg::AggState]>,
}

impl EntityState {
    pub fn heap_bytes(&self) -> usize {
        self.features.len() * std::mem::size_of::<agg::AggState>()
            + self.features.iter().map(|s| s.heap_bytes()).sum::<usize>()
    }
}

/// The entity map: persistent, O(1) clone, Fx hashing (keys are not attacker-chosen hash-flood
/// material any more than in the std map it replaced).
pub type EntityMap = imbl::GenericHashMap<
    CompactString,
    Arc<EntityState>,
    rustc_hash::FxBuildHasher,
    imbl::shared_ptr::DefaultSharedPtr,
>;

#[derive(Clone, Debug, Default)]
pub struct TableState {
    pub entities: EntityMap,
}

impl TableState {
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Approximate bytes held by this table: map entries (key, `Arc` pointer and the HAMT's
    /// per-entry overhead, estimated), the `Arc`ed entity and its feature state.
    pub fn memory_bytes(&self) -> usize {
        // A HAMT leaf holds (key, Arc) pairs in chunks; nodes are ~1.5x the entries on average.
        let entry = std::mem::size_of::<(CompactString, Arc<EntityState>)>() * 3 / 2;
        let arc = 2 * std::mem::size_of::<usize>() + std::mem::size_of::<EntityState>();
        self.entities
            .iter()
            .map(|(k, e)| {
                entry + arc + e.heap_bytes() + if k.is_heap_allocated() { k.len() } else { 0 }
            })
            .sum()
    }
}

/// Builds the entity key from the group-key slots of `row`. `None` if a key value is null (the
/// event cannot be attributed to an entity of this table).
pub fn entity_key(row: &[Value], key_slots: &[usize]) -> Option<CompactString> {
    if let [slot] = key_slots {
        return key_part(row.get(*slot)?);
    }
    let mut key = CompactString::default();
    for (i, slot) in key_slots.iter().enumerate() {
        if i > 0 {
            key.push('|');
        }
        key.push_str(&key_part(row.get(*slot)?)?);
    }
    Some(key)
}

fn key_part(value: &Value) -> Option<CompactString> {
    Some(match value {
        Value::Null => return None,
        Value::Str(s) => s.clone(),
        Value::I64(v) => compact_str::format_compact!("{v}"),
        Value::Bool(b) => CompactString::from(if *b { "true" } else { "false" }),
        Value::F64(v) => compact_str::format_compact!("{v}"),
        Value::List(_) | Value::Map(_) => return None,
    })
}
