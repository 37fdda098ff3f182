//! Loading and validation against a registry of small stand-in factories.

use std::path::PathBuf;
use std::sync::Arc;

use sentinel_pipeline::config::{check, ComponentConfig, Diagnostic, Node, Severity};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, Connector, ConnectorFactory,
    ExporterFactory, Factory, Kind, Receiver, ReceiverFactory, Signal,
};
use serde::{Deserialize, Serialize};

use super::*;
use crate::components::Registry;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointOnly {
    #[serde(default)]
    endpoint: Option<sentinel_pipeline::config::Endpoint>,
}
impl ComponentConfig for EndpointOnly {}

struct Fake(ComponentInfo);

impl Factory for Fake {
    fn info(&self) -> ComponentInfo {
        self.0
    }
    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<EndpointOnly>(node)
    }
}
impl ReceiverFactory for Fake {
    fn build(&self, _: &Node, _: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        unreachable!("validation never builds")
    }
}
impl ExporterFactory for Fake {
    fn build(&self, _: &Node, _: BuildContext) -> Result<BuiltExporter, BuildError> {
        unreachable!("validation never builds")
    }
}
/// `count` takes traces in and emits metrics; `forward` passes any signal on.
impl ConnectorFactory for Fake {
    fn input_signals(&self) -> &'static [Signal] {
        match self.0.type_name {
            "forward" => &Signal::ALL,
            _ => &[Signal::Traces],
        }
    }
    fn output_signals(&self) -> &'static [Signal] {
        match self.0.type_name {
            "forward" => &Signal::ALL,
            _ => &[Signal::Metrics],
        }
    }
    fn build(&self, _: &Node, _: BuildContext) -> Result<Arc<dyn Connector>, BuildError> {
        unreachable!("validation never builds")
    }
}

fn info(type_name: &'static str, kind: Kind, signals: &'static [Signal]) -> ComponentInfo {
    ComponentInfo {
        type_name,
        kind,
        signals,
        description: "test",
    }
}

fn registry() -> Registry {
    Registry {
        receivers: vec![Box::new(Fake(info("otlp", Kind::Receiver, &Signal::ALL)))],
        processors: vec![],
        exporters: vec![
            Box::new(Fake(info("debug", Kind::Exporter, &Signal::ALL))),
            Box::new(Fake(info("prometheus", Kind::Exporter, &[Signal::Metrics]))),
        ],
        connectors: vec![
            Box::new(Fake(info("count", Kind::Connector, &Signal::ALL))),
            Box::new(Fake(info("forward", Kind::Connector, &Signal::ALL))),
        ],
    }
}

fn run(yaml: &str) -> (Option<AgentConfig>, Vec<Diagnostic>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let env = |name: &str| (name == "GRPC_PORT").then(|| "4999".to_string());
    let (config, mut diagnostics) = load_and_validate(&[path], &env, &registry());
    for d in &mut diagnostics {
        d.span.file = "c.yaml".into();
    }
    (config, diagnostics)
}

fn errors(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect()
}

const GOOD: &str = "receivers:\n  otlp:\n    endpoint: 127.0.0.1:${env:GRPC_PORT}\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n";

#[test]
fn a_good_config_loads_with_env_expanded() {
    let (config, diagnostics) = run(GOOD);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let config = config.unwrap();
    let node = config.receivers.values().next().unwrap();
    assert_eq!(
        node.get("endpoint").unwrap().as_str(),
        Some("127.0.0.1:4999")
    );
    assert_eq!(
        config.service.shutdown_timeout,
        std::time::Duration::from_secs(10)
    );
}

