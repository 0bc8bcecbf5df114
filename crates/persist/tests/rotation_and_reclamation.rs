//! Hazard: the active segment never rotates, so snapshots can never reclaim anything and the WAL
//! grows without bound (beava's SEV-1: one 2.4 GB segment while every truncation logged
//! `removed: 0`). These tests require size-based rotation (a segment never passes the target
//! unless it holds a single larger record), dense LSNs across segments, reclamation of exactly
//! the segments a snapshot covers (never the active one), honest accounting, and a log that
//! reopens and replays from the snapshot after reclamation.

mod common;

use common::{open, payload, segment_paths, small_segments};
use persist::{Lsn, SimDisk, WalOptions, SEGMENT_HEADER_BYTES};

#[test]
fn segments_rotate_at_the_target_and_lsns_stay_dense() {
    let disk = SimDisk::new();
    let options = small_segments();
    let (mut wal, _, _) = open(&disk, &options, Lsn::FIRST).unwrap();
    let mut written = Vec::new();
    for idx in 0..300u64 {
        let bytes = payload(idx, 10 + (idx as usize * 37) % 200);
        written.push((wal.append(&bytes).unwrap(), bytes));
        if idx % 7 == 0 {
            wal.sync().unwrap();
        }
    }
    wal.sync().unwrap();
    assert!(wal.stats().rotations >= 10);
    let segments = wal.segments();
    assert_eq!(segments.iter().filter(|s| s.active).count(), 1);
    assert!(segments.last().unwrap().active);
    for segment in &segments {
        assert!(segment.bytes <= options.segment_bytes_target, "{segment:?}");
    }
    for pair in segments.windows(2) {
        assert_eq!(
            pair[0].last_lsn.unwrap().next(),
            pair[1].first_lsn,
            "dense across segments"
        );
    }
    drop(wal);
    let (_, report, replayed) = open(&disk, &options, Lsn::FIRST).unwrap();
    assert_eq!(replayed, written);
    assert_eq!(report.n_segments, segments.len());
}

#[test]
fn a_record_larger_than_the_target_gets_its_own_segment() {
    let disk = SimDisk::new();
    let options = small_segments();
    let (mut wal, _, _) = open(&disk, &options, Lsn::FIRST).unwrap();
    wal.append(&payload(1, 100)).unwrap();
    let big = wal.append(&payload(2, 10_000)).unwrap();
    let after = wal.append(&payload(3, 100)).unwrap();
    wal.sync().unwrap();
    let segments = wal.segments();
    assert_eq!(segments.len(), 3);
    assert_eq!(
        (segments[1].first_lsn, segments[1].last_lsn),
        (big, Some(big))
    );
    assert_eq!(
        segments[1].bytes,
        (SEGMENT_HEADER_BYTES + 32 + 10_000) as u64
    );
    assert_eq!(segments[2].first_lsn, after);
    // Above the record maximum: refused before anything is written.
    let error = wal
        .append(&vec![1u8; options.record_bytes_max as usize + 1])
        .unwrap_err();
    assert!(matches!(error, persist::WalError::RecordTooLarge { .. }));
    assert_eq!(wal.next_lsn(), after.next());
}

#[test]
fn reclamation_removes_exactly_the_covered_segments_and_accounts_honestly() {
    let disk = SimDisk::new();
    let options = small_segments();
    let (mut wal, _, _) = open(&disk, &options, Lsn::FIRST).unwrap();
    let mut written = Vec::new();
    for idx in 0..200u64 {
        let bytes = payload(idx, 80);
        written.push((wal.append(&bytes).unwrap(), bytes));
    }
    wal.sync().unwrap();
    let before = wal.segments();
    assert!(before.len() >= 4);
    let bytes_before: u64 = before.iter().map(|s| s.bytes).sum();

    // A snapshot in the middle of the third segment covers the first two only.
    let snapshot_lsn = Lsn(before[2].first_lsn.0 + 3);
    let reclamation = wal.remove_segments_before(snapshot_lsn).unwrap();
    assert_eq!(reclamation.removed, before[..2].to_vec());
    assert_eq!(reclamation.retained, before[2..].to_vec());
    assert_eq!(
        reclamation.bytes_removed + reclamation.bytes_retained,
        bytes_before
    );
    assert_eq!(
        reclamation.active_segment_bytes,
        before.last().unwrap().bytes
    );
    assert_eq!(segment_paths(&disk).len(), before.len() - 2);

    // Nothing else is covered yet; the active segment is never removed, even when covered.
    assert!(wal
        .remove_segments_before(snapshot_lsn)
        .unwrap()
        .removed
        .is_empty());
    let head = wal.durable_lsn();
    let reclamation = wal.remove_segments_before(head).unwrap();
    assert_eq!(reclamation.retained.len(), 1);
    assert!(reclamation.retained[0].active);
    assert_eq!(segment_paths(&disk).len(), 1);

    // The log reopens from the snapshot and keeps appending.
    drop(wal);
    let (mut wal, _, replayed) = open(&disk, &options, head.next()).unwrap();
    assert!(replayed.is_empty());
    assert_eq!(wal.append(b"next").unwrap(), head.next());
    // Replay from inside the retained segment.
    wal.sync().unwrap();
    drop(wal);
    let first_retained = segment_paths(&disk);
    assert_eq!(first_retained.len(), 1);
    let retained_first = before.last().unwrap().first_lsn;
    let (_, _, replayed) = open(&disk, &options, retained_first.next()).unwrap();
    assert_eq!(replayed.first().unwrap().0, retained_first.next());
    assert_eq!(replayed.last().unwrap(), &(head.next(), b"next".to_vec()));
}

#[test]
fn default_target_is_64_mib() {
    assert_eq!(WalOptions::default().segment_bytes_target, 64 * 1024 * 1024);
    assert!(WalOptions {
        segment_bytes_target: 100,
        ..WalOptions::default()
    }
    .validate()
    .is_err());
}
