//! One pipeline's task: take messages from its input channel, run them through its
//! processors in order, and hand the results to its exporters and connectors.

use std::sync::{Arc, OnceLock, PoisonError, RwLock, Weak};

use crate::tap::TapPoint;
use crate::{
    decode_for_consumer, ComponentMetrics, Consumer, EncodedMessage, Fanout, Message, Processor,
    Refusal, Signal,
};
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

/// The exporters and connectors a pipeline hands data to, as its input probes them, and
/// the route its input takes.
///
/// The sinks are held weakly for the probe: it must not keep them alive, because a
/// connector makes its final flush when the pipelines feeding it let go of it, while
/// receivers still hold inputs.
#[derive(Default)]
pub struct Downstream {
    sinks: OnceLock<Vec<Weak<dyn Consumer>>>,
    route: RwLock<Route>,
}

/// How a pipeline's input reaches its sinks.
#[derive(Default)]
enum Route {
    /// Through the pipeline's channel and task (processors run there).
    #[default]
    Channel,
    /// A pipeline without processors, or only ones that change nothing
    /// ([`crate::Processor::unchanged`]): the source hands data to the sinks from its own
    /// task. The channel and task hop would add a wake-up and a context switch per
    /// request and buffer nothing the exporter queues do not.
    Direct(DirectRoute),
    /// The pipeline stopped; its sinks are let go.
    Closed,
}

/// A stage a direct route passes: it changes nothing, but counts and taps what passes.
pub struct PassedStage {
    pub metrics: ComponentMetrics,
    pub tap: Option<TapPoint>,
}

struct DirectRoute {
    sinks: Fanout,
    passed: Vec<PassedStage>,
}

impl DirectRoute {
    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        if !self.passed.is_empty() {
            let items = msg.payload.item_count();
            for stage in &self.passed {
                stage.count(items);
                if let Some(tap) = &stage.tap {
                    tap.offer(&msg.payload);
                }
            }
        }
        self.sinks.consume(msg)
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        let mut tapped = None;
        for stage in &self.passed {
            stage.count(msg.request.items());
            if let Some(tap) = stage.tap.as_ref().filter(|tap| tap.active()) {
                // Decoded once, and only while a tap is open.
                let payload = tapped.get_or_insert_with(|| msg.request.decode().ok());
                if let Some(payload) = payload {
                    tap.offer(payload);
                }
            }
        }
        self.sinks.consume_encoded(msg)
    }
}

impl PassedStage {
    /// The stages as a direct route passes them; `None` if one of them changes data.
    pub fn all(stages: &[Stage]) -> Option<Vec<PassedStage>> {
        stages
            .iter()
            .map(|stage| {
                let unchanged = stage.processor.unchanged()?;
                Some(PassedStage {
                    metrics: stage.metrics.clone(),
                    tap: unchanged.tap,
                })
            })
            .collect()
    }

    fn count(&self, items: usize) {
        self.metrics.received(items);
        self.metrics.sent(items);
    }
}

impl Downstream {
    /// Set once, when the pipeline starts. `direct` when the pipeline has no processors
    /// but ones that change nothing (the stages it passes).
    pub fn set(&self, sinks: &[Arc<dyn Consumer>], direct: Option<Vec<PassedStage>>) {
        let _ = self.sinks.set(sinks.iter().map(Arc::downgrade).collect());
        if let Some(passed) = direct {
            *self.write_route() = Route::Direct(DirectRoute {
                sinks: Fanout::new(sinks.to_vec()),
                passed,
            });
        }
    }

    /// Called by the pipeline's task as it ends: what still arrives is refused, and a
    /// direct route lets go of its sinks. Waits for hand-offs in progress.
    pub fn close(&self) {
        *self.write_route() = Route::Closed;
    }

    fn write_route(&self) -> std::sync::RwLockWriteGuard<'_, Route> {
        self.route.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_route(&self) -> std::sync::RwLockReadGuard<'_, Route> {
        self.route.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Like [`Fanout`]: room while any live sink has room (or before the sinks are set).
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        let Some(sinks) = self.sinks.get() else {
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

impl PipelineInput {
    fn shutting_down(&self) -> Refusal {
        Refusal::unavailable(format!("pipeline {} is shutting down", self.name))
    }
}

impl Consumer for PipelineInput {
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        match &*self.downstream.read_route() {
            Route::Direct(direct) => return direct.sinks.has_room(bytes),
            Route::Closed => return Err(self.shutting_down()),
            Route::Channel => {}
        }
        if self.sender.is_closed() {
            return Err(self.shutting_down());
        }
        if self.sender.capacity() == 0 {
            return Err(Refusal::capacity(format!("pipeline {} is full", self.name)));
        }
        self.downstream.has_room(bytes)
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        match &*self.downstream.read_route() {
            // The read guard is held across the hand-off so `close` cannot let go of the
            // sinks while a message is on its way to them.
            Route::Direct(direct) => return direct.consume(msg),
            Route::Closed => return Err(self.shutting_down()),
            Route::Channel => {}
        }
        self.send(msg)
    }

    fn takes_encoded(&self, signal: Signal) -> bool {
        match &*self.downstream.read_route() {
            Route::Direct(direct) => direct.sinks.takes_encoded(signal),
            Route::Channel | Route::Closed => false,
        }
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        match &*self.downstream.read_route() {
            Route::Direct(direct) => return direct.consume_encoded(msg),
            Route::Closed => return Err(self.shutting_down()),
            Route::Channel => {}
        }
        // The processors need the decoded form.
        self.send(decode_for_consumer(msg)?)
    }
}

impl PipelineInput {
    fn send(&self, msg: Message) -> Result<(), Refusal> {
        self.sender.try_send(msg).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => {
                Refusal::capacity(format!("pipeline {} is full", self.name))
            }
            mpsc::error::TrySendError::Closed(_) => self.shutting_down(),
        })
    }
}

pub struct PipelineTask {
    pub name: String,
    pub input: mpsc::Receiver<Message>,
    pub stages: Vec<Stage>,
    pub exporters: Fanout,
    /// Closed when the task ends, so a direct route lets go of the exporters too.
    pub downstream: Arc<Downstream>,
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
        self.downstream.close();
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
