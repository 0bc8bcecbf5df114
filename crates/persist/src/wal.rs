//! `Wal`: the synchronous write-ahead log. One owner, no internal threads.
//!
//! Write path:
//! 1. `append` checks the payload size, rotates first if the record would take a non-empty
//!    active segment past `segment_bytes_target`, assigns the next LSN and encodes the record
//!    into the pending buffer (stamping the current `durable_lsn` into its header);
//! 2. `flush` writes the pending buffer at the end of the active segment (into the OS page
//!    cache: it survives a process crash, not a power loss); `sync` flushes and `fdatasync`s;
//!    only then is `durable_lsn` advanced, and only records at or below it may be acknowledged;
//! 3. rotation = `sync` the active segment, *seal* it (if it is longer than its records, a
//!    preallocated segment: truncate it to them and fsync), then create the next one: write its
//!    header to `{name}.tmp` — or over the first bytes of a ready spare, a zero-filled segment
//!    prepared off the commit path (`spare`) — fsync, rename into place, fsync the directory.
//!
//! Preallocation (`WalOptions::preallocate`, decision 0009): with a spare, appends overwrite
//! zeros that are already allocated and durable, so the file size never changes and each
//! `fdatasync` skips the synchronous inode write. A missing or slow spare never stalls a commit:
//! rotation falls back to a plain growing segment, and as soon as a spare is ready, an append
//! that would grow the active file first rotates into it ("adopts" it; an active segment without
//! records is replaced by an atomic rename over it instead).
//!
//! Failure policy:
//! - **fsync failure is fail-stop.** Any failed `sync_data` or directory fsync puts the log in
//!   the failed state: every later call returns `WalError::Failed`, `is_failed()` is true, and
//!   nothing is retried (after a failed fsync Linux may have dropped the dirty pages; a retry
//!   could "succeed" without the data). Restarting recovers what is really on disk.
//! - **A failed write is rolled back.** If writing the pending buffer fails (ENOSPC gives
//!   `StorageFull`, anything else `Io`), the segment is truncated back to the end of the last
//!   complete write and that truncation is fsynced, so no half-written record is left to be found
//!   later. The
//!   pending records stay pending: `sync` can be retried once space returns, or
//!   `discard_pending` drops them and rewinds the LSN counter (what group commit does in the
//!   durable mode, where those records were never acknowledged). If the rollback itself fails,
//!   the log is failed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::disk::{parent_dir, write_all_at, Disk, DiskFile};
use crate::error::{IoOp, WalError};
use crate::limits::{
    RECORD_BYTES_MAX_DEFAULT, RECORD_HEADER_BYTES, RECORD_LSNS_MAX, RECORD_PAYLOAD_BYTES_MAX,
    SEGMENT_BYTES_TARGET_DEFAULT, SEGMENT_BYTES_TARGET_MAX, SEGMENT_BYTES_TARGET_MIN,
    SEGMENT_HEADER_BYTES,
};
use crate::lsn::Lsn;
use crate::record;
use crate::recovery::{self, ScanEnd, TornTail};
use crate::repair;
use crate::segment::{
    allows_lsn_spans, new_salt, SegmentHeader, SegmentId, FORMAT_VERSION, FORMAT_VERSION_PLAIN,
    TMP_SUFFIX,
};
use crate::spare::{self, Preparer, RecyclePool, Spare, RECYCLED_SEGMENTS_MAX};

/// Whether and how segments are preallocated (decision 0009; `docs/design/wal-format.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Preallocate {
    /// Segments grow as records are written (format version 3, plain). The library default.
    #[default]
    Off,
    /// Segments are zero-filled to `segment_bytes_target` ahead of use (format version 4) by a
    /// background thread (`weir-wal-spare`) that keeps one spare ready. Commits never wait for
    /// it. What the server uses.
    Background,
    /// Like `Background`, but the spare is prepared synchronously by the log's owner (at open
    /// and on the append that rotates): deterministic IO, for tests and simulations.
    Inline,
}

/// Configuration of a `Wal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// The active segment is sealed, and a new one started, before a record that would take it
    /// past this size. A record larger than this still gets a segment of its own.
    /// Default 64 MiB; minimum 4 KiB; maximum 1 GiB.
    pub segment_bytes_target: u64,
    /// Largest payload `append` accepts. Default 16 MiB; maximum `RECORD_PAYLOAD_BYTES_MAX`.
    pub record_bytes_max: u32,
    /// Segment preallocation. Default `Off`. With it on, the WAL directory holds up to two
    /// preallocated files of `segment_bytes_target` bytes beyond the records (the active
    /// segment's unused tail and the spare).
    pub preallocate: Preallocate,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            segment_bytes_target: SEGMENT_BYTES_TARGET_DEFAULT,
            record_bytes_max: RECORD_BYTES_MAX_DEFAULT,
            preallocate: Preallocate::Off,
        }
    }
}

