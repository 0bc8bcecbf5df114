//! Time-decayed operators: `decayed_sum`, `decayed_count`, `ewma`/`ema`, `ewvar`, `ew_zscore`.
//!
//! All decay by processing time between *updating* events with `half_life` (a duration string,
//! required). Values are **not** decayed to the read time (beava quirk, §6.2): the read returns
//! the state as of the last update. `window` is accepted and ignored.
//!
//! Formulas are bit-identical to beava (oracle-verified on an 8-event trace):
//! `decay = exp(-(ln 2 / half_life_ms) · Δt)`, `α = 1 − decay`;
//! - `decayed_sum`: `s ← s·decay + x` (the first value seeds `s`); `decayed_count` adds 1;
//! - `ewma`: `m ← (1−α)·m + α·x`;
//! - `ewvar` / `ew_zscore`: `d = x − m; m ← m + α·d; v ← (1−α)·v + α·d·(x − m)`,
//!   `z = (x − m)/√v` (null while `v = 0`).

use super::recency::NEVER;
use model::{TimestampMs, Value};

/// Per-ms decay rate `ln 2 / half_life_ms`, fixed at compile time.
pub fn rate_per_ms(half_life_ms: u64) -> f64 {
    std::f64::consts::LN_2 / half_life_ms as f64
}

fn decay(rate_per_ms: f64, dt_ms: i64) -> f64 {
    (-rate_per_ms * dt_ms as f64).exp()
}

/// `decayed_sum` / `decayed_count` (the decayed total) and `ewma` (the mean) state: a value and
/// the time of its last update. One type for both keeps `AggState` within its 24 bytes (its tag
/// has no room for another variant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decayed {
    pub value: f64,
    pub last_ms: TimestampMs,
}

impl Default for Decayed {
    fn default() -> Self {
        Decayed {
            value: 0.0,
            last_ms: NEVER,
        }
    }
}

impl Decayed {
    /// `decayed_sum` / `decayed_count`: `s ← s·decay + x`.
    pub fn add_to_sum(&mut self, x: f64, now_ms: TimestampMs, rate_per_ms: f64) {
        if self.last_ms == NEVER {
            self.value = x;
        } else {
            self.value = self.value * decay(rate_per_ms, now_ms - self.last_ms) + x;
        }
        self.last_ms = now_ms;
    }

    /// `ewma`: `m ← (1−α)·m + α·x`.
    pub fn add_to_mean(&mut self, x: f64, now_ms: TimestampMs, rate_per_ms: f64) {
        if self.last_ms == NEVER {
            self.value = x;
        } else {
            let dt_ms = now_ms - self.last_ms;
            // beava weighs two events of the same millisecond equally (alpha = 0.5) instead of
            // ignoring the second one (1 - exp(0) = 0); observed with the oracle.
            let alpha = if dt_ms <= 0 {
                0.5
            } else {
                1.0 - decay(rate_per_ms, dt_ms)
            };
            self.value = (1.0 - alpha) * self.value + alpha * x;
        }
        self.last_ms = now_ms;
    }

    pub fn read(&self) -> Value {
        if self.last_ms == NEVER {
            Value::Null
        } else {
            Value::F64(self.value)
        }
    }
}

#[cfg(test)]
mod same_millisecond_tests {
    use super::*;

    #[test]
    fn ewma_weighs_same_millisecond_events_equally_like_beava() {
        // beava 0.0.6: x = 3, 1, 4, 1, 5 pushed within one millisecond reads exactly 3.5.
        let mut ewma = Decayed::default();
        for x in [3.0, 1.0, 4.0, 1.0, 5.0] {
            ewma.add_to_mean(x, 1_000, std::f64::consts::LN_2 / 3_600_000.0);
        }
        assert_eq!(ewma.read(), Value::F64(3.5));
    }
}

/// `ewvar` / `ew_zscore` state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EwMoments {
    pub mean: f64,
    pub var: f64,
    /// The last value, for `ew_zscore`.
    pub last_x: f64,
    pub last_ms: TimestampMs,
}

impl Default for EwMoments {
    fn default() -> Self {
        EwMoments {
            mean: 0.0,
            var: 0.0,
            last_x: 0.0,
            last_ms: NEVER,
        }
    }
}

impl EwMoments {
    pub fn add(&mut self, x: f64, now_ms: TimestampMs, rate_per_ms: f64) {
        if self.last_ms == NEVER {
            self.mean = x;
            self.var = 0.0;
        } else {
            let alpha = 1.0 - decay(rate_per_ms, now_ms - self.last_ms);
            let d = x - self.mean;
            self.mean += alpha * d;
            self.var = (1.0 - alpha) * self.var + alpha * d * (x - self.mean);
        }
        self.last_x = x;
        self.last_ms = now_ms;
    }

    pub fn read_var(&self) -> Value {
        if self.last_ms == NEVER {
            Value::Null
        } else {
            Value::F64(self.var)
        }
    }

    pub fn read_zscore(&self) -> Value {
        if self.last_ms == NEVER || self.var <= 0.0 {
            Value::Null
        } else {
            Value::F64((self.last_x - self.mean) / self.var.sqrt())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle trace: half_life 100ms; (t, x) with x absent on the 4th event.
    const TRACE: [(i64, Option<f64>); 8] = [
        (710, Some(1.0)),
        (761, Some(2.0)),
        (773, Some(5.0)),
        (895, None),
        (907, Some(0.5)),
        (1209, Some(3.0)),
        (1511, Some(2.0)),
        (1814, Some(2.5)),
    ];

    #[test]
    fn matches_oracle_bits() {
        let rate = rate_per_ms(100);
        let (mut sum, mut count, mut ewma, mut ew) = (
            Decayed::default(),
            Decayed::default(),
            Decayed::default(),
            EwMoments::default(),
        );
        let mut seen = Vec::new();
        for (t, x) in TRACE {
            count.add_to_sum(1.0, t, rate);
            if let Some(x) = x {
                sum.add_to_sum(x, t, rate);
                ewma.add_to_mean(x, t, rate);
                ew.add(x, t, rate);
            }
            seen.push((
                count.read(),
                sum.read(),
                ewma.read(),
                ew.read_var(),
                ew.read_zscore(),
            ));
        }
        let f = Value::F64;
        assert_eq!(
            seen[1],
            (
                f(1.7022224378689985),
                f(2.7022224378689987),
                f(1.2977775621310015),
                f(0.20910608562231903),
                f(1.535646895349544)
            )
        );
        assert_eq!(seen[0].4, Value::Null);
        assert_eq!(
            seen[7],
            (
                f(1.142979269896593),
                f(2.7965661443154635),
                f(2.450030962629704),
                f(0.03363294261095412),
                f(0.2724699110265957)
            )
        );
        assert_eq!(seen[3].0, f(2.101695742167527));
        assert_eq!(seen[4].2, f(0.9318605322755673));
    }

    #[test]
    fn empty_reads_null() {
        assert_eq!(Decayed::default().read(), Value::Null);
        assert_eq!(EwMoments::default().read_var(), Value::Null);
        assert_eq!(EwMoments::default().read_zscore(), Value::Null);
    }
}
