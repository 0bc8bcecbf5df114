//! Offline tools over a WAL directory, exposed by the binary as `weir wal verify|dump|salvage`.
//!
//! - `verify` scans read-only and reports what `Wal::open` would do: start cleanly, cut a torn
//!   tail, or refuse (with file, offset, LSN and reason). `VerifyReport::exit_code` maps it.
//! - `dump` prints one line per record and one line per problem, per segment, read-only.
//! - `salvage` is the only way to cut corrupt data: it moves the damaged suffix (from the first
//!   bad record on, plus every later segment) into a quarantine directory so the server can start
//!   with the valid prefix. It is never run automatically.

use std::io;
use std::path::{Path, PathBuf};

use crate::disk::{write_all_at, Disk};
use crate::error::{IoOp, WalError};
use crate::limits::SEGMENT_HEADER_BYTES;
use crate::lsn::Lsn;
use crate::record::{self, RecordDecode};
use crate::recovery::{self, CorruptAt, ScanEnd, TornTail};
use crate::segment::{may_be_preallocated, SegmentHeader, SegmentId};

/// Exit code of `weir wal verify` for a log that opens cleanly (possibly after a tail cut).
pub const EXIT_OK: i32 = 0;
/// Exit code for a log that `open` refuses (also the server's exit code on `Corrupt`).
pub const EXIT_UNREPAIRABLE: i32 = 3;

/// The state of a log, as `open` would judge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Clean,
    /// `open` will cut this incomplete trailing write (after quarantining it).
    TornTail(TornTail),
    /// `open` will refuse; `salvage` can cut from here on.
    Corrupt(CorruptAt),
}

/// One segment in a `VerifyReport`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    pub id: SegmentId,
    pub path: PathBuf,
    /// Segment format version (0 if its header could not be read).
    pub version: u32,
    pub file_bytes: u64,
    /// End of the valid records (the rest of a clean, preallocated active segment is unused
    /// zero-filled space).
    pub valid_end: u64,
    /// Valid records before any damage.
    pub n_records: u64,
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub dir: PathBuf,
    pub segments: Vec<SegmentSummary>,
    pub n_records: u64,
    pub first_lsn: Option<Lsn>,
    /// Last valid LSN, if any record is valid.
    pub last_lsn: Option<Lsn>,
    pub health: Health,
}

impl VerifyReport {
    pub fn exit_code(&self) -> i32 {
        match self.health {
            Health::Clean | Health::TornTail(_) => EXIT_OK,
            Health::Corrupt(_) => EXIT_UNREPAIRABLE,
        }
    }
}

/// Scans the log in `dir` read-only. `Err` only for IO failures.
pub fn verify(disk: &dyn Disk, dir: &Path) -> Result<VerifyReport, WalError> {
    let log = recovery::scan(disk, dir)?;
    let last_lsn = log
        .next_lsn()
        .zip(log.first_lsn())
        .and_then(|(next, first)| (next > first).then(|| next.prev()));
    Ok(VerifyReport {
        dir: dir.to_path_buf(),
        segments: log
            .segments
            .iter()
            .map(|segment| SegmentSummary {
                id: segment.id,
                path: segment.path.clone(),
                version: segment.version,
                file_bytes: segment.file_bytes,
                valid_end: segment.valid_end,
                n_records: segment.n_records,
            })
            .collect(),
        n_records: log.n_records,
        first_lsn: log.first_lsn(),
        last_lsn,
        health: match log.end {
            ScanEnd::Clean => Health::Clean,
            ScanEnd::Torn(torn) => Health::TornTail(torn),
            ScanEnd::Corrupt(corrupt) => Health::Corrupt(corrupt),
        },
    })
}

/// ` lsns=N` after a dump line of a record covering N > 1 LSNs (nothing for a single LSN, so
/// lines of such records read as before format version 3).
fn lsns_suffix(record: &record::RecordHeader) -> String {
    if record.lsn_count() > 1 {
        format!(" lsns={}", record.lsn_count())
    } else {
        String::new()
    }
}

