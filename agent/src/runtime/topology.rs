//! Builds the running graph from a validated config: exporter queues, connectors,
//! pipelines and receivers, wired with bounded channels. Signal-agnostic: every signal
//! goes through the same code path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sentinel_exporters::sending::{start_queue, QueueContext, QueueHandle};
use sentinel_pipeline::admission::MemoryBudget;
use sentinel_pipeline::{
    BuildContext, BuildError, Connector, Consumer, Fanout, Kind, Message, Output, Outputs,
    PipelineInput, PipelineTask, Refusal, Running, SelfMetrics, Signal, Stage,
    PIPELINE_INPUT_CAPACITY,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::components::Registry;
use crate::config::{AgentConfig, ComponentId, PipelineId};

/// Everything that runs, in the order shutdown needs it.
pub struct Topology {
    pub receivers_shutdown: CancellationToken,
    pub receivers: Vec<(String, Running)>,
    /// Pipelines in dependency order: a pipeline fed by a connector comes after the
    /// pipelines that feed that connector.
    pub pipelines: Vec<RunningPipeline>,
    pub queues: Vec<(String, QueueHandle)>,
}

pub struct RunningPipeline {
    pub name: String,
    pub stop: CancellationToken,
    pub task: JoinHandle<()>,
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

/// The pipeline inputs and memory budgets a source feeds, for one signal.
type SignalInputs = (Vec<Arc<dyn Consumer>>, Vec<Arc<MemoryBudget>>);

struct PendingPipeline {
    id: PipelineId,
    input: PipelineInput,
    receiver: mpsc::Receiver<Message>,
    stages: Vec<Stage>,
    budgets: Vec<Arc<MemoryBudget>>,
}

impl Topology {
    pub async fn start(
        config: &AgentConfig,
        registry: &Registry,
        metrics: Arc<SelfMetrics>,
    ) -> Result<Topology, BuildError> {
        let context = |id: &ComponentId, shutdown: &CancellationToken| BuildContext {
            id: id.to_string(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
        };
        let components_shutdown = CancellationToken::new();

        // Pipelines first: their inputs are what receivers and connectors feed.
        let mut pending = Vec::new();
        for (id, pipeline) in &config.service.pipelines {
            let (sender, receiver) = mpsc::channel(PIPELINE_INPUT_CAPACITY);
            let mut stages = Vec::new();
            let mut budgets = Vec::new();
            for processor_ref in &pipeline.processors {
                let pid = &processor_ref.id;
                let factory = registry
                    .processor(&pid.type_name)
                    .ok_or_else(|| unknown(pid, Kind::Processor))?;
                let node = &config.processors[pid];
                let built = factory.build(node, id.signal, context(pid, &components_shutdown))?;
                budgets.extend(built.admission_budget);
                stages.push(Stage {
                    processor: built.stage,
                    metrics: metrics.component(Kind::Processor, &pid.to_string(), id.signal),
                });
            }
            pending.push(PendingPipeline {
                id: id.clone(),
                input: PipelineInput {
                    name: id.to_string(),
                    sender,
                },
                receiver,
                stages,
                budgets,
            });
        }

        // What feeds each pipeline: receivers and connectors listed under `receivers`.
        let outputs_for = |source: &ComponentId| -> Outputs {
            let mut by_signal: BTreeMap<Signal, SignalInputs> = BTreeMap::new();
            for p in &pending {
                let listed = config.service.pipelines[&p.id]
                    .receivers
                    .iter()
                    .any(|r| &r.id == source);
                if listed {
                    let (consumers, budgets) = by_signal.entry(p.id.signal).or_default();
                    consumers.push(Arc::new(PipelineInput {
                        name: p.input.name.clone(),
                        sender: p.input.sender.clone(),
                    }));
                    budgets.extend(p.budgets.iter().cloned());
                }
            }
            by_signal
                .into_iter()
                .map(|(signal, (consumers, budgets))| {
                    let fanout = Fanout::new(consumers);
                    (signal, Output { fanout, budgets })
                })
                .collect()
        };

        // Exporter queues, one per exporter id in use.
        let mut queues: Vec<(String, QueueHandle)> = Vec::new();
        let mut exporter_consumers: HashMap<ComponentId, Arc<dyn Consumer>> = HashMap::new();
        for (eid, node) in &config.exporters {
            let signals = signals_using(config, eid);
            if signals.is_empty() {
                continue;
            }
            let factory = registry
                .exporter(&eid.type_name)
                .ok_or_else(|| unknown(eid, Kind::Exporter))?;
            let built = factory.build(node, context(eid, &components_shutdown))?;
            let queue_context = QueueContext {
                id: eid.to_string(),
                metrics: metrics.clone(),
                data_dir: config.service.data_dir.clone(),
            };
            let (consumer, handle) = start_queue(queue_context, built, &signals)?;
            exporter_consumers.insert(eid.clone(), consumer);
            queues.push((eid.to_string(), handle));
        }

        // Connectors, one per id in use, feeding the pipelines that list them as receivers.
        let mut connector_consumers: HashMap<ComponentId, Arc<dyn Consumer>> = HashMap::new();
        for (cid, node) in &config.connectors {
            if signals_using(config, cid).is_empty() {
                continue;
            }
            let factory = registry
                .connector(&cid.type_name)
                .ok_or_else(|| unknown(cid, Kind::Connector))?;
            let connector = factory.build(node, context(cid, &components_shutdown))?;
            connector_consumers.insert(
                cid.clone(),
                Arc::new(ConnectorConsumer {
                    connector,
                    outputs: outputs_for(cid),
                }),
            );
        }

        // Receivers start last, once everything they feed exists. Starting one binds its
        // listeners, so readiness follows from every start returning.
        let receivers_shutdown = CancellationToken::new();
        let mut receivers = Vec::new();
        for (rid, node) in &config.receivers {
            let outputs = outputs_for(rid);
            if outputs.is_empty() {
                continue;
            }
            let factory = registry
                .receiver(&rid.type_name)
                .ok_or_else(|| unknown(rid, Kind::Receiver))?;
            let receiver = factory.build(node, context(rid, &receivers_shutdown))?;
            receivers.push((rid.to_string(), receiver.start(outputs).await?));
        }

        let order = dependency_order(config);
        let mut pipelines = Vec::new();
        let mut by_id: HashMap<PipelineId, PendingPipeline> =
            pending.into_iter().map(|p| (p.id.clone(), p)).collect();
        for id in order {
            let Some(p) = by_id.remove(&id) else { continue };
            let spec = &config.service.pipelines[&id];
            let exporters = spec
                .exporters
                .iter()
                .filter_map(|e| {
                    exporter_consumers
                        .get(&e.id)
                        .or_else(|| connector_consumers.get(&e.id))
                        .cloned()
                })
                .collect();
            // Our own sender is dropped here so the channel closes once every upstream
            // (receivers, connectors) is gone.
            drop(p.input);
            let stop = CancellationToken::new();
            let task = PipelineTask {
                name: id.to_string(),
                input: p.receiver,
                stages: p.stages,
                exporters: Fanout::new(exporters),
                stop: stop.clone(),
            };
            pipelines.push(RunningPipeline {
                name: id.to_string(),
                stop,
                task: tokio::spawn(task.run()),
            });
        }

        Ok(Topology {
            receivers_shutdown,
            receivers,
            pipelines,
            queues,
        })
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

/// Orders pipelines so that those feeding a connector come before those it feeds.
/// Cycles are rejected by validation; here any leftover is appended as is.
fn dependency_order(config: &AgentConfig) -> Vec<PipelineId> {
    let pipelines = &config.service.pipelines;
    let feeds = |upstream: &PipelineId, downstream: &PipelineId| {
        pipelines[upstream].exporters.iter().any(|e| {
            config.connectors.contains_key(&e.id)
                && pipelines[downstream].receivers.iter().any(|r| r.id == e.id)
        })
    };
    let mut remaining: Vec<PipelineId> = pipelines.keys().cloned().collect();
    let mut ordered = Vec::new();
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .position(|p| !remaining.iter().any(|u| u != p && feeds(u, p)))
            .unwrap_or(0);
        ordered.push(remaining.remove(ready));
    }
    ordered
}

fn unknown(id: &ComponentId, kind: Kind) -> BuildError {
    BuildError::Other {
        component: id.to_string(),
        message: format!("no {} type {:?} is registered", kind.as_str(), id.type_name),
    }
}
