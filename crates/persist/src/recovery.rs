//! Recovery: a read-only scan that validates the whole log and classifies the first damage it
//! finds as a torn tail (repairable) or corruption (refuse to start); then the replay pass.
//!
//! # Torn tail versus corruption
//!
//! Damage can only be a torn write if it sits in the **last** segment: a segment is fsynced
//! before its successor is created, and a segment's header is fsynced before the file gets its
//! name, so every earlier segment and every header is complete by construction. In the last
//! segment, let `p` be the offset of the first record that does not decode as a valid record
//! with the expected LSN `L`. The bytes `[p, EOF)` are a torn tail iff both hold:
//!
//! 1. **Shape: the record at `p` is physically incomplete.** One of
//!    - *short header*: fewer than 32 bytes are left;
//!    - *zero fill*: the file ends in zeros that start inside the record at `p` (inside its
//!      header if the header checksum fails; else inside the record, with zeros continuing past
//!      its end) or at `p` itself: a write whose prefix landed while the file size already
//!      covered more (a preallocated tail, or a size update that reached the disk before the
//!      data);
//!    - *short payload*: the header's own checksum matches (so its length can be trusted), its
//!      LSN is `L`, and the file ends inside the payload;
//!    - *missing sector*: a 512-byte, 512-aligned sector overlapping the record (its 32-byte
//!      header if the header checksum fails, else header and payload) reads as all zeros from
//!      `max(sector, p)` to `min(sector end, EOF)`: a sector that never reached the disk.
//!
//!    A record that is complete (all its bytes present, no missing sector) but fails its
//!    checksum is corruption, *even if it is the last record*: bit rot and misdirected writes
//!    leave the file length intact, torn writes do not. A header whose checksum matches but whose
//!    fields are impossible (LSN out of sequence, length above the maximum, an LSN count the
//!    segment's format does not allow) was
//!    written that way and is corruption too.
//! 2. **Watermark: nothing later proves `L` was durable.** Each record header carries
//!    `durable_lsn`, the highest LSN whose fsync had completed when it was encoded. If any record
//!    after `p` (found by re-synchronising on a valid header checksum) has `durable_lsn >= L`,
//!    record `L` had been fsynced — and possibly acknowledged — so its damage is corruption.
//!
//! Why not the anchors' rules: etcd (and elastickv, which inherits it) classify by error kind,
//! so a flipped bit in a length field points past EOF, reads as `ErrUnexpectedEOF` and
//! truncates every later record of the segment; a zeroed sector anywhere in the last file does
//! the same. raft-engine's `TolerateTailCorruption` truncates on *any* decode error in the last
//! file. Both can drop acknowledged records silently. The separate header checksum here means a
//! damaged length is never trusted, and the two conditions above mean only bytes that were never
//! complete, and never covered by a later record's durability claim, are cut.
//!
//! A record may cover several LSNs (format versions 3 and 4): the next record's expected LSN is
//! then the one after the last it covers; `L` above is the first LSN of the record at `p`.
//!
//! # Preallocated segments (format versions 2 and 4)
//!
//! Such a segment may be longer than its records: it was zero-filled and fsynced before its
//! first record. In the last segment, if every byte from the first invalid record boundary `p`
//! to EOF is zero, that is unused space: the scan ends **clean** at `p` (no repair, no
//! quarantine; appends resume at `p`). Anything else there is classified by the rule above,
//! unchanged (a record partially written over the zeros has the *zero fill* shape). A sealed
//! segment is truncated to its records before its successor is created, so a zero tail in a
//! sealed segment is damage like any other. Plain segments (versions 1 and 3) keep the plain rule
//! exactly (a zero tail at a record boundary is a *zero fill* torn tail).
//!
//! Residual risk, documented rather than hidden: if the very last record of the log was
//! acknowledged, nothing valid was written after it, and damage hits it in a way that looks torn
//! (a whole sector of it turns to zeros; or a bit flips in it while its payload happens to end in
//! zero bytes that run into a zero-filled tail, or its final partial sector is naturally zero),
//! it is cut as torn — after being copied to the quarantine file. No local rule can tell this
//! case from a torn write without another fsync per batch.

