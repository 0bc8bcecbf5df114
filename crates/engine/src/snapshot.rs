//! Point-in-time views of the engine and their encoding (the content of a snapshot file).
//!
//! [`Engine::snapshot_view`] clones the registry (two `Arc`s), every table's entity map (a
//! persistent map: O(1)) and the watermark. Its cost is O(tables), independent of the number of
//! entities, so the writer can take it between two batches without a measurable stall. The view
//! is immutable and `Send`: another thread encodes it while the writer keeps mutating its own
//! copy (which then copies only the map nodes and entities it touches).
//!
//! # Encoding
//!
//! The engine produces *sections*; the file format around them (header, checksums, atomic
//! write) belongs to `persist::snapshot`, which treats them as opaque bytes.
//!
//! - Section [`SECTION_META`]: JSON `{"format": 1, "registry_version", "watermark_ms",
//!   "events_applied_total", "cold_entity_evictions_total", "tables": [name..], "nodes": [..]}`,
//!   where `nodes` are the registered nodes in their wire schema (re-compiled on restore).
//! - One section [`SECTION_TABLE`] per table, in the registry's table order:
//!
//! ```text
//! [u8 version = 1][str table name][varint n_features][n_features × str feature name]
//! [varint n_entities] n_entities × ([str key][zigzag last_event_ms][n_features × state])
//! ```
//!
//! `str` is `[varint len][UTF-8]`, `varint` unsigned LEB128, `zigzag` an i64 as a varint, and a
//! state is `agg::AggSpec::encode_state` (self-delimiting, versioned). Decoding treats the bytes
//! as hostile: every length is checked against the bytes present before allocating, and any
//! inconsistency with the registry the meta section describes is an error (the caller then falls
//! back to an older snapshot).

use crate::engine::{Engine, EngineConfig, EngineStats};
use crate::registry::spec::NodeSpec;
use crate::registry::Registry;
use crate::table::{EntityMap, EntityState, TableState};
use compact_str::CompactString;
use model::TimestampMs;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::sync::Arc;

/// Section tags (what `persist::snapshot` stores next to each section).
pub const SECTION_META: u32 = 1;
pub const SECTION_TABLE: u32 = 2;

const META_FORMAT: u32 = 1;
const TABLE_FORMAT: u8 = 1;
/// Longest entity key or name accepted when decoding.
const KEY_BYTES_MAX: u64 = 1 << 20;

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

    /// Rebuilds an engine from the sections of [`EngineView::encode_meta`] and
    /// [`EngineView::encode_table`] (one per table, in order).
    pub fn restore(
        config: EngineConfig,
        meta: &[u8],
        tables: &[&[u8]],
    ) -> Result<Engine, RestoreError> {
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
        if tables.len() != compiled.tables.len() {
            return bad(format!(
                "{} table sections for {} tables",
                tables.len(),
                compiled.tables.len()
            ));
        }
        let mut states = Vec::with_capacity(tables.len());
        for (def, bytes) in compiled.tables.iter().zip(tables) {
            states.push(decode_table(def, bytes)?);
        }
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

    /// Writes table `index`'s section to `out` (streamed: entity by entity through a small
    /// buffer, so the encoding never holds a copy of the table).
    pub fn encode_table(&self, index: usize, out: &mut dyn Write) -> io::Result<()> {
        let def = &self.registry.compiled().tables[index];
        let table = &self.tables[index];
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        buf.push(TABLE_FORMAT);
        put_str(&mut buf, &def.name);
        put_varint(&mut buf, def.features.len() as u64);
        for feature in &def.features {
            put_str(&mut buf, &feature.name);
        }
        put_varint(&mut buf, table.len() as u64);
        for (key, entity) in table.entities.iter() {
            put_str(&mut buf, key);
            put_varint(&mut buf, zigzag(entity.last_event_ms));
            for (state, feature) in entity.features.iter().zip(&def.features) {
                feature.spec.encode_state(state, &mut buf);
            }
            if buf.len() >= 60 * 1024 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        out.write_all(&buf)
    }

    /// All sections in memory (tests and small states): `(tag, bytes)` in file order.
    pub fn encode_all(&self) -> Vec<(u32, Vec<u8>)> {
        let mut sections = vec![(SECTION_META, self.encode_meta())];
        for i in 0..self.table_count() {
            let mut bytes = Vec::new();
            self.encode_table(i, &mut bytes)
                .expect("writing to a Vec cannot fail");
            sections.push((SECTION_TABLE, bytes));
        }
        sections
    }
}

fn decode_table(
    def: &crate::registry::compile::TableDef,
    bytes: &[u8],
) -> Result<TableState, RestoreError> {
    let mut r = Reader { bytes, pos: 0 };
    let context = |e: RestoreError| RestoreError(format!("table {}: {}", def.name, e.0));
    let result = (|| {
        if r.u8()? != TABLE_FORMAT {
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
        let n_entities = r.varint()?;
        if n_entities > (bytes.len() - r.pos) as u64 {
            return bad("entity count exceeds the section");
        }
        let mut entities = EntityMap::default();
        for _ in 0..n_entities {
            let key = CompactString::from(r.str()?);
            let last_event_ms = unzigzag(r.varint()?);
            let mut features = Vec::with_capacity(def.features.len());
            for feature in &def.features {
                let (state, used) = feature
                    .spec
                    .decode_state(&bytes[r.pos..])
                    .map_err(|e| RestoreError(format!("feature {}: {e}", feature.name)))?;
                r.pos += used;
                features.push(state);
            }
            let entity = EntityState {
                last_event_ms,
                features: features.into_boxed_slice(),
            };
            if entities.insert(key, Arc::new(entity)).is_some() {
                return bad("an entity key appears twice");
            }
        }
        if r.pos != bytes.len() {
            return bad("trailing bytes after the last entity");
        }
        Ok(TableState { entities })
    })();
    result.map_err(context)
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
        assert!(Engine::restore(EngineConfig::default(), b"{", &[]).is_err());
        let view = engine.snapshot_view();
        let meta = view.encode_meta();
        let restored = Engine::restore(EngineConfig::default(), &meta, &[]).unwrap();
        assert_eq!(restored.stats().entity_count_resident, 0);
    }
}
