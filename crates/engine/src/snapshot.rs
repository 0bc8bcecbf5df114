//! Point-in-time views of the engine and their encoding (the content of a snapshot file).
//!
//! [`Engine::snapshot_view`] clones the registry (two `Arc`s), every table's entity map (a
//! copy-on-write map: O(1)) and the watermark. Its cost is O(tables), independent of the number
//! of entities, so the writer can take it between two batches without a measurable stall. The
//! view is immutable and `Send`: another thread encodes it while the writer keeps mutating its
//! own copy (which then copies only the shards and entities it touches).
//!
//! # Encoding
//!
//! The engine produces *sections*; the file format around them (header, checksums, atomic
//! write) belongs to `persist::snapshot`, which treats them as opaque bytes.
//!
//! - Section [`SECTION_META`]: JSON `{"format": 1, "registry_version", "watermark_ms",
//!   "events_applied_total", "cold_entity_evictions_total", "tables": [name..], "nodes": [..]}`,
//!   where `nodes` are the registered nodes in their wire schema (re-compiled on restore).
//! - Per table, in the registry's table order, one section [`SECTION_TABLE`] (the table header)
//!   followed by zero or more [`SECTION_TABLE_CHUNK`] sections holding its entities:
//!
//! ```text
//! table:  [u8 2][str table name][varint n_features][n_features × str feature name]
//!         [varint n_entities]
//! chunk:  [varint n] n × ([str key][zigzag last_event_ms][n_features × state])
//! ```
//!
//! A chunk holds at most [`ChunkLimits::entities`] entities and stops growing once it reaches
//! [`ChunkLimits::bytes`], so chunks can be verified and decoded in parallel. Format-version-1
//! files have no chunk sections: their table section is `[u8 1]` + the same header without
//! `n_entities`, then the whole table as one chunk.
//!
//! `str` is `[varint len][UTF-8]`, `varint` unsigned LEB128, `zigzag` an i64 as a varint, and a
//! state is `agg::AggSpec::encode_state` (self-delimiting, versioned). Decoding treats the bytes
//! as hostile: every length is checked against the bytes present before allocating, and any
//! inconsistency with the registry the meta section describes is an error (the caller then falls
//! back to an older snapshot).
//!
//! # Restoring in parallel
//!
//! [`Engine::restore`] decodes the chunks on [`RestoreOptions::threads`] threads (each takes the
//! next chunk and decodes it into a batch of entities) while the calling thread inserts the
//! batches into the table maps as they arrive. A key present twice, in one chunk or across
//! chunks, is refused.

use crate::engine::{Engine, EngineConfig, EngineStats};
use crate::registry::compile::TableDef;
use crate::registry::spec::NodeSpec;
use crate::registry::Registry;
use crate::table::{new_entity, Entity, EntityMap, TableState};
use compact_str::CompactString;
use model::TimestampMs;
use serde::{Deserialize, Serialize};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Section tags (what `persist::snapshot` stores next to each section).
pub const SECTION_META: u32 = 1;
pub const SECTION_TABLE: u32 = 2;
pub const SECTION_TABLE_CHUNK: u32 = 3;

const META_FORMAT: u32 = 1;
/// Table section of format-version-1 files: the entities follow the header inline.
const TABLE_FORMAT_INLINE: u8 = 1;
/// Table section of format-version-2 files: the entities are in the chunk sections that follow.
const TABLE_FORMAT_CHUNKED: u8 = 2;
/// Longest entity key or name accepted when decoding.
const KEY_BYTES_MAX: u64 = 1 << 20;

/// Receives each encoded section: `(tag, parts)`, the section being the concatenation of `parts`.
pub type SectionSink<'a> = dyn FnMut(u32, &[&[u8]]) -> io::Result<()> + 'a;

/// How large a chunk section may grow when encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Most entities in one chunk.
    pub entities: usize,
    /// A chunk is closed once its entities take this many bytes (one entity may overshoot).
    pub bytes: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            entities: 64 * 1024,
            bytes: 4 << 20,
        }
    }
}

