//! Checks a config against the registry: types, component configs, pipeline references,
//! signals, connectors (and cycles through them), and unused components.

use std::collections::HashSet;

use sentinel_pipeline::config::{suggest, Diagnostic};
use sentinel_pipeline::{Factory, Kind, Signal};

use super::model::{AgentConfig, ComponentId, ComponentRef, PipelineId};
use crate::components::Registry;

pub fn validate(config: &AgentConfig, registry: &Registry) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for kind in [
        Kind::Receiver,
        Kind::Processor,
        Kind::Exporter,
        Kind::Connector,
    ] {
        for (id, node) in config.section(kind) {
            match factory(registry, kind, &id.type_name) {
                Some(factory) => {
                    if let Err(diagnostics) = factory.check(node) {
                        out.extend(diagnostics);
                    }
                }
                None => out.push(unknown_type(registry, kind, id)),
            }
        }
    }

    let mut used: HashSet<(Kind, ComponentId)> = HashSet::new();
    let mut connector_as_exporter = HashSet::new();
    let mut connector_as_receiver = HashSet::new();
    for (pid, pipeline) in &config.service.pipelines {
        if pipeline.receivers.is_empty() {
            out.push(Diagnostic::error(
                pid.span.clone(),
                format!("pipeline {pid} has no receivers"),
            ));
        }
        if pipeline.exporters.is_empty() {
            out.push(Diagnostic::error(
                pid.span.clone(),
                format!("pipeline {pid} has no exporters"),
            ));
        }
        for (role, refs) in [
            (Kind::Receiver, &pipeline.receivers),
            (Kind::Processor, &pipeline.processors),
            (Kind::Exporter, &pipeline.exporters),
        ] {
            check_duplicates(pid, role, refs, &mut out);
            for reference in refs {
                let id = &reference.id;
                let as_connector = role != Kind::Processor && config.connectors.contains_key(id);
                if config.section(role).contains_key(id) {
                    used.insert((role, id.clone()));
                    if let Some(factory) = factory(registry, role, &id.type_name) {
                        let info = factory.info();
                        if !info.signals.contains(&pid.signal) {
                            out.push(unsupported(id, role, pid, info.signals));
                        }
                    }
                } else if as_connector {
                    used.insert((Kind::Connector, id.clone()));
                    if let Some(factory) = registry.connector(&id.type_name) {
                        let (signals, side) = if role == Kind::Exporter {
                            connector_as_exporter.insert(id.clone());
                            (factory.input_signals(), "take in")
                        } else {
                            connector_as_receiver.insert(id.clone());
                            (factory.output_signals(), "emit")
                        };
                        if !signals.contains(&pid.signal) {
                            out.push(Diagnostic::error(
                                id.span.clone(),
                                format!(
                                    "connector {id} cannot {side} {} (pipeline {pid}); it supports {}",
                                    pid.signal,
                                    list(signals)
                                ),
                            ));
                        }
                    }
                } else {
                    out.push(undefined(config, role, id));
                }
            }
        }
    }

    for id in config.connectors.keys() {
        let exp = connector_as_exporter.contains(id);
        let rec = connector_as_receiver.contains(id);
        if exp != rec {
            let missing = if exp { "receiver" } else { "exporter" };
            out.push(Diagnostic::error(
                id.span.clone(),
                format!("connector {id} must also be used as a {missing} in another pipeline"),
            ));
        }
    }
    check_connector_cycles(config, &mut out);
    for kind in [
        Kind::Receiver,
        Kind::Processor,
        Kind::Exporter,
        Kind::Connector,
    ] {
        for id in config.section(kind).keys() {
            if !used.contains(&(kind, id.clone())) {
                out.push(Diagnostic::warning(
                    id.span.clone(),
                    format!(
                        "{} {id} is defined but not used by any pipeline",
                        kind.as_str()
                    ),
                ));
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.span.file, a.span.line, a.span.col).cmp(&(&b.span.file, b.span.line, b.span.col))
    });
    out
}

/// One pipeline feeding another through a connector: `from` exports to the connector and
/// `to` lists it as a receiver.
pub struct ConnectorLink<'a> {
    pub from: &'a PipelineId,
    pub to: &'a PipelineId,
    /// The connector as referenced in `from`'s exporters.
    pub connector: &'a ComponentId,
}

/// Every link between pipelines through connectors, in config order.
pub fn connector_links(config: &AgentConfig) -> Vec<ConnectorLink<'_>> {
    let pipelines = &config.service.pipelines;
    let mut links = Vec::new();
    for (from, upstream) in pipelines {
        for export in upstream.exporters.iter().map(|e| &e.id) {
            if !config.connectors.contains_key(export) {
                continue;
            }
            for (to, downstream) in pipelines {
                if downstream.receivers.iter().any(|r| &r.id == export) {
                    links.push(ConnectorLink {
                        from,
                        to,
                        connector: export,
                    });
                }
            }
        }
    }
    links
}

