//! Hazard: damage to acknowledged data is "repaired" away. etcd (and elastickv, which inherits
//! it) treat a length field pointing past EOF, or a zeroed sector, as a torn write and truncate
//! every later record of the segment; raft-engine truncates any decode error in its last file.
//! These tests flip every bit of a fully synced two-segment log, zero every sector of it, and
//! break it structurally (missing middle segment, LSN gap or duplicate, bad segment header,
//! missing head): `open` must refuse with `Corrupt` naming the file, the offset and the LSN of the
//! damaged record, say `WAL unrepairable`, and leave every file byte-identical.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{
    disk_with, open, payload, record_spans, segment_paths, small_segments, wal_dir, write_synced,
};
use persist::record;
use persist::{Lsn, SegmentHeader, SimDisk, WalError, SECTOR_BYTES, SEGMENT_HEADER_BYTES};

/// Where a byte of a segment image belongs: `(record start, LSN)`; the segment header maps to
/// `(0, first LSN)`.
fn owner(spans: &[(usize, usize, Lsn)], first_lsn: Lsn, byte: usize) -> (u64, Lsn) {
    if byte < SEGMENT_HEADER_BYTES {
        return (0, first_lsn);
    }
    let (start, _, lsn) = spans
        .iter()
        .find(|(start, end, _)| (*start..*end).contains(&byte))
        .unwrap();
    (*start as u64, *lsn)
}

fn synced_log(n: u64, payload_len: impl Fn(u64) -> usize) -> (SimDisk, BTreeMap<PathBuf, Vec<u8>>) {
    let disk = SimDisk::new();
    let payloads: Vec<Vec<u8>> = (0..n).map(|idx| payload(idx, payload_len(idx))).collect();
    write_synced(&disk, &small_segments(), &payloads);
    let files = disk.snapshot(&wal_dir());
    (disk, files)
}

fn expect_corrupt(
    disk: &SimDisk,
    files: &BTreeMap<PathBuf, Vec<u8>>,
    file: &PathBuf,
    offset: u64,
    lsn: Lsn,
    what: &str,
) {
    match open(disk, &small_segments(), Lsn::FIRST) {
        Err(WalError::Corrupt {
            file: got_file,
            offset: got_offset,
            lsn: got_lsn,
            reason,
        }) => {
            assert_eq!(
                (&got_file, got_offset, got_lsn),
                (file, offset, lsn),
                "{what}: wrong place reported ({reason})"
            );
        }
        Err(other) => panic!("{what}: expected Corrupt, got {other}"),
        Ok(_) => panic!("{what}: damage was not detected"),
    }
    assert_eq!(
        &disk.snapshot(&wal_dir()),
        files,
        "{what}: files must be byte-identical"
    );
}

#[test]
fn every_bit_flip_is_refused_in_place() {
    // Two segments (rotation at 4 KiB), every record synced. Payload sizes keep the final
    // record's start away from a sector's last 4 bytes (see the residual risk in `recovery`).
    let (_, files) = synced_log(60, |idx| 30 + (idx as usize * 17) % 70);
    let disk = disk_with(&files);
    let segments = segment_paths(&disk);
    assert_eq!(segments.len(), 2);
    for path in &segments {
        let pristine = files[path].clone();
        let first_lsn = SegmentHeader::decode(&pristine).unwrap().first_lsn;
        let spans = record_spans(&pristine);
        let last_start = spans.last().unwrap().0 as u64;
        assert!(last_start % SECTOR_BYTES < SECTOR_BYTES - 4);
        for byte in 0..pristine.len() {
            let (offset, lsn) = owner(&spans, first_lsn, byte);
            for bit in 0..8 {
                let mut damaged = pristine.clone();
                damaged[byte] ^= 1 << bit;
                disk.set_file(path, damaged);
                let mut expected = files.clone();
                expected.insert(path.clone(), disk.file(path).unwrap());
                expect_corrupt(
                    &disk,
                    &expected,
                    path,
                    offset,
                    lsn,
                    &format!("bit {bit} of byte {byte}"),
                );
            }
        }
        disk.set_file(path, pristine);
    }
}

