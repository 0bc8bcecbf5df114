//! A direct MessagePack decoder for the common TCP push: `{"event": str, "body": value}` whose
//! values are nil, booleans, integers, floats, UTF-8 strings, arrays and maps — what the beava
//! SDK sends.
//!
//! It exists for speed (the serde path through `rmp_serde` and `model::ValueSeed` was ~0.4 µs of
//! an I/O thread per push, most of weir's decoding cost at TCP 8×256) and decides nothing on
//! its own: anything it does not accept as it stands — another envelope shape, `bin` or `ext`
//! values, non-string keys, duplicate keys, a bound of `DecodeLimits` reached, truncated or
//! trailing-less oddities — returns `None`, and the caller decodes the frame again through the
//! serde path, which is the reference for every answer, errors included. What it does accept
//! decodes to exactly what the serde path gives (tested against it on generated and mutated
//! frames: `fast_path_agrees_with_the_serde_path`).

use crate::push_envelope::{KeysSeen, PushEnvelope, SchemaOf, SlottedPush};
use compact_str::CompactString;
use model::{DecodeLimits, RowSchema, Value};

/// The event name and body field names of the pushes a connection sent last, by position.
/// A client sends the same names in the same order push after push, and cloning an inline
/// `CompactString` copies 24 bytes where building one from the frame's bytes copied them byte
/// by byte into a buffer that was then read back a word at a time — a store-forwarding stall
/// per name, ~1 % of the server's CPU at TCP 8×256 (decision 0020). Holds at most
/// `NAMES_CACHED_MAX` names, each within the decoder's string bound.
#[derive(Debug, Default)]
pub struct PushNameCache {
    event: CompactString,
    fields: Vec<CompactString>,
}

/// Body field names cached per connection, at most.
const NAMES_CACHED_MAX: usize = 32;

impl PushNameCache {
    /// How many body field names the last pushes had (up to the cache's bound): the capacity
    /// to reserve for the next body.
    pub(crate) fn fields_cached(&self) -> usize {
        self.fields.len()
    }

    /// The event name spelled by `raw`; its UTF-8 is checked only when it is not the cached
    /// name (which was checked when it was cached).
    pub(crate) fn event(&mut self, raw: &[u8]) -> Option<CompactString> {
        if self.event.as_bytes() != raw {
            self.event = CompactString::from(std::str::from_utf8(raw).ok()?);
        }
        Some(self.event.clone())
    }

    /// The name of the body's `index`th field, spelled by `raw` (checked as in
    /// [`PushNameCache::event`]).
    pub(crate) fn field(&mut self, index: usize, raw: &[u8]) -> Option<CompactString> {
        if let Some(cached) = self.fields.get_mut(index) {
            if cached.as_bytes() != raw {
                *cached = CompactString::from(std::str::from_utf8(raw).ok()?);
            }
            return Some(cached.clone());
        }
        let name = CompactString::from(std::str::from_utf8(raw).ok()?);
        if index == self.fields.len() && index < NAMES_CACHED_MAX {
            self.fields.push(name.clone());
        }
        Some(name)
    }
}

/// Decodes `payload` if it is a push envelope of the common shape; `None` otherwise (the serde
/// path then decides). Bytes after the envelope are ignored, as `rmp_serde` does.
pub(crate) fn decode_push(
    payload: &[u8],
    limits: &DecodeLimits,
    names: &mut PushNameCache,
) -> Option<PushEnvelope> {
    let mut reader = Reader {
        bytes: payload,
        limits,
        names,
    };
    if reader.map_len()? != 2 {
        return None;
    }
    let mut event = None;
    let mut body = None;
    for _ in 0..2 {
        match reader.str()? {
            "event" if event.is_none() => match reader.peek()? {
                0xa0..=0xbf | 0xd9..=0xdb => {
                    let name = reader.raw_str()?;
                    event = Some(reader.names.event(name)?);
                }
                _ => return None,
            },
            "body" if body.is_none() => body = Some(reader.value(0)?),
            _ => return None,
        }
    }
    Some(PushEnvelope {
        event: event?,
        fields: body?,
    })
}

