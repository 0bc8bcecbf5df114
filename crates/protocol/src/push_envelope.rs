//! Pushed events: the HTTP `{"event","data"}` body, the TCP `{"event","body"}` envelope (JSON, or
//! a MessagePack map of exactly those two entries), and the legacy bare field object of
//! `POST /push/:event`.
//!
//! Field values are decoded in one pass, with bounds, by `model::ValueSeed` (no intermediate
//! JSON tree). Decoding decides only the envelope; the fields are checked against the event
//! schema by the engine (`validate_push`), which nothing here bypasses.

use crate::msgpack_push::PushNameCache;
use crate::opcode::ContentType;
use compact_str::CompactString;
use model::{DecodeLimits, RowSchema, Value, ValueSeed};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A decoded push: the event name and its field map (not yet validated).
#[derive(Clone, Debug, PartialEq)]
pub struct PushEnvelope {
    pub event: CompactString,
    /// Usually a `Value::Map`; anything else is refused by the engine (`invalid_event`).
    pub fields: Value,
}

/// A push body decoded straight into the slots of its event's schema (decision 0029), by the
/// direct decoders only: every member's name is exactly a column's name, no column is named
/// twice, no value is `null` (`fields[i]` is `Null` when column `i` was not pushed). Types,
/// required fields and control characters are still to be checked
/// (`engine::push::prevalidate_slots`).
#[derive(Clone, Debug, PartialEq)]
pub struct SlottedPush {
    pub event_id: usize,
    pub fields: Vec<Value>,
}

/// Where a slotted decoder finds a pushed event's id and schema.
pub type SchemaOf<'r> = dyn Fn(&str) -> Option<(usize, &'r RowSchema)> + 'r;

/// Why a push body could not be turned into a [`PushEnvelope`].
#[derive(Clone, Debug, PartialEq)]
pub enum PushDecodeError {
    /// A bound of `model::limits` was exceeded or a value is not representable:
    /// `integer_out_of_range`, `value_too_large`, `nesting_too_deep`, `invalid_utf8`.
    /// Reported as `400 {"error":{"code":C,"reason":R}}`.
    Limit { code: &'static str, reason: String },
    /// Not JSON at all (HTTP: `invalid_json_body`).
    Malformed,
    /// Valid, but not an object with a string `event` (HTTP: `missing_event_name_in_body`).
    MissingEventName,
    /// TCP: the envelope is not `{event: str, body: any}` (beava's `{"code":"unsupported"}`).
    BadEnvelope,
}

/// The stable code at the front of a `ValueSeed` error message, if any.
pub fn limit_code(message: &str) -> Option<&'static str> {
    [
        "integer_out_of_range",
        "value_too_large",
        "nesting_too_deep",
        "invalid_utf8",
    ]
    .into_iter()
    .find(|code| {
        message
            .strip_prefix(code)
            .is_some_and(|rest| rest.starts_with(':'))
    })
}

fn classify(message: String, otherwise: PushDecodeError) -> PushDecodeError {
    match limit_code(&message) {
        Some(code) => PushDecodeError::Limit {
            code,
            reason: message,
        },
        None => otherwise,
    }
}

/// `POST /push`: `{"event":"<name>","data":{...}}`; `data` defaults to `{}`, other members are
/// ignored, and for duplicate members the last one wins.
pub fn decode_http_push(body: &[u8]) -> Result<PushEnvelope, PushDecodeError> {
    decode_http_push_with(body, &mut PushNameCache::default())
}

