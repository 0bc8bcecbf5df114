//! Property tests: every summary against a naive reference model, merge against a single
//! stream, encode/decode round trips, and decoders fed random, truncated or mutated bytes.
//!
//! Accuracy checks on the probabilistic tiers use fixed seeds: a 5% bound on a 1.6%-SE
//! estimator fails ~0.2% of random trials, which would make CI flaky; fixed seeds keep the
//! check meaningful and reproducible.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use sketch::{hash_bytes, DistinctCount, QuantileSketch, SketchError, TopK};

/// splitmix64: a deterministic value stream for the fixed-seed checks.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut x = *state;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn uniform(state: &mut u64) -> f64 {
    (splitmix(state) >> 11) as f64 / (1u64 << 53) as f64
}

fn value_hash(value: u64) -> u64 {
    hash_bytes(&value.to_le_bytes())
}

fn distinct_of(values: &[u64]) -> DistinctCount {
    let mut counter = DistinctCount::new();
    for &value in values {
        counter.insert_hash(value_hash(value));
    }
    counter
}

fn quantile_of(values: &[f64]) -> QuantileSketch {
    let mut sketch = QuantileSketch::new();
    for &value in values {
        sketch.insert(value);
    }
    sketch
}

fn top_k_of(k: usize, items: &[u32]) -> TopK<u32> {
    let mut top = TopK::new(k);
    for item in items {
        top.insert(item, hash_bytes(&item.to_le_bytes()));
    }
    top
}

/// The reference quantile: sort, interpolate at rank q·(n−1).
fn naive_quantile(values: &[f64], q: f64) -> Option<(f64, f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last_idx = sorted.len().checked_sub(1)?;
    let rank = q * last_idx as f64;
    let (low, high) = (
        sorted[rank.floor() as usize],
        sorted[(rank.ceil() as usize).min(last_idx)],
    );
    let fraction = rank - rank.floor();
    let value = if fraction == 0.0 {
        low
    } else {
        low + (high - low) * fraction
    };
    Some((value, low, high))
}

fn naive_top(k: usize, items: &[u32]) -> Vec<(u32, u64)> {
    let mut counts: HashMap<u32, u64> = HashMap::new();
    for &item in items {
        *counts.entry(item).or_default() += 1;
    }
    let mut ranked: Vec<(u32, u64)> = counts.into_iter().collect();
    ranked.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
    ranked.truncate(k);
    ranked
}

fn encode_u32(item: &u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&item.to_le_bytes());
}

fn decode_u32(input: &[u8]) -> Result<(u32, usize), SketchError> {
    let bytes: [u8; 4] = input
        .get(..4)
        .ok_or(SketchError::Truncated)?
        .try_into()
        .map_err(|_| SketchError::Truncated)?;
    Ok((u32::from_le_bytes(bytes), 4))
}

fn encode_string(item: &String, out: &mut Vec<u8>) {
    out.push(item.len() as u8);
    out.extend_from_slice(item.as_bytes());
}

fn decode_string(input: &[u8]) -> Result<(String, usize), SketchError> {
    let len = usize::from(*input.first().ok_or(SketchError::Truncated)?);
    let bytes = input.get(1..1 + len).ok_or(SketchError::Truncated)?;
    let text = std::str::from_utf8(bytes).map_err(|_| SketchError::Invalid("item not utf-8"))?;
    Ok((text.to_owned(), 1 + len))
}

/// Finite values spanning many magnitudes, both signs and exact zeros.
fn finite_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (-30.0f64..30.0, any::<bool>())
            .prop_map(|(exponent, negative)| exponent.exp() * if negative { -1.0 } else { 1.0 }),
        2 => -1000.0f64..1000.0,
        1 => Just(0.0),
        1 => (-5i32..5).prop_map(f64::from),
    ]
}

/// Valid encodings of each type in both tiers, to mutate and truncate.
fn valid_encodings() -> Vec<(&'static str, Vec<u8>)> {
    let mut encodings = Vec::new();
    let mut out = Vec::new();
    distinct_of(&[1, 2, 3]).encode(&mut out);
    encodings.push(("distinct", std::mem::take(&mut out)));
    distinct_of(&(0..3000).collect::<Vec<u64>>()).encode(&mut out);
    encodings.push(("distinct", std::mem::take(&mut out)));
    quantile_of(&[1.5, -2.0, 0.0]).encode(&mut out);
    encodings.push(("quantile", std::mem::take(&mut out)));
    let wide: Vec<f64> = (0..2000)
        .map(|idx| (f64::from(idx) * 0.3 - 300.0).exp() - 1.0)
        .collect();
    quantile_of(&wide).encode(&mut out);
    encodings.push(("quantile", std::mem::take(&mut out)));
    top_k_of(3, &[1, 1, 2, 3, 3, 3]).encode(&mut out, encode_u32);
    encodings.push(("top_k", std::mem::take(&mut out)));
    top_k_of(3, &(0..1100).chain([7, 7, 7]).collect::<Vec<u32>>()).encode(&mut out, encode_u32);
    encodings.push(("top_k", std::mem::take(&mut out)));
    encodings
}

