//! `top_k`: exact counts for up to 1024 distinct items, then Count-Min + a heavy-hitter heap.
//!
//! Exact tier: entries `(hash, count, item)` sorted by hash (binary search, no `HashMap`);
//! capacity doubles from 1, so two items cost two entries of heap. The 1025th distinct item
//! promotes to a Count-Min sketch (4 × 2048, conservative update) plus a min-heap of the `k`
//! items with the highest estimated counts ("candidates"). An item not in the heap replaces
//! the heap minimum once its estimate exceeds it. Reported counts in sketch mode are Count-Min
//! estimates: never below the true count, usually equal for heavy hitters.
//!
//! Merging (window buckets) adds exact counts or Count-Min counters; the merged candidate set
//! is re-ranked from both sides' candidates against the merged Count-Min, so an item that was
//! not a candidate in any bucket cannot surface (the usual heavy-hitter trade-off).
//!
//! `heap_bytes` counts entry slots (`size_of::<T>()` each) but not heap owned *by* items;
//! `heap_bytes_with` adds that through a caller-supplied function.

use std::cmp::Ordering;

use crate::codec::{put_u64_fixed, put_u8, put_varint, Reader};
use crate::count_min::CountMin;
use crate::SketchError;

/// Largest number of distinct items counted exactly.
pub const TOP_K_EXACT_MAX: usize = 1024;
/// Largest accepted `k`.
pub const TOP_K_K_MAX: usize = 1024;

const VERSION: u8 = 1;
const TAG_EXACT: u8 = 0;
const TAG_SKETCH: u8 = 1;
/// Smallest encoded entry: 8-byte hash + 1-byte count + empty item.
const ENTRY_BYTES_MIN: usize = 9;

/// Mergeable heavy-hitters summary (`top_k`).
#[derive(Debug, Clone, PartialEq)]
pub struct TopK<T> {
    k: u16,
    repr: TopKRepr<T>,
}

#[derive(Debug, Clone, PartialEq)]
enum TopKRepr<T> {
    /// Sorted by hash; equal hashes (collisions) hold distinct items; `len() <= 1024`.
    Exact(Vec<Counted<T>>),
    Sketch(Box<HeavyHitters<T>>),
}

#[derive(Debug, Clone, PartialEq)]
struct Counted<T> {
    hash: u64,
    count: u64,
    item: T,
}

#[derive(Debug, Clone, PartialEq)]
struct HeavyHitters<T> {
    count_min: CountMin,
    /// Binary min-heap on `count`, at most `k` entries, items unique.
    candidates: Vec<Counted<T>>,
}

impl<T: Clone + Eq + std::hash::Hash> TopK<T> {
    /// An empty summary reporting the top `k`. Allocation-free.
    ///
    /// # Panics
    /// If `k` is outside `1..=1024`; the aggregation layer validates `k` at register time.
    pub fn new(k: usize) -> Self {
        assert!(k >= 1, "top_k k must be at least 1");
        assert!(k <= TOP_K_K_MAX, "top_k k must be at most {TOP_K_K_MAX}");
        TopK {
            k: k as u16,
            repr: TopKRepr::Exact(Vec::new()),
        }
    }

    /// The `k` this summary reports.
    pub fn k(&self) -> usize {
        usize::from(self.k)
    }

    /// True while counts are exact (no promotion to Count-Min yet).
    pub fn is_exact(&self) -> bool {
        matches!(self.repr, TopKRepr::Exact(_))
    }

