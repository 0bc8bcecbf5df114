//! Parser: source text to [`Expr`], following beava's grammar and error messages exactly.
//!
//! ```text
//! Top     := Atom EOF                      (binary operators only inside parentheses)
//! Atom    := '(' Or ')' | '(' 'not' Or ')' | Ident '(' [Atom (',' Atom)*] ')' | Ident
//!          | Int | Float | String | true | false | null | '-' (Int | Float)
//! Or      := And ('or' And)* ;  And := Cmp ('and' Cmp)*
//! Cmp     := Add [('>'|'>='|'<'|'<='|'=='|'!=') Add]      (does not chain)
//! Add     := Mul (('+'|'-') Mul)* ;  Mul := Atom (('*'|'/') Atom)*
//! ```
//!
//! The parser keeps its own stack of open parentheses and calls instead of recursing, so no
//! input can exhaust the thread stack; beava's limit of 512 nested atoms (each `(`, `(not`
//! and call opens one level) is enforced before the stack grows past it. Inside a
//! parenthesis, binary operators are folded by precedence (shunting-yard) into n-ary chains.

use crate::ast::{ArithOp, CompareOp, Expr};
use crate::error::ExprError;
use crate::lexer::{Lexer, Token, TokenKind};
use compact_str::CompactString;
use model::limits::{EXPR_DEPTH_MAX, EXPR_SOURCE_BYTES_MAX};

/// Parses an expression string into its (rewritten) tree.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    if src.len() > EXPR_SOURCE_BYTES_MAX {
        return Err(ExprError::syntax(
            EXPR_SOURCE_BYTES_MAX + 1,
            format!(
                "expression source exceeds {EXPR_SOURCE_BYTES_MAX} bytes (got {})",
                src.len()
            ),
        ));
    }
    let mut parser = Parser {
        lexer: Lexer::new(src),
        peeked: None,
    };
    parser.parse_top()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BinaryOp {
    Or,
    And,
    Compare(CompareOp),
    Arith(ArithOp),
}

impl BinaryOp {
    fn from_token(kind: &TokenKind) -> Option<BinaryOp> {
        Some(match kind {
            TokenKind::Or => BinaryOp::Or,
            TokenKind::And => BinaryOp::And,
            TokenKind::EqEq => BinaryOp::Compare(CompareOp::Eq),
            TokenKind::Ne => BinaryOp::Compare(CompareOp::Ne),
            TokenKind::Lt => BinaryOp::Compare(CompareOp::Lt),
            TokenKind::Le => BinaryOp::Compare(CompareOp::Le),
            TokenKind::Gt => BinaryOp::Compare(CompareOp::Gt),
            TokenKind::Ge => BinaryOp::Compare(CompareOp::Ge),
            TokenKind::Plus => BinaryOp::Arith(ArithOp::Add),
            TokenKind::Minus => BinaryOp::Arith(ArithOp::Sub),
            TokenKind::Star => BinaryOp::Arith(ArithOp::Mul),
            TokenKind::Slash => BinaryOp::Arith(ArithOp::Div),
            _ => return None,
        })
    }

    /// Binding strength: higher binds tighter.
    fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Compare(_) => 3,
            BinaryOp::Arith(op) if op.is_additive() => 4,
            BinaryOp::Arith(_) => 5,
        }
    }
}

/// An open construct waiting for more atoms.
enum Frame {
    /// Inside `( ... )` or `(not ... )`: operands and operators not yet folded.
    Group {
        negated: bool,
        operands: Vec<Expr>,
        operators: Vec<BinaryOp>,
    },
    /// Inside `name( ... )`.
    Call {
        name: CompactString,
        args: Vec<Expr>,
    },
}

struct Parser<'s> {
    lexer: Lexer<'s>,
    peeked: Option<Token<'s>>,
}

