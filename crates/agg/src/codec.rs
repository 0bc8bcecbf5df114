//! The binary codec of [`AggState`] (groundwork for snapshots): [`AggSpec::encode_state`] and
//! [`AggSpec::decode_state`].
//!
//! The format is written by hand, not derived: it changes only when someone edits this file,
//! and then [`STATE_FORMAT_VERSION`] goes up. Decoding treats input as hostile: every length is
//! checked against its structural cap *and* against the bytes actually present before anything
//! is allocated, nothing panics, and a decoded state upholds the invariants `apply`/`read` index
//! by (ring heads, bin counts, bucket spans), so it is safe to keep using. Encoding is
//! deterministic (the same state always gives the same bytes), and decoding accepts only the
//! canonical encoding of our own fields (no overlong varints, flags 0/1), so outside sketch
//! payloads `encode(decode(b)) == b`.
//!
//! # Layout
//!
//! One state:
//!
//! ```text
//! [u8 version = 1][u8 kind][varint payload_len][payload: payload_len bytes]
//! ```
//!
//! `kind` names the state variant as the spec's op uses it (table below); decoding checks it
//! against the variant the spec builds, so a state fed to the wrong aggregation is refused. `payload_len` makes every
//! state self-delimiting: the payload must be consumed exactly (trailing bytes inside a state
//! are `Invalid`), and `decode_state` returns `3 + ..` bytes consumed so states concatenate.
//! [`encoded_state_len`] skips a state without a spec.
//!
//! Primitives:
//! - `u8`: one byte. `flag`/`bool`: one byte, exactly 0 or 1.
//! - `varint`: unsigned LEB128, canonical (no redundant trailing 0x80/0x00 groups), ≤ 10 bytes.
//! - `zigzag`: an `i64` as the varint of `(v << 1) ^ (v >> 63)`.
//! - `f64`: the 8 IEEE-754 bytes, little-endian, any bit pattern (NaN payloads survive).
//! - `time`: a timestamp (ms) that may be `NEVER` (`i64::MIN`): the varint of
//!   `zigzag(t) + 1` (wrapping), so `NEVER` is the single byte `0x00`. A time other than `NEVER`
//!   must lie within ±[`TIME_ABS_MAX_MS`].
//! - `count`: a varint of events counted, ≤ [`EVENTS_MAX`].
//! - `str`: `[varint len ≤ STRING_BYTES_MAX][len bytes of UTF-8]`.
//! - `value` (tagged): `0x00` null · `0x01` i64 `[zigzag]` · `0x02` f64 `[f64]` · `0x03` false ·
//!   `0x04` true · `0x05` string `[str]` · `0x06` list `[varint n ≤ COLLECTION_LEN_MAX]
//!   [n × value]` · `0x07` object `[varint n ≤ COLLECTION_LEN_MAX][n × (str key, value)]`;
//!   containers nest at most `VALUE_DEPTH_MAX` deep.
//! - `scalar`: a `value` that is not null (lists/objects are a `json` field's nested value);
//!   `opt_scalar`: a `value` where null means "none".
//! - `welford`: `[count n][f64 mean][f64 m2]`.
//! - `boxed(X)`: `[flag present]` then `X` if present (the lazily allocated `Option<Box<..>>`).
//! - sketches: the `sketch` crate's own versioned `encode` (`DistinctCount`, `QuantileSketch`,
//!   `TopK<Scalar>` whose items are `scalar`s: i64, f64, bool or string).
//! - `buckets(B)`: `[varint n ≤ 64]` then, if n > 0, `[zigzag first_epoch][B]` and
//!   `(n − 1) × [varint gap_ms ≥ 1][B]`: epochs strictly increasing, multiples of the spec's
//!   `bucket_ms`, newest − oldest < `window_ms` (what `Buckets` maintains).
//! - `events(X)`: `[varint n ≤ 8]` then `n × [zigzag t][X]` in arrival order, each `t` within
//!   ±[`TIME_ABS_MAX_MS`], and every event's bucket epoch less than `window_ms` older than the
//!   newest epoch (what `Recent` maintains). `hash`: 8 bytes, little-endian.
//!
//! Payloads by kind (lifetime kinds 1–23, windowed kinds 32–43; 0 and the rest are invalid).
//! An aggregation whose fresh state is one of the few-events kinds 41–43 also accepts the
//! bucketed kind it grows into (and which builds before decision 0012 wrote from the start):
//!
//! | kind | state (ops) | payload |
//! |---|---|---|
//! | 1 | `Counter` (count, streak, negative_streak) | `[count]` |
//! | 2 | `Runs` (max_streak) | `[count current][count best]`, current ≤ best |
//! | 3 | `Ratio` | `[count matched][count total]`, matched ≤ total |
//! | 4 | `Sum` (sum, mean) | `[f64 sum][count n]` |
//! | 5 | `Moments` (var, std) | `boxed(welford)` |
//! | 6 | `Value` (min, max, first, last) | `[opt_scalar]` |
//! | 7 | `Time` (first_seen … first_seen_in_window) | `[time]` |
//! | 8 | `TimesRecent` (time_since_last_n) | `boxed([varint len ≤ n][varint next][len × time])` |
//! | 9 | `Decayed` (decayed_sum, decayed_count) | `[f64 value][time last]` |
//! | 10 | `Decayed` of `ewma`/`ema` | `[f64 mean][time last]` |
//! | 11 | `EwMoments` (ewvar, ew_zscore) | `boxed([f64 mean][f64 var][f64 last_x][time last])` |
//! | 12 | `Distinct` (n_unique) | `boxed(DistinctCount)` |
//! | 13 | `Quantile` | `boxed(QuantileSketch)` |
//! | 14 | `TopK` | `boxed(TopK<scalar>)`, its k = the spec's k |
//! | 15 | `Categories` (entropy) | `boxed(categories)` |
//! | 16 | `Counter` of `bloom_member` (0 or 1) | `[bool]` |
//! | 17 | `Burst` (burst_count) | `[time epoch][varint count][varint best]`, count ≤ best ≤ u32::MAX |
//! | 18 | `Ring` (first_n, last_n, most_recent_n, lag, reservoir_sample) | `boxed(ring)` |
//! | 19 | `Motion` (twa … z_score) | `boxed([u8 motion tag][motion])` |
//! | 20 | `Bins` (histogram, hour_of_day/dow_hour_histogram) | `boxed(bins)` |
//! | 21 | `Seasonal` (seasonal_deviation) | `boxed([varint hour mask < 2²⁴][welford per set bit, hour order][f64 last_x][u8 last_hour < 24])` |
//! | 22 | `Mix` (event_type_mix) | `boxed([count total][varint n][n × (str key, count ≥ 1)])` |
//! | 23 | `Geo` (geo_*, distance_from_home) | `boxed([u8 geo tag][geo])` |
//! | 32 | `CountW` | `buckets([count])` |
//! | 33 | `RatioW` | `buckets([count matched][count total])` |
//! | 34 | `SumW` | `buckets([f64 sum][count n])` |
//! | 35 | `MomentsW` | `buckets(welford)` |
//! | 36 | `ValueW` | `buckets([opt_scalar])` |
//! | 37 | `DistinctW` | `buckets(DistinctCount)` |
//! | 38 | `QuantileW` | `buckets(QuantileSketch)` |
//! | 39 | `TopKW` | `buckets(TopK<scalar>)` |
//! | 40 | `CategoriesW` | `buckets(categories)` |
//! | 41 | `FewWordsW` of `n_unique` | `events(hash)` |
//! | 42 | `FewWordsW` of `quantile` | `events(f64)`, finite |
//! | 43 | `FewItemsW` (top_k) | `events(scalar)`, not nested |
//!
//! - `categories`: `[varint n ≤ 1024][n × (scalar key, count ≥ 1)]`, keys distinct, counts
//!   summing to ≤ `EVENTS_MAX`.
//! - `ring`: `[varint len ≤ cap][varint head][count n_seen][varint rng][len × scalar]`, where
//!   cap is `n` (`lag`: `n + 1`); head < cap once full, else 0; `reservoir_sample`:
//!   len = min(n_seen, cap); other ops: n_seen = 0.
//! - `bins`: `[varint n_bins = the spec's][varint n_nonzero][n_nonzero × (varint index_gap,
//!   count ≥ 1)]` (sparse; the first gap is the index, later gaps ≥ 1).
//! - `motion` by tag (must be the one the op builds): 1 twa `[f64 last_x][time last][f64
//!   weighted][f64 span_ms]` · 2 change `[f64 last_x][time last][flag][f64 result if flag]` ·
//!   3 gaps `[time last][count n_gaps][f64 mean_gap_ms]` · 4 trend `[f64 n][f64 Σt][f64 Σx]
//!   [f64 Σtx][f64 Σtt][time last][f64 last_x]` · 5 outliers `[welford][count n_outliers]` ·
//!   6 changes `[opt_scalar last][count n_changes]` · 7 z_score `[welford][f64 last_x]`.
//! - `geo` by tag: 1 track `[flag][f64 lat, f64 lon, time t if flag][f64 max_kmh]
//!   [f64 total_km]` · 2 spread `[welford lat][welford lon]` (equal n) · 3 home
//!   `[varint len ≤ samples][varint head][len × (f64 lat, f64 lon)][f64 last_lat][f64 last_lon]`.
//!
//! Why the range checks on counts and times: later arithmetic on a decoded state must not
//! overflow (`n + 1`, a sum over 64 buckets × 1024 categories, `now − last`). No real state
//! comes near them: 2⁵⁶ events is 2,000 years at a million events a second, and ±2⁵³ ms is
//! ±285,000 years around 1970.

