//! Identities of spans and points passed on whose downstream has not answered yet. They
//! join the seen-set only once every exporter queue on their path accepted them: if one
//! refuses, the client retries, and that retry must pass rather than be dropped as a
//! duplicate of data that was never stored. Meanwhile they count as seen, so a second
//! copy arriving in flight is dropped (if the first is then refused, its own sender's
//! retry brings the data).

use std::collections::HashSet;

use sentinel_pipeline::{Acks, Handoffs};

#[derive(Default)]
pub struct InFlight {
    /// Per message passed on: the identities it carries, until its downstream answers.
    messages: Handoffs<Vec<u64>>,
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

    /// Watches the outcome of a message carrying `keys`.
    pub fn track(&mut self, acks: &mut Acks, keys: Vec<u64>) {
        self.messages.track(acks, keys);
    }

    /// Hands accepted identities to `accepted` and forgets refused ones. Never waits.
    pub fn settle(&mut self, mut accepted: impl FnMut(u64)) {
        let keys = &mut self.keys;
        self.messages.settle(|carried, result| {
            for key in carried {
                keys.remove(&key);
                if result.is_ok() {
                    accepted(key);
                }
            }
        });
    }
}