impl WalOptions {
    /// Checks the bounds documented on each field.
    pub fn validate(&self) -> Result<(), String> {
        if !(SEGMENT_BYTES_TARGET_MIN..=SEGMENT_BYTES_TARGET_MAX)
            .contains(&self.segment_bytes_target)
        {
            return Err(format!(
                "segment_bytes_target {} outside {SEGMENT_BYTES_TARGET_MIN}..={SEGMENT_BYTES_TARGET_MAX}",
                self.segment_bytes_target
            ));
        }
        if self.record_bytes_max > RECORD_PAYLOAD_BYTES_MAX {
            return Err(format!(
                "record_bytes_max {} above {RECORD_PAYLOAD_BYTES_MAX}",
                self.record_bytes_max
            ));
        }
        Ok(())
    }
}

/// What `open` found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub n_segments: usize,
    /// Valid records in the log (after any torn-tail cut).
    pub n_records: u64,
    /// Records handed to the visitor (LSN >= `replay_from`).
    pub n_replayed: u64,
    pub bytes_scanned: u64,
    /// First LSN in the log, if it holds any segment.
    pub first_lsn: Option<Lsn>,
    /// The LSN the next append gets.
    pub next_lsn: Lsn,
    /// Torn tails cut by this open: 0 or 1 (at most one repair pass per start).
    pub n_torn_tails_repaired: u32,
    pub torn_tail: Option<TornTail>,
    /// Where the cut bytes were copied.
    pub quarantine_file: Option<PathBuf>,
    /// Leftover `*.wal.tmp` files from an interrupted rotation, removed.
    pub n_tmp_files_removed: usize,
}

/// A segment as seen by the running log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub id: SegmentId,
    pub path: PathBuf,
    /// File size (for the active segment: bytes written, excluding the pending buffer).
    pub bytes: u64,
    pub first_lsn: Lsn,
    /// Last LSN in it, `None` if it holds no record yet.
    pub last_lsn: Option<Lsn>,
    pub active: bool,
}

/// Honest accounting of `remove_segments_before`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reclamation {
    /// Segments no longer part of the log: unlinked, or renamed to be recycled as spares.
    pub removed: Vec<SegmentInfo>,
    /// How many of `removed` wait, renamed, to become spares (decision 0018).
    pub n_recycled: usize,
    pub retained: Vec<SegmentInfo>,
    pub bytes_removed: u64,
    pub bytes_retained: u64,
    pub active_segment_bytes: u64,
}

/// Counters since open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    pub records_appended: u64,
    /// LSNs the appended records cover (a record may cover several, `Wal::append_many`).
    pub lsns_appended: u64,
    pub bytes_written: u64,
    /// `fdatasync` calls on segments (batch syncs and rotations).
    pub fsyncs: u64,
    /// Total wall-clock time of the batch `fdatasync`s counted in `fsyncs`, in nanoseconds.
    pub fsync_nanos: u64,
    /// Batch `fdatasync` latencies: `fsync_histogram[i]` counts syncs that took at most
    /// `FSYNC_HISTOGRAM_BOUNDS_SECONDS[i]` (and more than the previous bound); the last slot
    /// counts the slower ones.
    pub fsync_histogram: [u64; FSYNC_HISTOGRAM_BOUNDS_SECONDS.len() + 1],
    pub rotations: u64,
    /// Rotations (or replacements of an empty active segment) that started the new segment
    /// from a preallocated spare.
    pub rotations_into_spare: u64,
    /// Of those, the ones whose spare was a recycled obsolete segment (decision 0018).
    pub rotations_into_recycled_spare: u64,
    /// Obsolete segments kept for reuse as spares instead of being unlinked.
    pub segments_recycled: u64,
}

/// Upper bounds (seconds) of the `WalStats::fsync_histogram` buckets, for a Prometheus
/// `weir_wal_fsync_seconds` histogram.
pub const FSYNC_HISTOGRAM_BOUNDS_SECONDS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 1.0,
];

fn fsync_bucket(nanos: u64) -> usize {
    FSYNC_HISTOGRAM_BOUNDS_SECONDS
        .iter()
        .position(|&bound| nanos as f64 <= bound * 1e9)
        .unwrap_or(FSYNC_HISTOGRAM_BOUNDS_SECONDS.len())
}

#[derive(Debug)]
struct Active {
    id: SegmentId,
    path: PathBuf,
    /// Format version of the segment (an older one can hold only single-LSN records).
    version: u32,
    salt: u32,
    file: Box<dyn DiskFile>,
    /// Bytes of the file written by completed writes; pending bytes go after them.
    written_bytes: u64,
    /// Bytes of the file known durable (<= `written_bytes`).
    durable_bytes: u64,
    /// File size (>= `written_bytes`; larger for a preallocated segment: zeros after the
    /// records). A write past it grows the file.
    file_bytes: u64,
}

