//! The single writer: one thread that owns every mutation of the engine.
//!
//! Each turn it takes the commands that queued up (at most `batch_max`), and runs them in
//! arrival order as runs of pushes separated by registry commands. A run of pushes is
//!
//! 1. **validated** under the engine's read lock (refusals change nothing, answered at once);
//! 2. **encoded** and handed to the log thread (`log_thread`), which appends it with the other
//!    batches that queued meanwhile and commits them with one fdatasync (group commit). The
//!    writer does not wait: it goes on validating the next run while the disk syncs. (A small
//!    run with nothing in flight is committed on the writer thread instead, saving two thread
//!    wake-ups where there is little to overlap: `StoreConfig::inline_commit_max`);
//! 3. **applied** under the engine's write lock when the log thread answers that the run is
//!    committed (answers come in submission order, so the engine applies in log order);
//! 4. **acked** after releasing the lock, so every acked push is durable and visible to the next
//!    read. A run the log refused is refused, nothing of it applied.
//!
//! A register or reset first waits for every run in flight (so each push is applied under the
//! registry it was validated against), is logged and committed, then executed; the order of
//! the log is exactly the order of execution, which is what replay relies on. A full queue is
//! refused at submission (503 `overloaded`); at most `IN_FLIGHT_MAX` runs are in flight.

use crate::command::{
    execute, Command, Lsn, Outcome, PushAcked, PushRefused, RegisterRefused, Sequence,
};
use crate::dedupe::Dedupe;
use crate::journal::CommitError;
use crate::log_record;
use crate::log_thread::{BatchOutcome, Call, EncodedBatch, LogThread, IN_FLIGHT_MAX};
use crate::reply::{self, QueuedBatch, Reply};
use crate::snapshots::{Done, Snapshotter};
use crate::status::BatchCounts;
use crate::store::Shared;
use crossbeam_channel::{Receiver, TryRecvError};
use engine::{DedupeKey, ValidatedPush};
use model::{PushError, RegisterError, TimestampMs};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What the writer's queue carries.
pub(crate) enum Input {
    Command {
        command: Command,
        reply: oneshot::Sender<Outcome>,
    },
    /// Commands submitted together (`StoreHandle::submit_many`), answered through `replies`.
    Batch {
        commands: Vec<Command>,
        replies: QueuedBatch,
    },
    /// Finish the current batch and exit.
    Stop,
}

impl Input {
    /// Adds the input's commands to `batch`; false for `Stop`. Releases their places in the
    /// queue's bound.
    fn unpack(self, shared: &Shared, batch: &mut Vec<(Command, Reply)>) -> bool {
        match self {
            Input::Command { command, reply } => {
                shared.queued.fetch_sub(1, Ordering::AcqRel);
                batch.push((command, Reply::One(reply)));
            }
            Input::Batch { commands, replies } => {
                shared.queued.fetch_sub(commands.len(), Ordering::AcqRel);
                let replies = replies.split(commands.len());
                batch.extend(commands.into_iter().zip(replies));
            }
            Input::Stop => return false,
        }
        true
    }
}

/// Counters (not the registry version, which is always fresh) are republished at least this often
/// under load, and whenever the writer goes idle.
const STATS_INTERVAL: Duration = Duration::from_millis(50);
/// How many pushes ahead of the one being validated the writer hints a body's members.
const BODY_PREFETCH_AHEAD: usize = 3;

/// Batch sizes (see `StoreConfig`).
pub(crate) struct Limits {
    pub(crate) batch_max: usize,
    pub(crate) inline_commit_max: usize,
}

