//! Snapshots: recovery from the newest good snapshot, and the writer's side of taking them.
//!
//! **Taking one** (durability.md §3). At a batch boundary the writer makes sure the log holds
//! everything applied (in relaxed mode an fdatasync), notes that LSN, takes
//! `Engine::snapshot_view()` under the engine's *read* lock (the writer is the only mutator, so
//! nothing can change meanwhile; readers are not blocked at all) — an O(tables) clone of
//! copy-on-write maps, microseconds whatever the state size — and hands the view to the snapshot
//! thread. That thread owns all snapshot file IO: it encodes the view entity by entity into
//! `persist::snapshot::SnapshotWriter` (temp → fsync → rename → directory fsync), then deletes
//! the snapshot files older than the previous good one, and reports back. The writer never waits
//! for it. When the report arrives, the writer (which owns the WAL) deletes the WAL segments
//! whose every record is covered by the *older* of the two retained snapshots, so that if the
//! newest one is ever found damaged the previous one plus a longer replay still works.
//!
//! **Cadence.** A snapshot is due when `interval` has passed or `wal_bytes` have been logged
//! since the last one, whichever comes first, and there is something new to cover; at most one
//! is in flight. On graceful shutdown a final one is written (and waited for).
//!
//! **Recovery.** `recover` tries the snapshots newest first: read, verify every checksum, decode.
//! The first that passes gives the engine and `replay_from = lsn + 1`; a damaged one is reported,
//! and set aside (renamed `*.snap.damaged`) only after the WAL opened successfully, so a refusal
//! to start modifies nothing. A damaged snapshot never causes any change to the WAL.

use crate::status::StoreStatus;
use crossbeam_channel::{Receiver, Sender};
use engine::{ChunkLimits, Engine, EngineConfig, EngineView, RestoreOptions, SECTION_META};
use persist::snapshot::{self as files, SnapshotFile, SnapshotWriter, WrittenSnapshot};
use persist::{Disk, Lsn};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default time between snapshots.
pub const SNAPSHOT_INTERVAL_DEFAULT: Duration = Duration::from_secs(5 * 60);
/// Default WAL bytes logged since the last snapshot that make the next one due.
pub const SNAPSHOT_WAL_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;

/// Where and how often snapshots are taken (they share the WAL's `Disk`).
#[derive(Clone, Debug)]
pub struct SnapshotConfig {
    pub dir: PathBuf,
    /// A snapshot is due this long after the previous one (or the start).
    pub interval: Duration,
    /// ... or once this many WAL bytes were written since the previous one.
    pub wal_bytes: u64,
    /// Write a final snapshot on graceful shutdown.
    pub on_shutdown: bool,
}

impl SnapshotConfig {
    pub fn new(dir: impl Into<PathBuf>) -> SnapshotConfig {
        SnapshotConfig {
            dir: dir.into(),
            interval: SNAPSHOT_INTERVAL_DEFAULT,
            wal_bytes: SNAPSHOT_WAL_BYTES_DEFAULT,
            on_shutdown: true,
        }
    }
}

/// What snapshot recovery found.
#[derive(Clone, Debug, Default)]
pub struct SnapshotRecovery {
    /// The snapshot the state was loaded from, if any.
    pub loaded: Option<PathBuf>,
    pub lsn: u64,
    pub entities: u64,
    pub file_bytes: u64,
    pub load_duration: Duration,
    /// Snapshots that failed verification or decoding, newest first: (file, why).
    pub damaged: Vec<(PathBuf, String)>,
    /// Where the damaged ones were moved (`*.snap.damaged`).
    pub set_aside: Vec<PathBuf>,
    pub tmp_files_removed: usize,
}

pub(crate) struct Recovered {
    pub(crate) engine: Engine,
    pub(crate) report: SnapshotRecovery,
    pub(crate) damaged: Vec<SnapshotFile>,
}

