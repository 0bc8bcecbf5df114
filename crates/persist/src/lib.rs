//! `persist`: weir's write-ahead log as a small library. Records are opaque bytes with dense
//! LSNs; this crate knows nothing about events, features or the engine.
//!
//! # Using it
//!
//! ```no_run
//! use std::sync::Arc;
//! use persist::{FileDisk, GroupCommitOptions, GroupCommitter, Lsn, Wal, WalOptions};
//!
//! # fn main() -> Result<(), persist::WalError> {
//! // 1. Recover: validate the whole log, cut a torn tail, replay from the snapshot's LSN + 1.
//! let snapshot_lsn = Lsn(0); // no snapshot yet
//! let (wal, report) = Wal::open(Arc::new(FileDisk), "/var/lib/weir/wal", WalOptions::default(),
//!     snapshot_lsn.next(), |lsn, lsn_count, payload| { /* apply payload to the engine */ })?;
//! // `report.n_torn_tails_repaired` feeds a metric. A `WalError::Corrupt` here means: refuse to
//! // start, print the error (it contains `WAL unrepairable`), exit with `tools::EXIT_UNREPAIRABLE`.
//!
//! // 2. Ingest through group commit: one fdatasync per batch, ack after it.
//! let committer = GroupCommitter::start(wal, GroupCommitOptions::default());
//! let handle = committer.handle(); // clone one per producer
//! handle.submit(b"event batch".to_vec(), |result| { /* Ok(lsn): durable, answer the push */ });
//! let lsn = handle.append(b"another".to_vec())?; // blocking form
//!
//! // 3. After a durable snapshot at `lsn`, drop what it covers.
//! let reclamation = handle.remove_segments_before(lsn)?;
//! # let _ = (report, reclamation);
//! let wal = committer.shutdown();
//! # let _ = wal;
//! # Ok(()) }
//! ```
//!
//! From async code, complete a `tokio::sync::oneshot` inside the `submit` closure. Readiness
//! should be false while `handle.is_failed()` (fsync failed: fail-stop, restart to recover) or
//! `handle.is_storage_full()` (ENOSPC: backpressure, clears by itself once space returns).
//!
//! # Layout
//!
//! - `lsn` — `Lsn`, the dense record number.
//! - `record` — the record format: 32-byte header, two CRC32C checksums, payload.
//! - `segment` — the segment header, `SegmentId`, file naming, salts.
//! - `spare` — segment preallocation: the zero-filled spare and its background preparer.
//! - `wal` — `Wal`: append, sync, rotation, rollback on write failure, fail-stop, reclamation.
//! - `group_commit` — `GroupCommitter`: the commit thread, batching, durable and relaxed acks.
//! - `recovery` — the read-only scan, the torn-tail-versus-corruption rule, replay.
//! - `repair` — quarantine and truncate a torn tail, idempotently.
//! - `tools` — `verify`, `dump`, `salvage`.
//! - `snapshot` — snapshot files: header + opaque checksummed sections, atomic write, full
//!   verification on load, retention helpers (`docs/design/snapshot-format.md`).
//! - `disk` — the `Disk` trait and `FileDisk`; `sim_disk` — `SimDisk`, faults and crashes.
//! - `limits` — every bound, relations asserted; `error` — `WalError`.
//!
//! The byte-level format, the recovery rule and the assumptions about the disk are documented in
//! `docs/design/wal-format.md`.
//!
//! **Invariants.** Nothing is acknowledged before the fsync that covers it (durable mode). A
//! record that was ever complete and covered by a later durability claim is never cut. `open`
//! either modifies nothing (on `Corrupt`) or performs at most one torn-tail repair. After an
//! fsync failure no append succeeds again. All IO goes through `Disk`.

pub mod background;
mod disk;
mod error;
mod group_commit;
mod limits;
mod lsn;
pub mod record;
pub mod recovery;
mod repair;
mod segment;
mod sim_disk;
pub mod snapshot;
mod spare;
pub mod tools;
mod wal;

pub use crate::disk::{write_all_at, Disk, DiskFile, FileDisk};
pub use crate::error::{IoOp, WalError};
pub use crate::group_commit::{
    AckMode, CommitHandle, CommitStatus, GroupCommitOptions, GroupCommitter,
};
pub use crate::limits::*;
pub use crate::lsn::Lsn;
pub use crate::recovery::{TornKind, TornTail};
pub use crate::repair::quarantine_path;
pub use crate::segment::{
    allows_lsn_spans, may_be_preallocated, SegmentHeader, SegmentId, FORMAT_VERSION,
    FORMAT_VERSION_PLAIN, FORMAT_VERSION_PLAIN_SINGLE, FORMAT_VERSION_PREALLOCATED_SINGLE,
    SEGMENT_MAGIC, SPARE_FILE_NAME,
};
pub use crate::sim_disk::{CrashMode, Fault, FaultKind, SimDisk, Site, SplitMix};
pub use crate::wal::{
    Preallocate, Reclamation, RecoveryReport, SegmentInfo, Wal, WalOptions, WalStats,
    FSYNC_HISTOGRAM_BOUNDS_SECONDS,
};
