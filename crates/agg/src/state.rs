//! `AggState`: the per-entity, per-feature state. Compactness is a headline metric, so:
//! - the enum is 24 bytes (asserted below): every inline payload is at most 16 bytes or a
//!   `Scalar` (whose spare niche bytes hold the tag);
//! - anything bigger (sketches, buffers, Welford triples) lives behind an `Option<Box<..>>`,
//!   allocated on the first update, so an entity whose events all fail `where` owns no heap;
//! - windowed states hold only the buckets that received events (see `window.rs`), and the
//!   sketch ops (`n_unique`, `quantile`, `top_k`) keep their first few events as such instead
//!   of a sketch per bucket (`Recent`, decision 0012).

use crate::ops::buffer::Ring;
use crate::ops::count::RatioCounts;
use crate::ops::decay::{Decayed, EwMoments};
use crate::ops::distinct::Categories;
use crate::ops::geo::Geo;
use crate::ops::histogram::{Mix, Seasonal};
use crate::ops::moments::{SumCount, Welford};
use crate::ops::recency::RecentTimes;
use crate::ops::streak::Runs;
use crate::ops::velocity::{Burst, Motion};
use crate::scalar::Scalar;
use crate::window::{Buckets, Recent};
use model::TimestampMs;
use sketch::{DistinctCount, QuantileSketch, TopK};

/// Opaque state of one aggregation for one entity. Built by `AggSpec::new_state`, updated by
/// `AggSpec::apply`, read by `AggSpec::read`; only meaningful with the spec that built it.
#[derive(Clone, Debug)]
pub struct AggState(pub(crate) State);

#[derive(Clone, Debug)]
pub(crate) enum State {
    // ---- lifetime ----
    /// `count`, `streak`, `negative_streak`; `bloom_member` (0 or 1: see `state_is_compact`).
    Counter(u64),
    /// `max_streak`.
    Runs(Runs),
    Ratio(RatioCounts),
    /// `sum`, `mean`.
    Sum(SumCount),
    /// `var`, `std`.
    Moments(Option<Box<Welford>>),
    /// `min`, `max`, `first`, `last`.
    Value(Option<Scalar>),
    /// `first_seen`, `last_seen`, `age`, `has_seen`, `time_since`, `first_seen_in_window`
    /// (`recency::NEVER` until a match).
    Time(TimestampMs),
    TimesRecent(Option<Box<RecentTimes>>),
    /// `decayed_sum`, `decayed_count`, `ewma` (one variant: see `state_is_compact`).
    Decayed(Decayed),
    /// `ewvar`, `ew_zscore`.
    EwMoments(Option<Box<EwMoments>>),
    Distinct(Option<Box<DistinctCount>>),
    Quantile(Option<Box<QuantileSketch>>),
    TopK(Option<Box<TopK<Scalar>>>),
    Categories(Option<Box<Categories>>),
    Burst(Burst),
    /// `first_n`, `last_n`, `most_recent_n`, `lag`, `reservoir_sample`.
    Ring(Option<Box<Ring>>),
    /// `twa`, `rate_of_change`, `inter_arrival_stats`, `delta_from_prev`, `trend`,
    /// `trend_residual`, `outlier_count`, `value_change_count`, `z_score`.
    Motion(Option<Box<Motion>>),
    /// `histogram`, `hour_of_day_histogram`, `dow_hour_histogram`.
    Bins(Option<Box<[u64]>>),
    Seasonal(Option<Box<Seasonal>>),
    Mix(Option<Box<Mix>>),
    Geo(Option<Box<Geo>>),
    // ---- windowed (one variant per bucket type) ----
    CountW(Buckets<u64>),
    RatioW(Buckets<RatioCounts>),
    SumW(Buckets<SumCount>),
    MomentsW(Buckets<Welford>),
    ValueW(Buckets<Option<Scalar>>),
    DistinctW(Buckets<DistinctCount>),
    QuantileW(Buckets<QuantileSketch>),
    TopKW(Buckets<TopK<Scalar>>),
    CategoriesW(Buckets<Categories>),
    // ---- windowed, while there are at most `RECENT_EVENTS_MAX` events (then the op's
    // bucketed variant above) ----
    /// `n_unique` (each value's hash) and `quantile` (each finite value's IEEE-754 bits).
    FewWordsW(Recent<u64>),
    /// `top_k` (each item).
    FewItemsW(Recent<Scalar>),
}

fn boxed_heap<T>(b: &Option<Box<T>>, inner: impl Fn(&T) -> usize) -> usize {
    b.as_ref()
        .map_or(0, |b| std::mem::size_of::<T>() + inner(b))
}

fn recent_heap<I>(r: &Recent<I>, inner: impl Fn(&I) -> usize) -> usize {
    r.events_heap_bytes() + r.events().iter().map(|(_, i)| inner(i)).sum::<usize>()
}

fn buckets_heap<T>(b: &Buckets<T>, inner: impl Fn(&T) -> usize) -> usize {
    b.slots_heap_bytes() + b.slots().iter().map(|(_, s)| inner(s)).sum::<usize>()
}

