//! Static typing: beava's register-time check for `filter` and `with_columns` expressions,
//! and the result type used for `with_columns` schema propagation.
//!
//! beava ("Phase 4") types every node as `Known(T)` or `NullLiteral` and refuses:
//! * arithmetic whose operands are both known and not both numeric (`i64`/`f64`);
//! * comparisons whose operands are both known, differ and are not both numeric;
//! * `and`/`or`/`not` with a known non-bool operand;
//! * unknown functions, wrong builtin arity, a bad `cast` target, and `quadkey` (which beava
//!   only evaluates inside `where`).
//!
//! A `null` operand disables the check and arithmetic then takes the other operand's type
//! (`(null + t)` is accepted and typed bool). Columns whose type the schema does not know
//! behave like `null` here. Nodes are checked left to right, children before their parent,
//! except that a call's name and arity are checked before its arguments: the first error in
//! that order is the one beava reports.

use crate::ast::{CompareOp, Expr};
use crate::builtins::Builtin;
use crate::cast::CastTarget;
use crate::error::ExprError;
use model::{FieldType, RowSchema};
use std::fmt;

/// The static type of an expression node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StaticType {
    Known(FieldType),
    /// The `null` literal, or anything built only from it.
    NullLiteral,
    /// A schema column without a static type (weir only; beava always knows field types).
    Unknown,
}

impl StaticType {
    pub fn field_type(self) -> Option<FieldType> {
        match self {
            StaticType::Known(ty) => Some(ty),
            StaticType::NullLiteral | StaticType::Unknown => None,
        }
    }

    fn is_known_non_bool(self) -> bool {
        matches!(self, StaticType::Known(ty) if ty != FieldType::Bool)
    }
}

/// Rendered as beava's `Debug` output, which its error messages embed.
impl fmt::Display for StaticType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaticType::Known(ty) => write!(f, "Known({ty:?})"),
            StaticType::NullLiteral => f.write_str("NullLiteral"),
            StaticType::Unknown => f.write_str("Unknown"),
        }
    }
}

const BOOL: StaticType = StaticType::Known(FieldType::Bool);

/// Types `expr` against `schema`, refusing what beava refuses (module doc). Field references
/// must already be resolved; an unresolvable one types as `Unknown`.
pub(crate) fn check(expr: &Expr, schema: &RowSchema) -> Result<StaticType, ExprError> {
    Ok(match expr {
        Expr::Null => StaticType::NullLiteral,
        Expr::Bool(_) => BOOL,
        Expr::Int(_) => StaticType::Known(FieldType::I64),
        Expr::Float(_) => StaticType::Known(FieldType::F64),
        Expr::Str(_) => StaticType::Known(FieldType::Str),
        Expr::Field(name) => match schema.column(name) {
            Some((_, column)) => column.ty.map_or(StaticType::Unknown, StaticType::Known),
            None => StaticType::Unknown,
        },
        Expr::Not(operand) => {
            let operand = check(operand, schema)?;
            if operand.is_known_non_bool() {
                return Err(ExprError::invalid(format!(
                    "'not' operator requires Bool operand, got {operand}"
                )));
            }
            BOOL
        }
        Expr::And(terms) => check_logic_chain(terms, "and", schema)?,
        Expr::Or(terms) => check_logic_chain(terms, "or", schema)?,
        Expr::Compare { op, lhs, rhs } => {
            let lhs = check(lhs, schema)?;
            let rhs = check(rhs, schema)?;
            check_comparable(*op, lhs, rhs)?;
            BOOL
        }
        Expr::Arith { first, rest } => {
            let mut acc = check(first, schema)?;
            for (op, term) in rest {
                let term = check(term, schema)?;
                acc = match (acc, term) {
                    (StaticType::Known(lhs), StaticType::Known(rhs)) => {
                        if !(lhs.is_numeric() && rhs.is_numeric()) {
                            return Err(ExprError::invalid(format!(
                                "arithmetic operator \"{}\" requires numeric operands, got {acc} and {term}",
                                op.symbol()
                            )));
                        }
                        if lhs == FieldType::F64 || rhs == FieldType::F64 {
                            StaticType::Known(FieldType::F64)
                        } else {
                            StaticType::Known(FieldType::I64)
                        }
                    }
                    (known @ StaticType::Known(_), _) | (_, known @ StaticType::Known(_)) => known,
                    (StaticType::NullLiteral, StaticType::NullLiteral) => StaticType::NullLiteral,
                    _ => StaticType::Unknown,
                };
            }
            acc
        }
        Expr::Call { name, args } => check_call(name, args, schema)?,
    })
}

fn check_logic_chain(
    terms: &[Expr],
    keyword: &str,
    schema: &RowSchema,
) -> Result<StaticType, ExprError> {
    let Some((first, rest)) = terms.split_first() else {
        return Ok(BOOL);
    };
    // beava's tree is left-leaning: the left operand of every `and` after the first is the
    // (bool) result of the previous one.
    let mut lhs = check(first, schema)?;
    for term in rest {
        let rhs = check(term, schema)?;
        check_bool_operands(keyword, lhs, rhs)?;
        lhs = BOOL;
    }
    Ok(BOOL)
}

fn check_bool_operands(keyword: &str, lhs: StaticType, rhs: StaticType) -> Result<(), ExprError> {
    if lhs.is_known_non_bool() || rhs.is_known_non_bool() {
        return Err(ExprError::invalid(format!(
            "boolean operator \"{keyword}\" requires Bool operands, got {lhs} and {rhs}"
        )));
    }
    Ok(())
}

fn check_comparable(op: CompareOp, lhs: StaticType, rhs: StaticType) -> Result<(), ExprError> {
    if let (StaticType::Known(l), StaticType::Known(r)) = (lhs, rhs) {
        if l != r && !(l.is_numeric() && r.is_numeric()) {
            return Err(ExprError::invalid(format!(
                "comparison operator \"{}\" requires comparable operands, got {lhs} and {rhs}",
                op.symbol()
            )));
        }
    }
    Ok(())
}

fn check_call(name: &str, args: &[Expr], schema: &RowSchema) -> Result<StaticType, ExprError> {
    let Some(builtin) = Builtin::from_name(name) else {
        return Err(ExprError::invalid(format!(
            "unknown function \"{name}\"; only 'cast' and 'isnull' are supported in Phase 4"
        )));
    };
    if args.len() != builtin.arity() {
        return Err(ExprError::invalid(format!(
            "function \"{name}\" expects {} argument(s), got {}",
            builtin.arity(),
            args.len()
        )));
    }
    match builtin {
        Builtin::IsNull => {
            check(&args[0], schema)?;
            Ok(BOOL)
        }
        Builtin::Cast => {
            check(&args[0], schema)?;
            let Expr::Str(target) = &args[1] else {
                return Err(ExprError::invalid(format!(
                    "cast second argument must be a type literal (str/int/float/bool), got {}",
                    args[1]
                )));
            };
            match CastTarget::parse(target) {
                Some(target) => Ok(StaticType::Known(target.output_type())),
                None => Err(ExprError::invalid(format!(
                    "unknown cast target type \"{target}\"; must be one of: str, int, float, bool"
                ))),
            }
        }
        Builtin::Quadkey => Err(ExprError::invalid(format!("unhandled builtin \"{name}\""))),
    }
}

/// The result type of an expression that is not checked (a `where` predicate): known only
/// when the expression would also pass the check.
pub(crate) fn infer_unchecked(expr: &Expr, schema: &RowSchema) -> Option<FieldType> {
    check(expr, schema).ok()?.field_type()
}