#[test]
fn every_zeroed_sector_of_acknowledged_data_is_refused() {
    let (_, files) = synced_log(60, |idx| 30 + (idx as usize * 17) % 70);
    let disk = disk_with(&files);
    let segments = segment_paths(&disk);
    let last_path = segments.last().unwrap().clone();
    let (mut n_refused, mut n_residual) = (0, 0);
    for path in &segments {
        let pristine = files[path].clone();
        let first_lsn = SegmentHeader::decode(&pristine).unwrap().first_lsn;
        let spans = record_spans(&pristine);
        let mut sector = 0;
        while sector < pristine.len() {
            let end = (sector + SECTOR_BYTES as usize).min(pristine.len());
            let mut damaged = pristine.clone();
            damaged[sector..end].fill(0);
            disk.set_file(path, damaged.clone());
            let (offset, lsn) = owner(&spans, first_lsn, sector);
            // Records wholly after the zeroed range still carry their durability claims.
            let intact_after = spans.iter().any(|(start, _, _)| *start >= end);
            if *path == last_path && sector > 0 && !intact_after {
                // FIXME(documented residual risk): a lost sector at the end of the log, with no
                // intact record after it, cannot be told from a torn write; it is cut (after
                // quarantine) rather than refused.
                let (_, report, replayed) = open(&disk, &small_segments(), Lsn::FIRST).unwrap();
                assert_eq!(report.n_torn_tails_repaired, 1);
                assert_eq!(
                    replayed.last().map_or(Lsn::ZERO, |(lsn, _)| *lsn),
                    lsn.prev()
                );
                n_residual += 1;
            } else {
                let mut expected = files.clone();
                expected.insert(path.clone(), damaged);
                expect_corrupt(
                    &disk,
                    &expected,
                    path,
                    offset,
                    lsn,
                    &format!("sector at {sector}"),
                );
                n_refused += 1;
            }
            let snapshot = disk.snapshot(&wal_dir());
            for quarantine in snapshot
                .keys()
                .filter(|p| p.to_string_lossy().contains(".torn-"))
            {
                disk.delete_file(quarantine);
            }
            disk.set_file(path, pristine.clone());
            sector += SECTOR_BYTES as usize;
        }
    }
    assert!(
        n_refused >= 8 && n_residual <= 2,
        "refused {n_refused}, cut {n_residual}"
    );
}

#[test]
fn a_missing_middle_segment_is_refused() {
    let (_, files) = synced_log(120, |_| 60);
    let mut image = files.clone();
    let disk = disk_with(&files);
    let segments = segment_paths(&disk);
    assert!(segments.len() >= 3);
    image.remove(&segments[1]);
    let disk = disk_with(&image);
    let expected_lsn = SegmentHeader::decode(&files[&segments[1]])
        .unwrap()
        .first_lsn;
    expect_corrupt(
        &disk,
        &image,
        &segments[2],
        0,
        expected_lsn,
        "missing middle segment",
    );
    let error = open(&disk, &small_segments(), Lsn::FIRST).err().unwrap();
    assert!(error.to_string().contains("WAL unrepairable"), "{error}");
    assert!(error.to_string().contains("missing segment"), "{error}");
}

/// A segment image with hand-assigned LSNs (valid checksums).
fn handmade_segment(first_lsn: Lsn, lsns: &[u64]) -> Vec<u8> {
    let header = SegmentHeader {
        version: persist::FORMAT_VERSION_PLAIN,
        salt: 0x5eed,
        first_lsn,
    };
    let mut bytes = header.encode().to_vec();
    for (idx, &lsn) in lsns.iter().enumerate() {
        record::encode(
            &mut bytes,
            header.salt,
            Lsn(lsn),
            Lsn(lsn - 1),
            &payload(idx as u64, 20),
        );
    }
    bytes
}

