//! Evaluation of a compiled program against one row: beava's runtime semantics.
//!
//! * arithmetic: i64 with i64 stays i64 (saturating; `/` truncates, `/ 0` is null and
//!   `i64::MIN / -1` saturates, where beava's apply thread panics); with any f64 it is IEEE f64;
//!   any other operand makes it null;
//! * comparisons: numbers compare numerically (i64 vs f64 through f64), strings bytewise,
//!   bools `false < true`; anything else, or a null operand, gives null; a NaN operand gives
//!   false for every operator, `!=` included;
//! * `and`/`or`: SQL three-valued logic with short-circuit, read left to right: a non-bool
//!   left operand makes the result null, a non-bool right operand counts as null;
//! * `not`: `not null` and `not <non-bool>` are null.
//!
//! Operands are borrowed from the row or the program where possible (`Cow`), so only results
//! that are new strings (`cast(x, str)`) allocate.

use crate::ast::{ArithOp, CompareOp};
use crate::builtins::quadkey;
use crate::cast::cast_value;
use crate::compile::{Compiled, Node, NodeId, TermRange};
use model::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

static NULL: Value = Value::Null;

impl Compiled {
    /// Evaluates the expression; never panics. Slots beyond `row.len()` read as null.
    pub fn eval(&self, row: &[Value]) -> Value {
        self.eval_node(self.root, row).into_owned()
    }

    /// Whether the expression evaluates to exactly `true` (how `filter` and `where` decide).
    pub fn is_true(&self, row: &[Value]) -> bool {
        matches!(*self.eval_node(self.root, row), Value::Bool(true))
    }

    // Recursion depth is bounded by the program depth, which lowering caps at the beava
    // evaluator limit (513 levels).
    fn eval_node<'a>(&'a self, id: NodeId, row: &'a [Value]) -> Cow<'a, Value> {
        let value = match &self.nodes[id as usize] {
            Node::Const(value) => return Cow::Borrowed(value),
            Node::Field(slot) => return Cow::Borrowed(row.get(*slot).unwrap_or(&NULL)),
            Node::Not(operand) => match *self.eval_node(*operand, row) {
                Value::Bool(flag) => Value::Bool(!flag),
                _ => Value::Null,
            },
            Node::IsNull(operand) => Value::Bool(self.eval_node(*operand, row).is_null()),
            Node::Cast(operand, target) => cast_value(&self.eval_node(*operand, row), *target),
            Node::Quadkey([lat, lon, zoom]) => quadkey(
                &self.eval_node(*lat, row),
                &self.eval_node(*lon, row),
                &self.eval_node(*zoom, row),
            ),
            Node::Compare(op, lhs, rhs) => {
                compare(*op, &self.eval_node(*lhs, row), &self.eval_node(*rhs, row))
            }
            Node::Arith { first, rest } => self.eval_arith(*first, *rest, row),
            Node::And(terms) => self.eval_and(*terms, row),
            Node::Or(terms) => self.eval_or(*terms, row),
        };
        Cow::Owned(value)
    }

    fn eval_arith(&self, first: NodeId, rest: TermRange, row: &[Value]) -> Value {
        let Some(mut acc) = Number::of(&self.eval_node(first, row)) else {
            return Value::Null;
        };
        for &(op, term) in &self.arith_terms[rest.indices()] {
            let Some(rhs) = Number::of(&self.eval_node(term, row)) else {
                return Value::Null;
            };
            let Some(result) = acc.apply(op, rhs) else {
                return Value::Null;
            };
            acc = result;
        }
        acc.into_value()
    }

    fn truth_of(&self, id: NodeId, row: &[Value]) -> Truth {
        Truth::of(&self.eval_node(id, row))
    }

    fn eval_and(&self, terms: TermRange, row: &[Value]) -> Value {
        let terms = &self.logic_terms[terms.indices()];
        let Some((&first, rest)) = terms.split_first() else {
            return Value::Null;
        };
        let mut acc = self.truth_of(first, row);
        for &term in rest {
            acc = match acc {
                Truth::False => return Value::Bool(false),
                Truth::NonBool => return Value::Null,
                Truth::True => match self.truth_of(term, row) {
                    Truth::True => Truth::True,
                    Truth::False => Truth::False,
                    Truth::Null | Truth::NonBool => Truth::Null,
                },
                Truth::Null => match self.truth_of(term, row) {
                    Truth::False => Truth::False,
                    _ => Truth::Null,
                },
            };
        }
        acc.into_value()
    }