    /// Counts one occurrence of `item`; `hash` is `hash_bytes` of its canonical encoding.
    pub fn insert(&mut self, item: &T, hash: u64) {
        let k = self.k();
        match &mut self.repr {
            TopKRepr::Exact(entries) => {
                if let Some(entry_idx) = find_exact(entries, item, hash) {
                    entries[entry_idx].count = entries[entry_idx].count.saturating_add(1);
                    return;
                }
                if entries.len() == TOP_K_EXACT_MAX {
                    let mut sketch = HeavyHitters::from_exact(std::mem::take(entries), k);
                    sketch.insert_weighted(item, hash, 1, k);
                    self.repr = TopKRepr::Sketch(sketch);
                    return;
                }
                if entries.len() == entries.capacity() {
                    entries.reserve_exact(entries.len().max(1));
                }
                let insert_idx = entries.partition_point(|entry| entry.hash <= hash);
                entries.insert(
                    insert_idx,
                    Counted {
                        hash,
                        count: 1,
                        item: item.clone(),
                    },
                );
            }
            TopKRepr::Sketch(sketch) => sketch.insert_weighted(item, hash, 1, k),
        }
    }

    /// Folds `other` (same `k`) in: exact counts add while the union fits, else sketches merge.
    pub fn merge(&mut self, other: &TopK<T>) {
        debug_assert_eq!(self.k, other.k, "merging top_k summaries with different k");
        let k = self.k();
        match (&mut self.repr, &other.repr) {
            (TopKRepr::Exact(entries), TopKRepr::Exact(other_entries)) => {
                if other_entries.is_empty() {
                    return;
                }
                let merged = merge_exact(std::mem::take(entries), other_entries);
                self.repr = if merged.len() > TOP_K_EXACT_MAX {
                    TopKRepr::Sketch(HeavyHitters::from_exact(merged, k))
                } else {
                    TopKRepr::Exact(merged)
                };
            }
            (TopKRepr::Exact(entries), TopKRepr::Sketch(other_sketch)) => {
                let mut sketch = other_sketch.clone();
                sketch.absorb_exact(std::mem::take(entries), k);
                self.repr = TopKRepr::Sketch(sketch);
            }
            (TopKRepr::Sketch(sketch), TopKRepr::Exact(other_entries)) => {
                sketch.absorb_exact(other_entries.clone(), k);
            }
            (TopKRepr::Sketch(sketch), TopKRepr::Sketch(other_sketch)) => {
                sketch.merge(other_sketch, k);
            }
        }
    }

    /// Up to `k` `(item, count)` pairs, count descending, ties by `tie_order` ascending.
    pub fn top(&self, tie_order: impl Fn(&T, &T) -> Ordering) -> Vec<(T, u64)> {
        let mut ranked: Vec<(&T, u64)> = match &self.repr {
            TopKRepr::Exact(entries) => entries.iter().map(|e| (&e.item, e.count)).collect(),
            // Heap counts can lag behind the Count-Min (conservative updates from other
            // items raise shared counters), so report the current estimate.
            TopKRepr::Sketch(sketch) => sketch
                .candidates
                .iter()
                .map(|e| (&e.item, sketch.count_min.estimate(e.hash).max(e.count)))
                .collect(),
        };
        ranked.sort_by(|left, right| {
            right
                .1
                .cmp(&left.1)
                .then_with(|| tie_order(left.0, right.0))
        });
        ranked.truncate(self.k());
        ranked
            .into_iter()
            .map(|(item, count)| (item.clone(), count))
            .collect()
    }

    /// Hints the heap an insert will read first (see [`crate::prefetch`]).
    #[inline]
    pub fn prefetch_heap(&self) {
        match &self.repr {
            TopKRepr::Exact(entries) => crate::prefetch::slice(entries),
            TopKRepr::Sketch(sketch) => crate::prefetch::line(&**sketch),
        }
    }

    /// Approximate heap bytes owned, excluding heap owned by the items themselves.
    pub fn heap_bytes(&self) -> usize {
        self.heap_bytes_with(|_| 0)
    }

