//! What the store publishes for `POST /ping`, TCP PING and the admin plane: plain atomics the
//! writer stores after each batch. Reading them never touches the engine lock or the command
//! queue, so liveness and metrics answer while the data plane is saturated.

use engine::EngineStats;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a start is (`/ready` reports it while the store is not yet serving).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryPhase {
    /// Opening: nothing loaded yet.
    Starting,
    /// Reading, verifying and decoding a snapshot.
    SnapshotLoad,
    /// Replaying the WAL tail after the snapshot.
    WalReplay,
    /// Recovery finished (the writer starts next).
    Done,
}

impl RecoveryPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryPhase::Starting => "starting",
            RecoveryPhase::SnapshotLoad => "snapshot_load",
            RecoveryPhase::WalReplay => "wal_replay",
            RecoveryPhase::Done => "done",
        }
    }

    fn from_u8(v: u8) -> RecoveryPhase {
        match v {
            1 => RecoveryPhase::SnapshotLoad,
            2 => RecoveryPhase::WalReplay,
            3 => RecoveryPhase::Done,
            _ => RecoveryPhase::Starting,
        }
    }
}

/// Progress of the start in progress (or the last one), read from atomics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryProgress {
    pub phase: RecoveryPhase,
    /// Since the store began opening.
    pub elapsed_ms: u64,
    /// Size of the snapshot file being loaded (0: none).
    pub snapshot_bytes_total: u64,
    /// Of it: read and verified, plus table data decoded so far.
    pub snapshot_bytes_loaded: u64,
    pub wal_records_replayed: u64,
    /// Record bytes (header + payload) replayed so far.
    pub wal_bytes_replayed: u64,
    /// Bytes of the WAL segment files that may hold records to replay: an upper bound (it
    /// includes segment headers and preallocated space).
    pub wal_bytes_total: u64,
}

