//! Hazard: a WAL record payload that decodes wrongly at replay — a push applied with other
//! values, pushes of a run lost or invented, or a panic on bytes the store did not write (a
//! record from a buggy or future writer passes the WAL's checksums, so only this decoder stands
//! between it and the engine). Runs of random pushes round trip through a pushes record (kind 4,
//! decision 0024) entry for entry; arbitrary bytes never panic the decoder.

use compact_str::CompactString;
use engine::ValidatedPush;
use model::Value;
use proptest::prelude::*;
use store::log_record::{self, LogRecord};

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        (-1e12f64..1e12).prop_map(Value::F64),
        "[a-zé日 -~]{0,30}".prop_map(|s| Value::Str(CompactString::from(s))),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(Value::List)
    })
}

fn push() -> impl Strategy<Value = ValidatedPush> {
    (
        prop_oneof![Just("Click"), Just("View"), Just("AgentStep")],
        proptest::collection::vec(value(), 0..6),
    )
        .prop_map(|(event, fields)| ValidatedPush {
            event: CompactString::from(event),
            fields,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn a_run_round_trips_through_a_pushes_record(now_ms in any::<i64>(), pushes in proptest::collection::vec(push(), 1..40)) {
        let mut bytes = Vec::new();
        log_record::encode_pushes_header(&mut bytes, now_ms);
        let mut previous: Option<&str> = None;
        for p in &pushes {
            log_record::encode_pushes_entry(&mut bytes, p, previous == Some(p.event.as_str()));
            previous = Some(&p.event);
        }
        prop_assert_eq!(log_record::decode(&bytes), Ok(LogRecord::Pushes { now_ms, pushes }));
    }

    #[test]
    fn the_payload_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = log_record::decode(&bytes);
    }

    #[test]
    fn a_pushes_record_with_a_flipped_byte_never_panics(pushes in proptest::collection::vec(push(), 1..10), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = Vec::new();
        log_record::encode_pushes_header(&mut bytes, 7);
        for p in &pushes {
            log_record::encode_pushes_entry(&mut bytes, p, false);
        }
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let _ = log_record::decode(&bytes);
    }
}
