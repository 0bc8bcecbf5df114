//! The segment file: a 32-byte header, then records back to back; named by its first LSN.
//!
//! ```text
//! offset  size  field
//!      0     8  magic           b"weir-wal"
//!      8     4  format_version  u32 LE, 1 to 4 (below)
//!     12     4  salt            u32 LE, random per segment; seeds every record checksum in it
//!     16     8  first_lsn       u64 LE, LSN of the first record (also the file name)
//!     24     4  flags           u32 LE, 0 (reserved)
//!     28     4  header_crc      CRC32C(bytes[0..28])
//!     32        records
//! ```
//!
//! File name: `{first_lsn:020}.wal` (decimal, zero-padded, so names sort in LSN order and match
//! the LSNs printed in logs). A segment is created as `{name}.tmp`, its header written and
//! fsynced, then renamed into place and the directory fsynced: a file with a segment name always
//! has a complete, durable header, so a bad header is corruption, never a torn write.
//!
//! Versions 2 and 4 (written when preallocation is on) have the same bytes as 1 and 3; what
//! changes is what the file size means: such a segment may be longer than its records, the rest
//! being zeros written (and fsynced) before any record. In the active segment, zeros from a
//! record boundary to EOF are unused space; a sealed segment is truncated to its records before
//! its successor exists. Versions 3 and 4 add one thing to 1 and 2: a record may cover several
//! consecutive LSNs (its `extra_lsns` field, `flags` and always 0 before). Every version is
//! read; a log writes 3 or 4 (`docs/design/wal-format.md`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::limits::SEGMENT_HEADER_BYTES;
use crate::lsn::Lsn;

/// Magic bytes at offset 0 of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"weir-wal";
/// The format version a log with preallocation on writes: 4, segments that may be preallocated
/// (zero-filled space after the records) and whose records may cover several LSNs.
pub const FORMAT_VERSION: u32 = 4;
/// The format version a log with preallocation off writes: 3, the file size is exactly the bytes
/// written, and records may cover several LSNs.
pub const FORMAT_VERSION_PLAIN: u32 = 3;
/// Format version 2 (read only): version 4 without records covering several LSNs.
pub const FORMAT_VERSION_PREALLOCATED_SINGLE: u32 = 2;
/// Format version 1 (read only): version 3 without records covering several LSNs.
pub const FORMAT_VERSION_PLAIN_SINGLE: u32 = 1;

/// Whether a segment of `version` may be longer than its records (zero-filled space after them).
pub fn may_be_preallocated(version: u32) -> bool {
    version == FORMAT_VERSION || version == FORMAT_VERSION_PREALLOCATED_SINGLE
}

/// Whether a record in a segment of `version` may cover more than one LSN.
pub fn allows_lsn_spans(version: u32) -> bool {
    version == FORMAT_VERSION || version == FORMAT_VERSION_PLAIN
}
/// File-name suffix of a segment.
pub const SEGMENT_SUFFIX: &str = ".wal";
/// File-name suffix of a segment being created (never holds records; removed on open).
pub const TMP_SUFFIX: &str = ".tmp";
/// Name of the spare segment a preallocating log prepares (zero-filled, fsynced) for its next
/// rotation. It ends in `.wal.tmp`, so an open removes a leftover one like any other tmp file.
pub const SPARE_FILE_NAME: &str = "spare.wal.tmp";
/// Marker in the name of a torn-tail quarantine file (`{segment}.torn-{offset}`).
pub const TORN_MARKER: &str = ".torn-";

/// A segment, identified by the LSN of its first record (which is also its file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub Lsn);

impl SegmentId {
    /// `{first_lsn:020}.wal`.
    pub fn file_name(self) -> String {
        format!("{:020}{SEGMENT_SUFFIX}", self.0 .0)
    }

    /// The id of a segment file name, or `None` for any other file.
    pub fn parse(file_name: &str) -> Option<SegmentId> {
        let digits = file_name.strip_suffix(SEGMENT_SUFFIX)?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits
            .parse::<u64>()
            .ok()
            .map(|first| SegmentId(Lsn(first)))
    }

    /// The first LSN of the segment.
    pub fn first_lsn(self) -> Lsn {
        self.0
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file_name())
    }
}

/// The decoded, checked segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// `FORMAT_VERSION_PLAIN` (1) or `FORMAT_VERSION` (2).
    pub version: u32,
    pub salt: u32,
    pub first_lsn: Lsn,
}

