//! The log thread: owns the journal, so that the writer validates, encodes and applies while
//! the previous batch is being fdatasync'ed (a pipelined group commit).
//!
//! The writer submits each batch of encoded push records (`submit`) and goes on; the log thread
//! appends every batch that queued up meanwhile and commits them with **one** fdatasync, then
//! answers each batch, in submission order, with the LSNs it got or the reason it failed. The
//! writer applies and acknowledges a batch only when its answer says it is committed, so the
//! order of the log is the order of application and nothing unlogged is ever applied or acked.
//!
//! Register and reset records, the pre-snapshot sync, WAL reclamation and close are requests
//! the writer waits for (`call`), and the writer drains every batch in flight before a register
//! or reset, so a record is always validated against the registry it is applied under.
//!
//! Bounds: at most `IN_FLIGHT_MAX` batches are in flight (the writer stops taking commands
//! until an answer arrives), so both channels are bounded.

use crate::journal::{AckMode, CommitError, Journal};
use crate::log_record;
use crate::status::StoreStatus;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use engine::ValidatedPush;
use model::TimestampMs;
use parking_lot::Mutex;
use persist::{Lsn, Reclamation, WalError, WalStats};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Batches the writer may have submitted and not yet seen answered. Two are enough to keep the
/// disk busy (one being synced, one queued); a few more absorb bursts of small batches, which
/// the log thread then commits together.
pub(crate) const IN_FLIGHT_MAX: usize = 8;

/// Payload bytes a pushes record grows to before the next push starts another (a run larger
/// than this is logged as several records; a push larger than this gets a record of its own, up
/// to the WAL's `record_bytes_max`, which also caps this when smaller).
pub(crate) const PUSHES_RECORD_BYTES_TARGET: usize = 256 * 1024;

/// The pushes of a writer run, encoded as pushes records (`log_record`, kind 4) back to back:
/// each record holds as many pushes as fit in `PUSHES_RECORD_BYTES_TARGET` and takes one LSN
/// per push (decision 0024).
#[derive(Default)]
pub(crate) struct EncodedBatch {
    bytes: Vec<u8>,
    /// Each record's payload (a range of `bytes`) and the pushes in it; the last one is open.
    records: Vec<(std::ops::Range<usize>, u32)>,
    /// Where `bytes` spells the event name of the open record's last push (to write "the
    /// previous event" instead).
    last_event: std::ops::Range<usize>,
    /// A `/push-sync` rode in the batch: fdatasync even in relaxed mode.
    pub(crate) sync: bool,
}

/// A push whose entry alone would pass the WAL's record size limit.
#[derive(Debug)]
pub(crate) struct PushTooLarge;

impl EncodedBatch {
    /// Encodes `push` into the open record, or into a new one when the open record would pass
    /// the target size or the most LSNs a record may cover. Nothing is added if the push alone
    /// makes a record larger than `record_bytes_max`.
    pub(crate) fn push(
        &mut self,
        now_ms: TimestampMs,
        push: &ValidatedPush,
        record_bytes_max: usize,
    ) -> Result<(), PushTooLarge> {
        let entry_start = self.bytes.len();
        let target = PUSHES_RECORD_BYTES_TARGET.min(record_bytes_max);
        if let Some((open, n)) = self.records.last_mut() {
            if *n < persist::RECORD_LSNS_MAX {
                let same = self.bytes[self.last_event.clone()] == *push.event.as_bytes();
                let name = log_record::encode_pushes_entry(&mut self.bytes, push, same);
                if self.bytes.len() - open.start <= target {
                    open.end = self.bytes.len();
                    *n += 1;
                    if let Some(name) = name {
                        self.last_event = name;
                    }
                    return Ok(());
                }
                self.bytes.truncate(entry_start);
            }
        }
        log_record::encode_pushes_header(&mut self.bytes, now_ms);
        let name = log_record::encode_pushes_entry(&mut self.bytes, push, false);
        if self.bytes.len() - entry_start > record_bytes_max {
            self.bytes.truncate(entry_start);
            return Err(PushTooLarge);
        }
        self.records.push((entry_start..self.bytes.len(), 1));
        self.last_event = name.expect("a record's first entry spells its event out");
        Ok(())
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
        self.sync = false;
    }

    /// Each record's payload and the pushes (LSNs) it holds.
    fn records(&self) -> impl Iterator<Item = (&[u8], u32)> {
        self.records
            .iter()
            .map(|(range, n)| (&self.bytes[range.clone()], *n))
    }
}

/// The answer to one submitted batch.
pub(crate) struct BatchOutcome {
    /// LSN of the batch's first push; the others follow densely.
    pub(crate) first_lsn: Lsn,
    /// How many of the batch's pushes (a prefix, in whole records) were appended.
    pub(crate) appended: usize,
    /// `None`: every record is committed. `Some`: the batch failed, and only its appended
    /// records at or below `committed_lsn` (made durable by a segment rotation) are in the log.
    pub(crate) failure: Option<BatchFailure>,
    pub(crate) stats: WalStats,
    pub(crate) wal_failed: bool,
    /// The batch's buffer, emptied, for the writer to reuse (allocated and freed on one thread,
    /// and no regrowth per batch).
    pub(crate) buffer: EncodedBatch,
}

