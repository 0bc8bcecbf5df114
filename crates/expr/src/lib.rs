//! expr: beava's expression language — the strings in `filter.expr`, `with_columns.exprs` and
//! aggregation `params.where` (compat spec §5).
//!
//! Pipeline: [`parse`] (lexer + parser, with beava's post-parse rewrites) gives an [`Expr`];
//! [`compile`] (for `filter` / `with_columns`) or [`compile_where`] (for `where`) resolves
//! field names to row slots, applies that consumer's register-time checks, and lowers the tree
//! into a flat [`Compiled`] program. [`Compiled::eval`] / [`Compiled::is_true`] evaluate it on
//! a row (`&[Value]` indexed by slot) without allocating unless the result is a new string.
//! [`cast_value`] is the `cast` builtin, shared with the `cast` chain op.
//!
//! Behaviour and error texts follow the beava 0.0.6 server, checked case by case against it
//! (`tests/semantics.rs`). No input can exhaust the stack: the parser and every walk over the
//! tree use explicit stacks, and evaluation recurses at most 513 levels (beava's own limit).

mod ast;
mod builtins;
mod cast;
mod compile;
mod error;
mod eval;
mod lexer;
mod parser;
mod typing;

pub use ast::{ArithOp, CompareOp, Expr};
pub use cast::{cast_value, CastTarget};
pub use compile::{compile, compile_where, Compiled};
pub use error::{ExprError, ExprErrorKind};
pub use parser::parse;