/// Loads the newest snapshot that verifies and decodes (on `load_threads()` threads),
/// publishing progress in `status`. Reads only: nothing is modified.
pub(crate) fn recover(
    disk: &dyn Disk,
    dir: &Path,
    config: &EngineConfig,
    status: &StoreStatus,
) -> Result<Recovered, String> {
    let started = Instant::now();
    let candidates = files::list(disk, dir).map_err(|e| e.to_string())?;
    let mut report = SnapshotRecovery::default();
    let mut damaged = Vec::new();
    for file in candidates.iter().rev() {
        tracing::info!(
            kind = "snapshot.loading",
            file = %file.path.display(),
            lsn = file.lsn.0,
            "loading snapshot"
        );
        let total = disk.file_len(&file.path).unwrap_or(0);
        status.recovery_snapshot_started(total);
        let outcome = files::load(disk, file)
            .map_err(|e| e.reason)
            .and_then(|snapshot| {
                let sections: Vec<(u32, &[u8])> = snapshot.sections().collect();
                // Read and verified: everything but the table data counts as loaded.
                let data: u64 = sections
                    .iter()
                    .filter(|(tag, _)| *tag != SECTION_META)
                    .map(|(_, b)| b.len() as u64)
                    .sum();
                let progress = status.snapshot_bytes_loaded_counter();
                progress.store(
                    snapshot.file_bytes().saturating_sub(data),
                    Ordering::Relaxed,
                );
                let engine = Engine::restore(
                    config.clone(),
                    &sections,
                    RestoreOptions {
                        threads: files::load_threads(),
                        progress: Some(progress),
                    },
                )
                .map_err(|e| e.to_string())?;
                Ok((engine, snapshot.file_bytes(), snapshot.format_version))
            });
        match outcome {
            Ok((engine, file_bytes, format_version)) => {
                if format_version < files::SNAPSHOT_FORMAT_VERSION {
                    tracing::info!(
                        kind = "snapshot.old_format",
                        file = %file.path.display(),
                        format_version,
                        "snapshot in an older format loaded; the next snapshot is written in format {}",
                        files::SNAPSHOT_FORMAT_VERSION
                    );
                }
                report.loaded = Some(file.path.clone());
                report.lsn = file.lsn.0;
                report.entities = engine.stats().entity_count_resident;
                report.file_bytes = file_bytes;
                report.load_duration = started.elapsed();
                return Ok(Recovered {
                    engine,
                    report,
                    damaged,
                });
            }
            Err(reason) => {
                tracing::error!(
                    kind = "snapshot.damaged",
                    file = %file.path.display(),
                    lsn = file.lsn.0,
                    reason = %reason,
                    "snapshot failed verification: falling back to an older one (and a longer WAL replay)"
                );
                report.damaged.push((file.path.clone(), reason));
                damaged.push(file.clone());
            }
        }
    }
    report.load_duration = started.elapsed();
    Ok(Recovered {
        engine: Engine::new(config.clone()),
        report,
        damaged,
    })
}

/// Loads the newest good snapshot in `dir` as a start would (read-only; benchmarks and tools).
/// Returns the engine and what was found.
pub fn load_newest_snapshot(
    disk: &dyn Disk,
    dir: &Path,
    config: &EngineConfig,
) -> Result<(Engine, SnapshotRecovery), String> {
    recover(disk, dir, config, &StoreStatus::default()).map(|r| (r.engine, r.report))
}

/// After the WAL opened: set damaged snapshots aside, drop leftover temp files.
pub(crate) fn tidy_after_open(
    disk: &dyn Disk,
    dir: &Path,
    damaged: &[SnapshotFile],
    report: &mut SnapshotRecovery,
) {
    for file in damaged {
        match files::set_aside_damaged(disk, file) {
            Ok(path) => report.set_aside.push(path),
            Err(e) => {
                tracing::warn!(kind = "snapshot.set_aside_failed", error = %e, "could not rename a damaged snapshot")
            }
        }
    }
    match files::remove_tmp_files(disk, dir) {
        Ok(n) => report.tmp_files_removed = n,
        Err(e) => {
            tracing::warn!(kind = "snapshot.tmp_cleanup_failed", error = %e, "could not remove leftover snapshot temp files")
        }
    }
}

struct Job {
    view: EngineView,
    lsn: Lsn,
    /// The previous good snapshot: after the new one is durable, files older than it go.
    previous: Option<Lsn>,
}

pub(crate) struct Done {
    lsn: Lsn,
    result: Result<WrittenSnapshot, String>,
    duration: Duration,
    snapshots_removed: usize,
}

