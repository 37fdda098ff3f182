//! The running graph built from a validated config: exporter queues, connectors,
//! pipelines and receivers, wired with bounded channels. Signal-agnostic: every signal
//! goes through the same code path.
//!
//! Starting is a reload from nothing: [`Topology::apply`] compares a config with what runs,
//! builds what is new or changed (`apply.rs`), starts the receivers that need it and
//! re-points the others (`commit.rs`), then retires the replaced parts once they drained
//! (`retire.rs`). Sources feed pipelines through swappable slots (`swap.rs`).

mod apply;
mod build;
mod commit;
mod retire;
mod swap;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use sentinel_exporters::sending::QueueHandle;
use sentinel_pipeline::admission::MemoryBudget;
use sentinel_pipeline::config::Node;
use sentinel_pipeline::tap::TapRegistry;
use sentinel_pipeline::{
    BuildError, Connector, Consumer, Kind, Message, Outputs, QueueSettings, Refusal, RetrySettings,
    Running, SelfMetrics, Signal,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;

use crate::components::Registry;
use crate::config::{connector_links, AgentConfig, ComponentId, PipelineId};
pub use apply::{ApplyError, Changes};
use swap::{SourceSlots, SwapExporter};

/// Everything that runs, in the order shutdown needs it.
pub struct Topology {
    /// Parent of every receiver's own token: cancelled first at shutdown.
    pub receivers_shutdown: CancellationToken,
    /// Handed to processors, exporters and connectors.
    components_shutdown: CancellationToken,
    metrics: Arc<SelfMetrics>,
    /// Tap points wrap every hand-off (`sentinel tap`, `pipeline/src/tap.rs`); kept across
    /// reloads so an open tap follows the rebuilt parts.
    taps: Arc<TapRegistry>,
    pub receivers: IndexMap<ComponentId, RunningReceiver>,
    /// Where clients send data, from every receiver that listens (the start banner).
    pub listening: Vec<String>,
    /// Pipelines in dependency order: a pipeline fed by a connector comes after the
    /// pipelines that feed that connector.
    pub pipelines: Vec<RunningPipeline>,
    pub queues: Vec<RunningExporter>,
    connectors: HashMap<ComponentId, RunningConnector>,
}

pub struct RunningReceiver {
    node: Node,
    stop: CancellationToken,
    running: Running,
    slots: SourceSlots,
    listening: Vec<String>,
}

pub struct RunningPipeline {
    pub name: String,
    pub stop: CancellationToken,
    pub task: JoinHandle<()>,
    id: PipelineId,
    /// Weak, so the channel closes once every source let go of the pipeline.
    sender: mpsc::WeakSender<Message>,
    /// What the receivers feeding it probe before decoding: its sinks.
    downstream: Arc<sentinel_pipeline::pipeline_task::Downstream>,
    /// The memory budgets of its processors, by processor id and config.
    budgets: Vec<KeptBudget>,
    /// Its receivers, processors (with their config) and exporters.
    fingerprint: serde_json::Value,
    /// The exporters and connectors it hands data to.
    sinks: Vec<Arc<dyn Consumer>>,
}

/// A `memory_limiter` budget that a rebuilt pipeline reuses while the processor's config
/// is unchanged, so the receivers feeding it need not restart.
#[derive(Clone)]
pub struct KeptBudget {
    processor: ComponentId,
    config: serde_json::Value,
    budget: Arc<MemoryBudget>,
}

pub struct RunningExporter {
    pub id: ComponentId,
    node: Node,
    queue: QueueSettings,
    retry: RetrySettings,
    swap: Arc<SwapExporter>,
    consumer: Arc<dyn Consumer>,
    pub handle: QueueHandle,
}

struct RunningConnector {
    node: Node,
    consumer: Arc<dyn Consumer>,
    slots: SourceSlots,
}

/// A connector as seen by an upstream pipeline: it consumes into downstream pipelines.
struct ConnectorConsumer {
    connector: Arc<dyn Connector>,
    outputs: Outputs,
}

impl Consumer for ConnectorConsumer {
    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        self.connector.consume(msg, &self.outputs)
    }
}

