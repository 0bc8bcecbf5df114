//! `EntityMap`: the entities of one table, a hash map with O(1) clones (decision 0010).
//!
//! Extendible hashing over copy-on-write shards:
//! - the map is an `Arc<Layout>`: a directory of `2^depth` slots naming shards, and the shards,
//!   each an `Arc` of a small `hashbrown` table of `Entity` pointers (the key lives in the
//!   entity, so a table slot is one pointer — a fat one, carrying the number of feature states,
//!   decision 0016 — and one control byte);
//! - a shard holds at most [`SHARD_ENTRIES_MAX`] entities; inserting into a full shard splits it
//!   in two on the next hash bit (doubling the directory if the shard was at its depth), so
//!   growth never rehashes more than one shard at a time;
//! - cloning the map clones one `Arc` (a point-in-time view for snapshots); the writer's next
//!   change copies the directory and shard list once (`Arc::make_mut`), then each shard it
//!   touches once, then each entity it touches once. Nothing is copied while no view is alive.
//!
//! Against the `imbl` HAMT it replaces this holds ~14 B of table per entity (~23 B with fat
//! slots) instead of ~190 B (measured at 1M entities) and finds an entity in one probe of a
//! small table.
//!
//! Keys are hashed with a per-map random seed (foldhash), so crafted keys cannot pile into one
//! shard; iteration order is unspecified.
//!
//! The map is [`LANES`] independent such maps ("lanes"), chosen by one hash bit: the writer
//! applies a run of pushes with one thread per lane ([`EntityMap::lanes_mut`]), each taking the
//! run's events in order for its own entities (decision 0013).

use crate::table::{make_mut, Entity, EntityState};
use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Lines of an entity (header and states) hinted ahead of folding into it: all of a wide table's
/// 53 states fit.
const ENTITY_PREFETCH_LINES_MAX: usize = 24;

/// Entities per shard before it splits: a 512-bucket table at hashbrown's 7/8 load.
const SHARD_ENTRIES_MAX: usize = 448;

/// Deepest directory: 2^24 slots (64 MiB). Past it (tens of billions of entities, or a broken
/// hash) shards keep growing as plain hash tables instead of splitting.
const DEPTH_MAX: u32 = 24;

/// The directory indexes hash bits `DIRECTORY_SHIFT..DIRECTORY_SHIFT + depth`: clear of the low
/// bits hashbrown uses to place entries in a (small) shard table and of the top 7 it keeps in
/// its control bytes, so entities sharing a shard still spread over its table.
const DIRECTORY_SHIFT: u32 = 20;

/// Independent sub-maps an `EntityMap` is split into (one applying thread each).
pub const LANES: usize = 2;

/// The hash bit choosing the lane: below the directory bits and above the ≤ 9 low bits a
/// shard's table uses to place entries (hashbrown's control bytes take the top 7).
const LANE_BIT: u32 = DIRECTORY_SHIFT - 1;

pub type Hasher = foldhash::fast::RandomState;

#[derive(Clone, Default)]
pub struct EntityMap {
    lanes: [Lane; LANES],
    hasher: Hasher,
}

/// The entities of one lane: extendible hashing over copy-on-write shards.
#[derive(Clone)]
pub struct Lane {
    layout: Arc<Layout>,
    len: usize,
}

#[derive(Clone)]
struct Layout {
    /// `directory.len() == 1 << depth`.
    depth: u32,
    /// Shard index per directory slot. A shard of depth `d` owns every slot whose low `d` bits
    /// equal its own.
    directory: Vec<u32>,
    /// Each shard appears once here, so its `Arc` is shared only with views.
    shards: Vec<Arc<Shard>>,
}

#[derive(Clone)]
struct Shard {
    depth: u32,
    entities: HashTable<Entity>,
}

impl Default for Lane {
    fn default() -> Self {
        Lane {
            layout: Arc::new(Layout {
                depth: 0,
                directory: vec![0],
                shards: vec![Arc::new(Shard {
                    depth: 0,
                    entities: HashTable::new(),
                })],
            }),
            len: 0,
        }
    }
}

impl std::fmt::Debug for EntityMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("EntityMap");
        d.field("len", &self.len());
        for lane in &self.lanes {
            d.field("depth", &lane.layout.depth)
                .field("shards", &lane.layout.shards.len());
        }
        d.finish()
    }
}

