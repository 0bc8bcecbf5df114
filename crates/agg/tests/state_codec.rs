//! The `AggState` codec (`AggSpec::encode_state` / `decode_state`), the groundwork for snapshots.
//!
//! The hazard: a snapshot is written by one process and loaded by another, possibly a later
//! build, possibly from a damaged file. A state that decodes to something *almost* equal (a
//! ring head off by one, a bucket epoch off the grid, a lost `None` vs `Some(empty)`) reads
//! correctly right after startup and then diverges on the next event, silently; a hostile or
//! corrupted file must be refused with an error, never a panic, an unbounded allocation, or a
//! state that panics later in `apply`/`read`. So for every op string in the catalogue (windowed
//! and lifetime), random event sequences are encoded, decoded, read at several query times, and
//! then *continued* with the same events on both copies, which must keep reading (and encoding)
//! identically. Truncations, random bytes and mutated encodings must be refused or decode to a
//! state that is safe to keep using.
//!
//! `cargo test -p agg --test state_codec -- --nocapture` prints the encoded sizes of the README
//! entity.

mod common;

use agg::{encoded_state_len, AggSpec, AggState, StateDecodeError, STATE_FORMAT_VERSION};
use model::{TimestampMs, Value};
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use std::sync::OnceLock;
use std::time::Instant;

const T0: TimestampMs = 1_795_255_704_674;
const SLOT_X: usize = 1;
const SLOT_LAT: usize = 7;
const SLOT_LON: usize = 8;
const N_SLOTS: usize = 9;
/// Query times relative to the newest event.
const QUERY_OFFSETS: [i64; 5] = [0, 1, 700, 5_000, 30 * 3_600_000];
/// Windows of the windowed variants: 16 ms buckets, and 1 ms buckets (so 64 can be live).
const WINDOWS: [&str; 2] = ["1s", "64ms"];

/// Params that make `op` compile (with a small `n`/`k`/`samples` so buffers wrap).
fn base_params(op: &str) -> Json {
    match op {
        "count"
        | "ratio"
        | "first_seen"
        | "last_seen"
        | "age"
        | "has_seen"
        | "time_since"
        | "streak"
        | "max_streak"
        | "negative_streak"
        | "inter_arrival_stats"
        | "hour_of_day_histogram"
        | "dow_hour_histogram"
        | "geo_velocity"
        | "geo_distance"
        | "geo_spread" => json!({}),
        "sum" | "mean" | "min" | "max" | "var" | "std" | "n_unique" | "entropy"
        | "bloom_member" | "first" | "last" | "twa" | "rate_of_change" | "delta_from_prev"
        | "trend" | "trend_residual" | "value_change_count" | "z_score" | "seasonal_deviation" => {
            json!({"field": "x"})
        }
        "quantile" => json!({"field": "x", "q": 0.9}),
        "top_k" => json!({"field": "x", "k": 3}),
        "first_n" | "last_n" | "lag" | "most_recent_n" => json!({"field": "x", "n": 3}),
        "time_since_last_n" => json!({"n": 3}),
        "reservoir_sample" => json!({"field": "x", "samples": 3}),
        "first_seen_in_window" => json!({"window": "1s"}),
        "ewma" | "ema" | "ewvar" | "ew_zscore" | "decayed_sum" => {
            json!({"field": "x", "half_life": "1s"})
        }
        "decayed_count" => json!({"half_life": "1s"}),
        "burst_count" => json!({"sub_window": "200ms"}),
        "outlier_count" => json!({"field": "x", "sigma": 1.0}),
        "histogram" => json!({"field": "x", "buckets": [0, 1, 10]}),
        "event_type_mix" => json!({"field": "x", "max_categories": 3}),
        "distance_from_home" => json!({"samples": 3}),
        other => panic!("op {other:?} has no test params: add it to base_params"),
    }
}

struct Case {
    label: String,
    spec: AggSpec,
}

