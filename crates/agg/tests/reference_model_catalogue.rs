//! Property tests: the rest of the §6.2 catalogue against naive reference models.
//!
//! `reference_model.rs` covers the windowable ops (count … entropy, min/max) and the basic
//! recency/streak/buffer ops; this file guards every other op. Each property feeds a random
//! event sequence (ints, quarter floats, strings, bools and nulls incl. negatives, zero and
//! duplicates; random `where` outcomes; processing times with random gaps from 0 ms — equal
//! timestamps — to days) and, after *every* event, compares `AggSpec::read` with a reference
//! recomputed from the plain list of events seen so far. The references follow §6.2 as weir
//! implements it, including the beava quirks weir reproduces on purpose (each is marked
//! "beava quirk" below). `reservoir_sample` is random, so only its invariants are checked.
//! Floats compare to 1e-9 relative (1e-6 where sums accumulate differently), with an absolute
//! floor of the same size so values near 0 do not make the check meaningless.

mod common;

use common::Agg;
use model::Value;
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::f64::consts::LN_2;

const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 86_400_000;

#[derive(Clone, Debug, PartialEq)]
enum V {
    Null,
    Int(i64),
    Float(f64),
    Str(&'static str),
    Bool(bool),
}

impl V {
    fn json(&self) -> Json {
        match self {
            V::Null => Json::Null,
            V::Int(i) => json!(i),
            V::Float(f) => json!(f),
            V::Str(s) => json!(s),
            V::Bool(b) => json!(b),
        }
    }

    fn value(&self) -> Value {
        match self {
            V::Null => Value::Null,
            V::Int(i) => Value::I64(*i),
            V::Float(f) => Value::F64(*f),
            V::Str(s) => Value::str(s),
            V::Bool(b) => Value::Bool(*b),
        }
    }

    /// Numeric ops read ints and floats only (bools and strings are skipped).
    fn num(&self) -> Option<f64> {
        match self {
            V::Int(i) => Some(*i as f64),
            V::Float(f) => Some(*f),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct Ev {
    t: i64,
    v: V,
    pass: bool,
    /// `(lat, lon)`; either may be missing (then geo ops skip the event).
    lat: Option<f64>,
    lon: Option<f64>,
    /// The second read after this event happens at `t + q_extra`.
    q_extra: i64,
}

impl Ev {
    fn row(&self) -> Json {
        let mut r = json!({"j": self.v.json()});
        if let Some(lat) = self.lat {
            r["lat"] = json!(lat);
        }
        if let Some(lon) = self.lon {
            r["lon"] = json!(lon);
        }
        r
    }
}

fn value_strategy() -> impl Strategy<Value = V> {
    prop_oneof![
        1 => Just(V::Null),
        4 => (-6i64..=6).prop_map(V::Int),
        4 => (-40i32..=40).prop_map(|x| V::Float(f64::from(x) / 4.0)),
        // "5" and "true" share an `event_type_mix` key with 5 and true.
        2 => prop::sample::select(vec!["a", "b", "c", "5", "true", ""]).prop_map(V::Str),
        1 => any::<bool>().prop_map(V::Bool),
    ]
}

fn gap_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => Just(0i64),
        4 => 1i64..=50,
        3 => 1i64..=5_000,
        2 => 1i64..=4 * MS_PER_HOUR,
        1 => 1i64..=3 * MS_PER_DAY,
    ]
}

fn q_extra_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => Just(0i64),
        2 => prop::sample::select(vec![1i64, 49, 50, 51, 999, 1_000, MS_PER_HOUR - 1, MS_PER_HOUR]),
        1 => 0i64..=2 * MS_PER_HOUR,
    ]
}

#[derive(Clone, Debug)]
enum GeoGen {
    Missing,
    LatOnly,
    Same,
    Point(f64, f64),
}

fn geo_strategy() -> impl Strategy<Value = GeoGen> {
    prop_oneof![
        1 => Just(GeoGen::Missing),
        1 => Just(GeoGen::LatOnly),
        2 => Just(GeoGen::Same),
        // lon in [-90, 90] keeps points away from antipodes.
        6 => ((-240i32..=240), (-360i32..=360))
            .prop_map(|(a, o)| GeoGen::Point(f64::from(a) / 4.0, f64::from(o) / 4.0)),
    ]
}

