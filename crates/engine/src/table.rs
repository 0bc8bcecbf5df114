//! Per-entity feature state of one table, keyed by the entity key string.
//!
//! An entity's key is its group-key values joined by `|` (a global table has the single key
//! `""`), exactly the string clients pass to `/get`. Each entity holds one `AggState` per feature
//! in declaration order, plus the time of its last event for `cold_after_ms`.

use compact_str::CompactString;
use model::{TimestampMs, Value};
use rustc_hash::FxHashMap;

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

#[derive(Clone, Debug, Default)]
pub struct TableState {
    pub entities: FxHashMap<CompactString, EntityState>,
}

impl TableState {
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Approximate bytes held by this table: map slots, keys and feature state.
    pub fn memory_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(CompactString, EntityState)>() + 1;
        let slots = self.entities.capacity() * slot;
        let heap: usize = self
            .entities
            .iter()
            .map(|(k, e)| e.heap_bytes() + if k.is_heap_allocated() { k.len() } else { 0 })
            .sum();
        slots + heap
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
