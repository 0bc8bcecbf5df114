//! Property tests: weir's windowed and lifetime operators against a naive reference model.
//!
//! The reference keeps the plain event list and recomputes each feature at the query time by
//! the §6.1 bucket rule (`bucket_ms = ceil(window/64)`, an event counts iff
//! `0 <= q - floor(t/bucket_ms)*bucket_ms < window`). Random sequences mix value kinds, `where`
//! outcomes and gaps from 0 ms to several windows. Exact modes compare exactly (counts, top_k,
//! n_unique, min/max) or to 1e-9 relative (float sums in another order); sketch modes compare
//! within their error bounds.

mod common;

use common::{to_json, Agg};
use model::Value;
use proptest::prelude::*;
use serde_json::json;

#[derive(Clone, Debug)]
enum V {
    Null,
    Int(i64),
    Float(f64),
    Str(&'static str),
    Bool(bool),
}

impl V {
    fn json(&self) -> serde_json::Value {
        match self {
            V::Null => json!(null),
            V::Int(i) => json!(i),
            V::Float(f) => json!(f),
            V::Str(s) => json!(s),
            V::Bool(b) => json!(b),
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            V::Int(i) => Some(*i as f64),
            V::Float(f) => Some(*f),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct Event {
    t: i64,
    v: V,
    pass: bool,
}

fn value_strategy() -> impl Strategy<Value = V> {
    prop_oneof![
        1 => Just(V::Null),
        4 => (-6i64..6).prop_map(V::Int),
        4 => (-60i32..60).prop_map(|x| V::Float(f64::from(x) / 4.0)),
        2 => prop::sample::select(vec!["a", "b", "c", "dd", "e"]).prop_map(V::Str),
        1 => any::<bool>().prop_map(V::Bool),
    ]
}

const WINDOWS: [(&str, i64); 6] = [
    ("1ms", 1),
    ("64ms", 64),
    ("100ms", 100),
    ("1s", 1_000),
    ("7s", 7_000),
    ("1m", 60_000),
];

/// A sequence whose gaps are scaled to the window so that buckets fill, expire and reopen.
fn scenario() -> impl Strategy<Value = (usize, Vec<Event>, Vec<i64>)> {
    (0..WINDOWS.len()).prop_flat_map(|wi| {
        let w = WINDOWS[wi].1;
        let gap = prop_oneof![
            6 => 0..=(w / 16).max(1),
            3 => 0..=w,
            1 => 0..=(3 * w),
        ];
        let events = prop::collection::vec((gap, value_strategy(), any::<bool>()), 1..120);
        let queries = prop::collection::vec(0..=(2 * w), 1..4);
        (Just(wi), events, queries).prop_map(|(wi, raw, queries)| {
            let mut t = 1_700_000_000_000i64;
            let events = raw
                .into_iter()
                .map(|(gap, v, pass)| {
                    t += gap;
                    Event { t, v, pass }
                })
                .collect();
            (wi, events, queries)
        })
    })
}

/// Events visible at `q` (all of them for lifetime).
fn active(events: &[Event], window_ms: Option<i64>, q: i64) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| match window_ms {
            None => true,
            Some(w) => {
                let b = (w + 63) / 64;
                let epoch = e.t.div_euclid(b) * b;
                (0..w).contains(&(q - epoch))
            }
        })
        .collect()
}

/// The reference value of one op over the visible events.
fn reference(op: &str, events: &[&Event], window_ms: Option<i64>) -> serde_json::Value {
    let passing: Vec<&&Event> = events.iter().filter(|e| e.pass).collect();
    let nums: Vec<f64> = passing.iter().filter_map(|e| e.v.num()).collect();
    let n = nums.len();
    let f = |x: f64| json!(x);
    match op {
        "count" => json!(passing.len()),
        "ratio" => {
            if events.is_empty() {
                json!(null)
            } else {
                f(passing.len() as f64 / events.len() as f64)
            }
        }
        "sum" => {
            if n == 0 {
                json!(null)
            } else {
                f(nums.iter().sum())
            }
        }
        "mean" => {
            if n == 0 {
                json!(null)
            } else {
                f(nums.iter().sum::<f64>() / n as f64)
            }
        }
        "var" | "std" => {
            if n < 2 {
                return json!(null);
            }
            let mean = nums.iter().sum::<f64>() / n as f64;
            let var = nums.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            f(if op == "var" { var } else { var.sqrt() })
        }
        "quantile" => {
            if n == 0 {
                return json!(null);
            }
            let mut s = nums.clone();
            s.sort_by(f64::total_cmp);
            let pos = 0.9 * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            f(s[lo] + (pos - lo as f64) * (s[hi] - s[lo]))
        }
        "n_unique" => {
            let mut keys: Vec<String> = Vec::new();
            for e in &passing {
                let key = match &e.v {
                    V::Null => continue,
                    V::Int(i) => format!("i{i}"),
                    V::Bool(b) => format!("i{}", u8::from(*b)),
                    V::Float(x) => format!("f{}", x.to_bits()),
                    V::Str(s) => format!("s{s}"),
                };
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            json!(keys.len())
        }
        "top_k" => {
            let mut counts: Vec<(V, u64)> = Vec::new();
            for e in &passing {
                if matches!(e.v, V::Null) {
                    continue;
                }
                match counts
                    .iter_mut()
                    .find(|(v, _)| v.json() == e.v.json() && same_kind(v, &e.v))
                {
                    Some(slot) => slot.1 += 1,
                    None => counts.push((e.v.clone(), 1)),
                }
            }
            counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| tie(&a.0, &b.0)));
            counts.truncate(3);
            json!(counts
                .iter()
                .map(|(v, c)| json!({"count": c, "value": v.json()}))
                .collect::<Vec<_>>())
        }
        "entropy" => {
            let mut counts: Vec<(serde_json::Value, u64)> = Vec::new();
            for e in &passing {
                if matches!(e.v, V::Null) {
                    continue;
                }
                let k = json!([kind(&e.v), e.v.json()]);
                match counts.iter_mut().find(|(v, _)| *v == k) {
                    Some(slot) => slot.1 += 1,
                    None => counts.push((k, 1)),
                }
            }
            let total: u64 = counts.iter().map(|c| c.1).sum();
            if total == 0 {
                return f(0.0);
            }
            f(counts
                .iter()
                .map(|(_, c)| {
                    let p = *c as f64 / total as f64;
                    -p * p.log2()
                })
                .sum())
        }
        "min" | "max" => {
            // beava's rule per bucket (first value, replaced only by a same-kind better one),
            // then the same rule across buckets oldest first.
            let better = |cur: &V, new: &V| -> bool {
                let ord = match (cur, new) {
                    (V::Int(a), V::Int(b)) => b.cmp(a),
                    (V::Float(a), V::Float(b)) => b.total_cmp(a),
                    (V::Str(a), V::Str(b)) => b.cmp(a),
                    _ => return false,
                };
                if op == "min" {
                    ord.is_lt()
                } else {
                    ord.is_gt()
                }
            };
            let bucket_of = |t: i64| match window_ms {
                None => 0,
                Some(w) => t.div_euclid((w + 63) / 64),
            };
            let mut per_bucket: Vec<(i64, V)> = Vec::new();
            for e in &passing {
                if matches!(e.v, V::Null) {
                    continue;
                }
                let b = bucket_of(e.t);
                match per_bucket.iter_mut().find(|(k, _)| *k == b) {
                    Some((_, cur)) => {
                        if better(cur, &e.v) {
                            *cur = e.v.clone();
                        }
                    }
                    None => per_bucket.push((b, e.v.clone())),
                }
            }
            let mut best: Option<V> = None;
            for (_, v) in per_bucket {
                match &best {
                    None => best = Some(v),
                    Some(cur) => {
                        if better(cur, &v) {
                            best = Some(v);
                        }
                    }
                }
            }
            best.map_or(json!(null), |v| v.json())
        }
        _ => unreachable!(),
    }
}

fn kind(v: &V) -> u8 {
    match v {
        V::Str(_) => 0,
        V::Int(_) => 1,
        V::Float(_) => 2,
        V::Bool(_) => 3,
        V::Null => 4,
    }
}

fn same_kind(a: &V, b: &V) -> bool {
    kind(a) == kind(b)
}

fn tie(a: &V, b: &V) -> std::cmp::Ordering {
    match (a, b) {
        (V::Str(x), V::Str(y)) => x.cmp(y),
        (V::Int(x), V::Int(y)) => x.cmp(y),
        (V::Float(x), V::Float(y)) => x.total_cmp(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        _ => kind(a).cmp(&kind(b)),
    }
}

fn close(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        (Some(a), Some(b)) if got.is_f64() && want.is_f64() => {
            a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
        }
        _ => got == want,
    }
}

const OPS: [&str; 12] = [
    "count", "ratio", "sum", "mean", "var", "std", "quantile", "n_unique", "top_k", "entropy",
    "min", "max",
];

fn params(op: &str, window: Option<&str>) -> serde_json::Value {
    let mut p = json!({"field": "j", "where": "w"});
    if op == "quantile" {
        p["q"] = json!(0.9);
    }
    if op == "top_k" {
        p["k"] = json!(3);
    }
    if let Some(w) = window {
        p["window"] = json!(w);
    }
    p
}

fn check_all(window: Option<(&str, i64)>, events: &[Event], query_offsets: &[i64]) {
    for op in OPS {
        let mut agg = Agg::new(op, params(op, window.map(|w| w.0)));
        for e in events {
            agg.push_where(e.t, json!({"j": e.v.json()}), e.pass);
        }
        let last = events.last().map_or(0, |e| e.t);
        for off in query_offsets {
            let q = last + off;
            let visible = active(events, window.map(|w| w.1), q);
            let want = reference(op, &visible, window.map(|w| w.1));
            let got = agg.read(q);
            assert!(
                close(&got, &want),
                "{op} window {window:?} q=last+{off}: got {got}, want {want}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn windowed_ops_match_the_bucket_rule((wi, events, queries) in scenario()) {
        check_all(Some(WINDOWS[wi]), &events, &queries);
    }

    #[test]
    fn lifetime_ops_match_the_event_list((_wi, events, queries) in scenario()) {
        check_all(None, &events, &queries);
    }

    /// Recency/streak family against direct definitions.
    #[test]
    fn recency_and_streaks((_wi, events, queries) in scenario()) {
        let ops = [
            ("last_seen", json!({"where": "w"})),
            ("first_seen", json!({"where": "w"})),
            ("time_since", json!({"where": "w"})),
            ("age", json!({"where": "w"})),
            ("has_seen", json!({"where": "w"})),
            ("streak", json!({"where": "w"})),
            ("max_streak", json!({"where": "w"})),
            ("negative_streak", json!({"where": "w"})),
            ("time_since_last_n", json!({"where": "w", "n": 3})),
            ("first", json!({"field": "j", "where": "w"})),
            ("last", json!({"field": "j", "where": "w"})),
            ("last_n", json!({"field": "j", "where": "w", "n": 4})),
            ("first_n", json!({"field": "j", "where": "w", "n": 4})),
            ("lag", json!({"field": "j", "where": "w", "n": 2})),
        ];
        let last_t = events.last().map_or(0, |e| e.t);
        let matches: Vec<&Event> = events.iter().filter(|e| e.pass).collect();
        let values: Vec<serde_json::Value> = matches
            .iter()
            .filter(|e| !matches!(e.v, V::Null))
            .map(|e| e.v.json())
            .collect();
        let mut run = 0u64;
        let mut best = 0u64;
        let mut neg = 0u64;
        for e in &events {
            if e.pass { run += 1; neg = 0; } else { run = 0; neg += 1; }
            best = best.max(run);
        }
        for (op, p) in ops {
            let mut agg = Agg::new(op, p);
            for e in &events {
                agg.push_where(e.t, json!({"j": e.v.json()}), e.pass);
            }
            for off in &queries {
                let q = last_t + off;
                let want = match op {
                    "last_seen" => matches.last().map_or(json!(null), |e| json!(e.t)),
                    "first_seen" => matches.first().map_or(json!(null), |e| json!(e.t)),
                    "time_since" => matches.last().map_or(json!(null), |e| json!(q - e.t)),
                    "age" => matches.first().map_or(json!(null), |e| json!(q - e.t)),
                    "has_seen" => json!(!matches.is_empty()),
                    "streak" => json!(run),
                    "max_streak" => json!(best),
                    "negative_streak" => json!(neg),
                    "time_since_last_n" => match matches.len() {
                        0..=2 => json!(null),
                        n => json!(q - matches[n - 3].t),
                    },
                    "first" => values.first().cloned().unwrap_or(json!(null)),
                    "last" => values.last().cloned().unwrap_or(json!(null)),
                    "last_n" => json!(values[values.len().saturating_sub(4)..]),
                    "first_n" => json!(values[..values.len().min(4)]),
                    "lag" => match values.len() {
                        0..=2 => json!(null),
                        n => values[n - 3].clone(),
                    },
                    _ => unreachable!(),
                };
                prop_assert_eq!(agg.read(q), want, "{}", op);
            }
        }
    }
}

/// Sketch modes: past the exact tiers, windowed `n_unique` and `quantile` stay within their
/// error bounds of the truth.
#[test]
fn sketch_modes_stay_within_error_bounds() {
    let mut nu = Agg::new("n_unique", json!({"field": "i", "window": "1h"}));
    let mut q = Agg::new("quantile", json!({"field": "x", "window": "1h", "q": 0.5}));
    let mut xs = Vec::new();
    let t0 = 1_700_000_000_000i64;
    // 6 000 events over 40 minutes: ~43 buckets, thousands of distinct values.
    for i in 0..6_000i64 {
        let t = t0 + i * 400;
        let x = ((i * 7919) % 5003) as f64 + 0.5;
        xs.push(x);
        nu.push(t, json!({"i": i % 4_500}));
        q.push(t, json!({"x": x}));
    }
    let end = t0 + 6_000 * 400;
    let distinct = nu.read(end).as_f64().unwrap();
    assert!(
        (distinct - 4_500.0).abs() / 4_500.0 < 0.05,
        "n_unique {distinct}"
    );
    xs.sort_by(f64::total_cmp);
    let truth = xs[xs.len() / 2];
    let median = q.read(end).as_f64().unwrap();
    assert!(
        (median - truth).abs() / truth < 0.05,
        "median {median} vs {truth}"
    );
    // The value type does not change past the exact tier.
    assert!(matches!(nu.read_value(end), Value::I64(_)));
    assert_eq!(to_json(&Value::I64(1)), json!(1));
}
