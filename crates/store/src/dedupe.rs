//! Replay detection for events that declare a `dedupe_key` (beava-compat §4.1, decision 0023):
//! a push whose key repeats one acknowledged within the event's `dedupe_window_ms` is answered
//! with that first push's acknowledgement (`PushAcked::replay` set) and neither logged nor
//! applied.
//!
//! The writer owns it, so pushes are checked in the order they are applied. A repeat of a push
//! that is still on its way to the log waits for it and gets its outcome: the replayed ack if it
//! was acknowledged, the same refusal if it was not. Like beava 0.0.6's, the record of seen keys
//! lives in memory: a restart forgets it (a repeat after a restart is applied again).

use crate::command::{Outcome, PushAcked};
use crate::reply::Reply;
use engine::DedupeKey;
use model::TimestampMs;
use rustc_hash::FxHashMap;

/// Acknowledged keys remembered at most. At the bound, expired keys are swept; if none has
/// expired, new keys are not remembered (their repeats are applied again) and a warning says so.
pub(crate) const DEDUPE_KEYS_MAX: usize = 1_000_000;
/// Expired keys are swept at most this often (beava's `dedupe_sweep_interval_secs`: 60 s).
const SWEEP_INTERVAL_MS: i64 = 60_000;

struct Seen {
    ack: PushAcked,
    expires_ms: TimestampMs,
}

pub(crate) struct Dedupe {
    seen: FxHashMap<DedupeKey, Seen>,
    keys_max: usize,
    /// Keys of pushes on their way to the log, with the repeats waiting for their outcome.
    pending: FxHashMap<DedupeKey, Vec<Reply>>,
    next_sweep_ms: TimestampMs,
    full_warned: bool,
}

impl Default for Dedupe {
    fn default() -> Self {
        Dedupe::with_bound(DEDUPE_KEYS_MAX)
    }
}

impl Dedupe {
    fn with_bound(keys_max: usize) -> Dedupe {
        Dedupe {
            seen: FxHashMap::default(),
            keys_max,
            pending: FxHashMap::default(),
            next_sweep_ms: 0,
            full_warned: false,
        }
    }

    /// The acknowledgement to replay if `key` was acknowledged within its window.
    pub(crate) fn replay(&self, key: &DedupeKey, now_ms: TimestampMs) -> Option<PushAcked> {
        let seen = self.seen.get(key)?;
        (seen.expires_ms > now_ms).then_some(PushAcked {
            replay: true,
            ..seen.ack
        })
    }

    /// Makes `reply` wait for the push with `key` already on its way to the log; gives it back
    /// if there is none.
    pub(crate) fn wait(&mut self, key: &DedupeKey, reply: Reply) -> Result<(), Reply> {
        match self.pending.get_mut(key) {
            Some(waiting) => {
                waiting.push(reply);
                Ok(())
            }
            None => Err(reply),
        }
    }

    /// A push with `key` is on its way to the log.
    pub(crate) fn begin(&mut self, key: DedupeKey) {
        self.pending.insert(key, Vec::new());
    }

    /// The push with `key` got `outcome`: remember it if acknowledged, and answer the repeats
    /// that waited for it (into `replies`).
    pub(crate) fn finish(
        &mut self,
        key: DedupeKey,
        window_ms: u64,
        now_ms: TimestampMs,
        outcome: &Outcome,
        replies: &mut Vec<(Reply, Outcome)>,
    ) {
        let waiting = self.pending.remove(&key).unwrap_or_default();
        let Outcome::Push(Ok(ack)) = outcome else {
            replies.extend(waiting.into_iter().map(|reply| (reply, outcome.clone())));
            return;
        };
        let replayed = PushAcked {
            replay: true,
            ..*ack
        };
        replies.extend(
            waiting
                .into_iter()
                .map(|reply| (reply, Outcome::Push(Ok(replayed)))),
        );
        let expires_ms = now_ms.saturating_add(i64::try_from(window_ms).unwrap_or(i64::MAX));
        self.sweep(now_ms);
        if self.seen.len() >= self.keys_max && !self.seen.contains_key(&key) {
            self.sweep_now(now_ms);
            if self.seen.len() >= self.keys_max {
                if !self.full_warned {
                    tracing::warn!(
                        kind = "dedupe.full",
                        keys = self.seen.len(),
                        "dedupe keys at their bound and none expired: new keys are not remembered"
                    );
                    self.full_warned = true;
                }
                return;
            }
        }
        self.seen.insert(
            key,
            Seen {
                ack: *ack,
                expires_ms,
            },
        );
    }

    /// Forgets every key (test-mode reset).
    pub(crate) fn clear(&mut self) {
        self.seen.clear();
    }

    fn sweep(&mut self, now_ms: TimestampMs) {
        if now_ms >= self.next_sweep_ms {
            self.sweep_now(now_ms);
        }
    }

    fn sweep_now(&mut self, now_ms: TimestampMs) {
        self.seen.retain(|_, seen| seen.expires_ms > now_ms);
        self.full_warned = false;
        self.next_sweep_ms = now_ms.saturating_add(SWEEP_INTERVAL_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::tests::acked;
    use crate::command::{Lsn, PushRefused};
    use tokio::sync::oneshot;

    fn key(value: &str) -> DedupeKey {
        DedupeKey {
            event: "Pay".into(),
            value: value.into(),
        }
    }

    #[test]
    fn repeats_waiting_for_a_refused_push_get_its_refusal() {
        let mut dedupe = Dedupe::default();
        dedupe.begin(key("a"));
        let (sender, receiver) = oneshot::channel();
        assert!(dedupe.wait(&key("a"), Reply::One(sender)).is_ok());
        let refused = Outcome::Push(Err(PushRefused {
            error: model::PushError::new("storage_full", "disk full"),
            registry_version: 1,
        }));
        let mut replies = Vec::new();
        dedupe.finish(key("a"), 1_000, 0, &refused, &mut replies);
        crate::reply::deliver(&mut replies);
        assert_eq!(receiver.blocking_recv().unwrap(), refused);
        assert_eq!(
            dedupe.replay(&key("a"), 0),
            None,
            "a refused push is not remembered"
        );
    }

    #[test]
    fn keys_past_the_bound_are_not_remembered_until_some_expire() {
        let mut dedupe = Dedupe::with_bound(2);
        let mut replies = Vec::new();
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            dedupe.begin(key(name));
            dedupe.finish(key(name), 1_000, 0, &acked(i as u64 + 1), &mut replies);
        }
        assert!(dedupe.replay(&key("a"), 10).is_some_and(|ack| ack.replay));
        assert!(dedupe.replay(&key("b"), 10).is_some());
        assert_eq!(dedupe.replay(&key("c"), 10), None, "at the bound");
        // Once the first two expire, a new key is remembered again.
        dedupe.begin(key("d"));
        dedupe.finish(key("d"), 1_000, 1_001, &acked(4), &mut replies);
        assert_eq!(dedupe.replay(&key("a"), 1_001), None);
        assert_eq!(
            dedupe.replay(&key("d"), 1_001).map(|ack| ack.lsn),
            Some(Lsn(4))
        );
        assert!(replies.is_empty(), "nothing waited");
    }
}