/// The writer's handle on snapshotting (see the module doc).
pub(crate) struct Snapshotter {
    config: SnapshotConfig,
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    thread: Option<std::thread::JoinHandle<()>>,
    in_flight: bool,
    /// LSN covered by the newest good snapshot (0: none).
    last_lsn: u64,
    last_at: Instant,
    wal_bytes_at_last: u64,
    /// Known-good snapshots (loaded at start or written since), oldest first, at most 2.
    retained: Vec<Lsn>,
    status: Arc<StoreStatus>,
}

impl Snapshotter {
    pub(crate) fn start(
        config: SnapshotConfig,
        disk: Arc<dyn Disk>,
        loaded_lsn: Option<Lsn>,
        status: Arc<StoreStatus>,
    ) -> Result<Snapshotter, String> {
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded::<Job>(1);
        let (done_tx, done_rx) = crossbeam_channel::bounded::<Done>(1);
        let dir = config.dir.clone();
        let thread = std::thread::Builder::new()
            .name("weir-snapshot".into())
            .spawn(move || snapshot_thread(disk, dir, jobs_rx, done_tx))
            .map_err(|e| format!("spawning the snapshot thread: {e}"))?;
        status.set_snapshots_enabled(loaded_lsn.map_or(0, |l| l.0));
        Ok(Snapshotter {
            config,
            jobs: Some(jobs_tx),
            done: done_rx,
            thread: Some(thread),
            in_flight: false,
            last_lsn: loaded_lsn.map_or(0, |l| l.0),
            last_at: Instant::now(),
            wal_bytes_at_last: 0,
            retained: loaded_lsn.into_iter().collect(),
            status,
        })
    }

    pub(crate) fn done_rx(&self) -> &Receiver<Done> {
        &self.done
    }

    /// How long the writer may sleep before a snapshot falls due by time.
    pub(crate) fn time_until_due(&self) -> Option<Duration> {
        if self.in_flight || self.jobs.is_none() {
            return None;
        }
        Some(self.config.interval.saturating_sub(self.last_at.elapsed()))
    }

    /// True if a snapshot should start now (`wal_bytes`: WAL bytes written since open).
    pub(crate) fn due(&self, wal_bytes: u64) -> bool {
        !self.in_flight
            && self.jobs.is_some()
            && (self.last_at.elapsed() >= self.config.interval
                || wal_bytes.saturating_sub(self.wal_bytes_at_last) >= self.config.wal_bytes)
    }

    /// Hands a view at `lsn` to the snapshot thread. `capture` is how long taking the view took
    /// (the writer's whole stall). Returns false if nothing new is to be covered.
    pub(crate) fn begin(
        &mut self,
        view: EngineView,
        lsn: Lsn,
        wal_bytes: u64,
        capture: Duration,
    ) -> bool {
        self.last_at = Instant::now();
        self.wal_bytes_at_last = wal_bytes;
        if lsn.0 <= self.last_lsn {
            return false;
        }
        let Some(jobs) = &self.jobs else {
            return false;
        };
        let job = Job {
            view,
            lsn,
            previous: self.retained.last().copied(),
        };
        if jobs.try_send(job).is_err() {
            return false;
        }
        self.in_flight = true;
        self.status.snapshot_started(capture);
        tracing::debug!(
            kind = "snapshot.started",
            lsn = lsn.0,
            capture_us = capture.as_micros() as u64,
            "snapshot view taken"
        );
        true
    }

    /// Folds a report from the snapshot thread in; returns the LSN up to which WAL segments may
    /// now be deleted (the older retained snapshot), if any.
    pub(crate) fn finished(&mut self, done: Done) -> Option<Lsn> {
        self.in_flight = false;
        match done.result {
            Ok(written) => {
                self.last_lsn = done.lsn.0;
                self.retained.push(done.lsn);
                if self.retained.len() > 2 {
                    self.retained.remove(0);
                }
                self.status.snapshot_succeeded(
                    done.lsn.0,
                    done.duration,
                    written.bytes,
                    written.fsync,
                );
                tracing::info!(
                    kind = "snapshot.written",
                    file = %written.path.display(),
                    lsn = done.lsn.0,
                    bytes = written.bytes,
                    duration_ms = done.duration.as_millis() as u64,
                    fsync_ms = written.fsync.as_millis() as u64,
                    older_snapshots_removed = done.snapshots_removed,
                    "snapshot durable"
                );
                (self.retained.len() == 2).then(|| self.retained[0])
            }
            Err(reason) => {
                self.status.snapshot_failed();
                tracing::error!(
                    kind = "snapshot.failed",
                    lsn = done.lsn.0,
                    reason = %reason,
                    "snapshot failed; the WAL is kept whole, the next attempt follows the cadence"
                );
                None
            }
        }
    }

