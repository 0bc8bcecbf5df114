//! Hazard: preallocated segments (format version 2; decision 0009) make the file size stop
//! meaning "bytes written". If recovery mistakes the unused zero-filled tail for a torn write,
//! every clean restart "repairs" something (and quarantines megabytes of zeros); if it mistakes
//! a torn record written over zeros for unused space, or trusts a sealed segment's zero tail, it
//! drops or invents records. These tests require: a clean restart of a preallocated segment
//! repairs nothing; every truncation point of the last records inside preallocated space
//! recovers exactly the complete records (torn ones quarantined without the zeros); sealed
//! segments are truncated to their records and a zero tail in one is refused; a crash at any
//! step of spare creation, sealing and rename recovers every acknowledged record; the offline
//! tools understand the layout; version-1 logs still open; a missing spare falls back.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{
    crash_and_recover, disk_with, drive, open, payload, segment_paths, wal_dir, write_synced,
    Image, Oracle, Records,
};
use persist::record::{self, RecordDecode};
use persist::tools::{self, Health, EXIT_OK, EXIT_UNREPAIRABLE};
use persist::{
    CrashMode, Fault, FaultKind, FileDisk, Lsn, Preallocate, SegmentHeader, SegmentId, SimDisk,
    Site, SplitMix, TornKind, Wal, WalError, WalOptions, FORMAT_VERSION, FORMAT_VERSION_PLAIN,
    SECTOR_BYTES, SEGMENT_HEADER_BYTES, SPARE_FILE_NAME,
};

const TARGET: u64 = 4 * 1024;

fn prealloc(mode: Preallocate) -> WalOptions {
    WalOptions {
        segment_bytes_target: TARGET,
        preallocate: mode,
        ..WalOptions::default()
    }
}

fn inline() -> WalOptions {
    prealloc(Preallocate::Inline)
}

/// `[start, end)` and LSN of every record of a segment image, stopping at a zero tail.
fn spans(segment: &[u8]) -> Vec<(usize, usize, Lsn)> {
    let header = SegmentHeader::decode(segment).expect("segment header");
    let mut out = Vec::new();
    let mut offset = SEGMENT_HEADER_BYTES;
    while offset < segment.len() {
        match record::decode(&segment[offset..], header.salt) {
            RecordDecode::Valid { header: rec, .. } => {
                let end = offset + rec.record_bytes() as usize;
                out.push((offset, end, rec.lsn));
                offset = end;
            }
            other => {
                assert!(
                    segment[offset..].iter().all(|&b| b == 0),
                    "damage at {offset}: {other:?}"
                );
                break;
            }
        }
    }
    out
}

fn records_end(segment: &[u8]) -> usize {
    spans(segment)
        .last()
        .map_or(SEGMENT_HEADER_BYTES, |&(_, end, _)| end)
}

fn other_files(disk: &SimDisk) -> Vec<String> {
    disk.snapshot(&wal_dir())
        .keys()
        .map(|path| common::file_name(path))
        .filter(|name| !name.ends_with(".wal"))
        .collect()
}

fn version(segment: &[u8]) -> u32 {
    SegmentHeader::decode(segment).unwrap().version
}

/// A synced log of `n` records over several preallocated segments; its image (without the
/// spare, as an open removes it), the last segment, and what was written.
fn reference_log(n: u64) -> (Image, PathBuf, Records) {
    let disk = SimDisk::new();
    let payloads: Vec<Vec<u8>> = (0..n)
        .map(|idx| payload(idx, 40 + (idx as usize * 13) % 90))
        .collect();
    let written = write_synced(&disk, &inline(), &payloads);
    let mut files = disk.snapshot(&wal_dir());
    files.remove(&wal_dir().join(SPARE_FILE_NAME));
    let last = segment_paths(&disk).pop().unwrap();
    (files, last, written)
}

#[test]
fn a_clean_restart_of_a_preallocated_segment_repairs_nothing() {
    let (files, last, written) = reference_log(60);
    let paths: Vec<&PathBuf> = files.keys().collect();
    assert!(paths.len() >= 2, "the log spans segments: {paths:?}");
    let segment = &files[&last];
    assert_eq!(version(segment), FORMAT_VERSION);
    assert_eq!(
        segment.len() as u64,
        TARGET,
        "the active segment is preallocated"
    );
    let end = records_end(segment);
    assert!(end < segment.len(), "it ends in unused zeros");

    let disk = disk_with(&files);
    let (mut wal, report, replayed) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    assert_eq!(replayed, written);
    assert_eq!(report.n_torn_tails_repaired, 0);
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.quarantine_file, None);
    assert!(!other_files(&disk)
        .iter()
        .any(|name| name.contains(".torn-")));
    assert_eq!(disk.file(&last).unwrap(), *segment, "nothing was modified");

    // Appends resume at the record boundary, inside the preallocated space.
    let lsn = wal.append(b"after restart").unwrap();
    assert_eq!(lsn, Lsn(written.len() as u64 + 1));
    wal.sync().unwrap();
    let after = disk.file(&last).unwrap();
    assert_eq!(after.len(), segment.len(), "the file size did not change");
    assert_eq!(after[..end], segment[..end]);
    assert_eq!(spans(&after).last().unwrap(), &(end, end + 32 + 13, lsn));
    drop(wal);
    let (_, again, replayed) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    assert_eq!(again.n_torn_tails_repaired, 0);
    assert_eq!(replayed.len(), written.len() + 1);
}