/// Decodes with the named decoder; must not panic, and success must stay within the input.
fn decode_any(kind: &str, bytes: &[u8]) {
    let consumed = match kind {
        // Whatever decodes must also survive reads, merges and further inserts.
        "distinct" => DistinctCount::decode(bytes).map(|(mut counter, consumed)| {
            counter.estimate();
            counter.merge(&counter.clone());
            counter.insert_hash(42);
            counter.estimate();
            consumed
        }),
        "quantile" => QuantileSketch::decode(bytes).map(|(mut sketch, consumed)| {
            for q in [0.0, 0.37, 0.5, 1.0] {
                sketch.quantile(q);
            }
            sketch.merge(&sketch.clone());
            for value in [f64::MAX, -f64::MAX, 5e-324, -5e-324, 0.0] {
                sketch.insert(value);
            }
            sketch.quantile(0.5);
            consumed
        }),
        _ => TopK::decode(bytes, decode_u32).map(|(mut top, consumed)| {
            top.top(u32::cmp);
            top.merge(&top.clone());
            top.insert(&7, 7);
            top.top(u32::cmp);
            consumed
        }),
    };
    if let Ok(consumed) = consumed {
        assert!(consumed <= bytes.len());
    }
}

// ---------------------------------------------------------------- DistinctCount

proptest! {
    #[test]
    fn distinct_is_exact_below_cap(values in prop::collection::vec(0u64..1024, 0..2000)) {
        let counter = distinct_of(&values);
        let reference: HashSet<u64> = values.iter().copied().collect();
        prop_assert!(counter.is_exact());
        prop_assert_eq!(counter.estimate(), reference.len() as u64);
    }

    #[test]
    fn distinct_merge_equals_single_stream(
        left in prop::collection::vec(0u64..2500, 0..1500),
        right in prop::collection::vec(0u64..2500, 0..1500),
    ) {
        // HyperLogLog registers depend only on the set of hashes, so equality is exact in
        // every tier combination, not just within tolerance.
        let mut merged = distinct_of(&left);
        merged.merge(&distinct_of(&right));
        let both: Vec<u64> = left.iter().chain(right.iter()).copied().collect();
        prop_assert_eq!(merged, distinct_of(&both));
    }

    #[test]
    fn distinct_round_trips(values in prop::collection::vec(any::<u64>(), 0..1500)) {
        let counter = distinct_of(&values);
        let mut out = vec![0xAA]; // decoding must not depend on the buffer's prefix
        counter.encode(&mut out);
        let (decoded, consumed) = DistinctCount::decode(&out[1..]).expect("decodes");
        prop_assert_eq!(consumed, out.len() - 1);
        prop_assert_eq!(decoded, counter);
    }
}

#[test]
fn distinct_estimate_within_5_percent_at_scale() {
    for (n, n_seeds) in [(10_000u64, 3u64), (100_000, 3), (1_000_000, 1)] {
        for seed in 1..=n_seeds {
            let mut state = seed * 0x1234_5678;
            let mut counter = DistinctCount::new();
            for _ in 0..n {
                counter.insert_hash(splitmix(&mut state));
            }
            let error = (counter.estimate() as f64 - n as f64).abs() / n as f64;
            assert!(error < 0.05, "n={n} seed={seed} relative error {error}");
        }
    }
}

#[test]
fn distinct_merged_buckets_stay_within_tolerance() {
    // 64 window buckets of 2000 values each, overlapping by half: 65_000 distinct in total.
    let buckets: Vec<DistinctCount> = (0..64u64)
        .map(|bucket| distinct_of(&(bucket * 1000..bucket * 1000 + 2000).collect::<Vec<u64>>()))
        .collect();
    let mut merged = DistinctCount::new();
    for bucket in &buckets {
        merged.merge(bucket);
    }
    let error = (merged.estimate() as f64 - 65_000.0).abs() / 65_000.0;
    assert!(error < 0.05, "relative error {error}");
}

// ---------------------------------------------------------------- QuantileSketch

