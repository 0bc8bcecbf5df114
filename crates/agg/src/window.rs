//! Processing-time windows (beava-compat §6.1): 64 lazily allocated sub-buckets, merged at read.
//!
//! `bucket_ms = ceil(window_ms / 64)`; an event at `t` lands in the bucket with epoch
//! `floor(t / bucket_ms) * bucket_ms`; at query time `q` a bucket is active iff
//! `0 <= q - epoch < window_ms`.
//!
//! Storage is a boxed slice of `(epoch, state)` sorted oldest first, holding only buckets that
//! received an update: a typical entity has one or two. Queries never run earlier than the last
//! applied event (`q >= t`), so a bucket with `t - epoch >= window_ms` can never be active again;
//! it is freed as soon as a newer bucket is opened. That keeps every state within
//! `ceil(window_ms / bucket_ms) <= 64` buckets, so beava's "evict the oldest of 65" rule is never
//! needed here (asserted in debug builds).

pub use crate::duration::parse_duration_ms;

use model::limits::WINDOW_BUCKETS;
use model::TimestampMs;
use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets freed by all windowed states of this process (expired, freed when a newer bucket
/// opens). Exported as `beava_bucket_reclaim_total`. Note: beava counts only its over-64
/// evictions, which weir never needs because it frees expired buckets first.
static BUCKET_RECLAIMS: AtomicU64 = AtomicU64::new(0);

/// Total buckets reclaimed since process start (monotonic; for `/metrics`).
pub fn bucket_reclaims_total() -> u64 {
    BUCKET_RECLAIMS.load(Ordering::Relaxed)
}

/// Window geometry, fixed at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    pub window_ms: i64,
    pub bucket_ms: i64,
}

impl WindowSpec {
    /// `window_ms` comes from [`parse_duration_ms`], so it is in `1..=i64::MAX`.
    pub fn new(window_ms: u64) -> WindowSpec {
        let window_ms = i64::try_from(window_ms).unwrap_or(i64::MAX).max(1);
        let buckets = WINDOW_BUCKETS as i64;
        let bucket_ms = window_ms / buckets + i64::from(window_ms % buckets != 0);
        WindowSpec {
            window_ms,
            bucket_ms,
        }
    }

    pub fn epoch(&self, t: TimestampMs) -> TimestampMs {
        t.div_euclid(self.bucket_ms) * self.bucket_ms
    }

    /// §6.1 activity rule.
    pub fn is_active(&self, epoch: TimestampMs, query_ms: TimestampMs) -> bool {
        let age = query_ms.saturating_sub(epoch);
        (0..self.window_ms).contains(&age)
    }
}

/// Sub-bucket states of one windowed aggregation, oldest first.
#[derive(Clone, Debug)]
pub struct Buckets<T> {
    slots: Box<[(TimestampMs, T)]>,
}

impl<T> Default for Buckets<T> {
    fn default() -> Self {
        Buckets {
            slots: Box::new([]),
        }
    }
}

impl<T> Buckets<T> {
    /// The bucket for an event at `now_ms`, opened with `open` if the entity has none yet.
    /// Opening a bucket frees the buckets that can no longer be active. `None` when the event is
    /// older than the window of the newest event seen (only if the clock stepped backwards): no
    /// query can see it, so it is dropped.
    pub fn bucket_mut(
        &mut self,
        spec: &WindowSpec,
        now_ms: TimestampMs,
        open: impl FnOnce() -> T,
    ) -> Option<&mut T> {
        let epoch = spec.epoch(now_ms);
        // Hot path: the newest bucket is the current one.
        let n_slots = self.slots.len();
        if n_slots > 0 && self.slots[n_slots - 1].0 == epoch {
            return Some(&mut self.slots[n_slots - 1].1);
        }
        self.open_bucket(spec, now_ms, epoch, open)
    }