use std::path::{Path, PathBuf};

use crate::disk::Disk;
use crate::error::{IoOp, WalError};
use crate::limits::{
    RECORD_HEADER_BYTES, SECTOR_BYTES, SEGMENT_FILE_BYTES_MAX, SEGMENT_HEADER_BYTES,
};
use crate::lsn::Lsn;
use crate::record::{self, RecordDecode};
use crate::segment::{
    allows_lsn_spans, may_be_preallocated, SegmentHeader, SegmentId, SEGMENT_SUFFIX, TMP_SUFFIX,
};

/// Why a tail was classified as torn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TornKind {
    ShortHeader,
    ShortPayload,
    ZeroFill,
    MissingSector,
}

/// An incomplete trailing write in the last segment: `[offset, offset + bytes)` is cut on open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub segment: SegmentId,
    pub path: PathBuf,
    pub offset: u64,
    /// The LSN the cut record would have had.
    pub lsn: Lsn,
    pub bytes: u64,
    /// Bytes copied to the quarantine file: `[offset, offset + quarantine_bytes)`. Equal to
    /// `bytes` in a version-1 segment; in a version-2 segment the zeros after the last non-zero
    /// byte are unused preallocated space and are not copied.
    pub quarantine_bytes: u64,
    pub kind: TornKind,
}

/// The first corruption found: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptAt {
    /// Index into `LogScan::segments` of the damaged segment.
    pub segment_idx: usize,
    pub path: PathBuf,
    pub offset: u64,
    /// The LSN expected at `offset`.
    pub lsn: Lsn,
    pub reason: String,
    /// The whole segment is unusable (bad header, or it does not continue the LSN sequence).
    pub whole_segment: bool,
}

impl CorruptAt {
    pub fn to_error(&self) -> WalError {
        WalError::Corrupt {
            file: self.path.clone(),
            offset: self.offset,
            lsn: self.lsn,
            reason: self.reason.clone(),
        }
    }
}

/// One scanned segment: everything up to `valid_end` decoded as valid, LSN-continuous records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentScan {
    pub id: SegmentId,
    pub path: PathBuf,
    /// Segment format version (0 if the header was not read).
    pub version: u32,
    pub salt: u32,
    pub file_bytes: u64,
    pub valid_end: u64,
    pub n_records: u64,
    /// LSN after the last valid record (the segment's first LSN if it holds none).
    pub next_lsn: Lsn,
}

/// How the scan ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    Clean,
    Torn(TornTail),
    Corrupt(CorruptAt),
}

/// The result of scanning a WAL directory. Read-only: scanning never modifies anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogScan {
    pub dir: PathBuf,
    /// Segments in LSN order. On corruption, segments after the damaged one are listed but were
    /// not validated (`n_records` 0, `valid_end` at the header).
    pub segments: Vec<SegmentScan>,
    /// Leftover `*.wal.tmp` files from an interrupted segment creation.
    pub tmp_files: Vec<PathBuf>,
    pub end: ScanEnd,
    pub n_records: u64,
    pub bytes_scanned: u64,
}

impl LogScan {
    /// LSN after the last record that survives recovery (`None` for an empty directory).
    pub fn next_lsn(&self) -> Option<Lsn> {
        let last = self.segments.last()?;
        Some(match &self.end {
            ScanEnd::Corrupt(corrupt) => corrupt.lsn,
            _ => last.next_lsn,
        })
    }

    /// LSN of the first record in the log (`None` for an empty directory).
    pub fn first_lsn(&self) -> Option<Lsn> {
        self.segments.first().map(|segment| segment.id.first_lsn())
    }
}

fn io_error(op: IoOp, path: &Path, error: &std::io::Error) -> WalError {
    WalError::io(op, path, error)
}

