//! The single writer: one thread that owns every mutation of the engine.
//!
//! Each turn it takes the commands that queued up (at most `batch_max`), and runs them in
//! arrival order as runs of pushes separated by registry commands:
//!
//! 1. **validate** the run's pushes under the engine's read lock (refusals change nothing);
//! 2. **log**: append every accepted push to the WAL and commit once — one fdatasync for the
//!    whole run (group commit); on failure the run is refused, nothing applied;
//! 3. **apply** the run under the engine's write lock, publish the status;
//! 4. **ack** after releasing the lock, so every acked push is durable and visible to the next
//!    read.
//!
//! A register or reset is logged and committed first, then executed; the order of the log is
//! exactly the order of execution, which is what replay relies on. A full queue is refused at
//! submission (503 `overloaded`); nothing waits unboundedly.

use crate::command::{
    execute, Command, Lsn, Outcome, PushAcked, PushRefused, RegisterRefused, Sequence,
};
use crate::journal::{CommitError, Journal};
use crate::snapshots::{Done, Snapshotter};
use crate::status::BatchCounts;
use crate::store::Shared;
use crossbeam_channel::{Receiver, TryRecvError};
use engine::ValidatedPush;
use model::{PushError, RegisterError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What the writer's queue carries.
pub(crate) enum Input {
    Command {
        command: Command,
        reply: oneshot::Sender<Outcome>,
    },
    /// Finish the current batch and exit.
    Stop,
}

type Reply = oneshot::Sender<Outcome>;

/// Counters (not the registry version, which is always fresh) are republished at least this often
/// under load, and whenever the writer goes idle.
const STATS_INTERVAL: Duration = Duration::from_millis(50);

pub(crate) fn run(
    shared: Arc<Shared>,
    queue: Receiver<Input>,
    batch_max: usize,
    mut journal: Option<Journal>,
    mut snapshotter: Option<Snapshotter>,
) {
    let batch_max = batch_max.max(1);
    let mut writer = Writer {
        shared,
        seq: Sequence::default(),
        replies: Vec::with_capacity(batch_max),
        counts: BatchCounts::default(),
        registry_touched: false,
    };
    let mut batch: Vec<(Command, Reply)> = Vec::with_capacity(batch_max);
    let mut stats_published = Instant::now();
    let mut stats_dirty = false;
    writer.shared.status.set_writer_running(true);
    'turns: loop {
        // Block for the first command (waking up for relaxed-mode syncs), then take what queued.
        let first = match queue.try_recv() {
            Ok(input) => input,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if stats_dirty {
                    writer.publish_stats();
                    stats_published = Instant::now();
                    stats_dirty = false;
                }
                let timeout = [
                    journal.as_ref().and_then(Journal::idle_timeout),
                    snapshotter.as_ref().and_then(Snapshotter::time_until_due),
                ]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(IDLE_WAKEUP_MAX);
                let wake = {
                    let never = crossbeam_channel::never::<Done>();
                    let done = snapshotter.as_ref().map_or(&never, Snapshotter::done_rx);
                    crossbeam_channel::select! {
                        recv(queue) -> input => match input {
                            Ok(input) => Wake::Input(input),
                            Err(_) => Wake::Disconnected,
                        },
                        recv(done) -> done => Wake::SnapshotDone(done.ok()),
                        default(timeout) => Wake::Timeout,
                    }
                };
                match wake {
                    Wake::Input(input) => input,
                    Wake::SnapshotDone(done) => {
                        snapshot_done(&mut snapshotter, &mut journal, &writer.shared, done);
                        continue;
                    }
                    Wake::Timeout => {
                        if let Some(journal) = journal.as_mut() {
                            journal.sync_if_due();
                        }
                        maybe_snapshot(&mut snapshotter, &mut journal, &writer.shared);
                        continue;
                    }
                    Wake::Disconnected => break,
                }
            }
        };
        let mut stop = false;
        match first {
            Input::Command { command, reply } => batch.push((command, reply)),
            Input::Stop => break,
        }
        while batch.len() < batch_max {
            match queue.try_recv() {
                Ok(Input::Command { command, reply }) => batch.push((command, reply)),
                Ok(Input::Stop) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }

        writer.counts = BatchCounts::default();
        writer.registry_touched = false;
        let mut run: Vec<(Command, Reply)> = Vec::new();
        for (command, reply) in batch.drain(..) {
            if matches!(command, Command::Push { .. } | Command::PushSync { .. }) {
                run.push((command, reply));
                continue;
            }
            writer.push_run(&mut run, &mut journal);
            writer.control(command, reply, &mut journal);
        }
        writer.push_run(&mut run, &mut journal);

        if writer.registry_touched || stats_published.elapsed() >= STATS_INTERVAL {
            writer.publish_stats();
            stats_published = Instant::now();
            stats_dirty = false;
        } else {
            stats_dirty = true;
        }
        writer
            .shared
            .status
            .record_batch(&writer.counts, writer.seq.last_lsn, queue.len());
        if let Some(journal) = journal.as_ref() {
            writer
                .shared
                .status
                .publish_wal(&journal.stats(), journal.is_failed());
        }
        for (reply, outcome) in writer.replies.drain(..) {
            // The submitter may have gone away (connection closed); that is fine.
            let _ = reply.send(outcome);
        }
        if let Some(snap) = snapshotter.as_ref() {
            if let Ok(done) = snap.done_rx().try_recv() {
                snapshot_done(&mut snapshotter, &mut journal, &writer.shared, Some(done));
            }
        }
        maybe_snapshot(&mut snapshotter, &mut journal, &writer.shared);
        if stop {
            break 'turns;
        }
    }
    final_snapshot(&mut snapshotter, &mut journal, &writer.shared);
    if let Some(journal) = journal.as_mut() {
        journal.close();
    }
    writer.publish_stats();
    writer.shared.status.set_writer_running(false);
}

