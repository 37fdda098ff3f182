//! What a stage handed on and must hear back about. A stage that needs the downstream's
//! answer (dedup remembers an identity only once it was stored; tail_sampling re-sends a
//! kept trace an exporter queue refused) adds its own acknowledgement token to the message
//! and reads the outcome later, on its own schedule: a pipeline stage must never wait.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::ack::{ack_pair, Acks, Refusal};

type Outcome = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

/// Messages handed on, each with what the stage keeps about it until it is answered.
pub struct Handoffs<T> {
    waiting: VecDeque<(Outcome, T)>,
}

impl<T> Default for Handoffs<T> {
    fn default() -> Self {
        Handoffs {
            waiting: VecDeque::new(),
        }
    }
}

impl<T> Handoffs<T> {
    /// Watches the outcome of the message carrying `acks`: a token of ours rides along with
    /// the clients' and resolves with them (accepted once every copy is let go, refused as
    /// soon as one holder refuses).
    pub fn track(&mut self, acks: &mut Acks, kept: T) {
        let (token, waiter) = ack_pair();
        acks.merge(Acks::one(token));
        self.waiting.push_back((Box::pin(waiter.wait()), kept));
    }

    /// Hands every answered message's kept value to `answered` with its outcome. Never
    /// waits: unanswered messages stay.
    pub fn settle(&mut self, mut answered: impl FnMut(T, Result<(), Refusal>)) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut still = VecDeque::with_capacity(self.waiting.len());
        while let Some((mut outcome, kept)) = self.waiting.pop_front() {
            match outcome.as_mut().poll(&mut cx) {
                Poll::Pending => still.push_back((outcome, kept)),
                Poll::Ready(result) => answered(kept, result),
            }
        }
        self.waiting = still;
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_read_without_waiting() {
        let mut handoffs = Handoffs::default();
        let (mut accepted, mut refused, mut held) = (Acks::none(), Acks::none(), Acks::none());
        handoffs.track(&mut accepted, "accepted");
        handoffs.track(&mut refused, "refused");
        handoffs.track(&mut held, "held");
        drop(accepted);
        refused.refuse(&Refusal::capacity("full"));
        let mut seen = Vec::new();
        handoffs.settle(|kept, result| seen.push((kept, result.is_ok())));
        assert_eq!(seen, vec![("accepted", true), ("refused", false)]);
        assert_eq!(handoffs.len(), 1, "the held message is still unanswered");
        drop(held);
        handoffs.settle(|kept, result| seen.push((kept, result.is_ok())));
        assert_eq!(seen.last(), Some(&("held", true)));
        assert!(handoffs.is_empty());
    }
}
