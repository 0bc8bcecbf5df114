//! Validation and compilation of registered nodes (beava-compat §4.1–§4.4, rules 1–11) into the
//! slot-addressed form the hot path runs: event schemas, pipelines, key slots and features.

use super::spec::{DerivationSpec, EventSpec, NodeSpec, OpSpec, OutputKind};
use crate::pipeline::{Pipeline, Step};
use compact_str::CompactString;
use model::limits::NAME_CHARS_MAX;
use model::{Column, FieldType, RegisterError, RowSchema, Value};
use rustc_hash::FxHashMap;
use serde_json::Value as Json;

pub type EventId = usize;
pub type TableId = usize;

#[derive(Clone, Debug)]
pub struct EventDef {
    pub name: CompactString,
    /// Pushed fields in slot order; `optional` columns may be absent (read as null).
    pub schema: RowSchema,
    pub cold_after_ms: Option<u64>,
    /// Replay detection (`dedupe_key`): a push whose field at `slot` repeats a value seen
    /// within `window_ms` is answered with the first one's acknowledgement and not applied.
    pub dedupe: Option<Dedupe>,
    /// Tables fed by this event (directly or through event derivations).
    pub tables: Vec<TableId>,
}

/// An event's `dedupe_key` and `dedupe_window_ms` (beava-compat §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dedupe {
    pub slot: usize,
    pub window_ms: u64,
}

/// `dedupe_window_ms` when only `dedupe_key` is given: 24 h.
pub const DEDUPE_WINDOW_MS_DEFAULT: u64 = 86_400_000;

#[derive(Clone, Debug)]
pub struct FeatureDef {
    pub name: CompactString,
    pub spec: agg::AggSpec,
    /// The compiled `where` predicate, if any.
    pub predicate: Option<expr::Compiled>,
}

#[derive(Clone, Debug)]
pub struct TableDef {
    pub name: CompactString,
    /// The root event that feeds it (`usize::MAX` for a table nothing feeds).
    pub event: EventId,
    pub pipeline: Pipeline,
    /// Group-key slots in the pipeline's output row; empty for a global table.
    pub key_slots: Vec<usize>,
    pub features: Vec<FeatureDef>,
    /// Indexes into `features` in name order, and each feature's place in it: rows are answered
    /// with members in name order (beava's maps are sorted), and sorting 50 names per row was a
    /// fifth of a wide `batch_get`.
    pub features_by_name: Vec<usize>,
    pub name_rank: Vec<usize>,
}

impl TableDef {
    fn new(
        name: &str,
        event: EventId,
        pipeline: Pipeline,
        key_slots: Vec<usize>,
        features: Vec<FeatureDef>,
    ) -> TableDef {
        let mut features_by_name: Vec<usize> = (0..features.len()).collect();
        features_by_name.sort_by(|a, b| features[*a].name.cmp(&features[*b].name));
        let mut name_rank = vec![0; features.len()];
        for (rank, &i) in features_by_name.iter().enumerate() {
            name_rank[i] = rank;
        }
        TableDef {
            name: CompactString::from(name),
            event,
            pipeline,
            key_slots,
            features,
            features_by_name,
            name_rank,
        }
    }

    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }
}

/// The compiled registry: everything the hot path needs, resolved to indexes.
#[derive(Clone, Debug, Default)]
pub struct CompiledRegistry {
    pub events: Vec<EventDef>,
    pub tables: Vec<TableDef>,
    pub event_by_name: FxHashMap<CompactString, EventId>,
    pub table_by_name: FxHashMap<CompactString, TableId>,
    /// Some event declares a `dedupe_key` (lets every push skip the lookup when none does).
    pub any_dedupe: bool,
}

/// What a compiled node is, for upstream resolution.
#[derive(Clone, Debug)]
enum Compiled {
    Event(EventId),
    /// An event derivation: its root event, the steps from the root and the output schema.
    DerivedEvent {
        root: EventId,
        steps: Vec<Step>,
        schema: RowSchema,
    },
    Table,
}

struct Compiler<'a> {
    nodes: &'a [NodeSpec],
    by_name: FxHashMap<&'a str, usize>,
    done: Vec<Option<Compiled>>,
    visiting: Vec<bool>,
    out: CompiledRegistry,
    feature_owner: FxHashMap<CompactString, CompactString>,
}

