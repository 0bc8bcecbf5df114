//! Per-entity feature state of one table, keyed by the entity key string.
//!
//! An entity's key is its group-key values joined by `|` (a global table has the single key
//! `""`), exactly the string clients pass to `/get`. Each entity holds one `AggState` per feature
//! in declaration order, plus the time of its last event for `cold_after_ms`.
//!
//! The map (`EntityMap`) clones in O(1) and a clone is a point-in-time view: the writer keeps
//! mutating its copy, and only the shards and entities it touches while a view is alive get
//! copied. This is how snapshots avoid stalling the writer (docs/decisions/0006, 0010).

use compact_str::CompactString;
use model::{TimestampMs, Value};

pub use crate::entity_map::EntityMap;

/// What an entity holds besides its feature states.
#[derive(Clone, Debug)]
pub struct EntityHeader {
    /// The entity key (the map finds entities by it).
    pub key: CompactString,
    pub last_event_ms: TimestampMs,
}

/// One entity: its header, then one `AggState` per feature in declaration order (`slice`).
pub type EntityState = triomphe::HeaderSlice<EntityHeader, [agg::AggState]>;

/// An entity as the map holds it: the reference count, header and states in one allocation, so
/// folding an event into it starts with one contiguous block rather than a chain of two
/// (decision 0016).
pub type Entity = triomphe::Arc<EntityState>;

/// A new entity.
pub fn new_entity(
    key: CompactString,
    last_event_ms: TimestampMs,
    features: impl ExactSizeIterator<Item = agg::AggState>,
) -> Entity {
    Entity::from_header_and_iter(EntityHeader { key, last_event_ms }, features)
}

/// The entity for writing, copied first if a view still shares it (copy-on-write).
pub fn make_mut(entity: &mut Entity) -> &mut EntityState {
    if !entity.is_unique() {
        *entity = new_entity(
            entity.header.key.clone(),
            entity.header.last_event_ms,
            entity.slice.iter().cloned(),
        );
    }
    triomphe::Arc::get_mut(entity).expect("an entity is unique after it was copied")
}

/// Bytes of one entity: its allocation (reference count, header, states) plus what the key and
/// the states own.
pub fn entity_bytes(entity: &EntityState) -> usize {
    let key = if entity.header.key.is_heap_allocated() {
        entity.header.key.capacity()
    } else {
        0
    };
    std::mem::size_of::<usize>()
        + std::mem::size_of_val(entity)
        + key
        + entity.slice.iter().map(|s| s.heap_bytes()).sum::<usize>()
}

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

    /// Bytes held by this table: the map's own tables, and every entity (`entity_bytes`).
    pub fn memory_bytes(&self) -> usize {
        self.entities.table_heap_bytes() + self.entities.iter().map(entity_bytes).sum::<usize>()
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

/// As [`entity_key`], borrowing the key when it is one string field (no copy, whatever its
/// length).
pub fn entity_key_cow<'a>(
    row: &'a [Value],
    key_slots: &[usize],
) -> Option<std::borrow::Cow<'a, str>> {
    if let [slot] = key_slots {
        if let Value::Str(s) = row.get(*slot)? {
            return Some(std::borrow::Cow::Borrowed(s.as_str()));
        }
    }
    entity_key(row, key_slots).map(|key| std::borrow::Cow::Owned(key.into_string()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn entity_key_cow_borrows_one_string_and_agrees_with_entity_key() {
        let long = "a-session-key-well-past-the-inline-length-of-24";
        let row = vec![
            Value::Str(CompactString::from(long)),
            Value::I64(-7),
            Value::Bool(true),
            Value::Null,
            Value::F64(1.5),
        ];
        assert!(matches!(entity_key_cow(&row, &[0]), Some(Cow::Borrowed(k)) if k == long));
        for slots in [
            &[0][..],
            &[1],
            &[2],
            &[3],
            &[4],
            &[0, 1],
            &[1, 2, 4],
            &[0, 3],
            &[9],
        ] {
            assert_eq!(
                entity_key_cow(&row, slots).as_deref(),
                entity_key(&row, slots).as_deref(),
                "key slots {slots:?}"
            );
        }
    }
}
