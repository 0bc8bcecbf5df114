//! The `/register` wire schema (beava-compat §4): what a client sends, deserialized strictly.
//!
//! These types mirror the wire; validation and compilation happen in `validate.rs`/`compile.rs`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// Top-level `/register` body.
#[derive(Clone, Debug, Deserialize)]
pub struct RegisterRequest {
    pub nodes: Vec<NodeSpec>,
    /// Only a JSON `true` counts; beava ignores any other value.
    #[serde(default, deserialize_with = "only_true")]
    pub force: bool,
    #[serde(default, deserialize_with = "only_true")]
    pub dry_run: bool,
}

fn only_true<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Json::deserialize(d)? == Json::Bool(true))
}

/// A node: an event source or a derivation, tagged by `kind`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeSpec {
    Event(EventSpec),
    Derivation(DerivationSpec),
}

impl NodeSpec {
    pub fn name(&self) -> &str {
        match self {
            NodeSpec::Event(e) => &e.name,
            NodeSpec::Derivation(d) => &d.name,
        }
    }

    /// `descriptor_kind` as reported in `new_descriptor` diff entries.
    pub fn descriptor_kind(&self) -> &'static str {
        match self {
            NodeSpec::Event(_) => "event",
            NodeSpec::Derivation(_) => "derivation",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct EventSpec {
    pub name: String,
    pub schema: SchemaSpec,
    #[serde(default)]
    pub dedupe_key: Option<String>,
    #[serde(default)]
    pub dedupe_window_ms: Option<u64>,
    #[serde(default)]
    pub keep_events_for_ms: Option<u64>,
    #[serde(default)]
    pub cold_after_ms: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SchemaSpec {
    pub fields: Map<String, Json>,
    #[serde(default)]
    pub optional_fields: Vec<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Event,
    Table,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct DerivationSpec {
    pub name: String,
    pub output_kind: OutputKind,
    pub upstreams: Vec<String>,
    #[serde(default)]
    pub ops: Vec<OpSpec>,
    #[serde(default)]
    pub schema: Option<SchemaSpec>,
    #[serde(default)]
    pub table_primary_key: Option<Vec<String>>,
}

impl DerivationSpec {
    pub fn group_by(&self) -> Option<(&[String], &Map<String, Json>)> {
        self.ops.iter().find_map(|op| match op {
            OpSpec::GroupBy { keys, agg } => Some((keys.as_slice(), agg)),
            _ => None,
        })
    }
}

/// One pipeline op, tagged by `op`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpSpec {
    Filter {
        expr: String,
    },
    Select {
        fields: Vec<String>,
    },
    Drop {
        fields: Vec<String>,
    },
    Rename {
        mapping: Map<String, Json>,
    },
    WithColumns {
        exprs: Map<String, Json>,
    },
    Map {
        exprs: Map<String, Json>,
    },
    Cast {
        type_map: Map<String, Json>,
    },
    Fillna {
        defaults: Map<String, Json>,
    },
    GroupBy {
        keys: Vec<String>,
        /// `{feature_name: {"op": str, "params": {...}}}`, kept raw: `agg::compile` validates.
        agg: Map<String, Json>,
    },
}

impl OpSpec {
    pub fn op_name(&self) -> &'static str {
        match self {
            OpSpec::Filter { .. } => "filter",
            OpSpec::Select { .. } => "select",
            OpSpec::Drop { .. } => "drop",
            OpSpec::Rename { .. } => "rename",
            OpSpec::WithColumns { .. } => "with_columns",
            OpSpec::Map { .. } => "map",
            OpSpec::Cast { .. } => "cast",
            OpSpec::Fillna { .. } => "fillna",
            OpSpec::GroupBy { .. } => "group_by",
        }
    }
}

/// The `{"op":..., "params":{...}}` object of one feature, if well-formed.
pub fn agg_op_and_params(value: &Json) -> Option<(&str, &Map<String, Json>)> {
    static EMPTY: std::sync::OnceLock<Map<String, Json>> = std::sync::OnceLock::new();
    let obj = value.as_object()?;
    let op = obj.get("op")?.as_str()?;
    let params = match obj.get("params") {
        None | Some(Json::Null) => EMPTY.get_or_init(Map::new),
        Some(p) => p.as_object()?,
    };
    Some((op, params))
}
