//! Hostile pushed bodies: the bounded decoder must refuse what weir could not store or replay
//! (too deep, too long, too many members, integers beyond i64, invalid UTF-8) with a stable code,
//! never panic, and stay linear in the input size.

use model::{DecodeLimits, Value, ValueSeed};
use proptest::prelude::*;
use serde::de::DeserializeSeed;

fn decode_json(text: &str) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    ValueSeed::new(DecodeLimits::default())
        .deserialize(&mut de)
        .map_err(|e| e.to_string())
}

fn decode_msgpack(bytes: &[u8]) -> Result<Value, String> {
    let mut de = rmp_serde::Deserializer::new(bytes);
    ValueSeed::new(DecodeLimits::default())
        .deserialize(&mut de)
        .map_err(|e| e.to_string())
}

#[test]
fn refusals_carry_stable_codes() {
    let deep = "[".repeat(100) + &"]".repeat(100);
    assert!(decode_json(&deep)
        .unwrap_err()
        .starts_with("nesting_too_deep"));
    let long = format!("\"{}\"", "x".repeat(model::limits::STRING_BYTES_MAX + 1));
    assert!(decode_json(&long)
        .unwrap_err()
        .starts_with("value_too_large"));
    assert!(decode_json("18446744073709551615")
        .unwrap_err()
        .starts_with("integer_out_of_range"));
    // msgpack `bin` that is not UTF-8.
    assert!(decode_msgpack(&[0xc4, 0x02, 0xff, 0xfe])
        .unwrap_err()
        .starts_with("invalid_utf8"));
    let many = format!(
        "[{}]",
        vec!["1"; model::limits::COLLECTION_LEN_MAX + 1].join(",")
    );
    assert!(decode_json(&many)
        .unwrap_err()
        .starts_with("value_too_large"));
}

#[test]
fn duplicate_keys_last_wins_and_large_objects_stay_linear() {
    assert_eq!(
        decode_json(r#"{"a":1,"b":2,"a":3}"#).unwrap(),
        Value::Map(vec![
            ("a".into(), Value::I64(3)),
            ("b".into(), Value::I64(2))
        ])
    );
    // 9 999 distinct members then a duplicate of the first: decoded once, in order.
    let members: Vec<String> = (0..9_999).map(|i| format!("\"k{i}\":{i}")).collect();
    let text = format!("{{{},\"k0\":-1}}", members.join(","));
    let Value::Map(entries) = decode_json(&text).unwrap() else {
        panic!("object decodes to a map")
    };
    assert_eq!(entries.len(), 9_999);
    assert_eq!(entries[0], ("k0".into(), Value::I64(-1)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_text_never_panics(text in ".{0,256}") {
        let _ = decode_json(&text);
    }

    #[test]
    fn arbitrary_msgpack_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_msgpack(&bytes);
    }
}
