//! Which offset of each partition may be committed: the records handed to the pipelines
//! are tracked per partition until every exporter queue on their path acknowledged them,
//! and the commit point is the first offset still in flight (or one past the last record
//! handed on when none is). Acknowledgements arrive out of order; a gap never lets the
//! commit point pass a record that is not acknowledged.

use std::collections::{BTreeMap, BTreeSet};

/// A topic partition.
pub type Partition = (String, i32);

#[derive(Debug, Default)]
struct PartitionState {
    /// Which assignment of the partition this is: acknowledgements of records handed on
    /// under an earlier one (before a revocation) must not clear records of this one.
    epoch: u64,
    /// Offsets handed on and not yet acknowledged.
    in_flight: BTreeSet<i64>,
    /// One past the highest offset handed on.
    next: Option<i64>,
    /// The last offset committed (the next record a restarted consumer reads).
    committed: Option<i64>,
}

impl PartitionState {
    fn commit_point(&self) -> Option<i64> {
        self.in_flight.first().copied().or(self.next)
    }
}

#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: BTreeMap<Partition, PartitionState>,
    epochs: u64,
}

impl OffsetTracker {
    /// A record at `offset` was handed to the pipelines. Returns the partition's epoch,
    /// to give back with the acknowledgement.
    pub fn handed_on(&mut self, partition: &Partition, offset: i64) -> u64 {
        let epochs = &mut self.epochs;
        let state = self.partitions.entry(partition.clone()).or_insert_with(|| {
            *epochs += 1;
            PartitionState {
                epoch: *epochs,
                ..PartitionState::default()
            }
        });
        state.in_flight.insert(offset);
        state.next = Some(state.next.map_or(offset + 1, |next| next.max(offset + 1)));
        state.epoch
    }

    /// Every exporter queue took the record at `offset`. Acknowledgements from an earlier
    /// assignment of the partition (revoked since) are ignored.
    pub fn acknowledged(&mut self, partition: &Partition, epoch: u64, offset: i64) {
        if let Some(state) = self
            .partitions
            .get_mut(partition)
            .filter(|s| s.epoch == epoch)
        {
            state.in_flight.remove(&offset);
        }
    }

    /// Whether a record handed on under `epoch` still belongs to a current assignment.
    pub fn is_current(&self, partition: &Partition, epoch: u64) -> bool {
        self.partitions
            .get(partition)
            .is_some_and(|s| s.epoch == epoch)
    }

    /// Records handed on and not yet acknowledged, over every partition.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|s| s.in_flight.len()).sum()
    }

    /// Commit points that moved since the last call, marked as committed.
    pub fn take_commits(&mut self) -> Vec<(Partition, i64)> {
        let mut commits = Vec::new();
        for (partition, state) in &mut self.partitions {
            let Some(point) = state.commit_point() else {
                continue;
            };
            if state.committed.is_none_or(|done| point > done) {
                state.committed = Some(point);
                commits.push((partition.clone(), point));
            }
        }
        commits
    }

    /// Forgets partitions this consumer no longer owns; their late acknowledgements are
    /// ignored and their records are replayed by the new owner from its committed offset.
    pub fn revoke(&mut self, partitions: &[Partition]) {
        for partition in partitions {
            self.partitions.remove(partition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i32) -> Partition {
        ("otlp_spans".to_string(), n)
    }

    #[test]
    fn commits_only_the_contiguous_acknowledged_prefix() {
        let mut tracker = OffsetTracker::default();
        let mut e = 0;
        for offset in 10..15 {
            e = tracker.handed_on(&p(0), offset);
        }
        assert_eq!(
            tracker.take_commits(),
            vec![(p(0), 10)],
            "nothing acknowledged yet"
        );
        tracker.acknowledged(&p(0), e, 12);
        tracker.acknowledged(&p(0), e, 13);
        assert!(
            tracker.take_commits().is_empty(),
            "10 and 11 still in flight"
        );
        tracker.acknowledged(&p(0), e, 10);
        assert_eq!(tracker.take_commits(), vec![(p(0), 11)]);
        tracker.acknowledged(&p(0), e, 11);
        assert_eq!(
            tracker.take_commits(),
            vec![(p(0), 14)],
            "12 and 13 were done"
        );
        tracker.acknowledged(&p(0), e, 14);
        assert_eq!(tracker.take_commits(), vec![(p(0), 15)]);
        assert!(tracker.take_commits().is_empty(), "nothing moved");
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn offset_gaps_do_not_hold_the_commit_back() {
        // Compaction and transaction markers leave offsets that are never delivered.
        let mut tracker = OffsetTracker::default();
        let e = tracker.handed_on(&p(1), 3);
        tracker.handed_on(&p(1), 7);
        tracker.acknowledged(&p(1), e, 3);
        assert_eq!(tracker.take_commits(), vec![(p(1), 7)]);
        tracker.acknowledged(&p(1), e, 7);
        assert_eq!(tracker.take_commits(), vec![(p(1), 8)]);
    }

    #[test]
    fn partitions_are_independent_and_revocation_forgets() {
        let mut tracker = OffsetTracker::default();
        let e0 = tracker.handed_on(&p(0), 0);
        let e = tracker.handed_on(&p(1), 0);
        tracker.acknowledged(&p(1), e, 0);
        let mut commits = tracker.take_commits();
        commits.sort();
        assert_eq!(commits, vec![(p(0), 0), (p(1), 1)]);
        tracker.revoke(&[p(0)]);
        tracker.acknowledged(&p(0), e0, 0);
        assert!(
            tracker.take_commits().is_empty(),
            "a revoked partition is not committed"
        );
        assert_eq!(tracker.in_flight(), 0);
        // Assigned again: the old assignment's late acknowledgement clears nothing.
        let e1 = tracker.handed_on(&p(0), 0);
        assert_ne!(e0, e1);
        tracker.acknowledged(&p(0), e0, 0);
        assert_eq!(tracker.take_commits(), vec![(p(0), 0)], "still in flight");
        tracker.acknowledged(&p(0), e1, 0);
        assert_eq!(tracker.take_commits(), vec![(p(0), 1)]);
    }
}
