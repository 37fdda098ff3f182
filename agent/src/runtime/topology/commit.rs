//! Switching to a prepared plan: (re)start the receivers that need it (the one step that
//! can still fail, on a port in use; then the receivers stopped for it are started again),
//! swap exporter clients, re-point every kept source, start the new pipelines, and hand
//! the replaced parts to `retire.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::pipeline_task::PassedStage;
use sentinel_pipeline::{Consumer, Fanout, PipelineTask};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::apply::{at, fingerprint, sinks_of, ApplyError, Changes, Plan};
use super::build::{Build, PendingPipeline};
use super::swap::SourceSlots;
use super::{dependency_order, RunningPipeline, RunningReceiver, Topology};
use crate::config::{AgentConfig, ComponentId};

/// How long a stopped receiver gets to close its listeners.
const RECEIVER_STOP: Duration = Duration::from_secs(5);

type Receivers = Vec<(ComponentId, RunningReceiver)>;

impl Topology {
    pub(super) async fn commit(
        &mut self,
        b: &Build<'_>,
        mut plan: Plan,
    ) -> Result<Changes, ApplyError> {
        let wanted: HashSet<ComponentId> = plan
            .kept_receivers
            .iter()
            .chain(&plan.start_receivers)
            .map(|(id, _)| id.clone())
            .collect();
        if let Err(err) = self.start_receivers(b, &mut plan).await {
            plan.abandon();
            return Err(err);
        }
        for (eid, exporter, node) in std::mem::take(&mut plan.swaps) {
            if let Some(queue) = self.queues.iter_mut().find(|q| q.id == eid) {
                drop(queue.swap.swap(exporter));
                queue.node = node;
            }
        }
        for (rid, wiring) in std::mem::take(&mut plan.kept_receivers) {
            if let Some(receiver) = self.receivers.get(&rid) {
                receiver.slots.set(wiring);
            }
        }
        let mut connectors = HashMap::new();
        for cid in &plan.kept_connectors {
            if let Some(connector) = self.connectors.remove(cid) {
                connector.slots.set(b.wiring(&plan.inputs, cid));
                connectors.insert(cid.clone(), connector);
            }
        }
        for (cid, connector) in std::mem::take(&mut plan.new_connectors) {
            connector.slots.set(b.wiring(&plan.inputs, &cid));
            connectors.insert(cid, connector);
        }
        // Replaced connectors stay alive in the old pipelines until those drain.
        self.connectors = connectors;
        let retiring = self.switch_pipelines(b.config, &mut plan);
        let removed = self.remove_receivers(&wanted);
        let queues = self.switch_queues(&mut plan);
        self.listening = self
            .receivers
            .values()
            .flat_map(|r| r.listening.iter().cloned())
            .collect();
        self.retire(b, retiring, removed, queues, std::mem::take(&mut plan.late))
            .await;
        Ok(plan.changes)
    }

    /// Stops each changed receiver and starts its replacement (same endpoint: the old one
    /// must let go of the port first). On a failure every receiver is put back as it was.
    async fn start_receivers(&mut self, b: &Build<'_>, plan: &mut Plan) -> Result<(), ApplyError> {
        let mut started: Receivers = Vec::new();
        let mut stopped: Receivers = Vec::new();
        for (rid, wiring) in std::mem::take(&mut plan.start_receivers) {
            if let Some(mut old) = self.receivers.shift_remove(&rid) {
                old.stop.cancel();
                let _ = timeout(RECEIVER_STOP, &mut old.running.task).await;
                stopped.push((rid.clone(), old));
            }
            let node = &b.config.receivers[&rid];
            let slots = SourceSlots::new(wiring);
            match b
                .start_receiver(&rid, node, slots, &self.receivers_shutdown)
                .await
            {
                Ok(receiver) => started.push((rid, receiver)),
                Err((_, err)) => {
                    let err = at(&node.span, err);
                    self.restore_receivers(b, started, stopped).await;
                    return Err(err);
                }
            }
        }
        self.receivers.extend(started);
        Ok(())
    }

    async fn restore_receivers(&mut self, b: &Build<'_>, started: Receivers, stopped: Receivers) {
        for (_, receiver) in started {
            receiver.stop.cancel();
            let _ = timeout(RECEIVER_STOP, receiver.running.task).await;
        }
        for (rid, old) in stopped {
            let parent = self.receivers_shutdown.clone();
            match b.start_receiver(&rid, &old.node, old.slots, &parent).await {
                Ok(receiver) => {
                    self.receivers.insert(rid, receiver);
                }
                Err((_, err)) => {
                    tracing::error!(receiver = %rid, error = %err, "Could not restart a receiver after a failed reload.");
                }
            }
        }
    }

    /// Starts the new pipelines; returns the replaced and removed ones, upstream first.
    fn switch_pipelines(&mut self, config: &AgentConfig, plan: &mut Plan) -> Vec<RunningPipeline> {
        let mut by_id: HashMap<_, RunningPipeline> = HashMap::new();
        let mut retiring = Vec::new();
        for pipeline in std::mem::take(&mut self.pipelines) {
            if plan.kept_pipelines.contains(&pipeline.id) {
                by_id.insert(pipeline.id.clone(), pipeline);
            } else {
                retiring.push(pipeline);
            }
        }
        for pending in std::mem::take(&mut plan.pending) {
            let sinks = sinks_of(config, &pending.id, &plan.sinks);
            by_id.insert(pending.id.clone(), spawn_pipeline(config, pending, sinks));
        }
        self.pipelines = dependency_order(config)
            .iter()
            .filter_map(|id| by_id.remove(id))
            .collect();
        retiring
    }

    fn remove_receivers(&mut self, wanted: &HashSet<ComponentId>) -> Receivers {
        let (keep, removed): (Receivers, Receivers) = std::mem::take(&mut self.receivers)
            .into_iter()
            .partition(|(id, _)| wanted.contains(id));
        self.receivers = keep.into_iter().collect();
        removed
    }

    /// Keeps the queues still in use, adds the new ones; returns the ones to drain.
    fn switch_queues(&mut self, plan: &mut Plan) -> Vec<super::RunningExporter> {
        let (keep, retiring): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queues)
            .into_iter()
            .partition(|q| plan.kept_queues.contains(&q.id));
        self.queues = keep;
        self.queues.append(&mut plan.new_queues);
        retiring
    }
}

fn spawn_pipeline(
    config: &AgentConfig,
    p: PendingPipeline,
    sinks: Vec<Arc<dyn Consumer>>,
) -> RunningPipeline {
    // Our own sender is dropped here so the channel closes once every upstream
    // (receivers, connectors) let go of it.
    let sender = p.sender.downgrade();
    drop(p.sender);
    // Receivers probe the exporter queues through the pipeline's input.
    // A pipeline without processors (but ones that change nothing) is fed directly by
    // its sources (no channel hop).
    p.downstream.set(&sinks, PassedStage::all(&p.stages));
    let stop = CancellationToken::new();
    let task = PipelineTask {
        name: p.id.to_string(),
        input: p.receiver,
        stages: p.stages,
        exporters: Fanout::new(sinks.clone()),
        downstream: p.downstream.clone(),
        stop: stop.clone(),
    };
    RunningPipeline {
        name: p.id.to_string(),
        stop,
        task: tokio::spawn(task.run()),
        fingerprint: fingerprint(config, &p.id),
        id: p.id,
        sender,
        downstream: p.downstream,
        budgets: p.budgets,
        sinks,
    }
}
