//! Read request bodies: `get`, `batch_get`, and the legacy TCP `MGET` / `GET_MULTI` payloads.
//!
//! Decoding failures are reported by the server as `500 internal_error` with the serde message
//! as `reason`, exactly as beava does; the struct names below appear in those messages
//! (`invalid length 0, expected struct HttpGetReq with 3 elements`), so they are beava's.

use crate::opcode::ContentType;
use model::{DecodeLimits, Value, ValueSeed};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// `POST /get` and `OP_GET`: `{"table","key","features"?}` (unknown members ignored).
#[derive(Deserialize, Debug, PartialEq)]
pub struct HttpGetReq {
    pub table: String,
    pub key: String,
    #[serde(default)]
    pub features: Option<Vec<String>>,
}

/// `POST /batch_get` and `OP_BATCH_GET`: `{"requests":[...]}`.
#[derive(Deserialize, Debug, PartialEq)]
pub struct BatchGetBody {
    pub requests: Vec<BatchGetReqEntry>,
}

/// One batch entry: `table`, `key` or its deprecated alias `entity_id` (not both), optional
/// `features` (which, unlike in `get`, may not be `null`). Unknown members are ignored.
#[derive(Debug, PartialEq)]
pub struct BatchGetReqEntry {
    pub table: String,
    pub key: String,
    pub features: Option<Vec<String>>,
    /// The key came from `entity_id` (beava logs a deprecation warning).
    pub used_entity_id: bool,
}

/// Legacy `OP_MGET` (0x0021): `{"feature","keys":[..]}`.
#[derive(Deserialize, Debug, PartialEq)]
pub struct MGetReq {
    pub feature: String,
    pub keys: Vec<String>,
}

/// Legacy `OP_GET_MULTI` (0x0022): `{"keys":[..],"features":[..]}`.
#[derive(Deserialize, Debug, PartialEq)]
pub struct GetMultiReq {
    pub keys: Vec<String>,
    pub features: Vec<String>,
}