    #[cold]
    fn open_bucket(
        &mut self,
        spec: &WindowSpec,
        now_ms: TimestampMs,
        epoch: TimestampMs,
        open: impl FnOnce() -> T,
    ) -> Option<&mut T> {
        // Queries run at `q >= newest`, so anything `window_ms` older than it is dead.
        let newest = self.slots.last().map_or(now_ms, |s| s.0.max(now_ms));
        let alive = |e: TimestampMs| newest.saturating_sub(e) < spec.window_ms;
        if !alive(epoch) {
            return None;
        }
        // Slots are sorted by epoch and `alive` is monotonic in it: the dead ones are a prefix.
        let n_dead = self.slots.partition_point(|(e, _)| !alive(*e));
        if n_dead > 0 {
            BUCKET_RECLAIMS.fetch_add(n_dead as u64, Ordering::Relaxed);
        }
        let idx = match self.slots[n_dead..].binary_search_by_key(&epoch, |s| s.0) {
            Ok(idx) => {
                // The bucket exists (a late event): only free the dead ones.
                if n_dead > 0 {
                    let mut slots = std::mem::take(&mut self.slots).into_vec();
                    slots.drain(..n_dead);
                    self.slots = slots.into_boxed_slice();
                }
                idx
            }
            Err(idx) if n_dead == 1 => {
                // The common case, one bucket expiring as the next opens: reuse the dead slot in
                // place (no reallocation), rotated to the insertion point so order is kept.
                self.slots[..=idx].rotate_left(1);
                self.slots[idx] = (epoch, open());
                idx
            }
            Err(idx) => {
                let mut slots = std::mem::take(&mut self.slots).into_vec();
                slots.drain(..n_dead);
                // Grow by exactly one (a single reallocation, and `into_boxed_slice` then has
                // nothing to shrink): the slice stays exactly as long as the live buckets.
                if slots.len() == slots.capacity() {
                    slots.reserve_exact(1);
                }
                slots.insert(idx, (epoch, open()));
                self.slots = slots.into_boxed_slice();
                idx
            }
        };
        // Live epochs are multiples of `bucket_ms` within `(newest - window_ms, newest]`, and
        // `64 * bucket_ms >= window_ms`, so beava's "evict the oldest of 65" can never trigger.
        debug_assert!(self.slots.len() <= WINDOW_BUCKETS);
        Some(&mut self.slots[idx].1)
    }

    /// Bucket states active at `query_ms`, oldest first.
    pub fn active<'a>(
        &'a self,
        spec: &'a WindowSpec,
        query_ms: TimestampMs,
    ) -> impl Iterator<Item = &'a T> + 'a {
        self.slots
            .iter()
            .filter(move |(epoch, _)| spec.is_active(*epoch, query_ms))
            .map(|(_, state)| state)
    }

    /// Rebuilds buckets from `(epoch, state)` slots, oldest first (the state codec, which has
    /// checked that epochs increase, sit on the bucket grid and span less than the window).
    pub(crate) fn from_slots(slots: Box<[(TimestampMs, T)]>) -> Self {
        Buckets { slots }
    }

    /// All allocated buckets (active or not), oldest first.
    pub fn slots(&self) -> &[(TimestampMs, T)] {
        &self.slots
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Heap bytes of the slot array itself (per-bucket heap is added by the caller).
    pub fn slots_heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[(TimestampMs, T)]>(&self.slots)
    }
}

/// Most events a [`Recent`] state keeps before it becomes per-bucket summaries.
///
/// Every summary kept this way is exact up to far more events (1024 distinct items for
/// `top_k` and `n_unique`, 256 values for `quantile`), so reading the events directly gives
/// exactly what merging their buckets gives.
pub const RECENT_EVENTS_MAX: usize = 8;

/// The events of one windowed aggregation, in arrival order, kept instead of per-bucket
/// summaries while there are few of them (decision 0012).
///
/// A sketch bucket costs a slot and its own heap (a `top_k` bucket holding one item is ~80
/// bytes, a `quantile` or `n_unique` one ~40): an entity with two events in two buckets paid
/// for two sketches. Here each event costs `(time, input)` in one shared allocation. The same
/// expiry rule as [`Buckets::bucket_mut`] is applied event by event (an event whose bucket
/// could no longer be active is dropped; opening a newer bucket forgets the expired ones), so
/// replaying the kept events into buckets ([`Recent::replay`]) rebuilds every bucket a query
/// can see, and reading the active events directly agrees with merging those buckets.
#[derive(Clone, Debug)]
pub struct Recent<I> {
    events: Box<[(TimestampMs, I)]>,
}

