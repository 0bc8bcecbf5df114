//! `WalError`: the one error type of the crate, named for what failed.
//!
//! It is `Clone` because group commit hands the same failure to every record of a batch; IO
//! errors are therefore carried as their kind and message rather than as `std::io::Error`.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::lsn::Lsn;

/// The IO call that failed, as named in errors and in the `SimDisk` fault sites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoOp {
    List,
    Read,
    Open,
    Write,
    Fsync,
    SyncDir,
    Rename,
    Truncate,
    Unlink,
    CreateDir,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            IoOp::List => "list",
            IoOp::Read => "read",
            IoOp::Open => "open",
            IoOp::Write => "write",
            IoOp::Fsync => "fsync",
            IoOp::SyncDir => "directory fsync",
            IoOp::Rename => "rename",
            IoOp::Truncate => "truncate",
            IoOp::Unlink => "unlink",
            IoOp::CreateDir => "create directory",
        };
        f.write_str(name)
    }
}

/// Everything that can go wrong in the WAL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalError {
    /// The log holds damage that is not an incomplete trailing write. `open` modified nothing.
    /// Display starts with the grep-able marker `WAL unrepairable`.
    Corrupt {
        file: PathBuf,
        offset: u64,
        lsn: Lsn,
        reason: String,
    },
    /// A write or create hit ENOSPC. Nothing half-written was left behind; later appends retry.
    StorageFull { op: IoOp, path: PathBuf },
    /// Any other IO failure that did not compromise durability (nothing was acked wrongly).
    Io {
        op: IoOp,
        path: PathBuf,
        kind: io::ErrorKind,
        message: String,
    },
    /// Fail-stop: an fsync failed earlier, so nothing is appended or acknowledged any more.
    /// Restart to recover what is on disk.
    Failed { cause: String },
    /// A payload above `WalOptions::record_bytes_max`; refused before anything was written.
    RecordTooLarge {
        payload_bytes: usize,
        record_bytes_max: u32,
    },
    /// The group committer was shut down before this request was handled.
    Closed,
    /// The group committer's bounded queue is full (`try_submit` only).
    Overloaded,
}

impl WalError {
    pub(crate) fn io(op: IoOp, path: impl Into<PathBuf>, error: &io::Error) -> WalError {
        let path = path.into();
        if is_storage_full(error) {
            return WalError::StorageFull { op, path };
        }
        WalError::Io {
            op,
            path,
            kind: error.kind(),
            message: error.to_string(),
        }
    }

    /// True for `Corrupt`: the caller must refuse to start (and exit with its distinct code).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, WalError::Corrupt { .. })
    }

    /// True for `StorageFull`: backpressure, retry once space is freed.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, WalError::StorageFull { .. })
    }

    /// True for `Failed`: fail-stop, readiness must turn false until restart.
    pub fn is_failed(&self) -> bool {
        matches!(self, WalError::Failed { .. })
    }
}

/// ENOSPC (and EDQUOT, which is the same condition for one user).
pub(crate) fn is_storage_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Corrupt {
                file,
                offset,
                lsn,
                reason,
            } => write!(
                f,
                "WAL unrepairable: {reason} in {} at offset {offset} (expected LSN {lsn}); \
                 run `weir wal verify` and, to keep the valid prefix, `weir wal salvage`",
                file.display()
            ),
            WalError::StorageFull { op, path } => {
                write!(
                    f,
                    "storage full: {op} of {} failed with ENOSPC",
                    path.display()
                )
            }
            WalError::Io {
                op, path, message, ..
            } => {
                write!(f, "wal {op} of {} failed: {message}", path.display())
            }
            WalError::Failed { cause } => {
                write!(f, "wal failed and stopped accepting writes: {cause}")
            }
            WalError::RecordTooLarge {
                payload_bytes,
                record_bytes_max,
            } => {
                write!(
                    f,
                    "record of {payload_bytes} bytes is above the {record_bytes_max} limit"
                )
            }
            WalError::Closed => f.write_str("wal group committer is closed"),
            WalError::Overloaded => f.write_str("wal queue is full"),
        }
    }
}

impl std::error::Error for WalError {}
