//! `AggSpec`: one compiled aggregation, and the dispatch of `apply` / `read` to the operator
//! families in `ops/`.
//!
//! Everything that can be decided at register time is: the op, the field slot, the window
//! geometry and op params are resolved by `compile`, so `apply` is one match on `(op, state)`
//! with no allocation for numeric ops.

use crate::ops::buffer::Ring;
use crate::ops::count::{read_count, RatioCounts};
use crate::ops::decay::{Decayed, EwMoments};
use crate::ops::distinct::{distinct_hash, read_n_unique, Categories};
use crate::ops::geo::Geo;
use crate::ops::histogram::{self, BinLayout, Mix, MixSpec, Seasonal};
use crate::ops::moments::{SumCount, Welford};
use crate::ops::recency::{self, NEVER};
use crate::ops::streak::Runs;
use crate::ops::velocity::{Burst, Motion};
use crate::ops::{extremes, quantile, top_k};
use crate::scalar::Scalar;
use crate::state::{AggState, State};
use crate::window::{Buckets, Recent, WindowSpec};
use compact_str::CompactString;
use model::{TimestampMs, Value};
use sketch::{DistinctCount, QuantileSketch, TopK};
use std::cmp::Ordering;

/// The compiled operator with its params.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Count,
    Sum,
    Mean,
    Var,
    Std,
    Min,
    Max,
    Ratio,
    NUnique,
    Quantile {
        q: f64,
    },
    TopK {
        k: usize,
    },
    Entropy,
    First,
    Last,
    FirstSeen,
    LastSeen,
    Age,
    HasSeen,
    TimeSince,
    TimeSinceLastN {
        n: usize,
    },
    Streak,
    MaxStreak,
    NegativeStreak,
    /// `window_ms: None` is `"forever"`.
    FirstSeenInWindow {
        window_ms: Option<i64>,
    },
    Ewma {
        rate_per_ms: f64,
    },
    EwVar {
        rate_per_ms: f64,
    },
    EwZScore {
        rate_per_ms: f64,
    },
    DecayedSum {
        rate_per_ms: f64,
    },
    DecayedCount {
        rate_per_ms: f64,
    },
    FirstN {
        n: usize,
    },
    /// `last_n` and `most_recent_n` (identical in beava: oldest → newest).
    LastN {
        n: usize,
    },
    Lag {
        n: usize,
    },
    ReservoirSample {
        n: usize,
    },
    Twa,
    RateOfChange,
    InterArrivalStats,
    BurstCount {
        sub_window_ms: i64,
    },
    DeltaFromPrev,
    Trend,
    TrendResidual,
    OutlierCount {
        sigma: f64,
    },
    ValueChangeCount,
    ZScore,
    Histogram(Box<BinLayout>),
    HourOfDayHistogram,
    DowHourHistogram,
    SeasonalDeviation,
    EventTypeMix(Box<MixSpec>),
    /// Geo ops read `lat` from `slot` and `lon` from `slot_lon`.
    GeoVelocity,
    GeoDistance,
    GeoSpread,
    DistanceFromHome {
        samples: usize,
    },
    BloomMember,
}

/// One compiled aggregation (immutable; shared by every entity of the table).
#[derive(Clone, Debug)]
pub struct AggSpec {
    pub(crate) op_name: CompactString,
    pub(crate) window_raw: Option<CompactString>,
    pub(crate) field_name: Option<CompactString>,
    /// Row slot of `field` (geo ops: of the latitude); `None` when absent or (for unchecked
    /// ops) unknown: the op never updates.
    pub(crate) slot: Option<usize>,
    /// Geo ops: row slot of the longitude.
    pub(crate) slot_lon: Option<usize>,
    /// `Some` only for ✔ ops with a finite `window`.
    pub(crate) window: Option<WindowSpec>,
    pub(crate) op: Op,
}

static NULL: Value = Value::Null;

fn row_value(row: &[Value], slot: usize) -> &Value {
    row.get(slot).unwrap_or(&NULL)
}

impl AggSpec {
    /// Wire op string as registered (`"ema"` stays `"ema"`).
    pub fn op_name(&self) -> &str {
        &self.op_name
    }

    /// Raw `window` param string, if it was a string (`"forever"` included).
    pub fn window(&self) -> Option<&str> {
        self.window_raw.as_deref()
    }

    /// The `field` param, if it was a string.
    pub fn field(&self) -> Option<&str> {
        self.field_name.as_deref()
    }