impl AggState {
    /// Heap bytes owned by this state (excluding `size_of::<AggState>()` itself).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            State::Counter(_)
            | State::Runs(_)
            | State::Ratio(_)
            | State::Sum(_)
            | State::Time(_)
            | State::Decayed(_)
            | State::Burst(_) => 0,
            State::Ring(b) => boxed_heap(b, Ring::heap_bytes),
            State::Motion(b) => boxed_heap(b, Motion::heap_bytes),
            State::Bins(b) => b.as_ref().map_or(0, |b| std::mem::size_of_val::<[u64]>(b)),
            State::Seasonal(b) => boxed_heap(b, |_| 0),
            State::Mix(b) => boxed_heap(b, Mix::heap_bytes),
            State::Geo(b) => boxed_heap(b, Geo::heap_bytes),
            State::Moments(b) => boxed_heap(b, |_| 0),
            State::EwMoments(b) => boxed_heap(b, |_| 0),
            State::Value(v) => v.as_ref().map_or(0, Scalar::heap_bytes),
            State::TimesRecent(b) => boxed_heap(b, RecentTimes::heap_bytes),
            State::Distinct(b) => boxed_heap(b, DistinctCount::heap_bytes),
            State::Quantile(b) => boxed_heap(b, QuantileSketch::heap_bytes),
            State::TopK(b) => boxed_heap(b, TopK::heap_bytes),
            State::Categories(b) => boxed_heap(b, Categories::heap_bytes),
            State::CountW(b) => buckets_heap(b, |_| 0),
            State::RatioW(b) => buckets_heap(b, |_| 0),
            State::SumW(b) => buckets_heap(b, |_| 0),
            State::MomentsW(b) => buckets_heap(b, |_| 0),
            State::ValueW(b) => buckets_heap(b, |v| v.as_ref().map_or(0, Scalar::heap_bytes)),
            State::DistinctW(b) => buckets_heap(b, DistinctCount::heap_bytes),
            State::QuantileW(b) => buckets_heap(b, QuantileSketch::heap_bytes),
            State::TopKW(b) => buckets_heap(b, TopK::heap_bytes),
            State::CategoriesW(b) => buckets_heap(b, Categories::heap_bytes),
            State::FewWordsW(r) => recent_heap(r, |_| 0),
            State::FewItemsW(r) => recent_heap(r, Scalar::heap_bytes),
        }
    }
}

/// How deep [`AggState::prefetch`] hints: the state's own heap block, or the summary a bucket
/// in that block points to (finding its address needs the block in cache: hint `Block` first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefetchDepth {
    Block,
    Inner,
}

fn boxed_line<T>(b: &Option<Box<T>>) {
    if let Some(b) = b {
        sketch::prefetch::line(&**b);
    }
}

/// The newest bucket: the one an event in the current epoch updates.
fn newest_line<T>(b: &Buckets<T>) {
    if let Some(newest) = b.slots().last() {
        sketch::prefetch::line(newest);
    }
}

fn newest_inner<T>(b: &Buckets<T>, inner: impl Fn(&T)) {
    if let Some((_, newest)) = b.slots().last() {
        inner(newest);
    }
}

impl AggState {
    /// Hints the memory an update of this state will read (see `sketch::prefetch`); changes
    /// nothing observable.
    #[inline]
    pub fn prefetch(&self, depth: PrefetchDepth) {
        match depth {
            PrefetchDepth::Block => self.prefetch_block(),
            PrefetchDepth::Inner => self.prefetch_inner(),
        }
    }

    fn prefetch_block(&self) {
        match &self.0 {
            State::Counter(_)
            | State::Runs(_)
            | State::Ratio(_)
            | State::Sum(_)
            | State::Time(_)
            | State::Decayed(_)
            | State::Burst(_)
            | State::Value(_) => {}
            State::Ring(b) => boxed_line(b),
            State::Motion(b) => boxed_line(b),
            State::Bins(b) => {
                if let Some(b) = b {
                    sketch::prefetch::slice(b);
                }
            }
            State::Seasonal(b) => boxed_line(b),
            State::Mix(b) => boxed_line(b),
            State::Geo(b) => boxed_line(b),
            State::Moments(b) => boxed_line(b),
            State::EwMoments(b) => boxed_line(b),
            State::TimesRecent(b) => boxed_line(b),
            State::Distinct(b) => boxed_line(b),
            State::Quantile(b) => boxed_line(b),
            State::TopK(b) => boxed_line(b),
            State::Categories(b) => boxed_line(b),
            State::CountW(b) => newest_line(b),
            State::RatioW(b) => newest_line(b),
            State::SumW(b) => newest_line(b),
            State::MomentsW(b) => newest_line(b),
            State::ValueW(b) => newest_line(b),
            State::DistinctW(b) => newest_line(b),
            State::QuantileW(b) => newest_line(b),
            State::TopKW(b) => newest_line(b),
            State::CategoriesW(b) => newest_line(b),
            State::FewWordsW(r) => sketch::prefetch::slice(r.events()),
            State::FewItemsW(r) => sketch::prefetch::slice(r.events()),
        }
    }

    fn prefetch_inner(&self) {
        match &self.0 {
            State::Distinct(Some(b)) => b.prefetch_heap(),
            State::Quantile(Some(b)) => b.prefetch_heap(),
            State::TopK(Some(b)) => b.prefetch_heap(),
            State::DistinctW(b) => newest_inner(b, DistinctCount::prefetch_heap),
            State::QuantileW(b) => newest_inner(b, QuantileSketch::prefetch_heap),
            State::TopKW(b) => newest_inner(b, TopK::prefetch_heap),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// The tag lives in spare values of a `Scalar`'s last byte: 32 variants fit, 33 do not.
    fn state_is_compact() {
        assert_eq!(std::mem::size_of::<AggState>(), 24);
    }
}