use crate::ops::buffer::Ring;
use crate::ops::count::RatioCounts;
use crate::ops::decay::{Decayed, EwMoments};
use crate::ops::distinct::{distinct_hash, Categories, ENTROPY_CATEGORIES_MAX};
use crate::ops::geo::Geo;
use crate::ops::histogram::{self, Mix, Seasonal, MIX_CATEGORIES_MAX};
use crate::ops::moments::{SumCount, Welford};
use crate::ops::recency::{RecentTimes, NEVER};
use crate::ops::streak::Runs;
use crate::ops::velocity::{Burst, Motion};
use crate::scalar::Scalar;
use crate::spec::{AggSpec, Op};
use crate::state::{AggState, State};
use crate::window::{Buckets, Recent, WindowSpec, RECENT_EVENTS_MAX};
use compact_str::CompactString;
use model::limits::{
    COLLECTION_LEN_MAX, OP_N_MAX, STRING_BYTES_MAX, VALUE_DEPTH_MAX, WINDOW_BUCKETS,
};
use model::{TimestampMs, Value};
use rustc_hash::FxHashSet;
use sketch::{DistinctCount, QuantileSketch, SketchError, TopK};
use std::fmt;

/// Version of the state encoding; the first byte of every encoded state.
pub const STATE_FORMAT_VERSION: u8 = 1;

/// Most events one decoded counter (or the sum of one state's per-category counts) may hold.
pub const EVENTS_MAX: u64 = 1 << 56;

/// Largest magnitude of a decoded timestamp other than `NEVER`, in ms.
pub const TIME_ABS_MAX_MS: i64 = 1 << 53;

/// Why `decode_state` refused its input. Decoding never panics; every malformed input maps here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateDecodeError {
    /// The input ended before the state was complete.
    Truncated,
    /// The leading version byte is not one this build reads.
    BadVersion(u8),
    /// The bytes are structurally wrong, or do not fit the spec; the message names the rule.
    Invalid(&'static str),
}

impl fmt::Display for StateDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateDecodeError::Truncated => write!(f, "aggregation state encoding is truncated"),
            StateDecodeError::BadVersion(v) => {
                write!(f, "unsupported aggregation state format version {v}")
            }
            StateDecodeError::Invalid(why) => write!(f, "invalid aggregation state: {why}"),
        }
    }
}

impl std::error::Error for StateDecodeError {}

type Result<T> = std::result::Result<T, StateDecodeError>;

fn invalid<T>(why: &'static str) -> Result<T> {
    Err(StateDecodeError::Invalid(why))
}

fn from_sketch(e: SketchError) -> StateDecodeError {
    match e {
        SketchError::Truncated => StateDecodeError::Truncated,
        SketchError::BadVersion(_) => StateDecodeError::Invalid("unsupported sketch version"),
        SketchError::Invalid(why) => StateDecodeError::Invalid(why),
    }
}

// ---- kinds ----

mod kind {
    pub const COUNTER: u8 = 1;
    pub const RUNS: u8 = 2;
    pub const RATIO: u8 = 3;
    pub const SUM: u8 = 4;
    pub const MOMENTS: u8 = 5;
    pub const VALUE: u8 = 6;
    pub const TIME: u8 = 7;
    pub const TIMES_RECENT: u8 = 8;
    pub const DECAYED: u8 = 9;
    pub const EWMA: u8 = 10;
    pub const EW_MOMENTS: u8 = 11;
    pub const DISTINCT: u8 = 12;
    pub const QUANTILE: u8 = 13;
    pub const TOP_K: u8 = 14;
    pub const CATEGORIES: u8 = 15;
    pub const FLAG: u8 = 16;
    pub const BURST: u8 = 17;
    pub const RING: u8 = 18;
    pub const MOTION: u8 = 19;
    pub const BINS: u8 = 20;
    pub const SEASONAL: u8 = 21;
    pub const MIX: u8 = 22;
    pub const GEO: u8 = 23;
    pub const COUNT_W: u8 = 32;
    pub const RATIO_W: u8 = 33;
    pub const SUM_W: u8 = 34;
    pub const MOMENTS_W: u8 = 35;
    pub const VALUE_W: u8 = 36;
    pub const DISTINCT_W: u8 = 37;
    pub const QUANTILE_W: u8 = 38;
    pub const TOP_K_W: u8 = 39;
    pub const CATEGORIES_W: u8 = 40;
    pub const DISTINCT_FEW: u8 = 41;
    pub const QUANTILE_FEW: u8 = 42;
    pub const TOP_K_FEW: u8 = 43;

    pub fn is_known(kind: u8) -> bool {
        (COUNTER..=GEO).contains(&kind) || (COUNT_W..=TOP_K_FEW).contains(&kind)
    }
}