pub(crate) fn run(
    shared: Arc<Shared>,
    queue: Receiver<Input>,
    limits: Limits,
    mut log: Option<LogThread>,
    mut snapshotter: Option<Snapshotter>,
) {
    let batch_max = limits.batch_max.max(1);
    let mut writer = Writer {
        shared,
        seq: Sequence::default(),
        replies: Vec::with_capacity(batch_max),
        counts: BatchCounts::default(),
        registry_touched: false,
        in_flight: VecDeque::new(),
        applied_lsn: persist::Lsn::ZERO,
        wal_failed: false,
        wal_bytes_written: 0,
        spare_batches: Vec::new(),
        spare_runs: Vec::new(),
        inline_commit_max: limits.inline_commit_max,
        dedupe: Dedupe::default(),
    };
    let mut batch: Vec<(Command, Reply)> = Vec::with_capacity(batch_max);
    let mut run: Vec<(Command, Reply)> = Vec::with_capacity(batch_max);
    let mut stats_published = Instant::now();
    let mut stats_dirty = false;
    writer.shared.status.set_writer_running(true);
    'turns: loop {
        // Answers from the log first: they release acks and free in-flight slots.
        let mut answered = false;
        if let Some(log) = log.as_mut() {
            while let Ok(outcome) = log.outcomes().try_recv() {
                log.outcome_received();
                writer.complete(outcome);
                answered = true;
            }
        }
        let can_take = log.as_ref().is_none_or(LogThread::can_submit);
        let first = if can_take {
            match queue.try_recv() {
                Ok(input) => Some(input),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => break,
            }
        } else {
            None
        };
        let first = match first {
            Some(input) => input,
            None => {
                if answered {
                    writer.end_turn(&mut stats_published, &mut stats_dirty);
                    maybe_snapshot(&mut snapshotter, &mut log, &mut writer);
                    continue;
                }
                if stats_dirty && writer.in_flight.is_empty() {
                    writer.publish_stats();
                    stats_published = Instant::now();
                    stats_dirty = false;
                }
                let timeout = snapshotter
                    .as_ref()
                    .and_then(Snapshotter::time_until_due)
                    .unwrap_or(IDLE_WAKEUP_MAX);
                let wake = {
                    let never_input = crossbeam_channel::never::<Input>();
                    let never_done = crossbeam_channel::never::<Done>();
                    let never_outcome = crossbeam_channel::never::<BatchOutcome>();
                    let inputs = if can_take { &queue } else { &never_input };
                    let done = snapshotter
                        .as_ref()
                        .map_or(&never_done, Snapshotter::done_rx);
                    let outcomes = log.as_ref().map_or(&never_outcome, LogThread::outcomes);
                    crossbeam_channel::select! {
                        recv(outcomes) -> outcome => match outcome {
                            Ok(outcome) => Wake::Outcome(Box::new(outcome)),
                            Err(_) => Wake::Disconnected,
                        },
                        recv(inputs) -> input => match input {
                            Ok(input) => Wake::Input(input),
                            Err(_) => Wake::Disconnected,
                        },
                        recv(done) -> done => Wake::SnapshotDone(done.ok()),
                        default(timeout) => Wake::Timeout,
                    }
                };
                match wake {
                    Wake::Input(input) => input,
                    Wake::Outcome(outcome) => {
                        if let Some(log) = log.as_mut() {
                            log.outcome_received();
                        }
                        writer.complete(*outcome);
                        writer.end_turn(&mut stats_published, &mut stats_dirty);
                        maybe_snapshot(&mut snapshotter, &mut log, &mut writer);
                        continue;
                    }
                    Wake::SnapshotDone(done) => {
                        snapshot_done(&mut snapshotter, &mut log, &writer.shared, done);
                        // WAL that piled up while it ran may already call for the next one; do
                        // not wait for another push (or the interval) to notice.
                        maybe_snapshot(&mut snapshotter, &mut log, &mut writer);
                        continue;
                    }
                    Wake::Timeout => {
                        maybe_snapshot(&mut snapshotter, &mut log, &mut writer);
                        continue;
                    }
                    Wake::Disconnected => break,
                }
            }
        };
        let mut stop = false;
        if !first.unpack(&writer.shared, &mut batch) {
            break;
        }
        while batch.len() < batch_max {
            match queue.try_recv() {
                Ok(input) => {
                    if !input.unpack(&writer.shared, &mut batch) {
                        stop = true;
                        break;
                    }
                }
                Err(_) => break,
            }
        }

        for (command, reply) in batch.drain(..) {
            if command.is_push() {
                run.push((command, reply));
                continue;
            }
            writer.push_run(&mut run, &mut log);
            writer.drain(&mut log);
            writer.control(command, reply, &mut log);
        }
        writer.push_run(&mut run, &mut log);
        writer.end_turn(&mut stats_published, &mut stats_dirty);
        if let Some(snap) = snapshotter.as_ref() {
            if let Ok(done) = snap.done_rx().try_recv() {
                snapshot_done(&mut snapshotter, &mut log, &writer.shared, Some(done));
            }
        }
        maybe_snapshot(&mut snapshotter, &mut log, &mut writer);
        if stop {
            break 'turns;
        }
    }
    writer.drain(&mut log);
    writer.end_turn(&mut Instant::now(), &mut false);
    final_snapshot(&mut snapshotter, &mut log, &mut writer);
    if let Some(log) = log.as_mut() {
        log.close();
    }
    writer.publish_stats();
    writer.shared.status.set_writer_running(false);
}