/// Every op string, lifetime, plus every window where the op is windowed, plus a few param
/// variants.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut windowed_ops = 0;
    for op in agg::op_names() {
        let base = base_params(op);
        let spec =
            common::try_compile(op, base.clone()).unwrap_or_else(|e| panic!("compile {op}: {e}"));
        cases.push(Case {
            label: op.to_string(),
            spec,
        });
        let mut is_windowed = false;
        for window in WINDOWS {
            let mut p = base.clone();
            p["window"] = json!(window);
            if let Ok(spec) = common::try_compile(op, p) {
                if spec.window_spec().is_some() {
                    is_windowed = true;
                    cases.push(Case {
                        label: format!("{op} window={window}"),
                        spec,
                    });
                }
            }
        }
        windowed_ops += usize::from(is_windowed);
    }
    assert_eq!(agg::op_names().count(), 55);
    assert_eq!(windowed_ops, 12, "the 12 ✔ ops of §6.2 are windowed");
    for (label, op, p) in [
        (
            "event_type_mix categories",
            "event_type_mix",
            json!({"field": "x", "categories": ["a", "1", "true"]}),
        ),
        ("top_k k=1", "top_k", json!({"field": "x", "k": 1})),
        (
            "distance_from_home default samples",
            "distance_from_home",
            json!({}),
        ),
        (
            "histogram all",
            "histogram",
            json!({"field": "x", "buckets": 3}),
        ),
    ] {
        cases.push(Case {
            label: label.to_string(),
            spec: common::try_compile(op, p).unwrap(),
        });
    }
    cases
}

/// `cases()`, built once per test binary.
fn all_cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(cases)
}

#[derive(Clone, Debug)]
struct Event {
    dt: i64,
    x: Value,
    lat: Value,
    lon: Value,
    passes: bool,
}

fn row(e: &Event) -> Vec<Value> {
    let mut row = vec![Value::Null; N_SLOTS];
    row[SLOT_X] = e.x.clone();
    row[SLOT_LAT] = e.lat.clone();
    row[SLOT_LON] = e.lon.clone();
    row
}

/// Applies `events` from time `t`; returns the time of the last one and the newest time seen.
fn apply_all(
    spec: &AggSpec,
    state: &mut AggState,
    events: &[Event],
    mut t: TimestampMs,
    mut newest: TimestampMs,
) -> (TimestampMs, TimestampMs) {
    for e in events {
        t += e.dt;
        newest = newest.max(t);
        spec.apply(state, &row(e), e.passes, t);
    }
    (t, newest)
}

fn reads(spec: &AggSpec, state: &AggState, newest: TimestampMs) -> Vec<Value> {
    QUERY_OFFSETS
        .iter()
        .map(|o| spec.read(state, newest + o))
        .collect()
}

fn encode(spec: &AggSpec, state: &AggState) -> Vec<u8> {
    let mut out = Vec::new();
    spec.encode_state(state, &mut out);
    out
}

/// Encodes after `prefix`, decodes, compares, continues both copies with `suffix`, compares.
fn round_trip_and_continue(
    label: &str,
    spec: &AggSpec,
    prefix: &[Event],
    suffix: &[Event],
) -> Result<(), String> {
    let mut original = spec.new_state();
    let (t, newest) = apply_all(spec, &mut original, prefix, T0, T0);
    let bytes = encode(spec, &original);
    if encode(spec, &original) != bytes {
        return Err(format!("{label}: encoding is not deterministic"));
    }
    let (mut decoded, used) = spec
        .decode_state(&bytes)
        .map_err(|e| format!("{label}: decode failed: {e}"))?;
    if used != bytes.len() {
        return Err(format!("{label}: consumed {used} of {}", bytes.len()));
    }
    if encoded_state_len(&bytes) != Ok(bytes.len()) {
        return Err(format!("{label}: encoded_state_len disagrees"));
    }
    // Trailing bytes after the state belong to the next one: left alone.
    let mut padded = bytes.clone();
    padded.extend_from_slice(&[STATE_FORMAT_VERSION, 0xFF, 0x00]);
    match spec.decode_state(&padded) {
        Ok((_, n)) if n == bytes.len() => {}
        other => return Err(format!("{label}: with trailing bytes: {other:?}")),
    }
    if encode(spec, &decoded) != bytes {
        return Err(format!("{label}: re-encoding differs"));
    }
    let (want, got) = (
        reads(spec, &original, newest),
        reads(spec, &decoded, newest),
    );
    if want != got {
        return Err(format!(
            "{label}: reads differ after decode\n  want {want:?}\n  got  {got:?}"
        ));
    }
    let (_, newest_a) = apply_all(spec, &mut original, suffix, t, newest);
    let (_, newest_b) = apply_all(spec, &mut decoded, suffix, t, newest);
    assert_eq!(newest_a, newest_b);
    let (want, got) = (
        reads(spec, &original, newest_a),
        reads(spec, &decoded, newest_b),
    );
    if want != got {
        return Err(format!(
            "{label}: reads differ after continuing\n  want {want:?}\n  got  {got:?}"
        ));
    }
    if encode(spec, &original) != encode(spec, &decoded) {
        return Err(format!("{label}: encodings differ after continuing"));
    }
    Ok(())
}