impl Layout {
    fn shard_of(&self, hash: u64) -> usize {
        let slot = (hash >> DIRECTORY_SHIFT) as usize & ((1usize << self.depth) - 1);
        self.directory[slot] as usize
    }

    /// Splits shard `index` on its next hash bit: entities with the bit set move to a new shard.
    fn split(&mut self, index: usize, hasher: &Hasher) {
        let depth = self.shards[index].depth;
        if depth == self.depth {
            self.directory.extend_from_within(..);
            self.depth += 1;
        }
        let bit = 1u64 << (DIRECTORY_SHIFT + depth);
        let stride = 1usize << depth;
        let hash_of = |e: &Entity| hasher.hash_one(e.header.key.as_str());
        let shard = Arc::make_mut(&mut self.shards[index]);
        // The shard's slots are those congruent to its entities' slots modulo 2^depth.
        let low_slot = shard.entities.iter().next().map_or(0, |e| {
            (hash_of(e) >> DIRECTORY_SHIFT) as usize & (stride - 1)
        });
        let old = std::mem::replace(
            &mut shard.entities,
            HashTable::with_capacity(SHARD_ENTRIES_MAX),
        );
        shard.depth = depth + 1;
        let mut moved = Shard {
            depth: depth + 1,
            entities: HashTable::with_capacity(SHARD_ENTRIES_MAX),
        };
        for entity in old {
            let hash = hash_of(&entity);
            let to = if hash & bit == 0 {
                &mut shard.entities
            } else {
                &mut moved.entities
            };
            to.insert_unique(hash, entity, hash_of);
        }
        let new_index = u32::try_from(self.shards.len()).expect("at most 2^DEPTH_MAX shards");
        self.shards.push(Arc::new(moved));
        // Of the old shard's slots, those with bit `depth` set now belong to the new shard.
        for slot in (low_slot..self.directory.len()).step_by(stride) {
            debug_assert_eq!(self.directory[slot] as usize, index);
            if slot & stride != 0 {
                self.directory[slot] = new_index;
            }
        }
    }
}

impl EntityMap {
    pub fn len(&self) -> usize {
        self.lanes.iter().map(|lane| lane.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hash every lane and shard of this map places `key` by.
    pub fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The lane holding the entity of hash `hash`.
    pub fn lane_of(hash: u64) -> usize {
        (hash >> LANE_BIT) as usize & (LANES - 1)
    }

    pub fn get(&self, key: &str) -> Option<&EntityState> {
        let hash = self.hash(key);
        self.lanes[Self::lane_of(hash)].get(hash, key)
    }

    /// The entity under `key` for writing, copied first if a view still shares it; `None` if
    /// absent. Copies the directory and the shard on the first write after a clone even on a
    /// miss (the writer inserts next anyway).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut EntityState> {
        let hash = self.hash(key);
        self.lanes[Self::lane_of(hash)].get_mut(hash, key)
    }

    /// Inserts `entity` under its key, returning the entity it replaced.
    pub fn insert(&mut self, entity: Entity) -> Option<Entity> {
        let hash = self.hash(&entity.header.key);
        self.lanes[Self::lane_of(hash)].insert(hash, entity, &self.hasher)
    }

    /// Lane `index` (`< LANES`), to read.
    pub fn lane(&self, index: usize) -> &Lane {
        &self.lanes[index]
    }

    /// The lanes, each writable on its own thread, and the hasher their hashes come from.
    pub fn lanes_mut(&mut self) -> (&Hasher, &mut [Lane; LANES]) {
        (&self.hasher, &mut self.lanes)
    }

    /// Every entity once, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &EntityState> {
        self.lanes.iter().flat_map(Lane::iter)
    }

    /// Heap bytes of the map itself (directories, shard lists, shard tables), not the entities.
    pub fn table_heap_bytes(&self) -> usize {
        self.lanes.iter().map(Lane::table_heap_bytes).sum()
    }
}

impl Lane {
    /// `hash` is the map's hash of `key` (and `EntityMap::lane_of` it is this lane).
    pub fn get(&self, hash: u64, key: &str) -> Option<&EntityState> {
        let shard = &self.layout.shards[self.layout.shard_of(hash)];
        shard
            .entities
            .find(hash, |e| e.header.key == key)
            .map(|e| &**e)
    }

