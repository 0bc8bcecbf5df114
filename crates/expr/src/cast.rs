//! `cast`: converting a value to `str`, `int`, `float` or `bool`, as the `cast(x, T)` builtin
//! and the `cast` chain op do. Every failure is `null`, never an error.
//!
//! * from `null`: null, whatever the target;
//! * to `str`: strings unchanged, i64 in decimal, f64 with Rust's `Display` (`1`, `0.1`,
//!   `1000000000000000000000`, `inf`, `NaN`: never an exponent), bools as `true`/`false`;
//! * to `int`: strings through Rust's `i64` parse (`+3` ok), f64 truncated toward zero and
//!   saturated at the i64 bounds (NaN -> 0), bools as 1/0;
//! * to `float`: strings through Rust's `f64` parse (`1e3`, `.5`, `inf`, `NaN` ok), i64
//!   converted, bools as 1.0/0.0;
//! * to `bool`: only the strings `true`/`false`, numbers as `!= 0` (NaN -> false);
//! * lists and maps: null for every target.
//!
//! Parses reject surrounding whitespace (`" 12"` -> null), as in beava.

use compact_str::{format_compact, CompactString, ToCompactString};
use model::{FieldType, Value};

/// Target type of a cast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CastTarget {
    Str,
    Int,
    Float,
    Bool,
}

impl CastTarget {
    /// `"str" | "int" | "float" | "bool"` (exact, lowercase).
    pub fn parse(name: &str) -> Option<CastTarget> {
        Some(match name {
            "str" => CastTarget::Str,
            "int" => CastTarget::Int,
            "float" => CastTarget::Float,
            "bool" => CastTarget::Bool,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            CastTarget::Str => "str",
            CastTarget::Int => "int",
            CastTarget::Float => "float",
            CastTarget::Bool => "bool",
        }
    }

    pub fn output_type(self) -> FieldType {
        match self {
            CastTarget::Str => FieldType::Str,
            CastTarget::Int => FieldType::I64,
            CastTarget::Float => FieldType::F64,
            CastTarget::Bool => FieldType::Bool,
        }
    }
}

/// Converts `value` to `target`; `Null` when the conversion is undefined.
pub fn cast_value(value: &Value, target: CastTarget) -> Value {
    match target {
        CastTarget::Str => cast_to_str(value).map_or(Value::Null, Value::Str),
        CastTarget::Int => cast_to_int(value).map_or(Value::Null, Value::I64),
        CastTarget::Float => cast_to_float(value).map_or(Value::Null, Value::F64),
        CastTarget::Bool => cast_to_bool(value).map_or(Value::Null, Value::Bool),
    }
}

fn cast_to_str(value: &Value) -> Option<CompactString> {
    Some(match value {
        Value::Str(text) => text.clone(),
        Value::I64(number) => number.to_compact_string(),
        // Not `to_compact_string`, which formats floats with ryu (`1e300`); beava uses
        // Rust's `Display` (`1000...000`, `1` for 1.0).
        Value::F64(number) => format_compact!("{number}"),
        Value::Bool(flag) => CompactString::const_new(if *flag { "true" } else { "false" }),
        Value::Null | Value::List(_) | Value::Map(_) => return None,
    })
}

fn cast_to_int(value: &Value) -> Option<i64> {
    match value {
        Value::Str(text) => text.parse::<i64>().ok(),
        Value::I64(number) => Some(*number),
        // `as` truncates toward zero, saturates at the i64 bounds and maps NaN to 0.
        Value::F64(number) => Some(*number as i64),
        Value::Bool(flag) => Some(i64::from(*flag)),
        Value::Null | Value::List(_) | Value::Map(_) => None,
    }
}

fn cast_to_float(value: &Value) -> Option<f64> {
    match value {
        Value::Str(text) => text.parse::<f64>().ok(),
        Value::I64(number) => Some(*number as f64),
        Value::F64(number) => Some(*number),
        Value::Bool(flag) => Some(if *flag { 1.0 } else { 0.0 }),
        Value::Null | Value::List(_) | Value::Map(_) => None,
    }
}

fn cast_to_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Str(text) => match text.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        Value::I64(number) => Some(*number != 0),
        // Not `!= 0.0`, which holds for NaN: beava casts NaN to false.
        Value::F64(number) => Some(number.abs() > 0.0),
        Value::Bool(flag) => Some(*flag),
        Value::Null | Value::List(_) | Value::Map(_) => None,
    }
}