impl<I> Default for Recent<I> {
    fn default() -> Self {
        Recent {
            events: Box::new([]),
        }
    }
}

impl<I> Recent<I> {
    /// Records an event at `now_ms`. `Err(input)` when the state already holds
    /// [`RECENT_EVENTS_MAX`] live events: the caller replays them into buckets and applies this
    /// one there.
    pub fn record(&mut self, spec: &WindowSpec, now_ms: TimestampMs, input: I) -> Result<(), I> {
        let epoch = spec.epoch(now_ms);
        let newest_epoch = self.events.iter().map(|(t, _)| spec.epoch(*t)).max();
        // As `Buckets::bucket_mut`: an event in the newest bucket expires nothing.
        if newest_epoch != Some(epoch) {
            let newest = newest_epoch.map_or(now_ms, |e| e.max(now_ms));
            let alive = |e: TimestampMs| newest.saturating_sub(e) < spec.window_ms;
            if !alive(epoch) {
                return Ok(());
            }
            if self.events.iter().any(|(t, _)| !alive(spec.epoch(*t))) {
                self.forget_expired(spec, alive);
            }
        }
        if self.events.len() >= RECENT_EVENTS_MAX {
            return Err(input);
        }
        let mut events = std::mem::take(&mut self.events).into_vec();
        events.reserve_exact(1);
        events.push((now_ms, input));
        self.events = events.into_boxed_slice();
        Ok(())
    }

    /// The buckets a full state becomes: its events replayed ([`Recent::replay`]), then the
    /// event [`Recent::record`] handed back.
    #[cold]
    pub fn promote<T>(
        &self,
        spec: &WindowSpec,
        now_ms: TimestampMs,
        input: I,
        open: impl Fn() -> T,
        apply: impl Fn(&mut T, &I),
    ) -> Buckets<T> {
        let mut buckets = self.replay(spec, &open, &apply);
        if let Some(state) = buckets.bucket_mut(spec, now_ms, &open) {
            apply(state, &input);
        }
        buckets
    }

    #[cold]
    fn forget_expired(&mut self, spec: &WindowSpec, alive: impl Fn(TimestampMs) -> bool) {
        let events = std::mem::take(&mut self.events).into_vec();
        // Each expired epoch is a bucket a bucketed state would have freed.
        let expired_epochs = (0..events.len())
            .filter(|&i| {
                let epoch = spec.epoch(events[i].0);
                !alive(epoch) && !events[..i].iter().any(|(t, _)| spec.epoch(*t) == epoch)
            })
            .count();
        BUCKET_RECLAIMS.fetch_add(expired_epochs as u64, Ordering::Relaxed);
        let mut events = events;
        events.retain(|(t, _)| alive(spec.epoch(*t)));
        self.events = events.into_boxed_slice();
    }