/// Non-decreasing processing times from `base` (plus up to a week, so every UTC hour and
/// weekday occurs), as the engine's watermark guarantees.
fn events_from(base: i64, max_len: usize) -> impl Strategy<Value = Vec<Ev>> {
    let one = (
        gap_strategy(),
        value_strategy(),
        prop::bool::weighted(0.75),
        geo_strategy(),
        q_extra_strategy(),
    );
    (0i64..7 * MS_PER_DAY, prop::collection::vec(one, 1..max_len)).prop_map(move |(start, raw)| {
        let mut t = base + start;
        let mut prev = (10.0, 20.0);
        raw.into_iter()
            .map(|(gap, v, pass, geo, q_extra)| {
                t += gap;
                let (lat, lon) = match geo {
                    GeoGen::Missing => (None, None),
                    GeoGen::LatOnly => (Some(prev.0), None),
                    GeoGen::Same => (Some(prev.0), Some(prev.1)),
                    GeoGen::Point(a, o) => {
                        prev = (a, o);
                        (Some(a), Some(o))
                    }
                };
                Ev {
                    t,
                    v,
                    pass,
                    lat,
                    lon,
                    q_extra,
                }
            })
            .collect()
    })
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    events_from(1_700_000_000_000, 60)
}

// ---------------------------------------------------------------------------------------------
// Harness.

/// Feeds `evs` one by one; after each, reads at `t` and `t + q_extra` and checks the read
/// against `want(prefix, q)`.
fn drive(
    op: &str,
    params: Json,
    evs: &[Ev],
    mut check: impl FnMut(&[Ev], i64, &Value) -> Result<(), String>,
) -> Result<(), TestCaseError> {
    let mut agg = Agg::new(op, params.clone());
    for (i, e) in evs.iter().enumerate() {
        agg.push_where(e.t, e.row(), e.pass);
        for q in [e.t, e.t + e.q_extra] {
            let got = agg.read_value(q);
            if let Err(msg) = check(&evs[..=i], q, &got) {
                return Err(TestCaseError::fail(format!(
                    "{op} {params} after event #{i} (t={}, q={q}): {msg}",
                    e.t
                )));
            }
        }
    }
    Ok(())
}

/// Exact comparison except floats: `|a − b| ≤ tol·max(|a|, |b|, 1)`; NaN equals NaN and
/// infinities compare exactly.
fn close(got: &Value, want: &Value, tol: f64) -> bool {
    match (got, want) {
        (Value::F64(a), Value::F64(b)) => {
            a.to_bits() == b.to_bits()
                || (a.is_nan() && b.is_nan())
                || (a.is_finite()
                    && b.is_finite()
                    && (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0))
        }
        (Value::List(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| close(x, y, tol))
        }
        (Value::Map(a), Value::Map(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && close(va, vb, tol))
        }
        _ => got == want,
    }
}

fn expect(got: &Value, want: &Value, tol: f64) -> Result<(), String> {
    if close(got, want, tol) {
        Ok(())
    } else {
        Err(format!("got {got:?}, want {want:?}"))
    }
}

fn f64_or_null(x: Option<f64>) -> Value {
    x.map_or(Value::Null, Value::F64)
}

/// Events that pass `where`.
fn matching(evs: &[Ev]) -> impl Iterator<Item = &Ev> {
    evs.iter().filter(|e| e.pass)
}

/// Non-null field values of matching events.
fn values(evs: &[Ev]) -> Vec<&V> {
    matching(evs)
        .filter(|e| e.v != V::Null)
        .map(|e| &e.v)
        .collect()
}

/// `(t, x)` of matching events with a numeric field.
fn numbers(evs: &[Ev]) -> Vec<(i64, f64)> {
    matching(evs)
        .filter_map(|e| e.v.num().map(|x| (e.t, x)))
        .collect()
}

fn list(vs: &[&V]) -> Value {
    Value::List(vs.iter().map(|v| v.value()).collect())
}

/// Two-pass mean and sample variance (`None` below two values).
fn sample_stats(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.len() < 2 {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var))
}

/// Sample z-score of `x` against `xs` (which include `x`); null below 2 values or sd 0.
fn z_against(xs: &[f64], x: f64) -> Value {
    match sample_stats(xs) {
        Some((mean, var)) if var > 0.0 => Value::F64((x - mean) / var.sqrt()),
        _ => Value::Null,
    }
}

// ---------------------------------------------------------------------------------------------
// Buffers, recency, streaks, bloom, reservoir.

const FSIW_WINDOWS: [(&str, Option<i64>); 5] = [
    ("1ms", Some(1)),
    ("50ms", Some(50)),
    ("1s", Some(1_000)),
    ("1h", Some(MS_PER_HOUR)),
    ("forever", None),
];

