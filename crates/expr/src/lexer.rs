//! Lexer: turns expression source into tokens, one at a time, on demand.
//!
//! beava lexes lazily, so a bad character after the point where parsing fails is never
//! reported; the parser therefore pulls tokens one by one instead of tokenising up front.
//! Scanning is byte-wise: every token except string contents is ASCII, columns count bytes
//! (1-based) and an unexpected non-ASCII byte is reported as that byte read as Latin-1,
//! exactly as beava does.

use crate::error::ExprError;
use compact_str::CompactString;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TokenKind {
    Ident,
    Int(i64),
    Float(f64),
    /// A string literal, escapes already decoded.
    Str(CompactString),
    And,
    Or,
    Not,
    True,
    False,
    Null,
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Gt,
    Ge,
    Lt,
    Le,
    EqEq,
    Ne,
    Eof,
}

#[derive(Clone, Debug)]
pub(crate) struct Token<'s> {
    pub kind: TokenKind,
    /// The exact source slice of the token (quotes included for strings, `""` at the end).
    pub text: &'s str,
    /// Byte offset of the first byte of the token.
    pub start: usize,
}

impl Token<'_> {
    pub fn column(&self) -> usize {
        self.start + 1
    }

    /// How beava names the token in `unexpected token "..."`: the decoded value for strings,
    /// the source text otherwise.
    pub fn display(&self) -> &str {
        match &self.kind {
            TokenKind::Str(value) => value.as_str(),
            _ => self.text,
        }
    }
}

pub(crate) struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
}

fn is_ident_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

fn is_ident_continue(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str) -> Lexer<'s> {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos: 0,
        }
    }

    fn byte_at(&self, pos: usize) -> Option<u8> {
        self.bytes.get(pos).copied()
    }

    pub fn next_token(&mut self) -> Result<Token<'s>, ExprError> {
        while matches!(self.byte_at(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(byte) = self.byte_at(start) else {
            return Ok(Token {
                kind: TokenKind::Eof,
                text: "",
                start,
            });
        };
        let next = self.byte_at(start + 1);
        let (kind, len) = match byte {
            b'(' => (TokenKind::LParen, 1),
            b')' => (TokenKind::RParen, 1),
            b',' => (TokenKind::Comma, 1),
            b'+' => (TokenKind::Plus, 1),
            b'-' => (TokenKind::Minus, 1),
            b'*' => (TokenKind::Star, 1),
            b'/' => (TokenKind::Slash, 1),
            b'>' if next == Some(b'=') => (TokenKind::Ge, 2),
            b'>' => (TokenKind::Gt, 1),
            b'<' if next == Some(b'=') => (TokenKind::Le, 2),
            b'<' => (TokenKind::Lt, 1),
            b'=' if next == Some(b'=') => (TokenKind::EqEq, 2),
            b'=' => {
                return Err(ExprError::syntax(
                    start + 1,
                    "unexpected character '='; use '==' for equality",
                ))
            }
            b'!' if next == Some(b'=') => (TokenKind::Ne, 2),
            b'!' => return Err(ExprError::syntax(start + 1, "unexpected character '!'")),
            b'\'' => return self.string(start),
            b'0'..=b'9' => return self.number(start),
            _ if is_ident_start(byte) => return Ok(self.ident(start)),
            _ => {
                return Err(ExprError::syntax(
                    start + 1,
                    format!("unknown character '{}'", char::from(byte)),
                ))
            }
        };
        self.pos = start + len;
        Ok(Token {
            kind,
            text: &self.src[start..self.pos],
            start,
        })
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`, optionally followed by more `.segment`s (a dotted field name).
    /// A `.` not followed by an identifier start is left for the next token.
    fn ident(&mut self, start: usize) -> Token<'s> {
        let mut pos = start + 1;
        loop {
            while self.byte_at(pos).is_some_and(is_ident_continue) {
                pos += 1;
            }
            if self.byte_at(pos) == Some(b'.') && self.byte_at(pos + 1).is_some_and(is_ident_start)
            {
                pos += 2;
            } else {
                break;
            }
        }
        self.pos = pos;
        let text = &self.src[start..pos];
        let kind = match text {
            "and" => TokenKind::And,
            "or" => TokenKind::Or,
            "not" => TokenKind::Not,
            "true" => TokenKind::True,
            "false" => TokenKind::False,
            "null" => TokenKind::Null,
            _ => TokenKind::Ident,
        };
        Token { kind, text, start }
    }

    /// `digits` or `digits.digits[eE[+-]digits]`. An exponent is only recognised after a
    /// fraction (`1e5` lexes as `1` then the identifier `e5`, as in beava).
    fn number(&mut self, start: usize) -> Result<Token<'s>, ExprError> {
        let skip_digits = |lexer: &Lexer<'_>, mut pos: usize| {
            while lexer.byte_at(pos).is_some_and(|b| b.is_ascii_digit()) {
                pos += 1;
            }
            pos
        };
        let mut pos = skip_digits(self, start);
        let mut is_float = false;
        if self.byte_at(pos) == Some(b'.')
            && self.byte_at(pos + 1).is_some_and(|b| b.is_ascii_digit())
        {
            is_float = true;
            pos = skip_digits(self, pos + 1);
            if matches!(self.byte_at(pos), Some(b'e' | b'E')) {
                pos += 1;
                if matches!(self.byte_at(pos), Some(b'+' | b'-')) {
                    pos += 1;
                }
                let digits_start = pos;
                pos = skip_digits(self, pos);
                if pos == digits_start {
                    let text = &self.src[start..pos];
                    return Err(ExprError::syntax(
                        start + 1,
                        format!("invalid float literal \"{text}\""),
                    ));
                }
            }
        }
        self.pos = pos;
        let text = &self.src[start..pos];
        let kind = if is_float {
            // Always succeeds for this shape; out-of-range magnitudes become ±inf.
            match text.parse::<f64>() {
                Ok(value) => TokenKind::Float(value),
                Err(_) => {
                    return Err(ExprError::syntax(
                        start + 1,
                        format!("invalid float literal \"{text}\""),
                    ))
                }
            }
        } else {
            match text.parse::<i64>() {
                Ok(value) => TokenKind::Int(value),
                Err(_) => {
                    return Err(ExprError::syntax(
                        start + 1,
                        format!("invalid integer literal \"{text}\""),
                    ))
                }
            }
        };
        Ok(Token { kind, text, start })
    }

    /// `'...'` with escapes `\\` and `\'`; any other backslash is kept literally.
    fn string(&mut self, start: usize) -> Result<Token<'s>, ExprError> {
        let mut value = CompactString::default();
        let mut pos = start + 1;
        let mut segment_start = pos;
        loop {
            match self.byte_at(pos) {
                None => {
                    return Err(ExprError::syntax(
                        self.bytes.len() + 1,
                        "unterminated string literal",
                    ))
                }
                Some(b'\'') => {
                    value.push_str(&self.src[segment_start..pos]);
                    pos += 1;
                    break;
                }
                Some(b'\\') => match self.byte_at(pos + 1) {
                    Some(escaped @ (b'\\' | b'\'')) => {
                        value.push_str(&self.src[segment_start..pos]);
                        value.push(char::from(escaped));
                        pos += 2;
                        segment_start = pos;
                    }
                    _ => pos += 1,
                },
                Some(_) => pos += 1,
            }
        }
        self.pos = pos;
        Ok(Token {
            kind: TokenKind::Str(value),
            text: &self.src[start..pos],
            start,
        })
    }
}
