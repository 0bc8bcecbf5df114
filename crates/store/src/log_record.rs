//! What the store writes into each WAL record, and how it reads it back.
//!
//! The WAL treats records as opaque bytes; this module gives them meaning. One record per
//! accepted mutation, in the order the writer applied them:
//!
//! ```text
//! offset size  field
//! 0      1     kind: 1 = push, 2 = register, 3 = reset
//! 1      8     now_ms: i64 LE, the processing time the writer stamped (replay reuses it)
//! 9      ..    push:     u16 LE event-name length, event name (UTF-8),
//!                        MessagePack array of the validated fields in schema slot order
//!               register: the raw `/register` JSON body (UTF-8)
//!               reset:    nothing
//! ```
//!
//! Pushes are logged after validation, so a logged push always decodes to values the engine
//! accepted. Registers and resets are logged before they execute (a refused register replays to
//! the same refusal, which is harmless and keeps the order exact).

use compact_str::CompactString;
use engine::ValidatedPush;
use model::{DecodeLimits, TimestampMs, Value, ValueSeed};
use serde::de::DeserializeSeed;

const KIND_PUSH: u8 = 1;
const KIND_REGISTER: u8 = 2;
const KIND_RESET: u8 = 3;

/// A decoded WAL record.
#[derive(Clone, Debug, PartialEq)]
pub enum LogRecord {
    Push {
        now_ms: TimestampMs,
        push: ValidatedPush,
    },
    Register {
        now_ms: TimestampMs,
        body: serde_json::Value,
    },
    Reset {
        now_ms: TimestampMs,
    },
}

/// Appends the payload of a push record to `out` (the encoders append, so a batch can be
/// encoded into one buffer).
pub fn encode_push(out: &mut Vec<u8>, now_ms: TimestampMs, push: &ValidatedPush) {
    out.push(KIND_PUSH);
    out.extend_from_slice(&now_ms.to_le_bytes());
    let name = push.event.as_bytes();
    // Event names are at most 128 chars (registry rule), far below u16::MAX.
    let name_len = u16::try_from(name.len()).expect("event names are short");
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(name);
    rmp_serde::encode::write(out, &push.fields).expect("validated values encode as msgpack");
}

pub fn encode_register(out: &mut Vec<u8>, now_ms: TimestampMs, body: &serde_json::Value) {
    out.push(KIND_REGISTER);
    out.extend_from_slice(&now_ms.to_le_bytes());
    serde_json::to_writer(&mut *out, body).expect("a JSON value serializes");
}

pub fn encode_reset(out: &mut Vec<u8>, now_ms: TimestampMs) {
    out.push(KIND_RESET);
    out.extend_from_slice(&now_ms.to_le_bytes());
}

/// Decodes a record; `Err` names what is wrong (the record is then quarantined, not applied).
pub fn decode(bytes: &[u8]) -> Result<LogRecord, String> {
    let (&kind, rest) = bytes.split_first().ok_or("empty record")?;
    let (now, rest) = rest
        .split_at_checked(8)
        .ok_or("record shorter than its header")?;
    let now_ms = i64::from_le_bytes(now.try_into().map_err(|_| "bad timestamp")?);
    match kind {
        KIND_PUSH => {
            let (len, rest) = rest
                .split_at_checked(2)
                .ok_or("truncated event name length")?;
            let len = u16::from_le_bytes([len[0], len[1]]) as usize;
            let (name, fields) = rest.split_at_checked(len).ok_or("truncated event name")?;
            let event = std::str::from_utf8(name).map_err(|_| "event name is not UTF-8")?;
            let mut de = rmp_serde::Deserializer::new(fields);
            let value = ValueSeed::new(DecodeLimits::default())
                .deserialize(&mut de)
                .map_err(|e| format!("fields do not decode: {e}"))?;
            let Value::List(fields) = value else {
                return Err("fields are not an array".to_string());
            };
            Ok(LogRecord::Push {
                now_ms,
                push: ValidatedPush {
                    event: CompactString::from(event),
                    fields,
                },
            })
        }
        KIND_REGISTER => {
            let body = serde_json::from_slice(rest).map_err(|e| format!("register body: {e}"))?;
            Ok(LogRecord::Register { now_ms, body })
        }
        KIND_RESET => Ok(LogRecord::Reset { now_ms }),
        other => Err(format!("unknown record kind {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let push = ValidatedPush {
            event: CompactString::from("Click"),
            fields: vec![
                Value::str("u1"),
                Value::I64(-5),
                Value::F64(2.5),
                Value::Bool(true),
                Value::Null,
                Value::List(vec![Value::str("nested")]),
            ],
        };
        let mut out = Vec::new();
        encode_push(&mut out, 1_700_000_000_123, &push);
        assert_eq!(
            decode(&out).unwrap(),
            LogRecord::Push {
                now_ms: 1_700_000_000_123,
                push
            }
        );
        let body = serde_json::json!({"nodes": [], "force": true});
        out.clear();
        encode_register(&mut out, 7, &body);
        assert_eq!(
            decode(&out).unwrap(),
            LogRecord::Register { now_ms: 7, body }
        );
        out.clear();
        encode_reset(&mut out, 9);
        assert_eq!(decode(&out).unwrap(), LogRecord::Reset { now_ms: 9 });
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let push = ValidatedPush {
            event: CompactString::from("E"),
            fields: vec![Value::str("x")],
        };
        let mut out = Vec::new();
        encode_push(&mut out, 1, &push);
        for cut in 0..out.len() {
            let _ = decode(&out[..cut]);
        }
        assert!(decode(&[9, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
