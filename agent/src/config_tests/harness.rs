//! The no-network graph `sentinel test` runs: the config's processors and connectors built
//! from the registry, receivers and exporters never built. Requests are injected by hand,
//! what reaches an exporter is captured instead of sent, and every stage's output is
//! recorded. Runs synchronously on the caller's thread: timers never fire, and the end
//! of a test is a shutdown flush in dependency order, so held data is checked too.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use sentinel_pipeline::{
    BuildContext, BuildError, Connector, Consumer, Fanout, Kind, Message, Output, Outputs, Payload,
    Processor, Refusal, SelfMetrics, Signal,
};
use tokio_util::sync::CancellationToken;

use crate::components::Registry;
use crate::config::{AgentConfig, ComponentId, PipelineId};
use crate::runtime::topology::dependency_order;

/// What one component emitted, in the order it happened.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub component: String,
    /// The pipeline it happened in (processors, exporters); `None` for connectors.
    pub pipeline: Option<String>,
    pub payload: Payload,
}

type Log = Arc<Mutex<Vec<Emitted>>>;
type Queue = Arc<Mutex<VecDeque<(usize, Message)>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct RunPipeline {
    id: PipelineId,
    stages: Vec<(String, Box<dyn Processor>)>,
    exporters: Vec<ComponentId>,
}

struct RunConnector {
    id: ComponentId,
    connector: Option<Arc<dyn Connector>>,
    outputs: Outputs,
    /// Pipelines (indexes) it feeds.
    feeds: Vec<usize>,
}

/// A connector's output into a downstream pipeline: queued, run once the caller drains.
struct Feed {
    pipeline: usize,
    queue: Queue,
}

impl Consumer for Feed {
    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        lock(&self.queue).push_back((self.pipeline, msg));
        Ok(())
    }
}

/// Records what a connector emitted.
struct Capture {
    component: String,
    log: Log,
}

impl Consumer for Capture {
    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        lock(&self.log).push(Emitted {
            component: self.component.clone(),
            pipeline: None,
            payload: msg.payload,
        });
        Ok(())
    }
}

/// Where an input enters the graph.
pub enum Entry {
    /// Pipelines (indexes) a receiver feeds.
    Receiver(Vec<usize>),
    /// A pipeline and the index of the processor the request enters at.
    Processor(usize, usize),
    /// A connector (index).
    Connector(usize),
}

pub struct Harness {
    pipelines: Vec<RunPipeline>,
    connectors: Vec<RunConnector>,
    queue: Queue,
    log: Log,
    shutdown: CancellationToken,
}

