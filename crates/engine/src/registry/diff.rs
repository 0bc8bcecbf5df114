//! Registry diffing (beava-compat §4.6): classify a full-desired-state payload against the
//! registered nodes into additive, destructive and already-present descriptors.
//!
//! Like beava, edited prefix ops and agg params other than `window` are not diffed (see
//! docs/decisions/0003-register-diff.md).

use super::spec::{NodeSpec, OpSpec};
use model::{Diff, DiffEntry};
use serde_json::Value as Json;

/// Diff of `payload` against `registered` (both in their wire form).
pub fn compute(registered: &[NodeSpec], payload: &[NodeSpec]) -> Diff {
    let mut diff = Diff::default();
    let find = |nodes: &'_ [NodeSpec], name: &str| -> Option<usize> {
        nodes.iter().position(|n| n.name() == name)
    };

    let mut new_names: Vec<&NodeSpec> = Vec::new();
    for node in payload {
        if find(registered, node.name()).is_none() {
            new_names.push(node);
        }
    }
    // Registered descriptors missing from the payload: a rename when paired with a new payload
    // descriptor of the same kind, otherwise a removal.
    let mut paired = vec![false; new_names.len()];
    for old in registered {
        if find(payload, old.name()).is_some() {
            continue;
        }
        let pair = new_names.iter().enumerate().position(|(i, new)| {
            !paired[i] && std::mem::discriminant(*new) == std::mem::discriminant(old)
        });
        match pair {
            Some(i) => {
                paired[i] = true;
                diff.destructive.push(DiffEntry::Rename {
                    from: old.name().to_string(),
                    to: new_names[i].name().to_string(),
                });
            }
            None => diff.destructive.push(DiffEntry::AggRemoval {
                table: old.name().to_string(),
                agg: String::new(),
            }),
        }
    }
    for (i, node) in new_names.iter().enumerate() {
        if !paired[i] {
            diff.additive.push(DiffEntry::NewDescriptor {
                descriptor_kind: node.descriptor_kind().to_string(),
                name: node.name().to_string(),
            });
        }
    }

    for node in payload {
        let Some(idx) = find(registered, node.name()) else {
            continue;
        };
        let before = diff.additive.len() + diff.destructive.len();
        compare_node(&registered[idx], node, &mut diff);
        if diff.additive.len() + diff.destructive.len() == before {
            diff.already_present.push(node.name().to_string());
        }
    }
    diff.additive.sort_by_key(additive_order);
    diff.already_present.sort();
    diff
}

fn additive_order(entry: &DiffEntry) -> (u8, String, String) {
    match entry {
        DiffEntry::NewDescriptor {
            descriptor_kind,
            name,
        } => (0, descriptor_kind.clone(), name.clone()),
        DiffEntry::NewAgg { table, agg, .. } => (1, table.clone(), agg.clone()),
        DiffEntry::NewField { event, field, .. } => (2, event.clone(), field.clone()),
        other => (3, other.kind().to_string(), String::new()),
    }
}

