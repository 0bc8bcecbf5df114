//! The record format: a 32-byte header with two CRC32C checksums, then the opaque payload.
//!
//! ```text
//! offset  size  field
//!      0     4  header_crc   CRC32C(salt ‖ bytes[4..28])        — lets recovery trust the length
//!      4     8  lsn          u64 LE, dense and increasing
//!     12     8  durable_lsn  u64 LE, highest LSN whose fsync had completed when this was encoded
//!     20     4  payload_len  u32 LE, <= RECORD_PAYLOAD_BYTES_MAX
//!     24     4  extra_lsns   u32 LE, LSNs covered after `lsn` (< RECORD_LSNS_MAX); always 0
//!                            in format versions 1 and 2 (where the field was `flags`)
//!     28     4  record_crc   CRC32C(salt ‖ bytes[4..28] ‖ payload)  — header fields and payload
//!     32     n  payload
//! ```
//!
//! Both checksums are seeded with the segment's random `salt` (from the segment header), so bytes
//! left over from any other file or any earlier use of the same file name never validate.
//! The full rationale, and what recovery does with each decode outcome, is in
//! `docs/design/wal-format.md`.
//!
//! `decode` never panics and never allocates: it borrows the payload from the input, and the
//! declared length is checked against the format maximum before it is used to slice.

use crate::limits::{RECORD_HEADER_BYTES, RECORD_LSNS_MAX, RECORD_PAYLOAD_BYTES_MAX};
use crate::lsn::Lsn;

/// The fields of a record header whose `header_crc` checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub lsn: Lsn,
    pub durable_lsn: Lsn,
    pub payload_len: u32,
    /// The record covers LSNs `lsn ..= lsn + extra_lsns` (the caller packed that many entries
    /// into its payload; format versions 3 and 4).
    pub extra_lsns: u32,
    pub record_crc: u32,
}

impl RecordHeader {
    /// LSNs this record covers (at least 1).
    pub fn lsn_count(&self) -> u64 {
        u64::from(self.extra_lsns) + 1
    }

    /// The LSN after the last one this record covers: the next record's LSN.
    pub fn next_lsn(&self) -> Lsn {
        Lsn(self.lsn.0 + self.lsn_count())
    }

    /// Header plus payload bytes.
    pub fn record_bytes(&self) -> u64 {
        RECORD_HEADER_BYTES as u64 + u64::from(self.payload_len)
    }
}

/// What `decode` found at the start of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordDecode<'a> {
    /// A complete record whose checksums both match.
    Valid {
        header: RecordHeader,
        payload: &'a [u8],
    },
    /// Fewer than `RECORD_HEADER_BYTES` bytes are left.
    ShortHeader { bytes_available: usize },
    /// A full header is present but its `header_crc` does not match: no field can be trusted.
    HeaderCrcMismatch,
    /// The header checks out but declares a payload above `RECORD_PAYLOAD_BYTES_MAX`.
    LengthAboveMax { header: RecordHeader },
    /// The header checks out but claims to cover `RECORD_LSNS_MAX` LSNs or more.
    LsnCountAboveMax { header: RecordHeader },
    /// The header checks out but claims its own LSN was durable before it was written.
    DurableNotBeforeLsn { header: RecordHeader },
    /// The header checks out but the input ends inside the payload.
    ShortPayload {
        header: RecordHeader,
        bytes_available: usize,
    },
    /// Header and payload are all present but `record_crc` does not match.
    RecordCrcMismatch { header: RecordHeader },
}

fn salted(salt: u32) -> u32 {
    crc32c::crc32c(&salt.to_le_bytes())
}

/// Appends one encoded record covering the single LSN `lsn` to `out`.
pub fn encode(out: &mut Vec<u8>, salt: u32, lsn: Lsn, durable_lsn: Lsn, payload: &[u8]) {
    encode_many(out, salt, lsn, 1, durable_lsn, payload);
}

/// Appends one encoded record covering LSNs `lsn .. lsn + lsn_count` to `out` (only segments of
/// format versions 3 and 4 may hold one with `lsn_count > 1`).
///
/// Panics if `payload` is longer than `RECORD_PAYLOAD_BYTES_MAX`, if `lsn_count` is 0 or above
/// `RECORD_LSNS_MAX`, or if `durable_lsn` is not below `lsn`: callers check sizes and own the
/// LSN sequence, so each is a programmer error.
pub fn encode_many(
    out: &mut Vec<u8>,
    salt: u32,
    lsn: Lsn,
    lsn_count: u32,
    durable_lsn: Lsn,
    payload: &[u8],
) {
    assert!(payload.len() <= RECORD_PAYLOAD_BYTES_MAX as usize);
    assert!((1..=RECORD_LSNS_MAX).contains(&lsn_count));
    assert!(durable_lsn < lsn);
    assert!(lsn != Lsn::ZERO);
    let start = out.len();
    let payload_len = payload.len() as u32;
    let mut fields = [0u8; 24];
    fields[0..8].copy_from_slice(&lsn.0.to_le_bytes());
    fields[8..16].copy_from_slice(&durable_lsn.0.to_le_bytes());
    fields[16..20].copy_from_slice(&payload_len.to_le_bytes());
    fields[20..24].copy_from_slice(&(lsn_count - 1).to_le_bytes());
    let seed = salted(salt);
    let header_crc = crc32c::crc32c_append(seed, &fields);
    // CRC32C(salt ‖ fields ‖ payload) continues CRC32C(salt ‖ fields).
    let record_crc = crc32c::crc32c_append(header_crc, payload);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&fields);
    out.extend_from_slice(&record_crc.to_le_bytes());
    out.extend_from_slice(payload);
    debug_assert_eq!(out.len() - start, RECORD_HEADER_BYTES + payload.len());
    // Pair assertion: what was just encoded decodes to the same thing.
    debug_assert!(matches!(
        decode(&out[start..], salt),
        RecordDecode::Valid { header, .. } if header.lsn == lsn
            && header.payload_len == payload_len
            && header.lsn_count() == u64::from(lsn_count)
    ));
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

