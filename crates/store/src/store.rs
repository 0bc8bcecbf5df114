//! `Store` (owns the engine and its writer thread) and `StoreHandle` (what connections use).
//!
//! Threading: mutations are submitted to the writer's bounded queue and answered through a
//! one-shot reply (`Ticket`); reads take the engine's read lock on the caller's thread and never
//! queue. The registry version and counters are atomics in `StoreStatus`.

use crate::clock::Clock;
use crate::command::Command;
use crate::journal::{Journal, OpenError, Recovery, WalConfig};
use crate::log_thread::LogThread;
use crate::reply::{BatchSlot, QueuedBatch, Ticket};
use crate::snapshots::{self, SnapshotConfig, Snapshotter};
use crate::status::StoreStatus;
use crate::writer::{self, Input};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use engine::registry::compile::CompiledRegistry;
use engine::{Engine, EngineConfig, Prevalidation, Value};
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Store options.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub engine: EngineConfig,
    /// `None`: memory only (no WAL, nothing survives a restart).
    pub wal: Option<WalConfig>,
    /// Commands that may wait for the writer; past this, submissions fail with `Overloaded`.
    pub queue_capacity: usize,
    /// Most commands executed under one write-lock hold.
    pub batch_max: usize,
    /// Runs of at most this many pushes are committed on the writer thread when nothing is in
    /// flight; larger ones go to the log thread so the writer overlaps the next run with the
    /// fdatasync (`writer.rs`). 0: always through the log thread. Default 512 (decision 0017:
    /// the hand-over costs two thread wake-ups per run, more than a run of a few hundred pushes
    /// gains from overlapping).
    pub inline_commit_max: usize,
    /// Snapshots (only with a WAL; they use its `Disk`). `None`: the WAL is never reclaimed and
    /// recovery replays all of it.
    pub snapshots: Option<SnapshotConfig>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            engine: EngineConfig::default(),
            wal: None,
            queue_capacity: 8192,
            // A batch is also the group-commit unit: everything that queued during one fsync.
            batch_max: 4096,
            inline_commit_max: 512,
            snapshots: None,
        }
    }
}

pub(crate) struct Shared {
    pub(crate) engine: RwLock<Engine>,
    pub(crate) status: Arc<StoreStatus>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Commands in the writer's queue (a batch counts each of its commands), at most
    /// `queue_capacity`: the queue's bound is in commands whatever their grouping.
    pub(crate) queued: AtomicUsize,
    pub(crate) queue_capacity: usize,
    /// The engine's compiled registry, for the I/O threads' validation (`PushValidator`).
    pub(crate) registry: PublishedRegistry,
}

impl Shared {
    /// Publishes the engine's registry and counters.
    pub(crate) fn publish_engine(&self, engine: &Engine) {
        self.registry.publish(engine);
        self.status.publish_engine(&engine.stats());
    }
}

/// The engine's compiled registry as the I/O threads see it: they must never wait for the
/// engine's lock. On a cache line of its own: every push reads `generation`, which changes only
/// with the registry (the status counters next to the registry version change every batch).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct PublishedRegistry {
    /// Bumped after each new registry is in `registry`: whoever sees a generation finds at
    /// least that registry.
    generation: AtomicU64,
    registry: Mutex<Arc<CompiledRegistry>>,
}

impl PublishedRegistry {
    fn publish(&self, engine: &Engine) {
        let current = engine.registry().compiled_shared();
        let mut published = self.registry.lock();
        if !Arc::ptr_eq(&published, current) {
            *published = Arc::clone(current);
            drop(published);
            self.generation.fetch_add(1, Ordering::Release);
        }
    }
}

/// Why a command was not accepted. Nothing was executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// The writer's queue is full: answer `503 overloaded` and let the client retry.
    Overloaded,
    /// The store is shutting down.
    Stopped,
}

/// The store: the engine, its writer thread, and the published status.
pub struct Store {
    handle: StoreHandle,
    writer: Option<JoinHandle<()>>,
}

impl Store {
    /// Starts a memory-only store (tests). Panics if `config.wal` is set: use `open`.
    pub fn start(config: StoreConfig, clock: Arc<dyn Clock>) -> Store {
        assert!(
            config.wal.is_none(),
            "a store with a WAL is opened with Store::open"
        );
        match Store::open(config, clock) {
            Ok((store, _)) => store,
            Err(e) => unreachable!("a memory-only store cannot fail to open: {e}"),
        }
    }