#[test]
fn unknown_section_and_service_keys_are_caught() {
    let (_, diagnostics) = run(&format!("{GOOD}exporter:\n  x:\n"));
    assert_eq!(
        errors(&diagnostics),
        vec!["c.yaml:11:1: unknown key \"exporter\"; did you mean \"exporters\"?"]
    );
    let (_, diagnostics) = run(&GOOD.replace("service:\n", "service:\n  shutdown_timout: 5s\n"));
    let errs = errors(&diagnostics);
    assert!(
        errs[0].starts_with("c.yaml:7:3:") && errs[0].contains("shutdown_timeout"),
        "{errs:?}"
    );
}

#[test]
fn undefined_reference_with_suggestion() {
    let (config, diagnostics) = run(&GOOD.replace("exporters: [debug]", "exporters: [debgu]"));
    assert!(config.is_none());
    let errs = errors(&diagnostics);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("c.yaml:10:19:"), "{errs:?}");
    assert!(errs[0].contains("did you mean \"debug\""), "{errs:?}");
}

#[test]
fn unused_components_warn_but_do_not_fail() {
    let (config, diagnostics) = run(&GOOD.replace("  debug:\n", "  debug:\n  debug/spare:\n"));
    assert!(config.is_some());
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].severity, Severity::Warning);
    assert!(diagnostics[0]
        .to_string()
        .starts_with("c.yaml:6:3: warning: exporter debug/spare"));
}

#[test]
fn unsupported_signal_and_unknown_type() {
    let yaml = GOOD
        .replace("  debug:\n", "  debug:\n  prometheus:\n  debugg:\n")
        .replace(
            "exporters: [debug]",
            "exporters: [debug, prometheus, debugg]",
        );
    let (_, diagnostics) = run(&yaml);
    let errs = errors(&diagnostics);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("c.yaml:7:3:") && e.contains("did you mean \"debug\"")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("prometheus does not support traces")),
        "{errs:?}"
    );
}

#[test]
fn component_config_errors_carry_positions() {
    let (_, diagnostics) = run(&GOOD.replace("    endpoint:", "    endpont:"));
    let errs = errors(&diagnostics);
    assert_eq!(
        errs,
        vec!["c.yaml:3:5: unknown key \"endpont\"; did you mean \"endpoint\"?"]
    );
}

#[test]
fn connectors_must_be_used_on_both_sides_with_matching_signals() {
    let yaml = "receivers:\n  otlp:\nexporters:\n  debug:\nconnectors:\n  count:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [count]\n    metrics:\n      receivers: [count]\n      exporters: [debug]\n";
    let (config, diagnostics) = run(yaml);
    assert!(config.is_some(), "{diagnostics:?}");
    let one_sided = yaml.replace("      receivers: [count]", "      receivers: [otlp]");
    let (_, diagnostics) = run(&one_sided);
    assert!(errors(&diagnostics)
        .iter()
        .any(|e| e.contains("connector count must also be used as a receiver")));
    let wrong_signal = yaml.replace("    metrics:", "    logs:");
    let (_, diagnostics) = run(&wrong_signal);
    assert!(
        errors(&diagnostics)
            .iter()
            .any(|e| e.contains("cannot emit logs")),
        "{diagnostics:?}"
    );
}

const CONNECTED: &str = "receivers:\n  otlp:\nexporters:\n  debug:\nconnectors:\n  forward/ab:\n  forward/ba:\nservice:\n  pipelines:\n    traces/a:\n      receivers: [otlp]\n      exporters: [forward/ab]\n    traces/b:\n      receivers: [forward/ab]\n      exporters: [debug]\n";

#[test]
fn pipelines_linked_by_connectors_without_a_cycle_are_valid() {
    let (config, diagnostics) = run(&CONNECTED.replace("  forward/ba:\n", ""));
    assert!(config.is_some(), "{diagnostics:?}");
    assert!(errors(&diagnostics).is_empty(), "{diagnostics:?}");
}

