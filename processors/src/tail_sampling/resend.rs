//! Kept traces an exporter queue refused. Their clients were answered when the spans were
//! held, so the sampler owes them delivery: it keeps them (encoded, within its budget) and
//! sends them again a second later, until they are taken or the budget needs the room.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::trace::PendingTrace;

/// How long a refused trace waits before it is sent again.
pub const RESEND_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Resend {
    traces: VecDeque<PendingTrace>,
    pub bytes: usize,
    pub spans: usize,
    due: Option<Instant>,
}

impl Resend {
    pub fn refused(&mut self, traces: Vec<PendingTrace>, now: Instant) {
        for trace in traces {
            self.bytes += trace.bytes;
            self.spans += trace.span_count;
            self.traces.push_back(trace);
        }
        if !self.traces.is_empty() {
            self.due.get_or_insert(now + RESEND_AFTER);
        }
    }

    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Every waiting trace, if their second is up (or `now` is the last chance).
    pub fn take_due(&mut self, now: Instant, last_chance: bool) -> Vec<PendingTrace> {
        if !last_chance && self.due.is_none_or(|due| due > now) {
            return Vec::new();
        }
        self.due = None;
        self.bytes = 0;
        self.spans = 0;
        self.traces.drain(..).collect()
    }

    /// Gives up the oldest waiting trace, when the budget needs its room.
    pub fn drop_oldest(&mut self) -> Option<PendingTrace> {
        let trace = self.traces.pop_front()?;
        self.bytes -= trace.bytes;
        self.spans -= trace.span_count;
        if self.traces.is_empty() {
            self.due = None;
        }
        Some(trace)
    }
}
