//! Reading raw wire params (`{"field": .., "window": .., ...}`) with beava's coercions.
//!
//! beava is lenient about types: a param of the wrong JSON type usually reads as absent and the
//! default applies (`k: "3"` → 10, `q: "0.9"` → 0.5, `window: 5` → lifetime). Only the checks
//! beava makes produce errors; they carry its codes, paths (`<agg path>.params.<name>`) and
//! reasons.

use model::RegisterError;
use serde_json::{Map, Value as Json};

pub type Params = Map<String, Json>;

/// Error-path builder for one aggregation (`nodes[1].ops[0].agg.fail_rate`).
#[derive(Clone, Copy, Debug)]
pub struct ErrorPath<'a>(pub &'a str);

impl ErrorPath<'_> {
    pub fn param(&self, name: &str) -> String {
        format!("{}.params.{}", self.0, name)
    }

    pub fn op(&self) -> String {
        format!("{}.op", self.0)
    }

    pub fn error(&self, code: &'static str, param: &str, reason: String) -> RegisterError {
        RegisterError::new(code, self.param(param), reason)
    }
}

/// A string param, `None` when absent or not a string.
pub fn str_param<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params.get(name).and_then(Json::as_str)
}

/// A non-negative JSON integer param (`2.0`, `-1`, `"3"` and `true` are not).
pub fn u64_param(params: &Params, name: &str) -> Option<u64> {
    params.get(name).and_then(Json::as_u64)
}

/// A numeric param (integers or floats).
pub fn f64_param(params: &Params, name: &str) -> Option<f64> {
    params.get(name).and_then(Json::as_f64)
}

/// A list of numbers (`histogram` bucket bounds); non-numbers are skipped.
pub fn f64_list_param(params: &Params, name: &str) -> Option<Vec<f64>> {
    params
        .get(name)
        .and_then(Json::as_array)
        .map(|items| items.iter().filter_map(Json::as_f64).collect())
}

/// A list of strings (`event_type_mix` categories); non-strings are skipped.
pub fn str_list_param(params: &Params, name: &str) -> Option<Vec<String>> {
    params.get(name).and_then(Json::as_array).map(|items| {
        items
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_owned)
            .collect()
    })
}