/// Segment ids and leftover tmp files in `dir`. A missing directory is an empty log.
pub(crate) fn list_segments(
    disk: &dyn Disk,
    dir: &Path,
) -> Result<(Vec<SegmentId>, Vec<PathBuf>), WalError> {
    let names = match disk.list_dir(dir) {
        Ok(names) => names,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(io_error(IoOp::List, dir, &error)),
    };
    let mut ids = Vec::new();
    let mut tmp_files = Vec::new();
    for name in names {
        if let Some(id) = SegmentId::parse(&name) {
            ids.push(id);
        } else if name.ends_with(&format!("{SEGMENT_SUFFIX}{TMP_SUFFIX}")) {
            tmp_files.push(dir.join(name));
        }
    }
    ids.sort();
    tmp_files.sort();
    Ok((ids, tmp_files))
}

/// Reads a segment file into `buf` (reused from segment to segment: a fresh 64 MiB buffer per
/// segment is a fresh 64 MiB of page faults), refusing sizes no valid segment can have before
/// allocating for it.
pub(crate) fn read_segment<'b>(
    disk: &dyn Disk,
    path: &Path,
    buf: &'b mut Vec<u8>,
) -> Result<Result<&'b [u8], String>, WalError> {
    let len = disk
        .file_len(path)
        .map_err(|error| io_error(IoOp::Read, path, &error))?;
    if len > SEGMENT_FILE_BYTES_MAX {
        return Ok(Err(format!(
            "segment is {len} bytes, above the {SEGMENT_FILE_BYTES_MAX} maximum"
        )));
    }
    disk.read_file_into(path, buf)
        .map_err(|error| io_error(IoOp::Read, path, &error))?;
    Ok(Ok(buf))
}

/// Scans the whole log in `dir`. Returns `Err` only for IO failures; damage is in `LogScan::end`.
pub fn scan(disk: &dyn Disk, dir: &Path) -> Result<LogScan, WalError> {
    let (ids, tmp_files) = list_segments(disk, dir)?;
    let mut log = LogScan {
        dir: dir.to_path_buf(),
        segments: Vec::with_capacity(ids.len()),
        tmp_files,
        end: ScanEnd::Clean,
        n_records: 0,
        bytes_scanned: 0,
    };
    let mut expected: Option<Lsn> = None;
    let mut buf = Vec::new();
    for (segment_idx, &id) in ids.iter().enumerate() {
        let path = dir.join(id.file_name());
        let is_last = segment_idx + 1 == ids.len();
        let placeholder = SegmentScan {
            id,
            path: path.clone(),
            version: 0,
            salt: 0,
            file_bytes: 0,
            valid_end: SEGMENT_HEADER_BYTES as u64,
            n_records: 0,
            next_lsn: id.first_lsn(),
        };
        if !matches!(log.end, ScanEnd::Clean) {
            log.segments.push(placeholder);
            continue;
        }
        let corrupt_whole = |reason: String, lsn: Lsn| {
            ScanEnd::Corrupt(CorruptAt {
                segment_idx,
                path: path.clone(),
                offset: 0,
                lsn,
                reason,
                whole_segment: true,
            })
        };
        let expected_here = expected.unwrap_or(id.first_lsn());
        if id.first_lsn() != expected_here {
            let reason = if id.first_lsn() > expected_here {
                format!(
                    "LSN gap between segments (missing segment?): expected a segment starting at \
                     LSN {expected_here}, found one starting at {}",
                    id.first_lsn()
                )
            } else {
                format!(
                    "segments overlap: segment starts at LSN {}, but the previous one ends at {}",
                    id.first_lsn(),
                    expected_here.prev()
                )
            };
            log.end = corrupt_whole(reason, expected_here);
            log.segments.push(placeholder);
            continue;
        }
        let bytes = match read_segment(disk, &path, &mut buf)? {
            Ok(bytes) => bytes,
            Err(reason) => {
                log.end = corrupt_whole(reason, expected_here);
                log.segments.push(placeholder);
                continue;
            }
        };
        log.bytes_scanned += bytes.len() as u64;
        let header = match SegmentHeader::decode(bytes) {
            Ok(header) => header,
            Err(reason) => {
                log.end = corrupt_whole(reason, expected_here);
                log.segments.push(SegmentScan {
                    file_bytes: bytes.len() as u64,
                    ..placeholder
                });
                continue;
            }
        };
        if header.first_lsn != id.first_lsn() {
            let reason = format!(
                "segment header says first LSN {}, but the file name says {}",
                header.first_lsn,
                id.first_lsn()
            );
            log.end = corrupt_whole(reason, expected_here);
            log.segments.push(SegmentScan {
                file_bytes: bytes.len() as u64,
                ..placeholder
            });
            continue;
        }
        let (segment, end) = scan_segment(bytes, id, &path, header, is_last, segment_idx);
        log.n_records += segment.n_records;
        expected = Some(segment.next_lsn);
        log.segments.push(segment);
        log.end = end;
    }
    Ok(log)
}

