//! Compilation: parse, resolve field names to row slots, check, and lower the tree into a flat
//! program that [`Compiled::eval`] walks.
//!
//! Two entry points, because beava treats its consumers differently:
//! * [`compile`] for `filter` and `with_columns`: unknown functions, wrong builtin arity, bad
//!   cast targets, `quadkey` and operand type mismatches are refused (see `typing`);
//! * [`compile_where`] for aggregation `where` predicates: only syntax errors and unknown
//!   fields are refused; everything else evaluates to `null` at runtime, and `quadkey` works.
//!
//! Lowering also reproduces beava's evaluator depth limit: beava evaluates recursively and
//! answers `null` for any node deeper than 512 below the root (root = depth 0), which long
//! operator chains reach (`(a + a + ... + a)` with 514 terms is null). Because depth is
//! static, such nodes are replaced by a `null` constant here, which also bounds the program's
//! depth and thus the evaluator's recursion.

use crate::ast::{ArithOp, CompareOp, Expr};
use crate::builtins::Builtin;
use crate::cast::CastTarget;
use crate::error::ExprError;
use crate::parser::parse;
use crate::typing;
use model::limits::EXPR_DEPTH_MAX;
use model::{FieldType, RowSchema, Value};

/// Index of a node in [`Compiled::nodes`].
pub(crate) type NodeId = u32;

/// A range of [`Compiled::arith_terms`] or [`Compiled::logic_terms`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct TermRange {
    pub start: u32,
    pub end: u32,
}

impl TermRange {
    pub fn indices(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One step of the lowered program.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// Literals, and subtrees that always evaluate to a constant (`null` for unknown
    /// functions, misused builtins and nodes past the depth limit).
    Const(Value),
    /// A row slot; slots beyond the row read as null.
    Field(usize),
    Not(NodeId),
    IsNull(NodeId),
    Cast(NodeId, CastTarget),
    Quadkey([NodeId; 3]),
    Compare(CompareOp, NodeId, NodeId),
    /// `first`, then each `(op, term)` of the range, left to right.
    Arith {
        first: NodeId,
        rest: TermRange,
    },
    And(TermRange),
    Or(TermRange),
}

/// A compiled expression, ready to evaluate against rows of the schema it was compiled for.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub(crate) nodes: Vec<Node>,
    pub(crate) arith_terms: Vec<(ArithOp, NodeId)>,
    pub(crate) logic_terms: Vec<NodeId>,
    pub(crate) root: NodeId,
    output_type: Option<FieldType>,
    field_refs: Vec<usize>,
}

/// Compiles a `filter` or `with_columns` expression (beava's checked form; module doc).
pub fn compile(src: &str, schema: &RowSchema) -> Result<Compiled, ExprError> {
    let expr = parse(src)?;
    let field_refs = resolve_fields(&expr, schema)?;
    let output_type = typing::check(&expr, schema)?.field_type();
    Ok(Compiled::lower(&expr, schema, output_type, field_refs))
}

/// Compiles an aggregation `where` predicate (beava's unchecked form; module doc).
pub fn compile_where(src: &str, schema: &RowSchema) -> Result<Compiled, ExprError> {
    let expr = parse(src)?;
    let field_refs = resolve_fields(&expr, schema)?;
    let output_type = typing::infer_unchecked(&expr, schema);
    Ok(Compiled::lower(&expr, schema, output_type, field_refs))
}

impl Compiled {
    /// The static result type, when known: `None` for a `null`-typed result or a column of
    /// unknown type. (beava materialises a `null`-typed `with_columns` column as `str`.)
    pub fn output_type(&self) -> Option<FieldType> {
        self.output_type
    }

    /// The row slots the expression reads, ascending and without duplicates.
    pub fn field_refs(&self) -> &[usize] {
        &self.field_refs
    }

    fn lower(
        expr: &Expr,
        schema: &RowSchema,
        output_type: Option<FieldType>,
        field_refs: Vec<usize>,
    ) -> Compiled {
        let mut compiled = Compiled {
            nodes: Vec::new(),
            arith_terms: Vec::new(),
            logic_terms: Vec::new(),
            root: 0,
            output_type,
            field_refs,
        };
        compiled.root = Lowering {
            compiled: &mut compiled,
            schema,
        }
        .lower(expr);
        compiled
    }
}

