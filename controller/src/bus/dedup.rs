//! Idempotent consumption: the half of "exactly once" that MQTT cannot do.
//!
//! The transport is at least once (QoS 1 from a durable outbox that
//! republishes what the broker has not routed back). A message in flight when
//! the broker went away can therefore arrive twice, always with the same `id`
//! (and `repeat`, for republished alerts). A consumer that drops a key it has
//! already seen turns that into exactly once per key; because the first
//! arrivals keep the robot's order, what it passes on is also in order.
//!
//! [`SeenKeys`] remembers the most recent `capacity` keys (first in, first
//! out). A duplicate can only arrive while its original is still among the
//! last few hundred messages (the outbox publishes at most
//! 64 messages ahead of the broker's echo and republishes from
//! the oldest unconfirmed row), so a window of many thousands is ample and
//! memory stays bounded in a monitor that runs for weeks.

use std::collections::{HashSet, VecDeque};

/// The key a consumer deduplicates on: `id`, or `id#repeat` for a republished
/// crisis alert (`repeat` > 0). `None` when the payload is not an attune
/// message (no string `id`).
pub fn message_key(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Key {
        id: String,
        #[serde(default)]
        repeat: u64,
    }
    let k: Key = serde_json::from_slice(payload).ok()?;
    Some(if k.repeat == 0 { k.id } else { format!("{}#{}", k.id, k.repeat) })
}

/// A bounded set of recently seen message keys.
#[derive(Debug)]
pub struct SeenKeys {
    /// Keys in arrival order (oldest first), for eviction.
    order: VecDeque<String>,
    /// The same keys, for lookup.
    set: HashSet<String>,
    /// Most keys remembered.
    capacity: usize,
}

/// Default window of [`SeenKeys`]: far beyond any redelivery distance.
pub const DEFAULT_WINDOW: usize = 100_000;

impl SeenKeys {
    /// Remembers up to `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> SeenKeys {
        SeenKeys { order: VecDeque::new(), set: HashSet::new(), capacity: capacity.max(1) }
    }

    /// True the first time `key` is offered (and remembers it), false for a
    /// duplicate still inside the window.
    pub fn first(&mut self, key: &str) -> bool {
        if self.set.contains(key) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(key.to_string());
        self.set.insert(key.to_string());
        true
    }

    /// Keys remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redelivered_id_is_dropped_and_first_arrivals_keep_their_order() {
        let mut s = SeenKeys::new(16);
        let arrivals = ["a-1", "a-2", "a-3", "a-2", "a-3", "a-4", "a-1", "a-5"];
        let passed: Vec<&str> = arrivals.iter().copied().filter(|k| s.first(k)).collect();
        assert_eq!(passed, ["a-1", "a-2", "a-3", "a-4", "a-5"]);
    }

    #[test]
    fn the_window_is_bounded_and_forgets_the_oldest_key_first() {
        let mut s = SeenKeys::new(3);
        for k in ["k1", "k2", "k3", "k4"] {
            assert!(s.first(k));
        }
        assert_eq!(s.len(), 3);
        assert!(!s.first("k4") && !s.first("k2"), "recent keys are still known");
        assert!(s.first("k1"), "the oldest key was evicted");
    }

    #[test]
    fn alert_republications_are_distinct_keys_but_their_redeliveries_are_not() {
        let k0 = message_key(br#"{"v":1,"id":"x-7","kind":"crisis_alert","repeat":0}"#).unwrap();
        let k1 = message_key(br#"{"v":1,"id":"x-7","kind":"crisis_alert","repeat":1}"#).unwrap();
        assert_eq!(k0, "x-7");
        assert_eq!(k1, "x-7#1");
        let mut s = SeenKeys::new(8);
        assert!(s.first(&k0) && s.first(&k1));
        assert!(!s.first(&message_key(br#"{"id":"x-7","repeat":1,"kind":"crisis_alert"}"#).unwrap()));
    }

    #[test]
    fn payloads_without_a_string_id_have_no_key() {
        assert_eq!(message_key(b"not json"), None);
        assert_eq!(message_key(br#"{"id": 5}"#), None);
        assert_eq!(message_key(br#"{"kind":"state"}"#), None);
    }
}
