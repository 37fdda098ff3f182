//! Which parts of a queue record some backend has already accepted, so that a retry of
//! the record (after another backend failed) sends only the rest: every item reaches one
//! backend once, even when a batch is split across backends and retried.
//!
//! Keyed by the record's identity `(queue_id, seq)`, holding the routing keys delivered.
//! Bounded: past [`MAX_RECORDS`] the oldest entries are forgotten (a retry of such a
//! record may then send a part twice; counted nowhere else, so the bound is generous).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

pub type RecordId = (u128, u64);

const MAX_RECORDS: usize = 65_536;

#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    delivered: HashMap<RecordId, HashSet<u64>>,
    order: VecDeque<RecordId>,
}

impl Ledger {
    /// Routing keys of `record` already accepted by a backend.
    pub fn delivered(&self, record: RecordId) -> HashSet<u64> {
        self.lock()
            .delivered
            .get(&record)
            .cloned()
            .unwrap_or_default()
    }

    /// Notes that a backend accepted these parts.
    pub fn mark(&self, parts: impl IntoIterator<Item = (RecordId, u64)>) {
        let mut inner = self.lock();
        for (record, key) in parts {
            if !inner.delivered.contains_key(&record) {
                inner.order.push_back(record);
            }
            inner.delivered.entry(record).or_default().insert(key);
        }
        while inner.order.len() > MAX_RECORDS {
            if let Some(oldest) = inner.order.pop_front() {
                inner.delivered.remove(&oldest);
            }
        }
    }

    /// Forgets records that are settled.
    pub fn forget(&self, records: impl IntoIterator<Item = RecordId>) {
        let mut inner = self.lock();
        let mut removed = false;
        for record in records {
            removed |= inner.delivered.remove(&record).is_some();
        }
        if removed {
            let Inner { delivered, order } = &mut *inner;
            order.retain(|r| delivered.contains_key(r));
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().delivered.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