/// The longest the idle writer sleeps without a reason to wake up.
const IDLE_WAKEUP_MAX: Duration = Duration::from_secs(3600);

enum Wake {
    Input(Input),
    /// Boxed: an outcome carries the WAL's counters, several times an input's size.
    Outcome(Box<BatchOutcome>),
    /// A snapshot finished (`None`: the snapshot thread is gone).
    SnapshotDone(Option<Done>),
    Timeout,
    Disconnected,
}

/// Takes a point-in-time view and hands it to the snapshot thread, if one is due. The writer's
/// whole cost: an fdatasync in relaxed mode (none in durable mode, where everything applied is
/// already durable) and an O(tables) clone under the engine's read lock.
fn maybe_snapshot(
    snapshotter: &mut Option<Snapshotter>,
    log: &mut Option<LogThread>,
    writer: &mut Writer,
) {
    let (Some(snap), Some(log)) = (snapshotter.as_mut(), log.as_mut()) else {
        return;
    };
    if !snap.due(writer.wal_bytes_written) {
        return;
    }
    start_snapshot(snap, log, writer);
}

/// The snapshot covers exactly what the engine holds: every record up to `applied_lsn` (runs
/// still in flight are after it and stay in the WAL tail).
fn start_snapshot(snap: &mut Snapshotter, log: &LogThread, writer: &Writer) -> bool {
    let lsn = writer.applied_lsn;
    if writer.wal_failed || lsn < persist::Lsn::FIRST {
        return false;
    }
    if !log.durable_acks() {
        // Relaxed acks: what was applied may not be synced yet; a snapshot must never claim
        // records a power loss could take from the log.
        match log.call(|reply| Call::SyncAll { reply }).flatten() {
            Some(durable) if durable >= lsn => {}
            _ => return false,
        }
    }
    let started = Instant::now();
    let view = writer.shared.engine.read().snapshot_view();
    let capture = started.elapsed();
    snap.begin(view, lsn, writer.wal_bytes_written, capture)
}

/// A snapshot is durable (or failed): reclaim the WAL up to the older retained snapshot.
fn snapshot_done(
    snapshotter: &mut Option<Snapshotter>,
    log: &mut Option<LogThread>,
    shared: &Arc<Shared>,
    done: Option<Done>,
) {
    let Some(snap) = snapshotter.as_mut() else {
        return;
    };
    let Some(done) = done else {
        snap.disable();
        return;
    };
    let Some(covered) = snap.finished(done) else {
        return;
    };
    let Some(log) = log.as_mut() else {
        return;
    };
    match log.call(|reply| Call::Reclaim { covered, reply }) {
        Some(Ok(reclamation)) => shared.status.publish_reclamation(&reclamation),
        Some(Err(error)) => {
            tracing::error!(kind = "wal.reclaim_failed", covered_lsn = covered.0, error = %error, "could not delete covered WAL segments; they stay (disk use grows until the next attempt)");
            if matches!(error, persist::WalError::Failed { .. }) {
                shared.status.set_storage(true, false);
            }
        }
        None => {}
    }
}

/// Graceful shutdown: wait for a snapshot in flight, then write a final one covering
/// everything applied (so the next start replays nothing).
fn final_snapshot(
    snapshotter: &mut Option<Snapshotter>,
    log: &mut Option<LogThread>,
    writer: &mut Writer,
) {
    let Some(snap) = snapshotter.as_mut() else {
        return;
    };
    if snap.in_flight() {
        let done = snap.wait();
        snapshot_done(snapshotter, log, &writer.shared, done);
    }
    let (Some(snap), Some(l)) = (snapshotter.as_mut(), log.as_mut()) else {
        return;
    };
    if snap.on_shutdown() && start_snapshot(snap, l, writer) {
        tracing::info!(
            kind = "snapshot.final",
            "writing the final snapshot before exit"
        );
        let done = snap.wait();
        snapshot_done(snapshotter, log, &writer.shared, done);
    }
    if let Some(snap) = snapshotter.as_mut() {
        snap.stop();
    }
}

/// A run of validated pushes whose records are with the log thread.
struct InFlight {
    now_ms: TimestampMs,
    pushes: Vec<(ValidatedPush, Reply)>,
    /// The pushes of the run that carry a dedupe key, by index (decision 0023).
    keyed: Vec<Keyed>,
}

