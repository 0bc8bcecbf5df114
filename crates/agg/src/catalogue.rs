//! The operator catalogue (beava-compat §6.2): every op string beava accepts, with the register
//! rules that differ per op. `compile` and `governance_check` both read this table.

/// What `window` means for an op (§6.2 "Win" column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowRule {
    /// ✔ 64-bucket windowed; `"forever"` means lifetime.
    Buckets,
    /// ○ accepted (must still parse) and ignored: the op is lifetime.
    Ignored,
    /// ✘ any string `window` is `aggregation_invalid_window`.
    Rejected,
    /// `first_seen_in_window`: a duration (or `"forever"`) is required.
    Required,
    /// `bloom_member`: any string `window` is `window_not_supported`.
    Unsupported,
}

/// How `field` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldRule {
    /// A string `field` must name a column; absent is allowed (the op then never updates).
    Checked,
    /// A string `field` is required and must name a column.
    Required,
    /// Not validated: an unknown name registers fine and never matches (beava).
    Unchecked,
}

/// §7.3 lifetime memory-governance class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// O(1), bounded sketch, or bounded by a default cap.
    Bounded,
    /// Needs a positive integer `n`.
    NeedsN,
    /// Needs a positive integer `samples`.
    NeedsSamples,
    /// Needs a non-empty `buckets` array.
    NeedsBuckets,
}

#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    pub name: &'static str,
    pub window: WindowRule,
    pub field: FieldRule,
    pub bound: Bound,
}

const fn op(name: &'static str, window: WindowRule, field: FieldRule, bound: Bound) -> OpInfo {
    OpInfo {
        name,
        window,
        field,
        bound,
    }
}

use Bound::{Bounded, NeedsBuckets, NeedsN, NeedsSamples};
use FieldRule::{Checked, Required, Unchecked};
use WindowRule::{Buckets, Ignored, Rejected, Required as WindowRequired, Unsupported};

/// Every op string beava accepts (the §6.2 rows plus the `ema` alias), in §6.2 order.
pub const OPS: [OpInfo; 55] = [
    op("count", Buckets, Unchecked, Bounded),
    op("sum", Buckets, Checked, Bounded),
    op("mean", Buckets, Checked, Bounded),
    op("min", Buckets, Checked, Bounded),
    op("max", Buckets, Checked, Bounded),
    op("var", Buckets, Checked, Bounded),
    op("std", Buckets, Checked, Bounded),
    op("ratio", Buckets, Unchecked, Bounded),
    op("n_unique", Buckets, Checked, Bounded),
    op("quantile", Buckets, Checked, Bounded),
    op("top_k", Buckets, Checked, Bounded),
    op("bloom_member", Unsupported, Checked, Bounded),
    op("entropy", Buckets, Checked, Bounded),
    op("first", Rejected, Required, Bounded),
    op("last", Rejected, Required, Bounded),
    op("first_n", Rejected, Required, NeedsN),
    op("last_n", Rejected, Required, NeedsN),
    op("lag", Rejected, Required, NeedsN),
    op("first_seen", Rejected, Unchecked, Bounded),
    op("last_seen", Rejected, Unchecked, Bounded),
    op("age", Rejected, Unchecked, Bounded),
    op("has_seen", Rejected, Unchecked, Bounded),
    op("time_since", Rejected, Unchecked, Bounded),
    op("time_since_last_n", Rejected, Unchecked, NeedsN),
    op("streak", Rejected, Unchecked, Bounded),
    op("max_streak", Rejected, Unchecked, Bounded),
    op("negative_streak", Rejected, Unchecked, Bounded),
    op("first_seen_in_window", WindowRequired, Unchecked, Bounded),
    op("ewma", Ignored, Checked, Bounded),
    op("ema", Ignored, Checked, Bounded),
    op("ewvar", Ignored, Checked, Bounded),
    op("ew_zscore", Ignored, Checked, Bounded),
    op("decayed_sum", Ignored, Checked, Bounded),
    op("decayed_count", Ignored, Unchecked, Bounded),
    op("twa", Ignored, Checked, Bounded),
    op("rate_of_change", Ignored, Checked, Bounded),
    op("inter_arrival_stats", Ignored, Unchecked, Bounded),
    op("burst_count", Ignored, Unchecked, Bounded),
    op("delta_from_prev", Ignored, Checked, Bounded),
    op("trend", Ignored, Checked, Bounded),
    op("trend_residual", Ignored, Checked, Bounded),
    op("outlier_count", Ignored, Checked, Bounded),
    op("value_change_count", Ignored, Checked, Bounded),
    op("z_score", Ignored, Checked, Bounded),
    op("histogram", Rejected, Unchecked, NeedsBuckets),
    op("hour_of_day_histogram", Rejected, Unchecked, Bounded),
    op("dow_hour_histogram", Rejected, Unchecked, Bounded),
    op("seasonal_deviation", Rejected, Unchecked, Bounded),
    op("event_type_mix", Rejected, Unchecked, Bounded),
    op("most_recent_n", Rejected, Unchecked, NeedsN),
    op("reservoir_sample", Rejected, Unchecked, NeedsSamples),
    op("geo_velocity", Rejected, Unchecked, Bounded),
    op("geo_distance", Rejected, Unchecked, Bounded),
    op("geo_spread", Rejected, Unchecked, Bounded),
    op("distance_from_home", Rejected, Unchecked, Bounded),
];

pub fn lookup(name: &str) -> Option<&'static OpInfo> {
    OPS.iter().find(|info| info.name == name)
}

/// All op strings, comma separated (for error reasons).
pub fn names() -> String {
    OPS.iter()
        .map(|info| info.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_complete() {
        let mut names: Vec<_> = OPS.iter().map(|o| o.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 55);
        let windowed = OPS
            .iter()
            .filter(|o| o.window == WindowRule::Buckets)
            .count();
        assert_eq!(windowed, 12);
    }
}
