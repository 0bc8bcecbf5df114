//! The registry: registered nodes (in wire form, for diffing) and their compiled form, and the
//! `/register` algorithm (beava-compat §4.4): pre-checks, strict decode, diff, dry-run, force,
//! validation, apply.

pub mod compile;
pub mod diff;
pub mod spec;

use compact_str::CompactString;
use compile::CompiledRegistry;
use model::{Diff, DiffEntry, RegisterError};
use serde_json::Value as Json;
use spec::{NodeSpec, RegisterRequest};
use std::sync::Arc;

/// Nodes and compiled form are behind `Arc`s: a snapshot view shares them (O(1)), and a
/// register replaces them whole.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    version: u64,
    nodes: Arc<[NodeSpec]>,
    compiled: Arc<CompiledRegistry>,
}

/// A successful, applied registration: the new compiled registry replaces the old one; tables
/// whose definition (or any upstream's) changed lose their state.
#[derive(Debug)]
pub struct Transition {
    /// Names of tables whose state carries over unchanged.
    pub kept_tables: Vec<CompactString>,
}

/// What `Registry::register` decided.
#[derive(Debug)]
pub enum RegisterDecision {
    DryRun(Diff),
    /// Nothing new (no new descriptor, no force): version unchanged.
    NoOp {
        registered: Vec<String>,
        already_present: Vec<String>,
    },
    Applied {
        registered: Vec<String>,
        added: Vec<String>,
        already_present: Vec<String>,
        transition: Transition,
    },
}

impl Registry {
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn compiled(&self) -> &CompiledRegistry {
        &self.compiled
    }

