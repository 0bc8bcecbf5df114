//! The journal: the writer's handle on the WAL, and recovery from it.
//!
//! The writer appends the records of a batch, then `commit`s: in `Durable` mode that is one
//! write + fdatasync for the whole batch (group commit: every command that queued up while the
//! previous batch was being synced shares this fsync), and nothing of the batch is applied or
//! acknowledged before it returns. In `Relaxed` mode the batch is written to the OS and acked,
//! and fdatasync runs at most `sync_interval_ms` later (the documented loss window on power
//! failure; a process crash loses nothing that was written).
//!
//! Failure policy (durability.md §1.4–1.5): an fsync failure is fail-stop — the WAL refuses
//! every later append, pushes get 503 `wal_unavailable`, readiness turns 503, liveness stays 200.
//! A full disk refuses the batch with 503 `storage_full` (nothing applied, nothing half-written)
//! and the next batch tries again, so ingest resumes by itself when space returns.

use crate::log_record::{self, LogRecord};
use engine::{Engine, ValidatedPush};
use model::TimestampMs;
use persist::{Disk, Lsn, RecoveryReport, Wal, WalError, WalOptions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When an acknowledgement may be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckMode {
    /// After the batch holding the push is fdatasync'ed (default).
    Durable,
    /// After the batch is written to the OS; fdatasync at most this many ms later.
    Relaxed { sync_interval_ms: u64 },
}

/// Where and how the WAL lives.
#[derive(Clone)]
pub struct WalConfig {
    pub disk: Arc<dyn Disk>,
    pub dir: PathBuf,
    pub options: WalOptions,
    pub ack: AckMode,
}

impl std::fmt::Debug for WalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalConfig")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .field("ack", &self.ack)
            .finish()
    }
}

/// What recovery did, for the startup log and `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// What snapshot loading found (default when snapshots are off).
    pub snapshot: crate::snapshots::SnapshotRecovery,
    pub wal: RecoveryReport,
    pub records_applied: u64,
    /// Intact records that could not be applied (first time seen): quarantined.
    pub records_quarantined: u64,
    /// Intact records already quarantined by an earlier start: skipped silently.
    pub records_previously_quarantined: u64,
    pub duration: Duration,
}

/// Why the store could not start on its WAL.
#[derive(Debug)]
pub enum OpenError {
    /// Corruption that is not a torn tail: nothing was modified. Display carries
    /// `WAL unrepairable`, the file, offset and LSN.
    Unrepairable(WalError),
    /// Any other failure to open (permissions, IO).
    Io(String),
    /// No snapshot verifies and the WAL does not reach back far enough to rebuild the state
    /// without one. Nothing was modified (the damaged snapshots were not even renamed).
    SnapshotsUnusable(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Unrepairable(e) => write!(f, "{e}"),
            OpenError::Io(e) => write!(f, "cannot open the WAL: {e}"),
            OpenError::SnapshotsUnusable(e) => write!(f, "{e}"),
        }
    }
}

pub(crate) struct Journal {
    wal: Wal,
    ack: AckMode,
    last_sync: Instant,
    /// Records appended but not yet committed in this batch.
    pending: u64,
}

/// Why a commit failed; the batch was not applied.
#[derive(Clone, Debug)]
pub(crate) enum CommitError {
    StorageFull(String),
    Unavailable(String),
}

impl From<WalError> for CommitError {
    fn from(error: WalError) -> Self {
        match error {
            WalError::StorageFull { .. } => CommitError::StorageFull(error.to_string()),
            other => CommitError::Unavailable(other.to_string()),
        }
    }
}

impl CommitError {
    pub(crate) fn is_storage_full(&self) -> bool {
        matches!(self, CommitError::StorageFull(_))
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            CommitError::StorageFull(_) => "storage_full",
            CommitError::Unavailable(_) => "wal_unavailable",
        }
    }

    pub(crate) fn reason(&self) -> &str {
        match self {
            CommitError::StorageFull(r) | CommitError::Unavailable(r) => r,
        }
    }
}

