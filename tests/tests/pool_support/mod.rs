//! Shared by the pool receiver tests: an agent whose only pipeline takes the receivers
//! under test into the `file` exporter, and readers of the values it wrote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sentinel_tests::{eventually, free_port, read_json_lines, Agent};
use serde_json::Value;

pub const WAIT: Duration = Duration::from_secs(30);

/// Starts an agent whose only pipeline takes `receivers` (YAML under `receivers:`) into
/// a file; returns the agent and the file.
pub fn agent_with(dir: &Path, receivers: &str, names: &str) -> (Agent, PathBuf) {
    let admin = free_port();
    let out = dir.join("metrics.jsonl");
    let config = format!(
        "receivers:\n{receivers}processors:\n  pool_metrics:\nexporters:\n  file:\n    path: {}\n\
         service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    metrics:\n      receivers: [{names}]\n      processors: [pool_metrics]\n      exporters: [file]\n",
        out.display()
    );
    (Agent::start(dir, "agent", &config, admin), out)
}

/// The value of `name`'s data point carrying all of `attributes`, in the last line of
/// the file that reports it.
pub fn latest(out: &Path, name: &str, attributes: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in read_json_lines(out) {
        for rm in line["resourceMetrics"].as_array().into_iter().flatten() {
            for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                for metric in sm["metrics"].as_array().into_iter().flatten() {
                    if metric["name"] != name {
                        continue;
                    }
                    let data = ["sum", "gauge"]
                        .iter()
                        .find_map(|k| metric.get(*k))
                        .expect("sum or gauge");
                    for point in data["dataPoints"].as_array().into_iter().flatten() {
                        if attributes.iter().all(|(k, v)| has_attribute(point, k, v)) {
                            found = number(point);
                        }
                    }
                }
            }
        }
    }
    found
}

fn has_attribute(point: &Value, key: &str, value: &str) -> bool {
    point["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|kv| kv["key"] == key && kv["value"]["stringValue"] == value)
}

fn number(point: &Value) -> Option<f64> {
    match (point.get("asInt"), point.get("asDouble")) {
        (Some(Value::String(s)), _) => s.parse().ok(),
        (Some(Value::Number(n)), _) => n.as_f64(),
        (_, Some(Value::Number(n))) => n.as_f64(),
        _ => None,
    }
}

/// Waits until `name` with `attributes` reports `expected`; panics with what it saw.
pub fn expect_value(
    agent: &Agent,
    out: &Path,
    name: &str,
    attributes: &[(&str, &str)],
    expected: f64,
) {
    let seen = eventually(WAIT, || latest(out, name, attributes) == Some(expected));
    assert!(
        seen,
        "{name} {attributes:?}: expected {expected}, last saw {:?}\nagent log:\n{}",
        latest(out, name, attributes),
        agent.log()
    );
}
