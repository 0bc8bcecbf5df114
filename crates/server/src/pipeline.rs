//! The per-connection loop shared by HTTP, framed TCP and the admin plane: one task per
//! connection, strict FIFO responses, a bounded number of requests in flight.
//!
//! Each parsed request becomes a [`Pending`] in a queue:
//! - writes (`Command`s) are submitted to the store's writer as early as ordering allows, so a
//!   pipelining client gets its pushes batched; a write never starts ahead of an earlier read or
//!   an earlier unsubmitted write. The writes parsed from one read are submitted together, as
//!   one queue entry (`StoreHandle::submit_many`);
//! - reads run when they reach the head of the queue, i.e. after every earlier write of the
//!   connection was acked and before any later one started (per-connection sequential
//!   semantics, like beava's single apply thread);
//! - responses are rendered in order into one output buffer and written with one syscall per
//!   burst.
//!
//! When the queue is full the connection stops reading (TCP backpressure). A protocol error is
//! answered after everything before it, then the connection closes.

use crate::context::Ctx;
use crate::shutdown::signalled;
use bytes::BytesMut;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use store::{Command, Outcome, SubmitError, Ticket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Initial capacity of the read and write buffers (they grow up to the body/frame limits and
/// shrink back after a large request).
const BUFFER_BYTES_INITIAL: usize = 8 * 1024;
const BUFFER_BYTES_RETAINED: usize = 64 * 1024;
/// Free capacity below which the read buffer grows before the next read.
const READ_BYTES_MIN: usize = 4 * 1024;
/// Output buffered before it is written even though more responses are ready.
const OUTPUT_FLUSH_BYTES: usize = 256 * 1024;
/// A request that started arriving must keep making progress at least this often.
const PARTIAL_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The result of a store command, handed to the renderer.
pub(crate) type CommandResult = Result<Outcome, SubmitError>;

/// Where a queued request stands.
pub(crate) enum Stage {
    /// Rendered from the request alone (errors decided at parse time, health, ping).
    Ready,
    /// A read: rendered (i.e. executed) when it reaches the head. Orders later writes.
    Read,
    /// A write waiting for its turn to be submitted.
    Unsubmitted(Command),
    /// Taken into a batch being submitted (only inside [`advance`]).
    Batching,
    Submitted(Ticket),
    Done(CommandResult),
}

/// A parsed request and its stage.
pub(crate) struct Pending<R> {
    pub(crate) request: R,
    pub(crate) stage: Stage,
}

impl<R> Pending<R> {
    pub(crate) fn ready(request: R) -> Self {
        Pending {
            request,
            stage: Stage::Ready,
        }
    }

    pub(crate) fn read(request: R) -> Self {
        Pending {
            request,
            stage: Stage::Read,
        }
    }

    pub(crate) fn write(request: R, command: Command) -> Self {
        Pending {
            request,
            stage: Stage::Unsubmitted(command),
        }
    }

    fn start(&mut self, ctx: &Ctx) {
        if let Stage::Unsubmitted(_) = self.stage {
            let Stage::Unsubmitted(command) = std::mem::replace(&mut self.stage, Stage::Ready)
            else {
                unreachable!("checked above");
            };
            self.stage = match ctx.store.submit(command) {
                Ok(ticket) => Stage::Submitted(ticket),
                Err(e) => Stage::Done(Err(e)),
            };
        }
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Stage::Submitted(ticket) = &mut self.stage {
            let result = std::task::ready!(std::pin::Pin::new(ticket).poll(cx));
            self.stage = Stage::Done(result);
        }
        Poll::Ready(())
    }

    fn into_parts(self) -> (R, Option<CommandResult>) {
        match self.stage {
            Stage::Done(result) => (self.request, Some(result)),
            _ => (self.request, None),
        }
    }
}

/// A parse step.
pub(crate) enum Parsed<R> {
    Request(Pending<R>),
    /// Need more bytes.
    Incomplete,
    /// Answer this (after everything queued), then close; nothing after it is read.
    Fatal(Pending<R>),
}

/// After rendering a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

/// What a wire protocol plugs into the loop.
pub(crate) trait Protocol: Send + 'static {
    type Request: Send;
    /// Parses the next request off the front of `input`.
    fn parse(&mut self, input: &mut BytesMut, ctx: &Ctx) -> Parsed<Self::Request>;
    /// Appends the response to `request` (with its command result, for writes) to `out`.
    fn render(
        &mut self,
        request: Self::Request,
        result: Option<CommandResult>,
        ctx: &Ctx,
        out: &mut BytesMut,
    ) -> Flow;
    /// A request has started arriving but is not complete.
    fn in_request(&self, input: &BytesMut) -> bool {
        !input.is_empty()
    }
}

/// Runs one connection to completion.
pub(crate) async fn drive<P: Protocol>(mut stream: TcpStream, mut protocol: P, ctx: Arc<Ctx>) {
    let mut shutdown = ctx.shutdown.clone();
    let depth = ctx.pipeline_depth.max(1);
    let mut input = BytesMut::with_capacity(BUFFER_BYTES_INITIAL);
    let mut out = BytesMut::with_capacity(BUFFER_BYTES_INITIAL);
    let mut queue: VecDeque<Pending<P::Request>> = VecDeque::with_capacity(depth.min(64));
    // Length of the queue's prefix that holds no read and no unsubmitted write: the writes in it
    // are with the store already. A new write is submitted at once iff it extends this prefix.
    let mut started = 0usize;
    let mut parsing = true;
    let mut eof = false;
    let mut partial_deadline: Option<Instant> = None;

    loop {
        // 1. Parse what is buffered (also after EOF: a half-closed client still gets answers).
        let mut queue_was_full = false;
        while parsing {
            if queue.len() >= depth {
                queue_was_full = true;
                break;
            }
            let (pending, fatal) = match protocol.parse(&mut input, &ctx) {
                Parsed::Request(p) => (p, false),
                Parsed::Fatal(p) => (p, true),
                Parsed::Incomplete => break,
            };
            queue.push_back(pending);
            if fatal {
                parsing = false;
            }
        }
        advance(&mut queue, &mut started, &ctx);

        // 2. Render every response that is ready at the head, in order.
        let mut close = false;
        while let Some(head) = queue.front_mut() {
            head.start(&ctx);
            if head
                .poll_ready(&mut Context::from_waker(Waker::noop()))
                .is_pending()
            {
                break;
            }
            let pending = queue.pop_front().expect("front exists");
            // A read at the head is outside the prefix (`started == 0`); anything else was in it.
            started = started.saturating_sub(1);
            let (request, result) = pending.into_parts();
            if protocol.render(request, result, &ctx, &mut out) == Flow::Close {
                close = true;
                break;
            }
            advance(&mut queue, &mut started, &ctx);
            if out.len() >= OUTPUT_FLUSH_BYTES {
                break;
            }
        }

        // 3. Write the burst.
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
            if out.capacity() > BUFFER_BYTES_RETAINED {
                out = BytesMut::with_capacity(BUFFER_BYTES_INITIAL);
            }
        }
        if close {
            break;
        }
        // More to do without waiting: a ready head (output was flushed early), or requests
        // already buffered that did not fit in the queue before.
        let ready_now = queue
            .front_mut()
            .is_some_and(|head| !matches!(head.stage, Stage::Submitted(_)));
        if ready_now || (parsing && queue_was_full && queue.len() < depth) {
            continue;
        }
        let reading = parsing && !eof;
        if queue.is_empty() && !reading {
            break;
        }
        if input.is_empty() && input.capacity() > BUFFER_BYTES_RETAINED {
            input = BytesMut::with_capacity(BUFFER_BYTES_INITIAL);
        } else if input.capacity() - input.len() < READ_BYTES_MIN {
            // `read_buf` would otherwise read into whatever sliver of capacity is left.
            input.reserve(BUFFER_BYTES_INITIAL);
        }

        // 4. Wait for the head's result, more bytes, a stalled request's deadline, or shutdown.
        let can_read = reading && queue.len() < depth;
        if can_read && protocol.in_request(&input) {
            partial_deadline.get_or_insert_with(|| Instant::now() + PARTIAL_REQUEST_TIMEOUT);
        } else {
            partial_deadline = None;
        }
        let deadline = partial_deadline;
        tokio::select! {
            () = head_ready(&mut queue), if !queue.is_empty() => {}
            read = stream.read_buf(&mut input), if can_read => match read {
                Ok(0) => eof = true,
                Ok(_) => partial_deadline = None,
                Err(_) => return,
            },
            () = sleep_until_opt(deadline), if deadline.is_some() => {
                // A request stalled mid-way: give up on it (and on the connection).
                parsing = false;
                input.clear();
            }
            () = signalled(&mut shutdown), if reading => {
                parsing = false;
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// Extends the started prefix: submits every write after it up to the first read (a read
/// waits for the head; the writes behind it wait for the read), several as one batch.
fn advance<R>(queue: &mut VecDeque<Pending<R>>, started: &mut usize, ctx: &Ctx) {
    let first = *started;
    let mut n_writes = 0;
    while let Some(pending) = queue.get(*started) {
        match pending.stage {
            Stage::Read => break,
            Stage::Unsubmitted(_) => n_writes += 1,
            _ => {}
        }
        *started += 1;
    }
    let prefix = queue.range_mut(first..*started);
    if n_writes < 2 {
        prefix.for_each(|pending| pending.start(ctx));
        return;
    }
    let mut commands = Vec::with_capacity(n_writes);
    let mut batched = Vec::with_capacity(n_writes);
    for pending in prefix {
        if let Stage::Unsubmitted(_) = pending.stage {
            let Stage::Unsubmitted(command) =
                std::mem::replace(&mut pending.stage, Stage::Batching)
            else {
                unreachable!("checked above");
            };
            commands.push(command);
            batched.push(pending);
        }
    }
    let mut batched = batched.into_iter();
    match ctx.store.submit_many(commands) {
        Ok(tickets) => {
            // (Tickets first: `zip` would take a pending past the last ticket.)
            for ticket in tickets {
                let pending = batched
                    .next()
                    .expect("a ticket per submitted command at most");
                pending.stage = Stage::Submitted(ticket);
            }
            // The queue had room for only the first ones.
            for pending in batched {
                pending.stage = Stage::Done(Err(SubmitError::Overloaded));
            }
        }
        Err(error) => {
            for pending in batched {
                pending.stage = Stage::Done(Err(error));
            }
        }
    }
}

async fn head_ready<R>(queue: &mut VecDeque<Pending<R>>) {
    poll_fn(|cx| match queue.front_mut() {
        Some(head) => head.poll_ready(cx),
        None => Poll::Ready(()),
    })
    .await
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