/// A push of a run whose event declares a `dedupe_key`.
struct Keyed {
    index: usize,
    key: DedupeKey,
    window_ms: u64,
}

struct Writer {
    shared: Arc<Shared>,
    seq: Sequence,
    replies: Vec<(Reply, Outcome)>,
    counts: BatchCounts,
    registry_touched: bool,
    in_flight: VecDeque<InFlight>,
    /// The last LSN whose record the engine has executed (or refused at apply): what a
    /// snapshot taken now covers.
    applied_lsn: persist::Lsn,
    wal_failed: bool,
    wal_bytes_written: u64,
    /// Emptied buffers, reused so a batch does not regrow its vectors (bounded by
    /// `IN_FLIGHT_MAX`).
    spare_batches: Vec<EncodedBatch>,
    spare_runs: Vec<Vec<(ValidatedPush, Reply)>>,
    inline_commit_max: usize,
    dedupe: Dedupe,
}

impl Writer {
    fn publish_stats(&self) {
        self.shared.publish_engine(&self.shared.engine.read());
    }

    /// Publishes the turn's counters and sends the replies it produced.
    fn end_turn(&mut self, stats_published: &mut Instant, stats_dirty: &mut bool) {
        if self.registry_touched || stats_published.elapsed() >= STATS_INTERVAL {
            self.publish_stats();
            *stats_published = Instant::now();
            *stats_dirty = false;
        } else {
            *stats_dirty = true;
        }
        self.shared.status.record_batch(
            &self.counts,
            self.seq.last_lsn,
            self.shared.queued.load(Ordering::Relaxed),
        );
        self.counts = BatchCounts::default();
        self.registry_touched = false;
        reply::deliver(&mut self.replies);
    }

    /// Waits for every run in flight to be answered, and applies them.
    fn drain(&mut self, log: &mut Option<LogThread>) {
        let Some(log) = log.as_mut() else {
            return;
        };
        while log.in_flight() > 0 {
            match log.outcomes().recv() {
                Ok(outcome) => {
                    log.outcome_received();
                    self.complete(outcome);
                }
                Err(_) => unreachable!("the log thread answers every run before it exits"),
            }
        }
    }

    /// Validates a run of pushes and hands the accepted ones to the log (or, without a WAL,
    /// applies them at once).
    fn push_run(&mut self, run: &mut Vec<(Command, Reply)>, log: &mut Option<LogThread>) {
        if run.is_empty() {
            return;
        }
        let now_ms = self.shared.clock.now_ms();
        let mut encoded = self.spare_batches.pop().unwrap_or_default();
        let mut accepted = self.spare_runs.pop().unwrap_or_default();
        let mut keyed: Vec<Keyed> = Vec::new();
        {
            let shared = Arc::clone(&self.shared);
            let engine = shared.engine.read();
            let registry_version = engine.registry_version();
            let record_bytes_max = log.as_ref().map_or(usize::MAX, LogThread::record_bytes_max);
            let mut pushes = run.drain(..);
            while let Some((command, reply)) = pushes.next() {
                match pushes.as_slice().get(BODY_PREFETCH_AHEAD) {
                    Some((Command::Push { fields, .. } | Command::PushSync { fields, .. }, _)) => {
                        engine::push::prefetch_body(fields);
                    }
                    Some((Command::Prevalidated { push, .. }, _)) => push.prefetch(),
                    _ => {}
                }
                let sync = command.is_sync_push();
                self.counts.commands += 1;
                let validated = match crate::command::validate(&engine, command) {
                    Ok(validated) => validated,
                    Err(error) => {
                        self.counts.pushes_refused += 1;
                        self.replies.push((
                            reply,
                            Outcome::Push(Err(PushRefused {
                                error,
                                registry_version,
                            })),
                        ));
                        continue;
                    }
                };
                // A repeat of an acknowledged push is answered with its ack; a repeat of one
                // still on its way to the log waits for its outcome (decision 0023).
                let dedupe_key = engine.dedupe_key(&validated);
                let reply = match &dedupe_key {
                    Some((key, _)) => {
                        if let Some(ack) = self.dedupe.replay(key, now_ms) {
                            self.replies.push((reply, Outcome::Push(Ok(ack))));
                            continue;
                        }
                        match self.dedupe.wait(key, reply) {
                            Ok(()) => continue,
                            Err(reply) => reply,
                        }
                    }
                    None => reply,
                };
                if log.is_some() {
                    if encoded.push(now_ms, &validated, record_bytes_max).is_err() {
                        self.refuse_push(
                            reply,
                            "value_too_large",
                            "event too large for one WAL record",
                        );
                        continue;
                    }
                    encoded.sync |= sync;
                }
                if let Some((key, window_ms)) = dedupe_key {
                    self.dedupe.begin(key.clone());
                    keyed.push(Keyed {
                        index: accepted.len(),
                        key,
                        window_ms,
                    });
                }
                accepted.push((validated, reply));
            }
        }
        if accepted.is_empty() {
            self.spare_batches.push(encoded);
            self.spare_runs.push(accepted);
            return;
        }
        match log.as_mut() {
            Some(log) if log.in_flight() == 0 && accepted.len() <= self.inline_commit_max => {
                let outcome = log.commit_inline(encoded);
                self.in_flight.push_back(InFlight {
                    now_ms,
                    pushes: accepted,
                    keyed,
                });
                self.complete(outcome);
            }
            Some(log) => {
                log.submit(encoded);
                self.in_flight.push_back(InFlight {
                    now_ms,
                    pushes: accepted,
                    keyed,
                });
            }
            None => {
                let first = self.seq.last_lsn + 1;
                let n = accepted.len() as u64;
                self.apply_run(
                    now_ms,
                    &mut accepted,
                    keyed,
                    |i| Some(first + i as u64),
                    None,
                );
                self.seq.last_lsn = first + n - 1;
                self.spare_batches.push(encoded);
                self.spare_runs.push(accepted);
            }
        }
    }