    /// The compiled form as shared: what an I/O thread validates pushes against
    /// (`push::prevalidate`), and how the writer tells whether it is still current.
    pub fn compiled_shared(&self) -> &Arc<CompiledRegistry> {
        &self.compiled
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn nodes(&self) -> &[NodeSpec] {
        &self.nodes
    }

    /// Test-mode reset: empty registry, version + 1.
    pub fn reset(&mut self) {
        self.nodes = Arc::default();
        self.compiled = Arc::default();
        self.version += 1;
    }

    /// Rebuilds a registry from a snapshot: the nodes are compiled again (they were valid when
    /// registered; a failure here means the snapshot does not belong to this build).
    pub fn restore(version: u64, nodes: Vec<NodeSpec>) -> Result<Registry, RegisterError> {
        let compiled = compile::compile(&nodes)?;
        Ok(Registry {
            version,
            nodes: nodes.into(),
            compiled: Arc::new(compiled),
        })
    }

    /// Runs the `/register` algorithm on a raw body.
    pub fn register(
        &mut self,
        body: &Json,
        governance: bool,
    ) -> Result<RegisterDecision, RegisterError> {
        precheck(body, governance)?;
        let request: RegisterRequest = serde_json::from_value(body.clone())
            .map_err(|e| RegisterError::new("invalid_registration", "<body>", e.to_string()))?;
        for node in &request.nodes {
            if let NodeSpec::Event(event) = node {
                for ty in event.schema.fields.values() {
                    compile::field_type(ty)?;
                }
            }
        }
        let registered_names: Vec<String> =
            request.nodes.iter().map(|n| n.name().to_string()).collect();

        let diff = diff::compute(&self.nodes, &request.nodes);
        if request.dry_run {
            return Ok(RegisterDecision::DryRun(diff));
        }
        if !diff.destructive.is_empty() && !request.force {
            return Err(RegisterError {
                diff: Some(Box::new(diff)),
                ..RegisterError::new(
                    "force_required",
                    "",
                    "Destructive registry change requires force=true. See diff for details.",
                )
            });
        }
        if request.nodes.is_empty() {
            return Ok(RegisterDecision::NoOp {
                registered: registered_names,
                already_present: diff.already_present,
            });
        }

        // Validate the payload as sent (rules 1-11).
        let payload_compiled = compile::compile(&request.nodes)?;

        // Without force only new descriptors apply; with force any change does. No change at
        // all is a no-op either way (beava: version unchanged, `added: []`).
        let has_new = diff
            .additive
            .iter()
            .any(|e| matches!(e, DiffEntry::NewDescriptor { .. }));
        let has_change = !diff.additive.is_empty() || !diff.destructive.is_empty();
        if (!request.force && !has_new) || (request.force && !has_change) {
            return Ok(RegisterDecision::NoOp {
                registered: registered_names,
                already_present: diff.already_present,
            });
        }

        // beava: when `force` replaces or changes an existing descriptor, `added` is every
        // payload name in payload order; otherwise it is the new descriptors in diff order.
        let replaces_existing = !diff.destructive.is_empty()
            || diff
                .additive
                .iter()
                .any(|e| !matches!(e, DiffEntry::NewDescriptor { .. }));
        let new_descriptors: Vec<String> = diff
            .additive
            .iter()
            .filter_map(|e| match e {
                DiffEntry::NewDescriptor { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        let (final_nodes, compiled, added) = if request.force {
            let added = if replaces_existing {
                registered_names.clone()
            } else {
                new_descriptors
            };
            (request.nodes, payload_compiled, added)
        } else {
            // Without force, existing descriptors keep their registered definition: additive
            // changes to them (`new_agg`, `new_field`) are a no-op, as in beava.
            let final_nodes: Vec<NodeSpec> = request
                .nodes
                .iter()
                .map(|n| {
                    self.nodes
                        .iter()
                        .find(|old| old.name() == n.name())
                        .unwrap_or(n)
                        .clone()
                })
                .collect();
            let compiled = compile::compile(&final_nodes)?;
            (final_nodes, compiled, new_descriptors)
        };

        let kept_tables = compiled
            .tables
            .iter()
            .filter(|t| unchanged_with_ancestors(&self.nodes, &final_nodes, &t.name))
            .map(|t| t.name.clone())
            .collect();
        self.nodes = final_nodes.into();
        self.compiled = Arc::new(compiled);
        self.version += 1;
        Ok(RegisterDecision::Applied {
            registered: registered_names,
            added,
            already_present: diff.already_present,
            transition: Transition { kept_tables },
        })
    }
}

/// True if `name` and every node it transitively reads from are defined identically before and
/// after (so its state is still meaningful).
fn unchanged_with_ancestors(old: &[NodeSpec], new: &[NodeSpec], name: &str) -> bool {
    let mut stack = vec![name.to_string()];
    let mut seen = std::collections::HashSet::new();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let before = old.iter().find(|n| n.name() == name);
        let after = new.iter().find(|n| n.name() == name);
        match (before, after) {
            (Some(b), Some(a)) if b == a => {
                if let NodeSpec::Derivation(d) = a {
                    stack.extend(d.upstreams.iter().cloned());
                }
            }
            _ => return false,
        }
    }
    true
}

/// beava's pre-checks on the raw JSON, in its order: join/union, legacy event-time keys,
/// unsupported node kinds, then lifetime-op memory governance.
fn precheck(body: &Json, governance: bool) -> Result<(), RegisterError> {
    let Some(nodes) = body.get("nodes").and_then(Json::as_array) else {
        return Ok(()); // the strict decode reports the missing/invalid `nodes`
    };
    if nodes.len() > model::limits::REGISTER_NODES_MAX {
        return Err(RegisterError::new(
            "invalid_registration",
            "nodes",
            format!("more than {} nodes", model::limits::REGISTER_NODES_MAX),
        ));
    }
    let ops_of = |node: &'_ Json| -> Vec<Json> {
        node.get("ops")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let name_of = |node: &'_ Json| -> String {
        node.get("name")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    for (i, node) in nodes.iter().enumerate() {
        let name = name_of(node);
        for (j, op) in ops_of(node).iter().enumerate() {
            match op.get("op").and_then(Json::as_str) {
                Some("join") => {
                    return Err(RegisterError::new(
                        "feature_removed_no_joins_v0",
                        format!("nodes[{i}].{name}.ops[{j}]"),
                        "join was removed in v0; register separate tables instead",
                    ))
                }
                Some("union") => {
                    return Err(RegisterError::new(
                        "feature_removed_no_unions_v0",
                        format!("nodes[{i}].{name}.ops[{j}]"),
                        "union was removed in v0; push each source to its own event instead",
                    ))
                }
                _ => {}
            }
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        let name = name_of(node);
        if node.get("event_time_field").is_some() {
            return Err(RegisterError::new(
                "unknown_field_event_time_v0",
                format!("nodes[{i}].{name}.event_time_field"),
                "event time is not supported: weir uses processing time",
            ));
        }
        if node.get("tolerate_delay_ms").is_some() {
            return Err(RegisterError::new(
                "unknown_field_tolerate_delay_v0",
                format!("nodes[{i}].{name}.tolerate_delay_ms"),
                "tolerate_delay_ms is not supported: weir uses processing time",
            ));
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        match node.get("kind").and_then(Json::as_str) {
            Some("event") | Some("derivation") | None => {}
            Some(kind) => {
                return Err(RegisterError::new(
                    "unsupported_node_kind",
                    format!("nodes[{i}].{}.kind", name_of(node)),
                    format!(
                        "Node kind `{kind}` is not supported in v0 (supported kinds: \"event\", \"derivation\")"
                    ),
                ))
            }
        }
    }
    if governance {
        for (i, node) in nodes.iter().enumerate() {
            for (j, op) in ops_of(node).iter().enumerate() {
                if op.get("op").and_then(Json::as_str) != Some("group_by") {
                    continue;
                }
                let Some(aggs) = op.get("agg").and_then(Json::as_object) else {
                    continue;
                };
                for (feature, def) in aggs {
                    // A missing `op` is governed as the unknown op `""` (beava).
                    let op_name = def.get("op").and_then(Json::as_str).unwrap_or_default();
                    let empty = serde_json::Map::new();
                    let params = def
                        .get("params")
                        .and_then(Json::as_object)
                        .unwrap_or(&empty);
                    if !params.get("window").is_some_and(Json::is_string) {
                        // beava's governance paths name the node: `nodes[1].T.ops[0].agg.f`.
                        let name = name_of(node);
                        agg::governance_check(
                            op_name,
                            params,
                            &format!("nodes[{i}].{name}.ops[{j}].agg.{feature}"),
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}
