//! `Expr`: the parsed expression tree, after beava's post-parse rewrites, and its canonical
//! printed form.
//!
//! The tree mirrors beava's binary tree except that a run of the same left-associative
//! operator level (`a + b - c`, `a and b and c`) is one n-ary node. The tree's depth is then
//! bounded by the source's nesting (at most one node per precedence level per parenthesis)
//! instead of by the length of a chain (beava accepts `(a + a + ... + a)` with thousands of
//! terms, a binary tree thousands of levels deep), while describing exactly the same
//! left-leaning binary tree: parentheses create no node in beava, so `((a + b) - c)` and
//! `(a + b - c)` are the same expression and parse to the same `Expr`.
//!
//! Rewrites already applied by the parser (as beava does):
//! * `(x == null)` / `(null == x)` becomes `isnull(x)`; `(x != null)` becomes `(not isnull(x))`;
//! * `cast(x, float)`: a bare identifier as the second of exactly two arguments becomes the
//!   string literal `'float'`.

use compact_str::CompactString;
use std::fmt;

/// `== != < <= > >=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    /// The symbol with a space on each side, as printed between operands.
    fn spaced_symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => " == ",
            CompareOp::Ne => " != ",
            CompareOp::Lt => " < ",
            CompareOp::Le => " <= ",
            CompareOp::Gt => " > ",
            CompareOp::Ge => " >= ",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// `+ - * /`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl ArithOp {
    fn spaced_symbol(self) -> &'static str {
        match self {
            ArithOp::Add => " + ",
            ArithOp::Sub => " - ",
            ArithOp::Mul => " * ",
            ArithOp::Div => " / ",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }

    /// `+`/`-` bind looser than `*`/`/`; one `Arith` chain only holds operators of one level.
    pub fn is_additive(self) -> bool {
        matches!(self, ArithOp::Add | ArithOp::Sub)
    }
}

/// A parsed expression.
///
/// `Drop`, `Clone` and `PartialEq` do not recurse (see their impls), so a deep tree cannot
/// overflow the stack; because of the `Drop` impl, match on a reference rather than moving
/// out of an `Expr`.
#[derive(Debug)]
pub enum Expr {
    Null,
    Bool(bool),
    Int(i64),
    /// Never NaN when produced by the parser (out-of-range literals become ±inf).
    Float(f64),
    Str(CompactString),
    /// A field reference; dotted names (`a.b`) are single names, not paths.
    Field(CompactString),
    /// `(not E)`.
    Not(Box<Expr>),
    /// `(lhs op rhs)`; comparisons do not chain.
    Compare {
        op: CompareOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `first op1 t1 op2 t2 ...`, evaluated left to right; all operators share one precedence
    /// level and `rest` is never empty.
    Arith {
        first: Box<Expr>,
        rest: Vec<(ArithOp, Expr)>,
    },
    /// `t0 and t1 and ...`, at least two terms, left to right.
    And(Vec<Expr>),
    /// `t0 or t1 or ...`, at least two terms, left to right.
    Or(Vec<Expr>),
    /// `name(args)`; any name parses, builtins are resolved by the compiler.
    Call {
        name: CompactString,
        args: Vec<Expr>,
    },
}

impl Expr {
    /// Calls `visit` on each direct child, left to right.
    fn for_each_child<'e>(&'e self, mut visit: impl FnMut(&'e Expr)) {
        match self {
            Expr::Not(operand) => visit(operand),
            Expr::Compare { lhs, rhs, .. } => {
                visit(lhs);
                visit(rhs);
            }
            Expr::Arith { first, rest } => {
                visit(first);
                rest.iter().for_each(|(_, term)| visit(term));
            }
            Expr::And(terms) | Expr::Or(terms) | Expr::Call { args: terms, .. } => {
                terms.iter().for_each(visit);
            }
            Expr::Null
            | Expr::Bool(_)
            | Expr::Int(_)
            | Expr::Float(_)
            | Expr::Str(_)
            | Expr::Field(_) => {}
        }
    }

    fn n_children(&self) -> usize {
        match self {
            Expr::Not(_) => 1,
            Expr::Compare { .. } => 2,
            Expr::Arith { rest, .. } => 1 + rest.len(),
            Expr::And(terms) | Expr::Or(terms) | Expr::Call { args: terms, .. } => terms.len(),
            Expr::Null
            | Expr::Bool(_)
            | Expr::Int(_)
            | Expr::Float(_)
            | Expr::Str(_)
            | Expr::Field(_) => 0,
        }
    }