impl Topology {
    pub async fn start(
        config: &AgentConfig,
        registry: &Registry,
        metrics: Arc<SelfMetrics>,
        taps: Arc<TapRegistry>,
    ) -> Result<Topology, BuildError> {
        let mut topology = Topology {
            receivers_shutdown: CancellationToken::new(),
            components_shutdown: CancellationToken::new(),
            metrics,
            taps,
            receivers: IndexMap::new(),
            listening: Vec::new(),
            pipelines: Vec::new(),
            queues: Vec::new(),
            connectors: HashMap::new(),
        };
        topology
            .apply(config, registry)
            .await
            .map_err(|err| *err.source)?;
        Ok(topology)
    }

    /// Each exporter's id, delivery health and queue budget, in start order.
    pub fn exporter_views(&self) -> Vec<super::admin::ExporterView> {
        self.queues
            .iter()
            .map(|queue| super::admin::ExporterView {
                id: queue.id.to_string(),
                health: queue.handle.health(),
                capacity_bytes: queue.queue.budget_bytes(),
            })
            .collect()
    }

    /// Receivers stop accepting first. Pipelines then drain and flush in dependency order:
    /// that releases the acknowledgements in-flight requests wait for (a batch may hold
    /// them), so receivers can answer those clients and finish. Last, exporter queues
    /// deliver what they can before the deadline (disk queues keep the rest).
    pub async fn drain(self, deadline: Instant) {
        self.receivers_shutdown.cancel();
        let mut connectors = self.connectors;
        for pipeline in self.pipelines {
            pipeline.stop.cancel();
            if timeout_at(deadline, pipeline.task).await.is_err() {
                tracing::warn!(pipeline = %pipeline.name, "Pipeline did not drain before the shutdown deadline.");
            }
            // A connector makes its final flush (spanmetrics' last interval) when its last
            // upstream pipeline lets go of it: that must happen before the pipelines it
            // feeds drain, which come later in this order.
            connectors.retain(|_, c| {
                !pipeline
                    .sinks
                    .iter()
                    .any(|sink| Arc::ptr_eq(sink, &c.consumer))
            });
            drop(pipeline.sinks);
        }
        for (id, receiver) in self.receivers {
            if timeout_at(deadline, receiver.running.task).await.is_err() {
                tracing::warn!(receiver = %id, "Receiver did not stop before the shutdown deadline.");
            }
        }
        drop(connectors);
        for exporter in self.queues {
            exporter.handle.drain(deadline).await;
        }
    }
}

/// Signals of the pipelines that reference `id` (as receiver or exporter).
fn signals_using(config: &AgentConfig, id: &ComponentId) -> Vec<Signal> {
    let mut signals: Vec<Signal> = config
        .service
        .pipelines
        .iter()
        .filter(|(_, p)| p.receivers.iter().chain(&p.exporters).any(|r| &r.id == id))
        .map(|(pid, _)| pid.signal)
        .collect();
    signals.sort();
    signals.dedup();
    signals
}

/// Orders pipelines so that those feeding a connector come before those it feeds, in
/// config order otherwise. Validation rejects cycles; were one left, its pipelines would
/// follow in config order.
pub(crate) fn dependency_order(config: &AgentConfig) -> Vec<PipelineId> {
    let links = connector_links(config);
    let mut remaining: Vec<&PipelineId> = config.service.pipelines.keys().collect();
    let mut ordered = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let fed_by_remaining = |p: &PipelineId| {
            links
                .iter()
                .any(|l| l.to == p && l.from != p && remaining.contains(&l.from))
        };
        let ready = remaining
            .iter()
            .position(|p| !fed_by_remaining(p))
            .unwrap_or(0);
        ordered.push(remaining.remove(ready).clone());
    }
    ordered
}

fn unknown(id: &ComponentId, kind: Kind) -> BuildError {
    BuildError::Other {
        component: id.to_string(),
        message: format!("no {} type {:?} is registered", kind.as_str(), id.type_name),
    }
}

/// Time a retired pipeline gets to drain before it is stopped outright.
fn retire_timeout(config: &AgentConfig) -> Duration {
    config.service.shutdown_timeout
}

#[cfg(test)]
mod tests;
