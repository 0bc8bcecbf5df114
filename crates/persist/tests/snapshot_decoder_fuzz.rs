//! Fuzzing the snapshot file verifier (durability.md §5 "Fuzzing of every decoder"): random
//! bytes, truncations, bit flips and spliced garbage over valid files (format versions 1 and 2)
//! never panic, never allocate from an unchecked length, and are always refused. The engine's
//! section decoder has its own fuzz test (`crates/engine/tests/snapshot.rs`).

use persist::snapshot::{self, SnapshotFile, SnapshotWriter, SNAPSHOT_HEADER_BYTES};
use persist::{Lsn, SimDisk};
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// A valid file with `sections` (tags and payloads), in format version 2.
fn file(sections: &[(u32, Vec<u8>)], lsn: u64) -> Vec<u8> {
    let disk = Arc::new(SimDisk::new());
    let mut w = SnapshotWriter::create(disk.clone(), Path::new("/s"), Lsn(lsn)).unwrap();
    for (tag, bytes) in sections {
        w.begin_section(*tag);
        w.write_all(bytes).unwrap();
    }
    let written = w.finish().unwrap();
    disk.file(&written.path).unwrap()
}

/// The same file in format version 1 (version field 1, the body checksum in the header).
fn as_version_1(v2: &[u8]) -> Vec<u8> {
    let mut b = v2.to_vec();
    let body_bytes = u64::from_le_bytes(b[24..32].try_into().unwrap()) as usize;
    let crc = crc32c::crc32c(&b[SNAPSHOT_HEADER_BYTES..SNAPSHOT_HEADER_BYTES + body_bytes]);
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    b[32..36].copy_from_slice(&crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&b[..60]);
    b[60..64].copy_from_slice(&header_crc.to_le_bytes());
    b
}

fn sections() -> impl Strategy<Value = Vec<(u32, Vec<u8>)>> {
    proptest::collection::vec(
        (1u32..4, proptest::collection::vec(any::<u8>(), 0..200)),
        0..12,
    )
}

fn verify_all_ways(bytes: &[u8], lsn: u64) -> bool {
    let one = snapshot::verify(bytes, Lsn(lsn)).is_ok();
    for threads in [2, 5] {
        let many = snapshot::verify_with_threads(bytes, Lsn(lsn), threads).is_ok();
        assert_eq!(one, many, "thread count changed the verdict");
    }
    one
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600), lsn in 0u64..4) {
        prop_assert!(!verify_all_ways(&bytes, lsn));
    }

    #[test]
    fn a_random_header_over_a_valid_tail_is_refused(
        sections in sections(),
        header in proptest::collection::vec(any::<u8>(), SNAPSHOT_HEADER_BYTES),
        // Declared lengths and counts at their extremes: nothing may be allocated from them.
        n_sections in prop_oneof![Just(u32::MAX), Just(1u32 << 20), any::<u32>()],
        body_bytes in prop_oneof![Just(u64::MAX), Just(u64::MAX - 63), any::<u64>()],
        fix_header_crc in any::<bool>(),
    ) {
        let mut bytes = file(&sections, 7);
        bytes[..SNAPSHOT_HEADER_BYTES].copy_from_slice(&header);
        bytes[0..8].copy_from_slice(b"WEIRSNAP");
        bytes[12..16].copy_from_slice(&n_sections.to_le_bytes());
        bytes[24..32].copy_from_slice(&body_bytes.to_le_bytes());
        if fix_header_crc {
            let crc = crc32c::crc32c(&bytes[..60]);
            bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        }
        // A random header might, with negligible probability, be the right one; it never panics.
        let _ = verify_all_ways(&bytes, 7);
    }

    #[test]
    fn every_truncation_flip_and_splice_of_a_valid_file_is_refused(
        sections in sections(),
        version_1 in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        at in any::<prop::sample::Index>(),
        garbage in proptest::collection::vec(any::<u8>(), 1..40),
    ) {
        let mut valid = file(&sections, 11);
        if version_1 {
            valid = as_version_1(&valid);
        }
        prop_assert!(verify_all_ways(&valid, 11));
        prop_assert!(!verify_all_ways(&valid, 12), "another LSN than the name's");

        let truncated = &valid[..cut.index(valid.len())];
        prop_assert!(!verify_all_ways(truncated, 11));

        let mut flipped = valid.clone();
        let i = flip.index(flipped.len());
        flipped[i] ^= 1 << bit;
        prop_assert!(!verify_all_ways(&flipped, 11), "flip of bit {} of byte {}", bit, i);

        let mut spliced = valid.clone();
        let pos = at.index(spliced.len() + 1);
        spliced.splice(pos..pos, garbage);
        prop_assert!(!verify_all_ways(&spliced, 11));
    }
}

#[test]
fn load_refuses_a_damaged_file_through_the_disk() {
    let disk = Arc::new(SimDisk::new());
    let dir = Path::new("/s");
    let mut w = SnapshotWriter::create(disk.clone(), dir, Lsn(3)).unwrap();
    w.begin_section(1);
    w.write_all(b"{}").unwrap();
    let written = w.finish().unwrap();
    let mut bytes = disk.file(&written.path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    disk.set_file(&written.path, bytes);
    let file = SnapshotFile {
        lsn: Lsn(3),
        path: written.path,
    };
    let e = snapshot::load(disk.as_ref(), &file).unwrap_err();
    assert!(e.reason.contains("checksum"), "{e}");
}