#[test]
fn an_lsn_gap_or_duplicate_is_refused_even_at_the_tail() {
    for (lsns, bad_idx, what) in [
        (vec![1, 2, 4, 5], 2, "gap"),
        (vec![1, 2, 2, 3], 2, "duplicate"),
        (vec![1, 2, 3, 5], 3, "gap in the last record"),
        (vec![1, 2, 3, 3], 3, "duplicate last record"),
    ] {
        let path = wal_dir().join(persist::SegmentId(Lsn(1)).file_name());
        let image = BTreeMap::from([(path.clone(), handmade_segment(Lsn(1), &lsns))]);
        let disk = disk_with(&image);
        let offset = SEGMENT_HEADER_BYTES as u64 + bad_idx as u64 * (32 + 20);
        expect_corrupt(&disk, &image, &path, offset, Lsn(bad_idx as u64 + 1), what);
    }
}

#[test]
fn a_bad_segment_header_is_refused() {
    let (_, files) = synced_log(60, |_| 60);
    let disk = disk_with(&files);
    let segments = segment_paths(&disk);
    for path in &segments {
        let first_lsn = SegmentHeader::decode(&files[path]).unwrap().first_lsn;
        // Magic damaged (checksum no longer matches).
        let mut damaged = files[path].clone();
        damaged[0] = b'X';
        let image = BTreeMap::from_iter(files.clone().into_iter().map(|(p, c)| {
            if &p == path {
                (p, damaged.clone())
            } else {
                (p, c)
            }
        }));
        expect_corrupt(&disk_with(&image), &image, path, 0, first_lsn, "magic");
        // A future format version with a valid checksum.
        let mut future = files[path].clone();
        future[8] = 5; // versions 1 to 4 are known
        let crc = crc32c_reference(&future[0..28]);
        future[28..32].copy_from_slice(&crc.to_le_bytes());
        let image = BTreeMap::from_iter(files.clone().into_iter().map(|(p, c)| {
            if &p == path {
                (p, future.clone())
            } else {
                (p, c)
            }
        }));
        expect_corrupt(&disk_with(&image), &image, path, 0, first_lsn, "version");
        // A segment cut inside its header (cannot happen: headers are fsynced before the rename).
        let image = BTreeMap::from_iter(files.clone().into_iter().map(|(p, c)| {
            if &p == path {
                (p, c[..20].to_vec())
            } else {
                (p, c)
            }
        }));
        expect_corrupt(
            &disk_with(&image),
            &image,
            path,
            0,
            first_lsn,
            "short header",
        );
    }
}

/// Bitwise CRC32C (Castagnoli, reflected polynomial 0x82F63B78), independent of the crate.
fn crc32c_reference(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_missing_head_or_a_short_log_is_refused() {
    let (_, files) = synced_log(120, |_| 60);
    let disk = disk_with(&files);
    let segments = segment_paths(&disk);
    let second_first = SegmentHeader::decode(&files[&segments[1]])
        .unwrap()
        .first_lsn;
    let mut image = files.clone();
    image.remove(&segments[0]);
    let disk = disk_with(&image);
    // Replaying from LSN 1 needs the removed segment.
    expect_corrupt(&disk, &image, &segments[1], 0, Lsn::FIRST, "missing head");
    // Replaying from where the log now starts is fine.
    let (_, _, replayed) = open(&disk, &small_segments(), second_first).unwrap();
    assert_eq!(replayed.first().unwrap().0, second_first);
    // A snapshot newer than the log's end means acknowledged records are gone.
    let disk = disk_with(&files);
    let error = open(&disk, &small_segments(), Lsn(500)).err().unwrap();
    assert!(error.is_corrupt(), "{error}");
    assert_eq!(disk.snapshot(&wal_dir()), files);
}
