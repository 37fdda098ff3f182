//! Which sequence numbers are settled. Records are delivered concurrently and confirmed
//! out of order; the cursor only moves over the contiguous settled prefix.

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Tracker {
    /// Every sequence number up to and including this one is settled.
    confirmed_through: u64,
    /// Settled ranges above `confirmed_through + 1`, as start → end (inclusive). Small:
    /// out-of-order confirmations of records in flight, plus gaps left by damage.
    ahead: BTreeMap<u64, u64>,
    /// Records read for delivery and not settled yet: sequence → append time (ms).
    in_flight: BTreeMap<u64, u64>,
}

impl Tracker {
    pub fn new(confirmed_through: u64) -> Self {
        Tracker {
            confirmed_through,
            ..Tracker::default()
        }
    }

    pub fn confirmed_through(&self) -> u64 {
        self.confirmed_through
    }

    pub fn is_settled(&self, seq: u64) -> bool {
        seq <= self.confirmed_through
            || self
                .ahead
                .range(..=seq)
                .next_back()
                .is_some_and(|(_, &end)| end >= seq)
    }

    /// Settles one record. Returns false if it was settled already.
    pub fn settle(&mut self, seq: u64) -> bool {
        self.in_flight.remove(&seq);
        if self.is_settled(seq) {
            return false;
        }
        self.settle_range(seq, seq);
        true
    }

    /// Settles every sequence number in `start..=end` (records lost to damage, dropped
    /// segments).
    pub fn settle_range(&mut self, start: u64, end: u64) {
        let mut start = start.max(self.confirmed_through.saturating_add(1));
        let mut end = end;
        if start > end {
            return;
        }
        if let Some((&prev_start, &prev_end)) = self.ahead.range(..=start).next_back() {
            if prev_end.saturating_add(1) >= start {
                self.ahead.remove(&prev_start);
                start = prev_start;
                end = end.max(prev_end);
            }
        }
        while let Some((&next_start, &next_end)) = self.ahead.range(start..).next() {
            if next_start > end.saturating_add(1) {
                break;
            }
            self.ahead.remove(&next_start);
            end = end.max(next_end);
        }
        self.ahead.insert(start, end);
        while let Some((&first_start, &first_end)) = self.ahead.first_key_value() {
            if first_start > self.confirmed_through.saturating_add(1) {
                break;
            }
            self.ahead.remove(&first_start);
            self.confirmed_through = self.confirmed_through.max(first_end);
        }
    }

    pub fn start_flight(&mut self, seq: u64, appended_ms: u64) {
        self.in_flight.insert(seq, appended_ms);
    }

    /// A record whose delivery was interrupted by shutdown: unsettled, no longer in flight.
    pub fn abandon_flight(&mut self, seq: u64) {
        self.in_flight.remove(&seq);
    }

    /// Append time of the oldest record in flight.
    pub fn oldest_in_flight_ms(&self) -> Option<u64> {
        self.in_flight.values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_moves_only_over_the_contiguous_prefix() {
        let mut tracker = Tracker::new(10);
        assert!(tracker.settle(12));
        assert!(tracker.settle(13));
        assert_eq!(tracker.confirmed_through(), 10, "11 is still out");
        assert!(!tracker.settle(12), "settling twice is a no-op");
        assert!(tracker.settle(11));
        assert_eq!(tracker.confirmed_through(), 13);
        assert!(!tracker.settle(5), "below the cursor is settled already");
    }

    #[test]
    fn ranges_merge_and_gaps_are_skipped() {
        let mut tracker = Tracker::new(0);
        tracker.settle_range(5, 8);
        tracker.settle_range(2, 3);
        assert!(tracker.is_settled(6));
        assert!(!tracker.is_settled(4));
        tracker.settle(1);
        assert_eq!(tracker.confirmed_through(), 3);
        tracker.settle(4);
        assert_eq!(tracker.confirmed_through(), 8);
    }

    #[test]
    fn oldest_in_flight_follows_settlement() {
        let mut tracker = Tracker::new(0);
        tracker.start_flight(1, 100);
        tracker.start_flight(2, 50);
        assert_eq!(tracker.oldest_in_flight_ms(), Some(50));
        tracker.settle(2);
        assert_eq!(tracker.oldest_in_flight_ms(), Some(100));
        tracker.abandon_flight(1);
        assert_eq!(tracker.oldest_in_flight_ms(), None);
    }
}
