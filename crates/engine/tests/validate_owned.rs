//! `Engine::validate_push_owned` (used by the store's writer) gives exactly what
//! `Engine::validate_push` gives, for accepted and refused pushes alike.

use engine::{Engine, EngineConfig};
use model::{DecodeLimits, Value, ValueSeed};
use serde::de::DeserializeSeed;
use serde_json::{json, Value as Json};

fn value(json: Json) -> Value {
    ValueSeed::new(DecodeLimits::default())
        .deserialize(json)
        .expect("decodable test value")
}

#[test]
fn owned_and_borrowed_validation_agree() {
    let mut engine = Engine::new(EngineConfig::default());
    engine
        .register(&json!({"nodes":[
            {"kind":"event","name":"Click","schema":{"fields":{"user":"str","page":"str","ms":"i64","ok":"bool","x":"f64","extra":"json"},"optional_fields":["ms","x","extra"]}},
            {"kind":"derivation","name":"Activity","output_kind":"table","upstreams":["Click"],
             "table_primary_key":["user"],"ops":[{"op":"group_by","keys":["user"],"agg":{"n":{"op":"count","params":{}}}}]}
        ]}))
        .expect("registers");
    let bodies = [
        json!({"user":"a","page":"/","ok":true}),
        json!({"ok":false,"page":"/a-rather-long-page-name-that-is-not-inline","user":"b","ms":7,"x":1.5}),
        json!({"user":"a","page":"/","ok":true,"extra":{"k":[1,2,{"z":null}]}}),
        json!({"user":"a","user":"b","page":"/","ok":true}),
        json!({"user":"a","page":"/","ok":true,"ms":null}),
        json!({"user":"a","page":"/"}),
        json!({"user":"a","page":"/","ok":null}),
        json!({"user":"a","page":"/","ok":"yes"}),
        json!({"user":"a","page":"/","ok":true,"ms":1.5}),
        json!({"user":"a","page":"/","ok":true,"nope":1}),
        json!({"user":"a","page":"/","ok":true,"event_time":1}),
        json!({"user":"a","page":"/","ok":true,"event_time_ms":1}),
        json!({"user":"a\u{7}","page":"/","ok":true}),
        json!({"us\u{1}er":"a","page":"/","ok":true}),
        json!([1, 2]),
        json!("text"),
        json!(null),
    ];
    for body in bodies {
        for event in ["Click", "Nope", "Cl\u{0}ick"] {
            let body = value(body.clone());
            let borrowed = engine.validate_push(event, &body);
            let owned = engine.validate_push_owned(event, body.clone());
            assert_eq!(owned, borrowed, "event {event:?}, body {body:?}");
        }
    }
    let mut nan = value(json!({"user":"a","page":"/","ok":true}));
    if let Value::Map(members) = &mut nan {
        members.push(("x".into(), Value::F64(f64::NAN)));
    }
    assert_eq!(
        engine.validate_push_owned("Click", nan.clone()),
        engine.validate_push("Click", &nan)
    );
}