/// Counters and gauges published by the writer. All loads are `Relaxed`: each value is
/// individually fresh, a scrape is not a consistent cut (and need not be).
#[derive(Debug, Default)]
pub struct StoreStatus {
    registry_version: AtomicU64,
    node_count: AtomicU64,
    entity_count_resident: AtomicU64,
    cold_entity_evictions_total: AtomicU64,
    bucket_reclaim_total: AtomicU64,
    entropy_categories_capped_total: AtomicU64,
    events_applied_total: AtomicU64,
    last_lsn: AtomicU64,
    pushes_acked_total: AtomicU64,
    pushes_refused_total: AtomicU64,
    commands_total: AtomicU64,
    batches_total: AtomicU64,
    overloaded_total: AtomicU64,
    engine_panics_total: AtomicU64,
    queue_depth: AtomicU64,
    queue_capacity: AtomicU64,
    writer_running: AtomicBool,
    wal_enabled: AtomicBool,
    wal_relaxed_window_ms: AtomicU64,
    wal_failed: AtomicBool,
    storage_full: AtomicBool,
    wal_fsyncs_total: AtomicU64,
    wal_records_total: AtomicU64,
    wal_lsns_total: AtomicU64,
    wal_bytes_written_total: AtomicU64,
    wal_rotations_total: AtomicU64,
    /// `persist::WalStats::fsync_histogram` and the total fdatasync time, republished.
    wal_fsync_histogram: [AtomicU64; persist::FSYNC_HISTOGRAM_BOUNDS_SECONDS.len() + 1],
    wal_fsync_nanos_total: AtomicU64,
    wal_torn_tails_repaired_total: AtomicU64,
    wal_records_quarantined_total: AtomicU64,
    recovery_records_replayed: AtomicU64,
    snapshots_total: AtomicU64,
    snapshot_failures_total: AtomicU64,
    snapshot_last_lsn: AtomicU64,
    snapshot_last_duration_us: AtomicU64,
    snapshot_last_bytes: AtomicU64,
    snapshot_last_fsync_us: AtomicU64,
    snapshot_last_capture_us: AtomicU64,
    wal_segments_removed_total: AtomicU64,
    wal_bytes_removed_total: AtomicU64,
    wal_segments_retained: AtomicU64,
    wal_bytes_retained: AtomicU64,
    recovery_snapshot_lsn: AtomicU64,
    recovery_snapshots_damaged: AtomicU64,
    snapshots_enabled: AtomicBool,
    snapshot_in_progress: AtomicBool,
    recovery_phase: AtomicU8,
    recovery_started_unix_ms: AtomicU64,
    recovery_finished_unix_ms: AtomicU64,
    recovery_snapshot_bytes_total: AtomicU64,
    recovery_snapshot_bytes_loaded: AtomicU64,
    recovery_wal_records_replayed: AtomicU64,
    recovery_wal_bytes_replayed: AtomicU64,
    recovery_wal_bytes_total: AtomicU64,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Upper bounds (seconds) of the buckets of `StatusSnapshot::wal_fsync_histogram`.
pub const WAL_FSYNC_BOUNDS_SECONDS: &[f64] = &persist::FSYNC_HISTOGRAM_BOUNDS_SECONDS;

/// One read of every published value (for `/metrics`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusSnapshot {
    pub registry_version: u64,
    pub node_count: u64,
    pub entity_count_resident: u64,
    pub cold_entity_evictions_total: u64,
    pub bucket_reclaim_total: u64,
    pub entropy_categories_capped_total: u64,
    pub events_applied_total: u64,
    pub last_lsn: u64,
    pub pushes_acked_total: u64,
    pub pushes_refused_total: u64,
    pub commands_total: u64,
    pub batches_total: u64,
    pub overloaded_total: u64,
    pub engine_panics_total: u64,
    pub queue_depth: u64,
    pub queue_capacity: u64,
    pub writer_running: bool,
    pub wal_enabled: bool,
    /// Relaxed ack mode's loss window in ms (0: durable acks).
    pub wal_relaxed_window_ms: u64,
    /// An fsync failed: fail-stop for writes until restart.
    pub wal_failed: bool,
    /// The last WAL write hit ENOSPC; clears on the next successful commit.
    pub storage_full: bool,
    pub wal_fsyncs_total: u64,
    pub wal_records_total: u64,
    /// Mutations logged (one LSN each; a record holds the pushes of a writer run).
    pub wal_lsns_total: u64,
    pub wal_bytes_written_total: u64,
    pub wal_rotations_total: u64,
    /// Batch fdatasync latencies: `[i]` counts syncs within `WAL_FSYNC_BOUNDS_SECONDS[i]`
    /// (above the previous bound); the last slot counts the slower ones.
    pub wal_fsync_histogram: [u64; persist::FSYNC_HISTOGRAM_BOUNDS_SECONDS.len() + 1],
    pub wal_fsync_nanos_total: u64,
    pub wal_torn_tails_repaired_total: u64,
    pub wal_records_quarantined_total: u64,
    pub recovery_records_replayed: u64,
    /// Snapshots written and made durable since start.
    pub snapshots_total: u64,
    /// Snapshot attempts that failed (the WAL was kept whole).
    pub snapshot_failures_total: u64,
    /// LSN covered by the newest durable snapshot (loaded or written).
    pub snapshot_last_lsn: u64,
    /// Encode + write + fsync + rename of the last snapshot, µs.
    pub snapshot_last_duration_us: u64,
    /// Size of the last snapshot file.
    pub snapshot_last_bytes: u64,
    /// File fsync + directory fsync of the last snapshot, µs.
    pub snapshot_last_fsync_us: u64,
    /// How long the writer spent taking the last point-in-time view, µs.
    pub snapshot_last_capture_us: u64,
    /// WAL segments retired (deleted or kept for recycling) because a durable snapshot covers them.
    pub wal_segments_removed_total: u64,
    /// Bytes of those segments.
    pub wal_bytes_removed_total: u64,
    /// WAL segments on disk after the last reclamation (active included).
    pub wal_segments_retained: u64,
    /// Bytes of those segments.
    pub wal_bytes_retained: u64,
    /// LSN of the snapshot the last start loaded (0: none).
    pub recovery_snapshot_lsn: u64,
    /// Snapshots the last start found damaged and skipped.
    pub recovery_snapshots_damaged: u64,
    pub snapshots_enabled: bool,
    pub snapshot_in_progress: bool,
}