/// The kind byte of `state` as built by `op` (a few variants serve more than one kind).
fn kind_of(op: &Op, state: &State) -> u8 {
    match state {
        State::Counter(_) if matches!(op, Op::BloomMember) => kind::FLAG,
        State::Counter(_) => kind::COUNTER,
        State::Runs(_) => kind::RUNS,
        State::Ratio(_) => kind::RATIO,
        State::Sum(_) => kind::SUM,
        State::Moments(_) => kind::MOMENTS,
        State::Value(_) => kind::VALUE,
        State::Time(_) => kind::TIME,
        State::TimesRecent(_) => kind::TIMES_RECENT,
        State::Decayed(_) if matches!(op, Op::Ewma { .. }) => kind::EWMA,
        State::Decayed(_) => kind::DECAYED,
        State::EwMoments(_) => kind::EW_MOMENTS,
        State::Distinct(_) => kind::DISTINCT,
        State::Quantile(_) => kind::QUANTILE,
        State::TopK(_) => kind::TOP_K,
        State::Categories(_) => kind::CATEGORIES,
        State::Burst(_) => kind::BURST,
        State::Ring(_) => kind::RING,
        State::Motion(_) => kind::MOTION,
        State::Bins(_) => kind::BINS,
        State::Seasonal(_) => kind::SEASONAL,
        State::Mix(_) => kind::MIX,
        State::Geo(_) => kind::GEO,
        State::CountW(_) => kind::COUNT_W,
        State::RatioW(_) => kind::RATIO_W,
        State::SumW(_) => kind::SUM_W,
        State::MomentsW(_) => kind::MOMENTS_W,
        State::ValueW(_) => kind::VALUE_W,
        State::DistinctW(_) => kind::DISTINCT_W,
        State::QuantileW(_) => kind::QUANTILE_W,
        State::TopKW(_) => kind::TOP_K_W,
        State::CategoriesW(_) => kind::CATEGORIES_W,
        State::FewWordsW(_) if matches!(op, Op::Quantile { .. }) => kind::QUANTILE_FEW,
        State::FewWordsW(_) => kind::DISTINCT_FEW,
        State::FewItemsW(_) => kind::TOP_K_FEW,
    }
}

/// The state variant to decode into: the spec's fresh state, or, for a few-events state, the
/// bucketed state it grows into when that is what was written.
fn decode_template(fresh: State, found: u8) -> State {
    match (fresh, found) {
        (State::FewWordsW(_), kind::DISTINCT_W) => State::DistinctW(Buckets::default()),
        (State::FewWordsW(_), kind::QUANTILE_W) => State::QuantileW(Buckets::default()),
        (State::FewItemsW(_), kind::TOP_K_W) => State::TopKW(Buckets::default()),
        (fresh, _) => fresh,
    }
}

const MOTION_TWA: u8 = 1;
const MOTION_CHANGE: u8 = 2;
const MOTION_GAPS: u8 = 3;
const MOTION_TREND: u8 = 4;
const MOTION_OUTLIERS: u8 = 5;
const MOTION_CHANGES: u8 = 6;
const MOTION_Z_SCORE: u8 = 7;

fn motion_tag(m: &Motion) -> u8 {
    match m {
        Motion::Twa { .. } => MOTION_TWA,
        Motion::Change { .. } => MOTION_CHANGE,
        Motion::Gaps { .. } => MOTION_GAPS,
        Motion::Trend { .. } => MOTION_TREND,
        Motion::Outliers { .. } => MOTION_OUTLIERS,
        Motion::Changes { .. } => MOTION_CHANGES,
        Motion::ZScore { .. } => MOTION_Z_SCORE,
    }
}

const GEO_TRACK: u8 = 1;
const GEO_SPREAD: u8 = 2;
const GEO_HOME: u8 = 3;

fn geo_tag(g: &Geo) -> u8 {
    match g {
        Geo::Track { .. } => GEO_TRACK,
        Geo::Spread { .. } => GEO_SPREAD,
        Geo::Home { .. } => GEO_HOME,
    }
}

const V_NULL: u8 = 0;
const V_I64: u8 = 1;
const V_F64: u8 = 2;
const V_FALSE: u8 = 3;
const V_TRUE: u8 = 4;
const V_STR: u8 = 5;
const V_LIST: u8 = 6;
const V_MAP: u8 = 7;

// ---- writing ----

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(raw: u64) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}

fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn put_bool(out: &mut Vec<u8>, v: bool) {
    out.push(u8::from(v));
}

fn put_time(out: &mut Vec<u8>, t: TimestampMs) {
    put_varint(out, zigzag(t).wrapping_add(1));
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(V_NULL),
        Value::I64(i) => {
            out.push(V_I64);
            put_zigzag(out, *i);
        }
        Value::F64(x) => {
            out.push(V_F64);
            put_f64(out, *x);
        }
        Value::Bool(false) => out.push(V_FALSE),
        Value::Bool(true) => out.push(V_TRUE),
        Value::Str(s) => {
            out.push(V_STR);
            put_str(out, s);
        }
        Value::List(items) => {
            out.push(V_LIST);
            put_varint(out, items.len() as u64);
            for item in items {
                put_value(out, item);
            }
        }
        Value::Map(entries) => {
            out.push(V_MAP);
            put_varint(out, entries.len() as u64);
            for (k, item) in entries {
                put_str(out, k);
                put_value(out, item);
            }
        }
    }
}

fn put_scalar(out: &mut Vec<u8>, s: &Scalar) {
    match s {
        Scalar::I64(i) => {
            out.push(V_I64);
            put_zigzag(out, *i);
        }
        Scalar::F64(x) => {
            out.push(V_F64);
            put_f64(out, *x);
        }
        Scalar::Bool(b) => out.push(if *b { V_TRUE } else { V_FALSE }),
        Scalar::Str(s) => {
            out.push(V_STR);
            put_str(out, s);
        }
        Scalar::Nested(v) => put_value(out, v),
    }
}

fn put_opt_scalar(out: &mut Vec<u8>, s: Option<&Scalar>) {
    match s {
        None => out.push(V_NULL),
        Some(s) => put_scalar(out, s),
    }
}

fn put_welford(out: &mut Vec<u8>, w: &Welford) {
    put_varint(out, w.n);
    put_f64(out, w.mean);
    put_f64(out, w.m2);
}

fn put_ratio(out: &mut Vec<u8>, r: &RatioCounts) {
    put_varint(out, r.matched);
    put_varint(out, r.total);
}

fn put_sum(out: &mut Vec<u8>, s: &SumCount) {
    put_f64(out, s.sum);
    put_varint(out, s.n);
}

fn put_boxed<T: ?Sized>(out: &mut Vec<u8>, b: Option<&T>, put: impl FnOnce(&mut Vec<u8>, &T)) {
    match b {
        None => put_bool(out, false),
        Some(inner) => {
            put_bool(out, true);
            put(out, inner);
        }
    }
}

fn put_top_k(out: &mut Vec<u8>, t: &TopK<Scalar>) {
    t.encode(out, |item, out| put_scalar(out, item));
}

fn put_categories(out: &mut Vec<u8>, c: &Categories) {
    put_varint(out, c.counts.len() as u64);
    for (key, n) in &c.counts {
        put_scalar(out, key);
        put_varint(out, *n);
    }
}

fn put_recent(out: &mut Vec<u8>, r: &RecentTimes) {
    put_varint(out, r.times.len() as u64);
    put_varint(out, u64::from(r.next));
    for &t in &r.times {
        put_time(out, t);
    }
}

fn put_ring(out: &mut Vec<u8>, r: &Ring) {
    put_varint(out, r.items.len() as u64);
    put_varint(out, u64::from(r.head));
    put_varint(out, r.n_seen);
    put_varint(out, r.rng);
    for item in &r.items {
        put_scalar(out, item);
    }
}

