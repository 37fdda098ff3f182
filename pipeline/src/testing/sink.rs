//! A downstream stand-in: records what it accepts, or refuses like a full queue.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::ack::Refusal;
use crate::component::{Consumer, Fanout, Output, Outputs};
use crate::signal::{Message, Payload, Signal};

/// Accepts like an exporter queue: keeps the payload and lets the acknowledgement go, so
/// the client is answered "accepted" once every copy has been taken.
#[derive(Default)]
pub struct TestSink {
    payloads: Mutex<Vec<Payload>>,
    refusing: AtomicBool,
    arrived: Notify,
}

impl TestSink {
    pub fn new() -> Arc<TestSink> {
        Arc::new(TestSink::default())
    }

    /// A sink that refuses everything, as a full queue does.
    pub fn full() -> Arc<TestSink> {
        let sink = TestSink::new();
        sink.set_refusing(true);
        sink
    }

    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Items (spans, data points, log records) accepted so far.
    pub fn items(&self) -> usize {
        self.lock().iter().map(Payload::item_count).sum()
    }

    pub fn payloads(&self) -> Vec<Payload> {
        self.lock().clone()
    }

    /// Waits until at least `items` were accepted; false if that did not happen in time.
    pub async fn wait_for_items(&self, items: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.arrived.notified();
            if self.items() >= items {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.items() >= items;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Payload>> {
        self.payloads.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Consumer for TestSink {
    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        if self.refusing.load(Ordering::SeqCst) {
            return Err(Refusal::capacity("the compliance sink is full"));
        }
        self.lock().push(msg.payload);
        self.arrived.notify_waiters();
        Ok(())
    }
}

/// One sink per signal, wired as the outputs a receiver or connector feeds.
pub fn sinks_for(signals: &[Signal], refusing: bool) -> (BTreeMap<Signal, Arc<TestSink>>, Outputs) {
    let sinks: BTreeMap<Signal, Arc<TestSink>> = signals
        .iter()
        .map(|signal| {
            let sink = TestSink::new();
            sink.set_refusing(refusing);
            (*signal, sink)
        })
        .collect();
    let outputs = sinks
        .iter()
        .map(|(signal, sink)| {
            let fanout = Fanout::new(vec![sink.clone() as Arc<dyn Consumer>]);
            let output = Output {
                fanout,
                budgets: Vec::new(),
            };
            (*signal, output)
        })
        .collect();
    (sinks, outputs)
}
