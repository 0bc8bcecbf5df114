//! Read-side queries that combine engine reads: the legacy feature-addressed reads beava still
//! answers (`GET /get/:feature/:key`, TCP `MGET` / `GET_MULTI`), which locate a feature's table
//! by name (feature names are unique across tables).
//!
//! These run under the read lock (`StoreHandle::read`), never on the writer.

use crate::ReadSession;
use engine::{Engine, ReadTime};
use model::limits::MULTI_GET_CELLS_MAX;
use model::{QueryError, Value};

/// The table that defines `feature`, if any.
pub fn feature_table<'e>(engine: &'e Engine, feature: &str) -> Option<&'e str> {
    engine
        .registry()
        .compiled()
        .tables
        .iter()
        .find(|t| t.feature_index(feature).is_some())
        .map(|t| t.name.as_str())
}

/// Whether `name` is a registered table.
pub fn is_table(engine: &Engine, name: &str) -> bool {
    engine
        .registry()
        .compiled()
        .table_by_name
        .contains_key(name)
}

/// Result of the legacy `GET /get/:feature/:key`.
#[derive(Debug, PartialEq)]
pub enum LegacyRead {
    /// `:feature` named a table: the full row.
    Row(Value),
    /// `:feature` named a feature: its value (the server wraps it as `{"value": v}`).
    Value(Value),
}

/// beava's 404 codes for the legacy path-addressed read.
#[derive(Debug, PartialEq, Eq)]
pub enum LegacyReadError {
    FeatureNotFound,
    KeyNotFound,
    KeyParseFailure,
}

impl LegacyReadError {
    pub fn code(&self) -> &'static str {
        match self {
            LegacyReadError::FeatureNotFound => "feature_not_found",
            LegacyReadError::KeyNotFound => "key_not_found",
            LegacyReadError::KeyParseFailure => "key_parse_failure",
        }
    }
}

/// `GET /get/:feature/:key`: `:feature` is a table name (full row) or a feature name (one
/// value); an entity with no data is `key_not_found` here (not `{}` as in `/get`).
pub fn legacy_get(
    engine: &Engine,
    feature_or_table: &str,
    key: &str,
    at: ReadTime,
) -> Result<LegacyRead, LegacyReadError> {
    let map_err = |e: QueryError| match e {
        QueryError::KeyParseFailure { .. } => LegacyReadError::KeyParseFailure,
        QueryError::UnknownTable { .. } | QueryError::FeatureNotFound { .. } => {
            LegacyReadError::FeatureNotFound
        }
    };
    if is_table(engine, feature_or_table) {
        let row = engine
            .get(feature_or_table, key, None, at)
            .map_err(map_err)?;
        return match row {
            Value::Map(ref members) if members.is_empty() => Err(LegacyReadError::KeyNotFound),
            row => Ok(LegacyRead::Row(row)),
        };
    }
    let table = feature_table(engine, feature_or_table).ok_or(LegacyReadError::FeatureNotFound)?;
    let wanted = [feature_or_table.to_string()];
    match engine.get(table, key, Some(&wanted), at).map_err(map_err)? {
        Value::Map(mut members) if !members.is_empty() => {
            Ok(LegacyRead::Value(members.swap_remove(0).1))
        }
        _ => Err(LegacyReadError::KeyNotFound),
    }
}

/// Why a legacy multi-key read failed as a whole (beava: `500 internal_error` with this reason).
#[derive(Debug, PartialEq, Eq)]
pub enum MultiGetError {
    BatchTooLarge { cells: usize },
    FeatureNotFound { missing: Vec<String> },
}

impl MultiGetError {
    /// beava's `reason` text.
    pub fn reason(&self) -> String {
        match self {
            MultiGetError::BatchTooLarge { cells } => {
                format!("batch_too_large: cells={cells} cap={MULTI_GET_CELLS_MAX}")
            }
            MultiGetError::FeatureNotFound { missing } => {
                format!("feature_not_found: missing={missing:?}")
            }
        }
    }
}

/// TCP `MGET` / `GET_MULTI`: `{key: {feature: value}}` for every key that has data for any of
/// `features` (keys with none are omitted; a repeated key is answered once).
/// The read lock is yielded to a waiting writer between keys.
pub fn multi_get(
    session: &mut ReadSession<'_>,
    keys: &[String],
    features: &[String],
    at: ReadTime,
) -> Result<Value, MultiGetError> {
    let cells = keys.len().saturating_mul(features.len());
    if cells > MULTI_GET_CELLS_MAX {
        return Err(MultiGetError::BatchTooLarge { cells });
    }
    let mut located: Vec<(compact_str::CompactString, [String; 1])> =
        Vec::with_capacity(features.len());
    let mut missing = Vec::new();
    for feature in features {
        match feature_table(session.engine(), feature) {
            Some(table) => located.push((table.into(), [feature.clone()])),
            None => missing.push(feature.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(MultiGetError::FeatureNotFound { missing });
    }
    let mut out: Vec<(compact_str::CompactString, Value)> = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    for key in keys {
        if !seen.insert(key.as_str()) {
            continue;
        }
        let mut row = Vec::new();
        for (table, wanted) in &located {
            if let Ok(Value::Map(members)) = session.engine().get(table, key, Some(wanted), at) {
                row.extend(members);
            }
        }
        if !row.is_empty() {
            out.push((key.as_str().into(), Value::Map(row)));
        }
        session.yield_to_writer();
    }
    Ok(Value::Map(out))
}
