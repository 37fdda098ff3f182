//! Building one part at a time, for a given config: a pipeline's processors, an exporter
//! and its sending queue, a connector, a receiver; and the wiring of a source.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sentinel_exporters::sending::{start_queue, QueueContext};
use sentinel_pipeline::admission::MemoryBudget;
use sentinel_pipeline::config::Node;
use sentinel_pipeline::pipeline_task::Downstream;
use sentinel_pipeline::tap::TapRegistry;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, Consumer, Fanout, Kind, Message, PipelineInput,
    SelfMetrics, Signal, Stage,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::swap::{SourceSlots, SwapExporter, Wiring};
use super::{
    unknown, ConnectorConsumer, KeptBudget, RunningConnector, RunningExporter, RunningReceiver,
};
use crate::components::Registry;
use crate::config::{AgentConfig, ComponentId, PipelineId};
use sentinel_pipeline::PIPELINE_INPUT_CAPACITY;

/// What every build step needs.
pub(super) struct Build<'a> {
    pub config: &'a AgentConfig,
    pub registry: &'a Registry,
    pub metrics: Arc<SelfMetrics>,
    /// Tap points wrap every hand-off (`sentinel tap`).
    pub taps: Arc<TapRegistry>,
    /// Handed to processors, exporters and connectors; receivers get their own token.
    pub components_shutdown: CancellationToken,
}

/// A pipeline built but not running yet.
pub(super) struct PendingPipeline {
    pub id: PipelineId,
    pub sender: mpsc::Sender<Message>,
    pub downstream: Arc<Downstream>,
    pub receiver: mpsc::Receiver<Message>,
    pub stages: Vec<Stage>,
    pub budgets: Vec<KeptBudget>,
}

/// Where each pipeline's input is and what budgets its sources charge.
/// Before the pipelines are settled only the budgets are known (no sender yet).
pub(super) type Inputs = HashMap<PipelineId, (Option<InputEnd>, Vec<Arc<MemoryBudget>>)>;

/// A pipeline's channel sender and its downstream sinks, which receivers probe before
/// decoding ([`Consumer::has_room`]); set once the pipeline is spawned.
pub(super) type InputEnd = (mpsc::Sender<Message>, Arc<Downstream>);

