//! A direct JSON decoder for the common push body: `{"event": "<name>", "<data key>": value}`
//! (HTTP `/push` and TCP JSON pushes), and the bare field object of `POST /push/:event`.
//!
//! It exists for speed: at HTTP 32×8 the serde path (`serde_json` driving `model::ValueSeed`
//! and the envelope visitor) was ~15 % of weir's CPU samples, more than the rest of the request
//! parsing (decision 0026). Like `msgpack_push` it decides nothing on its own: anything it does not take
//! as it stands — other or repeated envelope members, a missing data member, escapes or control
//! characters in strings, duplicate keys, `-0` and integers of more than 18 digits, numbers out
//! of range, a bound of `DecodeLimits` reached, malformed or trailing bytes — returns `None`,
//! and the caller decodes the body again through the serde path, which is the reference for
//! every answer, errors included. What it does accept decodes to exactly what the serde path
//! gives (tested against it on generated and mutated bodies: `fast_path_agrees_with_the_serde_path`).
//!
//! Floats: the workspace builds `serde_json` with `float_roundtrip`, i.e. correctly rounded, as
//! `str::parse::<f64>` is, so both give the same double for every finite literal. A float zero
//! is made positive on both paths, as beava reads JSON (`push_envelope::unsigned_zeros`).

use crate::msgpack_push::PushNameCache;
use crate::push_envelope::{KeysSeen, PushEnvelope, SchemaOf, SlottedPush};
use compact_str::CompactString;
use model::{DecodeLimits, RowSchema, Value};

/// Integers of at most this many digits fit an `i64` whatever they are; longer ones (and the
/// `u64`-or-float rules `serde_json` applies to them) are left to the serde path.
const INT_DIGITS_MAX: usize = 18;

