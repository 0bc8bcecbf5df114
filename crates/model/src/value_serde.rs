//! serde glue for `Value`: `Serialize` for rows on the wire, and a bounded `DeserializeSeed` for
//! pushed bodies (JSON or MessagePack) that refuses what weir could not store or replay.
//!
//! Decode errors carry a stable code as the message prefix (`"<code>: <detail>"`) so the protocol
//! layer can report `integer_out_of_range`, `value_too_large` or `nesting_too_deep` precisely.

use crate::limits::{COLLECTION_LEN_MAX, STRING_BYTES_MAX, VALUE_DEPTH_MAX};
use crate::value::Value;
use compact_str::CompactString;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use std::fmt;

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::I64(v) => s.serialize_i64(*v),
            // beava encodes NaN/Inf as null.
            Value::F64(v) if !v.is_finite() => s.serialize_unit(),
            Value::F64(v) => s.serialize_f64(*v),
            Value::Str(v) => s.serialize_str(v),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k.as_str(), v)?;
                }
                map.end()
            }
        }
    }
}

/// Objects up to this many members find duplicate keys by scanning; larger ones use an index.
const LINEAR_SCAN_MEMBERS_MAX: usize = 16;

/// Bounds applied while decoding one value tree.
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    pub depth_max: usize,
    pub string_bytes_max: usize,
    pub collection_len_max: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            depth_max: VALUE_DEPTH_MAX,
            string_bytes_max: STRING_BYTES_MAX,
            collection_len_max: COLLECTION_LEN_MAX,
        }
    }
}

/// Decodes a `Value` within `limits`; `depth` is the nesting level of the value being decoded.
#[derive(Clone, Copy, Debug)]
pub struct ValueSeed {
    pub limits: DecodeLimits,
    pub depth: usize,
}

impl ValueSeed {
    pub fn new(limits: DecodeLimits) -> Self {
        ValueSeed { limits, depth: 0 }
    }

    fn child<E: de::Error>(self) -> Result<ValueSeed, E> {
        if self.depth + 1 > self.limits.depth_max {
            return Err(E::custom(format_args!(
                "nesting_too_deep: nesting deeper than {} levels",
                self.limits.depth_max
            )));
        }
        Ok(ValueSeed {
            limits: self.limits,
            depth: self.depth + 1,
        })
    }

    fn string<E: de::Error>(self, v: &str) -> Result<Value, E> {
        if v.len() > self.limits.string_bytes_max {
            return Err(E::custom(format_args!(
                "value_too_large: string of {} bytes exceeds {} bytes",
                v.len(),
                self.limits.string_bytes_max
            )));
        }
        Ok(Value::Str(CompactString::from(v)))
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON/MessagePack value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::I64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v).map(Value::I64).map_err(|_| {
            E::custom(format_args!(
                "integer_out_of_range: {v} does not fit a signed 64-bit integer"
            ))
        })
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        i64::try_from(v).map(Value::I64).map_err(|_| {
            E::custom(format_args!(
                "integer_out_of_range: {v} does not fit a signed 64-bit integer"
            ))
        })
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i64::try_from(v).map(Value::I64).map_err(|_| {
            E::custom(format_args!(
                "integer_out_of_range: {v} does not fit a signed 64-bit integer"
            ))
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.string(v)
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        // MessagePack `bin`: accepted only if it is valid UTF-8 text (weir stores text only).
        match std::str::from_utf8(v) {
            Ok(s) => self.string(s),
            Err(_) => Err(E::custom("invalid_utf8: binary value is not valid UTF-8")),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(child)? {
            if items.len() == self.limits.collection_len_max {
                return Err(de::Error::custom(format_args!(
                    "value_too_large: array longer than {} items",
                    self.limits.collection_len_max
                )));
            }
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        let mut entries: Vec<(CompactString, Value)> =
            Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        let mut index: Option<std::collections::HashMap<CompactString, usize>> = None;
        while let Some(key) = map.next_key_seed(KeySeed(self.limits))? {
            if entries.len() == self.limits.collection_len_max {
                return Err(de::Error::custom(format_args!(
                    "value_too_large: object with more than {} members",
                    self.limits.collection_len_max
                )));
            }
            let value = map.next_value_seed(child)?;
            // Duplicate keys: the last one wins, as in serde_json's own map decoding. Small
            // objects scan; large ones index, so a hostile body cannot make this quadratic.
            let existing = match &index {
                Some(index) => index.get(key.as_str()).copied(),
                None => entries.iter().position(|(k, _)| *k == key),
            };
            match existing {
                Some(i) => entries[i].1 = value,
                None => {
                    if let Some(index) = &mut index {
                        index.insert(key.clone(), entries.len());
                    }
                    entries.push((key, value));
                    if index.is_none() && entries.len() > LINEAR_SCAN_MEMBERS_MAX {
                        index = Some(
                            entries
                                .iter()
                                .enumerate()
                                .map(|(i, (k, _))| (k.clone(), i))
                                .collect(),
                        );
                    }
                }
            }
        }
        Ok(Value::Map(entries))
    }
}

/// Object keys must be strings within the string bound.
struct KeySeed(DecodeLimits);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = CompactString;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<CompactString, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = CompactString;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<CompactString, E> {
        if v.len() > self.0.string_bytes_max {
            return Err(E::custom("value_too_large: object key too long"));
        }
        Ok(CompactString::from(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<CompactString, E> {
        match std::str::from_utf8(v) {
            Ok(s) => self.visit_str(s),
            Err(_) => Err(E::custom("invalid_utf8: object key is not valid UTF-8")),
        }
    }
}
