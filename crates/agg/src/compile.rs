//! `compile`: validates one aggregation's raw params against the row schema and builds its
//! immutable `AggSpec`, reporting the first problem with beava's code, path and reason.
//!
//! Check order is beava's (oracle-verified), which matters when several params are wrong:
//! 1. op known (else `aggregation_unknown_op`);
//! 2. `half_life` (decay ops) / `sub_window` (`burst_count`) — `invalid_registration`;
//! 3. `field` required / must exist — `aggregation_unknown_field`;
//! 4. op params: `n` (`aggregation_unknown_field`), `k` (`invalid_top_k_k`),
//!    `q` (`invalid_percentile_q`);
//! 5. `window` — `aggregation_invalid_window` / `window_not_supported`;
//! 6. `most_recent_n`'s `n` / `reservoir_sample`'s `samples` (`aggregation_unknown_field`;
//!    reachable only with governance off), bloom `target_fpr`/`fpr` (`invalid_bloom_fpr`).
//!
//! Params beava does not validate (`sigma`, `buckets` contents, `categories`,
//! `max_categories`, `samples` of `distance_from_home`, `lat_field`/`lon_field`, `expected_n`)
//! are accepted as beava accepts them.
//!
//! The `where` param is not looked at: the engine compiles and evaluates it.

// `model::RegisterError` is the API's error type (136 bytes); registration is a cold path.
#![allow(clippy::result_large_err)]

use crate::catalogue::{self, FieldRule, OpInfo, WindowRule};
use crate::duration::parse_duration_ms;
use crate::ops::histogram::{self, BinLayout, MixSpec};
use crate::ops::{bloom, decay, geo, quantile, top_k, velocity};
use crate::params::{
    f64_list_param, f64_param, str_list_param, str_param, u64_param, ErrorPath, Params,
};
use crate::spec::{AggSpec, Op};
use crate::window::WindowSpec;
use compact_str::CompactString;
use model::limits::OP_N_MAX;
use model::{RegisterError, RowSchema};
use serde_json::Value as Json;

/// Where an aggregation sits, for resolving `field` and reporting errors.
#[derive(Clone, Copy, Debug)]
pub struct CompileContext<'a> {
    /// Feature (output column) name.
    pub feature: &'a str,
    /// JSON-ish path of the aggregation, e.g. `nodes[1].ops[0].agg.fail_rate`; params append
    /// `.params.<name>`, an unknown op `.op`.
    pub path: &'a str,
    /// The row the aggregation sees (after the prefix chain).
    pub schema: &'a RowSchema,
}

/// The resolved `window` param.
enum Window {
    Lifetime,
    Buckets(WindowSpec),
    /// `first_seen_in_window`: `None` is `"forever"`.
    Horizon(Option<i64>),
}