/// Decodes `body` if it is a push envelope of the common shape: exactly the members `event` (a
/// string) and `data_key`, in either order. `None` otherwise (the serde path then decides).
pub(crate) fn decode_push(
    body: &[u8],
    data_key: &str,
    limits: &DecodeLimits,
    names: &mut PushNameCache,
) -> Option<PushEnvelope> {
    let mut reader = Reader::new(body, limits, names)?;
    reader.skip_whitespace();
    reader.expect(b'{')?;
    let mut event = None;
    let mut data = None;
    loop {
        reader.skip_whitespace();
        let member = reader.string()?;
        reader.skip_whitespace();
        reader.expect(b':')?;
        reader.skip_whitespace();
        if member == "event" && event.is_none() {
            if reader.peek()? != b'"' {
                return None;
            }
            let name = reader.bounded_string()?;
            event = Some(reader.names.event(name.as_bytes())?);
        } else if member == data_key && data.is_none() {
            data = Some(reader.value(0)?);
        } else {
            return None;
        }
        reader.skip_whitespace();
        match reader.byte()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    reader.end()?;
    Some(PushEnvelope {
        event: event?,
        fields: data?,
    })
}

/// Decodes `body` straight into the slots of its event's schema if it is `{"event": "<name>",
/// "<data key>": {..}}` (in that order) and fits a [`SlottedPush`]; `None` otherwise (decode it
/// with [`decode_push`], which accepts the same envelopes and more).
pub(crate) fn decode_push_slotted(
    body: &[u8],
    data_key: &str,
    limits: &DecodeLimits,
    schema_of: &SchemaOf<'_>,
) -> Option<SlottedPush> {
    // No name cache: member names are matched against the schema's columns.
    let mut names = PushNameCache::default();
    let mut reader = Reader::new(body, limits, &mut names)?;
    reader.skip_whitespace();
    reader.expect(b'{')?;
    reader.member_name("event")?;
    if reader.peek()? != b'"' {
        return None;
    }
    let (event_id, schema) = schema_of(reader.bounded_string()?)?;
    reader.skip_whitespace();
    reader.expect(b',')?;
    reader.member_name(data_key)?;
    let fields = reader.slots(schema)?;
    reader.skip_whitespace();
    reader.expect(b'}')?;
    reader.end()?;
    Some(SlottedPush { event_id, fields })
}

/// Decodes the bare field object of `POST /push/:event` straight into the slots of `event`'s
/// schema if it fits a [`SlottedPush`]; `None` otherwise (decode it with [`decode_value`]).
pub(crate) fn decode_value_slotted(
    body: &[u8],
    event: &str,
    limits: &DecodeLimits,
    schema_of: &SchemaOf<'_>,
) -> Option<SlottedPush> {
    let (event_id, schema) = schema_of(event)?;
    let mut names = PushNameCache::default();
    let mut reader = Reader::new(body, limits, &mut names)?;
    reader.skip_whitespace();
    let fields = reader.slots(schema)?;
    reader.end()?;
    Some(SlottedPush { event_id, fields })
}

/// Decodes a bare JSON value (the field object of `POST /push/:event`), or `None`.
pub(crate) fn decode_value(
    body: &[u8],
    limits: &DecodeLimits,
    names: &mut PushNameCache,
) -> Option<Value> {
    let mut reader = Reader::new(body, limits, names)?;
    reader.skip_whitespace();
    let value = reader.value(0)?;
    reader.end()?;
    Some(value)
}

/// Reads a body validated as UTF-8 once, as a whole (JSON outside strings is ASCII, so every
/// place the reader stops at is a character boundary; a string needs no check of its own).
struct Reader<'a, 'n> {
    text: &'a str,
    limits: &'a DecodeLimits,
    names: &'n mut PushNameCache,
}

impl<'a, 'n> Reader<'a, 'n> {
    /// A reader over `body`, if it is UTF-8.
    fn new(body: &'a [u8], limits: &'a DecodeLimits, names: &'n mut PushNameCache) -> Option<Self> {
        Some(Reader {
            text: std::str::from_utf8(body).ok()?,
            limits,
            names,
        })
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn advance(&mut self, n: usize) -> Option<()> {
        self.text = self.text.get(n..)?;
        Some(())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().first().copied()
    }

    fn byte(&mut self) -> Option<u8> {
        let first = self.peek()?;
        self.advance(1)?;
        Some(first)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.byte()? == byte).then_some(())
    }

    /// JSON's four whitespace bytes, as `serde_json` skips them.
    fn skip_whitespace(&mut self) {
        let bytes = self.bytes();
        let n = bytes
            .iter()
            .position(|b| !matches!(b, b' ' | b'\n' | b'\t' | b'\r'))
            .unwrap_or(bytes.len());
        self.text = &self.text[n..];
    }

    /// Only whitespace may follow the value (`serde_json::Deserializer::end`).
    fn end(&mut self) -> Option<()> {
        self.skip_whitespace();
        self.text.is_empty().then_some(())
    }

    fn literal(&mut self, literal: &str) -> Option<()> {
        self.text = self.text.strip_prefix(literal)?;
        Some(())
    }

    /// A string without escapes or control characters (those go to the serde path).
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let end = self
            .bytes()
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.bytes()[end] != b'"' {
            return None;
        }
        let string = self.text.get(..end)?;
        self.advance(end + 1)?;
        Some(string)
    }

    /// A string within the string bound (keys and values share it).
    fn bounded_string(&mut self) -> Option<&'a str> {
        let text = self.string()?;
        (text.len() <= self.limits.string_bytes_max).then_some(text)
    }

    fn digits(&self, from: usize) -> usize {
        let bytes = &self.bytes()[from..];
        bytes
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(bytes.len())
    }

    /// A number by JSON's grammar: an integer that surely fits an `i64`, or a finite float.
    fn number(&mut self) -> Option<Value> {
        let bytes = self.bytes();
        let negative = bytes.first() == Some(&b'-');
        let int_start = usize::from(negative);
        let int_digits = match bytes.get(int_start)? {
            b'0' => 1,
            b'1'..=b'9' => self.digits(int_start),
            _ => return None,
        };
        let mut end = int_start + int_digits;
        let mut float = false;
        if bytes.get(end) == Some(&b'.') {
            let fraction = self.digits(end + 1);
            if fraction == 0 {
                return None;
            }
            end += 1 + fraction;
            float = true;
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            end += 1;
            if matches!(bytes.get(end), Some(b'+' | b'-')) {
                end += 1;
            }
            let exponent = self.digits(end);
            if exponent == 0 {
                return None;
            }
            end += exponent;
            float = true;
        }
        let text = self.text.get(..end)?;
        self.advance(end)?;
        if float {
            let value: f64 = text.parse().ok()?;
            // Out of range is an error of the serde path's. A zero is positive whatever its
            // sign, as beava reads JSON (`push_envelope::unsigned_zeros`).
            return value
                .is_finite()
                .then_some(Value::F64(if value == 0.0 { 0.0 } else { value }));
        }
        if int_digits > INT_DIGITS_MAX {
            return None;
        }
        let magnitude = text.as_bytes()[int_start..]
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        match (negative, magnitude) {
            // `serde_json` reads `-0` as the float -0.0.
            (true, 0) => None,
            (true, _) => Some(Value::I64(-magnitude)),
            (false, _) => Some(Value::I64(magnitude)),
        }
    }

    /// A value at nesting level `depth` (as `ValueSeed::depth`).
    fn value(&mut self, depth: usize) -> Option<Value> {
        let mut value = Value::Null;
        self.value_into(depth, &mut value)?;
        Some(value)
    }

    /// [`Reader::value`] written in place (see `msgpack_push`: items are decoded straight into
    /// their slots).
    fn value_into(&mut self, depth: usize, out: &mut Value) -> Option<()> {
        *out = match self.peek()? {
            b'"' => Value::Str(CompactString::from(self.bounded_string()?)),
            b'n' => {
                self.literal("null")?;
                Value::Null
            }
            b't' => {
                self.literal("true")?;
                Value::Bool(true)
            }
            b'f' => {
                self.literal("false")?;
                Value::Bool(false)
            }
            b'-' | b'0'..=b'9' => self.number()?,
            b'[' => {
                self.byte()?;
                let child = self.child(depth)?;
                let mut items = Vec::new();
                self.skip_whitespace();
                if self.peek()? == b']' {
                    self.byte()?;
                } else {
                    loop {
                        if items.len() == self.limits.collection_len_max {
                            return None;
                        }
                        items.push(Value::Null);
                        self.skip_whitespace();
                        self.value_into(child, items.last_mut().expect("just pushed"))?;
                        self.skip_whitespace();
                        match self.byte()? {
                            b',' => continue,
                            b']' => break,
                            _ => return None,
                        }
                    }
                }
                Value::List(items)
            }
            b'{' => {
                self.byte()?;
                let child = self.child(depth)?;
                // Depth 0 is the body itself: its field names repeat push after push.
                let capacity = if depth == 0 {
                    self.names.fields_cached()
                } else {
                    0
                };
                let mut entries: Vec<(CompactString, Value)> = Vec::with_capacity(capacity);
                let mut keys = KeysSeen::default();
                self.skip_whitespace();
                if self.peek()? == b'}' {
                    self.byte()?;
                } else {
                    loop {
                        if entries.len() == self.limits.collection_len_max {
                            return None;
                        }
                        self.skip_whitespace();
                        let key = self.bounded_string()?;
                        // The serde path lets the last of duplicate keys win; leave that to it.
                        if !keys.insert(key.as_bytes()) {
                            return None;
                        }
                        let key = if depth == 0 {
                            self.names.field(entries.len(), key.as_bytes())?
                        } else {
                            CompactString::from(key)
                        };
                        self.skip_whitespace();
                        self.expect(b':')?;
                        self.skip_whitespace();
                        entries.push((key, Value::Null));
                        let (_, value) = entries.last_mut().expect("just pushed");
                        self.value_into(child, value)?;
                        self.skip_whitespace();
                        match self.byte()? {
                            b',' => continue,
                            b'}' => break,
                            _ => return None,
                        }
                    }
                }
                Value::Map(entries)
            }
            _ => return None,
        };
        Some(())
    }

    /// `"<name>":` (with whitespace around), the next member of an object being `name`.
    fn member_name(&mut self, name: &str) -> Option<()> {
        self.skip_whitespace();
        if self.string()? != name {
            return None;
        }
        self.skip_whitespace();
        self.expect(b':')?;
        self.skip_whitespace();
        Some(())
    }

    /// A push body (an object at depth 0) decoded into `schema`'s slots, if it fits a
    /// [`SlottedPush`]: what [`Reader::value_into`] would decode, its members placed by name.
    fn slots(&mut self, schema: &RowSchema) -> Option<Vec<Value>> {
        let columns = schema.columns.len();
        if columns > u64::BITS as usize {
            return None;
        }
        self.expect(b'{')?;
        let child = self.child(0)?;
        let mut fields = vec![Value::Null; columns];
        let mut filled = 0u64;
        let mut members = 0;
        let mut next_slot = 0;
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.byte()?;
            return Some(fields);
        }
        loop {
            if members == self.limits.collection_len_max {
                return None;
            }
            members += 1;
            self.skip_whitespace();
            let key = self.bounded_string()?;
            let slot = schema.slot_of_hinted(key, next_slot)?;
            if filled & (1 << slot) != 0 {
                return None;
            }
            filled |= 1 << slot;
            next_slot = slot + 1;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            self.value_into(child, &mut fields[slot])?;
            if fields[slot].is_null() {
                return None;
            }
            self.skip_whitespace();
            match self.byte()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        Some(fields)
    }

    /// The depth of a collection's items, if the collection may nest that deep.
    fn child(&self, depth: usize) -> Option<usize> {
        (depth < self.limits.depth_max).then_some(depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push_envelope::{decode_json_value_via_serde, json_push_via_serde};
    use crate::test_values::{
        assert_slotted_agrees, envelope, has_duplicate_keys, must_slot, slotted_envelope,
        slotted_schema, LIMITS,
    };
    use proptest::prelude::*;

    /// JSON text for `value`, each choice of spelling (whitespace, number forms, escaped or raw
    /// strings) taken from `pick`. Sets `declinable` when it wrote something the fast path may
    /// leave to the serde path.
    fn encode(
        value: &Value,
        pick: &mut impl FnMut(u8) -> u8,
        out: &mut String,
        declinable: &mut bool,
    ) {
        space(pick, out);
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::I64(v) => match pick(6) {
                0 => out.push_str(&format!("{v}.0")),
                1 => out.push_str(&format!("{v}e0")),
                _ => {
                    out.push_str(&v.to_string());
                    *declinable |= v.unsigned_abs() >= 10u64.pow(18);
                }
            },
            Value::F64(v) if !v.is_finite() => {
                out.push_str(if *v > 0.0 { "1e999" } else { "-1e999" });
                *declinable = true;
            }
            Value::F64(v) => {
                let text = match pick(3) {
                    0 => format!("{v}"),
                    1 => format!("{v:e}"),
                    _ => format!("{v:?}"),
                };
                // An integral float spelled without a fraction is an integer to JSON.
                *declinable |= integer_declined(&text);
                out.push_str(&text);
            }
            Value::Str(s) => {
                if pick(4) == 0 {
                    out.push_str(&serde_json::to_string(s.as_str()).expect("a string"));
                    *declinable |= s.contains(|c: char| c == '"' || c == '\\' || c < ' ');
                } else {
                    // Raw: quotes, backslashes and control characters make it something else
                    // (an escape the serde path reads, or not JSON at all).
                    *declinable |= s.contains(|c: char| c == '"' || c == '\\' || c < ' ');
                    out.push('"');
                    out.push_str(s);
                    out.push('"');
                }
            }
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    encode(item, pick, out, declinable);
                }
                space(pick, out);
                out.push(']');
            }
            Value::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    space(pick, out);
                    out.push_str(&serde_json::to_string(k.as_str()).expect("a string"));
                    *declinable |= k.contains(|c: char| c == '"' || c == '\\' || c < ' ');
                    space(pick, out);
                    out.push(':');
                    encode(v, pick, out, declinable);
                }
                space(pick, out);
                out.push('}');
            }
        }
        space(pick, out);
    }

    /// An integer literal the fast path leaves to the serde path (`-0`, more than 18 digits).
    fn integer_declined(text: &str) -> bool {
        !text.contains(['.', 'e', 'E'])
            && (text == "-0" || text.trim_start_matches('-').len() > INT_DIGITS_MAX)
    }

    fn space(pick: &mut impl FnMut(u8) -> u8, out: &mut String) {
        match pick(8) {
            0 => out.push(' '),
            1 => out.push_str("\n\t\r "),
            _ => {}
        }
    }

    /// The body for `members`, and whether the fast path may decline it although the serde
    /// path takes it.
    fn body(members: &[(String, Value)], picks: &[u8]) -> (Vec<u8>, bool) {
        let mut at = 0usize;
        let mut pick = |n: u8| {
            at += 1;
            picks.get(at % picks.len().max(1)).copied().unwrap_or(0) % n
        };
        let mut declinable = members
            .iter()
            .any(|(name, _)| name != "event" && name != "data")
            || members.iter().any(|(_, v)| has_duplicate_keys(v));
        let mut out = String::from("{");
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            space(&mut pick, &mut out);
            out.push_str(&serde_json::to_string(k).expect("a string"));
            out.push(':');
            encode(v, &mut pick, &mut out, &mut declinable);
        }
        out.push('}');
        space(&mut pick, &mut out);
        (out.into_bytes(), declinable)
    }

    thread_local! {
        /// Names left by the bodies decoded before: hits, misses and replacements.
        static WARM_NAMES: std::cell::RefCell<PushNameCache> = Default::default();
    }

    /// When the fast path answers, the serde path gives the same (NaN-safe comparison), and a
    /// name cache warmed by earlier bodies changes nothing. Also checks the bare-value decoder
    /// on the same bytes.
    /// The slotted decoding of `bytes`, checked against their map decoding `mapped`.
    fn check_slotted(bytes: &[u8], mapped: Option<&PushEnvelope>) -> Option<SlottedPush> {
        let schema = slotted_schema();
        let schema_of = |name: &str| Some((name.len(), &schema));
        let slotted = decode_push_slotted(bytes, "data", &LIMITS, &schema_of);
        assert_slotted_agrees(
            &schema,
            slotted.as_ref(),
            mapped,
            &String::from_utf8_lossy(bytes),
        );
        slotted
    }

    /// The slotted decoding of a bare field object for event `"E"`, checked against
    /// [`decode_value`].
    fn check_bare_slotted(bytes: &[u8]) -> Option<SlottedPush> {
        let schema = slotted_schema();
        let schema_of = |name: &str| Some((name.len(), &schema));
        let slotted = decode_value_slotted(bytes, "E", &LIMITS, &schema_of);
        let mapped = decode_value(bytes, &LIMITS, &mut PushNameCache::default()).map(|fields| {
            PushEnvelope {
                event: "E".into(),
                fields,
            }
        });
        assert_slotted_agrees(
            &schema,
            slotted.as_ref(),
            mapped.as_ref(),
            &String::from_utf8_lossy(bytes),
        );
        slotted
    }

    fn check(bytes: &[u8]) -> Option<PushEnvelope> {
        let fast = decode_push(bytes, "data", &LIMITS, &mut PushNameCache::default());
        check_bare_slotted(bytes);
        check_slotted(bytes, fast.as_ref());
        let warm =
            WARM_NAMES.with(|names| decode_push(bytes, "data", &LIMITS, &mut names.borrow_mut()));
        assert_eq!(
            format!("{fast:?}"),
            format!("{warm:?}"),
            "body {:?}",
            String::from_utf8_lossy(bytes)
        );
        if let Some(fast) = &fast {
            let reference = json_push_via_serde(bytes, "data", LIMITS);
            assert_eq!(
                format!("{:?}", Ok::<_, String>(Some(fast))),
                format!("{:?}", reference.as_ref()),
                "body {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        if let Some(value) = decode_value(bytes, &LIMITS, &mut PushNameCache::default()) {
            let reference = decode_json_value_via_serde(bytes, LIMITS).map_err(|e| e.to_string());
            assert_eq!(
                format!("{:?}", Ok::<_, String>(value)),
                format!("{reference:?}"),
                "body {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        fast
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn fast_path_agrees_with_the_serde_path(
            members in envelope("data"),
            picks in prop::collection::vec(any::<u8>(), 1..32),
            cut in any::<prop::sample::Index>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        ) {
            let (bytes, declinable) = body(&members, &picks);
            let fast = check(&bytes);
            let slotted = check_slotted(&bytes, fast.as_ref());
            if fast.is_some() && must_slot(&slotted_schema(), &members) {
                prop_assert!(slotted.is_some(), "slotted decoding declined {:?}", String::from_utf8_lossy(&bytes));
            }
            // The common shape within the bounds is taken by the fast path, not handed back.
            let reference = json_push_via_serde(&bytes, "data", LIMITS);
            if matches!(reference, Ok(Some(_))) && !declinable {
                prop_assert!(fast.is_some(), "fast path declined {:?}", String::from_utf8_lossy(&bytes));
            }
            // Truncated and mutated bodies.
            check(&bytes[..cut.index(bytes.len() + 1)]);
            let mut mutated = bytes.clone();
            for (at, byte) in &flips {
                let i = at.index(mutated.len());
                mutated[i] = *byte;
            }
            check(&mutated);
            mutated.extend_from_slice(b" x");
            check(&mutated);
        }

        #[test]
        fn slotted_decoding_agrees_with_the_map_decoding(
            members in slotted_envelope("data"),
            picks in prop::collection::vec(any::<u8>(), 1..32),
        ) {
            let (bytes, _) = body(&members, &picks);
            let mapped = check(&bytes);
            let slotted = check_slotted(&bytes, mapped.as_ref());
            if mapped.is_some() && must_slot(&slotted_schema(), &members) {
                prop_assert!(slotted.is_some(), "slotted decoding declined {:?}", String::from_utf8_lossy(&bytes));
            }
            // The data member alone, as `POST /push/:event` sends it.
            if let Some((_, data)) = members.iter().find(|(name, _)| name == "data") {
                let mut declinable = false;
                let mut text = String::new();
                encode(data, &mut |n| picks[0] % n, &mut text, &mut declinable);
                let bare = check_bare_slotted(text.as_bytes());
                check_bare_slotted(format!("{text} x").as_bytes());
                check_bare_slotted(&text.as_bytes()[..text.len() / 2]);
                let fits = must_slot(
                    &slotted_schema(),
                    &[("event".into(), Value::Str("E".into())), ("data".into(), data.clone())],
                );
                let mapped = decode_value(text.as_bytes(), &LIMITS, &mut PushNameCache::default());
                if fits && !declinable && mapped.is_some() {
                    prop_assert!(bare.is_some(), "slotted decoding declined {text:?}");
                }
            }
        }

        #[test]
        fn numbers_agree_with_the_serde_path(text in "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?") {
            let bytes = format!(r#"{{"event":"E","data":{{"n":{text}}}}}"#);
            let fast = check(bytes.as_bytes());
            let declinable = integer_declined(&text)
                || !text.parse::<f64>().expect("a number").is_finite();
            if !declinable {
                prop_assert!(fast.is_some(), "declined {text}");
            }
        }
    }

    #[test]
    fn declines_what_it_leaves_to_the_serde_path() {
        let decline = |body: &str| {
            let names = &mut PushNameCache::default();
            assert!(
                decode_push(body.as_bytes(), "data", &LIMITS, names).is_none(),
                "{body}"
            );
        };
        decline(r#"{"event":"E","data":{"a":"x\ny"}}"#); // an escape
        decline("{\"event\":\"E\",\"data\":{\"a\":\"x\ty\"}}"); // a raw control character
        decline(r#"{"event":"E","data":{"a":1,"a":2}}"#); // a duplicate key
        decline(r#"{"event":"E","event":"F","data":{}}"#); // a repeated member
        decline(r#"{"event":"E","data":{},"extra":1}"#); // another member
        decline(r#"{"event":"E"}"#); // no data: HTTP defaults it, TCP refuses
        decline(r#"{"event":1,"data":{}}"#); // not a string event
        decline(r#"{"event":"E","data":{"a":-0}}"#); // -0 is a float to serde_json
        decline(r#"{"event":"E","data":{"a":1234567890123456789}}"#); // 19 digits
        decline(r#"{"event":"E","data":{"a":1e999}}"#); // out of range
        decline(r#"{"event":"E","data":{"a":01}}"#); // a leading zero
        decline(r#"{"event":"E","data":{"a":1.}}"#);
        decline(r#"{"event":"E","data":[[[[]]]]}"#); // deeper than LIMITS allows
        decline(r#"{"event":"E","data":{}} x"#); // trailing bytes
        decline(r#"{"event":"E","data":{}"#); // truncated
                                              // Thousands of distinct members are checked for duplicates in linear time.
        let members: Vec<String> = (0..10_000).map(|i| format!("\"k{i}\":{i}")).collect();
        let body = format!(r#"{{"event":"E","data":{{{}}}}}"#, members.join(","));
        let names = &mut PushNameCache::default();
        let decoded = decode_push(body.as_bytes(), "data", &DecodeLimits::default(), names)
            .expect("within the default bounds");
        assert!(matches!(decoded.fields, Value::Map(entries) if entries.len() == 10_000));
        let duplicated = body.replacen("\"k9999\"", "\"k5\"", 1);
        assert!(decode_push(
            duplicated.as_bytes(),
            "data",
            &DecodeLimits::default(),
            names
        )
        .is_none());
    }

    #[test]
    fn takes_the_sdk_body_with_cached_names() {
        let names = &mut PushNameCache::default();
        for i in 0..3 {
            let body = format!(
                r#"{{"event":"AgentStep","data":{{"session_id":"s-{i}","ok":true,"tokens":{i},"latency_ms":51.5,"tags":["a",null]}}}}"#
            );
            let decoded = decode_push(body.as_bytes(), "data", &DecodeLimits::default(), names)
                .expect("the common shape");
            assert_eq!(decoded.event, "AgentStep");
            assert_eq!(
                decoded.fields,
                Value::Map(vec![
                    ("session_id".into(), Value::str(&format!("s-{i}"))),
                    ("ok".into(), Value::Bool(true)),
                    ("tokens".into(), Value::I64(i)),
                    ("latency_ms".into(), Value::F64(51.5)),
                    (
                        "tags".into(),
                        Value::List(vec![Value::str("a"), Value::Null])
                    ),
                ])
            );
        }
        assert_eq!(names.fields_cached(), 5);
    }
}
