//! The engine facade: the one type the store drives (register, validate, apply, read, reset).

use crate::entity_map::{EntityMap, Hasher, Lane, LANES};
use crate::push::ValidatedPush;
use crate::registry::compile::{CompiledRegistry, EventDef};
use crate::registry::{RegisterDecision, Registry};
use crate::table::{entity_key, entity_key_cow, TableState};
use agg::PrefetchDepth;
use compact_str::CompactString;
use model::{Diff, PushError, QueryError, RegisterError, TimestampMs, Value};
use std::hash::BuildHasher;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Shortest run of pushes [`Engine::apply_many`] splits over threads. Starting the thread
/// costs tens of µs of CPU and of latency: at 64 it cost HTTP 32×8 (runs of ~125 pushes) 16–27 %
/// more CPU per push; TCP 8×256 runs are ~740 pushes (decision 0013).
pub const APPLY_PARALLEL_MIN: usize = 384;

/// Stack of an apply thread: folding an event is shallow (no recursion over pushed values).
const APPLY_THREAD_STACK: usize = 256 * 1024;

/// A push's identity for replay detection: its event and the value of the event's
/// `dedupe_key` field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DedupeKey {
    pub event: CompactString,
    pub value: CompactString,
}

/// A panic caught while applying a push.
pub type Panic = Box<dyn std::any::Any + Send>;

/// The message a panic carried, for logs and answers.
pub fn panic_message(panic: &Panic) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// What one lane's pass over a run did: cold resets, and the pushes that panicked.
type LaneResult = (u64, Vec<(usize, Panic)>);

/// Engine options (beava env equivalents noted).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// §7.3 lifetime-op governance (`BEAVA_MEMORY_GOV_ENFORCE`, default on).
    pub memory_governance: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            memory_governance: true,
        }
    }
}

/// The query time of a read (beava §1.5): `/get` reads at `max(watermark, now)`; `/batch_get`
/// reads at the last-push watermark only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadTime {
    Now(TimestampMs),
    Watermark,
}

/// What a successful `/register` returns.
#[derive(Clone, Debug, PartialEq)]
pub enum RegisterOutcome {
    /// `dry_run: true`: the diff, nothing changed (`would_apply: false`).
    DryRun { diff: Diff },
    Applied {
        registry_version: u64,
        registered_descriptors: Vec<String>,
        added: Vec<String>,
        already_present: Vec<String>,
    },
}

/// Counters for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineStats {
    pub registry_version: u64,
    pub node_count: usize,
    pub entity_count_resident: u64,
    pub cold_entity_evictions_total: u64,
    pub bucket_reclaim_total: u64,
    pub entropy_categories_capped_total: u64,
    pub events_applied_total: u64,
}

