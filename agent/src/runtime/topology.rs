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
use crate::config::{connector_links, AgentConfig, ComponentId, PipelineConfig, PipelineId};

/// Everything that runs, in the order shutdown needs it.
pub struct Topology {
    pub receivers_shutdown: CancellationToken,
    pub receivers: Vec<(String, Running)>,
    /// Where clients send data, from every receiver that listens (the start banner).
    pub listening: Vec<String>,
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

/// Where a pipeline's exporters list hands data: exporter queues and connectors, by id.
type Sinks = HashMap<ComponentId, Arc<dyn Consumer>>;

/// A pipeline built but not running yet.
struct PendingPipeline {
    id: PipelineId,
    input: PipelineInput,
    receiver: mpsc::Receiver<Message>,
    stages: Vec<Stage>,
    budgets: Vec<Arc<MemoryBudget>>,
}

/// What every build phase needs.
struct Build<'a> {
    config: &'a AgentConfig,
    registry: &'a Registry,
    metrics: Arc<SelfMetrics>,
    /// Handed to processors, exporters and connectors; receivers get their own token,
    /// cancelled first at shutdown.
    components_shutdown: CancellationToken,
}

impl Topology {
    pub async fn start(
        config: &AgentConfig,
        registry: &Registry,
        metrics: Arc<SelfMetrics>,
    ) -> Result<Topology, BuildError> {
        let build = Build {
            config,
            registry,
            metrics,
            components_shutdown: CancellationToken::new(),
        };
        // Pipelines first: their inputs are what receivers and connectors feed.
        let pending = build.pipelines()?;
        let (queues, mut sinks) = build.exporter_queues()?;
        build.connectors(&pending, &mut sinks)?;
        // Receivers start last, once everything they feed exists.
        let receivers_shutdown = CancellationToken::new();
        let (receivers, listening) = build.receivers(&pending, &receivers_shutdown).await?;
        let pipelines = spawn_pipelines(config, pending, &sinks);
        Ok(Topology {
            receivers_shutdown,
            receivers,
            listening,
            pipelines,
            queues,
        })
    }
}

impl Build<'_> {
    fn context(&self, id: &ComponentId, shutdown: &CancellationToken) -> BuildContext {
        BuildContext {
            id: id.to_string(),
            metrics: self.metrics.clone(),
            shutdown: shutdown.clone(),
            data_dir: self.config.service.data_dir.clone(),
        }
    }

    fn pipelines(&self) -> Result<Vec<PendingPipeline>, BuildError> {
        let pipelines = &self.config.service.pipelines;
        pipelines
            .iter()
            .map(|(id, spec)| self.pipeline(id, spec))
            .collect()
    }

    /// Builds the processors of one pipeline and the channel in front of them.
    fn pipeline(
        &self,
        id: &PipelineId,
        spec: &PipelineConfig,
    ) -> Result<PendingPipeline, BuildError> {
        let (sender, receiver) = mpsc::channel(PIPELINE_INPUT_CAPACITY);
        let mut stages = Vec::new();
        let mut budgets = Vec::new();
        for processor_ref in &spec.processors {
            let pid = &processor_ref.id;
            let factory = self
                .registry
                .processor(&pid.type_name)
                .ok_or_else(|| unknown(pid, Kind::Processor))?;
            let node = &self.config.processors[pid];
            let context = self.context(pid, &self.components_shutdown);
            let built = factory.build(node, id.signal, context)?;
            budgets.extend(built.admission_budget);
            stages.push(Stage {
                processor: built.stage,
                metrics: self
                    .metrics
                    .component(Kind::Processor, &pid.to_string(), id.signal),
            });
        }
        Ok(PendingPipeline {
            id: id.clone(),
            input: PipelineInput {
                name: id.to_string(),
                sender,
                downstream: Default::default(),
            },
            receiver,
            stages,
            budgets,
        })
    }

    /// One sending queue per exporter id in use.
    fn exporter_queues(&self) -> Result<(Vec<(String, QueueHandle)>, Sinks), BuildError> {
        let mut queues = Vec::new();
        let mut sinks = Sinks::new();
        for (eid, node) in &self.config.exporters {
            let signals = signals_using(self.config, eid);
            if signals.is_empty() {
                continue;
            }
            let factory = self
                .registry
                .exporter(&eid.type_name)
                .ok_or_else(|| unknown(eid, Kind::Exporter))?;
            let built = factory.build(node, self.context(eid, &self.components_shutdown))?;
            let queue_context = QueueContext {
                id: eid.to_string(),
                metrics: self.metrics.clone(),
                data_dir: self.config.service.data_dir.clone(),
            };
            let (consumer, handle) = start_queue(queue_context, built, &signals)?;
            sinks.insert(eid.clone(), consumer);
            queues.push((eid.to_string(), handle));
        }
        Ok((queues, sinks))
    }

    /// One connector per id in use, feeding the pipelines that list it as a receiver.
    /// An exporter of the same id keeps its place among the sinks.
    fn connectors(&self, pending: &[PendingPipeline], sinks: &mut Sinks) -> Result<(), BuildError> {
        for (cid, node) in &self.config.connectors {
            if signals_using(self.config, cid).is_empty() {
                continue;
            }
            let factory = self
                .registry
                .connector(&cid.type_name)
                .ok_or_else(|| unknown(cid, Kind::Connector))?;
            let connector = factory.build(node, self.context(cid, &self.components_shutdown))?;
            let outputs = outputs_for(self.config, pending, cid);
            sinks
                .entry(cid.clone())
                .or_insert_with(|| Arc::new(ConnectorConsumer { connector, outputs }));
        }
        Ok(())
    }

    /// Starting a receiver binds its listeners, so readiness follows from every start
    /// returning.
    async fn receivers(
        &self,
        pending: &[PendingPipeline],
        shutdown: &CancellationToken,
    ) -> Result<(Vec<(String, Running)>, Vec<String>), BuildError> {
        let mut receivers = Vec::new();
        let mut listening = Vec::new();
        for (rid, node) in &self.config.receivers {
            let outputs = outputs_for(self.config, pending, rid);
            if outputs.is_empty() {
                continue;
            }
            let factory = self
                .registry
                .receiver(&rid.type_name)
                .ok_or_else(|| unknown(rid, Kind::Receiver))?;
            let receiver = factory.build(node, self.context(rid, shutdown))?;
            listening.extend(receiver.listens_on());
            receivers.push((rid.to_string(), receiver.start(outputs).await?));
        }
        Ok((receivers, listening))
    }
}