fn put_motion(out: &mut Vec<u8>, m: &Motion) {
    out.push(motion_tag(m));
    match m {
        Motion::Twa {
            last_x,
            last_ms,
            weighted,
            span_ms,
        } => {
            put_f64(out, *last_x);
            put_time(out, *last_ms);
            put_f64(out, *weighted);
            put_f64(out, *span_ms);
        }
        Motion::Change {
            last_x,
            last_ms,
            result,
        } => {
            put_f64(out, *last_x);
            put_time(out, *last_ms);
            put_boxed(out, result.as_ref(), |out, r| put_f64(out, *r));
        }
        Motion::Gaps {
            last_ms,
            n_gaps,
            mean_gap_ms,
        } => {
            put_time(out, *last_ms);
            put_varint(out, *n_gaps);
            put_f64(out, *mean_gap_ms);
        }
        Motion::Trend {
            n,
            sum_t,
            sum_x,
            sum_tx,
            sum_tt,
            last_ms,
            last_x,
        } => {
            for x in [n, sum_t, sum_x, sum_tx, sum_tt] {
                put_f64(out, *x);
            }
            put_time(out, *last_ms);
            put_f64(out, *last_x);
        }
        Motion::Outliers { stats, n_outliers } => {
            put_welford(out, stats);
            put_varint(out, *n_outliers);
        }
        Motion::Changes { last, n_changes } => {
            put_opt_scalar(out, last.as_ref());
            put_varint(out, *n_changes);
        }
        Motion::ZScore { stats, last_x } => {
            put_welford(out, stats);
            put_f64(out, *last_x);
        }
    }
}

/// Non-zero bins as `(index gap, count)` pairs.
fn put_bins(out: &mut Vec<u8>, counts: &[u64]) {
    put_varint(out, counts.len() as u64);
    put_varint(out, counts.iter().filter(|&&n| n != 0).count() as u64);
    let mut prev: Option<usize> = None;
    for (idx, &n) in counts.iter().enumerate() {
        if n != 0 {
            put_varint(out, (idx - prev.map_or(0, |p| p)) as u64);
            put_varint(out, n);
            prev = Some(idx);
        }
    }
}

fn is_default_welford(w: &Welford) -> bool {
    w.n == 0 && w.mean.to_bits() == 0 && w.m2.to_bits() == 0
}

fn put_seasonal(out: &mut Vec<u8>, s: &Seasonal) {
    let mask = s
        .hours
        .iter()
        .enumerate()
        .filter(|(_, w)| !is_default_welford(w))
        .fold(0u64, |mask, (h, _)| mask | (1 << h));
    put_varint(out, mask);
    for w in s.hours.iter().filter(|w| !is_default_welford(w)) {
        put_welford(out, w);
    }
    put_f64(out, s.last_x);
    out.push(s.last_hour);
}

fn put_mix(out: &mut Vec<u8>, m: &Mix) {
    put_varint(out, m.total);
    put_varint(out, m.counts.len() as u64);
    for (key, n) in &m.counts {
        put_str(out, key);
        put_varint(out, *n);
    }
}

fn put_geo(out: &mut Vec<u8>, g: &Geo) {
    out.push(geo_tag(g));
    match g {
        Geo::Track {
            last,
            max_kmh,
            total_km,
        } => {
            put_boxed(out, last.as_ref(), |out, (lat, lon, t)| {
                put_f64(out, *lat);
                put_f64(out, *lon);
                put_time(out, *t);
            });
            put_f64(out, *max_kmh);
            put_f64(out, *total_km);
        }
        Geo::Spread { lat, lon } => {
            put_welford(out, lat);
            put_welford(out, lon);
        }
        Geo::Home { points, head, last } => {
            put_varint(out, points.len() as u64);
            put_varint(out, u64::from(*head));
            for (lat, lon) in points {
                put_f64(out, *lat);
                put_f64(out, *lon);
            }
            put_f64(out, last.0);
            put_f64(out, last.1);
        }
    }
}

fn put_events<I>(out: &mut Vec<u8>, r: &Recent<I>, put: impl Fn(&mut Vec<u8>, &I)) {
    put_varint(out, r.events().len() as u64);
    for (t, input) in r.events() {
        put_zigzag(out, *t);
        put(out, input);
    }
}

fn put_buckets<T>(out: &mut Vec<u8>, b: &Buckets<T>, put: impl Fn(&mut Vec<u8>, &T)) {
    let slots = b.slots();
    put_varint(out, slots.len() as u64);
    let mut prev: Option<TimestampMs> = None;
    for (epoch, state) in slots {
        match prev {
            None => put_zigzag(out, *epoch),
            Some(p) => put_varint(out, epoch.wrapping_sub(p) as u64),
        }
        put(out, state);
        prev = Some(*epoch);
    }
}

fn encode_payload(state: &State, out: &mut Vec<u8>) {
    match state {
        // A `bloom_member` counter is 0 or 1: its varint is the `[bool]` byte.
        State::Counter(n) => put_varint(out, *n),
        State::Runs(r) => {
            put_varint(out, r.current);
            put_varint(out, r.best);
        }
        State::Ratio(r) => put_ratio(out, r),
        State::Sum(s) => put_sum(out, s),
        State::Moments(m) => put_boxed(out, m.as_deref(), put_welford),
        State::Value(v) => put_opt_scalar(out, v.as_ref()),
        State::Time(t) => put_time(out, *t),
        State::TimesRecent(r) => put_boxed(out, r.as_deref(), put_recent),
        State::Decayed(d) => {
            put_f64(out, d.value);
            put_time(out, d.last_ms);
        }
        State::EwMoments(m) => put_boxed(out, m.as_deref(), |out, m| {
            put_f64(out, m.mean);
            put_f64(out, m.var);
            put_f64(out, m.last_x);
            put_time(out, m.last_ms);
        }),
        State::Distinct(d) => put_boxed(out, d.as_deref(), |out, d| d.encode(out)),
        State::Quantile(q) => put_boxed(out, q.as_deref(), |out, q| q.encode(out)),
        State::TopK(t) => put_boxed(out, t.as_deref(), put_top_k),
        State::Categories(c) => put_boxed(out, c.as_deref(), put_categories),
        State::Burst(b) => {
            put_time(out, b.epoch);
            put_varint(out, u64::from(b.count));
            put_varint(out, u64::from(b.best));
        }
        State::Ring(r) => put_boxed(out, r.as_deref(), put_ring),
        State::Motion(m) => put_boxed(out, m.as_deref(), put_motion),
        State::Bins(b) => put_boxed(out, b.as_deref(), put_bins),
        State::Seasonal(s) => put_boxed(out, s.as_deref(), put_seasonal),
        State::Mix(m) => put_boxed(out, m.as_deref(), put_mix),
        State::Geo(g) => put_boxed(out, g.as_deref(), put_geo),
        State::CountW(b) => put_buckets(out, b, |out, n| put_varint(out, *n)),
        State::RatioW(b) => put_buckets(out, b, put_ratio),
        State::SumW(b) => put_buckets(out, b, put_sum),
        State::MomentsW(b) => put_buckets(out, b, put_welford),
        State::ValueW(b) => put_buckets(out, b, |out, v| put_opt_scalar(out, v.as_ref())),
        State::DistinctW(b) => put_buckets(out, b, |out, d| d.encode(out)),
        State::QuantileW(b) => put_buckets(out, b, |out, q| q.encode(out)),
        State::TopKW(b) => put_buckets(out, b, put_top_k),
        State::CategoriesW(b) => put_buckets(out, b, put_categories),
        // A hash, or a quantile value's IEEE bits: the same 8 bytes as its `f64`.
        State::FewWordsW(r) => put_events(out, r, |out, word| {
            out.extend_from_slice(&word.to_le_bytes())
        }),
        State::FewItemsW(r) => put_events(out, r, put_scalar),
    }
}

// ---- reading ----

/// Longest LEB128 encoding of a `u64`.
const VARINT_BYTES_MAX: usize = 10;