    fn eval_or(&self, terms: TermRange, row: &[Value]) -> Value {
        let terms = &self.logic_terms[terms.indices()];
        let Some((&first, rest)) = terms.split_first() else {
            return Value::Null;
        };
        let mut acc = self.truth_of(first, row);
        for &term in rest {
            acc = match acc {
                Truth::True => return Value::Bool(true),
                Truth::NonBool => return Value::Null,
                Truth::False => match self.truth_of(term, row) {
                    Truth::True => Truth::True,
                    Truth::False => Truth::False,
                    Truth::Null | Truth::NonBool => Truth::Null,
                },
                Truth::Null => match self.truth_of(term, row) {
                    Truth::True => Truth::True,
                    _ => Truth::Null,
                },
            };
        }
        acc.into_value()
    }
}

/// A value as an operand of `and`/`or`.
#[derive(Clone, Copy)]
enum Truth {
    True,
    False,
    Null,
    NonBool,
}

impl Truth {
    fn of(value: &Value) -> Truth {
        match value {
            Value::Bool(true) => Truth::True,
            Value::Bool(false) => Truth::False,
            Value::Null => Truth::Null,
            _ => Truth::NonBool,
        }
    }

    fn into_value(self) -> Value {
        match self {
            Truth::True => Value::Bool(true),
            Truth::False => Value::Bool(false),
            Truth::Null | Truth::NonBool => Value::Null,
        }
    }
}

/// A value as an arithmetic operand.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn of(value: &Value) -> Option<Number> {
        match value {
            Value::I64(number) => Some(Number::Int(*number)),
            Value::F64(number) => Some(Number::Float(*number)),
            _ => None,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Number::Int(number) => number as f64,
            Number::Float(number) => number,
        }
    }

    /// `None` is a null result (integer division by zero).
    fn apply(self, op: ArithOp, rhs: Number) -> Option<Number> {
        if let (Number::Int(lhs), Number::Int(rhs)) = (self, rhs) {
            return Some(Number::Int(match op {
                ArithOp::Add => lhs.saturating_add(rhs),
                ArithOp::Sub => lhs.saturating_sub(rhs),
                ArithOp::Mul => lhs.saturating_mul(rhs),
                ArithOp::Div if rhs == 0 => return None,
                // Only `i64::MIN / -1` overflows; saturate like the other operators.
                ArithOp::Div => lhs.checked_div(rhs).unwrap_or(i64::MAX),
            }));
        }
        let (lhs, rhs) = (self.as_f64(), rhs.as_f64());
        Some(Number::Float(match op {
            ArithOp::Add => lhs + rhs,
            ArithOp::Sub => lhs - rhs,
            ArithOp::Mul => lhs * rhs,
            ArithOp::Div => lhs / rhs,
        }))
    }

    fn into_value(self) -> Value {
        match self {
            Number::Int(number) => Value::I64(number),
            Number::Float(number) => Value::F64(number),
        }
    }
}

fn compare(op: CompareOp, lhs: &Value, rhs: &Value) -> Value {
    let ordering = match (lhs, rhs) {
        (Value::I64(l), Value::I64(r)) => Some(l.cmp(r)),
        (Value::I64(l), Value::F64(r)) => (*l as f64).partial_cmp(r),
        (Value::F64(l), Value::I64(r)) => l.partial_cmp(&(*r as f64)),
        (Value::F64(l), Value::F64(r)) => l.partial_cmp(r),
        (Value::Str(l), Value::Str(r)) => Some(l.as_str().cmp(r.as_str())),
        (Value::Bool(l), Value::Bool(r)) => Some(l.cmp(r)),
        _ => return Value::Null,
    };
    // `None` means a NaN operand: every comparison is false.
    Value::Bool(ordering.is_some_and(|ordering| holds(op, ordering)))
}

fn holds(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
    }
}