// ---- strategies ----

fn arb_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        3 => Just(Value::Null),
        6 => (-3i64..4).prop_map(Value::I64),
        1 => any::<i64>().prop_map(Value::I64),
        4 => prop::sample::select(vec![0.0, -0.0, 1.0, 2.5, -7.25, 1e300, f64::NAN, f64::INFINITY])
            .prop_map(Value::F64),
        2 => any::<f64>().prop_map(Value::F64),
        2 => any::<bool>().prop_map(Value::Bool),
        4 => prop::sample::select(vec!["a", "b", "1", "true", "", "a somewhat longer string, on the heap"])
            .prop_map(Value::str),
        1 => "\\PC{0,40}".prop_map(|s| Value::str(&s)),
    ];
    prop_oneof![
        12 => scalar.clone(),
        1 => prop::collection::vec(scalar.clone(), 0..3).prop_map(Value::List),
        1 => prop::collection::vec(("[a-c]{1,2}", scalar), 0..3).prop_map(|entries| {
            Value::Map(entries.into_iter().map(|(k, v)| (k.as_str().into(), v)).collect())
        }),
    ]
}

fn arb_coord(range: std::ops::Range<f64>) -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        8 => range.prop_map(Value::F64),
        1 => (-90i64..90).prop_map(Value::I64),
    ]
}

fn arb_event() -> impl Strategy<Value = Event> {
    let dt = prop_oneof![
        10 => 0i64..300,
        3 => 300i64..3_000,
        1 => 0i64..200_000_000,
        1 => -2_000i64..0,
    ];
    (
        dt,
        arb_value(),
        arb_coord(-90.0..90.0),
        arb_coord(-180.0..180.0),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(dt, x, lat, lon, passes)| Event {
            dt,
            x,
            lat,
            lon,
            passes,
        })
}

/// A fixed, varied sequence: repeats, wraps, several buckets, an expired bucket, hour jumps.
fn fixed_events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let x = match i % 7 {
                0 => Value::I64((i % 5) as i64),
                1 => Value::F64(i as f64 * 0.5),
                2 => Value::str(["a", "b", "1", "true"][i % 4]),
                3 => Value::Bool(i % 2 == 0),
                4 => Value::List(vec![Value::I64(1), Value::str("n")]),
                5 => Value::Null,
                _ => Value::I64(i as i64),
            };
            Event {
                dt: if i % 11 == 10 {
                    3_700_000
                } else {
                    (i as i64 * 37) % 250
                },
                x,
                lat: Value::F64(10.0 + (i as f64) * 0.01),
                lon: Value::F64(20.0 - (i as f64) * 0.02),
                passes: i % 3 != 1,
            }
        })
        .collect()
}

/// A long sequence of mostly distinct values, 1 ms apart: pushes every sketch past its exact
/// tier, every ring past its capacity and the 64 ms windows to 64 live buckets.
fn long_events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| Event {
            dt: 1,
            x: if i % 4 == 3 {
                Value::str(&format!("s{}", i % 1500))
            } else {
                Value::I64(i as i64)
            },
            lat: Value::F64((i % 90) as f64),
            lon: Value::F64((i % 180) as f64),
            passes: i % 5 != 0,
        })
        .collect()
}

// ---- round trips ----

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_op_round_trips_and_continues(
        prefix in prop::collection::vec(arb_event(), 0..40),
        suffix in prop::collection::vec(arb_event(), 0..25),
    ) {
        for case in all_cases() {
            if let Err(e) = round_trip_and_continue(&case.label, &case.spec, &prefix, &suffix) {
                return Err(TestCaseError::fail(e));
            }
        }
    }
}