/// Where spares come from (`Preallocate`).
#[derive(Debug)]
enum Spares {
    Off,
    Inline {
        ready: Option<Spare>,
        recycled: RecyclePool,
    },
    Background(Preparer),
}

/// The write-ahead log. See the module doc for the write path and the failure policy.
#[derive(Debug)]
pub struct Wal {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    options: WalOptions,
    sealed: Vec<SegmentInfo>,
    active: Active,
    pending: Vec<u8>,
    next_lsn: Lsn,
    /// Last LSN handed to the OS by a completed write.
    written_lsn: Lsn,
    /// Last LSN covered by a completed fdatasync.
    durable_lsn: Lsn,
    failure: Option<String>,
    stats: WalStats,
    spares: Spares,
}

fn io(op: IoOp, path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |error| WalError::io(op, path, &error)
}

impl Wal {
    /// Opens (or creates) the log in `dir`, validates all of it, repairs a torn tail, calls
    /// `visit(first LSN, LSNs covered, payload)` in order for every record that covers an LSN at
    /// or after `replay_from` (a record covering several LSNs that starts before `replay_from` is
    /// visited whole; skipping its earlier entries is the caller's), and positions for appends.
    ///
    /// `replay_from` is the LSN after the one a snapshot covers (`Lsn::FIRST` without a
    /// snapshot); a fresh log starts numbering there. On `WalError::Corrupt` nothing on disk was
    /// modified and `visit` was not called. Panics if `options` fail `validate` or if
    /// `replay_from` is `Lsn::ZERO`.
    pub fn open(
        disk: Arc<dyn Disk>,
        dir: impl Into<PathBuf>,
        options: WalOptions,
        replay_from: Lsn,
        mut visit: impl FnMut(Lsn, u64, &[u8]),
    ) -> Result<(Wal, RecoveryReport), WalError> {
        let dir = dir.into();
        if let Err(reason) = options.validate() {
            panic!("invalid WalOptions: {reason}");
        }
        assert!(replay_from >= Lsn::FIRST);
        let log = recovery::scan(disk.as_ref(), &dir)?;
        if let ScanEnd::Corrupt(corrupt) = &log.end {
            return Err(corrupt.to_error());
        }
        let mut report = RecoveryReport {
            n_segments: log.segments.len(),
            n_records: log.n_records,
            bytes_scanned: log.bytes_scanned,
            first_lsn: log.first_lsn(),
            ..RecoveryReport::default()
        };
        let Some(last) = log.segments.last() else {
            for tmp in &log.tmp_files {
                disk.remove_file(tmp).map_err(io(IoOp::Unlink, tmp))?;
                report.n_tmp_files_removed += 1;
            }
            let wal = Wal::create(disk, dir, options, replay_from)?;
            report.next_lsn = wal.next_lsn;
            return Ok((wal, report));
        };
        // All checks before the first modification.
        let first_lsn = log.segments[0].id.first_lsn();
        let next_lsn = last.next_lsn;
        if replay_from < first_lsn {
            return Err(WalError::Corrupt {
                file: log.segments[0].path.clone(),
                offset: 0,
                lsn: replay_from,
                reason: format!(
                    "replay needs records from LSN {replay_from}, but the log starts at LSN {first_lsn}"
                ),
            });
        }
        if replay_from > next_lsn {
            return Err(WalError::Corrupt {
                file: last.path.clone(),
                offset: last.valid_end,
                lsn: next_lsn,
                reason: format!(
                    "replay needs records from LSN {replay_from}, but the log ends at LSN {}",
                    next_lsn.prev()
                ),
            });
        }
        if let ScanEnd::Torn(torn) = &log.end {
            let quarantine = repair::repair_torn_tail(disk.as_ref(), &dir, torn)?;
            report.n_torn_tails_repaired = 1;
            report.torn_tail = Some(torn.clone());
            report.quarantine_file = Some(quarantine);
        }
        report.n_replayed = recovery::replay(disk.as_ref(), &log, replay_from, &mut visit)?;
        for tmp in &log.tmp_files {
            disk.remove_file(tmp).map_err(io(IoOp::Unlink, tmp))?;
            report.n_tmp_files_removed += 1;
        }
        // Make what was read durable: the previous process may have died before its fsync, and
        // records written from now on claim everything up to `next_lsn - 1` as durable.
        let mut file = disk
            .open_file(&last.path)
            .map_err(io(IoOp::Open, &last.path))?;
        file.sync_data().map_err(io(IoOp::Fsync, &last.path))?;
        disk.sync_dir(&dir).map_err(io(IoOp::SyncDir, &dir))?;

        let sealed = log.segments[..log.segments.len() - 1]
            .iter()
            .map(|segment| SegmentInfo {
                id: segment.id,
                path: segment.path.clone(),
                bytes: segment.file_bytes,
                first_lsn: segment.id.first_lsn(),
                last_lsn: (segment.next_lsn > segment.id.first_lsn())
                    .then(|| segment.next_lsn.prev()),
                active: false,
            })
            .collect();
        let active = Active {
            id: last.id,
            path: last.path.clone(),
            version: last.version,
            salt: last.salt,
            file,
            written_bytes: last.valid_end,
            durable_bytes: last.valid_end,
            file_bytes: if report.n_torn_tails_repaired > 0 {
                last.valid_end
            } else {
                last.file_bytes
            },
        };
        report.next_lsn = next_lsn;
        tracing::info!(
            dir = %dir.display(),
            segments = report.n_segments,
            records = report.n_records,
            replayed = report.n_replayed,
            next_lsn = next_lsn.0,
            torn_tails_repaired = report.n_torn_tails_repaired,
            "wal.opened"
        );
        let mut wal = Wal {
            disk,
            dir,
            options,
            sealed,
            active,
            pending: Vec::new(),
            next_lsn,
            written_lsn: next_lsn.prev(),
            durable_lsn: next_lsn.prev(),
            failure: None,
            stats: WalStats::default(),
            spares: Spares::Off,
        };
        wal.start_spares();
        Ok((wal, report))
    }

