//! Comparing a config with what runs and building what is new or changed, without
//! touching anything that runs: exporters first (kept, client swapped, or a new queue),
//! then pipelines whose processors changed, connectors, pipelines whose sinks were
//! replaced, and last which receivers keep running and which (re)start.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use sentinel_pipeline::config::{Diagnostic, Node, Span};
use sentinel_pipeline::sending::QueueKind;
use sentinel_pipeline::{BuildError, BuiltExporter, Consumer, Exporter, Signal};

use super::build::{Build, Inputs, PendingPipeline};
use super::swap::{LateSink, Wiring};
use super::{signals_using, RunningConnector, RunningExporter, Topology};
use crate::components::Registry;
use crate::config::{AgentConfig, ComponentId, PipelineId};

/// What a reload did, one line per part that changed.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub lines: Vec<String>,
    /// Components and pipelines that kept running untouched.
    pub unchanged: usize,
}

impl Changes {
    fn push(&mut self, line: String) {
        self.lines.push(line);
    }
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        writeln!(f, "{} unchanged (kept running)", self.unchanged)
    }
}

/// A part of the new config that could not be built or started; the running graph is
/// left as it was. Displays as `FILE:LINE:COL: message` at the component's config.
#[derive(Debug, thiserror::Error)]
#[error("{diagnostic}")]
pub struct ApplyError {
    pub diagnostic: Box<Diagnostic>,
    pub source: Box<BuildError>,
}

pub(super) fn at(span: &Span, source: BuildError) -> ApplyError {
    ApplyError {
        diagnostic: Box::new(Diagnostic::error(span.clone(), source.to_string())),
        source: Box::new(source),
    }
}

/// A replaced disk queue: started once the old queue released its directory.
pub(super) struct LateQueue {
    pub id: ComponentId,
    pub node: Node,
    pub built: BuiltExporter,
    pub signals: Vec<Signal>,
    pub sink: Arc<LateSink>,
}

/// Everything built for a config and not running yet.
#[derive(Default)]
pub(super) struct Plan {
    pub changes: Changes,
    pub sinks: HashMap<ComponentId, Arc<dyn Consumer>>,
    pub kept_queues: HashSet<ComponentId>,
    pub new_queues: Vec<RunningExporter>,
    pub late: Vec<LateQueue>,
    pub swaps: Vec<(ComponentId, Arc<dyn Exporter>, Node)>,
    pub kept_connectors: Vec<ComponentId>,
    pub new_connectors: Vec<(ComponentId, RunningConnector)>,
    pub pending: Vec<PendingPipeline>,
    pub kept_pipelines: HashSet<PipelineId>,
    pub inputs: Inputs,
    pub kept_receivers: Vec<(ComponentId, Wiring)>,
    pub start_receivers: Vec<(ComponentId, Wiring)>,
}

impl Plan {
    /// Drops what was built; queues started for it close at once (they hold nothing).
    pub fn abandon(self) {
        let queues = self.new_queues;
        if queues.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for queue in queues {
                queue.handle.drain(tokio::time::Instant::now()).await;
            }
        });
    }
}

/// A pipeline's receivers, processors with their config, and exporters.
pub(super) fn fingerprint(config: &AgentConfig, id: &PipelineId) -> serde_json::Value {
    let spec = &config.service.pipelines[id];
    let ids = |refs: &[crate::config::ComponentRef]| -> Vec<String> {
        refs.iter().map(|r| r.id.to_string()).collect()
    };
    let processors: Vec<serde_json::Value> = spec
        .processors
        .iter()
        .map(|p| serde_json::json!([p.id.to_string(), config.processors[&p.id].to_json()]))
        .collect();
    serde_json::json!({
        "receivers": ids(&spec.receivers),
        "processors": processors,
        "exporters": ids(&spec.exporters),
    })
}

fn same_sinks(a: &[Arc<dyn Consumer>], b: &[Arc<dyn Consumer>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| std::ptr::addr_eq(Arc::as_ptr(x), Arc::as_ptr(y)))
}

pub(super) fn sinks_of(
    config: &AgentConfig,
    id: &PipelineId,
    sinks: &HashMap<ComponentId, Arc<dyn Consumer>>,
) -> Vec<Arc<dyn Consumer>> {
    config.service.pipelines[id]
        .exporters
        .iter()
        .filter_map(|e| sinks.get(&e.id).cloned())
        .collect()
}

