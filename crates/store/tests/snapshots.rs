//! Hazard: a snapshot loses or invents acknowledged state, a crash while a snapshot is written,
//! renamed or while the WAL it covers is deleted leaves an unrecoverable directory, or a damaged
//! snapshot is "repaired" by touching the WAL (durability.md §2.2, §2.5, §3).
//!
//! Everything runs on `SimDisk` (page-cache model: unsynced bytes and un-fsynced directory
//! entries vanish in a crash) with a `ManualClock`; snapshots are triggered by WAL bytes (4 KiB
//! segments, a snapshot every 4 KiB), so they happen while pushes continue.
//!
//! - Snapshots are taken, old WAL segments are reclaimed, the newest 2 snapshots are kept, and a
//!   restart loads the newest and replays only the tail.
//! - Crash sweep: the k-th IO call that touches a snapshot file, the snapshot directory or a WAL
//!   deletion (k = 1, 2, ...) is the last one the "process" makes (performed or failed); after a
//!   `SimDisk` crash the store recovers exactly the acknowledged pushes (plus at most the one in
//!   doubt when the crash hit).
//! - A truncated or bit-flipped newest snapshot falls back to the previous one plus a longer
//!   replay; with no usable snapshot and a WAL that no longer starts at LSN 1 the store refuses
//!   to start; in every case the WAL files are byte-identical afterwards.

use compact_str::CompactString;
use engine::ReadTime;
use model::Value;
use persist::{CrashMode, Disk, DiskFile, SimDisk, WalOptions};
use serde_json::json;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{
    AckMode, Command, ManualClock, OpenError, Outcome, Recovery, SnapshotConfig, Store,
    StoreConfig, WalConfig,
};

const WAL_DIR: &str = "/data/wal";
const SNAP_DIR: &str = "/data/snapshots";
const KEYS: u64 = 5;

fn config(disk: Arc<dyn Disk>) -> StoreConfig {
    StoreConfig {
        wal: Some(WalConfig {
            disk,
            dir: PathBuf::from(WAL_DIR),
            options: WalOptions {
                segment_bytes_target: 4096,
                ..WalOptions::default()
            },
            ack: AckMode::Durable,
        }),
        snapshots: Some(SnapshotConfig {
            interval: Duration::from_secs(3600),
            wal_bytes: 4096,
            ..SnapshotConfig::new(SNAP_DIR)
        }),
        // Small batches: snapshot triggers are checked between batches.
        batch_max: 8,
        ..StoreConfig::default()
    }
}

fn open(disk: Arc<dyn Disk>) -> Result<(Store, Recovery), OpenError> {
    Store::open(config(disk), Arc::new(ManualClock::new(1_000_000)))
        .map(|(store, recovery)| (store, recovery.expect("WAL store reports recovery")))
}

fn register(store: &Store) -> bool {
    let body = json!({"nodes": [
        {"kind": "event", "name": "E",
         "schema": {"fields": {"k": "str", "x": "i64", "pad": "str"}, "optional_fields": []}},
        {"kind": "derivation", "name": "T", "output_kind": "table", "upstreams": ["E"],
         "table_primary_key": ["k"],
         "ops": [{"op": "group_by", "keys": ["k"], "agg": {
            "n": {"op": "count", "params": {}},
            "s": {"op": "sum", "params": {"field": "x"}}}}]}]});
    matches!(
        store
            .handle()
            .submit(Command::Register(body))
            .map(|t| t.wait()),
        Ok(Ok(Outcome::Register(Ok(_))))
    )
}

/// Push `i`: key `k{i % KEYS}`, x = i, ~100 bytes of padding. True if acknowledged.
fn push(store: &Store, i: u64) -> bool {
    let command = Command::Push {
        event: CompactString::from("E"),
        fields: Value::Map(vec![
            ("k".into(), Value::str(&format!("k{}", i % KEYS))),
            ("x".into(), Value::I64(i as i64)),
            ("pad".into(), Value::str(&"p".repeat(100))),
        ]),
    };
    matches!(
        store.handle().submit(command).map(|t| t.wait()),
        Ok(Ok(Outcome::Push(Ok(_))))
    )
}

