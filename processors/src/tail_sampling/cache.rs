//! The decision caches: the most recently decided trace IDs, one cache per decision, so
//! that spans arriving after the decision follow it.

use std::collections::{HashSet, VecDeque};

/// A trace ID reduced to 64 bits. Trace IDs are random, so two distinct IDs in a cache of
/// a million share a key with a chance of about 1 in 3·10^7.
pub type TraceKey = u64;

pub fn trace_key(trace_id: &[u8]) -> TraceKey {
    let mut bytes = [0u8; 16];
    let n = trace_id.len().min(16);
    bytes[..n].copy_from_slice(&trace_id[..n]);
    let id = u128::from_be_bytes(bytes);
    // Fold both halves in: W3C puts the randomness in the low half, but older SDKs made
    // 64-bit IDs padded with zeros in either half.
    (id as u64) ^ ((id >> 64) as u64).rotate_left(29)
}

/// A set of at most `capacity` keys, forgetting the oldest insertion first.
pub struct DecisionCache {
    capacity: usize,
    keys: HashSet<TraceKey>,
    order: VecDeque<TraceKey>,
}

impl DecisionCache {
    pub fn new(capacity: usize) -> DecisionCache {
        DecisionCache {
            capacity,
            // Allocated up front so the cache's memory is known from the start.
            keys: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
        }
    }

    pub fn contains(&self, key: TraceKey) -> bool {
        self.keys.contains(&key)
    }

    pub fn insert(&mut self, key: TraceKey) {
        if self.capacity == 0 || !self.keys.insert(key) {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.keys.remove(&oldest);
            }
        }
        self.order.push_back(key);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

/// Both caches. A trace decided twice (late spans that arrived after it had left the
/// caches) may be in both; "sampled" wins, keeping more rather than less.
pub struct Decisions {
    pub sampled: DecisionCache,
    pub not_sampled: DecisionCache,
}

impl Decisions {
    pub fn new(sampled: usize, not_sampled: usize) -> Decisions {
        Decisions {
            sampled: DecisionCache::new(sampled),
            not_sampled: DecisionCache::new(not_sampled),
        }
    }

    /// The remembered decision for `key`: `Some(true)` sampled, `Some(false)` not.
    pub fn lookup(&self, key: TraceKey) -> Option<bool> {
        if self.sampled.contains(key) {
            Some(true)
        } else if self.not_sampled.contains(key) {
            Some(false)
        } else {
            None
        }
    }

    pub fn remember(&mut self, key: TraceKey, sampled: bool) {
        if sampled {
            self.sampled.insert(key);
        } else {
            self.not_sampled.insert(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_key_is_forgotten_first() {
        let mut cache = DecisionCache::new(3);
        for key in 1..=4 {
            cache.insert(key);
        }
        assert!(!cache.contains(1));
        assert!((2..=4).all(|k| cache.contains(k)));
        assert_eq!(cache.len(), 3);
        // Inserting a key already there changes nothing.
        cache.insert(3);
        assert!(cache.contains(2));
    }

    #[test]
    fn a_zero_sized_cache_remembers_nothing() {
        let mut decisions = Decisions::new(0, 10);
        decisions.remember(7, true);
        decisions.remember(8, false);
        assert_eq!(decisions.lookup(7), None);
        assert_eq!(decisions.lookup(8), Some(false));
    }

    #[test]
    fn ids_differing_in_either_half_have_different_keys() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        a[3] = 1;
        b[12] = 1;
        assert_ne!(trace_key(&a), trace_key(&b));
        assert_ne!(trace_key(&a), trace_key(&[0u8; 16]));
    }
}
