//! Hazard: the store acknowledges a push that a crash then loses, applies a push it refused, keeps
//! acknowledging after an fsync failed, turns a full disk into corruption or a permanent outage,
//! or warns forever about a logged record it cannot apply (durability.md §1.1, §1.4, §1.5, §2.6).
//! The store runs on the fault-injecting `SimDisk` with a `ManualClock`; every push goes through
//! `StoreHandle::submit(..).wait()`, exactly as a connection's would.
//!
//! - ENOSPC on a WAL write ⇒ `storage_full` (503), nothing applied, not ready; ingest resumes
//!   by itself once space returns; a restart shows exactly the acknowledged pushes.
//! - fsync EIO (file or directory) ⇒ fail-stop: that push and every later one is refused with
//!   `wal_unavailable`, readiness is false for good, reads are still served.
//! - Seeded crash simulation: every incarnation of the "process" dies at a random IO call (the
//!   `SimDisk` drops unsynced bytes, or keeps a torn prefix, or torn sectors), possibly during
//!   recovery itself; after every reopen each per-key `count`/`sum` is exactly that of a prefix
//!   of the pushes sent, containing every acknowledged one; the registry survives.
//!   A failing seed reproduces with `STORE_CRASH_SEED=<seed>`; `STORE_CRASH_SEEDS=<n>` runs more.
//! - An intact record that cannot be applied is quarantined once, and skipped silently later.

use compact_str::CompactString;
use engine::{ReadTime, ValidatedPush};
use model::Value;
use persist::{
    CrashMode, Disk, DiskFile, Fault, FaultKind, FileDisk, Lsn, SimDisk, Site, SplitMix, Wal,
    WalOptions,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use store::{
    AckMode, Command, ManualClock, OpenError, Outcome, Recovery, Store, StoreConfig, WalConfig,
};

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

/// Events `E0..=E{n}` (k: str, x: i64, pad: str), each feeding table `T{i}` keyed by `k` with
/// `c{i} = count` and `s{i} = sum(x)` (feature names are global). A register body is the whole
/// registry (a node left out would be a removal, which needs `force`).
fn registration(n: u32) -> serde_json::Value {
    let mut nodes = Vec::new();
    for i in 0..=n {
        let event = format!("E{i}");
        nodes.push(json!({"kind": "event", "name": event,
            "schema": {"fields": {"k": "str", "x": "i64", "pad": "str"}, "optional_fields": []}}));
        nodes.push(
            json!({"kind": "derivation", "name": format!("T{i}"), "output_kind": "table",
            "upstreams": [event],
            "ops": [{"op": "group_by", "keys": ["k"], "agg": {
                format!("c{i}"): {"op": "count", "params": {}},
                format!("s{i}"): {"op": "sum", "params": {"field": "x"}}}}],
            "table_primary_key": ["k"]}),
        );
    }
    json!({ "nodes": nodes })
}

fn push(n: u32, key: &str, x: i64, pad_len: usize) -> Command {
    Command::Push {
        event: CompactString::from(format!("E{n}")),
        fields: Value::Map(vec![
            ("k".into(), Value::str(key)),
            ("x".into(), Value::I64(x)),
            ("pad".into(), Value::str(&"p".repeat(pad_len))),
        ]),
    }
}

fn config(disk: Arc<dyn Disk>, dir: &Path, segment_bytes_target: u64) -> StoreConfig {
    StoreConfig {
        wal: Some(WalConfig {
            disk,
            dir: dir.to_path_buf(),
            options: WalOptions {
                segment_bytes_target,
                ..WalOptions::default()
            },
            ack: AckMode::Durable,
        }),
        ..StoreConfig::default()
    }
}

fn open(disk: Arc<dyn Disk>, dir: &Path, segment_bytes_target: u64) -> (Store, Recovery) {
    let (store, recovery) = Store::open(
        config(disk, dir, segment_bytes_target),
        Arc::new(ManualClock::new(1_000_000)),
    )
    .unwrap_or_else(|e| panic!("store did not open: {e}"));
    (
        store,
        recovery.expect("a store with a WAL reports its recovery"),
    )
}

fn submit(store: &Store, command: Command) -> Outcome {
    store
        .handle()
        .submit(command)
        .expect("queue accepts")
        .wait()
        .expect("store running")
}

fn register(store: &Store, n: u32) {
    let outcome = submit(store, Command::Register(registration(n)));
    assert!(matches!(outcome, Outcome::Register(Ok(_))), "{outcome:?}");
}

/// Pushes one event and returns `Ok(())` if acked, else the refusal code.
fn push_one(store: &Store, n: u32, key: &str, x: i64) -> Result<(), &'static str> {
    match submit(store, push(n, key, x, 8)) {
        Outcome::Push(Ok(_)) => Ok(()),
        Outcome::Push(Err(refused)) => {
            assert_eq!(
                refused.error.http_status(),
                503,
                "durability refusals are 503: {refused:?}"
            );
            Err(refused.error.code)
        }
        other => panic!("unexpected outcome {other:?}"),
    }
}

/// `(count, sum)` of `T{n}[key]`; `None` if the table is not registered; `(0, 0)` for a key
/// never seen.
fn read(store: &Store, n: u32, key: &str) -> Option<(i64, i64)> {
    let row = store
        .handle()
        .read(|e| e.get(&format!("T{n}"), key, None, ReadTime::Watermark))
        .ok()?;
    let Value::Map(members) = row else {
        panic!("row is not a map: {row:?}")
    };
    let mut count = 0;
    let mut sum = 0;
    for (name, value) in members {
        let number = match value {
            Value::I64(v) => v,
            // Sums are floats on the wire; ours are small integers, exactly representable.
            Value::F64(v) => v as i64,
            other => panic!("{name} = {other:?}"),
        };
        match name.as_str().split_at(1) {
            ("c", _) => count = number,
            ("s", _) => sum = number,
            _ => panic!("unexpected feature {name}"),
        }
    }
    Some((count, sum))
}

