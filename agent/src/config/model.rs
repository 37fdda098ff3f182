//! The typed top level of a config: component sections, pipelines and `service`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use sentinel_pipeline::config::{
    decode_lenient, unknown_key_message, Diagnostic, Endpoint, Node, NodeValue, Span,
};
use sentinel_pipeline::{Kind, Signal};
use serde::{Deserialize, Serialize};

/// A whole agent config, after merging and env expansion. Component configs stay as nodes;
/// each factory decodes its own.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub receivers: IndexMap<ComponentId, Node>,
    pub processors: IndexMap<ComponentId, Node>,
    pub exporters: IndexMap<ComponentId, Node>,
    pub connectors: IndexMap<ComponentId, Node>,
    pub service: ServiceConfig,
    /// The `tests:` section (`sentinel test`), as written; the running agent ignores it.
    pub tests: Option<Node>,
}

impl AgentConfig {
    pub fn section(&self, kind: Kind) -> &IndexMap<ComponentId, Node> {
        match kind {
            Kind::Receiver => &self.receivers,
            Kind::Processor => &self.processors,
            Kind::Exporter => &self.exporters,
            Kind::Connector => &self.connectors,
        }
    }
}

/// A component id written `type` or `type/name`. Equality ignores where it was written.
#[derive(Clone, Debug)]
pub struct ComponentId {
    pub type_name: String,
    pub name: Option<String>,
    pub span: Span,
}

impl ComponentId {
    pub fn parse(text: &str, span: Span) -> Result<ComponentId, Diagnostic> {
        let (type_name, name) = match text.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (text, None),
        };
        if type_name.is_empty() || name.is_some_and(str::is_empty) {
            return Err(Diagnostic::error(
                span,
                format!("invalid component id {text:?}: expected `type` or `type/name`"),
            ));
        }
        Ok(ComponentId {
            type_name: type_name.to_string(),
            name: name.map(str::to_string),
            span,
        })
    }
}

impl PartialEq for ComponentId {
    fn eq(&self, other: &Self) -> bool {
        self.type_name == other.type_name && self.name == other.name
    }
}

impl Eq for ComponentId {}

impl Hash for ComponentId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.type_name.hash(state);
        self.name.hash(state);
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.type_name, name),
            None => f.write_str(&self.type_name),
        }
    }
}

/// A pipeline id, `traces` or `traces/name`.
#[derive(Clone, Debug)]
pub struct PipelineId {
    pub signal: Signal,
    pub name: Option<String>,
    pub span: Span,
}

impl PartialEq for PipelineId {
    fn eq(&self, other: &Self) -> bool {
        self.signal == other.signal && self.name == other.name
    }
}

impl Eq for PipelineId {}

impl Hash for PipelineId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.signal.hash(state);
        self.name.hash(state);
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.signal, name),
            None => write!(f, "{}", self.signal),
        }
    }
}

/// A reference to a component from a pipeline; the id's span is where it is referenced.
#[derive(Clone, Debug)]
pub struct ComponentRef {
    pub id: ComponentId,
}

#[derive(Clone, Debug, Default)]
pub struct PipelineConfig {
    pub receivers: Vec<ComponentRef>,
    pub processors: Vec<ComponentRef>,
    pub exporters: Vec<ComponentRef>,
}

#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub pipelines: IndexMap<PipelineId, PipelineConfig>,
    pub telemetry: TelemetryConfig,
    /// How long SIGINT/SIGTERM may take to drain before the agent exits.
    pub shutdown_timeout: Duration,
    /// Where disk queues and dead-letter files live unless a queue sets its own directory.
    pub data_dir: PathBuf,
    /// Where the `service` section was written.
    pub span: Span,
}