#[test]
fn sealed_segments_are_truncated_to_their_records() {
    let (files, last, written) = reference_log(80);
    let mut n_records = 0;
    for (path, bytes) in &files {
        let records = spans(bytes);
        n_records += records.len();
        assert_eq!(version(bytes), FORMAT_VERSION);
        if path != &last {
            assert_eq!(
                records_end(bytes),
                bytes.len(),
                "sealed {path:?} has no tail"
            );
        }
    }
    assert_eq!(n_records, written.len());
}

#[test]
fn a_zero_tail_in_a_sealed_segment_is_refused_in_place() {
    let (mut files, last, _) = reference_log(60);
    let sealed = files.keys().find(|path| **path != last).unwrap().clone();
    let end = files[&sealed].len();
    files.get_mut(&sealed).unwrap().resize(end + 700, 0);
    let disk = disk_with(&files);
    match open(&disk, &inline(), Lsn::FIRST) {
        Err(WalError::Corrupt {
            file,
            offset,
            reason,
            ..
        }) => {
            assert_eq!((&file, offset as usize), (&sealed, end));
            assert!(reason.contains("zero-filled tail"), "{reason}");
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a zero tail in a sealed segment was accepted"),
    }
    assert_eq!(disk.snapshot(&wal_dir()), files, "nothing was modified");
    let report = tools::verify(&disk, &wal_dir()).unwrap();
    assert_eq!(report.exit_code(), EXIT_UNREPAIRABLE);
}

/// Opens a copy of `files` whose last segment is `damaged`; the log must come back with exactly
/// the first `n_complete` records, cut (or not) at `complete_end`, idempotently.
fn check_cut(
    files: &Image,
    last: &Path,
    damaged: &[u8],
    complete_end: usize,
    written: &Records,
    n_complete: usize,
) {
    let mut image = files.clone();
    image.insert(last.to_path_buf(), damaged.to_vec());
    let disk = disk_with(&image);
    let (wal, report, replayed) = open(&disk, &inline(), Lsn::FIRST)
        .unwrap_or_else(|error| panic!("open with {complete_end}: {error}"));
    assert_eq!(replayed, written[..n_complete].to_vec());
    assert_eq!(wal.next_lsn(), Lsn(n_complete as u64 + 1));
    drop(wal);
    let after = disk.file(last).unwrap();
    let data_end = damaged
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |idx| idx + 1);
    if data_end <= complete_end {
        // Only zeros after the last complete record: unused space, nothing to repair.
        assert_eq!(report.n_torn_tails_repaired, 0, "cut at {data_end}");
        assert_eq!(report.quarantine_file, None);
        assert_eq!(after, damaged, "a clean open modifies nothing");
    } else {
        assert_eq!(report.n_torn_tails_repaired, 1, "cut at {data_end}");
        let torn = report.torn_tail.clone().unwrap();
        assert_eq!(torn.offset as usize, complete_end);
        assert_eq!(torn.lsn, Lsn(n_complete as u64 + 1));
        assert_eq!(torn.bytes as usize, damaged.len() - complete_end);
        let quarantine = disk.file(&report.quarantine_file.unwrap()).unwrap();
        assert_eq!(
            quarantine,
            damaged[complete_end..data_end].to_vec(),
            "the quarantine holds the torn bytes, not the unused zeros"
        );
        assert_eq!(
            after.len(),
            complete_end,
            "cut after the last complete record"
        );
    }
    let before = disk.snapshot(&wal_dir());
    let (_, again, replayed_again) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    assert_eq!(again.n_torn_tails_repaired, 0);
    assert_eq!(replayed_again, written[..n_complete].to_vec());
    let mut after_again = disk.snapshot(&wal_dir());
    after_again.remove(&wal_dir().join(SPARE_FILE_NAME));
    let mut before = before;
    before.remove(&wal_dir().join(SPARE_FILE_NAME));
    assert_eq!(after_again, before, "a second open changes nothing");
}

