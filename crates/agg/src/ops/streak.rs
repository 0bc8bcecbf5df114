//! `streak`, `max_streak`, `negative_streak`: runs of consecutive `where` outcomes.
//!
//! These read the `where` result of *every* event routed to the aggregation: a null or false
//! predicate ends a `streak` (oracle: an event with the predicate field absent resets it to 0),
//! and `negative_streak` counts exactly those events.

/// Current run and best run (`max_streak`; `streak` and `negative_streak` use `current` only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Runs {
    pub current: u64,
    pub best: u64,
}

impl Runs {
    /// One event; `hit` is whether it extends the run.
    pub fn step(&mut self, hit: bool) {
        if hit {
            self.current += 1;
            self.best = self.best.max(self.current);
        } else {
            self.current = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_reset_and_remember_the_best() {
        let mut r = Runs::default();
        for hit in [true, true, false, true, true, true, false] {
            r.step(hit);
        }
        assert_eq!(
            r,
            Runs {
                current: 0,
                best: 3
            }
        );
        r.step(true);
        assert_eq!(r.current, 1);
    }
}