/// What `source` (a receiver or connector) feeds: the pipelines that list it under
/// `receivers`, with their memory budgets, by signal.
fn outputs_for(config: &AgentConfig, pending: &[PendingPipeline], source: &ComponentId) -> Outputs {
    let mut by_signal: BTreeMap<Signal, SignalInputs> = BTreeMap::new();
    for p in pending {
        let listed = config.service.pipelines[&p.id]
            .receivers
            .iter()
            .any(|r| &r.id == source);
        if listed {
            let (consumers, budgets) = by_signal.entry(p.id.signal).or_default();
            consumers.push(Arc::new(PipelineInput {
                name: p.input.name.clone(),
                sender: p.input.sender.clone(),
                downstream: p.input.downstream.clone(),
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
}

/// Starts every pipeline's task, upstream pipelines first.
fn spawn_pipelines(
    config: &AgentConfig,
    pending: Vec<PendingPipeline>,
    sinks: &Sinks,
) -> Vec<RunningPipeline> {
    let mut by_id: HashMap<PipelineId, PendingPipeline> =
        pending.into_iter().map(|p| (p.id.clone(), p)).collect();
    dependency_order(config)
        .iter()
        .filter_map(|id| by_id.remove(id))
        .map(|p| spawn_pipeline(config, p, sinks))
        .collect()
}

fn spawn_pipeline(config: &AgentConfig, p: PendingPipeline, sinks: &Sinks) -> RunningPipeline {
    let exporters: Vec<_> = config.service.pipelines[&p.id]
        .exporters
        .iter()
        .filter_map(|e| sinks.get(&e.id).cloned())
        .collect();
    // Receivers probe the exporter queues through the pipeline's input.
    let _ = p.input.downstream.set(Fanout::new(exporters.clone()));
    // Our own sender is dropped here so the channel closes once every upstream
    // (receivers, connectors) is gone.
    drop(p.input);
    let stop = CancellationToken::new();
    let task = PipelineTask {
        name: p.id.to_string(),
        input: p.receiver,
        stages: p.stages,
        exporters: Fanout::new(exporters),
        stop: stop.clone(),
    };
    RunningPipeline {
        name: p.id.to_string(),
        stop,
        task: tokio::spawn(task.run()),
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
fn dependency_order(config: &AgentConfig) -> Vec<PipelineId> {
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

#[cfg(test)]
mod tests;