/// Decodes one segment's records after its (already checked) header.
fn scan_segment(
    bytes: &[u8],
    id: SegmentId,
    path: &Path,
    header: SegmentHeader,
    is_last: bool,
    segment_idx: usize,
) -> (SegmentScan, ScanEnd) {
    let salt = header.salt;
    let preallocated = may_be_preallocated(header.version);
    let spans = allows_lsn_spans(header.version);
    let mut offset = SEGMENT_HEADER_BYTES;
    let mut lsn = id.first_lsn();
    let mut n_records = 0u64;
    let mut end = ScanEnd::Clean;
    while offset < bytes.len() {
        let mut outcome = record::decode(&bytes[offset..], salt);
        if let RecordDecode::Valid { header: record, .. } = outcome {
            if !spans && record.extra_lsns != 0 {
                // Versions 1 and 2 had `flags` here, always 0: written that way, not torn.
                outcome = RecordDecode::LsnCountAboveMax { header: record };
            } else if record.lsn == lsn {
                offset += record.record_bytes() as usize;
                lsn = record.next_lsn();
                n_records += 1;
                continue;
            }
        }
        let zeros_to_eof = bytes[offset..].iter().all(|&b| b == 0);
        if preallocated && is_last && zeros_to_eof {
            // Unused preallocated space: the log ends cleanly here.
            break;
        }
        let classified = if is_last {
            classify_tail(bytes, offset, outcome, salt, lsn)
        } else if preallocated && zeros_to_eof {
            Err(format!(
                "zero-filled tail of {} bytes in a sealed segment (sealed segments are \
                 truncated to their records)",
                bytes.len() - offset
            ))
        } else {
            Err(reason(&outcome, lsn))
        };
        end = match classified {
            Ok(kind) => ScanEnd::Torn(TornTail {
                segment: id,
                path: path.to_path_buf(),
                offset: offset as u64,
                lsn,
                bytes: (bytes.len() - offset) as u64,
                quarantine_bytes: quarantine_len(bytes, offset, header.version) as u64,
                kind,
            }),
            Err(reason) => ScanEnd::Corrupt(CorruptAt {
                segment_idx,
                path: path.to_path_buf(),
                offset: offset as u64,
                lsn,
                reason,
                whole_segment: false,
            }),
        };
        break;
    }
    let segment = SegmentScan {
        id,
        path: path.to_path_buf(),
        version: header.version,
        salt,
        file_bytes: bytes.len() as u64,
        valid_end: offset as u64,
        n_records,
        next_lsn: lsn,
    };
    (segment, end)
}

/// How many bytes from `offset` on a cut copies to quarantine: all of them in a version-1
/// segment; in a version-2 segment, up to the last non-zero byte (the zeros after it are
/// unused preallocated space; a torn record's own trailing zero bytes, if any, are not kept).
pub(crate) fn quarantine_len(bytes: &[u8], offset: usize, version: u32) -> usize {
    if !may_be_preallocated(version) {
        return bytes.len() - offset;
    }
    let data_end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |idx| idx + 1)
        .max(offset);
    data_end - offset
}

