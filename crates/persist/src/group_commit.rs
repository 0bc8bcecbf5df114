//! `GroupCommitter`: a dedicated thread owns the `Wal` and turns many concurrent appends into one
//! `fdatasync` per batch.
//!
//! Producers call `CommitHandle::submit(payload, completion)`. The request goes through a bounded
//! queue (`queue_depth_max`) to the commit thread, which:
//! 1. blocks for the first request, then keeps collecting until `batch_wait_us` has passed since
//!    that first request or the batch holds `batch_bytes_max` payload bytes;
//! 2. appends every record of the batch to the `Wal` (assigning dense LSNs);
//! 3. calls `Wal::sync` once: one write, one `fdatasync`;
//! 4. only then calls each completion with `Ok(lsn)`.
//!
//! Every completion is called exactly once, on the commit thread (or on the submitting thread if
//! the request is refused up front), so it must be quick: send on a channel, wake a task. Any
//! `FnOnce(Result<Lsn, WalError>) + Send` works; for async callers, send into a
//! `tokio::sync::oneshot::Sender` from the closure; sync callers can use `CommitHandle::append`.
//!
//! **Durable mode** (default): acknowledgement means fdatasync completed. If the sync fails with
//! `StorageFull` or `Io`, the batch's records are discarded (never written later) and their
//! completions get the error; records a rotation already made durable still get `Ok`. Later
//! batches retry normally, so ingest resumes by itself when space returns. If an fsync fails,
//! the log is failed: this and every later completion gets `WalError::Failed`, and
//! `is_failed()` turns true. Nothing is retried.
//!
//! **Relaxed mode** (`AckMode::Relaxed`): a completion gets `Ok(lsn)` as soon as the record is
//! appended to the in-memory buffer; the buffer is written to the OS whenever the queue runs
//! empty, and the thread syncs at most `sync_interval_ms` after the oldest unsynced record (and
//! whenever `batch_bytes_max` is pending). **Loss window:** a process crash loses at most the
//! records acknowledged since the queue last ran empty (usually none); a machine crash, power
//! loss or failed fsync loses the records acknowledged but not yet synced — at most
//! `sync_interval_ms` of them, plus the duration of one fsync. On `StorageFull` the records stay
//! buffered (they were acknowledged) and are written again on every tick until space returns;
//! meanwhile new submissions get `StorageFull`.
//!
//! **Choosing `batch_wait_us`.** The wait bounds how long a batch stays open, so it adds up to
//! that much latency to a lone producer. With `0` a batch closes as soon as the queue is empty,
//! and batching comes only from requests that arrive during the previous fsync; on a disk whose
//! fdatasync is much faster than 1 ms that gives more throughput to blocking producers (see the
//! `wal_bench` example), on a slow disk the two converge.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;

use crate::error::WalError;
use crate::limits::{
    BATCH_BYTES_MAX_DEFAULT, BATCH_WAIT_US_DEFAULT, QUEUE_DEPTH_MAX_DEFAULT,
    RELAXED_SYNC_INTERVAL_MS_DEFAULT,
};
use crate::lsn::Lsn;
use crate::wal::{Reclamation, Wal};

/// A callback that is called exactly once: explicitly with the outcome, or with
/// `WalError::Closed` if it is dropped uncalled (e.g. still queued when the thread stopped).
struct Once<T>(Option<Callback<T>>);

type Callback<T> = Box<dyn FnOnce(Result<T, WalError>) + Send + 'static>;

impl<T> Once<T> {
    fn new(callback: impl FnOnce(Result<T, WalError>) + Send + 'static) -> Once<T> {
        Once(Some(Box::new(callback)))
    }

    fn complete(mut self, result: Result<T, WalError>) {
        if let Some(callback) = self.0.take() {
            callback(result);
        }
    }
}

impl<T> Drop for Once<T> {
    fn drop(&mut self) {
        if let Some(callback) = self.0.take() {
            callback(Err(WalError::Closed));
        }
    }
}

type Completion = Once<Lsn>;
type ReclaimCompletion = Once<Reclamation>;

