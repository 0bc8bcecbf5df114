//! Push validation: a pushed event is checked against its schema before anything is logged, so
//! nothing that could not be replayed ever enters the WAL (durability.md §2.6).
//!
//! Checks, in order: control characters anywhere (event name, field names, strings at any
//! depth) ⇒ `control_character_in_string`; body not an object ⇒ `invalid_event`; unknown
//! event ⇒ `event_not_found`; unknown fields ⇒ `unknown_field_event_time_v0` / `unknown_field_v0`;
//! missing/null required fields, type mismatches and non-finite numbers ⇒ `invalid_event`.

use crate::registry::compile::CompiledRegistry;
use crate::registry::Registry;
use compact_str::CompactString;
use model::{FieldType, PushError, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// An event that passed validation: its fields in schema slot order (absent optional ⇒ Null).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedPush {
    pub event: CompactString,
    pub fields: Vec<Value>,
}

/// Validates `body` (the decoded `data`/`body` member) against the schema of `event`, cloning the
/// field values into their slots. Prefer [`validate_owned`] when the body is not needed after.
pub fn validate(
    registry: &Registry,
    event: &str,
    body: &Value,
) -> Result<ValidatedPush, PushError> {
    validate_body(registry.compiled(), event, Cow::Borrowed(body))
}

/// [`validate`] taking the body by value: the field values are moved into their slots (no
/// clone). Same checks, same errors.
pub fn validate_owned(
    registry: &Registry,
    event: &str,
    body: Value,
) -> Result<ValidatedPush, PushError> {
    validate_body(registry.compiled(), event, Cow::Owned(body))
}

/// A push validated away from the writer, on the I/O thread that decoded it, against the
/// registry that thread last saw (decision 0029). The writer takes it as it stands when that
/// registry is still the current one ([`PrevalidatedPush::accept`]) and validates it again
/// otherwise, so what is accepted never depends on where it was validated.
#[derive(Clone, Debug)]
pub struct PrevalidatedPush {
    push: ValidatedPush,
    against: Arc<CompiledRegistry>,
}

/// What [`prevalidate`] made of a push.
#[derive(Debug)]
pub enum Prevalidation {
    Accepted(PrevalidatedPush),
    /// Left to the writer, whose registry is authoritative: refused against this registry, or
    /// a field is explicitly `null` (the slots of a validated push cannot tell that from an
    /// absent field, and a registry change could make the difference matter). The body if it
    /// is still whole; `None` if validating consumed it (decode it again).
    LeftToWriter(Option<Value>),
}

/// Validates `body` against `compiled`: accepts only pushes [`validate_owned`] accepts (with
/// the same slots), and all of those that name no field twice or as `null`. One pass over the
/// members, because it has no error to choose: any refusal is left to the writer, which
/// reports the first in beava's order.
pub fn prevalidate(compiled: &Arc<CompiledRegistry>, event: &str, body: Value) -> Prevalidation {
    let Value::Map(mut members) = body else {
        return Prevalidation::LeftToWriter(Some(body));
    };
    let schema = match compiled.event_by_name.get(event) {
        Some(&event_id) if !has_control(event) => &compiled.events[event_id],
        _ => return Prevalidation::LeftToWriter(Some(Value::Map(members))),
    };
    let columns = &schema.schema.columns;
    let mut fields = vec![Value::Null; columns.len()];
    let mut next_slot = 0;
    for (name, value) in &mut members {
        let Some(slot) = schema.schema.slot_of_hinted(name, next_slot) else {
            return Prevalidation::LeftToWriter(None);
        };
        next_slot = slot + 1;
        let column = &columns[slot];
        if value.is_null()
            || has_control(name)
            || !type_ok(column, value)
            || check_strings(value).is_err()
        {
            return Prevalidation::LeftToWriter(None);
        }
        // A repeated member: the last one counts, as in `validate_body`.
        std::mem::swap(&mut fields[slot], value);
    }
    let required_missing = columns
        .iter()
        .zip(&fields)
        .any(|(column, value)| !column.optional && value.is_null());
    if required_missing {
        return Prevalidation::LeftToWriter(None);
    }
    Prevalidation::Accepted(PrevalidatedPush {
        push: ValidatedPush {
            event: schema.name.clone(),
            fields,
        },
        against: Arc::clone(compiled),
    })
}

/// [`prevalidate`] for a push a decoder placed straight into the slots of event `event_id`'s
/// schema (`protocol::push_envelope::SlottedPush`: every member named exactly after a column,
/// no column twice, no `null` value): the push [`prevalidate`] would accept from the member
/// map it was, or `None` where it would not.
pub fn prevalidate_slots(
    compiled: &Arc<CompiledRegistry>,
    event_id: usize,
    fields: Vec<Value>,
) -> Option<PrevalidatedPush> {
    let event = compiled.events.get(event_id)?;
    let columns = &event.schema.columns;
    if fields.len() != columns.len() || has_control(&event.name) {
        return None;
    }
    let valid = columns.iter().zip(&fields).all(|(column, value)| {
        if value.is_null() {
            return column.optional;
        }
        !has_control(&column.name) && type_ok(column, value) && check_strings(value).is_ok()
    });
    valid.then(|| PrevalidatedPush {
        push: ValidatedPush {
            event: event.name.clone(),
            fields,
        },
        against: Arc::clone(compiled),
    })
}

