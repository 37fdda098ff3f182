//! The `tests:` section of a config: what `sentinel test` injects and what it expects.
//! Decoded strictly (unknown keys are errors at their file:line:col) like every other
//! section; the running agent ignores it.

use std::path::PathBuf;

use indexmap::IndexMap;
use sentinel_pipeline::config::{decode_lenient, Diagnostic, Node, NodeValue};
use sentinel_pipeline::Signal;
use serde::Deserialize;

/// One in-config pipeline test: requests injected at named components, then conditions on
/// what came out of named components once every pipeline was flushed (as at shutdown, so
/// `batch`, `tail_sampling` and `dedup` emit what they hold).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    /// The test's name, shown in the report.
    pub name: String,
    /// Requests injected in order. Each runs through the graph before the next enters.
    pub inputs: Vec<InputSpec>,
    /// Conditions on what components emitted; all must hold for the test to pass.
    pub outputs: Vec<OutputSpec>,
}

/// One OTLP/JSON export request injected at a component.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Where the request enters: a receiver id (the request goes into every pipeline of
    /// its signal that lists the receiver, as if the receiver had decoded it), a
    /// processor id (with `pipeline`: the request enters that pipeline at that processor)
    /// or a connector id (the connector consumes it as if an upstream pipeline exported it).
    pub component: String,
    /// The pipeline (`traces`, `metrics/name`, ...) a processor id belongs to. Required for
    /// processors; for receivers it restricts the request to that one pipeline.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// The request written inline: a whole `ExportTraceServiceRequest`,
    /// `ExportMetricsServiceRequest` or `ExportLogsServiceRequest` in OTLP/JSON (YAML
    /// syntax is fine). Its top-level key (`resourceSpans`, `resourceMetrics` or
    /// `resourceLogs`) gives the signal. Exactly one of `request` and `file`.
    #[serde(default)]
    pub request: Option<serde_json::Value>,
    /// A file holding one OTLP/JSON export request, relative to the directory of the
    /// config file that holds the test. Exactly one of `request` and `file`.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// What one component must (or must not) have emitted during the test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The component whose output is checked: an exporter id (what reached it, from every
    /// pipeline that lists it), a processor id (with `pipeline`: what it passed on) or a
    /// connector id (what it emitted into its downstream pipelines).
    pub component: String,
    /// The pipeline a processor id belongs to (required for processors); for exporters,
    /// only what reached the exporter from this pipeline.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// Only output of this signal (`traces`, `metrics` or `logs`); default: every signal.
    #[serde(default)]
    pub signal: Option<Signal>,
    /// `some` (the default): at least one item must come out. `none`: nothing may come out
    /// at all (every other condition is then meaningless and not allowed).
    #[serde(default)]
    pub expect: Expect,
    /// The exact number of items that came out: spans, metric data points or log records.
    #[serde(default)]
    pub count: Option<usize>,
    /// Conditions every emitted resource must meet.
    #[serde(default)]
    pub resource: Option<Conditions>,
    /// Conditions every emitted instrumentation scope must meet.
    #[serde(default)]
    pub scope: Option<Conditions>,
    /// Conditions every emitted item must meet: spans, metric data points (`name` is the
    /// metric's name, attributes the point's) or log records (`name` is the body text).
    #[serde(default)]
    pub items: Option<Conditions>,
    /// Metrics that must be among the output, each with optional unit, point count and a
    /// point's value.
    #[serde(default)]
    pub metrics: Vec<MetricCheck>,
}

/// Whether anything must come out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    #[default]
    Some,
    None,
}

/// Conditions on a resource, a scope or an item. Every emitted one must meet all of them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The name: a scope's name, a span's name, a data point's metric name, a log record's
    /// body text. Not allowed for `resource`, which has no name.
    #[serde(default)]
    pub name: Option<String>,
    /// Attributes that must be present with exactly this value (a string, integer, float
    /// or boolean; an integer attribute equals a whole float).
    #[serde(default)]
    pub attributes: IndexMap<String, serde_json::Value>,
    /// Attribute keys that must be present, whatever their value.
    #[serde(default)]
    pub present: Vec<String>,
    /// Attribute keys that must be absent.
    #[serde(default)]
    pub absent: Vec<String>,
}

/// A metric that must be among the output.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricCheck {
    /// The metric's name.
    pub name: String,
    /// Its unit, when given (`s`, `By`, `{connection}`, ...).
    #[serde(default)]
    pub unit: Option<String>,
    /// The number of data points the metric has in all of the output.
    #[serde(default)]
    pub points: Option<usize>,
    /// Selects the data points whose attributes include these (default: every point).
    #[serde(default)]
    pub attributes: IndexMap<String, serde_json::Value>,
    /// The value some selected point must have: a gauge's or sum's value, or a histogram's
    /// or summary's `sum`. Compared with a relative tolerance of 1e-9.
    #[serde(default)]
    pub value: Option<f64>,
}

/// Decodes the `tests:` node. Every problem comes back with its file:line:col.
pub fn decode(node: &Node) -> Result<Vec<(TestSpec, Node)>, Vec<Diagnostic>> {
    let NodeValue::Seq(entries) = &node.value else {
        if node.value == NodeValue::Null {
            return Ok(Vec::new());
        }
        return Err(vec![Diagnostic::error(
            node.span.clone(),
            "`tests` must be a list of tests, each with `name`, `inputs` and `outputs`",
        )]);
    };
    let mut tests = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        let (spec, found) = decode_lenient::<TestSpec>(entry);
        problems.extend(found);
        if let Some(spec) = spec {
            problems.extend(shape_problems(&spec, entry));
            tests.push((spec, entry.clone()));
        }
    }
    if problems.is_empty() {
        Ok(tests)
    } else {
        Err(problems)
    }
}

/// The `index`th element of the list under `key`, or the node itself.
pub fn element<'a>(node: &'a Node, key: &str, index: usize) -> &'a Node {
    match node.get(key).map(|n| &n.value) {
        Some(NodeValue::Seq(items)) => items.get(index).unwrap_or(node),
        _ => node,
    }
}

/// Checks serde cannot express: one request source, `expect: none` alone, no resource name.
fn shape_problems(spec: &TestSpec, node: &Node) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut at =
        |n: &Node, message: String| problems.push(Diagnostic::error(n.span.clone(), message));
    for (i, input) in spec.inputs.iter().enumerate() {
        if input.request.is_some() == input.file.is_some() {
            at(
                element(node, "inputs", i),
                "an input needs exactly one of `request` (inline OTLP/JSON) and `file`".into(),
            );
        }
    }
    for (i, output) in spec.outputs.iter().enumerate() {
        let place = element(node, "outputs", i);
        let conditions = output.count.is_some()
            || output.resource.is_some()
            || output.scope.is_some()
            || output.items.is_some()
            || !output.metrics.is_empty();
        if output.expect == Expect::None && conditions {
            at(
                place,
                "`expect: none` means nothing comes out; it takes no other conditions".into(),
            );
        }
        if output.resource.as_ref().is_some_and(|r| r.name.is_some()) {
            let key = place.get("resource").unwrap_or(place);
            at(key, "a resource has no name; use `attributes`".into());
        }
    }
    if spec.outputs.is_empty() {
        at(
            node,
            "a test needs at least one entry under `outputs`".into(),
        );
    }
    problems
}