fn count(store: &Store, key: &str) -> i64 {
    read(store, 0, key).expect("T0 registered").0
}

fn dir() -> PathBuf {
    // `SimDisk` paths are in-memory; a real temp path keeps anything that would bypass `Disk`
    // out of the real root.
    std::env::temp_dir().join(format!("weir-store-durability-{}", std::process::id()))
}

/// Appends push records to the WAL in `dir` behind the store's back (the store is shut down), as
/// a schema removal, a bug or a long-running writer would leave them; returns their LSNs.
fn append_pushes(disk: &Arc<dyn Disk>, dir: &Path, pushes: &[(i64, &ValidatedPush)]) -> Vec<Lsn> {
    let (mut wal, _) = Wal::open(
        Arc::clone(disk),
        dir,
        WalOptions::default(),
        Lsn::FIRST,
        |_, _, _| {},
    )
    .unwrap();
    let lsns = pushes
        .iter()
        .map(|(now_ms, push)| {
            let mut bytes = Vec::new();
            store::log_record::encode_push(&mut bytes, *now_ms, push);
            wal.append(&bytes).unwrap()
        })
        .collect();
    wal.sync().unwrap();
    lsns
}

// ------------------------------------------------------------------------------------------------
// (a) ENOSPC: backpressure, never corruption, never a permanent outage
// ------------------------------------------------------------------------------------------------

/// How the disk fills up.
#[derive(Clone, Copy, Debug)]
enum Full {
    /// A capacity limit: the write lands partly, then ENOSPC (the WAL must roll it back).
    Capacity,
    /// Every write fails with ENOSPC.
    WriteFault,
}

fn disk_full_is_backpressure(full: Full) {
    let disk = SimDisk::new();
    let dir = dir().join(format!("{full:?}"));
    let (store, _) = open(Arc::new(disk.clone()), &dir, 64 * 1024 * 1024);
    register(&store, 0);
    for x in 1..=5 {
        push_one(&store, 0, "a", x).unwrap();
    }
    assert!(store.handle().status().ready());

    match full {
        Full::Capacity => {
            let used: u64 = disk
                .list_dir(&dir)
                .unwrap()
                .iter()
                .map(|name| disk.file_len(&dir.join(name)).unwrap())
                .sum();
            // Room for part of one record only.
            disk.set_capacity(Some(used + 10));
        }
        Full::WriteFault => disk.inject(Fault::new(Site::Write, FaultKind::Enospc)),
    }
    for x in 0..4 {
        assert_eq!(
            push_one(&store, 0, "a", 100 + x),
            Err("storage_full"),
            "{full:?}"
        );
        assert_eq!(count(&store, "a"), 5, "a refused push is not applied");
        assert_eq!(read(&store, 0, "a"), Some((5, 15)));
    }
    let status = Arc::clone(store.handle().status());
    assert!(!status.ready(), "disk full ⇒ not ready");
    assert!(status.writer_running(), "liveness does not depend on disk");
    let snapshot = status.snapshot();
    assert!(
        snapshot.storage_full && !snapshot.wal_failed,
        "{snapshot:?}"
    );
    assert_eq!(read(&store, 0, "b"), Some((0, 0)), "reads are still served");

    // Space returns: ingest resumes without a restart.
    disk.set_capacity(None);
    disk.clear_faults();
    push_one(&store, 0, "a", 6).unwrap();
    assert!(status.ready(), "ready again once a write succeeded");
    assert!(!status.snapshot().storage_full);
    assert_eq!(read(&store, 0, "a"), Some((6, 21)));
    store.shutdown();

    // What is on disk is exactly what was acked: no half-written or refused record.
    let report = persist::tools::verify(&disk, &dir).unwrap();
    assert_eq!(report.health, persist::tools::Health::Clean, "{report:?}");
    for mode in [None, Some(CrashMode::DropUnsynced)] {
        if let Some(mode) = mode {
            disk.crash(mode);
        }
        let (store, recovery) = open(Arc::new(disk.clone()), &dir, 64 * 1024 * 1024);
        assert_eq!(recovery.wal.n_torn_tails_repaired, 0);
        assert_eq!(
            read(&store, 0, "a"),
            Some((6, 21)),
            "after restart ({mode:?})"
        );
        store.shutdown();
    }
}

#[test]
fn enospc_from_a_full_disk_is_backpressure() {
    disk_full_is_backpressure(Full::Capacity);
}

#[test]
fn enospc_on_every_write_is_backpressure() {
    disk_full_is_backpressure(Full::WriteFault);
}

/// The disk fills up exactly when the active segment is full and the next one must be created
/// (the moment a growing log is most likely to hit ENOSPC).
#[test]
fn enospc_during_rotation_is_backpressure() {
    let disk = SimDisk::new();
    let dir = dir().join("rotation-enospc");
    let (store, _) = open(Arc::new(disk.clone()), &dir, 4096);
    register(&store, 0);
    // Only a rotation opens a file once the WAL is open.
    disk.inject(Fault::new(Site::Open, FaultKind::Enospc));
    let mut acked = 0;
    let refusal = loop {
        match push_one(&store, 0, "a", 1) {
            Ok(()) => acked += 1,
            Err(code) => break code,
        }
        assert!(acked < 1_000, "no rotation happened");
    };
    assert_eq!(
        refusal, "storage_full",
        "ENOSPC is storage_full, not fail-stop"
    );
    assert_eq!(count(&store, "a"), acked);
    assert!(!store.handle().status().ready());
    disk.clear_faults();
    push_one(&store, 0, "a", 1).unwrap();
    assert!(
        store.handle().status().ready(),
        "ingest resumed, readiness must follow: {:?}",
        store.handle().status().snapshot()
    );
    assert_eq!(count(&store, "a"), acked + 1);
    store.shutdown();
    let (store, _) = open(Arc::new(disk), &dir, 4096);
    assert_eq!(count(&store, "a"), acked + 1);
}

