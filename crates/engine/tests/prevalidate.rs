//! `push::prevalidate` (the I/O threads' validation, decision 0029) accepts exactly the pushes
//! `Engine::validate_push_owned` accepts, with the same slots, and leaves every other one to
//! the writer; a push validated against a registry that changed before it reached the writer
//! is validated again against the new one.

use engine::push::prevalidate;
use engine::{Engine, EngineConfig, PrevalidatedPush, Prevalidation};
use model::{DecodeLimits, Value, ValueSeed};
use proptest::prelude::*;
use serde::de::DeserializeSeed;
use serde_json::{json, Value as Json};

fn value(json: Json) -> Value {
    ValueSeed::new(DecodeLimits::default())
        .deserialize(json)
        .expect("decodable test value")
}

fn click_nodes(user_type: &str, optional: &[&str]) -> Json {
    json!({"nodes":[
        {"kind":"event","name":"Click","schema":{"fields":{"user":user_type,"page":"str","ms":"i64","ok":"bool","x":"f64","extra":"json"},"optional_fields":optional}},
        {"kind":"derivation","name":"Activity","output_kind":"table","upstreams":["Click"],
         "table_primary_key":["user"],"ops":[{"op":"group_by","keys":["user"],"agg":{"n":{"op":"count","params":{}}}}]}
    ]})
}

fn engine() -> Engine {
    let mut engine = Engine::new(EngineConfig::default());
    engine
        .register(&click_nodes("str", &["ms", "x", "extra"]))
        .expect("registers");
    engine
}

fn has_null_member(body: &Value) -> bool {
    matches!(body, Value::Map(members) if members.iter().any(|(_, v)| v.is_null()))
}

fn has_repeated_member(body: &Value) -> bool {
    match body {
        Value::Map(members) => members
            .iter()
            .enumerate()
            .any(|(i, (name, _))| members[..i].iter().any(|(seen, _)| seen == name)),
        _ => false,
    }
}

/// The contract, for one push: accepted ⇒ the writer's validation accepts the same push (and
/// `accept` against the same registry returns it as is); a body handed back is untouched;
/// everything the writer accepts without explicit nulls or repeated members is accepted here.
fn check(engine: &Engine, event: &str, body: &Value) -> Result<(), TestCaseError> {
    check_slotted(engine, event, body)?;
    let expected = engine.validate_push_owned(event, body.clone());
    match prevalidate(&engine.compiled_registry(), event, body.clone()) {
        Prevalidation::Accepted(push) => {
            prop_assert_eq!(push.event(), event);
            let accepted = engine.accept_prevalidated(push);
            prop_assert!(
                expected.is_ok(),
                "accepted what the writer refuses: {body:?}"
            );
            prop_assert_eq!(accepted, expected);
        }
        Prevalidation::LeftToWriter(returned) => {
            if let Some(returned) = returned {
                prop_assert_eq!(&returned, body);
            }
            let must_accept = expected.is_ok()
                && matches!(body, Value::Map(_))
                && !has_null_member(body)
                && !has_repeated_member(body);
            prop_assert!(
                !must_accept,
                "left an acceptable push to the writer: {body:?}"
            );
        }
    }
    Ok(())
}

/// `prevalidate_slots` on the slots a decoder would fill from `body` (when it could: an event
/// that exists, distinct member names that are all columns, no null) agrees with `prevalidate`.
fn check_slotted(engine: &Engine, event: &str, body: &Value) -> Result<(), TestCaseError> {
    let compiled = engine.compiled_registry();
    let (Some(&event_id), Value::Map(members)) = (compiled.event_by_name.get(event), body) else {
        return Ok(());
    };
    let schema = &compiled.events[event_id].schema;
    let mut fields = vec![Value::Null; schema.columns.len()];
    for (name, value) in members {
        match schema.slot_of(name) {
            Some(slot) if fields[slot].is_null() && !value.is_null() => {
                fields[slot] = value.clone();
            }
            _ => return Ok(()),
        }
    }
    let slotted = engine::push::prevalidate_slots(&compiled, event_id, fields);
    match (slotted, prevalidate(&compiled, event, body.clone())) {
        (Some(slotted), Prevalidation::Accepted(mapped)) => {
            prop_assert_eq!(
                engine.accept_prevalidated(slotted),
                engine.accept_prevalidated(mapped)
            );
        }
        (None, Prevalidation::LeftToWriter(_)) => {}
        (slotted, mapped) => {
            prop_assert!(false, "slots {slotted:?}, map {mapped:?}: {body:?}");
        }
    }
    Ok(())
}