pub(crate) struct BatchFailure {
    pub(crate) error: CommitError,
    pub(crate) committed_lsn: Lsn,
}

/// The LSN of a committed control record, or why it was not committed (and whether the log
/// has failed for good).
pub(crate) type ControlAnswer = Result<Lsn, (CommitError, bool)>;

enum Request {
    Batch(EncodedBatch),
    Call(Call),
}

/// Requests the writer waits for.
pub(crate) enum Call {
    /// Append one record and commit it (durable in both ack modes: registers and resets are
    /// rare and change what every later record means).
    Control {
        payload: Vec<u8>,
        reply: Sender<ControlAnswer>,
    },
    /// Make everything written durable; answers the durable LSN (`None` if the log failed or
    /// holds nothing). Before a snapshot.
    SyncAll { reply: Sender<Option<Lsn>> },
    /// Delete the segments covered by a durable snapshot at this LSN.
    Reclaim {
        covered: Lsn,
        reply: Sender<Result<Reclamation, WalError>>,
    },
}

pub(crate) struct LogThread {
    requests: Sender<Request>,
    outcomes: Receiver<BatchOutcome>,
    thread: Option<JoinHandle<()>>,
    in_flight: usize,
    record_bytes_max: usize,
    durable_acks: bool,
    /// Shared with the log thread, which holds it while it commits. The writer takes it only
    /// when nothing is in flight (`commit_inline`), so it is uncontended.
    journal: Arc<Mutex<Journal>>,
    status: Arc<StoreStatus>,
    /// `commit_inline`'s one-batch group, reused (no allocation per inline commit).
    inline_group: Vec<EncodedBatch>,
}

impl LogThread {
    pub(crate) fn start(journal: Journal, status: Arc<StoreStatus>) -> std::io::Result<LogThread> {
        let record_bytes_max = journal.record_bytes_max();
        let durable_acks = journal.ack_mode() == AckMode::Durable;
        // Calls are answered before the writer sends anything else: one slot for them.
        let (requests, requests_rx) = bounded(IN_FLIGHT_MAX + 1);
        let (outcomes_tx, outcomes) = bounded(IN_FLIGHT_MAX);
        let journal = Arc::new(Mutex::new(journal));
        let thread_journal = Arc::clone(&journal);
        let thread_status = Arc::clone(&status);
        let thread = std::thread::Builder::new()
            .name("weir-log".into())
            .spawn(move || run(&thread_journal, &thread_status, requests_rx, outcomes_tx))?;
        Ok(LogThread {
            requests,
            outcomes,
            thread: Some(thread),
            in_flight: 0,
            record_bytes_max,
            durable_acks,
            journal,
            status,
            inline_group: Vec::with_capacity(1),
        })
    }

    pub(crate) fn record_bytes_max(&self) -> usize {
        self.record_bytes_max
    }