/// Bounds-checked cursor over untrusted bytes; every read is a `Result`, none panics.
struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Reader { input, pos: 0 }
    }

    fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or(&[])
    }

    fn u8(&mut self) -> Result<u8> {
        let byte = *self
            .input
            .get(self.pos)
            .ok_or(StateDecodeError::Truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    fn bytes(&mut self, len: usize) -> Result<&'a [u8]> {
        let rest = self.rest();
        if rest.len() < len {
            return Err(StateDecodeError::Truncated);
        }
        self.pos += len;
        Ok(&rest[..len])
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for idx in 0..VARINT_BYTES_MAX {
            let byte = self.u8()?;
            let payload = u64::from(byte & 0x7F);
            if idx == VARINT_BYTES_MAX - 1 && payload > 1 {
                return invalid("varint overflows u64");
            }
            value |= payload << (7 * idx);
            if byte & 0x80 == 0 {
                // Canonical: a final group of 0 after the first means a redundant byte.
                if idx > 0 && byte == 0 {
                    return invalid("overlong varint");
                }
                return Ok(value);
            }
        }
        invalid("varint overflows u64")
    }

    fn varint_max(&mut self, max: u64, why: &'static str) -> Result<u64> {
        let v = self.varint()?;
        if v > max {
            return invalid(why);
        }
        Ok(v)
    }

    /// A collection length: at most `max`, and `len × min_item_bytes` bytes must still be
    /// present, so a hostile length never drives an allocation.
    fn len(&mut self, max: usize, min_item_bytes: usize, why: &'static str) -> Result<usize> {
        let n = self.varint_max(max as u64, why)? as usize;
        if self.rest().len() < n.saturating_mul(min_item_bytes) {
            return Err(StateDecodeError::Truncated);
        }
        Ok(n)
    }

    fn count(&mut self) -> Result<u64> {
        self.varint_max(EVENTS_MAX, "count exceeds EVENTS_MAX")
    }

    fn zigzag(&mut self) -> Result<i64> {
        self.varint().map(unzigzag)
    }

    fn f64(&mut self) -> Result<f64> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.bytes(8)?);
        Ok(f64::from_bits(u64::from_le_bytes(buf)))
    }

    fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => invalid("flag is not 0 or 1"),
        }
    }

    fn time(&mut self) -> Result<TimestampMs> {
        let t = unzigzag(self.varint()?.wrapping_sub(1));
        if t != NEVER && !(-TIME_ABS_MAX_MS..=TIME_ABS_MAX_MS).contains(&t) {
            return invalid("timestamp out of range");
        }
        Ok(t)
    }

    fn str(&mut self) -> Result<CompactString> {
        let len = self.varint_max(STRING_BYTES_MAX as u64, "string too long")? as usize;
        let bytes = self.bytes(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(CompactString::from(s)),
            Err(_) => invalid("string is not UTF-8"),
        }
    }

    /// A tagged value; `depth` is the nesting level of the container being read.
    fn value(&mut self, depth: usize) -> Result<Value> {
        Ok(match self.u8()? {
            V_NULL => Value::Null,
            V_I64 => Value::I64(self.zigzag()?),
            V_F64 => Value::F64(self.f64()?),
            V_FALSE => Value::Bool(false),
            V_TRUE => Value::Bool(true),
            V_STR => Value::Str(self.str()?),
            tag @ (V_LIST | V_MAP) => {
                if depth >= VALUE_DEPTH_MAX {
                    return invalid("value nested too deep");
                }
                if tag == V_LIST {
                    let n = self.len(COLLECTION_LEN_MAX, 1, "list too long")?;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.value(depth + 1)?);
                    }
                    Value::List(items)
                } else {
                    let n = self.len(COLLECTION_LEN_MAX, 2, "object too large")?;
                    let mut entries = Vec::with_capacity(n);
                    for _ in 0..n {
                        let key = self.str()?;
                        entries.push((key, self.value(depth + 1)?));
                    }
                    Value::Map(entries)
                }
            }
            _ => return invalid("unknown value tag"),
        })
    }

    fn opt_scalar(&mut self) -> Result<Option<Scalar>> {
        Ok(match self.value(0)? {
            Value::Null => None,
            Value::I64(i) => Some(Scalar::I64(i)),
            Value::F64(x) => Some(Scalar::F64(x)),
            Value::Bool(b) => Some(Scalar::Bool(b)),
            Value::Str(s) => Some(Scalar::Str(s)),
            nested @ (Value::List(_) | Value::Map(_)) => Some(Scalar::Nested(Box::new(nested))),
        })
    }

    fn scalar(&mut self) -> Result<Scalar> {
        self.opt_scalar()?
            .map_or_else(|| invalid("null where a value is required"), Ok)
    }

    fn welford(&mut self) -> Result<Welford> {
        Ok(Welford {
            n: self.count()?,
            mean: self.f64()?,
            m2: self.f64()?,
        })
    }

    fn ratio(&mut self) -> Result<RatioCounts> {
        let matched = self.count()?;
        let total = self.count()?;
        if matched > total {
            return invalid("ratio matched exceeds total");
        }
        Ok(RatioCounts { matched, total })
    }

    fn sum(&mut self) -> Result<SumCount> {
        Ok(SumCount {
            sum: self.f64()?,
            n: self.count()?,
        })
    }

    fn boxed<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<Box<T>>> {
        Ok(if self.bool()? {
            Some(Box::new(read(self)?))
        } else {
            None
        })
    }

    /// Runs a `sketch` crate decoder on the rest of the payload and advances past its bytes.
    fn sketch<T>(
        &mut self,
        decode: impl FnOnce(&[u8]) -> std::result::Result<(T, usize), SketchError>,
    ) -> Result<T> {
        let rest = self.rest();
        let (value, used) = decode(rest).map_err(from_sketch)?;
        if used > rest.len() {
            return invalid("sketch decoder overran its input");
        }
        self.pos += used;
        Ok(value)
    }

    fn finish(&self) -> Result<()> {
        if self.pos == self.input.len() {
            Ok(())
        } else {
            invalid("trailing bytes inside the state")
        }
    }
}

/// A `top_k` item: the scalars `top_k::key_of` admits (never null or nested).
fn decode_top_k_item(input: &[u8]) -> std::result::Result<(Scalar, usize), SketchError> {
    let mut r = Reader::new(input);
    let item = r.scalar().map_err(|e| match e {
        StateDecodeError::Truncated => SketchError::Truncated,
        StateDecodeError::Invalid(why) => SketchError::Invalid(why),
        StateDecodeError::BadVersion(_) => SketchError::Invalid("bad item"),
    })?;
    if matches!(item, Scalar::Nested(_)) {
        return Err(SketchError::Invalid("top_k item is a nested value"));
    }
    Ok((item, r.pos))
}

/// Hash for duplicate detection only (collisions just cost a comparison).
fn scalar_hash(s: &Scalar) -> u64 {
    match s {
        Scalar::Str(x) => sketch::hash_bytes(x.as_bytes()),
        Scalar::I64(i) => distinct_hash(&Value::I64(*i)).unwrap_or(0),
        Scalar::F64(x) => distinct_hash(&Value::F64(*x)).unwrap_or(0),
        Scalar::Bool(b) => distinct_hash(&Value::Bool(*b)).unwrap_or(0),
        Scalar::Nested(v) => distinct_hash(v).unwrap_or(0),
    }
}

/// Whether two items are equal, in O(n log n) plus comparisons within equal-hash runs.
fn has_duplicates<T: PartialEq>(items: &[T], hash: impl Fn(&T) -> u64) -> bool {
    let mut by_hash: Vec<(u64, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (hash(item), i))
        .collect();
    by_hash.sort_unstable();
    by_hash.iter().enumerate().any(|(pos, &(h, i))| {
        by_hash[pos + 1..]
            .iter()
            .take_while(|(other_h, _)| *other_h == h)
            .any(|&(_, j)| items[i] == items[j])
    })
}

