//! Hazard: a hostile or garbled WAL byte string panics the decoder, makes it allocate from an
//! untrusted length, or validates as a record. The record decoder and the whole recovery scan are
//! fed arbitrary bytes: they must never panic, and random bytes must never pass as a record.

mod common;

use std::collections::BTreeMap;

use common::{disk_with, wal_dir};
use persist::record::{self, RecordDecode};
use persist::{Lsn, SegmentHeader, SegmentId, SimDisk};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_record_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), salt in any::<u32>()) {
        match record::decode(&bytes, salt) {
            RecordDecode::Valid { header, payload } => {
                // Only possible by a 2^-64 coincidence of two checksums; if it happens, it must
                // at least be self-consistent.
                prop_assert_eq!(payload.len(), header.payload_len as usize);
            }
            RecordDecode::ShortPayload { header, bytes_available } => {
                prop_assert!(bytes_available < header.record_bytes() as usize);
            }
            _ => {}
        }
    }

    #[test]
    fn encoded_records_round_trip_and_every_prefix_is_short(payload in proptest::collection::vec(any::<u8>(), 0..300), salt in any::<u32>(), lsn in 1u64..u64::MAX / 2, lsn_count in 1u32..=persist::RECORD_LSNS_MAX) {
        let mut bytes = Vec::new();
        record::encode_many(&mut bytes, salt, Lsn(lsn), lsn_count, Lsn(lsn - 1), &payload);
        let decoded = record::decode(&bytes, salt);
        prop_assert!(
            matches!(decoded, RecordDecode::Valid { header, payload: p } if header.lsn == Lsn(lsn)
                && header.lsn_count() == u64::from(lsn_count)
                && p == &payload[..]),
            "round trip failed"
        );
        for cut in 0..bytes.len() {
            let outcome = record::decode(&bytes[..cut], salt);
            prop_assert!(
                matches!(outcome, RecordDecode::ShortHeader { .. } | RecordDecode::ShortPayload { .. }),
                "prefix classified as incomplete"
            );
        }
    }

    #[test]
    fn recovery_never_panics_on_an_arbitrary_segment(tail in proptest::collection::vec(any::<u8>(), 0..2048), valid_header in any::<bool>(), version in 1u32..=4) {
        let mut segment = if valid_header {
            SegmentHeader { version, salt: 99, first_lsn: Lsn::FIRST }.encode().to_vec()
        } else {
            Vec::new()
        };
        segment.extend_from_slice(&tail);
        let path = wal_dir().join(SegmentId(Lsn::FIRST).file_name());
        let image = BTreeMap::from([(path, segment)]);
        let disk: SimDisk = disk_with(&image);
        let _ = persist::tools::verify(&disk, &wal_dir());
        let _ = common::open_counted(&disk, &common::small_segments(), Lsn::FIRST);
    }
}
