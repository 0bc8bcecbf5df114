//! Distribution shapes: `histogram`, `hour_of_day_histogram`, `dow_hour_histogram`,
//! `seasonal_deviation`, `event_type_mix`. All lifetime (`window` is rejected).
//!
//! Object outputs list their keys in sorted order, as beava serialises them.
//! - `histogram`: bounds `[b0..bn]` make bins `"<b0"`, `"b0-b1"`, …, `">=bn"` (bounds printed
//!   like Rust `f64` Display: `10.0` → `"10"`); a value goes to the first bin whose upper bound
//!   exceeds it (bounds are not required to increase, as in beava). A `buckets` that is not an
//!   array makes one `"all"` bin. Only numeric values count.
//! - `hour_of_day_histogram`: 24 counts by UTC hour of the event's processing time.
//! - `dow_hour_histogram`: 168 counts keyed `"Mon-00"`…`"Sun-23"` (UTC).
//! - `seasonal_deviation`: z-score of the last value against the values seen in the same UTC
//!   hour (sample sd, the last value included); null below 2 values or when sd is 0.
//! - `event_type_mix`: share of each category among all counted values. Strings, integers and
//!   bools count (keyed `"5"`, `"true"`); floats and nested values are skipped (oracle).
//!   With `categories`, only those keys are reported; otherwise the first `max_categories`
//!   (default 256) distinct keys are. Values of unreported keys still count in the total.

use super::moments::Welford;
use super::velocity::z_of;
use compact_str::{format_compact, CompactString, ToCompactString};
use model::{TimestampMs, Value};

const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 86_400_000;
pub const HOURS: usize = 24;
pub const WEEK_HOURS: usize = 168;
/// Default `max_categories` of `event_type_mix` (and its cap: beava's 1024 category cap).
pub const MIX_CATEGORIES_DEFAULT: usize = 256;
pub const MIX_CATEGORIES_MAX: usize = 1024;

pub fn utc_hour(t: TimestampMs) -> usize {
    t.div_euclid(MS_PER_HOUR).rem_euclid(24) as usize
}

/// Hour of the week with Monday 00:00 UTC as 0 (1970-01-01 was a Thursday).
pub fn week_hour(t: TimestampMs) -> usize {
    let day = t.div_euclid(MS_PER_DAY);
    let dow = (day + 3).rem_euclid(7) as usize;
    dow * HOURS + utc_hour(t)
}

/// Compile-time layout of a `histogram`.
#[derive(Clone, Debug, PartialEq)]
pub struct BinLayout {
    /// Empty: a single `"all"` bin.
    pub bounds: Box<[f64]>,
    /// `(label, bin index)` sorted by label, for output.
    pub labels_sorted: Box<[(CompactString, usize)]>,
}

impl BinLayout {
    pub fn new(bounds: Option<Vec<f64>>) -> BinLayout {
        let bounds: Box<[f64]> = bounds.unwrap_or_default().into_boxed_slice();
        let mut labels: Vec<(CompactString, usize)> = if bounds.is_empty() {
            vec![(CompactString::const_new("all"), 0)]
        } else {
            let n = bounds.len();
            let mut labels = vec![(format_compact!("<{}", bounds[0]), 0)];
            for i in 1..n {
                labels.push((format_compact!("{}-{}", bounds[i - 1], bounds[i]), i));
            }
            labels.push((format_compact!(">={}", bounds[n - 1]), n));
            labels
        };
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        BinLayout {
            bounds,
            labels_sorted: labels.into_boxed_slice(),
        }
    }

    pub fn n_bins(&self) -> usize {
        self.bounds.len() + 1
    }

    pub fn bin_of(&self, x: f64) -> usize {
        match self.bounds.first() {
            None => 0,
            Some(first) if x < *first => 0,
            Some(_) => (1..self.bounds.len())
                .find(|&i| x < self.bounds[i])
                .unwrap_or(self.bounds.len()),
        }
    }

    pub fn read(&self, counts: Option<&[u64]>) -> Value {
        Value::Map(
            self.labels_sorted
                .iter()
                .map(|(label, idx)| {
                    let n = counts.and_then(|c| c.get(*idx)).copied().unwrap_or(0);
                    (label.clone(), count_value(n))
                })
                .collect(),
        )
    }
}