/// Decodes the record at the start of `input` (the rest of the segment from some offset on).
/// Never panics, never allocates.
pub fn decode(input: &[u8], salt: u32) -> RecordDecode<'_> {
    if input.len() < RECORD_HEADER_BYTES {
        return RecordDecode::ShortHeader {
            bytes_available: input.len(),
        };
    }
    let head = &input[..RECORD_HEADER_BYTES];
    let seed = salted(salt);
    let fields = &head[4..28];
    let header_crc = crc32c::crc32c_append(seed, fields);
    if header_crc != u32_at(head, 0) {
        return RecordDecode::HeaderCrcMismatch;
    }
    let header = RecordHeader {
        lsn: Lsn(u64_at(head, 4)),
        durable_lsn: Lsn(u64_at(head, 12)),
        payload_len: u32_at(head, 20),
        extra_lsns: u32_at(head, 24),
        record_crc: u32_at(head, 28),
    };
    if header.payload_len > RECORD_PAYLOAD_BYTES_MAX {
        return RecordDecode::LengthAboveMax { header };
    }
    if header.extra_lsns >= RECORD_LSNS_MAX {
        return RecordDecode::LsnCountAboveMax { header };
    }
    if header.durable_lsn >= header.lsn {
        return RecordDecode::DurableNotBeforeLsn { header };
    }
    let body = &input[RECORD_HEADER_BYTES..];
    let payload_len = header.payload_len as usize;
    if body.len() < payload_len {
        return RecordDecode::ShortPayload {
            header,
            bytes_available: input.len(),
        };
    }
    let payload = &body[..payload_len];
    if crc32c::crc32c_append(header_crc, payload) != header.record_crc {
        return RecordDecode::RecordCrcMismatch { header };
    }
    RecordDecode::Valid { header, payload }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        encode(&mut out, 7, Lsn(5), Lsn(3), b"hello");
        encode(&mut out, 7, Lsn(6), Lsn(5), b"");
        let RecordDecode::Valid { header, payload } = decode(&out, 7) else {
            panic!()
        };
        assert_eq!(header.lsn, Lsn(5));
        assert_eq!(header.durable_lsn, Lsn(3));
        assert_eq!(payload, b"hello");
        let rest = &out[header.record_bytes() as usize..];
        let RecordDecode::Valid { header, payload } = decode(rest, 7) else {
            panic!()
        };
        assert_eq!(header.lsn, Lsn(6));
        assert!(payload.is_empty());
    }

    #[test]
    fn a_record_covering_several_lsns_round_trips_and_names_the_next_lsn() {
        let mut out = Vec::new();
        encode_many(&mut out, 3, Lsn(10), 700, Lsn(9), b"packed entries");
        encode(&mut out, 3, Lsn(710), Lsn(709), b"next");
        let RecordDecode::Valid { header, payload } = decode(&out, 3) else {
            panic!()
        };
        assert_eq!((header.lsn, header.lsn_count()), (Lsn(10), 700));
        assert_eq!(header.next_lsn(), Lsn(710));
        assert_eq!(payload, b"packed entries");
        let rest = &out[header.record_bytes() as usize..];
        assert!(matches!(
            decode(rest, 3),
            RecordDecode::Valid { header, .. } if header.lsn == Lsn(710) && header.lsn_count() == 1
        ));
    }

    #[test]
    fn an_lsn_count_above_the_maximum_is_refused_even_with_valid_checksums() {
        let mut out = Vec::new();
        encode(&mut out, 5, Lsn(2), Lsn(1), b"x");
        // Rewrite extra_lsns to the maximum and fix both checksums, as a buggy writer would.
        out[24..28].copy_from_slice(&RECORD_LSNS_MAX.to_le_bytes());
        let seed = salted(5);
        let header_crc = crc32c::crc32c_append(seed, &out[4..28]);
        let record_crc = crc32c::crc32c_append(header_crc, &out[32..]);
        out[0..4].copy_from_slice(&header_crc.to_le_bytes());
        out[28..32].copy_from_slice(&record_crc.to_le_bytes());
        assert!(matches!(
            decode(&out, 5),
            RecordDecode::LsnCountAboveMax { header } if header.extra_lsns == RECORD_LSNS_MAX
        ));
    }

    #[test]
    fn another_salt_never_validates() {
        let mut out = Vec::new();
        encode(&mut out, 7, Lsn(5), Lsn(3), b"hello");
        assert_eq!(decode(&out, 8), RecordDecode::HeaderCrcMismatch);
    }

    #[test]
    fn zeros_never_validate() {
        for salt in [0, 1, u32::MAX] {
            assert_eq!(decode(&[0u8; 64], salt), RecordDecode::HeaderCrcMismatch);
        }
    }

    #[test]
    fn short_payload_is_reported_with_its_header() {
        let mut out = Vec::new();
        encode(&mut out, 1, Lsn(9), Lsn(8), &[1u8; 100]);
        out.truncate(RECORD_HEADER_BYTES + 40);
        assert!(matches!(
            decode(&out, 1),
            RecordDecode::ShortPayload { header, bytes_available: 72 } if header.lsn == Lsn(9)
        ));
    }
}