/// [`decode_http_push`] with the connection's cache of the names it pushed last (the same
/// result; only faster when names repeat).
pub fn decode_http_push_with(
    body: &[u8],
    names: &mut PushNameCache,
) -> Result<PushEnvelope, PushDecodeError> {
    if let Some(envelope) =
        crate::json_push::decode_push(body, "data", &DecodeLimits::default(), names)
    {
        return Ok(envelope);
    }
    let parts = decode_json_envelope_via_serde(body, EnvelopeSeed::new("data"))
        .map_err(|e| classify(e.to_string(), PushDecodeError::Malformed))?;
    match parts {
        Envelope::Object {
            event: Some(Value::Str(event)),
            data,
            ..
        } => Ok(PushEnvelope {
            event,
            fields: data.unwrap_or(Value::Map(Vec::new())),
        }),
        _ => Err(PushDecodeError::MissingEventName),
    }
}

/// [`decode_http_push_with`]'s body straight into the slots of its event's schema, if it is of
/// the common shape (`{"event": .., "data": {..}}`, in that order) and names a registered event
/// whose columns its members match (see [`SlottedPush`]); `None` otherwise, which decides
/// nothing: decode it with [`decode_http_push_with`].
pub fn decode_http_push_slotted(body: &[u8], schema_of: &SchemaOf<'_>) -> Option<SlottedPush> {
    crate::json_push::decode_push_slotted(body, "data", &DecodeLimits::default(), schema_of)
}

/// `POST /push/:event` (and `/push-sync/:event`, `/push-batch/:event`): the body is the bare
/// field object. beava answers an undecodable one with `invalid_event`.
pub fn decode_fields(body: &[u8]) -> Result<Value, PushDecodeError> {
    decode_fields_with(body, &mut PushNameCache::default())
}

/// [`decode_fields_with`]'s body straight into the slots of `event`'s schema, if its members
/// match the columns (see [`SlottedPush`]); `None` otherwise, which decides nothing: decode it
/// with [`decode_fields_with`].
pub fn decode_fields_slotted(
    body: &[u8],
    event: &str,
    schema_of: &SchemaOf<'_>,
) -> Option<SlottedPush> {
    crate::json_push::decode_value_slotted(body, event, &DecodeLimits::default(), schema_of)
}

/// [`decode_fields`] with the connection's name cache.
pub fn decode_fields_with(
    body: &[u8],
    names: &mut PushNameCache,
) -> Result<Value, PushDecodeError> {
    if let Some(fields) = crate::json_push::decode_value(body, &DecodeLimits::default(), names) {
        return Ok(fields);
    }
    decode_json_value_via_serde(body, DecodeLimits::default())
        .map_err(|e| classify(e.to_string(), PushDecodeError::Malformed))
}

/// The reference decoding of a bare JSON value.
pub(crate) fn decode_json_value_via_serde(
    body: &[u8],
    limits: DecodeLimits,
) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut value = ValueSeed::new(limits).deserialize(&mut de)?;
    de.end()?;
    unsigned_zeros(&mut value);
    Ok(value)
}

/// beava reads a JSON `-0.0` (and `-0`) as `0.0` — its MessagePack decoder keeps the sign —
/// so every float zero decoded from JSON is made positive (`json_push` does the same).
fn unsigned_zeros(value: &mut Value) {
    match value {
        Value::F64(v) if *v == 0.0 => *v = 0.0,
        Value::List(items) => items.iter_mut().for_each(unsigned_zeros),
        Value::Map(entries) => entries.iter_mut().for_each(|(_, v)| unsigned_zeros(v)),
        _ => {}
    }
}

/// [`decode_http_push_slotted`] for a TCP push (`{"event": .., "body": {..}}`, in that order);
/// `None` decides nothing: decode it with [`decode_tcp_push_with`].
pub fn decode_tcp_push_slotted(
    content_type: ContentType,
    payload: &[u8],
    schema_of: &SchemaOf<'_>,
) -> Option<SlottedPush> {
    let limits = EnvelopeSeed::new("body").limits;
    match content_type {
        ContentType::Json => {
            crate::json_push::decode_push_slotted(payload, "body", &limits, schema_of)
        }
        ContentType::Msgpack => {
            crate::msgpack_push::decode_push_slotted(payload, &limits, schema_of)
        }
    }
}

