//! Pairs `PreToolUse` with its `PostToolUse` by `tool_use_id` to time a tool call when
//! Claude Code sent no `duration_ms`. Bounded: at most `capacity` calls wait, none longer
//! than `expiry`; the oldest go first.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Tool calls seen starting, waiting for their end.
pub struct PendingCalls {
    capacity: usize,
    expiry_nanos: u64,
    /// Start time (record time, Unix nanos) by tool_use_id.
    started: HashMap<String, u64>,
    /// Insertion order, for eviction; may hold ids already paired (skipped lazily).
    order: VecDeque<(String, u64)>,
}

/// What inserting a start did to the map.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    /// Calls that waited longer than the expiry.
    pub expired: usize,
    /// Calls pushed out because the map was full.
    pub overflowed: usize,
}

impl PendingCalls {
    pub fn new(capacity: usize, expiry: Duration) -> PendingCalls {
        PendingCalls {
            capacity: capacity.max(1),
            expiry_nanos: u64::try_from(expiry.as_nanos()).unwrap_or(u64::MAX),
            started: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.started.len()
    }

    /// Records the start of a call at `time` (Unix nanos).
    pub fn start(&mut self, id: &str, time: u64) -> Evicted {
        let mut evicted = Evicted::default();
        // Expire everything older than `expiry` relative to the newest time seen.
        while let Some((front, at)) = self.order.front() {
            if time.saturating_sub(*at) <= self.expiry_nanos {
                break;
            }
            if self.started.get(front) == Some(at) {
                self.started.remove(front);
                evicted.expired += 1;
            }
            self.order.pop_front();
        }
        if !self.started.contains_key(id) {
            while self.started.len() >= self.capacity {
                let Some((front, at)) = self.order.pop_front() else {
                    break;
                };
                if self.started.get(&front) == Some(&at) {
                    self.started.remove(&front);
                    evicted.overflowed += 1;
                }
            }
        }
        self.started.insert(id.to_string(), time);
        self.order.push_back((id.to_string(), time));
        // Stale order entries (paired ids) must not grow without bound either.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let started = &self.started;
            self.order.retain(|(id, at)| started.get(id) == Some(at));
        }
        evicted
    }

    /// The duration in milliseconds of the call `id` ending at `time`, if its start was seen.
    pub fn finish(&mut self, id: &str, time: u64) -> Option<f64> {
        let start = self.started.remove(id)?;
        Some(time.saturating_sub(start) as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn pairs_start_and_finish() {
        let mut pending = PendingCalls::new(10, Duration::from_secs(3600));
        pending.start("a", 1_000 * MS);
        assert_eq!(pending.finish("a", 1_250 * MS), Some(250.0));
        assert_eq!(pending.finish("a", 1_300 * MS), None, "paired once");
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn full_map_evicts_the_oldest() {
        let mut pending = PendingCalls::new(2, Duration::from_secs(3600));
        assert_eq!(pending.start("a", MS), Evicted::default());
        pending.start("b", 2 * MS);
        let evicted = pending.start("c", 3 * MS);
        assert_eq!(evicted.overflowed, 1);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.finish("a", 4 * MS), None);
        assert!(pending.finish("b", 4 * MS).is_some());
    }

    #[test]
    fn old_calls_expire() {
        let mut pending = PendingCalls::new(100, Duration::from_secs(1));
        pending.start("a", 0);
        let evicted = pending.start("b", 2_000 * MS);
        assert_eq!(evicted.expired, 1);
        assert_eq!(pending.finish("a", 2_001 * MS), None);
    }

    #[test]
    fn stale_order_entries_stay_bounded() {
        let mut pending = PendingCalls::new(4, Duration::from_secs(3600));
        for i in 0..1_000u64 {
            let id = format!("t{i}");
            pending.start(&id, i * MS);
            pending.finish(&id, i * MS + 5);
        }
        assert!(pending.order.len() <= 8);
    }
}