/// Validates params and builds the spec. Ignores the `where` key.
pub fn compile(op: &str, params: &Params, ctx: &CompileContext) -> Result<AggSpec, RegisterError> {
    let path = ErrorPath(ctx.path);
    let Some(info) = catalogue::lookup(op) else {
        return Err(RegisterError::new(
            "aggregation_unknown_op",
            path.op(),
            format!(
                "unknown aggregation op '{op}'; valid ops are: {}",
                catalogue::names()
            ),
        ));
    };
    let rate_per_ms = match half_life_owner(op) {
        Some(owner) => Some(decay::rate_per_ms(half_life(params, owner, path)?)),
        None => None,
    };
    let sub_window_ms = if op == "burst_count" {
        Some(sub_window(params, path)?)
    } else {
        None
    };
    let (field_name, slot) = resolve_field(info, params, ctx, path)?;
    let n = if needs_n(op) {
        Some(n_param(op, params, path)?)
    } else {
        None
    };
    let k = match u64_param(params, "k") {
        Some(k) if op == "top_k" => {
            if k == 0 || k > OP_N_MAX as u64 {
                return Err(path.error(
                    "invalid_top_k_k",
                    "k",
                    format!("top_k k must be in (0, {OP_N_MAX}]; got {k}"),
                ));
            }
            k as usize
        }
        _ => top_k::K_DEFAULT,
    };
    let q = match f64_param(params, "q") {
        Some(q) if op == "quantile" => {
            if !(q > 0.0 && q < 1.0) {
                return Err(path.error(
                    "invalid_percentile_q",
                    "q",
                    format!("percentile q must be in (0.0, 1.0); got {q}"),
                ));
            }
            q
        }
        _ => quantile::Q_DEFAULT,
    };
    let window_raw = str_param(params, "window");
    let window = resolve_window(op, info, window_raw, path)?;
    let capacity = match op {
        "most_recent_n" => Some(capacity_param(op, params, "n", path)?),
        "reservoir_sample" => Some(capacity_param(op, params, "samples", path)?),
        _ => None,
    };
    if op == "bloom_member" {
        check_bloom_fpr(params, path)?;
    }

    let rate = rate_per_ms.unwrap_or(0.0);
    let n = n.unwrap_or(1);
    let op_kind = match op {
        "count" => Op::Count,
        "sum" => Op::Sum,
        "mean" => Op::Mean,
        "var" => Op::Var,
        "std" => Op::Std,
        "min" => Op::Min,
        "max" => Op::Max,
        "ratio" => Op::Ratio,
        "n_unique" => Op::NUnique,
        "quantile" => Op::Quantile { q },
        "top_k" => Op::TopK { k },
        "entropy" => Op::Entropy,
        "first" => Op::First,
        "last" => Op::Last,
        "first_seen" => Op::FirstSeen,
        "last_seen" => Op::LastSeen,
        "age" => Op::Age,
        "has_seen" => Op::HasSeen,
        "time_since" => Op::TimeSince,
        "time_since_last_n" => Op::TimeSinceLastN { n },
        "streak" => Op::Streak,
        "max_streak" => Op::MaxStreak,
        "negative_streak" => Op::NegativeStreak,
        "first_seen_in_window" => Op::FirstSeenInWindow {
            window_ms: match window {
                Window::Horizon(h) => h,
                _ => None,
            },
        },
        "ewma" | "ema" => Op::Ewma { rate_per_ms: rate },
        "ewvar" => Op::EwVar { rate_per_ms: rate },
        "ew_zscore" => Op::EwZScore { rate_per_ms: rate },
        "decayed_sum" => Op::DecayedSum { rate_per_ms: rate },
        "decayed_count" => Op::DecayedCount { rate_per_ms: rate },
        "first_n" => Op::FirstN { n },
        "last_n" => Op::LastN { n },
        "most_recent_n" => Op::LastN {
            n: capacity.unwrap_or(1),
        },
        "lag" => Op::Lag { n },
        "reservoir_sample" => Op::ReservoirSample {
            n: capacity.unwrap_or(1),
        },
        "twa" => Op::Twa,
        "rate_of_change" => Op::RateOfChange,
        "inter_arrival_stats" => Op::InterArrivalStats,
        "burst_count" => Op::BurstCount {
            sub_window_ms: sub_window_ms.unwrap_or(1),
        },
        "delta_from_prev" => Op::DeltaFromPrev,
        "trend" => Op::Trend,
        "trend_residual" => Op::TrendResidual,
        "outlier_count" => Op::OutlierCount {
            sigma: f64_param(params, "sigma").unwrap_or(velocity::SIGMA_DEFAULT),
        },
        "value_change_count" => Op::ValueChangeCount,
        "z_score" => Op::ZScore,
        "histogram" => Op::Histogram(Box::new(BinLayout::new(f64_list_param(params, "buckets")))),
        "hour_of_day_histogram" => Op::HourOfDayHistogram,
        "dow_hour_histogram" => Op::DowHourHistogram,
        "seasonal_deviation" => Op::SeasonalDeviation,
        "event_type_mix" => Op::EventTypeMix(Box::new(MixSpec {
            categories: str_list_param(params, "categories")
                .map(|c| c.iter().map(CompactString::from).collect()),
            max_categories: u64_param(params, "max_categories")
                .map_or(histogram::MIX_CATEGORIES_DEFAULT, |n| {
                    (n as usize).min(histogram::MIX_CATEGORIES_MAX)
                }),
        })),
        "geo_velocity" => Op::GeoVelocity,
        "geo_distance" => Op::GeoDistance,
        "geo_spread" => Op::GeoSpread,
        "distance_from_home" => Op::DistanceFromHome {
            samples: u64_param(params, "samples")
                .map_or(geo::HOME_SAMPLES_DEFAULT, |n| (n as usize).min(OP_N_MAX)),
        },
        "bloom_member" => Op::BloomMember,
        _ => unreachable!("the catalogue and this match list the same ops"),
    };
    let (slot, slot_lon) = if op.starts_with("geo_") || op == "distance_from_home" {
        let lat = str_param(params, "lat_field")
            .or_else(|| str_param(params, "lat"))
            .unwrap_or("lat");
        let lon = str_param(params, "lon_field")
            .or_else(|| str_param(params, "lon"))
            .unwrap_or("lon");
        (ctx.schema.slot_of(lat), ctx.schema.slot_of(lon))
    } else {
        (slot.filter(|_| field_name.is_some()), None)
    };
    Ok(AggSpec {
        op_name: CompactString::from(op),
        window_raw: window_raw.map(CompactString::from),
        field_name: str_param(params, "field").map(CompactString::from),
        slot,
        slot_lon,
        window: match window {
            Window::Buckets(w) => Some(w),
            _ => None,
        },
        op: op_kind,
    })
}