/// `service.telemetry`: the agent's own metrics and logs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub metrics: MetricsTelemetry,
    pub logs: LogsTelemetry,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsTelemetry {
    /// Admin listener serving `/metrics`, `/healthz` and `/readyz`.
    pub address: Endpoint,
    /// `sentinel tap` (`/api/v1/tap`): live samples of the data out of a component.
    pub tap: TapConfig,
    /// Server TLS of the admin address (`cert_file`, `key_file`, `client_ca_file`,
    /// `min_version`, `reload_interval`). Default: plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<sentinel_pipeline::listen::ServerTlsConfig>,
    /// Bearer token required for every non-GET request, `/-/*`, `/api/v1/tap*` and
    /// `/api/v2/silences*` (reload, tap, silences); `/metrics`, `/healthz`, `/readyz`
    /// stay open. CLI clients send it from `--token-file` or `SENTINEL_ADMIN_TOKEN_FILE`.
    /// Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<sentinel_pipeline::listen::ServerAuthConfig>,
    /// Connection cap and idle, header and body-read timeouts of the admin address.
    pub connections: sentinel_pipeline::listen::ConnectionLimits,
}

impl Default for MetricsTelemetry {
    fn default() -> Self {
        MetricsTelemetry {
            address: Endpoint::new("127.0.0.1:8888").expect("valid default"),
            tap: TapConfig::default(),
            tls: None,
            auth: None,
            connections: Default::default(),
        }
    }
}

/// `service.telemetry.metrics.tap`: what `sentinel tap` may read. Samples are redacted
/// like the hooks receiver's events.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TapConfig {
    /// Serve `/api/v1/tap` at all (default `false`: it answers 403).
    pub enabled: bool,
    /// Most items (spans, metrics, log records) per second one tap receives (default 100);
    /// a lower `--rate` wins.
    pub max_items_per_second: u32,
    /// Most items one tap request returns (default 1000); a lower `--limit` wins.
    pub max_items: u32,
}

