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
    (0..len).map(|idx| ((seed.wrapping_mul(31).wrapping_add(idx as u64 * 7)) % 255 + 1) as u8).collect()
}

pub fn small_segments() -> WalOptions {
    WalOptions { segment_bytes_target: 4 * 1024, ..WalOptions::default() }
}

/// Opens the log and returns it with the report and every replayed record.
pub fn open(
    disk: &SimDisk,
    options: &WalOptions,
    replay_from: Lsn,
) -> Result<(Wal, RecoveryReport, Vec<(Lsn, Vec<u8>)>), WalError> {
    let mut replayed = Vec::new();
    let (wal, report) = Wal::open(Arc::new(disk.clone()), wal_dir(), options.clone(), replay_from, |lsn, bytes| {
        replayed.push((lsn, bytes.to_vec()))
    })?;
    Ok((wal, report, replayed))
}

/// Writes `payloads` with a sync after each one, then drops the log.
pub fn write_synced(disk: &SimDisk, options: &WalOptions, payloads: &[Vec<u8>]) -> Vec<(Lsn, Vec<u8>)> {
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
    let mut names: Vec<String> = disk.list_dir(&wal_dir()).unwrap().into_iter().filter(|n| n.ends_with(".wal")).collect();
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
