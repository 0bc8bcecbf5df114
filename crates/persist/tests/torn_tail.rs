//! Hazard: a process killed (or a machine losing power) in the middle of a WAL write leaves an
//! incomplete trailing record. If recovery treats that as fatal, the node crash-loops until an
//! operator intervenes (the Raft KV incident: 5+ hours down); if it "repairs" too much, it drops
//! acknowledged records. These tests cut the last segment at every byte offset of its last three
//! records (plus zero-filled and lost-sector variants) and require: exactly the complete records
//! come back, the cut bytes are in a quarantine file, a second open is a no-op, and a crash at any
//! step of the repair converges to the same final state.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{
    disk_with, open, payload, record_spans, segment_paths, small_segments, wal_dir, write_synced,
    Image, Records,
};
use persist::{
    CrashMode, Fault, FaultKind, FileDisk, Lsn, SimDisk, Site, TornKind, Wal, WalOptions,
    SECTOR_BYTES,
};

/// Builds a log of `n` synced records (over two segments), returns its files, the last segment
/// path, and what was written.
fn reference_log(n: u64) -> (Image, PathBuf, Records) {
    let disk = SimDisk::new();
    let payloads: Vec<Vec<u8>> = (0..n)
        .map(|idx| payload(idx, 40 + (idx as usize * 13) % 90))
        .collect();
    let written = write_synced(&disk, &small_segments(), &payloads);
    let files = disk.snapshot(&wal_dir());
    let last = segment_paths(&disk).pop().unwrap();
    (files, last, written)
}

/// Opens a copy of `files` whose last segment is replaced by `damaged`, checks the outcome
/// against the records that end at or before `complete_end`, and checks idempotence.
fn check_cut(
    files: &BTreeMap<PathBuf, Vec<u8>>,
    last: &Path,
    damaged: Vec<u8>,
    complete_end: usize,
    written: &[(Lsn, Vec<u8>)],
    n_complete: usize,
) {
    let mut image = files.clone();
    image.insert(last.to_path_buf(), damaged.clone());
    let disk = disk_with(&image);
    let (wal, report, replayed) = open(&disk, &small_segments(), Lsn::FIRST)
        .unwrap_or_else(|error| panic!("open after cut to {} bytes: {error}", damaged.len()));
    assert_eq!(
        replayed,
        written[..n_complete].to_vec(),
        "exactly the complete records"
    );
    assert_eq!(wal.next_lsn(), Lsn(n_complete as u64 + 1));
    drop(wal);
    let segment_after = disk.file(last).unwrap();
    assert_eq!(
        segment_after.len(),
        complete_end,
        "segment cut right after the last complete record"
    );
    if damaged.len() > complete_end {
        assert_eq!(report.n_torn_tails_repaired, 1);
        let torn = report.torn_tail.clone().unwrap();
        assert_eq!(torn.offset as usize, complete_end);
        assert_eq!(torn.lsn, Lsn(n_complete as u64 + 1));
        let quarantine = report.quarantine_file.clone().unwrap();
        assert_eq!(
            disk.file(&quarantine).unwrap(),
            damaged[complete_end..].to_vec(),
            "quarantine holds the cut bytes"
        );
    } else {
        assert_eq!(report.n_torn_tails_repaired, 0);
    }
    // Idempotent: a second open changes nothing and repairs nothing.
    let before = disk.snapshot(&wal_dir());
    let (_, again, replayed_again) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    assert_eq!(again.n_torn_tails_repaired, 0);
    assert_eq!(replayed_again, written[..n_complete].to_vec());
    assert_eq!(disk.snapshot(&wal_dir()), before);
}

#[test]
fn truncation_sweep_over_the_last_three_records() {
    let (files, last, written) = reference_log(60);
    let segment = files[&last].clone();
    let spans = record_spans(&segment);
    assert!(spans.len() >= 4, "the last segment holds enough records");
    assert!(
        segment_paths(&disk_with(&files)).len() >= 2,
        "the log spans segments"
    );
    let n_before_last_segment = written.len() - spans.len();
    let first_cut = spans[spans.len() - 3].0;
    for cut in first_cut..=segment.len() {
        let n_complete_here = spans.iter().filter(|(_, end, _)| *end <= cut).count();
        let complete_end = spans
            .iter()
            .filter(|(_, end, _)| *end <= cut)
            .map(|(_, end, _)| *end)
            .max()
            .unwrap();
        let n_complete = n_before_last_segment + n_complete_here;
        check_cut(
            &files,
            &last,
            segment[..cut].to_vec(),
            complete_end,
            &written,
            n_complete,
        );
    }
}

#[test]
fn truncation_then_zero_fill_sweep() {
    // The file size covers bytes that never reached the disk (preallocation, or a size update
    // that landed without its data): the tail reads as zeros.
    let (files, last, written) = reference_log(60);
    let segment = files[&last].clone();
    let spans = record_spans(&segment);
    let n_before_last_segment = written.len() - spans.len();
    let first_cut = spans[spans.len() - 3].0;
    for cut in first_cut..segment.len() {
        let mut damaged = segment[..cut].to_vec();
        damaged.resize(segment.len() + 1000, 0);
        let n_complete_here = spans.iter().filter(|(_, end, _)| *end <= cut).count();
        let complete_end = spans
            .iter()
            .filter(|(_, end, _)| *end <= cut)
            .map(|(_, end, _)| *end)
            .max()
            .unwrap();
        check_cut(
            &files,
            &last,
            damaged,
            complete_end,
            &written,
            n_before_last_segment + n_complete_here,
        );
    }
}