impl Default for TapConfig {
    fn default() -> Self {
        TapConfig {
            enabled: false,
            max_items_per_second: 100,
            max_items: 1000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsTelemetry {
    /// `error`, `warn`, `info`, `debug` or `trace` (or a tracing filter directive).
    pub level: String,
    /// `console` (human-readable) or `json` (one object per line).
    pub encoding: LogEncoding,
    /// How often to log one line saying what the receivers took in per signal (zeros
    /// included), what was refused and dropped, and a host heartbeat (CPU, memory, load).
    /// The first line comes after at most 10s. `0s` turns the summary off.
    #[serde(with = "humantime_serde")]
    pub summary_interval: Duration,
}

impl Default for LogsTelemetry {
    fn default() -> Self {
        LogsTelemetry {
            level: "info".into(),
            encoding: LogEncoding::Console,
            summary_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogEncoding {
    Console,
    Json,
}

/// `service` minus `pipelines`, decoded strictly.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceOptions {
    #[serde(default)]
    #[allow(dead_code)]
    pipelines: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    telemetry: TelemetryConfig,
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde")]
    shutdown_timeout: Duration,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/sentinel")
}

const SECTIONS: [&str; 6] = [
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "service",
    "tests",
];

/// Builds the typed config from the merged root node, collecting every problem.
pub fn from_root(root: &Node, errors: &mut Vec<Diagnostic>) -> Option<AgentConfig> {
    let NodeValue::Map(entries) = &root.value else {
        errors.push(Diagnostic::error(
            root.span.clone(),
            "the config must be a map of sections",
        ));
        return None;
    };
    for (key, _) in entries {
        let name = key.as_str().unwrap_or_default();
        if !SECTIONS.contains(&name) {
            errors.push(Diagnostic::error(
                key.span.clone(),
                unknown_key_message(name, &SECTIONS),
            ));
        }
    }
    let section = |name: &str, errors: &mut Vec<Diagnostic>| -> IndexMap<ComponentId, Node> {
        let mut out = IndexMap::new();
        match root.get(name).map(|n| &n.value) {
            None | Some(NodeValue::Null) => {}
            Some(NodeValue::Map(components)) => {
                for (key, value) in components {
                    let Some(text) = key.as_str() else {
                        errors.push(Diagnostic::error(
                            key.span.clone(),
                            "component ids are strings",
                        ));
                        continue;
                    };
                    match ComponentId::parse(text, key.span.clone()) {
                        Ok(id) => {
                            out.insert(id, value.clone());
                        }
                        Err(d) => errors.push(d),
                    }
                }
            }
            Some(_) => errors.push(Diagnostic::error(
                root.get(name)
                    .map(|n| n.span.clone())
                    .unwrap_or_else(Span::unknown),
                format!("`{name}` must be a map of component ids to configs"),
            )),
        }
        out
    };
    let receivers = section("receivers", errors);
    let processors = section("processors", errors);
    let exporters = section("exporters", errors);
    let connectors = section("connectors", errors);
    let service_node = root
        .get("service")
        .cloned()
        .unwrap_or_else(|| Node::empty_map(root.span.clone()));
    let (options, problems) = decode_lenient::<ServiceOptions>(&service_node);
    errors.extend(problems);
    let pipelines = pipelines(service_node.get("pipelines"), errors);
    let options = options?;
    Some(AgentConfig {
        receivers,
        processors,
        exporters,
        connectors,
        tests: root.get("tests").cloned(),
        service: ServiceConfig {
            pipelines,
            telemetry: options.telemetry,
            shutdown_timeout: options.shutdown_timeout,
            data_dir: options.data_dir,
            span: service_node.span.clone(),
        },
    })
}

const PIPELINE_KEYS: [&str; 3] = ["receivers", "processors", "exporters"];

fn pipelines(
    node: Option<&Node>,
    errors: &mut Vec<Diagnostic>,
) -> IndexMap<PipelineId, PipelineConfig> {
    let mut out = IndexMap::new();
    let Some(node) = node else { return out };
    let NodeValue::Map(entries) = &node.value else {
        if node.value != NodeValue::Null {
            errors.push(Diagnostic::error(
                node.span.clone(),
                "`service.pipelines` must be a map",
            ));
        }
        return out;
    };
    for (key, body) in entries {
        let text = key.as_str().unwrap_or_default();
        let (signal_text, name) = match text.split_once('/') {
            Some((s, n)) => (s, Some(n.to_string())),
            None => (text, None),
        };
        let Some(signal) = Signal::parse(signal_text) else {
            let signals = ["traces", "metrics", "logs"];
            let hint = sentinel_pipeline::config::suggest(signal_text, signals)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_else(|| "; expected traces, metrics or logs".into());
            errors.push(Diagnostic::error(
                key.span.clone(),
                format!("unknown pipeline signal {signal_text:?}{hint}"),
            ));
            continue;
        };
        let id = PipelineId {
            signal,
            name,
            span: key.span.clone(),
        };
        let mut pipeline = PipelineConfig::default();
        match &body.value {
            NodeValue::Map(fields) => {
                for (field, list) in fields {
                    let field_name = field.as_str().unwrap_or_default();
                    let target = match field_name {
                        "receivers" => &mut pipeline.receivers,
                        "processors" => &mut pipeline.processors,
                        "exporters" => &mut pipeline.exporters,
                        _ => {
                            errors.push(Diagnostic::error(
                                field.span.clone(),
                                unknown_key_message(field_name, &PIPELINE_KEYS),
                            ));
                            continue;
                        }
                    };
                    *target = references(list, errors);
                }
            }
            _ => errors.push(Diagnostic::error(
                body.span.clone(),
                "a pipeline is a map with `receivers`, `processors` and `exporters`",
            )),
        }
        out.insert(id, pipeline);
    }
    out
}

fn references(list: &Node, errors: &mut Vec<Diagnostic>) -> Vec<ComponentRef> {
    match &list.value {
        NodeValue::Seq(items) => items
            .iter()
            .filter_map(|item| match item.as_str() {
                Some(text) => ComponentId::parse(text, item.span.clone())
                    .map_err(|d| errors.push(d))
                    .ok()
                    .map(|id| ComponentRef { id }),
                None => {
                    errors.push(Diagnostic::error(
                        item.span.clone(),
                        "expected a component id",
                    ));
                    None
                }
            })
            .collect(),
        NodeValue::Null => Vec::new(),
        _ => {
            errors.push(Diagnostic::error(
                list.span.clone(),
                "expected a list of component ids",
            ));
            Vec::new()
        }
    }
}