/// When a completion is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckMode {
    /// After the fdatasync covering the record.
    Durable,
    /// At append time; synced within `sync_interval_ms` (see the module doc for the loss window).
    Relaxed { sync_interval_ms: u64 },
}

impl AckMode {
    /// The relaxed mode with the default 20 ms interval.
    pub fn relaxed() -> AckMode {
        AckMode::Relaxed {
            sync_interval_ms: RELAXED_SYNC_INTERVAL_MS_DEFAULT,
        }
    }
}

/// Configuration of a `GroupCommitter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupCommitOptions {
    /// A batch closes this long after its first request. Default 1000 (1 ms); 0 closes it as soon
    /// as the queue is empty.
    pub batch_wait_us: u64,
    /// A batch closes once it holds this many payload bytes. Default 1 MiB; minimum 1.
    pub batch_bytes_max: usize,
    /// Requests queued before `submit` blocks and `try_submit` refuses. Default 16384; minimum 1.
    pub queue_depth_max: usize,
    pub ack_mode: AckMode,
}

impl Default for GroupCommitOptions {
    fn default() -> GroupCommitOptions {
        GroupCommitOptions {
            batch_wait_us: BATCH_WAIT_US_DEFAULT,
            batch_bytes_max: BATCH_BYTES_MAX_DEFAULT,
            queue_depth_max: QUEUE_DEPTH_MAX_DEFAULT,
            ack_mode: AckMode::Durable,
        }
    }
}

/// Everything that makes the commit thread do work.
enum CommitInput {
    Append {
        payload: Vec<u8>,
        completion: Completion,
    },
    /// Sync now; completes with the durable LSN.
    Sync {
        completion: Completion,
    },
    Reclaim {
        lsn: Lsn,
        completion: ReclaimCompletion,
    },
    Shutdown,
}

/// State the commit thread publishes for readiness probes and metrics.
#[derive(Debug, Default)]
struct Shared {
    failed: AtomicBool,
    storage_full: AtomicBool,
    durable_lsn: AtomicU64,
    records_acked: AtomicU64,
    batches: AtomicU64,
    fsyncs: AtomicU64,
    failure: Mutex<Option<String>>,
}

/// A snapshot of the committer's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitStatus {
    pub durable_lsn: Lsn,
    pub records_acked: u64,
    pub batches: u64,
    pub fsyncs: u64,
    pub failed: bool,
    pub failure: Option<String>,
    pub storage_full: bool,
}

