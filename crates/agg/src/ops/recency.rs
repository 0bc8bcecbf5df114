//! Recency operators: `first`, `last` (values) and `first_seen`, `last_seen`, `age`, `has_seen`,
//! `time_since`, `time_since_last_n`, `first_seen_in_window` (times).
//!
//! Times are processing-time ms. Read-relative outputs (`age`, `time_since*`) subtract from the
//! query time `q`, which is never earlier than the last applied event.

use model::{TimestampMs, Value};

/// "No matching event yet" for single-timestamp states.
pub const NEVER: TimestampMs = TimestampMs::MIN;

pub fn read_time(t: TimestampMs) -> Value {
    if t == NEVER {
        Value::Null
    } else {
        Value::I64(t)
    }
}

pub fn read_since(t: TimestampMs, query_ms: TimestampMs) -> Value {
    if t == NEVER {
        Value::Null
    } else {
        Value::I64(query_ms.saturating_sub(t))
    }
}

/// `first_seen_in_window`: did the last match happen within `window_ms` of `q`?
/// `window_ms = None` is `"forever"`.
pub fn read_seen_within(t: TimestampMs, query_ms: TimestampMs, window_ms: Option<i64>) -> Value {
    if t == NEVER {
        return Value::Bool(false);
    }
    let within = match window_ms {
        None => true,
        Some(w) => query_ms.saturating_sub(t) < w,
    };
    Value::Bool(within)
}

/// Ring of the last `n` match times (`time_since_last_n`), oldest first once full.
#[derive(Clone, Debug, Default)]
pub struct RecentTimes {
    /// Capacity `n`, filled in arrival order, then overwritten at `next`.
    pub(crate) times: Vec<TimestampMs>,
    pub(crate) next: u32,
}

impl RecentTimes {
    pub fn push(&mut self, t: TimestampMs, n: usize) {
        if self.times.len() < n {
            if self.times.capacity() == 0 {
                self.times.reserve_exact(n.min(16));
            }
            self.times.push(t);
        } else {
            let idx = self.next as usize;
            self.times[idx] = t;
            self.next = ((idx + 1) % n) as u32;
        }
    }

    /// `q` minus the n-th most recent match, null until `n` matches.
    pub fn read(&self, n: usize, query_ms: TimestampMs) -> Value {
        if self.times.len() < n {
            return Value::Null;
        }
        // When full, the oldest retained time sits at `next`.
        let oldest = self.times[self.next as usize % n];
        Value::I64(query_ms.saturating_sub(oldest))
    }

    pub fn heap_bytes(&self) -> usize {
        self.times.capacity() * std::mem::size_of::<TimestampMs>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_and_time() {
        assert_eq!(read_time(NEVER), Value::Null);
        assert_eq!(read_since(NEVER, 5), Value::Null);
        assert_eq!(read_time(7), Value::I64(7));
        assert_eq!(read_since(7, 10), Value::I64(3));
    }

    #[test]
    fn seen_within() {
        assert_eq!(read_seen_within(NEVER, 5, None), Value::Bool(false));
        assert_eq!(read_seen_within(0, 1_000_000, None), Value::Bool(true));
        assert_eq!(read_seen_within(100, 299, Some(200)), Value::Bool(true));
        assert_eq!(read_seen_within(100, 300, Some(200)), Value::Bool(false));
    }

    #[test]
    fn nth_most_recent() {
        let mut r = RecentTimes::default();
        r.push(10, 3);
        r.push(20, 3);
        assert_eq!(r.read(3, 100), Value::Null);
        r.push(30, 3);
        assert_eq!(r.read(3, 100), Value::I64(90));
        r.push(40, 3);
        assert_eq!(r.read(3, 100), Value::I64(80));
        r.push(50, 3);
        r.push(60, 3);
        r.push(70, 3);
        assert_eq!(r.read(3, 100), Value::I64(50));
    }
}