    /// `heap_bytes` plus `item_heap_bytes` of every stored item (e.g. a string's buffer).
    pub fn heap_bytes_with(&self, item_heap_bytes: impl Fn(&T) -> usize) -> usize {
        let entry_bytes = std::mem::size_of::<Counted<T>>();
        match &self.repr {
            TopKRepr::Exact(entries) => {
                entries.capacity() * entry_bytes
                    + entries
                        .iter()
                        .map(|e| item_heap_bytes(&e.item))
                        .sum::<usize>()
            }
            TopKRepr::Sketch(sketch) => {
                std::mem::size_of::<HeavyHitters<T>>()
                    + sketch.count_min.heap_bytes()
                    + sketch.candidates.capacity() * entry_bytes
                    + sketch
                        .candidates
                        .iter()
                        .map(|e| item_heap_bytes(&e.item))
                        .sum::<usize>()
            }
        }
    }

    /// Layout: `[version=1][varint k][tag]` then tag 0 (exact): `[varint n][n × entry]`
    /// sorted by hash, or tag 1 (sketch): `[Count-Min][varint n][n × entry]` with n ≤ k;
    /// entry = `[u64 LE hash][varint count][item as written by encode_item]`.
    pub fn encode(&self, out: &mut Vec<u8>, encode_item: impl Fn(&T, &mut Vec<u8>)) {
        put_u8(out, VERSION);
        put_varint(out, u64::from(self.k));
        let entries = match &self.repr {
            TopKRepr::Exact(entries) => {
                put_u8(out, TAG_EXACT);
                entries
            }
            TopKRepr::Sketch(sketch) => {
                put_u8(out, TAG_SKETCH);
                sketch.count_min.encode(out);
                &sketch.candidates
            }
        };
        put_varint(out, entries.len() as u64);
        for entry in entries {
            put_u64_fixed(out, entry.hash);
            put_varint(out, entry.count);
            encode_item(&entry.item, out);
        }
    }

    /// Inverse of `encode`; `decode_item` returns an item and the bytes it consumed.
    pub fn decode(
        input: &[u8],
        decode_item: impl Fn(&[u8]) -> Result<(T, usize), SketchError>,
    ) -> Result<(Self, usize), SketchError> {
        let mut reader = Reader::new(input);
        reader.expect_version(VERSION)?;
        let k = reader.varint_max(TOP_K_K_MAX as u64, "top_k k too large")?;
        if k == 0 {
            return Err(SketchError::Invalid("top_k k is zero"));
        }
        let repr = match reader.u8()? {
            TAG_EXACT => {
                let entries = decode_entries(&mut reader, TOP_K_EXACT_MAX, &decode_item)?;
                if entries.windows(2).any(|pair| pair[0].hash > pair[1].hash) {
                    return Err(SketchError::Invalid("top_k entries not sorted by hash"));
                }
                TopKRepr::Exact(entries)
            }
            TAG_SKETCH => {
                let count_min = CountMin::decode(&mut reader)?;
                let candidates = decode_entries(&mut reader, k as usize, &decode_item)?;
                let mut sketch = HeavyHitters {
                    count_min,
                    candidates,
                };
                sketch.heapify();
                TopKRepr::Sketch(Box::new(sketch))
            }
            _ => return Err(SketchError::Invalid("unknown top_k tag")),
        };
        Ok((TopK { k: k as u16, repr }, reader.position()))
    }
}

impl<T: Clone + Eq> HeavyHitters<T> {
    /// Promotion: every exact count goes into the Count-Min; the heaviest `k` become candidates.
    fn from_exact(entries: Vec<Counted<T>>, k: usize) -> Box<Self> {
        let mut sketch = Box::new(HeavyHitters {
            count_min: CountMin::new(),
            candidates: Vec::new(),
        });
        sketch.absorb_exact(entries, k);
        sketch
    }