/// How to restore.
#[derive(Clone, Copy, Debug)]
pub struct RestoreOptions<'a> {
    /// Threads decoding chunks (1: on the caller's thread only).
    pub threads: usize,
    /// Incremented by each section's length once it is decoded (progress reporting).
    pub progress: Option<&'a AtomicU64>,
}

impl Default for RestoreOptions<'_> {
    fn default() -> Self {
        RestoreOptions {
            threads: 1,
            progress: None,
        }
    }
}

/// An immutable, point-in-time view of the engine. Cheap to take, `Send`, encodes itself.
#[derive(Clone)]
pub struct EngineView {
    registry: Registry,
    tables: Vec<TableState>,
    watermark_ms: TimestampMs,
    stats: EngineStats,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    registry_version: u64,
    watermark_ms: TimestampMs,
    events_applied_total: u64,
    cold_entity_evictions_total: u64,
    tables: Vec<String>,
    nodes: Vec<NodeSpec>,
}

/// Why a snapshot's content could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreError(pub String);

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RestoreError {}

fn bad<T>(reason: impl Into<String>) -> Result<T, RestoreError> {
    Err(RestoreError(reason.into()))
}

impl Engine {
    /// A point-in-time view of the whole state: O(tables), no entity is copied.
    pub fn snapshot_view(&self) -> EngineView {
        EngineView {
            registry: self.registry_clone(),
            tables: self.tables_clone(),
            watermark_ms: self.watermark_ms(),
            stats: self.stats_counters(),
        }
    }

    /// Rebuilds an engine from a snapshot's sections in file order: the meta section, then
    /// per table its header section and chunk sections (or one inline table section of a
    /// format-version-1 file).
    pub fn restore(
        config: EngineConfig,
        sections: &[(u32, &[u8])],
        options: RestoreOptions<'_>,
    ) -> Result<Engine, RestoreError> {
        let Some(((tag, meta), rest)) = sections.split_first() else {
            return bad("no sections");
        };
        if *tag != SECTION_META {
            return bad(format!("first section has tag {tag}, not meta"));
        }
        let meta: Meta =
            serde_json::from_slice(meta).map_err(|e| RestoreError(format!("meta section: {e}")))?;
        if meta.format != META_FORMAT {
            return bad(format!("meta section format {} unknown", meta.format));
        }
        let registry = Registry::restore(meta.registry_version, meta.nodes).map_err(|e| {
            RestoreError(format!(
                "registry does not compile: {} {}",
                e.code, e.reason
            ))
        })?;
        let compiled = registry.compiled();
        let names: Vec<&str> = compiled.tables.iter().map(|t| t.name.as_str()).collect();
        if names != meta.tables {
            return bad("table list does not match the registry");
        }
        // Group the sections into tables: (declared entity count if chunked, chunks).
        let mut declared: Vec<Option<u64>> = Vec::with_capacity(compiled.tables.len());
        let mut chunks: Vec<(usize, &[u8])> = Vec::new();
        let mut inline_table = false;
        for (tag, bytes) in rest {
            match *tag {
                SECTION_TABLE => {
                    let index = declared.len();
                    let Some(def) = compiled.tables.get(index) else {
                        return bad(format!(
                            "more table sections than the {} tables of the registry",
                            compiled.tables.len()
                        ));
                    };
                    let (n_entities, inline) = decode_table_header(def, bytes)?;
                    declared.push(n_entities);
                    inline_table = inline.is_some();
                    if let Some(inline) = inline {
                        chunks.push((index, inline));
                    }
                }
                SECTION_TABLE_CHUNK => {
                    if declared.is_empty() || inline_table {
                        return bad("a chunk section without a chunked table section before it");
                    }
                    chunks.push((declared.len() - 1, bytes));
                }
                other => return bad(format!("unknown section tag {other}")),
            }
        }
        if declared.len() != compiled.tables.len() {
            return bad(format!(
                "{} table sections for {} tables",
                declared.len(),
                compiled.tables.len()
            ));
        }
        let defs: Vec<&TableDef> = compiled.tables.iter().collect();
        let states = decode_chunks(&defs, &declared, &chunks, options)?;
        let stats = EngineStats {
            events_applied_total: meta.events_applied_total,
            cold_entity_evictions_total: meta.cold_entity_evictions_total,
            ..EngineStats::default()
        };
        Ok(Engine::from_parts(
            config,
            registry,
            states,
            meta.watermark_ms,
            stats,
        ))
    }
}