impl Journal {
    /// Opens the WAL in `config.dir` and replays every record from `replay_from` on into
    /// `engine` (`Lsn::FIRST` without a snapshot; a snapshot's LSN + 1 with one).
    pub(crate) fn open(
        config: &WalConfig,
        engine: &mut Engine,
        replay_from: Lsn,
        status: &crate::status::StoreStatus,
    ) -> Result<(Journal, Recovery), OpenError> {
        let started = Instant::now();
        config
            .disk
            .create_dir_all(&config.dir)
            .map_err(|e| OpenError::Io(format!("{}: {e}", config.dir.display())))?;
        let mut replay = Replay {
            engine,
            quarantine: Quarantine::load(Arc::clone(&config.disk), &config.dir),
            recovery: Recovery::default(),
            run: PendingRun::default(),
            replay_from,
        };
        let mut progress_at = Instant::now();
        let visit = |lsn: Lsn, lsn_count: u64, bytes: &[u8]| {
            status.recovery_wal_record((persist::RECORD_HEADER_BYTES + bytes.len()) as u64);
            if progress_at.elapsed() >= Duration::from_secs(2) {
                progress_at = Instant::now();
                tracing::info!(
                    kind = "wal.replay_progress",
                    lsn = lsn.0,
                    records_applied = replay.recovery.records_applied,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "replaying the WAL"
                );
            }
            replay.record(lsn, lsn_count, bytes);
        };
        let (wal, report) = Wal::open(
            Arc::clone(&config.disk),
            &config.dir,
            config.options.clone(),
            replay_from,
            visit,
        )
        .map_err(|e| match e {
            WalError::Corrupt { .. } => OpenError::Unrepairable(e),
            other => OpenError::Io(other.to_string()),
        })?;
        replay.apply_run();
        let mut recovery = replay.recovery;
        recovery.wal = report;
        recovery.duration = started.elapsed();
        Ok((
            Journal {
                wal,
                ack: config.ack,
                last_sync: Instant::now(),
                pending: 0,
            },
            recovery,
        ))
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.wal.is_failed()
    }

    /// Last LSN that is in the log for good: fdatasync'ed (`Durable`) or written to the OS
    /// (`Relaxed`, whose acks promise no more).
    pub(crate) fn committed_lsn(&self) -> Lsn {
        match self.ack {
            AckMode::Durable => self.wal.durable_lsn(),
            AckMode::Relaxed { .. } => self.wal.written_lsn(),
        }
    }

    /// Appends one already encoded record payload (see `log_record`).
    pub(crate) fn append_encoded(&mut self, payload: &[u8]) -> Result<Lsn, WalError> {
        self.append_encoded_many(payload, 1)
    }

    /// Appends one already encoded record payload holding `lsn_count` mutations (a pushes
    /// record, see `log_record`); returns the first one's LSN.
    pub(crate) fn append_encoded_many(
        &mut self,
        payload: &[u8],
        lsn_count: u32,
    ) -> Result<Lsn, WalError> {
        let lsn = self.wal.append_many(payload, lsn_count)?;
        self.pending += u64::from(lsn_count);
        Ok(lsn)
    }

    pub(crate) fn ack_mode(&self) -> AckMode {
        self.ack
    }

    pub(crate) fn record_bytes_max(&self) -> usize {
        self.wal.options().record_bytes_max as usize
    }

    /// Makes the appended records acknowledgeable (see the module doc), forcing an fdatasync
    /// even in relaxed mode when `sync` (a `/push-sync` rode in the batch). On error nothing of
    /// them may be applied or acked; they are dropped from the log.
    pub(crate) fn commit_with(&mut self, sync: bool) -> Result<(), CommitError> {
        if self.pending == 0 {
            return Ok(());
        }
        let durable = sync || matches!(self.ack, AckMode::Durable);
        let result = if durable {
            self.wal.sync().map(|_| ())
        } else {
            self.wal.flush().map(|_| ())
        };
        self.pending = 0;
        match result {
            Ok(()) => {
                if durable {
                    self.last_sync = Instant::now();
                }
                self.sync_if_due();
                Ok(())
            }
            Err(error) => {
                self.wal.discard_pending();
                Err(CommitError::from(error))
            }
        }
    }