    /// A copy of this node with its children taken from the end of `built` (in order).
    fn rebuild(&self, built: &mut Vec<Expr>) -> Expr {
        let mut children = built.split_off(built.len() - self.n_children()).into_iter();
        let mut next = || {
            children
                .next()
                .expect("rebuild receives one expression per child")
        };
        match self {
            Expr::Null => Expr::Null,
            Expr::Bool(value) => Expr::Bool(*value),
            Expr::Int(value) => Expr::Int(*value),
            Expr::Float(value) => Expr::Float(*value),
            Expr::Str(value) => Expr::Str(value.clone()),
            Expr::Field(name) => Expr::Field(name.clone()),
            Expr::Not(_) => Expr::Not(Box::new(next())),
            Expr::Compare { op, .. } => {
                let lhs = Box::new(next());
                let rhs = Box::new(next());
                Expr::Compare { op: *op, lhs, rhs }
            }
            Expr::Arith { rest, .. } => {
                let first = Box::new(next());
                let rest = rest.iter().map(|(op, _)| (*op, next())).collect();
                Expr::Arith { first, rest }
            }
            Expr::And(terms) => Expr::And(terms.iter().map(|_| next()).collect()),
            Expr::Or(terms) => Expr::Or(terms.iter().map(|_| next()).collect()),
            Expr::Call { name, args } => Expr::Call {
                name: name.clone(),
                args: args.iter().map(|_| next()).collect(),
            },
        }
    }

    /// Whether the nodes agree, children aside.
    fn shallow_eq(&self, other: &Expr) -> bool {
        match (self, other) {
            (Expr::Null, Expr::Null) => true,
            (Expr::Bool(a), Expr::Bool(b)) => a == b,
            (Expr::Int(a), Expr::Int(b)) => a == b,
            (Expr::Float(a), Expr::Float(b)) => a == b,
            (Expr::Str(a), Expr::Str(b)) | (Expr::Field(a), Expr::Field(b)) => a == b,
            (Expr::Not(_), Expr::Not(_)) => true,
            (Expr::Compare { op: a, .. }, Expr::Compare { op: b, .. }) => a == b,
            (Expr::Arith { rest: a, .. }, Expr::Arith { rest: b, .. }) => {
                a.len() == b.len() && a.iter().zip(b).all(|((x, _), (y, _))| x == y)
            }
            (Expr::And(a), Expr::And(b)) | (Expr::Or(a), Expr::Or(b)) => a.len() == b.len(),
            (Expr::Call { name: a, args: x }, Expr::Call { name: b, args: y }) => {
                a == b && x.len() == y.len()
            }
            _ => false,
        }
    }

