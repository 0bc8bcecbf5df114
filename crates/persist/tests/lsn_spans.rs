//! Records covering several LSNs (format versions 3 and 4, decision 0024): the store packs a run
//! of pushes into one record, so a record of `n` entries takes `n` consecutive LSNs. Hazards:
//! recovery miscounting LSNs after such a record (a gap or an overlap reported where there is
//! none, or records silently skipped), a torn spanning record cut wrongly, damage inside one
//! going unnoticed, and logs written by an older weir (versions 1 and 2, single-LSN records
//! only) being misread or written into in a shape their version does not allow.

mod common;

use std::path::{Path, PathBuf};

use common::{
    disk_with, open_counted, payload, record_spans, segment_paths, small_segments, wal_dir,
    CountedRecords as Counted, Image,
};
use persist::{
    Lsn, Preallocate, SegmentHeader, SimDisk, WalError, WalOptions, FORMAT_VERSION,
    FORMAT_VERSION_PLAIN, FORMAT_VERSION_PLAIN_SINGLE, FORMAT_VERSION_PREALLOCATED_SINGLE,
};

/// LSNs covered by the `idx`-th record of the reference logs: mostly several, sometimes one.
fn lsn_count_of(idx: u64) -> u32 {
    [1, 7, 300, 2, 1, 64][idx as usize % 6]
}

fn preallocated() -> WalOptions {
    WalOptions {
        preallocate: Preallocate::Inline,
        ..small_segments()
    }
}

/// Writes `n` records (LSN counts from `lsn_count_of`), syncing after each, and returns them.
fn write_counted(disk: &SimDisk, options: &WalOptions, n: u64) -> Counted {
    let (mut wal, _, existing) = open_counted(disk, options, Lsn::FIRST).expect("open");
    assert!(existing.is_empty());
    let mut written = Vec::new();
    for idx in 0..n {
        let bytes = payload(idx, 40 + (idx as usize * 13) % 90);
        let lsn_count = lsn_count_of(idx);
        let lsn = wal.append_many(&bytes, lsn_count).expect("append");
        wal.sync().expect("sync");
        written.push((lsn, u64::from(lsn_count), bytes));
    }
    written
}

fn next_lsn_after(records: &[(Lsn, u64, Vec<u8>)]) -> Lsn {
    records
        .last()
        .map_or(Lsn::FIRST, |(lsn, n, _)| Lsn(lsn.0 + n))
}

/// Rewrites a segment header's format version (and its checksum), leaving the records as they
/// are: how a log an older weir wrote looks (its records all cover one LSN).
fn with_version(segment: &[u8], version: u32) -> Vec<u8> {
    let mut header = SegmentHeader::decode(segment).unwrap();
    header.version = version;
    let mut bytes = segment.to_vec();
    bytes[..persist::SEGMENT_HEADER_BYTES].copy_from_slice(&header.encode());
    bytes
}

#[test]
fn spanning_records_replay_with_their_first_lsn_and_count_across_segments() {
    for options in [small_segments(), preallocated()] {
        let disk = SimDisk::new();
        let written = write_counted(&disk, &options, 100);
        assert!(segment_paths(&disk).len() >= 2, "the log spans segments");
        let (mut wal, report, replayed) = open_counted(&disk, &options, Lsn::FIRST).unwrap();
        assert_eq!(replayed, written);
        assert_eq!(report.n_records, 100);
        assert_eq!(wal.next_lsn(), next_lsn_after(&written));
        // Appends continue the sequence after the last LSN the last record covers.
        let lsn = wal.append_many(b"after reopen", 3).unwrap();
        assert_eq!(lsn, next_lsn_after(&written));
        wal.sync().unwrap();
        // Sealed segments report the last LSN their last record covers.
        for pair in wal.segments().windows(2) {
            assert_eq!(pair[0].last_lsn, Some(pair[1].first_lsn.prev()));
        }
        drop(wal);
        let (_, _, again) = open_counted(&disk, &options, Lsn::FIRST).unwrap();
        assert_eq!(again.len(), 101);
        assert_eq!(again[100], (lsn, 3, b"after reopen".to_vec()));
    }
}