    /// Drops records appended since the last commit (a batch abandoned before commit).
    pub(crate) fn abandon(&mut self) {
        self.wal.discard_pending();
        self.pending = 0;
    }

    /// Relaxed mode: fdatasync if the loss window is about to be exceeded.
    pub(crate) fn sync_if_due(&mut self) {
        if let AckMode::Relaxed { sync_interval_ms } = self.ack {
            if self.last_sync.elapsed() >= Duration::from_millis(sync_interval_ms) {
                if let Err(error) = self.wal.sync() {
                    tracing::error!(kind = "wal.sync_failed", error = %error, "relaxed-mode fdatasync failed");
                }
                self.last_sync = Instant::now();
            }
        }
    }

    /// How long the writer may sleep before `sync_if_due` must run again.
    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
        match self.ack {
            AckMode::Durable => None,
            AckMode::Relaxed { sync_interval_ms } => Some(Duration::from_millis(sync_interval_ms)),
        }
    }

    /// Final fdatasync on shutdown (relaxed mode may hold written-but-unsynced records).
    pub(crate) fn close(&mut self) {
        if !self.wal.is_failed() {
            if let Err(error) = self.wal.sync() {
                tracing::error!(kind = "wal.sync_failed", error = %error, "final fdatasync failed");
            }
        }
    }

    pub(crate) fn stats(&self) -> persist::WalStats {
        self.wal.stats()
    }

    /// The LSN a snapshot taken now covers: every record written so far, made durable first
    /// (relaxed mode may hold written-but-unsynced records; a snapshot must never claim records
    /// a power loss could take from the log). `None` if the log has failed or holds nothing.
    pub(crate) fn snapshot_lsn(&mut self) -> Option<Lsn> {
        if self.wal.is_failed() || self.pending > 0 {
            return None;
        }
        match self.wal.sync() {
            Ok(lsn) if lsn >= Lsn::FIRST => {
                self.last_sync = Instant::now();
                Some(lsn)
            }
            Ok(_) => None,
            Err(error) => {
                tracing::error!(kind = "wal.sync_failed", error = %error, "fdatasync before a snapshot failed");
                None
            }
        }
    }

    /// Deletes the sealed segments whose every record is at or below `covered` (a durable
    /// snapshot's LSN) and logs what was removed and what remains.
    pub(crate) fn reclaim(&mut self, covered: Lsn) -> Result<persist::Reclamation, WalError> {
        let reclamation = self.wal.remove_segments_before(covered)?;
        tracing::info!(
            kind = "wal.reclaimed",
            covered_lsn = covered.0,
            segments_removed = reclamation.removed.len(),
            bytes_removed = reclamation.bytes_removed,
            first_removed = %reclamation.removed.first().map(|s| s.path.display().to_string()).unwrap_or_default(),
            last_removed = %reclamation.removed.last().map(|s| s.path.display().to_string()).unwrap_or_default(),
            segments_remaining = reclamation.retained.len(),
            bytes_remaining = reclamation.bytes_retained,
            active_segment_bytes = reclamation.active_segment_bytes,
            "WAL segments covered by the older retained snapshot removed"
        );
        Ok(reclamation)
    }
}

/// Longest run of pushes replayed with one `Engine::apply_many`, in pushes and in logged bytes
/// held for it (pushes can be large: the run must not hold thousands of them).
const REPLAY_RUN_MAX: usize = 4096;
const REPLAY_RUN_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Re-executes the logged records in order. Consecutive pushes of one processing time (a run
/// the writer logged) are applied together by `Engine::apply_many`, as the writer did: on two
/// lanes, with prefetching (decisions 0013, 0014). Records that are intact but cannot be
/// applied are quarantined.
struct Replay<'a> {
    engine: &'a mut Engine,
    quarantine: Quarantine,
    recovery: Recovery,
    run: PendingRun,
    /// The first LSN the engine does not hold yet (a snapshot holds the ones before).
    replay_from: Lsn,
}

