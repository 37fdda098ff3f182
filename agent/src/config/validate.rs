//! Checks a config against the registry: types, component configs, pipeline references,
//! signals, connectors (and cycles through them), and unused components.

use std::collections::HashSet;

use sentinel_pipeline::config::{suggest, Diagnostic};
use sentinel_pipeline::{Factory, Kind, Signal};

use super::model::{AgentConfig, ComponentId, ComponentRef, PipelineId};
use crate::components::Registry;

const KINDS: [Kind; 4] = [
    Kind::Receiver,
    Kind::Processor,
    Kind::Exporter,
    Kind::Connector,
];

pub fn validate(config: &AgentConfig, registry: &Registry) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    check_components(config, registry, &mut out);
    let mut check = References {
        config,
        registry,
        usage: Usage::default(),
        out: &mut out,
    };
    check.pipelines();
    let usage = check.usage;
    check_connector_sides(config, &usage, &mut out);
    check_connector_cycles(config, &mut out);
    warn_unused(config, &usage, &mut out);
    out.extend(crate::runtime::admin_auth::diagnostics(config));
    out.sort_by(|a, b| {
        (&a.span.file, a.span.line, a.span.col).cmp(&(&b.span.file, b.span.line, b.span.col))
    });
    out
}

/// Every component's type is known and its config decodes.
fn check_components(config: &AgentConfig, registry: &Registry, out: &mut Vec<Diagnostic>) {
    for kind in KINDS {
        for (id, node) in config.section(kind) {
            match factory(registry, kind, &id.type_name) {
                Some(factory) => match factory.check(node) {
                    Ok(_) => out.extend(factory.warnings(node)),
                    Err(diagnostics) => out.extend(diagnostics),
                },
                None => out.push(unknown_type(registry, kind, id)),
            }
        }
    }
}

/// What the pipelines reference, by role.
#[derive(Default)]
struct Usage {
    used: HashSet<(Kind, ComponentId)>,
    connector_as_exporter: HashSet<ComponentId>,
    connector_as_receiver: HashSet<ComponentId>,
}

/// Checks the references of every pipeline and notes what they use.
struct References<'a> {
    config: &'a AgentConfig,
    registry: &'a Registry,
    usage: Usage,
    out: &'a mut Vec<Diagnostic>,
}

impl References<'_> {
    fn pipelines(&mut self) {
        for (pid, pipeline) in &self.config.service.pipelines {
            for (refs, role) in [
                (&pipeline.receivers, "receivers"),
                (&pipeline.exporters, "exporters"),
            ] {
                if refs.is_empty() {
                    self.out.push(Diagnostic::error(
                        pid.span.clone(),
                        format!("pipeline {pid} has no {role}"),
                    ));
                }
            }
            for (role, refs) in [
                (Kind::Receiver, &pipeline.receivers),
                (Kind::Processor, &pipeline.processors),
                (Kind::Exporter, &pipeline.exporters),
            ] {
                check_duplicates(pid, role, refs, self.out);
                for reference in refs {
                    self.reference(pid, role, &reference.id);
                }
            }
        }
    }

    /// A component of the role's own section, else a connector, else undefined.
    fn reference(&mut self, pid: &PipelineId, role: Kind, id: &ComponentId) {
        if self.config.section(role).contains_key(id) {
            self.usage.used.insert((role, id.clone()));
            if let Some(factory) = factory(self.registry, role, &id.type_name) {
                let info = factory.info();
                if !info.signals.contains(&pid.signal) {
                    self.out.push(unsupported(id, role, pid, info.signals));
                }
            }
        } else if role != Kind::Processor && self.config.connectors.contains_key(id) {
            self.connector(pid, role, id);
        } else {
            self.out.push(undefined(self.config, role, id));
        }
    }

    fn connector(&mut self, pid: &PipelineId, role: Kind, id: &ComponentId) {
        self.usage.used.insert((Kind::Connector, id.clone()));
        let Some(factory) = self.registry.connector(&id.type_name) else {
            return;
        };
        let (signals, side) = if role == Kind::Exporter {
            self.usage.connector_as_exporter.insert(id.clone());
            (factory.input_signals(), "take in")
        } else {
            self.usage.connector_as_receiver.insert(id.clone());
            (factory.output_signals(), "emit")
        };
        if !signals.contains(&pid.signal) {
            self.out.push(Diagnostic::error(
                id.span.clone(),
                format!(
                    "connector {id} cannot {side} {} (pipeline {pid}); it supports {}",
                    pid.signal,
                    list(signals)
                ),
            ));
        }
    }
}

/// A connector links pipelines, so it is used on both sides.
fn check_connector_sides(config: &AgentConfig, usage: &Usage, out: &mut Vec<Diagnostic>) {
    for id in config.connectors.keys() {
        let exp = usage.connector_as_exporter.contains(id);
        let rec = usage.connector_as_receiver.contains(id);
        if exp != rec {
            let missing = if exp { "receiver" } else { "exporter" };
            out.push(Diagnostic::error(
                id.span.clone(),
                format!("connector {id} must also be used as a {missing} in another pipeline"),
            ));
        }
    }
}

fn warn_unused(config: &AgentConfig, usage: &Usage, out: &mut Vec<Diagnostic>) {
    for kind in KINDS {
        for id in config.section(kind).keys() {
            if !usage.used.contains(&(kind, id.clone())) {
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