#[test]
fn a_cycle_through_connectors_is_reported_where_it_closes() {
    let yaml = CONNECTED
        .replace("receivers: [otlp]", "receivers: [otlp, forward/ba]")
        .replace("exporters: [debug]", "exporters: [debug, forward/ba]");
    let (config, diagnostics) = run(&yaml);
    assert!(config.is_none());
    assert_eq!(
        errors(&diagnostics),
        vec!["c.yaml:15:26: connector forward/ba closes a cycle of pipelines: traces/a -> forward/ab -> traces/b -> forward/ba -> traces/a; data would loop forever"]
    );
}

#[test]
fn a_pipeline_feeding_itself_through_a_connector_is_a_cycle() {
    let yaml = "receivers:\n  otlp:\nexporters:\n  debug:\nconnectors:\n  forward:\nservice:\n  pipelines:\n    logs:\n      receivers: [otlp, forward]\n      exporters: [debug, forward]\n";
    let (config, diagnostics) = run(yaml);
    assert!(config.is_none());
    assert_eq!(
        errors(&diagnostics),
        vec!["c.yaml:11:26: connector forward closes a cycle of pipelines: logs -> forward -> logs; data would loop forever"]
    );
}

#[test]
fn a_longer_cycle_names_every_pipeline_on_it_once() {
    // a -> b -> c -> b: the cycle is b, c; a only leads into it.
    let yaml = "receivers:\n  otlp:\nexporters:\n  debug:\nconnectors:\n  forward/ab:\n  forward/bc:\n  forward/cb:\nservice:\n  pipelines:\n    logs/a:\n      receivers: [otlp]\n      exporters: [forward/ab]\n    logs/b:\n      receivers: [forward/ab, forward/cb]\n      exporters: [forward/bc]\n    logs/c:\n      receivers: [forward/bc]\n      exporters: [debug, forward/cb]\n";
    let (_, diagnostics) = run(yaml);
    assert_eq!(
        errors(&diagnostics),
        vec!["c.yaml:19:26: connector forward/cb closes a cycle of pipelines: logs/b -> forward/bc -> logs/c -> forward/cb -> logs/b; data would loop forever"]
    );
}

#[test]
fn several_files_merge_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(&a, GOOD).unwrap();
    std::fs::write(&b, "service:\n  shutdown_timeout: 3s\n").unwrap();
    let env = |_: &str| Some("1".to_string());
    let config = load(&[a, b], &env).unwrap();
    assert_eq!(
        config.service.shutdown_timeout,
        std::time::Duration::from_secs(3)
    );
    assert_eq!(config.service.pipelines.len(), 1);
}

#[test]
fn the_embedded_default_config_loads() {
    let env = |_: &str| None;
    let config = load(&[] as &[PathBuf], &env).unwrap();
    assert_eq!(config.service.pipelines.len(), 3);
}

#[test]
fn file_level_and_component_problems_come_in_one_pass() {
    let yaml = GOOD
        .replace("127.0.0.1:${env:GRPC_PORT}", "localhost")
        .replace("exporters: [debug]", "exporters: [debgu]")
        .replace("service:\n", "service:\n  shutdown_timout: 5s\n");
    let (config, diagnostics) = run(&format!("{yaml}exporter:\n  x:\n"));
    assert!(config.is_none());
    let errs = errors(&diagnostics);
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(
        errs[0].starts_with("c.yaml:3:15:"),
        "bad endpoint: {errs:?}"
    );
    assert!(errs[1].starts_with("c.yaml:7:3:") && errs[1].contains("shutdown_timeout"));
    assert!(errs[2].starts_with("c.yaml:11:19:") && errs[2].contains("\"debug\""));
    assert!(errs[3].starts_with("c.yaml:12:1: unknown key \"exporter\""));
}

#[test]
fn a_missing_file_is_named_without_a_position() {
    let missing = PathBuf::from("/nonexistent/sentinel.yaml");
    let (config, diagnostics) = load_and_validate(&[missing], &|_| None, &registry());
    assert!(config.is_none());
    assert_eq!(
        errors(&diagnostics),
        ["/nonexistent/sentinel.yaml: cannot read config file: no such file"]
    );
}