/// (count, sum) per key.
fn state(store: &Store) -> Vec<(i64, i64)> {
    (0..KEYS)
        .map(|k| {
            let row = store.handle().read(|engine| {
                engine
                    .get("T", &format!("k{k}"), None, ReadTime::Watermark)
                    .map(|v| serde_json::to_value(v).unwrap())
                    .unwrap_or(json!({}))
            });
            (
                row["n"].as_i64().unwrap_or(0),
                row["s"].as_f64().unwrap_or(0.0) as i64,
            )
        })
        .collect()
}

/// The (count, sum) per key after pushes `0..n`.
fn expected(n: u64) -> Vec<(i64, i64)> {
    let mut out = vec![(0i64, 0i64); KEYS as usize];
    for i in 0..n {
        let e = &mut out[(i % KEYS) as usize];
        e.0 += 1;
        e.1 += i as i64;
    }
    out
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn files(sim: &SimDisk, dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = sim
        .list_dir(Path::new(dir))
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.ends_with(suffix))
        .map(|n| Path::new(dir).join(n))
        .collect();
    names.sort();
    names
}

/// The LSN in a WAL segment's or snapshot's file name (its first record / what it covers).
fn start_lsn(path: &Path) -> u64 {
    let name = path
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    digits.parse().expect("a file name with an LSN")
}

/// Opens a store, registers, pushes `n` events (waiting for snapshots to settle at the end) and
/// shuts down gracefully (final snapshot).
fn build(sim: &Arc<SimDisk>, n: u64) {
    let (store, _) = open(sim.clone()).unwrap();
    assert!(register(&store));
    for i in 0..n {
        assert!(push(&store, i));
    }
    let status = store.handle().status().clone();
    wait_until("snapshots to settle", || {
        !status.snapshot().snapshot_in_progress
    });
    store.shutdown();
}

