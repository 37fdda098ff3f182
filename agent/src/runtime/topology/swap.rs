//! The swappable joints that let a reload replace parts of the graph while the rest keeps
//! running: a source's output slot (which pipelines a receiver or connector feeds), an
//! exporter whose client is rebuilt under a kept sending queue, and a sink whose queue is
//! started once the old one released its directory.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use sentinel_pipeline::admission::MemoryBudget;
use sentinel_pipeline::{
    EncodedMessage, ExportError, Exporter, Fanout, Message, Output, Outputs, Payload, RecordBatch,
    Refusal, SharedBatch, Signal,
};

use sentinel_pipeline::Consumer;

/// A read of a lock that another thread panicked under: the value is still whole (we only
/// ever replace it), so keep going.
fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write<T>(lock: &RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(|e| e.into_inner()) = value;
}

/// The pipelines one source feeds for one signal. Receivers and connectors hold the slot,
/// never the pipelines, so a reload re-points them without restarting them. Replacing the
/// fan-out drops the old pipelines' senders once in-flight hand-offs finish, which closes
/// their channels and lets them drain.
#[derive(Default)]
pub struct Slot {
    fanout: RwLock<Arc<Fanout>>,
}

impl Slot {
    pub fn set(&self, fanout: Fanout) {
        write(&self.fanout, Arc::new(fanout));
    }
}

impl Consumer for Slot {
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        read(&self.fanout).has_room(bytes)
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        read(&self.fanout).consume(msg)
    }

    fn takes_encoded(&self, signal: Signal) -> bool {
        read(&self.fanout).takes_encoded(signal)
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        read(&self.fanout).consume_encoded(msg)
    }
}

/// For one signal: the pipelines fed and their memory budgets.
pub type SignalWiring = (Fanout, Vec<Arc<MemoryBudget>>);

/// What a source feeds, by signal, as computed for one config.
pub type Wiring = BTreeMap<Signal, SignalWiring>;

/// A source's slots and the budgets it was started with (receivers charge budgets before
/// decoding, so those are fixed for the source's lifetime).
pub struct SourceSlots {
    slots: BTreeMap<Signal, (Arc<Slot>, Vec<Arc<MemoryBudget>>)>,
}

impl SourceSlots {
    pub fn new(wiring: Wiring) -> SourceSlots {
        let slots = wiring
            .into_iter()
            .map(|(signal, (fanout, budgets))| {
                let slot = Arc::new(Slot::default());
                slot.set(fanout);
                (signal, (slot, budgets))
            })
            .collect();
        SourceSlots { slots }
    }

    /// The outputs handed to the receiver or connector when it starts.
    pub fn outputs(&self) -> Outputs {
        self.slots
            .iter()
            .map(|(signal, (slot, budgets))| {
                let consumer: Arc<dyn Consumer> = slot.clone();
                let output = Output {
                    fanout: Fanout::new(vec![consumer]),
                    budgets: budgets.clone(),
                };
                (*signal, output)
            })
            .collect()
    }

    /// True when `wiring` can be slotted in without restarting the source: the same
    /// signals and the very same memory budgets.
    pub fn accepts(&self, wiring: &Wiring) -> bool {
        self.slots.len() == wiring.len()
            && wiring.iter().all(|(signal, (_, budgets))| {
                self.slots.get(signal).is_some_and(|(_, held)| {
                    held.len() == budgets.len()
                        && held.iter().zip(budgets).all(|(a, b)| Arc::ptr_eq(a, b))
                })
            })
    }

    pub fn set(&self, wiring: Wiring) {
        for (signal, (fanout, _)) in wiring {
            if let Some((slot, _)) = self.slots.get(&signal) {
                slot.set(fanout);
            }
        }
    }
}

/// The exporter a sending queue calls. A reload that changes only the exporter's own
/// settings swaps the client here; the queue, its records and its workers stay.
pub struct SwapExporter {
    inner: RwLock<Arc<dyn Exporter>>,
}

impl SwapExporter {
    pub fn new(exporter: Arc<dyn Exporter>) -> Arc<SwapExporter> {
        Arc::new(SwapExporter {
            inner: RwLock::new(exporter),
        })
    }

    /// Installs `exporter`; returns the one it replaces (exports in flight finish on it).
    pub fn swap(&self, exporter: Arc<dyn Exporter>) -> Arc<dyn Exporter> {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *guard, exporter)
    }
}

#[async_trait]
impl Exporter for SwapExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        let exporter = read(&self.inner);
        exporter.export(payload).await
    }

    async fn export_records(&self, batch: RecordBatch) -> Result<(), ExportError> {
        let exporter = read(&self.inner);
        exporter.export_records(batch).await
    }

    /// Forwarded as it is: the default would copy every record, which is what
    /// `export_shared` exists to avoid (exporters that encode from shared records).
    async fn export_shared(&self, batch: SharedBatch) -> Result<(), ExportError> {
        let exporter = read(&self.inner);
        exporter.export_shared(batch).await
    }

    /// The client in place when the queue starts decides; a later client that does not
    /// take encoded records gets them decoded (`SharedBatch::to_record_batch`).
    fn takes_encoded(&self) -> bool {
        read(&self.inner).takes_encoded()
    }

    async fn shutdown(&self) {
        let exporter = read(&self.inner);
        exporter.shutdown().await
    }
}

/// A sink whose queue starts later: a replaced disk queue can only open its directory once
/// the old queue let go of it. Until then it refuses (retryable), so nothing is
/// acknowledged that no queue holds.
pub struct LateSink {
    id: String,
    inner: RwLock<Option<Arc<dyn Consumer>>>,
}

impl LateSink {
    pub fn new(id: String) -> Arc<LateSink> {
        Arc::new(LateSink {
            id,
            inner: RwLock::new(None),
        })
    }

    pub fn set(&self, consumer: Arc<dyn Consumer>) {
        write(&self.inner, Some(consumer));
    }
}

impl Consumer for LateSink {
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        match read(&self.inner) {
            Some(consumer) => consumer.has_room(bytes),
            None => Ok(()),
        }
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        match read(&self.inner) {
            Some(consumer) => consumer.consume(msg),
            None => Err(self.reopening()),
        }
    }

    fn takes_encoded(&self, signal: Signal) -> bool {
        read(&self.inner).is_some_and(|consumer| consumer.takes_encoded(signal))
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        match read(&self.inner) {
            Some(consumer) => consumer.consume_encoded(msg),
            None => Err(self.reopening()),
        }
    }
}

impl LateSink {
    fn reopening(&self) -> Refusal {
        Refusal::unavailable(format!(
            "exporter {} is reopening its queue after a reload",
            self.id
        ))
    }
}