impl<'s> Parser<'s> {
    fn peek(&mut self) -> Result<&Token<'s>, ExprError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("peeked token was just filled"))
    }

    /// Consumes the token last returned by `peek`.
    fn bump(&mut self) -> Token<'s> {
        self.peeked.take().expect("bump follows a successful peek")
    }

    fn parse_top(&mut self) -> Result<Expr, ExprError> {
        let mut frames: Vec<Frame> = Vec::new();
        'atom: loop {
            let Some(mut atom) = self.parse_atom(&mut frames)? else {
                continue 'atom;
            };
            // Hand the finished atom to the innermost open construct, closing constructs
            // for as long as their closing token follows.
            loop {
                let Some(frame) = frames.last_mut() else {
                    let token = self.peek()?;
                    if token.kind == TokenKind::Eof {
                        return Ok(atom);
                    }
                    return Err(ExprError::syntax(
                        token.column(),
                        format!("unexpected token \"{}\"", token.display()),
                    ));
                };
                match frame {
                    Frame::Call { args, .. } => {
                        args.push(atom);
                        let token = self.peek()?;
                        match token.kind {
                            TokenKind::Comma => {
                                self.bump();
                                continue 'atom;
                            }
                            TokenKind::RParen => {
                                self.bump();
                                let Some(Frame::Call { name, args }) = frames.pop() else {
                                    unreachable!("the innermost frame is a call");
                                };
                                atom = make_call(name, args);
                            }
                            _ => {
                                return Err(ExprError::syntax(
                                    token.column(),
                                    "expected ',' or ')'",
                                ))
                            }
                        }
                    }
                    Frame::Group {
                        operands,
                        operators,
                        ..
                    } => {
                        operands.push(atom);
                        let token = self.peek()?;
                        let column = token.column();
                        if let Some(op) = BinaryOp::from_token(&token.kind) {
                            push_operator(operands, operators, op, column)?;
                            self.bump();
                            continue 'atom;
                        }
                        if token.kind != TokenKind::RParen {
                            return Err(ExprError::syntax(column, "expected ')'"));
                        }
                        self.bump();
                        let Some(Frame::Group {
                            negated,
                            mut operands,
                            mut operators,
                        }) = frames.pop()
                        else {
                            unreachable!("the innermost frame is a group");
                        };
                        while let Some(op) = operators.pop() {
                            fold(&mut operands, op);
                        }
                        let inner = operands.pop().expect("a group holds one folded operand");
                        atom = if negated {
                            Expr::Not(Box::new(inner))
                        } else {
                            inner
                        };
                    }
                }
            }
        }
    }

    /// Parses one atom at the nesting level `frames.len() + 1`. Returns `None` after opening a
    /// parenthesis or a call, whose first atom comes next.
    fn parse_atom(&mut self, frames: &mut Vec<Frame>) -> Result<Option<Expr>, ExprError> {
        let depth = frames.len() + 1;
        let token = self.peek()?;
        if depth > EXPR_DEPTH_MAX {
            return Err(ExprError::syntax(
                token.column(),
                format!("predicate nesting depth exceeds {EXPR_DEPTH_MAX} (got {depth})"),
            ));
        }
        let column = token.column();
        let token = self.bump();
        let atom = match token.kind {
            TokenKind::LParen => {
                let negated = self.peek()?.kind == TokenKind::Not;
                if negated {
                    self.bump();
                }
                frames.push(Frame::Group {
                    negated,
                    operands: Vec::new(),
                    operators: Vec::new(),
                });
                return Ok(None);
            }
            TokenKind::Ident => {
                let name = CompactString::from(token.text);
                if self.peek()?.kind != TokenKind::LParen {
                    return Ok(Some(Expr::Field(name)));
                }
                self.bump();
                if self.peek()?.kind == TokenKind::RParen {
                    self.bump();
                    return Ok(Some(make_call(name, Vec::new())));
                }
                frames.push(Frame::Call {
                    name,
                    args: Vec::new(),
                });
                return Ok(None);
            }
            TokenKind::Int(value) => Expr::Int(value),
            TokenKind::Float(value) => Expr::Float(value),
            TokenKind::Str(value) => Expr::Str(value),
            TokenKind::True => Expr::Bool(true),
            TokenKind::False => Expr::Bool(false),
            TokenKind::Null => Expr::Null,
            TokenKind::Minus => match self.peek()?.kind {
                TokenKind::Int(value) => {
                    self.bump();
                    // `value` is non-negative, so negating cannot overflow.
                    Expr::Int(-value)
                }
                TokenKind::Float(value) => {
                    self.bump();
                    Expr::Float(-value)
                }
                _ => {
                    return Err(ExprError::syntax(
                        column,
                        "'-' must be followed by a number literal",
                    ))
                }
            },
            TokenKind::And | TokenKind::Or | TokenKind::Not => {
                return Err(ExprError::syntax(
                    column,
                    format!("unexpected keyword \"{}\" in expression", token.text),
                ))
            }
            TokenKind::Eof => return Err(ExprError::syntax(column, "expected expression")),
            // beava names punctuation as an empty token here.
            _ => {
                return Err(ExprError::syntax(
                    column,
                    "unexpected token \"\" in expression",
                ))
            }
        };
        Ok(Some(atom))
    }
}