/// Whether a non-null `value` has the type `column` declares (non-finite numbers never do).
fn type_ok(column: &model::Column, value: &Value) -> bool {
    match column.ty.unwrap_or(FieldType::Json) {
        FieldType::Str => matches!(value, Value::Str(_)),
        FieldType::Bool => matches!(value, Value::Bool(_)),
        FieldType::I64 | FieldType::F64 => match value {
            Value::I64(_) => true,
            Value::F64(v) => v.is_finite(),
            _ => false,
        },
        FieldType::Bytes | FieldType::Datetime | FieldType::Json => !has_non_finite(value),
    }
}

impl PrevalidatedPush {
    /// The event name (the registry's spelling, which is the pushed one).
    pub fn event(&self) -> &str {
        &self.push.event
    }

    /// Hints its fields, as [`prefetch_body`] does a body's members.
    pub fn prefetch(&self) {
        sketch::prefetch::slice(&self.push.fields);
    }

    /// The push, if `current` is the registry it was validated against; otherwise the push
    /// validated against `current` as the member map it came from (its non-null fields, in
    /// schema order — the only way it can differ from the pushed map, which matters only to
    /// which of several errors is reported).
    pub fn accept(self, current: &Registry) -> Result<ValidatedPush, PushError> {
        if Arc::ptr_eq(&self.against, current.compiled_shared()) {
            return Ok(self.push);
        }
        let ValidatedPush { event, fields } = self.push;
        let event_id = self.against.event_by_name[&event];
        let columns = &self.against.events[event_id].schema.columns;
        let members = columns
            .iter()
            .zip(fields)
            .filter(|(_, value)| !value.is_null())
            .map(|(column, value)| (column.name.clone(), value))
            .collect();
        validate_owned(current, &event, Value::Map(members))
    }
}

/// Hints the members of a push body that will be validated soon: they were written by the
/// I/O thread that decoded them, on another core, and the writer's first touch of each line
/// otherwise waits for it to come over.
pub fn prefetch_body(body: &Value) {
    if let Value::Map(members) = body {
        sketch::prefetch::slice(members);
    }
}