impl EngineView {
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    pub fn entity_count(&self) -> u64 {
        self.tables.iter().map(|t| t.len() as u64).sum()
    }

    pub fn registry_version(&self) -> u64 {
        self.registry.version()
    }

    /// The meta section (registry, watermark, counters) as JSON.
    pub fn encode_meta(&self) -> Vec<u8> {
        let meta = Meta {
            format: META_FORMAT,
            registry_version: self.registry.version(),
            watermark_ms: self.watermark_ms,
            events_applied_total: self.stats.events_applied_total,
            cold_entity_evictions_total: self.stats.cold_entity_evictions_total,
            tables: self
                .registry
                .compiled()
                .tables
                .iter()
                .map(|t| t.name.to_string())
                .collect(),
            nodes: self.registry.nodes().to_vec(),
        };
        serde_json::to_vec(&meta).expect("registry nodes serialize")
    }

    /// Encodes table `index` as its header section and its chunk sections, handing each
    /// complete section to `emit(tag, parts)` (the section is the concatenation of `parts`).
    /// Memory held: one chunk.
    pub fn encode_table(
        &self,
        index: usize,
        limits: ChunkLimits,
        emit: &mut SectionSink<'_>,
    ) -> io::Result<()> {
        let def = &self.registry.compiled().tables[index];
        let table = &self.tables[index];
        let mut buf: Vec<u8> = Vec::with_capacity(256);
        buf.push(TABLE_FORMAT_CHUNKED);
        put_str(&mut buf, &def.name);
        put_varint(&mut buf, def.features.len() as u64);
        for feature in &def.features {
            put_str(&mut buf, &feature.name);
        }
        put_varint(&mut buf, table.len() as u64);
        emit(SECTION_TABLE, &[&buf])?;
        let limits = ChunkLimits {
            entities: limits.entities.max(1),
            bytes: limits.bytes.max(1),
        };
        buf = Vec::with_capacity(limits.bytes.min(8 << 20) + 4096);
        let mut n = 0u64;
        let flush = |buf: &mut Vec<u8>, n: &mut u64, emit: &mut SectionSink<'_>| {
            let mut count = Vec::with_capacity(10);
            put_varint(&mut count, *n);
            emit(SECTION_TABLE_CHUNK, &[&count, buf])?;
            buf.clear();
            *n = 0;
            Ok::<(), io::Error>(())
        };
        for entity in table.entities.iter() {
            put_str(&mut buf, &entity.header.key);
            put_varint(&mut buf, zigzag(entity.header.last_event_ms));
            for (state, feature) in entity.slice.iter().zip(&def.features) {
                feature.spec.encode_state(state, &mut buf);
            }
            n += 1;
            if n as usize >= limits.entities || buf.len() >= limits.bytes {
                flush(&mut buf, &mut n, emit)?;
            }
        }
        if n > 0 {
            flush(&mut buf, &mut n, emit)?;
        }
        Ok(())
    }

    /// All sections in memory (tests and small states): `(tag, bytes)` in file order.
    pub fn encode_all(&self) -> Vec<(u32, Vec<u8>)> {
        self.encode_all_with(ChunkLimits::default())
    }

    /// [`EngineView::encode_all`] with the given chunk limits.
    pub fn encode_all_with(&self, limits: ChunkLimits) -> Vec<(u32, Vec<u8>)> {
        let mut sections = vec![(SECTION_META, self.encode_meta())];
        for i in 0..self.table_count() {
            self.encode_table(i, limits, &mut |tag, parts| {
                sections.push((tag, parts.concat()));
                Ok(())
            })
            .expect("collecting in memory cannot fail");
        }
        sections
    }
}

