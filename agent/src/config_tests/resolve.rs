//! From the decoded `tests:` to a plan: component ids and pipelines looked up in the
//! config, inputs read and decoded. Every problem is reported at its file:line:col.

use sentinel_pipeline::config::{Diagnostic, Node, Span};
use sentinel_pipeline::{Kind, Payload, Signal};

use super::harness::{Emitted, Entry, Harness};
use super::spec::{element, InputSpec, OutputSpec, TestSpec};
use crate::config::{AgentConfig, ComponentId, PipelineId};

/// A component an input enters at or an output is taken from.
#[derive(Debug, Clone)]
pub struct Target {
    pub component: String,
    /// The one pipeline named by the test, if any.
    pub pipeline: Option<String>,
    kind: Kind,
    id: ComponentId,
    /// For an input at a receiver: the pipelines it enters.
    pipelines: Vec<PipelineId>,
}

impl Target {
    /// Whether `emitted` is this component's output (connectors emit outside pipelines).
    pub fn selects(&self, emitted: &Emitted) -> bool {
        emitted.component == self.component
            && (self.kind == Kind::Connector
                || self
                    .pipeline
                    .as_ref()
                    .is_none_or(|p| emitted.pipeline.as_deref() == Some(p.as_str())))
    }

    pub fn describe(&self) -> String {
        match &self.pipeline {
            Some(p) => format!("{} {} (pipeline {p})", self.kind.as_str(), self.component),
            None => format!("{} {}", self.kind.as_str(), self.component),
        }
    }
}

pub struct PlannedTest {
    pub name: String,
    pub inputs: Vec<(Target, Payload)>,
    pub outputs: Vec<(Target, OutputSpec)>,
}

pub fn plan(
    config: &AgentConfig,
    specs: Vec<(TestSpec, Node)>,
) -> Result<Vec<PlannedTest>, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let mut planned = Vec::new();
    for (spec, node) in specs {
        let mut inputs = Vec::new();
        for (i, input) in spec.inputs.iter().enumerate() {
            let place = element(&node, "inputs", i);
            let found = payload(input, place)
                .and_then(|p| input_target(config, input, p.signal(), place).map(|t| (t, p)));
            match found {
                Ok(pair) => inputs.push(pair),
                Err(d) => problems.push(d),
            }
        }
        let mut outputs = Vec::new();
        for (i, output) in spec.outputs.into_iter().enumerate() {
            let place = element(&node, "outputs", i);
            match output_target(config, &output, place) {
                Ok(target) => outputs.push((target, output)),
                Err(d) => problems.push(d),
            }
        }
        planned.push(PlannedTest {
            name: spec.name,
            inputs,
            outputs,
        });
    }
    if problems.is_empty() {
        Ok(planned)
    } else {
        Err(problems)
    }
}

/// Where an input enters the built harness.
pub fn entry(harness: &Harness, target: &Target) -> Entry {
    let index = |id: &PipelineId| harness.pipeline_index(id).expect("planned pipeline");
    match target.kind {
        Kind::Processor => {
            let p = index(&target.pipelines[0]);
            let stage = harness
                .stage_index(p, &target.component)
                .expect("planned processor");
            Entry::Processor(p, stage)
        }
        Kind::Connector => Entry::Connector(
            harness
                .connector_index(&target.id)
                .expect("planned connector"),
        ),
        _ => Entry::Receiver(target.pipelines.iter().map(index).collect()),
    }
}

fn at(node: &Node, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(span_of(node), message)
}

fn span_of(node: &Node) -> Span {
    node.get("component").unwrap_or(node).span.clone()
}

/// Reads and decodes the input's OTLP/JSON request.
fn payload(input: &InputSpec, place: &Node) -> Result<Payload, Diagnostic> {
    let (value, where_) = match (&input.request, &input.file) {
        (Some(value), _) => (value.clone(), place.get("request").unwrap_or(place)),
        (None, Some(file)) => {
            let file_node = place.get("file").unwrap_or(place);
            let path = super::directory_of(&file_node.span.file).join(file);
            let text = std::fs::read_to_string(&path).map_err(|err| {
                Diagnostic::error(
                    file_node.span.clone(),
                    format!("cannot read {}: {err}", path.display()),
                )
            })?;
            let value = serde_json::from_str(&text).map_err(|err| {
                Diagnostic::error(
                    file_node.span.clone(),
                    format!("{} is not JSON: {err}", path.display()),
                )
            })?;
            (value, file_node)
        }
        (None, None) => return Err(at(place, "an input needs `request` or `file`")),
    };
    let signal = ["resourceSpans", "resourceMetrics", "resourceLogs"]
        .iter()
        .zip(Signal::ALL)
        .find(|(key, _)| value.get(**key).is_some())
        .map(|(_, signal)| signal)
        .ok_or_else(|| {
            Diagnostic::error(
                where_.span.clone(),
                "an OTLP/JSON request has `resourceSpans`, `resourceMetrics` or `resourceLogs` at its top",
            )
        })?;
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    crate::receivers::otlp::decode_json(signal, &bytes).map_err(|err| {
        Diagnostic::error(
            where_.span.clone(),
            format!("not a valid OTLP/JSON {signal} request: {err}"),
        )
    })
}