// ------------------------------------------------------------------------------------------------
// (b) fsync failure: fail-stop
// ------------------------------------------------------------------------------------------------

fn fsync_failure_is_fail_stop(site: Site) {
    let disk = SimDisk::new();
    let dir = dir().join(format!("fail-stop-{site:?}"));
    // Directory fsyncs happen at rotation: small segments make one come soon.
    let (store, _) = open(Arc::new(disk.clone()), &dir, 4096);
    register(&store, 0);
    for x in 1..=3 {
        push_one(&store, 0, "a", x).unwrap();
    }
    // Fires once: the disk "recovers" at once, yet nothing may be retried (fsyncgate).
    disk.inject(Fault::new(site, FaultKind::Eio).times(1));
    let mut acked = 3;
    let mut sent = 3;
    loop {
        sent += 1;
        match push_one(&store, 0, "a", 1) {
            Ok(()) => acked += 1,
            Err(code) => {
                assert_eq!(code, "wal_unavailable", "{site:?}");
                break;
            }
        }
        assert!(acked < 1_000, "the {site:?} fault never fired");
    }
    let status = Arc::clone(store.handle().status());
    assert!(!status.ready());
    assert!(status.snapshot().wal_failed);
    assert!(status.writer_running(), "liveness stays up");
    for x in 0..5 {
        sent += 1;
        assert_eq!(
            push_one(&store, 0, "a", x),
            Err("wal_unavailable"),
            "no push is acked after a failed fsync"
        );
    }
    let outcome = submit(&store, Command::Register(registration(1)));
    assert!(
        matches!(&outcome, Outcome::Register(Err(r)) if r.error.code == "wal_unavailable"),
        "{outcome:?}"
    );
    assert!(!status.ready(), "fail-stop is for good");
    assert_eq!(count(&store, "a"), acked, "reads are still served");
    assert!(
        read(&store, 1, "a").is_none(),
        "the refused register did nothing"
    );
    store.shutdown();

    // A restart recovers the on-disk truth: a clean process restart may find the bytes whose
    // fsync failed in the page cache (acked ≤ recovered ≤ sent); a power loss drops them.
    let (store, _) = open(Arc::new(disk.clone()), &dir, 4096);
    assert!(store.handle().status().ready());
    let recovered = count(&store, "a");
    assert!(
        (acked..=sent).contains(&recovered),
        "{site:?}: acked {acked} ≤ recovered {recovered} ≤ sent {sent}"
    );
    push_one(&store, 0, "a", 1).expect("a restarted store ingests");
    store.shutdown();
}

#[test]
fn fsync_eio_is_fail_stop() {
    fsync_failure_is_fail_stop(Site::Fsync);
}

#[test]
fn directory_fsync_eio_at_rotation_is_fail_stop() {
    fsync_failure_is_fail_stop(Site::SyncDir);
}

#[test]
fn after_fsync_eio_a_power_loss_keeps_exactly_the_acked_pushes() {
    let disk = SimDisk::new();
    let dir = dir().join("fail-stop-crash");
    let (store, _) = open(Arc::new(disk.clone()), &dir, 64 * 1024 * 1024);
    register(&store, 0);
    for x in 1..=4 {
        push_one(&store, 0, "a", x).unwrap();
    }
    disk.inject(Fault::new(Site::Fsync, FaultKind::Eio).times(1));
    assert_eq!(push_one(&store, 0, "a", 50), Err("wal_unavailable"));
    assert_eq!(push_one(&store, 0, "a", 60), Err("wal_unavailable"));
    disk.crash(CrashMode::DropUnsynced);
    store.shutdown();
    let (store, recovery) = open(Arc::new(disk), &dir, 64 * 1024 * 1024);
    assert_eq!(recovery.records_quarantined, 0);
    assert_eq!(read(&store, 0, "a"), Some((4, 10)));
}

/// A `SimDisk` whose next fsync can be held until the test releases it, so a batch can be made
/// to queue up behind it deterministically.
#[derive(Debug, Clone)]
struct HeldFsyncDisk {
    sim: SimDisk,
    gate: Arc<(parking_lot::Mutex<HoldState>, parking_lot::Condvar)>,
}

#[derive(Debug, Default)]
struct HoldState {
    armed: bool,
    entered: bool,
    released: bool,
}

#[derive(Debug)]
struct HeldFsyncFile {
    inner: Box<dyn DiskFile>,
    gate: Arc<(parking_lot::Mutex<HoldState>, parking_lot::Condvar)>,
}

impl HeldFsyncDisk {
    fn arm(&self) {
        *self.gate.0.lock() = HoldState {
            armed: true,
            ..HoldState::default()
        };
    }
    fn wait_entered(&self) {
        let (lock, condvar) = &*self.gate;
        let mut state = lock.lock();
        while !state.entered {
            condvar.wait(&mut state);
        }
    }
    fn release(&self) {
        let (lock, condvar) = &*self.gate;
        lock.lock().released = true;
        condvar.notify_all();
    }
    fn wrap(&self, inner: Box<dyn DiskFile>) -> Box<dyn DiskFile> {
        Box::new(HeldFsyncFile {
            inner,
            gate: Arc::clone(&self.gate),
        })
    }
}

impl Disk for HeldFsyncDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.sim.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.sim.list_dir(dir)
    }
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.sim.read_file(path)
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.sim.file_len(path)
    }
    fn create_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        Ok(self.wrap(self.sim.create_file(path)?))
    }
    fn open_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        Ok(self.wrap(self.sim.open_file(path)?))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.sim.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.sim.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.sim.sync_dir(dir)
    }
}