#[test]
fn every_truncation_point_inside_preallocated_space_recovers_the_complete_records() {
    // A write over the zeros stopped at `cut`: what it did not write still reads as zeros, and
    // the file keeps its preallocated size.
    let (files, last, written) = reference_log(60);
    let segment = files[&last].clone();
    let records = spans(&segment);
    assert!(records.len() >= 4);
    let n_before = written.len() - records.len();
    let end = records_end(&segment);
    for cut in records[records.len() - 3].0..=end {
        let mut damaged = segment[..cut].to_vec();
        damaged.resize(segment.len(), 0);
        let complete: Vec<_> = records.iter().filter(|(_, e, _)| *e <= cut).collect();
        check_cut(
            &files,
            &last,
            &damaged,
            complete.last().unwrap().1,
            &written,
            n_before + complete.len(),
        );
    }
}

#[test]
fn a_lost_sector_of_the_last_record_inside_preallocated_space_is_torn() {
    let disk = SimDisk::new();
    let (mut wal, _, _) = open(&disk, &prealloc(Preallocate::Inline), Lsn::FIRST).unwrap();
    wal.append(&payload(1, 300)).unwrap();
    wal.sync().unwrap();
    // Adopts the spare: the log continues in a preallocated segment.
    wal.append(&payload(2, 300)).unwrap();
    wal.sync().unwrap();
    let lsn = wal.append(&payload(3, 2500)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let path = segment_paths(&disk).pop().unwrap();
    let mut segment = disk.file(&path).unwrap();
    assert_eq!(segment.len() as u64, TARGET);
    let (start, end, got) = *spans(&segment).last().unwrap();
    assert_eq!(got, lsn);
    let sector = (start as u64 / SECTOR_BYTES + 2) * SECTOR_BYTES;
    assert!(sector + SECTOR_BYTES < end as u64);
    segment[sector as usize..(sector + SECTOR_BYTES) as usize].fill(0);
    disk.set_file(&path, segment);
    let (_, report, replayed) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    assert_eq!(replayed.len(), 2);
    let torn = report.torn_tail.unwrap();
    assert_eq!(
        (torn.kind, torn.lsn, torn.offset as usize),
        (TornKind::MissingSector, lsn, start)
    );
}

#[test]
fn damage_to_a_record_that_a_later_one_proves_durable_is_refused_in_place() {
    // Two records synced one after the other in a preallocated segment; a sector of the first
    // one reads as zeros. The second was written after the first was durable: corruption.
    let disk = SimDisk::new();
    let (mut wal, _, _) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    wal.append(&payload(1, 100)).unwrap();
    wal.sync().unwrap();
    let victim = wal.append(&payload(2, 1500)).unwrap();
    wal.sync().unwrap();
    wal.append(&payload(3, 100)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let path = segment_paths(&disk).pop().unwrap();
    let mut segment = disk.file(&path).unwrap();
    let (start, end, lsn) = spans(&segment)[spans(&segment).len() - 2];
    assert_eq!(lsn, victim);
    let sector = (start as u64 / SECTOR_BYTES + 1) * SECTOR_BYTES;
    assert!(sector + SECTOR_BYTES <= end as u64);
    segment[sector as usize..(sector + SECTOR_BYTES) as usize].fill(0);
    disk.set_file(&path, segment);
    let mut before = disk.snapshot(&wal_dir());
    match open(&disk, &inline(), Lsn::FIRST) {
        Err(WalError::Corrupt { offset, lsn, .. }) => {
            assert_eq!((offset as usize, lsn), (start, victim));
        }
        other => panic!("expected Corrupt, got {:?}", other.map(|o| o.1)),
    }
    // The refused open removed nothing, not even the old spare.
    let after = disk.snapshot(&wal_dir());
    before.retain(|path, _| after.contains_key(path));
    assert_eq!(after, before);
}

#[test]
fn every_bit_flip_in_the_records_of_a_preallocated_log_is_refused_in_place() {
    let disk = SimDisk::new();
    let payloads: Vec<Vec<u8>> = (0..60)
        .map(|idx| payload(idx, 30 + (idx as usize * 17) % 70))
        .collect();
    write_synced(&disk, &inline(), &payloads);
    let mut files = disk.snapshot(&wal_dir());
    files.remove(&wal_dir().join(SPARE_FILE_NAME));
    let paths: Vec<PathBuf> = files.keys().cloned().collect();
    assert!(paths.len() >= 2);
    for path in &paths {
        let pristine = files[path].clone();
        let end = records_end(&pristine);
        for bit in (SEGMENT_HEADER_BYTES * 8)..(end * 8) {
            let mut damaged = pristine.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let mut image = files.clone();
            image.insert(path.clone(), damaged);
            let flipped = disk_with(&image);
            match open(&flipped, &inline(), Lsn::FIRST) {
                Err(WalError::Corrupt { .. }) => {}
                Err(other) => panic!("{path:?} bit {bit}: expected Corrupt, got {other}"),
                Ok(_) => panic!("{path:?} bit {bit}: damage was not detected"),
            }
            assert_eq!(flipped.snapshot(&wal_dir()), image, "bit {bit}: modified");
        }
    }
    // A byte damaged in the unused zeros of the active segment never costs a record: it is
    // cut as a torn tail if a torn write could have left it (it lies in a later sector, or
    // within the 32 bytes where the next header would start), else refused as corruption.
    let last = paths.last().unwrap();
    let end = records_end(&files[last]);
    let (mut n_cut, mut n_refused) = (0, 0);
    for byte in (end..files[last].len()).step_by(37) {
        let mut image = files.clone();
        image.get_mut(last).unwrap()[byte] = 0x10;
        let damaged = disk_with(&image);
        match open(&damaged, &inline(), Lsn::FIRST) {
            Ok((_, report, replayed)) => {
                assert_eq!(replayed.len(), payloads.len(), "byte {byte}");
                assert_eq!(report.n_torn_tails_repaired, 1, "byte {byte}");
                n_cut += 1;
            }
            Err(WalError::Corrupt { offset, .. }) => {
                assert_eq!(offset as usize, end);
                let same_sector = (byte as u64 / SECTOR_BYTES) == (end as u64 / SECTOR_BYTES);
                assert!(same_sector && byte >= end + 32, "byte {byte}");
                assert_eq!(damaged.snapshot(&wal_dir()), image, "byte {byte}: modified");
                n_refused += 1;
            }
            Err(other) => panic!("byte {byte}: {other}"),
        }
    }
    assert!(n_cut > 0 && n_refused > 0, "{n_cut} {n_refused}");
}

#[test]
fn a_crash_at_any_step_of_rotation_into_a_spare_recovers_every_acknowledged_record() {
    // The IO of a rotation into a spare, in order: fsync the active segment, truncate it and
    // fsync it (seal), write the header into the spare, fsync it, rename it, fsync the
    // directory; then the next spare: create, zero-fill, fsync. Fail each call in turn (the
    // process stops there), crash in every mode, and recover.
    let payloads: Vec<Vec<u8>> = (0..40).map(|idx| payload(idx, 200)).collect();
    let reference = SimDisk::new();
    write_synced(&reference, &inline(), &payloads);
    let sites = [
        Site::Open,
        Site::Write,
        Site::Fsync,
        Site::SyncDir,
        Site::Rename,
        Site::Truncate,
    ];
    let mut n_cases = 0;
    for site in sites {
        for skip in 0..reference.calls(site) {
            for (m, mode) in [
                CrashMode::DropUnsynced,
                CrashMode::TornPrefix { seed: skip },
                CrashMode::TornSectors { seed: skip },
            ]
            .into_iter()
            .enumerate()
            {
                let disk = SimDisk::new();
                disk.inject(Fault::new(site, FaultKind::Eio).skip(skip).times(1));
                let mut acked: Records = Vec::new();
                if let Ok((mut wal, _, _)) = open(&disk, &inline(), Lsn::FIRST) {
                    for bytes in &payloads {
                        let Ok(lsn) = wal.append(bytes) else { break };
                        if wal.sync().is_err() {
                            break;
                        }
                        acked.push((lsn, bytes.clone()));
                    }
                }
                disk.crash(mode);
                disk.clear_faults();
                let context = format!("{site:?} #{skip} {m}");
                let (mut wal, report, replayed) = open(&disk, &inline(), Lsn::FIRST)
                    .unwrap_or_else(|error| panic!("{context}: {error}"));
                assert!(
                    replayed.len() >= acked.len() && replayed[..acked.len()] == acked[..],
                    "{context}: an acknowledged record was lost"
                );
                for (idx, (lsn, bytes)) in replayed.iter().enumerate() {
                    assert_eq!(*lsn, Lsn(idx as u64 + 1), "{context}");
                    assert_eq!(bytes, &payloads[idx], "{context}");
                }
                let tmp_left = other_files(&disk)
                    .into_iter()
                    .filter(|name| name.ends_with(".tmp") && name != SPARE_FILE_NAME)
                    .count();
                assert_eq!(tmp_left, 0, "{context}: leftover tmp files are removed");
                let _ = report;
                // The log goes on.
                let lsn = wal.append(b"after").unwrap();
                wal.sync().unwrap();
                drop(wal);
                let (_, again, replayed) = open(&disk, &inline(), Lsn::FIRST).unwrap();
                assert_eq!(again.n_torn_tails_repaired, 0, "{context}");
                assert_eq!(replayed.last().unwrap(), &(lsn, b"after".to_vec()));
                n_cases += 1;
            }
        }
    }
    assert!(n_cases > 100, "{n_cases}");
}

#[test]
fn obsolete_segments_are_recycled_into_spares_zero_filled_whole() {
    // Decision 0018: the segments a snapshot made obsolete (the newest four) are renamed to
    // `recycle-*.wal.tmp` and become the next spares. Their old records must not survive into
    // the new segments: every sealed segment ends at its records, the active one is records then
    // zeros, and a reopen replays exactly what was written after the covered LSN.
    let disk = SimDisk::new();
    let (mut wal, _, _) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    let mut written: Records = Vec::new();
    let mut append = |wal: &mut Wal, idx: u64, bytes: usize| {
        let bytes = payload(idx, bytes);
        let lsn = wal.append(&bytes).unwrap();
        wal.sync().unwrap();
        written.push((lsn, bytes));
    };
    // One record larger than the segment target among the newest segments: its segment
    // outgrows the target and must be cut back to it when recycled.
    for idx in 0..30 {
        append(&mut wal, idx, 300);
    }
    append(&mut wal, 30, 6000);
    for idx in 31..60 {
        append(&mut wal, idx, 300);
    }
    let n_segments = segment_paths(&disk).len();
    assert!(n_segments >= 6, "{n_segments} segments");
    let covered = wal.durable_lsn();
    append(&mut wal, 60, 300);
    let reclamation = wal.remove_segments_before(covered).unwrap();
    assert_eq!(reclamation.removed.len(), n_segments - 1);
    assert_eq!(reclamation.n_recycled, 4, "the newest four wait for reuse");
    assert!(reclamation.removed[n_segments - 5..]
        .iter()
        .any(|segment| segment.bytes > TARGET));
    let recycling = || -> Vec<String> {
        other_files(&disk)
            .into_iter()
            .filter(|name| name.starts_with("recycle-") && name.ends_with(".wal.tmp"))
            .collect()
    };
    assert_eq!(recycling().len(), 4, "{:?}", recycling());
    assert_eq!(wal.stats().segments_recycled, 4);

    // Each rotation takes the ready spare and prepares the next one (inline) from the pool:
    // every such spare is the target's length of zeros, whatever the file held before.
    let mut idx = 61;
    for n_left in (0..4).rev() {
        let rotations = wal.stats().rotations_into_spare;
        while wal.stats().rotations_into_spare == rotations {
            append(&mut wal, idx, 300);
            idx += 1;
        }
        assert_eq!(recycling().len(), n_left);
        let spare = disk.file(&wal_dir().join(SPARE_FILE_NAME)).unwrap();
        assert_eq!(spare.len(), TARGET as usize);
        assert!(
            spare.iter().all(|&b| b == 0),
            "a recycled spare kept old bytes"
        );
    }
    for _ in 0..40 {
        append(&mut wal, idx, 300);
        idx += 1;
    }
    let stats = wal.stats();
    assert_eq!(
        stats.rotations_into_recycled_spare, 4,
        "each of the four became a segment: {stats:?}"
    );
    assert!(stats.rotations_into_spare > stats.rotations_into_recycled_spare);
    let spare = disk.file(&wal_dir().join(SPARE_FILE_NAME)).unwrap();
    assert_eq!(spare, vec![0u8; TARGET as usize]);
    let paths = segment_paths(&disk);
    for path in &paths {
        let bytes = disk.file(path).unwrap();
        let end = records_end(&bytes);
        if path == paths.last().unwrap() {
            assert_eq!(bytes.len(), TARGET as usize, "{path:?}");
            assert!(
                bytes[end..].iter().all(|&b| b == 0),
                "{path:?}: stale bytes"
            );
        } else {
            assert_eq!(end, bytes.len(), "sealed {path:?} ends at its records");
        }
    }
    drop(wal);
    let (_, report, replayed) = open(&disk, &inline(), covered.next()).unwrap();
    assert_eq!(report.n_torn_tails_repaired, 0);
    let expected: Records = written
        .iter()
        .filter(|(lsn, _)| *lsn > covered)
        .cloned()
        .collect();
    assert_eq!(replayed, expected);
}

#[test]
fn recycled_segments_waiting_at_a_crash_are_removed_at_open() {
    // Crash with renamed obsolete segments waiting in the pool: an open removes them like any
    // tmp file, and nothing they held is replayed.
    let disk = SimDisk::new();
    let payloads: Vec<Vec<u8>> = (0..40).map(|idx| payload(idx, 300)).collect();
    let (mut wal, _, _) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    let mut written: Records = Vec::new();
    for bytes in &payloads {
        let lsn = wal.append(bytes).unwrap();
        wal.sync().unwrap();
        written.push((lsn, bytes.clone()));
    }
    let covered = written[30].0;
    let reclamation = wal.remove_segments_before(covered).unwrap();
    assert!(reclamation.n_recycled >= 1, "{reclamation:?}");
    drop(wal);
    disk.crash(CrashMode::DropUnsynced);
    let (_, report, replayed) = open(&disk, &inline(), covered.next()).unwrap();
    // The spare and the recycled segments.
    assert_eq!(report.n_tmp_files_removed, 1 + reclamation.n_recycled);
    assert!(!other_files(&disk)
        .iter()
        .any(|name| name.starts_with("recycle-")));
    assert_eq!(replayed, written[31..].to_vec());
}

#[test]
fn a_leftover_spare_is_removed_at_open() {
    // Crash after the spare's header was written, before the rename became durable: the name
    // is still the spare's (or the rename is undone). The next open removes it.
    let disk = SimDisk::new();
    let payloads: Vec<Vec<u8>> = (0..10).map(|idx| payload(idx, 300)).collect();
    let written = write_synced(&disk, &inline(), &payloads);
    // The rename of the next rotation fails: the spare with its header stays behind, as if
    // the process died right before the rename.
    disk.inject(Fault::new(Site::Rename, FaultKind::Eio).times(1));
    // (write_synced dropped its log; reopen and push a rotation)
    let (mut wal, _, _) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    let mut acked = written.clone();
    for idx in 10..30 {
        let bytes = payload(idx, 300);
        let lsn = wal.append(&bytes).unwrap();
        wal.sync().unwrap();
        acked.push((lsn, bytes));
    }
    drop(wal);
    disk.crash(CrashMode::DropUnsynced);
    let (_, report, replayed) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    assert_eq!(
        replayed, acked,
        "the failed install fell back to a plain segment"
    );
    assert_eq!(report.n_torn_tails_repaired, 0);

    // A spare left over from a previous process is removed (and a fresh one prepared).
    let spare = wal_dir().join(SPARE_FILE_NAME);
    let leftover = SimDisk::new();
    let mut image: BTreeMap<PathBuf, Vec<u8>> = disk.snapshot(&wal_dir());
    image.insert(spare.clone(), vec![0xab; 1000]);
    let leftover_disk = disk_with(&image);
    drop(leftover);
    let (wal, report, replayed) = open(&leftover_disk, &inline(), Lsn::FIRST).unwrap();
    assert_eq!(replayed, acked);
    assert_eq!(report.n_tmp_files_removed, 1);
    assert!(wal.spare_ready());
    assert_eq!(
        leftover_disk.file(&spare).unwrap(),
        vec![0u8; TARGET as usize]
    );
}

#[test]
fn random_crashes_with_preallocation_never_lose_an_acknowledged_record() {
    let mut n_crashes = 0;
    let mut n_torn_repairs = 0;
    let mut n_recycled_rotations = 0;
    let options = inline();
    for seed in 0..300 {
        let mut rng = SplitMix::new(seed ^ 0x5ea1);
        let disk = SimDisk::new();
        let mut oracle = Oracle::new();
        let (mut wal, _, _) = open(&disk, &options, Lsn::FIRST).unwrap();
        for cycle in 0..4 {
            if rng.below(3) == 0 {
                let (site, kind) = match rng.below(6) {
                    0 => (Site::Write, FaultKind::ShortWrite),
                    1 => (Site::Write, FaultKind::Eio),
                    2 => (Site::Open, FaultKind::Enospc),
                    3 => (Site::Rename, FaultKind::Eio),
                    4 => (Site::Truncate, FaultKind::Eio),
                    _ => (Site::Fsync, FaultKind::Eio),
                };
                disk.inject(
                    Fault::new(site, kind)
                        .skip(rng.below(40))
                        .times(1 + rng.below(3)),
                );
            }
            let n_ops = 20 + rng.below(100) as usize;
            let payload_max = 1 + rng.below(600);
            let failed = drive(&mut wal, &mut oracle, &mut rng, n_ops, payload_max);
            if !failed {
                for _ in 0..rng.below(6) {
                    let bytes = payload(rng.next_u64(), 1 + rng.below(900) as usize);
                    if let Ok(lsn) = wal.append(&bytes) {
                        oracle.attempt(lsn, &bytes);
                    }
                }
                if rng.below(2) == 0 {
                    let _ = wal.flush();
                }
            }
            n_recycled_rotations += wal.stats().rotations_into_recycled_spare;
            drop(wal);
            let mode = match rng.below(3) {
                0 => CrashMode::DropUnsynced,
                1 => CrashMode::TornPrefix {
                    seed: rng.next_u64(),
                },
                _ => CrashMode::TornSectors {
                    seed: rng.next_u64(),
                },
            };
            let context = format!("seed {seed} cycle {cycle} {mode:?}");
            let before = other_files(&disk)
                .iter()
                .filter(|name| name.contains(".torn-"))
                .count();
            wal = crash_and_recover(&disk, &options, &mut oracle, mode, &context);
            n_torn_repairs += other_files(&disk)
                .iter()
                .filter(|name| name.contains(".torn-"))
                .count()
                - before;
            n_crashes += 1;
        }
        // Every segment but the last is sealed at its records.
        let paths = segment_paths(&disk);
        for path in &paths[..paths.len() - 1] {
            let bytes = disk.file(path).unwrap();
            assert_eq!(records_end(&bytes), bytes.len(), "seed {seed}: {path:?}");
        }
    }
    assert_eq!(n_crashes, 1200);
    assert!(
        n_recycled_rotations >= 100,
        "rotations into recycled segments were exercised ({n_recycled_rotations})"
    );
    assert!(
        n_torn_repairs >= 30,
        "torn writes over zeros were exercised ({n_torn_repairs})"
    );
}

#[test]
fn crashes_with_a_background_spare_never_lose_an_acknowledged_record() {
    // The spare thread runs concurrently with the log: the interleaving is not reproducible,
    // but the oracle must hold for every one.
    let options = prealloc(Preallocate::Background);
    for seed in 0..40 {
        let mut rng = SplitMix::new(seed ^ 0xb0b);
        let disk = SimDisk::new();
        let mut oracle = Oracle::new();
        let (mut wal, _, _) = open(&disk, &options, Lsn::FIRST).unwrap();
        for cycle in 0..3 {
            if rng.below(2) == 0 {
                wal.wait_for_spare();
            }
            let payload_max = 1 + rng.below(600);
            drive(&mut wal, &mut oracle, &mut rng, 60, payload_max);
            drop(wal);
            let mode = if rng.below(2) == 0 {
                CrashMode::TornSectors {
                    seed: rng.next_u64(),
                }
            } else {
                CrashMode::TornPrefix {
                    seed: rng.next_u64(),
                }
            };
            let context = format!("seed {seed} cycle {cycle} {mode:?}");
            wal = crash_and_recover(&disk, &options, &mut oracle, mode, &context);
        }
    }
}

#[test]
fn a_missing_spare_falls_back_to_plain_segments() {
    // Every spare creation fails: rotations create plain (growing) segments, nothing stalls.
    for mode in [Preallocate::Inline, Preallocate::Background] {
        let disk = SimDisk::new();
        disk.inject(Fault::new(Site::Open, FaultKind::Enospc).path_contains(SPARE_FILE_NAME));
        let payloads: Vec<Vec<u8>> = (0..60).map(|idx| payload(idx, 200)).collect();
        let (mut wal, _, _) = open(&disk, &prealloc(mode), Lsn::FIRST).unwrap();
        assert!(!wal.wait_for_spare());
        for bytes in &payloads {
            wal.append(bytes).unwrap();
            wal.sync().unwrap();
        }
        assert!(wal.stats().rotations >= 3);
        assert_eq!(wal.stats().rotations_into_spare, 0);
        drop(wal);
        for path in segment_paths(&disk) {
            let bytes = disk.file(&path).unwrap();
            assert_eq!(
                records_end(&bytes),
                bytes.len(),
                "{mode:?}: not preallocated"
            );
            assert_eq!(version(&bytes), FORMAT_VERSION);
        }
        disk.clear_faults();
        let (_, report, replayed) = open(&disk, &prealloc(mode), Lsn::FIRST).unwrap();
        assert_eq!(replayed.len(), payloads.len());
        assert_eq!(report.n_torn_tails_repaired, 0);
    }
}

#[test]
fn a_version_1_log_opens_and_continues_into_preallocated_segments() {
    let disk = SimDisk::new();
    let plain = prealloc(Preallocate::Off);
    let payloads: Vec<Vec<u8>> = (0..30).map(|idx| payload(idx, 150)).collect();
    let mut written = write_synced(&disk, &plain, &payloads);
    for path in segment_paths(&disk) {
        assert_eq!(version(&disk.file(&path).unwrap()), FORMAT_VERSION_PLAIN);
    }
    let (mut wal, report, replayed) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    assert_eq!(replayed, written);
    assert_eq!(report.n_torn_tails_repaired, 0);
    for idx in 30..40 {
        let bytes = payload(idx, 150);
        let lsn = wal.append(&bytes).unwrap();
        wal.sync().unwrap();
        written.push((lsn, bytes));
    }
    assert!(
        wal.stats().rotations_into_spare >= 1,
        "the spare was adopted"
    );
    drop(wal);
    let paths = segment_paths(&disk);
    let last = disk.file(paths.last().unwrap()).unwrap();
    assert_eq!(version(&last), FORMAT_VERSION);
    assert_eq!(last.len() as u64, TARGET);
    let (_, report, replayed) = open(&disk, &plain, Lsn::FIRST).unwrap();
    assert_eq!(
        replayed, written,
        "and a log with preallocation off reads it"
    );
    assert_eq!(report.n_torn_tails_repaired, 0);

    // Version 1 keeps its rule: zeros after the last record of a plain segment are a torn
    // (zero-fill) tail, cut as before.
    let disk = SimDisk::new();
    let written = write_synced(&disk, &plain, &payloads);
    let last = segment_paths(&disk).pop().unwrap();
    let mut bytes = disk.file(&last).unwrap();
    let end = bytes.len();
    bytes.resize(end + 600, 0);
    disk.set_file(&last, bytes);
    let (_, report, replayed) = open(&disk, &plain, Lsn::FIRST).unwrap();
    assert_eq!(replayed, written);
    assert_eq!(report.torn_tail.unwrap().kind, TornKind::ZeroFill);
    assert_eq!(disk.file(&last).unwrap().len(), end);
}

#[test]
fn offline_tools_understand_preallocated_segments() {
    let (files, last, written) = reference_log(60);
    let disk = disk_with(&files);
    let report = tools::verify(&disk, &wal_dir()).unwrap();
    assert_eq!(report.health, Health::Clean);
    assert_eq!(report.exit_code(), EXIT_OK);
    assert_eq!(report.n_records, written.len() as u64);
    assert_eq!(report.last_lsn, Some(written.last().unwrap().0));
    let active = report.segments.last().unwrap();
    assert_eq!(active.version, FORMAT_VERSION);
    assert_eq!(active.valid_end as usize, records_end(&files[&last]));
    assert_eq!(active.file_bytes, TARGET);

    let mut out = Vec::new();
    tools::dump(&disk, &wal_dir(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.ends_with("crc=ok")).count(),
        written.len()
    );
    assert_eq!(text.matches("preallocated_free=").count(), 1, "{text}");
    assert!(text.trim_end().ends_with("health=clean"), "{text}");

    let quarantine = PathBuf::from("/data/quarantine");
    let salvaged = tools::salvage(&disk, &wal_dir(), &quarantine).unwrap();
    assert_eq!(
        salvaged.cut_from, None,
        "a clean preallocated log is left alone"
    );
    assert_eq!(disk.snapshot(&wal_dir()), files);

    // Corruption in the active segment: salvage cuts it without the unused zeros.
    let mut image = files.clone();
    let segment = image.get_mut(&last).unwrap();
    let (start, _, _) = spans(segment)[1];
    segment[start + 40] ^= 0x04;
    let data_end = records_end(&files[&last]);
    let disk = disk_with(&image);
    assert_eq!(
        tools::verify(&disk, &wal_dir()).unwrap().exit_code(),
        EXIT_UNREPAIRABLE
    );
    let salvaged = tools::salvage(&disk, &wal_dir(), &quarantine).unwrap();
    let cut = disk.file(&salvaged.quarantined[0]).unwrap();
    assert_eq!(cut.len(), data_end - start);
    assert_eq!(disk.file(&last).unwrap().len(), start);
    let (_, report, _) = open(&disk, &inline(), Lsn::FIRST).unwrap();
    assert_eq!(report.n_torn_tails_repaired, 0);
}

#[test]
fn preallocated_segments_on_real_files_keep_their_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let options = WalOptions {
        segment_bytes_target: 256 * 1024,
        preallocate: Preallocate::Background,
        ..WalOptions::default()
    };
    let open_real = || {
        let mut n = 0u64;
        let (wal, report) = Wal::open(
            Arc::new(FileDisk),
            &dir,
            options.clone(),
            Lsn::FIRST,
            |_, _, _| n += 1,
        )
        .unwrap();
        (wal, report, n)
    };
    let (mut wal, _, _) = open_real();
    assert!(wal.wait_for_spare());
    assert_eq!(
        std::fs::metadata(dir.join(SPARE_FILE_NAME)).unwrap().len(),
        256 * 1024
    );
    let mut n_written = 0u64;
    let mut sizes = BTreeMap::new();
    for idx in 0..2000u64 {
        wal.append(&payload(idx, 300)).unwrap();
        wal.sync().unwrap();
        n_written += 1;
        let active = wal.segments().pop().unwrap();
        sizes
            .entry(active.path.clone())
            .or_insert_with(std::collections::BTreeSet::new)
            .insert(std::fs::metadata(&active.path).unwrap().len());
        if idx % 500 == 0 {
            wal.wait_for_spare();
        }
    }
    let stats = wal.stats();
    assert!(stats.rotations_into_spare >= 3, "{stats:?}");
    assert_eq!(stats.fsync_histogram.iter().sum::<u64>(), stats.fsyncs);
    // Segments that started from a spare never changed size while they were active.
    let from_spares = sizes
        .values()
        .filter(|set| set.len() == 1 && set.contains(&(256 * 1024)))
        .count();
    assert!(from_spares >= 3, "{sizes:?}");
    let segments = wal.segments();
    drop(wal);
    for segment in &segments[..segments.len() - 1] {
        assert_eq!(
            std::fs::metadata(&segment.path).unwrap().len(),
            segment.bytes,
            "sealed at its records"
        );
    }
    let (_, report, n) = open_real();
    assert_eq!(n, n_written);
    assert_eq!(report.n_torn_tails_repaired, 0);
    assert_eq!(
        report.n_tmp_files_removed, 1,
        "the spare left by the last run"
    );
    let _ = SegmentId(Lsn::FIRST);
}