/// Validates and compiles `nodes` (a full registry, payload order). Errors carry payload paths.
pub fn compile(nodes: &[NodeSpec]) -> Result<CompiledRegistry, RegisterError> {
    let mut by_name = FxHashMap::default();
    for (i, node) in nodes.iter().enumerate() {
        check_name(node.name(), &format!("nodes[{i}].name"))?;
        if let Some(first) = by_name.insert(node.name(), i) {
            return Err(RegisterError::new(
                "invalid_registration",
                format!("nodes[{i}].name"),
                format!(
                    "duplicate descriptor name '{}'; first seen at nodes[{first}]",
                    node.name()
                ),
            ));
        }
    }
    check_upstreams(nodes, &by_name)?;
    let mut compiler = Compiler {
        nodes,
        by_name,
        done: vec![None; nodes.len()],
        visiting: vec![false; nodes.len()],
        out: CompiledRegistry::default(),
        feature_owner: FxHashMap::default(),
    };
    for i in 0..nodes.len() {
        compiler.compile_node(i)?;
    }
    Ok(compiler.out)
}

fn check_name(name: &str, path: &str) -> Result<(), RegisterError> {
    let fail = |reason: String| Err(RegisterError::new("invalid_registration", path, reason));
    if name.is_empty() {
        return fail("descriptor name must not be empty".to_string());
    }
    let n_chars = name.chars().count();
    if n_chars > NAME_CHARS_MAX {
        return fail(format!(
            "descriptor name is {n_chars} chars; maximum is {NAME_CHARS_MAX}"
        ));
    }
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return fail(format!(
            "descriptor name '{name}' must match [A-Za-z_][A-Za-z0-9_]* (no hyphens or leading digits)"
        ));
    }
    if name.starts_with("_beava_") {
        return fail(format!(
            "descriptor name '{name}' uses reserved prefix '_beava_'"
        ));
    }
    Ok(())
}