    /// Hints the table slots `hash` may sit in (see `sketch::prefetch`), without reading them:
    /// the stage before [`Lane::prefetch`], which then finds them cached (decision 0021). Reads
    /// the shard's control bytes.
    pub fn prefetch_slots(&self, hash: u64) {
        let shard = &self.layout.shards[self.layout.shard_of(hash)];
        // `find` calls the comparison only for slots whose tag matches `hash`, with a reference
        // into the table: hint that address instead of reading through it.
        let _ = shard.entities.find(hash, |slot| {
            sketch::prefetch::line(std::ptr::from_ref::<Entity>(slot));
            false
        });
    }

    /// Hints the table slots `hash` may sit in and the entity each holds (see
    /// `sketch::prefetch`): the first two misses of folding an event into that entity. Reads no
    /// key and finds nothing.
    pub fn prefetch(&self, hash: u64) {
        let shard = &self.layout.shards[self.layout.shard_of(hash)];
        // `find` calls the comparison only for slots whose tag matches `hash`: hint the entity
        // there instead of reading its key, and answer "not this one".
        let _ = shard.entities.find(hash, |entity| {
            // The slot's (fat) pointer gives the entity's address and size without reading it.
            let bytes = std::mem::size_of_val::<EntityState>(entity) + std::mem::size_of::<usize>();
            sketch::prefetch::block(
                std::ptr::from_ref::<EntityState>(entity).cast(),
                bytes,
                ENTITY_PREFETCH_LINES_MAX,
            );
            false
        });
    }

    /// As [`EntityMap::get_mut`].
    pub fn get_mut(&mut self, hash: u64, key: &str) -> Option<&mut EntityState> {
        let layout = Arc::make_mut(&mut self.layout);
        let index = layout.shard_of(hash);
        let shard = Arc::make_mut(&mut layout.shards[index]);
        shard
            .entities
            .find_mut(hash, |e| e.header.key == key)
            .map(make_mut)
    }

    /// As [`EntityMap::insert`]; `hasher` is the map's.
    pub fn insert(&mut self, hash: u64, entity: Entity, hasher: &Hasher) -> Option<Entity> {
        let layout = Arc::make_mut(&mut self.layout);
        let mut index = layout.shard_of(hash);
        if let Some(existing) = Arc::make_mut(&mut layout.shards[index])
            .entities
            .find_mut(hash, |e| e.header.key == entity.header.key)
        {
            return Some(std::mem::replace(existing, entity));
        }
        while layout.shards[index].entities.len() >= SHARD_ENTRIES_MAX
            && layout.shards[index].depth < DEPTH_MAX
        {
            layout.split(index, hasher);
            index = layout.shard_of(hash);
        }
        let hash_of = |e: &Entity| hasher.hash_one(e.header.key.as_str());
        Arc::make_mut(&mut layout.shards[index])
            .entities
            .insert_unique(hash, entity, hash_of);
        self.len += 1;
        None
    }

    fn iter(&self) -> impl Iterator<Item = &EntityState> {
        self.layout
            .shards
            .iter()
            .flat_map(|shard| shard.entities.iter().map(|e| &**e))
    }