/// The component id, its kind as found in the config, and the named pipeline.
fn lookup(
    config: &AgentConfig,
    component: &str,
    pipeline: Option<&str>,
    place: &Node,
    preference: [Kind; 4],
) -> Result<(ComponentId, Kind, Option<PipelineId>), Diagnostic> {
    let id = ComponentId::parse(component, span_of(place))?;
    // A receiver and an exporter may share an id (`otlp`): inputs mean the receiver,
    // outputs the exporter.
    let kind = preference
        .into_iter()
        .find(|kind| config.section(*kind).contains_key(&id))
        .ok_or_else(|| at(place, format!("no component {component:?} in the config")))?;
    let pipeline = match pipeline {
        None => None,
        Some(name) => Some(
            config
                .service
                .pipelines
                .keys()
                .find(|p| p.to_string() == name)
                .cloned()
                .ok_or_else(|| {
                    let node = place.get("pipeline").unwrap_or(place);
                    Diagnostic::error(
                        node.span.clone(),
                        format!("no pipeline {name:?} in the config"),
                    )
                })?,
        ),
    };
    Ok((id, kind, pipeline))
}

/// Pipelines that list `id` in the given part (`receivers`, `processors`, `exporters`).
fn listing<'a>(
    config: &'a AgentConfig,
    id: &ComponentId,
    part: fn(&crate::config::PipelineConfig) -> &[crate::config::ComponentRef],
) -> impl Iterator<Item = &'a PipelineId> {
    let id = id.clone();
    config
        .service
        .pipelines
        .iter()
        .filter(move |(_, p)| part(p).iter().any(|r| r.id == id))
        .map(|(pid, _)| pid)
}

fn input_target(
    config: &AgentConfig,
    input: &InputSpec,
    signal: Signal,
    place: &Node,
) -> Result<Target, Diagnostic> {
    let (id, kind, pipeline) = lookup(
        config,
        &input.component,
        input.pipeline.as_deref(),
        place,
        [
            Kind::Receiver,
            Kind::Processor,
            Kind::Connector,
            Kind::Exporter,
        ],
    )?;
    let pipelines: Vec<PipelineId> = match kind {
        Kind::Receiver => listing(config, &id, |p| &p.receivers)
            .filter(|p| p.signal == signal && pipeline.as_ref().is_none_or(|only| only == *p))
            .cloned()
            .collect(),
        Kind::Processor => {
            let Some(pipeline) = pipeline.clone() else {
                return Err(at(place, "an input at a processor names its `pipeline`"));
            };
            let listed = listing(config, &id, |p| &p.processors).any(|p| *p == pipeline);
            if !listed || pipeline.signal != signal {
                return Err(at(
                    place,
                    format!("pipeline {pipeline} has no processor {id} taking {signal}"),
                ));
            }
            vec![pipeline]
        }
        Kind::Connector => listing(config, &id, |p| &p.exporters)
            .filter(|p| p.signal == signal)
            .cloned()
            .collect(),
        Kind::Exporter => {
            return Err(at(
                place,
                "an exporter only takes data in from pipelines; inject at a receiver, processor or connector",
            ))
        }
    };
    if pipelines.is_empty() {
        return Err(at(
            place,
            format!("{} {id} takes no {signal} in any pipeline", kind.as_str()),
        ));
    }
    Ok(Target {
        component: id.to_string(),
        pipeline: pipeline.map(|p| p.to_string()),
        kind,
        id,
        pipelines,
    })
}

fn output_target(
    config: &AgentConfig,
    output: &OutputSpec,
    place: &Node,
) -> Result<Target, Diagnostic> {
    let (id, kind, pipeline) = lookup(
        config,
        &output.component,
        output.pipeline.as_deref(),
        place,
        [
            Kind::Exporter,
            Kind::Processor,
            Kind::Connector,
            Kind::Receiver,
        ],
    )?;
    let used: Vec<PipelineId> =
        match kind {
            Kind::Receiver => return Err(at(
                place,
                "a receiver's output is the test's input; check a processor, connector or exporter",
            )),
            Kind::Processor => {
                if pipeline.is_none() {
                    return Err(at(place, "an output of a processor names its `pipeline`"));
                }
                listing(config, &id, |p| &p.processors).cloned().collect()
            }
            Kind::Exporter => listing(config, &id, |p| &p.exporters).cloned().collect(),
            Kind::Connector => listing(config, &id, |p| &p.receivers).cloned().collect(),
        };
    if let Some(only) = &pipeline {
        if kind != Kind::Connector && !used.contains(only) {
            return Err(at(place, format!("pipeline {only} does not list {id}")));
        }
    }
    if used.is_empty() {
        return Err(at(place, format!("no pipeline takes data from {id}")));
    }
    Ok(Target {
        component: id.to_string(),
        pipeline: pipeline.map(|p| p.to_string()),
        kind,
        id,
        pipelines: used,
    })
}