impl Topology {
    /// Makes the running graph match `config`; on error nothing that ran was changed.
    pub async fn apply(
        &mut self,
        config: &AgentConfig,
        registry: &Registry,
    ) -> Result<Changes, ApplyError> {
        let build = Build {
            config,
            registry,
            metrics: self.metrics.clone(),
            taps: self.taps.clone(),
            components_shutdown: self.components_shutdown.clone(),
        };
        let mut plan = Plan::default();
        if let Err(err) = self.prepare(&build, &mut plan) {
            plan.abandon();
            return Err(err);
        }
        self.commit(&build, plan).await
    }

    fn prepare(&self, b: &Build<'_>, plan: &mut Plan) -> Result<(), ApplyError> {
        self.plan_exporters(b, plan)?;
        self.plan_changed_pipelines(b, plan)?;
        self.plan_connectors(b, plan)?;
        self.plan_rewired_pipelines(b, plan)?;
        self.plan_receivers(b, plan);
        self.plan_removals(b, plan);
        Ok(())
    }

    fn plan_exporters(&self, b: &Build<'_>, plan: &mut Plan) -> Result<(), ApplyError> {
        for (eid, node) in &b.config.exporters {
            let signals = signals_using(b.config, eid);
            if signals.is_empty() {
                continue;
            }
            let old = self.queues.iter().find(|q| &q.id == eid);
            if let Some(old) = old.filter(|old| old.node.to_json() == node.to_json()) {
                plan.sinks.insert(eid.clone(), old.consumer.clone());
                plan.kept_queues.insert(eid.clone());
                plan.changes.unchanged += 1;
                continue;
            }
            let built = b.exporter(eid, node).map_err(|e| at(&node.span, e))?;
            match old {
                Some(old) if old.queue == built.queue && old.retry == built.retry => {
                    plan.sinks.insert(eid.clone(), old.consumer.clone());
                    plan.kept_queues.insert(eid.clone());
                    plan.swaps.push((eid.clone(), built.exporter, node.clone()));
                    plan.changes.push(format!(
                        "exporter {eid}: changed; client rebuilt, queue kept"
                    ));
                }
                Some(old)
                    if old.queue.kind == QueueKind::Disk || built.queue.kind == QueueKind::Disk =>
                {
                    let sink = LateSink::new(eid.to_string());
                    plan.sinks.insert(eid.clone(), sink.clone());
                    plan.late.push(LateQueue {
                        id: eid.clone(),
                        node: node.clone(),
                        built,
                        signals,
                        sink,
                    });
                    plan.changes.push(format!(
                        "exporter {eid}: queue settings changed; queue reopened"
                    ));
                }
                _ => {
                    let what = if old.is_some() {
                        "queue settings changed; new queue, the old one drains"
                    } else {
                        "added"
                    };
                    let running = b
                        .start_exporter(eid, node, built, &signals)
                        .map_err(|e| at(&node.span, e))?;
                    plan.sinks.insert(eid.clone(), running.consumer.clone());
                    plan.new_queues.push(running);
                    plan.changes.push(format!("exporter {eid}: {what}"));
                }
            }
        }
        Ok(())
    }

    /// Pipelines whose own config changed are built now; the others keep their budgets.
    fn plan_changed_pipelines(&self, b: &Build<'_>, plan: &mut Plan) -> Result<(), ApplyError> {
        for pid in b.config.service.pipelines.keys() {
            let old = self.pipelines.iter().find(|p| &p.id == pid);
            match old {
                Some(old) if old.fingerprint == fingerprint(b.config, pid) => {
                    let budgets = old.budgets.iter().map(|k| k.budget.clone()).collect();
                    plan.inputs.insert(pid.clone(), (None, budgets));
                }
                _ => {
                    let reuse = old.map(|o| o.budgets.as_slice()).unwrap_or(&[]);
                    let pending = b.pipeline(pid, reuse).map_err(|failed| {
                        let (cid, e) = *failed;
                        at(&b.config.processors[&cid].span, e)
                    })?;
                    let budgets = pending.budgets.iter().map(|k| k.budget.clone()).collect();
                    plan.inputs.insert(pid.clone(), (None, budgets));
                    plan.pending.push(pending);
                    let what = if old.is_some() {
                        "changed; rebuilt"
                    } else {
                        "added"
                    };
                    plan.changes.push(format!("pipeline {pid}: {what}"));
                }
            }
        }
        Ok(())
    }