fn check_buffers_and_recency(
    evs: &[Ev],
    n: usize,
    wi: usize,
    samples: usize,
) -> Result<(), TestCaseError> {
    let p = |extra: Json| {
        let mut p = json!({"field": "j", "where": "w"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    drive("first_n", p(json!({"n": n})), evs, |pre, _, got| {
        let vs = values(pre);
        expect(got, &list(&vs[..vs.len().min(n)]), 0.0)
    })?;
    for op in ["last_n", "most_recent_n"] {
        // Both read oldest → newest (beava: most_recent_n is *not* newest-first, §6.2 ⚠).
        drive(op, p(json!({"n": n})), evs, |pre, _, got| {
            let vs = values(pre);
            expect(got, &list(&vs[vs.len().saturating_sub(n)..]), 0.0)
        })?;
    }
    drive("lag", p(json!({"n": n})), evs, |pre, _, got| {
        let vs = values(pre);
        let want = if vs.len() > n {
            vs[vs.len() - 1 - n].value()
        } else {
            Value::Null
        };
        expect(got, &want, 0.0)
    })?;
    let times = |pre: &[Ev]| matching(pre).map(|e| e.t).collect::<Vec<_>>();
    drive("first_seen", json!({"where": "w"}), evs, |pre, _, got| {
        let want = times(pre).first().map_or(Value::Null, |t| Value::I64(*t));
        expect(got, &want, 0.0)
    })?;
    drive("age", json!({"where": "w"}), evs, |pre, q, got| {
        let want = times(pre)
            .first()
            .map_or(Value::Null, |t| Value::I64(q - t));
        expect(got, &want, 0.0)
    })?;
    drive("has_seen", json!({"where": "w"}), evs, |pre, _, got| {
        expect(got, &Value::Bool(!times(pre).is_empty()), 0.0)
    })?;
    drive(
        "time_since_last_n",
        json!({"where": "w", "n": n}),
        evs,
        |pre, q, got| {
            let ts = times(pre);
            let want = if ts.len() >= n {
                Value::I64(q - ts[ts.len() - n])
            } else {
                Value::Null
            };
            expect(got, &want, 0.0)
        },
    )?;
    // Streaks look at every event, not only matching ones.
    drive("max_streak", json!({"where": "w"}), evs, |pre, _, got| {
        let best = pre.split(|e| !e.pass).map(<[Ev]>::len).max().unwrap_or(0);
        expect(got, &Value::I64(best as i64), 0.0)
    })?;
    drive(
        "negative_streak",
        json!({"where": "w"}),
        evs,
        |pre, _, got| {
            let trailing = pre.iter().rev().take_while(|e| !e.pass).count();
            expect(got, &Value::I64(trailing as i64), 0.0)
        },
    )?;
    let (window, window_ms) = FSIW_WINDOWS[wi];
    drive(
        "first_seen_in_window",
        json!({"where": "w", "window": window}),
        evs,
        |pre, q, got| {
            // Despite its name: did the *last* match happen less than `window` before q?
            let want = match (times(pre).last(), window_ms) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(t), Some(w)) => q - t < w,
            };
            expect(got, &Value::Bool(want), 0.0)
        },
    )?;
    drive("bloom_member", p(json!({})), evs, |pre, _, got| {
        // beava 0.0.6 placeholder: true once any non-null value was inserted.
        expect(got, &Value::Bool(!values(pre).is_empty()), 0.0)
    })?;
    // reservoir_sample: invariants only (which values are kept is random).
    let mut twin = Agg::new("reservoir_sample", p(json!({"samples": samples})));
    let mut twin_fed = 0;
    drive(
        "reservoir_sample",
        p(json!({"samples": samples})),
        evs,
        |pre, q, got| {
            let vs = values(pre);
            let Value::List(items) = got else {
                return Err(format!("not a list: {got:?}"));
            };
            if items.len() != vs.len().min(samples) {
                return Err(format!("{} items from {} values", items.len(), vs.len()));
            }
            if vs.len() <= samples && *got != list(&vs) {
                return Err(format!("not yet full: got {got:?}, want every value"));
            }
            for item in items {
                let kept = items.iter().filter(|i| *i == item).count();
                let offered = vs.iter().filter(|v| v.value() == *item).count();
                if kept > offered {
                    return Err(format!("{item:?} kept {kept}× but offered {offered}×"));
                }
            }
            // Deterministic: a second state fed the same prefix reads the same sample.
            for e in &pre[twin_fed..] {
                twin.push_where(e.t, e.row(), e.pass);
            }
            twin_fed = pre.len();
            if twin.read_value(q) != *got {
                return Err("two identical streams sampled differently".into());
            }
            Ok(())
        },
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decay family.

const HALF_LIVES: [(&str, f64); 4] = [
    ("1ms", 1.0),
    ("100ms", 100.0),
    ("1s", 1_000.0),
    ("1h", 3_600_000.0),
];

/// `decay = exp(−Δt·ln2/half_life)`, written as in §6.2 (row 29) so the reference and weir
/// share the libm call and compare tightly.
fn decay(dt_ms: i64, hl_ms: f64) -> f64 {
    (-(LN_2 / hl_ms) * dt_ms as f64).exp()
}

fn check_decay(evs: &[Ev], hi: usize) -> Result<(), TestCaseError> {
    let (hl, hl_ms) = HALF_LIVES[hi];
    let p = json!({"field": "j", "where": "w", "half_life": hl});
    for op in ["ewma", "ema"] {
        drive(op, p.clone(), evs, |pre, _, got| {
            let mut m: Option<(f64, i64)> = None;
            for (t, x) in numbers(pre) {
                m = Some(match m {
                    None => (x, t),
                    Some((mean, t0)) => {
                        // beava quirk: two values in the same millisecond weigh equally
                        // (alpha 0.5) instead of alpha = 1 − exp(0) = 0.
                        let alpha = if t - t0 <= 0 {
                            0.5
                        } else {
                            1.0 - decay(t - t0, hl_ms)
                        };
                        ((1.0 - alpha) * mean + alpha * x, t)
                    }
                });
            }
            expect(got, &f64_or_null(m.map(|m| m.0)), 1e-9)
        })?;
    }
    // Not decayed to the read time (beava quirk, §6.2 row 32): the state as of the last event.
    drive("decayed_sum", p.clone(), evs, |pre, _, got| {
        let mut s: Option<(f64, i64)> = None;
        for (t, x) in numbers(pre) {
            s = Some(match s {
                None => (x, t),
                Some((v, t0)) => (v * decay(t - t0, hl_ms) + x, t),
            });
        }
        expect(got, &f64_or_null(s.map(|s| s.0)), 1e-9)
    })?;
    drive(
        "decayed_count",
        json!({"where": "w", "half_life": hl}),
        evs,
        |pre, _, got| {
            let mut s: Option<(f64, i64)> = None;
            for e in matching(pre) {
                s = Some(match s {
                    None => (1.0, e.t),
                    Some((v, t0)) => (v * decay(e.t - t0, hl_ms) + 1.0, e.t),
                });
            }
            expect(got, &f64_or_null(s.map(|s| s.0)), 1e-9)
        },
    )?;
    // ewvar / ew_zscore: d = x − m; m += α·d; v = (1−α)·v + α·d·(x − m). Unlike ewma there is
    // no same-millisecond rule here: Δt = 0 gives α = 0 (mean and variance unchanged; the z-score
    // still uses the new last value).
    let ew = |pre: &[Ev]| {
        let mut st: Option<(f64, f64, f64, i64)> = None; // (mean, var, last_x, last_t)
        for (t, x) in numbers(pre) {
            st = Some(match st {
                None => (x, 0.0, x, t),
                Some((m, v, _, t0)) => {
                    let alpha = 1.0 - decay(t - t0, hl_ms);
                    let d = x - m;
                    let m = m + alpha * d;
                    (m, (1.0 - alpha) * v + alpha * d * (x - m), x, t)
                }
            });
        }
        st
    };
    drive("ewvar", p.clone(), evs, |pre, _, got| {
        expect(got, &f64_or_null(ew(pre).map(|s| s.1)), 1e-9)
    })?;
    drive("ew_zscore", p.clone(), evs, |pre, _, got| {
        let want = match ew(pre) {
            Some((m, v, x, _)) if v > 0.0 => Value::F64((x - m) / v.sqrt()),
            _ => Value::Null,
        };
        expect(got, &want, 1e-9)
    })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Change over time.

const SUB_WINDOWS: [(&str, i64); 4] =
    [("1ms", 1), ("10ms", 10), ("1s", 1_000), ("1h", MS_PER_HOUR)];
const SIGMAS: [f64; 4] = [0.5, 1.0, 2.0, 3.0];

/// beava quirk (§6.2 row 39): OLS on *absolute* epoch ms with the textbook sums formula; at
/// epoch magnitudes `nΣt² − (Σt)²` cancels catastrophically and is often exactly 0 (→ null).
/// To reproduce that the sums are accumulated in event order and combined exactly as beava
/// does; any other (better) formula would disagree on which reads are null.
fn trend_epoch(nums: &[(i64, f64)]) -> (Value, Value) {
    let (mut n, mut st, mut sx, mut stx, mut stt) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (t, x) in nums {
        let t = *t as f64;
        n += 1.0;
        st += t;
        sx += x;
        stx += t * x;
        stt += t * t;
    }
    let den = n * stt - st * st;
    if nums.is_empty() || den == 0.0 {
        return (Value::Null, Value::Null);
    }
    let slope = (n * stx - st * sx) / den;
    let intercept = (sx - slope * st) / n;
    let (t_last, x_last) = nums[nums.len() - 1];
    (
        Value::F64(slope),
        Value::F64(x_last - (intercept + slope * t_last as f64)),
    )
}

/// Outlier count bounds: a value whose `|x − μ|` is within 1e-9 of `σ·sd` may go either way
/// (the reference's two-pass moments differ from Welford in the last bits).
fn outlier_bounds(xs: &[f64], sigma: f64) -> (i64, i64) {
    let (mut lo, mut hi) = (0, 0);
    for i in 5..xs.len() {
        let Some((mean, var)) = sample_stats(&xs[..i]) else {
            continue;
        };
        let sd = var.sqrt();
        if sd <= 1e-12 {
            continue;
        }
        let margin = (xs[i] - mean).abs() - sigma * sd;
        if margin > 1e-9 * sd.max(1.0) {
            lo += 1;
            hi += 1;
        } else if margin > -1e-9 * sd.max(1.0) {
            hi += 1;
        }
    }
    (lo, hi)
}

fn check_motion(evs: &[Ev], si: usize, gi: usize) -> Result<(), TestCaseError> {
    let p = json!({"field": "j", "where": "w"});
    drive("twa", p.clone(), evs, |pre, _, got| {
        // Each value weighs the time until the next value; the last value while no time has
        // passed since the first.
        let nums = numbers(pre);
        let want = match nums.last() {
            None => Value::Null,
            Some(&(t_last, x_last)) => {
                let mut weighted = 0.0;
                for w in nums.windows(2) {
                    weighted += w[0].1 * (w[1].0 - w[0].0) as f64;
                }
                let span = (t_last - nums[0].0) as f64;
                Value::F64(if span > 0.0 { weighted / span } else { x_last })
            }
        };
        expect(got, &want, 1e-9)
    })?;
    drive("rate_of_change", p.clone(), evs, |pre, _, got| {
        // Per ms. Two values in the same millisecond divide by 0: ±inf or NaN, which the wire
        // renders as null (asserts current behaviour; beava's output for Δt = 0 is not in the
        // oracle traces).
        let nums = numbers(pre);
        let want = match nums.len() {
            0 | 1 => Value::Null,
            k => {
                let ((t0, x0), (t1, x1)) = (nums[k - 2], nums[k - 1]);
                Value::F64((x1 - x0) / (t1 - t0) as f64)
            }
        };
        expect(got, &want, 1e-12)
    })?;
    drive("delta_from_prev", p.clone(), evs, |pre, _, got| {
        let nums = numbers(pre);
        let want = match nums.len() {
            0 | 1 => Value::Null,
            k => Value::F64(nums[k - 1].1 - nums[k - 2].1),
        };
        expect(got, &want, 0.0)
    })?;
    drive(
        "inter_arrival_stats",
        json!({"where": "w"}),
        evs,
        |pre, _, got| {
            // Mean gap between matching events: the gaps telescope to last − first.
            let ts: Vec<i64> = matching(pre).map(|e| e.t).collect();
            let want = match ts.len() {
                0 | 1 => Value::Null,
                k => Value::F64((ts[k - 1] - ts[0]) as f64 / (k - 1) as f64),
            };
            expect(got, &want, 1e-9)
        },
    )?;
    let (sw, sw_ms) = SUB_WINDOWS[gi];
    drive(
        "burst_count",
        json!({"where": "w", "sub_window": sw}),
        evs,
        |pre, _, got| {
            let mut per: BTreeMap<i64, i64> = BTreeMap::new();
            for e in matching(pre) {
                *per.entry(e.t.div_euclid(sw_ms)).or_default() += 1;
            }
            expect(
                got,
                &Value::I64(per.values().copied().max().unwrap_or(0)),
                0.0,
            )
        },
    )?;
    drive("trend", p.clone(), evs, |pre, _, got| {
        expect(got, &trend_epoch(&numbers(pre)).0, 0.0)
    })?;
    drive("trend_residual", p.clone(), evs, |pre, _, got| {
        expect(got, &trend_epoch(&numbers(pre)).1, 0.0)
    })?;
    let sigma = SIGMAS[si];
    drive(
        "outlier_count",
        json!({"field": "j", "where": "w", "sigma": sigma}),
        evs,
        |pre, _, got| {
            // Each value is tested against the values *before* it (sample sd), once 5 are in.
            let xs: Vec<f64> = numbers(pre).iter().map(|n| n.1).collect();
            let (lo, hi) = outlier_bounds(&xs, sigma);
            match got {
                Value::I64(c) if (lo..=hi).contains(c) => Ok(()),
                _ => Err(format!("got {got:?}, want {lo}..={hi}")),
            }
        },
    )?;
    drive("value_change_count", p.clone(), evs, |pre, _, got| {
        // Typed: 1 → 1.0, 1 → true and "5" → 5 are changes.
        let vs = values(pre);
        let changes = vs.windows(2).filter(|w| w[0] != w[1]).count();
        expect(got, &Value::I64(changes as i64), 0.0)
    })?;
    drive("z_score", p, evs, |pre, _, got| {
        let xs: Vec<f64> = numbers(pre).iter().map(|n| n.1).collect();
        let want = xs.last().map_or(Value::Null, |x| z_against(&xs, *x));
        expect(got, &want, 1e-9)
    })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Distribution shapes.

const BOUND_POOL: [f64; 6] = [-3.0, -0.5, 0.0, 1.0, 2.5, 10.0];
const MIX_POOL: [&str; 6] = ["a", "b", "5", "true", "false", "-3"];

/// Monday 2023-11-13 00:00 UTC (an anchor independent of the 1970 weekday arithmetic).
const A_MONDAY_MS: i64 = 1_699_833_600_000;

fn check_distributions(
    evs: &[Ev],
    bounds_mask: u8,
    mix_categories: Option<u8>,
    max_categories: Option<usize>,
) -> Result<(), TestCaseError> {
    // Increasing bounds from the pool; an empty list is one "all" bin.
    let bounds: Vec<f64> = BOUND_POOL
        .iter()
        .enumerate()
        .filter(|(i, _)| bounds_mask & (1 << i) != 0)
        .map(|(_, b)| *b)
        .collect();
    drive(
        "histogram",
        json!({"field": "j", "where": "w", "buckets": bounds}),
        evs,
        |pre, _, got| {
            let mut bins: BTreeMap<String, i64> = BTreeMap::new();
            if bounds.is_empty() {
                bins.insert("all".into(), 0);
            } else {
                let k = bounds.len();
                bins.insert(format!("<{}", bounds[0]), 0);
                for i in 1..k {
                    bins.insert(format!("{}-{}", bounds[i - 1], bounds[i]), 0);
                }
                bins.insert(format!(">={}", bounds[k - 1]), 0);
            }
            for (_, x) in numbers(pre) {
                // Bin i covers [b(i−1), b(i)): the number of bounds ≤ x picks it.
                let i = bounds.iter().filter(|b| **b <= x).count();
                let label = if bounds.is_empty() {
                    "all".to_string()
                } else if i == 0 {
                    format!("<{}", bounds[0])
                } else if i == bounds.len() {
                    format!(">={}", bounds[i - 1])
                } else {
                    format!("{}-{}", bounds[i - 1], bounds[i])
                };
                *bins.get_mut(&label).unwrap() += 1;
            }
            let want = Value::Map(
                bins.into_iter()
                    .map(|(k, n)| (k.as_str().into(), Value::I64(n)))
                    .collect(),
            );
            expect(got, &want, 0.0)
        },
    )?;
    drive(
        "hour_of_day_histogram",
        json!({"where": "w"}),
        evs,
        |pre, _, got| {
            let mut hours = [0i64; 24];
            for e in matching(pre) {
                hours[((e.t % MS_PER_DAY) / MS_PER_HOUR) as usize] += 1;
            }
            expect(got, &Value::List(hours.map(Value::I64).to_vec()), 0.0)
        },
    )?;
    drive(
        "dow_hour_histogram",
        json!({"where": "w"}),
        evs,
        |pre, _, got| {
            const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            let mut keys: BTreeMap<String, i64> = BTreeMap::new();
            for d in DAYS {
                for h in 0..24 {
                    keys.insert(format!("{d}-{h:02}"), 0);
                }
            }
            for e in matching(pre) {
                let dow = (e.t - A_MONDAY_MS).div_euclid(MS_PER_DAY).rem_euclid(7) as usize;
                let hour = (e.t % MS_PER_DAY) / MS_PER_HOUR;
                *keys.get_mut(&format!("{}-{hour:02}", DAYS[dow])).unwrap() += 1;
            }
            let want = Value::Map(
                keys.into_iter()
                    .map(|(k, n)| (k.as_str().into(), Value::I64(n)))
                    .collect(),
            );
            expect(got, &want, 0.0)
        },
    )?;
    drive(
        "seasonal_deviation",
        json!({"field": "j", "where": "w"}),
        evs,
        |pre, _, got| {
            // z of the last value against every value of its UTC hour (itself included).
            let nums = numbers(pre);
            let want = match nums.last() {
                None => Value::Null,
                Some(&(t, x)) => {
                    let hour = (t % MS_PER_DAY) / MS_PER_HOUR;
                    let same: Vec<f64> = nums
                        .iter()
                        .filter(|(u, _)| (u % MS_PER_DAY) / MS_PER_HOUR == hour)
                        .map(|n| n.1)
                        .collect();
                    z_against(&same, x)
                }
            };
            expect(got, &want, 1e-9)
        },
    )?;
    let mut p = json!({"field": "j", "where": "w"});
    let categories: Option<Vec<&str>> = mix_categories.map(|mask| {
        MIX_POOL
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, c)| *c)
            .collect()
    });
    if let Some(c) = &categories {
        p["categories"] = json!(c);
    }
    if let Some(m) = max_categories {
        p["max_categories"] = json!(m);
    }
    drive("event_type_mix", p, evs, |pre, _, got| {
        // Strings, ints and bools count, keyed by their text (so "5" and 5 share a key);
        // floats are skipped. Only admitted keys are reported, over the total of all counted
        // values: those in `categories`, else the first `max_categories` (default 256).
        let keys: Vec<String> = values(pre)
            .iter()
            .filter_map(|v| match v {
                V::Str(s) => Some((*s).to_string()),
                V::Int(i) => Some(i.to_string()),
                V::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect();
        let mut first_seen: Vec<&String> = Vec::new();
        for k in &keys {
            if !first_seen.contains(&k) {
                first_seen.push(k);
            }
        }
        let admitted: Vec<&String> = match &categories {
            Some(c) => first_seen
                .into_iter()
                .filter(|k| c.contains(&k.as_str()))
                .collect(),
            None => first_seen
                .into_iter()
                .take(max_categories.unwrap_or(256))
                .collect(),
        };
        let mut shares: BTreeMap<&str, Value> = BTreeMap::new();
        for k in admitted {
            let n = keys.iter().filter(|x| *x == k).count();
            shares.insert(k, Value::F64(n as f64 / keys.len() as f64));
        }
        let want = Value::Map(shares.into_iter().map(|(k, v)| (k.into(), v)).collect());
        expect(got, &want, 1e-12)
    })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Geo.

/// Great-circle km (R = 6371), written in the `asin` form of haversine (weir uses `atan2`).
fn km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let h = ((b.0 - a.0).to_radians() / 2.0).sin().powi(2)
        + a.0.to_radians().cos()
            * b.0.to_radians().cos()
            * ((b.1 - a.1).to_radians() / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

fn points(evs: &[Ev]) -> Vec<(i64, (f64, f64))> {
    matching(evs)
        .filter_map(|e| Some((e.t, (e.lat?, e.lon?))))
        .collect()
}

fn check_geo(evs: &[Ev], samples: Option<usize>) -> Result<(), TestCaseError> {
    let p = json!({"where": "w"});
    drive("geo_velocity", p.clone(), evs, |pre, _, got| {
        // Highest km/h between consecutive points; a move within one millisecond has no speed.
        let pts = points(pre);
        let want = if pts.is_empty() {
            Value::Null
        } else {
            let best = pts
                .windows(2)
                .filter(|w| w[1].0 > w[0].0)
                .map(|w| km(w[0].1, w[1].1) / ((w[1].0 - w[0].0) as f64 / 3_600_000.0))
                .fold(0.0, f64::max);
            Value::F64(best)
        };
        expect(got, &want, 1e-9)
    })?;
    drive("geo_distance", p.clone(), evs, |pre, _, got| {
        let pts = points(pre);
        let total: f64 = pts.windows(2).map(|w| km(w[0].1, w[1].1)).sum();
        expect(got, &Value::F64(total), 1e-9)
    })?;
    drive("geo_spread", p.clone(), evs, |pre, _, got| {
        // √(var_lat·K² + var_lon·(K·cos mean_lat)²), population variances, K = 111.32 km/°.
        let pts = points(pre);
        let want = if pts.len() < 2 {
            Value::Null
        } else {
            let n = pts.len() as f64;
            let mlat = pts.iter().map(|p| p.1 .0).sum::<f64>() / n;
            let mlon = pts.iter().map(|p| p.1 .1).sum::<f64>() / n;
            let vlat = pts.iter().map(|p| (p.1 .0 - mlat).powi(2)).sum::<f64>() / n;
            let vlon = pts.iter().map(|p| (p.1 .1 - mlon).powi(2)).sum::<f64>() / n;
            let k = 111.32;
            let k_lon = k * mlat.to_radians().cos();
            Value::F64((vlat * k * k + vlon * k_lon * k_lon).sqrt())
        };
        expect(got, &want, 1e-6)
    })?;
    let mut ph = p;
    if let Some(s) = samples {
        ph["samples"] = json!(s);
    }
    let keep = samples.unwrap_or(100);
    drive("distance_from_home", ph, evs, |pre, _, got| {
        let pts = points(pre);
        let want = match pts.last() {
            None => Value::Null,
            Some(&(_, last)) => {
                let recent = &pts[pts.len().saturating_sub(keep)..];
                let n = recent.len() as f64;
                let home = (
                    recent.iter().map(|p| p.1 .0).sum::<f64>() / n,
                    recent.iter().map(|p| p.1 .1).sum::<f64>() / n,
                );
                Value::F64(km(last, home))
            }
        };
        // The centroid is summed in another order (ring) than the reference's.
        expect(got, &want, 1e-6)
    })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn buffers_recency_streaks_bloom_reservoir(
        evs in events(),
        n in 1usize..=5,
        wi in 0..FSIW_WINDOWS.len(),
        samples in 1usize..=6,
    ) {
        check_buffers_and_recency(&evs, n, wi, samples)?;
    }

    #[test]
    fn decay_family(evs in events(), hi in 0..HALF_LIVES.len()) {
        check_decay(&evs, hi)?;
    }

    #[test]
    fn change_over_time(evs in events(), si in 0..SIGMAS.len(), gi in 0..SUB_WINDOWS.len()) {
        check_motion(&evs, si, gi)?;
    }

    /// Near the epoch the sums are exact (integers below 2^53), so weir's `trend` is plain OLS:
    /// compare with the centred two-pass formula.
    #[test]
    fn trend_is_ols_on_small_times(evs in events_from(0, 60)) {
        let evs: Vec<Ev> = evs
            .into_iter()
            .map(|mut e| {
                e.t %= 200_000;
                e
            })
            .scan(0i64, |last, mut e| {
                // Keep times non-decreasing after the reduction.
                e.t = e.t.max(*last);
                *last = e.t;
                Some(e)
            })
            .collect();
        let ols = |pre: &[Ev]| -> Option<(f64, f64)> {
            let nums = numbers(pre);
            let n = nums.len() as f64;
            let tm = nums.iter().map(|p| p.0 as f64).sum::<f64>() / n;
            let xm = nums.iter().map(|p| p.1).sum::<f64>() / n;
            let sxx: f64 = nums.iter().map(|p| (p.0 as f64 - tm).powi(2)).sum();
            if nums.is_empty() || sxx == 0.0 {
                return None;
            }
            let sxy: f64 = nums.iter().map(|p| (p.0 as f64 - tm) * (p.1 - xm)).sum();
            let slope = sxy / sxx;
            let (t, x) = nums[nums.len() - 1];
            Some((slope, x - (xm + slope * (t as f64 - tm))))
        };
        let p = json!({"field": "j", "where": "w"});
        drive("trend", p.clone(), &evs, |pre, _, got| {
            expect(got, &f64_or_null(ols(pre).map(|o| o.0)), 1e-9)
        })?;
        drive("trend_residual", p, &evs, |pre, _, got| {
            // The intercept is large next to the residual: absolute tolerance.
            let want = ols(pre).map(|o| o.1);
            match (got, want) {
                (Value::Null, None) => Ok(()),
                (Value::F64(a), Some(b)) if (a - b).abs() <= 1e-6 => Ok(()),
                _ => Err(format!("got {got:?}, want {want:?}")),
            }
        })?;
    }

    #[test]
    fn distributions(
        evs in events(),
        bounds_mask in 0u8..64,
        mix_categories in prop::option::of(0u8..64),
        max_categories in prop::option::of(1usize..=4),
    ) {
        check_distributions(&evs, bounds_mask, mix_categories, max_categories)?;
    }

    #[test]
    fn geo(evs in events(), samples in prop::option::of(1usize..=5)) {
        check_geo(&evs, samples)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// `entropy` past its 1024-category cap: new categories are dropped (their values do not
    /// count in the total), already admitted ones keep counting.
    #[test]
    fn entropy_category_cap(
        distinct in 1020i64..1100,
        repeats in prop::collection::vec(0i64..1100, 0..200),
    ) {
        let mut agg = Agg::new("entropy", json!({"field": "i"}));
        let stream: Vec<i64> = (0..distinct).chain(repeats).collect();
        let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
        for (k, x) in stream.iter().enumerate() {
            agg.push(1_700_000_000_000 + k as i64, json!({"i": x}));
            if counts.contains_key(x) || counts.len() < 1024 {
                *counts.entry(*x).or_default() += 1;
            }
        }
        let total = counts.values().sum::<u64>() as f64;
        let h: f64 = counts
            .values()
            .map(|c| {
                let p = *c as f64 / total;
                -p * p.log2()
            })
            .sum();
        let got = agg.read_value(1_700_000_000_000 + stream.len() as i64);
        prop_assert!(close(&got, &Value::F64(h), 1e-9), "got {:?}, want {}", got, h);
    }
}