    /// A fresh log whose first record will get `first_lsn`.
    fn create(
        disk: Arc<dyn Disk>,
        dir: PathBuf,
        options: WalOptions,
        first_lsn: Lsn,
    ) -> Result<Wal, WalError> {
        disk.create_dir_all(&dir)
            .map_err(io(IoOp::CreateDir, &dir))?;
        let parent = parent_dir(&dir);
        disk.sync_dir(&parent).map_err(io(IoOp::SyncDir, &parent))?;
        let version = segment_version(&options);
        let active = create_segment(disk.as_ref(), &dir, SegmentId(first_lsn), version)?;
        tracing::info!(dir = %dir.display(), first_lsn = first_lsn.0, "wal.created");
        let mut wal = Wal {
            disk,
            dir,
            options,
            sealed: Vec::new(),
            active,
            pending: Vec::new(),
            next_lsn: first_lsn,
            written_lsn: first_lsn.prev(),
            durable_lsn: first_lsn.prev(),
            failure: None,
            stats: WalStats::default(),
            spares: Spares::Off,
        };
        wal.start_spares();
        Ok(wal)
    }

    /// Starts spare preparation per `options.preallocate` (after recovery removed leftovers).
    fn start_spares(&mut self) {
        self.spares = match self.options.preallocate {
            Preallocate::Off => Spares::Off,
            Preallocate::Inline => Spares::Inline {
                ready: None,
                recycled: RecyclePool::default(),
            },
            Preallocate::Background => Spares::Background(Preparer::start(
                Arc::clone(&self.disk),
                self.dir.clone(),
                self.options.segment_bytes_target,
            )),
        };
        self.request_spare();
    }

    /// Asks for the next spare: prepares it now (`Inline`) or wakes the thread (`Background`).
    fn request_spare(&mut self) {
        match &mut self.spares {
            Spares::Off => {}
            Spares::Inline { ready, recycled } => {
                if ready.is_none() {
                    let never = std::sync::atomic::AtomicBool::new(false);
                    let bytes = self.options.segment_bytes_target;
                    let from = recycled.pop();
                    match spare::prepare(self.disk.as_ref(), &self.dir, bytes, &never, from) {
                        Ok(spare) => *ready = Some(spare),
                        Err(cause) => {
                            tracing::warn!(dir = %self.dir.display(), cause, "wal.spare_failed");
                        }
                    }
                }
            }
            Spares::Background(preparer) => preparer.request(),
        }
    }

    /// True if a preallocated spare is ready for the next rotation.
    pub fn spare_ready(&self) -> bool {
        match &self.spares {
            Spares::Off => false,
            Spares::Inline { ready, .. } => ready.is_some(),
            Spares::Background(preparer) => preparer.is_ready(),
        }
    }

    /// Blocks until the spare being prepared is ready (true), or returns false if there is none
    /// and none is under way (preallocation off, or the last attempt failed). The log itself
    /// never waits for a spare; this is for tests and benchmarks that want a determined state.
    pub fn wait_for_spare(&self) -> bool {
        match &self.spares {
            Spares::Off => false,
            Spares::Inline { ready, .. } => ready.is_some(),
            Spares::Background(preparer) => preparer.wait(),
        }
    }

