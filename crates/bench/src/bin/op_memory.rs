//! Bytes per entity per operator: for each of the 55 op strings (lifetime, and windowed where the
//! op keeps 64-bucket windowed state) a one-feature table is loaded with `ENTITIES` entities and
//! 1, 2 and 10 events each; the engine's own accounting (`Engine::state_memory_bytes`) is divided
//! by the entity count.
//!
//! `cargo run -p bench --release --bin op_memory -- [entities]`
//!
//! Columns: `entity` = everything the table holds per entity (map entry, `Arc`'d entity header,
//! feature state); `feature` = the feature's share alone (inline `AggState` + its heap), i.e.
//! `entity` minus the fixed per-entity overhead printed in the header.
//!
//! Events per entity are 60 s apart (so a `window="1h"` op fills one sub-bucket per event) and
//! carry a distinct `s` string and a distinct `x` value per event (worst case for sketches and
//! distinct sets); `b` alternates; `lat`/`lon` move.

use engine::{Engine, EngineConfig};
use serde_json::{json, Value as Json};

fn engine_for(op: &str, params: &Json) -> Engine {
    let mut engine = Engine::new(EngineConfig::default());
    let body = json!({"nodes":[
        {"kind":"event","name":"E","schema":{"fields":{
            "k":"str","x":"f64","s":"str","b":"bool","lat":"f64","lon":"f64"}}},
        {"kind":"derivation","name":"T","output_kind":"table","upstreams":["E"],"table_primary_key":["k"],
         "ops":[{"op":"group_by","keys":["k"],"agg":{"f":{"op":op,"params":params}}}]}]});
    if let Err(e) = engine.register(&body) {
        panic!("{op} {params}: {e:?}");
    }
    engine
}

/// `(op, params, windowed variant supported)`; the windowed variant adds `"window": "1h"`.
fn ops() -> Vec<(&'static str, Json, bool)> {
    let x = || json!({"field": "x"});
    let s = || json!({"field": "s"});
    let hl = || json!({"field": "x", "half_life": "1h"});
    let geo = || json!({"lat_field": "lat", "lon_field": "lon"});
    vec![
        ("count", json!({}), true),
        ("sum", x(), true),
        ("mean", x(), true),
        ("min", x(), true),
        ("max", x(), true),
        ("var", x(), true),
        ("std", x(), true),
        ("ratio", json!({"where": "b"}), true),
        ("n_unique", s(), true),
        ("quantile", json!({"field": "x", "q": 0.5}), true),
        ("top_k", json!({"field": "s", "k": 10}), true),
        ("bloom_member", s(), false),
        ("entropy", s(), true),
        ("first", s(), false),
        ("last", s(), false),
        ("first_n", json!({"field": "x", "n": 10}), false),
        ("last_n", json!({"field": "x", "n": 10}), false),
        ("lag", json!({"field": "x", "n": 1}), false),
        ("first_seen", json!({}), false),
        ("last_seen", json!({}), false),
        ("age", json!({}), false),
        ("has_seen", json!({}), false),
        ("time_since", json!({}), false),
        ("time_since_last_n", json!({"n": 5}), false),
        ("streak", json!({"where": "b"}), false),
        ("max_streak", json!({"where": "b"}), false),
        ("negative_streak", json!({"where": "b"}), false),
        ("first_seen_in_window", json!({"window": "1h"}), false),
        ("ewma", hl(), false),
        ("ema", hl(), false),
        ("ewvar", hl(), false),
        ("ew_zscore", hl(), false),
        ("decayed_sum", hl(), false),
        ("decayed_count", json!({"half_life": "1h"}), false),
        ("twa", x(), false),
        ("rate_of_change", x(), false),
        ("inter_arrival_stats", json!({}), false),
        ("burst_count", json!({"sub_window": "1m"}), false),
        ("delta_from_prev", x(), false),
        ("trend", x(), false),
        ("trend_residual", x(), false),
        ("outlier_count", x(), false),
        ("value_change_count", s(), false),
        ("z_score", x(), false),
        (
            "histogram",
            json!({"field": "x", "buckets": [2.0, 4.0, 8.0]}),
            false,
        ),
        ("hour_of_day_histogram", json!({}), false),
        ("dow_hour_histogram", json!({}), false),
        ("seasonal_deviation", x(), false),
        ("event_type_mix", s(), false),
        ("most_recent_n", json!({"field": "s", "n": 10}), false),
        (
            "reservoir_sample",
            json!({"field": "x", "samples": 10}),
            false,
        ),
        ("geo_velocity", geo(), false),
        ("geo_distance", geo(), false),
        ("geo_spread", geo(), false),
        (
            "distance_from_home",
            json!({"lat_field": "lat", "lon_field": "lon", "samples": 100}),
            false,
        ),
    ]
}

/// Per-entity bytes after each of `checkpoints` events (cumulative), averaged over `entities`:
/// `(entity, feature)`, the feature being its inline `AggState` and heap.
fn measure(op: &str, params: &Json, entities: u64, checkpoints: &[u64]) -> Vec<(f64, f64)> {
    let mut engine = engine_for(op, params);
    let mut out = Vec::new();
    let mut done = 0;
    let t_base: i64 = 1_700_000_000_000;
    for &target in checkpoints {
        for i in done..target {
            for e in 0..entities {
                let event = bench::to_value(json!({
                    "k": format!("e{e}"),
                    "x": (i as f64) * 1.5 + e as f64,
                    "s": format!("v{i}-{}", e % 7),
                    "b": i % 2 == 0,
                    "lat": 48.0 + i as f64 * 0.01,
                    "lon": 2.0 + i as f64 * 0.02,
                }));
                let push = engine.validate_push("E", &event).expect("valid event");
                engine.apply(&push, t_base + i as i64 * 60_000 + e as i64);
            }
        }
        done = target;
        assert_eq!(engine.stats().entity_count_resident, entities);
        let feature_heap: usize = engine.feature_heap_bytes().iter().map(|f| f.2).sum();
        let per_entity = |bytes: usize| bytes as f64 / entities as f64;
        out.push((
            per_entity(engine.state_memory_bytes()),
            per_entity(feature_heap) + std::mem::size_of::<agg::AggState>() as f64,
        ));
    }
    out
}

fn main() {
    let entities: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let checkpoints = [1u64, 2, 10];
    println!("# {entities} entities; `entity` includes the table overhead, `feature` excludes it");
    println!("| op | variant | entity B @1 | @2 | @10 | feature B @1 | @2 | @10 |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (op, params, windowable) in ops() {
        let mut variants = vec![("lifetime", params.clone())];
        if windowable {
            let mut w = params.clone();
            w["window"] = json!("1h");
            variants.push(("window 1h", w));
        }
        for (variant, p) in variants {
            let bytes = measure(op, &p, entities, &checkpoints);
            let cells: Vec<String> = bytes.iter().map(|b| format!("{:.0}", b.0)).collect();
            let feature: Vec<String> = bytes.iter().map(|b| format!("{:.0}", b.1)).collect();
            println!(
                "| `{op}` | {variant} | {} | {} |",
                cells.join(" | "),
                feature.join(" | ")
            );
        }
    }
}