    fn insert_weighted(&mut self, item: &T, hash: u64, weight: u64, k: usize) {
        let estimate = self.count_min.add(hash, weight);
        let found = self
            .candidates
            .iter()
            .position(|c| c.hash == hash && c.item == *item);
        if let Some(candidate_idx) = found {
            self.candidates[candidate_idx].count = estimate;
            self.sift_down(candidate_idx);
        } else if self.candidates.len() < k {
            self.candidates.push(Counted {
                hash,
                count: estimate,
                item: item.clone(),
            });
            self.sift_up(self.candidates.len() - 1);
        } else if estimate > self.candidates[0].count {
            self.candidates[0] = Counted {
                hash,
                count: estimate,
                item: item.clone(),
            };
            self.sift_down(0);
        }
    }

    /// Adds exact counts to the Count-Min, then re-ranks old candidates plus the new items.
    fn absorb_exact(&mut self, mut entries: Vec<Counted<T>>, k: usize) {
        // Heaviest first: with conservative update, counters already raised by a heavy item
        // are not raised again by lighter ones, so heavy items keep near-exact estimates.
        entries.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.count));
        for entry in &entries {
            self.count_min.add(entry.hash, entry.count);
        }
        let mut pool = std::mem::take(&mut self.candidates);
        for entry in entries {
            if !pool
                .iter()
                .any(|c| c.hash == entry.hash && c.item == entry.item)
            {
                pool.push(entry);
            }
        }
        self.rerank(pool, k);
    }

    fn merge(&mut self, other: &HeavyHitters<T>, k: usize) {
        self.count_min.merge(&other.count_min);
        let mut pool = std::mem::take(&mut self.candidates);
        for candidate in &other.candidates {
            if !pool
                .iter()
                .any(|c| c.hash == candidate.hash && c.item == candidate.item)
            {
                pool.push(candidate.clone());
            }
        }
        self.rerank(pool, k);
    }

    /// Keeps the `k` items of `pool` with the highest current estimates, as the heap.
    fn rerank(&mut self, mut pool: Vec<Counted<T>>, k: usize) {
        for entry in pool.iter_mut() {
            entry.count = self.count_min.estimate(entry.hash);
        }
        if pool.len() > k {
            pool.select_nth_unstable_by(k - 1, |left, right| right.count.cmp(&left.count));
            pool.truncate(k);
        }
        pool.shrink_to_fit();
        self.candidates = pool;
        self.heapify();
    }

    fn heapify(&mut self) {
        for idx in (0..self.candidates.len() / 2).rev() {
            self.sift_down(idx);
        }
    }

    fn sift_up(&mut self, mut idx: usize) {
        while idx > 0 {
            let parent = (idx - 1) / 2;
            if self.candidates[parent].count <= self.candidates[idx].count {
                break;
            }
            self.candidates.swap(parent, idx);
            idx = parent;
        }
    }

    fn sift_down(&mut self, mut idx: usize) {
        let len = self.candidates.len();
        loop {
            let (left, right) = (2 * idx + 1, 2 * idx + 2);
            let mut smallest = idx;
            if left < len && self.candidates[left].count < self.candidates[smallest].count {
                smallest = left;
            }
            if right < len && self.candidates[right].count < self.candidates[smallest].count {
                smallest = right;
            }
            if smallest == idx {
                return;
            }
            self.candidates.swap(idx, smallest);
            idx = smallest;
        }
    }
}

fn find_exact<T: Eq>(entries: &[Counted<T>], item: &T, hash: u64) -> Option<usize> {
    let first = entries.partition_point(|entry| entry.hash < hash);
    entries[first..]
        .iter()
        .take_while(|entry| entry.hash == hash)
        .position(|entry| entry.item == *item)
        .map(|offset| first + offset)
}