    fn take_spare(&mut self) -> Option<Spare> {
        match &mut self.spares {
            Spares::Off => None,
            Spares::Inline { ready, .. } => ready.take(),
            Spares::Background(preparer) => preparer.take(),
        }
    }

    /// Appends one record to the pending buffer and returns its LSN. Not durable until `sync`.
    /// May rotate (which writes and fsyncs the pending buffer first).
    pub fn append(&mut self, payload: &[u8]) -> Result<Lsn, WalError> {
        self.append_many(payload, 1)
    }

    /// Appends one record covering the next `lsn_count` LSNs (the caller packed that many
    /// entries into `payload` and unpacks them at replay) and returns the first. Not durable
    /// until `sync`. May rotate (which writes and fsyncs the pending buffer first), and does
    /// when the active segment has a format version older than records covering several LSNs.
    /// Panics if `lsn_count` is 0 or above `RECORD_LSNS_MAX`.
    pub fn append_many(&mut self, payload: &[u8], lsn_count: u32) -> Result<Lsn, WalError> {
        assert!((1..=RECORD_LSNS_MAX).contains(&lsn_count));
        self.check_failed()?;
        if payload.len() > self.options.record_bytes_max as usize {
            return Err(WalError::RecordTooLarge {
                payload_bytes: payload.len(),
                record_bytes_max: self.options.record_bytes_max,
            });
        }
        let record_bytes = (RECORD_HEADER_BYTES + payload.len()) as u64;
        let active_has_records = self.next_lsn > self.active.id.first_lsn();
        let active_bytes = self.active.written_bytes + self.pending.len() as u64;
        let full =
            active_has_records && active_bytes + record_bytes > self.options.segment_bytes_target;
        // Adopt a ready spare as soon as this record would grow a plain segment (one created
        // while no spare was ready, a plain segment, or one cut by a repair), provided the
        // record fits in the spare.
        let adopt = active_bytes + record_bytes > self.active.file_bytes
            && SEGMENT_HEADER_BYTES as u64 + record_bytes <= self.options.segment_bytes_target
            && self.spare_ready();
        // A segment from before format version 3 (a log written by an older weir) takes no
        // record covering several LSNs: the record goes to a new segment.
        let upgrade = lsn_count > 1 && !allows_lsn_spans(self.active.version);
        if full || adopt || upgrade {
            self.rotate()?;
        }
        if upgrade && !allows_lsn_spans(self.active.version) {
            // The old segment held no record, and no spare replaced it: replace it with an
            // empty segment of the current version (same name, atomic; either is empty).
            self.replace_empty_active()?;
        }
        let lsn = self.next_lsn;
        record::encode_many(
            &mut self.pending,
            self.active.salt,
            lsn,
            lsn_count,
            self.durable_lsn,
            payload,
        );
        self.next_lsn = Lsn(lsn.0 + u64::from(lsn_count));
        self.stats.records_appended += 1;
        self.stats.lsns_appended += u64::from(lsn_count);
        Ok(lsn)
    }

    /// Writes the pending records to the OS without fsync and returns the last written LSN.
    /// They survive a process crash but not a power loss, and are not acknowledgeable yet.
    pub fn flush(&mut self) -> Result<Lsn, WalError> {
        self.check_failed()?;
        if self.pending.is_empty() {
            return Ok(self.written_lsn);
        }
        let offset = self.active.written_bytes;
        if let Err((_, error)) = write_all_at(self.active.file.as_mut(), offset, &self.pending) {
            return Err(self.roll_back_write(&error));
        }
        self.stats.bytes_written += self.pending.len() as u64;
        self.active.written_bytes += self.pending.len() as u64;
        self.active.file_bytes = self.active.file_bytes.max(self.active.written_bytes);
        self.pending.clear();
        self.written_lsn = self.next_lsn.prev();
        Ok(self.written_lsn)
    }

    /// Writes the pending records and fdatasyncs the active segment. Returns the durable LSN:
    /// every record at or below it survives any crash. No IO if nothing is new.
    pub fn sync(&mut self) -> Result<Lsn, WalError> {
        self.flush()?;
        if self.active.durable_bytes == self.active.written_bytes {
            assert!(self.durable_lsn == self.written_lsn);
            return Ok(self.durable_lsn);
        }
        let started = std::time::Instant::now();
        if let Err(error) = self.active.file.sync_data() {
            let path = self.active.path.clone();
            return Err(self.fail(&format!("fsync of {} failed: {error}", path.display())));
        }
        let nanos = started.elapsed().as_nanos() as u64;
        self.stats.fsync_nanos += nanos;
        self.stats.fsync_histogram[fsync_bucket(nanos)] += 1;
        self.stats.fsyncs += 1;
        self.active.durable_bytes = self.active.written_bytes;
        self.durable_lsn = self.written_lsn;
        Ok(self.durable_lsn)
    }