impl DiskFile for HeldFsyncFile {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        self.inner.write_at(offset, bytes)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        {
            let (lock, condvar) = &*self.gate;
            let mut state = lock.lock();
            if state.armed {
                state.armed = false;
                state.entered = true;
                condvar.notify_all();
                while !state.released {
                    condvar.wait(&mut state);
                }
            }
        }
        self.inner.sync_data()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
}

/// A batch of pushes that queued up while the fsync that fails was running: every one of them
/// must be answered `wal_unavailable` (a dropped reply reaches the client as "503 unavailable:
/// the server is shutting down", which is not what happened).
#[test]
fn every_push_of_a_batch_gets_an_answer_after_fail_stop() {
    let sim = SimDisk::new();
    let disk = HeldFsyncDisk {
        sim: sim.clone(),
        gate: Arc::default(),
    };
    let dir = dir().join("batch-after-fail-stop");
    let (store, _) = open(Arc::new(disk.clone()), &dir, 64 * 1024 * 1024);
    register(&store, 0);
    push_one(&store, 0, "a", 1).unwrap();

    disk.arm();
    sim.inject(Fault::new(Site::Fsync, FaultKind::Eio).times(1));
    let first = store.handle().submit(push(0, "a", 2, 0)).unwrap();
    disk.wait_entered();
    // These queue behind the held fsync and form the writer's next batch.
    let queued: Vec<_> = (0..5)
        .map(|x| store.handle().submit(push(0, "b", x, 0)).unwrap())
        .collect();
    disk.release();
    let first = first.wait().unwrap();
    assert!(
        matches!(&first, Outcome::Push(Err(r)) if r.error.code == "wal_unavailable"),
        "{first:?}"
    );
    for (i, ticket) in queued.into_iter().enumerate() {
        let outcome = ticket.wait();
        assert!(
            matches!(&outcome, Ok(Outcome::Push(Err(r))) if r.error.code == "wal_unavailable"),
            "queued push {i}: {outcome:?}"
        );
    }
    assert_eq!(count(&store, "a"), 1);
    assert_eq!(count(&store, "b"), 0);
}

/// A batch whose second push needs a new segment, and the segment cannot be created (ENOSPC):
/// the rotation first writes and fsyncs the batch's first push into the old segment, then the
/// writer refuses both pushes and applies neither. The first is nevertheless in the log, so a
/// plain restart applies a push its client was told was refused, and until then the running
/// state and the log disagree. Whatever the answer, the state before and after a clean restart
/// must be the same.
#[test]
fn a_push_refused_at_a_failed_rotation_does_not_come_back_after_restart() {
    let sim = SimDisk::new();
    let disk = HeldFsyncDisk {
        sim: sim.clone(),
        gate: Arc::default(),
    };
    let dir = dir().join("refused-then-resurrected");
    let target = 4096u64;
    let (store, _) = open(Arc::new(disk.clone()), &dir, target);
    register(&store, 0);
    let segment = dir.join("00000000000000000001.wal");
    let len = || sim.file(&segment).unwrap().len() as u64;
    while target - len() > 400 {
        push_one(&store, 0, "a", 1).unwrap();
    }
    let before = len();
    push_one(&store, 0, "a", 1).unwrap();
    let small = len() - before; // a record with an empty pad
                                // A held push that leaves room for exactly one more small record (a pad of 32..=255 bytes
                                // is a msgpack str8: one header byte more than an empty pad).
    let room = target - len();
    let pad = usize::try_from(room - small - small / 2 - small - 1).unwrap();
    assert!((32..=255).contains(&pad), "pad {pad}");
    disk.arm();
    let held = store.handle().submit(push(0, "a", 1, pad)).unwrap();
    disk.wait_entered();
    sim.inject(Fault::new(Site::Open, FaultKind::Enospc));
    let fits = store.handle().submit(push(0, "b", 1, 0)).unwrap();
    let rotates = store.handle().submit(push(0, "b", 1, 0)).unwrap();
    disk.release();
    assert!(matches!(held.wait(), Ok(Outcome::Push(Ok(_)))));
    let fits = fits.wait().unwrap();
    let rotates = rotates.wait().unwrap();
    let room_left = target - len();
    assert!(
        room_left < small,
        "setup: the first push of the batch landed in the old segment ({room_left} bytes left)"
    );
    let shown = read(&store, 0, "b");
    sim.clear_faults();
    store.shutdown();
    let (store, _) = open(Arc::new(sim.clone()), &dir, target);
    assert_eq!(
        read(&store, 0, "b"),
        shown,
        "answers were {fits:?} and {rotates:?}; the restart changed the state"
    );
}

// ------------------------------------------------------------------------------------------------
// (c) crash simulation: the acknowledgement oracle
// ------------------------------------------------------------------------------------------------

/// One simulated process: every IO call is counted, and the `crash_at`-th one crashes the
/// `SimDisk` (after or instead of performing the call) and fails; the "process" is dead from
/// then on, so every later call fails too. Crash points are therefore any IO call: a record
/// write, a batch fsync, any step of a rotation, or any step of recovery and torn-tail repair.
#[derive(Debug)]
struct Incarnation {
    sim: SimDisk,
    calls: AtomicU64,
    crash_at: u64,
    perform_then_crash: bool,
    mode: CrashMode,
    dead: AtomicBool,
}

impl Incarnation {
    fn gate<T>(&self, call: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(io::Error::other("the simulated process is dead"));
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.crash_at {
            if self.perform_then_crash {
                let _ = call();
            }
            self.crash();
            return Err(io::Error::other("the simulated process crashed here"));
        }
        call()
    }

    fn crash(&self) {
        if !self.dead.swap(true, Ordering::SeqCst) {
            self.sim.crash(self.mode);
        }
    }

    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }
}

#[derive(Clone, Debug)]
struct CrashingDisk(Arc<Incarnation>);

#[derive(Debug)]
struct CrashingFile {
    inner: Box<dyn DiskFile>,
    incarnation: Arc<Incarnation>,
}