    fn table_heap_bytes(&self) -> usize {
        let layout = &self.layout;
        std::mem::size_of::<Layout>()
            + layout.directory.capacity() * std::mem::size_of::<u32>()
            + layout.shards.capacity() * std::mem::size_of::<Arc<Shard>>()
            + layout
                .shards
                .iter()
                .map(|s| std::mem::size_of::<Shard>() + s.entities.allocation_size())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compact_str::format_compact;
    use std::collections::HashMap;

    fn entity(key: &str, t: i64) -> Entity {
        crate::table::new_entity(key.into(), t, std::iter::empty())
    }

    fn check_layout(map: &EntityMap) {
        for (lane_index, lane) in map.lanes.iter().enumerate() {
            let layout = &lane.layout;
            assert_eq!(layout.directory.len(), 1 << layout.depth);
            let total: usize = layout.shards.iter().map(|s| s.entities.len()).sum();
            assert_eq!(total, lane.len);
            for (index, shard) in layout.shards.iter().enumerate() {
                let owned = layout
                    .directory
                    .iter()
                    .filter(|&&s| s as usize == index)
                    .count();
                assert_eq!(owned, 1 << (layout.depth - shard.depth), "shard {index}");
                for e in shard.entities.iter() {
                    let hash = map.hash(&e.header.key);
                    assert_eq!(EntityMap::lane_of(hash), lane_index);
                    assert_eq!(layout.shard_of(hash), index);
                }
            }
        }
    }

    #[test]
    fn inserts_gets_and_replaces_across_splits() {
        let mut map = EntityMap::default();
        let n = 20_000;
        for i in 0..n {
            assert!(map.insert(entity(&format_compact!("k{i}"), i)).is_none());
        }
        assert_eq!(map.len(), n as usize);
        assert!(map.lanes.iter().all(|lane| lane.layout.shards.len() > 10));
        check_layout(&map);
        for i in 0..n {
            assert_eq!(
                map.get(&format_compact!("k{i}"))
                    .unwrap()
                    .header
                    .last_event_ms,
                i
            );
        }
        assert!(map.get("absent").is_none());
        let old = map.insert(entity("k7", -1)).unwrap();
        assert_eq!(old.header.last_event_ms, 7);
        assert_eq!(map.len(), n as usize);
        assert_eq!(map.get("k7").unwrap().header.last_event_ms, -1);
        let mut seen: Vec<i64> = map.iter().map(|e| e.header.last_event_ms).collect();
        seen.sort();
        assert_eq!(seen.len(), n as usize);
        assert_eq!(seen[0], -1);
    }

    #[test]
    fn a_clone_is_a_point_in_time_view() {
        let mut map = EntityMap::default();
        for i in 0..5_000 {
            map.insert(entity(&format_compact!("k{i}"), i));
        }
        let view = map.clone();
        for i in 0..5_000 {
            map.get_mut(&format_compact!("k{i}"))
                .unwrap()
                .header
                .last_event_ms += 1_000_000;
        }
        for i in 5_000..10_000 {
            map.insert(entity(&format_compact!("k{i}"), i));
        }
        assert!(map.get_mut("absent").is_none());
        check_layout(&map);
        check_layout(&view);
        assert_eq!(view.len(), 5_000);
        assert_eq!(map.len(), 10_000);
        for i in 0..5_000 {
            let key = format_compact!("k{i}");
            assert_eq!(view.get(&key).unwrap().header.last_event_ms, i);
            assert_eq!(map.get(&key).unwrap().header.last_event_ms, i + 1_000_000);
        }
        assert!(view.get("k5000").is_none());
    }

    #[test]
    fn unchanged_entities_are_shared_with_views() {
        let mut map = EntityMap::default();
        for i in 0..2_000 {
            map.insert(entity(&format_compact!("k{i}"), i));
        }
        let view = map.clone();
        map.get_mut("k1").unwrap().header.last_event_ms = 0;
        let shared = view
            .iter()
            .filter(|e| {
                let mine = map.get(&e.header.key).unwrap();
                std::ptr::eq(mine, *e)
            })
            .count();
        assert_eq!(shared, 1_999);
    }

    proptest::proptest! {
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec((0u16..3000, proptest::bool::ANY, proptest::bool::ANY), 0..4000)) {
            let mut map = EntityMap::default();
            let mut model: HashMap<String, i64> = HashMap::new();
            let mut views: Vec<(EntityMap, HashMap<String, i64>)> = Vec::new();
            for (step, (k, write, snapshot)) in ops.into_iter().enumerate() {
                let key = format!("key-{k}");
                let t = step as i64;
                if write {
                    match map.get_mut(&key) {
                        Some(e) => e.header.last_event_ms = t,
                        None => { map.insert(entity(&key, t)); }
                    }
                    model.insert(key, t);
                } else {
                    proptest::prop_assert_eq!(map.get(&key).map(|e| e.header.last_event_ms), model.get(&key).copied());
                }
                if snapshot && views.len() < 8 {
                    views.push((map.clone(), model.clone()));
                }
            }
            check_layout(&map);
            proptest::prop_assert_eq!(map.len(), model.len());
            for (view, expected) in &views {
                proptest::prop_assert_eq!(view.len(), expected.len());
                let got: HashMap<String, i64> = view.iter().map(|e| (e.header.key.to_string(), e.header.last_event_ms)).collect();
                proptest::prop_assert_eq!(&got, expected);
            }
        }
    }
}
