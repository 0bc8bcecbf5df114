//! §7.3 lifetime memory governance: a register-time pre-check on the raw params of every
//! aggregation that has no string `window` (`"forever"` and even an invalid string count as a
//! window and bypass it). Runs before any other validation when governance is on.

// `model::RegisterError` is the API's error type (136 bytes); registration is a cold path.
#![allow(clippy::result_large_err)]

use crate::catalogue::{self, Bound};
use crate::params::{u64_param, Params};
use model::RegisterError;
use serde_json::Value as Json;

const CODE: &str = "unbounded_op_in_lifetime_mode";

/// `path` is used verbatim (beava reports `nodes[i].<Table>.ops[j].agg.<feature>` here, unlike
/// the `nodes[i].ops[j].agg.<feature>` of compile errors; the caller builds it).
pub fn governance_check(op: &str, params: &Params, path: &str) -> Result<(), RegisterError> {
    if params.get("window").is_some_and(Json::is_string) {
        return Ok(());
    }
    let Some(info) = catalogue::lookup(op) else {
        return Err(RegisterError::new(
            CODE,
            path,
            format!(
                "Aggregation op `{op}` requires explicit memory bound in v0. Add a \
                 `windowed=\"<duration>\"` kwarg (e.g. windowed=\"60s\") to use the rolling \
                 64-bucket window, or add the op-specific cap kwarg (e.g. histogram requires \
                 num_buckets=256, top_k requires k=N, first_n/last_n/lag require n=N)."
            ),
        ));
    };
    let missing = |kwarg: &str, example: &str| {
        RegisterError::new(
            CODE,
            path,
            format!(
                "Aggregation op `{op}` requires explicit memory bound in v0 — the `{kwarg}` kwarg \
                 is missing or invalid. Add `{example}` (or your chosen cap) to the op params, or \
                 add `windowed=\"<duration>\"` (e.g. windowed=\"60s\") to use the rolling \
                 64-bucket window."
            ),
        )
    };
    match info.bound {
        Bound::Bounded => Ok(()),
        Bound::NeedsN => match u64_param(params, "n") {
            Some(n) if n > 0 => Ok(()),
            _ => Err(missing("n", "n=5")),
        },
        Bound::NeedsSamples => match u64_param(params, "samples") {
            Some(n) if n > 0 => Ok(()),
            _ => Err(missing("samples", "samples=100")),
        },
        // A non-empty array, or a positive integer (then read as one "all" bin, as beava).
        Bound::NeedsBuckets => match params.get("buckets") {
            Some(Json::Array(items)) if !items.is_empty() => Ok(()),
            Some(n) if n.as_u64().is_some_and(|n| n > 0) => Ok(()),
            _ => Err(missing("buckets", "buckets=[10, 50, 100, 500]")),
        },
    }
}