impl Disk for CrashingDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.0.gate(|| self.0.sim.create_dir_all(dir))
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.0.gate(|| self.0.sim.list_dir(dir))
    }
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0.gate(|| self.0.sim.read_file(path))
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.0.gate(|| self.0.sim.file_len(path))
    }
    fn create_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let inner = self.0.gate(|| self.0.sim.create_file(path))?;
        Ok(Box::new(CrashingFile {
            inner,
            incarnation: Arc::clone(&self.0),
        }))
    }
    fn open_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let inner = self.0.gate(|| self.0.sim.open_file(path))?;
        Ok(Box::new(CrashingFile {
            inner,
            incarnation: Arc::clone(&self.0),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.gate(|| self.0.sim.rename(from, to))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.0.gate(|| self.0.sim.remove_file(path))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.gate(|| self.0.sim.sync_dir(dir))
    }
}

impl DiskFile for CrashingFile {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        let Self { inner, incarnation } = self;
        incarnation.gate(|| inner.write_at(offset, bytes))
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let Self { inner, incarnation } = self;
        incarnation.gate(|| inner.sync_data())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let Self { inner, incarnation } = self;
        incarnation.gate(|| inner.set_len(len))
    }
}

fn crash_mode(rng: &mut SplitMix) -> CrashMode {
    match rng.below(3) {
        0 => CrashMode::DropUnsynced,
        1 => CrashMode::TornPrefix {
            seed: rng.next_u64(),
        },
        _ => CrashMode::TornSectors {
            seed: rng.next_u64(),
        },
    }
}

const KEYS: [&str; 5] = ["k0", "k1", "k2", "k3", "k4"];

