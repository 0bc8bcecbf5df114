//! How the writer answers submitted commands.
//!
//! A command submitted alone (`StoreHandle::submit`) gets a one-shot channel. Commands submitted
//! together (`StoreHandle::submit_many`: the writes a pipelining connection parsed from one
//! read) share one [`BatchSlot`]: one queue entry, one allocation and, per writer turn, one lock
//! and one wake-up for the whole batch, where a channel per command cost an allocation, a queue
//! entry, several atomic operations and a wake-up check each (~5 % of the server's CPU at TCP
//! 8×256, decision 0019).
//!
//! Every ticket of a batch must be awaited by the same task (the connection's): the slot keeps
//! one waker.

use crate::command::Outcome;
use crate::store::SubmitError;
use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use tokio::sync::oneshot;

/// Where the writer delivers one command's outcome.
#[derive(Debug)]
pub(crate) enum Reply {
    One(oneshot::Sender<Outcome>),
    Batch(BatchReply),
}

/// The outcomes of a batch of commands, filled by the writer in any order, taken by the tickets.
#[derive(Debug)]
pub(crate) struct BatchSlot {
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    entries: Vec<Entry>,
    waker: Option<Waker>,
}

#[derive(Debug)]
enum Entry {
    Waiting,
    Done(Outcome),
    /// The writer dropped the command without an answer (it stopped).
    Dropped,
    /// The ticket took the outcome.
    Taken,
}

impl BatchSlot {
    pub(crate) fn new(len: usize) -> Arc<BatchSlot> {
        let entries = std::iter::repeat_with(|| Entry::Waiting)
            .take(len)
            .collect();
        Arc::new(BatchSlot {
            state: Mutex::new(SlotState {
                entries,
                waker: None,
            }),
        })
    }

    /// Changes entries under the lock, then wakes the waiting ticket (after unlocking).
    fn update(&self, change: impl FnOnce(&mut [Entry])) {
        let waker = {
            let mut state = self.state.lock();
            change(&mut state.entries);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The writer's handle on a whole batch while it waits in the queue. Dropped there (the writer
/// stopped first), it answers every ticket with `Stopped`.
#[derive(Debug)]
pub(crate) struct QueuedBatch {
    /// `None` once split into per-command replies.
    slot: Option<Arc<BatchSlot>>,
}

impl QueuedBatch {
    pub(crate) fn new(slot: Arc<BatchSlot>) -> QueuedBatch {
        QueuedBatch { slot: Some(slot) }
    }

    /// One reply per command, in order.
    pub(crate) fn split(mut self, len: usize) -> impl Iterator<Item = Reply> {
        let slot = self.slot.take().expect("split once");
        (0..len).map(move |index| Reply::Batch(BatchReply::new(Arc::clone(&slot), index)))
    }
}

impl Drop for QueuedBatch {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.update(|entries| {
                for entry in entries.iter_mut().filter(|e| matches!(e, Entry::Waiting)) {
                    *entry = Entry::Dropped;
                }
            });
        }
    }
}

/// The writer's handle on one entry of a batch. Dropping it unanswered (the writer stopped, or
/// its queue was dropped) answers the ticket with `Stopped`, as a dropped one-shot sender does.
#[derive(Debug)]
pub(crate) struct BatchReply {
    /// `None` once answered.
    slot: Option<Arc<BatchSlot>>,
    index: usize,
}

impl BatchReply {
    pub(crate) fn new(slot: Arc<BatchSlot>, index: usize) -> BatchReply {
        BatchReply {
            slot: Some(slot),
            index,
        }
    }
}

impl Drop for BatchReply {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.update(|entries| entries[self.index] = Entry::Dropped);
        }
    }
}

/// Sends every reply (a submitter that went away is fine), emptying `replies`. Consecutive
/// replies into one batch are filled under one lock and woken once.
pub(crate) fn deliver(replies: &mut Vec<(Reply, Outcome)>) {
    let mut replies = replies.drain(..).peekable();
    while let Some((reply, outcome)) = replies.next() {
        let mut batch = match reply {
            Reply::One(sender) => {
                let _ = sender.send(outcome);
                continue;
            }
            Reply::Batch(batch) => batch,
        };
        let slot = batch.slot.take().expect("a reply is answered once");
        slot.update(|entries| {
            entries[batch.index] = Entry::Done(outcome);
            while let Some((Reply::Batch(next), _)) = replies.peek() {
                if !next.slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                    break;
                }
                let Some((Reply::Batch(mut next), outcome)) = replies.next() else {
                    unreachable!("peeked a batch reply");
                };
                next.slot = None;
                entries[next.index] = Entry::Done(outcome);
            }
        });
    }
}

