//! Memory footprint of the README entity (a headline metric: beava uses ~16.6 KB per entity for
//! an 8-feature table). Guards against regressions in `AggState`'s inline size and in the heap
//! a typical entity (1–2 events, 1–2 window buckets) owns.
//!
//! `cargo test -p agg --test footprint -- --nocapture` prints the figures.

use agg::{compile, AggSpec, AggState, CompileContext};
use model::{Column, FieldType, RowSchema, Value};
use serde_json::json;

fn readme_table() -> (RowSchema, Vec<(&'static str, AggSpec)>) {
    let cols = [
        ("session_id", FieldType::Str),
        ("tool", FieldType::Str),
        ("action", FieldType::Str),
        ("tokens", FieldType::I64),
        ("latency_ms", FieldType::F64),
        ("ok", FieldType::Bool),
        ("risky", FieldType::Bool),
    ];
    let schema = RowSchema {
        columns: cols
            .iter()
            .map(|(n, t)| Column {
                name: (*n).into(),
                ty: Some(*t),
                optional: false,
            })
            .collect(),
    };
    let features = [
        (
            "failure_rate_5m",
            "ratio",
            json!({"window": "5m", "where": "(not ok)"}),
        ),
        (
            "top_tool_10m",
            "top_k",
            json!({"field": "tool", "k": 1, "window": "10m"}),
        ),
        (
            "unique_tools_10m",
            "n_unique",
            json!({"field": "tool", "window": "10m"}),
        ),
        (
            "token_burn_1m",
            "sum",
            json!({"field": "tokens", "window": "1m"}),
        ),
        (
            "p95_latency_5m",
            "quantile",
            json!({"field": "latency_ms", "q": 0.95, "window": "5m"}),
        ),
        ("risky_streak", "streak", json!({"where": "risky"})),
        ("last_action", "last", json!({"field": "action"})),
    ];
    let specs = features
        .iter()
        .map(|(name, op, p)| {
            let ctx = CompileContext {
                feature: name,
                path: "nodes[1].ops[0].agg",
                schema: &schema,
            };
            let p = p.as_object().unwrap().clone();
            (*name, compile(op, &p, &ctx).unwrap())
        })
        .collect();
    (schema, specs)
}

fn event(tool: &str, action: &str, tokens: i64, latency: f64, ok: bool) -> Vec<Value> {
    vec![
        Value::str("s1"),
        Value::str(tool),
        Value::str(action),
        Value::I64(tokens),
        Value::F64(latency),
        Value::Bool(ok),
        Value::Bool(false),
    ]
}

fn footprint(gap_ms: i64) -> (usize, usize) {
    let (_, specs) = readme_table();
    let mut states: Vec<AggState> = specs.iter().map(|(_, s)| s.new_state()).collect();
    let t0 = 1_795_255_704_674;
    let events = [
        (t0, event("search", "query", 120, 85.0, true)),
        (
            t0 + gap_ms,
            event("browser", "open_page", 300, 140.0, false),
        ),
    ];
    for (t, row) in &events {
        for ((_, spec), state) in specs.iter().zip(states.iter_mut()) {
            let passes = match spec.op_name() {
                "ratio" => row[5] == Value::Bool(false),
                "streak" => row[6] == Value::Bool(true),
                _ => true,
            };
            spec.apply(state, row, passes, *t);
        }
    }
    let inline = states.len() * std::mem::size_of::<AggState>();
    let heap: usize = states.iter().map(AggState::heap_bytes).sum();
    for ((name, _), state) in specs.iter().zip(&states) {
        println!("  {name:<18} heap {:>5} B", state.heap_bytes());
    }
    (inline, heap)
}

#[test]
fn readme_entity_is_small() {
    assert_eq!(std::mem::size_of::<AggState>(), 24);
    println!(
        "size_of::<AggState>() = {}",
        std::mem::size_of::<AggState>()
    );
    println!("README entity, 2 events in one bucket:");
    let (inline, heap) = footprint(1);
    println!(
        "  total: {inline} B inline + {heap} B heap = {} B",
        inline + heap
    );
    assert!(inline + heap <= 512, "{inline} + {heap}");
    println!("README entity, 2 events 20 s apart (two buckets per window):");
    let (inline, heap) = footprint(20_000);
    println!(
        "  total: {inline} B inline + {heap} B heap = {} B",
        inline + heap
    );
    assert!(inline + heap <= 512, "{inline} + {heap}");
}