/// Per `(table n, key)`: `(count, sum)`.
type State = BTreeMap<(u32, &'static str), (i64, i64)>;

#[derive(Default, Debug)]
struct SimStats {
    incarnations: u64,
    crashes_in_recovery: u64,
    torn_tails_repaired: u64,
    acked: u64,
    recovered_unacked: u64,
    /// WAL records appended, and the mutations (LSNs) they held.
    wal_records: u64,
    wal_lsns: u64,
}

/// Reads every `(table, key)` of every table that exists after recovery.
fn recovered_state(store: &Store, tables: u32) -> (State, Vec<u32>) {
    let mut state = State::new();
    let mut present = Vec::new();
    for n in 0..tables {
        if read(store, n, KEYS[0]).is_none() {
            continue;
        }
        present.push(n);
        for key in KEYS {
            state.insert((n, key), read(store, n, key).unwrap());
        }
    }
    (state, present)
}

fn simulate(seed: u64, stats: &mut SimStats) {
    let mut rng = SplitMix::new(seed);
    let sim = SimDisk::new();
    let dir = dir().join(format!("crash-sim-{seed}"));
    let segment_bytes = if rng.below(2) == 0 { 4096 } else { 16 * 1024 };
    // batch_max 1 makes every batch (and so every crash point) reproducible from the seed;
    // a large batch exercises group commit (batching then depends on thread timing, the
    // oracle does not).
    let batch_max = if seed.is_multiple_of(2) { 1 } else { 4096 };
    // Half the seeds commit every run through the log thread (pipelined), half inline.
    let inline_commit_max = if seed % 4 < 2 { 0 } else { 64 };

    // The model. `confirmed`: the state the last successful recovery showed. `sent`: pushes
    // submitted since then, in submission (= log) order; `n_acked`: how many of them were acked
    // (always a prefix: nothing is acked after a refusal in a crash-only run).
    let mut confirmed = State::new();
    let mut sent: Vec<(u32, &'static str, i64)> = Vec::new();
    let mut n_acked = 0usize;
    let mut tables_sent = 1u32; // registers sent: E0..E{tables_sent-1}
    let mut tables_acked = 0u32; // E0..E{tables_acked-1} were acknowledged

    for life in 0..8 {
        let incarnation = Arc::new(Incarnation {
            sim: sim.clone(),
            calls: AtomicU64::new(0),
            crash_at: 1 + rng.below(if life == 0 { 120 } else { 160 }),
            perform_then_crash: rng.below(2) == 0,
            mode: crash_mode(&mut rng),
            dead: AtomicBool::new(false),
        });
        stats.incarnations += 1;
        let context = format!(
            "seed {seed} life {life} (crash at call {} {:?})",
            incarnation.crash_at, incarnation.mode
        );
        let disk: Arc<dyn Disk> = Arc::new(CrashingDisk(Arc::clone(&incarnation)));
        let opened = Store::open(
            StoreConfig {
                batch_max,
                inline_commit_max,
                ..config(disk, &dir, segment_bytes)
            },
            Arc::new(ManualClock::new(1_000_000 + life)),
        );
        let (store, recovery) = match opened {
            Ok((store, recovery)) => (store, recovery.unwrap()),
            Err(OpenError::Io(_)) if incarnation.is_dead() => {
                // Crashed during recovery (possibly mid-repair): the next start must cope.
                stats.crashes_in_recovery += 1;
                continue;
            }
            Err(error) => panic!("{context}: open failed: {error}"),
        };
        assert_eq!(recovery.records_quarantined, 0, "{context}");
        stats.torn_tails_repaired += u64::from(recovery.wal.n_torn_tails_repaired);

        // ---- check the recovery against the model ----
        let (state, present) = recovered_state(&store, tables_sent);
        for n in 0..tables_acked {
            assert!(
                present.contains(&n),
                "{context}: acked register of T{n} lost"
            );
        }
        // The recovered pushes must be exactly `confirmed` + a prefix of `sent` that holds every
        // acked push.
        let recovered_total: i64 = state.values().map(|(c, _)| c).sum::<i64>()
            - confirmed.values().map(|(c, _)| c).sum::<i64>();
        let r = usize::try_from(recovered_total)
            .unwrap_or_else(|_| panic!("{context}: fewer pushes than confirmed before"));
        assert!(
            n_acked <= r && r <= sent.len(),
            "{context}: acked {n_acked} ≤ recovered {r} ≤ sent {}",
            sent.len()
        );
        let mut expected = confirmed.clone();
        for &(n, key, x) in &sent[..r] {
            let entry = expected.entry((n, key)).or_insert((0, 0));
            entry.0 += 1;
            entry.1 += x;
        }
        for ((n, key), value) in &state {
            let want = expected.get(&(*n, *key)).copied().unwrap_or((0, 0));
            assert_eq!(
                *value, want,
                "{context}: T{n}[{key}] (count, sum) is not that of the first {r} pushes sent"
            );
        }
        for (n, key) in expected.keys() {
            assert!(state.contains_key(&(*n, *key)), "{context}: T{n} lost");
        }
        stats.recovered_unacked += (r - n_acked) as u64;
        confirmed = state;
        sent.clear();
        n_acked = 0;
        tables_acked = tables_acked.max(present.iter().max().map_or(0, |m| m + 1));
        tables_sent = tables_sent.max(tables_acked);
        let mut live_tables = present;

        // ---- random workload until the crash fires ----
        let mut refused = false;
        for _ in 0..40 {
            if incarnation.is_dead() {
                break;
            }
            if live_tables.is_empty() || rng.below(12) == 0 {
                let n = if live_tables.is_empty() {
                    0
                } else {
                    tables_sent
                };
                tables_sent = tables_sent.max(n + 1);
                match submit(&store, Command::Register(registration(n))) {
                    Outcome::Register(Ok(_)) => {
                        assert!(!refused, "{context}: acked after a refusal");
                        tables_acked = tables_acked.max(n + 1);
                        if !live_tables.contains(&n) {
                            live_tables.push(n);
                        }
                    }
                    Outcome::Register(Err(r)) => {
                        assert_eq!(r.error.code, "wal_unavailable", "{context}");
                        break;
                    }
                    other => panic!("{context}: {other:?}"),
                }
                continue;
            }
            // A burst of pushes queued together (one group commit with a large batch_max), as
            // separate submissions or as one batch (as a connection submits what it parsed
            // from one read); with a large batch_max, a run is logged as one record of several
            // LSNs (decision 0024).
            let burst = 1 + rng.below(12) as usize;
            let as_one_batch = rng.below(2) == 0;
            let mut commands = Vec::with_capacity(burst);
            for _ in 0..burst {
                let n = live_tables[rng.below(live_tables.len() as u64) as usize];
                let key = KEYS[rng.below(KEYS.len() as u64) as usize];
                let x = 1 + rng.below(1000) as i64;
                let pad = rng.below(300) as usize;
                sent.push((n, key, x));
                commands.push(push(n, key, x, pad));
            }
            let tickets: Vec<_> = if as_one_batch {
                let tickets = store.handle().submit_many(commands).unwrap();
                assert_eq!(tickets.len(), burst, "{context}: the queue has room");
                tickets.collect()
            } else {
                commands
                    .into_iter()
                    .map(|command| store.handle().submit(command).unwrap())
                    .collect()
            };
            for ticket in tickets {
                let Ok(outcome) = ticket.wait() else {
                    // No reply at all: the writer dropped it (see
                    // `every_push_of_a_batch_gets_an_answer_after_fail_stop`). Not acked.
                    assert!(
                        incarnation.is_dead(),
                        "{context}: reply dropped without a crash"
                    );
                    refused = true;
                    continue;
                };
                match outcome {
                    Outcome::Push(Ok(_)) => {
                        assert!(!refused, "{context}: a push was acked after a refusal");
                        n_acked += 1;
                    }
                    Outcome::Push(Err(r)) => {
                        assert_eq!(r.error.code, "wal_unavailable", "{context}: {r:?}");
                        assert!(incarnation.is_dead(), "{context}: refused without a crash");
                        refused = true;
                    }
                    other => panic!("{context}: {other:?}"),
                }
            }
            if refused {
                break;
            }
        }
        stats.acked += n_acked as u64;
        // The crash point was past the workload: crash now (nothing unsynced is outstanding).
        incarnation.crash();
        let status = Arc::clone(store.handle().status());
        store.shutdown();
        let wal = status.snapshot();
        stats.wal_records += wal.wal_records_total;
        stats.wal_lsns += wal.wal_lsns_total;
    }
}

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("STORE_CRASH_SEED") {
        return vec![seed.parse().expect("STORE_CRASH_SEED is a number")];
    }
    let n = std::env::var("STORE_CRASH_SEEDS")
        .map(|n| n.parse().expect("STORE_CRASH_SEEDS is a number"))
        .unwrap_or(150);
    (0..n).collect()
}

#[test]
fn random_crashes_keep_every_acked_push_and_nothing_unsent() {
    let mut stats = SimStats::default();
    let seeds = seeds();
    for &seed in &seeds {
        simulate(seed, &mut stats);
    }
    eprintln!("crash simulation: {} seeds, {stats:?}", seeds.len());
    if seeds.len() >= 50 {
        // The harness really crashes mid-write and mid-recovery (guards against a vacuous run).
        assert!(stats.torn_tails_repaired > 0, "{stats:?}");
        assert!(stats.crashes_in_recovery > 0, "{stats:?}");
        assert!(stats.acked > 1_000, "{stats:?}");
        // Runs were logged as records of several pushes.
        assert!(stats.wal_lsns > stats.wal_records + 500, "{stats:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// (d) an intact record that cannot be applied: quarantined once
// ------------------------------------------------------------------------------------------------

#[test]
fn an_unapplicable_record_is_quarantined_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let disk: Arc<dyn Disk> = Arc::new(FileDisk);
    let (store, recovery) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    assert_eq!(recovery.records_applied, 0);
    register(&store, 0);
    for x in 1..=3 {
        push_one(&store, 0, "a", x).unwrap();
    }
    let Command::Push { fields, .. } = push(0, "a", 10, 0) else {
        unreachable!()
    };
    let valid = store
        .handle()
        .read(|e| e.validate_push("E0", &fields))
        .unwrap();
    store.shutdown();

    // A push for an event that was never registered, then a valid one, appended behind the
    // store's back (as a schema removal or a bug would leave them).
    let ghost = ValidatedPush {
        event: CompactString::from("Ghost"),
        fields: vec![Value::str("a"), Value::I64(7)],
    };
    let mut ghost_bytes = Vec::new();
    store::log_record::encode_push(&mut ghost_bytes, 2_000_000, &ghost);
    let ghost_lsn = append_pushes(&disk, &dir, &[(2_000_000, &ghost), (2_000_001, &valid)])[0];

    let quarantine = dir.join("quarantine");
    let (store, recovery) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    assert_eq!(recovery.records_quarantined, 1, "{recovery:?}");
    assert_eq!(recovery.records_previously_quarantined, 0);
    assert_eq!(
        recovery.records_applied,
        1 + 3 + 1,
        "register, 3 pushes, the valid one"
    );
    assert_eq!(
        read(&store, 0, "a"),
        Some((4, 16)),
        "replay goes on past it"
    );
    assert_eq!(
        store
            .handle()
            .status()
            .snapshot()
            .wal_records_quarantined_total,
        1
    );
    let copy = std::fs::read(
        quarantine
            .join("unapplied")
            .join(format!("{}.bin", ghost_lsn.0)),
    )
    .expect("the record is copied to the quarantine");
    assert_eq!(copy, ghost_bytes);
    let index = std::fs::read_to_string(quarantine.join("unapplied.log")).unwrap();
    assert_eq!(index.lines().count(), 1, "{index}");
    assert!(index.starts_with(&format!("{} ", ghost_lsn.0)), "{index}");
    // The store keeps working after it (LSNs continue past the quarantined record).
    push_one(&store, 0, "a", 100).unwrap();
    store.shutdown();

    // Second start: skipped silently (counted apart, not quarantined or indexed again).
    let (store, recovery) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    assert_eq!(recovery.records_quarantined, 0, "{recovery:?}");
    assert_eq!(recovery.records_previously_quarantined, 1);
    assert_eq!(recovery.records_applied, 1 + 3 + 1 + 1);
    assert_eq!(read(&store, 0, "a"), Some((5, 116)));
    assert_eq!(
        std::fs::read_to_string(quarantine.join("unapplied.log")).unwrap(),
        index,
        "the quarantine index is not appended to again"
    );
    store.shutdown();
}

/// A push that panics while it is applied is answered as failed and fails alone (the pushes
/// before and after it in the same run are acked and applied); it is in the log, so replay meets
/// it again: it is quarantined once, alone, and the rest of its run is replayed.
#[test]
fn a_push_that_panics_fails_alone_and_is_quarantined_at_replay() {
    use engine::engine::INJECTED_PANIC_MARKER;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let disk: Arc<dyn Disk> = Arc::new(FileDisk);
    let (store, _) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    register(&store, 0);
    let poisoned = Command::Push {
        event: CompactString::from("E0"),
        fields: Value::Map(vec![
            ("k".into(), Value::str("a")),
            ("x".into(), Value::I64(50)),
            ("pad".into(), Value::str(INJECTED_PANIC_MARKER)),
        ]),
    };
    // One submission: the three pushes are one writer run, and one WAL record.
    let tickets = store
        .handle()
        .submit_many(vec![push(0, "a", 1, 8), poisoned, push(0, "a", 2, 8)])
        .expect("queue accepts");
    let outcomes: Vec<Outcome> = tickets.map(|t| t.wait().expect("store running")).collect();
    assert!(matches!(outcomes[0], Outcome::Push(Ok(_))), "{outcomes:?}");
    assert!(
        matches!(&outcomes[1], Outcome::Failed { reason } if reason.contains("engine panicked")),
        "{outcomes:?}"
    );
    assert!(matches!(outcomes[2], Outcome::Push(Ok(_))), "{outcomes:?}");
    assert_eq!(read(&store, 0, "a"), Some((2, 3)));
    push_one(&store, 0, "a", 4).unwrap();
    store.shutdown();

    let quarantine = dir.join("quarantine");
    let (store, recovery) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    assert_eq!(recovery.records_quarantined, 1, "{recovery:?}");
    assert_eq!(
        read(&store, 0, "a"),
        Some((3, 7)),
        "the rest of the run is replayed"
    );
    let index = std::fs::read_to_string(quarantine.join("unapplied.log")).unwrap();
    assert_eq!(index.lines().count(), 1, "{index}");
    assert!(index.contains("engine panicked"), "{index}");
    store.shutdown();

    let (store, recovery) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    assert_eq!(recovery.records_quarantined, 0, "{recovery:?}");
    assert_eq!(recovery.records_previously_quarantined, 1);
    assert_eq!(read(&store, 0, "a"), Some((3, 7)));
    store.shutdown();
}

// ------------------------------------------------------------------------------------------------
// (e) replay applies a run of one processing time together (lanes), as the writer did
// ------------------------------------------------------------------------------------------------

#[test]
fn replay_applies_a_long_run_with_an_unapplicable_record_inside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let disk: Arc<dyn Disk> = Arc::new(FileDisk);
    let (store, _) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    register(&store, 0);
    // Longer than `APPLY_PARALLEL_MIN`, so the replayed run is split over the lanes.
    let n_pushes = engine::APPLY_PARALLEL_MIN * 2 + 7;
    let keys: Vec<String> = (0..53).map(|i| format!("key-{i}")).collect();
    let mut expected: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut records = Vec::new();
    for i in 0..n_pushes {
        let key = &keys[(i * 7) % keys.len()];
        let x = i as i64;
        let Command::Push { fields, .. } = push(0, key, x, 3) else {
            unreachable!()
        };
        let valid = store
            .handle()
            .read(|e| e.validate_push("E0", &fields))
            .unwrap();
        let entry = expected.entry(key.as_str()).or_default();
        entry.0 += 1;
        entry.1 += x;
        records.push(valid);
    }
    store.shutdown();

    // All at one processing time (one run), a push the registry cannot apply in the middle.
    let now_ms = 5_000_000;
    let ghost = ValidatedPush {
        event: CompactString::from("Ghost"),
        fields: vec![Value::str("key-0"), Value::I64(1)],
    };
    let mut log: Vec<(i64, &ValidatedPush)> = records.iter().map(|push| (now_ms, push)).collect();
    log.insert(n_pushes / 2, (now_ms, &ghost));
    append_pushes(&disk, &dir, &log);

    let (store, recovery) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    assert_eq!(recovery.records_quarantined, 1, "{recovery:?}");
    assert_eq!(
        recovery.records_applied,
        1 + n_pushes as u64,
        "{recovery:?}"
    );
    for key in &keys {
        let want = expected.get(key.as_str()).copied().unwrap_or((0, 0));
        assert_eq!(read(&store, 0, key), Some(want), "{key}");
    }
    store.shutdown();
}

#[test]
fn replay_splits_a_run_of_large_records_and_applies_them_all() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let disk: Arc<dyn Disk> = Arc::new(FileDisk);
    let (store, _) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    register(&store, 0);
    // 160 records of ~60 KB (strings are at most 64 KiB) at one processing time: more than one
    // replay run holds (8 MiB).
    let Command::Push { fields, .. } = push(0, "big", 0, 60 * 1024) else {
        unreachable!()
    };
    let template = store
        .handle()
        .read(|e| e.validate_push("E0", &fields))
        .unwrap();
    store.shutdown();

    let records: Vec<ValidatedPush> = (1..=160)
        .map(|x| {
            let mut push = template.clone();
            for field in &mut push.fields {
                if let Value::I64(v) = field {
                    *v = x;
                }
            }
            push
        })
        .collect();
    let log: Vec<(i64, &ValidatedPush)> = records.iter().map(|push| (7_000_000, push)).collect();
    append_pushes(&disk, &dir, &log);

    let (store, recovery) = open(Arc::clone(&disk), &dir, 64 * 1024 * 1024);
    assert_eq!(recovery.records_quarantined, 0, "{recovery:?}");
    assert_eq!(recovery.records_applied, 1 + 160, "{recovery:?}");
    assert_eq!(read(&store, 0, "big"), Some((160, (1..=160).sum())));
    store.shutdown();
}

/// The pushes of one run share WAL records (decision 0024): a run is cut into records of at most
/// 256 KiB, or `record_bytes_max` when smaller; a push that does not fit a record alone is
/// refused and the others of its run are logged; every push keeps its own LSN, and a restart
/// replays exactly the acknowledged ones.
#[test]
fn a_run_is_logged_as_records_of_several_pushes_within_the_size_limits() {
    for record_bytes_max in [persist::RECORD_BYTES_MAX_DEFAULT, 48 * 1024] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let disk: Arc<dyn Disk> = Arc::new(FileDisk);
        let with_limit = |disk: Arc<dyn Disk>| {
            let mut config = config(disk, &dir, persist::SEGMENT_BYTES_TARGET_DEFAULT);
            config.wal.as_mut().unwrap().options.record_bytes_max = record_bytes_max;
            config
        };
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (store, _) = Store::open(with_limit(Arc::clone(&disk)), clock.clone()).unwrap();
        register(&store, 0);
        // 60 pushes of ~20 KB as one batch: one writer run of ~1.2 MB, so 5 or more records
        // (26 or more with the 48 KiB limit); push 30 is ~64 KiB, above the smaller limit.
        let pad = |i: i64| if i == 30 { 64 * 1024 - 1 } else { 20 * 1024 };
        let commands: Vec<Command> = (0..60).map(|i| push(0, "k", i, pad(i))).collect();
        let tickets: Vec<_> = store.handle().submit_many(commands).unwrap().collect();
        let mut lsns = Vec::new();
        let mut sum = 0;
        for (i, ticket) in (0..).zip(tickets) {
            match ticket.wait().unwrap() {
                Outcome::Push(Ok(ack)) => {
                    lsns.push(ack.lsn.0);
                    sum += i;
                }
                Outcome::Push(Err(refused)) => {
                    assert_eq!((i, record_bytes_max), (30, 48 * 1024), "{refused:?}");
                    assert_eq!(refused.error.code, "value_too_large");
                }
                other => panic!("{other:?}"),
            }
        }
        let n_acked = lsns.len() as i64;
        assert_eq!(
            n_acked,
            if record_bytes_max == 48 * 1024 {
                59
            } else {
                60
            }
        );
        assert!(
            lsns.windows(2).all(|w| w[1] == w[0] + 1),
            "one LSN per push, dense: {lsns:?}"
        );
        let status = Arc::clone(store.handle().status());
        store.shutdown();
        let wal = status.snapshot();
        assert_eq!(
            wal.wal_lsns_total,
            1 + n_acked as u64,
            "the register and the pushes"
        );
        let min_records = if record_bytes_max == 48 * 1024 { 26 } else { 5 };
        assert!(
            (1 + min_records..=1 + 30).contains(&wal.wal_records_total),
            "{} records for a run of {n_acked} pushes",
            wal.wal_records_total
        );
        let (store, recovery) = Store::open(with_limit(Arc::clone(&disk)), clock).unwrap();
        let recovery = recovery.unwrap();
        assert_eq!(recovery.records_applied, 1 + n_acked as u64, "{recovery:?}");
        assert_eq!(read(&store, 0, "k"), Some((n_acked, sum)));
        store.shutdown();
    }
}