#[test]
fn fresh_states_round_trip() {
    for case in cases() {
        round_trip_and_continue(&case.label, &case.spec, &[], &fixed_events(30)).unwrap();
    }
}

#[test]
fn large_states_round_trip_past_exact_tiers() {
    let events = long_events(3_000);
    for case in cases() {
        for cut in [300, 1_100, 2_990] {
            round_trip_and_continue(&case.label, &case.spec, &events[..cut], &events[cut..])
                .unwrap();
        }
    }
}

#[test]
fn event_type_mix_with_a_long_category_list_round_trips() {
    // `categories` admits every listed key, past the 1024 of `max_categories`.
    let names: Vec<String> = (0..1_500).map(|i| format!("c{i}")).collect();
    let spec =
        common::try_compile("event_type_mix", json!({"field": "x", "categories": names})).unwrap();
    let events: Vec<Event> = (0..1_600)
        .map(|i| Event {
            dt: 1,
            x: Value::str(&format!("c{i}")),
            lat: Value::Null,
            lon: Value::Null,
            passes: true,
        })
        .collect();
    round_trip_and_continue(
        "event_type_mix 1500 categories",
        &spec,
        &events[..1_200],
        &events[1_200..],
    )
    .unwrap();
    let mut state = spec.new_state();
    apply_all(&spec, &mut state, &events[..1_200], T0, T0);
    let bytes = encode(&spec, &state);
    // The same state under a shorter list is refused.
    let short = common::try_compile(
        "event_type_mix",
        json!({"field": "x", "categories": ["c1", "c2"]}),
    )
    .unwrap();
    assert!(short.decode_state(&bytes).is_err());
}

#[test]
fn states_concatenate() {
    let cases = cases();
    let events = fixed_events(40);
    let states: Vec<AggState> = cases
        .iter()
        .map(|c| {
            let mut s = c.spec.new_state();
            apply_all(&c.spec, &mut s, &events, T0, T0);
            s
        })
        .collect();
    let mut buf = Vec::new();
    for (c, s) in cases.iter().zip(&states) {
        c.spec.encode_state(s, &mut buf);
    }
    let mut pos = 0;
    for (c, s) in cases.iter().zip(&states) {
        let len = encoded_state_len(&buf[pos..]).unwrap();
        let (decoded, used) = c.spec.decode_state(&buf[pos..]).unwrap();
        assert_eq!(used, len, "{}", c.label);
        assert_eq!(encode(&c.spec, &decoded), encode(&c.spec, s), "{}", c.label);
        pos += used;
    }
    assert_eq!(pos, buf.len());
}

// ---- refusals ----

/// Every encoding of `cases` after `events`, with its case.
fn encodings<'c>(cases: &'c [Case], events: &[Event]) -> Vec<(&'c Case, Vec<u8>)> {
    cases
        .iter()
        .map(|c| {
            let mut s = c.spec.new_state();
            apply_all(&c.spec, &mut s, events, T0, T0);
            (c, encode(&c.spec, &s))
        })
        .collect()
}

/// `[version][kind][varint len]` + `payload`.
fn with_header(version: u8, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![version, kind];
    let mut len = payload.len() as u64;
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(payload);
    out
}

/// `(header length, payload)` of one encoding.
fn split_header(bytes: &[u8]) -> (usize, &[u8]) {
    let mut pos = 2;
    while bytes[pos] & 0x80 != 0 {
        pos += 1;
    }
    (pos + 1, &bytes[pos + 1..])
}