    /// The log answered the oldest run in flight: apply what is in the log, refuse the rest.
    fn complete(&mut self, outcome: BatchOutcome) {
        let Some(mut run) = self.in_flight.pop_front() else {
            unreachable!("an answer for a run that is not in flight");
        };
        if self.spare_batches.len() < IN_FLIGHT_MAX {
            self.spare_batches.push(outcome.buffer);
        }
        self.wal_failed = outcome.wal_failed;
        self.wal_bytes_written = outcome.stats.bytes_written;
        let first = outcome.first_lsn.0;
        let appended = outcome.appended;
        match &outcome.failure {
            None => {
                self.shared.status.set_storage(false, false);
                self.apply_run(
                    run.now_ms,
                    &mut run.pushes,
                    std::mem::take(&mut run.keyed),
                    |i| Some(first + i as u64),
                    None,
                );
            }
            Some(failure) => {
                // Records a segment rotation already made durable are in the log whatever
                // happens next: apply and ack them (refusing them would let a restart
                // resurrect a refused push). Everything else is dropped and refused.
                let error = &failure.error;
                let full = error.is_storage_full();
                if full {
                    tracing::warn!(
                        kind = "wal.storage_full",
                        reason = error.reason(),
                        "disk full: pushes refused until space returns"
                    );
                } else if outcome.wal_failed {
                    tracing::error!(
                        kind = "wal.failed",
                        reason = error.reason(),
                        "WAL failed: no further push is acknowledged (fail-stop)"
                    );
                } else {
                    tracing::error!(
                        kind = "wal.write_failed",
                        reason = error.reason(),
                        "WAL write failed: batch refused"
                    );
                }
                self.shared.status.set_storage(outcome.wal_failed, full);
                let committed = failure.committed_lsn.0;
                let in_log = |i: usize| {
                    let lsn = first + i as u64;
                    (i < appended && lsn <= committed).then_some(lsn)
                };
                let keyed = std::mem::take(&mut run.keyed);
                self.apply_run(run.now_ms, &mut run.pushes, keyed, in_log, Some(error));
            }
        }
        if self.spare_runs.len() < IN_FLIGHT_MAX {
            self.spare_runs.push(run.pushes);
        }
    }