#[test]
fn replay_from_inside_a_spanning_record_visits_it_whole() {
    let disk = SimDisk::new();
    let written = write_counted(&disk, &small_segments(), 12);
    let (start, count, _) = written[2].clone();
    assert_eq!(count, 300);
    let (_, _, replayed) = open_counted(&disk, &small_segments(), Lsn(start.0 + 150)).unwrap();
    assert_eq!(replayed, written[2..].to_vec());
    let (_, _, replayed) = open_counted(&disk, &small_segments(), Lsn(start.0 + 300)).unwrap();
    assert_eq!(
        replayed,
        written[3..].to_vec(),
        "the next record starts there"
    );
}

/// Cuts the last segment at every offset of its last three records (also zero-extended back to
/// its length, as a write over preallocated space or a size update that outran the data leaves
/// it) and requires exactly the complete records back, numbered on from the cut record's first
/// LSN.
#[test]
fn every_cut_of_the_last_spanning_records_recovers_exactly_the_complete_ones() {
    for options in [small_segments(), preallocated()] {
        let disk = SimDisk::new();
        let written = write_counted(&disk, &options, 40);
        let files = disk.snapshot(&wal_dir());
        let last = segment_paths(&disk).pop().unwrap();
        let segment = files[&last].clone();
        let spans = record_spans_until_zeros(&segment);
        assert!(spans.len() >= 3);
        let n_before = written.len() - spans.len();
        for cut in spans[spans.len() - 3].0..=spans.last().unwrap().1 {
            let n_complete = n_before + spans.iter().filter(|(_, end, _)| *end <= cut).count();
            for zero_extend in [false, true] {
                let mut damaged = segment[..cut].to_vec();
                if zero_extend {
                    damaged.resize(segment.len() + 1000, 0);
                }
                check_cut(&files, &last, damaged, &options, &written[..n_complete]);
            }
        }
    }
}

/// Record spans of a segment image, stopping at a zero tail (unused preallocated space).
fn record_spans_until_zeros(segment: &[u8]) -> Vec<(usize, usize, Lsn)> {
    let end = segment
        .iter()
        .rposition(|&b| b != 0)
        .map_or(segment.len(), |idx| idx + 1);
    record_spans(&segment[..end])
}

fn check_cut(
    files: &Image,
    last: &Path,
    damaged: Vec<u8>,
    options: &WalOptions,
    complete: &[(Lsn, u64, Vec<u8>)],
) {
    let mut image = files.clone();
    image.insert(last.to_path_buf(), damaged.clone());
    let disk = disk_with(&image);
    let (wal, _, replayed) = open_counted(&disk, options, Lsn::FIRST).unwrap_or_else(|error| {
        panic!(
            "open after a cut to {} bytes ({} non-zero, {} LSNs complete): {error}",
            damaged.len(),
            damaged.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1),
            complete.len()
        )
    });
    assert_eq!(replayed, complete, "exactly the complete records");
    assert_eq!(wal.next_lsn(), next_lsn_after(complete));
    drop(wal);
    let (_, again, replayed) = open_counted(&disk, options, Lsn::FIRST).unwrap();
    assert_eq!(again.n_torn_tails_repaired, 0, "the repair is done once");
    assert_eq!(replayed, complete);
}