/// Registry plus all table state.
pub struct Engine {
    config: EngineConfig,
    registry: Registry,
    /// One state per compiled table, same index as `registry.compiled().tables`.
    tables: Vec<TableState>,
    /// Latest processing time applied (beava's "last-push watermark").
    watermark_ms: TimestampMs,
    /// Reused row buffer for pipelines.
    scratch: Vec<Value>,
    /// `apply_many`'s event id per push and lanes with work per push, kept between runs.
    run_events: Vec<Option<usize>>,
    run_work: Vec<u8>,
    /// Names of `tables`, same order (to carry state over a registry change).
    table_names: Vec<compact_str::CompactString>,
    stats: EngineStats,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            registry: Registry::default(),
            tables: Vec::new(),
            watermark_ms: 0,
            scratch: Vec::new(),
            run_events: Vec::new(),
            run_work: Vec::new(),
            table_names: Vec::new(),
            stats: EngineStats::default(),
        }
    }

    pub fn registry_version(&self) -> u64 {
        self.registry.version()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The replay-detection identity of `push` and its window, if its event declares a
    /// `dedupe_key` and the push carries a value for it (beava-compat §4.1; the store keeps
    /// the seen keys, decision 0023).
    pub fn dedupe_key(&self, push: &ValidatedPush) -> Option<(DedupeKey, u64)> {
        let compiled = self.registry.compiled();
        if !compiled.any_dedupe {
            return None;
        }
        let event = &compiled.events[*compiled.event_by_name.get(push.event.as_str())?];
        let dedupe = event.dedupe?;
        let value = push.fields.get(dedupe.slot)?;
        if value.is_null() {
            return None;
        }
        // The field's declared type fixes the value's kind; JSON text keeps kinds of `json`
        // fields apart ("5" vs 5).
        let value = match value {
            Value::Str(s) => s.clone(),
            other => CompactString::from(serde_json::to_string(other).ok()?),
        };
        Some((
            DedupeKey {
                event: event.name.clone(),
                value,
            },
            dedupe.window_ms,
        ))
    }

    pub fn watermark_ms(&self) -> TimestampMs {
        self.watermark_ms
    }

    /// Applies a `/register` body (the raw JSON value, so beava's pre-checks on raw JSON can run).
    pub fn register(&mut self, body: &serde_json::Value) -> Result<RegisterOutcome, RegisterError> {
        let decision = self
            .registry
            .register(body, self.config.memory_governance)?;
        Ok(match decision {
            RegisterDecision::DryRun(diff) => RegisterOutcome::DryRun { diff },
            RegisterDecision::NoOp {
                registered,
                already_present,
            } => RegisterOutcome::Applied {
                registry_version: self.registry.version(),
                registered_descriptors: registered,
                added: Vec::new(),
                already_present,
            },
            RegisterDecision::Applied {
                registered,
                added,
                already_present,
                transition,
            } => {
                self.carry_over_state(&transition.kept_tables);
                RegisterOutcome::Applied {
                    registry_version: self.registry.version(),
                    registered_descriptors: registered,
                    added,
                    already_present,
                }
            }
        })
    }

    /// Rebuilds the per-table state vector for the new compiled registry, moving the state of
    /// unchanged tables and starting the others empty.
    fn carry_over_state(&mut self, kept: &[compact_str::CompactString]) {
        let mut old: rustc_hash::FxHashMap<compact_str::CompactString, TableState> =
            std::mem::take(&mut self.old_table_names())
                .into_iter()
                .zip(std::mem::take(&mut self.tables))
                .collect();
        self.tables = self
            .registry
            .compiled()
            .tables
            .iter()
            .map(|t| {
                if kept.contains(&t.name) {
                    old.remove(&t.name).unwrap_or_default()
                } else {
                    TableState::default()
                }
            })
            .collect();
        self.table_names = self
            .registry
            .compiled()
            .tables
            .iter()
            .map(|t| t.name.clone())
            .collect();
    }

    fn old_table_names(&mut self) -> Vec<compact_str::CompactString> {
        std::mem::take(&mut self.table_names)
    }

    /// Validates a push against the event schema; nothing is changed. `fields` is the decoded
    /// `data`/`body` member (must be a `Value::Map`).
    pub fn validate_push(&self, event: &str, fields: &Value) -> Result<ValidatedPush, PushError> {
        crate::push::validate(&self.registry, event, fields)
    }

    /// [`Engine::validate_push`] taking the body by value: the field values are moved into the
    /// validated push instead of cloned. Same checks, same errors.
    pub fn validate_push_owned(
        &self,
        event: &str,
        body: Value,
    ) -> Result<ValidatedPush, PushError> {
        crate::push::validate_owned(&self.registry, event, body)
    }

    /// A push validated on an I/O thread (`push::prevalidate`), checked against the current
    /// registry: as it stands if it was validated against this one, validated again otherwise.
    pub fn accept_prevalidated(
        &self,
        push: crate::push::PrevalidatedPush,
    ) -> Result<ValidatedPush, PushError> {
        push.accept(&self.registry)
    }

    /// The compiled registry as shared, for validating pushes off the writer.
    pub fn compiled_registry(&self) -> std::sync::Arc<crate::registry::compile::CompiledRegistry> {
        std::sync::Arc::clone(self.registry.compiled_shared())
    }

    /// Folds a validated push into every table fed by its event, at processing time `now_ms`.
    /// A push validated against an older registry whose event is gone is skipped (returns false).
    pub fn apply(&mut self, push: &ValidatedPush, now_ms: TimestampMs) -> bool {
        self.watermark_ms = self.watermark_ms.max(now_ms);
        let compiled = self.registry.compiled();
        let Some(event_id) = event_of(compiled, push) else {
            return false;
        };
        self.stats.events_applied_total += 1;
        let event = &compiled.events[event_id];
        self.stats.cold_entity_evictions_total += fold_event(
            compiled,
            event,
            push,
            now_ms,
            self.tables.as_mut_slice(),
            &mut self.scratch,
        );
        true
    }

    /// Whether [`Engine::apply`] would apply `push` under the current registry (its event is
    /// registered with as many fields), rather than skip it.
    pub fn can_apply(&self, push: &ValidatedPush) -> bool {
        event_of(self.registry.compiled(), push).is_some()
    }

    /// Applies `pushes` in order, as many [`Engine::apply`] calls would, and returns the
    /// pushes whose fold panicked, as `(index in pushes, panic)` in increasing index order
    /// (the others are applied; a panicking push may have changed part of its entities, as with
    /// `apply` under `catch_unwind`). Nothing is allocated per push: a run without panics
    /// returns an empty vector, and the per-push event ids reuse one buffer.
    ///
    /// A run of at least [`APPLY_PARALLEL_MIN`] pushes is applied on [`LANES`] threads, one
    /// per entity-map lane (scoped: all joined before this returns): each thread takes every
    /// push in order and folds it into the entities of its own lane, so every entity still sees
    /// its events in order (decision 0013).
    pub fn apply_many(
        &mut self,
        pushes: &[&ValidatedPush],
        now_ms: TimestampMs,
    ) -> Vec<(usize, Panic)> {
        self.watermark_ms = self.watermark_ms.max(now_ms);
        let compiled = self.registry.compiled();
        let mut run_events = std::mem::take(&mut self.run_events);
        run_events.clear();
        run_events.extend(pushes.iter().map(|p| event_of(compiled, p)));
        self.stats.events_applied_total += run_events.iter().flatten().count() as u64;
        let events = &run_events[..];
        let parallel = pushes.len() >= APPLY_PARALLEL_MIN;
        // Which lanes have work for each push, found once here rather than by every lane for
        // every push of the run (and by each of its prefetch stages).
        let mut run_work = std::mem::take(&mut self.run_work);
        run_work.clear();
        if parallel {
            run_work.extend(
                pushes
                    .iter()
                    .zip(events)
                    .map(|(push, event)| lanes_with_work(compiled, &self.tables, push, *event)),
            );
        }
        let work = &run_work[..];
        let run = |lanes: &mut [TableLanes<'_>], lane: usize, scratch: &mut Vec<Value>| {
            let only = Some((work, 1u8 << lane));
            run_lane(compiled, pushes, events, only, now_ms, lanes, scratch)
        };
        let results: Vec<LaneResult> = if !parallel {
            let tables = self.tables.as_mut_slice();
            vec![run_lane(
                compiled,
                pushes,
                events,
                None,
                now_ms,
                tables,
                &mut self.scratch,
            )]
        } else {
            let mut per_lane = table_lanes_split(&mut self.tables);
            let (own, others) = per_lane.split_first_mut().expect("LANES >= 1");
            let scratch = &mut self.scratch;
            let mut unspawned: Vec<usize> = Vec::new();
            // A thread per run (~20 µs to start): neither a rayon pool nor a long-lived helper
            // owning its lane measured faster (decision 0013), and this needs no hand-off.
            let mut results = std::thread::scope(|scope| {
                let mut handles = Vec::new();
                for (index, lanes) in others.iter_mut().enumerate() {
                    let spawned = std::thread::Builder::new()
                        .name("weir-apply".into())
                        .stack_size(APPLY_THREAD_STACK)
                        .spawn_scoped(scope, move || run(lanes, index + 1, &mut Vec::new()));
                    match spawned {
                        Ok(handle) => handles.push(handle),
                        // Lanes are independent: this one runs here once the others are done.
                        Err(_) => unspawned.push(index),
                    }
                }
                let mut results = vec![run(own, 0, scratch)];
                for handle in handles {
                    match handle.join() {
                        Ok(result) => results.push(result),
                        // `run` catches the engine's panics; anything else is a bug here.
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                results
            });
            for index in unspawned {
                results.push(run(&mut others[index], index + 1, &mut self.scratch));
            }
            results
        };
        let mut panics = Vec::new();
        for (cold_evictions, lane_panics) in results {
            self.stats.cold_entity_evictions_total += cold_evictions;
            panics.extend(lane_panics);
        }
        // Stable: a push that panicked in several lanes keeps its first lane's panic.
        panics.sort_by_key(|(i, _)| *i);
        panics.dedup_by_key(|(i, _)| *i);
        self.run_events = run_events;
        self.run_work = run_work;
        panics
    }

    /// Reads one row: `{feature: value}`; unknown entity ⇒ empty map.
    pub fn get(
        &self,
        table: &str,
        key: &str,
        features: Option<&[String]>,
        at: ReadTime,
    ) -> Result<Value, QueryError> {
        let compiled = self.registry.compiled();
        let Some(&table_id) = compiled.table_by_name.get(table) else {
            return Err(QueryError::UnknownTable {
                table: table.to_string(),
            });
        };
        let def = &compiled.tables[table_id];
        // beava checks the feature names before the key arity.
        let mut selected: Vec<usize> = match features {
            None => def.features_by_name.clone(),
            Some(names) => {
                let mut selected = Vec::with_capacity(names.len());
                let mut missing = Vec::new();
                for name in names {
                    match def.feature_index(name) {
                        Some(i) => selected.push(i),
                        None => missing.push(name.clone()),
                    }
                }
                if !missing.is_empty() {
                    return Err(QueryError::FeatureNotFound {
                        table: table.to_string(),
                        missing,
                    });
                }
                selected
            }
        };
        // beava answers rows with members in name order (its maps are sorted), each once.
        if features.is_some() {
            selected.sort_by_key(|&i| def.name_rank[i]);
            selected.dedup();
        }
        let segments = if def.key_slots.is_empty() && key.is_empty() {
            0
        } else {
            key.split('|').count()
        };
        if segments != def.key_slots.len() {
            return Err(QueryError::KeyParseFailure {
                table: table.to_string(),
                key: key.to_string(),
                expected: def.key_slots.len(),
                got: segments,
            });
        }
        let Some(entity) = self.tables[table_id].entities.get(key) else {
            return Ok(Value::Map(Vec::new()));
        };
        let query_ms = match at {
            ReadTime::Now(now_ms) => self.watermark_ms.max(now_ms),
            ReadTime::Watermark => self.watermark_ms,
        };
        Ok(Value::Map(
            selected
                .into_iter()
                .map(|i| {
                    let feature = &def.features[i];
                    (
                        feature.name.clone(),
                        feature.spec.read(&entity.slice[i], query_ms),
                    )
                })
                .collect(),
        ))
    }

    /// Hints the memory a [`Engine::get`] of `key` in `table` will read, one stage at a time
    /// (a batch of reads calls it a few rows ahead, as the apply does for pushes: the table slots,
    /// then the entity they point to, then its states' heap blocks), so the rows' cache misses
    /// overlap instead of coming one after the other. Reads nothing it would have to trust.
    pub fn prefetch_row(&self, table: &str, key: &str, stage: RowPrefetch) {
        let compiled = self.registry.compiled();
        let Some(&table_id) = compiled.table_by_name.get(table) else {
            return;
        };
        let entities = &self.tables[table_id].entities;
        let hash = entities.hash(key);
        let lane = entities.lane(EntityMap::lane_of(hash));
        match stage {
            RowPrefetch::Slots => lane.prefetch_slots(hash),
            RowPrefetch::Entity => lane.prefetch(hash),
            RowPrefetch::States => {
                if let Some(entity) = lane.get(hash, key) {
                    for state in entity.slice.iter() {
                        state.prefetch(PrefetchDepth::Block);
                    }
                }
            }
        }
    }

    /// Test-mode reset: clears registry and state, bumps the registry version.
    pub fn reset(&mut self) {
        self.registry.reset();
        self.tables.clear();
        self.table_names.clear();
        self.watermark_ms = 0;
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            registry_version: self.registry.version(),
            node_count: self.registry.node_count(),
            entity_count_resident: self.tables.iter().map(|t| t.len() as u64).sum(),
            ..self.stats.clone()
        }
    }

    pub(crate) fn registry_clone(&self) -> Registry {
        self.registry.clone()
    }

    pub(crate) fn tables_clone(&self) -> Vec<TableState> {
        self.tables.clone()
    }

    pub(crate) fn stats_counters(&self) -> EngineStats {
        self.stats.clone()
    }

    /// An engine over restored parts (`snapshot::restore`); `tables` follow the registry's
    /// compiled table order.
    pub(crate) fn from_parts(
        config: EngineConfig,
        registry: Registry,
        tables: Vec<TableState>,
        watermark_ms: TimestampMs,
        stats: EngineStats,
    ) -> Engine {
        let table_names = registry
            .compiled()
            .tables
            .iter()
            .map(|t| t.name.clone())
            .collect();
        Engine {
            config,
            registry,
            tables,
            watermark_ms,
            scratch: Vec::new(),
            run_events: Vec::new(),
            run_work: Vec::new(),
            table_names,
            stats,
        }
    }

    /// Approximate bytes of feature state across all tables (for bytes-per-entity figures).
    pub fn state_memory_bytes(&self) -> usize {
        self.tables.iter().map(TableState::memory_bytes).sum()
    }
}

/// Folds one row into an entity's features.
/// The event a push feeds, if the registry knows it with the push's fields.
fn event_of(compiled: &CompiledRegistry, push: &ValidatedPush) -> Option<usize> {
    let &event_id = compiled.event_by_name.get(&push.event)?;
    (push.fields.len() == compiled.events[event_id].schema.columns.len()).then_some(event_id)
}

/// One table's entity map as a lane thread sees it: only its own lane is writable.
struct TableLanes<'a> {
    hasher: &'a Hasher,
    lanes: [Option<&'a mut Lane>; LANES],
}

/// Where `fold_event` finds an entity: every lane of the tables (one thread), or one lane of
/// each (a lane thread).
trait EntityLanes {
    /// The hash of `key` in table `table`'s map, its hasher, and the lane holding it if that
    /// lane is writable here.
    fn lane_for(&mut self, table: usize, key: &str) -> Option<(u64, &Hasher, &mut Lane)>;
    /// As `lane_for`, to read.
    fn lane_to_read(&self, table: usize, key: &str) -> Option<(u64, &Lane)>;
}

impl EntityLanes for [TableState] {
    fn lane_for(&mut self, table: usize, key: &str) -> Option<(u64, &Hasher, &mut Lane)> {
        let (hasher, lanes) = self[table].entities.lanes_mut();
        let hash = hasher.hash_one(key);
        Some((hash, hasher, &mut lanes[EntityMap::lane_of(hash)]))
    }

    fn lane_to_read(&self, table: usize, key: &str) -> Option<(u64, &Lane)> {
        let entities = &self[table].entities;
        let hash = entities.hash(key);
        Some((hash, entities.lane(EntityMap::lane_of(hash))))
    }
}

impl EntityLanes for [TableLanes<'_>] {
    fn lane_for(&mut self, table: usize, key: &str) -> Option<(u64, &Hasher, &mut Lane)> {
        let TableLanes { hasher, lanes } = &mut self[table];
        let hash = hasher.hash_one(key);
        let lane = lanes[EntityMap::lane_of(hash)].as_deref_mut()?;
        Some((hash, *hasher, lane))
    }

    fn lane_to_read(&self, table: usize, key: &str) -> Option<(u64, &Lane)> {
        let TableLanes { hasher, lanes } = &self[table];
        let hash = hasher.hash_one(key);
        let lane = lanes[EntityMap::lane_of(hash)].as_deref()?;
        Some((hash, lane))
    }
}

/// How many pushes of a run ahead of the one being folded each prefetch stage works. Folding
/// an event into an entity out of cache is a chain of dependent misses (table slot, entity and
/// its states, each state's heap block, a bucket's summary); run ahead in stages, each stage
/// finds the addresses the previous one brought in, so the misses of several pushes overlap
/// instead of stalling the fold one after the other. Distances count every push of the run,
/// also those of other lanes (about half, with two lanes).
const PREFETCH_FIELDS_AHEAD: usize = 28;
/// Lines of a push's fields hinted at most (8 fields of 32 bytes take 4).
const FIELDS_PREFETCH_LINES_MAX: usize = 8;
const PREFETCH_TABLE_AHEAD: usize = 20;
const PREFETCH_SLOT_AHEAD: usize = 12;
const PREFETCH_BLOCKS_AHEAD: usize = 8;
const PREFETCH_INNER_AHEAD: usize = 4;

/// What [`Engine::prefetch_row`] hints: each stage finds the previous one's lines cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowPrefetch {
    /// The table slots the key may sit in.
    Slots,
    /// The entity with its states (one block), found in the slot.
    Entity,
    /// Each state's heap block.
    States,
}