/// Checks a table section against the registry. Returns the declared entity count of a chunked
/// table, or the inline entities (`[varint n] entities`) of a format-version-1 table.
fn decode_table_header<'a>(
    def: &TableDef,
    bytes: &'a [u8],
) -> Result<(Option<u64>, Option<&'a [u8]>), RestoreError> {
    let mut r = Reader { bytes, pos: 0 };
    let context = |e: RestoreError| RestoreError(format!("table {}: {}", def.name, e.0));
    let result = (|| {
        let format = r.u8()?;
        if format != TABLE_FORMAT_INLINE && format != TABLE_FORMAT_CHUNKED {
            return bad("unknown table section format");
        }
        if r.str()? != def.name.as_str() {
            return bad("section belongs to another table");
        }
        let n_features = r.varint()?;
        if n_features != def.features.len() as u64 {
            return bad("feature count does not match the registry");
        }
        for feature in &def.features {
            if r.str()? != feature.name.as_str() {
                return bad("feature names do not match the registry");
            }
        }
        if format == TABLE_FORMAT_INLINE {
            return Ok((None, Some(&bytes[r.pos..])));
        }
        let n_entities = r.varint()?;
        if r.pos != bytes.len() {
            return bad("trailing bytes after the table header");
        }
        Ok((Some(n_entities), None))
    })();
    result.map_err(context)
}

/// Entities decoded from one chunk, on their way to the thread that builds the maps.
type Batch = (usize, Vec<Entity>);

/// Decodes every chunk (`(table index, bytes)`) and builds one map per table.
///
/// With one thread, chunks are decoded straight into the maps. With more, `threads` decoder
/// threads each take the next chunk and decode it into a batch of entities, and the calling
/// thread inserts the batches into the maps as they arrive (a bounded channel: at most
/// `2 × threads` batches wait). Decoding (allocation-heavy, ~90 % of the work) runs in
/// parallel; the inserts into one map cannot, but they overlap the decoding.
fn decode_chunks(
    defs: &[&TableDef],
    declared: &[Option<u64>],
    chunks: &[(usize, &[u8])],
    options: RestoreOptions<'_>,
) -> Result<Vec<TableState>, RestoreError> {
    let mut maps: Vec<EntityMap> = defs.iter().map(|_| EntityMap::default()).collect();
    let mut counts: Vec<u64> = vec![0; defs.len()];
    let progress = |bytes: &[u8]| {
        if let Some(progress) = options.progress {
            progress.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    };
    let context = |table: usize, i: usize, e: RestoreError| {
        RestoreError(format!("table {}, chunk {i}: {}", defs[table].name, e.0))
    };
    let duplicate = |table: usize| {
        RestoreError(format!(
            "table {}: an entity key appears twice",
            defs[table].name
        ))
    };
    let threads = options.threads.clamp(1, chunks.len().max(1));
    if threads == 1 {
        for (i, &(table, bytes)) in chunks.iter().enumerate() {
            let map = &mut maps[table];
            let n = decode_chunk(defs[table], bytes, &mut |entity| match map.insert(entity) {
                None => Ok(()),
                Some(_) => bad("an entity key appears twice"),
            })
            .map_err(|e| context(table, i, e))?;
            counts[table] += n;
            progress(bytes);
        }
    } else {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(threads * 2);
        let decoder = |tx: std::sync::mpsc::SyncSender<Batch>| -> Result<(), RestoreError> {
            loop {
                if failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(table, bytes)) = chunks.get(i) else {
                    return Ok(());
                };
                let mut batch = Vec::new();
                let decoded = decode_chunk(defs[table], bytes, &mut |entity| {
                    batch.push(entity);
                    Ok(())
                });
                if let Err(e) = decoded {
                    failed.store(true, Ordering::Relaxed);
                    return Err(context(table, i, e));
                }
                progress(bytes);
                if tx.send((table, batch)).is_err() {
                    return Ok(()); // the inserting thread gave up (a duplicate key)
                }
            }
        };
        let (inserted, decoded) = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let tx = tx.clone();
                    std::thread::Builder::new()
                        .name("weir-restore".into())
                        .spawn_scoped(scope, move || decoder(tx))
                })
                .collect();
            drop(tx);
            let spawned = handles.iter().any(Result::is_ok);
            let mut inserted: Result<(), RestoreError> = Ok(());
            if spawned {
                for (table, batch) in rx.iter() {
                    counts[table] += batch.len() as u64;
                    let map = &mut maps[table];
                    if batch.into_iter().any(|entity| map.insert(entity).is_some()) {
                        failed.store(true, Ordering::Relaxed);
                        inserted = Err(duplicate(table));
                        break;
                    }
                }
            }
            drop(rx);
            let mut decoded: Result<(), RestoreError> = if spawned {
                Ok(())
            } else {
                bad("could not start a decoding thread")
            };
            for handle in handles.into_iter().flatten() {
                let result = handle
                    .join()
                    .unwrap_or_else(|_| bad("a decoding thread panicked"));
                if decoded.is_ok() {
                    decoded = result;
                }
            }
            (inserted, decoded)
        });
        decoded?;
        inserted?;
    }
    let mut states = Vec::with_capacity(defs.len());
    for (table, (entities, declared)) in maps.into_iter().zip(declared).enumerate() {
        if declared.is_some_and(|d| d != counts[table]) {
            return bad(format!(
                "table {}: {} entities in the chunks, {} declared",
                defs[table].name,
                counts[table],
                declared.unwrap_or(0)
            ));
        }
        if entities.len() as u64 != counts[table] {
            return Err(duplicate(table));
        }
        states.push(TableState { entities });
    }
    Ok(states)
}