/// Pushes read and not applied yet.
#[derive(Default)]
struct PendingRun {
    now_ms: TimestampMs,
    pushes: Vec<(Lsn, ValidatedPush)>,
    /// Logged bytes of `pushes` (a push's share of its record).
    bytes: usize,
}

impl Replay<'_> {
    /// One WAL record, covering LSNs `lsn .. lsn + lsn_count`.
    fn record(&mut self, lsn: Lsn, lsn_count: u64, bytes: &[u8]) {
        let record = match log_record::decode(bytes) {
            Ok(record) => record,
            Err(reason) => return self.unapplied(lsn, &reason, bytes),
        };
        let single = |record: &LogRecord| !matches!(record, LogRecord::Pushes { .. });
        if single(&record) && lsn_count != 1 {
            let reason = format!("a record of one mutation covers {lsn_count} LSNs");
            return self.unapplied(lsn, &reason, bytes);
        }
        match record {
            LogRecord::Push { now_ms, push } => self.push(lsn, now_ms, push, bytes.len()),
            LogRecord::Pushes { now_ms, pushes } => {
                if pushes.len() as u64 != lsn_count {
                    let reason = format!(
                        "a record of {} pushes covers {lsn_count} LSNs",
                        pushes.len()
                    );
                    return self.unapplied(lsn, &reason, bytes);
                }
                let share = bytes.len().div_ceil(pushes.len().max(1));
                for (lsn, push) in (lsn.0..).map(Lsn).zip(pushes) {
                    // A snapshot taken inside a record's LSNs already holds its first pushes
                    // (the writer takes them between runs, so this is for robustness only).
                    if lsn >= self.replay_from {
                        self.push(lsn, now_ms, push, share);
                    }
                }
            }
            LogRecord::Register { body, .. } => {
                self.apply_run();
                // A register refused at run time was logged before it ran; it is refused
                // again here, identically, and changes nothing.
                let _ = self.engine.register(&body);
                self.recovery.records_applied += 1;
            }
            LogRecord::Reset { .. } => {
                self.apply_run();
                self.engine.reset();
                self.recovery.records_applied += 1;
            }
        }
    }

    fn push(&mut self, lsn: Lsn, now_ms: TimestampMs, push: ValidatedPush, logged_bytes: usize) {
        if now_ms != self.run.now_ms
            || self.run.pushes.len() >= REPLAY_RUN_MAX
            || self.run.bytes >= REPLAY_RUN_BYTES_MAX
        {
            self.apply_run();
            self.run.now_ms = now_ms;
        }
        // The registry changes only through records that end the run first, so this answer
        // holds when the run is applied.
        if !self.engine.can_apply(&push) {
            let reason = format!(
                "event '{}' with {} fields does not match the registry at this point",
                push.event,
                push.fields.len()
            );
            return self.unapplied_push(lsn, now_ms, &push, &reason);
        }
        self.run.pushes.push((lsn, push));
        self.run.bytes += logged_bytes;
    }

    /// Applies the pending run, if any.
    fn apply_run(&mut self) {
        if self.run.pushes.is_empty() {
            return;
        }
        let mut run = std::mem::take(&mut self.run);
        let pushes: Vec<&ValidatedPush> = run.pushes.iter().map(|(_, push)| push).collect();
        let mut panics = self
            .engine
            .apply_many(&pushes, run.now_ms)
            .into_iter()
            .peekable();
        drop(pushes);
        for (i, (lsn, push)) in run.pushes.drain(..).enumerate() {
            match panics.next_if(|(index, _)| *index == i) {
                None => self.recovery.records_applied += 1,
                Some((_, panic)) => {
                    let reason = format!("engine panicked: {}", engine::panic_message(&panic));
                    self.unapplied_push(lsn, run.now_ms, &push, &reason);
                }
            }
        }
        run.bytes = 0;
        self.run = run;
    }

    /// A push that cannot be applied, quarantined as a record of that one push (whatever record
    /// it came in), so the quarantine file decodes alone and is the same on every start.
    fn unapplied_push(
        &mut self,
        lsn: Lsn,
        now_ms: TimestampMs,
        push: &ValidatedPush,
        reason: &str,
    ) {
        let mut bytes = Vec::new();
        log_record::encode_push(&mut bytes, now_ms, push);
        self.unapplied(lsn, reason, &bytes);
    }

    /// An intact record that cannot be applied: quarantined the first time it is seen.
    fn unapplied(&mut self, lsn: Lsn, reason: &str, bytes: &[u8]) {
        if self.quarantine.contains(lsn, bytes) {
            self.recovery.records_previously_quarantined += 1;
        } else {
            tracing::warn!(
                kind = "wal.record_quarantined",
                lsn = lsn.0,
                reason = %reason,
                "intact WAL record cannot be applied: skipped and quarantined"
            );
            self.quarantine.add(lsn, reason, bytes);
            self.recovery.records_quarantined += 1;
        }
    }
}

