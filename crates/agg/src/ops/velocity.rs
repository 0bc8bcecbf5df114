//! Change-over-time operators: `twa`, `rate_of_change`, `inter_arrival_stats`, `burst_count`,
//! `delta_from_prev`, `trend`, `trend_residual`, `outlier_count`, `value_change_count`,
//! `z_score`.
//!
//! All lifetime (`window` is accepted and ignored, §6.2 ○). Formulas follow beava
//! (oracle-verified):
//! - `twa`: Σ previous value × time it was held / Σ time held; the last value while no time
//!   has passed.
//! - `rate_of_change`: `(x − prev) / Δt_ms` between the last two values.
//! - `inter_arrival_stats`: running mean of the gaps (ms) between matching events.
//! - `burst_count`: most events in one `sub_window`-aligned bucket, ever.
//! - `trend`: OLS slope of value against absolute epoch ms, `(nΣtx − ΣtΣx)/(nΣt² − (Σt)²)`,
//!   null when the denominator is 0 — which, at epoch-ms magnitudes, is most of the time
//!   (catastrophic cancellation in beava's formula, reproduced bit-for-bit).
//!   `trend_residual`: `last − (intercept + slope·t_last)`.
//! - `outlier_count`: values with `|x − μ| > σ·sd` of the values *before* them (sample sd),
//!   once 5 values are in and sd > 0.
//! - `value_change_count`: typed changes between consecutive non-null values (`1` → `1.0`
//!   counts).
//! - `z_score`: `(last − mean)/sd` over all values including the last (sample sd), null while
//!   sd is 0.

use super::moments::Welford;
use super::recency::NEVER;
use crate::scalar::Scalar;
use model::{TimestampMs, Value};

/// Outlier warm-up: values needed before any is tested (beava: 5).
pub const OUTLIER_WARMUP: u64 = 5;
/// Default `sigma` of `outlier_count`.
pub const SIGMA_DEFAULT: f64 = 3.0;

/// Boxed state of one change-over-time op (only the variant of its op is ever built).
#[derive(Clone, Debug)]
pub enum Motion {
    Twa {
        last_x: f64,
        last_ms: TimestampMs,
        weighted: f64,
        span_ms: f64,
    },
    Change {
        last_x: f64,
        last_ms: TimestampMs,
        /// Rate per ms (`rate_of_change`) or delta (`delta_from_prev`); `None` until 2 values.
        result: Option<f64>,
    },
    Gaps {
        last_ms: TimestampMs,
        n_gaps: u64,
        mean_gap_ms: f64,
    },
    Trend {
        n: f64,
        sum_t: f64,
        sum_x: f64,
        sum_tx: f64,
        sum_tt: f64,
        last_ms: TimestampMs,
        last_x: f64,
    },
    Outliers {
        stats: Welford,
        n_outliers: u64,
    },
    Changes {
        last: Option<Scalar>,
        n_changes: u64,
    },
    ZScore {
        stats: Welford,
        last_x: f64,
    },
}

impl Motion {
    pub fn twa() -> Motion {
        Motion::Twa {
            last_x: 0.0,
            last_ms: NEVER,
            weighted: 0.0,
            span_ms: 0.0,
        }
    }

    pub fn change() -> Motion {
        Motion::Change {
            last_x: 0.0,
            last_ms: NEVER,
            result: None,
        }
    }

    pub fn gaps() -> Motion {
        Motion::Gaps {
            last_ms: NEVER,
            n_gaps: 0,
            mean_gap_ms: 0.0,
        }
    }

    pub fn trend() -> Motion {
        Motion::Trend {
            n: 0.0,
            sum_t: 0.0,
            sum_x: 0.0,
            sum_tx: 0.0,
            sum_tt: 0.0,
            last_ms: NEVER,
            last_x: 0.0,
        }
    }

    pub fn outliers() -> Motion {
        Motion::Outliers {
            stats: Welford::default(),
            n_outliers: 0,
        }
    }

    pub fn changes() -> Motion {
        Motion::Changes {
            last: None,
            n_changes: 0,
        }
    }

    pub fn z_score() -> Motion {
        Motion::ZScore {
            stats: Welford::default(),
            last_x: 0.0,
        }
    }