#[test]
fn snapshots_reclaim_the_wal_and_a_restart_replays_only_the_tail() {
    let sim = Arc::new(SimDisk::new());
    let (store, recovery) = open(sim.clone()).unwrap();
    assert!(recovery.snapshot.loaded.is_none());
    assert!(register(&store));
    // Pushes go on until three snapshots are done: how many triggers a snapshot in flight
    // absorbs depends on timing, so the count of pushes does, not the assertions below.
    let status = store.handle().status().clone();
    let mut n = 0;
    while n < 400 || status.snapshot().snapshots_total < 3 {
        assert!(push(&store, n));
        n += 1;
        assert!(
            n < 100_000,
            "three snapshots never completed: {:?}",
            status.snapshot()
        );
    }
    // Once pushes stop, what the WAL holds past the newest snapshot is less than one trigger
    // (4 KiB; every push record is over 100 bytes).
    wait_until("a snapshot within one trigger of the last push", || {
        let s = status.snapshot();
        s.last_lsn > n && s.last_lsn - s.snapshot_last_lsn <= 4096 / 100
    });
    wait_until("no snapshot in flight", || {
        !status.snapshot().snapshot_in_progress
    });
    let s = status.snapshot();
    assert!(s.wal_segments_removed_total > 0, "{s:?}");
    assert!(s.snapshot_last_bytes > 0 && s.snapshot_last_lsn > 0);
    // The newest two are kept, and the one retired last waits to be written over by the next
    // snapshot (decision 0022).
    let snaps = files(&sim, SNAP_DIR, ".snap");
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let recycled = files(&sim, SNAP_DIR, persist::snapshot::RECYCLED_FILE_NAME);
    assert_eq!(recycled.len(), 1, "{recycled:?}");
    // Every WAL segment the older snapshot covers entirely (the next segment starts at or before
    // the record after it) is deleted once that snapshot is retained as the older one.
    wait_until("the WAL reclaimed up to the older snapshot", || {
        let snaps = files(&sim, SNAP_DIR, ".snap");
        let older = start_lsn(&snaps[0]);
        let wal = files(&sim, WAL_DIR, ".wal");
        wal.windows(2).all(|pair| start_lsn(&pair[1]) > older + 1)
    });
    for i in n..n + 50 {
        assert!(push(&store, i));
    }
    let n = n + 50;
    assert_eq!(state(&store), expected(n));
    store.shutdown(); // final snapshot
    let recycled = files(&sim, SNAP_DIR, persist::snapshot::RECYCLED_FILE_NAME);
    assert!(recycled.is_empty(), "a clean stop removes it: {recycled:?}");

    let (store, recovery) = open(sim.clone()).unwrap();
    assert!(recovery.snapshot.loaded.is_some());
    assert_eq!(
        recovery.records_applied, 0,
        "the final snapshot covers everything"
    );
    assert_eq!(state(&store), expected(n));
    // A register and pushes after the restart continue from the restored state.
    for i in n..n + 10 {
        assert!(push(&store, i));
    }
    assert_eq!(state(&store), expected(n + 10));
    store.shutdown();
    let (store, recovery) = open(sim).unwrap();
    assert_eq!(state(&store), expected(n + 10));
    // Recovery progress as `/ready` reports it: finished, the whole snapshot loaded, the tail
    // replayed (record headers included in the bytes, which fit in the segments' size).
    let p = store.handle().status().recovery_progress();
    assert_eq!(p.phase, store::RecoveryPhase::Done);
    assert_eq!(p.snapshot_bytes_total, recovery.snapshot.file_bytes);
    assert!(
        p.snapshot_bytes_loaded > 0 && p.snapshot_bytes_loaded <= p.snapshot_bytes_total,
        "{p:?}"
    );
    assert_eq!(p.wal_records_replayed, recovery.records_applied);
    assert!(p.wal_bytes_replayed <= p.wal_bytes_total, "{p:?}");
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_previous_one_and_never_touches_the_wal() {
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 4] = [
        ("truncated", |b| b.truncate(b.len() / 2)),
        ("bit flip in the body", |b| b[100] ^= 0x04),
        ("bit flip in the header", |b| b[20] ^= 0x01),
        ("emptied", |b| b.clear()),
    ];
    for (what, damage) in damages {
        let sim = Arc::new(SimDisk::new());
        build(&sim, 300);
        let snaps = files(&sim, SNAP_DIR, ".snap");
        assert_eq!(snaps.len(), 2, "{what}");
        let newest = snaps.last().unwrap();
        let mut bytes = sim.file(newest).unwrap();
        damage(&mut bytes);
        sim.set_file(newest, bytes);
        let wal_before = sim.snapshot(Path::new(WAL_DIR));

        let (store, recovery) = open(sim.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(state(&store), expected(300), "{what}");
        assert_eq!(recovery.snapshot.loaded.as_ref(), Some(&snaps[0]), "{what}");
        assert_eq!(recovery.snapshot.damaged.len(), 1, "{what}");
        assert!(recovery.records_applied > 0, "{what}: a longer replay");
        assert_eq!(
            sim.snapshot(Path::new(WAL_DIR)),
            wal_before,
            "{what}: WAL touched"
        );
        // The damaged file was set aside, not deleted, and is not loaded again.
        assert_eq!(files(&sim, SNAP_DIR, ".snap.damaged").len(), 1, "{what}");
        assert_eq!(
            files(&sim, SNAP_DIR, ".snap"),
            vec![snaps[0].clone()],
            "{what}"
        );
        drop(store);
    }
}

#[test]
fn no_usable_snapshot_and_a_reclaimed_wal_refuses_to_start_and_modifies_nothing() {
    let sim = Arc::new(SimDisk::new());
    build(&sim, 300);
    let wal_files = files(&sim, WAL_DIR, ".wal");
    assert!(
        !wal_files[0]
            .to_string_lossy()
            .contains("00000000000000000001"),
        "the WAL was reclaimed: {wal_files:?}"
    );
    for snap in files(&sim, SNAP_DIR, ".snap") {
        let mut bytes = sim.file(&snap).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x80;
        sim.set_file(&snap, bytes);
    }
    let before = sim.snapshot(Path::new("/data"));
    match open(sim.clone()) {
        Err(OpenError::SnapshotsUnusable(message)) => {
            assert!(message.contains("no usable snapshot"), "{message}");
            assert!(message.contains("Nothing was modified"), "{message}");
        }
        Err(other) => panic!("wrong refusal: {other}"),
        Ok(_) => panic!("started without any usable snapshot or a complete WAL"),
    }
    assert_eq!(sim.snapshot(Path::new("/data")), before, "files modified");
}

#[test]
fn no_usable_snapshot_but_a_complete_wal_recovers_by_full_replay() {
    let sim = Arc::new(SimDisk::new());
    let (store, _) = open(sim.clone()).unwrap();
    assert!(register(&store));
    for i in 0..20 {
        assert!(push(&store, i)); // < 4 KiB of WAL: no snapshot before shutdown
    }
    store.shutdown(); // the final one: the only snapshot, so nothing is reclaimed
    let snaps = files(&sim, SNAP_DIR, ".snap");
    assert_eq!(snaps.len(), 1);
    sim.set_file(&snaps[0], b"garbage".to_vec());
    let wal_before = sim.snapshot(Path::new(WAL_DIR));
    let (store, recovery) = open(sim.clone()).unwrap();
    assert!(recovery.snapshot.loaded.is_none());
    assert_eq!(recovery.snapshot.damaged.len(), 1);
    assert_eq!(state(&store), expected(20));
    assert_eq!(sim.snapshot(Path::new(WAL_DIR)), wal_before);
    // Progress counted every replayed record (header + payload bytes, within the segments).
    let p = store.handle().status().recovery_progress();
    assert_eq!(p.phase, store::RecoveryPhase::Done);
    assert_eq!(p.wal_records_replayed, recovery.records_applied);
    assert_eq!(p.wal_records_replayed, 21, "a register and 20 pushes");
    assert!(
        p.wal_bytes_replayed > 32 * 21 && p.wal_bytes_replayed <= p.wal_bytes_total,
        "{p:?}"
    );
}

// ------------------------------------------------------------------------------------------------
// Crash sweep
// ------------------------------------------------------------------------------------------------

/// Counts the IO calls that belong to snapshotting (anything under the snapshot directory, and
/// unlinks and directory fsyncs in the WAL directory, which is where reclamation works); the
/// `crash_at`-th such call is the last call of the process: it is performed (or fails), and
/// every later call of any kind fails with EIO, as if the process were gone.
#[derive(Debug)]
struct Incarnation {
    sim: Arc<SimDisk>,
    crash_at: u64,
    perform_last: bool,
    calls: AtomicU64,
    dead: AtomicBool,
}

impl Incarnation {
    fn gate<T>(&self, counted: bool, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(io::Error::other("process crashed"));
        }
        if counted && self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.crash_at {
            self.dead.store(true, Ordering::SeqCst);
            return if self.perform_last {
                op()
            } else {
                Err(io::Error::other("process crashed"))
            };
        }
        op()
    }
}