    /// The snapshot thread is gone (it panicked): no more snapshots, the WAL keeps everything.
    pub(crate) fn disable(&mut self) {
        if self.jobs.take().is_some() {
            self.in_flight = false;
            self.status.snapshot_failed();
            tracing::error!(kind = "snapshot.disabled", "the snapshot thread stopped: snapshots disabled until restart; the WAL is kept whole");
        }
    }

    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    pub(crate) fn on_shutdown(&self) -> bool {
        self.config.on_shutdown && self.jobs.is_some()
    }

    /// Blocks for the in-flight snapshot's report (shutdown only).
    pub(crate) fn wait(&mut self) -> Option<Done> {
        if !self.in_flight {
            return None;
        }
        match self.done.recv() {
            Ok(done) => Some(done),
            Err(_) => {
                self.disable();
                None
            }
        }
    }

    pub(crate) fn stop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Snapshotter {
    fn drop(&mut self) {
        self.stop();
    }
}

fn snapshot_thread(disk: Arc<dyn Disk>, dir: PathBuf, jobs: Receiver<Job>, done: Sender<Done>) {
    persist::background::lower_current_thread_priority();
    // The file retention last set aside, written over by the next snapshot (decision 0022).
    let mut recycled: Option<PathBuf> = None;
    for job in jobs {
        let started = Instant::now();
        let lsn = job.lsn;
        let over = recycled.take();
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_snapshot(&disk, &dir, &job.view, lsn, over)
        }))
        .unwrap_or_else(|_| Err("the snapshot encoder panicked".into()));
        // The view is no longer needed: release shared nodes before reporting.
        drop(job.view);
        let duration = started.elapsed();
        let mut snapshots_removed = 0;
        if written.is_ok() {
            if let Some(previous) = job.previous {
                match remove_older_than(disk.as_ref(), &dir, previous) {
                    Ok((n, kept)) => {
                        snapshots_removed = n;
                        recycled = kept;
                    }
                    Err(e) => {
                        tracing::warn!(kind = "snapshot.retention_failed", error = %e, "could not delete an old snapshot")
                    }
                }
            }
        }
        let report = Done {
            lsn,
            result: written,
            duration,
            snapshots_removed,
        };
        if done.send(report).is_err() {
            break;
        }
    }
    if let Some(path) = recycled {
        let _ = disk.remove_file(&path);
    }
}

fn write_snapshot(
    disk: &Arc<dyn Disk>,
    dir: &Path,
    view: &EngineView,
    lsn: Lsn,
    over: Option<PathBuf>,
) -> Result<WrittenSnapshot, String> {
    let mut writer =
        SnapshotWriter::create_over(Arc::clone(disk), dir, lsn, over).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("writing snapshot {lsn}: {e}");
    writer.begin_section(SECTION_META);
    writer.write_all(&view.encode_meta()).map_err(io)?;
    for i in 0..view.table_count() {
        view.encode_table(i, ChunkLimits::default(), &mut |tag, parts| {
            writer.begin_section(tag);
            parts.iter().try_for_each(|part| writer.write_all(part))
        })
        .map_err(io)?;
    }
    writer.finish().map_err(|e| e.to_string())
}

/// Retention: retires the snapshot files older than `keep_from` (the previous good snapshot;
/// it and the one just written stay) — the newest of them is kept, renamed, for the next
/// snapshot to be written over; the others are deleted. Returns how many were retired and the
/// kept file.
fn remove_older_than(
    disk: &dyn Disk,
    dir: &Path,
    keep_from: Lsn,
) -> Result<(usize, Option<PathBuf>), String> {
    let old: Vec<SnapshotFile> = files::list(disk, dir)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|f| f.lsn < keep_from)
        .collect();
    let kept = files::recycle_or_remove(disk, dir, &old).map_err(|e| e.to_string())?;
    Ok((old.len(), kept))
}