fn count_value(n: u64) -> Value {
    Value::I64(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Fresh zeroed counters.
pub fn new_counts(n: usize) -> Box<[u64]> {
    vec![0; n].into_boxed_slice()
}

pub fn read_hours(counts: Option<&[u64]>) -> Value {
    Value::List(
        (0..HOURS)
            .map(|h| count_value(counts.and_then(|c| c.get(h)).copied().unwrap_or(0)))
            .collect(),
    )
}

pub fn read_week_hours(counts: Option<&[u64]>) -> Value {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let mut entries: Vec<(CompactString, Value)> = (0..WEEK_HOURS)
        .map(|i| {
            let n = counts.and_then(|c| c.get(i)).copied().unwrap_or(0);
            (
                format_compact!("{}-{:02}", DAYS[i / HOURS], i % HOURS),
                count_value(n),
            )
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Map(entries)
}

/// `seasonal_deviation` state.
#[derive(Clone, Debug, Default)]
pub struct Seasonal {
    pub(crate) hours: [Welford; HOURS],
    pub(crate) last_x: f64,
    pub(crate) last_hour: u8,
}

impl Seasonal {
    pub fn add(&mut self, x: f64, now_ms: TimestampMs) {
        let h = utc_hour(now_ms);
        self.hours[h].add(x);
        self.last_x = x;
        self.last_hour = h as u8;
    }

    pub fn read(&self) -> Value {
        z_of(&self.hours[self.last_hour as usize], self.last_x)
    }
}

/// Compile-time params of `event_type_mix`.
#[derive(Clone, Debug, PartialEq)]
pub struct MixSpec {
    pub categories: Option<Box<[CompactString]>>,
    pub max_categories: usize,
}

/// `event_type_mix` state.
#[derive(Clone, Debug, Default)]
pub struct Mix {
    pub(crate) counts: Vec<(CompactString, u64)>,
    pub(crate) total: u64,
}

impl Mix {
    pub fn add(&mut self, value: &Value, spec: &MixSpec) {
        let int_key: CompactString;
        let key: &str = match value {
            Value::Str(s) => s.as_str(),
            Value::I64(i) => {
                int_key = i.to_compact_string();
                int_key.as_str()
            }
            Value::Bool(true) => "true",
            Value::Bool(false) => "false",
            _ => return,
        };
        self.total += 1;
        if let Some(slot) = self.counts.iter_mut().find(|(k, _)| k == key) {
            slot.1 += 1;
            return;
        }
        let admitted = match &spec.categories {
            Some(list) => list.iter().any(|c| c == key),
            None => self.counts.len() < spec.max_categories,
        };
        if admitted {
            self.counts.push((CompactString::from(key), 1));
        }
    }

    pub fn read(&self) -> Value {
        let mut entries: Vec<(CompactString, Value)> = self
            .counts
            .iter()
            .map(|(k, n)| (k.clone(), Value::F64(*n as f64 / self.total as f64)))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Map(entries)
    }

    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<(CompactString, u64)>()
            + self
                .counts
                .iter()
                .filter(|(k, _)| k.is_heap_allocated())
                .map(|(k, _)| k.capacity())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<String> {
        match v {
            Value::Map(entries) => entries.iter().map(|(k, _)| k.to_string()).collect(),
            _ => panic!(),
        }
    }

    #[test]
    fn bin_labels_and_placement() {
        let l = BinLayout::new(Some(vec![0.5, 10.0, 1e6]));
        assert_eq!(
            keys(&l.read(None)),
            ["0.5-10", "10-1000000", "<0.5", ">=1000000"]
        );
        assert_eq!(l.bin_of(0.25), 0);
        assert_eq!(l.bin_of(0.5), 1);
        assert_eq!(l.bin_of(10.0), 2);
        assert_eq!(l.bin_of(2e6), 3);
        let odd = BinLayout::new(Some(vec![3.0, 1.0]));
        assert_eq!(keys(&odd.read(None)), ["3-1", "<3", ">=1"]);
        assert_eq!(odd.bin_of(5.0), 2);
        assert_eq!(odd.bin_of(1.0), 0);
        let all = BinLayout::new(None);
        assert_eq!(keys(&all.read(None)), ["all"]);
    }

    #[test]
    fn calendar() {
        // 2026-11-21T10:xx UTC is a Saturday.
        let t = 1_795_255_866_744;
        assert_eq!(utc_hour(t), 10);
        assert_eq!(week_hour(t), 5 * 24 + 10);
        assert_eq!(week_hour(0), 3 * 24);
        let w = read_week_hours(None);
        let k = keys(&w);
        assert_eq!(k.len(), 168);
        assert_eq!(k[0], "Fri-00");
        assert_eq!(k[167], "Wed-23");
    }

    #[test]
    fn mix_reports_admitted_categories_over_all_values() {
        // Oracle ("t14"): categories ["a","b"] over a,c,b,c,d,a,a.
        let spec = MixSpec {
            categories: Some(vec!["a".into(), "b".into()].into_boxed_slice()),
            max_categories: MIX_CATEGORIES_DEFAULT,
        };
        let mut m = Mix::default();
        for s in ["a", "c", "b", "c", "d", "a", "a"] {
            m.add(&Value::str(s), &spec);
        }
        assert_eq!(
            m.read(),
            Value::Map(vec![
                ("a".into(), Value::F64(0.42857142857142855)),
                ("b".into(), Value::F64(0.14285714285714285)),
            ])
        );
    }
}