#[derive(Clone, Copy)]
enum PrefetchStage {
    /// The table slots the key may sit in (decision 0021).
    Table,
    /// The entity with its states (one block, decision 0016), found in the slot.
    Slot,
    /// Each state's heap block, or what it points to.
    Heap(PrefetchDepth),
}

/// Hints what folding `push` into the entities `tables` makes writable will read first, at
/// `stage`. Only tables fed by the event's fields as they are (no pipeline to run); an entity
/// not yet in the map is skipped.
fn prefetch_push<T: EntityLanes + ?Sized>(
    compiled: &CompiledRegistry,
    push: &ValidatedPush,
    event_id: Option<usize>,
    tables: &T,
    stage: PrefetchStage,
) {
    let Some(event_id) = event_id else {
        return;
    };
    for &table_id in &compiled.events[event_id].tables {
        let table = &compiled.tables[table_id];
        if !table.pipeline.is_identity() {
            continue;
        }
        let Some(key) = entity_key_cow(&push.fields, &table.key_slots) else {
            continue;
        };
        let Some((hash, lane)) = tables.lane_to_read(table_id, &key) else {
            continue;
        };
        match stage {
            PrefetchStage::Table => {
                lane.prefetch_slots(hash);
                continue;
            }
            PrefetchStage::Slot => {
                lane.prefetch(hash);
                continue;
            }
            PrefetchStage::Heap(_) => {}
        }
        let Some(entity) = lane.get(hash, &key) else {
            continue;
        };
        if let PrefetchStage::Heap(depth) = stage {
            for state in entity.slice.iter() {
                state.prefetch(depth);
            }
        }
    }
}

