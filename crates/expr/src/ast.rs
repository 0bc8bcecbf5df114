//! `Expr`: the parsed expression tree, after beava's post-parse rewrites, and its canonical
//! printed form.
//!
//! The tree mirrors beava's binary tree except that a run of the same left-associative
//! operator level (`a + b - c`, `a and b and c`) is one n-ary node. That keeps the tree as
//! shallow as the source's parenthesis nesting (beava accepts `(a + a + ... + a)` with
//! thousands of terms, which as a binary tree would be thousands of levels deep), while
//! describing exactly the same left-leaning binary tree: parentheses create no node in beava,
//! so `((a + b) - c)` and `(a + b - c)` are the same expression and parse to the same `Expr`.
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
#[derive(Clone, Debug, PartialEq)]
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

/// Prints the canonical, fully parenthesised form, which parses back to an equal `Expr`
/// (except for NaN floats, which no literal can express).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Null => f.write_str("null"),
            Expr::Bool(value) => write!(f, "{value}"),
            Expr::Int(value) => write!(f, "{value}"),
            Expr::Float(value) => write_float_literal(f, *value),
            Expr::Str(value) => write_string_literal(f, value),
            Expr::Field(name) => f.write_str(name),
            Expr::Not(operand) => write!(f, "(not {operand})"),
            Expr::Compare { op, lhs, rhs } => write!(f, "({lhs} {} {rhs})", op.symbol()),
            Expr::Arith { first, rest } => {
                write!(f, "({first}")?;
                for (op, term) in rest {
                    write!(f, " {} {term}", op.symbol())?;
                }
                f.write_str(")")
            }
            Expr::And(terms) => write_joined(f, terms, " and "),
            Expr::Or(terms) => write_joined(f, terms, " or "),
            Expr::Call { name, args } => {
                write!(f, "{name}(")?;
                for (idx, arg) in args.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, terms: &[Expr], separator: &str) -> fmt::Result {
    f.write_str("(")?;
    for (idx, term) in terms.iter().enumerate() {
        if idx > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{term}")?;
    }
    f.write_str(")")
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