/// beava's upstream rules, checked in payload order before anything compiles: no self
/// reference, no reference to a node later in the payload, no unknown name. This also rules out
/// cycles.
fn check_upstreams(
    nodes: &[NodeSpec],
    by_name: &FxHashMap<&str, usize>,
) -> Result<(), RegisterError> {
    for (i, node) in nodes.iter().enumerate() {
        let NodeSpec::Derivation(d) = node else {
            continue;
        };
        for (u, upstream) in d.upstreams.iter().enumerate() {
            let path = format!("nodes[{i}].upstreams[{u}]");
            match by_name.get(upstream.as_str()) {
                Some(&at) if at == i => {
                    return Err(RegisterError::new(
                        "invalid_registration",
                        format!("nodes[{i}]"),
                        format!("cycle detected: {upstream} -> {upstream}"),
                    ))
                }
                Some(&at) if at > i => {
                    return Err(RegisterError::new(
                        "invalid_registration",
                        path,
                        format!("upstream '{upstream}' appears later in payload at nodes[{at}]"),
                    ))
                }
                Some(_) => {}
                None => {
                    return Err(RegisterError::new(
                        "invalid_registration",
                        path,
                        format!(
                        "upstream '{upstream}' is not declared in this payload or in the registry"
                    ),
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Parses a wire field type (`"str"`, `"i64"`, ...). Unknown types fail like beava's strict
/// deserialize: `invalid_registration` at `<body>`.
pub fn field_type(value: &Json) -> Result<FieldType, RegisterError> {
    value.as_str().and_then(FieldType::parse).ok_or_else(|| {
        RegisterError::new(
            "invalid_registration",
            "<body>",
            format!(
                "unknown variant {value}, expected one of `str`, `f64`, `i64`, `bool`, `bytes`, `datetime`, `json`"
            ),
        )
    })
}

impl<'a> Compiler<'a> {
    fn compile_node(&mut self, i: usize) -> Result<(), RegisterError> {
        if self.done[i].is_some() {
            return Ok(());
        }
        if self.visiting[i] {
            return Err(RegisterError::new(
                "invalid_registration",
                format!("nodes[{i}].upstreams"),
                format!("cycle detected through '{}'", self.nodes[i].name()),
            ));
        }
        self.visiting[i] = true;
        let compiled = match &self.nodes[i] {
            NodeSpec::Event(spec) => self.compile_event(i, spec)?,
            NodeSpec::Derivation(spec) => self.compile_derivation(i, spec)?,
        };
        self.visiting[i] = false;
        self.done[i] = Some(compiled);
        Ok(())
    }

    fn compile_event(&mut self, i: usize, spec: &EventSpec) -> Result<Compiled, RegisterError> {
        if spec.schema.fields.is_empty() {
            return Err(RegisterError::new(
                "invalid_registration",
                format!("nodes[{i}].schema.fields"),
                "event schema must have at least one field",
            ));
        }
        let mut columns = Vec::with_capacity(spec.schema.fields.len());
        for (name, ty) in &spec.schema.fields {
            columns.push(Column {
                name: CompactString::from(name.as_str()),
                ty: Some(field_type(ty)?),
                optional: spec.schema.optional_fields.iter().any(|f| f == name),
            });
        }
        if let Some(key) = &spec.dedupe_key {
            if !spec.schema.fields.contains_key(key) {
                return Err(RegisterError::new(
                    "invalid_registration",
                    format!("nodes[{i}].dedupe_key"),
                    format!("dedupe_key '{key}' is not a field in schema"),
                ));
            }
        }
        if spec.dedupe_window_ms == Some(0) {
            return Err(RegisterError::new(
                "invalid_registration",
                format!("nodes[{i}].dedupe_window_ms"),
                "dedupe_window_ms must be > 0",
            ));
        }
        if spec.cold_after_ms == Some(0) {
            return Err(RegisterError::new(
                "invalid_registration",
                format!("nodes[{i}].cold_after_ms"),
                "cold_after_ms must be > 0",
            ));
        }
        let dedupe = spec.dedupe_key.as_ref().and_then(|key| {
            Some(Dedupe {
                slot: columns
                    .iter()
                    .position(|column| column.name == key.as_str())?,
                window_ms: spec.dedupe_window_ms.unwrap_or(DEDUPE_WINDOW_MS_DEFAULT),
            })
        });
        self.out.any_dedupe |= dedupe.is_some();
        let id = self.out.events.len();
        self.out.events.push(EventDef {
            name: CompactString::from(spec.name.as_str()),
            schema: RowSchema { columns },
            cold_after_ms: spec.cold_after_ms,
            dedupe,
            tables: Vec::new(),
        });
        self.out
            .event_by_name
            .insert(CompactString::from(spec.name.as_str()), id);
        Ok(Compiled::Event(id))
    }

    fn compile_derivation(
        &mut self,
        i: usize,
        spec: &DerivationSpec,
    ) -> Result<Compiled, RegisterError> {
        let Some(first) = spec.upstreams.first() else {
            let (code, reason) = match spec.output_kind {
                OutputKind::Table => (
                    "aggregation_on_table_not_supported",
                    "aggregation derivation must have at least one upstream",
                ),
                OutputKind::Event => (
                    "invalid_registration",
                    "derivation must have at least one upstream",
                ),
            };
            return Err(RegisterError::new(
                code,
                format!("nodes[{i}].upstreams"),
                reason,
            ));
        };
        for (u, upstream) in spec.upstreams.iter().enumerate() {
            let Some(&idx) = self.by_name.get(upstream.as_str()) else {
                return Err(RegisterError::new(
                    "invalid_registration",
                    format!("nodes[{i}].upstreams[{u}]"),
                    format!(
                        "upstream '{upstream}' is not declared in this payload or in the registry"
                    ),
                ));
            };
            self.compile_node(idx)?;
        }
        let upstream_idx = self.by_name[first.as_str()];
        let (root, mut steps, mut schema) = match &self.done[upstream_idx] {
            Some(Compiled::Event(id)) => (*id, Vec::new(), self.out.events[*id].schema.clone()),
            Some(Compiled::DerivedEvent {
                root,
                steps,
                schema,
            }) => (*root, steps.clone(), schema.clone()),
            Some(Compiled::Table) => {
                return Err(RegisterError::new(
                    "aggregation_on_table_not_supported",
                    format!("nodes[{i}].upstreams[0]"),
                    format!(
                        "aggregation source '{first}' is a Table; aggregation on Table is not supported in v0"
                    ),
                ))
            }
            None => unreachable!("upstream compiled above"),
        };

        let group_at = spec
            .ops
            .iter()
            .position(|op| matches!(op, OpSpec::GroupBy { .. }));
        let prefix_end = group_at.unwrap_or(spec.ops.len());
        let raw = self.out.events[root].schema.clone();
        for (j, op) in spec.ops[..prefix_end].iter().enumerate() {
            let path = format!("nodes[{i}].ops[{j}]");
            compile_prefix_op(op, &path, raw.columns.len(), &mut schema, &mut steps)?;
        }

        match spec.output_kind {
            OutputKind::Event => {
                if spec.ops.is_empty() && spec.schema.as_ref().is_none_or(|s| s.fields.is_empty()) {
                    return Err(RegisterError::new(
                        "invalid_registration",
                        format!("nodes[{i}].schema.fields"),
                        "derivation schema must have at least one field",
                    ));
                }
                Ok(Compiled::DerivedEvent {
                    root,
                    steps,
                    schema,
                })
            }
            OutputKind::Table => {
                if spec.table_primary_key.is_none() {
                    return Err(RegisterError::new(
                        "invalid_registration",
                        format!("nodes[{i}].table_primary_key"),
                        "derivation with output_kind='table' must specify table_primary_key",
                    ));
                }
                let Some(j) = group_at else {
                    if spec.ops.is_empty()
                        && spec.schema.as_ref().is_some_and(|s| !s.fields.is_empty())
                    {
                        // beava accepts a table with a schema and no ops: it has no features
                        // and nothing feeds it; reads of it answer `{}`.
                        self.add_unfed_table(spec);
                        return Ok(Compiled::Table);
                    }
                    let (path, reason) = if spec.ops.is_empty() {
                        (
                            format!("nodes[{i}].schema.fields"),
                            "derivation schema must have at least one field",
                        )
                    } else {
                        (
                            format!("nodes[{i}].ops"),
                            "a table derivation needs a group_by op",
                        )
                    };
                    return Err(RegisterError::new("invalid_registration", path, reason));
                };
                let OpSpec::GroupBy { keys, agg } = &spec.ops[j] else {
                    unreachable!("group_at points at a group_by")
                };
                let agg_view = agg_field_view(&schema, &raw);
                self.compile_table(i, j, spec, root, steps, schema, &agg_view, keys, agg)?;
                Ok(Compiled::Table)
            }
        }
    }

    fn add_unfed_table(&mut self, spec: &DerivationSpec) {
        let arity = spec.table_primary_key.as_ref().map_or(0, Vec::len);
        let table_id = self.out.tables.len();
        self.out
            .table_by_name
            .insert(CompactString::from(spec.name.as_str()), table_id);
        self.out.tables.push(TableDef::new(
            &spec.name,
            usize::MAX,
            Pipeline::default(),
            (0..arity).collect(),
            Vec::new(),
        ));
    }

    #[allow(clippy::too_many_arguments)]
    fn compile_table(
        &mut self,
        i: usize,
        j: usize,
        spec: &DerivationSpec,
        root: EventId,
        steps: Vec<Step>,
        schema: RowSchema,
        agg_view: &RowSchema,
        keys: &[String],
        aggs: &serde_json::Map<String, Json>,
    ) -> Result<(), RegisterError> {
        let mut key_slots = Vec::with_capacity(keys.len());
        for (k, key) in keys.iter().enumerate() {
            let path = format!("nodes[{i}].ops[{j}].group_by[{k}]");
            let Some((slot, column)) = agg_view.column(key) else {
                return Err(RegisterError::new(
                    "aggregation_unknown_field",
                    path,
                    format!("group_by key '{key}' does not exist in upstream schema"),
                ));
            };
            if column.ty == Some(FieldType::F64) {
                return Err(RegisterError::new(
                    "aggregation_unknown_field",
                    path,
                    format!(
                        "group_by key '{key}' cannot be float-typed; cast to str/int/bool first"
                    ),
                ));
            }
            key_slots.push(slot);
        }
        let mut features = Vec::with_capacity(aggs.len());
        for (feature, def) in aggs {
            let path = format!("nodes[{i}].ops[{j}].agg.{feature}");
            if keys.iter().any(|k| k == feature) {
                return Err(RegisterError::new(
                    "aggregation_group_key_collides_with_feature",
                    path,
                    format!("feature name '{feature}' collides with a group_by key"),
                ));
            }
            let Some((op, params)) = super::spec::agg_op_and_params(def) else {
                return Err(RegisterError::new(
                    "invalid_registration",
                    path,
                    "aggregation must be an object {\"op\": str, \"params\": {...}}",
                ));
            };
            let ctx = agg::CompileContext {
                feature,
                path: &path,
                schema: agg_view,
            };
            let agg_spec = agg::compile(op, params, &ctx)?;
            let predicate = match params.get("where") {
                None | Some(Json::Null) => None,
                Some(Json::String(src)) => {
                    Some(expr::compile_where(src, &schema).map_err(|e| {
                        RegisterError::new(
                            "aggregation_invalid_where",
                            format!("{path}.params.where"),
                            e.where_reason(),
                        )
                    })?)
                }
                Some(other) => {
                    return Err(RegisterError::new(
                        "aggregation_invalid_where",
                        format!("{path}.params.where"),
                        format!("where must be an expression string, got {other}"),
                    ))
                }
            };
            let name = CompactString::from(feature.as_str());
            if let Some(owner) = self.feature_owner.get(&name) {
                return Err(RegisterError::new(
                    "aggregation_feature_name_collision_across_aggregations",
                    format!("nodes.{}.features.{feature}", spec.name),
                    format!(
                        "feature name '{feature}' is already defined by aggregation '{owner}'; feature names must be globally unique across aggregations"
                    ),
                ));
            }
            self.feature_owner
                .insert(name.clone(), CompactString::from(spec.name.as_str()));
            features.push(FeatureDef {
                name,
                spec: agg_spec,
                predicate,
            });
        }
        let table_id = self.out.tables.len();
        self.out.events[root].tables.push(table_id);
        self.out
            .table_by_name
            .insert(CompactString::from(spec.name.as_str()), table_id);
        self.out.tables.push(TableDef::new(
            &spec.name,
            root,
            Pipeline {
                steps,
                width: schema.columns.len(),
            },
            key_slots,
            features,
        ));
        Ok(())
    }
}

/// Name under which a dropped column stays in the slot layout; it can never be referenced.
const HIDDEN: &str = "\u{0}hidden";

/// beava reports syntax and unknown-field errors at `<op>.expr`, type errors at the op itself.
fn expr_error(op_path: &str, error: expr::ExprError) -> RegisterError {
    let path = match error.kind {
        expr::ExprErrorKind::Invalid => op_path.to_string(),
        _ => format!("{op_path}.expr"),
    };
    RegisterError::new("invalid_expression", path, error.message)
}

/// The schema an aggregation's `field` and the group keys resolve against. beava reads those
/// from the raw pushed row for fields of the event schema (a `with_columns`, `cast` or `fillna`
/// that rewrites an event field is seen by `where` and `filter` but not by `field`), while
/// columns the chain adds or renames resolve to the chain's output.
fn agg_field_view(schema: &RowSchema, raw: &RowSchema) -> RowSchema {
    let mut view = schema.clone();
    for (raw_slot, raw_column) in raw.columns.iter().enumerate() {
        if let Some(slot) = view.slot_of(&raw_column.name) {
            if slot >= raw.columns.len() {
                view.columns[slot].name = CompactString::from(HIDDEN);
                view.columns[raw_slot] = raw_column.clone();
            }
        }
    }
    view
}

/// Slot a rewrite of column `name` writes to: a column the chain added is rewritten in place; a
/// raw event field gets a new slot (the raw value stays readable, see `agg_field_view`).
fn rewrite_slot(schema: &mut RowSchema, slot: usize, raw_width: usize) -> usize {
    if slot >= raw_width {
        return slot;
    }
    let mut column = schema.columns[slot].clone();
    schema.columns[slot].name = CompactString::from(HIDDEN);
    column.optional = true;
    schema.columns.push(column);
    schema.columns.len() - 1
}

/// The copy step that seeds a new slot from the raw one before a rewrite.
fn seed_from(source: usize, target: usize, steps: &mut Vec<Step>) {
    if source != target {
        steps.push(Step::Copy { source, target });
    }
}

fn compile_prefix_op(
    op: &OpSpec,
    path: &str,
    raw_width: usize,
    schema: &mut RowSchema,
    steps: &mut Vec<Step>,
) -> Result<(), RegisterError> {
    match op {
        OpSpec::Filter { expr: src } => {
            let predicate = expr::compile(src, schema).map_err(|e| expr_error(path, e))?;
            steps.push(Step::Filter(predicate));
        }
        OpSpec::WithColumns { exprs } | OpSpec::Map { exprs } => {
            // Evaluated in alphabetical name order, each seeing the earlier additions (beava).
            let mut names: Vec<&String> = exprs.keys().collect();
            names.sort();
            for name in names {
                let Some(src) = exprs[name].as_str() else {
                    return Err(RegisterError::new(
                        "invalid_expression",
                        format!("{path}.expr"),
                        format!("expression for column '{name}' must be a string"),
                    ));
                };
                let compiled = expr::compile(src, schema).map_err(|e| expr_error(path, e))?;
                // beava types a column whose expression is statically null as `str`.
                let ty = Some(compiled.output_type().unwrap_or(FieldType::Str));
                let slot = match schema.slot_of(name) {
                    Some(slot) => {
                        let slot = rewrite_slot(schema, slot, raw_width);
                        schema.columns[slot].ty = ty;
                        schema.columns[slot].optional = true;
                        slot
                    }
                    None => {
                        schema.columns.push(Column {
                            name: CompactString::from(name.as_str()),
                            ty,
                            optional: true,
                        });
                        schema.columns.len() - 1
                    }
                };
                steps.push(Step::Assign {
                    slot,
                    expr: compiled,
                });
            }
        }
        OpSpec::Select { fields } => {
            for column in &mut schema.columns {
                if !fields.iter().any(|f| *f == column.name) {
                    column.name = CompactString::from(HIDDEN);
                }
            }
        }
        OpSpec::Drop { fields } => {
            for field in fields {
                if let Some(slot) = schema.slot_of(field) {
                    schema.columns[slot].name = CompactString::from(HIDDEN);
                }
            }
        }
        OpSpec::Rename { mapping } => {
            // Atomic: resolve every source first, then rename.
            let mut renames = Vec::new();
            for (from, to) in mapping {
                let Some(to) = to.as_str() else {
                    return Err(RegisterError::new(
                        "invalid_registration",
                        format!("{path}.mapping.{from}"),
                        "rename target must be a string",
                    ));
                };
                if let Some(slot) = schema.slot_of(from) {
                    renames.push((slot, to));
                }
            }
            for (slot, to) in &renames {
                if let Some(other) = schema.slot_of(to) {
                    if !renames.iter().any(|(s, _)| *s == other) {
                        schema.columns[other].name = CompactString::from(HIDDEN);
                    }
                }
                schema.columns[*slot].name = CompactString::from(*to);
            }
        }
        OpSpec::Cast { type_map } => {
            for (field, target) in type_map {
                let field_path = format!("{path}.type_map.{field}");
                let Some(target) = target.as_str().and_then(expr::CastTarget::parse) else {
                    return Err(RegisterError::new(
                        "invalid_expression",
                        path,
                        format!(
                            "unknown cast target type {target}; must be one of: str, int, float, bool"
                        ),
                    ));
                };
                let Some(slot) = schema.slot_of(field) else {
                    return Err(RegisterError::new(
                        "invalid_expression",
                        field_path,
                        format!("field '{field}' not found in upstream schema"),
                    ));
                };
                let target_slot = rewrite_slot(schema, slot, raw_width);
                seed_from(slot, target_slot, steps);
                schema.columns[target_slot].ty = Some(target.output_type());
                steps.push(Step::Cast {
                    slot: target_slot,
                    target,
                });
            }
        }
        OpSpec::Fillna { defaults } => {
            for (field, default) in defaults {
                let Some(slot) = schema.slot_of(field) else {
                    return Err(RegisterError::new(
                        "invalid_expression",
                        format!("{path}.defaults.{field}"),
                        format!("field '{field}' not found in upstream schema"),
                    ));
                };
                let target_slot = rewrite_slot(schema, slot, raw_width);
                seed_from(slot, target_slot, steps);
                steps.push(Step::FillNull {
                    slot: target_slot,
                    value: json_to_value(default),
                });
            }
        }
        OpSpec::GroupBy { .. } => unreachable!("prefix ops stop at group_by"),
    }
    Ok(())
}

/// Converts a register-time JSON literal (e.g. a `fillna` default) to a `Value`.
pub fn json_to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::str(s),
        Json::Array(items) => Value::List(items.iter().map(json_to_value).collect()),
        Json::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (CompactString::from(k.as_str()), json_to_value(v)))
                .collect(),
        ),
    }
}