fn check_truncations(case: &Case, bytes: &[u8]) {
    // Cut anywhere: the header's length no longer fits.
    for cut in 0..bytes.len() {
        assert_eq!(
            case.spec.decode_state(&bytes[..cut]).err(),
            Some(StateDecodeError::Truncated),
            "{}: cut at {cut} of {}",
            case.label,
            bytes.len()
        );
    }
    // Cut inside the payload with the length rewritten to match: the payload decoder itself
    // must notice. Large sketches are sampled.
    let (_, payload) = split_header(bytes);
    let step = (payload.len() / 1_500).max(1);
    for cut in (0..payload.len()).filter(|c| c % step == 0 || payload.len() - c < 256) {
        let damaged = with_header(bytes[0], bytes[1], &payload[..cut]);
        assert!(
            case.spec.decode_state(&damaged).is_err(),
            "{}: payload cut at {cut} of {} decoded",
            case.label,
            payload.len()
        );
    }
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    let cases = cases();
    for (case, bytes) in encodings(&cases, &fixed_events(60)) {
        check_truncations(case, &bytes);
    }
    // Sketch tiers, full rings, 64 live buckets.
    let long = long_events(1_200);
    for (case, bytes) in encodings(&cases, &long) {
        check_truncations(case, &bytes);
    }
}

#[test]
fn refuses_wrong_version_kind_params_and_trailing_bytes() {
    let c = |op: &str, p: Json| common::try_compile(op, p).unwrap();
    let count = c("count", json!({}));
    let mut state = count.new_state();
    let r = row(&fixed_events(1)[0]);
    count.apply(&mut state, &r, true, T0);
    let bytes = encode(&count, &state);
    assert_eq!(bytes, [STATE_FORMAT_VERSION, 1, 1, 1]);

    let mut other_version = bytes.clone();
    other_version[0] = 2;
    assert_eq!(
        count.decode_state(&other_version).unwrap_err(),
        StateDecodeError::BadVersion(2)
    );
    assert_eq!(
        encoded_state_len(&other_version),
        Err(StateDecodeError::BadVersion(2))
    );
    assert!(matches!(
        c("sum", json!({"field": "x"})).decode_state(&bytes),
        Err(StateDecodeError::Invalid(_))
    ));
    assert!(matches!(
        c("count", json!({"window": "1s"})).decode_state(&bytes),
        Err(StateDecodeError::Invalid(_))
    ));
    for unknown_kind in [0, 24, 31, 44, 0xFF] {
        let b = with_header(STATE_FORMAT_VERSION, unknown_kind, &[0]);
        assert!(matches!(
            count.decode_state(&b),
            Err(StateDecodeError::Invalid(_))
        ));
    }

    // Garbage inside the state (payload longer than its content).
    let (_, payload) = split_header(&bytes);
    let mut longer = payload.to_vec();
    longer.push(0);
    assert_eq!(
        count
            .decode_state(&with_header(bytes[0], bytes[1], &longer))
            .err(),
        Some(StateDecodeError::Invalid("trailing bytes inside the state"))
    );

    // Same op, different params.
    let events: Vec<Event> = (0..6)
        .map(|i| Event {
            dt: 10,
            x: Value::I64(i),
            lat: Value::Null,
            lon: Value::Null,
            passes: true,
        })
        .collect();
    for (op, p, q) in [
        (
            "top_k",
            json!({"field": "x", "k": 3}),
            json!({"field": "x", "k": 4}),
        ),
        (
            "last_n",
            json!({"field": "x", "n": 3}),
            json!({"field": "x", "n": 2}),
        ),
        (
            "histogram",
            json!({"field": "x", "buckets": [1, 2]}),
            json!({"field": "x", "buckets": [1]}),
        ),
        (
            "sum",
            json!({"field": "x", "window": "1s"}),
            json!({"field": "x", "window": "7s"}),
        ),
        ("time_since_last_n", json!({"n": 3}), json!({"n": 2})),
        ("twa", json!({"field": "x"}), json!({"field": "x"})),
    ] {
        let (a, b) = (c(op, p), c(op, q));
        let mut s = a.new_state();
        apply_all(&a, &mut s, &events, T0, T0);
        let bytes = encode(&a, &s);
        let same = op == "twa";
        assert_eq!(b.decode_state(&bytes).is_ok(), same, "{op}");
    }
    // A motion state under a different motion op is refused.
    let twa = c("twa", json!({"field": "x"}));
    let mut s = twa.new_state();
    apply_all(&twa, &mut s, &events, T0, T0);
    assert!(c("trend", json!({"field": "x"}))
        .decode_state(&encode(&twa, &s))
        .is_err());
}