impl StoreStatus {
    pub fn registry_version(&self) -> u64 {
        self.registry_version.load(Ordering::Acquire)
    }

    /// The writer is up and taking commands.
    pub fn writer_running(&self) -> bool {
        self.writer_running.load(Ordering::Acquire)
    }

    /// Readiness (durability.md §4.2): the writer runs, the WAL has not failed, the disk is not
    /// full. Liveness (`/health`) does not depend on any of these.
    pub fn ready(&self) -> bool {
        self.writer_running()
            && !self.wal_failed.load(Ordering::Acquire)
            && !self.storage_full.load(Ordering::Acquire)
    }

    /// Recovery progress (for `/ready` while not ready, and the logs).
    pub fn recovery_progress(&self) -> RecoveryProgress {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let started = load(&self.recovery_started_unix_ms);
        let finished = load(&self.recovery_finished_unix_ms);
        let end = if finished > 0 { finished } else { unix_ms() };
        RecoveryProgress {
            phase: RecoveryPhase::from_u8(self.recovery_phase.load(Ordering::Acquire)),
            elapsed_ms: if started > 0 {
                end.saturating_sub(started)
            } else {
                0
            },
            snapshot_bytes_total: load(&self.recovery_snapshot_bytes_total),
            snapshot_bytes_loaded: load(&self.recovery_snapshot_bytes_loaded),
            wal_records_replayed: load(&self.recovery_wal_records_replayed),
            wal_bytes_replayed: load(&self.recovery_wal_bytes_replayed),
            wal_bytes_total: load(&self.recovery_wal_bytes_total),
        }
    }

    pub(crate) fn recovery_started(&self) {
        self.recovery_started_unix_ms
            .store(unix_ms(), Ordering::Relaxed);
        self.recovery_phase
            .store(RecoveryPhase::Starting as u8, Ordering::Release);
    }

    /// A snapshot of `total` bytes starts loading (again 0 if an older one is tried next).
    pub(crate) fn recovery_snapshot_started(&self, total: u64) {
        self.recovery_snapshot_bytes_total
            .store(total, Ordering::Relaxed);
        self.recovery_snapshot_bytes_loaded
            .store(0, Ordering::Relaxed);
        self.recovery_phase
            .store(RecoveryPhase::SnapshotLoad as u8, Ordering::Release);
    }

    /// The counter the snapshot decoder advances.
    pub(crate) fn snapshot_bytes_loaded_counter(&self) -> &AtomicU64 {
        &self.recovery_snapshot_bytes_loaded
    }

    pub(crate) fn recovery_wal_started(&self, bytes_total: u64) {
        self.recovery_wal_bytes_total
            .store(bytes_total, Ordering::Relaxed);
        self.recovery_phase
            .store(RecoveryPhase::WalReplay as u8, Ordering::Release);
    }

