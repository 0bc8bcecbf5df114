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
    Arith { first: NodeId, rest: TermRange },
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
        .lower(expr, 0);
        compiled
    }
}

/// Finds the slot of every field reference, left to right; the first unknown name is the error.
fn resolve_fields(expr: &Expr, schema: &RowSchema) -> Result<Vec<usize>, ExprError> {
    fn visit(expr: &Expr, schema: &RowSchema, slots: &mut Vec<usize>) -> Result<(), ExprError> {
        match expr {
            Expr::Null | Expr::Bool(_) | Expr::Int(_) | Expr::Float(_) | Expr::Str(_) => {}
            Expr::Field(name) => match schema.slot_of(name) {
                Some(slot) => slots.push(slot),
                None => return Err(ExprError::unknown_field(name)),
            },
            Expr::Not(operand) => visit(operand, schema, slots)?,
            Expr::Compare { lhs, rhs, .. } => {
                visit(lhs, schema, slots)?;
                visit(rhs, schema, slots)?;
            }
            Expr::Arith { first, rest } => {
                visit(first, schema, slots)?;
                for (_, term) in rest {
                    visit(term, schema, slots)?;
                }
            }
            Expr::And(terms) | Expr::Or(terms) | Expr::Call { args: terms, .. } => {
                for term in terms {
                    visit(term, schema, slots)?;
                }
            }
        }
        Ok(())
    }
    let mut slots = Vec::new();
    visit(expr, schema, &mut slots)?;
    slots.sort_unstable();
    slots.dedup();
    Ok(slots)
}

struct Lowering<'c, 's> {
    compiled: &'c mut Compiled,
    schema: &'s RowSchema,
}

impl Lowering<'_, '_> {
    fn push(&mut self, node: Node) -> NodeId {
        let id = NodeId::try_from(self.compiled.nodes.len())
            .expect("source length bounds the node count far below u32::MAX");
        self.compiled.nodes.push(node);
        id
    }

    fn null(&mut self) -> NodeId {
        self.push(Node::Const(Value::Null))
    }

    /// Lowers `expr`, which sits `depth` levels below the root of beava's binary tree.
    fn lower(&mut self, expr: &Expr, depth: usize) -> NodeId {
        if depth > EXPR_DEPTH_MAX {
            return self.null();
        }
        let node = match expr {
            Expr::Null => Node::Const(Value::Null),
            Expr::Bool(value) => Node::Const(Value::Bool(*value)),
            Expr::Int(value) => Node::Const(Value::I64(*value)),
            Expr::Float(value) => Node::Const(Value::F64(*value)),
            Expr::Str(value) => Node::Const(Value::Str(value.clone())),
            Expr::Field(name) => match self.schema.slot_of(name) {
                Some(slot) => Node::Field(slot),
                None => Node::Const(Value::Null),
            },
            Expr::Not(operand) => Node::Not(self.lower(operand, depth + 1)),
            Expr::Compare { op, lhs, rhs } => {
                let lhs = self.lower(lhs, depth + 1);
                let rhs = self.lower(rhs, depth + 1);
                Node::Compare(*op, lhs, rhs)
            }
            Expr::Arith { first, rest } => return self.lower_arith(first, rest, depth),
            Expr::And(terms) => return self.lower_logic(terms, depth, Node::And),
            Expr::Or(terms) => return self.lower_logic(terms, depth, Node::Or),
            Expr::Call { name, args } => return self.lower_call(name, args, depth),
        };
        self.push(node)
    }

    // In beava's left-leaning tree for a chain `t0 op1 t1 ... opN tN` rooted at `depth`, the
    // node combining `t0..=tk` sits at `depth + N - k`, `tk` (k >= 1) at `depth + N - k + 1`
    // and `t0` at `depth + N`. Past the limit, the combining nodes for the first `overflow`
    // terms are null, so the chain starts from null at term `overflow + 1`.

    fn lower_arith(&mut self, first: &Expr, rest: &[(ArithOp, Expr)], depth: usize) -> NodeId {
        let n_ops = rest.len();
        if depth + n_ops > EXPR_DEPTH_MAX {
            // Arithmetic with a null operand is null, whatever follows.
            return self.null();
        }
        let first = self.lower(first, depth + n_ops);
        let terms: Vec<(ArithOp, NodeId)> = rest
            .iter()
            .enumerate()
            .map(|(idx, (op, term))| (*op, self.lower(term, depth + n_ops - idx)))
            .collect();
        let rest = self.store_arith_terms(terms);
        self.push(Node::Arith { first, rest })
    }

    fn lower_logic(
        &mut self,
        terms: &[Expr],
        depth: usize,
        make: fn(TermRange) -> Node,
    ) -> NodeId {
        let n_ops = terms.len().saturating_sub(1);
        let overflow = (depth + n_ops).saturating_sub(EXPR_DEPTH_MAX);
        let mut lowered = Vec::with_capacity(terms.len());
        if overflow == 0 {
            lowered.push(self.lower(&terms[0], depth + n_ops));
        } else {
            // `null and null` / `null or null` is null: one null stands for the cut prefix.
            lowered.push(self.null());
        }
        for (k, term) in terms.iter().enumerate().skip(overflow + 1) {
            lowered.push(self.lower(term, depth + n_ops - k + 1));
        }
        if lowered.len() == 1 {
            return lowered[0];
        }
        let range = self.store_logic_terms(lowered);
        self.push(make(range))
    }

    fn lower_call(&mut self, name: &str, args: &[Expr], depth: usize) -> NodeId {
        let node = match (Builtin::from_name(name), args) {
            (Some(Builtin::IsNull), [operand]) => Node::IsNull(self.lower(operand, depth + 1)),
            (Some(Builtin::Cast), [operand, Expr::Str(target)]) => match CastTarget::parse(target) {
                Some(target) => Node::Cast(self.lower(operand, depth + 1), target),
                None => Node::Const(Value::Null),
            },
            (Some(Builtin::Quadkey), [lat, lon, zoom]) => Node::Quadkey([
                self.lower(lat, depth + 1),
                self.lower(lon, depth + 1),
                self.lower(zoom, depth + 1),
            ]),
            // Unknown function or misused builtin: beava evaluates it to null.
            _ => Node::Const(Value::Null),
        };
        self.push(node)
    }

    fn store_arith_terms(&mut self, terms: Vec<(ArithOp, NodeId)>) -> TermRange {
        let start = self.compiled.arith_terms.len();
        self.compiled.arith_terms.extend(terms);
        term_range(start, self.compiled.arith_terms.len())
    }

    fn store_logic_terms(&mut self, terms: Vec<NodeId>) -> TermRange {
        let start = self.compiled.logic_terms.len();
        self.compiled.logic_terms.extend(terms);
        term_range(start, self.compiled.logic_terms.len())
    }
}

fn term_range(start: usize, end: usize) -> TermRange {
    let to_u32 = |idx: usize| u32::try_from(idx).expect("term count is bounded by the source length");
    TermRange {
        start: to_u32(start),
        end: to_u32(end),
    }
}
