//! `count` and `ratio`: event counters.
//!
//! `count` ignores `field` (oracle: a `count` with a `field` that is absent from every event still
//! counts every event). `ratio`'s `where` gates only the numerator: every event routed to the
//! aggregation counts in the denominator.

use model::Value;

/// `ratio` state (also one window bucket).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RatioCounts {
    pub matched: u64,
    pub total: u64,
}

impl RatioCounts {
    pub fn add(&mut self, passes_where: bool) {
        self.total += 1;
        self.matched += u64::from(passes_where);
    }

    pub fn merge(&mut self, other: &RatioCounts) {
        self.total += other.total;
        self.matched += other.matched;
    }

    /// `matched / total`, null when nothing was counted.
    pub fn read(&self) -> Value {
        if self.total == 0 {
            Value::Null
        } else {
            Value::F64(self.matched as f64 / self.total as f64)
        }
    }
}

/// `count` output: always an integer (0 for an empty window).
pub fn read_count(n: u64) -> Value {
    Value::I64(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_counts_every_event_in_the_denominator() {
        let mut r = RatioCounts::default();
        assert_eq!(r.read(), Value::Null);
        r.add(false);
        assert_eq!(r.read(), Value::F64(0.0));
        r.add(true);
        r.add(true);
        assert_eq!(r.read(), Value::F64(2.0 / 3.0));
        let mut other = RatioCounts::default();
        other.add(true);
        r.merge(&other);
        assert_eq!(
            r,
            RatioCounts {
                matched: 3,
                total: 4
            }
        );
    }
}