/// Decodes `payload` straight into the slots of its event's schema if it is `{"event":
/// "<name>", "body": {..}}` (in that order) and fits a [`SlottedPush`]; `None` otherwise
/// (decode it with [`decode_push`], which accepts the same envelopes and more).
pub(crate) fn decode_push_slotted(
    payload: &[u8],
    limits: &DecodeLimits,
    schema_of: &SchemaOf<'_>,
) -> Option<SlottedPush> {
    // No name cache: member names are matched against the schema's columns.
    let mut names = PushNameCache::default();
    let mut reader = Reader {
        bytes: payload,
        limits,
        names: &mut names,
    };
    if reader.map_len()? != 2 || reader.str()? != "event" {
        return None;
    }
    if !matches!(reader.peek()?, 0xa0..=0xbf | 0xd9..=0xdb) {
        return None;
    }
    let (event_id, schema) = schema_of(reader.str()?)?;
    if reader.str()? != "body" {
        return None;
    }
    let fields = reader.slots(schema)?;
    Some(SlottedPush { event_id, fields })
}

struct Reader<'a, 'n> {
    bytes: &'a [u8],
    limits: &'a DecodeLimits,
    names: &'n mut PushNameCache,
}

impl<'a> Reader<'a, '_> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.first().copied()
    }

    fn map_len(&mut self) -> Option<usize> {
        Some(match self.byte()? {
            m @ 0x80..=0x8f => usize::from(m & 0x0f),
            0xde => usize::from(u16::from_be_bytes(self.be()?)),
            0xdf => u32::from_be_bytes(self.be()?) as usize,
            _ => return None,
        })
    }

    /// A `str` within the string bound (keys and values share it).
    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.raw_str()?).ok()
    }

    /// [`Reader::str`]'s bytes, UTF-8 not checked yet.
    fn raw_str(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => usize::from(self.byte()?),
            0xda => usize::from(u16::from_be_bytes(self.be()?)),
            0xdb => u32::from_be_bytes(self.be()?) as usize,
            _ => return None,
        };
        if len > self.limits.string_bytes_max {
            return None;
        }
        self.take(len)
    }

    /// A value at nesting level `depth` (as `ValueSeed::depth`).
    fn value(&mut self, depth: usize) -> Option<Value> {
        let mut value = Value::Null;
        self.value_into(depth, &mut value)?;
        Some(value)
    }

    /// [`Reader::value`] written in place: a collection's items are decoded straight into their
    /// slots, where returning each one and moving it in made the CPU read back values it had
    /// just stored piecewise (store-forwarding stalls, ~1 % of the server's CPU; decision 0020).
    fn value_into(&mut self, depth: usize, out: &mut Value) -> Option<()> {
        let marker = self.peek()?;
        *out = match marker {
            0x00..=0x7f => {
                self.byte()?;
                Value::I64(i64::from(marker))
            }
            0xe0..=0xff => {
                self.byte()?;
                Value::I64(i64::from(marker as i8))
            }
            0xc0 => {
                self.byte()?;
                Value::Null
            }
            0xc2 | 0xc3 => {
                self.byte()?;
                Value::Bool(marker == 0xc3)
            }
            0xcc..=0xd3 => {
                self.byte()?;
                Value::I64(self.int(marker)?)
            }
            0xca => {
                self.byte()?;
                Value::F64(f64::from(f32::from_be_bytes(self.be()?)))
            }
            0xcb => {
                self.byte()?;
                Value::F64(f64::from_be_bytes(self.be()?))
            }
            0xa0..=0xbf | 0xd9..=0xdb => Value::Str(CompactString::from(self.str()?)),
            0x90..=0x9f | 0xdc | 0xdd => {
                self.byte()?;
                let len = match marker {
                    0xdc => usize::from(u16::from_be_bytes(self.be()?)),
                    0xdd => u32::from_be_bytes(self.be()?) as usize,
                    _ => usize::from(marker & 0x0f),
                };
                let child = self.child(depth, len)?;
                // Every item takes at least one byte: a length the frame cannot hold is refused
                // before anything is allocated for it.
                let mut items = Vec::with_capacity(len.min(self.bytes.len()));
                for _ in 0..len {
                    items.push(Value::Null);
                    self.value_into(child, items.last_mut().expect("just pushed"))?;
                }
                Value::List(items)
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let len = self.map_len()?;
                let child = self.child(depth, len)?;
                // Every member takes at least two bytes: a length the frame cannot hold is
                // declined before anything is allocated for it.
                if len > self.bytes.len() / 2 {
                    return None;
                }
                // The members are filled in their slots: pushing each `(key, value)` built on
                // the stack made the CPU read back the key's last word and the value's tag
                // stored separately (a store-forwarding stall per member, ~12 % of decoding).
                let mut entries: Vec<(CompactString, Value)> = Vec::with_capacity(len);
                entries.resize_with(len, Default::default);
                let mut keys = KeysSeen::default();
                for (index, (slot_key, value)) in entries.iter_mut().enumerate() {
                    let key = self.raw_str()?;
                    // The serde path lets the last of duplicate keys win; leave that to it.
                    if !keys.insert(key) {
                        return None;
                    }
                    // Depth 0 is the body itself: its field names repeat push after push.
                    *slot_key = if depth == 0 {
                        self.names.field(index, key)?
                    } else {
                        CompactString::from(std::str::from_utf8(key).ok()?)
                    };
                    self.value_into(child, value)?;
                }
                Value::Map(entries)
            }
            // `bin`, `ext`, the unused marker: the serde path decides.
            _ => return None,
        };
        Some(())
    }

    /// A push body (a map at depth 0) decoded into `schema`'s slots, if it fits a
    /// [`SlottedPush`]: what [`Reader::value_into`] would decode, its members placed by name.
    fn slots(&mut self, schema: &RowSchema) -> Option<Vec<Value>> {
        if !matches!(self.peek()?, 0x80..=0x8f | 0xde | 0xdf) {
            return None;
        }
        let len = self.map_len()?;
        let child = self.child(0, len)?;
        let columns = schema.columns.len();
        // Distinct names only, so at most one member per column.
        if columns > u64::BITS as usize || len > columns {
            return None;
        }
        let mut fields = vec![Value::Null; columns];
        let mut filled = 0u64;
        let mut next_slot = 0;
        for _ in 0..len {
            let key = self.raw_str()?;
            let slot = schema.slot_of_bytes_hinted(key, next_slot)?;
            if filled & (1 << slot) != 0 {
                return None;
            }
            filled |= 1 << slot;
            next_slot = slot + 1;
            self.value_into(child, &mut fields[slot])?;
            if fields[slot].is_null() {
                return None;
            }
        }
        Some(fields)
    }

    /// Integer markers `0xcc..=0xd3`, as a signed 64-bit value (larger ones: serde path).
    fn int(&mut self, marker: u8) -> Option<i64> {
        Some(match marker {
            0xcc => i64::from(self.byte()?),
            0xcd => i64::from(u16::from_be_bytes(self.be()?)),
            0xce => i64::from(u32::from_be_bytes(self.be()?)),
            0xcf => i64::try_from(u64::from_be_bytes(self.be()?)).ok()?,
            0xd0 => i64::from(self.byte()? as i8),
            0xd1 => i64::from(i16::from_be_bytes(self.be()?)),
            0xd2 => i64::from(i32::from_be_bytes(self.be()?)),
            _ => i64::from_be_bytes(self.be()?),
        })
    }

    /// The depth of a collection's items, if the collection is within the bounds.
    fn child(&self, depth: usize, len: usize) -> Option<usize> {
        (depth < self.limits.depth_max && len <= self.limits.collection_len_max)
            .then_some(depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push_envelope::{decode_msgpack_push_via_serde, PushDecodeError};
    use crate::test_values::{
        assert_slotted_agrees, envelope, has_duplicate_keys, must_slot, slotted_envelope,
        slotted_schema, LIMITS,
    };
    use proptest::prelude::*;

    /// MessagePack for `value`, each choice of encoding (integer width, str/array/map header
    /// size, f32 when exact) taken from `pick`.
    fn encode(value: &Value, pick: &mut impl FnMut(u8) -> u8, out: &mut Vec<u8>) {
        match value {
            Value::Null => out.push(0xc0),
            Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
            Value::I64(v) => encode_int(*v, pick(4), out),
            Value::F64(v) => {
                if f64::from(*v as f32).to_bits() == v.to_bits() && pick(2) == 0 {
                    out.push(0xca);
                    out.extend((*v as f32).to_be_bytes());
                } else {
                    out.push(0xcb);
                    out.extend(v.to_be_bytes());
                }
            }
            Value::Str(s) => encode_str(s, pick(4), out),
            Value::List(items) => {
                header(items.len(), [0x90, 0xdc, 0xdd], pick(3), out);
                for item in items {
                    encode(item, pick, out);
                }
            }
            Value::Map(entries) => {
                header(entries.len(), [0x80, 0xde, 0xdf], pick(3), out);
                for (k, v) in entries {
                    encode_str(k, pick(4), out);
                    encode(v, pick, out);
                }
            }
        }
    }

    fn header(len: usize, [fix, m16, m32]: [u8; 3], choice: u8, out: &mut Vec<u8>) {
        match choice {
            0 if len < 16 => out.push(fix | len as u8),
            0 | 1 => {
                out.push(m16);
                out.extend((len as u16).to_be_bytes());
            }
            _ => {
                out.push(m32);
                out.extend((len as u32).to_be_bytes());
            }
        }
    }

    fn encode_str(s: &str, choice: u8, out: &mut Vec<u8>) {
        let len = s.len();
        match choice {
            0 if len < 32 => out.push(0xa0 | len as u8),
            0 | 1 if len < 256 => out.extend([0xd9, len as u8]),
            0..=2 => {
                out.push(0xda);
                out.extend((len as u16).to_be_bytes());
            }
            _ => {
                out.push(0xdb);
                out.extend((len as u32).to_be_bytes());
            }
        }
        out.extend(s.as_bytes());
    }

    /// The smallest encoding, or a wider one of the right signedness when `choice` says so.
    fn encode_int(v: i64, choice: u8, out: &mut Vec<u8>) {
        match (v, choice) {
            (0..=127, 0) => out.push(v as u8),
            (-32..=-1, 0) => out.push(v as i8 as u8),
            (0..=255, 0 | 1) => out.extend([0xcc, v as u8]),
            (-128..=127, 0 | 1) => out.extend([0xd0, v as i8 as u8]),
            (0..=65_535, 0..=2) => {
                out.push(0xcd);
                out.extend((v as u16).to_be_bytes());
            }
            (-32_768..=32_767, 0..=2) => {
                out.push(0xd1);
                out.extend((v as i16).to_be_bytes());
            }
            (0..=0xffff_ffff, _) if choice < 3 => {
                out.push(0xce);
                out.extend((v as u32).to_be_bytes());
            }
            (0.., _) => {
                out.push(0xcf);
                out.extend((v as u64).to_be_bytes());
            }
            (-2_147_483_648..=2_147_483_647, _) if choice < 3 => {
                out.push(0xd2);
                out.extend((v as i32).to_be_bytes());
            }
            _ => {
                out.push(0xd3);
                out.extend(v.to_be_bytes());
            }
        }
    }

    fn frame(members: &[(String, Value)], picks: &[u8]) -> Vec<u8> {
        let mut at = 0usize;
        let mut pick = |n: u8| {
            at += 1;
            picks.get(at % picks.len().max(1)).copied().unwrap_or(0) % n
        };
        let mut out = Vec::new();
        header(members.len(), [0x80, 0xde, 0xdf], pick(3), &mut out);
        for (k, v) in members {
            encode_str(k, pick(4), &mut out);
            encode(v, &mut pick, &mut out);
        }
        out
    }

    thread_local! {
        /// Names left by the frames decoded before: hits, misses and replacements.
        static WARM_NAMES: std::cell::RefCell<PushNameCache> = Default::default();
    }

    /// When the fast path answers, the serde path gives the same (NaN-safe comparison), and a
    /// name cache warmed by earlier frames changes nothing.
    /// The slotted decoding of `bytes`, checked against their map decoding `mapped`.
    fn check_slotted(bytes: &[u8], mapped: Option<&PushEnvelope>) -> Option<SlottedPush> {
        let schema = slotted_schema();
        let schema_of = |name: &str| Some((name.len(), &schema));
        let slotted = decode_push_slotted(bytes, &LIMITS, &schema_of);
        assert_slotted_agrees(&schema, slotted.as_ref(), mapped, &bytes);
        slotted
    }

    fn check(bytes: &[u8]) -> Option<PushEnvelope> {
        let fast = decode_push(bytes, &LIMITS, &mut PushNameCache::default());
        check_slotted(bytes, fast.as_ref());
        let warm = WARM_NAMES.with(|names| decode_push(bytes, &LIMITS, &mut names.borrow_mut()));
        assert_eq!(
            format!("{fast:?}"),
            format!("{warm:?}"),
            "frame {bytes:02x?}"
        );
        if let Some(fast) = &fast {
            let reference = decode_msgpack_push_via_serde(bytes, LIMITS);
            assert_eq!(
                format!("{:?}", Ok::<_, PushDecodeError>(fast)),
                format!("{:?}", reference.as_ref()),
                "frame {bytes:02x?}"
            );
        }
        fast
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn fast_path_agrees_with_the_serde_path(
            members in envelope("body"),
            picks in prop::collection::vec(any::<u8>(), 1..32),
            cut in any::<prop::sample::Index>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        ) {
            let bytes = frame(&members, &picks);
            let fast = check(&bytes);
            let slotted = check_slotted(&bytes, fast.as_ref());
            if fast.is_some() && must_slot(&slotted_schema(), &members) {
                prop_assert!(slotted.is_some(), "slotted decoding declined {bytes:02x?}");
            }
            // The common shape within the bounds is taken by the fast path, not handed back.
            let reference = decode_msgpack_push_via_serde(&bytes, LIMITS);
            if reference.is_ok() && !members.iter().any(|(_, v)| has_duplicate_keys(v)) {
                prop_assert!(fast.is_some(), "fast path declined {bytes:02x?}");
            }
            // Truncated and mutated frames.
            check(&bytes[..cut.index(bytes.len() + 1)]);
            let mut mutated = bytes.clone();
            for (at, byte) in &flips {
                let i = at.index(mutated.len());
                mutated[i] = *byte;
            }
            check(&mutated);
            mutated.extend_from_slice(&[0xc1, 0x00]);
            check(&mutated);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn slotted_decoding_agrees_with_the_map_decoding(
            members in slotted_envelope("body"),
            picks in prop::collection::vec(any::<u8>(), 1..32),
        ) {
            let bytes = frame(&members, &picks);
            let mapped = check(&bytes);
            let slotted = check_slotted(&bytes, mapped.as_ref());
            if mapped.is_some() && must_slot(&slotted_schema(), &members) {
                prop_assert!(slotted.is_some(), "slotted decoding declined {bytes:02x?}");
            }
        }
    }

    #[test]
    fn declines_what_it_leaves_to_the_serde_path() {
        let decline = |bytes: &[u8]| {
            let names = &mut PushNameCache::default();
            assert!(decode_push(bytes, &LIMITS, names).is_none(), "{bytes:02x?}");
        };
        // bin value, ext value, non-string key, duplicate key, u64 past i64::MAX, too deep.
        decline(b"\x82\xa5event\xa1E\xa4body\x81\xa1a\xc4\x01x");
        decline(b"\x82\xa5event\xa1E\xa4body\x81\xa1a\xd4\x01\x00");
        decline(b"\x82\xa5event\xa1E\xa4body\x81\x01\x02");
        decline(b"\x82\xa5event\xa1E\xa4body\x82\xa1a\x01\xa1a\x02");
        decline(b"\x82\xa5event\xa1E\xa4body\x81\xa1a\xcf\xff\xff\xff\xff\xff\xff\xff\xff");
        decline(b"\x82\xa5event\xa1E\xa4body\x91\x91\x91\x91\x90");
        // A long collection header the frame cannot hold allocates nothing and declines.
        decline(b"\x82\xa5event\xa1E\xa4body\xdd\xff\xff\xff\xff");
        let limits = DecodeLimits::default();
        let names = &mut PushNameCache::default();
        let frame = b"\x82\xa5event\xa1E\xa4body\xdd\xff\xff\xff\xff";
        assert!(decode_push(frame, &limits, names).is_none());
    }

    #[test]
    fn cached_names_follow_each_push() {
        // One connection's cache across pushes whose names change, move, shrink and grow past
        // the cache: every body decodes to exactly its own names.
        let names = &mut PushNameCache::default();
        let limits = DecodeLimits::default();
        let bodies: Vec<Vec<String>> = vec![
            vec!["user".into(), "tool".into()],
            vec!["user".into(), "tool".into()],
            vec![
                "tool".into(),
                "user".into(),
                "a_name_longer_than_24_bytes_x".into(),
            ],
            vec!["user".into()],
            (0..40).map(|i| format!("f{i}")).collect(),
            (0..40).map(|i| format!("g{i}")).collect(),
            vec!["user".into(), "tool".into()],
        ];
        for (n, fields) in bodies.iter().enumerate() {
            let event = if n % 2 == 0 { "Step" } else { "Other" };
            let body = Value::Map(
                fields
                    .iter()
                    .map(|name| (name.as_str().into(), Value::I64(n as i64)))
                    .collect(),
            );
            let members = vec![
                ("event".to_string(), Value::Str(event.into())),
                ("body".to_string(), body.clone()),
            ];
            let decoded = decode_push(&frame(&members, &[0]), &limits, names).expect("common");
            assert_eq!(decoded.event, event);
            assert_eq!(decoded.fields, body, "push {n}");
        }
        assert_eq!(names.fields.len(), NAMES_CACHED_MAX);
    }
}