/// The name beava uses for a decay op in its `half_life` error (`None`: no `half_life`).
fn half_life_owner(op: &str) -> Option<&'static str> {
    Some(match op {
        "ewma" | "ema" => "Ewma",
        "ewvar" => "EwVar",
        "ew_zscore" => "EwZScore",
        "decayed_sum" => "DecayedSum",
        "decayed_count" => "DecayedCount",
        _ => return None,
    })
}

/// `half_life` must be a duration string (numbers and `"forever"` are refused, as in beava).
fn half_life(params: &Params, owner: &str, path: ErrorPath) -> Result<u64, RegisterError> {
    str_param(params, "half_life")
        .and_then(|s| parse_duration_ms(s).ok())
        .ok_or_else(|| {
            path.error(
                "invalid_registration",
                "half_life",
                format!(
                    "{owner} requires positive finite half_life duration string (e.g., \"5m\"); \
                     got None"
                ),
            )
        })
}

fn resolve_field<'p>(
    info: &OpInfo,
    params: &'p Params,
    ctx: &CompileContext,
    path: ErrorPath,
) -> Result<(Option<&'p str>, Option<usize>), RegisterError> {
    let name = str_param(params, "field");
    let exists = |name: &str| {
        ctx.schema.slot_of(name).ok_or_else(|| {
            path.error(
                "aggregation_unknown_field",
                "field",
                format!("field '{name}' does not exist in upstream schema"),
            )
        })
    };
    Ok(match (info.field, name) {
        (FieldRule::Required, None) => {
            return Err(path.error(
                "aggregation_unknown_field",
                "field",
                format!("op '{}' requires a field= parameter", info.name),
            ))
        }
        (FieldRule::Required | FieldRule::Checked, Some(name)) => (Some(name), Some(exists(name)?)),
        (FieldRule::Checked, None) => (None, None),
        (FieldRule::Unchecked, name) => (name, name.and_then(|n| ctx.schema.slot_of(n))),
    })
}

/// `burst_count`'s `sub_window`: a duration string.
fn sub_window(params: &Params, path: ErrorPath) -> Result<i64, RegisterError> {
    str_param(params, "sub_window")
        .and_then(|s| parse_duration_ms(s).ok())
        .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
        .ok_or_else(|| {
            path.error(
                "invalid_registration",
                "sub_window",
                "burst_count requires positive finite sub_window duration string".to_string(),
            )
        })
}

