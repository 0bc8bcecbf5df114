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
use crate::cast::{cast_value, CastTarget};
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
        matches!(self.truth(self.root, row), Truth::True)
    }

    // Recursion depth is bounded by the program depth, which lowering caps at the beava
    // evaluator limit (513 levels). Each kind of node is evaluated in its own small function
    // so that a level of recursion costs little stack even in debug builds.

    /// The value of a node, borrowed from the program or the row when it is a literal or a
    /// field.
    fn eval_node<'a>(&'a self, id: NodeId, row: &'a [Value]) -> Cow<'a, Value> {
        match &self.nodes[id as usize] {
            Node::Const(value) => Cow::Borrowed(value),
            Node::Field(slot) => Cow::Borrowed(row.get(*slot).unwrap_or(&NULL)),
            node => Cow::Owned(self.eval_computed(node, row)),
        }
    }

    fn eval_computed(&self, node: &Node, row: &[Value]) -> Value {
        match node {
            Node::Const(value) => value.clone(),
            Node::Field(slot) => row.get(*slot).cloned().unwrap_or(Value::Null),
            Node::Cast(operand, target) => self.eval_cast(*operand, *target, row),
            Node::Quadkey(args) => self.eval_quadkey(args, row),
            Node::Arith { first, rest } => self.eval_arith(*first, *rest, row),
            // Predicates only ever produce true, false or null.
            Node::Not(_) | Node::IsNull(_) | Node::Compare(..) | Node::And(_) | Node::Or(_) => {
                self.node_truth(node, row).into_value()
            }
        }
    }

    /// The value of a node as an operand of a logical operator. Predicates (comparisons,
    /// logic, `isnull`) are evaluated here directly, without building a `Value`.
    fn truth(&self, id: NodeId, row: &[Value]) -> Truth {
        self.node_truth(&self.nodes[id as usize], row)
    }

    fn node_truth(&self, node: &Node, row: &[Value]) -> Truth {
        match node {
            Node::Const(value) => Truth::of(value),
            Node::Field(slot) => Truth::of(row.get(*slot).unwrap_or(&NULL)),
            Node::Not(operand) => self.truth(*operand, row).negated(),
            Node::IsNull(operand) => self.is_null_truth(*operand, row),
            Node::Compare(op, lhs, rhs) => self.compare_truth(*op, *lhs, *rhs, row),
            Node::And(terms) => self.and_truth(*terms, row),
            Node::Or(terms) => self.or_truth(*terms, row),
            Node::Cast(..) | Node::Quadkey(_) | Node::Arith { .. } => {
                Truth::of(&self.eval_computed(node, row))
            }
        }
    }

    fn is_null_truth(&self, operand: NodeId, row: &[Value]) -> Truth {
        Truth::from_bool(self.eval_node(operand, row).is_null())
    }

    fn compare_truth(&self, op: CompareOp, lhs: NodeId, rhs: NodeId, row: &[Value]) -> Truth {
        compare(op, &self.eval_node(lhs, row), &self.eval_node(rhs, row))
    }

    fn eval_cast(&self, operand: NodeId, target: CastTarget, row: &[Value]) -> Value {
        cast_value(&self.eval_node(operand, row), target)
    }

    fn eval_quadkey(&self, [lat, lon, zoom]: &[NodeId; 3], row: &[Value]) -> Value {
        quadkey(
            &self.eval_node(*lat, row),
            &self.eval_node(*lon, row),
            &self.eval_node(*zoom, row),
        )
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

    fn and_truth(&self, terms: TermRange, row: &[Value]) -> Truth {
        let terms = &self.logic_terms[terms.indices()];
        let Some((&first, rest)) = terms.split_first() else {
            return Truth::Null;
        };
        let mut acc = self.truth(first, row);
        for &term in rest {
            acc = match acc {
                Truth::False => return Truth::False,
                Truth::NonBool => return Truth::Null,
                Truth::True => match self.truth(term, row) {
                    Truth::True => Truth::True,
                    Truth::False => Truth::False,
                    Truth::Null | Truth::NonBool => Truth::Null,
                },
                Truth::Null => match self.truth(term, row) {
                    Truth::False => Truth::False,
                    _ => Truth::Null,
                },
            };
        }
        acc
    }

    fn or_truth(&self, terms: TermRange, row: &[Value]) -> Truth {
        let terms = &self.logic_terms[terms.indices()];
        let Some((&first, rest)) = terms.split_first() else {
            return Truth::Null;
        };
        let mut acc = self.truth(first, row);
        for &term in rest {
            acc = match acc {
                Truth::True => return Truth::True,
                Truth::NonBool => return Truth::Null,
                Truth::False => match self.truth(term, row) {
                    Truth::True => Truth::True,
                    Truth::False => Truth::False,
                    Truth::Null | Truth::NonBool => Truth::Null,
                },
                Truth::Null => match self.truth(term, row) {
                    Truth::True => Truth::True,
                    _ => Truth::Null,
                },
            };
        }
        acc
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

    fn from_bool(flag: bool) -> Truth {
        if flag {
            Truth::True
        } else {
            Truth::False
        }
    }

    /// `not`: null stays null, and so does a non-bool operand.
    fn negated(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Null | Truth::NonBool => Truth::Null,
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

fn compare(op: CompareOp, lhs: &Value, rhs: &Value) -> Truth {
    let ordering = match (lhs, rhs) {
        (Value::I64(l), Value::I64(r)) => Some(l.cmp(r)),
        (Value::I64(l), Value::F64(r)) => (*l as f64).partial_cmp(r),
        (Value::F64(l), Value::I64(r)) => l.partial_cmp(&(*r as f64)),
        (Value::F64(l), Value::F64(r)) => l.partial_cmp(r),
        (Value::Str(l), Value::Str(r)) => Some(l.as_str().cmp(r.as_str())),
        (Value::Bool(l), Value::Bool(r)) => Some(l.cmp(r)),
        _ => return Truth::Null,
    };
    // `None` means a NaN operand: every comparison is false.
    Truth::from_bool(ordering.is_some_and(|ordering| holds(op, ordering)))
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