fn in_snapshot_dir(path: &Path) -> bool {
    path.starts_with(SNAP_DIR)
}

#[derive(Debug)]
struct CrashingDisk(Arc<Incarnation>);

#[derive(Debug)]
struct CrashingFile {
    inner: Box<dyn DiskFile>,
    counted: bool,
    incarnation: Arc<Incarnation>,
}

impl Disk for CrashingDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.0
            .gate(in_snapshot_dir(dir), || self.0.sim.create_dir_all(dir))
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.0
            .gate(in_snapshot_dir(dir), || self.0.sim.list_dir(dir))
    }
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0
            .gate(in_snapshot_dir(path), || self.0.sim.read_file(path))
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.0.gate(false, || self.0.sim.file_len(path))
    }
    fn create_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let counted = in_snapshot_dir(path);
        let inner = self.0.gate(counted, || self.0.sim.create_file(path))?;
        Ok(Box::new(CrashingFile {
            inner,
            counted,
            incarnation: Arc::clone(&self.0),
        }))
    }
    fn open_file(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let counted = in_snapshot_dir(path);
        let inner = self.0.gate(counted, || self.0.sim.open_file(path))?;
        Ok(Box::new(CrashingFile {
            inner,
            counted,
            incarnation: Arc::clone(&self.0),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0
            .gate(in_snapshot_dir(from), || self.0.sim.rename(from, to))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.0.gate(true, || self.0.sim.remove_file(path))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.gate(true, || self.0.sim.sync_dir(dir))
    }
}

impl DiskFile for CrashingFile {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        let Self {
            inner,
            counted,
            incarnation,
        } = self;
        incarnation.gate(*counted, || inner.write_at(offset, bytes))
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let Self {
            inner,
            counted,
            incarnation,
        } = self;
        incarnation.gate(*counted, || inner.sync_data())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let Self {
            inner,
            counted,
            incarnation,
        } = self;
        incarnation.gate(*counted, || inner.set_len(len))
    }
}

const SWEEP_PUSHES: u64 = 160;

/// One life: open on a crashing disk, register, push until the crash, then crash the SimDisk,
/// reopen on the plain one and compare with the acknowledged pushes. Returns the number of
/// counted calls the life made (to know where the sweep ends).
fn crash_life(crash_at: u64, perform_last: bool, mode: CrashMode) -> u64 {
    let sim = Arc::new(SimDisk::new());
    let incarnation = Arc::new(Incarnation {
        sim: sim.clone(),
        crash_at,
        perform_last,
        calls: AtomicU64::new(0),
        dead: AtomicBool::new(false),
    });
    let disk: Arc<dyn Disk> = Arc::new(CrashingDisk(Arc::clone(&incarnation)));
    let context = format!("crash at snapshot call {crash_at} (perform: {perform_last}, {mode:?})");
    let mut acked = 0u64;
    let mut registered = false;
    if let Ok((store, _)) = open(disk) {
        registered = register(&store);
        if registered {
            for i in 0..SWEEP_PUSHES {
                if !push(&store, i) {
                    break;
                }
                acked = i + 1;
            }
        }
        if !incarnation.dead.load(Ordering::SeqCst) {
            let status = store.handle().status().clone();
            wait_until("snapshots to settle", || {
                !status.snapshot().snapshot_in_progress || incarnation.dead.load(Ordering::SeqCst)
            });
        }
        store.shutdown();
    }
    let calls = incarnation.calls.load(Ordering::SeqCst);
    sim.crash(mode);

    let (store, _) = open(sim.clone()).unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
    let got = state(&store);
    if registered || got != expected(0) {
        // Exactly the acked pushes, or those plus the one in doubt when the process died.
        assert!(
            got == expected(acked) || got == expected(acked + 1),
            "{context}: acked {acked}, recovered {got:?}"
        );
    }
    // And the recovered directory is itself a good starting point: another restart agrees.
    drop(store);
    let (store, _) = open(sim).unwrap_or_else(|e| panic!("{context}: second reopen: {e}"));
    assert_eq!(state(&store), got, "{context}: second restart differs");
    calls
}

#[test]
fn a_crash_at_every_step_of_snapshot_write_rename_and_wal_deletion_recovers_the_acked_state() {
    // A life without a crash tells how many counted calls there are. How many snapshots it
    // takes depends on timing (a trigger while one is in flight is skipped; the snapshot thread
    // runs at low priority), ~5 calls each: at least four snapshots.
    let total = crash_life(u64::MAX, true, CrashMode::DropUnsynced);
    assert!(
        total >= 20,
        "the scenario takes several snapshots ({total} calls)"
    );
    for k in 1..=total + 2 {
        for perform_last in [false, true] {
            let mode = match (k + u64::from(perform_last)) % 3 {
                0 => CrashMode::DropUnsynced,
                1 => CrashMode::TornPrefix { seed: k },
                _ => CrashMode::TornSectors { seed: k },
            };
            crash_life(k, perform_last, mode);
        }
    }
}
