//! One pipeline's task: take messages from its input channel, run them through its
//! processors in order, and hand the results to its exporters and connectors.

use std::sync::{Arc, OnceLock, Weak};

use crate::{ComponentMetrics, Consumer, Fanout, Message, Processor, Refusal};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// How many messages (client requests or batches) wait in front of a pipeline before its
/// receivers refuse with RESOURCE_EXHAUSTED. Bounded so memory is too.
pub const PIPELINE_INPUT_CAPACITY: usize = 256;

/// A processor of this pipeline and its self-metrics.
pub struct Stage {
    pub processor: Box<dyn Processor>,
    pub metrics: ComponentMetrics,
}

/// The sending end of a pipeline's input. Refuses instead of blocking when full.
pub struct PipelineInput {
    pub name: String,
    pub sender: mpsc::Sender<Message>,
    /// The pipeline's exporters and connectors, set once they are built; probed by
    /// [`Consumer::has_room`] so a full exporter queue refuses before decoding.
    pub downstream: Arc<Downstream>,
}

/// The exporters and connectors a pipeline hands data to, as its input probes them.
/// Held weakly: the probe must not keep them alive, because a connector makes its final
/// flush when the pipelines feeding it let go of it, while receivers still hold inputs.
#[derive(Default)]
pub struct Downstream(OnceLock<Vec<Weak<dyn Consumer>>>);

impl Downstream {
    /// Set once, when the pipeline starts.
    pub fn set(&self, sinks: &[Arc<dyn Consumer>]) {
        let _ = self.0.set(sinks.iter().map(Arc::downgrade).collect());
    }

    /// Like [`Fanout`]: room while any live sink has room (or before the sinks are set).
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        let Some(sinks) = self.0.get() else {
            return Ok(());
        };
        let mut first_refusal = None;
        for sink in sinks.iter().filter_map(Weak::upgrade) {
            match sink.has_room(bytes) {
                Ok(()) => return Ok(()),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        first_refusal.map_or(Ok(()), Err)
    }
}

impl Consumer for PipelineInput {
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        if self.sender.is_closed() {
            return Err(Refusal::unavailable(format!(
                "pipeline {} is shutting down",
                self.name
            )));
        }
        if self.sender.capacity() == 0 {
            return Err(Refusal::capacity(format!("pipeline {} is full", self.name)));
        }
        self.downstream.has_room(bytes)
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        self.sender.try_send(msg).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => {
                Refusal::capacity(format!("pipeline {} is full", self.name))
            }
            mpsc::error::TrySendError::Closed(_) => {
                Refusal::unavailable(format!("pipeline {} is shutting down", self.name))
            }
        })
    }
}

pub struct PipelineTask {
    pub name: String,
    pub input: mpsc::Receiver<Message>,
    pub stages: Vec<Stage>,
    pub exporters: Fanout,
    /// Cancelled when the pipeline must stop taking input and drain.
    pub stop: CancellationToken,
}

impl PipelineTask {
    pub async fn run(mut self) {
        let mut closing = false;
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                msg = self.input.recv() => match msg {
                    Some(msg) => self.push(0, msg),
                    None => break,
                },
                _ = sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                    self.fire_deadlines();
                }
                _ = self.stop.cancelled(), if !closing => {
                    // Refuse new input; what is already queued is still drained below.
                    self.input.close();
                    closing = true;
                }
            }
        }
        self.flush_all();
        tracing::debug!(pipeline = %self.name, "Pipeline drained.");
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.stages
            .iter()
            .filter_map(|s| s.processor.deadline())
            .min()
    }

    /// Runs `msg` through the stages from `first` on, then to the exporters.
    fn push(&mut self, first: usize, msg: Message) {
        let mut pending = vec![msg];
        for stage in &mut self.stages[first..] {
            let mut next = Vec::with_capacity(pending.len());
            for msg in pending {
                stage.metrics.received(msg.payload.item_count());
                stage.processor.process(msg, &mut next);
            }
            for msg in &next {
                stage.metrics.sent(msg.payload.item_count());
            }
            pending = next;
            if pending.is_empty() {
                return;
            }
        }
        for msg in pending {
            self.export(msg);
        }
    }

    fn export(&self, msg: Message) {
        let acks = msg.acks.clone();
        if let Err(refusal) = self.exporters.consume(msg) {
            acks.refuse(&refusal);
        }
    }

    fn fire_deadlines(&mut self) {
        let now = Instant::now();
        for index in 0..self.stages.len() {
            if self.stages[index]
                .processor
                .deadline()
                .is_some_and(|d| d <= now)
            {
                let mut out = Vec::new();
                self.stages[index].processor.on_deadline(now, &mut out);
                self.forward_from(index, out);
            }
        }
    }

    fn flush_all(&mut self) {
        for index in 0..self.stages.len() {
            let mut out = Vec::new();
            self.stages[index].processor.flush(&mut out);
            self.forward_from(index, out);
        }
    }

    /// Sends what stage `index` emitted on its own (timer, flush) through the later stages.
    fn forward_from(&mut self, index: usize, out: Vec<Message>) {
        for msg in out {
            self.stages[index].metrics.sent(msg.payload.item_count());
            self.push(index + 1, msg);
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400)
}

#[cfg(test)]
mod tests;