impl Build<'_> {
    pub fn context(&self, id: &ComponentId, shutdown: &CancellationToken) -> BuildContext {
        BuildContext {
            id: id.to_string(),
            metrics: self.metrics.clone(),
            shutdown: shutdown.clone(),
            data_dir: self.config.service.data_dir.clone(),
        }
    }

    /// Builds the processors of one pipeline and the channel in front of them. A
    /// `memory_limiter` whose config is in `reuse` keeps its budget.
    pub fn pipeline(
        &self,
        id: &PipelineId,
        reuse: &[KeptBudget],
    ) -> Result<PendingPipeline, Box<(ComponentId, BuildError)>> {
        let spec = &self.config.service.pipelines[id];
        let (sender, receiver) = mpsc::channel(PIPELINE_INPUT_CAPACITY);
        let mut stages = Vec::new();
        let mut budgets = Vec::new();
        for processor_ref in &spec.processors {
            let pid = &processor_ref.id;
            let fail = |err| Box::new((pid.clone(), err));
            let factory = self
                .registry
                .processor(&pid.type_name)
                .ok_or_else(|| fail(unknown(pid, Kind::Processor)))?;
            let node = &self.config.processors[pid];
            let context = self.context(pid, &self.components_shutdown);
            let built = factory.build(node, id.signal, context).map_err(fail)?;
            if let Some(budget) = built.admission_budget {
                let config = node.to_json();
                let budget = reuse
                    .iter()
                    .find(|k| &k.processor == pid && k.config == config)
                    .map_or(budget, |k| k.budget.clone());
                budgets.push(KeptBudget {
                    processor: pid.clone(),
                    config,
                    budget,
                });
            }
            stages.push(Stage {
                processor: self
                    .taps
                    .processor(&pid.to_string(), &id.to_string(), built.stage),
                metrics: self
                    .metrics
                    .component(Kind::Processor, &pid.to_string(), id.signal),
            });
        }
        Ok(PendingPipeline {
            id: id.clone(),
            sender,
            downstream: Default::default(),
            receiver,
            stages,
            budgets,
        })
    }

    pub fn exporter(&self, id: &ComponentId, node: &Node) -> Result<BuiltExporter, BuildError> {
        let factory = self
            .registry
            .exporter(&id.type_name)
            .ok_or_else(|| unknown(id, Kind::Exporter))?;
        factory.build(node, self.context(id, &self.components_shutdown))
    }

    /// Starts the sending queue around `built`, behind a swappable exporter.
    pub fn start_exporter(
        &self,
        id: &ComponentId,
        node: &Node,
        built: BuiltExporter,
        signals: &[Signal],
    ) -> Result<RunningExporter, BuildError> {
        let swap = SwapExporter::new(built.exporter);
        let queue = built.queue.clone();
        let retry = built.retry.clone();
        let wrapped = BuiltExporter {
            exporter: swap.clone(),
            queue: built.queue,
            retry: built.retry,
        };
        let queue_context = QueueContext {
            id: id.to_string(),
            metrics: self.metrics.clone(),
            data_dir: self.config.service.data_dir.clone(),
        };
        let (consumer, handle) = start_queue(queue_context, wrapped, signals)?;
        let consumer = self.taps.consumer(&id.to_string(), "", true, consumer);
        Ok(RunningExporter {
            id: id.clone(),
            node: node.clone(),
            queue,
            retry,
            swap,
            consumer,
            handle,
        })
    }

    /// A connector whose outputs are slots, to be pointed at pipelines once they exist.
    pub fn connector(
        &self,
        id: &ComponentId,
        wiring: Wiring,
    ) -> Result<RunningConnector, BuildError> {
        let factory = self
            .registry
            .connector(&id.type_name)
            .ok_or_else(|| unknown(id, Kind::Connector))?;
        let node = &self.config.connectors[id];
        let connector = factory.build(node, self.context(id, &self.components_shutdown))?;
        let slots = SourceSlots::new(wiring);
        let consumer: Arc<dyn Consumer> = Arc::new(ConnectorConsumer {
            connector,
            outputs: slots.outputs(),
        });
        Ok(RunningConnector {
            node: node.clone(),
            consumer,
            slots,
        })
    }

    /// Starting a receiver binds its listeners, so readiness follows from every start
    /// returning.
    pub async fn start_receiver(
        &self,
        id: &ComponentId,
        node: &Node,
        slots: SourceSlots,
        parent: &CancellationToken,
    ) -> Result<RunningReceiver, (SourceSlots, BuildError)> {
        let Some(factory) = self.registry.receiver(&id.type_name) else {
            return Err((slots, unknown(id, Kind::Receiver)));
        };
        let stop = parent.child_token();
        let receiver = match factory.build(node, self.context(id, &stop)) {
            Ok(receiver) => receiver,
            Err(err) => return Err((slots, err)),
        };
        let listening = receiver.listens_on();
        match receiver.start(slots.outputs()).await {
            Ok(running) => Ok(RunningReceiver {
                node: node.clone(),
                stop,
                running,
                slots,
                listening,
            }),
            Err(err) => Err((slots, err)),
        }
    }

    /// What `source` (a receiver or connector) feeds: the pipelines that list it under
    /// `receivers`, with their memory budgets, by signal.
    pub fn wiring(&self, inputs: &Inputs, source: &ComponentId) -> Wiring {
        type Parts = (Vec<Arc<dyn Consumer>>, Vec<Arc<MemoryBudget>>);
        let mut by_signal: BTreeMap<Signal, Parts> = BTreeMap::new();
        for (pid, spec) in &self.config.service.pipelines {
            if !spec.receivers.iter().any(|r| &r.id == source) {
                continue;
            }
            let Some((sender, budgets)) = inputs.get(pid) else {
                continue;
            };
            let (consumers, all_budgets) = by_signal.entry(pid.signal).or_default();
            if let Some((sender, downstream)) = sender {
                let input = Arc::new(PipelineInput {
                    name: pid.to_string(),
                    sender: sender.clone(),
                    downstream: downstream.clone(),
                });
                let connector_type =
                    (!self.config.receivers.contains_key(source)).then_some(&*source.type_name);
                let primary = consumers.is_empty();
                consumers.push(self.taps.source_consumer(
                    &source.to_string(),
                    connector_type,
                    &pid.to_string(),
                    primary,
                    input,
                ));
            }
            all_budgets.extend(budgets.iter().cloned());
        }
        by_signal
            .into_iter()
            .map(|(signal, (consumers, budgets))| (signal, (Fanout::new(consumers), budgets)))
            .collect()
    }
}