    /// Geometry of the 64-bucket window, for windowed (✔) ops with a finite window.
    pub fn window_spec(&self) -> Option<&WindowSpec> {
        self.window.as_ref()
    }

    fn field_value<'r>(&self, row: &'r [Value]) -> &'r Value {
        match self.slot {
            Some(slot) => row_value(row, slot),
            None => &NULL,
        }
    }

    pub fn new_state(&self) -> AggState {
        AggState(match self.window {
            Some(_) => self.new_windowed_state(),
            None => self.new_lifetime_state(),
        })
    }

    fn new_windowed_state(&self) -> State {
        match self.op {
            Op::Count => State::CountW(Buckets::default()),
            Op::Ratio => State::RatioW(Buckets::default()),
            Op::Sum | Op::Mean => State::SumW(Buckets::default()),
            Op::Var | Op::Std => State::MomentsW(Buckets::default()),
            Op::Min | Op::Max => State::ValueW(Buckets::default()),
            Op::NUnique | Op::Quantile { .. } => State::FewWordsW(Recent::default()),
            Op::TopK { .. } => State::FewItemsW(Recent::default()),
            Op::Entropy => State::CategoriesW(Buckets::default()),
            // `compile` only attaches a window to the ops above.
            _ => self.new_lifetime_state(),
        }
    }

    fn new_lifetime_state(&self) -> State {
        match self.op {
            Op::Count | Op::Streak | Op::NegativeStreak => State::Counter(0),
            Op::MaxStreak => State::Runs(Runs::default()),
            Op::Ratio => State::Ratio(RatioCounts::default()),
            Op::Sum | Op::Mean => State::Sum(SumCount::default()),
            Op::Var | Op::Std => State::Moments(None),
            Op::Min | Op::Max | Op::First | Op::Last => State::Value(None),
            Op::FirstSeen
            | Op::LastSeen
            | Op::Age
            | Op::HasSeen
            | Op::TimeSince
            | Op::FirstSeenInWindow { .. } => State::Time(NEVER),
            Op::TimeSinceLastN { .. } => State::TimesRecent(None),
            Op::DecayedSum { .. } | Op::DecayedCount { .. } | Op::Ewma { .. } => {
                State::Decayed(Decayed::default())
            }
            Op::EwVar { .. } | Op::EwZScore { .. } => State::EwMoments(None),
            Op::NUnique => State::Distinct(None),
            Op::Quantile { .. } => State::Quantile(None),
            Op::TopK { .. } => State::TopK(None),
            Op::Entropy => State::Categories(None),
            Op::BloomMember => State::Counter(0),
            Op::BurstCount { .. } => State::Burst(Burst::default()),
            Op::FirstN { .. } | Op::LastN { .. } | Op::Lag { .. } | Op::ReservoirSample { .. } => {
                State::Ring(None)
            }
            Op::Twa
            | Op::RateOfChange
            | Op::InterArrivalStats
            | Op::DeltaFromPrev
            | Op::Trend
            | Op::TrendResidual
            | Op::OutlierCount { .. }
            | Op::ValueChangeCount
            | Op::ZScore => State::Motion(None),
            Op::Histogram(_) | Op::HourOfDayHistogram | Op::DowHourHistogram => State::Bins(None),
            Op::SeasonalDeviation => State::Seasonal(None),
            Op::EventTypeMix(_) => State::Mix(None),
            Op::GeoVelocity | Op::GeoDistance | Op::GeoSpread | Op::DistanceFromHome { .. } => {
                State::Geo(None)
            }
        }
    }

    /// The fresh boxed state of a change-over-time op.
    pub(crate) fn new_motion(&self) -> Box<Motion> {
        Box::new(match self.op {
            Op::Twa => Motion::twa(),
            Op::InterArrivalStats => Motion::gaps(),
            Op::Trend | Op::TrendResidual => Motion::trend(),
            Op::OutlierCount { .. } => Motion::outliers(),
            Op::ValueChangeCount => Motion::changes(),
            Op::ZScore => Motion::z_score(),
            _ => Motion::change(),
        })
    }

    pub(crate) fn new_geo(&self) -> Box<Geo> {
        Box::new(match self.op {
            Op::GeoSpread => Geo::spread(),
            Op::DistanceFromHome { .. } => Geo::home(),
            _ => Geo::track(),
        })
    }

    /// Folds one event. `passes_where` is the `where` result (true when there is none).
    /// `ratio`, `streak`, `max_streak` and `negative_streak` look at every event; every other op
    /// ignores events that fail `where`.
    pub fn apply(
        &self,
        state: &mut AggState,
        row: &[Value],
        passes_where: bool,
        now_ms: TimestampMs,
    ) {
        let state = &mut state.0;
        match (&self.op, &mut *state) {
            (Op::Ratio, State::Ratio(r)) => return r.add(passes_where),
            (Op::Ratio, State::RatioW(b)) => {
                if let Some(w) = &self.window {
                    if let Some(r) = b.bucket_mut(w, now_ms, RatioCounts::default) {
                        r.add(passes_where);
                    }
                }
                return;
            }
            (Op::Streak, State::Counter(n)) => {
                *n = if passes_where { *n + 1 } else { 0 };
                return;
            }
            (Op::NegativeStreak, State::Counter(n)) => {
                *n = if passes_where { 0 } else { *n + 1 };
                return;
            }
            (Op::MaxStreak, State::Runs(r)) => return r.step(passes_where),
            _ => {}
        }
        if !passes_where {
            return;
        }
        let value = self.field_value(row);
        match &self.window {
            Some(w) => self.apply_windowed(w, state, value, now_ms),
            None => self.apply_lifetime(state, row, value, now_ms),
        }
    }

    fn apply_lifetime(&self, state: &mut State, row: &[Value], value: &Value, now_ms: TimestampMs) {
        match (&self.op, state) {
            (Op::Count, State::Counter(n)) => *n += 1,
            (Op::Sum | Op::Mean, State::Sum(s)) => {
                if let Some(x) = value.as_f64() {
                    s.add(x);
                }
            }
            (Op::Var | Op::Std, State::Moments(m)) => {
                if let Some(x) = value.as_f64() {
                    m.get_or_insert_with(Box::default).add(x);
                }
            }
            (Op::Min, State::Value(slot)) => {
                if !value.is_null() {
                    extremes::offer(slot, value, Ordering::Less);
                }
            }
            (Op::Max, State::Value(slot)) => {
                if !value.is_null() {
                    extremes::offer(slot, value, Ordering::Greater);
                }
            }
            (Op::First, State::Value(slot)) => {
                if slot.is_none() {
                    *slot = Scalar::from_value(value);
                }
            }
            (Op::Last, State::Value(slot)) => {
                if !value.is_null() {
                    match slot {
                        Some(current) => current.assign(value),
                        None => *slot = Scalar::from_value(value),
                    }
                }
            }
            (Op::FirstSeen | Op::Age | Op::HasSeen, State::Time(t)) => {
                if *t == NEVER {
                    *t = now_ms;
                }
            }
            (Op::LastSeen | Op::TimeSince | Op::FirstSeenInWindow { .. }, State::Time(t)) => {
                *t = now_ms;
            }
            (Op::TimeSinceLastN { n }, State::TimesRecent(r)) => {
                r.get_or_insert_with(Box::default).push(now_ms, *n);
            }
            (Op::DecayedSum { rate_per_ms }, State::Decayed(d)) => {
                if let Some(x) = value.as_f64() {
                    d.add_to_sum(x, now_ms, *rate_per_ms);
                }
            }
            (Op::DecayedCount { rate_per_ms }, State::Decayed(d)) => {
                d.add_to_sum(1.0, now_ms, *rate_per_ms);
            }
            (Op::Ewma { rate_per_ms }, State::Decayed(d)) => {
                if let Some(x) = value.as_f64() {
                    d.add_to_mean(x, now_ms, *rate_per_ms);
                }
            }
            (Op::EwVar { rate_per_ms } | Op::EwZScore { rate_per_ms }, State::EwMoments(m)) => {
                if let Some(x) = value.as_f64() {
                    m.get_or_insert_with(Box::default)
                        .add(x, now_ms, *rate_per_ms);
                }
            }
            (Op::NUnique, State::Distinct(d)) => {
                if let Some(h) = distinct_hash(value) {
                    d.get_or_insert_with(|| Box::new(DistinctCount::new()))
                        .insert_hash(h);
                }
            }
            (Op::Quantile { .. }, State::Quantile(q)) => {
                if let Some(x) = value.as_f64() {
                    q.get_or_insert_with(|| Box::new(QuantileSketch::new()))
                        .insert(x);
                }
            }
            (Op::TopK { k }, State::TopK(t)) => {
                if let Some(key) = top_k::key_of(value) {
                    t.get_or_insert_with(|| Box::new(TopK::new(*k)))
                        .insert(&key, top_k::hash_of(&key));
                }
            }
            (Op::Entropy, State::Categories(c)) => {
                if !value.is_null() {
                    c.get_or_insert_with(Box::default).add(value);
                }
            }
            (Op::BloomMember, State::Counter(seen)) => *seen |= u64::from(!value.is_null()),
            (Op::BurstCount { sub_window_ms }, State::Burst(b)) => b.add(now_ms, *sub_window_ms),
            (Op::FirstN { n }, State::Ring(r)) => {
                if !value.is_null() {
                    r.get_or_insert_with(Box::default).push_first(value, *n);
                }
            }
            (Op::LastN { n }, State::Ring(r)) => {
                if !value.is_null() {
                    r.get_or_insert_with(Box::default).push_last(value, *n);
                }
            }
            (Op::Lag { n }, State::Ring(r)) => {
                if !value.is_null() {
                    r.get_or_insert_with(Box::default).push_last(value, *n + 1);
                }
            }
            (Op::ReservoirSample { n }, State::Ring(r)) => {
                if !value.is_null() {
                    r.get_or_insert_with(Box::default).push_sample(value, *n);
                }
            }
            (Op::InterArrivalStats, State::Motion(m)) => {
                m.get_or_insert_with(|| self.new_motion())
                    .add_arrival(now_ms);
            }
            (Op::ValueChangeCount, State::Motion(m)) => {
                if !value.is_null() {
                    m.get_or_insert_with(|| self.new_motion()).add_value(value);
                }
            }
            (op, State::Motion(m)) => {
                if let Some(x) = value.as_f64() {
                    let sigma = match op {
                        Op::OutlierCount { sigma } => *sigma,
                        _ => 0.0,
                    };
                    m.get_or_insert_with(|| self.new_motion()).add_number(
                        x,
                        now_ms,
                        sigma,
                        matches!(op, Op::DeltaFromPrev),
                    );
                }
            }
            (Op::Histogram(layout), State::Bins(b)) => {
                if let Some(x) = value.as_f64() {
                    let counts = b.get_or_insert_with(|| histogram::new_counts(layout.n_bins()));
                    counts[layout.bin_of(x)] += 1;
                }
            }
            (Op::HourOfDayHistogram, State::Bins(b)) => {
                b.get_or_insert_with(|| histogram::new_counts(histogram::HOURS))
                    [histogram::utc_hour(now_ms)] += 1;
            }
            (Op::DowHourHistogram, State::Bins(b)) => {
                b.get_or_insert_with(|| histogram::new_counts(histogram::WEEK_HOURS))
                    [histogram::week_hour(now_ms)] += 1;
            }
            (Op::SeasonalDeviation, State::Seasonal(s)) => {
                if let Some(x) = value.as_f64() {
                    s.get_or_insert_with(Box::default).add(x, now_ms);
                }
            }
            (Op::EventTypeMix(mix), State::Mix(m)) => {
                if !value.is_null() {
                    m.get_or_insert_with(Box::default).add(value, mix);
                }
            }
            (
                Op::GeoVelocity | Op::GeoDistance | Op::GeoSpread | Op::DistanceFromHome { .. },
                State::Geo(g),
            ) => {
                let lon = match self.slot_lon {
                    Some(slot) => row_value(row, slot),
                    None => &NULL,
                };
                if let (Some(lat), Some(lon)) = (value.as_f64(), lon.as_f64()) {
                    let samples = match self.op {
                        Op::DistanceFromHome { samples } => samples,
                        _ => 0,
                    };
                    g.get_or_insert_with(|| self.new_geo())
                        .add(lat, lon, now_ms, samples);
                }
            }
            (op, state) => mismatch(op, state),
        }
    }

    fn apply_windowed(
        &self,
        w: &WindowSpec,
        state: &mut State,
        value: &Value,
        now_ms: TimestampMs,
    ) {
        // Set when a few-events state is full: the bucketed state that replaces it.
        let mut promoted: Option<State> = None;
        match (&self.op, &mut *state) {
            (Op::NUnique, State::FewWordsW(r)) => {
                if let Some(hash) = distinct_hash(value) {
                    if let Err(hash) = r.record(w, now_ms, hash) {
                        let insert = |d: &mut DistinctCount, hash: &u64| d.insert_hash(*hash);
                        let b = r.promote(w, now_ms, hash, DistinctCount::new, insert);
                        promoted = Some(State::DistinctW(b));
                    }
                }
            }
            (Op::Quantile { .. }, State::FewWordsW(r)) => {
                // The sketch ignores non-finite values; so does the few-events state.
                if let Some(x) = value.as_f64().filter(|x| x.is_finite()) {
                    if let Err(bits) = r.record(w, now_ms, x.to_bits()) {
                        let insert = |q: &mut QuantileSketch, bits: &u64| {
                            q.insert(f64::from_bits(*bits));
                        };
                        let b = r.promote(w, now_ms, bits, QuantileSketch::new, insert);
                        promoted = Some(State::QuantileW(b));
                    }
                }
            }
            (Op::TopK { k }, State::FewItemsW(r)) => {
                if let Some(key) = top_k::key_of(value) {
                    if let Err(key) = r.record(w, now_ms, key) {
                        let insert = |t: &mut TopK<Scalar>, key: &Scalar| {
                            t.insert(key, top_k::hash_of(key));
                        };
                        let b = r.promote(w, now_ms, key, || TopK::new(*k), insert);
                        promoted = Some(State::TopKW(b));
                    }
                }
            }
            (op, state) => self.apply_bucketed(op, w, state, value, now_ms),
        }
        if let Some(promoted) = promoted {
            *state = promoted;
        }
    }

    fn apply_bucketed(
        &self,
        op: &Op,
        w: &WindowSpec,
        state: &mut State,
        value: &Value,
        now_ms: TimestampMs,
    ) {
        match (op, state) {
            (Op::Count, State::CountW(b)) => {
                if let Some(n) = b.bucket_mut(w, now_ms, || 0) {
                    *n += 1;
                }
            }
            (Op::Sum | Op::Mean, State::SumW(b)) => {
                if let Some(x) = value.as_f64() {
                    if let Some(s) = b.bucket_mut(w, now_ms, SumCount::default) {
                        s.add(x);
                    }
                }
            }
            (Op::Var | Op::Std, State::MomentsW(b)) => {
                if let Some(x) = value.as_f64() {
                    if let Some(m) = b.bucket_mut(w, now_ms, Welford::default) {
                        m.add(x);
                    }
                }
            }
            (Op::Min | Op::Max, State::ValueW(b)) => {
                if !value.is_null() {
                    let direction = if matches!(self.op, Op::Min) {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    if let Some(slot) = b.bucket_mut(w, now_ms, || None) {
                        extremes::offer(slot, value, direction);
                    }
                }
            }
            (Op::NUnique, State::DistinctW(b)) => {
                if let Some(h) = distinct_hash(value) {
                    if let Some(d) = b.bucket_mut(w, now_ms, DistinctCount::new) {
                        d.insert_hash(h);
                    }
                }
            }
            (Op::Quantile { .. }, State::QuantileW(b)) => {
                if let Some(x) = value.as_f64() {
                    if let Some(q) = b.bucket_mut(w, now_ms, QuantileSketch::new) {
                        q.insert(x);
                    }
                }
            }
            (Op::TopK { k }, State::TopKW(b)) => {
                if let Some(key) = top_k::key_of(value) {
                    if let Some(t) = b.bucket_mut(w, now_ms, || TopK::new(*k)) {
                        t.insert(&key, top_k::hash_of(&key));
                    }
                }
            }
            (Op::Entropy, State::CategoriesW(b)) => {
                if !value.is_null() {
                    if let Some(c) = b.bucket_mut(w, now_ms, Categories::default) {
                        c.add(value);
                    }
                }
            }
            (op, state) => mismatch(op, state),
        }
    }

    /// The feature value at query time `query_ms` (§6.1: windows are merged at read time).
    pub fn read(&self, state: &AggState, query_ms: TimestampMs) -> Value {
        match &self.window {
            Some(w) => self.read_windowed(w, &state.0, query_ms),
            None => self.read_lifetime(&state.0, query_ms),
        }
    }

    fn read_lifetime(&self, state: &State, query_ms: TimestampMs) -> Value {
        match (&self.op, state) {
            (Op::Count | Op::Streak | Op::NegativeStreak, State::Counter(n)) => read_count(*n),
            (Op::MaxStreak, State::Runs(r)) => read_count(r.best),
            (Op::Ratio, State::Ratio(r)) => r.read(),
            (Op::Sum, State::Sum(s)) => s.read_sum(),
            (Op::Mean, State::Sum(s)) => s.read_mean(),
            (Op::Var, State::Moments(m)) => m.as_deref().map_or(Value::Null, Welford::read_var),
            (Op::Std, State::Moments(m)) => m.as_deref().map_or(Value::Null, Welford::read_std),
            (Op::Min | Op::Max | Op::First | Op::Last, State::Value(v)) => {
                v.as_ref().map_or(Value::Null, Scalar::to_value)
            }
            (Op::FirstSeen | Op::LastSeen, State::Time(t)) => recency::read_time(*t),
            (Op::Age | Op::TimeSince, State::Time(t)) => recency::read_since(*t, query_ms),
            (Op::HasSeen, State::Time(t)) => Value::Bool(*t != NEVER),
            (Op::FirstSeenInWindow { window_ms }, State::Time(t)) => {
                recency::read_seen_within(*t, query_ms, *window_ms)
            }
            (Op::TimeSinceLastN { n }, State::TimesRecent(r)) => {
                r.as_deref().map_or(Value::Null, |r| r.read(*n, query_ms))
            }
            (
                Op::DecayedSum { .. } | Op::DecayedCount { .. } | Op::Ewma { .. },
                State::Decayed(d),
            ) => d.read(),
            (Op::EwVar { .. }, State::EwMoments(m)) => {
                m.as_deref().map_or(Value::Null, EwMoments::read_var)
            }
            (Op::EwZScore { .. }, State::EwMoments(m)) => {
                m.as_deref().map_or(Value::Null, EwMoments::read_zscore)
            }
            (Op::NUnique, State::Distinct(d)) => {
                read_n_unique(d.as_deref().map_or(0, DistinctCount::estimate))
            }
            (Op::Quantile { q }, State::Quantile(s)) => quantile::read(s.as_deref(), *q),
            (Op::TopK { k }, State::TopK(t)) => top_k::read(t.as_deref(), *k),
            (Op::Entropy, State::Categories(c)) => {
                Value::F64(c.as_deref().map_or(0.0, Categories::entropy))
            }
            (Op::BloomMember, State::Counter(seen)) => Value::Bool(*seen != 0),
            (Op::BurstCount { .. }, State::Burst(b)) => read_count(u64::from(b.best)),
            (Op::FirstN { .. } | Op::LastN { .. } | Op::ReservoirSample { .. }, State::Ring(r)) => {
                r.as_deref()
                    .map_or_else(|| Value::List(Vec::new()), Ring::read_list)
            }
            (Op::Lag { n }, State::Ring(r)) => r.as_deref().map_or(Value::Null, |r| r.read_lag(*n)),
            (op, State::Motion(m)) => match (op, m.as_deref()) {
                (Op::OutlierCount { .. } | Op::ValueChangeCount, m) => {
                    read_count(m.map_or(0, Motion::read_count))
                }
                (_, None) => Value::Null,
                (Op::Twa, Some(m)) => m.read_twa(),
                (Op::InterArrivalStats, Some(m)) => m.read_gaps(),
                (Op::Trend, Some(m)) => m.read_trend(false),
                (Op::TrendResidual, Some(m)) => m.read_trend(true),
                (Op::ZScore, Some(m)) => m.read_z_score(),
                (_, Some(m)) => m.read_change(),
            },
            (Op::Histogram(layout), State::Bins(b)) => layout.read(b.as_deref()),
            (Op::HourOfDayHistogram, State::Bins(b)) => histogram::read_hours(b.as_deref()),
            (Op::DowHourHistogram, State::Bins(b)) => histogram::read_week_hours(b.as_deref()),
            (Op::SeasonalDeviation, State::Seasonal(s)) => {
                s.as_deref().map_or(Value::Null, Seasonal::read)
            }
            (Op::EventTypeMix(_), State::Mix(m)) => m
                .as_deref()
                .map_or_else(|| Value::Map(Vec::new()), Mix::read),
            (Op::GeoVelocity, State::Geo(g)) => opt_f64(g.as_deref().and_then(Geo::read_velocity)),
            (Op::GeoDistance, State::Geo(g)) => {
                Value::F64(g.as_deref().map_or(0.0, Geo::read_distance))
            }
            (Op::GeoSpread, State::Geo(g)) => opt_f64(g.as_deref().and_then(Geo::read_spread)),
            (Op::DistanceFromHome { .. }, State::Geo(g)) => {
                opt_f64(g.as_deref().and_then(Geo::read_home))
            }
            (op, state) => {
                mismatch(op, state);
                Value::Null
            }
        }
    }

    fn read_windowed(&self, w: &WindowSpec, state: &State, query_ms: TimestampMs) -> Value {
        match (&self.op, state) {
            (Op::Count, State::CountW(b)) => read_count(b.active(w, query_ms).sum()),
            (Op::Ratio, State::RatioW(b)) => fold(b.active(w, query_ms), RatioCounts::merge).read(),
            (Op::Sum, State::SumW(b)) => fold(b.active(w, query_ms), SumCount::merge).read_sum(),
            (Op::Mean, State::SumW(b)) => fold(b.active(w, query_ms), SumCount::merge).read_mean(),
            (Op::Var, State::MomentsW(b)) => fold(b.active(w, query_ms), Welford::merge).read_var(),
            (Op::Std, State::MomentsW(b)) => fold(b.active(w, query_ms), Welford::merge).read_std(),
            (Op::Min, State::ValueW(b)) => {
                extremes::merge(b.active(w, query_ms).flatten(), Ordering::Less)
            }
            (Op::Max, State::ValueW(b)) => {
                extremes::merge(b.active(w, query_ms).flatten(), Ordering::Greater)
            }
            (Op::NUnique, State::DistinctW(b)) => {
                let mut active = b.active(w, query_ms);
                let estimate = match (active.next(), active.next()) {
                    (None, _) => 0,
                    (Some(only), None) => only.estimate(),
                    (Some(first), Some(second)) => {
                        let mut acc = first.clone();
                        acc.merge(second);
                        active.for_each(|d| acc.merge(d));
                        acc.estimate()
                    }
                };
                read_n_unique(estimate)
            }
            (Op::Quantile { q }, State::QuantileW(b)) => {
                quantile::read_merged(b.active(w, query_ms), *q)
            }
            (Op::TopK { k }, State::TopKW(b)) => top_k::read_merged(b.active(w, query_ms), *k),
            // Few events, all summaries in their exact tier: one summary of the active events
            // reads exactly as the merge of their buckets would.
            (Op::NUnique, State::FewWordsW(r)) => {
                let mut d = DistinctCount::new();
                r.active(w, query_ms).for_each(|hash| d.insert_hash(*hash));
                read_n_unique(d.estimate())
            }
            (Op::Quantile { q }, State::FewWordsW(r)) => {
                let mut s = QuantileSketch::new();
                r.active(w, query_ms)
                    .for_each(|bits| s.insert(f64::from_bits(*bits)));
                quantile::read(Some(&s), *q)
            }
            (Op::TopK { k }, State::FewItemsW(r)) => {
                let mut t = TopK::new(*k);
                r.active(w, query_ms)
                    .for_each(|key| t.insert(key, top_k::hash_of(key)));
                top_k::read(Some(&t), *k)
            }
            (Op::Entropy, State::CategoriesW(b)) => {
                let mut active = b.active(w, query_ms);
                let h = match (active.next(), active.next()) {
                    (None, _) => 0.0,
                    (Some(only), None) => only.entropy(),
                    (Some(first), Some(second)) => {
                        let mut acc = first.clone();
                        acc.merge(second);
                        active.for_each(|c| acc.merge(c));
                        acc.entropy()
                    }
                };
                Value::F64(h)
            }
            (op, state) => {
                mismatch(op, state);
                Value::Null
            }
        }
    }
}