/// Finds the slot of every field reference, left to right; the first unknown name is the error.
fn resolve_fields(expr: &Expr, schema: &RowSchema) -> Result<Vec<usize>, ExprError> {
    let mut slots = Vec::new();
    // Explicit stack (children pushed right to left) instead of recursion: see `lower`.
    let mut pending = vec![expr];
    while let Some(expr) = pending.pop() {
        match expr {
            Expr::Null | Expr::Bool(_) | Expr::Int(_) | Expr::Float(_) | Expr::Str(_) => {}
            Expr::Field(name) => match schema.slot_of(name) {
                Some(slot) => slots.push(slot),
                None => return Err(ExprError::unknown_field(name)),
            },
            Expr::Not(operand) => pending.push(operand),
            Expr::Compare { lhs, rhs, .. } => {
                pending.push(rhs);
                pending.push(lhs);
            }
            Expr::Arith { first, rest } => {
                pending.extend(rest.iter().rev().map(|(_, term)| term));
                pending.push(first);
            }
            Expr::And(terms) | Expr::Or(terms) | Expr::Call { args: terms, .. } => {
                pending.extend(terms.iter().rev());
            }
        }
    }
    slots.sort_unstable();
    slots.dedup();
    Ok(slots)
}

/// One unit of work of the lowering. Lowering keeps an explicit stack of these instead of
/// recursing: an expression may be thousands of levels deep (511 parentheses, each holding
/// several precedence levels), which would exhaust a thread stack in a debug build.
enum Step<'e> {
    /// Lower a subtree sitting `depth` levels below the root; push its node id.
    Visit(&'e Expr, usize),
    /// Push the id of a new `null` constant.
    PushNull,
    /// Pop the ids of the operands (pushed left to right), push the id of the new node.
    Not,
    IsNull,
    Cast(CastTarget),
    Quadkey,
    Compare(CompareOp),
    Arith(&'e [(ArithOp, Expr)]),
    Logic {
        is_and: bool,
        n_terms: usize,
    },
}

struct Lowering<'c, 's> {
    compiled: &'c mut Compiled,
    schema: &'s RowSchema,
}

impl<'e> Lowering<'_, '_> {
    fn push(&mut self, node: Node) -> NodeId {
        let id = NodeId::try_from(self.compiled.nodes.len())
            .expect("source length bounds the node count far below u32::MAX");
        self.compiled.nodes.push(node);
        id
    }

    fn lower(&mut self, expr: &'e Expr) -> NodeId {
        let mut steps = vec![Step::Visit(expr, 0)];
        let mut ids: Vec<NodeId> = Vec::new();
        while let Some(step) = steps.pop() {
            let node = match step {
                Step::Visit(expr, depth) => match self.visit(expr, depth, &mut steps) {
                    Some(node) => node,
                    None => continue,
                },
                Step::PushNull => Node::Const(Value::Null),
                Step::Not => Node::Not(pop_id(&mut ids)),
                Step::IsNull => Node::IsNull(pop_id(&mut ids)),
                Step::Cast(target) => Node::Cast(pop_id(&mut ids), target),
                Step::Quadkey => {
                    let zoom = pop_id(&mut ids);
                    let lon = pop_id(&mut ids);
                    let lat = pop_id(&mut ids);
                    Node::Quadkey([lat, lon, zoom])
                }
                Step::Compare(op) => {
                    let rhs = pop_id(&mut ids);
                    let lhs = pop_id(&mut ids);
                    Node::Compare(op, lhs, rhs)
                }
                Step::Arith(rest) => {
                    let term_ids = ids.split_off(ids.len() - rest.len());
                    let first = pop_id(&mut ids);
                    let start = self.compiled.arith_terms.len();
                    self.compiled
                        .arith_terms
                        .extend(rest.iter().map(|(op, _)| *op).zip(term_ids));
                    let rest = term_range(start, self.compiled.arith_terms.len());
                    Node::Arith { first, rest }
                }
                Step::Logic { is_and, n_terms } => {
                    let start = self.compiled.logic_terms.len();
                    self.compiled
                        .logic_terms
                        .extend(ids.drain(ids.len() - n_terms..));
                    let range = term_range(start, self.compiled.logic_terms.len());
                    if is_and {
                        Node::And(range)
                    } else {
                        Node::Or(range)
                    }
                }
            };
            let id = self.push(node);
            ids.push(id);
        }
        pop_id(&mut ids)
    }

    /// Returns the node of a leaf, or schedules the steps of an inner node: its operands in
    /// order, then the step that combines them.
    fn visit(&mut self, expr: &'e Expr, depth: usize, steps: &mut Vec<Step<'e>>) -> Option<Node> {
        if depth > EXPR_DEPTH_MAX {
            return Some(Node::Const(Value::Null));
        }
        Some(match expr {
            Expr::Null => Node::Const(Value::Null),
            Expr::Bool(value) => Node::Const(Value::Bool(*value)),
            Expr::Int(value) => Node::Const(Value::I64(*value)),
            Expr::Float(value) => Node::Const(Value::F64(*value)),
            Expr::Str(value) => Node::Const(Value::Str(value.clone())),
            Expr::Field(name) => match self.schema.slot_of(name) {
                Some(slot) => Node::Field(slot),
                None => Node::Const(Value::Null),
            },
            Expr::Not(operand) => {
                steps.push(Step::Not);
                steps.push(Step::Visit(operand, depth + 1));
                return None;
            }
            Expr::Compare { op, lhs, rhs } => {
                steps.push(Step::Compare(*op));
                steps.push(Step::Visit(rhs, depth + 1));
                steps.push(Step::Visit(lhs, depth + 1));
                return None;
            }
            Expr::Arith { first, rest } => return schedule_arith(first, rest, depth, steps),
            Expr::And(terms) => return schedule_logic(terms, true, depth, steps),
            Expr::Or(terms) => return schedule_logic(terms, false, depth, steps),
            Expr::Call { name, args } => return schedule_call(name, args, depth, steps),
        })
    }
}

