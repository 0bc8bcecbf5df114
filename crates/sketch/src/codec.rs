//! Byte-level primitives shared by every sketch's `encode`/`decode`.
//!
//! Integers are LEB128 varints (small counts stay one byte), signed integers are zigzag
//! varints, hashes are fixed 8-byte little-endian and floats are IEEE-754 bits, little-endian.
//! The reader is bounds-checked everywhere and never panics: running out of bytes is
//! `SketchError::Truncated`, a malformed varint is `SketchError::Invalid`.

use crate::SketchError;

/// Longest LEB128 encoding of a `u64`.
const VARINT_BYTES_MAX: usize = 10;

pub(crate) fn put_u8(out: &mut Vec<u8>, value: u8) {
    out.push(value);
}

pub(crate) fn put_u64_fixed(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub(crate) fn put_f64(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_bits().to_le_bytes());
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn put_zigzag(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Cursor over an untrusted byte slice.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { input, position: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.position
    }

    pub(crate) fn remaining(&self) -> &'a [u8] {
        &self.input[self.position..]
    }

    /// Reads the version byte and rejects any other version.
    pub(crate) fn expect_version(&mut self, version: u8) -> Result<(), SketchError> {
        let found = self.u8()?;
        if found == version {
            Ok(())
        } else {
            Err(SketchError::BadVersion(found))
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, SketchError> {
        let byte = *self
            .input
            .get(self.position)
            .ok_or(SketchError::Truncated)?;
        self.position += 1;
        Ok(byte)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], SketchError> {
        if self.remaining().len() < len {
            return Err(SketchError::Truncated);
        }
        let bytes = &self.input[self.position..self.position + len];
        self.position += len;
        Ok(bytes)
    }

    pub(crate) fn u64_fixed(&mut self) -> Result<u64, SketchError> {
        let mut buffer = [0u8; 8];
        buffer.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_le_bytes(buffer))
    }

    /// A finite `f64`; NaN and infinities are rejected because no sketch ever stores them.
    pub(crate) fn f64_finite(&mut self) -> Result<f64, SketchError> {
        let value = f64::from_bits(self.u64_fixed()?);
        if value.is_finite() {
            Ok(value)
        } else {
            Err(SketchError::Invalid("non-finite float"))
        }
    }

    pub(crate) fn varint(&mut self) -> Result<u64, SketchError> {
        let mut value = 0u64;
        for byte_idx in 0..VARINT_BYTES_MAX {
            let byte = self.u8()?;
            let payload = u64::from(byte & 0x7F);
            // The 10th byte may only carry the single top bit of a u64.
            if byte_idx == VARINT_BYTES_MAX - 1 && payload > 1 {
                return Err(SketchError::Invalid("varint overflows u64"));
            }
            value |= payload << (7 * byte_idx);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SketchError::Invalid("varint overflows u64"))
    }

    /// A varint that must not exceed `max`; used for every length before allocating.
    pub(crate) fn varint_max(
        &mut self,
        max: u64,
        reason: &'static str,
    ) -> Result<u64, SketchError> {
        let value = self.varint()?;
        if value > max {
            return Err(SketchError::Invalid(reason));
        }
        Ok(value)
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64, SketchError> {
        let raw = self.varint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Advances past `len` bytes that a caller-supplied decoder consumed from `remaining()`.
    pub(crate) fn skip(&mut self, len: usize) -> Result<(), SketchError> {
        self.bytes(len).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_edges() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = Reader::new(&out);
            assert_eq!(reader.varint(), Ok(value));
            assert_eq!(reader.position(), out.len());
        }
    }

    #[test]
    fn zigzag_round_trips_edges() {
        for value in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            put_zigzag(&mut out, value);
            assert_eq!(Reader::new(&out).zigzag(), Ok(value));
        }
    }

    #[test]
    fn varint_rejects_overlong_and_truncated() {
        let overlong = [0xFF; 11];
        assert!(matches!(
            Reader::new(&overlong).varint(),
            Err(SketchError::Invalid(_))
        ));
        let too_big = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        assert!(matches!(
            Reader::new(&too_big).varint(),
            Err(SketchError::Invalid(_))
        ));
        assert_eq!(Reader::new(&[0x80]).varint(), Err(SketchError::Truncated));
    }

    #[test]
    fn f64_rejects_non_finite() {
        let mut out = Vec::new();
        put_f64(&mut out, f64::NAN);
        assert!(matches!(
            Reader::new(&out).f64_finite(),
            Err(SketchError::Invalid(_))
        ));
    }
}
