//! Shared fixtures for the risk-named test files: deterministic payloads, opening a log on a
//! `SimDisk` while collecting what it replays, and copying a disk image.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use persist::{Disk, Lsn, RecoveryReport, SimDisk, Wal, WalError, WalOptions};

pub fn wal_dir() -> PathBuf {
    PathBuf::from("/data/wal")
}

/// A payload that never contains a zero byte (so no natural zero run can pass for a lost
/// sector) and differs per `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|idx| ((seed.wrapping_mul(31).wrapping_add(idx as u64 * 7)) % 255 + 1) as u8)
        .collect()
}

pub fn small_segments() -> WalOptions {
    WalOptions {
        segment_bytes_target: 4 * 1024,
        ..WalOptions::default()
    }
}

/// Every file of a disk with its content.
pub type Image = BTreeMap<PathBuf, Vec<u8>>;
/// Records as `(LSN, payload)`.
pub type Records = Vec<(Lsn, Vec<u8>)>;

/// A reopened log, its recovery report, and every replayed record.
pub type Opened = (Wal, RecoveryReport, Vec<(Lsn, Vec<u8>)>);
/// Records as `(first LSN, LSNs covered, payload)`.
pub type CountedRecords = Vec<(Lsn, u64, Vec<u8>)>;

/// Opens the log and returns it with the report and every replayed record (all of them
/// single-LSN records: the suites using this append with `Wal::append`).
pub fn open(disk: &SimDisk, options: &WalOptions, replay_from: Lsn) -> Result<Opened, WalError> {
    let (wal, report, replayed) = open_counted(disk, options, replay_from)?;
    let replayed = replayed
        .into_iter()
        .map(|(lsn, lsn_count, bytes)| {
            assert_eq!(lsn_count, 1, "record at LSN {lsn} covers several LSNs");
            (lsn, bytes)
        })
        .collect();
    Ok((wal, report, replayed))
}

/// Opens the log and returns it with the report and every replayed record as
/// `(first LSN, LSNs covered, payload)`.
pub fn open_counted(
    disk: &SimDisk,
    options: &WalOptions,
    replay_from: Lsn,
) -> Result<(Wal, RecoveryReport, CountedRecords), WalError> {
    let mut replayed = Vec::new();
    let (wal, report) = Wal::open(
        Arc::new(disk.clone()),
        wal_dir(),
        options.clone(),
        replay_from,
        |lsn, lsn_count, bytes| replayed.push((lsn, lsn_count, bytes.to_vec())),
    )?;
    Ok((wal, report, replayed))
}

/// Writes `payloads` with a sync after each one, then drops the log.
pub fn write_synced(
    disk: &SimDisk,
    options: &WalOptions,
    payloads: &[Vec<u8>],
) -> Vec<(Lsn, Vec<u8>)> {
    let (mut wal, _, existing) = open(disk, options, Lsn::FIRST).expect("open");
    assert!(existing.is_empty());
    let mut written = Vec::new();
    for payload in payloads {
        let lsn = wal.append(payload).expect("append");
        wal.sync().expect("sync");
        written.push((lsn, payload.clone()));
    }
    written
}

/// The segment files of the log, in order.
pub fn segment_paths(disk: &SimDisk) -> Vec<PathBuf> {
    let mut names: Vec<String> = disk
        .list_dir(&wal_dir())
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .collect();
    names.sort();
    names.into_iter().map(|name| wal_dir().join(name)).collect()
}

/// A fresh `SimDisk` holding exactly `files` (durably).
pub fn disk_with(files: &BTreeMap<PathBuf, Vec<u8>>) -> SimDisk {
    let disk = SimDisk::new();
    for (path, content) in files {
        let parent = path.parent().unwrap();
        disk.create_dir_all(parent).unwrap();
        let mut file = disk.create_file(path).unwrap();
        persist::write_all_at(file.as_mut(), 0, content).unwrap();
        file.sync_data().unwrap();
        disk.sync_dir(parent).unwrap();
    }
    disk
}

/// Byte offsets `[start, end)` and LSN of every record in a segment image.
pub fn record_spans(segment: &[u8]) -> Vec<(usize, usize, Lsn)> {
    let header = persist::SegmentHeader::decode(segment).expect("segment header");
    let mut spans = Vec::new();
    let mut offset = persist::SEGMENT_HEADER_BYTES;
    while offset < segment.len() {
        match persist::record::decode(&segment[offset..], header.salt) {
            persist::record::RecordDecode::Valid { header: record, .. } => {
                let end = offset + record.record_bytes() as usize;
                spans.push((offset, end, record.lsn));
                offset = end;
            }
            other => panic!("record_spans on a damaged segment at {offset}: {other:?}"),
        }
    }
    spans
}

pub fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The acknowledgement oracle: what was acked must come back; nothing may come back that was
/// never attempted at that LSN.
#[derive(Debug, Default)]
pub struct Oracle {
    pub acked: BTreeMap<Lsn, Vec<u8>>,
    pub attempted: BTreeMap<Lsn, Vec<Vec<u8>>>,
    /// Records below this LSN are covered by a (pretend) snapshot and may be reclaimed.
    pub replay_from: Lsn,
}

impl Oracle {
    pub fn new() -> Oracle {
        Oracle {
            replay_from: Lsn::FIRST,
            ..Oracle::default()
        }
    }

    pub fn attempt(&mut self, lsn: Lsn, bytes: &[u8]) {
        self.attempted.entry(lsn).or_default().push(bytes.to_vec());
    }

