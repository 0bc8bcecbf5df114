//! expr: beava's expression language — the strings in `filter.expr`, `with_columns.exprs` and
//! aggregation `params.where` (compat spec §5).
//!
//! Pipeline: [`parse`] (lexer + parser, with beava's post-parse rewrites) gives an [`Expr`];
//! [`compile`] / [`compile_where`] resolve field names to row slots, apply the register-time
//! checks of the consumer, and lower the tree into a flat [`Compiled`] program that evaluates
//! a row (`&[Value]` indexed by slot) without allocating unless it builds a string.
//!
//! Behaviour, error texts included, follows the beava 0.0.6 server, checked case by case
//! (`tests/semantics.rs`).

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