    /// Drops every pending (unwritten) record and rewinds the LSN counter to the last written
    /// LSN + 1. Returns how many LSNs were dropped. They will be assigned again.
    pub fn discard_pending(&mut self) -> u64 {
        let n_dropped = self.next_lsn.0 - self.written_lsn.next().0;
        let mut offset = 0;
        while offset < self.pending.len() {
            let record::RecordDecode::Valid { header, .. } =
                record::decode(&self.pending[offset..], self.active.salt)
            else {
                unreachable!("the pending buffer holds only records encoded here");
            };
            self.stats.records_appended -= 1;
            offset += header.record_bytes() as usize;
        }
        self.pending.clear();
        self.next_lsn = self.written_lsn.next();
        self.stats.lsns_appended -= n_dropped;
        n_dropped
    }

    /// Undoes a failed write: truncate to the end of the last complete write and fsync, which
    /// also makes every earlier write durable.
    fn roll_back_write(&mut self, error: &std::io::Error) -> WalError {
        let cause = WalError::io(IoOp::Write, &self.active.path, error);
        let written_bytes = self.active.written_bytes;
        let rolled_back = self
            .active
            .file
            .set_len(written_bytes)
            .and_then(|()| self.active.file.sync_data());
        match rolled_back {
            Ok(()) => {
                self.active.durable_bytes = written_bytes;
                self.active.file_bytes = written_bytes;
                self.durable_lsn = self.written_lsn;
                tracing::warn!(
                    segment = %self.active.path.display(),
                    offset = written_bytes,
                    error = %cause,
                    "wal.write_failed_rolled_back"
                );
                cause
            }
            Err(rollback_error) => self.fail(&format!(
                "{cause}; rolling back to offset {written_bytes} also failed: {rollback_error}"
            )),
        }
    }

    /// Seals the active segment (sync, then truncate a preallocated one to its records) and
    /// starts the next one at `next_lsn`, from the spare if one is ready. If the active segment
    /// holds no record, it is instead replaced by the spare (a rename over it); without a spare
    /// that is a no-op.
    fn rotate(&mut self) -> Result<(), WalError> {
        self.sync()?;
        let id = SegmentId(self.next_lsn);
        let replace = id == self.active.id;
        assert!(replace || id > self.active.id);
        if let Some(spare) = self.take_spare() {
            if !replace {
                self.seal_active()?;
            }
            let installed = install_spare(self.disk.as_ref(), &self.dir, id, spare);
            self.request_spare();
            match installed {
                Ok((active, recycled)) => {
                    self.stats.rotations_into_spare += 1;
                    self.stats.rotations_into_recycled_spare += u64::from(recycled);
                    self.switch_to(active, replace);
                    return Ok(());
                }
                Err(WalError::Failed { cause }) => return Err(self.fail(&cause)),
                Err(error) => {
                    tracing::warn!(segment = %id, error = %error, "wal.spare_install_failed");
                }
            }
        }
        if replace {
            return Ok(());
        }
        self.seal_active()?;
        let version = segment_version(&self.options);
        let active = match create_segment(self.disk.as_ref(), &self.dir, id, version) {
            Ok(active) => active,
            Err(WalError::Failed { cause }) => return Err(self.fail(&cause)),
            Err(error) => return Err(error),
        };
        self.switch_to(active, false);
        Ok(())
    }

    /// Replaces the active segment, which holds no record, with an empty segment of the current
    /// format version under the same name (created as `{name}.tmp`, renamed over it: either
    /// content is a valid empty segment, so a crash around the rename is harmless).
    fn replace_empty_active(&mut self) -> Result<(), WalError> {
        assert_eq!(self.next_lsn, self.active.id.first_lsn());
        assert!(self.pending.is_empty());
        let version = segment_version(&self.options);
        let active = match create_segment(self.disk.as_ref(), &self.dir, self.active.id, version) {
            Ok(active) => active,
            Err(WalError::Failed { cause }) => return Err(self.fail(&cause)),
            Err(error) => return Err(error),
        };
        self.switch_to(active, true);
        Ok(())
    }

    /// Makes `active` the active segment; the previous one is sealed, or was replaced.
    fn switch_to(&mut self, active: Active, replaced: bool) {
        let id = active.id;
        let previous = std::mem::replace(&mut self.active, active);
        if replaced {
            tracing::debug!(segment = %id, "wal.segment_replaced_by_spare");
            return;
        }
        self.sealed.push(SegmentInfo {
            id: previous.id,
            path: previous.path,
            bytes: previous.written_bytes,
            first_lsn: previous.id.first_lsn(),
            last_lsn: Some(id.first_lsn().prev()),
            active: false,
        });
        self.stats.rotations += 1;
        tracing::debug!(segment = %id, "wal.segment_rotated");
    }

