//! What the store writes into each WAL record, and how it reads it back.
//!
//! The WAL treats records as opaque bytes; this module gives them meaning. Mutations are logged
//! in the order the writer applied them, one LSN each: a register or a reset is a record of its
//! own; the pushes of a writer run are packed into records of several LSNs (decision 0024),
//! one entry per push:
//!
//! ```text
//! offset size  field
//! 0      1     kind: 1 = one push, 2 = register, 3 = reset, 4 = pushes (a run)
//! 1      8     now_ms: i64 LE, the processing time the writer stamped (replay reuses it)
//! 9      ..    push:     u16 LE event-name length, event name (UTF-8),
//!                        MessagePack array of the validated fields in schema slot order
//!               register: the raw `/register` JSON body (UTF-8)
//!               reset:    nothing
//!               pushes:   one entry per LSN the record covers, back to back:
//!                         u16 LE event-name length, 0 = the previous entry's event (never in
//!                         the first entry), the event name (UTF-8), MessagePack array of the
//!                         validated fields in schema slot order
//! ```
//!
//! Kind 1 is what a single push was before decision 0024 (still read; also how a quarantined
//! push is kept). Pushes are logged after validation, so a logged push always decodes to values
//! the engine accepted. Registers and resets are logged before they execute (a refused register
//! replays to the same refusal, which is harmless and keeps the order exact).

use compact_str::CompactString;
use engine::ValidatedPush;
use model::{DecodeLimits, TimestampMs, Value, ValueSeed};
use serde::de::DeserializeSeed;

const KIND_PUSH: u8 = 1;
const KIND_REGISTER: u8 = 2;
const KIND_RESET: u8 = 3;
const KIND_PUSHES: u8 = 4;

/// Bytes of a pushes record before its first entry (kind and processing time).
pub const PUSHES_HEADER_BYTES: usize = 9;

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
    /// The pushes of a run, one per LSN of the record from its first on.
    Pushes {
        now_ms: TimestampMs,
        pushes: Vec<ValidatedPush>,
    },
}

/// Appends the payload of a push record to `out` (the encoders append, so a batch can be
/// encoded into one buffer).
pub fn encode_push(out: &mut Vec<u8>, now_ms: TimestampMs, push: &ValidatedPush) {
    out.push(KIND_PUSH);
    out.extend_from_slice(&now_ms.to_le_bytes());
    put_event_name(out, &push.event);
    rmp_serde::encode::write(out, &push.fields).expect("validated values encode as msgpack");
}

/// Appends the header of a pushes record (kind 4) to `out`; entries follow
/// (`encode_pushes_entry`).
pub fn encode_pushes_header(out: &mut Vec<u8>, now_ms: TimestampMs) {
    out.push(KIND_PUSHES);
    out.extend_from_slice(&now_ms.to_le_bytes());
}

/// Appends one entry of a pushes record to `out`; `same_event_as_previous` writes the event
/// name as "the previous entry's" (never for a record's first entry). Returns where in `out`
/// the event name is spelled out, if it is (for the next entry's comparison).
pub fn encode_pushes_entry(
    out: &mut Vec<u8>,
    push: &ValidatedPush,
    same_event_as_previous: bool,
) -> Option<std::ops::Range<usize>> {
    let name = if same_event_as_previous {
        out.extend_from_slice(&0u16.to_le_bytes());
        None
    } else {
        Some(put_event_name(out, &push.event))
    };
    rmp_serde::encode::write(out, &push.fields).expect("validated values encode as msgpack");
    name
}

/// Appends a u16-length-prefixed event name; returns where the name's bytes are in `out`.
fn put_event_name(out: &mut Vec<u8>, event: &str) -> std::ops::Range<usize> {
    let name = event.as_bytes();
    // Event names are 1 to 128 chars (registry rule), far below u16::MAX.
    let name_len = u16::try_from(name.len()).expect("event names are short");
    out.extend_from_slice(&name_len.to_le_bytes());
    let start = out.len();
    out.extend_from_slice(name);
    start..out.len()
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
            let mut rest = rest;
            let event = take_event_name(&mut rest)?.ok_or("empty event name")?;
            let fields = take_fields(&mut rest)?;
            if !rest.is_empty() {
                return Err(format!("{} bytes after the fields", rest.len()));
            }
            Ok(LogRecord::Push {
                now_ms,
                push: ValidatedPush {
                    event: CompactString::from(event),
                    fields,
                },
            })
        }
        KIND_PUSHES => {
            let mut rest = rest;
            let mut pushes: Vec<ValidatedPush> = Vec::new();
            while !rest.is_empty() {
                let event = match take_event_name(&mut rest)? {
                    Some(name) => CompactString::from(name),
                    None => pushes
                        .last()
                        .map(|previous| previous.event.clone())
                        .ok_or("the first entry refers to a previous event")?,
                };
                let fields =
                    take_fields(&mut rest).map_err(|e| format!("entry {}: {e}", pushes.len()))?;
                pushes.push(ValidatedPush { event, fields });
            }
            Ok(LogRecord::Pushes { now_ms, pushes })
        }
        KIND_REGISTER => {
            let body = serde_json::from_slice(rest).map_err(|e| format!("register body: {e}"))?;
            Ok(LogRecord::Register { now_ms, body })
        }
        KIND_RESET => Ok(LogRecord::Reset { now_ms }),
        other => Err(format!("unknown record kind {other}")),
    }
}