#[test]
fn hostile_lengths_are_refused_before_allocating() {
    let c = |op: &str, p: Json| common::try_compile(op, p).unwrap();
    // A list claiming u64::MAX / 10_001 items, a string claiming 4 GiB, 65 buckets.
    let last = c("last", json!({"field": "x"}));
    let huge = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    let mut list = vec![6];
    list.extend_from_slice(&huge);
    assert!(last.decode_state(&with_header(1, 6, &list)).is_err());
    let mut list = vec![6, 0x91, 0x4E]; // 10_001
    list.extend(std::iter::repeat_n(0, 10_001));
    assert!(matches!(
        last.decode_state(&with_header(1, 6, &list)),
        Err(StateDecodeError::Invalid("list too long"))
    ));
    let string = [5, 0x80, 0x80, 0x80, 0x80, 0x10];
    assert!(matches!(
        last.decode_state(&with_header(1, 6, &string)),
        Err(StateDecodeError::Invalid("string too long"))
    ));
    let count_w = c("count", json!({"window": "1s"}));
    let mut buckets = vec![65];
    buckets.extend(std::iter::repeat_n(2, 200));
    assert!(matches!(
        count_w.decode_state(&with_header(1, 32, &buckets)),
        Err(StateDecodeError::Invalid("more than 64 window buckets"))
    ));
    // 64 buckets on the grid but spanning more than the window.
    let mut span = vec![2, 0, 1]; // epoch 0, count 1
    span.extend_from_slice(&[0x80, 0x08, 1]); // gap 1024 ms = the whole window
    assert!(matches!(
        count_w.decode_state(&with_header(1, 32, &span)),
        Err(StateDecodeError::Invalid(
            "buckets span more than the window"
        ))
    ));
    // A ring head outside the ring.
    let last_n = c("last_n", json!({"field": "x", "n": 2}));
    let ring = [1, 2, 2, 0, 0, 1, 2, 1, 4];
    assert!(matches!(
        last_n.decode_state(&with_header(1, 18, &ring)),
        Err(StateDecodeError::Invalid("ring head out of range"))
    ));
    let ring_ok = [1, 2, 1, 0, 0, 1, 2, 1, 4];
    assert!(last_n.decode_state(&with_header(1, 18, &ring_ok)).is_ok());
}

#[test]
fn counts_and_times_are_range_checked() {
    let c = |op: &str, p: Json| common::try_compile(op, p).unwrap();
    let count = c("count", json!({}));
    let at_cap = with_header(1, 1, &varint(agg::EVENTS_MAX));
    let (mut state, _) = count.decode_state(&at_cap).unwrap();
    count.apply(&mut state, &[], true, T0);
    assert_eq!(
        count.read(&state, T0),
        Value::I64(agg::EVENTS_MAX as i64 + 1)
    );
    for over in [agg::EVENTS_MAX + 1, u64::MAX] {
        assert_eq!(
            count.decode_state(&with_header(1, 1, &varint(over))).err(),
            Some(StateDecodeError::Invalid("count exceeds EVENTS_MAX"))
        );
    }
    // `time`: varint of zigzag(t) + 1; 0 is NEVER.
    let time = |t: i64| varint((((t << 1) ^ (t >> 63)) as u64).wrapping_add(1));
    let last_seen = c("last_seen", json!({}));
    for ok in [i64::MIN, 0, agg::TIME_ABS_MAX_MS, -agg::TIME_ABS_MAX_MS] {
        let (state, _) = last_seen
            .decode_state(&with_header(1, 7, &time(ok)))
            .unwrap();
        let want = if ok == i64::MIN {
            Value::Null
        } else {
            Value::I64(ok)
        };
        assert_eq!(last_seen.read(&state, T0), want);
    }
    for bad in [agg::TIME_ABS_MAX_MS + 1, i64::MAX, i64::MIN + 1] {
        assert_eq!(
            last_seen.decode_state(&with_header(1, 7, &time(bad))).err(),
            Some(StateDecodeError::Invalid("timestamp out of range"))
        );
    }
    // A decayed sum last updated at the edge of the range keeps working.
    let decayed = c("decayed_sum", json!({"field": "x", "half_life": "1s"}));
    let mut payload = 1.5f64.to_bits().to_le_bytes().to_vec();
    payload.extend(time(-agg::TIME_ABS_MAX_MS));
    let (mut state, _) = decayed.decode_state(&with_header(1, 9, &payload)).unwrap();
    let mut row = vec![Value::Null; N_SLOTS];
    row[SLOT_X] = Value::F64(2.0);
    decayed.apply(&mut state, &row, true, T0);
    assert_eq!(decayed.read(&state, T0), Value::F64(2.0));
}

