//! `batch` processor: merges messages (and their acknowledgements) until a size or a
//! timeout is reached; splits batches above `send_batch_max_size`.

#[cfg(test)]
mod compliance;
mod config;
mod split;
#[cfg(test)]
mod tests;

pub use config::BatchConfig;

use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltProcessor, ComponentInfo, Factory, Kind, Message, Processor,
    ProcessorFactory, Signal,
};
use tokio::time::Instant;

pub struct BatchFactory;

impl Factory for BatchFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "batch",
            kind: Kind::Processor,
            signals: &Signal::ALL,
            description: "Merges requests into batches by size and timeout",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<BatchConfig>(node)
    }
}

impl ProcessorFactory for BatchFactory {
    fn build(
        &self,
        node: &Node,
        _signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError> {
        let config: BatchConfig = decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        Ok(BuiltProcessor {
            stage: Box::new(Batcher::new(config)),
            admission_budget: None,
        })
    }
}

pub struct Batcher {
    config: BatchConfig,
    pending: Option<Message>,
    pending_items: usize,
    first_arrival: Option<Instant>,
}

impl Batcher {
    pub fn new(config: BatchConfig) -> Self {
        Batcher {
            config,
            pending: None,
            pending_items: 0,
            first_arrival: None,
        }
    }

    fn emit(&mut self, out: &mut Vec<Message>) {
        self.first_arrival = None;
        let items = std::mem::take(&mut self.pending_items);
        let Some(msg) = self.pending.take() else {
            return;
        };
        let max = self.config.send_batch_max_size;
        if max == 0 || items <= max {
            out.push(msg);
            return;
        }
        // Every piece carries the acks: a client is answered once all pieces are queued.
        for payload in split::split(msg.payload, max) {
            out.push(Message::new(payload, msg.acks.clone()));
        }
    }
}

impl Processor for Batcher {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) {
        let items = msg.payload.item_count();
        match &mut self.pending {
            None => {
                self.pending = Some(msg);
                self.first_arrival = Some(Instant::now());
            }
            Some(pending) => {
                // Same pipeline, same signal: append cannot fail.
                let _ = pending.payload.append(msg.payload);
                pending.acks.merge(msg.acks);
            }
        }
        self.pending_items += items;
        if self.pending_items >= self.config.send_batch_size {
            self.emit(out);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.first_arrival.map(|t| t + self.config.timeout)
    }

    fn on_deadline(&mut self, _now: Instant, out: &mut Vec<Message>) {
        self.emit(out);
    }

    fn flush(&mut self, out: &mut Vec<Message>) {
        self.emit(out);
    }
}