    /// Numeric update (`twa`, `rate_of_change`, `trend*`, `outlier_count`, `z_score`).
    /// `delta_only` selects `delta_from_prev` semantics for `Change`.
    pub fn add_number(&mut self, x: f64, now_ms: TimestampMs, sigma: f64, delta_only: bool) {
        match self {
            Motion::Twa {
                last_x,
                last_ms,
                weighted,
                span_ms,
            } => {
                if *last_ms != NEVER {
                    let held = (now_ms - *last_ms) as f64;
                    *weighted += *last_x * held;
                    *span_ms += held;
                }
                *last_x = x;
                *last_ms = now_ms;
            }
            Motion::Change {
                last_x,
                last_ms,
                result,
            } => {
                if *last_ms != NEVER {
                    let delta = x - *last_x;
                    *result = Some(if delta_only {
                        delta
                    } else {
                        delta / (now_ms - *last_ms) as f64
                    });
                }
                *last_x = x;
                *last_ms = now_ms;
            }
            Motion::Trend {
                n,
                sum_t,
                sum_x,
                sum_tx,
                sum_tt,
                last_ms,
                last_x,
            } => {
                let t = now_ms as f64;
                *n += 1.0;
                *sum_t += t;
                *sum_x += x;
                *sum_tx += t * x;
                *sum_tt += t * t;
                *last_ms = now_ms;
                *last_x = x;
            }
            Motion::Outliers { stats, n_outliers } => {
                if stats.n >= OUTLIER_WARMUP {
                    if let Some(var) = stats.sample_var() {
                        let sd = var.sqrt();
                        if sd > 0.0 && (x - stats.mean).abs() > sigma * sd {
                            *n_outliers += 1;
                        }
                    }
                }
                stats.add(x);
            }
            Motion::ZScore { stats, last_x } => {
                stats.add(x);
                *last_x = x;
            }
            Motion::Gaps { .. } | Motion::Changes { .. } => {}
        }
    }

    /// `inter_arrival_stats`: one matching event.
    pub fn add_arrival(&mut self, now_ms: TimestampMs) {
        if let Motion::Gaps {
            last_ms,
            n_gaps,
            mean_gap_ms,
        } = self
        {
            if *last_ms != NEVER {
                let gap = (now_ms - *last_ms) as f64;
                *n_gaps += 1;
                *mean_gap_ms += (gap - *mean_gap_ms) / *n_gaps as f64;
            }
            *last_ms = now_ms;
        }
    }

    /// `value_change_count`: one non-null value.
    pub fn add_value(&mut self, value: &Value) {
        if let Motion::Changes { last, n_changes } = self {
            let Some(new) = Scalar::from_value(value) else {
                return;
            };
            if let Some(prev) = last {
                if *prev != new {
                    *n_changes += 1;
                }
            }
            *last = Some(new);
        }
    }

    fn slope(n: f64, sum_t: f64, sum_x: f64, sum_tx: f64, sum_tt: f64) -> Option<f64> {
        let den = n * sum_tt - sum_t * sum_t;
        (den != 0.0).then(|| (n * sum_tx - sum_t * sum_x) / den)
    }

    pub fn read_twa(&self) -> Value {
        match self {
            Motion::Twa {
                last_x,
                last_ms,
                weighted,
                span_ms,
            } if *last_ms != NEVER => Value::F64(if *span_ms > 0.0 {
                weighted / span_ms
            } else {
                *last_x
            }),
            _ => Value::Null,
        }
    }

    pub fn read_change(&self) -> Value {
        match self {
            Motion::Change {
                result: Some(r), ..
            } => Value::F64(*r),
            _ => Value::Null,
        }
    }

    pub fn read_gaps(&self) -> Value {
        match self {
            Motion::Gaps {
                n_gaps,
                mean_gap_ms,
                ..
            } if *n_gaps > 0 => Value::F64(*mean_gap_ms),
            _ => Value::Null,
        }
    }

    pub fn read_trend(&self, residual: bool) -> Value {
        let Motion::Trend {
            n,
            sum_t,
            sum_x,
            sum_tx,
            sum_tt,
            last_ms,
            last_x,
        } = self
        else {
            return Value::Null;
        };
        let Some(slope) = Motion::slope(*n, *sum_t, *sum_x, *sum_tx, *sum_tt) else {
            return Value::Null;
        };
        if !residual {
            return Value::F64(slope);
        }
        let intercept = (sum_x - slope * sum_t) / n;
        Value::F64(last_x - (intercept + slope * *last_ms as f64))
    }

