//! The store: owns the `Engine`, serializes every mutation through one writer thread, stamps
//! processing time from a `Clock`, and publishes the registry version and counters as atomics.
//!
//! - Mutations (`Command::{Register, Push, Reset}`) go through a bounded queue to the writer
//!   (`StoreHandle::submit`); a full queue fails fast (`SubmitError::Overloaded` ⇒ 503).
//! - Reads run on the caller's thread under the engine's read lock (`StoreHandle::read`).
//! - A reply is sent only after the writer released the lock, so every acked push is visible
//!   to the next read (read-after-write).
//! - `/ping`, TCP PING and the admin plane read `StoreStatus` atomics only: they never wait on
//!   the queue or the lock.
//!
//! - With a WAL (`StoreConfig::wal`), a push is validated, logged, group-committed (one
//!   fdatasync per batch), applied and only then acknowledged; `Store::open` replays the log.

pub mod clock;
pub mod command;
mod dedupe;
mod journal;
pub mod log_record;
mod log_thread;
pub mod read;
mod reply;
mod snapshots;
pub mod status;
mod store;
mod writer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use command::{Command, Lsn, Outcome, PushAcked, PushRefused, RegisterRefused};
pub use journal::{AckMode, OpenError, Recovery, WalConfig};
pub use reply::Ticket;
pub use snapshots::{
    load_newest_snapshot, SnapshotConfig, SnapshotRecovery, SNAPSHOT_INTERVAL_DEFAULT,
    SNAPSHOT_WAL_BYTES_DEFAULT,
};
pub use status::{RecoveryPhase, RecoveryProgress, StatusSnapshot, StoreStatus};
pub use store::{
    OpeningStore, PushValidator, ReadSession, Store, StoreConfig, StoreHandle, SubmitError,
};