/// Intact records that could not be applied: copied once to `quarantine/unapplied/<lsn>.bin`
/// and listed in `quarantine/unapplied.log`, so later starts skip them without warning again.
/// Entries are keyed by LSN and content hash: `weir wal salvage` can reuse LSNs, and a different
/// record at a reused LSN must not be skipped silently.
struct Quarantine {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    entries: BTreeSet<(u64, u64)>,
}

/// FNV-1a 64 over the record bytes (identity of a quarantined record; not a checksum).
fn content_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Quarantine {
    fn load(disk: Arc<dyn Disk>, wal_dir: &Path) -> Quarantine {
        let dir = wal_dir.join("quarantine");
        let entries = disk
            .read_file(&dir.join("unapplied.log"))
            .map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter_map(|line| {
                        let mut words = line.split_whitespace();
                        let lsn = words.next()?.parse().ok()?;
                        let hash = u64::from_str_radix(words.next()?, 16).ok()?;
                        Some((lsn, hash))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Quarantine { disk, dir, entries }
    }

    fn contains(&self, lsn: Lsn, bytes: &[u8]) -> bool {
        self.entries.contains(&(lsn.0, content_hash(bytes)))
    }

    fn add(&mut self, lsn: Lsn, reason: &str, bytes: &[u8]) {
        let write = || -> std::io::Result<()> {
            let disk = self.disk.as_ref();
            let unapplied = self.dir.join("unapplied");
            disk.create_dir_all(&unapplied)?;
            let mut copy = disk.create_file(&unapplied.join(format!("{}.bin", lsn.0)))?;
            persist::write_all_at(copy.as_mut(), 0, bytes).map_err(|(_, e)| e)?;
            copy.sync_data()?;
            disk.sync_dir(&unapplied)?;
            let index_path = self.dir.join("unapplied.log");
            let (mut index, end) = match disk.file_len(&index_path) {
                Ok(len) => (disk.open_file(&index_path)?, len),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (disk.create_file(&index_path)?, 0)
                }
                Err(e) => return Err(e),
            };
            let hash = content_hash(bytes);
            let line = format!("{} {hash:016x} {}\n", lsn.0, reason.replace('\n', " "));
            persist::write_all_at(index.as_mut(), end, line.as_bytes()).map_err(|(_, e)| e)?;
            index.sync_data()?;
            disk.sync_dir(&self.dir)?;
            // The `quarantine` directory itself, the first time.
            match self.dir.parent() {
                Some(wal_dir) => disk.sync_dir(wal_dir),
                None => Ok(()),
            }
        };
        if let Err(error) = write() {
            tracing::error!(kind = "wal.quarantine_failed", lsn = lsn.0, error = %error, "could not write the quarantine file");
        }
        self.entries.insert((lsn.0, content_hash(bytes)));
    }
}