fn decode_categories(r: &mut Reader) -> Result<Categories> {
    // Each entry is at least a 1-byte key and a 1-byte count.
    let n = r.len(ENTROPY_CATEGORIES_MAX, 2, "too many entropy categories")?;
    let mut counts = Vec::with_capacity(n);
    let mut total = 0u64;
    for _ in 0..n {
        let key = r.scalar()?;
        let count = r.count()?;
        if count == 0 {
            return invalid("entropy category count is zero");
        }
        total = total.saturating_add(count);
        counts.push((key, count));
    }
    if total > EVENTS_MAX {
        return invalid("entropy counts exceed EVENTS_MAX");
    }
    if has_duplicates(&counts, |(k, _)| scalar_hash(k)) {
        // Only keys matter: equal keys with different counts are still duplicates.
        return invalid("entropy category appears twice");
    }
    Ok(Categories { counts })
}

/// The `head` of a ring of capacity `cap` holding `len` items: 0 until full, then `< cap`.
fn check_head(head: u64, len: usize, cap: usize) -> Result<u32> {
    let ok = if len == cap && cap > 0 {
        head < cap as u64
    } else {
        head == 0
    };
    if !ok {
        return invalid("ring head out of range");
    }
    Ok(head as u32)
}

impl AggSpec {
    /// Appends the state's encoding (self-delimiting) to `out`. Deterministic: the same state
    /// always encodes to the same bytes. The layout is documented in `codec.rs`.
    pub fn encode_state(&self, state: &AggState, out: &mut Vec<u8>) {
        let kind = kind_of(&self.op, &state.0);
        debug_assert_eq!(
            kind,
            kind_of(&self.op, &decode_template(self.new_state().0, kind)),
            "encoding a state with a spec that did not build it"
        );
        out.push(STATE_FORMAT_VERSION);
        out.push(kind);
        // One length byte is reserved; payloads of 128 bytes or more move over for the rest.
        let len_at = out.len();
        out.push(0);
        encode_payload(&state.0, out);
        let payload_len = out.len() - len_at - 1;
        if payload_len < 0x80 {
            out[len_at] = payload_len as u8;
        } else {
            let mut prefix = [0u8; VARINT_BYTES_MAX];
            let mut n = 0;
            let mut v = payload_len as u64;
            while v >= 0x80 {
                prefix[n] = (v as u8) | 0x80;
                v >>= 7;
                n += 1;
            }
            prefix[n] = v as u8;
            out.splice(len_at..=len_at, prefix[..=n].iter().copied());
        }
    }

    /// Decodes one state encoded by `encode_state` for a spec of the same op/params; returns
    /// the state and the bytes consumed (bytes after it are left alone). Never panics; the
    /// state it returns is safe to `apply` to and `read`.
    pub fn decode_state(&self, input: &[u8]) -> Result<(AggState, usize)> {
        let mut r = Reader::new(input);
        let version = r.u8()?;
        if version != STATE_FORMAT_VERSION {
            return Err(StateDecodeError::BadVersion(version));
        }
        let found = r.u8()?;
        let expected = decode_template(self.new_state().0, found);
        if !kind::is_known(found) {
            return invalid("unknown state kind");
        }
        if found != kind_of(&self.op, &expected) {
            return invalid("state kind does not match the aggregation");
        }
        let payload_len = usize::try_from(r.varint()?).unwrap_or(usize::MAX);
        let mut payload = Reader::new(r.bytes(payload_len)?);
        let state = self.decode_payload(expected, &mut payload)?;
        payload.finish()?;
        Ok((AggState(state), r.pos))
    }

    /// `expected` is the fresh state of this spec: its variant says what to read.
    fn decode_payload(&self, expected: State, r: &mut Reader) -> Result<State> {
        Ok(match expected {
            State::Counter(_) if matches!(self.op, Op::BloomMember) => {
                State::Counter(u64::from(r.bool()?))
            }
            State::Counter(_) => State::Counter(r.count()?),
            State::Runs(_) => {
                let current = r.count()?;
                let best = r.count()?;
                if current > best {
                    return invalid("streak current exceeds best");
                }
                State::Runs(Runs { current, best })
            }
            State::Ratio(_) => State::Ratio(r.ratio()?),
            State::Sum(_) => State::Sum(r.sum()?),
            State::Moments(_) => State::Moments(r.boxed(Reader::welford)?),
            State::Value(_) => State::Value(r.opt_scalar()?),
            State::Time(_) => State::Time(r.time()?),
            State::TimesRecent(_) => {
                let Op::TimeSinceLastN { n } = self.op else {
                    return invalid("state kind does not match the aggregation");
                };
                State::TimesRecent(r.boxed(|r| {
                    let len = r.len(n.min(OP_N_MAX), 1, "more times than n")?;
                    let next = r.varint()?;
                    let next = check_head(next, len, n)?;
                    let mut times = Vec::with_capacity(len);
                    for _ in 0..len {
                        times.push(r.time()?);
                    }
                    Ok(RecentTimes { times, next })
                })?)
            }
            State::Decayed(_) => State::Decayed(Decayed {
                value: r.f64()?,
                last_ms: r.time()?,
            }),
            State::EwMoments(_) => State::EwMoments(r.boxed(|r| {
                Ok(EwMoments {
                    mean: r.f64()?,
                    var: r.f64()?,
                    last_x: r.f64()?,
                    last_ms: r.time()?,
                })
            })?),
            State::Distinct(_) => State::Distinct(r.boxed(|r| r.sketch(DistinctCount::decode))?),
            State::Quantile(_) => State::Quantile(r.boxed(|r| r.sketch(QuantileSketch::decode))?),
            State::TopK(_) => State::TopK(r.boxed(|r| self.decode_top_k(r))?),
            State::Categories(_) => State::Categories(r.boxed(decode_categories)?),
            State::Burst(_) => {
                let epoch = r.time()?;
                let count = r.varint_max(u64::from(u32::MAX), "burst count exceeds u32")?;
                let best = r.varint_max(u64::from(u32::MAX), "burst best exceeds u32")?;
                if count > best {
                    return invalid("burst count exceeds best");
                }
                State::Burst(Burst {
                    epoch,
                    count: count as u32,
                    best: best as u32,
                })
            }
            State::Ring(_) => State::Ring(r.boxed(|r| self.decode_ring(r))?),
            State::Motion(_) => State::Motion(r.boxed(|r| self.decode_motion(r))?),
            State::Bins(_) => State::Bins(r.boxed(|r| self.decode_bins(r))?.map(|b| *b)),
            State::Seasonal(_) => State::Seasonal(r.boxed(decode_seasonal)?),
            State::Mix(_) => State::Mix(r.boxed(|r| self.decode_mix(r))?),
            State::Geo(_) => State::Geo(r.boxed(|r| self.decode_geo(r))?),
            State::CountW(_) => State::CountW(self.decode_buckets(r, Reader::count)?),
            State::RatioW(_) => State::RatioW(self.decode_buckets(r, Reader::ratio)?),
            State::SumW(_) => State::SumW(self.decode_buckets(r, Reader::sum)?),
            State::MomentsW(_) => State::MomentsW(self.decode_buckets(r, Reader::welford)?),
            State::ValueW(_) => State::ValueW(self.decode_buckets(r, Reader::opt_scalar)?),
            State::DistinctW(_) => {
                State::DistinctW(self.decode_buckets(r, |r| r.sketch(DistinctCount::decode))?)
            }
            State::QuantileW(_) => {
                State::QuantileW(self.decode_buckets(r, |r| r.sketch(QuantileSketch::decode))?)
            }
            State::TopKW(_) => State::TopKW(self.decode_buckets(r, |r| self.decode_top_k(r))?),
            State::CategoriesW(_) => State::CategoriesW(self.decode_buckets(r, decode_categories)?),
            State::FewWordsW(_) => {
                let quantile = matches!(self.op, Op::Quantile { .. });
                State::FewWordsW(self.decode_events(r, |r| {
                    let x = r.f64()?;
                    if quantile && !x.is_finite() {
                        return invalid("quantile value is not finite");
                    }
                    Ok(x.to_bits())
                })?)
            }
            State::FewItemsW(_) => State::FewItemsW(self.decode_events(r, |r| {
                let item = r.scalar()?;
                if matches!(item, Scalar::Nested(_)) {
                    return invalid("top_k item is a nested value");
                }
                Ok(item)
            })?),
        })
    }

