//! Registry diff entries (beava-compat §4.6): what a `/register` would change.

/// One diff entry. Field names follow the wire (`kind` snake_case tags).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiffEntry {
    Rename {
        from: String,
        to: String,
    },
    TypeChange {
        field: String,
        from: String,
        to: String,
    },
    OpRemoval {
        table: String,
        agg: String,
    },
    AggRemoval {
        table: String,
        agg: String,
    },
    WindowChange {
        agg: String,
        from: String,
        to: String,
    },
    KeyColsChange {
        table: String,
        from: Vec<String>,
        to: Vec<String>,
    },
    NewDescriptor {
        descriptor_kind: String,
        name: String,
    },
    NewAgg {
        table: String,
        agg: String,
        source: String,
    },
    NewField {
        event: String,
        field: String,
        ty: String,
    },
}

impl DiffEntry {
    pub fn kind(&self) -> &'static str {
        match self {
            DiffEntry::Rename { .. } => "rename",
            DiffEntry::TypeChange { .. } => "type_change",
            DiffEntry::OpRemoval { .. } => "op_removal",
            DiffEntry::AggRemoval { .. } => "agg_removal",
            DiffEntry::WindowChange { .. } => "window_change",
            DiffEntry::KeyColsChange { .. } => "key_cols_change",
            DiffEntry::NewDescriptor { .. } => "new_descriptor",
            DiffEntry::NewAgg { .. } => "new_agg",
            DiffEntry::NewField { .. } => "new_field",
        }
    }

    pub fn is_destructive(&self) -> bool {
        !matches!(
            self,
            DiffEntry::NewDescriptor { .. } | DiffEntry::NewAgg { .. } | DiffEntry::NewField { .. }
        )
    }

    /// `(name, value)` string members of the wire object after `kind`, in wire order.
    /// `key_cols_change` lists are not strings: use the `Serialize` impl for the wire.
    pub fn wire_fields(&self) -> Vec<(&'static str, &str)> {
        match self {
            DiffEntry::Rename { from, to } => vec![("from", from), ("to", to)],
            DiffEntry::TypeChange { field, from, to } => {
                vec![("field", field), ("from", from), ("to", to)]
            }
            DiffEntry::OpRemoval { table, agg } | DiffEntry::AggRemoval { table, agg } => {
                vec![("table", table), ("agg", agg)]
            }
            DiffEntry::WindowChange { agg, from, to } => {
                vec![("agg", agg), ("from", from), ("to", to)]
            }
            DiffEntry::KeyColsChange { table, .. } => vec![("table", table)],
            DiffEntry::NewDescriptor {
                descriptor_kind,
                name,
            } => vec![("descriptor_kind", descriptor_kind), ("name", name)],
            DiffEntry::NewAgg { table, agg, source } => {
                vec![("table", table), ("agg", agg), ("source", source)]
            }
            DiffEntry::NewField { event, field, ty } => {
                vec![("event", event), ("field", field), ("type", ty)]
            }
        }
    }
}

/// A classified diff: `additive`, `destructive` and `already_present` (descriptor names), each
/// sorted deterministically.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diff {
    pub additive: Vec<DiffEntry>,
    pub destructive: Vec<DiffEntry>,
    pub already_present: Vec<String>,
}

/// Members are written in alphabetical key order, as beava (serde_json without
/// `preserve_order`) writes them.
impl serde::Serialize for DiffEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        enum Member<'a> {
            Str(&'a str),
            List(&'a [String]),
        }
        let mut members: Vec<(&str, Member)> = self
            .wire_fields()
            .into_iter()
            .map(|(name, value)| (name, Member::Str(value)))
            .collect();
        members.push(("kind", Member::Str(self.kind())));
        if let DiffEntry::KeyColsChange { from, to, .. } = self {
            members.push(("from", Member::List(from)));
            members.push(("to", Member::List(to)));
        }
        members.sort_unstable_by_key(|(name, _)| *name);
        let mut map = s.serialize_map(Some(members.len()))?;
        for (name, member) in members {
            match member {
                Member::Str(v) => map.serialize_entry(name, v)?,
                Member::List(v) => map.serialize_entry(name, v)?,
            }
        }
        map.end()
    }
}

impl serde::Serialize for Diff {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("additive", &self.additive)?;
        map.serialize_entry("destructive", &self.destructive)?;
        map.serialize_entry("already_present", &self.already_present)?;
        map.end()
    }
}