/// Merge-join of two hash-sorted entry lists, adding counts of equal items.
fn merge_exact<T: Clone + Eq>(left: Vec<Counted<T>>, right: &[Counted<T>]) -> Vec<Counted<T>> {
    let mut merged: Vec<Counted<T>> = Vec::with_capacity(left.len() + right.len());
    let mut right_idx = 0;
    for entry in left {
        while right_idx < right.len() && right[right_idx].hash < entry.hash {
            merged.push(right[right_idx].clone());
            right_idx += 1;
        }
        merged.push(entry);
    }
    merged.extend_from_slice(&right[right_idx..]);
    // Equal hashes are now adjacent: fold equal items within each hash run.
    let mut folded: Vec<Counted<T>> = Vec::with_capacity(merged.len().next_power_of_two());
    let mut run_start = 0;
    for entry in merged {
        if folded.last().is_none_or(|last| last.hash != entry.hash) {
            run_start = folded.len();
        }
        match folded[run_start..]
            .iter_mut()
            .find(|existing| existing.item == entry.item)
        {
            Some(existing) => existing.count = existing.count.saturating_add(entry.count),
            None => folded.push(entry),
        }
    }
    if folded.len() <= TOP_K_EXACT_MAX {
        folded.shrink_to(folded.len().next_power_of_two());
    }
    folded
}