impl Harness {
    /// Builds every pipeline's processors and every connector in use, in dependency order.
    pub fn build(
        config: &AgentConfig,
        registry: &Registry,
        data_dir: &Path,
    ) -> Result<Harness, BuildError> {
        let metrics = SelfMetrics::new();
        let shutdown = CancellationToken::new();
        let context = |id: &ComponentId| BuildContext {
            id: id.to_string(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            data_dir: data_dir.to_path_buf(),
        };
        let mut pipelines = Vec::new();
        for id in dependency_order(config) {
            let spec = &config.service.pipelines[&id];
            let mut stages = Vec::new();
            for processor in &spec.processors {
                let pid = &processor.id;
                let factory = registry
                    .processor(&pid.type_name)
                    .ok_or_else(|| unknown(pid, Kind::Processor))?;
                let built = factory.build(&config.processors[pid], id.signal, context(pid))?;
                stages.push((pid.to_string(), built.stage));
            }
            let exporters = spec.exporters.iter().map(|r| r.id.clone()).collect();
            pipelines.push(RunPipeline {
                id,
                stages,
                exporters,
            });
        }
        let queue = Queue::default();
        let log = Log::default();
        let mut connectors = Vec::new();
        for (cid, node) in &config.connectors {
            let feeds: Vec<usize> = (0..pipelines.len())
                .filter(|&i| {
                    config.service.pipelines[&pipelines[i].id]
                        .receivers
                        .iter()
                        .any(|r| &r.id == cid)
                })
                .collect();
            let exported = pipelines.iter().any(|p| p.exporters.contains(cid));
            if feeds.is_empty() && !exported {
                continue;
            }
            let factory = registry
                .connector(&cid.type_name)
                .ok_or_else(|| unknown(cid, Kind::Connector))?;
            let connector = factory.build(node, context(cid))?;
            let outputs = outputs(cid, &feeds, &pipelines, &queue, &log);
            connectors.push(RunConnector {
                id: cid.clone(),
                connector: Some(connector),
                outputs,
                feeds,
            });
        }
        Ok(Harness {
            pipelines,
            connectors,
            queue,
            log,
            shutdown,
        })
    }

    pub fn pipeline_index(&self, id: &PipelineId) -> Option<usize> {
        self.pipelines.iter().position(|p| &p.id == id)
    }

    pub fn stage_index(&self, pipeline: usize, processor: &str) -> Option<usize> {
        self.pipelines[pipeline]
            .stages
            .iter()
            .position(|(id, _)| id == processor)
    }

    pub fn connector_index(&self, id: &ComponentId) -> Option<usize> {
        self.connectors.iter().position(|c| &c.id == id)
    }

    /// Runs one request through the graph from `entry`, with everything it causes.
    pub fn inject(&mut self, entry: &Entry, payload: &Payload) {
        match entry {
            Entry::Receiver(pipelines) => {
                for &p in pipelines {
                    self.push(p, 0, Message::unacked(payload.clone()));
                }
            }
            Entry::Processor(p, stage) => self.push(*p, *stage, Message::unacked(payload.clone())),
            Entry::Connector(c) => {
                let run = &self.connectors[*c];
                if let Some(connector) = &run.connector {
                    let _ = connector.consume(Message::unacked(payload.clone()), &run.outputs);
                }
            }
        }
        self.drain();
    }

    /// Shutdown: pipelines flushed in dependency order; a connector is dropped (spanmetrics
    /// emits what it aggregated) before the first pipeline it feeds is flushed.
    pub fn finish(mut self) -> Vec<Emitted> {
        self.shutdown.cancel();
        for p in 0..self.pipelines.len() {
            for c in 0..self.connectors.len() {
                if self.connectors[c].feeds.contains(&p) {
                    self.connectors[c].connector = None;
                }
            }
            self.drain();
            for stage in 0..self.pipelines[p].stages.len() {
                let mut out = Vec::new();
                self.pipelines[p].stages[stage].1.flush(&mut out);
                for msg in out {
                    self.record_stage(p, stage, &msg);
                    self.push(p, stage + 1, msg);
                }
                self.drain();
            }
        }
        for connector in &mut self.connectors {
            connector.connector = None;
        }
        let log = std::mem::take(&mut *lock(&self.log));
        log
    }

    fn drain(&mut self) {
        loop {
            let next = lock(&self.queue).pop_front();
            let Some((p, msg)) = next else { return };
            self.push(p, 0, msg);
        }
    }

    fn record_stage(&self, p: usize, stage: usize, msg: &Message) {
        let pipeline = &self.pipelines[p];
        lock(&self.log).push(Emitted {
            component: pipeline.stages[stage].0.clone(),
            pipeline: Some(pipeline.id.to_string()),
            payload: msg.payload.clone(),
        });
    }

    /// Runs `msg` through pipeline `p` from stage `first` on, then to its exporters.
    fn push(&mut self, p: usize, first: usize, msg: Message) {
        let mut pending = vec![msg];
        for stage in first..self.pipelines[p].stages.len() {
            let mut next = Vec::new();
            for msg in pending {
                self.pipelines[p].stages[stage].1.process(msg, &mut next);
            }
            for msg in &next {
                self.record_stage(p, stage, msg);
            }
            pending = next;
            if pending.is_empty() {
                return;
            }
        }
        for msg in pending {
            self.export(p, msg);
        }
    }

    /// Exporters capture; a connector listed among the exporters consumes.
    fn export(&self, p: usize, msg: Message) {
        let pipeline = &self.pipelines[p];
        for id in &pipeline.exporters {
            let connector = self.connectors.iter().find(|c| &c.id == id);
            match connector {
                Some(run) => {
                    if let Some(connector) = &run.connector {
                        let _ = connector.consume(msg.clone(), &run.outputs);
                    }
                }
                None => lock(&self.log).push(Emitted {
                    component: id.to_string(),
                    pipeline: Some(pipeline.id.to_string()),
                    payload: msg.payload.clone(),
                }),
            }
        }
    }
}

/// A connector's outputs: per signal, a capture of what it emits plus the pipelines it feeds.
fn outputs(
    id: &ComponentId,
    feeds: &[usize],
    pipelines: &[RunPipeline],
    queue: &Queue,
    log: &Log,
) -> Outputs {
    let mut outputs = Outputs::new();
    for signal in Signal::ALL {
        let mut consumers: Vec<Arc<dyn Consumer>> = vec![Arc::new(Capture {
            component: id.to_string(),
            log: log.clone(),
        })];
        for &p in feeds.iter().filter(|&&p| pipelines[p].id.signal == signal) {
            consumers.push(Arc::new(Feed {
                pipeline: p,
                queue: queue.clone(),
            }));
        }
        if consumers.len() > 1 {
            let output = Output {
                fanout: Fanout::new(consumers),
                budgets: Vec::new(),
            };
            outputs.insert(signal, output);
        }
    }
    outputs
}

fn unknown(id: &ComponentId, kind: Kind) -> BuildError {
    BuildError::Other {
        component: id.to_string(),
        message: format!("no {} type {:?} is registered", kind.as_str(), id.type_name),
    }
}