    /// A connector is kept when its config and the budgets downstream are unchanged.
    fn plan_connectors(&self, b: &Build<'_>, plan: &mut Plan) -> Result<(), ApplyError> {
        for (cid, node) in &b.config.connectors {
            if signals_using(b.config, cid).is_empty() {
                continue;
            }
            let wiring = b.wiring(&plan.inputs, cid);
            if let Some(old) = self.connectors.get(cid) {
                if old.node.to_json() == node.to_json() && old.slots.accepts(&wiring) {
                    plan.sinks
                        .entry(cid.clone())
                        .or_insert_with(|| old.consumer.clone());
                    plan.kept_connectors.push(cid.clone());
                    plan.changes.unchanged += 1;
                    continue;
                }
            }
            let connector = b.connector(cid, wiring).map_err(|e| at(&node.span, e))?;
            plan.sinks
                .entry(cid.clone())
                .or_insert_with(|| connector.consumer.clone());
            let what = if self.connectors.contains_key(cid) {
                "changed; rebuilt"
            } else {
                "added"
            };
            plan.changes.push(format!("connector {cid}: {what}"));
            plan.new_connectors.push((cid.clone(), connector));
        }
        Ok(())
    }

    /// Pipelines with an unchanged config keep running unless an exporter or connector
    /// they hand data to was replaced.
    fn plan_rewired_pipelines(&self, b: &Build<'_>, plan: &mut Plan) -> Result<(), ApplyError> {
        let built: HashSet<PipelineId> = plan.pending.iter().map(|p| p.id.clone()).collect();
        for pid in b.config.service.pipelines.keys() {
            if built.contains(pid) {
                continue;
            }
            let Some(old) = self.pipelines.iter().find(|p| &p.id == pid) else {
                continue;
            };
            let sinks = sinks_of(b.config, pid, &plan.sinks);
            let sender = old.sender.upgrade();
            if let (true, Some(sender)) = (same_sinks(&old.sinks, &sinks), sender) {
                if let Some(entry) = plan.inputs.get_mut(pid) {
                    entry.0 = Some((sender, old.downstream.clone()));
                }
                plan.kept_pipelines.insert(pid.clone());
                plan.changes.unchanged += 1;
                continue;
            }
            let pending = b.pipeline(pid, &old.budgets).map_err(|failed| {
                let (cid, e) = *failed;
                at(&b.config.processors[&cid].span, e)
            })?;
            plan.changes.push(format!(
                "pipeline {pid}: rebuilt (an exporter or connector was replaced)"
            ));
            plan.pending.push(pending);
        }
        for pending in &plan.pending {
            let budgets = pending.budgets.iter().map(|k| k.budget.clone()).collect();
            plan.inputs.insert(
                pending.id.clone(),
                (
                    Some((pending.sender.clone(), pending.downstream.clone())),
                    budgets,
                ),
            );
        }
        Ok(())
    }

    /// Receivers with an unchanged config keep their sockets and are re-pointed.
    fn plan_receivers(&self, b: &Build<'_>, plan: &mut Plan) {
        for (rid, node) in &b.config.receivers {
            let wiring = b.wiring(&plan.inputs, rid);
            if wiring.is_empty() {
                continue;
            }
            match self.receivers.get(rid) {
                Some(old) if old.node.to_json() == node.to_json() && old.slots.accepts(&wiring) => {
                    plan.kept_receivers.push((rid.clone(), wiring));
                    plan.changes.unchanged += 1;
                }
                old => {
                    let what = match old {
                        Some(old) if old.node.to_json() == node.to_json() => {
                            "restarted (its pipelines' signals or memory budgets changed)"
                        }
                        Some(_) => "changed; restarted",
                        None => "added",
                    };
                    plan.changes.push(format!("receiver {rid}: {what}"));
                    plan.start_receivers.push((rid.clone(), wiring));
                }
            }
        }
    }

    fn plan_removals(&self, b: &Build<'_>, plan: &mut Plan) {
        let receivers: HashSet<&ComponentId> = plan
            .kept_receivers
            .iter()
            .chain(&plan.start_receivers)
            .map(|(id, _)| id)
            .collect();
        for rid in self.receivers.keys().filter(|id| !receivers.contains(id)) {
            plan.changes.push(format!("receiver {rid}: removed"));
        }
        for p in &self.pipelines {
            if !b.config.service.pipelines.contains_key(&p.id) {
                plan.changes.push(format!("pipeline {}: removed", p.id));
            }
        }
        for q in &self.queues {
            if !plan.sinks.contains_key(&q.id) {
                plan.changes
                    .push(format!("exporter {}: removed; its queue drains", q.id));
            }
        }
        for cid in self.connectors.keys() {
            if !plan.sinks.contains_key(cid) {
                plan.changes.push(format!("connector {cid}: removed"));
            }
        }
    }
}