/// TCP `OP_PUSH`: `{"event":"<name>","body":{...}}`. JSON ignores other members; MessagePack
/// must be a map of exactly these two entries (beava's decoder).
pub fn decode_tcp_push(
    content_type: ContentType,
    payload: &[u8],
) -> Result<PushEnvelope, PushDecodeError> {
    decode_tcp_push_with(content_type, payload, &mut PushNameCache::default())
}

/// [`decode_tcp_push`] with the connection's cache of the names it pushed last (the same
/// result; only faster when names repeat).
pub fn decode_tcp_push_with(
    content_type: ContentType,
    payload: &[u8],
    names: &mut PushNameCache,
) -> Result<PushEnvelope, PushDecodeError> {
    let seed = EnvelopeSeed::new("body");
    match content_type {
        ContentType::Json => {
            if let Some(envelope) =
                crate::json_push::decode_push(payload, "body", &seed.limits, names)
            {
                return Ok(envelope);
            }
            let parts = decode_json_envelope_via_serde(payload, seed)
                .map_err(|e| classify(e.to_string(), PushDecodeError::BadEnvelope))?;
            envelope_of(parts)
        }
        ContentType::Msgpack => {
            match crate::msgpack_push::decode_push(payload, &seed.limits, names) {
                Some(envelope) => Ok(envelope),
                None => decode_msgpack_push_via_serde(payload, seed.limits),
            }
        }
    }
}

/// The reference decoding of a MessagePack TCP push (`msgpack_push` only speeds up the common
/// case of it).
/// The keys of one object seen so far, for the fast decoders' duplicate check: the first few
/// are scanned (no allocation for the usual body), then indexed, so a hostile body of thousands
/// of members cannot make the check quadratic.
#[derive(Default)]
pub(crate) struct KeysSeen<'a> {
    scanned: [&'a [u8]; KEYS_SCANNED_MAX],
    scanned_len: usize,
    indexed: Option<std::collections::HashSet<&'a [u8]>>,
}

/// Keys [`KeysSeen`] scans before it indexes them.
const KEYS_SCANNED_MAX: usize = 16;

impl<'a> KeysSeen<'a> {
    /// Records `key`; false if it was seen already.
    pub(crate) fn insert(&mut self, key: &'a [u8]) -> bool {
        if let Some(indexed) = &mut self.indexed {
            return indexed.insert(key);
        }
        let scanned = &self.scanned[..self.scanned_len];
        if scanned.contains(&key) {
            return false;
        }
        if self.scanned_len < KEYS_SCANNED_MAX {
            self.scanned[self.scanned_len] = key;
            self.scanned_len += 1;
        } else {
            let mut indexed: std::collections::HashSet<&'a [u8]> =
                scanned.iter().copied().collect();
            indexed.insert(key);
            self.indexed = Some(indexed);
        }
        true
    }
}

/// The reference decoding of a JSON push envelope (HTTP and TCP differ only in the data key
/// and in what they make of the parts).
fn decode_json_envelope_via_serde(
    payload: &[u8],
    seed: EnvelopeSeed,
) -> Result<Envelope, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let mut parts = seed.deserialize(&mut de)?;
    de.end()?;
    if let Envelope::Object { event, data, .. } = &mut parts {
        event
            .iter_mut()
            .chain(data.iter_mut())
            .for_each(unsigned_zeros);
    }
    Ok(parts)
}

