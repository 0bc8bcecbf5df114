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