/// The longest the idle writer sleeps without a reason to wake up.
const IDLE_WAKEUP_MAX: Duration = Duration::from_secs(3600);

enum Wake {
    Input(Input),
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
    journal: &mut Option<Journal>,
    shared: &Arc<Shared>,
) {
    let (Some(snap), Some(journal)) = (snapshotter.as_mut(), journal.as_mut()) else {
        return;
    };
    let wal_bytes = journal.stats().bytes_written;
    if !snap.due(wal_bytes) {
        return;
    }
    start_snapshot(snap, journal, shared, wal_bytes);
}

fn start_snapshot(
    snap: &mut Snapshotter,
    journal: &mut Journal,
    shared: &Arc<Shared>,
    wal_bytes: u64,
) -> bool {
    let Some(lsn) = journal.snapshot_lsn() else {
        return false;
    };
    let started = Instant::now();
    let view = shared.engine.read().snapshot_view();
    let capture = started.elapsed();
    snap.begin(view, lsn, wal_bytes, capture)
}

/// A snapshot is durable (or failed): reclaim the WAL up to the older retained snapshot.
fn snapshot_done(
    snapshotter: &mut Option<Snapshotter>,
    journal: &mut Option<Journal>,
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
    let Some(journal) = journal.as_mut() else {
        return;
    };
    match journal.reclaim(covered) {
        Ok(reclamation) => shared.status.publish_reclamation(&reclamation),
        Err(error) => {
            tracing::error!(kind = "wal.reclaim_failed", covered_lsn = covered.0, error = %error, "could not delete covered WAL segments; they stay (disk use grows until the next attempt)");
            if journal.is_failed() {
                shared.status.set_storage(true, false);
            }
        }
    }
}

/// Graceful shutdown: wait for a snapshot in flight, then write a final one covering
/// everything applied (so the next start replays nothing).
fn final_snapshot(
    snapshotter: &mut Option<Snapshotter>,
    journal: &mut Option<Journal>,
    shared: &Arc<Shared>,
) {
    let Some(snap) = snapshotter.as_mut() else {
        return;
    };
    if snap.in_flight() {
        let done = snap.wait();
        snapshot_done(snapshotter, journal, shared, done);
    }
    let (Some(snap), Some(j)) = (snapshotter.as_mut(), journal.as_mut()) else {
        return;
    };
    if snap.on_shutdown() {
        let wal_bytes = j.stats().bytes_written;
        if start_snapshot(snap, j, shared, wal_bytes) {
            tracing::info!(
                kind = "snapshot.final",
                "writing the final snapshot before exit"
            );
            let done = snap.wait();
            snapshot_done(snapshotter, journal, shared, done);
        }
    }
    if let Some(snap) = snapshotter.as_mut() {
        snap.stop();
    }
}

struct Writer {
    shared: Arc<Shared>,
    seq: Sequence,
    replies: Vec<(Reply, Outcome)>,
    counts: BatchCounts,
    registry_touched: bool,
}

impl Writer {
    fn publish_stats(&self) {
        self.shared
            .status
            .publish_engine(&self.shared.engine.read().stats());
    }

