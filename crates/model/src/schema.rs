//! Field types and event schemas: what a pushed event must look like.

use compact_str::CompactString;

/// Declared type of an event field (`schema.fields` values on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    Str,
    I64,
    F64,
    Bool,
    Bytes,
    Datetime,
    Json,
}

impl FieldType {
    pub fn parse(name: &str) -> Option<FieldType> {
        Some(match name {
            "str" => FieldType::Str,
            "i64" => FieldType::I64,
            "f64" => FieldType::F64,
            "bool" => FieldType::Bool,
            "bytes" => FieldType::Bytes,
            "datetime" => FieldType::Datetime,
            "json" => FieldType::Json,
            _ => return None,
        })
    }

    pub fn wire_name(self) -> &'static str {
        match self {
            FieldType::Str => "str",
            FieldType::I64 => "i64",
            FieldType::F64 => "f64",
            FieldType::Bool => "bool",
            FieldType::Bytes => "bytes",
            FieldType::Datetime => "datetime",
            FieldType::Json => "json",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, FieldType::I64 | FieldType::F64)
    }
}

/// One column of a row schema: its name, its type (`None` when not statically known, e.g. the
/// result of an expression over mixed types) and whether it may be null/absent.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: CompactString,
    pub ty: Option<FieldType>,
    pub optional: bool,
}

/// Ordered columns. Rows are `Vec<Value>` indexed by column position ("slot").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RowSchema {
    pub columns: Vec<Column>,
}

impl RowSchema {
    pub fn slot_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// [`RowSchema::slot_of`], trying `hint` first: a body usually lists its fields in the
    /// schema's order, so the slot after the previous field's is one comparison instead of a
    /// scan.
    pub fn slot_of_hinted(&self, name: &str, hint: usize) -> Option<usize> {
        self.slot_of_bytes_hinted(name.as_bytes(), hint)
    }

    /// [`RowSchema::slot_of_hinted`] for a name given as bytes, not checked as UTF-8 (column
    /// names are, so a name that is not matches no column).
    pub fn slot_of_bytes_hinted(&self, name: &[u8], hint: usize) -> Option<usize> {
        match self.columns.get(hint) {
            Some(column) if column.name.as_bytes() == name => Some(hint),
            _ => self.columns.iter().position(|c| c.name.as_bytes() == name),
        }
    }

    pub fn column(&self, name: &str) -> Option<(usize, &Column)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }
}