    /// Opens the store: with a WAL, recovers every logged command into the engine first
    /// (nothing is served before recovery completes), then starts the writer.
    pub fn open(
        config: StoreConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<(Store, Option<Recovery>), OpenError> {
        Store::prepare(config, clock).open()
    }

    /// The first half of `open`: a store whose handle already exists (its status is readable,
    /// so the admin plane can report recovery progress and answer `/ready` 503) but which has
    /// recovered nothing and executes nothing until [`OpeningStore::open`].
    pub fn prepare(config: StoreConfig, clock: Arc<dyn Clock>) -> OpeningStore {
        let status = Arc::new(StoreStatus::default());
        status.recovery_started();
        status.set_queue_capacity(config.queue_capacity);
        let shared = Arc::new(Shared {
            engine: RwLock::new(Engine::new(config.engine.clone())),
            status,
            clock,
            queued: AtomicUsize::new(0),
            queue_capacity: config.queue_capacity.max(1),
            registry: PublishedRegistry::default(),
        });
        let (queue, rx) = crossbeam_channel::bounded(config.queue_capacity.max(1));
        OpeningStore {
            config,
            shared,
            queue,
            rx,
        }
    }
}

/// A store between [`Store::prepare`] and [`OpeningStore::open`]. Commands submitted through
/// its handles wait in the queue until the writer starts (or resolve to `Stopped` if opening
/// fails); reads see an empty engine. Only the admin plane should use it meanwhile.
pub struct OpeningStore {
    config: StoreConfig,
    shared: Arc<Shared>,
    queue: Sender<Input>,
    rx: Receiver<Input>,
}

impl OpeningStore {
    pub fn handle(&self) -> StoreHandle {
        StoreHandle {
            shared: Arc::clone(&self.shared),
            queue: self.queue.clone(),
        }
    }

