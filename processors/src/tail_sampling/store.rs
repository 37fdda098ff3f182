//! The pending traces, in arrival order, with the bytes and spans they hold.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use sentinel_pipeline::otlp::trace::v1::Span;
use tokio::time::Instant;

use super::cache::TraceKey;
use super::trace::{Origin, PendingTrace};

/// A trace's place in the arrival queue. Entries of traces that left the table early
/// (decided for their size) stay until they reach the front, where they are skipped; the
/// front is always live, so `next_deadline` and `pop_oldest` are exact.
struct Arrival {
    sequence: u64,
    key: TraceKey,
    due: Instant,
}

#[derive(Default)]
pub struct PendingTraces {
    traces: HashMap<TraceKey, PendingTrace>,
    arrivals: VecDeque<Arrival>,
    next_sequence: u64,
    bytes: usize,
    spans: usize,
}

impl PendingTraces {
    pub fn with_capacity(traces: usize) -> PendingTraces {
        PendingTraces {
            traces: HashMap::with_capacity(traces),
            arrivals: VecDeque::with_capacity(traces),
            ..PendingTraces::default()
        }
    }

    pub fn contains(&self, key: TraceKey) -> bool {
        self.traces.contains_key(&key)
    }

    /// Adds `span` to its trace, opening the trace (due at `due`) if it is new. Returns
    /// the bytes the trace now holds.
    pub fn add(&mut self, key: TraceKey, origin: &Arc<Origin>, span: Span, due: Instant) -> usize {
        let trace = self.traces.entry(key).or_insert_with(|| {
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            self.arrivals.push_back(Arrival { sequence, key, due });
            let trace = PendingTrace::new(sequence);
            self.bytes += trace.bytes;
            trace
        });
        let (added, newly_held) = trace.add(origin, &span);
        self.bytes += added;
        if newly_held {
            self.bytes += origin.estimated_bytes();
        }
        self.spans += 1;
        trace.bytes
    }

    pub fn remove(&mut self, key: TraceKey) -> Option<PendingTrace> {
        let trace = self.traces.remove(&key)?;
        self.bytes -= trace.bytes + trace.release_origins();
        self.spans -= trace.span_count;
        self.skip_stale();
        Some(trace)
    }

    /// The oldest trace if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(TraceKey, PendingTrace)> {
        if self.arrivals.front()?.due > now {
            return None;
        }
        self.pop_oldest()
    }

    pub fn pop_oldest(&mut self) -> Option<(TraceKey, PendingTrace)> {
        let key = self.arrivals.pop_front()?.key;
        let trace = self.remove(key).expect("the front arrival is live");
        Some((key, trace))
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.arrivals.front().map(|a| a.due)
    }

    fn skip_stale(&mut self) {
        while let Some(front) = self.arrivals.front() {
            let live = self
                .traces
                .get(&front.key)
                .is_some_and(|t| t.sequence == front.sequence);
            if live {
                break;
            }
            self.arrivals.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.traces.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn spans(&self) -> usize {
        self.spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn span(bytes_of_name: usize) -> Span {
        Span {
            name: "x".repeat(bytes_of_name),
            ..Span::default()
        }
    }

    #[test]
    fn traces_leave_in_arrival_order_and_their_bytes_with_them() {
        let origin = Arc::new(Origin::default());
        let now = Instant::now();
        let mut pending = PendingTraces::default();
        pending.add(1, &origin, span(10), now);
        pending.add(2, &origin, span(10), now + Duration::from_secs(1));
        pending.add(1, &origin, span(1000), now);
        assert_eq!(pending.spans(), 3);
        let before = pending.bytes();
        // Trace 2 leaves out of order (decided for its size); 1 is still the front. The
        // origin they share stays charged until the last of them leaves.
        let two = pending.remove(2).unwrap();
        assert_eq!(pending.bytes(), before - two.bytes);
        drop(two);
        drop(origin);
        assert_eq!(pending.next_deadline(), Some(now));
        let (key, one) = pending.pop_due(now).unwrap();
        assert_eq!((key, one.span_count), (1, 2));
        // The stale entry of trace 2 is gone, so nothing is left and nothing is due.
        assert_eq!((pending.len(), pending.bytes(), pending.spans()), (0, 0, 0));
        assert_eq!(pending.next_deadline(), None);
    }

    #[test]
    fn a_trace_decided_early_and_seen_again_is_a_new_arrival() {
        let origin = Arc::new(Origin::default());
        let now = Instant::now();
        let mut pending = PendingTraces::default();
        pending.add(1, &origin, span(1), now);
        pending.add(2, &origin, span(1), now);
        pending.remove(1);
        pending.add(1, &origin, span(1), now + Duration::from_secs(5));
        assert_eq!(pending.pop_oldest().unwrap().0, 2);
        assert_eq!(pending.next_deadline(), Some(now + Duration::from_secs(5)));
        assert_eq!(pending.pop_oldest().unwrap().0, 1);
    }
}
