//! Hazard: an operator facing `WAL unrepairable` has no way to see what is wrong or to get the
//! server back with the valid prefix, and ends up deleting the whole WAL (or a tool silently
//! cuts more than it says). `verify` must name the damage and exit non-zero, `dump` must list
//! every record, and `salvage` must move exactly the damaged suffix (including later segments)
//! into a quarantine directory, after which the log opens with the valid prefix.

mod common;

use std::path::PathBuf;

use common::{open, payload, record_spans, segment_paths, small_segments, wal_dir, write_synced};
use persist::tools::{self, Health, EXIT_OK, EXIT_UNREPAIRABLE};
use persist::{Lsn, SimDisk};

fn damaged_log() -> (SimDisk, Vec<(Lsn, Vec<u8>)>, PathBuf, usize) {
    let disk = SimDisk::new();
    let payloads: Vec<Vec<u8>> = (0..150).map(|idx| payload(idx, 60)).collect();
    let written = write_synced(&disk, &small_segments(), &payloads);
    let segments = segment_paths(&disk);
    assert!(segments.len() >= 3);
    // Flip a payload byte of the 5th record of the second segment.
    let victim = segments[1].clone();
    let mut bytes = disk.file(&victim).unwrap();
    let (start, _, _) = record_spans(&bytes)[4];
    bytes[start + 40] ^= 0x04;
    disk.set_file(&victim, bytes);
    (disk, written, victim, start)
}

#[test]
fn verify_names_the_damage_and_exits_non_zero() {
    let (disk, written, victim, start) = damaged_log();
    let report = tools::verify(&disk, &wal_dir()).unwrap();
    assert_eq!(report.exit_code(), EXIT_UNREPAIRABLE);
    let Health::Corrupt(corrupt) = &report.health else {
        panic!("{:?}", report.health)
    };
    assert_eq!((&corrupt.path, corrupt.offset as usize), (&victim, start));
    let first_of_victim = report.segments[1].id.first_lsn();
    assert_eq!(corrupt.lsn, Lsn(first_of_victim.0 + 4));
    assert!(corrupt
        .to_error()
        .to_string()
        .starts_with("WAL unrepairable"));
    assert_eq!(report.first_lsn, Some(Lsn::FIRST));
    assert_eq!(report.last_lsn, Some(Lsn(first_of_victim.0 + 3)));
    assert!(report.n_records < written.len() as u64);
}

#[test]
fn dump_lists_every_record_and_the_problem() {
    let (disk, written, _, _) = damaged_log();
    let mut out = Vec::new();
    tools::dump(&disk, &wal_dir(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let n_ok = text.lines().filter(|line| line.ends_with("crc=ok")).count();
    assert_eq!(
        n_ok,
        written.len() - 1,
        "every other record is listed, later segments too"
    );
    assert_eq!(
        text.lines().filter(|line| line.contains("crc=bad")).count(),
        1
    );
    assert!(text.lines().last().unwrap().contains("WAL unrepairable"));
    assert!(text
        .lines()
        .next()
        .unwrap()
        .starts_with("segment=00000000000000000001.wal offset=32 lsn=1 "));
}

#[test]
fn salvage_keeps_the_valid_prefix_and_quarantines_the_rest() {
    let (disk, written, victim, start) = damaged_log();
    let files_before = disk.snapshot(&wal_dir());
    let total_before: usize = files_before.values().map(Vec::len).sum();
    let quarantine = wal_dir().join("salvage");
    let report = tools::salvage(&disk, &wal_dir(), &quarantine).unwrap();
    let (cut_file, cut_offset, cut_lsn) = report.cut_from.clone().unwrap();
    assert_eq!((cut_file, cut_offset as usize), (victim.clone(), start));
    assert_eq!(report.next_lsn, Some(cut_lsn));
    // Accounting: kept + quarantined = before.
    let kept: usize = segment_paths(&disk)
        .iter()
        .map(|p| disk.file(p).unwrap().len())
        .sum();
    assert_eq!(kept as u64 + report.bytes_quarantined, total_before as u64);
    assert!(report.quarantined.iter().all(|p| disk.file(p).is_some()));
    assert_eq!(segment_paths(&disk).last().unwrap(), &victim);
    // The server starts with the valid prefix and keeps numbering after it.
    let (mut wal, _, replayed) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
    assert_eq!(replayed, written[..(cut_lsn.0 - 1) as usize].to_vec());
    assert_eq!(wal.append(b"resumed").unwrap(), cut_lsn);
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(
        tools::verify(&disk, &wal_dir()).unwrap().exit_code(),
        EXIT_OK
    );
    // Salvaging a healthy log does nothing.
    let report = tools::salvage(&disk, &wal_dir(), &quarantine).unwrap();
    assert_eq!(report.cut_from, None);
}