fn type_name(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compare_node(old: &NodeSpec, new: &NodeSpec, diff: &mut Diff) {
    match (old, new) {
        (NodeSpec::Event(o), NodeSpec::Event(n)) => {
            for (field, old_ty) in &o.schema.fields {
                match n.schema.fields.get(field) {
                    Some(new_ty) if new_ty == old_ty => {}
                    Some(new_ty) => diff.destructive.push(DiffEntry::TypeChange {
                        field: format!("{}.{}", o.name, field),
                        from: type_name(old_ty),
                        to: type_name(new_ty),
                    }),
                    None => diff.destructive.push(DiffEntry::TypeChange {
                        field: format!("{}.{}", o.name, field),
                        from: type_name(old_ty),
                        to: "<absent>".to_string(),
                    }),
                }
            }
            for (field, new_ty) in &n.schema.fields {
                if !o.schema.fields.contains_key(field) {
                    diff.additive.push(DiffEntry::NewField {
                        event: n.name.clone(),
                        field: field.clone(),
                        ty: type_name(new_ty),
                    });
                }
            }
            let o_opt: std::collections::BTreeSet<_> = o.schema.optional_fields.iter().collect();
            let n_opt: std::collections::BTreeSet<_> = n.schema.optional_fields.iter().collect();
            for field in o_opt.symmetric_difference(&n_opt) {
                if o.schema.fields.contains_key(*field) && n.schema.fields.contains_key(*field) {
                    let ty = type_name(&n.schema.fields[*field]);
                    let (from, to) = if o_opt.contains(field) {
                        (format!("optional {ty}"), ty)
                    } else {
                        (ty.clone(), format!("optional {ty}"))
                    };
                    diff.destructive.push(DiffEntry::TypeChange {
                        field: format!("{}.{}", o.name, field),
                        from,
                        to,
                    });
                }
            }
        }
        (NodeSpec::Derivation(o), NodeSpec::Derivation(n)) => {
            let table = n.name.clone();
            if o.upstreams != n.upstreams || o.output_kind != n.output_kind {
                diff.destructive.push(DiffEntry::AggRemoval {
                    table: table.clone(),
                    agg: String::new(),
                });
                return;
            }
            // beava reports only a shrinking prefix-op list; edited or added prefix ops are
            // not detected (docs/decisions/0003-register-diff.md).
            let o_prefix: Vec<&OpSpec> = prefix_ops(&o.ops);
            let n_prefix: Vec<&OpSpec> = prefix_ops(&n.ops);
            for (i, op) in o_prefix.iter().enumerate().skip(n_prefix.len()) {
                diff.destructive.push(DiffEntry::OpRemoval {
                    table: table.clone(),
                    agg: format!("{}[{}]", op.op_name(), i),
                });
            }
            let (o_keys, o_aggs) = group_parts(o);
            let (n_keys, n_aggs) = group_parts(n);
            for (feature, o_def) in o_aggs.into_iter().flatten() {
                match n_aggs.and_then(|m| m.get(feature)) {
                    None => diff.destructive.push(DiffEntry::AggRemoval {
                        table: table.clone(),
                        agg: feature.clone(),
                    }),
                    Some(n_def) => compare_agg(&table, feature, o_def, n_def, diff),
                }
            }
            if let Some(n_aggs) = n_aggs {
                for (feature, n_def) in n_aggs {
                    if o_aggs.and_then(|m| m.get(feature)).is_none() {
                        diff.additive.push(DiffEntry::NewAgg {
                            table: table.clone(),
                            agg: feature.clone(),
                            source: n_def
                                .get("op")
                                .and_then(Json::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        });
                    }
                }
            }
            // beava reports the group keys and the primary key separately.
            if o_keys != n_keys {
                diff.destructive.push(DiffEntry::KeyColsChange {
                    table: table.clone(),
                    from: keys_json(o_keys),
                    to: keys_json(n_keys),
                });
            }
            if o.table_primary_key != n.table_primary_key {
                diff.destructive.push(DiffEntry::KeyColsChange {
                    table,
                    from: keys_json(o.table_primary_key.as_deref()),
                    to: keys_json(n.table_primary_key.as_deref()),
                });
            }
        }
        (old, new) => diff.destructive.push(DiffEntry::AggRemoval {
            table: new.name().to_string(),
            agg: if old.descriptor_kind() == new.descriptor_kind() {
                String::new()
            } else {
                format!("{} -> {}", old.descriptor_kind(), new.descriptor_kind())
            },
        }),
    }
}

fn prefix_ops(ops: &[OpSpec]) -> Vec<&OpSpec> {
    ops.iter()
        .take_while(|op| !matches!(op, OpSpec::GroupBy { .. }))
        .collect()
}

type AggMap = serde_json::Map<String, Json>;

fn group_parts(d: &super::spec::DerivationSpec) -> (Option<&[String]>, Option<&AggMap>) {
    match d.group_by() {
        Some((keys, agg)) => (Some(keys), Some(agg)),
        None => (None, None),
    }
}

fn keys_json(keys: Option<&[String]>) -> Vec<String> {
    keys.unwrap_or_default().to_vec()
}

fn compare_agg(table: &str, feature: &str, o: &Json, n: &Json, diff: &mut Diff) {
    if o == n {
        return;
    }
    let op = |j: &Json| j.get("op").cloned();
    let params = |j: &Json| {
        let mut p = j
            .get("params")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        let window = p.remove("window");
        (p, window)
    };
    let (_, o_window) = params(o);
    let (_, n_window) = params(n);
    // beava compares the op string and the window only; other params are not diffed.
    if op(o) != op(n) {
        // A changed op is the old feature removed and a new one added.
        diff.destructive.push(DiffEntry::AggRemoval {
            table: table.to_string(),
            agg: feature.to_string(),
        });
        diff.additive.push(DiffEntry::NewAgg {
            table: table.to_string(),
            agg: feature.to_string(),
            source: op(n)
                .as_ref()
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
        });
        return;
    }
    if o_window != n_window {
        let show = |w: Option<Json>| match w {
            Some(Json::String(s)) => s,
            Some(other) => other.to_string(),
            None => "<none>".to_string(),
        };
        diff.destructive.push(DiffEntry::WindowChange {
            agg: format!("{table}.{feature}"),
            from: show(o_window),
            to: show(n_window),
        });
    }
}