    /// A segment is sealed at exactly its records: a preallocated active segment (longer than
    /// what was written; everything written is synced) is truncated and fsynced before its
    /// successor can exist, so a sealed segment never ends in zeros. Idempotent.
    fn seal_active(&mut self) -> Result<(), WalError> {
        assert_eq!(self.active.durable_bytes, self.active.written_bytes);
        if self.active.file_bytes == self.active.written_bytes {
            return Ok(());
        }
        let written_bytes = self.active.written_bytes;
        if let Err(error) = self.active.file.set_len(written_bytes) {
            return Err(WalError::io(IoOp::Truncate, &self.active.path, &error));
        }
        if let Err(error) = self.active.file.sync_data() {
            let path = self.active.path.clone();
            return Err(self.fail(&format!(
                "fsync of {} after sealing it at {written_bytes} bytes failed: {error}",
                path.display()
            )));
        }
        self.active.file_bytes = written_bytes;
        Ok(())
    }

    /// Deletes the sealed segments whose every record is at or below `lsn` (covered by a durable
    /// snapshot). The active segment is never removed. Panics if `lsn` is not yet assigned.
    pub fn remove_segments_before(&mut self, lsn: Lsn) -> Result<Reclamation, WalError> {
        self.check_failed()?;
        assert!(
            lsn < self.next_lsn,
            "snapshot LSN {lsn} is beyond the log head {}",
            self.next_lsn
        );
        let mut reclamation = Reclamation::default();
        let n_obsolete = self
            .sealed
            .iter()
            .take_while(|segment| segment.last_lsn.unwrap_or(segment.first_lsn.prev()) <= lsn)
            .count();
        // The newest obsolete segments become spares later instead of being unlinked now.
        let recycle_from = if matches!(self.spares, Spares::Off) {
            n_obsolete
        } else {
            n_obsolete.saturating_sub(RECYCLED_SEGMENTS_MAX)
        };
        let mut recycled = Vec::new();
        let mut n_removed = 0;
        let mut result = Ok(());
        for (idx, segment) in self.sealed[..n_obsolete].iter().enumerate() {
            let renamed = idx >= recycle_from
                && {
                    let to = spare::recycled_path(&self.dir, segment.id);
                    match self.disk.rename(&segment.path, &to) {
                        Ok(()) => {
                            recycled.push(to);
                            true
                        }
                        Err(error) => {
                            tracing::warn!(segment = %segment.path.display(), error = %error, "wal.segment_recycle_failed");
                            false
                        }
                    }
                };
            if !renamed {
                if let Err(error) = self.disk.remove_file(&segment.path) {
                    result = Err(WalError::io(IoOp::Unlink, &segment.path, &error));
                    break;
                }
            }
            n_removed += 1;
            reclamation.bytes_removed += segment.bytes;
            reclamation.removed.push(segment.clone());
        }
        self.sealed.drain(..n_removed);
        if n_removed > 0 {
            if let Err(error) = self.disk.sync_dir(&self.dir) {
                let dir = self.dir.clone();
                return Err(self.fail(&format!(
                    "directory fsync of {} failed: {error}",
                    dir.display()
                )));
            }
        }
        // Only now, with the renames durable, may the recycled files be overwritten.
        self.stats.segments_recycled += recycled.len() as u64;
        reclamation.n_recycled = recycled.len();
        match &mut self.spares {
            Spares::Off => {}
            Spares::Inline { recycled: pool, .. } => {
                for path in recycled.into_iter().flat_map(|path| pool.push(path)) {
                    let _ = self.disk.remove_file(&path);
                }
            }
            Spares::Background(preparer) => preparer.recycle(recycled),
        }
        result?;
        reclamation.retained = self.segments();
        reclamation.bytes_retained = reclamation
            .retained
            .iter()
            .map(|segment| segment.bytes)
            .sum();
        reclamation.active_segment_bytes = self.active.written_bytes;
        tracing::info!(
            covered_lsn = lsn.0,
            segments_removed = reclamation.removed.len(),
            segments_recycled = reclamation.n_recycled,
            bytes_removed = reclamation.bytes_removed,
            segments_retained = reclamation.retained.len(),
            bytes_retained = reclamation.bytes_retained,
            active_segment_bytes = reclamation.active_segment_bytes,
            "wal.segments_reclaimed"
        );
        Ok(reclamation)
    }