    /// Moves the children out, leaving leaves behind (see `Drop`).
    fn take_children(&mut self, into: &mut Vec<Expr>) {
        match self {
            Expr::Not(operand) => into.push(std::mem::replace(operand.as_mut(), Expr::Null)),
            Expr::Compare { lhs, rhs, .. } => {
                into.push(std::mem::replace(lhs.as_mut(), Expr::Null));
                into.push(std::mem::replace(rhs.as_mut(), Expr::Null));
            }
            Expr::Arith { first, rest } => {
                into.push(std::mem::replace(first.as_mut(), Expr::Null));
                into.extend(std::mem::take(rest).into_iter().map(|(_, term)| term));
            }
            Expr::And(terms) | Expr::Or(terms) | Expr::Call { args: terms, .. } => {
                into.append(terms);
            }
            Expr::Null
            | Expr::Bool(_)
            | Expr::Int(_)
            | Expr::Float(_)
            | Expr::Str(_)
            | Expr::Field(_) => {}
        }
    }
}

// Drop, Clone and PartialEq walk the tree with an explicit stack: the derived versions
// recurse once per level, and a tree the parser accepts can be thousands of levels deep
// (511 parentheses, each holding every precedence level), enough to overflow a thread stack.
// `Debug` is derived and does recurse; it is meant for tests and small trees.

impl Drop for Expr {
    fn drop(&mut self) {
        let mut detached = Vec::new();
        self.take_children(&mut detached);
        while let Some(mut expr) = detached.pop() {
            // `expr` drops at the end of this iteration with no children left: no recursion.
            expr.take_children(&mut detached);
        }
    }
}

impl Clone for Expr {
    fn clone(&self) -> Expr {
        enum Step<'e> {
            Visit(&'e Expr),
            Build(&'e Expr),
        }
        let mut steps = vec![Step::Visit(self)];
        let mut built: Vec<Expr> = Vec::new();
        while let Some(step) = steps.pop() {
            match step {
                Step::Visit(expr) => {
                    steps.push(Step::Build(expr));
                    // Children are visited left to right, so they go on the stack reversed.
                    let mark = steps.len();
                    expr.for_each_child(|child| steps.push(Step::Visit(child)));
                    steps[mark..].reverse();
                }
                Step::Build(expr) => {
                    let copy = expr.rebuild(&mut built);
                    built.push(copy);
                }
            }
        }
        built.pop().expect("the root is built last")
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        // Two stacks kept in lockstep: `shallow_eq` guarantees equal child counts.
        let mut lhs_pending = vec![self];
        let mut rhs_pending = vec![other];
        while let (Some(lhs), Some(rhs)) = (lhs_pending.pop(), rhs_pending.pop()) {
            if !lhs.shallow_eq(rhs) {
                return false;
            }
            lhs.for_each_child(|child| lhs_pending.push(child));
            rhs.for_each_child(|child| rhs_pending.push(child));
        }
        true
    }
}

/// Where a subtree is printed, which decides whether it needs parentheses of its own.
#[derive(Clone, Copy)]
enum Context {
    /// Top level or call argument: only atoms may appear bare.
    Atom,
    /// Inside a parenthesis: nodes binding tighter than this precedence may appear bare.
    Within(u8),
}

/// A piece of printed output still to write (see `Display for Expr`).
enum Piece<'e> {
    Expr(&'e Expr, Context),
    Text(&'e str),
}

/// Binding strength of a node as printed; atoms (including `(not E)`, which brings its own
/// parentheses) bind tightest.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Or(_) => 1,
        Expr::And(_) => 2,
        Expr::Compare { .. } => 3,
        Expr::Arith { rest, .. } if rest.first().is_some_and(|(op, _)| op.is_additive()) => 4,
        Expr::Arith { .. } => 5,
        _ => ATOM,
    }
}

const ATOM: u8 = 6;

/// Prints the canonical form: parentheses only where the grammar needs them, single spaces
/// around binary operators. Any tree produced by [`crate::parse`] prints to a string that
/// parses back to an equal tree, nested no deeper than the source was (NaN floats aside,
/// which no literal can express). Iterative, so any depth prints.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Pieces are written last-pushed first, so inner nodes push theirs in reverse.
        let mut pending = vec![Piece::Expr(self, Context::Atom)];
        while let Some(piece) = pending.pop() {
            let (expr, context) = match piece {
                Piece::Text(text) => {
                    f.write_str(text)?;
                    continue;
                }
                Piece::Expr(expr, context) => (expr, context),
            };
            let own = precedence(expr);
            let bare = match context {
                Context::Atom => own == ATOM,
                Context::Within(outer) => own > outer,
            };
            if !bare {
                f.write_str("(")?;
                pending.push(Piece::Text(")"));
                pending.push(Piece::Expr(expr, Context::Within(0)));
                continue;
            }
            match expr {
                Expr::Null => f.write_str("null")?,
                Expr::Bool(value) => write!(f, "{value}")?,
                Expr::Int(value) => write!(f, "{value}")?,
                Expr::Float(value) => write_float_literal(f, *value)?,
                Expr::Str(value) => write_string_literal(f, value)?,
                Expr::Field(name) => f.write_str(name)?,
                Expr::Not(operand) => {
                    f.write_str("(not ")?;
                    pending.push(Piece::Text(")"));
                    pending.push(Piece::Expr(operand, Context::Within(0)));
                }
                Expr::Compare { op, lhs, rhs } => {
                    pending.push(Piece::Expr(rhs, Context::Within(own)));
                    pending.push(Piece::Text(op.spaced_symbol()));
                    pending.push(Piece::Expr(lhs, Context::Within(own)));
                }
                Expr::Arith { first, rest } => {
                    for (op, term) in rest.iter().rev() {
                        pending.push(Piece::Expr(term, Context::Within(own)));
                        pending.push(Piece::Text(op.spaced_symbol()));
                    }
                    pending.push(Piece::Expr(first, Context::Within(own)));
                }
                Expr::And(terms) => {
                    push_separated(&mut pending, terms, " and ", Context::Within(own))
                }
                Expr::Or(terms) => {
                    push_separated(&mut pending, terms, " or ", Context::Within(own))
                }
                Expr::Call { name, args } => {
                    write!(f, "{name}(")?;
                    pending.push(Piece::Text(")"));
                    push_separated(&mut pending, args, ", ", Context::Atom);
                }
            }
        }
        Ok(())
    }
}

/// Schedules `items` separated by `separator`.
fn push_separated<'e>(
    pending: &mut Vec<Piece<'e>>,
    items: &'e [Expr],
    separator: &'e str,
    context: Context,
) {
    for (idx, item) in items.iter().enumerate().rev() {
        pending.push(Piece::Expr(item, context));
        if idx > 0 {
            pending.push(Piece::Text(separator));
        }
    }
}

/// The grammar only has `digits.digits[e±digits]`, so `1e300` is printed as `1.0e300` and
/// infinities as an overflowing literal.
fn write_float_literal(f: &mut fmt::Formatter<'_>, value: f64) -> fmt::Result {
    if value.is_infinite() {
        return f.write_str(if value > 0.0 { "1.0e999" } else { "-1.0e999" });
    }
    // `{:?}` is the shortest representation that round-trips.
    let shortest = format!("{value:?}");
    let (mantissa, exponent) = match shortest.split_once('e') {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (shortest.as_str(), None),
    };
    f.write_str(mantissa)?;
    if !mantissa.contains('.') {
        f.write_str(".0")?;
    }
    if let Some(exponent) = exponent {
        write!(f, "e{exponent}")?;
    }
    Ok(())
}

fn write_string_literal(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    f.write_str("'")?;
    for ch in value.chars() {
        match ch {
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            _ => write!(f, "{ch}")?,
        }
    }
    f.write_str("'")
}