#[test]
fn every_bit_flip_in_a_log_of_spanning_records_is_refused_in_place() {
    let disk = SimDisk::new();
    write_counted(&disk, &small_segments(), 60);
    let files = disk.snapshot(&wal_dir());
    let segments = segment_paths(&disk);
    assert!(segments.len() >= 2);
    for path in &segments {
        let pristine = files[path].clone();
        let first_lsn = SegmentHeader::decode(&pristine).unwrap().first_lsn;
        let spans = record_spans(&pristine);
        // Keep the last record's start away from a sector's last 4 bytes (a flip there could
        // read as a torn header: the residual risk in `recovery`).
        assert!(spans.last().unwrap().0 as u64 % persist::SECTOR_BYTES < persist::SECTOR_BYTES - 4);
        for byte in 0..pristine.len() {
            // The damaged record: where it starts and its first LSN (the segment's header: 0).
            let (offset, lsn) = spans
                .iter()
                .find(|(start, end, _)| (*start..*end).contains(&byte))
                .map_or((0, first_lsn), |(start, _, lsn)| (*start as u64, *lsn));
            for bit in [0, 3, 7] {
                let mut damaged = pristine.clone();
                damaged[byte] ^= 1 << bit;
                let mut image = files.clone();
                image.insert(path.clone(), damaged);
                let disk = disk_with(&image);
                match open_counted(&disk, &small_segments(), Lsn::FIRST) {
                    Err(WalError::Corrupt {
                        file,
                        offset: at,
                        lsn: at_lsn,
                        reason,
                    }) => assert_eq!(
                        (&file, at, at_lsn),
                        (path, offset, lsn),
                        "bit {bit} of byte {byte}: wrong place ({reason})"
                    ),
                    Err(other) => panic!("bit {bit} of byte {byte}: {other}"),
                    Ok(_) => panic!("bit {bit} of byte {byte}: damage not detected"),
                }
                assert_eq!(disk.snapshot(&wal_dir()), image, "nothing modified");
            }
        }
    }
}

/// A log an older weir wrote, and kept using: its segments say version 1 (plain) or 2
/// (preallocated).
fn legacy_log(options: &WalOptions, legacy_version: u32, n: u64) -> (SimDisk, Counted) {
    let disk = SimDisk::new();
    let (mut wal, _, _) = open_counted(&disk, options, Lsn::FIRST).unwrap();
    let mut written = Vec::new();
    for idx in 0..n {
        let bytes = payload(idx, 50);
        let lsn = wal.append(&bytes).unwrap();
        written.push((lsn, 1, bytes));
    }
    wal.sync().unwrap();
    drop(wal);
    for path in segment_paths(&disk) {
        let bytes = disk.file(&path).unwrap();
        disk.set_file(&path, with_version(&bytes, legacy_version));
    }
    (disk, written)
}

fn versions(disk: &SimDisk) -> Vec<(PathBuf, u32)> {
    segment_paths(disk)
        .into_iter()
        .map(|path| {
            let version = SegmentHeader::decode(&disk.file(&path).unwrap())
                .unwrap()
                .version;
            (path, version)
        })
        .collect()
}

#[test]
fn a_log_from_before_version_3_takes_spanning_records_in_a_new_segment() {
    for (options, legacy, current) in [
        (
            small_segments(),
            FORMAT_VERSION_PLAIN_SINGLE,
            FORMAT_VERSION_PLAIN,
        ),
        (
            preallocated(),
            FORMAT_VERSION_PREALLOCATED_SINGLE,
            FORMAT_VERSION,
        ),
    ] {
        // With records: the old segment is sealed as it is and a new one follows.
        let (disk, mut written) = legacy_log(&options, legacy, 5);
        let old = segment_paths(&disk);
        assert_eq!(old.len(), 1);
        let (mut wal, _, replayed) = open_counted(&disk, &options, Lsn::FIRST).unwrap();
        assert_eq!(replayed, written);
        // A single-LSN record still goes into the old segment.
        let lsn = wal.append(b"single").unwrap();
        written.push((lsn, 1, b"single".to_vec()));
        let lsn = wal.append_many(b"spanning", 9).unwrap();
        written.push((lsn, 9, b"spanning".to_vec()));
        wal.sync().unwrap();
        drop(wal);
        let after = versions(&disk);
        assert_eq!(after.len(), 2);
        assert_eq!(
            after[0],
            (old[0].clone(), legacy),
            "the old segment keeps its version"
        );
        assert_eq!(after[1].1, current);
        assert_eq!(
            after[1].0,
            wal_dir().join(persist::SegmentId(lsn).file_name())
        );
        let (wal, _, replayed) = open_counted(&disk, &options, Lsn::FIRST).unwrap();
        assert_eq!(replayed, written);
        assert_eq!(wal.next_lsn(), Lsn(lsn.0 + 9));

        // Without records: the empty old segment is replaced under its own name.
        let (disk, _) = legacy_log(&options, legacy, 0);
        let (mut wal, _, _) = open_counted(&disk, &options, Lsn::FIRST).unwrap();
        assert_eq!(wal.append_many(b"first", 4).unwrap(), Lsn::FIRST);
        wal.sync().unwrap();
        drop(wal);
        let after = versions(&disk);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].1, current);
        let (_, _, replayed) = open_counted(&disk, &options, Lsn::FIRST).unwrap();
        assert_eq!(replayed, vec![(Lsn::FIRST, 4, b"first".to_vec())]);
    }
}