fn validate_body(
    compiled: &CompiledRegistry,
    event: &str,
    body: Cow<'_, Value>,
) -> Result<ValidatedPush, PushError> {
    if has_control(event) {
        return Err(control_error("event name"));
    }
    check_strings(&body)?;
    // beava checks the body shape before the event name.
    if !matches!(*body, Value::Map(_)) {
        return Err(PushError::new(
            "invalid_event",
            format!("event body must be an object, got {}", body.type_name()),
        ));
    }
    let Some(&event_id) = compiled.event_by_name.get(event) else {
        return Err(PushError::new(
            "event_not_found",
            format!("event '{event}' is not registered"),
        ));
    };
    let schema = &compiled.events[event_id].schema;
    let mut next_slot = 0;
    let mut slot_of = |name: &str| {
        let slot = schema.slot_of_hinted(name, next_slot);
        next_slot = slot.map_or(0, |slot| slot + 1);
        slot.ok_or_else(|| {
            if name == "event_time" || name == "event_time_ms" {
                return PushError::new(
                    "unknown_field_event_time_v0",
                    format!("field '{name}' is not supported: weir uses processing time"),
                );
            }
            PushError::new(
                "unknown_field_v0",
                format!("field '{name}' is not in the schema of event '{event}'"),
            )
        })
    };
    // Members in order; a repeated field keeps its last value.
    let mut fields = vec![Value::Null; schema.columns.len()];
    match body {
        Cow::Borrowed(Value::Map(members)) => {
            for (name, value) in members {
                fields[slot_of(name)?] = value.clone();
            }
        }
        Cow::Owned(Value::Map(mut members)) => {
            // Swapped in place: moving each value out of its member went through a stack
            // copy the CPU stalled on reading back (~half of this function's samples).
            for (name, value) in &mut members {
                std::mem::swap(&mut fields[slot_of(name)?], value);
            }
        }
        _ => unreachable!("the body was checked to be a map"),
    }
    for (column, value) in schema.columns.iter().zip(&mut fields) {
        if value.is_null() {
            if column.optional {
                continue;
            }
            return Err(PushError::new(
                "invalid_event",
                format!("required field '{}' is missing or null", column.name),
            ));
        }
        if !type_ok(column, value) {
            let ty = column.ty.unwrap_or(FieldType::Json);
            return Err(PushError::new(
                "invalid_event",
                format!(
                    "field '{}' expects {}, got {}{}",
                    column.name,
                    ty.wire_name(),
                    value.type_name(),
                    if has_non_finite(value) {
                        " (NaN or infinity)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    Ok(ValidatedPush {
        event: compiled.events[event_id].name.clone(),
        fields,
    })
}

fn has_control(s: &str) -> bool {
    // Printable ASCII (nearly every key and value) is checked a byte at a time; anything else
    // is decoded (C1 controls are two-byte sequences).
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    s.chars().any(char::is_control)
}

fn control_error(what: &str) -> PushError {
    PushError::new(
        "control_character_in_string",
        format!("{what} contains a control character"),
    )
}

fn check_strings(value: &Value) -> Result<(), PushError> {
    match value {
        Value::Str(s) if has_control(s) => Err(control_error("a string value")),
        Value::List(items) => items.iter().try_for_each(check_strings),
        Value::Map(members) => members.iter().try_for_each(|(k, v)| {
            if has_control(k) {
                return Err(control_error("a field name"));
            }
            check_strings(v)
        }),
        _ => Ok(()),
    }
}

fn has_non_finite(value: &Value) -> bool {
    match value {
        Value::F64(v) => !v.is_finite(),
        Value::List(items) => items.iter().any(has_non_finite),
        Value::Map(members) => members.iter().any(|(_, v)| has_non_finite(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, EngineConfig};

    fn engine() -> Engine {
        let mut engine = Engine::new(EngineConfig::default());
        let body = serde_json::json!({"nodes": [
            {"kind": "event", "name": "E", "schema": {"fields": {"a": "str", "b": "i64", "c": "f64"},
                "optional_fields": ["c"]}}
        ]});
        engine.register(&body).expect("registers");
        engine
    }

    fn body(members: &[(&str, Value)]) -> Value {
        Value::Map(
            members
                .iter()
                .map(|(k, v)| ((*k).into(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn fields_land_in_their_slots_in_any_order_and_the_last_repeat_wins() {
        let engine = engine();
        let registry = engine.registry();
        let (a, b, c) = (Value::str("x"), Value::I64(2), Value::F64(0.5));
        let cases = [
            (
                vec![("a", a.clone()), ("b", b.clone()), ("c", c.clone())],
                vec![a.clone(), b.clone(), c.clone()],
            ),
            (
                vec![("c", c.clone()), ("b", b.clone()), ("a", a.clone())],
                vec![a.clone(), b.clone(), c.clone()],
            ),
            (
                vec![("b", b.clone()), ("a", a.clone())],
                vec![a.clone(), b.clone(), Value::Null],
            ),
            (
                vec![
                    ("a", Value::str("first")),
                    ("b", b.clone()),
                    ("a", a.clone()),
                ],
                vec![a.clone(), b.clone(), Value::Null],
            ),
            (
                vec![
                    ("b", Value::I64(1)),
                    ("a", a.clone()),
                    ("b", b.clone()),
                    ("b", Value::I64(3)),
                ],
                vec![a.clone(), Value::I64(3), Value::Null],
            ),
        ];
        for (members, want) in cases {
            let body = body(&members);
            let borrowed = validate(registry, "E", &body).expect("valid");
            let owned = validate_owned(registry, "E", body).expect("valid");
            assert_eq!(borrowed.fields, want, "{members:?}");
            assert_eq!(owned.fields, want, "{members:?}");
        }
        let unknown = body(&[("a", a.clone()), ("b", b.clone()), ("zz", c.clone())]);
        for refused in [
            validate(registry, "E", &unknown),
            validate_owned(registry, "E", unknown.clone()),
        ] {
            assert_eq!(refused.expect_err("unknown field").code, "unknown_field_v0");
        }
    }

    #[test]
    fn control_characters_are_found_in_ascii_and_beyond() {
        for clean in [
            "",
            "session-42",
            "héllo wörld",
            "日本語",
            "tab\\t escaped",
            "~ !",
        ] {
            assert!(!has_control(clean), "{clean:?}");
        }
        for dirty in [
            "a\tb",
            "\n",
            "x\u{0}",
            "del\u{7f}",
            "c1\u{85}",
            "é\u{9f}",
            "\u{1b}[0m",
        ] {
            assert!(has_control(dirty), "{dirty:?}");
        }
        // Agrees with the plain definition on every char below U+0800, at every position of
        // a string of up to 30 bytes.
        for c in (0u32..0x800).filter_map(char::from_u32) {
            for at in 0..20 {
                let s = format!(
                    "{}{c}{}",
                    &"abcdefghijklmnopqrst"[..at],
                    &"ABCDEFGHIJ"[..at % 11]
                );
                assert_eq!(has_control(&s), c.is_control(), "{s:?}");
            }
        }
    }
}