proptest! {
    #[test]
    fn quantile_exact_mode_equals_naive(
        values in prop::collection::vec(finite_value(), 1..=256),
        q in 0.0f64..=1.0,
    ) {
        let sketch = quantile_of(&values);
        prop_assert_eq!(sketch.relative_accuracy(), 0.0);
        prop_assert_eq!(sketch.count(), values.len() as u64);
        let expected = naive_quantile(&values, q).map(|(value, _, _)| value);
        prop_assert_eq!(sketch.quantile(q), expected);
    }

    #[test]
    fn quantile_exact_merge_equals_single_stream(
        left in prop::collection::vec(finite_value(), 0..=128),
        right in prop::collection::vec(finite_value(), 0..=128),
    ) {
        let mut merged = quantile_of(&left);
        merged.merge(&quantile_of(&right));
        let both: Vec<f64> = left.iter().chain(right.iter()).copied().collect();
        prop_assert_eq!(merged, quantile_of(&both));
    }

    #[test]
    fn quantile_round_trips(values in prop::collection::vec(finite_value(), 0..1000)) {
        let sketch = quantile_of(&values);
        let mut out = Vec::new();
        sketch.encode(&mut out);
        let (decoded, consumed) = QuantileSketch::decode(&out).expect("decodes");
        prop_assert_eq!(consumed, out.len());
        prop_assert_eq!(decoded, sketch);
    }
}