// `lanes_with_work` keeps one bit per lane in a u8.
const _: () = assert!(LANES <= 8);

/// The lanes (bit `1 << lane`) holding an entity `push` folds into: one per table its event
/// feeds as is; every lane if a table runs a pipeline first (which may filter the push or derive
/// the key); none for an unknown event or a push without the key.
fn lanes_with_work(
    compiled: &CompiledRegistry,
    tables: &[TableState],
    push: &ValidatedPush,
    event: Option<usize>,
) -> u8 {
    let Some(event) = event else {
        return 0;
    };
    let mut lanes = 0u8;
    for &table_id in &compiled.events[event].tables {
        let table = &compiled.tables[table_id];
        if !table.pipeline.is_identity() {
            return u8::MAX;
        }
        if let Some(key) = entity_key_cow(&push.fields, &table.key_slots) {
            let hash = tables[table_id].entities.hash(&key);
            lanes |= 1 << EntityMap::lane_of(hash);
        }
    }
    lanes
}

/// Folds every push of a run, in order, into the entities `tables` makes writable; returns the
/// cold resets and the pushes whose fold panicked. With `only = Some((work, bit))`, pushes whose
/// `work` lacks `bit` (this lane holds none of their entities) are skipped without a look.
fn run_lane<T: EntityLanes + ?Sized>(
    compiled: &CompiledRegistry,
    pushes: &[&ValidatedPush],
    events: &[Option<usize>],
    only: Option<(&[u8], u8)>,
    now_ms: TimestampMs,
    tables: &mut T,
    scratch: &mut Vec<Value>,
) -> LaneResult {
    let mut cold_evictions = 0;
    let mut panics = Vec::new();
    let mine = |i: usize| only.is_none_or(|(work, bit)| work[i] & bit != 0);
    let mine_in = |j: usize| j < pushes.len() && mine(j);
    let ahead = |j: usize, stage: PrefetchStage, tables: &T| {
        if mine_in(j) {
            prefetch_push(compiled, pushes[j], events[j], tables, stage);
        }
    };
    // Before the push at `i` is applied (`i` negative in the prologue): each stage for the push
    // that stage's distance ahead of it.
    let stages_ahead_of = |i: isize, tables: &T| {
        let at = |distance: usize| usize::try_from(i + distance as isize).ok();
        if let Some(push) = at(PREFETCH_FIELDS_AHEAD)
            .filter(|&j| mine_in(j))
            .map(|j| pushes[j])
        {
            // The stages below start by reading the entity key out of the push's fields.
            sketch::prefetch::block(
                push.fields.as_ptr().cast(),
                std::mem::size_of_val(push.fields.as_slice()),
                FIELDS_PREFETCH_LINES_MAX,
            );
        }
        let blocks = PrefetchStage::Heap(PrefetchDepth::Block);
        let inner = PrefetchStage::Heap(PrefetchDepth::Inner);
        for (distance, stage) in [
            (PREFETCH_TABLE_AHEAD, PrefetchStage::Table),
            (PREFETCH_SLOT_AHEAD, PrefetchStage::Slot),
            (PREFETCH_BLOCKS_AHEAD, blocks),
            (PREFETCH_INNER_AHEAD, inner),
        ] {
            if let Some(j) = at(distance) {
                ahead(j, stage, tables);
            }
        }
    };
    // The prologue: the stages the first pushes of the run would have had from the pushes
    // before them, at the same spacing (a run of ~100, as over HTTP, otherwise applies its
    // first ~20 pushes with some or all of their misses taken one after the other).
    let deepest = PREFETCH_FIELDS_AHEAD.max(PREFETCH_TABLE_AHEAD) as isize;
    for i in -deepest..0 {
        stages_ahead_of(i, tables);
    }
    for (i, (push, event_id)) in pushes.iter().zip(events).enumerate() {
        stages_ahead_of(i as isize, tables);
        let Some(event_id) = *event_id else {
            continue;
        };
        if !mine(i) {
            continue;
        }
        let event = &compiled.events[event_id];
        match catch_unwind(AssertUnwindSafe(|| {
            fold_event(compiled, event, push, now_ms, tables, scratch)
        })) {
            Ok(evicted) => cold_evictions += evicted,
            Err(panic) => panics.push((i, panic)),
        }
    }
    (cold_evictions, panics)
}