/// Human-readable reason for a decode outcome that is not a valid record with LSN `expected`.
fn reason(outcome: &RecordDecode<'_>, expected: Lsn) -> String {
    match outcome {
        RecordDecode::Valid { header, .. } => {
            if header.lsn > expected {
                format!("LSN gap: expected LSN {expected}, found {}", header.lsn)
            } else {
                format!(
                    "duplicate or out-of-order LSN: expected LSN {expected}, found {}",
                    header.lsn
                )
            }
        }
        RecordDecode::ShortHeader { bytes_available } => {
            format!("incomplete record header ({bytes_available} bytes) before the end of a sealed segment")
        }
        RecordDecode::HeaderCrcMismatch => "record header checksum mismatch".to_string(),
        RecordDecode::LengthAboveMax { header } => {
            format!(
                "record declares {} payload bytes, above the format maximum",
                header.payload_len
            )
        }
        RecordDecode::LsnCountAboveMax { header } => format!(
            "record LSN {} claims to cover {} LSNs (more than this segment's format allows)",
            header.lsn,
            header.lsn_count()
        ),
        RecordDecode::DurableNotBeforeLsn { header } => format!(
            "record LSN {} claims durable LSN {} (not before itself)",
            header.lsn, header.durable_lsn
        ),
        RecordDecode::ShortPayload {
            header,
            bytes_available,
        } => format!(
            "record LSN {} declares {} payload bytes but only {} remain in a sealed segment",
            header.lsn,
            header.payload_len,
            bytes_available.saturating_sub(RECORD_HEADER_BYTES)
        ),
        RecordDecode::RecordCrcMismatch { header } => {
            format!("record checksum mismatch (record LSN {})", header.lsn)
        }
    }
}

/// Applies the torn-tail rule (module doc) to the damage at `offset` in the last segment.
fn classify_tail(
    bytes: &[u8],
    offset: usize,
    outcome: RecordDecode<'_>,
    salt: u32,
    expected: Lsn,
) -> Result<TornKind, String> {
    // Start of the run of zeros that ends the file (EOF if the last byte is not zero).
    let zeros_from = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |idx| idx + 1)
        .max(offset);
    let shape = if zeros_from == offset {
        Some(TornKind::ZeroFill)
    } else {
        match outcome {
            RecordDecode::ShortHeader { .. } => Some(TornKind::ShortHeader),
            RecordDecode::ShortPayload { header, .. } if header.lsn == expected => {
                Some(TornKind::ShortPayload)
            }
            RecordDecode::HeaderCrcMismatch => {
                if zeros_from < offset + RECORD_HEADER_BYTES {
                    Some(TornKind::ZeroFill)
                } else {
                    missing_sector(bytes, offset, offset + RECORD_HEADER_BYTES)
                        .then_some(TornKind::MissingSector)
                }
            }
            RecordDecode::RecordCrcMismatch { header } if header.lsn == expected => {
                let record_end = offset + header.record_bytes() as usize;
                if zeros_from < record_end && bytes.len() > record_end {
                    Some(TornKind::ZeroFill)
                } else {
                    missing_sector(bytes, offset, record_end).then_some(TornKind::MissingSector)
                }
            }
            _ => None,
        }
    };
    let Some(kind) = shape else {
        return Err(reason(&outcome, expected));
    };
    if let Some((later_offset, later)) = durability_claim(bytes, offset, salt, expected) {
        return Err(format!(
            "{} (would look torn, but the record at offset {later_offset}, LSN {}, was written \
             after LSN {expected} was durable: LSN {})",
            reason(&outcome, expected),
            later.lsn,
            later.durable_lsn
        ));
    }
    Ok(kind)
}

/// True if a 512-aligned sector overlapping `[start, end)` reads as all zeros over
/// `[max(sector, start), min(sector + 512, EOF))`.
fn missing_sector(bytes: &[u8], start: usize, end: usize) -> bool {
    let end = end.min(bytes.len());
    let sector_bytes = SECTOR_BYTES as usize;
    let mut sector = start / sector_bytes * sector_bytes;
    while sector < end {
        let run_start = sector.max(start);
        let run_end = (sector + sector_bytes).min(bytes.len());
        if run_start < run_end && bytes[run_start..run_end].iter().all(|&b| b == 0) {
            return true;
        }
        sector += sector_bytes;
    }
    false
}