/// Data sent round a loop of pipelines would circle forever, and shutdown drains
/// pipelines upstream first, so connectors must not link pipelines in a cycle (a pipeline
/// exporting to a connector it receives from is the shortest one).
fn check_connector_cycles(config: &AgentConfig, out: &mut Vec<Diagnostic>) {
    let pipelines = &config.service.pipelines;
    let links = connector_links(config);
    let position = |id: &PipelineId| pipelines.get_index_of(id).unwrap_or(0);
    let mut search = CycleSearch {
        ends: links
            .iter()
            .map(|l| (position(l.from), position(l.to)))
            .collect(),
        links,
        on_path: vec![false; pipelines.len()],
        done: vec![false; pipelines.len()],
        path: Vec::new(),
        out,
    };
    for start in 0..pipelines.len() {
        search.visit(start);
    }
}

/// A depth-first walk of the links: a link back to a pipeline on the current path closes
/// a cycle, reported at that link's connector reference.
struct CycleSearch<'a, 'o> {
    links: Vec<ConnectorLink<'a>>,
    /// Each link's (from, to) as positions in the pipelines map.
    ends: Vec<(usize, usize)>,
    on_path: Vec<bool>,
    done: Vec<bool>,
    /// The links walked from the start to the current pipeline.
    path: Vec<usize>,
    out: &'o mut Vec<Diagnostic>,
}

impl CycleSearch<'_, '_> {
    fn visit(&mut self, pipeline: usize) {
        if self.done[pipeline] {
            return;
        }
        self.on_path[pipeline] = true;
        for link in 0..self.links.len() {
            let (from, to) = self.ends[link];
            if from != pipeline {
                continue;
            }
            if self.on_path[to] {
                self.report(link);
            } else {
                self.path.push(link);
                self.visit(to);
                self.path.pop();
            }
        }
        self.on_path[pipeline] = false;
        self.done[pipeline] = true;
    }

    fn report(&mut self, closing: usize) {
        let back_to = self.ends[closing].1;
        let start = self
            .path
            .iter()
            .position(|&link| self.ends[link].0 == back_to)
            .unwrap_or(self.path.len());
        let closing = &self.links[closing];
        let mut cycle = closing.to.to_string();
        for link in self.path[start..]
            .iter()
            .map(|&l| &self.links[l])
            .chain([closing])
        {
            cycle.push_str(&format!(" -> {} -> {}", link.connector, link.to));
        }
        self.out.push(Diagnostic::error(
            closing.connector.span.clone(),
            format!(
                "connector {} closes a cycle of pipelines: {cycle}; data would loop forever",
                closing.connector
            ),
        ));
    }
}

fn factory<'a>(registry: &'a Registry, kind: Kind, type_name: &str) -> Option<&'a dyn Factory> {
    match kind {
        Kind::Receiver => registry.receiver(type_name).map(|f| f as &dyn Factory),
        Kind::Processor => registry.processor(type_name).map(|f| f as &dyn Factory),
        Kind::Exporter => registry.exporter(type_name).map(|f| f as &dyn Factory),
        Kind::Connector => registry.connector(type_name).map(|f| f as &dyn Factory),
    }
}

fn unknown_type(registry: &Registry, kind: Kind, id: &ComponentId) -> Diagnostic {
    let known: Vec<&str> = registry
        .all()
        .into_iter()
        .map(|f| f.info())
        .filter(|info| info.kind == kind)
        .map(|info| info.type_name)
        .collect();
    let hint = match suggest(&id.type_name, known.iter().copied()) {
        Some(best) => format!("; did you mean {best:?}?"),
        None => format!("; known {} types: {}", kind.as_str(), known.join(", ")),
    };
    Diagnostic::error(
        id.span.clone(),
        format!("unknown {} type {:?}{hint}", kind.as_str(), id.type_name),
    )
}

fn undefined(config: &AgentConfig, role: Kind, id: &ComponentId) -> Diagnostic {
    let mut candidates: Vec<String> = config.section(role).keys().map(|k| k.to_string()).collect();
    if role != Kind::Processor {
        candidates.extend(config.connectors.keys().map(|k| k.to_string()));
    }
    let text = id.to_string();
    let hint = suggest(&text, candidates.iter().map(String::as_str))
        .map(|best| format!("; did you mean {best:?}?"))
        .unwrap_or_default();
    Diagnostic::error(
        id.span.clone(),
        format!(
            "{} {text:?} is not defined in `{}`{hint}",
            role.as_str(),
            role.section()
        ),
    )
}

fn unsupported(id: &ComponentId, role: Kind, pid: &PipelineId, signals: &[Signal]) -> Diagnostic {
    Diagnostic::error(
        id.span.clone(),
        format!(
            "{} {id} does not support {} (pipeline {pid}); it supports {}",
            role.as_str(),
            pid.signal,
            list(signals)
        ),
    )
}

fn check_duplicates(
    pid: &PipelineId,
    role: Kind,
    refs: &[ComponentRef],
    out: &mut Vec<Diagnostic>,
) {
    let mut seen = HashSet::new();
    for reference in refs {
        if !seen.insert(&reference.id) {
            out.push(Diagnostic::error(
                reference.id.span.clone(),
                format!(
                    "{} {} is listed twice in pipeline {pid}",
                    role.as_str(),
                    reference.id
                ),
            ));
        }
    }
}

fn list(signals: &[Signal]) -> String {
    signals
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