    /// One WAL record of `bytes` (header included) replayed.
    pub(crate) fn recovery_wal_record(&self, bytes: u64) {
        self.recovery_wal_records_replayed
            .fetch_add(1, Ordering::Relaxed);
        self.recovery_wal_bytes_replayed
            .fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn recovery_done(&self) {
        self.recovery_finished_unix_ms
            .store(unix_ms(), Ordering::Relaxed);
        self.recovery_phase
            .store(RecoveryPhase::Done as u8, Ordering::Release);
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatusSnapshot {
            registry_version: self.registry_version(),
            node_count: load(&self.node_count),
            entity_count_resident: load(&self.entity_count_resident),
            cold_entity_evictions_total: load(&self.cold_entity_evictions_total),
            bucket_reclaim_total: load(&self.bucket_reclaim_total),
            entropy_categories_capped_total: load(&self.entropy_categories_capped_total),
            events_applied_total: load(&self.events_applied_total),
            last_lsn: load(&self.last_lsn),
            pushes_acked_total: load(&self.pushes_acked_total),
            pushes_refused_total: load(&self.pushes_refused_total),
            commands_total: load(&self.commands_total),
            batches_total: load(&self.batches_total),
            overloaded_total: load(&self.overloaded_total),
            engine_panics_total: load(&self.engine_panics_total),
            queue_depth: load(&self.queue_depth),
            queue_capacity: load(&self.queue_capacity),
            writer_running: self.writer_running(),
            wal_enabled: self.wal_enabled.load(Ordering::Relaxed),
            wal_relaxed_window_ms: load(&self.wal_relaxed_window_ms),
            wal_failed: self.wal_failed.load(Ordering::Relaxed),
            storage_full: self.storage_full.load(Ordering::Relaxed),
            wal_fsyncs_total: load(&self.wal_fsyncs_total),
            wal_records_total: load(&self.wal_records_total),
            wal_lsns_total: load(&self.wal_lsns_total),
            wal_bytes_written_total: load(&self.wal_bytes_written_total),
            wal_rotations_total: load(&self.wal_rotations_total),
            wal_fsync_histogram: std::array::from_fn(|i| load(&self.wal_fsync_histogram[i])),
            wal_fsync_nanos_total: load(&self.wal_fsync_nanos_total),
            wal_torn_tails_repaired_total: load(&self.wal_torn_tails_repaired_total),
            wal_records_quarantined_total: load(&self.wal_records_quarantined_total),
            recovery_records_replayed: load(&self.recovery_records_replayed),
            snapshots_total: load(&self.snapshots_total),
            snapshot_failures_total: load(&self.snapshot_failures_total),
            snapshot_last_lsn: load(&self.snapshot_last_lsn),
            snapshot_last_duration_us: load(&self.snapshot_last_duration_us),
            snapshot_last_bytes: load(&self.snapshot_last_bytes),
            snapshot_last_fsync_us: load(&self.snapshot_last_fsync_us),
            snapshot_last_capture_us: load(&self.snapshot_last_capture_us),
            wal_segments_removed_total: load(&self.wal_segments_removed_total),
            wal_bytes_removed_total: load(&self.wal_bytes_removed_total),
            wal_segments_retained: load(&self.wal_segments_retained),
            wal_bytes_retained: load(&self.wal_bytes_retained),
            recovery_snapshot_lsn: load(&self.recovery_snapshot_lsn),
            recovery_snapshots_damaged: load(&self.recovery_snapshots_damaged),
            snapshots_enabled: self.snapshots_enabled.load(Ordering::Relaxed),
            snapshot_in_progress: self.snapshot_in_progress.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_snapshots_enabled(&self, loaded_lsn: u64) {
        self.snapshots_enabled.store(true, Ordering::Relaxed);
        self.snapshot_last_lsn.store(loaded_lsn, Ordering::Relaxed);
    }

    pub(crate) fn publish_snapshot_recovery(&self, lsn: u64, damaged: usize) {
        self.recovery_snapshot_lsn.store(lsn, Ordering::Relaxed);
        self.recovery_snapshots_damaged
            .store(damaged as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot_started(&self, capture: std::time::Duration) {
        self.snapshot_in_progress.store(true, Ordering::Relaxed);
        self.snapshot_last_capture_us
            .store(capture.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot_succeeded(
        &self,
        lsn: u64,
        duration: std::time::Duration,
        bytes: u64,
        fsync: std::time::Duration,
    ) {
        self.snapshot_in_progress.store(false, Ordering::Relaxed);
        self.snapshots_total.fetch_add(1, Ordering::Relaxed);
        self.snapshot_last_lsn.store(lsn, Ordering::Relaxed);
        self.snapshot_last_duration_us
            .store(duration.as_micros() as u64, Ordering::Relaxed);
        self.snapshot_last_bytes.store(bytes, Ordering::Relaxed);
        self.snapshot_last_fsync_us
            .store(fsync.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot_failed(&self) {
        self.snapshot_in_progress.store(false, Ordering::Relaxed);
        self.snapshot_failures_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn publish_reclamation(&self, reclamation: &persist::Reclamation) {
        self.wal_segments_removed_total
            .fetch_add(reclamation.removed.len() as u64, Ordering::Relaxed);
        self.wal_bytes_removed_total
            .fetch_add(reclamation.bytes_removed, Ordering::Relaxed);
        self.wal_segments_retained
            .store(reclamation.retained.len() as u64, Ordering::Relaxed);
        self.wal_bytes_retained
            .store(reclamation.bytes_retained, Ordering::Relaxed);
    }

    pub(crate) fn set_ack_mode(&self, ack: crate::journal::AckMode) {
        let window_ms = match ack {
            crate::journal::AckMode::Durable => 0,
            crate::journal::AckMode::Relaxed { sync_interval_ms } => sync_interval_ms,
        };
        self.wal_relaxed_window_ms
            .store(window_ms, Ordering::Relaxed);
    }

    pub(crate) fn set_storage(&self, failed: bool, full: bool) {
        if failed {
            self.wal_failed.store(true, Ordering::Release);
        }
        self.storage_full.store(full, Ordering::Release);
    }

    pub(crate) fn publish_wal(&self, stats: &persist::WalStats, failed: bool) {
        self.wal_fsyncs_total.store(stats.fsyncs, Ordering::Relaxed);
        self.wal_records_total
            .store(stats.records_appended, Ordering::Relaxed);
        self.wal_lsns_total
            .store(stats.lsns_appended, Ordering::Relaxed);
        self.wal_bytes_written_total
            .store(stats.bytes_written, Ordering::Relaxed);
        self.wal_rotations_total
            .store(stats.rotations, Ordering::Relaxed);
        for (slot, count) in self.wal_fsync_histogram.iter().zip(stats.fsync_histogram) {
            slot.store(count, Ordering::Relaxed);
        }
        self.wal_fsync_nanos_total
            .store(stats.fsync_nanos, Ordering::Relaxed);
        if failed {
            self.wal_failed.store(true, Ordering::Release);
        }
    }

    pub(crate) fn publish_recovery(&self, recovery: &crate::journal::Recovery) {
        self.wal_enabled.store(true, Ordering::Relaxed);
        self.wal_torn_tails_repaired_total.store(
            u64::from(recovery.wal.n_torn_tails_repaired),
            Ordering::Relaxed,
        );
        self.wal_records_quarantined_total
            .store(recovery.records_quarantined, Ordering::Relaxed);
        self.recovery_records_replayed
            .store(recovery.records_applied, Ordering::Relaxed);
    }

    pub(crate) fn set_registry_version(&self, version: u64) {
        self.registry_version.store(version, Ordering::Release);
    }

    pub(crate) fn publish_engine(&self, stats: &EngineStats) {
        let store = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        self.set_registry_version(stats.registry_version);
        store(&self.node_count, stats.node_count as u64);
        store(&self.entity_count_resident, stats.entity_count_resident);
        store(
            &self.cold_entity_evictions_total,
            stats.cold_entity_evictions_total,
        );
        store(&self.bucket_reclaim_total, stats.bucket_reclaim_total);
        store(
            &self.entropy_categories_capped_total,
            stats.entropy_categories_capped_total,
        );
        store(&self.events_applied_total, stats.events_applied_total);
    }

    pub(crate) fn record_batch(&self, counts: &BatchCounts, last_lsn: u64, queue_depth: usize) {
        let add = |a: &AtomicU64, v: u64| {
            if v > 0 {
                a.fetch_add(v, Ordering::Relaxed);
            }
        };
        add(&self.pushes_acked_total, counts.pushes_acked);
        add(&self.pushes_refused_total, counts.pushes_refused);
        add(&self.commands_total, counts.commands);
        add(&self.engine_panics_total, counts.panics);
        self.batches_total.fetch_add(1, Ordering::Relaxed);
        self.last_lsn.store(last_lsn, Ordering::Relaxed);
        self.queue_depth
            .store(queue_depth as u64, Ordering::Relaxed);
    }

    /// `n` commands refused because the writer's queue was full.
    pub(crate) fn record_overloaded(&self, n: usize) {
        self.overloaded_total.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_queue_capacity(&self, capacity: usize) {
        self.queue_capacity
            .store(capacity as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_writer_running(&self, running: bool) {
        self.writer_running.store(running, Ordering::Release);
    }
}

/// What one writer batch did (folded into the status after the batch).
#[derive(Debug, Default)]
pub(crate) struct BatchCounts {
    pub commands: u64,
    pub pushes_acked: u64,
    pub pushes_refused: u64,
    pub panics: u64,
}
