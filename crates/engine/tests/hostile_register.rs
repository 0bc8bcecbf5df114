//! Hostile `/register` payloads: whatever the body, `register` answers (never panics), a refused
//! register changes nothing, and pushes/reads afterwards still work. Mutates a valid payload
//! (the README table) at random places with random JSON, which reaches deep into validation.

use engine::{Engine, EngineConfig, ReadTime};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

fn valid_body() -> Json {
    json!({"nodes":[
        {"kind":"event","name":"AgentStep","schema":{"fields":{
            "session_id":"str","tool":"str","ok":"bool","tokens":"i64","latency_ms":"f64"},"optional_fields":[]}},
        {"kind":"derivation","name":"S","output_kind":"table","upstreams":["AgentStep"],
         "table_primary_key":["session_id"],"ops":[
            {"op":"filter","expr":"(tokens > 0)"},
            {"op":"with_columns","exprs":{"cost":"(tokens * 2)"}},
            {"op":"group_by","keys":["session_id"],"agg":{
                "fail":{"op":"ratio","params":{"window":"5m","where":"(not ok)"}},
                "top":{"op":"top_k","params":{"field":"tool","k":1,"window":"10m"}},
                "p95":{"op":"quantile","params":{"field":"latency_ms","q":0.95,"window":"5m"}},
                "burn":{"op":"sum","params":{"field":"cost"}}}}]}]})
}

fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|v| json!(v)),
        (-1e6f64..1e6).prop_map(|v| json!(v)),
        "[a-z_ ()<>=!'0-9.|]{0,12}".prop_map(Json::String),
        Just(json!("forever")),
        Just(json!("5m")),
        Just(json!("count")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at the `pick`-th node (pre-order) of `body` with `replacement`.
fn mutate(body: &mut Json, pick: usize, replacement: Json) {
    fn walk(v: &mut Json, counter: &mut usize, pick: usize, replacement: &mut Option<Json>) {
        if *counter == pick {
            if let Some(r) = replacement.take() {
                *v = r;
            }
            return;
        }
        *counter += 1;
        match v {
            Json::Array(items) => items
                .iter_mut()
                .for_each(|i| walk(i, counter, pick, replacement)),
            Json::Object(map) => map
                .values_mut()
                .for_each(|i| walk(i, counter, pick, replacement)),
            _ => {}
        }
    }
    walk(body, &mut 0, pick, &mut Some(replacement));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn mutated_payloads_never_panic_and_refusals_change_nothing(
        pick in 0usize..80,
        replacement in arb_json(),
        force in any::<bool>(),
    ) {
        let mut engine = Engine::new(EngineConfig::default());
        let mut body = valid_body();
        mutate(&mut body, pick, replacement);
        if let Some(map) = body.as_object_mut() {
            map.insert("force".into(), json!(force));
        }
        let before = engine.registry_version();
        match engine.register(&body) {
            Ok(_) => {}
            Err(err) => {
                prop_assert_eq!(engine.registry_version(), before);
                prop_assert!(!err.code.is_empty());
            }
        }
        // The engine stays usable whatever happened.
        let registered = engine.register(&valid_body());
        if registered.is_ok() {
            let event = model::Value::Map(vec![
                ("session_id".into(), model::Value::str("s")),
                ("tool".into(), model::Value::str("t")),
                ("ok".into(), model::Value::Bool(false)),
                ("tokens".into(), model::Value::I64(3)),
                ("latency_ms".into(), model::Value::F64(1.5)),
            ]);
            if let Ok(push) = engine.validate_push("AgentStep", &event) {
                engine.apply(&push, 1_000);
                let _ = engine.get("S", "s", None, ReadTime::Now(1_000));
            }
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in arb_json()) {
        let mut engine = Engine::new(EngineConfig::default());
        let _ = engine.register(&body);
        let _ = engine.register(&json!({"nodes": [body]}));
    }
}