fn pop_id(ids: &mut Vec<NodeId>) -> NodeId {
    ids.pop()
        .expect("each step pops only ids pushed by the steps before it")
}

// In beava's left-leaning tree for a chain `t0 op1 t1 ... opN tN` rooted at `depth`, the
// node combining `t0..=tk` sits at `depth + N - k`, `tk` (k >= 1) at `depth + N - k + 1`
// and `t0` at `depth + N`. Past the limit, the combining nodes for the first `overflow`
// terms are null, so the chain starts from null at term `overflow + 1`.

fn schedule_arith<'e>(
    first: &'e Expr,
    rest: &'e [(ArithOp, Expr)],
    depth: usize,
    steps: &mut Vec<Step<'e>>,
) -> Option<Node> {
    let n_ops = rest.len();
    if depth + n_ops > EXPR_DEPTH_MAX {
        // Arithmetic with a null operand is null, whatever follows.
        return Some(Node::Const(Value::Null));
    }
    steps.push(Step::Arith(rest));
    // Steps run last-pushed first: t0, t1, ..., tN, then the chain.
    for (idx, (_, term)) in rest.iter().enumerate().rev() {
        steps.push(Step::Visit(term, depth + n_ops - idx));
    }
    steps.push(Step::Visit(first, depth + n_ops));
    None
}

fn schedule_logic<'e>(
    terms: &'e [Expr],
    is_and: bool,
    depth: usize,
    steps: &mut Vec<Step<'e>>,
) -> Option<Node> {
    let Some((first, rest)) = terms.split_first() else {
        return Some(Node::Const(Value::Null));
    };
    if rest.is_empty() {
        steps.push(Step::Visit(first, depth));
        return None;
    }
    let n_ops = rest.len();
    let overflow = (depth + n_ops).saturating_sub(EXPR_DEPTH_MAX);
    if overflow >= n_ops {
        // Both operands of the root are past the limit: `null and null` is null.
        return Some(Node::Const(Value::Null));
    }
    steps.push(Step::Logic {
        is_and,
        n_terms: n_ops - overflow + 1,
    });
    for (k, term) in terms.iter().enumerate().skip(overflow + 1).rev() {
        steps.push(Step::Visit(term, depth + n_ops - k + 1));
    }
    if overflow == 0 {
        steps.push(Step::Visit(first, depth + n_ops));
    } else {
        // The cut prefix evaluates to null (`null and null`), wherever the chain continues.
        steps.push(Step::PushNull);
    }
    None
}

fn schedule_call<'e>(
    name: &str,
    args: &'e [Expr],
    depth: usize,
    steps: &mut Vec<Step<'e>>,
) -> Option<Node> {
    match (Builtin::from_name(name), args) {
        (Some(Builtin::IsNull), [operand]) => {
            steps.push(Step::IsNull);
            steps.push(Step::Visit(operand, depth + 1));
        }
        (Some(Builtin::Cast), [operand, Expr::Str(target)]) => {
            let Some(target) = CastTarget::parse(target) else {
                return Some(Node::Const(Value::Null));
            };
            steps.push(Step::Cast(target));
            steps.push(Step::Visit(operand, depth + 1));
        }
        (Some(Builtin::Quadkey), [lat, lon, zoom]) => {
            steps.push(Step::Quadkey);
            steps.push(Step::Visit(zoom, depth + 1));
            steps.push(Step::Visit(lon, depth + 1));
            steps.push(Step::Visit(lat, depth + 1));
        }
        // Unknown function or misused builtin: beava evaluates it to null.
        _ => return Some(Node::Const(Value::Null)),
    }
    None
}

fn term_range(start: usize, end: usize) -> TermRange {
    let to_u32 =
        |idx: usize| u32::try_from(idx).expect("term count is bounded by the source length");
    TermRange {
        start: to_u32(start),
        end: to_u32(end),
    }
}