/// Decodes `bytes` with `spec`; if it decodes, the state must be safe to keep using, and
/// (outside sketch payloads, whose decoders accept overlong varints) canonical.
fn decode_and_exercise(case: &Case, bytes: &[u8]) {
    let Ok((mut state, used)) = case.spec.decode_state(bytes) else {
        return;
    };
    assert!(used <= bytes.len());
    assert_eq!(encoded_state_len(bytes), Ok(used), "{}", case.label);
    let sketchy = matches!(case.spec.op_name(), "n_unique" | "quantile" | "top_k");
    if !sketchy {
        assert_eq!(
            encode(&case.spec, &state),
            &bytes[..used],
            "{}: accepted a non-canonical encoding",
            case.label
        );
    }
    for o in QUERY_OFFSETS {
        case.spec.read(&state, T0 + o);
    }
    apply_all(&case.spec, &mut state, &fixed_events(12), T0, T0);
    for o in QUERY_OFFSETS {
        case.spec.read(&state, T0 + 3_000_000_000 + o);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_500, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        for case in all_cases() {
            decode_and_exercise(case, &bytes);
        }
    }

    /// Random payloads behind a valid header for the spec, so the payload decoders run.
    #[test]
    fn random_payloads_never_panic(payload in prop::collection::vec(any::<u8>(), 0..200)) {
        for (case, valid) in encodings(all_cases(), &[]) {
            decode_and_exercise(case, &with_header(STATE_FORMAT_VERSION, valid[1], &payload));
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6_000, ..ProptestConfig::default() })]

    /// Valid encodings with a few bytes overwritten, inserted or deleted, or a one-byte field
    /// replaced by an extreme varint (counters near `u64::MAX`, times near `i64::MAX`).
    #[test]
    fn mutated_encodings_never_panic(
        which in any::<prop::sample::Index>(),
        whole in prop::bool::weighted(0.1),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..5), 1..4),
    ) {
        let seeds = fuzz_seeds();
        let (case, valid) = &seeds[which.index(seeds.len())];
        // Mostly edit the payload and rebuild a consistent header, so payload decoders run.
        let (header_len, payload) = split_header(valid);
        let mut bytes = if whole { valid.clone() } else { payload.to_vec() };
        for (at, byte, op) in edits {
            let at = at.index(bytes.len() + 1);
            match op {
                0 | 1 if at < bytes.len() => bytes[at] = byte,
                2 => bytes.insert(at, byte),
                3 if at < bytes.len() => {
                    bytes.remove(at);
                }
                4 if at < bytes.len() => {
                    let extreme = EXTREME_VARINTS[usize::from(byte) % EXTREME_VARINTS.len()];
                    bytes.splice(at..=at, varint(extreme));
                }
                _ => {}
            }
        }
        if !whole {
            bytes = with_header(valid[0], valid[1], &bytes);
            assert!(header_len <= bytes.len());
        }
        decode_and_exercise(case, &bytes);
    }
}

/// Valid encodings of every case after a varied sequence and after a long one (sketch tiers,
/// full rings, 64 buckets), built once.
fn fuzz_seeds() -> &'static [(&'static Case, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(&'static Case, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = encodings(all_cases(), &fixed_events(40));
        seeds.extend(encodings(all_cases(), &long_events(300)));
        seeds
    })
}

/// Values at and around every range check (as varints: counts, zigzag times, lengths).
const EXTREME_VARINTS: [u64; 10] = [
    u64::MAX,
    u64::MAX - 1,
    (1 << 56) + 1,
    1 << 56,
    (1 << 54) + 1, // zigzag of -(2^53) - 1
    1 << 54,       // zigzag of 2^53
    (1 << 54) + 2, // zigzag of 2^53 + 1
    u32::MAX as u64 + 1,
    u32::MAX as u64,
    1 << 63,
];

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