#[test]
fn accepts_what_the_writer_accepts_and_nothing_else() {
    let engine = engine();
    let bodies = [
        json!({"user":"a","page":"/","ok":true}),
        json!({"ok":false,"page":"/a-rather-long-page-name-that-is-not-inline","user":"b","ms":7,"x":1.5}),
        json!({"user":"a","page":"/","ok":true,"extra":{"k":[1,2,{"z":null}]}}),
        json!({"user":"a","page":"/","ok":true,"extra":{"k\u{1}":1}}),
        json!({"user":"a","page":"/","ok":true,"extra":["\u{85}"]}),
        json!({"user":"a","page":"/","ok":true,"ms":null}),
        json!({"user":"a","page":"/"}),
        json!({"user":"a","page":"/","ok":null}),
        json!({"user":"a","page":"/","ok":"yes"}),
        json!({"user":"a","page":"/","ok":true,"ms":1.5}),
        json!({"user":"a","page":"/","ok":true,"x":7}),
        json!({"user":"a","page":"/","ok":true,"nope":1}),
        json!({"user":"a","page":"/","ok":true,"event_time":1}),
        json!({"user":"a","page":"/","ok":true,"event_time_ms":1}),
        json!({"user":"a\u{7}","page":"/","ok":true}),
        json!({"user":"a\u{9f}","page":"/","ok":true}),
        json!({"us\u{1}er":"a","page":"/","ok":true}),
        json!({}),
        json!([1, 2]),
        json!("text"),
        json!(null),
    ];
    for body in bodies {
        for event in ["Click", "Nope", "Cl\u{0}ick", "Activity"] {
            check(&engine, event, &value(body.clone())).unwrap();
        }
    }
    let mut nan = value(json!({"user":"a","page":"/","ok":true}));
    if let Value::Map(members) = &mut nan {
        members.push(("x".into(), Value::F64(f64::INFINITY)));
    }
    check(&engine, "Click", &nan).unwrap();
    let repeated = Value::Map(vec![
        ("user".into(), Value::Str("a".into())),
        ("page".into(), Value::I64(1)),
        ("page".into(), Value::Str("/".into())),
        ("ok".into(), Value::Bool(true)),
    ]);
    check(&engine, "Click", &repeated).unwrap();
}

fn member_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::NEG_INFINITY),
            Just(-0.0)
        ]
        .prop_map(Value::F64),
        "[a-z/]{0,30}|.{0,4}".prop_map(|s| Value::Str(s.into())),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::List),
            prop::collection::vec(("[a-z]{1,3}|.{1,2}", inner), 0..3).prop_map(|members| {
                Value::Map(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
            }),
        ]
    })
}

fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["user", "page", "ms", "ok", "x", "extra"]).prop_map(String::from),
        1 => prop::sample::select(vec!["nope", "event_time", "us\u{1}er", "User"]).prop_map(String::from),
    ]
}

fn body() -> impl Strategy<Value = Value> {
    prop_oneof![
        9 => prop::collection::vec((member_name(), member_value()), 0..8)
            .prop_map(|members| Value::Map(members.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        1 => member_value(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_pushes_meet_the_contract(
        event in prop::sample::select(vec!["Click", "Click", "Click", "Nope", "Cl\u{0}ick"]),
        body in body(),
    ) {
        check(&engine(), event, &body)?;
    }
}

/// Prevalidates against the engine's registry as it is now.
fn prevalidated(engine: &Engine, body: &Value) -> PrevalidatedPush {
    match prevalidate(&engine.compiled_registry(), "Click", body.clone()) {
        Prevalidation::Accepted(push) => push,
        other => panic!("expected an accepted push, got {other:?}"),
    }
}

#[test]
fn a_registry_change_in_between_validates_again_against_the_new_one() {
    // Members in schema order, so the rebuilt map is the pushed one.
    let bodies = [
        json!({"user":"a","page":"/","ms":3,"ok":true}),
        json!({"user":"a","page":"/","ok":true,"x":2.5}),
        json!({"user":"a","page":"/","ok":true,"extra":{"k":"v"}}),
    ];
    let changes: [&dyn Fn(&mut Engine); 4] = [
        // `ms` and `x` become required.
        &|engine| {
            engine
                .register(&json!({"force": true, "nodes": click_nodes("str", &["extra"])["nodes"]}))
                .map(|_| ())
                .expect("re-registers");
        },
        // `user` changes type.
        &|engine| {
            engine
                .register(&json!({"force": true, "nodes": click_nodes("i64", &["ms", "x", "extra"])["nodes"]}))
                .map(|_| ())
                .expect("re-registers");
        },
        // The event is gone.
        &|engine| engine.reset(),
        // An unrelated node is added: the event's schema is unchanged.
        &|engine| {
            let mut nodes = click_nodes("str", &["ms", "x", "extra"]);
            nodes["nodes"]
                .as_array_mut()
                .expect("a node list")
                .push(json!({"kind":"event","name":"Other","schema":{"fields":{"a":"str"}}}));
            engine.register(&nodes).map(|_| ()).expect("registers");
        },
    ];
    for change in changes {
        for body in &bodies {
            let mut engine = engine();
            let body = value(body.clone());
            let push = prevalidated(&engine, &body);
            let version = engine.registry_version();
            change(&mut engine);
            assert_ne!(engine.registry_version(), version, "the change took effect");
            assert_eq!(
                engine.accept_prevalidated(push),
                engine.validate_push_owned("Click", body.clone()),
                "{body:?}"
            );
        }
    }
}
