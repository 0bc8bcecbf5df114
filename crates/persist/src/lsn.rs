//! `Lsn`: the log sequence number, the one domain number every other part of the WAL is keyed by.
//!
//! LSNs are dense and strictly increasing: the first record of a fresh log gets the LSN the log
//! was created at (by default `Lsn::FIRST`), and every later record gets the previous LSN plus
//! one, across segment boundaries. `Lsn(0)` is never assigned to a record; it is used only as
//! "nothing yet" in the `durable_lsn` field of record headers.

use std::fmt;

/// A log sequence number. Dense and strictly increasing over the whole log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// "No record": the value of `durable_lsn` before the first fsync completes.
    pub const ZERO: Lsn = Lsn(0);
    /// The LSN of the first record of a log created without a snapshot.
    pub const FIRST: Lsn = Lsn(1);

    /// The LSN right after this one.
    ///
    /// Panics on overflow: 2^64 records cannot be reached, so an overflow is a programmer error.
    #[must_use]
    pub fn next(self) -> Lsn {
        Lsn(self.0.checked_add(1).expect("LSN overflow"))
    }

    /// The LSN right before this one, or `Lsn::ZERO` for `Lsn::ZERO`.
    #[must_use]
    pub fn prev(self) -> Lsn {
        Lsn(self.0.saturating_sub(1))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_and_prev_are_inverse() {
        assert_eq!(Lsn(41).next(), Lsn(42));
        assert_eq!(Lsn(42).prev(), Lsn(41));
        assert_eq!(Lsn::ZERO.prev(), Lsn::ZERO);
        assert_eq!(Lsn::ZERO.next(), Lsn::FIRST);
    }
}
