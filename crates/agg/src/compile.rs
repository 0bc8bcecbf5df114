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
//! 6. bloom `target_fpr`/`fpr` — `invalid_bloom_fpr`.
//!
//! The `where` param is not looked at: the engine compiles and evaluates it.

use crate::catalogue::{self, FieldRule, OpInfo, WindowRule};
use crate::duration::parse_duration_ms;
use crate::ops::{decay, quantile, top_k};
use crate::params::{f64_param, str_param, u64_param, ErrorPath, Params};
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
    if !is_implemented(op) {
        return Err(RegisterError::new(
            "aggregation_unknown_op",
            path.op(),
            format!("op '{op}' is not implemented by weir yet"),
        ));
    }

    let rate_per_ms = match half_life_owner(op) {
        Some(owner) => Some(decay::rate_per_ms(half_life(params, owner, path)?)),
        None => None,
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
        _ => unreachable!("is_implemented covers every op matched here"),
    };
    Ok(AggSpec {
        op_name: CompactString::from(op),
        window_raw: window_raw.map(CompactString::from),
        field_name: str_param(params, "field").map(CompactString::from),
        slot: slot.filter(|_| field_name.is_some()),
        window: match window {
            Window::Buckets(w) => Some(w),
            _ => None,
        },
        op: op_kind,
    })
}

/// Ops weir implements; the rest of the catalogue is refused as `aggregation_unknown_op`.
fn is_implemented(op: &str) -> bool {
    matches!(
        op,
        "count"
            | "sum"
            | "mean"
            | "var"
            | "std"
            | "min"
            | "max"
            | "ratio"
            | "n_unique"
            | "quantile"
            | "top_k"
            | "entropy"
            | "first"
            | "last"
            | "first_seen"
            | "last_seen"
            | "age"
            | "has_seen"
            | "time_since"
            | "time_since_last_n"
            | "streak"
            | "max_streak"
            | "negative_streak"
            | "first_seen_in_window"
            | "ewma"
            | "ema"
            | "ewvar"
            | "ew_zscore"
            | "decayed_sum"
            | "decayed_count"
    )
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