impl SegmentHeader {
    /// The 32 header bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut bytes = [0u8; SEGMENT_HEADER_BYTES];
        bytes[0..8].copy_from_slice(&SEGMENT_MAGIC);
        bytes[8..12].copy_from_slice(&self.version.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.salt.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.first_lsn.0.to_le_bytes());
        bytes[24..28].copy_from_slice(&0u32.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[0..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes and checks a segment header; the error is a human-readable reason.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        if bytes.len() < SEGMENT_HEADER_BYTES {
            return Err(format!(
                "segment header is {} bytes, expected {SEGMENT_HEADER_BYTES}",
                bytes.len()
            ));
        }
        let head = &bytes[..SEGMENT_HEADER_BYTES];
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&head[28..32]);
        if crc32c::crc32c(&head[0..28]) != u32::from_le_bytes(crc) {
            return Err("segment header checksum mismatch".to_string());
        }
        if head[0..8] != SEGMENT_MAGIC {
            return Err("bad segment magic".to_string());
        }
        let mut word = [0u8; 4];
        word.copy_from_slice(&head[8..12]);
        let version = u32::from_le_bytes(word);
        if !(FORMAT_VERSION_PLAIN_SINGLE..=FORMAT_VERSION).contains(&version) {
            return Err(format!("unsupported format version {version}"));
        }
        word.copy_from_slice(&head[24..28]);
        if u32::from_le_bytes(word) != 0 {
            return Err("unknown segment header flags".to_string());
        }
        word.copy_from_slice(&head[12..16]);
        let salt = u32::from_le_bytes(word);
        let mut long = [0u8; 8];
        long.copy_from_slice(&head[16..24]);
        Ok(SegmentHeader {
            version,
            salt,
            first_lsn: Lsn(u64::from_le_bytes(long)),
        })
    }
}

/// A fresh salt for a new segment.
///
/// It only has to differ between files that could ever share bytes; it mixes the wall clock, the
/// process id, a process-wide counter and the first LSN. A salt for which an all-zero record
/// header would pass its checksum is skipped, so zero-filled space can never validate.
pub fn new_salt(first_lsn: Lsn) -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut attempt = 0u64;
    loop {
        let mut seed = [0u8; 32];
        seed[0..8].copy_from_slice(&nanos.to_le_bytes());
        seed[8..16].copy_from_slice(&u64::from(std::process::id()).to_le_bytes());
        seed[16..24].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        seed[24..32].copy_from_slice(&(first_lsn.0 ^ attempt).to_le_bytes());
        let salt = crc32c::crc32c(&seed);
        let zero_header_crc =
            crc32c::crc32c_append(crc32c::crc32c(&salt.to_le_bytes()), &[0u8; 24]);
        if zero_header_crc != 0 {
            return salt;
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        let id = SegmentId(Lsn(1234));
        assert_eq!(id.file_name(), "00000000000000001234.wal");
        assert_eq!(SegmentId::parse(&id.file_name()), Some(id));
        assert_eq!(SegmentId::parse("00000000000000001234.wal.tmp"), None);
        assert_eq!(SegmentId::parse("1234.wal"), None);
        assert!(SegmentId(Lsn(99)).file_name() < SegmentId(Lsn(100)).file_name());
    }

    #[test]
    fn header_round_trip_and_checks() {
        for version in [
            FORMAT_VERSION_PLAIN_SINGLE,
            FORMAT_VERSION_PREALLOCATED_SINGLE,
            FORMAT_VERSION_PLAIN,
            FORMAT_VERSION,
        ] {
            let header = SegmentHeader {
                version,
                salt: 0xdead_beef,
                first_lsn: Lsn(77),
            };
            assert_eq!(SegmentHeader::decode(&header.encode()), Ok(header));
        }
        let unknown = SegmentHeader {
            version: 5,
            salt: 1,
            first_lsn: Lsn(1),
        }
        .encode();
        assert!(
            SegmentHeader::decode(&unknown).is_err(),
            "version 5 is refused"
        );
        let header = SegmentHeader {
            version: FORMAT_VERSION,
            salt: 0xdead_beef,
            first_lsn: Lsn(77),
        };
        let bytes = header.encode();
        for idx in 0..SEGMENT_HEADER_BYTES {
            let mut flipped = bytes;
            flipped[idx] ^= 0x10;
            assert!(SegmentHeader::decode(&flipped).is_err());
        }
        assert!(SegmentHeader::decode(&bytes[..31]).is_err());
        assert!(SegmentHeader::decode(&[0u8; 32]).is_err());
    }
}