    pub fn read_count(&self) -> u64 {
        match self {
            Motion::Outliers { n_outliers, .. } => *n_outliers,
            Motion::Changes { n_changes, .. } => *n_changes,
            _ => 0,
        }
    }

    pub fn read_z_score(&self) -> Value {
        match self {
            Motion::ZScore { stats, last_x } => z_of(stats, *last_x),
            _ => Value::Null,
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Motion::Changes { last: Some(s), .. } => s.heap_bytes(),
            _ => 0,
        }
    }
}

/// `(x − mean)/sd` with the sample sd of `stats`; null below 2 values or when sd is 0.
pub fn z_of(stats: &Welford, x: f64) -> Value {
    match stats.sample_var() {
        Some(var) if var > 0.0 => Value::F64((x - stats.mean) / var.sqrt()),
        _ => Value::Null,
    }
}

/// `burst_count` state: the current `sub_window` bucket and the best count (16 bytes inline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst {
    pub epoch: TimestampMs,
    pub count: u32,
    pub best: u32,
}

impl Default for Burst {
    fn default() -> Self {
        Burst {
            epoch: NEVER,
            count: 0,
            best: 0,
        }
    }
}

impl Burst {
    pub fn add(&mut self, now_ms: TimestampMs, sub_window_ms: i64) {
        let epoch = now_ms.div_euclid(sub_window_ms) * sub_window_ms;
        if epoch == self.epoch {
            self.count = self.count.saturating_add(1);
        } else {
            self.epoch = epoch;
            self.count = 1;
        }
        self.best = self.best.max(self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_reproduces_beava_cancellation() {
        // Oracle ("t9"): 5 values at real epoch-ms times give a slope of -4.35e-8 and a
        // residual of 0.7000146629434312; 2, 3, 4, 6 and 7 values give null.
        let base = 1_795_255_840_000;
        let pts = [
            (710, 1.0),
            (761, 2.0),
            (773, 5.0),
            (907, 0.5),
            (1209, 3.0),
            (1511, 2.0),
        ];
        let mut m = Motion::trend();
        let mut got = Vec::new();
        for (t, x) in pts {
            m.add_number(x, base + t, 0.0, false);
            got.push((m.read_trend(false), m.read_trend(true)));
        }
        assert_eq!(got[0], (Value::Null, Value::Null));
        assert_eq!(got[1].0, Value::Null);
        assert_eq!(
            got[4],
            (
                Value::F64(-4.351022653281689e-08),
                Value::F64(0.7000146629434312)
            )
        );
        assert_eq!(got[5].0, Value::Null);
    }

    #[test]
    fn trend_on_small_times_is_plain_ols() {
        let mut m = Motion::trend();
        for (t, x) in [(0, 1.0), (10, 2.0), (20, 3.0)] {
            m.add_number(x, t, 0.0, false);
        }
        assert_eq!(m.read_trend(false), Value::F64(0.1));
        assert_eq!(m.read_trend(true), Value::F64(0.0));
    }

    #[test]
    fn burst_counts_the_busiest_bucket() {
        let mut b = Burst::default();
        for t in [710, 761, 773, 895, 907] {
            b.add(t, 100);
        }
        assert_eq!(b.best, 3);
        assert_eq!(b.count, 1);
    }

    #[test]
    fn outliers_test_against_prior_values() {
        // Oracle ("t18"): [1,2,3,4,5,6] with sigma 1 counts the 6; with sigma 2 it does not;
        // ten 10s then 11 count nothing (sd 0).
        let run = |xs: &[f64], sigma: f64| {
            let mut m = Motion::outliers();
            for x in xs {
                m.add_number(*x, 0, sigma, false);
            }
            m.read_count()
        };
        assert_eq!(run(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 1.0), 1);
        assert_eq!(run(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2.0), 0);
        assert_eq!(run(&[1.0, 2.0, 3.0, 4.0, 4.2], 1.0), 0);
        assert_eq!(run(&[10.0, 10.0, 10.0, 10.0, 10.0, 11.0], 1.0), 0);
    }

    #[test]
    fn gaps_use_a_running_mean() {
        // Oracle: gaps 51, 12, 122 read 61.66666666666667 (not 185/3).
        let mut m = Motion::gaps();
        for t in [710, 761, 773, 895] {
            m.add_arrival(t);
        }
        assert_eq!(m.read_gaps(), Value::F64(61.66666666666667));
    }
}
