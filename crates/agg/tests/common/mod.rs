//! Shared test harness: build a schema, compile one aggregation, feed events, read.
#![allow(dead_code, clippy::result_large_err)]

use agg::{compile, AggSpec, AggState, CompileContext};
use model::{Column, FieldType, RegisterError, RowSchema, TimestampMs, Value};
use serde_json::{json, Map, Value as Json};

pub const PATH: &str = "nodes[1].ops[0].agg.f";

/// Schema used by most tests: `k:str, x:f64, i:i64, s:str, b:bool, ok:bool, j:json,
/// lat:f64, lon:f64`.
pub fn schema() -> RowSchema {
    let cols = [
        ("k", FieldType::Str),
        ("x", FieldType::F64),
        ("i", FieldType::I64),
        ("s", FieldType::Str),
        ("b", FieldType::Bool),
        ("ok", FieldType::Bool),
        ("j", FieldType::Json),
        ("lat", FieldType::F64),
        ("lon", FieldType::F64),
    ];
    RowSchema {
        columns: cols
            .iter()
            .map(|(name, ty)| Column {
                name: (*name).into(),
                ty: Some(*ty),
                optional: true,
            })
            .collect(),
    }
}

pub fn params(p: Json) -> Map<String, Json> {
    match p {
        Json::Object(m) => m,
        _ => panic!("params must be an object"),
    }
}

pub fn try_compile(op: &str, p: Json) -> Result<AggSpec, RegisterError> {
    let schema = schema();
    compile(
        op,
        &params(p),
        &CompileContext {
            feature: "f",
            path: PATH,
            schema: &schema,
        },
    )
}

/// Builds a row from `{"field": value}` JSON using the test schema's slots.
pub fn row(fields: Json) -> Vec<Value> {
    let schema = schema();
    let mut row = vec![Value::Null; schema.columns.len()];
    if let Json::Object(m) = fields {
        for (k, v) in m {
            let slot = schema
                .slot_of(&k)
                .unwrap_or_else(|| panic!("no column {k}"));
            row[slot] = to_value(&v);
        }
    }
    row
}

pub fn to_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::F64(n.as_f64().unwrap()),
        },
        Json::String(s) => Value::str(s),
        Json::Array(items) => Value::List(items.iter().map(to_value).collect()),
        Json::Object(m) => Value::Map(m.iter().map(|(k, v)| (k.into(), to_value(v))).collect()),
    }
}

/// Renders a read value as JSON (floats stay floats, like the wire).
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::I64(i) => json!(i),
        Value::F64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => json!(s.as_str()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
    }
}

/// One aggregation over one entity.
pub struct Agg {
    pub spec: AggSpec,
    pub state: AggState,
    /// `where` is evaluated by the engine; tests give it as a field name whose value must be
    /// `true`.
    pub where_field: Option<String>,
}

impl Agg {
    pub fn new(op: &str, p: Json) -> Agg {
        let where_field = p.get("where").and_then(Json::as_str).map(str::to_owned);
        let spec = try_compile(op, p).unwrap_or_else(|e| panic!("compile {op}: {e}"));
        let state = spec.new_state();
        Agg {
            spec,
            state,
            where_field,
        }
    }

    pub fn push(&mut self, t: TimestampMs, fields: Json) {
        let passes = match &self.where_field {
            None => true,
            Some(f) => fields.get(f) == Some(&Json::Bool(true)),
        };
        let row = row(fields);
        self.spec.apply(&mut self.state, &row, passes, t);
    }

    pub fn push_where(&mut self, t: TimestampMs, fields: Json, passes: bool) {
        let row = row(fields);
        self.spec.apply(&mut self.state, &row, passes, t);
    }

    pub fn read(&self, q: TimestampMs) -> Json {
        to_json(&self.spec.read(&self.state, q))
    }

    pub fn read_value(&self, q: TimestampMs) -> Value {
        self.spec.read(&self.state, q)
    }
}