    /// The inputs of events whose bucket is active at `query_ms`, in arrival order.
    pub fn active<'a>(
        &'a self,
        spec: &'a WindowSpec,
        query_ms: TimestampMs,
    ) -> impl Iterator<Item = &'a I> + 'a {
        self.events
            .iter()
            .filter(move |(t, _)| spec.is_active(spec.epoch(*t), query_ms))
            .map(|(_, input)| input)
    }

    /// The per-bucket summaries these events make: what a bucketed state fed the same events
    /// would hold, for every bucket a query can still see.
    pub fn replay<T>(
        &self,
        spec: &WindowSpec,
        open: impl Fn() -> T,
        apply: impl Fn(&mut T, &I),
    ) -> Buckets<T> {
        let mut buckets = Buckets::default();
        for (t, input) in self.events.iter() {
            if let Some(state) = buckets.bucket_mut(spec, *t, &open) {
                apply(state, input);
            }
        }
        buckets
    }

    /// `(time, input)` of the kept events, in arrival order.
    pub fn events(&self) -> &[(TimestampMs, I)] {
        &self.events
    }

    /// Rebuilds a state from decoded events (the state codec has checked their number, times
    /// and span).
    pub(crate) fn from_events(events: Box<[(TimestampMs, I)]>) -> Self {
        Recent { events }
    }

    /// Heap bytes of the event array itself (heap owned by inputs is added by the caller).
    pub fn events_heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[(TimestampMs, I)]>(&self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_geometry_follows_ceil_rule() {
        assert_eq!(WindowSpec::new(1_000).bucket_ms, 16);
        assert_eq!(WindowSpec::new(64).bucket_ms, 1);
        assert_eq!(WindowSpec::new(1).bucket_ms, 1);
        assert_eq!(WindowSpec::new(300_000).bucket_ms, 4_688);
        let w = WindowSpec::new(3_600_000);
        assert_eq!(w.bucket_ms, 56_250);
        assert_eq!(w.epoch(56_249), 0);
        assert_eq!(w.epoch(56_250), 56_250);
        assert_eq!(w.epoch(-1), -56_250);
    }

    #[test]
    fn activity_is_half_open() {
        let w = WindowSpec::new(1_000);
        assert!(w.is_active(1_000, 1_000));
        assert!(w.is_active(1_000, 1_999));
        assert!(!w.is_active(1_000, 2_000));
        assert!(!w.is_active(1_000, 999));
    }

    #[test]
    fn same_bucket_reuses_the_slot() {
        let w = WindowSpec::new(1_000);
        let mut b: Buckets<u64> = Buckets::default();
        *b.bucket_mut(&w, 1_600, || 0).unwrap() += 1;
        *b.bucket_mut(&w, 1_615, || 0).unwrap() += 1;
        assert_eq!(b.slots(), &[(1_600, 2)]);
    }

    #[test]
    fn opening_a_bucket_frees_expired_ones() {
        let w = WindowSpec::new(1_000);
        let mut b: Buckets<u64> = Buckets::default();
        *b.bucket_mut(&w, 0, || 0).unwrap() += 1;
        *b.bucket_mut(&w, 500, || 0).unwrap() += 1;
        let before = bucket_reclaims_total();
        *b.bucket_mut(&w, 1_000, || 0).unwrap() += 1;
        assert!(bucket_reclaims_total() > before);
        assert_eq!(b.slots(), &[(496, 1), (992, 1)]);
        assert_eq!(b.active(&w, 1_000).copied().collect::<Vec<_>>(), vec![1, 1]);
        assert_eq!(b.active(&w, 1_496).copied().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn late_events_are_inserted_in_order_or_dropped_when_dead() {
        let w = WindowSpec::new(64);
        let mut b: Buckets<u64> = Buckets::default();
        for t in (0..64).rev() {
            *b.bucket_mut(&w, 1_000 + t, || 0).unwrap() += 1;
        }
        assert_eq!(b.len(), 64);
        assert!(b.slots().windows(2).all(|p| p[0].0 < p[1].0));
        // 64 ms before the newest event: no query can see it.
        assert!(b.bucket_mut(&w, 999, || 0).is_none());
        assert_eq!(b.len(), 64);
        // Opening a new bucket frees exactly the one that fell out of the window.
        *b.bucket_mut(&w, 1_064, || 0).unwrap() += 1;
        assert_eq!(b.len(), 64);
        assert_eq!(b.slots()[0].0, 1_001);
    }

    fn xorshift() -> impl FnMut() -> u64 {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Mostly small steps forward, sometimes a jump, sometimes a step back (late events).
    fn clock_step(next: &mut impl FnMut() -> u64, window_ms: u64) -> i64 {
        match next() % 16 {
            0 => (next() % (3 * window_ms)) as i64,
            1 | 2 => -((next() % window_ms) as i64),
            _ => (next() % (window_ms / 8 + 2)) as i64,
        }
    }

    /// A few-events state, promoted to buckets when full, against buckets from the first
    /// event: every bucket a query at or after the newest event can see holds the same events,
    /// and the few-events state's active inputs are exactly those.
    #[test]
    fn recent_events_agree_with_buckets() {
        let mut next = xorshift();
        for window_ms in [1, 64, 100, 1_000, 3_600] {
            let w = WindowSpec::new(window_ms);
            for _ in 0..300 {
                let mut direct: Buckets<Vec<u64>> = Buckets::default();
                let mut recent: Recent<u64> = Recent::default();
                let mut promoted: Option<Buckets<Vec<u64>>> = None;
                let mut now: TimestampMs = 10_000;
                let mut newest = now;
                for input in 0..(next() % 24) {
                    now += clock_step(&mut next, window_ms);
                    newest = newest.max(now);
                    if let Some(b) = direct.bucket_mut(&w, now, Vec::new) {
                        b.push(input);
                    }
                    match &mut promoted {
                        Some(b) => {
                            if let Some(b) = b.bucket_mut(&w, now, Vec::new) {
                                b.push(input);
                            }
                        }
                        None => {
                            if let Err(input) = recent.record(&w, now, input) {
                                assert_eq!(recent.events().len(), RECENT_EVENTS_MAX);
                                let mut b = recent.replay(&w, Vec::new, |b, i| b.push(*i));
                                if let Some(b) = b.bucket_mut(&w, now, Vec::new) {
                                    b.push(input);
                                }
                                promoted = Some(b);
                            }
                        }
                    }
                    for query in [newest, newest + window_ms as i64 / 2, newest + 2] {
                        let want: Vec<(TimestampMs, &Vec<u64>)> = direct
                            .slots()
                            .iter()
                            .filter(|(e, _)| w.is_active(*e, query))
                            .map(|(e, b)| (*e, b))
                            .collect();
                        let got_buckets = match &promoted {
                            Some(b) => b.clone(),
                            None => recent.replay(&w, Vec::new, |b, i| b.push(*i)),
                        };
                        let got: Vec<(TimestampMs, &Vec<u64>)> = got_buckets
                            .slots()
                            .iter()
                            .filter(|(e, _)| w.is_active(*e, query))
                            .map(|(e, b)| (*e, b))
                            .collect();
                        assert_eq!(got, want, "window {window_ms} query {query}");
                        if promoted.is_none() {
                            let mut got: Vec<u64> = recent.active(&w, query).copied().collect();
                            let mut want: Vec<u64> =
                                want.iter().flat_map(|(_, b)| b.iter().copied()).collect();
                            got.sort_unstable();
                            want.sort_unstable();
                            assert_eq!(got, want);
                        }
                    }
                }
            }
        }
    }

    /// The in-place reuse paths against the straightforward rule (drop every dead bucket, then
    /// insert in order), over pseudo-random clocks with jitter and occasional jumps.
    #[test]
    fn open_bucket_matches_the_reference_rule() {
        fn reference(
            slots: &mut Vec<(TimestampMs, u64)>,
            w: &WindowSpec,
            now: TimestampMs,
        ) -> Option<usize> {
            let epoch = w.epoch(now);
            if let Some(last) = slots.last() {
                if last.0 == epoch {
                    return Some(slots.len() - 1);
                }
            }
            let newest = slots.last().map_or(now, |s| s.0.max(now));
            let alive = |e: TimestampMs| newest.saturating_sub(e) < w.window_ms;
            if !alive(epoch) {
                return None;
            }
            slots.retain(|(e, _)| alive(*e));
            Some(match slots.binary_search_by_key(&epoch, |s| s.0) {
                Ok(idx) => idx,
                Err(idx) => {
                    slots.insert(idx, (epoch, 0));
                    idx
                }
            })
        }
        let mut next = xorshift();
        for window_ms in [1, 64, 100, 1_000, 3_600] {
            let w = WindowSpec::new(window_ms);
            let mut b: Buckets<u64> = Buckets::default();
            let mut r: Vec<(TimestampMs, u64)> = Vec::new();
            let mut now: TimestampMs = 10_000;
            for _ in 0..20_000 {
                now += clock_step(&mut next, window_ms);
                let got = b.bucket_mut(&w, now, || 0).map(|v| {
                    *v += 1;
                });
                let want = reference(&mut r, &w, now).map(|idx| {
                    r[idx].1 += 1;
                });
                assert_eq!(got, want);
                assert_eq!(b.slots(), r.as_slice());
                assert_eq!(b.slots_heap_bytes(), r.len() * 16);
            }
        }
    }
}