fn opt_f64(x: Option<f64>) -> Value {
    x.map_or(Value::Null, Value::F64)
}

// A few-events state is read as one summary of its events: it must still be exact.
const _: () = assert!(
    crate::window::RECENT_EVENTS_MAX <= sketch::DISTINCT_EXACT_MAX
        && crate::window::RECENT_EVENTS_MAX <= sketch::QUANTILE_EXACT_MAX
        && crate::window::RECENT_EVENTS_MAX <= sketch::TOP_K_EXACT_MAX
);

/// Merges small `Copy` bucket states.
fn fold<'a, T: Copy + Default + 'a>(
    buckets: impl Iterator<Item = &'a T>,
    merge: impl Fn(&mut T, &T),
) -> T {
    let mut acc = T::default();
    for b in buckets {
        merge(&mut acc, b);
    }
    acc
}

/// A state used with a spec that did not build it: a caller bug. Loud in debug builds, ignored
/// in release (the feature reads null rather than taking the server down).
fn mismatch(op: &Op, state: &State) {
    debug_assert!(
        false,
        "aggregation state does not match its spec: {op:?} vs {state:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compile, CompileContext};
    use model::{Column, RowSchema};

    fn spec(op: &str, params: serde_json::Value) -> AggSpec {
        let schema = RowSchema {
            columns: vec![Column {
                name: "x".into(),
                ty: None,
                optional: true,
            }],
        };
        let ctx = CompileContext {
            feature: "f",
            path: "nodes[1].ops[0].agg",
            schema: &schema,
        };
        compile(op, params.as_object().unwrap(), &ctx).unwrap()
    }

    /// The bucketed state a few-events state grows into, empty (what builds before decision
    /// 0012 started every entity with).
    fn bucketed(spec: &AggSpec) -> AggState {
        AggState(match spec.op {
            Op::NUnique => State::DistinctW(Buckets::default()),
            Op::Quantile { .. } => State::QuantileW(Buckets::default()),
            Op::TopK { .. } => State::TopKW(Buckets::default()),
            _ => panic!("not an op with a few-events state: {:?}", spec.op),
        })
    }

    /// A windowed `n_unique`, `quantile` and `top_k`: the ops with few-events states.
    fn windowed_sketches() -> Vec<AggSpec> {
        vec![
            spec(
                "n_unique",
                serde_json::json!({"field": "x", "window": "1s"}),
            ),
            spec(
                "quantile",
                serde_json::json!({"field": "x", "q": 0.9, "window": "1s"}),
            ),
            spec(
                "top_k",
                serde_json::json!({"field": "x", "k": 3, "window": "1s"}),
            ),
        ]
    }

    /// What builds before decision 0012 wrote for these ops (bucketed states from the first
    /// event) still decodes, as the bucketed state, and reads the same.
    #[test]
    fn bucketed_states_of_older_snapshots_decode() {
        for spec in windowed_sketches() {
            let mut old = bucketed(&spec);
            for (t, x) in [(1_000, 1), (1_400, 2), (1_900, 2)] {
                spec.apply(&mut old, &[Value::I64(x)], true, t);
            }
            let mut bytes = Vec::new();
            spec.encode_state(&old, &mut bytes);
            let (decoded, used) = spec.decode_state(&bytes).expect("decodes");
            assert_eq!(used, bytes.len());
            assert!(!matches!(
                decoded.0,
                State::FewWordsW(_) | State::FewItemsW(_)
            ));
            for at in [1_900, 2_500] {
                assert_eq!(spec.read(&decoded, at), spec.read(&old, at));
            }
        }
    }

    /// `n_unique`, `quantile` and `top_k` over a window read the same whether an entity
    /// started with its few events kept as such (and grew into buckets) or with buckets.
    #[test]
    fn few_events_states_read_like_buckets() {
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut specs = windowed_sketches();
        specs.push(spec(
            "n_unique",
            serde_json::json!({"field": "x", "window": "64ms"}),
        ));
        let values = [
            Value::I64(1),
            Value::I64(2),
            Value::F64(2.0),
            Value::F64(f64::NAN),
            Value::F64(-0.5),
            Value::Bool(true),
            Value::str("a"),
            Value::str("b"),
            Value::Null,
        ];
        let (mut recent_reads, mut promotions) = (0, 0);
        for spec in &specs {
            for _ in 0..400 {
                let mut recent = spec.new_state();
                let mut direct = bucketed(spec);
                let mut now: TimestampMs = 1_000_000;
                let mut newest = now;
                for _ in 0..(next() % 20) {
                    now += match next() % 8 {
                        0 => (next() % 2_500) as i64,
                        1 => -((next() % 600) as i64),
                        _ => (next() % 120) as i64,
                    };
                    newest = newest.max(now);
                    let row = [values[(next() % values.len() as u64) as usize].clone()];
                    spec.apply(&mut recent, &row, true, now);
                    spec.apply(&mut direct, &row, true, now);
                    for query in [newest, newest + 300, newest + 999, newest + 1_000] {
                        assert_eq!(
                            spec.read(&recent, query),
                            spec.read(&direct, query),
                            "{} at {query}",
                            spec.op_name()
                        );
                    }
                }
                match recent.0 {
                    State::FewWordsW(_) | State::FewItemsW(_) => recent_reads += 1,
                    _ => promotions += 1,
                }
            }
        }
        // Both paths were exercised.
        assert!(
            recent_reads > 100 && promotions > 100,
            "{recent_reads} {promotions}"
        );
    }
}