/// The first record header after `offset` whose checksum matches and which claims `expected`
/// was already durable when it was written.
fn durability_claim(
    bytes: &[u8],
    offset: usize,
    salt: u32,
    expected: Lsn,
) -> Option<(usize, record::RecordHeader)> {
    let mut probe = offset + 1;
    while probe + RECORD_HEADER_BYTES <= bytes.len() {
        let window = &bytes[probe..];
        // Most probes land in payload or zeros. An all-zero header never validates, so a header
        // starting at `s` has a non-zero byte in `[s, s + 32)`: jump over runs of zeros (the
        // unused tail of a preallocated segment can be tens of MiB).
        if window[..RECORD_HEADER_BYTES].iter().all(|&b| b == 0) {
            match window.iter().position(|&b| b != 0) {
                Some(non_zero) => probe += non_zero + 1 - RECORD_HEADER_BYTES,
                None => break,
            }
            continue;
        }
        let header = match record::decode(window, salt) {
            RecordDecode::Valid { header, .. }
            | RecordDecode::ShortPayload { header, .. }
            | RecordDecode::RecordCrcMismatch { header } => Some(header),
            _ => None,
        };
        if let Some(header) = header {
            if header.lsn > expected && header.durable_lsn >= expected {
                return Some((probe, header));
            }
        }
        probe += 1;
    }
    None
}

/// Replays the records of a scanned log that cover an LSN >= `from`, in order, as
/// `visit(first LSN, LSNs covered, payload)` (a record covering several LSNs and starting before
/// `from` is visited whole: its entries below `from` are the caller's to skip). Every record is
/// decoded (and its checksums verified) again: a mismatch now means the disk changed under us.
/// Returns the number of records visited.
pub(crate) fn replay(
    disk: &dyn Disk,
    log: &LogScan,
    from: Lsn,
    visit: &mut dyn FnMut(Lsn, u64, &[u8]),
) -> Result<u64, WalError> {
    let mut n_replayed = 0u64;
    let mut buf = Vec::new();
    for segment in &log.segments {
        if segment.next_lsn <= from {
            continue;
        }
        let bytes = match read_segment(disk, &segment.path, &mut buf)? {
            Ok(bytes) => bytes,
            Err(reason) => {
                return Err(WalError::Corrupt {
                    file: segment.path.clone(),
                    offset: 0,
                    lsn: segment.id.first_lsn(),
                    reason,
                })
            }
        };
        let valid_end = segment.valid_end as usize;
        let mut offset = SEGMENT_HEADER_BYTES;
        let mut lsn = segment.id.first_lsn();
        while offset < valid_end && valid_end <= bytes.len() {
            let RecordDecode::Valid { header, payload } =
                record::decode(&bytes[offset..valid_end], segment.salt)
            else {
                break;
            };
            if header.lsn != lsn {
                break;
            }
            if header.next_lsn() > from {
                visit(lsn, header.lsn_count(), payload);
                n_replayed += 1;
            }
            offset += header.record_bytes() as usize;
            lsn = header.next_lsn();
        }
        if offset != valid_end || lsn != segment.next_lsn {
            return Err(WalError::Corrupt {
                file: segment.path.clone(),
                offset: offset as u64,
                lsn,
                reason: "segment changed between the validation scan and replay".to_string(),
            });
        }
    }
    Ok(n_replayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_sector_clips_at_start_and_eof() {
        let mut bytes = vec![1u8; 2048];
        assert!(!missing_sector(&bytes, 100, 200));
        bytes[512..1024].fill(0);
        assert!(
            missing_sector(&bytes, 600, 700),
            "sector 512 is zero from 600 on"
        );
        assert!(!missing_sector(&bytes, 100, 200), "sector 0 is intact");
        assert!(
            missing_sector(&bytes, 100, 600),
            "the record reaches the zero sector"
        );
        let mut short = vec![1u8; 1100];
        short[1024..].fill(0);
        assert!(
            missing_sector(&short, 1000, 1100),
            "last sector zero up to EOF"
        );
    }
}
