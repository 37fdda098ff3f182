//! End-to-end acknowledgement of client requests.
//!
//! A receiver makes one [`AckToken`] per client request and waits on the matching
//! [`AckWaiter`]. The token travels with the data and is cloned at every fan-out. The
//! client is told "accepted" when the last clone is dropped after its exporter queue took
//! the data, or "refused" as soon as any holder calls [`Acks::refuse`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::admission::{Admission, MemoryBudget};

/// Why data was not accepted. Receivers turn this into the protocol's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
    /// Hint for the client's retry (`Retry-After`, gRPC `RetryInfo`).
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// A queue, channel or memory budget is full: retry later (RESOURCE_EXHAUSTED, 429).
    Capacity,
    /// The agent is shutting down or a stage is gone: retry elsewhere (UNAVAILABLE, 503).
    Unavailable,
}

impl Refusal {
    pub fn capacity(message: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Capacity,
            message: message.into(),
            retry_after: Some(Duration::from_secs(1)),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Unavailable,
            message: message.into(),
            retry_after: Some(Duration::from_secs(1)),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

type Outcome = Result<(), Refusal>;

struct AckInner {
    reply: Mutex<Option<oneshot::Sender<Outcome>>>,
}

impl AckInner {
    fn settle(&self, outcome: Outcome) {
        let sender = self
            .reply
            .lock()
            .map(|mut slot| slot.take())
            .unwrap_or(None);
        if let Some(sender) = sender {
            // The client may have gone away; nothing to tell then.
            let _ = sender.send(outcome);
        }
    }
}

impl Drop for AckInner {
    fn drop(&mut self) {
        self.settle(Ok(()));
    }
}

/// One client request's acknowledgement, shared by every copy of its data.
#[derive(Clone)]
pub struct AckToken(Arc<AckInner>);

impl fmt::Debug for AckToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AckToken")
    }
}

/// The receiver's end: resolves once the request is accepted everywhere or refused.
pub struct AckWaiter(oneshot::Receiver<Outcome>);

impl AckWaiter {
    pub async fn wait(self) -> Outcome {
        // The sender is only ever dropped after sending, so an error cannot happen; treat
        // it as unavailable rather than as success to stay on the safe side.
        self.0
            .await
            .unwrap_or_else(|_| Err(Refusal::unavailable("acknowledgement lost")))
    }
}

/// Makes a token for one client request and the waiter that the receiver awaits.
pub fn ack_pair() -> (AckToken, AckWaiter) {
    let (tx, rx) = oneshot::channel();
    let token = AckToken(Arc::new(AckInner {
        reply: Mutex::new(Some(tx)),
    }));
    (token, AckWaiter(rx))
}

/// The acknowledgements carried by one message (several after batching), and the memory
/// budget charges of its data. Both are released when the last copy is dropped, that is
/// once every exporter queue on the data's path took it.
#[derive(Debug, Clone, Default)]
pub struct Acks {
    tokens: Vec<AckToken>,
    admissions: Vec<Arc<Admission>>,
}

impl Acks {
    pub fn none() -> Self {
        Acks::default()
    }

    pub fn one(token: AckToken) -> Self {
        Acks {
            tokens: vec![token],
            admissions: Vec::new(),
        }
    }

    pub fn merge(&mut self, other: Acks) {
        self.tokens.extend(other.tokens);
        self.admissions.extend(other.admissions);
    }

    /// Number of client requests acknowledged through this message.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Keeps `admission` charged for as long as the data travels with these acks.
    pub fn hold(&mut self, admission: Admission) {
        self.admissions.push(Arc::new(admission));
    }

    /// True when the data already paid `budget` (a receiver charged it before decoding,
    /// or an earlier pipeline's output did).
    pub fn has_paid(&self, budget: &Arc<MemoryBudget>) -> bool {
        self.admissions.iter().any(|a| a.covers(budget))
    }

    /// Tells every waiting client that its data was refused. Later accepts are ignored.
    pub fn refuse(&self, refusal: &Refusal) {
        for token in &self.tokens {
            token.0.settle(Err(refusal.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_when_every_clone_is_dropped() {
        let (token, waiter) = ack_pair();
        let a = Acks::one(token);
        let b = a.clone();
        drop(a);
        let mut waiter = Box::pin(waiter.wait());
        assert!(
            futures_poll_once(&mut waiter).is_none(),
            "one copy still in flight"
        );
        drop(b);
        assert_eq!(waiter.await, Ok(()));
    }

    #[tokio::test]
    async fn one_refusal_wins_over_later_accepts() {
        let (token, waiter) = ack_pair();
        let a = Acks::one(token);
        let b = a.clone();
        b.refuse(&Refusal::capacity("queue full"));
        drop(b);
        drop(a);
        let outcome = waiter.wait().await;
        assert_eq!(outcome.unwrap_err().kind, RefusalKind::Capacity);
    }

    fn futures_poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(f).poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