/// Decodes one chunk (`[varint n] n × entity`), handing each entity to `sink`; returns `n`.
fn decode_chunk(
    def: &TableDef,
    bytes: &[u8],
    sink: &mut dyn FnMut(Entity) -> Result<(), RestoreError>,
) -> Result<u64, RestoreError> {
    let mut r = Reader { bytes, pos: 0 };
    let n_entities = r.varint()?;
    if n_entities > (bytes.len() - r.pos) as u64 {
        return bad("entity count exceeds the section");
    }
    let mut features = Vec::with_capacity(def.features.len());
    for _ in 0..n_entities {
        let key = CompactString::from(r.str()?);
        let last_event_ms = unzigzag(r.varint()?);
        features.clear();
        for feature in &def.features {
            let (state, used) = feature
                .spec
                .decode_state(&bytes[r.pos..])
                .map_err(|e| RestoreError(format!("feature {}: {e}", feature.name)))?;
            r.pos += used;
            features.push(state);
        }
        sink(new_entity(key, last_event_ms, features.drain(..)))?;
    }
    if r.pos != bytes.len() {
        return bad("trailing bytes after the last entity");
    }
    Ok(n_entities)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, RestoreError> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return bad("truncated");
        };
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, RestoreError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bad("varint too long")
    }

    fn str(&mut self) -> Result<&'a str, RestoreError> {
        let len = self.varint()?;
        if len > KEY_BYTES_MAX || len > (self.bytes.len() - self.pos) as u64 {
            return bad("string length exceeds the section");
        }
        let end = self.pos + len as usize;
        let s = std::str::from_utf8(&self.bytes[self.pos..end])
            .map_err(|_| RestoreError("string is not UTF-8".into()))?;
        self.pos = end;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips() {
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1_700_000_000_000] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn hostile_table_bytes_do_not_panic() {
        let engine = Engine::new(EngineConfig::default());
        let options = RestoreOptions::default();
        assert!(Engine::restore(EngineConfig::default(), &[], options).is_err());
        assert!(
            Engine::restore(EngineConfig::default(), &[(SECTION_META, b"{")], options).is_err()
        );
        let view = engine.snapshot_view();
        let meta = view.encode_meta();
        let restored =
            Engine::restore(EngineConfig::default(), &[(SECTION_META, &meta)], options).unwrap();
        assert_eq!(restored.stats().entity_count_resident, 0);
    }
}