    /// Recovers (snapshot, then the WAL tail), publishing progress in the status, then starts
    /// the writer.
    pub fn open(self) -> Result<(Store, Option<Recovery>), OpenError> {
        let OpeningStore {
            config,
            shared,
            queue: tx,
            rx,
        } = self;
        let status = Arc::clone(&shared.status);
        let mut engine = Engine::new(config.engine.clone());
        let mut snapshotter = None;
        let (journal, recovery) = match &config.wal {
            Some(wal) => {
                let mut replay_from = persist::Lsn::FIRST;
                let mut damaged = Vec::new();
                let mut snapshot_report = snapshots::SnapshotRecovery::default();
                if let Some(snap) = &config.snapshots {
                    let recovered =
                        snapshots::recover(wal.disk.as_ref(), &snap.dir, &config.engine, &status)
                            .map_err(OpenError::Io)?;
                    engine = recovered.engine;
                    damaged = recovered.damaged;
                    snapshot_report = recovered.report;
                    replay_from = persist::Lsn(snapshot_report.lsn).next();
                    if let Some(path) = &snapshot_report.loaded {
                        tracing::info!(
                            kind = "snapshot.loaded",
                            file = %path.display(),
                            lsn = snapshot_report.lsn,
                            entities = snapshot_report.entities,
                            bytes = snapshot_report.file_bytes,
                            duration_ms = snapshot_report.load_duration.as_millis() as u64,
                            "state loaded from snapshot; replaying the WAL tail"
                        );
                    }
                }
                status.recovery_wal_started(wal_bytes_to_replay(
                    wal.disk.as_ref(),
                    &wal.dir,
                    replay_from,
                ));
                let (journal, mut recovery) = match Journal::open(
                    wal,
                    &mut engine,
                    replay_from,
                    &status,
                ) {
                    Err(OpenError::Unrepairable(error)) if !snapshot_report.damaged.is_empty() => {
                        let damaged: Vec<String> = snapshot_report
                            .damaged
                            .iter()
                            .map(|(path, why)| format!("{} ({why})", path.display()))
                            .collect();
                        return Err(OpenError::SnapshotsUnusable(format!(
                            "no usable snapshot [{}], and the WAL cannot rebuild the state from LSN {replay_from}: {error}. \
                             Nothing was modified",
                            damaged.join("; ")
                        )));
                    }
                    other => other?,
                };
                if let Some(snap) = &config.snapshots {
                    snapshots::tidy_after_open(
                        wal.disk.as_ref(),
                        &snap.dir,
                        &damaged,
                        &mut snapshot_report,
                    );
                    status.publish_snapshot_recovery(
                        snapshot_report.lsn,
                        snapshot_report.damaged.len(),
                    );
                    snapshotter = Some(
                        Snapshotter::start(
                            snap.clone(),
                            Arc::clone(&wal.disk),
                            snapshot_report
                                .loaded
                                .as_ref()
                                .map(|_| persist::Lsn(snapshot_report.lsn)),
                            Arc::clone(&status),
                        )
                        .map_err(OpenError::Io)?,
                    );
                }
                recovery.snapshot = snapshot_report;
                status.publish_recovery(&recovery);
                status.set_ack_mode(wal.ack);
                (Some(journal), Some(recovery))
            }
            None => (None, None),
        };
        status.recovery_done();
        *shared.engine.write() = engine;
        shared.publish_engine(&shared.engine.read());
        let log = journal
            .map(|journal| LogThread::start(journal, Arc::clone(&shared.status)))
            .transpose()
            .map_err(|e| OpenError::Io(format!("spawning the log thread: {e}")))?;
        let writer_shared = Arc::clone(&shared);
        let batch_max = config.batch_max;
        let inline_commit_max = config.inline_commit_max;
        let writer = std::thread::Builder::new()
            .name("weir-writer".into())
            .spawn(move || {
                writer::run(
                    writer_shared,
                    rx,
                    writer::Limits {
                        batch_max,
                        inline_commit_max,
                    },
                    log,
                    snapshotter,
                )
            })
            .map_err(|e| OpenError::Io(format!("spawning the writer thread: {e}")))?;
        // The status says "running" from here on, even before the thread is scheduled.
        shared.status.set_writer_running(true);
        Ok((
            Store {
                handle: StoreHandle { shared, queue: tx },
                writer: Some(writer),
            },
            recovery,
        ))
    }
}

impl Store {
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// Finishes the batch in progress, stops the writer and waits for it. Commands still queued
    /// are dropped (their tickets resolve to `Stopped`).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Blocks only while the queue is full, which the running writer is draining.
            let _ = self.handle.queue.send(Input::Stop);
            let _ = writer.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Bytes of the WAL segment files that may hold records at or after `from` (every segment but
/// those followed by one starting at or before `from`): the denominator of replay progress.
fn wal_bytes_to_replay(disk: &dyn persist::Disk, dir: &std::path::Path, from: persist::Lsn) -> u64 {
    let Ok(names) = disk.list_dir(dir) else {
        return 0;
    };
    let mut segments: Vec<(persist::SegmentId, u64)> = names
        .iter()
        .filter_map(|name| {
            let id = persist::SegmentId::parse(name)?;
            Some((id, disk.file_len(&dir.join(name)).unwrap_or(0)))
        })
        .collect();
    segments.sort_by_key(|(id, _)| id.first_lsn());
    let mut total = 0;
    for (i, (_, len)) in segments.iter().enumerate() {
        let skipped = segments
            .get(i + 1)
            .is_some_and(|(next, _)| next.first_lsn() <= from);
        if !skipped {
            total += len;
        }
    }
    total
}

/// A cheap, cloneable handle for connections.
#[derive(Clone)]
pub struct StoreHandle {
    shared: Arc<Shared>,
    queue: Sender<Input>,
}

impl StoreHandle {
    /// Queues a mutation for the writer. Never blocks: a full queue is `Overloaded`.
    pub fn submit(&self, command: Command) -> Result<Ticket, SubmitError> {
        self.reserve_up_to(1)?;
        let (reply, rx) = oneshot::channel();
        self.send(Input::Command { command, reply }, 1)?;
        Ok(Ticket::one(rx))
    }

    /// Queues `commands` for the writer as one entry, executed in order like as many `submit`s
    /// (runs of pushes are still formed across entries). Never blocks: if the queue has room
    /// for only the first `k` of them, only those are queued and a ticket is returned for each
    /// (the rest are refused as `Overloaded`, as separate `submit`s would have been); with no
    /// room at all, `Err(Overloaded)`. Every ticket must be awaited by the same task.
    pub fn submit_many(
        &self,
        mut commands: Vec<Command>,
    ) -> Result<impl ExactSizeIterator<Item = Ticket>, SubmitError> {
        let n = if commands.is_empty() {
            0
        } else {
            self.reserve_up_to(commands.len())?
        };
        commands.truncate(n);
        let slot = BatchSlot::new(n);
        if n > 0 {
            let input = Input::Batch {
                commands,
                replies: QueuedBatch::new(Arc::clone(&slot)),
            };
            self.send(input, n)?;
        }
        Ok((0..n).map(move |index| Ticket::batch(Arc::clone(&slot), index)))
    }

    /// Counts up to `n` commands into the queue, as many as its capacity leaves room for (at
    /// least one, or `Overloaded`); the ones that do not fit are counted as overloaded.
    fn reserve_up_to(&self, n: usize) -> Result<usize, SubmitError> {
        let shared = &self.shared;
        let mut queued = shared.queued.load(Ordering::Acquire);
        loop {
            let taken = n.min(shared.queue_capacity.saturating_sub(queued));
            if taken == 0 {
                shared.status.record_overloaded(n);
                return Err(SubmitError::Overloaded);
            }
            match shared.queued.compare_exchange_weak(
                queued,
                queued + taken,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    shared.status.record_overloaded(n - taken);
                    return Ok(taken);
                }
                Err(actual) => queued = actual,
            }
        }
    }

    /// Sends an entry of `n` reserved commands (released again if it cannot be sent).
    fn send(&self, input: Input, n: usize) -> Result<(), SubmitError> {
        self.queue.try_send(input).map_err(|error| {
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            match error {
                // Unreachable while every entry holds at least one reserved command.
                TrySendError::Full(_) => {
                    self.shared.status.record_overloaded(n);
                    SubmitError::Overloaded
                }
                TrySendError::Disconnected(_) => SubmitError::Stopped,
            }
        })
    }

    /// Runs `f` under the engine's read lock. Keep `f` short: the writer waits for it.
    pub fn read<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        f(&self.shared.engine.read())
    }