// ---- size and speed ----

/// The README's `SessionReflexes` table (`tool`, `action`, `tokens`, `latency_ms`, `ok`,
/// `risky` in the test schema's `s`, `k`, `i`, `x`, `ok`, `b` slots) plus a lifetime `count`.
fn readme_features() -> Vec<(&'static str, AggSpec)> {
    let c = |op: &str, p: Json| common::try_compile(op, p).unwrap();
    vec![
        ("failure_rate_5m", c("ratio", json!({"window": "5m"}))),
        (
            "top_tool_10m",
            c("top_k", json!({"field": "s", "k": 1, "window": "10m"})),
        ),
        (
            "unique_tools_10m",
            c("n_unique", json!({"field": "s", "window": "10m"})),
        ),
        (
            "token_burn_1m",
            c("sum", json!({"field": "i", "window": "1m"})),
        ),
        (
            "p95_latency_5m",
            c("quantile", json!({"field": "x", "q": 0.95, "window": "5m"})),
        ),
        ("risky_streak", c("streak", json!({}))),
        ("last_action", c("last", json!({"field": "k"}))),
        ("events", c("count", json!({}))),
    ]
}

/// Two README events `gap_ms` apart: `(tool, action, tokens, latency, ok, risky)`.
fn readme_rows() -> [(Vec<Value>, bool, bool); 2] {
    let r = |tool: &str, action: &str, tokens: i64, latency: f64, ok: bool, risky: bool| {
        let mut row = vec![Value::Null; N_SLOTS];
        row[0] = Value::str(action);
        row[1] = Value::F64(latency);
        row[2] = Value::I64(tokens);
        row[3] = Value::str(tool);
        row[4] = Value::Bool(risky);
        row[5] = Value::Bool(ok);
        (row, ok, risky)
    };
    [
        r("search", "query", 120, 85.0, true, false),
        r("browser", "open_page", 300, 140.0, false, true),
    ]
}

fn readme_entity(gap_ms: i64) -> Vec<(&'static str, AggSpec, AggState)> {
    readme_features()
        .into_iter()
        .map(|(name, spec)| {
            let mut state = spec.new_state();
            for (i, (row, ok, risky)) in readme_rows().iter().enumerate() {
                let passes = match spec.op_name() {
                    "ratio" => !ok,
                    "streak" => *risky,
                    _ => true,
                };
                spec.apply(&mut state, row, passes, T0 + i as i64 * gap_ms);
            }
            (name, spec, state)
        })
        .collect()
}

#[test]
fn readme_entity_encoded_bytes() {
    for (gap_ms, what, budget) in [
        (1, "2 events 1 ms apart (one bucket per window)", 180),
        (20_000, "2 events 20 s apart (two buckets per window)", 240),
    ] {
        println!("README entity, {what}:");
        let mut total = 0;
        for (name, spec, state) in readme_entity(gap_ms) {
            let bytes = encode(&spec, &state);
            println!(
                "  {name:<18} {:>4} B  (heap {:>4} B)",
                bytes.len(),
                state.heap_bytes()
            );
            total += bytes.len();
        }
        println!("  total              {total:>4} B");
        assert!(total <= budget, "{what}: {total} B > {budget} B");
    }
}

#[test]
fn ten_thousand_states_encode_and_decode_quickly() {
    let entity = readme_entity(20_000);
    let n = 10_000;
    let start = Instant::now();
    let mut buf = Vec::new();
    for i in 0..n {
        let (_, spec, state) = &entity[i % entity.len()];
        spec.encode_state(state, &mut buf);
    }
    let encoded = start.elapsed();
    let mut pos = 0;
    let mut decoded = Vec::with_capacity(n);
    for i in 0..n {
        let (_, spec, _) = &entity[i % entity.len()];
        let (state, used) = spec.decode_state(&buf[pos..]).unwrap();
        decoded.push(state);
        pos += used;
    }
    let total = start.elapsed();
    assert_eq!(pos, buf.len());
    println!(
        "{n} states, {} B: encode {encoded:?}, encode + decode {total:?}",
        buf.len()
    );
    assert!(
        total.as_millis() < 500,
        "10k states took {total:?} (budget: well under a second in debug)"
    );
}