/// Pushes `op` after folding every pending operator that binds at least as tightly
/// (left associativity). Comparisons do not chain: a second one at the same level is the
/// place where beava's recursive descent expected the closing parenthesis.
fn push_operator(
    operands: &mut Vec<Expr>,
    operators: &mut Vec<BinaryOp>,
    op: BinaryOp,
    column: usize,
) -> Result<(), ExprError> {
    while let Some(&top) = operators.last() {
        let binds_tighter = top.precedence() > op.precedence();
        let same_level = top.precedence() == op.precedence();
        if same_level && matches!(op, BinaryOp::Compare(_)) {
            return Err(ExprError::syntax(column, "expected ')'"));
        }
        if !(binds_tighter || same_level) {
            break;
        }
        operators.pop();
        fold(operands, top);
    }
    operators.push(op);
    Ok(())
}

/// Replaces the two topmost operands by `lhs op rhs`, extending a chain of the same level
/// instead of nesting (see the `ast` module doc), and applying the null-comparison rewrite.
fn fold(operands: &mut Vec<Expr>, op: BinaryOp) {
    let rhs = operands.pop().expect("an operator has a right operand");
    let mut lhs = operands.pop().expect("an operator has a left operand");
    let folded = match op {
        BinaryOp::Or => {
            if let Expr::Or(terms) = &mut lhs {
                terms.push(rhs);
                lhs
            } else {
                Expr::Or(vec![lhs, rhs])
            }
        }
        BinaryOp::And => {
            if let Expr::And(terms) = &mut lhs {
                terms.push(rhs);
                lhs
            } else {
                Expr::And(vec![lhs, rhs])
            }
        }
        BinaryOp::Arith(op) => match &mut lhs {
            Expr::Arith { rest, .. }
                if rest
                    .first()
                    .is_some_and(|(head, _)| head.is_additive() == op.is_additive()) =>
            {
                rest.push((op, rhs));
                lhs
            }
            _ => Expr::Arith {
                first: Box::new(lhs),
                rest: vec![(op, rhs)],
            },
        },
        BinaryOp::Compare(op @ (CompareOp::Eq | CompareOp::Ne))
            if matches!(lhs, Expr::Null) || matches!(rhs, Expr::Null) =>
        {
            let tested = if matches!(rhs, Expr::Null) { lhs } else { rhs };
            let is_null = Expr::Call {
                name: CompactString::const_new("isnull"),
                args: vec![tested],
            };
            if op == CompareOp::Eq {
                is_null
            } else {
                Expr::Not(Box::new(is_null))
            }
        }
        BinaryOp::Compare(op) => Expr::Compare {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
    };
    operands.push(folded);
}

/// Builds a call node, turning `cast(x, T)`'s bare-identifier type into a string literal.
fn make_call(name: CompactString, mut args: Vec<Expr>) -> Expr {
    if name == "cast" && args.len() == 2 {
        if let Expr::Field(type_name) = &mut args[1] {
            let type_name = std::mem::take(type_name);
            args[1] = Expr::Str(type_name);
        }
    }
    Expr::Call { name, args }
}