/// What the serde path makes of a JSON envelope, as the fast path would report it: the event
/// and data when both are there and the event is a string.
#[cfg(test)]
pub(crate) fn json_push_via_serde(
    payload: &[u8],
    data_key: &'static str,
    limits: DecodeLimits,
) -> Result<Option<PushEnvelope>, String> {
    match decode_json_envelope_via_serde(payload, EnvelopeSeed { data_key, limits }) {
        Ok(Envelope::Object {
            event: Some(Value::Str(event)),
            data: Some(fields),
            ..
        }) => Ok(Some(PushEnvelope { event, fields })),
        Ok(_) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn decode_msgpack_push_via_serde(
    payload: &[u8],
    limits: DecodeLimits,
) -> Result<PushEnvelope, PushDecodeError> {
    let mut de = rmp_serde::Deserializer::from_read_ref(payload);
    let parts = EnvelopeSeed {
        data_key: "body",
        limits,
    }
    .deserialize(&mut de)
    .map_err(|e| classify(e.to_string(), PushDecodeError::BadEnvelope))?;
    match parts {
        Envelope::Object { n_members: 2, .. } => envelope_of(parts),
        _ => Err(PushDecodeError::BadEnvelope),
    }
}

fn envelope_of(parts: Envelope) -> Result<PushEnvelope, PushDecodeError> {
    match parts {
        Envelope::Object {
            event: Some(Value::Str(event)),
            data: Some(fields),
            ..
        } => Ok(PushEnvelope { event, fields }),
        _ => Err(PushDecodeError::BadEnvelope),
    }
}

/// What the envelope visitor saw.
enum Envelope {
    Object {
        event: Option<Value>,
        data: Option<Value>,
        n_members: usize,
    },
    NotObject,
}

struct EnvelopeSeed {
    /// `"data"` (HTTP) or `"body"` (TCP).
    data_key: &'static str,
    limits: DecodeLimits,
}

impl EnvelopeSeed {
    fn new(data_key: &'static str) -> Self {
        EnvelopeSeed {
            data_key,
            limits: DecodeLimits::default(),
        }
    }
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed {
    type Value = Envelope;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Envelope, D::Error> {
        d.deserialize_any(self)
    }
}

#[derive(Clone, Copy)]
enum Member {
    Event,
    Data,
    Other,
}

struct MemberSeed {
    data_key: &'static str,
}

impl<'de> DeserializeSeed<'de> for MemberSeed {
    type Value = Member;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Member, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed {
    type Value = Member;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Member, E> {
        Ok(if v == "event" {
            Member::Event
        } else if v == self.data_key {
            Member::Data
        } else {
            Member::Other
        })
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Member, E> {
        match std::str::from_utf8(v) {
            Ok(s) => self.visit_str(s),
            Err(_) => Ok(Member::Other),
        }
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Member, E> {
        Ok(Member::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Member, E> {
        Ok(Member::Other)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a push envelope object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut event = None;
        let mut data = None;
        let mut n_members = 0usize;
        let data_key = self.data_key;
        while let Some(member) = map.next_key_seed(MemberSeed { data_key })? {
            n_members += 1;
            match member {
                Member::Event => event = Some(map.next_value_seed(ValueSeed::new(self.limits))?),
                Member::Data => data = Some(map.next_value_seed(ValueSeed::new(self.limits))?),
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Envelope::Object {
            event,
            data,
            n_members,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Envelope, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Envelope::NotObject)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Envelope, E> {
        Ok(Envelope::NotObject)
    }
    fn visit_none<E: de::Error>(self) -> Result<Envelope, E> {
        Ok(Envelope::NotObject)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Envelope, E> {
        Ok(Envelope::NotObject)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Envelope, E> {
        Ok(Envelope::NotObject)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Envelope, E> {
        Ok(Envelope::NotObject)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Envelope, E> {
        Ok(Envelope::NotObject)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Envelope, E> {
        Ok(Envelope::NotObject)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Envelope, E> {
        Ok(Envelope::NotObject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn http_push_bodies() {
        let ok = decode_http_push(br#"{"event":"Click","data":{"user":"u1","amount":2.5}}"#);
        assert_eq!(
            ok,
            Ok(PushEnvelope {
                event: "Click".into(),
                fields: fields(&[("user", Value::str("u1")), ("amount", Value::F64(2.5))]),
            })
        );
        // `data` defaults to {}; other members ignored; last duplicate wins.
        assert_eq!(
            decode_http_push(br#"{"x":[1,{"y":2}],"event":"A","event":"B"}"#),
            Ok(PushEnvelope {
                event: "B".into(),
                fields: Value::Map(vec![])
            })
        );
        // beava's classification of bad bodies.
        for (body, want) in [
            (&b"nope"[..], PushDecodeError::Malformed),
            (b"", PushDecodeError::Malformed),
            (b"{\"event\":\"A\"} x", PushDecodeError::Malformed),
            (b"[1]", PushDecodeError::MissingEventName),
            (b"5", PushDecodeError::MissingEventName),
            (b"{\"data\":{}}", PushDecodeError::MissingEventName),
            (b"{\"event\":5}", PushDecodeError::MissingEventName),
        ] {
            assert_eq!(decode_http_push(body), Err(want), "{:?}", body);
        }
        // `data` that is not an object is left for the engine to refuse (`invalid_event`).
        assert_eq!(
            decode_http_push(br#"{"event":"A","data":null}"#)
                .unwrap()
                .fields,
            Value::Null
        );
    }

    #[test]
    fn bounds_are_reported_with_their_code() {
        let err =
            decode_http_push(br#"{"event":"A","data":{"n":18446744073709551615}}"#).unwrap_err();
        assert!(
            matches!(
                err,
                PushDecodeError::Limit {
                    code: "integer_out_of_range",
                    ..
                }
            ),
            "{err:?}"
        );
        let deep = format!(
            r#"{{"event":"A","data":{{"j":{}{}}}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(matches!(
            decode_http_push(deep.as_bytes()),
            Err(PushDecodeError::Limit {
                code: "nesting_too_deep",
                ..
            })
        ));
        assert!(matches!(
            decode_tcp_push(
                ContentType::Json,
                br#"{"event":"A","body":{"n":18446744073709551615}}"#
            ),
            Err(PushDecodeError::Limit {
                code: "integer_out_of_range",
                ..
            })
        ));
    }

    #[test]
    fn tcp_envelopes() {
        assert_eq!(
            decode_tcp_push(
                ContentType::Json,
                br#"{"event":"Click","body":{"u":"t1"},"x":1}"#
            )
            .unwrap()
            .event,
            "Click"
        );
        for body in [
            &br#"{"event":"Click","data":{}}"#[..],
            br#"{"body":{}}"#,
            br#"{"event":5,"body":{}}"#,
            br#"["Click",{}]"#,
            b"garbage",
        ] {
            assert_eq!(
                decode_tcp_push(ContentType::Json, body),
                Err(PushDecodeError::BadEnvelope)
            );
        }
        // msgpack {"event":"Click","body":{"u":"t1"}}
        let two = b"\x82\xa5event\xa5Click\xa4body\x81\xa1u\xa2t1";
        let env = decode_tcp_push(ContentType::Msgpack, two).unwrap();
        assert_eq!(env.fields, fields(&[("u", Value::str("t1"))]));
        // A third entry is refused in msgpack.
        let three = b"\x83\xa5event\xa5Click\xa4body\x80\xa1x\x01";
        assert_eq!(
            decode_tcp_push(ContentType::Msgpack, three),
            Err(PushDecodeError::BadEnvelope)
        );
        // A msgpack array is refused.
        assert_eq!(
            decode_tcp_push(ContentType::Msgpack, b"\x92\xa5Click\x80"),
            Err(PushDecodeError::BadEnvelope)
        );
    }

    #[test]
    fn legacy_bare_fields() {
        assert_eq!(
            decode_fields(br#"{"user":"u2"}"#),
            Ok(fields(&[("user", Value::str("u2"))]))
        );
        assert_eq!(decode_fields(b"garbage"), Err(PushDecodeError::Malformed));
    }

    #[test]
    fn limit_codes() {
        assert_eq!(limit_code("value_too_large: x"), Some("value_too_large"));
        assert_eq!(limit_code("value_too_largex"), None);
        assert_eq!(limit_code("expected value"), None);
    }
}
