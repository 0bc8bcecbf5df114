//! `ExprError`: why an expression was refused at register time.
//!
//! `message` is exactly the `reason` text beava puts in its `invalid_expression` error for a
//! `filter` / `with_columns` expression (including beava's doubled `col N: col N:` prefix on
//! syntax errors), so the engine can forward it untouched. `kind` carries what the engine needs
//! to reproduce the rest of beava's error: the error path and the `where` wording.

use compact_str::CompactString;
use std::fmt;

/// A register-time expression error.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    /// beava's `reason` for `invalid_expression` (filter / with_columns).
    pub message: String,
    pub kind: ExprErrorKind,
}

/// Which stage refused the expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprErrorKind {
    /// Lexing or parsing failed (this includes the nesting-depth and source-length limits).
    /// `column` is 1-based and counts bytes. beava reports it at path `<op>.expr`.
    Syntax { column: usize },
    /// A field reference does not name a column of the input schema. Path `<op>.expr`.
    UnknownField { field: CompactString },
    /// beava's static check for `filter` / `with_columns` refused it: unknown function, wrong
    /// builtin arity, bad cast target or operand types. beava reports it at the op's own path
    /// (`nodes[i].ops[j]`, without `.expr`). Never produced by [`crate::compile_where`].
    Invalid,
}

impl ExprError {
    pub(crate) fn syntax(column: usize, detail: impl fmt::Display) -> ExprError {
        ExprError {
            // beava wraps a parse error that already starts with its column in another
            // `col N:` prefix; clients see the doubled form, so we produce it too.
            message: format!("col {column}: col {column}: {detail}"),
            kind: ExprErrorKind::Syntax { column },
        }
    }

    pub(crate) fn unknown_field(field: &str) -> ExprError {
        ExprError {
            message: format!("field '{field}' not found in upstream schema"),
            kind: ExprErrorKind::UnknownField {
                field: CompactString::from(field),
            },
        }
    }

    pub(crate) fn invalid(message: String) -> ExprError {
        ExprError {
            message,
            kind: ExprErrorKind::Invalid,
        }
    }

    /// beava's `reason` for `aggregation_invalid_where` (agg `params.where`).
    pub fn where_reason(&self) -> String {
        match &self.kind {
            ExprErrorKind::Syntax { .. } => {
                format!("where predicate parse error at {}", self.message)
            }
            ExprErrorKind::UnknownField { field } => {
                format!("where predicate references unknown field '{field}'")
            }
            ExprErrorKind::Invalid => self.message.clone(),
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExprError {}