/// `most_recent_n`'s `n` / `reservoir_sample`'s `samples`: beava only requires a positive
/// integer (governance) and accepts any size; weir caps the buffer at 1024 values.
fn capacity_param(
    op: &str,
    params: &Params,
    name: &str,
    path: ErrorPath,
) -> Result<usize, RegisterError> {
    match u64_param(params, name) {
        Some(n) if n > 0 => Ok((n as usize).min(OP_N_MAX)),
        _ => Err(path.error(
            "aggregation_unknown_field",
            name,
            format!("op '{op}' requires a positive integer '{name}' parameter"),
        )),
    }
}

/// `target_fpr` (or its alias `fpr` when `target_fpr` is not a number) must be in (0, 1);
/// errors always name `target_fpr`, as beava does.
fn check_bloom_fpr(params: &Params, path: ErrorPath) -> Result<(), RegisterError> {
    let fpr = f64_param(params, "target_fpr")
        .or_else(|| f64_param(params, "fpr"))
        .unwrap_or(bloom::FPR_DEFAULT);
    if fpr > 0.0 && fpr < 1.0 {
        Ok(())
    } else {
        Err(path.error(
            "invalid_bloom_fpr",
            "target_fpr",
            format!("bloom_member fpr must be in (0.0, 1.0); got {fpr}"),
        ))
    }
}

/// Ops whose `n` compile validates (beava checks only these four at compile time).
fn needs_n(op: &str) -> bool {
    matches!(op, "first_n" | "last_n" | "lag" | "time_since_last_n")
}

fn n_param(op: &str, params: &Params, path: ErrorPath) -> Result<usize, RegisterError> {
    match params.get("n").and_then(Json::as_u64) {
        Some(n) if (1..=OP_N_MAX as u64).contains(&n) => Ok(n as usize),
        Some(n) => Err(path.error(
            "aggregation_unknown_field",
            "n",
            format!("op '{op}' parameter 'n' must be in [1, {OP_N_MAX}]; got {n}"),
        )),
        None => Err(path.error(
            "aggregation_unknown_field",
            "n",
            format!("op '{op}' requires a positive integer 'n' parameter"),
        )),
    }
}

fn resolve_window(
    op: &str,
    info: &OpInfo,
    raw: Option<&str>,
    path: ErrorPath,
) -> Result<Window, RegisterError> {
    let parse = |s: &str| {
        parse_duration_ms(s).map_err(|_| {
            path.error(
                "aggregation_invalid_window",
                "window",
                format!(
                    "invalid window duration '{s}'; expected format: \\d+(ms|s|m|h|d) or 'forever'"
                ),
            )
        })
    };
    Ok(match (info.window, raw) {
        (WindowRule::Rejected, Some(_)) => {
            return Err(path.error(
                "aggregation_invalid_window",
                "window",
                format!("op '{op}' is a lifetime operator and does not accept window="),
            ))
        }
        (WindowRule::Unsupported, Some(_)) => {
            return Err(path.error(
                "window_not_supported",
                "window",
                format!("{op} is windowless-only — `window` kwarg not supported"),
            ))
        }
        (WindowRule::Required, None) => {
            return Err(path.error(
                "aggregation_invalid_window",
                "window",
                format!("op '{op}' requires a window= duration parameter"),
            ))
        }
        (WindowRule::Required, Some("forever")) => Window::Horizon(None),
        (WindowRule::Required, Some(s)) => {
            Window::Horizon(Some(i64::try_from(parse(s)?).unwrap_or(i64::MAX)))
        }
        (WindowRule::Buckets | WindowRule::Ignored, Some("forever")) => Window::Lifetime,
        (WindowRule::Buckets, Some(s)) => Window::Buckets(WindowSpec::new(parse(s)?)),
        (WindowRule::Ignored, Some(s)) => {
            parse(s)?;
            Window::Lifetime
        }
        (_, None) => Window::Lifetime,
    })
}