#[test]
fn a_spanning_record_in_a_segment_from_before_version_3_is_corruption() {
    let disk = SimDisk::new();
    let written = write_counted(&disk, &small_segments(), 3);
    let path = segment_paths(&disk).pop().unwrap();
    let bytes = disk.file(&path).unwrap();
    disk.set_file(&path, with_version(&bytes, FORMAT_VERSION_PLAIN_SINGLE));
    let before = disk.snapshot(&wal_dir());
    // Record 0 covers one LSN; record 1 covers seven, which version 1 cannot express.
    let spans = record_spans(&bytes);
    match open_counted(&disk, &small_segments(), Lsn::FIRST) {
        Err(WalError::Corrupt {
            offset,
            lsn,
            reason,
            ..
        }) => {
            assert_eq!((offset, lsn), (spans[1].0 as u64, written[1].0), "{reason}");
            assert!(
                reason.contains("covers") || reason.contains("cover"),
                "{reason}"
            );
        }
        other => panic!("expected corruption, got {:?}", other.map(|_| ())),
    }
    assert_eq!(disk.snapshot(&wal_dir()), before, "nothing modified");
}

/// The offline tools on a log of spanning records: `verify` names the damaged record by its
/// first LSN and reports the last LSN the records before it cover, `dump` marks records covering
/// several LSNs, `salvage` keeps exactly the records before the damage, and the log resumes at
/// the damaged record's first LSN.
#[test]
fn verify_dump_and_salvage_count_lsns_not_records() {
    use persist::tools::{self, Health, EXIT_OK, EXIT_UNREPAIRABLE};
    let disk = SimDisk::new();
    let written = write_counted(&disk, &small_segments(), 60);
    let segments = segment_paths(&disk);
    assert!(segments.len() >= 2);
    let victim = segments[1].clone();
    let mut bytes = disk.file(&victim).unwrap();
    let spans = record_spans(&bytes);
    let (start, _, victim_lsn) = spans[3];
    bytes[start + persist::RECORD_HEADER_BYTES + 5] ^= 0x10;
    disk.set_file(&victim, bytes);
    let n_kept = written
        .iter()
        .position(|(lsn, ..)| *lsn == victim_lsn)
        .unwrap();

    let report = tools::verify(&disk, &wal_dir()).unwrap();
    assert_eq!(report.exit_code(), EXIT_UNREPAIRABLE);
    let Health::Corrupt(corrupt) = &report.health else {
        panic!("{:?}", report.health)
    };
    assert_eq!((corrupt.offset as usize, corrupt.lsn), (start, victim_lsn));
    assert_eq!(report.last_lsn, Some(victim_lsn.prev()));

    let mut out = Vec::new();
    tools::dump(&disk, &wal_dir(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let spanning = written.iter().filter(|(_, n, _)| *n > 1).count();
    assert_eq!(
        text.lines().filter(|line| line.contains(" lsns=")).count(),
        spanning,
        "every record covering several LSNs is marked (the damaged one keeps its framing)"
    );
    assert!(text.contains(&format!("lsn={} ", written[2].0)));
    assert!(text.contains(&format!("lsns={}", lsn_count_of(2))));

    let quarantine = wal_dir().join("salvage");
    let report = tools::salvage(&disk, &wal_dir(), &quarantine).unwrap();
    assert_eq!(report.next_lsn, Some(victim_lsn));
    let (mut wal, _, replayed) = open_counted(&disk, &small_segments(), Lsn::FIRST).unwrap();
    assert_eq!(replayed, written[..n_kept].to_vec());
    assert_eq!(wal.append_many(b"resumed", 5).unwrap(), victim_lsn);
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(
        tools::verify(&disk, &wal_dir()).unwrap().exit_code(),
        EXIT_OK
    );
}
