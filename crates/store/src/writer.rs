//! The single writer: one thread that owns every mutation of the engine.
//!
//! It takes commands from a bounded queue, and for each batch: takes the engine write lock once,
//! executes up to `batch_max` commands (or ~1 ms of work) in arrival order, publishes the
//! registry version and counters, releases the lock, and only then sends the replies, so an
//! acked push is visible to every later read. A full queue is refused at submission (the
//! caller answers `503 overloaded`); nothing waits unboundedly.
//!
//! The WAL slots in here: validate each command of the batch, append the batch, group-commit
//! (one fsync), apply, reply (see `command::execute`).

use crate::command::{execute, Command, Outcome, Sequence};
use crate::status::BatchCounts;
use crate::store::Shared;
use crossbeam_channel::{Receiver, TryRecvError};
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

/// Longest stretch of work under one write-lock hold; readers wait at most about this long.
const BATCH_BUDGET: Duration = Duration::from_millis(1);
/// Counters (not the registry version, which is always fresh) are republished at least this often
/// under load, and whenever the writer goes idle.
const STATS_INTERVAL: Duration = Duration::from_millis(50);

pub(crate) fn run(shared: Arc<Shared>, queue: Receiver<Input>, batch_max: usize) {
    let batch_max = batch_max.max(1);
    let mut seq = Sequence::default();
    let mut replies: Vec<(oneshot::Sender<Outcome>, Outcome)> = Vec::with_capacity(batch_max);
    let mut stats_dirty = false;
    let mut stats_published = Instant::now();
    shared.status.set_writer_running(true);
    loop {
        let first = match queue.try_recv() {
            Ok(input) => input,
            Err(TryRecvError::Empty) => {
                if stats_dirty {
                    shared.status.publish_engine(&shared.engine.read().stats());
                    stats_published = Instant::now();
                }
                match queue.recv() {
                    Ok(input) => input,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        let Input::Command { command, reply } = first else {
            break;
        };

        let mut counts = BatchCounts::default();
        let mut stop = false;
        let mut registry_touched = false;
        {
            let mut engine = shared.engine.write();
            let started = Instant::now();
            let mut next = Some((command, reply));
            while let Some((command, reply)) = next.take() {
                registry_touched |= !matches!(command, Command::Push { .. });
                let now_ms = shared.clock.now_ms();
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    execute(&mut engine, &mut seq, command, now_ms)
                }))
                .unwrap_or_else(|panic| {
                    let reason = panic_reason(&panic);
                    tracing::error!(kind = "store.engine_panic", reason = %reason, "engine panicked on a command");
                    Outcome::Failed { reason }
                });
                counts.commands += 1;
                match &outcome {
                    Outcome::Push(Ok(_)) => counts.pushes_acked += 1,
                    Outcome::Push(Err(_)) => counts.pushes_refused += 1,
                    Outcome::Failed { .. } => counts.panics += 1,
                    _ => {}
                }
                replies.push((reply, outcome));

                let full = replies.len() >= batch_max
                    || (counts.commands % 32 == 0 && started.elapsed() >= BATCH_BUDGET);
                if full {
                    break;
                }
                match queue.try_recv() {
                    Ok(Input::Command { command, reply }) => next = Some((command, reply)),
                    Ok(Input::Stop) => stop = true,
                    Err(_) => {}
                }
            }
            if registry_touched || stats_published.elapsed() >= STATS_INTERVAL {
                shared.status.publish_engine(&engine.stats());
                stats_published = Instant::now();
                stats_dirty = false;
            } else {
                stats_dirty = true;
            }
        }
        shared
            .status
            .record_batch(&counts, seq.last_lsn, queue.len());
        for (reply, outcome) in replies.drain(..) {
            // The submitter may have gone away (connection closed); that is fine.
            let _ = reply.send(outcome);
        }
        if stop {
            break;
        }
    }
    shared.status.publish_engine(&shared.engine.read().stats());
    shared.status.set_writer_running(false);
}

fn panic_reason(panic: &Box<dyn std::any::Any + Send>) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("engine panicked: {detail}")
}