    /// Acks wait for fdatasync: everything applied is already durable.
    pub(crate) fn durable_acks(&self) -> bool {
        self.durable_acks
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub(crate) fn can_submit(&self) -> bool {
        self.in_flight < IN_FLIGHT_MAX
    }

    /// Hands a batch to the log thread. The caller keeps at most `IN_FLIGHT_MAX` in flight.
    pub(crate) fn submit(&mut self, batch: EncodedBatch) {
        assert!(
            self.can_submit(),
            "more batches in flight than IN_FLIGHT_MAX"
        );
        self.in_flight += 1;
        if self.requests.send(Request::Batch(batch)).is_err() {
            unreachable!("the log thread outlives the writer's handle");
        }
    }

    /// Commits a batch on the calling thread and answers it at once: for small batches when
    /// nothing is in flight, where handing over to the log thread and back would cost two
    /// thread wake-ups and gain no overlap.
    pub(crate) fn commit_inline(&mut self, batch: EncodedBatch) -> BatchOutcome {
        assert_eq!(self.in_flight, 0, "inline commits keep the log order");
        self.inline_group.push(batch);
        let mut journal = self.journal.lock();
        let outcome = commit_group(&mut journal, &mut self.inline_group)
            .pop()
            .expect("one outcome per batch");
        self.status
            .publish_wal(&journal.stats(), journal.is_failed());
        outcome
    }

    /// Answers to submitted batches, in submission order.
    pub(crate) fn outcomes(&self) -> &Receiver<BatchOutcome> {
        &self.outcomes
    }

    /// Call after receiving an outcome from `outcomes()`.
    pub(crate) fn outcome_received(&mut self) {
        self.in_flight -= 1;
    }

    /// Sends a call and waits for its answer (`None` if the log thread is gone).
    pub(crate) fn call<T>(&self, make: impl FnOnce(Sender<T>) -> Call) -> Option<T> {
        let (reply, answer) = bounded(1);
        self.requests.send(Request::Call(make(reply))).ok()?;
        answer.recv().ok()
    }

    /// Lets the log thread finish (final fdatasync) and waits for it. Batches still in flight
    /// are committed and answered first; the caller drains them before calling this.
    pub(crate) fn close(&mut self) {
        let (requests, _) = bounded(1);
        drop(std::mem::replace(&mut self.requests, requests));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LogThread {
    fn drop(&mut self) {
        self.close();
    }
}

/// Batches committed together at most: bounds the work (and the latency) of one commit.
const GROUP_BATCHES_MAX: usize = 64;

fn run(
    journal: &Mutex<Journal>,
    status: &StoreStatus,
    requests: Receiver<Request>,
    outcomes: Sender<BatchOutcome>,
) {
    let mut group: Vec<EncodedBatch> = Vec::with_capacity(GROUP_BATCHES_MAX);
    let mut held: Option<Call> = None;
    loop {
        if let Some(call) = held.take() {
            answer(&mut journal.lock(), status, call);
            continue;
        }
        let idle_timeout = journal.lock().idle_timeout();
        let first = match idle_timeout {
            None => requests.recv().map_err(|_| ()),
            Some(timeout) => match requests.recv_timeout(timeout) {
                Ok(request) => Ok(request),
                Err(RecvTimeoutError::Timeout) => {
                    let mut journal = journal.lock();
                    journal.sync_if_due();
                    status.publish_wal(&journal.stats(), journal.is_failed());
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => Err(()),
            },
        };
        let Ok(first) = first else { break };
        match first {
            Request::Call(call) => {
                answer(&mut journal.lock(), status, call);
                continue;
            }
            Request::Batch(batch) => group.push(batch),
        }
        while group.len() < GROUP_BATCHES_MAX {
            match requests.try_recv() {
                Ok(Request::Batch(batch)) => group.push(batch),
                Ok(Request::Call(call)) => {
                    held = Some(call);
                    break;
                }
                Err(_) => break,
            }
        }
        let answers = {
            let mut journal = journal.lock();
            let answers = commit_group(&mut journal, &mut group);
            status.publish_wal(&journal.stats(), journal.is_failed());
            answers
        };
        for outcome in answers {
            if outcomes.send(outcome).is_err() {
                break;
            }
        }
    }
    let mut journal = journal.lock();
    journal.close();
    status.publish_wal(&journal.stats(), journal.is_failed());
}

/// Appends every record of the group and commits once. On failure, every batch of the group
/// gets it, with how many of its records were appended and the LSN up to which a rotation
/// already made records durable.
fn commit_group(journal: &mut Journal, group: &mut Vec<EncodedBatch>) -> Vec<BatchOutcome> {
    let mut appended: Vec<(Lsn, usize)> = Vec::with_capacity(group.len());
    let mut failure: Option<CommitError> = None;
    let mut sync = false;
    for batch in group.iter() {
        sync |= batch.sync;
        let mut first = Lsn::ZERO;
        let mut n_appended = 0;
        if failure.is_none() {
            for (payload, n_pushes) in batch.records() {
                match journal.append_encoded_many(payload, n_pushes) {
                    Ok(lsn) => {
                        if n_appended == 0 {
                            first = lsn;
                        }
                        n_appended += n_pushes as usize;
                    }
                    Err(error) => {
                        failure = Some(CommitError::from(error));
                        break;
                    }
                }
            }
        }
        appended.push((first, n_appended));
    }
    if failure.is_none() {
        failure = journal.commit_with(sync).err();
    }
    let committed_lsn = journal.committed_lsn();
    if failure.is_some() {
        journal.abandon();
    }
    let stats = journal.stats();
    let wal_failed = journal.is_failed();
    appended
        .into_iter()
        .zip(group.drain(..))
        .map(|((first_lsn, appended), mut buffer)| {
            buffer.clear();
            BatchOutcome {
                first_lsn,
                appended,
                failure: failure.as_ref().map(|error| BatchFailure {
                    error: error.clone(),
                    committed_lsn,
                }),
                stats,
                wal_failed,
                buffer,
            }
        })
        .collect()
}

fn answer(journal: &mut Journal, status: &StoreStatus, call: Call) {
    match call {
        Call::Control { payload, reply } => {
            let result = journal
                .append_encoded(&payload)
                .map_err(CommitError::from)
                .and_then(|lsn| journal.commit_with(true).map(|()| lsn));
            if result.is_err() {
                journal.abandon();
            }
            let failed = journal.is_failed();
            status.publish_wal(&journal.stats(), failed);
            let _ = reply.send(result.map_err(|error| (error, failed)));
        }
        Call::SyncAll { reply } => {
            let _ = reply.send(journal.snapshot_lsn());
        }
        Call::Reclaim { covered, reply } => {
            let _ = reply.send(journal.reclaim(covered));
        }
    }
}
