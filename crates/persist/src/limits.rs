//! Every bound of the WAL in one place, with the relations between them asserted at compile time.
//!
//! Format constants (`*_HEADER_BYTES`, `RECORD_PAYLOAD_BYTES_MAX`) are part of the on-disk format
//! documented in `docs/design/wal-format.md`; changing one is a format version bump. The
//! `*_DEFAULT` values are configuration defaults (see `WalOptions` and `GroupCommitOptions`).

/// Bytes of the fixed segment header at offset 0 of every segment file.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Bytes of the fixed header in front of every record payload.
pub const RECORD_HEADER_BYTES: usize = 32;

/// Largest payload the format can carry. A header declaring more is corruption, and the length
/// is checked against this before any slice or allocation is made from it.
pub const RECORD_PAYLOAD_BYTES_MAX: u32 = 64 * 1024 * 1024;
/// Most LSNs one record may cover (format versions 3 and 4: a record of `n` entries the caller
/// packed into one payload takes LSNs `lsn ..= lsn + n - 1`). A header declaring more is
/// corruption.
pub const RECORD_LSNS_MAX: u32 = 1 << 16;
/// Default cap on appended payloads (`WalOptions::record_bytes_max`).
pub const RECORD_BYTES_MAX_DEFAULT: u32 = 16 * 1024 * 1024;

/// Default size at which the active segment is sealed and a new one started.
pub const SEGMENT_BYTES_TARGET_DEFAULT: u64 = 64 * 1024 * 1024;
/// Smallest accepted rotation target (tests use small segments to exercise rotation).
pub const SEGMENT_BYTES_TARGET_MIN: u64 = 4 * 1024;
/// Largest accepted rotation target.
pub const SEGMENT_BYTES_TARGET_MAX: u64 = 1024 * 1024 * 1024;
/// Largest segment file recovery will read. A segment holds records up to the target, or one
/// record larger than the target, so nothing valid is larger than this.
pub const SEGMENT_FILE_BYTES_MAX: u64 = SEGMENT_BYTES_TARGET_MAX
    + SEGMENT_HEADER_BYTES as u64
    + RECORD_HEADER_BYTES as u64
    + RECORD_PAYLOAD_BYTES_MAX as u64;

/// Sector size assumed by the torn-write classifier: a write that did not reach the disk leaves
/// whole 512-byte, 512-aligned blocks unwritten (zero) or the file short.
pub const SECTOR_BYTES: u64 = 512;

/// Group commit: a batch closes this long after its first record arrived (1 ms).
pub const BATCH_WAIT_US_DEFAULT: u64 = 1_000;
/// Group commit: a batch closes once its payloads add up to this many bytes (1 MiB).
pub const BATCH_BYTES_MAX_DEFAULT: usize = 1024 * 1024;
/// Group commit: bound of the submission queue; past it, `try_submit` refuses.
pub const QUEUE_DEPTH_MAX_DEFAULT: usize = 16 * 1024;
/// Relaxed acknowledgement: the longest time an acked record may stay unsynced (20 ms).
pub const RELAXED_SYNC_INTERVAL_MS_DEFAULT: u64 = 20;

const _: () = assert!(SEGMENT_HEADER_BYTES.is_multiple_of(8));
const _: () = assert!(RECORD_HEADER_BYTES.is_multiple_of(8));
const _: () = assert!(RECORD_BYTES_MAX_DEFAULT <= RECORD_PAYLOAD_BYTES_MAX);
const _: () = assert!(SEGMENT_BYTES_TARGET_MIN <= SEGMENT_BYTES_TARGET_DEFAULT);
const _: () = assert!(SEGMENT_BYTES_TARGET_DEFAULT <= SEGMENT_BYTES_TARGET_MAX);
const _: () =
    assert!(SEGMENT_BYTES_TARGET_MIN > (SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES) as u64);
// A whole batch fits in one record-sized allocation budget and under one segment target.
const _: () = assert!(BATCH_BYTES_MAX_DEFAULT as u64 <= SEGMENT_BYTES_TARGET_DEFAULT);
// The payload length field is a u32.
const _: () = assert!((RECORD_PAYLOAD_BYTES_MAX as u64) < u32::MAX as u64);