    /// Runs a read of many rows (`batch_get`, `MGET`) under the engine's read lock; `f` calls
    /// [`ReadSession::yield_to_writer`] between rows, so a long read never holds up the writer
    /// (and every push behind it) for more than one row.
    pub fn read_session<R>(&self, f: impl FnOnce(&mut ReadSession<'_>) -> R) -> R {
        f(&mut ReadSession {
            guard: self.shared.engine.read(),
            held_since: Instant::now(),
        })
    }

    /// Processing time for reads (`ReadTime::Now`), from the store's clock.
    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// Published registry version and counters (no lock).
    pub fn status(&self) -> &Arc<StoreStatus> {
        &self.shared.status
    }
}

/// The registry a connection validates its pushes against (decision 0029): the published
/// compiled registry as of the last push, fetched again only when a new one was published
/// (never from the engine: a connection does not wait for its lock).
#[derive(Debug, Default)]
pub struct PushValidator {
    seen: Option<(u64, Arc<CompiledRegistry>)>,
}

impl PushValidator {
    /// The registry to validate the next push against.
    pub fn registry(&mut self, store: &StoreHandle) -> &Arc<CompiledRegistry> {
        let published = &store.shared.registry;
        let generation = published.generation.load(Ordering::Acquire);
        if self
            .seen
            .as_ref()
            .is_none_or(|(seen, _)| *seen != generation)
        {
            // At least as new as `generation`; the writer tells a stale one apart anyway.
            let compiled = Arc::clone(&published.registry.lock());
            self.seen = Some((generation, compiled));
        }
        &self.seen.as_ref().expect("just set").1
    }

    /// Validates a decoded push on the calling (I/O) thread; see [`Prevalidation`].
    pub fn prevalidate(&mut self, store: &StoreHandle, event: &str, body: Value) -> Prevalidation {
        engine::push::prevalidate(self.registry(store), event, body)
    }
}

/// The engine under a read lock that can be handed to a waiting writer between rows. The
/// borrow of [`ReadSession::engine`] ends before [`ReadSession::yield_to_writer`], so nothing read
/// before a yield is held across it.
pub struct ReadSession<'a> {
    guard: parking_lot::RwLockReadGuard<'a, Engine>,
    held_since: Instant,
}

/// How long a read session holds the engine before it lets a waiting writer in: long enough
/// that a batch of small rows is not interleaved with a writer run per row (each costs the
/// batch a whole run), short enough that pushes never wait behind a big batch.
const READ_HOLD_MAX: Duration = Duration::from_millis(1);

impl ReadSession<'_> {
    pub fn engine(&self) -> &Engine {
        &self.guard
    }

    /// Call between rows: once the lock has been held for `READ_HOLD_MAX`, lets a waiting
    /// writer apply its run, then takes the read lock again (one atomic check if none waits).
    pub fn yield_to_writer(&mut self) {
        if self.held_since.elapsed() >= READ_HOLD_MAX {
            parking_lot::RwLockReadGuard::bump(&mut self.guard);
            self.held_since = Instant::now();
        }
    }
}