    fn decode_top_k(&self, r: &mut Reader) -> Result<TopK<Scalar>> {
        let top = r.sketch(|input| TopK::decode(input, decode_top_k_item))?;
        match self.op {
            Op::TopK { k } if top.k() == k => Ok(top),
            _ => invalid("top_k k does not match the aggregation"),
        }
    }

    fn decode_ring(&self, r: &mut Reader) -> Result<Ring> {
        let (cap, reservoir) = match self.op {
            Op::FirstN { n } | Op::LastN { n } => (n, false),
            Op::Lag { n } => (n.saturating_add(1), false),
            Op::ReservoirSample { n } => (n, true),
            _ => return invalid("state kind does not match the aggregation"),
        };
        // Each item is at least one byte.
        let len = r.len(
            cap.min(OP_N_MAX + 1),
            1,
            "more values than the buffer holds",
        )?;
        let head = check_head(r.varint()?, len, cap)?;
        let n_seen = r.count()?;
        let rng = r.varint()?;
        let consistent = if reservoir {
            n_seen.min(cap as u64) == len as u64
        } else {
            n_seen == 0
        };
        if !consistent {
            return invalid("buffer sample count inconsistent");
        }
        // Checked above: `len` bytes remain.
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(r.scalar()?);
        }
        Ok(Ring {
            items,
            head,
            n_seen,
            rng,
        })
    }

    fn decode_motion(&self, r: &mut Reader) -> Result<Motion> {
        let tag = r.u8()?;
        if tag != motion_tag(&self.new_motion()) {
            return invalid("motion variant does not match the aggregation");
        }
        Ok(match tag {
            MOTION_TWA => Motion::Twa {
                last_x: r.f64()?,
                last_ms: r.time()?,
                weighted: r.f64()?,
                span_ms: r.f64()?,
            },
            MOTION_CHANGE => Motion::Change {
                last_x: r.f64()?,
                last_ms: r.time()?,
                result: r.boxed(Reader::f64)?.map(|b| *b),
            },
            MOTION_GAPS => Motion::Gaps {
                last_ms: r.time()?,
                n_gaps: r.count()?,
                mean_gap_ms: r.f64()?,
            },
            MOTION_TREND => Motion::Trend {
                n: r.f64()?,
                sum_t: r.f64()?,
                sum_x: r.f64()?,
                sum_tx: r.f64()?,
                sum_tt: r.f64()?,
                last_ms: r.time()?,
                last_x: r.f64()?,
            },
            MOTION_OUTLIERS => {
                let stats = r.welford()?;
                let n_outliers = r.count()?;
                if n_outliers > stats.n {
                    return invalid("more outliers than values");
                }
                Motion::Outliers { stats, n_outliers }
            }
            MOTION_CHANGES => Motion::Changes {
                last: r.opt_scalar()?,
                n_changes: r.count()?,
            },
            MOTION_Z_SCORE => Motion::ZScore {
                stats: r.welford()?,
                last_x: r.f64()?,
            },
            _ => return invalid("unknown motion variant"),
        })
    }

    fn decode_bins(&self, r: &mut Reader) -> Result<Box<[u64]>> {
        let expected = match &self.op {
            Op::Histogram(layout) => layout.n_bins(),
            Op::HourOfDayHistogram => histogram::HOURS,
            Op::DowHourHistogram => histogram::WEEK_HOURS,
            _ => return invalid("state kind does not match the aggregation"),
        };
        if r.varint()? != expected as u64 {
            return invalid("bin count does not match the aggregation");
        }
        let n_nonzero = r.len(expected, 2, "more non-zero bins than bins")?;
        let mut counts = histogram::new_counts(expected);
        let mut total = 0u64;
        let mut prev: Option<usize> = None;
        for _ in 0..n_nonzero {
            let gap = r.varint_max(expected as u64, "bin index out of range")? as usize;
            let idx = match prev {
                None => gap,
                Some(_) if gap == 0 => return invalid("bins not strictly increasing"),
                Some(p) => p + gap,
            };
            let count = r.count()?;
            if count == 0 {
                return invalid("sparse bin count is zero");
            }
            let Some(slot) = counts.get_mut(idx) else {
                return invalid("bin index out of range");
            };
            *slot = count;
            total = total.saturating_add(count);
            prev = Some(idx);
        }
        if total > EVENTS_MAX {
            return invalid("bin counts exceed EVENTS_MAX");
        }
        Ok(counts)
    }

    fn decode_mix(&self, r: &mut Reader) -> Result<Mix> {
        let Op::EventTypeMix(spec) = &self.op else {
            return invalid("state kind does not match the aggregation");
        };
        // An explicit `categories` list admits each of its keys, however long it is (no 1024
        // cap: `Mix::add` has none); otherwise `max_categories` (≤ 1024) keys are admitted.
        let limit = match &spec.categories {
            Some(list) => list.len(),
            None => spec.max_categories.min(MIX_CATEGORIES_MAX),
        };
        let total = r.count()?;
        // Each entry is at least a 1-byte key length and a 1-byte count.
        let n = r.len(limit, 2, "too many mix categories")?;
        // Long lists are indexed so a hostile state cannot make this quadratic.
        let index: Option<FxHashSet<&str>> = match &spec.categories {
            Some(list) if n > 0 && list.len() > 16 => {
                Some(list.iter().map(CompactString::as_str).collect())
            }
            _ => None,
        };
        let mut counts = Vec::with_capacity(n);
        let mut sum = 0u64;
        for _ in 0..n {
            let key = r.str()?;
            let admitted = match (&index, &spec.categories) {
                (Some(index), _) => index.contains(key.as_str()),
                (None, Some(list)) => list.contains(&key),
                (None, None) => true,
            };
            if !admitted {
                return invalid("mix category not in the aggregation's categories");
            }
            let count = r.count()?;
            if count == 0 {
                return invalid("mix category count is zero");
            }
            sum = sum.saturating_add(count);
            counts.push((key, count));
        }
        if sum > total {
            return invalid("mix category counts exceed the total");
        }
        if has_duplicates(&counts, |(k, _)| sketch::hash_bytes(k.as_bytes())) {
            return invalid("mix category appears twice");
        }
        Ok(Mix { counts, total })
    }

    fn decode_geo(&self, r: &mut Reader) -> Result<Geo> {
        let tag = r.u8()?;
        if tag != geo_tag(&self.new_geo()) {
            return invalid("geo variant does not match the aggregation");
        }
        Ok(match tag {
            GEO_TRACK => Geo::Track {
                last: r
                    .boxed(|r| Ok((r.f64()?, r.f64()?, r.time()?)))?
                    .map(|b| *b),
                max_kmh: r.f64()?,
                total_km: r.f64()?,
            },
            GEO_SPREAD => {
                let lat = r.welford()?;
                let lon = r.welford()?;
                if lat.n != lon.n {
                    return invalid("geo spread latitude and longitude counts differ");
                }
                Geo::Spread { lat, lon }
            }
            GEO_HOME => {
                let samples = match self.op {
                    Op::DistanceFromHome { samples } => samples,
                    _ => return invalid("state kind does not match the aggregation"),
                };
                let len = r.len(samples.min(OP_N_MAX), 16, "more points than samples")?;
                let head = check_head(r.varint()?, len, samples)?;
                let mut points = Vec::with_capacity(len);
                for _ in 0..len {
                    points.push((r.f64()?, r.f64()?));
                }
                Geo::Home {
                    points,
                    head,
                    last: (r.f64()?, r.f64()?),
                }
            }
            _ => return invalid("unknown geo variant"),
        })
    }

    fn decode_buckets<'a, T>(
        &self,
        r: &mut Reader<'a>,
        read: impl Fn(&mut Reader<'a>) -> Result<T>,
    ) -> Result<Buckets<T>> {
        let Some(w) = self.window else {
            return invalid("state kind does not match the aggregation");
        };
        let n = r.len(WINDOW_BUCKETS, 2, "more than 64 window buckets")?;
        let mut slots: Vec<(TimestampMs, T)> = Vec::with_capacity(n);
        for idx in 0..n {
            let epoch = if idx == 0 {
                r.zigzag()?
            } else {
                let gap = r.varint()?;
                if gap == 0 {
                    return invalid("bucket epochs not strictly increasing");
                }
                let prev = slots.last().map_or(0, |s| s.0);
                match i64::try_from(gap).ok().and_then(|g| prev.checked_add(g)) {
                    Some(e) => e,
                    None => return invalid("bucket epoch out of range"),
                }
            };
            check_epoch(&w, epoch, slots.first().map(|s| s.0))?;
            slots.push((epoch, read(r)?));
        }
        Ok(Buckets::from_slots(slots.into_boxed_slice()))
    }

    fn decode_events<'a, I>(
        &self,
        r: &mut Reader<'a>,
        read: impl Fn(&mut Reader<'a>) -> Result<I>,
    ) -> Result<Recent<I>> {
        let Some(w) = self.window else {
            return invalid("state kind does not match the aggregation");
        };
        // Each event is at least a one-byte time and a one-byte input.
        let n = r.len(
            RECENT_EVENTS_MAX,
            2,
            "more events than a few-events state keeps",
        )?;
        let mut events: Vec<(TimestampMs, I)> = Vec::with_capacity(n);
        for _ in 0..n {
            let t = r.zigzag()?;
            if !(-TIME_ABS_MAX_MS..=TIME_ABS_MAX_MS).contains(&t) {
                return invalid("event time out of range");
            }
            events.push((t, read(r)?));
        }
        let epochs = || events.iter().map(|(t, _)| w.epoch(*t));
        if let (Some(oldest), Some(newest)) = (epochs().min(), epochs().max()) {
            // Both within ±2^53, so the difference cannot overflow.
            if newest - oldest >= w.window_ms {
                return invalid("events span more than the window");
            }
        }
        Ok(Recent::from_events(events.into_boxed_slice()))
    }
}

