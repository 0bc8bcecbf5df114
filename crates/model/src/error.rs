//! Engine errors. Each carries beava's stable wire `code`; the server maps codes to statuses.

use std::fmt;

/// A `/register` failure: code, JSON-ish path of the offending element, human reason.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisterError {
    pub code: &'static str,
    pub path: String,
    pub reason: String,
    /// Set only for `force_required` (409): the diff that needs `force`.
    pub diff: Option<Box<crate::diff::Diff>>,
}

impl RegisterError {
    pub fn new(code: &'static str, path: impl Into<String>, reason: impl Into<String>) -> Self {
        RegisterError {
            code,
            path: path.into(),
            reason: reason.into(),
            diff: None,
        }
    }

    /// HTTP status beava uses for this code.
    pub fn http_status(&self) -> u16 {
        match self.code {
            "force_required" => 409,
            "wal_unavailable" => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.code, self.path, self.reason)
    }
}

/// A push refused at the boundary. Nothing was applied or logged.
#[derive(Clone, Debug, PartialEq)]
pub struct PushError {
    pub code: &'static str,
    pub reason: String,
}

impl PushError {
    pub fn new(code: &'static str, reason: impl Into<String>) -> Self {
        PushError {
            code,
            reason: reason.into(),
        }
    }

    pub fn http_status(&self) -> u16 {
        match self.code {
            "event_not_found" => 404,
            // Durability refusals: nothing was applied; the client may retry later.
            "storage_full" | "wal_unavailable" => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

/// A read that cannot be answered.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryError {
    /// `unknown_table` (404): not a registered table.
    UnknownTable { table: String },
    /// `key_parse_failure` (404): `|`-segments of the key differ from the group-key arity.
    KeyParseFailure {
        table: String,
        key: String,
        expected: usize,
        got: usize,
    },
    /// beava answers 500 `internal_error` with reason `feature_not_found: missing=[..] table=..`.
    FeatureNotFound { table: String, missing: Vec<String> },
}

impl QueryError {
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::UnknownTable { .. } => "unknown_table",
            QueryError::KeyParseFailure { .. } => "key_parse_failure",
            QueryError::FeatureNotFound { .. } => "internal_error",
        }
    }

    pub fn message(&self) -> String {
        match self {
            QueryError::UnknownTable { table } => {
                format!("table '{table}' is not a registered aggregation")
            }
            QueryError::KeyParseFailure {
                table,
                key,
                expected,
                ..
            } => {
                format!("key '{key}' does not match table '{table}' group_keys arity ({expected})")
            }
            QueryError::FeatureNotFound { table, missing } => {
                format!("feature_not_found: missing={missing:?} table={table}")
            }
        }
    }
}