/// Reads a u16-length-prefixed event name off the front of `rest`; `None` for length 0.
fn take_event_name<'a>(rest: &mut &'a [u8]) -> Result<Option<&'a str>, String> {
    let (len, after) = rest
        .split_at_checked(2)
        .ok_or("truncated event name length")?;
    let len = u16::from_le_bytes([len[0], len[1]]) as usize;
    let (name, after) = after.split_at_checked(len).ok_or("truncated event name")?;
    *rest = after;
    if len == 0 {
        return Ok(None);
    }
    std::str::from_utf8(name)
        .map(Some)
        .map_err(|_| "event name is not UTF-8".to_string())
}

/// Reads a MessagePack array of field values off the front of `rest`.
fn take_fields(rest: &mut &[u8]) -> Result<Vec<Value>, String> {
    let mut de = rmp_serde::Deserializer::new(&mut *rest);
    let value = ValueSeed::new(DecodeLimits::default())
        .deserialize(&mut de)
        .map_err(|e| format!("fields do not decode: {e}"))?;
    match value {
        Value::List(fields) => Ok(fields),
        _ => Err("fields are not an array".to_string()),
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

    fn push(event: &str, id: &str, n: i64) -> ValidatedPush {
        ValidatedPush {
            event: CompactString::from(event),
            fields: vec![
                Value::str(id),
                Value::I64(n),
                Value::List(vec![Value::Null]),
            ],
        }
    }

    #[test]
    fn a_pushes_record_round_trips_with_repeated_and_changing_events() {
        let pushes = vec![
            push("Click", "u1", 1),
            push("Click", "u2", 2),
            push("View", "u1", 3),
            push("Click", "u3", 4),
            push("Click", "u3", 5),
        ];
        let mut out = Vec::new();
        encode_pushes_header(&mut out, 42);
        assert_eq!(out.len(), PUSHES_HEADER_BYTES);
        let mut previous: Option<&str> = None;
        for p in &pushes {
            encode_pushes_entry(&mut out, p, previous == Some(p.event.as_str()));
            previous = Some(&p.event);
        }
        assert_eq!(
            decode(&out).unwrap(),
            LogRecord::Pushes {
                now_ms: 42,
                pushes: pushes.clone()
            }
        );
        // Repeated events cost two bytes, not the name again.
        let mut spelled = Vec::new();
        encode_pushes_header(&mut spelled, 42);
        for p in &pushes {
            encode_pushes_entry(&mut spelled, p, false);
        }
        assert_eq!(spelled.len() - out.len(), 2 * "Click".len());
        assert_eq!(decode(&spelled).unwrap(), decode(&out).unwrap());
    }

    #[test]
    fn a_pushes_record_whose_first_entry_refers_back_is_an_error() {
        let mut out = Vec::new();
        encode_pushes_header(&mut out, 1);
        encode_pushes_entry(&mut out, &push("E", "x", 1), true);
        assert!(decode(&out).unwrap_err().contains("previous event"));
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
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        let mut batch = Vec::new();
        encode_pushes_header(&mut batch, 1);
        encode_pushes_entry(&mut batch, &push, false);
        encode_pushes_entry(&mut batch, &push, true);
        for cut in 0..batch.len() {
            // A cut at the entry boundary is a valid record of one push; no cut yields two.
            if let Ok(record) = decode(&batch[..cut]) {
                assert!(
                    matches!(&record, LogRecord::Pushes { pushes, .. } if pushes.len() < 2),
                    "cut at {cut}: {record:?}"
                );
            }
        }
        assert!(decode(&[9, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