    pub fn ack(&mut self, lsn: Lsn, bytes: &[u8]) {
        assert!(self
            .attempted
            .get(&lsn)
            .is_some_and(|all| all.iter().any(|b| b == bytes)));
        let previous = self.acked.insert(lsn, bytes.to_vec());
        assert!(previous.is_none(), "LSN {lsn} acknowledged twice");
    }

    /// Checks a recovery's replay (which started at `self.replay_from`). Returns the LSN after it.
    pub fn check(&self, replayed: &[(Lsn, Vec<u8>)], context: &str) -> Lsn {
        let mut expected = self.replay_from;
        for (lsn, bytes) in replayed {
            assert_eq!(*lsn, expected, "{context}: replay is not dense");
            let known = self
                .attempted
                .get(lsn)
                .is_some_and(|all| all.iter().any(|b| b == bytes));
            assert!(
                known,
                "{context}: LSN {lsn} holds bytes that were never appended at that LSN"
            );
            if let Some(acked) = self.acked.get(lsn) {
                assert_eq!(
                    acked, bytes,
                    "{context}: acknowledged LSN {lsn} came back different"
                );
            }
            expected = lsn.next();
        }
        for (lsn, _) in self.acked.range(self.replay_from..) {
            assert!(
                *lsn < expected,
                "{context}: acknowledged LSN {lsn} was lost (replay ended at {expected})"
            );
        }
        expected
    }

    /// After a recovery, what is on disk is the truth: forget unacked attempts past it.
    pub fn settle(&mut self, replayed: &[(Lsn, Vec<u8>)], next_lsn: Lsn) {
        for (lsn, bytes) in replayed {
            self.acked.entry(*lsn).or_insert_with(|| bytes.clone());
        }
        self.attempted.retain(|lsn, _| *lsn < next_lsn);
        for (lsn, bytes) in replayed {
            self.attempted.insert(*lsn, vec![bytes.clone()]);
        }
    }
}

/// Drives a `Wal` the way the durable group committer does (ack only at or below the durable
/// LSN; discard what a failed sync did not make durable) with random appends, syncs and
/// reclamations, recording everything in `oracle`. Returns true if the log failed (fail-stop),
/// after checking that a failed log refuses everything.
pub fn drive(
    wal: &mut Wal,
    oracle: &mut Oracle,
    rng: &mut persist::SplitMix,
    n_ops: usize,
    payload_max: u64,
) -> bool {
    let mut pending: Vec<(Lsn, Vec<u8>)> = Vec::new();
    for _ in 0..n_ops {
        if wal.is_failed() {
            break;
        }
        match rng.below(10) {
            0..=5 => {
                let bytes = payload(rng.next_u64(), rng.below(payload_max) as usize + 1);
                if let Ok(lsn) = wal.append(&bytes) {
                    oracle.attempt(lsn, &bytes);
                    pending.push((lsn, bytes));
                }
            }
            6 => {
                // Written to the OS, not synced: a crash may keep, drop or tear these bytes.
                if wal.flush().is_err() && !wal.is_failed() {
                    wal.discard_pending();
                    let written = wal.written_lsn();
                    pending.retain(|(lsn, _)| *lsn <= written);
                }
            }
            7..=8 => settle_sync(wal, oracle, &mut pending),
            _ => {
                settle_sync(wal, oracle, &mut pending);
                let covered = wal.durable_lsn();
                if covered >= oracle.replay_from && rng.below(2) == 0 && !wal.is_failed() {
                    oracle.replay_from = covered.next();
                    let _ = wal.remove_segments_before(covered);
                }
            }
        }
    }
    if !wal.is_failed() {
        settle_sync(wal, oracle, &mut pending);
    }
    if wal.is_failed() {
        assert!(wal.append(b"after failure").unwrap_err().is_failed());
        assert!(wal.sync().unwrap_err().is_failed());
        // Acks already given stand; nothing pending is ever acked.
        let durable = wal.durable_lsn();
        for (lsn, bytes) in pending.drain(..) {
            if lsn <= durable {
                oracle.ack(lsn, &bytes);
            }
        }
        return true;
    }
    false
}

fn settle_sync(wal: &mut Wal, oracle: &mut Oracle, pending: &mut Vec<(Lsn, Vec<u8>)>) {
    let result = wal.sync();
    if result.is_err() && !wal.is_failed() {
        wal.discard_pending();
    }
    let durable = wal.durable_lsn();
    if let Ok(reported) = result {
        assert_eq!(reported, durable);
    }
    for (lsn, bytes) in pending.drain(..) {
        if lsn <= durable {
            oracle.ack(lsn, &bytes);
        } else {
            assert!(
                result.is_err(),
                "a successful sync covers every pending record"
            );
        }
    }
}

/// Crashes, reopens without faults, checks the oracle and settles it. Returns the reopened log.
pub fn crash_and_recover(
    disk: &SimDisk,
    options: &WalOptions,
    oracle: &mut Oracle,
    mode: persist::CrashMode,
    context: &str,
) -> Wal {
    disk.crash(mode);
    disk.clear_faults();
    let (wal, report, replayed) = match open(disk, options, oracle.replay_from) {
        Ok(opened) => opened,
        Err(error) => panic!("{context}: reopen after {mode:?} failed: {error}"),
    };
    let next = oracle.check(&replayed, context);
    assert_eq!(report.next_lsn, next, "{context}");
    oracle.settle(&replayed, next);
    wal
}