fn decode_entries<T: Eq>(
    reader: &mut Reader<'_>,
    len_max: usize,
    decode_item: &impl Fn(&[u8]) -> Result<(T, usize), SketchError>,
) -> Result<Vec<Counted<T>>, SketchError> {
    let len = reader.varint_max(len_max as u64, "top_k entry count too large")? as usize;
    if reader.remaining().len() < len * ENTRY_BYTES_MIN {
        return Err(SketchError::Truncated);
    }
    let mut entries = Vec::with_capacity(len.next_power_of_two().min(len_max));
    for _ in 0..len {
        let hash = reader.u64_fixed()?;
        let count = reader.varint()?;
        if count == 0 {
            return Err(SketchError::Invalid("top_k entry count is zero"));
        }
        let remaining = reader.remaining();
        let (item, consumed) = decode_item(remaining)?;
        if consumed > remaining.len() {
            return Err(SketchError::Invalid("item decoder overran its input"));
        }
        reader.skip(consumed)?;
        entries.push(Counted { hash, count, item });
    }
    // Reject duplicate items: sort indices by hash and compare within equal-hash runs.
    let mut by_hash: Vec<usize> = (0..entries.len()).collect();
    by_hash.sort_unstable_by_key(|&idx| entries[idx].hash);
    for (run_idx, &idx) in by_hash.iter().enumerate() {
        let duplicate = by_hash[run_idx + 1..]
            .iter()
            .take_while(|&&other| entries[other].hash == entries[idx].hash)
            .any(|&other| entries[other].item == entries[idx].item);
        if duplicate {
            return Err(SketchError::Invalid("top_k item appears twice"));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_bytes;

    fn insert_all(top: &mut TopK<u32>, items: &[u32]) {
        for item in items {
            top.insert(item, hash_bytes(&item.to_le_bytes()));
        }
    }

    fn encode_u32(item: &u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&item.to_le_bytes());
    }

    fn decode_u32(input: &[u8]) -> Result<(u32, usize), SketchError> {
        let bytes = input.get(..4).ok_or(SketchError::Truncated)?;
        Ok((
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            4,
        ))
    }

    fn round_trip(top: &TopK<u32>) -> TopK<u32> {
        let mut out = Vec::new();
        top.encode(&mut out, encode_u32);
        let (decoded, consumed) = TopK::decode(&out, decode_u32).expect("decodes");
        assert_eq!(consumed, out.len());
        decoded
    }

    #[test]
    fn exact_counts_sorted_with_ties_by_order() {
        let mut top = TopK::new(2);
        insert_all(&mut top, &[5, 3, 5, 3, 9, 1, 1, 1]);
        assert_eq!(top.top(u32::cmp), vec![(1, 3), (3, 2)]);
        assert_eq!(top.top(|a, b| b.cmp(a)), vec![(1, 3), (5, 2)]);
        assert_eq!(TopK::<u32>::new(3).top(u32::cmp), vec![]);
    }

    #[test]
    fn small_states_stay_small() {
        let mut top = TopK::new(10);
        assert_eq!(top.heap_bytes(), 0);
        insert_all(&mut top, &[1, 2, 2]);
        assert_eq!(top.heap_bytes(), 2 * std::mem::size_of::<Counted<u32>>());
    }

    #[test]
    fn hash_collisions_keep_items_apart() {
        let mut top = TopK::new(5);
        top.insert(&1u32, 42);
        top.insert(&2u32, 42);
        top.insert(&1u32, 42);
        assert_eq!(top.top(u32::cmp), vec![(1, 2), (2, 1)]);
        let mut other = TopK::new(5);
        other.insert(&2u32, 42);
        other.insert(&3u32, 42);
        top.merge(&other);
        assert_eq!(top.top(u32::cmp), vec![(1, 2), (2, 2), (3, 1)]);
        assert_eq!(round_trip(&top), top);
    }

    #[test]
    fn promotes_past_exact_cap_and_keeps_heavy_items() {
        let mut top = TopK::new(3);
        let heavy = [7u32, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9];
        insert_all(&mut top, &heavy);
        let light: Vec<u32> = (1000..2100).collect();
        insert_all(&mut top, &light);
        assert!(!top.is_exact());
        assert_eq!(top.top(u32::cmp), vec![(7, 5), (8, 4), (9, 3)]);
        assert_eq!(round_trip(&top), top);
    }

    #[test]
    fn merge_exact_into_sketch_both_ways() {
        let mut big = TopK::new(2);
        insert_all(&mut big, &(0..1500).collect::<Vec<u32>>());
        let mut small = TopK::new(2);
        // Count-1 items can read as 2 in a 1500-item Count-Min, so the heavy ones need margin.
        let mut heavy = vec![5000; 30];
        heavy.extend_from_slice(&[6000; 20]);
        insert_all(&mut small, &heavy);
        let mut small_into_big = big.clone();
        small_into_big.merge(&small);
        let mut big_into_small = small.clone();
        big_into_small.merge(&big);
        let expected = vec![(5000, 30), (6000, 20)];
        assert_eq!(small_into_big.top(u32::cmp), expected);
        assert_eq!(big_into_small.top(u32::cmp), expected);
    }

    #[test]
    fn decode_rejects_malformed() {
        assert_eq!(
            TopK::decode(&[3], decode_u32).err(),
            Some(SketchError::BadVersion(3))
        );
        assert!(matches!(
            TopK::decode(&[1, 0, 0, 0], decode_u32),
            Err(SketchError::Invalid(_))
        ));
        assert!(matches!(
            TopK::decode(&[1, 0x81, 0x08], decode_u32),
            Err(SketchError::Invalid(_))
        ));
        // Claims 1024 entries with no bytes behind them.
        assert_eq!(
            TopK::decode(&[1, 1, 0, 0x80, 0x08], decode_u32).err(),
            Some(SketchError::Truncated)
        );
        let mut duplicate = TopK::new(4);
        duplicate.insert(&1u32, 42);
        duplicate.insert(&2u32, 42);
        let mut out = Vec::new();
        duplicate.encode(&mut out, encode_u32);
        // Rewrite the second item to equal the first.
        let last = out.len() - 4;
        out[last..].copy_from_slice(&1u32.to_le_bytes());
        assert!(matches!(
            TopK::decode(&out, decode_u32),
            Err(SketchError::Invalid(_))
        ));
    }

    #[test]
    fn decode_rejects_overrunning_item_decoder() {
        let mut top = TopK::new(1);
        top.insert(&1u32, 1);
        let mut out = Vec::new();
        top.encode(&mut out, encode_u32);
        let lying = |_: &[u8]| Ok((0u32, 1_000));
        assert!(matches!(
            TopK::decode(&out, lying),
            Err(SketchError::Invalid(_))
        ));
    }
}