fn check_epoch(w: &WindowSpec, epoch: TimestampMs, oldest: Option<TimestampMs>) -> Result<()> {
    if !(-TIME_ABS_MAX_MS..=TIME_ABS_MAX_MS).contains(&epoch) {
        return invalid("bucket epoch out of range");
    }
    if epoch.rem_euclid(w.bucket_ms) != 0 {
        return invalid("bucket epoch is not on the window's bucket grid");
    }
    // Both within ±2^53, so the difference cannot overflow.
    if oldest.is_some_and(|o| epoch - o >= w.window_ms) {
        return invalid("buckets span more than the window");
    }
    Ok(())
}

fn decode_seasonal(r: &mut Reader) -> Result<Seasonal> {
    let mask = r.varint_max(
        (1 << histogram::HOURS) - 1,
        "seasonal hour mask out of range",
    )?;
    let mut s = Seasonal::default();
    let mut total = 0u64;
    for (h, slot) in s.hours.iter_mut().enumerate() {
        if mask & (1 << h) != 0 {
            let w = r.welford()?;
            if is_default_welford(&w) {
                return invalid("seasonal hour marked present is empty");
            }
            total = total.saturating_add(w.n);
            *slot = w;
        }
    }
    if total > EVENTS_MAX {
        return invalid("seasonal counts exceed EVENTS_MAX");
    }
    s.last_x = r.f64()?;
    s.last_hour = r.u8()?;
    if usize::from(s.last_hour) >= histogram::HOURS {
        return invalid("seasonal last hour out of range");
    }
    Ok(s)
}

/// Total bytes of the encoded state at the start of `input` (header included), without
/// decoding it or knowing its spec: lets a reader skip a state it has no use for.
pub fn encoded_state_len(input: &[u8]) -> Result<usize> {
    let mut r = Reader::new(input);
    let version = r.u8()?;
    if version != STATE_FORMAT_VERSION {
        return Err(StateDecodeError::BadVersion(version));
    }
    if !kind::is_known(r.u8()?) {
        return invalid("unknown state kind");
    }
    let payload_len = usize::try_from(r.varint()?).unwrap_or(usize::MAX);
    r.bytes(payload_len)?;
    Ok(r.pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_canonical() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint(), Ok(v));
            assert_eq!(r.pos, out.len());
        }
        // 0 as two bytes, 1 with a redundant zero group.
        for overlong in [&[0x80, 0x00][..], &[0x81, 0x00]] {
            assert!(matches!(
                Reader::new(overlong).varint(),
                Err(StateDecodeError::Invalid(_))
            ));
        }
        let too_big = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        assert!(matches!(
            Reader::new(&too_big).varint(),
            Err(StateDecodeError::Invalid(_))
        ));
        assert_eq!(
            Reader::new(&[0x80]).varint(),
            Err(StateDecodeError::Truncated)
        );
    }

    #[test]
    fn times_round_trip_and_never_is_one_byte() {
        for t in [
            NEVER,
            0,
            1,
            -1,
            1_795_255_704_674,
            TIME_ABS_MAX_MS,
            -TIME_ABS_MAX_MS,
        ] {
            let mut out = Vec::new();
            put_time(&mut out, t);
            assert_eq!(Reader::new(&out).time(), Ok(t));
        }
        let mut out = Vec::new();
        put_time(&mut out, NEVER);
        assert_eq!(out, [0]);
        for t in [TIME_ABS_MAX_MS + 1, i64::MAX, NEVER + 1] {
            let mut out = Vec::new();
            put_time(&mut out, t);
            assert!(matches!(
                Reader::new(&out).time(),
                Err(StateDecodeError::Invalid(_))
            ));
        }
    }

    #[test]
    fn values_nest_to_the_depth_limit_only() {
        let mut v = Value::I64(1);
        for _ in 0..VALUE_DEPTH_MAX {
            v = Value::List(vec![v]);
        }
        let mut out = Vec::new();
        put_value(&mut out, &v);
        let mut r = Reader::new(&out);
        assert_eq!(r.value(0), Ok(v.clone()));
        let deeper = Value::List(vec![v]);
        let mut out = Vec::new();
        put_value(&mut out, &deeper);
        assert_eq!(
            Reader::new(&out).value(0),
            Err(StateDecodeError::Invalid("value nested too deep"))
        );
    }

    #[test]
    fn duplicate_detection() {
        let keys = [Scalar::I64(1), Scalar::Bool(true), Scalar::F64(1.0)];
        assert!(!has_duplicates(&keys, scalar_hash));
        let keys = [Scalar::I64(1), Scalar::Str("a".into()), Scalar::I64(1)];
        assert!(has_duplicates(&keys, scalar_hash));
        // A constant hash still finds (and only finds) real duplicates.
        assert!(!has_duplicates(&[1, 2, 3], |_| 7));
        assert!(has_duplicates(&[1, 2, 1], |_| 7));
    }
}