/// After a `get` body failed to decode: is it one of the legacy shapes beava answers with
/// `400 unsupported_request_shape` instead of `500`? Those are `{keys:[..], features:[..]}` and
/// `{feature:"..", key:".."}` (other members allowed).
pub fn is_legacy_get_shape(content_type: ContentType, bytes: &[u8]) -> bool {
    let seed = ValueSeed::new(DecodeLimits::default());
    let decoded = match content_type {
        ContentType::Json => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            seed.deserialize(&mut de).ok()
        }
        ContentType::Msgpack => {
            let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
            seed.deserialize(&mut de).ok()
        }
    };
    let Some(Value::Map(members)) = decoded else {
        return false;
    };
    let member = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let keys_features = matches!(
        (member("keys"), member("features")),
        (Some(Value::List(_)), Some(Value::List(_)))
    );
    let feature_key = matches!(
        (member("feature"), member("key")),
        (Some(Value::Str(_)), Some(Value::Str(_)))
    );
    keys_features || feature_key
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum EntryField {
    Table,
    Key,
    EntityId,
    Features,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for BatchGetReqEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = BatchGetReqEntry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a BatchGetReqEntry map with {table, key|entity_id, features?}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BatchGetReqEntry, A::Error> {
        let mut table: Option<String> = None;
        let mut key: Option<String> = None;
        let mut entity_id: Option<String> = None;
        let mut features: Option<Vec<String>> = None;
        while let Some(field) = map.next_key::<EntryField>()? {
            // beava refuses a duplicate (or the second of `key`/`entity_id`) as soon as its
            // name is read, before its value.
            match field {
                EntryField::Table => {
                    once(table.is_some(), "table")?;
                    table = Some(map.next_value()?);
                }
                EntryField::Key => {
                    once(key.is_some(), "key")?;
                    refuse_both(entity_id.is_some())?;
                    key = Some(map.next_value()?);
                }
                EntryField::EntityId => {
                    once(entity_id.is_some(), "entity_id")?;
                    refuse_both(key.is_some())?;
                    entity_id = Some(map.next_value()?);
                }
                EntryField::Features => {
                    once(features.is_some(), "features")?;
                    features = Some(map.next_value()?);
                }
                EntryField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let table = table.ok_or_else(|| de::Error::missing_field("table"))?;
        let (key, used_entity_id) = match (key, entity_id) {
            (Some(key), _) => (key, false),
            (None, Some(id)) => (id, true),
            (None, None) => return Err(de::Error::missing_field("key")),
        };
        Ok(BatchGetReqEntry {
            table,
            key,
            features,
            used_entity_id,
        })
    }
}

fn refuse_both<E: de::Error>(other_present: bool) -> Result<(), E> {
    if other_present {
        return Err(E::custom(
            "BatchGetReqEntry: cannot specify both `key` and `entity_id` (entity_id is a \
             deprecated alias)",
        ));
    }
    Ok(())
}

fn once<E: de::Error>(seen: bool, name: &'static str) -> Result<(), E> {
    if seen {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode;

    fn get(json: &str) -> Result<HttpGetReq, String> {
        decode(ContentType::Json, json.as_bytes())
    }

    fn batch(json: &str) -> Result<BatchGetBody, String> {
        decode(ContentType::Json, json.as_bytes())
    }

    // Expected messages are beava 0.0.6's `reason`s for the same bodies.
    #[test]
    fn get_errors_match_beava() {
        assert_eq!(
            get(r#"{"table":"UserStats"}"#).unwrap_err(),
            "missing field `key` at line 1 column 21"
        );
        assert_eq!(
            get(r#"{"table": "UserStats", "key": 5}"#).unwrap_err(),
            "invalid type: integer `5`, expected a string at line 1 column 31"
        );
        assert_eq!(
            get("[]").unwrap_err(),
            "invalid length 0, expected struct HttpGetReq with 3 elements at line 1 column 2"
        );
        assert_eq!(
            get(r#"{"table":"T","key":"u1","key":"u2"}"#).unwrap_err(),
            "duplicate field `key` at line 1 column 29"
        );
        assert_eq!(
            get("").unwrap_err(),
            "EOF while parsing a value at line 1 column 0"
        );
        let ok = get(r#"{"table":"T","key":"u1","features":null,"extra":1}"#).unwrap();
        assert_eq!(ok.features, None);
    }

    #[test]
    fn batch_entries_match_beava() {
        let body = batch(
            r#"{"requests":[{"table":"T","key":"a"},{"table":"T","entity_id":"b","features":["f"],"bogus":1}]}"#,
        )
        .unwrap();
        assert_eq!(body.requests[0].key, "a");
        assert!(!body.requests[0].used_entity_id);
        assert_eq!(body.requests[1].key, "b");
        assert!(body.requests[1].used_entity_id);
        assert_eq!(body.requests[1].features, Some(vec!["f".to_string()]));

        assert_eq!(
            batch(r#"{"requests": [{"table": "UserStats", "key": "u1", "entity_id": "u1"}]}"#)
                .unwrap_err(),
            "BatchGetReqEntry: cannot specify both `key` and `entity_id` (entity_id is a \
             deprecated alias) at line 1 column 61"
        );
        assert_eq!(
            batch(r#"{"requests": [[]]}"#).unwrap_err(),
            "invalid type: sequence, expected a BatchGetReqEntry map with {table, \
             key|entity_id, features?} at line 1 column 14"
        );
        assert_eq!(
            batch(r#"{"requests":[5]}"#).unwrap_err(),
            "invalid type: integer `5`, expected a BatchGetReqEntry map with {table, \
             key|entity_id, features?} at line 1 column 14"
        );
        assert_eq!(
            batch(r#"{"requests":[{"key":"u1"}]}"#).unwrap_err(),
            "missing field `table` at line 1 column 25"
        );
        assert_eq!(
            batch(r#"{"requests": [{"table": "UserStats"}]}"#).unwrap_err(),
            "missing field `key` at line 1 column 36"
        );
        assert_eq!(
            batch(r#"{"requests": [{"table": "UserStats", "key": "u1", "features": null}]}"#)
                .unwrap_err(),
            "invalid type: null, expected a sequence at line 1 column 66"
        );
        assert_eq!(
            batch(r#"{"requests":[{"table":"UserStats","key":"u1","key":"u1"}]}"#).unwrap_err(),
            "duplicate field `key` at line 1 column 50"
        );
        assert_eq!(
            batch("[]").unwrap_err(),
            "invalid length 0, expected struct BatchGetBody with 1 element at line 1 column 2"
        );
        assert_eq!(
            batch("{}").unwrap_err(),
            "missing field `requests` at line 1 column 2"
        );
    }

    #[test]
    fn legacy_shapes() {
        let legacy = |s: &str| is_legacy_get_shape(ContentType::Json, s.as_bytes());
        assert!(legacy(r#"{"keys":["u1"],"features":["clicks"]}"#));
        assert!(legacy(r#"{"keys":[1],"features":["a"]}"#));
        assert!(legacy(r#"{"feature":"clicks","key":"u1"}"#));
        assert!(legacy(r#"{"table":5,"feature":"a","key":"b"}"#));
        assert!(legacy(r#"{"feature":"a","key":"b","features":5}"#));
        assert!(!legacy(r#"{"keys":["u1"]}"#));
        assert!(!legacy(r#"{"keys":"a","features":["a"]}"#));
        assert!(!legacy(r#"{"feature":1,"key":"b"}"#));
        assert!(!legacy(r#"{"feature":"a","key":1}"#));
        assert!(!legacy("garbage"));
        // {feature:"clicks", key:"t1"} in msgpack.
        assert!(is_legacy_get_shape(
            ContentType::Msgpack,
            b"\x82\xa7feature\xa6clicks\xa3key\xa2t1"
        ));
    }

    #[test]
    fn legacy_multi_get_requests() {
        let m: MGetReq = decode(ContentType::Json, br#"{"feature":"f","keys":["a","b"]}"#).unwrap();
        assert_eq!(m.keys.len(), 2);
        let g: GetMultiReq =
            decode(ContentType::Json, br#"{"keys":["a"],"features":["f","g"]}"#).unwrap();
        assert_eq!(g.features.len(), 2);
    }
}
