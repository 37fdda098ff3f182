//! Identities of spans and points passed on whose downstream has not answered yet. They
//! join the seen-set only once every exporter queue on their path accepted them: if one
//! refuses, the client retries, and that retry must pass rather than be dropped as a
//! duplicate of data that was never stored. Meanwhile they count as seen, so a second
//! copy arriving in flight is dropped (if the first is then refused, its own sender's
//! retry brings the data).

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use sentinel_pipeline::{ack_pair, Acks, Refusal};

type Outcome = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

#[derive(Default)]
pub struct InFlight {
    /// Per message passed on: its downstream outcome and the identities it carries.
    messages: VecDeque<(Outcome, Vec<u64>)>,
    keys: HashSet<u64>,
}

impl InFlight {
    pub fn contains(&self, key: u64) -> bool {
        self.keys.contains(&key)
    }

    /// Adds `key`; false if it was already in flight.
    pub fn add(&mut self, key: u64) -> bool {
        self.keys.insert(key)
    }

    /// Watches the outcome of a message carrying `keys`: our own acknowledgement token
    /// rides along with the clients' and resolves with them.
    pub fn track(&mut self, acks: &mut Acks, keys: Vec<u64>) {
        let (token, waiter) = ack_pair();
        acks.merge(Acks::one(token));
        self.messages.push_back((Box::pin(waiter.wait()), keys));
    }

    /// Hands accepted identities to `accepted` and forgets refused ones. Never waits.
    pub fn settle(&mut self, mut accepted: impl FnMut(u64)) {
        let mut cx = Context::from_waker(Waker::noop());
        let keys = &mut self.keys;
        self.messages
            .retain_mut(|(outcome, carried)| match outcome.as_mut().poll(&mut cx) {
                Poll::Pending => true,
                Poll::Ready(result) => {
                    for key in carried.drain(..) {
                        keys.remove(&key);
                        if result.is_ok() {
                            accepted(key);
                        }
                    }
                    false
                }
            });
    }
}