    /// Applies the pushes that `lsn_of` places in the log (in order) and acks them; refuses
    /// the others with `failure`.
    fn apply_run(
        &mut self,
        now_ms: TimestampMs,
        pushes: &mut Vec<(ValidatedPush, Reply)>,
        keyed: Vec<Keyed>,
        lsn_of: impl Fn(usize) -> Option<u64>,
        failure: Option<&CommitError>,
    ) {
        let shared = Arc::clone(&self.shared);
        let mut engine = shared.engine.write();
        let in_log: Vec<&ValidatedPush> = pushes
            .iter()
            .enumerate()
            .filter_map(|(i, (validated, _))| lsn_of(i).map(|_| validated))
            .collect();
        let mut panics = engine.apply_many(&in_log, now_ms).into_iter().peekable();
        drop(in_log);
        let registry_version = engine.registry_version();
        let mut keyed = keyed.into_iter().peekable();
        // Index among the pushes in the log (what `apply_many`'s panics refer to).
        let mut applied = 0;
        for (i, (_, reply)) in pushes.drain(..).enumerate() {
            let outcome = match lsn_of(i) {
                None => {
                    let error = failure.expect("only a failed run has records outside the log");
                    self.refusal(error.code(), error.reason())
                }
                Some(lsn) => {
                    self.applied_lsn = self.applied_lsn.max(persist::Lsn(lsn));
                    let panic = panics.next_if(|(index, _)| *index == applied);
                    applied += 1;
                    match panic.map(|(_, panic)| panic) {
                        None => {
                            self.counts.pushes_acked += 1;
                            self.seq.last_lsn = self.seq.last_lsn.max(lsn);
                            Outcome::Push(Ok(PushAcked {
                                lsn: Lsn(lsn),
                                registry_version,
                                replay: false,
                            }))
                        }
                        Some(panic) => self.panicked(&panic),
                    }
                }
            };
            if let Some(Keyed { key, window_ms, .. }) = keyed.next_if(|k| k.index == i) {
                self.dedupe
                    .finish(key, window_ms, now_ms, &outcome, &mut self.replies);
            }
            self.replies.push((reply, outcome));
        }
    }

    fn refuse_push(&mut self, reply: Reply, code: &'static str, reason: &str) {
        let outcome = self.refusal(code, reason);
        self.replies.push((reply, outcome));
    }

    fn refusal(&mut self, code: &'static str, reason: &str) -> Outcome {
        self.counts.pushes_refused += 1;
        Outcome::Push(Err(PushRefused {
            error: PushError::new(code, reason),
            registry_version: self.shared.status.registry_version(),
        }))
    }

    /// A register or reset: logged and committed (after every run in flight), then executed.
    fn control(&mut self, command: Command, reply: Reply, log: &mut Option<LogThread>) {
        self.counts.commands += 1;
        self.registry_touched = true;
        let now_ms = self.shared.clock.now_ms();
        if let Some(log) = log.as_mut() {
            debug_assert_eq!(log.in_flight(), 0, "drained before a control command");
            let mut payload = Vec::new();
            match &command {
                Command::Register(body) => log_record::encode_register(&mut payload, now_ms, body),
                Command::Reset => log_record::encode_reset(&mut payload, now_ms),
                Command::Push { .. } | Command::PushSync { .. } | Command::Prevalidated { .. } => {
                    unreachable!("pushes go through push_run")
                }
            }
            let committed = log
                .call(|reply| Call::Control { payload, reply })
                .unwrap_or_else(|| {
                    Err((
                        CommitError::Unavailable("the log thread is gone".into()),
                        true,
                    ))
                });
            match committed {
                Ok(lsn) => self.applied_lsn = self.applied_lsn.max(lsn),
                Err((error, failed)) => {
                    self.wal_failed = failed;
                    self.shared
                        .status
                        .set_storage(failed, error.is_storage_full());
                    let reason = error.reason().to_string();
                    let registry_version = self.shared.status.registry_version();
                    let outcome = match command {
                        Command::Register(_) => Outcome::Register(Err(RegisterRefused {
                            error: RegisterError::new("wal_unavailable", "", reason),
                            registry_version,
                        })),
                        _ => Outcome::Failed { reason },
                    };
                    self.replies.push((reply, outcome));
                    return;
                }
            }
        }
        if matches!(command, Command::Reset) {
            // A reset starts from nothing: no push before it is a repeat of one after it.
            self.dedupe.clear();
        }
        let shared = Arc::clone(&self.shared);
        let mut engine = shared.engine.write();
        let seq = &mut self.seq;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            execute(&mut engine, seq, command, now_ms)
        }));
        let outcome = outcome.unwrap_or_else(|panic| self.panicked(&panic));
        shared.publish_engine(&engine);
        self.replies.push((reply, outcome));
    }

    fn panicked(&mut self, panic: &Box<dyn std::any::Any + Send>) -> Outcome {
        let reason = format!("engine panicked: {}", engine::panic_message(panic));
        tracing::error!(kind = "store.engine_panic", reason = %reason, "engine panicked on a command");
        self.counts.panics += 1;
        Outcome::Failed { reason }
    }
}