/// The pending reply to a submitted command. Resolves to `Err(Stopped)` if the store shut down
/// before executing it.
#[derive(Debug)]
pub struct Ticket(TicketKind);

#[derive(Debug)]
enum TicketKind {
    One(oneshot::Receiver<Outcome>),
    Batch { slot: Arc<BatchSlot>, index: usize },
}

impl Ticket {
    pub(crate) fn one(receiver: oneshot::Receiver<Outcome>) -> Ticket {
        Ticket(TicketKind::One(receiver))
    }

    pub(crate) fn batch(slot: Arc<BatchSlot>, index: usize) -> Ticket {
        Ticket(TicketKind::Batch { slot, index })
    }

    /// Waits on the current thread (tests and non-async callers).
    pub fn wait(self) -> Result<Outcome, SubmitError> {
        match self.0 {
            TicketKind::One(receiver) => receiver.blocking_recv().map_err(|_| SubmitError::Stopped),
            TicketKind::Batch { .. } => {
                let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
                let mut cx = Context::from_waker(&waker);
                let mut ticket = self;
                loop {
                    if let Poll::Ready(result) = Pin::new(&mut ticket).poll(&mut cx) {
                        return result;
                    }
                    std::thread::park();
                }
            }
        }
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

impl Future for Ticket {
    type Output = Result<Outcome, SubmitError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            TicketKind::One(receiver) => Pin::new(receiver)
                .poll(cx)
                .map(|r| r.map_err(|_| SubmitError::Stopped)),
            TicketKind::Batch { slot, index } => {
                let mut state = slot.state.lock();
                match std::mem::replace(&mut state.entries[*index], Entry::Taken) {
                    Entry::Done(outcome) => Poll::Ready(Ok(outcome)),
                    Entry::Dropped | Entry::Taken => Poll::Ready(Err(SubmitError::Stopped)),
                    Entry::Waiting => {
                        state.entries[*index] = Entry::Waiting;
                        // Registered under the lock the writer fills under: no lost wake-up.
                        match &state.waker {
                            Some(waker) if waker.will_wake(cx.waker()) => {}
                            _ => state.waker = Some(cx.waker().clone()),
                        }
                        Poll::Pending
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::tests::acked;

    #[test]
    fn batch_outcomes_reach_their_tickets_in_any_order() {
        let slot = BatchSlot::new(4);
        let tickets: Vec<Ticket> = (0..4)
            .map(|i| Ticket::batch(Arc::clone(&slot), i))
            .collect();
        let mut replies: Vec<(Reply, Outcome)> = [2usize, 0, 1]
            .into_iter()
            .map(|i| {
                let reply = Reply::Batch(BatchReply::new(Arc::clone(&slot), i));
                (reply, acked(i as u64 + 10))
            })
            .collect();
        let (sender, receiver) = oneshot::channel();
        replies.insert(1, (Reply::One(sender), acked(99)));
        deliver(&mut replies);
        assert!(replies.is_empty());
        assert_eq!(receiver.blocking_recv().unwrap(), acked(99));
        // Entry 3 is never answered: its writer-side reply is dropped.
        drop(BatchReply::new(Arc::clone(&slot), 3));
        let outcomes: Vec<_> = tickets.into_iter().map(Ticket::wait).collect();
        assert_eq!(
            outcomes,
            vec![
                Ok(acked(10)),
                Ok(acked(11)),
                Ok(acked(12)),
                Err(SubmitError::Stopped)
            ]
        );
    }

    #[test]
    fn a_batch_dropped_in_the_queue_answers_stopped() {
        let slot = BatchSlot::new(3);
        let tickets: Vec<Ticket> = (0..3)
            .map(|i| Ticket::batch(Arc::clone(&slot), i))
            .collect();
        drop(QueuedBatch::new(slot));
        for ticket in tickets {
            assert_eq!(ticket.wait(), Err(SubmitError::Stopped));
        }
    }

    #[test]
    fn a_waiting_ticket_is_woken_by_a_delivery_from_another_thread() {
        let slot = BatchSlot::new(2);
        let first = Ticket::batch(Arc::clone(&slot), 0);
        let second = Ticket::batch(Arc::clone(&slot), 1);
        let writer_slot = Arc::clone(&slot);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let mut replies = vec![
                (
                    Reply::Batch(BatchReply::new(Arc::clone(&writer_slot), 1)),
                    acked(2),
                ),
                (Reply::Batch(BatchReply::new(writer_slot, 0)), acked(1)),
            ];
            deliver(&mut replies);
        });
        assert_eq!(first.wait(), Ok(acked(1)));
        assert_eq!(second.wait(), Ok(acked(2)));
        writer.join().unwrap();
    }
}
