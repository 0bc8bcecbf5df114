//! Torn-tail repair: quarantine the cut bytes, then truncate. Bounded, audited, idempotent.
//!
//! Steps, each durable before the next:
//! 1. copy `[offset, EOF)` of the last segment to `{segment}.torn-{offset:020}` in the WAL dir
//!    (in a preallocated, version-2 segment: `[offset, last non-zero byte]`, the zeros after it
//!    being unused space), fsync it, fsync the directory;
//! 2. truncate the segment to `offset`, fsync it;
//! 3. log one structured line (`wal.torn_tail_repaired`: segment, offset, LSN, bytes, kind,
//!    quarantine file).
//!
//! A crash at any step leaves either the untouched tail (the next start classifies the same
//! bytes the same way and rewrites the same quarantine file with the same content) or the
//! truncated segment (nothing left to repair). Both lead to the same final state. Only the scan
//! decides what is torn; this module never looks at record contents.

use std::path::{Path, PathBuf};

use crate::disk::{write_all_at, Disk};
use crate::error::{IoOp, WalError};
use crate::recovery::TornTail;
use crate::segment::TORN_MARKER;

/// The quarantine file for a torn tail.
pub fn quarantine_path(dir: &Path, torn: &TornTail) -> PathBuf {
    dir.join(format!(
        "{}{TORN_MARKER}{:020}",
        torn.segment.file_name(),
        torn.offset
    ))
}

/// Performs the repair described in the module doc and returns the quarantine file.
pub(crate) fn repair_torn_tail(
    disk: &dyn Disk,
    dir: &Path,
    torn: &TornTail,
) -> Result<PathBuf, WalError> {
    let content = disk
        .read_file(&torn.path)
        .map_err(|error| WalError::io(IoOp::Read, &torn.path, &error))?;
    let offset = torn.offset as usize;
    assert!(offset <= content.len());
    if content.len() as u64 != torn.offset + torn.bytes {
        return Err(WalError::Corrupt {
            file: torn.path.clone(),
            offset: torn.offset,
            lsn: torn.lsn,
            reason: "segment changed between the validation scan and the repair".to_string(),
        });
    }
    let quarantine = quarantine_path(dir, torn);
    let mut file = disk
        .create_file(&quarantine)
        .map_err(|error| WalError::io(IoOp::Open, &quarantine, &error))?;
    let quarantined = &content[offset..offset + torn.quarantine_bytes as usize];
    write_all_at(file.as_mut(), 0, quarantined)
        .map_err(|(_, error)| WalError::io(IoOp::Write, &quarantine, &error))?;
    file.sync_data()
        .map_err(|error| WalError::io(IoOp::Fsync, &quarantine, &error))?;
    drop(file);
    disk.sync_dir(dir)
        .map_err(|error| WalError::io(IoOp::SyncDir, dir, &error))?;

    let mut segment = disk
        .open_file(&torn.path)
        .map_err(|error| WalError::io(IoOp::Open, &torn.path, &error))?;
    segment
        .set_len(torn.offset)
        .map_err(|error| WalError::io(IoOp::Truncate, &torn.path, &error))?;
    segment
        .sync_data()
        .map_err(|error| WalError::io(IoOp::Fsync, &torn.path, &error))?;

    tracing::warn!(
        segment = %torn.path.display(),
        offset = torn.offset,
        lsn = torn.lsn.0,
        bytes = torn.bytes,
        kind = ?torn.kind,
        quarantine = %quarantine.display(),
        "wal.torn_tail_repaired"
    );
    Ok(quarantine)
}