    /// Validates, logs, commits, applies and queues the acks of a run of pushes.
    fn push_run(&mut self, run: &mut Vec<(Command, Reply)>, journal: &mut Option<Journal>) {
        if run.is_empty() {
            return;
        }
        let now_ms = self.shared.clock.now_ms();
        let sync_required = run
            .iter()
            .any(|(command, _)| matches!(command, Command::PushSync { .. }));
        let mut accepted: Vec<(ValidatedPush, Reply, u64)> = Vec::with_capacity(run.len());
        {
            let engine = self.shared.engine.read();
            let registry_version = engine.registry_version();
            for (command, reply) in run.drain(..) {
                let (Command::Push { event, fields } | Command::PushSync { event, fields }) =
                    command
                else {
                    unreachable!("runs hold pushes only");
                };
                self.counts.commands += 1;
                match engine.validate_push_owned(&event, fields) {
                    Ok(validated) => accepted.push((validated, reply, 0)),
                    Err(error) => {
                        self.counts.pushes_refused += 1;
                        self.replies.push((
                            reply,
                            Outcome::Push(Err(PushRefused {
                                error,
                                registry_version,
                            })),
                        ));
                    }
                }
            }
        }
        if accepted.is_empty() {
            return;
        }

        if let Some(journal) = journal.as_mut() {
            let mut logged = Vec::with_capacity(accepted.len());
            let mut failure: Option<CommitError> = None;
            let mut not_logged: Vec<Reply> = Vec::new();
            for (validated, reply, _) in accepted.drain(..) {
                if failure.is_some() {
                    not_logged.push(reply);
                    continue;
                }
                match journal.append_push(now_ms, &validated) {
                    Ok(lsn) => logged.push((validated, reply, lsn.0)),
                    Err(persist::WalError::RecordTooLarge { .. }) => {
                        self.refuse_push(
                            reply,
                            "value_too_large",
                            "event too large for one WAL record",
                        );
                    }
                    Err(error) => {
                        failure = Some(CommitError::from(error));
                        not_logged.push(reply);
                    }
                }
            }
            if failure.is_none() {
                failure = journal.commit_with(sync_required).err();
            }
            match failure {
                None => self.shared.status.set_storage(false, false),
                Some(error) => {
                    // Records a segment rotation already made durable are in the log whatever
                    // happens next: apply and ack them (refusing them would let a restart
                    // resurrect a refused push). Everything else is dropped and refused.
                    let committed = journal.committed_lsn().0;
                    journal.abandon();
                    let full = error.is_storage_full();
                    if full {
                        tracing::warn!(
                            kind = "wal.storage_full",
                            reason = error.reason(),
                            "disk full: pushes refused until space returns"
                        );
                    } else if journal.is_failed() {
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
                    self.shared.status.set_storage(journal.is_failed(), full);
                    let (durable, dropped): (Vec<_>, Vec<_>) = logged
                        .into_iter()
                        .partition(|(_, _, lsn)| *lsn <= committed);
                    for reply in dropped
                        .into_iter()
                        .map(|(_, reply, _)| reply)
                        .chain(not_logged)
                    {
                        self.refuse_push(reply, error.code(), error.reason());
                    }
                    logged = durable;
                }
            }
            accepted = logged;
        } else {
            for entry in &mut accepted {
                self.seq.last_lsn += 1;
                entry.2 = self.seq.last_lsn;
            }
        }

        let shared = Arc::clone(&self.shared);
        let mut engine = shared.engine.write();
        for (validated, reply, lsn) in accepted {
            let applied = catch_unwind(AssertUnwindSafe(|| engine.apply(&validated, now_ms)));
            let outcome = match applied {
                Ok(_) => {
                    self.counts.pushes_acked += 1;
                    self.seq.last_lsn = self.seq.last_lsn.max(lsn);
                    Outcome::Push(Ok(PushAcked {
                        lsn: Lsn(lsn),
                        registry_version: engine.registry_version(),
                    }))
                }
                Err(panic) => self.panicked(&panic),
            };
            self.replies.push((reply, outcome));
        }
    }

    fn refuse_push(&mut self, reply: Reply, code: &'static str, reason: &str) {
        self.counts.pushes_refused += 1;
        let registry_version = self.shared.status.registry_version();
        self.replies.push((
            reply,
            Outcome::Push(Err(PushRefused {
                error: PushError::new(code, reason),
                registry_version,
            })),
        ));
    }

    /// A register or reset: logged and committed, then executed.
    fn control(&mut self, command: Command, reply: Reply, journal: &mut Option<Journal>) {
        self.counts.commands += 1;
        self.registry_touched = true;
        let now_ms = self.shared.clock.now_ms();
        if let Some(journal) = journal.as_mut() {
            let appended = match &command {
                Command::Register(body) => journal.append_register(now_ms, body),
                Command::Reset => journal.append_reset(now_ms),
                Command::Push { .. } | Command::PushSync { .. } => {
                    unreachable!("pushes go through push_run")
                }
            };
            let committed = appended
                .map_err(CommitError::from)
                .and_then(|_| journal.commit());
            if let Err(error) = committed {
                journal.abandon();
                self.shared
                    .status
                    .set_storage(journal.is_failed(), error.is_storage_full());
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
        let shared = Arc::clone(&self.shared);
        let mut engine = shared.engine.write();
        let seq = &mut self.seq;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            execute(&mut engine, seq, command, now_ms)
        }));
        let outcome = outcome.unwrap_or_else(|panic| self.panicked(&panic));
        shared.status.publish_engine(&engine.stats());
        self.replies.push((reply, outcome));
    }

    fn panicked(&mut self, panic: &Box<dyn std::any::Any + Send>) -> Outcome {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let reason = format!("engine panicked: {detail}");
        tracing::error!(kind = "store.engine_panic", reason = %reason, "engine panicked on a command");
        self.counts.panics += 1;
        Outcome::Failed { reason }
    }
}
