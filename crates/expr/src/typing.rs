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

use crate::ast::{ArithOp, CompareOp, Expr};
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

/// One unit of work of the checker. The checker keeps an explicit stack of these instead of
/// recursing, so the depth of the tree cannot exhaust the thread stack; the order of the
/// steps is beava's checking order (module doc).
enum Step<'e> {
    /// Check a subtree and push its type.
    Visit(&'e Expr),
    /// Pop the operand type (checked for `not`), push bool.
    Not,
    IsNull,
    /// Pop the operand type, check the target, push the target type.
    Cast {
        target: &'e Expr,
    },
    /// Pop two types, check them, push the result.
    Compare(CompareOp),
    Arith(ArithOp),
    Logic(&'static str),
}

/// Types `expr` against `schema`, refusing what beava refuses (module doc). Field references
/// must already be resolved; an unresolvable one types as `Unknown`.
pub(crate) fn check(expr: &Expr, schema: &RowSchema) -> Result<StaticType, ExprError> {
    let mut steps = vec![Step::Visit(expr)];
    let mut types: Vec<StaticType> = Vec::new();
    while let Some(step) = steps.pop() {
        let ty = match step {
            Step::Visit(expr) => match visit(expr, schema, &mut steps)? {
                Some(ty) => ty,
                None => continue,
            },
            Step::Not => {
                let operand = pop(&mut types);
                if operand.is_known_non_bool() {
                    return Err(ExprError::invalid(format!(
                        "'not' operator requires Bool operand, got {operand}"
                    )));
                }
                BOOL
            }
            Step::IsNull => {
                pop(&mut types);
                BOOL
            }
            Step::Cast { target } => {
                pop(&mut types);
                StaticType::Known(cast_target(target)?.output_type())
            }
            Step::Compare(op) => {
                let rhs = pop(&mut types);
                let lhs = pop(&mut types);
                check_comparable(op, lhs, rhs)?;
                BOOL
            }
            Step::Arith(op) => {
                let rhs = pop(&mut types);
                let lhs = pop(&mut types);
                arith_result(op, lhs, rhs)?
            }
            Step::Logic(keyword) => {
                let rhs = pop(&mut types);
                let lhs = pop(&mut types);
                check_bool_operands(keyword, lhs, rhs)?;
                BOOL
            }
        };
        types.push(ty);
    }
    Ok(pop(&mut types))
}

fn pop(types: &mut Vec<StaticType>) -> StaticType {
    // Every step pops only what earlier steps pushed; `Unknown` keeps a malformed
    // hand-built tree (an empty `And`) from panicking.
    types.pop().unwrap_or(StaticType::Unknown)
}

/// Types a leaf directly, or schedules the steps for an inner node (children first, left to
/// right, each combining step right after the operand it combines).
fn visit<'e>(
    expr: &'e Expr,
    schema: &RowSchema,
    steps: &mut Vec<Step<'e>>,
) -> Result<Option<StaticType>, ExprError> {
    Ok(Some(match expr {
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
            steps.push(Step::Not);
            steps.push(Step::Visit(operand));
            return Ok(None);
        }
        Expr::Compare { op, lhs, rhs } => {
            steps.push(Step::Compare(*op));
            steps.push(Step::Visit(rhs));
            steps.push(Step::Visit(lhs));
            return Ok(None);
        }
        Expr::Arith { first, rest } => {
            // Steps run last-pushed first: first, t1, op1, t2, op2, ...
            for (op, term) in rest.iter().rev() {
                steps.push(Step::Arith(*op));
                steps.push(Step::Visit(term));
            }
            steps.push(Step::Visit(first));
            return Ok(None);
        }
        Expr::And(terms) => return Ok(schedule_logic(terms, "and", steps)),
        Expr::Or(terms) => return Ok(schedule_logic(terms, "or", steps)),
        Expr::Call { name, args } => {
            schedule_call(name, args, steps)?;
            return Ok(None);
        }
    }))
}

fn schedule_logic<'e>(
    terms: &'e [Expr],
    keyword: &'static str,
    steps: &mut Vec<Step<'e>>,
) -> Option<StaticType> {
    let Some((first, rest)) = terms.split_first() else {
        return Some(BOOL);
    };
    for term in rest.iter().rev() {
        steps.push(Step::Logic(keyword));
        steps.push(Step::Visit(term));
    }
    steps.push(Step::Visit(first));
    None
}

/// beava checks a call's name and arity before looking at its arguments.
fn schedule_call<'e>(
    name: &str,
    args: &'e [Expr],
    steps: &mut Vec<Step<'e>>,
) -> Result<(), ExprError> {
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
    match (builtin, args) {
        (Builtin::IsNull, [operand]) => {
            steps.push(Step::IsNull);
            steps.push(Step::Visit(operand));
        }
        // The argument is checked before the target.
        (Builtin::Cast, [operand, target]) => {
            steps.push(Step::Cast { target });
            steps.push(Step::Visit(operand));
        }
        _ => return Err(ExprError::invalid(format!("unhandled builtin \"{name}\""))),
    }
    Ok(())
}

fn cast_target(target: &Expr) -> Result<CastTarget, ExprError> {
    let Expr::Str(name) = target else {
        return Err(ExprError::invalid(format!(
            "cast second argument must be a type literal (str/int/float/bool), got {target}"
        )));
    };
    CastTarget::parse(name).ok_or_else(|| {
        ExprError::invalid(format!(
            "unknown cast target type \"{name}\"; must be one of: str, int, float, bool"
        ))
    })
}

/// beava's arithmetic typing: numbers combine to f64 if either is f64; a null (or untyped)
/// operand takes the other operand's type unchecked.
fn arith_result(op: ArithOp, lhs: StaticType, rhs: StaticType) -> Result<StaticType, ExprError> {
    Ok(match (lhs, rhs) {
        (StaticType::Known(l), StaticType::Known(r)) => {
            if !(l.is_numeric() && r.is_numeric()) {
                return Err(ExprError::invalid(format!(
                    "arithmetic operator \"{}\" requires numeric operands, got {lhs} and {rhs}",
                    op.symbol()
                )));
            }
            if l == FieldType::F64 || r == FieldType::F64 {
                StaticType::Known(FieldType::F64)
            } else {
                StaticType::Known(FieldType::I64)
            }
        }
        (known @ StaticType::Known(_), _) | (_, known @ StaticType::Known(_)) => known,
        (StaticType::NullLiteral, StaticType::NullLiteral) => StaticType::NullLiteral,
        _ => StaticType::Unknown,
    })
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

/// The result type of an expression that is not checked (a `where` predicate): known only
/// when the expression would also pass the check.
pub(crate) fn infer_unchecked(expr: &Expr, schema: &RowSchema) -> Option<FieldType> {
    check(expr, schema).ok()?.field_type()
}