/// Each interpolation endpoint is within α, so the answer is within α·max(|low|, |high|);
/// the check allows 2α for float slack at bucket boundaries.
fn assert_quantiles_within_alpha(sketch: &QuantileSketch, values: &[f64]) {
    let alpha = sketch.relative_accuracy();
    assert!(alpha > 0.0, "expected sketch mode");
    for q in [
        0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0,
    ] {
        // Sketch mode answers the value at rank floor(q * (n - 1)) (beava), within 2 alpha.
        let (_interpolated, low, _high) = naive_quantile(values, q).expect("non-empty");
        let estimate = sketch.quantile(q).expect("non-empty");
        let bound = 2.0 * alpha * low.abs();
        assert!(
            (estimate - low).abs() <= bound,
            "q={q} estimate={estimate} rank value={low} alpha={alpha}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn quantile_sketch_mode_within_relative_error(
        values in prop::collection::vec(finite_value(), 257..2500),
    ) {
        let sketch = quantile_of(&values);
        prop_assert_eq!(sketch.count(), values.len() as u64);
        assert_quantiles_within_alpha(&sketch, &values);
    }

    #[test]
    fn quantile_merged_buckets_within_relative_error(
        values in prop::collection::vec(finite_value(), 257..2500),
        n_buckets in 2usize..16,
    ) {
        let chunk_len = values.len().div_ceil(n_buckets);
        let mut merged = QuantileSketch::new();
        for chunk in values.chunks(chunk_len) {
            merged.merge(&quantile_of(chunk));
        }
        prop_assert_eq!(merged.count(), values.len() as u64);
        assert_quantiles_within_alpha(&merged, &values);
    }
}

#[test]
fn quantile_collapses_on_extreme_ranges_and_stays_accurate() {
    let mut state = 7u64;
    let values: Vec<f64> = (0..20_000)
        .map(|_| {
            let magnitude = (uniform(&mut state) * 1200.0 - 600.0).exp();
            if uniform(&mut state) < 0.4 {
                -magnitude
            } else {
                magnitude
            }
        })
        .collect();
    let sketch = quantile_of(&values);
    assert!(sketch.relative_accuracy() > 0.01, "expected collapses");
    assert!(
        sketch.heap_bytes() <= 16 * 1024 + 256,
        "heap {}",
        sketch.heap_bytes()
    );
    assert_quantiles_within_alpha(&sketch, &values);
}

// ---------------------------------------------------------------- TopK

proptest! {
    #[test]
    fn top_k_exact_mode_equals_naive(
        items in prop::collection::vec(0u32..60, 0..600),
        k in 1usize..=64,
    ) {
        let top = top_k_of(k, &items);
        prop_assert!(top.is_exact());
        prop_assert_eq!(top.top(u32::cmp), naive_top(k, &items));
    }

    #[test]
    fn top_k_exact_merge_equals_single_stream(
        left in prop::collection::vec(0u32..500, 0..400),
        right in prop::collection::vec(0u32..500, 0..400),
        k in 1usize..=20,
    ) {
        let mut merged = top_k_of(k, &left);
        merged.merge(&top_k_of(k, &right));
        let both: Vec<u32> = left.iter().chain(right.iter()).copied().collect();
        prop_assert_eq!(merged.top(u32::cmp), naive_top(k, &both));
    }

    #[test]
    fn top_k_round_trips_variable_length_items(
        items in prop::collection::vec("[a-z]{0,12}", 0..300),
        k in 1usize..=16,
    ) {
        let mut top = TopK::new(k);
        for item in &items {
            top.insert(item, hash_bytes(item.as_bytes()));
        }
        let mut out = Vec::new();
        top.encode(&mut out, encode_string);
        let (decoded, consumed) = TopK::decode(&out, decode_string).expect("decodes");
        prop_assert_eq!(consumed, out.len());
        prop_assert_eq!(decoded, top);
    }
}

/// A zipf(s)-distributed stream over `n_items` items, from a fixed seed.
fn zipf_stream(n_items: u32, n_events: usize, exponent: f64, seed: u64) -> Vec<u32> {
    let weights: Vec<f64> = (1..=n_items)
        .map(|rank| 1.0 / f64::from(rank).powf(exponent))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(weights.len());
    let mut running = 0.0;
    for weight in weights {
        running += weight / total;
        cumulative.push(running);
    }
    let mut state = seed;
    (0..n_events)
        .map(|_| {
            let draw = uniform(&mut state);
            let rank = cumulative
                .partition_point(|&edge| edge < draw)
                .min(n_items as usize - 1);
            // Scatter ranks over the id space so item order says nothing about weight.
            (rank as u32).wrapping_mul(2_654_435_761)
        })
        .collect()
}

fn assert_heavy_hitters_found(top: &TopK<u32>, stream: &[u32], k: usize) {
    let reported = top.top(u32::cmp);
    let truth: HashMap<u32, u64> = naive_top(usize::MAX, stream).into_iter().collect();
    // Every item above 1% of the stream is a heavy hitter and must be reported.
    let threshold = stream.len() as u64 / 100;
    for (item, count) in naive_top(k, stream) {
        if count > threshold {
            assert!(
                reported.iter().any(|(found, _)| *found == item),
                "missed {item} ({count})"
            );
        }
    }
    // Count-Min never undercounts and overcounts by a small fraction of the stream.
    for (item, count) in &reported {
        let true_count = truth.get(item).copied().unwrap_or(0);
        assert!(
            *count >= true_count,
            "{item}: reported {count} < true {true_count}"
        );
        assert!(
            *count <= true_count + stream.len() as u64 / 200,
            "{item}: {count} vs {true_count}"
        );
    }
}

#[test]
fn top_k_finds_heavy_hitters_after_promotion() {
    for seed in 1..=3u64 {
        let stream = zipf_stream(20_000, 50_000, 1.1, seed);
        let top = top_k_of(10, &stream);
        assert!(!top.is_exact());
        assert_heavy_hitters_found(&top, &stream, 10);
    }
}

#[test]
fn top_k_finds_heavy_hitters_across_merged_buckets() {
    let stream = zipf_stream(20_000, 64_000, 1.1, 99);
    let mut merged = TopK::new(10);
    for chunk in stream.chunks(1000) {
        merged.merge(&top_k_of(10, chunk));
    }
    assert!(!merged.is_exact());
    assert_heavy_hitters_found(&merged, &stream, 10);
}

// ---------------------------------------------------------------- hostile decode

/// Valid version/tag/k prefixes that steer random tails past the first checks.
fn steering_prefixes() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![1],
        vec![1, 0],
        vec![1, 1],
        vec![1, 4, 1],
        vec![1, 4, 0],
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_random_bytes_never_panics(
        prefix in prop::sample::select(steering_prefixes()),
        tail in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        let bytes: Vec<u8> = prefix.into_iter().chain(tail).collect();
        for kind in ["distinct", "quantile", "top_k"] {
            decode_any(kind, &bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_truncated_or_mutated_never_panics(
        which in 0usize..6,
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let (kind, valid) = valid_encodings().swap_remove(which);
        let truncated = &valid[..cut.index(valid.len())];
        let truncated_result = match kind {
            "distinct" => DistinctCount::decode(truncated).map(|_| ()),
            "quantile" => QuantileSketch::decode(truncated).map(|_| ()),
            _ => TopK::decode(truncated, decode_u32).map(|_| ()),
        };
        prop_assert!(truncated_result.is_err());
        let mut mutated = valid.clone();
        for (position, byte) in flips {
            let idx = position.index(mutated.len());
            mutated[idx] ^= byte;
        }
        decode_any(kind, &mutated);
    }
}

#[test]
fn valid_encodings_decode_whole() {
    for (kind, bytes) in valid_encodings() {
        let consumed = match kind {
            "distinct" => DistinctCount::decode(&bytes).map(|(_, consumed)| consumed),
            "quantile" => QuantileSketch::decode(&bytes).map(|(_, consumed)| consumed),
            _ => TopK::decode(&bytes, decode_u32).map(|(_, consumed)| consumed),
        };
        assert_eq!(consumed, Ok(bytes.len()), "{kind}");
    }
}