#[test]
fn a_lost_sector_inside_the_last_unsynced_record_is_torn() {
    // Power loss with reordered writeback: a later sector of the final record reached the disk,
    // an earlier one did not. Nothing after it claims it was durable.
    let disk = SimDisk::new();
    let (mut wal, _, _) = open(&disk, &WalOptions::default(), Lsn::FIRST).unwrap();
    wal.append(&payload(1, 300)).unwrap();
    wal.sync().unwrap();
    let lsn = wal.append(&payload(2, 3000)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let path = segment_paths(&disk).pop().unwrap();
    let mut segment = disk.file(&path).unwrap();
    let spans = record_spans(&segment);
    let (start, end, _) = spans[1];
    let sector = (start as u64 / SECTOR_BYTES + 2) * SECTOR_BYTES;
    assert!((sector + SECTOR_BYTES) < end as u64);
    segment[sector as usize..(sector + SECTOR_BYTES) as usize].fill(0);
    disk.set_file(&path, segment.clone());
    let (_, report, replayed) = open(&disk, &WalOptions::default(), Lsn::FIRST).unwrap();
    assert_eq!(replayed.len(), 1);
    let torn = report.torn_tail.unwrap();
    assert_eq!(
        (torn.kind, torn.lsn, torn.offset as usize),
        (TornKind::MissingSector, lsn, start)
    );
}

#[test]
fn appends_continue_after_a_repair() {
    let (files, last, written) = reference_log(30);
    let mut image = files.clone();
    let segment = &files[&last];
    image.insert(last.clone(), segment[..segment.len() - 5].to_vec());
    let disk = disk_with(&image);
    let (mut wal, report, replayed) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    assert_eq!(report.n_torn_tails_repaired, 1);
    assert_eq!(replayed.len(), written.len() - 1);
    let lsn = wal.append(b"after repair").unwrap();
    assert_eq!(lsn, written.last().unwrap().0, "the cut LSN is reassigned");
    wal.sync().unwrap();
    drop(wal);
    let (_, _, replayed) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    assert_eq!(replayed.last().unwrap(), &(lsn, b"after repair".to_vec()));
}

#[test]
fn a_crash_at_any_step_of_the_repair_converges() {
    let (files, last, written) = reference_log(30);
    let segment = &files[&last];
    let cut = segment.len() - 7;
    let mut image = files.clone();
    image.insert(last.clone(), segment[..cut].to_vec());

    let reference = disk_with(&image);
    let (_, report, _) = open(&reference, &small_segments(), Lsn::FIRST).unwrap();
    assert_eq!(report.n_torn_tails_repaired, 1);
    let expected = reference.snapshot(&wal_dir());

    // The repair's calls, in order: create the quarantine file (open), write it, fsync it,
    // fsync the directory, open the segment, truncate it, fsync it.
    let steps = [
        (Site::Open, 0),
        (Site::Write, 0),
        (Site::Fsync, 0),
        (Site::SyncDir, 0),
        (Site::Open, 1),
        (Site::Truncate, 0),
        (Site::Fsync, 1),
    ];
    for (site, skip) in steps {
        for mode in [CrashMode::DropUnsynced, CrashMode::TornPrefix { seed: 7 }] {
            let disk = disk_with(&image);
            disk.inject(Fault::new(site, FaultKind::Eio).skip(skip));
            let error = open(&disk, &small_segments(), Lsn::FIRST).err();
            assert!(
                error.is_some(),
                "a failing {site:?} #{skip} must fail the open"
            );
            disk.crash(mode);
            disk.clear_faults();
            let (_, _, replayed) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
            assert_eq!(replayed, written[..written.len() - 1].to_vec());
            assert_eq!(
                disk.snapshot(&wal_dir()),
                expected,
                "{site:?} #{skip} {mode:?}"
            );
        }
    }
}

#[test]
fn truncation_on_real_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let options = WalOptions::default();
    let (mut wal, _) = Wal::open(
        Arc::new(FileDisk),
        &dir,
        options.clone(),
        Lsn::FIRST,
        |_, _, _| {},
    )
    .unwrap();
    for idx in 0..5 {
        wal.append(&payload(idx, 50)).unwrap();
        wal.sync().unwrap();
    }
    drop(wal);
    let path = dir.join(persist::SegmentId(Lsn::FIRST).file_name());
    let pristine = std::fs::read(&path).unwrap();
    let spans = record_spans(&pristine);
    let (last_start, last_end, _) = *spans.last().unwrap();
    for cut in (last_start + 1..last_end).step_by(7) {
        std::fs::write(&path, &pristine[..cut]).unwrap();
        let mut n_replayed = 0;
        let (_, report) = Wal::open(
            Arc::new(FileDisk),
            &dir,
            options.clone(),
            Lsn::FIRST,
            |_, _, _| n_replayed += 1,
        )
        .unwrap();
        assert_eq!(n_replayed, 4);
        assert_eq!(report.n_torn_tails_repaired, 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, last_start);
        let quarantine = report.quarantine_file.unwrap();
        assert_eq!(
            std::fs::read(&quarantine).unwrap(),
            pristine[last_start..cut].to_vec()
        );
        std::fs::remove_file(quarantine).unwrap();
    }
}
