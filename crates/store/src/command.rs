//! The store's state machine: the closed set of mutations (`Command`) and what each one yields
//! (`Outcome`). Everything that changes the engine goes through [`execute`], on the writer.
//!
//! This is also the unit a WAL will log: commands are plain data (no reply channels), and
//! replaying the logged commands through `execute` with their logged timestamps rebuilds the
//! same state.

use compact_str::CompactString;
use engine::{Engine, RegisterOutcome, ValidatedPush};
use model::{PushError, RegisterError, TimestampMs, Value};

/// A log sequence number: position of an accepted push in the order the writer applied it.
/// Monotonic from 1; today in-memory only, the WAL will make it durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

/// One mutation of the engine.
#[derive(Clone, Debug)]
pub enum Command {
    /// A raw `/register` body.
    Register(serde_json::Value),
    /// A decoded push; validated by the writer against the registry of the moment.
    Push { event: CompactString, fields: Value },
    /// `/push-sync`, TCP PUSH_SYNC: a push acknowledged only after fdatasync even in relaxed
    /// ack mode (in durable mode every push already is).
    PushSync { event: CompactString, fields: Value },
    /// A push (`sync`: a `PushSync`) already validated by the I/O thread that decoded it
    /// (decision 0029); the writer checks it was validated against the current registry.
    Prevalidated {
        push: engine::PrevalidatedPush,
        sync: bool,
    },
    /// Test-mode reset (the server checks test mode before sending it).
    Reset,
}

/// What a push acknowledgement carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushAcked {
    pub lsn: Lsn,
    pub registry_version: u64,
    /// A repeat of an acknowledged push (`dedupe_key`): `lsn` and `registry_version` are the
    /// first one's, and nothing was logged or applied (decision 0023).
    pub replay: bool,
}

/// A push the engine refused; nothing was applied (or logged).
#[derive(Clone, Debug, PartialEq)]
pub struct PushRefused {
    pub error: PushError,
    pub registry_version: u64,
}

/// A register the engine refused; the registry is unchanged.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisterRefused {
    pub error: RegisterError,
    pub registry_version: u64,
}

/// The result of one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Register(Result<RegisterOutcome, RegisterRefused>),
    Push(Result<PushAcked, PushRefused>),
    Reset {
        registry_version: u64,
    },
    /// The engine panicked on this command (a bug); the writer survived it.
    Failed {
        reason: String,
    },
}

/// The writer's mutable position in the command sequence.
#[derive(Debug, Default)]
pub struct Sequence {
    pub last_lsn: u64,
}

/// Applies one command at processing time `now_ms`.
///
/// The write path of a push, step by step:
/// 1. **validate** against the event schema (`engine.validate_push`); a refusal changes nothing;
/// 2. **log** — the seam for the WAL: the validated push gets its LSN here; the WAL issue
///    appends it to the current group-commit batch at this point;
/// 3. **apply** to every table fed by the event;
/// 4. **ack** — the caller sends the reply only after releasing the engine lock (and, with the
///    WAL, only after the batch holding the LSN is fsynced), so every acked push is visible to
///    the next read.
pub fn execute(
    engine: &mut Engine,
    seq: &mut Sequence,
    command: Command,
    now_ms: TimestampMs,
) -> Outcome {
    match command {
        Command::Push { .. } | Command::PushSync { .. } | Command::Prevalidated { .. } => {
            let validated = match validate(engine, command) {
                Ok(validated) => validated,
                Err(error) => {
                    return Outcome::Push(Err(PushRefused {
                        error,
                        registry_version: engine.registry_version(),
                    }))
                }
            };
            seq.last_lsn += 1;
            let lsn = Lsn(seq.last_lsn);
            engine.apply(&validated, now_ms);
            Outcome::Push(Ok(PushAcked {
                lsn,
                registry_version: engine.registry_version(),
                replay: false,
            }))
        }
        Command::Register(body) => {
            Outcome::Register(engine.register(&body).map_err(|error| RegisterRefused {
                error,
                registry_version: engine.registry_version(),
            }))
        }
        Command::Reset => {
            engine.reset();
            Outcome::Reset {
                registry_version: engine.registry_version(),
            }
        }
    }
}

impl Command {
    /// A push of any form (`Push`, `PushSync`, `Prevalidated`).
    pub fn is_push(&self) -> bool {
        matches!(
            self,
            Command::Push { .. } | Command::PushSync { .. } | Command::Prevalidated { .. }
        )
    }

    /// A push acknowledged only once fsynced, whatever the ack mode.
    pub fn is_sync_push(&self) -> bool {
        matches!(
            self,
            Command::PushSync { .. } | Command::Prevalidated { sync: true, .. }
        )
    }
}

/// Validates a push command against the engine's registry.
///
/// # Panics
/// If `command` is not a push.
pub(crate) fn validate(engine: &Engine, command: Command) -> Result<ValidatedPush, PushError> {
    match command {
        Command::Push { event, fields } | Command::PushSync { event, fields } => {
            engine.validate_push_owned(&event, fields)
        }
        Command::Prevalidated { push, .. } => engine.accept_prevalidated(push),
        Command::Register(_) | Command::Reset => unreachable!("not a push"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{Lsn, Outcome, PushAcked};

    /// A push acknowledged at `lsn` (registry version 1), for the store's unit tests.
    pub(crate) fn acked(lsn: u64) -> Outcome {
        Outcome::Push(Ok(PushAcked {
            lsn: Lsn(lsn),
            registry_version: 1,
            replay: false,
        }))
    }
}