/// Per lane, every table with only that lane writable.
fn table_lanes_split(tables: &mut [TableState]) -> Vec<Vec<TableLanes<'_>>> {
    let mut per_lane: Vec<Vec<TableLanes<'_>>> = (0..LANES).map(|_| Vec::new()).collect();
    for table in tables.iter_mut() {
        let (hasher, lanes) = table.entities.lanes_mut();
        for (index, lane) in lanes.iter_mut().enumerate() {
            let mut only: [Option<&mut Lane>; LANES] = std::array::from_fn(|_| None);
            only[index] = Some(lane);
            per_lane[index].push(TableLanes {
                hasher,
                lanes: only,
            });
        }
    }
    per_lane
}

/// With the `fault-injection` feature (tests only), a push with a string field equal to this
/// panics while it is folded: the way to test that a panicking push fails alone, and that replay
/// quarantines it.
#[cfg(feature = "fault-injection")]
pub const INJECTED_PANIC_MARKER: &str = "weir:injected-panic";

/// Folds one push into the entities of the tables `event` feeds that lie in a writable lane of
/// `tables`; returns how many entities were reset for being cold.
fn fold_event<T: EntityLanes + ?Sized>(
    compiled: &CompiledRegistry,
    event: &EventDef,
    push: &ValidatedPush,
    now_ms: TimestampMs,
    tables: &mut T,
    scratch: &mut Vec<Value>,
) -> u64 {
    #[cfg(feature = "fault-injection")]
    if push
        .fields
        .iter()
        .any(|v| matches!(v, Value::Str(s) if s == INJECTED_PANIC_MARKER))
    {
        panic!("injected panic ({INJECTED_PANIC_MARKER})");
    }
    let mut cold_evictions = 0;
    for &table_id in &event.tables {
        let table = &compiled.tables[table_id];
        let row: &[Value] = if table.pipeline.is_identity() {
            &push.fields
        } else {
            if !table.pipeline.run(&push.fields, scratch) {
                continue;
            }
            scratch
        };
        let Some(key) = entity_key(row, &table.key_slots) else {
            continue;
        };
        let Some((hash, hasher, lane)) = tables.lane_for(table_id, key.as_str()) else {
            continue;
        };
        // `get_mut` copies the shard and the entity only if a snapshot view shares them.
        match lane.get_mut(hash, key.as_str()) {
            Some(entity) => {
                if let Some(cold_ms) = event.cold_after_ms {
                    let idle_ms = now_ms.saturating_sub(entity.header.last_event_ms);
                    if idle_ms > i64::try_from(cold_ms).unwrap_or(i64::MAX) {
                        for (slot, feature) in entity.slice.iter_mut().zip(&table.features) {
                            *slot = feature.spec.new_state();
                        }
                        cold_evictions += 1;
                    }
                }
                entity.header.last_event_ms = entity.header.last_event_ms.max(now_ms);
                fold(&mut entity.slice, table, row, now_ms);
            }
            None => {
                let mut entity = crate::table::new_entity(
                    key,
                    now_ms,
                    table.features.iter().map(|f| f.spec.new_state()),
                );
                let state = triomphe::Arc::get_mut(&mut entity).expect("a new entity is unique");
                fold(&mut state.slice, table, row, now_ms);
                lane.insert(hash, entity, hasher);
            }
        }
    }
    cold_evictions
}

fn fold(
    features: &mut [agg::AggState],
    table: &crate::registry::compile::TableDef,
    row: &[Value],
    now_ms: TimestampMs,
) {
    for (slot, feature) in features.iter_mut().zip(&table.features) {
        let passes = feature.predicate.as_ref().is_none_or(|p| p.is_true(row));
        feature.spec.apply(slot, row, passes, now_ms);
    }
}

impl Engine {
    /// Heap bytes of each feature summed over the entities of each table (inline `AggState`
    /// excluded): `(table, feature, bytes)`. For memory measurements; walks every entity.
    pub fn feature_heap_bytes(&self) -> Vec<(String, String, usize)> {
        let mut out = Vec::new();
        for (state, def) in self.tables.iter().zip(&self.registry.compiled().tables) {
            let mut sums = vec![0usize; def.features.len()];
            for entity in state.entities.iter() {
                for (sum, feature) in sums.iter_mut().zip(entity.slice.iter()) {
                    *sum += feature.heap_bytes();
                }
            }
            for (feature, sum) in def.features.iter().zip(sums) {
                out.push((def.name.to_string(), feature.name.to_string(), sum));
            }
        }
        out
    }
}
