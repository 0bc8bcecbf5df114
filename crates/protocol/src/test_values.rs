//! Generated values for the fast decoders' agreement tests (`msgpack_push`, `json_push`).

use model::{DecodeLimits, Value};
use proptest::prelude::*;

/// Small bounds, so generated values cross them.
pub(crate) const LIMITS: DecodeLimits = DecodeLimits {
    depth_max: 3,
    string_bytes_max: 40,
    collection_len_max: 6,
};

pub(crate) fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        (-200i64..200).prop_map(Value::I64),
        any::<f64>().prop_map(Value::F64),
        (-1e6f32..1e6).prop_map(|v| Value::F64(f64::from(v))),
        "[a-z]{0,6}".prop_map(|s| Value::Str(s.into())),
        ".{0,12}".prop_map(|s| Value::Str(s.into())),
        "[a-z]{38,42}".prop_map(|s| Value::Str(s.into())),
    ];
    leaf.prop_recursive(5, 40, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            prop::collection::vec(("[a-d]{1,2}", inner), 0..8).prop_map(|entries| {
                Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
            }),
        ]
    })
}

pub(crate) fn has_duplicate_keys(value: &Value) -> bool {
    match value {
        Value::List(items) => items.iter().any(has_duplicate_keys),
        Value::Map(entries) => {
            entries
                .iter()
                .enumerate()
                .any(|(i, (k, _))| entries[..i].iter().any(|(k2, _)| k2 == k))
                || entries.iter().any(|(_, v)| has_duplicate_keys(v))
        }
        _ => false,
    }
}

/// Push envelope members: usually `event` and `data_key`, sometimes not (wrong names, a third
/// one, a non-string event), with data nested around the depth bound.
pub(crate) fn envelope(data_key: &'static str) -> impl Strategy<Value = Vec<(String, Value)>> {
    let event = prop_oneof![
        4 => "[A-Za-z]{1,10}".prop_map(|s| Value::Str(s.into())),
        1 => value(),
    ];
    let name = prop_oneof![
        8 => Just("event".to_string()),
        1 => "[a-z]{1,5}",
    ];
    let data_name = prop_oneof![
        8 => Just(data_key.to_string()),
        1 => Just("event".to_string()),
        1 => "[a-z]{1,5}",
    ];
    // In lists or one-member maps, 0 to 5 deep.
    let data = (value(), 0..6usize, any::<bool>()).prop_map(|(mut data, levels, in_maps)| {
        for _ in 0..levels {
            data = if in_maps {
                Value::Map(vec![("n".into(), data)])
            } else {
                Value::List(vec![data])
            };
        }
        data
    });
    (
        name,
        event,
        data_name,
        data,
        any::<bool>(),
        any::<bool>(),
        value(),
    )
        .prop_map(|(name, event, data_name, data, swap, third, extra)| {
            let mut members = vec![(name, event), (data_name, data)];
            if swap {
                members.swap(0, 1);
            }
            if third {
                members.push(("extra".to_string(), extra));
            }
            members
        })
}

/// The schema every event has in the slotted decoders' tests (the names `value()` gives
/// nested map keys, so generated bodies sometimes fit it and sometimes do not); an event's id is
/// the length of its name.
pub(crate) fn slotted_schema() -> model::RowSchema {
    let column = |name: &str| model::Column {
        name: name.into(),
        ty: None,
        optional: true,
    };
    model::RowSchema {
        columns: ["a", "b", "c", "d", "ab", "ba"].map(column).to_vec(),
    }
}

/// Checks a slotted decoding against the map decoding of the same bytes: the same event and
/// the same members, by name. A slotted decoder may decline what the map decoder takes; it
/// must not take anything else.
pub(crate) fn assert_slotted_agrees(
    schema: &model::RowSchema,
    slotted: Option<&crate::push_envelope::SlottedPush>,
    mapped: Option<&crate::push_envelope::PushEnvelope>,
    what: &dyn std::fmt::Debug,
) {
    let Some(slotted) = slotted else {
        return;
    };
    let Some(mapped) = mapped else {
        panic!("slotted decoding took what the map decoding did not: {what:?}");
    };
    assert_eq!(slotted.event_id, mapped.event.len(), "{what:?}");
    let Value::Map(members) = &mapped.fields else {
        panic!("slotted decoding of a body that is not a map: {what:?}");
    };
    let present = slotted.fields.iter().filter(|v| !v.is_null()).count();
    assert_eq!(present, members.len(), "{what:?}");
    for (name, value) in members {
        let slot = schema.slot_of(name).expect("a column");
        assert_eq!(
            format!("{:?}", slotted.fields[slot]),
            format!("{value:?}"),
            "{what:?}"
        );
    }
}

/// Whether a map decoding is one the slotted decoders must take: `event` first, and a body
/// whose members are distinct columns of `schema`, none null.
pub(crate) fn must_slot(schema: &model::RowSchema, members: &[(String, Value)]) -> bool {
    let [(first, Value::Str(_)), (_, Value::Map(body))] = members else {
        return false;
    };
    first == "event"
        && body
            .iter()
            .all(|(name, value)| schema.slot_of(name).is_some() && !value.is_null())
        && !has_duplicate_keys(&Value::Map(body.clone()))
}

/// Push envelopes whose bodies mostly fit `slotted_schema()`: `event` usually first, members
/// usually named after its columns (sometimes repeated, sometimes not a column), any values.
pub(crate) fn slotted_envelope(
    data_key: &'static str,
) -> impl Strategy<Value = Vec<(String, Value)>> {
    let member_name = prop_oneof![
        6 => prop::sample::select(vec!["a", "b", "c", "d", "ab", "ba"]).prop_map(String::from),
        1 => "[a-d]{1,2}",
    ];
    let members = prop::collection::vec((member_name, value()), 0..7);
    ("[A-Za-z]{1,10}", members, prop::bool::weighted(0.1)).prop_map(
        move |(event, members, swap)| {
            let body = members.into_iter().map(|(k, v)| (k.into(), v)).collect();
            let mut envelope = vec![
                ("event".to_string(), Value::Str(event.into())),
                (data_key.to_string(), Value::Map(body)),
            ];
            if swap {
                envelope.swap(0, 1);
            }
            envelope
        },
    )
}