    /// Sealed segments then the active one, in LSN order.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let mut segments = self.sealed.clone();
        let first_lsn = self.active.id.first_lsn();
        segments.push(SegmentInfo {
            id: self.active.id,
            path: self.active.path.clone(),
            bytes: self.active.written_bytes,
            first_lsn,
            last_lsn: (self.written_lsn >= first_lsn).then_some(self.written_lsn),
            active: true,
        });
        segments
    }

    /// The LSN the next `append` returns.
    pub fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    /// Every record at or below this LSN is durable.
    pub fn durable_lsn(&self) -> Lsn {
        self.durable_lsn
    }

    /// Every record at or below this LSN has been handed to the OS (survives a process crash).
    pub fn written_lsn(&self) -> Lsn {
        self.written_lsn
    }

    /// Bytes appended but not yet written and synced.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    /// True once an fsync failed (fail-stop).
    pub fn is_failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Why the log failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    pub fn stats(&self) -> WalStats {
        self.stats
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &WalOptions {
        &self.options
    }

    fn check_failed(&self) -> Result<(), WalError> {
        match &self.failure {
            Some(cause) => Err(WalError::Failed {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Enters the failed state (once) and returns the error to hand out.
    fn fail(&mut self, cause: &str) -> WalError {
        if self.failure.is_none() {
            tracing::error!(dir = %self.dir.display(), cause, "wal.failed");
            self.failure = Some(cause.to_string());
        }
        WalError::Failed {
            cause: self.failure.clone().unwrap_or_default(),
        }
    }
}

/// The format version of segments this log creates.
fn segment_version(options: &WalOptions) -> u32 {
    match options.preallocate {
        Preallocate::Off => FORMAT_VERSION_PLAIN,
        Preallocate::Background | Preallocate::Inline => FORMAT_VERSION,
    }
}

/// Turns a ready spare into segment `id`: header over its first bytes, fsync, rename into place
/// (replacing an empty active segment of the same id, if that is what is being replaced),
/// directory fsync; with whether the spare was a recycled segment. fsync failures come back as
/// `WalError::Failed`; other failures remove the spare (best effort) and leave the log as it was.
fn install_spare(
    disk: &dyn Disk,
    dir: &Path,
    id: SegmentId,
    spare: Spare,
) -> Result<(Active, bool), WalError> {
    let Spare {
        path,
        file,
        bytes,
        recycled,
    } = spare;
    let active = install_segment(disk, dir, id, FORMAT_VERSION, &path, file, bytes)?;
    Ok((active, recycled))
}

/// Creates segment `id` atomically: header into `{name}.tmp`, fsync, rename, directory fsync.
/// fsync failures come back as `WalError::Failed` (the caller fails the log); other failures
/// remove the tmp file (best effort) and leave nothing behind.
fn create_segment(
    disk: &dyn Disk,
    dir: &Path,
    id: SegmentId,
    version: u32,
) -> Result<Active, WalError> {
    let tmp = dir.join(format!("{}{TMP_SUFFIX}", id.file_name()));
    let file = disk.create_file(&tmp).map_err(io(IoOp::Open, &tmp))?;
    install_segment(disk, dir, id, version, &tmp, file, 0)
}

/// The shared last steps of making `tmp` segment `id`: write the header at offset 0, fsync,
/// rename to the segment's name, fsync the directory. `file_bytes` is the file's size (a spare's
/// zero-filled length; 0 for a new file).
fn install_segment(
    disk: &dyn Disk,
    dir: &Path,
    id: SegmentId,
    version: u32,
    tmp: &Path,
    mut file: Box<dyn DiskFile>,
    file_bytes: u64,
) -> Result<Active, WalError> {
    let path = dir.join(id.file_name());
    let header = SegmentHeader {
        version,
        salt: new_salt(id.first_lsn()),
        first_lsn: id.first_lsn(),
    };
    if let Err((_, error)) = write_all_at(file.as_mut(), 0, &header.encode()) {
        let _ = disk.remove_file(tmp);
        return Err(WalError::io(IoOp::Write, tmp, &error));
    }
    if let Err(error) = file.sync_data() {
        return Err(WalError::Failed {
            cause: format!("fsync of {} failed: {error}", tmp.display()),
        });
    }
    if let Err(error) = disk.rename(tmp, &path) {
        let _ = disk.remove_file(tmp);
        return Err(WalError::io(IoOp::Rename, tmp, &error));
    }
    if let Err(error) = disk.sync_dir(dir) {
        return Err(WalError::Failed {
            cause: format!("directory fsync of {} failed: {error}", dir.display()),
        });
    }
    Ok(Active {
        id,
        path,
        version,
        salt: header.salt,
        file,
        written_bytes: SEGMENT_HEADER_BYTES as u64,
        durable_bytes: SEGMENT_HEADER_BYTES as u64,
        file_bytes: file_bytes.max(SEGMENT_HEADER_BYTES as u64),
    })
}