/// A cloneable producer handle.
#[derive(Clone, Debug)]
pub struct CommitHandle {
    sender: Sender<CommitInput>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CommitInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitInput::Append { payload, .. } => write!(f, "Append({} bytes)", payload.len()),
            CommitInput::Sync { .. } => f.write_str("Sync"),
            CommitInput::Reclaim { lsn, .. } => write!(f, "Reclaim({lsn})"),
            CommitInput::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl CommitHandle {
    /// Queues an append, blocking while the queue is full. `completion` is called exactly once.
    pub fn submit(
        &self,
        payload: Vec<u8>,
        completion: impl FnOnce(Result<Lsn, WalError>) + Send + 'static,
    ) {
        if let Some(error) = self.refusal() {
            completion(Err(error));
            return;
        }
        let input = CommitInput::Append {
            payload,
            completion: Once::new(completion),
        };
        // A disconnected channel hands the input back; dropping it completes with `Closed`.
        let _ = self.sender.send(input);
    }

    /// Queues an append without blocking; a full queue completes it with `Overloaded`.
    pub fn try_submit(
        &self,
        payload: Vec<u8>,
        completion: impl FnOnce(Result<Lsn, WalError>) + Send + 'static,
    ) {
        if let Some(error) = self.refusal() {
            completion(Err(error));
            return;
        }
        let input = CommitInput::Append {
            payload,
            completion: Once::new(completion),
        };
        match self.sender.try_send(input) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(input)) => {
                if let CommitInput::Append { completion, .. } = input {
                    completion.complete(Err(WalError::Overloaded));
                }
            }
        }
    }

    /// Appends and waits for the outcome (for synchronous callers).
    pub fn append(&self, payload: Vec<u8>) -> Result<Lsn, WalError> {
        let (sender, receiver) = bounded(1);
        self.submit(payload, move |result| {
            let _ = sender.send(result);
        });
        receiver.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Forces a sync (useful in relaxed mode) and returns the durable LSN.
    pub fn sync(&self) -> Result<Lsn, WalError> {
        let (sender, receiver) = bounded(1);
        let completion = Once::new(move |result| {
            let _ = sender.send(result);
        });
        let _ = self.sender.send(CommitInput::Sync { completion });
        receiver.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Runs `Wal::remove_segments_before` on the commit thread and waits for it.
    pub fn remove_segments_before(&self, lsn: Lsn) -> Result<Reclamation, WalError> {
        let (sender, receiver) = bounded(1);
        let completion = Once::new(move |result| {
            let _ = sender.send(result);
        });
        let _ = self.sender.send(CommitInput::Reclaim { lsn, completion });
        receiver.recv().unwrap_or(Err(WalError::Closed))
    }

    /// True once an fsync failed: no append will ever succeed again (fail-stop).
    pub fn is_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// True while the last sync attempt hit ENOSPC.
    pub fn is_storage_full(&self) -> bool {
        self.shared.storage_full.load(Ordering::Acquire)
    }

    pub fn status(&self) -> CommitStatus {
        CommitStatus {
            durable_lsn: Lsn(self.shared.durable_lsn.load(Ordering::Acquire)),
            records_acked: self.shared.records_acked.load(Ordering::Relaxed),
            batches: self.shared.batches.load(Ordering::Relaxed),
            fsyncs: self.shared.fsyncs.load(Ordering::Relaxed),
            failed: self.is_failed(),
            failure: self.shared.failure.lock().clone(),
            storage_full: self.is_storage_full(),
        }
    }

    fn refusal(&self) -> Option<WalError> {
        if !self.is_failed() {
            return None;
        }
        let cause = self.shared.failure.lock().clone().unwrap_or_default();
        Some(WalError::Failed { cause })
    }
}

/// Owns the commit thread. Dropping it shuts the thread down (after a final sync).
#[derive(Debug)]
pub struct GroupCommitter {
    handle: CommitHandle,
    thread: Option<JoinHandle<Wal>>,
}

impl GroupCommitter {
    /// Moves `wal` onto a new commit thread. Panics if `options` are out of bounds.
    pub fn start(wal: Wal, options: GroupCommitOptions) -> GroupCommitter {
        assert!(options.batch_bytes_max >= 1);
        assert!(options.queue_depth_max >= 1);
        if let AckMode::Relaxed { sync_interval_ms } = options.ack_mode {
            assert!(sync_interval_ms >= 1);
        }
        let (sender, receiver) = bounded(options.queue_depth_max);
        let shared = Arc::new(Shared::default());
        shared
            .durable_lsn
            .store(wal.durable_lsn().0, Ordering::Release);
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("wal-commit".to_string())
            .spawn(move || {
                let mut committer = Committer {
                    wal,
                    receiver,
                    shared: thread_shared,
                    options,
                    blocked: None,
                };
                committer.run();
                committer.wal
            })
            .expect("spawn the wal commit thread");
        GroupCommitter {
            handle: CommitHandle { sender, shared },
            thread: Some(thread),
        }
    }

    /// A producer handle (cheap to clone).
    pub fn handle(&self) -> CommitHandle {
        self.handle.clone()
    }

    /// Handles everything queued so far, syncs, stops the thread and gives the `Wal` back.
    /// Requests submitted after this get `WalError::Closed`. Panics if the commit thread
    /// panicked (a completion callback panicked).
    pub fn shutdown(mut self) -> Wal {
        match self.stop() {
            Some(Ok(wal)) => wal,
            Some(Err(_)) => panic!("the wal commit thread panicked"),
            None => unreachable!("the commit thread is stopped only once"),
        }
    }

    fn stop(&mut self) -> Option<std::thread::Result<Wal>> {
        let thread = self.thread.take()?;
        let _ = self.handle.sender.send(CommitInput::Shutdown);
        Some(thread.join())
    }
}

impl Drop for GroupCommitter {
    fn drop(&mut self) {
        // A panicked commit thread has already dropped (and so refused) its requests.
        let _ = self.stop();
    }
}

struct Committer {
    wal: Wal,
    receiver: Receiver<CommitInput>,
    shared: Arc<Shared>,
    options: GroupCommitOptions,
    /// Relaxed mode: the sync error that keeps acknowledged records buffered.
    blocked: Option<WalError>,
}

/// One batch in the making (durable mode).
#[derive(Default)]
struct Batch {
    appended: Vec<(Lsn, Completion)>,
    sync_waiters: Vec<Completion>,
    payload_bytes: usize,
}

impl Committer {
    fn run(&mut self) {
        match self.options.ack_mode {
            AckMode::Durable => self.run_durable(),
            AckMode::Relaxed { sync_interval_ms } => {
                self.run_relaxed(Duration::from_millis(sync_interval_ms))
            }
        }
        let result = self.wal.sync();
        self.publish(Some(&result));
        // Whatever raced with the shutdown is refused: dropping a request completes it with
        // `Closed`, and so does dropping the receiver with requests still queued.
        while self.receiver.try_recv().is_ok() {}
    }

    fn run_durable(&mut self) {
        let batch_wait = Duration::from_micros(self.options.batch_wait_us);
        loop {
            let Ok(first) = self.receiver.recv() else {
                return;
            };
            let mut batch = Batch::default();
            let mut stop = self.take_durable(first, &mut batch);
            let deadline = Instant::now() + batch_wait;
            while !stop && batch.payload_bytes < self.options.batch_bytes_max {
                let next = if batch_wait.is_zero() {
                    self.receiver
                        .try_recv()
                        .map_err(|_| RecvTimeoutError::Timeout)
                } else {
                    self.receiver.recv_deadline(deadline)
                };
                match next {
                    Ok(input) => stop = self.take_durable(input, &mut batch),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => stop = true,
                }
            }
            self.commit_durable(batch);
            if stop {
                return;
            }
        }
    }

    /// Adds one input to the batch; returns true on shutdown.
    fn take_durable(&mut self, input: CommitInput, batch: &mut Batch) -> bool {
        match input {
            CommitInput::Append {
                payload,
                completion,
            } => {
                batch.payload_bytes += payload.len();
                match self.wal.append(&payload) {
                    Ok(lsn) => batch.appended.push((lsn, completion)),
                    Err(error) => completion.complete(Err(error)),
                }
            }
            CommitInput::Sync { completion } => batch.sync_waiters.push(completion),
            CommitInput::Reclaim { lsn, completion } => {
                completion.complete(self.wal.remove_segments_before(lsn))
            }
            CommitInput::Shutdown => return true,
        }
        false
    }

    fn commit_durable(&mut self, batch: Batch) {
        if batch.appended.is_empty() && batch.sync_waiters.is_empty() {
            self.publish::<Lsn>(None);
            return;
        }
        let n_appended = batch.appended.len() as u64;
        let result = self.wal.sync();
        if result.is_err() && !self.wal.is_failed() {
            // Never acknowledged, so never to be written later.
            self.wal.discard_pending();
        }
        // Publish first: a producer woken by its completion must see the new state.
        self.publish(Some(&result));
        let durable_lsn = self.wal.durable_lsn();
        let n_acked = batch
            .appended
            .iter()
            .filter(|(lsn, _)| *lsn <= durable_lsn)
            .count() as u64;
        self.shared
            .records_acked
            .fetch_add(n_acked, Ordering::Relaxed);
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        for (lsn, completion) in batch.appended {
            match &result {
                Err(error) if lsn > durable_lsn => completion.complete(Err(error.clone())),
                _ => {
                    assert!(lsn <= durable_lsn);
                    completion.complete(Ok(lsn));
                }
            }
        }
        for completion in batch.sync_waiters {
            completion.complete(result.clone());
        }
        assert!(n_acked <= n_appended);
    }

    fn run_relaxed(&mut self, sync_interval: Duration) {
        let mut oldest_unsynced: Option<Instant> = None;
        loop {
            let next = match oldest_unsynced {
                None => self
                    .receiver
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
                Some(since) => self.receiver.recv_deadline(since + sync_interval),
            };
            let mut stop = false;
            match next {
                Ok(CommitInput::Append {
                    payload,
                    completion,
                }) => {
                    if let Some(error) = self.refusal() {
                        completion.complete(Err(error));
                    } else {
                        let result = self.wal.append(&payload);
                        match &result {
                            Ok(_) => {
                                oldest_unsynced.get_or_insert_with(Instant::now);
                                self.shared.records_acked.fetch_add(1, Ordering::Relaxed);
                            }
                            // A rotation could not write the acknowledged records: hold them.
                            Err(error @ (WalError::StorageFull { .. } | WalError::Io { .. })) => {
                                self.blocked = Some(error.clone());
                                oldest_unsynced = Some(Instant::now());
                                self.publish(Some(&result));
                            }
                            Err(_) => self.publish::<Lsn>(None),
                        }
                        completion.complete(result);
                    }
                }
                Ok(CommitInput::Sync { completion }) => {
                    let result = self.sync_relaxed();
                    if result.is_ok() {
                        oldest_unsynced = None;
                    }
                    completion.complete(result);
                }
                Ok(CommitInput::Reclaim { lsn, completion }) => {
                    completion.complete(self.wal.remove_segments_before(lsn));
                }
                Ok(CommitInput::Shutdown) | Err(RecvTimeoutError::Disconnected) => stop = true,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if !stop
                && self.blocked.is_none()
                && self.wal.pending_bytes() > 0
                && self.receiver.is_empty()
            {
                // Hand acknowledged records to the OS at once: a process crash then loses none.
                if let Err(error) = self.wal.flush() {
                    self.blocked = (!self.wal.is_failed()).then(|| error.clone());
                    self.publish(Some(&Err::<Lsn, _>(error)));
                }
            }
            let due = oldest_unsynced.is_some_and(|since| since.elapsed() >= sync_interval);
            if stop || due || self.wal.pending_bytes() >= self.options.batch_bytes_max {
                if self.sync_relaxed().is_ok() || self.wal.is_failed() {
                    oldest_unsynced = None;
                } else {
                    // Space may come back: try again one interval from now.
                    oldest_unsynced = Some(Instant::now());
                }
            }
            if stop {
                return;
            }
        }
    }

    fn sync_relaxed(&mut self) -> Result<Lsn, WalError> {
        if self.wal.pending_bytes() == 0 && self.wal.written_lsn() == self.wal.durable_lsn() {
            return Ok(self.wal.durable_lsn());
        }
        let result = self.wal.sync();
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        self.blocked = result
            .as_ref()
            .err()
            .filter(|_| !self.wal.is_failed())
            .cloned();
        self.publish(Some(&result));
        result
    }

    fn refusal(&self) -> Option<WalError> {
        if self.wal.is_failed() {
            return Some(WalError::Failed {
                cause: self.wal.failure().unwrap_or_default().to_string(),
            });
        }
        self.blocked.clone()
    }

    /// Publishes counters; `sync_result` (if a sync or write was attempted) sets `storage_full`.
    fn publish<T>(&self, sync_result: Option<&Result<T, WalError>>) {
        self.shared
            .durable_lsn
            .store(self.wal.durable_lsn().0, Ordering::Release);
        self.shared
            .fsyncs
            .store(self.wal.stats().fsyncs, Ordering::Relaxed);
        match sync_result {
            Some(Err(WalError::StorageFull { .. })) => {
                self.shared.storage_full.store(true, Ordering::Release)
            }
            Some(Ok(_)) => self.shared.storage_full.store(false, Ordering::Release),
            Some(Err(_)) | None => {}
        }
        if self.wal.is_failed() && !self.shared.failed.load(Ordering::Acquire) {
            *self.shared.failure.lock() = self.wal.failure().map(str::to_string);
            self.shared.failed.store(true, Ordering::Release);
        }
    }
}