/// Writes one line per record (`segment offset lsn durable_lsn len crc=ok|bad [lsns=N]`), one `error`
/// line where a segment's framing is lost (a record header that does not check out), one
/// `preallocated_free` line where a version-2 or -4 segment ends in zeros from a record boundary
/// (unused space; damage only in a sealed segment, which the health line then reports), then a
/// summary line with the health `open` would see. Read-only.
pub fn dump(
    disk: &dyn Disk,
    dir: &Path,
    out: &mut dyn io::Write,
) -> Result<VerifyReport, WalError> {
    let write_error = |error: io::Error| WalError::io(IoOp::Write, "<dump output>", &error);
    let (ids, _) = recovery::list_segments(disk, dir)?;
    let mut buf = Vec::new();
    for id in ids {
        let path = dir.join(id.file_name());
        let name = id.file_name();
        let bytes = match recovery::read_segment(disk, &path, &mut buf)? {
            Ok(bytes) => bytes,
            Err(reason) => {
                writeln!(out, "segment={name} offset=0 error=\"{reason}\"").map_err(write_error)?;
                continue;
            }
        };
        let header = match SegmentHeader::decode(bytes) {
            Ok(header) => header,
            Err(reason) => {
                writeln!(out, "segment={name} offset=0 error=\"{reason}\"").map_err(write_error)?;
                continue;
            }
        };
        let mut offset = SEGMENT_HEADER_BYTES;
        while offset < bytes.len() {
            if may_be_preallocated(header.version) && bytes[offset..].iter().all(|&b| b == 0) {
                writeln!(
                    out,
                    "segment={name} offset={offset} preallocated_free={}",
                    bytes.len() - offset
                )
                .map_err(write_error)?;
                break;
            }
            match record::decode(&bytes[offset..], header.salt) {
                RecordDecode::Valid { header: record, .. } => {
                    writeln!(
                        out,
                        "segment={name} offset={offset} lsn={} durable_lsn={} len={} crc=ok{}",
                        record.lsn,
                        record.durable_lsn,
                        record.payload_len,
                        lsns_suffix(&record)
                    )
                    .map_err(write_error)?;
                    offset += record.record_bytes() as usize;
                }
                RecordDecode::RecordCrcMismatch { header: record } => {
                    // The header checksum held, so the framing does: report and keep going.
                    writeln!(
                        out,
                        "segment={name} offset={offset} lsn={} durable_lsn={} len={} crc=bad{}",
                        record.lsn,
                        record.durable_lsn,
                        record.payload_len,
                        lsns_suffix(&record)
                    )
                    .map_err(write_error)?;
                    offset += record.record_bytes() as usize;
                }
                other => {
                    let lsn = match other {
                        RecordDecode::LengthAboveMax { header }
                        | RecordDecode::LsnCountAboveMax { header }
                        | RecordDecode::DurableNotBeforeLsn { header }
                        | RecordDecode::ShortPayload { header, .. } => header.lsn.to_string(),
                        _ => "?".to_string(),
                    };
                    writeln!(
                        out,
                        "segment={name} offset={offset} lsn={lsn} crc=bad error=\"{other:?}\" bytes_left={}",
                        bytes.len() - offset
                    )
                    .map_err(write_error)?;
                    break;
                }
            }
        }
    }
    let report = verify(disk, dir)?;
    let health = match &report.health {
        Health::Clean => "clean".to_string(),
        Health::TornTail(torn) => format!(
            "torn tail in {} at offset {} (LSN {}, {} bytes, {:?}): open will cut it",
            torn.path.display(),
            torn.offset,
            torn.lsn,
            torn.bytes,
            torn.kind
        ),
        Health::Corrupt(corrupt) => corrupt.to_error().to_string(),
    };
    writeln!(out, "records={} health={health}", report.n_records).map_err(write_error)?;
    Ok(report)
}

/// What `salvage` moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SalvageReport {
    /// The damage that was cut, if any (`None`: the log was clean, nothing moved).
    pub cut_from: Option<(PathBuf, u64, Lsn)>,
    /// Files created in the quarantine directory.
    pub quarantined: Vec<PathBuf>,
    pub bytes_quarantined: u64,
    /// LSN the next append will get when the log is opened.
    pub next_lsn: Option<Lsn>,
}

/// Moves the damaged suffix of the log in `dir` (from the first bad record on, including every
/// later segment) into `quarantine_dir` (created if missing; must be on the same file system).
/// A damaged segment keeps its valid prefix; the cut bytes go to `{segment}.from-{offset}`
/// (in a version-2 segment, without the zeros after the last non-zero byte: unused space).
pub fn salvage(
    disk: &dyn Disk,
    dir: &Path,
    quarantine_dir: &Path,
) -> Result<SalvageReport, WalError> {
    let log = recovery::scan(disk, dir)?;
    let (segment_idx, offset, lsn, whole_segment) = match &log.end {
        ScanEnd::Clean => {
            return Ok(SalvageReport {
                next_lsn: log.next_lsn(),
                ..SalvageReport::default()
            });
        }
        ScanEnd::Torn(torn) => {
            let idx = log.segments.len() - 1;
            (idx, torn.offset, torn.lsn, false)
        }
        ScanEnd::Corrupt(corrupt) => (
            corrupt.segment_idx,
            corrupt.offset,
            corrupt.lsn,
            corrupt.whole_segment,
        ),
    };
    disk.create_dir_all(quarantine_dir)
        .map_err(|error| WalError::io(IoOp::CreateDir, quarantine_dir, &error))?;
    let mut report = SalvageReport {
        cut_from: Some((log.segments[segment_idx].path.clone(), offset, lsn)),
        ..SalvageReport::default()
    };
    // Later segments first, newest first: an interrupted salvage leaves a log whose damage is
    // still at or before the same place, so running it again converges.
    let first_moved = if whole_segment {
        segment_idx
    } else {
        segment_idx + 1
    };
    for segment in log.segments[first_moved..].iter().rev() {
        let target = quarantine_dir.join(segment.id.file_name());
        let bytes = disk
            .file_len(&segment.path)
            .map_err(|error| WalError::io(IoOp::Read, &segment.path, &error))?;
        disk.rename(&segment.path, &target)
            .map_err(|error| WalError::io(IoOp::Rename, &segment.path, &error))?;
        report.bytes_quarantined += bytes;
        report.quarantined.push(target);
    }
    if !whole_segment {
        let segment = &log.segments[segment_idx];
        let content = disk
            .read_file(&segment.path)
            .map_err(|error| WalError::io(IoOp::Read, &segment.path, &error))?;
        let version = log.segments[segment_idx].version;
        let cut_len = recovery::quarantine_len(&content, offset as usize, version);
        let cut = &content[offset as usize..offset as usize + cut_len];
        let target = quarantine_dir.join(format!("{}.from-{offset:020}", segment.id.file_name()));
        let mut file = disk
            .create_file(&target)
            .map_err(|error| WalError::io(IoOp::Open, &target, &error))?;
        write_all_at(file.as_mut(), 0, cut)
            .map_err(|(_, error)| WalError::io(IoOp::Write, &target, &error))?;
        file.sync_data()
            .map_err(|error| WalError::io(IoOp::Fsync, &target, &error))?;
        disk.sync_dir(quarantine_dir)
            .map_err(|error| WalError::io(IoOp::SyncDir, quarantine_dir, &error))?;
        let mut file = disk
            .open_file(&segment.path)
            .map_err(|error| WalError::io(IoOp::Open, &segment.path, &error))?;
        file.set_len(offset)
            .map_err(|error| WalError::io(IoOp::Truncate, &segment.path, &error))?;
        file.sync_data()
            .map_err(|error| WalError::io(IoOp::Fsync, &segment.path, &error))?;
        report.bytes_quarantined += cut.len() as u64;
        report.quarantined.push(target);
    }
    disk.sync_dir(quarantine_dir)
        .map_err(|error| WalError::io(IoOp::SyncDir, quarantine_dir, &error))?;
    disk.sync_dir(dir)
        .map_err(|error| WalError::io(IoOp::SyncDir, dir, &error))?;
    report.quarantined.reverse();
    report.next_lsn = Some(lsn);
    tracing::warn!(
        dir = %dir.display(),
        offset,
        lsn = lsn.0,
        files = report.quarantined.len(),
        bytes = report.bytes_quarantined,
        quarantine = %quarantine_dir.display(),
        "wal.salvaged"
    );
    Ok(report)
}
